// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `xipfs_ondisk`: the on-disk format parsers on crafted buffers and on bytes of a
//! real `mke2fs` image; the filesystem's block-map walk (`blockmap::walk`) and claim map
//! (`claims`) on in-memory images, with cross-linked block maps. Each case keeps at most two
//! 4096-byte blocks on the stack (the walk's buffer is on the heap).

use crate::{
    blockmap::{walk, BlockSource, WalkError},
    claims::{claim_group_metadata, ClaimMap, Conflict, GroupError, Meta, Owner},
    ondisk::*,
};
use kernel::{fmt, kunit_expect, kunit_expect_eq, kunit_suite::Test, prelude::*, str::CString};

// ---------------------------------------------------------------------------------------------
// Buffer building.

fn put8(buf: &mut [u8], off: usize, v: u8) {
    if let Some(b) = buf.get_mut(off) {
        *b = v;
    }
}

fn put16(buf: &mut [u8], off: usize, v: u16) {
    if let Some(d) = buf.get_mut(off..off + 2) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    if let Some(d) = buf.get_mut(off..off + 4) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

fn put_bytes(buf: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(d) = buf.get_mut(off..off + bytes.len()) {
        d.copy_from_slice(bytes);
    }
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    }
}

/// Zeroes `buf`, then writes the (offset, hex bytes) runs of `segs` into it.
fn fill(buf: &mut [u8], segs: &[(usize, &str)]) {
    buf.fill(0);
    for &(off, hex) in segs {
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            if let [hi, lo] = *pair {
                put8(buf, off + i, nibble(hi) << 4 | nibble(lo));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bytes of a real image, made on Debian with `mke2fs -t ext2 -b 4096 -d DIR img 8M` (e2fsprogs
// 1.47.0: 2048 blocks, 2048 inodes of 256 bytes, one group; features ext_attr resize_inode
// dir_index filetype sparse_super large_file), kept as (offset, hex bytes) runs of non-zero
// bytes. DIR held the files listed in `real_root_dir`: `big.sparse` is 5 GiB of hole then "end",
// `fast` and `slow` are symlinks to "hello.txt" and to 100 `x`, `chr` and `blk` devices 4:5 and
// 300:70000.

/// The superblock of the image.
const REAL_SB: &[(usize, &str)] = &[
    (
        1,
        "08000000080000660000002c070000c307000000000000020000000200000000\
         800000008000000008000000000000865d026b0000ffff53ef01000100000086\
         5d026b",
    ),
    (
        76,
        "01000000000000000b00000000010000380000000200000003000000b4c378ca\
         e7a74fd0a72249963db212",
    ),
    (
        236,
        "4e3630612cbd45a4a6884e8bb0bfd567010000000c00000000000000865d026b",
    ),
    (348, "2000200001"),
    (584, "84"),
];

/// Its group descriptor 0, at the start of block 1.
const REAL_GDT: &[(usize, &str)] = &[(0, "0200000003000000040000002c07c30704")];

/// Inode 2: the root directory.
const REAL_INODE_ROOT: &[(usize, &str)] = &[
    (
        0,
        "ed41000000100000865d026b865d026b865d026b000000000000040008",
    ),
    (40, "84"),
    (128, "20"),
    (144, "865d026b"),
];

/// Inode 12: `big.sparse`, 5 GiB + 3 bytes, one block at 5 GiB.
const REAL_INODE_BIG: &[(usize, &str)] = &[
    (
        0,
        "a481000003000040865d026b865d026b865d026b000000000000010020",
    ),
    (96, "8a"),
    (108, "01"),
    (128, "20"),
    (144, "865d026b"),
];

/// Inode 13: `blk`, block device 300:70000.
const REAL_INODE_BLK: &[(usize, &str)] = &[
    (0, "a461000000000000865d026b865d026b865d026b00000000000001"),
    (44, "702c1111"),
    (128, "20"),
    (144, "865d026b"),
];

/// Inode 14: `chr`, character device 4:5.
const REAL_INODE_CHR: &[(usize, &str)] = &[
    (0, "a421000000000000865d026b865d026b865d026b00000000000001"),
    (40, "0504"),
    (128, "20"),
    (144, "865d026b"),
];

/// Inode 15: `fast -> hello.txt`.
const REAL_INODE_FAST: &[(usize, &str)] = &[
    (0, "ffa1000009000000865d026b865d026b865d026b00000000000001"),
    (40, "68656c6c6f2e747874"),
    (128, "20"),
    (144, "865d026b"),
];

/// Inode 19: `slow`, a link to 100 `x`.
const REAL_INODE_SLOW: &[(usize, &str)] = &[
    (
        0,
        "ffa1000064000000865d026b865d026b865d026b000000000000010008",
    ),
    (40, "a9"),
    (128, "20"),
    (144, "865d026b"),
];

/// The root directory block (block 132).
const REAL_ROOT_DIR: &[(usize, &str)] = &[(
    0,
    "020000000c0001022e000000020000000c0002022e2e00000b00000014000a02\
         6c6f73742b666f756e6400000c00000014000a016269672e7370617273650000\
         0d0000000c000304626c6b000e0000000c000303636872000f0000000c000407\
         66617374100000000c0004056669666f110000001400090168656c6c6f2e7478\
         740000001200000014000a016d656469756d2e62696e0000130000000c000407\
         736c6f77140000005c0f0302737562",
)];

/// The triple indirect block of `big.sparse` (block 138).
const REAL_TIND: &[(usize, &str)] = &[(0, "8b")];

/// Its double indirect block (block 139).
const REAL_DIND: &[(usize, &str)] = &[(1016, "8c")];

/// Its indirect block (block 140).
const REAL_IND: &[(usize, &str)] = &[(4048, "8d")];

// ---------------------------------------------------------------------------------------------
// Crafted superblocks.

/// A good superblock: the geometry of the 8 MiB image above (2048 blocks and 2048 inodes in one
/// group, 256-byte inodes) with Debian's default features.
fn good_sb(buf: &mut [u8; SUPERBLOCK_SIZE]) {
    use sb_off::*;
    buf.fill(0);
    put32(buf, S_INODES_COUNT, 2048);
    put32(buf, S_BLOCKS_COUNT, 2048);
    put32(buf, S_R_BLOCKS_COUNT, 102);
    put32(buf, S_FREE_BLOCKS_COUNT, 1836);
    put32(buf, S_FREE_INODES_COUNT, 1987);
    put32(buf, S_FIRST_DATA_BLOCK, 0);
    put32(buf, S_LOG_BLOCK_SIZE, 2);
    put32(buf, S_LOG_FRAG_SIZE, 2);
    put32(buf, S_BLOCKS_PER_GROUP, 32768);
    put32(buf, S_FRAGS_PER_GROUP, 32768);
    put32(buf, S_INODES_PER_GROUP, 2048);
    put16(buf, S_MAGIC, MAGIC);
    put16(buf, S_STATE, STATE_VALID);
    put16(buf, S_ERRORS, 1);
    put32(buf, S_REV_LEVEL, DYNAMIC_REV);
    put32(buf, S_FIRST_INO, 11);
    put16(buf, S_INODE_SIZE, 256);
    put32(
        buf,
        S_FEATURE_COMPAT,
        COMPAT_EXT_ATTR | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX,
    );
    put32(buf, S_FEATURE_INCOMPAT, INCOMPAT_FILETYPE);
    put32(
        buf,
        S_FEATURE_RO_COMPAT,
        RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE,
    );
    put_bytes(buf, S_UUID, &[0x11; 16]);
    put_bytes(buf, S_VOLUME_NAME, b"xipfs");
}

/// Parses [`good_sb`] after `change` edited it.
fn sb_with(change: impl FnOnce(&mut [u8; SUPERBLOCK_SIZE])) -> Result<Superblock, SbError> {
    let mut buf = [0u8; SUPERBLOCK_SIZE];
    good_sb(&mut buf);
    change(&mut buf);
    Superblock::parse(&buf)
}

/// Whether `buf` edited by `change` is refused as invalid.
fn refused(change: impl FnOnce(&mut [u8; SUPERBLOCK_SIZE])) -> bool {
    matches!(sb_with(change), Err(SbError::Invalid(_)))
}

/// Three groups of 32768 blocks (the last one short: 70000 blocks in all) and 8192 inodes,
/// 256-byte inodes: 512 inode table blocks per group.
fn multi_group(buf: &mut [u8; SUPERBLOCK_SIZE]) {
    put32(buf, sb_off::S_BLOCKS_COUNT, 70000);
    put32(buf, sb_off::S_INODES_PER_GROUP, 8192);
    put32(buf, sb_off::S_INODES_COUNT, 3 * 8192);
}

/// The superblock of [`good_sb`], or [`multi_group`] if `multi`.
fn test_sb(t: &mut Test, multi: bool) -> Option<Superblock> {
    let sb = sb_with(|b| {
        if multi {
            multi_group(b)
        }
    });
    kunit_expect!(t, sb.is_ok(), "test superblock refused: {:?}", sb);
    sb.ok()
}

/// The crafted good superblock parses with every field in place.
fn sb_good(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    kunit_expect_eq!(t, sb.inodes_count, 2048);
    kunit_expect_eq!(t, sb.blocks_count, 2048);
    kunit_expect_eq!(t, sb.r_blocks_count, 102);
    kunit_expect_eq!(t, sb.free_blocks_count, 1836);
    kunit_expect_eq!(t, sb.free_inodes_count, 1987);
    kunit_expect_eq!(t, sb.first_data_block, 0);
    kunit_expect_eq!(t, sb.blocks_per_group, 32768);
    kunit_expect_eq!(t, sb.inodes_per_group, 2048);
    kunit_expect_eq!(t, sb.magic, MAGIC);
    kunit_expect_eq!(t, sb.state, STATE_VALID);
    kunit_expect_eq!(t, sb.rev_level, DYNAMIC_REV);
    kunit_expect_eq!(t, sb.first_ino, 11);
    kunit_expect_eq!(t, sb.inode_size, 256);
    kunit_expect_eq!(t, sb.feature_compat, 0x38);
    kunit_expect_eq!(t, sb.feature_incompat, INCOMPAT_FILETYPE);
    kunit_expect_eq!(t, sb.feature_ro_compat, 0x3);
    kunit_expect_eq!(t, sb.uuid, [0x11; 16]);
    kunit_expect_eq!(t, sb.volume_name(), b"xipfs");
    kunit_expect!(t, sb.has_filetype());
    kunit_expect!(t, sb.has_large_file());
    kunit_expect_eq!(t, sb.group_count(), 1);
    kunit_expect_eq!(t, sb.inodes_per_block(), 16);
    kunit_expect_eq!(t, sb.inode_table_blocks(), 128);
    kunit_expect_eq!(t, sb.gdt_blocks(), 1);
    kunit_expect_eq!(t, sb.check_writable(), Ok(()));
    kunit_expect_eq!(t, sb.unknown_ro_compat(), 0);
    // Longer slices (a whole block) are fine.
    let mut block = [0u8; BLOCK_SIZE];
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    good_sb(&mut raw);
    put_bytes(&mut block, 0, &raw);
    kunit_expect_eq!(t, Superblock::parse(&block), Ok(sb));
}

/// Writes the low `width` bytes of `v` at `off`.
fn put(buf: &mut [u8], off: usize, width: usize, v: u32) {
    if let Some(d) = buf.get_mut(off..off + width) {
        d.copy_from_slice(v.to_le_bytes().get(..width).unwrap_or(&[]));
    }
}

/// One field of [`good_sb`] changed: (offset, width, value), and the refusal it causes.
const SB_REFUSALS: &[(usize, usize, u32, &str)] = {
    use sb_off::*;
    &[
        (S_MAGIC, 2, 0xEF52, "bad magic number"),
        (S_MAGIC, 2, 0, "bad magic number"),
        (S_REV_LEVEL, 4, 2, "unsupported revision level"),
        (S_REV_LEVEL, 4, u32::MAX, "unsupported revision level"),
        (S_LOG_BLOCK_SIZE, 4, 0, "block size is not 4096"),
        (S_LOG_BLOCK_SIZE, 4, 1, "block size is not 4096"),
        (S_LOG_BLOCK_SIZE, 4, 3, "block size is not 4096"),
        (S_LOG_BLOCK_SIZE, 4, u32::MAX, "block size is not 4096"),
        (
            S_LOG_FRAG_SIZE,
            4,
            0,
            "fragment size differs from block size",
        ),
        // Inode sizes: too small, not a power of two, larger than a block.
        (S_INODE_SIZE, 2, 0, "unsupported inode size"),
        (S_INODE_SIZE, 2, 64, "unsupported inode size"),
        (S_INODE_SIZE, 2, 127, "unsupported inode size"),
        (S_INODE_SIZE, 2, 129, "unsupported inode size"),
        (S_INODE_SIZE, 2, 384, "unsupported inode size"),
        (S_INODE_SIZE, 2, 8192, "unsupported inode size"),
        (S_INODE_SIZE, 2, 0xffff, "unsupported inode size"),
        (S_BLOCKS_COUNT, 4, 0, "blocks_count <= first_data_block"),
        (
            S_FIRST_DATA_BLOCK,
            4,
            1,
            "first_data_block is not 0 with 4096-byte blocks",
        ),
        (
            S_FIRST_DATA_BLOCK,
            4,
            4096,
            "blocks_count <= first_data_block",
        ),
        (S_BLOCKS_PER_GROUP, 4, 0, "invalid blocks_per_group"),
        (S_BLOCKS_PER_GROUP, 4, 32769, "invalid blocks_per_group"),
        (S_BLOCKS_PER_GROUP, 4, u32::MAX, "invalid blocks_per_group"),
        (S_INODES_PER_GROUP, 4, 0, "invalid inodes_per_group"),
        (S_INODES_PER_GROUP, 4, 32769, "invalid inodes_per_group"),
        // Fewer inodes than fill one inode table block (16 of 256 bytes).
        (S_INODES_PER_GROUP, 4, 8, "invalid inodes_per_group"),
        (
            S_INODES_COUNT,
            4,
            2047,
            "inodes_count != inodes_per_group * group count",
        ),
        (
            S_INODES_COUNT,
            4,
            4096,
            "inodes_count != inodes_per_group * group count",
        ),
        (
            S_INODES_COUNT,
            4,
            0,
            "inodes_count != inodes_per_group * group count",
        ),
        (S_FIRST_INO, 4, 10, "invalid first_ino"),
        (S_FIRST_INO, 4, 2049, "invalid first_ino"),
        // One block: the group descriptor table (block 1) is past the end.
        (S_BLOCKS_COUNT, 4, 1, "group descriptor table past the end"),
    ]
};

/// Each inconsistency of the superblock has its refusal.
fn sb_refusals(t: &mut Test) {
    use sb_off::*;
    for &(off, width, v, what) in SB_REFUSALS {
        let r = sb_with(|b| put(b, off, width, v));
        kunit_expect!(
            t,
            r == Err(SbError::Invalid(what)),
            "field at {} = {}: {:?}",
            off,
            v,
            r
        );
    }
    let short = Superblock::parse(&[0u8; 1023]);
    kunit_expect_eq!(
        t,
        short,
        Err(SbError::Invalid("superblock shorter than 1024 bytes"))
    );
    // Limits that are still fine.
    for size in [128, 512, 1024, 2048, 4096] {
        let r = sb_with(|b| put16(b, S_INODE_SIZE, size));
        kunit_expect!(t, r.is_ok(), "inode size {}: {:?}", size, r);
    }
    kunit_expect!(t, sb_with(|b| put32(b, S_FIRST_INO, 2048)).is_ok());
    kunit_expect!(t, sb_with(|b| put32(b, S_BLOCKS_COUNT, 2)).is_ok());
    // 2048 inodes of 256 bytes need 128 blocks: a group of 131 blocks has no room for the two
    // bitmaps and the superblock besides; 132 has.
    let small_groups = |bpg| {
        sb_with(|b| {
            put32(b, S_BLOCKS_PER_GROUP, bpg);
            put32(b, S_INODES_COUNT, 2048 * 2048u32.div_ceil(bpg));
        })
    };
    let want = Err(SbError::Invalid(
        "blocks_per_group smaller than the group metadata",
    ));
    kunit_expect_eq!(t, small_groups(131), want);
    kunit_expect_eq!(t, small_groups(132).map(|sb| sb.group_count()), Ok(16));
}

/// The largest geometry: group count and inode count computed without overflow.
fn sb_geometry_limits(t: &mut Test) {
    use sb_off::*;
    // 2^32 - 1 blocks in 131072 groups of 32768 blocks, 16 inodes each.
    let big = sb_with(|b| {
        put32(b, S_BLOCKS_COUNT, u32::MAX);
        put32(b, S_INODES_PER_GROUP, 16);
        put32(b, S_INODES_COUNT, 16 * 131072);
    });
    kunit_expect_eq!(t, big.as_ref().map(|sb| sb.group_count()), Ok(131072));
    kunit_expect_eq!(t, big.as_ref().map(|sb| sb.gdt_blocks()), Ok(1024));
    kunit_expect_eq!(t, big.as_ref().map(|sb| sb.inode_table_blocks()), Ok(1));
    // 32768 inodes in each of 131072 groups is 2^32: no u32 inodes_count matches.
    for count in [0, u32::MAX] {
        let r = sb_with(|b| {
            put32(b, S_BLOCKS_COUNT, u32::MAX);
            put32(b, S_INODES_PER_GROUP, 32768);
            put16(b, S_INODE_SIZE, 128);
            put32(b, S_INODES_COUNT, count);
        });
        kunit_expect_eq!(
            t,
            r,
            Err(SbError::Invalid(
                "inodes_count != inodes_per_group * group count"
            ))
        );
    }
    // Group count rounding: 32768 blocks is one group, 32769 is two.
    let one = sb_with(|b| put32(b, S_BLOCKS_COUNT, 32768));
    kunit_expect_eq!(t, one.map(|sb| sb.group_count()), Ok(1));
    let two = sb_with(|b| {
        put32(b, S_BLOCKS_COUNT, 32769);
        put32(b, S_INODES_COUNT, 4096);
    });
    kunit_expect_eq!(t, two.map(|sb| sb.group_count()), Ok(2));
}

/// Features: unknown INCOMPAT bits refuse the mount, unknown RO_COMPAT bits only writing,
/// COMPAT bits never; revision 0 has fixed defaults and no features.
fn sb_features(t: &mut Test) {
    use sb_off::*;
    for bit in [
        INCOMPAT_COMPRESSION,
        INCOMPAT_RECOVER,
        INCOMPAT_JOURNAL_DEV,
        INCOMPAT_META_BG,
        0x40,
        0x80,
        0x200,
        1 << 31,
    ] {
        let r = sb_with(|b| put32(b, S_FEATURE_INCOMPAT, INCOMPAT_FILETYPE | bit));
        kunit_expect_eq!(t, r, Err(SbError::IncompatFeatures(bit)));
    }
    kunit_expect_eq!(
        t,
        sb_with(|b| put32(b, S_FEATURE_INCOMPAT, u32::MAX)),
        Err(SbError::IncompatFeatures(!INCOMPAT_FILETYPE))
    );
    // Without filetype: fine, and directory entries carry no type.
    let r = sb_with(|b| put32(b, S_FEATURE_INCOMPAT, 0));
    kunit_expect_eq!(t, r.map(|sb| sb.has_filetype()), Ok(false));

    let ro = sb_with(|b| put32(b, S_FEATURE_RO_COMPAT, RO_COMPAT_SUPP | 0x8 | 0x400));
    kunit_expect!(t, ro.is_ok());
    if let Ok(sb) = ro {
        kunit_expect_eq!(t, sb.unknown_ro_compat(), 0x408);
        kunit_expect_eq!(
            t,
            sb.check_writable(),
            Err(SbError::ReadOnlyFeatures(0x408))
        );
    }
    let btree = sb_with(|b| put32(b, S_FEATURE_RO_COMPAT, RO_COMPAT_BTREE_DIR));
    kunit_expect_eq!(t, btree.map(|sb| sb.check_writable()), Ok(Ok(())));
    let compat = sb_with(|b| put32(b, S_FEATURE_COMPAT, u32::MAX));
    kunit_expect_eq!(t, compat.map(|sb| sb.check_writable()), Ok(Ok(())));

    // Revision 0: the revision 1 fields are ignored (here garbage inode size and first inode)...
    let old = sb_with(|b| {
        put32(b, S_REV_LEVEL, GOOD_OLD_REV);
        put32(b, S_FEATURE_COMPAT, 0);
        put32(b, S_FEATURE_INCOMPAT, 0);
        put32(b, S_FEATURE_RO_COMPAT, 0);
        put16(b, S_INODE_SIZE, 3);
        put32(b, S_FIRST_INO, 0);
    });
    kunit_expect!(t, old.is_ok(), "{:?}", old);
    if let Ok(sb) = old {
        kunit_expect_eq!(t, sb.inode_size, 128);
        kunit_expect_eq!(t, sb.first_ino, 11);
        kunit_expect_eq!(t, sb.inode_table_blocks(), 64);
        kunit_expect!(t, !sb.has_filetype());
    }
    // ...but feature flags there make no sense.
    kunit_expect!(t, refused(|b| put32(b, S_REV_LEVEL, GOOD_OLD_REV)));
}

/// The filesystem must fit in the device.
fn sb_check_fits(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    kunit_expect_eq!(t, sb.check_fits(8 << 20), Ok(()));
    kunit_expect_eq!(t, sb.check_fits(u64::MAX), Ok(()));
    kunit_expect_eq!(
        t,
        sb.check_fits((8 << 20) - 1),
        Err(SbError::Invalid("filesystem larger than the device"))
    );
    kunit_expect_eq!(
        t,
        sb.check_fits(0),
        Err(SbError::Invalid("filesystem larger than the device"))
    );
}

// ---------------------------------------------------------------------------------------------
// Group descriptors.

fn put_gd(buf: &mut [u8], group: u32, block_bitmap: u32, inode_bitmap: u32, inode_table: u32) {
    let off = (group % DESC_PER_BLOCK) as usize * GROUP_DESC_SIZE;
    put32(buf, off + gd_off::BG_BLOCK_BITMAP, block_bitmap);
    put32(buf, off + gd_off::BG_INODE_BITMAP, inode_bitmap);
    put32(buf, off + gd_off::BG_INODE_TABLE, inode_table);
    put16(buf, off + gd_off::BG_FREE_BLOCKS_COUNT, 1000 + group as u16);
    put16(buf, off + gd_off::BG_FREE_INODES_COUNT, 2000 + group as u16);
    put16(buf, off + gd_off::BG_USED_DIRS_COUNT, 3 + group as u16);
}

/// Descriptors are found in the table and checked against their group's block range.
fn group_desc(t: &mut Test) {
    let Some(sb) = test_sb(t, true) else { return };
    kunit_expect_eq!(t, sb.group_count(), 3);
    kunit_expect_eq!(t, sb.inode_table_blocks(), 512);
    kunit_expect_eq!(t, sb.group_first_block(2), Ok(65536));
    kunit_expect_eq!(t, sb.group_last_block(1), Ok(65535));
    kunit_expect_eq!(t, sb.group_last_block(2), Ok(69999));
    kunit_expect!(t, sb.group_first_block(3).is_err());
    kunit_expect_eq!(t, sb.group_desc_location(0), Ok((1, 0)));
    kunit_expect_eq!(t, sb.group_desc_location(2), Ok((1, 64)));
    kunit_expect!(t, sb.group_desc_location(3).is_err());
    kunit_expect!(t, sb.group_desc_location(u32::MAX).is_err());

    let mut gdt = [0u8; BLOCK_SIZE];
    put_gd(&mut gdt, 0, 3, 4, 5);
    put_gd(&mut gdt, 1, 32768 + 1, 32768 + 2, 65536 - 512);
    put_gd(&mut gdt, 2, 65536, 65537, 70000 - 512);
    let want = GroupDesc {
        block_bitmap: 3,
        inode_bitmap: 4,
        inode_table: 5,
        free_blocks_count: 1000,
        free_inodes_count: 2000,
        used_dirs_count: 3,
    };
    kunit_expect_eq!(t, GroupDesc::parse(&sb, 0, &gdt), Ok(want));
    kunit_expect_eq!(
        t,
        GroupDesc::parse(&sb, 1, &gdt).map(|g| g.inode_table),
        Ok(65024)
    );
    kunit_expect_eq!(
        t,
        GroupDesc::parse(&sb, 2, &gdt).map(|g| g.used_dirs_count),
        Ok(5)
    );
    kunit_expect!(t, GroupDesc::parse(&sb, 3, &gdt).is_err());
    // A short block.
    kunit_expect!(t, GroupDesc::parse(&sb, 2, &gdt[..64 + 31]).is_err());

    let bad = |t: &mut Test, gdt: &mut [u8; BLOCK_SIZE], group, bb, ib, it, what| {
        put_gd(gdt, group, bb, ib, it);
        kunit_expect_eq!(
            t,
            GroupDesc::parse(&sb, group, &gdt[..]),
            Err(Corrupt { what })
        );
    };
    let bb = "block bitmap not in its group";
    let ib = "inode bitmap not in its group";
    let it = "inode table not in its group";
    bad(t, &mut gdt, 1, 32767, 32770, 32771, bb);
    bad(t, &mut gdt, 1, 65536, 32770, 32771, bb);
    bad(t, &mut gdt, 1, 0, 32770, 32771, bb);
    bad(t, &mut gdt, 1, 32769, 32767, 32771, ib);
    bad(t, &mut gdt, 1, 32769, 70000, 32771, ib);
    bad(t, &mut gdt, 1, 32769, 32770, 32767, it);
    // The table's last block is one past the group.
    bad(t, &mut gdt, 1, 32769, 32770, 65536 - 511, it);
    bad(t, &mut gdt, 2, 65536, 65537, 70000 - 511, it);
    bad(t, &mut gdt, 2, 65536, 65537, u32::MAX, it);
    bad(t, &mut gdt, 2, u32::MAX, 65537, 65538, bb);
}

// ---------------------------------------------------------------------------------------------
// Inodes.

/// Where inodes are: group, block of the inode table, offset in the block.
fn inode_location(t: &mut Test) {
    let Some(sb) = test_sb(t, true) else { return };
    let loc = |group, table_block, offset| InodeLoc {
        group,
        table_block,
        offset,
        size: 256,
    };
    kunit_expect!(t, sb.locate_inode(0).is_err());
    kunit_expect_eq!(t, sb.locate_inode(1), Ok(loc(0, 0, 0)));
    kunit_expect_eq!(t, sb.locate_inode(2), Ok(loc(0, 0, 256)));
    kunit_expect_eq!(t, sb.locate_inode(16), Ok(loc(0, 0, 3840)));
    kunit_expect_eq!(t, sb.locate_inode(17), Ok(loc(0, 1, 0)));
    kunit_expect_eq!(t, sb.locate_inode(8192), Ok(loc(0, 511, 3840)));
    kunit_expect_eq!(t, sb.locate_inode(8193), Ok(loc(1, 0, 0)));
    kunit_expect_eq!(t, sb.locate_inode(3 * 8192), Ok(loc(2, 511, 3840)));
    kunit_expect!(t, sb.locate_inode(3 * 8192 + 1).is_err());
    kunit_expect!(t, sb.locate_inode(u32::MAX).is_err());
    // What ext2_get_inode() opens: the root, and inodes from first_ino on.
    kunit_expect!(t, sb.is_usable_ino(ROOT_INO));
    kunit_expect!(t, sb.is_usable_ino(11) && sb.is_usable_ino(3 * 8192));
    for ino in [0, 1, 3, 7, 10, 3 * 8192 + 1, u32::MAX] {
        kunit_expect!(t, !sb.is_usable_ino(ino), "inode {}", ino);
    }

    let gd = GroupDesc {
        block_bitmap: 32769,
        inode_bitmap: 32770,
        inode_table: 32771,
        free_blocks_count: 0,
        free_inodes_count: 0,
        used_dirs_count: 0,
    };
    kunit_expect_eq!(t, loc(1, 511, 0).block(&gd), Ok(32771 + 511));
    let huge = GroupDesc {
        inode_table: u32::MAX,
        ..gd
    };
    kunit_expect!(t, loc(1, 1, 0).block(&huge).is_err());

    let mut block = [0u8; BLOCK_SIZE];
    put8(&mut block, 3840, 0xaa);
    kunit_expect_eq!(
        t,
        loc(0, 0, 3840)
            .slice(&block)
            .map(|s| (s.len(), s.first().copied())),
        Ok((256, Some(0xaa)))
    );
    kunit_expect!(t, loc(0, 0, 3841).slice(&block).is_err());
    kunit_expect!(t, loc(0, 0, usize::MAX).slice(&block).is_err());
}

/// A live 256-byte inode with `mode`, `size` (split into i_size and i_size_high/i_dir_acl) and
/// one link, timestamps with nanoseconds.
fn inode_buf(buf: &mut [u8; 256], mode: u16, size: u64) {
    use inode_off::*;
    buf.fill(0);
    put16(buf, I_MODE, mode);
    put32(buf, I_SIZE, size as u32);
    put32(buf, I_DIR_ACL, (size >> 32) as u32);
    put16(buf, I_LINKS_COUNT, 1);
    put32(buf, I_ATIME, 1000);
    put32(buf, I_CTIME, 2000);
    put32(buf, I_MTIME, 3000);
    put16(buf, I_EXTRA_ISIZE, 32);
    put32(buf, I_ATIME_EXTRA, 1 << 2);
    put32(buf, I_CTIME_EXTRA, 2 << 2);
    put32(buf, I_MTIME_EXTRA, 999_999_999 << 2);
}

/// Parses [`inode_buf`] after `change` edited it.
fn inode_with(
    sb: &Superblock,
    mode: u16,
    size: u64,
    change: impl FnOnce(&mut [u8; 256]),
) -> Result<Inode, Corrupt> {
    let mut buf = [0u8; 256];
    inode_buf(&mut buf, mode, size);
    change(&mut buf);
    Inode::parse(sb, &buf)
}

/// Every file type; unknown types are corrupt.
fn inode_types(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    let types = [
        (0o100644, FileType::Regular, FT_REG_FILE),
        (0o040755, FileType::Directory, FT_DIR),
        (0o120777, FileType::Symlink, FT_SYMLINK),
        (0o020644, FileType::CharDev, FT_CHRDEV),
        (0o060644, FileType::BlockDev, FT_BLKDEV),
        (0o010644, FileType::Fifo, FT_FIFO),
        (0o140755, FileType::Socket, FT_SOCK),
    ];
    for (mode, ftype, ft) in types {
        kunit_expect_eq!(t, FileType::from_mode(mode), Ok(ftype));
        kunit_expect_eq!(t, ftype.dirent_type(), ft);
        let i = inode_with(&sb, mode, 4096, |_| {});
        kunit_expect_eq!(t, i.as_ref().map(|i| i.file_type()), Ok(Ok(ftype)));
        kunit_expect_eq!(t, i.map(|i| i.perm()), Ok(mode & 0o7777));
    }
    for mode in [
        0o000644, 0o030644, 0o050644, 0o070644, 0o110644, 0o130644, 0o150644, 0o160644, 0o170644,
    ] {
        kunit_expect_eq!(
            t,
            FileType::from_mode(mode),
            Err(Corrupt {
                what: "unknown file type in i_mode"
            })
        );
        kunit_expect!(
            t,
            inode_with(&sb, mode, 0, |_| {}).is_err(),
            "mode {:o}",
            mode
        );
    }
}

/// Owners, sizes, times, links, flags, block map, deleted inodes.
fn inode_fields(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let i = inode_with(&sb, 0o100600, 0x1_2345_6789, |b| {
        put16(b, I_UID, 0x5678);
        put16(b, L_I_UID_HIGH, 0x1234);
        put16(b, I_GID, 0x4321);
        put16(b, L_I_GID_HIGH, 0x8765);
        put32(b, I_BLOCKS, 24);
        put32(b, I_FLAGS, FL_NOATIME | FL_IMMUTABLE);
        put32(b, I_GENERATION, 77);
        put32(b, I_FILE_ACL, 2047);
        for n in 0..N_BLOCKS {
            put32(b, I_BLOCK + 4 * n, 100 + n as u32);
        }
    });
    kunit_expect!(t, i.is_ok(), "{:?}", i);
    let Ok(i) = i else { return };
    kunit_expect_eq!(t, i.mode, 0o100600);
    kunit_expect_eq!(t, i.uid, 0x1234_5678);
    kunit_expect_eq!(t, i.gid, 0x8765_4321);
    // Regular file larger than 4 GiB: i_dir_acl is i_size_high.
    kunit_expect_eq!(t, i.size, 0x1_2345_6789);
    kunit_expect_eq!(t, i.dir_acl, 0);
    kunit_expect_eq!(t, i.atime, Timestamp { sec: 1000, nsec: 1 });
    kunit_expect_eq!(t, i.ctime, Timestamp { sec: 2000, nsec: 2 });
    kunit_expect_eq!(
        t,
        i.mtime,
        Timestamp {
            sec: 3000,
            nsec: 999_999_999
        }
    );
    kunit_expect_eq!(t, i.dtime, 0);
    kunit_expect_eq!(t, i.links_count, 1);
    kunit_expect_eq!(t, i.blocks, 24);
    kunit_expect_eq!(t, i.flags, FL_NOATIME | FL_IMMUTABLE);
    kunit_expect_eq!(t, i.generation, 77);
    kunit_expect_eq!(t, i.file_acl, 2047);
    kunit_expect_eq!(t, i.extra_isize, 32);
    kunit_expect_eq!(t, i.block[0], 100);
    kunit_expect_eq!(t, i.block[TIND_BLOCK], 114);
    kunit_expect!(t, !i.is_deleted());

    // Not a regular file: i_dir_acl is not part of the size.
    let d = inode_with(&sb, 0o040755, 0x7_0000_1000, |_| {});
    kunit_expect_eq!(t, d.as_ref().map(|d| (d.size, d.dir_acl)), Ok((0x1000, 7)));
    // Sizes: negative, directory not a multiple of the block size or empty.
    kunit_expect_eq!(
        t,
        inode_with(&sb, 0o100644, 1 << 63, |_| {}),
        Err(Corrupt {
            what: "negative i_size"
        })
    );
    kunit_expect_eq!(
        t,
        inode_with(&sb, 0o100644, i64::MAX as u64, |_| {}).map(|i| i.size),
        Ok(i64::MAX as u64)
    );
    let dir_size = "directory size not a non-zero multiple of the block size";
    kunit_expect_eq!(
        t,
        inode_with(&sb, 0o040755, 4097, |_| {}),
        Err(Corrupt { what: dir_size })
    );
    kunit_expect_eq!(
        t,
        inode_with(&sb, 0o040755, 0, |_| {}),
        Err(Corrupt { what: dir_size })
    );
    // Extended attribute block outside the data area.
    for acl in [2048, u32::MAX] {
        kunit_expect_eq!(
            t,
            inode_with(&sb, 0o100644, 0, |b| put32(b, I_FILE_ACL, acl)),
            Err(Corrupt {
                what: "bad extended attribute block"
            })
        );
    }

    // Deleted inodes parse (whatever else they hold), and say so.
    let del = inode_with(&sb, 0, 0, |b| put16(b, I_LINKS_COUNT, 0));
    kunit_expect_eq!(t, del.map(|i| i.is_deleted()), Ok(true));
    let del = inode_with(&sb, 0o030000, 1 << 63, |b| {
        put16(b, I_LINKS_COUNT, 0);
        put32(b, I_DTIME, 5);
    });
    kunit_expect_eq!(t, del.map(|i| (i.is_deleted(), i.dtime)), Ok((true, 5)));
    kunit_expect_eq!(
        t,
        inode_with(&sb, 0o100644, 0, |b| put16(b, I_LINKS_COUNT, 0)),
        Err(Corrupt {
            what: "zero links_count with a mode and no dtime"
        })
    );
    // Too short for the superblock's inode size.
    let mut raw = [0u8; 256];
    inode_buf(&mut raw, 0o100644, 0);
    kunit_expect_eq!(
        t,
        Inode::parse(&sb, &raw[..255]),
        Err(Corrupt {
            what: "inode truncated"
        })
    );
    kunit_expect_eq!(
        t,
        Inode::parse(&sb, &[]),
        Err(Corrupt {
            what: "inode truncated"
        })
    );
}

/// Timestamps: signed seconds, nanoseconds and epoch bits when `i_extra_isize` covers them.
fn inode_times(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let times = |i: Result<Inode, Corrupt>| i.map(|i| (i.atime, i.ctime, i.mtime));
    let ts = |sec, nsec| Timestamp { sec, nsec };
    // i_extra_isize 8 covers i_ctime_extra only; 4 none of them; 0 none.
    let i = inode_with(&sb, 0o100644, 0, |b| put16(b, I_EXTRA_ISIZE, 8));
    kunit_expect_eq!(t, times(i), Ok((ts(1000, 0), ts(2000, 2), ts(3000, 0))));
    let i = inode_with(&sb, 0o100644, 0, |b| put16(b, I_EXTRA_ISIZE, 12));
    kunit_expect_eq!(
        t,
        times(i),
        Ok((ts(1000, 0), ts(2000, 2), ts(3000, 999_999_999)))
    );
    for extra in [0, 4] {
        let i = inode_with(&sb, 0o100644, 0, |b| put16(b, I_EXTRA_ISIZE, extra));
        kunit_expect_eq!(t, times(i), Ok((ts(1000, 0), ts(2000, 0), ts(3000, 0))));
    }
    // Beyond the inode, or not a multiple of 4.
    for extra in [2, 30, 132, 0xfffc] {
        kunit_expect_eq!(
            t,
            inode_with(&sb, 0o100644, 0, |b| put16(b, I_EXTRA_ISIZE, extra)),
            Err(Corrupt {
                what: "bad i_extra_isize"
            })
        );
    }
    kunit_expect!(
        t,
        inode_with(&sb, 0o100644, 0, |b| put16(b, I_EXTRA_ISIZE, 128)).is_ok()
    );
    // Seconds before 1970; epoch bits; nanoseconds out of range are clamped.
    let i = inode_with(&sb, 0o100644, 0, |b| {
        put32(b, I_ATIME, u32::MAX);
        put32(b, I_ATIME_EXTRA, 0);
        put32(b, I_CTIME, 0x8000_0000);
        put32(b, I_CTIME_EXTRA, 1 | 5 << 2);
        put32(b, I_MTIME, 7);
        put32(b, I_MTIME_EXTRA, u32::MAX);
    });
    let want = (
        ts(-1, 0),
        ts(-(1 << 31) + (1 << 32), 5),
        ts(7 + (3 << 32), 999_999_999),
    );
    kunit_expect_eq!(t, times(i), Ok(want));
    kunit_expect_eq!(
        t,
        Timestamp::decode(u32::MAX, Some(3)),
        ts(-1 + (3 << 32), 0)
    );

    // 128-byte inodes have no extra fields at all.
    let Ok(small) = sb_with(|b| put16(b, sb_off::S_INODE_SIZE, 128)) else {
        kunit_expect!(t, false);
        return;
    };
    let mut raw = [0u8; 256];
    inode_buf(&mut raw, 0o100644, 0);
    let i = Inode::parse(&small, &raw[..128]);
    kunit_expect_eq!(t, i.as_ref().map(|i| i.extra_isize), Ok(0));
    kunit_expect_eq!(t, times(i), Ok((ts(1000, 0), ts(2000, 0), ts(3000, 0))));
}

/// Fast symlinks (target in `i_block`) and slow ones (target in a block), as ext2 tells them
/// apart.
fn inode_symlinks(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let target = b"a/fairly/long/target/of/fifty-nine/bytes/for/the/i_block/x";
    kunit_expect_eq!(t, target.len(), 58);
    let fast = |len: u64, blocks: u32, acl: u32| {
        inode_with(&sb, 0o120777, len, |b| {
            put_bytes(b, I_BLOCK, target);
            put32(b, I_BLOCKS, blocks);
            put32(b, I_FILE_ACL, acl);
        })
    };
    let i = fast(58, 0, 0);
    kunit_expect_eq!(t, i.as_ref().map(|i| i.is_fast_symlink()), Ok(true));
    kunit_expect_eq!(
        t,
        i.as_ref().map(|i| i.fast_symlink_target()),
        Ok(Ok(&target[..]))
    );
    kunit_expect_eq!(
        t,
        i.as_ref()
            .map(|i| i.slow_symlink_target(&[0u8; 8]).is_err()),
        Ok(true)
    );
    kunit_expect_eq!(
        t,
        fast(3, 0, 0).map(|i| i.fast_symlink_target() == Ok(&b"a/f"[..])),
        Ok(true)
    );
    // With an extended attribute block: 8 sectors are the EA block's.
    kunit_expect_eq!(t, fast(3, 8, 2000).map(|i| i.is_fast_symlink()), Ok(true));
    kunit_expect_eq!(t, fast(3, 16, 2000).map(|i| i.is_fast_symlink()), Ok(false));
    kunit_expect_eq!(t, fast(3, 8, 0).map(|i| i.is_fast_symlink()), Ok(false));
    // Fewer sectors than the EA block: not fast (ext2 compares a negative count with 0).
    kunit_expect_eq!(t, fast(3, 0, 2000).map(|i| i.is_fast_symlink()), Ok(false));
    // Lengths: 59 is the most i_block holds with a NUL; 0 is no target.
    kunit_expect_eq!(
        t,
        fast(59, 0, 0).map(|i| i.fast_symlink_target().map(|s| s.len())),
        Ok(Ok(59))
    );
    let bad_len = Err(Corrupt {
        what: "bad fast symlink length",
    });
    kunit_expect_eq!(
        t,
        fast(60, 0, 0).map(|i| i.fast_symlink_target().map(|s| s.len())),
        Ok(bad_len)
    );
    kunit_expect_eq!(
        t,
        fast(1 << 40, 0, 0).map(|i| i.fast_symlink_target().map(|s| s.len())),
        Ok(bad_len)
    );
    kunit_expect_eq!(
        t,
        fast(0, 0, 0).map(|i| i.fast_symlink_target().map(|s| s.len())),
        Ok(bad_len)
    );

    // Slow: the target is the start of the first data block.
    let mut block = [b'x'; BLOCK_SIZE];
    let slow = |len: u64| {
        inode_with(&sb, 0o120777, len, |b| {
            put32(b, I_BLOCK, 500);
            put32(b, I_BLOCKS, 8);
        })
    };
    let i = slow(100);
    kunit_expect_eq!(t, i.as_ref().map(|i| i.is_fast_symlink()), Ok(false));
    kunit_expect_eq!(
        t,
        i.as_ref().map(|i| i.fast_symlink_target().is_err()),
        Ok(true)
    );
    kunit_expect_eq!(
        t,
        i.as_ref()
            .map(|i| i.slow_symlink_target(&block).map(|s| s.len())),
        Ok(Ok(100))
    );
    kunit_expect_eq!(
        t,
        slow(4095).map(|i| i.slow_symlink_target(&block).map(|s| s.len())),
        Ok(Ok(4095))
    );
    block[0] = b'/';
    kunit_expect_eq!(
        t,
        slow(1).map(|i| i.slow_symlink_target(&block) == Ok(&b"/"[..])),
        Ok(true)
    );
    let bad = Err(Corrupt {
        what: "bad symlink length",
    });
    kunit_expect_eq!(
        t,
        slow(4096).map(|i| i.slow_symlink_target(&block).map(|s| s.len())),
        Ok(bad)
    );
    kunit_expect_eq!(
        t,
        slow(0).map(|i| i.slow_symlink_target(&block).map(|s| s.len())),
        Ok(bad)
    );
    kunit_expect_eq!(
        t,
        slow(200).map(|i| i.slow_symlink_target(&block[..100]).is_err()),
        Ok(true)
    );
    // Not a symlink at all.
    let reg = inode_with(&sb, 0o100644, 3, |_| {});
    kunit_expect_eq!(t, reg.as_ref().map(|i| i.is_fast_symlink()), Ok(false));
    kunit_expect_eq!(
        t,
        reg.as_ref().map(|i| i.fast_symlink_target().is_err()),
        Ok(true)
    );
    kunit_expect_eq!(
        t,
        reg.map(|i| i.slow_symlink_target(&block).is_err()),
        Ok(true)
    );
}

/// Device numbers in the old (8:8, `i_block[0]`) and new (12:20, `i_block[1]`) encodings.
fn inode_rdev(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let dev = |b0: u32, b1: u32| {
        inode_with(&sb, 0o020644, 0, |b| {
            put32(b, I_BLOCK, b0);
            put32(b, I_BLOCK + 4, b1);
        })
        .map(|i| i.rdev())
    };
    kunit_expect_eq!(t, dev(0x0405, 0), Ok((4, 5)));
    kunit_expect_eq!(t, dev(0xff01, 0x1234), Ok((255, 1)));
    // Old encoding: a 16-bit value, upper bits ignored as old_decode_dev(u16) does.
    kunit_expect_eq!(t, dev(0xabcd_0405, 0), Ok((4, 5)));
    // New encoding: minor low 8 bits, major 12 bits, minor high 12 bits.
    let new_encode =
        |major: u32, minor: u32| (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    kunit_expect_eq!(t, dev(0, new_encode(300, 70000)), Ok((300, 70000)));
    kunit_expect_eq!(t, dev(0, new_encode(4095, 0xfffff)), Ok((4095, 0xfffff)));
    kunit_expect_eq!(t, dev(0, new_encode(8, 1)), Ok((8, 1)));
    kunit_expect_eq!(t, dev(0, 0), Ok((0, 0)));
}

// ---------------------------------------------------------------------------------------------
// Block map.

/// Paths at each boundary of the direct and indirect ranges.
fn block_paths(t: &mut Test) {
    const N: u64 = 1024;
    let ind = 12;
    let dind = ind + N;
    let tind = dind + N * N;
    let max = tind + N * N * N - 1;
    kunit_expect_eq!(t, MAX_MAPPED_BLOCKS, max + 1);
    let cases = [
        (0, Ok(BlockPath::Direct(0))),
        (11, Ok(BlockPath::Direct(11))),
        (12, Ok(BlockPath::Indirect(0))),
        (13, Ok(BlockPath::Indirect(1))),
        (12 + 1023, Ok(BlockPath::Indirect(1023))),
        (12 + 1024, Ok(BlockPath::Double(0, 0))),
        (dind + 1023, Ok(BlockPath::Double(0, 1023))),
        (dind + 1024, Ok(BlockPath::Double(1, 0))),
        (tind - 1, Ok(BlockPath::Double(1023, 1023))),
        (tind, Ok(BlockPath::Triple(0, 0, 0))),
        (tind + 1, Ok(BlockPath::Triple(0, 0, 1))),
        (tind + N, Ok(BlockPath::Triple(0, 1, 0))),
        (tind + N * N, Ok(BlockPath::Triple(1, 0, 0))),
        (max, Ok(BlockPath::Triple(1023, 1023, 1023))),
        (
            max + 1,
            Err(Corrupt {
                what: "logical block past the triple indirect range",
            }),
        ),
        (
            u64::MAX,
            Err(Corrupt {
                what: "logical block past the triple indirect range",
            }),
        ),
    ];
    for (lblk, want) in cases {
        kunit_expect_eq!(t, BlockPath::new(lblk), want);
    }
    let path = |lblk| BlockPath::new(lblk).unwrap_or(BlockPath::Direct(99));
    kunit_expect_eq!(t, path(11).indices().as_slice(), &[11]);
    kunit_expect_eq!(t, path(12 + 1023).indices().as_slice(), &[12, 1023]);
    kunit_expect_eq!(t, path(dind + 1024 + 5).indices().as_slice(), &[13, 1, 5]);
    kunit_expect_eq!(t, path(max).indices().as_slice(), &[14, 1023, 1023, 1023]);
    kunit_expect_eq!(
        t,
        (
            path(0).depth(),
            path(12).depth(),
            path(dind).depth(),
            path(tind).depth()
        ),
        (0, 1, 2, 3)
    );
    kunit_expect_eq!(t, path(0).leaf_remaining(), 12);
    kunit_expect_eq!(t, path(11).leaf_remaining(), 1);
    kunit_expect_eq!(t, path(12).leaf_remaining(), 1024);
    kunit_expect_eq!(t, path(dind + 1023).leaf_remaining(), 1);
    kunit_expect_eq!(t, path(max).leaf_remaining(), 1);
    // ext2_max_size() for 4 KiB blocks: limited by the 32-bit i_blocks, not the block map.
    kunit_expect_eq!(t, MAX_FILE_SIZE, 2_196_873_666_560);
    kunit_expect!(t, MAX_FILE_SIZE / BLOCK_SIZE as u64 <= MAX_MAPPED_BLOCKS);
}

/// Entries of indirect blocks, and the checks of the block numbers found there.
fn indirect_entries(t: &mut Test) {
    let mut block = [0u8; BLOCK_SIZE];
    put32(&mut block, 0, 7);
    put32(&mut block, 4092, 0xdead_beef);
    kunit_expect_eq!(t, indirect_entry(&block, 0), Ok(7));
    kunit_expect_eq!(t, indirect_entry(&block, 1), Ok(0));
    kunit_expect_eq!(t, indirect_entry(&block, 1023), Ok(0xdead_beef));
    kunit_expect_eq!(
        t,
        indirect_entry(&block, 1024),
        Err(Corrupt {
            what: "indirect block index out of range"
        })
    );
    kunit_expect_eq!(
        t,
        indirect_entry(&block, u32::MAX),
        Err(Corrupt {
            what: "indirect block index out of range"
        })
    );
    kunit_expect_eq!(
        t,
        indirect_entry(&block[..4092], 1023),
        Err(Corrupt {
            what: "indirect block truncated"
        })
    );

    let Some(sb) = test_sb(t, false) else { return };
    kunit_expect_eq!(t, sb.check_block_nr(0), Ok(None));
    kunit_expect_eq!(t, sb.check_block_nr(1), Ok(Some(1)));
    kunit_expect_eq!(t, sb.check_block_nr(2047), Ok(Some(2047)));
    kunit_expect_eq!(
        t,
        sb.check_block_nr(2048),
        Err(Corrupt {
            what: "block number out of range"
        })
    );
    kunit_expect_eq!(
        t,
        sb.check_block_nr(u32::MAX),
        Err(Corrupt {
            what: "block number out of range"
        })
    );
    kunit_expect_eq!(t, sb.check_extent(1, 2047), Ok(()));
    kunit_expect_eq!(t, sb.check_extent(2047, 1), Ok(()));
    kunit_expect!(t, sb.check_extent(0, 1).is_err());
    kunit_expect!(t, sb.check_extent(1, 0).is_err());
    kunit_expect!(t, sb.check_extent(1, 2048).is_err());
    kunit_expect!(t, sb.check_extent(2047, 2).is_err());
    kunit_expect!(t, sb.check_extent(u32::MAX, 2).is_err());
    kunit_expect!(t, sb.check_extent(2, u32::MAX).is_err());
}

/// Runs of physically contiguous blocks (or holes) in indirect blocks and `i_block`.
fn contiguous_runs(t: &mut Test) {
    let mut block = [0u8; BLOCK_SIZE];
    // 0..3: blocks 100..103; 3..6: holes; 6: 200; 7: 202; 1020..1024: 500..504.
    for (i, b) in [(0, 100), (1, 101), (2, 102), (6, 200), (7, 202)] {
        put32(&mut block, i * 4, b);
    }
    for i in 1020..1024 {
        put32(&mut block, i * 4, 500 + i as u32 - 1020);
    }
    kunit_expect_eq!(t, contiguous_run(&block, 0, 1000), Ok(3));
    kunit_expect_eq!(t, contiguous_run(&block, 1, 1000), Ok(2));
    kunit_expect_eq!(t, contiguous_run(&block, 0, 2), Ok(2));
    kunit_expect_eq!(t, contiguous_run(&block, 0, 1), Ok(1));
    kunit_expect_eq!(t, contiguous_run(&block, 0, 0), Ok(0));
    kunit_expect_eq!(t, contiguous_run(&block, 3, 1000), Ok(3));
    kunit_expect_eq!(t, contiguous_run(&block, 6, 1000), Ok(1));
    kunit_expect_eq!(t, contiguous_run(&block, 8, u32::MAX), Ok(1012));
    // The run stops at the end of the block, whatever `max` says.
    kunit_expect_eq!(t, contiguous_run(&block, 1020, u32::MAX), Ok(4));
    kunit_expect_eq!(t, contiguous_run(&block, 1023, 5), Ok(1));
    kunit_expect!(t, contiguous_run(&block, 1024, 1).is_err());
    kunit_expect!(t, contiguous_run(&block, 1024, 0).is_err());
    kunit_expect!(t, contiguous_run(&block[..100], 20, 10).is_err());
    // A short block: the run stops with an error rather than past its end.
    kunit_expect!(t, contiguous_run(&block[..12], 0, 10).is_err());
    // Block numbers do not wrap around.
    put32(&mut block, 0, u32::MAX);
    put32(&mut block, 4, 0);
    kunit_expect_eq!(t, contiguous_run(&block, 0, 10), Ok(1));
    put32(&mut block, 0, u32::MAX - 1);
    put32(&mut block, 4, u32::MAX);
    kunit_expect_eq!(t, contiguous_run(&block, 0, 10), Ok(2));
    // A whole block of consecutive blocks.
    for i in 0..1024 {
        put32(&mut block, i * 4, 1000 + i as u32);
    }
    kunit_expect_eq!(t, contiguous_run(&block, 0, u32::MAX), Ok(1024));

    let mut iblock = [0u32; N_BLOCKS];
    for (i, b) in iblock.iter_mut().enumerate() {
        *b = 50 + i as u32;
    }
    kunit_expect_eq!(t, direct_run(&iblock, 0, 100), Ok(12));
    kunit_expect_eq!(t, direct_run(&iblock, 11, 100), Ok(1));
    kunit_expect_eq!(t, direct_run(&iblock, 4, 3), Ok(3));
    kunit_expect!(t, direct_run(&iblock, 12, 1).is_err());
    iblock[5] = 0;
    iblock[6] = 0;
    kunit_expect_eq!(t, direct_run(&iblock, 0, 100), Ok(5));
    kunit_expect_eq!(t, direct_run(&iblock, 5, 100), Ok(2));
}

// ---------------------------------------------------------------------------------------------
// The block-map walk of the filesystem (`blockmap::walk`) and the claim map, on in-memory images.

/// An in-memory image: `self.0(blk, buf)` fills `buf` with block `blk`.
struct Mem<F: Fn(u32, &mut [u8]) -> Result>(F);

impl<F: Fn(u32, &mut [u8]) -> Result> BlockSource for Mem<F> {
    fn read_block(&self, blk: u32, buf: &mut [u8]) -> Result {
        (self.0)(blk, buf)
    }
}

/// A claim map of `blocks` blocks and a block buffer for [`walk`] (on the heap: the kernel
/// stack is small).
fn walk_env(t: &mut Test, blocks: u32) -> Option<(ClaimMap, KVec<u8>)> {
    let claims = ClaimMap::new(blocks);
    let buf = KVec::from_elem(0u8, BLOCK_SIZE, GFP_KERNEL);
    kunit_expect!(t, claims.is_ok() && buf.is_ok());
    Some((claims.ok()?, buf.ok()?))
}

/// Expects `d` to read `want`, for checking what log lines say.
fn expect_text(t: &mut Test, d: impl core::fmt::Display, want: &str) {
    let s = CString::try_from_fmt(fmt!("{}", d));
    let got = s.as_ref().ok().and_then(|s| s.to_str().ok());
    kunit_expect_eq!(t, got, Some(want));
}

/// Which indirect block a path goes through, numbered once for the whole block map.
fn indirect_ids(t: &mut Test) {
    kunit_expect_eq!(t, BlockPath::Direct(3).indirect_id(1), None);
    kunit_expect_eq!(t, BlockPath::Indirect(7).indirect_id(1), Some(0));
    kunit_expect_eq!(t, BlockPath::Indirect(7).indirect_id(2), None);
    kunit_expect_eq!(t, BlockPath::Double(0, 9).indirect_id(1), Some(1));
    kunit_expect_eq!(t, BlockPath::Double(0, 9).indirect_id(2), Some(2));
    kunit_expect_eq!(t, BlockPath::Double(1023, 9).indirect_id(2), Some(1025));
    kunit_expect_eq!(t, BlockPath::Triple(5, 6, 7).indirect_id(1), Some(1026));
    kunit_expect_eq!(t, BlockPath::Triple(0, 6, 7).indirect_id(2), Some(1027));
    kunit_expect_eq!(t, BlockPath::Triple(1023, 6, 7).indirect_id(2), Some(2050));
    kunit_expect_eq!(t, BlockPath::Triple(0, 0, 7).indirect_id(3), Some(2051));
    kunit_expect_eq!(
        t,
        BlockPath::Triple(1023, 1023, 7).indirect_id(3),
        Some(INDIRECT_IDS - 1)
    );
    kunit_expect_eq!(t, BlockPath::Triple(1, 2, 3).indirect_id(0), None);
    kunit_expect_eq!(t, BlockPath::Triple(1, 2, 3).indirect_id(4), None);
}

/// The claim map: one owner per block, claims by the same owner are free, others are refused
/// with both named; release; runs stop before a block that is another's.
fn claim_map(t: &mut Test) {
    let Ok(claims) = ClaimMap::new(12) else {
        kunit_expect!(t, false);
        return;
    };
    let data = |ino, lblk| Owner::Data { ino, lblk };
    kunit_expect_eq!(t, claims.owner(0), None);
    kunit_expect_eq!(t, claims.claim(0, data(1, 0)), Ok(()));
    kunit_expect_eq!(t, claims.claim(0, data(1, 0)), Ok(()));
    kunit_expect_eq!(t, claims.owner(0), Some(data(1, 0)));
    // The same file at another offset, or another file: refused.
    kunit_expect_eq!(
        t,
        claims.claim(0, data(1, 1)),
        Err(Conflict {
            blk: 0,
            wanted: data(1, 1),
            owner: Some(data(1, 0))
        })
    );
    kunit_expect_eq!(
        t,
        claims.claim(0, Owner::Indirect { ino: 1, id: 0 }),
        Err(Conflict {
            blk: 0,
            wanted: Owner::Indirect { ino: 1, id: 0 },
            owner: Some(data(1, 0))
        })
    );
    // Outside the map, or not an owner at all.
    kunit_expect_eq!(
        t,
        claims.claim(12, data(1, 0)),
        Err(Conflict {
            blk: 12,
            wanted: data(1, 0),
            owner: None
        })
    );
    kunit_expect!(t, claims.claim(1, data(0, 0)).is_err());
    kunit_expect!(t, claims.claim(1, data(1, 1 << 31)).is_err());
    kunit_expect!(t, claims.claim(1, Owner::Indirect { ino: 1, id: INDIRECT_IDS }).is_err());
    kunit_expect_eq!(t, claims.owner(1), None);
    // Every owner is stored and read back as it was.
    let owners = [
        Owner::Meta(Meta::Super),
        Owner::Meta(Meta::Descriptors),
        Owner::Meta(Meta::BlockBitmap),
        Owner::Meta(Meta::InodeBitmap),
        Owner::Meta(Meta::InodeTable),
        data(u32::MAX, MAX_MAPPED_BLOCKS as u32 - 1),
        Owner::Indirect {
            ino: u32::MAX,
            id: INDIRECT_IDS - 1,
        },
        Owner::Indirect { ino: 7, id: 0 },
    ];
    for (i, &o) in owners.iter().enumerate() {
        let blk = i as u32 + 1;
        kunit_expect_eq!(t, claims.claim(blk, o), Ok(()));
        kunit_expect_eq!(t, claims.owner(blk), Some(o));
    }
    // Release: only by the owner; an unclaimed block may be released.
    kunit_expect_eq!(
        t,
        claims.release(0, data(1, 1)),
        Err(Conflict {
            blk: 0,
            wanted: data(1, 1),
            owner: Some(data(1, 0))
        })
    );
    kunit_expect_eq!(t, claims.release(0, data(1, 0)), Ok(()));
    kunit_expect_eq!(t, claims.owner(0), None);
    kunit_expect_eq!(t, claims.release(0, data(1, 0)), Ok(()));
    kunit_expect_eq!(t, claims.claim(0, data(2, 5)), Ok(()));
    kunit_expect!(t, claims.release(12, data(2, 5)).is_err());
    // Runs: 9 to 11 are free, 12 is past the end.
    kunit_expect_eq!(t, claims.claim_run(10, 1, |i| data(3, i)), Ok(1));
    kunit_expect_eq!(t, claims.release(10, data(3, 0)), Ok(()));
    kunit_expect_eq!(t, claims.claim_run(10, 3, |i| data(3, i)), Ok(2));
    kunit_expect_eq!(
        t,
        claims.claim_run(10, 3, |i| data(3, i + 1)).map_err(|c| c.owner),
        Err(Some(data(3, 0)))
    );
    kunit_expect_eq!(t, claims.claim_run(9, 3, |i| data(4, i)), Ok(1));
    kunit_expect_eq!(t, claims.owner(9), Some(data(4, 0)));
    // What the log lines say about owners.
    expect_text(t, data(12, 3).describe(5, 32768), "file block 3 of inode 12");
    expect_text(
        t,
        Owner::Indirect { ino: 13, id: 5 }.describe(5, 32768),
        "an indirect block of inode 13",
    );
    expect_text(
        t,
        Owner::Meta(Meta::InodeTable).describe(40000, 32768),
        "the inode table of group 1",
    );
    expect_text(
        t,
        Owner::Meta(Meta::Descriptors).describe(1, 32768),
        "the group descriptor table of group 0",
    );
}

/// Which groups have a superblock copy, where it is, and claiming each group's metadata.
fn group_claims(t: &mut Test) {
    use sb_off::*;
    let Some(sb) = test_sb(t, true) else { return };
    let has: [bool; 10] = core::array::from_fn(|g| sb.group_has_super(g as u32));
    kunit_expect_eq!(
        t,
        has,
        [true, true, false, true, false, true, false, true, false, true]
    );
    for g in [25, 27, 49, 81, 125, 243, 343, 625, 2401, 3u32.pow(19)] {
        kunit_expect!(t, sb.group_has_super(g), "group {}", g);
    }
    for g in [6, 10, 15, 21, 35, 50, 100, 3u32.pow(19) + 1, u32::MAX] {
        kunit_expect!(t, !sb.group_has_super(g), "group {}", g);
    }
    // Without sparse_super, every group has a copy.
    let full = sb_with(|b| {
        multi_group(b);
        put32(b, S_FEATURE_RO_COMPAT, RO_COMPAT_LARGE_FILE);
    });
    kunit_expect_eq!(t, full.map(|s| s.group_has_super(2)), Ok(true));
    // The copy: superblock, one descriptor block, the reserved descriptor blocks.
    kunit_expect_eq!(t, sb.group_super_blocks(0), Ok(Some((0, 2))));
    kunit_expect_eq!(t, sb.group_super_blocks(1), Ok(Some((32768, 2))));
    kunit_expect_eq!(t, sb.group_super_blocks(2), Ok(None));
    kunit_expect!(t, sb.group_super_blocks(3).is_err());
    let rsv = sb_with(|b| {
        multi_group(b);
        put16(b, S_RESERVED_GDT_BLOCKS, 255);
    });
    kunit_expect_eq!(
        t,
        rsv.as_ref().map(|s| s.group_super_blocks(1)),
        Ok(Ok(Some((32768, 257))))
    );
    // Reserved descriptor blocks past the end of the filesystem: refused with the superblock.
    let past = sb_with(|b| put16(b, S_RESERVED_GDT_BLOCKS, 3000));
    kunit_expect_eq!(
        t,
        past.err(),
        Some(SbError::Invalid("reserved group descriptor blocks past the end"))
    );
    // A backup copy in a short last group can still run past the end: corrupt group metadata.
    let short_last = sb_with(|b| {
        multi_group(b);
        put16(b, S_RESERVED_GDT_BLOCKS, 1000);
        put32(b, S_BLOCKS_COUNT, 32768 + 800);
        put32(b, S_INODES_COUNT, 2 * 8192);
    });
    kunit_expect_eq!(
        t,
        short_last.as_ref().map(|s| s.group_super_blocks(1)),
        Ok(Err(Corrupt::new(
            "superblock copy and descriptor table past the end"
        )))
    );

    let Some((claims, _)) = walk_env(t, sb.blocks_count) else { return };
    let gd = |bb, ib, it| GroupDesc {
        block_bitmap: bb,
        inode_bitmap: ib,
        inode_table: it,
        free_blocks_count: 0,
        free_inodes_count: 0,
        used_dirs_count: 0,
    };
    let meta = |m| Some(Owner::Meta(m));
    kunit_expect_eq!(t, claim_group_metadata(&sb, &claims, 0, &gd(2, 3, 4)), Ok(()));
    kunit_expect_eq!(t, claim_group_metadata(&sb, &claims, 1, &gd(32770, 32771, 32772)), Ok(()));
    kunit_expect_eq!(t, claim_group_metadata(&sb, &claims, 2, &gd(65536, 65537, 65538)), Ok(()));
    let want = [
        (0, meta(Meta::Super)),
        (1, meta(Meta::Descriptors)),
        (2, meta(Meta::BlockBitmap)),
        (3, meta(Meta::InodeBitmap)),
        (4, meta(Meta::InodeTable)),
        (515, meta(Meta::InodeTable)),
        (516, None),
        (32768, meta(Meta::Super)),
        (32769, meta(Meta::Descriptors)),
        (32770, meta(Meta::BlockBitmap)),
        (33283, meta(Meta::InodeTable)),
        (33284, None),
        (65535, None),
        (65536, meta(Meta::BlockBitmap)),
        (65537, meta(Meta::InodeBitmap)),
        (65538, meta(Meta::InodeTable)),
        (66049, meta(Meta::InodeTable)),
        (66050, None),
    ];
    for (blk, owner) in want {
        kunit_expect_eq!(t, (blk, claims.owner(blk)), (blk, owner));
    }
    // Mounting twice over the same map: the same owners, no conflict.
    kunit_expect_eq!(t, claim_group_metadata(&sb, &claims, 0, &gd(2, 3, 4)), Ok(()));
    // Metadata on other metadata: the block bitmap on the descriptor table, an inode table
    // over an inode bitmap, two groups' inode tables overlapping.
    let Some((claims, _)) = walk_env(t, sb.blocks_count) else { return };
    kunit_expect_eq!(
        t,
        claim_group_metadata(&sb, &claims, 0, &gd(1, 3, 4)),
        Err(GroupError::Claimed(Conflict {
            blk: 1,
            wanted: Owner::Meta(Meta::BlockBitmap),
            owner: meta(Meta::Descriptors)
        }))
    );
    let Some((claims, _)) = walk_env(t, sb.blocks_count) else { return };
    kunit_expect_eq!(
        t,
        claim_group_metadata(&sb, &claims, 0, &gd(2, 3, 3)),
        Err(GroupError::Claimed(Conflict {
            blk: 3,
            wanted: Owner::Meta(Meta::InodeTable),
            owner: meta(Meta::InodeBitmap)
        }))
    );
    // An inode table over the descriptor table; a bitmap on the superblock copy of group 1.
    let Some((claims, _)) = walk_env(t, sb.blocks_count) else { return };
    kunit_expect_eq!(
        t,
        claim_group_metadata(&sb, &claims, 0, &gd(2, 3, 1)),
        Err(GroupError::Claimed(Conflict {
            blk: 1,
            wanted: Owner::Meta(Meta::InodeTable),
            owner: meta(Meta::Descriptors)
        }))
    );
    kunit_expect_eq!(
        t,
        claim_group_metadata(&sb, &claims, 1, &gd(32768, 32771, 32772)),
        Err(GroupError::Claimed(Conflict {
            blk: 32768,
            wanted: Owner::Meta(Meta::BlockBitmap),
            owner: meta(Meta::Super)
        }))
    );
    // A superblock copy that does not fit is corrupt.
    if let Ok(short) = &short_last {
        kunit_expect_eq!(
            t,
            claim_group_metadata(short, &claims, 1, &gd(32770, 32771, 32772)),
            Err(GroupError::Corrupt(Corrupt::new(
                "superblock copy and descriptor table past the end"
            )))
        );
    }
}

/// Cross-linked block maps, as crafted images have them: a block twice in one file, in two
/// files, file data on metadata, on another file's indirect block (in both orders), on a
/// directory block. The walk refuses each second owner, naming the first.
fn walk_cross_links(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let Some((claims, mut buf)) = walk_env(t, sb.blocks_count) else { return };
    // Indirect blocks: 400 holds 401 in entry 0; 700 cannot be read; others are zeroes.
    let image = Mem(|blk: u32, buf: &mut [u8]| {
        buf.fill(0);
        match blk {
            400 => put32(buf, 0, 401),
            700 => return Err(EIO),
            _ => {}
        }
        Ok(())
    });
    let gd = GroupDesc {
        block_bitmap: 2,
        inode_bitmap: 3,
        inode_table: 4,
        free_blocks_count: 0,
        free_inodes_count: 0,
        used_dirs_count: 0,
    };
    kunit_expect_eq!(t, claim_group_metadata(&sb, &claims, 0, &gd), Ok(()));
    // A regular file (a directory if `dir`) with `i_block` set to `blocks`.
    let file = |blocks: &[(usize, u32)], dir: bool| {
        let mode = if dir { 0o040755 } else { 0o100644 };
        inode_with(&sb, mode, 64 * BLOCK_SIZE as u64, |b| {
            for &(i, v) in blocks {
                put32(b, I_BLOCK + i * 4, v);
            }
        })
    };
    let mut walk_of = |ino: u32, inode: &Result<Inode, Corrupt>, lblk: u64, max: u32| match inode {
        Ok(i) => walk(&image, &sb, &claims, ino, i, lblk, max, &mut buf),
        Err(c) => Err(WalkError::Corrupt(*c)),
    };
    let data = |ino, lblk| Owner::Data { ino, lblk };
    let refused = |blk, wanted, owner| -> Result<(Option<u32>, u32), WalkError> {
        Err(WalkError::Claimed(Conflict {
            blk,
            wanted,
            owner: Some(owner),
        }))
    };

    // One file, two of its blocks on one device block (`alias`).
    let alias = file(&[(0, 200), (1, 200)], false);
    kunit_expect_eq!(t, walk_of(12, &alias, 0, 2), Ok((Some(200), 1)));
    kunit_expect_eq!(t, walk_of(12, &alias, 0, 2), Ok((Some(200), 1)));
    kunit_expect_eq!(t, walk_of(12, &alias, 1, 1), refused(200, data(12, 1), data(12, 0)));
    // Two files on one block (`x1`, `x2`).
    let x2 = file(&[(0, 200)], false);
    kunit_expect_eq!(t, walk_of(13, &x2, 0, 1), refused(200, data(13, 0), data(12, 0)));
    // File data on the descriptor table, the bitmaps, the inode table.
    let on_meta = file(&[(0, 1), (1, 2), (2, 3), (3, 4), (4, 131)], false);
    for (lblk, m) in [
        (0, Meta::Descriptors),
        (1, Meta::BlockBitmap),
        (2, Meta::InodeBitmap),
        (3, Meta::InodeTable),
        (4, Meta::InodeTable),
    ] {
        let blk = [1, 2, 3, 4, 131][lblk as usize];
        kunit_expect_eq!(
            t,
            walk_of(14, &on_meta, lblk, 1),
            refused(blk, data(14, lblk as u32), Owner::Meta(m))
        );
    }
    // A run stops before a block that is another's; walking from there fails.
    let run = file(&[(0, 300), (1, 301), (2, 302), (3, 303)], false);
    kunit_expect_eq!(t, claims.claim(302, data(16, 0)), Ok(()));
    kunit_expect_eq!(t, walk_of(15, &run, 0, 4), Ok((Some(300), 2)));
    kunit_expect_eq!(t, walk_of(15, &run, 2, 2), refused(302, data(15, 2), data(16, 0)));
    // File data on another file's indirect block, the indirect block walked first...
    let ind = file(&[(12, 400)], false);
    kunit_expect_eq!(t, walk_of(17, &ind, 12, 1), Ok((Some(401), 1)));
    kunit_expect_eq!(t, claims.owner(400), Some(Owner::Indirect { ino: 17, id: 0 }));
    kunit_expect_eq!(t, claims.owner(401), Some(data(17, 12)));
    let on_ind = file(&[(0, 400)], false);
    kunit_expect_eq!(
        t,
        walk_of(18, &on_ind, 0, 1),
        refused(400, data(18, 0), Owner::Indirect { ino: 17, id: 0 })
    );
    // ... or the data first: then the indirect block is refused.
    let first = file(&[(0, 500)], false);
    kunit_expect_eq!(t, walk_of(19, &first, 0, 1), Ok((Some(500), 1)));
    let late_ind = file(&[(12, 500)], false);
    kunit_expect_eq!(
        t,
        walk_of(20, &late_ind, 12, 1),
        refused(500, Owner::Indirect { ino: 20, id: 0 }, data(19, 0))
    );
    // A directory's block (directories are walked the same way) as file data.
    let dir = file(&[(0, 600)], true);
    kunit_expect_eq!(t, walk_of(21, &dir, 0, 1), Ok((Some(600), 1)));
    let on_dir = file(&[(0, 600)], false);
    kunit_expect_eq!(t, walk_of(22, &on_dir, 0, 1), refused(600, data(22, 0), data(21, 0)));
    // A directory whose blocks all alias one block: refused from its second block on.
    let dir_alias = file(&[(0, 650), (1, 650), (2, 650)], true);
    kunit_expect_eq!(t, walk_of(23, &dir_alias, 0, 1), Ok((Some(650), 1)));
    kunit_expect_eq!(t, walk_of(23, &dir_alias, 1, 1), refused(650, data(23, 1), data(23, 0)));
    kunit_expect_eq!(t, walk_of(23, &dir_alias, 2, 1), refused(650, data(23, 2), data(23, 0)));
    // An indirect block that cannot be read; block numbers outside the filesystem.
    let unreadable = file(&[(12, 700)], false);
    kunit_expect_eq!(t, walk_of(24, &unreadable, 12, 1), Err(WalkError::Io(EIO)));
    let outside = file(&[(0, 2048), (1, 2047), (2, 2048)], false);
    kunit_expect_eq!(
        t,
        walk_of(25, &outside, 0, 1),
        Err(WalkError::Corrupt(Corrupt::new("block number out of range")))
    );
    kunit_expect_eq!(
        t,
        walk_of(25, &outside, 1, 2),
        Err(WalkError::Corrupt(Corrupt::new("block extent out of range")))
    );
    // None of the refused walks claimed anything.
    for blk in [1, 2, 3, 4, 131] {
        kunit_expect!(t, matches!(claims.owner(blk), Some(Owner::Meta(_))));
    }
    kunit_expect_eq!(t, claims.owner(2047), None);
    kunit_expect_eq!(t, claims.owner(700), Some(Owner::Indirect { ino: 24, id: 0 }));
}

// ---------------------------------------------------------------------------------------------
// Directories.

/// Writes a directory entry at `off`.
fn put_dirent(buf: &mut [u8], off: usize, inode: u32, rec_len: u16, name: &[u8], ftype: u8) {
    put32(buf, off + dirent_off::INODE, inode);
    put16(buf, off + dirent_off::REC_LEN, rec_len);
    put8(buf, off + dirent_off::NAME_LEN, name.len() as u8);
    put8(buf, off + dirent_off::FILE_TYPE, ftype);
    put_bytes(buf, off + dirent_off::NAME, name);
}

/// A block with ".", "..", an unused entry, a 255-byte name and "last" covering the rest:
/// offsets 0, 12, 24 (unused), 40, 304.
fn good_dir(buf: &mut [u8; BLOCK_SIZE]) {
    buf.fill(0);
    put_dirent(buf, 0, 2, 12, b".", FT_DIR);
    put_dirent(buf, 12, 2, 12, b"..", FT_DIR);
    put_dirent(buf, 24, 0, 16, b"gone", FT_REG_FILE);
    put_dirent(buf, 40, 2048, 264, &[b'n'; 255], FT_REG_FILE);
    put_dirent(buf, 304, 12, (BLOCK_SIZE - 304) as u16, b"last", FT_SYMLINK);
}

/// Checks the directory block `buf` fails at `offset` with `what`, after `before` good entries.
fn dir_fails(
    t: &mut Test,
    sb: &Superblock,
    buf: &[u8],
    before: usize,
    offset: usize,
    what: &'static str,
) {
    let mut it = dir_entries(sb, buf);
    for _ in 0..before {
        kunit_expect!(t, matches!(it.next(), Some(Ok(_))));
    }
    kunit_expect_eq!(t, it.next(), Some(Err(Corrupt { what })));
    kunit_expect_eq!(t, it.offset(), offset);
    // And then the iterator ends.
    kunit_expect_eq!(t, it.next(), None);
    kunit_expect_eq!(t, it.next(), None);
}

/// A valid block with several entries, unused ones skipped.
fn dir_valid(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    let mut buf = [0u8; BLOCK_SIZE];
    good_dir(&mut buf);
    let mut it = dir_entries(&sb, &buf);
    let e = |inode, rec_len, name, file_type, offset| {
        Some(Ok(DirEntry {
            inode,
            rec_len,
            name,
            file_type,
            offset,
        }))
    };
    kunit_expect_eq!(t, it.next(), e(2, 12, &b"."[..], FT_DIR, 0));
    kunit_expect_eq!(t, it.next(), e(2, 12, &b".."[..], FT_DIR, 12));
    kunit_expect_eq!(
        t,
        it.next(),
        e(2048, 264, &[b'n'; 255][..], FT_REG_FILE, 40)
    );
    kunit_expect_eq!(t, it.next(), e(12, 3792, &b"last"[..], FT_SYMLINK, 304));
    kunit_expect_eq!(t, it.next(), None);
    kunit_expect_eq!(t, it.offset(), BLOCK_SIZE);
    kunit_expect_eq!(t, it.next(), None);

    // Without the filetype feature the type byte is not reported.
    if let Ok(old) = sb_with(|b| put32(b, sb_off::S_FEATURE_INCOMPAT, 0)) {
        let types_all_unknown = dir_entries(&old, &buf).all(|e| {
            matches!(
                e,
                Ok(DirEntry {
                    file_type: FT_UNKNOWN,
                    ..
                })
            )
        });
        kunit_expect!(t, types_all_unknown);
    }

    // An empty block: one unused entry covering it all.
    buf.fill(0);
    put_dirent(&mut buf, 0, 0, BLOCK_SIZE as u16, b"", 0);
    kunit_expect_eq!(t, dir_entries(&sb, &buf).next(), None);
    // One used entry covering it all.
    put_dirent(&mut buf, 0, 11, BLOCK_SIZE as u16, b"lost+found", FT_DIR);
    kunit_expect_eq!(t, dir_entries(&sb, &buf).count(), 1);
    // An unused entry may keep its old name (even an empty or odd one): it is not looked at.
    put_dirent(&mut buf, 0, 0, 12, b"a/", 0);
    put_dirent(&mut buf, 12, 5, (BLOCK_SIZE - 12) as u16, b"x", FT_REG_FILE);
    kunit_expect_eq!(
        t,
        dir_entries(&sb, &buf).next().map(|e| e.map(|e| e.offset)),
        Some(Ok(12))
    );
    // The highest inode number is fine.
    put_dirent(
        &mut buf,
        12,
        2048,
        (BLOCK_SIZE - 12) as u16,
        b"x",
        FT_REG_FILE,
    );
    kunit_expect_eq!(
        t,
        dir_entries(&sb, &buf).next().map(|e| e.map(|e| e.inode)),
        Some(Ok(2048))
    );
}

/// Each corruption of a directory block is reported at its entry, and ends the iteration.
fn dir_corrupt(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    let mut buf = [0u8; BLOCK_SIZE];
    let rest = |off: usize| (BLOCK_SIZE - off) as u16;

    good_dir(&mut buf);
    put16(&mut buf, 12 + dirent_off::REC_LEN, 8);
    dir_fails(t, &sb, &buf, 1, 12, "rec_len smaller than 12");
    // rec_len 0 must not loop forever.
    put16(&mut buf, 12 + dirent_off::REC_LEN, 0);
    dir_fails(t, &sb, &buf, 1, 12, "rec_len smaller than 12");
    put16(&mut buf, 12 + dirent_off::REC_LEN, 14);
    dir_fails(t, &sb, &buf, 1, 12, "rec_len not a multiple of 4");
    // The unused entry is still checked.
    good_dir(&mut buf);
    put16(&mut buf, 24 + dirent_off::REC_LEN, 18);
    dir_fails(t, &sb, &buf, 2, 24, "rec_len not a multiple of 4");
    good_dir(&mut buf);
    put8(&mut buf, 24 + dirent_off::NAME_LEN, 9);
    dir_fails(t, &sb, &buf, 2, 24, "rec_len too small for name_len");
    // 255-byte name needs 264 bytes.
    good_dir(&mut buf);
    put16(&mut buf, 40 + dirent_off::REC_LEN, 260);
    put_dirent(&mut buf, 300, 12, rest(300), b"last", FT_SYMLINK);
    dir_fails(t, &sb, &buf, 2, 40, "rec_len too small for name_len");
    // The last entry runs past the block end, by 4 bytes or by a lot.
    good_dir(&mut buf);
    put16(&mut buf, 304 + dirent_off::REC_LEN, rest(304) + 4);
    dir_fails(
        t,
        &sb,
        &buf,
        3,
        304,
        "directory entry crosses the block end",
    );
    put16(&mut buf, 304 + dirent_off::REC_LEN, 0xfffc);
    dir_fails(
        t,
        &sb,
        &buf,
        3,
        304,
        "directory entry crosses the block end",
    );
    // The last entry stops 8 bytes short of the end: too little for another header.
    good_dir(&mut buf);
    put16(&mut buf, 304 + dirent_off::REC_LEN, rest(304) - 8);
    dir_fails(
        t,
        &sb,
        &buf,
        4,
        BLOCK_SIZE - 8,
        "directory entry header crosses the block end",
    );
    // Inode number out of range.
    good_dir(&mut buf);
    put32(&mut buf, 12 + dirent_off::INODE, 2049);
    dir_fails(
        t,
        &sb,
        &buf,
        1,
        12,
        "inode number out of range in directory entry",
    );
    put32(&mut buf, 12 + dirent_off::INODE, u32::MAX);
    dir_fails(
        t,
        &sb,
        &buf,
        1,
        12,
        "inode number out of range in directory entry",
    );
    // Used entry with an empty name, a '/' or a NUL.
    good_dir(&mut buf);
    put8(&mut buf, 12 + dirent_off::NAME_LEN, 0);
    dir_fails(t, &sb, &buf, 1, 12, "empty name in directory entry");
    good_dir(&mut buf);
    put_dirent(&mut buf, 304, 12, rest(304), b"a/b", FT_REG_FILE);
    dir_fails(t, &sb, &buf, 3, 304, "'/' or NUL in directory entry name");
    put_dirent(&mut buf, 304, 12, rest(304), b"a\0b", FT_REG_FILE);
    dir_fails(t, &sb, &buf, 3, 304, "'/' or NUL in directory entry name");
    // A block of zeroes (rec_len 0 at once), and blocks of the wrong size.
    buf.fill(0);
    dir_fails(t, &sb, &buf, 0, 0, "rec_len smaller than 12");
    good_dir(&mut buf);
    dir_fails(
        t,
        &sb,
        &buf[..2048],
        0,
        0,
        "directory block is not 4096 bytes",
    );
    dir_fails(t, &sb, &[], 0, 0, "directory block is not 4096 bytes");
}

// ---------------------------------------------------------------------------------------------
// The real image.

/// The real superblock, group descriptor and root inode.
fn real_metadata(t: &mut Test) {
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    fill(&mut raw, REAL_SB);
    let sb = Superblock::parse(&raw);
    kunit_expect!(t, sb.is_ok(), "{:?}", sb);
    let Ok(sb) = sb else { return };
    kunit_expect_eq!(
        t,
        (sb.inodes_count, sb.blocks_count, sb.inodes_per_group),
        (2048, 2048, 2048)
    );
    kunit_expect_eq!(
        t,
        (
            sb.free_blocks_count,
            sb.free_inodes_count,
            sb.r_blocks_count
        ),
        (1836, 1987, 102)
    );
    kunit_expect_eq!(
        t,
        (sb.inode_size, sb.first_ino, sb.rev_level, sb.state),
        (256, 11, 1, STATE_VALID)
    );
    kunit_expect_eq!(
        t,
        (sb.feature_compat, sb.feature_incompat, sb.feature_ro_compat),
        (0x38, 0x2, 0x3)
    );
    kunit_expect_eq!(t, sb.uuid[..4], [0xb4, 0xc3, 0x78, 0xca]);
    kunit_expect_eq!(t, sb.volume_name(), b"");
    kunit_expect_eq!(t, sb.group_count(), 1);
    kunit_expect_eq!(t, sb.check_writable(), Ok(()));
    kunit_expect_eq!(t, sb.check_fits(8 << 20), Ok(()));

    let mut block = [0u8; BLOCK_SIZE];
    fill(&mut block, REAL_GDT);
    kunit_expect_eq!(t, sb.group_desc_location(0), Ok((1, 0)));
    let gd = GroupDesc::parse(&sb, 0, &block);
    let want = GroupDesc {
        block_bitmap: 2,
        inode_bitmap: 3,
        inode_table: 4,
        free_blocks_count: 1836,
        free_inodes_count: 1987,
        used_dirs_count: 4,
    };
    kunit_expect_eq!(t, gd, Ok(want));

    let Ok(loc) = sb.locate_inode(ROOT_INO) else {
        kunit_expect!(t, false);
        return;
    };
    kunit_expect_eq!(t, loc.block(&want), Ok(4));
    kunit_expect_eq!(t, loc.offset, 256);
    fill(&mut block, &[]);
    let mut raw = [0u8; 256];
    fill(&mut raw, REAL_INODE_ROOT);
    put_bytes(&mut block, 256, &raw);
    let root = Inode::from_table_block(&sb, &loc, &block);
    kunit_expect!(t, root.is_ok(), "{:?}", root);
    let Ok(root) = root else { return };
    kunit_expect_eq!(t, root.file_type(), Ok(FileType::Directory));
    kunit_expect_eq!(t, (root.mode, root.uid, root.gid), (0o040755, 0, 0));
    kunit_expect_eq!(t, (root.size, root.links_count, root.blocks), (4096, 4, 8));
    kunit_expect_eq!(t, root.block[0], 132);
    kunit_expect_eq!(t, root.block[1..], [0u32; 14]);
    kunit_expect_eq!(
        t,
        root.mtime,
        Timestamp {
            sec: 0x6b02_5d86,
            nsec: 0
        }
    );
    kunit_expect_eq!(t, root.extra_isize, 32);
}

/// The real inodes of each kind, and the path to the one block of the 5 GiB sparse file.
fn real_inodes(t: &mut Test) {
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    fill(&mut raw, REAL_SB);
    let Ok(sb) = Superblock::parse(&raw) else {
        kunit_expect!(t, false);
        return;
    };
    let mut raw = [0u8; 256];
    let mut inode = |segs| {
        fill(&mut raw, segs);
        Inode::parse(&sb, &raw)
    };
    let chr = inode(REAL_INODE_CHR);
    kunit_expect_eq!(
        t,
        chr.as_ref().map(|i| (i.file_type(), i.rdev())),
        Ok((Ok(FileType::CharDev), (4, 5)))
    );
    let blk = inode(REAL_INODE_BLK);
    kunit_expect_eq!(
        t,
        blk.as_ref().map(|i| (i.file_type(), i.rdev())),
        Ok((Ok(FileType::BlockDev), (300, 70000)))
    );
    let fast = inode(REAL_INODE_FAST);
    kunit_expect_eq!(
        t,
        fast.as_ref()
            .map(|i| i.fast_symlink_target() == Ok(&b"hello.txt"[..])),
        Ok(true)
    );
    let slow = inode(REAL_INODE_SLOW);
    kunit_expect_eq!(
        t,
        slow.as_ref()
            .map(|i| (i.is_fast_symlink(), i.size, i.block[0])),
        Ok((false, 100, 169))
    );

    let big = inode(REAL_INODE_BIG);
    kunit_expect!(t, big.is_ok(), "{:?}", big);
    let Ok(big) = big else { return };
    kunit_expect_eq!(t, big.file_type(), Ok(FileType::Regular));
    kunit_expect_eq!(t, big.size, (5 << 30) + 3);
    kunit_expect_eq!(t, big.blocks, 32);
    kunit_expect_eq!(t, big.block[..TIND_BLOCK], [0u32; 14]);
    // The block holding byte 5 GiB, found by the filesystem's own block-map walk over the
    // image's three indirect blocks.
    let path = BlockPath::new(5 << (30 - BLOCK_SHIFT));
    kunit_expect_eq!(t, path, Ok(BlockPath::Triple(0, 254, 1012)));
    let image = Mem(|blk: u32, buf: &mut [u8]| {
        let segs: &[(usize, &str)] = match blk {
            138 => REAL_TIND,
            139 => REAL_DIND,
            140 => REAL_IND,
            _ => return Err(EIO), // The walk reads no other block.
        };
        fill(buf, segs);
        Ok(())
    });
    let Some((claims, mut buf)) = walk_env(t, sb.blocks_count) else { return };
    let lblk: u64 = 5 << (30 - BLOCK_SHIFT);
    let mut walk_at = |lblk: u64, max: u32| walk(&image, &sb, &claims, 12, &big, lblk, max, &mut buf);
    kunit_expect_eq!(t, walk_at(lblk, 100), Ok((Some(141), 1)));
    // Again: the same answer (the claims are the file's already).
    kunit_expect_eq!(t, walk_at(lblk, 1), Ok((Some(141), 1)));
    // The holes before it, in the same indirect block, and in the direct blocks.
    kunit_expect_eq!(t, walk_at(lblk - 1012, 2000), Ok((None, 1012)));
    kunit_expect_eq!(t, walk_at(lblk - 1, 2000), Ok((None, 1)));
    kunit_expect_eq!(t, walk_at(0, 2000), Ok((None, 12)));
    kunit_expect_eq!(t, walk_at(5, 3), Ok((None, 3)));
    // Under a missing indirect block (entry 1 of the triple indirect block): a hole to the end
    // of the leaf table.
    kunit_expect_eq!(t, walk_at(lblk + (1 << 20), 5000), Ok((None, 12)));
    // Past the block map.
    kunit_expect_eq!(
        t,
        walk_at(MAX_MAPPED_BLOCKS, 1),
        Err(WalkError::Corrupt(Corrupt::new(
            "logical block past the triple indirect range"
        )))
    );
    // The indirect blocks on the way and the data block are now the file's.
    kunit_expect_eq!(t, claims.owner(138), Some(Owner::Indirect { ino: 12, id: 1026 }));
    kunit_expect_eq!(t, claims.owner(139), Some(Owner::Indirect { ino: 12, id: 1027 }));
    kunit_expect_eq!(t, claims.owner(140), Some(Owner::Indirect { ino: 12, id: 2051 + 254 }));
    kunit_expect_eq!(
        t,
        claims.owner(141),
        Some(Owner::Data {
            ino: 12,
            lblk: lblk as u32
        })
    );
    kunit_expect_eq!(t, claims.owner(142), None);
}

/// The real root directory block.
fn real_root_dir(t: &mut Test) {
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    fill(&mut raw, REAL_SB);
    let Ok(sb) = Superblock::parse(&raw) else {
        kunit_expect!(t, false);
        return;
    };
    let mut block = [0u8; BLOCK_SIZE];
    fill(&mut block, REAL_ROOT_DIR);
    let want: [(u32, &[u8], u8); 12] = [
        (2, b".", FT_DIR),
        (2, b"..", FT_DIR),
        (11, b"lost+found", FT_DIR),
        (12, b"big.sparse", FT_REG_FILE),
        (13, b"blk", FT_BLKDEV),
        (14, b"chr", FT_CHRDEV),
        (15, b"fast", FT_SYMLINK),
        (16, b"fifo", FT_FIFO),
        (17, b"hello.txt", FT_REG_FILE),
        (18, b"medium.bin", FT_REG_FILE),
        (19, b"slow", FT_SYMLINK),
        (20, b"sub", FT_DIR),
    ];
    let mut n = 0;
    let mut last_end = 0;
    for (e, w) in dir_entries(&sb, &block).zip(want.iter()) {
        kunit_expect!(t, e.is_ok(), "{:?}", e);
        let Ok(e) = e else { return };
        kunit_expect_eq!(t, (e.inode, e.name, e.file_type), *w);
        last_end = e.offset + usize::from(e.rec_len);
        n += 1;
    }
    kunit_expect_eq!(t, n, 12);
    kunit_expect_eq!(t, last_end, BLOCK_SIZE);
    kunit_expect_eq!(t, dir_entries(&sb, &block).count(), 12);
}

kernel::kunit_test_suite!(
    xipfs_ondisk,
    [
        sb_good,
        sb_refusals,
        sb_geometry_limits,
        sb_features,
        sb_check_fits,
        group_desc,
        inode_location,
        inode_types,
        inode_fields,
        inode_times,
        inode_symlinks,
        inode_rdev,
        block_paths,
        indirect_entries,
        contiguous_runs,
        indirect_ids,
        claim_map,
        group_claims,
        walk_cross_links,
        dir_valid,
        dir_corrupt,
        real_metadata,
        real_inodes,
        real_root_dir,
    ]
);
