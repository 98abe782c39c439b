// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and iteration, and the directory operations a filesystem implements
//! ([`Operations`]).

use super::{inode::Created, xattr, FileSystem, INode};
use crate::{
    bindings,
    error::{code::*, Result},
    types::{ARef, AlwaysRefCounted},
};
use core::marker::PhantomData;
use macros::vtable;

/// The operations of a filesystem's directories (their `inode_operations` and
/// `file_operations`).
#[vtable]
pub trait Operations {
    /// The filesystem these operations are for.
    type FileSystem: FileSystem;

    /// Looks `name` up in the directory `dir`; `Ok(None)` if there is no such entry.
    ///
    /// Called with `dir`'s `i_rwsem` held shared.
    fn lookup(
        dir: &INode<Self::FileSystem>,
        name: &[u8],
    ) -> Result<Option<ARef<INode<Self::FileSystem>>>>;

    /// Emits the entries of `dir` from position `emitter.pos()` on, until the end or until
    /// [`DirEmitter::emit`] returns `false`.
    ///
    /// Called with `dir`'s `i_rwsem` held shared (`iterate_shared`).
    fn read_dir(dir: &INode<Self::FileSystem>, emitter: &mut DirEmitter<'_>) -> Result;

    /// Makes a new inode of kind `kind` with permission bits `perm` and links it into `dir`
    /// as `name` (`create`, `mkdir`, `mknod`, `symlink`), returning it still locked. The new
    /// inode is made with [`super::SuperBlock::new_inode`] and [`super::NewINode::init_new`],
    /// which sets its owner and times as the VFS rules say; the abstraction attaches it to its
    /// dentry and unlocks it (`d_instantiate_new`). `dir`'s times and (for a directory) link
    /// count are the filesystem's to update.
    ///
    /// Called with `dir`'s inode lock held; the VFS has checked that `name` is not in `dir`
    /// and that the caller may write `dir`. Without it, these fail with `EPERM`.
    fn create(
        _dir: &INode<Self::FileSystem>,
        _name: &[u8],
        _kind: NewNode<'_>,
        _perm: u16,
    ) -> Result<Created<Self::FileSystem>> {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Makes a new regular file with permission bits `perm` that no directory names
    /// (`open(O_TMPFILE)` in `dir`), returning it still locked and with one link, as
    /// [`Operations::create`] does; the abstraction drops that link and attaches the inode to
    /// the file being opened (`d_tmpfile`). The file is freed at its last close, unless
    /// `linkat` names it first: [`Operations::link`] is then called on an inode with no
    /// link. `dir`'s entries and times do not change.
    ///
    /// Called with `dir`'s inode lock held; without it, `O_TMPFILE` fails with
    /// `EOPNOTSUPP`.
    fn tmpfile(
        _dir: &INode<Self::FileSystem>,
        _perm: u16,
    ) -> Result<Created<Self::FileSystem>> {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Adds a hard link `name` in `dir` to the existing inode `old` (not a directory; the VFS
    /// checks) and adds one to its link count.
    ///
    /// Called with the inode locks of `dir` and `old` held.
    fn link(
        _old: &INode<Self::FileSystem>,
        _dir: &INode<Self::FileSystem>,
        _name: &[u8],
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes the entry `name` of `dir`, which names `inode` (not a directory), and drops
    /// one link of `inode` (freed at its last reference when none is left).
    ///
    /// Called with the inode locks of `dir` and `inode` held.
    fn unlink(
        _dir: &INode<Self::FileSystem>,
        _name: &[u8],
        _inode: &INode<Self::FileSystem>,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Removes the directory `inode`, named `name` in `dir`, if it is empty (else
    /// `ENOTEMPTY`).
    ///
    /// Called with the inode locks of `dir` and `inode` held.
    fn rmdir(
        _dir: &INode<Self::FileSystem>,
        _name: &[u8],
        _inode: &INode<Self::FileSystem>,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Renames `old_name` in `old_dir` (naming `old`) to `new_name` in `new_dir`, replacing
    /// `new` if that name exists; with `exchange` (`RENAME_EXCHANGE`), swaps the two entries
    /// (`new` then exists). The VFS has checked the rules that do not depend on the
    /// filesystem (a directory replaces only an empty directory, which the filesystem
    /// checks: `ENOTEMPTY`; no directory moves into itself; `RENAME_NOREPLACE`);
    /// `RENAME_WHITEOUT` is refused before this is called.
    ///
    /// Called with the rename lock of the superblock (if the directories differ) and the
    /// inode locks of both directories and of `old` and `new` held.
    #[allow(clippy::too_many_arguments)]
    fn rename(
        _old_dir: &INode<Self::FileSystem>,
        _old_name: &[u8],
        _old: &INode<Self::FileSystem>,
        _new_dir: &INode<Self::FileSystem>,
        _new_name: &[u8],
        _new: Option<&INode<Self::FileSystem>>,
        _exchange: bool,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// What kind of inode [`Operations::create`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewNode<'a> {
    /// A regular file (`creat`, `open(O_CREAT)`, `mknod(S_IFREG)`).
    Reg,
    /// A directory (`mkdir`).
    Dir,
    /// A symbolic link to this target (`symlink`): 1 to 4095 bytes, no NUL.
    Symlink(&'a [u8]),
    /// A character device with this major and minor number.
    Chr(u32, u32),
    /// A block device with this major and minor number.
    Blk(u32, u32),
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Sock,
}

/// The type of a directory entry, as `readdir` reports it (`d_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirEntryType {
    /// Not known without reading the inode.
    Unknown,
    /// Named pipe.
    Fifo,
    /// Character device.
    Chr,
    /// Directory.
    Dir,
    /// Block device.
    Blk,
    /// Regular file.
    Reg,
    /// Symbolic link.
    Lnk,
    /// Unix domain socket.
    Sock,
}

impl DirEntryType {
    fn dt(self) -> u32 {
        match self {
            Self::Unknown => bindings::DT_UNKNOWN,
            Self::Fifo => bindings::DT_FIFO,
            Self::Chr => bindings::DT_CHR,
            Self::Dir => bindings::DT_DIR,
            Self::Blk => bindings::DT_BLK,
            Self::Reg => bindings::DT_REG,
            Self::Lnk => bindings::DT_LNK,
            Self::Sock => bindings::DT_SOCK,
        }
    }
}

/// Where [`Operations::read_dir`] sends directory entries (a `struct dir_context`).
///
/// # Invariants
///
/// `ctx` is the valid `dir_context` of the `iterate_shared` call in progress.
pub struct DirEmitter<'a> {
    ctx: *mut bindings::dir_context,
    _p: PhantomData<&'a mut bindings::dir_context>,
}

impl DirEmitter<'_> {
    /// The position to continue from: 0 at the start, else the `next` of the last entry
    /// emitted.
    pub fn pos(&self) -> i64 {
        // SAFETY: `ctx` is valid (type invariant).
        unsafe { (*self.ctx).pos }
    }

    /// Emits the entry `name` for inode `ino`, whose successor is at position `next`.
    ///
    /// Returns `false` when the caller's buffer is full: stop, the entry was not taken and
    /// will be asked for again from the same position.
    pub fn emit(&mut self, name: &[u8], ino: u64, typ: DirEntryType, next: i64) -> bool {
        let Ok(len) = i32::try_from(name.len()) else {
            return false;
        };
        // SAFETY: `ctx` is valid (type invariant); `name` is valid for `len` bytes.
        let taken =
            unsafe { bindings::dir_emit(self.ctx, name.as_ptr().cast(), len, ino, typ.dt()) };
        if taken {
            // SAFETY: As above.
            unsafe { (*self.ctx).pos = next };
        }
        taken
    }
}

/// The directory callbacks of filesystem `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    pub(crate) const DIR_IOPS: bindings::inode_operations = bindings::inode_operations {
        lookup: Some(Self::lookup),
        create: if <T::Dir as Operations>::HAS_CREATE { Some(Self::create) } else { None },
        mkdir: if <T::Dir as Operations>::HAS_CREATE { Some(Self::mkdir) } else { None },
        mknod: if <T::Dir as Operations>::HAS_CREATE { Some(Self::mknod) } else { None },
        symlink: if <T::Dir as Operations>::HAS_CREATE { Some(Self::symlink) } else { None },
        link: if <T::Dir as Operations>::HAS_LINK { Some(Self::link) } else { None },
        unlink: if <T::Dir as Operations>::HAS_UNLINK { Some(Self::unlink) } else { None },
        rmdir: if <T::Dir as Operations>::HAS_RMDIR { Some(Self::rmdir) } else { None },
        rename: if <T::Dir as Operations>::HAS_RENAME { Some(Self::rename) } else { None },
        tmpfile: if <T::Dir as Operations>::HAS_TMPFILE { Some(Self::tmpfile) } else { None },
        setattr: xattr::Tables::<T>::SETATTR,
        listxattr: xattr::Tables::<T>::LISTXATTR,
        get_inode_acl: xattr::Tables::<T>::GET_INODE_ACL,
        set_acl: xattr::Tables::<T>::SET_ACL,
        // SAFETY: All other fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const DIR_FOPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read: Some(bindings::generic_read_dir),
        // Directories are written straight to the device memory: nothing to write back.
        fsync: Some(bindings::noop_fsync),
        iterate_shared: Some(Self::iterate_shared),
        // SAFETY: All other fields are optional callbacks, zero meaning "not supported".
        ..unsafe { core::mem::zeroed() }
    };

    unsafe extern "C" fn lookup(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        _flags: u32,
    ) -> *mut bindings::dentry {
        // SAFETY: The VFS passes a directory inode of ours (filled, as all inodes it can reach)
        // and a dentry whose name stays valid during the call.
        let (dir, name) = unsafe {
            let q = &(*dentry).d_name;
            let len = q.__bindgen_anon_1.__bindgen_anon_1.len as usize;
            (
                INode::<T>::from_raw(dir),
                core::slice::from_raw_parts(q.name, len),
            )
        };
        let inode = match <T::Dir as Operations>::lookup(dir, name) {
            Ok(Some(inode)) => ARef::into_raw(inode).as_ptr().cast::<bindings::inode>(),
            Ok(None) => core::ptr::null_mut(),
            Err(e) => return e.to_ptr(),
        };
        // SAFETY: `d_splice_alias` takes over the inode reference (or a null inode, for a
        // negative dentry).
        unsafe { bindings::d_splice_alias(inode, dentry) }
    }

    /// The name of `dentry`.
    ///
    /// # Safety
    ///
    /// `dentry` must be valid, and its name stable, for `'a` (the VFS holds the parent's
    /// inode lock during directory operations, which keeps the name).
    unsafe fn name<'a>(dentry: *mut bindings::dentry) -> &'a [u8] {
        // SAFETY: As required; `d_name` has `len` bytes at `name`.
        unsafe {
            let q = &(*dentry).d_name;
            let len = q.__bindgen_anon_1.__bindgen_anon_1.len as usize;
            core::slice::from_raw_parts(q.name, len)
        }
    }

    /// Makes a new inode through [`Operations::create`] and attaches it to `dentry`.
    ///
    /// # Safety
    ///
    /// `dir` must be a directory of ours and `dentry` a negative dentry in it, in a directory
    /// operation of the VFS (the parent's inode lock is held).
    unsafe fn new_node(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        kind: NewNode<'_>,
        mode: u32,
    ) -> i32 {
        // SAFETY: As required.
        let (dir, name) = unsafe { (INode::<T>::from_raw(dir), Self::name(dentry)) };
        match <T::Dir as Operations>::create(dir, name, kind, (mode & 0o7777) as u16) {
            Ok(inode) => {
                // SAFETY: `d_instantiate_new` takes over our reference to the new, locked
                // inode, attaches it to the dentry and unlocks it.
                unsafe { bindings::d_instantiate_new(dentry, inode.into_raw()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn create(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        _excl: bool,
    ) -> i32 {
        // SAFETY: A directory operation of the VFS on a directory of ours.
        unsafe { Self::new_node(dir, dentry, NewNode::Reg, mode as u32) }
    }

    unsafe extern "C" fn tmpfile(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        mode: bindings::umode_t,
    ) -> i32 {
        // SAFETY: The VFS (`vfs_tmpfile`) passes a directory of ours, whose inode lock it
        // holds, and the file being opened, whose dentry is new and negative.
        let dir = unsafe { INode::<T>::from_raw(dir) };
        match <T::Dir as Operations>::tmpfile(dir, (mode & 0o7777) as u16) {
            Ok(inode) => {
                let inode = inode.into_raw();
                // SAFETY: `d_tmpfile` takes over our reference to the new, locked inode,
                // drops its one link and attaches it to the file's dentry; the inode is then
                // unlocked (as `d_instantiate_new` does for `create`), and the file opened on
                // that dentry (`finish_open_simple`).
                unsafe {
                    bindings::d_tmpfile(file, inode);
                    bindings::unlock_new_inode(inode);
                    bindings::finish_open(file, (*file).f_path.dentry, None)
                }
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn mkdir(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> i32 {
        // SAFETY: A directory operation of the VFS on a directory of ours.
        unsafe { Self::new_node(dir, dentry, NewNode::Dir, mode as u32) }
    }

    unsafe extern "C" fn mknod(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        dev: bindings::dev_t,
    ) -> i32 {
        let (major, minor) = (dev >> bindings::MINORBITS, dev & ((1 << bindings::MINORBITS) - 1));
        let kind = match mode as u32 & bindings::S_IFMT {
            bindings::S_IFREG | 0 => NewNode::Reg,
            bindings::S_IFCHR => NewNode::Chr(major, minor),
            bindings::S_IFBLK => NewNode::Blk(major, minor),
            bindings::S_IFIFO => NewNode::Fifo,
            bindings::S_IFSOCK => NewNode::Sock,
            _ => return EINVAL.to_errno(),
        };
        // SAFETY: A directory operation of the VFS on a directory of ours.
        unsafe { Self::new_node(dir, dentry, kind, mode as u32) }
    }

    unsafe extern "C" fn symlink(
        _idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        target: *const u8,
    ) -> i32 {
        // SAFETY: The VFS passes the NUL-terminated target, valid during the call.
        let target = unsafe { crate::str::CStr::from_char_ptr(target) }.as_bytes();
        if target.is_empty() {
            return ENOENT.to_errno();
        }
        // SAFETY: A directory operation of the VFS on a directory of ours.
        unsafe { Self::new_node(dir, dentry, NewNode::Symlink(target), 0o777) }
    }

    unsafe extern "C" fn link(
        old: *mut bindings::dentry,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> i32 {
        // SAFETY: The VFS passes an existing dentry of ours (positive), a directory of ours
        // and a negative dentry in it, with the inode locks held.
        let (inode, dir, name) = unsafe {
            (
                INode::<T>::from_raw((*old).d_inode),
                INode::<T>::from_raw(dir),
                Self::name(dentry),
            )
        };
        match <T::Dir as Operations>::link(inode, dir, name) {
            Ok(()) => {
                inode.inc_ref();
                // SAFETY: `d_instantiate` takes over the reference just taken.
                unsafe { bindings::d_instantiate(dentry, inode.as_raw()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> i32 {
        // SAFETY: The VFS passes a directory of ours and a positive dentry in it, with the
        // inode locks held.
        let (dir, name, inode) = unsafe {
            (
                INode::<T>::from_raw(dir),
                Self::name(dentry),
                INode::<T>::from_raw((*dentry).d_inode),
            )
        };
        match <T::Dir as Operations>::unlink(dir, name, inode) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn rmdir(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> i32 {
        // SAFETY: As in `unlink`.
        let (dir, name, inode) = unsafe {
            (
                INode::<T>::from_raw(dir),
                Self::name(dentry),
                INode::<T>::from_raw((*dentry).d_inode),
            )
        };
        match <T::Dir as Operations>::rmdir(dir, name, inode) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn rename(
        _idmap: *mut bindings::mnt_idmap,
        old_dir: *mut bindings::inode,
        old_dentry: *mut bindings::dentry,
        new_dir: *mut bindings::inode,
        new_dentry: *mut bindings::dentry,
        flags: u32,
    ) -> i32 {
        let known = bindings::RENAME_NOREPLACE | bindings::RENAME_EXCHANGE;
        if flags & !known != 0 {
            return EINVAL.to_errno();
        }
        // SAFETY: The VFS passes directories of ours and dentries in them (the old one
        // positive), with the locks `rename` documents held.
        let res = unsafe {
            let new_inode = (*new_dentry).d_inode;
            <T::Dir as Operations>::rename(
                INode::<T>::from_raw(old_dir),
                Self::name(old_dentry),
                INode::<T>::from_raw((*old_dentry).d_inode),
                INode::<T>::from_raw(new_dir),
                Self::name(new_dentry),
                if new_inode.is_null() { None } else { Some(INode::<T>::from_raw(new_inode)) },
                flags & bindings::RENAME_EXCHANGE != 0,
            )
        };
        match res {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn iterate_shared(
        file: *mut bindings::file,
        ctx: *mut bindings::dir_context,
    ) -> i32 {
        // SAFETY: The VFS passes an open directory of ours and a valid context.
        let dir = unsafe { INode::<T>::from_raw((*file).f_inode) };
        // INVARIANT: `ctx` is valid for this call.
        let mut emitter = DirEmitter {
            ctx,
            _p: PhantomData,
        };
        match <T::Dir as Operations>::read_dir(dir, &mut emitter) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}
