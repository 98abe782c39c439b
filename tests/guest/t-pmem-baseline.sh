# SPDX-License-Identifier: GPL-2.0
# models: own
# (No xipram device: emulated pmem only.)
# The kernel's own DAX, the baseline xipfs is compared with: emulated pmem
# reserved with memmap=SIZE!START on the kernel command line (make check boots
# with two regions, see scripts/check), /dev/pmemN with struct pages (devmap),
# and ext2 -o dax on it: DAX in use (dmesg, /proc/mounts, statx), data written,
# read back after a remount, mapped (ext2's DAX mmap needs devmap pages), and no
# page cache for reads, where the same file on ext2 without DAX fills it.
# Without memmap= on the command line there is no baseline: the test fails.
. ./lib.sh

need_progs xipmap

# --- The regions the command line asked for, by start address: "START SIZE".
to_bytes() {
	case "$1" in
	*[kK]) echo $((${1%?} * 1024)) ;;
	*[mM]) echo $((${1%?} * 1024 * 1024)) ;;
	*[gG]) echo $((${1%?} * 1024 * 1024 * 1024)) ;;
	*) echo $(($1)) ;;
	esac
}
: >/tmp/regions
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	memmap=*!*)
		v=${arg#memmap=}
		echo "$(to_bytes "${v#*!}") $(to_bytes "${v%%!*}")" >>/tmp/regions ;;
	esac
done
sort -n /tmp/regions -o /tmp/regions
nreg=$(wc -l </tmp/regions)
[ "$nreg" -ge 2 ] || fail "this test needs the guest booted with two emulated pmem regions" \
	"(memmap=SIZE!START, twice); the command line is: $(cat /proc/cmdline)." \
	"make check passes them (scripts/check); by hand:" \
	"VM_RUN_MEM=3G VM_RUN_APPEND='memmap=384M!1G memmap=384M!1536M' scripts/vm-run ..."

# --- /dev/pmemN: they appear asynchronously, after the regions are probed.
i=0
while [ $i -lt 30 ] && ! { [ -b /dev/pmem0 ] && [ -b /dev/pmem1 ]; }; do
	sleep 1
	i=$((i + 1))
done
if ! [ -b /dev/pmem0 ] || ! [ -b /dev/pmem1 ]; then
	grep -i persistent /proc/iomem
	ls /sys/bus/nd/devices/ 2>&1
	fail "no /dev/pmem0 and /dev/pmem1 after 30 s" \
		"(nd_pmem needs CONFIG_ND_CLAIM, selected by NVDIMM_PFN or BTT)"
fi
n=0
while read -r start size; do
	d=pmem$n
	expect_eq "$(($(cat /sys/block/$d/size) * 512))" "$size" "$d size"
	expect_eq "$(($(cat /sys/block/$d/device/resource)))" "$start" "$d start (namespace resource)"
	expect_eq "$(cat /sys/block/$d/queue/dax)" 1 "/sys/block/$d/queue/dax"
	n=$((n + 1))
done </tmp/regions
grep -q "Persistent Memory (legacy)" /proc/iomem || fail "no Persistent Memory (legacy) in /proc/iomem"

mkdir -p /mnt/p /mnt/q
size_kb=16384
head -c $((size_kb * 1024)) /dev/urandom >/tmp/big

# cached_growth CMD...: sets $growth to how much Cached (kB) grew while CMD ran,
# from cold caches.
cached_growth() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(meminfo Cached)
	"$@" || fail "'$*' exited with $?"
	growth=$(($(meminfo Cached) - before))
}

# --- ext2 -o dax on pmem0.
run mke2fs -q -t ext2 -b 4096 /dev/pmem0
mark=$(dmesg_mark)
run mount -t ext2 -o dax /dev/pmem0 /mnt/p
dmesg_since "$mark" >/tmp/dmesg.mount
grep -q "EXT2-fs (pmem0): DAX enabled" /tmp/dmesg.mount ||
	{ cat /tmp/dmesg.mount; fail "dmesg does not say DAX enabled for pmem0"; }
! grep -Eq "Turning off DAX|unsupported blocksize for DAX" /tmp/dmesg.mount ||
	{ cat /tmp/dmesg.mount; fail "ext2 turned DAX off on pmem0"; }
grep "^/dev/pmem0 /mnt/p " /proc/mounts | grep -qw dax || { cat /proc/mounts; fail "/proc/mounts does not show dax"; }
run cp /tmp/big /mnt/p/big
cmp /tmp/big /mnt/p/big || fail "dax: file differs right after writing"
run umount /mnt/p
fsck_clean /dev/pmem0

run mount -t ext2 -o dax /dev/pmem0 /mnt/p
run xipmap statx-dax /mnt/p/big yes
cached_growth cmp /tmp/big /mnt/p/big
echo "ext2 -o dax on pmem0: reading ${size_kb} kB back grew Cached by ${growth} kB"
[ "$growth" -lt $((size_kb / 16)) ] || fail "ext2 -o dax read ${size_kb} kB and Cached grew by ${growth} kB"
# ext2 does not set VM_MIXEDMAP: its DAX faults work only on devmap (struct page) pfns.
cached_growth xipmap shared /mnt/p/big
echo "ext2 -o dax on pmem0: mapping ${size_kb} kB grew Cached by ${growth} kB"
[ "$growth" -lt $((size_kb / 16)) ] || fail "ext2 -o dax mapped ${size_kb} kB and Cached grew by ${growth} kB"
run umount /mnt/p
fsck_clean /dev/pmem0

# --- The control, on pmem1: ext2 without DAX reads through the page cache, and
# the measurement above sees it.
run mke2fs -q -t ext2 -b 4096 /dev/pmem1
run mount -t ext2 /dev/pmem1 /mnt/q
grep "^/dev/pmem1 /mnt/q " /proc/mounts | grep -qw dax && fail "pmem1 mounted with dax although not asked"
run cp /tmp/big /mnt/q/big
run xipmap statx-dax /mnt/q/big no
cached_growth cmp /tmp/big /mnt/q/big
echo "ext2 on pmem1 (no dax): reading ${size_kb} kB back grew Cached by ${growth} kB"
[ "$growth" -ge $((size_kb * 3 / 4)) ] || fail "ext2 without dax read ${size_kb} kB but Cached grew by only ${growth} kB"
run umount /mnt/q
fsck_clean /dev/pmem1
exit 0
