// SPDX-License-Identifier: GPL-2.0
//! xipfault: fault-injection sweeps over the operations of a mounted filesystem, for
//! `tests/guest/t-xipfs-faults.sh`.
//!
//! ```text
//! xipfault DEV MNT FSTYPE [OP...] [--bdev DEV2] [--max N] [--fsck-every K]
//! ```
//!
//! For each OP (default: all of them, in the order below), the operation is run again and
//! again with `/proc/thread-self/fail-nth` set to 1, 2, 3...: the kernel fails the Nth
//! fault-injection point this thread reaches (slab and page allocations, as far as the
//! test's debugfs settings let them fail), until a run of the operation reaches fewer
//! points than N, which ends its sweep (that run must succeed). Each run with a failure
//! injected must:
//!
//! - give the caller an error, or succeed with the outcome of a success (some callers in
//!   the kernel fall back when an allocation fails): both are counted;
//! - never give `EUCLEAN` (an allocation failure is not corruption), and leave the
//!   filesystem mounted read-write (no `errors=remount-ro` for it);
//! - leave the state as before the call (error) or as after it (success), checked through
//!   the filesystem with no failure injected: names, link counts, sizes, contents;
//! - leave a filesystem that `e2fsck -fn` finds clean (after `syncfs` and `BLKFLSBUF`;
//!   every K-th injected run, default 1; 0 for never).
//!
//! OPs: lookup readdir read create mkdir symlink link unlink rmdir rename rename-dir write
//! truncate-down truncate-up fallocate mapwrite fsync remount umount mount.
//! `lookup`, `readdir` and `read` start from dropped caches (so the filesystem is asked);
//! `mapwrite` stores to a hole of a MAP_SHARED mapping in a child process (a fault that
//! fails with ENOMEM is retried by the kernel; any other failure is SIGBUS, the error of a
//! fault); `mount` and `umount` leave MNT mounted as they found it. `bdev-read` and
//! `bdev-write` (only with `--bdev`, and then run by default) read and write 64 KiB of DEV2
//! with O_DIRECT, one request: with `make-it-fail` set on DEV2, its request is one of the
//! points (fail_make_request), and a failed one must give EIO, a later read the data.
//!
//! Prints one line per OP (`OP: P points, I injected: E errors (ENOMEM xN ...), S
//! succeeded`) and a total; on a failed check a line starting with `FAIL:`, exit 1 (2 on a
//! usage error). Only std: the system calls std lacks are declared against glibc. x86-64
//! Linux only.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_ulong, c_void, CString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod sys {
    use super::*;

    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_SHARED: c_int = 1;
    pub const MS_RDONLY: c_ulong = 1;
    pub const MS_REMOUNT: c_ulong = 32;
    pub const ST_RDONLY: c_ulong = 1;

    /// glibc's `struct statvfs` on x86-64.
    #[repr(C)]
    struct StatVfs {
        bsize: c_ulong,
        frsize: c_ulong,
        blocks: u64,
        bfree: u64,
        bavail: u64,
        files: u64,
        ffree: u64,
        favail: u64,
        fsid: c_ulong,
        flag: c_ulong,
        namemax: c_ulong,
        spare: [c_int; 6],
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
        fn mount(
            src: *const c_char,
            target: *const c_char,
            fstype: *const c_char,
            flags: c_ulong,
            data: *const c_void,
        ) -> c_int;
        fn umount2(target: *const c_char, flags: c_int) -> c_int;
        fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
        fn syncfs(fd: c_int) -> c_int;
        fn statvfs(path: *const c_char, buf: *mut StatVfs) -> c_int;
        fn fork() -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn _exit(status: c_int) -> !;
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

    pub fn mount_fs(dev: &Path, mnt: &Path, fstype: &str, flags: c_ulong) -> io::Result<()> {
        let (d, m) = (cstr(dev), cstr(mnt));
        let t = CString::new(fstype).expect("no NUL");
        // SAFETY: NUL-terminated strings that outlive the call; no mount data.
        check(unsafe { mount(d.as_ptr(), m.as_ptr(), t.as_ptr(), flags, std::ptr::null()) })
    }

    pub fn remount(mnt: &Path, flags: c_ulong) -> io::Result<()> {
        let m = cstr(mnt);
        let none = CString::new("none").expect("no NUL");
        // SAFETY: As above; a remount names no device or type.
        check(unsafe {
            mount(
                none.as_ptr(),
                m.as_ptr(),
                std::ptr::null(),
                MS_REMOUNT | flags,
                std::ptr::null(),
            )
        })
    }

    pub fn umount(mnt: &Path) -> io::Result<()> {
        let m = cstr(mnt);
        // SAFETY: A NUL-terminated path.
        check(unsafe { umount2(m.as_ptr(), 0) })
    }

    pub fn falloc(f: &File, off: u64, len: u64) -> io::Result<()> {
        // SAFETY: A plain system call on an open file.
        check(unsafe { fallocate(f.as_raw_fd(), 0, off as i64, len as i64) })
    }

    pub fn sync_fs(f: &File) -> io::Result<()> {
        // SAFETY: A plain system call on an open file.
        check(unsafe { syncfs(f.as_raw_fd()) })
    }

    /// Whether the filesystem at `p` is mounted read-only.
    pub fn read_only(p: &Path) -> io::Result<bool> {
        let c = cstr(p);
        let mut b = std::mem::MaybeUninit::<StatVfs>::zeroed();
        // SAFETY: `b` is valid for writes of a `struct statvfs`.
        check(unsafe { statvfs(c.as_ptr(), b.as_mut_ptr()) })?;
        // SAFETY: Filled by a successful statvfs.
        Ok(unsafe { b.assume_init() }.flag & ST_RDONLY != 0)
    }

    /// How a child ended: its exit status, or the signal that killed it.
    pub enum Ended {
        Exit(i32),
        Signal(i32),
    }

    /// Runs `f` in a child process (which must not return) and waits for it.
    pub fn in_child(f: impl FnOnce() -> i32) -> io::Result<Ended> {
        // SAFETY: This program is single-threaded; the child runs `f` and `_exit`s.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = f();
            // SAFETY: Ends the child without running the parent's exit handlers.
            unsafe { _exit(code) };
        }
        let mut st: c_int = 0;
        // SAFETY: `st` is valid for writes; `pid` is our child.
        if unsafe { waitpid(pid, &mut st, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(if st & 0x7f == 0 {
            Ended::Exit((st >> 8) & 0xff)
        } else {
            Ended::Signal(st & 0x7f)
        })
    }

    /// Maps `len` bytes of `f` shared and writable, stores `byte` at `off`, unmaps.
    pub fn store_shared(f: &File, len: usize, off: usize, byte: u8) -> io::Result<()> {
        // SAFETY: A new mapping at an address the kernel chooses.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                PROT_READ | PROT_WRITE,
                MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `off < len`, inside the mapping just made, which nothing else uses.
        unsafe {
            p.cast::<u8>().add(off).write_volatile(byte);
            munmap(p, len);
        }
        Ok(())
    }
}

/// `/proc/thread-self/fail-nth` of this thread.
struct FailNth(File);

impl FailNth {
    fn open() -> io::Result<Self> {
        Ok(Self(
            OpenOptions::new()
                .read(true)
                .write(true)
                .open("/proc/thread-self/fail-nth")?,
        ))
    }

    fn set(&self, n: u32) {
        self.0
            .write_at(format!("{n}").as_bytes(), 0)
            .expect("fail-nth: write");
    }

    fn left(&self) -> u32 {
        let mut b = [0u8; 16];
        let k = self.0.read_at(&mut b, 0).expect("fail-nth: read");
        std::str::from_utf8(&b[..k])
            .unwrap()
            .trim()
            .parse()
            .expect("fail-nth: a number")
    }
}

type Check = Result<(), String>;

fn fail(msg: String) -> Check {
    Err(msg)
}

fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(2) => "ENOENT".into(),
        Some(5) => "EIO".into(),
        Some(12) => "ENOMEM".into(),
        Some(16) => "EBUSY".into(),
        Some(17) => "EEXIST".into(),
        Some(28) => "ENOSPC".into(),
        Some(117) => "EUCLEAN".into(),
        Some(n) => format!("errno {n}"),
        None => e.to_string(),
    }
}

/// Byte `o` of the test pattern `tag`: never 0.
fn pat(tag: u8, o: u64) -> u8 {
    ((o.wrapping_mul(131) ^ (o >> 9) ^ tag as u64) % 251 + 1) as u8
}

fn pattern(tag: u8, off: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| pat(tag, off + i)).collect()
}

fn write_file(p: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(p)?;
    f.write_all(data)
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

fn remove_any(p: &Path) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(p);
        }
        Ok(_) => {
            let _ = fs::remove_file(p);
        }
        Err(_) => {}
    }
}

/// `p`'s link count is 2 + its subdirectories, as ext2 keeps it.
fn dir_links_ok(p: &Path) -> Check {
    let subdirs = fs::read_dir(p)
        .map_err(|e| format!("readdir {}: {e}", p.display()))?
        .filter(|e| {
            e.as_ref()
                .map(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .unwrap_or(false)
        })
        .count() as u64;
    let n = fs::metadata(p)
        .map_err(|e| format!("stat {}: {e}", p.display()))?
        .nlink();
    if n != 2 + subdirs {
        return fail(format!(
            "{}: link count {n}, but {subdirs} subdirectories",
            p.display()
        ));
    }
    Ok(())
}

fn content_is(p: &Path, want: &[u8]) -> Check {
    match fs::read(p) {
        Ok(got) if got == want => Ok(()),
        Ok(got) => fail(format!(
            "{}: {} bytes, not the {} expected (or other bytes)",
            p.display(),
            got.len(),
            want.len()
        )),
        Err(e) => fail(format!("{}: {e}", p.display())),
    }
}

fn drop_caches() {
    fs::write("/proc/sys/vm/drop_caches", "2").expect("drop_caches");
}

struct Ctx {
    dev: PathBuf,
    mnt: PathBuf,
    fstype: String,
    w: PathBuf,
    nth: FailNth,
    /// A second block device for the bdev-* operations (its contents are overwritten).
    bdev: Option<PathBuf>,
}

impl Ctx {
    fn p(&self, rel: &str) -> PathBuf {
        self.w.join(rel)
    }

    fn mounted(&self) -> bool {
        // The work directory is visible only with the filesystem mounted.
        self.w.exists()
    }

    fn ensure_mounted(&self) -> Check {
        if !self.mounted() {
            sys::mount_fs(&self.dev, &self.mnt, &self.fstype, 0)
                .map_err(|e| format!("mount {} (no failure injected): {e}", self.dev.display()))?;
        }
        Ok(())
    }

    fn fsck(&self) -> Check {
        let f = File::open(&self.mnt).map_err(|e| format!("open {}: {e}", self.mnt.display()))?;
        sys::sync_fs(&f).map_err(|e| format!("syncfs: {e}"))?;
        let ok = Command::new("blockdev")
            .arg("--flushbufs")
            .arg(&self.dev)
            .status()
            .map_err(|e| e.to_string())?;
        if !ok.success() {
            return fail("blockdev --flushbufs failed".into());
        }
        let out = Command::new("e2fsck")
            .arg("-fn")
            .arg(&self.dev)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            io::stdout().write_all(&out.stdout).ok();
            io::stdout().write_all(&out.stderr).ok();
            return fail(format!("e2fsck -fn {} found problems", self.dev.display()));
        }
        Ok(())
    }
}

const OPS: &[&str] = &[
    "lookup",
    "readdir",
    "read",
    "create",
    "mkdir",
    "symlink",
    "link",
    "unlink",
    "rmdir",
    "rename",
    "rename-dir",
    "write",
    "truncate-down",
    "truncate-up",
    "fallocate",
    "mapwrite",
    "fsync",
    "remount",
    "umount",
    "mount",
    "bdev-read",
    "bdev-write",
];

const LONG_TARGET_LEN: usize = 300;
const MANY: usize = 200;

/// Makes the fixed files the operations read (once per run, no failure injected).
fn setup(c: &Ctx) -> Check {
    let m = |e: io::Error| e.to_string();
    remove_any(&c.w);
    for d in ["", "a", "b", "a/deep", "many"] {
        fs::create_dir(c.p(d)).map_err(m)?;
    }
    write_file(&c.p("a/deep/x"), b"x").map_err(m)?;
    write_file(&c.p("data"), &pattern(1, 0, 256 << 10)).map_err(m)?;
    for i in 0..MANY {
        File::create(c.p(&format!("many/entry-with-a-longer-name-{i:04}"))).map_err(m)?;
    }
    if c.bdev.is_some() {
        let mut b = Aligned::new(BDEV_LEN);
        b.buf().copy_from_slice(&pattern(6, BDEV_READ_AT, BDEV_LEN));
        open_direct(c, true)
            .and_then(|f| f.write_all_at(b.buf(), BDEV_READ_AT))
            .map_err(m)?;
    }
    Ok(())
}

/// The bdev-* operations: 64 KiB with O_DIRECT, so that each is one request to the driver.
const BDEV_LEN: usize = 64 << 10;
const BDEV_READ_AT: u64 = 1 << 20;
const BDEV_WRITE_AT: u64 = 2 << 20;

fn open_direct(c: &Ctx, write: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dev = c.bdev.as_ref().expect("bdev ops only with --bdev");
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(0o40000)
        .open(dev)
}

/// A page-aligned buffer, as O_DIRECT wants.
/// `s_state` of the superblock on the filesystem's device, read past any cache (O_DIRECT).
fn sb_state(c: &Ctx) -> io::Result<u16> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new().read(true).custom_flags(0o40000).open(&c.dev)?;
    let mut b = Aligned::new(4096);
    f.read_exact_at(b.buf(), 0)?;
    let at = 1024 + 58;
    Ok(u16::from_le_bytes([b.buf()[at], b.buf()[at + 1]]))
}

struct Aligned {
    p: *mut u8,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Self {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: `len` is not zero.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!p.is_null(), "out of memory");
        Self { p, len }
    }

    fn buf(&mut self) -> &mut [u8] {
        // SAFETY: `p` is an allocation of `len` bytes owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.p, self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, 4096).expect("layout");
        // SAFETY: Allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.p, layout) };
    }
}

fn prepare(c: &Ctx, op: &str) -> Check {
    let m = |e: io::Error| format!("prepare {op}: {e}");
    match op {
        "lookup" | "readdir" | "read" => drop_caches(),
        "unlink" => write_file(&c.p("b/victim"), &pattern(2, 0, 40 << 10)).map_err(m)?,
        "rmdir" => fs::create_dir(c.p("b/vdir")).map_err(m)?,
        "rename" => {
            write_file(&c.p("a/src"), b"src").map_err(m)?;
            write_file(&c.p("b/dst"), b"dst").map_err(m)?;
        }
        "rename-dir" => {
            fs::create_dir(c.p("a/sd")).map_err(m)?;
            fs::create_dir(c.p("a/sd/sub")).map_err(m)?;
            write_file(&c.p("a/sd/f"), b"in sd").map_err(m)?;
        }
        "write" => write_file(&c.p("w"), &pattern(3, 0, 40 << 10)).map_err(m)?,
        "truncate-down" => write_file(&c.p("t"), &pattern(4, 0, 200 << 10)).map_err(m)?,
        "truncate-up" => write_file(&c.p("t"), &pattern(4, 0, 10 << 10)).map_err(m)?,
        "fallocate" => write_file(&c.p("fa"), b"").map_err(m)?,
        "mapwrite" => File::create(c.p("mw"))
            .and_then(|f| f.set_len(64 << 10))
            .map_err(m)?,
        "fsync" => write_file(&c.p("fs"), &pattern(5, 0, 100 << 10)).map_err(m)?,
        "mount" => sys::umount(&c.mnt).map_err(m)?,
        "bdev-write" => {
            let mut b = Aligned::new(BDEV_LEN);
            open_direct(c, true)
                .and_then(|f| f.write_all_at(b.buf(), BDEV_WRITE_AT))
                .map_err(m)?;
        }
        _ => {}
    }
    Ok(())
}

/// The operation itself, with the failure armed: only the system calls under test.
fn run(c: &Ctx, op: &str) -> io::Result<()> {
    match op {
        "lookup" => fs::symlink_metadata(c.p("a/deep/x")).map(drop),
        "readdir" => {
            let n = fs::read_dir(c.p("many"))?
                .collect::<io::Result<Vec<_>>>()?
                .len();
            if n != MANY {
                return Err(io::Error::new(
                    io::ErrorKind::Other,
                    format!("readdir gave {n} entries"),
                ));
            }
            Ok(())
        }
        "read" => {
            let mut v = Vec::with_capacity(256 << 10);
            File::open(c.p("data"))?.read_to_end(&mut v)?;
            if v != pattern(1, 0, 256 << 10) {
                return Err(io::Error::new(
                    io::ErrorKind::Other,
                    "read gave other bytes",
                ));
            }
            Ok(())
        }
        "create" => OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(c.p("a/new"))
            .map(drop),
        "mkdir" => fs::create_dir(c.p("a/newdir")),
        "symlink" => std::os::unix::fs::symlink("t".repeat(LONG_TARGET_LEN), c.p("a/newlink")),
        "link" => fs::hard_link(c.p("data"), c.p("b/hard")),
        "unlink" => fs::remove_file(c.p("b/victim")),
        "rmdir" => fs::remove_dir(c.p("b/vdir")),
        "rename" => fs::rename(c.p("a/src"), c.p("b/dst")),
        "rename-dir" => fs::rename(c.p("a/sd"), c.p("b/sd2")),
        "write" => {
            let f = OpenOptions::new().write(true).open(c.p("w"))?;
            let buf = pattern(3, 40 << 10, 64 << 10);
            let k = f.write_at(&buf, 40 << 10)?;
            if k != buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::Other,
                    format!("short write: {k}"),
                ));
            }
            Ok(())
        }
        "truncate-down" => OpenOptions::new()
            .write(true)
            .open(c.p("t"))?
            .set_len(10 << 10),
        "truncate-up" => OpenOptions::new()
            .write(true)
            .open(c.p("t"))?
            .set_len(1 << 20),
        "fallocate" => sys::falloc(
            &OpenOptions::new().write(true).open(c.p("fa"))?,
            0,
            256 << 10,
        ),
        "fsync" => OpenOptions::new().write(true).open(c.p("fs"))?.sync_all(),
        "bdev-read" => {
            let mut b = Aligned::new(BDEV_LEN);
            open_direct(c, false)?.read_exact_at(b.buf(), BDEV_READ_AT)?;
            if b.buf()[..] != pattern(6, BDEV_READ_AT, BDEV_LEN)[..] {
                return Err(io::Error::new(
                    io::ErrorKind::Other,
                    "block device read gave other bytes",
                ));
            }
            Ok(())
        }
        "bdev-write" => {
            let mut b = Aligned::new(BDEV_LEN);
            b.buf().copy_from_slice(&pattern(7, 0, BDEV_LEN));
            open_direct(c, true)?.write_all_at(b.buf(), BDEV_WRITE_AT)
        }
        "remount" => sys::remount(&c.mnt, sys::MS_RDONLY),
        "umount" => sys::umount(&c.mnt),
        "mount" => sys::mount_fs(&c.dev, &c.mnt, &c.fstype, 0),
        _ => unreachable!(),
    }
}

/// Checks the state after a run that gave `res`, with no failure injected.
fn verify(c: &Ctx, op: &str, res: &io::Result<()>) -> Check {
    let ok = res.is_ok();
    let label = |what: &str| {
        format!(
            "{op}: {what} after {}",
            if ok { "success" } else { "an error" }
        )
    };
    match op {
        "lookup" => {
            // A failed lookup must not leave a negative dentry behind.
            fs::symlink_metadata(c.p("a/deep/x")).map_err(|e| label(&format!("a/deep/x: {e}")))?;
        }
        "readdir" => {
            let n = fs::read_dir(c.p("many"))
                .map_err(|e| e.to_string())?
                .count();
            if n != MANY {
                return fail(label(&format!("{n} entries in many/, not {MANY}")));
            }
        }
        "read" => content_is(&c.p("data"), &pattern(1, 0, 256 << 10)).map_err(|e| label(&e))?,
        "create" | "mkdir" | "symlink" => {
            let name = match op {
                "create" => "a/new",
                "mkdir" => "a/newdir",
                _ => "a/newlink",
            };
            if exists(&c.p(name)) != ok {
                return fail(label(&format!(
                    "{name} {}",
                    if ok { "missing" } else { "exists" }
                )));
            }
            if ok && op == "symlink" {
                let t = fs::read_link(c.p(name)).map_err(|e| label(&e.to_string()))?;
                if t.as_os_str().len() != LONG_TARGET_LEN {
                    return fail(label("symlink target differs"));
                }
            }
            dir_links_ok(&c.p("a")).map_err(|e| label(&e))?;
        }
        "link" => {
            let n = fs::metadata(c.p("data"))
                .map_err(|e| e.to_string())?
                .nlink();
            let want = if ok { 2 } else { 1 };
            if exists(&c.p("b/hard")) != ok || n != want {
                return fail(label(&format!(
                    "b/hard exists: {}, data has {n} links",
                    exists(&c.p("b/hard"))
                )));
            }
        }
        "unlink" => {
            if ok == exists(&c.p("b/victim")) {
                return fail(label("b/victim in the wrong state"));
            }
            if !ok {
                content_is(&c.p("b/victim"), &pattern(2, 0, 40 << 10)).map_err(|e| label(&e))?;
            }
        }
        "rmdir" => {
            if ok == exists(&c.p("b/vdir")) {
                return fail(label("b/vdir in the wrong state"));
            }
            dir_links_ok(&c.p("b")).map_err(|e| label(&e))?;
        }
        "rename" => {
            if ok {
                if exists(&c.p("a/src")) {
                    return fail(label("a/src still there"));
                }
                content_is(&c.p("b/dst"), b"src").map_err(|e| label(&e))?;
            } else {
                content_is(&c.p("a/src"), b"src").map_err(|e| label(&e))?;
                content_is(&c.p("b/dst"), b"dst").map_err(|e| label(&e))?;
            }
        }
        "rename-dir" => {
            let (from, to) = (exists(&c.p("a/sd")), exists(&c.p("b/sd2")));
            if from == to || to != ok {
                return fail(label(&format!("a/sd exists: {from}, b/sd2 exists: {to}")));
            }
            let d = if ok { "b/sd2" } else { "a/sd" };
            content_is(&c.p(&format!("{d}/f")), b"in sd").map_err(|e| label(&e))?;
            let parent = fs::metadata(c.p(&format!("{d}/..")))
                .map_err(|e| e.to_string())?
                .ino();
            let want = fs::metadata(c.p(if ok { "b" } else { "a" }))
                .map_err(|e| e.to_string())?
                .ino();
            if parent != want {
                return fail(label(&format!("{d}/.. is inode {parent}, not {want}")));
            }
            for p in ["a", "b", d] {
                dir_links_ok(&c.p(p)).map_err(|e| label(&e))?;
            }
        }
        "write" => {
            let got = fs::read(c.p("w")).map_err(|e| e.to_string())?;
            // A short write keeps what it wrote: the file is the pattern up to its size.
            if got.len() < 40 << 10
                || got != pattern(3, 0, got.len())
                || (ok && got.len() != 104 << 10)
            {
                return fail(label(&format!(
                    "w holds {} bytes, not the pattern's prefix",
                    got.len()
                )));
            }
        }
        "truncate-down" | "truncate-up" => {
            let got = fs::read(c.p("t")).map_err(|e| e.to_string())?;
            let (before, after): (usize, usize) = if op == "truncate-down" {
                (200 << 10, 10 << 10)
            } else {
                (10 << 10, 1 << 20)
            };
            let len = if ok { after } else { before };
            let keep = before.min(after);
            let tail_ok = if len == before {
                got.get(..before) == Some(&pattern(4, 0, before)[..])
            } else {
                got[keep..].iter().all(|&b| b == 0)
            };
            if got.len() != len || got[..keep] != pattern(4, 0, keep)[..] || !tail_ok {
                return fail(label(&format!(
                    "t holds {} bytes (want {len}) or other bytes",
                    got.len()
                )));
            }
        }
        "fallocate" => {
            let md = fs::metadata(c.p("fa")).map_err(|e| e.to_string())?;
            if ok && (md.len() != 256 << 10 || md.blocks() < 512) {
                return fail(label(&format!("size {} blocks {}", md.len(), md.blocks())));
            }
            if !ok && md.len() != 0 {
                return fail(label(&format!("size {}", md.len())));
            }
            if fs::read(c.p("fa"))
                .map_err(|e| e.to_string())?
                .iter()
                .any(|&b| b != 0)
            {
                return fail(label("fallocated range not zeros"));
            }
        }
        "mapwrite" => {
            let got = fs::read(c.p("mw")).map_err(|e| e.to_string())?;
            let stored = got.get(3 * 4096 + 5).copied();
            if got.len() != 64 << 10
                || (ok && stored != Some(0x5a))
                || got
                    .iter()
                    .enumerate()
                    .any(|(i, &b)| b != 0 && i != 3 * 4096 + 5)
            {
                return fail(label(&format!(
                    "mw: {} bytes, stored byte {stored:?}",
                    got.len()
                )));
            }
        }
        "fsync" => content_is(&c.p("fs"), &pattern(5, 0, 100 << 10)).map_err(|e| label(&e))?,
        "bdev-read" => {
            run(c, "bdev-read").map_err(|e| label(&format!("a read with no failure: {e}")))?
        }
        "bdev-write" => {
            let mut b = Aligned::new(BDEV_LEN);
            open_direct(c, false)
                .and_then(|f| f.read_exact_at(b.buf(), BDEV_WRITE_AT))
                .map_err(|e| label(&e.to_string()))?;
            // A failed write may have written part of the range, never anything else.
            if ok && b.buf()[..] != pattern(7, 0, BDEV_LEN)[..] {
                return fail(label("the range does not hold what was written"));
            }
            run(c, "bdev-read").map_err(|e| label(&format!("the rest of the device: {e}")))?;
        }
        "remount" => {
            let ro = sys::read_only(&c.mnt).map_err(|e| e.to_string())?;
            if ro != ok {
                return fail(label(&format!("read-only: {ro}")));
            }
        }
        "umount" | "mount" => {
            let mounted = c.mounted();
            if mounted != (ok == (op == "mount")) {
                return fail(label(&format!("mounted: {mounted}")));
            }
            // A mount that failed leaves the image as clean as the unmount before it did
            // (s_state with EXT2_VALID_FS), or the next mount warns about an unchecked fs.
            if op == "mount" && !ok {
                let state = sb_state(c).map_err(|e| label(&format!("reading s_state: {e}")))?;
                if state & 1 == 0 {
                    return fail(label(&format!("s_state {state:#x} after the failed mount: not clean")));
                }
            }
        }
        _ => unreachable!(),
    }
    Ok(())
}

/// Back to the state before `prepare` (no failure injected).
fn cleanup(c: &Ctx, op: &str) -> Check {
    let m = |e: io::Error| format!("cleanup {op}: {e}");
    match op {
        "create" => remove_any(&c.p("a/new")),
        "mkdir" => remove_any(&c.p("a/newdir")),
        "symlink" => remove_any(&c.p("a/newlink")),
        "link" => remove_any(&c.p("b/hard")),
        "unlink" => remove_any(&c.p("b/victim")),
        "rmdir" => remove_any(&c.p("b/vdir")),
        "rename" => {
            remove_any(&c.p("a/src"));
            remove_any(&c.p("b/dst"));
        }
        "rename-dir" => {
            remove_any(&c.p("a/sd"));
            remove_any(&c.p("b/sd2"));
        }
        "write" => remove_any(&c.p("w")),
        "truncate-down" | "truncate-up" => remove_any(&c.p("t")),
        "fallocate" => remove_any(&c.p("fa")),
        "mapwrite" => remove_any(&c.p("mw")),
        "fsync" => remove_any(&c.p("fs")),
        "remount" => {
            if sys::read_only(&c.mnt).map_err(m)? {
                sys::remount(&c.mnt, 0).map_err(m)?;
            }
        }
        "umount" | "mount" => c.ensure_mounted()?,
        _ => {}
    }
    Ok(())
}

#[derive(Default)]
struct Stats {
    points: u32,
    injected: u32,
    succeeded: u32,
    errors: BTreeMap<String, u32>,
    fscks: u32,
}

fn sweep(c: &Ctx, op: &str, max: u32, fsck_every: u32, st: &mut Stats) -> Check {
    // Only what may change the filesystem is followed by e2fsck.
    let modifies = !matches!(
        op,
        "lookup" | "readdir" | "read" | "bdev-read" | "bdev-write"
    );
    for n in 1..=max {
        prepare(c, op)?;
        let (res, left) = if op == "mapwrite" {
            map_write_child(c, n)?
        } else {
            c.nth.set(n);
            let res = run(c, op);
            let left = c.nth.left();
            c.nth.set(0);
            (res, left)
        };
        let injected = left == 0;
        if !injected {
            // Fewer than n points: the sweep is over, and this run had no failure.
            if let Err(e) = &res {
                return fail(format!("{op}: failed with no failure injected: {e}"));
            }
            verify(c, op, &res)?;
            cleanup(c, op)?;
            st.points = n - 1;
            return Ok(());
        }
        st.injected += 1;
        match &res {
            Ok(()) => st.succeeded += 1,
            Err(e) => {
                let name = errno_name(e);
                if name == "EUCLEAN" {
                    return fail(format!("{op}: failure {n} injected gave EUCLEAN: an allocation failure reported as corruption"));
                }
                *st.errors.entry(name).or_default() += 1;
            }
        }
        verify(c, op, &res)?;
        cleanup(c, op)?;
        if sys::read_only(&c.mnt).map_err(|e| e.to_string())? {
            return fail(format!(
                "{op}: failure {n} injected left the filesystem read-only"
            ));
        }
        if modifies && fsck_every > 0 && st.injected % fsck_every == 0 {
            c.fsck()
                .map_err(|e| format!("{op}: after failure {n} injected: {e}"))?;
            st.fscks += 1;
        }
    }
    fail(format!(
        "{op}: still reaching new fault points after {max} runs"
    ))
}

/// `mapwrite` in a child process: arms its own fail-nth, stores to a hole, reports.
fn map_write_child(c: &Ctx, n: u32) -> Result<(io::Result<()>, u32), String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(c.p("mw"))
        .map_err(|e| e.to_string())?;
    let ended = sys::in_child(|| {
        let Ok(nth) = FailNth::open() else { return 3 };
        nth.set(n);
        let r = sys::store_shared(&f, 64 << 10, 3 * 4096 + 5, 0x5a);
        let left = nth.left();
        nth.set(0);
        match (r, left) {
            (Ok(()), 0) => 1,
            (Ok(()), _) => 0,
            (Err(_), 0) => 2,
            (Err(_), _) => 4,
        }
    })
    .map_err(|e| e.to_string())?;
    let sigbus = || Err(io::Error::new(io::ErrorKind::Other, "SIGBUS"));
    Ok(match ended {
        sys::Ended::Exit(0) => (Ok(()), 1),
        sys::Ended::Exit(1) => (Ok(()), 0),
        sys::Ended::Exit(2) => (Err(io::Error::from_raw_os_error(12)), 0),
        sys::Ended::Signal(7) => (sigbus(), 0),
        sys::Ended::Exit(k) => return Err(format!("mapwrite: child exited {k}")),
        sys::Ended::Signal(s) => return Err(format!("mapwrite: child killed by signal {s}")),
    })
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: xipfault DEV MNT FSTYPE [OP...] [--max N] [--fsck-every K]\nOPs: {}",
        OPS.join(" ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return usage();
    }
    let (mut max, mut fsck_every, mut ops, mut bdev) = (2000u32, 1u32, Vec::new(), None);
    let mut i = 3;
    while i < args.len() {
        match args[i].as_str() {
            "--bdev" => {
                let Some(v) = args.get(i + 1) else {
                    return usage();
                };
                bdev = Some(PathBuf::from(v));
                i += 1;
            }
            "--max" | "--fsck-every" => {
                let Some(v) = args.get(i + 1).and_then(|v| v.parse().ok()) else {
                    return usage();
                };
                if args[i] == "--max" {
                    max = v
                } else {
                    fsck_every = v
                }
                i += 1;
            }
            op if OPS.contains(&op) => ops.push(op.to_string()),
            _ => return usage(),
        }
        i += 1;
    }
    if ops.is_empty() {
        ops = OPS
            .iter()
            .filter(|o| bdev.is_some() || !o.starts_with("bdev-"))
            .map(|s| s.to_string())
            .collect();
    }
    if bdev.is_none() && ops.iter().any(|o| o.starts_with("bdev-")) {
        return usage();
    }
    let mnt = PathBuf::from(&args[1]);
    let c = Ctx {
        dev: PathBuf::from(&args[0]),
        w: mnt.join("fi"),
        mnt,
        fstype: args[2].clone(),
        bdev,
        nth: match FailNth::open() {
            Ok(n) => n,
            Err(e) => {
                println!("FAIL: /proc/thread-self/fail-nth: {e} (a kernel without CONFIG_FAULT_INJECTION?)");
                return ExitCode::from(1);
            }
        },
    };
    if let Err(e) = setup(&c) {
        println!("FAIL: setup: {e}");
        return ExitCode::from(1);
    }
    let (mut points, mut injected, mut succeeded, mut errors) = (0, 0, 0, 0);
    for op in &ops {
        let mut st = Stats::default();
        let r = sweep(&c, op, max, fsck_every, &mut st);
        let errs: Vec<String> = st.errors.iter().map(|(k, v)| format!("{k} x{v}")).collect();
        let nerr: u32 = st.errors.values().sum();
        println!(
            "{op}: {} points, {} injected: {nerr} errors ({}), {} succeeded; e2fsck {} times",
            st.points,
            st.injected,
            if errs.is_empty() {
                "none".to_string()
            } else {
                errs.join(", ")
            },
            st.succeeded,
            st.fscks
        );
        if let Err(e) = r {
            println!("FAIL: {e}");
            return ExitCode::from(1);
        }
        if st.points == 0 {
            println!(
                "FAIL: {op}: no fault-injection point reached: is injection enabled (debugfs)?"
            );
            return ExitCode::from(1);
        }
        points += st.points;
        injected += st.injected;
        succeeded += st.succeeded;
        errors += nerr;
    }
    remove_any(&c.w);
    println!("xipfault total: {} operations, {points} points, {injected} failures injected: {errors} errors, {succeeded} succeeded", ops.len());
    ExitCode::SUCCESS
}
