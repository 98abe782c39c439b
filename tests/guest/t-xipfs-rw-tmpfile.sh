# SPDX-License-Identifier: GPL-2.0
# models: pages
# (One model: O_TMPFILE is namespace work; the data path it writes through is the one every
# other test runs in both models.)
# O_TMPFILE, as ext2 has it (fstests' generic/004 needs it):
# - a file opened with O_TMPFILE in a directory has no name and no link (st_nlink 0), holds
#   what is written to it, and when it is closed without a name its blocks and inode are
#   free again (statfs's counts back where they were), no entry is left, the directory's
#   mtime does not move;
# - linkat through /proc/self/fd names it (st_nlink 1), and it stays, bytes included,
#   across an unmount and mount;
# - twenty of them in a subdirectory, closed unnamed, leave it empty;
# - e2fsck -fn is clean after each unmount.
. ./lib.sh

need_xipfs
need_progs xiprw
m=/mnt/x

rw_mkfs 32
rw_mount
free0=$(stat -f -c %f $m)
ifree0=$(stat -f -c %d $m)
mtime0=$(xiprw stat $m mtime)
run xiprw tmpfile $m 11
expect_eq "$(stat -f -c %f $m)" "$free0" "free blocks after an unnamed O_TMPFILE file was closed"
expect_eq "$(stat -f -c %d $m)" "$ifree0" "free inodes after an unnamed O_TMPFILE file was closed"
expect_eq "$(ls -A $m | grep -vc '^lost+found$')" 0 "entries left by an unnamed O_TMPFILE file"
expect_eq "$(xiprw stat $m mtime)" "$mtime0" "the directory's mtime after an unnamed O_TMPFILE file"
run xiprw tmpfile $m 12 --link $m/named
expect_eq "$(xiprw stat $m/named nlink)" 1 "links of a linked O_TMPFILE file"
run xiprw check $m/named 0 65536 12
mkdir $m/d
i=0
while [ $i -lt 20 ]; do run xiprw tmpfile $m/d $((100 + i)) >/dev/null; i=$((i + 1)); done
expect_eq "$(ls -A $m/d | wc -l)" 0 "entries left by 20 unnamed O_TMPFILE files"
rw_umount
rw_mount
run xiprw check $m/named 0 65536 12
expect_eq "$(stat -f -c %d $m)" "$((ifree0 - 2))" "free inodes with the linked file and /d"
rw_umount
rw_release
exit 0
