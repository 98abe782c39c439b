# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Mounting a read-write xipfs, and the superblock state it keeps (issue items 7 and 8):
# - read-write is the default (/proc/mounts: rw, relatime, and dax for xipfs);
# - a read-only mount writes nothing: the image is byte for byte the same afterwards,
#   writes get EROFS;
# - s_state: "not clean" while mounted read-write (dumpe2fs -h, read from the device),
#   "clean" after umount and after remount,ro; the mount count grows by one per
#   read-write mount and remount,rw (not for read-only ones), s_wtime moves, s_lastcheck
#   does not;
#   e2fsck -fn finds the mounted filesystem consistent after sync;
# - remount,ro is refused with EBUSY while a file is open for writing (and while a
#   removed file is still open), leaving the mount read-write; then it works, and
#   remount,rw again;
# - an unknown read-only-compatible feature: a read-write mount (one mount(2) call) fails
#   with one kernel log line, a read-only one works, remount,rw is refused;
# - errors=continue, errors=remount-ro, errors=panic are accepted and shown (continue may
#   be left out where it is the image's default); a corrupt directory block found by a
#   create gives EUCLEAN (xipfs; the kernel's ext2 says EIO) with a log line naming the
#   directory's inode, and then errors=continue stays read-write while errors=remount-ro
#   turns read-only, as does the image's s_errors without errors=; on xipfs a corrupt
#   indirect block found by a write past the end the same (the kernel's ext2 does not
#   check it);
# - an image that was not cleanly unmounted (a copy of a mounted one) mounts with a
#   warning in the kernel log, and reads and writes as before.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
T0=$(date +%s)
m=/mnt/x
st() { xiprw stat "$1" "$2"; }
# mounted_opts: the options /proc/mounts shows for /mnt/x, comma-framed.
mounted_opts() { awk -v m=$m '$2 == m { print "," $4 "," }' /proc/mounts; }
# sb_u32 OFFSET: the little-endian 32-bit field at OFFSET of the superblock, read from the
# device (s_mtime 44, s_wtime 48, s_lastcheck 64).
sb_u32() {
	blockdev --flushbufs $dev || fail "blockdev --flushbufs $dev"
	od -A n -t u4 -j $((1024 + $1)) -N 4 $dev | tr -d ' '
}
# image_sum: sha256 of the filesystem's 64 MiB.
image_sum() { head -c 67108864 $dev | sha256sum; }
must_fail() {
	_what=$1 _text=$2
	shift 2
	if "$@" >/tmp/out 2>&1; then fail "$_what: '$*' succeeded"; fi
	grep -q "$_text" /tmp/out || { cat /tmp/out; fail "$_what: '$*' did not fail with '$_text'"; }
}
# one_log MARK: exactly one new kernel log line of the filesystem since MARK; prints it.
one_log() {
	dmesg_since "$1" | grep -E "$(fs_log)" >/tmp/log.out
	cat /tmp/log.out
	expect_eq "$(wc -l </tmp/log.out)" 1 "kernel log lines of $XFS_TYPE about it"
}

rw_mkfs 64
rw_mount
echo hello >$m/hello
run xiprw write $m/data 0 300000 1
rw_umount
# A known s_lastcheck (2001) and s_mtime, to see what changes.
run debugfs -w -R "ssv lastcheck @978307200" $dev
run debugfs -w -R "ssv mtime @978307200" $dev
fsck_clean $dev
expect_eq "$(sb_field 'Filesystem state')" clean "s_state of the new image"
count0=$(sb_field 'Mount count')
expect_eq "$(sb_u32 64)" 978307200 "s_lastcheck set by debugfs"
expect_eq "$(sb_u32 44)" 978307200 "s_mtime set by debugfs"

# --- Read-only: nothing written.
sum0=$(image_sum)
rw_mount ro
echo "/proc/mounts: $(grep " $m " /proc/mounts)"
mounted_opts | grep -q ',ro,' || fail "not mounted read-only with -o ro"
expect_eq "$(cat $m/hello)" hello "a file on the read-only mount"
run xiprw check $m/data 0 300000 1
expect_eq "$(sb_field 'Filesystem state')" clean "s_state while mounted read-only"
must_fail "a write on a read-only mount" "Read-only file system" touch $m/new
must_fail "a write on a read-only mount" "Read-only file system" rm $m/hello
run umount $m
expect_eq "$(image_sum)" "$sum0" "the image after a read-only mount (not byte for byte the same)"
expect_eq "$(sb_field 'Mount count')" "$count0" "mount count after a read-only mount"

# --- Read-write is the default.
mark=$(dmesg_mark)
rw_mount
echo "/proc/mounts: $(grep " $m " /proc/mounts)"
mounted_opts | grep -q ',rw,' || fail "not mounted read-write by default"
mounted_opts | grep -q ',relatime,' || fail "not relatime by default"
if [ "$XFS_TYPE" = xipfs ]; then
	mounted_opts | grep -q ',dax[,=]' || fail "/proc/mounts does not show dax"
fi
dmesg_since "$mark" | grep -E "$(fs_log)" | grep -vi dax | grep -Eiq 'warn|error|unchecked' &&
	{ dmesg_since "$mark"; fail "a warning mounting a clean image"; }
expect_eq "$(sb_field 'Filesystem state')" "not clean" "s_state while mounted read-write"
expect_eq "$(sb_field 'Mount count')" $((count0 + 1)) "mount count while mounted read-write"
echo more >>$m/hello
run xiprw write $m/data2 0 100000 2
mkdir $m/dir
# After sync, e2fsck -fn finds the mounted filesystem consistent.
fsck_clean_mounted $dev
rw_umount
expect_eq "$(sb_field 'Filesystem state')" clean "s_state after umount"
expect_eq "$(sb_field 'Mount count')" $((count0 + 1)) "mount count after umount"
expect_eq "$(sb_u32 64)" 978307200 "s_lastcheck after a read-write mount"
echo "s_wtime $(sb_u32 48), s_mtime $(sb_u32 44) (the test started at $T0)"
[ "$(sb_u32 48)" -ge $((T0 - 1)) ] || fail "s_wtime not updated by a read-write mount"

# --- remount,ro: refused while a file is open for writing, or an unlinked file is open.
rw_mount
exec 3>>$m/hello
run xiprw mount - $m - remount,ro - --expect EBUSY
mounted_opts | grep -q ',rw,' || fail "not read-write after a refused remount,ro"
echo written-while-refused >&3
exec 3>&-
expect_eq "$(tail -n 1 $m/hello)" written-while-refused "a write through the file kept open"
exec 4<$m/data2
rm $m/data2
run xiprw mount - $m - remount,ro - --expect EBUSY
exec 4<&-
count1=$(sb_field 'Mount count')
run xiprw mount - $m - remount,ro -
mounted_opts | grep -q ',ro,' || fail "not read-only after remount,ro"
expect_eq "$(sb_field 'Filesystem state')" clean "s_state after remount,ro"
must_fail "a write after remount,ro" "Read-only file system" touch $m/new
run mount -o remount,rw $m
mounted_opts | grep -q ',rw,' || fail "not read-write after remount,rw"
expect_eq "$(sb_field 'Filesystem state')" "not clean" "s_state after remount,rw"
expect_eq "$(sb_field 'Mount count')" $((count1 + 1)) "mount count after remount,rw"
echo after-remount >$m/new
rw_umount
rw_mount ro
expect_eq "$(cat $m/new)" after-remount "a file written after remount,rw"
[ -e $m/data2 ] && fail "a file removed while open is still there"
run umount $m

# --- An unknown read-only-compatible feature: read-only mounts only.
ro=$(od -A n -t u4 -j 1124 -N 4 $dev | tr -d ' ')
run debugfs -w -R "ssv feature_ro_compat $((ro | 0x4000))" $dev
mark=$(dmesg_mark)
run xiprw mount $dev $m "$XFS_TYPE" - "$(rw_opts)" --expect fail
grep -q " $m " /proc/mounts && fail "mounted read-write with an unknown ro_compat feature"
if xipfs_only "the one-line reason for the refused read-write mount"; then
	one_log "$mark"
else
	dmesg_since "$mark" | grep -E "$(fs_log)"
fi
# busybox mount may retry read-only by itself: never read-write.
if mount -t "$XFS_TYPE" ${XFS_OPTS:+-o "$XFS_OPTS"} $dev $m 2>/dev/null; then
	mounted_opts | grep -q ',ro,' || fail "mount without options mounted read-write with an unknown ro_compat feature"
	run umount $m
fi
rw_mount ro
expect_eq "$(head -n 1 $m/hello)" hello "a file of the image with an unknown ro_compat feature"
run xiprw mount - $m - remount - --expect fail
mounted_opts | grep -q ',ro,' || fail "remount,rw succeeded with an unknown ro_compat feature"
run umount $m
run debugfs -w -R "ssv feature_ro_compat $ro" $dev
fsck_clean $dev

# --- errors=: accepted and shown (errors=continue, the image's default s_errors here, may
# be left out; no other errors= may be shown then).
for e in continue remount-ro panic; do
	rw_mount errors=$e
	echo "errors=$e: $(grep " $m " /proc/mounts)"
	if ! mounted_opts | grep -q ",errors=$e,"; then
		[ $e = continue ] && ! mounted_opts | grep -q ',errors=' ||
			{ grep " $m " /proc/mounts; fail "errors=$e not in /proc/mounts"; }
	fi
	run umount $m
done
# On an image whose default is remount-ro (tune2fs -e), errors=continue is not the default.
run tune2fs -e remount-ro $dev
rw_mount errors=continue
mounted_opts | grep -q ',errors=continue,' || { grep " $m " /proc/mounts; fail "errors=continue not in /proc/mounts on an image with s_errors remount-ro"; }
run umount $m
run tune2fs -e continue $dev
fsck_clean $dev

# --- Corrupt metadata found while writing: errors=continue and errors=remount-ro.
# corrupt_dir [MKE2FS_OPTION...]: make /c a directory of three files whose block then gets
# a zero rec_len in its third entry (the first file's); sets $cino.
corrupt_dir() {
	rw_mkfs 16 "$@"
	rw_mount
	mkdir $m/c
	for f in aaa bbb ccc; do echo $f >$m/c/$f; done
	run xiprw write $m/other 0 10000 3
	cino=$(st $m/c ino)
	rw_umount
	_b=$(debugfs -R "bmap /c 0" $dev 2>/dev/null)
	[ -n "$_b" ] && [ "$_b" -gt 0 ] || fail "no block for /c"
	printf '\000\000' | dd of=$dev bs=1 seek=$((_b * 4096 + 28)) conv=notrunc,fsync 2>/dev/null
	e2fsck -fn $dev >/tmp/fsck.out 2>&1 && { cat /tmp/fsck.out; fail "e2fsck did not see the corrupt directory"; }
}
if [ "$XFS_TYPE" = xipfs ]; then corrupt=EUCLEAN; else corrupt='EIO|EUCLEAN'; fi
# names_inode MARK INO: a new kernel log line of the filesystem names inode INO.
names_inode() {
	dmesg_since "$1" | grep -E "$(fs_log)" | grep -E "(inode |#)$2([^0-9]|\$)" ||
		{ dmesg_since "$1"; fail "no kernel log line naming inode $2"; }
}
corrupt_dir
rw_mount errors=continue
mark=$(dmesg_mark)
run xiprw write $m/c/new 0 10 4 --expect "$corrupt"
names_inode "$mark" "$cino"
mounted_opts | grep -q ',rw,' || fail "errors=continue: not read-write after the error"
run xiprw write $m/other 0 10000 5
run xiprw check $m/other 0 10000 5
run umount $m
corrupt_dir
rw_mount errors=remount-ro
mark=$(dmesg_mark)
run xiprw write $m/c/new 0 10 4 --expect "$corrupt"
names_inode "$mark" "$cino"
mounted_opts | grep -q ',ro,' || { grep " $m " /proc/mounts; fail "errors=remount-ro: still read-write after the error"; }
must_fail "a write after errors=remount-ro acted" "Read-only file system" touch $m/after
run xiprw check $m/other 0 10000 3
run umount $m
# Without errors=, the image's s_errors decides (mke2fs -e remount-ro).
corrupt_dir -e remount-ro
rw_mount
mark=$(dmesg_mark)
run xiprw write $m/c/new 0 10 4 --expect "$corrupt"
names_inode "$mark" "$cino"
mounted_opts | grep -q ',ro,' || { grep " $m " /proc/mounts; fail "s_errors remount-ro: still read-write after the error"; }
run umount $m
if xipfs_only "a corrupt indirect block found by a write (the kernel's ext2 does not check block numbers)"; then
	for e in continue remount-ro; do
		rw_mkfs 16
		rw_mount
		run xiprw write $m/f 0 53248 6
		fino=$(st $m/f ino)
		rw_umount
		ind=$(debugfs -R "stat /f" $dev 2>/dev/null | sed -n 's/.*(IND):\([0-9]*\).*/\1/p')
		[ -n "$ind" ] || fail "no indirect block for /f"
		# Entry 5 of the indirect block (file block 17, past the end): a block number
		# past the end of the filesystem.
		printf '\360\377\377\377' | dd of=$dev bs=1 seek=$((ind * 4096 + 20)) conv=notrunc,fsync 2>/dev/null
		rw_mount errors=$e
		mark=$(dmesg_mark)
		run xiprw check $m/f 0 53248 6
		run xiprw write $m/f 69632 100 7 --expect EUCLEAN
		names_inode "$mark" "$fino"
		if [ $e = continue ]; then
			mounted_opts | grep -q ',rw,' || fail "errors=continue: not read-write after the error"
			run xiprw write $m/g 0 100 8
		else
			mounted_opts | grep -q ',ro,' || fail "errors=remount-ro: still read-write after the error"
		fi
		run umount $m
	done
fi

# --- An image that was not cleanly unmounted: mounts with a warning.
rw_mkfs 64
rw_mount
echo kept >$m/kept
run xiprw write $m/data 0 200000 9
sync
blockdev --flushbufs $dev
# A copy of the mounted filesystem, as a crash would leave it.
run dd if=$dev of=/tmp/unclean.img bs=1M count=64 2>/dev/null
rw_umount
run dd if=/tmp/unclean.img of=$dev bs=1M conv=fsync 2>/dev/null
rm /tmp/unclean.img
expect_eq "$(sb_field 'Filesystem state')" "not clean" "s_state of the copy of a mounted filesystem"
fsck_clean $dev
mark=$(dmesg_mark)
rw_mount
dmesg_since "$mark" | grep -E "$(fs_log)" | grep -vi dax | grep -Ei 'warn|unchecked|not clean|e2fsck|fsck' ||
	{ dmesg_since "$mark"; fail "no warning in the kernel log mounting an image that was not cleanly unmounted"; }
expect_eq "$(cat $m/kept)" kept "a file of the image that was not cleanly unmounted"
run xiprw check $m/data 0 200000 9
echo new >$m/new
rw_umount
rw_release
exit 0
