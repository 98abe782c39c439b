// SPDX-License-Identifier: GPL-2.0
//! xipbench: the benchmark workloads that compare xipfs with other filesystems (and the
//! RAM block device it sits on with other backing stores), timed inside the guest.
//!
//! ```text
//! xipbench memcpy [--mib N]                       copy between two N MiB (default 256)
//!     anonymous buffers, both touched first: the memory bandwidth the others compare with
//! xipbench seq-read FILE [--direct]               1 MiB preads over the whole file
//! xipbench seq-write FILE --size BYTES [--direct] each run unlinks FILE, creates it and
//!     pwrites [0, BYTES) in 1 MiB requests, then fsyncs (all of it timed but the unlink)
//! xipbench rand-read FILE [--direct] [--ops N]    N (default 20000) 4 KiB preads at random
//!     4 KiB-aligned offsets of the existing file (a fixed seed: every run reads the same)
//! xipbench rand-write FILE [--direct] [--ops N]   the same with pwrite, then one fsync
//! xipbench fault FILE --mode shared-read|shared-write|private-write [--size BYTES] [--huge]
//!     map the first BYTES (default: the whole file) and touch one byte of every 4 KiB page,
//!     timing only the touching; --huge: at a 2 MiB-aligned address, with MADV_HUGEPAGE
//! xipbench exec [--count N] PROG [ARGS...]        run PROG N (default 200) times in a row
//! xipbench meta DIR [--files N]                   in the empty DIR, create N (default
//!     10000) files, stat each, unlink each
//! xipbench walk DIR                               readdir and lstat the whole tree, as find
//! xipbench cmd --name NAME [--setup SHELLCMD] -- PROG [ARGS...]
//!     time PROG; SHELLCMD runs with /bin/sh -c before every run, untimed
//! xipbench mem-read DIR                           read every regular file under DIR once
//! xipbench mem-snapshot [--tag T] [--backend L]   /proc/meminfo, in bytes
//! ```
//!
//! Every workload but mem-snapshot takes `--backend LABEL` (required; only copied into the
//! output) and, except mem-read (a single run), `--runs R` (default 5), and prints one JSON
//! object on one line (JSON Lines) on stdout:
//!
//! ```text
//! {"workload":"seq-read","backend":"xipfs","unit":"MiB/s","runs":[...R values...],
//!  "median":X,"min":X,"max":X,"lower_is_better":false, ...keys of the workload}
//! ```
//!
//! The unit of `cmd` is seconds (`"lower_is_better":true`) and its workload is NAME;
//! mem-snapshot prints `{"workload":"meminfo","tag":T,"memtotal":BYTES,...}`.  Numeric
//! arguments (BYTES, N) take a K, M or G suffix (powers of 1024).  Times come from
//! clock_gettime(CLOCK_MONOTONIC), fault counts from getrusage(RUSAGE_SELF).  The output of
//! the programs that `exec` and `cmd` run goes to stderr, so stdout holds only JSON.
//!
//! Errors print a message starting with `xipbench: ` on stderr and exit 1 (2 on a usage
//! error).  Only std, no crates: the few C functions std has no wrapper for are declared
//! below against glibc.  x86-64 Linux only (the constants and struct layouts).

use std::ffi::{c_int, c_long, c_void};
use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

// ---------------------------------------------------------------------------
// System calls
// ---------------------------------------------------------------------------

mod sys {
    use super::*;

    pub const PROT_NONE: c_int = 0;
    pub const PROT_READ: c_int = 1;
    pub const PROT_WRITE: c_int = 2;
    pub const MAP_SHARED: c_int = 1;
    pub const MAP_PRIVATE: c_int = 2;
    const MAP_FIXED: c_int = 0x10;
    const MAP_ANONYMOUS: c_int = 0x20;
    const MAP_NORESERVE: c_int = 0x4000;
    const MADV_HUGEPAGE: c_int = 14;
    pub const O_DIRECT: c_int = 0o40000;
    const CLOCK_MONOTONIC: c_int = 1;
    const RUSAGE_SELF: c_int = 0;

    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: c_long,
    }

    /// `struct rusage` on x86-64: two `struct timeval`s, then 14 longs from ru_maxrss on.
    #[repr(C)]
    struct Rusage {
        utime: [i64; 2],
        stime: [i64; 2],
        longs: [c_long; 14],
    }
    const RU_MINFLT: usize = 4;
    const RU_MAJFLT: usize = 5;

    extern "C" {
        fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
        fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
        fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            off: i64,
        ) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
        fn fork() -> c_int;
        fn execv(path: *const std::ffi::c_char, argv: *const *const std::ffi::c_char) -> c_int;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn dup2(old: c_int, new: c_int) -> c_int;
        fn _exit(code: c_int) -> !;
    }

    /// Runs `argv` with fork and execv (what a shell does; not posix_spawn, which std's
    /// Command may use), its stdout on our stderr, and returns its wait status.
    pub fn fork_exec_wait(argv: &[std::ffi::CString]) -> io::Result<c_int> {
        // Everything the child uses is made before the fork: it only calls async-signal-safe
        // functions.
        let mut ptrs: Vec<*const std::ffi::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        // SAFETY: The child only calls dup2, execv and _exit on memory prepared above.
        let pid = unsafe { fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: In the child: `ptrs` is a NULL-terminated array of NUL-terminated
            // strings that live until execv replaces the process or _exit ends it.
            unsafe {
                dup2(2, 1);
                execv(ptrs[0], ptrs.as_ptr());
                _exit(127);
            }
        }
        let mut status: c_int = 0;
        loop {
            // SAFETY: `status` is a valid int to write to; `pid` is our child.
            let r = unsafe { waitpid(pid, &mut status, 0) };
            if r == pid {
                return Ok(status);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// CLOCK_MONOTONIC in nanoseconds.
    pub fn now_ns() -> u64 {
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `ts` is a valid timespec to write to.
        let r = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
        assert_eq!(r, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
        ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
    }

    /// (minor, major) page faults of this process so far.
    pub fn faults() -> (u64, u64) {
        let mut ru = Rusage {
            utime: [0; 2],
            stime: [0; 2],
            longs: [0; 14],
        };
        // SAFETY: `ru` is a valid, large enough struct rusage to write to.
        let r = unsafe { getrusage(RUSAGE_SELF, &mut ru) };
        assert_eq!(r, 0, "getrusage(RUSAGE_SELF) failed");
        (ru.longs[RU_MINFLT] as u64, ru.longs[RU_MAJFLT] as u64)
    }

    fn check(p: *mut c_void) -> io::Result<usize> {
        if p as isize == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(p as usize)
        }
    }

    /// An inaccessible anonymous mapping of `len` bytes that only reserves address space.
    pub fn reserve(len: usize) -> io::Result<usize> {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        // SAFETY: a new mapping at an address the kernel picks; nothing existing is replaced.
        check(unsafe { mmap(std::ptr::null_mut(), len, PROT_NONE, flags, -1, 0) })
    }

    /// A mapping of `len` bytes of file `fd` from offset 0, where the kernel puts it.
    pub fn map_file(len: usize, prot: c_int, flags: c_int, fd: c_int) -> io::Result<usize> {
        // SAFETY: a new mapping at an address the kernel picks; nothing existing is replaced.
        check(unsafe { mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) })
    }

    /// A mapping of `len` bytes of file `fd` from offset 0 at exactly `addr`.
    ///
    /// # Safety
    /// `[addr, addr + len)` must belong to a mapping of the caller that nothing refers to:
    /// MAP_FIXED replaces whatever is mapped there.
    pub unsafe fn map_file_at(
        addr: usize,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
    ) -> io::Result<usize> {
        // SAFETY: the caller's promise.
        check(unsafe { mmap(addr as *mut c_void, len, prot, flags | MAP_FIXED, fd, 0) })
    }

    /// Unmaps `[addr, addr + len)`.
    ///
    /// # Safety
    /// The range must be the caller's mapping, and nothing may use it afterwards.
    pub unsafe fn unmap(addr: usize, len: usize) {
        // SAFETY: the caller's promise.
        unsafe { munmap(addr as *mut c_void, len) };
    }

    /// MADV_HUGEPAGE on a mapping of ours; false when the kernel refuses (no THP, or not for
    /// this kind of mapping), which is only advice lost.
    pub fn advise_huge(addr: usize, len: usize) -> bool {
        // SAFETY: advice only; it changes no content and the range is a mapping of ours.
        unsafe { madvise(addr as *mut c_void, len, MADV_HUGEPAGE) == 0 }
    }
}

// ---------------------------------------------------------------------------
// Errors, numbers, statistics and JSON
// ---------------------------------------------------------------------------

enum Error {
    /// Bad command line: exit 2.
    Usage(String),
    /// A failure while running a workload: exit 1.
    Run(String),
    /// `--help`: the usage on stdout, exit 0.
    Help,
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::Run(s)
    }
}

type Res<T> = Result<T, Error>;

fn usage_err<T>(msg: impl Into<String>) -> Res<T> {
    Err(Error::Usage(msg.into()))
}

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(Error::Run(msg.into()))
}

/// "open /x/y: No such file or directory (os error 2)" style messages.
fn io_err(what: &str, path: &Path, e: io::Error) -> Error {
    Error::Run(format!("{what} {}: {e}", path.display()))
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const PAGE: usize = 4096;
const HUGE: usize = 2 << 20;

/// A decimal count with an optional K, M or G suffix (powers of 1024).
fn parse_num(s: &str) -> Option<u64> {
    let (digits, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], KIB),
        b'm' | b'M' => (&s[..s.len() - 1], MIB),
        b'g' | b'G' => (&s[..s.len() - 1], 1024 * MIB),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Seconds between two `sys::now_ns` readings, never 0 (rates stay finite).
fn seconds(start: u64, end: u64) -> f64 {
    (end.saturating_sub(start) as f64 / 1e9).max(1e-9)
}

/// Median (mean of the two middle values for an even count), min and max.
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

fn median_u64(v: &[u64]) -> f64 {
    stats(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()).0
}

/// A JSON value: just what the output needs.
enum Json {
    Str(String),
    Num(f64),
    Int(u64),
    Bool(bool),
    Arr(Vec<Json>),
    Null,
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Json {
    fn encode(&self, out: &mut String) {
        match self {
            Json::Str(s) => json_str(s, out),
            Json::Num(x) if x.is_finite() => out.push_str(&format!("{x:.3}")),
            Json::Num(_) | Json::Null => out.push_str("null"),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Arr(v) => {
                out.push('[');
                for (i, j) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    j.encode(out);
                }
                out.push(']');
            }
        }
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<f64> for Json {
    fn from(x: f64) -> Json {
        Json::Num(x)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Int(n)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl<T: Clone + Into<Json>> From<&[T]> for Json {
    fn from(v: &[T]) -> Json {
        Json::Arr(v.iter().map(|x| x.clone().into()).collect())
    }
}

impl From<&[String]> for Json {
    fn from(v: &[String]) -> Json {
        Json::Arr(v.iter().map(|s| Json::from(s.as_str())).collect())
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        o.map_or(Json::Null, Into::into)
    }
}

/// One JSON object, its keys in the order they are added, printed as one line.
struct Line(Vec<(String, Json)>);

impl Line {
    fn key(mut self, k: &str, v: impl Into<Json>) -> Line {
        self.0.push((k.to_string(), v.into()));
        self
    }

    fn print(self) {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(k, &mut out);
            out.push(':');
            v.encode(&mut out);
        }
        out.push('}');
        println!("{out}");
    }
}

/// The start of a workload's result line: its runs and their statistics.  Only times
/// (unit "s") are better lower; the workload's own keys follow.
fn result(workload: &str, backend: &str, unit: &str, runs: &[f64]) -> Line {
    let (median, min, max) = stats(runs);
    Line(vec![])
        .key("workload", workload)
        .key("backend", backend)
        .key("unit", unit)
        .key("runs", runs)
        .key("median", median)
        .key("min", min)
        .key("max", max)
        .key("lower_is_better", unit == "s")
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// Where a subcommand's own options end.
#[derive(PartialEq)]
enum Stop {
    /// Options and operands mix freely (`--` ends the options).
    Never,
    /// At the first operand: it and everything after are the program to run (`exec`).
    FirstOperand,
    /// At `--`: everything after is the program to run (`cmd`).
    DoubleDash,
}

struct Args {
    sub: String,
    operands: Vec<String>,
    opts: Vec<(String, Option<String>)>,
    /// The program and its arguments, for `exec` and `cmd`.
    tail: Vec<String>,
}

/// Parses the arguments of subcommand `sub`; `spec` lists its options (without `--`) and
/// whether each takes a value (`--opt VALUE` or `--opt=VALUE`).
fn parse(sub: &str, args: &[String], spec: &[(&str, bool)], stop: Stop) -> Res<Args> {
    let mut a = Args {
        sub: sub.into(),
        operands: vec![],
        opts: vec![],
        tail: vec![],
    };
    let mut i = 0;
    let mut options_done = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if options_done || !arg.starts_with("--") || arg == "-" {
            if stop == Stop::FirstOperand {
                a.tail = args[i - 1..].to_vec();
                return Ok(a);
            }
            a.operands.push(arg.clone());
            continue;
        }
        if arg == "--" {
            if stop == Stop::DoubleDash {
                a.tail = args[i..].to_vec();
                return Ok(a);
            }
            options_done = true;
            continue;
        }
        if arg == "--help" {
            return Err(Error::Help);
        }
        let (name, inline) = match arg[2..].split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (&arg[2..], None),
        };
        let Some(&(_, takes_value)) = spec.iter().find(|(n, _)| *n == name) else {
            return usage_err(format!("{sub}: unknown option --{name}"));
        };
        if a.opts.iter().any(|(n, _)| n == name) {
            return usage_err(format!("{sub}: --{name} given twice"));
        }
        let value = match (takes_value, inline) {
            (false, None) => None,
            (false, Some(_)) => return usage_err(format!("{sub}: --{name} takes no value")),
            (true, Some(v)) => Some(v),
            (true, None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    Some(v.clone())
                }
                None => return usage_err(format!("{sub}: --{name} needs a value")),
            },
        };
        a.opts.push((name.to_string(), value));
    }
    if stop == Stop::DoubleDash {
        return usage_err(format!("{sub}: missing `-- PROG [ARGS...]`"));
    }
    Ok(a)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    fn num(&self, name: &str, default: u64) -> Res<u64> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => match parse_num(s) {
                Some(n) if n > 0 => Ok(n),
                _ => usage_err(format!(
                    "{}: --{name}: not a positive number: {s:?}",
                    self.sub
                )),
            },
        }
    }

    fn backend(&self) -> Res<String> {
        match self.get("backend") {
            Some(b) => Ok(b.to_string()),
            None => usage_err(format!("{}: --backend LABEL is required", self.sub)),
        }
    }

    fn runs(&self) -> Res<usize> {
        Ok(self.num("runs", 5)? as usize)
    }

    /// Exactly the operands `names` (e.g. `["FILE"]`, or none).
    fn operands(&self, names: &[&str]) -> Res<&[String]> {
        let sub = &self.sub;
        if let Some(extra) = self.operands.get(names.len()) {
            return usage_err(format!("{sub}: unexpected operand {extra:?}"));
        }
        if let Some(missing) = names.get(self.operands.len()) {
            return usage_err(format!("{sub}: missing operand {missing}"));
        }
        Ok(&self.operands)
    }
}

/// Options of the timed workloads.
const COMMON: [(&str, bool); 2] = [("backend", true), ("runs", true)];

fn with_common<'a>(own: &[(&'a str, bool)]) -> Vec<(&'a str, bool)> {
    let mut v = COMMON.to_vec();
    v.extend_from_slice(own);
    v
}

// ---------------------------------------------------------------------------
// Buffers, files, trees
// ---------------------------------------------------------------------------

/// A heap buffer aligned to 4096 bytes (as O_DIRECT needs), filled with `fill`.
struct Aligned {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl Aligned {
    fn new(len: usize, fill: u8) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len, PAGE).expect("buffer layout");
        // SAFETY: `layout` has a non-zero size (every caller asks for at least a page).
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` points to `len` bytes we own.
        unsafe { std::ptr::write_bytes(ptr, fill, len) };
        Aligned { ptr, layout }
    }

    fn get(&self) -> &[u8] {
        // SAFETY: `ptr` holds `layout.size()` initialized bytes, borrowed with `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    fn get_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `get`, borrowed mutably with `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

fn open_file(path: &Path, write: bool, create: bool, direct: bool) -> Res<File> {
    let mut o = OpenOptions::new();
    if write {
        o.write(true);
    } else {
        o.read(true);
    }
    if create {
        o.create(true).truncate(true);
    }
    if direct {
        o.custom_flags(sys::O_DIRECT);
    }
    let what = if direct { "open (O_DIRECT)" } else { "open" };
    o.open(path).map_err(|e| io_err(what, path, e))
}

fn file_size(f: &File, path: &Path) -> Res<u64> {
    Ok(f.metadata().map_err(|e| io_err("fstat", path, e))?.len())
}

/// Walks the tree at `root` like `find`: lstat of `root` and of every entry of every
/// directory below (symbolic links are not followed); calls `on_file` for each regular
/// file.  Returns the number of entries, `root` included.
fn walk_tree(root: &Path, mut on_file: impl FnMut(&Path) -> Res<()>) -> Res<u64> {
    let md = fs::symlink_metadata(root).map_err(|e| io_err("lstat", root, e))?;
    if !md.is_dir() {
        return fail(format!("{}: not a directory", root.display()));
    }
    let mut entries = 1;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let rd = fs::read_dir(&dir).map_err(|e| io_err("opendir", &dir, e))?;
        for e in rd {
            let p = e.map_err(|e| io_err("readdir", &dir, e))?.path();
            let md = fs::symlink_metadata(&p).map_err(|e| io_err("lstat", &p, e))?;
            entries += 1;
            if md.is_dir() {
                dirs.push(p);
            } else if md.is_file() {
                on_file(&p)?;
            }
        }
    }
    Ok(entries)
}

/// A Stdio that is our stderr, for the output of the programs we run.
fn to_stderr() -> Res<Stdio> {
    let fd = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("dup stderr: {e}"))?;
    Ok(Stdio::from(fd))
}

/// Runs `argv` and waits for it; it must exit 0.
fn run_checked(argv: &[String]) -> Res<()> {
    let st = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(to_stderr()?)
        .status()
        .map_err(|e| format!("run {}: {e}", argv[0]))?;
    if !st.success() {
        return fail(format!("{} failed: {st}", argv.join(" ")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------

fn memcpy(a: &Args) -> Res<()> {
    a.operands(&[])?;
    let (backend, runs) = (a.backend()?, a.runs()?);
    let mib = a.num("mib", 256)?;
    let len = usize::try_from(mib * MIB).map_err(|_| format!("--mib {mib}: too large"))?;
    // Filling them touches every page of both buffers before any timing.
    let src = vec![0x5au8; len];
    let mut dst = vec![0xa5u8; len];
    let mut res = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = sys::now_ns();
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
        res.push(mib as f64 / seconds(t0, sys::now_ns()));
    }
    if dst[len - 1] != 0x5a {
        return fail("memcpy: the copy did not happen");
    }
    result("memcpy", &backend, "MiB/s", &res)
        .key("bytes", mib * MIB)
        .key("mib", mib)
        .print();
    Ok(())
}

fn seq_read(a: &Args) -> Res<()> {
    let path = PathBuf::from(&a.operands(&["FILE"])?[0]);
    let (backend, runs, direct) = (a.backend()?, a.runs()?, a.flag("direct"));
    let mut buf = Aligned::new(MIB as usize, 0);
    let mut res = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let f = open_file(&path, false, false, direct)?;
        let size = file_size(&f, &path)?;
        let t0 = sys::now_ns();
        let mut off = 0u64;
        while off < size {
            match f.read_at(buf.get_mut(), off) {
                Ok(0) => break,
                Ok(n) => off += n as u64,
                Err(e) => return Err(io_err(&format!("pread at {off} of"), &path, e)),
            }
        }
        let t = seconds(t0, sys::now_ns());
        if off < size {
            return fail(format!(
                "{}: read {off} of {size} bytes: early end of file",
                path.display()
            ));
        }
        bytes = off;
        res.push(off as f64 / MIB as f64 / t);
    }
    result("seq-read", &backend, "MiB/s", &res)
        .key("bytes", bytes)
        .key("request", MIB)
        .key("direct", direct)
        .print();
    Ok(())
}

fn seq_write(a: &Args) -> Res<()> {
    let path = PathBuf::from(&a.operands(&["FILE"])?[0]);
    let (backend, runs, direct) = (a.backend()?, a.runs()?, a.flag("direct"));
    if a.get("size").is_none() {
        return usage_err("seq-write: --size BYTES is required");
    }
    let size = a.num("size", 0)?;
    if direct && size % PAGE as u64 != 0 {
        return usage_err(format!(
            "seq-write: --direct needs a multiple of {PAGE} as --size"
        ));
    }
    let buf = Aligned::new(MIB as usize, 0x6b);
    let mut res = Vec::with_capacity(runs);
    for _ in 0..runs {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("unlink", &path, e)),
        }
        let t0 = sys::now_ns();
        let f = open_file(&path, true, true, direct)?;
        for off in (0..size).step_by(MIB as usize) {
            let n = (size - off).min(MIB) as usize;
            let what = || format!("pwrite at {off} of");
            f.write_all_at(&buf.get()[..n], off)
                .map_err(|e| io_err(&what(), &path, e))?;
        }
        f.sync_all().map_err(|e| io_err("fsync", &path, e))?;
        drop(f);
        res.push(size as f64 / MIB as f64 / seconds(t0, sys::now_ns()));
    }
    result("seq-write", &backend, "MiB/s", &res)
        .key("bytes", size)
        .key("request", MIB)
        .key("direct", direct)
        .print();
    Ok(())
}

/// xorshift64: a fixed, cheap sequence of offsets, the same for every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        ((x as u128 * n as u128) >> 64) as u64
    }
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn rand_io(a: &Args, write: bool) -> Res<()> {
    let (name, verb) = if write {
        ("rand-write", "pwrite")
    } else {
        ("rand-read", "pread")
    };
    let path = PathBuf::from(&a.operands(&["FILE"])?[0]);
    let (backend, runs, direct) = (a.backend()?, a.runs()?, a.flag("direct"));
    let ops = a.num("ops", 20000)?;
    let mut buf = Aligned::new(PAGE, 0x3c);
    let mut res = Vec::with_capacity(runs);
    let mut size = 0;
    for _ in 0..runs {
        let f = open_file(&path, write, false, direct)?;
        size = file_size(&f, &path)?;
        let pages = size / PAGE as u64;
        if pages == 0 {
            return fail(format!(
                "{}: smaller than one 4 KiB block ({size} bytes)",
                path.display()
            ));
        }
        let mut rng = Rng(SEED);
        let t0 = sys::now_ns();
        for _ in 0..ops {
            let off = rng.below(pages) * PAGE as u64;
            let r = if write {
                f.write_at(buf.get(), off)
            } else {
                f.read_at(buf.get_mut(), off)
            };
            match r {
                Ok(PAGE) => {}
                Ok(n) => {
                    let what = format!("{verb} at {off}: {n} bytes, not {PAGE}");
                    return fail(format!("{}: {what}", path.display()));
                }
                Err(e) => return Err(io_err(&format!("{verb} at {off} of"), &path, e)),
            }
        }
        if write {
            f.sync_all().map_err(|e| io_err("fsync", &path, e))?;
        }
        res.push(ops as f64 / seconds(t0, sys::now_ns()));
    }
    result(name, &backend, "ops/s", &res)
        .key("ops", ops)
        .key("request", PAGE as u64)
        .key("file_bytes", size)
        .key("direct", direct)
        .print();
    Ok(())
}

/// A file mapping, unmapped on drop.
struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    /// Maps the first `len` bytes of `f`; with `huge`, at a 2 MiB-aligned address: a
    /// reservation 2 MiB longer is made, the file mapped over it with MAP_FIXED at the first
    /// aligned address inside, and what is left of the reservation on either side unmapped.
    fn new(f: &File, len: usize, prot: c_int, flags: c_int, huge: bool) -> io::Result<Mapping> {
        let len = round_up(len, PAGE);
        let fd = f.as_raw_fd();
        if !huge {
            return Ok(Mapping {
                addr: sys::map_file(len, prot, flags, fd)?,
                len,
            });
        }
        let res_len = len + HUGE;
        let res = sys::reserve(res_len)?;
        let aligned = round_up(res, HUGE);
        // SAFETY: [aligned, aligned + len) lies inside the reservation just made, which
        // nothing else knows of.
        let addr = match unsafe { sys::map_file_at(aligned, len, prot, flags, fd) } {
            Ok(addr) => addr,
            Err(e) => {
                // SAFETY: the reservation is ours and unused.
                unsafe { sys::unmap(res, res_len) };
                return Err(e);
            }
        };
        // SAFETY: the head and tail left of the reservation are ours and unused.
        unsafe {
            if aligned > res {
                sys::unmap(res, aligned - res);
            }
            if res + res_len > aligned + len {
                sys::unmap(aligned + len, res + res_len - (aligned + len));
            }
        }
        sys::advise_huge(addr, len);
        Ok(Mapping { addr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: only raw pointers into the mapping were made, and none outlives `self`.
        unsafe { sys::unmap(self.addr, self.len) }
    }
}

fn fault(a: &Args) -> Res<()> {
    let path = PathBuf::from(&a.operands(&["FILE"])?[0]);
    let (backend, runs, huge) = (a.backend()?, a.runs()?, a.flag("huge"));
    let mode = a.get("mode").unwrap_or("");
    let (shared, write) = match mode {
        "shared-read" => (true, false),
        "shared-write" => (true, true),
        "private-write" => (false, true),
        _ => return usage_err("fault: --mode must be shared-read, shared-write or private-write"),
    };
    let f = open_file(&path, false, false, false)?;
    let fsize = file_size(&f, &path)?;
    drop(f);
    let size = match a.get("size") {
        Some(_) => a.num("size", 0)?,
        None => fsize / PAGE as u64 * PAGE as u64,
    };
    if size == 0 || size > fsize {
        return fail(format!(
            "{}: {fsize} bytes long, cannot map {size} bytes of it",
            path.display()
        ));
    }
    let len = usize::try_from(size).map_err(|_| format!("--size {size}: too large"))?;
    let pages = len.div_ceil(PAGE);
    let prot = if write {
        sys::PROT_READ | sys::PROT_WRITE
    } else {
        sys::PROT_READ
    };
    let flags = if shared {
        sys::MAP_SHARED
    } else {
        sys::MAP_PRIVATE
    };
    let (mut res, mut minor, mut major) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let mut o = OpenOptions::new();
        o.read(true).write(shared && write);
        let f = o.open(&path).map_err(|e| io_err("open", &path, e))?;
        let m = Mapping::new(&f, len, prot, flags, huge).map_err(|e| io_err("mmap", &path, e))?;
        let base = m.addr as *mut u8;
        let mut sum = 0u64;
        let (min0, maj0) = sys::faults();
        let t0 = sys::now_ns();
        if write {
            for i in 0..pages {
                // SAFETY: page i lies inside the writable mapping `m`, and the file reaches
                // into every mapped page (it is at least `len` bytes long).
                unsafe { std::ptr::write_volatile(base.add(i * PAGE), 0x5a) };
            }
        } else {
            for i in 0..pages {
                // SAFETY: as above, for reading.
                sum += unsafe { std::ptr::read_volatile(base.add(i * PAGE)) } as u64;
            }
        }
        let t1 = sys::now_ns();
        let (min1, maj1) = sys::faults();
        black_box(sum);
        drop(m);
        drop(f);
        res.push(pages as f64 / seconds(t0, t1));
        minor.push(min1 - min0);
        major.push(maj1 - maj0);
    }
    let faults = median_u64(&minor);
    let fault_kib = (faults > 0.0).then(|| size as f64 / 1024.0 / faults);
    result("fault", &backend, "pages/s", &res)
        .key("mode", mode)
        .key("huge", huge)
        .key("bytes", size)
        .key("pages", pages as u64)
        .key("faults", faults)
        .key("fault_kib", fault_kib)
        .key("major_faults", median_u64(&major))
        .key("fault_runs", &minor[..])
        .print();
    Ok(())
}

fn exec(a: &Args) -> Res<()> {
    a.operands(&[])?;
    if a.tail.is_empty() {
        return usage_err("exec: missing PROG");
    }
    let (backend, runs) = (a.backend()?, a.runs()?);
    let count = a.num("count", 200)?;
    let argv = a
        .tail
        .iter()
        .map(|s| std::ffi::CString::new(s.as_str()).map_err(|_| format!("exec: NUL in {s:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut res = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = sys::now_ns();
        for _ in 0..count {
            // PROG is a path (execv does not search PATH); status 127: it could not be run.
            match sys::fork_exec_wait(&argv) {
                Ok(0) => {}
                Ok(st) => return fail(format!("{} failed: wait status {st:#x}", a.tail.join(" "))),
                Err(e) => return fail(format!("fork {}: {e}", a.tail[0])),
            }
        }
        res.push(count as f64 / seconds(t0, sys::now_ns()));
    }
    result("exec", &backend, "execs/s", &res)
        .key("count", count)
        .key("command", &a.tail[..])
        .print();
    Ok(())
}

fn dir_is_empty(dir: &Path) -> Res<bool> {
    let mut rd = fs::read_dir(dir).map_err(|e| io_err("opendir", dir, e))?;
    Ok(rd.next().is_none())
}

fn meta(a: &Args) -> Res<()> {
    let dir = PathBuf::from(&a.operands(&["DIR"])?[0]);
    let (backend, runs) = (a.backend()?, a.runs()?);
    let n = a.num("files", 10000)?;
    if !dir_is_empty(&dir)? {
        return fail(format!("{}: not empty", dir.display()));
    }
    let names: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("f{i:07}"))).collect();
    let (mut res, mut creates, mut stats_, mut unlinks) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        let t0 = sys::now_ns();
        for p in &names {
            let f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(p);
            drop(f.map_err(|e| io_err("create", p, e))?);
        }
        let t1 = sys::now_ns();
        for p in &names {
            black_box(fs::metadata(p).map_err(|e| io_err("stat", p, e))?);
        }
        let t2 = sys::now_ns();
        for p in &names {
            fs::remove_file(p).map_err(|e| io_err("unlink", p, e))?;
        }
        let t3 = sys::now_ns();
        let nf = n as f64;
        res.push(nf / seconds(t0, t3));
        creates.push(nf / seconds(t0, t1));
        stats_.push(nf / seconds(t1, t2));
        unlinks.push(nf / seconds(t2, t3));
    }
    result("meta", &backend, "files/s", &res)
        .key("files", n)
        .key("create_per_s", stats(&creates).0)
        .key("stat_per_s", stats(&stats_).0)
        .key("unlink_per_s", stats(&unlinks).0)
        .print();
    Ok(())
}

fn walk(a: &Args) -> Res<()> {
    let dir = PathBuf::from(&a.operands(&["DIR"])?[0]);
    let (backend, runs) = (a.backend()?, a.runs()?);
    let (mut res, mut entries) = (Vec::with_capacity(runs), 0);
    for _ in 0..runs {
        let t0 = sys::now_ns();
        entries = walk_tree(&dir, |_| Ok(()))?;
        res.push(entries as f64 / seconds(t0, sys::now_ns()));
    }
    result("walk", &backend, "entries/s", &res)
        .key("entries", entries)
        .print();
    Ok(())
}

fn cmd(a: &Args) -> Res<()> {
    a.operands(&[])?;
    if a.tail.is_empty() {
        return usage_err("cmd: missing PROG after `--`");
    }
    let (backend, runs) = (a.backend()?, a.runs()?);
    let Some(name) = a.get("name") else {
        return usage_err("cmd: --name NAME is required");
    };
    let setup = a.get("setup");
    let mut res = Vec::with_capacity(runs);
    for _ in 0..runs {
        if let Some(s) = setup {
            run_checked(&["/bin/sh".into(), "-c".into(), s.into()]).map_err(|e| match e {
                Error::Run(m) => Error::Run(format!("--setup: {m}")),
                e => e,
            })?;
        }
        let t0 = sys::now_ns();
        run_checked(&a.tail)?;
        res.push(seconds(t0, sys::now_ns()));
    }
    result(name, &backend, "s", &res)
        .key("command", &a.tail[..])
        .key("setup", setup)
        .print();
    Ok(())
}

fn mem_read(a: &Args) -> Res<()> {
    let dir = PathBuf::from(&a.operands(&["DIR"])?[0]);
    let backend = a.backend()?;
    let mut buf = vec![0u8; MIB as usize];
    let (mut bytes, mut files) = (0u64, 0u64);
    let t0 = sys::now_ns();
    let entries = walk_tree(&dir, |p| {
        let mut f = File::open(p).map_err(|e| io_err("open", p, e))?;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read", p, e)),
            }
        }
        files += 1;
        Ok(())
    })?;
    let t = seconds(t0, sys::now_ns());
    result("mem-read", &backend, "bytes", &[bytes as f64])
        .key("bytes", bytes)
        .key("files", files)
        .key("entries", entries)
        .key("seconds", t)
        .print();
    Ok(())
}

/// /proc/meminfo fields reported, and their output keys.
const MEMINFO: [&str; 9] = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Cached",
    "Shmem",
    "Buffers",
    "Slab",
    "AnonPages",
    "Mapped",
];

fn mem_snapshot(a: &Args) -> Res<()> {
    a.operands(&[])?;
    let text =
        fs::read_to_string("/proc/meminfo").map_err(|e| format!("read /proc/meminfo: {e}"))?;
    let mut line = Line(vec![]).key("workload", "meminfo");
    if let Some(t) = a.get("tag") {
        line = line.key("tag", t);
    }
    if let Some(b) = a.get("backend") {
        line = line.key("backend", b);
    }
    for name in MEMINFO {
        // "MemTotal:       16303212 kB"; a field this kernel lacks is null.
        let value = text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            if k != name {
                return None;
            }
            let mut w = v.split_whitespace();
            let n: u64 = w.next()?.parse().ok()?;
            Some(match w.next() {
                Some("kB") => n * KIB,
                _ => n,
            })
        });
        line = line.key(&name.to_lowercase(), value);
    }
    line.print();
    Ok(())
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

const USAGE: &str = "\
usage: xipbench memcpy [--mib N]
       xipbench seq-read FILE [--direct]
       xipbench seq-write FILE --size BYTES [--direct]
       xipbench rand-read FILE [--direct] [--ops N]
       xipbench rand-write FILE [--direct] [--ops N]
       xipbench fault FILE --mode shared-read|shared-write|private-write [--size BYTES] [--huge]
       xipbench exec [--count N] PROG [ARGS...]
       xipbench meta DIR [--files N]
       xipbench walk DIR
       xipbench cmd --name NAME [--setup SHELLCMD] -- PROG [ARGS...]
       xipbench mem-read DIR
       xipbench mem-snapshot [--tag T] [--backend LABEL]
All but mem-snapshot need --backend LABEL; all but mem-read and mem-snapshot take --runs R
(default 5).  Options go before PROG (exec) or `--` (cmd).  BYTES and N take a K, M or G
suffix.  One JSON line on stdout per workload:
  {\"workload\":W,\"backend\":LABEL,\"unit\":U,\"runs\":[...],\"median\":X,\"min\":X,\"max\":X,
   \"lower_is_better\":false,...}
  memcpy      MiB/s     copy between two N MiB (default 256) anonymous buffers
  seq-read    MiB/s     1 MiB preads over the whole file (O_DIRECT with --direct)
  seq-write   MiB/s     unlink, create, 1 MiB pwrites over [0, BYTES), fsync
  rand-read   ops/s     N (default 20000) 4 KiB preads at random 4 KiB-aligned offsets
  rand-write  ops/s     the same with pwrite, then fsync
  fault       pages/s   touch a byte of every 4 KiB page of a mapping of BYTES (default:
                        the whole file); --huge: 2 MiB-aligned, MADV_HUGEPAGE; keys
                        faults (median minor faults per run), fault_kib, pages
  exec        execs/s   run PROG N (default 200) times, each must exit 0
  meta        files/s   in the empty DIR create, stat, then unlink N (default 10000) files
  walk        entries/s readdir and lstat every entry of the tree (symlinks not followed)
  cmd         s         one run of PROG (lower is better); SHELLCMD (/bin/sh -c) before
                        each run, untimed; the workload is NAME
  mem-read    bytes     read every regular file under DIR once (one run)
  mem-snapshot          /proc/meminfo fields in bytes: {\"workload\":\"meminfo\",\"tag\":T,...}";

fn run(args: &[String]) -> Res<()> {
    let Some((sub, rest)) = args.split_first() else {
        return usage_err("no subcommand");
    };
    let sub = sub.as_str();
    match sub {
        "--help" | "-h" | "help" => Err(Error::Help),
        "memcpy" => memcpy(&parse(
            sub,
            rest,
            &with_common(&[("mib", true)]),
            Stop::Never,
        )?),
        "seq-read" => seq_read(&parse(
            sub,
            rest,
            &with_common(&[("direct", false)]),
            Stop::Never,
        )?),
        "seq-write" => seq_write(&parse(
            sub,
            rest,
            &with_common(&[("direct", false), ("size", true)]),
            Stop::Never,
        )?),
        "rand-read" | "rand-write" => rand_io(
            &parse(
                sub,
                rest,
                &with_common(&[("direct", false), ("ops", true)]),
                Stop::Never,
            )?,
            sub == "rand-write",
        ),
        "fault" => fault(&parse(
            sub,
            rest,
            &with_common(&[("mode", true), ("size", true), ("huge", false)]),
            Stop::Never,
        )?),
        "exec" => exec(&parse(
            sub,
            rest,
            &with_common(&[("count", true)]),
            Stop::FirstOperand,
        )?),
        "meta" => meta(&parse(
            sub,
            rest,
            &with_common(&[("files", true)]),
            Stop::Never,
        )?),
        "walk" => walk(&parse(sub, rest, &COMMON, Stop::Never)?),
        "cmd" => cmd(&parse(
            sub,
            rest,
            &with_common(&[("name", true), ("setup", true)]),
            Stop::DoubleDash,
        )?),
        "mem-read" => mem_read(&parse(sub, rest, &[("backend", true)], Stop::Never)?),
        "mem-snapshot" => mem_snapshot(&parse(
            sub,
            rest,
            &[("tag", true), ("backend", true)],
            Stop::Never,
        )?),
        _ => usage_err(format!("unknown subcommand {sub:?}")),
    }
}

fn main() -> ExitCode {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(a) => {
                eprintln!("xipbench: argument {a:?} is not UTF-8");
                return ExitCode::from(2);
            }
        }
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(Error::Usage(m)) => {
            eprintln!("xipbench: {m} (see xipbench --help)");
            ExitCode::from(2)
        }
        Err(Error::Run(m)) => {
            eprintln!("xipbench: {m}");
            ExitCode::from(1)
        }
    }
}
