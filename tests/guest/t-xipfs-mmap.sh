# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# mmap of xipfs files (tests/progs/xipmap.rs does the checking), on files of the test
# tree from one byte to double-indirect blocks, with holes, through every block-map
# level:
# - MAP_SHARED read mappings hold the file's bytes, zeros past EOF, and are DAX
#   mappings of the device memory (VM_MIXEDMAP);
# - writes to MAP_PRIVATE mappings get private copies (COW) that the file, read(),
#   other mappings, new mappings and a child process never see;
# - a mapped page wholly past EOF gives SIGBUS; no writable shared mapping (EACCES) and
#   no open for writing (EROFS);
# - statx reports STATX_ATTR_DAX on xipfs files (and not on tmpfs);
# - none of it adds to the page cache, and the image is unchanged (e2fsck -fn clean).
. ./lib.sh

img=/data/tree/tree.img
need_files $img
need_progs xipmap
need_xipfs

load_image $img 64
run modprobe xipfs
run mount -t xipfs -o ro $dev /mnt/x
sync
echo 3 >/proc/sys/vm/drop_caches
cached0=$(meminfo Cached)

# one: 1 byte; block+1: 2 blocks; direct+1: the first indirect block; ind+1: 4 MiB,
# into the double-indirect range; the sparse ones: holes at the start, between
# direct and indirect blocks, at the double-indirect boundary, and blocks of zeros.
files="sizes/one sizes/block+1 sizes/direct+1 sizes/ind+1 sparse/first-block-hole
	sparse/straddle-direct sparse/dind-only sparse/written-zeros"
for f in $files; do
	run xipmap shared /mnt/x/$f --mixedmap
	run xipmap private-cow /mnt/x/$f
done
for f in sizes/one sizes/block-1; do
	run xipmap fault-past-eof /mnt/x/$f
done
run xipmap shared-write-refused /mnt/x/sizes/three-mib
run xipmap shared-write-refused /mnt/x/sizes/one
run xipmap statx-dax /mnt/x/sizes/one yes
run xipmap statx-dax /mnt/x/sparse/dind-only yes
echo not dax >/tmp/on-tmpfs
run xipmap statx-dax /tmp/on-tmpfs no

cached1=$(meminfo Cached)
echo "Cached $cached0 kB -> $cached1 kB"
[ $((cached1 - cached0)) -lt 1024 ] ||
	fail "Cached grew by $((cached1 - cached0)) kB while mapping files of xipfs"
run umount /mnt/x
fsck_clean $dev
run rmmod xipfs
run rmmod xipram
exit 0
