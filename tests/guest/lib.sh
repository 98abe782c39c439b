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

# dmesg_since MARK: kernel messages logged after `dmesg_mark` returned MARK.
dmesg_mark() {
	dmesg | wc -l
}
dmesg_since() {
	dmesg | tail -n +"$(($1 + 1))"
}

# fsck_clean DEV: e2fsck -fn finds nothing to fix.
fsck_clean() {
	e2fsck -fn "$1" >/tmp/fsck.out 2>&1 || { cat /tmp/fsck.out; fail "e2fsck -fn $1 found problems"; }
}

# meminfo FIELD: the value in kB.
meminfo() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
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

# load_image IMG SIZE_MIB: an xipram device of SIZE_MIB holding IMG, checked
# clean; sets $dev and makes /mnt/x.
load_image() {
	run modprobe xipram size_mib="$2"
	dev=/dev/xipram0
	run dd if="$1" of=$dev bs=1M conv=fsync 2>/dev/null
	fsck_clean $dev
	mkdir -p /mnt/x
}
