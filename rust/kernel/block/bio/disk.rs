// SPDX-License-Identifier: GPL-2.0

//! A `struct gendisk` driven by a bio-based driver.


use super::{Bio, SECTOR_SIZE};
use crate::{
    bindings, dax,
    error::{code::*, from_err_ptr, to_result, Error, Result},
    static_lock_class,
    str::{CStr, CString},
    sync::Arc,
    types::Opaque,
    ThisModule,
};
use core::{fmt, marker::PhantomData, ptr::NonNull};

/// The driver side of a bio-based disk.
pub trait Operations: Send + Sync + Sized + 'static {
    /// Carries out `bio`. The abstraction ends the bio: with success for `Ok`, with
    /// `BLK_STS_NOTSUPP` for `EOPNOTSUPP` or `ENOTSUPP` and with `BLK_STS_IOERR` for any other
    /// error.
    ///
    /// Called in the context of the submitter, possibly with `REQ_NOWAIT`: it must not sleep
    /// if the disk was built with [`DiskBuilder::nowait`].
    fn submit_bio(&self, bio: &Bio<'_>) -> Result;
}

/// The `block_device_operations` of a driver's disks with driver data `T` and DAX data `D`.
///
/// Make it a `static` of the driver, from the driver's own module, so that it outlives every
/// disk that points to it:
///
/// ```ignore
/// static DISK_OPS: bio::DiskVTable<Memory, Memory> = bio::DiskVTable::new(&THIS_MODULE);
/// ```
pub struct DiskVTable<T: Operations, D: dax::Operations> {
    fops: bindings::block_device_operations,
    _types: PhantomData<fn() -> (T, D)>,
}

// SAFETY: The table is only read (by the block layer and by `DiskBuilder::build`); its pointers
// are to functions and to the module, which may be used from any thread.
unsafe impl<T: Operations, D: dax::Operations> Sync for DiskVTable<T, D> {}

impl<T: Operations, D: dax::Operations> DiskVTable<T, D> {
    /// The table for disks of `module`: opening one takes a reference to `module`.
    pub const fn new(module: &'static ThisModule) -> Self {
        Self {
            fops: bindings::block_device_operations {
                submit_bio: Some(Disk::<T, D>::submit_bio_callback),
                free_disk: Some(free_disk_callback),
                owner: module.as_ptr(),
                // SAFETY: All other fields are optional callbacks and pointers, for which all
                // zeroes means "none".
                ..unsafe { core::mem::zeroed() }
            },
            _types: PhantomData,
        }
    }
}

/// What the gendisk owns, through its `private_data`: released by `free_disk`.
///
/// `repr(C)` with the header first, so that the non-generic `free_disk_callback` can find the
/// header at the private data pointer.
#[repr(C)]
struct Owned<T: Operations, D: dax::Operations> {
    header: Header,
    data: Arc<T>,
    dax: Option<dax::Device<D>>,
}

/// The part of [`Owned`] that does not depend on its types.
#[repr(C)]
struct Header {
    /// Drops the `KBox<Owned<T, D>>` that starts with this header.
    drop_owned: unsafe fn(*mut Header),
    /// Completed once the owned data has been dropped; allocated and waited for by the `Disk`.
    released: *mut bindings::completion,
}

impl<T: Operations, D: dax::Operations> Owned<T, D> {
    /// # Safety
    ///
    /// `header` must be the pointer to an `Owned<T, D>` leaked from its `KBox` in
    /// `DiskBuilder::build` (a pointer to its header, as it is the first field of a `repr(C)`
    /// struct), not used any more by anyone else.
    unsafe fn drop_owned(header: *mut Header) {
        // SAFETY: By the safety requirements.
        drop(unsafe { crate::alloc::KBox::from_raw(header.cast::<Self>()) });
    }
}

/// `block_device_operations.free_disk`: the gendisk's last reference is gone.
///
/// Not generic, so that it is code of the kernel itself, not of the driver's module: once it
/// has completed `released`, the `Disk` that waited for it may return and the module may be
/// unloaded, and only kernel code runs from there on (here and in `disk_release`).
#[inline(never)]
unsafe extern "C" fn free_disk_callback(disk: *mut bindings::gendisk) {
    // SAFETY: The block layer calls `free_disk` once, with a disk that was added with a
    // `DiskVTable`, i.e. by `NewDisk::add`, whose private data is the header of its `Owned`.
    let header = unsafe { (*disk).private_data.cast::<Header>() };
    // SAFETY: As above: the header is valid until `drop_owned`.
    let released = unsafe { (*header).released };
    // SAFETY: This is the final release: no callback of the disk runs any more (`del_gendisk`
    // drained I/O, the DAX device was killed), and the `Disk` no longer uses `Owned` once it has
    // put its reference. `drop_owned` is the function `build` stored for these types.
    unsafe { ((*header).drop_owned)(header) };
    // SAFETY: `released` was initialised by `build` and is kept by the `Disk` until this
    // completes it (`Disk::drop` waits for it).
    unsafe { bindings::complete(released) };
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

    /// Allocates the disk named `name`, with the operations `vtable`, whose bios go to `data`.
    ///
    /// With `dax`, the disk will also be the host of that DAX device: the queue advertises DAX
    /// and, once added, `fs_dax_get_by_bdev()` finds the device.
    ///
    /// The disk is not visible to anyone until [`NewDisk::add`]: a driver with several disks
    /// can allocate all of them (and their memory) first and add them only once nothing can
    /// fail but the adding itself.
    pub fn build<T: Operations, D: dax::Operations>(
        self,
        name: fmt::Arguments<'_>,
        vtable: &'static DiskVTable<T, D>,
        data: Arc<T>,
        dax: Option<dax::Device<D>>,
    ) -> Result<NewDisk<T, D>> {
        let name = CString::try_from_fmt(name)?;
        let name = name.as_bytes_with_nul();
        if name.len() < 2 || name.len() > bindings::DISK_NAME_LEN as usize {
            return Err(EINVAL);
        }

        let released = crate::alloc::KBox::new(
            Opaque::<bindings::completion>::uninit(),
            crate::alloc::flags::GFP_KERNEL,
        )?;
        // SAFETY: `released` is valid for writes and is not moved (it is boxed) while in use.
        unsafe { bindings::init_completion(released.get()) };

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

        let owned = crate::alloc::KBox::new(
            Owned {
                header: Header {
                    drop_owned: Owned::<T, D>::drop_owned,
                    released: released.get(),
                },
                data,
                dax,
            },
            crate::alloc::flags::GFP_KERNEL,
        )?;

        // SAFETY: `lim` is a valid, initialised `queue_limits`; the lock class is static.
        let gendisk = from_err_ptr(unsafe {
            bindings::__blk_alloc_disk(&mut lim, bindings::NUMA_NO_NODE, static_lock_class!().as_ptr())
        })?;
        let gendisk = NonNull::new(gendisk).ok_or(ENOMEM)?;
        let g = gendisk.as_ptr();
        // The gendisk owns the data from now on (through `NewDisk`, then `Disk`).
        let owned = NonNull::from(crate::alloc::KBox::leak(owned));
        // SAFETY: The disk was just allocated and is not visible to anyone else yet; fields are
        // written through the raw pointer, without making references to the C structure.
        unsafe {
            // Major 0 with 0 minors: the whole disk and its partitions get dynamic device
            // numbers from the extended range.
            (*g).major = 0;
            (*g).first_minor = 0;
            (*g).minors = 0;
            (*g).fops = &vtable.fops;
            // `Owned` is `repr(C)` and starts with its header.
            (*g).private_data = owned.as_ptr().cast();
            // The name fits with its NUL (checked above).
            core::ptr::copy_nonoverlapping(
                name.as_ptr(),
                core::ptr::addr_of_mut!((*g).disk_name).cast::<u8>(),
                name.len(),
            );
            bindings::set_capacity(g, self.capacity_sectors);
        }

        // INVARIANT: The disk was set up above with `vtable` and `owned`, and not added.
        Ok(NewDisk {
            gendisk,
            owned,
            released,
        })
    }
}

/// A disk allocated by [`DiskBuilder::build`] and not yet added: nobody can see or open it.
/// Dropping it frees it with its data.
///
/// # Invariants
///
/// `gendisk` was allocated by `__blk_alloc_disk`, not added, and its reference is ours; its
/// fops are a [`DiskVTable<T, D>`] and its private data is the header of `owned`, a leaked
/// `KBox<Owned<T, D>>` owned by this object. `owned.header.released` is `released`,
/// initialised.
pub struct NewDisk<T: Operations, D: dax::Operations> {
    gendisk: NonNull<bindings::gendisk>,
    owned: NonNull<Owned<T, D>>,
    released: crate::alloc::KBox<Opaque<bindings::completion>>,
}

// SAFETY: The gendisk may be freed from any thread; `T` and `D` are `Send + Sync`.
unsafe impl<T: Operations, D: dax::Operations> Send for NewDisk<T, D> {}
// SAFETY: `&NewDisk` gives access only to `&T` and the name.
unsafe impl<T: Operations, D: dax::Operations> Sync for NewDisk<T, D> {}

impl<T: Operations, D: dax::Operations> NewDisk<T, D> {
    /// The driver data bios will be handed to.
    pub fn data(&self) -> &Arc<T> {
        // SAFETY: `owned` is owned by `self` (type invariant).
        unsafe { &self.owned.as_ref().data }
    }

    /// The disk's name.
    pub fn name(&self) -> &CStr {
        // SAFETY: The gendisk is ours and valid; its name was written NUL-terminated by `build`.
        unsafe { disk_name(self.gendisk) }
    }

    /// Adds the disk (and its DAX device, if any) to the system: from now on it can be opened,
    /// mounted and mapped.
    pub fn add(self) -> Result<Disk<T, D>> {
        let g = self.gendisk.as_ptr();
        // SAFETY: `owned` is owned by `self` (type invariant).
        let dax = unsafe { self.owned.as_ref().dax.as_ref() };
        if let Some(dax) = dax {
            // SAFETY: Both are valid; the link is removed in `Disk::drop` (or below on error)
            // before either goes away.
            to_result(unsafe { bindings::dax_add_host(dax.as_raw(), g) })?;
        }
        // SAFETY: The gendisk is fully set up: fops, private data, name and capacity.
        let ret = unsafe { bindings::device_add_disk(core::ptr::null_mut(), g, core::ptr::null_mut()) };
        if ret != 0 {
            if dax.is_some() {
                // SAFETY: The DAX host was added above.
                unsafe { bindings::dax_remove_host(g) };
            }
            // Dropping `self` puts the disk, which was not added: `free_disk` is not called for
            // it, and `NewDisk::drop` frees the data.
            return Err(Error::from_errno(ret));
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is not dropped; each field is moved out exactly once.
        let released = unsafe { core::ptr::read(&this.released) };
        // INVARIANT: The disk was added; its reference, and with it `owned`, passes to `Disk`.
        Ok(Disk {
            gendisk: this.gendisk,
            owned: this.owned,
            released,
        })
    }
}

impl<T: Operations, D: dax::Operations> Drop for NewDisk<T, D> {
    fn drop(&mut self) {
        // SAFETY: The disk was never added and the reference is ours (type invariant): this
        // releases it without calling `free_disk` (`disk_release` calls it only for added
        // disks), and nobody else can reach the private data, so it is freed here.
        unsafe {
            bindings::put_disk(self.gendisk.as_ptr());
            Owned::<T, D>::drop_owned(self.owned.as_ptr().cast());
        }
    }
}

/// A bio-based disk, added to the system until dropped.
///
/// Dropping it removes and kills its DAX device, deletes the disk (new opens fail, I/O in
/// flight is waited for), drops its reference and waits until the gendisk's last reference is
/// gone, when the driver data and the DAX device with its data are released (see the
/// [module documentation](super)).
///
/// # Invariants
///
/// As for [`NewDisk`], except that `gendisk` was added: `owned` belongs to the gendisk and is
/// released by `free_disk_callback`, not before our reference is put. If `owned.dax` is
/// `Some`, it was added as the disk's DAX host.
pub struct Disk<T: Operations, D: dax::Operations> {
    gendisk: NonNull<bindings::gendisk>,
    owned: NonNull<Owned<T, D>>,
    released: crate::alloc::KBox<Opaque<bindings::completion>>,
}

// SAFETY: The gendisk may be deleted from any thread; `T` and `D` are `Send + Sync`.
unsafe impl<T: Operations, D: dax::Operations> Send for Disk<T, D> {}
// SAFETY: `&Disk` gives access only to `&T`, `&dax::Device<D>` and the name.
unsafe impl<T: Operations, D: dax::Operations> Sync for Disk<T, D> {}

impl<T: Operations, D: dax::Operations> Disk<T, D> {
    fn owned(&self) -> &Owned<T, D> {
        // SAFETY: `owned` is released only after our gendisk reference is put, in `drop`.
        unsafe { self.owned.as_ref() }
    }

    /// The driver data bios are handed to.
    pub fn data(&self) -> &Arc<T> {
        &self.owned().data
    }

    /// The DAX device this disk hosts, if any.
    pub fn dax(&self) -> Option<&dax::Device<D>> {
        self.owned().dax.as_ref()
    }

    /// The disk's name, as in `/dev` and `/sys/block`.
    pub fn name(&self) -> &CStr {
        // SAFETY: We hold a reference to the gendisk; its name was written NUL-terminated by
        // `build` and never changes.
        unsafe { disk_name(self.gendisk) }
    }

    unsafe extern "C" fn submit_bio_callback(bio: *mut bindings::bio) {
        // SAFETY: The block layer calls `submit_bio` with a valid bio for a live disk whose
        // fops are a `DiskVTable<T, D>`, so `bi_bdev->bd_disk->private_data` is the header of
        // its `Owned<T, D>`, released only at the disk's final release, after `del_gendisk` has
        // drained all I/O.
        let (data, dax) = unsafe {
            let owned = (*(*(*bio).bi_bdev).bd_disk).private_data.cast::<Owned<T, D>>();
            (
                &*core::ptr::addr_of!((*owned).data),
                &*core::ptr::addr_of!((*owned).dax),
            )
        };
        let dax_held = dax.as_ref().is_some_and(|d| d.has_holder());
        // SAFETY: The bio was just handed to us and is ended only below.
        let res = data.submit_bio(&unsafe { Bio::from_raw(bio, dax_held) });
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
        let g = self.gendisk.as_ptr();
        // The order of pmem's teardown: the DAX device leaves its host and dies first, then the
        // disk. The data stay until the final release.
        if let Some(dax) = self.dax() {
            // SAFETY: The DAX host was added in `add` (type invariant).
            unsafe { bindings::dax_remove_host(g) };
            dax.kill();
        }
        // SAFETY: The disk was added (type invariant); `del_gendisk` waits for I/O in flight,
        // after which no callback but `free_disk` runs. We do not use `owned` after `put_disk`,
        // which may release it.
        unsafe {
            bindings::del_gendisk(g);
            bindings::put_disk(g);
        }
        // SAFETY: `released` is initialised (type invariant) and completed by `free_disk`, which
        // runs exactly once for an added disk; it stays allocated until we return.
        unsafe { bindings::wait_for_completion(self.released.get()) };
    }
}

/// The name of `gendisk`.
///
/// # Safety
///
/// `gendisk` must be valid, with a NUL-terminated name, for `'a`.
unsafe fn disk_name<'a>(gendisk: NonNull<bindings::gendisk>) -> &'a CStr {
    // SAFETY: By the safety requirements; the name is read through a raw pointer to the field.
    unsafe {
        CStr::from_char_ptr(core::ptr::addr_of!((*gendisk.as_ptr()).disk_name).cast())
    }
}

/// A reference to the `struct device` of a block device (a whole disk or a partition), found
/// by name as in `/sys/class/block`.
///
/// For a whole disk it keeps the gendisk from being released, as any lookup through the block
/// class does while it looks at the device: a [`Disk`] dropped meanwhile waits for it to go. It
/// does not keep the disk open, nor its module loaded.
///
/// # Invariants
///
/// `dev` is a device of the block class whose reference is owned by this object.
pub struct BlockDeviceRef(NonNull<bindings::device>);

// SAFETY: The reference may be dropped from any thread (that may sleep).
unsafe impl Send for BlockDeviceRef {}

impl BlockDeviceRef {
    /// The block device named `name`, if there is one.
    pub fn find(name: &CStr) -> Option<Self> {
        // SAFETY: `block_class` is the kernel's static block device class; `name` is
        // NUL-terminated and `device_match_name` compares it with each device's name.
        let dev = unsafe {
            bindings::class_find_device(
                core::ptr::addr_of!(bindings::block_class),
                core::ptr::null(),
                name.as_char_ptr().cast(),
                Some(bindings::device_match_name),
            )
        };
        // INVARIANT: `class_find_device` returns a new reference to the device it found.
        NonNull::new(dev).map(Self)
    }
}

impl Drop for BlockDeviceRef {
    /// Drops the reference; if it was the gendisk's last one, the disk is released here (which
    /// may sleep).
    fn drop(&mut self) {
        // SAFETY: The reference is ours (type invariant).
        unsafe { bindings::put_device(self.0.as_ptr()) };
    }
}
