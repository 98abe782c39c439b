# SPDX-License-Identifier: GPL-2.0
# Benchmarks, in one guest boot: sequential throughput of xipram against brd, reading
# files from xipfs against ext2 on brd and tmpfs, writing files to xipfs against ext2
# -o dax on emulated pmem and tmpfs.
# Under TCG the absolute figures mean little; the ratios do.
set -e
MIB=${BENCH_MIB:-256}
RUNS=${BENCH_RUNS:-3}

now() { cut -d' ' -f1 /proc/uptime; }
# mibps CMD...: run CMD, print MiB/s for $MIB MiB (uptime has 10 ms steps).
mibps() {
	t0=$(now)
	"$@" >/dev/null 2>&1
	t1=$(now)
	awk -v m="$MIB" -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; if (d < 0.01) d = 0.01; printf "%d", m / d }'
}
median() { tr ' ' '\n' | sort -n | sed -n "$((($RUNS + 1) / 2))p"; }

modprobe xipram size_mib=$MIB
modprobe brd rd_nr=1 rd_size=$((MIB * 1024))
# The data written: a 1 MiB random block repeated (random data from the
# emulated CPU is slow to make).
head -c $((1 << 20)) /dev/urandom >/tmp/block
for _ in $(seq $MIB); do cat /tmp/block; done >/tmp/data

echo "sequential throughput, $MIB MiB, 1 MiB blocks, median of $RUNS runs (MiB/s)"
printf '%-22s %10s %10s %8s\n' test xipram0 ram0 ratio
for mode in "write direct" "read direct" "write buffered" "read buffered"; do
	set -- $mode
	for dev in xipram0 ram0; do
		res=""
		for _ in $(seq $RUNS); do
			echo 3 >/proc/sys/vm/drop_caches
			case $mode in
			"write direct") r=$(mibps dd if=/tmp/data of=/dev/$dev bs=1M count=$MIB oflag=direct) ;;
			"read direct") r=$(mibps dd if=/dev/$dev of=/dev/null bs=1M count=$MIB iflag=direct) ;;
			"write buffered") r=$(mibps sh -c "dd if=/tmp/data of=/dev/$dev bs=1M count=$MIB && sync") ;;
			"read buffered") r=$(mibps dd if=/dev/$dev of=/dev/null bs=1M count=$MIB) ;;
			esac
			res="$res $r"
		done
		eval "r_$dev=$(echo $res | median)"
	done
	ratio=$(awk -v a="$r_xipram0" -v b="$r_ram0" 'BEGIN { printf "%.2f", a / b }')
	printf '%-22s %10s %10s %8s\n' "$mode" "$r_xipram0" "$r_ram0" "$ratio"
done
cmp /dev/xipram0 /dev/ram0 && echo "both devices hold the same data"

# Files: reading a file from xipfs (DAX, no page cache) against ext2 on brd
# (cold page cache, then warm) and tmpfs (the page cache is the only copy).
cached() { awk '$1 == "Cached:" { print $2 }' /proc/meminfo; }
FMIB=$((MIB / 2))
mke2fs -q -t ext2 -b 4096 /dev/ram0
mkdir -p /mnt/ext2 /mnt/xip /mnt/tmp
mount -t ext2 /dev/ram0 /mnt/ext2
head -c $((FMIB << 20)) /tmp/data >/mnt/ext2/file
umount /mnt/ext2
dd if=/dev/ram0 of=/dev/xipram0 bs=1M 2>/dev/null
mount -t ext2 -o ro /dev/ram0 /mnt/ext2
mount -t xipfs -o ro /dev/xipram0 /mnt/xip
mount -t tmpfs tmpfs /mnt/tmp
cp /mnt/ext2/file /mnt/tmp/file
rm -f /tmp/data
echo
echo "reading a $FMIB MiB file, median of $RUNS runs (MiB/s), and the page cache it adds (KiB)"
printf '%-22s %10s %12s\n' filesystem MiB/s "page cache"
for fs in xip ext2 tmp; do
	res=""
	for _ in $(seq $RUNS); do
		[ $fs = tmp ] || echo 3 >/proc/sys/vm/drop_caches
		c0=$(cached)
		r=$(MIB=$FMIB; mibps cat /mnt/$fs/file)
		grow=$(($(cached) - c0))
		res="$res $r"
	done
	eval "f_$fs=$(echo $res | median)"
	eval "g_$fs=$grow"
done
printf '%-22s %10s %12s\n' "xipfs on xipram" "$f_xip" "$g_xip"
printf '%-22s %10s %12s\n' "ext2 on brd (cold)" "$f_ext2" "$g_ext2"
printf '%-22s %10s %12s\n' "tmpfs" "$f_tmp" "-"
awk -v a="$f_xip" -v b="$f_ext2" -v c="$f_tmp" 'BEGIN { printf "ratios: xipfs/ext2-on-brd %.2f, xipfs/tmpfs %.2f\n", a / b, a / c }'
umount /mnt/ext2 /mnt/xip /mnt/tmp

# Writing files: xipfs (read-write) against the kernel's own DAX filesystem, ext2 -o dax
# on emulated pmem (the boot reserves it with memmap=, as make bench passes), and tmpfs.
# Each run writes a new $FMIB MiB file with 1 MiB writes and fsyncs it (dd conv=fsync).
mount -t tmpfs tmpfs /mnt/tmp
head -c $((1 << 20)) /dev/urandom >/tmp/block
for _ in $(seq $FMIB); do cat /tmp/block; done >/tmp/wdata
i=0
while [ ! -b /dev/pmem0 ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
mke2fs -q -t ext2 -b 4096 /dev/xipram0
mount -t xipfs /dev/xipram0 /mnt/xip
have_pmem=0
if [ -b /dev/pmem0 ]; then
	mke2fs -q -t ext2 -b 4096 /dev/pmem0
	mount -t ext2 -o dax /dev/pmem0 /mnt/ext2 && have_pmem=1
fi
echo
echo "writing a new $FMIB MiB file (1 MiB writes, fsync), median of $RUNS runs (MiB/s), and the page cache it adds (KiB)"
printf '%-22s %10s %12s
' filesystem MiB/s "page cache"
for fs in xip ext2 tmp; do
	[ $fs != ext2 ] || [ $have_pmem = 1 ] || continue
	res=""
	for n in $(seq $RUNS); do
		rm -f /mnt/$fs/w*
		sync
		c0=$(cached)
		r=$(MIB=$FMIB; mibps dd if=/tmp/wdata of=/mnt/$fs/w$n bs=1M conv=fsync)
		grow=$(($(cached) - c0))
		res="$res $r"
	done
	cmp /tmp/wdata /mnt/$fs/w$RUNS || echo "error: /mnt/$fs/w$RUNS differs from what was written"
	eval "w_$fs=$(echo $res | median)"
	eval "h_$fs=$grow"
done
printf '%-22s %10s %12s
' "xipfs on xipram" "$w_xip" "$h_xip"
[ $have_pmem = 1 ] && printf '%-22s %10s %12s
' "ext2 -o dax on pmem" "$w_ext2" "$h_ext2"
printf '%-22s %10s %12s
' "tmpfs" "$w_tmp" "-"
if [ $have_pmem = 1 ]; then
	awk -v a="$w_xip" -v b="$w_ext2" -v c="$w_tmp" 'BEGIN { printf "ratios: xipfs/ext2-dax-on-pmem %.2f, xipfs/tmpfs %.2f\n", a / b, a / c }'
	umount /mnt/ext2
	e2fsck -fn /dev/pmem0 >/dev/null 2>&1 || echo "error: e2fsck -fn /dev/pmem0 found problems"
else
	echo "no /dev/pmem0 (boot with memmap=, as make bench does): ext2 -o dax not measured"
	awk -v a="$w_xip" -v c="$w_tmp" 'BEGIN { printf "ratios: xipfs/tmpfs %.2f\n", a / c }'
fi
umount /mnt/xip /mnt/tmp
e2fsck -fn /dev/xipram0 >/dev/null 2>&1 || echo "error: e2fsck -fn /dev/xipram0 found problems"
rmmod xipfs brd xipram
