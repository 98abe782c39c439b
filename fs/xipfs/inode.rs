// SPDX-License-Identifier: GPL-2.0

//! Reading inodes from the inode tables.

use crate::{blockmap, corrupt, ondisk, BlockBuf, SuperBlock, INode};
use kernel::{
    fs::{INodeLookup, INodeParams, INodeType, Timespec},
    prelude::*,
    types::ARef,
};

/// What xipfs keeps of an inode: its checked on-disk copy (block map, flags).
pub(crate) struct InodeData {
    pub(crate) raw: ondisk::Inode,
}

/// Returns inode `ino`, from the inode cache or read from disk.
pub(crate) fn get(sb: &SuperBlock, ino: u32) -> Result<ARef<INode>> {
    match sb.iget(ino as u64)? {
        INodeLookup::Cached(inode) => Ok(inode),
        INodeLookup::New(new) => {
            // On error `new` is dropped, which marks the half-made inode bad.
            let (params, raw) = read(sb, ino)?;
            new.init(params, InodeData { raw })
        }
    }
}

/// Reads and checks inode `ino` and works out its VFS attributes.
fn read(sb: &SuperBlock, ino: u32) -> Result<(INodeParams, ondisk::Inode)> {
    let d = sb.data();
    let bad = |c| corrupt(sb, ino as u64, c);
    if !d.sb.is_usable_ino(ino) {
        return Err(bad(ondisk::Corrupt::new("reserved or out-of-range inode number")));
    }
    let loc = d.sb.locate_inode(ino).map_err(bad)?;
    let gd = crate::sb::group_desc(sb, ino, loc.group)?;
    let blk = loc.block(&gd).map_err(bad)?;
    let mut buf = BlockBuf::new()?;
    let raw = ondisk::Inode::from_table_block(&d.sb, &loc, buf.read(sb.dax(), blk)?)
        .map_err(bad)?;
    if raw.is_deleted() {
        return Err(bad(ondisk::Corrupt::new("deleted inode in use")));
    }
    if raw.size > ondisk::MAX_FILE_SIZE {
        return Err(bad(ondisk::Corrupt::new("file larger than the block map can hold")));
    }
    // Directories have no holes: one larger than the filesystem is corrupt (and would make
    // every lookup in it walk that many blocks).
    if raw.file_type() == Ok(ondisk::FileType::Directory)
        && raw.size / ondisk::BLOCK_SIZE as u64 > d.sb.blocks_count as u64
    {
        return Err(bad(ondisk::Corrupt::new("directory larger than the filesystem")));
    }
    let typ = match raw.file_type().map_err(bad)? {
        ondisk::FileType::Regular => INodeType::Reg,
        ondisk::FileType::Directory => INodeType::Dir,
        ondisk::FileType::Symlink => INodeType::Lnk(symlink_target(sb, ino, &raw, &mut buf)?),
        ondisk::FileType::CharDev => {
            let (ma, mi) = raw.rdev();
            INodeType::Chr(ma, mi)
        }
        ondisk::FileType::BlockDev => {
            let (ma, mi) = raw.rdev();
            INodeType::Blk(ma, mi)
        }
        ondisk::FileType::Fifo => INodeType::Fifo,
        ondisk::FileType::Socket => INodeType::Sock,
    };
    let ts = |t: ondisk::Timestamp| Timespec {
        sec: t.sec,
        nsec: t.nsec,
    };
    let params = INodeParams {
        typ,
        perm: raw.perm(),
        uid: raw.uid,
        gid: raw.gid,
        nlink: raw.links_count as u32,
        size: raw.size,
        blocks: raw.blocks as u64,
        atime: ts(raw.atime),
        mtime: ts(raw.mtime),
        ctime: ts(raw.ctime),
        generation: raw.generation,
    };
    Ok((params, raw))
}

/// The target of a symlink: in the inode (fast) or in its first block (slow).
fn symlink_target(
    sb: &SuperBlock,
    ino: u32,
    raw: &ondisk::Inode,
    buf: &mut BlockBuf,
) -> Result<KVec<u8>> {
    let bad = |c| corrupt(sb, ino as u64, c);
    let target = if raw.is_fast_symlink() {
        raw.fast_symlink_target().map_err(bad)?
    } else {
        let blk = blockmap::first_block(sb, ino, raw)?;
        raw.slow_symlink_target(buf.read(sb.dax(), blk)?).map_err(bad)?
    };
    if target.contains(&0) {
        return Err(bad(ondisk::Corrupt::new("NUL byte in symlink target")));
    }
    let mut v = KVec::with_capacity(target.len() + 1, GFP_KERNEL)?;
    v.extend_from_slice(target, GFP_KERNEL)?;
    Ok(v)
}
