// SPDX-License-Identifier: GPL-2.0

//! Mounting: the superblock, group descriptors and the claim map; `statfs`.

use crate::{
    claims::{self, ClaimMap, GroupError},
    ondisk, BlockBuf, SuperBlock,
};
use kernel::{fs, prelude::*, xip_util};

/// What xipfs keeps of a mounted filesystem.
pub(crate) struct SbData {
    /// The checked superblock.
    pub(crate) sb: ondisk::Superblock,
    /// Who owns each block ([`claims`]): the metadata from mount on, file blocks once walked.
    pub(crate) claims: ClaimMap,
}

/// Reads and checks the superblock and all group descriptors, and claims the metadata blocks.
///
/// The descriptors are not kept: an image may have as many groups as blocks / 5, and their
/// descriptors are in the device memory anyway ([`group_desc`] reads one when needed). The
/// work is one pass over the descriptor table, rescheduling between groups and stopping with
/// `EINTR` if the task is killed.
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

    let claims = ClaimMap::new(sb.blocks_count).inspect_err(|_| {
        pr_err!(
            "{}: cannot mount: no memory for the claim map of {} blocks\n",
            id,
            sb.blocks_count
        );
    })?;
    let mut loaded = None;
    for g in 0..sb.group_count() {
        if xip_util::fatal_signal_pending() {
            return Err(EINTR);
        }
        let bad = |c: ondisk::Corrupt| {
            pr_err!("{}: cannot mount: group {}: {}\n", id, g, c.what);
            EUCLEAN
        };
        let (blk, _) = sb.group_desc_location(g).map_err(bad)?;
        if loaded != Some(blk) {
            buf.read(nsb.dax(), blk)?;
            loaded = Some(blk);
            xip_util::cond_resched();
        }
        let gd = ondisk::GroupDesc::parse(&sb, g, &buf.0).map_err(bad)?;
        claims::claim_group_metadata(&sb, &claims, g, &gd).map_err(|e| match e {
            GroupError::Corrupt(c) => bad(c),
            GroupError::Claimed(c) => {
                match c.owner {
                    Some(owner) => pr_err!(
                        "{}: cannot mount: group {}: block {} ({}) is already {}\n",
                        id,
                        g,
                        c.blk,
                        c.wanted.describe(c.blk, sb.blocks_per_group),
                        owner.describe(c.blk, sb.blocks_per_group)
                    ),
                    None => pr_err!(
                        "{}: cannot mount: group {}: metadata block {} past the end\n",
                        id,
                        g,
                        c.blk
                    ),
                }
                EUCLEAN
            }
        })?;
    }
    let params = fs::SuperParams {
        magic: ondisk::MAGIC as u32,
        maxbytes: ondisk::MAX_FILE_SIZE as i64,
    };
    Ok((SbData { sb, claims }, params))
}

/// The descriptor of `group`, read from the device memory and checked; `ino` is the inode on
/// whose behalf it is read, for the log line if it is corrupt.
pub(crate) fn group_desc(sb: &SuperBlock, ino: u32, group: u32) -> Result<ondisk::GroupDesc> {
    let s = &sb.data().sb;
    let bad = |c| crate::corrupt(sb, u64::from(ino), c);
    let (blk, offset) = s.group_desc_location(group).map_err(bad)?;
    let mut raw = [0u8; ondisk::GROUP_DESC_SIZE];
    sb.dax().read(
        u64::from(blk) * ondisk::BLOCK_SIZE as u64 + offset as u64,
        &mut raw,
    )?;
    ondisk::GroupDesc::from_bytes(s, group, &raw).map_err(bad)
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
