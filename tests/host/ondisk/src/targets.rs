// SPDX-License-Identifier: GPL-2.0

//! The fuzz targets, one per structure plus a whole-image one, each `fn(&[u8])` that returns
//! normally on any input unless `ondisk.rs` has a bug (a panic, an overflow, an out-of-range
//! index or a broken documented invariant, see [`crate::check`]). Input formats (all integers
//! little-endian; "sb" is the 1024-byte superblock as at byte 1024 of the device):
//!
//! | target | input |
//! |---|---|
//! | `superblock` | sb |
//! | `group_desc` | sb, group: u32, descriptor table block |
//! | `inode` | sb, ino: u32, inode table block |
//! | `dir` | sb, directory block |
//! | `blockmap` | sb, i_block: 15 × u32, lblk: u64, max: u32, then a [`Sparse`] device |
//! | `image` | a [`Sparse`] device: mount, then walk the tree ([`crate::walk`]) |
//! | `xattr` | an extended attribute block (4096 bytes; a shorter input is the block, zero-padded), then changes: each index: u8, mode: u8, name_len: u8, value_len: u16, name, value |
//!
//! The structure targets also run the writers on what the parsers accepted (and the directory
//! writers on any block): rewriting a parsed superblock, descriptor or inode gives its bytes back,
//! and directory edits follow ext2 (see `check::dir_write`).
//!
//! The `xattr` target checks the block against an oracle (`check::xattr_block`), then applies
//! its changes one after the other, each checked against a model (`check::xattr_write_checked`),
//! and runs the ACL codec on every value it meets (`check::acl_value`).
//!
//! The `encode_*` functions make inputs (the seed maker uses them on `mke2fs` images).

use crate::check;
use crate::dev::Sparse;
use crate::ondisk::*;
use crate::walk::{self, Mounted};

/// The targets by name, for replaying inputs.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("superblock", superblock),
    ("group_desc", group_desc),
    ("inode", inode),
    ("dir", dir),
    ("blockmap", blockmap),
    ("image", image),
    ("xattr", xattr),
];

/// The environment variable that makes every target overflow on purpose: `scripts/host-fuzz`
/// checks with it that a fuzz build catches arithmetic overflow (`overflow-checks` on) and that
/// libFuzzer reports a crash, before trusting a run that found none.
pub const SELF_TEST_ENV: &str = "XIPFS_FUZZ_SELF_TEST";

fn self_test_hook() {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os(SELF_TEST_ENV).is_some()) {
        let x = std::hint::black_box(u32::MAX);
        std::hint::black_box(x + 1);
    }
}

fn split_u32(data: &[u8]) -> Option<(u32, &[u8])> {
    let (h, rest) = data.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*h), rest))
}

fn split_sb(data: &[u8]) -> Option<(Superblock, &[u8])> {
    let sb = Superblock::parse(data).ok()?;
    check::superblock(&sb);
    Some((sb, data.get(SUPERBLOCK_SIZE..)?))
}

/// The superblock parser and every method of an accepted superblock, and its rewrite.
pub fn superblock(data: &[u8]) {
    self_test_hook();
    if let Ok(sb) = Superblock::parse(data) {
        check::superblock(&sb);
        check::superblock_rewrite(data, &sb);
        let mid = sb.group_count() / 3;
        check::group_geometry(&sb, mid);
    }
}

/// A group descriptor table block, for the given group and for every group it holds.
pub fn group_desc(data: &[u8]) {
    self_test_hook();
    let Some((sb, rest)) = split_sb(data) else { return };
    let Some((group, block)) = split_u32(rest) else { return };
    let try_group = |g: u32| {
        let parsed = GroupDesc::parse(&sb, g, block);
        if let Ok(gd) = parsed {
            check::group_desc(&sb, g, &gd);
        }
        // The descriptor alone parses the same as in its block, and rewrites to itself.
        if let Ok((_, off)) = sb.group_desc_location(g) {
            if let Some(raw) = block.get(off..off + GROUP_DESC_SIZE) {
                assert_eq!(GroupDesc::from_bytes(&sb, g, raw), parsed);
                if let Ok(gd) = parsed {
                    check::group_desc_rewrite(raw, &gd);
                }
            }
            if g < sb.group_count() {
                let _ = check::group_super(&sb, g);
            }
        }
    };
    try_group(group);
    let base = (group % sb.group_count()) / DESC_PER_BLOCK * DESC_PER_BLOCK;
    for g in base..sb.group_count().min(base + DESC_PER_BLOCK) {
        try_group(g);
    }
}

/// An inode table block: inode `ino` where `locate_inode` puts it, and every inode slot of it,
/// each rewritten.
pub fn inode(data: &[u8]) {
    self_test_hook();
    let Some((sb, rest)) = split_sb(data) else { return };
    let Some((ino, block)) = split_u32(rest) else { return };
    let check_one = |raw: &Inode, slot: &[u8]| {
        check::inode(&sb, raw);
        check::inode_rewrite(&sb, slot, raw);
        if !raw.is_deleted() && raw.file_type() == Ok(FileType::Symlink) && !raw.is_fast_symlink()
        {
            if let Ok(t) = raw.slow_symlink_target(block) {
                assert_eq!(t.len() as u64, raw.size);
            }
        }
        let _ = raw.fast_symlink_target();
    };
    if let Ok(loc) = sb.locate_inode(ino) {
        check::inode_loc(&sb, ino, &loc);
        if let Ok(raw) = Inode::from_table_block(&sb, &loc, block) {
            check_one(&raw, loc.slice(block).unwrap());
        }
    }
    let size = usize::from(sb.inode_size);
    for k in 0..sb.inodes_per_block() as usize {
        if let Some(slot) = block.get(k * size..) {
            if let Ok(raw) = Inode::parse(&sb, slot) {
                check_one(&raw, slot);
            }
        }
    }
}

/// A directory block, as given and as exactly one block (zero-padded or cut), read and then
/// edited with a name whose length comes from the block's first byte.
pub fn dir(data: &[u8]) {
    self_test_hook();
    let Some((sb, block)) = split_sb(data) else { return };
    check::dir_block(&sb, block);
    let mut full = [0u8; BLOCK_SIZE];
    let n = block.len().min(BLOCK_SIZE);
    full[..n].copy_from_slice(&block[..n]);
    check::dir_block(&sb, &full);
    let name = vec![b'f'; 1 + usize::from(block.first().copied().unwrap_or(0)) % NAME_LEN];
    check::dir_write(&sb, block, sb.first_ino, &name);
    check::dir_write(&sb, &full, sb.first_ino, &name);
}

/// Size of the `blockmap` header after the superblock.
pub const BLOCKMAP_HEADER: usize = N_BLOCKS * 4 + 8 + 4;

/// A regular file with the given `i_block`, as the only fields that matter to the block map.
pub fn file_inode(sb: &Superblock, i_block: &[u8; N_BLOCKS * 4]) -> Option<Inode> {
    use inode_off::*;
    let mut raw = vec![0u8; usize::from(sb.inode_size)];
    raw[I_MODE..I_MODE + 2].copy_from_slice(&0o100644u16.to_le_bytes());
    raw[I_LINKS_COUNT..I_LINKS_COUNT + 2].copy_from_slice(&1u16.to_le_bytes());
    raw[I_SIZE..I_SIZE + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    raw[I_BLOCK..I_BLOCK + N_BLOCKS * 4].copy_from_slice(i_block);
    let inode = Inode::parse(sb, &raw).ok()?;
    assert_eq!(&inode.block.map(u32::to_le_bytes).concat()[..], &i_block[..]);
    Some(inode)
}

/// One block map lookup, walking the indirect blocks held by the sparse device.
pub fn blockmap(data: &[u8]) {
    self_test_hook();
    let Some((sb, rest)) = split_sb(data) else { return };
    let Some((head, rest)) = rest.split_first_chunk::<BLOCKMAP_HEADER>() else { return };
    let (i_block, tail) = head.split_first_chunk::<{ N_BLOCKS * 4 }>().unwrap();
    let lblk = u64::from_le_bytes(tail[..8].try_into().unwrap());
    let max = u32::from_le_bytes(tail[8..12].try_into().unwrap());
    let Some(dev) = Sparse::parse(rest) else { return };
    let Some(raw) = file_inode(&sb, i_block) else { return };
    let m = Mounted { sb, groups: Vec::new() };
    // The lookup itself, then the same place as a path, and the run functions at the edges.
    let _ = m.lookup_run(&dev, &raw, lblk, max);
    if let Ok(path) = BlockPath::new(lblk) {
        check::block_path(lblk, &path);
    } else {
        assert!(lblk >= MAX_MAPPED_BLOCKS);
    }
    for start in [0, lblk as u32 % NDIR_BLOCKS as u32, NDIR_BLOCKS as u32 - 1] {
        if let Ok(n) = direct_run(&raw.block, start, max) {
            check::run(|k| raw.block[k as usize], start, NDIR_BLOCKS as u32, max, n);
        }
    }
    assert!(direct_run(&raw.block, NDIR_BLOCKS as u32, 1).is_err());
    assert!(indirect_entry(&[0; BLOCK_SIZE], ADDR_PER_BLOCK).is_err());
}

/// A whole (sparse) image: mount as `fill_super` does, then walk the tree.
pub fn image(data: &[u8]) {
    self_test_hook();
    let Some(dev) = Sparse::parse(data) else { return };
    if let Ok(m) = walk::mount(&dev) {
        m.walk(&dev, &mut |_| {});
    }
}

/// A `group_desc` input.
pub fn encode_group_desc(sb: &[u8], group: u32, block: &[u8]) -> Vec<u8> {
    [&sb[..SUPERBLOCK_SIZE], &group.to_le_bytes(), block].concat()
}

/// An `inode` input.
pub fn encode_inode(sb: &[u8], ino: u32, block: &[u8]) -> Vec<u8> {
    [&sb[..SUPERBLOCK_SIZE], &ino.to_le_bytes(), block].concat()
}

/// A `dir` input.
pub fn encode_dir(sb: &[u8], block: &[u8]) -> Vec<u8> {
    [&sb[..SUPERBLOCK_SIZE], block].concat()
}

/// A `blockmap` input; `sparse` is [`Sparse::encode`]'s output.
pub fn encode_blockmap(sb: &[u8], i_block: &[u32; N_BLOCKS], lblk: u64, max: u32, sparse: &[u8]) -> Vec<u8> {
    let mut v = sb[..SUPERBLOCK_SIZE].to_vec();
    for b in i_block {
        v.extend_from_slice(&b.to_le_bytes());
    }
    v.extend_from_slice(&lblk.to_le_bytes());
    v.extend_from_slice(&max.to_le_bytes());
    v.extend_from_slice(sparse);
    v
}

/// Most changes one `xattr` input applies.
pub const XATTR_MAX_CHANGES: usize = 64;

/// One change of an `xattr` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrOp {
    /// Name index.
    pub index: u8,
    /// 0: `Set` with `Any`, 1: `Create`, 2: `Replace`, 3: `Remove`; the low 2 bits count; the
    /// next 2 bits make the refcount 0 (refused), 1, 2 or `u32::MAX`.
    pub mode: u8,
    /// The name.
    pub name: Vec<u8>,
    /// The value (ignored by `Remove`).
    pub value: Vec<u8>,
}

impl XattrOp {
    fn change(&self) -> XattrChange<'_> {
        match self.mode & 3 {
            0 => XattrChange::Set(&self.value, XattrSetMode::Any),
            1 => XattrChange::Set(&self.value, XattrSetMode::Create),
            2 => XattrChange::Set(&self.value, XattrSetMode::Replace),
            _ => XattrChange::Remove,
        }
    }

    fn refcount(&self) -> u32 {
        [0, 1, 2, u32::MAX][usize::from(self.mode >> 2 & 3)]
    }
}

/// Splits the changes of an `xattr` input (after its block); a change cut short takes what is
/// there.
pub fn decode_xattr_ops(mut data: &[u8]) -> Vec<XattrOp> {
    let mut ops = Vec::new();
    while ops.len() < XATTR_MAX_CHANGES {
        let Some((head, rest)) = data.split_first_chunk::<5>() else {
            break;
        };
        let name_len = usize::from(head[2]);
        let value_len = usize::from(u16::from_le_bytes([head[3], head[4]]));
        let (name, rest) = rest.split_at(name_len.min(rest.len()));
        let (value, rest) = rest.split_at(value_len.min(rest.len()));
        ops.push(XattrOp {
            index: head[0],
            mode: head[1],
            name: name.to_vec(),
            value: value.to_vec(),
        });
        data = rest;
    }
    ops
}

/// An extended attribute block and changes to it.
pub fn xattr(data: &[u8]) {
    self_test_hook();
    let (block, rest) = data.split_at(data.len().min(BLOCK_SIZE));
    check::xattr_block(block);
    let mut full = vec![0u8; BLOCK_SIZE];
    full[..block.len()].copy_from_slice(block);
    let mut cur = check::xattr_block(&full).map(|_| full.clone());
    if cur.is_none() {
        // Writers refuse it too, and leave it alone.
        let mut c = full.clone();
        assert!(xattr_set_refcount(&mut c, 1).is_err());
        assert_eq!(c, full);
    }
    check::acl_value(rest);
    for op in decode_xattr_ops(rest) {
        check::acl_value(&op.value);
        let old = cur
            .as_deref()
            .map(|b| XattrBlock::parse(b).expect("the current block"));
        let r = check::xattr_write_checked(
            old.as_ref(),
            op.index,
            &op.name,
            op.change(),
            op.refcount(),
        );
        if let Some(next) = r {
            cur = next;
        }
    }
}

/// An `xattr` input: a block (any length up to 4096) and its changes.
pub fn encode_xattr(block: &[u8], ops: &[XattrOp]) -> Vec<u8> {
    let mut v = block[..block.len().min(BLOCK_SIZE)].to_vec();
    v.resize(BLOCK_SIZE, 0);
    for op in ops {
        v.push(op.index);
        v.push(op.mode);
        v.push(op.name.len().min(255) as u8);
        v.extend_from_slice(&(op.value.len().min(65535) as u16).to_le_bytes());
        v.extend_from_slice(&op.name[..op.name.len().min(255)]);
        v.extend_from_slice(&op.value[..op.value.len().min(65535)]);
    }
    v
}
