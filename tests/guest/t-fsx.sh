# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: these are the baselines xipfs is compared with, tmpfs, ext2 -o dax on pmem
# and on xipram without mappings; xipfs's own random runs, t-xipfs-rw-fsx, and ext2 -o dax
# on xipram, t-xipram-ext2, run in both models.)
# The random-operation tester of the write path, xipfsx (tests/progs/xipfsx.rs): writes
# (with holes and appends), reads, shared mapped reads and writes, truncates up and down,
# fallocate (mode 0 and KEEP_SIZE), hole punching, fsync and reopen, each checked against a
# model of the file, with fixed seeds (printed; rerun one with xipfsx FILE --seed S).  It
# runs where xipfs's write path is compared: tmpfs, ext2 -o dax on emulated pmem (the
# kernel's own DAX, devmap pages: mappings work), and ext2 -o dax on xipram (DAX on plain
# pages: ext2 does not set VM_MIXEDMAP, so without mappings).  ext2 has no fallocate
# (EOPNOTSUPP), so its runs leave it out, hole punching included.  e2fsck -fn is clean
# after each ext2 run.  Needs the guest booted with emulated pmem, as make check does
# (scripts/check).
. ./lib.sh

need_progs xipfsx
OPS=${FSX_OPS:-2000}
mkdir -p /mnt/x

# On tmpfs: every operation.
run mount -t tmpfs -o size=64m tmpfs /mnt/x
run xipfsx /mnt/x/f --seed 1 --ops $OPS
run umount /mnt/x

# ext2 -o dax on pmem: the DAX baseline, every operation.
i=0
while [ ! -b /dev/pmem0 ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
[ -b /dev/pmem0 ] || fail "no /dev/pmem0: boot with memmap= as scripts/check does"
run mke2fs -q -t ext2 -b 4096 /dev/pmem0
run mount -t ext2 -o dax /dev/pmem0 /mnt/x
grep -q ' /mnt/x ext2 .*dax' /proc/mounts || fail "ext2 on pmem0 is not mounted with dax"
run xipfsx /mnt/x/f --seed 2 --ops $OPS --no-fallocate
run umount /mnt/x
fsck_clean /dev/pmem0

# ext2 -o dax on xipram: fs/dax.c on xipram's memory, through read and write.
xipram_load 64
run mke2fs -q -t ext2 -b 4096 /dev/xipram0
run mount -t ext2 -o dax /dev/xipram0 /mnt/x
run xipfsx /mnt/x/f --seed 3 --ops $OPS --no-mmap --no-fallocate
run umount /mnt/x
fsck_clean /dev/xipram0
run rmmod xipram
exit 0
