# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: it is about parsing corrupt images, not memory, and its images are loaded
# into a device of exactly their size, which one of them claims to be twice of
# (bad-blocks-count); devmap rounds every device up to whole 128 MiB memory blocks.)
# Corrupt images fail cleanly on xipfs.  tests/guest/xipfs-images.sh (in /data/xipfs-img)
# made a good 1 MiB image and copies of it with one field broken each (superblock,
# group descriptor, root inode, directory entries, block maps, sizes, symlinks, file
# type, blocks shared between files, within a file or with metadata), images with tiny
# block groups (gzip'ed, 64 MiB), and bad.list says what each must give: a refused mount
# (with the errno), a read-only mount, or an operation (`xipmap try`: readdir, walk,
# lstat, readlink, read, mmap) with its outcome: the errno (EUCLEAN "Structure needs
# cleaning", EIO "Input/output error", ...), zeros, or SIGBUS.  Every failure comes with a
# new kernel log line naming xipfs (and the inodes and text bad.list gives); nothing
# oopses, WARNs or hangs (vm-run fails the run on those).  Each check runs on a fresh
# mount, except "then" checks, which continue on the mount of the check before; all are
# run, then the failures are counted.
. ./lib.sh

dir=/data/xipfs-img
list=$dir/bad.list
[ -f $list ] || fail "no $list: run tests/guest/xipfs-images.sh on the host and vm-run --add its OUTDIR"
need_progs xipmap
need_xipfs

run modprobe xipram memory_model=pages size_mib=1
run modprobe xipfs
dev=/dev/xipram0
dev_mib=1
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

# new_log MARK [INODES [REGEX]]: the kernel logged a line naming xipfs since MARK, which
# also names "inode N" for each N of the comma-separated INODES and matches the extended
# REGEX, if given.
new_log() {
	dmesg_since "$1" | grep xipfs >/tmp/log.out
	for i in $(echo "${2:-}" | tr ',' ' '); do
		grep -E "inode $i([^0-9]|\$)" /tmp/log.out >/tmp/log.next
		mv /tmp/log.next /tmp/log.out
	done
	if [ -n "${3:-}" ]; then
		grep -E -- "$3" /tmp/log.out >/tmp/log.next
		mv /tmp/log.next /tmp/log.out
	fi
	[ -s /tmp/log.out ] || { dmesg_since "$1"; return 1; }
}

# load IMG: the image (gunzip'ed if *.gz) onto $dev, remade at the image's size if needed.
load() {
	case $1 in
	*.gz) zcat "$1" >/tmp/img || return 1; src=/tmp/img ;;
	*) src=$1 ;;
	esac
	size=$(stat -c %s "$src") || return 1
	mib=$((size >> 20))
	[ $((mib << 20)) = "$size" ] && [ "$mib" -gt 0 ] || { echo "$1: not a whole number of MiB"; return 1; }
	if [ "$mib" != "$dev_mib" ]; then
		rmmod xipram && modprobe xipram memory_model=pages size_mib="$mib" || return 1
		dev_mib=$mib
	fi
	dd if="$src" of=$dev bs=1M conv=fsync 2>/dev/null
	rc=$?
	rm -f /tmp/img
	return $rc
}

prev=
exec 4<$list
while read -r name what a b c d e <&4; do
	case $name in '#'* | '') continue ;; esac
	checks=$((checks + 1))
	echo "--- $name $what $a ${b:-} ${c:-} ${d:-} ${e:-}"
	img=$dir/$name
	if [ "$what" = then ]; then
		# The mount of the check before, as it left it.
		if [ "$prev" != "$name" ]; then
			bad "$name: 'then' check without a check of this image before it"
			continue
		fi
		what=access
		mark=$(dmesg_mark)
		if grep -q ' /mnt/x ' /proc/mounts; then mounted=1; else mounted=0; fi
	else
		if grep -q ' /mnt/x ' /proc/mounts; then
			umount /mnt/x || bad "$prev: umount failed"
		fi
		# The good image must still be good: the mounts changed nothing.
		if [ "$prev" = small.img ] && [ "$name" != small.img ]; then
			e2fsck -fn $dev >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; bad "$prev: e2fsck -fn not clean after the mount"; }
		fi
		prev=$name
		if ! load "$img"; then
			bad "$name: cannot load it onto $dev"
			prev=
			continue
		fi
		mark=$(dmesg_mark)
		if mount -t xipfs -o ro $dev /mnt/x >/tmp/mount.out 2>&1; then mounted=1; else mounted=0; fi
		cat /tmp/mount.out
	fi
	case $what in
	mount-fails)
		if [ $mounted = 1 ]; then
			bad "$name: the mount succeeded, expected $a"
		else
			ok=0
			for err in $(echo "$a" | tr '|' ' '); do
				grep -q "$(errtext "$err")" /tmp/mount.out && ok=1
			done
			[ $ok = 1 ] || bad "$name: the mount did not fail with $a"
			re=
			case ${b:-} in log=*) re=${b#log=} ;; esac
			new_log "$mark" "" "$re" ||
				bad "$name: refused mount, but no kernel log line naming xipfs${re:+ and matching $re}"
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
		# a=OP b=PATH c=EXPECT d, e = [inode=N[,M]] [log=REGEX]
		ino= re=
		for opt in "${d:-}" "${e:-}"; do
			case $opt in
			inode=*) ino=${opt#inode=} ;;
			log=*) re=${opt#log=} ;;
			esac
		done
		if [ $mounted = 0 ]; then
			bad "$name: the read-only mount failed; cannot $a $b"
		else
			if xipmap try "$a" "/mnt/x$b" "$c" >/tmp/try.out 2>&1 </dev/null; then
				cat /tmp/try.out
				if grep -Eq ': (error|SIGBUS|signal|LOOP)' /tmp/try.out; then
					new_log "$mark" "$ino" "$re" ||
						bad "$name: $a $b failed without a kernel log line naming xipfs${ino:+ and inodes $ino}${re:+ and matching $re}"
					# The errno reads as users know it, e.g. "Structure needs cleaning".
					err=$(sed -n 's/.*: error \([A-Za-z0-9]*\) .*/\1/p' /tmp/try.out)
					t=$(errtext "$err")
					if [ -n "$t" ] && ! grep -qF "error $err ($t)" /tmp/try.out; then
						bad "$name: $a $b: $err is not reported as '$t'"
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
done
exec 4<&-
if grep -q ' /mnt/x ' /proc/mounts; then
	umount /mnt/x || bad "$prev: umount failed"
fi
[ "$dev_mib" = 1 ] || { run rmmod xipram; run modprobe xipram memory_model=pages size_mib=1; }

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
