# SPDX-License-Identifier: GPL-2.0
# models: own
# (it loads xipram in the devmap model, then in the pages model, itself)
# What get_user_pages() enables on xipfs mappings, in both of xipram's memory models:
# xipfs on a 128 MiB device loaded with memory_model=devmap (ZONE_DEVICE pages, which
# get_user_pages takes: everything works as on any file, the bytes are checked), then
# with memory_model=pages (special PTEs: each check gets the failure of that model, its
# errno checked). Each check is one `xipgup MODEL CHECK` (tests/progs/xipgup.rs, which
# lists every step and the outcome it expects in each model):
# - proc-mem: /proc/PID/mem reads of another process's mappings (both models); writes
#   into its MAP_SHARED mapping reach the file (pages: EIO), writes into its private
#   mappings go to a private copy of the file's page, the file unchanged (pages: EIO for
#   a read-only one; a page never touched is copied by the fault in both);
# - pvm: process_vm_readv/writev of them (pages: EFAULT); devmap: a write into a read
#   page of a writable private mapping goes to a private copy of the file's page;
# - ptrace: a static busybox copied onto xipfs, started under ptrace; an int3 written at its
#   entry with PTRACE_POKETEXT traps there (rip = entry + 1), is taken out, and the
#   program finishes normally; another busybox running from the same file, a new one
#   started afterwards and the file itself never see it (pages: EIO, nothing written);
# - odirect: O_DIRECT reads of a brd device into a MAP_SHARED mapping of a 4 MiB file
#   fill the file, O_DIRECT writes from it fill the device (pages: EEXIST, what
#   get_user_pages answers for a present PTE without a struct page);
# - futex: FUTEX_WAIT/FUTEX_WAKE between two processes that each map the file (pages:
#   EEXIST); mutex: a PTHREAD_PROCESS_SHARED mutex in it, contended (pages: glibc aborts
#   on the EEXIST of its timed futex wait; its untimed lock spins on it, so mutual
#   exclusion still holds);
# - vmsplice: a mapped page spliced into a pipe is the page itself; a truncate waits
#   while the pipe holds it (pages: EEXIST);
# - fork: a child sees the parent's shared and private (copied) pages, writes through
#   either reach the right place, and the child can use get_user_pages on them (pages:
#   EFAULT from process_vm_readv, EIO from /proc/self/mem writes).
# Writes into another process's private mapping are checked against a decoy (xipgup.rs):
# a private copy made from the writer's memory instead of the file shows as 0x5a bytes.
# e2fsck -fn is clean after each model, and the copied busybox is unchanged.
. ./lib.sh

need_xipfs
need_progs xipgup
grep -q movablecore= /proc/cmdline || fail "boot with movablecore= (e.g. 1G) for the devmap model"
bb=$(command -v busybox)
[ -n "$bb" ] && [ "$(head -c 18 "$bb" | od -An -tx1 -j16 | tr -d ' ')" = 0200 ] ||
	fail "busybox ($bb) is not a static ET_EXEC program"

unload_all
# The other block device for O_DIRECT: 16 MiB of brd.
run modprobe brd rd_nr=1 rd_size=16384
[ -b /dev/ram0 ] || fail "no /dev/ram0 after modprobe brd"
mkdir -p /mnt/x

failed=
for model in devmap pages; do
	echo "--- memory_model=$model"
	mark=$(dmesg_mark)
	run modprobe xipram memory_model=$model size_mib=128
	case $model in
	devmap) what="ZONE_DEVICE (devmap)" ;;
	pages) what="page allocator" ;;
	esac
	dmesg_since "$mark" | grep -q "xipram0: 128 MiB of $what memory" ||
		{ dmesg_since "$mark"; fail "xipram did not say it uses $what memory"; }
	run mke2fs -q -F -t ext2 -b 4096 /dev/xipram0
	fsck_clean /dev/xipram0
	run mount -t xipfs /dev/xipram0 /mnt/x
	run cp "$bb" /mnt/x/busybox
	sync
	for check in proc-mem pvm "ptrace /mnt/x/busybox" "odirect /mnt/x /dev/ram0" futex mutex vmsplice fork; do
		case $check in
		*/*) set -- $check ;;
		*) set -- $check /mnt/x ;;
		esac
		xipgup $model "$@" || failed="$failed $model:$1"
	done
	cmp "$bb" /mnt/x/busybox || fail "$model: the busybox on xipfs changed"
	run umount /mnt/x
	fsck_clean /dev/xipram0
	run rmmod xipram
done
run rmmod brd
[ -z "$failed" ] || fail "checks that failed:$failed"
exit 0
