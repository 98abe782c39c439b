// SPDX-License-Identifier: GPL-2.0

//! xipram: a RAM block device that offers DAX.
//!
//! - `modprobe xipram [nr_devices=N] [size_mib=M]` creates `/dev/xipram0` .. `/dev/xipram{N-1}`,
//!   each of `M` MiB, with all their memory allocated (and zeroed) at load time.
//! - Bio-based like brd: reads, writes, flushes (nothing to do: RAM has no cache to flush),
//!   discards and write-zeroes (both zero the range; the memory stays allocated). Discards are
//!   refused (`EOPNOTSUPP`, one log line every few seconds) while a filesystem holds the
//!   device through DAX (xipfs): `BLKDISCARD` on a mounted device must not zero it.
//! - DAX: each disk hosts a DAX device whose `direct_access` hands out the kernel address and
//!   pfn of the device memory, as many contiguous pages as the memory run allows, without ever
//!   sleeping; `zero_page_range` zeroes. RAM has no poison, so there is no `recovery_write`.
//! - All devices' memory is allocated before any disk is added: a load either creates every
//!   device or none. The memory is owned by the disks and freed only when the last user of a
//!   disk is gone (the block layer abstraction sees to it).
//! - Memory comes in physically contiguous runs of up to 2 MiB (order-9 allocations), falling
//!   back to smaller runs when memory is fragmented, so that DAX users get long runs.
//! - The module cannot be unloaded while a device is open or mounted.
//! - Two memory models (`memory_model=`): `pages`, ordinary pages from the page allocator, or
//!   `devmap`, whole memory blocks taken away from the system at load (offlined and removed,
//!   movable ones first) and given `ZONE_DEVICE` pages as an fsdax pagemap, so that
//!   `direct_access` hands out devmap pfns as pmem does; rmmod gives the blocks back online.
//!   `auto` (the default) is `devmap` when the size is whole blocks and the blocks can be had,
//!   else `pages`, saying why in one line.

use kernel::{
    alloc::flags::{GFP_KERNEL, __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_ZERO},
    block::bio::{self, Bio, DiskBuilder, Op, Segment, SECTOR_SIZE},
    c_str,
    contig_pages::{self, ContigPages, DirectMemory, DirectRange, PAGE_SIZE},
    dax, fmt,
    prelude::*,
    str::CStr,
    sync::Arc,
    time::Ktime,
};
use core::sync::atomic::{AtomicI64, Ordering};
#[cfg(CONFIG_ZONE_DEVICE)]
use kernel::{dev_pagemap::DevPagemap, mem_hotplug};

module! {
    type: XipRamModule,
    name: "xipram",
    author: "The xipdax developers",
    description: "RAM block device with DAX (direct access) for execute-in-place filesystems",
    license: "GPL",
}

kernel::module_param!(module: "xipram", NR_DEVICES: nr_devices: u32 = 1,
    "Number of devices /dev/xipramN to create, 1 to 256 (default 1)");
kernel::module_param!(module: "xipram", SIZE_MIB: size_mib: u64 = 64,
    "Size of each device in MiB, allocated at load time (default 64); devmap rounds it up to whole memory blocks");
kernel::module_param!(module: "xipram", MEMORY_MODEL: memory_model: charp = c_str!("auto"),
    "Memory of the devices: pages (from the page allocator), devmap (whole memory blocks taken from the system, ZONE_DEVICE pages), or auto (default: devmap if the size is whole blocks and they can be had, else pages)");

/// Most devices one load may create.
const MAX_DEVICES: u32 = 256;

/// Order of the largest memory run: 2 MiB, the PMD size on x86-64.
const RUN_ORDER: u32 = 9;

/// Bytes in a MiB.
const MIB: u64 = 1 << 20;

/// Largest discard or write-zeroes bio: 8 MiB, so that zeroing one bio stays short.
const MAX_ZEROING_SECTORS: u32 = (8 * MIB / SECTOR_SIZE as u64) as u32;

/// What one run of device memory is made of.
enum RunMemory {
    /// Ordinary pages from the page allocator.
    Pages(ContigPages),
    /// `ZONE_DEVICE` pages over memory blocks taken away from the system.
    #[cfg(CONFIG_ZONE_DEVICE)]
    DevMap(DevPagemap<mem_hotplug::Unplugged>),
}

impl DirectMemory for RunMemory {
    fn whole(&self) -> DirectRange<'_> {
        match self {
            RunMemory::Pages(p) => p.whole(),
            #[cfg(CONFIG_ZONE_DEVICE)]
            RunMemory::DevMap(d) => d.whole(),
        }
    }
}

/// One physically contiguous run of the device's memory.
struct Run {
    /// Device page number of the run's first page.
    first: usize,
    pages: RunMemory,
}

/// How the device memory is had: the `memory_model` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Auto,
    DevMap,
    Pages,
}

impl Model {
    fn parse(s: &CStr) -> Result<Self> {
        match s.as_bytes() {
            b"auto" => Ok(Model::Auto),
            b"devmap" => Ok(Model::DevMap),
            b"pages" => Ok(Model::Pages),
            _ => {
                pr_err!("memory_model={}: must be auto, devmap or pages\n", s);
                Err(EINVAL)
            }
        }
    }
}

/// The memory of one device: runs of contiguous pages, in device order.
struct Memory {
    runs: KVec<Run>,
    nr_pages: usize,
}

impl Memory {
    /// Allocates `nr_pages` zeroed pages in runs of at most `2^max_order` pages.
    ///
    /// Fails with `ENOMEM` (without waking the OOM killer) if the memory is not there.
    fn new(nr_pages: usize, max_order: u32) -> Result<Self> {
        let mut runs = KVec::new();
        let mut first = 0;
        let mut order = max_order;
        while first < nr_pages {
            // The largest run that fits what is left...
            while order > 0 && (1usize << order) > nr_pages - first {
                order -= 1;
            }
            // ...or a smaller one when memory is too fragmented for it.
            match ContigPages::alloc(
                order,
                GFP_KERNEL | __GFP_ZERO | __GFP_RETRY_MAYFAIL | __GFP_NOWARN,
            ) {
                Ok(pages) => {
                    let n = pages.nr_pages();
                    runs.push(Run { first, pages: RunMemory::Pages(pages) }, GFP_KERNEL)?;
                    first += n;
                    // Gigabytes are thousands of runs, each zeroed: let others run (without
                    // it, a 2304 MiB device under TCG stalled RCU for 26 s at modprobe).
                    kernel::xip_util::cond_resched();
                }
                Err(_) if order > 0 => order -= 1,
                Err(_) => return Err(ENOMEM),
            }
        }
        Ok(Self { runs, nr_pages })
    }

    /// Takes `nr_blocks` whole memory blocks away from the system and makes them `ZONE_DEVICE`
    /// pages, all or none: on failure, whatever was taken is given back.
    #[cfg(CONFIG_ZONE_DEVICE)]
    fn devmap(nr_blocks: usize) -> Result<Self, DevMapError> {
        let ranges = mem_hotplug::take_blocks(nr_blocks).map_err(DevMapError::Blocks)?;
        let mut runs = KVec::with_capacity(ranges.len(), GFP_KERNEL).map_err(|e| DevMapError::Pagemap(e.into()))?;
        let mut first = 0;
        // Dropping `runs` or the ranges left (on an error) gives their blocks back.
        for range in ranges {
            let pages = DevPagemap::new_fsdax(range, c_str!("xipram")).map_err(DevMapError::Pagemap)?;
            let n = pages.nr_pages();
            runs.push(Run { first, pages: RunMemory::DevMap(pages) }, GFP_KERNEL)
                .map_err(|e| DevMapError::Pagemap(e.into()))?;
            first += n;
        }
        let memory = Self { runs, nr_pages: first };
        // The blocks hold whatever their last users left in them: zero them, as the page
        // allocator's memory is (`__GFP_ZERO`), so that a new device reads zeros and shows
        // nothing of the system's old pages. 2 MiB at a time, yielding in between.
        let chunk = 2 * MIB;
        let mut offset = 0;
        while offset < memory.len() {
            let len = chunk.min(memory.len() - offset) as usize;
            memory.zero(offset, len).map_err(DevMapError::Pagemap)?;
            kernel::xip_util::cond_resched();
            offset += len as u64;
        }
        Ok(memory)
    }

    fn len(&self) -> u64 {
        (self.nr_pages * PAGE_SIZE) as u64
    }

    /// What the memory is, for the log.
    fn model(&self) -> &'static str {
        match self.runs.first().map(|r| &r.pages) {
            #[cfg(CONFIG_ZONE_DEVICE)]
            Some(RunMemory::DevMap(_)) => "ZONE_DEVICE (devmap)",
            _ => "page allocator",
        }
    }

    /// The run holding device page `pgoff`.
    fn run(&self, pgoff: usize) -> Result<&Run> {
        if pgoff >= self.nr_pages {
            return Err(ERANGE);
        }
        let i = match self.runs.binary_search_by(|r| r.first.cmp(&pgoff)) {
            Ok(i) => i,
            Err(i) => i - 1, // `runs[0].first == 0 <= pgoff`, so `i >= 1`.
        };
        Ok(&self.runs[i])
    }

    /// Calls `f(run, offset in run, position in the range, length)` for each piece of the
    /// byte range `[offset, offset + len)` of the device, which may span runs.
    fn for_each_piece(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(&RunMemory, usize, usize, usize) -> Result,
    ) -> Result {
        let end = offset.checked_add(len as u64).ok_or(ERANGE)?;
        if end > self.len() {
            return Err(ERANGE);
        }
        let mut done = 0;
        while done < len {
            let pos = offset as usize + done;
            let run = self.run(pos / PAGE_SIZE)?;
            let in_run = pos - run.first * PAGE_SIZE;
            let n = (len - done).min(run.pages.len() - in_run);
            f(&run.pages, in_run, done, n)?;
            done += n;
        }
        Ok(())
    }

    /// Copies the device's bytes at `offset` into a read bio's segment: one copy per run the
    /// segment spans.
    fn read_segment(&self, offset: u64, seg: &mut Segment<'_>) -> Result {
        self.for_each_piece(offset, seg.len(), |pages, at, pos, n| {
            seg.copy_from_pages(pos, pages, at, n)
        })
    }

    /// Copies a write bio's segment into the device at `offset`.
    fn write_segment(&self, offset: u64, seg: &Segment<'_>) -> Result {
        self.for_each_piece(offset, seg.len(), |pages, at, pos, n| {
            seg.copy_to_pages(pos, pages, at, n)
        })
    }

    fn zero(&self, offset: u64, len: usize) -> Result {
        self.for_each_piece(offset, len, |pages, at, _, n| pages.zero(at, n))
    }
}

impl bio::Operations for Memory {
    fn submit_bio(&self, bio: &Bio<'_>) -> Result {
        let start = bio.offset();
        match bio.op() {
            Op::Read => bio.for_each_segment(|seg, pos| self.read_segment(start + pos as u64, seg)),
            Op::Write => bio.for_each_segment(|seg, pos| self.write_segment(start + pos as u64, seg)),
            // Writes land in RAM directly: there is no volatile cache to flush.
            Op::Flush => Ok(()),
            // A filesystem that holds the DAX device (xipfs) reads and writes the memory
            // directly and never discards through the block layer: a discard now is a user's
            // BLKDISCARD on the mounted device, which would zero it under the filesystem.
            // (Write-zeroes is not refused: BLKZEROOUT falls back to plain writes, which the
            // kernel allows on mounted devices unless booted with bdev_allow_write_mounted=0.)
            Op::Discard if bio.dax_held() => {
                refusal_log(bio);
                Err(EOPNOTSUPP)
            }
            // The memory stays allocated (it was all allocated at load); reads of a discarded
            // range return zeroes, as with brd.
            Op::Discard | Op::WriteZeroes => self.zero(start, bio.len()),
            Op::Other(_) => Err(EOPNOTSUPP),
        }
        .map_err(|e| if e == EOPNOTSUPP { e } else { EIO })
    }
}

impl dax::Operations for Memory {
    fn direct_access(&self, pgoff: u64, nr_pages: usize) -> Result<DirectRange<'_>> {
        let pgoff = usize::try_from(pgoff).map_err(|_| ERANGE)?;
        let run = self.run(pgoff)?;
        let index = pgoff - run.first;
        let n = nr_pages.min(run.pages.nr_pages() - index);
        run.pages.direct(index, n)
    }

    fn zero_page_range(&self, pgoff: u64, nr_pages: usize) -> Result {
        let len = nr_pages.checked_mul(PAGE_SIZE).ok_or(ERANGE)?;
        let offset = pgoff.checked_mul(PAGE_SIZE as u64).ok_or(ERANGE)?;
        self.zero(offset, len)
    }
}

/// When a refused discard was last logged (`ktime_get` nanoseconds; 0: never).
static LAST_REFUSAL_LOG: AtomicI64 = AtomicI64::new(0);

/// Logs a refused discard, at most once every 5 seconds: one `BLKDISCARD` is split into many
/// bios.
fn refusal_log(bio: &Bio<'_>) {
    let now = Ktime::ktime_get().to_ns();
    let last = LAST_REFUSAL_LOG.load(Ordering::Relaxed);
    if (last == 0 || now - last >= 5_000_000_000)
        && LAST_REFUSAL_LOG
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        pr_warn!(
            "{}: discard refused: a filesystem holds the device through DAX (unmount it first)\n",
            bio.disk_name()
        );
    }
}

type XipDisk = bio::Disk<Memory, Memory>;

/// The operations of xipram's disks, owned by this module.
static DISK_OPS: bio::DiskVTable<Memory, Memory> = bio::DiskVTable::new(&THIS_MODULE);

/// Makes (without adding it) the device named `{prefix}{index}` over `memory`.
fn new_device(prefix: &str, index: u32, memory: Memory) -> Result<bio::NewDisk<Memory, Memory>> {
    let memory = Arc::new(memory, GFP_KERNEL)?;
    let dax = dax::Device::new(memory.clone())?;
    DiskBuilder::new()
        .capacity_sectors(memory.len() / SECTOR_SIZE as u64)
        .physical_block_size(PAGE_SIZE as u32)?
        .max_discard_sectors(MAX_ZEROING_SECTORS)
        .max_write_zeroes_sectors(MAX_ZEROING_SECTORS)
        .nowait(true)
        .build(fmt!("{}{}", prefix, index), &DISK_OPS, memory, Some(dax))
}

/// Creates `nr_devices` devices named `{prefix}0`, `{prefix}1`..., all or none.
///
/// `memory(i)` provides the memory of device `i`. Every device's memory and disk are made
/// before any disk is added, so that a failure (typically no memory for a device) leaves no
/// device behind and no device can have been opened, mounted or mapped in the meantime. Only
/// the adding itself can still fail after a device is visible; the devices already added are
/// then deleted again (their memory is freed once their last user is gone).
fn create_devices(
    prefix: &str,
    nr_devices: u32,
    mut memory: impl FnMut(u32) -> Result<Memory>,
) -> Result<KVec<XipDisk>> {
    let report = |i: u32, e: &Error| {
        pr_err!("{}{}: cannot create the device: error {}\n", prefix, i, e.to_errno())
    };
    let n = nr_devices as usize;
    let mut new = KVec::with_capacity(n, GFP_KERNEL)?;
    for i in 0..nr_devices {
        let disk = memory(i)
            .and_then(|m| new_device(prefix, i, m))
            .inspect_err(|e| report(i, e))?;
        new.push(disk, GFP_KERNEL)?;
    }
    let mut disks = KVec::with_capacity(n, GFP_KERNEL)?;
    for (i, disk) in (0..).zip(new) {
        let disk = disk.add().inspect_err(|e| report(i, e))?;
        let runs = disk.data().runs.len();
        pr_info!(
            "{}: {} MiB of {} memory in {} contiguous run(s), DAX enabled\n",
            disk.name(),
            disk.data().len() / MIB,
            disk.data().model(),
            runs,
        );
        disks.push(disk, GFP_KERNEL)?;
    }
    Ok(disks)
}

/// Checks the module parameters; returns the number of devices and pages per device.
fn parse_params(nr_devices: u32, size_mib: u64) -> Result<(u32, usize)> {
    if nr_devices == 0 || nr_devices > MAX_DEVICES {
        pr_err!("nr_devices={}: must be 1 to {}\n", nr_devices, MAX_DEVICES);
        return Err(EINVAL);
    }
    if size_mib == 0 {
        pr_err!("size_mib=0: a device needs at least 1 MiB\n");
        return Err(EINVAL);
    }
    let total_pages = size_mib
        .checked_mul(MIB / PAGE_SIZE as u64)
        .and_then(|p| p.checked_mul(nr_devices as u64));
    let available = contig_pages::available_pages() as u64;
    match total_pages {
        Some(total) if total <= available => {
            Ok((nr_devices, (size_mib * (MIB / PAGE_SIZE as u64)) as usize))
        }
        _ => {
            pr_err!(
                "nr_devices={} size_mib={}: needs more memory than is available ({} MiB)\n",
                nr_devices,
                size_mib,
                available * PAGE_SIZE as u64 / MIB
            );
            Err(ENOMEM)
        }
    }
}

/// Why devmap memory could not be had.
#[cfg(CONFIG_ZONE_DEVICE)]
enum DevMapError {
    /// Not enough memory blocks could be taken (all were given back).
    Blocks(mem_hotplug::Shortfall),
    /// The blocks were taken but could not be given pages (they were given back).
    Pagemap(Error),
}

#[cfg(CONFIG_ZONE_DEVICE)]
impl DevMapError {
    fn error(self) -> Error {
        match self {
            DevMapError::Blocks(s) => s.into(),
            DevMapError::Pagemap(e) => e,
        }
    }

    /// Says why, after `prefix`, in one line.
    fn report(&self, prefix: core::fmt::Arguments<'_>) {
        match self {
            DevMapError::Blocks(s) if s.error == EINTR => {
                pr_err!("{}: interrupted while taking memory blocks; all given back\n", prefix)
            }
            DevMapError::Blocks(s) if s.in_gbpages > 0 => pr_err!(
                "{}: needs {} memory blocks of {} MiB, could take {} ({} online, {} movable, of which {} in 1 GiB kernel mappings, which memory hot-remove cannot split; last error {}); all given back (boot with nogbpages, and movablecore=, to have blocks that can be taken)\n",
                prefix,
                s.wanted,
                mem_hotplug::block_size() / MIB,
                s.taken,
                s.candidates,
                s.movable,
                s.in_gbpages,
                s.error.to_errno()
            ),
            DevMapError::Blocks(s) => pr_err!(
                "{}: needs {} memory blocks of {} MiB, could take {} ({} online, {} movable, and only movable ones are taken; last error {}); all given back (boot with movablecore= to have blocks that can be taken)\n",
                prefix,
                s.wanted,
                mem_hotplug::block_size() / MIB,
                s.taken,
                s.candidates,
                s.movable,
                s.error.to_errno()
            ),
            DevMapError::Pagemap(e) => pr_err!(
                "{}: cannot make ZONE_DEVICE pages for the memory blocks taken (error {}); all given back\n",
                prefix,
                e.to_errno()
            ),
        }
    }
}

/// The memory of `nr_devices` devices of `nr_pages` pages each in the model asked for, all of
/// it or none.
fn device_memory(model: Model, nr_devices: u32, nr_pages: usize) -> Result<KVec<Memory>> {
    let mut all = KVec::with_capacity(nr_devices as usize, GFP_KERNEL)?;
    if model != Model::Pages {
        match devmap_memory(model, nr_devices, nr_pages, &mut all) {
            Ok(true) => return Ok(all),
            Ok(false) => all = KVec::new(), // auto, falling back to pages: nothing was taken.
            Err(e) => return Err(e),
        }
    }
    for i in 0..nr_devices {
        let m = Memory::new(nr_pages, RUN_ORDER).inspect_err(|e| {
            pr_err!("xipram{}: cannot allocate its memory: error {}\n", i, e.to_errno())
        })?;
        all.push(m, GFP_KERNEL)?;
    }
    Ok(all)
}

/// Fills `all` with devmap memory; `Ok(false)` when `auto` should use pages instead (said why).
#[cfg(CONFIG_ZONE_DEVICE)]
fn devmap_memory(model: Model, nr_devices: u32, nr_pages: usize, all: &mut KVec<Memory>) -> Result<bool> {
    let block = mem_hotplug::block_size();
    let block_pages = (block / PAGE_SIZE as u64) as usize;
    let size_mib = (nr_pages * PAGE_SIZE) as u64 / MIB;
    let nr_blocks = nr_pages.div_ceil(block_pages);
    if nr_pages % block_pages != 0 {
        if model == Model::Auto {
            pr_info!(
                "memory_model=auto: using pages: size_mib={} is not a whole number of {} MiB memory blocks\n",
                size_mib,
                block / MIB
            );
            return Ok(false);
        }
        pr_info!(
            "memory_model=devmap: size_mib={} rounded up to {} MiB, whole {} MiB memory blocks\n",
            size_mib,
            nr_blocks as u64 * block / MIB,
            block / MIB
        );
        let total = (nr_blocks * block_pages) as u64 * nr_devices as u64;
        let available = contig_pages::available_pages() as u64;
        if total > available {
            pr_err!(
                "nr_devices={} size_mib={}: needs more memory than is available ({} MiB)\n",
                nr_devices,
                size_mib,
                available * PAGE_SIZE as u64 / MIB
            );
            return Err(ENOMEM);
        }
    }
    let t0 = kernel::time::Ktime::ktime_get();
    for i in 0..nr_devices {
        match Memory::devmap(nr_blocks) {
            Ok(m) => all.push(m, GFP_KERNEL)?,
            Err(e) => {
                // Dropping `all` gives back what the devices before this one took.
                *all = KVec::new();
                if model == Model::Auto && !matches!(&e, DevMapError::Blocks(s) if s.error == EINTR) {
                    e.report(fmt!("memory_model=auto: using pages: xipram{}", i));
                    return Ok(false);
                }
                e.report(fmt!("memory_model=devmap: xipram{}", i));
                return Err(e.error());
            }
        }
    }
    let ms = kernel::time::ktime_ms_delta(kernel::time::Ktime::ktime_get(), t0);
    pr_info!(
        "took {} memory blocks ({} MiB) from the system in {} ms\n",
        nr_blocks * nr_devices as usize,
        nr_blocks as u64 * nr_devices as u64 * block / MIB,
        ms
    );
    Ok(true)
}

#[cfg(not(CONFIG_ZONE_DEVICE))]
fn devmap_memory(model: Model, _: u32, _: usize, _: &mut KVec<Memory>) -> Result<bool> {
    if model == Model::Auto {
        pr_info!("memory_model=auto: using pages: this kernel has no ZONE_DEVICE\n");
        return Ok(false);
    }
    pr_err!("memory_model=devmap: this kernel has no ZONE_DEVICE (CONFIG_ZONE_DEVICE)\n");
    Err(EINVAL)
}

struct XipRamModule {
    _disks: KVec<XipDisk>,
}

impl kernel::Module for XipRamModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let (nr_devices, nr_pages) = parse_params(NR_DEVICES.get(), SIZE_MIB.get())?;
        let model = Model::parse(MEMORY_MODEL.get_str())?;
        let mut memory = device_memory(model, nr_devices, nr_pages)?.into_iter();
        let disks = create_devices("xipram", nr_devices, |_| memory.next().ok_or(ENOMEM))?;
        Ok(Self { _disks: disks })
    }
}

#[cfg(CONFIG_XIPRAM_KUNIT_TEST)]
mod tests;
