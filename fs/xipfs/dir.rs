// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and readdir, over checked directory blocks.

use crate::{balloc, blockmap, corrupt, inode, ondisk, BlockBuf, INode, Xipfs};
use kernel::{
    fs::{Created, DirEmitter, DirEntryType, INodeType, NewNode},
    prelude::*,
    types::ARef,
    xip_util,
};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Calls `f(block index, entry)` for each used entry of `dir`, from block `first` on, until
/// `f` returns `false`. A hole or a corrupt block fails with `EUCLEAN`, and so does a block
/// that is already another's (another block of `dir`, another file, metadata: see
/// [`crate::claims`]).
///
/// The walk is as long as the directory's size says (at most the filesystem's size, checked
/// when the inode is read): it reschedules after each block and stops with `EINTR` when the
/// task is being killed.
fn for_each_entry(
    dir: &INode,
    first: u64,
    f: impl FnMut(u64, &ondisk::DirEntry<'_>) -> Result<bool>,
) -> Result {
    walk_entries(dir, first, u64::MAX, ondisk::dir_entries, f)
}

/// [`for_each_entry`] over blocks `first` to `end` (exclusive, at most the directory's
/// size), with the walk of a block given: [`ondisk::dir_entries`], or
/// [`ondisk::dir_entries_by_name`] for a search by a name.
fn walk_entries(
    dir: &INode,
    first: u64,
    end: u64,
    entries: for<'a> fn(&ondisk::Superblock, &'a [u8]) -> ondisk::DirIter<'a>,
    mut f: impl FnMut(u64, &ondisk::DirEntry<'_>) -> Result<bool>,
) -> Result {
    let sb = dir.super_block();
    let ino = dir.ino();
    let raw = &dir.data().snapshot();
    let bad = |c| corrupt(sb, ino, c);
    let nblocks = end.min(dir.size() / BS);
    let mut buf = BlockBuf::new()?;
    let mut b = first;
    while b < nblocks {
        if b > first {
            xip_util::cond_resched();
        }
        if xip_util::fatal_signal_pending() {
            return Err(EINTR);
        }
        let (blk, _) = blockmap::lookup_run(sb, ino as u32, raw, b, 1)?;
        let blk = blk.ok_or_else(|| bad(ondisk::Corrupt::new("hole in a directory")))?;
        let block = buf.read(sb.dax(), blk)?;
        for entry in entries(&sb.data().sb, block) {
            let entry = entry.map_err(bad)?;
            if !f(b, &entry)? {
                return Ok(());
            }
        }
        b += 1;
    }
    Ok(())
}

/// Where the used entry `name` of `dir` is, and its inode number.
///
/// The search starts at the block where the last one found its name and wraps around, as
/// ext2's does (`i_dir_start_lookup`): looking names up or removing them in the order they
/// were added then reads a block or two, not every block before theirs.
fn search(dir: &INode, name: &[u8]) -> Result<Option<(Found, u32)>> {
    let nblocks = dir.size() / BS;
    let hint = dir.data().dir_hint();
    let start = if hint < nblocks { hint } else { 0 };
    let scan = |first, end| -> Result<Option<(Found, u32)>> {
        let mut found = None;
        walk_entries(dir, first, end, ondisk::dir_entries_by_name, |b, e| {
            if e.name == name {
                found = Some((Found { b, offset: e.offset }, e.inode));
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(found)
    };
    let mut found = scan(start, nblocks)?;
    if found.is_none() && start > 0 {
        found = scan(0, start)?;
    }
    if let Some((at, _)) = &found {
        dir.data().set_dir_hint(at.b);
    }
    Ok(found)
}

/// Looks `name` up in `dir`.
pub(crate) fn lookup(dir: &INode, name: &[u8]) -> Result<Option<ARef<INode>>> {
    if name.len() > 255 {
        return Err(ENAMETOOLONG);
    }
    match search(dir, name)? {
        Some((_, ino)) => Ok(Some(inode::get(dir.super_block(), ino)?)),
        None => Ok(None),
    }
}

/// Emits the entries of `dir` from the byte position `emitter.pos()` on.
pub(crate) fn read_dir(dir: &INode, emitter: &mut DirEmitter<'_>) -> Result {
    let Ok(pos) = u64::try_from(emitter.pos()) else {
        return Ok(());
    };
    let filetype = dir.super_block().data().sb.has_filetype();
    for_each_entry(dir, pos / BS, |b, e| {
        let at = b * BS + e.offset as u64;
        if at < pos {
            return Ok(true); // Before the position asked for.
        }
        let typ = if filetype { entry_type(e.file_type) } else { DirEntryType::Unknown };
        let next = (at + e.rec_len as u64) as i64;
        Ok(emitter.emit(e.name, e.inode as u64, typ, next))
    })
}

fn entry_type(ft: u8) -> DirEntryType {
    match ft {
        ondisk::FT_REG_FILE => DirEntryType::Reg,
        ondisk::FT_DIR => DirEntryType::Dir,
        ondisk::FT_CHRDEV => DirEntryType::Chr,
        ondisk::FT_BLKDEV => DirEntryType::Blk,
        ondisk::FT_FIFO => DirEntryType::Fifo,
        ondisk::FT_SOCK => DirEntryType::Sock,
        ondisk::FT_SYMLINK => DirEntryType::Lnk,
        _ => DirEntryType::Unknown,
    }
}

// ---------------------------------------------------------------------------------------------
// Changing directories. The VFS holds the inode lock of every directory changed here (and of
// the inodes whose links change), so no lookup or readdir runs on them meanwhile.

/// Longest link count, as ext2's `EXT2_LINK_MAX`.
const LINK_MAX: u32 = 32000;

/// Where an entry is: directory block `b`, byte `offset` in it.
#[derive(Clone, Copy)]
struct Found {
    b: u64,
    offset: usize,
}

fn find(dir: &INode, name: &[u8]) -> Result<Option<Found>> {
    Ok(search(dir, name)?.map(|(at, _)| at))
}

/// The `d_type` code of an inode for its directory entries.
fn ftype(inode: &INode) -> u8 {
    ondisk::FileType::from_mode(inode.attrs().mode).map_or(ondisk::FT_UNKNOWN, |t| t.dirent_type())
}

/// Before the first change to `dir`: a directory indexed by `mke2fs -d` (htree,
/// `FL_INDEX`) becomes a plain linear one, which it also is (the index lives in the slack of
/// its first block and in blocks that read as empty), as the ext2 driver leaves it: e2fsck
/// would find the index stale once entries are added without it.
fn prepare_change(dir: &INode) -> Result {
    let mut st = dir.data().lock();
    if st.raw.flags & ondisk::FL_INDEX != 0 {
        st.raw.flags &= !ondisk::FL_INDEX;
        crate::inode::store(dir, &mut st)?;
    }
    Ok(())
}

/// Changes directory block `b` of `dir` with `f` (read, changed, written back).
fn change_block<R>(
    dir: &INode,
    b: u64,
    f: impl FnOnce(&ondisk::Superblock, &mut [u8]) -> core::result::Result<R, ondisk::Corrupt>,
) -> Result<R> {
    change_block_in(dir, b, &mut BlockBuf::new()?, f)
}

/// [`change_block`] with the caller's buffer: allocates nothing (for a directory whose block
/// `b` is a direct one), so that an operation that allocated first cannot stop half-way.
fn change_block_in<R>(
    dir: &INode,
    b: u64,
    buf: &mut BlockBuf,
    f: impl FnOnce(&ondisk::Superblock, &mut [u8]) -> core::result::Result<R, ondisk::Corrupt>,
) -> Result<R> {
    change_block_if(dir, b, buf, |s, blk| f(s, blk).map(Some))?.ok_or(EIO)
}

/// [`change_block_in`] for a change that may not happen: `f` returns `None` when it left the
/// block as it was, and the block is then not written back.
fn change_block_if<R>(
    dir: &INode,
    b: u64,
    buf: &mut BlockBuf,
    f: impl FnOnce(&ondisk::Superblock, &mut [u8]) -> core::result::Result<Option<R>, ondisk::Corrupt>,
) -> Result<Option<R>> {
    let sb = dir.super_block();
    let ino = dir.ino();
    let raw = dir.data().snapshot();
    let (blk, _) = blockmap::lookup_run(sb, ino as u32, &raw, b, 1)?;
    let blk = blk.ok_or_else(|| corrupt(sb, ino, ondisk::Corrupt::new("hole in a directory")))?;
    buf.read(sb.dax(), blk)?;
    let r = f(&sb.data().sb, &mut buf.0).map_err(|c| corrupt(sb, ino, c))?;
    if r.is_some() {
        sb.dax().write(u64::from(blk) * BS, &buf.0)?;
    }
    Ok(r)
}

/// Adds the entry `name` → `ino` to `dir`: in the first block with room, else in a new block
/// at the end.
fn add_entry(dir: &INode, name: &[u8], ino: u32, ft: u8) -> Result {
    let sb = dir.super_block();
    prepare_change(dir)?;
    let nblocks = dir.size() / BS;
    // One buffer for the whole walk, and a block is written back only if the entry went in
    // (`dir_add` leaves a block without room as it was). The buffer first: once a new block
    // is linked, nothing may fail for want of memory.
    let mut buf = BlockBuf::new()?;
    for b in 0..nblocks {
        if change_block_if(dir, b, &mut buf, |s, blk| ondisk::dir_add(s, blk, ino, name, ft))?.is_some() {
            return Ok(());
        }
        xip_util::cond_resched();
    }
    let (blk, _, _) = blockmap::map_for_write(dir, nblocks, 1, false)?;
    let s = &sb.data().sb;
    let bad = |c| corrupt(sb, dir.ino(), c);
    buf.0.fill(0);
    ondisk::dir_init_empty(&mut buf.0).map_err(bad)?;
    ondisk::dir_add(s, &mut buf.0, ino, name, ft).map_err(bad)?.ok_or(EIO)?;
    sb.dax().write(u64::from(blk) * BS, &buf.0)?;
    dir.set_size((nblocks + 1) * BS);
    Ok(())
}

/// Whether directory `dir` has no entries but `.` and `..`.
fn is_empty(dir: &INode) -> Result<bool> {
    let mut empty = true;
    for_each_entry(dir, 0, |_, e| {
        if e.name != b"." && e.name != b".." {
            empty = false;
            return Ok(false);
        }
        Ok(true)
    })?;
    Ok(empty)
}

/// Where the `..` entry of directory `dir` is.
fn find_dotdot(dir: &INode) -> Result<Found> {
    find(dir, b"..")?
        .ok_or_else(|| corrupt(dir.super_block(), dir.ino(), ondisk::Corrupt::new("no '..' entry")))
}

/// Points the `..` entry of directory `dir`, found at `at` ([`find_dotdot`]), at `parent`.
fn set_dotdot(dir: &INode, at: &Found, buf: &mut BlockBuf, parent: u32) -> Result {
    prepare_change(dir)?;
    change_block_in(dir, at.b, buf, |s, blk| ondisk::dir_set(s, blk, at.offset, parent, ondisk::FT_DIR))
}

/// `create`, `mkdir`, `mknod`, `symlink`.
pub(crate) fn create(dir: &INode, name: &[u8], kind: NewNode<'_>, perm: u16) -> Result<Created<Xipfs>> {
    if name.len() > ondisk::NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    make(dir, Some(name), kind, perm)
}

/// `O_TMPFILE`: a regular file in `dir`'s group that no entry names (the VFS drops its link).
/// If it is never linked, its last close frees it as the last close of an unlinked file
/// does; after a crash, e2fsck frees the inode (as for ext2).
pub(crate) fn tmpfile(dir: &INode, perm: u16) -> Result<Created<Xipfs>> {
    make(dir, None, NewNode::Reg, perm)
}

/// A new inode of kind `kind`, linked into `dir` as `name` (or, without a name, nowhere).
fn make(dir: &INode, name: Option<&[u8]>, kind: NewNode<'_>, perm: u16) -> Result<Created<Xipfs>> {
    let sb = dir.super_block();
    let d = sb.data();
    let is_dir = kind == NewNode::Dir;
    if is_dir && dir.nlink() >= LINK_MAX {
        return Err(EMLINK);
    }
    let (fmt, ft): (u16, u8) = match kind {
        NewNode::Reg => (0o100000, ondisk::FT_REG_FILE),
        NewNode::Dir => (0o040000, ondisk::FT_DIR),
        NewNode::Symlink(t) => {
            if t.len() >= ondisk::BLOCK_SIZE {
                return Err(ENAMETOOLONG);
            }
            (0o120000, ondisk::FT_SYMLINK)
        }
        NewNode::Chr(..) => (0o020000, ondisk::FT_CHRDEV),
        NewNode::Blk(..) => (0o060000, ondisk::FT_BLKDEV),
        NewNode::Fifo => (0o010000, ondisk::FT_FIFO),
        NewNode::Sock => (0o140000, ondisk::FT_SOCK),
    };
    let generation = d.next_generation.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let now = ondisk::Timestamp { sec: xip_util::real_seconds(), nsec: 0 };
    let mut raw = ondisk::Inode::new(fmt | perm, 0, 0, now, generation, &d.sb);
    let typ = match kind {
        NewNode::Reg => INodeType::Reg,
        NewNode::Dir => INodeType::Dir,
        NewNode::Symlink(t) => {
            if t.len() < 60 {
                raw.set_fast_symlink(t).map_err(|_| EINVAL)?;
            }
            let mut v = KVec::with_capacity(t.len() + 1, GFP_KERNEL)?;
            v.extend_from_slice(t, GFP_KERNEL)?;
            INodeType::Lnk(v)
        }
        NewNode::Chr(ma, mi) => {
            raw.set_rdev(ma, mi).map_err(|_| EINVAL)?;
            INodeType::Chr(ma, mi)
        }
        NewNode::Blk(ma, mi) => {
            raw.set_rdev(ma, mi).map_err(|_| EINVAL)?;
            INodeType::Blk(ma, mi)
        }
        NewNode::Fifo => INodeType::Fifo,
        NewNode::Sock => INodeType::Sock,
    };
    let ino = balloc::alloc_inode(sb, dir.ino() as u32, is_dir)?;
    let made = (|| {
        let data = inode::InodeData::new(raw, true)?;
        sb.new_inode(u64::from(ino))?.init_new(dir, typ, perm, generation, data)
    })();
    let new = match made {
        Ok(i) => i,
        Err(e) => {
            if e != EUCLEAN {
                let _ = balloc::free_inode(sb, ino, is_dir);
            }
            return Err(e);
        }
    };
    // From here on, a failure drops `new`, which discards it: its last `iput` frees it (and
    // its number, and the ACLs it inherited, if storing them got that far).
    let new = new.store_acls()?;
    let res = (|| -> Result {
        match kind {
            NewNode::Symlink(t) => {
                if t.len() >= 60 {
                    let (blk, _, _) = blockmap::map_for_write(&new, 0, 1, false)?;
                    sb.dax().write(u64::from(blk) * BS, t)?;
                }
                new.set_size(t.len() as u64);
            }
            NewNode::Dir => {
                let (blk, _, _) = blockmap::map_for_write(&new, 0, 1, false)?;
                let mut buf = BlockBuf::new()?;
                ondisk::dir_init_first(&d.sb, &mut buf.0, ino, dir.ino() as u32)
                    .map_err(|c| corrupt(sb, u64::from(ino), c))?;
                sb.dax().write(u64::from(blk) * BS, &buf.0)?;
                new.set_size(BS);
            }
            _ => {}
        }
        inode::write_inode(&new)?;
        let Some(name) = name else { return Ok(()) };
        add_entry(dir, name, ino, ft)?;
        if is_dir {
            dir.inc_nlink();
        }
        dir.touch_mtime_ctime();
        dir.mark_dirty();
        Ok(())
    })();
    res.map(|()| new)
}

/// `link`.
pub(crate) fn link(old: &INode, dir: &INode, name: &[u8]) -> Result {
    if name.len() > ondisk::NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    if old.nlink() >= LINK_MAX {
        return Err(EMLINK);
    }
    add_entry(dir, name, old.ino() as u32, ftype(old))?;
    old.inc_nlink();
    old.touch_ctime();
    old.mark_dirty();
    dir.touch_mtime_ctime();
    dir.mark_dirty();
    Ok(())
}

/// `unlink`.
pub(crate) fn unlink(dir: &INode, name: &[u8], inode: &INode) -> Result {
    let f = find(dir, name)?.ok_or(ENOENT)?;
    prepare_change(dir)?;
    change_block(dir, f.b, |s, blk| ondisk::dir_remove(s, blk, f.offset))?;
    dir.touch_mtime_ctime();
    dir.mark_dirty();
    inode.touch_ctime();
    inode.drop_nlink();
    inode.mark_dirty();
    Ok(())
}

/// `rmdir`.
pub(crate) fn rmdir(dir: &INode, name: &[u8], inode: &INode) -> Result {
    if !is_empty(inode)? {
        return Err(ENOTEMPTY);
    }
    unlink(dir, name, inode)?;
    inode.set_size(0);
    inode.clear_nlink();
    inode.mark_dirty();
    dir.drop_nlink();
    dir.mark_dirty();
    Ok(())
}

/// `rename`, as `ext2_rename`, and `RENAME_EXCHANGE`.
pub(crate) fn rename(
    old_dir: &INode,
    old_name: &[u8],
    old: &INode,
    new_dir: &INode,
    new_name: &[u8],
    new: Option<&INode>,
    exchange: bool,
) -> Result {
    if new_name.len() > ondisk::NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    let same = old_dir.ino() == new_dir.ino();
    let old_is_dir = old.is_dir();
    let old_at = find(old_dir, old_name)?.ok_or(ENOENT)?;
    // What may fail for want of memory (finding entries, a buffer) comes before the first
    // change: a rename that fails leaves both directories as they were.
    let mut buf = BlockBuf::new()?;
    let old_dotdot = if old_is_dir && !same { Some(find_dotdot(old)?) } else { None };
    if exchange {
        let new = new.ok_or(ENOENT)?;
        let new_is_dir = new.is_dir();
        let new_at = find(new_dir, new_name)?.ok_or(ENOENT)?;
        let new_dotdot = if new_is_dir && !same { Some(find_dotdot(new)?) } else { None };
        prepare_change(old_dir)?;
        prepare_change(new_dir)?;
        let (oi, ni) = (old.ino() as u32, new.ino() as u32);
        let (oft, nft) = (ftype(old), ftype(new));
        change_block_in(old_dir, old_at.b, &mut buf, |s, blk| ondisk::dir_set(s, blk, old_at.offset, ni, nft))?;
        change_block_in(new_dir, new_at.b, &mut buf, |s, blk| ondisk::dir_set(s, blk, new_at.offset, oi, oft))?;
        if !same {
            if let Some(at) = &old_dotdot {
                set_dotdot(old, at, &mut buf, new_dir.ino() as u32)?;
            }
            if let Some(at) = &new_dotdot {
                set_dotdot(new, at, &mut buf, old_dir.ino() as u32)?;
            }
            if old_is_dir && !new_is_dir {
                old_dir.drop_nlink();
                new_dir.inc_nlink();
            } else if new_is_dir && !old_is_dir {
                new_dir.drop_nlink();
                old_dir.inc_nlink();
            }
        }
        for i in [old, new] {
            i.touch_ctime();
            i.mark_dirty();
        }
        for dd in [old_dir, new_dir] {
            dd.touch_mtime_ctime();
            dd.mark_dirty();
        }
        return Ok(());
    }
    if old_is_dir && !same && new.is_none() && new_dir.nlink() >= LINK_MAX {
        return Err(EMLINK);
    }
    match new {
        Some(n) => {
            if old_is_dir && !is_empty(n)? {
                return Err(ENOTEMPTY);
            }
            let at = find(new_dir, new_name)?.ok_or(ENOENT)?;
            prepare_change(new_dir)?;
            let (oi, oft) = (old.ino() as u32, ftype(old));
            change_block_in(new_dir, at.b, &mut buf, |s, blk| ondisk::dir_set(s, blk, at.offset, oi, oft))?;
            n.touch_ctime();
            if old_is_dir {
                n.drop_nlink();
            }
            n.drop_nlink();
            n.mark_dirty();
        }
        None => {
            add_entry(new_dir, new_name, old.ino() as u32, ftype(old))?;
            if old_is_dir {
                new_dir.inc_nlink();
            }
        }
    }
    old.touch_ctime();
    old.mark_dirty();
    // Entries never move, so the old one is still where it was found before the change
    // (adding to the same directory only shrinks the slack of some entry).
    prepare_change(old_dir)?;
    change_block_in(old_dir, old_at.b, &mut buf, |s, blk| ondisk::dir_remove(s, blk, old_at.offset))?;
    if old_is_dir {
        if let Some(at) = &old_dotdot {
            set_dotdot(old, at, &mut buf, new_dir.ino() as u32)?;
        }
        old_dir.drop_nlink();
    }
    old_dir.touch_mtime_ctime();
    old_dir.mark_dirty();
    if !same {
        new_dir.touch_mtime_ctime();
        new_dir.mark_dirty();
    }
    Ok(())
}
