# SPDX-License-Identifier: GPL-2.0
# The demo, in the guest: xipram as a DAX RAM disk under ext2 -o dax, and the
# page cache that reading files costs there compared with brd + ext2.
set -e
say() { printf '\n### %s\n' "$*"; }
cached() { awk '$1 == "Cached:" { print $2 }' /proc/meminfo; }

say "modprobe xipram size_mib=64"
modprobe xipram size_mib=64
dmesg | grep 'xipram' | tail -n 3
ls -l /dev/xipram0
echo "queue/dax: $(cat /sys/block/xipram0/queue/dax)"

say "mke2fs -b 4096 + mount -t ext2 -o dax"
mke2fs -q -t ext2 -b 4096 /dev/xipram0
mkdir -p /mnt/xip /mnt/brd
mount -t ext2 -o dax /dev/xipram0 /mnt/xip
grep xipram0 /proc/mounts

say "the same 32 MiB of files on brd + ext2 (page cache) and xipram + ext2 -o dax"
modprobe brd rd_nr=1 rd_size=65536
mke2fs -q -t ext2 -b 4096 /dev/ram0
mount -t ext2 /dev/ram0 /mnt/brd
head -c $((32 << 20)) /dev/urandom >/tmp/data
cp /tmp/data /mnt/xip/data
cp /tmp/data /mnt/brd/data
rm /tmp/data
sync
for fs in brd xip; do
	echo 3 >/proc/sys/vm/drop_caches
	before=$(cached)
	cat /mnt/$fs/data >/dev/null
	after=$(cached)
	printf '%-28s page cache grew by %6d KiB\n' "reading 32 MiB from $fs:" $((after - before))
done
md5sum /mnt/xip/data /mnt/brd/data
umount /mnt/xip /mnt/brd
rmmod xipram brd
say "done"
