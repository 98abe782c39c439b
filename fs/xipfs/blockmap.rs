// SPDX-License-Identifier: GPL-2.0

//! The block map: file offsets to device blocks, as the iomap `fs/dax.c` asks for.
//!
//! The walk ([`walk`]) is generic over where blocks are read from ([`BlockSource`]): the DAX
//! device when mounted, an in-memory image in the KUnit suite (`ondisk_tests.rs`), which thus
//! tests the code the filesystem runs. Every block the walk goes through is claimed in the
//! filesystem's [`ClaimMap`]: a block map that shares a block with another file, with another
//! block of the same file or with metadata fails with [`WalkError::Claimed`] before `fs/dax.c`
//! ever sees the block.

use crate::{
    claims::{ClaimMap, Conflict, Owner},
    corrupt, ondisk, BlockBuf, INode, SuperBlock,
};
use kernel::{fs, prelude::*};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Most blocks one extent covers (4 MiB): bounds the work of one lookup.
pub(crate) const MAX_RUN: u32 = 1024;

/// Where the block-map walk reads indirect blocks from.
pub(crate) trait BlockSource {
    /// Copies device block `blk` into `buf` ([`ondisk::BLOCK_SIZE`] bytes).
    fn read_block(&self, blk: u32, buf: &mut [u8]) -> Result;
}

impl BlockSource for fs::Dax {
    fn read_block(&self, blk: u32, buf: &mut [u8]) -> Result {
        self.read(u64::from(blk) * BS, buf)
    }
}

/// Why a block-map walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The block map is corrupt (a block number out of range, a logical block past the map).
    Corrupt(ondisk::Corrupt),
    /// A block on the way, or the first data block, belongs to something else.
    Claimed(Conflict),
    /// Reading an indirect block failed.
    Io(Error),
}

impl From<ondisk::Corrupt> for WalkError {
    fn from(c: ondisk::Corrupt) -> Self {
        WalkError::Corrupt(c)
    }
}

/// Where logical block `lblk` of inode `ino` (whose checked on-disk inode is `raw`) is, with
/// how many following blocks continue it: `(Some(first device block), n)` for `n` contiguous
/// mapped blocks, `(None, n)` for a hole of `n` blocks. `n` is between 1 and `max` (and at most
/// [`MAX_RUN`]).
///
/// Indirect blocks are read from `src` into `buf` (one block) and claimed for `ino`, and so are
/// the `n` data blocks returned; a run stops before the first data block that is not
/// `ino`'s to have, so that only the first block of a run can be refused.
pub(crate) fn walk<S: BlockSource + ?Sized>(
    src: &S,
    sb: &ondisk::Superblock,
    claims: &ClaimMap,
    ino: u32,
    raw: &ondisk::Inode,
    lblk: u64,
    max: u32,
    buf: &mut [u8],
) -> Result<(Option<u32>, u32), WalkError> {
    let max = max.clamp(1, MAX_RUN);
    let path = ondisk::BlockPath::new(lblk)?;
    let idx = path.indices();
    let idx = idx.as_slice();
    let (first, n) = if path.depth() == 0 {
        let i = idx[0];
        let n = ondisk::direct_run(&raw.block, i, max)?;
        (raw.block[i as usize], n)
    } else {
        // Walk the indirect blocks down to the leaf table.
        let mut blk = raw.block[idx[0] as usize];
        let mut level = 1;
        loop {
            match sb.check_block_nr(blk)? {
                // A missing indirect block: everything below it is a hole, up to the end of
                // the leaf table at least.
                None => return Ok((None, path.leaf_remaining().clamp(1, max))),
                Some(b) => {
                    let id = path
                        .indirect_id(level)
                        .ok_or(ondisk::Corrupt::new("block map deeper than its path"))?;
                    claims
                        .claim(b, Owner::Indirect { ino, id })
                        .map_err(WalkError::Claimed)?;
                    src.read_block(b, buf).map_err(WalkError::Io)?;
                    let table: &[u8] = buf;
                    let i = idx[level];
                    if level == idx.len() - 1 {
                        let n = ondisk::contiguous_run(table, i, max)?;
                        break (ondisk::indirect_entry(table, i)?, n);
                    }
                    blk = ondisk::indirect_entry(table, i)?;
                    level += 1;
                }
            }
        }
    };
    match sb.check_block_nr(first)? {
        None => Ok((None, n.max(1))),
        Some(b) => {
            sb.check_extent(b, n)?;
            // `lblk + i` is below MAX_MAPPED_BLOCKS (the path exists and the run stays in
            // its table), so below 2^31.
            let n = claims
                .claim_run(b, n, |i| Owner::Data {
                    ino,
                    lblk: (lblk + u64::from(i)) as u32,
                })
                .map_err(WalkError::Claimed)?;
            Ok((Some(b), n))
        }
    }
}

/// Reports a failed walk of inode `ino` in the kernel log (naming the device, the inode and,
/// for a block that is already another's, its owner) and returns the error for the caller.
pub(crate) fn report(sb: &SuperBlock, ino: u32, e: WalkError) -> Error {
    match e {
        WalkError::Corrupt(c) => corrupt(sb, u64::from(ino), c),
        WalkError::Io(e) => e,
        WalkError::Claimed(c) => {
            let bpg = sb.data().sb.blocks_per_group;
            match (c.owner, c.wanted) {
                (Some(owner), Owner::Data { lblk, .. }) => pr_err!(
                    "{}: inode {}: corrupt: block {} (its file block {}) is already {}\n",
                    sb.id(),
                    ino,
                    c.blk,
                    lblk,
                    owner.describe(c.blk, bpg)
                ),
                (Some(owner), _) => pr_err!(
                    "{}: inode {}: corrupt: block {} (one of its indirect blocks) is already {}\n",
                    sb.id(),
                    ino,
                    c.blk,
                    owner.describe(c.blk, bpg)
                ),
                (None, _) => pr_err!(
                    "{}: inode {}: corrupt: block number out of range\n",
                    sb.id(),
                    ino
                ),
            }
            EUCLEAN
        }
    }
}

/// [`walk`] for inode `ino` of the mounted filesystem `sb`, reading through DAX; failures are
/// logged ([`report`]).
pub(crate) fn lookup_run(
    sb: &SuperBlock,
    ino: u32,
    raw: &ondisk::Inode,
    lblk: u64,
    max: u32,
) -> Result<(Option<u32>, u32)> {
    let d = sb.data();
    let mut buf = BlockBuf::new()?;
    walk(sb.dax(), &d.sb, &d.claims, ino, raw, lblk, max, &mut buf.0)
        .map_err(|e| report(sb, ino, e))
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
