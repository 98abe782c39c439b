// SPDX-License-Identifier: GPL-2.0

//! `fs/xipfs/ondisk.rs`, the xipfs on-disk parser, built on the host in place: the module below
//! *is* the kernel's file (no copy), so the property tests (`tests/props.rs`) and the fuzz
//! targets (`fuzz/`) always exercise what the kernel builds. Only its public API is used, so the
//! file may gain items freely; it must keep using `core` alone.
//!
//! Around it:
//! - [`check`]: the invariants its doc comments promise, as assertions (a failed assertion, like
//!   any panic, arithmetic overflow or out-of-range index, is a bug in the parser), and what its
//!   writers promise (rewriting what was parsed gives the same bytes; directory edits as ext2's);
//! - [`dev`]: block devices for the harness (a whole image, or a sparse list of blocks);
//! - [`walk`]: the parse sequence of the kernel module at mount and on walk (`sb.rs`,
//!   `inode.rs`, `blockmap.rs`, `dir.rs`), over a [`dev::Blocks`], with every result checked;
//! - [`targets`]: one entry point per fuzz target, with its input format.
//!
//! The tests: `tests/props.rs` (property tests of the parsers and writers), `tests/xattr.rs`
//! (the same for extended attribute blocks and ACL values, against a model and an oracle) and
//! `tests/fsck.rs` (images changed with the writers alone must pass `e2fsck -fn`; extended
//! attribute blocks cross-checked with `debugfs`).

#[path = "../../../../fs/xipfs/ondisk.rs"]
#[allow(dead_code, unused_imports, clippy::all)]
pub mod ondisk;

pub mod check;
pub mod dev;
pub mod targets;
pub mod walk;
