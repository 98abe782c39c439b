// SPDX-License-Identifier: GPL-2.0

//! The claim map: who owns each device block, so that no block serves two purposes.
//!
//! `fs/dax.c` attaches each device page it maps to one file page (`page->mapping`,
//! `page->index`) and WARNs if a page already has an owner. An image whose block maps share
//! blocks (two files, two blocks of one file, a file and the metadata) would make the kernel
//! WARN, or worse (with `panic_on_warn`, panic). The claim map prevents that: every device block
//! has one slot saying what it is, set once with an atomic compare-and-exchange, and a second,
//! different owner is refused with [`Conflict`] (which xipfs reports as `EUCLEAN`, naming both
//! owners).
//!
//! - The filesystem's own metadata (superblock copies, descriptor tables and their reserved
//!   blocks, bitmaps, inode tables) is claimed at mount for every group
//!   ([`claim_group_metadata`]): these are known from the superblock and descriptors alone.
//! - A file's blocks are claimed when the block map is walked (`blockmap::walk`): each indirect
//!   block on the way as [`Owner::Indirect`], each data block as [`Owner::Data`], the file
//!   block it is, exactly the (inode, page index) `fs/dax.c` would record. Directory and
//!   symlink blocks are walked the same way. Claiming again with the same owner is free (one
//!   atomic load), so later walks cost little.
//! - An inode's extended attribute block is claimed as [`Owner::Xattr`] when it is first
//!   read: several inodes may share it, never a file or the metadata.
//! - Blocks are never released on a read-only filesystem. The write path will claim a block
//!   when it allocates it (after the bitmap says it is free: a failed claim then means a
//!   corrupt image) and [`ClaimMap::release`] it when it frees it.
//!
//! The map costs 8 bytes per block of the filesystem (2 KiB per MiB, 0.2% of the device),
//! allocated at mount with `kvmalloc`.
//!
//! Because data claims are made lazily, which of two owners of a block wins depends on which
//! is used first; metadata is claimed before any file is opened and always wins.

use crate::ondisk;
use core::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::prelude::*;

/// What a block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    /// Metadata of the filesystem itself.
    Meta(Meta),
    /// Block `lblk` of the file (or directory, or symlink) `ino`.
    Data {
        /// Inode number, not 0.
        ino: u32,
        /// Logical block, below [`ondisk::MAX_MAPPED_BLOCKS`].
        lblk: u32,
    },
    /// An indirect block of `ino`, named by [`ondisk::BlockPath::indirect_id`].
    Indirect {
        /// Inode number, not 0.
        ino: u32,
        /// Which indirect block, below [`ondisk::INDIRECT_IDS`].
        id: u32,
    },
    /// An extended attribute block: ext2 shares one between inodes with the same
    /// attributes (its header counts them), so it has no one owner; `fs/dax.c` never sees it.
    Xattr,
}

/// The kinds of filesystem metadata blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Meta {
    /// A superblock (block 0 holds the primary one) or a backup of it.
    Super,
    /// A block of a group descriptor table, or of its reserved blocks (resize inode).
    Descriptors,
    /// A block bitmap.
    BlockBitmap,
    /// An inode bitmap.
    InodeBitmap,
    /// A block of an inode table.
    InodeTable,
}

const META: [Meta; 5] = [
    Meta::Super,
    Meta::Descriptors,
    Meta::BlockBitmap,
    Meta::InodeBitmap,
    Meta::InodeTable,
];

// Logical blocks and indirect block ids fit in 31 bits: see `Owner::encode`.
const _: () = assert!(ondisk::MAX_MAPPED_BLOCKS < 1 << 31);
const _: () = assert!(ondisk::INDIRECT_IDS < 1 << 31);

const INDIRECT_BIT: u64 = 1 << 31;

/// The slot value of [`Owner::Xattr`]: inode 0 like metadata, past the metadata kinds.
const XATTR_SLOT: u64 = 0x100;

impl Owner {
    /// The slot value: 0 is "unclaimed"; metadata is `1 + kind`; a file's blocks are the inode
    /// number in the high 32 bits and the logical block (or, with bit 31, the indirect block id)
    /// in the low 32 bits. `None` for values that cannot be owners (inode 0, ids out of range).
    fn encode(self) -> Option<u64> {
        match self {
            Owner::Meta(m) => META.iter().position(|&k| k == m).map(|i| i as u64 + 1),
            Owner::Xattr => Some(XATTR_SLOT),
            Owner::Data { ino, lblk } if ino != 0 && u64::from(lblk) < INDIRECT_BIT => {
                Some(u64::from(ino) << 32 | u64::from(lblk))
            }
            Owner::Indirect { ino, id } if ino != 0 && id < ondisk::INDIRECT_IDS => {
                Some(u64::from(ino) << 32 | INDIRECT_BIT | u64::from(id))
            }
            _ => None,
        }
    }

    /// The owner stored as `v` (`None` for 0, unclaimed).
    fn decode(v: u64) -> Option<Self> {
        let ino = (v >> 32) as u32;
        let low = v as u32;
        if v == XATTR_SLOT {
            return Some(Owner::Xattr);
        }
        if ino == 0 {
            return META.get((low as usize).checked_sub(1)?).map(|&m| Owner::Meta(m));
        }
        if u64::from(low) & INDIRECT_BIT != 0 {
            Some(Owner::Indirect {
                ino,
                id: low & !(INDIRECT_BIT as u32),
            })
        } else {
            Some(Owner::Data { ino, lblk: low })
        }
    }

    /// What the owner is, for a log line about device block `blk` of a filesystem with
    /// `blocks_per_group` blocks per group: "file block 3 of inode 12", "an indirect block of
    /// inode 12", "the inode table of group 0".
    pub(crate) fn describe(self, blk: u32, blocks_per_group: u32) -> impl fmt::Display {
        Described(self, blk.checked_div(blocks_per_group).unwrap_or(0))
    }
}

struct Described(Owner, u32);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = self.1;
        match self.0 {
            Owner::Data { ino, lblk } => write!(f, "file block {lblk} of inode {ino}"),
            Owner::Indirect { ino, .. } => write!(f, "an indirect block of inode {ino}"),
            Owner::Xattr => write!(f, "an extended attribute block"),
            Owner::Meta(m) => {
                let what = match m {
                    Meta::Super => "the superblock",
                    Meta::Descriptors => "the group descriptor table",
                    Meta::BlockBitmap => "the block bitmap",
                    Meta::InodeBitmap => "the inode bitmap",
                    Meta::InodeTable => "the inode table",
                };
                write!(f, "{what} of group {group}")
            }
        }
    }
}

/// A block could not be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// The device block.
    pub(crate) blk: u32,
    /// Who wanted it.
    pub(crate) wanted: Owner,
    /// Who has it; `None` if the block is outside the filesystem (or `wanted` is no valid
    /// owner).
    pub(crate) owner: Option<Owner>,
}

/// One slot of the map (a newtype so that the map can be allocated with `from_elem`).
struct Slot(AtomicU64);

impl Clone for Slot {
    fn clone(&self) -> Self {
        Slot(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

/// The owner of each block of a filesystem (see the module documentation).
pub(crate) struct ClaimMap {
    slots: KVVec<Slot>,
}

impl ClaimMap {
    /// A map of `blocks` unclaimed blocks. Fails with `ENOMEM` (and no allocation warning)
    /// when the memory cannot be had.
    pub(crate) fn new(blocks: u32) -> Result<Self> {
        let slots = KVVec::from_elem(
            Slot(AtomicU64::new(0)),
            blocks as usize,
            GFP_KERNEL | __GFP_NOWARN,
        )?;
        Ok(Self { slots })
    }

    /// The slot of `blk` and the encoding of `owner` in it, with the conflict to report for
    /// `blk` and `owner` given the owner found; a conflict with no owner for a block past the
    /// end or an owner that cannot be encoded.
    fn slot(
        &self,
        blk: u32,
        owner: Owner,
    ) -> Result<(&Slot, u64, impl Fn(Option<Owner>) -> Conflict), Conflict> {
        let conflict = move |now| Conflict {
            blk,
            wanted: owner,
            owner: now,
        };
        match (self.slots.get(blk as usize), owner.encode()) {
            (Some(slot), Some(v)) => Ok((slot, v, conflict)),
            _ => Err(conflict(None)),
        }
    }

    /// The owner of `blk`, if claimed.
    // Read by the KUnit suite; the write path will use it too.
    #[cfg_attr(not(CONFIG_XIPFS_KUNIT_TEST), allow(dead_code))]
    pub(crate) fn owner(&self, blk: u32) -> Option<Owner> {
        Owner::decode(self.slots.get(blk as usize)?.0.load(Ordering::Acquire))
    }

    /// Claims `blk` for `owner`: succeeds if it is unclaimed or already `owner`'s.
    pub(crate) fn claim(&self, blk: u32, owner: Owner) -> Result<(), Conflict> {
        let (slot, v, conflict) = self.slot(blk, owner)?;
        // The common case, a block claimed before by the same owner, is a load.
        let now = slot.0.load(Ordering::Acquire);
        if now == v {
            return Ok(());
        }
        if now != 0 {
            return Err(conflict(Owner::decode(now)));
        }
        match slot
            .0
            .compare_exchange(0, v, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(now) if now == v => Ok(()),
            Err(now) => Err(conflict(Owner::decode(now))),
        }
    }

    /// Claims the `n` blocks from `first` for `owner(i)`, `i` in `0..n`, stopping at the first
    /// block that is another's: returns how many were claimed, which is at least 1 if it
    /// returns at all (a conflict on the first block is the error). `n` must not be 0.
    pub(crate) fn claim_run(
        &self,
        first: u32,
        n: u32,
        owner: impl Fn(u32) -> Owner,
    ) -> Result<u32, Conflict> {
        for i in 0..n.max(1) {
            let blk = first.checked_add(i).ok_or(Conflict {
                blk: u32::MAX,
                wanted: owner(i),
                owner: None,
            })?;
            if let Err(c) = self.claim(blk, owner(i)) {
                if i == 0 {
                    return Err(c);
                }
                return Ok(i);
            }
        }
        Ok(n.max(1))
    }

    /// Releases `blk` from `owner` (for the write path, when it frees a block): fails if the
    /// block is another's; releasing an unclaimed block is allowed (claims are lazy).
    // Nothing frees blocks until the write path (issue 8); the KUnit suite tests it now.
    #[cfg_attr(not(CONFIG_XIPFS_KUNIT_TEST), allow(dead_code))]
    pub(crate) fn release(&self, blk: u32, owner: Owner) -> Result<(), Conflict> {
        let (slot, v, conflict) = self.slot(blk, owner)?;
        match slot
            .0
            .compare_exchange(v, 0, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(0) => Ok(()),
            Err(now) => Err(conflict(Owner::decode(now))),
        }
    }
}

/// Why a group's metadata could not be claimed at mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupError {
    /// The superblock's geometry places the group's superblock copy badly.
    Corrupt(ondisk::Corrupt),
    /// A metadata block is also something else.
    Claimed(Conflict),
}

/// Claims the metadata of `group`, whose descriptor is `gd`: its superblock copy, descriptor
/// table and reserved descriptor blocks (if it has a copy), its bitmaps and its inode table.
pub(crate) fn claim_group_metadata(
    sb: &ondisk::Superblock,
    claims: &ClaimMap,
    group: u32,
    gd: &ondisk::GroupDesc,
) -> Result<(), GroupError> {
    let all = |first: u32, n: u32, m: Meta| -> Result<(), GroupError> {
        for i in 0..n {
            let blk = first.checked_add(i).ok_or(GroupError::Claimed(Conflict {
                blk: u32::MAX,
                wanted: Owner::Meta(m),
                owner: None,
            }))?;
            claims
                .claim(blk, Owner::Meta(m))
                .map_err(GroupError::Claimed)?;
        }
        Ok(())
    };
    if let Some((first, n)) = sb.group_super_blocks(group).map_err(GroupError::Corrupt)? {
        all(first, 1, Meta::Super)?;
        all(first + 1, n - 1, Meta::Descriptors)?;
    }
    all(gd.block_bitmap, 1, Meta::BlockBitmap)?;
    all(gd.inode_bitmap, 1, Meta::InodeBitmap)?;
    all(gd.inode_table, sb.inode_table_blocks(), Meta::InodeTable)
}
