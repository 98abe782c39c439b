// SPDX-License-Identifier: GPL-2.0

//! The block map: file offsets to device blocks, as the iomap `fs/dax.c` asks for.
//!
//! The walk ([`walk`]) is generic over where blocks are read from ([`BlockSource`]): the DAX
//! device when mounted, an in-memory image in the KUnit suite (`ondisk_tests.rs`), which thus
//! tests the code the filesystem runs. It reads only the entries it needs, in place: one entry
//! of each indirect block on the path, and the leaf entries of the run in small pieces on the
//! stack (no buffer to allocate, no block to copy: a page fault walks the map once). Every block the walk goes through is claimed in the
//! filesystem's [`ClaimMap`]: a block map that shares a block with another file, with another
//! block of the same file or with metadata fails with [`WalkError::Claimed`] before `fs/dax.c`
//! ever sees the block.

use crate::{
    claims::{ClaimMap, Conflict, Owner},
    corrupt,
    inode::InodeState,
    ondisk, BlockBuf, INode, SuperBlock,
};
use kernel::{fs, prelude::*, xip_util};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Most blocks one extent covers (4 MiB): bounds the work of one lookup.
pub(crate) const MAX_RUN: u32 = 1024;

/// Where the block-map walk reads indirect blocks from.
pub(crate) trait BlockSource {
    /// Copies `buf.len()` bytes from byte `off` of device block `blk` into `buf` (the walk
    /// keeps `off + buf.len()` within [`ondisk::BLOCK_SIZE`]).
    fn read_at(&self, blk: u32, off: u32, buf: &mut [u8]) -> Result;
}

impl BlockSource for fs::Dax {
    fn read_at(&self, blk: u32, off: u32, buf: &mut [u8]) -> Result {
        self.read(u64::from(blk) * BS + u64::from(off), buf)
    }
}

/// Leaf entries read at a time by [`leaf_run`] (on the stack).
const LEAF_CHUNK: u32 = 32;

/// Entry `i` of indirect block `blk`.
fn entry_at<S: BlockSource + ?Sized>(src: &S, blk: u32, i: u32) -> Result<u32, WalkError> {
    let mut raw = [0u8; 4];
    if i >= ondisk::ADDR_PER_BLOCK {
        return Err(ondisk::Corrupt::new("indirect block index out of range").into());
    }
    src.read_at(blk, i * 4, &mut raw).map_err(WalkError::Io)?;
    Ok(ondisk::indirect_entry(&raw, 0)?)
}

/// [`ondisk::contiguous_run`] over the leaf table `blk` from entry `i`, reading the entries
/// in pieces of [`LEAF_CHUNK`]: `(entry i, n)`.
fn leaf_run<S: BlockSource + ?Sized>(
    src: &S,
    blk: u32,
    i: u32,
    max: u32,
) -> Result<(u32, u32), WalkError> {
    if i >= ondisk::ADDR_PER_BLOCK {
        return Err(ondisk::Corrupt::new("indirect block index out of range").into());
    }
    let end = (ondisk::ADDR_PER_BLOCK - i).min(max.max(1));
    let mut raw = [0u8; LEAF_CHUNK as usize * 4];
    let mut first = 0;
    let mut n = 0;
    while n < end {
        let k = (end - n).min(LEAF_CHUNK);
        let piece = &mut raw[..k as usize * 4];
        src.read_at(blk, (i + n) * 4, piece).map_err(WalkError::Io)?;
        let head = ondisk::indirect_entry(piece, 0)?;
        if n == 0 {
            first = head;
        } else {
            // The piece goes on with the run only if its first entry does: the next hole, or
            // the next block (a run never wraps around block 0).
            let want = if first == 0 { Some(0) } else { first.checked_add(n) };
            if want != Some(head) {
                break;
            }
        }
        let m = ondisk::contiguous_run(piece, 0, k)?;
        n += m;
        if m < k {
            break;
        }
    }
    Ok((first, n.max(1)))
}

/// Why a block-map walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// The block map is corrupt (a block number out of range, a logical block past the map).
    Corrupt(ondisk::Corrupt),
    /// A block on the way, or the first data block, belongs to something else.
    Claimed(Conflict),
    /// Reading an indirect block failed.
    Io(Error),
}

impl From<ondisk::Corrupt> for WalkError {
    fn from(c: ondisk::Corrupt) -> Self {
        WalkError::Corrupt(c)
    }
}

/// Where logical block `lblk` of inode `ino` (whose checked on-disk inode is `raw`) is, with
/// how many following blocks continue it: `(Some(first device block), n)` for `n` contiguous
/// mapped blocks, `(None, n)` for a hole of `n` blocks. `n` is between 1 and `max` (and at most
/// [`MAX_RUN`]).
///
/// The indirect blocks on the way are read from `src` (the entries needed only) and claimed
/// for `ino`, and so are the `n` data blocks returned; a run stops before the first data
/// block that is not `ino`'s to have, so that only the first block of a run can be refused.
pub(crate) fn walk<S: BlockSource + ?Sized>(
    src: &S,
    sb: &ondisk::Superblock,
    claims: &ClaimMap,
    ino: u32,
    raw: &ondisk::Inode,
    lblk: u64,
    max: u32,
) -> Result<(Option<u32>, u32), WalkError> {
    let max = max.clamp(1, MAX_RUN);
    let path = ondisk::BlockPath::new(lblk)?;
    let idx = path.indices();
    let idx = idx.as_slice();
    let (first, n) = if path.depth() == 0 {
        let i = idx[0];
        let n = ondisk::direct_run(&raw.block, i, max)?;
        (raw.block[i as usize], n)
    } else {
        // Walk the indirect blocks down to the leaf table.
        let mut blk = raw.block[idx[0] as usize];
        let mut level = 1;
        loop {
            match sb.check_block_nr(blk)? {
                // A missing indirect block: everything below it is a hole, up to the end of
                // the leaf table at least.
                None => return Ok((None, path.leaf_remaining().clamp(1, max))),
                Some(b) => {
                    let id = path
                        .indirect_id(level)
                        .ok_or(ondisk::Corrupt::new("block map deeper than its path"))?;
                    claims
                        .claim(b, Owner::Indirect { ino, id })
                        .map_err(WalkError::Claimed)?;
                    let i = idx[level];
                    if level == idx.len() - 1 {
                        break leaf_run(src, b, i, max)?;
                    }
                    blk = entry_at(src, b, i)?;
                    level += 1;
                }
            }
        }
    };
    match sb.check_block_nr(first)? {
        None => Ok((None, n.max(1))),
        Some(b) => {
            sb.check_extent(b, n)?;
            // `lblk + i` is below MAX_MAPPED_BLOCKS (the path exists and the run stays in
            // its table), so below 2^31.
            let n = claims
                .claim_run(b, n, |i| Owner::Data {
                    ino,
                    lblk: (lblk + u64::from(i)) as u32,
                })
                .map_err(WalkError::Claimed)?;
            Ok((Some(b), n))
        }
    }
}

/// Reports a failed walk of inode `ino` in the kernel log (naming the device, the inode and,
/// for a block that is already another's, its owner) and returns the error for the caller.
pub(crate) fn report(sb: &SuperBlock, ino: u32, e: WalkError) -> Error {
    match e {
        WalkError::Corrupt(c) => corrupt(sb, u64::from(ino), c),
        WalkError::Io(e) => e,
        WalkError::Claimed(c) => {
            let bpg = sb.data().sb.blocks_per_group;
            match (c.owner, c.wanted) {
                (Some(owner), Owner::Data { lblk, .. }) => pr_err!(
                    "{}: inode {}: corrupt: block {} (its file block {}) is already {}\n",
                    sb.id(),
                    ino,
                    c.blk,
                    lblk,
                    owner.describe(c.blk, bpg)
                ),
                (Some(owner), _) => pr_err!(
                    "{}: inode {}: corrupt: block {} (one of its indirect blocks) is already {}\n",
                    sb.id(),
                    ino,
                    c.blk,
                    owner.describe(c.blk, bpg)
                ),
                (None, _) => pr_err!(
                    "{}: inode {}: corrupt: block number out of range\n",
                    sb.id(),
                    ino
                ),
            }
            crate::sb::on_corruption(sb);
            EUCLEAN
        }
    }
}

/// [`walk`] for inode `ino` of the mounted filesystem `sb`, reading through DAX; failures are
/// logged ([`report`]).
pub(crate) fn lookup_run(
    sb: &SuperBlock,
    ino: u32,
    raw: &ondisk::Inode,
    lblk: u64,
    max: u32,
) -> Result<(Option<u32>, u32)> {
    let d = sb.data();
    walk(sb.dax(), &d.sb, &d.claims, ino, raw, lblk, max).map_err(|e| report(sb, ino, e))
}

/// The device block of the first block of a file that must have one (slow symlinks).
pub(crate) fn first_block(sb: &SuperBlock, ino: u32, raw: &ondisk::Inode) -> Result<u32> {
    match lookup_run(sb, ino, raw, 0, 1)? {
        (Some(b), _) => Ok(b),
        (None, _) => Err(corrupt(sb, ino as u64, ondisk::Corrupt::new("missing data block"))),
    }
}

/// The extent of a regular file (or directory, or symlink) containing byte `pos`, for
/// `iomap_begin`: for a write (`flags.write()`, not `flags.zero()`), holes in it are
/// allocated first ([`map_for_write`]).
pub(crate) fn map(inode: &INode, pos: u64, len: u64, flags: fs::IomapFlags) -> Result<fs::Extent> {
    let sb = inode.super_block();
    let lblk = pos / BS;
    let end = pos.saturating_add(len.max(1)).div_ceil(BS);
    let want = u32::try_from(end - lblk).unwrap_or(MAX_RUN).min(MAX_RUN);
    if flags.write() && !flags.zero() {
        let pmd = u64::from(crate::alloc::PMD_BLOCKS);
        // A file reaching its second 2 MiB through write(2) (so without the invalidate lock,
        // which a fault holds) gets its first 2 MiB moved to an aligned run.
        if lblk == pmd && !flags.fault() && !flags.nowait() && !inode.is_dir() {
            // Only when the file is about to grow there (block 512 is a hole).
            let raw = inode.data().snapshot();
            if lookup_run(sb, inode.ino() as u32, &raw, lblk, 1)?.0.is_none() {
                align_head(inode)?;
            }
        }
        let (first, mut n, mut new) = map_for_write(inode, lblk, want, flags.nowait())?;
        // A run ends where an indirect block's span does (every 1024 blocks, off the 2 MiB
        // grid): go on while the next run follows on the device, so that a 2 MiB fault gets
        // its whole aligned run in one extent.
        while n < want {
            match map_for_write(inode, lblk + u64::from(n), want - n, flags.nowait()) {
                Ok((b, m, fresh)) if b == first + n => {
                    n += m;
                    new |= fresh;
                }
                _ => break,
            }
        }
        let addr = u64::from(first) * BS;
        return Ok(fs::Extent {
            offset: lblk * BS,
            length: u64::from(n) * BS,
            kind: if new { fs::ExtentKind::New(addr) } else { fs::ExtentKind::Mapped(addr) },
        });
    }
    let raw = inode.data().snapshot();
    let ino = inode.ino() as u32;
    let (first, mut n) = lookup_run(sb, ino, &raw, lblk, want)?;
    // As above: runs (and holes) go on across the end of an indirect block's span. A
    // damaged block map further on is left to be reported when it is reached.
    if n < want {
        let d = sb.data();
        while n < want {
            match walk(sb.dax(), &d.sb, &d.claims, ino, &raw, lblk + u64::from(n), want - n) {
                Ok((b, m)) if b.is_none() == first.is_none() && b.map_or(true, |b| Some(b) == first.map(|f| f + n)) => n += m,
                _ => break,
            }
        }
    }
    Ok(fs::Extent {
        offset: lblk * BS,
        length: n as u64 * BS,
        kind: match first {
            Some(b) => fs::ExtentKind::Mapped(b as u64 * BS),
            None => fs::ExtentKind::Hole,
        },
    })
}

/// Where a block map entry is: a slot of `i_block` (in the locked inode state) or an entry
/// of an indirect block in device memory.
#[derive(Clone, Copy)]
enum Slot {
    Inode(usize),
    Block(u32, u32),
}

fn set_slot(sb: &SuperBlock, st: &mut InodeState, slot: Slot, value: u32) -> Result {
    match slot {
        Slot::Inode(i) => {
            *st.raw.block.get_mut(i).ok_or(EIO)? = value;
            Ok(())
        }
        Slot::Block(blk, i) => sb
            .dax()
            .write(u64::from(blk) * BS + u64::from(i) * 4, &value.to_le_bytes()),
    }
}

/// Maps logical block `lblk` of `inode` for a write of up to `want` blocks: the run already
/// there, or a new run allocated in the hole (with the indirect blocks on its way), zeroed
/// before it is linked. Returns `(first device block, blocks, newly allocated)`.
pub(crate) fn map_for_write(inode: &INode, lblk: u64, want: u32, nowait: bool) -> Result<(u32, u32, bool)> {
    let sb = inode.super_block();
    let d = sb.data();
    let ino = inode.ino() as u32;
    if lblk >= ondisk::MAX_MAPPED_BLOCKS {
        return Err(EFBIG);
    }
    let mut st = inode.data().lock();
    let (first, n) = walk(sb.dax(), &d.sb, &d.claims, ino, &st.raw, lblk, want)
        .map_err(|e| report(sb, ino, e))?;
    if let Some(b) = first {
        return Ok((b, n, false));
    }
    if nowait {
        return Err(EAGAIN);
    }
    let (b, got) = alloc_run(inode, &mut st, lblk, n, want)?;
    Ok((b, got, true))
}

/// Moves the first 2 MiB of regular file `inode` to a 2 MiB aligned run of blocks when they
/// are contiguous but not aligned and the file does not go further yet (it is about to grow
/// past 2 MiB), so that files written a little at a time start aligned too. Does nothing
/// when no aligned run of 2 MiB is free.
///
/// The range is unmapped and the invalidate lock held while the blocks move, so no fault
/// maps either copy meanwhile; if a page of it is pinned (`get_user_pages`), nothing moves.
/// `read(2)` and `write(2)` are kept out by the inode lock, which the caller (a write) holds.
fn align_head(inode: &INode) -> Result {
    let sb = inode.super_block();
    let d = sb.data();
    let ino = inode.ino() as u32;
    let pmd = crate::alloc::PMD_BLOCKS;
    inode.with_range_unmapped(0, u64::from(pmd) * BS, || -> Result {
        let mut st = inode.data().lock();
        if st.raw.mode & ondisk::S_IFMT != 0o100000 {
            return Ok(());
        }
        // For copying the blocks, allocated before anything changes.
        let mut buf = BlockBuf::new()?;
        let look = |lblk: u64, max: u32| {
            walk(sb.dax(), &d.sb, &d.claims, ino, &st.raw, lblk, max)
                .map_err(|e| report(sb, ino, e))
        };
        // Where each of the first 2 MiB is now: all mapped, and not already one aligned run.
        let mut old = KVec::with_capacity(pmd as usize, GFP_KERNEL)?;
        let mut at = 0u64;
        while at < u64::from(pmd) {
            match look(at, pmd - at as u32)? {
                (Some(b), m) => {
                    for i in 0..m {
                        old.push(b + i, GFP_KERNEL)?;
                    }
                    at += u64::from(m);
                }
                (None, _) => return Ok(()),
            }
        }
        let aligned_run = old[0] % pmd == 0 && old.iter().enumerate().all(|(i, &b)| b == old[0] + i as u32);
        if aligned_run || look(u64::from(pmd), 1)?.0.is_some() {
            return Ok(());
        }
        let (new, got) = match crate::balloc::alloc_blocks(sb, 0, pmd, true) {
            Ok(r) => r,
            Err(e) if e == ENOSPC => return Ok(()),
            Err(e) => return Err(e),
        };
        if got < pmd || new % pmd != 0 {
            crate::balloc::free_blocks(sb, ino, new, got)?;
            return Ok(());
        }
        for i in 0..pmd {
            if let Err(c) = d.claims.claim(new + i, Owner::Data { ino, lblk: i }) {
                for j in 0..i {
                    let _ = d.claims.release(new + j, Owner::Data { ino, lblk: j });
                }
                let _ = crate::balloc::free_blocks(sb, ino, new, pmd);
                return Err(report(sb, ino, WalkError::Claimed(c)));
            }
        }
        for (i, &b) in old.iter().enumerate() {
            buf.read(sb.dax(), b)?;
            sb.dax().write(u64::from(new + i as u32) * BS, &buf.0)?;
        }
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
        // Relink: the direct blocks, then the single indirect block's entries.
        for i in 0..ondisk::NDIR_BLOCKS {
            st.raw.block[i] = new + i as u32;
        }
        let ind = st.raw.block[ondisk::IND_BLOCK];
        let rest = pmd - ondisk::NDIR_BLOCKS as u32;
        let mut entries = KVec::with_capacity(rest as usize * 4, GFP_KERNEL)?;
        for i in 0..rest {
            entries.extend_from_slice(&(new + ondisk::NDIR_BLOCKS as u32 + i).to_le_bytes(), GFP_KERNEL)?;
        }
        sb.dax().write(u64::from(ind) * BS, &entries)?;
        crate::inode::store(inode, &mut st)?;
        // The old blocks go, in runs.
        let mut runs = Freer::new(inode);
        for (i, &b) in old.iter().enumerate() {
            runs.add(b, Owner::Data { ino, lblk: i as u32 })?;
        }
        runs.flush()?;
        st.goal = new + pmd;
        Ok(())
    })
    // A page of the first 2 MiB pinned by get_user_pages (EBUSY) keeps its block: the file
    // stays where it is rather than the write waiting for someone else's pin.
    .or_else(|e| if e == EBUSY { Ok(Ok(())) } else { Err(e) })?
}

/// Allocates a run of up to `n` blocks for the hole at `lblk` (and the indirect blocks on the
/// way), zeroes and links it; the caller holds the inode's lock (`st`).
fn alloc_run(inode: &INode, st: &mut InodeState, lblk: u64, n: u32, want: u32) -> Result<(u32, u32)> {
    let sb = inode.super_block();
    let d = sb.data();
    let s = &d.sb;
    let ino = inode.ino() as u32;
    let bad = |c| corrupt(sb, u64::from(ino), c);
    let path = ondisk::BlockPath::new(lblk).map_err(bad)?;
    let idx = path.indices();
    let idx = idx.as_slice();
    let depth = path.depth();
    // Indirect blocks go near the start of the inode's group, out of the way of the data
    // runs (so that a file's first 2 MiB can be one aligned run); data goes after the
    // file's last block.
    let meta_goal = crate::balloc::inode_goal(s, ino);
    let goal = if st.goal != 0 { st.goal } else { meta_goal };
    // The indirect blocks down to the leaf table, allocated where missing.
    let mut leaf = None;
    if depth > 0 {
        let mut parent = Slot::Inode(idx[0] as usize);
        let mut blk = st.raw.block[idx[0] as usize];
        for level in 1..=depth {
            if blk == 0 {
                let (nb, _) = crate::balloc::alloc_blocks(sb, meta_goal, 1, false)?;
                let id = path.indirect_id(level).ok_or(EIO)?;
                if let Err(c) = d.claims.claim(nb, Owner::Indirect { ino, id }) {
                    return Err(report(sb, ino, WalkError::Claimed(c)));
                }
                sb.dax().zero(u64::from(nb) * BS, BS)?;
                core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
                set_slot(sb, st, parent, nb)?;
                inode.add_bytes(BS);
                blk = nb;
            } else {
                s.check_block_nr(blk).map_err(bad)?;
            }
            if level == depth {
                leaf = Some(blk);
                break;
            }
            let mut e = [0u8; 4];
            sb.dax().read(u64::from(blk) * BS + u64::from(idx[level]) * 4, &mut e)?;
            parent = Slot::Block(blk, idx[level]);
            blk = u32::from_le_bytes(e);
        }
    }
    let count = n.min(path.leaf_remaining()).max(1);
    let pmd = crate::alloc::PMD_BLOCKS as u64;
    let aligned = lblk % pmd == 0 && (u64::from(want) >= pmd || lblk >= pmd);
    // The entries of an indirect block are gathered in memory taken before any block is:
    // once blocks are allocated, nothing may fail for want of memory (they would leak).
    let mut entries = match leaf {
        Some(_) => KVec::with_capacity(count as usize * 4, GFP_KERNEL)?,
        None => KVec::new(),
    };
    let (first, mut got) = if aligned && st.goal != 0 && u64::from(st.goal) % pmd == 0 {
        // A file's own goal that is aligned itself (the block after an aligned run of the
        // file) gives both contiguity and alignment when it is free; when it is not (the next
        // group's metadata, another file), the run goes to an aligned place elsewhere.
        match crate::balloc::alloc_blocks(sb, goal, count, false)? {
            (f, g) if f == goal => (f, g),
            (f, g) => {
                crate::balloc::free_blocks(sb, ino, f, g)?;
                crate::balloc::alloc_blocks(sb, goal, count, true)?
            }
        }
    } else {
        crate::balloc::alloc_blocks(sb, goal, count, aligned)?
    };
    for i in 0..got {
        let owner = Owner::Data { ino, lblk: (lblk + u64::from(i)) as u32 };
        if let Err(c) = d.claims.claim(first + i, owner) {
            // The bitmap called free a block that is something else: keep it marked used,
            // give back the rest.
            if i + 1 < got {
                let _ = crate::balloc::free_blocks(sb, ino, first + i + 1, got - i - 1);
            }
            for j in 0..i {
                let _ = d.claims.release(first + j, Owner::Data { ino, lblk: (lblk + u64::from(j)) as u32 });
            }
            if i > 0 {
                let _ = crate::balloc::free_blocks(sb, ino, first, i);
            }
            return Err(report(sb, ino, WalkError::Claimed(c)));
        }
    }
    got = got.max(1);
    sb.dax().zero(u64::from(first) * BS, u64::from(got) * BS)?;
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    match leaf {
        None => {
            for i in 0..got {
                set_slot(sb, st, Slot::Inode(idx[0] as usize + i as usize), first + i)?;
            }
        }
        Some(tbl) => {
            for i in 0..got {
                entries.extend_from_slice(&(first + i).to_le_bytes(), GFP_KERNEL)?;
            }
            sb.dax().write(u64::from(tbl) * BS + u64::from(idx[depth]) * 4, &entries)?;
        }
    }
    st.goal = first + got;
    inode.add_bytes(u64::from(got) * BS);
    if (lblk + u64::from(got)) * BS > inode.size() {
        st.past_eof = true;
    }
    crate::inode::store(inode, st)?;
    Ok((first, got))
}

/// Blocks to free, gathered into runs of consecutive device blocks.
struct Freer<'a> {
    inode: &'a INode,
    run: Option<(u32, u32)>,
    freed: u64,
}

impl<'a> Freer<'a> {
    fn new(inode: &'a INode) -> Self {
        Self { inode, run: None, freed: 0 }
    }

    /// Frees data block `blk`, file block `lblk`, or (with `id`) indirect block `blk`.
    fn add(&mut self, blk: u32, owner: Owner) -> Result {
        let sb = self.inode.super_block();
        let ino = self.inode.ino() as u32;
        if sb.data().sb.check_block_nr(blk).ok().flatten().is_none() {
            return Err(corrupt(sb, u64::from(ino), ondisk::Corrupt::new("freeing a block out of range")));
        }
        if let Err(c) = sb.data().claims.release(blk, owner) {
            // Another's block: leave it alone.
            report(sb, ino, WalkError::Claimed(c));
            return Ok(());
        }
        self.freed += 1;
        match self.run {
            Some((f, n)) if f + n == blk => self.run = Some((f, n + 1)),
            _ => {
                self.flush()?;
                self.run = Some((blk, 1));
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result {
        if let Some((f, n)) = self.run.take() {
            crate::balloc::free_blocks(self.inode.super_block(), self.inode.ino() as u32, f, n)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result {
        let r = self.flush();
        self.inode.sub_bytes(self.freed * BS);
        r
    }
}

/// Entries per indirect block.
const APB: u64 = ondisk::ADDR_PER_BLOCK as u64;

/// Frees, in the tree of indirect block `blk` (at `level` of its paths, with `depth` levels of
/// indirect blocks from it down to the data, its first file block `base`), every block that
/// maps only file blocks in `[from, to)`. Entries are cleared (and written) before the blocks
/// they pointed to are freed. Returns whether the whole tree is now empty (`blk` itself is
/// then the caller's to unlink and free).
fn free_tree(f: &mut Freer<'_>, blk: u32, level: usize, depth: u32, base: u64, from: u64, to: u64) -> Result<bool> {
    let inode = f.inode;
    let sb = inode.super_block();
    let ino = inode.ino() as u32;
    let span = APB.pow(depth - 1);
    if sb.data().sb.check_block_nr(blk).ok().flatten().is_none() {
        return Err(corrupt(sb, u64::from(ino), ondisk::Corrupt::new("indirect block out of range")));
    }
    let mut buf = BlockBuf::new()?;
    buf.read(sb.dax(), blk)?;
    let mut copy = BlockBuf::new()?;
    copy.0.copy_from_slice(&buf.0);
    let old = &copy.0;
    let mut changed = false;
    // Room for every entry before any is cleared: no allocation once the block is changed.
    let mut children = KVec::with_capacity(ondisk::ADDR_PER_BLOCK as usize, GFP_KERNEL)?;
    for i in 0..ondisk::ADDR_PER_BLOCK {
        let cb = base + u64::from(i) * span;
        if cb + span <= from || cb >= to {
            continue;
        }
        let e = ondisk::indirect_entry(old, i).map_err(|c| corrupt(sb, u64::from(ino), c))?;
        if e == 0 {
            continue;
        }
        if depth == 1 {
            // A data block: in the range (it is one block).
            ondisk::put_le32(&mut buf.0, i as usize * 4, 0).map_err(|c| corrupt(sb, u64::from(ino), c))?;
            children.push((e, cb, true), GFP_KERNEL)?;
            changed = true;
        } else if free_tree(f, e, level + 1, depth - 1, cb, from, to)? {
            ondisk::put_le32(&mut buf.0, i as usize * 4, 0).map_err(|c| corrupt(sb, u64::from(ino), c))?;
            children.push((e, cb, false), GFP_KERNEL)?;
            changed = true;
        }
    }
    if changed {
        sb.dax().write(u64::from(blk) * BS, &buf.0)?;
    }
    for &(e, cb, data) in children.iter() {
        let owner = if data {
            Owner::Data { ino, lblk: cb as u32 }
        } else {
            let id = ondisk::BlockPath::new(cb)
                .ok()
                .and_then(|p| p.indirect_id(level + 1))
                .ok_or(EIO)?;
            Owner::Indirect { ino, id }
        };
        f.add(e, owner)?;
    }
    xip_util::cond_resched();
    Ok(buf.0.iter().all(|&b| b == 0))
}

/// Frees every block of `inode` that maps file blocks from `from` on (all of them for 0),
/// indirect blocks that map nothing any more included; the caller holds the inode's lock
/// (`st`), and nothing can reach those file blocks any more (their pages are unmapped).
///
/// Truncation and eviction cannot leave blocks past the end of a file, which `e2fsck` would
/// call wrong: an allocation that fails here (the buffers of indirect blocks, taken before
/// anything is changed, so a failed attempt leaves a consistent, partly freed map) is
/// retried, as `__GFP_NOFAIL` would.
pub(crate) fn free_from(inode: &INode, st: &mut InodeState, from: u64) -> Result {
    let mut tries = 0;
    loop {
        match free_range(inode, st, from, u64::MAX) {
            Err(e) if e == ENOMEM && tries < FREE_RETRIES => {
                tries += 1;
                xip_util::cond_resched();
            }
            r => break r?,
        }
    }
    st.past_eof = false;
    crate::inode::store(inode, st)
}

/// How often [`free_from`] tries again after `ENOMEM`: small allocations fail only under
/// fault injection or for a task being killed, so a few tries are plenty.
const FREE_RETRIES: u32 = 16;

/// Frees every block of `inode` that maps file blocks in `[from, to)`, and the indirect
/// blocks that map nothing any more; as [`free_from`] otherwise.
fn free_range(inode: &INode, st: &mut InodeState, from: u64, to: u64) -> Result {
    let mut f = Freer::new(inode);
    // Whatever happens, the blocks already unlinked are freed.
    let res = free_range_with(&mut f, st, from, to);
    let done = f.finish();
    res.and(done)?;
    st.goal = 0;
    crate::inode::store(inode, st)
}

fn free_range_with(f: &mut Freer<'_>, st: &mut InodeState, from: u64, to: u64) -> Result {
    let inode = f.inode;
    let ino = inode.ino() as u32;
    // Room for every direct block before any is unlinked: no allocation after.
    let mut data = KVec::with_capacity(ondisk::NDIR_BLOCKS, GFP_KERNEL)?;
    let mut changed = false;
    for i in 0..ondisk::NDIR_BLOCKS {
        if (i as u64) >= from && (i as u64) < to && st.raw.block[i] != 0 {
            data.push((st.raw.block[i], i as u32), GFP_KERNEL)?;
            st.raw.block[i] = 0;
            changed = true;
        }
    }
    if changed {
        if let Err(e) = crate::inode::store(inode, st) {
            // Not unlinked after all: the blocks stay the file's.
            for &(b, l) in data.iter() {
                st.raw.block[l as usize] = b;
            }
            return Err(e);
        }
    }
    for &(b, l) in data.iter() {
        f.add(b, Owner::Data { ino, lblk: l })?;
    }
    let roots = [
        (ondisk::IND_BLOCK, 1u32, ondisk::NDIR_BLOCKS as u64),
        (ondisk::DIND_BLOCK, 2, ondisk::NDIR_BLOCKS as u64 + APB),
        (ondisk::TIND_BLOCK, 3, ondisk::NDIR_BLOCKS as u64 + APB + APB * APB),
    ];
    for (slot, depth, base) in roots {
        let blk = st.raw.block[slot];
        if blk == 0 || base + APB.pow(depth) <= from || base >= to {
            continue;
        }
        if free_tree(f, blk, 1, depth, base, from, to)? {
            st.raw.block[slot] = 0;
            if let Err(e) = crate::inode::store(inode, st) {
                st.raw.block[slot] = blk;
                return Err(e);
            }
            let id = ondisk::BlockPath::new(base).ok().and_then(|p| p.indirect_id(1)).ok_or(EIO)?;
            f.add(blk, Owner::Indirect { ino, id })?;
        }
    }
    Ok(())
}

/// `truncate`: frees the blocks of `inode` past byte `size`.
pub(crate) fn truncate(inode: &INode, size: u64) -> Result {
    let mut st = inode.data().lock();
    free_from(inode, &mut st, size.div_ceil(BS))
}

/// `punch_hole`: frees the blocks of `inode` in the bytes `[start, end)` (block aligned).
pub(crate) fn punch_hole(inode: &INode, start: u64, end: u64) -> Result {
    let mut st = inode.data().lock();
    free_range(inode, &mut st, start / BS, end.div_ceil(BS))
}
