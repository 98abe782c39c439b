// SPDX-License-Identifier: GPL-2.0

//! Memory hotplug: whole memory blocks of RAM taken away from the page allocator at run time,
//! and given back.
//!
//! C headers: [`include/linux/memory_hotplug.h`](srctree/include/linux/memory_hotplug.h),
//! [`include/linux/memory.h`](srctree/include/linux/memory.h)
//!
//! Linux manages RAM in memory blocks of [`block_size`] bytes (128 MiB on x86-64 machines with
//! less than 64 GiB). A block of online RAM can be *offlined* (the pages in use are migrated
//! elsewhere, the free ones leave the free lists) and then *removed* (its `struct page`s, its
//! direct mapping and its "System RAM" entry in `/proc/iomem` go): what `virtio-mem` and ACPI
//! DIMM unplug do with `offline_and_remove_memory()`. The reverse, *add* then *online*, is what
//! `drivers/dax/kmem.c` and `virtio-mem` do to give memory to the system.
//!
//! An [`Unplugged`] is a physical range of whole blocks taken away that way, owned by whoever
//! holds it: nothing else maps it or has `struct page`s for it, so it can be handed to a device
//! pagemap ([`crate::dev_pagemap`]). Dropping it gives the blocks back, online, each in the kind
//! of zone it was in. [`take_blocks`] chooses blocks and takes a number of them, all or nothing.
//!
//! # Which blocks can be taken
//!
//! Offlining a block fails (`EBUSY`) as soon as one of its pages holds an allocation that
//! cannot be migrated: kernel memory (slab, page tables, the kernel image...), which lives in
//! the kernel zones (`ZONE_NORMAL`, `ZONE_DMA32`). `ZONE_MOVABLE` only ever holds movable
//! allocations (user and page cache pages), so its blocks can be offlined whenever the rest of
//! memory can take their contents. A system that is to give blocks away reliably therefore
//! boots with part of its memory in `ZONE_MOVABLE`: `movablecore=SIZE` (or `kernelcore=`) on
//! the kernel command line puts the top SIZE of memory there. Only those blocks are taken:
//! removing boot memory of a kernel zone can crash Linux 6.12 even when offlining it succeeds
//! (see [`Unplugged::take`]).
//!
//! This differs from setting memory aside at boot with `memmap=SIZE!START` (or `mem=`): that
//! memory never belongs to the page allocator, whether it is used or not, and its placement is
//! fixed when the machine boots. Blocks taken here are ordinary RAM until they are taken, and
//! again once given back.
//!
//! Blocks holding reserved pages are never tried: boot-time (memblock) allocations such as the
//! memory map or the KASAN shadow can never be migrated, and memblock puts them at the top of
//! memory, which is where `movablecore=` puts `ZONE_MOVABLE` too; make it larger than those by
//! the size to be taken. Only memory that the kernel manages itself is taken: not blocks that a
//! driver added (`virtio-mem`, `dax/kmem`, marked "driver managed"), not blocks with holes, not
//! blocks that span two zones.
//!
//! Offlining migrates the pages in use, which takes time and free memory elsewhere; it stops
//! with `EINTR` when the calling task gets a signal, so an interrupted `modprobe` gives
//! everything back.

use crate::{
    alloc::{flags::GFP_KERNEL, KVec},
    bindings,
    error::{code::*, to_result, Error, Result},
};
use core::ffi::c_void;

/// Size in bytes of a memory block, the unit of memory hotplug.
///
/// # Examples
///
/// ```
/// use kernel::mem_hotplug;
///
/// let size = mem_hotplug::block_size();
/// assert!(size.is_power_of_two());
/// assert!(size >= 1 << 20);
/// ```
pub fn block_size() -> u64 {
    // SAFETY: `memory_block_size_bytes` has no preconditions.
    unsafe { bindings::memory_block_size_bytes() as u64 }
}

const PAGE_SHIFT: u32 = bindings::PAGE_SHIFT;

/// The kind of zone an online block's pages are in, which decides how it is onlined again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// `ZONE_MOVABLE`: only movable allocations; offlining almost always succeeds.
    Movable,
    /// A kernel zone (`ZONE_NORMAL`, `ZONE_DMA32`...): offlining fails if the block holds any
    /// unmovable allocation.
    Kernel,
}

impl Zone {
    fn online_type(self) -> bindings::mmop {
        match self {
            Zone::Movable => bindings::mmop_MMOP_ONLINE_MOVABLE,
            Zone::Kernel => bindings::mmop_MMOP_ONLINE_KERNEL,
        }
    }
}

/// An online memory block that [`Unplugged::take`] may try to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Physical address of its first byte (a multiple of [`block_size`]).
    pub start: u64,
    /// NUMA node.
    pub nid: i32,
    /// Zone of its pages.
    pub zone: Zone,
    /// Whether the kernel's direct mapping maps it with (part of) a 1 GiB page, which memory
    /// hot-remove cannot split on x86-64 (`remove_pud_table()` would read the page as a page
    /// table): such a block is never taken ([`Unplugged::take`]).
    pub in_gbpage: bool,
}

/// Whether the direct mapping maps the block at `start` with a 1 GiB page (a block lies
/// inside one gigabyte: blocks are at most 1 GiB, aligned to their size).
fn in_gbpage(start: u64) -> bool {
    // SAFETY: The helper only looks the address up in the kernel's page tables.
    unsafe { bindings::xip_direct_map_gbpage(start) }
}

/// The zone and node of the online block at `start`, or `None` if it is not one block of
/// online pages of a single zone, or if it holds reserved pages (which offlining cannot move).
fn probe_block(start: u64) -> Option<(Zone, i32)> {
    let first = (start >> PAGE_SHIFT) as usize;
    let last = ((start + block_size()) >> PAGE_SHIFT) as usize - 1;
    // SAFETY: `pfn_to_online_page` accepts any pfn; it returns the page only if its section is
    // online (and so has a valid `struct page`), else null.
    let (p, q) = unsafe {
        (bindings::pfn_to_online_page(first as _), bindings::pfn_to_online_page(last as _))
    };
    if p.is_null() || q.is_null() {
        return None;
    }
    // SAFETY: `p` and `q` are online pages, whose `struct page`s stay valid at least as long as
    // the block stays online; reading their zone and node only reads their flags.
    let (zp, zq, nid) = unsafe {
        (
            bindings::xip_page_zonenum(p),
            bindings::xip_page_zonenum(q),
            bindings::xip_page_nid(p),
        )
    };
    if zp != zq {
        return None;
    }
    // SAFETY: The helper only reads the flags of the pages it finds online.
    if unsafe { bindings::xip_range_has_reserved(first as _, (last - first + 1) as _) } {
        return None;
    }
    let zone = if zp as u32 == bindings::zone_type_ZONE_MOVABLE {
        Zone::Movable
    } else {
        Zone::Kernel
    };
    Some((zone, nid))
}

/// Calls `f(start, end, flags)` for each "System RAM" resource of `/proc/iomem` (inclusive end).
fn for_each_system_ram(mut f: impl FnMut(u64, u64, u64) -> Result) -> Result {
    unsafe extern "C" fn callback(res: *mut bindings::resource, arg: *mut c_void) -> i32 {
        // SAFETY: `arg` is the `&mut dyn FnMut` passed below, alive for the whole walk.
        let f = unsafe { &mut *arg.cast::<&mut dyn FnMut(u64, u64, u64) -> Result>() };
        // SAFETY: The walk passes a copy of the resource, valid during the call.
        let (start, end, flags) = unsafe { ((*res).start, (*res).end, (*res).flags) };
        match f(start, end, flags as u64) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
    let mut f: &mut dyn FnMut(u64, u64, u64) -> Result = &mut f;
    // SAFETY: `callback` matches the walk's callback type and `arg` points to `f`, which lives
    // until the walk returns. The walk calls back without holding the resource lock.
    let ret = unsafe {
        bindings::walk_iomem_res_desc(
            bindings::IORES_DESC_NONE as _,
            (bindings::IORESOURCE_SYSTEM_RAM | bindings::IORESOURCE_BUSY) as _,
            0,
            u64::MAX,
            (&mut f as *mut &mut dyn FnMut(u64, u64, u64) -> Result).cast(),
            Some(callback),
        )
    };
    // The walk returns -EINVAL when it found nothing at all.
    if ret < 0 && ret != EINVAL.to_errno() {
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// The online blocks that could be taken, in address order: whole blocks of online "System
/// RAM" that the kernel manages itself (not "driver managed" memory), each in a single zone.
///
/// # Examples
///
/// ```
/// use kernel::mem_hotplug::{self, Zone};
///
/// let blocks = mem_hotplug::online_blocks()?;
/// // The kernel runs from blocks of a kernel zone.
/// assert!(blocks.iter().any(|b| b.zone == Zone::Kernel));
/// assert!(blocks.windows(2).all(|w| w[0].start < w[1].start));
/// assert!(blocks.iter().all(|b| b.start % mem_hotplug::block_size() == 0));
/// # Ok::<(), Error>(())
/// ```
pub fn online_blocks() -> Result<KVec<Block>> {
    let size = block_size();
    let mut blocks = KVec::new();
    for_each_system_ram(|start, end, flags| {
        if flags & bindings::IORESOURCE_SYSRAM_DRIVER_MANAGED as u64 != 0 {
            return Ok(());
        }
        let mut b = start.div_ceil(size) * size;
        while b.checked_add(size).map_or(false, |e| e - 1 <= end) {
            if let Some((zone, nid)) = probe_block(b) {
                let in_gbpage = in_gbpage(b);
                blocks.push(Block { start: b, nid, zone, in_gbpage }, GFP_KERNEL)?;
            }
            b += size;
        }
        Ok(())
    })?;
    Ok(blocks)
}

/// Whole memory blocks taken away from the page allocator: offline and removed.
///
/// The range has no `struct page`s, no direct mapping and no entry in `/proc/iomem`; nothing
/// else uses it while this object exists. Dropping it gives the blocks back: added again as
/// "System RAM" and onlined, each into the kind of zone it was taken from, whatever the
/// system's default for new memory (`memhp_default_state=`) is.
///
/// # Invariants
///
/// `[start, start + zones.len() * block_size())` was offlined and removed by this object
/// (`offline_and_remove_memory`), block `i` was in zone `zones[i]` on node `nid`, and it has not
/// been added back. (`zones` is empty only in an object whose blocks [`Unplugged::join`] moved
/// to another one.)
pub struct Unplugged {
    start: u64,
    nid: i32,
    zones: KVec<Zone>,
}

impl Unplugged {
    /// Takes the online block at physical address `start` away from the page allocator.
    ///
    /// Only blocks of `ZONE_MOVABLE` are taken. Removing boot memory of a kernel zone is not
    /// safe on Linux 6.12: offlining can succeed while the block still backs early page
    /// tables, and `remove_pagetable()` then reads and frees page-table pages that other
    /// mappings still use (seen on x86-64 in a 3 GiB guest without `movablecore=`: a KASAN
    /// use-after-free in `remove_pagetable`, then `BUG` in `__free_pages`). Movable memory holds
    /// no kernel allocations by construction.
    ///
    /// Blocks the kernel's direct mapping maps with 1 GiB pages (boot memory on most x86-64
    /// machines, unless booted with `nogbpages`) are not taken either: x86-64's hot-remove
    /// cannot split such a page, and removing one block of it crashes the kernel.
    ///
    /// Fails, leaving the block as it was, with `EINVAL` if `start` is not the start of a block
    /// of online, kernel-managed RAM of `ZONE_MOVABLE`, `EOPNOTSUPP` if the direct mapping maps
    /// it with a 1 GiB page, `EBUSY` if it holds pages that cannot
    /// be migrated, `EINTR` if the calling task got a signal meanwhile, or another error from
    /// `offline_and_remove_memory()`.
    pub fn take(start: u64) -> Result<Self> {
        let size = block_size();
        if start % size != 0 {
            return Err(EINVAL);
        }
        let (zone, nid) = probe_block(start).ok_or(EINVAL)?;
        if zone != Zone::Movable {
            return Err(EINVAL);
        }
        if in_gbpage(start) {
            return Err(EOPNOTSUPP);
        }
        let mut managed = true;
        let mut covered = 0u64;
        for_each_system_ram(|s, e, flags| {
            let (lo, hi) = (s.max(start), e.min(start + size - 1));
            if lo <= hi {
                covered += hi - lo + 1;
                managed &= flags & bindings::IORESOURCE_SYSRAM_DRIVER_MANAGED as u64 == 0;
            }
            Ok(())
        })?;
        if covered != size || !managed {
            return Err(EINVAL);
        }
        let mut zones = KVec::with_capacity(1, GFP_KERNEL)?;
        zones.push(zone, GFP_KERNEL)?;
        // SAFETY: The range is one whole, aligned memory block. `offline_and_remove_memory` takes
        // the hotplug locks itself and either offlines and removes all of it or puts back online
        // what it offlined.
        to_result(unsafe { bindings::offline_and_remove_memory(start, size) })?;
        // INVARIANT: The block was just offlined and removed, from zone `zone` of node `nid`.
        Ok(Self { start, nid, zones })
    }

    /// Physical address of the first byte.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.zones.len() as u64 * block_size()
    }

    /// NUMA node the memory was on.
    pub fn nid(&self) -> i32 {
        self.nid
    }

    /// Number of blocks.
    pub fn nr_blocks(&self) -> usize {
        self.zones.len()
    }

    /// Appends `other` if it starts where `self` ends, or prepends it if it ends where `self`
    /// starts (same node), making one range; otherwise hands it back.
    pub fn join(&mut self, mut other: Unplugged) -> Result<(), Unplugged> {
        if other.nid != self.nid {
            return Err(other);
        }
        let (low, high) = if self.start + self.size() == other.start {
            (&mut *self, &mut other)
        } else if other.start + other.size() == self.start {
            (&mut other, &mut *self)
        } else {
            return Err(other);
        };
        let mut zones = match KVec::with_capacity(low.zones.len() + high.zones.len(), GFP_KERNEL) {
            Ok(z) => z,
            Err(_) => return Err(other),
        };
        for z in low.zones.iter().chain(high.zones.iter()) {
            // Cannot fail: the capacity is reserved.
            if zones.push(*z, GFP_KERNEL).is_err() {
                return Err(other);
            }
        }
        // INVARIANT: `self` now covers both ranges, which are adjacent and on the same node;
        // `other` owns no block any more, so dropping it gives nothing back.
        self.start = low.start;
        self.zones = zones;
        other.zones = KVec::new();
        Ok(())
    }
}

impl Drop for Unplugged {
    fn drop(&mut self) {
        let size = block_size();
        let mut i = 0;
        while i < self.zones.len() {
            // One call per run of blocks of the same zone.
            let zone = self.zones[i];
            let mut n = 1;
            while i + n < self.zones.len() && self.zones[i + n] == zone {
                n += 1;
            }
            let start = self.start + i as u64 * size;
            let len = n as u64 * size;
            let mut online_ret = 0;
            // SAFETY: By the type invariant the range was removed by us and not added back since;
            // it is whole blocks. `add_memory_online` takes the hotplug locks itself.
            let ret = unsafe {
                bindings::add_memory_online(self.nid, start, len, zone.online_type(), &mut online_ret)
            };
            if ret < 0 {
                crate::pr_err!(
                    "memory hotplug: cannot give back [mem {:#x}-{:#x}]: error {}; it is lost until reboot\n",
                    start,
                    start + len - 1,
                    ret
                );
            } else if online_ret < 0 {
                crate::pr_warn!(
                    "memory hotplug: [mem {:#x}-{:#x}] given back but not all online (error {}); see /sys/devices/system/memory\n",
                    start,
                    start + len - 1,
                    online_ret
                );
            }
            i += n;
        }
    }
}

/// Why [`take_blocks`] could not take all the blocks asked for (it gave back those it took).
#[derive(Debug)]
pub struct Shortfall {
    /// Blocks asked for.
    pub wanted: usize,
    /// Online blocks that could have been tried ([`online_blocks`]).
    pub candidates: usize,
    /// Of which in `ZONE_MOVABLE`.
    pub movable: usize,
    /// Of the movable ones, how many the direct mapping maps with 1 GiB pages (never taken).
    pub in_gbpages: usize,
    /// Blocks that were taken before giving up.
    pub taken: usize,
    /// The error of the last block that could not be taken, or `ENOSPC` if there were not
    /// enough candidates.
    pub error: Error,
}

impl From<Shortfall> for Error {
    /// `EINTR` if the task got a signal, `ENOMEM` if memory ran out, else `EBUSY` (the memory
    /// is there, but not enough of it can be taken).
    fn from(s: Shortfall) -> Error {
        if s.error == EINTR || s.error == ENOMEM {
            s.error
        } else {
            EBUSY
        }
    }
}

/// Takes `nr_blocks` memory blocks away from the page allocator, all or none.
///
/// Only blocks of `ZONE_MOVABLE` are tried (see [`Unplugged::take`]), from the highest address
/// down, so that blocks taken one after the other are adjacent and join into long ranges. Returns the ranges in address order. If fewer than `nr_blocks` can be
/// taken (or the task gets a signal), gives back those it took and says why.
pub fn take_blocks(nr_blocks: usize) -> Result<KVec<Unplugged>, Shortfall> {
    let mut short = Shortfall {
        wanted: nr_blocks,
        candidates: 0,
        movable: 0,
        in_gbpages: 0,
        taken: 0,
        error: ENOSPC,
    };
    let mut blocks = online_blocks().map_err(|e| Shortfall { error: e, ..short })?;
    short.candidates = blocks.len();
    short.movable = blocks.iter().filter(|b| b.zone == Zone::Movable).count();
    short.in_gbpages = blocks.iter().filter(|b| b.zone == Zone::Movable && b.in_gbpage).count();
    if short.movable - short.in_gbpages < nr_blocks {
        // Not enough candidates: nothing is tried (no block offlined for nothing).
        return Err(short);
    }
    // Highest first.
    blocks.sort_unstable_by(|a, b| b.start.cmp(&a.start));
    let mut ranges: KVec<Unplugged> = KVec::new();
    for b in blocks.iter().filter(|b| b.zone == Zone::Movable && !b.in_gbpage) {
        if short.taken == nr_blocks {
            break;
        }
        match Unplugged::take(b.start) {
            Ok(u) => {
                short.taken += 1;
                // Join it to a range it touches, if any, else it starts a range of its own.
                let mut left = Some(u);
                for r in ranges.iter_mut() {
                    if let Some(u) = left.take() {
                        left = r.join(u).err();
                    }
                }
                if let Some(u) = left {
                    // On failure the block is dropped, i.e. given back, with all the others.
                    if ranges.push(u, GFP_KERNEL).is_err() {
                        short.error = ENOMEM;
                        return Err(short);
                    }
                }
            }
            Err(e) => {
                short.error = e;
                if e == EINTR {
                    return Err(short);
                }
            }
        }
    }
    if short.taken < nr_blocks {
        return Err(short);
    }
    ranges.sort_unstable_by(|a, b| a.start.cmp(&b.start));
    Ok(ranges)
}
