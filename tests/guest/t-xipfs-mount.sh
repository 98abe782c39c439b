# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# What xipfs lets mount: read-write by default (and with rw), read-only with ro (where
# writes of every kind get EROFS), remount,rw and remount,ro both ways; dax=never is
# refused; acl, noacl, user_xattr and nouser_xattr are accepted (the last two shown in
# /proc/mounts: mke2fs's default mount options have ACLs and user attributes on); a
# device with DAX only (brd is refused with a log line naming DAX), an ext2 superblock
# only (a device of zeroes is refused with EINVAL).  The module loads by itself at mount,
# unloads once nothing is mounted, and mounts again afterwards.  The image stays clean
# (e2fsck -fn) after every unmount, and file contents are kept.
. ./lib.sh

img=/data/tree/tree.img
[ -f $img ] || fail "no $img: run tests/guest/xiptree-image.sh on the host and vm-run --add its OUTDIR"
need_xipfs
mkdir -p /mnt/x

# refused WHAT TEXT LOG mount ARGS...: the mount fails, mount prints TEXT (the errno's
# text), and the kernel logs a new line matching the extended regex LOG (unless LOG is -).
refused() {
	what=$1 text=$2 log=$3
	shift 3
	mark=$(dmesg_mark)
	if "$@" >/tmp/mount.out 2>&1; then
		umount /mnt/x
		fail "$what: '$*' succeeded"
	fi
	cat /tmp/mount.out
	grep -q "$text" /tmp/mount.out || fail "$what: mount did not fail with '$text'"
	if [ "$log" != - ]; then
		dmesg_since "$mark" | grep -Eq "$log" ||
			{ dmesg_since "$mark"; fail "$what: no kernel log line matching '$log'"; }
		dmesg_since "$mark" | grep -E "$log" | head -n 1
	fi
	if grep -q ' /mnt/x ' /proc/mounts; then fail "$what: /mnt/x is mounted"; fi
}
einval="Invalid argument"

# --- Not ext2: a new xipram device is all zeroes.  xipfs is not loaded yet: the
# mount loads it.
grep -q '^xipfs ' /proc/modules && fail "xipfs loaded before the test"
xipram_load 64
dev=/dev/xipram0
refused "device of zeroes" "$einval" 'xipfs' mount -t xipfs -o ro $dev /mnt/x
grep -q '^xipfs ' /proc/modules || fail "mount -t xipfs did not load xipfs"

# mounted_as MODE: /mnt/x is mounted ro or rw.
mounted_as() {
	grep "^$dev /mnt/x xipfs " /proc/mounts | grep -Eq " $1[, ]" ||
		{ cat /proc/mounts; fail "/mnt/x is not mounted $1"; }
}

# --- Read-write: the default, and with rw; dax=never is refused.
run dd if=$img of=$dev bs=1M conv=fsync 2>/dev/null
fsck_clean $dev
refused "mount -o ro,dax=never" "$einval" - mount -t xipfs -o ro,dax=never $dev /mnt/x
refused "mount -o dax=never" "$einval" - mount -t xipfs -o dax=never $dev /mnt/x
run mount -t xipfs $dev /mnt/x
mounted_as rw
sum=$(sha256sum </mnt/x/sizes/three-mib)
echo written >/mnt/x/new || fail "cannot write a new file on a read-write mount"
run umount /mnt/x
fsck_clean $dev
run mount -t xipfs -o acl,user_xattr $dev /mnt/x
mounted_as rw
grep -E ' /mnt/x .*(noacl|nouser_xattr)' /proc/mounts && fail "noacl or nouser_xattr shown for acl,user_xattr"
run umount /mnt/x
run mount -t xipfs -o noacl,nouser_xattr $dev /mnt/x
mounted_as rw
grep ' /mnt/x ' /proc/mounts | grep -q ',nouser_xattr,noacl' || fail "noacl and nouser_xattr not in /proc/mounts"
run umount /mnt/x
run mount -t xipfs -o rw,dax $dev /mnt/x
mounted_as rw
expect_eq "$(cat /mnt/x/new)" written "a file written before the remount"
run rm /mnt/x/new
run umount /mnt/x
fsck_clean $dev

# --- Read-only, with or without the dax option; remount,rw and back.
run mount -t xipfs -o ro,dax $dev /mnt/x
mounted_as ro
run umount /mnt/x
run mount -t xipfs -o ro $dev /mnt/x
run mount -o remount,rw /mnt/x
mounted_as rw
echo again >/mnt/x/new2 || fail "cannot write after remount,rw"
run mount -o remount,ro /mnt/x
mounted_as ro
expect_eq "$(cat /mnt/x/new2)" again "a file written before remount,ro"
expect_eq "$(sha256sum </mnt/x/sizes/three-mib)" "$sum" "a file after the remounts"
# Writes of every kind get EROFS.
for op in "touch /mnt/x/new" "mkdir /mnt/x/newdir" "rm /mnt/x/sizes/one" "chmod 600 /mnt/x/sizes/one" \
	  "ln -s x /mnt/x/newlink" "mv /mnt/x/sizes/one /mnt/x/sizes/two" "truncate -s 0 /mnt/x/sizes/one"; do
	if $op >/tmp/op.out 2>&1; then fail "'$op' succeeded on a read-only mount"; fi
	grep -q "Read-only file system" /tmp/op.out || { cat /tmp/op.out; fail "'$op' did not fail with EROFS"; }
done
run umount /mnt/x
fsck_clean $dev
run mount -t xipfs $dev /mnt/x
run rm /mnt/x/new2
run umount /mnt/x
fsck_clean $dev

# --- A device without DAX: brd, holding the same good image.
run modprobe brd rd_nr=1 rd_size=65536
run dd if=$img of=/dev/ram0 bs=1M conv=fsync 2>/dev/null
refused "brd (no DAX)" "$einval" 'xipfs.*([Dd][Aa][Xx])' mount -t xipfs -o ro /dev/ram0 /mnt/x
run rmmod brd

# --- Unloading once unmounted, and mounting again (the module loads itself again).
run rmmod xipfs
grep -q '^xipfs ' /proc/modules && fail "xipfs still loaded after rmmod"
run mount -t xipfs -o ro $dev /mnt/x
grep -q '^xipfs ' /proc/modules || fail "xipfs not loaded after mounting again"
expect_eq "$(sha256sum </mnt/x/sizes/three-mib)" "$sum" "a file after mounting again"
run umount /mnt/x
fsck_clean $dev
run rmmod xipfs
run rmmod xipram
exit 0
