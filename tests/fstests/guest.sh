# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/fstests (make fstests): run fstests from the chroot that
# scripts/fstests-build made, on two devices, and print the results on the console.
#
# Run by scripts/vm-run with the chroot added as /data/chroot and fstests.conf, which
# sets FST_FS (xipfs: xipfs on two xipram devices; ext2-dax: ext2 -o dax on /dev/pmem0
# and /dev/pmem1, the kernel's own DAX baseline), FST_SIZE_MIB (xipram device size) and
# FST_XIPRAM_OPTS (more module parameters, e.g. memory_model=pages) and
# FST_TESTS (the tests, e.g. "generic/001 generic/013").  The results directory goes back
# to the host as a base64 tar between XIPDAX-FSTESTS-RESULTS-BEGIN/END lines.
set -u
cd /data || exit 1
. ./fstests.conf
C=/data/chroot
say() { echo "fstests-guest: $*"; }
die() { say "error: $*"; dmesg | tail -n 40; exit 1; }

case "$FST_FS" in
xipfs)
	modprobe xipram nr_devices=2 size_mib="$FST_SIZE_MIB" $FST_XIPRAM_OPTS || die "modprobe xipram"
	modprobe xipfs || die "modprobe xipfs"
	TEST_DEV=/dev/xipram0 SCRATCH_DEV=/dev/xipram1 FSTYP=xipfs MOUNT_OPTIONS= ;;
ext2-dax)
	i=0
	while [ $i -lt 30 ] && ! { [ -b /dev/pmem0 ] && [ -b /dev/pmem1 ]; }; do
		sleep 1
		i=$((i + 1))
	done
	[ -b /dev/pmem1 ] || die "no /dev/pmem0 and /dev/pmem1 (boot with memmap=384M!1G memmap=384M!1536M)"
	TEST_DEV=/dev/pmem0 SCRATCH_DEV=/dev/pmem1 FSTYP=ext2 MOUNT_OPTIONS="-o dax" ;;
*) die "FST_FS=$FST_FS: xipfs or ext2-dax" ;;
esac
dmesg | grep -E 'xipram.*(model|devmap|pages)' | tail -n 2

# The chroot is a mount of its own (the tests that make a mount namespace turn
# propagation off on "/", which must be a mount); it sees the guest's devices, /proc,
# /sys, modules; its own /tmp and /run.
mount --bind "$C" "$C" || die "bind the chroot onto itself"
mount --bind /dev "$C/dev" || die "bind /dev"
mount -t devpts devpts "$C/dev/pts" 2>/dev/null
mount -t proc proc "$C/proc"
mount -t sysfs sysfs "$C/sys"
mount -t debugfs debugfs "$C/sys/kernel/debug" 2>/dev/null
# kmemleak: fstests scans twice after every test (about 20 s under TCG) and, without
# USE_KMEMLEAK=yes, throws the report away; with it, any leak of any kernel code fails the
# test at hand.  Its knob is hidden from the chroot instead (a read-only empty file over it:
# fstests then leaves kmemleak alone), and this script scans once after all the tests and
# counts the objects allocated through the file system under test.
KM=/sys/kernel/debug/kmemleak
[ -e "$KM" ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
km=0
if echo scan=off 2>/dev/null >"$KM"; then
	echo clear >"$KM"
	: >/tmp/kmemleak-hidden
	mount --bind /tmp/kmemleak-hidden "$C$KM" && mount -o remount,bind,ro "$C$KM" && km=1
fi
mount -t tmpfs tmpfs "$C/tmp"
mount -t tmpfs tmpfs "$C/run"
mkdir -p "$C/lib/modules" "$C/mnt/test" "$C/mnt/scratch"
mount --bind /lib/modules "$C/lib/modules"
ln -sf ../proc/self/mounts "$C/etc/mtab"
# vm-run packs the data as root:root; give the test users their homes back.
chroot "$C" /bin/sh -c 'chown -R fsgqa:fsgqa /home/fsgqa /home/fsgqa2; chown -R 123456-fsgqa /home/123456-fsgqa 2>/dev/null; true'

# The test device is made once, here; the scratch device by each test.
chroot "$C" mkfs -t "$FSTYP" -F -q -b 4096 "$TEST_DEV" >/dev/null || die "mkfs $TEST_DEV"
cat >"$C/opt/xfstests/local.config" <<EOF
export FSTYP=$FSTYP
export TEST_DEV=$TEST_DEV
export TEST_DIR=/mnt/test
export SCRATCH_DEV=$SCRATCH_DEV
export SCRATCH_MNT=/mnt/scratch
export MOUNT_OPTIONS="$MOUNT_OPTIONS"
export TEST_FS_MOUNT_OPTS="$MOUNT_OPTIONS"
export MKFS_OPTIONS="-b 4096"
EOF
say "FSTYP=$FSTYP TEST_DEV=$TEST_DEV SCRATCH_DEV=$SCRATCH_DEV MOUNT_OPTIONS='$MOUNT_OPTIONS'"
say "tests: $FST_TESTS"
free -m | sed -n 2p
chroot "$C" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C TERM=dumb \
	/bin/bash -c "cd /opt/xfstests && ./check -R xunit $FST_TESTS" 2>&1
rc=$?
say "check exited with $rc"
free -m | sed -n 2p

R=$C/opt/xfstests/results
# kmemleak reports objects unreferenced for two scans and older than 5 s; the file systems
# are unmounted first (their objects are then either freed or leaked).
umount "$C/mnt/test" "$C/mnt/scratch" 2>/dev/null
if [ $km = 1 ]; then
	case "$FST_FS" in xipfs) ours='xipfs|xipram' ;; *) ours=ext2 ;; esac
	sleep 6
	echo scan >"$KM"
	echo scan >"$KM"
	cat "$KM" >"$R/kmemleak.txt"
	total=$(grep -c '^unreferenced object' "$R/kmemleak.txt")
	n=$(awk -v re="$ours" 'BEGIN { RS = "unreferenced object" } $0 ~ re { n++ } END { print n + 0 }' "$R/kmemleak.txt")
	say "kmemleak: $total unreferenced objects, $n allocated through $ours"
	[ "$n" -eq 0 ] || cat "$R/kmemleak.txt"
else
	say "kmemleak: not available in this kernel"
fi

# Results: the whole results directory but the .full logs of tests that passed (the
# failures' logs are kept, their ends only: fsstress logs can be megabytes).
dmesg >"$R/dmesg.txt"
find "$R" -name '*.full' | while read -r f; do
	t=${f%.full}
	if [ -e "$t.out.bad" ] || [ -e "$t.dmesg" ]; then
		tail -n 400 "$f" >"$f.tail" && mv "$f.tail" "$f"
	else
		rm -f "$f"
	fi
done
echo "XIPDAX-FSTESTS-RESULTS-BEGIN"
tar -C "$R" -czf - . | base64
echo "XIPDAX-FSTESTS-RESULTS-END"
umount "$C$KM" 2>/dev/null
for m in lib/modules run tmp sys/kernel/debug sys proc dev/pts dev; do umount "$C/$m" 2>/dev/null; done
exit 0
