# SPDX-License-Identifier: GPL-2.0
# models: own
# (About memory_model=devmap and auto: it passes them itself.)
# xipram memory_model=devmap: whole memory blocks taken from the system at load,
# ZONE_DEVICE pages over them, all given back at unload.
# - a 256 MiB device takes two 128 MiB blocks: MemTotal falls by about that much, the
#   range shows as "xipram" in /proc/iomem instead of System RAM, the log says so;
# - xipfs on it: files written, read back, mapped (xipmap), e2fsck clean;
# - rmmod gives every block back online: /proc/iomem as before, MemTotal and MemFree
#   within 1% (MemFree: 1% or 32 MiB, a quarter of a block) of their values before the
#   load, the blocks online in their old zones;
# - a size that is not whole blocks is rounded up (devmap) or falls back to pages (auto);
# - failures leave MemTotal, MemFree, /proc/iomem and the blocks as they were:
#   memory_model=bogus (EINVAL), more than MemAvailable (ENOMEM), a claim interrupted
#   half-way by a signal (EINTR), and, if the system cannot give them all, as many
#   blocks as MemAvailable allows (EBUSY);
# - every movable block (no kernel-zone block is ever taken) is claimed and given back
#   (the times are printed).
# Needs a kernel booted with movablecore= (see xipram.rst); prints the figures
# (MemTotal, MemFree, claim and release times) as it goes.
. ./lib.sh

grep -q movablecore= /proc/cmdline || fail "boot with movablecore= (e.g. 1G) to have blocks that can be taken"
ko=$(modinfo -F filename xipram 2>/dev/null || find /lib/modules -name xipram.ko)
[ -f "$ko" ] || fail "xipram.ko not found"
modinfo -F parm xipram | grep -q '^memory_model:' || fail "modinfo does not list memory_model"

MIB=1048576
block_mib=$(($(printf %d "0x$(cat /sys/devices/system/memory/block_size_bytes)") / MIB))

# The state of memory a load must leave as it found: System RAM in /proc/iomem and
# every block's state and zone. Adjacent System RAM entries count as one: a block
# given back is an entry of its own (release_mem_region_adjustable() split the boot
# one when it was taken, and hotplugged memory is not merged with boot memory).
memstate() {
	grep -E '^[0-9a-f]+-[0-9a-f]+ : (System RAM|xipram)$' /proc/iomem | {
		s= e= n=
		while IFS=' -' read -r a b _ name rest; do
			name="$name${rest:+ $rest}"
			if [ -n "$s" ] && [ "$name" = "$n" ] && [ $((0x$e + 1)) -eq $((0x$a)) ]; then
				e=$b
				continue
			fi
			[ -n "$s" ] && echo "$s-$e : $n"
			s=$a e=$b n=$name
		done
		[ -n "$s" ] && echo "$s-$e : $n"
	}
	for b in /sys/devices/system/memory/memory*; do
		echo "${b##*/} $(cat "$b/state") $(cat "$b/valid_zones" 2>/dev/null)"
	done | sort
}
settle() { drain_mem; }
now() { cut -d' ' -f1 /proc/uptime; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# within_pct A B PCT: |A - B| <= PCT% of B
within_pct() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d * 100 <= b * p) }'; }

# use_fs: xipfs on /dev/xipram0: a file written, read back and mapped; e2fsck clean.
use_fs() {
	run mke2fs -q -t ext2 -b 4096 /dev/xipram0
	mkdir -p /mnt/x
	run mount -t xipfs /dev/xipram0 /mnt/x
	run dd if=/dev/urandom of=/tmp/f bs=1M count=16 2>/dev/null
	run cp /tmp/f /mnt/x/f
	sync
	cmp /tmp/f /mnt/x/f || fail "file read back differs"
	if command -v xipmap >/dev/null; then
		run xipmap shared /mnt/x/f --mixedmap
		run xipmap private-cow /mnt/x/f
	fi
	run umount /mnt/x
	fsck_clean /dev/xipram0
	rm -f /tmp/f
}

# check_back WHAT [NEW_MIB]: memory is as before the load: /proc/iomem and the blocks
# as they were, MemTotal and MemFree within 1%. NEW_MIB: how much of the memory taken
# may have been taken for the first time since boot. The boot memmap of such blocks
# (64 bytes per 4 KiB page, 1/64) was reserved at boot and is freed with them, and a
# new one allocated when they come back: MemTotal may be higher by 1/64 of NEW_MIB.
# In a KASAN kernel, MemFree may be lower by 1/8 of it (see the first cycle below).
# MemFree also moves with what the rest of the kernel holds for a while even after
# drain_mem (a stop in CI once saw 19 MiB less after a load that took nothing): it may
# differ by 1% or 32 MiB, whichever is more, still far below one block lost (128 MiB).
kasan=0
# (kallsyms, not the boot log: after a long make check the 128 KiB log ring has lost it.)
grep -qw kasan_report /proc/kallsyms && kasan=1
# Blocks taken from a kernel zone come back in the kernel zone memory hotplug picks,
# which may be Normal for a block that was DMA32 (see xipram.rst): with NEW_MIB, the
# zone names of kernel blocks are only reported, not compared.
check_back() {
	settle
	memstate >/tmp/state1
	if [ -n "${2:-}" ]; then
		diff /tmp/state0 /tmp/state1 | grep '^[-+]memory' && echo "$1: note: kernel blocks came back in another kernel zone"
		sed 's/ DMA32$/ kernel/; s/ Normal$/ kernel/' /tmp/state0 >/tmp/state0k
		sed 's/ DMA32$/ kernel/; s/ Normal$/ kernel/' /tmp/state1 >/tmp/state1k
		diff /tmp/state0k /tmp/state1k || fail "$1: memory not as before the load (/proc/iomem, blocks)"
	else
		diff /tmp/state0 /tmp/state1 || fail "$1: memory not as before the load (/proc/iomem, blocks)"
	fi
	total2=$(meminfo MemTotal)
	free2=$(meminfo MemFree)
	echo "$1: MemTotal $total0 -> $total2 kB ($((total2 - total0)) kB), MemFree $free0 -> $free2 kB ($((free2 - free0)) kB)"
	memmap=$((${2:-0} * 1024 / 64))
	[ "$total2" -ge $((total0 - total0 / 100)) ] && [ "$total2" -le $((total0 + total0 / 100 + memmap)) ] ||
		fail "$1: MemTotal $total2 kB not within 1% of $total0 kB (plus $memmap kB of boot memmap freed)"
	shadow=$((kasan * ${2:-0} * 1024 / 8))
	slack=$((free0 / 100))
	[ "$slack" -ge 32768 ] || slack=32768
	[ "$free2" -ge $((free0 - slack - shadow)) ] && [ "$free2" -le $((free0 + slack)) ] ||
		fail "$1: MemFree $free2 kB not within $slack kB of $free0 kB (less $shadow kB of KASAN shadow)"
}

# A first cycle beforehand, with the filesystem, takes what such a cycle costs once
# and for good, so that the figures below compare device memory alone: the module
# code and xipfs loaded, in a debug kernel the KASAN quarantine filled by the
# filesystem work (Slab), and the KASAN shadow of the blocks allocated anew when
# they come back (1/8 of their size; the boot-time shadow is never freed). Its own
# figures are printed.
run modprobe xipfs
settle
memstate >/tmp/state0
total0=$(meminfo MemTotal)
free0=$(meminfo MemFree)
run modprobe xipram memory_model=devmap size_mib=256
use_fs
run rmmod xipram
settle
echo "first cycle: MemTotal $total0 -> $(meminfo MemTotal) kB, MemFree $free0 -> $(meminfo MemFree) kB, Slab $(meminfo Slab) kB"
memstate >/tmp/state1
diff /tmp/state0 /tmp/state1 || fail "first cycle: memory not as before the load (/proc/iomem, blocks)"

memstate >/tmp/state0
total0=$(meminfo MemTotal)
free0=$(meminfo MemFree)
echo "before: MemTotal $total0 kB, MemFree $free0 kB, block $block_mib MiB"

# --- a 256 MiB devmap device --------------------------------------------------
mark=$(dmesg_mark)
t=$(now)
run modprobe xipram memory_model=devmap size_mib=256
echo "claim 256 MiB: $(ms_since "$t") ms (module load, KUnit suite included)"
dmesg_since "$mark" | grep -q 'xipram: xipram0: 256 MiB of ZONE_DEVICE (devmap) memory' ||
	fail "no dmesg line for a 256 MiB devmap device"
dmesg_since "$mark" | grep 'xipram: took'
expect_eq "$(cat /sys/block/xipram0/size)" $((256 * 2048)) "xipram0 sectors"
expect_eq "$(cat /sys/block/xipram0/queue/dax)" 1 "queue/dax"
grep xipram /proc/iomem
expect_eq "$(grep -c ' : xipram$' /proc/iomem)" 1 "xipram ranges in /proc/iomem"
r=$(sed -n 's/^ *\([0-9a-f]*\)-\([0-9a-f]*\) : xipram$/\1 \2/p' /proc/iomem)
expect_eq "$(echo "$r" | { read -r s e; echo $(( (0x$e + 1 - 0x$s) / MIB )); })" 256 "MiB claimed in /proc/iomem"
total1=$(meminfo MemTotal)
echo "loaded: MemTotal $total1 kB ($(( (total0 - total1) / 1024 )) MiB less)"
# 256 MiB less, give or take the boot memmap of the blocks (freed with them).
[ $((total0 - total1)) -ge $((248 * 1024)) ] && [ $((total0 - total1)) -le $((256 * 1024)) ] ||
	fail "MemTotal fell by $((total0 - total1)) kB, not about 256 MiB"
t=$(now)
run rmmod xipram
echo "release 256 MiB: $(ms_since "$t") ms"
check_back "load and unload"

# The same with the filesystem used in between.
run modprobe xipram memory_model=devmap size_mib=256
use_fs
run rmmod xipram
check_back "load, xipfs, unload"

# --- sizes that are not whole blocks ---------------------------------------------
mark=$(dmesg_mark)
run modprobe xipram memory_model=devmap size_mib=100
expect_eq "$(cat /sys/block/xipram0/size)" $((block_mib * 2048)) "devmap size_mib=100 rounded up"
dmesg_since "$mark" | grep -q "size_mib=100 rounded up to $block_mib MiB" || fail "no dmesg line for the rounding"
run rmmod xipram
mark=$(dmesg_mark)
run modprobe xipram size_mib=100
expect_eq "$(cat /sys/block/xipram0/size)" $((100 * 2048)) "auto size_mib=100"
dmesg_since "$mark" | grep -q "memory_model=auto: using pages: size_mib=100 is not a whole number" ||
	fail "no dmesg line saying why auto used pages"
run rmmod xipram
mark=$(dmesg_mark)
run modprobe xipram size_mib=$block_mib
dmesg_since "$mark" | grep -q "xipram0: $block_mib MiB of ZONE_DEVICE (devmap) memory" ||
	fail "auto did not use devmap for one whole block"
run rmmod xipram

# --- failures leave everything as it was -------------------------------------------
# try PARAMS ERRNO_TEXT DMESG_PATTERN
try() {
	mark=$(dmesg_mark)
	if insmod "$ko" $1 >/tmp/insmod.out 2>&1; then
		rmmod xipram
		fail "insmod xipram $1 succeeded"
	fi
	cat /tmp/insmod.out
	grep -qi "$2" /tmp/insmod.out || fail "insmod xipram $1: expected '$2'"
	dmesg_since "$mark" | grep "xipram: .*$3" || { dmesg_since "$mark"; fail "insmod xipram $1: no dmesg line matching '$3'"; }
	ls /dev/xipram* 2>/dev/null && fail "insmod xipram $1 left devices behind"
	settle
	memstate >/tmp/state2
	diff /tmp/state0 /tmp/state2 || fail "insmod xipram $1 did not leave memory as it was"
	within_pct "$(meminfo MemTotal)" "$total0" 1 || fail "MemTotal $(meminfo MemTotal) kB after insmod xipram $1"
}
try "memory_model=bogus" "invalid" "memory_model=bogus: must be auto, devmap or pages"
try "memory_model=devmap nr_devices=4 size_mib=2048" "memory" "more memory than is available"

# More blocks than are movable (MemAvailable's worth): EBUSY at once, nothing offlined,
# and the line says how many movable blocks there are (only those are ever taken).
n=$(( $(meminfo MemAvailable) / 1024 / block_mib ))
mark=$(dmesg_mark)
if insmod "$ko" memory_model=devmap size_mib=$((n * block_mib)) >/tmp/insmod.out 2>&1; then
	run rmmod xipram
	movable=$n
	echo "all $n blocks MemAvailable allows are movable and were taken"
else
	cat /tmp/insmod.out
	grep -qi busy /tmp/insmod.out || fail "insmod xipram size_mib=$((n * block_mib)): expected EBUSY"
	line=$(dmesg_since "$mark" | grep "xipram: .*needs $n memory blocks of $block_mib MiB, could take 0 (.* movable, and only movable ones are taken" | tail -n 1)
	[ -n "$line" ] || { dmesg_since "$mark"; fail "no dmesg line saying how many movable blocks there are"; }
	echo "$line"
	movable=$(echo "$line" | sed -n 's/.* online, \([0-9]*\) movable.*/\1/p')
fi
check_back "more blocks than movable"
echo "movable blocks without reserved pages: $movable"
# (make check's movablecore=1G leaves 3: the KASAN shadow and other boot-time allocations
# take the rest of the top 1 GiB.)
[ "$movable" -ge 2 ] || fail "only $movable movable blocks: boot with a larger movablecore="

# A claim interrupted half-way (a signal stops offlining): EINTR, every block taken
# so far given back. Movable memory is first filled with tmpfs pages, so that
# offlining each block has 128 MiB to migrate, which takes seconds here.
mkdir -p /mnt/fill
run mount -t tmpfs -o size=$((movable * block_mib))m none /mnt/fill
dd if=/dev/zero of=/mnt/fill/f bs=1M count=$((movable * block_mib - 16)) 2>/dev/null
mark=$(dmesg_mark)
insmod "$ko" memory_model=devmap size_mib=$((movable * block_mib)) >/tmp/insmod.out 2>&1 &
pid=$!
sleep 1
kill -TERM $pid  # (a background job of a script ignores SIGINT)
wait $pid && { rmmod xipram; fail "the interrupted load succeeded (signal too late?)"; }
cat /tmp/insmod.out
dmesg_since "$mark" | grep "xipram: .*interrupted while taking memory blocks; all given back" ||
	{ dmesg_since "$mark"; fail "no dmesg line for the interrupted claim"; }
ls /dev/xipram* 2>/dev/null && fail "the interrupted load left devices behind"
run umount /mnt/fill
check_back "interrupted claim" $((movable * block_mib))

# --- figures: every movable block ----------------------------------------------------
t=$(now)
run modprobe xipram memory_model=devmap size_mib=$((movable * block_mib))
echo "claim $((movable * block_mib)) MiB: $(ms_since "$t") ms (module load, KUnit suite included)"
dmesg | grep 'xipram: took' | tail -n 1
dmesg | grep 'xipram: xipram0:' | tail -n 1
t=$(now)
run rmmod xipram
echo "release $((movable * block_mib)) MiB: $(ms_since "$t") ms"
check_back "$((movable * block_mib)) MiB" $((movable * block_mib))
exit 0
