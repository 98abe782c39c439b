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

// ---------------------------------------------------------------------------------------------
// Extended attribute blocks and ACL values: an oracle written apart from `ondisk.rs` (plain
// std, regions sorted rather than a bitmap, the hashes with explicit shifts), the model the
// writer must follow, and the checks the fuzz target and the property tests share.

/// An entry as the oracle reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrOracleEntry {
    /// Name index.
    pub index: u8,
    /// Name (without prefix).
    pub name: Vec<u8>,
    /// Value (without padding).
    pub value: Vec<u8>,
    /// `e_value_offs` as stored.
    pub offs: usize,
    /// `e_hash` as stored.
    pub hash: u32,
    /// The hash this entry should have (Linux 6.2 on: name bytes unsigned), over the value's
    /// stored padding.
    pub want_hash: u32,
    /// The same with name bytes as `signed char` (kernels before 6.2 on x86).
    pub want_hash_signed: u32,
}

/// A block as the oracle reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrOracle {
    /// `h_refcount`.
    pub refcount: u32,
    /// `h_hash` as stored.
    pub hash: u32,
    /// The entries in table order.
    pub entries: Vec<XattrOracleEntry>,
    /// Offset of the table's terminator.
    pub table_end: usize,
}

fn oracle_entry_hash(name: &[u8], padded: &[u8], signed: bool) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        let c = if signed {
            c as i8 as i32 as u32
        } else {
            c as u32
        };
        h = (h << 5) ^ (h >> 27) ^ c;
    }
    for w in padded.chunks(4) {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        h = (h << 16) ^ (h >> 16) ^ u32::from_le_bytes(b);
    }
    h
}

/// `ext2_xattr_rehash()` over stored entry hashes.
pub fn oracle_block_hash(hashes: &[u32]) -> u32 {
    if hashes.contains(&0) {
        return 0;
    }
    hashes.iter().fold(0u32, |h, &e| (h << 16) ^ (h >> 16) ^ e)
}

/// The hash ext2 gives an entry named `name` with value `value` (zero-padded).
pub fn oracle_hash(name: &[u8], value: &[u8]) -> u32 {
    oracle_entry_hash(name, value, false)
}

/// What a valid block is (the rules `XattrBlock`'s documentation lists), read the simple way;
/// `None` for a block it must refuse.
pub fn xattr_oracle(raw: &[u8]) -> Option<XattrOracle> {
    let u16at = |o: usize| u16::from_le_bytes([raw[o], raw[o + 1]]) as usize;
    let u32at = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap());
    if raw.len() != 4096 || u32at(0) != 0xEA02_0000 || u32at(8) != 1 || u32at(4) == 0 {
        return None;
    }
    let mut regions = vec![(0usize, 32usize)];
    let mut entries = Vec::new();
    let mut p = 32;
    loop {
        if p + 4 > 4096 {
            return None;
        }
        if u32at(p) == 0 {
            break;
        }
        let name_len = raw[p] as usize;
        let index = raw[p + 1];
        let len = (16 + name_len).div_ceil(4) * 4;
        if p + len + 4 > 4096 || u32at(p + 4) != 0 || index == 0 {
            return None;
        }
        if name_len == 0 && index != 2 && index != 3 {
            return None;
        }
        let offs = u16at(p + 2);
        let size = u32at(p + 8) as usize;
        let name = raw[p + 16..p + 16 + name_len].to_vec();
        let padded_len = size.div_ceil(4) * 4;
        let padded = if size == 0 {
            Vec::new()
        } else if offs % 4 != 0 || offs as u64 + padded_len as u64 > 4096 {
            return None;
        } else {
            regions.push((offs, offs + padded_len));
            raw[offs..offs + padded_len].to_vec()
        };
        if size == 0 && offs > 4096 {
            return None;
        }
        entries.push(XattrOracleEntry {
            index,
            value: padded.get(..size).map(<[u8]>::to_vec).unwrap_or_default(),
            offs,
            hash: u32at(p + 12),
            want_hash: oracle_entry_hash(&name, &padded, false),
            want_hash_signed: oracle_entry_hash(&name, &padded, true),
            name,
        });
        regions.push((p, p + len));
        p += len;
    }
    regions.push((p, p + 4));
    regions.sort();
    if regions.windows(2).any(|w| w[0].1 > w[1].0) {
        return None;
    }
    let key = |e: &XattrOracleEntry| (e.index, e.name.len(), e.name.clone());
    if entries.windows(2).any(|w| key(&w[0]) >= key(&w[1])) {
        return None;
    }
    Some(XattrOracle {
        refcount: u32at(4),
        hash: u32at(12),
        entries,
        table_end: p,
    })
}

/// `parse` accepts exactly what the oracle accepts, and every method of an accepted block
/// agrees with it. Returns the oracle's reading.
pub fn xattr_block(raw: &[u8]) -> Option<XattrOracle> {
    let parsed = XattrBlock::parse(raw);
    let oracle = xattr_oracle(raw);
    let (b, o) = match (parsed, oracle) {
        (Ok(b), Some(o)) => (b, o),
        (Err(_), None) => return None,
        (p, o) => panic!("XattrBlock::parse: {p:?}, the oracle: {o:?}"),
    };
    assert_eq!(b.refcount(), o.refcount);
    assert_ne!(b.refcount(), 0);
    assert_eq!(b.hash(), o.hash);
    let got: Vec<_> = b.entries().collect();
    assert_eq!(got.len(), o.entries.len());
    for (g, w) in got.iter().zip(&o.entries) {
        assert_eq!(
            (g.index, g.name, g.value),
            (w.index, &w.name[..], &w.value[..])
        );
        assert_eq!(
            b.get(g.index, g.name),
            Some(g.value),
            "get of a listed entry"
        );
        assert!(g.name.len() <= XATTR_NAME_MAX && g.value.len() <= BLOCK_SIZE);
        // Near misses are absent.
        let mut longer = g.name.to_vec();
        longer.push(b'x');
        if !o
            .entries
            .iter()
            .any(|e| e.index == g.index && e.name == longer)
        {
            assert_eq!(b.get(g.index, &longer), None);
        }
        if g.index < u8::MAX
            && !o
                .entries
                .iter()
                .any(|e| e.index == g.index + 1 && e.name == g.name)
        {
            assert_eq!(b.get(g.index + 1, g.name), None);
        }
    }
    assert_eq!(b.get(0, b""), None);
    let hashes: Vec<u32> = o.entries.iter().map(|e| e.hash).collect();
    assert_eq!(b.computed_hash(), oracle_block_hash(&hashes));
    let entries_ok = o
        .entries
        .iter()
        .all(|e| e.hash == e.want_hash || e.hash == e.want_hash_signed);
    assert_eq!(b.check_entry_hashes(), entries_ok);
    assert_eq!(
        b.check_hashes(),
        entries_ok && o.hash == oracle_block_hash(&hashes)
    );
    let used = 36
        + o.entries
            .iter()
            .map(|e| (16 + e.name.len()).div_ceil(4) * 4 + e.value.len().div_ceil(4) * 4)
            .sum::<usize>();
    assert_eq!(b.used(), used);
    assert!(used <= BLOCK_SIZE);
    for e in &got {
        if e.index == XATTR_INDEX_POSIX_ACL_ACCESS || e.index == XATTR_INDEX_POSIX_ACL_DEFAULT {
            acl_value(e.value);
        }
    }
    Some(o)
}

/// A block's contents as the model keeps them: sorted as ext2 sorts.
pub type XattrModel = std::collections::BTreeMap<(u8, usize, Vec<u8>), Vec<u8>>;

/// The model of a parsed block.
pub fn xattr_model(b: Option<&XattrBlock<'_>>) -> XattrModel {
    b.into_iter()
        .flat_map(|b| b.entries())
        .map(|e| ((e.index, e.name.len(), e.name.to_vec()), e.value.to_vec()))
        .collect()
}

/// Bytes a block holding `m` takes.
pub fn xattr_model_size(m: &XattrModel) -> usize {
    36 + m
        .iter()
        .map(|((_, _, n), v)| (16 + n.len()).div_ceil(4) * 4 + v.len().div_ceil(4) * 4)
        .sum::<usize>()
}

/// What `xattr_write` must do to the model `m`: the error, or the new contents (empty: the
/// block goes).
pub fn xattr_model_apply(
    m: &XattrModel,
    index: u8,
    name: &[u8],
    change: XattrChange<'_>,
    refcount: u32,
) -> Result<XattrModel, XattrError> {
    let value = match change {
        XattrChange::Set(v, _) => Some(v),
        XattrChange::Remove => None,
    };
    let acl = index == 2 || index == 3;
    if index == 0
        || name.len() > 255
        || (name.is_empty() && !acl)
        || name.contains(&0)
        || value.is_some_and(|v| v.len() > 4096)
        || refcount == 0
    {
        return Err(XattrError::Range);
    }
    let key = (index, name.len(), name.to_vec());
    let present = m.contains_key(&key);
    match change {
        XattrChange::Set(_, XattrSetMode::Create) if present => return Err(XattrError::Exists),
        XattrChange::Set(_, XattrSetMode::Replace) | XattrChange::Remove if !present => {
            return Err(XattrError::NotFound)
        }
        _ => {}
    }
    let mut n = m.clone();
    match value {
        Some(v) => {
            n.insert(key, v.to_vec());
        }
        None => {
            n.remove(&key);
        }
    }
    if !n.is_empty() && xattr_model_size(&n) > 4096 {
        return Err(XattrError::NoSpace);
    }
    Ok(n)
}

/// Runs `xattr_write` on `old` (a parsed block, or none) and checks it against the model and
/// the layout it documents; returns the new block (`Some(None)`: the block goes; `None`: an
/// error, the old block stays).
pub fn xattr_write_checked(
    old: Option<&XattrBlock<'_>>,
    index: u8,
    name: &[u8],
    change: XattrChange<'_>,
    refcount: u32,
) -> Option<Option<Vec<u8>>> {
    let before = xattr_model(old);
    let want = xattr_model_apply(&before, index, name, change, refcount);
    let junk = vec![0xa5u8; BLOCK_SIZE];
    let mut out = junk.clone();
    let got = xattr_write(old, index, name, change, refcount, &mut out);
    match (&want, got) {
        (Err(w), Err(g)) => {
            assert_eq!(*w, g, "xattr_write's error");
            assert_eq!(out, junk, "xattr_write changed out on an error");
            // A short or long `out` fails the same way when the change itself does.
            let mut short = vec![0u8; 100];
            assert_eq!(
                xattr_write(old, index, name, change, refcount, &mut short),
                Err(*w)
            );
            return None;
        }
        (Ok(m), Ok(XattrWritten::Empty)) if m.is_empty() => {
            assert_eq!(out, junk, "xattr_write changed out for an empty block");
            return Some(None);
        }
        (Ok(m), Ok(XattrWritten::Block)) if !m.is_empty() => {}
        (w, g) => panic!("xattr_write: {g:?}, the model: {w:?}"),
    }
    let m = want.unwrap();
    // The block: what the model holds, laid out as documented.
    let o = xattr_block(&out).expect("xattr_write wrote a block parse refuses");
    let b = XattrBlock::parse(&out).unwrap();
    assert_eq!(
        xattr_model(Some(&b)),
        m,
        "the written block is not the model's"
    );
    assert_eq!(o.refcount, refcount);
    assert!(b.check_hashes(), "xattr_write's hashes");
    assert_eq!(b.used(), xattr_model_size(&m));
    let mut expect = vec![0u8; BLOCK_SIZE];
    expect[..4].copy_from_slice(&XATTR_MAGIC.to_le_bytes());
    expect[4..8].copy_from_slice(&refcount.to_le_bytes());
    expect[8..12].copy_from_slice(&1u32.to_le_bytes());
    let mut hashes = Vec::new();
    let (mut p, mut v) = (32, BLOCK_SIZE);
    for ((index, _, name), value) in &m {
        let offs = if value.is_empty() {
            0
        } else {
            v -= value.len().div_ceil(4) * 4;
            expect[v..v + value.len()].copy_from_slice(value);
            v
        };
        let hash = oracle_hash(name, value);
        hashes.push(hash);
        expect[p] = name.len() as u8;
        expect[p + 1] = *index;
        expect[p + 2..p + 4].copy_from_slice(&(offs as u16).to_le_bytes());
        expect[p + 8..p + 12].copy_from_slice(&(value.len() as u32).to_le_bytes());
        expect[p + 12..p + 16].copy_from_slice(&hash.to_le_bytes());
        expect[p + 16..p + 16 + name.len()].copy_from_slice(name);
        p += (16 + name.len()).div_ceil(4) * 4;
    }
    expect[12..16].copy_from_slice(&oracle_block_hash(&hashes).to_le_bytes());
    assert_eq!(o.table_end, p);
    assert!(
        out == expect,
        "xattr_write's layout differs from the documented one"
    );
    // The refcount alone changes, and the hashes stay right.
    let mut c = out.clone();
    assert!(xattr_set_refcount(&mut c, 0).is_err());
    assert_eq!(c, out);
    xattr_set_refcount(&mut c, refcount.wrapping_add(1).max(1)).unwrap();
    assert_eq!(c[..4], out[..4]);
    assert_eq!(c[8..], out[8..]);
    let cb = XattrBlock::parse(&c).unwrap();
    assert_eq!(cb.refcount(), refcount.wrapping_add(1).max(1));
    assert!(cb.check_hashes());
    Some(Some(out))
}

/// A tag value to the oracle's (tag, has id).
fn oracle_tag(t: u16) -> Option<(AclTag, bool)> {
    Some(match t {
        1 => (AclTag::UserObj, false),
        2 => (AclTag::User, true),
        4 => (AclTag::GroupObj, false),
        8 => (AclTag::Group, true),
        0x10 => (AclTag::Mask, false),
        0x20 => (AclTag::Other, false),
        _ => return None,
    })
}

/// `ext2_acl_from_disk()` read the simple way, perm > 7 refused.
pub fn acl_oracle(v: &[u8]) -> Option<Vec<AclEntry>> {
    if v.len() < 4 || v[..4] != [1, 0, 0, 0] {
        return None;
    }
    // ext2_acl_count().
    let size = v.len() - 4;
    let count = if size < 16 {
        if size % 4 != 0 {
            return None;
        }
        size / 4
    } else {
        if (size - 16) % 8 != 0 {
            return None;
        }
        (size - 16) / 8 + 4
    };
    let mut p = 4;
    let mut out = Vec::new();
    for _ in 0..count {
        let e = v.get(p..p + 4)?;
        let (tag, long) = oracle_tag(u16::from_le_bytes([e[0], e[1]]))?;
        let perm = u16::from_le_bytes([e[2], e[3]]);
        if perm > 7 {
            return None;
        }
        let id = if long {
            u32::from_le_bytes(v.get(p + 4..p + 8)?.try_into().unwrap())
        } else {
            0
        };
        p += if long { 8 } else { 4 };
        out.push(AclEntry { tag, perm, id });
    }
    (p == v.len()).then_some(out)
}

/// The ACL codec on `value`: count and decode agree with the oracle, and what decodes encodes
/// back to the same bytes.
pub fn acl_value(value: &[u8]) {
    let want = acl_oracle(value);
    let count = acl_count(value);
    assert_eq!(count.ok(), want.as_ref().map(Vec::len), "acl_count");
    let fill = AclEntry {
        tag: AclTag::Mask,
        perm: 7,
        id: 0xdead,
    };
    let mut out = vec![fill; want.as_ref().map_or(3, Vec::len) + 1];
    let got = acl_decode(value, &mut out);
    let Some(want) = want else {
        assert!(got.is_err());
        assert!(
            out.iter().all(|e| *e == fill),
            "acl_decode wrote on an error"
        );
        return;
    };
    assert_eq!(got, Ok(want.len()));
    assert_eq!(out[..want.len()], want[..]);
    assert_eq!(out[want.len()], fill);
    if !want.is_empty() {
        let mut short = vec![fill; want.len() - 1];
        assert!(acl_decode(value, &mut short).is_err());
        assert!(short.iter().all(|e| *e == fill));
    }
    assert_eq!(acl_size(&want), value.len());
    let mut enc = vec![0xeeu8; value.len() + 8];
    assert_eq!(acl_encode(&want, &mut enc), Ok(value.len()));
    assert_eq!(&enc[..value.len()], value, "acl_encode(acl_decode(v)) != v");
    assert!(enc[value.len()..].iter().all(|&b| b == 0xee));
    if !value.is_empty() {
        let mut small = vec![0xeeu8; value.len() - 1];
        assert!(acl_encode(&want, &mut small).is_err());
        assert!(small.iter().all(|&b| b == 0xee));
    }
}

/// The ACL encoder on any entries: it refuses exactly what ext2 could not read back (perm over
/// 7, a layout `ext2_acl_size()` does not give), and what it writes decodes to the entries
/// (ids of entries without one as 0).
pub fn acl_entries(entries: &[AclEntry]) {
    let size = acl_size(entries);
    let longs = entries.iter().filter(|e| e.tag.has_id()).count();
    assert_eq!(size, 4 + 4 * entries.len() + 4 * longs);
    let n = entries.len();
    let ext2_size = if n <= 4 {
        4 + 4 * n
    } else {
        4 + 16 + 8 * (n - 4)
    };
    let ok = entries.iter().all(|e| e.perm <= 7) && size == ext2_size;
    let mut out = vec![0x5au8; size + 3];
    let r = acl_encode(entries, &mut out);
    if !ok {
        assert!(r.is_err(), "acl_encode accepted {entries:?}");
        assert!(out.iter().all(|&b| b == 0x5a));
        return;
    }
    assert_eq!(r, Ok(size));
    let want: Vec<AclEntry> = entries
        .iter()
        .map(|e| AclEntry {
            id: if e.tag.has_id() { e.id } else { 0 },
            ..*e
        })
        .collect();
    assert_eq!(acl_oracle(&out[..size]), Some(want));
    acl_value(&out[..size]);
}
