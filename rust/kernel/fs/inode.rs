// SPDX-License-Identifier: GPL-2.0

//! Inodes: the inode cache, filling new inodes, freeing them.

use super::{dir, file, xattr, FileSystem, SuperBlock};
use crate::{
    alloc::{flags::GFP_KERNEL, KBox, KVec},
    bindings,
    error::{code::*, Result},
    types::{ARef, AlwaysRefCounted, Opaque},
};
use core::{
    marker::PhantomData,
    mem::ManuallyDrop,
    ptr::{addr_of_mut, NonNull},
};

/// A time stamp.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Timespec {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds, below 1 000 000 000.
    pub nsec: u32,
}

/// The kind of an inode, with what the VFS needs to know of each kind.
pub enum INodeType {
    /// A regular file; its data is reached through [`FileSystem::map`] and DAX.
    Reg,
    /// A directory.
    Dir,
    /// A symbolic link with this target (without a trailing NUL).
    Lnk(KVec<u8>),
    /// A character device with this major and minor number.
    Chr(u32, u32),
    /// A block device with this major and minor number.
    Blk(u32, u32),
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Sock,
}

/// What an inode read from disk is: its kind and its attributes (of which `mode` gives only
/// the permission bits, with set-user-id, set-group-id and sticky, and `rdev` is unused: the
/// kind says both).
pub struct INodeParams {
    /// What the inode is.
    pub typ: INodeType,
    /// Its attributes.
    pub attrs: Attrs,
}

/// What `i_private` of an inode of ours points to.
///
/// The two parts have different lifetimes. `data` is the filesystem's, and its `Drop` may sleep
/// (it may hold references or locks): it is dropped in `destroy_inode`, in process context, when
/// the inode is evicted. `link` may still be read by an RCU path walk after that (through
/// `i_link`): it is freed in `free_inode`, after the RCU grace period, with the rest.
struct Private<T: FileSystem> {
    data: ManuallyDrop<T::INodeData>,
    /// The symlink target with a trailing NUL, which `i_link` points to.
    link: Option<KVec<u8>>,
}

/// An inode of filesystem `T`.
///
/// # Invariants
///
/// The inode belongs to a superblock of `T` and was filled by [`NewINode::init`]: its
/// `i_private` is a live `KBox<Private<T>>` whose `data` is dropped only by `destroy_inode`
/// (when the inode is evicted, so no reference to it exists) and which is freed by
/// `free_inode`.
#[repr(transparent)]
pub struct INode<T: FileSystem>(Opaque<bindings::inode>, PhantomData<T>);

// SAFETY: Inodes are reference counted with `ihold`/`iput`, usable from any thread.
unsafe impl<T: FileSystem> AlwaysRefCounted for INode<T> {
    fn inc_ref(&self) {
        // SAFETY: The existence of `&self` means the count is non-zero.
        unsafe { bindings::ihold(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference.
        unsafe { bindings::iput(obj.as_ptr().cast()) };
    }
}

impl<T: FileSystem> INode<T> {
    /// # Safety
    ///
    /// `ptr` must be a filled inode of `T` (see the type invariant), valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity as required.
        unsafe { &*ptr.cast() }
    }

    /// # Safety
    ///
    /// `ptr` must be a filled inode of `T` whose reference the caller hands over.
    pub(crate) unsafe fn from_owned_raw(ptr: *mut bindings::inode) -> ARef<Self> {
        // SAFETY: As required; `NonNull` because valid.
        unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::inode {
        self.0.get()
    }

    fn private(&self) -> &Private<T> {
        // SAFETY: By the type invariant `i_private` is a live `Private<T>`.
        unsafe { &*(*self.as_raw()).i_private.cast::<Private<T>>() }
    }

    /// The filesystem's data for this inode.
    pub fn data(&self) -> &T::INodeData {
        &self.private().data
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: `i_ino` never changes once the inode is hashed.
        unsafe { (*self.as_raw()).i_ino as u64 }
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        // SAFETY: The inode is valid.
        unsafe { bindings::i_size_read(self.as_raw()) as u64 }
    }

    /// Whether the inode is a directory.
    pub fn is_dir(&self) -> bool {
        // SAFETY: `i_mode` never changes once the inode is filled.
        let mode = unsafe { (*self.as_raw()).i_mode } as u32;
        mode & bindings::S_IFMT == bindings::S_IFDIR
    }

    /// The superblock.
    pub fn super_block(&self) -> &SuperBlock<T> {
        // SAFETY: A filled inode belongs to a mounted superblock of `T`, which outlives it.
        unsafe { SuperBlock::from_raw((*self.as_raw()).i_sb) }
    }

    /// The inode's attributes as the VFS has them now (they change under the inode lock,
    /// `i_rwsem`; a caller that does not hold it gets a snapshot that may be torn between
    /// fields, as C readers do).
    pub fn attrs(&self) -> Attrs {
        let ptr = self.as_raw();
        // SAFETY: The inode is valid; plain field reads, and `i_size_read`, `i_uid_read`
        // and `i_gid_read` are safe on a live inode.
        unsafe {
            Attrs {
                mode: (*ptr).i_mode as u16,
                uid: bindings::i_uid_read(ptr),
                gid: bindings::i_gid_read(ptr),
                nlink: (*ptr).__bindgen_anon_1.i_nlink,
                size: bindings::i_size_read(ptr) as u64,
                blocks: (*ptr).i_blocks as u64,
                atime: Timespec { sec: (*ptr).i_atime_sec, nsec: (*ptr).i_atime_nsec },
                mtime: Timespec { sec: (*ptr).i_mtime_sec, nsec: (*ptr).i_mtime_nsec },
                ctime: Timespec { sec: (*ptr).i_ctime_sec, nsec: (*ptr).i_ctime_nsec },
                generation: (*ptr).i_generation,
                rdev: (*ptr).i_rdev,
            }
        }
    }

    /// The number of hard links.
    pub fn nlink(&self) -> u32 {
        // SAFETY: The inode is valid; `i_nlink` is read without a lock by C too.
        unsafe { core::ptr::read_volatile(&(*self.as_raw()).__bindgen_anon_1.i_nlink) }
    }

    /// Sets the size (`i_size_write`). The caller holds the inode lock, and has made the
    /// file's data up to the new size what the file may show (zeroes or data).
    pub fn set_size(&self, size: u64) {
        // SAFETY: The inode is valid; `i_size_write` is what C calls under the inode lock.
        unsafe { bindings::i_size_write(self.as_raw(), size as _) };
    }

    /// Adds `bytes` of allocated space (`i_blocks`, `inode_add_bytes`).
    pub fn add_bytes(&self, bytes: u64) {
        // SAFETY: The inode is valid; `inode_add_bytes` takes `i_lock`.
        unsafe { bindings::inode_add_bytes(self.as_raw(), bytes as _) };
    }

    /// Removes `bytes` of allocated space (`inode_sub_bytes`).
    pub fn sub_bytes(&self, bytes: u64) {
        // SAFETY: As in `add_bytes`.
        unsafe { bindings::inode_sub_bytes(self.as_raw(), bytes as _) };
    }

    /// Adds a hard link (`inc_nlink`). The caller holds the inode lock.
    pub fn inc_nlink(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::inc_nlink(self.as_raw()) };
    }

    /// Removes a hard link (`drop_nlink`); does nothing at zero (a corrupt count is not made
    /// to wrap). The caller holds the inode lock.
    pub fn drop_nlink(&self) {
        if self.nlink() > 0 {
            // SAFETY: The inode is valid and has a link to drop.
            unsafe { bindings::drop_nlink(self.as_raw()) };
        }
    }

    /// Removes every hard link (`clear_nlink`): the inode is freed at its last `iput`
    /// ([`super::sb::Operations::delete_inode`]). The caller holds the inode lock, or owns
    /// the only reference.
    pub fn clear_nlink(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::clear_nlink(self.as_raw()) };
    }

    /// Marks the inode dirty (`mark_inode_dirty`): the filesystem's
    /// [`super::sb::Operations::write_inode`] then writes it.
    ///
    /// The filesystem must not hold a lock that its `write_inode` takes.
    pub fn mark_dirty(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::mark_inode_dirty(self.as_raw()) };
    }

    /// Sets the modification and change times to now (does not mark the inode dirty).
    pub fn touch_mtime_ctime(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::xip_inode_touch_mc(self.as_raw()) };
    }

    /// Runs `f` with the file's invalidate lock held exclusively, after unmapping the bytes
    /// `[start, end)` of the file from every process and removing their DAX entries
    /// (`truncate_pagecache_range`): while `f` runs, nothing can reach those pages of the
    /// file, so `f` may move their blocks.
    ///
    /// Fails with `EBUSY`, without running `f`, if a page of the range is pinned by
    /// `get_user_pages()` (an `O_DIRECT` transfer or a `vmsplice()`d buffer may still write or
    /// read the block under it): it does not wait for the pin.
    ///
    /// The caller holds the inode lock and not the invalidate lock (it is not a page fault).
    pub fn with_range_unmapped<R>(&self, start: u64, end: u64, f: impl FnOnce() -> R) -> Result<R> {
        let raw = self.as_raw();
        // SAFETY: The inode is valid; `i_mapping` is its mapping. The invalidate lock keeps
        // faults out while the range is unmapped and `f` runs.
        unsafe {
            let mapping = (*raw).i_mapping;
            bindings::filemap_invalidate_lock(mapping);
            let r = if end > start {
                crate::error::to_result(bindings::xip_dax_break_layouts(
                    raw,
                    start as _,
                    (end - 1) as _,
                    false,
                ))
            } else {
                Ok(())
            };
            let r = r.map(|()| {
                if end > start {
                    bindings::truncate_pagecache_range(raw, start as _, (end - 1) as _);
                }
                f()
            });
            bindings::filemap_invalidate_unlock(mapping);
            r
        }
    }

    /// Sets the change time to now (does not mark the inode dirty).
    pub fn touch_ctime(&self) {
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_set_ctime_current(self.as_raw()) };
    }
}

/// The attributes of an inode, from [`INode::attrs`].
#[derive(Clone, Copy, Debug)]
pub struct Attrs {
    /// File type and permission bits (`i_mode`).
    pub mode: u16,
    /// Owner, in the initial user namespace.
    pub uid: u32,
    /// Group, in the initial user namespace.
    pub gid: u32,
    /// Number of hard links.
    pub nlink: u32,
    /// Size in bytes.
    pub size: u64,
    /// Allocated 512-byte sectors.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification of the data.
    pub mtime: Timespec,
    /// Last change of the inode.
    pub ctime: Timespec,
    /// Generation number.
    pub generation: u32,
    /// Device number of a device special file (`MKDEV` encoding: major << 20 | minor).
    pub rdev: u32,
}

/// The result of [`SuperBlock::iget`].
pub enum INodeLookup<T: FileSystem> {
    /// The inode was in the inode cache.
    Cached(ARef<INode<T>>),
    /// The inode is new: fill it with [`NewINode::init`].
    New(NewINode<T>),
}

/// A new inode, locked, to be filled from disk. Dropping it without calling
/// [`NewINode::init`] marks it bad and releases it (`iget_failed`).
///
/// # Invariants
///
/// `inode` is a new (`I_NEW`), locked inode of a superblock of `T` whose reference we own.
pub struct NewINode<T: FileSystem> {
    inode: NonNull<bindings::inode>,
    _p: PhantomData<T>,
}

impl<T: FileSystem> NewINode<T> {
    /// # Safety
    ///
    /// `ptr` must be a new, locked inode of `T`, whose reference the caller hands over.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::inode) -> Self {
        // INVARIANT: As required.
        Self {
            // SAFETY: Valid, so not null.
            inode: unsafe { NonNull::new_unchecked(ptr) },
            _p: PhantomData,
        }
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is set by `iget_locked`.
        unsafe { (*self.inode.as_ptr()).i_ino as u64 }
    }

    /// Fills the inode with `params` and `data`, and makes it visible to other users.
    ///
    /// Fails with `EUCLEAN` for a device number that does not fit `dev_t`.
    pub fn init(self, params: INodeParams, data: T::INodeData) -> Result<ARef<INode<T>>> {
        let ptr = self.inode.as_ptr();
        let (fmt, link, rdev) = kind(params.typ)?;
        let a = params.attrs;
        let mode = fmt | (a.mode as u32 & 0o7777);
        // SAFETY: The inode is new and locked (type invariant): it is already hashed, so others
        // can find it, but they wait for `I_NEW` to clear before looking at its fields. Fields
        // are written through the raw pointer (no `&mut` to a structure others can see).
        unsafe {
            (*ptr).i_mode = mode as _;
            bindings::i_uid_write(ptr, a.uid);
            bindings::i_gid_write(ptr, a.gid);
            bindings::set_nlink(ptr, a.nlink);
            (*ptr).i_size = a.size as _;
            (*ptr).i_blocks = a.blocks as _;
            (*ptr).i_atime_sec = a.atime.sec;
            (*ptr).i_atime_nsec = a.atime.nsec;
            (*ptr).i_mtime_sec = a.mtime.sec;
            (*ptr).i_mtime_nsec = a.mtime.nsec;
            (*ptr).i_ctime_sec = a.ctime.sec;
            (*ptr).i_ctime_nsec = a.ctime.nsec;
            (*ptr).i_generation = a.generation;
        }
        let ptr = self.fill(link, rdev, data)?;
        // SAFETY: Filled just now; others may look at it once it is unlocked.
        unsafe { bindings::unlock_new_inode(ptr) };
        // SAFETY: Filled; our reference is handed over.
        Ok(unsafe { INode::from_owned_raw(ptr) })
    }

    /// Fills a brand-new inode, made by [`SuperBlock::new_inode`] for an entry of directory
    /// `dir`: owner and group as the VFS rules say (`inode_init_owner`: the caller's fsuid;
    /// the directory's group if it is set-group-id, which new directories inherit), the
    /// permission bits `perm`, one link (two for a directory: its entry and its `.`), size
    /// zero, all times now.
    ///
    /// On a mount with POSIX ACLs, the permission bits are those the ACL rules leave of `perm`
    /// (the umask applies only if `dir` has no default ACL), and the ACLs the inode inherits
    /// from `dir` are stored by [`Filled::store_acls`], the one way to the [`Created`] inode
    /// that a directory operation returns: the filesystem calls it before it links the inode
    /// anywhere.
    pub fn init_new(
        self,
        dir: &INode<T>,
        typ: INodeType,
        perm: u16,
        generation: u32,
        data: T::INodeData,
    ) -> Result<Filled<T>> {
        let ptr = self.inode.as_ptr();
        let (fmt, link, rdev) = kind(typ)?;
        let mode = fmt | (perm as u32 & 0o7777);
        // SAFETY: As in `init`; `dir` is a live directory of the same superblock, and our
        // filesystems are not mounted with an idmap (no `FS_ALLOW_IDMAP`).
        unsafe {
            bindings::inode_init_owner(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                ptr,
                dir.as_raw(),
                mode as _,
            );
            bindings::set_nlink(ptr, if fmt == bindings::S_IFDIR { 2 } else { 1 });
            (*ptr).i_size = 0;
            (*ptr).i_blocks = 0;
            bindings::simple_inode_init_ts(ptr);
            (*ptr).i_generation = generation;
        }
        // Before `fill`: a failure drops `self`, an inode never filled, whose number stays
        // the filesystem's to release.
        // SAFETY: `i_mode` of the new inode, which only we can see.
        let acls = unsafe { xattr::Tables::<T>::create_acls(dir, addr_of_mut!((*ptr).i_mode)) }?;
        let ptr = self.fill(link, rdev, data)?;
        Ok(Filled {
            // INVARIANT: Filled, still new and locked; our reference is handed over.
            inode: Created {
                // SAFETY: Valid, so not null.
                inode: unsafe { NonNull::new_unchecked(ptr) },
                _p: PhantomData,
            },
            acls,
        })
    }

    /// Sets the operation tables for the inode's mode and attaches the private data; returns
    /// the inode, filled and still locked (`I_NEW`), with our reference.
    fn fill(
        self,
        link: Option<KVec<u8>>,
        rdev: u32,
        data: T::INodeData,
    ) -> Result<*mut bindings::inode> {
        // The memory first, then the data moved in: were `KBox::new` to fail with the data
        // already in its `ManuallyDrop`, the data would leak (kmemleak found it under fault
        // injection); this way a failure drops `data` normally.
        let private = KBox::<Private<T>>::new_uninit(GFP_KERNEL)?.write(Private::<T> {
            data: ManuallyDrop::new(data),
            link,
        });
        let ptr = self.inode.as_ptr();
        // SAFETY: As in `init`. The tables are static and `i_link` points into `Private`, freed
        // in `free_inode` after an RCU grace period, like the inode itself.
        unsafe {
            let mode = (*ptr).i_mode as u32;
            match mode & bindings::S_IFMT {
                bindings::S_IFREG => {
                    (*ptr).i_op = &file::Tables::<T>::FILE_IOPS;
                    (*ptr).__bindgen_anon_3.i_fop = &file::Tables::<T>::FILE_FOPS;
                    (*ptr).i_data.a_ops = &file::Tables::<T>::DAX_AOPS;
                    // File data lives in the device memory: no page cache, DAX mappings.
                    (*ptr).i_flags |= bindings::S_DAX;
                }
                bindings::S_IFDIR => {
                    (*ptr).i_op = &dir::Tables::<T>::DIR_IOPS;
                    (*ptr).__bindgen_anon_3.i_fop = &dir::Tables::<T>::DIR_FOPS;
                }
                bindings::S_IFLNK => {
                    (*ptr).i_op = &xattr::Tables::<T>::SYMLINK_IOPS;
                }
                _ => {
                    bindings::init_special_inode(ptr, mode as _, rdev);
                    (*ptr).i_op = &xattr::Tables::<T>::SPECIAL_IOPS;
                }
            }
            let private = KBox::into_raw(private);
            if let Some(link) = &(*private).link {
                (*ptr).__bindgen_anon_4.i_link = link.as_ptr().cast_mut().cast();
            }
            // INVARIANT: `i_private` now holds our `Private<T>`: the inode is filled.
            (*ptr).i_private = private.cast();
        }
        core::mem::forget(self);
        Ok(ptr)
    }
}

/// A brand-new inode, filled by [`NewINode::init_new`], with the ACLs it inherits from its
/// directory not stored yet (none on mounts without ACLs). [`Filled::store_acls`] stores them
/// and gives the [`Created`] inode; dropping it discards the inode as dropping a [`Created`]
/// does.
pub struct Filled<T: FileSystem> {
    inode: Created<T>,
    acls: xattr::NewAcls,
}

impl<T: FileSystem> Filled<T> {
    /// Stores the inherited ACLs through [`super::xattr::Operations::set_acl`]. On failure
    /// the inode is discarded: its last reference frees it
    /// ([`super::sb::Operations::delete_inode`]), with what storing the ACLs had allocated.
    pub fn store_acls(self) -> Result<Created<T>> {
        xattr::Tables::<T>::store_new_acls(&self.inode, &self.acls)?;
        Ok(self.inode)
    }
}

impl<T: FileSystem> core::ops::Deref for Filled<T> {
    type Target = INode<T>;

    fn deref(&self) -> &INode<T> {
        &self.inode
    }
}

/// A brand-new inode, filled ([`NewINode::init_new`]) but still new and locked (`I_NEW`), as
/// a directory operation makes it before it has a name: the filesystem writes it and links
/// it into its directory, then returns it, and the VFS attaches it to its dentry and unlocks
/// it in one step (`d_instantiate_new`), so that nothing finds it half made.
///
/// Dropping it (when linking it failed) drops its links and discards it
/// (`discard_new_inode`): its last reference frees it
/// ([`super::sb::Operations::delete_inode`]).
///
/// # Invariants
///
/// `inode` is a filled, new and locked inode of `T` whose reference we own.
pub struct Created<T: FileSystem> {
    inode: NonNull<bindings::inode>,
    _p: PhantomData<T>,
}

impl<T: FileSystem> core::ops::Deref for Created<T> {
    type Target = INode<T>;

    fn deref(&self) -> &INode<T> {
        // SAFETY: Filled (type invariant), and alive as long as our reference.
        unsafe { INode::from_raw(self.inode.as_ptr()) }
    }
}

impl<T: FileSystem> Created<T> {
    /// Hands the inode and our reference over, for `d_instantiate_new`.
    pub(crate) fn into_raw(self) -> *mut bindings::inode {
        let ptr = self.inode.as_ptr();
        core::mem::forget(self);
        ptr
    }
}

impl<T: FileSystem> Drop for Created<T> {
    fn drop(&mut self) {
        // SAFETY: A filled, new and locked inode whose reference we own (type invariant):
        // with no links, `discard_new_inode` unlocks it and its `iput` frees it.
        unsafe {
            bindings::clear_nlink(self.inode.as_ptr());
            bindings::discard_new_inode(self.inode.as_ptr());
        }
    }
}

/// The `S_IFMT` bits, symlink target (NUL-terminated) and device number of an inode type.
fn kind(typ: INodeType) -> Result<(u32, Option<KVec<u8>>, u32)> {
    Ok(match typ {
        INodeType::Reg => (bindings::S_IFREG, None, 0),
        INodeType::Dir => (bindings::S_IFDIR, None, 0),
        INodeType::Lnk(mut target) => {
            target.push(0, GFP_KERNEL)?;
            (bindings::S_IFLNK, Some(target), 0)
        }
        INodeType::Chr(ma, mi) => (bindings::S_IFCHR, None, mkdev(ma, mi)?),
        INodeType::Blk(ma, mi) => (bindings::S_IFBLK, None, mkdev(ma, mi)?),
        INodeType::Fifo => (bindings::S_IFIFO, None, 0),
        INodeType::Sock => (bindings::S_IFSOCK, None, 0),
    })
}

impl<T: FileSystem> Drop for NewINode<T> {
    fn drop(&mut self) {
        // SAFETY: A new, locked inode whose reference we own (type invariant), never filled:
        // `iget_failed` marks it bad, unlocks it and drops the reference.
        unsafe { bindings::iget_failed(self.inode.as_ptr()) };
    }
}

/// `MKDEV(major, minor)`, refusing numbers that do not fit.
fn mkdev(major: u32, minor: u32) -> Result<u32> {
    if major >= 1 << (32 - bindings::MINORBITS) || minor >= 1 << bindings::MINORBITS {
        return Err(EUCLEAN);
    }
    Ok(major << bindings::MINORBITS | minor)
}

/// The inode callbacks of filesystem `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    /// Drops the filesystem's data of an inode being evicted (`super_operations.destroy_inode`).
    ///
    /// Runs in process context, in `evict()`, once nothing references the inode: the data's
    /// `Drop` may sleep. The memory itself is freed later by `free_inode`.
    pub(crate) unsafe extern "C" fn destroy_inode(inode: *mut bindings::inode) {
        // SAFETY: The VFS passes an inode of ours being evicted, which no one can reach any
        // more except an RCU path walk (which only looks at `i_link`, part of `link`, not of
        // `data`). `i_private` is null (never filled) or our `Private<T>` whose `data` has not
        // been dropped (`destroy_inode` runs once per inode).
        unsafe {
            let private = (*inode).i_private.cast::<Private<T>>();
            if !private.is_null() {
                ManuallyDrop::drop(&mut *addr_of_mut!((*private).data));
            }
        }
    }

    /// Frees an inode after the RCU grace period (`super_operations.free_inode`).
    ///
    /// May run in softirq context: it only frees memory.
    pub(crate) unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
        // SAFETY: The VFS passes an inode of ours that nothing uses any more (not even RCU
        // path walk); `i_private` is null (never filled) or our `Private<T>`, whose `data` was
        // dropped by `destroy_inode` (`ManuallyDrop`: not dropped again here).
        unsafe {
            let private = (*inode).i_private;
            if !private.is_null() {
                drop(KBox::from_raw(private.cast::<Private<T>>()));
            }
            bindings::free_inode_nonrcu(inode);
        }
    }
}
