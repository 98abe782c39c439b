// SPDX-License-Identifier: GPL-2.0

//! DAX devices: direct access to the memory behind a block device.
//!
//! C header: [`include/linux/dax.h`](srctree/include/linux/dax.h)
//!
//! A driver whose storage is memory the CPU can address (persistent memory, or RAM as in a
//! RAM disk) registers a DAX device next to its disk. DAX-aware filesystems find it with
//! `fs_dax_get_by_bdev()` and then, through `fs/dax.c`, read, write and map file data straight
//! from that memory instead of copying it into the page cache.
//!
//! The driver implements [`Operations`]; [`Device::new`] allocates the `struct dax_device` with
//! a table of callbacks that call it. The device is attached to a disk by the block layer
//! abstraction that owns the disk (see [`crate::block::bio::DiskBuilder::dax`]), since the
//! order of teardown matters: the DAX device must be removed from its host disk and killed
//! before the disk goes away and before the memory it hands out is freed.

use crate::{
    bindings,
    contig_pages::DirectRange,
    error::{code::*, from_err_ptr, Error, Result},
    sync::Arc,
};
use core::ptr::NonNull;

/// Why `fs/dax.c` asks for direct access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccessMode {
    /// Ordinary access, to read, write or map the memory.
    Access,
    /// Access to write over poisoned memory in order to clear it.
    RecoveryWrite,
}

/// The operations of a DAX device, implemented by its driver.
///
/// `direct_access` may be called in atomic context (from page fault handling under locks held
/// by `fs/dax.c`): it must never sleep.
pub trait Operations: Send + Sync + Sized + 'static {
    /// Maps page `pgoff` of the device and as many following pages as are contiguous, up to
    /// `nr_pages` (at least 1).
    ///
    /// Returns the range found; it may be shorter than `nr_pages` but must start at `pgoff`.
    /// Return `ERANGE` (or any error) for a page outside the device. Must not sleep.
    fn direct_access(&self, pgoff: u64, nr_pages: usize, mode: AccessMode)
        -> Result<DirectRange<'_>>;

    /// Sets `nr_pages` pages starting at page `pgoff` to zero.
    fn zero_page_range(&self, pgoff: u64, nr_pages: usize) -> Result;

    /// Makes the pages `[pgoff, pgoff + nr_pages)` writable again after a media error, before
    /// `recovery_write` copies the new data over them.
    ///
    /// Memory without media errors (RAM) has nothing to clear: the default does nothing.
    fn clear_poison(&self, _pgoff: u64, _nr_pages: usize) -> Result {
        Ok(())
    }
}

/// A registered `struct dax_device` whose operations are those of `T`.
///
/// Dropping it kills the device (new `dax_direct_access` calls fail with `-ENXIO`, and it waits
/// for calls in progress to finish through the DAX SRCU), drops the reference it holds, and
/// only then releases the driver data.
///
/// # Invariants
///
/// `dax` is a live `struct dax_device` allocated by `alloc_dax` with `Self::OPS` and private
/// data `Arc::as_ptr(&data)`, referenced by this object until it is dropped.
pub struct Device<T: Operations> {
    dax: NonNull<bindings::dax_device>,
    data: Arc<T>,
}

// SAFETY: The `dax_device` may be used and released from any thread, and `T: Send + Sync`.
unsafe impl<T: Operations> Send for Device<T> {}
// SAFETY: `&Device` only gives access to the raw pointer and to `&T`, with `T: Sync`.
unsafe impl<T: Operations> Sync for Device<T> {}

impl<T: Operations> Device<T> {
    const OPS: bindings::dax_operations = bindings::dax_operations {
        direct_access: Some(Self::direct_access_callback),
        dax_supported: None,
        zero_page_range: Some(Self::zero_page_range_callback),
        recovery_write: Some(Self::recovery_write_callback),
    };

    /// Allocates a DAX device whose callbacks call `data`'s [`Operations`].
    pub fn new(data: Arc<T>) -> Result<Self> {
        // SAFETY: `OPS` is a static table valid for the lifetime of the device; the private
        // pointer stays valid until `drop`, which kills the device before releasing `data`.
        let dax = from_err_ptr(unsafe {
            bindings::alloc_dax((&*data as *const T).cast_mut().cast(), &Self::OPS)
        })?;
        // INVARIANT: `alloc_dax` returned a live device with `OPS` and our private data.
        Ok(Self {
            dax: NonNull::new(dax).ok_or(ENOMEM)?,
            data,
        })
    }

    /// The driver data.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// The raw `struct dax_device`, for abstractions that attach it to a host.
    pub fn as_raw(&self) -> *mut bindings::dax_device {
        self.dax.as_ptr()
    }

    /// Calls [`Operations::direct_access`] through the same path a filesystem uses
    /// (`dax_direct_access` under `dax_read_lock`, which checks that the device is alive and
    /// clamps the count to `nr_pages`; 0 pages asks whether the page exists).
    ///
    /// Returns the kernel address, pfn and length of the run found.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::alloc::flags::{GFP_KERNEL, __GFP_ZERO};
    /// use kernel::contig_pages::{ContigPages, DirectRange, PAGE_SIZE};
    /// use kernel::dax::{self, AccessMode};
    /// use kernel::sync::Arc;
    ///
    /// struct Ram(ContigPages);
    /// impl dax::Operations for Ram {
    ///     fn direct_access(&self, pgoff: u64, nr: usize, _: AccessMode) -> Result<DirectRange<'_>> {
    ///         let first = usize::try_from(pgoff)?;
    ///         let nr = nr.min(self.0.nr_pages().saturating_sub(first));
    ///         self.0.direct(first, nr)
    ///     }
    ///     fn zero_page_range(&self, pgoff: u64, nr: usize) -> Result {
    ///         self.0.zero(usize::try_from(pgoff)? * PAGE_SIZE, nr * PAGE_SIZE)
    ///     }
    /// }
    ///
    /// let dev = dax::Device::new(Arc::new(Ram(ContigPages::alloc(2, GFP_KERNEL | __GFP_ZERO)?),
    ///                                     GFP_KERNEL)?)?;
    /// let (kaddr, pfn, n) = dev.direct_access(1, 8)?;
    /// assert_eq!(n, 3); // clamped to the end of the memory
    /// let (kaddr0, pfn0, _) = dev.direct_access(0, 1)?;
    /// assert_eq!(pfn, pfn0 + 1);
    /// assert_eq!(kaddr as usize, kaddr0 as usize + PAGE_SIZE);
    /// assert_eq!(dev.direct_access(4, 1).err(), Some(ERANGE));
    /// assert_eq!(dev.direct_access(3, 0).map(|r| r.2), Ok(0)); // the page exists
    /// assert_eq!(dev.direct_access(4, 0).err(), Some(ERANGE));
    /// dev.data().0.write(PAGE_SIZE, b"poison")?;
    /// dev.zero_page_range(1, 1)?;
    /// let mut buf = [1u8; 6];
    /// dev.data().0.read(PAGE_SIZE, &mut buf)?;
    /// assert_eq!(buf, [0u8; 6]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn direct_access(&self, pgoff: u64, nr_pages: usize) -> Result<(*mut u8, usize, usize)> {
        let mut kaddr: *mut core::ffi::c_void = core::ptr::null_mut();
        let mut pfn = bindings::pfn_t { val: 0 };
        let pgoff = usize::try_from(pgoff).map_err(|_| ERANGE)?;
        let nr = isize::try_from(nr_pages).map_err(|_| EINVAL)?;
        // SAFETY: `self.dax` is live by the type invariant; the out-pointers are valid. The
        // call is made inside the DAX SRCU read section, as `dax_direct_access` requires.
        let ret = unsafe {
            let id = bindings::dax_read_lock();
            let ret = bindings::dax_direct_access(
                self.dax.as_ptr(),
                pgoff as _,
                nr,
                bindings::dax_access_mode_DAX_ACCESS,
                &mut kaddr,
                &mut pfn,
            );
            bindings::dax_read_unlock(id);
            ret
        };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        // The pfn_t flags live in the bits above the largest possible pfn.
        let pfn_bits = 64 - crate::contig_pages::PAGE_SIZE.trailing_zeros();
        Ok((kaddr.cast(), (pfn.val & ((1u64 << pfn_bits) - 1)) as usize, ret as usize))
    }

    /// Calls [`Operations::zero_page_range`] through `dax_zero_page_range` (one page at a time,
    /// as `fs/dax.c` does).
    pub fn zero_page_range(&self, pgoff: u64, nr_pages: usize) -> Result {
        let pgoff = usize::try_from(pgoff).map_err(|_| ERANGE)?;
        // SAFETY: `self.dax` is live by the type invariant; the call is made inside the DAX
        // SRCU read section, as `dax_zero_page_range` requires.
        crate::error::to_result(unsafe {
            let id = bindings::dax_read_lock();
            let ret = bindings::dax_zero_page_range(self.dax.as_ptr(), pgoff as _, nr_pages);
            bindings::dax_read_unlock(id);
            ret
        })
    }

    /// # Safety
    ///
    /// `dax` must be a device allocated by [`Device::new`] for this `T` and not yet dropped.
    unsafe fn data_of<'a>(dax: *mut bindings::dax_device) -> &'a T {
        // SAFETY: By the safety requirements, the private data is `Arc::as_ptr` of the
        // `Arc<T>` held by the `Device`, which outlives every callback (it is killed first).
        unsafe { &*bindings::dax_get_private(dax).cast::<T>() }
    }

    unsafe extern "C" fn direct_access_callback(
        dax: *mut bindings::dax_device,
        pgoff: usize,
        nr_pages: isize,
        mode: bindings::dax_access_mode,
        kaddr: *mut *mut core::ffi::c_void,
        pfn: *mut bindings::pfn_t,
    ) -> isize {
        // SAFETY: C calls this only for devices made with `OPS`, i.e. by `Device::<T>::new`,
        // while they are alive.
        let data = unsafe { Self::data_of(dax) };
        let mode = if mode == bindings::dax_access_mode_DAX_RECOVERY_WRITE {
            AccessMode::RecoveryWrite
        } else {
            AccessMode::Access
        };
        let Ok(nr) = usize::try_from(nr_pages) else {
            return EINVAL.to_errno() as _;
        };
        // `fs/dax.c` may ask for zero pages to learn whether the page exists: the answer must
        // then be non-zero (`dax_direct_access` clamps it to what was asked).
        match data.direct_access(pgoff as u64, nr.max(1), mode) {
            Ok(range) => {
                // SAFETY: The out-pointers are valid or null, as `dax_direct_access`
                // documents.
                unsafe { Self::store(&range, kaddr, pfn) };
                range.nr_pages().min(nr.max(1)) as _
            }
            Err(e) => e.to_errno() as _,
        }
    }

    /// Writes `range` to the out-pointers of `direct_access`, each of which may be null.
    ///
    /// # Safety
    ///
    /// `kaddr` and `pfn` must each be null or valid for writes.
    unsafe fn store(
        range: &DirectRange<'_>,
        kaddr: *mut *mut core::ffi::c_void,
        pfn: *mut bindings::pfn_t,
    ) {
        if !kaddr.is_null() {
            // SAFETY: Non-null, so valid for writes by the safety requirements.
            unsafe { *kaddr = range.kaddr().cast() };
        }
        if !pfn.is_null() {
            // `DirectRange` describes ordinary pages of the direct map: no pfn_t flags
            // (the same value as `page_to_pfn_t`).
            // SAFETY: Non-null, so valid for writes by the safety requirements.
            unsafe { *pfn = bindings::pfn_t { val: range.pfn() as u64 } };
        }
    }

    unsafe extern "C" fn zero_page_range_callback(
        dax: *mut bindings::dax_device,
        pgoff: usize,
        nr_pages: usize,
    ) -> core::ffi::c_int {
        // SAFETY: As in `direct_access_callback`.
        let data = unsafe { Self::data_of(dax) };
        match data.zero_page_range(pgoff as u64, nr_pages) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn recovery_write_callback(
        dax: *mut bindings::dax_device,
        pgoff: usize,
        addr: *mut core::ffi::c_void,
        bytes: usize,
        iter: *mut bindings::iov_iter,
    ) -> usize {
        // SAFETY: As in `direct_access_callback`.
        let data = unsafe { Self::data_of(dax) };
        let nr_pages = bytes.div_ceil(crate::contig_pages::PAGE_SIZE);
        if data.clear_poison(pgoff as u64, nr_pages).is_err() {
            return 0;
        }
        // SAFETY: `fs/dax.c` passes `addr` as returned by our `direct_access` for `pgoff` in
        // recovery mode, valid for `bytes` bytes, and a valid iterator.
        unsafe { bindings::_copy_from_iter(addr, bytes, iter) }
    }
}

impl<T: Operations> Drop for Device<T> {
    fn drop(&mut self) {
        // SAFETY: `self.dax` is live by the type invariant. `kill_dax` waits (SRCU) for
        // callbacks in progress, after which none can start, so `self.data` may be dropped
        // after `put_dax`.
        unsafe {
            bindings::kill_dax(self.dax.as_ptr());
            bindings::put_dax(self.dax.as_ptr());
        }
    }
}
