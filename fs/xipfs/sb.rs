// SPDX-License-Identifier: GPL-2.0

//! Mounting: the superblock and group descriptors; `statfs`.

use crate::{ondisk, BlockBuf, SuperBlock};
use kernel::{fs, prelude::*};

/// What xipfs keeps of a mounted filesystem.
pub(crate) struct SbData {
    /// The checked superblock.
    pub(crate) sb: ondisk::Superblock,
    /// The checked group descriptors, one per group.
    pub(crate) groups: KVec<ondisk::GroupDesc>,
}

/// Reads and checks the superblock and all group descriptors.
pub(crate) fn fill_super(
    nsb: &fs::NewSuperBlock<'_, crate::Xipfs>,
) -> Result<(SbData, fs::SuperParams)> {
    let id = nsb.id();
    let mut buf = BlockBuf::new()?;
    // With 4 KiB blocks the superblock is at byte 1024 of block 0.
    let block = buf.read(nsb.dax(), 0).inspect_err(|_| {
        pr_err!("{}: cannot read the superblock\n", id);
    })?;
    let raw = block.get(ondisk::SUPERBLOCK_OFFSET..).ok_or(EINVAL)?;
    let sb = ondisk::Superblock::parse(raw).map_err(|e| {
        pr_err!("{}: cannot mount: {}\n", id, e);
        EINVAL
    })?;
    sb.check_fits(nsb.device_bytes()).map_err(|e| {
        pr_err!("{}: cannot mount: {}\n", id, e);
        EINVAL
    })?;
    let unknown = sb.unknown_ro_compat();
    if unknown != 0 {
        pr_info!(
            "{}: unknown read-only-compatible features {:#x}: read-only mount only\n",
            id,
            unknown
        );
    }

    let count = sb.group_count();
    let mut groups = KVec::with_capacity(count as usize, GFP_KERNEL)?;
    let mut loaded = None;
    for g in 0..count {
        let bad = |c: ondisk::Corrupt| {
            pr_err!("{}: cannot mount: group {}: {}\n", id, g, c.what);
            EUCLEAN
        };
        let (blk, _) = sb.group_desc_location(g).map_err(bad)?;
        if loaded != Some(blk) {
            buf.read(nsb.dax(), blk)?;
            loaded = Some(blk);
        }
        let gd = ondisk::GroupDesc::parse(&sb, g, &buf.0).map_err(bad)?;
        groups.push(gd, GFP_KERNEL)?;
    }
    let params = fs::SuperParams {
        magic: ondisk::MAGIC as u32,
        maxbytes: ondisk::MAX_FILE_SIZE as i64,
    };
    Ok((SbData { sb, groups }, params))
}

/// `statfs(2)`, from the superblock's counters.
pub(crate) fn statfs(sb: &SuperBlock) -> fs::Stat {
    let s = &sb.data().sb;
    // As ext2 does: the two little-endian halves of the UUID, xored.
    let half = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| acc << 8 | x as u64);
    fs::Stat {
        magic: ondisk::MAGIC as u32,
        bsize: ondisk::BLOCK_SIZE as u32,
        blocks: s.blocks_count as u64,
        bfree: s.free_blocks_count as u64,
        bavail: s.free_blocks_count.saturating_sub(s.r_blocks_count) as u64,
        files: s.inodes_count as u64,
        ffree: s.free_inodes_count as u64,
        namelen: 255,
        fsid: half(&s.uuid[..8]) ^ half(&s.uuid[8..]),
    }
}
