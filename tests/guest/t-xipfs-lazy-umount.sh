# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# A filesystem outlives its mount point while it is in use, and everything is released once
# it is not: a program runs from xipfs (its text a DAX mapping of the device) while the
# mount is lazily detached (umount -l).  The program keeps running, its text stays readable
# (/proc/PID/mem), and neither xipfs nor xipram can be unloaded, since the superblock still
# holds the module and the device.  When the program exits, the superblock goes (put_super
# releases the DAX device, inodes are evicted), and both modules unload; no kernel report.
# The same image mounts again afterwards.
. ./lib.sh

img=/data/xipfs-img/exec.img
need_files $img
need_xipfs

load_image $img 16
run mount -t xipfs -o ro $dev /mnt/x
# Wait for the exec: the process's text is the busybox of xipfs.
start_from_xipfs /mnt/x/bin/busybox sleep 1000
pid=$xip_pid
run umount -l /mnt/x
grep -q ' /mnt/x ' /proc/mounts && fail "/mnt/x still mounted after umount -l"
kill -0 $pid || fail "the program from xipfs died at the lazy unmount"
# Its text is still there, and readable by a debugger.
addr=$(awk '$2 ~ /x/ && $6 ~ /busybox$/ { split($1, a, "-"); print a[1]; exit }' /proc/$pid/maps)
[ -n "$addr" ] || fail "no executable mapping of busybox in the process"
run dd if=/proc/$pid/mem of=/tmp/text bs=4096 skip=$((0x$addr / 4096)) count=1 2>/dev/null
[ "$(wc -c </tmp/text)" -eq 4096 ] || fail "could not read the program's text through /proc/$pid/mem"
expect_fail "rmmod xipfs while a detached xipfs is in use" rmmod xipfs
expect_fail "rmmod xipram while a detached xipfs is in use" rmmod xipram

kill $pid
wait $pid 2>/dev/null
# The last reference to the mount goes with the process (possibly a little later).
i=0
until rmmod xipfs 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "xipfs cannot be unloaded 20 s after the last user of the detached mount exited"
	sleep 0.1
done
fsck_clean $dev
run mount -t xipfs -o ro $dev /mnt/x
run /mnt/x/bin/busybox true
run umount /mnt/x
run rmmod xipfs
run rmmod xipram
exit 0
