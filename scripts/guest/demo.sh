# SPDX-License-Identifier: GPL-2.0
# The demo, first stage (in the initramfs): the same root filesystem image on
# brd + ext2 and on xipram + xipfs, the same programs run from each, the page
# cache and RAM each costs side by side; then switch into the XIP root.
set -e
say() { printf '\n### %s\n' "$*"; }
meminfo() { awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo; }
MIB=$(cat /data/rootfs.mib)

say "loading the image into xipram and brd ($MIB MiB each)"
modprobe xipram size_mib="$MIB"
modprobe brd rd_nr=1 rd_size=$((MIB * 1024))
dd if=/data/rootfs.img of=/dev/xipram0 bs=1M 2>/dev/null
dd if=/data/rootfs.img of=/dev/ram0 bs=1M 2>/dev/null
sync
mkdir -p /mnt/ext2 /mnt/xip

# The workload, run inside each root: a dynamically linked shell, the
# e2fsprogs tools and their libraries, and every file read once.
WORK='dash -c "e2fsck -V; debugfs -V; mke2fs -V" >/dev/null 2>&1
      find / -xdev -type f -exec cat {} + >/dev/null'

# run_in NAME DEV FSTYPE OPTS: mount, run the workload; prints the page cache
# growth and the data used on the filesystem, in KiB.
run_in() {
	echo 3 >/proc/sys/vm/drop_caches
	c0=$(meminfo Cached)
	mount -t "$3" -o "$4" "$2" "/mnt/$1"
	mount -t devtmpfs devtmpfs "/mnt/$1/dev"
	chroot "/mnt/$1" /bin/sh -c "$WORK"
	c1=$(meminfo Cached)
	umount "/mnt/$1/dev"
	used=$(df -k "/mnt/$1" | awk 'NR == 2 { print $3 }')
	echo $((c1 - c0)) "$used"
}
say "running the same programs from brd + ext2 and from xipram + xipfs"
set -- $(run_in ext2 /dev/ram0 ext2 ro)
ext2_cache=$1 data=$2
set -- $(run_in xip /dev/xipram0 xipfs ro)
xip_cache=$1
brd_kib=$(($(cat /sys/kernel/debug/ramdisk_pages/ram0) * 4))
xip_kib=$((MIB * 1024))
grep -E ' /mnt/(ext2|xip) ' /proc/mounts
echo
echo "executed and read the $data KiB of files of each root (KiB):"
printf '%-26s %12s %16s\n' "" "brd + ext2" "xipram + xipfs"
printf '%-26s %12s %16s\n' "block device memory" "$brd_kib" "$xip_kib"
printf '%-26s %12s %16s\n' "page cache growth" "$ext2_cache" "$xip_cache"
printf '%-26s %12s %16s\n' "total RAM" "$((brd_kib + ext2_cache))" "$((xip_kib + xip_cache))"

umount /mnt/ext2
rmmod brd
say "switch_root into the XIP root filesystem (xipfs on /dev/xipram0)"
# The initramfs is rootfs, which pivot_root cannot move: switch_root (run by
# init as PID 1) empties it and makes the xipfs mount the new /.
echo "/mnt/xip /sbin/xip-init" >/.switch-root
