// SPDX-License-Identifier: GPL-2.0
//! xiptree: the test tree of the xipfs tests, its manifest, and its checker.
//!
//! ```text
//! xiptree build DIR                     create the test tree in DIR (run as root)
//! xiptree manifest DIR > FILE           describe every entry of DIR
//! xiptree verify [--skip FIELD]... MANIFEST ROOT
//!                                       check ROOT (e.g. the mounted image) against it
//! ```
//!
//! The tree is built on the host, copied into an ext2 image with `mke2fs -d`,
//! and described by a manifest made on the host; in the test guest, `verify`
//! walks the mounted image (the kernel's ext2 today, xipfs later) and compares
//! every entry with the manifest.  One static binary does all three, so the
//! host and the guest agree on the walk, the escaping and the hash.
//!
//! # Manifest format (version 1)
//!
//! A text file.  The first line is `# xiptree manifest v1`, the last line is
//! `# end N entries` (so that a truncated manifest is refused); lines starting
//! with `#` are comments.  Every other line describes one entry:
//!
//! ```text
//! PATH type=TYPE mode=MODE uid=U gid=G nlink=N [size=S] mtime=T atime=T ctime=T [EXTRA]
//! ```
//!
//! separated by single spaces, one line per entry in walk order: the root is
//! `/`, then each directory's entries sorted by the bytes of their names, a
//! directory's subtree right after the directory; symlinks are not followed.
//!
//! - PATH is the path from the root, starting with `/`.  It and symlink targets
//!   are escaped: every byte outside `!`..`~` (space, control bytes, bytes of
//!   UTF-8 sequences or of invalid UTF-8), and `%` itself, is written `%XX`
//!   (two upper-case hex digits), so a line never holds a space or newline
//!   that is part of a name.
//! - TYPE is one of `file dir symlink chr blk fifo sock`.
//! - MODE is the permission bits with setuid/setgid/sticky, 4 octal digits.
//! - mtime, atime, ctime are seconds since the epoch (no nanoseconds: mke2fs
//!   does not copy them).
//! - size is the file size (st_size).  Directories have no size: their size
//!   on the image is what mke2fs made of them, unrelated to the host's.
//! - EXTRA, by type: `hash=H` for regular files (16 hex digits, see below),
//!   `target=T` (escaped) for symlinks, `rdev=MAJOR:MINOR` for devices.
//! - `link=P` (last) when the entry is the same inode (st_dev, st_ino) as the
//!   earlier path P of the walk: a hard link.  Inode numbers themselves are
//!   not recorded, they differ between the tree and the image.
//!
//! A field missing from a line is not checked.  `verify` also checks, for each
//! entry, that the type readdir reported (d_type) agrees with lstat (field
//! `dtype`, not stored in the manifest); it reports a directory it cannot list
//! as a mismatch of field `readdir`.
//!
//! `verify` exits 0 when everything matches, 1 on any mismatch (one line each,
//! `PATH: FIELD: ...`, then `verified N entries, M mismatches`), 2 on a usage
//! error or a manifest it cannot read (a truncated one included).
//!
//! # Content hash
//!
//! A file is cut into 64 KiB chunks at offsets 0, 64 KiB, ...  Chunks that are
//! all zero bytes are checked to be zero and then skipped, so that holes cost
//! no hashing; every other chunk feeds its offset, then its bytes as
//! little-endian 64-bit words (the last partial word zero-padded, then the
//! chunk length), into a 64-bit multiply-rotate hash; the number of bytes read
//! ends the hash.  Chunks are fixed by offset, so the hash is a function of the
//! content alone, whatever the file's holes: a file that reads back with
//! different bytes, or with more or fewer of them, has a different hash.
//! Files are read in 1 MiB reads.  Files of DIRECT_MIN (64 MiB) or more are
//! read with O_DIRECT when the filesystem takes it, and with ordinary reads
//! when it does not: the test guest (TCG, debug kernel) reads the 4 GiB of
//! holes of /sparse/huge from ext2 in ~35 s with O_DIRECT and ~150 s through
//! the page cache.  (On a DAX mount both are the same path.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{
    lchown, symlink, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HEADER: &str = "# xiptree manifest v1";
const READ_SIZE: usize = 1 << 20;
const CHUNK: usize = 64 << 10;
/// Files this big are read with O_DIRECT if possible (see the top).
const DIRECT_MIN: u64 = 64 << 20;
/// Alignment of the read buffer, enough for O_DIRECT.
const ALIGN: usize = 4096;
/// O_DIRECT, which std does not name.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
const O_DIRECT: Option<i32> = Some(0o40000);
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const O_DIRECT: Option<i32> = Some(0o200000);
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm"
)))]
const O_DIRECT: Option<i32> = None;

/// The fields a manifest line may hold.
const FIELDS: &[&str] = &[
    "type", "mode", "uid", "gid", "nlink", "size", "mtime", "atime", "ctime", "hash", "target",
    "rdev", "link",
];
/// What verify checks besides the manifest fields (`--skip dtype` works too).
const CHECKS: &[&str] = &["dtype", "readdir"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("build") if args.len() == 3 => build(Path::new(&args[2])).map(|_| ExitCode::SUCCESS),
        Some("manifest") if args.len() == 3 => {
            manifest(Path::new(&args[2])).map(|_| ExitCode::SUCCESS)
        }
        Some("verify") => verify_cmd(&args[2..]),
        _ => return usage(),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xiptree: {e}");
            ExitCode::from(2)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: xiptree build DIR\n       xiptree manifest DIR > MANIFEST\n       \
         xiptree verify [--skip FIELD]... MANIFEST ROOT\nfields: {} {}",
        FIELDS.join(" "),
        CHECKS.join(" ")
    );
    ExitCode::from(2)
}

/// An error with the path or step it concerns.
fn ctx<T>(r: io::Result<T>, what: impl std::fmt::Display) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Hashing and escaping
// ---------------------------------------------------------------------------

/// FNV-1a 64 of a byte string: seeds the content generator from a file name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// One step of the content hash: a bijection of `h` for each `w`, so a word
/// that differs always changes the state; the rotation carries high bits down.
fn mix(h: u64, w: u64) -> u64 {
    (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(27)
}

fn is_zero(data: &[u8]) -> bool {
    // OR-folding fixed-size blocks lets the compiler vectorise the test.
    let mut blocks = data.chunks_exact(64);
    blocks.all(|b| b.iter().fold(0u8, |a, &x| a | x) == 0)
        && blocks.remainder().iter().all(|&x| x == 0)
}

/// The content hash of what `r` reads (see the module documentation).
/// `buf` is a reusable READ_SIZE buffer; returns (hash, bytes read).
fn hash_content(r: &mut impl Read, buf: &mut [u8]) -> io::Result<(u64, u64)> {
    let mut h: u64 = 0x786970_66735f7631; // "xipfs_v1"
    let mut total: u64 = 0;
    loop {
        // Fill the whole buffer (unless at EOF) so chunks stay at fixed offsets.
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        for (i, chunk) in buf[..n].chunks(CHUNK).enumerate() {
            if is_zero(chunk) {
                continue;
            }
            h = mix(h, total + (i * CHUNK) as u64);
            let mut words = chunk.chunks_exact(8);
            for w in &mut words {
                h = mix(h, u64::from_le_bytes(w.try_into().unwrap()));
            }
            let mut last = [0u8; 8];
            last[..words.remainder().len()].copy_from_slice(words.remainder());
            h = mix(h, u64::from_le_bytes(last));
            h = mix(h, chunk.len() as u64);
        }
        total += n as u64;
        if n < buf.len() {
            return Ok((mix(h, total), total));
        }
    }
}

/// Escape a name for the manifest: bytes outside `!`..`~`, and `%`, as %XX.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b > b' ' && b < 0x7f && b != b'%' {
            s.push(b as char);
        } else {
            write!(s, "%{b:02X}").unwrap();
        }
    }
    s
}

// ---------------------------------------------------------------------------
// The walk, shared by manifest and verify
// ---------------------------------------------------------------------------

/// What the walk found at one path.
struct Entry {
    /// The escaped path from the root, "/" for the root.
    path: String,
    /// The manifest fields, in manifest order; Err when reading one failed.
    fields: Vec<(&'static str, Result<String, String>)>,
    /// Problems that are no manifest field: ("dtype", ...) when readdir's
    /// d_type disagrees with lstat, ("readdir", ...) when listing failed.
    problems: Vec<(&'static str, String)>,
}

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

/// Linux's split of a dev_t (glibc's gnu_dev_major/minor).
fn major_minor(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// More entries than this in one directory is taken for a readdir that loops.
const MAX_DIR_ENTRIES: usize = 100_000;

struct Walker {
    buf: Vec<u8>,
    bytes_read: u64,
    /// The first path seen of each (st_dev, st_ino), for the `link` field.
    seen: HashMap<(u64, u64), String>,
    /// (st_dev, st_ino, path) of the directories being walked, root first:
    /// a broken filesystem could make a directory its own ancestor.
    ancestors: Vec<(u64, u64, String)>,
}

impl Walker {
    fn new() -> Self {
        Walker {
            buf: vec![0; READ_SIZE + ALIGN],
            bytes_read: 0,
            seen: HashMap::new(),
            ancestors: vec![],
        }
    }

    /// Describe `fs_path` (manifest path `path`), then, if it is a directory,
    /// everything under it, calling `out` once per entry in manifest order.
    fn walk(
        &mut self,
        fs_path: &Path,
        path: &[u8],
        dtype: Option<fs::FileType>,
        out: &mut dyn FnMut(Entry),
    ) {
        let md = match fs::symlink_metadata(fs_path) {
            Ok(md) => md,
            Err(e) => {
                let err = Err(format!("lstat: {e}"));
                out(Entry {
                    path: escape(path),
                    fields: vec![("type", err)],
                    problems: vec![],
                });
                return;
            }
        };
        let ft = md.file_type();
        let mut problems = vec![];
        if let Some(d) = dtype {
            if type_name(&d) != type_name(&ft) {
                let p = format!(
                    "readdir says {}, lstat says {}",
                    type_name(&d),
                    type_name(&ft)
                );
                problems.push(("dtype", p));
            }
        }
        let mut fields: Vec<(&'static str, Result<String, String>)> = vec![
            ("type", Ok(type_name(&ft).to_string())),
            ("mode", Ok(format!("{:04o}", md.mode() & 0o7777))),
            ("uid", Ok(md.uid().to_string())),
            ("gid", Ok(md.gid().to_string())),
            ("nlink", Ok(md.nlink().to_string())),
        ];
        if !ft.is_dir() {
            fields.push(("size", Ok(md.size().to_string())));
        }
        fields.push(("mtime", Ok(md.mtime().to_string())));
        fields.push(("atime", Ok(md.atime().to_string())));
        fields.push(("ctime", Ok(md.ctime().to_string())));
        if ft.is_file() {
            fields.push(("hash", self.hash_file(fs_path, md.size())));
        } else if ft.is_symlink() {
            let t = fs::read_link(fs_path).map_err(|e| format!("readlink: {e}"));
            fields.push(("target", t.map(|t| escape(t.as_os_str().as_bytes()))));
        } else if ft.is_char_device() || ft.is_block_device() {
            let (ma, mi) = major_minor(md.rdev());
            fields.push(("rdev", Ok(format!("{ma}:{mi}"))));
        }
        if !ft.is_dir() {
            let first = self
                .seen
                .entry((md.dev(), md.ino()))
                .or_insert_with(|| escape(path));
            if *first != escape(path) {
                fields.push(("link", Ok(first.clone())));
            }
        }
        if ft.is_dir() {
            if let Some((_, _, a)) = self
                .ancestors
                .iter()
                .find(|(d, i, _)| (*d, *i) == (md.dev(), md.ino()))
            {
                problems.push((
                    "readdir",
                    format!("same inode as its ancestor {a}: not walked"),
                ));
                out(Entry {
                    path: escape(path),
                    fields,
                    problems,
                });
                return;
            }
        }
        out(Entry {
            path: escape(path),
            fields,
            problems,
        });
        if !ft.is_dir() {
            return;
        }

        let mut children = Vec::new();
        let mut problem = None;
        match fs::read_dir(fs_path) {
            Ok(rd) => {
                for de in rd {
                    match de {
                        Ok(_) if children.len() == MAX_DIR_ENTRIES => {
                            problem = Some(format!("over {MAX_DIR_ENTRIES} entries: stopped"));
                            break;
                        }
                        Ok(de) => children.push((de.file_name(), de.file_type().ok())),
                        Err(e) => problem = Some(format!("{e}")),
                    }
                }
            }
            Err(e) => problem = Some(format!("opendir: {e}")),
        }
        if let Some(p) = problem {
            // Reported against the directory; the entries found are still walked.
            let problems = vec![("readdir", p)];
            out(Entry {
                path: escape(path),
                fields: vec![],
                problems,
            });
        }
        self.ancestors.push((md.dev(), md.ino(), escape(path)));
        children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (name, dtype) in children {
            let mut child = path.to_vec();
            if child != b"/" {
                child.push(b'/');
            }
            child.extend_from_slice(name.as_bytes());
            self.walk(&fs_path.join(&name), &child, dtype, out);
        }
        self.ancestors.pop();
    }

    /// The content hash of the regular file `p`, whose st_size is `size`.
    fn hash_file(&mut self, p: &Path, size: u64) -> Result<String, String> {
        // The READ_SIZE bytes of `buf` that start at an ALIGN boundary.
        let off = (ALIGN - self.buf.as_ptr() as usize % ALIGN) % ALIGN;
        let buf = &mut self.buf[off..off + READ_SIZE];
        let mut hashed = None;
        if let (true, Some(flag)) = (size >= DIRECT_MIN, O_DIRECT) {
            // Any failure (EINVAL when the filesystem has no direct I/O, or
            // for an unaligned read) means: read it again the ordinary way.
            let direct = OpenOptions::new().read(true).custom_flags(flag).open(p);
            hashed = direct.and_then(|mut f| hash_content(&mut f, buf)).ok();
        }
        let (h, n) = match hashed {
            Some(hn) => hn,
            None => {
                let mut f = File::open(p).map_err(|e| format!("open: {e}"))?;
                hash_content(&mut f, buf).map_err(|e| format!("read: {e}"))?
            }
        };
        self.bytes_read += n;
        if n != size {
            return Err(format!("read {n} bytes, but st_size is {size}"));
        }
        Ok(format!("{h:016x}"))
    }
}

// ---------------------------------------------------------------------------
// manifest
// ---------------------------------------------------------------------------

fn manifest(dir: &Path) -> Result<(), String> {
    let stdout = io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    Walker::new().walk(dir, b"/", None, &mut |e: Entry| {
        let mut line = e.path.clone();
        for (k, v) in &e.fields {
            match v {
                Ok(v) => write!(line, " {k}={v}").unwrap(),
                Err(err) => errors.push(format!("{}: {k}: {err}", e.path)),
            }
        }
        for (what, p) in &e.problems {
            errors.push(format!("{}: {what}: {p}", e.path));
        }
        if !e.fields.is_empty() {
            lines.push(line);
        }
    });
    if !errors.is_empty() {
        return Err(format!(
            "cannot describe {}:\n{}",
            dir.display(),
            errors.join("\n")
        ));
    }
    let r = (|| {
        writeln!(w, "{HEADER}")?;
        for l in &lines {
            writeln!(w, "{l}")?;
        }
        writeln!(w, "# end {} entries", lines.len())?;
        w.flush()
    })();
    ctx(r, "writing the manifest")
}

// ---------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------

/// A manifest line: its fields in order, as written.
type Expected = Vec<(String, String)>;

fn read_manifest(p: &Path) -> Result<(Vec<String>, BTreeMap<String, Expected>), String> {
    let f = ctx(File::open(p), p.display())?;
    let mut order = Vec::new();
    let mut map = BTreeMap::new();
    let mut header = false;
    let mut end = None;
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = ctx(line, p.display())?;
        let bad = |why: &str| format!("{}:{}: {why}", p.display(), i + 1);
        if i == 0 {
            if line != HEADER {
                return Err(bad("not an xiptree manifest (bad first line)"));
            }
            header = true;
            continue;
        }
        if end.is_some() {
            return Err(bad("text after the end line"));
        }
        if let Some(n) = line
            .strip_prefix("# end ")
            .and_then(|s| s.strip_suffix(" entries"))
        {
            end = Some(n.parse::<usize>().map_err(|_| bad("bad end line"))?);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let mut words = line.split(' ');
        let path = words.next().unwrap_or("");
        if !path.starts_with('/') {
            return Err(bad("entry path does not start with /"));
        }
        let mut fields = Vec::new();
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| bad("field without ="))?;
            if !FIELDS.contains(&k) {
                return Err(bad(&format!("unknown field {k}")));
            }
            fields.push((k.to_string(), v.to_string()));
        }
        if map.insert(path.to_string(), fields).is_some() {
            return Err(bad("path listed twice"));
        }
        order.push(path.to_string());
    }
    if !header {
        return Err(format!("{}: empty manifest", p.display()));
    }
    match end {
        Some(n) if n == map.len() => Ok((order, map)),
        Some(n) => Err(format!(
            "{}: end line says {n} entries, found {}",
            p.display(),
            map.len()
        )),
        None => Err(format!("{}: no end line: truncated manifest?", p.display())),
    }
}

/// `--skip FIELD` must name something verify checks: a typo would skip nothing.
fn check_field(f: &str) -> Result<(), String> {
    if FIELDS.contains(&f) || CHECKS.contains(&f) {
        Ok(())
    } else {
        Err(format!(
            "--skip {f}: no such field (fields: {} {})",
            FIELDS.join(" "),
            CHECKS.join(" ")
        ))
    }
}

fn verify_cmd(args: &[String]) -> Result<ExitCode, String> {
    let mut skip = BTreeSet::new();
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--skip" && i + 1 < args.len() {
            let f = args[i + 1].as_str();
            check_field(f)?;
            skip.insert(f.to_string());
            i += 2;
        } else if let Some(f) = args[i].strip_prefix("--skip=") {
            check_field(f)?;
            skip.insert(f.to_string());
            i += 1;
        } else {
            rest.push(args[i].clone());
            i += 1;
        }
    }
    if rest.len() != 2 {
        return Ok(usage());
    }
    let (order, mut expected) = read_manifest(Path::new(&rest[0]))?;
    let root = Path::new(&rest[1]);
    let nentries = expected.len();
    let start = Instant::now();

    let mut problems = 0usize;
    let mut say = |msg: String| {
        println!("{msg}");
        problems += 1;
    };
    let mut walker = Walker::new();
    walker.walk(root, b"/", None, &mut |e: Entry| {
        for (what, p) in &e.problems {
            if !skip.contains(*what) {
                say(format!("{}: {what}: {p}", e.path));
            }
        }
        if e.fields.is_empty() {
            return; // a readdir problem, reported above
        }
        let Some(exp) = expected.remove(&e.path) else {
            say(format!("{}: extra entry, not in the manifest", e.path));
            return;
        };
        compare(&e, &exp, &skip, &mut say);
    });
    // What the walk did not find, in manifest order.
    for p in order.iter().filter(|p| expected.contains_key(*p)) {
        say(format!("{p}: missing"));
    }
    println!("verified {nentries} entries, {problems} mismatches");
    eprintln!(
        "xiptree: verify read {} MiB of file data in {:.1} s",
        walker.bytes_read >> 20,
        start.elapsed().as_secs_f64()
    );
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Compare one entry with its manifest line, one message per differing field.
fn compare(e: &Entry, exp: &Expected, skip: &BTreeSet<String>, say: &mut dyn FnMut(String)) {
    let got: BTreeMap<&str, &Result<String, String>> =
        e.fields.iter().map(|(k, v)| (*k, v)).collect();
    let want = |k: &str| exp.iter().find(|(ek, _)| ek == k).map(|(_, v)| v.as_str());
    // When the type differs, the other fields say nothing more.
    if let (Some(w), Some(Ok(g))) = (want("type"), got.get("type")) {
        if w != g.as_str() && !skip.contains("type") {
            say(format!("{}: type: got {g}, expected {w}", e.path));
            return;
        }
    }
    for (k, w) in exp {
        if skip.contains(k) {
            continue;
        }
        match got.get(k.as_str()) {
            None => say(format!("{}: {k}: not found, expected {w}", e.path)),
            Some(Err(err)) => say(format!("{}: {k}: {err} (expected {w})", e.path)),
            Some(Ok(g)) if g != w => say(format!("{}: {k}: got {g}, expected {w}", e.path)),
            Some(Ok(_)) => {}
        }
    }
    for (k, g) in &e.fields {
        if want(k).is_none() && !skip.contains(*k) {
            match g {
                Ok(g) => say(format!("{}: {k}: got {g}, not in the manifest", e.path)),
                Err(err) => say(format!("{}: {k}: {err}", e.path)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------

// Timestamps (seconds since the epoch, UTC).  Every mtime is before every
// atime, and every atime is in the future: with relatime the host then never
// updates an atime when mke2fs or the manifest reads a file or directory
// (relatime updates only an atime that is <= mtime or ctime, or a day old).
const T_1990: i64 = 631152000; // 1990-01-01 00:00:00
const T_2035_END: i64 = 2082758399; // 2035-12-31 23:59:59
const A_2036: i64 = 2082758400; // 2036-01-01 00:00:00
const A_DEFAULT: i64 = 2085978495; // 2036-02-07 06:28:15 (the NTP era wraps)
const A_2037_END: i64 = 2145916799; // 2037-12-31 23:59:59

// ext2 block-map boundaries for 4 KiB blocks, in bytes.
const BS: u64 = 4096;
const DIRECT_END: u64 = 12 * BS; // first byte mapped by the indirect block
const IND_END: u64 = (12 + 1024) * BS; // first byte of the double-indirect range
const DIND_END: u64 = (12 + 1024 + 1024 * 1024) * BS; // first byte of the triple-indirect range
/// The sparse file over 4 GiB: past 2^32 and the triple-indirect boundary.
/// Kept close to them: the guest reads all of it, holes included.
const HUGE_SIZE: u64 = (4 << 30) + (16 << 20) + 3000;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Special, // devices, FIFOs, sockets
}

#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    atime: i64,
}

/// Bytes of a deterministic pseudo-random stream (xorshift64*) seeded by `seed`.
fn content(seed: &[u8], len: usize) -> Vec<u8> {
    let mut x = fnv1a(seed) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

struct Builder {
    root: PathBuf,
    /// Everything created, with the metadata to give it once all exists.
    made: Vec<(Vec<u8>, Kind, Meta)>,
}

impl Builder {
    fn p(&self, rel: &[u8]) -> PathBuf {
        self.root.join(OsStr::from_bytes(rel))
    }

    /// The metadata of an entry nobody chose any for: root-owned, usual
    /// modes, an mtime between 1990 and 2035 picked by the path.
    fn default_meta(rel: &[u8], kind: Kind) -> Meta {
        let mode = if kind == Kind::Dir { 0o755 } else { 0o644 };
        let span = (T_2035_END - T_1990) as u64;
        let mtime = T_1990 + (fnv1a(rel) % span) as i64;
        Meta {
            mode,
            uid: 0,
            gid: 0,
            mtime,
            atime: A_DEFAULT,
        }
    }

    fn record(&mut self, rel: &[u8], kind: Kind) -> &mut Meta {
        self.made
            .push((rel.to_vec(), kind, Self::default_meta(rel, kind)));
        &mut self.made.last_mut().unwrap().2
    }

    fn dir(&mut self, rel: &[u8]) -> Result<&mut Meta, String> {
        ctx(fs::create_dir(self.p(rel)), self.p(rel).display())?;
        Ok(self.record(rel, Kind::Dir))
    }

    /// A regular file of `len` bytes of content seeded by its path.
    fn file(&mut self, rel: &[u8], len: usize) -> Result<&mut Meta, String> {
        ctx(
            fs::write(self.p(rel), content(rel, len)),
            self.p(rel).display(),
        )?;
        Ok(self.record(rel, Kind::File))
    }

    /// A file of `size` bytes, all holes except `data` (offset, length)
    /// ranges of content seeded by path and offset.
    fn sparse(
        &mut self,
        rel: &[u8],
        size: u64,
        data: &[(u64, usize)],
    ) -> Result<&mut Meta, String> {
        let p = self.p(rel);
        let r = (|| {
            let mut f = File::create(&p)?;
            f.set_len(size)?;
            for &(off, len) in data {
                let mut seed = rel.to_vec();
                seed.extend_from_slice(format!("@{off}").as_bytes());
                f.seek(SeekFrom::Start(off))?;
                f.write_all(&content(&seed, len))?;
            }
            Ok(())
        })();
        ctx(r, p.display())?;
        Ok(self.record(rel, Kind::File))
    }

    fn symlink(&mut self, rel: &[u8], target: &[u8]) -> Result<&mut Meta, String> {
        ctx(
            symlink(OsStr::from_bytes(target), self.p(rel)),
            self.p(rel).display(),
        )?;
        Ok(self.record(rel, Kind::Symlink))
    }

    /// Another name for `existing`; its metadata is the existing entry's.
    fn hard_link(&mut self, existing: &[u8], rel: &[u8]) -> Result<(), String> {
        ctx(
            fs::hard_link(self.p(existing), self.p(rel)),
            self.p(rel).display(),
        )
    }

    /// A device node, FIFO or socket, through mknod(1)/mkfifo(1) (std has no
    /// mknod) or a UnixListener.  `how` is "c MAJOR MINOR", "b MAJOR MINOR",
    /// "fifo" or "sock".
    fn special(&mut self, rel: &[u8], how: &str) -> Result<&mut Meta, String> {
        let p = self.p(rel);
        match how {
            "sock" => {
                // sun_path holds 108 bytes: bind by a name relative to the directory.
                let dir = p.parent().unwrap();
                let here = ctx(std::env::current_dir(), "getcwd")?;
                ctx(std::env::set_current_dir(dir), dir.display())?;
                let r = UnixListener::bind(p.file_name().unwrap());
                ctx(std::env::set_current_dir(&here), here.display())?;
                drop(ctx(r, p.display())?); // the socket file stays
            }
            "fifo" => run(Command::new("mkfifo").arg("--").arg(&p))?,
            _ => {
                let mut c = Command::new("mknod");
                c.arg("--").arg(&p).args(how.split(' '));
                run(&mut c)?;
            }
        }
        Ok(self.record(rel, Kind::Special))
    }

    /// Give everything its owner, mode and times.  Done after everything is
    /// created, as creating an entry changes its directory's mtime.  Owner
    /// before mode: chown clears setuid/setgid.
    fn finish(&self) -> Result<(), String> {
        for (rel, kind, m) in &self.made {
            let p = self.p(rel);
            ctx(
                lchown(&p, Some(m.uid), Some(m.gid)),
                format!("lchown {}", p.display()),
            )?;
            if *kind != Kind::Symlink {
                let perm = Permissions::from_mode(m.mode);
                ctx(
                    fs::set_permissions(&p, perm),
                    format!("chmod {}", p.display()),
                )?;
            }
            match kind {
                Kind::File | Kind::Dir => {
                    let t = |s: i64| UNIX_EPOCH + Duration::from_secs(s as u64);
                    let times = FileTimes::new()
                        .set_accessed(t(m.atime))
                        .set_modified(t(m.mtime));
                    let r = File::open(&p).and_then(|f| f.set_times(times));
                    ctx(r, format!("setting times of {}", p.display()))?;
                }
                // Symlinks, devices, FIFOs, sockets: not to be opened; touch -h
                // sets the times of the node itself.
                Kind::Symlink | Kind::Special => {
                    for (which, secs) in [("-m", m.mtime), ("-a", m.atime)] {
                        let mut c = Command::new("touch");
                        c.args(["-h", which, "-d", &format!("@{secs}"), "--"])
                            .arg(&p);
                        run(&mut c)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn run(c: &mut Command) -> Result<(), String> {
    match c.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{c:?}: {s}")),
        Err(e) => Err(format!("{c:?}: {e}")),
    }
}

fn build(dir: &Path) -> Result<(), String> {
    match fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(format!("{}: not empty", dir.display()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => ctx(fs::create_dir(dir), dir.display())?,
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let root = ctx(fs::canonicalize(dir), dir.display())?;
    let mut b = Builder {
        root,
        made: Vec::new(),
    };
    let started = SystemTime::now();

    // The root itself ("" relative path).  mke2fs -d does not copy the root's
    // attributes; xiptree-image.sh sets them on the image with debugfs.
    b.record(b"", Kind::Dir).mtime = 1582934400; // 2020-02-29
                                                 // mke2fs -d reuses a lost+found of the source root: give one, so that the
                                                 // root's listing and link count agree between the tree and the image.
    b.dir(b"lost+found")?.mode = 0o700;

    // --- Regular file sizes around every block-map boundary (4 KiB blocks).
    b.dir(b"sizes")?;
    let sizes: &[(&str, u64)] = &[
        ("empty", 0),
        ("one", 1),
        ("block-1", BS - 1),
        ("block", BS),
        ("block+1", BS + 1),
        ("two-blocks", 2 * BS),
        ("direct-1", DIRECT_END - 1),
        ("direct", DIRECT_END),
        ("direct+1", DIRECT_END + 1),
        ("chunk+1", CHUNK as u64 + 1), // the checker's own chunk boundary
        ("ind-1", IND_END - 1),
        ("ind", IND_END),
        ("ind+1", IND_END + 1),
        ("three-mib", (3 << 20) + 12345),
    ];
    for (name, len) in sizes {
        b.file(format!("sizes/{name}").as_bytes(), *len as usize)?;
    }

    // --- Sparse files: holes around the same boundaries, and one over 4 GiB.
    b.dir(b"sparse")?;
    let around = |at: u64, len: u64| (at - len / 2, len as usize);
    b.sparse(
        b"sparse/huge",
        HUGE_SIZE,
        &[
            (0, 5000),
            around(DIRECT_END, 200),
            around(IND_END, 9000),
            around(1 << 31, 6000),    // 2 GiB: a signed 32-bit size overflows
            around(1 << 32, 6000),    // 4 GiB: i_size needs its high 32 bits
            around(DIND_END, 10000),  // into the triple-indirect range
            (HUGE_SIZE - 3000, 3000), // data up to the end
        ],
    )?;
    b.sparse(
        b"sparse/dind-only",
        IND_END + 5 * BS + 777,
        &[(IND_END, 5 * BS as usize + 777)],
    )?;
    b.sparse(
        b"sparse/ind-only",
        IND_END - 2 * BS,
        &[(DIRECT_END, 3 * BS as usize)],
    )?;
    b.sparse(
        b"sparse/straddle-direct",
        20 * BS,
        &[(11 * BS, 2 * BS as usize)],
    )?;
    b.sparse(
        b"sparse/first-block-hole",
        2 * BS + 5,
        &[(BS, BS as usize + 5)],
    )?;
    b.sparse(b"sparse/trailing-hole", (1 << 20) + 1, &[(0, 5000)])?;
    b.sparse(b"sparse/only-hole", 10 << 20, &[])?;
    b.sparse(
        b"sparse/dind-then-hole",
        IND_END + 300 * BS,
        &[(IND_END + 100 * BS, 3000)],
    )?;
    // Zero blocks written out: mke2fs -d makes holes of them.
    {
        let rel = b"sparse/written-zeros";
        let mut data = content(rel, 3 * BS as usize + 10);
        data[BS as usize..2 * BS as usize].fill(0);
        ctx(fs::write(b.p(rel), &data), "sparse/written-zeros")?;
        b.record(rel, Kind::File);
        ctx(
            fs::write(b.p(b"sparse/all-zeros"), vec![0u8; 100_000]),
            "sparse/all-zeros",
        )?;
        b.record(b"sparse/all-zeros", Kind::File);
    }

    // --- Symbolic links: fast (target < 60 bytes, kept in the inode), slow
    // (60..4095 bytes, in a block), dangling, to a directory, absolute.
    b.dir(b"links")?;
    let long = |n: usize| {
        let mut t = b"dangling/".to_vec();
        t.extend((0..n - t.len()).map(|i| b"abcdefghijklmnopqrstuvwxyz/0123456789"[i % 37]));
        t
    };
    b.symlink(b"links/fast-1", b"x")?;
    b.symlink(b"links/fast-59", &long(59))?;
    b.symlink(b"links/slow-60", &long(60))?;
    b.symlink(b"links/slow-61", &long(61))?;
    b.symlink(b"links/slow-1000", &long(1000))?;
    b.symlink(b"links/slow-4000", &long(4000))?;
    b.symlink(b"links/slow-4095", &long(4095))?; // the longest Linux allows
    b.symlink(b"links/dangling", b"does/not/exist")?;
    b.symlink(b"links/to-dir", b"../nested/a")?;
    b.symlink(b"links/to-file", b"../sizes/block")?;
    b.symlink(b"links/absolute", b"/sizes/block")?;
    b.symlink(b"links/self-loop", b"self-loop")?;
    b.symlink(b"links/dot", b".")?;
    b.symlink(
        b"links/to-space name",
        "../names/dir with space/ünïcödé file".as_bytes(),
    )?;
    b.symlink(
        b"links/slow-resolving",
        b"../nested/./a/./b/./c/./d/./e/./f/./g/./h/./././././leaf",
    )?;
    *b.symlink(b"links/owned-1000-2000", b"../sizes/one")? = Meta {
        uid: 1000,
        gid: 2000,
        ..Builder::default_meta(b"links/owned-1000-2000", Kind::Symlink)
    };
    b.symlink(b"links/owned-high", &long(100))?.uid = 123456;

    // --- Nested directories, eight levels, a file at each.
    let mut rel = b"nested".to_vec();
    b.dir(&rel)?;
    for level in b"abcdefgh" {
        rel.push(b'/');
        rel.push(*level);
        b.dir(&rel)?;
        let mut f = rel.clone();
        f.extend_from_slice(b"/file");
        b.file(&f, 100 + *level as usize)?;
    }
    rel.extend_from_slice(b"/leaf");
    b.file(&rel, 4096 * 3 + 1)?;

    // --- Hard links: one file with three names in three directories, an
    // empty file and a FIFO with two.  (Not symlinks: mke2fs -d splits a
    // hard-linked symlink into separate inodes.)
    b.dir(b"hard")?;
    b.dir(b"hard/sub")?;
    *b.file(b"hard/one", 10000)? = Meta {
        mode: 0o640,
        uid: 1000,
        gid: 1000,
        mtime: 1234567890,
        atime: A_DEFAULT,
    };
    b.hard_link(b"hard/one", b"hard/sub/two")?;
    b.hard_link(b"hard/one", b"nested/a/b/three")?;
    b.file(b"hard/empty", 0)?;
    b.hard_link(b"hard/empty", b"hard/sub/empty-too")?;
    b.special(b"hard/fifo", "fifo")?;
    b.hard_link(b"hard/fifo", b"hard/sub/fifo-too")?;

    // --- Device nodes (old and new dev_t encodings on ext2), FIFO, socket.
    b.dir(b"dev")?;
    b.special(b"dev/chr-1-3", "c 1 3")?.mode = 0o666;
    b.special(b"dev/chr-4-64", "c 4 64")?.mode = 0o620;
    b.special(b"dev/chr-255-255", "c 255 255")?;
    b.special(b"dev/chr-256-0", "c 256 0")?;
    b.special(b"dev/chr-300-70000", "c 300 70000")?.mode = 0o600;
    *b.special(b"dev/blk-8-1", "b 8 1")? = Meta {
        mode: 0o660,
        gid: 6,
        ..Builder::default_meta(b"dev/blk-8-1", Kind::Special)
    };
    b.special(b"dev/blk-259-65536", "b 259 65536")?.mode = 0o640;
    b.special(b"dev/fifo", "fifo")?.mode = 0o622;
    b.special(b"dev/socket", "sock")?.mode = 0o777;

    // --- Names: spaces, control bytes, UTF-8, invalid UTF-8, escapes.
    b.dir(b"names")?;
    let names: &[&[u8]] = &[
        b"with space",
        b" leading space",
        b"trailing space ",
        b"tab\tname",
        b"new\nline",
        b"percent%41sign",
        b"%",
        b"...",
        b".hidden",
        b"-dash",
        b"back\\slash",
        b"quote\"s'",
        b"eq=sign",
        b"del\x7fchar",
        b"ctl\x01char",
        b"latin1-\xe9-not-utf8",
        b"\xff\xfe",
        "ünïcödé".as_bytes(),
        "日本語のファイル名".as_bytes(),
        "emoji-🦀🐧".as_bytes(),
    ];
    for n in names {
        let mut rel = b"names/".to_vec();
        rel.extend_from_slice(n);
        b.file(&rel, n.len() * 10)?;
    }
    // A 255-byte name of 2-byte UTF-8 characters (and one ASCII byte).
    let mut rel = b"names/".to_vec();
    rel.extend_from_slice("é".repeat(127).as_bytes());
    rel.push(b'x');
    b.file(&rel, 255)?;
    b.dir(b"names/dir with space")?;
    b.file("names/dir with space/ünïcödé file".as_bytes(), 77)?;

    // --- Modes.
    b.dir(b"modes")?;
    for mode in [
        0o600, 0o644, 0o755, 0o000, 0o444, 0o777, 0o4755, 0o2755, 0o6755, 0o1755, 0o7777, 0o2644,
    ] {
        b.file(format!("modes/f-{mode:04o}").as_bytes(), 10)?.mode = mode;
    }
    for mode in [0o1777, 0o2775, 0o700, 0o555, 0o000, 0o3777] {
        b.dir(format!("modes/d-{mode:04o}").as_bytes())?.mode = mode;
    }
    b.file(b"modes/d-1777/in-sticky", 5)?;

    // --- Owners: the high 16 bits of uid/gid live elsewhere in an ext2 inode.
    b.dir(b"owners")?;
    for (uid, gid) in [
        (0, 0),
        (1000, 1000),
        (65534, 65534),
        (65535, 65536),
        (123456, 654321),
        (4294967294, 1),
    ] {
        let m = b.file(format!("owners/f-{uid}-{gid}").as_bytes(), 3)?;
        m.uid = uid;
        m.gid = gid;
    }
    *b.dir(b"owners/d-4242-4343")? = Meta {
        uid: 4242,
        gid: 4343,
        ..Builder::default_meta(b"owners/d", Kind::Dir)
    };
    b.file(b"owners/d-4242-4343/inside", 3)?.uid = 4242;
    b.special(b"owners/fifo-7-8", "fifo")?.uid = 7;

    // --- Times: mtimes between 1970 and 2037, atimes in 2036..2037.
    b.dir(b"times")?;
    let mtimes: &[(&str, i64, i64)] = &[
        ("epoch", 0, A_DEFAULT),
        ("1990", T_1990, A_DEFAULT),
        ("1995", 803219696, A_DEFAULT),
        ("1999-end", 946684799, A_DEFAULT),
        ("2000", 946684800, A_DEFAULT),
        ("2000-leap-day", 951825600, A_DEFAULT),
        ("1234567890", 1234567890, A_DEFAULT),
        ("2012-leap-second", 1341100799, A_DEFAULT),
        ("2035-end", T_2035_END, A_DEFAULT),
        ("atime-2036", 946684800, A_2036),
        ("atime-2037-end", 946684800, A_2037_END),
        ("2037-mid", 2129932800, A_2037_END), // 2037-06-30
    ];
    for (name, mtime, atime) in mtimes {
        let m = b.file(format!("times/f-{name}").as_bytes(), 1)?;
        m.mtime = *mtime;
        m.atime = *atime;
    }
    b.dir(b"times/d-1999")?.mtime = 946684799;
    b.symlink(b"times/l-1995", b"f-1995")?.mtime = 803219696;
    b.special(b"times/fifo-2009", "fifo")?.mtime = 1234567890;

    // --- A directory of 3000 entries, names 1..255 bytes long: mostly empty
    // files, some small files, subdirectories and symlinks.  Entry i has a
    // name of (i % 255) + 1 bytes starting with character i / 255.
    b.dir(b"big-dir")?;
    const FIRST: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const FILL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.";
    for i in 0..3000usize {
        let len = i % 255 + 1;
        let mut rel = b"big-dir/".to_vec();
        rel.push(FIRST[i / 255]);
        rel.extend((1..len).map(|j| FILL[(i + j) % FILL.len()]));
        if i % 500 == 7 {
            b.dir(&rel)?;
        } else if i % 300 == 11 {
            b.symlink(&rel, b"..")?;
        } else if i % 250 == 3 {
            b.file(&rel, i % 50 + 1)?;
        } else {
            b.file(&rel, 0)?;
        }
    }

    b.finish()?;
    let secs = started.elapsed().map(|d| d.as_secs_f64()).unwrap_or(0.0);
    eprintln!(
        "xiptree: built {} entries in {} in {secs:.1} s",
        b.made.len(),
        b.root.display()
    );
    Ok(())
}
