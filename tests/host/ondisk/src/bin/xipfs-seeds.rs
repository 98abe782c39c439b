// SPDX-License-Identifier: GPL-2.0

//! `xipfs-seeds OUTDIR [--regressions DIR] IMAGE...`: makes the fuzz targets' seed inputs from real images (made
//! with `mke2fs -d` by scripts/host-fuzz), one directory per target under OUTDIR. It mounts and
//! walks each image with the harness ([`walk`]), recording the blocks each step reads: the
//! superblock, each descriptor table block, the inode table block of each inode reached, each
//! directory block, the indirect blocks behind each extent lookup, each extended attribute block
//! (with changes to make to it), and for `image` every metadata block the walk read (as a
//! sparse device); and `xattr` seeds made with `xattr_write`, which need no image. Fails if an image does not mount or walk
//! cleanly: the seeds are meant to be valid filesystems. With `--regressions DIR`, also
//! decodes the committed regression inputs `DIR/TARGET/NAME.hex` (hex digits, `#` comments)
//! into `OUTDIR/TARGET/regression-NAME`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::{env, fs, process};
use xipfs_ondisk_host::dev::{Image, Recorder, Sparse, MAX_SPARSE_BLOCKS};
use xipfs_ondisk_host::ondisk::*;
use xipfs_ondisk_host::targets::*;
use xipfs_ondisk_host::walk::{self, Visit};

/// Seeds per target per image, at most.
const PER_IMAGE: usize = 48;

fn write(out: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = out.join(target);
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join(name), data).expect("write seed");
}

fn seeds(out: &Path, path: &Path) -> Result<usize, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let img = Image { bytes: &bytes, device_bytes: bytes.len() as u64 };
    let dev_blocks = (bytes.len() / BLOCK_SIZE) as u32;
    let rec = Recorder::new(&img);
    let m = walk::mount(&rec).map_err(|e| format!("{name}: mount: {e:?}"))?;
    let sb = &bytes[SUPERBLOCK_OFFSET..SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE];
    let mut n = 0;
    write(out, "superblock", &name, sb);
    n += 1;
    for g in 0..m.sb.group_count().min(PER_IMAGE as u32) {
        let (blk, _) = m.sb.group_desc_location(g).unwrap();
        let b = &bytes[blk as usize * BLOCK_SIZE..][..BLOCK_SIZE];
        write(out, "group_desc", &format!("{name}-g{g}"), &encode_group_desc(sb, g, b));
        n += 1;
    }
    // The reserved inodes too (the walk only reaches the root and what directories name).
    for ino in 1..m.sb.first_ino.min(12) {
        let loc = m.sb.locate_inode(ino).unwrap();
        let blk = loc.block(&m.groups[loc.group as usize]).unwrap();
        let b = &bytes[blk as usize * BLOCK_SIZE..][..BLOCK_SIZE];
        write(out, "inode", &format!("{name}-i{ino}"), &encode_inode(sb, ino, b));
        n += 1;
    }
    let (mut inodes, mut dirs, mut maps, mut xattrs) = (0, 0, 0, 0);
    let mut depths = BTreeSet::new();
    let walked = m.walk(&rec, &mut |v| match v {
        Visit::Inode { ino, raw, table_blk } => {
            if inodes < PER_IMAGE {
                let b = &bytes[table_blk as usize * BLOCK_SIZE..][..BLOCK_SIZE];
                write(out, "inode", &format!("{name}-i{ino}"), &encode_inode(sb, ino, b));
                inodes += 1;
            }
            // Lookups at the start of each level of the block map that the file reaches.
            if raw.file_type() == Ok(FileType::Regular) {
                let nblocks = raw.size.div_ceil(BLOCK_SIZE as u64);
                for lblk in [12, 12 + 1024, 12 + 1024 + 1024 * 1024] {
                    if lblk < nblocks && maps < PER_IMAGE {
                        let one = Recorder::new(&img);
                        let _ = m.lookup_run(&one, raw, lblk, 16);
                        let sparse = Sparse::encode(dev_blocks, &one.read.borrow());
                        let input = encode_blockmap(sb, &raw.block, lblk, 16, &sparse);
                        write(out, "blockmap", &format!("{name}-m{ino}-{lblk}"), &input);
                        maps += 1;
                    }
                }
            }
        }
        Visit::DirBlock { ino, lblk, block } if dirs < PER_IMAGE => {
            write(out, "dir", &format!("{name}-d{ino}-{lblk}"), &encode_dir(sb, block));
            dirs += 1;
        }
        Visit::XattrBlock { ino, blk, block } if xattrs < PER_IMAGE => {
            let input = encode_xattr(block, &xattr_seed_ops(ino));
            write(out, "xattr", &format!("{name}-x{ino}-{blk}"), &input);
            xattrs += 1;
        }
        Visit::Extent { ino, raw, lblk, want } => {
            // Every lookup through indirect blocks of a new depth, then a few others.
            let depth = BlockPath::new(lblk).map(|p| p.depth()).unwrap_or(4);
            if maps >= PER_IMAGE || (!depths.insert((ino, depth)) && maps >= PER_IMAGE / 2) {
                return;
            }
            let one = Recorder::new(&img);
            let _ = m.lookup_run(&one, raw, lblk, want);
            let sparse = Sparse::encode(dev_blocks, &one.read.borrow());
            write(
                out,
                "blockmap",
                &format!("{name}-m{ino}-{lblk}"),
                &encode_blockmap(sb, &raw.block, lblk, want, &sparse),
            );
            maps += 1;
        }
        _ => {}
    });
    if walked.errors != 0 {
        return Err(format!("{name}: the walk found {} errors: {walked:?}", walked.errors));
    }
    n += inodes + dirs + maps + xattrs;
    let mut read = rec.read.into_inner();
    while read.len() > MAX_SPARSE_BLOCKS {
        read.pop_last();
    }
    write(out, "image", &name, &Sparse::encode(dev_blocks, &read));
    n += 1;
    eprintln!(
        "{name}: {} groups, {} inodes, {} directory blocks, {} extents, {} metadata blocks read",
        m.sb.group_count(),
        walked.inodes,
        walked.dir_blocks,
        walked.extents,
        read.len()
    );
    Ok(n)
}

/// Changes for an `xattr` seed, varied by `k`: a new user attribute, a replacement and a removal
/// of names the debugfs-made blocks of `mkimages.sh` hold, an ACL, and one that does not fit.
fn xattr_seed_ops(k: u32) -> Vec<XattrOp> {
    let op = |index: u8, mode: u8, name: &[u8], value: &[u8]| XattrOp {
        index,
        mode,
        name: name.to_vec(),
        value: value.to_vec(),
    };
    let acl = [
        &[1u8, 0, 0, 0][..],
        &[1, 0, 6, 0, 2, 0, 4, 0, 0xe8, 3, 0, 0, 4, 0, 4, 0, 0x10, 0, 4, 0, 0x20, 0, 0, 0],
    ]
    .concat();
    let mut ops = vec![
        op(XATTR_INDEX_USER, 1 << 2, format!("seed-{k}").as_bytes(), b"value"),
        op(XATTR_INDEX_USER, 2 << 2 | 2, b"comment", b"replaced"),
        op(XATTR_INDEX_POSIX_ACL_ACCESS, 1 << 2, b"", &acl),
        op(XATTR_INDEX_USER, 1 << 2 | 3, b"empty", b""),
        op(XATTR_INDEX_TRUSTED, 1 << 2, b"big", &vec![0x42; 3000 + (k as usize % 7)]),
    ];
    let n = ops.len();
    ops.rotate_left(k as usize % n);
    ops
}

/// `xattr` seeds that need no image: blocks made by `xattr_write` (one entry; several of each
/// index; an ACL; a nearly full block; a name with bytes over 0x7f), no block at all, and the
/// empty input.
fn xattr_seeds(out: &Path) -> usize {
    let acl = encode_acl_seed();
    let mut blocks: Vec<(String, Vec<u8>)> = vec![("none".into(), Vec::new())];
    let mut add = |label: &str, changes: &[(u8, Vec<u8>, Vec<u8>)]| {
        let mut cur: Option<Vec<u8>> = None;
        for (index, name, value) in changes {
            let old = cur.as_deref().map(|b| XattrBlock::parse(b).unwrap());
            let mut next = vec![0u8; BLOCK_SIZE];
            let change = XattrChange::Set(value, XattrSetMode::Any);
            match xattr_write(old.as_ref(), *index, name, change, 1, &mut next) {
                Ok(XattrWritten::Block) => cur = Some(next),
                r => panic!("xattr seed {label}: {r:?}"),
            }
        }
        blocks.push((label.into(), cur.unwrap()));
    };
    add("one", &[(XATTR_INDEX_USER, b"mime_type".to_vec(), b"text/plain".to_vec())]);
    add(
        "indexes",
        &[
            (XATTR_INDEX_SECURITY, b"selinux".to_vec(), b"system_u:object_r:bin_t:s0".to_vec()),
            (XATTR_INDEX_USER, b"b".to_vec(), b"".to_vec()),
            (XATTR_INDEX_USER, b"a".to_vec(), b"1".to_vec()),
            (XATTR_INDEX_TRUSTED, b"overlay.opaque".to_vec(), b"y".to_vec()),
            (XATTR_INDEX_POSIX_ACL_DEFAULT, b"".to_vec(), acl.clone()),
            (XATTR_INDEX_POSIX_ACL_ACCESS, b"".to_vec(), acl.clone()),
            (7, b"data".to_vec(), b"".to_vec()),
        ],
    );
    add(
        "full",
        &(0..9u8)
            .map(|i| (XATTR_INDEX_USER, vec![b'n'; 1 + 20 * usize::from(i)], vec![i; 330]))
            .collect::<Vec<_>>(),
    );
    add("high-bytes", &[(XATTR_INDEX_USER, b"caf\xc3\xa9".to_vec(), b"v".to_vec())]);
    let mut n = 0;
    for (k, (label, block)) in blocks.iter().enumerate() {
        write(out, "xattr", &format!("made-{label}"), &encode_xattr(block, &xattr_seed_ops(k as u32)));
        n += 1;
    }
    write(out, "xattr", "made-acl-tail", &[&[0u8; BLOCK_SIZE][..], &acl].concat());
    write(out, "xattr", "made-empty", &[]);
    n + 2
}

/// An ext2 ACL value: owner rw, user 1000 r, group r, mask r, other none.
fn encode_acl_seed() -> Vec<u8> {
    let e = |tag, perm, id| AclEntry { tag, perm, id };
    let entries = [
        e(AclTag::UserObj, 6, 0),
        e(AclTag::User, 4, 1000),
        e(AclTag::GroupObj, 4, 0),
        e(AclTag::Mask, 4, 0),
        e(AclTag::Other, 0, 0),
    ];
    let mut v = vec![0u8; acl_size(&entries)];
    acl_encode(&entries, &mut v).unwrap();
    v
}

/// Hex digits to bytes; lines starting with `#` are comments.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.bytes())
        .filter(u8::is_ascii_hexdigit)
        .collect();
    digits
        .chunks_exact(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn regressions(out: &Path, dir: &Path) -> usize {
    let mut n = 0;
    for (target, _) in TARGETS {
        let Ok(entries) = fs::read_dir(dir.join(target)) else { continue };
        for e in entries {
            let path = e.expect("readdir").path();
            if path.extension().is_some_and(|x| x == "hex") {
                let data = unhex(&fs::read_to_string(&path).expect("read regression"));
                let name = format!("regression-{}", path.file_stem().unwrap().to_string_lossy());
                write(out, target, &name, &data);
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let mut args: Vec<PathBuf> = env::args_os().skip(1).map(PathBuf::from).collect();
    let mut regs = None;
    if args.len() > 2 && args[1].as_os_str() == "--regressions" {
        regs = Some(args.remove(2));
        args.remove(1);
    }
    let Some((out, images)) = args.split_first().filter(|(_, i)| !i.is_empty()) else {
        eprintln!("usage: xipfs-seeds OUTDIR [--regressions DIR] IMAGE...");
        process::exit(2);
    };
    let mut total = 0;
    if let Some(dir) = regs {
        let n = regressions(out, &dir);
        eprintln!("xipfs-seeds: {n} regression inputs from {}", dir.display());
        total += n;
    }
    let n = xattr_seeds(out);
    eprintln!("xipfs-seeds: {n} xattr seeds made without an image");
    total += n;
    for img in images {
        match seeds(out, img) {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("xipfs-seeds: {e}");
                process::exit(1);
            }
        }
    }
    eprintln!("xipfs-seeds: {total} seeds from {} images in {}", images.len(), out.display());
}
