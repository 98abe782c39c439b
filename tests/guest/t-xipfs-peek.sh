# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Debuggers can read what xipfs maps: device memory mapped into a process (a special
# mapping that get_user_pages cannot pin) is read through the mapping's
# vm_operations.access by /proc/PID/mem and ptrace.  `xipmap proc-mem` maps a file shared and
# private and reads the mappings through /proc/self/mem; `xipmap trace` starts a program
# from xipfs under ptrace and reads its text with PTRACE_PEEKTEXT and /proc/PID/mem.
# Writes are the documented limit of plain pages: PTRACE_POKETEXT into xipfs text fails
# cleanly with EIO (no WARNING, the text and the file unchanged), and process_vm_readv,
# which pins pages and has no access() fallback, fails with EFAULT.  On ext2 (page cache)
# the same program shows both working, so the errors are the mappings', not the tool's.
# In the devmap model the device memory has ZONE_DEVICE pages, which get_user_pages can
# pin: there everything works as on ext2: process_vm_readv reads, PTRACE_POKETEXT plants a
# breakpoint in a private copy of the text page (the file unchanged), and
# mprotect(PROT_WRITE) of a private read-only mapping is allowed: xipfs clears VM_MAYWRITE
# on such mappings only with plain pages (Documentation/filesystems/xipfs.rst).
# Same image as t-xipfs-exec.sh.
. ./lib.sh

img=/data/xipfs-img/exec.img
need_files $img
need_xipfs
need_progs xipmap

load_image $img 16
run mount -t xipfs -o ro $dev /mnt/x
# What pinning gives in this model (xipmap's defaults are the pages model's).
mprotect_expect=EACCES
if [ "$dev_model" = devmap ]; then
	export PVM_EXPECT=ok POKE_EXPECT=ok
	mprotect_expect=ok
fi

for f in /mnt/x/bin/hello-static /mnt/x/bin/busybox /mnt/x/lib/x86_64-linux-gnu/libc.so.6; do
	[ -f "$f" ] || fail "no $f in the image"
	run xipmap proc-mem "$f"
done
run xipmap trace /mnt/x/bin/hello-static
run xipmap trace /mnt/x/bin/busybox
unset PVM_EXPECT POKE_EXPECT

# With plain pages, mprotect(PROT_WRITE) of a private read-only mapping is refused too
# (EACCES), while a private mapping made writable from the start copies on write
# (t-xipfs-mmap.sh); with devmap pages it is allowed and the write stays private.
run xipmap mprotect-write /mnt/x/bin/hello-static $mprotect_expect

# The same from ext2 (page cache, ordinary pages): everything works there.
run umount /mnt/x
run mount -t ext2 -o ro $dev /mnt/x
run env PVM_EXPECT=ok xipmap proc-mem /mnt/x/bin/hello-static
run env POKE_EXPECT=ok xipmap trace /mnt/x/bin/hello-static
run xipmap mprotect-write /mnt/x/bin/hello-static ok
run umount /mnt/x
fsck_clean $dev
exit 0
