// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `xipram`: the memory layout, the DAX operations and device creation, run when
//! the module loads.

use super::*;
use kernel::{
    c_str, kunit_expect, kunit_expect_eq,
    kunit_suite::Test,
    new_condvar, new_mutex,
    str::CStr,
    sync::{CondVar, CondVarTimeoutResult, Mutex},
    time::msecs_to_jiffies,
    workqueue,
};

/// Memory of `nr_pages` in runs of at most `2^order` pages, or a failed test.
fn memory(t: &mut Test, nr_pages: usize, order: u32) -> Option<Memory> {
    let m = Memory::new(nr_pages, order);
    kunit_expect!(t, m.is_ok(), "allocating {} pages", nr_pages);
    m.ok()
}

/// A DAX device over `m`, or a failed test.
fn dax_device(t: &mut Test, m: Memory) -> Option<dax::Device<Memory>> {
    let dev = Arc::new(m, GFP_KERNEL).ok().and_then(|m| dax::Device::new(m).ok());
    kunit_expect!(t, dev.is_some(), "no DAX device");
    dev
}

/// The driver's own answer: (kaddr, pfn, pages).
fn da(m: &Memory, pgoff: u64, nr: usize) -> Result<(usize, usize, usize)> {
    let r = <Memory as dax::Operations>::direct_access(m, pgoff, nr)?;
    Ok((r.kaddr() as usize, r.pfn(), r.nr_pages()))
}

/// Writes `buf` at byte `offset` the way the block path does: cut at run boundaries, one copy
/// per piece (`Memory::for_each_piece`, as `write_segment`).
fn block_write(m: &Memory, offset: u64, buf: &[u8]) -> Result {
    m.for_each_piece(offset, buf.len(), |pages, at, pos, n| pages.write(at, &buf[pos..pos + n]))
}

/// Reads into `buf` from byte `offset` the way the block path does (as `read_segment`).
fn block_read(m: &Memory, offset: u64, buf: &mut [u8]) -> Result {
    m.for_each_piece(offset, buf.len(), |pages, at, pos, n| {
        pages.read(at, &mut buf[pos..pos + n])
    })
}

/// Pages past the end are refused; a request running past the end is cut at the end.
fn direct_access_bounds(t: &mut Test) {
    let Some(m) = memory(t, 10, 2) else { return };
    kunit_expect_eq!(t, da(&m, 10, 1).err(), Some(ERANGE));
    kunit_expect_eq!(t, da(&m, u64::MAX, 1).err(), Some(ERANGE));
    kunit_expect_eq!(t, da(&m, 1 << 40, 1).err(), Some(ERANGE));
    // Runs are 4 + 4 + 2 pages: the last page gives exactly one page.
    kunit_expect_eq!(t, da(&m, 9, 100).map(|r| r.2), Ok(1));
    kunit_expect_eq!(t, da(&m, 8, 100).map(|r| r.2), Ok(2));
    // Through the DAX device, as a filesystem calls it: clamped to what was asked, and a
    // request for 0 pages still tells whether the page exists.
    let Some(dev) = dax_device(t, m) else { return };
    kunit_expect_eq!(t, dev.direct_access(9, 100).map(|r| r.nr_pages()), Ok(1));
    kunit_expect_eq!(t, dev.direct_access(0, 3).map(|r| r.nr_pages()), Ok(3));
    kunit_expect_eq!(t, dev.direct_access(9, 0).map(|r| r.nr_pages()), Ok(0));
    kunit_expect_eq!(t, dev.direct_access(10, 0).err(), Some(ERANGE));
    kunit_expect_eq!(t, dev.direct_access(10, 1).err(), Some(ERANGE));
}

/// The runs tile the device, each as long as its allocation order says and at most
/// `2^RUN_ORDER` pages; `direct_access` from the start of a run answers the whole run, and every
/// page in it is where the first page's address and pfn say. Holds however fragmented memory
/// is.
fn direct_access_contiguity(t: &mut Test) {
    let order = RUN_ORDER;
    let nr = (1usize << order) * 2 + 3;
    let Some(m) = memory(t, nr, order) else { return };
    let mut next = 0usize;
    for run in m.runs.iter() {
        let len = run.pages.nr_pages();
        kunit_expect!(t, run.first == next, "runs tile the device in order: {} != {}", run.first, next);
        kunit_expect!(t, len.is_power_of_two(), "a run of {} pages", len);
        kunit_expect!(t, len <= 1 << order, "a run of {} pages", len);
        kunit_expect!(t, run.first + len <= nr);
        let Ok((kaddr, pfn, n)) = da(&m, run.first as u64, nr) else {
            kunit_expect!(t, false, "direct_access({}) failed", run.first);
            return;
        };
        kunit_expect!(t, n == len, "the answer at page {} is the run: {} != {}", run.first, n, len);
        for k in 0..len {
            let one = da(&m, (run.first + k) as u64, nr);
            kunit_expect_eq!(t, one, Ok((kaddr + k * PAGE_SIZE, pfn + k, len - k)));
        }
        next = run.first + len;
    }
    kunit_expect_eq!(t, next, nr);
}

/// `zero_page_range` zeroes exactly its pages, here across a run boundary.
fn zero_page_range(t: &mut Test) {
    let Some(m) = memory(t, 8, 2) else { return };
    let fill = [0xa5u8; PAGE_SIZE];
    for p in 0..8u64 {
        kunit_expect!(t, block_write(&m, p * PAGE_SIZE as u64, &fill).is_ok());
    }
    kunit_expect!(t, <Memory as dax::Operations>::zero_page_range(&m, 3, 2).is_ok());
    let mut page = [0u8; PAGE_SIZE];
    for p in 0..8u64 {
        kunit_expect!(t, block_read(&m, p * PAGE_SIZE as u64, &mut page).is_ok());
        let want = if p == 3 || p == 4 { 0 } else { 0xa5 };
        kunit_expect!(t, page.iter().all(|&b| b == want), "page {}", p);
    }
    kunit_expect_eq!(t, <Memory as dax::Operations>::zero_page_range(&m, 7, 2), Err(ERANGE));
    kunit_expect_eq!(t, <Memory as dax::Operations>::zero_page_range(&m, u64::MAX, 1), Err(ERANGE));
}

/// Bytes written through the block path across a run boundary are read back through the
/// addresses `dax_direct_access` hands out, and bytes written through those addresses are read
/// back through the block path.
fn block_io_matches_dax(t: &mut Test) {
    // Runs of 2 pages: a boundary after page 1, 3 and 5.
    let Some(m) = memory(t, 6, 1) else { return };
    let Some(dev) = dax_device(t, m) else { return };
    let m = dev.data();
    let data: [u8; 1024] = core::array::from_fn(|i| (i * 7 + 3) as u8);
    let mut back = [0u8; 1024];

    // Block path -> DAX: bytes 2 * 4096 - 512 .. 2 * 4096 + 512 straddle the boundary.
    let at = 2 * PAGE_SIZE as u64 - 512;
    kunit_expect!(t, block_write(m, at, &data).is_ok());
    match (dev.direct_access(1, 1), dev.direct_access(2, 1)) {
        (Ok(p1), Ok(p2)) => {
            kunit_expect_eq!(t, (p1.nr_pages(), p2.nr_pages()), (1, 1));
            kunit_expect!(t, p1.read(PAGE_SIZE - 512, &mut back[..512]).is_ok());
            kunit_expect!(t, p2.read(0, &mut back[512..]).is_ok());
            kunit_expect!(t, back == data, "DAX sees what the block path wrote");
            // The address and pfn handed to `fs/dax.c` are the driver's.
            let own = da(m, 2, 1);
            kunit_expect_eq!(t, own, Ok((p2.kaddr() as usize, p2.pfn(), 1)));
        }
        (r1, r2) => kunit_expect!(t, false, "dax_direct_access: {:?} {:?}", r1.err(), r2.err()),
    }

    // DAX -> block path: write across the next boundary (after page 3) through DAX.
    let rev: [u8; 1024] = core::array::from_fn(|i| (i * 13 + 1) as u8);
    match dev.direct_access(3, 2) {
        Ok(r) => {
            // One run ends after page 3: the answer stops there.
            kunit_expect_eq!(t, r.nr_pages(), 1);
            kunit_expect!(t, r.write(PAGE_SIZE - 512, &rev[..512]).is_ok());
            // Past the end of the range: refused.
            kunit_expect_eq!(t, r.write(PAGE_SIZE - 511, &rev[..512]), Err(ERANGE));
        }
        Err(e) => kunit_expect!(t, false, "dax_direct_access(3): {:?}", e),
    }
    match dev.direct_access(4, 1) {
        Ok(r) => kunit_expect!(t, r.write(0, &rev[512..]).is_ok()),
        Err(e) => kunit_expect!(t, false, "dax_direct_access(4): {:?}", e),
    }
    kunit_expect!(t, block_read(m, 4 * PAGE_SIZE as u64 - 512, &mut back).is_ok());
    kunit_expect!(t, back == rev, "the block path sees what DAX wrote");

    // Past the end: refused, not clamped.
    kunit_expect_eq!(t, block_read(m, 6 * PAGE_SIZE as u64 - 1, &mut back[..2]), Err(ERANGE));
    kunit_expect_eq!(t, block_write(m, u64::MAX - 10, &back), Err(ERANGE));
    kunit_expect_eq!(t, dev.direct_access(6, 1).err(), Some(ERANGE));
}

/// Bad module parameters are refused with the documented errors.
fn params(t: &mut Test) {
    kunit_expect_eq!(t, parse_params(0, 64).err(), Some(EINVAL));
    kunit_expect_eq!(t, parse_params(MAX_DEVICES + 1, 64).err(), Some(EINVAL));
    kunit_expect_eq!(t, parse_params(1, 0).err(), Some(EINVAL));
    kunit_expect_eq!(t, parse_params(1, u64::MAX).err(), Some(ENOMEM));
    kunit_expect_eq!(t, parse_params(2, 1 << 40).err(), Some(ENOMEM));
    kunit_expect_eq!(t, parse_params(2, 4).ok(), Some((2, 4 * 256)));
}

const TEST_PREFIX: &str = "xipramkt";
const TEST_NAMES: [&CStr; 3] = [c_str!("xipramkt0"), c_str!("xipramkt1"), c_str!("xipramkt2")];

fn exist(names: &[&CStr]) -> [bool; 3] {
    core::array::from_fn(|i| names.get(i).is_some_and(|n| bio::BlockDeviceRef::find(n).is_some()))
}

/// Devices are created all or none: when the memory of the last device cannot be had, no
/// device has been added before, and none is left.
fn create_all_or_nothing(t: &mut Test) {
    kunit_expect_eq!(t, exist(&TEST_NAMES), [false; 3]);
    // Three devices, no memory for the last one.
    let mut seen = [false; 3];
    let res = create_devices(TEST_PREFIX, 3, |i| {
        // No device may be visible while memory is still being found.
        let e = exist(&TEST_NAMES);
        kunit_expect!(t, e == [false; 3], "before allocating device {}: {:?}", i, e);
        seen[i as usize] = true;
        if i == 2 {
            Err(ENOMEM)
        } else {
            Memory::new(256, 6)
        }
    });
    kunit_expect_eq!(t, res.as_ref().err(), Some(&ENOMEM));
    kunit_expect_eq!(t, seen, [true; 3]);
    drop(res);
    kunit_expect_eq!(t, exist(&TEST_NAMES), [false; 3]);

    // The same with memory for all: every device is there, and goes with the vector.
    let res = create_devices(TEST_PREFIX, 3, |_| Memory::new(256, 6));
    kunit_expect!(t, res.is_ok());
    kunit_expect_eq!(t, exist(&TEST_NAMES), [true; 3]);
    if let Ok(disks) = &res {
        kunit_expect_eq!(t, disks.len(), 3);
        for d in disks.iter() {
            kunit_expect_eq!(t, d.data().len(), MIB);
        }
    }
    drop(res);
    kunit_expect_eq!(t, exist(&TEST_NAMES), [false; 3]);
}

/// Set by a worker when it has dropped the disks it was given.
#[pin_data]
struct Dropped {
    #[pin]
    done: Mutex<bool>,
    #[pin]
    cv: CondVar,
}

/// Waits up to `ms` milliseconds for `d.done`; returns it.
fn wait_dropped(d: &Dropped, ms: u32) -> bool {
    let mut done = d.done.lock();
    let mut left = msecs_to_jiffies(ms);
    while !*done {
        match d.cv.wait_interruptible_timeout(&mut done, left) {
            CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
            _ => break,
        }
    }
    *done
}

/// Dropping a disk that someone still holds (here a reference from a lookup, as an opener or
/// a mounted filesystem would hold it) deletes it at once but returns, and releases the
/// memory, only once that last reference is gone: so the memory is never freed under a user,
/// and no code of the module runs after `rmmod` has returned.
fn drop_waits_for_last_user(t: &mut Test) {
    let disks = match create_devices(TEST_PREFIX, 1, |_| Memory::new(256, 6)) {
        Ok(disks) => disks,
        Err(e) => {
            kunit_expect!(t, false, "creating the device: {:?}", e);
            return;
        }
    };
    let Some(held) = bio::BlockDeviceRef::find(TEST_NAMES[0]) else {
        kunit_expect!(t, false, "{:?} not found", TEST_NAMES[0]);
        return;
    };
    let dropped = Arc::pin_init(
        pin_init!(Dropped { done <- new_mutex!(false), cv <- new_condvar!() }),
        GFP_KERNEL,
    );
    let Ok(dropped) = dropped else {
        kunit_expect!(t, false, "no memory");
        return;
    };
    let d = dropped.clone();
    let spawned = workqueue::system_long().try_spawn(GFP_KERNEL, move || {
        drop(disks);
        *d.done.lock() = true;
        d.cv.notify_all();
    });
    kunit_expect!(t, spawned.is_ok());
    if spawned.is_err() {
        return;
    }
    // The drop is waiting for our reference...
    kunit_expect!(t, !wait_dropped(&dropped, 300), "the disk was released while held");
    // ...after deleting the disk, which new lookups (and opens) no longer find.
    kunit_expect_eq!(t, exist(&TEST_NAMES), [false; 3]);
    // The last reference goes: the disk is released here, and the drop returns.
    drop(held);
    kunit_expect!(t, wait_dropped(&dropped, 10_000), "the drop did not return");
}

kernel::kunit_test_suite!(xipram, [
    direct_access_bounds,
    direct_access_contiguity,
    zero_page_range,
    block_io_matches_dax,
    params,
    create_all_or_nothing,
    drop_waits_for_last_user,
]);
