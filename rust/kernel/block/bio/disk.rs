// SPDX-License-Identifier: GPL-2.0

//! A `struct gendisk` driven by a bio-based driver.

use super::{Bio, SECTOR_SIZE};
use crate::{
    bindings, dax,
    error::{code::*, from_err_ptr, to_result, Error, Result},
    static_lock_class,
    str::CString,
    sync::Arc,
    types::ScopeGuard,
    ThisModule,
};
use core::{fmt, ptr::NonNull};

/// The driver side of a bio-based disk.
pub trait Operations: Send + Sync + Sized + 'static {
    /// Carries out `bio`. The abstraction ends the bio: with success for `Ok`, with
    /// `BLK_STS_NOTSUPP` for `EOPNOTSUPP` or `ENOTSUPP` and with `BLK_STS_IOERR` for any other error.
    ///
    /// Called in the context of the submitter, possibly with `REQ_NOWAIT`: it must not sleep
    /// if the disk was built with [`DiskBuilder::nowait`].
    fn submit_bio(&self, bio: &Bio<'_>) -> Result;
}

/// Settings for a new [`Disk`].
pub struct DiskBuilder {
    capacity_sectors: u64,
    logical_block_size: u32,
    physical_block_size: u32,
    max_discard_sectors: u32,
    max_write_zeroes_sectors: u32,
    nowait: bool,
}

impl Default for DiskBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DiskBuilder {
    /// A disk of 0 sectors with 512-byte logical blocks and page-sized physical blocks.
    pub fn new() -> Self {
        Self {
            capacity_sectors: 0,
            logical_block_size: SECTOR_SIZE as u32,
            physical_block_size: bindings::PAGE_SIZE as u32,
            max_discard_sectors: 0,
            max_write_zeroes_sectors: 0,
            nowait: false,
        }
    }

    /// The size of the disk, in 512-byte sectors.
    pub fn capacity_sectors(mut self, sectors: u64) -> Self {
        self.capacity_sectors = sectors;
        self
    }

    fn validate_block_size(size: u32) -> Result {
        if (512..=bindings::PAGE_SIZE as u32).contains(&size) && size.is_power_of_two() {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// The smallest unit the disk can address; a power of two from 512 to `PAGE_SIZE`.
    pub fn logical_block_size(mut self, size: u32) -> Result<Self> {
        Self::validate_block_size(size)?;
        self.logical_block_size = size;
        Ok(self)
    }

    /// The unit the disk writes best; a power of two from 512 to `PAGE_SIZE`.
    pub fn physical_block_size(mut self, size: u32) -> Result<Self> {
        Self::validate_block_size(size)?;
        self.physical_block_size = size;
        Ok(self)
    }

    /// Accepts discard bios of up to `sectors` sectors (0: no discard).
    pub fn max_discard_sectors(mut self, sectors: u32) -> Self {
        self.max_discard_sectors = sectors;
        self
    }

    /// Accepts write-zeroes bios of up to `sectors` sectors (0: none).
    pub fn max_write_zeroes_sectors(mut self, sectors: u32) -> Self {
        self.max_write_zeroes_sectors = sectors;
        self
    }

    /// Declares that [`Operations::submit_bio`] never sleeps, so `REQ_NOWAIT` bios are
    /// accepted (`BLK_FEAT_NOWAIT`, as brd).
    pub fn nowait(mut self, nowait: bool) -> Self {
        self.nowait = nowait;
        self
    }

    /// Creates and adds the disk named `name`, owned by `module`, whose bios go to `data`.
    ///
    /// With `dax`, the disk is also the host of that DAX device: the queue advertises DAX and
    /// `fs_dax_get_by_bdev()` finds the device. The disk removes and kills the DAX device when
    /// it is dropped, before the disk itself goes away.
    pub fn build<T: Operations, D: dax::Operations>(
        self,
        name: fmt::Arguments<'_>,
        module: &'static ThisModule,
        data: Arc<T>,
        dax: Option<dax::Device<D>>,
    ) -> Result<Disk<T, D>> {
        let name = CString::try_from_fmt(name)?;
        let name = name.as_bytes();
        if name.is_empty() || name.len() >= bindings::DISK_NAME_LEN as usize {
            return Err(EINVAL);
        }

        // The `owner` field is why the table is per disk rather than a `const`: it names the
        // module that must stay loaded while the disk is open.
        let fops = crate::alloc::KBox::new(
            bindings::block_device_operations {
                submit_bio: Some(Disk::<T, D>::submit_bio_callback),
                owner: module.as_ptr(),
                // SAFETY: All other fields are optional callbacks and pointers, for which all
                // zeroes means "none".
                ..unsafe { core::mem::zeroed() }
            },
            crate::alloc::flags::GFP_KERNEL,
        )?;

        // SAFETY: All-zeroes is a valid `queue_limits` ("no limit" / defaults).
        let mut lim: bindings::queue_limits = unsafe { core::mem::zeroed() };
        lim.logical_block_size = self.logical_block_size;
        lim.physical_block_size = self.physical_block_size;
        lim.max_hw_discard_sectors = self.max_discard_sectors;
        if self.max_discard_sectors != 0 {
            lim.max_discard_segments = 1;
            lim.discard_granularity = self.physical_block_size;
        }
        lim.max_write_zeroes_sectors = self.max_write_zeroes_sectors;
        lim.features = bindings::BLK_FEAT_SYNCHRONOUS;
        if self.nowait {
            lim.features |= bindings::BLK_FEAT_NOWAIT;
        }
        if dax.is_some() {
            lim.features |= bindings::BLK_FEAT_DAX;
        }

        // SAFETY: `lim` is a valid, initialised `queue_limits`; the lock class is static.
        let gendisk = from_err_ptr(unsafe {
            bindings::__blk_alloc_disk(&mut lim, bindings::NUMA_NO_NODE, static_lock_class!().as_ptr())
        })?;
        let gendisk = NonNull::new(gendisk).ok_or(ENOMEM)?;
        let put_on_error = ScopeGuard::new(|| {
            // SAFETY: `gendisk` was allocated above and has not been added.
            unsafe { bindings::put_disk(gendisk.as_ptr()) };
        });

        {
            // SAFETY: The disk was just allocated and is not visible to anyone else yet.
            let disk = unsafe { &mut *gendisk.as_ptr() };
            // Major 0 with 0 minors: the whole disk and its partitions get dynamic device
            // numbers from the extended range.
            disk.major = 0;
            disk.first_minor = 0;
            disk.minors = 0;
            disk.fops = &*fops;
            disk.private_data = (&*data as *const T).cast_mut().cast();
            for (dst, src) in disk.disk_name.iter_mut().zip(name.iter().chain(Some(&0))) {
                *dst = *src as _;
            }
        }
        // SAFETY: `gendisk` is valid.
        unsafe { bindings::set_capacity(gendisk.as_ptr(), self.capacity_sectors) };

        if let Some(dax) = &dax {
            // SAFETY: Both are valid; the link is removed in `Disk::drop` (or below on error)
            // before either goes away.
            to_result(unsafe { bindings::dax_add_host(dax.as_raw(), gendisk.as_ptr()) })?;
        }
        // SAFETY: `gendisk` is fully set up: fops, private data, name and capacity.
        let ret = unsafe {
            bindings::device_add_disk(core::ptr::null_mut(), gendisk.as_ptr(), core::ptr::null_mut())
        };
        if ret != 0 {
            if dax.is_some() {
                // SAFETY: The DAX host was added above.
                unsafe { bindings::dax_remove_host(gendisk.as_ptr()) };
            }
            return Err(Error::from_errno(ret));
        }
        put_on_error.dismiss();

        // INVARIANT: The disk was added with `fops` and `data` as its private data.
        Ok(Disk {
            gendisk,
            _fops: fops,
            data,
            dax,
        })
    }
}

/// A bio-based disk, added to the system until dropped.
///
/// # Invariants
///
/// `gendisk` is a disk allocated by `__blk_alloc_disk` and added with `device_add_disk`, whose
/// `fops` is `_fops` and whose private data is `Arc::as_ptr(&data)`. If `dax` is `Some`, it
/// was added as the disk's DAX host.
pub struct Disk<T: Operations, D: dax::Operations> {
    gendisk: NonNull<bindings::gendisk>,
    _fops: crate::alloc::KBox<bindings::block_device_operations>,
    data: Arc<T>,
    dax: Option<dax::Device<D>>,
}

// SAFETY: The gendisk may be deleted from any thread; `T` and `D` are `Send + Sync`.
unsafe impl<T: Operations, D: dax::Operations> Send for Disk<T, D> {}
// SAFETY: `&Disk` gives access only to `&T`, `&D` and read-only disk attributes.
unsafe impl<T: Operations, D: dax::Operations> Sync for Disk<T, D> {}

impl<T: Operations, D: dax::Operations> Disk<T, D> {
    /// The driver data bios are handed to.
    pub fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// The DAX device this disk hosts, if any.
    pub fn dax(&self) -> Option<&dax::Device<D>> {
        self.dax.as_ref()
    }

    /// The disk's name, as in `/dev` and `/sys/block`.
    pub fn name(&self) -> &crate::str::CStr {
        // SAFETY: The name was written NUL-terminated in `build` and never changes.
        unsafe { crate::str::CStr::from_char_ptr((*self.gendisk.as_ptr()).disk_name.as_ptr()) }
    }

    unsafe extern "C" fn submit_bio_callback(bio: *mut bindings::bio) {
        // SAFETY: The block layer calls `submit_bio` with a valid bio for a disk whose fops are
        // ours, so `bi_bdev->bd_disk->private_data` is the `Arc<T>` pointer set in `build`,
        // kept alive by the `Disk` until `del_gendisk` has drained all I/O.
        let data = unsafe { &*(*(*(*bio).bi_bdev).bd_disk).private_data.cast::<T>() };
        // SAFETY: The bio was just handed to us and is ended only below.
        let res = data.submit_bio(&unsafe { Bio::from_raw(bio) });
        let status = match res {
            Ok(()) => 0,
            Err(e) if e == ENOTSUPP || e == EOPNOTSUPP => bindings::BLK_STS_NOTSUPP,
            Err(_) => bindings::BLK_STS_IOERR,
        };
        // SAFETY: The bio is valid and has not been ended; it is ended exactly once here.
        unsafe {
            (*bio).bi_status = status;
            bindings::bio_endio(bio);
        }
    }
}

impl<T: Operations, D: dax::Operations> Drop for Disk<T, D> {
    fn drop(&mut self) {
        // The order of pmem's teardown: the DAX device leaves its host and dies first, then the
        // disk; the driver data (`data`, the DAX device's data) goes last.
        if self.dax.is_some() {
            // SAFETY: The DAX host was added in `build` (type invariant).
            unsafe { bindings::dax_remove_host(self.gendisk.as_ptr()) };
        }
        drop(self.dax.take());
        // SAFETY: The disk was added in `build`; `del_gendisk` waits for I/O in flight, after
        // which no callback runs, and `put_disk` drops our reference.
        unsafe {
            bindings::del_gendisk(self.gendisk.as_ptr());
            bindings::put_disk(self.gendisk.as_ptr());
        }
    }
}
