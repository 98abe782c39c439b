# SPDX-License-Identifier: GPL-2.0
# Corrupt images fail cleanly on xipfs.  tests/guest/xipfs-images.sh (in /data/xipfs-img)
# made a good 1 MiB image and copies of it with one field broken each (superblock,
# group descriptor, root inode, directory entries, block maps, sizes, symlinks, file
# type), and bad.list says what each must give: a refused mount (with the errno),
# a read-only mount, or an operation (`xipmap try`: readdir, walk, lstat, readlink,
# read, mmap) with its outcome: the errno (EUCLEAN "Structure needs cleaning", EIO
# "Input/output error", ...), zeros, or SIGBUS.  Every failure comes with a new kernel
# log line naming xipfs (and the inode, where bad.list names one); nothing oopses,
# WARNs or hangs (vm-run fails the run on those).  Each check runs on a fresh mount;
# all are run, then the failures are counted.
. ./lib.sh

dir=/data/xipfs-img
list=$dir/bad.list
[ -f $list ] || fail "no $list: run tests/guest/xipfs-images.sh on the host and vm-run --add its OUTDIR"
command -v xipmap >/dev/null || fail "xipmap is not on PATH"
need_xipfs

run modprobe xipram size_mib=1
run modprobe xipfs
dev=/dev/xipram0
mkdir -p /mnt/x

# The text strerror() gives for an errno name (empty for others).
errtext() {
	case $1 in
	EINVAL) echo "Invalid argument" ;;
	EUCLEAN) echo "Structure needs cleaning" ;;
	EIO) echo "Input/output error" ;;
	ELOOP) echo "Too many levels of symbolic links" ;;
	EFBIG) echo "File too large" ;;
	*) echo "" ;;
	esac
}

failures=0
checks=0
bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# new_log MARK [INODE]: the kernel logged a line naming xipfs (and "inode INODE")
# since MARK.
new_log() {
	dmesg_since "$1" >/tmp/log.out
	if [ -n "${2:-}" ]; then
		grep xipfs /tmp/log.out | grep -Eq "inode $2([^0-9]|\$)"
	else
		grep -q xipfs /tmp/log.out
	fi || { cat /tmp/log.out; return 1; }
}

exec 4<$list
while read -r name what a b c d <&4; do
	case $name in '#'* | '') continue ;; esac
	checks=$((checks + 1))
	echo "--- $name $what $a ${b:-} ${c:-} ${d:-}"
	img=$dir/$name
	if [ "$(stat -c %s "$img" 2>/dev/null)" != 1048576 ]; then
		bad "$name: missing or not 1 MiB"
		continue
	fi
	if ! dd if="$img" of=$dev bs=1M conv=fsync 2>/dev/null; then
		bad "$name: dd to $dev failed"
		continue
	fi
	mark=$(dmesg_mark)
	if mount -t xipfs -o ro $dev /mnt/x >/tmp/mount.out 2>&1; then mounted=1; else mounted=0; fi
	cat /tmp/mount.out
	case $what in
	mount-fails)
		if [ $mounted = 1 ]; then
			bad "$name: the mount succeeded, expected $a"
		else
			ok=0
			for e in $(echo "$a" | tr '|' ' '); do
				grep -q "$(errtext "$e")" /tmp/mount.out && ok=1
			done
			[ $ok = 1 ] || bad "$name: the mount did not fail with $a"
			new_log "$mark" || bad "$name: refused mount, but no kernel log line naming xipfs"
		fi
		;;
	mount-ok-ro)
		if [ $mounted = 0 ]; then
			bad "$name: the read-only mount failed"
		else
			grep "^$dev /mnt/x xipfs " /proc/mounts | grep -Eq ' ro[, ]' ||
				bad "$name: not mounted read-only"
		fi
		;;
	access)
		# a=OP b=PATH c=EXPECT d=[inode=N]
		if [ $mounted = 0 ]; then
			bad "$name: the read-only mount failed; cannot $a $b"
		else
			if xipmap try "$a" "/mnt/x$b" "$c" >/tmp/try.out 2>&1 </dev/null; then
				cat /tmp/try.out
				if grep -Eq ': (error|SIGBUS|signal|LOOP)' /tmp/try.out; then
					ino=${d#inode=}
					new_log "$mark" $ino ||
						bad "$name: $a $b failed without a kernel log line naming xipfs${ino:+ and inode $ino}"
					# The errno reads as users know it, e.g. "Structure needs cleaning".
					e=$(sed -n 's/.*: error \([A-Za-z0-9]*\) .*/\1/p' /tmp/try.out)
					t=$(errtext "$e")
					if [ -n "$t" ] && ! grep -qF "error $e ($t)" /tmp/try.out; then
						bad "$name: $a $b: $e is not reported as '$t'"
					fi
				fi
			else
				cat /tmp/try.out
				bad "$name: $a $b: not the outcome bad.list expects ($c)"
			fi
		fi
		;;
	*)
		bad "$name: unknown expectation '$what' in bad.list"
		;;
	esac
	if grep -q ' /mnt/x ' /proc/mounts; then
		umount /mnt/x || bad "$name: umount failed"
	fi
	# The good image must still be good: the mounts changed nothing.
	if [ "$name" = small.img ]; then
		e2fsck -fn $dev >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; bad "$name: e2fsck -fn not clean after the mount"; }
	fi
done
exec 4<&-

# A fresh mount of the good image works after all that.
run dd if=$dir/small.img of=$dev bs=1M conv=fsync 2>/dev/null
run mount -t xipfs -o ro $dev /mnt/x
run xipmap try find /mnt/x/ ok
run umount /mnt/x
fsck_clean $dev
run rmmod xipfs
run rmmod xipram
echo "$checks checks, $failures failed"
[ $failures -eq 0 ] || fail "$failures of $checks corrupt-image checks failed"
exit 0
