// SPDX-License-Identifier: GPL-2.0

//! The on-disk format of xipfs: the subset of ext2 it reads, parsed and checked from bytes.
//!
//! Supported: ext2 revision 1 (and revision 0 with its fixed defaults) with 4096-byte blocks,
//! as made by `mke2fs -t ext2 -b 4096` (also with `-d DIR`) with Debian's default features
//! (`sparse_super`, `large_file`, `filetype`, `resize_inode`, `dir_index`, `ext_attr`):
//!
//! - the superblock ([`Superblock`]), group descriptors ([`GroupDesc`]) and inodes ([`Inode`]),
//!   with the geometry checks `fs/ext2/super.c` makes at mount time and a few more;
//! - the direct/indirect block map ([`BlockPath`], [`indirect_entry`], [`contiguous_run`]);
//! - directory blocks ([`dir_entries`]), checked like `ext2_check_folio()`;
//! - fast and slow symlinks and device numbers as `fs/ext2/inode.c` decodes them;
//! - extended attribute blocks ([`XattrBlock`], written by [`xattr_write`]) as
//!   `fs/ext2/xattr.c` keeps them, checked as it and e2fsck check them, and the POSIX ACL
//!   values they hold ([`acl_decode`], [`acl_encode`]) as `fs/ext2/acl.c` converts them.
//!
//! This module only looks at byte slices handed to it: no I/O, no kernel calls, safe Rust only,
//! no allocation, and no panics whatever the bytes are (every access goes through `get()` and
//! every computation on on-disk values is checked). It uses `core` alone. It is tested in the
//! kernel, on crafted buffers and on bytes of a real image, by the KUnit suite `xipfs_ondisk`
//! (`ondisk_tests.rs`); the block-map walk that uses these pieces is `blockmap::walk`, tested
//! there too on in-memory images.
//!
//! It also writes the format, for the read-write path (section "Writing"): the fields of the
//! superblock and group descriptors a mounted filesystem changes
//! ([`Superblock::encode_dynamic`], [`GroupDesc::encode_counts`]), whole inodes
//! ([`Inode::encode`]), bitmaps ([`bit_set`]), indirect blocks ([`set_indirect_entry`]) and
//! directory blocks ([`dir_add`], [`dir_remove`], ...), each as `fs/ext2` writes it. Writers
//! change only the bytes they model, leave a buffer untouched when they fail, and write nothing
//! that the parsers here would read back differently: `parse(encode(x)) == x`, and
//! `encode(parse(raw)) == raw` byte for byte.
//!
//! The on-disk layout is declared once, as byte offsets named after the C fields of
//! `fs/ext2/ext2.h` ([`sb_off`], [`gd_off`], [`inode_off`], [`dirent_off`]); little-endian
//! values are decoded only by [`le16`]/[`le32`] and encoded only by [`put_le16`]/[`put_le32`].
//!
//! Errors:
//! - [`SbError`] refuses a mount; every variant becomes `-EINVAL`, as in ext2.
//! - [`Corrupt`] is corrupt metadata found after the superblock was accepted (group
//!   descriptors, inodes, block maps, directories); it becomes `-EUCLEAN` (`-EFSCORRUPTED`).

use core::fmt;

/// The only block size supported, in bytes (`s_log_block_size == 2`).
pub const BLOCK_SIZE: usize = 4096;
/// `BLOCK_SIZE` as a shift.
pub const BLOCK_SHIFT: u32 = 12;
/// `s_log_block_size` for 4096-byte blocks (block size is `1024 << s_log_block_size`).
pub const LOG_BLOCK_SIZE: u32 = BLOCK_SHIFT - 10;

/// Byte offset of the superblock from the start of the device.
pub const SUPERBLOCK_OFFSET: usize = 1024;
/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 1024;
/// The superblock magic number (`EXT2_SUPER_MAGIC`).
pub const MAGIC: u16 = 0xEF53;

/// Revision 0: fixed inode size and first inode, no feature fields.
pub const GOOD_OLD_REV: u32 = 0;
/// Revision 1: variable inode size, feature fields.
pub const DYNAMIC_REV: u32 = 1;
/// Inode size of revision 0, and the minimum inode size.
pub const GOOD_OLD_INODE_SIZE: u16 = 128;
/// First non-reserved inode of revision 0, and the minimum `s_first_ino`.
pub const GOOD_OLD_FIRST_INO: u32 = 11;
/// Inode number of the root directory.
pub const ROOT_INO: u32 = 2;

/// `s_state`: cleanly unmounted.
pub const STATE_VALID: u16 = 0x0001;
/// `s_state`: errors were detected.
pub const STATE_ERROR: u16 = 0x0002;

/// COMPAT feature: directory preallocation.
pub const COMPAT_DIR_PREALLOC: u32 = 0x0001;
/// COMPAT feature: "imagic" inodes.
pub const COMPAT_IMAGIC_INODES: u32 = 0x0002;
/// COMPAT feature: ext3 journal (ignored by ext2 and by us).
pub const COMPAT_HAS_JOURNAL: u32 = 0x0004;
/// COMPAT feature: extended attribute blocks (`i_file_acl`).
pub const COMPAT_EXT_ATTR: u32 = 0x0008;
/// COMPAT feature: reserved GDT blocks for online resize (inode 7).
pub const COMPAT_RESIZE_INODE: u32 = 0x0010;
/// COMPAT feature: hashed directory indexes, readable as plain directories.
pub const COMPAT_DIR_INDEX: u32 = 0x0020;

/// RO_COMPAT feature: superblock backups only in some groups.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
/// RO_COMPAT feature: files of 2 GiB or more (`i_size_high`).
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
/// RO_COMPAT feature: B-tree directories (never implemented; harmless).
pub const RO_COMPAT_BTREE_DIR: u32 = 0x0004;
/// RO_COMPAT features xipfs knows. Unknown ones are allowed on read-only mounts (all of
/// xipfs's mounts today); a read-write mount will have to refuse them
/// ([`Superblock::check_writable`]).
pub const RO_COMPAT_SUPP: u32 = RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_BTREE_DIR;

/// INCOMPAT feature: compression.
pub const INCOMPAT_COMPRESSION: u32 = 0x0001;
/// INCOMPAT feature: file type byte in directory entries.
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
/// INCOMPAT feature: ext3 journal needs recovery.
pub const INCOMPAT_RECOVER: u32 = 0x0004;
/// INCOMPAT feature: external journal device.
pub const INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
/// INCOMPAT feature: meta block groups.
pub const INCOMPAT_META_BG: u32 = 0x0010;
/// INCOMPAT features xipfs understands; any other bit refuses the mount.
pub const INCOMPAT_SUPP: u32 = INCOMPAT_FILETYPE;

/// Size of an on-disk group descriptor.
pub const GROUP_DESC_SIZE: usize = 32;
/// Group descriptors per block.
pub const DESC_PER_BLOCK: u32 = (BLOCK_SIZE / GROUP_DESC_SIZE) as u32;
/// Most blocks or inodes a group can have: one bitmap block's worth of bits.
pub const MAX_PER_GROUP: u32 = 8 * BLOCK_SIZE as u32;

/// Number of direct block pointers in `i_block`.
pub const NDIR_BLOCKS: usize = 12;
/// Index in `i_block` of the single indirect block.
pub const IND_BLOCK: usize = NDIR_BLOCKS;
/// Index in `i_block` of the double indirect block.
pub const DIND_BLOCK: usize = IND_BLOCK + 1;
/// Index in `i_block` of the triple indirect block.
pub const TIND_BLOCK: usize = DIND_BLOCK + 1;
/// Number of entries in `i_block`.
pub const N_BLOCKS: usize = TIND_BLOCK + 1;
/// Block numbers per indirect block.
pub const ADDR_PER_BLOCK: u32 = (BLOCK_SIZE / 4) as u32;
/// Number of logical blocks the block map can address (direct to triple indirect).
pub const MAX_MAPPED_BLOCKS: u64 = NDIR_BLOCKS as u64
    + ADDR_PER_BLOCK as u64
    + (ADDR_PER_BLOCK as u64) * (ADDR_PER_BLOCK as u64)
    + (ADDR_PER_BLOCK as u64) * (ADDR_PER_BLOCK as u64) * (ADDR_PER_BLOCK as u64);
/// Largest file size, as `ext2_max_size()` computes it for 4096-byte blocks: the block map's
/// reach, limited so that data and indirect blocks fit in the 32-bit `i_blocks` (512-byte units).
pub const MAX_FILE_SIZE: u64 = max_file_size();

/// Maximum length of a name in a directory entry.
pub const NAME_LEN: usize = 255;
/// Size of a directory entry header (inode, rec_len, name_len, file_type).
pub const DIRENT_HEADER: usize = 8;
/// Smallest directory entry: a header and a 1-byte name, rounded to 4 (`EXT2_DIR_REC_LEN(1)`).
pub const DIRENT_MIN: usize = 12;

/// Directory entry file type: unknown (also used when the `filetype` feature is off).
pub const FT_UNKNOWN: u8 = 0;
/// Directory entry file type: regular file.
pub const FT_REG_FILE: u8 = 1;
/// Directory entry file type: directory.
pub const FT_DIR: u8 = 2;
/// Directory entry file type: character device.
pub const FT_CHRDEV: u8 = 3;
/// Directory entry file type: block device.
pub const FT_BLKDEV: u8 = 4;
/// Directory entry file type: FIFO.
pub const FT_FIFO: u8 = 5;
/// Directory entry file type: socket.
pub const FT_SOCK: u8 = 6;
/// Directory entry file type: symbolic link.
pub const FT_SYMLINK: u8 = 7;

/// Inode flag: synchronous updates.
pub const FL_SYNC: u32 = 0x0000_0008;
/// Inode flag: immutable file.
pub const FL_IMMUTABLE: u32 = 0x0000_0010;
/// Inode flag: writes may only append.
pub const FL_APPEND: u32 = 0x0000_0020;
/// Inode flag: do not update atime.
pub const FL_NOATIME: u32 = 0x0000_0080;
/// Inode flag: hash-indexed directory.
pub const FL_INDEX: u32 = 0x0000_1000;
/// Inode flag: synchronous directory updates.
pub const FL_DIRSYNC: u32 = 0x0001_0000;

/// Byte offsets in `struct ext2_super_block` (1024 bytes, at byte 1024 of the device).
pub mod sb_off {
    /// `__le32 s_inodes_count`
    pub const S_INODES_COUNT: usize = 0;
    /// `__le32 s_blocks_count`
    pub const S_BLOCKS_COUNT: usize = 4;
    /// `__le32 s_r_blocks_count`
    pub const S_R_BLOCKS_COUNT: usize = 8;
    /// `__le32 s_free_blocks_count`
    pub const S_FREE_BLOCKS_COUNT: usize = 12;
    /// `__le32 s_free_inodes_count`
    pub const S_FREE_INODES_COUNT: usize = 16;
    /// `__le32 s_first_data_block`
    pub const S_FIRST_DATA_BLOCK: usize = 20;
    /// `__le32 s_log_block_size`
    pub const S_LOG_BLOCK_SIZE: usize = 24;
    /// `__le32 s_log_frag_size`
    pub const S_LOG_FRAG_SIZE: usize = 28;
    /// `__le32 s_blocks_per_group`
    pub const S_BLOCKS_PER_GROUP: usize = 32;
    /// `__le32 s_frags_per_group`
    pub const S_FRAGS_PER_GROUP: usize = 36;
    /// `__le32 s_inodes_per_group`
    pub const S_INODES_PER_GROUP: usize = 40;
    /// `__le32 s_mtime`
    pub const S_MTIME: usize = 44;
    /// `__le32 s_wtime`
    pub const S_WTIME: usize = 48;
    /// `__le16 s_mnt_count`
    pub const S_MNT_COUNT: usize = 52;
    /// `__le16 s_max_mnt_count`
    pub const S_MAX_MNT_COUNT: usize = 54;
    /// `__le16 s_magic`
    pub const S_MAGIC: usize = 56;
    /// `__le16 s_state`
    pub const S_STATE: usize = 58;
    /// `__le16 s_errors`
    pub const S_ERRORS: usize = 60;
    /// `__le16 s_minor_rev_level`
    pub const S_MINOR_REV_LEVEL: usize = 62;
    /// `__le32 s_lastcheck`
    pub const S_LASTCHECK: usize = 64;
    /// `__le32 s_checkinterval`
    pub const S_CHECKINTERVAL: usize = 68;
    /// `__le32 s_creator_os`
    pub const S_CREATOR_OS: usize = 72;
    /// `__le32 s_rev_level`
    pub const S_REV_LEVEL: usize = 76;
    /// `__le16 s_def_resuid`
    pub const S_DEF_RESUID: usize = 80;
    /// `__le16 s_def_resgid`
    pub const S_DEF_RESGID: usize = 82;
    /// `__le32 s_first_ino` (revision 1 from here on)
    pub const S_FIRST_INO: usize = 84;
    /// `__le16 s_inode_size`
    pub const S_INODE_SIZE: usize = 88;
    /// `__le16 s_block_group_nr`
    pub const S_BLOCK_GROUP_NR: usize = 90;
    /// `__le32 s_feature_compat`
    pub const S_FEATURE_COMPAT: usize = 92;
    /// `__le32 s_feature_incompat`
    pub const S_FEATURE_INCOMPAT: usize = 96;
    /// `__le32 s_feature_ro_compat`
    pub const S_FEATURE_RO_COMPAT: usize = 100;
    /// `__u8 s_uuid[16]`
    pub const S_UUID: usize = 104;
    /// `char s_volume_name[16]`
    pub const S_VOLUME_NAME: usize = 120;
    /// `char s_last_mounted[64]`
    pub const S_LAST_MOUNTED: usize = 136;
    /// `__le32 s_algorithm_usage_bitmap`
    pub const S_ALGORITHM_USAGE_BITMAP: usize = 200;
    /// `__u8 s_prealloc_blocks`
    pub const S_PREALLOC_BLOCKS: usize = 204;
    /// `__u8 s_prealloc_dir_blocks`
    pub const S_PREALLOC_DIR_BLOCKS: usize = 205;
    /// `__le16 s_reserved_gdt_blocks` (`s_padding1` in ext2.h)
    pub const S_RESERVED_GDT_BLOCKS: usize = 206;
    /// `__u8 s_journal_uuid[16]`
    pub const S_JOURNAL_UUID: usize = 208;
    /// `__le32 s_journal_inum`
    pub const S_JOURNAL_INUM: usize = 224;
    /// `__le32 s_journal_dev`
    pub const S_JOURNAL_DEV: usize = 228;
    /// `__le32 s_last_orphan`
    pub const S_LAST_ORPHAN: usize = 232;
    /// `__le32 s_hash_seed[4]`
    pub const S_HASH_SEED: usize = 236;
    /// `__u8 s_def_hash_version`
    pub const S_DEF_HASH_VERSION: usize = 252;
    /// `__u8 s_reserved_char_pad`
    pub const S_RESERVED_CHAR_PAD: usize = 253;
    /// `__le16 s_reserved_word_pad`
    pub const S_RESERVED_WORD_PAD: usize = 254;
    /// `__le32 s_default_mount_opts`
    pub const S_DEFAULT_MOUNT_OPTS: usize = 256;
    /// `__le32 s_first_meta_bg`
    pub const S_FIRST_META_BG: usize = 260;
    /// `__le32 s_reserved[190]` (padding to the end)
    pub const S_RESERVED: usize = 264;
}

/// Byte offsets in `struct ext2_group_desc` (32 bytes).
pub mod gd_off {
    /// `__le32 bg_block_bitmap`
    pub const BG_BLOCK_BITMAP: usize = 0;
    /// `__le32 bg_inode_bitmap`
    pub const BG_INODE_BITMAP: usize = 4;
    /// `__le32 bg_inode_table`
    pub const BG_INODE_TABLE: usize = 8;
    /// `__le16 bg_free_blocks_count`
    pub const BG_FREE_BLOCKS_COUNT: usize = 12;
    /// `__le16 bg_free_inodes_count`
    pub const BG_FREE_INODES_COUNT: usize = 14;
    /// `__le16 bg_used_dirs_count`
    pub const BG_USED_DIRS_COUNT: usize = 16;
    /// `__le16 bg_pad`
    pub const BG_PAD: usize = 18;
    /// `__le32 bg_reserved[3]`
    pub const BG_RESERVED: usize = 20;
}

/// Byte offsets in `struct ext2_inode` (128 bytes), then in the first ext4 "large inode"
/// fields, present when `s_inode_size > 128` and `i_extra_isize` covers them.
pub mod inode_off {
    /// `__le16 i_mode`
    pub const I_MODE: usize = 0;
    /// `__le16 i_uid` (low 16 bits)
    pub const I_UID: usize = 2;
    /// `__le32 i_size` (low 32 bits)
    pub const I_SIZE: usize = 4;
    /// `__le32 i_atime`
    pub const I_ATIME: usize = 8;
    /// `__le32 i_ctime`
    pub const I_CTIME: usize = 12;
    /// `__le32 i_mtime`
    pub const I_MTIME: usize = 16;
    /// `__le32 i_dtime`
    pub const I_DTIME: usize = 20;
    /// `__le16 i_gid` (low 16 bits)
    pub const I_GID: usize = 24;
    /// `__le16 i_links_count`
    pub const I_LINKS_COUNT: usize = 26;
    /// `__le32 i_blocks` (512-byte units)
    pub const I_BLOCKS: usize = 28;
    /// `__le32 i_flags`
    pub const I_FLAGS: usize = 32;
    /// `__le32 osd1`
    pub const I_OSD1: usize = 36;
    /// `__le32 i_block[15]`
    pub const I_BLOCK: usize = 40;
    /// `__le32 i_generation`
    pub const I_GENERATION: usize = 100;
    /// `__le32 i_file_acl`
    pub const I_FILE_ACL: usize = 104;
    /// `__le32 i_dir_acl` (`i_size_high` for regular files)
    pub const I_DIR_ACL: usize = 108;
    /// `__le32 i_faddr`
    pub const I_FADDR: usize = 112;
    /// `__u8 l_i_frag` (osd2)
    pub const L_I_FRAG: usize = 116;
    /// `__u8 l_i_fsize` (osd2)
    pub const L_I_FSIZE: usize = 117;
    /// `__le16 i_pad1` (osd2)
    pub const I_PAD1: usize = 118;
    /// `__le16 l_i_uid_high` (osd2)
    pub const L_I_UID_HIGH: usize = 120;
    /// `__le16 l_i_gid_high` (osd2)
    pub const L_I_GID_HIGH: usize = 122;
    /// `__le32 l_i_reserved2` (osd2; end of the 128-byte inode)
    pub const L_I_RESERVED2: usize = 124;
    /// `__le16 i_extra_isize` (ext4: bytes used past 128)
    pub const I_EXTRA_ISIZE: usize = 128;
    /// `__le16 i_checksum_hi` (ext4)
    pub const I_CHECKSUM_HI: usize = 130;
    /// `__le32 i_ctime_extra` (ext4: epoch bits and nanoseconds)
    pub const I_CTIME_EXTRA: usize = 132;
    /// `__le32 i_mtime_extra` (ext4)
    pub const I_MTIME_EXTRA: usize = 136;
    /// `__le32 i_atime_extra` (ext4)
    pub const I_ATIME_EXTRA: usize = 140;
}

/// Byte offsets in `struct ext2_dir_entry_2` (an 8-byte header, then the name).
pub mod dirent_off {
    /// `__le32 inode` (0: unused entry)
    pub const INODE: usize = 0;
    /// `__le16 rec_len` (distance to the next entry)
    pub const REC_LEN: usize = 4;
    /// `__u8 name_len`
    pub const NAME_LEN: usize = 6;
    /// `__u8 file_type` (with the `filetype` feature)
    pub const FILE_TYPE: usize = 7;
    /// `char name[]`
    pub const NAME: usize = 8;
}

/// Whether the (offset, size) `fields` follow each other from `at` with no gap or overlap and end
/// at `end`: the layouts above, checked at compile time like erofs' `BUILD_BUG_ON`s.
const fn packed(fields: &[(usize, usize)], at: usize, end: usize) -> bool {
    match fields {
        [] => at == end,
        [(off, size), rest @ ..] => *off == at && packed(rest, at + *size, end),
    }
}

const _: () = assert!(packed(
    &[
        (sb_off::S_INODES_COUNT, 4),
        (sb_off::S_BLOCKS_COUNT, 4),
        (sb_off::S_R_BLOCKS_COUNT, 4),
        (sb_off::S_FREE_BLOCKS_COUNT, 4),
        (sb_off::S_FREE_INODES_COUNT, 4),
        (sb_off::S_FIRST_DATA_BLOCK, 4),
        (sb_off::S_LOG_BLOCK_SIZE, 4),
        (sb_off::S_LOG_FRAG_SIZE, 4),
        (sb_off::S_BLOCKS_PER_GROUP, 4),
        (sb_off::S_FRAGS_PER_GROUP, 4),
        (sb_off::S_INODES_PER_GROUP, 4),
        (sb_off::S_MTIME, 4),
        (sb_off::S_WTIME, 4),
        (sb_off::S_MNT_COUNT, 2),
        (sb_off::S_MAX_MNT_COUNT, 2),
        (sb_off::S_MAGIC, 2),
        (sb_off::S_STATE, 2),
        (sb_off::S_ERRORS, 2),
        (sb_off::S_MINOR_REV_LEVEL, 2),
        (sb_off::S_LASTCHECK, 4),
        (sb_off::S_CHECKINTERVAL, 4),
        (sb_off::S_CREATOR_OS, 4),
        (sb_off::S_REV_LEVEL, 4),
        (sb_off::S_DEF_RESUID, 2),
        (sb_off::S_DEF_RESGID, 2),
        (sb_off::S_FIRST_INO, 4),
        (sb_off::S_INODE_SIZE, 2),
        (sb_off::S_BLOCK_GROUP_NR, 2),
        (sb_off::S_FEATURE_COMPAT, 4),
        (sb_off::S_FEATURE_INCOMPAT, 4),
        (sb_off::S_FEATURE_RO_COMPAT, 4),
        (sb_off::S_UUID, 16),
        (sb_off::S_VOLUME_NAME, 16),
        (sb_off::S_LAST_MOUNTED, 64),
        (sb_off::S_ALGORITHM_USAGE_BITMAP, 4),
        (sb_off::S_PREALLOC_BLOCKS, 1),
        (sb_off::S_PREALLOC_DIR_BLOCKS, 1),
        (sb_off::S_RESERVED_GDT_BLOCKS, 2),
        (sb_off::S_JOURNAL_UUID, 16),
        (sb_off::S_JOURNAL_INUM, 4),
        (sb_off::S_JOURNAL_DEV, 4),
        (sb_off::S_LAST_ORPHAN, 4),
        (sb_off::S_HASH_SEED, 16),
        (sb_off::S_DEF_HASH_VERSION, 1),
        (sb_off::S_RESERVED_CHAR_PAD, 1),
        (sb_off::S_RESERVED_WORD_PAD, 2),
        (sb_off::S_DEFAULT_MOUNT_OPTS, 4),
        (sb_off::S_FIRST_META_BG, 4),
        (sb_off::S_RESERVED, 760),
    ],
    0,
    SUPERBLOCK_SIZE
));
const _: () = assert!(packed(
    &[
        (gd_off::BG_BLOCK_BITMAP, 4),
        (gd_off::BG_INODE_BITMAP, 4),
        (gd_off::BG_INODE_TABLE, 4),
        (gd_off::BG_FREE_BLOCKS_COUNT, 2),
        (gd_off::BG_FREE_INODES_COUNT, 2),
        (gd_off::BG_USED_DIRS_COUNT, 2),
        (gd_off::BG_PAD, 2),
        (gd_off::BG_RESERVED, 12),
    ],
    0,
    GROUP_DESC_SIZE
));
const _: () = assert!(packed(
    &[
        (inode_off::I_MODE, 2),
        (inode_off::I_UID, 2),
        (inode_off::I_SIZE, 4),
        (inode_off::I_ATIME, 4),
        (inode_off::I_CTIME, 4),
        (inode_off::I_MTIME, 4),
        (inode_off::I_DTIME, 4),
        (inode_off::I_GID, 2),
        (inode_off::I_LINKS_COUNT, 2),
        (inode_off::I_BLOCKS, 4),
        (inode_off::I_FLAGS, 4),
        (inode_off::I_OSD1, 4),
        (inode_off::I_BLOCK, 60),
        (inode_off::I_GENERATION, 4),
        (inode_off::I_FILE_ACL, 4),
        (inode_off::I_DIR_ACL, 4),
        (inode_off::I_FADDR, 4),
        (inode_off::L_I_FRAG, 1),
        (inode_off::L_I_FSIZE, 1),
        (inode_off::I_PAD1, 2),
        (inode_off::L_I_UID_HIGH, 2),
        (inode_off::L_I_GID_HIGH, 2),
        (inode_off::L_I_RESERVED2, 4),
    ],
    0,
    GOOD_OLD_INODE_SIZE as usize
));
const _: () = assert!(packed(
    &[
        (inode_off::I_EXTRA_ISIZE, 2),
        (inode_off::I_CHECKSUM_HI, 2),
        (inode_off::I_CTIME_EXTRA, 4),
        (inode_off::I_MTIME_EXTRA, 4),
        (inode_off::I_ATIME_EXTRA, 4),
    ],
    GOOD_OLD_INODE_SIZE as usize,
    inode_off::I_ATIME_EXTRA + 4
));
const _: () = assert!(packed(
    &[
        (dirent_off::INODE, 4),
        (dirent_off::REC_LEN, 2),
        (dirent_off::NAME_LEN, 1),
        (dirent_off::FILE_TYPE, 1),
    ],
    0,
    dirent_off::NAME
));
const _: () = assert!(dirent_off::NAME == DIRENT_HEADER);
const _: () = assert!(inode_off::I_BLOCK + N_BLOCKS * 4 == inode_off::I_GENERATION);
const _: () = assert!(1 << BLOCK_SHIFT == BLOCK_SIZE);

// ---------------------------------------------------------------------------------------------
// Errors.

/// Corrupt metadata, with a one-line reason; becomes `-EUCLEAN` (`-EFSCORRUPTED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt {
    /// What is wrong, e.g. "rec_len not a multiple of 4".
    pub what: &'static str,
}

impl Corrupt {
    /// A corruption described by `what`.
    pub const fn new(what: &'static str) -> Self {
        Self { what }
    }
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

/// Why a superblock cannot be mounted; every variant becomes `-EINVAL`, as in ext2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbError {
    /// Not a superblock we support, or an inconsistent one, with the reason.
    Invalid(&'static str),
    /// INCOMPAT features we do not know (the unknown bits): no mount at all.
    IncompatFeatures(u32),
    /// RO_COMPAT features we do not know (the unknown bits): read-only mounts only.
    /// Returned by [`Superblock::check_writable`], never by [`Superblock::parse`].
    ReadOnlyFeatures(u32),
}

impl From<Corrupt> for SbError {
    fn from(c: Corrupt) -> Self {
        SbError::Invalid(c.what)
    }
}

impl fmt::Display for SbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SbError::Invalid(what) => f.write_str(what),
            SbError::IncompatFeatures(bits) => {
                write!(f, "unsupported incompatible features {:#x}", bits)
            }
            SbError::ReadOnlyFeatures(bits) => {
                write!(f, "unsupported read-only-compatible features {:#x}", bits)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Little-endian decoding and encoding: the one place where bytes become numbers and back.

fn bytes<const N: usize>(buf: &[u8], off: usize) -> Result<[u8; N], Corrupt> {
    let end = off.checked_add(N).ok_or(Corrupt::new("offset overflow"))?;
    buf.get(off..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(Corrupt::new("structure truncated"))
}

/// The little-endian `u16` at byte `off` of `buf`; an error if it does not fit in `buf`.
pub fn le16(buf: &[u8], off: usize) -> Result<u16, Corrupt> {
    bytes::<2>(buf, off).map(u16::from_le_bytes)
}

/// The little-endian `u32` at byte `off` of `buf`; an error if it does not fit in `buf`.
pub fn le32(buf: &[u8], off: usize) -> Result<u32, Corrupt> {
    bytes::<4>(buf, off).map(u32::from_le_bytes)
}

fn put_bytes<const N: usize>(buf: &mut [u8], off: usize, v: [u8; N]) -> Result<(), Corrupt> {
    let end = off.checked_add(N).ok_or(Corrupt::new("offset overflow"))?;
    let dst = buf
        .get_mut(off..end)
        .ok_or(Corrupt::new("structure truncated"))?;
    for (d, s) in dst.iter_mut().zip(v) {
        *d = s;
    }
    Ok(())
}

/// Writes `v` as a little-endian `u16` at byte `off` of `buf` (the counterpart of [`le16`]);
/// an error, with `buf` unchanged, if it does not fit in `buf`.
pub fn put_le16(buf: &mut [u8], off: usize, v: u16) -> Result<(), Corrupt> {
    put_bytes(buf, off, v.to_le_bytes())
}

/// Writes `v` as a little-endian `u32` at byte `off` of `buf` (the counterpart of [`le32`]);
/// an error, with `buf` unchanged, if it does not fit in `buf`.
pub fn put_le32(buf: &mut [u8], off: usize, v: u32) -> Result<(), Corrupt> {
    put_bytes(buf, off, v.to_le_bytes())
}

fn put_byte(buf: &mut [u8], off: usize, v: u8) -> Result<(), Corrupt> {
    put_bytes(buf, off, [v])
}

fn byte(buf: &[u8], off: usize) -> Result<u8, Corrupt> {
    buf.get(off)
        .copied()
        .ok_or(Corrupt::new("structure truncated"))
}

// ---------------------------------------------------------------------------------------------
// Superblock.

/// A parsed and checked superblock.
///
/// # Invariants
///
/// Established by [`Superblock::parse`]: block size 4096, `first_data_block == 0`,
/// `0 < blocks_count`, `0 < blocks_per_group <= 32768`, `0 < inodes_per_group <= 32768`,
/// `inode_size` a power of two in `128..=4096`, `inodes_count == inodes_per_group *
/// group_count()`, `11 <= first_ino <= inodes_count`, the group descriptor table lies inside the
/// filesystem, and each group has room for its bitmaps and inode table.
///
/// The fields are public: for reading, and for the write path to change those that a mounted
/// filesystem changes before it writes them back ([`Superblock::encode_dynamic`]). The methods'
/// answers are meaningful only while the invariants hold, but no method panics even if a field
/// was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Total number of inodes.
    pub inodes_count: u32,
    /// Total number of blocks.
    pub blocks_count: u32,
    /// Blocks reserved for the super user.
    pub r_blocks_count: u32,
    /// Free blocks (as recorded; may be stale).
    pub free_blocks_count: u32,
    /// Free inodes (as recorded; may be stale).
    pub free_inodes_count: u32,
    /// First data block: always 0 with 4096-byte blocks.
    pub first_data_block: u32,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Last mount time (seconds).
    pub mtime: u32,
    /// Last write time (seconds).
    pub wtime: u32,
    /// Mounts since the last check (`s_mnt_count`).
    pub mnt_count: u16,
    /// Mounts allowed between checks (`s_max_mnt_count`; signed, -1: no limit).
    pub max_mnt_count: i16,
    /// Magic number, [`MAGIC`].
    pub magic: u16,
    /// State ([`STATE_VALID`], [`STATE_ERROR`]).
    pub state: u16,
    /// Behaviour on errors (1 continue, 2 remount read-only, 3 panic).
    pub errors: u16,
    /// Time of the last check (seconds, `s_lastcheck`).
    pub lastcheck: u32,
    /// Most seconds allowed between checks (`s_checkinterval`; 0: no limit).
    pub checkinterval: u32,
    /// Revision level ([`GOOD_OLD_REV`] or [`DYNAMIC_REV`]).
    pub rev_level: u32,
    /// Default uid for reserved blocks.
    pub def_resuid: u16,
    /// Default gid for reserved blocks.
    pub def_resgid: u16,
    /// First non-reserved inode (11 for revision 0).
    pub first_ino: u32,
    /// Size of an on-disk inode (128 for revision 0).
    pub inode_size: u16,
    /// COMPAT features (all harmless).
    pub feature_compat: u32,
    /// INCOMPAT features (only [`INCOMPAT_FILETYPE`] after a successful parse).
    pub feature_incompat: u32,
    /// RO_COMPAT features.
    pub feature_ro_compat: u32,
    /// Volume UUID.
    pub uuid: [u8; 16],
    /// Volume name, NUL-padded (see [`Superblock::volume_name`]).
    pub volume_name: [u8; 16],
    /// Default mount options (`EXT2_DEFM_*`).
    pub default_mount_opts: u32,
    /// Blocks reserved after the group descriptor table, in each group with a superblock copy,
    /// for online resizing (`s_reserved_gdt_blocks`; 0 in revision 0).
    pub reserved_gdt_blocks: u16,
    group_count: u32,
    inode_table_blocks: u32,
}

impl Superblock {
    /// Parses and checks the 1024-byte superblock at the start of `buf` (the bytes at
    /// [`SUPERBLOCK_OFFSET`] of the device; longer slices are fine).
    ///
    /// Unknown RO_COMPAT features do not fail here: see [`Superblock::check_writable`].
    pub fn parse(buf: &[u8]) -> Result<Self, SbError> {
        use sb_off::*;
        let raw = buf
            .get(..SUPERBLOCK_SIZE)
            .ok_or(SbError::Invalid("superblock shorter than 1024 bytes"))?;

        let magic = le16(raw, S_MAGIC)?;
        if magic != MAGIC {
            return Err(SbError::Invalid("bad magic number"));
        }
        let rev_level = le32(raw, S_REV_LEVEL)?;
        if rev_level > DYNAMIC_REV {
            return Err(SbError::Invalid("unsupported revision level"));
        }
        if le32(raw, S_LOG_BLOCK_SIZE)? != LOG_BLOCK_SIZE {
            return Err(SbError::Invalid("block size is not 4096"));
        }
        if le32(raw, S_LOG_FRAG_SIZE)? != LOG_BLOCK_SIZE {
            return Err(SbError::Invalid("fragment size differs from block size"));
        }

        let (first_ino, inode_size, compat, incompat, ro_compat) = if rev_level == GOOD_OLD_REV {
            // Revision 0 has no feature fields: they must be the zeroes of the old padding.
            if le32(raw, S_FEATURE_COMPAT)? != 0
                || le32(raw, S_FEATURE_INCOMPAT)? != 0
                || le32(raw, S_FEATURE_RO_COMPAT)? != 0
            {
                return Err(SbError::Invalid("revision 0 superblock with feature flags"));
            }
            (GOOD_OLD_FIRST_INO, GOOD_OLD_INODE_SIZE, 0, 0, 0)
        } else {
            (
                le32(raw, S_FIRST_INO)?,
                le16(raw, S_INODE_SIZE)?,
                le32(raw, S_FEATURE_COMPAT)?,
                le32(raw, S_FEATURE_INCOMPAT)?,
                le32(raw, S_FEATURE_RO_COMPAT)?,
            )
        };
        if incompat & !INCOMPAT_SUPP != 0 {
            return Err(SbError::IncompatFeatures(incompat & !INCOMPAT_SUPP));
        }
        if inode_size < GOOD_OLD_INODE_SIZE
            || !inode_size.is_power_of_two()
            || usize::from(inode_size) > BLOCK_SIZE
        {
            return Err(SbError::Invalid("unsupported inode size"));
        }

        let inodes_count = le32(raw, S_INODES_COUNT)?;
        let blocks_count = le32(raw, S_BLOCKS_COUNT)?;
        let first_data_block = le32(raw, S_FIRST_DATA_BLOCK)?;
        let blocks_per_group = le32(raw, S_BLOCKS_PER_GROUP)?;
        let inodes_per_group = le32(raw, S_INODES_PER_GROUP)?;

        if blocks_count <= first_data_block {
            return Err(SbError::Invalid("blocks_count <= first_data_block"));
        }
        if first_data_block != 0 {
            return Err(SbError::Invalid(
                "first_data_block is not 0 with 4096-byte blocks",
            ));
        }
        if blocks_per_group == 0 || blocks_per_group > MAX_PER_GROUP {
            return Err(SbError::Invalid("invalid blocks_per_group"));
        }
        let inodes_per_block = (BLOCK_SIZE / usize::from(inode_size)) as u32;
        if inodes_per_group == 0
            || inodes_per_group > MAX_PER_GROUP
            || inodes_per_group < inodes_per_block
        {
            return Err(SbError::Invalid("invalid inodes_per_group"));
        }
        // At most 32768 * 4096 bytes: no overflow in u64, and the result fits in u32.
        let table_bytes = u64::from(inodes_per_group) * u64::from(inode_size);
        let inode_table_blocks = table_bytes.div_ceil(BLOCK_SIZE as u64) as u32;
        // At least the superblock, descriptors, both bitmaps and the inode table in a group.
        if blocks_per_group <= inode_table_blocks.saturating_add(3) {
            return Err(SbError::Invalid(
                "blocks_per_group smaller than the group metadata",
            ));
        }

        let group_count = (blocks_count - first_data_block - 1) / blocks_per_group + 1;
        if u64::from(group_count) * u64::from(inodes_per_group) != u64::from(inodes_count) {
            return Err(SbError::Invalid(
                "inodes_count != inodes_per_group * group count",
            ));
        }
        if first_ino < GOOD_OLD_FIRST_INO || first_ino > inodes_count {
            return Err(SbError::Invalid("invalid first_ino"));
        }
        // The descriptor table starts in the block after the superblock's and must end
        // inside the filesystem.
        let gdt_blocks = group_count.div_ceil(DESC_PER_BLOCK);
        let gdt_end = u64::from(first_data_block) + 1 + u64::from(gdt_blocks);
        if gdt_end > u64::from(blocks_count) {
            return Err(SbError::Invalid("group descriptor table past the end"));
        }
        // So must the blocks reserved after it for online resizing (the primary copy's, in
        // group 0); otherwise the image is refused here, with the other superblock errors,
        // rather than later as corrupt group metadata.
        let reserved_gdt_blocks = if rev_level == GOOD_OLD_REV {
            0
        } else {
            le16(raw, S_RESERVED_GDT_BLOCKS)?
        };
        if gdt_end + u64::from(reserved_gdt_blocks) > u64::from(blocks_count) {
            return Err(SbError::Invalid(
                "reserved group descriptor blocks past the end",
            ));
        }

        Ok(Self {
            inodes_count,
            blocks_count,
            r_blocks_count: le32(raw, S_R_BLOCKS_COUNT)?,
            free_blocks_count: le32(raw, S_FREE_BLOCKS_COUNT)?,
            free_inodes_count: le32(raw, S_FREE_INODES_COUNT)?,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            mtime: le32(raw, S_MTIME)?,
            wtime: le32(raw, S_WTIME)?,
            mnt_count: le16(raw, S_MNT_COUNT)?,
            max_mnt_count: le16(raw, S_MAX_MNT_COUNT)? as i16,
            magic,
            state: le16(raw, S_STATE)?,
            errors: le16(raw, S_ERRORS)?,
            lastcheck: le32(raw, S_LASTCHECK)?,
            checkinterval: le32(raw, S_CHECKINTERVAL)?,
            rev_level,
            def_resuid: le16(raw, S_DEF_RESUID)?,
            def_resgid: le16(raw, S_DEF_RESGID)?,
            first_ino,
            inode_size,
            feature_compat: compat,
            feature_incompat: incompat,
            feature_ro_compat: ro_compat,
            uuid: bytes::<16>(raw, S_UUID)?,
            volume_name: bytes::<16>(raw, S_VOLUME_NAME)?,
            default_mount_opts: le32(raw, S_DEFAULT_MOUNT_OPTS)?,
            reserved_gdt_blocks,
            group_count,
            inode_table_blocks,
        })
    }

    /// Refuses a filesystem larger than a device of `device_bytes` bytes.
    pub fn check_fits(&self, device_bytes: u64) -> Result<(), SbError> {
        if u64::from(self.blocks_count) * BLOCK_SIZE as u64 > device_bytes {
            return Err(SbError::Invalid("filesystem larger than the device"));
        }
        Ok(())
    }

    /// Refuses read-write mounts when RO_COMPAT features we do not know are set.
    pub fn check_writable(&self) -> Result<(), SbError> {
        match self.unknown_ro_compat() {
            0 => Ok(()),
            bits => Err(SbError::ReadOnlyFeatures(bits)),
        }
    }

    /// The RO_COMPAT feature bits we do not know (0 if none).
    pub fn unknown_ro_compat(&self) -> u32 {
        self.feature_ro_compat & !RO_COMPAT_SUPP
    }

    /// Whether directory entries carry a file type ([`INCOMPAT_FILETYPE`]).
    pub fn has_filetype(&self) -> bool {
        self.feature_incompat & INCOMPAT_FILETYPE != 0
    }

    /// Whether regular files may exceed 2 GiB ([`RO_COMPAT_LARGE_FILE`]).
    pub fn has_large_file(&self) -> bool {
        self.feature_ro_compat & RO_COMPAT_LARGE_FILE != 0
    }

    /// The volume name, up to its first NUL.
    pub fn volume_name(&self) -> &[u8] {
        let len = self.volume_name.iter().position(|&b| b == 0).unwrap_or(16);
        self.volume_name.get(..len).unwrap_or(&[])
    }

    /// Number of block groups (at least 1).
    pub fn group_count(&self) -> u32 {
        self.group_count
    }

    /// Inodes in one inode table block.
    pub fn inodes_per_block(&self) -> u32 {
        (BLOCK_SIZE as u32)
            .checked_div(u32::from(self.inode_size))
            .unwrap_or(0)
    }

    /// Blocks of one group's inode table.
    pub fn inode_table_blocks(&self) -> u32 {
        self.inode_table_blocks
    }

    /// Blocks of the group descriptor table.
    pub fn gdt_blocks(&self) -> u32 {
        self.group_count.div_ceil(DESC_PER_BLOCK)
    }

    /// Whether `group` holds a copy of the superblock and of the group descriptor table
    /// (followed by the reserved descriptor blocks): every group without `sparse_super`, else
    /// groups 0, 1 and the powers of 3, 5 and 7, as `ext2_group_sparse()` says.
    pub fn group_has_super(&self, group: u32) -> bool {
        fn power_of(mut n: u32, base: u32) -> bool {
            while n > 1 && n % base == 0 {
                n /= base;
            }
            n == 1
        }
        group <= 1
            || self.feature_ro_compat & RO_COMPAT_SPARSE_SUPER == 0
            || power_of(group, 3)
            || power_of(group, 5)
            || power_of(group, 7)
    }

    /// The blocks of the superblock copy of `group` with its descriptor table and reserved
    /// descriptor blocks, as (first block, count); `None` for a group without a copy.
    /// (The copy of group 0 is the primary superblock and table.) The blocks are in the
    /// filesystem; whether they overlap the group's other metadata is for the caller to find.
    pub fn group_super_blocks(&self, group: u32) -> Result<Option<(u32, u32)>, Corrupt> {
        let first = self.group_first_block(group)?;
        if !self.group_has_super(group) {
            return Ok(None);
        }
        let count = 1 + self.gdt_blocks() + u32::from(self.reserved_gdt_blocks);
        if u64::from(first) + u64::from(count) > u64::from(self.blocks_count) {
            return Err(Corrupt::new(
                "superblock copy and descriptor table past the end",
            ));
        }
        Ok(Some((first, count)))
    }

    /// First block of `group`.
    pub fn group_first_block(&self, group: u32) -> Result<u32, Corrupt> {
        if group >= self.group_count {
            return Err(Corrupt::new("group number out of range"));
        }
        // Below blocks_count (group < group_count), so it fits in u32.
        let first =
            u64::from(self.first_data_block) + u64::from(group) * u64::from(self.blocks_per_group);
        u32::try_from(first).map_err(|_| Corrupt::new("group number out of range"))
    }

    /// Last block of `group` (the last group may be short).
    pub fn group_last_block(&self, group: u32) -> Result<u32, Corrupt> {
        let first = self.group_first_block(group)?;
        let last = first.saturating_add(self.blocks_per_group.saturating_sub(1));
        Ok(last.min(self.blocks_count.saturating_sub(1)))
    }

    /// Where the descriptor of `group` is: (block of the descriptor table, byte offset in it).
    pub fn group_desc_location(&self, group: u32) -> Result<(u32, usize), Corrupt> {
        if group >= self.group_count {
            return Err(Corrupt::new("group number out of range"));
        }
        // first_data_block + 1 + gdt_blocks <= blocks_count was checked at parse time.
        let block = self
            .first_data_block
            .checked_add(1 + group / DESC_PER_BLOCK)
            .ok_or(Corrupt::new("group number out of range"))?;
        let offset = (group % DESC_PER_BLOCK) as usize * GROUP_DESC_SIZE;
        Ok((block, offset))
    }

    /// Where inode `ino` is stored; `ino` must be in `1..=inodes_count`.
    pub fn locate_inode(&self, ino: u32) -> Result<InodeLoc, Corrupt> {
        if ino == 0 || ino > self.inodes_count {
            return Err(Corrupt::new("inode number out of range"));
        }
        let index = ino - 1;
        let (Some(group), Some(in_group)) = (
            index.checked_div(self.inodes_per_group),
            index.checked_rem(self.inodes_per_group),
        ) else {
            return Err(Corrupt::new("inode number out of range"));
        };
        // Below inodes_per_group * inode_size <= 32768 * 4096.
        let byte = u64::from(in_group) * u64::from(self.inode_size);
        Ok(InodeLoc {
            group,
            table_block: u32::try_from(byte >> BLOCK_SHIFT)
                .map_err(|_| Corrupt::new("inode number out of range"))?,
            offset: (byte % BLOCK_SIZE as u64) as usize,
            size: usize::from(self.inode_size),
        })
    }

    /// Whether `ino` is an inode the filesystem may open, as `ext2_get_inode()` requires: the
    /// root, or a non-reserved inode in `first_ino..=inodes_count`. A directory entry naming
    /// another inode is corrupt.
    pub fn is_usable_ino(&self, ino: u32) -> bool {
        ino == ROOT_INO || (self.first_ino..=self.inodes_count).contains(&ino)
    }

    /// Checks a block number read from a block map: `Ok(None)` for 0 (a hole), `Ok(Some(blk))`
    /// for a block inside the data area, an error otherwise.
    pub fn check_block_nr(&self, blk: u32) -> Result<Option<u32>, Corrupt> {
        if blk == 0 {
            return Ok(None);
        }
        if blk <= self.first_data_block || blk >= self.blocks_count {
            return Err(Corrupt::new("block number out of range"));
        }
        Ok(Some(blk))
    }

    /// Checks that the `len` blocks from `first` all lie in the data area (like
    /// `ext2_data_block_valid()`); `len` must not be 0.
    pub fn check_extent(&self, first: u32, len: u32) -> Result<(), Corrupt> {
        let last = len
            .checked_sub(1)
            .and_then(|l| first.checked_add(l))
            .ok_or(Corrupt::new("block extent out of range"))?;
        if first <= self.first_data_block || last >= self.blocks_count {
            return Err(Corrupt::new("block extent out of range"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Group descriptors.

/// A parsed group descriptor, checked against the superblock.
///
/// # Invariants
///
/// Both bitmaps and the whole inode table lie inside the group (as `ext2_check_descriptors()`
/// requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupDesc {
    /// Block of the block bitmap.
    pub block_bitmap: u32,
    /// Block of the inode bitmap.
    pub inode_bitmap: u32,
    /// First block of the inode table.
    pub inode_table: u32,
    /// Free blocks in the group.
    pub free_blocks_count: u16,
    /// Free inodes in the group.
    pub free_inodes_count: u16,
    /// Directories in the group.
    pub used_dirs_count: u16,
}

impl GroupDesc {
    /// Parses the descriptor of `group` from `gdt_block`, the block of the descriptor table
    /// given by [`Superblock::group_desc_location`].
    pub fn parse(sb: &Superblock, group: u32, gdt_block: &[u8]) -> Result<Self, Corrupt> {
        let (_, offset) = sb.group_desc_location(group)?;
        let end = offset + GROUP_DESC_SIZE;
        let raw = gdt_block
            .get(offset..end)
            .ok_or(Corrupt::new("group descriptor block truncated"))?;
        Self::from_bytes(sb, group, raw)
    }

    /// Parses the descriptor of `group` from its [`GROUP_DESC_SIZE`] bytes, read at the
    /// location [`Superblock::group_desc_location`] gives.
    pub fn from_bytes(sb: &Superblock, group: u32, raw: &[u8]) -> Result<Self, Corrupt> {
        use gd_off::*;
        let raw = raw
            .get(..GROUP_DESC_SIZE)
            .ok_or(Corrupt::new("group descriptor block truncated"))?;
        let gd = Self {
            block_bitmap: le32(raw, BG_BLOCK_BITMAP)?,
            inode_bitmap: le32(raw, BG_INODE_BITMAP)?,
            inode_table: le32(raw, BG_INODE_TABLE)?,
            free_blocks_count: le16(raw, BG_FREE_BLOCKS_COUNT)?,
            free_inodes_count: le16(raw, BG_FREE_INODES_COUNT)?,
            used_dirs_count: le16(raw, BG_USED_DIRS_COUNT)?,
        };
        let first = sb.group_first_block(group)?;
        let last = sb.group_last_block(group)?;
        let inside = |b: u32| first <= b && b <= last;
        if !inside(gd.block_bitmap) {
            return Err(Corrupt::new("block bitmap not in its group"));
        }
        if !inside(gd.inode_bitmap) {
            return Err(Corrupt::new("inode bitmap not in its group"));
        }
        let table_last = gd
            .inode_table
            .checked_add(sb.inode_table_blocks.saturating_sub(1));
        if !inside(gd.inode_table) || !table_last.is_some_and(inside) {
            return Err(Corrupt::new("inode table not in its group"));
        }
        Ok(gd)
    }
}

// ---------------------------------------------------------------------------------------------
// Inodes.

/// Where an inode is stored, from [`Superblock::locate_inode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InodeLoc {
    /// Block group holding the inode.
    pub group: u32,
    /// Block of the inode within the group's inode table.
    pub table_block: u32,
    /// Byte offset of the inode within that block.
    pub offset: usize,
    /// Size of the inode (`s_inode_size`).
    pub size: usize,
}

impl InodeLoc {
    /// The device block holding the inode, given the descriptor of [`InodeLoc::group`].
    pub fn block(&self, gd: &GroupDesc) -> Result<u32, Corrupt> {
        gd.inode_table
            .checked_add(self.table_block)
            .ok_or(Corrupt::new("inode table past the end"))
    }

    /// The inode's bytes within the inode table block `block`.
    pub fn slice<'a>(&self, block: &'a [u8]) -> Result<&'a [u8], Corrupt> {
        let end = self
            .offset
            .checked_add(self.size)
            .ok_or(Corrupt::new("inode truncated"))?;
        block
            .get(self.offset..end)
            .ok_or(Corrupt::new("inode truncated"))
    }
}

/// The type of an inode, from the top bits of `i_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Regular file (`S_IFREG`).
    Regular,
    /// Directory (`S_IFDIR`).
    Directory,
    /// Symbolic link (`S_IFLNK`).
    Symlink,
    /// Character device (`S_IFCHR`).
    CharDev,
    /// Block device (`S_IFBLK`).
    BlockDev,
    /// Named pipe (`S_IFIFO`).
    Fifo,
    /// Unix socket (`S_IFSOCK`).
    Socket,
}

/// Mask of the file type bits of a mode.
pub const S_IFMT: u16 = 0o170000;

impl FileType {
    /// The type of `mode`; unknown types are corrupt.
    pub fn from_mode(mode: u16) -> Result<Self, Corrupt> {
        match mode & S_IFMT {
            0o100000 => Ok(Self::Regular),
            0o040000 => Ok(Self::Directory),
            0o120000 => Ok(Self::Symlink),
            0o020000 => Ok(Self::CharDev),
            0o060000 => Ok(Self::BlockDev),
            0o010000 => Ok(Self::Fifo),
            0o140000 => Ok(Self::Socket),
            _ => Err(Corrupt::new("unknown file type in i_mode")),
        }
    }

    /// The directory entry type byte (`FT_*`) for this type.
    pub fn dirent_type(self) -> u8 {
        match self {
            Self::Regular => FT_REG_FILE,
            Self::Directory => FT_DIR,
            Self::Symlink => FT_SYMLINK,
            Self::CharDev => FT_CHRDEV,
            Self::BlockDev => FT_BLKDEV,
            Self::Fifo => FT_FIFO,
            Self::Socket => FT_SOCK,
        }
    }
}

/// A timestamp: seconds since the epoch and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Timestamp {
    /// Seconds since 1970 (may be negative).
    pub sec: i64,
    /// Nanoseconds, below 1_000_000_000.
    pub nsec: u32,
}

impl Timestamp {
    /// Decodes a 32-bit seconds field and, when the inode has it, its `*_extra` field, as ext4
    /// does: the seconds are signed, the 2 low bits of `extra` extend them by multiples of 2^32
    /// and the other 30 bits are nanoseconds (clamped to 999_999_999 if out of range).
    pub fn decode(sec: u32, extra: Option<u32>) -> Self {
        let mut ts = Self {
            sec: i64::from(sec as i32),
            nsec: 0,
        };
        if let Some(extra) = extra {
            ts.sec += i64::from(extra & 3) << 32;
            ts.nsec = (extra >> 2).min(999_999_999);
        }
        ts
    }
}

/// A parsed inode.
///
/// # Invariants
///
/// If not [deleted](Inode::is_deleted): the file type is known, `size` is below 2^63, a
/// directory's size is a non-zero multiple of the block size, and `file_acl` is 0 or a block
/// inside the data area (what [`Inode::check`] checks).
///
/// # The block map and symlink targets
///
/// [`Inode::block`] is the truth about `i_block`, for every kind of inode: [`Inode::encode`]
/// writes it, in on-disk (little-endian) byte order. The target of a fast symlink is those same
/// 60 bytes; the inode keeps a private copy of them, which [`Inode::parse`],
/// [`Inode::set_fast_symlink`] and [`Inode::set_rdev`] keep equal to `block`, so that
/// [`Inode::fast_symlink_target`] can lend it out. A fast symlink's target changed through
/// `block` directly is refused by `fast_symlink_target` (never served stale); use
/// `set_fast_symlink`. Equality compares the fields, not that copy.
#[derive(Clone, Debug)]
pub struct Inode {
    /// File type and permission bits.
    pub mode: u16,
    /// Owner: `i_uid | l_i_uid_high << 16`.
    pub uid: u32,
    /// Group: `i_gid | l_i_gid_high << 16`.
    pub gid: u32,
    /// Size in bytes; `i_size_high` supplies the upper 32 bits for regular files only.
    pub size: u64,
    /// Access time.
    pub atime: Timestamp,
    /// Inode change time.
    pub ctime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Deletion time (seconds; non-zero only for deleted inodes).
    pub dtime: u32,
    /// Number of hard links.
    pub links_count: u16,
    /// Blocks used, data, indirect and extended attribute blocks, in 512-byte units.
    pub blocks: u32,
    /// Inode flags (`FL_*`).
    pub flags: u32,
    /// The block map: 12 direct blocks, then single, double and triple indirect blocks.
    pub block: [u32; N_BLOCKS],
    /// File version (for NFS).
    pub generation: u32,
    /// Extended attribute block, or 0.
    pub file_acl: u32,
    /// `i_dir_acl` of non-regular files (0 for regular files, where it is `i_size_high`).
    pub dir_acl: u32,
    /// Bytes used past the first 128 (0 for 128-byte inodes).
    pub extra_isize: u16,
    block_bytes: [u8; N_BLOCKS * 4],
}

impl Inode {
    /// Parses an inode from `raw`, its `sb.inode_size` bytes (see [`InodeLoc::slice`]).
    ///
    /// A deleted inode parses; check [`Inode::is_deleted`] before using it.
    pub fn parse(sb: &Superblock, raw: &[u8]) -> Result<Self, Corrupt> {
        use inode_off::*;
        let raw = raw
            .get(..usize::from(sb.inode_size))
            .ok_or(Corrupt::new("inode truncated"))?;

        let mut extra_isize = 0;
        if raw.len() > usize::from(GOOD_OLD_INODE_SIZE) {
            extra_isize = le16(raw, I_EXTRA_ISIZE)?;
            if usize::from(GOOD_OLD_INODE_SIZE) + usize::from(extra_isize) > raw.len()
                || extra_isize % 4 != 0
            {
                return Err(Corrupt::new("bad i_extra_isize"));
            }
        }
        // An `*_extra` field counts only when i_extra_isize covers it.
        let extra = |off: usize| -> Result<Option<u32>, Corrupt> {
            if off + 4 <= usize::from(GOOD_OLD_INODE_SIZE) + usize::from(extra_isize) {
                le32(raw, off).map(Some)
            } else {
                Ok(None)
            }
        };

        let block_bytes = bytes::<{ N_BLOCKS * 4 }>(raw, I_BLOCK)?;
        let mut block = [0u32; N_BLOCKS];
        for (i, b) in block.iter_mut().enumerate() {
            *b = le32(&block_bytes, i * 4)?;
        }

        let mode = le16(raw, I_MODE)?;
        let size_lo = le32(raw, I_SIZE)?;
        let dir_acl_or_size_high = le32(raw, I_DIR_ACL)?;
        let regular = mode & S_IFMT == 0o100000;
        let (size, dir_acl) = if regular {
            (
                (u64::from(dir_acl_or_size_high) << 32) | u64::from(size_lo),
                0,
            )
        } else {
            (u64::from(size_lo), dir_acl_or_size_high)
        };

        let inode = Self {
            mode,
            uid: u32::from(le16(raw, I_UID)?) | u32::from(le16(raw, L_I_UID_HIGH)?) << 16,
            gid: u32::from(le16(raw, I_GID)?) | u32::from(le16(raw, L_I_GID_HIGH)?) << 16,
            size,
            atime: Timestamp::decode(le32(raw, I_ATIME)?, extra(I_ATIME_EXTRA)?),
            ctime: Timestamp::decode(le32(raw, I_CTIME)?, extra(I_CTIME_EXTRA)?),
            mtime: Timestamp::decode(le32(raw, I_MTIME)?, extra(I_MTIME_EXTRA)?),
            dtime: le32(raw, I_DTIME)?,
            links_count: le16(raw, I_LINKS_COUNT)?,
            blocks: le32(raw, I_BLOCKS)?,
            flags: le32(raw, I_FLAGS)?,
            block,
            generation: le32(raw, I_GENERATION)?,
            file_acl: le32(raw, I_FILE_ACL)?,
            dir_acl,
            extra_isize,
            block_bytes,
        };
        inode.check(sb)?;
        Ok(inode)
    }

    /// The checks [`Inode::parse`] makes of the values it read (the type's invariants): none
    /// for a [deleted](Inode::is_deleted) inode; else a non-zero `links_count`, a known file
    /// type, `size` below 2^63, a directory size that is a non-zero multiple of the block size,
    /// and `file_acl` 0 or a block in the data area. An inode that fails them is what `parse`
    /// refuses; the write path may call this before [`Inode::encode`] (which checks only what
    /// the format cannot hold, so that a new directory can be written before its first block).
    pub fn check(&self, sb: &Superblock) -> Result<(), Corrupt> {
        if self.is_deleted() {
            return Ok(());
        }
        if self.links_count == 0 {
            return Err(Corrupt::new("zero links_count with a mode and no dtime"));
        }
        let ftype = self.file_type()?;
        if self.size > i64::MAX as u64 {
            return Err(Corrupt::new("negative i_size"));
        }
        if ftype == FileType::Directory && (self.size == 0 || self.size % BLOCK_SIZE as u64 != 0) {
            return Err(Corrupt::new(
                "directory size not a non-zero multiple of the block size",
            ));
        }
        if self.file_acl != 0 {
            sb.check_extent(self.file_acl, 1)
                .map_err(|_| Corrupt::new("bad extended attribute block"))?;
        }
        Ok(())
    }

    /// Parses the inode at `loc` from its inode table block (see [`InodeLoc::block`]).
    pub fn from_table_block(
        sb: &Superblock,
        loc: &InodeLoc,
        block: &[u8],
    ) -> Result<Self, Corrupt> {
        Self::parse(sb, loc.slice(block)?)
    }

    /// Whether the inode is free/deleted, by ext2's rule: no links, and no mode or a dtime.
    pub fn is_deleted(&self) -> bool {
        self.links_count == 0 && (self.mode == 0 || self.dtime != 0)
    }

    /// The file type; unknown types are corrupt.
    pub fn file_type(&self) -> Result<FileType, Corrupt> {
        FileType::from_mode(self.mode)
    }

    /// The permission bits (`mode & 0o7777`).
    pub fn perm(&self) -> u16 {
        self.mode & 0o7777
    }

    /// Whether this is a symlink with its target in `i_block` (ext2's rule: no blocks other
    /// than an extended attribute block).
    pub fn is_fast_symlink(&self) -> bool {
        let ea_blocks = if self.file_acl != 0 {
            (BLOCK_SIZE / 512) as u32
        } else {
            0
        };
        self.file_type() == Ok(FileType::Symlink) && self.blocks.checked_sub(ea_blocks) == Some(0)
    }

    /// The target of a fast symlink: the first `size` bytes of `i_block`; `size` must be in
    /// `1..60`. An error also if [`Inode::block`] was changed directly since the target was
    /// parsed or set (see [`Inode`]).
    pub fn fast_symlink_target(&self) -> Result<&[u8], Corrupt> {
        if !self.is_fast_symlink() {
            return Err(Corrupt::new("not a fast symlink"));
        }
        if self.size == 0 || self.size >= self.block_bytes.len() as u64 {
            return Err(Corrupt::new("bad fast symlink length"));
        }
        if self.block_bytes != block_to_bytes(&self.block) {
            return Err(Corrupt::new("fast symlink target changed through i_block"));
        }
        self.block_bytes
            .get(..self.size as usize)
            .ok_or(Corrupt::new("bad fast symlink length"))
    }

    /// The target of a slow symlink: the first `size` bytes of its first data block `block`;
    /// `size` must be in `1..4096`.
    pub fn slow_symlink_target<'a>(&self, block: &'a [u8]) -> Result<&'a [u8], Corrupt> {
        if self.file_type() != Ok(FileType::Symlink) || self.is_fast_symlink() {
            return Err(Corrupt::new("not a slow symlink"));
        }
        if self.size == 0 || self.size >= BLOCK_SIZE as u64 {
            return Err(Corrupt::new("bad symlink length"));
        }
        block
            .get(..self.size as usize)
            .ok_or(Corrupt::new("symlink block truncated"))
    }

    /// The device number of a device inode as (major, minor), decoded like ext2: the old 8:8
    /// encoding in `i_block[0]` if non-zero, else the new 12:20 encoding in `i_block[1]`.
    pub fn rdev(&self) -> (u32, u32) {
        let [old, new, ..] = self.block;
        if old != 0 {
            let old = old as u16;
            (u32::from(old >> 8), u32::from(old & 0xff))
        } else {
            ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Block map.

/// Where the block map keeps a logical block: the `i_block` slot, then the index in each
/// indirect block on the way (each below [`ADDR_PER_BLOCK`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockPath {
    /// `i_block[n]`, `n < 12`.
    Direct(u32),
    /// `i_block[12]`, then entry `n` of that block.
    Indirect(u32),
    /// `i_block[13]`, then entries `a` and `b` of the blocks on the way.
    Double(u32, u32),
    /// `i_block[14]`, then entries `a`, `b` and `c` of the blocks on the way.
    Triple(u32, u32, u32),
}

/// The indices of a [`BlockPath`], root first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathIndices {
    idx: [u32; 4],
    len: usize,
}

impl PathIndices {
    /// The indices: first into `i_block`, then into each indirect block.
    pub fn as_slice(&self) -> &[u32] {
        self.idx.get(..self.len).unwrap_or(&[])
    }
}

impl BlockPath {
    /// The path to logical block `lblk`; blocks past [`MAX_MAPPED_BLOCKS`] cannot be mapped (the
    /// caller keeps file sizes below [`MAX_FILE_SIZE`], so this means corruption).
    pub fn new(lblk: u64) -> Result<Self, Corrupt> {
        const N: u64 = ADDR_PER_BLOCK as u64;
        // Every value cast below is under N or under 12.
        let mut l = lblk;
        if l < NDIR_BLOCKS as u64 {
            return Ok(Self::Direct(l as u32));
        }
        l -= NDIR_BLOCKS as u64;
        if l < N {
            return Ok(Self::Indirect(l as u32));
        }
        l -= N;
        if l < N * N {
            return Ok(Self::Double((l / N) as u32, (l % N) as u32));
        }
        l -= N * N;
        if l < N * N * N {
            return Ok(Self::Triple(
                (l / (N * N)) as u32,
                ((l / N) % N) as u32,
                (l % N) as u32,
            ));
        }
        Err(Corrupt::new("logical block past the triple indirect range"))
    }

    /// Number of indirect blocks on the path (0 to 3).
    pub fn depth(&self) -> usize {
        match self {
            Self::Direct(_) => 0,
            Self::Indirect(_) => 1,
            Self::Double(..) => 2,
            Self::Triple(..) => 3,
        }
    }

    /// The indices on the path: into `i_block` first, then into each indirect block.
    pub fn indices(&self) -> PathIndices {
        let (idx, len) = match *self {
            Self::Direct(n) => ([n, 0, 0, 0], 1),
            Self::Indirect(n) => ([IND_BLOCK as u32, n, 0, 0], 2),
            Self::Double(a, b) => ([DIND_BLOCK as u32, a, b, 0], 3),
            Self::Triple(a, b, c) => ([TIND_BLOCK as u32, a, b, c], 4),
        };
        PathIndices { idx, len }
    }

    /// A number naming the indirect block at `level` (1 to [`BlockPath::depth`]) of this path
    /// among all the indirect blocks a block map can have, below [`INDIRECT_IDS`]: the single
    /// indirect block is 0, the double indirect block 1 and its children `2 + a`, the triple
    /// indirect block 1026, its children `1027 + a` and theirs `2051 + a * 1024 + b`. `None`
    /// for a level the path does not have.
    pub fn indirect_id(&self, level: usize) -> Option<u32> {
        const N: u32 = ADDR_PER_BLOCK;
        match (*self, level) {
            (Self::Indirect(_), 1) => Some(0),
            (Self::Double(..), 1) => Some(1),
            (Self::Double(a, _), 2) => Some(2 + a),
            (Self::Triple(..), 1) => Some(2 + N),
            (Self::Triple(a, ..), 2) => Some(3 + N + a),
            (Self::Triple(a, b, _), 3) => Some(3 + 2 * N + a * N + b),
            _ => None,
        }
    }

    /// Entries from this one to the end of the last table on the path (`i_block`'s 12 direct
    /// slots, or the last indirect block): the most blocks one lookup there can map.
    pub fn leaf_remaining(&self) -> u32 {
        match *self {
            Self::Direct(n) => (NDIR_BLOCKS as u32).saturating_sub(n),
            Self::Indirect(n) | Self::Double(_, n) | Self::Triple(_, _, n) => {
                ADDR_PER_BLOCK.saturating_sub(n)
            }
        }
    }
}

/// Number of indirect blocks one block map can have (see [`BlockPath::indirect_id`]).
pub const INDIRECT_IDS: u32 = 3 + 2 * ADDR_PER_BLOCK + ADDR_PER_BLOCK * ADDR_PER_BLOCK;

/// Entry `index` of the indirect block `block` (a block number, 0 for a hole).
pub fn indirect_entry(block: &[u8], index: u32) -> Result<u32, Corrupt> {
    if index >= ADDR_PER_BLOCK {
        return Err(Corrupt::new("indirect block index out of range"));
    }
    le32(block, index as usize * 4).map_err(|_| Corrupt::new("indirect block truncated"))
}

/// Counts, from `start` and at most `max`, the entries of a table of block numbers that
/// continue the entry at `start`: all holes if it is 0, else physically consecutive blocks.
fn run_len(
    entry: impl Fn(u32) -> Result<u32, Corrupt>,
    start: u32,
    end: u32,
    max: u32,
) -> Result<u32, Corrupt> {
    let first = entry(start)?;
    let limit = end.saturating_sub(start).min(max);
    let mut n = 1;
    while n < limit {
        let want = if first == 0 { 0 } else { first.wrapping_add(n) };
        if first != 0 && want == 0 {
            break; // Block numbers would wrap around.
        }
        if entry(start + n)? != want {
            break;
        }
        n += 1;
    }
    Ok(n.min(limit))
}

/// In the indirect block `block`, the number of entries from `start` (at most `max`, and not
/// past the end of the block) that continue entry `start`: a run of holes if it is 0, else a
/// run of physically consecutive blocks, which one iomap extent can map. Returns 0 only when
/// `max` is 0. The caller still checks the run with [`Superblock::check_extent`].
pub fn contiguous_run(block: &[u8], start: u32, max: u32) -> Result<u32, Corrupt> {
    if max == 0 {
        indirect_entry(block, start)?;
        return Ok(0);
    }
    run_len(|i| indirect_entry(block, i), start, ADDR_PER_BLOCK, max)
}

/// Like [`contiguous_run`] for the direct blocks `i_block[start..12]`.
pub fn direct_run(block: &[u32; N_BLOCKS], start: u32, max: u32) -> Result<u32, Corrupt> {
    let entry = |i: u32| {
        if (i as usize) < NDIR_BLOCKS {
            block
                .get(i as usize)
                .copied()
                .ok_or(Corrupt::new("direct block index out of range"))
        } else {
            Err(Corrupt::new("direct block index out of range"))
        }
    };
    if max == 0 {
        entry(start)?;
        return Ok(0);
    }
    run_len(entry, start, NDIR_BLOCKS as u32, max)
}

const fn max_file_size() -> u64 {
    // ext2_max_size() for 4096-byte blocks.
    const PPB: u64 = ADDR_PER_BLOCK as u64;
    let mut upper_limit: u64 = ((1u64 << 32) - 1) >> (BLOCK_SHIFT - 9);
    let mut res: u64 = MAX_MAPPED_BLOCKS;
    let mut meta_blocks: u64 = 1 + (1 + PPB) + (1 + PPB + PPB * PPB);
    if res + meta_blocks > upper_limit {
        res = upper_limit;
        upper_limit -= NDIR_BLOCKS as u64;
        meta_blocks = 1;
        upper_limit -= PPB;
        if upper_limit < PPB * PPB {
            meta_blocks += 1 + upper_limit.div_ceil(PPB);
        } else {
            meta_blocks += 1 + PPB;
            upper_limit -= PPB * PPB;
            meta_blocks += 1 + upper_limit.div_ceil(PPB) + upper_limit.div_ceil(PPB * PPB);
        }
        res -= meta_blocks;
    }
    res << BLOCK_SHIFT
}

// ---------------------------------------------------------------------------------------------
// Directories.

/// A used directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Inode number (never 0: unused entries are skipped).
    pub inode: u32,
    /// Length of the record, up to the next entry.
    pub rec_len: u16,
    /// The name: 1 to 255 bytes, no `/` and no NUL.
    pub name: &'a [u8],
    /// File type (`FT_*`); [`FT_UNKNOWN`] without the `filetype` feature.
    pub file_type: u8,
    /// Byte offset of the entry in its block.
    pub offset: usize,
}

/// Iterator over the used entries of one directory block, from [`dir_entries`].
///
/// Each entry is checked as `ext2_check_folio()` does: `rec_len` at least 12, a multiple of 4,
/// at least `8 + name_len` rounded up to 4, not crossing the block end, and an inode number not
/// above `inodes_count`. In addition, used entries must have a non-empty name without `/` or NUL
/// bytes (ext2 does not check this, but such names cannot be looked up or listed sanely; the
/// walk of [`dir_entries_by_name`] does not look at the bytes).
/// Unused entries (inode 0) are checked the same way, except for their name, and skipped.
///
/// After an error the iterator ends; [`DirIter::offset`] then tells where the bad entry is.
#[derive(Clone, Debug)]
pub struct DirIter<'a> {
    block: &'a [u8],
    offset: usize,
    inodes_count: u32,
    filetype: bool,
    /// Check the bytes of used entries' names (see [`dir_entries_by_name`]).
    names: bool,
    done: bool,
}

/// The used entries of the directory block `block`, which must be exactly 4096 bytes.
pub fn dir_entries<'a>(sb: &Superblock, block: &'a [u8]) -> DirIter<'a> {
    DirIter {
        block,
        offset: 0,
        inodes_count: sb.inodes_count,
        filetype: sb.has_filetype(),
        names: true,
        done: false,
    }
}

/// [`dir_entries`] for a search by name and for finding room: every check but the one of
/// the bytes of the names (`/` and NUL), which costs as much as the rest of the walk.  A name
/// that holds either can never equal a name being looked up (the VFS gives none such), and
/// the room a record leaves depends only on its lengths; whatever lists or returns the names
/// of a block walks it with [`dir_entries`].
pub fn dir_entries_by_name<'a>(sb: &Superblock, block: &'a [u8]) -> DirIter<'a> {
    DirIter { names: false, ..dir_entries(sb, block) }
}

impl<'a> DirIter<'a> {
    /// Offset of the next entry, or of the bad entry after an error.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Checks the entry at `self.offset`; returns it and its `rec_len`.
    fn entry(&self) -> Result<(DirEntry<'a>, usize), Corrupt> {
        use dirent_off::*;
        if self.block.len() != BLOCK_SIZE {
            return Err(Corrupt::new("directory block is not 4096 bytes"));
        }
        let off = self.offset;
        let left = BLOCK_SIZE.saturating_sub(off);
        if left < DIRENT_MIN {
            return Err(Corrupt::new("directory entry header crosses the block end"));
        }
        let raw = self
            .block
            .get(off..)
            .ok_or(Corrupt::new("directory entry out of block"))?;
        let inode = le32(raw, INODE)?;
        let rec_len = le16(raw, REC_LEN)?;
        let name_len = usize::from(byte(raw, NAME_LEN)?);
        let file_type = byte(raw, FILE_TYPE)?;
        let rec = usize::from(rec_len);
        if rec < DIRENT_MIN {
            return Err(Corrupt::new("rec_len smaller than 12"));
        }
        if rec % 4 != 0 {
            return Err(Corrupt::new("rec_len not a multiple of 4"));
        }
        if rec < (DIRENT_HEADER + name_len).next_multiple_of(4) {
            return Err(Corrupt::new("rec_len too small for name_len"));
        }
        if rec > left {
            return Err(Corrupt::new("directory entry crosses the block end"));
        }
        if inode > self.inodes_count {
            return Err(Corrupt::new("inode number out of range in directory entry"));
        }
        let name = raw
            .get(NAME..NAME + name_len)
            .ok_or(Corrupt::new("name out of block"))?;
        if inode != 0 {
            if name_len == 0 {
                return Err(Corrupt::new("empty name in directory entry"));
            }
            if self.names && name.iter().any(|&b| b == b'/' || b == 0) {
                return Err(Corrupt::new("'/' or NUL in directory entry name"));
            }
        }
        let file_type = if self.filetype { file_type } else { FT_UNKNOWN };
        Ok((
            DirEntry {
                inode,
                rec_len,
                name,
                file_type,
                offset: off,
            },
            rec,
        ))
    }
}

impl<'a> DirIter<'a> {
    /// The next record, used or not (an unused one has `inode` 0 and its stale name), checked
    /// as [`DirIter`] says; the writers below walk blocks with it.
    fn next_record(&mut self) -> Option<Result<DirEntry<'a>, Corrupt>> {
        if self.done || self.offset >= BLOCK_SIZE {
            self.done = true;
            return None;
        }
        match self.entry() {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok((entry, rec)) => {
                // rec >= 12: always advances.
                self.offset += rec;
                Some(Ok(entry))
            }
        }
    }
}

impl<'a> Iterator for DirIter<'a> {
    type Item = Result<DirEntry<'a>, Corrupt>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_record()? {
                Ok(entry) if entry.inode == 0 => continue,
                r => return Some(r),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.
//
// Every writer checks all it needs before it writes its first byte, so that on an error the
// buffer is unchanged, and changes only the bytes of the fields it models: bytes the parsers do
// not read (reserved fields, ext4 fields, stale names) stay as they were.

impl Superblock {
    /// Writes into `raw`, the 1024 bytes of an existing superblock (as [`Superblock::parse`]
    /// takes them; longer slices are fine), the fields a mounted read-write filesystem changes:
    /// `s_free_blocks_count`, `s_free_inodes_count`, `s_mtime`, `s_wtime`, `s_mnt_count`,
    /// `s_state` and the three feature words. Every other byte of `raw` stays as it was.
    ///
    /// Errors, with `raw` unchanged: `raw` shorter than 1024 bytes or without the superblock
    /// magic number; feature flags on a revision 0 superblock (which has no feature fields:
    /// they stay zero, and are not written); INCOMPAT features xipfs does not know (it could
    /// not mount the result).
    pub fn encode_dynamic(&self, raw: &mut [u8]) -> Result<(), Corrupt> {
        use sb_off::*;
        let raw = raw
            .get_mut(..SUPERBLOCK_SIZE)
            .ok_or(Corrupt::new("superblock shorter than 1024 bytes"))?;
        if le16(raw, S_MAGIC)? != MAGIC {
            return Err(Corrupt::new(
                "no superblock magic number where it is written",
            ));
        }
        let features = self.feature_compat | self.feature_incompat | self.feature_ro_compat;
        if self.rev_level == GOOD_OLD_REV && features != 0 {
            return Err(Corrupt::new("feature flags on a revision 0 superblock"));
        }
        if self.feature_incompat & !INCOMPAT_SUPP != 0 {
            return Err(Corrupt::new("unsupported incompatible features"));
        }
        put_le32(raw, S_FREE_BLOCKS_COUNT, self.free_blocks_count)?;
        put_le32(raw, S_FREE_INODES_COUNT, self.free_inodes_count)?;
        put_le32(raw, S_MTIME, self.mtime)?;
        put_le32(raw, S_WTIME, self.wtime)?;
        put_le16(raw, S_MNT_COUNT, self.mnt_count)?;
        put_le16(raw, S_STATE, self.state)?;
        if self.rev_level != GOOD_OLD_REV {
            put_le32(raw, S_FEATURE_COMPAT, self.feature_compat)?;
            put_le32(raw, S_FEATURE_INCOMPAT, self.feature_incompat)?;
            put_le32(raw, S_FEATURE_RO_COMPAT, self.feature_ro_compat)?;
        }
        Ok(())
    }
}

impl GroupDesc {
    /// Writes the counters into `raw`, the descriptor's [`GROUP_DESC_SIZE`] bytes (as
    /// [`GroupDesc::from_bytes`] takes them; longer slices are fine): `bg_free_blocks_count`,
    /// `bg_free_inodes_count` and `bg_used_dirs_count`. The other bytes stay as they were.
    /// An error, with `raw` unchanged, if `raw` is too short.
    pub fn encode_counts(&self, raw: &mut [u8]) -> Result<(), Corrupt> {
        use gd_off::*;
        let raw = raw
            .get_mut(..GROUP_DESC_SIZE)
            .ok_or(Corrupt::new("group descriptor block truncated"))?;
        put_le16(raw, BG_FREE_BLOCKS_COUNT, self.free_blocks_count)?;
        put_le16(raw, BG_FREE_INODES_COUNT, self.free_inodes_count)?;
        put_le16(raw, BG_USED_DIRS_COUNT, self.used_dirs_count)?;
        Ok(())
    }
}

impl Timestamp {
    /// Earliest time an inode with `*_extra` fields holds: -2^31 s.
    pub const MIN_SEC: i64 = -(1 << 31);
    /// Latest time an inode with `*_extra` fields holds: 2^34 - 2^31 - 1 s (year 2446).
    pub const MAX_SEC: i64 = (1 << 34) - (1 << 31) - 1;

    /// Encodes as ext4 does (`ext4_encode_extra_time`): (the 32-bit seconds field, the
    /// `*_extra` field), the low 32 bits of the seconds, then `(sec - (sec as i32)) >> 32` in
    /// the 2 low bits of `extra` and the nanoseconds in its upper 30 bits. The exact inverse of
    /// `Timestamp::decode(sec, Some(extra))` for seconds in [`Timestamp::MIN_SEC`]..=
    /// [`Timestamp::MAX_SEC`] and nanoseconds below 10^9; seconds out of that range are
    /// clamped to it, nanoseconds to 999_999_999 (as `decode` does).
    pub fn encode(self) -> (u32, u32) {
        let sec = self.sec.clamp(Self::MIN_SEC, Self::MAX_SEC);
        let low = sec as i32;
        // In 0..=3 for sec in range; no overflow (|sec| < 2^35).
        let epoch = ((sec - i64::from(low)) >> 32) as u32 & 3;
        let nsec = self.nsec.min(999_999_999);
        (low as u32, epoch | nsec << 2)
    }

    /// Encodes for an inode without the `*_extra` field: the seconds clamped to the signed
    /// 32-bit range (as ext4 does), the nanoseconds dropped. `decode(encode_sec32(), None)`
    /// gives the clamped seconds back.
    pub fn encode_sec32(self) -> u32 {
        self.sec.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32 as u32
    }
}

/// `block` in on-disk byte order.
fn block_to_bytes(block: &[u32; N_BLOCKS]) -> [u8; N_BLOCKS * 4] {
    let mut out = [0u8; N_BLOCKS * 4];
    for (chunk, w) in out.chunks_exact_mut(4).zip(block) {
        for (d, s) in chunk.iter_mut().zip(w.to_le_bytes()) {
            *d = s;
        }
    }
    out
}

/// `bytes` read as `i_block`.
fn bytes_to_block(bytes: &[u8; N_BLOCKS * 4]) -> [u32; N_BLOCKS] {
    let mut out = [0u32; N_BLOCKS];
    for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        let mut b = [0u8; 4];
        for (d, s) in b.iter_mut().zip(chunk) {
            *d = *s;
        }
        *w = u32::from_le_bytes(b);
    }
    out
}

impl PartialEq for Inode {
    /// Equal fields (the private copy of `i_block`'s bytes is derived from [`Inode::block`]
    /// and left out: see [`Inode`]).
    fn eq(&self, other: &Self) -> bool {
        // Destructured, so that a new field cannot be forgotten here.
        let Self {
            mode,
            uid,
            gid,
            size,
            atime,
            ctime,
            mtime,
            dtime,
            links_count,
            blocks,
            flags,
            block,
            generation,
            file_acl,
            dir_acl,
            extra_isize,
            block_bytes: _,
        } = self;
        *mode == other.mode
            && *uid == other.uid
            && *gid == other.gid
            && *size == other.size
            && *atime == other.atime
            && *ctime == other.ctime
            && *mtime == other.mtime
            && *dtime == other.dtime
            && *links_count == other.links_count
            && *blocks == other.blocks
            && *flags == other.flags
            && *block == other.block
            && *generation == other.generation
            && *file_acl == other.file_acl
            && *dir_acl == other.dir_acl
            && *extra_isize == other.extra_isize
    }
}

impl Eq for Inode {}

/// `i_extra_isize` of new inodes when the inode has room for the nanosecond fields (as mke2fs
/// sets `s_want_extra_isize` for 256-byte inodes).
pub const NEW_EXTRA_ISIZE: u16 = 32;

impl Inode {
    /// A new in-use inode, as `ext2_new_inode()` makes it: `mode` (type and permissions),
    /// owner, one link, size 0, no blocks, an empty block map, no flags, no extended attribute
    /// block, `atime = mtime = ctime = now`, no `dtime`, and `i_extra_isize` 32 when the
    /// superblock's inodes have room for it (256 bytes and more), else 0.
    ///
    /// Its slot in the inode table should be zeroed before it is written, as ext2 does for new
    /// inodes ([`Inode::encode_new`]). A new directory needs its first block and a size of 4096
    /// before it satisfies [`Inode::check`]; `mode` is not checked here.
    pub fn new(
        mode: u16,
        uid: u32,
        gid: u32,
        now: Timestamp,
        generation: u32,
        sb: &Superblock,
    ) -> Self {
        let extra_isize = if sb.inode_size >= GOOD_OLD_INODE_SIZE + NEW_EXTRA_ISIZE {
            NEW_EXTRA_ISIZE
        } else {
            0
        };
        Self {
            mode,
            uid,
            gid,
            size: 0,
            atime: now,
            ctime: now,
            mtime: now,
            dtime: 0,
            links_count: 1,
            blocks: 0,
            flags: 0,
            block: [0; N_BLOCKS],
            generation,
            file_acl: 0,
            dir_acl: 0,
            extra_isize,
            block_bytes: [0; N_BLOCKS * 4],
        }
    }

    /// Whether `i_extra_isize` covers the `u32` field at byte `off` of the inode (the rule of
    /// [`Inode::parse`] for the `*_extra` fields).
    fn covers(&self, off: usize) -> bool {
        off + 4 <= usize::from(GOOD_OLD_INODE_SIZE) + usize::from(self.extra_isize)
    }

    /// Whether the inode has all three `*_extra` time fields (nanoseconds and epoch bits)
    /// inside `i_extra_isize` (at least 16 bytes), by the rule [`Inode::parse`] applies to each:
    /// a field counts only when `i_extra_isize` covers it. ([`Inode::encode`] writes each field
    /// that is covered, so an `i_extra_isize` of 8, which covers `i_ctime_extra` alone, round
    /// trips too.)
    pub fn has_nsec(&self) -> bool {
        self.covers(inode_off::I_CTIME_EXTRA)
            && self.covers(inode_off::I_MTIME_EXTRA)
            && self.covers(inode_off::I_ATIME_EXTRA)
    }

    /// Writes the inode into `raw`, its `sb.inode_size` bytes in the inode table (as
    /// [`Inode::parse`] takes them; longer slices are fine, only the first `sb.inode_size` bytes
    /// are written), as `ext2_write_inode()` does: `i_mode`, both halves of the uid and gid,
    /// the size (for regular files the upper 32 bits go in `i_size_high`, which is
    /// `i_dir_acl`; other inodes keep [`Inode::dir_acl`] there), the three times, `i_dtime`,
    /// `i_links_count`, `i_blocks`, `i_flags`, [`Inode::block`] (also for fast symlinks, whose
    /// target it holds), `i_generation`, `i_file_acl`, and when the inode is larger than 128
    /// bytes `i_extra_isize` and each `*_extra` time field it covers. Times without their
    /// `*_extra` field are clamped to the signed 32-bit range ([`Timestamp::encode_sec32`]);
    /// a time field whose bytes already decode to the same time is left as it is (several
    /// encodings read as one time, since `decode` clamps nanoseconds).
    ///
    /// Every byte it does not model stays as it was: `osd1`, `i_faddr`, the fragment bytes,
    /// `i_checksum_hi`, `i_crtime` and whatever lies past the `*_extra` fields. So
    /// `encode(parse(raw))` gives back `raw` byte for byte, and `parse(encode(x)) == x` for an
    /// inode that `parse` accepts. A regular file larger than 2 GiB also needs
    /// [`RO_COMPAT_LARGE_FILE`] in the superblock, which is the caller's to set.
    ///
    /// Errors, with `raw` unchanged, for what the format cannot hold: `raw` shorter than the
    /// inode size; an `extra_isize` that does not fit in the inode or is not a multiple of 4
    /// (or is not 0 for 128-byte inodes); a size of 4 GiB or more for anything but a regular
    /// file; a non-zero `dir_acl` on a regular file. Nothing else is checked: see
    /// [`Inode::check`].
    pub fn encode(&self, sb: &Superblock, raw: &mut [u8]) -> Result<(), Corrupt> {
        use inode_off::*;
        let (size_lo, dir_acl_or_size_high) = self.encodable(sb)?;
        let isz = usize::from(sb.inode_size);
        let raw = raw.get_mut(..isz).ok_or(Corrupt::new("inode truncated"))?;

        // Checked: from here on every write is in range (raw has at least 128 bytes, and
        // each `*_extra` field written is inside the inode).
        put_le16(raw, I_MODE, self.mode)?;
        put_le16(raw, I_UID, self.uid as u16)?;
        put_le16(raw, L_I_UID_HIGH, (self.uid >> 16) as u16)?;
        put_le16(raw, I_GID, self.gid as u16)?;
        put_le16(raw, L_I_GID_HIGH, (self.gid >> 16) as u16)?;
        put_le32(raw, I_SIZE, size_lo)?;
        put_le32(raw, I_DIR_ACL, dir_acl_or_size_high)?;
        for (off, extra_off, ts) in [
            (I_ATIME, I_ATIME_EXTRA, self.atime),
            (I_CTIME, I_CTIME_EXTRA, self.ctime),
            (I_MTIME, I_MTIME_EXTRA, self.mtime),
        ] {
            if self.covers(extra_off) {
                let old = (le32(raw, off)?, le32(raw, extra_off)?);
                if Timestamp::decode(old.0, Some(old.1)) != ts {
                    let (sec, extra) = ts.encode();
                    put_le32(raw, off, sec)?;
                    put_le32(raw, extra_off, extra)?;
                }
            } else {
                put_le32(raw, off, ts.encode_sec32())?;
            }
        }
        put_le32(raw, I_DTIME, self.dtime)?;
        put_le16(raw, I_LINKS_COUNT, self.links_count)?;
        put_le32(raw, I_BLOCKS, self.blocks)?;
        put_le32(raw, I_FLAGS, self.flags)?;
        for (i, b) in self.block.iter().enumerate() {
            put_le32(raw, I_BLOCK + 4 * i, *b)?;
        }
        put_le32(raw, I_GENERATION, self.generation)?;
        put_le32(raw, I_FILE_ACL, self.file_acl)?;
        if isz > usize::from(GOOD_OLD_INODE_SIZE) {
            put_le16(raw, I_EXTRA_ISIZE, self.extra_isize)?;
        }
        Ok(())
    }

    /// The errors of [`Inode::encode`] other than a short buffer; else the values of `i_size`
    /// and `i_dir_acl`.
    fn encodable(&self, sb: &Superblock) -> Result<(u32, u32), Corrupt> {
        let isz = usize::from(sb.inode_size);
        if isz < usize::from(GOOD_OLD_INODE_SIZE) {
            return Err(Corrupt::new("inode truncated"));
        }
        if (isz == usize::from(GOOD_OLD_INODE_SIZE) && self.extra_isize != 0)
            || usize::from(GOOD_OLD_INODE_SIZE) + usize::from(self.extra_isize) > isz
            || self.extra_isize % 4 != 0
        {
            return Err(Corrupt::new("bad i_extra_isize"));
        }
        if self.mode & S_IFMT == 0o100000 {
            if self.dir_acl != 0 {
                return Err(Corrupt::new("i_dir_acl set on a regular file"));
            }
            Ok((self.size as u32, (self.size >> 32) as u32))
        } else {
            let lo = u32::try_from(self.size)
                .map_err(|_| Corrupt::new("size of 4 GiB or more on a non-regular inode"))?;
            Ok((lo, self.dir_acl))
        }
    }

    /// Writes a new inode (from [`Inode::new`]) into its slot `raw`: zeroes the slot's
    /// `sb.inode_size` bytes, as ext2 does for a new inode (no `i_faddr`, fragment bytes or
    /// `i_crtime` left from the slot's last user), then [`Inode::encode`]s. Same errors, with
    /// `raw` unchanged.
    pub fn encode_new(&self, sb: &Superblock, raw: &mut [u8]) -> Result<(), Corrupt> {
        self.encodable(sb)?;
        let slot = raw
            .get_mut(..usize::from(sb.inode_size))
            .ok_or(Corrupt::new("inode truncated"))?;
        slot.fill(0);
        self.encode(sb, slot)
    }

    /// Makes the inode a fast symlink to `target`, as `ext2_symlink()` does for targets that
    /// fit in `i_block`: the target, NUL-padded, in the block map bytes, and `size` its length.
    /// Then [`Inode::is_fast_symlink`] holds and [`Inode::fast_symlink_target`] is `target`.
    ///
    /// Errors, with the inode unchanged: not a symlink (`mode`); an inode that has data blocks
    /// (`blocks` other than those of its extended attribute block: it would not read back as a
    /// fast symlink); a target empty, of 60 bytes or more (those go in a data block, a slow
    /// symlink, see [`Inode::slow_symlink_target`]), or with a NUL byte.
    pub fn set_fast_symlink(&mut self, target: &[u8]) -> Result<(), Corrupt> {
        if self.file_type() != Ok(FileType::Symlink) {
            return Err(Corrupt::new("not a symlink"));
        }
        if !self.is_fast_symlink() {
            return Err(Corrupt::new("symlink with data blocks"));
        }
        if target.is_empty() || target.len() >= N_BLOCKS * 4 {
            return Err(Corrupt::new("bad fast symlink length"));
        }
        if target.contains(&0) {
            return Err(Corrupt::new("NUL byte in symlink target"));
        }
        let mut bytes = [0u8; N_BLOCKS * 4];
        for (d, s) in bytes.iter_mut().zip(target) {
            *d = *s;
        }
        self.block = bytes_to_block(&bytes);
        self.block_bytes = bytes;
        self.size = target.len() as u64;
        Ok(())
    }

    /// Sets the device number of a device inode, as `ext2_write_inode()` encodes it: the old
    /// 8:8 encoding in `i_block[0]` when major and minor are both below 256, else 0 there and
    /// the new 12:20 encoding in `i_block[1]`; the rest of the block map is zeroed.
    /// [`Inode::rdev`] then gives (major, minor) back. An error, with the inode unchanged, for a
    /// major of 2^12 or more or a minor of 2^20 or more (not a Linux device number).
    pub fn set_rdev(&mut self, major: u32, minor: u32) -> Result<(), Corrupt> {
        if major >= 1 << 12 || minor >= 1 << 20 {
            return Err(Corrupt::new("device number out of range"));
        }
        let mut block = [0u32; N_BLOCKS];
        let [old, new, ..] = &mut block;
        if major < 256 && minor < 256 {
            *old = major << 8 | minor;
        } else {
            *new = (minor & 0xff) | major << 8 | (minor & !0xff) << 12;
        }
        self.block = block;
        self.block_bytes = block_to_bytes(&block);
        Ok(())
    }

    /// Marks the inode deleted, as ext2 does when it frees an inode: no links and a deletion
    /// time; the mode stays (so [`Inode::is_deleted`] relies on `dtime`, which is therefore at
    /// least 1: a `dtime` of 0 is stored as 1). Freeing the blocks, clearing the size and the
    /// block map, and clearing the inode's bitmap bit are the caller's, as in ext2.
    pub fn set_deleted(&mut self, dtime: u32) {
        self.links_count = 0;
        self.dtime = dtime.max(1);
    }
}

/// Sets entry `index` of the indirect block `block` to `blk` (the counterpart of
/// [`indirect_entry`]; 0 makes a hole). An error, with `block` unchanged, if `index` is
/// [`ADDR_PER_BLOCK`] or more or `block` too short.
pub fn set_indirect_entry(block: &mut [u8], index: u32, blk: u32) -> Result<(), Corrupt> {
    if index >= ADDR_PER_BLOCK {
        return Err(Corrupt::new("indirect block index out of range"));
    }
    put_le32(block, index as usize * 4, blk).map_err(|_| Corrupt::new("indirect block truncated"))
}

// ---------------------------------------------------------------------------------------------
// Bitmaps (ext2's bit order: bit `i % 8` of byte `i / 8`).

/// Whether bit `i` of the bitmap `bm` is set; bits past the end of `bm` read as set (in use),
/// so that nothing is ever allocated there.
pub fn bit_test(bm: &[u8], i: u32) -> bool {
    bm.get((i / 8) as usize)
        .map_or(true, |b| b & (1 << (i % 8)) != 0)
}

fn bit_update(bm: &mut [u8], i: u32, set: bool) -> Result<bool, Corrupt> {
    let b = bm
        .get_mut((i / 8) as usize)
        .ok_or(Corrupt::new("bit past the end of the bitmap"))?;
    let mask = 1u8 << (i % 8);
    let old = *b & mask != 0;
    if set {
        *b |= mask;
    } else {
        *b &= !mask;
    }
    Ok(old)
}

/// Sets bit `i` of the bitmap `bm`; returns whether it was already set (for an allocator, a
/// bit already set is a lost race or a corrupt bitmap). An error if `i` is past the end of
/// `bm`.
pub fn bit_set(bm: &mut [u8], i: u32) -> Result<bool, Corrupt> {
    bit_update(bm, i, true)
}

/// Clears bit `i` of the bitmap `bm`; returns whether it was set (freeing a free item is
/// corruption, as `ext2_free_blocks()` reports it). An error if `i` is past the end of `bm`.
pub fn bit_clear(bm: &mut [u8], i: u32) -> Result<bool, Corrupt> {
    bit_update(bm, i, false)
}

// ---------------------------------------------------------------------------------------------
// Directory blocks.
//
// As `fs/ext2/dir.c` changes them. Each function first walks the whole block with the checks
// of `DirIter` (a corrupt block is an error, and is not changed), then writes. The `file_type`
// byte is written only with the `filetype` feature, else 0, as `ext2_set_de_type()` does.

/// Bytes a directory entry with a name of `name_len` bytes needs: `8 + name_len` rounded up to
/// 4 (`EXT2_DIR_REC_LEN`). Meaningful for `name_len` up to [`NAME_LEN`] (larger values
/// saturate rather than overflow).
pub fn dirent_size(name_len: usize) -> usize {
    name_len.saturating_add(DIRENT_HEADER + 3) & !3
}

/// Checks a name for a new directory entry: 1 to 255 bytes, no `/`, no NUL.
fn check_name(name: &[u8]) -> Result<(), Corrupt> {
    if name.is_empty() || name.len() > NAME_LEN {
        return Err(Corrupt::new("bad name length for a directory entry"));
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Corrupt::new("'/' or NUL in directory entry name"));
    }
    Ok(())
}

/// Checks what a directory entry will point to: an inode the filesystem may open
/// ([`Superblock::is_usable_ino`], as lookups require), and a known file type.
fn check_link(sb: &Superblock, ino: u32, file_type: u8) -> Result<(), Corrupt> {
    if !sb.is_usable_ino(ino) {
        return Err(Corrupt::new(
            "reserved or out-of-range inode in a new directory entry",
        ));
    }
    if file_type > FT_SYMLINK {
        return Err(Corrupt::new("unknown file type for a directory entry"));
    }
    Ok(())
}

/// The `file_type` byte to store: `file_type` with the `filetype` feature, else 0.
fn stored_type(sb: &Superblock, file_type: u8) -> u8 {
    if sb.has_filetype() {
        file_type
    } else {
        FT_UNKNOWN
    }
}

/// Checks that `block` is a whole directory block.
fn check_dir_block_size(block: &[u8]) -> Result<(), Corrupt> {
    if block.len() != BLOCK_SIZE {
        return Err(Corrupt::new("directory block is not 4096 bytes"));
    }
    Ok(())
}

/// Writes a whole directory entry at `off` (the caller checked that `rec_len` bytes from
/// `off` are in the block and hold the name).
fn put_dirent(
    sb: &Superblock,
    block: &mut [u8],
    off: usize,
    ino: u32,
    rec_len: usize,
    name: &[u8],
    file_type: u8,
) -> Result<(), Corrupt> {
    use dirent_off::*;
    let rec_len = u16::try_from(rec_len).map_err(|_| Corrupt::new("rec_len too large"))?;
    let name_len = u8::try_from(name.len()).map_err(|_| Corrupt::new("name too long"))?;
    let at = off
        .checked_add(NAME)
        .ok_or(Corrupt::new("offset overflow"))?;
    let end = at
        .checked_add(name.len())
        .ok_or(Corrupt::new("offset overflow"))?;
    let dst = block
        .get_mut(at..end)
        .ok_or(Corrupt::new("directory entry out of block"))?;
    for (d, s) in dst.iter_mut().zip(name) {
        *d = *s;
    }
    put_le32(block, off + INODE, ino)?;
    put_le16(block, off + REC_LEN, rec_len)?;
    put_byte(block, off + NAME_LEN, name_len)?;
    put_byte(block, off + FILE_TYPE, stored_type(sb, file_type))
}

/// Makes `block` (4096 bytes) an empty directory block, as ext2 makes each block it adds to a
/// directory: zeroes, then one unused entry (inode 0) of `rec_len` 4096.
pub fn dir_init_empty(block: &mut [u8]) -> Result<(), Corrupt> {
    check_dir_block_size(block)?;
    block.fill(0);
    put_le16(block, dirent_off::REC_LEN, BLOCK_SIZE as u16)
}

/// Makes `block` (4096 bytes) the first block of a new directory, as `ext2_make_empty()`
/// does: zeroes, then "." (inode `self_ino`, `rec_len` 12) and ".." (inode `parent_ino`,
/// covering the rest of the block), both of type [`FT_DIR`]. Both inodes must be ones the
/// filesystem may open ([`Superblock::is_usable_ino`]); else an error, `block` unchanged.
pub fn dir_init_first(
    sb: &Superblock,
    block: &mut [u8],
    self_ino: u32,
    parent_ino: u32,
) -> Result<(), Corrupt> {
    check_dir_block_size(block)?;
    check_link(sb, self_ino, FT_DIR)?;
    check_link(sb, parent_ino, FT_DIR)?;
    block.fill(0);
    put_dirent(sb, block, 0, self_ino, DIRENT_MIN, b".", FT_DIR)?;
    put_dirent(
        sb,
        block,
        DIRENT_MIN,
        parent_ino,
        BLOCK_SIZE - DIRENT_MIN,
        b"..",
        FT_DIR,
    )
}

/// Adds the entry `name` -> `ino` (of type `file_type`, an `FT_*` value) to the directory
/// block `block`, where `ext2_add_link()` would: in the first record, in block order, that is
/// unused (inode 0) with a `rec_len` that holds the entry (it takes the whole record), or that
/// is used with room after its name for the entry (it is split: the used entry keeps just the
/// room its name needs, the new one gets the rest). Returns the new entry's offset, or `None`
/// (and `block` unchanged) if the block has no such room.
///
/// Errors, with `block` unchanged: a corrupt block (checked whole, as [`DirIter`] checks it);
/// a name that is empty, longer than 255 bytes or holds `/` or NUL; an inode the filesystem
/// may not open ([`Superblock::is_usable_ino`]); an unknown file type. Whether `name` is
/// already in the directory is not checked (that takes all of its blocks: a lookup).
///
/// A hash-indexed directory's blocks are valid linear blocks (the `dx_root` is "." and ".."
/// with the index in the slack of ".."); adding overwrites index data, so the caller clears
/// [`FL_INDEX`] on the directory, as ext2 does.
pub fn dir_add(
    sb: &Superblock,
    block: &mut [u8],
    ino: u32,
    name: &[u8],
    file_type: u8,
) -> Result<Option<usize>, Corrupt> {
    check_name(name)?;
    check_link(sb, ino, file_type)?;
    let need = dirent_size(name.len());
    // (record offset, record length, bytes the used entry there keeps: 0 if unused)
    let mut found = None;
    let mut it = dir_entries_by_name(sb, block);
    while let Some(r) = it.next_record() {
        let e = r?;
        if found.is_some() {
            continue; // Check the rest of the block all the same.
        }
        let rec = usize::from(e.rec_len);
        let keep = if e.inode == 0 {
            0
        } else {
            dirent_size(e.name.len())
        };
        if rec >= keep + need {
            found = Some((e.offset, rec, keep));
        }
    }
    let Some((off, rec, keep)) = found else {
        return Ok(None);
    };
    let at = off + keep;
    // Both records lie inside the block: checked by the walk.
    put_dirent(sb, block, at, ino, rec - keep, name, file_type)?;
    if keep != 0 {
        put_le16(block, off + dirent_off::REC_LEN, keep as u16)?;
    }
    Ok(Some(at))
}

/// The record at `offset` (which must be used) and the record before it, if any, as
/// (offset, rec_len), after checking the whole block.
fn dir_find_used(
    sb: &Superblock,
    block: &[u8],
    offset: usize,
) -> Result<(Option<(usize, usize)>, usize), Corrupt> {
    let mut prev = None;
    let mut found = None;
    let mut it = dir_entries(sb, block);
    while let Some(r) = it.next_record() {
        let e = r?;
        if found.is_some() {
            continue;
        }
        let rec = usize::from(e.rec_len);
        if e.offset == offset && e.inode != 0 {
            found = Some((prev, rec));
        } else if e.offset < offset {
            prev = Some((e.offset, rec));
        }
    }
    found.ok_or(Corrupt::new("no directory entry at this offset"))
}

/// Removes the used entry at `offset` of the directory block `block`, as
/// `ext2_delete_entry()` does: the record before it (used or not) grows over it, and its inode
/// number becomes 0; the first record of the block has none before it, so it only gets inode
/// 0. Errors, with `block` unchanged: a corrupt block (checked whole); no used entry starting
/// at `offset`.
pub fn dir_remove(sb: &Superblock, block: &mut [u8], offset: usize) -> Result<(), Corrupt> {
    let (prev, rec) = dir_find_used(sb, block, offset)?;
    if let Some((poff, prec)) = prev {
        // Consecutive records inside the block: at most 4096.
        let merged = u16::try_from(prec + rec).map_err(|_| Corrupt::new("rec_len too large"))?;
        put_le16(block, poff + dirent_off::REC_LEN, merged)?;
    }
    put_le32(block, offset + dirent_off::INODE, 0)
}

/// Points the used entry at `offset` of the directory block `block` to `ino`, of type
/// `file_type`, as `ext2_set_link()` does (a rename over an existing name, or ".." of a moved
/// directory). The name and `rec_len` stay. Errors, with `block` unchanged: a corrupt block
/// (checked whole); no used entry starting at `offset`; an inode the filesystem may not open;
/// an unknown file type.
pub fn dir_set(
    sb: &Superblock,
    block: &mut [u8],
    offset: usize,
    ino: u32,
    file_type: u8,
) -> Result<(), Corrupt> {
    check_link(sb, ino, file_type)?;
    dir_find_used(sb, block, offset)?;
    put_byte(
        block,
        offset + dirent_off::FILE_TYPE,
        stored_type(sb, file_type),
    )?;
    put_le32(block, offset + dirent_off::INODE, ino)
}

/// Whether the directory block `block` has no used entry, other than "." and ".." when it is
/// the directory's `first` block (any entry named so there, as `ext2_empty_dir()` allows).
/// An error if the block is corrupt (checked whole).
pub fn dir_block_is_empty(sb: &Superblock, block: &[u8], first: bool) -> Result<bool, Corrupt> {
    let mut empty = true;
    for e in dir_entries(sb, block) {
        let e = e?;
        if !(first && (e.name == b"." || e.name == b"..")) {
            empty = false;
        }
    }
    Ok(empty)
}

// ---------------------------------------------------------------------------------------------
// Extended attribute blocks.
//
// The block `i_file_acl` points to, as `fs/ext2/xattr.c` reads and writes it (the format of
// `fs/ext2/xattr.h`): a 32-byte header, then the entry table growing down from it (each entry a
// 16-byte header and its name, padded to 4 bytes), ended by four zero bytes; the values grow up
// from the end of the block, each padded to 4 bytes. Entries are sorted by name index, then name
// length, then name bytes; several inodes may share one block (`h_refcount`), found by the hash
// of its contents (`h_hash`).

/// `h_magic` of an extended attribute block (`EXT2_XATTR_MAGIC`).
pub const XATTR_MAGIC: u32 = 0xEA02_0000;
/// Name index: `user.` attributes.
pub const XATTR_INDEX_USER: u8 = 1;
/// Name index: `system.posix_acl_access` (the name stored is empty).
pub const XATTR_INDEX_POSIX_ACL_ACCESS: u8 = 2;
/// Name index: `system.posix_acl_default` (the name stored is empty).
pub const XATTR_INDEX_POSIX_ACL_DEFAULT: u8 = 3;
/// Name index: `trusted.` attributes.
pub const XATTR_INDEX_TRUSTED: u8 = 4;
/// Name index: `security.` attributes.
pub const XATTR_INDEX_SECURITY: u8 = 6;
/// Largest name (without prefix): 255 bytes.
pub const XATTR_NAME_MAX: usize = 255;
/// Size of the block header (`struct ext2_xattr_header`).
pub const XATTR_HEADER_SIZE: usize = 32;
/// Size of an entry's fixed part (`struct ext2_xattr_entry` without `e_name`).
pub const XATTR_ENTRY_HEADER: usize = 16;
/// Names and values are padded to multiples of this (`EXT2_XATTR_PAD`).
pub const XATTR_PAD: usize = 4;

/// Byte offsets in `struct ext2_xattr_header` (at the start of the block) and in
/// `struct ext2_xattr_entry` (from the start of each entry).
pub mod xattr_off {
    /// `__le32 h_magic` ([`super::XATTR_MAGIC`])
    pub const H_MAGIC: usize = 0;
    /// `__le32 h_refcount` (inodes sharing the block)
    pub const H_REFCOUNT: usize = 4;
    /// `__le32 h_blocks` (always 1)
    pub const H_BLOCKS: usize = 8;
    /// `__le32 h_hash` (hash of the entries' hashes, for sharing)
    pub const H_HASH: usize = 12;
    /// `__u32 h_reserved[4]` (zero; ext4's `h_checksum` is the first word)
    pub const H_RESERVED: usize = 16;
    /// `__u8 e_name_len`
    pub const E_NAME_LEN: usize = 0;
    /// `__u8 e_name_index`
    pub const E_NAME_INDEX: usize = 1;
    /// `__le16 e_value_offs` (from the start of the block)
    pub const E_VALUE_OFFS: usize = 2;
    /// `__le32 e_value_block` (0: the value is in this block)
    pub const E_VALUE_BLOCK: usize = 4;
    /// `__le32 e_value_size`
    pub const E_VALUE_SIZE: usize = 8;
    /// `__le32 e_hash` (hash of the name and value)
    pub const E_HASH: usize = 12;
    /// `char e_name[]`
    pub const E_NAME: usize = 16;
}

const _: () = assert!(packed(
    &[
        (xattr_off::H_MAGIC, 4),
        (xattr_off::H_REFCOUNT, 4),
        (xattr_off::H_BLOCKS, 4),
        (xattr_off::H_HASH, 4),
        (xattr_off::H_RESERVED, 16),
    ],
    0,
    XATTR_HEADER_SIZE
));
const _: () = assert!(packed(
    &[
        (xattr_off::E_NAME_LEN, 1),
        (xattr_off::E_NAME_INDEX, 1),
        (xattr_off::E_VALUE_OFFS, 2),
        (xattr_off::E_VALUE_BLOCK, 4),
        (xattr_off::E_VALUE_SIZE, 4),
        (xattr_off::E_HASH, 4),
    ],
    0,
    xattr_off::E_NAME
));
const _: () = assert!(xattr_off::E_NAME == XATTR_ENTRY_HEADER);
// Value offsets are 16-bit.
const _: () = assert!(BLOCK_SIZE <= u16::MAX as usize);

/// Bytes an entry with a name of `name_len` bytes takes in the table: 16 + `name_len`, rounded
/// up to 4 (`EXT2_XATTR_LEN`). Saturates rather than overflows.
pub fn xattr_entry_len(name_len: usize) -> usize {
    name_len.saturating_add(XATTR_ENTRY_HEADER + XATTR_PAD - 1) & !(XATTR_PAD - 1)
}

/// Bytes a value of `len` bytes takes: `len` rounded up to 4 (`EXT2_XATTR_SIZE`). Saturates
/// rather than overflows.
pub fn xattr_value_len(len: usize) -> usize {
    len.saturating_add(XATTR_PAD - 1) & !(XATTR_PAD - 1)
}

/// Whether names of index `index` may be empty: the POSIX ACL ones, whose whole name is the
/// prefix (`system.posix_acl_access`, `system.posix_acl_default`).
fn xattr_index_is_acl(index: u8) -> bool {
    index == XATTR_INDEX_POSIX_ACL_ACCESS || index == XATTR_INDEX_POSIX_ACL_DEFAULT
}

/// The order of entries in a block (`ext2_xattr_cmp_entry()`): name index, then name length,
/// then name bytes.
fn xattr_cmp(a_index: u8, a_name: &[u8], b_index: u8, b_name: &[u8]) -> core::cmp::Ordering {
    a_index
        .cmp(&b_index)
        .then(a_name.len().cmp(&b_name.len()))
        .then(a_name.cmp(b_name))
}

/// The hash of one entry (`ext2_xattr_hash_entry()`): each name byte, then each little-endian
/// 32-bit word of the value padded with zeroes to 4 bytes, mixed in with a rotation (5 bits
/// for name bytes, 16 for value words). `signed` takes name bytes as `signed char`, as kernels
/// before 6.2 did on x86 (e2fsck accepts either hash; Linux 6.2 on computes the unsigned one).
fn xattr_hash(name: &[u8], value: &[u8], signed: bool) -> u32 {
    let mut hash = 0u32;
    for &b in name {
        let c = if signed {
            b as i8 as i32 as u32
        } else {
            u32::from(b)
        };
        hash = hash.rotate_left(5) ^ c;
    }
    for word in value.chunks(XATTR_PAD) {
        let mut w = [0u8; XATTR_PAD];
        for (d, s) in w.iter_mut().zip(word) {
            *d = *s;
        }
        hash = hash.rotate_left(16) ^ u32::from_le_bytes(w);
    }
    hash
}

/// The hash of an entry named `name` with value `value`, as Linux 6.12's
/// `ext2_xattr_hash_entry()` computes it (the value padded with zeroes to 4 bytes, as ext2
/// stores it). Independent of the name index.
pub fn xattr_hash_entry(name: &[u8], value: &[u8]) -> u32 {
    xattr_hash(name, value, false)
}

/// The block hash `ext2_xattr_rehash()` computes from the entry hashes `hashes`, in table
/// order: each mixed in with a 16-bit rotation, or 0 if any of them is 0 ("not shared").
fn xattr_block_hash(hashes: impl Iterator<Item = u32>) -> u32 {
    let mut hash = 0u32;
    for h in hashes {
        if h == 0 {
            return 0;
        }
        hash = hash.rotate_left(16) ^ h;
    }
    hash
}

/// One entry of a parsed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XattrEntry<'a> {
    /// Name index (`XATTR_INDEX_*`, or another non-zero index): the name's prefix.
    pub index: u8,
    /// The name without its prefix: up to 255 bytes, empty only for the ACL indexes.
    pub name: &'a [u8],
    /// The value: up to a block's worth of bytes, without padding.
    pub value: &'a [u8],
}

/// An entry as stored: what [`XattrEntry`] shows, with its hash and the value's padded bytes.
#[derive(Clone, Copy)]
struct XattrRaw<'a> {
    entry: XattrEntry<'a>,
    hash: u32,
    padded: &'a [u8],
}

/// Walks the entry table of a block [`XattrBlock::parse`] accepted, from `off` to `end` (the
/// terminator). Ends early, rather than panic, on anything parse would have refused.
#[derive(Clone)]
struct XattrIter<'a> {
    raw: &'a [u8],
    off: usize,
    end: usize,
}

impl<'a> XattrIter<'a> {
    fn decode(&self) -> Option<(XattrRaw<'a>, usize)> {
        use xattr_off::*;
        let at = |f: usize| self.off.checked_add(f);
        let name_len = usize::from(byte(self.raw, at(E_NAME_LEN)?).ok()?);
        let index = byte(self.raw, at(E_NAME_INDEX)?).ok()?;
        let offs = usize::from(le16(self.raw, at(E_VALUE_OFFS)?).ok()?);
        let size = usize::try_from(le32(self.raw, at(E_VALUE_SIZE)?).ok()?).ok()?;
        let hash = le32(self.raw, at(E_HASH)?).ok()?;
        let name_at = at(E_NAME)?;
        let name = self.raw.get(name_at..name_at.checked_add(name_len)?)?;
        let (value, padded): (&[u8], &[u8]) = if size == 0 {
            (&[], &[])
        } else {
            let padded = self
                .raw
                .get(offs..offs.checked_add(xattr_value_len(size))?)?;
            (padded.get(..size)?, padded)
        };
        Some((
            XattrRaw {
                entry: XattrEntry { index, name, value },
                hash,
                padded,
            },
            xattr_entry_len(name_len),
        ))
    }
}

impl<'a> Iterator for XattrIter<'a> {
    type Item = XattrRaw<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.end {
            return None;
        }
        let Some((e, len)) = self.decode() else {
            self.off = self.end;
            return None;
        };
        self.off = self.off.saturating_add(len);
        Some(e)
    }
}

/// Which 4-byte units of a block are taken, for [`XattrBlock::parse`]'s overlap checks (as
/// e2fsck's `region_allocate()`).
struct XattrUnits([u32; BLOCK_SIZE / XATTR_PAD / 32]);

impl XattrUnits {
    /// Takes bytes `start..end` (both multiples of 4, `end` at most 4096); an error if any of
    /// them was taken.
    fn take(&mut self, start: usize, end: usize, what: &'static str) -> Result<(), Corrupt> {
        for unit in start / XATTR_PAD..end / XATTR_PAD {
            let word = self.0.get_mut(unit / 32).ok_or(Corrupt::new(what))?;
            let bit = 1u32 << (unit % 32);
            if *word & bit != 0 {
                return Err(Corrupt::new(what));
            }
            *word |= bit;
        }
        Ok(())
    }
}

/// A checked ext2 xattr block (one whole BLOCK_SIZE block).
///
/// # Invariants
///
/// Checked by [`XattrBlock::parse`], as `ext2_xattr_get()` and e2fsck's `check_ext_attr()`
/// check a block and a little more: `h_magic` is [`XATTR_MAGIC`], `h_blocks` is 1 and
/// `h_refcount` not 0; every entry, header and name, lies in the block before the four zero
/// bytes that end the table; each has a non-zero name index, a non-empty name unless the index
/// is an ACL one, and `e_value_block` 0; the entries are strictly sorted as ext2 keeps them
/// (index, name length, name bytes), so no name is there twice; each non-empty value starts at
/// a multiple of 4 and, padded to 4 bytes, lies inside the block after the table's end and
/// overlaps no other value. An empty value's offset is not used (ext2 writes 0, e2fsprogs the
/// offset its value would have had) and need only be at most 4096, as ext2 checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XattrBlock<'a> {
    raw: &'a [u8],
    /// Offset of the four zero bytes that end the entry table.
    table_end: usize,
}

impl<'a> XattrBlock<'a> {
    /// Parses and checks `raw` (must be exactly BLOCK_SIZE bytes).
    pub fn parse(raw: &'a [u8]) -> Result<Self, Corrupt> {
        use xattr_off::*;
        if raw.len() != BLOCK_SIZE {
            return Err(Corrupt::new("extended attribute block is not 4096 bytes"));
        }
        if le32(raw, H_MAGIC)? != XATTR_MAGIC {
            return Err(Corrupt::new("bad extended attribute block magic"));
        }
        if le32(raw, H_BLOCKS)? != 1 {
            return Err(Corrupt::new("extended attribute block with h_blocks not 1"));
        }
        if le32(raw, H_REFCOUNT)? == 0 {
            return Err(Corrupt::new("extended attribute block with refcount 0"));
        }
        // The table: entries one after the other, each followed by room for at least the
        // terminator.
        let mut off = XATTR_HEADER_SIZE;
        let mut prev: Option<(u8, &[u8])> = None;
        loop {
            let head = le32(raw, off)
                .map_err(|_| Corrupt::new("extended attribute list not terminated"))?;
            if head == 0 {
                break;
            }
            let name_len = usize::from(byte(raw, off + E_NAME_LEN)?);
            let index = byte(raw, off + E_NAME_INDEX)?;
            let next = off + xattr_entry_len(name_len);
            if next + XATTR_PAD > BLOCK_SIZE {
                return Err(Corrupt::new(
                    "extended attribute entry crosses the block end",
                ));
            }
            if le32(raw, off + E_VALUE_BLOCK)? != 0 {
                return Err(Corrupt::new("extended attribute value in another block"));
            }
            if index == 0 {
                return Err(Corrupt::new("extended attribute with name index 0"));
            }
            if name_len == 0 && !xattr_index_is_acl(index) {
                return Err(Corrupt::new("empty extended attribute name"));
            }
            let name = raw
                .get(off + E_NAME..off + E_NAME + name_len)
                .ok_or(Corrupt::new(
                    "extended attribute entry crosses the block end",
                ))?;
            if let Some((pi, pn)) = prev {
                if xattr_cmp(pi, pn, index, name) != core::cmp::Ordering::Less {
                    return Err(Corrupt::new(
                        "extended attribute entries not sorted, or one twice",
                    ));
                }
            }
            prev = Some((index, name));
            off = next;
        }
        let table_end = off;
        // The values: each inside the block, aligned, after the table and apart.
        let mut units = XattrUnits([0; BLOCK_SIZE / XATTR_PAD / 32]);
        units.take(0, table_end + XATTR_PAD, "extended attribute table overlap")?;
        let mut at = XATTR_HEADER_SIZE;
        while at < table_end {
            let name_len = usize::from(byte(raw, at + E_NAME_LEN)?);
            let offs = usize::from(le16(raw, at + E_VALUE_OFFS)?);
            let size = le32(raw, at + E_VALUE_SIZE)?;
            if size == 0 {
                if offs > BLOCK_SIZE {
                    return Err(Corrupt::new("extended attribute value out of block"));
                }
            } else {
                if offs % XATTR_PAD != 0 {
                    return Err(Corrupt::new("extended attribute value not 4-byte aligned"));
                }
                let end = usize::try_from(size)
                    .ok()
                    .map(xattr_value_len)
                    .and_then(|len| offs.checked_add(len))
                    .filter(|&end| end <= BLOCK_SIZE)
                    .ok_or(Corrupt::new("extended attribute value out of block"))?;
                units.take(
                    offs,
                    end,
                    "extended attribute value overlaps the table or another value",
                )?;
            }
            at += xattr_entry_len(name_len);
        }
        Ok(Self { raw, table_end })
    }

    /// The entries as stored, with their hashes.
    fn raw_entries(&self) -> XattrIter<'a> {
        XattrIter {
            raw: self.raw,
            off: XATTR_HEADER_SIZE,
            end: self.table_end,
        }
    }

    /// h_refcount (parse refuses 0).
    pub fn refcount(&self) -> u32 {
        le32(self.raw, xattr_off::H_REFCOUNT).unwrap_or(0)
    }

    /// `h_hash` as stored (e2fsprogs' writers leave it 0).
    pub fn hash(&self) -> u32 {
        le32(self.raw, xattr_off::H_HASH).unwrap_or(0)
    }

    /// `h_hash` as `ext2_xattr_rehash()` computes it from the stored entry hashes.
    pub fn computed_hash(&self) -> u32 {
        xattr_block_hash(self.raw_entries().map(|e| e.hash))
    }

    /// Bytes of the block taken by the header, the entry table and its terminator, and the
    /// values (each padded to 4): what [`xattr_write`] would need for these entries.
    pub fn used(&self) -> usize {
        self.raw_entries()
            .fold(XATTR_HEADER_SIZE + XATTR_PAD, |n, e| {
                n.saturating_add(xattr_entry_len(e.entry.name.len()))
                    .saturating_add(e.padded.len())
            })
    }

    /// The entries in on-disk order.
    pub fn entries(&self) -> impl Iterator<Item = XattrEntry<'a>> + '_ {
        self.raw_entries().map(|e| e.entry)
    }

    /// The value of (index, name), if present.
    pub fn get(&self, index: u8, name: &[u8]) -> Option<&'a [u8]> {
        for e in self.entries() {
            match xattr_cmp(e.index, e.name, index, name) {
                core::cmp::Ordering::Less => continue,
                core::cmp::Ordering::Equal => return Some(e.value),
                // Sorted (checked by parse): it is not further on.
                core::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// Whether every stored entry hash is right: as Linux 6.12 computes it
    /// ([`xattr_hash_entry`], over the value's stored padding bytes too) or as kernels before
    /// 6.2 computed it on x86 (name bytes as `signed char`), both of which e2fsck accepts.
    pub fn check_entry_hashes(&self) -> bool {
        self.raw_entries().all(|e| {
            e.hash == xattr_hash(e.entry.name, e.padded, false)
                || e.hash == xattr_hash(e.entry.name, e.padded, true)
        })
    }

    /// Whether the stored entry hashes and block hash are right (ext2 does not refuse
    /// blocks with wrong hashes, and neither will the kernel side; this is for tests/fsck).
    ///
    /// The entry hashes as [`XattrBlock::check_entry_hashes`] checks them, and `h_hash` as
    /// [`XattrBlock::computed_hash`] gives it (so a block e2fsprogs wrote, with `h_hash` 0,
    /// has wrong hashes).
    pub fn check_hashes(&self) -> bool {
        self.check_entry_hashes() && self.hash() == self.computed_hash()
    }
}

/// What a [`XattrChange::Set`] requires of the entry it sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrSetMode {
    /// Create it or replace it.
    Any,
    /// `XATTR_CREATE`: [`XattrError::Exists`] (`EEXIST`) if present.
    Create,
    /// `XATTR_REPLACE`: [`XattrError::NotFound`] (`ENODATA`) if absent.
    Replace,
}

/// The one change [`xattr_write`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrChange<'v> {
    /// Set the entry to this value (possibly empty), as the mode allows.
    Set(&'v [u8], XattrSetMode),
    /// Remove the entry (`removexattr`, which the VFS makes with `XATTR_REPLACE`):
    /// [`XattrError::NotFound`] if absent.
    Remove,
}

/// What [`xattr_write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrWritten {
    /// `out` holds the new block
    Block,
    /// no entry is left: the inode should drop its block
    Empty,
}

/// Why [`xattr_write`] refused a change, each with the error code ext2 gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrError {
    /// name empty-for-non-ACL or over 255 bytes, or value over a block (ERANGE)
    Range,
    /// Create and it exists (EEXIST)
    Exists,
    /// Replace or Remove and it is absent (ENODATA)
    NotFound,
    /// does not fit in one block (ENOSPC)
    NoSpace,
}

/// Calls `f(index, name, value)` for each entry of the block that `old` with the change
/// (`index`, `name`) -> `value` (`None`: removed) gives, in sorted order.
fn xattr_merged(
    old: Option<&XattrBlock<'_>>,
    index: u8,
    name: &[u8],
    value: Option<&[u8]>,
    mut f: impl FnMut(u8, &[u8], &[u8]) -> Result<(), XattrError>,
) -> Result<(), XattrError> {
    let mut pending = value;
    for e in old.into_iter().flat_map(|b| b.entries()) {
        let ord = xattr_cmp(e.index, e.name, index, name);
        if ord != core::cmp::Ordering::Less {
            if let Some(v) = pending.take() {
                f(index, name, v)?;
            }
        }
        if ord != core::cmp::Ordering::Equal {
            f(e.index, e.name, e.value)?;
        }
    }
    if let Some(v) = pending {
        f(index, name, v)?;
    }
    Ok(())
}

/// Writes into `out` (BLOCK_SIZE bytes) the block `old` (None: no block yet) with the one change
/// applied, with header refcount `refcount`, entries sorted the way ext2 keeps them
/// (ext2_xattr_set: by name_index, then name_len, then name bytes), values packed at the
/// end of the block, 4-byte aligned, entry hashes and the block hash (h_hash) computed as
/// fs/ext2/xattr.c does (ext2_xattr_hash_entry / ext2_xattr_rehash), h_blocks = 1, unused
/// bytes zero. Removing the last entry gives Ok(Empty). `old` is not modified.
///
/// The values lie from the end of the block down in table order (the first entry's value
/// last, as e2fsprogs lays them out); an empty value has offset 0, as ext2 writes it. Every
/// entry hash is computed afresh. The block is rebuilt whole, so a change fits whenever
/// the result fits (ext2, which edits in place, counts a foreign block's gaps as used).
///
/// Errors, checked in ext2's order, with `out` unchanged (also on `Ok(Empty)`):
/// - [`XattrError::Range`]: `index` 0 (e2fsck refuses it), a name over 255 bytes, empty for an
///   index other than the ACL ones or holding a NUL byte (the VFS passes none such), a value
///   over 4096 bytes, or `refcount` 0 (no block may hold it);
/// - [`XattrError::Exists`], [`XattrError::NotFound`]: as the change's mode says;
/// - [`XattrError::NoSpace`]: the result does not fit in a block, or `out` is not 4096 bytes.
pub fn xattr_write(
    old: Option<&XattrBlock<'_>>,
    index: u8,
    name: &[u8],
    change: XattrChange<'_>,
    refcount: u32,
    out: &mut [u8],
) -> Result<XattrWritten, XattrError> {
    use xattr_off::*;
    let value = match change {
        XattrChange::Set(v, _) => Some(v),
        XattrChange::Remove => None,
    };
    if index == 0
        || name.len() > XATTR_NAME_MAX
        || (name.is_empty() && !xattr_index_is_acl(index))
        || name.contains(&0)
        || value.is_some_and(|v| v.len() > BLOCK_SIZE)
        || refcount == 0
    {
        return Err(XattrError::Range);
    }
    let present = old.is_some_and(|b| b.get(index, name).is_some());
    match change {
        XattrChange::Set(_, XattrSetMode::Create) if present => return Err(XattrError::Exists),
        XattrChange::Set(_, XattrSetMode::Replace) | XattrChange::Remove if !present => {
            return Err(XattrError::NotFound)
        }
        _ => {}
    }
    let mut count = 0usize;
    let mut need = XATTR_HEADER_SIZE + XATTR_PAD;
    xattr_merged(old, index, name, value, |_, n, v| {
        count += 1;
        need = need
            .saturating_add(xattr_entry_len(n.len()))
            .saturating_add(xattr_value_len(v.len()));
        Ok(())
    })?;
    if count == 0 {
        return Ok(XattrWritten::Empty);
    }
    if need > BLOCK_SIZE || out.len() != BLOCK_SIZE {
        return Err(XattrError::NoSpace);
    }
    // It fits: from here on no write can fail (each error below is unreachable).
    out.fill(0);
    let full = |_| XattrError::NoSpace;
    let mut off = XATTR_HEADER_SIZE;
    let mut values_start = BLOCK_SIZE;
    let mut block_hash = Some(0u32);
    xattr_merged(old, index, name, value, |idx, n, v| {
        let name_len = u8::try_from(n.len()).map_err(|_| XattrError::Range)?;
        let size = u32::try_from(v.len()).map_err(|_| XattrError::Range)?;
        let mut offs = 0;
        let mut padded: &[u8] = &[];
        if !v.is_empty() {
            offs = values_start
                .checked_sub(xattr_value_len(v.len()))
                .ok_or(XattrError::NoSpace)?;
            let dst = out
                .get_mut(offs..offs + v.len())
                .ok_or(XattrError::NoSpace)?;
            for (d, s) in dst.iter_mut().zip(v) {
                *d = *s;
            }
            values_start = offs;
        }
        let name_at = off + E_NAME;
        let dst = out
            .get_mut(name_at..name_at + n.len())
            .ok_or(XattrError::NoSpace)?;
        for (d, s) in dst.iter_mut().zip(n) {
            *d = *s;
        }
        if !v.is_empty() {
            padded = out
                .get(offs..offs + xattr_value_len(v.len()))
                .ok_or(XattrError::NoSpace)?;
        }
        let hash = xattr_hash(n, padded, false);
        block_hash = block_hash
            .filter(|_| hash != 0)
            .map(|h| h.rotate_left(16) ^ hash);
        put_byte(out, off + E_NAME_LEN, name_len).map_err(full)?;
        put_byte(out, off + E_NAME_INDEX, idx).map_err(full)?;
        let offs16 = u16::try_from(offs).map_err(|_| XattrError::NoSpace)?;
        put_le16(out, off + E_VALUE_OFFS, offs16).map_err(full)?;
        put_le32(out, off + E_VALUE_SIZE, size).map_err(full)?;
        put_le32(out, off + E_HASH, hash).map_err(full)?;
        off += xattr_entry_len(n.len());
        Ok(())
    })?;
    put_le32(out, H_MAGIC, XATTR_MAGIC).map_err(full)?;
    put_le32(out, H_REFCOUNT, refcount).map_err(full)?;
    put_le32(out, H_BLOCKS, 1).map_err(full)?;
    put_le32(out, H_HASH, block_hash.unwrap_or(0)).map_err(full)?;
    Ok(XattrWritten::Block)
}

/// Sets h_refcount of a block in place (the hash does not cover it).
///
/// An error, with `block` unchanged, if `block` is not a block [`XattrBlock::parse`] accepts
/// or `refcount` is 0 (a block nobody holds is freed, not written).
pub fn xattr_set_refcount(block: &mut [u8], refcount: u32) -> Result<(), Corrupt> {
    if refcount == 0 {
        return Err(Corrupt::new("extended attribute block with refcount 0"));
    }
    XattrBlock::parse(block)?;
    put_le32(block, xattr_off::H_REFCOUNT, refcount)
}

// ---------------------------------------------------------------------------------------------
// POSIX ACLs as ext2 stores them.
//
// The value of the `system.posix_acl_access` and `system.posix_acl_default` attributes
// (indexes 2 and 3, empty names), as `fs/ext2/acl.c` converts it (`ext2_acl_from_disk()`,
// `ext2_acl_to_disk()`): a 4-byte version header, then the entries, 4 bytes for the tags
// without an id (`ext2_acl_entry_short`: tag, perm) and 8 for `ACL_USER` and `ACL_GROUP`
// (`ext2_acl_entry`: tag, perm, id), all little-endian. The VFS's own format (`posix_acl_xattr`,
// version 2, 8 bytes for every entry) is the kernel side's business.

/// `a_version` of an ext2 ACL value (`EXT2_ACL_VERSION`).
pub const ACL_VERSION: u32 = 1;
/// Size of the ACL header (`ext2_acl_header`).
pub const ACL_HEADER_SIZE: usize = 4;
/// Size of an entry without id (`ext2_acl_entry_short`).
pub const ACL_SHORT_ENTRY: usize = 4;
/// Size of an entry with an id (`ext2_acl_entry`).
pub const ACL_LONG_ENTRY: usize = 8;
/// The permission bits an entry may hold (`ACL_READ | ACL_WRITE | ACL_EXECUTE`).
pub const ACL_PERM_MASK: u16 = 0o7;

/// The tag of an ACL entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTag {
    /// `ACL_USER_OBJ` (0x01): the owner.
    UserObj,
    /// `ACL_USER` (0x02): the user of the entry's id.
    User,
    /// `ACL_GROUP_OBJ` (0x04): the owning group.
    GroupObj,
    /// `ACL_GROUP` (0x08): the group of the entry's id.
    Group,
    /// `ACL_MASK` (0x10): the most the group class may get.
    Mask,
    /// `ACL_OTHER` (0x20): everyone else.
    Other,
}

impl AclTag {
    /// The tag of the on-disk value `raw` (`ACL_USER_OBJ`, ...), if known.
    pub const fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            0x01 => Some(AclTag::UserObj),
            0x02 => Some(AclTag::User),
            0x04 => Some(AclTag::GroupObj),
            0x08 => Some(AclTag::Group),
            0x10 => Some(AclTag::Mask),
            0x20 => Some(AclTag::Other),
            _ => None,
        }
    }

    /// The on-disk value of the tag (the same in the VFS's format).
    pub const fn raw(self) -> u16 {
        match self {
            AclTag::UserObj => 0x01,
            AclTag::User => 0x02,
            AclTag::GroupObj => 0x04,
            AclTag::Group => 0x08,
            AclTag::Mask => 0x10,
            AclTag::Other => 0x20,
        }
    }

    /// Whether entries of this tag carry an id (and take 8 bytes on disk rather than 4).
    pub const fn has_id(self) -> bool {
        matches!(self, AclTag::User | AclTag::Group)
    }
}

/// One ACL entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// What the entry is about.
    pub tag: AclTag,
    /// Permission bits, `rwx` as 4, 2, 1 (at most [`ACL_PERM_MASK`]).
    pub perm: u16,
    /// uid/gid for User/Group, 0 otherwise
    pub id: u32,
}

/// `ext2_acl_count()`: the number of entries a value of `size` bytes holds if it is four short
/// entries at most, or four short ones and then long ones; `None` for any other size.
fn acl_count_for_size(size: usize) -> Option<usize> {
    let body = size.checked_sub(ACL_HEADER_SIZE)?;
    let shorts = 4 * ACL_SHORT_ENTRY;
    if body < shorts {
        (body % ACL_SHORT_ENTRY == 0).then_some(body / ACL_SHORT_ENTRY)
    } else {
        let longs = body - shorts;
        (longs % ACL_LONG_ENTRY == 0).then_some(longs / ACL_LONG_ENTRY + 4)
    }
}

/// `ext2_acl_size()`: the size `ext2_acl_to_disk()` gives `count` entries (saturating).
fn acl_size_for_count(count: usize) -> usize {
    let shorts = count.min(4) * ACL_SHORT_ENTRY;
    let longs = count.saturating_sub(4).saturating_mul(ACL_LONG_ENTRY);
    (ACL_HEADER_SIZE + shorts).saturating_add(longs)
}

/// Checks `value` as `ext2_acl_from_disk()` does, and refuses permission bits beyond `rwx`;
/// calls `f(n, entry)` for each entry. Returns the number of entries.
fn acl_walk(
    value: &[u8],
    mut f: impl FnMut(usize, AclEntry) -> Result<(), Corrupt>,
) -> Result<usize, Corrupt> {
    if value.len() < ACL_HEADER_SIZE {
        return Err(Corrupt::new("ACL shorter than its header"));
    }
    if le32(value, 0)? != ACL_VERSION {
        return Err(Corrupt::new("unknown ACL version"));
    }
    let count = acl_count_for_size(value.len())
        .ok_or(Corrupt::new("ACL size fits no number of entries"))?;
    let truncated = |_| Corrupt::new("ACL entry crosses the end of the value");
    let mut off = ACL_HEADER_SIZE;
    for n in 0..count {
        let tag = le16(value, off).map_err(truncated)?;
        let perm = le16(value, off + 2).map_err(truncated)?;
        let tag = AclTag::from_raw(tag).ok_or(Corrupt::new("unknown ACL entry tag"))?;
        if perm & !ACL_PERM_MASK != 0 {
            return Err(Corrupt::new("ACL permission bits beyond rwx"));
        }
        let id = if tag.has_id() {
            let id = le32(value, off + 4).map_err(truncated)?;
            off += ACL_LONG_ENTRY;
            id
        } else {
            off += ACL_SHORT_ENTRY;
            0
        };
        f(n, AclEntry { tag, perm, id })?;
    }
    if off != value.len() {
        return Err(Corrupt::new("ACL entries do not end with the value"));
    }
    Ok(count)
}

/// Number of entries of an ext2 on-disk ACL value (version 1 header, short entries for
/// USER_OBJ/GROUP_OBJ/MASK/OTHER, long ones for USER/GROUP), checked as ext2_acl_from_disk does:
/// the size must be one `ext2_acl_count()` maps to a count (four short entries at most, then
/// long ones), every tag known, and the entries, each as long as its tag makes it, must end
/// exactly at the end of the value. Permission bits beyond `rwx` (perm > 7), which ext2 copies
/// as they are, are refused as corrupt too. An empty value (header only) is 0 entries.
pub fn acl_count(value: &[u8]) -> Result<usize, Corrupt> {
    acl_walk(value, |_, _| Ok(()))
}

/// Decodes into out[..count]; out.len() must be >= acl_count(value).
///
/// Returns the count. Errors, with `out` unchanged: those of [`acl_count`], and an `out` too
/// short. Entries without an id get id 0.
pub fn acl_decode(value: &[u8], out: &mut [AclEntry]) -> Result<usize, Corrupt> {
    let count = acl_count(value)?;
    if out.len() < count {
        return Err(Corrupt::new("ACL has more entries than the room for them"));
    }
    acl_walk(value, |n, e| {
        let slot = out
            .get_mut(n)
            .ok_or(Corrupt::new("ACL has more entries than the room for them"))?;
        *slot = e;
        Ok(())
    })
}

/// Size of the encoding of `entries`.
///
/// The header, then 8 bytes for each `User`/`Group` entry and 4 for the others (saturating).
pub fn acl_size(entries: &[AclEntry]) -> usize {
    entries.iter().fold(ACL_HEADER_SIZE, |n, e| {
        n.saturating_add(if e.tag.has_id() {
            ACL_LONG_ENTRY
        } else {
            ACL_SHORT_ENTRY
        })
    })
}

/// Encodes (ext2_acl_to_disk) into out; returns the length. Err if out is too small.
///
/// Also an error (with `out` unchanged, as for a short `out`): permission bits beyond `rwx`,
/// or entries whose size is not the one `ext2_acl_size()` gives their count, that is more
/// than four entries without an id, or fewer than four with any entry with one (ext2 would
/// write a value its reader refuses; no valid POSIX ACL is so, as `posix_acl_valid()` checks
/// them). The id of entries without one is not stored.
pub fn acl_encode(entries: &[AclEntry], out: &mut [u8]) -> Result<usize, Corrupt> {
    if entries.iter().any(|e| e.perm & !ACL_PERM_MASK != 0) {
        return Err(Corrupt::new("ACL permission bits beyond rwx"));
    }
    let size = acl_size(entries);
    if size != acl_size_for_count(entries.len()) {
        return Err(Corrupt::new("ACL entries ext2 cannot lay out"));
    }
    if out.len() < size {
        return Err(Corrupt::new("ACL buffer too small"));
    }
    put_le32(out, 0, ACL_VERSION)?;
    let mut off = ACL_HEADER_SIZE;
    for e in entries {
        put_le16(out, off, e.tag.raw())?;
        put_le16(out, off + 2, e.perm)?;
        if e.tag.has_id() {
            put_le32(out, off + 4, e.id)?;
            off += ACL_LONG_ENTRY;
        } else {
            off += ACL_SHORT_ENTRY;
        }
    }
    Ok(size)
}
