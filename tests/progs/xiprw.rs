// SPDX-License-Identifier: GPL-2.0
//! xiprw: the system calls and checkers of the read-write xipfs guest tests
//! (`tests/guest/t-xipfs-rw-*.sh`), for what busybox cannot do or cannot check precisely.
//!
//! ```text
//! Data (PATTERN is a TAG number: byte o of the file is pat(TAG, o), never 0 and never
//! 0xa5, the poison that fills freed blocks; or `zero`; or `byte:0xNN`):
//!   write FILE OFF LEN TAG [--how write|pwrite|writev|append|direct] [--sync|--dsync]
//!         [--chunk N] [--then fsync|fdatasync|syncfs] [--expect E]
//!       write pat(TAG) over [OFF, OFF+LEN); `append` opens O_APPEND, checks the file ends at
//!       OFF, seeks to 0 before every write (O_APPEND must ignore it) and that the file ends
//!       at OFF+LEN after; `direct` is O_DIRECT with an aligned buffer; with --expect ERR,
//!       the open or a write must fail with ERR (what was written before is reported)
//!   check FILE OFF LEN PATTERN [--from SRCOFF] [--direct|--mmap]
//!       the bytes of [OFF, OFF+LEN) are PATTERN (with --from: byte OFF+i is pat(TAG,
//!       SRCOFF+i), for copies); read with pread, O_DIRECT or a MAP_SHARED mapping
//!   fill FILE [--tag T|--byte 0xNN] [--chunk N] [--no-verify]
//!       write from offset 0 until ENOSPC (any other error fails), then check the file is
//!       as long as what was written, holds it, and a further write gets ENOSPC again
//!   fill-inodes DIR PREFIX      create empty files DIR/PREFIX-N until ENOSPC
//!   truncate FILE SIZE [--path] [--expect E]     ftruncate (truncate(2) with --path)
//!   fallocate FILE 0|keep|punch OFF LEN [--expect E] [--blocks N|--min-blocks N]
//!       [--mapped]   (st_blocks checked while the file is still open); `punch` is
//!       FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE, and must leave the size as it was; a mode
//!       may also be a number (0xNN); --mapped: the file around the range (64 KiB either
//!       side) mapped MAP_SHARED and read before the call must show after it what read()
//!       shows: zeros where a hole was punched, the rest unchanged
//!   copy IN OFF_IN OUT OFF_OUT LEN                copy_file_range, looping
//!   splice-in FILE OFF LEN TAG      pat(TAG) through a pipe, spliced into FILE at OFF
//!   splice-out FILE OFF LEN TAG     FILE spliced out from OFF into a pipe, which must hold
//!                                   pat(TAG, OFF..)
//!   sync FILE fsync|fdatasync|syncfs
//! Mappings:
//!   map-write FILE OFF LEN TAG [--msync]   store pat(TAG) through a MAP_SHARED writable
//!       mapping; read() and a second mapping see it at once, before any msync
//!   map-hole FILE PAGE OTHER     FILE and OTHER are all holes (made with truncate): a read
//!       fault sees zeros, a store allocates a zeroed block (st_blocks grows), read() sees the
//!       store at once, and the zero page is not written (OTHER still reads zeros)
//!   map-private FILE             stores to a MAP_PRIVATE mapping (a data page and a hole
//!       page) stay private: read(), a shared mapping and st_blocks do not change
//!   map-sigbus FILE OFF read|write   touching the page at OFF through a MAP_SHARED
//!       mapping (writable for `write`) kills with SIGBUS (in a child process)
//!   race FILE [--iters N] [--seed S] [--mmap]   a writer, a truncater, a reader (and with
//!       --mmap a faulting reader and a storing writer) on one file; every byte ever seen is
//!       0 or pat: never stale data of a freed block
//! Namespace and attributes:
//!   stat PATH [FIELD]      lstat: `ino type mode nlink uid gid size blocks atime mtime
//!                          ctime rdev` (times S.NNNNNNNNN), or only FIELD's value
//!   rename OLD NEW [plain|noreplace|exchange|whiteout] [--expect E]   renameat2
//!   utimens PATH ATIME MTIME [--nofollow]   utimensat; each time S.N, now or omit
//!   mksock PATH            a Unix socket file
//!   tmpfile DIR TAG [--link NAME]   open(DIR, O_TMPFILE|O_RDWR, 0600): 64 KiB of pat(TAG)
//!                          written and read back, no link (st_nlink 0), blocks counted;
//!                          with --link, linkat through /proc/self/fd gives it NAME
//!                          (st_nlink 1); then closed
//!   discard DEV OFF LEN [--zeroout] [--expect E]   one BLKDISCARD (BLKZEROOUT) ioctl,
//!                          DEV opened for writing without O_EXCL (unlike blkdiscard)
//!   mount SRC DIR TYPE FLAGS DATA [--expect E]   one mount(2), no retries ("-": NULL or
//!                          none; FLAGS: comma list of ro,remount,noatime,relatime,strictatime)
//!   as UID GID[,SUPP...] PROG ARGS...   run PROG with those ids (no capabilities left)
//! Trees:
//!   storm DIR [--seed S] [--workers N] [--ops N|--seconds T] [--exchange] [--mmap]
//!       parallel create, mkdir, rename (plain, noreplace, exchange with --exchange), link,
//!       unlink, rmdir and rewrites across DIR/d0..d7, while a writer, a truncater and a
//!       reader (with --mmap also a reader and a writer through shared mappings) churn
//!       DIR/shared-0..1; every errno must be one the operation may give, every byte read 0
//!       or the shared file's pattern; for N operations per worker or T seconds; then
//!       tree-check
//!   tree-check DIR [--storm]   every directory's `..` is its parent and its link count
//!       2 + subdirectories, every other inode's link count is its number of names, readdir's
//!       types match lstat; --storm: storm files hold only storm text, shared-N files only
//!       0 or pat
//!   tree-list DIR [--ns] [--no-atime]   one line per entry, sorted: inode, type, mode,
//!       owner, links, size, blocks, times (with nanoseconds if --ns), rdev, link target and
//!       a content hash (files under 64 MiB), for comparing two drivers' views
//! ```
//!
//! `--expect` takes `|`-separated outcomes: `ok`, errno names (`ENOSPC`, `EUCLEAN`...), or
//! `fail` for any error.
//! Every subcommand prints what it did; on a failed check it prints a line starting with
//! `FAIL:` and exits 1 (2 on a usage error). Only std, no crates: the system calls std
//! lacks are declared against glibc. x86-64 Linux only (the constants).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void, CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------
// System calls
// ---------------------------------------------------------------------------

mod sys {
    use super::*;

    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_SHARED: c_int = 1;
    pub const MAP_PRIVATE: c_int = 2;
    pub const MAP_FIXED: c_int = 0x10;
    pub const MAP_ANONYMOUS: c_int = 0x20;
    pub const MS_SYNC: c_int = 4;
    pub const O_DIRECT: c_int = 0o40000;
    pub const O_DSYNC: c_int = 0o10000;
    pub const O_SYNC: c_int = 0o4010000;
    pub const FALLOC_FL_KEEP_SIZE: c_int = 1;
    pub const FALLOC_FL_PUNCH_HOLE: c_int = 2;
    pub const AT_FDCWD: c_int = -100;
    pub const AT_SYMLINK_NOFOLLOW: c_int = 0x100;
    pub const UTIME_NOW: c_long = (1 << 30) - 1;
    pub const UTIME_OMIT: c_long = (1 << 30) - 2;
    pub const SIGBUS: c_int = 7;
    const SA_SIGINFO: c_int = 4;
    const SYS_RENAMEAT2: c_long = 316;

    #[repr(C)]
    pub struct IoVec {
        pub base: *const c_void,
        pub len: usize,
    }

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct Timespec {
        pub sec: i64,
        pub nsec: c_long,
    }

    /// glibc's `struct sigaction` on x86-64: handler, 128-byte mask, flags, restorer.
    #[repr(C)]
    struct SigAction {
        handler: usize,
        mask: [u64; 16],
        flags: c_int,
        restorer: usize,
    }

    extern "C" {
        fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            off: i64,
        ) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int;
        fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
        fn copy_file_range(
            fd_in: c_int,
            off_in: *mut i64,
            fd_out: c_int,
            off_out: *mut i64,
            len: usize,
            flags: c_uint,
        ) -> isize;
        fn splice(
            fd_in: c_int,
            off_in: *mut i64,
            fd_out: c_int,
            off_out: *mut i64,
            len: usize,
            flags: c_uint,
        ) -> isize;
        fn pipe(fds: *mut c_int) -> c_int;
        fn writev(fd: c_int, iov: *const IoVec, n: c_int) -> isize;
        fn lseek(fd: c_int, off: i64, whence: c_int) -> i64;
        fn utimensat(
            dirfd: c_int,
            path: *const c_char,
            times: *const Timespec,
            flags: c_int,
        ) -> c_int;
        fn syncfs(fd: c_int) -> c_int;
        fn truncate(path: *const c_char, len: i64) -> c_int;
        fn mount(
            src: *const c_char,
            target: *const c_char,
            fstype: *const c_char,
            flags: c_ulong,
            data: *const c_void,
        ) -> c_int;
        fn setgroups(n: usize, list: *const u32) -> c_int;
        fn setresgid(r: u32, e: u32, s: u32) -> c_int;
        fn setresuid(r: u32, e: u32, s: u32) -> c_int;
        fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
        fn sigaction(sig: c_int, act: *const SigAction, old: *mut SigAction) -> c_int;
        fn fork() -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn _exit(status: c_int) -> !;
        fn syscall(nr: c_long, ...) -> c_long;
        fn ioctl(fd: c_int, req: c_ulong, ...) -> c_int;
    }

    /// BLKDISCARD (or BLKZEROOUT) of `[off, off + len)` on an open block device.
    pub fn blk_range_ioctl(fd: c_int, zeroout: bool, off: u64, len: u64) -> io::Result<()> {
        let range = [off, len];
        let req: c_ulong = if zeroout { 0x127f } else { 0x1277 };
        // SAFETY: Both ioctls read two u64 from the pointer, which is valid for that.
        check(unsafe { ioctl(fd, req, range.as_ptr()) })
    }

    fn check(r: c_int) -> io::Result<()> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn cstr(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths")
    }

    /// A new mapping chosen by the kernel.
    pub fn map(fd: c_int, off: u64, len: usize, prot: c_int, flags: c_int) -> io::Result<*mut u8> {
        // SAFETY: A new mapping at an address the kernel chooses; nothing is replaced.
        let p = unsafe { mmap(std::ptr::null_mut(), len, prot, flags, fd, off as i64) };
        if p as isize == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(p.cast())
        }
    }

    /// # Safety
    /// `[addr, addr + len)` must be a mapping of the caller's that nothing uses any more.
    pub unsafe fn unmap(addr: *mut u8, len: usize) {
        // SAFETY: The caller's promise.
        unsafe { munmap(addr.cast(), len) };
    }

    pub fn sync_map(addr: *mut u8, len: usize) -> io::Result<()> {
        // SAFETY: msync only looks at the range; an address outside a mapping is ENOMEM.
        check(unsafe { msync(addr.cast(), len, MS_SYNC) })
    }

    pub fn fallocate_fd(fd: c_int, mode: c_int, off: u64, len: u64) -> io::Result<()> {
        // SAFETY: A plain system call on a file descriptor.
        check(unsafe { fallocate(fd, mode, off as i64, len as i64) })
    }

    pub fn copy_range(
        fd_in: c_int,
        off_in: &mut i64,
        fd_out: c_int,
        off_out: &mut i64,
        len: usize,
    ) -> io::Result<usize> {
        // SAFETY: The offsets are valid for writes; plain system call.
        let r = unsafe { copy_file_range(fd_in, off_in, fd_out, off_out, len, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// splice with an offset on the file side (`off` for the side that is a file).
    pub fn splice_fd(
        fd_in: c_int,
        off_in: Option<&mut i64>,
        fd_out: c_int,
        off_out: Option<&mut i64>,
        len: usize,
    ) -> io::Result<usize> {
        let pi = off_in.map_or(std::ptr::null_mut(), |r| r as *mut i64);
        let po = off_out.map_or(std::ptr::null_mut(), |r| r as *mut i64);
        // SAFETY: The offsets are null or valid for writes; plain system call.
        let r = unsafe { splice(fd_in, pi, fd_out, po, len, 0) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// A pipe, as (read end, write end).
    pub fn make_pipe() -> io::Result<(File, File)> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: `fds` has room for the two descriptors.
        check(unsafe { pipe(fds.as_mut_ptr()) })?;
        // SAFETY: Both are new descriptors that nothing else owns.
        Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
    }

    pub fn writev_fd(fd: c_int, bufs: &[&[u8]]) -> io::Result<usize> {
        let iov: Vec<IoVec> = bufs
            .iter()
            .map(|b| IoVec {
                base: b.as_ptr().cast(),
                len: b.len(),
            })
            .collect();
        // SAFETY: Every iovec points into a live slice of its length.
        let r = unsafe { writev(fd, iov.as_ptr(), iov.len() as c_int) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    pub fn seek_set(fd: c_int, off: u64) -> io::Result<()> {
        // SAFETY: Plain system call.
        if unsafe { lseek(fd, off as i64, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn utimens(path: &Path, t: [Timespec; 2], nofollow: bool) -> io::Result<()> {
        let c = cstr(path);
        let flags = if nofollow { AT_SYMLINK_NOFOLLOW } else { 0 };
        // SAFETY: A NUL-terminated path and an array of two timespecs.
        check(unsafe { utimensat(AT_FDCWD, c.as_ptr(), t.as_ptr(), flags) })
    }

    pub fn syncfs_fd(fd: c_int) -> io::Result<()> {
        // SAFETY: Plain system call.
        check(unsafe { syncfs(fd) })
    }

    pub fn truncate_path(path: &Path, len: u64) -> io::Result<()> {
        let c = cstr(path);
        // SAFETY: A NUL-terminated path.
        check(unsafe { truncate(c.as_ptr(), len as i64) })
    }

    pub fn rename2(old: &Path, new: &Path, flags: c_uint) -> io::Result<()> {
        let (o, n) = (cstr(old), cstr(new));
        // SAFETY: renameat2 with two NUL-terminated paths.
        let r = unsafe {
            syscall(
                SYS_RENAMEAT2,
                AT_FDCWD as c_long,
                o.as_ptr(),
                AT_FDCWD as c_long,
                n.as_ptr(),
                flags as c_long,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub fn mount_raw(
        src: Option<&str>,
        dir: &str,
        fstype: Option<&str>,
        flags: c_ulong,
        data: Option<&str>,
    ) -> io::Result<()> {
        let c = |s: Option<&str>| s.map(|s| CString::new(s).expect("no NUL"));
        let (s, d, t, x) = (
            c(src),
            CString::new(dir).expect("no NUL"),
            c(fstype),
            c(data),
        );
        let p = |o: &Option<CString>| o.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: NUL-terminated strings or null pointers, as mount(2) allows.
        check(unsafe { mount(p(&s), d.as_ptr(), p(&t), flags, p(&x).cast()) })
    }

    /// Drops to the given ids and runs `argv` (returns only on failure).
    pub fn exec_as(uid: u32, gid: u32, groups: &[u32], argv: &[String]) -> io::Error {
        // SAFETY: Plain system calls with valid pointers.
        unsafe {
            if setgroups(groups.len(), groups.as_ptr()) != 0
                || setresgid(gid, gid, gid) != 0
                || setresuid(uid, uid, uid) != 0
            {
                return io::Error::last_os_error();
            }
        }
        let cs: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).expect("no NUL"))
            .collect();
        let mut ptrs: Vec<*const c_char> = cs.iter().map(|c| c.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: A NUL-terminated argv of NUL-terminated strings.
        unsafe { execvp(ptrs[0], ptrs.as_ptr()) };
        io::Error::last_os_error()
    }

    /// How a child ended.
    pub enum Ended {
        Exited(#[allow(dead_code)] c_int),
        Signaled(c_int),
    }

    /// Runs `child` in a forked child process (which exits with its return value).
    pub fn in_child(child: impl FnOnce() -> i32) -> io::Result<Ended> {
        // SAFETY: Single-threaded callers only; the child runs `child` and exits.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = child();
            // SAFETY: Leaving the child without running the parent's destructors.
            unsafe { _exit(code) };
        }
        let mut status: c_int = 0;
        // SAFETY: `status` is a valid out-pointer.
        if unsafe { waitpid(pid, &mut status, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if status & 0x7f == 0 {
            Ok(Ended::Exited((status >> 8) & 0xff))
        } else {
            Ok(Ended::Signaled(status & 0x7f))
        }
    }

    /// Mappings whose SIGBUS is expected (a page past a concurrent truncation): slots of
    /// (start, length), one per thread that maps.
    pub static BUS_RANGES: [(AtomicUsize, AtomicUsize); 8] =
        [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; 8];
    pub static BUS_COUNT: AtomicUsize = AtomicUsize::new(0);

    /// On a SIGBUS inside a registered range, put an anonymous page over the faulting page
    /// (so the access completes, reading zeros) and count it; elsewhere, die of it.
    extern "C" fn on_sigbus(_sig: c_int, info: *mut u8, _ctx: *mut c_void) {
        // SAFETY: The kernel passes a siginfo_t; si_addr is at byte 16 on x86-64.
        let addr = unsafe { std::ptr::read_unaligned(info.add(16).cast::<usize>()) };
        for (s, l) in BUS_RANGES.iter() {
            let (s, l) = (s.load(Ordering::SeqCst), l.load(Ordering::SeqCst));
            if l != 0 && addr >= s && addr < s + l {
                let page = addr & !4095;
                // SAFETY: Replaces one page of a mapping that this thread registered and
                // still holds; the access then completes on anonymous memory.
                unsafe {
                    mmap(
                        page as *mut c_void,
                        4096,
                        PROT_READ | PROT_WRITE,
                        MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                BUS_COUNT.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        let dfl = SigAction {
            handler: 0,
            mask: [0; 16],
            flags: 0,
            restorer: 0,
        };
        // SAFETY: Back to the default action: the access faults again and kills.
        unsafe { sigaction(SIGBUS, &dfl, std::ptr::null_mut()) };
    }

    pub fn catch_sigbus() {
        let act = SigAction {
            handler: on_sigbus as *const () as usize,
            mask: [0; 16],
            flags: SA_SIGINFO,
            restorer: 0,
        };
        // SAFETY: Installs a handler that only uses async-signal-safe operations.
        unsafe { sigaction(SIGBUS, &act, std::ptr::null_mut()) };
    }
}

/// A mapping, unmapped when dropped; registered for expected SIGBUS if `slot` is set.
struct Map {
    addr: *mut u8,
    len: usize,
    slot: Option<usize>,
}

// SAFETY: The mapping is plain memory; threads only touch their own.
unsafe impl Send for Map {}

impl Map {
    fn new(f: &File, off: u64, len: usize, prot: c_int, flags: c_int) -> io::Result<Map> {
        let addr = sys::map(f.as_raw_fd(), off, len, prot, flags)?;
        Ok(Map {
            addr,
            len,
            slot: None,
        })
    }
    fn guarded(f: &File, off: u64, len: usize, prot: c_int, slot: usize) -> io::Result<Map> {
        let mut m = Map::new(f, off, len, prot, sys::MAP_SHARED)?;
        sys::BUS_RANGES[slot]
            .0
            .store(m.addr as usize, Ordering::SeqCst);
        sys::BUS_RANGES[slot].1.store(m.len, Ordering::SeqCst);
        m.slot = Some(slot);
        Ok(m)
    }
    fn get(&self, i: usize) -> u8 {
        assert!(i < self.len);
        // SAFETY: Inside the mapping (asserted).
        unsafe { std::ptr::read_volatile(self.addr.add(i)) }
    }
    fn set(&self, i: usize, v: u8) {
        assert!(i < self.len);
        // SAFETY: Inside the mapping (asserted), which the caller mapped writable.
        unsafe { std::ptr::write_volatile(self.addr.add(i), v) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if let Some(s) = self.slot {
            sys::BUS_RANGES[s].1.store(0, Ordering::SeqCst);
        }
        // SAFETY: Our own mapping, no longer used.
        unsafe { sys::unmap(self.addr, self.len) };
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

type Res = Result<(), String>;
const PAGE: u64 = 4096;
const POISON: u8 = 0xa5;

fn errno_name(e: &io::Error) -> String {
    let n = match e.raw_os_error() {
        Some(n) => n,
        None => return format!("{e}"),
    };
    let s = match n {
        1 => "EPERM",
        2 => "ENOENT",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        30 => "EROFS",
        31 => "EMLINK",
        34 => "ERANGE",
        36 => "ENAMETOOLONG",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        75 => "EOVERFLOW",
        95 => "EOPNOTSUPP",
        117 => "EUCLEAN",
        122 => "EDQUOT",
        _ => return format!("errno {n}"),
    };
    s.to_string()
}

fn outcome<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e),
    }
}

/// Checks an outcome against `--expect` (default `ok`), printing it.
fn expect<T>(r: io::Result<T>, expect: &str, what: &str) -> Res {
    let got = outcome(&r);
    if expect
        .split('|')
        .any(|e| e == got || (e == "fail" && got != "ok"))
    {
        println!("xiprw: {what}: {got}");
        Ok(())
    } else {
        let detail = match &r {
            Err(e) => format!(" ({e})"),
            Ok(_) => String::new(),
        };
        Err(format!("{what}: {got}{detail}, expected {expect}"))
    }
}

fn num(s: &str) -> Result<u64, String> {
    let r = if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16)
    } else if let Some(m) = s.strip_suffix('M') {
        m.parse::<u64>().map(|v| v << 20)
    } else if let Some(k) = s.strip_suffix('K') {
        k.parse::<u64>().map(|v| v << 10)
    } else if let Some(g) = s.strip_suffix('G') {
        g.parse::<u64>().map(|v| v << 30)
    } else {
        s.parse()
    };
    r.map_err(|_| format!("not a number: {s}"))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fix(b: u8) -> u8 {
    match b {
        0 => 1,
        POISON => POISON + 1,
        b => b,
    }
}

/// Byte `o` of pattern `tag`: depends on the offset (a block written in the wrong place
/// does not match), never 0 (a lost write does not pass for a hole) nor the poison.
fn pat(tag: u64, o: u64) -> u8 {
    fix((splitmix((o >> 3) ^ tag.wrapping_mul(0x2545_f491_4f6c_dd1d)) >> ((o & 7) * 8)) as u8)
}

fn fill_pat(tag: u64, off: u64, buf: &mut [u8]) {
    let mut w = 0u64;
    for (i, b) in buf.iter_mut().enumerate() {
        let o = off + i as u64;
        if i == 0 || o & 7 == 0 {
            w = splitmix((o >> 3) ^ tag.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
        *b = fix((w >> ((o & 7) * 8)) as u8);
    }
}

/// What a range must hold.
#[derive(Clone, Copy)]
enum Want {
    Pat { tag: u64, shift: i64 },
    Byte(u8),
}

impl Want {
    fn parse(s: &str, shift: i64) -> Result<Want, String> {
        if s == "zero" {
            Ok(Want::Byte(0))
        } else if let Some(b) = s.strip_prefix("byte:") {
            Ok(Want::Byte(num(b)? as u8))
        } else {
            Ok(Want::Pat {
                tag: num(s)?,
                shift,
            })
        }
    }
    fn fill(&self, off: u64, buf: &mut [u8]) {
        match *self {
            Want::Pat { tag, shift } => fill_pat(tag, (off as i64 + shift) as u64, buf),
            Want::Byte(b) => buf.fill(b),
        }
    }
}

/// Compares `got` (bytes at `off`) with `want`; describes the first difference.
fn compare(want: Want, off: u64, got: &[u8], what: &str) -> Res {
    let mut exp = vec![0u8; got.len()];
    want.fill(off, &mut exp);
    if let Some(i) = got.iter().zip(&exp).position(|(a, b)| a != b) {
        let bad = got.iter().zip(&exp).filter(|(a, b)| a != b).count();
        let poison = got
            .iter()
            .zip(&exp)
            .filter(|(a, b)| a != b && **a == POISON)
            .count();
        return Err(format!(
            "{what}: byte {:#x} is {:#04x}, expected {:#04x} ({bad} of {} bytes differ{})",
            off + i as u64,
            got[i],
            exp[i],
            got.len(),
            if poison > 0 {
                format!(", {poison} of them hold the poison {POISON:#04x} of freed blocks")
            } else {
                String::new()
            }
        ));
    }
    Ok(())
}

/// A buffer aligned for O_DIRECT.
struct Aligned {
    v: Vec<u8>,
    at: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let v = vec![0u8; len + 4096];
        let at = (4096 - (v.as_ptr() as usize % 4096)) % 4096;
        Aligned { v, at, len }
    }
    fn buf(&mut self) -> &mut [u8] {
        &mut self.v[self.at..self.at + self.len]
    }
}

fn open_rw(path: &Path, create: bool, flags: c_int) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))
}

fn open_ro(path: &Path, flags: c_int) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))
}

fn fsize(f: &File) -> Result<u64, String> {
    f.metadata()
        .map(|m| m.len())
        .map_err(|e| format!("fstat: {e}"))
}

fn fblocks(f: &File) -> Result<u64, String> {
    f.metadata()
        .map(|m| m.blocks())
        .map_err(|e| format!("fstat: {e}"))
}

/// Command-line arguments: positionals and `--flag [value]` options.
struct Args {
    pos: Vec<String>,
    opts: HashMap<String, String>,
}

const VALUE_OPTS: &[&str] = &[
    "--expect",
    "--how",
    "--chunk",
    "--then",
    "--from",
    "--tag",
    "--byte",
    "--iters",
    "--seed",
    "--workers",
    "--ops",
    "--seconds",
    "--blocks",
    "--min-blocks",
    "--link",
];

impl Args {
    fn parse(v: &[String]) -> Result<Args, String> {
        let mut pos = Vec::new();
        let mut opts = HashMap::new();
        let mut it = v.iter();
        while let Some(a) = it.next() {
            if a.starts_with("--") {
                if VALUE_OPTS.contains(&a.as_str()) {
                    let val = it.next().ok_or(format!("{a} needs a value"))?;
                    opts.insert(a.clone(), val.clone());
                } else {
                    opts.insert(a.clone(), String::new());
                }
            } else {
                pos.push(a.clone());
            }
        }
        Ok(Args { pos, opts })
    }
    fn p(&self, i: usize) -> Result<&str, String> {
        self.pos
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| "missing argument".to_string())
    }
    fn n(&self, i: usize) -> Result<u64, String> {
        num(self.p(i)?)
    }
    fn path(&self, i: usize) -> Result<PathBuf, String> {
        Ok(PathBuf::from(self.p(i)?))
    }
    fn has(&self, k: &str) -> bool {
        self.opts.contains_key(k)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }
    fn num_or(&self, k: &str, d: u64) -> Result<u64, String> {
        self.get(k).map_or(Ok(d), num)
    }
    fn expect(&self) -> &str {
        self.get("--expect").unwrap_or("ok")
    }
}

/// xorshift64*: the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }
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

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

fn cmd_write(a: &Args) -> Res {
    let (path, off, len, tag) = (a.path(0)?, a.n(1)?, a.n(2)?, a.n(3)?);
    let how = a.get("--how").unwrap_or("pwrite");
    let chunk = a.num_or("--chunk", 64 << 10)?.max(1);
    let mut flags = 0;
    if a.has("--sync") {
        flags |= sys::O_SYNC;
    }
    if a.has("--dsync") {
        flags |= sys::O_DSYNC;
    }
    if how == "direct" {
        flags |= sys::O_DIRECT;
        if off % PAGE != 0 || len % PAGE != 0 || chunk % PAGE != 0 {
            return Err("--how direct needs OFF, LEN and --chunk multiples of 4096".into());
        }
    }
    let mut oo = OpenOptions::new();
    oo.read(true).create(true).custom_flags(flags);
    if how == "append" {
        oo.append(true);
    } else {
        oo.write(true);
    }
    let exp = a.get("--expect");
    let mut f = match oo.open(&path) {
        Ok(f) => f,
        Err(e) => {
            return expect(
                Err::<(), _>(e),
                exp.unwrap_or("ok"),
                &format!("open {}", path.display()),
            )
        }
    };
    let fd = f.as_raw_fd();
    if how == "append" {
        let s = fsize(&f)?;
        if s != off {
            return Err(format!(
                "O_APPEND: {} is {s} bytes long, the test expected {off}",
                path.display()
            ));
        }
    }
    if how == "write" || how == "writev" {
        sys::seek_set(fd, off).map_err(|e| format!("lseek: {e}"))?;
    }
    let mut buf = Aligned::new(chunk as usize);
    let mut done = 0u64;
    while done < len {
        let n = chunk.min(len - done) as usize;
        let at = off + done;
        let b = &mut buf.buf()[..n];
        fill_pat(tag, at, b);
        let r = match how {
            "write" => f.write(b),
            "pwrite" | "direct" => f.write_at(b, at),
            "writev" => {
                let (x, rest) = b.split_at(n / 3);
                let (y, z) = rest.split_at(rest.len() / 2);
                sys::writev_fd(fd, &[x, y, z])
            }
            "append" => {
                // O_APPEND writes at the end whatever the file position.
                sys::seek_set(fd, 0).map_err(|e| format!("lseek: {e}"))?;
                f.write(b)
            }
            _ => return Err(format!("unknown --how {how}")),
        };
        match r {
            Ok(0) => return Err(format!("{how} at {at:#x}: wrote nothing")),
            Ok(k) => {
                if how == "writev" && k < n {
                    sys::seek_set(fd, at + k as u64).map_err(|e| format!("lseek: {e}"))?;
                }
                done += k as u64;
            }
            Err(e) => {
                let what = format!(
                    "{how} {n} bytes at {at:#x} of {} after {done} bytes",
                    path.display()
                );
                return match exp {
                    Some(x) => expect(Err::<(), _>(e), x, &what),
                    None => Err(format!("{what}: {} ({e})", errno_name(&e))),
                };
            }
        }
    }
    if let Some(x) = exp {
        if x != "ok" {
            return Err(format!(
                "wrote all {len} bytes at {off} to {}, expected {x}",
                path.display()
            ));
        }
    }
    match a.get("--then") {
        None => {}
        Some("fsync") => f.sync_all().map_err(|e| format!("fsync: {e}"))?,
        Some("fdatasync") => f.sync_data().map_err(|e| format!("fdatasync: {e}"))?,
        Some("syncfs") => sys::syncfs_fd(fd).map_err(|e| format!("syncfs: {e}"))?,
        Some(o) => return Err(format!("unknown --then {o}")),
    }
    if how == "append" {
        let s = fsize(&f)?;
        if s != off + len {
            return Err(format!(
                "O_APPEND: the file is {s} bytes long after appending {len} to {off}"
            ));
        }
    }
    println!(
        "xiprw: wrote {len} bytes of pattern {tag} at {off} to {} ({how}{})",
        path.display(),
        if flags & sys::O_SYNC == sys::O_SYNC {
            ", O_SYNC"
        } else if flags & sys::O_DSYNC != 0 {
            ", O_DSYNC"
        } else {
            ""
        }
    );
    Ok(())
}

fn cmd_check(a: &Args) -> Res {
    let (path, off, len) = (a.path(0)?, a.n(1)?, a.n(2)?);
    let shift = match a.get("--from") {
        Some(s) => num(s)? as i64 - off as i64,
        None => 0,
    };
    let want = Want::parse(a.p(3)?, shift)?;
    let what = format!("{} [{off:#x}, {:#x})", path.display(), off + len);
    if a.has("--mmap") {
        let f = open_ro(&path, 0)?;
        let size = fsize(&f)?;
        if off + len > size {
            return Err(format!("{what}: the file ends at {size:#x}"));
        }
        if len == 0 {
            return Ok(());
        }
        let start = off / PAGE * PAGE;
        let mlen = ((off + len).div_ceil(PAGE) * PAGE - start) as usize;
        let m = Map::new(&f, start, mlen, sys::PROT_READ, sys::MAP_SHARED)
            .map_err(|e| format!("mmap {what}: {e}"))?;
        let got: Vec<u8> = (0..len as usize)
            .map(|i| m.get((off - start) as usize + i))
            .collect();
        compare(want, off, &got, &format!("{what} (mapped)"))?;
    } else {
        let direct = a.has("--direct");
        let f = open_ro(&path, if direct { sys::O_DIRECT } else { 0 })?;
        let chunk = 1u64 << 20;
        let mut buf = Aligned::new(chunk as usize);
        let mut done = 0;
        while done < len {
            let at = off + done;
            // O_DIRECT reads whole aligned blocks around the range.
            let (rd_at, skip) = if direct {
                (at / PAGE * PAGE, (at % PAGE) as usize)
            } else {
                (at, 0)
            };
            let want_n = chunk.min(len - done) as usize;
            let rd_n = if direct {
                (skip + want_n).div_ceil(PAGE as usize) * PAGE as usize
            } else {
                want_n
            };
            let rd_n = rd_n.min(chunk as usize);
            let b = &mut buf.buf()[..rd_n];
            let n = f
                .read_at(b, rd_at)
                .map_err(|e| format!("read {what} at {rd_at:#x}: {e}"))?;
            if n <= skip {
                return Err(format!("{what}: the file ends at {:#x}", rd_at + n as u64));
            }
            let n = (n - skip).min(want_n);
            compare(
                want,
                at,
                &b[skip..skip + n],
                &format!("{what}{}", if direct { " (O_DIRECT)" } else { "" }),
            )?;
            done += n as u64;
        }
    }
    println!("xiprw: {what} holds what it should");
    Ok(())
}

fn cmd_fill(a: &Args) -> Res {
    let path = a.path(0)?;
    let want = match (a.get("--tag"), a.get("--byte")) {
        (Some(t), _) => Want::Pat {
            tag: num(t)?,
            shift: 0,
        },
        (None, Some(b)) => Want::Byte(num(b)? as u8),
        (None, None) => Want::Pat { tag: 1, shift: 0 },
    };
    let chunk = a.num_or("--chunk", 64 << 10)? as usize;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut buf = vec![0u8; chunk];
    let mut pos = 0u64;
    loop {
        want.fill(pos, &mut buf);
        match f.write_at(&buf, pos) {
            Ok(0) => return Err(format!("write at {pos}: wrote nothing, no error")),
            Ok(n) => pos += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => {
                return Err(format!(
                    "write at {pos}: {} ({e}), expected ENOSPC when full",
                    errno_name(&e)
                ))
            }
        }
    }
    println!(
        "xiprw: filled {} with {pos} bytes, then ENOSPC",
        path.display()
    );
    let size = fsize(&f)?;
    if size != pos {
        return Err(format!(
            "{}: {size} bytes long after writing {pos}",
            path.display()
        ));
    }
    // Still full: the next write at the end (a new block) gets ENOSPC again.
    if pos % PAGE == 0 {
        let r = f.write_at(&buf[..1], pos);
        if outcome(&r) != "ENOSPC" {
            return Err(format!(
                "a write at the end after ENOSPC: {}, expected ENOSPC",
                outcome(&r)
            ));
        }
        let size = fsize(&f)?;
        if size != pos {
            return Err(format!(
                "the file is {size} bytes long after a failed write at {pos}"
            ));
        }
    }
    if !a.has("--no-verify") {
        let mut done = 0u64;
        let mut rb = vec![0u8; 1 << 20];
        while done < pos {
            let n = ((pos - done) as usize).min(rb.len());
            f.read_exact_at(&mut rb[..n], done)
                .map_err(|e| format!("read back at {done}: {e}"))?;
            compare(
                want,
                done,
                &rb[..n],
                &format!("{} after ENOSPC", path.display()),
            )?;
            done += n as u64;
        }
        println!("xiprw: all {pos} bytes read back as written");
    }
    Ok(())
}

fn cmd_fill_inodes(a: &Args) -> Res {
    let (dir, prefix) = (a.path(0)?, a.p(1)?);
    let mut n = 0u64;
    loop {
        let p = dir.join(format!("{prefix}-{n}"));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(_) => n += 1,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => {
                return Err(format!(
                    "create {}: {} ({e}), expected ENOSPC when out of inodes",
                    p.display(),
                    errno_name(&e)
                ))
            }
        }
    }
    for i in 0..n {
        let p = dir.join(format!("{prefix}-{i}"));
        let m = fs::symlink_metadata(&p)
            .map_err(|e| format!("{} is gone after ENOSPC: {e}", p.display()))?;
        if !m.is_file() || m.len() != 0 {
            return Err(format!("{}: not an empty file after ENOSPC", p.display()));
        }
    }
    println!("xiprw: created {n} files in {}, then ENOSPC", dir.display());
    Ok(())
}

fn cmd_truncate(a: &Args) -> Res {
    let (path, size) = (a.path(0)?, a.n(1)?);
    let r = if a.has("--path") {
        sys::truncate_path(&path, size)
    } else {
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(size))
    };
    expect(
        r,
        a.expect(),
        &format!("truncate {} to {size}", path.display()),
    )
}

fn cmd_fallocate(a: &Args) -> Res {
    let path = a.path(0)?;
    let mode = match a.p(1)? {
        "0" => 0,
        "keep" => sys::FALLOC_FL_KEEP_SIZE,
        "punch" => sys::FALLOC_FL_PUNCH_HOLE | sys::FALLOC_FL_KEEP_SIZE,
        m if m.starts_with("0x") => num(m)? as c_int,
        m => return Err(format!("unknown mode {m}")),
    };
    let punch = mode & sys::FALLOC_FL_PUNCH_HOLE != 0;
    let (off, len) = (a.n(2)?, a.n(3)?);
    let f = open_rw(&path, true, 0)?;
    let (s0, b0) = (fsize(&f)?, fblocks(&f)?);
    // --mapped: the file around the range (64 KiB either side, within the size) mapped
    // shared and every byte read before the call; after it, the old mapping must show what
    // read() shows (zeros in a punched hole, the rest as it was): a page left mapped over a
    // freed block would show its old data.
    let win_start = off.saturating_sub(65536) / PAGE * PAGE;
    let win_end = off.saturating_add(len).saturating_add(65536).min(s0);
    let before = if a.has("--mapped") && win_start < win_end {
        let mlen = win_end.div_ceil(PAGE) * PAGE - win_start;
        let m = Map::new(&f, win_start, mlen as usize, sys::PROT_READ, sys::MAP_SHARED)
            .map_err(|e| format!("mmap {}: {e}", path.display()))?;
        let old: Vec<u8> = (0..(win_end - win_start) as usize).map(|i| m.get(i)).collect();
        Some((m, old))
    } else {
        None
    };
    let r = sys::fallocate_fd(f.as_raw_fd(), mode, off, len);
    let ok = r.is_ok();
    expect(
        r,
        a.expect(),
        &format!(
            "fallocate {} mode {} [{off}, {})",
            path.display(),
            a.p(1)?,
            off + len
        ),
    )?;
    let (s1, b1) = (fsize(&f)?, fblocks(&f)?);
    println!("xiprw: size {s0} -> {s1}, st_blocks {b0} -> {b1} (file still open)");
    if ok {
        if punch && s1 != s0 {
            return Err(format!("punching a hole changed the size from {s0} to {s1}"));
        }
        if let Some(b) = a.get("--blocks") {
            if b1 != num(b)? {
                return Err(format!("st_blocks {b1} after fallocate, expected {b}"));
            }
        }
        if let Some(b) = a.get("--min-blocks") {
            if b1 < num(b)? {
                return Err(format!(
                    "st_blocks {b1} after fallocate, expected at least {b}"
                ));
            }
        }
    }
    if let Some((m, old)) = before {
        let hole = if ok && punch { off..off.saturating_add(len) } else { 0..0 };
        let mut now = vec![0u8; old.len()];
        f.read_exact_at(&mut now, win_start)
            .map_err(|e| format!("read {}: {e}", path.display()))?;
        for (i, &b) in now.iter().enumerate() {
            let at = win_start + i as u64;
            let want = if hole.contains(&at) { 0 } else { old[i] };
            if b != want {
                return Err(format!("read() after fallocate: byte {at:#x} is {b:#04x}, expected {want:#04x}"));
            }
            let g = m.get(i);
            if g != want {
                return Err(format!(
                    "the mapping made before fallocate: byte {at:#x} is {g:#04x}, expected {want:#04x}"
                ));
            }
        }
        println!("xiprw: a mapping made before it and read() agree: {} punched", if hole.is_empty() { "nothing" } else { "the range" });
    }
    Ok(())
}

fn cmd_copy(a: &Args) -> Res {
    let (pin, oin, pout, oout, len) = (a.path(0)?, a.n(1)?, a.path(2)?, a.n(3)?, a.n(4)?);
    let fin = open_ro(&pin, 0)?;
    let fout = open_rw(&pout, true, 0)?;
    let (mut i, mut o) = (oin as i64, oout as i64);
    let mut done = 0u64;
    while done < len {
        let n = sys::copy_range(
            fin.as_raw_fd(),
            &mut i,
            fout.as_raw_fd(),
            &mut o,
            (len - done) as usize,
        )
        .map_err(|e| format!("copy_file_range: {} ({e})", errno_name(&e)))?;
        if n == 0 {
            return Err(format!(
                "copy_file_range: end of {} after {done} of {len} bytes",
                pin.display()
            ));
        }
        done += n as u64;
    }
    if i as u64 != oin + len || o as u64 != oout + len {
        return Err(format!("copy_file_range left the offsets at {i} and {o}"));
    }
    println!(
        "xiprw: copied {len} bytes from {}@{oin} to {}@{oout} with copy_file_range",
        pin.display(),
        pout.display()
    );
    Ok(())
}

fn cmd_splice_in(a: &Args) -> Res {
    let (path, off, len, tag) = (a.path(0)?, a.n(1)?, a.n(2)?, a.n(3)?);
    let f = open_rw(&path, true, 0)?;
    let (r, mut w) = sys::make_pipe().map_err(|e| format!("pipe: {e}"))?;
    let feeder = std::thread::spawn(move || -> io::Result<()> {
        let mut done = 0u64;
        let mut buf = vec![0u8; 16384];
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            fill_pat(tag, off + done, &mut buf[..n]);
            w.write_all(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    });
    let mut o = off as i64;
    let mut done = 0u64;
    while done < len {
        let n = sys::splice_fd(
            r.as_raw_fd(),
            None,
            f.as_raw_fd(),
            Some(&mut o),
            (len - done) as usize,
        )
        .map_err(|e| {
            format!(
                "splice from a pipe into {}: {} ({e})",
                path.display(),
                errno_name(&e)
            )
        })?;
        if n == 0 {
            return Err("splice: the pipe ended early".into());
        }
        done += n as u64;
    }
    feeder
        .join()
        .map_err(|_| "feeder panicked".to_string())?
        .map_err(|e| format!("pipe write: {e}"))?;
    println!(
        "xiprw: spliced {len} bytes of pattern {tag} from a pipe into {}@{off}",
        path.display()
    );
    Ok(())
}

fn cmd_splice_out(a: &Args) -> Res {
    let (path, off, len, tag) = (a.path(0)?, a.n(1)?, a.n(2)?, a.n(3)?);
    let f = open_ro(&path, 0)?;
    let (mut r, w) = sys::make_pipe().map_err(|e| format!("pipe: {e}"))?;
    let reader = std::thread::spawn(move || -> Result<u64, String> {
        let mut got = 0u64;
        let mut buf = vec![0u8; 16384];
        loop {
            let n = r.read(&mut buf).map_err(|e| format!("pipe read: {e}"))?;
            if n == 0 {
                return Ok(got);
            }
            compare(
                Want::Pat { tag, shift: 0 },
                off + got,
                &buf[..n],
                "spliced out of the file",
            )?;
            got += n as u64;
        }
    });
    let mut o = off as i64;
    let mut done = 0u64;
    let mut err = None;
    while done < len {
        match sys::splice_fd(
            f.as_raw_fd(),
            Some(&mut o),
            w.as_raw_fd(),
            None,
            (len - done) as usize,
        ) {
            Ok(0) => {
                err = Some(format!("splice: end of file after {done} of {len} bytes"));
                break;
            }
            Ok(n) => done += n as u64,
            Err(e) => {
                err = Some(format!(
                    "splice out of {}: {} ({e})",
                    path.display(),
                    errno_name(&e)
                ));
                break;
            }
        }
    }
    drop(w);
    let got = reader.join().map_err(|_| "reader panicked".to_string())??;
    if let Some(e) = err {
        return Err(e);
    }
    if got != len {
        return Err(format!("the pipe held {got} bytes, {len} were spliced"));
    }
    println!(
        "xiprw: spliced {len} bytes out of {}@{off} into a pipe: pattern {tag}",
        path.display()
    );
    Ok(())
}

fn cmd_sync(a: &Args) -> Res {
    let path = a.path(0)?;
    let f = open_ro(&path, 0)?;
    let r = match a.p(1)? {
        "fsync" => f.sync_all(),
        "fdatasync" => f.sync_data(),
        "syncfs" => sys::syncfs_fd(f.as_raw_fd()),
        o => return Err(format!("unknown sync {o}")),
    };
    expect(r, a.expect(), &format!("{} {}", a.p(1)?, path.display()))
}

// ---------------------------------------------------------------------------
// Mappings
// ---------------------------------------------------------------------------

fn cmd_map_write(a: &Args) -> Res {
    let (path, off, len, tag) = (a.path(0)?, a.n(1)?, a.n(2)?, a.n(3)?);
    let f = open_rw(&path, false, 0)?;
    let size = fsize(&f)?;
    if off + len > size {
        return Err(format!(
            "{}: {size} bytes, cannot store up to {}",
            path.display(),
            off + len
        ));
    }
    let start = off / PAGE * PAGE;
    let mlen = ((off + len).div_ceil(PAGE) * PAGE - start) as usize;
    let rw = sys::PROT_READ | sys::PROT_WRITE;
    let m = Map::new(&f, start, mlen, rw, sys::MAP_SHARED)
        .map_err(|e| format!("mmap(MAP_SHARED, PROT_WRITE): {e}"))?;
    let mut data = vec![0u8; len as usize];
    fill_pat(tag, off, &mut data);
    let at = (off - start) as usize;
    for (i, &b) in data.iter().enumerate() {
        m.set(at + i, b);
    }
    // Visible to read() at once, with no msync, and to another mapping.
    let mut got = vec![0u8; len as usize];
    f.read_exact_at(&mut got, off)
        .map_err(|e| format!("pread after the stores: {e}"))?;
    compare(
        Want::Pat { tag, shift: 0 },
        off,
        &got,
        "read() right after stores through the mapping",
    )?;
    let m2 = Map::new(&f, start, mlen, sys::PROT_READ, sys::MAP_SHARED)
        .map_err(|e| format!("second mmap: {e}"))?;
    let got2: Vec<u8> = (0..len as usize).map(|i| m2.get(at + i)).collect();
    compare(
        Want::Pat { tag, shift: 0 },
        off,
        &got2,
        "a second shared mapping",
    )?;
    if a.has("--msync") {
        sys::sync_map(m.addr, m.len).map_err(|e| format!("msync: {e}"))?;
    }
    drop(m2);
    drop(m);
    println!("xiprw: stored {len} bytes of pattern {tag} at {off} through MAP_SHARED; read() saw them at once{}",
        if a.has("--msync") { "; msync ok" } else { "" });
    Ok(())
}

fn cmd_map_hole(a: &Args) -> Res {
    let (path, page, other) = (a.path(0)?, a.n(1)?, a.path(2)?);
    let tag = a.num_or("--tag", 77)?;
    let f = open_rw(&path, false, 0)?;
    let size = fsize(&f)?;
    if (page + 1) * PAGE > size {
        return Err(format!(
            "{}: page {page} is past the end ({size})",
            path.display()
        ));
    }
    let fo = open_ro(&other, 0)?;
    let b0 = fblocks(&f)?;
    let ob0 = fblocks(&fo)?;
    let mlen = ((page + 1) * PAGE) as usize;
    let m = Map::new(
        &f,
        0,
        mlen,
        sys::PROT_READ | sys::PROT_WRITE,
        sys::MAP_SHARED,
    )
    .map_err(|e| format!("mmap(MAP_SHARED, PROT_WRITE): {e}"))?;
    let mo = Map::new(&fo, 0, PAGE as usize, sys::PROT_READ, sys::MAP_SHARED)
        .map_err(|e| format!("mmap {}: {e}", other.display()))?;
    let base = (page * PAGE) as usize;
    // Read faults on the holes: zeros.
    for i in 0..PAGE as usize {
        if m.get(base + i) != 0 {
            return Err(format!(
                "a read fault on the hole at page {page} sees {:#04x} at byte {i}",
                m.get(base + i)
            ));
        }
        if mo.get(i) != 0 {
            return Err(format!(
                "{}: a read fault on its hole sees {:#04x} at byte {i}",
                other.display(),
                mo.get(i)
            ));
        }
    }
    // Stores into the page: the first 100 bytes and the last one.
    let stored: Vec<usize> = (0..100).chain([PAGE as usize - 1]).collect();
    for &i in &stored {
        m.set(base + i, pat(tag, page * PAGE + i as u64));
    }
    let b1 = fblocks(&f)?;
    let mut got = vec![0u8; PAGE as usize];
    f.read_exact_at(&mut got, page * PAGE)
        .map_err(|e| format!("pread: {e}"))?;
    for i in 0..PAGE as usize {
        let want = if stored.contains(&i) {
            pat(tag, page * PAGE + i as u64)
        } else {
            0
        };
        if got[i] != want || m.get(base + i) != want {
            return Err(format!(
                "page {page} after the stores: byte {i} reads {:#04x} through read() and {:#04x} through the mapping, expected {want:#04x}{}",
                got[i], m.get(base + i), if got[i] == POISON { " (the poison of a freed block: not zeroed)" } else { "" }));
        }
    }
    if b1 < b0 + 8 {
        return Err(format!(
            "st_blocks {b0} -> {b1} after a write fault on a hole: no block allocated"
        ));
    }
    if page < 12 && b1 != b0 + 8 {
        return Err(format!(
            "st_blocks {b0} -> {b1} after a write fault on one direct block, expected +8"
        ));
    }
    // The zero page was not written: the other file's hole, mapped before and again now.
    let mo2 = Map::new(&fo, 0, PAGE as usize, sys::PROT_READ, sys::MAP_SHARED)
        .map_err(|e| format!("mmap: {e}"))?;
    let mut og = vec![0u8; PAGE as usize];
    fo.read_exact_at(&mut og, 0)
        .map_err(|e| format!("pread {}: {e}", other.display()))?;
    for i in 0..PAGE as usize {
        if mo.get(i) != 0 || mo2.get(i) != 0 || og[i] != 0 {
            return Err(format!("{}: its hole reads {:#04x}/{:#04x}/{:#04x} at byte {i} after stores to another file's hole: the zero page was written",
                other.display(), mo.get(i), mo2.get(i), og[i]));
        }
    }
    // Every other page of the file (all hole before) still reads zeros. (Through read()
    // only: read faults on holes may allocate blocks, the zero page is only allowed.)
    let mut pg = vec![0u8; PAGE as usize];
    for p in 0..size / PAGE {
        if p == page {
            continue;
        }
        f.read_exact_at(&mut pg, p * PAGE)
            .map_err(|e| format!("pread: {e}"))?;
        if let Some(i) = pg.iter().position(|&b| b != 0) {
            return Err(format!(
                "page {p} (a hole) reads {:#04x} at byte {i} after stores to page {page}",
                pg[i]
            ));
        }
    }
    let ob1 = fblocks(&fo)?;
    drop(mo2);
    drop(mo);
    drop(m);
    println!("xiprw: a write fault on the hole at page {page} of {} allocated a zeroed block (st_blocks {b0} -> {b1}); read() saw the stores at once; the zero page is untouched ({} st_blocks {ob0} -> {ob1} after read faults)",
        path.display(), other.display());
    Ok(())
}

fn cmd_map_private(a: &Args) -> Res {
    let path = a.path(0)?;
    let f = open_rw(&path, false, 0)?;
    let size = fsize(&f)?;
    if size < 2 * PAGE {
        return Err("the file needs two pages".into());
    }
    let mut before = vec![0u8; (2 * PAGE) as usize];
    f.read_exact_at(&mut before, 0)
        .map_err(|e| format!("pread: {e}"))?;
    let b0 = fblocks(&f)?;
    let p = Map::new(
        &f,
        0,
        (2 * PAGE) as usize,
        sys::PROT_READ | sys::PROT_WRITE,
        sys::MAP_PRIVATE,
    )
    .map_err(|e| format!("mmap(MAP_PRIVATE, PROT_WRITE): {e}"))?;
    let s = Map::new(&f, 0, (2 * PAGE) as usize, sys::PROT_READ, sys::MAP_SHARED)
        .map_err(|e| format!("mmap shared: {e}"))?;
    // Read first (the pages are the file's), then store into both pages.
    for i in [0usize, 4095, 4096, 8191] {
        if p.get(i) != before[i] {
            return Err(format!(
                "private mapping byte {i} is {:#04x} before any store, the file {:#04x}",
                p.get(i),
                before[i]
            ));
        }
    }
    for i in (0..(2 * PAGE) as usize).step_by(7) {
        p.set(i, before[i] ^ 0x5a);
    }
    let mut after = vec![0u8; (2 * PAGE) as usize];
    f.read_exact_at(&mut after, 0)
        .map_err(|e| format!("pread: {e}"))?;
    for i in 0..(2 * PAGE) as usize {
        let priv_want = if i % 7 == 0 {
            before[i] ^ 0x5a
        } else {
            before[i]
        };
        if p.get(i) != priv_want {
            return Err(format!(
                "private mapping byte {i} is {:#04x}, expected its own {priv_want:#04x}",
                p.get(i)
            ));
        }
        if after[i] != before[i] || s.get(i) != before[i] {
            return Err(format!("a MAP_PRIVATE store reached the file: byte {i} reads {:#04x} (read) / {:#04x} (shared map), was {:#04x}",
                after[i], s.get(i), before[i]));
        }
    }
    if fblocks(&f)? != b0 {
        return Err(format!(
            "st_blocks {b0} -> {} after stores to a private mapping",
            fblocks(&f)?
        ));
    }
    drop(s);
    drop(p);
    f.read_exact_at(&mut after, 0)
        .map_err(|e| format!("pread: {e}"))?;
    if after != before {
        return Err("the file changed after unmapping a private mapping".into());
    }
    println!(
        "xiprw: stores to a MAP_PRIVATE mapping of {} stayed private (copy on write)",
        path.display()
    );
    Ok(())
}

fn cmd_map_sigbus(a: &Args) -> Res {
    let (path, off) = (a.path(0)?, a.n(1)? / PAGE * PAGE);
    let write = match a.p(2)? {
        "read" => false,
        "write" => true,
        o => return Err(format!("read or write, not {o}")),
    };
    let f = if write {
        open_rw(&path, false, 0)?
    } else {
        open_ro(&path, 0)?
    };
    let prot = if write {
        sys::PROT_READ | sys::PROT_WRITE
    } else {
        sys::PROT_READ
    };
    let m = Map::new(&f, off, PAGE as usize, prot, sys::MAP_SHARED)
        .map_err(|e| format!("mmap at {off}: {e}"))?;
    let before = fsize(&f)?;
    let ended = sys::in_child(|| {
        if write {
            m.set(0, 0x42);
        } else {
            let _ = m.get(0);
        }
        0
    })
    .map_err(|e| format!("fork: {e}"))?;
    drop(m);
    match ended {
        sys::Ended::Signaled(sys::SIGBUS) => {}
        sys::Ended::Signaled(s) => {
            return Err(format!(
                "the {} at {off} killed with signal {s}, expected SIGBUS",
                a.p(2)?
            ))
        }
        sys::Ended::Exited(_) => {
            return Err(format!(
                "the {} at {off} through the mapping worked, expected SIGBUS",
                a.p(2)?
            ))
        }
    }
    if fsize(&f)? != before {
        return Err("the file size changed".into());
    }
    println!(
        "xiprw: a {} through a MAP_SHARED mapping at {off} of {} got SIGBUS",
        a.p(2)?,
        path.display()
    );
    Ok(())
}

/// What the churn threads share: the files, their tags, a failure.
struct Churn {
    files: Vec<(PathBuf, u64)>,
    span: u64,
    failed: Mutex<Option<String>>,
    stop: AtomicBool,
    seen: AtomicU64,
}

impl Churn {
    fn fail(&self, s: String) {
        let mut f = self.failed.lock().unwrap();
        if f.is_none() {
            *f = Some(s);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    fn check(&self, tag: u64, off: u64, got: &[u8], how: &str) -> bool {
        for (i, &b) in got.iter().enumerate() {
            let o = off + i as u64;
            if b != 0 && b != pat(tag, o) {
                self.fail(format!(
                    "{how}: byte {o:#x} of the file of pattern {tag} is {b:#04x}: neither 0 nor the pattern's {:#04x}{}",
                    pat(tag, o), if b == POISON { " (the poison: stale data of a freed block)" } else { "" }));
                return false;
            }
        }
        self.seen.fetch_add(got.len() as u64, Ordering::Relaxed);
        true
    }
}

/// Runs the churn threads (writer, truncater, reader; with `mmap` a faulting reader and a
/// storing writer) for `iters` operations each.
fn churn(c: Arc<Churn>, iters: u64, seed: u64, mmap: bool) -> Vec<std::thread::JoinHandle<()>> {
    let mut roles = vec!["writer", "truncater", "reader"];
    if mmap {
        sys::catch_sigbus();
        roles.push("faulter");
        roles.push("storer");
    }
    let mut hs = Vec::new();
    for (k, role) in roles.into_iter().enumerate() {
        let c = c.clone();
        hs.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ (k as u64 + 1) * 0x1000);
            let mut files: Vec<(File, u64, String)> = Vec::new();
            for (p, t) in &c.files {
                match open_rw(p, true, 0) {
                    Ok(f) => files.push((f, *t, p.display().to_string())),
                    Err(e) => return c.fail(format!("{role}: {e}")),
                }
            }
            let mut buf = vec![0u8; 32 << 10];
            for _ in 0..iters {
                if c.stop.load(Ordering::SeqCst) {
                    return;
                }
                let (f, tag, name) = &files[rng.below(files.len() as u64) as usize];
                let off = rng.below(c.span);
                let len = 1 + rng.below((32 << 10).min(c.span - off)) as usize;
                match role {
                    "writer" => {
                        fill_pat(*tag, off, &mut buf[..len]);
                        if let Err(e) = f.write_all_at(&buf[..len], off) {
                            c.fail(format!("writer: pwrite {name} {off:#x}+{len:#x}: {e}"));
                        }
                    }
                    "truncater" => {
                        let size = rng.below(c.span + 1);
                        if let Err(e) = f.set_len(size) {
                            c.fail(format!("truncater: ftruncate {name} to {size:#x}: {e}"));
                        }
                    }
                    "reader" => match f.read_at(&mut buf[..len], off) {
                        Ok(n) => {
                            c.check(*tag, off, &buf[..n], &format!("reader: pread {name}"));
                        }
                        Err(e) => c.fail(format!("reader: pread {name} {off:#x}+{len:#x}: {e}")),
                    },
                    "faulter" | "storer" => {
                        // Map the whole span; pages past EOF give SIGBUS, which the handler
                        // turns into anonymous pages of zeros.
                        let slot = if role == "faulter" { 0 } else { 1 };
                        let prot = if role == "faulter" {
                            sys::PROT_READ
                        } else {
                            sys::PROT_READ | sys::PROT_WRITE
                        };
                        let m = match Map::guarded(f, 0, c.span as usize, prot, slot) {
                            Ok(m) => m,
                            Err(e) => {
                                c.fail(format!("{role}: mmap {name}: {e}"));
                                return;
                            }
                        };
                        if role == "faulter" {
                            let got: Vec<u8> = (0..len).map(|i| m.get(off as usize + i)).collect();
                            c.check(*tag, off, &got, &format!("faulter: mapped read of {name}"));
                        } else {
                            for i in 0..len.min(4096) {
                                let o = off + i as u64;
                                m.set(o as usize, pat(*tag, o));
                            }
                        }
                    }
                    _ => unreachable!(),
                }
            }
        }));
    }
    hs
}

fn cmd_race(a: &Args) -> Res {
    let path = a.path(0)?;
    let iters = a.num_or("--iters", 3000)?;
    let seed = a.num_or("--seed", 1)?;
    let mmap = a.has("--mmap");
    let tag = 4242;
    open_rw(&path, true, 0)?;
    let c = Arc::new(Churn {
        files: vec![(path.clone(), tag)],
        span: 256 << 10,
        failed: Mutex::new(None),
        stop: AtomicBool::new(false),
        seen: AtomicU64::new(0),
    });
    println!(
        "xiprw: race on {} with seed {seed}, {iters} operations per thread{}",
        path.display(),
        if mmap { ", with mappings" } else { "" }
    );
    for h in churn(c.clone(), iters, seed, mmap) {
        h.join().map_err(|_| "a race thread panicked".to_string())?;
    }
    if let Some(e) = c.failed.lock().unwrap().take() {
        return Err(format!("seed {seed}: {e}"));
    }
    // The whole file at the end.
    let f = open_ro(&path, 0)?;
    let size = fsize(&f)?;
    let mut all = vec![0u8; size as usize];
    f.read_exact_at(&mut all, 0)
        .map_err(|e| format!("read: {e}"))?;
    if !c.check(tag, 0, &all, "the file after the race") {
        return Err(c.failed.lock().unwrap().take().unwrap_or_default());
    }
    println!(
        "xiprw: race done: {} bytes checked, {} expected SIGBUS, final size {size}: no stale data",
        c.seen.load(Ordering::Relaxed),
        sys::BUS_COUNT.load(Ordering::SeqCst)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Namespace and attributes
// ---------------------------------------------------------------------------

fn type_name(ft: &fs::FileType) -> &'static str {
    if ft.is_file() {
        "file"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "chr"
    } else if ft.is_block_device() {
        "blk"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "sock"
    } else {
        "unknown"
    }
}

fn dev_major(d: u64) -> u64 {
    ((d >> 8) & 0xfff) | ((d >> 32) & !0xfff)
}

fn dev_minor(d: u64) -> u64 {
    (d & 0xff) | ((d >> 12) & !0xff)
}

fn stat_fields(m: &fs::Metadata, ns: bool, atime: bool) -> Vec<(&'static str, String)> {
    let t = |s: i64, n: i64| {
        if ns {
            format!("{s}.{n:09}")
        } else {
            format!("{s}")
        }
    };
    let mut v = vec![
        ("ino", m.ino().to_string()),
        ("type", type_name(&m.file_type()).to_string()),
        ("mode", format!("{:04o}", m.mode() & 0o7777)),
        ("nlink", m.nlink().to_string()),
        ("uid", m.uid().to_string()),
        ("gid", m.gid().to_string()),
        ("size", m.size().to_string()),
        ("blocks", m.blocks().to_string()),
    ];
    if atime {
        v.push(("atime", t(m.atime(), m.atime_nsec())));
    }
    v.push(("mtime", t(m.mtime(), m.mtime_nsec())));
    v.push(("ctime", t(m.ctime(), m.ctime_nsec())));
    v.push((
        "rdev",
        format!("{}:{}", dev_major(m.rdev()), dev_minor(m.rdev())),
    ));
    v
}

fn cmd_stat(a: &Args) -> Res {
    let path = a.path(0)?;
    let m = fs::symlink_metadata(&path)
        .map_err(|e| format!("lstat {}: {} ({e})", path.display(), errno_name(&e)))?;
    let fields = stat_fields(&m, true, true);
    match a.pos.get(1) {
        Some(f) => {
            let v = fields
                .iter()
                .find(|(k, _)| k == f)
                .ok_or(format!("no field {f}"))?;
            println!("{}", v.1);
        }
        None => {
            let s: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("{} {}", path.display(), s.join(" "));
        }
    }
    Ok(())
}

fn cmd_rename(a: &Args) -> Res {
    let (old, new) = (a.path(0)?, a.path(1)?);
    let how = a.pos.get(2).map(String::as_str).unwrap_or("plain");
    let flags = match how {
        "plain" => 0,
        "noreplace" => 1,
        "exchange" => 2,
        "whiteout" => 4,
        o => return Err(format!("unknown rename flag {o}")),
    };
    expect(
        sys::rename2(&old, &new, flags),
        a.expect(),
        &format!("rename {how} {} -> {}", old.display(), new.display()),
    )
}

fn parse_time(s: &str) -> Result<sys::Timespec, String> {
    match s {
        "now" => Ok(sys::Timespec {
            sec: 0,
            nsec: sys::UTIME_NOW,
        }),
        "omit" => Ok(sys::Timespec {
            sec: 0,
            nsec: sys::UTIME_OMIT,
        }),
        _ => {
            let (sec, nsec) = s.split_once('.').unwrap_or((s, "0"));
            let sec: i64 = sec.parse().map_err(|_| format!("bad time {s}"))?;
            if nsec.len() > 9 {
                return Err(format!("bad time {s}"));
            }
            let nsec: c_long = format!("{nsec:0<9}")
                .parse()
                .map_err(|_| format!("bad time {s}"))?;
            Ok(sys::Timespec { sec, nsec })
        }
    }
}

fn cmd_utimens(a: &Args) -> Res {
    let path = a.path(0)?;
    let t = [parse_time(a.p(1)?)?, parse_time(a.p(2)?)?];
    let r = sys::utimens(&path, t, a.has("--nofollow"));
    expect(
        r,
        a.expect(),
        &format!("utimensat {} {} {}", path.display(), a.p(1)?, a.p(2)?),
    )
}

fn cmd_mksock(a: &Args) -> Res {
    let p = a.path(0)?;
    let dir = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let here = std::env::current_dir().map_err(|e| format!("getcwd: {e}"))?;
    std::env::set_current_dir(dir).map_err(|e| format!("chdir {}: {e}", dir.display()))?;
    let r = std::os::unix::net::UnixListener::bind(p.file_name().ok_or("no name")?);
    std::env::set_current_dir(&here).map_err(|e| format!("chdir: {e}"))?;
    drop(r.map_err(|e| format!("bind {}: {e}", p.display()))?);
    println!("xiprw: made socket {}", p.display());
    Ok(())
}

fn cmd_tmpfile(a: &Args) -> Res {
    const O_TMPFILE: c_int = 0o20200000;
    const AT_SYMLINK_FOLLOW: c_int = 0x400;
    extern "C" {
        fn linkat(od: c_int, op: *const c_char, nd: c_int, np: *const c_char, flags: c_int) -> c_int;
    }
    let (dir, tag) = (a.path(0)?, a.n(1)?);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(O_TMPFILE)
        .open(&dir)
        .map_err(|e| format!("open {} O_TMPFILE: {e}", dir.display()))?;
    let mut buf = vec![0u8; 64 << 10];
    fill_pat(tag, 0, &mut buf);
    f.write_all_at(&buf, 0).map_err(|e| format!("write: {e}"))?;
    let mut back = vec![0u8; buf.len()];
    f.read_exact_at(&mut back, 0).map_err(|e| format!("read: {e}"))?;
    if back != buf {
        return Err("the O_TMPFILE file does not read back what was written".into());
    }
    let m = f.metadata().map_err(|e| format!("fstat: {e}"))?;
    if m.nlink() != 0 || m.size() != buf.len() as u64 || m.blocks() < 128 {
        return Err(format!(
            "O_TMPFILE file: nlink {} size {} blocks {} (want 0, {}, at least 128)",
            m.nlink(),
            m.size(),
            m.blocks(),
            buf.len()
        ));
    }
    if let Some(name) = a.get("--link") {
        let src = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).expect("no NUL");
        let dst = CString::new(name).map_err(|_| "NUL in --link")?;
        // SAFETY: Both paths are valid C strings; a plain system call.
        if unsafe { linkat(sys::AT_FDCWD, src.as_ptr(), sys::AT_FDCWD, dst.as_ptr(), AT_SYMLINK_FOLLOW) } != 0 {
            return Err(format!("linkat {name}: {}", io::Error::last_os_error()));
        }
        let n = f.metadata().map_err(|e| format!("fstat: {e}"))?.nlink();
        if n != 1 {
            return Err(format!("after linkat: nlink {n}, want 1"));
        }
    }
    println!(
        "xiprw: O_TMPFILE in {}: 64 KiB of pattern {tag}{}",
        dir.display(),
        a.get("--link").map(|n| format!(", linked as {n}")).unwrap_or_default()
    );
    Ok(())
}

fn cmd_mount(a: &Args) -> Res {
    let opt = |s: &str| if s == "-" { None } else { Some(s.to_string()) };
    let (src, dir, fstype, flags_s, data) =
        (opt(a.p(0)?), a.p(1)?, opt(a.p(2)?), a.p(3)?, opt(a.p(4)?));
    let mut flags: c_ulong = 0;
    if flags_s != "-" {
        for f in flags_s.split(',') {
            flags |= match f {
                "ro" => 1,
                "remount" => 32,
                "noatime" => 1024,
                "nodiratime" => 2048,
                "relatime" => 1 << 21,
                "strictatime" => 1 << 24,
                o => return Err(format!("unknown mount flag {o}")),
            };
        }
    }
    let r = sys::mount_raw(
        src.as_deref(),
        dir,
        fstype.as_deref(),
        flags,
        data.as_deref(),
    );
    expect(
        r,
        a.expect(),
        &format!(
            "mount({}, {dir}, {}, {flags_s}, {})",
            src.as_deref().unwrap_or("NULL"),
            fstype.as_deref().unwrap_or("NULL"),
            data.as_deref().unwrap_or("NULL")
        ),
    )
}

fn cmd_discard(a: &Args) -> Res {
    let dev = a.path(0)?;
    let (off, len) = (num(a.p(1)?)?, num(a.p(2)?)?);
    let zeroout = a.has("--zeroout");
    // Opened for writing but not O_EXCL (as util-linux's blkdiscard does), so that the ioctl
    // itself reaches the block layer even with the device mounted.
    let r = OpenOptions::new()
        .write(true)
        .open(&dev)
        .and_then(|f| sys::blk_range_ioctl(f.as_raw_fd(), zeroout, off, len));
    let name = if zeroout { "BLKZEROOUT" } else { "BLKDISCARD" };
    expect(r, a.expect(), &format!("{name} {} {off:#x}+{len:#x}", dev.display()))
}

fn cmd_as(v: &[String]) -> ExitCode {
    if v.len() < 3 {
        eprintln!("usage: xiprw as UID GID[,SUPP...] PROG ARGS...");
        return ExitCode::from(2);
    }
    let uid: u32 = v[0].parse().unwrap_or(u32::MAX);
    let ids: Vec<u32> = v[1]
        .split(',')
        .map(|s| s.parse().unwrap_or(u32::MAX))
        .collect();
    let e = sys::exec_as(uid, ids[0], &ids[1..], &v[2..]);
    eprintln!("FAIL: xiprw as {} {}: {e}", v[0], v[1]);
    ExitCode::from(127)
}

// ---------------------------------------------------------------------------
// Trees
// ---------------------------------------------------------------------------

/// The bytes storm files may hold.
fn storm_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b' ' || b == b'\n'
}

fn storm_text(w: u64, i: u64, lines: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for k in 0..lines {
        v.extend_from_slice(format!("storm w{w} i{i} line {k}\n").as_bytes());
    }
    v
}

const STORM_DIRS: u64 = 8;
const STORM_NAMES: u64 = 24;

fn storm_path(root: &Path, rng: &mut Rng) -> PathBuf {
    let mut p = root.join(format!("d{}", rng.below(STORM_DIRS)));
    p.push(format!("n{}", rng.below(STORM_NAMES)));
    if rng.below(4) == 0 {
        p.push(format!("n{}", rng.below(STORM_NAMES)));
    }
    p
}

fn cmd_storm(a: &Args) -> Res {
    let root = a.path(0)?;
    let seed = a.num_or("--seed", 1)?;
    let workers = a.num_or("--workers", 4)?;
    let seconds = a.num_or("--seconds", 0)?;
    // With --seconds, the storm runs for that long (a timer stops it), not for --ops.
    let ops = if seconds > 0 { u64::MAX / 4 } else { a.num_or("--ops", 2000)? };
    let exchange = a.has("--exchange");
    let mmap = a.has("--mmap");
    for d in 0..STORM_DIRS {
        fs::create_dir_all(root.join(format!("d{d}"))).map_err(|e| format!("mkdir: {e}"))?;
    }
    let shared: Vec<(PathBuf, u64)> = (0..2)
        .map(|k| (root.join(format!("shared-{k}")), 1000 + k))
        .collect();
    let length = if seconds > 0 { format!("for {seconds} s") } else { format!("x {ops} operations") };
    println!("xiprw: storm in {} with seed {seed}: {workers} workers {length}{}, and a writer, a truncater{} and a reader on {} shared files",
        root.display(), if exchange { " (with RENAME_EXCHANGE)" } else { "" },
        if mmap { ", a mapped reader, a mapped writer" } else { "" }, shared.len());
    let c = Arc::new(Churn {
        files: shared,
        span: 512 << 10,
        failed: Mutex::new(None),
        stop: AtomicBool::new(false),
        seen: AtomicU64::new(0),
    });
    for (p, _) in &c.files {
        open_rw(p, true, 0)?;
    }
    let mut hs = churn(c.clone(), ops.saturating_mul(2), seed, mmap);
    let start = std::time::Instant::now();
    if seconds > 0 {
        let c = c.clone();
        hs.push(std::thread::spawn(move || {
            while start.elapsed().as_secs() < seconds && !c.stop.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            c.stop.store(true, Ordering::SeqCst);
        }));
    }
    let counts = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    for w in 0..workers {
        let c = c.clone();
        let root = root.clone();
        let counts = counts.clone();
        hs.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed.wrapping_mul(1000) + w);
            let mut mine = BTreeMap::<String, u64>::new();
            for i in 0..ops {
                if c.stop.load(Ordering::SeqCst) {
                    break;
                }
                let p = storm_path(&root, &mut rng);
                let q = storm_path(&root, &mut rng);
                let k = rng.below(100);
                let (op, r, allowed): (&str, io::Result<()>, &[&str]) = if k < 20 {
                    let most = if rng.below(8) == 0 { 400 } else { 20 };
                    let text = storm_text(w, i, 1 + rng.below(most));
                    let r = OpenOptions::new().write(true).create_new(true).open(&p);
                    let r = r.and_then(|mut f| f.write_all(&text));
                    ("create", r, &["EEXIST", "ENOENT", "ENOTDIR"])
                } else if k < 30 {
                    (
                        "mkdir",
                        fs::create_dir(&p),
                        &["EEXIST", "ENOENT", "ENOTDIR"],
                    )
                } else if k < 48 {
                    (
                        "rename",
                        fs::rename(&p, &q),
                        &[
                            "ENOENT",
                            "ENOTEMPTY",
                            "EEXIST",
                            "EISDIR",
                            "ENOTDIR",
                            "EINVAL",
                        ],
                    )
                } else if k < 54 {
                    (
                        "noreplace",
                        sys::rename2(&p, &q, 1),
                        &["ENOENT", "EEXIST", "ENOTDIR", "EINVAL", "ENOTEMPTY"],
                    )
                } else if k < 60 {
                    if exchange {
                        (
                            "exchange",
                            sys::rename2(&p, &q, 2),
                            &["ENOENT", "ENOTDIR", "EINVAL"],
                        )
                    } else {
                        (
                            "stat",
                            fs::symlink_metadata(&p).map(|_| ()),
                            &["ENOENT", "ENOTDIR"],
                        )
                    }
                } else if k < 70 {
                    (
                        "link",
                        fs::hard_link(&p, &q),
                        &["ENOENT", "EEXIST", "EPERM", "ENOTDIR"],
                    )
                } else if k < 80 {
                    (
                        "unlink",
                        fs::remove_file(&p),
                        &["ENOENT", "EISDIR", "ENOTDIR"],
                    )
                } else if k < 88 {
                    (
                        "rmdir",
                        fs::remove_dir(&p),
                        &["ENOENT", "ENOTDIR", "ENOTEMPTY", "EEXIST"],
                    )
                } else {
                    let text = storm_text(w, i, 1 + rng.below(60));
                    let r = OpenOptions::new().write(true).open(&p);
                    let r = r.and_then(|f| f.write_all_at(&text, 0));
                    ("rewrite", r, &["ENOENT", "EISDIR", "ENOTDIR"])
                };
                let got = outcome(&r);
                *mine.entry(format!("{op} {got}")).or_default() += 1;
                if got != "ok" && !allowed.contains(&got.as_str()) {
                    c.fail(format!(
                        "worker {w} op {i}: {op} {} {}: {got} ({})",
                        p.display(),
                        q.display(),
                        r.unwrap_err()
                    ));
                    break;
                }
            }
            let mut all = counts.lock().unwrap();
            for (k, v) in mine {
                *all.entry(k).or_default() += v;
            }
        }));
    }
    for h in hs {
        h.join()
            .map_err(|_| "a storm thread panicked".to_string())?;
    }
    if let Some(e) = c.failed.lock().unwrap().take() {
        return Err(format!("seed {seed}: {e}"));
    }
    let counts = counts.lock().unwrap();
    let line: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("xiprw: storm outcomes: {}", line.join(", "));
    println!(
        "xiprw: storm: {} namespace operations in {:.1} s",
        counts.values().sum::<u64>(),
        start.elapsed().as_secs_f64()
    );
    for op in ["create", "mkdir", "rename", "link", "unlink", "rmdir"] {
        if counts.get(&format!("{op} ok")).copied().unwrap_or(0) == 0 {
            return Err(format!(
                "seed {seed}: no {op} succeeded: the storm did not exercise it"
            ));
        }
    }
    println!(
        "xiprw: storm done, {} bytes of shared files checked",
        c.seen.load(Ordering::Relaxed)
    );
    tree_check(&root, true)
}

fn tree_check(root: &Path, storm: bool) -> Res {
    let mut names: HashMap<u64, (u64, u64, PathBuf)> = HashMap::new();
    let mut dirs = 0u64;
    let mut problems = Vec::new();
    let root_parent = fs::metadata(root.join(".."))
        .map_err(|e| format!("stat {}/..: {e}", root.display()))?
        .ino();
    walk_check(
        root,
        root_parent,
        &mut names,
        &mut dirs,
        &mut problems,
        storm,
    );
    let mut multi = 0;
    for (ino, (nlink, count, p)) in &names {
        if *count > 1 {
            multi += 1;
        }
        if nlink != count {
            problems.push(format!(
                "{}: inode {ino} has link count {nlink} but {count} names in the tree",
                p.display()
            ));
        }
    }
    if !problems.is_empty() {
        for p in problems.iter().take(20) {
            println!("  {p}");
        }
        return Err(format!(
            "tree-check {}: {} problems",
            root.display(),
            problems.len()
        ));
    }
    println!("xiprw: tree-check {}: {dirs} directories, {} other inodes ({multi} with several names): consistent",
        root.display(), names.len());
    Ok(())
}

fn walk_check(
    dir: &Path,
    parent: u64,
    names: &mut HashMap<u64, (u64, u64, PathBuf)>,
    dirs: &mut u64,
    problems: &mut Vec<String>,
    storm: bool,
) {
    *dirs += 1;
    let m = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) => return problems.push(format!("{}: lstat: {e}", dir.display())),
    };
    match fs::metadata(dir.join("..")) {
        Ok(dd) if dd.ino() == parent => {}
        Ok(dd) => problems.push(format!(
            "{}: .. is inode {}, its parent is inode {parent}",
            dir.display(),
            dd.ino()
        )),
        Err(e) => problems.push(format!("{}/..: {e}", dir.display())),
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return problems.push(format!("{}: readdir: {e}", dir.display())),
    };
    let mut subdirs = 0u64;
    let mut entries: Vec<(PathBuf, fs::FileType)> = Vec::new();
    for e in rd {
        match e {
            Ok(e) => match e.file_type() {
                Ok(t) => entries.push((e.path(), t)),
                Err(err) => problems.push(format!("{}: d_type: {err}", e.path().display())),
            },
            Err(err) => problems.push(format!("{}: readdir: {err}", dir.display())),
        }
    }
    for (p, dt) in entries {
        let pm = match fs::symlink_metadata(&p) {
            Ok(pm) => pm,
            Err(e) => {
                problems.push(format!("{}: listed but lstat fails: {e}", p.display()));
                continue;
            }
        };
        if type_name(&dt) != type_name(&pm.file_type()) {
            problems.push(format!(
                "{}: readdir says {}, lstat {}",
                p.display(),
                type_name(&dt),
                type_name(&pm.file_type())
            ));
        }
        if pm.is_dir() {
            subdirs += 1;
            walk_check(&p, m.ino(), names, dirs, problems, storm);
            continue;
        }
        let e = names.entry(pm.ino()).or_insert((pm.nlink(), 0, p.clone()));
        e.1 += 1;
        if storm && pm.is_file() {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            match fs::read(&p) {
                Ok(data) => {
                    if let Some(tag) = name
                        .strip_prefix("shared-")
                        .and_then(|t| t.parse::<u64>().ok())
                    {
                        if let Some(i) = data
                            .iter()
                            .enumerate()
                            .position(|(o, &b)| b != 0 && b != pat(1000 + tag, o as u64))
                        {
                            problems.push(format!(
                                "{}: byte {i:#x} is {:#04x}, neither 0 nor the pattern",
                                p.display(),
                                data[i]
                            ));
                        }
                    } else if let Some(i) = data.iter().position(|&b| !storm_byte(b)) {
                        problems.push(format!(
                            "{}: byte {i} is {:#04x}, not storm text (stale data?)",
                            p.display(),
                            data[i]
                        ));
                    } else if data.is_empty() || !data.starts_with(b"storm w") {
                        problems.push(format!(
                            "{}: {} bytes, not starting with storm text",
                            p.display(),
                            data.len()
                        ));
                    }
                }
                Err(e) => problems.push(format!("{}: read: {e}", p.display())),
            }
        }
    }
    if m.nlink() != 2 + subdirs {
        problems.push(format!(
            "{}: link count {}, expected 2 + {subdirs} subdirectories",
            dir.display(),
            m.nlink()
        ));
    }
}

fn cmd_tree_check(a: &Args) -> Res {
    tree_check(&a.path(0)?, a.has("--storm"))
}

fn fnv(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn list_walk(root: &Path, rel: &Path, ns: bool, atime: bool, out: &mut Vec<String>) -> Res {
    let p = root.join(rel);
    let m = fs::symlink_metadata(&p).map_err(|e| format!("lstat {}: {e}", p.display()))?;
    let mut fields: Vec<String> = stat_fields(&m, ns, atime)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if m.file_type().is_symlink() {
        let t = fs::read_link(&p).map_err(|e| format!("readlink {}: {e}", p.display()))?;
        fields.push(format!("target={}", escape(t.as_os_str())));
    }
    if m.is_file() && m.len() < 64 << 20 {
        let mut f = File::open(&p).map_err(|e| format!("open {}: {e}", p.display()))?;
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let k = f
                .read(&mut buf)
                .map_err(|e| format!("read {}: {e}", p.display()))?;
            if k == 0 {
                break;
            }
            h = fnv(&buf[..k], h);
            n += k as u64;
        }
        fields.push(format!("hash={h:016x}/{n}"));
    }
    out.push(format!("/{} {}", escape(rel.as_os_str()), fields.join(" ")));
    if m.is_dir() {
        let mut kids: Vec<PathBuf> = fs::read_dir(&p)
            .map_err(|e| format!("readdir {}: {e}", p.display()))?
            .map(|e| e.map(|e| rel.join(e.file_name())))
            .collect::<io::Result<_>>()
            .map_err(|e| format!("readdir {}: {e}", p.display()))?;
        kids.sort_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
        for k in kids {
            list_walk(root, &k, ns, atime, out)?;
        }
    }
    Ok(())
}

fn escape(s: &OsStr) -> String {
    let mut o = String::new();
    for &b in s.as_bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'%' {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

fn cmd_tree_list(a: &Args) -> Res {
    let root = a.path(0)?;
    let mut out = Vec::new();
    list_walk(
        &root,
        Path::new(""),
        a.has("--ns"),
        !a.has("--no-atime"),
        &mut out,
    )?;
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    for l in out {
        writeln!(w, "{l}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------

fn usage() -> ExitCode {
    eprintln!("usage: xiprw SUBCOMMAND ARGS... (see the top of tests/progs/xiprw.rs)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let Some(cmd) = argv.get(1) else {
        return usage();
    };
    if cmd == "as" {
        return cmd_as(&argv[2..]);
    }
    let a = match Args::parse(&argv[2..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xiprw: {e}");
            return usage();
        }
    };
    let r = match cmd.as_str() {
        "write" => cmd_write(&a),
        "check" => cmd_check(&a),
        "fill" => cmd_fill(&a),
        "fill-inodes" => cmd_fill_inodes(&a),
        "truncate" => cmd_truncate(&a),
        "fallocate" => cmd_fallocate(&a),
        "copy" => cmd_copy(&a),
        "splice-in" => cmd_splice_in(&a),
        "splice-out" => cmd_splice_out(&a),
        "sync" => cmd_sync(&a),
        "map-write" => cmd_map_write(&a),
        "map-hole" => cmd_map_hole(&a),
        "map-private" => cmd_map_private(&a),
        "map-sigbus" => cmd_map_sigbus(&a),
        "race" => cmd_race(&a),
        "stat" => cmd_stat(&a),
        "rename" => cmd_rename(&a),
        "utimens" => cmd_utimens(&a),
        "mksock" => cmd_mksock(&a),
        "tmpfile" => cmd_tmpfile(&a),
        "mount" => cmd_mount(&a),
        "discard" => cmd_discard(&a),
        "storm" => cmd_storm(&a),
        "tree-check" => cmd_tree_check(&a),
        "tree-list" => cmd_tree_list(&a),
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e == "missing argument" || e.starts_with("not a number") => {
            eprintln!("xiprw {cmd}: {e}");
            usage()
        }
        Err(e) => {
            println!("FAIL: xiprw {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
