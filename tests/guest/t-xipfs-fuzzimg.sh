# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: it is about parsing hostile images, not memory; every image is written
# whole into a device of the images' size, 2 MiB, which devmap would round up to a
# 128 MiB memory block to be written and zeroed for each of thousands of images.)
# Hostile images at scale: xipmut (tests/progs/xipmut.rs) mutates good ext2 images made
# here with mke2fs -d (five layouts: 256-byte inodes with Debian's default features;
# revision 0; two groups of 128-byte inodes without resize_inode and dir_index; 1024-byte
# inodes without filetype; 128-byte inodes with extended attribute blocks and ACLs set by
# debugfs, one block shared by two files) - byte storms over metadata blocks, every superblock, group
# descriptor, inode and directory entry field set to boundary values, blocks cross-linked
# between files, between a file and metadata and within one file - and for each image:
# writes it to /dev/xipram0, mounts it read-only or read-write, walks, reads, maps and
# (read-write) modifies the tree, unmounts.  It counts images tried, refused, mounted
# (and read-write) and kernel reports read from /dev/kmsg (BUG, WARNING, Oops, KASAN,
# UBSAN, lockdep, hung tasks, busy inodes), and fails on any report, a failed unmount,
# a hang, a base image that does not work, or counts that show nothing was tested.  Then
# xipfs must unload (no reference leaked).
#
# FUZZ_IMAGES (default 600, about 150 s in the test kernel), FUZZ_SEED (default 20261: make
# check tries the same images each time; make fuzz-images picks a new seed) and FUZZ_SECONDS
# (a time bound, default 300, a safety net on a slow machine: the summary says how many were
# tried) choose the run; a
# seed and image number reproduce an image:
# xipmut run --dev /dev/xipram0 --seed S --only I --verbose BASE.img...
. ./lib.sh

need_progs xipmut
need_xipfs
count=${FUZZ_IMAGES:-600}
seed=${FUZZ_SEED:-20261}
seconds=${FUZZ_SECONDS:-300}

# The base images: one tree, four layouts, each e2fsck-clean (and a fifth with attribute blocks, below).
tree=/tmp/fz-tree
rm -rf $tree /tmp/fz-base-*.img
run xipmut mktree $tree
bases=
n=0
for opts in "-I 256 -N 128" "-r 0 -N 128" "-I 128 -g 256 -N 256 -O ^resize_inode,^dir_index" \
	"-I 1024 -N 64 -O ^filetype"; do
	img=/tmp/fz-base-$n.img
	# shellcheck disable=SC2086 # the options are words
	mke2fs -q -F -t ext2 -b 4096 $opts -d $tree $img 2M >/tmp/mke2fs.out 2>&1 ||
		{ cat /tmp/mke2fs.out; fail "mke2fs $opts -d $tree $img 2M"; }
	fsck_clean $img
	echo "base image $img: mke2fs -t ext2 -b 4096 $opts"
	bases="$bases $img"
	n=$((n + 1))
done
# The fifth: attribute blocks (128-byte inodes leave no room for them in the inode), in
# every namespace, ACLs, and a block two files share (refcount 2, as ext2's mbcache makes).
img=/tmp/fz-base-$n.img
mke2fs -q -F -t ext2 -b 4096 -I 128 -N 128 -d $tree $img 2M >/tmp/mke2fs.out 2>&1 ||
	{ cat /tmp/mke2fs.out; fail "mke2fs -I 128 -d $tree $img 2M"; }
awk 'BEGIN { while (i++ < 300) printf "v" }' >/tmp/fz-long
# u::rw-,u:1000:r--,g::r--,m::r--,o::--- in the VFS's format (debugfs converts it).
printf '\002\000\000\000\001\000\006\000\377\377\377\377\002\000\004\000\350\003\000\000\004\000\004\000\377\377\377\377\020\000\004\000\377\377\377\377\040\000\000\000\377\377\377\377' >/tmp/fz-acl
debugfs -w -f - $img >/tmp/debugfs.out 2>&1 <<EOF
ea_set /small user.a small-value
ea_set -f /tmp/fz-long /small trusted.long
ea_set /twelve security.s s
ea_set -f /tmp/fz-acl /twelve system.posix_acl_access
ea_set -f /tmp/fz-acl /dir system.posix_acl_default
ea_set -f /tmp/fz-acl /dir system.posix_acl_access
ea_set /emptydir user.e ""
EOF
blk=$(debugfs -R "stat /small" $img 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
[ -n "$blk" ] && [ "$blk" -gt 0 ] || { cat /tmp/debugfs.out; fail "no attribute block on /small of $img"; }
blocks=$(debugfs -R "stat /one" $img 2>/dev/null | sed -n 's/.*Blockcount: \([0-9]*\).*/\1/p')
debugfs -w -R "sif /one file_acl $blk" $img >/dev/null 2>&1
debugfs -w -R "sif /one blocks $((blocks + 8))" $img >/dev/null 2>&1
printf '\002\000\000\000' | dd of=$img bs=1 seek=$((blk * 4096 + 4)) conv=notrunc 2>/dev/null
fsck_clean $img
echo "base image $img: mke2fs -t ext2 -b 4096 -I 128 -N 128, attribute blocks by debugfs"
bases="$bases $img"
rm -rf $tree /tmp/fz-long /tmp/fz-acl

xipram_load 2
run modprobe xipfs
mkdir -p /mnt/fz
# xipfs logs a line or more for most images (KERN_ERR): keep them in the kernel log, where
# xipmut reads and counts them with the reports, and off the serial console, which would
# print thousands.  Reports still reach the console: xipmut prints each one it finds.
printk=$(cut -f1 /proc/sys/kernel/printk)
echo 3 >/proc/sys/kernel/printk
rc=0
# shellcheck disable=SC2086 # the list of images
xipmut run --dev "$dev" --mnt /mnt/fz --seed "$seed" --count "$count" --seconds "$seconds" $bases || rc=$?
echo "$printk" >/proc/sys/kernel/printk
if grep -q ' /mnt/fz ' /proc/mounts; then
	fail "/mnt/fz is still mounted after xipmut"
fi
# After thousands of mounts, refused mounts and errors, nothing holds the module.
run rmmod xipfs
run rmmod xipram
rm -f /tmp/fz-base-*.img /tmp/xipmut-sink /tmp/xipmut-src
[ $rc -eq 0 ] || fail "xipmut: hostile images gave kernel reports, failed unmounts or implausible counts (above)"
exit 0
