# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# xipram with a filesystem nobody here wrote: ext2 without DAX (mke2fs, mount,
# e2fsck), then ext2 -o dax, with data checked both ways between the DAX path
# and the block path (debugfs).
. ./lib.sh

xipram_load 32
dev=/dev/xipram0
mkdir -p /mnt/x
head -c 3000000 /dev/urandom >/tmp/big
echo "hello from the block path" >/tmp/small

# --- Plain ext2, through the page cache.
run mke2fs -q -t ext2 $dev
fsck_clean $dev
run mount -t ext2 $dev /mnt/x
grep -q "^$dev /mnt/x ext2 " /proc/mounts || fail "ext2 not mounted"
run cp /tmp/big /mnt/x/big
run mkdir /mnt/x/dir
run cp /tmp/small /mnt/x/dir/small
run umount /mnt/x
fsck_clean $dev
run mount -t ext2 -o ro $dev /mnt/x
cmp /tmp/big /mnt/x/big || fail "ext2: big file differs after remount"
cmp /tmp/small /mnt/x/dir/small || fail "ext2: small file differs after remount"
run umount /mnt/x

# --- ext2 -o dax: file data goes straight to xipram's memory.
run mke2fs -q -t ext2 -b 4096 $dev
run mount -t ext2 -o dax $dev /mnt/x
grep "^$dev /mnt/x " /proc/mounts | grep -qw dax || { cat /proc/mounts; fail "/proc/mounts does not show dax"; }
run cp /tmp/big /mnt/x/big
run dd if=/tmp/big of=/mnt/x/sparse bs=4096 seek=300 count=10 2>/dev/null
cmp /tmp/big /mnt/x/big || fail "dax: big file differs"
sync
echo 3 >/proc/sys/vm/drop_caches
cmp /tmp/big /mnt/x/big || fail "dax: big file differs after drop_caches"
run umount /mnt/x
fsck_clean $dev

# DAX-written data, read through the block path by debugfs.
run debugfs -R "dump /big /tmp/big.dump" $dev
cmp /tmp/big /tmp/big.dump || fail "debugfs dump of a file written through DAX differs"
run debugfs -R "dump /sparse /tmp/sparse.dump" $dev
expect_eq "$(stat -c %s /tmp/sparse.dump)" $((310 * 4096)) "sparse file size"
dd if=/tmp/sparse.dump bs=4096 skip=300 2>/dev/null >/tmp/sparse.tail
head -c $((10 * 4096)) /tmp/big | cmp - /tmp/sparse.tail || fail "sparse file data differs"
expect_eq "$(head -c $((300 * 4096)) /tmp/sparse.dump | tr -d '\0' | wc -c)" 0 "sparse hole not zero"

# Block-path data (debugfs writes through the block device), read through DAX.
run debugfs -w -R "write /tmp/small small" $dev
fsck_clean $dev
run mount -t ext2 -o dax $dev /mnt/x
cmp /tmp/small /mnt/x/small || fail "file written by debugfs differs when read through DAX"
cmp /tmp/big /mnt/x/big || fail "big file differs on the second DAX mount"
run umount /mnt/x
fsck_clean $dev
run rmmod xipram
exit 0
