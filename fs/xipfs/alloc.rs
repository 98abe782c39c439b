// SPDX-License-Identifier: GPL-2.0

//! Allocation policy: which blocks and which inode a file gets.
//!
//! The write path (the read-write part of xipfs, in progress) decides here where new blocks
//! and inodes go, and applies the decision to the bitmaps and counters in device memory under
//! its per-group locks. The policy only sees bitmaps through [`Bitmap`] and groups through
//! [`GroupCounts`], so that the KUnit suite `xipfs_alloc` tests it on in-memory groups.
//!
//! - **Blocks**: a file's next block goes right after its previous one when that block is
//!   free (long contiguous runs are what `direct_access` and 2 MiB mappings want), else at the
//!   first free block from there on in the goal's group, then in the following groups. A
//!   run that may be [`PMD_BLOCKS`] or longer (a file of 2 MiB or more) starts on a 2 MiB
//!   aligned device block when such a free run exists anywhere.
//! - **Reserved blocks** (`s_r_blocks_count`): only privileged callers (`CAP_SYS_RESOURCE`,
//!   or the `resuid`/`resgid` of the superblock) may use them, as ext2 does.
//! - **Inodes**: ext2's pre-Orlov spread (simpler than Orlov, and what `fs/ext2/ialloc.c`
//!   calls `find_group_dir`/`find_group_other`): a new directory goes to the group, among
//!   those with at least the average number of free inodes, that has the most free blocks; a
//!   new file goes to its directory's group if that has free inodes and blocks, else to a
//!   group found by quadratic hashing from it, else to the first group with a free inode.

#![allow(dead_code)] // Used by the write path as it lands; tested by KUnit now.

/// Blocks in a 2 MiB (PMD) mapping with 4 KiB blocks.
pub(crate) const PMD_BLOCKS: u32 = 512;

/// A bitmap of one group's blocks or inodes, bit `i` for the group's `i`th item (ext2's
/// order: bit `i % 8` of byte `i / 8`).
pub(crate) trait Bitmap {
    /// Number of valid bits (items in the group).
    fn bits(&self) -> u32;

    /// Whether item `i` is in use. `i` must be below [`Bitmap::bits`].
    fn test(&self, i: u32) -> bool;

    /// The first free item in `[from, to)`, if any.
    fn next_free(&self, from: u32, to: u32) -> Option<u32> {
        (from..to.min(self.bits())).find(|&i| !self.test(i))
    }

    /// The first used item in `[from, to)`, if any.
    fn next_used(&self, from: u32, to: u32) -> Option<u32> {
        (from..to.min(self.bits())).find(|&i| self.test(i))
    }
}

/// An in-memory bitmap: a copy of a bitmap block, or a test's.
pub(crate) struct BitSlice<'a> {
    /// The bytes, at least `bits.div_ceil(8)` of them.
    pub(crate) bytes: &'a [u8],
    /// Number of valid bits.
    pub(crate) bits: u32,
}

impl Bitmap for BitSlice<'_> {
    fn bits(&self) -> u32 {
        self.bits.min(self.bytes.len() as u32 * 8)
    }

    fn test(&self, i: u32) -> bool {
        self.bytes
            .get((i / 8) as usize)
            .map_or(true, |b| b & (1 << (i % 8)) != 0)
    }

    fn next_free(&self, from: u32, to: u32) -> Option<u32> {
        // A byte at a time over full bytes.
        let to = to.min(self.bits());
        let mut i = from;
        while i < to {
            if i % 8 == 0 && i + 8 <= to && self.bytes[(i / 8) as usize] == 0xff {
                i += 8;
                continue;
            }
            if !self.test(i) {
                return Some(i);
            }
            i += 1;
        }
        None
    }
}

/// A free run found in one group: items `[start, start + len)`, all free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// First item of the run, in the group.
    pub(crate) start: u32,
    /// Number of items.
    pub(crate) len: u32,
}

/// How long the free run starting at free item `start` is, up to `max`.
fn run_at(bm: &impl Bitmap, start: u32, max: u32) -> u32 {
    let end = start.saturating_add(max).min(bm.bits());
    bm.next_used(start, end).unwrap_or(end) - start
}

/// Finds up to `max` (at least 1) free blocks in one group's bitmap for a file whose next
/// block would best be `goal` (an index in this group, or `None` for no preference).
///
/// The goal itself when it is free; else the first free block after it, wrapping around to
/// the start of the group. `None` if the group is full.
pub(crate) fn find_run(bm: &impl Bitmap, goal: Option<u32>, max: u32) -> Option<Run> {
    let max = max.max(1);
    let bits = bm.bits();
    let goal = goal.filter(|&g| g < bits).unwrap_or(0);
    let start = bm.next_free(goal, bits).or_else(|| bm.next_free(0, goal))?;
    Some(Run {
        start,
        len: run_at(bm, start, max),
    })
}

/// Finds, in one group whose first block is device block `base`, a free run of
/// `min(max, PMD_BLOCKS)` blocks (at least) that starts on a 2 MiB aligned device block.
/// Returns it with the length available up to `max`. `None` if there is none.
pub(crate) fn find_aligned_run(bm: &impl Bitmap, base: u32, max: u32) -> Option<Run> {
    let need = max.clamp(1, PMD_BLOCKS);
    let bits = bm.bits();
    // The group's items whose device block is 2 MiB aligned: `first`, `first + PMD_BLOCKS`...
    let first = (PMD_BLOCKS - base % PMD_BLOCKS) % PMD_BLOCKS;
    let mut i = first;
    while i < bits && bits - i >= need {
        match bm.next_used(i, i + need) {
            None => {
                return Some(Run {
                    start: i,
                    len: run_at(bm, i, max),
                })
            }
            // The next aligned item after the used one.
            Some(used) => i = first + ((used - first) / PMD_BLOCKS + 1) * PMD_BLOCKS,
        }
    }
    None
}

/// The order in which groups are tried for blocks when the goal is in group `goal`: the goal's
/// group, then the following ones, wrapping around.
pub(crate) fn group_order(goal: u32, groups: u32) -> impl Iterator<Item = u32> {
    let goal = if groups == 0 { 0 } else { goal % groups };
    (0..groups).map(move |k| (goal + k) % groups)
}

/// How many of `free` blocks a caller may take when `reserved` are kept for privileged
/// callers (`s_r_blocks_count`, as `ext2_has_free_blocks`).
pub(crate) fn usable_blocks(free: u64, reserved: u64, privileged: bool) -> u64 {
    if privileged {
        free
    } else {
        free.saturating_sub(reserved)
    }
}

/// What the inode policy knows of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupCounts {
    /// Free blocks.
    pub(crate) free_blocks: u32,
    /// Free inodes.
    pub(crate) free_inodes: u32,
    /// Directories.
    pub(crate) dirs: u32,
}

/// The group for a new directory: among the groups with at least the average number of free
/// inodes, the one with the most free blocks (the first of equals). `None` if no group has a
/// free inode.
pub(crate) fn group_for_dir(groups: &[GroupCounts]) -> Option<u32> {
    let n = groups.len() as u64;
    if n == 0 {
        return None;
    }
    let total: u64 = groups.iter().map(|g| g.free_inodes as u64).sum();
    let avg = total / n;
    let mut best: Option<(u32, u32)> = None;
    for (i, g) in groups.iter().enumerate() {
        if g.free_inodes == 0 || (g.free_inodes as u64) < avg {
            continue;
        }
        if best.map_or(true, |(_, fb)| g.free_blocks > fb) {
            best = Some((i as u32, g.free_blocks));
        }
    }
    best.map(|(i, _)| i)
}

/// The group for a new non-directory inode in directory `parent_ino`, which is in group
/// `parent_group`. `None` if no group has a free inode.
pub(crate) fn group_for_file(
    groups: &[GroupCounts],
    parent_group: u32,
    parent_ino: u32,
) -> Option<u32> {
    let n = groups.len() as u32;
    if n == 0 {
        return None;
    }
    let ok = |g: u32| {
        let c = &groups[g as usize];
        c.free_inodes > 0 && c.free_blocks > 0
    };
    let parent = parent_group % n;
    if ok(parent) {
        return Some(parent);
    }
    // Quadratic hash from a start that spreads directories' files over the groups.
    let mut g = (parent + parent_ino % n) % n;
    let mut step = 1u32;
    while step < n {
        g = (g + step) % n;
        if ok(g) {
            return Some(g);
        }
        step <<= 1;
    }
    // Any free inode, even in a group without free blocks.
    (0..n).map(|k| (parent + k) % n).find(|&g| groups[g as usize].free_inodes > 0)
}

/// The first free inode of a group's inode bitmap at or after `first` (the first inode a
/// file may have: `s_first_ino - 1` in group 0, where the reserved inodes are, else 0).
pub(crate) fn find_inode(bm: &impl Bitmap, first: u32) -> Option<u32> {
    bm.next_free(first, bm.bits())
}
