// SPDX-License-Identifier: GPL-2.0

//! Bio-based block devices.
//!
//! C headers: [`include/linux/bio.h`](srctree/include/linux/bio.h),
//! [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)
//!
//! A bio-based driver receives each `struct bio` in its `submit_bio` callback and completes it
//! there, with no request queue in between: the model of `brd`, `pmem`, `zram` and other
//! drivers whose "hardware" is memory. A driver implements [`Operations`] and creates its disk
//! with [`DiskBuilder`]; the abstraction ends every bio exactly once with the status the
//! driver returns.
//!
//! Unlike the 6.12 `mq::GenDisk`, the disk's `block_device_operations` name the owning module,
//! so that the module cannot be unloaded while its disk is open or mounted, and the driver data
//! lives until the gendisk's final release (see [`Disk`]).
//!
//! The data pages of a bio belong to whoever submitted it, who may be touching them while the
//! bio is in flight (another thread doing `O_DIRECT` to the same buffer, two read bios to one
//! page cache page). So the driver never gets a Rust slice over them: a [`Segment`] copies to
//! and from them, as `memcpy` would in C (one `memmove` per call: the page may even be one of
//! the device's own pages, mapped to user space through DAX).
//!
//! # Lifetimes
//!
//! A gendisk can outlive the driver's handle on it: whoever opened the block device (a mounted
//! filesystem, a process, `udev` probing it) holds a reference to it after the driver deleted
//! it, and the block layer may still call the disk's operations table and read its private
//! data until then. So:
//!
//! - the operations table is a static, [`DiskVTable`], one per driver and `(T, D)`, whose
//!   `owner` is the driver's module, so that the module stays loaded while the disk is open;
//! - the driver data and the DAX device (with its data: the memory that `fs/dax.c` maps) are
//!   owned by the gendisk and released from `block_device_operations.free_disk`, when the
//!   gendisk's last reference goes: never while a filesystem on the disk is mounted, and so
//!   never while its files are mapped;
//! - dropping a [`Disk`] deletes it and then waits for that final release, so that no code of
//!   the driver's module (the drop of its data) can run after the module is gone. The disk's
//!   deletion closes it to new users and drains I/O at once; the wait is for whoever still
//!   holds a reference: a lookup in progress ([`BlockDeviceRef`], `/proc/partitions`), or an
//!   opener, which is only possible for a disk dropped while its module is still loading
//!   (module references keep a module's disks from being dropped while open).

mod disk;

pub use disk::{BlockDeviceRef, Disk, DiskBuilder, DiskVTable, NewDisk, Operations};

use crate::{
    bindings,
    contig_pages::DirectMemory,
    error::{code::*, Result},
};
use core::ptr::{addr_of, NonNull};

/// Size of a sector in bytes: the unit of bio positions and disk capacities.
pub const SECTOR_SIZE: usize = 512;

/// What a bio asks the driver to do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// Read data into the bio's pages.
    Read,
    /// Write the bio's pages.
    Write,
    /// Make written data durable (an empty flush).
    Flush,
    /// The range's data is no longer needed.
    Discard,
    /// Set the range to zeroes.
    WriteZeroes,
    /// Any other operation (zoned, secure erase, driver specific).
    Other(u32),
}

/// A bio handed to a driver's [`Operations::submit_bio`].
///
/// # Invariants
///
/// `ptr` points to a valid `struct bio` that the block layer handed to `submit_bio` and that
/// has not been ended yet; it stays valid for `'a`. Its fields are only read, through the raw
/// pointer: the bio has atomics (`__bi_remaining`, `__bi_cnt`) that others may change, so no
/// Rust reference to it is ever made.
pub struct Bio<'a> {
    ptr: *mut bindings::bio,
    dax_held: bool,
    _p: core::marker::PhantomData<&'a bindings::bio>,
}

impl<'a> Bio<'a> {
    /// # Safety
    ///
    /// `ptr` must be a bio passed to `submit_bio`, not yet ended, valid for `'a`. `dax_held`:
    /// whether a filesystem held the disk's DAX device when the bio arrived.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::bio, dax_held: bool) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            ptr,
            dax_held,
            _p: core::marker::PhantomData,
        }
    }

    fn opf(&self) -> u32 {
        // SAFETY: The bio is valid by the type invariant; `bi_opf` does not change while the
        // driver holds the bio.
        unsafe { (*self.ptr).bi_opf }
    }

    fn iter(&self) -> bindings::bvec_iter {
        // SAFETY: The bio is valid by the type invariant; its iterator does not change while
        // the driver holds the bio. The field is copied without making a reference to it.
        unsafe { addr_of!((*self.ptr).bi_iter).read() }
    }

    /// The operation.
    pub fn op(&self) -> Op {
        match self.opf() & bindings::REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            other => Op::Other(other),
        }
    }

    /// Whether, when the bio arrived, a filesystem held the disk's DAX device as its holder
    /// ([`crate::dax::Device::has_holder`]): such a filesystem reaches the memory through DAX,
    /// so this bio comes from someone else (a user of the block device, or a second
    /// filesystem's own I/O if it does both). Always false for a disk without DAX.
    pub fn dax_held(&self) -> bool {
        self.dax_held
    }

    /// The name of the disk the bio is for, as in `/dev`.
    pub fn disk_name(&self) -> &crate::str::CStr {
        // SAFETY: The bio is valid by the type invariant, so is its block device, whose
        // gendisk lives (with its NUL-terminated name) while I/O to it is in flight.
        unsafe {
            crate::str::CStr::from_char_ptr(
                addr_of!((*(*(*self.ptr).bi_bdev).bd_disk).disk_name).cast(),
            )
        }
    }

    /// The first sector the bio addresses.
    pub fn sector(&self) -> u64 {
        self.iter().bi_sector
    }

    /// The number of bytes the bio addresses.
    pub fn len(&self) -> usize {
        self.iter().bi_size as usize
    }

    /// Whether the bio addresses no bytes (an empty flush).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Byte offset on the disk of the first byte the bio addresses.
    pub fn offset(&self) -> u64 {
        self.sector() * SECTOR_SIZE as u64
    }

    /// Calls `f` for each data segment, in order, with the segment and its offset from the
    /// start of the bio. The iteration stops at the first error, which is returned.
    ///
    /// For a [`Op::Write`] the driver copies the segment's bytes out; for [`Op::Read`] it
    /// copies the data into the segment. A segment never spans more than one page.
    pub fn for_each_segment(&self, mut f: impl FnMut(&mut Segment<'_>, usize) -> Result) -> Result {
        let fill = self.op() == Op::Read;
        let mut iter = self.iter();
        let mut done = 0usize;
        while iter.bi_size != 0 {
            // SAFETY: The bio is valid by the type invariant and `iter` is a copy of its
            // iterator that has not run past its end (`bi_size != 0`).
            let bv = unsafe { bindings::bio_iter_iovec(self.ptr, iter) };
            let len = bv.bv_len as usize;
            // SAFETY: `kmap_local_page` maps the segment's page until the matching
            // `kunmap_local` below.
            let base = unsafe { bindings::kmap_local_page(bv.bv_page) };
            // SAFETY: A single-page segment from `bio_iter_iovec` lies inside `bv_page`:
            // `bv_offset + bv_len <= PAGE_SIZE`.
            let ptr = unsafe { base.cast::<u8>().add(bv.bv_offset as usize) };
            let res = match NonNull::new(ptr) {
                // INVARIANT: `ptr` is valid for `len` bytes until `kunmap_local` below, and the
                // segment is borrowed by `f` only until then.
                Some(ptr) => f(
                    &mut Segment {
                        ptr,
                        len,
                        fill,
                        _p: core::marker::PhantomData,
                    },
                    done,
                ),
                None => Err(EIO),
            };
            // SAFETY: `base` came from `kmap_local_page` above, in this same scope.
            unsafe { bindings::kunmap_local(base) };
            res?;
            done += len;
            // SAFETY: The bio is valid and `len` is the length of the current segment.
            unsafe { bindings::bio_advance_iter_single(self.ptr, &mut iter, bv.bv_len) };
        }
        Ok(())
    }
}

/// One segment of a bio's data: bytes in one page that belongs to the bio's submitter.
///
/// The bytes are only ever copied, through raw pointers (one `memmove` per call), never exposed
/// as a slice: others may read or write the page concurrently, and it may even be a page of the
/// device itself (`O_DIRECT` to a DAX mapping of a file on it).
///
/// # Invariants
///
/// `ptr` is valid for reads and writes of `len` bytes for `'a` (the page is mapped). `fill` is
/// true if the bio is a read, whose data the driver provides.
pub struct Segment<'a> {
    ptr: NonNull<u8>,
    len: usize,
    fill: bool,
    _p: core::marker::PhantomData<&'a ()>,
}

impl Segment<'_> {
    /// Number of bytes in the segment.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segment has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A pointer to `[at, at + len)` of the segment, or `ERANGE` if that is not inside it.
    fn part(&self, at: usize, len: usize) -> Result<*mut u8> {
        match at.checked_add(len) {
            // SAFETY: `at <= self.len`, so the result is inside the segment or at its end.
            Some(end) if end <= self.len => Ok(unsafe { self.ptr.as_ptr().add(at) }),
            _ => Err(ERANGE),
        }
    }

    /// A pointer to `[at, at + len)` of the segment for the driver to write, or `EINVAL` if the
    /// bio is not a read (its pages hold the submitter's data).
    fn part_mut(&mut self, at: usize, len: usize) -> Result<*mut u8> {
        if !self.fill {
            return Err(EINVAL);
        }
        self.part(at, len)
    }

    /// Copies `len` bytes of the segment from byte `at` into `pages` at byte `offset` (the
    /// data of a write bio to the device).
    ///
    /// Fails with `ERANGE`, copying nothing, if either range is out of bounds.
    pub fn copy_to_pages(
        &self,
        at: usize,
        pages: &(impl DirectMemory + ?Sized),
        offset: usize,
        len: usize,
    ) -> Result {
        let src = self.part(at, len)?;
        // SAFETY: `src` is valid for reads of `len` bytes (type invariant, checked above).
        unsafe { pages.whole().write_raw(offset, src, len) }
    }

    /// Copies `len` bytes of `pages` from byte `offset` into the segment at byte `at` (the data
    /// of a read bio, from the device).
    ///
    /// Fails with `ERANGE`, copying nothing, if either range is out of bounds, and with `EINVAL`
    /// if the bio is not a read.
    pub fn copy_from_pages(
        &mut self,
        at: usize,
        pages: &(impl DirectMemory + ?Sized),
        offset: usize,
        len: usize,
    ) -> Result {
        let dst = self.part_mut(at, len)?;
        // SAFETY: `dst` is valid for writes of `len` bytes (type invariant, checked above).
        unsafe { pages.whole().read_raw(offset, dst, len) }
    }

    /// Copies the segment's bytes from byte `at` into `dst`.
    ///
    /// Fails with `ERANGE`, copying nothing, if they are not all inside the segment.
    pub fn copy_to_slice(&self, at: usize, dst: &mut [u8]) -> Result {
        let src = self.part(at, dst.len())?;
        // SAFETY: `src` is valid for reads of `dst.len()` bytes (type invariant, checked
        // above); `dst` is valid for writes. `copy` allows the two to overlap.
        unsafe { core::ptr::copy(src, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` into the segment at byte `at`.
    ///
    /// Fails with `ERANGE`, copying nothing, if it does not fit inside the segment, and with
    /// `EINVAL` if the bio is not a read.
    pub fn copy_from_slice(&mut self, at: usize, src: &[u8]) -> Result {
        let dst = self.part_mut(at, src.len())?;
        // SAFETY: `dst` is valid for writes of `src.len()` bytes (type invariant, checked
        // above); `src` is valid for reads. `copy` allows the two to overlap.
        unsafe { core::ptr::copy(src.as_ptr(), dst, src.len()) };
        Ok(())
    }
}
