// SPDX-License-Identifier: GPL-2.0
//! xippeek: reading XIP mappings from outside the access that mapped them, as debuggers do.
//!
//! ```text
//! xippeek mem FILE     map FILE shared and private (one private page copied on write), and
//!                      read both through /proc/self/mem: every byte is what read() gives
//!                      (zeros from EOF to the end of the last page), the copied page shows
//!                      the private bytes; process_vm_readv of the shared mapping gives
//!                      PVM_EXPECT (an errno name, or "ok"; default EFAULT: it needs pages
//!                      that get_user_pages can take)
//! xippeek trace PROG   start PROG under ptrace (stopped at its exec), and read every page of
//!                      its executable mappings of PROG with PTRACE_PEEKTEXT and through
//!                      /proc/PID/mem: each holds PROG's bytes at that offset; then
//!                      PTRACE_POKETEXT a word (as a breakpoint is set): the outcome must be
//!                      POKE_EXPECT (an errno name, or "ok"; default EIO), the word must read
//!                      back as written (ok) or unchanged (error), and PROG on disk must not
//!                      change
//! xippeek mprotect FILE EXPECT
//!                      mprotect(PROT_WRITE) of a private read-only mapping of FILE gives
//!                      EXPECT ("ok" or an errno name); a write to it then stays private
//! ```
//!
//! Prints what it checked; exits 0 when all checks pass, else prints `FAIL: ...` and exits 1
//! (2 on a usage error). Only std, no crates; the system calls std lacks are declared against
//! glibc and wrapped below. x86-64 Linux only (the constants).

use std::ffi::{c_char, c_int, c_long, c_void, CString};
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::ExitCode;

const PAGE: usize = 4096;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_PRIVATE: c_int = 2;
const SYS_PTRACE: c_long = 101;
const SYS_PROCESS_VM_READV: c_long = 310;
const PTRACE_TRACEME: c_long = 0;
const PTRACE_PEEKTEXT: c_long = 1;
const PTRACE_POKETEXT: c_long = 4;
const SIGKILL: c_int = 9;
const SIGTRAP: c_int = 5;

#[repr(C)]
struct IoVec {
    base: *mut c_void,
    len: usize,
}

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
        -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int;
    fn fork() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn _exit(code: c_int) -> !;
    fn syscall(nr: c_long, ...) -> c_long;
    fn getpid() -> c_int;
}

type Res = Result<(), String>;

/// A mapping, unmapped when dropped.
struct Map {
    addr: *mut u8,
    len: usize,
}

impl Map {
    fn new(f: &File, len: usize, prot: c_int, flags: c_int) -> Result<Self, String> {
        // SAFETY: A new mapping chosen by the kernel; the fd is valid.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, flags, f.as_raw_fd(), 0) };
        if p as isize == -1 {
            return Err(format!("mmap: {}", io::Error::last_os_error()));
        }
        Ok(Self { addr: p.cast(), len })
    }
    fn addr(&self) -> usize {
        self.addr as usize
    }
    /// Writes `b` at `off` (the mapping must be writable).
    fn poke(&mut self, off: usize, b: u8) {
        assert!(off < self.len);
        // SAFETY: Inside the mapping, which is writable (checked by the callers' prot).
        unsafe { std::ptr::write_volatile(self.addr.add(off), b) };
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Our own mapping, of `len` bytes.
        unsafe { munmap(self.addr.cast(), self.len) };
    }
}

fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(1) => "EPERM".into(),
        Some(3) => "ESRCH".into(),
        Some(5) => "EIO".into(),
        Some(13) => "EACCES".into(),
        Some(14) => "EFAULT".into(),
        Some(22) => "EINVAL".into(),
        Some(38) => "ENOSYS".into(),
        Some(n) => format!("errno {n}"),
        None => e.to_string(),
    }
}

/// The file's bytes as a mapping shows them: its data, then zeros to the end of the page.
fn file_view(path: &Path) -> Result<Vec<u8>, String> {
    let mut v = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let len = v.len().div_ceil(PAGE) * PAGE;
    v.resize(len, 0);
    Ok(v)
}

/// The first byte where `got` and `want` differ, as an error naming `what`.
fn same(got: &[u8], want: &[u8], what: &str) -> Res {
    if got.len() != want.len() {
        return Err(format!("{what}: {} bytes, expected {}", got.len(), want.len()));
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: byte {i:#x} is {:#04x}, expected {:#04x}",
            got[i], want[i]
        )),
    }
}

/// Reads `len` bytes at address `addr` of process `pid` through /proc/PID/mem.
fn proc_mem(pid: &str, addr: usize, len: usize) -> Result<Vec<u8>, String> {
    let mem = File::open(format!("/proc/{pid}/mem")).map_err(|e| format!("open /proc/{pid}/mem: {e}"))?;
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match mem.read_at(&mut buf[done..], (addr + done) as u64) {
            Ok(0) => return Err(format!("/proc/{pid}/mem at {:#x}: end of file", addr + done)),
            Ok(n) => done += n,
            Err(e) => {
                return Err(format!("/proc/{pid}/mem at {:#x}: {}", addr + done, errno_name(&e)))
            }
        }
    }
    Ok(buf)
}

fn mem(path: &Path, pvm_expect: &str) -> Res {
    let want = file_view(path)?;
    if want.is_empty() {
        return Err("the file is empty: nothing to map".into());
    }
    let f = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let len = want.len();

    let shared = Map::new(&f, len, PROT_READ, MAP_SHARED)?;
    let got = proc_mem("self", shared.addr(), len)?;
    same(&got, &want, "shared mapping through /proc/self/mem")?;
    println!("shared mapping: {len} bytes through /proc/self/mem match the file");

    // A private mapping with one page copied on write: /proc/self/mem shows the copy there and
    // the file elsewhere.
    let mut private = Map::new(&f, len, PROT_READ | PROT_WRITE, MAP_PRIVATE)?;
    let cow_page = (len / PAGE) / 2;
    let mut expect = want.clone();
    for i in 0..16 {
        let off = cow_page * PAGE + i * 7;
        expect[off] = !want[off];
        private.poke(off, expect[off]);
    }
    let got = proc_mem("self", private.addr(), len)?;
    same(&got, &expect, "private mapping through /proc/self/mem")?;
    println!("private mapping: page {cow_page} shows its private copy, the rest the file");
    same(&file_view(path)?, &want, "the file after writing its private mapping")?;

    // process_vm_readv pins the pages (get_user_pages): no vm_ops->access fallback.
    let mut buf = vec![0u8; len];
    let local = IoVec { base: buf.as_mut_ptr().cast(), len };
    let remote = IoVec { base: shared.addr as *mut c_void, len };
    // SAFETY: Both iovecs describe valid memory of this process.
    let r = unsafe { syscall(SYS_PROCESS_VM_READV, getpid() as c_long, &local, 1usize, &remote, 1usize, 0usize) };
    let outcome = if r < 0 {
        errno_name(&io::Error::last_os_error())
    } else if r as usize == len && buf == want {
        "ok".into()
    } else {
        format!("{r} bytes")
    };
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
    let mut v = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || !f[1].contains('x') || Path::new(f[5]) != canon {
            continue;
        }
        let (s, e) = f[0].split_once('-').ok_or("bad maps line")?;
        let hex = |x: &str| usize::from_str_radix(x, 16).map_err(|e| e.to_string());
        v.push((hex(s)?, hex(e)?, hex(f[2])?));
    }
    Ok(v)
}

fn ptrace(req: c_long, pid: c_int, addr: usize, data: usize) -> io::Result<c_long> {
    // SAFETY: The ptrace system call with plain integer arguments; for PEEK requests `data`
    // points to a word the caller owns.
    let r = unsafe { syscall(SYS_PTRACE, req, pid as c_long, addr, data) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn peek(pid: c_int, addr: usize) -> Result<u64, String> {
    let mut word = 0u64;
    ptrace(PTRACE_PEEKTEXT, pid, addr, &mut word as *mut u64 as usize)
        .map_err(|e| format!("PTRACE_PEEKTEXT at {addr:#x}: {}", errno_name(&e)))?;
    Ok(word)
}

fn trace(prog: &Path) -> Res {
    let before = fs::read(prog).map_err(|e| format!("read {}: {e}", prog.display()))?;
    let cprog = CString::new(prog.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let argv = [cprog.as_ptr(), std::ptr::null()];
    // SAFETY: The child only calls async-signal-safe functions before exec or _exit.
    let pid = unsafe { fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: As above; on success execv does not return.
        unsafe {
            syscall(SYS_PTRACE, PTRACE_TRACEME, 0 as c_long, 0usize, 0usize);
            execv(cprog.as_ptr(), argv.as_ptr());
            _exit(127);
        }
    }
    let res = trace_child(pid, prog, &before);
    // SAFETY: Our own child.
    unsafe {
        kill(pid, SIGKILL);
        let mut st = 0;
        waitpid(pid, &mut st, 0);
    }
    res
}

fn trace_child(pid: c_int, prog: &Path, before: &[u8]) -> Res {
    let mut st: c_int = 0;
    // SAFETY: Waiting for our own child.
    if unsafe { waitpid(pid, &mut st, 0) } != pid {
        return Err(format!("waitpid: {}", io::Error::last_os_error()));
    }
    // Stopped (0x7f) by the SIGTRAP of its exec.
    if st & 0xff != 0x7f || (st >> 8) & 0xff != SIGTRAP {
        return Err(format!("the child did not stop at its exec (wait status {st:#x})"));
    }
    let view = file_view(prog)?;
    let maps = exec_maps(pid, prog)?;
    if maps.is_empty() {
        return Err(format!("no executable mapping of {} in the child", prog.display()));
    }
    let spid = pid.to_string();
    let mut pages = 0;
    for &(start, end, off) in &maps {
        for addr in (start..end).step_by(PAGE) {
            let foff = off + (addr - start);
            if foff >= view.len() {
                break;
            }
            let want = &view[foff..foff + PAGE];
            let got = proc_mem(&spid, addr, PAGE)?;
            same(&got, want, &format!("/proc/{pid}/mem at {addr:#x} (file offset {foff:#x})"))?;
            for w in [0, PAGE / 2, PAGE - 8] {
                let word = peek(pid, addr + w)?;
                let exp = u64::from_le_bytes(want[w..w + 8].try_into().unwrap());
                if word != exp {
                    return Err(format!(
                        "PTRACE_PEEKTEXT at {:#x}: {word:#x}, expected {exp:#x}",
                        addr + w
                    ));
                }
            }
            pages += 1;
        }
    }
    println!("{pages} text pages of {} read with PTRACE_PEEKTEXT and /proc/{pid}/mem match the file", prog.display());

    // A breakpoint: write an int3 over the first word of the text, as gdb does.
    let at = maps[0].0;
    let old = peek(pid, at)?;
    let new = (old & !0xff) | 0xcc;
    let poke_expect = std::env::var("POKE_EXPECT").unwrap_or_else(|_| "EIO".into());
    let (outcome, want_back) = match ptrace(PTRACE_POKETEXT, pid, at, new as usize) {
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
    let after = fs::read(prog).map_err(|e| e.to_string())?;
    same(&after, before, "the program's file after PTRACE_POKETEXT")?;
    println!("PTRACE_POKETEXT at {at:#x}: {outcome}, as expected; the text reads {back:#x}; the file is unchanged");
    Ok(())
}

/// A private read-only mapping of `path` made writable with mprotect: `expect` is "ok" or an
/// errno name. When it works, a write to it stays private.
fn mprotect_write(path: &Path, expect: &str) -> Res {
    let want = file_view(path)?;
    let f = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut m = Map::new(&f, PAGE, PROT_READ, MAP_PRIVATE)?;
    // SAFETY: Our own mapping of one page.
    let r = unsafe { mprotect(m.addr.cast(), PAGE, PROT_READ | PROT_WRITE) };
    let outcome = if r == 0 { "ok".into() } else { errno_name(&io::Error::last_os_error()) };
    if outcome != expect {
        return Err(format!("mprotect(PROT_WRITE) of a private read-only mapping: {outcome}, expected {expect}"));
    }
    if r == 0 {
        m.poke(0, !want[0]);
        same(&file_view(path)?, &want, "the file after writing its private mapping")?;
    }
    println!("mprotect(PROT_WRITE) of a private read-only mapping: {outcome}, as expected");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let res = match args.get(1).map(String::as_str) {
        Some("mem") if args.len() == 3 => {
            let pvm = std::env::var("PVM_EXPECT").unwrap_or_else(|_| "EFAULT".into());
            mem(Path::new(&args[2]), &pvm)
        }
        Some("trace") if args.len() == 3 => trace(Path::new(&args[2])),
        Some("mprotect") if args.len() == 4 => mprotect_write(Path::new(&args[2]), &args[3]),
        _ => {
            eprintln!("usage: xippeek mem FILE | xippeek trace PROG | xippeek mprotect FILE EXPECT");
            return ExitCode::from(2);
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
