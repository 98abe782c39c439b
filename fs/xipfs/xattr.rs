// SPDX-License-Identifier: GPL-2.0

//! Extended attributes and POSIX ACLs, kept as ext2 keeps them: all the attributes of an
//! inode in one block (`i_file_acl`, [`ondisk::XattrBlock`]), ACLs as attributes of their own
//! indexes in ext2's ACL encoding.
//!
//! Inodes with the same attributes may share one block (ext2 finds identical blocks through
//! its mbcache; `h_refcount` counts the users). xipfs never makes a block shared, but keeps
//! the sharing an image comes with: a shared block is copied before it is changed (the copy
//! is the inode's own, the shared one loses a user), and a block is freed with its last
//! user. The count is read and changed under one lock per filesystem
//! ([`crate::balloc::Locks::xattr`]), taken inside the inode's lock.
//!
//! A block is claimed as [`Owner::Xattr`] whenever it is read ([`crate::claims`]): one that
//! is also a file's block or metadata is refused as corrupt (`EUCLEAN`), never written or
//! freed.

use crate::{balloc, claims::Owner, corrupt, inode, ondisk, BlockBuf, INode, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::{
    fs::xattr::{AclEntry, AclKind, AclTag, Namespace, SetMode, XattrList},
    prelude::*,
};

const BS: u64 = ondisk::BLOCK_SIZE as u64;

/// ext2's index of a namespace.
fn ns_index(ns: Namespace) -> u8 {
    match ns {
        Namespace::User => ondisk::XATTR_INDEX_USER,
        Namespace::Trusted => ondisk::XATTR_INDEX_TRUSTED,
        Namespace::Security => ondisk::XATTR_INDEX_SECURITY,
    }
}

/// ext2's index of an ACL.
fn acl_index(kind: AclKind) -> u8 {
    match kind {
        AclKind::Access => ondisk::XATTR_INDEX_POSIX_ACL_ACCESS,
        AclKind::Default => ondisk::XATTR_INDEX_POSIX_ACL_DEFAULT,
    }
}

/// Whether `user.` attributes are on for this mount (`user_xattr`).
fn user_on(sb: &SuperBlock) -> bool {
    sb.data().user_xattr.load(Ordering::Relaxed)
}

/// Claims block `blk` as inode `ino`'s attribute block, then reads and checks it into `buf`.
fn read_block<'b>(
    sb: &SuperBlock,
    ino: u32,
    blk: u32,
    buf: &'b mut BlockBuf,
) -> Result<ondisk::XattrBlock<'b>> {
    claim(sb, ino, blk)?;
    let raw = buf.read(sb.dax(), blk)?;
    ondisk::XattrBlock::parse(raw).map_err(|c| corrupt(sb, u64::from(ino), c))
}

/// Claims `blk` as an attribute block of inode `ino` ([`Owner::Xattr`]); `EUCLEAN` (logged)
/// if it is something else.
fn claim(sb: &SuperBlock, ino: u32, blk: u32) -> Result {
    let d = sb.data();
    match d.claims.claim(blk, Owner::Xattr) {
        Ok(()) => Ok(()),
        Err(c) => {
            let bpg = d.sb.blocks_per_group;
            match c.owner {
                Some(o) => pr_err!(
                    "{}: inode {}: corrupt: extended attribute block {} is already {}\n",
                    sb.id(),
                    ino,
                    blk,
                    o.describe(blk, bpg)
                ),
                None => pr_err!(
                    "{}: inode {}: corrupt: extended attribute block {} out of range\n",
                    sb.id(),
                    ino,
                    blk
                ),
            }
            crate::sb::on_corruption(sb);
            Err(EUCLEAN)
        }
    }
}

fn map_err(e: ondisk::XattrError) -> Error {
    match e {
        ondisk::XattrError::Range => ERANGE,
        ondisk::XattrError::Exists => EEXIST,
        ondisk::XattrError::NotFound => ENODATA,
        ondisk::XattrError::NoSpace => ENOSPC,
    }
}

/// Runs `f` on the checked attribute block of `inode`, under the inode's lock and the
/// attribute lock; `None` if the inode has no block.
fn with_block<R>(
    inode: &INode,
    f: impl FnOnce(&ondisk::XattrBlock<'_>) -> Result<R>,
) -> Result<Option<R>> {
    let sb = inode.super_block();
    let st = inode.data().lock();
    let blk = st.raw.file_acl;
    if blk == 0 {
        return Ok(None);
    }
    let mut b = BlockBuf::new()?;
    let _x = sb.data().locks.xattr.lock();
    let xb = read_block(sb, inode.ino() as u32, blk, &mut b)?;
    f(&xb).map(Some)
}

/// Copies the value of attribute `name` of index `index` into `buf` (only its length if
/// `buf` is empty).
fn get_raw(inode: &INode, index: u8, name: &[u8], buf: &mut [u8]) -> Result<usize> {
    with_block(inode, |xb| {
        let v = xb.get(index, name).ok_or(ENODATA)?;
        if !buf.is_empty() {
            buf.get_mut(..v.len()).ok_or(ERANGE)?.copy_from_slice(v);
        }
        Ok(v.len())
    })?
    .ok_or(ENODATA)
}

/// Drops inode `ino`'s use of attribute block `blk`: one user less, or the block freed if it
/// was the last. Allocates nothing (eviction relies on it). The caller holds the inode's lock
/// and the attribute lock, and has unlinked the block from the inode.
fn drop_block(sb: &SuperBlock, ino: u32, blk: u32) -> Result {
    // Never a block that is something else (an image may point `i_file_acl` anywhere).
    claim(sb, ino, blk)?;
    let at = u64::from(blk) * BS;
    let mut hdr = [0u8; 8];
    sb.dax().read(at, &mut hdr)?;
    let bad = |c| corrupt(sb, u64::from(ino), c);
    if ondisk::le32(&hdr, 0).map_err(bad)? != ondisk::XATTR_MAGIC {
        return Err(bad(ondisk::Corrupt::new("bad extended attribute block magic")));
    }
    let refcount = ondisk::le32(&hdr, 4).map_err(bad)?;
    if refcount > 1 {
        sb.dax().write(at + 4, &(refcount - 1).to_le_bytes())
    } else {
        let _ = sb.data().claims.release(blk, Owner::Xattr);
        balloc::free_blocks(sb, ino, blk, 1)
    }
}

/// Sets, replaces or removes attribute `name` of index `index` of `inode`.
/// `absent_ok`: removing an attribute that does not exist succeeds.
fn set_raw(
    inode: &INode,
    index: u8,
    name: &[u8],
    change: ondisk::XattrChange<'_>,
    absent_ok: bool,
) -> Result {
    let sb = inode.super_block();
    let d = sb.data();
    let ino = inode.ino() as u32;
    let mut old_buf = BlockBuf::new()?;
    let mut out = BlockBuf::new()?;
    let mut st = inode.data().lock();
    let _x = d.locks.xattr.lock();
    let old_blk = st.raw.file_acl;
    let (written, old_refcount) = {
        let old = if old_blk != 0 {
            Some(read_block(sb, ino, old_blk, &mut old_buf)?)
        } else {
            None
        };
        let rc = old.as_ref().map_or(0, |b| b.refcount());
        match ondisk::xattr_write(old.as_ref(), index, name, change, 1, &mut out.0) {
            Err(ondisk::XattrError::NotFound) if absent_ok => return Ok(()),
            Err(e) => return Err(map_err(e)),
            Ok(w) => (w, rc),
        }
    };
    match written {
        ondisk::XattrWritten::Empty => {
            // No attribute left: the inode lets go of its block.
            st.raw.file_acl = 0;
            inode.sub_bytes(BS);
            inode.touch_ctime();
            if let Err(e) = inode::store(inode, &mut st) {
                st.raw.file_acl = old_blk;
                inode.add_bytes(BS);
                return Err(e);
            }
            drop_block(sb, ino, old_blk)
        }
        ondisk::XattrWritten::Block if old_blk != 0 && old_refcount == 1 => {
            // The inode's own block: rewritten in place.
            sb.dax().write(u64::from(old_blk) * BS, &out.0)?;
            inode.touch_ctime();
            inode::store(inode, &mut st)
        }
        ondisk::XattrWritten::Block => {
            // A first block, or a copy of a shared one.
            let goal = balloc::inode_goal(&d.sb, ino);
            let (nb, _) = balloc::alloc_blocks(sb, goal, 1, false)?;
            let placed = claim(sb, ino, nb).and_then(|()| sb.dax().write(u64::from(nb) * BS, &out.0));
            if let Err(e) = placed {
                if e != EUCLEAN {
                    let _ = d.claims.release(nb, Owner::Xattr);
                    let _ = balloc::free_blocks(sb, ino, nb, 1);
                }
                return Err(e);
            }
            crate::sb::note_ext_attr(sb)?;
            st.raw.file_acl = nb;
            if old_blk == 0 {
                inode.add_bytes(BS);
            }
            inode.touch_ctime();
            if let Err(e) = inode::store(inode, &mut st) {
                st.raw.file_acl = old_blk;
                if old_blk == 0 {
                    inode.sub_bytes(BS);
                }
                let _ = d.claims.release(nb, Owner::Xattr);
                let _ = balloc::free_blocks(sb, ino, nb, 1);
                return Err(e);
            }
            if old_blk != 0 {
                drop_block(sb, ino, old_blk)?;
            }
            Ok(())
        }
    }
}

/// Eviction of an inode with no links: lets go of its attribute block. The caller holds the
/// inode's lock (`st`) and writes the inode afterwards. A corrupt block (reported) is left
/// as it is, for `e2fsck`, as ext2 does: the inode is freed all the same.
pub(crate) fn release(inode: &INode, st: &mut inode::InodeState) -> Result {
    let blk = st.raw.file_acl;
    if blk == 0 {
        return Ok(());
    }
    let sb = inode.super_block();
    let _x = sb.data().locks.xattr.lock();
    match drop_block(sb, inode.ino() as u32, blk) {
        Err(e) if e == EUCLEAN => {}
        r => r?,
    }
    st.raw.file_acl = 0;
    inode.sub_bytes(BS);
    Ok(())
}

/// `getxattr`.
pub(crate) fn get(inode: &INode, ns: Namespace, name: &[u8], buf: &mut [u8]) -> Result<usize> {
    if ns == Namespace::User && !user_on(inode.super_block()) {
        return Err(EOPNOTSUPP);
    }
    if name.len() > ondisk::XATTR_NAME_MAX {
        return Err(ERANGE);
    }
    get_raw(inode, ns_index(ns), name, buf)
}

/// `setxattr`, `removexattr` (`value` `None`).
pub(crate) fn set(
    inode: &INode,
    ns: Namespace,
    name: &[u8],
    value: Option<&[u8]>,
    mode: SetMode,
) -> Result {
    if ns == Namespace::User && !user_on(inode.super_block()) {
        return Err(EOPNOTSUPP);
    }
    let change = match value {
        Some(v) => ondisk::XattrChange::Set(
            v,
            match mode {
                SetMode::Any => ondisk::XattrSetMode::Any,
                SetMode::Create => ondisk::XattrSetMode::Create,
                SetMode::Replace => ondisk::XattrSetMode::Replace,
            },
        ),
        None => ondisk::XattrChange::Remove,
    };
    set_raw(inode, ns_index(ns), name, change, value.is_none() && mode != SetMode::Replace)
}

/// `listxattr`.
pub(crate) fn list(inode: &INode, list: &mut XattrList<'_>) -> Result {
    let user = user_on(inode.super_block());
    with_block(inode, |xb| {
        for e in xb.entries() {
            match e.index {
                ondisk::XATTR_INDEX_USER if user => list.add(Namespace::User, e.name),
                ondisk::XATTR_INDEX_TRUSTED => list.add(Namespace::Trusted, e.name),
                ondisk::XATTR_INDEX_SECURITY => list.add(Namespace::Security, e.name),
                ondisk::XATTR_INDEX_POSIX_ACL_ACCESS => list.add_acl(AclKind::Access),
                ondisk::XATTR_INDEX_POSIX_ACL_DEFAULT => list.add_acl(AclKind::Default),
                _ => {}
            }
        }
        Ok(())
    })?;
    Ok(())
}

fn tag_from_disk(t: ondisk::AclTag) -> AclTag {
    match t {
        ondisk::AclTag::UserObj => AclTag::UserObj,
        ondisk::AclTag::User => AclTag::User,
        ondisk::AclTag::GroupObj => AclTag::GroupObj,
        ondisk::AclTag::Group => AclTag::Group,
        ondisk::AclTag::Mask => AclTag::Mask,
        ondisk::AclTag::Other => AclTag::Other,
    }
}

fn tag_to_disk(t: AclTag) -> ondisk::AclTag {
    match t {
        AclTag::UserObj => ondisk::AclTag::UserObj,
        AclTag::User => ondisk::AclTag::User,
        AclTag::GroupObj => ondisk::AclTag::GroupObj,
        AclTag::Group => ondisk::AclTag::Group,
        AclTag::Mask => ondisk::AclTag::Mask,
        AclTag::Other => ondisk::AclTag::Other,
    }
}

/// Reads ACL `kind` of `inode`.
pub(crate) fn get_acl(inode: &INode, kind: AclKind) -> Result<Option<KVec<AclEntry>>> {
    let sb = inode.super_block();
    // Most inodes have no attributes: the VFS asks every directory for its default ACL at
    // each create (and caches the answer), so this costs nothing for them.
    if inode.data().lock().raw.file_acl == 0 {
        return Ok(None);
    }
    let mut value = KVec::from_elem(0u8, ondisk::BLOCK_SIZE, GFP_KERNEL)?;
    let len = match get_raw(inode, acl_index(kind), b"", &mut value) {
        Ok(n) => n,
        Err(e) if e == ENODATA => return Ok(None),
        Err(e) => return Err(e),
    };
    let value = &value[..len];
    let bad = |c| corrupt(sb, inode.ino(), c);
    let n = ondisk::acl_count(value).map_err(bad)?;
    let blank = ondisk::AclEntry { tag: ondisk::AclTag::Other, perm: 0, id: 0 };
    let mut raw = KVec::from_elem(blank, n, GFP_KERNEL)?;
    let n = ondisk::acl_decode(value, &mut raw).map_err(bad)?;
    let mut acl = KVec::with_capacity(n, GFP_KERNEL)?;
    for e in raw.iter().take(n) {
        acl.push(AclEntry { tag: tag_from_disk(e.tag), perm: e.perm, id: e.id }, GFP_KERNEL)?;
    }
    Ok(Some(acl))
}

/// Stores ACL `kind` of `inode`, or removes it.
pub(crate) fn set_acl(inode: &INode, kind: AclKind, acl: Option<&[AclEntry]>) -> Result {
    let index = acl_index(kind);
    let Some(acl) = acl else {
        return set_raw(inode, index, b"", ondisk::XattrChange::Remove, true);
    };
    let mut raw = KVec::with_capacity(acl.len(), GFP_KERNEL)?;
    for e in acl {
        raw.push(ondisk::AclEntry { tag: tag_to_disk(e.tag), perm: e.perm, id: e.id }, GFP_KERNEL)?;
    }
    let mut value = KVec::from_elem(0u8, ondisk::acl_size(&raw), GFP_KERNEL)?;
    let len = ondisk::acl_encode(&raw, &mut value).map_err(|_| EINVAL)?;
    let change = ondisk::XattrChange::Set(&value[..len], ondisk::XattrSetMode::Any);
    set_raw(inode, index, b"", change, false)
}
