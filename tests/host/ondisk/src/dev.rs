// SPDX-License-Identifier: GPL-2.0

//! Block devices the harness reads metadata from, like the kernel's `BlockBuf::read` over DAX.

use crate::ondisk::BLOCK_SIZE;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A 4096-byte block.
pub type Block = [u8; BLOCK_SIZE];

/// A device of 4096-byte blocks.
pub trait Blocks {
    /// Size of the device in bytes (what `check_fits` is given).
    fn device_bytes(&self) -> u64;
    /// Copies block `blk` into `buf`; fails past the end of the device, as a DAX read does.
    fn read(&self, blk: u32, buf: &mut Block) -> Result<(), ()>;
}

fn check_in_device(dev: &(impl Blocks + ?Sized), blk: u32) -> Result<(), ()> {
    if (u64::from(blk) + 1) * BLOCK_SIZE as u64 > dev.device_bytes() {
        return Err(());
    }
    Ok(())
}

/// A whole image in memory; bytes past its end (up to `device_bytes`) read as zeroes.
pub struct Image<'a> {
    /// The image.
    pub bytes: &'a [u8],
    /// The device size (at least the image's, usually).
    pub device_bytes: u64,
}

impl Blocks for Image<'_> {
    fn device_bytes(&self) -> u64 {
        self.device_bytes
    }

    fn read(&self, blk: u32, buf: &mut Block) -> Result<(), ()> {
        check_in_device(self, blk)?;
        buf.fill(0);
        let start = blk as usize * BLOCK_SIZE;
        if let Some(src) = self.bytes.get(start..) {
            let n = src.len().min(BLOCK_SIZE);
            buf[..n].copy_from_slice(&src[..n]);
        }
        Ok(())
    }
}

/// Most blocks a [`Sparse`] device holds (bounds the work per fuzz input).
pub const MAX_SPARSE_BLOCKS: usize = 256;

/// A device given as a list of its non-zero blocks, the compact form of an image the fuzzer
/// mutates: `[device blocks: u32 LE]` then records `[block number: u32 LE][4096 bytes]`. A
/// short last record is zero-padded; the first record of a block number wins; blocks not
/// listed read as zeroes.
pub struct Sparse {
    device_blocks: u32,
    blocks: BTreeMap<u32, Box<Block>>,
}

/// Size of one [`Sparse`] record.
pub const RECORD: usize = 4 + BLOCK_SIZE;

impl Sparse {
    /// Parses the sparse form (see the type); `None` if shorter than its header.
    pub fn parse(data: &[u8]) -> Option<Self> {
        let (head, mut rest) = data.split_first_chunk::<4>()?;
        let mut blocks = BTreeMap::new();
        while let Some((nr, body)) = rest.split_first_chunk::<4>() {
            if blocks.len() >= MAX_SPARSE_BLOCKS {
                break;
            }
            let n = body.len().min(BLOCK_SIZE);
            let mut b = Box::new([0u8; BLOCK_SIZE]);
            b[..n].copy_from_slice(&body[..n]);
            blocks.entry(u32::from_le_bytes(*nr)).or_insert(b);
            rest = &body[n..];
        }
        Some(Self {
            device_blocks: u32::from_le_bytes(*head),
            blocks,
        })
    }

    /// Encodes `device_blocks` and `blocks` (number, contents) in the sparse form.
    pub fn encode(device_blocks: u32, blocks: &BTreeMap<u32, Box<Block>>) -> Vec<u8> {
        let mut out = device_blocks.to_le_bytes().to_vec();
        for (nr, b) in blocks {
            out.extend_from_slice(&nr.to_le_bytes());
            out.extend_from_slice(&b[..]);
        }
        out
    }
}

impl Blocks for Sparse {
    fn device_bytes(&self) -> u64 {
        u64::from(self.device_blocks) * BLOCK_SIZE as u64
    }

    fn read(&self, blk: u32, buf: &mut Block) -> Result<(), ()> {
        check_in_device(self, blk)?;
        match self.blocks.get(&blk) {
            Some(b) => buf.copy_from_slice(&b[..]),
            None => buf.fill(0),
        }
        Ok(())
    }
}

/// A device that remembers every block read through it (to make seeds from real images: the
/// blocks a walk reads are the metadata worth fuzzing).
pub struct Recorder<'a, D: Blocks + ?Sized> {
    /// The device read.
    pub dev: &'a D,
    /// The blocks read so far, with their contents.
    pub read: RefCell<BTreeMap<u32, Box<Block>>>,
}

impl<'a, D: Blocks + ?Sized> Recorder<'a, D> {
    /// A recorder over `dev`, with nothing read yet.
    pub fn new(dev: &'a D) -> Self {
        Self {
            dev,
            read: RefCell::new(BTreeMap::new()),
        }
    }
}

impl<D: Blocks + ?Sized> Blocks for Recorder<'_, D> {
    fn device_bytes(&self) -> u64 {
        self.dev.device_bytes()
    }

    fn read(&self, blk: u32, buf: &mut Block) -> Result<(), ()> {
        self.dev.read(blk, buf)?;
        self.read
            .borrow_mut()
            .entry(blk)
            .or_insert_with(|| Box::new(*buf));
        Ok(())
    }
}
