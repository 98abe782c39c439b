# SPDX-License-Identifier: GPL-2.0
# Helpers for guest tests, sourced by each test.  A test fails by exiting
# non-zero; every helper below that finds a problem says what and exits 1.

set -u

fail() {
	echo "FAIL: $*"
	exit 1
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
}

# expect_fail WHAT cmd...: the command must fail.
expect_fail() {
	what=$1
	shift
	if "$@" >/tmp/expect_fail.out 2>&1; then
		cat /tmp/expect_fail.out
		fail "$what: '$*' succeeded"
	fi
}

# run cmd...: the command must succeed.
run() {
	"$@" || fail "'$*' exited with $?"
}

# dmesg_since MARK: kernel messages logged after `dmesg_mark` returned MARK.  The mark is a
# line of its own in the kernel log (debug level: not on the console), found again by its
# text.  Not a line count: the log is a 128 KiB ring, which a whole `make check` fills
# (every modprobe xipram logs its KUnit suite), and old lines drop out.  Not a time
# stamp either: under TCG the clock steps in ticks, and several lines share one stamp
# (a message in the same tick as the mark would be lost).
dmesg_mark() {
	_mark="xipdax-test-mark $(cat /proc/sys/kernel/random/uuid)"
	echo "<7>$_mark" >/dev/kmsg || fail "cannot write to /dev/kmsg"
	echo "$_mark"
}
dmesg_since() {
	dmesg | awk -v m="$1" 'seen { print } index($0, m) { seen = 1 }'
}

# start_from_xipfs PROG ARGS...: run PROG (an executable on a mounted xipfs) in the
# background and wait until its text is mapped from there; sets $xip_pid.
start_from_xipfs() {
	"$@" &
	xip_pid=$!
	_i=0
	until grep -q " $1\$" /proc/$xip_pid/maps 2>/dev/null; do
		_i=$((_i + 1))
		[ $_i -lt 50 ] || fail "$1 from xipfs did not start"
		sleep 0.1
	done
}

# fsck_clean DEV: e2fsck -fn finds nothing to fix.
fsck_clean() {
	e2fsck -fn "$1" >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "e2fsck -fn $1 found problems"; }
}

# meminfo FIELD: the value in kB.
meminfo() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
}

# drain_mem: give back what the kernel holds only until asked: the page cache and
# dentries, and in a KASAN kernel the quarantine of freed objects (up to 1/32 of RAM,
# which otherwise drains in bursts of tens of MiB whenever something allocates):
# shrinking every slab cache empties it.  For MemFree readings that are compared.
drain_mem() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	for _s in /sys/kernel/slab/*/shrink; do echo 1 >"$_s" 2>/dev/null; done
}

# unload_all: remove our modules, if loaded, so the next test starts clean.
unload_all() {
	for m in xipfs xipram brd; do
		if grep -q "^$m " /proc/modules; then
			rmmod "$m" || fail "rmmod $m"
		fi
	done
}

# need_files FILE...: the data files the host prepared are there.
need_files() {
	for f in "$@"; do
		[ -f "$f" ] || fail "no $f: prepare it on the host (tests/guest/*-image*.sh) and vm-run --add its OUTDIR"
	done
}

# need_progs PROG...: the test programs (tests/progs, built by the host) are on PATH.
need_progs() {
	for p in "$@"; do
		command -v "$p" >/dev/null || fail "$p is not on PATH: build tests/progs (scripts/build-test-progs) and vm-run --add its bin directory"
	done
}

# need_xipfs: this kernel has the xipfs module.
need_xipfs() {
	grep -qs '/xipfs\.ko' "/lib/modules/$(uname -r)/modules.dep" ||
		fail "xipfs module missing: no xipfs.ko in this kernel's modules (built without fs/xipfs?)"
}

# --- xipram devices and their memory model --------------------------------------------------
# XIPRAM_MODEL (pages, devmap or auto; empty: the module's default, auto) is the
# memory_model of every device a test makes with xipram_load (and so with load_image and
# rw_mkfs).  make check's runner (runner.sh, plan.sh) sets it for each run of a test: a
# test marked "# models: pages devmap" runs once in each.  A test about xipram's parameters
# (marked "# models: own") passes memory_model itself and does not use xipram_load.
XIPRAM_MODEL=${XIPRAM_MODEL:-}

# xipram_model_text MODEL: what xipram's "xipramN: M MiB of ... memory" log line says for
# MODEL (empty for auto, which may give either).
xipram_model_text() {
	case $1 in
	pages) echo "page allocator" ;;
	devmap) echo "ZONE_DEVICE (devmap)" ;;
	*) echo "" ;;
	esac
}

# xipram_load SIZE_MIB [PARAM...]: modprobe xipram with size_mib=SIZE_MIB, the PARAMs and
# memory_model=$XIPRAM_MODEL, and check in the kernel log that every device it made has
# that model (devmap loads fail rather than fall back; auto could, silently, so a run meant
# for one model never quietly runs in the other).  Sets $dev (/dev/xipram0), $dev_model
# (the model /dev/xipram0 got: pages or devmap) and $dev_bytes, the device's size: in devmap SIZE_MIB is rounded up to whole memory blocks
# (128 MiB), so a test that needs the end of the device uses $dev_bytes, and filesystems
# are made at the size asked (rw_mkfs), not the device's.
xipram_load() {
	_lmib=$1
	shift
	_lmark=$(dmesg_mark)
	if [ -n "$XIPRAM_MODEL" ]; then
		run modprobe xipram size_mib="$_lmib" memory_model="$XIPRAM_MODEL" "$@"
	else
		run modprobe xipram size_mib="$_lmib" "$@"
	fi
	dev=/dev/xipram0
	dev_bytes=$(blockdev --getsize64 $dev) || fail "blockdev --getsize64 $dev"
	dmesg_since "$_lmark" | grep -E 'xipram[0-9]+: [0-9]+ MiB of .* memory in' >/tmp/xipram-load.log
	[ -s /tmp/xipram-load.log ] ||
		{ dmesg_since "$_lmark"; fail "modprobe xipram size_mib=$_lmib: no 'xipramN: M MiB of ... memory' line in the kernel log"; }
	_ltext=$(xipram_model_text "$XIPRAM_MODEL")
	if [ -n "$_ltext" ] && grep -vF "MiB of $_ltext memory" /tmp/xipram-load.log; then
		dmesg_since "$_lmark"
		fail "xipram: a device is not in the memory model $XIPRAM_MODEL (XIPRAM_MODEL)"
	fi
	if grep -qF 'MiB of ZONE_DEVICE (devmap) memory' /tmp/xipram-load.log; then
		dev_model=devmap
	else
		dev_model=pages
	fi
	echo "xipram_load: $(sed 's/^.*\(xipram[0-9]*: \)/\1/' /tmp/xipram-load.log | head -n 1)${XIPRAM_MODEL:+ (memory_model=$XIPRAM_MODEL, size_mib=$_lmib)}"
}

# load_image IMG SIZE_MIB: an xipram device of SIZE_MIB (xipram_load) holding IMG, checked
# clean; sets $dev and makes /mnt/x.
load_image() {
	xipram_load "$2"
	run dd if="$1" of=$dev bs=1M conv=fsync 2>/dev/null
	fsck_clean $dev
	mkdir -p /mnt/x
}

# --- Read-write filesystem tests (t-xipfs-rw-*.sh) ------------------------------------------
# They run on the filesystem XFS_TYPE (default xipfs), mounted with the options XFS_OPTS
# (comma-separated, added to each test's own), on a fresh xipram device, or on the device
# XFS_DEV when it is set.  To check the tests themselves against the kernel's own ext2:
# XFS_TYPE=ext2 XFS_OPTS=dax (data through fs/dax.c, as xipfs), with XFS_DEV=/dev/pmem0 for
# the mapping tests (ext2 maps DAX files only on pmem's device pages; its DAX mmap of an
# xipram file fails).  scripts/check passes these variables to the guest.
XFS_TYPE=${XFS_TYPE:-xipfs}
XFS_OPTS=${XFS_OPTS:-}
XFS_DEV=${XFS_DEV:-}

# rw_release: nothing mounted on /mnt/*, and (unless XFS_DEV is used) xipfs and xipram
# unloaded, so that the next rw_mkfs starts from a fresh device.
rw_release() {
	grep -E ' /mnt[^ ]* ' /proc/mounts | while read -r _ _mp _; do umount "$_mp"; done
	if [ -z "$XFS_DEV" ]; then
		for _m in xipfs xipram; do
			if grep -q "^$_m " /proc/modules; then run rmmod $_m; fi
		done
	fi
}

# rw_mkfs SIZE_MIB [MKE2FS_OPTION...]: a new ext2 filesystem of SIZE_MIB (4 KiB blocks,
# 256-byte inodes unless the options say otherwise) on a fresh xipram device of that size
# (xipram_load: in devmap, whole memory blocks, of which the filesystem uses SIZE_MIB),
# or on $XFS_DEV; checked clean.  Sets $dev, makes /mnt/x and /mnt/e.
rw_mkfs() {
	_size=$1
	shift
	rw_release
	if [ -n "$XFS_DEV" ]; then
		dev=$XFS_DEV
		_i=0
		while [ ! -b "$dev" ] && [ $_i -lt 30 ]; do sleep 1; _i=$((_i + 1)); done
		[ -b "$dev" ] || fail "no $dev (XFS_DEV): /dev/pmemN needs the memmap= boot option (scripts/check)"
	else
		xipram_load "$_size"
	fi
	run mke2fs -q -F -t ext2 -b 4096 -I 256 "$@" "$dev" $((_size * 256))
	fsck_clean "$dev"
	mkdir -p /mnt/x /mnt/e
	echo "rw_mkfs: ext2 of $_size MiB${*:+ ($*)} on $dev, for $XFS_TYPE${XFS_OPTS:+ -o $XFS_OPTS}"
}

# rw_opts [OPTS]: $XFS_OPTS and OPTS, comma-separated.
rw_opts() {
	if [ -n "$XFS_OPTS" ] && [ -n "${1:-}" ]; then
		echo "$XFS_OPTS,$1"
	else
		echo "$XFS_OPTS${1:-}"
	fi
}

# rw_mount [OPTS [DIR]]: mount $dev on DIR (default /mnt/x) as $XFS_TYPE, with $XFS_OPTS
# and OPTS.
rw_mount() {
	_o=$(rw_opts "${1:-}")
	if [ -n "$_o" ]; then
		run mount -t "$XFS_TYPE" -o "$_o" "$dev" "${2:-/mnt/x}"
	else
		run mount -t "$XFS_TYPE" "$dev" "${2:-/mnt/x}"
	fi
}

# rw_umount [DIR]: unmount DIR (default /mnt/x) and check the device clean (e2fsck -fn).
rw_umount() {
	run umount "${1:-/mnt/x}"
	fsck_clean "$dev"
}

# rw_can_map: whether files of this configuration can be mapped (not ext2 -o dax on xipram).
rw_can_map() {
	[ "$XFS_TYPE" = ext2 ] || return 0
	case ",$XFS_OPTS," in *,dax,* | *,dax=always,*) ;; *) return 0 ;; esac
	case $dev in /dev/xipram*) return 1 ;; esac
	return 0
}

# xipfs_only WHAT: true when testing xipfs; otherwise says that WHAT, a behaviour of xipfs
# that the filesystem under test lacks, is skipped, and is false.
xipfs_only() {
	[ "$XFS_TYPE" = xipfs ] && return 0
	echo "SKIP under $XFS_TYPE: $*"
	return 1
}

# fs_log: an extended regex matching the kernel log lines of the filesystem under test.
fs_log() {
	case $XFS_TYPE in
	ext2) echo 'EXT2-fs' ;;
	*) echo "$XFS_TYPE" ;;
	esac
}

# sb_field FIELD: a superblock field as `dumpe2fs -h` shows it ("Mount count", ...), read
# from the device itself even while it is mounted (the block device's page cache, which
# xipfs's DAX writes bypass, is dropped first).
sb_field() {
	blockdev --flushbufs "$dev" || fail "blockdev --flushbufs $dev"
	dumpe2fs -h "$dev" 2>/dev/null | sed -n "s/^$1: *//p"
}

# fsck_clean_mounted DEV: after sync, e2fsck -fn finds the mounted filesystem consistent.
fsck_clean_mounted() {
	sync
	blockdev --flushbufs "$1" || fail "blockdev --flushbufs $1"
	e2fsck -fn "$1" >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "e2fsck -fn $1 (mounted, after sync) found problems"; }
}

# rw_poison DIR: fill the free blocks of DIR's filesystem with the byte 0xa5 (which xiprw's
# patterns never hold) and free them again, so that a block handed out later without being
# zeroed shows it.
rw_poison() {
	_f0=$(stat -f -c %f "$1")
	run xiprw fill "$1/.poison" --byte 0xa5 --no-verify
	run rm "$1/.poison"
	expect_eq "$(stat -f -c %f "$1")" "$_f0" "free blocks after filling with poison and deleting"
}
