// SPDX-License-Identifier: GPL-2.0

//! The kernel module's parse sequence over a [`Blocks`] device: `fill_super` (`sb.rs`), inode
//! reads (`inode.rs`), the block map lookup (`blockmap.rs`) and directory walks (`dir.rs`),
//! mirrored step by step so that the fuzzer drives `ondisk.rs` the way a mount and a tree walk
//! do. Every accepted structure is checked with [`crate::check`]. The walk is bounded (the
//! `MAX_*` constants) so that one input costs little.

use crate::check;
use crate::dev::{Block, Blocks};
use crate::ondisk::*;
use std::collections::BTreeSet;

/// Why a step failed (what the kernel would return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The superblock was refused: `EINVAL`.
    Sb(SbError),
    /// Corrupt metadata: `EUCLEAN`.
    Corrupt(Corrupt),
    /// A read past the end of the device: `EIO`.
    Io,
}

impl From<SbError> for Error {
    fn from(e: SbError) -> Self {
        Error::Sb(e)
    }
}

impl From<Corrupt> for Error {
    fn from(e: Corrupt) -> Self {
        Error::Corrupt(e)
    }
}

fn read(dev: &(impl Blocks + ?Sized), blk: u32, buf: &mut Block) -> Result<(), Error> {
    dev.read(blk, buf).map_err(|_| Error::Io)
}

/// Most blocks one extent covers (`blockmap.rs`'s `MAX_RUN`).
pub const MAX_RUN: u32 = 1024;
/// Most inodes one walk reads.
pub const MAX_INODES: usize = 512;
/// Most directory blocks one walk reads.
pub const MAX_DIR_BLOCKS: usize = 512;
/// Most extents one walk maps per regular file.
pub const MAX_EXTENTS_PER_FILE: usize = 32;

/// A mounted filesystem: `SbData` of `sb.rs`.
pub struct Mounted {
    /// The checked superblock.
    pub sb: Superblock,
    /// One checked descriptor per group.
    pub groups: Vec<GroupDesc>,
}

/// `fill_super()`: the superblock, its fit on the device, every group descriptor.
pub fn mount(dev: &(impl Blocks + ?Sized)) -> Result<Mounted, Error> {
    let mut buf = [0u8; BLOCK_SIZE];
    read(dev, 0, &mut buf)?;
    let sb = Superblock::parse(&buf[SUPERBLOCK_OFFSET..])?;
    check::superblock(&sb);
    sb.check_fits(dev.device_bytes())?;
    let mut groups = Vec::new();
    let mut loaded = None;
    for g in 0..sb.group_count() {
        let (blk, _) = sb.group_desc_location(g)?;
        if loaded != Some(blk) {
            read(dev, blk, &mut buf)?;
            loaded = Some(blk);
        }
        let gd = GroupDesc::parse(&sb, g, &buf)?;
        check::group_desc(&sb, g, &gd);
        // claims::claim_group_metadata(): where the superblock copy and tables are. (The
        // claim map itself, refusing overlaps, is kernel code: the harness lets overlapping
        // metadata through, to reach more of the parser.)
        check::group_super(&sb, g)?;
        groups.push(gd);
    }
    Ok(Mounted { sb, groups })
}

/// What an inode read found, beyond the inode itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symlink and its target.
    Symlink(Vec<u8>),
    /// Anything else (devices, FIFOs, sockets).
    Other,
}

impl Mounted {
    /// `inode.rs`'s `read()`: inode `ino`, checked, with its symlink target. Also returns the
    /// inode table block it was read from.
    pub fn read_inode(
        &self,
        dev: &(impl Blocks + ?Sized),
        ino: u32,
    ) -> Result<(Inode, Kind, u32), Error> {
        let sb = &self.sb;
        if !sb.is_usable_ino(ino) {
            return Err(Corrupt::new("reserved or out-of-range inode number").into());
        }
        let loc = sb.locate_inode(ino)?;
        check::inode_loc(sb, ino, &loc);
        // sb::group_desc(): the 32 bytes of the descriptor, read again when needed.
        let (gdt_blk, offset) = sb.group_desc_location(loc.group)?;
        let mut buf = [0u8; BLOCK_SIZE];
        read(dev, gdt_blk, &mut buf)?;
        let gd = GroupDesc::from_bytes(sb, loc.group, &buf[offset..offset + GROUP_DESC_SIZE])?;
        assert_eq!(Some(&gd), self.groups.get(loc.group as usize), "from_bytes != parse");
        let gd = &gd;
        let blk = loc.block(gd)?;
        // The descriptor's and locate_inode's invariants together: the block is in the table.
        assert!(blk >= gd.inode_table && blk - gd.inode_table < sb.inode_table_blocks());
        assert!(blk < sb.blocks_count);
        read(dev, blk, &mut buf)?;
        let raw = Inode::from_table_block(sb, &loc, &buf)?;
        check::inode(sb, &raw);
        if raw.is_deleted() {
            return Err(Corrupt::new("deleted inode in use").into());
        }
        if raw.size > MAX_FILE_SIZE {
            return Err(Corrupt::new("file larger than the block map can hold").into());
        }
        if raw.file_type() == Ok(FileType::Directory)
            && raw.size / BLOCK_SIZE as u64 > u64::from(sb.blocks_count)
        {
            return Err(Corrupt::new("directory larger than the filesystem").into());
        }
        let kind = match raw.file_type()? {
            FileType::Regular => Kind::Regular,
            FileType::Directory => Kind::Directory,
            FileType::Symlink => Kind::Symlink(self.symlink_target(dev, &raw)?),
            _ => Kind::Other,
        };
        Ok((raw, kind, blk))
    }

    fn symlink_target(&self, dev: &(impl Blocks + ?Sized), raw: &Inode) -> Result<Vec<u8>, Error> {
        let target = if raw.is_fast_symlink() {
            let t = raw.fast_symlink_target()?;
            assert_eq!(t.len() as u64, raw.size);
            t.to_vec()
        } else {
            let blk = match self.lookup_run(dev, raw, 0, 1)? {
                (Some(b), _) => b,
                (None, _) => return Err(Corrupt::new("missing data block").into()),
            };
            let mut buf = [0u8; BLOCK_SIZE];
            read(dev, blk, &mut buf)?;
            let t = raw.slow_symlink_target(&buf)?;
            assert_eq!(t.len() as u64, raw.size);
            assert!(t.len() < BLOCK_SIZE);
            t.to_vec()
        };
        if target.contains(&0) {
            return Err(Corrupt::new("NUL byte in symlink target").into());
        }
        Ok(target)
    }

    /// `blockmap.rs`'s `lookup_run()`: where logical block `lblk` is and how many blocks
    /// continue it, `(Some(first block), n)` or `(None, n)` for a hole, `n` in `1..=max`.
    pub fn lookup_run(
        &self,
        dev: &(impl Blocks + ?Sized),
        raw: &Inode,
        lblk: u64,
        max: u32,
    ) -> Result<(Option<u32>, u32), Error> {
        let sb = &self.sb;
        let max = max.clamp(1, MAX_RUN);
        let path = BlockPath::new(lblk)?;
        check::block_path(lblk, &path);
        let idx = path.indices();
        let idx = idx.as_slice();
        let (first, n) = if path.depth() == 0 {
            let i = idx[0];
            let n = direct_run(&raw.block, i, max)?;
            check::run(|k| raw.block[k as usize], i, NDIR_BLOCKS as u32, max, n);
            (raw.block[i as usize], n)
        } else {
            let mut buf = [0u8; BLOCK_SIZE];
            let mut blk = raw.block[idx[0] as usize];
            let mut level = 1;
            loop {
                match sb.check_block_nr(blk)? {
                    None => {
                        let n = path.leaf_remaining().clamp(1, max);
                        check_result(sb, None, n, max);
                        return Ok((None, n));
                    }
                    Some(b) => {
                        assert!(b > 0 && b < sb.blocks_count);
                        read(dev, b, &mut buf)?;
                        let i = idx[level];
                        if level == idx.len() - 1 {
                            let n = contiguous_run(&buf, i, max)?;
                            check::run(
                                |k| u32::from_le_bytes(buf[k as usize * 4..][..4].try_into().unwrap()),
                                i,
                                ADDR_PER_BLOCK,
                                max,
                                n,
                            );
                            break (indirect_entry(&buf, i)?, n);
                        }
                        blk = indirect_entry(&buf, i)?;
                        level += 1;
                    }
                }
            }
        };
        let r = match sb.check_block_nr(first)? {
            None => (None, n.max(1)),
            Some(b) => {
                sb.check_extent(b, n)?;
                (Some(b), n)
            }
        };
        check_result(sb, r.0, r.1, max);
        Ok(r)
    }

    /// Walks the tree from the root, as `ls -R` and reading every file would: reads each
    /// inode reached and its extended attribute block, maps each file's extents and parses each
    /// directory block (bounded).
    pub fn walk(&self, dev: &(impl Blocks + ?Sized), visit: &mut dyn FnMut(Visit<'_>)) -> Walked {
        let mut w = Walked::default();
        let mut seen = BTreeSet::new();
        let mut queue = vec![ROOT_INO];
        let mut buf = [0u8; BLOCK_SIZE];
        while let Some(ino) = queue.pop() {
            if !seen.insert(ino) || w.inodes >= MAX_INODES {
                continue;
            }
            w.inodes += 1;
            let (raw, kind, table_blk) = match self.read_inode(dev, ino) {
                Ok(r) => r,
                Err(_) => {
                    w.errors += 1;
                    continue;
                }
            };
            visit(Visit::Inode { ino, raw: &raw, table_blk });
            // Its extended attributes, as listxattr reads them.
            if raw.file_acl != 0 {
                if read(dev, raw.file_acl, &mut buf).is_err() {
                    w.errors += 1;
                } else {
                    visit(Visit::XattrBlock { ino, blk: raw.file_acl, block: &buf });
                    w.xattr_blocks += 1;
                    if check::xattr_block(&buf).is_none() {
                        w.errors += 1;
                    }
                }
            }
            match kind {
                Kind::Directory => {
                    let nblocks = raw.size / BLOCK_SIZE as u64;
                    for b in 0..nblocks {
                        if w.dir_blocks >= MAX_DIR_BLOCKS {
                            break;
                        }
                        w.dir_blocks += 1;
                        let blk = match self.lookup_run(dev, &raw, b, 1) {
                            Ok((Some(blk), _)) => blk,
                            _ => {
                                w.errors += 1;
                                break;
                            }
                        };
                        if read(dev, blk, &mut buf).is_err() {
                            w.errors += 1;
                            break;
                        }
                        visit(Visit::DirBlock { ino, lblk: b, block: &buf });
                        let (entries, corrupt) = check::dir_block(&self.sb, &buf);
                        for (child, _) in entries {
                            w.entries += 1;
                            queue.push(child);
                        }
                        if corrupt {
                            w.errors += 1;
                            break;
                        }
                    }
                }
                Kind::Regular => {
                    let nblocks = raw.size.div_ceil(BLOCK_SIZE as u64);
                    let mut lblk = 0;
                    let mut k = 0;
                    while lblk < nblocks && k < MAX_EXTENTS_PER_FILE {
                        let want = u32::try_from(nblocks - lblk).unwrap_or(MAX_RUN);
                        match self.lookup_run(dev, &raw, lblk, want) {
                            Ok((_, n)) => {
                                visit(Visit::Extent { ino, raw: &raw, lblk, want });
                                w.extents += 1;
                                lblk += u64::from(n);
                            }
                            Err(_) => {
                                w.errors += 1;
                                break;
                            }
                        }
                        k += 1;
                    }
                    // And the end of the file, as a read of its last bytes does.
                    if lblk < nblocks {
                        let last = nblocks - 1;
                        match self.lookup_run(dev, &raw, last, 1) {
                            Ok(_) => {
                                visit(Visit::Extent { ino, raw: &raw, lblk: last, want: 1 });
                                w.extents += 1;
                            }
                            Err(_) => w.errors += 1,
                        }
                    }
                }
                Kind::Symlink(_) | Kind::Other => {}
            }
        }
        w
    }
}

fn check_result(sb: &Superblock, first: Option<u32>, n: u32, max: u32) {
    assert!(n >= 1 && n <= max.clamp(1, MAX_RUN), "lookup_run length {n} for max {max}");
    if let Some(b) = first {
        assert!(b > sb.first_data_block);
        assert!(u64::from(b) + u64::from(n) <= u64::from(sb.blocks_count), "extent past the end");
    }
}

/// What a walk saw, for the seed maker.
pub enum Visit<'a> {
    /// An inode read (and accepted), from inode table block `table_blk`.
    Inode { ino: u32, raw: &'a Inode, table_blk: u32 },
    /// A directory block of `ino`.
    DirBlock { ino: u32, lblk: u64, block: &'a Block },
    /// An extent of a regular file looked up at `lblk` for `want` blocks.
    Extent { ino: u32, raw: &'a Inode, lblk: u64, want: u32 },
    /// The extended attribute block `blk` of `ino` (before it is checked).
    XattrBlock { ino: u32, blk: u32, block: &'a Block },
}

/// Counts of a walk.
#[derive(Debug, Default, Clone, Copy)]
pub struct Walked {
    /// Inodes tried.
    pub inodes: usize,
    /// Directory blocks parsed.
    pub dir_blocks: usize,
    /// Directory entries found.
    pub entries: usize,
    /// Extents mapped.
    pub extents: usize,
    /// Extended attribute blocks read (each time an inode names one).
    pub xattr_blocks: usize,
    /// Steps that found corruption (or a read past the device).
    pub errors: usize,
}
