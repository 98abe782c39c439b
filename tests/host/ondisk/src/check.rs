// SPDX-License-Identifier: GPL-2.0

//! The invariants `ondisk.rs` documents, as assertions on what it accepted. The fuzz targets
//! and the property tests call these on every successful parse; a failed assertion is a bug
//! (in the parser, or in its documentation).

use crate::ondisk::*;

/// `# Invariants` of [`Superblock`], and what its methods promise for in-range arguments.
pub fn superblock(sb: &Superblock) {
    let bs = BLOCK_SIZE as u64;
    assert_eq!(sb.magic, MAGIC);
    assert!(sb.rev_level <= DYNAMIC_REV);
    assert_eq!(sb.first_data_block, 0);
    assert!(sb.blocks_count > 0);
    assert!(sb.blocks_per_group > 0 && sb.blocks_per_group <= MAX_PER_GROUP);
    assert!(sb.inodes_per_group > 0 && sb.inodes_per_group <= MAX_PER_GROUP);
    assert!(sb.inode_size.is_power_of_two());
    assert!((GOOD_OLD_INODE_SIZE..=BLOCK_SIZE as u16).contains(&sb.inode_size));
    if sb.rev_level == GOOD_OLD_REV {
        assert_eq!(sb.inode_size, GOOD_OLD_INODE_SIZE);
        assert_eq!(sb.first_ino, GOOD_OLD_FIRST_INO);
        assert_eq!(sb.feature_compat | sb.feature_ro_compat | sb.feature_incompat, 0);
    }
    assert_eq!(sb.feature_incompat & !INCOMPAT_SUPP, 0, "unknown INCOMPAT accepted");

    // Geometry.
    let gc = sb.group_count();
    assert!(gc >= 1);
    assert_eq!(
        u64::from(gc),
        u64::from(sb.blocks_count).div_ceil(u64::from(sb.blocks_per_group)),
        "group_count"
    );
    assert_eq!(
        u64::from(sb.inodes_count),
        u64::from(sb.inodes_per_group) * u64::from(gc),
        "inodes_count != inodes_per_group * group_count"
    );
    assert!(GOOD_OLD_FIRST_INO <= sb.first_ino && sb.first_ino <= sb.inodes_count);
    assert_eq!(
        sb.inodes_per_block() as u64 * u64::from(sb.inode_size),
        bs,
        "inodes_per_block"
    );
    assert!(sb.inodes_per_group >= sb.inodes_per_block());
    assert_eq!(
        u64::from(sb.inode_table_blocks()),
        (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(bs)
    );
    // Each (full) group has room for the superblock copy, descriptors, bitmaps and table.
    assert!(sb.blocks_per_group > sb.inode_table_blocks() + 3);
    // The descriptor table lies inside the filesystem.
    assert_eq!(sb.gdt_blocks(), gc.div_ceil(DESC_PER_BLOCK));
    assert!(1 + u64::from(sb.gdt_blocks()) <= u64::from(sb.blocks_count));

    // Groups: first, last and one past the end.
    for g in [0, gc / 2, gc - 1] {
        group_geometry(sb, g);
    }
    assert!(sb.group_first_block(gc).is_err());
    assert!(sb.group_last_block(gc).is_err());
    assert!(sb.group_desc_location(gc).is_err());
    assert_eq!(sb.group_last_block(gc - 1).unwrap(), sb.blocks_count - 1);

    // Inodes: both ends, the first usable one, and out of range.
    for ino in [1, ROOT_INO.min(sb.inodes_count), sb.first_ino, sb.inodes_count] {
        let loc = sb.locate_inode(ino).expect("locate_inode in range failed");
        inode_loc(sb, ino, &loc);
    }
    assert!(sb.locate_inode(0).is_err());
    if sb.rev_level == GOOD_OLD_REV {
        assert_eq!(sb.reserved_gdt_blocks, 0);
    }
    for g in [0, 1.min(gc - 1), gc - 1] {
        let _ = group_super(sb, g);
    }
    assert!(sb.group_super_blocks(gc).is_err());
    if let Some(past) = sb.inodes_count.checked_add(1) {
        assert!(sb.locate_inode(past).is_err());
        assert!(!sb.is_usable_ino(past));
    }
    assert!(!sb.is_usable_ino(0));
    assert!(sb.is_usable_ino(ROOT_INO));
    assert!(sb.is_usable_ino(sb.first_ino));

    // Block numbers.
    assert_eq!(sb.check_block_nr(0), Ok(None));
    assert!(sb.check_block_nr(sb.blocks_count).is_err());
    if sb.blocks_count > 1 {
        let last = sb.blocks_count - 1;
        assert_eq!(sb.check_block_nr(last), Ok(Some(last)));
        assert!(sb.check_extent(last, 1).is_ok());
        assert!(sb.check_extent(last, 2).is_err());
        assert!(sb.check_extent(1, last).is_ok());
    }
    assert!(sb.check_extent(1, 0).is_err());
    assert!(sb.check_extent(0, 1).is_err());
    assert!(sb.check_extent(u32::MAX, 2).is_err());

    // Size and features.
    assert!(sb.check_fits(u64::from(sb.blocks_count) * bs).is_ok());
    assert!(sb.check_fits(u64::from(sb.blocks_count) * bs - 1).is_err());
    assert_eq!(sb.check_writable().is_ok(), sb.unknown_ro_compat() == 0);
    let name = sb.volume_name();
    assert!(name.len() <= 16 && !name.contains(&0));
}

/// What [`Superblock::group_first_block`], [`Superblock::group_last_block`] and
/// [`Superblock::group_desc_location`] promise for an existing group.
pub fn group_geometry(sb: &Superblock, g: u32) {
    let first = sb.group_first_block(g).expect("group_first_block in range");
    let last = sb.group_last_block(g).expect("group_last_block in range");
    assert!(first <= last && last < sb.blocks_count);
    assert_eq!(u64::from(first), u64::from(g) * u64::from(sb.blocks_per_group));
    assert!(last - first < sb.blocks_per_group);
    let (blk, off) = sb.group_desc_location(g).expect("group_desc_location in range");
    assert!(blk >= 1 && blk <= sb.gdt_blocks() && blk < sb.blocks_count);
    assert!(off + GROUP_DESC_SIZE <= BLOCK_SIZE && off % GROUP_DESC_SIZE == 0);
}

/// What [`Superblock::group_super_blocks`] promises for an existing group: `None` exactly
/// when [`Superblock::group_has_super`] says no; else the group's first blocks, the superblock
/// copy, the descriptor table and the reserved descriptor blocks, inside the filesystem. An
/// error (a table that does not fit) is corruption the mount refuses. Returns the result.
pub fn group_super(sb: &Superblock, g: u32) -> Result<Option<(u32, u32)>, Corrupt> {
    let r = sb.group_super_blocks(g);
    if g <= 1 {
        assert!(sb.group_has_super(g));
    }
    match r {
        Ok(None) => assert!(!sb.group_has_super(g)),
        Ok(Some((first, count))) => {
            assert!(sb.group_has_super(g));
            assert_eq!(first, sb.group_first_block(g).unwrap());
            assert_eq!(
                u64::from(count),
                1 + u64::from(sb.gdt_blocks()) + u64::from(sb.reserved_gdt_blocks)
            );
            assert!(u64::from(first) + u64::from(count) <= u64::from(sb.blocks_count));
        }
        // A backup copy in a short last group may not fit (parse checks only the primary).
        Err(_) => assert!(sb.group_has_super(g)),
    }
    r
}

/// `# Invariants` of [`GroupDesc`]: bitmaps and the whole inode table inside group `g`.
pub fn group_desc(sb: &Superblock, g: u32, gd: &GroupDesc) {
    let first = sb.group_first_block(g).unwrap();
    let last = sb.group_last_block(g).unwrap();
    let inside = |b: u64| u64::from(first) <= b && b <= u64::from(last);
    assert!(inside(gd.block_bitmap.into()), "block bitmap outside its group");
    assert!(inside(gd.inode_bitmap.into()), "inode bitmap outside its group");
    let t = u64::from(gd.inode_table);
    assert!(inside(t), "inode table outside its group");
    assert!(
        inside(t + u64::from(sb.inode_table_blocks()) - 1),
        "inode table end outside its group"
    );
}

/// What [`Superblock::locate_inode`] promises: the inode lies in its group's table.
pub fn inode_loc(sb: &Superblock, ino: u32, loc: &InodeLoc) {
    assert_eq!(loc.group, (ino - 1) / sb.inodes_per_group);
    assert!(loc.group < sb.group_count());
    assert!(loc.table_block < sb.inode_table_blocks(), "inode past its table");
    assert_eq!(loc.size, usize::from(sb.inode_size));
    assert!(loc.offset + loc.size <= BLOCK_SIZE, "inode crosses its block");
    assert_eq!(loc.offset % loc.size, 0);
    let index = u64::from(loc.table_block) * u64::from(sb.inodes_per_block())
        + (loc.offset / loc.size) as u64;
    assert_eq!(index, u64::from((ino - 1) % sb.inodes_per_group));
}

/// `# Invariants` of [`Inode`] and what its accessors promise.
pub fn inode(sb: &Superblock, raw: &Inode) {
    for t in [raw.atime, raw.ctime, raw.mtime] {
        assert!(t.nsec < 1_000_000_000);
    }
    assert!(raw.perm() <= 0o7777);
    assert!(usize::from(raw.extra_isize) + 128 <= usize::from(sb.inode_size));
    let (major, minor) = raw.rdev();
    assert!(major < 1 << 12 && minor < 1 << 20);
    if raw.is_deleted() {
        return;
    }
    let ft = raw.file_type().expect("accepted inode of unknown type");
    assert!(raw.size < 1 << 63);
    assert!(raw.links_count > 0);
    if ft == FileType::Directory {
        assert!(raw.size > 0 && raw.size % BLOCK_SIZE as u64 == 0);
    }
    if ft != FileType::Regular {
        assert!(raw.size <= u64::from(u32::MAX));
    }
    if raw.file_acl != 0 {
        assert!(sb.check_extent(raw.file_acl, 1).is_ok(), "bad file_acl accepted");
    }
    if raw.is_fast_symlink() {
        assert_eq!(ft, FileType::Symlink);
        if let Ok(t) = raw.fast_symlink_target() {
            assert_eq!(t.len() as u64, raw.size);
            assert!(!t.is_empty() && t.len() < N_BLOCKS * 4);
        }
    }
}

/// What [`BlockPath::new`] promises: indices in range, and the path leads back to `lblk`.
pub fn block_path(lblk: u64, path: &BlockPath) {
    const N: u64 = ADDR_PER_BLOCK as u64;
    let idx = path.indices();
    let idx = idx.as_slice();
    assert_eq!(idx.len(), path.depth() + 1);
    let i0 = idx[0] as usize;
    match path.depth() {
        0 => assert!(i0 < NDIR_BLOCKS),
        1 => assert_eq!(i0, IND_BLOCK),
        2 => assert_eq!(i0, DIND_BLOCK),
        3 => assert_eq!(i0, TIND_BLOCK),
        d => panic!("depth {d}"),
    }
    for &i in &idx[1..] {
        assert!(i < ADDR_PER_BLOCK, "indirect index out of range");
    }
    let back = match *path {
        BlockPath::Direct(n) => u64::from(n),
        BlockPath::Indirect(n) => 12 + u64::from(n),
        BlockPath::Double(a, b) => 12 + N + u64::from(a) * N + u64::from(b),
        BlockPath::Triple(a, b, c) => {
            12 + N + N * N + (u64::from(a) * N + u64::from(b)) * N + u64::from(c)
        }
    };
    assert_eq!(back, lblk, "BlockPath does not lead back to its block");
    let rem = path.leaf_remaining();
    let table = if path.depth() == 0 { NDIR_BLOCKS as u32 } else { ADDR_PER_BLOCK };
    assert!(rem >= 1 && rem <= table);
    assert_eq!(rem, table - *idx.last().unwrap());
    // Each indirect block on the path has an id below INDIRECT_IDS, none elsewhere.
    assert_eq!(path.indirect_id(0), None);
    for level in 1..=3 {
        match path.indirect_id(level) {
            Some(id) => {
                assert!(level <= path.depth());
                assert!(id < INDIRECT_IDS);
            }
            None => assert!(level > path.depth()),
        }
    }
    assert_eq!(path.indirect_id(4), None);
}

/// What [`contiguous_run`]/[`direct_run`] promise: `n` entries from `start` in a table of `end`
/// entries (`entry(i)`), at most `max`, at least 1 unless `max` is 0, all holes or consecutive,
/// and the run does not stop early.
pub fn run(entry: impl Fn(u32) -> u32, start: u32, end: u32, max: u32, n: u32) {
    if max == 0 {
        assert_eq!(n, 0);
        return;
    }
    assert!(start < end);
    let limit = (end - start).min(max);
    assert!(n >= 1 && n <= limit, "run of {n} outside 1..={limit}");
    let first = entry(start);
    let want = |k: u32| if first == 0 { Some(0) } else { first.checked_add(k) };
    for k in 0..n {
        assert_eq!(Some(entry(start + k)), want(k), "run not contiguous at +{k}");
    }
    if n < limit {
        assert_ne!(Some(entry(start + n)), want(n), "run stopped early");
    }
}

/// What [`DirIter`] promises of one entry: inside the block, `rec_len` rules, a valid name.
pub fn dir_entry(sb: &Superblock, block: &[u8], e: &DirEntry<'_>) {
    let rec = usize::from(e.rec_len);
    assert!(rec >= DIRENT_MIN && rec % 4 == 0);
    assert!(e.offset % 4 == 0);
    assert!(e.offset + rec <= BLOCK_SIZE, "entry crosses the block end");
    assert!(rec >= (DIRENT_HEADER + e.name.len()).next_multiple_of(4));
    assert!(!e.name.is_empty() && e.name.len() <= NAME_LEN);
    assert!(!e.name.iter().any(|&b| b == 0 || b == b'/'));
    let at = e.offset + DIRENT_HEADER;
    assert_eq!(&block[at..at + e.name.len()], e.name, "name is not the block's bytes");
    assert!(e.inode != 0 && e.inode <= sb.inodes_count);
    if !sb.has_filetype() {
        assert_eq!(e.file_type, FT_UNKNOWN);
    }
}

/// Runs [`dir_entries`] over `block` to its end, checking each entry and the iterator's
/// promises (entries in order, not overlapping, ending after an error). Returns the entries'
/// (inode, name) and whether the block was corrupt.
pub fn dir_block<'a>(sb: &Superblock, block: &'a [u8]) -> (Vec<(u32, &'a [u8])>, bool) {
    let mut it = dir_entries(sb, block);
    let mut out = Vec::new();
    let mut next_min = 0;
    let mut corrupt = false;
    let mut steps = 0;
    while let Some(r) = it.next() {
        steps += 1;
        assert!(steps <= BLOCK_SIZE / DIRENT_MIN + 1, "directory iterator does not end");
        match r {
            Ok(e) => {
                assert_eq!(block.len(), BLOCK_SIZE);
                dir_entry(sb, block, &e);
                assert!(e.offset >= next_min, "entries overlap or go back");
                next_min = e.offset + usize::from(e.rec_len);
                out.push((e.inode, e.name));
            }
            Err(_) => {
                corrupt = true;
                assert!(it.offset() < BLOCK_SIZE || block.len() != BLOCK_SIZE);
                break;
            }
        }
    }
    assert!(it.next().is_none(), "directory iterator goes on after its end");
    (out, corrupt)
}

// ---------------------------------------------------------------------------------------------
// The writers: what "Writing" in `ondisk.rs` promises, on what the parsers accepted.

/// The records of a directory block as the format lays them out, read with this harness's own
/// code (not `DirIter`): (offset, inode, rec_len, name_len), or `None` if a record's `rec_len`
/// does not lead to the next one inside the block. An oracle for the directory writers.
pub fn dir_records(block: &[u8]) -> Option<Vec<(usize, u32, usize, usize)>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < BLOCK_SIZE {
        let h = block.get(off..off + DIRENT_HEADER)?;
        let inode = u32::from_le_bytes(h[0..4].try_into().unwrap());
        let rec = usize::from(u16::from_le_bytes(h[4..6].try_into().unwrap()));
        if rec < DIRENT_MIN || off + rec > BLOCK_SIZE {
            return None;
        }
        out.push((off, inode, rec, usize::from(h[6])));
        off += rec;
    }
    Some(out)
}

/// Where `dir_add` must put an entry of `need` bytes by ext2's first fit, from the records:
/// the first unused record that holds it, or the first used one with room after its name.
pub fn dir_first_fit(records: &[(usize, u32, usize, usize)], need: usize) -> Option<usize> {
    records.iter().find_map(|&(off, inode, rec, name_len)| {
        let keep = if inode == 0 { 0 } else { (DIRENT_HEADER + name_len).next_multiple_of(4) };
        (rec >= keep + need).then_some(off + keep)
    })
}

/// `Superblock::encode_dynamic` of the superblock parsed from `raw` gives `raw` back, byte for
/// byte.
pub fn superblock_rewrite(raw: &[u8], sb: &Superblock) {
    let mut out = raw[..SUPERBLOCK_SIZE].to_vec();
    sb.encode_dynamic(&mut out).expect("encode_dynamic of a parsed superblock failed");
    assert_eq!(out, &raw[..SUPERBLOCK_SIZE], "encode_dynamic(parse(raw)) != raw");
}

/// `GroupDesc::encode_counts` of the descriptor parsed from `raw` gives `raw` back.
pub fn group_desc_rewrite(raw: &[u8], gd: &GroupDesc) {
    let mut out = raw[..GROUP_DESC_SIZE].to_vec();
    gd.encode_counts(&mut out).unwrap();
    assert_eq!(out, &raw[..GROUP_DESC_SIZE], "encode_counts(parse(raw)) != raw");
}

/// `Inode::encode` of the inode parsed from `raw` (its slot) gives `raw` back, byte for byte;
/// written into a zeroed slot (`encode_new`) it parses back the same.
pub fn inode_rewrite(sb: &Superblock, raw: &[u8], inode: &Inode) {
    let isz = usize::from(sb.inode_size);
    let mut out = raw[..isz].to_vec();
    inode.encode(sb, &mut out).expect("encode of a parsed inode failed");
    assert_eq!(out, &raw[..isz], "encode(parse(raw)) != raw");
    let mut fresh = vec![0xa5u8; isz];
    inode.encode_new(sb, &mut fresh).unwrap();
    let back = Inode::parse(sb, &fresh).expect("encode_new of a parsed inode does not parse");
    assert_eq!(&back, inode, "parse(encode_new(x)) != x");
    assert_eq!(back.is_fast_symlink(), inode.is_fast_symlink());
    assert_eq!(back.fast_symlink_target().ok(), inode.fast_symlink_target().ok());
    assert_eq!(back.rdev(), inode.rdev());
}

/// The used entries of a block as (offset, inode, name, type).
fn listing(sb: &Superblock, block: &[u8]) -> Result<Vec<(usize, u32, Vec<u8>, u8)>, Corrupt> {
    dir_entries(sb, block)
        .map(|e| e.map(|e| (e.offset, e.inode, e.name.to_vec(), e.file_type)))
        .collect()
}

/// The directory writers on `block` (any bytes): a corrupt block is refused by each, and left
/// unchanged; on a valid one, `dir_add` puts `name` where ext2's first fit says (or reports no
/// room exactly when there is none), and `dir_remove` of that entry, or of the first one, and
/// `dir_set` change the listing by exactly that entry. `name` must be a valid name and `ino` a
/// usable inode.
pub fn dir_write(sb: &Superblock, block: &[u8], ino: u32, name: &[u8]) {
    let ft = if sb.has_filetype() { FT_REG_FILE } else { FT_UNKNOWN };
    let mut b = block.to_vec();
    let before = match listing(sb, block) {
        Ok(l) if block.len() == BLOCK_SIZE => l,
        _ => {
            // dir_add walks the block as a search by name does (dir_entries_by_name): it
            // refuses what that walk refuses, and may add to a block whose only fault is in
            // the bytes of a name.
            let mut a = block.to_vec();
            let walkable = block.len() == BLOCK_SIZE && dir_entries_by_name(sb, block).all(|e| e.is_ok());
            if !walkable {
                assert!(dir_add(sb, &mut a, ino, name, FT_REG_FILE).is_err());
                assert_eq!(a, block, "dir_add changed a corrupt block");
            }
            assert!(dir_remove(sb, &mut b, 0).is_err());
            assert!(dir_set(sb, &mut b, 0, ino, FT_DIR).is_err());
            assert!(dir_block_is_empty(sb, &b, true).is_err());
            assert_eq!(b, block, "a writer changed a corrupt block");
            return;
        }
    };
    let records = dir_records(block).expect("DirIter accepted what the oracle cannot walk");
    assert_eq!(
        dir_block_is_empty(sb, block, false),
        Ok(before.is_empty()),
        "dir_block_is_empty"
    );
    let want = dir_first_fit(&records, dirent_size(name.len()));
    let got = dir_add(sb, &mut b, ino, name, FT_REG_FILE).expect("dir_add on a valid block");
    assert_eq!(got, want, "dir_add did not take ext2's first fit");
    match got {
        None => assert_eq!(b, block, "dir_add without room changed the block"),
        Some(off) => {
            let after = listing(sb, &b).expect("dir_add made the block corrupt");
            let mut expect = before.clone();
            expect.push((off, ino, name.to_vec(), ft));
            expect.sort();
            assert_eq!(after, expect, "dir_add changed other entries");
            dir_block(sb, &b);
            let mut c = b.clone();
            dir_set(sb, &mut c, off, sb.first_ino, FT_SYMLINK).unwrap();
            let set = listing(sb, &c).unwrap();
            let ft2 = if sb.has_filetype() { FT_SYMLINK } else { FT_UNKNOWN };
            let mut expect2 = before.clone();
            expect2.push((off, sb.first_ino, name.to_vec(), ft2));
            expect2.sort();
            assert_eq!(set, expect2, "dir_set");
            dir_remove(sb, &mut b, off).unwrap();
            assert_eq!(listing(sb, &b).unwrap(), before, "dir_remove after dir_add");
            assert!(dir_remove(sb, &mut b, off).is_err(), "removed twice");
        }
    }
    if let Some(first) = before.first() {
        let mut c = block.to_vec();
        dir_remove(sb, &mut c, first.0).unwrap();
        assert_eq!(listing(sb, &c).unwrap(), before[1..], "dir_remove of the first entry");
        dir_block(sb, &c);
    }
}
