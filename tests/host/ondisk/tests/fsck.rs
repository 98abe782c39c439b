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
        let path = tmp(label);
        std::fs::write(&path, &self.img).unwrap();
        let out = Command::new("e2fsck")
            .arg("-fn")
            .arg(&path)
            .output()
            .expect("e2fsck");
        let _ = std::fs::remove_file(&path);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{label}: e2fsck -fn is not clean:\n{text}"
        );
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
