// SPDX-License-Identifier: GPL-2.0

//! The writers of `fs/xipfs/ondisk.rs` against e2fsprogs: images made by `mke2fs -d` are
//! changed with nothing but `ondisk.rs`'s functions (bitmaps, counters, new and deleted inodes,
//! fast and slow symlinks, a device, directory entries added until the directory grows, removed,
//! repointed, a directory moved and one removed), as the write path will change them, and then
//! `e2fsck -fn` must find nothing to fix, and the harness's mount and walk (`walk`) must read
//! everything back. The allocation policy here is the simplest (first free bit); only the format
//! is under test.
//!
//! Needs `mke2fs` and `e2fsck` (`scripts/host-fuzz` installs e2fsprogs).

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use xipfs_ondisk_host::dev::Image;
use xipfs_ondisk_host::ondisk::*;
use xipfs_ondisk_host::walk::{self, Kind, Visit};

/// An image in memory, changed through `ondisk.rs` only.
struct Fs {
    img: Vec<u8>,
    sb: Superblock,
    now: u32,
}

impl Fs {
    fn block(&self, b: u32) -> &[u8] {
        &self.img[b as usize * BLOCK_SIZE..][..BLOCK_SIZE]
    }

    fn block_mut(&mut self, b: u32) -> &mut [u8] {
        &mut self.img[b as usize * BLOCK_SIZE..][..BLOCK_SIZE]
    }

    /// Now, with nanoseconds where the inodes can keep them.
    fn ts(&self) -> Timestamp {
        let nsec = if self.sb.inode_size > 128 {
            123_456_789
        } else {
            0
        };
        Timestamp {
            sec: i64::from(self.now),
            nsec,
        }
    }

    fn gd(&self, g: u32) -> (GroupDesc, usize) {
        let (blk, off) = self.sb.group_desc_location(g).unwrap();
        let gd = GroupDesc::parse(&self.sb, g, self.block(blk)).unwrap();
        (gd, blk as usize * BLOCK_SIZE + off)
    }

    fn put_gd(&mut self, g: u32, gd: &GroupDesc) {
        let (_, at) = self.gd(g);
        gd.encode_counts(&mut self.img[at..at + GROUP_DESC_SIZE])
            .unwrap();
    }

    /// The first free block, from group `pref` on.
    fn alloc_block(&mut self, pref: u32) -> u32 {
        let n = self.sb.group_count();
        for g in (0..n).map(|k| (pref + k) % n) {
            let (mut gd, _) = self.gd(g);
            let first = self.sb.group_first_block(g).unwrap();
            let count = self.sb.group_last_block(g).unwrap() - first + 1;
            let bm = gd.block_bitmap;
            let Some(i) = (0..count).find(|&i| !bit_test(self.block(bm), i)) else {
                continue;
            };
            assert_eq!(bit_set(self.block_mut(bm), i), Ok(false));
            gd.free_blocks_count -= 1;
            self.put_gd(g, &gd);
            self.sb.free_blocks_count -= 1;
            let b = first + i;
            self.block_mut(b).fill(0);
            return b;
        }
        panic!("no free block");
    }

    fn free_block(&mut self, b: u32) {
        let g = b / self.sb.blocks_per_group;
        let (mut gd, _) = self.gd(g);
        let i = b - self.sb.group_first_block(g).unwrap();
        let bm = gd.block_bitmap;
        assert_eq!(
            bit_clear(self.block_mut(bm), i),
            Ok(true),
            "block {b} was free"
        );
        gd.free_blocks_count += 1;
        self.put_gd(g, &gd);
        self.sb.free_blocks_count += 1;
    }

    /// The first free inode from group `pref` on.
    fn alloc_inode(&mut self, pref: u32, dir: bool) -> u32 {
        let n = self.sb.group_count();
        for g in (0..n).map(|k| (pref + k) % n) {
            let (mut gd, _) = self.gd(g);
            let base = g * self.sb.inodes_per_group;
            let bm = gd.inode_bitmap;
            let free = (0..self.sb.inodes_per_group)
                .find(|&i| base + i + 1 >= self.sb.first_ino && !bit_test(self.block(bm), i));
            let Some(i) = free else { continue };
            assert_eq!(bit_set(self.block_mut(bm), i), Ok(false));
            gd.free_inodes_count -= 1;
            if dir {
                gd.used_dirs_count += 1;
            }
            self.put_gd(g, &gd);
            self.sb.free_inodes_count -= 1;
            return base + i + 1;
        }
        panic!("no free inode");
    }

    fn free_inode(&mut self, ino: u32, dir: bool) {
        let g = (ino - 1) / self.sb.inodes_per_group;
        let (mut gd, _) = self.gd(g);
        let bm = gd.inode_bitmap;
        let i = (ino - 1) % self.sb.inodes_per_group;
        assert_eq!(
            bit_clear(self.block_mut(bm), i),
            Ok(true),
            "inode {ino} was free"
        );
        gd.free_inodes_count += 1;
        if dir {
            gd.used_dirs_count -= 1;
        }
        self.put_gd(g, &gd);
        self.sb.free_inodes_count += 1;
    }

    /// The byte range of inode `ino` in the image.
    fn inode_at(&self, ino: u32) -> std::ops::Range<usize> {
        let loc = self.sb.locate_inode(ino).unwrap();
        let (gd, _) = self.gd(loc.group);
        let at = loc.block(&gd).unwrap() as usize * BLOCK_SIZE + loc.offset;
        at..at + loc.size
    }

    fn inode(&self, ino: u32) -> Inode {
        Inode::parse(&self.sb, &self.img[self.inode_at(ino)]).unwrap()
    }

    fn put_inode(&mut self, ino: u32, inode: &Inode) {
        inode.check(&self.sb).unwrap();
        let r = self.inode_at(ino);
        inode.encode(&self.sb, &mut self.img[r]).unwrap();
    }

    fn new_inode(&mut self, ino: u32, inode: &Inode) {
        let r = self.inode_at(ino);
        inode.encode_new(&self.sb, &mut self.img[r]).unwrap();
        assert_eq!(&self.inode(ino), inode);
    }

    /// The blocks of directory `dir` (direct blocks only: the tests' directories are small).
    fn dir_blocks(&self, dir: u32) -> Vec<u32> {
        let i = self.inode(dir);
        let n = (i.size / BLOCK_SIZE as u64) as usize;
        assert!(n <= NDIR_BLOCKS);
        i.block[..n].to_vec()
    }

    /// Entry `name` of `dir`: (block, offset, inode).
    fn find(&self, dir: u32, name: &[u8]) -> Option<(u32, usize, u32)> {
        for b in self.dir_blocks(dir) {
            for e in dir_entries(&self.sb, self.block(b)) {
                let e = e.unwrap();
                if e.name == name {
                    return Some((b, e.offset, e.inode));
                }
            }
        }
        None
    }

    fn touch_dir(&mut self, dir: u32) {
        let mut d = self.inode(dir);
        d.mtime = self.ts();
        d.ctime = self.ts();
        // A hash index does not survive linear edits.
        d.flags &= !FL_INDEX;
        self.put_inode(dir, &d);
    }

    /// Adds `name` -> `ino` to `dir` in the first block with room, or in a new block.
    fn link(&mut self, dir: u32, name: &[u8], ino: u32, ft: u8) {
        assert!(
            self.find(dir, name).is_none(),
            "{:?} exists",
            String::from_utf8_lossy(name)
        );
        let sb = self.sb.clone();
        for b in self.dir_blocks(dir) {
            if dir_add(&sb, self.block_mut(b), ino, name, ft)
                .unwrap()
                .is_some()
            {
                return self.touch_dir(dir);
            }
        }
        let g = (dir - 1) / sb.inodes_per_group;
        let b = self.alloc_block(g);
        dir_init_empty(self.block_mut(b)).unwrap();
        assert!(dir_add(&sb, self.block_mut(b), ino, name, ft)
            .unwrap()
            .is_some());
        let mut d = self.inode(dir);
        let n = (d.size / BLOCK_SIZE as u64) as usize;
        d.block[n] = b;
        d.size += BLOCK_SIZE as u64;
        d.blocks += 8;
        self.put_inode(dir, &d);
        self.touch_dir(dir);
    }

    /// Removes `name` from `dir`; returns its inode.
    fn unlink_entry(&mut self, dir: u32, name: &[u8]) -> u32 {
        let (b, off, ino) = self.find(dir, name).expect("no such entry");
        let sb = self.sb.clone();
        dir_remove(&sb, self.block_mut(b), off).unwrap();
        assert!(self.find(dir, name).is_none());
        self.touch_dir(dir);
        ino
    }

    /// Drops one link of `ino`; frees it (and its direct blocks) at the last one.
    fn drop_link(&mut self, ino: u32) {
        let mut i = self.inode(ino);
        i.links_count -= 1;
        i.ctime = self.ts();
        let dir = i.file_type() == Ok(FileType::Directory);
        if i.links_count > u16::from(dir) {
            return self.put_inode(ino, &i);
        }
        if !i.is_fast_symlink()
            && !matches!(i.file_type(), Ok(FileType::CharDev | FileType::BlockDev))
        {
            for b in i.block {
                assert!(b == 0 || b < self.sb.blocks_count);
                if b != 0 {
                    self.free_block(b);
                }
            }
        }
        // As ext2_evict_inode(): size 0, no blocks, then deleted.
        i.size = 0;
        i.blocks = 0;
        i.block = [0; N_BLOCKS];
        i.set_deleted(self.now);
        assert!(i.is_deleted());
        let r = self.inode_at(ino);
        i.encode(&self.sb, &mut self.img[r]).unwrap();
        assert!(self.inode(ino).is_deleted());
        self.free_inode(ino, dir);
    }

    fn create(&mut self, dir: u32, name: &[u8], mode: u16, data: &[u8]) -> u32 {
        let g = (dir - 1) / self.sb.inodes_per_group;
        let ino = self.alloc_inode(g, false);
        let mut i = Inode::new(mode, 1000, 1000, self.ts(), ino ^ 0x5a5a, &self.sb);
        for (k, chunk) in data.chunks(BLOCK_SIZE).enumerate() {
            let b = self.alloc_block(g);
            self.block_mut(b)[..chunk.len()].copy_from_slice(chunk);
            i.block[k] = b;
            i.blocks += 8;
        }
        i.size = data.len() as u64;
        self.new_inode(ino, &i);
        let ft = FileType::from_mode(mode).unwrap().dirent_type();
        self.link(dir, name, ino, ft);
        ino
    }

    fn mkdir(&mut self, parent: u32, name: &[u8], group: u32) -> u32 {
        let ino = self.alloc_inode(group, true);
        let b = self.alloc_block(group);
        let sb = self.sb.clone();
        dir_init_first(&sb, self.block_mut(b), ino, parent).unwrap();
        assert_eq!(dir_block_is_empty(&sb, self.block(b), true), Ok(true));
        let mut i = Inode::new(0o040750, 0, 0, self.ts(), 7, &self.sb);
        i.links_count = 2;
        i.size = BLOCK_SIZE as u64;
        i.blocks = 8;
        i.block[0] = b;
        self.new_inode(ino, &i);
        self.link(parent, name, ino, FT_DIR);
        let mut p = self.inode(parent);
        p.links_count += 1;
        self.put_inode(parent, &p);
        ino
    }

    /// Writes the superblock back and runs `e2fsck -fn` on the image; panics unless it is
    /// clean. Then mounts and walks it with the harness.
    fn check(&mut self, label: &str) {
        self.sb.wtime = self.now;
        let sb = self.sb.clone();
        sb.encode_dynamic(&mut self.img[SUPERBLOCK_OFFSET..])
            .unwrap();
        assert_eq!(
            Superblock::parse(&self.img[SUPERBLOCK_OFFSET..]).as_ref(),
            Ok(&self.sb)
        );
        let (clean, text) = e2fsck(&self.img, label);
        assert!(clean, "{label}: e2fsck -fn is not clean:\n{text}");
        let img = Image {
            bytes: &self.img,
            device_bytes: self.img.len() as u64,
        };
        let m = walk::mount(&img).expect("harness mount");
        let mut n = 0;
        let walked = m.walk(&img, &mut |v| {
            if let Visit::Inode { .. } = v {
                n += 1;
            }
        });
        assert_eq!(
            walked.errors, 0,
            "{label}: the harness walk found corruption"
        );
        assert!(n > 5, "{label}: walked only {n} inodes");
    }
}

/// Runs `e2fsck -fn` on `img`: whether it is clean, and what it said.
fn e2fsck(img: &[u8], label: &str) -> (bool, String) {
    let path = tmp(label);
    std::fs::write(&path, img).unwrap();
    let out = Command::new("e2fsck")
        .arg("-fn")
        .arg(&path)
        .output()
        .expect("e2fsck");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).into_owned()
        + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn tmp(label: &str) -> PathBuf {
    std::env::temp_dir().join(format!("xipfs-fsck-{}-{label}", std::process::id()))
}

/// An image made by `mke2fs -t ext2 -b 4096 OPTIONS -d TREE` (8 MiB), the tree holding
/// `hello.txt`, `sub/file`, `empty/` and `keep`.
fn mkfs(label: &str, options: &[&str]) -> Fs {
    let tree = tmp(&format!("{label}-tree"));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    std::fs::write(tree.join("hello.txt"), b"hello\n").unwrap();
    std::fs::write(tree.join("sub/file"), vec![7u8; 5000]).unwrap();
    std::fs::write(tree.join("keep"), b"keep").unwrap();
    let path = tmp(label);
    let out = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "4096"])
        .args(options)
        .arg("-d")
        .arg(&tree)
        .arg(&path)
        .arg("8M")
        .output()
        .expect("mke2fs (e2fsprogs) is needed");
    assert!(
        out.status.success(),
        "mke2fs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&tree);
    let sb = Superblock::parse(&img[SUPERBLOCK_OFFSET..]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut fs = Fs { img, sb, now };
    fs.check(&format!("{label}-fresh"));
    fs
}

/// Every kind of change the write path makes, checked by e2fsck after each step.
fn exercise(label: &str, options: &[&str]) {
    let mut fs = mkfs(label, options);
    let sb = fs.sb.clone();
    let last_group = sb.group_count() - 1;
    fs.sb.mtime = fs.now;
    fs.sb.mnt_count += 1;

    // A regular file of three blocks, a fast and a slow symlink, a device, in a new directory
    // (in the last group, to use another group's bitmaps and descriptor).
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let file = fs.create(ROOT_INO, b"new-file", 0o100644, &data);
    let d1 = fs.mkdir(ROOT_INO, b"d1", last_group);
    fs.create(d1, b"inner", 0o100600, b"");
    let fast = fs.create(d1, b"fast", 0o120777, b"");
    let mut l = fs.inode(fast);
    l.set_fast_symlink(b"../new-file").unwrap();
    fs.put_inode(fast, &l);
    let target = vec![b'y'; 100];
    fs.create(d1, b"slow", 0o120777, &target);
    let chr = fs.create(d1, b"chr", 0o020644, b"");
    let mut c = fs.inode(chr);
    c.set_rdev(300, 70000).unwrap();
    fs.put_inode(chr, &c);
    fs.check(&format!("{label}-create"));

    // Hard links until the root directory takes new blocks; then every other one removed.
    let links = 400;
    for k in 0..links {
        fs.link(
            ROOT_INO,
            format!("link-{k:03}-to-new-file").as_bytes(),
            file,
            FT_REG_FILE,
        );
    }
    let mut f = fs.inode(file);
    f.links_count += links as u16;
    fs.put_inode(file, &f);
    assert!(fs.inode(ROOT_INO).size > BLOCK_SIZE as u64);
    fs.check(&format!("{label}-links"));
    for k in (0..links).step_by(2) {
        fs.unlink_entry(ROOT_INO, format!("link-{k:03}-to-new-file").as_bytes());
        fs.drop_link(file);
    }
    fs.check(&format!("{label}-unlinks"));

    // Unlink files of the tree, to their last link: inodes and blocks freed.
    let hello = fs.unlink_entry(ROOT_INO, b"hello.txt");
    fs.drop_link(hello);
    assert!(fs.inode(hello).is_deleted());
    let sub = fs.find(ROOT_INO, b"sub").unwrap().2;
    let f = fs.unlink_entry(sub, b"file");
    fs.drop_link(f);
    fs.check(&format!("{label}-free"));

    // Move "sub" into d1 under a new name: link, unlink, and its ".." repointed.
    fs.link(d1, b"sub-moved", sub, FT_DIR);
    fs.unlink_entry(ROOT_INO, b"sub");
    let sub_block = fs.dir_blocks(sub)[0];
    let (_, dotdot, parent) = fs.find(sub, b"..").unwrap();
    assert_eq!(parent, ROOT_INO);
    let sbc = fs.sb.clone();
    dir_set(&sbc, fs.block_mut(sub_block), dotdot, d1, FT_DIR).unwrap();
    assert_eq!(fs.find(sub, b"..").unwrap().2, d1);
    let mut root = fs.inode(ROOT_INO);
    root.links_count -= 1;
    fs.put_inode(ROOT_INO, &root);
    let mut d = fs.inode(d1);
    d.links_count += 1;
    fs.put_inode(d1, &d);
    // Rename over: "keep" now names the new file, the old "keep" is freed.
    let (kb, koff, old_keep) = fs.find(ROOT_INO, b"keep").unwrap();
    dir_set(&sbc, fs.block_mut(kb), koff, file, FT_REG_FILE).unwrap();
    let mut f = fs.inode(file);
    f.links_count += 1;
    fs.put_inode(file, &f);
    fs.drop_link(old_keep);
    fs.check(&format!("{label}-rename"));

    // rmdir: "empty" is, "d1" is not.
    let empty = fs.find(ROOT_INO, b"empty").unwrap().2;
    let eb = fs.dir_blocks(empty);
    assert_eq!(dir_block_is_empty(&sbc, fs.block(eb[0]), true), Ok(true));
    let d1b = fs.dir_blocks(d1)[0];
    assert_eq!(dir_block_is_empty(&sbc, fs.block(d1b), true), Ok(false));
    fs.unlink_entry(ROOT_INO, b"empty");
    let mut e = fs.inode(empty);
    e.links_count = 1; // "." goes with the directory; drop_link removes the last.
    fs.put_inode(empty, &e);
    fs.drop_link(empty);
    let mut root = fs.inode(ROOT_INO);
    root.links_count -= 1;
    fs.put_inode(ROOT_INO, &root);
    fs.check(&format!("{label}-rmdir"));

    // What the harness reads back.
    let img = Image {
        bytes: &fs.img,
        device_bytes: fs.img.len() as u64,
    };
    let m = walk::mount(&img).unwrap();
    let (raw, kind, _) = m.read_inode(&img, fast).unwrap();
    assert_eq!(kind, Kind::Symlink(b"../new-file".to_vec()));
    assert!(raw.is_fast_symlink());
    let (raw, _, _) = m.read_inode(&img, chr).unwrap();
    assert_eq!(raw.rdev(), (300, 70000));
    let (raw, _, _) = m.read_inode(&img, file).unwrap();
    assert_eq!(raw.links_count, 1 + links as u16 / 2 + 1);
    assert_eq!(raw.size, data.len() as u64);
    let slow = fs.find(d1, b"slow").unwrap().2;
    assert_eq!(m.read_inode(&img, slow).unwrap().1, Kind::Symlink(target));
}

#[test]
fn fsck_default() {
    // Debian's defaults: 256-byte inodes (nanosecond times), filetype, dir_index, one group.
    exercise("default", &["-N", "1024"]);
}

#[test]
fn fsck_groups() {
    // Four groups of 512 blocks: the new directory and its blocks in the last one.
    exercise("groups", &["-g", "512", "-N", "512"]);
}

#[test]
fn fsck_inode128() {
    // 128-byte inodes (no *_extra fields), no filetype byte in directory entries.
    exercise(
        "inode128",
        &[
            "-I",
            "128",
            "-N",
            "1024",
            "-O",
            "^filetype,^dir_index,^resize_inode,^ext_attr",
        ],
    );
}

#[test]
fn fsck_rev0() {
    // Revision 0: no feature fields at all.
    exercise("rev0", &["-r", "0", "-N", "256"]);
}

// ---------------------------------------------------------------------------------------------
// Extended attribute blocks against e2fsprogs: blocks debugfs writes (`ea_set`) parse, hash and
// read as e2fsprogs wrote them; blocks `xattr_write` writes, hung on inodes with the other
// writers, pass `e2fsck -fn` and read back with `debugfs` (`ea_list`, `ea_get`), POSIX ACLs
// converted by e2fsprogs between the VFS's format and ext2's.

/// Runs `debugfs` (with `-w` when `write`) on the image with the commands `cmds` (one a
/// line); returns what it printed. The image comes back changed when `write`.
fn debugfs(fs: &mut Fs, label: &str, write: bool, cmds: &[u8]) -> String {
    let path = tmp(label);
    let cmd_path = tmp(&format!("{label}-cmds"));
    std::fs::write(&path, &fs.img).unwrap();
    std::fs::write(&cmd_path, cmds).unwrap();
    let mut c = Command::new("debugfs");
    if write {
        c.arg("-w");
    }
    let out = c
        .arg("-f")
        .arg(&cmd_path)
        .arg(&path)
        .output()
        .expect("debugfs");
    if write {
        fs.img = std::fs::read(&path).unwrap();
        fs.sb = Superblock::parse(&fs.img[SUPERBLOCK_OFFSET..]).unwrap();
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&cmd_path);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{label}: debugfs failed:\n{text}");
    text
}

/// Reads attribute `name` (full name, with prefix) of `path` with `debugfs ea_get` (`-r`: as
/// stored, else with ACLs in the VFS's format); `None` if debugfs does not find it.
fn ea_get(fs: &mut Fs, label: &str, path: &str, name: &[u8], raw: bool) -> Option<Vec<u8>> {
    let out = tmp(&format!("{label}-value"));
    let _ = std::fs::remove_file(&out);
    let mut cmd = format!(
        "ea_get {}-f {} {path} ",
        if raw { "-r " } else { "" },
        out.display()
    )
    .into_bytes();
    cmd.extend_from_slice(name);
    cmd.push(b'\n');
    let text = debugfs(fs, label, false, &cmd);
    let v = std::fs::read(&out).ok();
    let _ = std::fs::remove_file(&out);
    if text.contains("not found") {
        return None;
    }
    v
}

/// The full name of an attribute, as debugfs names it.
fn full_name(index: u8, name: &[u8]) -> Vec<u8> {
    let prefix: &[u8] = match index {
        XATTR_INDEX_USER => b"user.",
        XATTR_INDEX_POSIX_ACL_ACCESS => b"system.posix_acl_access",
        XATTR_INDEX_POSIX_ACL_DEFAULT => b"system.posix_acl_default",
        XATTR_INDEX_TRUSTED => b"trusted.",
        XATTR_INDEX_SECURITY => b"security.",
        _ => panic!("no prefix for index {index}"),
    };
    [prefix, name].concat()
}

/// An ACL in the VFS's xattr format (`posix_acl_xattr`: version 2, 8 bytes for each entry),
/// which `setfacl` passes and e2fsprogs converts; ids of entries without one as given. The tag
/// values are spelled out here (`include/uapi/linux/posix_acl.h`), apart from `ondisk.rs`.
fn acl_vfs(entries: &[AclEntry]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for e in entries {
        let tag: u16 = match e.tag {
            AclTag::UserObj => 0x01,
            AclTag::User => 0x02,
            AclTag::GroupObj => 0x04,
            AclTag::Group => 0x08,
            AclTag::Mask => 0x10,
            AclTag::Other => 0x20,
        };
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&e.perm.to_le_bytes());
        v.extend_from_slice(&e.id.to_le_bytes());
    }
    v
}

fn acl_entry(tag: AclTag, perm: u16, id: u32) -> AclEntry {
    AclEntry { tag, perm, id }
}

/// A POSIX ACL with named users and groups: owner rwx, user 1000 r-x, user 4294967294 r,
/// group 50 rw, owning group r-x, mask rwx, other r.
fn test_acl() -> Vec<AclEntry> {
    vec![
        acl_entry(AclTag::UserObj, 7, 0),
        acl_entry(AclTag::User, 5, 1000),
        acl_entry(AclTag::User, 4, 4_294_967_294),
        acl_entry(AclTag::GroupObj, 5, 0),
        acl_entry(AclTag::Group, 6, 50),
        acl_entry(AclTag::Mask, 7, 0),
        acl_entry(AclTag::Other, 4, 0),
    ]
}

/// Decodes an ext2 ACL value.
fn acl_of(value: &[u8]) -> Vec<AclEntry> {
    let n = acl_count(value).expect("ACL value");
    let mut out = vec![acl_entry(AclTag::Other, 0, 0); n];
    assert_eq!(acl_decode(value, &mut out), Ok(n));
    out
}

/// What one test attribute is: (index, name, value as stored in the block).
type Attr = (u8, Vec<u8>, Vec<u8>);

/// A minimal ACL: owner rw, group r, other none.
fn short_acl() -> Vec<AclEntry> {
    vec![
        acl_entry(AclTag::UserObj, 6, 0),
        acl_entry(AclTag::GroupObj, 4, 0),
        acl_entry(AclTag::Other, 0, 0),
    ]
}

/// The attributes the tests set: every index, an empty value, a name with bytes over 0x7f, a
/// 255-byte name, a 1000-byte value, and an ACL of each kind ([`test_acl`] as the access ACL,
/// [`short_acl`] as the default one), stored as `acl_encode` writes them.
fn test_attrs() -> Vec<Attr> {
    let acl = test_acl();
    let mut stored = vec![0u8; acl_size(&acl)];
    acl_encode(&acl, &mut stored).unwrap();
    let short = short_acl();
    let mut short_stored = vec![0u8; acl_size(&short)];
    acl_encode(&short, &mut short_stored).unwrap();
    vec![
        (
            XATTR_INDEX_USER,
            b"comment".to_vec(),
            b"hello, world".to_vec(),
        ),
        (XATTR_INDEX_USER, b"empty".to_vec(), Vec::new()),
        (XATTR_INDEX_USER, b"caf\xc3\xa9".to_vec(), b"v".to_vec()),
        (XATTR_INDEX_USER, vec![b'n'; 255], b"long name".to_vec()),
        (
            XATTR_INDEX_TRUSTED,
            b"big".to_vec(),
            (0..1000u32).map(|i| (i * 13) as u8).collect(),
        ),
        (
            XATTR_INDEX_SECURITY,
            b"selinux".to_vec(),
            b"system_u:object_r:etc_t:s0\0".to_vec(),
        ),
        (XATTR_INDEX_POSIX_ACL_ACCESS, Vec::new(), stored),
        (XATTR_INDEX_POSIX_ACL_DEFAULT, Vec::new(), short_stored),
    ]
}

/// The value debugfs is given for an attribute of [`test_attrs`], and gives back: the ACLs in
/// the VFS's format (made without `ondisk.rs`).
fn vfs_value(index: u8, stored: &[u8]) -> Vec<u8> {
    match index {
        XATTR_INDEX_POSIX_ACL_ACCESS => acl_vfs(&test_acl()),
        XATTR_INDEX_POSIX_ACL_DEFAULT => acl_vfs(&short_acl()),
        _ => stored.to_vec(),
    }
}

/// Checks with debugfs that `path` holds exactly `attrs`: each by `ea_get` (as stored with
/// `-r`, and converted), the printable names in `ea_list`.
fn debugfs_reads(fs: &mut Fs, label: &str, path: &str, attrs: &[Attr]) {
    let list = debugfs(fs, label, false, format!("ea_list {path}\n").as_bytes());
    let listed = list.lines().filter(|l| l.starts_with("  ")).count();
    assert_eq!(listed, attrs.len(), "{label}: ea_list {path}:\n{list}");
    for (index, name, value) in attrs {
        let full = full_name(*index, name);
        if full.iter().all(|b| b.is_ascii_graphic()) {
            let want = format!("  {} ({})", String::from_utf8_lossy(&full), value.len());
            assert!(
                list.contains(&want),
                "{label}: ea_list {path} lacks {want:?}:\n{list}"
            );
        }
        let raw = ea_get(fs, label, path, &full, true);
        assert_eq!(
            raw.as_deref(),
            Some(&value[..]),
            "{label}: ea_get -r {path} {full:?}"
        );
        let vfs = ea_get(fs, label, path, &full, false);
        assert_eq!(
            vfs,
            Some(vfs_value(*index, value)),
            "{label}: ea_get {path} {full:?}"
        );
    }
}

/// Blocks debugfs writes: they parse (also checked by the oracle), their entry hashes are ours
/// (e2fsprogs leaves `h_hash` 0), their values are what was set (ACLs converted to ext2's
/// format as `acl_encode` converts them); our rewrite of them is a block with all hashes right.
#[test]
fn fsck_xattr_debugfs_blocks() {
    let mut fs = mkfs("xattr-debugfs", &["-I", "128", "-N", "256"]);
    let attrs = test_attrs();
    let mut cmds = Vec::new();
    let mut files = Vec::new();
    for (k, (index, name, value)) in attrs.iter().enumerate() {
        let f = tmp(&format!("xattr-debugfs-v{k}"));
        std::fs::write(&f, vfs_value(*index, value)).unwrap();
        for path in ["/hello.txt", "/sub"] {
            cmds.extend_from_slice(format!("ea_set -f {} {path} ", f.display()).as_bytes());
            cmds.extend_from_slice(&full_name(*index, name));
            cmds.push(b'\n');
        }
        files.push(f);
    }
    // A third inode with a single attribute, set then changed.
    cmds.extend_from_slice(b"ea_set /keep user.k first\nea_set /keep user.k second-value\n");
    debugfs(&mut fs, "xattr-debugfs", true, &cmds);
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    fs.check("xattr-debugfs-set");
    let mut want: Vec<Attr> = attrs.clone();
    want.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
    let keep = vec![(XATTR_INDEX_USER, b"k".to_vec(), b"second-value".to_vec())];
    for (path, want) in [
        (&b"hello.txt"[..], &want),
        (b"sub", &want),
        (b"keep", &keep),
    ] {
        let ino = fs.find(ROOT_INO, path).unwrap().2;
        let blk = fs.inode(ino).file_acl;
        assert_ne!(blk, 0, "debugfs put no block on {path:?}");
        let raw = fs.block(blk).to_vec();
        let o = xipfs_ondisk_host::check::xattr_block(&raw).expect("a block debugfs wrote");
        let x = XattrBlock::parse(&raw).unwrap();
        assert_eq!(x.refcount(), 1);
        assert!(x.check_entry_hashes());
        assert_eq!(x.hash(), 0, "e2fsprogs 1.47 leaves h_hash 0");
        assert!(!x.check_hashes());
        let got: Vec<Attr> = x
            .entries()
            .map(|e| (e.index, e.name.to_vec(), e.value.to_vec()))
            .collect();
        assert_eq!(&got, want, "{path:?}: the entries debugfs wrote");
        for (e, oe) in x.entries().zip(&o.entries) {
            assert_eq!(
                oe.hash,
                xattr_hash_entry(e.name, e.value),
                "{path:?}: entry hash"
            );
            assert_eq!(x.get(e.index, e.name), Some(e.value));
            if e.index == XATTR_INDEX_POSIX_ACL_ACCESS || e.index == XATTR_INDEX_POSIX_ACL_DEFAULT {
                // debugfs's conversion of the VFS's format decodes to the ACL it was given,
                // and is what acl_encode gives (the entries compared above).
                let acl = acl_of(e.value);
                let given = if e.index == XATTR_INDEX_POSIX_ACL_ACCESS {
                    test_acl()
                } else {
                    short_acl()
                };
                assert_eq!(acl, given);
                let mut enc = vec![0u8; acl_size(&acl)];
                assert_eq!(acl_encode(&acl, &mut enc), Ok(e.value.len()));
                assert_eq!(enc, e.value);
            }
        }
        // Our rewrite (a value replaced by itself) keeps the entries and sets every hash.
        let (i0, n0, v0) = &want[0];
        let mut out = vec![0u8; BLOCK_SIZE];
        let change = XattrChange::Set(v0, XattrSetMode::Replace);
        assert_eq!(
            xattr_write(Some(&x), *i0, n0, change, 1, &mut out),
            Ok(XattrWritten::Block)
        );
        let y = XattrBlock::parse(&out).unwrap();
        assert!(y.check_hashes());
        assert_eq!(
            y.entries().collect::<Vec<_>>(),
            x.entries().collect::<Vec<_>>()
        );
        assert_eq!(y.computed_hash(), x.computed_hash());
        // Byte for byte what e2fsprogs wrote (it lays values out the same way), but for h_hash
        // and the offsets of empty values (e2fsprogs gives them the place their value would
        // have; ext2 and we give 0).
        let mut theirs = raw.clone();
        theirs[12..16].copy_from_slice(&x.computed_hash().to_le_bytes());
        let mut at = 32;
        for e in x.entries() {
            if e.value.is_empty() {
                theirs[at + 2..at + 4].fill(0);
            }
            at += (16 + e.name.len()).div_ceil(4) * 4;
        }
        assert!(
            out == theirs,
            "{path:?}: our block differs from e2fsprogs' one"
        );
        fs.block_mut(blk).copy_from_slice(&out);
    }
    fs.check("xattr-debugfs-rewritten");
    debugfs_reads(&mut fs, "xattr-debugfs-read", "/hello.txt", &want);
}

impl Fs {
    /// Gives `ino` the extended attribute block `block` (a new block, as ext2_xattr_set2()
    /// allocates it): `i_file_acl`, `i_blocks`.
    fn add_xattr_block(&mut self, ino: u32, block: &[u8]) -> u32 {
        let g = (ino - 1) / self.sb.inodes_per_group;
        let b = self.alloc_block(g);
        self.block_mut(b).copy_from_slice(block);
        self.hang_xattr_block(ino, b);
        b
    }

    /// Points `ino` at the existing block `b` (shared: the caller sets its refcount).
    fn hang_xattr_block(&mut self, ino: u32, b: u32) {
        let mut i = self.inode(ino);
        assert_eq!(i.file_acl, 0);
        i.file_acl = b;
        i.blocks += (BLOCK_SIZE / 512) as u32;
        self.put_inode(ino, &i);
    }

    /// Takes the block away from `ino`, freeing it when `free`.
    fn drop_xattr_block(&mut self, ino: u32, free: bool) {
        let mut i = self.inode(ino);
        let b = i.file_acl;
        i.file_acl = 0;
        i.blocks -= (BLOCK_SIZE / 512) as u32;
        self.put_inode(ino, &i);
        if free {
            self.free_block(b);
        }
    }
}

/// `attrs` set one by one with `xattr_write`, from no block.
fn write_attrs(attrs: &[Attr], refcount: u32) -> Vec<u8> {
    let mut cur: Option<Vec<u8>> = None;
    for (index, name, value) in attrs {
        let old = cur.as_deref().map(|b| XattrBlock::parse(b).unwrap());
        let mut out = vec![0u8; BLOCK_SIZE];
        let change = XattrChange::Set(value, XattrSetMode::Create);
        assert_eq!(
            xattr_write(old.as_ref(), *index, name, change, refcount, &mut out),
            Ok(XattrWritten::Block)
        );
        cur = Some(out);
    }
    cur.unwrap()
}

/// Blocks `xattr_write` makes pass `e2fsck -fn` on inodes of every kind, shared with the right
/// refcount, changed and dropped; debugfs reads them back. Made wrong on purpose, e2fsck
/// notices (so that a clean run means something).
fn xattr_ours(label: &str, options: &[&str]) {
    let mut fs = mkfs(label, options);
    let attrs = test_attrs();
    let mut want = attrs.clone();
    want.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
    let block = write_attrs(&attrs, 1);
    let hello = fs.find(ROOT_INO, b"hello.txt").unwrap().2;
    let sub = fs.find(ROOT_INO, b"sub").unwrap().2;
    let keep = fs.find(ROOT_INO, b"keep").unwrap().2;
    let empty = fs.find(ROOT_INO, b"empty").unwrap().2;
    let hb = fs.add_xattr_block(hello, &block);
    fs.check(&format!("{label}-one"));
    debugfs_reads(&mut fs, &format!("{label}-one-read"), "/hello.txt", &want);

    // Shared by three inodes (a file, a directory, a symlink made now): refcount 3.
    let link = fs.create(ROOT_INO, b"link", 0o120777, b"");
    let mut l = fs.inode(link);
    l.set_fast_symlink(b"hello.txt").unwrap();
    fs.put_inode(link, &l);
    fs.hang_xattr_block(sub, hb);
    fs.hang_xattr_block(link, hb);
    xattr_set_refcount(fs.block_mut(hb), 3).unwrap();
    fs.check(&format!("{label}-shared"));
    debugfs_reads(&mut fs, &format!("{label}-shared-read"), "/link", &want);
    // The wrong refcount is noticed.
    let mut bad = fs.img.clone();
    let at = hb as usize * BLOCK_SIZE;
    xattr_set_refcount(&mut bad[at..at + BLOCK_SIZE], 2).unwrap();
    let (clean, text) = e2fsck(&bad, &format!("{label}-bad-refcount"));
    assert!(!clean, "{label}: e2fsck accepted a wrong refcount:\n{text}");
    // So is a wrong entry hash.
    let mut bad = fs.img.clone();
    let x = XattrBlock::parse(fs.block(hb)).unwrap();
    assert!(x.check_hashes());
    bad[at + 32 + 12] ^= 1;
    assert!(!XattrBlock::parse(&bad[at..at + BLOCK_SIZE])
        .unwrap()
        .check_entry_hashes());
    let (clean, text) = e2fsck(&bad, &format!("{label}-bad-hash"));
    assert!(
        !clean,
        "{label}: e2fsck accepted a wrong entry hash:\n{text}"
    );

    // "sub" gets its own copy, changed (as ext2 clones a shared block): one removed, one
    // replaced by a longer value, one added; the shared one drops to refcount 2.
    let longer = vec![0x3c; 1500];
    let cap = b"\x01\x00\x00\x02";
    let mut mine = fs.block(hb).to_vec();
    for (index, name, change) in [
        (XATTR_INDEX_USER, &b"comment"[..], XattrChange::Remove),
        (
            XATTR_INDEX_TRUSTED,
            b"big",
            XattrChange::Set(&longer, XattrSetMode::Replace),
        ),
        (
            XATTR_INDEX_SECURITY,
            b"capability",
            XattrChange::Set(cap, XattrSetMode::Create),
        ),
    ] {
        let old = XattrBlock::parse(&mine).unwrap();
        let mut out = vec![0u8; BLOCK_SIZE];
        assert_eq!(
            xattr_write(Some(&old), index, name, change, 1, &mut out),
            Ok(XattrWritten::Block)
        );
        mine = out;
    }
    fs.drop_xattr_block(sub, false);
    xattr_set_refcount(fs.block_mut(hb), 2).unwrap();
    fs.add_xattr_block(sub, &mine);
    fs.check(&format!("{label}-changed"));
    let mut sub_want: Vec<Attr> = want
        .iter()
        .filter(|a| a.1 != b"comment")
        .map(|a| {
            if a.1 == b"big" {
                (a.0, a.1.clone(), longer.clone())
            } else {
                a.clone()
            }
        })
        .collect();
    sub_want.push((XATTR_INDEX_SECURITY, b"capability".to_vec(), cap.to_vec()));
    debugfs_reads(&mut fs, &format!("{label}-changed-read"), "/sub", &sub_want);
    debugfs_reads(
        &mut fs,
        &format!("{label}-changed-read-shared"),
        "/link",
        &want,
    );

    // A block filled to the last byte, on "empty" (a directory) and "keep".
    let fill = BLOCK_SIZE - 32 - 4 - 20 - 20;
    let full = write_attrs(
        &[
            (XATTR_INDEX_USER, b"a".to_vec(), vec![1; fill - 2000]),
            (XATTR_INDEX_USER, b"b".to_vec(), vec![2; 2000]),
        ],
        1,
    );
    assert_eq!(XattrBlock::parse(&full).unwrap().used(), BLOCK_SIZE);
    fs.add_xattr_block(empty, &full);
    let one = write_attrs(&[(XATTR_INDEX_USER, b"last".to_vec(), b"1".to_vec())], 1);
    let kb = fs.add_xattr_block(keep, &one);
    fs.check(&format!("{label}-full"));
    debugfs_reads(
        &mut fs,
        &format!("{label}-full-read"),
        "/empty",
        &[
            (1, b"a".to_vec(), vec![1; fill - 2000]),
            (1, b"b".to_vec(), vec![2; 2000]),
        ],
    );
    // Removing the last attribute: the block goes.
    let x = XattrBlock::parse(fs.block(kb)).unwrap();
    let mut out = vec![0u8; BLOCK_SIZE];
    assert_eq!(
        xattr_write(
            Some(&x),
            XATTR_INDEX_USER,
            b"last",
            XattrChange::Remove,
            1,
            &mut out
        ),
        Ok(XattrWritten::Empty)
    );
    fs.drop_xattr_block(keep, true);
    fs.check(&format!("{label}-dropped"));
    debugfs_reads(&mut fs, &format!("{label}-dropped-read"), "/keep", &[]);
}

#[test]
fn fsck_xattr_ours_default() {
    // 256-byte inodes: debugfs also looks for attributes in the inode (there are none).
    xattr_ours("xattr-default", &["-N", "1024"]);
}

#[test]
fn fsck_xattr_ours_inode128() {
    xattr_ours("xattr-inode128", &["-I", "128", "-N", "256", "-g", "512"]);
}
