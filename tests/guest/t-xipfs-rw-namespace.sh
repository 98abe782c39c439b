# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: names, links and attributes are the same code in both models, and it takes
# about 2 minutes; the devmap pass runs the tests that map, write and fault.)
# Namespace and attributes on a read-write xipfs (issue item 5), each checked through
# lstat (xiprw stat: inode, type, mode, owner, link count, size, blocks, times with
# nanoseconds, rdev), again after umount and mount, and with e2fsck -fn clean after every
# umount:
# - create, mkdir (link counts, `..`), mknod of FIFOs, character and block devices (old and
#   new dev_t encodings) and sockets, fast and slow symlinks (up to 4095 bytes), link,
#   unlink (an open unlinked file keeps its data, its blocks come back on close), rmdir
#   (ENOTEMPTY unless empty), names of 255 bytes (256: ENAMETOOLONG), a directory of
#   2000 entries thinned out;
# - rename over an existing file (its inode freed), over an empty directory (not a full
#   one: ENOTEMPTY; EISDIR, ENOTDIR, EINVAL into itself), across directories with `..`
#   and both parents' link counts fixed, links of one inode onto each other (nothing
#   happens); RENAME_NOREPLACE (EEXIST); RENAME_EXCHANGE of a file and a directory in two
#   directories; RENAME_WHITEOUT done or refused cleanly (the kernel's ext2 refuses
#   EXCHANGE and WHITEOUT: under XFS_TYPE=ext2 their checks run on tmpfs);
# - parent directories' mtime moves on every change of their entries;
# - chmod, chown (32-bit ids), utimensat with nanoseconds (kept on disk in 256-byte
#   inodes; not with 128-byte inodes), UTIME_NOW and UTIME_OMIT, times before 1970 and at
#   the end of 2038;
# - setuid and setgid cleared as the VFS wants: on a write or truncate by a non-root user
#   (root keeps them; setgid without group execute only when the writer is not in the
#   group), on chown (setgid only with group execute; not on directories); setgid
#   directories pass their group (and setgid to subdirectories);
# - statfs free block and inode counts exact and live (no sync) across create, mkdir,
#   write, unlink, rmdir, and f_bavail = f_bfree - reserved blocks;
# - atime: relatime by default (updated when not newer than mtime or ctime, not when
#   newer and recent), noatime (never), strictatime (always), kept on disk;
# - directories indexed by mke2fs -d and e2fsck -D (dir_index, htree) stay consistent for
#   e2fsck after entries are added, removed, renamed and replaced.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
T0=$(date +%s)
m=/mnt/x
umask 022

st() { xiprw stat "$1" "$2"; }
# expect_st PATH FIELD=VALUE...: lstat fields of PATH.
expect_st() {
	_p=$1
	shift
	for _kv in "$@"; do
		expect_eq "$(st "$_p" "${_kv%%=*}")" "${_kv#*=}" "$_p: ${_kv%%=*}"
	done
}
# old PATH: atime and mtime of PATH (not following symlinks) set to 2001, so that an
# update shows without depending on the clock's resolution.
old() { run xiprw utimens "$1" 1000000000.0 1000000000.0 --nofollow; }
# moved PATH FIELD...: each time FIELD of PATH was set during the test.
moved() {
	_p=$1
	shift
	for _f in "$@"; do
		_t=$(st "$_p" "$_f")
		[ "${_t%%.*}" -ge $((T0 - 1)) ] || fail "$_p: $_f is $_t, not updated (the test started at $T0)"
	done
}
ino() { st "$1" ino; }
# must_fail WHAT TEXT CMD...: the command fails with a message holding TEXT.
must_fail() {
	_what=$1 _text=$2
	shift 2
	if "$@" >/tmp/out 2>&1; then fail "$_what: '$*' succeeded"; fi
	grep -q "$_text" /tmp/out || { cat /tmp/out; fail "$_what: '$*' did not fail with '$_text'"; }
}
# ns TIME: TIME as the filesystem under test keeps it: with its nanoseconds on xipfs
# (256-byte inodes), in whole seconds on the kernel's ext2 (1 s granularity).
ns() {
	if [ "$XFS_TYPE" = xipfs ]; then echo "$1"; else echo "${1%%.*}.000000000"; fi
}
# statfs: sets total, free, avail, files, ffree from statfs(2).
statfs() { set -- $(stat -f -c '%b %f %a %c %d' $m); total=$1 free=$2 avail=$3 files=$4 ffree=$5; }

rw_mkfs 64
rw_mount
grep -q " $m $XFS_TYPE rw[, ]" /proc/mounts || { cat /proc/mounts; fail "not mounted read-write by default"; }

# --- create, mkdir, and what they do to the parent.
mkdir $m/d
old $m/d
: >$m/d/f
expect_st $m/d/f type=file mode=0644 uid=0 gid=0 nlink=1 size=0 blocks=0
moved $m/d/f mtime ctime atime
moved $m/d mtime
expect_st $m/d nlink=2 type=dir mode=0755 size=4096 blocks=8
old $m/d
mkdir -m 0750 $m/d/sub
expect_st $m/d/sub type=dir mode=0750 nlink=2 size=4096 blocks=8
expect_st $m/d nlink=3
expect_eq "$(ino $m/d/sub/..)" "$(ino $m/d)" "$m/d/sub/.."
expect_eq "$(ino $m/d/sub/.)" "$(ino $m/d/sub)" "$m/d/sub/."
moved $m/d mtime
expect_st $m nlink=4

# --- mknod: FIFO, devices, socket.
old $m/d
run mknod $m/d/fifo p
run mknod -m 0620 $m/d/chr c 4 64
run mknod $m/d/chrbig c 300 70000
run mknod -m 0660 $m/d/blk b 8 1
run mknod $m/d/blkbig b 259 65536
run xiprw mksock $m/d/sock
expect_st $m/d/fifo type=fifo mode=0644 rdev=0:0 size=0 blocks=0
expect_st $m/d/chr type=chr mode=0620 rdev=4:64
expect_st $m/d/chrbig type=chr rdev=300:70000
expect_st $m/d/blk type=blk mode=0660 rdev=8:1
expect_st $m/d/blkbig type=blk rdev=259:65536
expect_st $m/d/sock type=sock blocks=0
moved $m/d mtime
# A FIFO on the filesystem works as one.
( echo through-the-fifo >$m/d/fifo & )
expect_eq "$(cat $m/d/fifo)" through-the-fifo "data through the FIFO"

# --- symlinks: fast (up to 59 bytes, in the inode) and slow (a block).
target() { awk -v n="$1" 'BEGIN { s = "t/"; while (length(s) < n) s = s "abcdefghij/"; print substr(s, 1, n) }'; }
t59=$(target 59) t60=$(target 60) t4095=$(target 4095)
ln -s "$t59" $m/d/fast
ln -s "$t60" $m/d/slow60
ln -s "$t4095" $m/d/slow4095
ln -s ../f $m/d/sub/rel
expect_eq "$(readlink $m/d/fast)" "$t59" "fast symlink target"
expect_eq "$(readlink $m/d/slow60)" "$t60" "slow symlink target (60)"
expect_eq "$(readlink $m/d/slow4095)" "$t4095" "slow symlink target (4095)"
expect_st $m/d/fast type=symlink size=59 blocks=0 mode=0777
expect_st $m/d/slow60 type=symlink size=60 blocks=8
expect_st $m/d/slow4095 type=symlink size=4095 blocks=8
echo via-link >$m/d/sub/rel
expect_eq "$(cat $m/d/f)" via-link "a write through a relative symlink"
must_fail "a symlink of 4096 bytes" "too long" ln -s "$(target 4096)" $m/d/toolong

# --- link and unlink.
old $m/d/sub
ln $m/d/f $m/d/sub/f2
expect_eq "$(ino $m/d/sub/f2)" "$(ino $m/d/f)" "a hard link's inode"
expect_st $m/d/f nlink=2
moved $m/d/sub mtime
must_fail "a hard link to a directory" "not permitted" ln $m/d/sub $m/d/dirlink
run rm $m/d/sub/f2
expect_st $m/d/f nlink=1
expect_eq "$(cat $m/d/f)" via-link "the file after unlinking its other name"
# An unlinked file that is still open keeps its data; its blocks return on close.
statfs
f0=$free i0=$ffree
run xiprw write $m/d/open 0 1048576 3
exec 5<$m/d/open
run rm $m/d/open
[ -e $m/d/open ] && fail "$m/d/open still there after rm"
run xiprw check /proc/$$/fd/5 0 1048576 3
statfs
expect_eq $((f0 - free)) 257 "free blocks while an unlinked file is open"
exec 5<&-
statfs
expect_eq "$free" "$f0" "free blocks after the unlinked file was closed"
expect_eq "$ffree" "$i0" "free inodes after the unlinked file was closed"

# --- rmdir.
must_fail "rmdir of a non-empty directory" "not empty" rmdir $m/d
mkdir $m/d/empty
expect_st $m/d nlink=4
old $m/d
run rmdir $m/d/empty
expect_st $m/d nlink=3
moved $m/d mtime
[ -e $m/d/empty ] && fail "$m/d/empty still there"

# --- Names: 255 bytes, not 256.
n255=$(awk 'BEGIN { for (i = 0; i < 255; i++) printf "n" }')
echo long >"$m/d/$n255"
expect_eq "$(cat "$m/d/$n255")" long "a file with a 255-byte name"
must_fail "a 256-byte name" "too long" touch "$m/d/${n255}x"

# --- rename.
mkdir $m/A $m/B
echo a >$m/A/x
echo b >$m/A/y
ix=$(ino $m/A/x)
statfs
i0=$ffree
old $m/A
run xiprw rename $m/A/x $m/A/y
expect_eq "$(ino $m/A/y)" "$ix" "the renamed file's inode"
expect_eq "$(cat $m/A/y)" a "the renamed file's data"
[ -e $m/A/x ] && fail "$m/A/x still there after rename"
statfs
expect_eq $((ffree - i0)) 1 "free inodes after a rename over a file (its inode freed)"
moved $m/A mtime
# Over an empty directory, across directories; into a full one, no.
mkdir -p $m/A/dir/inner $m/B/empty $m/B/full/x
echo in >$m/A/dir/inner/file
idir=$(ino $m/A/dir)
expect_st $m/A nlink=3
expect_st $m/B nlink=4
old $m/A
old $m/B
run xiprw rename $m/A/dir $m/B/full --expect "ENOTEMPTY|EEXIST"
run xiprw rename $m/A/y $m/B/empty --expect EISDIR
run xiprw rename $m/B/empty $m/A/y --expect ENOTDIR
run xiprw rename $m/A/dir $m/A/dir/inner/deeper --expect EINVAL
run xiprw rename $m/A/dir $m/B/empty
expect_eq "$(ino $m/B/empty)" "$idir" "the directory renamed over an empty one"
expect_eq "$(ino $m/B/empty/..)" "$(ino $m/B)" "'..' of a directory moved to another parent"
expect_eq "$(ino $m/B/empty/inner/..)" "$idir" "'..' of its subdirectory"
expect_eq "$(cat $m/B/empty/inner/file)" in "a file inside the moved directory"
expect_st $m/A nlink=2
expect_st $m/B nlink=4
moved $m/A mtime
moved $m/B mtime
# A directory to a new name in another directory.
run xiprw rename $m/B/full $m/A/full2
expect_st $m/A nlink=3
expect_st $m/B nlink=3
expect_eq "$(ino $m/A/full2/..)" "$(ino $m/A)" "'..' after a move to a new name"
expect_eq "$(ino $m/A/full2/x/..)" "$(ino $m/A/full2)" "'..' of the moved directory's child"
# Two names of one inode: renaming one onto the other changes nothing.
ln $m/A/y $m/A/y2
run xiprw rename $m/A/y $m/A/y2
[ -e $m/A/y ] && [ -e $m/A/y2 ] || fail "rename between two links of one inode removed a name"
expect_st $m/A/y nlink=2
run rm $m/A/y2
# RENAME_NOREPLACE.
echo c >$m/A/c
run xiprw rename $m/A/c $m/A/y noreplace --expect EEXIST
expect_eq "$(cat $m/A/y)" a "the target of a refused RENAME_NOREPLACE"
expect_eq "$(cat $m/A/c)" c "the source of a refused RENAME_NOREPLACE"
run xiprw rename $m/A/c $m/B/c2 noreplace
expect_eq "$(cat $m/B/c2)" c "a file moved with RENAME_NOREPLACE"
[ -e $m/A/c ] && fail "$m/A/c still there after RENAME_NOREPLACE"

# exchange_checks DIR: RENAME_EXCHANGE of a file and a directory in two directories, and
# RENAME_WHITEOUT, in DIR.
exchange_checks() {
	_d=$1
	mkdir -p "$_d/P" "$_d/Q/dd/sub"
	echo file-in-P >"$_d/P/ff"
	_if=$(ino "$_d/P/ff") _id=$(ino "$_d/Q/dd")
	expect_st "$_d/P" nlink=2
	expect_st "$_d/Q" nlink=3
	run xiprw rename "$_d/P/ff" "$_d/Q/dd" exchange
	expect_eq "$(ino "$_d/P/ff")" "$_id" "$_d/P/ff after the exchange"
	expect_eq "$(ino "$_d/Q/dd")" "$_if" "$_d/Q/dd after the exchange"
	expect_st "$_d/P/ff" type=dir
	expect_st "$_d/Q/dd" type=file
	expect_eq "$(cat "$_d/Q/dd")" file-in-P "the exchanged file's data"
	expect_eq "$(ino "$_d/P/ff/..")" "$(ino "$_d/P")" "'..' of the exchanged directory"
	expect_eq "$(ino "$_d/P/ff/sub/..")" "$_id" "'..' of its subdirectory"
	expect_st "$_d/P" nlink=3
	expect_st "$_d/Q" nlink=2
	run xiprw rename "$_d/P/ff" "$_d/Q/nothing" exchange --expect ENOENT
	# RENAME_WHITEOUT: done (a whiteout, character device 0:0, at the old name) or refused
	# with nothing changed.
	echo w >"$_d/P/w"
	_iw=$(ino "$_d/P/w")
	run xiprw rename "$_d/P/w" "$_d/Q/w2" whiteout --expect 'ok|EINVAL|EOPNOTSUPP|EPERM'
	if [ -e "$_d/Q/w2" ]; then
		expect_st "$_d/P/w" type=chr rdev=0:0
		expect_eq "$(ino "$_d/Q/w2")" "$_iw" "the file moved with RENAME_WHITEOUT"
	else
		expect_eq "$(ino "$_d/P/w")" "$_iw" "the source of a refused RENAME_WHITEOUT"
		expect_st "$_d/P/w" type=file
	fi
}
if [ "$XFS_TYPE" = ext2 ]; then
	echo x >$m/A/ex1
	mkdir $m/A/ex2
	run xiprw rename $m/A/ex1 $m/A/ex2 exchange --expect EINVAL
	echo "SKIP under ext2: RENAME_EXCHANGE (EINVAL); its checks run on tmpfs instead"
	mkdir -p /mnt/t
	run mount -t tmpfs tmpfs /mnt/t
	exchange_checks /mnt/t
	run umount /mnt/t
	rm -r $m/A/ex1 $m/A/ex2
else
	exchange_checks $m
fi
run xiprw tree-check $m

# --- chmod, chown.
echo perm >$m/p
run chown 123456:654321 $m/p
expect_st $m/p uid=123456 gid=654321
run chmod 4751 $m/p
expect_st $m/p mode=4751
run chmod 1777 $m/d/sub
expect_st $m/d/sub mode=1777
run chown 4294967294:65536 $m/d/fifo
expect_st $m/d/fifo uid=4294967294 gid=65536
run chown -h 1000:2000 $m/d/fast
expect_st $m/d/fast uid=1000 gid=2000
expect_st $m/d/f uid=0
# chown clears setuid, and setgid when group execute is set; not on directories.
: >$m/s1 && chmod 6755 $m/s1 && chown 1000:1000 $m/s1
expect_st $m/s1 mode=0755 uid=1000
: >$m/s2 && chmod 2745 $m/s2 && chown 1000:1000 $m/s2
expect_st $m/s2 mode=2745
mkdir $m/sd && chmod 2775 $m/sd && chown 1000:1000 $m/sd
expect_st $m/sd mode=2775
# A write or truncate by a non-root user clears setuid and setgid; root's do not.
mkdir $m/w && chmod 0777 $m/w
for f in u1 u2 u3 u4 u5 r1; do echo x >$m/w/$f; done
chmod 6777 $m/w/u1 $m/w/u2 $m/w/r1
chmod 2767 $m/w/u3 $m/w/u4
chmod 4777 $m/w/u5
run xiprw as 1000 1000 xiprw write $m/w/u1 0 10 60
expect_st $m/w/u1 mode=0777
run xiprw as 1000 1000 xiprw truncate $m/w/u2 0
expect_st $m/w/u2 mode=0777
# setgid without group execute: cleared for a writer outside the group, kept for one in it.
run xiprw as 1000 1000 xiprw write $m/w/u3 0 10 61
expect_st $m/w/u3 mode=0767
run xiprw as 1000 1000,0 xiprw write $m/w/u4 0 10 62
expect_st $m/w/u4 mode=2767
run xiprw as 1000 1000 sh -c "echo appended >>$m/w/u5"
expect_st $m/w/u5 mode=0777
run xiprw write $m/w/r1 0 10 63
expect_st $m/w/r1 mode=6777
run xiprw check $m/w/u1 0 10 60
# Files a user creates are the user's; in a setgid directory they take its group, and
# subdirectories its setgid.
run xiprw as 1000 1000 sh -c "echo mine >$m/w/own"
expect_st $m/w/own uid=1000 gid=1000 mode=0644
mkdir $m/sg && chown 0:4242 $m/sg && chmod 2777 $m/sg
run xiprw as 1000 1000 sh -c "echo g >$m/sg/f && mkdir $m/sg/sub"
expect_st $m/sg/f uid=1000 gid=4242 mode=0644
expect_st $m/sg/sub uid=1000 gid=4242 mode=2755
# Permissions are enforced.
must_fail "a user writing a file of mode 4751 that is not theirs" "denied" xiprw as 1000 1000 sh -c "echo no >>$m/p"

# --- Times: nanoseconds, UTIME_OMIT and UTIME_NOW, before 1970, the end of 32 bits.
: >$m/times
run xiprw utimens $m/times 1234567890.123456789 987654321.987654321
expect_st $m/times atime=$(ns 1234567890.123456789) mtime=$(ns 987654321.987654321)
moved $m/times ctime
run xiprw utimens $m/times omit now
expect_st $m/times atime=$(ns 1234567890.123456789)
moved $m/times mtime
run xiprw utimens $m/times 1234567890.123456789 987654321.987654321
: >$m/t1966 && run xiprw utimens $m/t1966 -100000000.000000001 -100000000.5
: >$m/t2038 && run xiprw utimens $m/t2038 2147483647.999999999 2147483647.0
run xiprw utimens $m/d/fast 1111111111.111111111 1222222222.222222222 --nofollow
expect_st $m/d/fast atime=$(ns 1111111111.111111111) mtime=$(ns 1222222222.222222222)

# --- statfs: exact and live counts.
r=$(sb_field 'Reserved block count')
statfs
expect_eq "$avail" $((free - r)) "f_bavail against f_bfree - reserved ($r)"
f0=$free i0=$ffree
: >$m/sf-file
statfs
expect_eq "$free/$ffree" "$f0/$((i0 - 1))" "free blocks/inodes after creating an empty file"
mkdir $m/sf-dir
statfs
expect_eq "$free/$ffree" "$((f0 - 1))/$((i0 - 2))" "free blocks/inodes after a mkdir"
run xiprw write $m/sf-file 0 1048576 64
statfs
expect_eq "$free" "$((f0 - 258))" "free blocks after writing 1 MiB (256 data, 1 indirect) and a directory block"
run rm $m/sf-file
run rmdir $m/sf-dir
statfs
expect_eq "$free/$ffree" "$f0/$i0" "free blocks/inodes after removing them"

# --- A directory of 2000 entries, thinned out.
mkdir $m/many
i=0
while [ $i -lt 2000 ]; do : >"$m/many/entry-number-$i-with-a-longer-name"; i=$((i + 1)); done
expect_eq "$(ls $m/many | wc -l)" 2000 "entries in the big directory"
awk -v d=$m/many 'BEGIN { for (i = 0; i < 2000; i += 2) print d "/entry-number-" i "-with-a-longer-name" }' | xargs rm
i=1
while [ $i -lt 2000 ]; do mv "$m/many/entry-number-$i-with-a-longer-name" "$m/many/r$i"; i=$((i + 4)); done
ls $m/many | sort >/tmp/many.got
{ i=1; while [ $i -lt 2000 ]; do
	if [ $((i % 4)) = 1 ]; then echo "r$i"; else echo "entry-number-$i-with-a-longer-name"; fi
	i=$((i + 2))
done; } | sort >/tmp/many.want
cmp -s /tmp/many.got /tmp/many.want || { diff /tmp/many.want /tmp/many.got | head; fail "the big directory's entries"; }

# --- Persistence: everything above after umount and mount (nanoseconds kept in 256-byte
# inodes: xipfs only, the kernel's ext2 does not store them).
if [ "$XFS_TYPE" = xipfs ]; then ns=--ns; else ns=; fi
# Reading for the listing must not move atimes (relatime would: atime <= ctime).
run mount -o remount,noatime $m
run xiprw tree-list $m $ns --no-atime >/tmp/before.list
rw_umount
rw_mount
# The times first, before the listing below reads the files.
xipfs_only "nanoseconds of 256-byte inodes kept on disk"
expect_st $m/times atime=$(ns 1234567890.123456789) mtime=$(ns 987654321.987654321)
expect_st $m/t1966 atime=$(ns -100000000.000000001) mtime=$(ns -100000000.500000000)
expect_st $m/t2038 atime=$(ns 2147483647.999999999) mtime=2147483647.000000000
expect_st $m/d/fast atime=$(ns 1111111111.111111111) mtime=$(ns 1222222222.222222222)
run xiprw tree-list $m $ns --no-atime >/tmp/after.list
cmp -s /tmp/before.list /tmp/after.list ||
	{ diff /tmp/before.list /tmp/after.list | head -n 20; fail "the tree changed across umount and mount"; }
run xiprw tree-check $m
expect_eq "$(readlink $m/d/slow4095)" "$t4095" "slow symlink target after a remount"
expect_st $m/d/chrbig type=chr rdev=300:70000
expect_st $m/d/blkbig type=blk rdev=259:65536
expect_st $m/d/sock type=sock
expect_st $m/w/u3 mode=0767
expect_st $m/p mode=4751 uid=123456 gid=654321
rw_umount
if xipfs_only "nanoseconds in the inode's extra fields (debugfs)"; then
	# debugfs shows "mtime: 0xSECONDS:EXTRA", EXTRA = nanoseconds << 2 | epoch bits, as
	# ext4 keeps them.
	debugfs -R "stat /times" $dev 2>/dev/null | grep -q ' mtime: 0x3ade68b1:eb79a2c4 ' ||
		{ debugfs -R "stat /times" $dev; fail "debugfs does not show the mtime's nanoseconds"; }
fi

# --- 128-byte inodes have no room for nanoseconds: whole seconds after a remount.
rw_mkfs 16 -I 128
rw_mount
: >$m/times
run xiprw utimens $m/times 1234567890.123456789 987654321.987654321
rw_umount
rw_mount
expect_st $m/times atime=1234567890.000000000 mtime=987654321.000000000
rw_umount

# --- atime.
rw_mkfs 16
rw_mount
echo data >$m/f
mkdir $m/dir
grep " $m $XFS_TYPE " /proc/mounts | grep -q relatime || { cat /proc/mounts; fail "the default mount is not relatime"; }
# relatime: an atime not newer than mtime or ctime is updated...
run xiprw utimens $m/f 1000000100.0 1000000000.0
cat $m/f >/dev/null
moved $m/f atime
a=$(st $m/f atime)
# ... and persists (to the nanosecond on xipfs); one newer than both and less than a day
# old is not.
rw_umount
rw_mount
if [ "$XFS_TYPE" = xipfs ]; then
	expect_st $m/f atime="$a"
else
	expect_eq "$(st $m/f atime | cut -d. -f1)" "${a%%.*}" "atime after a remount"
fi
future=$(($(date +%s) + 3600)).000000000
run xiprw utimens $m/f $future 1000000000.0
cat $m/f >/dev/null
expect_st $m/f atime="$future"
ls $m/dir >/dev/null
rw_umount
# noatime: never.
rw_mount noatime
grep " $m $XFS_TYPE " /proc/mounts | grep -q noatime || { cat /proc/mounts; fail "noatime not in /proc/mounts"; }
run xiprw utimens $m/f 1000000100.0 1000000000.0
run xiprw utimens $m/dir 1000000100.0 1000000000.0
cat $m/f >/dev/null
ls $m/dir >/dev/null
expect_st $m/f atime=1000000100.000000000
expect_st $m/dir atime=1000000100.000000000
rw_umount
# strictatime: always, even over an atime in the future.
rw_mount strictatime
run xiprw utimens $m/f $future 1000000000.0
run xiprw utimens $m/dir $future 1000000000.0
cat $m/f >/dev/null
ls $m/dir >/dev/null
a=$(st $m/f atime)
[ "${a%%.*}" -lt "${future%%.*}" ] || fail "strictatime: atime $a not updated by a read"
moved $m/f atime
moved $m/dir atime
rw_umount

# --- Indexed directories (dir_index, htree) from mke2fs -d stay consistent when changed.
src=/tmp/htree-src
rm -rf $src
mkdir -p $src/add $src/del $src/ren $src/repl $src/keep
for d in add del ren repl keep; do
	i=0
	while [ $i -lt 600 ]; do : >"$src/$d/an-entry-with-a-rather-long-name-$i"; i=$((i + 1)); done
done
rw_mkfs 64 -d $src
e2fsck -fyD $dev >/tmp/fsckD.out 2>&1
[ $? -le 1 ] || { cat /tmp/fsckD.out; fail "e2fsck -fyD could not index the directories"; }
fsck_clean $dev
for d in add del ren repl keep; do
	debugfs -R "stat /$d" $dev 2>/dev/null | grep -q 'Flags: 0x1000' ||
		{ debugfs -R "stat /$d" $dev; fail "/$d is not an indexed directory (no EXT2_INDEX_FL)"; }
done
rw_mount
i=0
while [ $i -lt 500 ]; do : >"$m/add/a-new-entry-with-a-rather-long-name-$i"; i=$((i + 1)); done
awk -v d=$m/del 'BEGIN { for (i = 0; i < 600; i += 3) print d "/an-entry-with-a-rather-long-name-" i }' | xargs rm
i=0
while [ $i -lt 600 ]; do
	mv "$m/ren/an-entry-with-a-rather-long-name-$i" "$m/ren/renamed-$i"
	i=$((i + 5))
done
i=0
while [ $i -lt 300 ]; do
	run xiprw rename "$m/repl/an-entry-with-a-rather-long-name-$i" "$m/repl/an-entry-with-a-rather-long-name-$((i + 300))"
	i=$((i + 7))
done
expect_eq "$(ls $m/add | wc -l)" 1100 "entries of the indexed directory after adding"
expect_eq "$(ls $m/del | wc -l)" 400 "entries of the indexed directory after removing"
expect_eq "$(ls $m/ren | grep -c '^renamed-')" 120 "renamed entries of the indexed directory"
expect_eq "$(ls $m/repl | wc -l)" 557 "entries of the indexed directory after renames over others"
[ -e "$m/del/an-entry-with-a-rather-long-name-1" ] || fail "a kept entry of the indexed directory is gone"
[ -e "$m/del/an-entry-with-a-rather-long-name-3" ] && fail "a removed entry of the indexed directory is there"
[ -e "$m/keep/an-entry-with-a-rather-long-name-599" ] || fail "a lookup in an unchanged indexed directory"
rw_umount
for d in add del ren repl keep; do
	echo "/$d: $(debugfs -R "stat /$d" $dev 2>/dev/null | grep -o 'Flags: 0x[0-9a-f]*')"
done
rw_release
exit 0
