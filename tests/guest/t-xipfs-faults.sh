# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: what fails is the filesystem's and the VFS's allocations, the same in both
# models; the sweeps are long enough to run once.)
# Fault injection (issue 10, item 4): every allocation a filesystem operation makes can
# fail, and each failure gives the caller an error and leaves nothing behind.
# xipfault (tests/progs/xipfault.rs) sweeps mount, umount, remount, lookup, readdir, read,
# create, mkdir, symlink, link, unlink, rmdir, rename (of files and directories), write,
# truncate both ways, fallocate, stores into a shared mapping and fsync: run N fails the
# Nth fault-injection point the operation reaches (/proc/thread-self/fail-nth), for N = 1,
# 2, ... until the operation gets through.  With failslab and fail_page_alloc opened to
# every allocation (GFP_KERNEL included, order 0 included), each injected failure must give
# an error (or a success with the outcome of one: some kernel paths fall back), never
# EUCLEAN or a read-only filesystem, leave the names, link counts, sizes and bytes as
# before (error) or after (success), and e2fsck -fn clean.  The same sweep on a second
# xipram device with make-it-fail (fail_make_request) fails its block requests; with every
# request failing, a direct read and write give EIO, and
# the data is there afterwards.  Then kmemleak, after the unmount and two scans: no leaked
# object allocated by xipfs or xipram, and no kernel report (vm-run).  The counts are
# printed (points, failures injected, errors, successes).
. ./lib.sh

need_xipfs
need_progs xipfault
KM=/sys/kernel/debug/kmemleak
[ -e /proc/thread-self/fail-nth ] || fail "no /proc/thread-self/fail-nth: a kernel without CONFIG_FAULT_INJECTION"
[ -d /sys/kernel/debug/failslab ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null
for f in failslab fail_page_alloc fail_make_request; do
	[ -d /sys/kernel/debug/$f ] || fail "no /sys/kernel/debug/$f (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAIL_MAKE_REQUEST, CONFIG_FAULT_INJECTION_DEBUG_FS)"
done
[ -w $KM ] || fail "no $KM (CONFIG_DEBUG_KMEMLEAK)"

# Open every allocation to injection (the defaults exempt allocations that may sleep,
# order 0 pages and highmem ones), and print nothing when one fails: fail-nth decides.
for f in failslab fail_page_alloc; do
	echo N >/sys/kernel/debug/$f/ignore-gfp-wait
	echo 0 >/sys/kernel/debug/$f/verbose
done
echo 0 >/sys/kernel/debug/fail_make_request/verbose
echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
echo 0 >/sys/kernel/debug/fail_page_alloc/min-order

# Only what happens from here on counts for kmemleak.
echo clear >$KM

xipram_load 32 nr_devices=2
run mke2fs -q -t ext2 -b 4096 -N 512 $dev 16M
mkdir -p /mnt/x
run mount -t xipfs $dev /mnt/x
echo 1 >/sys/block/xipram1/make-it-fail
mark=$(dmesg_mark)
xipfault $dev /mnt/x xipfs --bdev /dev/xipram1 >/tmp/fault.out 2>&1
rc=$?
cat /tmp/fault.out
echo 0 >/sys/block/xipram1/make-it-fail
[ $rc -eq 0 ] || fail "xipfault: a check failed (exit $rc)"
grep -q '^xipfault total: 22 operations' /tmp/fault.out || fail "xipfault did not run every operation"
# Every operation reached fault points, and failures were injected into each.
awk -F'[:,]' '/ points, / { split($2, p, " "); if (p[1] + 0 < 1) { print "no points: " $1; bad = 1 } } END { exit bad }' /tmp/fault.out ||
	fail "an operation reached no fault point"
# Where in a sweep the block request's own point falls varies from run to run (a slab
# allocation takes a page-allocator point only when it needs a new slab), so the sweep may
# step over it: the sweep checks allocation failures on the block path, and what a failed
# request gives is checked on its own, with every request of xipram1 failing.
FMR=/sys/kernel/debug/fail_make_request
head -c 65536 /dev/urandom >/tmp/bdev.pat
dd if=/tmp/bdev.pat of=/dev/xipram1 bs=64k seek=48 count=1 oflag=direct 2>/dev/null || fail "O_DIRECT write to xipram1"
echo 100 >$FMR/probability
echo 1 >$FMR/interval
echo -1 >$FMR/times
echo 1 >/sys/block/xipram1/make-it-fail
dd if=/dev/xipram1 of=/tmp/bdev.got bs=64k skip=48 count=1 iflag=direct 2>/tmp/dd.err; rd=$?
dd if=/dev/zero of=/dev/xipram1 bs=64k seek=48 count=1 oflag=direct 2>>/tmp/dd.err; wr=$?
echo 0 >/sys/block/xipram1/make-it-fail
echo 0 >$FMR/probability
cat /tmp/dd.err
[ $rd -ne 0 ] || fail "a read of xipram1 succeeded with every block request failing"
[ $wr -ne 0 ] || fail "a write to xipram1 succeeded with every block request failing"
[ "$(grep -c 'Input/output error' /tmp/dd.err)" -eq 2 ] || fail "a failed block request did not give EIO (fail_make_request)"
dd if=/dev/xipram1 of=/tmp/bdev.got bs=64k skip=48 count=1 iflag=direct 2>/dev/null || fail "O_DIRECT read of xipram1"
cmp -s /tmp/bdev.pat /tmp/bdev.got || fail "a failed block write changed the device"
echo "fail_make_request: a read and a write of xipram1 gave EIO; the data is intact"
dmesg_since "$mark" | grep -i "xipfs.*\(corrupt\|remount\|read-only\)" && fail "an allocation failure was reported as corruption"

run umount /mnt/x
fsck_clean $dev

# kmemleak reports objects unreferenced for two scans and older than 5 s: wait, scan twice.
sleep 6
echo scan >$KM
echo scan >$KM
cat $KM >/tmp/leaks
total=$(grep -c '^unreferenced object' /tmp/leaks)
# The blocks whose allocation backtrace passes through our modules (Rust symbols name
# their crates: xipfs, xipram, kernel::fs...).
ours=$(awk 'BEGIN { RS = "unreferenced object" } /xipfs|xipram/ { n++ } END { print n + 0 }' /tmp/leaks)
echo "kmemleak: $total unreferenced objects, $ours allocated through xipfs or xipram"
if [ "$ours" -gt 0 ]; then
	cat /tmp/leaks
	fail "kmemleak: $ours objects leaked by xipfs or xipram"
fi
[ "$total" -eq 0 ] || { head -n 40 /tmp/leaks; echo "(objects of other code: reported, not counted against xipfs)"; }
run rmmod xipfs
run rmmod xipram
exit 0
