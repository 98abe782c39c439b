// SPDX-License-Identifier: GPL-2.0

//! The block map: file offsets to device blocks, as the iomap `fs/dax.c` asks for.

use crate::{corrupt, ondisk, BlockBuf, SuperBlock, INode};
use kernel::{fs, prelude::*};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Most blocks one extent covers (4 MiB): bounds the work of one lookup.
const MAX_RUN: u32 = 1024;

/// Where logical block `lblk` of an inode is, with how many following blocks continue it:
/// `(Some(first device block), n)` for `n` contiguous mapped blocks, `(None, n)` for a hole of
/// `n` blocks. `n` is between 1 and `max`.
pub(crate) fn lookup_run(
    sb: &SuperBlock,
    ino: u32,
    raw: &ondisk::Inode,
    lblk: u64,
    max: u32,
) -> Result<(Option<u32>, u32)> {
    let d = sb.data();
    let bad = |c| corrupt(sb, ino as u64, c);
    let max = max.clamp(1, MAX_RUN);
    let path = ondisk::BlockPath::new(lblk).map_err(bad)?;
    let idx = path.indices();
    let idx = idx.as_slice();
    let (first, n) = if path.depth() == 0 {
        let i = idx[0];
        let n = ondisk::direct_run(&raw.block, i, max).map_err(bad)?;
        (raw.block[i as usize], n)
    } else {
        // Walk the indirect blocks down to the leaf table.
        let mut buf = BlockBuf::new()?;
        let mut blk = raw.block[idx[0] as usize];
        let mut level = 1;
        loop {
            match d.sb.check_block_nr(blk).map_err(bad)? {
                // A missing indirect block: everything below it is a hole, up to the end of
                // the leaf table at least.
                None => return Ok((None, path.leaf_remaining().clamp(1, max))),
                Some(b) => {
                    let table = buf.read(sb.dax(), b)?;
                    let i = idx[level];
                    if level == idx.len() - 1 {
                        let n = ondisk::contiguous_run(table, i, max).map_err(bad)?;
                        break (ondisk::indirect_entry(table, i).map_err(bad)?, n);
                    }
                    blk = ondisk::indirect_entry(table, i).map_err(bad)?;
                    level += 1;
                }
            }
        }
    };
    match d.sb.check_block_nr(first).map_err(bad)? {
        None => Ok((None, n.max(1))),
        Some(b) => {
            d.sb.check_extent(b, n).map_err(bad)?;
            Ok((Some(b), n))
        }
    }
}

/// The device block of the first block of a file that must have one (slow symlinks).
pub(crate) fn first_block(sb: &SuperBlock, ino: u32, raw: &ondisk::Inode) -> Result<u32> {
    match lookup_run(sb, ino, raw, 0, 1)? {
        (Some(b), _) => Ok(b),
        (None, _) => Err(corrupt(sb, ino as u64, ondisk::Corrupt::new("missing data block"))),
    }
}

/// The extent of a regular file containing byte `pos`, for `iomap_begin`.
pub(crate) fn map(inode: &INode, pos: u64, len: u64) -> Result<fs::Extent> {
    let sb = inode.super_block();
    let raw = &inode.data().raw;
    let lblk = pos / BS;
    let end = pos.saturating_add(len.max(1)).div_ceil(BS);
    let want = u32::try_from(end - lblk).unwrap_or(MAX_RUN);
    let (first, n) = lookup_run(sb, inode.ino() as u32, raw, lblk, want)?;
    Ok(fs::Extent {
        offset: lblk * BS,
        length: n as u64 * BS,
        kind: match first {
            Some(b) => fs::ExtentKind::Mapped(b as u64 * BS),
            None => fs::ExtentKind::Hole,
        },
    })
}
