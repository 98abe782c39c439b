// SPDX-License-Identifier: GPL-2.0
//! xipfsx: random file operations checked against a model of the file, in the manner of
//! fstests' fsx, for the write path of xipfs and the filesystems it is compared with.
//!
//! ```text
//! xipfsx FILE [--seed S] [--ops N] [--max-size BYTES] [--no-mmap] [--no-fallocate]
//! ```
//!
//! Creates FILE (truncating it) and runs N operations (default 3000) chosen by a PRNG seeded
//! with S (default: from the clock; always printed, so a failure reproduces with `--seed`):
//! `write` (pwrite at a random offset, sometimes far past the end, leaving a hole), `read`
//! (pread, compared), `mapread` (a MAP_SHARED read mapping of a range, compared), `mapwrite`
//! (stores through a MAP_SHARED writable mapping inside the file, then msync),
//! `truncate` (down and up: the model drops the tail, or extends with zeros), `fallocate`
//! (mode 0, which may extend the size, and FALLOC_FL_KEEP_SIZE, which may not), `punch`
//! (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: the model zeroes the range up to the size,
//! which stays; small and large, some block aligned, some past the end), `fsync`,
//! and `reopen` (close, open again, compare the whole file). The model is the file's bytes
//! as they must be; every read compares. At the end the whole file is compared through
//! read() and through a mapping, and its size through fstat. `--no-mmap` leaves out the
//! mapping operations, `--no-fallocate` the three fallocate ones (mode 0, keep-size, punch).
//!
//! On a mismatch it prints the seed, the operation number, the first differing offset and
//! the last 16 operations, and exits 1 (2 on a usage error). Only std, no crates; the system
//! calls std lacks are declared against glibc. x86-64 Linux only (the constants).

use std::ffi::{c_int, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::process::ExitCode;

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MS_SYNC: c_int = 4;
const FALLOC_FL_KEEP_SIZE: c_int = 1;
const FALLOC_FL_PUNCH_HOLE: c_int = 2;
const PAGE: u64 = 4096;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
}

/// xorshift64*: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

struct Opts {
    seed: u64,
    ops: u64,
    max_size: u64,
    mmap: bool,
    fallocate: bool,
}

/// A mapping of a file range, unmapped when dropped.
struct Map {
    addr: *mut u8,
    len: usize,
}

impl Map {
    /// Maps `[off, off + len)` of `f` (`off` page aligned).
    fn new(f: &File, off: u64, len: usize, prot: c_int) -> io::Result<Self> {
        // SAFETY: A new mapping chosen by the kernel; the fd is valid.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, MAP_SHARED, f.as_raw_fd(), off as i64) };
        if p as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { addr: p.cast(), len })
    }
    fn read(&self, at: usize, out: &mut [u8]) {
        assert!(at + out.len() <= self.len);
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: Inside the mapping (asserted), which is readable.
            *b = unsafe { std::ptr::read_volatile(self.addr.add(at + i)) };
        }
    }
    fn write(&mut self, at: usize, data: &[u8]) {
        assert!(at + data.len() <= self.len);
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: Inside the mapping (asserted), which the caller mapped writable.
            unsafe { std::ptr::write_volatile(self.addr.add(at + i), b) };
        }
    }
    fn sync(&self) -> io::Result<()> {
        // SAFETY: Our own mapping.
        if unsafe { msync(self.addr.cast(), self.len, MS_SYNC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Our own mapping of `len` bytes.
        unsafe { munmap(self.addr.cast(), self.len) };
    }
}

struct Run {
    path: String,
    file: File,
    model: Vec<u8>,
    rng: Rng,
    log: Vec<String>,
    op: u64,
    counts: [u64; 10],
}

const NAMES: [&str; 10] = [
    "write", "read", "mapread", "mapwrite", "truncate", "fallocate", "keep-size", "fsync", "reopen",
    "punch",
];

impl Run {
    fn note(&mut self, s: String) {
        if self.log.len() == 16 {
            self.log.remove(0);
        }
        self.log.push(format!("#{} {}", self.op, s));
    }

    fn fail(&self, what: String) -> String {
        let mut s = format!("FAIL: seed {} op #{}: {}\nlast operations:\n", self.rng_seed(), self.op, what);
        for l in &self.log {
            s.push_str("  ");
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    fn rng_seed(&self) -> String {
        std::env::var("XIPFSX_SEED").unwrap_or_default()
    }

    fn compare(&self, off: u64, got: &[u8], how: &str) -> Result<(), String> {
        let want = &self.model[off as usize..off as usize + got.len()];
        if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
            return Err(self.fail(format!(
                "{how} at {off:#x}+{:#x}: byte {:#x} of the file is {:#04x}, the model says {:#04x}",
                got.len(),
                off + i as u64,
                got[i],
                want[i]
            )));
        }
        Ok(())
    }

    /// A random range inside the model, at most `max` bytes, or None if the file is empty.
    fn range(&mut self, max: u64) -> Option<(u64, u64)> {
        let size = self.model.len() as u64;
        if size == 0 {
            return None;
        }
        let off = self.rng.below(size);
        let len = 1 + self.rng.below(max.min(size - off));
        Some((off, len))
    }

    fn write(&mut self, max_size: u64) -> Result<(), String> {
        let size = self.model.len() as u64;
        // Mostly near the data, sometimes far past the end (a hole), sometimes appending.
        let off = match self.rng.below(8) {
            0 => size + self.rng.below(max_size / 4).min(max_size.saturating_sub(size)),
            1 => size,
            _ => self.rng.below(size.max(1)),
        };
        let len = 1 + self.rng.below(64 * 1024);
        let len = len.min(max_size.saturating_sub(off)).max(1);
        if off + len > max_size {
            return Ok(());
        }
        let mut data = vec![0u8; len as usize];
        let mut x = self.rng.next();
        for b in data.iter_mut() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (x >> 56) as u8 | 1; // never 0: a lost write cannot pass for a hole
        }
        self.note(format!("write {off:#x}+{len:#x}"));
        self.file
            .write_all_at(&data, off)
            .map_err(|e| self.fail(format!("pwrite {off:#x}+{len:#x}: {e}")))?;
        let end = (off + len) as usize;
        if self.model.len() < end {
            self.model.resize(end, 0);
        }
        self.model[off as usize..end].copy_from_slice(&data);
        Ok(())
    }

    fn read(&mut self) -> Result<(), String> {
        let Some((off, len)) = self.range(128 * 1024) else { return Ok(()) };
        self.note(format!("read {off:#x}+{len:#x}"));
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(|e| self.fail(format!("pread {off:#x}+{len:#x}: {e}")))?;
        self.compare(off, &buf, "read")
    }

    /// The page-aligned mapping window around `[off, off + len)`.
    fn window(off: u64, len: u64) -> (u64, usize, usize) {
        let start = off / PAGE * PAGE;
        let end = (off + len).div_ceil(PAGE) * PAGE;
        (start, (end - start) as usize, (off - start) as usize)
    }

    fn mapread(&mut self) -> Result<(), String> {
        let Some((off, len)) = self.range(256 * 1024) else { return Ok(()) };
        self.note(format!("mapread {off:#x}+{len:#x}"));
        let (start, mlen, at) = Self::window(off, len);
        let m = Map::new(&self.file, start, mlen, PROT_READ)
            .map_err(|e| self.fail(format!("mmap {start:#x}+{mlen:#x} for reading: {e}")))?;
        let mut buf = vec![0u8; len as usize];
        m.read(at, &mut buf);
        self.compare(off, &buf, "mapped read")
    }

    fn mapwrite(&mut self) -> Result<(), String> {
        let Some((off, len)) = self.range(64 * 1024) else { return Ok(()) };
        self.note(format!("mapwrite {off:#x}+{len:#x}"));
        let (start, mlen, at) = Self::window(off, len);
        let mut m = Map::new(&self.file, start, mlen, PROT_READ | PROT_WRITE)
            .map_err(|e| self.fail(format!("mmap {start:#x}+{mlen:#x} for writing: {e}")))?;
        let mut data = vec![0u8; len as usize];
        let x = (self.rng.next() >> 56) as u8;
        for (i, b) in data.iter_mut().enumerate() {
            *b = x.wrapping_add(i as u8) | 1;
        }
        m.write(at, &data);
        m.sync().map_err(|e| self.fail(format!("msync: {e}")))?;
        drop(m);
        self.model[off as usize..(off + len) as usize].copy_from_slice(&data);
        Ok(())
    }

    fn truncate(&mut self, max_size: u64) -> Result<(), String> {
        let size = self.model.len() as u64;
        let new = if self.rng.below(2) == 0 {
            self.rng.below(size + 1)
        } else {
            (size + self.rng.below(256 * 1024)).min(max_size)
        };
        self.note(format!("truncate {size:#x} -> {new:#x}"));
        self.file
            .set_len(new)
            .map_err(|e| self.fail(format!("ftruncate {new:#x}: {e}")))?;
        self.model.resize(new as usize, 0);
        Ok(())
    }

    fn fallocate(&mut self, keep: bool, max_size: u64) -> Result<(), String> {
        let size = self.model.len() as u64;
        let off = self.rng.below(size + 128 * 1024);
        let len = 1 + self.rng.below(256 * 1024);
        if off + len > max_size {
            return Ok(());
        }
        self.note(format!("fallocate{} {off:#x}+{len:#x}", if keep { " keep-size" } else { "" }));
        let mode = if keep { FALLOC_FL_KEEP_SIZE } else { 0 };
        // SAFETY: A plain system call on our own file descriptor.
        if unsafe { fallocate(self.file.as_raw_fd(), mode, off as i64, len as i64) } != 0 {
            return Err(self.fail(format!("fallocate {off:#x}+{len:#x}: {}", io::Error::last_os_error())));
        }
        if !keep && off + len > size {
            self.model.resize((off + len) as usize, 0);
        }
        Ok(())
    }

    /// Punches a hole: small or large, sometimes block aligned, sometimes past the end; the
    /// model reads zeros in the range up to the size, which does not change.
    fn punch(&mut self) -> Result<(), String> {
        let size = self.model.len() as u64;
        let mut off = self.rng.below(size + 64 * 1024);
        let mut len = match self.rng.below(8) {
            0 => 1 + self.rng.below(size + 1),
            1 => 1 + self.rng.below(PAGE),
            _ => 1 + self.rng.below(256 * 1024),
        };
        if self.rng.below(3) == 0 {
            off = off / PAGE * PAGE;
            len = len.next_multiple_of(PAGE);
        }
        self.note(format!("punch {off:#x}+{len:#x}"));
        let mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        // SAFETY: A plain system call on our own file descriptor.
        if unsafe { fallocate(self.file.as_raw_fd(), mode, off as i64, len as i64) } != 0 {
            return Err(self.fail(format!("punch {off:#x}+{len:#x}: {}", io::Error::last_os_error())));
        }
        let end = (off + len).min(size);
        if off < end {
            self.model[off as usize..end as usize].fill(0);
        }
        Ok(())
    }

    fn check_all(&mut self, how: &str, mmap: bool) -> Result<(), String> {
        let size = self
            .file
            .metadata()
            .map_err(|e| self.fail(format!("fstat: {e}")))?
            .len();
        if size != self.model.len() as u64 {
            return Err(self.fail(format!("{how}: size {size:#x}, the model says {:#x}", self.model.len())));
        }
        let mut buf = vec![0u8; size as usize];
        self.file
            .read_exact_at(&mut buf, 0)
            .map_err(|e| self.fail(format!("{how}: read: {e}")))?;
        self.compare(0, &buf, how)?;
        if mmap && size > 0 {
            let m = Map::new(&self.file, 0, size as usize, PROT_READ)
                .map_err(|e| self.fail(format!("{how}: mmap: {e}")))?;
            m.read(0, &mut buf);
            self.compare(0, &buf, &format!("{how} (mapped)"))?;
        }
        Ok(())
    }

    fn reopen(&mut self, mmap: bool) -> Result<(), String> {
        self.note("reopen".into());
        self.file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| self.fail(format!("open {}: {e}", self.path)))?;
        self.check_all("whole file after reopening", mmap)
    }
}

fn parse(args: &[String]) -> Option<(String, Opts)> {
    let mut it = args.iter().skip(1);
    let path = it.next()?.clone();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut o = Opts { seed, ops: 3000, max_size: 8 << 20, mmap: true, fallocate: true };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => o.seed = it.next()?.parse().ok()?,
            "--ops" => o.ops = it.next()?.parse().ok()?,
            "--max-size" => o.max_size = it.next()?.parse().ok()?,
            "--no-mmap" => o.mmap = false,
            "--no-fallocate" => o.fallocate = false,
            _ => return None,
        }
    }
    (o.seed != 0 && o.max_size >= PAGE).then_some((path, o))
}

fn run(path: String, o: &Opts) -> Result<String, String> {
    std::env::set_var("XIPFSX_SEED", o.seed.to_string());
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("FAIL: create {path}: {e}"))?;
    let mut r = Run {
        path,
        file,
        model: Vec::new(),
        rng: Rng(o.seed),
        log: Vec::new(),
        op: 0,
        counts: [0; 10],
    };
    for n in 1..=o.ops {
        r.op = n;
        // Weights of the operations (indices into NAMES); disabled ones are left out.
        let weights: [u64; 10] = [
            30,
            15,
            if o.mmap { 8 } else { 0 },
            if o.mmap { 8 } else { 0 },
            10,
            if o.fallocate { 8 } else { 0 },
            if o.fallocate { 7 } else { 0 },
            9,
            5,
            if o.fallocate { 8 } else { 0 },
        ];
        let mut k = r.rng.below(weights.iter().sum());
        let mut which = 0;
        while k >= weights[which] {
            k -= weights[which];
            which += 1;
        }
        match which {
            0 => r.write(o.max_size)?,
            1 => r.read()?,
            2 => r.mapread()?,
            3 => r.mapwrite()?,
            4 => r.truncate(o.max_size)?,
            5 => r.fallocate(false, o.max_size)?,
            6 => r.fallocate(true, o.max_size)?,
            7 => {
                r.note("fsync".into());
                r.file.sync_all().map_err(|e| r.fail(format!("fsync: {e}")))?;
            }
            8 => r.reopen(o.mmap)?,
            _ => r.punch()?,
        }
        r.counts[which] += 1;
    }
    r.op = o.ops + 1;
    r.check_all("whole file at the end", o.mmap)?;
    let counts: Vec<String> =
        NAMES.iter().zip(r.counts).map(|(n, c)| format!("{n} {c}")).collect();
    Ok(format!(
        "xipfsx: seed {} {} ops on {}, final size {:#x}: {}: ok",
        o.seed,
        o.ops,
        r.path,
        r.model.len(),
        counts.join(", ")
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some((path, o)) = parse(&args) else {
        eprintln!(
            "usage: xipfsx FILE [--seed S] [--ops N] [--max-size BYTES] [--no-mmap] [--no-fallocate]"
        );
        return ExitCode::from(2);
    };
    println!("xipfsx: seed {} ({} ops on {})", o.seed, o.ops, path);
    match run(path, &o) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{e}");
            ExitCode::FAILURE
        }
    }
}
