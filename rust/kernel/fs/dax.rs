// SPDX-License-Identifier: GPL-2.0

//! The DAX device under a mounted filesystem.

use crate::{
    bindings,
    contig_pages::PAGE_SIZE,
    error::{code::*, Result},
};
use core::ptr::NonNull;

/// The DAX device of a filesystem's block device, taken with `fs_dax_get_by_bdev()` at mount.
///
/// # Invariants
///
/// `dax` is a reference from `fs_dax_get_by_bdev` with `holder`, released when dropped;
/// `part_off` is the byte offset of the block device (partition) on the DAX device and `len` its
/// size in bytes.
pub struct Dax {
    dax: NonNull<bindings::dax_device>,
    part_off: u64,
    len: u64,
    holder: *mut core::ffi::c_void,
    refcounted: bool,
}

// SAFETY: The DAX device is reference counted and usable from any thread.
unsafe impl Send for Dax {}
// SAFETY: `&Dax` only reads the device through `dax_direct_access`, which is thread safe.
unsafe impl Sync for Dax {}

/// Most pages one piece of `Dax::for_each_piece` spans (2 MiB): bounds the time spent in one
/// DAX read section.
const MAX_PAGES: usize = 512;

impl Dax {
    /// Takes the DAX device of `bdev` for the superblock `holder`; `None` if it has none.
    ///
    /// # Safety
    ///
    /// `bdev` must be a valid, open block device; `holder` must stay valid until the returned
    /// object is dropped.
    pub(crate) unsafe fn get(
        bdev: *mut bindings::block_device,
        holder: *mut core::ffi::c_void,
    ) -> Option<Self> {
        let mut part_off = 0u64;
        // SAFETY: By the safety requirements; `part_off` is a valid out-pointer.
        let dax = unsafe {
            bindings::fs_dax_get_by_bdev(bdev, &mut part_off, holder, core::ptr::null())
        };
        // SAFETY: `bdev` is valid and open.
        let len = unsafe { bindings::bdev_nr_bytes(bdev) } as u64;
        let dax = NonNull::new(dax)?;
        // What kind of pages the device hands out: one device has one kind (see
        // `refcounted_pages`); ask for the first page of the block device.
        let mut kaddr: *mut core::ffi::c_void = core::ptr::null_mut();
        let mut pfn = bindings::pfn_t { val: 0 };
        // SAFETY: `dax` is a live reference; the out-pointers are valid; the call is made
        // inside the DAX SRCU read section.
        let ret = unsafe {
            let id = bindings::dax_read_lock();
            let ret = bindings::dax_direct_access(
                dax.as_ptr(),
                (part_off / PAGE_SIZE as u64) as _,
                1,
                bindings::dax_access_mode_DAX_ACCESS,
                &mut kaddr,
                &mut pfn,
            );
            bindings::dax_read_unlock(id);
            ret
        };
        let refcounted = ret > 0 && crate::dax::pfn::is_refcounted(pfn);
        // INVARIANT: A non-null result is a reference taken for `holder`.
        Some(Self {
            dax,
            part_off,
            len,
            holder,
            refcounted,
        })
    }

    /// Whether the device's memory is pages with reference counts (`ZONE_DEVICE` pages, as
    /// pmem's fsdax mode and xipram's devmap model give): `fs/dax.c` then maps them as devmap
    /// entries, which `get_user_pages()` can take and which can be mapped 2 MiB at a time.
    /// Otherwise (xipram's plain pages) they are mapped as special entries, invisible to
    /// `get_user_pages()`, 4 KiB at a time.
    pub fn refcounted_pages(&self) -> bool {
        self.refcounted
    }

    /// The raw device, for `struct iomap`.
    pub(crate) fn as_raw(&self) -> *mut bindings::dax_device {
        self.dax.as_ptr()
    }

    /// Byte offset of the filesystem's block device on the DAX device.
    pub(crate) fn part_off(&self) -> u64 {
        self.part_off
    }

    /// Size of the filesystem's block device in bytes: the DAX device may be larger (a
    /// partition is a window on it), and nothing outside the window is the filesystem's.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the byte range `[offset, offset + len)` lies inside the block device.
    pub fn contains(&self, offset: u64, len: u64) -> bool {
        offset.checked_add(len).map_or(false, |end| end <= self.len)
    }

    /// Calls `f(kaddr, done, n)` for each piece of the byte range `[offset, offset + len)` of
    /// the block device, in order, where `kaddr` is the kernel address of the piece's `n` bytes
    /// (contiguous in the kernel's view, as `direct_access` gives them, at most `MAX_PAGES`
    /// pages) and `done` how many bytes of the range came before it. `kaddr` is
    /// valid only during the call (inside the DAX SRCU read section).
    ///
    /// Fails with `EIO` for bytes outside the block device (even if the DAX device, of which
    /// the block device may be a partition, has them), or if the device is going away.
    fn for_each_piece(&self, offset: u64, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) -> Result {
        if !self.contains(offset, len as u64) {
            return Err(EIO);
        }
        let mut done = 0usize;
        while done < len {
            let pos = offset
                .checked_add(done as u64)
                .and_then(|p| p.checked_add(self.part_off))
                .ok_or(EIO)?;
            let pgoff = pos / PAGE_SIZE as u64;
            let in_page = (pos % PAGE_SIZE as u64) as usize;
            // As many pages as the rest needs, of which the device gives what is contiguous.
            let want = (in_page + (len - done)).div_ceil(PAGE_SIZE).min(MAX_PAGES);
            let mut kaddr: *mut core::ffi::c_void = core::ptr::null_mut();
            let mut n = 0usize;
            // SAFETY: `self.dax` is live (type invariant); inside the DAX SRCU read section the
            // `ret` pages at `kaddr` (`0 < ret <= want`) stay valid, and `in_page + n` is
            // within them.
            let ret = unsafe {
                let id = bindings::dax_read_lock();
                let ret = bindings::dax_direct_access(
                    self.dax.as_ptr(),
                    pgoff as _,
                    want as _,
                    bindings::dax_access_mode_DAX_ACCESS,
                    &mut kaddr,
                    core::ptr::null_mut(),
                );
                if ret > 0 {
                    let pages = (ret as usize).min(want);
                    n = (len - done).min(pages * PAGE_SIZE - in_page);
                    f(kaddr.cast::<u8>().add(in_page), done, n);
                }
                bindings::dax_read_unlock(id);
                ret
            };
            if ret <= 0 {
                // Outside the device, or the device is going away.
                return Err(EIO);
            }
            done += n;
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from byte `offset` of the block device into `buf`, straight
    /// from the device memory (no buffer or page cache).
    ///
    /// Fails with `EIO` for bytes outside the block device.
    ///
    /// The device memory is shared with the filesystem's other users and with user mappings:
    /// what is read is a snapshot, which a concurrent writer may tear. Callers that need a
    /// consistent view hold the lock that their writers hold.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result {
        let dst = buf.as_mut_ptr();
        self.for_each_piece(offset, buf.len(), |kaddr, done, n| {
            // SAFETY: `kaddr` is valid for `n` bytes during the call; `dst` is `buf`'s, whose
            // `done + n` bytes are inside it; device memory is never a Rust object, so the two
            // do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(kaddr, dst.add(done), n) }
        })
    }

    /// Copies `buf` to byte `offset` of the block device, straight into the device memory.
    ///
    /// Fails with `EIO` for bytes outside the block device, writing nothing then. The bytes
    /// are visible at once to every reader and mapping of the device memory: a filesystem
    /// writes its metadata here under the locks its readers take.
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result {
        let src = buf.as_ptr();
        self.for_each_piece(offset, buf.len(), |kaddr, done, n| {
            // SAFETY: As in `read`, the other way round: `kaddr` is valid for writing `n` bytes
            // (device memory, never a Rust object), `src + done` for reading them.
            unsafe { core::ptr::copy_nonoverlapping(src.add(done), kaddr, n) }
        })
    }

    /// Fills `len` bytes from byte `offset` of the block device with zeroes.
    ///
    /// Fails with `EIO` for bytes outside the block device.
    pub fn zero(&self, offset: u64, len: u64) -> Result {
        let len = usize::try_from(len).map_err(|_| EIO)?;
        self.for_each_piece(offset, len, |kaddr, _, n| {
            // SAFETY: `kaddr` is valid for writing `n` bytes during the call.
            unsafe { core::ptr::write_bytes(kaddr, 0, n) }
        })
    }
}

impl Drop for Dax {
    fn drop(&mut self) {
        // SAFETY: The reference was taken with `holder` (type invariant).
        unsafe { bindings::fs_put_dax(self.dax.as_ptr(), self.holder) };
    }
}
