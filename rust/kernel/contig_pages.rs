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
//!
//! [`DirectMemory`] is what every such run of memory offers, whoever owns it: ordinary pages
//! ([`ContigPages`]) or `ZONE_DEVICE` pages
//! ([`DevPagemap`](crate::dev_pagemap::DevPagemap)). Each [`DirectRange`] knows which
//! [`PfnKind`] its pages are, which decides how the pfn is handed to `fs/dax.c`.

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

/// What kind of page frames a [`DirectRange`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfnKind {
    /// Ordinary pages of the page allocator (`ZONE_NORMAL` and friends). `fs/dax.c` maps them
    /// 4 KiB at a time, and only into mappings with `VM_MIXEDMAP`.
    Ram,
    /// `ZONE_DEVICE` pages of an `MEMORY_DEVICE_FS_DAX` pagemap: "devmap" pfns, which
    /// `fs/dax.c` maps into any DAX mapping and refcounts as fsdax pages.
    DevMap,
}

/// A run of pages given by its kernel address and page frame number.
///
/// It borrows the memory it describes, so the memory stays there for as long as the
/// description can be used: safe code gets one from a [`DirectMemory`] (such as
/// [`ContigPages::direct`]). Its bytes can be copied with [`DirectRange::read`] and
/// [`DirectRange::write`]; like the pages themselves, they are never exposed as a slice.
///
/// # Invariants
///
/// `kaddr` is the direct-map address of page frame `pfn`, and the `nr_pages` pages from there
/// are mapped, physically and virtually contiguous, of kind `kind`, and stay so for `'a`.
#[derive(Clone, Copy)]
pub struct DirectRange<'a> {
    kaddr: NonNull<u8>,
    pfn: usize,
    nr_pages: usize,
    kind: PfnKind,
    _pages: core::marker::PhantomData<&'a ()>,
}

impl<'a> DirectRange<'a> {
    /// Describes `nr_pages` pages of kind `kind` at `kaddr`, whose first page frame is `pfn`.
    ///
    /// # Safety
    ///
    /// `kaddr` must be the direct-map address of page frame `pfn`, and the `nr_pages` pages from
    /// there must be physically and virtually contiguous, of kind `kind`, and stay mapped for
    /// `'a`.
    pub(crate) unsafe fn from_raw(
        kaddr: NonNull<u8>,
        pfn: usize,
        nr_pages: usize,
        kind: PfnKind,
    ) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            kaddr,
            pfn,
            nr_pages,
            kind,
            _pages: core::marker::PhantomData,
        }
    }

    /// The kind of page frames the range describes.
    pub fn kind(&self) -> PfnKind {
        self.kind
    }

    /// The `nr_pages` pages of the range from its page `first`.
    ///
    /// Fails with `ERANGE` unless `1 <= nr_pages` and the pages lie inside the range.
    pub fn sub(&self, first: usize, nr_pages: usize) -> Result<DirectRange<'a>> {
        if nr_pages == 0 || first.checked_add(nr_pages).map_or(true, |e| e > self.nr_pages) {
            return Err(ERANGE);
        }
        // SAFETY: `first` is inside the range (checked above), so the address is too.
        let kaddr = unsafe { self.kaddr().add(first * PAGE_SIZE) };
        // The direct-map address of a page is never null.
        let kaddr = NonNull::new(kaddr).ok_or(EINVAL)?;
        // SAFETY: By the type invariant of `self`, page `first` of the range is at `kaddr` and
        // is frame `pfn + first`, and the `nr_pages` pages from there (inside the range, checked
        // above) are contiguous, of the same kind, and mapped for `'a`.
        Ok(unsafe { DirectRange::from_raw(kaddr, self.pfn + first, nr_pages, self.kind) })
    }

    /// Copies `len` bytes starting at byte `offset` of the range to `dst`, like `memmove`.
    ///
    /// Fails with `ERANGE` (copying nothing) if the bytes do not lie inside the range.
    ///
    /// # Safety
    ///
    /// `dst` must be valid for writes of `len` bytes. It may overlap the range (a bio's page may
    /// be one of these pages, mapped to user space through DAX).
    pub(crate) unsafe fn read_raw(&self, offset: usize, dst: *mut u8, len: usize) -> Result {
        check_range(self.len(), offset, len)?;
        // SAFETY: The source is inside the range (checked above), mapped for `'a` by the type
        // invariant; `dst` is valid by the safety requirements.
        unsafe { core::ptr::copy(self.kaddr().add(offset), dst, len) };
        Ok(())
    }

    /// Copies `len` bytes from `src` into the range at byte `offset`, like `memmove`.
    ///
    /// Fails with `ERANGE` (copying nothing) if the bytes do not lie inside the range.
    ///
    /// # Safety
    ///
    /// `src` must be valid for reads of `len` bytes. It may overlap the range.
    pub(crate) unsafe fn write_raw(&self, offset: usize, src: *const u8, len: usize) -> Result {
        check_range(self.len(), offset, len)?;
        // SAFETY: The destination is inside the range (checked above), mapped for `'a` by the
        // type invariant; `src` is valid by the safety requirements.
        unsafe { core::ptr::copy(src, self.kaddr().add(offset), len) };
        Ok(())
    }

    /// Sets `len` bytes starting at byte `offset` of the range to zero.
    ///
    /// Fails with `ERANGE` if the bytes do not lie inside the range.
    pub fn zero(&self, offset: usize, len: usize) -> Result {
        check_range(self.len(), offset, len)?;
        // SAFETY: The bytes are inside the range (checked above), mapped for `'a` by the type
        // invariant.
        unsafe { core::ptr::write_bytes(self.kaddr().add(offset), 0, len) };
        Ok(())
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

/// Memory that is one run of pages, physically and virtually contiguous: what a RAM block
/// device or DAX provider stores data in, whoever owns the pages.
///
/// Implementations only say where the whole run is ([`DirectMemory::whole`]); the copies,
/// bounds checks and sub-ranges are the same for all, on the [`DirectRange`]. Implementing it is
/// safe: a [`DirectRange`] can only be had from memory that outlives it.
pub trait DirectMemory {
    /// The whole run.
    fn whole(&self) -> DirectRange<'_>;

    /// Number of pages.
    fn nr_pages(&self) -> usize {
        self.whole().nr_pages()
    }

    /// Size in bytes.
    fn len(&self) -> usize {
        self.whole().len()
    }

    /// `nr_pages` pages from page `first`; `ERANGE` unless `1 <= nr_pages` and they lie inside.
    fn direct(&self, first: usize, nr_pages: usize) -> Result<DirectRange<'_>> {
        self.whole().sub(first, nr_pages)
    }

    /// Copies `dst.len()` bytes from byte `offset` into `dst`; `ERANGE` if out of bounds.
    fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.whole().read(offset, dst)
    }

    /// Copies `src` to byte `offset`; `ERANGE` if out of bounds.
    fn write(&self, offset: usize, src: &[u8]) -> Result {
        self.whole().write(offset, src)
    }

    /// Zeroes `len` bytes from byte `offset`; `ERANGE` if out of bounds.
    fn zero(&self, offset: usize, len: usize) -> Result {
        self.whole().zero(offset, len)
    }
}

impl DirectMemory for ContigPages {
    fn whole(&self) -> DirectRange<'_> {
        // The base address of an allocation is never null.
        let kaddr = NonNull::new(self.base()).unwrap_or(NonNull::dangling());
        // SAFETY: By the type invariant `self.page` is a valid page.
        let pfn = unsafe { bindings::page_to_pfn(self.page.as_ptr()) } as usize;
        // SAFETY: `kaddr` is the direct-map address of page frame `pfn` (type invariant), and the
        // `nr_pages()` pages of the allocation from there are ordinary pages, contiguous and
        // allocated while `self` is borrowed.
        unsafe { DirectRange::from_raw(kaddr, pfn, self.nr_pages(), PfnKind::Ram) }
    }

    fn nr_pages(&self) -> usize {
        ContigPages::nr_pages(self)
    }

    fn len(&self) -> usize {
        ContigPages::len(self)
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

    /// Copies `dst.len()` bytes starting at byte `offset` into `dst`.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result {
        self.whole().read(offset, dst)
    }

    /// Copies `src` into the allocation starting at byte `offset`.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result {
        self.whole().write(offset, src)
    }

    /// Sets `len` bytes starting at byte `offset` to zero.
    ///
    /// Fails with `ERANGE` if the range does not lie inside the allocation.
    pub fn zero(&self, offset: usize, len: usize) -> Result {
        self.whole().zero(offset, len)
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
        DirectMemory::direct(self, first, nr_pages)
    }
}

impl Drop for ContigPages {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `self.page` heads an allocation of order `self.order`
        // owned by this object; no `DirectRange` can outlive the borrow of `self` it came from.
        unsafe { bindings::__free_pages(self.page.as_ptr(), self.order) };
    }
}
