// SPDX-License-Identifier: GPL-2.0

//! Superblocks: mounting, `statfs`, unmounting, and the superblock operations a filesystem
//! implements ([`Operations`]).

use super::{inode, xattr, Dax, FileSystem, INode, INodeLookup, NewINode};
use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    error::{code::*, from_result, Result},
    str::CStr,
    types::{ARef, Opaque},
};
use core::marker::PhantomData;
use macros::vtable;

/// The superblock operations of a filesystem (`struct super_operations`): each is optional;
/// what a filesystem does not implement gets the VFS's default.
#[vtable]
pub trait Operations {
    /// The filesystem these operations are for.
    type FileSystem: FileSystem;

    /// Filesystem statistics for `statfs(2)`. Without it, `statfs(2)` fails with `ENOSYS`.
    fn statfs(_sb: &SuperBlock<Self::FileSystem>) -> Result<Stat> {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Writes the inode's attributes ([`INode::attrs`]) and the filesystem's data for it to
    /// the device. Called whenever the inode is marked dirty (`dirty_inode`: at once, from
    /// the task that changed it, not later by writeback), except for time-only changes under
    /// `lazytime`. Errors are the filesystem's to report: the VFS cannot act on them.
    fn write_inode(_inode: &INode<Self::FileSystem>) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Frees an inode that has no links left, at its last reference (`evict_inode`): its
    /// blocks and its inode number. The file's pages are already gone from the mapping.
    fn delete_inode(_inode: &INode<Self::FileSystem>) {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Writes what the filesystem keeps in memory only (counters, state) to the device, as
    /// `sync(2)` and `syncfs(2)` ask; `wait` is `true` on the second, waiting pass.
    fn sync_fs(_sb: &SuperBlock<Self::FileSystem>, _wait: bool) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// The last step of an unmount while the device is still open: every inode is gone.
    ///
    /// Also called when a mount fails after [`FileSystem::fill_super`] succeeded (the root
    /// could not be read, or memory ran out), so that what `fill_super` started on the device
    /// (a read-write mount marking the image in use) is undone the same way.
    fn put_super(_sb: &SuperBlock<Self::FileSystem>) {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Adds the options of this mount to show in `/proc/mounts` after the generic ones and
    /// [`FileSystem::SHOW_OPTIONS`] to `out` ([`ShownOptions::add`]).
    fn show_options(_sb: &SuperBlock<Self::FileSystem>, _out: &mut ShownOptions<'_>) {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// A remount with `opts`, to read-only if `read_only` (else read-write), after the VFS
    /// checked that it may (no file open for writing, for a read-only remount) and every
    /// dirty inode was written. An error leaves the mount as it was.
    fn remount(
        _sb: &SuperBlock<Self::FileSystem>,
        _opts: &<Self::FileSystem as FileSystem>::Options,
        _read_only: bool,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// Where [`Operations::show_options`] puts the options of a mount (the `seq_file` of
/// `/proc/mounts`).
///
/// # Invariants
///
/// `seq` is the valid `seq_file` of the `show_options` call in progress.
pub struct ShownOptions<'a> {
    seq: *mut bindings::seq_file,
    _p: PhantomData<&'a mut bindings::seq_file>,
}

impl ShownOptions<'_> {
    /// Adds `opt`, which starts with a comma (`,errors=remount-ro`).
    pub fn add(&mut self, opt: &CStr) {
        // SAFETY: `seq` is valid (type invariant); `opt` is NUL-terminated.
        unsafe { bindings::__seq_puts(self.seq, opt.as_char_ptr()) };
    }
}

/// What the filesystem tells the VFS about a new superblock.
pub struct SuperParams {
    /// The filesystem's magic number, as `statfs` reports it.
    pub magic: u32,
    /// The largest file size the filesystem supports.
    pub maxbytes: i64,
    /// The earliest time stamp (seconds) the filesystem can store: the VFS clamps to it.
    pub time_min: i64,
    /// The latest time stamp (seconds) the filesystem can store.
    pub time_max: i64,
    /// POSIX ACLs are enforced on this mount (`SB_POSIXACL`; ignored if the filesystem has
    /// no [`super::xattr::Operations::get_acl`]); see [`SuperBlock::set_posix_acl`].
    pub posix_acl: bool,
}

/// `statfs(2)` figures.
#[derive(Default)]
pub struct Stat {
    /// Filesystem magic number.
    pub magic: u32,
    /// Block size.
    pub bsize: u32,
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Longest file name.
    pub namelen: u32,
    /// Filesystem id.
    pub fsid: u64,
}

/// The superblock being set up by [`FileSystem::fill_super`].
pub struct NewSuperBlock<'a, T: FileSystem> {
    sb: *mut bindings::super_block,
    dax: &'a Dax,
    opts: &'a T::Options,
    _p: PhantomData<T>,
}

impl<'a, T: FileSystem> NewSuperBlock<'a, T> {
    /// The mount options, as [`FileSystem::parse_option`] left them.
    pub fn options(&self) -> &T::Options {
        self.opts
    }

    /// Whether the mount is read-only (`-o ro`).
    pub fn read_only(&self) -> bool {
        // SAFETY: `s_flags` is set before `fill_super` is called and not changed during it.
        unsafe { (*self.sb).s_flags & bindings::SB_RDONLY as usize != 0 }
    }

    /// The block device's DAX device, to read metadata from.
    pub fn dax(&self) -> &Dax {
        self.dax
    }

    /// The device's name (`s_id`), for messages.
    pub fn id(&self) -> &CStr {
        // SAFETY: `s_id` is a NUL-terminated name set by `get_tree_bdev` before `fill_super`.
        unsafe { CStr::from_char_ptr((*self.sb).s_id.as_ptr()) }
    }

    /// Size of the block device in bytes.
    pub fn device_bytes(&self) -> u64 {
        // SAFETY: `s_bdev` is the open block device of the superblock being filled.
        unsafe { bindings::bdev_nr_bytes((*self.sb).s_bdev) as u64 }
    }
}

/// The per-superblock state kept in `s_fs_info`.
struct SbInfo<T: FileSystem> {
    dax: Dax,
    data: T::Data,
}

/// A mounted superblock of filesystem `T`.
///
/// # Invariants
///
/// The superblock belongs to `T` and its `s_fs_info` is a `KBox<SbInfo<T>>` (set at the end of
/// a successful `fill_super`, before any inode or file operation can run).
#[repr(transparent)]
pub struct SuperBlock<T: FileSystem>(Opaque<bindings::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `ptr` must be a superblock of `T` for which `fill_super` succeeded, valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: `Self` is `repr(transparent)` over the C struct; validity as required.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    fn info(&self) -> &SbInfo<T> {
        // SAFETY: By the type invariant `s_fs_info` is a live `SbInfo<T>`.
        unsafe { &*(*self.as_raw()).s_fs_info.cast::<SbInfo<T>>() }
    }

    /// The filesystem's data for this superblock.
    pub fn data(&self) -> &T::Data {
        &self.info().data
    }

    /// The block device's DAX device.
    pub fn dax(&self) -> &Dax {
        &self.info().dax
    }

    /// The device's name (`s_id`), for messages.
    pub fn id(&self) -> &CStr {
        // SAFETY: `s_id` is NUL-terminated and never changes once mounted.
        unsafe { CStr::from_char_ptr((*self.as_raw()).s_id.as_ptr()) }
    }

    /// Whether the filesystem is mounted read-only now.
    pub fn is_read_only(&self) -> bool {
        // SAFETY: The superblock is valid; `s_flags` is read without a lock by C too.
        unsafe { core::ptr::read_volatile(&(*self.as_raw()).s_flags) & bindings::SB_RDONLY as usize != 0 }
    }

    /// Makes the mount read-only from now on, as ext2 does for `errors=remount-ro` when it
    /// finds corruption (writers already past their checks finish).
    pub fn force_read_only(&self) {
        // SAFETY: The superblock is valid; this is what `ext2_error()` does to `s_flags`.
        unsafe { (*self.as_raw()).s_flags |= bindings::SB_RDONLY as usize };
    }

    /// Whether POSIX ACLs are enforced on this mount (`SB_POSIXACL`).
    pub fn posix_acl(&self) -> bool {
        // SAFETY: The superblock is valid; `s_flags` is read without a lock by C too.
        unsafe { core::ptr::read_volatile(&(*self.as_raw()).s_flags) & bindings::SB_POSIXACL as usize != 0 }
    }

    /// Turns POSIX ACLs on or off for this mount (a remount with `acl` or `noacl`), if the
    /// filesystem has ACLs ([`super::xattr::Operations::get_acl`]). Called from
    /// [`Operations::remount`].
    pub fn set_posix_acl(&self, on: bool) {
        if !xattr::Tables::<T>::HAS_ACL {
            return;
        }
        let flag = bindings::SB_POSIXACL as usize;
        // SAFETY: The superblock is valid; during a remount the VFS holds `s_umount`
        // exclusively, under which ext2's remount changes `s_flags` too.
        unsafe {
            let f = &mut (*self.as_raw()).s_flags;
            *f = if on { *f | flag } else { *f & !flag };
        }
    }

    /// A new inode numbered `ino`, locked, to fill with [`NewINode::init_new`] (or
    /// [`NewINode::init`]). The filesystem has already reserved the number on disk.
    ///
    /// Fails with `EUCLEAN` (and a log line) if an inode with that number is in use: the
    /// filesystem's record of free inode numbers is wrong.
    pub fn new_inode(&self, ino: u64) -> Result<NewINode<T>> {
        // SAFETY: The superblock is mounted; `new_inode` returns a referenced inode or null.
        let inode = unsafe { bindings::new_inode(self.as_raw()) };
        if inode.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `inode` is ours alone until hashed by `insert_inode_locked`.
        unsafe { (*inode).i_ino = ino as _ };
        // SAFETY: As above; `insert_inode_locked` sets `I_NEW` and hashes it, or fails without.
        if unsafe { bindings::insert_inode_locked(inode) } < 0 {
            super::log_err::<T>(format_args!(
                "{}: corrupt: free inode {} is in use\n",
                self.id(),
                ino
            ));
            // SAFETY: Not hashed, not filled (`i_private` null): `iput` just frees it.
            unsafe { bindings::iput(inode) };
            return Err(EUCLEAN);
        }
        // SAFETY: A new, locked inode of this superblock whose reference we own.
        Ok(unsafe { NewINode::from_raw(inode) })
    }

    /// Looks inode `ino` up in the inode cache: an inode already in use, or a new one that the
    /// caller fills from disk ([`NewINode::init`]).
    pub fn iget(&self, ino: u64) -> Result<INodeLookup<T>> {
        // SAFETY: The superblock is valid; `iget_locked` returns a referenced inode or null.
        let inode = unsafe { bindings::iget_locked(self.as_raw(), ino as _) };
        if inode.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `inode` is valid and referenced.
        let state = unsafe { (*inode).i_state };
        if state & (1 << bindings::__I_NEW) != 0 {
            // SAFETY: A new, locked inode of this superblock, owned by us until filled.
            Ok(INodeLookup::New(unsafe { NewINode::from_raw(inode) }))
        } else {
            // SAFETY: A fully set-up inode of this superblock (filled by `NewINode::init`),
            // whose reference we own.
            Ok(INodeLookup::Cached(unsafe { INode::from_owned_raw(inode) }))
        }
    }
}

/// The C callback tables of filesystem `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const CONTEXT_OPS: bindings::fs_context_operations = bindings::fs_context_operations {
        free: Some(Self::free_fc),
        dup: None,
        parse_param: Some(Self::parse_param),
        parse_monolithic: None,
        get_tree: Some(Self::get_tree),
        reconfigure: Some(Self::reconfigure),
    };

    const SUPER_OPS: bindings::super_operations = bindings::super_operations {
        statfs: if <T::Super as Operations>::HAS_STATFS { Some(Self::statfs) } else { None },
        dirty_inode: if <T::Super as Operations>::HAS_WRITE_INODE {
            Some(Self::dirty_inode)
        } else {
            None
        },
        evict_inode: if <T::Super as Operations>::HAS_DELETE_INODE {
            Some(Self::evict_inode)
        } else {
            None
        },
        sync_fs: if <T::Super as Operations>::HAS_SYNC_FS { Some(Self::sync_fs) } else { None },
        destroy_inode: Some(inode::Tables::<T>::destroy_inode),
        free_inode: Some(inode::Tables::<T>::free_inode),
        put_super: Some(Self::put_super),
        show_options: Some(Self::show_options),
        // SAFETY: All other fields are optional callbacks, for which zero means "none" (the
        // VFS defaults).
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> i32 {
        let Ok(opts) = KBox::new(T::Options::default(), GFP_KERNEL) else {
            return ENOMEM.to_errno();
        };
        // SAFETY: The VFS passes a valid context being set up for this filesystem type; it
        // calls `free_fc` (which frees `fs_private`) when it is done with the context, whether
        // or not this succeeds.
        unsafe {
            (*fc).fs_private = KBox::into_raw(opts).cast();
            (*fc).ops = &Self::CONTEXT_OPS;
        }
        0
    }

    /// The options of a context set up by `init_fs_context`.
    ///
    /// # Safety
    ///
    /// `fc` must be a context of this filesystem type, in a callback of its operations.
    unsafe fn options<'a>(fc: *mut bindings::fs_context) -> &'a mut T::Options {
        // SAFETY: `fs_private` is the `KBox<T::Options>` of `init_fs_context`, used by one
        // callback at a time (the VFS serialises them on a context).
        unsafe { &mut *(*fc).fs_private.cast::<T::Options>() }
    }

    unsafe extern "C" fn free_fc(fc: *mut bindings::fs_context) {
        // SAFETY: The VFS passes the context when it is done with it; `fs_private` is null
        // (if `init_fs_context` failed) or ours.
        unsafe {
            let p = (*fc).fs_private;
            if !p.is_null() {
                (*fc).fs_private = core::ptr::null_mut();
                drop(KBox::from_raw(p.cast::<T::Options>()));
            }
        }
    }

    unsafe extern "C" fn parse_param(
        fc: *mut bindings::fs_context,
        param: *mut bindings::fs_parameter,
    ) -> i32 {
        // SAFETY: The VFS passes a valid parameter with a NUL-terminated key.
        let key = unsafe { CStr::from_char_ptr((*param).key) };
        // SAFETY: As above; for a string parameter, `string` is NUL-terminated.
        let value = unsafe {
            if (*param).type_() == bindings::fs_value_type_fs_value_is_string {
                Some(CStr::from_char_ptr((*param).__bindgen_anon_1.string).as_bytes())
            } else {
                None
            }
        };
        // SAFETY: A callback of our context.
        let opts = unsafe { Self::options(fc) };
        match T::parse_option(opts, key.as_bytes(), value) {
            Ok(true) => 0,
            // Not ours: the VFS handles `source` and refuses the rest ("Unknown parameter").
            Ok(false) => -(bindings::ENOPARAM as i32),
            Err(e) => {
                super::log_err::<T>(format_args!("bad value for mount option '{}'\n", key));
                e.to_errno()
            }
        }
    }

    unsafe extern "C" fn get_tree(fc: *mut bindings::fs_context) -> i32 {
        // SAFETY: `fc` is valid; `fill_super` is a valid callback for `get_tree_bdev`.
        unsafe { bindings::get_tree_bdev(fc, Some(Self::fill_super)) }
    }

    unsafe extern "C" fn reconfigure(fc: *mut bindings::fs_context) -> i32 {
        // SAFETY: The VFS passes a valid context for a remount of a superblock of ours.
        let (flags, mask, sb) = unsafe { ((*fc).sb_flags, (*fc).sb_flags_mask, (*(*fc).root).d_sb) };
        let rdonly = bindings::SB_RDONLY as u32;
        // Without `ro` or `rw` in the options, the mount stays as it is.
        // SAFETY: `sb` is valid.
        let flags = if mask & rdonly != 0 { flags } else { unsafe { (*sb).s_flags as u32 } };
        if T::READ_ONLY && flags & rdonly == 0 {
            // SAFETY: `sb` is a mounted superblock of `T`.
            let id = unsafe { SuperBlock::<T>::from_raw(sb) }.id();
            super::log_err::<T>(format_args!(
                "{}: read-write remount refused: read-only filesystem\n",
                id
            ));
            return EINVAL.to_errno();
        }
        // SAFETY: `sb` is valid and mounted.
        let ret = unsafe { bindings::sync_filesystem(sb) };
        if ret != 0 || !<T::Super as Operations>::HAS_REMOUNT {
            return ret;
        }
        // SAFETY: `sb` is a mounted superblock of `T`; a callback of our context.
        let (sbt, opts) = unsafe { (SuperBlock::<T>::from_raw(sb), Self::options(fc)) };
        match <T::Super as Operations>::remount(sbt, opts, flags & bindings::SB_RDONLY as u32 != 0)
        {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn fill_super(
        sb: *mut bindings::super_block,
        fc: *mut bindings::fs_context,
    ) -> i32 {
        from_result(|| {
            // The superblock is already on the filesystem type's list, where others (`sync`,
            // `iterate_supers`) can see it, and C functions called below update it: it is only
            // accessed through the raw pointer, never through a `&mut`.
            // SAFETY: `get_tree_bdev` passes a new superblock with its device open and `s_id`
            // set (NUL-terminated, never changed afterwards).
            let id = unsafe { CStr::from_char_ptr((*sb).s_id.as_ptr()) };
            // SAFETY: As above; `s_flags` is set before `fill_super` is called.
            let flags = unsafe { (*sb).s_flags };
            if T::READ_ONLY && flags & bindings::SB_RDONLY as usize == 0 {
                super::log_err::<T>(format_args!(
                    "{}: read-write mount refused: read-only filesystem, mount with -o ro\n",
                    id
                ));
                return Err(EINVAL);
            }
            // SAFETY: `s_bdev` is open; the superblock outlives the `Dax`, which is dropped in
            // `put_super` (or in `kill_sb` if this fails), before the device is closed.
            let Some(dax) = (unsafe { Dax::get((*sb).s_bdev, sb.cast()) }) else {
                super::log_err::<T>(format_args!(
                    "{}: cannot mount: the device does not support DAX\n",
                    id
                ));
                return Err(EINVAL);
            };
            // SAFETY: `sb` is valid.
            if unsafe { bindings::sb_set_blocksize(sb, T::BLOCK_SIZE as _) } == 0 {
                super::log_err::<T>(format_args!("{}: bad block size {}\n", id, T::BLOCK_SIZE));
                return Err(EINVAL);
            }
            let new = NewSuperBlock::<T> {
                sb,
                dax: &dax,
                // SAFETY: `get_tree_bdev` calls us from our context's `get_tree`.
                opts: unsafe { Self::options(fc) },
                _p: PhantomData,
            };
            // Allocated first: once `fill_super` succeeded, nothing fails before the
            // superblock holds its data, so that a failure after it ends in `put_super`.
            let slot = KBox::<SbInfo<T>>::new_uninit(GFP_KERNEL)?;
            let (data, params) = T::fill_super(&new)?;
            let info = KBox::write(slot, SbInfo::<T> { dax, data });
            // SAFETY: The superblock is being set up by us; the operations table is static.
            // INVARIANT: From here on the superblock has its `SbInfo`; if anything below
            // fails, the VFS calls `kill_sb`, which calls `put_super` and frees it.
            unsafe {
                (*sb).s_magic = params.magic as _;
                (*sb).s_maxbytes = params.maxbytes;
                (*sb).s_time_min = params.time_min;
                (*sb).s_time_max = params.time_max;
                (*sb).s_op = &Self::SUPER_OPS;
                (*sb).s_time_gran = 1;
                if xattr::Tables::<T>::HAS_XATTR {
                    (*sb).s_xattr = xattr::Tables::<T>::HANDLERS.as_ptr();
                }
                if params.posix_acl && xattr::Tables::<T>::HAS_ACL {
                    (*sb).s_flags |= bindings::SB_POSIXACL as usize;
                }
                (*sb).s_fs_info = KBox::into_raw(info).cast();
            }
            // SAFETY: `s_fs_info` was just set, as `SuperBlock` requires.
            let sbt = unsafe { SuperBlock::<T>::from_raw(sb) };
            let root = T::root(sbt)?;
            if !root.is_dir() {
                super::log_err::<T>(format_args!("{}: the root inode is not a directory\n", id));
                return Err(EUCLEAN);
            }
            // SAFETY: `d_make_root` takes over the inode reference (and drops it on failure).
            let dentry = unsafe { bindings::d_make_root(ARef::into_raw(root).as_ptr().cast()) };
            if dentry.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: As above.
            unsafe { (*sb).s_root = dentry };
            Ok(0)
        })
    }

    /// Frees the superblock's `SbInfo` (and so releases the DAX device), if it has one.
    ///
    /// # Safety
    ///
    /// `sb` must be a superblock of `T` that no inode or file operation can use any more: every
    /// inode of it has been evicted, or `fill_super` failed.
    unsafe fn free_info(sb: *mut bindings::super_block) {
        // SAFETY: `s_fs_info` is null or our `SbInfo` (set from `KBox::into_raw` in
        // `fill_super`), unused by the safety requirements; it is cleared so that it is freed
        // once.
        unsafe {
            let info = (*sb).s_fs_info;
            if !info.is_null() {
                (*sb).s_fs_info = core::ptr::null_mut();
                drop(KBox::from_raw(info.cast::<SbInfo<T>>()));
            }
        }
    }

    /// `super_operations.put_super`: the last step of unmounting before the block device is
    /// closed. Every inode has been evicted (their data dropped in `destroy_inode`); only RCU
    /// callbacks that free inode memory may still run, and they do not use the `SbInfo`. The
    /// DAX device is released here, as ext2 does, while the block device is still open.
    unsafe extern "C" fn put_super(sb: *mut bindings::super_block) {
        if <T::Super as Operations>::HAS_PUT_SUPER {
            // SAFETY: A mounted superblock of ours (it has a root, so `fill_super` succeeded).
            <T::Super as Operations>::put_super(unsafe { SuperBlock::<T>::from_raw(sb) });
        }
        // SAFETY: Called by `generic_shutdown_super` after `evict_inodes`: no inode or file
        // operation of this superblock can run any more.
        unsafe { Self::free_info(sb) };
    }

    /// `super_operations.dirty_inode`: writes the inode at once.
    unsafe extern "C" fn dirty_inode(inode: *mut bindings::inode, flags: i32) {
        // Only the times changed, under `lazytime`: they are written with the next change.
        if flags as u32 & (bindings::I_DIRTY_SYNC | bindings::I_DIRTY_DATASYNC) == 0 {
            return;
        }
        // SAFETY: The VFS passes a live inode of ours. One that was never filled (a failed
        // `iget`, `i_private` null) has nothing to write.
        unsafe {
            if (*inode).i_private.is_null() || bindings::is_bad_inode(inode) {
                return;
            }
            let _ = <T::Super as Operations>::write_inode(INode::<T>::from_raw(inode));
        }
    }

    /// `super_operations.evict_inode`: frees an unlinked inode at its last reference.
    unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
        // SAFETY: The VFS passes an inode of ours being evicted: no one else uses it. It is
        // filled unless `i_private` is null; a bad inode is not freed (its data may be wrong).
        unsafe {
            bindings::truncate_inode_pages_final(&mut (*inode).i_data);
            let delete = !(*inode).i_private.is_null()
                && (*inode).__bindgen_anon_1.i_nlink == 0
                && !bindings::is_bad_inode(inode);
            if delete {
                let sb = (*inode).i_sb;
                bindings::sb_start_intwrite(sb);
                <T::Super as Operations>::delete_inode(INode::<T>::from_raw(inode));
                bindings::sb_end_intwrite(sb);
            }
            bindings::clear_inode(inode);
        }
    }

    unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: i32) -> i32 {
        // SAFETY: The VFS passes a mounted superblock of ours.
        let sbt = unsafe { SuperBlock::<T>::from_raw(sb) };
        match <T::Super as Operations>::sync_fs(sbt, wait != 0) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    pub(crate) unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
        // SAFETY: The VFS passes a superblock of ours. Without a root, `fill_super` failed (or
        // never ran), so `generic_shutdown_super` will not call `put_super`: if the
        // filesystem's `fill_super` succeeded (the superblock has its `SbInfo`), its
        // `put_super` runs here, then what is left is freed (its inodes were evicted as their
        // last reference went, the superblock not being active), releasing the DAX device
        // before `kill_block_super` closes the block device.
        unsafe {
            if (*sb).s_root.is_null() {
                if <T::Super as Operations>::HAS_PUT_SUPER && !(*sb).s_fs_info.is_null() {
                    <T::Super as Operations>::put_super(SuperBlock::<T>::from_raw(sb));
                }
                Self::free_info(sb);
            }
            // With a root, `generic_shutdown_super` calls `put_super`, which frees it.
            bindings::kill_block_super(sb);
        }
    }

    unsafe extern "C" fn statfs(dentry: *mut bindings::dentry, buf: *mut bindings::kstatfs) -> i32 {
        from_result(|| {
            // SAFETY: The VFS passes a dentry of a mounted superblock of ours.
            let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
            let st = <T::Super as Operations>::statfs(sb)?;
            // SAFETY: `buf` is the caller's buffer, valid for writes and not shared.
            let buf = unsafe { &mut *buf };
            buf.f_type = st.magic as _;
            buf.f_bsize = st.bsize as _;
            buf.f_frsize = st.bsize as _;
            buf.f_blocks = st.blocks;
            buf.f_bfree = st.bfree;
            buf.f_bavail = st.bavail;
            buf.f_files = st.files;
            buf.f_ffree = st.ffree;
            buf.f_namelen = st.namelen as _;
            buf.f_fsid.val = [st.fsid as i32, (st.fsid >> 32) as i32];
            Ok(0)
        })
    }

    unsafe extern "C" fn show_options(seq: *mut bindings::seq_file, root: *mut bindings::dentry) -> i32 {
        if !T::SHOW_OPTIONS.is_empty() {
            // SAFETY: `seq` is valid and the string NUL-terminated.
            unsafe { bindings::__seq_puts(seq, T::SHOW_OPTIONS.as_char_ptr()) };
        }
        if <T::Super as Operations>::HAS_SHOW_OPTIONS {
            // SAFETY: The VFS passes the root of a mounted superblock of ours.
            let sb = unsafe { SuperBlock::<T>::from_raw((*root).d_sb) };
            // INVARIANT: `seq` is valid during this call.
            let mut out = ShownOptions { seq, _p: PhantomData };
            <T::Super as Operations>::show_options(sb, &mut out);
        }
        0
    }
}
