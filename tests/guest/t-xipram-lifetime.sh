# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# xipram cannot be unloaded while a device is open or mounted, and can be
# afterwards.  With xipfs mounted, nothing done to the block device harms it:
# - rmmod xipram and rmmod xipfs are refused, and a plain umount too while a file is
#   still mapped (EBUSY);
# - BLKFLSBUF (blockdev --flushbufs) is harmless: xipram keeps no cache and xipfs uses
#   none of the block device's, so files, e2fsck and a remount are as before;
# - BLKDISCARD is refused: blkdiscard's exclusive open by the mount (EBUSY), and the ioctl
#   on a plain open by xipram (EOPNOTSUPP, one line in dmesg) while xipfs holds the device
#   through DAX; it works again once the device is unmounted.
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

# xipfs mounted: neither module unloads, a mapped file keeps a plain umount busy.
need_xipfs
need_progs xiprw
run mount -t xipfs $dev /mnt/x
head -c 1048576 /dev/urandom >/tmp/lt
cp /tmp/lt /mnt/x/big
echo xip >/mnt/x/small
sync
expect_fail "rmmod xipram while xipfs is mounted" rmmod xipram
expect_fail "rmmod xipfs while mounted" rmmod xipfs
grep -q '^xipfs ' /proc/modules || fail "xipfs unloaded while mounted"
cp "$(command -v busybox)" /mnt/x/busybox
start_from_xipfs /mnt/x/busybox sleep 1000
holder=$xip_pid
expect_fail "umount while a program runs from xipfs" umount /mnt/x
kill $holder
wait $holder 2>/dev/null

# BLKFLSBUF: harmless.
run blockdev --flushbufs $dev
cmp /tmp/lt /mnt/x/big || fail "file changed by BLKFLSBUF"
fsck_clean_mounted $dev

# BLKDISCARD: blkdiscard opens the device O_EXCL, which a mount refuses (EBUSY). The ioctl
# on a plain writable open is refused by the block layer when it cannot drop the device's
# page cache under the mount (EBUSY), and otherwise by xipram (EOPNOTSUPP, with a reason in
# the log): either way nothing is discarded.
blkdiscard $dev >/tmp/discard.out 2>&1 && fail "blkdiscard of a mounted xipfs device succeeded"
cat /tmp/discard.out
for range in "0 $dev_bytes" "1048576 1048576"; do
	run blockdev --flushbufs $dev
	mark=$(dmesg_mark)
	# shellcheck disable=SC2086
	xiprw discard $dev $range --expect "EOPNOTSUPP|EBUSY" >/tmp/discard.out 2>&1 ||
		{ cat /tmp/discard.out; fail "BLKDISCARD of a mounted xipfs device: not refused"; }
	cat /tmp/discard.out
	if grep -q EOPNOTSUPP /tmp/discard.out; then
		dmesg_since "$mark" | grep -q "xipram0: discard refused: a filesystem holds the device through DAX" ||
			[ "$range" != "0 $dev_bytes" ] || fail "no log line for the refused discard"
	fi
done
cmp /tmp/lt /mnt/x/big || fail "file changed by a refused BLKDISCARD"
expect_eq "$(cat /mnt/x/small)" xip "small file after BLKDISCARD"
fsck_clean_mounted $dev
run umount /mnt/x
fsck_clean $dev
run mount -t xipfs $dev /mnt/x
cmp /tmp/lt /mnt/x/big || fail "file changed after a remount"
run umount /mnt/x
# Unmounted, discard works again (and zeroes the device, as documented).
run xiprw discard $dev 0 $((dev_bytes))
expect_eq "$(head -c 4096 -- $dev | tr -d '\0' | wc -c)" 0 "device not zeroed by a discard once unmounted"
run rmmod xipfs

# Open: rmmod is refused until the device is closed.
exec 3<$dev
expect_fail "rmmod while open" rmmod xipram
exec 3<&-
run rmmod xipram
grep -q '^xipram ' /proc/modules && fail "xipram still loaded"
[ -e $dev ] && fail "$dev still there"
exit 0
