// SPDX-License-Identifier: GPL-2.0
//! xipmap: the memory-mapping, statx and error checks of the xipfs guest tests.
//!
//! ```text
//! xipmap shared FILE [--mixedmap]   a MAP_SHARED read mapping holds what read() reads, and
//!                                   zeros from EOF to the end of the last page; --mixedmap:
//!                                   the mapping is VM_MIXEDMAP ("mm" in /proc/self/smaps),
//!                                   as xipfs's DAX mappings of device memory are
//! xipmap private-cow FILE           writes to MAP_PRIVATE mappings get private copies (COW)
//!                                   that the file, read(), other mappings, new mappings and
//!                                   a child process never see
//! xipmap statx-dax FILE [yes|no]    statx reports STATX_ATTR_DAX set (default) or not set
//! xipmap fault-past-eof FILE        (a file shorter than a page) touching a mapped page
//!                                   wholly past EOF kills with SIGBUS
//! xipmap shared-write-refused FILE  (a file on a read-only mount) no writable MAP_SHARED
//!                                   mapping (EACCES), no open for writing (EROFS)
//! xipmap try OP PATH EXPECT         do OP on PATH and check the outcome against EXPECT
//! xipmap proc-mem FILE              map FILE shared and private (one private page copied on
//!                                   write) and read both through /proc/self/mem: the file's
//!                                   bytes (zeros past EOF), the copy where written;
//!                                   process_vm_readv of the shared mapping gives PVM_EXPECT
//!                                   (an errno name or "ok"; default EFAULT)
//! xipmap trace PROG                 start PROG under ptrace, stopped at its exec; every page
//!                                   of its executable mappings of PROG read through
//!                                   PTRACE_PEEKTEXT and /proc/PID/mem holds PROG's bytes;
//!                                   then PTRACE_POKETEXT (a breakpoint) gives POKE_EXPECT
//!                                   (default EIO), reads back as written or unchanged, and
//!                                   PROG on disk does not change
//! xipmap mprotect-write FILE EXPECT mprotect(PROT_WRITE) of a private read-only mapping
//!                                   gives EXPECT ("ok" or an errno name); a write to it
//!                                   then stays private
//! ```
//!
//! `try` is how the corrupt-image tests look at a filesystem: unlike busybox's tools it
//! reports every error (busybox `ls` ignores a failing readdir, `readlink` prints nothing),
//! and it names the errno.  OP is one of
//!
//! - `ls` (readdir the directory), `find` (walk the tree with readdir and lstat, at most
//!   32 levels deep: deeper is reported as outcome `LOOP`), `stat` (lstat), `readlink`;
//! - `cat` (read the whole file, at most 256 MiB), `head` (read its first 64 KiB), `tail`
//!   (read its last 4 KiB), `mmap` (map it, at most 64 MiB, and read every page in a child
//!   process: a fault that fails kills the child with SIGBUS).
//!
//! EXPECT is a `|`-separated list of accepted outcomes: `ok` (success), `zeros` (success
//! and every byte read was zero), an errno name such as `EUCLEAN`, or `SIGBUS`.
//!
//! Every subcommand prints what it checked, and exits 0 when all checks pass; otherwise it
//! prints a line starting with `FAIL:` and exits 1 (2 on a usage error).
//!
//! Only std, no crates: the few system calls std has no wrapper for (mmap, munmap,
//! mprotect, statx, fork, waitpid, signal, sysconf, ptrace, process_vm_readv, execv) are
//! declared below against glibc and
//! wrapped in small safe functions; the `unsafe` is limited to those wrappers and to
//! reading and writing the mapped memory.  x86-64 Linux only (the constants).

use std::collections::BTreeSet;
use std::ffi::{c_char, c_int, c_long, c_uint, c_void, CString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::ExitCode;

// ---------------------------------------------------------------------------
// System calls
// ---------------------------------------------------------------------------

mod sys {
    use super::*;

    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_SHARED: c_int = 1;
    pub const MAP_PRIVATE: c_int = 2;
    pub const AT_FDCWD: c_int = -100;
    pub const STATX_BASIC_STATS: c_uint = 0x7ff;
    pub const STATX_ATTR_DAX: u64 = 0x0020_0000;
    pub const SIGBUS: c_int = 7;
    const SIG_DFL: usize = 0;
    const SC_PAGESIZE: c_int = 30;

    /// `struct statx` is 256 bytes; the fields used are read at their byte offsets.
    #[repr(C, align(8))]
    pub struct Statx(pub [u8; 256]);

    extern "C" {
        fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
            -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int;
        fn statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: c_uint, buf: *mut Statx)
            -> c_int;
        fn fork() -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn _exit(status: c_int) -> !;
        fn signal(sig: c_int, handler: usize) -> usize;
        fn sysconf(name: c_int) -> c_long;
        fn syscall(nr: c_long, ...) -> c_long;
        fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
        fn kill(pid: c_int, sig: c_int) -> c_int;
        fn getpid() -> c_int;
    }

    const SYS_PTRACE: c_long = 101;
    const SYS_PROCESS_VM_READV: c_long = 310;
    pub const PTRACE_PEEKTEXT: c_long = 1;
    pub const PTRACE_POKETEXT: c_long = 4;
    const PTRACE_TRACEME: c_long = 0;
    const SIGKILL: c_int = 9;
    pub const SIGTRAP: c_int = 5;

    #[repr(C)]
    struct IoVec {
        base: *mut c_void,
        len: usize,
    }

    /// ptrace with integer arguments; for PEEK requests `data` is the address of a word the
    /// caller owns.
    pub fn ptrace(req: c_long, pid: c_int, addr: usize, data: usize) -> io::Result<c_long> {
        // SAFETY: PEEK requests write one word to `data`, which the caller owns; other
        // requests used here take plain integers.
        let r = unsafe { syscall(SYS_PTRACE, req, pid as c_long, addr, data) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// process_vm_readv of `buf.len()` bytes at `addr` of this process.
    pub fn vm_read_self(addr: usize, buf: &mut [u8]) -> io::Result<usize> {
        let local = IoVec { base: buf.as_mut_ptr().cast(), len: buf.len() };
        let remote = IoVec { base: addr as *mut c_void, len: buf.len() };
        // SAFETY: `local` is our buffer; the kernel checks `remote`.
        let r = unsafe {
            syscall(SYS_PROCESS_VM_READV, getpid() as c_long, &local, 1usize, &remote, 1usize, 0usize)
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Forks a child that asks to be traced and execs `prog`; returns its pid.
    pub fn spawn_traced(prog: &CString) -> io::Result<c_int> {
        let argv = [prog.as_ptr(), std::ptr::null()];
        // SAFETY: single-threaded; the child only makes system calls before exec or _exit.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: as above; on success execv does not return.
            unsafe {
                syscall(SYS_PTRACE, PTRACE_TRACEME, 0 as c_long, 0usize, 0usize);
                execv(prog.as_ptr(), argv.as_ptr());
                _exit(127);
            }
        }
        Ok(pid)
    }

    /// Waits for child `pid`; returns its raw wait status.
    pub fn wait_status(pid: c_int) -> io::Result<c_int> {
        let mut st: c_int = 0;
        // SAFETY: waiting for our own child into a valid int.
        if unsafe { waitpid(pid, &mut st, 0) } != pid {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }

    /// Kills child `pid` and reaps it.
    pub fn kill_child(pid: c_int) {
        // SAFETY: our own child.
        unsafe { kill(pid, SIGKILL) };
        let _ = wait_status(pid);
    }

    pub fn page_size() -> usize {
        // SAFETY: sysconf has no memory-safety preconditions.
        unsafe { sysconf(SC_PAGESIZE) as usize }
    }

    /// mmap of a whole file from offset 0; returns the address.
    pub fn map(f: &File, len: usize, prot: c_int, flags: c_int) -> io::Result<*mut u8> {
        // SAFETY: a new mapping at an address the kernel picks; nothing existing is replaced.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, flags, f.as_raw_fd(), 0) };
        if p as isize == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(p.cast())
        }
    }

    /// munmap of a mapping made by `map`.
    ///
    /// # Safety
    /// No reference into the mapping may be used afterwards.
    pub unsafe fn unmap(addr: *mut u8, len: usize) {
        // SAFETY: the caller's promise.
        unsafe { munmap(addr.cast(), len) };
    }

    /// mprotect of a mapping made by `map` (only used to ask for more rights: making a
    /// mapping writable cannot invalidate references into it).
    pub fn protect(addr: *mut u8, len: usize, prot: c_int) -> io::Result<()> {
        // SAFETY: `addr` and `len` are those of a live mapping of ours.
        if unsafe { mprotect(addr.cast(), len, prot) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn statx_of(path: &Path) -> io::Result<Statx> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(22))?;
        let mut buf = Statx([0; 256]);
        // SAFETY: `c` is NUL-terminated and `buf` is a writable 256-byte statx buffer.
        if unsafe { statx(AT_FDCWD, c.as_ptr(), 0, STATX_BASIC_STATS, &mut buf) } == 0 {
            Ok(buf)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// How a child process ended.
    pub enum Ended {
        Exited(i32),
        Signal(i32),
    }

    /// Run `child` in a forked child process and wait for it.  The program is
    /// single-threaded, so the child may use anything; `child` returns its exit status.
    pub fn in_child(child: impl FnOnce() -> i32) -> io::Result<Ended> {
        // SAFETY: no other thread exists, so the child's copy of every lock is consistent.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = child();
            use std::io::Write;
            let _ = io::stdout().flush();
            // SAFETY: ends the child without running the parent's exit handlers twice.
            unsafe { _exit(code) };
        }
        let mut status: c_int = 0;
        // SAFETY: `status` is a valid int to write to.
        if unsafe { waitpid(pid, &mut status, 0) } != pid {
            return Err(io::Error::last_os_error());
        }
        Ok(if status & 0x7f == 0 {
            Ended::Exited((status >> 8) & 0xff)
        } else {
            Ended::Signal(status & 0x7f)
        })
    }

    /// Let SIGBUS kill the process (std's handler would too, but leave no doubt).
    pub fn default_sigbus() {
        // SAFETY: installs the default action, no handler code.
        unsafe { signal(SIGBUS, SIG_DFL) };
    }
}

/// A mapping of a file, unmapped on drop.
struct Map {
    addr: *mut u8,
    /// Length asked of mmap.
    len: usize,
    /// Bytes that can be accessed without a fault past EOF: up to the end of the page
    /// holding the file's last byte.
    readable: usize,
}

impl Map {
    fn new(f: &File, len: usize, prot: i32, flags: i32) -> io::Result<Map> {
        let size = f.metadata()?.len() as usize;
        let addr = sys::map(f, len, prot, flags)?;
        let readable = len.min(round_up(size, sys::page_size()));
        Ok(Map {
            addr,
            len,
            readable,
        })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the first `readable` bytes are mapped and backed by the file; the file is
        // not written while we look (read-only filesystem, or a test file nobody writes).
        unsafe { std::slice::from_raw_parts(self.addr, self.readable) }
    }

    /// Only for mappings made with PROT_WRITE.
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and the mapping is writable and private to this `Map`.
        unsafe { std::slice::from_raw_parts_mut(self.addr, self.readable) }
    }

    /// Read one byte at `off`, which may be past `readable` (to provoke a fault).
    fn touch(&self, off: usize) -> u8 {
        assert!(off < round_up(self.len, sys::page_size()));
        // SAFETY: inside the mapping; a fault past EOF is a signal, not undefined behaviour.
        unsafe { std::ptr::read_volatile(self.addr.add(off)) }
    }

    /// Write one byte at `off`, which may be past `readable`.  Only for PROT_WRITE mappings.
    fn poke(&self, off: usize, v: u8) {
        assert!(off < round_up(self.len, sys::page_size()));
        // SAFETY: as `touch`; the mapping is writable.
        unsafe { std::ptr::write_volatile(self.addr.add(off), v) }
    }

    fn addr(&self) -> usize {
        self.addr as usize
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the slices handed out borrow `self`, so none outlives it.
        unsafe { sys::unmap(self.addr, self.len) }
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

type Res = Result<(), String>;

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn errno_name(e: &io::Error) -> String {
    let names: &[(i32, &str)] = &[
        (1, "EPERM"),
        (2, "ENOENT"),
        (5, "EIO"),
        (7, "E2BIG"),
        (9, "EBADF"),
        (12, "ENOMEM"),
        (13, "EACCES"),
        (14, "EFAULT"),
        (16, "EBUSY"),
        (20, "ENOTDIR"),
        (21, "EISDIR"),
        (22, "EINVAL"),
        (27, "EFBIG"),
        (30, "EROFS"),
        (34, "ERANGE"),
        (36, "ENAMETOOLONG"),
        (40, "ELOOP"),
        (61, "ENODATA"),
        (75, "EOVERFLOW"),
        (95, "EOPNOTSUPP"),
        (117, "EUCLEAN"),
    ];
    match e.raw_os_error() {
        Some(n) => names
            .iter()
            .find(|(v, _)| *v == n)
            .map_or(format!("errno{n}"), |(_, s)| s.to_string()),
        None => format!("{:?}", e.kind()),
    }
}

/// "EUCLEAN (Structure needs cleaning)": the name and the text users see.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    format!("{} ({text})", errno_name(e))
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("read {}: {}", path.display(), describe(&e)))
}

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("open {}: {}", path.display(), describe(&e)))
}

fn map(f: &File, len: usize, prot: i32, flags: i32, what: &str) -> Result<Map, String> {
    Map::new(f, len, prot, flags).map_err(|e| format!("mmap {what}: {}", describe(&e)))
}

/// The first offset where `got` and `want` differ, as an error naming `what`.
fn same(got: &[u8], want: &[u8], what: &str) -> Res {
    if got.len() != want.len() {
        return Err(format!("{what}: {} bytes, expected {}", got.len(), want.len()));
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: differs at offset {i} (page {}): {:#04x}, expected {:#04x}",
            i / sys::page_size(),
            got[i],
            want[i]
        )),
    }
}

/// The smaps entry of the mapping starting at `addr`: (VmFlags, Anonymous kB).
fn smaps_of(addr: usize) -> Result<(Vec<String>, u64), String> {
    let smaps = fs::read_to_string("/proc/self/smaps").map_err(|e| format!("smaps: {e}"))?;
    let mut inside = false;
    let (mut flags, mut anon) = (None, None);
    for line in smaps.lines() {
        let first = line.split(' ').next().unwrap_or("");
        if let Some((start, _)) = first.split_once('-') {
            if let Ok(s) = usize::from_str_radix(start, 16) {
                if inside {
                    break;
                }
                inside = s == addr;
                continue;
            }
        }
        if !inside {
            continue;
        }
        if let Some(v) = line.strip_prefix("VmFlags:") {
            flags = Some(v.split_whitespace().map(String::from).collect());
        } else if let Some(v) = line.strip_prefix("Anonymous:") {
            anon = v.trim().trim_end_matches("kB").trim().parse().ok();
        }
    }
    match (flags, anon) {
        (Some(f), Some(a)) => Ok((f, a)),
        _ => Err(format!("no smaps entry with VmFlags and Anonymous at {addr:#x}")),
    }
}

// ---------------------------------------------------------------------------
// shared
// ---------------------------------------------------------------------------

fn shared(path: &Path, mixedmap: bool) -> Res {
    let data = read_file(path)?;
    if data.is_empty() {
        return Err(format!("{}: empty file, nothing to map", path.display()));
    }
    let f = open(path)?;
    let m = map(&f, data.len(), sys::PROT_READ, sys::MAP_SHARED, "MAP_SHARED")?;
    same(&m.bytes()[..data.len()], &data, "MAP_SHARED mapping against read()")?;
    if let Some(i) = m.bytes()[data.len()..].iter().position(|&b| b != 0) {
        return Err(format!(
            "MAP_SHARED mapping: byte {} past EOF (size {}) in the last page is {:#04x}, not 0",
            data.len() + i,
            data.len(),
            m.bytes()[data.len() + i]
        ));
    }
    // A second mapping, read backwards, sees the same.
    let m2 = map(&f, data.len(), sys::PROT_READ, sys::MAP_SHARED, "second MAP_SHARED")?;
    let page = sys::page_size();
    for p in (0..m2.readable / page).rev() {
        let end = ((p + 1) * page).min(data.len());
        same(&m2.bytes()[p * page..end], &data[p * page..end], "second MAP_SHARED mapping")?;
    }
    let (flags, anon) = smaps_of(m.addr())?;
    println!(
        "xipmap: shared {}: {} bytes match read(); VmFlags {}; Anonymous {anon} kB",
        path.display(),
        data.len(),
        flags.join(" ")
    );
    if mixedmap && !flags.iter().any(|f| f == "mm") {
        return Err("the MAP_SHARED mapping is not VM_MIXEDMAP (no mm in VmFlags)".into());
    }
    if anon != 0 {
        return Err(format!("a read-only MAP_SHARED mapping has {anon} kB of anonymous memory"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// private-cow
// ---------------------------------------------------------------------------

/// The byte ranges written: the first bytes of the file, some in a middle page, and the
/// last bytes, each at most 16 bytes and inside the file.
fn cow_ranges(size: usize) -> Vec<std::ops::Range<usize>> {
    let page = sys::page_size();
    let pages = size.div_ceil(page);
    let mid = ((pages / 2) * page + 123).min(size.saturating_sub(1));
    let mut v: Vec<std::ops::Range<usize>> = Vec::new();
    for start in [0, mid, size.saturating_sub(16)] {
        let r = start..(start + 16).min(size);
        if !v.iter().any(|o| o.start < r.end && r.start < o.end) {
            v.push(r);
        }
    }
    v
}

/// `orig` with the bytes of `ranges` XORed with `x`.
fn patterned(orig: &[u8], ranges: &[std::ops::Range<usize>], x: u8) -> Vec<u8> {
    let mut v = orig.to_vec();
    for r in ranges {
        for b in &mut v[r.clone()] {
            *b ^= x;
        }
    }
    v
}

fn write_pattern(m: &mut Map, orig: &[u8], ranges: &[std::ops::Range<usize>], x: u8) {
    let bytes = m.bytes_mut();
    for r in ranges {
        for i in r.clone() {
            bytes[i] = orig[i] ^ x;
        }
    }
}

fn private_cow(path: &Path) -> Res {
    let orig = read_file(path)?;
    let n = orig.len();
    if n == 0 {
        return Err(format!("{}: empty file, nothing to map", path.display()));
    }
    let page = sys::page_size();
    let ranges = cow_ranges(n);
    let pages: BTreeSet<usize> = ranges
        .iter()
        .flat_map(|r| [r.start / page, (r.end - 1) / page])
        .collect();
    let rw = sys::PROT_READ | sys::PROT_WRITE;
    let f = open(path)?;

    // A: read-faulted everywhere first, so its writes copy pages already mapped read-only.
    // W: written before any read, so its writes fault in copies directly.
    // B: read-faulted, never written.
    let mut a = map(&f, n, rw, sys::MAP_PRIVATE, "MAP_PRIVATE A")?;
    let mut w = map(&f, n, rw, sys::MAP_PRIVATE, "MAP_PRIVATE W")?;
    let b = map(&f, n, rw, sys::MAP_PRIVATE, "MAP_PRIVATE B")?;
    same(&a.bytes()[..n], &orig, "mapping A before writing")?;
    same(&b.bytes()[..n], &orig, "mapping B before writing")?;
    write_pattern(&mut a, &orig, &ranges, 0xff);
    write_pattern(&mut w, &orig, &ranges, 0x5a);
    let want_a = patterned(&orig, &ranges, 0xff);
    let want_w = patterned(&orig, &ranges, 0x5a);

    same(&a.bytes()[..n], &want_a, "mapping A after writing to it")?;
    same(&w.bytes()[..n], &want_w, "mapping W after writing to it")?;
    same(&b.bytes()[..n], &orig, "mapping B after writes to A and W")?;
    same(&read_file(path)?, &orig, "read() after writes to A and W")?;
    let c = map(&f, n, sys::PROT_READ, sys::MAP_SHARED, "new MAP_SHARED C")?;
    same(&c.bytes()[..n], &orig, "new MAP_SHARED mapping C")?;
    let f2 = open(path)?;
    let d = map(&f2, n, rw, sys::MAP_PRIVATE, "MAP_PRIVATE D of a new open")?;
    same(&d.bytes()[..n], &orig, "new MAP_PRIVATE mapping D of a re-opened file")?;

    // Each written page became one private (anonymous) page, in A and in W.
    for (name, m) in [("A", &a), ("W", &w)] {
        let (_, anon) = smaps_of(m.addr())?;
        let want = (pages.len() * page / 1024) as u64;
        if anon != want {
            return Err(format!(
                "mapping {name}: {anon} kB anonymous after writing {} pages, expected {want} kB",
                pages.len()
            ));
        }
    }

    // A child sees the file unchanged and its copy of A as A was; what it writes to its
    // copy of A stays in the child.
    let child = sys::in_child(|| {
        let r = (|| -> Res {
            let f = open(path)?;
            let m = map(&f, n, sys::PROT_READ, sys::MAP_SHARED, "MAP_SHARED in the child")?;
            same(&m.bytes()[..n], &orig, "child: new MAP_SHARED mapping")?;
            same(&read_file(path)?, &orig, "child: read()")?;
            same(&a.bytes()[..n], &want_a, "child: its copy of mapping A")?;
            write_pattern(&mut a, &orig, &ranges, 0x33);
            same(&a.bytes()[..n], &patterned(&orig, &ranges, 0x33), "child: A after writing")?;
            Ok(())
        })();
        match r {
            Ok(()) => 0,
            Err(e) => {
                println!("FAIL: {e}");
                1
            }
        }
    })
    .map_err(|e| format!("fork: {e}"))?;
    match child {
        sys::Ended::Exited(0) => {}
        sys::Ended::Exited(c) => return Err(format!("the child process failed (exit {c})")),
        sys::Ended::Signal(s) => return Err(format!("the child process died of signal {s}")),
    }
    same(&a.bytes()[..n], &want_a, "mapping A after the child wrote to its copy")?;
    same(&b.bytes()[..n], &orig, "mapping B at the end")?;
    same(&read_file(path)?, &orig, "read() at the end")?;
    println!(
        "xipmap: private-cow {}: writes at {:?} ({} pages) stayed in their mappings",
        path.display(),
        ranges,
        pages.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// statx-dax
// ---------------------------------------------------------------------------

fn statx_dax(path: &Path, want: bool) -> Res {
    let st = sys::statx_of(path).map_err(|e| format!("statx {}: {}", path.display(), describe(&e)))?;
    let u64_at = |off: usize| u64::from_le_bytes(st.0[off..off + 8].try_into().unwrap());
    let (attributes, mask) = (u64_at(8), u64_at(56));
    let dax = sys::STATX_ATTR_DAX;
    println!(
        "xipmap: statx-dax {}: stx_attributes {attributes:#x}, stx_attributes_mask {mask:#x}",
        path.display()
    );
    if mask & dax == 0 {
        return Err("stx_attributes_mask lacks STATX_ATTR_DAX: the kernel does not report it".into());
    }
    match (want, attributes & dax != 0) {
        (true, false) => Err("stx_attributes lacks STATX_ATTR_DAX".into()),
        (false, true) => Err("stx_attributes has STATX_ATTR_DAX".into()),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// fault-past-eof
// ---------------------------------------------------------------------------

fn fault_past_eof(path: &Path) -> Res {
    let data = read_file(path)?;
    let page = sys::page_size();
    if data.is_empty() || data.len() >= page {
        return Err(format!(
            "{}: {} bytes; fault-past-eof needs a file of 1 to {} bytes",
            path.display(),
            data.len(),
            page - 1
        ));
    }
    let f = open(path)?;
    let cases = [
        ("MAP_SHARED read", sys::PROT_READ, sys::MAP_SHARED, false),
        ("MAP_PRIVATE read", sys::PROT_READ, sys::MAP_PRIVATE, false),
        ("MAP_PRIVATE write", sys::PROT_READ | sys::PROT_WRITE, sys::MAP_PRIVATE, true),
    ];
    for (what, prot, flags, write) in cases {
        let m = map(&f, 2 * page, prot, flags, what)?;
        same(&m.bytes()[..data.len()], &data, what)?;
        if m.bytes()[data.len()..].iter().any(|&b| b != 0) {
            return Err(format!("{what}: the first page is not zero past EOF"));
        }
        let child = sys::in_child(|| {
            sys::default_sigbus();
            if write {
                m.poke(page + 17, 1);
            } else {
                m.touch(page + 17);
            }
            println!("FAIL: {what}: the page past EOF could be accessed");
            1
        })
        .map_err(|e| format!("fork: {e}"))?;
        match child {
            sys::Ended::Signal(sys::SIGBUS) => {}
            sys::Ended::Signal(s) => {
                return Err(format!("{what}: touching the page past EOF gave signal {s}, not SIGBUS"))
            }
            sys::Ended::Exited(c) => {
                return Err(format!("{what}: touching the page past EOF did not fault (exit {c})"))
            }
        }
        println!("xipmap: fault-past-eof {}: {what}: SIGBUS past EOF", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// shared-write-refused
// ---------------------------------------------------------------------------

fn expect_errno<T>(r: io::Result<T>, want: &str, what: &str) -> Res {
    match r {
        Ok(_) => Err(format!("{what} succeeded, expected {want}")),
        Err(e) if errno_name(&e) == want => {
            println!("xipmap: {what}: {}, as expected", describe(&e));
            Ok(())
        }
        Err(e) => Err(format!("{what}: {}, expected {want}", describe(&e))),
    }
}

fn shared_write_refused(path: &Path) -> Res {
    let f = open(path)?;
    let len = (f.metadata().map_err(|e| e.to_string())?.len() as usize).max(1);
    let rw = sys::PROT_READ | sys::PROT_WRITE;
    expect_errno(
        Map::new(&f, len, rw, sys::MAP_SHARED),
        "EACCES",
        "mmap(PROT_WRITE, MAP_SHARED) of an O_RDONLY file",
    )?;
    let m = map(&f, len, sys::PROT_READ, sys::MAP_SHARED, "MAP_SHARED read")?;
    expect_errno(
        sys::protect(m.addr, m.len, rw),
        "EACCES",
        "mprotect(PROT_WRITE) of a MAP_SHARED mapping of an O_RDONLY file",
    )?;
    let p = map(&f, len, rw, sys::MAP_PRIVATE, "MAP_PRIVATE read-write")?;
    drop(p);
    println!("xipmap: mmap(PROT_WRITE, MAP_PRIVATE) of the O_RDONLY file works, as it should");
    expect_errno(
        OpenOptions::new().read(true).write(true).open(path),
        "EROFS",
        "open(O_RDWR)",
    )?;
    expect_errno(OpenOptions::new().write(true).open(path), "EROFS", "open(O_WRONLY)")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// try
// ---------------------------------------------------------------------------

/// What an operation of `try` came to.
enum Outcome {
    /// Success; `zeros` when every byte read was zero.
    Ok { zeros: bool, detail: String },
    Errno(io::Error),
    /// Not an errno: a signal (SIGBUS) or LOOP.
    Other(String),
}

fn read_up_to(r: &mut impl Read, max: u64) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.take(max).read_to_end(&mut v)?;
    Ok(v)
}

fn data_outcome(v: Vec<u8>, what: &str) -> Outcome {
    Outcome::Ok {
        zeros: v.iter().all(|&b| b == 0),
        detail: format!("{} bytes {what}", v.len()),
    }
}

/// `find`: readdir and lstat every entry, depth first; returns the entry count.
fn walk(dir: &Path, depth: u32, count: &mut u64) -> Result<(), Outcome> {
    if depth > 32 {
        return Err(Outcome::Other(format!("LOOP (more than 32 levels at {})", dir.display())));
    }
    let rd = fs::read_dir(dir).map_err(Outcome::Errno)?;
    for e in rd {
        let p = e.map_err(Outcome::Errno)?.path();
        let md = fs::symlink_metadata(&p).map_err(Outcome::Errno)?;
        *count += 1;
        if md.is_dir() {
            walk(&p, depth + 1, count)?;
        }
    }
    Ok(())
}

fn try_op(op: &str, path: &Path) -> Result<Outcome, String> {
    let errno = |r: io::Result<Outcome>| r.unwrap_or_else(Outcome::Errno);
    Ok(match op {
        "ls" => errno((|| {
            let mut n = 0;
            for e in fs::read_dir(path)? {
                e?;
                n += 1;
            }
            Ok(Outcome::Ok {
                zeros: false,
                detail: format!("{n} entries"),
            })
        })()),
        "find" => {
            let mut n = 0;
            match walk(path, 0, &mut n) {
                Ok(()) => Outcome::Ok {
                    zeros: false,
                    detail: format!("{n} entries"),
                },
                Err(o) => o,
            }
        }
        "stat" => errno(fs::symlink_metadata(path).map(|m| {
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "file"
            } else if ft.is_symlink() {
                "symlink"
            } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
                "special"
            } else {
                "unknown type"
            };
            Outcome::Ok {
                zeros: false,
                detail: format!("{kind}, size {}", m.len()),
            }
        })),
        "readlink" => errno(fs::read_link(path).map(|t| Outcome::Ok {
            zeros: false,
            detail: format!("{} bytes of target", t.as_os_str().len()),
        })),
        "cat" => errno((|| {
            let mut f = File::open(path)?;
            let max = 256 << 20;
            let v = read_up_to(&mut f, max + 1)?;
            if v.len() as u64 > max {
                return Ok(Outcome::Other("TOOBIG (more than 256 MiB)".into()));
            }
            Ok(data_outcome(v, "read"))
        })()),
        "head" => errno((|| Ok(data_outcome(read_up_to(&mut File::open(path)?, 64 << 10)?, "read at 0")))()),
        "tail" => errno((|| {
            let f = File::open(path)?;
            let size = f.metadata()?.len();
            let at = size.saturating_sub(4096);
            let mut buf = vec![0u8; (size - at) as usize];
            let mut got = 0;
            while got < buf.len() {
                match f.read_at(&mut buf[got..], at + got as u64)? {
                    0 => break,
                    k => got += k,
                }
            }
            buf.truncate(got);
            Ok(data_outcome(buf, &format!("read at {at}")))
        })()),
        "mmap" => {
            let f = match File::open(path) {
                Ok(f) => f,
                Err(e) => return Ok(Outcome::Errno(e)),
            };
            let size = f.metadata().map_err(|e| e.to_string())?.len();
            let len = size.clamp(1, 64 << 20) as usize;
            let m = match Map::new(&f, len, sys::PROT_READ, sys::MAP_SHARED) {
                Ok(m) => m,
                Err(e) => return Ok(Outcome::Errno(e)),
            };
            let page = sys::page_size();
            let child = sys::in_child(|| {
                sys::default_sigbus();
                for off in (0..m.readable).step_by(page) {
                    m.touch(off);
                }
                0
            })
            .map_err(|e| format!("fork: {e}"))?;
            match child {
                sys::Ended::Exited(0) => Outcome::Ok {
                    zeros: false,
                    detail: format!("{} pages read through the mapping", m.readable / page),
                },
                sys::Ended::Signal(sys::SIGBUS) => Outcome::Other("SIGBUS".into()),
                sys::Ended::Signal(s) => Outcome::Other(format!("signal {s}")),
                sys::Ended::Exited(c) => Outcome::Other(format!("child exit {c}")),
            }
        }
        _ => return Err(format!("unknown operation {op}")),
    })
}

fn try_cmd(op: &str, path: &Path, expect: &str) -> Res {
    let accepted: Vec<&str> = expect.split('|').collect();
    let outcome = try_op(op, path)?;
    let (matches, text) = match &outcome {
        Outcome::Ok { zeros, detail } => (
            accepted.contains(&"ok") || (*zeros && accepted.contains(&"zeros")),
            format!("{} ({detail})", if *zeros { "zeros" } else { "ok" }),
        ),
        Outcome::Errno(e) => (accepted.contains(&errno_name(e).as_str()), format!("error {}", describe(e))),
        Outcome::Other(s) => (
            accepted.contains(&s.split(' ').next().unwrap_or("")),
            s.clone(),
        ),
    };
    println!("xipmap: try {op} {}: {text}", path.display());
    if matches {
        Ok(())
    } else {
        Err(format!("{op} {}: {text}, expected {expect}", path.display()))
    }
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Debuggers: /proc/PID/mem, ptrace, process_vm_readv
// ---------------------------------------------------------------------------

/// The file's bytes as a mapping shows them: its data, then zeros to the end of the page.
fn file_view(path: &Path) -> Result<Vec<u8>, String> {
    let mut v = read_file(path)?;
    v.resize(round_up(v.len(), sys::page_size()), 0);
    Ok(v)
}

/// Reads `len` bytes at `addr` of process `pid` ("self" or a number) through /proc/PID/mem.
fn proc_mem(pid: &str, addr: usize, len: usize) -> Result<Vec<u8>, String> {
    let mem = open(Path::new(&format!("/proc/{pid}/mem")))?;
    let mut buf = vec![0u8; len];
    mem.read_exact_at(&mut buf, addr as u64)
        .map_err(|e| format!("/proc/{pid}/mem at {addr:#x}+{len:#x}: {}", describe(&e)))?;
    Ok(buf)
}

/// An environment variable naming an expected outcome, or `default`.
fn expected(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.into())
}

fn proc_mem_cmd(path: &Path) -> Res {
    let want = file_view(path)?;
    if want.is_empty() {
        return Err("the file is empty: nothing to map".into());
    }
    let f = open(path)?;
    let len = want.len();
    let shared = map(&f, len, sys::PROT_READ, sys::MAP_SHARED, "MAP_SHARED")?;
    same(&proc_mem("self", shared.addr(), len)?, &want, "shared mapping through /proc/self/mem")?;
    println!("shared mapping: {len} bytes through /proc/self/mem match the file");

    // A private mapping with one page copied on write: /proc/self/mem shows the copy there
    // and the file elsewhere.
    let private = map(&f, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_PRIVATE, "MAP_PRIVATE")?;
    let page = (len / sys::page_size()) / 2;
    let mut expect = want.clone();
    for i in 0..16 {
        let off = page * sys::page_size() + i * 7;
        expect[off] = !want[off];
        private.poke(off, expect[off]);
    }
    same(&proc_mem("self", private.addr(), len)?, &expect, "private mapping through /proc/self/mem")?;
    println!("private mapping: page {page} shows its private copy, the rest the file");
    same(&file_view(path)?, &want, "the file after writing its private mapping")?;

    // process_vm_readv pins the pages (get_user_pages): no vm_ops->access fallback.
    let mut buf = vec![0u8; len];
    let outcome = match sys::vm_read_self(shared.addr(), &mut buf) {
        Err(e) => errno_name(&e),
        Ok(n) if n == len && buf == want => "ok".into(),
        Ok(n) => format!("{n} bytes"),
    };
    let pvm_expect = expected("PVM_EXPECT", "EFAULT");
    if outcome != pvm_expect {
        return Err(format!("process_vm_readv of the shared mapping: {outcome}, expected {pvm_expect}"));
    }
    println!("process_vm_readv of the shared mapping: {outcome}, as expected");
    Ok(())
}

/// The executable mappings of `path` in process `pid`: (start, end, file offset).
fn exec_maps(pid: c_int, path: &Path) -> Result<Vec<(usize, usize, usize)>, String> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| e.to_string())?;
    let canon = fs::canonicalize(path).map_err(|e| e.to_string())?;
    let hex = |x: &str| usize::from_str_radix(x, 16).map_err(|e| e.to_string());
    let mut v = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || !f[1].contains('x') || Path::new(f[5]) != canon {
            continue;
        }
        let (s, e) = f[0].split_once('-').ok_or("bad maps line")?;
        v.push((hex(s)?, hex(e)?, hex(f[2])?));
    }
    Ok(v)
}

fn peek(pid: c_int, addr: usize) -> Result<u64, String> {
    let mut word = 0u64;
    sys::ptrace(sys::PTRACE_PEEKTEXT, pid, addr, &mut word as *mut u64 as usize)
        .map_err(|e| format!("PTRACE_PEEKTEXT at {addr:#x}: {}", errno_name(&e)))?;
    Ok(word)
}

fn trace(prog: &Path) -> Res {
    let before = read_file(prog)?;
    let cprog = CString::new(prog.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let pid = sys::spawn_traced(&cprog).map_err(|e| format!("fork: {e}"))?;
    let res = trace_child(pid, prog, &before);
    sys::kill_child(pid);
    res
}

fn trace_child(pid: c_int, prog: &Path, before: &[u8]) -> Res {
    let st = sys::wait_status(pid).map_err(|e| format!("waitpid: {e}"))?;
    // Stopped (0x7f) by the SIGTRAP of its exec.
    if st & 0xff != 0x7f || (st >> 8) & 0xff != sys::SIGTRAP {
        return Err(format!("the child did not stop at its exec (wait status {st:#x})"));
    }
    let view = file_view(prog)?;
    let maps = exec_maps(pid, prog)?;
    if maps.is_empty() {
        return Err(format!("no executable mapping of {} in the child", prog.display()));
    }
    let (spid, ps) = (pid.to_string(), sys::page_size());
    let mut pages = 0;
    for &(start, end, off) in &maps {
        for addr in (start..end).step_by(ps) {
            let foff = off + (addr - start);
            if foff >= view.len() {
                break;
            }
            let want = &view[foff..foff + ps];
            let what = format!("/proc/{pid}/mem at {addr:#x} (file offset {foff:#x})");
            same(&proc_mem(&spid, addr, ps)?, want, &what)?;
            for w in [0, ps / 2, ps - 8] {
                let word = peek(pid, addr + w)?;
                let exp = u64::from_le_bytes(want[w..w + 8].try_into().unwrap());
                if word != exp {
                    return Err(format!("PTRACE_PEEKTEXT at {:#x}: {word:#x}, expected {exp:#x}", addr + w));
                }
            }
            pages += 1;
        }
    }
    println!("{pages} text pages of {} read with PTRACE_PEEKTEXT and /proc/{pid}/mem match the file", prog.display());

    // A breakpoint: an int3 over the first word of the text, as gdb sets one.
    let at = maps[0].0;
    let old = peek(pid, at)?;
    let new = (old & !0xff) | 0xcc;
    let poke_expect = expected("POKE_EXPECT", "EIO");
    let (outcome, want_back) = match sys::ptrace(sys::PTRACE_POKETEXT, pid, at, new as usize) {
        Ok(_) => ("ok".to_string(), new),
        Err(e) => (errno_name(&e), old),
    };
    if outcome != poke_expect {
        return Err(format!("PTRACE_POKETEXT at {at:#x}: {outcome}, expected {poke_expect}"));
    }
    let back = peek(pid, at)?;
    if back != want_back {
        return Err(format!("after PTRACE_POKETEXT at {at:#x} ({outcome}): read {back:#x}, expected {want_back:#x}"));
    }
    same(&read_file(prog)?, before, "the program's file after PTRACE_POKETEXT")?;
    println!("PTRACE_POKETEXT at {at:#x}: {outcome}, as expected; the text reads {back:#x}; the file is unchanged");
    Ok(())
}

/// A private read-only mapping of `path` made writable with mprotect gives `expect` ("ok" or
/// an errno name); when it works, a write to it stays private.
fn mprotect_write(path: &Path, expect: &str) -> Res {
    let want = file_view(path)?;
    let f = open(path)?;
    let ps = sys::page_size();
    let m = map(&f, ps, sys::PROT_READ, sys::MAP_PRIVATE, "MAP_PRIVATE read-only")?;
    let outcome = match sys::protect(m.addr, ps, sys::PROT_READ | sys::PROT_WRITE) {
        Ok(()) => "ok".to_string(),
        Err(e) => errno_name(&e),
    };
    if outcome != expect {
        return Err(format!("mprotect(PROT_WRITE) of a private read-only mapping: {outcome}, expected {expect}"));
    }
    if outcome == "ok" {
        m.poke(0, !want[0]);
        same(&file_view(path)?, &want, "the file after writing its private mapping")?;
    }
    println!("mprotect(PROT_WRITE) of a private read-only mapping: {outcome}, as expected");
    Ok(())
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: xipmap shared FILE [--mixedmap]\n\
         \x20      xipmap private-cow FILE\n\
         \x20      xipmap statx-dax FILE [yes|no]\n\
         \x20      xipmap fault-past-eof FILE\n\
         \x20      xipmap shared-write-refused FILE\n\
         \x20      xipmap try ls|find|stat|readlink|cat|head|tail|mmap PATH EXPECT\n\
         \x20      xipmap proc-mem FILE\n\
         \x20      xipmap trace PROG\n\
         \x20      xipmap mprotect-write FILE EXPECT"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let a: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let p = Path::new;
    let r = match a.as_slice() {
        ["shared", f] => shared(p(f), false),
        ["shared", f, "--mixedmap"] => shared(p(f), true),
        ["private-cow", f] => private_cow(p(f)),
        ["statx-dax", f] | ["statx-dax", f, "yes"] => statx_dax(p(f), true),
        ["statx-dax", f, "no"] => statx_dax(p(f), false),
        ["fault-past-eof", f] => fault_past_eof(p(f)),
        ["shared-write-refused", f] => shared_write_refused(p(f)),
        ["try", op, f, expect] => try_cmd(op, p(f), expect),
        ["proc-mem", f] => proc_mem_cmd(p(f)),
        ["trace", f] => trace(p(f)),
        ["mprotect-write", f, expect] => mprotect_write(p(f), expect),
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: xipmap {}: {e}", a.first().unwrap_or(&""));
            ExitCode::from(1)
        }
    }
}
