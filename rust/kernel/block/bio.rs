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
//! so that the module cannot be unloaded while its disk is open or mounted.

mod disk;

pub use disk::{Disk, DiskBuilder, Operations};

use crate::{bindings, error::Result};

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
/// has not been ended yet; it stays valid for `'a`.
pub struct Bio<'a> {
    ptr: *mut bindings::bio,
    _p: core::marker::PhantomData<&'a mut bindings::bio>,
}

impl<'a> Bio<'a> {
    /// # Safety
    ///
    /// `ptr` must be a bio passed to `submit_bio`, not yet ended, valid for `'a`.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::bio) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            ptr,
            _p: core::marker::PhantomData,
        }
    }

    fn raw(&self) -> &bindings::bio {
        // SAFETY: By the type invariant the bio is valid for `'a`, and only the block layer
        // (which handed it over) writes it while we hold it: we never take `&mut`.
        unsafe { &*self.ptr }
    }

    /// The operation.
    pub fn op(&self) -> Op {
        match self.raw().bi_opf & bindings::REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => Op::Read,
            bindings::req_op_REQ_OP_WRITE => Op::Write,
            bindings::req_op_REQ_OP_FLUSH => Op::Flush,
            bindings::req_op_REQ_OP_DISCARD => Op::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => Op::WriteZeroes,
            other => Op::Other(other),
        }
    }

    /// The first sector the bio addresses.
    pub fn sector(&self) -> u64 {
        self.raw().bi_iter.bi_sector
    }

    /// The number of bytes the bio addresses.
    pub fn len(&self) -> usize {
        self.raw().bi_iter.bi_size as usize
    }

    /// Whether the bio addresses no bytes (an empty flush).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Byte offset on the disk of the first byte the bio addresses.
    pub fn offset(&self) -> u64 {
        self.sector() * SECTOR_SIZE as u64
    }

    /// Calls `f` for each data segment, in order, with the segment's bytes and their offset
    /// from the start of the bio. The iteration stops at the first error, which is returned.
    ///
    /// For a [`Op::Write`] the driver reads the slice; for [`Op::Read`] it fills it. A segment
    /// never spans more than one page.
    pub fn for_each_segment(&self, mut f: impl FnMut(&mut [u8], usize) -> Result) -> Result {
        let mut iter = self.raw().bi_iter;
        let mut done = 0usize;
        while iter.bi_size != 0 {
            // SAFETY: The bio is valid by the type invariant and `iter` is a copy of its
            // iterator that has not run past its end (`bi_size != 0`).
            let bv = unsafe { bindings::bio_iter_iovec(self.ptr, iter) };
            let len = bv.bv_len as usize;
            // SAFETY: A single-page segment from `bio_iter_iovec` lies inside `bv_page`:
            // `bv_offset + bv_len <= PAGE_SIZE`. `kmap_local_page` maps it until the matching
            // `kunmap_local` below.
            let base = unsafe { bindings::kmap_local_page(bv.bv_page) };
            // SAFETY: `base + bv_offset` is valid for `len` bytes (see above). The block layer
            // gives the driver exclusive use of the data pages while the bio is in flight.
            let buf = unsafe {
                core::slice::from_raw_parts_mut(base.cast::<u8>().add(bv.bv_offset as usize), len)
            };
            let res = f(buf, done);
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
