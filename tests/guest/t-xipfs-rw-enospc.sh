# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Allocation on a read-write xipfs (issue item 6, and the ENOSPC cases of item 11):
# - no free blocks: writes (buffered and O_DIRECT) stop with a clean ENOSPC (a short write
#   of what fitted, the file as long as what was written and holding it), a second write
#   at the end gets ENOSPC again; a write into the unused tail of a last block and
#   overwrites in place work; mkdir and slow symlinks need a block (ENOSPC), an empty file
#   and a fast symlink do not; new names in a full directory block get ENOSPC with every
#   earlier name intact; files written before are intact; deleting gives every block back;
# - no free inodes: creating files stops at exactly the free inode count with ENOSPC,
#   mkdir, symlink and mknod too, hard links still work, deleting one lets one more in;
# - reserved blocks (s_r_blocks_count): a non-root user gets ENOSPC with the reserved
#   blocks still free, root then fills them; the superblock's resuid and resgid (tune2fs -u,
#   -g) let that user or a member of that group use them, and nobody else;
# - a file of 2 MiB or more (written with one write(), in 64 KiB writes as cp does, or
#   fallocated), with small files before it, starts on a 2 MiB aligned device block, its
#   first 2 MiB contiguous (debugfs bmap on the unmounted image), when such a free run
#   exists: xipfs's policy, which the kernel's ext2 does not have (shown, not checked);
# - e2fsck -fn clean after each case, and what was written reads back after a remount.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
m=/mnt/x
st() { xiprw stat "$1" "$2"; }
statfs() { set -- $(stat -f -c '%b %f %a %c %d' $m); total=$1 free=$2 avail=$3 files=$4 ffree=$5; }
# must_fail WHAT TEXT CMD...: the command fails with a message holding TEXT.
must_fail() {
	_what=$1 _text=$2
	shift 2
	if "$@" >/tmp/out 2>&1; then fail "$_what: '$*' succeeded"; fi
	grep -q "$_text" /tmp/out || { cat /tmp/out; fail "$_what: '$*' did not fail with '$_text'"; }
}
# filled OUT: the byte count xiprw fill reported in OUT.
filled() { sed -n 's/^xiprw: filled .* with \([0-9]*\) bytes, then ENOSPC$/\1/p' "$1"; }
nospace="No space left on device"

# --- Out of blocks.
rw_mkfs 16
rw_mount
run xiprw write $m/old 0 1048581 1 --then fsync
run xiprw write $m/old2 0 100 2
mkdir $m/dir
statfs
f0=$free
xiprw fill $m/full --tag 3 | tee /tmp/fill.out
grep -q '^xiprw: all [0-9]* bytes read back' /tmp/fill.out || fail "filling the filesystem failed"
statfs
echo "full: $free free blocks, $avail available, $(filled /tmp/fill.out) bytes written"
[ "$free" -le 2 ] || fail "root got ENOSPC with $free blocks still free"
# A block or two may be left that the big file could not use (it needed a new indirect
# block too): a small file takes them.
run xiprw fill $m/full2 --tag 3 --chunk 4096
statfs
expect_eq "$free/$avail" 0/0 "free/available blocks on a full filesystem"
run xiprw check $m/old 0 1048581 1
run xiprw check $m/old2 0 100 2
# What needs no new block works; what does, gets ENOSPC and changes nothing.
run xiprw write $m/old 1048581 3000 4
run xiprw write $m/old 100 5000 5
run xiprw write $m/old 1052672 10 4 --expect ENOSPC
expect_eq "$(st $m/old size)" 1051581 "size after an append that found no space"
run xiprw write $m/odirect 0 8192 6 --how direct --expect ENOSPC
must_fail "mkdir on a full filesystem" "$nospace" mkdir $m/newdir
must_fail "a slow symlink on a full filesystem" "$nospace" ln -s "$(awk 'BEGIN { for (i = 0; i < 100; i++) printf "s" }')" $m/slow
run ln -s fast-target $m/fast
: >$m/empty || fail "creating an empty file on a full filesystem (it needs no block)"
# New names in a directory until its block is full: ENOSPC, the earlier ones intact.
long=$(awk 'BEGIN { for (i = 0; i < 200; i++) printf "L" }')
xiprw fill-inodes $m/dir "$long" | tee /tmp/names.out
n=$(sed -n 's/^xiprw: created \([0-9]*\) files.*/\1/p' /tmp/names.out)
[ -n "$n" ] || fail "filling a directory block with names failed"
[ "$n" -ge 10 ] && [ "$n" -le 20 ] || fail "$n names of 200 bytes fitted in one directory block"
statfs
[ "$ffree" -gt 0 ] || fail "out of inodes: the ENOSPC above was not for the directory block"
expect_eq "$(ls $m/dir | wc -l)" "$n" "names in the full directory"
if [ "$XFS_TYPE" != ext2 ]; then
	run xiprw fallocate $m/old 0 0 2000000 --expect ENOSPC
	run xiprw fallocate $m/fa 0 0 65536 --expect ENOSPC
fi
run xiprw check $m/old 0 100 1
run xiprw check $m/old 100 5000 5
run xiprw check $m/old 5100 1043481 1
run xiprw check $m/old 1048581 3000 4
# Deleting gives every block back.
run rm $m/full $m/full2
rm -f $m/fa $m/odirect
statfs
expect_eq "$free" $((f0 + 0)) "free blocks after deleting the filler"
run xiprw write $m/after 0 1048576 7
rw_umount
rw_mount
run xiprw check $m/old 0 100 1
run xiprw check $m/old 100 5000 5
run xiprw check $m/old 5100 1043481 1
run xiprw check $m/old 1048581 3000 4
run xiprw check $m/old2 0 100 2
run xiprw check $m/after 0 1048576 7
expect_eq "$(readlink $m/fast)" fast-target "a fast symlink made on a full filesystem"
rw_umount

# --- Out of inodes.
rw_mkfs 16 -N 64
rw_mount
run xiprw write $m/keep 0 20000 8
statfs
i0=$ffree
echo "$i0 free inodes"
[ "$i0" -gt 10 ] || fail "only $i0 free inodes on a filesystem made with -N 64"
xiprw fill-inodes $m i | tee /tmp/inodes.out
expect_eq "$(sed -n 's/^xiprw: created \([0-9]*\) files.*/\1/p' /tmp/inodes.out)" "$i0" "files created until ENOSPC"
statfs
expect_eq "$ffree" 0 "free inodes after filling"
must_fail "mkdir without inodes" "$nospace" mkdir $m/d
must_fail "symlink without inodes" "$nospace" ln -s x $m/l
must_fail "mknod without inodes" "$nospace" mknod $m/fifo p
must_fail "creating a file without inodes" "$nospace" touch $m/one-more
run ln $m/keep $m/keep-link
expect_eq "$(st $m/keep nlink)" 2 "link count of a hard link made without free inodes"
run xiprw check $m/keep 0 20000 8
run rm $m/i-0
: >$m/one-more || fail "creating a file after deleting one"
must_fail "creating a second one" "$nospace" touch $m/two-more
rw_umount
rw_mount
run xiprw check $m/keep-link 0 20000 8
expect_eq "$(ls $m | grep -c '^i-')" $((i0 - 1)) "files left after the remount"
rw_umount

# --- Reserved blocks.
# reserve_check WHO UID GIDS EXPECT: user UID (groups GIDS) fills the filesystem in
# 4 KiB writes; EXPECT=reserved: ENOSPC with the reserved blocks still free (then root
# takes them); EXPECT=all: the user fills them too.
reserve_check() {
	xiprw as "$2" "$3" xiprw fill $m/pub/by-$2 --tag 9 --chunk 4096 | tee /tmp/user.out
	grep -q '^xiprw: all [0-9]* bytes read back' /tmp/user.out || fail "$1 could not fill the filesystem cleanly"
	statfs
	echo "$1: ENOSPC with $free free blocks, $avail available; $r reserved"
	if [ "$4" = reserved ]; then
		# (ext2 checks its approximate free count before allocating a data block with
		# its indirect blocks: it may go a few blocks into the reserve.)
		[ "$free" -ge $((r - 8)) ] && [ "$free" -le $((r + 2)) ] ||
			fail "$1 got ENOSPC with $free free blocks, $r of them reserved"
		[ "$avail" -le 2 ] || fail "f_bavail is $avail after $1 got ENOSPC"
		xiprw fill $m/by-root --tag 10 | tee /tmp/root.out
		_n=$(filled /tmp/root.out)
		[ "$_n" -ge $(((r - 8) * 4096)) ] || fail "root wrote only $_n bytes into $r reserved blocks"
		statfs
		[ "$free" -le 2 ] || fail "root got ENOSPC with $free free blocks"
		run xiprw check $m/by-root 0 "$_n" 10
		run rm $m/by-root
	else
		[ "$free" -le 2 ] || fail "$1 got ENOSPC with $free free blocks: the reserved blocks were refused"
	fi
	run xiprw check $m/pub/by-$2 0 "$(filled /tmp/user.out)" 9
	run rm $m/pub/by-$2
}
rw_mkfs 16 -m 10
r=$(sb_field 'Reserved block count')
echo "$r reserved blocks"
[ "$r" -gt 300 ] || fail "mke2fs -m 10 reserved $r blocks"
rw_mount
mkdir $m/pub
chmod 1777 $m/pub
reserve_check "user 1000" 1000 1000 reserved
rw_umount
run tune2fs -u 1000 $dev
fsck_clean $dev
rw_mount
reserve_check "user 1000 (resuid)" 1000 1000 all
reserve_check "user 1001 (not resuid)" 1001 1001 reserved
rw_umount
run tune2fs -u 0 -g 2000 $dev
fsck_clean $dev
rw_mount
reserve_check "user 3000 in group 2000 (resgid)" 3000 3000,2000 all
reserve_check "user 3001 (not in group 2000)" 3001 3001 reserved
rw_umount

# --- Files of 2 MiB or more start on a 2 MiB aligned block: written in one write(),
# in 64 KiB writes (as cp does), or fallocated; small files between them.
rw_mkfs 64
rw_mount
run xiprw write $m/small 0 5000 11
run xiprw write $m/big4 0 4194304 12 --chunk 4194304
run xiprw write $m/small2 0 5000 11
run xiprw write $m/big2 0 2097152 13 --chunk 2097152
run xiprw write $m/small3 0 5000 11
run xiprw write $m/cp4 0 4194304 14 --chunk 65536
files="big4 big2 cp4"
if [ "$XFS_TYPE" != ext2 ]; then
	run xiprw write $m/small4 0 5000 11
	run xiprw fallocate $m/fa3 0 0 3145728
	files="$files fa3"
fi
rw_umount
bad=
for f in $files; do
	b0=$(debugfs -R "bmap /$f 0" $dev 2>/dev/null)
	b511=$(debugfs -R "bmap /$f 511" $dev 2>/dev/null)
	echo "$f: block 0 at $b0 ($((b0 % 512)) past a 2 MiB boundary), block 511 at $b511"
	if [ $((b0 % 512)) != 0 ]; then
		bad="$bad $f (first block $b0 not 2 MiB aligned)"
	elif [ "$b511" != $((b0 + 511)) ]; then
		bad="$bad $f (first 2 MiB not contiguous: block 511 at $b511)"
	fi
done
if xipfs_only "2 MiB alignment of files of 2 MiB or more"; then
	[ -z "$bad" ] || fail "files of 2 MiB or more not starting on a free 2 MiB aligned run:$bad"
fi
rw_mount ro
run xiprw check $m/big4 0 4194304 12
run xiprw check $m/big2 0 2097152 13
run xiprw check $m/cp4 0 4194304 14
rw_umount
rw_release
exit 0
