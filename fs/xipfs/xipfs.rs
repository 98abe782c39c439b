// SPDX-License-Identifier: GPL-2.0

//! xipfs: an execute-in-place filesystem for ext2 images on DAX RAM devices.
//!
//! - Mounts ext2 revision 1 (and 0) images with 4 KiB blocks, as `mke2fs -t ext2 -b 4096`
//!   makes them, read-only, from a block device with DAX (`xipram`); anything else is refused
//!   at mount with a one-line reason.
//! - File data is never copied into the page cache: `read` copies straight from the device
//!   memory and `mmap` maps it (`fs/dax.c`, driven by [`blockmap`]); private writable mappings
//!   get copy-on-write pages; programs execute in place.
//! - Metadata (superblock, group descriptors, inodes, indirect and directory blocks) is read
//!   from the device memory too, through DAX: mounting and walking the tree uses no cache
//!   either.
//! - Every on-disk value is checked before use ([`ondisk`]); corruption gives `EUCLEAN` and a
//!   kernel log line naming the device and inode.
//!
//! The parts follow `fs/ext2/`: [`sb`] (mount, statfs), [`inode`] (reading inodes),
//! [`blockmap`] (file offsets to device blocks), [`dir`] (lookup, readdir), [`xattr`]
//! (extended attributes and ACLs), [`ondisk`] (the format).

use kernel::{c_str, fs, prelude::*, types::ARef};

mod alloc;
mod balloc;
mod blockmap;
mod claims;
mod dir;
mod inode;
pub mod ondisk;
mod sb;
mod xattr;

#[cfg(CONFIG_XIPFS_KUNIT_TEST)]
mod alloc_tests;
#[cfg(CONFIG_XIPFS_KUNIT_TEST)]
mod ondisk_tests;

module! {
    type: XipfsModule,
    name: "xipfs",
    author: "The xipdax developers",
    description: "Execute-in-place filesystem (ext2 subset) for DAX RAM devices",
    license: "GPL",
    // `mount -t xipfs` loads the module (the kernel asks for "fs-xipfs").
    alias: ["fs-xipfs"],
}

/// The filesystem type.
pub(crate) struct Xipfs;

static XIPFS_TYPE: fs::Type<Xipfs> = fs::Type::new();

/// Shorthands for the abstraction's types instantiated for xipfs.
pub(crate) type SuperBlock = fs::SuperBlock<Xipfs>;
pub(crate) type INode = fs::INode<Xipfs>;

impl fs::FileSystem for Xipfs {
    type Data = sb::SbData;
    type INodeData = inode::InodeData;
    type Options = sb::Options;
    type Super = Self;
    type Dir = Self;
    type File = Self;
    type Xattr = Self;
    const NAME: &'static CStr = c_str!("xipfs");
    const SHOW_OPTIONS: &'static CStr = c_str!(",dax");
    const READ_ONLY: bool = false;

    fn parse_option(opts: &mut sb::Options, key: &[u8], value: Option<&[u8]>) -> Result<bool> {
        // DAX is how xipfs works, so `dax` and `dax=always` are accepted (as ext2 users type
        // them) and change nothing; `dax=never` and the like cannot be honoured.
        match (key, value) {
            (b"dax", None) | (b"dax", Some(b"always")) => Ok(true),
            (b"dax", Some(_)) => Err(EINVAL),
            (b"errors", Some(v)) => {
                opts.errors = Some(sb::OnError::parse(v).ok_or(EINVAL)?);
                Ok(true)
            }
            (b"errors", None) => Err(EINVAL),
            // As ext2: POSIX ACLs and `user.` attributes on or off (the image's default mount
            // options say when no option does).
            (b"acl" | b"noacl", None) => {
                opts.acl = Some(key == b"acl");
                Ok(true)
            }
            (b"user_xattr" | b"nouser_xattr", None) => {
                opts.user_xattr = Some(key == b"user_xattr");
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn fill_super(sb: &fs::NewSuperBlock<'_, Self>) -> Result<(sb::SbData, fs::SuperParams)> {
        sb::fill_super(sb)
    }

    fn root(sb: &SuperBlock) -> Result<ARef<INode>> {
        inode::get(sb, ondisk::ROOT_INO)
    }
}

#[vtable]
impl fs::sb::Operations for Xipfs {
    type FileSystem = Self;

    fn statfs(sb: &SuperBlock) -> Result<fs::Stat> {
        Ok(sb::statfs(sb))
    }

    fn write_inode(inode: &INode) -> Result {
        inode::write_inode(inode)
    }

    fn delete_inode(inode: &INode) {
        inode::delete(inode)
    }

    fn sync_fs(sb: &SuperBlock, _wait: bool) -> Result {
        sb::sync_fs(sb)
    }

    fn put_super(sb: &SuperBlock) {
        sb::put_super(sb)
    }

    fn show_options(sb: &SuperBlock, out: &mut fs::ShownOptions<'_>) {
        sb::show_options(sb, out)
    }

    fn remount(sb: &SuperBlock, opts: &sb::Options, read_only: bool) -> Result {
        sb::remount(sb, opts, read_only)
    }
}

#[vtable]
impl fs::dir::Operations for Xipfs {
    type FileSystem = Self;

    fn lookup(dir: &INode, name: &[u8]) -> Result<Option<ARef<INode>>> {
        dir::lookup(dir, name)
    }

    fn read_dir(dir: &INode, emitter: &mut fs::DirEmitter<'_>) -> Result {
        dir::read_dir(dir, emitter)
    }

    fn create(dir: &INode, name: &[u8], kind: fs::NewNode<'_>, perm: u16) -> Result<fs::Created<Self>> {
        dir::create(dir, name, kind, perm)
    }

    fn tmpfile(dir: &INode, perm: u16) -> Result<fs::Created<Self>> {
        dir::tmpfile(dir, perm)
    }

    fn link(old: &INode, dir: &INode, name: &[u8]) -> Result {
        dir::link(old, dir, name)
    }

    fn unlink(dir: &INode, name: &[u8], inode: &INode) -> Result {
        dir::unlink(dir, name, inode)
    }

    fn rmdir(dir: &INode, name: &[u8], inode: &INode) -> Result {
        dir::rmdir(dir, name, inode)
    }

    fn rename(
        old_dir: &INode,
        old_name: &[u8],
        old: &INode,
        new_dir: &INode,
        new_name: &[u8],
        new: Option<&INode>,
        exchange: bool,
    ) -> Result {
        dir::rename(old_dir, old_name, old, new_dir, new_name, new, exchange)
    }
}

#[vtable]
impl fs::file::Operations for Xipfs {
    type FileSystem = Self;

    fn map(inode: &INode, pos: u64, len: u64, flags: fs::IomapFlags) -> Result<fs::Extent> {
        blockmap::map(inode, pos, len, flags)
    }

    fn truncate(inode: &INode, size: u64) -> Result {
        blockmap::truncate(inode, size)
    }

    fn punch_hole(inode: &INode, start: u64, end: u64) -> Result {
        blockmap::punch_hole(inode, start, end)
    }
}

struct XipfsModule {
    _registration: fs::Registration,
}

impl kernel::Module for XipfsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _registration: fs::Registration::new::<Xipfs>(&XIPFS_TYPE, module)?,
        })
    }
}

/// Reports corrupt metadata of inode `ino` (0: not about one inode) and returns `EUCLEAN`.
pub(crate) fn corrupt(sb: &SuperBlock, ino: u64, c: ondisk::Corrupt) -> Error {
    sb::error(sb, ino, c.what)
}

/// A block-sized buffer on the heap (kernel stacks are small).
pub(crate) struct BlockBuf(KVec<u8>);

impl BlockBuf {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self(KVec::from_elem(0u8, ondisk::BLOCK_SIZE, GFP_KERNEL)?))
    }

    /// Reads device block `blk` into the buffer, straight from the device memory.
    pub(crate) fn read(&mut self, dax: &fs::Dax, blk: u32) -> Result<&[u8]> {
        dax.read(blk as u64 * ondisk::BLOCK_SIZE as u64, &mut self.0)?;
        Ok(&self.0)
    }
}

#[vtable]
impl fs::xattr::Operations for Xipfs {
    type FileSystem = Self;

    fn get(inode: &INode, ns: fs::xattr::Namespace, name: &[u8], buf: &mut [u8]) -> Result<usize> {
        xattr::get(inode, ns, name, buf)
    }

    fn set(
        inode: &INode,
        ns: fs::xattr::Namespace,
        name: &[u8],
        value: Option<&[u8]>,
        mode: fs::xattr::SetMode,
    ) -> Result {
        xattr::set(inode, ns, name, value, mode)
    }

    fn list(inode: &INode, list: &mut fs::xattr::XattrList<'_>) -> Result {
        xattr::list(inode, list)
    }

    fn get_acl(
        inode: &INode,
        kind: fs::xattr::AclKind,
    ) -> Result<Option<KVec<fs::xattr::AclEntry>>> {
        xattr::get_acl(inode, kind)
    }

    fn set_acl(
        inode: &INode,
        kind: fs::xattr::AclKind,
        acl: Option<&[fs::xattr::AclEntry]>,
    ) -> Result {
        xattr::set_acl(inode, kind, acl)
    }
}
