# SPDX-License-Identifier: GPL-2.0
# models: own
# (About the module parameters: it passes them itself.)
# xipram: bad parameters fail the load with a clear message and the right
# error, leave no device behind, and never wake the OOM killer.
. ./lib.sh

ko=$(modinfo -F filename xipram 2>/dev/null || find /lib/modules -name xipram.ko)
[ -f "$ko" ] || fail "xipram.ko not found"

# try PARAMS ERRNO_TEXT DMESG_PATTERN
try() {
	mark=$(dmesg_mark)
	if insmod "$ko" $1 >/tmp/insmod.out 2>&1; then
		rmmod xipram
		fail "insmod xipram $1 succeeded"
	fi
	cat /tmp/insmod.out
	grep -qi "$2" /tmp/insmod.out || fail "insmod xipram $1: expected '$2'"
	dmesg_since "$mark" >/tmp/dmesg.out
	grep -q "xipram: .*$3" /tmp/dmesg.out || { cat /tmp/dmesg.out; fail "insmod xipram $1: no dmesg line matching '$3'"; }
	grep -qiE 'oom-kill|out of memory|invoked oom-killer' /tmp/dmesg.out && fail "insmod xipram $1 woke the OOM killer"
	ls /dev/xipram* 2>/dev/null && fail "insmod xipram $1 left devices behind"
	grep -q '^xipram ' /proc/modules && fail "xipram stayed loaded"
	return 0
}

try "size_mib=0" "invalid" "size_mib=0"
try "nr_devices=0" "invalid" "nr_devices=0"
try "nr_devices=100000" "invalid" "nr_devices=100000"
# Larger than the guest's memory, for one device and in total.
try "size_mib=1000000" "memory" "more memory than is available"
try "size_mib=18446744073709551615" "memory" "more memory than is available"
try "nr_devices=4 size_mib=600" "memory" "more memory than is available"
# Not a number: the kernel's parser refuses it.
mark=$(dmesg_mark)
insmod "$ko" size_mib=lots 2>/dev/null && { rmmod xipram; fail "size_mib=lots accepted"; }
ls /dev/xipram* 2>/dev/null && fail "size_mib=lots left devices behind"

# After all that, a good load still works.
run modprobe xipram size_mib=4
[ -b /dev/xipram0 ] || fail "/dev/xipram0 missing after the bad loads"
run rmmod xipram
exit 0
