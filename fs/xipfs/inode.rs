// SPDX-License-Identifier: GPL-2.0

//! Inodes: reading them from the inode tables, writing them back, freeing them.
//!
//! The VFS inode holds the attributes (mode, owner, size, times, links); xipfs keeps the
//! rest of the on-disk inode (block map, flags) in [`InodeState`], under a per-inode mutex
//! that also serialises changes to the block map ([`crate::blockmap`]). An inode is written
//! to the inode table in device memory whenever it changes ([`store`]): there is no inode
//! writeback.

use core::sync::atomic::{AtomicU64, Ordering};
use crate::{balloc, blockmap, corrupt, ondisk, BlockBuf, SuperBlock, INode};
use kernel::{
    fs::{Attrs, INodeLookup, INodeParams, INodeType, Timespec},
    new_mutex,
    prelude::*,
    sync::{lock::{mutex::MutexBackend, Guard}, Mutex},
    types::ARef,
    xip_util,
};

/// What xipfs keeps of an inode besides the VFS's attributes.
pub(crate) struct InodeState {
    /// The on-disk inode as last written or read; its block map and flags are current, its
    /// attributes are taken from the VFS inode when it is written.
    pub(crate) raw: ondisk::Inode,
    /// The device block after the last one allocated to the file: where the next goes.
    pub(crate) goal: u32,
    /// Blocks may be allocated past the end of the file.
    pub(crate) past_eof: bool,
    /// A new inode not written yet: its slot in the table is cleared when it is.
    pub(crate) fresh: bool,
}

/// What xipfs keeps of an inode.
pub(crate) struct InodeData {
    state: Pin<KBox<Mutex<InodeState>>>,
    /// A directory's block where the last search found its name: where the next starts.
    dir_hint: AtomicU64,
}

impl InodeData {
    pub(crate) fn new(raw: ondisk::Inode, fresh: bool) -> Result<Self> {
        let st = InodeState { raw, goal: 0, past_eof: false, fresh };
        Ok(Self {
            state: KBox::pin_init(new_mutex!(st, "xipfs_inode"), GFP_KERNEL)?,
            dir_hint: AtomicU64::new(0),
        })
    }

    /// For a directory: the block where the last search found its name (a hint only: it may
    /// be past the directory's end).
    pub(crate) fn dir_hint(&self) -> u64 {
        self.dir_hint.load(Ordering::Relaxed)
    }

    pub(crate) fn set_dir_hint(&self, b: u64) {
        self.dir_hint.store(b, Ordering::Relaxed);
    }

    /// Locks the inode's state (block map).
    pub(crate) fn lock(&self) -> Guard<'_, InodeState, MutexBackend> {
        self.state.lock()
    }

    /// A copy of the on-disk inode (for walks that must not hold the lock: blocks are only
    /// added to a map while others may walk it, never removed).
    pub(crate) fn snapshot(&self) -> ondisk::Inode {
        self.state.lock().raw.clone()
    }
}

fn to_disk(t: Timespec) -> ondisk::Timestamp {
    ondisk::Timestamp { sec: t.sec, nsec: t.nsec }
}

/// Writes inode `inode` to its inode table: the VFS attributes merged into `st.raw` (which
/// is updated), under the inode's lock (`st`).
pub(crate) fn store(inode: &INode, st: &mut InodeState) -> Result {
    let sb = inode.super_block();
    let d = sb.data();
    let ino = inode.ino() as u32;
    let a = inode.attrs();
    let raw = &mut st.raw;
    raw.mode = a.mode;
    raw.uid = a.uid;
    raw.gid = a.gid;
    raw.links_count = a.nlink.min(u32::from(u16::MAX)) as u16;
    raw.size = a.size;
    raw.blocks = a.blocks.min(u64::from(u32::MAX)) as u32;
    raw.atime = to_disk(a.atime);
    raw.mtime = to_disk(a.mtime);
    raw.ctime = to_disk(a.ctime);
    raw.generation = a.generation;
    if raw.mode & ondisk::S_IFMT == 0o100000 && raw.size > i32::MAX as u64 {
        let old = d.ro_compat.fetch_or(ondisk::RO_COMPAT_LARGE_FILE, core::sync::atomic::Ordering::Relaxed);
        if old & ondisk::RO_COMPAT_LARGE_FILE == 0 {
            crate::sb::write_super(sb.dax(), d, crate::sb::SuperUpdate::Sync)?;
        }
    }
    let fresh = core::mem::replace(&mut st.fresh, false);
    write_raw(sb, ino, &st.raw, fresh)
}

/// Writes the on-disk inode `raw` of inode `ino` to its slot in the inode table.
/// With `fresh`, the slot is cleared first (a new inode: nothing of the slot's last user
/// stays).
pub(crate) fn write_raw(sb: &SuperBlock, ino: u32, raw: &ondisk::Inode, fresh: bool) -> Result {
    let s = &sb.data().sb;
    let bad = |c| corrupt(sb, ino as u64, c);
    let loc = s.locate_inode(ino).map_err(bad)?;
    let gd = crate::sb::group_desc(sb, ino, loc.group)?;
    let blk = loc.block(&gd).map_err(bad)?;
    let at = u64::from(blk) * ondisk::BLOCK_SIZE as u64 + loc.offset as u64;
    // Inodes of up to 256 bytes (mke2fs's default) are written through the stack: writing an
    // inode then cannot fail for want of memory (eviction and block freeing rely on it).
    let mut small = [0u8; 256];
    let mut large: KVec<u8>;
    let bytes: &mut [u8] = if loc.size <= small.len() {
        &mut small[..loc.size]
    } else {
        large = KVec::from_elem(0u8, loc.size, GFP_KERNEL)?;
        &mut large[..]
    };
    sb.dax().read(at, bytes)?;
    if fresh {
        raw.encode_new(s, bytes).map_err(bad)?;
    } else {
        raw.encode(s, bytes).map_err(bad)?;
    }
    sb.dax().write(at, bytes)
}

/// `write_inode` (from `mark_inode_dirty`).
pub(crate) fn write_inode(inode: &INode) -> Result {
    if inode.super_block().is_read_only() {
        return Ok(());
    }
    let mut st = inode.data().lock();
    store(inode, &mut st)
}

/// Frees inode `inode`, which has no links left: its blocks, then its number (as
/// `ext2_evict_inode`, `ext2_free_inode`).
pub(crate) fn delete(inode: &INode) {
    let sb = inode.super_block();
    let ino = inode.ino() as u32;
    let is_dir = inode.is_dir();
    inode.set_size(0);
    // Eviction cannot fail: an allocation that does (fault injection, a task being killed)
    // is retried; every step leaves the inode consistent, so a retry goes on from there.
    let mut tries = 0;
    let res = loop {
        match delete_blocks(inode) {
            Err(e) if e == ENOMEM && tries < 16 => {
                tries += 1;
                xip_util::cond_resched();
            }
            r => break r,
        }
    };
    if res.is_ok() {
        let _ = balloc::free_inode(sb, ino, is_dir);
    } else {
        pr_err!("{}: inode {}: could not be freed\n", sb.id(), ino);
    }
}

/// [`delete`]'s work on the inode itself: its blocks freed, then marked deleted.
fn delete_blocks(inode: &INode) -> Result {
    let sb = inode.super_block();
    let ino = inode.ino() as u32;
    {
        let mut st = inode.data().lock();
        // Device files keep their number in the block map, fast symlinks their target.
        let has_blocks = match st.raw.file_type() {
            Ok(ondisk::FileType::Regular) | Ok(ondisk::FileType::Directory) => true,
            Ok(ondisk::FileType::Symlink) => !st.raw.is_fast_symlink(),
            _ => false,
        };
        if has_blocks {
            blockmap::free_from(inode, &mut st, 0)?;
        }
        crate::xattr::release(inode, &mut st)?;
        store(inode, &mut st)?;
        let mut gone = st.raw.clone();
        gone.set_deleted(xip_util::real_seconds() as u32);
        write_raw(sb, ino, &gone, false)?;
        st.raw = gone;
        Ok(())
    }
}

/// Returns inode `ino`, from the inode cache or read from disk.
pub(crate) fn get(sb: &SuperBlock, ino: u32) -> Result<ARef<INode>> {
    match sb.iget(ino as u64)? {
        INodeLookup::Cached(inode) => Ok(inode),
        INodeLookup::New(new) => {
            // On error `new` is dropped, which marks the half-made inode bad.
            let (params, raw) = read(sb, ino)?;
            new.init(params, InodeData::new(raw, false)?)
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
        attrs: Attrs {
            mode: raw.perm(),
            uid: raw.uid,
            gid: raw.gid,
            nlink: raw.links_count as u32,
            size: raw.size,
            blocks: raw.blocks as u64,
            atime: ts(raw.atime),
            mtime: ts(raw.mtime),
            ctime: ts(raw.ctime),
            generation: raw.generation,
            rdev: 0,
        },
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
