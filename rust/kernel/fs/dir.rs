// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and iteration, and the directory operations a filesystem implements
//! ([`Operations`]).

use super::{FileSystem, INode};
use crate::{bindings, error::Result, types::ARef};
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
        // SAFETY: All other fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const DIR_FOPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read: Some(bindings::generic_read_dir),
        // Nothing to write back on a read-only filesystem.
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
