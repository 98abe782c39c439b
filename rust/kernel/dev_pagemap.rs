// SPDX-License-Identifier: GPL-2.0

//! Device pagemaps: `struct page`s for memory that the page allocator does not manage.
//!
//! C header: [`include/linux/memremap.h`](srctree/include/linux/memremap.h)
//!
//! `memremap_pages()` gives a physical range that is not System RAM (persistent memory, or RAM
//! taken away with [`mem_hotplug`](crate::mem_hotplug)) a direct mapping and `struct page`s in
//! `ZONE_DEVICE`, owned by a `struct dev_pagemap`; `memunmap_pages()` takes them away again. A
//! [`DevPagemap`] is such a pagemap of type `MEMORY_DEVICE_FS_DAX`, the kind `fs/dax.c` maps
//! into user space with "devmap" page table entries, as pmem's fsdax mode does. Its memory is
//! one [`DirectMemory`] run whose ranges are [`PfnKind::DevMap`].
//!
//! # Lifetimes
//!
//! - The range is claimed in `/proc/iomem` (under the name the owner gives) before the pages
//!   are created and released after they are gone, so nothing else can map it meanwhile.
//! - The memory `M` the pagemap is made of is owned by the [`DevPagemap`] and dropped only after
//!   `memunmap_pages()` has returned: for [`Unplugged`] memory, the blocks go back to the page
//!   allocator only once nothing maps them as device pages any more.
//! - Pages stay valid while any of them is referenced. An fsdax page is idle at refcount 1;
//!   `get_user_pages()` and friends raise it for as long as they pin the page (an `O_DIRECT`
//!   transfer, a registered io_uring buffer...), and the pin can outlive the mapping it came
//!   from, and the file, and the mount. Dropping a [`DevPagemap`] therefore first waits until
//!   every page is idle again (logging every 10 s while one is not), then kills the pagemap's
//!   reference count and waits for the short-lived references of pfn walkers
//!   (`get_dev_pagemap()`), as pmem's teardown does (`memunmap_pages()`), and only then removes
//!   the pages. Safe code can thus never free memory that is still pinned: at worst, a drop
//!   waits for the pin to go.
//! - Accesses through [`DirectRange`]s borrow the [`DevPagemap`], which cannot be dropped while
//!   they exist.

use crate::{
    alloc::{flags::GFP_KERNEL, KBox},
    bindings,
    contig_pages::{DirectMemory, DirectRange, PfnKind},
    error::{code::*, from_err_ptr, Result},
    mem_hotplug::Unplugged,
    str::CStr,
    types::Opaque,
};
use core::{mem::ManuallyDrop, ptr::NonNull};

/// A physical range that can be given `struct page`s by a [`DevPagemap`].
///
/// # Safety
///
/// For as long as the object exists, `[start(), start() + size())` must be a range of memory
/// the CPU can access like RAM, that is not System RAM, has no `struct page`s and no direct
/// mapping, and that nothing else uses; `start()` and `size()` must not change and must be
/// multiples of 2 MiB (a memory subsection), with `size() > 0`.
pub unsafe trait DeviceMemory: Send + Sync {
    /// Physical address of the first byte.
    fn start(&self) -> u64;
    /// Size in bytes.
    fn size(&self) -> u64;
    /// NUMA node the memory belongs to, or `NUMA_NO_NODE`.
    fn nid(&self) -> i32 {
        bindings::NUMA_NO_NODE
    }
}

// SAFETY: An `Unplugged` range is RAM that was offlined and removed (no `struct page`s, no direct
// mapping, no System RAM resource), is owned by the object and is added back only when it is
// dropped. Its bounds are whole memory blocks (at least 2 MiB, which they are multiples of), and
// never change once it is shared (only `join`, which takes `&mut self`, changes them).
unsafe impl DeviceMemory for Unplugged {
    fn start(&self) -> u64 {
        Unplugged::start(self)
    }
    fn size(&self) -> u64 {
        Unplugged::size(self)
    }
    fn nid(&self) -> i32 {
        Unplugged::nid(self)
    }
}

const SUBSECTION_SIZE: u64 = 1 << bindings::SUBSECTION_SHIFT;
const PAGE_SHIFT: u32 = bindings::PAGE_SHIFT;

/// Seconds between two log lines while a drop waits for a pinned page.
const PIN_WAIT_REPORT_SECS: u32 = 10;

/// `struct page`s for the memory `M`, as an fsdax (`MEMORY_DEVICE_FS_DAX`) pagemap.
///
/// # Invariants
///
/// `pgmap` was passed to a successful `memremap_pages()` with the one range of `memory`, and is
/// not unmapped until `drop`; `kaddr` is the direct-map address that call returned for the
/// range's first byte. `[memory.start(), + memory.size())` is claimed in `iomem_resource` by
/// this object until `drop`.
pub struct DevPagemap<M: DeviceMemory> {
    pgmap: KBox<Opaque<bindings::dev_pagemap>>,
    kaddr: NonNull<u8>,
    memory: ManuallyDrop<M>,
}

// SAFETY: The pagemap is not tied to a thread: it may be torn down from any thread, and `M` is
// `Send`.
unsafe impl<M: DeviceMemory> Send for DevPagemap<M> {}

// SAFETY: `&DevPagemap` only reads fixed fields and hands out `DirectRange`s, whose copies are
// raw and may happen from any thread; `M` is `Sync`.
unsafe impl<M: DeviceMemory> Sync for DevPagemap<M> {}

impl<M: DeviceMemory> DevPagemap<M> {
    /// Claims `memory` in `/proc/iomem` as `name` and creates its `struct page`s as an fsdax
    /// pagemap.
    ///
    /// On failure `memory` is dropped (for [`Unplugged`] memory: given back), and the error is
    /// `EINVAL` for a range that is not 2 MiB aligned, `EBUSY` if part of the range is claimed
    /// already, or the error of `memremap_pages()` (`ENOMEM`...).
    pub fn new_fsdax(memory: M, name: &'static CStr) -> Result<Self> {
        let (start, size) = (memory.start(), memory.size());
        if size == 0 || start % SUBSECTION_SIZE != 0 || size % SUBSECTION_SIZE != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `iomem_resource` is the root of the I/O memory tree; `__request_region` takes
        // its lock. `name` outlives the claim, which is released in `drop` or below.
        let res = unsafe {
            bindings::__request_region(
                core::ptr::addr_of_mut!(bindings::iomem_resource),
                start,
                size,
                name.as_char_ptr(),
                0,
            )
        };
        if res.is_null() {
            return Err(EBUSY);
        }
        let release = crate::types::ScopeGuard::new(|| {
            // SAFETY: The region was claimed above and nothing else releases it.
            unsafe {
                bindings::__release_region(
                    core::ptr::addr_of_mut!(bindings::iomem_resource),
                    start,
                    size,
                )
            }
        });
        let pgmap = KBox::new(Opaque::<bindings::dev_pagemap>::uninit(), GFP_KERNEL)?;
        let p = pgmap.get();
        // SAFETY: `p` is valid for writes (just allocated). An all-zero `dev_pagemap` is a valid
        // value (integers, pointers and a union of ranges); `memremap_pages` initialises the
        // reference count and completion itself.
        unsafe {
            core::ptr::write_bytes(p, 0, 1);
            (*p).type_ = bindings::memory_type_MEMORY_DEVICE_FS_DAX;
            (*p).nr_range = 1;
            (*p).__bindgen_anon_1.range.as_mut().start = start;
            (*p).__bindgen_anon_1.range.as_mut().end = start + size - 1;
        }
        // SAFETY: `p` is a filled-in pagemap with one range, in a box that stays where it is
        // until `memunmap_pages`. The range is ours alone and is neither System RAM nor has
        // `struct page`s (safety requirements of `DeviceMemory`), and is claimed in
        // `iomem_resource` above, so no other pagemap overlaps it.
        let kaddr = from_err_ptr(unsafe { bindings::memremap_pages(p, memory.nid()) })?;
        let kaddr = NonNull::new(kaddr.cast::<u8>()).ok_or(ENOMEM)?;
        release.dismiss();
        // INVARIANT: `memremap_pages` succeeded with `memory`'s range, claimed above.
        Ok(Self {
            pgmap,
            kaddr,
            memory: ManuallyDrop::new(memory),
        })
    }

    /// The memory the pages are made of.
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// Physical address of the first byte.
    pub fn start(&self) -> u64 {
        self.memory.start()
    }

    fn first_pfn(&self) -> usize {
        (self.memory.start() >> PAGE_SHIFT) as usize
    }

    /// Waits until no page of the pagemap is referenced beyond its pagemap's own reference.
    fn wait_idle(&self) {
        let first = self.first_pfn();
        let n = (self.memory.size() >> PAGE_SHIFT) as usize;
        let timeout = crate::time::msecs_to_jiffies(PIN_WAIT_REPORT_SECS * 1000);
        for pfn in first..first + n {
            // SAFETY: `pfn` is a page of the pagemap, which is mapped (type invariant): its
            // `struct page` is valid.
            while !unsafe { bindings::xip_devmap_page_wait_idle(pfn as _, timeout as _) } {
                crate::pr_warn!(
                    "dev_pagemap: [mem {:#x}-{:#x}]: waiting for pinned page {:#x} before removing the pages\n",
                    self.memory.start(),
                    self.memory.start() + self.memory.size() - 1,
                    pfn
                );
            }
        }
    }
}

impl<M: DeviceMemory> DirectMemory for DevPagemap<M> {
    fn whole(&self) -> DirectRange<'_> {
        let nr_pages = (self.memory.size() >> PAGE_SHIFT) as usize;
        // SAFETY: By the type invariant, `kaddr` is the direct-map address of the range's first
        // page frame, and the range is mapped, contiguous, made of the pagemap's `ZONE_DEVICE`
        // pages, and stays so until `drop`, which cannot run while `self` is borrowed.
        unsafe { DirectRange::from_raw(self.kaddr, self.first_pfn(), nr_pages, PfnKind::DevMap) }
    }
}

impl<M: DeviceMemory> Drop for DevPagemap<M> {
    fn drop(&mut self) {
        // Pins taken through `get_user_pages()` may outlive every mapping: wait for them first.
        self.wait_idle();
        let (start, size) = (self.memory.start(), self.memory.size());
        // SAFETY: The pagemap was mapped by `memremap_pages` (type invariant) and is unmapped
        // once, here. `memunmap_pages` kills its reference count and waits for the references
        // in flight before it removes the pages.
        unsafe { bindings::memunmap_pages(self.pgmap.get()) };
        // SAFETY: The region was claimed in `new_fsdax` (type invariant) and is released once.
        unsafe {
            bindings::__release_region(
                core::ptr::addr_of_mut!(bindings::iomem_resource),
                start,
                size,
            )
        };
        // SAFETY: `memory` is dropped once, here, after its pages are gone; it is not used after.
        unsafe { ManuallyDrop::drop(&mut self.memory) };
    }
}
