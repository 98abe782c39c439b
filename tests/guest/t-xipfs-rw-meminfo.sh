# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Writing to a read-write xipfs adds nothing to the page cache (issue item 11): during and
# after a 64 MiB write (and its sync and read back), `Cached` in /proc/meminfo grows by
# less than 1% of the bytes written.  Control: the same write through the kernel's ext2
# without DAX, on the same device, grows it by at least half the bytes.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
m=/mnt/x
limit=$((64 * 1024 / 100))

rw_mkfs 128
rw_mount
sync
echo 3 >/proc/sys/vm/drop_caches
c0=$(meminfo Cached)
run xiprw write $m/big 0 67108864 1 --chunk 1048576
c1=$(meminfo Cached)
sync
c2=$(meminfo Cached)
run xiprw check $m/big 0 67108864 1
c3=$(meminfo Cached)
echo "Cached: $c0 kB before, $c1 kB after writing 64 MiB, $c2 kB after sync, $c3 kB after reading it back (limit +$limit kB)"
for c in $c1 $c2 $c3; do
	[ $((c - c0)) -lt $limit ] || fail "Cached grew by $((c - c0)) kB for 64 MiB written to $XFS_TYPE"
done
rw_umount

# Control: ext2 without DAX caches what it writes.
run mount -t ext2 $dev /mnt/e
run rm /mnt/e/big
sync
echo 3 >/proc/sys/vm/drop_caches
c0=$(meminfo Cached)
run xiprw write /mnt/e/big2 0 67108864 2 --chunk 1048576
c1=$(meminfo Cached)
echo "ext2 without DAX: Cached $c0 kB -> $c1 kB writing 64 MiB"
[ $((c1 - c0)) -ge 32768 ] || fail "control: Cached grew by only $((c1 - c0)) kB writing 64 MiB through ext2 without DAX"
run umount /mnt/e
fsck_clean $dev
rw_release
exit 0
