// SPDX-License-Identifier: GPL-2.0
//! xipmut: hostile images at scale.  Mutates good ext2 images and has xipfs mount, walk,
//! read, map and (read-write) modify each, counting what happens and every kernel report.
//!
//! ```text
//! xipmut mktree DIR
//!     the tree the base images are made of (mke2fs -d DIR): small and empty files, files
//!     of 12 and 13 blocks (the first indirect block), a 41-block file, a file with holes,
//!     sparse files through the double and triple indirect blocks (the last past 4 GiB),
//!     fast, slow and dangling symbolic links, hard links, nested directories, a 150-entry
//!     directory, an empty directory, a FIFO and a character device
//! xipmut run --dev DEV --mnt DIR --seed S --count N [--start I] [--seconds T]
//!            [--only I] [--verbose] [--min-mounted N] BASE.img...
//!     image I (from --start, default 0) is base I mod (number of bases), mutated by a PRNG
//!     seeded with S and I; for each: write it to DEV (all of it, padded with zeros to the
//!     device's size, fsync), mount it (-t xipfs; even I read-only, odd I read-write with
//!     errors=continue, or errors=remount-ro every fourth, falling back to read-only when the
//!     read-write mount is refused), walk the tree (readdir, lstat, readlink), read every
//!     regular file (whole, or its head, tail and a middle window past 256 KiB), map it
//!     (MAP_SHARED, up to 256 KiB and its last page) and read the mapping, list and read
//!     every inode's extended attributes, on read-write
//!     mounts modify the tree (create, write, append, pwrite, truncate down and up,
//!     fallocate, punch a hole, write through a shared mapping, set and remove extended
//!     attributes and ACLs, mkdir, rmdir, rename,
//!     link, symlink, unlink, many new names in one directory, syncfs), then unmount.
//!     Errors are fine; kernel reports (BUG, WARNING, Oops, KASAN, UBSAN, lockdep, hung
//!     tasks, Rust panics, busy inodes after unmount), a failed unmount and a hang are not.
//!     Before the mutated images, each base image unmutated must mount read-only and
//!     read-write and read without any error.  --only I runs image I alone, --verbose
//!     says what each image's mutation was; --seconds stops after T seconds.
//! xipmut gen --seed S --index I --out FILE BASE.img...
//!     write mutated image I of seed S to FILE (for debugfs, e2fsck or a mount by hand)
//! ```
//!
//! Mutations, chosen by I mod 10 (and a PRNG seeded with S and I):
//! - 0-2, byte storms: random bytes, bit flips, runs of random bytes or boundary bytes over
//!   one to three metadata blocks (a superblock, a group descriptor block, a bitmap, the
//!   used part of the inode table, a directory block, an indirect block, an extended
//!   attribute block);
//! - 3-6, one field: every field of the superblock (or a backup), a group descriptor (or a
//!   backup), an inode (of a random used inode) and a directory entry, in turn, set to a
//!   boundary value (0, 1, the maximum, half of it, one past the old value, the block or
//!   inode count and its neighbours, ...);
//! - 7-8, cross-links: a block of one file given to another, a file block (or an indirect
//!   block) pointed at metadata (superblock, descriptors, bitmaps, inode table, a directory
//!   block, another file's indirect block, an extended attribute block), an inode's
//!   extended attribute block pointed at a file's block or metadata, the same block twice within one file (two direct
//!   pointers, a direct pointer and an indirect entry, an indirect block that is also a
//!   data block), two directories sharing a block;
//! - 9, two or three of the above.
//!
//! Ends with a summary line "fuzz-images: seed S: N tried, R refused, M mounted (W rw),
//! K kernel reports" and details; exits 1 on a kernel report, a failed unmount, a base image
//! that does not work, or implausible counts (nothing refused, or nothing mounted, with
//! more than --min-mounted images).
//!
//! Only std, no crates: the system calls std has no wrapper for are declared below against
//! glibc and wrapped in small functions.  x86-64 Linux only (the constants).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{c_char, c_int, c_ulong, c_void, CString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// System calls
// ---------------------------------------------------------------------------

mod sys {
    use super::*;

    pub const MS_RDONLY: c_ulong = 1;
    const PROT_READ: c_int = 1;
    const PROT_WRITE: c_int = 2;
    const MAP_SHARED: c_int = 1;
    pub const O_NONBLOCK: i32 = 0o4000;
    pub const FALLOC_FL_KEEP_SIZE: c_int = 1;
    pub const FALLOC_FL_PUNCH_HOLE: c_int = 2;
    pub const S_IFIFO: u32 = 0o010000;
    pub const S_IFCHR: u32 = 0o020000;

    extern "C" {
        fn mount(src: *const c_char, tgt: *const c_char, fstype: *const c_char, flags: c_ulong,
            data: *const c_void) -> c_int;
        fn umount2(tgt: *const c_char, flags: c_int) -> c_int;
        fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
            -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn pwrite(fd: c_int, buf: *const c_void, n: usize, off: i64) -> isize;
        fn pread(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize;
        fn syncfs(fd: c_int) -> c_int;
        fn fallocate(fd: c_int, mode: c_int, off: i64, len: i64) -> c_int;
        fn mknod(path: *const c_char, mode: u32, dev: u64) -> c_int;
        fn llistxattr(path: *const c_char, list: *mut c_char, size: usize) -> isize;
        fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut c_void, size: usize)
            -> isize;
        fn lsetxattr(path: *const c_char, name: *const c_char, value: *const c_void, size: usize,
            flags: c_int) -> c_int;
        fn lremovexattr(path: *const c_char, name: *const c_char) -> c_int;
    }

    fn len(r: isize) -> io::Result<usize> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// The names of `p`'s extended attributes (not following a symlink).
    pub fn list_xattrs(p: &Path) -> io::Result<Vec<CString>> {
        let c = cstr(p)?;
        let mut buf = vec![0u8; 65536];
        // SAFETY: a NUL-terminated path and a buffer of the size given.
        let n = len(unsafe { llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
        Ok(buf[..n.min(buf.len())]
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .filter_map(|s| CString::new(s).ok())
            .collect())
    }

    /// The value of attribute `name` of `p` into `buf`: its length.
    pub fn get_xattr(p: &Path, name: &CString, buf: &mut [u8]) -> io::Result<usize> {
        let c = cstr(p)?;
        // SAFETY: NUL-terminated strings and a buffer of the size given.
        len(unsafe { lgetxattr(c.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })
    }

    /// Sets attribute `name` of `p` to `value`.
    pub fn set_xattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
        let (c, n) = (cstr(p)?, CString::new(name).unwrap());
        // SAFETY: NUL-terminated strings and a value of the length given.
        check(unsafe { lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
    }

    /// Removes attribute `name` of `p`.
    pub fn remove_xattr(p: &Path, name: &str) -> io::Result<()> {
        let (c, n) = (cstr(p)?, CString::new(name).unwrap());
        // SAFETY: NUL-terminated strings.
        check(unsafe { lremovexattr(c.as_ptr(), n.as_ptr()) })
    }

    fn cstr(s: &Path) -> io::Result<CString> {
        CString::new(s.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(22))
    }

    fn check(r: c_int) -> io::Result<()> {
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn do_mount(src: &Path, tgt: &Path, fstype: &str, flags: c_ulong, data: &str)
        -> io::Result<()> {
        let (s, t) = (cstr(src)?, cstr(tgt)?);
        let f = CString::new(fstype).unwrap();
        let d = CString::new(data).unwrap();
        // SAFETY: NUL-terminated strings that live across the call.
        check(unsafe { mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, d.as_ptr().cast()) })
    }

    pub fn do_umount(tgt: &Path, flags: c_int) -> io::Result<()> {
        let t = cstr(tgt)?;
        // SAFETY: as above.
        check(unsafe { umount2(t.as_ptr(), flags) })
    }

    pub fn do_syncfs(f: &File) -> io::Result<()> {
        // SAFETY: a file descriptor we own.
        check(unsafe { syncfs(f.as_raw_fd()) })
    }

    pub fn do_fallocate(f: &File, mode: c_int, off: u64, len: u64) -> io::Result<()> {
        // SAFETY: as above.
        check(unsafe { fallocate(f.as_raw_fd(), mode, off as i64, len as i64) })
    }

    pub fn do_mknod(p: &Path, mode: u32, dev: u64) -> io::Result<()> {
        let c = cstr(p)?;
        // SAFETY: a NUL-terminated path.
        check(unsafe { mknod(c.as_ptr(), mode, dev) })
    }

    /// A MAP_SHARED mapping of `len` bytes of `f` at `off`, unmapped on drop.  Its memory
    /// is only ever handed to the kernel (`copy_out`, `copy_in`), never touched here: a
    /// fault that fails is then EFAULT from the copy, where a direct access would be SIGBUS.
    pub struct Map {
        addr: *mut c_void,
        len: usize,
    }

    impl Map {
        pub fn new(f: &File, len: usize, off: u64, write: bool) -> io::Result<Map> {
            let prot = if write { PROT_READ | PROT_WRITE } else { PROT_READ };
            // SAFETY: a new mapping at an address the kernel picks.
            let p = unsafe { mmap(std::ptr::null_mut(), len, prot, MAP_SHARED, f.as_raw_fd(),
                off as i64) };
            if p as isize == -1 {
                Err(io::Error::last_os_error())
            } else {
                Ok(Map { addr: p, len })
            }
        }

        /// The kernel copies the mapping to `sink` (faulting every page in through the
        /// filesystem's fault handler).
        pub fn copy_out(&self, sink: &File) -> io::Result<usize> {
            // SAFETY: the kernel reads our mapping and checks every access itself.
            let r = unsafe { pwrite(sink.as_raw_fd(), self.addr, self.len, 0) };
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
        }

        /// The kernel writes `src`'s first bytes into the (writable) mapping.
        pub fn copy_in(&self, src: &File) -> io::Result<usize> {
            // SAFETY: as above; nothing in this program holds a reference into the mapping.
            let r = unsafe { pread(src.as_raw_fd(), self.addr, self.len, 0) };
            if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: our own mapping; no reference into it exists.
            unsafe { munmap(self.addr, self.len) };
        }
    }
}

fn errno_name(e: &io::Error) -> String {
    let names: &[(i32, &str)] = &[
        (1, "EPERM"), (2, "ENOENT"), (4, "EINTR"), (5, "EIO"), (6, "ENXIO"), (7, "E2BIG"),
        (9, "EBADF"), (11, "EAGAIN"), (12, "ENOMEM"), (13, "EACCES"), (14, "EFAULT"),
        (16, "EBUSY"), (17, "EEXIST"), (18, "EXDEV"), (19, "ENODEV"), (20, "ENOTDIR"),
        (21, "EISDIR"), (22, "EINVAL"), (23, "ENFILE"), (24, "EMFILE"), (26, "ETXTBSY"),
        (27, "EFBIG"), (28, "ENOSPC"), (30, "EROFS"), (31, "EMLINK"), (34, "ERANGE"),
        (36, "ENAMETOOLONG"), (39, "ENOTEMPTY"), (40, "ELOOP"), (61, "ENODATA"),
        (75, "EOVERFLOW"), (95, "EOPNOTSUPP"), (117, "EUCLEAN"),
    ];
    match e.raw_os_error() {
        Some(n) => names.iter().find(|(v, _)| *v == n).map_or(format!("errno{n}"), |(_, s)| s.to_string()),
        None => format!("{:?}", e.kind()),
    }
}

// ---------------------------------------------------------------------------
// PRNG (splitmix64): every image is a function of the seed and its index
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn for_image(seed: u64, index: u64) -> Rng {
        let mut r = Rng(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() { None } else { Some(&v[self.below(v.len() as u64) as usize]) }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

// ---------------------------------------------------------------------------
// The base images: where their metadata is
// ---------------------------------------------------------------------------

const BS: usize = 4096;

fn get(b: &[u8], off: usize, size: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..size).rev() {
        v = v << 8 | *b.get(off + i).unwrap_or(&0) as u64;
    }
    v
}

fn put(b: &mut [u8], off: usize, size: usize, v: u64) {
    for i in 0..size {
        if let Some(x) = b.get_mut(off + i) {
            *x = (v >> (8 * i)) as u8;
        }
    }
}

/// A block pointer in the image: where it is stored and what it points to.
#[derive(Clone, Copy)]
struct Ptr {
    ino: u32,
    /// Byte offset of the 32-bit pointer in the image.
    at: usize,
    blk: u32,
    /// 0: a data block (file block `lblk`); 1, 2, 3: an indirect, double, triple indirect
    /// block.
    level: u8,
    lblk: u64,
}

struct Inode {
    ino: u32,
    off: usize,
    mode: u16,
}

struct Layout {
    blocks: u32,
    inodes: u32,
    isz: usize,
    groups: u32,
    /// Byte offsets of the superblock and its backups.
    sbs: Vec<usize>,
    /// Byte offsets of every group descriptor, the primary table's first.
    gds: Vec<usize>,
    /// Metadata blocks: superblocks, descriptor tables (and reserved blocks), bitmaps,
    /// inode tables, each with what it is.
    meta: Vec<(u32, &'static str)>,
    inodes_used: Vec<Inode>,
    ptrs: Vec<Ptr>,
    dir_blocks: Vec<u32>,
    ind_blocks: Vec<u32>,
    /// Extended attribute blocks (`i_file_acl`), each once.
    xattr_blocks: Vec<u32>,
    /// Byte offsets of directory entries.
    dirents: Vec<usize>,
}

fn has_backup(g: u32, sparse: bool) -> bool {
    if g <= 1 || !sparse {
        return true;
    }
    for p in [3u32, 5, 7] {
        let mut x = p;
        while x < g {
            x *= p;
        }
        if x == g {
            return true;
        }
    }
    false
}

fn parse_layout(img: &[u8]) -> Result<Layout, String> {
    let sb = 1024;
    if get(img, sb + 56, 2) != 0xef53 {
        return Err("no ext2 magic".into());
    }
    if get(img, sb + 24, 4) != 2 {
        return Err("not 4 KiB blocks".into());
    }
    let blocks = get(img, sb + 4, 4) as u32;
    let inodes = get(img, sb, 4) as u32;
    let bpg = get(img, sb + 32, 4) as u32;
    let ipg = get(img, sb + 40, 4) as u32;
    let rev = get(img, sb + 76, 4);
    let isz = if rev == 0 { 128 } else { get(img, sb + 88, 2) as usize };
    let sparse = rev > 0 && get(img, sb + 100, 4) & 1 != 0;
    let resv_gdt = if rev > 0 && get(img, sb + 92, 4) & 0x10 != 0 { get(img, sb + 206, 2) as u32 } else { 0 };
    if blocks as usize * BS > img.len() || bpg == 0 || ipg == 0 || isz < 128 {
        return Err("bad geometry".into());
    }
    let groups = blocks.div_ceil(bpg);
    let gdt_blocks = (groups as usize * 32).div_ceil(BS) as u32;
    let mut l = Layout {
        blocks, inodes, isz, groups,
        sbs: vec![], gds: vec![], meta: vec![], inodes_used: vec![], ptrs: vec![],
        dir_blocks: vec![], ind_blocks: vec![], xattr_blocks: vec![], dirents: vec![],
    };
    for g in 0..groups {
        if has_backup(g, sparse) {
            let start = g * bpg;
            l.sbs.push(if g == 0 { 1024 } else { start as usize * BS });
            l.meta.push((start, "a superblock"));
            for b in 0..gdt_blocks + resv_gdt {
                l.meta.push((start + 1 + b, "the group descriptor table"));
            }
            let table = (start as usize + 1) * BS;
            for d in 0..groups as usize {
                if g == 0 {
                    l.gds.insert(d, table + d * 32);
                } else {
                    l.gds.push(table + d * 32);
                }
            }
        }
    }
    let mut itables = vec![];
    for g in 0..groups as usize {
        let gd = l.gds[g];
        let bb = get(img, gd, 4) as u32;
        let ib = get(img, gd + 4, 4) as u32;
        let it = get(img, gd + 8, 4) as u32;
        l.meta.push((bb, "a block bitmap"));
        l.meta.push((ib, "an inode bitmap"));
        for b in 0..(ipg as usize * isz).div_ceil(BS) as u32 {
            l.meta.push((it + b, "an inode table"));
        }
        itables.push(it);
    }
    for ino in 1..=inodes {
        let g = ((ino - 1) / ipg) as usize;
        let off = itables[g] as usize * BS + ((ino - 1) % ipg) as usize * isz;
        let mode = get(img, off, 2) as u16;
        let links = get(img, off + 26, 2);
        if mode == 0 || links == 0 {
            continue;
        }
        l.inodes_used.push(Inode { ino, off, mode });
        let acl_blk = get(img, off + 104, 4) as u32;
        if acl_blk != 0 && !l.xattr_blocks.contains(&acl_blk) {
            l.xattr_blocks.push(acl_blk);
        }
        let kind = mode & 0xf000;
        let fast_symlink = kind == 0xa000 && get(img, off + 28, 4) == 0;
        if !(kind == 0x8000 || kind == 0x4000 || (kind == 0xa000 && !fast_symlink) || ino == 7) {
            continue;
        }
        let first = l.ptrs.len();
        for i in 0..12 {
            push_ptr(img, &mut l, ino, off + 40 + 4 * i, 0, i as u64);
        }
        let mut base = 12u64;
        for level in 1..=3u8 {
            push_ptr(img, &mut l, ino, off + 40 + 4 * (11 + level as usize), level, base);
            base += 1024u64.pow(level as u32);
        }
        if kind == 0x4000 {
            let data: Vec<u32> = l.ptrs[first..].iter().filter(|p| p.level == 0).map(|p| p.blk).collect();
            for b in data {
                l.dir_blocks.push(b);
                let start = b as usize * BS;
                let mut pos = 0;
                while pos + 8 <= BS {
                    l.dirents.push(start + pos);
                    let rec = get(img, start + pos + 4, 2) as usize;
                    if rec < 8 || rec % 4 != 0 {
                        break;
                    }
                    pos += rec;
                }
            }
        }
    }
    Ok(l)
}

/// Records the pointer at byte `at` (of `level`, covering file blocks from `lblk`) and,
/// for an indirect block, the pointers in it.
fn push_ptr(img: &[u8], l: &mut Layout, ino: u32, at: usize, level: u8, lblk: u64) {
    let blk = get(img, at, 4) as u32;
    if blk == 0 || blk >= l.blocks {
        return;
    }
    l.ptrs.push(Ptr { ino, at, blk, level, lblk });
    if level == 0 {
        return;
    }
    l.ind_blocks.push(blk);
    let span = 1024u64.pow(level as u32 - 1);
    for e in 0..1024 {
        push_ptr(img, l, ino, blk as usize * BS + 4 * e, level - 1, lblk + e as u64 * span);
    }
}

struct Base {
    name: String,
    img: Vec<u8>,
    l: Layout,
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Storm,
    Field,
    Crosslink,
    Combo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Storm => "byte storm",
            Kind::Field => "one field",
            Kind::Crosslink => "cross-link",
            Kind::Combo => "combination",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum St {
    Sb,
    Gd,
    Ino,
    Dirent,
}

/// Every field of the on-disk structures: (structure, name, offset, size).
const FIELDS: &[(St, &str, usize, usize)] = &[
    (St::Sb, "s_inodes_count", 0, 4), (St::Sb, "s_blocks_count", 4, 4),
    (St::Sb, "s_r_blocks_count", 8, 4), (St::Sb, "s_free_blocks_count", 12, 4),
    (St::Sb, "s_free_inodes_count", 16, 4), (St::Sb, "s_first_data_block", 20, 4),
    (St::Sb, "s_log_block_size", 24, 4), (St::Sb, "s_log_frag_size", 28, 4),
    (St::Sb, "s_blocks_per_group", 32, 4), (St::Sb, "s_frags_per_group", 36, 4),
    (St::Sb, "s_inodes_per_group", 40, 4), (St::Sb, "s_mtime", 44, 4), (St::Sb, "s_wtime", 48, 4),
    (St::Sb, "s_mnt_count", 52, 2), (St::Sb, "s_max_mnt_count", 54, 2), (St::Sb, "s_magic", 56, 2),
    (St::Sb, "s_state", 58, 2), (St::Sb, "s_errors", 60, 2), (St::Sb, "s_minor_rev_level", 62, 2),
    (St::Sb, "s_lastcheck", 64, 4), (St::Sb, "s_checkinterval", 68, 4),
    (St::Sb, "s_creator_os", 72, 4), (St::Sb, "s_rev_level", 76, 4),
    (St::Sb, "s_def_resuid", 80, 2), (St::Sb, "s_def_resgid", 82, 2),
    (St::Sb, "s_first_ino", 84, 4), (St::Sb, "s_inode_size", 88, 2),
    (St::Sb, "s_block_group_nr", 90, 2), (St::Sb, "s_feature_compat", 92, 4),
    (St::Sb, "s_feature_incompat", 96, 4), (St::Sb, "s_feature_ro_compat", 100, 4),
    (St::Sb, "s_uuid", 104, 4), (St::Sb, "s_volume_name", 120, 1), (St::Sb, "s_last_mounted", 136, 1),
    (St::Sb, "s_algorithm_usage_bitmap", 200, 4), (St::Sb, "s_prealloc_blocks", 204, 1),
    (St::Sb, "s_prealloc_dir_blocks", 205, 1), (St::Sb, "s_reserved_gdt_blocks", 206, 2),
    (St::Sb, "s_journal_uuid", 208, 4), (St::Sb, "s_journal_inum", 224, 4),
    (St::Sb, "s_journal_dev", 228, 4), (St::Sb, "s_last_orphan", 232, 4),
    (St::Sb, "s_hash_seed", 236, 4), (St::Sb, "s_def_hash_version", 252, 1),
    (St::Sb, "s_desc_size", 254, 2), (St::Sb, "s_default_mount_opts", 256, 4),
    (St::Sb, "s_first_meta_bg", 260, 4), (St::Sb, "s_mkfs_time", 264, 4),
    (St::Sb, "s_blocks_count_hi", 336, 4), (St::Sb, "s_min_extra_isize", 348, 2),
    (St::Sb, "s_want_extra_isize", 350, 2), (St::Sb, "s_flags", 352, 4),
    (St::Gd, "bg_block_bitmap", 0, 4), (St::Gd, "bg_inode_bitmap", 4, 4),
    (St::Gd, "bg_inode_table", 8, 4), (St::Gd, "bg_free_blocks_count", 12, 2),
    (St::Gd, "bg_free_inodes_count", 14, 2), (St::Gd, "bg_used_dirs_count", 16, 2),
    (St::Gd, "bg_flags", 18, 2), (St::Gd, "bg_reserved[0]", 20, 4),
    (St::Gd, "bg_reserved[1]", 24, 4), (St::Gd, "bg_reserved[2]", 28, 4),
    (St::Ino, "i_mode", 0, 2), (St::Ino, "i_mode type bits", 1, 1), (St::Ino, "i_uid", 2, 2),
    (St::Ino, "i_size", 4, 4), (St::Ino, "i_atime", 8, 4), (St::Ino, "i_ctime", 12, 4),
    (St::Ino, "i_mtime", 16, 4), (St::Ino, "i_dtime", 20, 4), (St::Ino, "i_gid", 24, 2),
    (St::Ino, "i_links_count", 26, 2), (St::Ino, "i_blocks", 28, 4), (St::Ino, "i_flags", 32, 4),
    (St::Ino, "i_osd1", 36, 4),
    (St::Ino, "i_block[0]", 40, 4), (St::Ino, "i_block[1]", 44, 4), (St::Ino, "i_block[2]", 48, 4),
    (St::Ino, "i_block[3]", 52, 4), (St::Ino, "i_block[4]", 56, 4), (St::Ino, "i_block[5]", 60, 4),
    (St::Ino, "i_block[6]", 64, 4), (St::Ino, "i_block[7]", 68, 4), (St::Ino, "i_block[8]", 72, 4),
    (St::Ino, "i_block[9]", 76, 4), (St::Ino, "i_block[10]", 80, 4), (St::Ino, "i_block[11]", 84, 4),
    (St::Ino, "i_block[12] (indirect)", 88, 4), (St::Ino, "i_block[13] (double indirect)", 92, 4),
    (St::Ino, "i_block[14] (triple indirect)", 96, 4), (St::Ino, "i_generation", 100, 4),
    (St::Ino, "i_file_acl", 104, 4), (St::Ino, "i_size_high", 108, 4), (St::Ino, "i_faddr", 112, 4),
    (St::Ino, "i_frag/i_fsize", 116, 2), (St::Ino, "i_blocks_high", 118, 2),
    (St::Ino, "i_uid_high", 120, 2), (St::Ino, "i_gid_high", 122, 2), (St::Ino, "i_reserved2", 124, 4),
    (St::Ino, "i_extra_isize", 128, 2), (St::Ino, "i_checksum_hi", 130, 2),
    (St::Ino, "i_ctime_extra", 132, 4), (St::Ino, "i_mtime_extra", 136, 4),
    (St::Ino, "i_atime_extra", 140, 4), (St::Ino, "i_crtime", 144, 4),
    (St::Ino, "i_crtime_extra", 148, 4), (St::Ino, "i_version_hi", 152, 4),
    (St::Ino, "i_projid", 156, 4),
    (St::Dirent, "inode", 0, 4), (St::Dirent, "rec_len", 4, 2), (St::Dirent, "name_len", 6, 1),
    (St::Dirent, "file_type", 7, 1), (St::Dirent, "name[0]", 8, 1), (St::Dirent, "name[last]", 9, 1),
];

/// A boundary value for a field of `size` bytes holding `old`.
fn boundary(r: &mut Rng, size: usize, old: u64, l: &Layout) -> u64 {
    let max = if size >= 8 { u64::MAX } else { (1u64 << (8 * size)) - 1 };
    let b = l.blocks as u64;
    let n = l.inodes as u64;
    let v = match r.below(22) {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => max,
        4 => max - 1,
        5 => max / 2,
        6 => max / 2 + 1,
        7 => old.wrapping_add(1),
        8 => old.wrapping_sub(1),
        9 => old.wrapping_mul(2),
        10 => old ^ (1 << r.below(8 * size as u64)),
        11 => b,
        12 => b - 1,
        13 => b + 1,
        14 => n,
        15 => n + 1,
        16 => 4096,
        17 => 4095,
        18 => 11,
        19 => 12,
        20 => 0x8000_0000,
        _ => r.next(),
    };
    let v = v & max;
    if v == old { v ^ 1 } else { v }
}

/// A field mutation: field number `k` of FIELDS (applicable to this image: inode fields past
/// the inode size are skipped) at one instance, set to a boundary value.
fn mutate_field(r: &mut Rng, k: usize, b: &Base, img: &mut [u8], hit: &mut BTreeSet<usize>) -> String {
    let l = &b.l;
    // Field k in an order that takes the structures in turn (a stride prime to the number
    // of fields visits each once per round).
    let n = FIELDS.len();
    let stride = [37, 41, 43, 47].into_iter().find(|s| n % s != 0).unwrap_or(1);
    for j in 0..n {
        let idx = ((k + j) * stride) % n;
        let (st, name, off, size) = FIELDS[idx];
        let (at, what) = match st {
            St::Sb => {
                let c = if l.sbs.len() > 1 && r.chance(4) { 1 + r.below(l.sbs.len() as u64 - 1) as usize } else { 0 };
                (l.sbs[c] + off, if c == 0 { "superblock".to_string() } else { format!("backup superblock {c}") })
            }
            St::Gd => {
                let d = r.below(l.gds.len() as u64) as usize;
                let primary = d < l.groups as usize;
                (l.gds[d] + off, format!("{} group descriptor {}", if primary { "primary" } else { "backup" }, d % l.groups as usize))
            }
            St::Ino => {
                if off + size > l.isz {
                    continue;
                }
                let i = match r.pick(&l.inodes_used) { Some(i) => i, None => continue };
                (i.off + off, format!("inode {}", i.ino))
            }
            St::Dirent => {
                let d = match r.pick(&l.dirents) { Some(d) => *d, None => continue };
                let nlen = get(img, d + 6, 1) as usize;
                let o = if name == "name[last]" { 8 + nlen.max(1) - 1 } else { off };
                (d + o, format!("directory entry at byte {d}"))
            }
        };
        let old = get(img, at, size);
        let v = boundary(r, size, old, l);
        put(img, at, size, v);
        hit.insert(idx);
        return format!("{what}: {name} {old:#x} -> {v:#x}");
    }
    "no field".into()
}

/// Metadata blocks a storm may hit, with the byte range worth storming in each.
fn storm_target(r: &mut Rng, l: &Layout) -> Option<(usize, usize, String)> {
    for _ in 0..8 {
        match r.below(7) {
            6 => {
                if let Some(&blk) = r.pick(&l.xattr_blocks) {
                    return Some((blk as usize * BS, BS, format!("extended attribute block {blk}")));
                }
            }
            0 => {
                let s = *r.pick(&l.sbs)?;
                return Some((s, 360, format!("superblock at byte {s}")));
            }
            1 => {
                let gd = l.gds[0];
                let n = (l.groups as usize * 32).min(BS);
                return Some((gd, n.max(32), "group descriptors".into()));
            }
            2 => {
                let (blk, what) = *r.pick(&l.meta)?;
                if what.contains("bitmap") {
                    return Some((blk as usize * BS, BS, format!("{what} (block {blk})")));
                }
            }
            3 => {
                let i = r.pick(&l.inodes_used)?;
                if r.chance(3) {
                    let blk = i.off / BS;
                    return Some((blk * BS, BS, format!("inode table block {blk}")));
                }
                return Some((i.off, l.isz, format!("inode {}", i.ino)));
            }
            4 => {
                if let Some(&blk) = r.pick(&l.dir_blocks) {
                    return Some((blk as usize * BS, BS, format!("directory block {blk}")));
                }
            }
            _ => {
                if let Some(&blk) = r.pick(&l.ind_blocks) {
                    return Some((blk as usize * BS, BS, format!("indirect block {blk}")));
                }
            }
        }
    }
    None
}

fn mutate_storm(r: &mut Rng, b: &Base, img: &mut [u8]) -> String {
    let mut d = vec![];
    for _ in 0..1 + r.below(3) {
        let Some((start, len, what)) = storm_target(r, &b.l) else { continue };
        let n = if r.chance(8) { 1 + r.below(200) } else { 1 + r.below(16) } as usize;
        let how = match r.below(4) {
            0 => {
                for _ in 0..n {
                    let at = start + r.below(len as u64) as usize;
                    img[at] = r.next() as u8;
                }
                "random bytes"
            }
            1 => {
                for _ in 0..n {
                    let at = start + r.below(len as u64) as usize;
                    img[at] ^= 1 << r.below(8);
                }
                "bit flips"
            }
            2 => {
                let run = (4 + r.below(60) as usize).min(len);
                let at = start + r.below((len - run + 1) as u64) as usize;
                for x in &mut img[at..at + run] {
                    *x = r.next() as u8;
                }
                "a run of random bytes"
            }
            _ => {
                for _ in 0..n {
                    let at = start + r.below(len as u64) as usize;
                    img[at] = [0, 0xff, 0x80, 0x7f, 1][r.below(5) as usize];
                }
                "boundary bytes"
            }
        };
        d.push(format!("{how} ({n}) over {what}"));
    }
    if d.is_empty() { "nothing".into() } else { d.join("; ") }
}

fn ino_kind(l: &Layout, ino: u32) -> u16 {
    l.inodes_used.iter().find(|i| i.ino == ino).map_or(0, |i| i.mode & 0xf000)
}

fn set_ptr(img: &mut [u8], p: &Ptr, blk: u32) -> String {
    put(img, p.at, 4, blk as u64);
    let what = match p.level {
        0 => format!("file block {}", p.lblk),
        1 => "its indirect block".into(),
        2 => "its double indirect block".into(),
        _ => "its triple indirect block".into(),
    };
    format!("inode {}: {} (block {}) -> block {}", p.ino, what, p.blk, blk)
}

/// Cross-link number `k` (mod 8).
fn mutate_crosslink(r: &mut Rng, k: usize, b: &Base, img: &mut [u8]) -> Option<String> {
    let l = &b.l;
    let data: Vec<&Ptr> = l.ptrs.iter().filter(|p| p.level == 0 && p.ino != 7).collect();
    let ind: Vec<&Ptr> = l.ptrs.iter().filter(|p| p.level > 0 && p.ino != 7).collect();
    let of = |ino: u32| -> Vec<&Ptr> { data.iter().copied().filter(|p| p.ino == ino).collect() };
    match k % 8 {
        0 => {
            // A block of one file (or directory) given to another.
            let p = **r.pick(&data)?;
            let others: Vec<&&Ptr> = data.iter().filter(|q| q.ino != p.ino).collect();
            let q = ***r.pick(&others)?;
            Some(format!("between files: {} (block {} of inode {})", set_ptr(img, &p, q.blk), q.lblk, q.ino))
        }
        1 if r.chance(3) => {
            // An inode's extended attribute block on a file's block or on metadata.
            let i = r.pick(&l.inodes_used)?;
            let (t, what) = if r.chance(2) {
                let q = **r.pick(&data)?;
                (q.blk, format!("block {} of inode {}", q.lblk, q.ino))
            } else {
                let (m, what) = *r.pick(&l.meta)?;
                (m, what.to_string())
            };
            let old = get(img, i.off + 104, 4);
            put(img, i.off + 104, 4, u64::from(t));
            Some(format!("attribute block on another's: inode {}: i_file_acl {old} -> {t} ({what})", i.ino))
        }
        1 => {
            // A file block on metadata.
            let p = **r.pick(&data)?;
            let (m, what) = *r.pick(&l.meta)?;
            Some(format!("file on metadata: {} ({what})", set_ptr(img, &p, m)))
        }
        2 => {
            // A file block on another inode's indirect block, a directory block or an
            // extended attribute block.
            let p = **r.pick(&data)?;
            let targets: Vec<u32> = ind.iter().filter(|q| q.ino != p.ino).map(|q| q.blk)
                .chain(l.dir_blocks.iter().copied()).chain(l.xattr_blocks.iter().copied())
                .filter(|&t| t != p.blk).collect();
            let t = *r.pick(&targets)?;
            Some(format!("file on an indirect, directory or attribute block: {}", set_ptr(img, &p, t)))
        }
        3 => {
            // Two pointers of one file at one block.
            let many: Vec<u32> = l.inodes_used.iter().map(|i| i.ino).filter(|&i| of(i).len() >= 2).collect();
            let ino = *r.pick(&many)?;
            let ps = of(ino);
            let a = r.below(ps.len() as u64) as usize;
            let mut c = r.below(ps.len() as u64 - 1) as usize;
            if c >= a {
                c += 1;
            }
            Some(format!("within one file: {}", set_ptr(img, ps[a], ps[c].blk)))
        }
        4 => {
            // A direct pointer and an entry of an indirect block at one block.
            let many: Vec<u32> = l.inodes_used.iter().map(|i| i.ino)
                .filter(|&i| of(i).iter().any(|p| p.lblk < 12) && of(i).iter().any(|p| p.lblk >= 12)).collect();
            let ino = *r.pick(&many)?;
            let ps = of(ino);
            let direct: Vec<&&Ptr> = ps.iter().filter(|p| p.lblk < 12).collect();
            let deep: Vec<&&Ptr> = ps.iter().filter(|p| p.lblk >= 12).collect();
            let (a, c) = (***r.pick(&direct)?, ***r.pick(&deep)?);
            let (p, q) = if r.chance(2) { (a, c) } else { (c, a) };
            Some(format!("within one file, direct and indirect: {}", set_ptr(img, &p, q.blk)))
        }
        5 => {
            // An indirect block that is also one of the file's data blocks, or the reverse.
            let p = **r.pick(&ind)?;
            let ps = of(p.ino);
            let q = **r.pick(&ps)?;
            if r.chance(2) {
                Some(format!("within one file, indirect block on data: {}", set_ptr(img, &p, q.blk)))
            } else {
                Some(format!("within one file, data on its indirect block: {}", set_ptr(img, &q, p.blk)))
            }
        }
        6 => {
            // An indirect block on metadata or on another file's block.
            let p = **r.pick(&ind)?;
            if r.chance(2) {
                let (m, what) = *r.pick(&l.meta)?;
                Some(format!("indirect block on metadata: {} ({what})", set_ptr(img, &p, m)))
            } else {
                let others: Vec<&&Ptr> = data.iter().filter(|q| q.ino != p.ino).collect();
                let q = ***r.pick(&others)?;
                Some(format!("indirect block on another file's block: {} (inode {})", set_ptr(img, &p, q.blk), q.ino))
            }
        }
        _ => {
            // Two directories (or one directory twice) sharing a block.
            let dirs: Vec<&&Ptr> = data.iter().filter(|p| ino_kind(l, p.ino) == 0x4000).collect();
            let p = ***r.pick(&dirs)?;
            let q = ***r.pick(&dirs)?;
            if p.at == q.at {
                return None;
            }
            Some(format!("directories sharing a block: {}", set_ptr(img, &p, q.blk)))
        }
    }
}

/// Image `index` of `seed`: its base, mutation kind and the mutated bytes.
fn make_image(seed: u64, index: u64, bases: &[Base], hit: &mut BTreeSet<usize>) -> (usize, Kind, Vec<u8>, String) {
    let mut r = Rng::for_image(seed, index);
    let bi = (index % bases.len() as u64) as usize;
    let b = &bases[bi];
    let mut img = b.img.clone();
    let slot = (index % 10) as usize;
    let round = (index / 10) as usize;
    let (kind, desc) = match slot {
        0..=2 => (Kind::Storm, mutate_storm(&mut r, b, &mut img)),
        3..=6 => (Kind::Field, mutate_field(&mut r, round * 4 + slot - 3, b, &mut img, hit)),
        7 | 8 => {
            let k = round * 2 + slot - 7;
            let d = (0..8).find_map(|j| mutate_crosslink(&mut r, k + j, b, &mut img));
            (Kind::Crosslink, d.unwrap_or_else(|| mutate_storm(&mut r, b, &mut img)))
        }
        _ => {
            let mut d = vec![];
            for _ in 0..2 + r.below(2) {
                d.push(match r.below(3) {
                    0 => mutate_storm(&mut r, b, &mut img),
                    1 => {
                        let k = r.below(FIELDS.len() as u64) as usize;
                        mutate_field(&mut r, k, b, &mut img, hit)
                    }
                    _ => {
                        let k = r.below(8) as usize;
                        mutate_crosslink(&mut r, k, b, &mut img).unwrap_or_else(|| "no cross-link".into())
                    }
                });
            }
            (Kind::Combo, d.join(" + "))
        }
    };
    (bi, kind, img, desc)
}

// ---------------------------------------------------------------------------
// Kernel reports, from /dev/kmsg
// ---------------------------------------------------------------------------

/// Lines that start a kernel report.
const REPORT_STARTS: &[&str] = &[
    "BUG:", "WARNING:", "Oops", "general protection fault", "kernel BUG", "Unable to handle",
    "UBSAN:", "INFO: possible", "INFO: task", "INFO: trying", "INFO: rcu", "Kernel panic",
    "RCU detected stall", "VFS: Busy inodes", "BUG ", "watchdog: BUG",
];
/// Lines that only appear inside reports: counted as one report when no start line came.
const REPORT_PARTS: &[&str] = &["KASAN", "cut here", "Call Trace:", "panicked at", "lockdep", "stack backtrace"];

struct Kmsg {
    f: File,
    lost: u64,
}

#[derive(Default)]
struct KmsgNews {
    reports: u64,
    xipfs_lines: u64,
    report_text: Vec<String>,
}

impl Kmsg {
    fn open() -> io::Result<Kmsg> {
        let mut f = OpenOptions::new().read(true).custom_flags(sys::O_NONBLOCK).open("/dev/kmsg")?;
        f.seek(SeekFrom::End(0))?;
        Ok(Kmsg { f, lost: 0 })
    }

    /// Reads the records logged since the last call.
    fn news(&mut self) -> KmsgNews {
        let mut n = KmsgNews::default();
        let mut parts = 0;
        let mut buf = vec![0u8; 16384];
        loop {
            match self.f.read(&mut buf) {
                Ok(0) => break,
                Ok(len) => {
                    let rec = String::from_utf8_lossy(&buf[..len]);
                    let (head, rest) = rec.split_once(';').unwrap_or(("", &rec));
                    let msg = rest.lines().next().unwrap_or("");
                    let ts = head.split(',').nth(2).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
                    if msg.contains("xipfs") {
                        n.xipfs_lines += 1;
                    }
                    let start = REPORT_STARTS.iter().any(|s| msg.starts_with(s));
                    let part = REPORT_PARTS.iter().any(|s| msg.contains(s));
                    if start {
                        n.reports += 1;
                    } else if part {
                        parts += 1;
                    }
                    if (start || part || !n.report_text.is_empty()) && n.report_text.len() < 60 {
                        n.report_text.push(format!("[{:5}.{:06}] {msg}", ts / 1_000_000, ts % 1_000_000));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(32) => self.lost += 1, // EPIPE: overwritten
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("xipmut: reading /dev/kmsg: {e}");
                    break;
                }
            }
        }
        if n.reports == 0 && parts > 0 {
            n.reports = 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------
// What is done with each mounted image
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    tried: u64,
    refused: u64,
    mounted_ro: u64,
    mounted_rw: u64,
    rw_refused_ro_ok: u64,
    remounted_ro: u64,
    entries: u64,
    files_read: u64,
    bytes_read: u64,
    /// Extended attribute values read (every name listed, on every inode walked).
    xattrs_read: u64,
    maps: u64,
    ops: u64,
    op_errors: u64,
    errnos: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    by_kind: BTreeMap<Kind, (u64, u64)>,
    xipfs_lines: u64,
    reports: u64,
    report_images: Vec<u64>,
    umount_failures: u64,
    /// Seconds spent writing images, mounting, walking and reading, modifying, unmounting.
    t_write: f64,
    t_mount: f64,
    t_walk: f64,
    t_modify: f64,
    t_umount: f64,
}

/// One image's exercise: counts and scratch files.
struct Ctx<'a> {
    st: &'a mut Stats,
    sink: &'a File,
    src: &'a File,
    r: Rng,
    verbose: bool,
    /// Errors while exercising the image (for the base images, which must have none).
    errors: Vec<String>,
}

impl Ctx<'_> {
    fn op<T>(&mut self, what: &str, res: io::Result<T>) -> Option<T> {
        self.st.ops += 1;
        match res {
            Ok(v) => Some(v),
            Err(e) => {
                self.st.op_errors += 1;
                let name = errno_name(&e);
                *self.st.errnos.entry(name.clone()).or_default() += 1;
                if self.verbose {
                    println!("    {what}: {name}");
                }
                self.errors.push(format!("{what}: {name}"));
                None
            }
        }
    }
}

const READ_WHOLE: u64 = 64 << 10;
const MAP_MAX: u64 = 64 << 10;
const MAX_ENTRIES: u64 = 3000;
const MAX_DEPTH: usize = 24;

struct Tree {
    files: Vec<(PathBuf, u64)>,
    dirs: Vec<PathBuf>,
}

fn walk(cx: &mut Ctx, root: &Path) -> Tree {
    let mut t = Tree { files: vec![], dirs: vec![root.to_path_buf()] };
    let mut seen_dirs = BTreeSet::new();
    let mut seen_files = BTreeSet::new();
    let mut q = VecDeque::from([(root.to_path_buf(), 0usize)]);
    let mut entries = 0u64;
    while let Some((dir, depth)) = q.pop_front() {
        let Some(rd) = cx.op(&format!("opendir {}", dir.display()), fs::read_dir(&dir)) else { continue };
        for ent in rd {
            let Some(ent) = cx.op(&format!("readdir {}", dir.display()), ent) else { break };
            entries += 1;
            if entries > MAX_ENTRIES {
                break;
            }
            let p = ent.path();
            let Some(md) = cx.op(&format!("lstat {}", p.display()), fs::symlink_metadata(&p)) else { continue };
            read_xattrs(cx, &p);
            let ft = md.file_type();
            if ft.is_dir() {
                if depth < MAX_DEPTH && seen_dirs.insert(md.ino()) {
                    q.push_back((p.clone(), depth + 1));
                    t.dirs.push(p);
                }
            } else if ft.is_symlink() {
                cx.op(&format!("readlink {}", p.display()), fs::read_link(&p));
            } else if ft.is_file() {
                // Hard links: each inode is read once.
                if seen_files.insert(md.ino()) {
                    read_file(cx, &p, md.len());
                    t.files.push((p, md.len()));
                }
            }
        }
        if entries > MAX_ENTRIES {
            break;
        }
    }
    cx.st.entries += entries;
    t
}

/// Lists the extended attributes of `p` and reads each.
fn read_xattrs(cx: &mut Ctx, p: &Path) {
    let Some(names) = cx.op(&format!("listxattr {}", p.display()), sys::list_xattrs(p)) else { return };
    let mut buf = vec![0u8; 65536];
    for n in names {
        let what = format!("getxattr {} {}", p.display(), n.to_string_lossy());
        if cx.op(&what, sys::get_xattr(p, &n, &mut buf)).is_some() {
            cx.st.xattrs_read += 1;
        }
    }
}

/// Reads a regular file (whole, or head, middle and tail windows of a large one) and its
/// mapping (up to MAP_MAX, and its last page).
fn read_file(cx: &mut Ctx, p: &Path, size: u64) {
    let Some(f) = cx.op(&format!("open {}", p.display()), File::open(p)) else { return };
    cx.st.files_read += 1;
    let mut windows = vec![(0u64, size.min(READ_WHOLE))];
    if size > READ_WHOLE {
        windows.push((cx.r.below(size - 16384), 16384));
        windows.push((size - 16384, 16384));
    }
    let mut buf = vec![0u8; READ_WHOLE as usize];
    for (off, len) in windows {
        if let Some(n) = cx.op(&format!("read {} at {off}", p.display()), f.read_at(&mut buf[..len as usize], off)) {
            cx.st.bytes_read += n as u64;
        }
    }
    if size == 0 {
        return;
    }
    let mut maps = vec![(0u64, size.min(MAP_MAX))];
    if size > MAP_MAX {
        maps.push(((size - 1) & !4095, 4096));
    }
    for (off, len) in maps {
        let len = (len as usize).div_ceil(4096) * 4096;
        if let Some(m) = cx.op(&format!("mmap {} at {off}", p.display()), sys::Map::new(&f, len, off, false)) {
            cx.st.maps += 1;
            cx.op(&format!("read the mapping of {} at {off}", p.display()), m.copy_out(cx.sink));
        }
    }
}

/// Changes to the tree of a read-write mount.  Every call may fail; each is counted.
fn modify(cx: &mut Ctx, root: &Path, t: &Tree) {
    let pat = vec![0x5au8; 12000];
    let mut r = Rng(cx.r.next());
    let file = |r: &mut Rng| r.pick(&t.files).cloned();
    let dir = |r: &mut Rng| r.pick(&t.dirs).cloned().unwrap_or_else(|| root.to_path_buf());
    // A new file in the root and one in a random directory.
    for d in [root.to_path_buf(), dir(&mut r)] {
        let p = d.join("fz-new");
        if let Some(mut f) = cx.op("create", OpenOptions::new().create(true).write(true).truncate(true).open(&p)) {
            cx.op("write", f.write_all(&pat[..6000]));
            cx.op("fsync", f.sync_all());
        }
    }
    if let Some((p, _)) = file(&mut r) {
        if let Some(mut f) = cx.op("open to append", OpenOptions::new().append(true).open(&p)) {
            cx.op("append", f.write_all(&pat[..5000]));
        }
    }
    if let Some((p, size)) = file(&mut r) {
        if let Some(f) = cx.op("open to write", OpenOptions::new().write(true).open(&p)) {
            let off = r.below(size.min(1 << 20) + 8192);
            cx.op("pwrite", f.write_all_at(&pat[..3000], off));
            cx.op("fallocate", sys::do_fallocate(&f, 0, off, 65536));
            cx.op("punch a hole", sys::do_fallocate(&f, sys::FALLOC_FL_PUNCH_HOLE | sys::FALLOC_FL_KEEP_SIZE, off / 2, 8192));
        }
    }
    if let Some((p, size)) = file(&mut r) {
        if let Some(f) = cx.op("open to truncate", OpenOptions::new().write(true).open(&p)) {
            cx.op("truncate down", f.set_len(size / 2));
        }
    }
    if let Some((p, size)) = file(&mut r) {
        if size < 64 << 20 {
            if let Some(f) = cx.op("open to truncate", OpenOptions::new().write(true).open(&p)) {
                cx.op("truncate up", f.set_len(size + 10000));
            }
        }
    }
    if let Some((p, size)) = file(&mut r) {
        if size > 0 {
            if let Some(f) = cx.op("open to map", OpenOptions::new().read(true).write(true).open(&p)) {
                let len = (size.min(65536) as usize).div_ceil(4096) * 4096;
                if let Some(m) = cx.op("mmap shared writable", sys::Map::new(&f, len, 0, true)) {
                    cx.op("write through the mapping", m.copy_in(cx.src));
                }
            }
        }
    }
    // Extended attributes and an ACL: set (a new block, a rewrite, a copy of a shared one),
    // removed.
    if let Some((p, _)) = file(&mut r) {
        let len = 1 + r.below(3000) as usize;
        cx.op("setxattr user.", sys::set_xattr(&p, "user.fz", &pat[..len]));
        cx.op("setxattr trusted.", sys::set_xattr(&p, "trusted.fz", b"t"));
        cx.op("removexattr", sys::remove_xattr(&p, "trusted.fz"));
    }
    let acl: Vec<u8> = [2u32.to_le_bytes().to_vec(), vec![1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 4, 0, 232, 3, 0, 0,
        4, 0, 4, 0, 255, 255, 255, 255, 0x10, 0, 4, 0, 255, 255, 255, 255, 0x20, 0, 0, 0, 255, 255, 255, 255]].concat();
    let d = dir(&mut r);
    cx.op("set an access ACL", sys::set_xattr(&d, "system.posix_acl_access", &acl));
    cx.op("set a default ACL", sys::set_xattr(&d, "system.posix_acl_default", &acl));
    let d = dir(&mut r).join("fz-dir");
    cx.op("mkdir", fs::create_dir(&d));
    cx.op("create in the new directory", File::create(d.join("f")).map(drop));
    cx.op("unlink in the new directory", fs::remove_file(d.join("f")));
    cx.op("rmdir", fs::remove_dir(&d));
    cx.op("symlink", std::os::unix::fs::symlink("fz-target/of/a/symlink", root.join("fz-sym")));
    if let Some((p, _)) = file(&mut r) {
        cx.op("link", fs::hard_link(&p, dir(&mut r).join("fz-link")));
    }
    // Enough new names to need new directory blocks.
    let d = dir(&mut r);
    for i in 0..24 {
        cx.op("create many", File::create(d.join(format!("fz-{i:02}-{}", "n".repeat(60)))).map(drop));
    }
    // Last, what takes names away: later choices skip what is gone.
    let mut gone: Vec<PathBuf> = vec![];
    let alive = |gone: &[PathBuf], p: &Path| !gone.iter().any(|g| p.starts_with(g));
    if let Some((p, _)) = file(&mut r) {
        if cx.op("unlink", fs::remove_file(&p)).is_some() {
            gone.push(p);
        }
    }
    if let Some((p, _)) = file(&mut r) {
        if alive(&gone, &p) && cx.op("rename a file", fs::rename(&p, root.join("fz-renamed"))).is_some() {
            gone.push(p);
        }
    }
    let (a, b) = (dir(&mut r), dir(&mut r));
    if a != root && !b.starts_with(&a) && alive(&gone, &a) && alive(&gone, &b) {
        if cx.op("rename a directory", fs::rename(&a, b.join("fz-moved"))).is_some() {
            gone.push(a);
        }
    }
    let d = dir(&mut r);
    if d != root && alive(&gone, &d) {
        cx.op("rmdir (likely not empty)", fs::remove_dir(&d));
    }
    if let Some(f) = cx.op("open the root", File::open(root)) {
        cx.op("syncfs", sys::do_syncfs(&f));
    }
    // The root once more, as the changes left it.
    if let Some(rd) = cx.op("opendir / after the changes", fs::read_dir(root)) {
        for e in rd.take(MAX_ENTRIES as usize) {
            if cx.op("readdir / after the changes", e).is_none() {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

struct Opts {
    dev: PathBuf,
    mnt: PathBuf,
    seed: u64,
    count: u64,
    start: u64,
    seconds: u64,
    verbose: bool,
    min_mounted: u64,
    bases: Vec<PathBuf>,
}

/// Writes `img` to the device, padded with zeros to `dev_bytes`, with O_DIRECT (straight to
/// the device memory through xipram's bios, no page cache to allocate and write back).
fn write_image(dev: &Path, img: &[u8], dev_bytes: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    const O_DIRECT: i32 = 0o40000;
    let len = dev_bytes.max(img.len());
    buf.resize(len + BS, 0);
    let at = buf.as_ptr().align_offset(BS);
    let aligned = &mut buf[at..at + len];
    aligned[..img.len()].copy_from_slice(img);
    aligned[img.len()..].fill(0);
    let mut f = OpenOptions::new().write(true).custom_flags(O_DIRECT).open(dev)?;
    f.write_all(aligned)?;
    f.sync_all()
}

enum Mounted {
    No(String),
    Ro,
    Rw,
}

fn mount_image(o: &Opts, index: u64, st: &mut Stats) -> Mounted {
    if index % 2 == 1 {
        // acl,user_xattr: revision 0 images have no default mount options to turn them on.
        let errors = if index % 8 == 5 {
            "errors=remount-ro,acl,user_xattr"
        } else {
            "errors=continue,acl,user_xattr"
        };
        match sys::do_mount(&o.dev, &o.mnt, "xipfs", 0, errors) {
            Ok(()) => return Mounted::Rw,
            Err(_) => match sys::do_mount(&o.dev, &o.mnt, "xipfs", sys::MS_RDONLY, "acl,user_xattr") {
                Ok(()) => {
                    st.rw_refused_ro_ok += 1;
                    return Mounted::Ro;
                }
                Err(e) => return Mounted::No(errno_name(&e)),
            },
        }
    }
    match sys::do_mount(&o.dev, &o.mnt, "xipfs", sys::MS_RDONLY, "acl,user_xattr") {
        Ok(()) => Mounted::Ro,
        Err(e) => Mounted::No(errno_name(&e)),
    }
}

fn unmount(o: &Opts, st: &mut Stats, index: u64) -> bool {
    for _ in 0..5 {
        match sys::do_umount(&o.mnt, 0) {
            Ok(()) => return true,
            Err(e) if e.raw_os_error() == Some(16) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => {
                println!("xipmut: FAIL: image {index}: umount {}: {}", o.mnt.display(), errno_name(&e));
                break;
            }
        }
    }
    println!("xipmut: FAIL: image {index}: umount {} failed; detaching it", o.mnt.display());
    st.umount_failures += 1;
    let _ = sys::do_umount(&o.mnt, 2);
    false
}

fn is_ro_now(mnt: &Path) -> bool {
    let m = fs::read_to_string("/proc/mounts").unwrap_or_default();
    let want = mnt.to_string_lossy();
    m.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want && f[3].split(',').any(|o| o == "ro")
    })
}

/// Mounts, exercises and unmounts what is on the device.  Returns (mounted, errors).
fn exercise(o: &Opts, index: u64, st: &mut Stats, sink: &File, src: &File, rng: Rng, verbose: bool)
    -> (Mounted, Vec<String>) {
    let t = Instant::now();
    let m = mount_image(o, index, st);
    st.t_mount += t.elapsed().as_secs_f64();
    let mut errors = vec![];
    match &m {
        Mounted::No(e) => {
            st.refused += 1;
            *st.refusals.entry(e.clone()).or_default() += 1;
        }
        Mounted::Ro | Mounted::Rw => {
            let rw = matches!(m, Mounted::Rw);
            if rw { st.mounted_rw += 1 } else { st.mounted_ro += 1 }
            let mut cx = Ctx { st, sink, src, r: rng, verbose, errors: vec![] };
            let t0 = Instant::now();
            let t = walk(&mut cx, &o.mnt);
            let t1 = Instant::now();
            if rw {
                modify(&mut cx, &o.mnt, &t);
            }
            errors = std::mem::take(&mut cx.errors);
            st.t_walk += (t1 - t0).as_secs_f64();
            st.t_modify += t1.elapsed().as_secs_f64();
            if rw && is_ro_now(&o.mnt) {
                st.remounted_ro += 1;
            }
            let t2 = Instant::now();
            unmount(o, st, index);
            st.t_umount += t2.elapsed().as_secs_f64();
        }
    }
    (m, errors)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn load_bases(paths: &[PathBuf]) -> Result<Vec<Base>, String> {
    let mut bases = vec![];
    for p in paths {
        let img = fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let l = parse_layout(&img).map_err(|e| format!("{}: {e}", p.display()))?;
        bases.push(Base { name: p.file_name().unwrap().to_string_lossy().into(), img, l });
    }
    if bases.is_empty() {
        return Err("no base images".into());
    }
    Ok(bases)
}

fn run(o: Opts) -> Result<bool, String> {
    let bases = load_bases(&o.bases)?;
    let dev_bytes = {
        let mut f = File::open(&o.dev).map_err(|e| format!("{}: {e}", o.dev.display()))?;
        f.seek(SeekFrom::End(0)).map_err(|e| e.to_string())? as usize
    };
    for b in &bases {
        if b.img.len() > dev_bytes {
            return Err(format!("{} is larger than {}", b.name, o.dev.display()));
        }
        println!(
            "xipmut: base {}: {} blocks, {} groups, {}-byte inodes, {} inodes used, {} block pointers, {} directory blocks, {} indirect blocks, {} attribute blocks, {} directory entries, {} metadata blocks",
            b.name, b.l.blocks, b.l.groups, b.l.isz, b.l.inodes_used.len(), b.l.ptrs.len(),
            b.l.dir_blocks.len(), b.l.ind_blocks.len(), b.l.xattr_blocks.len(), b.l.dirents.len(), b.l.meta.len()
        );
    }
    fs::create_dir_all(&o.mnt).map_err(|e| e.to_string())?;
    let scratch = |name: &str| -> Result<File, String> {
        OpenOptions::new().read(true).write(true).create(true).truncate(true)
            .open(format!("/tmp/xipmut-{name}")).map_err(|e| e.to_string())
    };
    let sink = scratch("sink")?;
    let src = scratch("src")?;
    src.write_all_at(&vec![0xc3u8; MAP_MAX as usize], 0).map_err(|e| e.to_string())?;
    let mut kmsg = Kmsg::open().map_err(|e| format!("/dev/kmsg: {e}"))?;
    let mut st = Stats::default();
    let mut ok = true;
    let mut wbuf = vec![];

    // A watchdog: an image that takes minutes is a hang (the kernel's hung-task detector is
    // not in the test kernel); say which, while the main thread is stuck.
    let started = Arc::new(AtomicU64::new(now_secs()));
    let current = Arc::new(AtomicU64::new(u64::MAX));
    {
        let (started, current, seed) = (started.clone(), current.clone(), o.seed);
        std::thread::spawn(move || {
            let mut warned = u64::MAX;
            loop {
                std::thread::sleep(Duration::from_secs(5));
                let i = current.load(Ordering::Relaxed);
                let t = now_secs().saturating_sub(started.load(Ordering::Relaxed));
                if i != u64::MAX && t >= 120 && warned != i {
                    println!("xipmut: FAIL: image {i} of seed {seed} has run for {t} s: a hang? (reproduce: xipmut run ... --seed {seed} --only {i})");
                    let _ = io::stdout().flush();
                    warned = i;
                }
            }
        });
    }

    // The detector itself: a planted report must be counted, once.  Only when the console
    // does not print warnings (the test lowers its level), where the planted line would look
    // like a real report to whoever reads the console.
    let console_level = fs::read_to_string("/proc/sys/kernel/printk").ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse::<u32>().ok())).unwrap_or(7);
    if console_level <= 4 {
        let _ = kmsg.news();
        fs::write("/dev/kmsg", "<4>WARNING: xipmut self-test: a planted report, not a bug\n")
            .map_err(|e| format!("/dev/kmsg: {e}"))?;
        let n = kmsg.news();
        if n.reports != 1 {
            println!("xipmut: FAIL: self-test: a planted WARNING line counted as {} reports, not 1", n.reports);
            return Ok(false);
        }
        println!("xipmut: self-test: a planted WARNING line in the kernel log is counted as a report");
    } else {
        println!("xipmut: self-test skipped: the console prints warnings (level {console_level})");
    }

    // The base images as they are: each must mount read-only and read-write and read
    // without a single error.
    let _ = kmsg.news();
    for (bi, b) in bases.iter().enumerate() {
        for (index, how) in [(0u64, "read-only"), (1, "read-write")] {
            write_image(&o.dev, &b.img, dev_bytes, &mut wbuf).map_err(|e| format!("writing {}: {e}", o.dev.display()))?;
            let mut bst = Stats::default();
            let (m, errors) = exercise(&o, index, &mut bst, &sink, &src, Rng(bi as u64), false);
            let news = kmsg.news();
            let fine = match m {
                Mounted::No(e) => { println!("xipmut: FAIL: base {} ({how}): the mount failed: {e}", b.name); false }
                Mounted::Ro if index == 1 => { println!("xipmut: FAIL: base {}: the read-write mount was refused", b.name); false }
                _ => true,
            };
            let walk_errors: Vec<&String> = errors.iter().filter(|e| index == 0 || !e.starts_with("rmdir (likely")).collect();
            if !walk_errors.is_empty() {
                println!("xipmut: FAIL: base {} ({how}): errors on a good image: {walk_errors:?}", b.name);
                ok = false;
            }
            if bst.files_read < 5 {
                println!("xipmut: FAIL: base {} ({how}): only {} files read", b.name, bst.files_read);
                ok = false;
            }
            if news.reports > 0 || bst.umount_failures > 0 {
                for l in &news.report_text { println!("{l}"); }
                println!("xipmut: FAIL: base {} ({how}): kernel report or failed umount", b.name);
                ok = false;
            }
            ok &= fine;
            println!("xipmut: base {} {how}: {} entries, {} files read, {} mappings: {}", b.name,
                bst.entries, bst.files_read, bst.maps, if fine && walk_errors.is_empty() { "ok" } else { "FAILED" });
        }
    }
    if !ok {
        return Ok(false);
    }

    let t0 = Instant::now();
    let mut hit = BTreeSet::new();
    let mut last_report = Instant::now();
    let end = o.start.saturating_add(o.count);
    let mut i = o.start;
    while i < end {
        if o.seconds > 0 && t0.elapsed().as_secs() >= o.seconds {
            println!("xipmut: time bound of {} s reached", o.seconds);
            break;
        }
        let (bi, kind, img, desc) = make_image(o.seed, i, &bases, &mut hit);
        if o.verbose {
            println!("image {i}: base {}, {}: {desc}", bases[bi].name, kind.name());
        }
        started.store(now_secs(), Ordering::Relaxed);
        current.store(i, Ordering::Relaxed);
        let tw = Instant::now();
        write_image(&o.dev, &img, dev_bytes, &mut wbuf).map_err(|e| format!("writing {}: {e}", o.dev.display()))?;
        st.t_write += tw.elapsed().as_secs_f64();
        st.tried += 1;
        let rng = Rng::for_image(o.seed ^ 0x5eed, i);
        let (m, _) = exercise(&o, i, &mut st, &sink, &src, rng, o.verbose);
        current.store(u64::MAX, Ordering::Relaxed);
        let e = st.by_kind.entry(kind).or_default();
        e.0 += 1;
        if !matches!(m, Mounted::No(_)) {
            e.1 += 1;
        }
        if o.verbose {
            match &m {
                Mounted::No(e) => println!("  refused: {e}"),
                Mounted::Ro => println!("  mounted read-only"),
                Mounted::Rw => println!("  mounted read-write"),
            }
        }
        let news = kmsg.news();
        st.xipfs_lines += news.xipfs_lines;
        if news.reports > 0 {
            st.reports += news.reports;
            st.report_images.push(i);
            println!("xipmut: KERNEL REPORT after image {i} of seed {} (base {}, {}: {desc}):", o.seed, bases[bi].name, kind.name());
            for l in &news.report_text {
                println!("xipmut: | {l}");
            }
            println!("xipmut: reproduce: xipmut run ... --seed {} --only {i} --verbose (or xipmut gen --seed {} --index {i} --out FILE)", o.seed, o.seed);
        }
        i += 1;
        if last_report.elapsed() >= Duration::from_secs(60) {
            last_report = Instant::now();
            println!("fuzz-images: {} tried, {} refused, {} mounted ({} rw), {} kernel reports, {:.0} s",
                st.tried, st.refused, st.mounted_ro + st.mounted_rw, st.mounted_rw, st.reports, t0.elapsed().as_secs_f64());
            let _ = io::stdout().flush();
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mounted = st.mounted_ro + st.mounted_rw;
    println!("xipmut: by mutation: {}", st.by_kind.iter()
        .map(|(k, (t, m))| format!("{} {t} tried, {m} mounted", k.name())).collect::<Vec<_>>().join("; "));
    println!("xipmut: fields mutated: {} of {}", hit.len(), FIELDS.len());
    println!("xipmut: refusals: {:?}", st.refusals);
    println!("xipmut: read-write mounts refused, read-only ones made instead: {}; read-write mounts made read-only by errors=remount-ro: {}", st.rw_refused_ro_ok, st.remounted_ro);
    println!("xipmut: on mounted images: {} directory entries, {} files read ({} bytes), {} mappings read, {} extended attributes read, {} operations, {} failed: {:?}",
        st.entries, st.files_read, st.bytes_read, st.maps, st.xattrs_read, st.ops, st.op_errors, st.errnos);
    println!("xipmut: {} kernel log lines naming xipfs; kernel log records lost (ring overrun): {}", st.xipfs_lines, kmsg.lost);
    println!("xipmut: {:.1} s, {:.1} images/s; time writing images {:.1} s, mounting {:.1} s, walking and reading {:.1} s, modifying {:.1} s, unmounting {:.1} s",
        secs, st.tried as f64 / secs.max(0.001), st.t_write, st.t_mount, st.t_walk, st.t_modify, st.t_umount);
    println!("fuzz-images: seed {}: {} tried, {} refused, {} mounted ({} rw), {} kernel reports",
        o.seed, st.tried, st.refused, mounted, st.mounted_rw, st.reports);
    if st.reports > 0 {
        println!("xipmut: FAIL: kernel reports after images {:?} of seed {}", st.report_images, o.seed);
        ok = false;
    }
    if st.umount_failures > 0 {
        println!("xipmut: FAIL: {} unmounts failed", st.umount_failures);
        ok = false;
    }
    if kmsg.lost > 0 {
        println!("xipmut: FAIL: kernel log records were lost before they could be read: reports may be missing");
        ok = false;
    }
    if st.tried > o.min_mounted && (st.refused == 0 || mounted < o.min_mounted || st.mounted_rw == 0) {
        println!("xipmut: FAIL: implausible counts: every image should not be refused, nor none (at least {} mounted, some rw)", o.min_mounted);
        ok = false;
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------
// The base tree
// ---------------------------------------------------------------------------

fn pattern(name: &str, len: usize) -> Vec<u8> {
    let seed = name.bytes().fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len).map(|i| seed.wrapping_add((i / 7) as u8) | 1).collect()
}

fn mktree(d: &Path) -> io::Result<()> {
    fs::create_dir_all(d)?;
    let w = |name: &str, len: usize| fs::write(d.join(name), pattern(name, len));
    w("small", 100)?;
    w("one", 4096)?;
    w("twelve", 12 * 4096)?;
    w("thirteen", 12 * 4096 + 100)?;
    w("ind", 40 * 4096 + 7)?;
    File::create(d.join("empty"))?;
    // Holes: blocks 0, 6, 14, 20 of 21.
    let sparse = |name: &str, blocks: &[u64], size: u64| -> io::Result<()> {
        let f = File::create(d.join(name))?;
        for &b in blocks {
            f.write_all_at(&pattern(name, 4096), b * 4096)?;
        }
        f.set_len(size)
    };
    sparse("holes", &[0, 6, 14, 20], 21 * 4096)?;
    // Double indirect (file blocks 1036 and on) and triple indirect (1049612 and on).
    sparse("dind", &[1040, 1300], 1301 * 4096)?;
    sparse("tind", &[3, 1049700], 1049701 * 4096 + 123)?;
    std::os::unix::fs::symlink("small", d.join("link-fast"))?;
    std::os::unix::fs::symlink("long/".repeat(40), d.join("link-slow"))?;
    std::os::unix::fs::symlink("no/such/file", d.join("link-dangling"))?;
    fs::hard_link(d.join("one"), d.join("hard-a"))?;
    fs::hard_link(d.join("one"), d.join("hard-b"))?;
    fs::create_dir_all(d.join("dir/a/b/c"))?;
    fs::write(d.join("dir/a/b/c/deep"), pattern("deep", 5000))?;
    fs::write(d.join("dir/x"), pattern("x", 3 * 4096))?;
    std::os::unix::fs::symlink("../small", d.join("dir/link-up"))?;
    fs::create_dir(d.join("many"))?;
    for i in 0..150 {
        fs::hard_link(d.join("dir/x"), d.join(format!("many/entry-{i:040}")))?;
    }
    fs::create_dir(d.join("emptydir"))?;
    sys::do_mknod(&d.join("fifo"), sys::S_IFIFO | 0o644, 0)?;
    sys::do_mknod(&d.join("null"), sys::S_IFCHR | 0o666, (1 << 8) | 3)?;
    Ok(())
}

// ---------------------------------------------------------------------------

fn usage() -> ExitCode {
    eprintln!("usage: xipmut mktree DIR\n       xipmut run --dev DEV --mnt DIR --seed S --count N [--start I] [--only I] [--seconds T] [--min-mounted N] [--verbose] BASE.img...\n       xipmut gen --seed S --index I --out FILE BASE.img...");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else { return usage() };
    if cmd == "mktree" {
        let [_, dir] = &args[..] else { return usage() };
        return match mktree(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xipmut mktree: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut o = Opts {
        dev: PathBuf::new(), mnt: PathBuf::from("/mnt/fz"), seed: 1, count: 100, start: 0,
        seconds: 0, verbose: false, min_mounted: 10, bases: vec![],
    };
    let mut out = None;
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let num = |it: &mut std::slice::Iter<String>| it.next().and_then(|v| v.parse::<u64>().ok());
        match a.as_str() {
            "--dev" => o.dev = match it.next() { Some(v) => v.into(), None => return usage() },
            "--mnt" => o.mnt = match it.next() { Some(v) => v.into(), None => return usage() },
            "--out" => out = it.next().cloned(),
            "--seed" => o.seed = match num(&mut it) { Some(v) => v, None => return usage() },
            "--count" => o.count = match num(&mut it) { Some(v) => v, None => return usage() },
            "--start" | "--index" => o.start = match num(&mut it) { Some(v) => v, None => return usage() },
            "--only" => {
                o.start = match num(&mut it) { Some(v) => v, None => return usage() };
                o.count = 1;
                o.min_mounted = u64::MAX;
            }
            "--seconds" => o.seconds = match num(&mut it) { Some(v) => v, None => return usage() },
            "--min-mounted" => o.min_mounted = match num(&mut it) { Some(v) => v, None => return usage() },
            "--verbose" => o.verbose = true,
            s if s.starts_with("--") => return usage(),
            s => o.bases.push(s.into()),
        }
    }
    match cmd.as_str() {
        "gen" => {
            let Some(out) = out else { return usage() };
            let bases = match load_bases(&o.bases) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("xipmut: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let (bi, kind, img, desc) = make_image(o.seed, o.start, &bases, &mut BTreeSet::new());
            println!("image {}: base {}, {}: {desc}", o.start, bases[bi].name, kind.name());
            match fs::write(&out, img) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xipmut: {out}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        "run" => {
            if o.dev.as_os_str().is_empty() {
                return usage();
            }
            println!("xipmut: seed {}, images {}..{}{}", o.seed, o.start, o.start.saturating_add(o.count),
                if o.seconds > 0 { format!(", at most {} s", o.seconds) } else { String::new() });
            match run(o) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    println!("xipmut: FAIL: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => usage(),
    }
}
