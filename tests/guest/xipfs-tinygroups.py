#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
# tests/guest/xipfs-tinygroups.py IMG BLOCKS BLOCKS_PER_GROUP
#
# Writes an ext2 image of BLOCKS 4 KiB blocks in groups of BLOCKS_PER_GROUP blocks (mke2fs
# makes none below 256), with 16 inodes of 256 bytes per group, sparse_super and filetype,
# holding an empty root directory and lost+found.  Groups with a superblock copy hold it, the
# descriptor table, then the block bitmap, inode bitmap and inode table; the other groups
# start with their bitmaps and table.  When the groups are large enough for that, the image
# is valid (e2fsck -fn finds nothing wrong); with groups too small for the descriptor table,
# group 0's bitmaps fall outside group 0.  Used by tests/guest/xipfs-images.sh.
import struct
import sys

out, nblocks, bpg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BS, IPG, ISZ, T = 4096, 16, 256, 1700000000
ngroups = (nblocks - 1) // bpg + 1
gdt = (ngroups * 32 + BS - 1) // BS


def has_super(g):
    if g <= 1:
        return True
    for b in (3, 5, 7):
        n = g
        while n > 1 and n % b == 0:
            n //= b
        if n == 1:
            return True
    return False


img = bytearray(nblocks * BS)


def put(off, fmt, *v):
    struct.pack_into("<" + fmt, img, off, *v)


# (block bitmap, inode bitmap, inode table) and the number of used blocks at the start of
# each group.
desc, used = [], []
for g in range(ngroups):
    p = g * bpg + (1 + gdt if has_super(g) else 0)
    desc.append((p, p + 1, p + 2))
    used.append(p + 3 - g * bpg)
root_blk, lf_blk = desc[0][2] + 1, desc[0][2] + 2
used[0] += 2
size = [min(bpg, nblocks - g * bpg) for g in range(ngroups)]
free_b = [max(0, size[g] - used[g]) for g in range(ngroups)]
free_i = [IPG - (11 if g == 0 else 0) for g in range(ngroups)]


def superblock(g):
    sb = bytearray(1024)
    struct.pack_into(
        "<IIIIIIIIIIIIIHHHHHHIIIIHHIHHIII", sb, 0,
        ngroups * IPG, nblocks, 0, sum(free_b), sum(free_i), 0, 2, 2, bpg, bpg, IPG, T, T,
        0, 0xFFFF, 0xEF53, 1, 1, 0, T, 0, 0, 1, 0, 0, 11, ISZ, g, 0, 2, 1)
    sb[104:120] = bytes(range(1, 17))
    sb[120:130] = b"tinygroups"
    struct.pack_into("<HH", sb, 0x15C, 32, 32)  # s_min_extra_isize, s_want_extra_isize
    return sb


table = bytearray(gdt * BS)
for g, (bb, ib, it) in enumerate(desc):
    struct.pack_into("<IIIHHH", table, g * 32, bb, ib, it, free_b[g], free_i[g],
                     2 if g == 0 else 0)


def bitmap(used_bits, valid_bits):
    bits = bytearray(BS)
    for i in list(range(used_bits)) + list(range(valid_bits, BS * 8)):
        bits[i // 8] |= 1 << (i % 8)
    return bits


for g, (bb, ib, it) in enumerate(desc):
    first = g * bpg
    if has_super(g):
        at = first * BS + (1024 if g == 0 else 0)
        img[at:at + 1024] = superblock(g)
        img[(first + 1) * BS:(first + 1 + gdt) * BS] = table
    img[bb * BS:(bb + 1) * BS] = bitmap(used[g], size[g])
    img[ib * BS:(ib + 1) * BS] = bitmap(IPG - free_i[g], IPG)


def inode(ino, mode, links, blk):
    off = desc[0][2] * BS + (ino - 1) * ISZ
    put(off, "HHIIIIIHHII", mode, 0, BS, T, T, T, 0, 0, links, 8, 0)
    put(off + 40, "I", blk)
    put(off + 128, "H", 32)  # i_extra_isize


def dirent(off, ino, rec, name):
    put(off, "IHBB", ino, rec, len(name), 2)
    img[off + 8:off + 8 + len(name)] = name


inode(2, 0o40755, 3, root_blk)
inode(11, 0o40700, 2, lf_blk)
dirent(root_blk * BS, 2, 12, b".")
dirent(root_blk * BS + 12, 2, 12, b"..")
dirent(root_blk * BS + 24, 11, BS - 24, b"lost+found")
dirent(lf_blk * BS, 11, 12, b".")
dirent(lf_blk * BS + 12, 2, BS - 12, b"..")
with open(out, "wb") as f:
    f.write(img)
