# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: it is about the ext2 format, the kernel's ext2 and xipfs reading what the
# other wrote, not memory, and it takes about 4 minutes; the write paths it uses run in
# both models in the other t-xipfs-rw-*.sh.)
# What a read-write xipfs writes is an ext2 filesystem that the kernel's ext2 driver reads
# the same, and the other way round (issue item 7):
# - xipfs builds the test tree (xiptree build: files at every block-map boundary, sparse
#   files up to 5 GiB, fast and slow symlinks, devices, FIFOs, sockets, hard links, odd
#   names, modes, owners with 32-bit ids, times from 1970 to 2037, a directory of 3000
#   entries), plus nanosecond times; after umount (e2fsck -fn clean) the kernel's ext2
#   mounted read-only matches the manifest made on xipfs (xiptree verify) and lists every
#   entry with the same inode number, type, mode, owner, link count, size, blocks, times
#   (to the second: ext2 does not read nanoseconds), device numbers, symlink target and
#   content (xiprw tree-list);
# - the kernel's ext2 builds the same tree; xipfs mounted read-only reads it the same;
# - xipfs then changes that tree (appends, writes into holes, truncates, renames across
#   directories, unlinks one name of a hard link, new files, directories, symlinks and
#   devices, chmod, chown, utimensat), and the kernel's ext2 reads the result the same.
# Under XFS_TYPE=ext2 both sides are the kernel's ext2.
. ./lib.sh

need_progs xiptree xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
m=/mnt/x
e=/mnt/e
# same LIST1 LIST2 WHAT: two tree-lists are the same.
same() {
	cmp -s "$1" "$2" || { diff "$1" "$2" | head -n 30; fail "$3: the two drivers list the tree differently"; }
	echo "$3: $(wc -l <"$1") entries the same"
}
# secs LIST: a tree-list with the nanoseconds dropped.
secs() { sed -E 's/(time=-?[0-9]+)\.[0-9]{9}/\1/g' "$1"; }

# --- xipfs writes, ext2 reads.
rw_mkfs 64 -N 8192
rw_mount
start=$(date +%s)
run xiptree build $m/tree
echo "xiptree build on $XFS_TYPE took $(($(date +%s) - start)) s"
run xiprw utimens $m/tree/sizes/one 1234567890.123456789 1234567891.987654321
run xiprw write $m/extra 0 3000000 1 --chunk 65536
run mount -o remount,ro $m
run xiptree manifest $m/tree >/tmp/x.manifest
run xiprw tree-list $m --ns >/tmp/x.list
rw_umount
mount -t ext2 -o ro $dev $e || fail "the kernel's ext2 cannot mount what $XFS_TYPE wrote"
xiptree verify /tmp/x.manifest $e/tree >/tmp/verify.out 2>&1 || { head -n 40 /tmp/verify.out; fail "ext2 reading what $XFS_TYPE wrote: xiptree verify found differences"; }
tail -n 1 /tmp/verify.out
run xiprw tree-list $e >/tmp/e.list
secs /tmp/x.list >/tmp/x.secs
same /tmp/x.secs /tmp/e.list "$XFS_TYPE wrote, ext2 read"
run xiprw check $e/extra 0 3000000 1
run umount $e
if xipfs_only "nanoseconds on disk for ext2-compatible readers (debugfs)"; then
	grep -q '^/tree/sizes/one .* atime=1234567890.123456789 mtime=1234567891.987654321 ' /tmp/x.list ||
		fail "xipfs did not list the nanoseconds it was given"
	debugfs -R "stat /tree/sizes/one" $dev 2>/dev/null | grep -q ' mtime: 0x499602d3:eb79a2c4 ' ||
		{ debugfs -R "stat /tree/sizes/one" $dev; fail "the mtime's nanoseconds are not in the inode as ext4 keeps them"; }
fi

# --- ext2 writes, xipfs reads.
rw_mkfs 64 -N 8192
run mount -t ext2 $dev $e
run xiptree build $e/tree
run xiprw write $e/extra 0 3000000 2 --chunk 65536
run mount -o remount,ro $e
run xiptree manifest $e/tree >/tmp/e.manifest
run xiprw tree-list $e >/tmp/e.list
run umount $e
fsck_clean $dev
rw_mount ro
xiptree verify /tmp/e.manifest $m/tree >/tmp/verify.out 2>&1 || { head -n 40 /tmp/verify.out; fail "$XFS_TYPE reading what ext2 wrote: xiptree verify found differences"; }
tail -n 1 /tmp/verify.out
run xiprw tree-list $m >/tmp/x.list
same /tmp/e.list /tmp/x.list "ext2 wrote, $XFS_TYPE read"
run xiprw check $m/extra 0 3000000 2
run umount $m

# --- xipfs changes what ext2 wrote; ext2 reads it.
rw_mount
t=$m/tree
run xiprw write $t/sizes/three-mib 3158073 100000 3 --how append
run xiprw write $t/sparse/huge 3000000000 5000 4
run xiprw write $t/sparse/only-hole 4096 4096 5
run xiprw truncate $t/sizes/ind+1 5000
run xiprw truncate $t/sparse/dind-only 100
run xiprw rename $t/nested/a/b $t/hard/moved-b
run xiprw rename $t/links/fast-1 $t/nested/fast-1-moved
run rm $t/hard/one
mkdir $t/new-dir $t/new-dir/sub
echo new >$t/new-dir/sub/file
ln -s ../../sizes/one $t/new-dir/sub/link
ln -s "$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "s" }')" $t/new-dir/slow-link
run mknod $t/new-dir/chr c 300 70000
run mkfifo $t/new-dir/fifo
chmod 4710 $t/modes/f-0644
run chown 77777:88888 $t/owners/f-0-0
run xiprw utimens $t/times/f-1990 1300000000.5 1400000000.25
rm -r $t/big-dir
run mount -o remount,ro $m
run xiprw tree-list $m >/tmp/x.list
run umount $m
fsck_clean $dev
run mount -t ext2 -o ro $dev $e
run xiprw tree-list $e >/tmp/e.list
same /tmp/x.list /tmp/e.list "$XFS_TYPE changed what ext2 wrote, ext2 read"
run xiprw check $e/tree/sizes/three-mib 3158073 100000 3
run xiprw check $e/tree/sparse/huge 3000000000 5000 4
run xiprw check $e/tree/sparse/only-hole 0 4096 zero
run xiprw check $e/tree/sparse/only-hole 4096 4096 5
expect_eq "$(xiprw stat $e/tree/hard/sub/two nlink)" 2 "link count of a hard link after one name was removed"
expect_eq "$(xiprw stat $e/tree/hard/moved-b/.. ino)" "$(xiprw stat $e/tree/hard ino)" "'..' of a moved directory, read by ext2"
run xiprw tree-check $e
run umount $e
rw_release
exit 0
