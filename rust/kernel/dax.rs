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
//! a table of callbacks that call it. Filesystems can only find the device once a disk hosts
//! it: the driver hands it to [`DiskBuilder::build`](crate::block::bio::DiskBuilder::build),
//! and the disk then owns it.
//!
//! # The memory outlives every mapping of it
//!
//! `fs/dax.c` does not only copy to and from the memory that [`Operations::direct_access`]
//! describes: it maps its pages into user page tables, where they stay after the call returns,
//! until the file is unmapped. Freeing that memory while it is mapped would hand pages that
//! user space still writes back to the page allocator. The abstractions rule this out for safe
//! code:
//!
//! - [`Operations::direct_access`] returns a [`DirectRange`] that borrows the driver data `T`:
//!   the memory it describes lives at least as long as `T` (safe code can only get one from a
//!   [`DirectMemory`](crate::contig_pages::DirectMemory), such as
//!   [`ContigPages`](crate::contig_pages::ContigPages) or a
//!   [`DevPagemap`](crate::dev_pagemap::DevPagemap), which it borrows).
//! - `T` is kept in an [`Arc`] by the [`Device`]. A device that no disk hosts cannot be reached
//!   by `fs/dax.c` at all. A device given to a disk is owned by the gendisk and released, with
//!   its `T`, only from `block_device_operations.free_disk`, when the gendisk's last reference
//!   goes: a mounted filesystem keeps its block device open, an open block device holds the
//!   gendisk, and every mapping of a file holds the file and with it the mount. So `T`, and
//!   all the memory its ranges describe, outlives every mapping.
//! - When the disk is deleted, the DAX device is removed from its host and killed first: new
//!   calls fail with `ENXIO`, and calls in progress are waited for (DAX SRCU). A callback that
//!   races with the kill finds no private data and fails with `ENXIO` as well.
//!
//! Memory handed out here has no media errors (it is RAM, or is treated as such): the device
//! has no `recovery_write` operation, and [`Operations::direct_access`] never reports
//! `EHWPOISON`, the only answer on which `fs/dax.c` would ask for a recovery write.

use crate::{
    bindings,
    contig_pages::{DirectRange, PfnKind},
    error::{code::*, from_err_ptr, Error, Result},
    sync::Arc,
};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};

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
    ///
    /// The range borrows `self`: `fs/dax.c` maps its pages for as long as the device's host
    /// disk exists, and the abstraction keeps `self` alive until then (see the
    /// [module documentation](self)).
    fn direct_access(&self, pgoff: u64, nr_pages: usize) -> Result<DirectRange<'_>>;

    /// Sets `nr_pages` pages starting at page `pgoff` to zero.
    fn zero_page_range(&self, pgoff: u64, nr_pages: usize) -> Result;
}

/// A `struct dax_device` whose operations are those of `T`.
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
    /// Set once `kill_dax` has returned.
    killed: AtomicBool,
}

// SAFETY: The `dax_device` may be used and released from any thread, and `T: Send + Sync`.
unsafe impl<T: Operations> Send for Device<T> {}
// SAFETY: `&Device` only gives access to `&T` and to thread-safe DAX calls, with `T: Sync`.
unsafe impl<T: Operations> Sync for Device<T> {}

impl<T: Operations> Device<T> {
    const OPS: bindings::dax_operations = bindings::dax_operations {
        direct_access: Some(Self::direct_access_callback),
        dax_supported: None,
        zero_page_range: Some(Self::zero_page_range_callback),
        // No poison to clear: see the module documentation.
        recovery_write: None,
    };

    /// Allocates a DAX device whose callbacks call `data`'s [`Operations`].
    pub fn new(data: Arc<T>) -> Result<Self> {
        // SAFETY: `OPS` is a constant, promoted to a static, valid for as long as the device
        // can call it; the private pointer stays valid until `drop`, which kills the device
        // before releasing `data`.
        let dax = from_err_ptr(unsafe {
            bindings::alloc_dax((&*data as *const T).cast_mut().cast(), &Self::OPS)
        })?;
        // INVARIANT: `alloc_dax` returned a live device with `OPS` and our private data.
        Ok(Self {
            dax: NonNull::new(dax).ok_or(ENOMEM)?,
            data,
            killed: AtomicBool::new(false),
        })
    }

    /// The driver data.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// Whether a filesystem holds the device: it took it with `fs_dax_get_by_bdev()` naming
    /// itself the holder, as xipfs and XFS do (ext2 and ext4 take it without one). A snapshot:
    /// a mount or an unmount may change it right after.
    pub fn has_holder(&self) -> bool {
        // SAFETY: `self.dax` is live by the type invariant; `dax_holder` only reads the holder
        // pointer, set and cleared under the DAX core's own rules.
        !unsafe { bindings::dax_holder(self.dax.as_ptr()) }.is_null()
    }

    /// The raw `struct dax_device`, for abstractions that attach it to a host.
    pub(crate) fn as_raw(&self) -> *mut bindings::dax_device {
        self.dax.as_ptr()
    }

    /// Kills the device: from now on `dax_direct_access` and `dax_zero_page_range` fail with
    /// `-ENXIO`, and no callback is running any more when this returns. Calling it again does
    /// nothing (and does not wait for another SRCU grace period).
    pub(crate) fn kill(&self) {
        if self.killed.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `self.dax` is live by the type invariant. `kill_dax` may be called more than
        // once (by racing callers that both saw `killed` false).
        unsafe { bindings::kill_dax(self.dax.as_ptr()) };
        self.killed.store(true, Ordering::Release);
    }

    /// Calls [`Operations::direct_access`] through the same path a filesystem uses
    /// (`dax_direct_access` under `dax_read_lock`, which checks that the device is alive and
    /// clamps the count to `nr_pages`; 0 pages asks whether the page exists).
    ///
    /// Returns the range found, with the kernel address and pfn that `fs/dax.c` gets; its bytes
    /// can be read and written through [`DirectRange::read`] and [`DirectRange::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::alloc::flags::{GFP_KERNEL, __GFP_ZERO};
    /// use kernel::contig_pages::{ContigPages, DirectRange, PAGE_SIZE};
    /// use kernel::dax;
    /// use kernel::sync::Arc;
    ///
    /// struct Ram(ContigPages);
    /// impl dax::Operations for Ram {
    ///     fn direct_access(&self, pgoff: u64, nr: usize) -> Result<DirectRange<'_>> {
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
    /// let r = dev.direct_access(1, 8)?;
    /// assert_eq!(r.nr_pages(), 3); // clamped to the end of the memory
    /// let r0 = dev.direct_access(0, 1)?;
    /// assert_eq!(r.pfn(), r0.pfn() + 1);
    /// assert_eq!(r.kaddr() as usize, r0.kaddr() as usize + PAGE_SIZE);
    /// assert_eq!(dev.direct_access(4, 1).err(), Some(ERANGE));
    /// assert_eq!(dev.direct_access(3, 0).map(|r| r.nr_pages()), Ok(0)); // the page exists
    /// assert_eq!(dev.direct_access(4, 0).err(), Some(ERANGE));
    /// // The address handed out is the memory's: bytes written through it are the memory's.
    /// r.write(PAGE_SIZE, b"poison")?;
    /// let mut buf = [0u8; 6];
    /// dev.data().0.read(2 * PAGE_SIZE, &mut buf)?;
    /// assert_eq!(&buf, b"poison");
    /// dev.zero_page_range(2, 1)?;
    /// r.read(PAGE_SIZE, &mut buf)?;
    /// assert_eq!(buf, [0u8; 6]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn direct_access(&self, pgoff: u64, nr_pages: usize) -> Result<DirectRange<'_>> {
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
        let kaddr = NonNull::new(kaddr.cast::<u8>()).ok_or(EIO)?;
        let (pfn, kind) = pfn::from_c(pfn);
        // SAFETY: `dax_direct_access` succeeded, so the device called `direct_access_callback`
        // (it is ours: `OPS`), which stored a range that `self.data.direct_access` returned,
        // cut to `ret` pages (`pfn::to_c` and `pfn::from_c` give back its pfn and kind): memory
        // that stays mapped while `self.data` is borrowed, and so for the lifetime of `&self`.
        Ok(unsafe { DirectRange::from_raw(kaddr, pfn, ret as usize, kind) })
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

    /// The driver data of `dax`, or `None` once the device has been killed.
    ///
    /// # Safety
    ///
    /// `dax` must be a device allocated by [`Device::new`] for this `T`, and the call must come
    /// from a callback (C calls back only while the device is alive, and `Device::drop` kills
    /// it, waiting for callbacks in progress, before it releases anything).
    unsafe fn data_of<'a>(dax: *mut bindings::dax_device) -> Option<&'a T> {
        // SAFETY: `dax` is a valid device by the safety requirements.
        let data = unsafe { bindings::dax_get_private(dax) };
        // `dax_get_private` returns NULL once `kill_dax` has cleared `DAXDEV_ALIVE`, which can
        // happen while a callback that passed `dax_alive()` is on its way here.
        //
        // SAFETY: A non-null private pointer is `Arc::as_ptr` of the `Arc<T>` held by the
        // `Device`, which releases it only after `kill_dax` has waited for every callback in
        // progress (this one included) to return.
        NonNull::new(data.cast::<T>()).map(|p| unsafe { &*p.as_ptr() })
    }

    unsafe extern "C" fn direct_access_callback(
        dax: *mut bindings::dax_device,
        pgoff: usize,
        nr_pages: isize,
        _mode: bindings::dax_access_mode,
        kaddr: *mut *mut core::ffi::c_void,
        pfn: *mut bindings::pfn_t,
    ) -> isize {
        // SAFETY: C calls this only for devices made with `OPS`, i.e. by `Device::<T>::new`.
        let Some(data) = (unsafe { Self::data_of(dax) }) else {
            return ENXIO.to_errno() as _;
        };
        let Ok(nr) = usize::try_from(nr_pages) else {
            return EINVAL.to_errno() as _;
        };
        // `fs/dax.c` may ask for zero pages to learn whether the page exists: the answer must
        // then be non-zero (`dax_direct_access` clamps it to what was asked). The mode is
        // always `DAX_ACCESS`: recovery writes are asked for only after `EHWPOISON`, which is
        // never returned (below).
        match data.direct_access(pgoff as u64, nr.max(1)) {
            Ok(range) => {
                // SAFETY: The out-pointers are valid or null, as `dax_direct_access`
                // documents.
                unsafe { Self::store(&range, kaddr, pfn) };
                range.nr_pages().min(nr.max(1)) as _
            }
            Err(e) if e.to_errno() == -(bindings::EHWPOISON as i32) => EIO.to_errno() as _,
            Err(e) => e.to_errno() as _,
        }
    }

    /// Writes `range` to the out-pointers of `direct_access`, each of which may be null.
    ///
    /// This is the one place where the memory is handed to `fs/dax.c` as a pfn.
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
            // SAFETY: Non-null, so valid for writes by the safety requirements.
            unsafe { *pfn = pfn::to_c(range) };
        }
    }

    unsafe extern "C" fn zero_page_range_callback(
        dax: *mut bindings::dax_device,
        pgoff: usize,
        nr_pages: usize,
    ) -> core::ffi::c_int {
        // SAFETY: As in `direct_access_callback`.
        let Some(data) = (unsafe { Self::data_of(dax) }) else {
            return ENXIO.to_errno();
        };
        match data.zero_page_range(pgoff as u64, nr_pages) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// How `fs/dax.c` is told which page frames a range is: the one place that knows.
///
/// Linux 6.12 passes a `pfn_t`, a pfn with flags: ordinary pages have none, and `ZONE_DEVICE`
/// pages of an fsdax pagemap are `PFN_DEV | PFN_MAP` ("devmap"), which lets `fs/dax.c` map
/// them into any DAX mapping, in 2 MiB pieces where they are contiguous and aligned. Later
/// kernels drop `pfn_t` (and the devmap flag, once every `ZONE_DEVICE` page is refcounted like
/// any other): `direct_access` then returns a bare `unsigned long` pfn, and this module is
/// what changes.
pub(crate) mod pfn {
    use super::*;

    /// The `pfn_t` for the first page of `range`.
    pub(super) fn to_c(range: &DirectRange<'_>) -> bindings::pfn_t {
        let flags = match range.kind() {
            PfnKind::Ram => 0,
            PfnKind::DevMap => bindings::PFN_DEV | bindings::PFN_MAP,
        };
        // SAFETY: The helper only builds a value.
        unsafe { bindings::__pfn_to_pfn_t(range.pfn() as _, flags) }
    }

    /// Whether a `pfn_t` that `fs/dax.c` got from a device is a page with a reference count
    /// (`ZONE_DEVICE`): only such pages can be taken by `get_user_pages()` and mapped by PMD.
    pub(crate) fn is_refcounted(pfn: bindings::pfn_t) -> bool {
        matches!(from_c(pfn).1, PfnKind::DevMap)
    }

    /// The page frame number and kind of a `pfn_t` made by [`to_c`].
    pub(super) fn from_c(pfn: bindings::pfn_t) -> (usize, PfnKind) {
        let devmap = bindings::PFN_DEV | bindings::PFN_MAP;
        let kind = if pfn.val & devmap == devmap {
            PfnKind::DevMap
        } else {
            PfnKind::Ram
        };
        // SAFETY: The helper only computes on the value.
        (unsafe { bindings::pfn_t_to_pfn(pfn) as usize }, kind)
    }
}

impl<T: Operations> Drop for Device<T> {
    fn drop(&mut self) {
        // `kill` waits (SRCU) for callbacks in progress, after which none can start, so
        // `self.data` may be dropped after `put_dax`.
        self.kill();
        // SAFETY: `self.dax` is live by the type invariant; this drops our reference.
        unsafe { bindings::put_dax(self.dax.as_ptr()) };
    }
}

/// KUnit suite `rust_dax`: what the callbacks answer when `fs/dax.c` calls them, including in
/// the window where the device is being killed (which no public entry point can reach, since
/// `dax_direct_access` checks that the device is alive before calling).
#[cfg(CONFIG_KUNIT)]
mod tests {
    use super::*;
    use crate::{
        alloc::flags::{GFP_KERNEL, __GFP_ZERO},
        contig_pages::{ContigPages, PAGE_SIZE},
        kunit_expect, kunit_expect_eq,
        kunit_suite::Test,
    };

    /// Two pages; page 1 reports a media error.
    struct Ram(ContigPages);

    impl Operations for Ram {
        fn direct_access(&self, pgoff: u64, nr: usize) -> Result<DirectRange<'_>> {
            match pgoff {
                0 => self.0.direct(0, nr.min(1)),
                1 => Err(Error::from_errno(-(bindings::EHWPOISON as i32))),
                _ => Err(ERANGE),
            }
        }
        fn zero_page_range(&self, pgoff: u64, nr: usize) -> Result {
            self.0.zero(usize::try_from(pgoff)? * PAGE_SIZE, nr * PAGE_SIZE)
        }
    }

    /// Calls the `direct_access` callback as `fs/dax.c` would: (return value, kaddr, pfn).
    fn call(dev: &Device<Ram>, pgoff: usize, nr: isize) -> (isize, usize, usize) {
        let mut kaddr: *mut core::ffi::c_void = core::ptr::null_mut();
        let mut pfn = bindings::pfn_t { val: 0 };
        // SAFETY: `dev` was made by `Device::new` and is not dropped; the out-pointers are
        // valid. Calling the callback directly is what `dax_direct_access` does (which also
        // holds the DAX SRCU read lock: not needed here, as nothing kills the device
        // concurrently).
        let ret = unsafe {
            Device::<Ram>::direct_access_callback(
                dev.as_raw(),
                pgoff,
                nr,
                bindings::dax_access_mode_DAX_ACCESS,
                &mut kaddr,
                &mut pfn,
            )
        };
        (ret, kaddr as usize, pfn::from_c(pfn).0)
    }

    fn callbacks(t: &mut Test) {
        let dev = ContigPages::alloc(1, GFP_KERNEL | __GFP_ZERO)
            .map_err(Error::from)
            .and_then(|p| Arc::new(Ram(p), GFP_KERNEL).map_err(Error::from))
            .and_then(Device::new);
        let Ok(dev) = dev else {
            kunit_expect!(t, false, "no device");
            return;
        };
        let Ok(page0) = dev.data().0.direct(0, 1) else {
            kunit_expect!(t, false, "no page 0");
            return;
        };
        let want = (1, page0.kaddr() as usize, page0.pfn());
        // The address and pfn handed out are the memory's; 0 pages asks whether it exists.
        kunit_expect_eq!(t, call(&dev, 0, 1), want);
        kunit_expect_eq!(t, call(&dev, 0, 0), want);
        kunit_expect_eq!(t, call(&dev, 0, -1).0, EINVAL.to_errno() as isize);
        kunit_expect_eq!(t, call(&dev, 2, 1).0, ERANGE.to_errno() as isize);
        // A media error is reported as EIO, so that `fs/dax.c` never asks for a recovery write
        // (there is no `recovery_write` operation).
        kunit_expect_eq!(t, call(&dev, 1, 1).0, EIO.to_errno() as isize);

        // Once `kill_dax` has cleared DAXDEV_ALIVE, a callback that was already on its way (it
        // passed `dax_alive()`) finds no private data: ENXIO, not a NULL dereference.
        dev.kill();
        kunit_expect_eq!(t, call(&dev, 0, 1).0, ENXIO.to_errno() as isize);
        // SAFETY: As in `call`.
        let zeroed = unsafe { Device::<Ram>::zero_page_range_callback(dev.as_raw(), 0, 1) };
        kunit_expect_eq!(t, zeroed, ENXIO.to_errno());
        // The entry points of `fs/dax.c` refuse a dead device before calling.
        kunit_expect_eq!(t, dev.direct_access(0, 1).err(), Some(ENXIO));
        kunit_expect_eq!(t, dev.zero_page_range(0, 1), Err(ENXIO));
        // Killing again is harmless; dropping the device after a kill too.
        dev.kill();
    }

    crate::kunit_test_suite!(rust_dax, [callbacks]);
}
