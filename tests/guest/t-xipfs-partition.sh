# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# xipfs on partitions of an xipram device, and what it reports about itself.
# A partition is a window on the DAX device: xipfs must add the partition's offset to
# every address it hands fs/dax.c and read nothing outside the window.  The device gets
# an MBR with two partitions; each holds its own ext2 filesystem with different files;
# each mounts with xipfs and shows its own files (read, mmap), and the other's bytes
# never leak in.  statfs reports the same f_fsid as the kernel's ext2 for the same image
# (derived from the UUID the same way), and fsync/fdatasync of files and directories
# succeed (nothing to write back) instead of failing with EINVAL.
. ./lib.sh

need_xipfs
need_progs xipmap
xipram_load 64
dev=/dev/xipram0
mkdir -p /mnt/x /mnt/e

# mbr_entry SLOT TYPE START_SECTOR SECTORS: write a primary partition entry.
le32() { printf "\\$(printf %03o $(($1 & 255)))\\$(printf %03o $((($1 >> 8) & 255)))\\$(printf %03o $((($1 >> 16) & 255)))\\$(printf %03o $((($1 >> 24) & 255)))"; }
mbr_entry() {
	{ printf '\000\000\000\000\203\000\000\000'; le32 "$3"; le32 "$4"; } |
		dd of=$dev bs=1 seek=$((446 + 16 * $1)) conv=notrunc 2>/dev/null
}
# p1: 1 MiB .. 25 MiB, p2: 25 MiB .. 57 MiB (both 4 KiB aligned, as DAX requires).
mbr_entry 0 0x83 2048 49152
mbr_entry 1 0x83 51200 65536
printf '\125\252' | dd of=$dev bs=1 seek=510 conv=notrunc 2>/dev/null
run blockdev --rereadpt $dev
i=0
while [ ! -b ${dev}p2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -b ${dev}p1 ] && [ -b ${dev}p2 ] || fail "no ${dev}p1 and ${dev}p2 after re-reading the partition table"
expect_eq "$(cat /sys/block/xipram0/xipram0p1/start)" 2048 "p1 start"
expect_eq "$(cat /sys/block/xipram0/xipram0p2/size)" 65536 "p2 size"

# Each partition gets a filesystem with one file of its own pattern, written through
# the kernel's ext2 (no DAX: through the block device).
n=1
for p in p1 p2; do
	run mke2fs -q -t ext2 -b 4096 -U "$(printf '0123456%d-89ab-cdef-0123-456789abcdef' $n)" $dev$p
	run mount -t ext2 $dev$p /mnt/e
	awk -v n=$n 'BEGIN { for (i = 0; i < 40000; i++) printf "partition %d line %d\n", n, i }' >/mnt/e/data
	echo "only on $p" >/mnt/e/$p
	mkdir /mnt/e/dir
	run umount /mnt/e
	fsck_clean $dev$p
	n=$((n + 1))
done

n=1
for p in p1 p2; do
	# What the kernel's ext2 reports; a block device is mounted by one filesystem at a time.
	run mount -t ext2 -o ro $dev$p /mnt/e
	fe=$(stat -f -c %i /mnt/e)
	sum=$(sha256sum </mnt/e/data)
	run umount /mnt/e
	run mount -t xipfs -o ro $dev$p /mnt/x
	[ -f /mnt/x/$p ] || fail "xipfs on $p: no file $p"
	for q in p1 p2; do
		[ $q = $p ] || [ ! -e /mnt/x/$q ] || fail "xipfs on $p shows $q's file"
	done
	expect_eq "$(sha256sum </mnt/x/data)" "$sum" "xipfs on $p: data against ext2's"
	grep -q "^partition $n line 39999\$" /mnt/x/data || fail "xipfs on $p: wrong data"
	run xipmap shared /mnt/x/data --mixedmap
	# The same f_fsid as ext2's for the same filesystem.
	fx=$(stat -f -c %i /mnt/x)
	echo "$p: f_fsid ext2 $fe xipfs $fx"
	expect_eq "$fx" "$fe" "f_fsid of xipfs against ext2 on $p"
	# fsync and fdatasync of a file and a directory.
	run sync -d /mnt/x/data
	run sync /mnt/x/data /mnt/x/dir
	run umount /mnt/x
	fsck_clean $dev$p
	n=$((n + 1))
done
exit 0
