// SPDX-License-Identifier: GPL-2.0

//! Allocating and freeing blocks and inodes in the bitmaps and group descriptors, in device
//! memory, under per-group locks. Where to allocate is [`crate::alloc`]'s policy.
//!
//! # Locks
//!
//! Each group's bitmaps and descriptor counts are changed under that group's lock, one of
//! [`GROUP_LOCKS`] mutexes that groups share by number (`group % GROUP_LOCKS`, as ext2's
//! `blockgroup_lock`). One allocation holds one group lock at a time and takes no other lock
//! inside it. The free counts of the whole filesystem are atomics (written to the superblock
//! on `sync` and unmount), the superblock is written under its own lock.
//!
//! A block is claimed in the claim map ([`crate::claims`]) for its new owner by the caller
//! before it is zeroed or linked: a block the bitmap calls free but that is already something
//! else (a corrupt bitmap) is then refused with `EUCLEAN` and never overwritten.

use crate::{
    alloc::{self, BitSlice, GroupCounts},
    ondisk, sb, BlockBuf, SuperBlock,
};
use core::sync::atomic::Ordering;
use kernel::{
    new_mutex,
    prelude::*,
    sync::Mutex,
    xip_util,
};

/// Number of group allocation locks.
pub(crate) const GROUP_LOCKS: usize = 32;

/// The allocation locks of a mounted filesystem, and its superblock lock.
#[pin_data]
pub(crate) struct Locks {
    #[pin]
    groups: [Mutex<()>; GROUP_LOCKS],
    /// Serialises writes of the primary superblock.
    #[pin]
    pub(crate) sb: Mutex<()>,
    /// Serialises reads and changes of extended attribute blocks, whose reference counts
    /// inodes share ([`crate::xattr`]); taken inside an inode's lock, outside group locks.
    #[pin]
    pub(crate) xattr: Mutex<()>,
}

impl Locks {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            groups <- kernel::init::pin_init_array_from_fn(|_| new_mutex!((), "xipfs_group")),
            sb <- new_mutex!((), "xipfs_super"),
            xattr <- new_mutex!((), "xipfs_xattr"),
        })
    }

    /// The lock of `group`.
    fn group(&self, group: u32) -> &Mutex<()> {
        &self.groups[group as usize % GROUP_LOCKS]
    }
}

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Number of blocks in `group` (the last group may be short).
fn group_blocks(s: &ondisk::Superblock, group: u32) -> u32 {
    let first = u64::from(group) * u64::from(s.blocks_per_group);
    (u64::from(s.blocks_count).saturating_sub(first)).min(u64::from(s.blocks_per_group)) as u32
}

/// Whether the caller may use the blocks reserved for root (`s_r_blocks_count`), as
/// `ext2_has_free_blocks` decides: `CAP_SYS_RESOURCE`, or the superblock's `resuid`/`resgid`.
fn privileged(s: &ondisk::Superblock) -> bool {
    xip_util::current_fsuid() == u32::from(s.def_resuid)
        || (s.def_resgid != 0 && xip_util::in_group(u32::from(s.def_resgid)))
        || xip_util::capable_resource()
}

/// Writes bytes `[from, to)` of a bitmap block back to device block `blk`.
fn write_bitmap(sb: &SuperBlock, blk: u32, buf: &[u8], from: usize, to: usize) -> Result {
    let part = buf.get(from..to).ok_or(EIO)?;
    sb.dax().write(u64::from(blk) * BS + from as u64, part)
}

/// Allocates up to `max` (at least 1) contiguous blocks, at `goal` (a device block) or as
/// near after it as possible; with `aligned`, the run starts on a 2 MiB aligned block if any
/// group has such a free run. Returns the first block and the number allocated.
///
/// `ENOSPC` when no block is free for the caller (blocks reserved for root count as used for
/// others).
pub(crate) fn alloc_blocks(sb: &SuperBlock, goal: u32, max: u32, aligned: bool) -> Result<(u32, u32)> {
    let d = sb.data();
    let s = &d.sb;
    let free = u64::from(d.free_blocks.load(Ordering::Relaxed));
    let usable = alloc::usable_blocks(free, u64::from(s.r_blocks_count), false);
    let usable = if usable == 0 && free > 0 && privileged(s) { free } else { usable };
    if usable == 0 {
        return Err(ENOSPC);
    }
    let max = max.clamp(1, usable.min(u64::from(u32::MAX)) as u32);
    let goal = if goal < s.blocks_count { goal } else { 0 };
    let goal_group = goal / s.blocks_per_group;
    let groups = s.group_count();
    let mut buf = BlockBuf::new()?;
    for pass_aligned in [true, false] {
        if pass_aligned && !aligned {
            continue;
        }
        for g in alloc::group_order(goal_group, groups) {
            let gd = sb::group_desc(sb, 0, g)?;
            if gd.free_blocks_count == 0 {
                continue;
            }
            let _guard = d.locks.group(g).lock();
            let mut gd = sb::group_desc(sb, 0, g)?;
            if gd.free_blocks_count == 0 {
                continue;
            }
            let base = g * s.blocks_per_group;
            let bits = group_blocks(s, g);
            buf.read(sb.dax(), gd.block_bitmap)?;
            let run = {
                let bm = BitSlice { bytes: &buf.0, bits };
                if pass_aligned {
                    alloc::find_aligned_run(&bm, base, max)
                } else {
                    let hint = (g == goal_group).then(|| goal - base);
                    alloc::find_run(&bm, hint, max)
                }
            };
            let Some(run) = run else { continue };
            let len = run.len.min(u32::from(gd.free_blocks_count)).max(1);
            for i in run.start..run.start + len {
                ondisk::bit_set(&mut buf.0, i).map_err(|c| crate::corrupt(sb, 0, c))?;
            }
            write_bitmap(
                sb,
                gd.block_bitmap,
                &buf.0,
                (run.start / 8) as usize,
                (run.start + len).div_ceil(8) as usize,
            )?;
            gd.free_blocks_count = gd.free_blocks_count.saturating_sub(len as u16);
            sb::write_group_counts(sb, g, &gd)?;
            d.free_blocks.fetch_sub(len, Ordering::Relaxed);
            return Ok((base + run.start, len));
        }
    }
    Err(ENOSPC)
}

/// Bytes of a bitmap changed at a time when freeing: freeing must not allocate (it runs after
/// the blocks have been unlinked, and at eviction, where failing would leak them), so the
/// bits are cleared in device memory through a buffer on the stack.
const FREE_CHUNK: usize = 64;

/// Clears the bits `[from, to)` of the bitmap in block `bitmap`, [`FREE_CHUNK`] bytes at a
/// time, read from and written back to device memory. Returns how many were set, and whether
/// one was already clear.
fn clear_bits(sb: &SuperBlock, ino: u32, bitmap: u32, from: u32, to: u32) -> Result<(u32, bool)> {
    let mut chunk = [0u8; FREE_CHUNK];
    let (mut cleared, mut twice) = (0u32, false);
    let mut bit = from;
    while bit < to {
        let first_byte = (bit / 8) as usize;
        let last_byte = (to.div_ceil(8) as usize).min(first_byte + FREE_CHUNK);
        let part = &mut chunk[..last_byte - first_byte];
        let at = u64::from(bitmap) * BS + first_byte as u64;
        sb.dax().read(at, part)?;
        let stop = to.min(last_byte as u32 * 8);
        for b in bit..stop {
            match ondisk::bit_clear(part, b - first_byte as u32 * 8) {
                Ok(true) => cleared += 1,
                Ok(false) => twice = true,
                Err(c) => return Err(crate::corrupt(sb, u64::from(ino), c)),
            }
        }
        sb.dax().write(at, part)?;
        bit = stop;
    }
    Ok((cleared, twice))
}

/// Frees the `n` blocks from `first` (which the caller has unlinked from every block map).
/// A block that is already free is reported as corruption and skipped. Allocates nothing.
pub(crate) fn free_blocks(sb: &SuperBlock, ino: u32, first: u32, n: u32) -> Result {
    let d = sb.data();
    let s = &d.sb;
    let end = first.checked_add(n).filter(|&e| e <= s.blocks_count);
    let Some(end) = end else {
        return Err(sb::error(sb, u64::from(ino), "freeing blocks past the end"));
    };
    let mut blk = first;
    while blk < end {
        let g = blk / s.blocks_per_group;
        let base = g * s.blocks_per_group;
        let stop = end.min(base + group_blocks(s, g));
        let _guard = d.locks.group(g).lock();
        let mut gd = sb::group_desc(sb, ino, g)?;
        let (freed, twice) = clear_bits(sb, ino, gd.block_bitmap, blk - base, stop - base)?;
        gd.free_blocks_count = gd.free_blocks_count.saturating_add(freed as u16);
        sb::write_group_counts(sb, g, &gd)?;
        d.free_blocks.fetch_add(freed, Ordering::Relaxed);
        drop(_guard);
        if twice {
            sb::error(sb, u64::from(ino), "freeing a block that is already free");
        }
        blk = stop;
    }
    Ok(())
}

/// Allocates an inode number for a new inode in directory `dir_ino` (a directory if `is_dir`),
/// in the group ext2's policy picks ([`alloc::group_for_dir`], [`alloc::group_for_file`]),
/// updating the inode bitmap and the group's counts. `ENOSPC` when no inode is free.
pub(crate) fn alloc_inode(sb: &SuperBlock, dir_ino: u32, is_dir: bool) -> Result<u32> {
    let d = sb.data();
    let s = &d.sb;
    if d.free_inodes.load(Ordering::Relaxed) == 0 {
        return Err(ENOSPC);
    }
    let groups = s.group_count();
    let mut counts = KVec::with_capacity(groups as usize, GFP_KERNEL)?;
    for g in 0..groups {
        let gd = sb::group_desc(sb, dir_ino, g)?;
        counts.push(
            GroupCounts {
                free_blocks: u32::from(gd.free_blocks_count),
                free_inodes: u32::from(gd.free_inodes_count),
                dirs: u32::from(gd.used_dirs_count),
            },
            GFP_KERNEL,
        )?;
        if g % 64 == 63 {
            xip_util::cond_resched();
        }
    }
    let parent_group = dir_ino.saturating_sub(1) / s.inodes_per_group;
    let target = if is_dir {
        alloc::group_for_dir(&counts)
    } else {
        alloc::group_for_file(&counts, parent_group, dir_ino)
    };
    let target = target.ok_or(ENOSPC)?;
    let mut buf = BlockBuf::new()?;
    for g in alloc::group_order(target, groups) {
        if counts[g as usize].free_inodes == 0 {
            continue;
        }
        let _guard = d.locks.group(g).lock();
        let mut gd = sb::group_desc(sb, dir_ino, g)?;
        if gd.free_inodes_count == 0 {
            continue;
        }
        buf.read(sb.dax(), gd.inode_bitmap)?;
        let first = if g == 0 { s.first_ino - 1 } else { 0 };
        let found = {
            let bm = BitSlice { bytes: &buf.0, bits: s.inodes_per_group };
            alloc::find_inode(&bm, first)
        };
        let Some(i) = found else { continue };
        ondisk::bit_set(&mut buf.0, i).map_err(|c| crate::corrupt(sb, 0, c))?;
        write_bitmap(sb, gd.inode_bitmap, &buf.0, (i / 8) as usize, (i / 8 + 1) as usize)?;
        gd.free_inodes_count -= 1;
        if is_dir {
            gd.used_dirs_count = gd.used_dirs_count.saturating_add(1);
        }
        sb::write_group_counts(sb, g, &gd)?;
        d.free_inodes.fetch_sub(1, Ordering::Relaxed);
        return Ok(g * s.inodes_per_group + i + 1);
    }
    Err(ENOSPC)
}

/// Frees inode number `ino` (a directory if `is_dir`) in the inode bitmap and the counts.
/// Allocates nothing.
pub(crate) fn free_inode(sb: &SuperBlock, ino: u32, is_dir: bool) -> Result {
    let d = sb.data();
    let s = &d.sb;
    if !s.is_usable_ino(ino) {
        return Err(sb::error(sb, u64::from(ino), "freeing a reserved or out-of-range inode"));
    }
    let g = (ino - 1) / s.inodes_per_group;
    let i = (ino - 1) % s.inodes_per_group;
    let guard = d.locks.group(g).lock();
    let mut gd = sb::group_desc(sb, ino, g)?;
    // As free_blocks: no allocation, the bit is cleared in device memory.
    let (cleared, _) = clear_bits(sb, ino, gd.inode_bitmap, i, i + 1)?;
    let was = cleared == 1;
    if was {
        gd.free_inodes_count = gd.free_inodes_count.saturating_add(1);
        if is_dir {
            gd.used_dirs_count = gd.used_dirs_count.saturating_sub(1);
        }
        sb::write_group_counts(sb, g, &gd)?;
        d.free_inodes.fetch_add(1, Ordering::Relaxed);
    }
    drop(guard);
    if !was {
        sb::error(sb, u64::from(ino), "freeing an inode that is already free");
    }
    Ok(())
}

/// The first block of the group of inode `ino`: where its blocks are best put.
pub(crate) fn inode_goal(s: &ondisk::Superblock, ino: u32) -> u32 {
    let g = ino.saturating_sub(1) / s.inodes_per_group;
    g.saturating_mul(s.blocks_per_group).min(s.blocks_count.saturating_sub(1))
}
