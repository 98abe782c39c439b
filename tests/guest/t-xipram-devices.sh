# SPDX-License-Identifier: GPL-2.0
# models: own
# (About the module parameters and their defaults: it passes them itself.)
# xipram: module parameters create the devices asked for, with DAX advertised,
# and unloading removes them and gives all their memory back.
. ./lib.sh

# Defaults: one 64 MiB device.
run modprobe xipram
[ -b /dev/xipram0 ] || fail "/dev/xipram0 missing"
[ -e /dev/xipram1 ] && fail "/dev/xipram1 exists with nr_devices=1"
expect_eq "$(cat /sys/block/xipram0/size)" $((64 * 2048)) "xipram0 sectors"
expect_eq "$(blockdev --getsize64 /dev/xipram0)" $((64 << 20)) "xipram0 bytes"
expect_eq "$(cat /sys/block/xipram0/queue/dax)" 1 "queue/dax"
expect_eq "$(cat /sys/module/xipram/parameters/nr_devices)" 1 "nr_devices parameter"
expect_eq "$(cat /sys/module/xipram/parameters/size_mib)" 64 "size_mib parameter"
run rmmod xipram
[ -e /dev/xipram0 ] && fail "/dev/xipram0 still there after rmmod"
[ -e /sys/block/xipram0 ] && fail "/sys/block/xipram0 still there after rmmod"

# modinfo describes both parameters.
modinfo xipram >/tmp/modinfo
grep -q 'parm:.*nr_devices:.*Number of devices' /tmp/modinfo || { cat /tmp/modinfo; fail "modinfo: nr_devices"; }
grep -q 'parm:.*size_mib:.*Size of each device in MiB' /tmp/modinfo || { cat /tmp/modinfo; fail "modinfo: size_mib"; }
# Their C types (the parmtype tags): size_mib is a u64, parsed by param_ops_ullong.
modinfo -F parmtype xipram >/tmp/parmtype
grep -qx 'size_mib:ullong' /tmp/parmtype || { cat /tmp/parmtype; fail "modinfo: size_mib is not an ullong"; }
grep -qx 'nr_devices:uint' /tmp/parmtype || { cat /tmp/parmtype; fail "modinfo: nr_devices is not a uint"; }

# Several devices of a given size; each is independent.
run modprobe xipram nr_devices=3 size_mib=5
for i in 0 1 2; do
	expect_eq "$(blockdev --getsize64 /dev/xipram$i)" $((5 << 20)) "xipram$i bytes"
	expect_eq "$(cat /sys/block/xipram$i/queue/dax)" 1 "xipram$i queue/dax"
	echo "device $i" | dd of=/dev/xipram$i bs=512 conv=sync 2>/dev/null
done
[ -e /dev/xipram3 ] && fail "/dev/xipram3 exists with nr_devices=3"
for i in 0 1 2; do
	expect_eq "$(dd if=/dev/xipram$i bs=512 count=1 2>/dev/null | head -n 1)" "device $i" "xipram$i content"
done
run rmmod xipram

# The memory is held while loaded and all returned on unload.  MemFree also moves with
# what the rest of the kernel frees meanwhile: in this KASAN kernel, freed objects wait in
# a quarantine of up to 1/32 of RAM (about 90 MiB here), which drains in bursts of tens of
# MiB as the module and its KUnit suite allocate.  So drain it before each reading
# (drain_mem), allow 32 MiB around the 256, and measure up to three times.  Pages from the page allocator (256 MiB
# is whole memory blocks, for which the default, memory_model=auto, would take blocks
# away: t-xipram-devmap checks that).
settle() {
	drain_mem
	meminfo MemFree
}
ok=
for try in 1 2 3; do
	before=$(settle)
	run modprobe xipram memory_model=pages size_mib=256
	loaded=$(settle)
	held=$(((before - loaded) / 1024))
	run rmmod xipram
	after=$(settle)
	back=$(((after - loaded) / 1024))
	echo "MemFree: before $before kB, loaded $loaded kB, after rmmod $after kB:" \
		"the device held $held MiB for size_mib=256, rmmod gave back $back MiB"
	if [ "$held" -ge 224 ] && [ "$held" -le 288 ] && [ "$back" -ge 224 ] && [ "$back" -le 288 ]; then
		ok=1
		break
	fi
done
[ -n "$ok" ] || fail "device held $held MiB (expected 256 +- 32), rmmod gave back $back MiB"
exit 0
