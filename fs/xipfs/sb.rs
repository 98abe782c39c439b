// SPDX-License-Identifier: GPL-2.0

//! Mounting, the superblock's state and counters, group descriptors, `statfs`, errors.
//!
//! - A read-write mount marks the superblock not clean (`s_state` without
//!   [`ondisk::STATE_VALID`]), counts the mount and records its time, as ext2 does; a clean
//!   unmount (or a remount read-only) puts back the state found at mount. An image that was
//!   not cleanly unmounted, or has errors recorded, mounts with a warning.
//! - The free block and inode counts are summed from the group descriptors at mount (as ext2
//!   does: the superblock's copies may be stale) and kept in memory; the group descriptors'
//!   counts and the bitmaps are updated in device memory as blocks and inodes are allocated
//!   ([`crate::balloc`]); the superblock's counts are written on `sync`, remount and unmount.
//! - Corruption found on a read-write mount follows `errors=` (or `s_errors`): continue,
//!   remount read-only, or panic.

use crate::{
    balloc::Locks,
    claims::{self, ClaimMap, GroupError},
    ondisk, BlockBuf, SuperBlock,
};
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU8, Ordering};
use kernel::{c_str, fs, prelude::*, xip_util};

/// What to do when corruption is found on a read-write mount (`errors=`, `s_errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnError {
    /// Report it and go on (`errors=continue`).
    Continue = 1,
    /// Report it and make the mount read-only (`errors=remount-ro`).
    RemountRo = 2,
    /// Stop the system (`errors=panic`).
    Panic = 3,
}

impl OnError {
    /// From its `u8` value, as [`SbData`] keeps it.
    fn from_u8(v: u8) -> Self {
        Self::from_s_errors(u16::from(v))
    }

    /// From `s_errors`, as ext2 reads it: 1 continue, 3 panic, anything else remount-ro.
    fn from_s_errors(v: u16) -> Self {
        match v {
            1 => Self::Continue,
            3 => Self::Panic,
            _ => Self::RemountRo,
        }
    }

    /// The value of the `errors=` mount option.
    pub(crate) fn parse(v: &[u8]) -> Option<Self> {
        match v {
            b"continue" => Some(Self::Continue),
            b"remount-ro" => Some(Self::RemountRo),
            b"panic" => Some(Self::Panic),
            _ => None,
        }
    }
}

/// The mount options xipfs knows.
#[derive(Default)]
pub(crate) struct Options {
    /// `errors=`, if given.
    pub(crate) errors: Option<OnError>,
    /// `acl` or `noacl`, if given (else the image's default mount options say).
    pub(crate) acl: Option<bool>,
    /// `user_xattr` or `nouser_xattr`, if given (else the image's default mount options say).
    pub(crate) user_xattr: Option<bool>,
}

/// `EXT2_DEFM_XATTR_USER` of `s_default_mount_opts`: `user_xattr` unless told otherwise.
const DEFM_XATTR_USER: u32 = 0x0004;
/// `EXT2_DEFM_ACL`: `acl` unless told otherwise.
const DEFM_ACL: u32 = 0x0008;

/// What xipfs keeps of a mounted filesystem.
pub(crate) struct SbData {
    /// The checked superblock as found at mount: its geometry never changes; its counters and
    /// state are not kept up to date (see the fields below).
    pub(crate) sb: ondisk::Superblock,
    /// Who owns each block ([`claims`]): the metadata from mount on, file blocks once walked
    /// or allocated.
    pub(crate) claims: ClaimMap,
    /// The allocation locks ([`crate::balloc`]) and the superblock lock.
    pub(crate) locks: Pin<KBox<Locks>>,
    /// Free blocks, all groups together.
    pub(crate) free_blocks: AtomicU32,
    /// Free inodes, all groups together.
    pub(crate) free_inodes: AtomicU32,
    /// The `s_state` to write back at unmount: what it was at mount, with
    /// [`ondisk::STATE_ERROR`] once corruption was found.
    pub(crate) mount_state: AtomicU16,
    /// `OnError` as `u8`.
    errors: AtomicU8,
    /// RO_COMPAT features now (`large_file` may be added).
    pub(crate) ro_compat: AtomicU32,
    /// Generation number for the next new inode.
    pub(crate) next_generation: AtomicU32,
    /// COMPAT features now (`ext_attr` may be added).
    pub(crate) compat: AtomicU32,
    /// `user.` extended attributes are allowed (`user_xattr`).
    pub(crate) user_xattr: AtomicBool,
}

impl SbData {
    /// What to do on corruption.
    pub(crate) fn on_error(&self) -> OnError {
        OnError::from_u8(self.errors.load(Ordering::Relaxed))
    }
}

/// Reads and checks the superblock and all group descriptors, and claims the metadata blocks.
///
/// The descriptors are not kept: an image may have as many groups as blocks / 5, and their
/// descriptors are in the device memory anyway ([`group_desc`] reads one when needed). The
/// work is one pass over the descriptor table, rescheduling between groups and stopping with
/// `EINTR` if the task is killed.
pub(crate) fn fill_super(
    nsb: &fs::NewSuperBlock<'_, crate::Xipfs>,
) -> Result<(SbData, fs::SuperParams)> {
    let id = nsb.id();
    let mut buf = BlockBuf::new()?;
    // With 4 KiB blocks the superblock is at byte 1024 of block 0.
    let block = buf.read(nsb.dax(), 0).inspect_err(|_| {
        pr_err!("{}: cannot read the superblock\n", id);
    })?;
    let raw = block.get(ondisk::SUPERBLOCK_OFFSET..).ok_or(EINVAL)?;
    let sb = ondisk::Superblock::parse(raw).map_err(|e| {
        pr_err!("{}: cannot mount: {}\n", id, e);
        EINVAL
    })?;
    sb.check_fits(nsb.device_bytes()).map_err(|e| {
        pr_err!("{}: cannot mount: {}\n", id, e);
        EINVAL
    })?;
    let unknown = sb.unknown_ro_compat();
    if unknown != 0 {
        if !nsb.read_only() {
            pr_err!(
                "{}: cannot mount read-write: unknown read-only-compatible features {:#x}; mount with -o ro\n",
                id,
                unknown
            );
            return Err(EINVAL);
        }
        pr_info!(
            "{}: unknown read-only-compatible features {:#x}: read-only mount only\n",
            id,
            unknown
        );
    }

    let claims = ClaimMap::new(sb.blocks_count).inspect_err(|_| {
        pr_err!(
            "{}: cannot mount: no memory for the claim map of {} blocks\n",
            id,
            sb.blocks_count
        );
    })?;
    let mut loaded = None;
    let (mut free_blocks, mut free_inodes) = (0u64, 0u64);
    for g in 0..sb.group_count() {
        if xip_util::fatal_signal_pending() {
            return Err(EINTR);
        }
        let bad = |c: ondisk::Corrupt| {
            pr_err!("{}: cannot mount: group {}: {}\n", id, g, c.what);
            EUCLEAN
        };
        let (blk, _) = sb.group_desc_location(g).map_err(bad)?;
        if loaded != Some(blk) {
            buf.read(nsb.dax(), blk)?;
            loaded = Some(blk);
            xip_util::cond_resched();
        }
        let gd = ondisk::GroupDesc::parse(&sb, g, &buf.0).map_err(bad)?;
        free_blocks += u64::from(gd.free_blocks_count);
        free_inodes += u64::from(gd.free_inodes_count);
        claims::claim_group_metadata(&sb, &claims, g, &gd).map_err(|e| match e {
            GroupError::Corrupt(c) => bad(c),
            GroupError::Claimed(c) => {
                match c.owner {
                    Some(owner) => pr_err!(
                        "{}: cannot mount: group {}: block {} ({}) is already {}\n",
                        id,
                        g,
                        c.blk,
                        c.wanted.describe(c.blk, sb.blocks_per_group),
                        owner.describe(c.blk, sb.blocks_per_group)
                    ),
                    None => pr_err!(
                        "{}: cannot mount: group {}: metadata block {} past the end\n",
                        id,
                        g,
                        c.blk
                    ),
                }
                EUCLEAN
            }
        })?;
    }
    if free_blocks > u64::from(sb.blocks_count) || free_inodes > u64::from(sb.inodes_count) {
        pr_err!("{}: cannot mount: group descriptors count more free items than exist\n", id);
        return Err(EUCLEAN);
    }
    let params = fs::SuperParams {
        magic: ondisk::MAGIC as u32,
        maxbytes: if sb.has_large_file() || !nsb.read_only() {
            ondisk::MAX_FILE_SIZE as i64
        } else {
            i32::MAX as i64
        },
        // 32-bit signed seconds, extended by 2 bits where the inode has `*_extra` fields.
        time_min: i32::MIN as i64,
        time_max: if sb.inode_size >= 160 {
            (1i64 << 34) - 1 + i32::MIN as i64
        } else {
            i32::MAX as i64
        },
        posix_acl: nsb.options().acl.unwrap_or(sb.default_mount_opts & DEFM_ACL != 0),
    };
    let errors = nsb.options().errors.unwrap_or(OnError::from_s_errors(sb.errors));
    let data = SbData {
        locks: KBox::pin_init(Locks::new(), GFP_KERNEL)?,
        free_blocks: AtomicU32::new(free_blocks as u32),
        free_inodes: AtomicU32::new(free_inodes as u32),
        mount_state: AtomicU16::new(sb.state),
        errors: AtomicU8::new(errors as u8),
        ro_compat: AtomicU32::new(sb.feature_ro_compat),
        next_generation: AtomicU32::new(sb.wtime ^ sb.mtime.rotate_left(16)),
        compat: AtomicU32::new(sb.feature_compat),
        user_xattr: AtomicBool::new(
            nsb.options().user_xattr.unwrap_or(sb.default_mount_opts & DEFM_XATTR_USER != 0),
        ),
        sb,
        claims,
    };
    if !nsb.read_only() {
        setup_rw(id, nsb.dax(), &data)?;
    }
    Ok((data, params))
}

/// Starts read-write use of the filesystem, as `ext2_setup_super`: warns about an image that
/// was not cleanly unmounted or has errors, then marks it in use (not clean), counts the
/// mount and records its time.
fn setup_rw(id: &CStr, dax: &fs::Dax, d: &SbData) -> Result {
    let state = d.mount_state.load(Ordering::Relaxed);
    if state & ondisk::STATE_VALID == 0 {
        pr_warn!("{}: warning: mounting unchecked fs, running e2fsck is recommended\n", id);
    } else if state & ondisk::STATE_ERROR != 0 {
        pr_warn!("{}: warning: mounting fs with errors, running e2fsck is recommended\n", id);
    } else if d.sb.max_mnt_count >= 0 && d.sb.mnt_count >= d.sb.max_mnt_count as u16 {
        pr_warn!("{}: warning: maximal mount count reached, running e2fsck is recommended\n", id);
    }
    write_super(dax, d, SuperUpdate::Mount)
}

/// What [`write_super`] records besides the counters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SuperUpdate {
    /// A read-write mount starts: not clean, one more mount, mount time.
    Mount,
    /// A `sync`: counters and write time.
    Sync,
    /// Read-write use ends (unmount, remount read-only): the state found at mount back.
    Release,
    /// Corruption was found: the error state.
    Error,
}

/// Writes the in-memory counters (and what `what` says) to the primary superblock in device
/// memory, under the superblock lock.
pub(crate) fn write_super(dax: &fs::Dax, d: &SbData, what: SuperUpdate) -> Result {
    use ondisk::sb_off::*;
    let _guard = d.locks.sb.lock();
    let mut raw = [0u8; ondisk::SUPERBLOCK_SIZE];
    let at = ondisk::SUPERBLOCK_OFFSET as u64;
    dax.read(at, &mut raw)?;
    let now = xip_util::real_seconds() as u32;
    let bad = |_| EIO;
    let state = ondisk::le16(&raw, S_STATE).map_err(bad)?;
    let state = match what {
        SuperUpdate::Mount => {
            let count = ondisk::le16(&raw, S_MNT_COUNT).map_err(bad)?.wrapping_add(1);
            ondisk::put_le16(&mut raw, S_MNT_COUNT, count).map_err(bad)?;
            ondisk::put_le32(&mut raw, S_MTIME, now).map_err(bad)?;
            state & !ondisk::STATE_VALID
        }
        SuperUpdate::Sync => state,
        SuperUpdate::Release => d.mount_state.load(Ordering::Relaxed),
        SuperUpdate::Error => state | ondisk::STATE_ERROR,
    };
    ondisk::put_le16(&mut raw, S_STATE, state).map_err(bad)?;
    ondisk::put_le32(&mut raw, S_WTIME, now).map_err(bad)?;
    ondisk::put_le32(&mut raw, S_FREE_BLOCKS_COUNT, d.free_blocks.load(Ordering::Relaxed))
        .map_err(bad)?;
    ondisk::put_le32(&mut raw, S_FREE_INODES_COUNT, d.free_inodes.load(Ordering::Relaxed))
        .map_err(bad)?;
    ondisk::put_le32(&mut raw, S_FEATURE_RO_COMPAT, d.ro_compat.load(Ordering::Relaxed))
        .map_err(bad)?;
    ondisk::put_le32(&mut raw, S_FEATURE_COMPAT, d.compat.load(Ordering::Relaxed)).map_err(bad)?;
    dax.write(at, &raw)
}

/// Records the `ext_attr` feature in the superblock, as ext2 does when it writes the first
/// extended attribute block of an image.
pub(crate) fn note_ext_attr(sb: &SuperBlock) -> Result {
    let d = sb.data();
    let old = d.compat.fetch_or(ondisk::COMPAT_EXT_ATTR, Ordering::Relaxed);
    if old & ondisk::COMPAT_EXT_ATTR == 0 {
        write_super(sb.dax(), d, SuperUpdate::Sync)?;
    }
    Ok(())
}

/// The options of a mount in `/proc/mounts`, as `ext2_show_options` shows them: `errors=`
/// (`continue` and `panic` always, `remount-ro` when the image's default is another), and
/// `user_xattr`/`acl` or their `no` forms when they differ from the image's default mount
/// options.
pub(crate) fn show_options(sb: &SuperBlock, out: &mut fs::ShownOptions<'_>) {
    let d = sb.data();
    match d.on_error() {
        OnError::Continue => out.add(c_str!(",errors=continue")),
        OnError::Panic => out.add(c_str!(",errors=panic")),
        OnError::RemountRo if OnError::from_s_errors(d.sb.errors) != OnError::RemountRo => {
            out.add(c_str!(",errors=remount-ro"))
        }
        OnError::RemountRo => {}
    }
    let def = d.sb.default_mount_opts;
    match (d.user_xattr.load(Ordering::Relaxed), def & DEFM_XATTR_USER != 0) {
        (true, false) => out.add(c_str!(",user_xattr")),
        (false, true) => out.add(c_str!(",nouser_xattr")),
        _ => {}
    }
    match (sb.posix_acl(), def & DEFM_ACL != 0) {
        (true, false) => out.add(c_str!(",acl")),
        (false, true) => out.add(c_str!(",noacl")),
        _ => {}
    }
}

/// `sync_fs`: the counters to the superblock.
pub(crate) fn sync_fs(sb: &SuperBlock) -> Result {
    if sb.is_read_only() {
        return Ok(());
    }
    write_super(sb.dax(), sb.data(), SuperUpdate::Sync)
}

/// `put_super`: a read-write mount ends cleanly.
pub(crate) fn put_super(sb: &SuperBlock) {
    if !sb.is_read_only() {
        let _ = write_super(sb.dax(), sb.data(), SuperUpdate::Release);
    }
}

/// A remount to `read_only` (or read-write), as `ext2_remount`.
pub(crate) fn remount(sb: &SuperBlock, opts: &Options, read_only: bool) -> Result {
    let d = sb.data();
    let was_ro = sb.is_read_only();
    if !read_only && was_ro {
        let unknown = d.sb.unknown_ro_compat();
        if unknown != 0 {
            pr_err!(
                "{}: cannot remount read-write: unknown read-only-compatible features {:#x}\n",
                sb.id(),
                unknown
            );
            return Err(EINVAL);
        }
    }
    if let Some(e) = opts.errors {
        d.errors.store(e as u8, Ordering::Relaxed);
    }
    if let Some(acl) = opts.acl {
        sb.set_posix_acl(acl);
    }
    if let Some(user) = opts.user_xattr {
        d.user_xattr.store(user, Ordering::Relaxed);
    }
    match (was_ro, read_only) {
        (false, true) => write_super(sb.dax(), d, SuperUpdate::Release),
        (true, false) => {
            // The state as it is now on the device (an earlier read-write use put back the
            // state it found).
            let mut raw = [0u8; 2];
            sb.dax().read(
                (ondisk::SUPERBLOCK_OFFSET + ondisk::sb_off::S_STATE) as u64,
                &mut raw,
            )?;
            d.mount_state.store(u16::from_le_bytes(raw), Ordering::Relaxed);
            setup_rw(sb.id(), sb.dax(), d)
        }
        _ => Ok(()),
    }
}

/// Reports corruption found on inode `ino` (0: not about one inode) and acts on it as
/// `errors=` says when the filesystem is mounted read-write; returns `EUCLEAN`.
pub(crate) fn error(sb: &SuperBlock, ino: u64, what: &str) -> Error {
    if ino == 0 {
        pr_err!("{}: corrupt filesystem: {}\n", sb.id(), what);
    } else {
        pr_err!("{}: inode {}: corrupt: {}\n", sb.id(), ino, what);
    }
    on_corruption(sb);
    EUCLEAN
}

/// Acts on corruption that was just reported, as `errors=` says, when the filesystem is
/// mounted read-write (a read-only mount only reports it).
pub(crate) fn on_corruption(sb: &SuperBlock) {
    if sb.is_read_only() {
        return;
    }
    let d = sb.data();
    d.mount_state.fetch_or(ondisk::STATE_ERROR, Ordering::Relaxed);
    let _ = write_super(sb.dax(), d, SuperUpdate::Error);
    match d.on_error() {
        OnError::Continue => {}
        OnError::RemountRo => {
            pr_crit!("{}: remounting filesystem read-only\n", sb.id());
            sb.force_read_only();
        }
        OnError::Panic => xip_util::panic(c_str!("xipfs: panic forced after error\n")),
    }
}

/// Writes the counts of `gd` (the descriptor of `group`) to the descriptor table in device
/// memory. The caller holds the group's allocation lock.
pub(crate) fn write_group_counts(sb: &SuperBlock, group: u32, gd: &ondisk::GroupDesc) -> Result {
    let s = &sb.data().sb;
    let (blk, offset) = s
        .group_desc_location(group)
        .map_err(|c| crate::corrupt(sb, 0, c))?;
    let at = u64::from(blk) * ondisk::BLOCK_SIZE as u64 + offset as u64;
    let mut raw = [0u8; ondisk::GROUP_DESC_SIZE];
    sb.dax().read(at, &mut raw)?;
    gd.encode_counts(&mut raw).map_err(|c| crate::corrupt(sb, 0, c))?;
    sb.dax().write(at, &raw)
}

/// The descriptor of `group`, read from the device memory and checked; `ino` is the inode on
/// whose behalf it is read, for the log line if it is corrupt.
pub(crate) fn group_desc(sb: &SuperBlock, ino: u32, group: u32) -> Result<ondisk::GroupDesc> {
    let s = &sb.data().sb;
    let bad = |c| crate::corrupt(sb, u64::from(ino), c);
    let (blk, offset) = s.group_desc_location(group).map_err(bad)?;
    let mut raw = [0u8; ondisk::GROUP_DESC_SIZE];
    sb.dax().read(
        u64::from(blk) * ondisk::BLOCK_SIZE as u64 + offset as u64,
        &mut raw,
    )?;
    ondisk::GroupDesc::from_bytes(s, group, &raw).map_err(bad)
}

/// `statfs(2)`, from the live counters.
pub(crate) fn statfs(sb: &SuperBlock) -> fs::Stat {
    let d = sb.data();
    let s = &d.sb;
    let free = d.free_blocks.load(Ordering::Relaxed);
    // As ext2 does: the two little-endian halves of the UUID, xored.
    let half = |b: &[u8]| b.iter().rev().fold(0u64, |acc, &x| acc << 8 | x as u64);
    fs::Stat {
        magic: ondisk::MAGIC as u32,
        bsize: ondisk::BLOCK_SIZE as u32,
        blocks: s.blocks_count as u64,
        bfree: free as u64,
        bavail: free.saturating_sub(s.r_blocks_count) as u64,
        files: s.inodes_count as u64,
        ffree: d.free_inodes.load(Ordering::Relaxed) as u64,
        namelen: 255,
        fsid: half(&s.uuid[..8]) ^ half(&s.uuid[8..]),
    }
}
