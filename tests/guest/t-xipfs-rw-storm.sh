# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# A parallel storm on a read-write xipfs (issue items 3 and 11): xiprw storm runs four
# workers doing create, mkdir, rename (plain, RENAME_NOREPLACE, and RENAME_EXCHANGE on
# xipfs; the kernel's ext2 refuses it), link, unlink, rmdir and rewrites across eight
# directories, where every errno must be one the operation may give, while a writer, a
# truncater and a reader churn two shared files (every byte read is 0 or what was written
# there: never stale data of a freed block; the free blocks hold a poison first).  Two
# storms with fixed seeds (printed), then a read/write/truncate race on one file, then a
# storm for a time (STRESS_SECONDS, default 20; make stress runs it long) with a reader and
# a writer through shared mappings of the shared files as well.  After
# each: the tree is consistent (xiprw tree-check: `..` of every directory, link counts of
# directories and of every inode against its names, readdir types against lstat, file
# contents), e2fsck -fn is clean on the mounted filesystem after sync and after umount,
# and the tree lists the same after a remount and through the kernel's ext2.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
m=/mnt/x
if [ "$XFS_TYPE" = xipfs ]; then exch=--exchange; else exch=; fi
[ -n "$exch" ] || echo "SKIP under $XFS_TYPE: RENAME_EXCHANGE in the storm (refused with EINVAL)"

rw_mkfs 128
rw_mount
rw_poison $m
run xiprw storm $m/s1 --seed 1 --workers 4 --ops 2500 $exch
run xiprw storm $m/s2 --seed 2 --workers 6 --ops 1500 $exch
mkdir $m/r
run xiprw race $m/r/race --iters 4000 --seed 3
# A storm for a time with mapped readers and writers of the shared files too: about 20 s
# here, as long as STRESS_SECONDS under make stress.
run xiprw storm $m/s3 --seed 5 --workers 4 --seconds "${STRESS_SECONDS:-20}" --mmap $exch
run xiprw tree-check $m
run xiprw tree-check $m/s1 --storm
run xiprw tree-check $m/s2 --storm
run xiprw tree-check $m/s3 --storm
# Quiescent after sync: consistent while still mounted.
fsck_clean_mounted $dev
run xiprw tree-list $m --no-atime >/tmp/before.list
rw_umount
rw_mount
run xiprw tree-list $m --no-atime >/tmp/after.list
cmp -s /tmp/before.list /tmp/after.list ||
	{ diff /tmp/before.list /tmp/after.list | head -n 20; fail "the tree changed across umount and mount"; }
run xiprw tree-check $m/s1 --storm
run xiprw tree-check $m/s2 --storm
run xiprw tree-check $m/s3 --storm
# More storm on the remounted tree.
run xiprw storm $m/s1 --seed 3 --workers 4 --ops 1500 $exch
run xiprw tree-list $m --no-atime >/tmp/before.list
rw_umount
run mount -t ext2 -o ro $dev /mnt/e
run xiprw tree-check /mnt/e
run xiprw tree-check /mnt/e/s1 --storm
run xiprw tree-check /mnt/e/s2 --storm
run xiprw tree-check /mnt/e/s3 --storm
run xiprw tree-list /mnt/e --no-atime >/tmp/ext2.list
cmp -s /tmp/before.list /tmp/ext2.list ||
	{ diff /tmp/before.list /tmp/ext2.list | head -n 20; fail "ext2 lists the storm's tree differently"; }
run umount /mnt/e
rw_release
exit 0
