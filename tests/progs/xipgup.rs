// SPDX-License-Identifier: GPL-2.0
//! xipgup: what `get_user_pages()` enables on xipfs mappings, checked from userspace.
//!
//! ```text
//! xipgup MODEL proc-mem DIR         /proc/PID/mem reads and writes of another process's
//!                                   mappings of a file
//! xipgup MODEL pvm DIR              process_vm_readv/process_vm_writev of them
//! xipgup MODEL ptrace DIR/BUSYBOX   a breakpoint (int3 by PTRACE_POKETEXT) at the entry of
//!                                   a static busybox copied onto xipfs
//! xipgup MODEL odirect DIR BLKDEV   O_DIRECT reads and writes of BLKDEV whose user buffer is
//!                                   a MAP_SHARED mapping of a file
//! xipgup MODEL futex DIR            FUTEX_WAIT/FUTEX_WAKE between two processes that map
//!                                   the same file MAP_SHARED
//! xipgup MODEL mutex DIR            a PTHREAD_PROCESS_SHARED pthread_mutex in such a file
//! xipgup MODEL vmsplice DIR         vmsplice of a mapped page into a pipe
//! xipgup MODEL fork DIR             a child inherits shared and (written) private mappings
//! ```
//!
//! MODEL is xipram's memory model, `devmap` or `pages`: each step states the outcome it
//! expects in each (`ok`, an errno name, a signal name; see `Ck::expect`). In `devmap`
//! the mapped pages are ZONE_DEVICE pages that `get_user_pages()` takes, and everything
//! works as on any file; in `pages` they are special PTEs, and the steps that need
//! `get_user_pages()` fail: `get_user_pages()` itself answers `EEXIST` for a present PTE
//! without a `struct page`, which O_DIRECT, vmsplice and futexes pass on as it is;
//! process_vm_readv/writev turn it into `EFAULT`; writes through /proc/PID/mem and ptrace
//! fall back to xipfs's `access`, which refuses them with `EIO` (reads work there); a
//! contended process-shared mutex makes glibc abort (its futex wait gets an error it
//! does not expect). Each check makes its own files in DIR (on xipfs) with known bytes,
//! compares every byte it reads against them, and prints each outcome.
//!
//! Writes by one process into another's *private* mapping must land in a private copy of
//! the file's page: the checks read back the whole page and compare it with the file's
//! page plus the bytes written. The writer first maps a page of 0x5a bytes at the same
//! address in itself (a decoy), so that a copy made from the writer's memory instead of
//! the file (what the kernel's `__wp_page_copy_user()` does for pages without a
//! `struct page` it knows) shows as wrong bytes rather than passing by luck.
//!
//! Exit status 0 when every step gives what its model expects, 1 otherwise (each failed
//! step is a line starting with `FAIL:`), 2 on a usage error. Only std, no crates: the
//! system calls and glibc functions std has no wrapper for are declared below; x86-64
//! Linux only (the constants, `struct user_regs_struct`, `pthread_mutex_t`'s size).

use std::ffi::{c_char, c_int, c_long, c_void, CString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

// ---------------------------------------------------------------------------
// System calls and glibc
// ---------------------------------------------------------------------------

mod sys {
    use super::*;

    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_SHARED: c_int = 1;
    pub const MAP_PRIVATE: c_int = 2;
    const MAP_ANONYMOUS: c_int = 0x20;
    const MAP_FIXED_NOREPLACE: c_int = 0x10_0000;
    pub const O_DIRECT: c_int = 0o40000;
    pub const SIGTRAP: c_int = 5;
    const SIGKILL: c_int = 9;
    const WNOHANG: c_int = 1;

    pub const SYS_FTRUNCATE: i64 = 77;
    pub const SYS_FUTEX: i64 = 202;
    const SYS_PTRACE: c_long = 101;
    const SYS_PROCESS_VM_READV: c_long = 310;
    const SYS_PROCESS_VM_WRITEV: c_long = 311;
    const SYS_VMSPLICE: c_long = 278;

    pub const PTRACE_PEEKTEXT: c_long = 1;
    pub const PTRACE_POKETEXT: c_long = 4;
    pub const PTRACE_CONT: c_long = 7;
    pub const PTRACE_GETREGS: c_long = 12;
    pub const PTRACE_SETREGS: c_long = 13;
    const PTRACE_TRACEME: c_long = 0;
    /// Index of `rip` in `struct user_regs_struct` (27 words).
    pub const REG_RIP: usize = 16;

    pub const FUTEX_WAIT: c_int = 0;
    pub const FUTEX_WAKE: c_int = 1;
    pub const FUTEX_PRIVATE_FLAG: c_int = 128;

    /// `pthread_mutex_t` (40 bytes on x86-64) and `pthread_mutexattr_t` (4), with room.
    #[repr(C, align(8))]
    pub struct Mutex(pub [u8; 40]);
    #[repr(C, align(8))]
    pub struct MutexAttr([u8; 8]);
    const PTHREAD_PROCESS_SHARED: c_int = 1;

    #[repr(C)]
    pub struct Timespec {
        pub sec: i64,
        pub nsec: i64,
    }

    #[repr(C)]
    struct IoVec {
        base: *mut c_void,
        len: usize,
    }

    extern "C" {
        fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
            -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn fork() -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn _exit(status: c_int) -> !;
        fn kill(pid: c_int, sig: c_int) -> c_int;
        fn getpid() -> c_int;
        fn pipe(fds: *mut c_int) -> c_int;
        fn dup2(old: c_int, new: c_int) -> c_int;
        fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
        fn syscall(nr: c_long, ...) -> c_long;
        fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
        fn pthread_mutexattr_init(a: *mut MutexAttr) -> c_int;
        fn pthread_mutexattr_setpshared(a: *mut MutexAttr, pshared: c_int) -> c_int;
        fn pthread_mutexattr_destroy(a: *mut MutexAttr) -> c_int;
        fn pthread_mutex_init(m: *mut Mutex, a: *const MutexAttr) -> c_int;
        fn pthread_mutex_lock(m: *mut Mutex) -> c_int;
        fn pthread_mutex_timedlock(m: *mut Mutex, abstime: *const Timespec) -> c_int;
        fn pthread_mutex_unlock(m: *mut Mutex) -> c_int;
    }

    fn check(r: c_long) -> io::Result<c_long> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    pub fn pid() -> c_int {
        // SAFETY: no preconditions.
        unsafe { getpid() }
    }

    /// A new mapping of `len` bytes of `fd` (or anonymous memory, fd -1) at an address the
    /// kernel picks.
    pub fn map(fd: c_int, len: usize, prot: c_int, flags: c_int) -> io::Result<*mut u8> {
        let flags = if fd < 0 { flags | MAP_ANONYMOUS } else { flags };
        // SAFETY: a new mapping; nothing existing is replaced.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        if p as isize == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(p.cast())
        }
    }

    /// An anonymous private page at exactly `addr`, if nothing is mapped there.
    pub fn map_at(addr: usize) -> io::Result<*mut u8> {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe { mmap(addr as *mut c_void, PAGE, PROT_READ | PROT_WRITE, flags, -1, 0) };
        if p as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        if p as usize != addr {
            // SAFETY: our own new mapping (kernels before 4.17 ignore the flag).
            unsafe { munmap(p, PAGE) };
            return Err(io::Error::from_raw_os_error(17));
        }
        Ok(p.cast())
    }

    /// # Safety
    /// No reference into the mapping may be used afterwards.
    pub unsafe fn unmap(addr: *mut u8, len: usize) {
        // SAFETY: the caller's promise.
        unsafe { munmap(addr.cast(), len) };
    }

    /// fork; the child runs `child` and `_exit`s with its result. The program is
    /// single-threaded, so the child may use anything.
    pub fn spawn(child: impl FnOnce() -> i32) -> io::Result<c_int> {
        let _ = io::stdout().flush();
        // SAFETY: no other thread exists, so the child's copy of every lock is consistent.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = child();
            let _ = io::stdout().flush();
            // SAFETY: ends the child without running the parent's exit handlers twice.
            unsafe { _exit(code) };
        }
        Ok(pid)
    }

    /// fork and exec `argv[0]` with `argv`, traced (PTRACE_TRACEME) or not, its stdout
    /// going to `stdout_fd` when given.
    pub fn spawn_exec(argv: &[CString], traced: bool, stdout_fd: Option<c_int>) -> io::Result<c_int> {
        let mut ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: single-threaded; the child only makes system calls before exec or _exit.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: as above; on success execv does not return.
            unsafe {
                if let Some(fd) = stdout_fd {
                    dup2(fd, 1);
                }
                if traced {
                    syscall(SYS_PTRACE, PTRACE_TRACEME, 0 as c_long, 0usize, 0usize);
                }
                execv(ptrs[0], ptrs.as_ptr());
                _exit(127);
            }
        }
        Ok(pid)
    }

    /// How a child process ended, or that it is stopped.
    #[derive(Debug, PartialEq)]
    pub enum Ended {
        Exited(i32),
        Signal(i32),
        Stopped(i32),
    }

    fn decode(st: c_int) -> Ended {
        if st & 0x7f == 0 {
            Ended::Exited((st >> 8) & 0xff)
        } else if st & 0xff == 0x7f {
            Ended::Stopped((st >> 8) & 0xff)
        } else {
            Ended::Signal(st & 0x7f)
        }
    }

    pub fn wait(pid: c_int) -> io::Result<Ended> {
        let mut st: c_int = 0;
        // SAFETY: waiting for our own child into a valid int.
        if unsafe { waitpid(pid, &mut st, 0) } != pid {
            return Err(io::Error::last_os_error());
        }
        Ok(decode(st))
    }

    /// The child's state if it has ended (or stopped), without waiting.
    pub fn try_wait(pid: c_int) -> io::Result<Option<Ended>> {
        let mut st: c_int = 0;
        // SAFETY: as `wait`.
        match unsafe { waitpid(pid, &mut st, WNOHANG) } {
            0 => Ok(None),
            p if p == pid => Ok(Some(decode(st))),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// Kills child `pid` and reaps it (no-op if already reaped).
    pub fn kill_child(pid: c_int) {
        // SAFETY: our own child.
        unsafe { kill(pid, SIGKILL) };
        let _ = wait(pid);
    }

    pub fn make_pipe() -> io::Result<(File, File)> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for two descriptors.
        if unsafe { pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: two new descriptors that nothing else owns.
        Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
    }

    /// ptrace with integer arguments; for PEEK and GETREGS requests `data` is the address
    /// of memory the caller owns, large enough for the answer.
    pub fn ptrace(req: c_long, pid: c_int, addr: usize, data: usize) -> io::Result<c_long> {
        // SAFETY: PEEK requests write one word, GETREGS 27 words, to `data`, which the
        // caller owns; SETREGS reads 27 words from it; other requests take plain integers.
        check(unsafe { syscall(SYS_PTRACE, req, pid as c_long, addr, data) })
    }

    /// process_vm_readv (write: false) or process_vm_writev (write: true) of `buf.len()`
    /// bytes at `addr` in process `pid`.
    pub fn vm_rw(pid: c_int, addr: usize, buf: &mut [u8], write: bool) -> io::Result<usize> {
        let local = IoVec { base: buf.as_mut_ptr().cast(), len: buf.len() };
        let remote = IoVec { base: addr as *mut c_void, len: buf.len() };
        let nr = if write { SYS_PROCESS_VM_WRITEV } else { SYS_PROCESS_VM_READV };
        // SAFETY: `local` is our buffer (only read for a write); the kernel checks `remote`.
        check(unsafe { syscall(nr, pid as c_long, &local, 1usize, &remote, 1usize, 0usize) })
            .map(|n| n as usize)
    }

    /// futex(2) on the word at `addr`, with an optional relative timeout.
    pub fn futex(addr: *mut u32, op: c_int, val: u32, timeout: Option<&Timespec>) -> io::Result<c_long> {
        let t = timeout.map_or(std::ptr::null(), |t| t as *const Timespec);
        // SAFETY: `addr` is a mapped, aligned word of ours; `t` null or a valid timespec.
        check(unsafe { syscall(SYS_FUTEX, addr, op as c_long, val as c_long, t, 0usize, 0usize) })
    }

    /// vmsplice of `len` bytes at `addr` (our own mapping) into the pipe `fd`.
    pub fn vmsplice(fd: c_int, addr: *mut u8, len: usize) -> io::Result<usize> {
        let iov = IoVec { base: addr.cast(), len };
        // SAFETY: the kernel only reads our iovec; `addr` is a mapping of ours.
        check(unsafe { syscall(SYS_VMSPLICE, fd as c_long, &iov, 1usize, 0usize) }).map(|n| n as usize)
    }

    /// CLOCK_REALTIME, plus `secs`.
    pub fn realtime_in(secs: i64) -> Timespec {
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `t` is a valid timespec.
        unsafe { clock_gettime(0, &mut t) };
        t.sec += secs;
        t
    }

    /// Initialises a PTHREAD_PROCESS_SHARED mutex at `m`; returns the errno (0: done).
    ///
    /// # Safety
    /// `m` points to 40 writable, 8-aligned bytes that no thread uses as a mutex now.
    pub unsafe fn mutex_init_shared(m: *mut Mutex) -> c_int {
        let mut a = MutexAttr([0; 8]);
        // SAFETY: `a` is ours; `m` by the caller's promise.
        unsafe {
            let mut r = pthread_mutexattr_init(&mut a);
            if r == 0 {
                r = pthread_mutexattr_setpshared(&mut a, PTHREAD_PROCESS_SHARED);
            }
            if r == 0 {
                r = pthread_mutex_init(m, &a);
            }
            pthread_mutexattr_destroy(&mut a);
            r
        }
    }

    /// # Safety
    /// `m` is a mutex initialised by `mutex_init_shared`, mapped in this process.
    pub unsafe fn mutex_lock(m: *mut Mutex) -> c_int {
        // SAFETY: the caller's promise.
        unsafe { pthread_mutex_lock(m) }
    }

    /// # Safety
    /// As `mutex_lock`.
    pub unsafe fn mutex_timedlock(m: *mut Mutex, abstime: &Timespec) -> c_int {
        // SAFETY: the caller's promise.
        unsafe { pthread_mutex_timedlock(m, abstime) }
    }

    /// # Safety
    /// As `mutex_lock`, and this process holds it.
    pub unsafe fn mutex_unlock(m: *mut Mutex) -> c_int {
        // SAFETY: the caller's promise.
        unsafe { pthread_mutex_unlock(m) }
    }
}

// ---------------------------------------------------------------------------
// Mappings, data and the expectations
// ---------------------------------------------------------------------------

/// A mapping, unmapped on drop. Its memory may change under us (other processes, the
/// kernel): it is only read and written with volatile or copying accesses.
struct Map {
    addr: *mut u8,
    len: usize,
}

impl Map {
    fn file(f: &File, len: usize, prot: c_int, flags: c_int) -> io::Result<Map> {
        Ok(Map { addr: sys::map(f.as_raw_fd(), len, prot, flags)?, len })
    }

    fn anon(len: usize) -> io::Result<Map> {
        let addr = sys::map(-1, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_PRIVATE)?;
        Ok(Map { addr, len })
    }

    fn addr(&self) -> usize {
        self.addr as usize
    }

    fn ptr(&self, off: usize) -> *mut u8 {
        assert!(off < self.len);
        // SAFETY: inside the mapping.
        unsafe { self.addr.add(off) }
    }

    /// A copy of `len` bytes at `off`.
    fn read(&self, off: usize, len: usize) -> Vec<u8> {
        assert!(off + len <= self.len);
        // SAFETY: inside the mapping; volatile, as other processes may write it.
        (0..len).map(|i| unsafe { std::ptr::read_volatile(self.addr.add(off + i)) }).collect()
    }

    /// Writes `data` at `off` (a writable mapping).
    fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: inside the mapping, which the caller made writable.
            unsafe { std::ptr::write_volatile(self.addr.add(off + i), b) };
        }
    }

    /// Reads one byte of every page (faults them in for reading).
    fn touch(&self) {
        for off in (0..self.len).step_by(PAGE) {
            // SAFETY: inside the mapping.
            unsafe { std::ptr::read_volatile(self.addr.add(off)) };
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the whole mapping; only used on anonymous buffers no one else sees.
        unsafe { std::slice::from_raw_parts_mut(self.addr, self.len) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: nothing borrows the mapping beyond `self`.
        unsafe { sys::unmap(self.addr, self.len) }
    }
}

/// `len` bytes that differ from those of any other `seed` at every offset.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8 ^ seed).collect()
}

fn errno_name(e: &io::Error) -> String {
    let names: &[(i32, &str)] = &[
        (1, "EPERM"),
        (3, "ESRCH"),
        (4, "EINTR"),
        (5, "EIO"),
        (9, "EBADF"),
        (11, "EAGAIN"),
        (12, "ENOMEM"),
        (13, "EACCES"),
        (14, "EFAULT"),
        (16, "EBUSY"),
        (17, "EEXIST"),
        (22, "EINVAL"),
        (38, "ENOSYS"),
        (95, "EOPNOTSUPP"),
        (110, "ETIMEDOUT"),
    ];
    match e.raw_os_error() {
        Some(n) => names.iter().find(|(v, _)| *v == n).map_or(format!("errno{n}"), |(_, s)| s.to_string()),
        None => e.to_string(),
    }
}

/// "ok" or the errno's name.
fn outcome<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e),
    }
}

fn signame(s: i32) -> String {
    match s {
        5 => "SIGTRAP".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        _ => format!("signal {s}"),
    }
}

fn ended(e: &sys::Ended) -> String {
    match e {
        sys::Ended::Exited(c) => format!("exit {c}"),
        sys::Ended::Signal(s) => signame(*s),
        sys::Ended::Stopped(s) => format!("stopped by {}", signame(*s)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Model {
    Devmap,
    Pages,
}

/// Counts the steps and their failures; prints each step's outcome.
struct Ck {
    model: Model,
    steps: u32,
    fails: u32,
}

impl Ck {
    fn new(model: Model) -> Ck {
        Ck { model, steps: 0, fails: 0 }
    }

    fn devmap(&self) -> bool {
        self.model == Model::Devmap
    }

    fn name(&self) -> &'static str {
        if self.devmap() { "devmap" } else { "pages" }
    }

    fn result(&mut self, ok: bool, msg: String) -> bool {
        self.steps += 1;
        if ok {
            println!("  ok: {msg}");
        } else {
            self.fails += 1;
            println!("FAIL: {msg}");
        }
        ok
    }

    /// `got` is the outcome `devmap` (in the devmap model) or `pages` expects. Returns
    /// whether `got` is "ok".
    fn expect(&mut self, what: &str, got: &str, devmap: &str, pages: &str) -> bool {
        let want = if self.devmap() { devmap } else { pages };
        let ok = got == want;
        let msg = format!("{what}: {got} ({} expects {want})", self.name());
        self.result(ok, msg);
        got == "ok"
    }

    fn truth(&mut self, what: &str, cond: bool) -> bool {
        self.result(cond, what.to_string())
    }

    /// Compares bytes; the first difference is reported.
    fn same(&mut self, what: &str, got: &[u8], want: &[u8]) -> bool {
        if got == want {
            return self.result(true, format!("{what}: {} bytes as expected", got.len()));
        }
        let msg = match got.iter().zip(want).position(|(a, b)| a != b) {
            Some(i) => {
                let n = got.iter().zip(want).filter(|(a, b)| a != b).count();
                format!(
                    "{what}: {n} bytes differ, the first at offset {i:#x}: {:#04x}, expected {:#04x}{}",
                    got[i],
                    want[i],
                    if got[i..].iter().take(PAGE - i % PAGE).all(|&b| b == got[i]) {
                        format!(" (and {:#04x} to the end of that page)", got[i])
                    } else {
                        String::new()
                    }
                )
            }
            None => format!("{what}: {} bytes, expected {}", got.len(), want.len()),
        };
        self.result(false, msg)
    }

    /// The exit status of a check: 0, or 1 when a step failed.
    fn exit(&self, check: &str) -> ExitCode {
        println!("xipgup {} {check}: {} steps, {} failed", self.name(), self.steps, self.fails);
        if self.fails == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) }
    }
}

type Res<T = ()> = Result<T, String>;

fn ctx(what: &str) -> impl FnOnce(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A new file of `len` bytes of `pattern(seed)`, written and synced.
fn make_file(dir: &Path, name: &str, len: usize, seed: u8) -> Res<(PathBuf, File, Vec<u8>)> {
    let path = dir.join(name);
    let _ = fs::remove_file(&path);
    let data = pattern(seed, len);
    let mut f = OpenOptions::new().read(true).write(true).create(true).open(&path).map_err(ctx("create"))?;
    f.write_all(&data).map_err(ctx("write"))?;
    f.sync_all().map_err(ctx("fsync"))?;
    Ok((path, f, data))
}

fn read_file(path: &Path) -> Res<Vec<u8>> {
    fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))
}

fn proc_mem_read(pid: c_int, addr: usize, len: usize) -> io::Result<Vec<u8>> {
    let mem = File::open(format!("/proc/{pid}/mem"))?;
    let mut buf = vec![0u8; len];
    mem.read_exact_at(&mut buf, addr as u64)?;
    Ok(buf)
}

fn proc_mem_write(pid: c_int, addr: usize, data: &[u8]) -> io::Result<()> {
    let mem = OpenOptions::new().write(true).open(format!("/proc/{pid}/mem"))?;
    let n = mem.write_at(data, addr as u64)?;
    if n != data.len() {
        return Err(io::Error::other(format!("short write: {n} of {} bytes", data.len())));
    }
    Ok(())
}

/// A page of 0x5a at `addr` in this process, when nothing is mapped there (see the top).
fn decoy(addr: usize) -> Option<Map> {
    let page = addr & !(PAGE - 1);
    match sys::map_at(page) {
        Ok(p) => {
            let m = Map { addr: p, len: PAGE };
            m.write(0, &[0x5a; PAGE]);
            Some(m)
        }
        Err(e) => {
            println!("  (no decoy page at {page:#x} in the writer: {})", errno_name(&e));
            None
        }
    }
}

/// Sends and receives small messages between a parent and its forked child.
struct Chan(UnixStream);

impl Chan {
    fn pair() -> Res<(Chan, Chan)> {
        let (a, b) = UnixStream::pair().map_err(ctx("socketpair"))?;
        Ok((Chan(a), Chan(b)))
    }

    fn send(&mut self, words: &[u64]) {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let _ = self.0.write_all(&bytes);
    }

    fn recv(&mut self, n: usize) -> Res<Vec<u64>> {
        let mut bytes = vec![0u8; n * 8];
        self.0.set_read_timeout(Some(Duration::from_secs(60))).map_err(ctx("timeout"))?;
        self.0.read_exact(&mut bytes).map_err(ctx("waiting for the other process"))?;
        Ok(bytes.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect())
    }
}

/// What a process is doing, polled until `until` says it is done or `secs` pass: the
/// system call it sleeps in (from /proc/PID/syscall), or how it ended.
#[derive(Debug, PartialEq)]
enum State {
    InSyscall(i64),
    Ended(sys::Ended),
    Running,
}

fn state(pid: c_int) -> State {
    match sys::try_wait(pid) {
        Ok(Some(e)) => return State::Ended(e),
        Ok(None) => {}
        Err(_) => return State::Running,
    }
    let s = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    match s.split_whitespace().next().and_then(|w| w.parse::<i64>().ok()) {
        Some(nr) if nr >= 0 => State::InSyscall(nr),
        _ => State::Running,
    }
}

/// Polls `pid` until it sleeps in system call `nr` for a second or ends; at most `secs`.
fn settle(pid: c_int, nr: i64, secs: u64) -> State {
    let t0 = Instant::now();
    let mut since: Option<Instant> = None;
    loop {
        let s = state(pid);
        match &s {
            State::Ended(_) => return s,
            State::InSyscall(n) if *n == nr => {
                let t = *since.get_or_insert_with(Instant::now);
                if t.elapsed() >= Duration::from_secs(1) {
                    return s;
                }
            }
            _ => since = None,
        }
        if t0.elapsed() >= Duration::from_secs(secs) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How `pid` ended: `st` if `settle` saw it end (and reaped it), else after waiting.
fn finish(pid: c_int, st: State) -> Res<sys::Ended> {
    match st {
        State::Ended(e) => Ok(e),
        _ => sys::wait(pid).map_err(ctx("waitpid")),
    }
}

fn state_text(s: &State) -> String {
    match s {
        State::InSyscall(nr) if *nr == sys::SYS_FUTEX => "asleep in futex".into(),
        State::InSyscall(nr) if *nr == sys::SYS_FTRUNCATE => "asleep in ftruncate".into(),
        State::InSyscall(nr) => format!("in system call {nr}"),
        State::Ended(e) => ended(e),
        State::Running => "running".into(),
    }
}

// ---------------------------------------------------------------------------
// /proc/PID/mem
// ---------------------------------------------------------------------------

/// A child maps the file shared (read-write), private read-only (as program text),
/// private read-write (as data) and reads every page of those; a fourth mapping, private
/// read-write, is never touched. The parent reads and writes them through /proc/CHILD/mem.
fn proc_mem(ck: &mut Ck, dir: &Path) -> Res {
    let pages = 8;
    let len = pages * PAGE;
    let (path, _f, data) = make_file(dir, "procmem", len, 1)?;
    let (mut me, mut kid) = Chan::pair()?;
    let p2 = path.clone();
    let child = sys::spawn(move || {
        let mut run = || -> Res {
            let f = OpenOptions::new().read(true).write(true).open(&p2).map_err(ctx("open"))?;
            let rw = sys::PROT_READ | sys::PROT_WRITE;
            let s = Map::file(&f, len, rw, sys::MAP_SHARED).map_err(ctx("mmap shared"))?;
            let p = Map::file(&f, len, sys::PROT_READ, sys::MAP_PRIVATE).map_err(ctx("mmap private"))?;
            let w = Map::file(&f, len, rw, sys::MAP_PRIVATE).map_err(ctx("mmap private rw"))?;
            let u = Map::file(&f, len, rw, sys::MAP_PRIVATE).map_err(ctx("mmap private rw"))?;
            s.touch();
            p.touch();
            w.touch();
            kid.send(&[s.addr() as u64, p.addr() as u64, w.addr() as u64, u.addr() as u64]);
            kid.recv(1)?;
            Ok(())
        };
        match run() {
            Ok(()) => 0,
            Err(e) => {
                println!("FAIL: child: {e}");
                1
            }
        }
    })
    .map_err(ctx("fork"))?;
    let res = proc_mem_parent(ck, &mut me, child, &path, &data);
    me.send(&[0]);
    let end = sys::wait(child).map_err(ctx("waitpid"))?;
    ck.expect("the child mapping the file", &ended(&end), "exit 0", "exit 0");
    res
}

fn proc_mem_parent(ck: &mut Ck, me: &mut Chan, child: c_int, path: &Path, data: &[u8]) -> Res {
    let a = me.recv(4)?;
    let (s, p, w, u) = (a[0] as usize, a[1] as usize, a[2] as usize, a[3] as usize);
    let len = data.len();
    println!("child {child}: shared at {s:#x}, private read-only at {p:#x}, private read-write at {w:#x} (read) and {u:#x} (untouched)");

    // Reads work in both models (devmap: get_user_pages; pages: vm_ops->access).
    for (what, at) in [("shared", s), ("private read-only", p), ("private read-write", w)] {
        let r = proc_mem_read(child, at, len);
        ck.expect(&format!("read the {what} mapping through /proc/{child}/mem"), &outcome(&r), "ok", "ok");
        if let Ok(got) = r {
            ck.same(&format!("{what} mapping through /proc/{child}/mem"), &got, data);
        }
    }

    // A write into the shared mapping writes the file.
    let off = PAGE + 100;
    let new = pattern(9, 64);
    let r = proc_mem_write(child, s + off, &new);
    let mut file_want = data.to_vec();
    if ck.expect(&format!("write 64 bytes into the shared mapping through /proc/{child}/mem"), &outcome(&r), "ok", "EIO") {
        file_want[off..off + 64].copy_from_slice(&new);
    }
    ck.same("the file read() after the write into the shared mapping", &read_file(path)?, &file_want);
    if let Ok(got) = proc_mem_read(child, s, len) {
        ck.same("the shared mapping read back", &got, &file_want);
    }

    // Writes into private mappings: a private copy of the page, the file unchanged.
    let private = |ck: &mut Ck, what: &str, base: usize, page: usize, devmap: &str, pages: &str| -> Res {
        let off = page * PAGE + 200 + page;
        let new = pattern(20 + page as u8, 48);
        let _decoy = decoy(base + off);
        let r = proc_mem_write(child, base + off, &new);
        let mut want = file_want.clone();
        if ck.expect(&format!("write 48 bytes into the {what} mapping through /proc/{child}/mem"), &outcome(&r), devmap, pages) {
            want[off..off + 48].copy_from_slice(&new);
        }
        match proc_mem_read(child, base, len) {
            Ok(got) => {
                ck.same(&format!("the {what} mapping read back (the written page a private copy)"), &got, &want);
            }
            Err(e) => {
                ck.truth(&format!("read the {what} mapping back: {}", errno_name(&e)), false);
            }
        }
        ck.same(&format!("the file after the write into the {what} mapping"), &read_file(path)?, &file_want);
        Ok(())
    };
    private(ck, "private read-only", p, 2, "ok", "EIO")?;
    // A page never faulted in: the write faults it in as a private copy in both models.
    private(ck, "untouched private read-write", u, 4, "ok", "ok")?;
    // A page read before, in a writable private mapping: the write copies the file's page
    // (in both models: the kernel copies the page itself, not the writer's memory at that
    // address, since patches/linux-6.12.patch's mm/memory.c change; the decoy shows it).
    private(ck, "private read-write (read before)", w, 3, "ok", "ok")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// process_vm_readv / process_vm_writev
// ---------------------------------------------------------------------------

fn pvm(ck: &mut Ck, dir: &Path) -> Res {
    let len = 8 * PAGE;
    let (path, _f, data) = make_file(dir, "pvm", len, 3)?;
    let (mut me, mut kid) = Chan::pair()?;
    let p2 = path.clone();
    let child = sys::spawn(move || {
        let mut run = || -> Res {
            let f = OpenOptions::new().read(true).write(true).open(&p2).map_err(ctx("open"))?;
            let s = Map::file(&f, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED).map_err(ctx("mmap"))?;
            let p = Map::file(&f, len, sys::PROT_READ, sys::MAP_PRIVATE).map_err(ctx("mmap"))?;
            let w = Map::file(&f, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_PRIVATE).map_err(ctx("mmap"))?;
            s.touch();
            p.touch();
            w.touch();
            kid.send(&[s.addr() as u64, p.addr() as u64, w.addr() as u64]);
            kid.recv(1)?;
            Ok(())
        };
        run().map_or_else(|e| { println!("FAIL: child: {e}"); 1 }, |()| 0)
    })
    .map_err(ctx("fork"))?;
    let a = me.recv(3)?;
    let (s, p, w) = (a[0] as usize, a[1] as usize, a[2] as usize);
    println!("child {child}: shared at {s:#x}, private read-only at {p:#x}, private read-write at {w:#x}");
    for (what, at) in [("shared", s), ("private read-only", p)] {
        let mut buf = vec![0u8; len];
        let r = sys::vm_rw(child, at, &mut buf, false);
        let full = matches!(r, Ok(n) if n == len);
        let oc = if r.is_ok() && !full { format!("{} bytes", r.unwrap()) } else { outcome(&r) };
        if ck.expect(&format!("process_vm_readv of the child's {what} mapping"), &oc, "ok", "EFAULT") {
            ck.same(&format!("process_vm_readv of the {what} mapping"), &buf, &data);
        }
    }
    let off = 5 * PAGE + 8;
    let mut new = pattern(30, 32);
    let r = sys::vm_rw(child, s + off, &mut new, true);
    let mut want = data.clone();
    if ck.expect("process_vm_writev of 32 bytes into the child's shared mapping", &outcome(&r), "ok", "EFAULT") {
        want[off..off + 32].copy_from_slice(&new);
    }
    ck.same("the file read() after process_vm_writev", &read_file(&path)?, &want);
    // No FOLL_FORCE: a read-only mapping cannot be written, whatever its pages.
    let mut new = pattern(31, 32);
    let r = sys::vm_rw(child, p + off, &mut new, true);
    ck.expect("process_vm_writev into the child's private read-only mapping", &outcome(&r), "EFAULT", "EFAULT");
    ck.same("the file after it", &read_file(&path)?, &want);
    // A read page of a writable private mapping: the write goes to a private copy of the
    // file's page, in both models (see the same case in proc_mem).
    let off = 6 * PAGE + 16;
    let mut new = pattern(32, 32);
    let _decoy = decoy(w + off);
    let r = sys::vm_rw(child, w + off, &mut new, true);
    let mut view = want.clone();
    if ck.expect("process_vm_writev of 32 bytes into a read page of the child's private read-write mapping", &outcome(&r), "ok", "ok") {
        view[off..off + 32].copy_from_slice(&new);
    }
    let mut buf = vec![0u8; len];
    if let Ok(n) = sys::vm_rw(child, w, &mut buf, false) {
        ck.same(&format!("its private mapping read back ({n} bytes; the written page a private copy)"), &buf, &view);
    }
    ck.same("the file after it", &read_file(&path)?, &want);
    me.send(&[0]);
    let end = sys::wait(child).map_err(ctx("waitpid"))?;
    ck.expect("the child", &ended(&end), "exit 0", "exit 0");
    Ok(())
}

// ---------------------------------------------------------------------------
// ptrace: a breakpoint in a program running from xipfs
// ---------------------------------------------------------------------------

/// AT_ENTRY of process `pid`, from /proc/PID/auxv.
fn at_entry(pid: c_int) -> Res<usize> {
    let auxv = fs::read(format!("/proc/{pid}/auxv")).map_err(ctx("auxv"))?;
    for pair in auxv.chunks_exact(16) {
        let key = u64::from_le_bytes(pair[..8].try_into().unwrap());
        if key == 9 {
            return Ok(u64::from_le_bytes(pair[8..].try_into().unwrap()) as usize);
        }
    }
    Err(format!("no AT_ENTRY in /proc/{pid}/auxv"))
}

/// The offset in `path` of address `addr` of process `pid` (from /proc/PID/maps).
fn file_offset(pid: c_int, path: &Path, addr: usize) -> Res<usize> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).map_err(ctx("maps"))?;
    let canon = fs::canonicalize(path).map_err(ctx("canonicalize"))?;
    let hex = |x: &str| usize::from_str_radix(x, 16).map_err(|e| e.to_string());
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || Path::new(f[5]) != canon {
            continue;
        }
        let (s, e) = f[0].split_once('-').ok_or("bad maps line")?;
        let (s, e) = (hex(s)?, hex(e)?);
        if (s..e).contains(&addr) {
            return Ok(hex(f[2])? + addr - s);
        }
    }
    Err(format!("{addr:#x} is not in a mapping of {} in process {pid}", path.display()))
}

fn peek(pid: c_int, addr: usize) -> Res<u64> {
    let mut word = 0u64;
    sys::ptrace(sys::PTRACE_PEEKTEXT, pid, addr, &mut word as *mut u64 as usize)
        .map_err(|e| format!("PTRACE_PEEKTEXT at {addr:#x}: {}", errno_name(&e)))?;
    Ok(word)
}

fn regs(pid: c_int) -> Res<[u64; 27]> {
    let mut r = [0u64; 27];
    sys::ptrace(sys::PTRACE_GETREGS, pid, 0, r.as_mut_ptr() as usize).map_err(ctx("PTRACE_GETREGS"))?;
    Ok(r)
}

/// Reads what the pipe holds until it is closed.
fn drain(mut r: File) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// `prog` is a static busybox on xipfs. Another busybox (`sleep`) runs from it throughout.
/// The traced one (`echo`) stops at its exec; the tracer reads the page of its entry
/// point (/proc/PID/mem, as a debugger reads code before setting a breakpoint), writes an
/// int3 over its first byte (PTRACE_POKETEXT), lets it run to the trap, puts the byte back
/// and lets it finish.
fn ptrace_check(ck: &mut Ck, prog: &Path) -> Res {
    let before = read_file(prog)?;
    let text = prog.to_str().ok_or("path not UTF-8")?;
    let word = "xipgup-breakpoint";

    let other = sys::spawn_exec(&[cstr(text), cstr("sleep"), cstr("60")], false, None).map_err(ctx("fork"))?;
    let res = ptrace_traced(ck, prog, text, word, &before, other);
    sys::kill_child(other);
    res?;

    // A new process from the file runs as it should: the breakpoint never reached the file.
    let (r, w) = sys::make_pipe().map_err(ctx("pipe"))?;
    let pid = sys::spawn_exec(&[cstr(text), cstr("echo"), cstr(word)], false, Some(w.as_raw_fd())).map_err(ctx("fork"))?;
    drop(w);
    let out = drain(r);
    let end = sys::wait(pid).map_err(ctx("waitpid"))?;
    ck.expect("a new process from the file, after the breakpoint", &ended(&end), "exit 0", "exit 0");
    ck.expect("its output", out.trim_end(), word, word);
    ck.same(&format!("{} after it all (the breakpoint went to a private copy)", prog.display()), &read_file(prog)?, &before);
    Ok(())
}

fn ptrace_traced(ck: &mut Ck, prog: &Path, text: &str, word: &str, before: &[u8], other: c_int) -> Res {
    // The other process runs from the file: asleep in nanosleep (35) or clock_nanosleep (230).
    let t0 = Instant::now();
    while !matches!(state(other), State::InSyscall(35) | State::InSyscall(230)) {
        if t0.elapsed() > Duration::from_secs(20) {
            return Err(format!("{text} sleep (pid {other}) did not start: {}", state_text(&state(other))));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let (r, w) = sys::make_pipe().map_err(ctx("pipe"))?;
    let pid = sys::spawn_exec(&[cstr(text), cstr("echo"), cstr(word)], true, Some(w.as_raw_fd())).map_err(ctx("fork"))?;
    drop(w);
    let res = ptrace_steps(ck, prog, before, other, pid);
    if res.is_err() {
        sys::kill_child(pid);
        return res;
    }
    let end = sys::wait(pid).map_err(ctx("waitpid"))?;
    if let sys::Ended::Stopped(_) = end {
        sys::kill_child(pid);
    }
    let out = drain(r);
    ck.expect("the traced process, continued", &ended(&end), "exit 0", "exit 0");
    ck.expect("its output", out.trim_end(), word, word);
    Ok(())
}

fn ptrace_steps(ck: &mut Ck, prog: &Path, before: &[u8], other: c_int, pid: c_int) -> Res {
    let st = sys::wait(pid).map_err(ctx("waitpid"))?;
    if st != sys::Ended::Stopped(sys::SIGTRAP) {
        return Err(format!("the traced child did not stop at its exec: {}", ended(&st)));
    }
    let entry = at_entry(pid)?;
    let e_entry = u64::from_le_bytes(before[24..32].try_into().unwrap()) as usize;
    let e_type = u16::from_le_bytes(before[16..18].try_into().unwrap());
    println!("traced pid {pid} stopped at its exec; AT_ENTRY {entry:#x}, ELF e_entry {e_entry:#x} (e_type {e_type})");
    if e_type == 2 && entry != e_entry {
        return Err("AT_ENTRY is not e_entry in an ET_EXEC program".into());
    }
    let foff = file_offset(pid, prog, entry)?;
    let pg = entry & !(PAGE - 1);
    let fpg = foff & !(PAGE - 1);
    let file_page = &before[fpg..fpg + PAGE];

    let r = proc_mem_read(pid, pg, PAGE);
    ck.expect(&format!("read the entry page {pg:#x} through /proc/{pid}/mem"), &outcome(&r), "ok", "ok");
    if let Ok(got) = r {
        ck.same(&format!("the entry page (file offset {fpg:#x})"), &got, file_page);
    }
    let old = peek(pid, entry)?;
    ck.truth(
        &format!("PTRACE_PEEKTEXT at the entry: {old:#018x}, the file's bytes"),
        old.to_le_bytes() == before[foff..foff + 8],
    );

    let _decoy = decoy(entry);
    let bp = (old & !0xff) | 0xcc;
    let r = sys::ptrace(sys::PTRACE_POKETEXT, pid, entry, bp as usize);
    let poked = ck.expect(&format!("PTRACE_POKETEXT of an int3 at {entry:#x}"), &outcome(&r), "ok", "EIO");
    let now = peek(pid, entry)?;
    let want = if poked { bp } else { old };
    ck.truth(&format!("PTRACE_PEEKTEXT after it: {now:#018x}, expected {want:#018x}"), now == want);
    let mut page_want = file_page.to_vec();
    if poked {
        page_want[entry - pg] = 0xcc;
    }
    match proc_mem_read(pid, pg, PAGE) {
        Ok(got) => {
            ck.same("the traced process's entry page (the file's, plus the int3 if written)", &got, &page_want);
        }
        Err(e) => {
            ck.truth(&format!("read the entry page back: {}", errno_name(&e)), false);
        }
    }
    ck.same(&format!("{} after PTRACE_POKETEXT", prog.display()), &read_file(prog)?, before);

    // The other process's text is the file's.
    let oentry = at_entry(other)?;
    let ooff = file_offset(other, prog, oentry)? & !(PAGE - 1);
    match proc_mem_read(other, oentry & !(PAGE - 1), PAGE) {
        Ok(got) => {
            ck.same(&format!("the entry page of the other process {other} running the file"), &got, &before[ooff..ooff + PAGE]);
        }
        Err(e) => {
            ck.truth(&format!("read the other process's entry page: {}", errno_name(&e)), false);
        }
    }

    sys::ptrace(sys::PTRACE_CONT, pid, 0, 0).map_err(ctx("PTRACE_CONT"))?;
    if !poked {
        return Ok(());
    }
    let st = sys::wait(pid).map_err(ctx("waitpid"))?;
    ck.expect("the traced process after PTRACE_CONT", &ended(&st), "stopped by SIGTRAP", "-");
    if st != sys::Ended::Stopped(sys::SIGTRAP) {
        return Err(format!("the traced process did not trap: {}", ended(&st)));
    }
    {
        let rip = regs(pid)?[sys::REG_RIP] as usize;
        ck.truth(&format!("it trapped at the breakpoint: rip {rip:#x}, expected entry + 1 = {:#x}", entry + 1), rip == entry + 1);
        // Take the breakpoint out and resume at the entry, as a debugger does.
        sys::ptrace(sys::PTRACE_POKETEXT, pid, entry, old as usize).map_err(ctx("PTRACE_POKETEXT (restore)"))?;
        let mut r = regs(pid)?;
        r[sys::REG_RIP] = entry as u64;
        sys::ptrace(sys::PTRACE_SETREGS, pid, 0, r.as_ptr() as usize).map_err(ctx("PTRACE_SETREGS"))?;
        match proc_mem_read(pid, pg, PAGE) {
            Ok(got) => {
                ck.same("the entry page with the breakpoint taken out", &got, file_page);
            }
            Err(e) => {
                ck.truth(&format!("read the entry page: {}", errno_name(&e)), false);
            }
        }
        sys::ptrace(sys::PTRACE_CONT, pid, 0, 0).map_err(ctx("PTRACE_CONT"))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// O_DIRECT with a mapped buffer
// ---------------------------------------------------------------------------

fn open_direct(path: &Path) -> Res<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(sys::O_DIRECT)
        .open(path)
        .map_err(|e| format!("open {} O_DIRECT: {e}", path.display()))
}

/// O_DIRECT read of `len` bytes at `off` of `dev` into `buf`.
fn dio_read(dev: &File, buf: *mut u8, len: usize, off: u64) -> io::Result<usize> {
    // SAFETY: `buf` is a mapping of ours of at least `len` bytes; the kernel writes it.
    let s = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    dev.read_at(s, off)
}

fn dio_write(dev: &File, buf: *mut u8, len: usize, off: u64) -> io::Result<usize> {
    // SAFETY: as `dio_read`; the kernel reads it.
    let s = unsafe { std::slice::from_raw_parts(buf, len) };
    dev.write_at(s, off)
}

/// A 4 MiB file (2 MiB faults in the devmap model) mapped shared: O_DIRECT reads of
/// `blkdev` into the mapping fill the file, O_DIRECT writes from it fill the device.
fn odirect(ck: &mut Ck, dir: &Path, blkdev: &Path) -> Res {
    let len = 4 << 20;
    let (path, f, data) = make_file(dir, "odirect", len, 4)?;
    let dev = open_direct(blkdev)?;
    let m = Map::file(&f, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED).map_err(ctx("mmap"))?;
    let mut anon = Map::anon(len).map_err(ctx("mmap anonymous"))?;

    // The device: pattern 5 at 0, pattern 7 at 4 MiB (written from an anonymous buffer).
    let (p5, p7) = (pattern(5, len), pattern(7, len));
    for (p, off) in [(&p5, 0u64), (&p7, len as u64)] {
        anon.as_mut_slice().copy_from_slice(p);
        let n = dio_write(&dev, anon.addr, len, off).map_err(ctx("O_DIRECT write from an anonymous buffer"))?;
        if n != len {
            return Err(format!("O_DIRECT write from an anonymous buffer: {n} bytes"));
        }
    }

    let r = dio_read(&dev, m.addr, len, 0);
    let oc = match &r { Ok(n) if *n != len => format!("{n} bytes"), _ => outcome(&r) };
    let want = if ck.expect(&format!("O_DIRECT read of 4 MiB of {} into the mapping", blkdev.display()), &oc, "ok", "EEXIST") {
        &p5
    } else {
        &data
    };
    ck.same("the file read() after it", &read_file(&path)?, want);
    ck.same("the mapping after it", &m.read(0, len), want);

    // O_DIRECT write from the mapping, which now holds pattern 6.
    let p6 = pattern(6, len);
    f.write_all_at(&p6, 0).map_err(ctx("write"))?;
    let r = dio_write(&dev, m.addr, len, len as u64);
    let oc = match &r { Ok(n) if *n != len => format!("{n} bytes"), _ => outcome(&r) };
    let want = if ck.expect(&format!("O_DIRECT write of 4 MiB from the mapping to {}", blkdev.display()), &oc, "ok", "EEXIST") {
        &p6
    } else {
        &p7
    };
    let n = dio_read(&dev, anon.addr, len, len as u64).map_err(ctx("O_DIRECT read into an anonymous buffer"))?;
    if n != len {
        return Err(format!("O_DIRECT read into an anonymous buffer: {n} bytes"));
    }
    ck.same(&format!("{} read back (O_DIRECT, anonymous buffer)", blkdev.display()), anon.as_mut_slice(), want);
    drop(m);
    ck.same("the file at the end", &read_file(&path)?, &p6);
    Ok(())
}

// ---------------------------------------------------------------------------
// Futexes
// ---------------------------------------------------------------------------

/// A child maps the file itself and FUTEX_WAITs (shared) on a word of it, 20 s at most;
/// the parent, through its own mapping, sets the word and FUTEX_WAKEs it.
fn futex(ck: &mut Ck, dir: &Path) -> Res {
    let (path, f, _) = make_file(dir, "futex", PAGE, 0)?;
    f.write_all_at(&[0u8; PAGE], 0).map_err(ctx("write"))?;
    let m = Map::file(&f, PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED).map_err(ctx("mmap"))?;
    let word = m.ptr(64).cast::<u32>();

    // Private futexes are keyed by address, with no page to take: they work in both.
    let r = sys::futex(word, sys::FUTEX_WAKE | sys::FUTEX_PRIVATE_FLAG, 1, None);
    ck.expect("FUTEX_WAKE|FUTEX_PRIVATE_FLAG on the mapping (no waiter)", &outcome(&r), "ok", "ok");
    // Shared ones are keyed by the file's page, which get_user_pages finds.
    let r = sys::futex(word, sys::FUTEX_WAIT, 1, None);
    ck.expect("FUTEX_WAIT on the mapping with a value it does not hold", &outcome(&r), "EAGAIN", "EEXIST");

    let (mut me, mut kid) = Chan::pair()?;
    let p2 = path.clone();
    let child = sys::spawn(move || {
        let f = match OpenOptions::new().read(true).write(true).open(&p2) {
            Ok(f) => f,
            Err(_) => return 100,
        };
        let Ok(m) = Map::file(&f, PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED) else {
            return 101;
        };
        kid.send(&[m.addr() as u64]);
        let t = sys::Timespec { sec: 20, nsec: 0 };
        match sys::futex(m.ptr(64).cast(), sys::FUTEX_WAIT, 0, Some(&t)) {
            // Woken: the word is what the waker wrote first.
            Ok(_) if m.read(64, 4) == 1u32.to_le_bytes() => 0,
            Ok(_) => 102,
            Err(e) => e.raw_os_error().unwrap_or(103),
        }
    })
    .map_err(ctx("fork"))?;
    let caddr = me.recv(1)?[0];
    println!("child {child} maps the file at {caddr:#x}, the parent at {:#x}; the child waits", m.addr());
    let st = settle(child, sys::SYS_FUTEX, 10);
    // The child's exit status is FUTEX_WAIT's errno.
    let got = match &st {
        State::Ended(sys::Ended::Exited(n)) if *n > 0 && *n < 100 => {
            format!("FUTEX_WAIT failed: {}", errno_name(&io::Error::from_raw_os_error(*n)))
        }
        s => state_text(s),
    };
    ck.expect("the waiting child", &got, "asleep in futex", "FUTEX_WAIT failed: EEXIST");
    m.write(64, &1u32.to_le_bytes());
    let r = sys::futex(word, sys::FUTEX_WAKE, 1, None);
    let got = match r {
        Ok(n) => format!("woke {n}"),
        Err(e) => errno_name(&e),
    };
    ck.expect("FUTEX_WAKE from the parent", &got, "woke 1", "EEXIST");
    if let State::Ended(_) = st {
    } else {
        let end = sys::wait(child).map_err(ctx("waitpid"))?;
        ck.expect("the waiter after the wake", &ended(&end), "exit 0", "-");
    }
    Ok(())
}

/// A PTHREAD_PROCESS_SHARED mutex in the file, initialised by the parent through its
/// mapping; a child maps the file itself and locks the mutex while the parent holds it
/// (pthread_mutex_timedlock, 20 s); then both count to 2 x 2000 under the lock.
fn mutex(ck: &mut Ck, dir: &Path) -> Res {
    let (path, f, _) = make_file(dir, "mutex", PAGE, 0)?;
    f.write_all_at(&[0u8; PAGE], 0).map_err(ctx("write"))?;
    let m = Map::file(&f, PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED).map_err(ctx("mmap"))?;
    let mx = m.ptr(0).cast::<sys::Mutex>();
    // SAFETY: 40 bytes of the page-aligned mapping, not a mutex yet.
    let r = unsafe { sys::mutex_init_shared(mx) };
    ck.expect("pthread_mutex_init (PTHREAD_PROCESS_SHARED) in the mapping", &errno_text(r), "ok", "ok");
    if r != 0 {
        return Ok(());
    }
    // SAFETY: initialised above.
    unsafe { sys::mutex_lock(mx) };

    // glibc reports a futex error it does not expect on stderr, not /dev/tty.
    std::env::set_var("LIBC_FATAL_STDERR_", "1");
    let (mut me, mut kid) = Chan::pair()?;
    let p2 = path.clone();
    let child = sys::spawn(move || {
        let Ok(f) = OpenOptions::new().read(true).write(true).open(&p2) else { return 100 };
        let Ok(m) = Map::file(&f, PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED) else {
            return 101;
        };
        let mx = m.ptr(0).cast::<sys::Mutex>();
        kid.send(&[m.addr() as u64]);
        // SAFETY: the mutex the parent initialised in the file.
        let r = unsafe { sys::mutex_timedlock(mx, &sys::realtime_in(20)) };
        if r != 0 {
            return r;
        }
        // The parent wrote 42 before unlocking.
        let code = if m.read(128, 1)[0] == 42 { 0 } else { 102 };
        // SAFETY: we hold it.
        unsafe { sys::mutex_unlock(mx) };
        code
    })
    .map_err(ctx("fork"))?;
    let caddr = me.recv(1)?[0];
    println!("child {child} maps the file at {caddr:#x}, the parent at {:#x}; the parent holds the mutex", m.addr());
    let st = settle(child, sys::SYS_FUTEX, 10);
    // In pages, FUTEX_WAIT fails with EFAULT, which glibc's timed wait takes for a bug of its
    // own: "The futex facility returned an unexpected error code.", abort().
    ck.expect("the child in pthread_mutex_timedlock", &state_text(&st), "asleep in futex", "SIGABRT");
    if matches!(st, State::Ended(_)) && !ck.devmap() {
        // The child left the lock word marked contended: unlocking it would call FUTEX_WAKE,
        // which fails the same way and makes glibc abort this process too (when the child got
        // that far before its wait failed: timing). A process-shared mutex is not usable in
        // this model; the counting below is for devmap.
        return Ok(());
    }
    m.write(128, &[42]);
    // SAFETY: we hold it.
    unsafe { sys::mutex_unlock(mx) };
    if !matches!(st, State::Ended(_)) {
        let end = sys::wait(child).map_err(ctx("waitpid"))?;
        ck.expect("the child, once the parent unlocked", &ended(&end), "exit 0", "-");
    }

    // Both count under the lock. In pages, glibc's untimed lock loops on the failing
    // FUTEX_WAIT: no sleep, but still mutual exclusion.
    let n = 2000u64;
    let count = |m: &Map| {
        let mx = m.ptr(0).cast::<sys::Mutex>();
        for _ in 0..n {
            // SAFETY: the shared mutex, held around the read-modify-write.
            unsafe { sys::mutex_lock(mx) };
            let v = u64::from_le_bytes(m.read(256, 8).try_into().unwrap());
            m.write(256, &(v + 1).to_le_bytes());
            // SAFETY: we hold it.
            unsafe { sys::mutex_unlock(mx) };
        }
    };
    let p2 = path.clone();
    let child = sys::spawn(move || {
        let Ok(f) = OpenOptions::new().read(true).write(true).open(&p2) else { return 100 };
        let Ok(m) = Map::file(&f, PAGE, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED) else {
            return 101;
        };
        count(&m);
        0
    })
    .map_err(ctx("fork"))?;
    count(&m);
    let end = sys::wait(child).map_err(ctx("waitpid"))?;
    ck.expect("the counting child", &ended(&end), "exit 0", "exit 0");
    let total = u64::from_le_bytes(m.read(256, 8).try_into().unwrap());
    ck.truth(&format!("the count under the shared mutex: {total}, expected {}", 2 * n), total == 2 * n);
    drop(m);
    let on_disk = read_file(&path)?;
    ck.truth("the count in the file read()", on_disk[256..264] == (2 * n).to_le_bytes());
    Ok(())
}

fn errno_text(r: c_int) -> String {
    if r == 0 { "ok".into() } else { errno_name(&io::Error::from_raw_os_error(r)) }
}

// ---------------------------------------------------------------------------
// vmsplice
// ---------------------------------------------------------------------------

/// vmsplice a mapped page into a pipe: the pipe holds the page itself (a write to the file
/// before the pipe is read shows in what it reads). In devmap, a truncate of the file while
/// the pipe holds a page of it waits until the pipe is read.
fn vmsplice(ck: &mut Ck, dir: &Path) -> Res {
    let len = 4 * PAGE;
    let (path, f, data) = make_file(dir, "vmsplice", len, 8)?;
    let m = Map::file(&f, len, sys::PROT_READ | sys::PROT_WRITE, sys::MAP_SHARED).map_err(ctx("mmap"))?;
    let (mut r, w) = sys::make_pipe().map_err(ctx("pipe"))?;
    let res = sys::vmsplice(w.as_raw_fd(), m.ptr(PAGE), PAGE);
    let oc = match &res { Ok(n) if *n != PAGE => format!("{n} bytes"), _ => outcome(&res) };
    if !ck.expect("vmsplice of a mapped page into a pipe", &oc, "ok", "EEXIST") {
        ck.same("the file", &read_file(&path)?, &data);
        return Ok(());
    }
    let p10 = pattern(10, PAGE);
    f.write_all_at(&p10, PAGE as u64).map_err(ctx("write"))?;
    let mut got = vec![0u8; PAGE];
    r.read_exact(&mut got).map_err(ctx("read the pipe"))?;
    ck.same("the pipe read after a write() to the page (the pipe holds the page)", &got, &p10);

    // Truncate while the pipe holds page 2: it waits for the pipe to let go of the page.
    let res = sys::vmsplice(w.as_raw_fd(), m.ptr(2 * PAGE), PAGE);
    ck.expect("vmsplice of another page", &outcome(&res), "ok", "-");
    let p2 = path.clone();
    let child = sys::spawn(move || {
        match OpenOptions::new().write(true).open(&p2).and_then(|f| f.set_len(PAGE as u64)) {
            Ok(()) => 0,
            Err(e) => e.raw_os_error().unwrap_or(100),
        }
    })
    .map_err(ctx("fork"))?;
    let st = settle(child, sys::SYS_FTRUNCATE, 10);
    ck.expect("a truncate to 1 page in a child, while the pipe holds page 2", &state_text(&st), "asleep in ftruncate", "-");
    r.read_exact(&mut got).map_err(ctx("read the pipe"))?;
    ck.same("the pipe read", &got, &data[2 * PAGE..3 * PAGE]);
    let end = finish(child, st)?;
    ck.expect("the truncating child, once the pipe was read", &ended(&end), "exit 0", "-");
    ck.same("the file after the truncate", &read_file(&path)?, &data[..PAGE]);
    drop(m);
    Ok(())
}

// ---------------------------------------------------------------------------
// fork
// ---------------------------------------------------------------------------

/// The parent maps the file shared and private (read-write), writes page 1 of the private
/// mapping (its copy) and reads the others, and forks.
fn fork_check(ck: &mut Ck, dir: &Path) -> Res {
    let len = 4 * PAGE;
    let (path, f, data) = make_file(dir, "fork", len, 11)?;
    let rw = sys::PROT_READ | sys::PROT_WRITE;
    let s = Map::file(&f, len, rw, sys::MAP_SHARED).map_err(ctx("mmap"))?;
    let p = Map::file(&f, len, rw, sys::MAP_PRIVATE).map_err(ctx("mmap"))?;
    let p12 = pattern(12, PAGE);
    p.write(PAGE, &p12);
    s.touch();
    p.touch();
    // The parent's private mapping: its copy of page 1, the file's pages elsewhere (a private
    // mapping shows the file's page, writes to the file included, until the page is copied).
    let parent_view = |file: &[u8]| {
        let mut v = file.to_vec();
        v[PAGE..2 * PAGE].copy_from_slice(&p12);
        v
    };
    let priv_view = parent_view(&data);

    let (mut me, mut kid) = Chan::pair()?;
    let model = ck.model;
    let (pv, d2) = (&priv_view, &data);
    let (s, p) = (&s, &p);
    let child = sys::spawn(|| {
        let mut ck = Ck::new(model);
        let mut run = || -> Res {
            let me = sys::pid();
            ck.same("child: its private mapping (the parent's copy of page 1, the file elsewhere)", &p.read(0, len), pv);
            ck.same("child: its shared mapping", &s.read(0, len), d2);
            // GUP in the child, on inherited mappings.
            let mut buf = vec![0u8; len];
            let r = sys::vm_rw(me, s.addr(), &mut buf, false);
            if ck.expect("child: process_vm_readv of the inherited shared mapping", &outcome(&r), "ok", "EFAULT") {
                ck.same("child: what it read", &buf, d2);
            }
            let mut buf = vec![0u8; PAGE];
            let r = sys::vm_rw(me, p.addr() + PAGE, &mut buf, false);
            if ck.expect("child: process_vm_readv of the private copy (an anonymous page)", &outcome(&r), "ok", "ok") {
                ck.same("child: what it read", &buf, &p12);
            }
            let r = sys::vm_rw(me, p.addr() + 2 * PAGE, &mut buf, false);
            if ck.expect("child: process_vm_readv of a read page of the private mapping", &outcome(&r), "ok", "EFAULT") {
                ck.same("child: what it read", &buf, &d2[2 * PAGE..3 * PAGE]);
            }
            // A write through the child's own /proc/self/mem into the shared mapping.
            let p15 = pattern(15, 16);
            let r = proc_mem_write(me, s.addr() + 40, &p15);
            ck.expect("child: write into the shared mapping through /proc/self/mem", &outcome(&r), "ok", "EIO");
            // The child writes shared page 2, and its private page 0 (its own copy).
            s.write(2 * PAGE, &pattern(13, 16));
            p.write(0, &pattern(16, 16));
            kid.send(&[1]);
            kid.recv(1)?;
            ck.same("child: the parent's write to shared page 3", &s.read(3 * PAGE, 16), &pattern(14, 16));
            // Not copied: a private mapping shows the file's page until it is written.
            ck.same("child: its private page 3 (never written: the file's page)", &p.read(3 * PAGE, 16), &pattern(14, 16));
            Ok(())
        };
        if let Err(e) = run() {
            println!("FAIL: child: {e}");
            return 1;
        }
        i32::from(ck.fails != 0)
    })
    .map_err(ctx("fork"))?;
    me.recv(1)?;
    let mut file_want = data.clone();
    file_want[2 * PAGE..2 * PAGE + 16].copy_from_slice(&pattern(13, 16));
    if ck.devmap() {
        file_want[40..56].copy_from_slice(&pattern(15, 16));
    }
    ck.same("parent: its shared mapping after the child's writes", &s.read(0, len), &file_want);
    ck.same("parent: the file read()", &read_file(&path)?, &file_want);
    ck.same("parent: its private mapping (the child's private write unseen)", &p.read(0, len), &parent_view(&file_want));
    // The parent writes private page 2 (a read page: copied now) and shared page 3.
    p.write(2 * PAGE, &pattern(17, 16));
    s.write(3 * PAGE, &pattern(14, 16));
    file_want[3 * PAGE..3 * PAGE + 16].copy_from_slice(&pattern(14, 16));
    let mut priv_view = parent_view(&file_want);
    priv_view[2 * PAGE..2 * PAGE + 16].copy_from_slice(&pattern(17, 16));
    me.send(&[1]);
    let end = sys::wait(child).map_err(ctx("waitpid"))?;
    ck.expect("the child's checks", &ended(&end), "exit 0", "exit 0");
    ck.same("parent: its private mapping at the end", &p.read(0, len), &priv_view);
    ck.same("the file at the end", &read_file(&path)?, &file_want);
    Ok(())
}

// ---------------------------------------------------------------------------

fn usage() -> ExitCode {
    eprintln!(
        "usage: xipgup devmap|pages proc-mem|pvm|futex|mutex|vmsplice|fork DIR\n\
         \x20      xipgup devmap|pages ptrace BUSYBOX\n\
         \x20      xipgup devmap|pages odirect DIR BLKDEV"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let a: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let model = match a.first() {
        Some(&"devmap") => Model::Devmap,
        Some(&"pages") => Model::Pages,
        _ => return usage(),
    };
    let mut ck = Ck::new(model);
    let p = Path::new;
    println!("xipgup {} {}", ck.name(), a[1..].join(" "));
    let r = match &a[1..] {
        ["proc-mem", d] => proc_mem(&mut ck, p(d)),
        ["pvm", d] => pvm(&mut ck, p(d)),
        ["ptrace", prog] => ptrace_check(&mut ck, p(prog)),
        ["odirect", d, dev] => odirect(&mut ck, p(d), p(dev)),
        ["futex", d] => futex(&mut ck, p(d)),
        ["mutex", d] => mutex(&mut ck, p(d)),
        ["vmsplice", d] => vmsplice(&mut ck, p(d)),
        ["fork", d] => fork_check(&mut ck, p(d)),
        _ => return usage(),
    };
    if let Err(e) = r {
        ck.truth(&format!("xipgup {}: {e}", a[1]), false);
    }
    ck.exit(a[1])
}
