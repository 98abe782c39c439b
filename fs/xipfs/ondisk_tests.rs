// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `xipfs_ondisk`: the on-disk format parsers and writers on crafted buffers and on
//! bytes of a real `mke2fs` image (and of an extended attribute block e2fsprogs wrote); the
//! filesystem's block-map walk (`blockmap::walk`) and claim map (`claims`) on in-memory images,
//! with cross-linked block maps. Each case keeps at most two 4096-byte blocks on the stack (the
//! walk's buffer, and the extended attribute tests' other blocks, are on the heap).

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
    fn read_at(&self, blk: u32, off: u32, buf: &mut [u8]) -> Result {
        let mut block = KVec::from_elem(0u8, BLOCK_SIZE, GFP_KERNEL)?;
        (self.0)(blk, &mut block)?;
        let off = off as usize;
        buf.copy_from_slice(block.get(off..off + buf.len()).ok_or(EIO)?);
        Ok(())
    }
}

/// A claim map of `blocks` blocks for [`walk`].
fn walk_env(t: &mut Test, blocks: u32) -> Option<ClaimMap> {
    let claims = ClaimMap::new(blocks);
    kunit_expect!(t, claims.is_ok());
    claims.ok()
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
    // An extended attribute block: any number of claims as one (inodes share it), none as
    // a file's block; stored and read back as itself; released like the others.
    if let Ok(x) = ClaimMap::new(2) {
        kunit_expect_eq!(t, x.claim(0, Owner::Xattr), Ok(()));
        kunit_expect_eq!(t, x.claim(0, Owner::Xattr), Ok(()));
        kunit_expect_eq!(t, x.owner(0), Some(Owner::Xattr));
        kunit_expect_eq!(t, x.claim(0, data(1, 0)).map_err(|c| c.owner), Err(Some(Owner::Xattr)));
        kunit_expect_eq!(t, x.claim(1, Owner::Meta(Meta::InodeTable)), Ok(()));
        kunit_expect_eq!(
            t,
            x.claim(1, Owner::Xattr).map_err(|c| c.owner),
            Err(Some(Owner::Meta(Meta::InodeTable)))
        );
        kunit_expect_eq!(t, x.release(0, Owner::Xattr), Ok(()));
        kunit_expect_eq!(t, x.owner(0), None);
        kunit_expect_eq!(t, x.claim(0, data(1, 0)), Ok(()));
    } else {
        kunit_expect!(t, false);
    }
    expect_text(t, Owner::Xattr.describe(5, 32768), "an extended attribute block");
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

    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
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
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
    kunit_expect_eq!(
        t,
        claim_group_metadata(&sb, &claims, 0, &gd(1, 3, 4)),
        Err(GroupError::Claimed(Conflict {
            blk: 1,
            wanted: Owner::Meta(Meta::BlockBitmap),
            owner: meta(Meta::Descriptors)
        }))
    );
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
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
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
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
/// The walk reads a leaf table in pieces: runs and holes that cross a piece's end go on into
/// the next piece, and end where the table says, also at a piece's end.
fn walk_leaf_pieces(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    // Indirect block 300 (file blocks 12 to 1035): entries 0..40 are blocks 1000..1040 (a
    // run over the first piece's end), 40..70 holes, 100..132 blocks 1100..1132 then 132 a
    // hole (a run ending with a piece), 200..264 blocks 1200..1264 with 232 out of line
    // (1500: the next piece does not go on), and 1000..1024 blocks 1700..1724 (the table's
    // end).
    let image = Mem(|blk: u32, buf: &mut [u8]| {
        buf.fill(0);
        if blk != 300 {
            return Err(EIO);
        }
        for i in 0..40 {
            put32(buf, i * 4, 1000 + i as u32);
        }
        for i in 100..132 {
            put32(buf, i * 4, 1000 + i as u32);
        }
        for i in 200..264 {
            put32(buf, i * 4, 1000 + i as u32);
        }
        put32(buf, 232 * 4, 1500);
        for i in 1000..1024 {
            put32(buf, i * 4, 700 + i as u32);
        }
        Ok(())
    });
    let Ok(file) = inode_with(&sb, 0o100644, 1100 * BLOCK_SIZE as u64, |b| {
        put32(b, I_BLOCK + 12 * 4, 300)
    }) else {
        kunit_expect!(t, false, "test inode refused");
        return;
    };
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
    let at = |lblk: u64, max: u32| walk(&image, &sb, &claims, 12, &file, 12 + lblk, max);
    kunit_expect_eq!(t, at(0, 1000), Ok((Some(1000), 40)));
    kunit_expect_eq!(t, at(5, 1000), Ok((Some(1005), 35)));
    kunit_expect_eq!(t, at(5, 30), Ok((Some(1005), 30)));
    kunit_expect_eq!(t, at(40, 1000), Ok((None, 60)));
    kunit_expect_eq!(t, at(100, 1000), Ok((Some(1100), 32)));
    kunit_expect_eq!(t, at(132, 1000), Ok((None, 68)));
    kunit_expect_eq!(t, at(200, 1000), Ok((Some(1200), 32)));
    kunit_expect_eq!(t, at(232, 1000), Ok((Some(1500), 1)));
    kunit_expect_eq!(t, at(233, 1000), Ok((Some(1233), 31)));
    kunit_expect_eq!(t, at(1000, 1000), Ok((Some(1700), 24)));
    kunit_expect_eq!(t, at(1023, 1000), Ok((Some(1723), 1)));
    kunit_expect_eq!(t, at(1020, 1), Ok((Some(1720), 1)));
}

fn walk_cross_links(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
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
    let walk_of = |ino: u32, inode: &Result<Inode, Corrupt>, lblk: u64, max: u32| match inode {
        Ok(i) => walk(&image, &sb, &claims, ino, i, lblk, max),
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
    // The walk for a search by name leaves the bytes of names alone (no name being looked up
    // holds either), and checks everything else all the same.
    let mut by_name = dir_entries_by_name(&sb, &buf);
    let last = by_name.nth(3);
    kunit_expect!(t, matches!(last, Some(Ok(ref e)) if e.name == b"a\0b" && e.offset == 304));
    kunit_expect_eq!(t, by_name.next(), None);
    put8(&mut buf, 304 + dirent_off::NAME_LEN, 0);
    let mut it = dir_entries_by_name(&sb, &buf);
    kunit_expect_eq!(t, it.nth(3), Some(Err(Corrupt { what: "empty name in directory entry" })));
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
    let Some(claims) = walk_env(t, sb.blocks_count) else { return };
    let lblk: u64 = 5 << (30 - BLOCK_SHIFT);
    let walk_at = |lblk: u64, max: u32| walk(&image, &sb, &claims, 12, &big, lblk, max);
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

// ---------------------------------------------------------------------------------------------
// Writing.

/// A digest of `bytes` (FNV-1a), to check that a block did not change without a copy of it.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Expects `after` to differ from `before` only inside the (offset, length) `ranges`.
fn only_changed(t: &mut Test, before: &[u8], after: &[u8], ranges: &[(usize, usize)]) {
    kunit_expect_eq!(t, before.len(), after.len());
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        if b != a {
            let allowed = ranges.iter().any(|&(off, len)| off <= i && i < off + len);
            kunit_expect!(t, allowed, "byte {} changed: {:#x} -> {:#x}", i, b, a);
        }
    }
}

/// `put_le16`/`put_le32` write what `le16`/`le32` read, and refuse what does not fit.
fn write_le(t: &mut Test) {
    let mut buf = [0u8; 8];
    kunit_expect_eq!(t, put_le16(&mut buf, 0, 0x1234), Ok(()));
    kunit_expect_eq!(t, put_le32(&mut buf, 4, 0xdead_beef), Ok(()));
    kunit_expect_eq!(t, buf, [0x34, 0x12, 0, 0, 0xef, 0xbe, 0xad, 0xde]);
    kunit_expect_eq!(t, le16(&buf, 0), Ok(0x1234));
    kunit_expect_eq!(t, le32(&buf, 4), Ok(0xdead_beef));
    kunit_expect_eq!(t, put_le16(&mut buf, 6, 0xffff), Ok(()));
    kunit_expect_eq!(t, le16(&buf, 6), Ok(0xffff));
    let before = buf;
    let truncated = Err(Corrupt {
        what: "structure truncated",
    });
    kunit_expect_eq!(t, put_le16(&mut buf, 7, 1), truncated);
    kunit_expect_eq!(t, put_le32(&mut buf, 5, 1), truncated);
    kunit_expect_eq!(t, put_le32(&mut buf, 8, 1), truncated);
    kunit_expect_eq!(t, put_le32(&mut [], 0, 1), truncated);
    kunit_expect!(t, put_le16(&mut buf, usize::MAX, 1).is_err());
    kunit_expect!(t, put_le32(&mut buf, usize::MAX - 2, 1).is_err());
    kunit_expect_eq!(t, buf, before);
}

/// The superblock fields a read-write mount changes, and nothing else, are written back.
fn write_sb_dynamic(t: &mut Test) {
    use sb_off::*;
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    good_sb(&mut raw);
    put16(&mut raw, S_MNT_COUNT, 7);
    put16(&mut raw, S_MAX_MNT_COUNT, 0xffff);
    put32(&mut raw, S_LASTCHECK, 0x6000_0001);
    put32(&mut raw, S_CHECKINTERVAL, 86400);
    put32(&mut raw, S_MTIME, 11);
    put32(&mut raw, S_WTIME, 12);
    // Bytes no parser reads, which must survive.
    put_bytes(&mut raw, S_LAST_MOUNTED, b"/mnt");
    put32(&mut raw, S_RESERVED + 100, 0x5a5a_5a5a);
    let sb = Superblock::parse(&raw);
    kunit_expect!(t, sb.is_ok(), "{:?}", sb);
    let Ok(sb) = sb else { return };
    kunit_expect_eq!(t, (sb.mnt_count, sb.max_mnt_count), (7, -1));
    kunit_expect_eq!(t, (sb.lastcheck, sb.checkinterval), (0x6000_0001, 86400));
    kunit_expect_eq!(t, (sb.mtime, sb.wtime), (11, 12));

    // Unchanged: the bytes stay.
    let mut out = raw;
    kunit_expect_eq!(t, sb.encode_dynamic(&mut out), Ok(()));
    kunit_expect_eq!(t, out, raw);

    // Changed: exactly the dynamic fields are written.
    let mut w = sb.clone();
    w.free_blocks_count = 17;
    w.free_inodes_count = 0x0102_0304;
    w.mtime = 0xa0b0_c0d0;
    w.wtime = u32::MAX;
    w.mnt_count = 0xfffe;
    w.state = 0;
    w.feature_compat |= COMPAT_DIR_PREALLOC;
    w.feature_ro_compat = RO_COMPAT_LARGE_FILE | 0x8000_0000;
    w.feature_incompat = 0;
    // Not dynamic: never written.
    w.r_blocks_count = 1;
    w.max_mnt_count = 3;
    w.lastcheck = 4;
    w.checkinterval = 5;
    w.errors = 3;
    kunit_expect_eq!(t, w.encode_dynamic(&mut out), Ok(()));
    only_changed(
        t,
        &raw,
        &out,
        &[
            (S_FREE_BLOCKS_COUNT, 8),
            (S_MTIME, 10),
            (S_STATE, 2),
            (S_FEATURE_COMPAT, 12),
        ],
    );
    let back = Superblock::parse(&out);
    let mut want = w.clone();
    want.r_blocks_count = sb.r_blocks_count;
    want.max_mnt_count = sb.max_mnt_count;
    want.lastcheck = sb.lastcheck;
    want.checkinterval = sb.checkinterval;
    want.errors = sb.errors;
    kunit_expect_eq!(t, back, Ok(want));
    // And back to the original bytes.
    kunit_expect_eq!(t, sb.encode_dynamic(&mut out), Ok(()));
    kunit_expect_eq!(t, out, raw);

    // The real superblock rewrites to itself.
    let mut real = [0u8; SUPERBLOCK_SIZE];
    fill(&mut real, REAL_SB);
    let mut out = real;
    let r = Superblock::parse(&real).map(|sb| sb.encode_dynamic(&mut out));
    kunit_expect_eq!(t, r, Ok(Ok(())));
    kunit_expect_eq!(t, out, real);

    // Refusals, with the bytes unchanged.
    let mut out = raw;
    kunit_expect!(
        t,
        sb.encode_dynamic(&mut out[..SUPERBLOCK_SIZE - 1]).is_err()
    );
    let mut bad = w.clone();
    bad.feature_incompat = INCOMPAT_META_BG;
    kunit_expect!(t, bad.encode_dynamic(&mut out).is_err());
    put16(&mut out, S_MAGIC, 0);
    let no_magic = out;
    kunit_expect!(t, w.encode_dynamic(&mut out).is_err());
    kunit_expect_eq!(t, out, no_magic);
}

/// `encode_dynamic` on revision 0 superblocks and on longer slices.
fn write_sb_dynamic_edges(t: &mut Test) {
    use sb_off::*;
    let mut out = [0u8; SUPERBLOCK_SIZE];
    // Revision 0 has no feature fields: zero features only, and they are not written.
    let old = sb_with(|b| {
        put32(b, S_REV_LEVEL, GOOD_OLD_REV);
        put32(b, S_FEATURE_COMPAT, 0);
        put32(b, S_FEATURE_INCOMPAT, 0);
        put32(b, S_FEATURE_RO_COMPAT, 0);
    });
    kunit_expect!(t, old.is_ok());
    let Ok(mut old) = old else { return };
    good_sb(&mut out);
    put32(&mut out, S_REV_LEVEL, GOOD_OLD_REV);
    put32(&mut out, S_FEATURE_COMPAT, 0);
    put32(&mut out, S_FEATURE_INCOMPAT, 0);
    put32(&mut out, S_FEATURE_RO_COMPAT, 0);
    old.free_blocks_count = 5;
    kunit_expect_eq!(t, old.encode_dynamic(&mut out), Ok(()));
    kunit_expect_eq!(
        t,
        Superblock::parse(&out).map(|s| s.free_blocks_count),
        Ok(5)
    );
    old.feature_ro_compat = RO_COMPAT_LARGE_FILE;
    let before = out;
    kunit_expect_eq!(
        t,
        old.encode_dynamic(&mut out),
        Err(Corrupt {
            what: "feature flags on a revision 0 superblock"
        })
    );
    kunit_expect_eq!(t, out, before);
    // A longer slice (the whole first block from byte 1024) is fine; bytes past it stay.
    let mut block = [0xeeu8; BLOCK_SIZE];
    good_sb(&mut out);
    put_bytes(&mut block, 0, &out);
    let Some(mut w) = test_sb(t, false) else {
        return;
    };
    w.free_inodes_count = 0x0102_0304;
    kunit_expect_eq!(t, w.encode_dynamic(&mut block), Ok(()));
    kunit_expect!(t, block[SUPERBLOCK_SIZE..].iter().all(|&b| b == 0xee));
    kunit_expect_eq!(
        t,
        Superblock::parse(&block).map(|s| s.free_inodes_count),
        Ok(0x0102_0304)
    );
}

/// A group descriptor's counters are written in place, the rest of its bytes untouched.
fn write_group_desc(t: &mut Test) {
    let Some(sb) = test_sb(t, true) else { return };
    let mut gdt = [0u8; BLOCK_SIZE];
    put_gd(&mut gdt, 0, 3, 4, 5);
    put_gd(&mut gdt, 1, 32768 + 1, 32768 + 2, 65536 - 512);
    put_gd(&mut gdt, 2, 65536, 65537, 70000 - 512);
    put32(&mut gdt, 32 + gd_off::BG_RESERVED, 0x1234_5678);
    put16(&mut gdt, 32 + gd_off::BG_PAD, 0x4321);
    let before = gdt;
    let gd = GroupDesc::parse(&sb, 1, &gdt);
    kunit_expect!(t, gd.is_ok());
    let Ok(mut gd) = gd else { return };
    kunit_expect_eq!(t, gd.encode_counts(&mut gdt[32..64]), Ok(()));
    kunit_expect!(t, gdt == before);
    gd.free_blocks_count = 0xfffe;
    gd.free_inodes_count = 0;
    gd.used_dirs_count = 77;
    // Not counters: not written.
    let mut moved = gd;
    moved.inode_table = 99;
    kunit_expect_eq!(t, moved.encode_counts(&mut gdt[32..]), Ok(()));
    only_changed(t, &before, &gdt, &[(32 + gd_off::BG_FREE_BLOCKS_COUNT, 6)]);
    kunit_expect_eq!(t, GroupDesc::parse(&sb, 1, &gdt), Ok(gd));
    kunit_expect_eq!(
        t,
        GroupDesc::parse(&sb, 0, &gdt).map(|g| g.used_dirs_count),
        Ok(3)
    );
    let now = digest(&gdt);
    kunit_expect!(t, gd.encode_counts(&mut gdt[32..63]).is_err());
    kunit_expect_eq!(t, digest(&gdt), now);
}

/// Timestamps encode as ext4 does, inverse to `decode` in range, clamped outside.
fn write_timestamps(t: &mut Test) {
    let ts = |sec, nsec| Timestamp { sec, nsec };
    let cases: [(Timestamp, (u32, u32)); 9] = [
        (ts(0, 0), (0, 0)),
        (ts(1000, 1), (1000, 1 << 2)),
        (ts(-1, 999_999_999), (u32::MAX, 999_999_999 << 2)),
        (ts(-(1 << 31), 0), (0x8000_0000, 0)),
        (ts((1 << 31) - 1, 0), (0x7fff_ffff, 0)),
        (ts(1 << 31, 5), (0x8000_0000, 1 | 5 << 2)),
        (ts(1 << 32, 0), (0, 1)),
        (ts((1 << 32) + 7, 0), (7, 1)),
        (ts((1 << 34) - (1 << 31) - 1, 3), (0x7fff_ffff, 3 | 3 << 2)),
    ];
    for (time, enc) in cases {
        kunit_expect_eq!(t, time.encode(), enc);
        kunit_expect_eq!(t, Timestamp::decode(enc.0, Some(enc.1)), time);
    }
    kunit_expect_eq!(t, Timestamp::MIN_SEC, -(1 << 31));
    kunit_expect_eq!(t, Timestamp::MAX_SEC, (1 << 34) - (1 << 31) - 1);
    // Out of range: clamped.
    let max = ts(Timestamp::MAX_SEC, 0).encode();
    let min = ts(Timestamp::MIN_SEC, 0).encode();
    kunit_expect_eq!(t, ts(Timestamp::MAX_SEC + 1, 0).encode(), max);
    kunit_expect_eq!(t, ts(i64::MAX, 0).encode(), max);
    kunit_expect_eq!(t, ts(Timestamp::MIN_SEC - 1, 0).encode(), min);
    kunit_expect_eq!(t, ts(i64::MIN, 0).encode(), min);
    kunit_expect_eq!(t, ts(0, 1_000_000_000).encode(), (0, 999_999_999 << 2));
    kunit_expect_eq!(t, ts(0, u32::MAX).encode(), (0, 999_999_999 << 2));
    // Without the extra field: signed 32-bit seconds.
    kunit_expect_eq!(t, ts(-5, 7).encode_sec32(), -5i32 as u32);
    kunit_expect_eq!(t, ts(1 << 31, 0).encode_sec32(), i32::MAX as u32);
    kunit_expect_eq!(t, ts(i64::MIN, 0).encode_sec32(), i32::MIN as u32);
    kunit_expect_eq!(
        t,
        Timestamp::decode(ts(-(1 << 40), 0).encode_sec32(), None),
        ts(i64::from(i32::MIN), 0)
    );
}

/// The superblock of [`good_sb`] with 128-byte inodes.
fn small_inode_sb(t: &mut Test) -> Option<Superblock> {
    let sb = sb_with(|b| put16(b, sb_off::S_INODE_SIZE, 128));
    kunit_expect!(t, sb.is_ok());
    sb.ok()
}

/// A new inode, written into a used slot: the slot is zeroed, and it parses back.
fn write_inode_new(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let now = Timestamp {
        sec: (1 << 32) + 9,
        nsec: 123,
    };
    let i = Inode::new(0o100640, 0x1_0002, 0x3_0004, now, 0xabcd, &sb);
    kunit_expect_eq!(t, (i.mode, i.uid, i.gid), (0o100640, 0x1_0002, 0x3_0004));
    kunit_expect_eq!(t, (i.size, i.links_count, i.blocks, i.flags), (0, 1, 0, 0));
    kunit_expect_eq!(t, (i.atime, i.ctime, i.mtime), (now, now, now));
    kunit_expect_eq!(
        t,
        (i.dtime, i.generation, i.file_acl, i.dir_acl),
        (0, 0xabcd, 0, 0)
    );
    kunit_expect_eq!(t, i.block, [0u32; N_BLOCKS]);
    kunit_expect_eq!(t, i.extra_isize, NEW_EXTRA_ISIZE);
    kunit_expect!(t, i.has_nsec());
    kunit_expect!(t, !i.is_deleted());
    kunit_expect_eq!(t, i.check(&sb), Ok(()));

    let mut slot = [0xa5u8; 256];
    kunit_expect_eq!(t, i.encode_new(&sb, &mut slot), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &slot), Ok(i.clone()));
    kunit_expect_eq!(t, le16(&slot, I_EXTRA_ISIZE), Ok(32));
    kunit_expect_eq!(t, le32(&slot, I_ATIME_EXTRA), Ok(1 | 123 << 2));
    kunit_expect_eq!(t, le16(&slot, L_I_UID_HIGH), Ok(1));
    for off in [I_OSD1, I_FADDR, L_I_FRAG, I_CHECKSUM_HI, 144, 200, 252] {
        kunit_expect!(t, slot.get(off) == Some(&0), "byte {}", off);
    }
    // Encoded over a used slot without zeroing, the unmodelled bytes stay.
    let mut used = [0xa5u8; 256];
    kunit_expect_eq!(t, i.encode(&sb, &mut used), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &used), Ok(i.clone()));
    kunit_expect_eq!(t, used.get(I_FADDR), Some(&0xa5));
    kunit_expect_eq!(t, used.get(144), Some(&0xa5));

    // A new directory needs its first block and size before it is valid.
    let mut d = Inode::new(0o040755, 0, 0, now, 1, &sb);
    kunit_expect!(t, d.check(&sb).is_err());
    d.size = BLOCK_SIZE as u64;
    d.block[0] = 500;
    d.blocks = 8;
    d.links_count = 2;
    kunit_expect_eq!(t, d.check(&sb), Ok(()));
    kunit_expect_eq!(t, d.encode_new(&sb, &mut slot), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &slot), Ok(d));

    // 128-byte inodes: no extra fields; times are clamped to 32 bits, nanoseconds lost.
    let Some(small) = small_inode_sb(t) else {
        return;
    };
    let i = Inode::new(0o100644, 5, 6, now, 7, &small);
    kunit_expect_eq!(t, i.extra_isize, 0);
    kunit_expect!(t, !i.has_nsec());
    let mut slot = [0xa5u8; 128];
    kunit_expect_eq!(t, i.encode_new(&small, &mut slot), Ok(()));
    let back = Inode::parse(&small, &slot);
    let clamped = Timestamp {
        sec: i64::from(i32::MAX),
        nsec: 0,
    };
    kunit_expect_eq!(t, back.as_ref().map(|b| b.mtime), Ok(clamped));
    kunit_expect_eq!(t, back.map(|b| (b.uid, b.gid, b.generation)), Ok((5, 6, 7)));
    // A short slot is refused and not written.
    let mut short = [0x11u8; 127];
    kunit_expect!(t, i.encode_new(&small, &mut short).is_err());
    kunit_expect!(t, i.encode(&small, &mut short).is_err());
    kunit_expect!(t, short.iter().all(|&b| b == 0x11));
}

/// `encode(parse(raw)) == raw` for real and crafted inodes, and `parse(encode(x)) == x` after
/// each field changes; what the format cannot hold is refused.
fn write_inode_round_trip(t: &mut Test) {
    use inode_off::*;
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    fill(&mut raw, REAL_SB);
    let Ok(real_sb) = Superblock::parse(&raw) else {
        kunit_expect!(t, false);
        return;
    };
    let mut raw = [0u8; 256];
    let mut out: [u8; 256];
    for segs in [
        REAL_INODE_ROOT,
        REAL_INODE_BIG,
        REAL_INODE_BLK,
        REAL_INODE_CHR,
        REAL_INODE_FAST,
        REAL_INODE_SLOW,
    ] {
        fill(&mut raw, segs);
        let i = Inode::parse(&real_sb, &raw);
        kunit_expect!(t, i.is_ok(), "{:?}", i);
        let Ok(i) = i else { continue };
        out = raw;
        kunit_expect_eq!(t, i.encode(&real_sb, &mut out), Ok(()));
        kunit_expect_eq!(t, out, raw);
        // Onto other bytes, then parsed: the same inode.
        out = [0x3c; 256];
        put16(&mut out, I_EXTRA_ISIZE, 0);
        kunit_expect_eq!(t, i.encode(&real_sb, &mut out), Ok(()));
        kunit_expect_eq!(t, Inode::parse(&real_sb, &out), Ok(i));
    }

    // Every modelled field changed at once; every unmodelled byte survives.
    let Some(sb) = test_sb(t, false) else { return };
    inode_buf(&mut raw, 0o100600, 0x1_2345_6789);
    for off in [
        I_OSD1,
        I_FADDR,
        L_I_FRAG,
        L_I_FSIZE,
        I_PAD1,
        L_I_RESERVED2,
        I_CHECKSUM_HI,
    ] {
        put16(&mut raw, off, 0x7e7e);
    }
    for off in (144..256).step_by(4) {
        put32(&mut raw, off, 0xc0de_0000 | off as u32);
    }
    let i = Inode::parse(&sb, &raw);
    kunit_expect!(t, i.is_ok(), "{:?}", i);
    let Ok(i) = i else { return };
    out = raw;
    kunit_expect_eq!(t, i.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, out, raw);
    let mut w = i.clone();
    w.mode = 0o104755;
    w.uid = 0xffff_0001;
    w.gid = 0x0001_ffff;
    w.size = 0x7fff_ffff_0000_0001;
    w.atime = Timestamp {
        sec: -7,
        nsec: 999_999_999,
    };
    w.ctime = Timestamp {
        sec: Timestamp::MAX_SEC,
        nsec: 0,
    };
    w.mtime = Timestamp {
        sec: 1 << 33,
        nsec: 1,
    };
    w.dtime = 3;
    w.links_count = 65000;
    w.blocks = 0x1234_5678;
    w.flags = FL_APPEND | FL_SYNC;
    for (n, b) in w.block.iter_mut().enumerate() {
        *b = 0x100 + n as u32;
    }
    w.generation = 0x9999;
    w.file_acl = 2047;
    w.extra_isize = 28;
    kunit_expect_eq!(t, w.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &out), Ok(w.clone()));
    only_changed(
        t,
        &raw,
        &out,
        &[(0, 36), (40, 72), (120, 4), (128, 2), (132, 12)],
    );
    kunit_expect_eq!(t, le32(&out, I_DIR_ACL), Ok(0x7fff_ffff));

    // Non-regular inodes keep i_dir_acl, and their size is 32 bits.
    let mut d = w.clone();
    d.mode = 0o040700;
    d.size = 0xffff_f000;
    d.dir_acl = 0x55;
    kunit_expect_eq!(t, d.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &out), Ok(d.clone()));
    kunit_expect_eq!(t, le32(&out, I_DIR_ACL), Ok(0x55));

    // Only the *_extra fields i_extra_isize covers are written: 8 covers i_ctime_extra.
    inode_buf(&mut raw, 0o100644, 0);
    put16(&mut raw, I_EXTRA_ISIZE, 8);
    put32(&mut raw, I_MTIME_EXTRA, 0x0bad_0bad);
    let Ok(mut e) = Inode::parse(&sb, &raw) else {
        kunit_expect!(t, false);
        return;
    };
    kunit_expect!(t, !e.has_nsec());
    out = raw;
    kunit_expect_eq!(t, e.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, out, raw);
    e.ctime = Timestamp {
        sec: 1 << 32,
        nsec: 4,
    };
    e.mtime = Timestamp {
        sec: 1 << 32,
        nsec: 4,
    };
    kunit_expect_eq!(t, e.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, le32(&out, I_CTIME_EXTRA), Ok(1 | 4 << 2));
    kunit_expect_eq!(t, le32(&out, I_MTIME_EXTRA), Ok(0x0bad_0bad));
    kunit_expect_eq!(t, le32(&out, I_MTIME), Ok(i32::MAX as u32));
    // Nanoseconds out of range read as 999_999_999: their bytes stay while the time does.
    inode_buf(&mut raw, 0o100644, 0);
    put32(&mut raw, I_ATIME_EXTRA, u32::MAX);
    let Ok(mut e) = Inode::parse(&sb, &raw) else {
        kunit_expect!(t, false);
        return;
    };
    out = raw;
    kunit_expect_eq!(t, e.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, out, raw);
    e.atime.nsec = 5;
    kunit_expect_eq!(t, e.encode(&sb, &mut out), Ok(()));
    kunit_expect_eq!(t, le32(&out, I_ATIME_EXTRA), Ok(3 | 5 << 2));

    // What the format cannot hold, refused with the bytes unchanged.
    out = raw;
    let refuse = |t: &mut Test, x: &Inode, sb: &Superblock, out: &mut [u8; 256], what| {
        let before = *out;
        kunit_expect_eq!(t, x.encode(sb, out), Err(Corrupt { what }));
        kunit_expect_eq!(t, x.encode_new(sb, out), Err(Corrupt { what }));
        kunit_expect_eq!(t, *out, before);
    };
    let mut x = d.clone();
    x.size = 1 << 32;
    refuse(
        t,
        &x,
        &sb,
        &mut out,
        "size of 4 GiB or more on a non-regular inode",
    );
    let mut x = w.clone();
    x.dir_acl = 1;
    refuse(t, &x, &sb, &mut out, "i_dir_acl set on a regular file");
    for extra in [2, 130, 132] {
        let mut x = w.clone();
        x.extra_isize = extra;
        refuse(t, &x, &sb, &mut out, "bad i_extra_isize");
    }
    let mut x = w.clone();
    x.extra_isize = 128;
    kunit_expect_eq!(t, x.encode(&sb, &mut out), Ok(()));
    let Some(small) = small_inode_sb(t) else {
        return;
    };
    x.extra_isize = 4;
    refuse(t, &x, &small, &mut out, "bad i_extra_isize");
    kunit_expect!(t, w.encode(&sb, &mut out[..255]).is_err());
}

/// Fast symlinks, device numbers and deletion, written and read back.
fn write_inode_kinds(t: &mut Test) {
    use inode_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let now = Timestamp { sec: 100, nsec: 0 };
    let mut raw = [0xffu8; 256];

    // Fast symlinks: 1 to 59 bytes.
    let mut l = Inode::new(0o120777, 0, 0, now, 1, &sb);
    kunit_expect!(t, l.is_fast_symlink());
    let target = b"a/fairly/long/target/of/fifty-nine/bytes/for/the/i_block/xy";
    kunit_expect_eq!(t, target.len(), 59);
    kunit_expect_eq!(t, l.set_fast_symlink(target), Ok(()));
    kunit_expect_eq!(t, l.size, 59);
    kunit_expect!(t, l.is_fast_symlink());
    kunit_expect_eq!(t, l.fast_symlink_target(), Ok(&target[..]));
    kunit_expect_eq!(t, l.block[0], u32::from_le_bytes([b'a', b'/', b'f', b'a']));
    kunit_expect_eq!(
        t,
        l.block[TIND_BLOCK],
        u32::from_le_bytes([b'/', b'x', b'y', 0])
    );
    kunit_expect_eq!(t, l.encode_new(&sb, &mut raw), Ok(()));
    let back = Inode::parse(&sb, &raw);
    kunit_expect_eq!(
        t,
        back.as_ref()
            .map(|b| b.fast_symlink_target() == Ok(&target[..])),
        Ok(true)
    );
    kunit_expect_eq!(t, back, Ok(l.clone()));
    // A shorter target replaces it, NUL-padded.
    kunit_expect_eq!(t, l.set_fast_symlink(b"x"), Ok(()));
    kunit_expect_eq!(t, l.fast_symlink_target(), Ok(&b"x"[..]));
    kunit_expect_eq!(t, l.block[1..], [0u32; N_BLOCKS - 1]);
    kunit_expect_eq!(t, l.encode(&sb, &mut raw), Ok(()));
    kunit_expect_eq!(t, raw.get(I_BLOCK..I_BLOCK + 3), Some(&b"x\0\0"[..]));
    // Refused, with the inode unchanged.
    let keep = l.clone();
    let bad_len = Err(Corrupt {
        what: "bad fast symlink length",
    });
    kunit_expect_eq!(t, l.set_fast_symlink(&[b'y'; 60]), bad_len);
    kunit_expect_eq!(t, l.set_fast_symlink(b""), bad_len);
    kunit_expect!(t, l.set_fast_symlink(b"a\0b").is_err());
    kunit_expect_eq!(t, l, keep);
    kunit_expect_eq!(t, l.fast_symlink_target(), Ok(&b"x"[..]));
    let mut slow = l.clone();
    slow.blocks = 8;
    kunit_expect!(t, slow.set_fast_symlink(b"abc").is_err());
    let mut reg = Inode::new(0o100644, 0, 0, now, 1, &sb);
    kunit_expect!(t, reg.set_fast_symlink(b"abc").is_err());
    kunit_expect_eq!(t, reg.size, 0);
    // A target changed through `block` is refused, not served stale; encode writes `block`.
    l.block[0] = u32::from_le_bytes(*b"zzzz");
    l.size = 4;
    kunit_expect!(t, l.fast_symlink_target().is_err());
    kunit_expect_eq!(t, l.encode(&sb, &mut raw), Ok(()));
    kunit_expect_eq!(t, raw.get(I_BLOCK..I_BLOCK + 4), Some(&b"zzzz"[..]));
    kunit_expect_eq!(
        t,
        Inode::parse(&sb, &raw).map(|b| b.fast_symlink_target() == Ok(&b"zzzz"[..])),
        Ok(true)
    );
    // With an extended attribute block (8 sectors), still fast.
    let mut ea = Inode::new(0o120777, 0, 0, now, 1, &sb);
    ea.file_acl = 2000;
    ea.blocks = 8;
    kunit_expect_eq!(t, ea.set_fast_symlink(b"t"), Ok(()));
    kunit_expect!(t, ea.is_fast_symlink());

    // Device numbers: both encodings.
    let mut dev = Inode::new(0o020600, 0, 0, now, 1, &sb);
    for (major, minor, b0, b1) in [
        (4, 5, 0x0405, 0),
        (0, 0, 0, 0),
        (255, 255, 0xffff, 0),
        (256, 0, 0, 0x10000),
        (300, 70000, 0, 0x1111_2c70),
        (4095, 0xfffff, 0, 0xffff_ffff),
    ] {
        kunit_expect_eq!(t, dev.set_rdev(major, minor), Ok(()));
        kunit_expect_eq!(t, (dev.block[0], dev.block[1]), (b0, b1));
        kunit_expect_eq!(t, dev.rdev(), (major, minor));
        kunit_expect_eq!(t, dev.encode_new(&sb, &mut raw), Ok(()));
        kunit_expect_eq!(
            t,
            Inode::parse(&sb, &raw).map(|b| b.rdev()),
            Ok((major, minor))
        );
    }
    dev.block[5] = 9;
    kunit_expect_eq!(t, dev.set_rdev(1, 2), Ok(()));
    kunit_expect_eq!(t, dev.block[2..], [0u32; N_BLOCKS - 2]);
    let keep = dev.clone();
    kunit_expect!(t, dev.set_rdev(4096, 0).is_err());
    kunit_expect!(t, dev.set_rdev(0, 1 << 20).is_err());
    kunit_expect_eq!(t, dev, keep);

    // Deletion: no links, a dtime, the mode kept; it reads back deleted.
    let mut gone = Inode::new(0o100644, 0, 0, now, 1, &sb);
    gone.set_deleted(1234);
    kunit_expect_eq!(
        t,
        (gone.links_count, gone.dtime, gone.mode),
        (0, 1234, 0o100644)
    );
    kunit_expect!(t, gone.is_deleted());
    kunit_expect_eq!(t, gone.encode(&sb, &mut raw), Ok(()));
    kunit_expect_eq!(t, Inode::parse(&sb, &raw).map(|b| b.is_deleted()), Ok(true));
    gone.set_deleted(0);
    kunit_expect_eq!(t, gone.dtime, 1);
    kunit_expect!(t, gone.is_deleted());
}

/// Bits in ext2's order; past the end reads as set and cannot be changed.
fn write_bitmaps(t: &mut Test) {
    let mut bm = [0u8; 4];
    kunit_expect_eq!(t, bit_set(&mut bm, 0), Ok(false));
    kunit_expect_eq!(t, bit_set(&mut bm, 9), Ok(false));
    kunit_expect_eq!(t, bit_set(&mut bm, 31), Ok(false));
    kunit_expect_eq!(t, bm, [0x01, 0x02, 0, 0x80]);
    kunit_expect_eq!(t, bit_set(&mut bm, 9), Ok(true));
    kunit_expect!(t, bit_test(&bm, 9) && bit_test(&bm, 0) && !bit_test(&bm, 8));
    kunit_expect_eq!(t, bit_clear(&mut bm, 9), Ok(true));
    kunit_expect_eq!(t, bit_clear(&mut bm, 9), Ok(false));
    kunit_expect!(t, !bit_test(&bm, 9));
    kunit_expect_eq!(t, bm, [0x01, 0, 0, 0x80]);
    kunit_expect!(
        t,
        bit_test(&bm, 32) && bit_test(&bm, u32::MAX) && bit_test(&[], 0)
    );
    kunit_expect!(t, bit_set(&mut bm, 32).is_err());
    kunit_expect!(t, bit_clear(&mut bm, u32::MAX).is_err());
    kunit_expect_eq!(t, bm, [0x01, 0, 0, 0x80]);
    // A whole bitmap block.
    let mut block = [0u8; BLOCK_SIZE];
    for i in (0..MAX_PER_GROUP).step_by(3) {
        kunit_expect_eq!(t, bit_set(&mut block, i), Ok(false));
    }
    let set = (0..MAX_PER_GROUP).filter(|&i| bit_test(&block, i)).count();
    kunit_expect_eq!(t, set, (MAX_PER_GROUP as usize).div_ceil(3));
    kunit_expect!(
        t,
        (0..MAX_PER_GROUP).all(|i| bit_test(&block, i) == (i % 3 == 0))
    );

    // Indirect block entries.
    kunit_expect_eq!(t, set_indirect_entry(&mut block, 0, 7), Ok(()));
    kunit_expect_eq!(t, set_indirect_entry(&mut block, 1023, 0xdead_beef), Ok(()));
    kunit_expect_eq!(t, indirect_entry(&block, 0), Ok(7));
    kunit_expect_eq!(t, indirect_entry(&block, 1023), Ok(0xdead_beef));
    kunit_expect!(t, set_indirect_entry(&mut block, 1024, 1).is_err());
    kunit_expect!(t, set_indirect_entry(&mut block[..100], 25, 1).is_err());
}

/// The name of test entry `i`: its number, then `-` and `x`s to a length from 2 to 22.
fn entry_name(i: usize, buf: &mut [u8; 32]) -> usize {
    let len = 2 + (i * 7) % 21;
    buf.fill(b'x');
    let mut n = i;
    let mut digits = 0;
    loop {
        digits += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut n = i;
    for k in (0..digits).rev() {
        put8(buf, k, b'0' + (n % 10) as u8);
        n /= 10;
    }
    put8(buf, digits, b'-');
    len.max(digits + 1)
}

/// The number of test entry `name`, if it is one.
fn entry_number(name: &[u8]) -> Option<usize> {
    let dash = name.iter().position(|&b| b == b'-')?;
    let mut n = 0usize;
    for &d in name.get(..dash)? {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
    }
    Some(n)
}

/// Checks that the used entries of `block` are exactly "." and ".." (if `dots`) and the test
/// entries marked in `present` (inode `11 + i`, type regular file).
fn expect_listing(t: &mut Test, sb: &Superblock, block: &[u8], dots: bool, present: &[bool]) {
    let mut seen = 0;
    let mut dot_seen = 0;
    for e in dir_entries(sb, block) {
        kunit_expect!(t, e.is_ok(), "{:?}", e);
        let Ok(e) = e else { return };
        if dots && (e.name == b"." || e.name == b"..") {
            dot_seen += 1;
            continue;
        }
        let n = entry_number(e.name);
        let ok = n.is_some_and(|n| present.get(n) == Some(&true) && e.inode == 11 + n as u32);
        kunit_expect!(t, ok, "unexpected entry at {}", e.offset);
        let ft = if sb.has_filetype() {
            FT_REG_FILE
        } else {
            FT_UNKNOWN
        };
        kunit_expect_eq!(t, e.file_type, ft);
        seen += 1;
    }
    kunit_expect_eq!(t, seen, present.iter().filter(|&&p| p).count());
    kunit_expect_eq!(t, dot_seen, if dots { 2 } else { 0 });
}

/// Fills `block` with test entries until `dir_add` finds no room, then removes them all (odd
/// ones first, then the rest from the end), checking the listing on the way; returns how many
/// fitted.
fn fill_and_empty(t: &mut Test, sb: &Superblock, block: &mut [u8], dots: bool) -> usize {
    let mut present = [false; 400];
    let mut offsets = [0u16; 400];
    let mut name = [0u8; 32];
    let mut n = 0;
    while n < present.len() {
        let len = entry_name(n, &mut name);
        let r = dir_add(sb, block, 11 + n as u32, &name[..len], FT_REG_FILE);
        kunit_expect!(t, r.is_ok(), "{:?}", r);
        let Ok(Some(off)) = r else { break };
        kunit_expect!(t, off % 4 == 0 && off + dirent_size(len) <= BLOCK_SIZE);
        present[n] = true;
        offsets[n] = off as u16;
        n += 1;
    }
    expect_listing(t, sb, block, dots, &present);
    // Full: the smallest name does not fit either, and the block is unchanged.
    let before = digest(block);
    kunit_expect_eq!(t, dir_add(sb, block, 11, b"z", FT_REG_FILE), Ok(None));
    kunit_expect_eq!(t, digest(block), before);
    // Entries never move: each is removed at the offset it was added at.
    for k in (1..n).step_by(2) {
        kunit_expect_eq!(t, dir_remove(sb, block, usize::from(offsets[k])), Ok(()));
        present[k] = false;
    }
    expect_listing(t, sb, block, dots, &present);
    for k in (0..n).step_by(2).rev() {
        kunit_expect_eq!(t, dir_remove(sb, block, usize::from(offsets[k])), Ok(()));
        present[k] = false;
    }
    expect_listing(t, sb, block, dots, &present);
    kunit_expect_eq!(t, dir_block_is_empty(sb, block, dots), Ok(true));
    n
}

/// New directory blocks: empty ones and first ones.
fn write_dir_init(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    let mut block = [0xa5u8; BLOCK_SIZE];
    kunit_expect_eq!(t, dir_init_empty(&mut block), Ok(()));
    kunit_expect_eq!(t, le16(&block, dirent_off::REC_LEN), Ok(BLOCK_SIZE as u16));
    kunit_expect!(t, block.iter().enumerate().all(|(i, &b)| b == 0 || i == 5));
    kunit_expect_eq!(t, dir_entries(&sb, &block).next(), None);
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, false), Ok(true));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(true));
    kunit_expect!(t, dir_init_empty(&mut block[..4095]).is_err());

    block.fill(0xa5);
    kunit_expect_eq!(t, dir_init_first(&sb, &mut block, 12, ROOT_INO), Ok(()));
    let mut it = dir_entries(&sb, &block);
    let e = |inode, rec_len, name, offset| {
        Some(Ok(DirEntry {
            inode,
            rec_len,
            name,
            file_type: FT_DIR,
            offset,
        }))
    };
    kunit_expect_eq!(t, it.next(), e(12, 12, &b"."[..], 0));
    kunit_expect_eq!(t, it.next(), e(ROOT_INO, 4084, &b".."[..], 12));
    kunit_expect_eq!(t, it.next(), None);
    kunit_expect!(t, block[24..].iter().all(|&b| b == 0));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(true));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, false), Ok(false));
    // Without the filetype feature the type byte is 0.
    if let Ok(old) = sb_with(|b| put32(b, sb_off::S_FEATURE_INCOMPAT, 0)) {
        kunit_expect_eq!(t, dir_init_first(&old, &mut block, 12, 13), Ok(()));
        kunit_expect_eq!(t, block.get(dirent_off::FILE_TYPE), Some(&0));
        kunit_expect_eq!(t, block.get(12 + dirent_off::FILE_TYPE), Some(&0));
        kunit_expect_eq!(t, dir_entries(&old, &block).count(), 2);
    } else {
        kunit_expect!(t, false);
    }
    // Inodes a directory may not name; the block is left alone.
    let before = block;
    for (me, parent) in [
        (0, 2),
        (12, 0),
        (1, 2),
        (12, 3),
        (12, 10),
        (2049, 2),
        (12, u32::MAX),
    ] {
        kunit_expect!(t, dir_init_first(&sb, &mut block, me, parent).is_err());
    }
    kunit_expect!(t, dir_init_first(&sb, &mut block[..100], 12, 2).is_err());
    kunit_expect_eq!(t, block, before);
    kunit_expect_eq!(t, dir_init_first(&sb, &mut block, 2048, 11), Ok(()));
}

/// Adding until full and removing everything, in empty, first and real blocks, with and
/// without the filetype feature.
fn write_dir_fill(t: &mut Test) {
    let Some(sb) = test_sb(t, false) else { return };
    let mut block = [0u8; BLOCK_SIZE];
    kunit_expect_eq!(t, dir_init_empty(&mut block), Ok(()));
    let n = fill_and_empty(t, &sb, &mut block, false);
    kunit_expect!(t, n > 150, "only {} entries fitted", n);
    // Emptied, the block is again one unused record over all of it.
    kunit_expect_eq!(t, le32(&block, 0), Ok(0));
    kunit_expect_eq!(t, le16(&block, dirent_off::REC_LEN), Ok(BLOCK_SIZE as u16));

    kunit_expect_eq!(t, dir_init_first(&sb, &mut block, 12, 2), Ok(()));
    fill_and_empty(t, &sb, &mut block, true);
    kunit_expect_eq!(t, le16(&block, dirent_off::REC_LEN), Ok(12));
    kunit_expect_eq!(t, le16(&block, 12 + dirent_off::REC_LEN), Ok(4084));

    // Names of one byte: 341 entries of 12 bytes fill a block exactly.
    kunit_expect_eq!(t, dir_init_empty(&mut block), Ok(()));
    let mut count = 0u32;
    while let Ok(Some(_)) = dir_add(
        &sb,
        &mut block,
        11 + count % 2000,
        &[b'a' + (count % 26) as u8],
        FT_FIFO,
    ) {
        count += 1;
    }
    kunit_expect_eq!(t, count, 341);
    kunit_expect_eq!(t, dir_entries(&sb, &block).count(), 341);

    if let Ok(old) = sb_with(|b| put32(b, sb_off::S_FEATURE_INCOMPAT, 0)) {
        kunit_expect_eq!(t, dir_init_empty(&mut block), Ok(()));
        fill_and_empty(t, &old, &mut block, false);
        // The type byte is not stored.
        kunit_expect_eq!(t, dir_add(&old, &mut block, 12, b"x", FT_DIR), Ok(Some(0)));
        kunit_expect_eq!(t, block.get(dirent_off::FILE_TYPE), Some(&0));
    } else {
        kunit_expect!(t, false);
    }

    // The real root directory: the new entry goes after "sub", its last one.
    let mut raw = [0u8; SUPERBLOCK_SIZE];
    fill(&mut raw, REAL_SB);
    let Ok(real) = Superblock::parse(&raw) else {
        kunit_expect!(t, false);
        return;
    };
    fill(&mut block, REAL_ROOT_DIR);
    let records = digest(&block[..0xa4 + 12]);
    kunit_expect_eq!(t, le16(&block, 0xa4 + dirent_off::REC_LEN), Ok(0xf5c));
    let at = dir_add(&real, &mut block, 21, b"new-file", FT_REG_FILE);
    kunit_expect_eq!(t, at, Ok(Some(0xa4 + 12)));
    kunit_expect_eq!(t, le16(&block, 0xa4 + dirent_off::REC_LEN), Ok(12));
    kunit_expect_eq!(t, dir_entries(&real, &block).count(), 13);
    kunit_expect_eq!(t, dir_remove(&real, &mut block, 0xa4 + 12), Ok(()));
    // Back to the original records (the removed entry's bytes stay in the slack of "sub").
    kunit_expect_eq!(t, digest(&block[..0xa4 + 12]), records);
    kunit_expect_eq!(t, dir_entries(&real, &block).count(), 12);
}

/// Where `dir_add` puts entries (ext2's first fit), how `dir_remove` merges, `dir_set`, and
/// what both refuse.
fn write_dir_edit(t: &mut Test) {
    use dirent_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let mut block = [0u8; BLOCK_SIZE];
    // good_dir: ".", "..", unused (24, 16 bytes), 255-byte name (40), "last" (304).
    good_dir(&mut block);
    // "x" fits the unused record, which it takes whole.
    kunit_expect_eq!(
        t,
        dir_add(&sb, &mut block, 100, b"x", FT_REG_FILE),
        Ok(Some(24))
    );
    kunit_expect_eq!(t, le16(&block, 24 + REC_LEN), Ok(16));
    kunit_expect_eq!(t, le32(&block, 24 + INODE), Ok(100));
    kunit_expect_eq!(t, block.get(24 + FILE_TYPE), Some(&FT_REG_FILE));
    // Then "y" splits "last", which keeps 12 bytes.
    kunit_expect_eq!(
        t,
        dir_add(&sb, &mut block, 101, b"y", FT_DIR),
        Ok(Some(316))
    );
    kunit_expect_eq!(t, le16(&block, 304 + REC_LEN), Ok(12));
    kunit_expect_eq!(
        t,
        le16(&block, 316 + REC_LEN),
        Ok((BLOCK_SIZE - 316) as u16)
    );
    kunit_expect_eq!(t, dir_entries(&sb, &block).count(), 6);
    // A 255-byte name needs 264 bytes.
    kunit_expect_eq!(t, dirent_size(255), 264);
    kunit_expect_eq!(t, dirent_size(1), 12);
    kunit_expect_eq!(t, dirent_size(4), 12);
    kunit_expect_eq!(t, dirent_size(5), 16);
    kunit_expect_eq!(t, dirent_size(usize::MAX) % 4, 0);
    kunit_expect_eq!(
        t,
        dir_add(&sb, &mut block, 102, &[b'L'; 255], FT_REG_FILE),
        Ok(Some(328))
    );
    kunit_expect_eq!(t, le16(&block, 316 + REC_LEN), Ok(12));

    // Removing "y" (316) merges it into "last" (304).
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 316), Ok(()));
    kunit_expect_eq!(t, le16(&block, 304 + REC_LEN), Ok(24));
    kunit_expect_eq!(t, le32(&block, 316 + INODE), Ok(0));
    // Removing the first entry only clears its inode.
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 0), Ok(()));
    kunit_expect_eq!(t, le16(&block, REC_LEN), Ok(12));
    kunit_expect_eq!(t, le32(&block, INODE), Ok(0));
    kunit_expect_eq!(
        t,
        dir_entries(&sb, &block).next().map(|e| e.map(|e| e.offset)),
        Some(Ok(12))
    );
    // ".." (12) now merges into the unused record at 0.
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 12), Ok(()));
    kunit_expect_eq!(t, le16(&block, REC_LEN), Ok(24));
    // "x" reuses that room: the unused first record, taken whole.
    kunit_expect_eq!(
        t,
        dir_add(&sb, &mut block, 103, b"abc", FT_REG_FILE),
        Ok(Some(0))
    );
    kunit_expect_eq!(t, le16(&block, REC_LEN), Ok(24));

    // dir_set: a rename over an existing name, and ".." of a moved directory.
    kunit_expect_eq!(t, dir_set(&sb, &mut block, 24, 2000, FT_SYMLINK), Ok(()));
    kunit_expect_eq!(t, le32(&block, 24 + INODE), Ok(2000));
    kunit_expect_eq!(t, block.get(24 + FILE_TYPE), Some(&FT_SYMLINK));
    kunit_expect_eq!(t, le16(&block, 24 + REC_LEN), Ok(16));
    kunit_expect_eq!(t, block.get(24 + NAME), Some(&b'x'));
    kunit_expect_eq!(t, dir_init_first(&sb, &mut block, 12, 2), Ok(()));
    kunit_expect_eq!(t, dir_set(&sb, &mut block, 12, 13, FT_DIR), Ok(()));
    kunit_expect_eq!(
        t,
        dir_entries(&sb, &block)
            .nth(1)
            .map(|e| e.map(|e| (e.inode, e.name))),
        Some(Ok((13, &b".."[..])))
    );

    // Refusals, each with the block unchanged.
    good_dir(&mut block);
    let before = digest(&block);
    let none_at = Err(Corrupt {
        what: "no directory entry at this offset",
    });
    for off in [1, 13, 24, 39, 4095, BLOCK_SIZE, usize::MAX] {
        kunit_expect_eq!(t, dir_remove(&sb, &mut block, off), none_at);
        kunit_expect_eq!(t, dir_set(&sb, &mut block, off, 12, FT_DIR), none_at);
    }
    let long = [b'n'; 256];
    for name in [&b""[..], &long[..], &b"a/b"[..], &b"/"[..], &b"a\0"[..]] {
        kunit_expect!(t, dir_add(&sb, &mut block, 12, name, FT_REG_FILE).is_err());
    }
    for ino in [0, 1, 3, 10, 2049, u32::MAX] {
        kunit_expect!(
            t,
            dir_add(&sb, &mut block, ino, b"ok", FT_REG_FILE).is_err()
        );
        kunit_expect!(t, dir_set(&sb, &mut block, 304, ino, FT_REG_FILE).is_err());
    }
    kunit_expect!(t, dir_add(&sb, &mut block, 12, b"ok", 8).is_err());
    kunit_expect!(t, dir_set(&sb, &mut block, 304, 12, 0xff).is_err());
    kunit_expect_eq!(t, digest(&block), before);
    // A corrupt block, even past the place an entry would go, is refused whole.
    put16(&mut block, 304 + REC_LEN, (BLOCK_SIZE - 304 + 4) as u16);
    let corrupt = digest(&block);
    let crosses = Some(Corrupt {
        what: "directory entry crosses the block end",
    });
    kunit_expect_eq!(
        t,
        dir_add(&sb, &mut block, 12, b"ok", FT_REG_FILE).err(),
        crosses
    );
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 40).err(), crosses);
    kunit_expect_eq!(t, dir_set(&sb, &mut block, 40, 12, FT_DIR).err(), crosses);
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true).err(), crosses);
    kunit_expect_eq!(t, digest(&block), corrupt);
    kunit_expect!(t, dir_add(&sb, &mut block[..2048], 12, b"ok", 1).is_err());
    kunit_expect!(t, dir_block_is_empty(&sb, &[], false).is_err());
    // Empty or not.
    good_dir(&mut block);
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(false));
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 40), Ok(()));
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 304), Ok(()));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(true));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, false), Ok(false));
    kunit_expect_eq!(t, le16(&block, 24 + REC_LEN), Ok((BLOCK_SIZE - 24) as u16));
}

/// A hash-indexed directory's first block (as mke2fs writes a `dx_root`) takes new entries as
/// a linear block: after "..", over the index.
fn write_dir_dx_root(t: &mut Test) {
    use dirent_off::*;
    let Some(sb) = test_sb(t, false) else { return };
    let mut block = [0u8; BLOCK_SIZE];
    put_dirent(&mut block, 0, 12, 12, b".", FT_DIR);
    put_dirent(&mut block, 12, 2, (BLOCK_SIZE - 12) as u16, b"..", FT_DIR);
    // dx_root_info: reserved_zero, hash_version 1, info_length 8, indirect_levels 0, flags 0;
    // then limit 508, count 1, block 1; then one more (hash, block) pair.
    put32(&mut block, 24, 0);
    put8(&mut block, 28, 1);
    put8(&mut block, 29, 8);
    put16(&mut block, 32, 508);
    put16(&mut block, 34, 2);
    put32(&mut block, 36, 1);
    put32(&mut block, 40, 0x8000_0000);
    put32(&mut block, 44, 2);
    kunit_expect_eq!(t, dir_entries(&sb, &block).count(), 2);
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(true));
    let at = dir_add(&sb, &mut block, 20, b"after-dx", FT_REG_FILE);
    kunit_expect_eq!(t, at, Ok(Some(24)));
    kunit_expect_eq!(t, le16(&block, 12 + REC_LEN), Ok(12));
    kunit_expect_eq!(t, le16(&block, 24 + REC_LEN), Ok((BLOCK_SIZE - 24) as u16));
    let mut it = dir_entries(&sb, &block);
    kunit_expect_eq!(
        t,
        it.nth(2).map(|e| e.map(|e| (e.inode, e.name))),
        Some(Ok((20, &b"after-dx"[..])))
    );
    kunit_expect_eq!(t, it.next(), None);
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(false));
    kunit_expect_eq!(t, dir_remove(&sb, &mut block, 24), Ok(()));
    kunit_expect_eq!(t, le16(&block, 12 + REC_LEN), Ok((BLOCK_SIZE - 12) as u16));
    kunit_expect_eq!(t, dir_block_is_empty(&sb, &block, true), Ok(true));
}

// ---------------------------------------------------------------------------------------------
// Extended attribute blocks and POSIX ACL values.

/// The extended attribute block of `/f` in the `xattr` image of `tests/host/ondisk/mkimages.sh`,
/// as e2fsprogs 1.47.0's `debugfs ea_set` wrote it: `user.comment` = "hello", the access ACL
/// [`real_acl`] (given to debugfs in the VFS's format) and `trusted.t` = 40 bytes. e2fsprogs
/// leaves `h_hash` 0; its entry hashes are ext2's.
const REAL_XATTR: &[(usize, &str)] = &[
    (2, "02ea0100000001"),
    (
        32,
        "0701f80f0000000005000000af758f7d636f6d6d656e74000002dc0f000000001c0000002500f903\
         0104b40f00000000280000002c1c194174",
    ),
    (
        4020,
        "61206c6f6e6765722076616c756520666f7220746865207472757374656420617474726962757465\
         010000000100060002000400e803000004000400100004002000000068656c6c6f",
    ),
];

/// The ACL of [`REAL_XATTR`]: owner rw, user 1000 r, group r, mask r, other nothing.
fn real_acl() -> [AclEntry; 5] {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    [
        e(AclTag::UserObj, 6, 0),
        e(AclTag::User, 4, 1000),
        e(AclTag::GroupObj, 4, 0),
        e(AclTag::Mask, 4, 0),
        e(AclTag::Other, 0, 0),
    ]
}

/// A block e2fsprogs wrote: its entries, values, hashes and ACL; and `xattr_write` builds the
/// same bytes (but `h_hash`, which it computes) from the same three settings.
fn xattr_real_block(t: &mut Test) {
    let mut block = [0u8; BLOCK_SIZE];
    fill(&mut block, REAL_XATTR);
    let x = XattrBlock::parse(&block);
    kunit_expect!(t, x.is_ok(), "{:?}", x.err());
    let Ok(x) = x else { return };
    kunit_expect_eq!(t, x.refcount(), 1);
    kunit_expect_eq!(t, x.hash(), 0);
    kunit_expect_eq!(t, x.computed_hash(), 0x3cb3_6a7a);
    kunit_expect!(t, x.check_entry_hashes());
    kunit_expect!(t, !x.check_hashes());
    kunit_expect_eq!(t, x.used(), 36 + 24 + 16 + 20 + 8 + 28 + 40);
    let want: [(u8, &[u8], usize); 3] = [
        (XATTR_INDEX_USER, b"comment", 5),
        (XATTR_INDEX_POSIX_ACL_ACCESS, b"", 28),
        (XATTR_INDEX_TRUSTED, b"t", 40),
    ];
    kunit_expect_eq!(t, x.entries().count(), 3);
    for (e, w) in x.entries().zip(want) {
        kunit_expect_eq!(t, (e.index, e.name, e.value.len()), w);
    }
    kunit_expect_eq!(t, x.get(XATTR_INDEX_USER, b"comment"), Some(&b"hello"[..]));
    kunit_expect_eq!(t, x.get(XATTR_INDEX_USER, b"t"), None);
    kunit_expect_eq!(t, x.get(XATTR_INDEX_USER, b"commenT"), None);
    kunit_expect_eq!(t, x.get(XATTR_INDEX_SECURITY, b"t"), None);
    let trusted = x.get(XATTR_INDEX_TRUSTED, b"t").unwrap_or(&[]);
    kunit_expect_eq!(t, trusted.get(..8), Some(&b"a longer"[..]));
    // The entry hashes e2fsprogs computed.
    kunit_expect_eq!(t, xattr_hash_entry(b"comment", b"hello"), 0x7d8f_75af);
    kunit_expect_eq!(t, le32(&block, 32 + 12), Ok(0x7d8f_75af));
    kunit_expect_eq!(t, xattr_hash_entry(b"t", trusted), 0x4119_1c2c);
    // The ACL.
    let acl = x.get(XATTR_INDEX_POSIX_ACL_ACCESS, b"").unwrap_or(&[]);
    kunit_expect_eq!(t, acl_count(acl), Ok(5));
    let mut entries = [AclEntry {
        tag: AclTag::Other,
        perm: 7,
        id: 7,
    }; 8];
    kunit_expect_eq!(t, acl_decode(acl, &mut entries), Ok(5));
    kunit_expect_eq!(t, entries[..5], real_acl());
    let mut enc = [0u8; 64];
    kunit_expect_eq!(t, acl_encode(&real_acl(), &mut enc), Ok(28));
    kunit_expect_eq!(t, enc.get(..28), Some(acl));

    // Rebuilt: comment, then the trusted value, then the ACL, each into a fresh block.
    let (Ok(mut a), Ok(mut b)) = (
        KVec::from_elem(0u8, BLOCK_SIZE, GFP_KERNEL),
        KVec::from_elem(0u8, BLOCK_SIZE, GFP_KERNEL),
    ) else {
        kunit_expect!(t, false, "no memory for two blocks");
        return;
    };
    let create = |v| XattrChange::Set(v, XattrSetMode::Create);
    let r = xattr_write(
        None,
        XATTR_INDEX_USER,
        b"comment",
        create(b"hello"),
        1,
        &mut a,
    );
    kunit_expect_eq!(t, r, Ok(XattrWritten::Block));
    let Ok(pa) = XattrBlock::parse(&a) else {
        kunit_expect!(t, false, "first block refused");
        return;
    };
    let r = xattr_write(
        Some(&pa),
        XATTR_INDEX_TRUSTED,
        b"t",
        create(trusted),
        1,
        &mut b,
    );
    kunit_expect_eq!(t, r, Ok(XattrWritten::Block));
    let Ok(pb) = XattrBlock::parse(&b) else {
        kunit_expect!(t, false, "second block refused");
        return;
    };
    let r = xattr_write(
        Some(&pb),
        XATTR_INDEX_POSIX_ACL_ACCESS,
        b"",
        create(acl),
        1,
        &mut a,
    );
    kunit_expect_eq!(t, r, Ok(XattrWritten::Block));
    kunit_expect_eq!(t, a.get(..12), block.get(..12));
    kunit_expect_eq!(t, le32(&a, 12), Ok(0x3cb3_6a7a));
    kunit_expect!(
        t,
        a.get(16..) == block.get(16..),
        "not the bytes e2fsprogs wrote"
    );
    kunit_expect_eq!(t, XattrBlock::parse(&a).map(|x| x.check_hashes()), Ok(true));
}

/// The writer's refusals and edits, each with ext2's error, and the refcount setter.
fn xattr_write_edit(t: &mut Test) {
    use XattrError::*;
    let mut out = [0u8; BLOCK_SIZE];
    let (Ok(mut next), Ok(big)) = (
        KVec::from_elem(0u8, BLOCK_SIZE, GFP_KERNEL),
        KVec::from_elem(7u8, BLOCK_SIZE + 1, GFP_KERNEL),
    ) else {
        kunit_expect!(t, false, "no memory");
        return;
    };
    let any = |v| XattrChange::Set(v, XattrSetMode::Any);
    let user = XATTR_INDEX_USER;
    // Refused before anything is looked at: ERANGE.
    let long = [b'n'; XATTR_NAME_MAX + 1];
    kunit_expect_eq!(
        t,
        xattr_write(None, 0, b"a", any(b"1"), 1, &mut out),
        Err(Range)
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"", any(b"1"), 1, &mut out),
        Err(Range)
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, &long, any(b"1"), 1, &mut out),
        Err(Range)
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"a", any(&big), 1, &mut out),
        Err(Range)
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"a", any(b"1"), 0, &mut out),
        Err(Range)
    );
    let fits = big.get(..BLOCK_SIZE - 32 - 4 - 20).unwrap_or(&[]);
    let over = big.get(..BLOCK_SIZE - 32 - 4 - 20 + 1).unwrap_or(&[]);
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"w", any(over), 1, &mut out),
        Err(NoSpace)
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"a", XattrChange::Remove, 1, &mut out),
        Err(NotFound)
    );
    let replace = XattrChange::Set(b"1", XattrSetMode::Replace);
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"a", replace, 1, &mut out),
        Err(NotFound)
    );
    kunit_expect!(
        t,
        out.iter().all(|&b| b == 0),
        "out changed by a refused write"
    );
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"w", any(fits), 1, &mut out),
        Ok(XattrWritten::Block)
    );
    kunit_expect_eq!(t, XattrBlock::parse(&out).map(|x| x.used()), Ok(BLOCK_SIZE));

    // user.a = "1"; then create again, replace an absent one, set again, remove.
    kunit_expect_eq!(
        t,
        xattr_write(None, user, b"a", any(b"1"), 1, &mut out),
        Ok(XattrWritten::Block)
    );
    let Ok(x) = XattrBlock::parse(&out) else {
        kunit_expect!(t, false, "written block refused");
        return;
    };
    kunit_expect!(t, x.check_hashes());
    kunit_expect_eq!(t, x.get(user, b"a"), Some(&b"1"[..]));
    let create = XattrChange::Set(b"2", XattrSetMode::Create);
    kunit_expect_eq!(
        t,
        xattr_write(Some(&x), user, b"a", create, 1, &mut next),
        Err(Exists)
    );
    let replace_b = XattrChange::Set(b"2", XattrSetMode::Replace);
    kunit_expect_eq!(
        t,
        xattr_write(Some(&x), user, b"b", replace_b, 1, &mut next),
        Err(NotFound)
    );
    kunit_expect_eq!(
        t,
        xattr_write(Some(&x), user, b"a", any(b"22"), 2, &mut next),
        Ok(XattrWritten::Block)
    );
    let y = XattrBlock::parse(&next);
    kunit_expect_eq!(
        t,
        y.map(|y| (y.get(user, b"a"), y.refcount(), y.entries().count())),
        Ok((Some(&b"22"[..]), 2, 1))
    );
    let before = digest(&next);
    kunit_expect_eq!(
        t,
        xattr_write(Some(&x), user, b"a", XattrChange::Remove, 1, &mut next),
        Ok(XattrWritten::Empty)
    );
    kunit_expect_eq!(t, digest(&next), before);
    // An ACL name is empty; it sorts after every user name.
    let acl = [1u8, 0, 0, 0];
    let r = xattr_write(
        Some(&x),
        XATTR_INDEX_POSIX_ACL_DEFAULT,
        b"",
        any(&acl),
        1,
        &mut next,
    );
    kunit_expect_eq!(t, r, Ok(XattrWritten::Block));
    if let Ok(y) = XattrBlock::parse(&next) {
        let mut it = y.entries().map(|e| (e.index, e.name));
        kunit_expect_eq!(t, it.next(), Some((user, &b"a"[..])));
        kunit_expect_eq!(
            t,
            it.next(),
            Some((XATTR_INDEX_POSIX_ACL_DEFAULT, &b""[..]))
        );
        kunit_expect_eq!(t, it.next(), None);
    }

    // The refcount alone changes; the hashes stay right.
    let hash = le32(&out, 12);
    kunit_expect!(t, xattr_set_refcount(&mut out, 0).is_err());
    kunit_expect_eq!(t, xattr_set_refcount(&mut out, 1024), Ok(()));
    kunit_expect_eq!(
        t,
        XattrBlock::parse(&out).map(|x| (x.refcount(), x.check_hashes())),
        Ok((1024, true))
    );
    kunit_expect_eq!(t, le32(&out, 12), hash);
    kunit_expect!(t, xattr_set_refcount(&mut out[..100], 1).is_err());
}

/// Corrupt blocks, each refused with its reason, and left alone by `xattr_set_refcount`.
fn xattr_corrupt(t: &mut Test) {
    use xattr_off::*;
    let mut block = [0u8; BLOCK_SIZE];
    let cases: [(fn(&mut [u8]), &str); 8] = [
        (
            |b| put32(b, H_MAGIC, 0xEA01_0000),
            "bad extended attribute block magic",
        ),
        (
            |b| put32(b, H_BLOCKS, 2),
            "extended attribute block with h_blocks not 1",
        ),
        (
            |b| put32(b, H_REFCOUNT, 0),
            "extended attribute block with refcount 0",
        ),
        (
            |b| put32(b, 32 + E_VALUE_BLOCK, 9),
            "extended attribute value in another block",
        ),
        (
            |b| put8(b, 72 + E_NAME_INDEX, 1),
            "extended attribute entries not sorted, or one twice",
        ),
        (
            |b| put8(b, 32 + E_NAME_INDEX, 0),
            "extended attribute with name index 0",
        ),
        (
            |b| put16(b, 72 + E_VALUE_OFFS, 4021),
            "extended attribute value not 4-byte aligned",
        ),
        (
            |b| put16(b, 72 + E_VALUE_OFFS, 4056),
            "extended attribute value overlaps the table or another value",
        ),
    ];
    for (corrupt, what) in cases {
        fill(&mut block, REAL_XATTR);
        corrupt(&mut block);
        kunit_expect_eq!(t, XattrBlock::parse(&block).err(), Some(Corrupt { what }));
        let before = digest(&block);
        kunit_expect!(t, xattr_set_refcount(&mut block, 2).is_err(), "{}", what);
        kunit_expect_eq!(t, digest(&block), before);
    }
    fill(&mut block, REAL_XATTR);
    put8(&mut block, 56 + E_NAME_INDEX, XATTR_INDEX_USER);
    kunit_expect_eq!(
        t,
        XattrBlock::parse(&block).err(),
        Some(Corrupt {
            what: "empty extended attribute name"
        })
    );
    kunit_expect!(t, XattrBlock::parse(&block[..BLOCK_SIZE - 4]).is_err());
    // Wrong hashes are not corruption (ext2 does not check them).
    fill(&mut block, REAL_XATTR);
    put32(&mut block, 32 + E_HASH, 1);
    kunit_expect_eq!(
        t,
        XattrBlock::parse(&block).map(|x| x.check_entry_hashes()),
        Ok(false)
    );
}

/// The ext2 ACL value: encoding, decoding, and what each refuses.
fn acl_codec(t: &mut Test) {
    let acl = real_acl();
    kunit_expect_eq!(t, acl_size(&acl), 28);
    let mut v = [0u8; 32];
    kunit_expect_eq!(t, acl_encode(&acl, &mut v), Ok(28));
    let want = [
        1u8, 0, 0, 0, 1, 0, 6, 0, 2, 0, 4, 0, 0xe8, 3, 0, 0, 4, 0, 4, 0, 0x10, 0, 4, 0, 0x20, 0, 0,
        0,
    ];
    kunit_expect_eq!(t, v.get(..28), Some(&want[..]));
    let mut out = [AclEntry {
        tag: AclTag::Other,
        perm: 0,
        id: 0,
    }; 5];
    kunit_expect_eq!(t, acl_decode(&want, &mut out), Ok(5));
    kunit_expect_eq!(t, out, acl);
    kunit_expect!(t, acl_decode(&want, &mut out[..4]).is_err());
    kunit_expect_eq!(t, acl_count(&want[..4]), Ok(0));
    kunit_expect!(t, acl_count(&want[..3]).is_err());
    kunit_expect!(t, acl_count(&want[..24]).is_err()); // no count has 24 bytes
    kunit_expect!(t, acl_count(&want[..27]).is_err());
    for (at, byte) in [(0, 2), (4, 0x40), (6, 8), (8, 1), (20, 2)] {
        let mut bad = want;
        put8(&mut bad, at, byte);
        kunit_expect!(t, acl_count(&bad).is_err(), "byte {} = {}", at, byte);
    }
    // The encoder refuses what ext2 could not read back, and a short buffer.
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    kunit_expect!(t, acl_encode(&acl, &mut v[..27]).is_err());
    kunit_expect!(t, acl_encode(&[e(AclTag::Other, 8, 0)], &mut v).is_err());
    kunit_expect!(t, acl_encode(&[e(AclTag::Other, 4, 0); 5], &mut v).is_err());
    kunit_expect!(t, acl_encode(&[e(AclTag::User, 4, 5)], &mut v).is_err());
    kunit_expect_eq!(t, acl_encode(&[], &mut v), Ok(4));
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
        walk_leaf_pieces,
        dir_valid,
        dir_corrupt,
        real_metadata,
        real_inodes,
        real_root_dir,
        write_le,
        write_sb_dynamic,
        write_sb_dynamic_edges,
        write_group_desc,
        write_timestamps,
        write_inode_new,
        write_inode_round_trip,
        write_inode_kinds,
        write_bitmaps,
        write_dir_init,
        write_dir_fill,
        write_dir_edit,
        write_dir_dx_root,
        xattr_real_block,
        xattr_write_edit,
        xattr_corrupt,
        acl_codec,
    ]
);
