// SPDX-License-Identifier: GPL-2.0

//! Regular files through DAX: `read_iter`, `mmap`, faults and `access`, driven by the
//! filesystem's block mapping ([`Operations::map`], its `iomap_begin`).

use super::{FileSystem, INode, SuperBlock};
use crate::{bindings, error::code::*, error::Result};
use core::marker::PhantomData;
use macros::vtable;

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
    fn map(
        inode: &INode<Self::FileSystem>,
        pos: u64,
        len: u64,
        flags: IomapFlags,
    ) -> Result<Extent>;
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
    pub(crate) const FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
        // SAFETY: All fields are optional callbacks, zero meaning the VFS default.
        ..unsafe { core::mem::zeroed() }
    };

    pub(crate) const FILE_FOPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read_iter: Some(Self::read_iter),
        mmap: Some(Self::mmap),
        open: Some(Self::open),
        splice_read: Some(bindings::copy_splice_read),
        // Nothing to write back: the filesystem is read-only and file data lives in the
        // device memory (the write path brings its own).
        fsync: Some(bindings::noop_fsync),
        // SAFETY: All other fields are optional callbacks, zero meaning "not supported".
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
        // SAFETY: All other fields are optional callbacks, zero meaning "none". No
        // `huge_fault`: `fs/dax.c` needs devmap pages for PMD mappings.
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
            ret
        }
    }

    unsafe extern "C" fn mmap(_file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> i32 {
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
        // SAFETY: The fault handler gets a valid fault on a VMA whose file is ours; holding
        // `invalidate_lock` keeps the file's block map stable, as `fs/dax.c` requires.
        unsafe {
            let inode = (*(*(*vmf).__bindgen_anon_1.vma).vm_file).f_inode;
            bindings::filemap_invalidate_lock_shared((*inode).i_mapping);
            let ret = bindings::dax_iomap_fault(
                vmf,
                0,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                &Self::IOMAP_OPS,
            );
            bindings::filemap_invalidate_unlock_shared((*inode).i_mapping);
            ret
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
                ExtentKind::Mapped(addr) => {
                    let from = addr.checked_add(at - ext.offset).ok_or(EIO)?;
                    dax.read(from, &mut dst[done..done + n])?
                }
            }
            done += n;
        }
        Ok(want)
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
                ExtentKind::Mapped(addr) => {
                    // `fs/dax.c` maps whatever it is told: nothing outside the filesystem's
                    // block device (a partition is a window on the DAX device).
                    if !sb.dax().contains(addr, ext.length) {
                        return Err(EIO);
                    }
                    iomap.type_ = bindings::IOMAP_MAPPED as _;
                    iomap.addr = addr.checked_add(sb.dax().part_off()).ok_or(EIO)?;
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
