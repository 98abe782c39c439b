// SPDX-License-Identifier: GPL-2.0

//! Extended attributes and POSIX ACLs: the operations a filesystem implements
//! ([`Operations`]) and the VFS side of them.
//!
//! C headers: [`include/linux/xattr.h`](srctree/include/linux/xattr.h),
//! [`include/linux/posix_acl.h`](srctree/include/linux/posix_acl.h)
//!
//! The filesystem stores name/value pairs in three namespaces ([`Namespace`]: `user.`,
//! `trusted.`, `security.`) and POSIX ACLs as lists of entries ([`AclEntry`]), in whatever
//! format it has on disk. The abstraction does what the VFS rules say around that, the way
//! ext2 does it:
//!
//! - `getxattr`, `setxattr` and `removexattr` reach [`Operations::get`] and [`Operations::set`]
//!   through one `xattr_handler` per namespace (`sb->s_xattr`); the VFS has checked the
//!   caller's rights (`trusted.` needs `CAP_SYS_ADMIN`, `user.` only on regular files and
//!   directories the caller may read or write);
//! - `listxattr` lists what [`Operations::list`] reports, leaving out `trusted.` names for
//!   callers without `CAP_SYS_ADMIN` and ACLs on mounts without ACLs;
//! - `system.posix_acl_access` and `system.posix_acl_default` go through the VFS's ACL code
//!   (`get_inode_acl`, `set_acl`, with the ACL cache of the inode) to [`Operations::get_acl`]
//!   and [`Operations::set_acl`]; setting an access ACL updates the mode (or drops an ACL
//!   the mode says all of: `posix_acl_update_mode`); a default ACL on anything but a
//!   directory is refused with `EACCES`;
//! - on mounts with ACLs ([`super::SuperParams::posix_acl`]), a new inode inherits its
//!   directory's default ACL ([`super::NewINode::init_new`] calls `posix_acl_create`, which
//!   also applies the umask, which the VFS then leaves to the filesystem), and `chmod`
//!   rewrites the access ACL (`posix_acl_chmod`).

use super::{FileSystem, INode};
use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings, c_str,
    error::{code::*, Result},
};
use core::marker::PhantomData;
use macros::vtable;

/// The namespace of an extended attribute: the prefix of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    /// `user.`: for regular files and directories, as their permissions allow.
    User,
    /// `trusted.`: for processes with `CAP_SYS_ADMIN` only.
    Trusted,
    /// `security.`: for security modules and file capabilities.
    Security,
}

impl Namespace {
    /// The name prefix, with its dot.
    pub const fn prefix(self) -> &'static [u8] {
        match self {
            Namespace::User => b"user.",
            Namespace::Trusted => b"trusted.",
            Namespace::Security => b"security.",
        }
    }

    const fn flag(self) -> i32 {
        match self {
            Namespace::User => 1,
            Namespace::Trusted => 2,
            Namespace::Security => 3,
        }
    }

    fn from_flag(flag: i32) -> Option<Self> {
        Some(match flag {
            1 => Namespace::User,
            2 => Namespace::Trusted,
            3 => Namespace::Security,
            _ => return None,
        })
    }
}

/// What a `setxattr` asks when the attribute exists or not (`XATTR_CREATE`,
/// `XATTR_REPLACE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    /// Create it or replace it.
    Any,
    /// Create it: `EEXIST` if it exists.
    Create,
    /// Replace it: `ENODATA` if it does not exist (also what `removexattr` asks).
    Replace,
}

/// Which ACL of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclKind {
    /// The access ACL (`system.posix_acl_access`).
    Access,
    /// The default ACL of a directory, inherited by what is made in it
    /// (`system.posix_acl_default`).
    Default,
}

impl AclKind {
    fn from_raw(t: i32) -> Option<Self> {
        match t as u32 {
            bindings::ACL_TYPE_ACCESS => Some(AclKind::Access),
            bindings::ACL_TYPE_DEFAULT => Some(AclKind::Default),
            _ => None,
        }
    }

    fn name(self) -> &'static [u8] {
        match self {
            AclKind::Access => b"system.posix_acl_access",
            AclKind::Default => b"system.posix_acl_default",
        }
    }
}

/// The tag of an ACL entry: whom it is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTag {
    /// The owner (`ACL_USER_OBJ`).
    UserObj,
    /// The user [`AclEntry::id`] (`ACL_USER`).
    User,
    /// The owning group (`ACL_GROUP_OBJ`).
    GroupObj,
    /// The group [`AclEntry::id`] (`ACL_GROUP`).
    Group,
    /// The most that named users and groups and the owning group get (`ACL_MASK`).
    Mask,
    /// Everyone else (`ACL_OTHER`).
    Other,
}

impl AclTag {
    fn to_raw(self) -> u32 {
        match self {
            AclTag::UserObj => bindings::ACL_USER_OBJ,
            AclTag::User => bindings::ACL_USER,
            AclTag::GroupObj => bindings::ACL_GROUP_OBJ,
            AclTag::Group => bindings::ACL_GROUP,
            AclTag::Mask => bindings::ACL_MASK,
            AclTag::Other => bindings::ACL_OTHER,
        }
    }

    fn from_raw(t: u32) -> Option<Self> {
        Some(match t {
            bindings::ACL_USER_OBJ => AclTag::UserObj,
            bindings::ACL_USER => AclTag::User,
            bindings::ACL_GROUP_OBJ => AclTag::GroupObj,
            bindings::ACL_GROUP => AclTag::Group,
            bindings::ACL_MASK => AclTag::Mask,
            bindings::ACL_OTHER => AclTag::Other,
            _ => return None,
        })
    }
}

/// One entry of a POSIX ACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// Whom it is for.
    pub tag: AclTag,
    /// Read (4), write (2), execute (1).
    pub perm: u16,
    /// The user or group id (in the initial user namespace) of [`AclTag::User`] and
    /// [`AclTag::Group`] entries; 0 for the others.
    pub id: u32,
}

/// The extended attribute and ACL operations of a filesystem. Each is optional: without
/// [`Operations::get`] the filesystem has no extended attributes (`EOPNOTSUPP`), without
/// [`Operations::get_acl`] no ACLs.
///
/// Every inode of the filesystem has them (regular files, directories, symlinks and special
/// files); the VFS decides which namespaces each kind of inode may use.
#[vtable]
pub trait Operations {
    /// The filesystem these operations are for.
    type FileSystem: FileSystem;

    /// Copies the value of attribute `name` (without its prefix; never empty) of namespace
    /// `ns` into `buf` and returns its length; with an empty `buf`, only returns the length.
    /// `ENODATA` if there is no such attribute, `ERANGE` if `buf` is too small.
    ///
    /// Called without the inode lock.
    fn get(
        _inode: &INode<Self::FileSystem>,
        _ns: Namespace,
        _name: &[u8],
        _buf: &mut [u8],
    ) -> Result<usize> {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Sets attribute `name` of namespace `ns` to `value` (which may be empty), or removes it
    /// (`None`), as `mode` says: removing an attribute that does not exist fails with
    /// `ENODATA` only with [`SetMode::Replace`]. The inode's change time is the filesystem's
    /// to update.
    ///
    /// Called with the inode lock held.
    fn set(
        _inode: &INode<Self::FileSystem>,
        _ns: Namespace,
        _name: &[u8],
        _value: Option<&[u8]>,
        _mode: SetMode,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reports every attribute of `inode` to `list` ([`XattrList::add`], and
    /// [`XattrList::add_acl`] for each ACL the inode has).
    fn list(_inode: &INode<Self::FileSystem>, _list: &mut XattrList<'_>) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Reads the ACL `kind` of `inode`: `None` if it has none. The VFS caches the answer in
    /// the inode.
    fn get_acl(
        _inode: &INode<Self::FileSystem>,
        _kind: AclKind,
    ) -> Result<Option<KVec<AclEntry>>> {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Stores the ACL `kind` of `inode`, or removes it (`None`; no error if there was none).
    /// The entries are in the VFS's order (by tag, then id) and valid. The mode change an
    /// access ACL brings is made by the abstraction after this succeeds.
    ///
    /// Called with the inode lock held, or on an inode being made (not yet visible).
    fn set_acl(
        _inode: &INode<Self::FileSystem>,
        _kind: AclKind,
        _acl: Option<&[AclEntry]>,
    ) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// Where [`Operations::list`] reports the names of an inode's attributes: the buffer of a
/// `listxattr(2)` call, or only the length the names need.
///
/// Names a caller may not see are left out: `trusted.` ones without `CAP_SYS_ADMIN`, ACLs on
/// a mount without ACLs.
pub struct XattrList<'a> {
    buf: &'a mut [u8],
    /// Only count (a call with size 0).
    count_only: bool,
    len: usize,
    trusted: bool,
    acl: bool,
}

impl XattrList<'_> {
    fn push(&mut self, parts: &[&[u8]]) {
        let n = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
        let start = self.len;
        self.len = self.len.saturating_add(n);
        if self.count_only || self.len > self.buf.len() {
            return;
        }
        let mut at = start;
        for p in parts {
            self.buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.buf[at] = 0;
    }

    /// Reports attribute `name` (without its prefix) of namespace `ns`.
    pub fn add(&mut self, ns: Namespace, name: &[u8]) {
        if ns == Namespace::Trusted && !self.trusted {
            return;
        }
        self.push(&[ns.prefix(), name]);
    }

    /// Reports that the inode has an ACL of kind `kind`.
    pub fn add_acl(&mut self, kind: AclKind) {
        if self.acl {
            self.push(&[kind.name()]);
        }
    }
}

/// The ACLs a new inode inherits, until they are stored.
pub(crate) struct NewAcls {
    default: Option<RawAcl>,
    access: Option<RawAcl>,
}

// SAFETY: The ACLs are reference counted and immutable once made; they may be released from
// any thread.
unsafe impl Send for NewAcls {}
// SAFETY: `&NewAcls` only reads them.
unsafe impl Sync for NewAcls {}

/// An ACL of the VFS (`struct posix_acl`), released when dropped.
///
/// # Invariants
///
/// `acl` is a valid ACL whose reference we own.
struct RawAcl {
    acl: *mut bindings::posix_acl,
}

impl RawAcl {
    /// An ACL with `entries`.
    fn new(entries: &[AclEntry]) -> Result<Self> {
        let count = i32::try_from(entries.len()).map_err(|_| EINVAL)?;
        // SAFETY: No requirement; the ACL comes back with one reference, ours.
        let acl = unsafe { bindings::posix_acl_alloc(count, GFP_KERNEL.as_raw()) };
        if acl.is_null() {
            return Err(ENOMEM);
        }
        for (i, e) in entries.iter().enumerate() {
            // SAFETY: `acl` has `count` entries, of which `i` is one; no one else sees it yet.
            unsafe {
                bindings::xip_acl_entry_set(acl, i as u32, e.tag.to_raw() as i16, e.perm, e.id)
            };
        }
        // INVARIANT: Allocated and filled; our reference.
        Ok(Self { acl })
    }
}

impl Drop for RawAcl {
    fn drop(&mut self) {
        // SAFETY: Our reference (type invariant).
        unsafe { bindings::xip_posix_acl_release(self.acl) };
    }
}

/// The entries of the VFS ACL `acl`.
///
/// # Safety
///
/// `acl` must be a valid ACL, alive during the call.
unsafe fn entries_of(acl: *const bindings::posix_acl) -> Result<KVec<AclEntry>> {
    // SAFETY: As required.
    let count = unsafe { (*acl).a_count } as usize;
    let mut v = KVec::with_capacity(count, GFP_KERNEL)?;
    for i in 0..count {
        let (mut tag, mut perm, mut id) = (0i16, 0u16, 0u32);
        // SAFETY: As required; `i` is below the entry count.
        unsafe { bindings::xip_acl_entry_get(acl, i as u32, &mut tag, &mut perm, &mut id) };
        let tag = AclTag::from_raw(tag as u16 as u32).ok_or(EINVAL)?;
        let id = if matches!(tag, AclTag::User | AclTag::Group) { id } else { 0 };
        v.push(AclEntry { tag, perm, id }, GFP_KERNEL)?;
    }
    Ok(v)
}

/// The extended attribute and ACL callbacks of filesystem `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    /// The filesystem has extended attributes.
    pub(crate) const HAS_XATTR: bool = <T::Xattr as Operations>::HAS_GET;
    /// The filesystem has POSIX ACLs.
    pub(crate) const HAS_ACL: bool = <T::Xattr as Operations>::HAS_GET_ACL;

    const fn handler(ns: Namespace) -> bindings::xattr_handler {
        bindings::xattr_handler {
            prefix: match ns {
                Namespace::User => c_str!("user.").as_char_ptr(),
                Namespace::Trusted => c_str!("trusted.").as_char_ptr(),
                Namespace::Security => c_str!("security.").as_char_ptr(),
            },
            flags: ns.flag(),
            get: Some(Self::xattr_get),
            set: if <T::Xattr as Operations>::HAS_SET { Some(Self::xattr_set) } else { None },
            // SAFETY: All other fields are optional, zero meaning none.
            ..unsafe { core::mem::zeroed() }
        }
    }

    const USER: bindings::xattr_handler = Self::handler(Namespace::User);
    const TRUSTED: bindings::xattr_handler = Self::handler(Namespace::Trusted);
    const SECURITY: bindings::xattr_handler = Self::handler(Namespace::Security);

    /// `sb->s_xattr`: the handlers, NULL-terminated.
    pub(crate) const HANDLERS: [*const bindings::xattr_handler; 4] =
        [&Self::USER, &Self::TRUSTED, &Self::SECURITY, core::ptr::null()];

    /// `listxattr` of the inode operations.
    pub(crate) const LISTXATTR: Option<
        unsafe extern "C" fn(*mut bindings::dentry, *mut crate::ffi::c_char, usize) -> isize,
    > = if <T::Xattr as Operations>::HAS_LIST { Some(Self::listxattr) } else { None };

    /// `get_inode_acl` of the inode operations.
    pub(crate) const GET_INODE_ACL: Option<
        unsafe extern "C" fn(*mut bindings::inode, i32, bool) -> *mut bindings::posix_acl,
    > = if Self::HAS_ACL { Some(Self::get_inode_acl) } else { None };

    /// `set_acl` of the inode operations.
    pub(crate) const SET_ACL: Option<
        unsafe extern "C" fn(
            *mut bindings::mnt_idmap,
            *mut bindings::dentry,
            *mut bindings::posix_acl,
            i32,
        ) -> i32,
    > = if Self::HAS_ACL && <T::Xattr as Operations>::HAS_SET_ACL {
        Some(Self::set_acl)
    } else {
        None
    };

    /// `setattr` of inodes other than regular files, on filesystems with ACLs: as
    /// `simple_setattr`, then `chmod` rewrites the access ACL. `None` otherwise (the VFS's
    /// `simple_setattr`).
    pub(crate) const SETATTR: Option<
        unsafe extern "C" fn(*mut bindings::mnt_idmap, *mut bindings::dentry, *mut bindings::iattr) -> i32,
    > = if Self::HAS_ACL && <T::Xattr as Operations>::HAS_SET_ACL {
        Some(Self::setattr)
    } else {
        None
    };

    /// The operations of symbolic links.
    pub(crate) const SYMLINK_IOPS: bindings::inode_operations = bindings::inode_operations {
        get_link: Some(bindings::simple_get_link),
        listxattr: Self::LISTXATTR,
        setattr: Self::SETATTR,
        // SAFETY: All other fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    /// The operations of device special files, FIFOs and sockets.
    pub(crate) const SPECIAL_IOPS: bindings::inode_operations = bindings::inode_operations {
        listxattr: Self::LISTXATTR,
        setattr: Self::SETATTR,
        get_inode_acl: Self::GET_INODE_ACL,
        set_acl: Self::SET_ACL,
        // SAFETY: All other fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    /// The name after the prefix and the inode, for a handler callback.
    ///
    /// # Safety
    ///
    /// `inode` must be an inode of ours and `name` a NUL-terminated string, both valid for
    /// `'a`.
    unsafe fn args<'a>(
        inode: *mut bindings::inode,
        name: *const crate::ffi::c_char,
    ) -> (&'a INode<T>, &'a [u8]) {
        // SAFETY: As required.
        unsafe { (INode::from_raw(inode), crate::str::CStr::from_char_ptr(name).as_bytes()) }
    }

    unsafe extern "C" fn xattr_get(
        handler: *const bindings::xattr_handler,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const crate::ffi::c_char,
        buffer: *mut core::ffi::c_void,
        size: usize,
    ) -> i32 {
        // SAFETY: The VFS passes one of our handlers, an inode of ours, the name without its
        // prefix (not empty: `xattr_resolve_name` refuses that) and a kernel buffer of `size`
        // bytes (null if `size` is 0), all valid during the call.
        let (ns, (inode, name)) = unsafe { ((*handler).flags, Self::args(inode, name)) };
        let Some(ns) = Namespace::from_flag(ns) else {
            return EOPNOTSUPP.to_errno();
        };
        let buf: &mut [u8] = if size == 0 || buffer.is_null() {
            &mut []
        } else {
            // SAFETY: As above: `size` bytes the VFS allocated for the value, only ours now.
            unsafe { core::slice::from_raw_parts_mut(buffer.cast(), size) }
        };
        match <T::Xattr as Operations>::get(inode, ns, name, buf) {
            Ok(n) => i32::try_from(n).unwrap_or(i32::MAX),
            Err(e) => e.to_errno(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    unsafe extern "C" fn xattr_set(
        handler: *const bindings::xattr_handler,
        _idmap: *mut bindings::mnt_idmap,
        _dentry: *mut bindings::dentry,
        inode: *mut bindings::inode,
        name: *const crate::ffi::c_char,
        value: *const core::ffi::c_void,
        size: usize,
        flags: i32,
    ) -> i32 {
        // SAFETY: As in `xattr_get`; `value` is null (remove) or `size` bytes of a kernel
        // buffer (`__vfs_setxattr` turns a null value of a set into "").
        let (ns, (inode, name)) = unsafe { ((*handler).flags, Self::args(inode, name)) };
        let Some(ns) = Namespace::from_flag(ns) else {
            return EOPNOTSUPP.to_errno();
        };
        let value = if value.is_null() {
            None
        } else if size == 0 {
            Some(&[][..])
        } else {
            // SAFETY: As above.
            Some(unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) })
        };
        let flags = flags as u32;
        let mode = if flags & bindings::XATTR_CREATE != 0 {
            SetMode::Create
        } else if flags & bindings::XATTR_REPLACE != 0 {
            SetMode::Replace
        } else {
            SetMode::Any
        };
        match <T::Xattr as Operations>::set(inode, ns, name, value, mode) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn listxattr(
        dentry: *mut bindings::dentry,
        buffer: *mut crate::ffi::c_char,
        size: usize,
    ) -> isize {
        // SAFETY: The VFS passes a positive dentry of ours and a kernel buffer of `size`
        // bytes (null when `size` is 0), valid during the call.
        let raw = unsafe { (*dentry).d_inode };
        // SAFETY: As above.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        let buf: &mut [u8] = if size == 0 || buffer.is_null() {
            &mut []
        } else {
            // SAFETY: As above.
            unsafe { core::slice::from_raw_parts_mut(buffer.cast(), size) }
        };
        let mut list = XattrList {
            buf,
            count_only: size == 0,
            len: 0,
            // SAFETY: No requirement.
            trusted: unsafe { bindings::xip_capable_sys_admin() },
            // SAFETY: As above: the superblock is valid.
            acl: unsafe { (*(*raw).i_sb).s_flags } & bindings::SB_POSIXACL as usize != 0,
        };
        if let Err(e) = <T::Xattr as Operations>::list(inode, &mut list) {
            return e.to_errno() as isize;
        }
        if size != 0 && list.len > size {
            return ERANGE.to_errno() as isize;
        }
        list.len as isize
    }

    unsafe extern "C" fn get_inode_acl(
        inode: *mut bindings::inode,
        typ: i32,
        rcu: bool,
    ) -> *mut bindings::posix_acl {
        if rcu {
            // Reading the ACL may sleep: the VFS tries again outside RCU.
            return ECHILD.to_ptr();
        }
        let Some(kind) = AclKind::from_raw(typ) else {
            return EINVAL.to_ptr();
        };
        // SAFETY: The VFS passes an inode of ours.
        let inode = unsafe { INode::<T>::from_raw(inode) };
        let res = <T::Xattr as Operations>::get_acl(inode, kind)
            .and_then(|acl| acl.map(|a| RawAcl::new(&a)).transpose());
        match res {
            Ok(None) => core::ptr::null_mut(),
            Ok(Some(acl)) => {
                let ptr = acl.acl;
                // Our reference goes to the caller.
                core::mem::forget(acl);
                ptr
            }
            Err(e) => e.to_ptr(),
        }
    }

    /// Stores ACL `acl` (null: none) of kind `kind` on `inode` through the filesystem and
    /// caches it in the inode (which takes its own reference).
    ///
    /// # Safety
    ///
    /// `acl` must be null or a valid ACL, alive during the call.
    unsafe fn store_acl(inode: &INode<T>, kind: AclKind, acl: *mut bindings::posix_acl) -> Result {
        if kind == AclKind::Default && !inode.is_dir() {
            return if acl.is_null() { Ok(()) } else { Err(EACCES) };
        }
        let entries = if acl.is_null() {
            None
        } else {
            // SAFETY: As required.
            Some(unsafe { entries_of(acl) }?)
        };
        <T::Xattr as Operations>::set_acl(inode, kind, entries.as_deref())?;
        let typ = match kind {
            AclKind::Access => bindings::ACL_TYPE_ACCESS,
            AclKind::Default => bindings::ACL_TYPE_DEFAULT,
        };
        // SAFETY: The inode is valid; `acl` is null or valid (as required).
        unsafe { bindings::set_cached_acl(inode.as_raw(), typ as i32, acl) };
        Ok(())
    }

    unsafe extern "C" fn set_acl(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        acl: *mut bindings::posix_acl,
        typ: i32,
    ) -> i32 {
        let Some(kind) = AclKind::from_raw(typ) else {
            return EINVAL.to_errno();
        };
        // SAFETY: The VFS passes a positive dentry of ours, with the inode locked, and a
        // valid ACL or null, alive during the call.
        let raw = unsafe { (*dentry).d_inode };
        // SAFETY: As above.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        // SAFETY: As above.
        let mut mode = unsafe { (*raw).i_mode };
        let mut acl = acl;
        let update_mode = kind == AclKind::Access && !acl.is_null();
        if update_mode {
            // May set `acl` to null: the mode says all of it.
            // SAFETY: As above.
            let ret = unsafe { bindings::posix_acl_update_mode(idmap, raw, &mut mode, &mut acl) };
            if ret != 0 {
                return ret;
            }
        }
        // SAFETY: `acl` is null or the VFS's valid ACL.
        if let Err(e) = unsafe { Self::store_acl(inode, kind, acl) } {
            return e.to_errno();
        }
        if update_mode {
            // SAFETY: As above: the inode is locked.
            unsafe {
                (*raw).i_mode = mode;
                bindings::inode_set_ctime_current(raw);
            }
            inode.mark_dirty();
        }
        0
    }

    /// The ACLs a new inode made in `dir` gets from `dir`'s default ACL (`posix_acl_create`),
    /// which also sets the permission bits of `mode`: the umask, or what the inherited ACL
    /// says. Nothing on mounts without ACLs (the VFS applied the umask already).
    ///
    /// # Safety
    ///
    /// `mode` must be valid for reads and writes during the call.
    pub(crate) unsafe fn create_acls(dir: &INode<T>, mode: *mut u16) -> Result<NewAcls> {
        let mut acls = NewAcls { default: None, access: None };
        if !Self::HAS_ACL || !<T::Xattr as Operations>::HAS_SET_ACL {
            return Ok(acls);
        }
        let mut default: *mut bindings::posix_acl = core::ptr::null_mut();
        let mut access: *mut bindings::posix_acl = core::ptr::null_mut();
        // SAFETY: `dir` is a live directory of ours, `mode` valid (as required); the ACLs come
        // back with our references, or null.
        crate::error::to_result(unsafe {
            bindings::posix_acl_create(dir.as_raw(), mode, &mut default, &mut access)
        })?;
        // INVARIANT: Our references (null ones are not wrapped).
        acls.default = (!default.is_null()).then_some(RawAcl { acl: default });
        acls.access = (!access.is_null()).then_some(RawAcl { acl: access });
        Ok(acls)
    }

    /// Stores `acls` (from [`Tables::create_acls`]) on the brand-new inode `inode`.
    pub(crate) fn store_new_acls(inode: &INode<T>, acls: &NewAcls) -> Result {
        if let Some(a) = &acls.default {
            // SAFETY: A valid ACL (type invariant of `RawAcl`).
            unsafe { Self::store_acl(inode, AclKind::Default, a.acl) }?;
        }
        if let Some(a) = &acls.access {
            // SAFETY: As above.
            unsafe { Self::store_acl(inode, AclKind::Access, a.acl) }?;
        }
        Ok(())
    }

    /// After a `setattr` that changed the mode: rewrites the access ACL to match.
    ///
    /// # Safety
    ///
    /// `dentry` must be a positive dentry of ours whose inode is locked.
    pub(crate) unsafe fn chmod_acl(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *const bindings::iattr,
    ) -> i32 {
        if !Self::HAS_ACL || !<T::Xattr as Operations>::HAS_SET_ACL {
            return 0;
        }
        // SAFETY: As required.
        unsafe {
            if (*attr).ia_valid & bindings::ATTR_MODE == 0 {
                return 0;
            }
            bindings::posix_acl_chmod(idmap, dentry, (*(*dentry).d_inode).i_mode)
        }
    }

    unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *mut bindings::iattr,
    ) -> i32 {
        // SAFETY: The VFS passes a positive dentry of ours (not a regular file), locked, and
        // the change.
        unsafe {
            let ret = bindings::setattr_prepare(idmap, dentry, attr);
            if ret != 0 {
                return ret;
            }
            let raw = (*dentry).d_inode;
            bindings::setattr_copy(idmap, raw, attr);
            INode::<T>::from_raw(raw).mark_dirty();
            Self::chmod_acl(idmap, dentry, attr)
        }
    }
}
