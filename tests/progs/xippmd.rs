// SPDX-License-Identifier: GPL-2.0
//! xippmd: the checks of the guest tests of 2 MiB faults and pinned pages on xipfs
//! (`tests/guest/t-xipfs-pmd.sh`, `tests/guest/t-xipfs-pin.sh`).
//!
//! ```text
//! xippmd touch FILE [--write] [--off OFF] [--len LEN] [--max-faults N] [--min-faults N]
//!     map [OFF, OFF+LEN) of FILE (default: all of it) MAP_SHARED, touch every 4 KiB page
//!     once (a load, or with --write a store of a byte derived from the offset into each
//!     page), count the page faults that took (getrusage: minor and major, which is how `fs/dax.c`
//!     counts faults that allocate), and check that the mapping holds
//!     what pread() reads; prints `faults N pages P aligned yes|no` (whether the mapping's
//!     address has the 2 MiB alignment of its file offset)
//! xippmd pin FILE PAGE [--punch]
//!     map FILE MAP_SHARED and vmsplice() page PAGE into a pipe (which holds a reference to
//!     the page, as get_user_pages() gives it) and print `pinned`; then wait for a line on
//!     stdin, read the pipe and check it holds what the page held when it was pinned
//!     (vmsplice's outcome is printed as `vmsplice: ok` or `vmsplice: ERRNO`)
//! xippmd punch FILE OFF LEN [--expect E]   fallocate(PUNCH_HOLE | KEEP_SIZE)
//! xippmd sparse FILE PAGES   a new FILE of PAGES pages, of which every other one is
//!     written (the others are holes): no 2 MiB of it is one run of blocks
//! xippmd odirect-race FILE BLKDEV [--iters N]
//!     FILE (at least 256 KiB) mapped MAP_SHARED; one thread keeps reading BLKDEV (filled
//!     with 0xb5 first) with O_DIRECT into the mapping, the other truncates FILE to 0, writes
//!     a second file FILE.other of the same size with 0x3c (reusing the blocks just freed)
//!     and writes FILE back; FILE.other must never see 0xb5: a freed block is not written
//!     by an O_DIRECT transfer that pinned it before the truncate
//! ```
//!
//! Prints what it saw; a failed check prints `FAIL: ...` and exits 1 (2 on a usage error).
//! Only std, no crates (the system calls std lacks are declared against glibc); x86-64.

use std::ffi::{c_int, c_long, c_void};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const PAGE: usize = 4096;
const PMD: usize = 2 << 20;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const O_DIRECT: c_int = 0o40000;
const FALLOC_FL_KEEP_SIZE: c_int = 1;
const FALLOC_FL_PUNCH_HOLE: c_int = 2;

#[repr(C)]
struct IoVec {
    base: *const c_void,
    len: usize,
}

#[repr(C)]
struct Rusage {
    utime: [c_long; 2],
    stime: [c_long; 2],
    maxrss: c_long,
    ixrss: c_long,
    idrss: c_long,
    isrss: c_long,
    minflt: c_long,
    majflt: c_long,
    rest: [c_long; 8],
}

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    fn vmsplice(fd: c_int, iov: *const IoVec, n: usize, flags: u32) -> isize;
    fn pipe(fds: *mut c_int) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
    fn __errno_location() -> *mut c_int;
}

fn errno() -> c_int {
    // SAFETY: glibc's thread-local errno.
    unsafe { *__errno_location() }
}

fn errno_name(e: c_int) -> String {
    match e {
        1 => "EPERM".into(),
        4 => "EINTR".into(),
        5 => "EIO".into(),
        12 => "ENOMEM".into(),
        14 => "EFAULT".into(),
        16 => "EBUSY".into(),
        17 => "EEXIST".into(),
        22 => "EINVAL".into(),
        95 => "EOPNOTSUPP".into(),
        _ => format!("errno {e}"),
    }
}

macro_rules! fail {
    ($($a:tt)*) => {{
        println!("FAIL: {}", format!($($a)*));
        std::process::exit(1)
    }};
}

fn usage() -> ExitCode {
    eprintln!("usage: xippmd touch|pin|punch|odirect-race ... (see the source's header)");
    ExitCode::from(2)
}

/// A shared mapping of a file, unmapped when dropped.
struct Map {
    addr: *mut u8,
    len: usize,
}

impl Map {
    fn new(f: &File, off: u64, len: usize, write: bool) -> Map {
        let prot = if write { PROT_READ | PROT_WRITE } else { PROT_READ };
        // SAFETY: A new mapping of an open file; nothing else is at the address the kernel picks.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, MAP_SHARED, f.as_raw_fd(), off as i64) };
        if p as isize == -1 {
            fail!("mmap of {len} bytes at {off}: {}", errno_name(errno()));
        }
        Map { addr: p.cast(), len }
    }
    fn slice(&self) -> &[u8] {
        // SAFETY: The mapping is `len` bytes and lives as long as `self`; the file is not
        // shortened while the caller looks (touch) or the bytes are only compared.
        unsafe { std::slice::from_raw_parts(self.addr, self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Our own mapping.
        unsafe { munmap(self.addr.cast(), self.len) };
    }
}

/// Page faults of this thread so far: minor and major (a fault that allocates blocks counts
/// as major in `fs/dax.c`).
fn minflt() -> i64 {
    let mut u: Rusage = Rusage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        ixrss: 0,
        idrss: 0,
        isrss: 0,
        minflt: 0,
        majflt: 0,
        rest: [0; 8],
    };
    // SAFETY: `u` is a valid rusage; RUSAGE_THREAD (1) counts this thread only.
    unsafe { getrusage(1, &mut u) };
    (u.minflt + u.majflt) as i64
}

fn num(s: &str) -> u64 {
    let (s, mul) = match s.as_bytes().last() {
        Some(b'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let v = if let Some(h) = s.strip_prefix("0x") { u64::from_str_radix(h, 16) } else { s.parse() };
    v.unwrap_or_else(|_| fail!("not a number: {s}")) * mul
}

fn opt(args: &[String], name: &str) -> Option<u64> {
    args.iter().position(|a| a == name).map(|i| num(args.get(i + 1).unwrap_or_else(|| fail!("{name} needs a value"))))
}

fn touch(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else { return usage() };
    let write = args.iter().any(|a| a == "--write");
    let f = OpenOptions::new().read(true).write(write).open(path).unwrap_or_else(|e| fail!("open {path}: {e}"));
    let size = f.metadata().unwrap().len();
    let off = opt(args, "--off").unwrap_or(0);
    let len = opt(args, "--len").unwrap_or(size.saturating_sub(off)) as usize;
    if len == 0 || off % PAGE as u64 != 0 {
        fail!("bad range {off}+{len}");
    }
    let m = Map::new(&f, off, len, write);
    let aligned = (m.addr as usize) % PMD == (off as usize) % PMD;
    let before = minflt();
    let mut sum = 0u64;
    for p in (0..len).step_by(PAGE) {
        // SAFETY: Inside the mapping.
        unsafe {
            if write {
                let at = off as usize + p;
                std::ptr::write_volatile(m.addr.add(p + (at / PAGE) % 97), (at / PAGE % 251) as u8 + 1);
            } else {
                sum = sum.wrapping_add(std::ptr::read_volatile(m.addr.add(p)) as u64);
            }
        }
    }
    let faults = minflt() - before;
    let pages = len.div_ceil(PAGE);
    std::hint::black_box(sum);
    // What the mapping holds is what read() reads.
    let mut buf = vec![0u8; len.min(1 << 20)];
    let mut done = 0usize;
    while done < len {
        let n = buf.len().min(len - done);
        let got = f.read_at(&mut buf[..n], off + done as u64).unwrap_or_else(|e| fail!("pread: {e}"));
        let want = ((size as usize).saturating_sub(off as usize + done)).min(n);
        if got != want {
            fail!("pread at {}: {got} bytes, expected {want}", off + done as u64);
        }
        if m.slice()[done..done + got] != buf[..got] {
            let i = (0..got).find(|&i| m.slice()[done + i] != buf[i]).unwrap();
            fail!("the mapping differs from read() at file offset {}", off as usize + done + i);
        }
        done += n;
    }
    if write {
        for p in (0..len).step_by(PAGE) {
            let at = off as usize + p;
            if m.slice()[p + (at / PAGE) % 97] != (at / PAGE % 251) as u8 + 1 {
                fail!("store at file offset {} lost", at + (at / PAGE) % 97);
            }
        }
    }
    println!(
        "xippmd: touch {path}: {} {len} bytes at {off}: faults {faults} pages {pages} aligned {}",
        if write { "stored to" } else { "loaded" },
        if aligned { "yes" } else { "no" }
    );
    if let Some(max) = opt(args, "--max-faults") {
        if faults as u64 > max {
            fail!("{faults} faults for {pages} pages: more than {max}");
        }
    }
    if let Some(min) = opt(args, "--min-faults") {
        if (faults as u64) < min {
            fail!("{faults} faults for {pages} pages: fewer than {min}");
        }
    }
    ExitCode::SUCCESS
}

fn pin(args: &[String]) -> ExitCode {
    let (Some(path), Some(page)) = (args.first(), args.get(1)) else { return usage() };
    let page = num(page) as usize;
    let f = File::open(path).unwrap_or_else(|e| fail!("open {path}: {e}"));
    let size = f.metadata().unwrap().len() as usize;
    if (page + 1) * PAGE > size {
        fail!("page {page} is past the end of {path}");
    }
    let m = Map::new(&f, 0, size, false);
    let want = m.slice()[page * PAGE..(page + 1) * PAGE].to_vec();
    let mut fds = [0 as c_int; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { pipe(fds.as_mut_ptr()) } != 0 {
        fail!("pipe: {}", errno_name(errno()));
    }
    // SAFETY: The descriptors were just made and are owned here.
    let (mut rd, wr) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let iov = IoVec { base: m.slice()[page * PAGE..].as_ptr().cast(), len: PAGE };
    // SAFETY: One iovec inside the mapping; flags 0 (no gift): the pipe holds references to the
    // mapped page.
    let n = unsafe { vmsplice(wr.as_raw_fd(), &iov, 1, 0) };
    if n < 0 {
        println!("vmsplice: {}", errno_name(errno()));
        return ExitCode::SUCCESS;
    }
    if n as usize != PAGE {
        fail!("vmsplice took {n} bytes of {PAGE}");
    }
    println!("vmsplice: ok");
    println!("pinned");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    drop(m);
    let mut got = vec![0u8; PAGE];
    rd.read_exact(&mut got).unwrap_or_else(|e| fail!("reading the pipe: {e}"));
    if got != want {
        let i = (0..PAGE).find(|&i| got[i] != want[i]).unwrap();
        fail!(
            "the page in the pipe changed while pinned: byte {i} is {:#x}, was {:#x} (its block was freed and reused)",
            got[i],
            want[i]
        );
    }
    println!("xippmd: pin {path} page {page}: the pipe held the page's bytes until it was read");
    ExitCode::SUCCESS
}

fn punch(args: &[String]) -> ExitCode {
    let (Some(path), Some(off), Some(len)) = (args.first(), args.get(1), args.get(2)) else { return usage() };
    let f = OpenOptions::new().write(true).open(path).unwrap_or_else(|e| fail!("open {path}: {e}"));
    // SAFETY: A plain system call on an open descriptor.
    let r = unsafe { fallocate(f.as_raw_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, num(off) as i64, num(len) as i64) };
    let got = if r == 0 { "ok".to_string() } else { errno_name(errno()) };
    let expect = args.iter().position(|a| a == "--expect").and_then(|i| args.get(i + 1)).map_or("ok", |s| s.as_str());
    println!("xippmd: punch {path} {off} {len}: {got}");
    if !expect.split('|').any(|e| e == got) {
        fail!("punch {path} {off} {len}: {got}, expected {expect}");
    }
    ExitCode::SUCCESS
}

fn sparse(args: &[String]) -> ExitCode {
    let (Some(path), Some(pages)) = (args.first(), args.get(1)) else { return usage() };
    let pages = num(pages) as usize;
    let f = OpenOptions::new().write(true).create(true).truncate(true).open(path).unwrap_or_else(|e| fail!("create {path}: {e}"));
    f.set_len((pages * PAGE) as u64).unwrap();
    for p in (0..pages).step_by(2) {
        let buf = vec![(p % 251) as u8 + 1; PAGE];
        f.write_all_at(&buf, (p * PAGE) as u64).unwrap_or_else(|e| fail!("write {path}: {e}"));
    }
    println!("xippmd: sparse {path}: {pages} pages, every other one written");
    ExitCode::SUCCESS
}

fn odirect_race(args: &[String]) -> ExitCode {
    let (Some(path), Some(bdev)) = (args.first(), args.get(1)) else { return usage() };
    let iters = opt(args, "--iters").unwrap_or(200);
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap_or_else(|e| fail!("open {path}: {e}"));
    let len = f.metadata().unwrap().len() as usize / PAGE * PAGE;
    if len < 64 * PAGE {
        fail!("{path} needs at least 256 KiB");
    }
    let chunk = 64 * PAGE;
    // The source device: 0xb5 wherever O_DIRECT reads.
    let mut dev = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_DIRECT)
        .open(bdev)
        .unwrap_or_else(|e| fail!("open {bdev} O_DIRECT: {e}"));
    let src = AlignedBuf::new(chunk, 0xb5);
    dev.write_all(src.slice()).unwrap_or_else(|e| fail!("writing {bdev}: {e}"));
    drop(dev);
    let dev = OpenOptions::new().read(true).custom_flags(O_DIRECT).open(bdev).unwrap();
    let m = Map::new(&f, 0, len, true);
    let addr = m.addr as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let faults = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads, faults) = (stop.clone(), reads.clone(), faults.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let at = (i * chunk) % len;
                let n = chunk.min(len - at);
                // SAFETY: Inside the mapping, which outlives the thread (joined before drop).
                let dst = unsafe { std::slice::from_raw_parts_mut((addr + at) as *mut u8, n) };
                match dev.read_at(dst, 0) {
                    Ok(_) => reads.fetch_add(1, Ordering::Relaxed),
                    // Past the end of the truncated file: the pages cannot be had.
                    Err(_) => faults.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        })
    };
    let other_path = format!("{path}.other");
    let fill = vec![0x3cu8; len];
    let back = vec![0x11u8; len];
    let mut check = vec![0u8; len];
    for it in 0..iters {
        f.set_len(0).unwrap_or_else(|e| fail!("truncate {path}: {e}"));
        let other = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&other_path)
            .unwrap_or_else(|e| fail!("create {other_path}: {e}"));
        other.write_all_at(&fill, 0).unwrap_or_else(|e| fail!("write {other_path}: {e}"));
        f.write_all_at(&back, 0).unwrap_or_else(|e| fail!("write {path}: {e}"));
        // Let the reader run against the new blocks, then look at the other file.
        std::thread::yield_now();
        other.read_exact_at(&mut check, 0).unwrap();
        if let Some(i) = check.iter().position(|&b| b != 0x3c) {
            stop.store(true, Ordering::Relaxed);
            fail!(
                "iteration {it}: {other_path} byte {i} is {:#x}: an O_DIRECT read wrote into a block freed by the truncate",
                check[i]
            );
        }
        drop(other);
        std::fs::remove_file(&other_path).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    println!(
        "xippmd: odirect-race {path}: {iters} truncates, {} O_DIRECT reads into the mapping, {} refused; no freed block written",
        reads.load(Ordering::Relaxed),
        faults.load(Ordering::Relaxed)
    );
    if reads.load(Ordering::Relaxed) == 0 {
        fail!("no O_DIRECT read into the mapping succeeded: the race was not run");
    }
    ExitCode::SUCCESS
}

/// A page-aligned buffer (for O_DIRECT).
struct AlignedBuf {
    v: Vec<u8>,
    off: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize, byte: u8) -> Self {
        let v = vec![byte; len + PAGE];
        let off = (PAGE - v.as_ptr() as usize % PAGE) % PAGE;
        AlignedBuf { v, off, len }
    }
    fn slice(&self) -> &[u8] {
        &self.v[self.off..self.off + self.len]
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { return usage() };
    let rest = &args[1..];
    match cmd.as_str() {
        "touch" => touch(rest),
        "pin" => pin(rest),
        "punch" => punch(rest),
        "sparse" => sparse(rest),
        "odirect-race" => odirect_race(rest),
        _ => usage(),
    }
}
