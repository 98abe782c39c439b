# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# xipram cannot be unloaded while a device is open or mounted, and can be
# afterwards.
. ./lib.sh

xipram_load 8
dev=/dev/xipram0
run mke2fs -q -t ext2 -b 4096 $dev
mkdir -p /mnt/x

# Mounted (with DAX): rmmod is refused and the filesystem keeps working.
run mount -t ext2 -o dax $dev /mnt/x
echo data >/mnt/x/f
expect_fail "rmmod while mounted" rmmod xipram
grep -q '^xipram ' /proc/modules || fail "xipram unloaded while mounted"
expect_eq "$(cat /mnt/x/f)" data "file after refused rmmod"
run umount /mnt/x

# Open: rmmod is refused until the device is closed.
exec 3<$dev
expect_fail "rmmod while open" rmmod xipram
exec 3<&-
run rmmod xipram
grep -q '^xipram ' /proc/modules && fail "xipram still loaded"
[ -e $dev ] && fail "$dev still there"
exit 0
