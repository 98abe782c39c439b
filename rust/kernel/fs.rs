// SPDX-License-Identifier: GPL-2.0

//! Block-device filesystems whose file data is accessed through DAX.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h),
//! [`include/linux/iomap.h`](srctree/include/linux/iomap.h),
//! [`include/linux/dax.h`](srctree/include/linux/dax.h)
//!
//! A filesystem implements [`FileSystem`] (what is per filesystem type: its name, mounting,
//! its data) and, as in C, one operations trait per kind of object, each a `#[vtable]` whose
//! methods the filesystem implements only for what it supports: [`sb::Operations`] for the
//! superblock, [`dir::Operations`] for directories, [`file::Operations`] for regular files.
//! It registers the type with [`Registration`]. The abstraction does the VFS side:
//!
//! - mounting (`fs_context`, `get_tree_bdev`), requiring a device with DAX, whose memory the
//!   filesystem then reads its metadata from ([`Dax::read`]) without the buffer cache;
//! - inodes: the inode cache hands back a cached inode or a new one to fill
//!   ([`SuperBlock::iget`], [`NewINode::init`]), with per-inode data of the filesystem's type;
//!   the operation tables of an inode follow from its kind;
//! - directories: lookup and iteration ([`dir::Operations`]);
//! - symlinks (the target is read once, when the inode is filled) and special files;
//! - regular files through `fs/dax.c`: `read_iter` is `dax_iomap_rw`, mappings are
//!   `VM_MIXEDMAP` and their faults go to `dax_iomap_fault`, both driven by the filesystem's
//!   block mapping ([`file::Operations::map`], the `iomap_begin` of the filesystem, which is
//!   told what the access does: [`IomapFlags`]); other processes read mappings through
//!   `vm_operations_struct.access`;
//! - `statfs` ([`sb::Operations::statfs`]) and `/proc/mounts` options;
//! - extended attributes and POSIX ACLs ([`xattr::Operations`]), with ACL inheritance and
//!   `chmod` as the VFS rules say.
//!
//! Write support extends this (`iomap_begin` already receives the iomap flags; `page_mkwrite`
//! takes the same fault path); until a filesystem sets [`FileSystem::READ_ONLY`] to `false`,
//! read-write mounts and remounts are refused.

use crate::{
    bindings,
    error::{code::*, Result},
    str::CStr,
    types::Opaque,
    ThisModule,
};
use core::sync::atomic::{AtomicU8, Ordering};

mod dax;
pub mod dir;
pub mod file;
mod inode;
pub mod sb;
pub mod xattr;

pub use dax::Dax;
pub use dir::{DirEmitter, DirEntryType, NewNode};
pub use file::{Extent, ExtentKind, IomapFlags};
pub use inode::{
    Attrs, Created, Filled, INode, INodeLookup, INodeParams, INodeType, NewINode, Timespec,
};
pub use sb::{NewSuperBlock, ShownOptions, Stat, SuperBlock, SuperParams};

/// A filesystem type.
pub trait FileSystem: Sized + Send + Sync + 'static {
    /// Data the filesystem keeps for each mounted superblock.
    type Data: Send + Sync;

    /// Data the filesystem keeps for each inode.
    type INodeData: Send + Sync;

    /// Mount options, as [`FileSystem::parse_option`] records them: one value per mount or
    /// remount request, starting from `Default`, handed to `fill_super`
    /// ([`NewSuperBlock::options`]) and to [`sb::Operations::remount`].
    type Options: Default + Send + Sync;

    /// The name used in `mount -t` and `/proc/filesystems`.
    const NAME: &'static CStr;

    /// The block size, which must be `PAGE_SIZE` for DAX.
    const BLOCK_SIZE: u32 = bindings::PAGE_SIZE as u32;

    /// Whether only read-only mounts are allowed.
    const READ_ONLY: bool = true;

    /// Extra text for `/proc/mounts` after the generic options, starting with a comma.
    const SHOW_OPTIONS: &'static CStr = crate::c_str!("");

    /// The superblock operations.
    type Super: sb::Operations<FileSystem = Self>;

    /// The operations of directories.
    type Dir: dir::Operations<FileSystem = Self>;

    /// The operations of regular files.
    type File: file::Operations<FileSystem = Self>;

    /// The extended attribute and ACL operations, of inodes of every kind.
    type Xattr: xattr::Operations<FileSystem = Self>;

    /// Checks one mount option (`key` or `key=value`): `Ok(true)` if accepted, `Ok(false)` if
    /// the filesystem does not know it (the VFS then refuses it with "Unknown parameter"), an
    /// error for a known option with a bad value. The default knows none.
    ///
    /// Generic options (`ro`, `rw`, `noatime`, `source`, ...) are handled by the VFS.
    fn parse_option(_opts: &mut Self::Options, _key: &[u8], _value: Option<&[u8]>) -> Result<bool> {
        Ok(false)
    }

    /// Reads and checks the superblock, returning the filesystem's data for it.
    ///
    /// The device has DAX (mounts of devices without it are refused before this is called):
    /// metadata is read with `sb.dax().read(..)`.
    fn fill_super(sb: &NewSuperBlock<'_, Self>) -> Result<(Self::Data, SuperParams)>;

    /// Returns the root directory's inode.
    fn root(sb: &SuperBlock<Self>) -> Result<crate::types::ARef<INode<Self>>>;
}

/// Prints an error-level kernel message prefixed with the filesystem's name, like `pr_err!`
/// in the filesystem's own module would.
pub(crate) fn log_err<T: FileSystem>(args: core::fmt::Arguments<'_>) {
    // SAFETY: `ERR` is one of the format strings `call_printk` accepts and the name is
    // NUL-terminated.
    unsafe {
        crate::print::call_printk(
            &crate::print::format_strings::ERR,
            T::NAME.as_bytes_with_nul(),
            args,
        )
    };
}

/// The `struct file_system_type` of filesystem `T`, declared as a `static` by its module (the
/// VFS and lockdep need it in static storage).
///
/// It is filled in by the first [`Registration`] and never rewritten afterwards: superblocks
/// of the type keep pointing at it (and it keeps the list of them) after it is unregistered,
/// until they are gone, so registering it again only hands the same structure back to the
/// VFS.
///
/// # Examples
///
/// ```ignore
/// static XIPFS_TYPE: kernel::fs::Type<Xipfs> = kernel::fs::Type::new();
/// ```
pub struct Type<T: FileSystem> {
    raw: Opaque<bindings::file_system_type>,
    /// One of `TYPE_*`.
    state: AtomicU8,
    _p: core::marker::PhantomData<T>,
}

/// `Type::raw` was never filled in.
const TYPE_NEW: u8 = 0;
/// `Type::raw` is filled in and registered.
const TYPE_REGISTERED: u8 = 1;
/// `Type::raw` is filled in and not registered.
const TYPE_UNREGISTERED: u8 = 2;

// SAFETY: The raw structure is written by `Registration::new` only while it has never been
// registered (guarded by `state`), and afterwards only by the VFS under its own locks.
unsafe impl<T: FileSystem> Sync for Type<T> {}

impl<T: FileSystem> Type<T> {
    /// A filesystem type that was never registered.
    pub const fn new() -> Self {
        Self {
            raw: Opaque::uninit(),
            state: AtomicU8::new(TYPE_NEW),
            _p: core::marker::PhantomData,
        }
    }
}

impl<T: FileSystem> Default for Type<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered filesystem type; unregistered when dropped.
///
/// # Examples
///
/// A filesystem type can be registered once at a time; `/proc/filesystems` lists it while the
/// registration lives.
///
/// ```
/// use kernel::fs::{self, DirEmitter, Extent, FileSystem, INode, IomapFlags, NewSuperBlock};
/// use kernel::fs::Registration;
/// use kernel::{c_str, prelude::*, str::CStr, types::ARef, ThisModule};
///
/// struct NoFs;
/// impl FileSystem for NoFs {
///     type Data = ();
///     type INodeData = ();
///     type Options = ();
///     type Super = Self;
///     type Dir = Self;
///     type File = Self;
///     type Xattr = Self;
///     const NAME: &'static CStr = c_str!("doctestfs");
///     fn fill_super(_: &NewSuperBlock<'_, Self>) -> Result<((), fs::SuperParams)> {
///         Err(EINVAL)
///     }
///     fn root(_: &fs::SuperBlock<Self>) -> Result<ARef<INode<Self>>> { Err(EINVAL) }
/// }
/// // No `statfs`: the superblock operations are all optional.
/// #[vtable]
/// impl fs::sb::Operations for NoFs {
///     type FileSystem = Self;
/// }
/// #[vtable]
/// impl fs::dir::Operations for NoFs {
///     type FileSystem = Self;
///     fn lookup(_: &INode<Self>, _: &[u8]) -> Result<Option<ARef<INode<Self>>>> { Ok(None) }
///     fn read_dir(_: &INode<Self>, _: &mut DirEmitter<'_>) -> Result { Ok(()) }
/// }
/// #[vtable]
/// impl fs::file::Operations for NoFs {
///     type FileSystem = Self;
///     fn map(_: &INode<Self>, _: u64, _: u64, _: IomapFlags) -> Result<Extent> { Err(EIO) }
/// }
///
/// // No extended attributes, no ACLs.
/// #[vtable]
/// impl fs::xattr::Operations for NoFs {
///     type FileSystem = Self;
/// }
///
/// static TYPE: fs::Type<NoFs> = fs::Type::new();
/// let owner: &'static ThisModule = {
///     // SAFETY: Built-in code has no module: its `THIS_MODULE` is null.
///     static NONE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
///     &NONE
/// };
/// let reg = Registration::new::<NoFs>(&TYPE, owner)?;
/// assert_eq!(Registration::new::<NoFs>(&TYPE, owner).err(), Some(EBUSY));
/// drop(reg);
/// let again = Registration::new::<NoFs>(&TYPE, owner)?;
/// drop(again);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `raw` is the structure of a static [`Type`], registered with `register_filesystem` for the
/// lifetime of this object; `state` is that `Type`'s state.
pub struct Registration {
    raw: *mut bindings::file_system_type,
    state: &'static AtomicU8,
}

// SAFETY: The registration only refers to a static `Type`, usable from any thread.
unsafe impl Send for Registration {}
// SAFETY: `&Registration` gives access to nothing.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `T` as filesystem type `ty`, owned by `module` (which therefore cannot be
    /// unloaded while a filesystem of this type is mounted).
    ///
    /// Fails with `EBUSY` if `ty` is registered already.
    pub fn new<T: FileSystem>(ty: &'static Type<T>, module: &'static ThisModule) -> Result<Self> {
        let raw = ty.raw.get();
        match ty.state.compare_exchange(
            TYPE_NEW,
            TYPE_REGISTERED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: `ty` was never registered (its state was `TYPE_NEW`, and is now ours):
                // nothing else accesses it. All zeroes is a valid `file_system_type`; the lock
                // class keys in it are static storage.
                unsafe {
                    raw.write(core::mem::zeroed());
                    (*raw).name = T::NAME.as_char_ptr();
                    (*raw).fs_flags = bindings::FS_REQUIRES_DEV as _;
                    (*raw).init_fs_context = Some(sb::Tables::<T>::init_fs_context);
                    (*raw).kill_sb = Some(sb::Tables::<T>::kill_sb);
                    (*raw).owner = module.0;
                }
            }
            // Filled in by an earlier registration, for the same `T` (`Type` is typed), whose
            // superblocks may still be on its list: leave it as it is.
            Err(TYPE_UNREGISTERED)
                if ty
                    .state
                    .compare_exchange(
                        TYPE_UNREGISTERED,
                        TYPE_REGISTERED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_ok() => {}
            Err(_) => return Err(EBUSY),
        }
        // SAFETY: `raw` is a fully initialised `file_system_type` in static storage, which we
        // may register (state `TYPE_REGISTERED`, set by us).
        let ret = unsafe { bindings::register_filesystem(raw) };
        if ret != 0 {
            ty.state.store(TYPE_UNREGISTERED, Ordering::Release);
            return Err(crate::error::Error::from_errno(ret));
        }
        // INVARIANT: Registered just above.
        Ok(Self {
            raw,
            state: &ty.state,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Registered by `new` (type invariant). Inodes are freed after an RCU grace
        // period by a callback in this module: wait for those before the module can go.
        unsafe {
            bindings::unregister_filesystem(self.raw);
            bindings::rcu_barrier();
        }
        self.state.store(TYPE_UNREGISTERED, Ordering::Release);
    }
}
