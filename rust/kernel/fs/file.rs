// SPDX-License-Identifier: GPL-2.0

//! Regular files through DAX: `read_iter`, `write_iter`, `mmap`, faults and `access`,
//! `fallocate`, `fsync` and size changes, driven by the filesystem's block mapping
//! ([`Operations::map`], its `iomap_begin`) and block freeing ([`Operations::truncate`]).
//!
//! # Locking
//!
//! | path | takes, in this order |
//! |---|---|
//! | `read(2)` | inode lock shared; then `map` |
//! | `write(2)` | inode lock; then `map` (which allocates) |
//! | page fault | mmap lock; freeze protection (`sb_start_pagefault`) for a write fault on a shared mapping; invalidate lock shared; the DAX entry lock of the page (`fs/dax.c`); then `map` |
//! | size change, `fallocate` | inode lock; invalidate lock exclusive (size change and hole punching: the pages are unmapped, pins of them waited for, their DAX entries removed, then `truncate` or `punch_hole`) |
//! | last close of a writer | inode lock; invalidate lock exclusive; `truncate` at the size (drops blocks past the end) |
//!
//! # Pinned pages
//!
//! On a device whose memory has reference-counted pages ([`Dax::refcounted_pages`](super::Dax::refcounted_pages)),
//! `get_user_pages()` can take a mapped page of a file and hold it after the mapping is gone
//! from the page tables: an `O_DIRECT` read into the mapping fills it from another device, a
//! `vmsplice()`d buffer sits in a pipe. Before blocks are freed by a size change or a hole
//! punch, the range is unmapped and the abstraction waits,
//! with the invalidate lock dropped, until no page in it is referenced beyond its pagemap
//! (`dax_layout_busy_page_range()`, as ext4 and xfs do); a signal ends the wait with
//! `ERESTARTSYS` and nothing freed. (Blocks wholly past the end, which the last close of a
//! writer frees, cannot be mapped, so cannot be pinned.) Linux 6.12 only sees pins while the file is mapped
//! somewhere (`mapping_mapped()`); a pin that outlives every mapping of the file is not
//! waited for (later kernels wait at eviction, `dax_break_layout_final()`).
//!
//! `map` and `truncate` are called with no lock of the abstraction held beyond these; a
//! filesystem serialises its block map with its own lock, taken inside them, and must not
//! mark the inode dirty while holding it (that calls its `write_inode`).

use super::{xattr, FileSystem, INode, SuperBlock};
use crate::{bindings, error::code::*, error::Result};
use core::marker::PhantomData;
use macros::vtable;

/// Bytes in a page.
const PAGE: u64 = bindings::PAGE_SIZE as u64;

/// Pages a read fault maps at once, the one faulting and those around it in the same
/// naturally aligned window: 16, the 64 KiB of the kernel's default `fault_around_bytes`.
const FAULT_AROUND_PAGES: u32 = 16;

/// The operations of a filesystem's regular files.
///
/// Their data is accessed through `fs/dax.c`: the abstraction provides `read_iter`, `mmap`,
/// the fault handlers and `access`, all driven by [`Operations::map`].
#[vtable]
pub trait Operations {
    /// The filesystem these operations are for.
    type FileSystem: FileSystem;

    /// Maps the byte range `[pos, pos + len)` of the regular file `inode` (`iomap_begin`):
    /// returns the extent that contains `pos` (a hole or a run of contiguous device bytes),
    /// which may be shorter or longer than asked. `flags` tell what the access does.
    ///
    /// `fs/dax.c` maps what it is told: two pages of files must never get the same device
    /// block, and a block must not be reachable by a file before it holds what the file may
    /// see.
    ///
    /// With [`IomapFlags::write`] (and not [`IomapFlags::zero`]) the range must be allocated:
    /// holes in it get blocks, zeroed before the extent is returned (the extent is then
    /// [`ExtentKind::New`]). With `zero`, nothing is allocated: holes are left as they are.
    fn map(
        inode: &INode<Self::FileSystem>,
        pos: u64,
        len: u64,
        flags: IomapFlags,
    ) -> Result<Extent>;

    /// Frees the blocks of `inode` that lie wholly past byte `size` (indirect blocks that no
    /// longer map anything included). Called with the inode lock and the invalidate lock held
    /// exclusively, after the pages past `size` were unmapped: nothing can reach those blocks
    /// any more. `size` is the file's size, or (at the last close of a writer) the file's size
    /// when blocks were allocated past it by `fallocate` with `FALLOC_FL_KEEP_SIZE` or by a
    /// write that failed.
    ///
    /// A filesystem that implements it is writable: files get `write_iter`, `fallocate`,
    /// `setattr` (size changes) and writable shared mappings.
    fn truncate(_inode: &INode<Self::FileSystem>, _size: u64) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }

    /// Frees the blocks of `inode` that lie wholly inside the byte range `[start, end)`
    /// (`fallocate(FALLOC_FL_PUNCH_HOLE)`), indirect blocks that no longer map anything
    /// included; the file's size does not change. `start` and `end` are multiples of the block
    /// size, `start < end <= ` the size rounded up to a block. Called as [`Operations::truncate`]
    /// is: with the inode lock and the invalidate lock held exclusively, after the range was
    /// unmapped and every `get_user_pages()` pin of its pages was waited for. The abstraction
    /// zeroes the parts of blocks at either end of the hole itself.
    ///
    /// Without it, punching a hole fails with `EOPNOTSUPP` (as on ext2).
    fn punch_hole(_inode: &INode<Self::FileSystem>, _start: u64, _end: u64) -> Result {
        crate::build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// What an access through the iomap does: the `flags` argument of `iomap_begin`.
///
/// # Examples
///
/// ```
/// use kernel::fs::IomapFlags;
///
/// let f = IomapFlags::from_raw(kernel::bindings::IOMAP_WRITE | kernel::bindings::IOMAP_FAULT);
/// assert!(f.write() && f.fault() && !f.zero() && !f.nowait());
/// assert!(!IomapFlags::READ.write());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IomapFlags(u32);

impl IomapFlags {
    /// A plain read (`read(2)` or a read fault).
    pub const READ: Self = Self(0);

    /// A write that is not a fault (`write(2)`, `fallocate(2)`): holes are allocated.
    pub const WRITE: Self = Self(bindings::IOMAP_WRITE);

    /// Flags as `iomap_begin` receives them (`IOMAP_*`).
    pub const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }

    /// The raw `IOMAP_*` bits.
    pub const fn as_raw(self) -> u32 {
        self.0
    }

    /// The access writes (`IOMAP_WRITE`): a hole must be allocated.
    pub const fn write(self) -> bool {
        self.0 & bindings::IOMAP_WRITE != 0
    }

    /// The range is being zeroed (`IOMAP_ZERO`).
    pub const fn zero(self) -> bool {
        self.0 & bindings::IOMAP_ZERO != 0
    }

    /// The access is a page fault (`IOMAP_FAULT`).
    pub const fn fault(self) -> bool {
        self.0 & bindings::IOMAP_FAULT != 0
    }

    /// The caller must not block (`IOMAP_NOWAIT`): return `EAGAIN` rather than wait.
    pub const fn nowait(self) -> bool {
        self.0 & bindings::IOMAP_NOWAIT != 0
    }
}

/// What a range of a file is on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentKind {
    /// Not allocated: reads as zeroes.
    Hole,
    /// Stored at this byte offset of the block device, contiguously.
    Mapped(u64),
    /// Stored at this byte offset of the block device, contiguously, in blocks this very
    /// call allocated (and zeroed) for a write (`IOMAP_F_NEW`).
    New(u64),
}

/// A range of a file and where it is: the answer of [`Operations::map`].
///
/// # Examples
///
/// Blocks 3 and 4 of a file with 4 KiB blocks, stored at device block 100:
///
/// ```
/// use kernel::fs::{Extent, ExtentKind};
///
/// let e = Extent { offset: 3 * 4096, length: 2 * 4096, kind: ExtentKind::Mapped(100 * 4096) };
/// assert!(e.offset <= 4 * 4096 && 4 * 4096 < e.offset + e.length);
/// assert_ne!(e.kind, ExtentKind::Hole);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Byte offset in the file of the start of the range.
    pub offset: u64,
    /// Length of the range in bytes.
    pub length: u64,
    /// Where the range is.
    pub kind: ExtentKind,
}

/// The regular-file callbacks of filesystem `T`.
pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    /// Whether files can be written: the filesystem frees blocks.
    const WRITABLE: bool = <T::File as Operations>::HAS_TRUNCATE;

    pub(crate) const FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
        setattr: if Self::WRITABLE { Some(Self::setattr) } else { None },
        fiemap: Some(Self::fiemap),
        listxattr: xattr::Tables::<T>::LISTXATTR,
        get_inode_acl: xattr::Tables::<T>::GET_INODE_ACL,
        set_acl: xattr::Tables::<T>::SET_ACL,
        // SAFETY: All other fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const FILE_FOPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read_iter: Some(Self::read_iter),
        write_iter: if Self::WRITABLE { Some(Self::write_iter) } else { None },
        mmap: Some(Self::mmap),
        open: Some(Self::open),
        release: if Self::WRITABLE { Some(Self::release) } else { None },
        splice_read: Some(bindings::copy_splice_read),
        splice_write: if Self::WRITABLE { Some(bindings::iter_file_splice_write) } else { None },
        fallocate: if Self::WRITABLE { Some(Self::fallocate) } else { None },
        // Mappings of 2 MiB or more start 2 MiB aligned, so that PMD faults can map them.
        get_unmapped_area: Some(bindings::xip_dax_get_unmapped_area),
        // File data is written straight to the device memory; `fsync` cleans the DAX entries
        // of written mappings (`writepages`).
        fsync: Some(Self::fsync),
        // SAFETY: All other fields are optional callbacks, zero meaning "not supported".
        ..unsafe { core::mem::zeroed() }
    };

    /// The address space operations of DAX files (`ext2_dax_aops`' shape): there is no page
    /// cache, only DAX entries, which `writepages` cleans.
    pub(crate) const DAX_AOPS: bindings::address_space_operations =
        bindings::address_space_operations {
            writepages: Some(Self::writepages),
            dirty_folio: Some(bindings::noop_dirty_folio),
            // SAFETY: All other fields are optional callbacks, zero meaning "none".
            ..unsafe { core::mem::zeroed() }
        };

    const IOMAP_OPS: bindings::iomap_ops = bindings::iomap_ops {
        iomap_begin: Some(Self::iomap_begin),
        iomap_end: None,
    };

    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        page_mkwrite: Some(Self::fault),
        pfn_mkwrite: Some(Self::fault),
        access: Some(Self::access),
        huge_fault: Some(Self::huge_fault),
        // SAFETY: All other fields are optional callbacks, zero meaning "none".
        ..unsafe { core::mem::zeroed() }
    };

    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
        // DAX reads go straight to the device memory whatever the flags: O_DIRECT is as good.
        // SAFETY: The VFS passes a file being opened.
        unsafe { (*file).f_mode |= bindings::FMODE_CAN_ODIRECT };
        // SAFETY: As above.
        unsafe { bindings::generic_file_open(inode, file) }
    }

    unsafe extern "C" fn read_iter(
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The VFS passes a valid request on an open regular file of ours.
        unsafe {
            let inode = (*(*iocb).ki_filp).f_inode;
            bindings::inode_lock_shared(inode);
            let ret = bindings::dax_iomap_rw(iocb, to, &Self::IOMAP_OPS);
            bindings::inode_unlock_shared(inode);
            bindings::xip_file_accessed((*iocb).ki_filp);
            ret
        }
    }

    unsafe extern "C" fn mmap(file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> i32 {
        // SAFETY: The VFS passes the file being mapped.
        unsafe { bindings::xip_file_accessed(file) };
        // SAFETY: As above: the file is open, its inode one of ours on a mounted superblock.
        let refcounted =
            unsafe { INode::<T>::from_raw((*file).f_inode) }.super_block().dax().refcounted_pages();
        if refcounted {
            // Devmap pages: `fs/dax.c` maps them as devmap entries, with page references that
            // `get_user_pages` takes, in this VM_MIXEDMAP mapping; a write to a private mapping
            // (a debugger's breakpoint too) copies the page as for any file. VM_HUGEPAGE: 2 MiB
            // faults whatever the system's THP policy, as ext4 and xfs ask for DAX files.
            // SAFETY: The VFS passes a VMA being set up for one of our files, under mmap_lock.
            unsafe {
                (*vma).vm_ops = &Self::VM_OPS;
                bindings::vm_flags_set(vma, (bindings::VM_MIXEDMAP | bindings::VM_HUGEPAGE) as _);
            }
            return 0;
        }
        // The device's memory is ordinary pages, not devmap ones: `vmf_insert_mixed` accepts
        // them only in a VM_MIXEDMAP mapping, and maps them as special PTEs (no page
        // reference, invisible to `get_user_pages`).
        //
        // A private mapping made without write permission (program text, read-only data) also
        // loses VM_MAYWRITE. The kernel copies a special PTE's page on a write fault by reading
        // the faulting address in the *current* process (`__wp_page_copy_user`), which is
        // wrong when the writer is another process: a debugger's PTRACE_POKETEXT (or a write
        // to /proc/PID/mem) would copy the debugger's own memory, or zeroes and a kernel
        // WARNING. Without VM_MAYWRITE such forced writes fail cleanly (EIO), and so does
        // `mprotect(PROT_WRITE)` of the mapping (EACCES); reads work (`access`).
        // SAFETY: The VFS passes a VMA being set up for one of our files, under mmap_lock.
        unsafe {
            (*vma).vm_ops = &Self::VM_OPS;
            bindings::vm_flags_set(vma, bindings::VM_MIXEDMAP as _);
            let flags = (*vma).__bindgen_anon_2.vm_flags;
            if flags & (bindings::VM_SHARED | bindings::VM_WRITE) as bindings::vm_flags_t == 0 {
                bindings::vm_flags_clear(vma, bindings::VM_MAYWRITE as _);
            }
        }
        0
    }

    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The caller's guarantees are passed on.
        unsafe { Self::dax_fault(vmf, 0) }
    }

    /// `huge_fault`: 2 MiB (PMD) faults, which `fs/dax.c` maps with one PMD when `map` gives a
    /// 2 MiB aligned, contiguous run of the device; otherwise (and for other sizes) it falls
    /// back to 4 KiB faults. Only devmap pages can be mapped by PMD (`vmf_insert_pfn_pmd`
    /// insists): on devices with plain pages every huge fault falls back.
    unsafe extern "C" fn huge_fault(vmf: *mut bindings::vm_fault, order: u32) -> bindings::vm_fault_t {
        // SAFETY: The fault handler gets a valid fault on a VMA whose file is ours.
        let inode = unsafe { INode::<T>::from_raw((*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode) };
        if order != bindings::PMD_ORDER || !inode.super_block().dax().refcounted_pages() {
            return bindings::vm_fault_reason_VM_FAULT_FALLBACK as _;
        }
        // SAFETY: The caller's guarantees are passed on.
        unsafe { Self::dax_fault(vmf, order) }
    }

    /// A DAX fault of `order` (0: one page; `PMD_ORDER`: 2 MiB).
    ///
    /// # Safety
    ///
    /// `vmf` is a fault being handled, on a VMA set up by `mmap` for one of our files.
    unsafe fn dax_fault(vmf: *mut bindings::vm_fault, order: u32) -> bindings::vm_fault_t {
        // SAFETY: The fault handler gets a valid fault on a VMA whose file is ours; holding
        // `invalidate_lock` keeps the file's block map stable against size changes, as
        // `fs/dax.c` requires. A write fault on a shared mapping writes the file: it takes
        // freeze protection and updates the file's times first, as `ext2_dax_fault` does.
        unsafe {
            let vma = (*vmf).__bindgen_anon_1.vma;
            let file = (*vma).vm_file;
            let inode = (*file).f_inode;
            let write = (*vmf).flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0
                && (*vma).__bindgen_anon_2.vm_flags & bindings::VM_SHARED as bindings::vm_flags_t
                    != 0;
            if write {
                bindings::sb_start_pagefault((*inode).i_sb);
                bindings::file_update_time(file);
            }
            bindings::filemap_invalidate_lock_shared((*inode).i_mapping);
            let ret = bindings::dax_iomap_fault(
                vmf,
                order,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                &Self::IOMAP_OPS,
            );
            // A read fault handled with one page: map the pages around it too, from the
            // same extents (fault-around, which the page cache does with `map_pages`; a
            // DAX file has no page cache, so `fs/dax.c` does it, entries and all).
            let failed =
                bindings::VM_FAULT_ERROR | bindings::vm_fault_reason_VM_FAULT_RETRY as bindings::vm_fault_t;
            let handled = ret & failed == 0;
            if order == 0 && handled && (*vmf).flags & bindings::fault_flag_FAULT_FLAG_WRITE == 0 {
                bindings::dax_iomap_fault_around(vmf, FAULT_AROUND_PAGES, &Self::IOMAP_OPS);
            }
            bindings::filemap_invalidate_unlock_shared((*inode).i_mapping);
            if write {
                bindings::sb_end_pagefault((*inode).i_sb);
            }
            ret
        }
    }

    /// `write_iter`, as `ext2_dax_write_iter`: under the inode lock, the generic checks
    /// (limits, `O_APPEND`), privileges dropped (set-user-id) and times updated, then
    /// `dax_iomap_rw` copies into the blocks `map` allocates; the size grows to what was
    /// written. A write that starts past the end first zeroes the tail of the old last block
    /// (a shared mapping may have stored there). Blocks allocated past what a failed or short
    /// write reached are freed.
    unsafe extern "C" fn write_iter(
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The VFS passes a valid request on an open regular file of ours.
        let (file, raw) = unsafe { ((*iocb).ki_filp, (*(*iocb).ki_filp).f_inode) };
        // SAFETY: As above: the open file holds the inode, which is filled.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        // SAFETY: As above.
        let nowait = unsafe { bindings::xip_iocb_nowait(iocb) };
        // SAFETY: The inode is valid.
        unsafe {
            if nowait {
                if bindings::inode_trylock(raw) == 0 {
                    return EAGAIN.to_errno() as isize;
                }
            } else {
                bindings::inode_lock(raw);
            }
        }
        // SAFETY: The inode lock is held, as these require.
        let mut ret = unsafe { bindings::generic_write_checks(iocb, from) };
        if ret > 0 {
            // SAFETY: As above.
            let r = unsafe { bindings::file_modified(file) };
            if r != 0 {
                ret = r as isize;
            }
        }
        if ret > 0 {
            // SAFETY: As above.
            let pos = unsafe { (*iocb).ki_pos } as u64;
            // SAFETY: `from` is the request's valid iterator.
            let want = unsafe { bindings::xip_iov_iter_count(from) } as isize;
            let old = inode.size();
            ret = match Self::zero_tail(inode, old, pos) {
                // SAFETY: As above; `IOMAP_OPS` drives `map`.
                Ok(()) => unsafe { bindings::dax_iomap_rw(iocb, from, &Self::IOMAP_OPS) },
                Err(e) => e.to_errno() as isize,
            };
            // SAFETY: As above.
            let end = unsafe { (*iocb).ki_pos } as u64;
            if ret > 0 && end > inode.size() {
                inode.set_size(end);
                inode.mark_dirty();
            }
            // What `map` allocated past the end (a write that failed part way) goes again.
            if ret != want {
                let _ = Self::trim(inode);
            }
        }
        // SAFETY: Locked above.
        unsafe { bindings::inode_unlock(raw) };
        if ret > 0 {
            // SAFETY: As above; `O_SYNC`/`O_DSYNC` writes call our `fsync`.
            ret = unsafe { bindings::generic_write_sync(iocb, ret) };
        }
        ret
    }

    /// Zeroes the tail of the block holding byte `old` (the size) when the file is about to
    /// grow to `new`: bytes there past the end may hold what a shared mapping stored past
    /// the end, which the file must not show once it grows over them.
    fn zero_tail(inode: &INode<T>, old: u64, new: u64) -> Result {
        let bs = T::BLOCK_SIZE as u64;
        if new <= old || old % bs == 0 {
            return Ok(());
        }
        Self::zero_range(inode, old, old + (bs - old % bs).min(new - old))
    }

    /// Frees blocks past the end of the file (`truncate` at the size), with the locks it
    /// needs; the caller holds the inode lock.
    fn trim(inode: &INode<T>) -> Result {
        if !Self::WRITABLE {
            return Ok(());
        }
        // SAFETY: The inode is valid; its mapping is `i_mapping`.
        let mapping = unsafe { (*inode.as_raw()).i_mapping };
        // SAFETY: As above.
        unsafe { bindings::filemap_invalidate_lock(mapping) };
        // Blocks wholly past the end are mapped nowhere (a fault there is refused) and so
        // cannot be pinned: no pins to wait for (a size change waited for them).
        let res = <T::File as Operations>::truncate(inode, inode.size());
        // SAFETY: Locked above.
        unsafe { bindings::filemap_invalidate_unlock(mapping) };
        res
    }

    /// `release`: the last close of an open file. Blocks that `fallocate` kept past the end
    /// (`FALLOC_FL_KEEP_SIZE`) are freed when a writer closes, as ext2 drops its
    /// preallocation: the ext2 format cannot record blocks past the size (`e2fsck` would
    /// call the size wrong).
    unsafe extern "C" fn release(inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
        // SAFETY: The VFS passes the file being released and its inode (ours, filled).
        unsafe {
            if bindings::xip_file_writable(file) {
                bindings::inode_lock(inode);
                let _ = Self::trim(INode::<T>::from_raw(inode));
                bindings::inode_unlock(inode);
            }
        }
        0
    }

    /// `fallocate`: modes 0 (allocate, and grow the size), `FALLOC_FL_KEEP_SIZE` (allocate
    /// only) and, if the filesystem implements [`Operations::punch_hole`],
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`; other modes are not supported
    /// (`EOPNOTSUPP`).
    unsafe extern "C" fn fallocate(
        file: *mut bindings::file,
        mode: i32,
        offset: bindings::loff_t,
        len: bindings::loff_t,
    ) -> isize {
        // `FALLOC_FL_KEEP_SIZE` and `FALLOC_FL_PUNCH_HOLE` of `include/uapi/linux/falloc.h`.
        let keep = 0x01;
        let punch = 0x02;
        if mode == punch | keep && <T::File as Operations>::HAS_PUNCH_HOLE {
            // SAFETY: The VFS passes an open regular file of ours, opened for writing, and has
            // checked the range.
            let res = unsafe { Self::punch(file, offset as u64, len as u64) };
            return match res {
                Ok(()) => 0,
                Err(e) => e.to_errno() as _,
            };
        }
        if mode & !keep != 0 {
            return EOPNOTSUPP.to_errno() as _;
        }
        // SAFETY: The VFS passes an open regular file of ours, opened for writing, and has
        // checked that `offset >= 0`, `len > 0` and `offset + len` does not overflow.
        let raw = unsafe { (*file).f_inode };
        // SAFETY: As above.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        let end = (offset + len) as u64;
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock(raw) };
        let res = (|| -> Result {
            if mode & keep == 0 {
                // SAFETY: The inode lock is held.
                crate::error::to_result(unsafe { bindings::inode_newsize_ok(raw, end as _) })?;
            }
            // SAFETY: As above.
            crate::error::to_result(unsafe { bindings::file_modified(file) })?;
            let mut pos = offset as u64;
            while pos < end {
                let ext = <T::File as Operations>::map(inode, pos, end - pos, IomapFlags::WRITE)?;
                let ext_end = ext.offset.checked_add(ext.length).ok_or(EIO)?;
                if ext.length == 0 || ext.offset > pos || ext_end <= pos {
                    return Err(EIO);
                }
                if matches!(ext.kind, ExtentKind::Hole) {
                    return Err(EIO);
                }
                pos = ext_end;
                crate::xip_util::cond_resched();
                if crate::xip_util::fatal_signal_pending() {
                    return Err(EINTR);
                }
            }
            if mode & keep == 0 && end > inode.size() {
                Self::zero_tail(inode, inode.size(), end)?;
                inode.set_size(end);
            }
            inode.touch_ctime();
            Ok(())
        })();
        if res.is_err() {
            // Blocks allocated past the end before the failure go again.
            let _ = Self::trim(inode);
        }
        // SAFETY: Locked above.
        unsafe { bindings::inode_unlock(raw) };
        inode.mark_dirty();
        match res {
            Ok(()) => 0,
            Err(e) => e.to_errno() as _,
        }
    }

    /// Punches a hole of `len` bytes at `offset` (`FALLOC_FL_PUNCH_HOLE`), as ext4 does: the
    /// range is unmapped and its pins waited for, the parts of blocks at its ends are zeroed,
    /// and the filesystem frees the blocks wholly inside it. The size does not change; a hole
    /// past the end of the file changes nothing.
    ///
    /// # Safety
    ///
    /// `file` is an open regular file of ours, opened for writing; `offset + len` does not
    /// overflow a `loff_t`.
    unsafe fn punch(file: *mut bindings::file, offset: u64, len: u64) -> Result {
        // SAFETY: By the safety requirements.
        let raw = unsafe { (*file).f_inode };
        // SAFETY: As above.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        // SAFETY: As above.
        let mapping = unsafe { (*raw).i_mapping };
        let bs = T::BLOCK_SIZE as u64;
        // SAFETY: The inode is valid.
        unsafe { bindings::inode_lock(raw) };
        let res = (|| -> Result {
            let size = inode.size();
            let end = (offset + len).min(size);
            if offset >= end {
                // Nothing to punch: the file, its times included, stays as it is (as ext4).
                return Ok(());
            }
            // SAFETY: The inode lock is held.
            crate::error::to_result(unsafe { bindings::file_modified(file) })?;
            // SAFETY: As above.
            unsafe { bindings::inode_dio_wait(raw) };
            // SAFETY: As above.
            unsafe { bindings::filemap_invalidate_lock(mapping) };
            let res = (|| -> Result {
                Self::break_layouts(inode, offset / PAGE * PAGE, end - 1)?;
                // Whole blocks: from the first block boundary at or after `offset` to the last
                // one at or before `end`, or to the end of the last block if the hole reaches
                // the end of the file.
                let first = offset.next_multiple_of(bs);
                let last = if end == size { size.next_multiple_of(bs) } else { end / bs * bs };
                if first >= last {
                    return Self::zero_range(inode, offset, end);
                }
                Self::zero_range(inode, offset, first)?;
                Self::zero_range(inode, last, end)?;
                // SAFETY: The inode and invalidate locks are held; the range is page aligned.
                unsafe { bindings::truncate_pagecache_range(raw, first as _, (last - 1) as _) };
                <T::File as Operations>::punch_hole(inode, first, last)
            })();
            // SAFETY: Locked above.
            unsafe { bindings::filemap_invalidate_unlock(mapping) };
            res?;
            inode.touch_mtime_ctime();
            Ok(())
        })();
        // SAFETY: Locked above.
        unsafe { bindings::inode_unlock(raw) };
        inode.mark_dirty();
        res
    }

    /// Zeroes the bytes `[start, end)` of the file where it has blocks (holes stay holes).
    fn zero_range(inode: &INode<T>, start: u64, end: u64) -> Result {
        if start >= end {
            return Ok(());
        }
        let mut did_zero = false;
        // SAFETY: The inode is a regular file of ours, locked by the caller; `IOMAP_OPS` drives
        // `map` with `IOMAP_ZERO` (no allocation).
        crate::error::to_result(unsafe {
            bindings::dax_zero_range(
                inode.as_raw(),
                start as _,
                (end - start) as _,
                &mut did_zero,
                &Self::IOMAP_OPS,
            )
        })
    }

    /// `setattr` of regular files: the VFS's checks and attribute copy, and size changes
    /// (as `ext2_setsize`): the tail of the new last block is zeroed, the pages past the new
    /// size are unmapped, then the filesystem frees the blocks past it.
    unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *mut bindings::iattr,
    ) -> i32 {
        // SAFETY: The VFS passes a dentry of one of our regular files and the change, with the
        // inode lock held.
        let raw = unsafe { (*dentry).d_inode };
        // SAFETY: As above.
        let inode = unsafe { INode::<T>::from_raw(raw) };
        // SAFETY: As above.
        let ret = unsafe { bindings::setattr_prepare(idmap, dentry, attr) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: As above.
        let (valid, size) = unsafe { ((*attr).ia_valid, (*attr).ia_size as u64) };
        if valid & bindings::ATTR_SIZE != 0 && size != inode.size() {
            if let Err(e) = Self::set_size(inode, size) {
                return e.to_errno();
            }
        }
        // SAFETY: As above; `setattr_copy` leaves the size alone.
        unsafe { bindings::setattr_copy(idmap, raw, attr) };
        inode.mark_dirty();
        // SAFETY: As above.
        unsafe { xattr::Tables::<T>::chmod_acl(idmap, dentry, attr) }
    }

    /// Changes the size of `inode` to `size`, as `ext2_setsize` does; the inode lock is held.
    fn set_size(inode: &INode<T>, size: u64) -> Result {
        let raw = inode.as_raw();
        let old = inode.size();
        // SAFETY: The inode is valid and locked.
        unsafe { bindings::inode_dio_wait(raw) };
        // SAFETY: As above.
        let mapping = unsafe { (*raw).i_mapping };
        // SAFETY: As above.
        unsafe { bindings::filemap_invalidate_lock(mapping) };
        let res = (|| -> Result {
            if size < old {
                // No page past the new size may be pinned when its block is freed.
                Self::break_layouts(inode, size.next_multiple_of(PAGE), u64::MAX)?;
                // The tail of the new last block reads as zeroes from now on (and after a
                // later extension).
                let mut did_zero = false;
                // SAFETY: As above; `IOMAP_OPS` drives `map` with `IOMAP_ZERO`.
                crate::error::to_result(unsafe {
                    bindings::dax_truncate_page(raw, size as _, &mut did_zero, &Self::IOMAP_OPS)
                })?;
            } else {
                Self::zero_tail(inode, old, size)?;
            }
            // SAFETY: As above; the invalidate lock is held.
            unsafe { bindings::truncate_setsize(raw, size as _) };
            inode.touch_mtime_ctime();
            if size < old {
                <T::File as Operations>::truncate(inode, size)
            } else {
                Ok(())
            }
        })();
        // SAFETY: Locked above.
        unsafe { bindings::filemap_invalidate_unlock(mapping) };
        res
    }

    /// Unmaps the pages of `inode` holding bytes `[start, end]` (`end` included) and makes
    /// sure none of them is pinned by `get_user_pages()` (see the [module documentation](self)):
    /// waits for the pins to go, with the invalidate lock dropped meanwhile (`ERESTARTSYS` on
    /// a signal). The caller holds the inode lock and the invalidate lock exclusively.
    fn break_layouts(inode: &INode<T>, start: u64, end: u64) -> Result {
        if start > end || start > i64::MAX as u64 {
            return Ok(());
        }
        let end = end.min(i64::MAX as u64);
        // SAFETY: The inode is a regular file of ours; the caller holds its invalidate lock
        // exclusively (lockdep checks it in the helper).
        crate::error::to_result(unsafe {
            bindings::xip_dax_break_layouts(inode.as_raw(), start as _, end as _, true)
        })
    }

    /// `fsync`: the data and metadata are in the device memory already; what is left is to
    /// clean the DAX entries that shared mappings dirtied (`writepages`), so that later
    /// stores fault again and update the file's times.
    unsafe extern "C" fn fsync(
        file: *mut bindings::file,
        start: bindings::loff_t,
        end: bindings::loff_t,
        _datasync: i32,
    ) -> i32 {
        // SAFETY: The VFS passes an open file of ours.
        unsafe { bindings::file_write_and_wait_range(file, start, end) }
    }

    /// `writepages`: cleans the dirty DAX entries of the range (`dax_writeback_mapping_range`
    /// write-protects their mappings and flushes the CPU caches for the device).
    unsafe extern "C" fn writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
    ) -> i32 {
        // SAFETY: The VFS passes the mapping of one of our regular files, whose superblock is
        // mounted (writeback holds `s_umount` or an inode reference).
        unsafe {
            let inode = INode::<T>::from_raw((*mapping).host);
            let dax = inode.super_block().dax().as_raw();
            bindings::dax_writeback_mapping_range(mapping, dax, wbc)
        }
    }

    /// `vm_operations_struct.access`: reads of a mapping by another process or through
    /// `/proc/PID/mem` (`ptrace(PTRACE_PEEKTEXT)`, `process_vm_readv`, gdb).
    ///
    /// `access_remote_vm` calls it when `get_user_pages` cannot take the page, which is the
    /// case for every page of the device memory mapped here (they are special PTEs, not
    /// refcounted pages; pages of a private mapping that were copied on write are ordinary
    /// pages and never come here). It reads the file bytes behind `addr`, up to the end of
    /// its page, straight from the device. Writes are refused (`EIO`): with no `struct page`
    /// to pin there is nothing to write through.
    unsafe extern "C" fn access(
        vma: *mut bindings::vm_area_struct,
        addr: usize,
        buf: *mut core::ffi::c_void,
        len: core::ffi::c_int,
        write: core::ffi::c_int,
    ) -> core::ffi::c_int {
        if write != 0 {
            return EIO.to_errno();
        }
        let Ok(len) = usize::try_from(len) else {
            return EINVAL.to_errno();
        };
        // SAFETY: The caller holds the mmap lock and passes a VMA of one of our regular files
        // (set up by `mmap`), which keeps the file and its inode alive.
        let (inode, start, end, pgoff) = unsafe {
            let file = (*vma).vm_file;
            (
                INode::<T>::from_raw((*file).f_inode),
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
                (*vma).vm_pgoff,
            )
        };
        let page = bindings::PAGE_SIZE as u64;
        if addr < start || addr >= end {
            return EFAULT.to_errno();
        }
        // Up to the end of the page: the next page may be a private copy, which
        // `access_remote_vm` reads itself.
        let in_page = addr as u64 % page;
        let n = (len as u64).min(page - in_page) as usize;
        let pos = (addr - start) as u64 + pgoff as u64 * page;
        // SAFETY: `access_remote_vm` passes its own kernel buffer of at least `len` bytes,
        // which nothing else uses during the call.
        let dst = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), n) };
        // SAFETY: As above; the shared invalidate lock keeps the block map stable, in the same
        // lock order as a fault (mmap lock, then invalidate lock).
        let res = unsafe {
            let mapping = (*inode.as_raw()).i_mapping;
            bindings::filemap_invalidate_lock_shared(mapping);
            let res = Self::read_mapped(inode, pos, dst);
            bindings::filemap_invalidate_unlock_shared(mapping);
            res
        };
        match res {
            Ok(done) => done as core::ffi::c_int,
            Err(e) => e.to_errno(),
        }
    }

    /// Copies file bytes from `pos` on into `dst` as a mapping of the file shows them: the
    /// data, zeroes in holes and past the end of the file up to the end of its last page.
    /// Returns how many bytes were copied: fewer than asked only past that page (0 there).
    fn read_mapped(inode: &INode<T>, pos: u64, dst: &mut [u8]) -> Result<usize> {
        let page = bindings::PAGE_SIZE as u64;
        let limit = inode.size().div_ceil(page) * page;
        let want = (dst.len() as u64).min(limit.saturating_sub(pos)) as usize;
        let size = inode.size();
        let dax = inode.super_block().dax();
        let mut done = 0usize;
        while done < want {
            let at = pos + done as u64;
            let left = (want - done) as u64;
            if at >= size {
                // The tail of the last page, past the end of the file.
                dst[done..want].fill(0);
                break;
            }
            let ext = <T::File as Operations>::map(inode, at, left.min(size - at), IomapFlags::READ)?;
            let ext_end = ext.offset.checked_add(ext.length).ok_or(EIO)?;
            if ext.length == 0 || ext.offset > at || ext_end <= at {
                return Err(EIO);
            }
            let n = (ext_end - at).min(left).min(size - at) as usize;
            match ext.kind {
                ExtentKind::Hole => dst[done..done + n].fill(0),
                ExtentKind::Mapped(addr) | ExtentKind::New(addr) => {
                    let from = addr.checked_add(at - ext.offset).ok_or(EIO)?;
                    dax.read(from, &mut dst[done..done + n])?
                }
            }
            done += n;
        }
        Ok(want)
    }

    /// `FS_IOC_FIEMAP` (`filefrag`): the file's extents, as `map` gives them for a read,
    /// reported by iomap's walk. Like a read it takes no VFS lock: `map` reads a consistent
    /// copy of the block map, and a map that changes meanwhile gives a report that was true
    /// at some point of the walk, as any `FIEMAP` of a file being written.
    unsafe extern "C" fn fiemap(
        inode: *mut bindings::inode,
        info: *mut bindings::fiemap_extent_info,
        start: u64,
        len: u64,
    ) -> i32 {
        // SAFETY: The VFS calls this with a valid regular-file inode of ours.
        let size = unsafe { INode::<T>::from_raw(inode) }.size();
        // As `ext2_fiemap`: no further than the size (at least 1, iomap refuses a length of
        // 0), or a request to the end of all files walks the holes past the end run by run up
        // to `s_maxbytes`.
        let len = len.min(size.max(1));
        // SAFETY: As above, with the `fiemap_extent_info` of the call; `IOMAP_OPS` are this
        // filesystem's.
        unsafe { bindings::iomap_fiemap(inode, info, start, len, &Self::IOMAP_OPS) }
    }

    unsafe extern "C" fn iomap_begin(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        flags: u32,
        iomap: *mut bindings::iomap,
        _srcmap: *mut bindings::iomap,
    ) -> i32 {
        // SAFETY: iomap calls this for a regular file of ours (filled), with a valid `iomap`
        // that belongs to the caller's `iomap_iter` and that nothing else uses during the call.
        let (node, iomap) = unsafe { (INode::<T>::from_raw(inode), &mut *iomap) };
        let res: Result<()> = (|| {
            let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
            let length = u64::try_from(length).map_err(|_| EINVAL)?;
            let ext = <T::File as Operations>::map(node, pos, length, IomapFlags::from_raw(flags))?;
            // The extent must contain `pos`, or iomap would loop or go backwards.
            if ext.length == 0
                || ext.offset > pos
                || ext.offset.checked_add(ext.length).map_or(true, |end| end <= pos)
            {
                return Err(EIO);
            }
            let sb: &SuperBlock<T> = node.super_block();
            iomap.offset = ext.offset as _;
            iomap.length = ext.length;
            iomap.flags = 0;
            iomap.dax_dev = sb.dax().as_raw();
            // SAFETY: The superblock is mounted.
            iomap.bdev = unsafe { (*sb.as_raw()).s_bdev };
            match ext.kind {
                ExtentKind::Hole => {
                    iomap.type_ = bindings::IOMAP_HOLE as _;
                    iomap.addr = u64::MAX; // IOMAP_NULL_ADDR
                }
                ExtentKind::Mapped(addr) | ExtentKind::New(addr) => {
                    if matches!(ext.kind, ExtentKind::New(_)) {
                        iomap.flags |= bindings::IOMAP_F_NEW as u16;
                    }
                    // `fs/dax.c` maps whatever it is told: nothing outside the filesystem's
                    // block device (a partition is a window on the DAX device).
                    if !sb.dax().contains(addr, ext.length) {
                        return Err(EIO);
                    }
                    iomap.type_ = bindings::IOMAP_MAPPED as _;
                    // A report (`FIEMAP`) gives addresses on the filesystem's block device;
                    // `fs/dax.c` wants them on the DAX device, which a partition starts into.
                    iomap.addr = if flags & bindings::IOMAP_REPORT != 0 {
                        addr
                    } else {
                        addr.checked_add(sb.dax().part_off()).ok_or(EIO)?
                    };
                }
            }
            Ok(())
        })();
        match res {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}
