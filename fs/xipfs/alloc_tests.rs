// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `xipfs_alloc`: the allocation policy ([`crate::alloc`]) on in-memory groups.

use crate::alloc::*;
use kernel::{kunit_expect, kunit_expect_eq, kunit_suite::Test, prelude::*};

/// A group bitmap of `bits` items with the items in `used` (ranges) set.
fn bitmap(bits: u32, used: &[(u32, u32)]) -> KVec<u8> {
    let mut v = KVec::from_elem(0u8, bits.div_ceil(8) as usize, GFP_KERNEL).unwrap_or_default();
    for &(from, to) in used {
        for i in from..to.min(bits) {
            if let Some(b) = v.get_mut((i / 8) as usize) {
                *b |= 1 << (i % 8);
            }
        }
    }
    v
}

fn run(start: u32, len: u32) -> Option<Run> {
    Some(Run { start, len })
}

/// The bit order is ext2's, and the byte-at-a-time search finds what the bit-by-bit one does.
fn bit_order(t: &mut Test) {
    let bytes = [0b0000_0101u8, 0xff, 0x7f, 0];
    let bm = BitSlice { bytes: &bytes, bits: 30 };
    kunit_expect!(t, bm.test(0) && !bm.test(1) && bm.test(2) && !bm.test(3));
    kunit_expect!(t, bm.test(8) && bm.test(22) && !bm.test(23) && !bm.test(24));
    kunit_expect_eq!(t, bm.next_free(0, 30), Some(1));
    kunit_expect_eq!(t, bm.next_free(4, 30), Some(4));
    kunit_expect_eq!(t, bm.next_free(8, 30), Some(23));
    kunit_expect_eq!(t, bm.next_free(8, 23), None);
    kunit_expect_eq!(t, bm.next_used(3, 30), Some(8));
    kunit_expect_eq!(t, bm.next_used(23, 30), None);
    // Past the valid bits nothing is free, even where the byte says so.
    kunit_expect_eq!(t, bm.next_free(30, 32), None);
    kunit_expect!(t, bm.test(40));
}

/// A file's next block is its goal when free, else the first free one after, wrapping.
fn blocks_follow_goal(t: &mut Test) {
    let v = bitmap(1024, &[(0, 100), (200, 300), (900, 1024)]);
    let bm = BitSlice { bytes: &v, bits: 1024 };
    kunit_expect_eq!(t, find_run(&bm, Some(150), 8), run(150, 8));
    kunit_expect_eq!(t, find_run(&bm, Some(150), 100), run(150, 50)); // stops at used 200
    kunit_expect_eq!(t, find_run(&bm, Some(250), 10), run(300, 10));
    kunit_expect_eq!(t, find_run(&bm, Some(950), 1000), run(100, 100)); // wraps
    kunit_expect_eq!(t, find_run(&bm, None, 1), run(100, 1));
    kunit_expect_eq!(t, find_run(&bm, Some(5000), 1), run(100, 1)); // goal outside: start
    kunit_expect_eq!(t, find_run(&bm, Some(150), 0), run(150, 1)); // at least one
    let full = bitmap(64, &[(0, 64)]);
    kunit_expect_eq!(t, find_run(&BitSlice { bytes: &full, bits: 64 }, Some(3), 4), None);
    // The last group may be shorter than its bitmap: items past `bits` are never given.
    let short = bitmap(64, &[(0, 10)]);
    kunit_expect_eq!(t, find_run(&BitSlice { bytes: &short, bits: 12 }, Some(0), 64), run(10, 2));
}

/// Runs for large files start on 2 MiB aligned device blocks when one is free.
fn aligned_runs(t: &mut Test) {
    // A group of 32768 blocks starting at device block 32768 (group 1 of a 4 KiB fs): device
    // block 32768 + i is aligned when i is a multiple of 512.
    let v = bitmap(32768, &[(0, 700), (1100, 1101)]);
    let bm = BitSlice { bytes: &v, bits: 32768 };
    // 1024 is aligned but 1100 is used within 512 of it: the next aligned free run is 1536.
    kunit_expect_eq!(t, find_aligned_run(&bm, 32768, 4096), run(1536, 4096));
    // Shorter runs need only their own length free: 1024..1084 is; 1024..1124 is not.
    kunit_expect_eq!(t, find_aligned_run(&bm, 32768, 60), run(1024, 60));
    kunit_expect_eq!(t, find_aligned_run(&bm, 32768, 100), run(1536, 100));
    // A group whose first block is not aligned: base 100, aligned items are 412, 924, ...
    let v = bitmap(4096, &[(0, 420)]);
    let bm = BitSlice { bytes: &v, bits: 4096 };
    kunit_expect_eq!(t, find_aligned_run(&bm, 100, 512), run(924, 512));
    for base in [0u32, 1, 511, 513, 100_000] {
        if let Some(r) = find_aligned_run(&bm, base, 600) {
            kunit_expect_eq!(t, (base + r.start) % PMD_BLOCKS, 0);
            kunit_expect!(t, r.len >= 512 && r.len <= 600);
            kunit_expect_eq!(t, bm.next_used(r.start, r.start + r.len), None);
        } else {
            kunit_expect!(t, false, "no aligned run at base {}", base);
        }
    }
    // Fragmented: every aligned window has a used block: none.
    let mut used = KVec::new();
    for k in 0..8u32 {
        let _ = used.push((k * 512 + 300, k * 512 + 301), GFP_KERNEL);
    }
    let v = bitmap(4096, &used);
    kunit_expect_eq!(t, find_aligned_run(&BitSlice { bytes: &v, bits: 4096 }, 0, 512), None);
    // Too short a group for an aligned run.
    let v = bitmap(600, &[]);
    kunit_expect_eq!(t, find_aligned_run(&BitSlice { bytes: &v, bits: 600 }, 100, 512), None);
}

/// Groups are tried from the goal's on, wrapping; reserved blocks are for the privileged.
fn groups_and_reserve(t: &mut Test) {
    let mut order = [0u32; 5];
    for (o, g) in order.iter_mut().zip(group_order(3, 5)) {
        *o = g;
    }
    kunit_expect_eq!(t, order, [3, 4, 0, 1, 2]);
    kunit_expect_eq!(t, group_order(7, 5).next(), Some(2));
    kunit_expect_eq!(t, group_order(0, 0).count(), 0);
    kunit_expect_eq!(t, usable_blocks(1000, 50, false), 950);
    kunit_expect_eq!(t, usable_blocks(1000, 50, true), 1000);
    kunit_expect_eq!(t, usable_blocks(40, 50, false), 0);
    kunit_expect_eq!(t, usable_blocks(40, 50, true), 40);
}

fn counts(free_blocks: u32, free_inodes: u32, dirs: u32) -> GroupCounts {
    GroupCounts {
        free_blocks,
        free_inodes,
        dirs,
    }
}

/// Directories spread over groups with free inodes and blocks; files stay near their parent.
fn inode_groups(t: &mut Test) {
    let g = [counts(10, 100, 5), counts(5000, 90, 1), counts(8000, 10, 0), counts(7000, 120, 2)];
    // Average free inodes 80: groups 0, 1, 3 qualify; 3 has the most free blocks.
    kunit_expect_eq!(t, group_for_dir(&g), Some(3));
    kunit_expect_eq!(t, group_for_dir(&[counts(10, 0, 0)]), None);
    kunit_expect_eq!(t, group_for_dir(&[]), None);
    // A file goes to its parent's group when that has room.
    kunit_expect_eq!(t, group_for_file(&g, 1, 12), Some(1));
    // Parent's group without free blocks: another group with both.
    let g2 = [counts(0, 50, 0), counts(0, 50, 0), counts(100, 1, 0), counts(0, 0, 0)];
    kunit_expect_eq!(t, group_for_file(&g2, 0, 11), Some(2));
    // No group with free blocks: any free inode (the file may stay empty).
    let g3 = [counts(0, 0, 0), counts(0, 3, 0)];
    kunit_expect_eq!(t, group_for_file(&g3, 0, 2), Some(1));
    kunit_expect_eq!(t, group_for_file(&[counts(5, 0, 0)], 0, 2), None);
    // Whatever it picks has a free inode.
    for parent in 0..4 {
        for ino in [2u32, 11, 12, 1000] {
            if let Some(k) = group_for_file(&g2, parent, ino) {
                kunit_expect!(t, g2[k as usize].free_inodes > 0);
            }
        }
    }
}

/// Inodes below the first usable one are never handed out.
fn inode_bitmap(t: &mut Test) {
    let v = bitmap(256, &[(0, 3)]);
    let bm = BitSlice { bytes: &v, bits: 256 };
    kunit_expect_eq!(t, find_inode(&bm, 10), Some(10));
    kunit_expect_eq!(t, find_inode(&bm, 0), Some(3));
    let full = bitmap(16, &[(0, 16)]);
    kunit_expect_eq!(t, find_inode(&BitSlice { bytes: &full, bits: 16 }, 0), None);
}

kernel::kunit_test_suite!(
    xipfs_alloc,
    [
        bit_order,
        blocks_follow_goal,
        aligned_runs,
        groups_and_reserve,
        inode_groups,
        inode_bitmap,
    ]
);
