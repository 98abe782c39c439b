// SPDX-License-Identifier: GPL-2.0

//! KUnit suite `xipram`: the memory layout and the DAX operations, run when the module loads.

use super::*;
use kernel::{kunit_expect, kunit_expect_eq, kunit_suite::Test};

/// Memory of `nr_pages` in runs of at most `2^order` pages, or a failed test.
fn memory(t: &mut Test, nr_pages: usize, order: u32) -> Option<Memory> {
    let m = Memory::new(nr_pages, order);
    kunit_expect!(t, m.is_ok(), "allocating {} pages", nr_pages);
    m.ok()
}

fn da(m: &Memory, pgoff: u64, nr: usize) -> Result<(usize, usize, usize)> {
    let r = <Memory as dax::Operations>::direct_access(m, pgoff, nr, dax::AccessMode::Access)?;
    Ok((r.kaddr() as usize, r.pfn(), r.nr_pages()))
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
    let Some(dev) = Arc::new(m, GFP_KERNEL).ok().and_then(|m| dax::Device::new(m).ok()) else {
        kunit_expect!(t, false, "no DAX device");
        return;
    };
    kunit_expect_eq!(t, dev.direct_access(9, 100).map(|r| r.2), Ok(1));
    kunit_expect_eq!(t, dev.direct_access(0, 3).map(|r| r.2), Ok(3));
    kunit_expect_eq!(t, dev.direct_access(9, 0).map(|r| r.2), Ok(0));
    kunit_expect_eq!(t, dev.direct_access(10, 0).err(), Some(ERANGE));
    kunit_expect_eq!(t, dev.direct_access(10, 1).err(), Some(ERANGE));
}

/// Each answer is one contiguous run, as long as the run allows, and covers the device.
fn direct_access_contiguity(t: &mut Test) {
    let order = RUN_ORDER;
    let nr = (1usize << order) * 2 + 3;
    let Some(m) = memory(t, nr, order) else { return };
    let mut pgoff = 0usize;
    while pgoff < nr {
        let Ok((kaddr, pfn, n)) = da(&m, pgoff as u64, nr) else {
            kunit_expect!(t, false, "direct_access({}) failed", pgoff);
            return;
        };
        kunit_expect!(t, n >= 1 && pgoff + n <= nr);
        // Every page of the answer is where the first page's address and pfn say.
        for k in [0, n / 2, n - 1] {
            let one = da(&m, (pgoff + k) as u64, 1);
            kunit_expect_eq!(t, one, Ok((kaddr + k * PAGE_SIZE, pfn + k, 1)));
        }
        // A run ends where the memory stops being contiguous, or at its size.
        if n < nr - pgoff {
            if let Ok((next_kaddr, _, _)) = da(&m, (pgoff + n) as u64, 1) {
                kunit_expect!(t, n == (1 << order) || next_kaddr != kaddr + n * PAGE_SIZE);
            }
        }
        pgoff += n;
    }
    kunit_expect_eq!(t, pgoff, nr);
    // With memory unfragmented at boot, the first run is a whole 2 MiB.
    kunit_expect_eq!(t, da(&m, 0, nr).map(|r| r.2), Ok(1 << order));
}

/// `zero_page_range` zeroes exactly its pages, here across a run boundary.
fn zero_page_range(t: &mut Test) {
    let Some(m) = memory(t, 8, 2) else { return };
    let fill = [0xa5u8; PAGE_SIZE];
    for p in 0..8u64 {
        kunit_expect!(t, m.write(p * PAGE_SIZE as u64, &fill).is_ok());
    }
    kunit_expect!(t, <Memory as dax::Operations>::zero_page_range(&m, 3, 2).is_ok());
    let mut page = [0u8; PAGE_SIZE];
    for p in 0..8u64 {
        kunit_expect!(t, m.read(p * PAGE_SIZE as u64, &mut page).is_ok());
        let want = if p == 3 || p == 4 { 0 } else { 0xa5 };
        kunit_expect!(t, page.iter().all(|&b| b == want), "page {}", p);
    }
    kunit_expect_eq!(t, <Memory as dax::Operations>::zero_page_range(&m, 7, 2), Err(ERANGE));
    kunit_expect_eq!(t, <Memory as dax::Operations>::zero_page_range(&m, u64::MAX, 1), Err(ERANGE));
}

/// Block I/O across run boundaries lands where direct access finds it, and the other way.
fn block_io_matches_dax(t: &mut Test) {
    let Some(m) = memory(t, 6, 1) else { return };
    let data: [u8; 1024] = core::array::from_fn(|i| (i * 7 + 3) as u8);
    // Bytes 4096*2 - 512 .. 4096*2 + 512 straddle the run boundary after page 1.
    let at = 2 * PAGE_SIZE as u64 - 512;
    kunit_expect!(t, m.write(at, &data).is_ok());
    let mut back = [0u8; 1024];
    kunit_expect!(t, m.read(at, &mut back).is_ok());
    kunit_expect!(t, back == data);
    let dev = Arc::new(m, GFP_KERNEL).ok().and_then(|m| dax::Device::new(m).ok());
    kunit_expect!(t, dev.is_some());
    let Some(dev) = dev else { return };
    let m = dev.data();
    // Page 2 through the DAX device shows the second half of `data` at its start.
    match dev.direct_access(2, 1) {
        Ok((kaddr, _, n)) => {
            kunit_expect_eq!(t, n, 1);
            let r = <Memory as dax::Operations>::direct_access(m, 2, 1, dax::AccessMode::Access);
            kunit_expect_eq!(t, r.map(|r| r.kaddr()), Ok(kaddr));
        }
        Err(e) => kunit_expect!(t, false, "dax_direct_access: {:?}", e),
    }
    let mut tail = [0u8; 512];
    kunit_expect!(t, m.read(2 * PAGE_SIZE as u64, &mut tail).is_ok());
    kunit_expect!(t, tail[..] == data[512..]);
    // Past the end: refused, not clamped.
    kunit_expect_eq!(t, m.read(6 * PAGE_SIZE as u64 - 1, &mut tail), Err(ERANGE));
    kunit_expect_eq!(t, m.write(u64::MAX - 10, &tail), Err(ERANGE));
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

kernel::kunit_test_suite!(xipram, [
    direct_access_bounds,
    direct_access_contiguity,
    zero_page_range,
    block_io_matches_dax,
    params,
]);
