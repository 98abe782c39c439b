// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup and readdir, over checked directory blocks.

use crate::{blockmap, corrupt, inode, ondisk, BlockBuf, INode};
use kernel::{
    fs::{DirEmitter, DirEntryType},
    prelude::*,
    types::ARef,
    xip_util,
};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// Calls `f(block index, entry)` for each used entry of `dir`, from block `first` on, until
/// `f` returns `false`. A hole or a corrupt block fails with `EUCLEAN`, and so does a block
/// that is already another's (another block of `dir`, another file, metadata: see
/// [`crate::claims`]).
///
/// The walk is as long as the directory's size says (at most the filesystem's size, checked
/// when the inode is read): it reschedules after each block and stops with `EINTR` when the
/// task is being killed.
fn for_each_entry(
    dir: &INode,
    first: u64,
    mut f: impl FnMut(u64, &ondisk::DirEntry<'_>) -> Result<bool>,
) -> Result {
    let sb = dir.super_block();
    let ino = dir.ino();
    let raw = &dir.data().raw;
    let bad = |c| corrupt(sb, ino, c);
    let nblocks = dir.size() / BS;
    let mut buf = BlockBuf::new()?;
    let mut b = first;
    while b < nblocks {
        if b > first {
            xip_util::cond_resched();
        }
        if xip_util::fatal_signal_pending() {
            return Err(EINTR);
        }
        let (blk, _) = blockmap::lookup_run(sb, ino as u32, raw, b, 1)?;
        let blk = blk.ok_or_else(|| bad(ondisk::Corrupt::new("hole in a directory")))?;
        let block = buf.read(sb.dax(), blk)?;
        for entry in ondisk::dir_entries(&sb.data().sb, block) {
            let entry = entry.map_err(bad)?;
            if !f(b, &entry)? {
                return Ok(());
            }
        }
        b += 1;
    }
    Ok(())
}

/// Looks `name` up in `dir`.
pub(crate) fn lookup(dir: &INode, name: &[u8]) -> Result<Option<ARef<INode>>> {
    if name.len() > 255 {
        return Err(ENAMETOOLONG);
    }
    let mut found = None;
    for_each_entry(dir, 0, |_, e| {
        if e.name == name {
            found = Some(e.inode);
            return Ok(false);
        }
        Ok(true)
    })?;
    match found {
        Some(ino) => Ok(Some(inode::get(dir.super_block(), ino)?)),
        None => Ok(None),
    }
}

/// Emits the entries of `dir` from the byte position `emitter.pos()` on.
pub(crate) fn read_dir(dir: &INode, emitter: &mut DirEmitter<'_>) -> Result {
    let Ok(pos) = u64::try_from(emitter.pos()) else {
        return Ok(());
    };
    let filetype = dir.super_block().data().sb.has_filetype();
    for_each_entry(dir, pos / BS, |b, e| {
        let at = b * BS + e.offset as u64;
        if at < pos {
            return Ok(true); // Before the position asked for.
        }
        let typ = if filetype { entry_type(e.file_type) } else { DirEntryType::Unknown };
        let next = (at + e.rec_len as u64) as i64;
        Ok(emitter.emit(e.name, e.inode as u64, typ, next))
    })
}

fn entry_type(ft: u8) -> DirEntryType {
    match ft {
        ondisk::FT_REG_FILE => DirEntryType::Reg,
        ondisk::FT_DIR => DirEntryType::Dir,
        ondisk::FT_CHRDEV => DirEntryType::Chr,
        ondisk::FT_BLKDEV => DirEntryType::Blk,
        ondisk::FT_FIFO => DirEntryType::Fifo,
        ondisk::FT_SOCK => DirEntryType::Sock,
        ondisk::FT_SYMLINK => DirEntryType::Lnk,
        _ => DirEntryType::Unknown,
    }
}
