# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# The test tree on xipfs: tree.img (made on the host by tests/guest/xiptree-image.sh,
# in /data/tree), copied onto xipram and mounted with xipfs, matches its manifest in
# every field of every entry (xiptree verify: content, size, mode, owner, times, link
# targets, link counts, device numbers), with DAX shown in /proc/mounts and statx, and
# reading all of it adds nothing to the page cache (`Cached`), where the kernel's ext2
# without DAX caches what it reads.  Neither module can be removed while mounted, and
# the image is unchanged afterwards (e2fsck -fn clean).
. ./lib.sh

img=/data/tree/tree.img
manifest=/data/tree/tree.manifest
need_files $img $manifest
need_progs xiptree
need_progs xipmap
need_xipfs

load_image $img 64
run modprobe xipfs
run mount -t xipfs -o ro $dev /mnt/x
line=$(grep "^$dev /mnt/x " /proc/mounts)
echo "/proc/mounts: $line"
set -- $line
expect_eq "$3" xipfs "filesystem type in /proc/mounts"
echo ",$4," | grep -q ',ro,' || fail "/proc/mounts does not show ro"
echo ",$4," | grep -q ',dax[,=]' || fail "/proc/mounts does not show dax"
run xipmap statx-dax /mnt/x/sizes/three-mib yes
run xipmap statx-dax /mnt/x/sparse/huge yes

# --- The whole tree against the manifest, the page cache watched.
sync
echo 3 >/proc/sys/vm/drop_caches
cached0=$(meminfo Cached)
start=$(date +%s)
xiptree verify $manifest /mnt/x >/tmp/verify.out 2>&1
rc=$?
cached1=$(meminfo Cached)
head -n 50 /tmp/verify.out
echo "xiptree verify took $(($(date +%s) - start)) s; Cached $cached0 kB -> $cached1 kB"
[ $rc -eq 0 ] || fail "xiptree verify found differences (exit $rc)"
grep -q '^verified [1-9][0-9]* entries, 0 mismatches$' /tmp/verify.out ||
	fail "xiptree verify did not report its summary"
[ $((cached1 - cached0)) -lt 1024 ] ||
	fail "Cached grew by $((cached1 - cached0)) kB while reading the tree from xipfs"

# --- Neither module can go while mounted; the mount is unharmed by trying.
expect_fail "rmmod xipram while mounted" rmmod xipram
expect_fail "rmmod xipfs while mounted" rmmod xipfs
grep -q '^xipram ' /proc/modules || fail "xipram unloaded while mounted"
grep -q '^xipfs ' /proc/modules || fail "xipfs unloaded while mounted"
run cat /mnt/x/sizes/three-mib >/dev/null
run umount /mnt/x
fsck_clean $dev

# --- Control: the same reads through the kernel's ext2 without DAX do fill the page
# cache, so the check above can see a cache.
run mount -t ext2 -o ro $dev /mnt/x
sync
echo 3 >/proc/sys/vm/drop_caches
cached0=$(meminfo Cached)
run cat /mnt/x/sizes/three-mib >/dev/null
cached1=$(meminfo Cached)
echo "ext2 without DAX: Cached $cached0 kB -> $cached1 kB reading 3 MiB"
[ $((cached1 - cached0)) -ge 2048 ] ||
	fail "control: Cached grew by only $((cached1 - cached0)) kB reading 3 MiB from ext2 without DAX"
run umount /mnt/x
fsck_clean $dev

run rmmod xipfs
run rmmod xipram
exit 0
