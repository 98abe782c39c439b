# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Programs execute in place from xipfs: exec.img (tests/guest/xipfs-images.sh, in
# /data/xipfs-img) holds a static and a dynamically linked program (with its loader
# and libraries) and busybox.  They run from the mount, through the loader named on
# the command line and inside a chroot; every file they map executable is a DAX
# mapping of the device memory (VM_MIXEDMAP: "mixedmap=yes" in the programs' output),
# and running them, every executable page read, adds nothing to the page cache, where
# the kernel's ext2 without DAX caches those pages.  The image is unchanged afterwards.
. ./lib.sh

img=/data/xipfs-img/exec.img
need_files $img
need_xipfs

load_image $img 16
libdir=/lib/x86_64-linux-gnu
ldso=/lib64/ld-linux-x86-64.so.2

# prog_ok OUT KIND PATH...: OUT is the output of a hello program of KIND (static or
# dynamic) that mapped each PATH executable from xipfs, and nothing it mapped
# executable is a mapping without DAX.
prog_ok() {
	out=$1 kind=$2
	shift 2
	cat "$out"
	grep -qx "hello from a $kind executable" "$out" || fail "$out: no greeting from the $kind program"
	for p in "$@"; do
		grep -q "^exec-map $p mixedmap=yes " "$out" || fail "$out: $p not mapped executable with DAX (mixedmap=yes)"
	done
	if grep -q "mixedmap=no" "$out"; then fail "$out: an executable mapping without DAX"; fi
}

# --- Control: from ext2 without DAX, the same run fills the page cache.
run mount -t ext2 -o ro $dev /mnt/x
sync
echo 3 >/proc/sys/vm/drop_caches
cached0=$(meminfo Cached)
/mnt/x$ldso --library-path /mnt/x$libdir /mnt/x/bin/hello-dynamic >/tmp/ext2.out 2>&1 ||
	{ cat /tmp/ext2.out; fail "hello-dynamic from ext2 failed"; }
cached1=$(meminfo Cached)
grep -qx "hello from a dynamic executable" /tmp/ext2.out || { cat /tmp/ext2.out; fail "hello-dynamic from ext2"; }
grep -q "^exec-map /mnt/x$libdir/libc.so.6 mixedmap=no " /tmp/ext2.out ||
	{ cat /tmp/ext2.out; fail "control: libc from ext2 without DAX is not an ordinary mapping"; }
echo "ext2 without DAX: Cached $cached0 kB -> $cached1 kB running hello-dynamic"
[ $((cached1 - cached0)) -ge 1024 ] ||
	fail "control: Cached grew by only $((cached1 - cached0)) kB running from ext2 without DAX"
run umount /mnt/x
fsck_clean $dev

# --- From xipfs.
run modprobe xipfs
run mount -t xipfs -o ro $dev /mnt/x
sync
echo 3 >/proc/sys/vm/drop_caches
cached0=$(meminfo Cached)

/mnt/x/bin/hello-static >/tmp/static.out 2>&1 || { cat /tmp/static.out; fail "hello-static failed"; }
prog_ok /tmp/static.out static /mnt/x/bin/hello-static

/mnt/x$ldso --library-path /mnt/x$libdir /mnt/x/bin/hello-dynamic >/tmp/dyn.out 2>&1 ||
	{ cat /tmp/dyn.out; fail "hello-dynamic through /mnt/x$ldso failed"; }
prog_ok /tmp/dyn.out dynamic /mnt/x/bin/hello-dynamic /mnt/x$ldso /mnt/x$libdir/libc.so.6

# In a chroot the program's own PT_INTERP and library paths lead to xipfs.
run mount -t proc proc /mnt/x/proc
chroot /mnt/x /bin/hello-dynamic >/tmp/chroot-dyn.out 2>&1 ||
	{ cat /tmp/chroot-dyn.out; fail "chroot /mnt/x /bin/hello-dynamic failed"; }
prog_ok /tmp/chroot-dyn.out dynamic /bin/hello-dynamic $ldso $libdir/libc.so.6
chroot /mnt/x /bin/hello-static >/tmp/chroot-static.out 2>&1 ||
	{ cat /tmp/chroot-static.out; fail "chroot /mnt/x /bin/hello-static failed"; }
prog_ok /tmp/chroot-static.out static /bin/hello-static

# busybox (static, 2 MB): its applets and a shell, from the mount and in the chroot.
expect_eq "$(/mnt/x/bin/busybox echo from xipfs)" "from xipfs" "/mnt/x/bin/busybox echo"
expect_eq "$(chroot /mnt/x /bin/busybox sh -c 'echo $((6 * 7))')" 42 "busybox sh in the chroot"
chroot /mnt/x /bin/busybox grep ' r-xp .* /bin/busybox$' /proc/self/maps ||
	fail "busybox in the chroot does not run from /bin/busybox"
expect_eq "$(/mnt/x/bin/busybox sha256sum /mnt/x/bin/busybox | cut -d' ' -f1)" \
	"$(sha256sum /mnt/x/bin/busybox | cut -d' ' -f1)" "busybox from xipfs hashing itself"
run umount /mnt/x/proc

cached1=$(meminfo Cached)
echo "xipfs: Cached $cached0 kB -> $cached1 kB running the programs"
[ $((cached1 - cached0)) -lt 1024 ] ||
	fail "Cached grew by $((cached1 - cached0)) kB running programs from xipfs"
run umount /mnt/x
fsck_clean $dev
run rmmod xipfs
run rmmod xipram
exit 0
