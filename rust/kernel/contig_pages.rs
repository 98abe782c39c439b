// SPDX-License-Identifier: GPL-2.0

//! Physically contiguous runs of pages in the kernel's direct map.
//!
//! C header: [`include/linux/gfp.h`](srctree/include/linux/gfp.h)
//!
//! A [`ContigPages`] is one `alloc_pages(gfp, order)` allocation: `2^order` pages that are
//! contiguous both physically and in the kernel's linear mapping. It is the memory behind RAM
//! block devices and DAX providers that hand out long contiguous runs: the pages can be copied
//! to and from through bounds-checked methods, and [`ContigPages::direct`] describes a sub-range
//! by its kernel address and page frame number for code (such as `fs/dax.c`) that accesses it
//! directly.
//!
//! The memory may be read and written concurrently by other users of its addresses (user
//! mappings set up through DAX, for instance), so it is never exposed as a Rust slice: all
//! accesses are copies through raw pointers, as `memcpy` in C would do.

use crate::{
    alloc::{AllocError, Flags},
    bindings,
    error::{code::*, Result},
};
use core::ptr::NonNull;

/// Size of a page in bytes.
pub const PAGE_SIZE: usize = bindings::PAGE_SIZE;

/// The largest order [`ContigPages::alloc`] accepts (the buddy allocator's maximum).
pub const MAX_ORDER: u32 = bindings::MAX_PAGE_ORDER;

/// Number of pages the system could hand out now without swapping: `MemAvailable` in
/// `/proc/meminfo` (`si_mem_available()`).
///
/// Large allocations check against it first, so that they fail up front rather than after
/// reclaiming everything.
pub fn available_pages() -> usize {
    // SAFETY: `si_mem_available` has no preconditions.
    let pages = unsafe { bindings::si_mem_available() };
    usize::try_from(pages).unwrap_or(0)
}

/// `2^order` physically contiguous pages, mapped in the kernel's direct map.
///
/// # Invariants
///
/// `page` is the first page of an allocation of order `order` made by `alloc_pages` without
/// `__GFP_HIGHMEM` and without `__GFP_COMP`, owned by this object until it is dropped. The
/// allocation is therefore in the direct map: `page_address(page)` is a valid kernel address
/// for `PAGE_SIZE << order` bytes.
pub struct ContigPages {
    page: NonNull<bindings::page>,
    order: u32,
}

// SAFETY: The pages are owned by this object and not tied to any thread; the memory is only
// accessed through raw copies, which may happen from any thread.
unsafe impl Send for ContigPages {}

// SAFETY: All methods taking `&self` only copy to or from the memory through raw pointers
// (like `memcpy` in C); none hands out references to it.
unsafe impl Sync for ContigPages {}

/// A sub-range of a [`ContigPages`] given by its kernel address and page frame number.
///
/// It borrows the pages it describes, so the memory stays allocated for as long as the
/// description can be used: safe code can only make one with [`ContigPages::direct`]. Its bytes
/// can be copied with [`DirectRange::read`] and [`DirectRange::write`]; like the pages
/// themselves, they are never exposed as a slice.
///
/// # Invariants
///
/// `kaddr` is the direct-map address of page frame `pfn`, and the `nr_pages` pages from there
/// are mapped, contiguous and stay allocated for `'a`.
#[derive(Clone, Copy)]
pub struct DirectRange<'a> {
    kaddr: NonNull<u8>,
    pfn: usize,
    nr_pages: usize,
    _pages: core::marker::PhantomData<&'a ContigPages>,
}

impl<'a> DirectRange<'a> {
    /// Describes `nr_pages` pages at `kaddr`, whose first page frame is `pfn`.
    ///
    /// # Safety
    ///
    /// `kaddr` must be the direct-map address of page frame `pfn`, and the `nr_pages` pages from
    /// there must be contiguous and stay allocated for `'a`.
    pub(crate) unsafe fn from_raw(kaddr: NonNull<u8>, pfn: usize, nr_pages: usize) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            kaddr,
            pfn,
            nr_pages,
            _pages: core::marker::PhantomData,
        }
    }

    /// Kernel virtual address of the first byte of the range.
    pub fn kaddr(&self) -> *mut u8 {
        self.kaddr.as_ptr()
    }

    /// Page frame number of the first page of the range.
    pub fn pfn(&self) -> usize {
        self.pfn
    }

    /// Number of pages in the range.
    pub fn nr_pages(&self) -> usize {
        self.nr_pages
    }

    /// Size of the range in bytes.
    pub fn len(&self) -> usize {
        self.nr_pages * PAGE_SIZE
    }

    /// Whether the range has no pages (`dax_direct_access` for 0 pages answers so).
    pub fn is_empty(&self) -> bool {
        self.nr_pages == 0
    }

    /// Copies `dst.len()` bytes starting at byte `offset` of the range into `dst`.
    ///
    /// Fails with `ERANGE` if the bytes do not lie inside the range.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        check_range(self.len(), offset, dst.len())?;
        // SAFETY: The source is inside the range (checked above), which is mapped for `'a` by
        // the type invariant; `dst` is an exclusive slice, which cannot overlap the range since
        // no references to page memory described by a `DirectRange` are handed out.
        unsafe {
            core::ptr::copy_nonoverlapping(self.kaddr().add(offset), dst.as_mut_ptr(), dst.len())
        };
        Ok(())
    }

    /// Copies `src` into the range starting at byte `offset`.
    ///
    /// Fails with `ERANGE` if the bytes do not lie inside the range.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result {
        check_range(self.len(), offset, src.len())?;
        // SAFETY: The destination is inside the range (checked above), which is mapped for `'a`
        // by the type invariant; `src` cannot overlap it (see `read`).
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), self.kaddr().add(offset), src.len())
        };
        Ok(())
    }
}

/// Checks that `[offset, offset + len)` lies inside `[0, size)`.
fn check_range(size: usize, offset: usize, len: usize) -> Result {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(ERANGE),
    }
}

impl ContigPages {
    /// Allocates `2^order` contiguous pages.
    ///
    /// `flags` must not contain `__GFP_HIGHMEM`: the pages have to be in the direct map.
    /// Pass [`__GFP_ZERO`](crate::alloc::flags::__GFP_ZERO) to get zeroed memory, and
    /// [`__GFP_RETRY_MAYFAIL`](crate::alloc::flags::__GFP_RETRY_MAYFAIL) for large allocations
    /// that should fail rather than invoke the OOM killer.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::alloc::flags::{GFP_KERNEL, __GFP_ZERO};
    /// use kernel::contig_pages::{ContigPages, PAGE_SIZE};
    ///
    /// let pages = ContigPages::alloc(2, GFP_KERNEL | __GFP_ZERO)?;
    /// assert_eq!(pages.len(), 4 * PAGE_SIZE);
    /// pages.write(PAGE_SIZE - 2, b"span")?;
    /// let mut buf = [0u8; 6];
    /// pages.read(PAGE_SIZE - 3, &mut buf)?;
    /// assert_eq!(&buf, b"\0span\0");
    /// // Accesses past the end are refused, not truncated.
    /// assert!(pages.read(4 * PAGE_SIZE - 1, &mut buf).is_err());
    /// assert!(pages.write(usize::MAX, b"x").is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn alloc(order: u32, flags: Flags) -> Result<Self, AllocError> {
        if order > MAX_ORDER || flags.contains(crate::alloc::flags::__GFP_HIGHMEM) {
            return Err(AllocError);
        }
        // SAFETY: `alloc_pages` may be called with any flags and any order up to
        // `MAX_PAGE_ORDER`.
        let page = unsafe { bindings::alloc_pages(flags.as_raw(), order) };
        let page = NonNull::new(page).ok_or(AllocError)?;
        // INVARIANT: `page` heads a fresh order-`order` allocation without `__GFP_HIGHMEM`
        // (checked above) and without `__GFP_COMP` (no flag value of `Flags` constants has it).
        Ok(Self { page, order })
    }

    /// The order of the allocation.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Number of pages.
    pub fn nr_pages(&self) -> usize {
        1 << self.order
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Kernel address of the first byte.
    fn base(&self) -> *mut u8 {
        // SAFETY: By the type invariant `self.page` is a valid page in the direct map.
        unsafe { bindings::page_address(self.page.as_ptr()).cast() }
    }

    /// Checks that `[offset, offset + len)` lies inside the allocation.
    fn check(&self, offset: usize, len: usize) -> Result {
        check_range(self.len(), offset, len)
    }

    /// Copies `dst.len()` bytes starting at byte `offset` into `dst`.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        // SAFETY: `dst` is an exclusive slice, valid for writes of its length.
        unsafe { self.read_raw(offset, dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `src` into the allocation starting at byte `offset`.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result {
        // SAFETY: `src` is valid for reads of its length.
        unsafe { self.write_raw(offset, src.as_ptr(), src.len()) }
    }

    /// Copies `len` bytes starting at byte `offset` to `dst`, like `memmove`.
    ///
    /// Fails with `ERANGE` (copying nothing) if the range does not lie inside the allocation.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `len` bytes. It may overlap the allocation (a bio's
    /// page may be one of these pages, mapped to user space through DAX).
    pub(crate) unsafe fn read_raw(&self, offset: usize, dst: *mut u8, len: usize) -> Result {
        self.check(offset, len)?;
        // SAFETY: The source range is inside the allocation (checked above), which is mapped
        // by the type invariant; `dst` is valid by the safety requirements.
        unsafe { core::ptr::copy(self.base().add(offset), dst, len) };
        Ok(())
    }

    /// Copies `len` bytes from `src` into the allocation at byte `offset`, like `memmove`.
    ///
    /// Fails with `ERANGE` (copying nothing) if the range does not lie inside the allocation.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reads of `len` bytes. It may overlap the allocation.
    pub(crate) unsafe fn write_raw(&self, offset: usize, src: *const u8, len: usize) -> Result {
        self.check(offset, len)?;
        // SAFETY: The destination range is inside the allocation (checked above), which is
        // mapped by the type invariant; `src` is valid by the safety requirements.
        unsafe { core::ptr::copy(src, self.base().add(offset), len) };
        Ok(())
    }

    /// Sets `len` bytes starting at byte `offset` to zero.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn zero(&self, offset: usize, len: usize) -> Result {
        self.check(offset, len)?;
        // SAFETY: The range is inside the allocation (checked above), which is mapped by the
        // type invariant.
        unsafe { core::ptr::write_bytes(self.base().add(offset), 0, len) };
        Ok(())
    }

    /// Describes `nr_pages` pages starting at page `first` by kernel address and pfn.
    ///
    /// Fails with `ERANGE` unless `1 <= nr_pages` and the pages lie inside the allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::alloc::flags::GFP_KERNEL;
    /// use kernel::contig_pages::{ContigPages, PAGE_SIZE};
    ///
    /// let pages = ContigPages::alloc(3, GFP_KERNEL)?;
    /// let all = pages.direct(0, 8)?;
    /// let tail = pages.direct(5, 3)?;
    /// // Physically and virtually contiguous.
    /// assert_eq!(tail.pfn(), all.pfn() + 5);
    /// assert_eq!(tail.kaddr() as usize, all.kaddr() as usize + 5 * PAGE_SIZE);
    /// assert!(pages.direct(5, 4).is_err());
    /// assert!(pages.direct(8, 1).is_err());
    /// assert!(pages.direct(0, 0).is_err());
    /// // Copies through a range land in the pages it describes, across page boundaries.
    /// tail.write(PAGE_SIZE - 1, b"ab")?;
    /// let mut buf = [0u8; 2];
    /// pages.read(6 * PAGE_SIZE - 1, &mut buf)?;
    /// assert_eq!(&buf, b"ab");
    /// pages.write(8 * PAGE_SIZE - 2, b"yz")?;
    /// all.read(8 * PAGE_SIZE - 2, &mut buf)?;
    /// assert_eq!(&buf, b"yz");
    /// // ...and never outside it.
    /// assert!(tail.write(3 * PAGE_SIZE - 1, b"ab").is_err());
    /// assert!(tail.read(usize::MAX, &mut buf).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn direct(&self, first: usize, nr_pages: usize) -> Result<DirectRange<'_>> {
        if nr_pages == 0 || first.checked_add(nr_pages).map_or(true, |e| e > self.nr_pages()) {
            return Err(ERANGE);
        }
        // SAFETY: `first` is inside the allocation (checked above), and the pages of a
        // non-compound allocation are consecutive `struct page`s.
        let page = unsafe { self.page.as_ptr().add(first) };
        // SAFETY: `page` is a valid page of the allocation.
        let pfn = unsafe { bindings::page_to_pfn(page) } as usize;
        // SAFETY: The offset is inside the allocation (checked above).
        let kaddr = unsafe { self.base().add(first * PAGE_SIZE) };
        // The direct-map address of a page is never null.
        let kaddr = NonNull::new(kaddr).ok_or(EINVAL)?;
        // SAFETY: `kaddr` is the direct-map address of page frame `pfn`, and the `nr_pages`
        // pages from there lie inside the allocation (checked above), contiguous, and stay
        // allocated while `self` is borrowed.
        Ok(unsafe { DirectRange::from_raw(kaddr, pfn, nr_pages) })
    }
}

impl Drop for ContigPages {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `self.page` heads an allocation of order `self.order`
        // owned by this object; no `DirectRange` can outlive the borrow of `self` it came from.
        unsafe { bindings::__free_pages(self.page.as_ptr(), self.order) };
    }
}
