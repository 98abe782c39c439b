#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The demo, second stage: PID 1 in a tmpfs root (scripts/guest/demo.sh copied
# the system there and init switch_root'ed into it).  The tmpfs is a real
# mount, unlike the initramfs, so pivot_root(2) can move it away.  Here, as
# an embedded system's init would at boot:
#
#  1. load xipram: /dev/xipram0 for the root built now, /dev/xipram1 for the
#     image made on the host (both of the image's size);
#  2. build the same root tree (/data/tree: busybox, dash, e2fsprogs and their
#     libraries) in tmpfs, in ext2 on brd and in $XIP_FS on /dev/xipram0, run
#     the same programs from each, and print what each costs in RAM, as a user
#     sees it in /proc/meminfo (no drop_caches anywhere);
#  3. check the XIP root (e2fsck clean, every file as copied) and load the
#     host-made image into /dev/xipram1 (same files);
#  4. pivot_root into the XIP root and exec its /sbin/xip-init, which goes on
#     from there (scripts/guest/xip-init).
#
# /data/rootfs.conf (scripts/mkrootfs): MIB, the device size, and MKFS_OPTS.
# /data/demo.conf (scripts/demo): XIP_FS (default xipfs) and XIP_FS_OPTS, the
# filesystem type and mount options of the XIP root.
#
# Every step is checked; on failure the demo prints "demo: error: ..." and
# the end of the kernel log, and powers off.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

finish() {
	sync
	echo "XIPDAX-VM-EXIT: $1"
	reboot -f
	while :; do sleep 1; done
}
fail() {
	echo "demo: error: $*"
	echo "demo: the kernel log ends with:"
	dmesg 2>/dev/null | tail -n 8
	finish 1
}
must() { "$@" || fail "$* (exit status $?)"; }
say() { printf '\n### %s\n' "$*"; }
t0=$(date +%s)
elapsed() { echo "$(($(date +%s) - t0)) s"; }

# snap P: the /proc/meminfo figures (KiB) as variables P_MemFree, P_MemAvailable,
# P_Cached, P_Buffers, P_Shmem.
snap() {
	eval "$(awk -v p="$1" '$1 ~ /^(MemFree|MemAvailable|Cached|Buffers|Shmem):$/ {
		sub(":", "", $1); print p "_" $1 "=" $2 }' /proc/meminfo)"
}
# set_r COLUMN KEY VALUE / get_r COLUMN KEY: the results table.
set_r() { eval "r_$1_$2=\$3"; }
get_r() { eval "echo \"\${r_$1_$2:-}\""; }
used_kib() { df -k "$1" | awk 'NR == 2 { print $3 }'; }

# Make sure the kernel filesystems are there (stage 1 moved them in).
[ -r /proc/self/maps ] || must mount -t proc proc /proc
[ -d /sys/block ] || must mount -t sysfs sysfs /sys
[ -c /dev/null ] || must mount -t devtmpfs devtmpfs /dev
[ -d /sys/kernel/debug/block ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

[ -r /data/rootfs.conf ] && [ -r /data/demo.conf ] || fail "/data/rootfs.conf or /data/demo.conf missing"
. /data/rootfs.conf
. /data/demo.conf
XIP_FS=${XIP_FS:-xipfs}
XIP_FS_OPTS=${XIP_FS_OPTS:-}
[ -n "${MIB:-}" ] && [ -n "${MKFS_OPTS:-}" ] || fail "rootfs.conf sets no MIB or MKFS_OPTS"
TREE=/data/tree
XIPNAME="xipram + $XIP_FS${XIP_FS_OPTS:+ -o $XIP_FS_OPTS}"

say "stage 2: PID 1 in a tmpfs root ($(elapsed))"
grep ' / ' /proc/mounts
tree_kib=$(du -sk "$TREE" | cut -f1)
echo "the root tree: $TREE, $tree_kib KiB in $(find "$TREE" | wc -l) entries:" \
	"busybox, dash, e2fsprogs, md5sum and their libraries"
echo "filesystems: $MKFS_OPTS, on devices of $MIB MiB"

# --- 1. xipram -------------------------------------------------------------
say "modprobe xipram nr_devices=2 size_mib=$MIB"
snap b
must modprobe xipram nr_devices=2 size_mib="$MIB"
snap a
for d in xipram0 xipram1; do [ -b "/dev/$d" ] || fail "/dev/$d did not appear"; done
xip_dev_kib=$(($(cat /sys/block/xipram0/size) / 2))
echo "/dev/xipram0 (the root built now) and /dev/xipram1 (the host-made image), $xip_dev_kib KiB each;"
echo "xipram allocates all of a device's memory at load: MemFree fell by $((b_MemFree - a_MemFree)) KiB" \
	"(2 x $xip_dev_kib = $((2 * xip_dev_kib)))"

# --- 2. the tree in tmpfs, ext2 on brd, and $XIP_FS on xipram --------------
# build COLUMN DIR SETUP...: measure from before SETUP (which makes and mounts
# the filesystem on DIR) to after copying the tree into it, syncing, and
# running the same programs from it (/sbin/xip-init work: dash, the e2fsprogs
# tools, md5sum, busybox, and every file read once) in a chroot.
build() {
	col=$1 dir=$2
	shift 2
	say "building the root in $(get_r "$col" name) on $dir ($(elapsed))"
	must mkdir -p "$dir"
	snap b
	must "$@"
	s=$(date +%s)
	must cp -a "$TREE/." "$dir/"
	must sync
	echo "copied $tree_kib KiB of files in $(($(date +%s) - s)) s"
	must mount -t devtmpfs devtmpfs "$dir/dev"
	chroot "$dir" /sbin/xip-init work
	rc=$?
	must umount "$dir/dev"
	snap a
	set_r "$col" run "$rc"
	[ "$rc" -eq 0 ] || echo "demo: the programs failed in $(get_r "$col" name) (exit status $rc)"
	set_r "$col" used "$(used_kib "$dir")"
	set_r "$col" shmem $((a_Shmem - b_Shmem))
	set_r "$col" cache $((a_Cached - a_Shmem + a_Buffers - b_Cached + b_Shmem - b_Buffers))
	set_r "$col" free $((b_MemFree - a_MemFree))
	set_r "$col" avail $((b_MemAvailable - a_MemAvailable))
}
mkfs_mount() { # mkfs_mount DEV DIR FSTYPE [OPTS]
	mke2fs $MKFS_OPTS "$1" || return
	mount -t "$3" ${4:+-o "$4"} "$1" "$2"
}
mount_tmpfs() { mount -t tmpfs -o size="${MIB}m" tmpfs "$1"; }
brd_ext2() {
	modprobe brd rd_nr=1 rd_size=$((MIB * 1024)) && mkfs_mount /dev/ram0 "$1" ext2
}

set_r tmpfs name "tmpfs"
set_r brd name "brd + ext2"
set_r xip name "$XIPNAME"
build tmpfs /mnt/tmpfs mount_tmpfs /mnt/tmpfs
set_r tmpfs dev 0
build brd /mnt/brd brd_ext2 /mnt/brd
brd_pages=/sys/kernel/debug/ramdisk_pages/ram0
[ -r "$brd_pages" ] || fail "$brd_pages is missing (debugfs, brd)"
set_r brd dev $(($(cat "$brd_pages") * 4))
build xip /mnt/xip mkfs_mount /dev/xipram0 /mnt/xip "$XIP_FS" "$XIP_FS_OPTS"
set_r xip dev "$xip_dev_kib"
# xipram0's memory was taken when the module loaded, before this step's
# first figures: it is added to the RAM its step took.
set_r xip free $(($(get_r xip free) + xip_dev_kib))
set_r xip avail $(($(get_r xip avail) + xip_dev_kib))
for c in tmpfs brd xip; do
	set_r "$c" sum $(($(get_r "$c" dev) + $(get_r "$c" shmem) + $(get_r "$c" cache)))
done
grep -E ' /mnt/(tmpfs|brd|xip) ' /proc/mounts

say "what each root costs after building it and running the same programs from it (KiB)"
row() { # row LABEL KEY
	printf '%-40s %8s %12s %22s\n' "$1" "$(get_r tmpfs "$2")" "$(get_r brd "$2")" "$(get_r xip "$2")"
}
printf '%-40s %8s %12s %22s\n' "" "tmpfs" "brd + ext2" "$XIPNAME"
row "space used on the filesystem (df)" used
row "block device memory" dev
row "tmpfs pages (Shmem growth)" shmem
row "page cache (Cached - Shmem + Buffers)" cache
row "device + tmpfs + page cache" sum
row "RAM taken (MemFree drop)" free
row "RAM not available (MemAvailable drop)" avail
echo
echo "The files: $tree_kib KiB. brd holds the ext2 blocks written to it, ext2 keeps its files and"
echo "metadata in the page cache besides; xipram holds its whole device ($xip_dev_kib KiB) from the"
echo "moment it loads (counted in its MemFree and MemAvailable drops), $(get_r xip used) KiB of it in use."
echo "MemFree and MemAvailable include everything else the kernel allocated meanwhile"
echo "(inodes, dentries, module code, and on this debug kernel KASAN's quarantine)."
label() {
	case $1 in
	sum) echo "device + tmpfs + page cache" ;;
	free) echo "RAM taken" ;;
	avail) echo "RAM not available" ;;
	esac
}
diffs() { # diffs COLUMN: the xipram column against COLUMN
	for k in sum free avail; do
		x=$(get_r xip "$k") o=$(get_r "$1" "$k")
		printf '  %-38s %+8d KiB (%+d%%)\n' "$(label "$k")" $((x - o)) $(((x - o) * 100 / (o > 0 ? o : 1)))
	done
}
echo
echo "$XIPNAME against brd + ext2:"
diffs brd
echo "$XIPNAME against tmpfs:"
diffs tmpfs
for c in tmpfs brd xip; do
	[ "$(get_r "$c" run)" -eq 0 ] ||
		fail "the programs did not run from $(get_r "$c" name) (exit status $(get_r "$c" run))"
done

# --- 3. check the XIP root, load the host-made image ------------------------
say "the other roots go; checking the XIP root ($(elapsed))"
must umount /mnt/tmpfs
must umount /mnt/brd
must rmmod brd
must umount /mnt/xip
e2fsck -fn /dev/xipram0 >/tmp/e2fsck.log 2>&1 ||
	{ cat /tmp/e2fsck.log; fail "e2fsck -fn /dev/xipram0: the XIP root is not clean"; }
echo "e2fsck -fn /dev/xipram0: clean"
must mount -t "$XIP_FS" ${XIP_FS_OPTS:+-o "$XIP_FS_OPTS"} /dev/xipram0 /mnt/xip
# manifest DIR: type, mode, owner, link target and contents of every file.
manifest() {
	( cd "$1" && find . -mindepth 1 ! -path './lost+found' ! -path './lost+found/*' \
		-exec stat -c '%f %u:%g %N' {} + | sort &&
	  find . -type f ! -path './lost+found/*' -exec md5sum {} + | sort )
}
same_tree() { # same_tree DIR NAME
	manifest "$1" >/tmp/got.manifest || fail "cannot list $1"
	if ! cmp -s /tmp/tree.manifest /tmp/got.manifest; then
		diff /tmp/tree.manifest /tmp/got.manifest | head -n 20
		fail "$2 differs from the tree copied into it"
	fi
	echo "$2: the same $(grep -c . /tmp/tree.manifest) entries as $TREE (type, mode, owner, link target, md5sum)"
}
manifest "$TREE" >/tmp/tree.manifest || fail "cannot list $TREE"
same_tree /mnt/xip "the XIP root ($XIP_FS on /dev/xipram0)"

say "loading the host-made image (mke2fs -d on the host) into /dev/xipram1"
must dd if=/data/rootfs.img of=/dev/xipram1 bs=1M oflag=direct status=none
must mkdir -p /mnt/img
must mount -t xipfs -o ro /dev/xipram1 /mnt/img
same_tree /mnt/img "the host-made image (xipfs on /dev/xipram1)"
must umount /mnt/img

# --- 4. pivot_root -----------------------------------------------------------
say "pivot_root into the XIP root ($XIP_FS on /dev/xipram0) ($(elapsed))"
[ -d /mnt/xip/oldroot ] && [ -x /mnt/xip/sbin/xip-init ] && [ -x /mnt/xip/bin/chroot ] ||
	fail "the XIP root lacks /oldroot, /sbin/xip-init or /bin/chroot"
for m in /proc /sys /dev; do
	must mount --move "$m" "/mnt/xip$m"
done
cd /mnt/xip || fail "cd /mnt/xip"
must pivot_root . oldroot
echo "pivot_root . oldroot: / is now $XIP_FS on /dev/xipram0, the tmpfs root is /oldroot;" \
	"exec chroot . /sbin/xip-init boot"
exec chroot . /sbin/xip-init boot
