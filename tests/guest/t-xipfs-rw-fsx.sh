# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# The random-operation tester on a read-write xipfs (issue item 11): xipfsx
# (tests/progs/xipfsx.rs) checks every read against a model of the file through writes
# with holes and appends, reads, shared mapped reads and writes, truncates up and down,
# fallocate mode 0 and KEEP_SIZE, hole punching, fsync and reopen, for FSX_OPS (default
# 2000) operations per run with fixed seeds (xipfsx prints them; rerun one with --seed), on
# a filesystem whose free blocks hold a poison first: with everything, without mappings,
# and with files up to 16 MiB (double-indirect blocks).  e2fsck -fn is clean after the
# runs, and the files read back the same after a remount.  The kernel's ext2 has no
# fallocate: under XFS_TYPE=ext2 the runs leave it out (hole punching with it), and leave
# mappings out where ext2 cannot map.
. ./lib.sh

need_progs xipfsx xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
OPS=${FSX_OPS:-2000}
m=/mnt/x

rw_mkfs 256
rw_mount
rw_poison $m
falloc=
[ "$XFS_TYPE" = ext2 ] && { falloc=--no-fallocate; echo "SKIP under ext2: fallocate in xipfsx (EOPNOTSUPP)"; }
map=
rw_can_map || { map=--no-mmap; echo "SKIP under $XFS_TYPE -o $XFS_OPTS on $dev: mappings in xipfsx"; }
run xipfsx $m/f1 --seed 101 --ops $OPS $falloc $map
run xipfsx $m/f2 --seed 102 --ops $OPS --no-mmap $falloc
run xipfsx $m/f3 --seed 103 --ops $OPS --max-size 16777216 $falloc $map
run xipfsx $m/f4 --seed 104 --ops $OPS $falloc $map
for f in f1 f2 f3 f4; do sha256sum $m/$f; done >/tmp/sums
rw_umount
rw_mount
sha256sum -c /tmp/sums || fail "the files changed across umount and mount"
rw_umount
rw_release
exit 0
