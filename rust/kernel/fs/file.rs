// SPDX-License-Identifier: GPL-2.0

//! Regular files through DAX: `read_iter`, `mmap` and faults, driven by an iomap.

use super::{FileSystem, INode, SuperBlock};
use crate::{bindings, error::code::*, error::Result};
use core::marker::PhantomData;

/// What a range of a file is on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentKind {
    /// Not allocated: reads as zeroes.
    Hole,
    /// Stored at this byte offset of the block device, contiguously.
    Mapped(u64),
}

/// A range of a file and where it is: the answer of [`FileSystem::map`].
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
        // them only in a VM_MIXEDMAP mapping (they are mapped as special PTEs).
        // SAFETY: The VFS passes a VMA being set up for one of our files, under mmap_lock.
        unsafe {
            (*vma).vm_ops = &Self::VM_OPS;
            bindings::vm_flags_set(vma, bindings::VM_MIXEDMAP as _);
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

    unsafe extern "C" fn iomap_begin(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        flags: u32,
        iomap: *mut bindings::iomap,
        _srcmap: *mut bindings::iomap,
    ) -> i32 {
        // SAFETY: iomap calls this for a regular file of ours (filled), with a valid `iomap`.
        let (node, iomap) = unsafe { (INode::<T>::from_raw(inode), &mut *iomap) };
        let res: Result<()> = (|| {
            let pos = u64::try_from(pos).map_err(|_| EINVAL)?;
            let length = u64::try_from(length).map_err(|_| EINVAL)?;
            let ext = T::map(node, pos, length, flags & bindings::IOMAP_WRITE != 0)?;
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
