# SPDX-License-Identifier: GPL-2.0
# The benchmark suite, in one boot of the benchmark kernel (make bench, scripts/bench): every
# workload on every backend, timed by xipbench (tests/progs/xipbench.rs), one JSON line per
# workload and backend on the console, each prefixed "XIPBENCH " for the host to collect.
#
# Backends, each a filesystem of BENCH_MIB MiB made the same way (mke2fs -t ext2 -b 4096):
#   xipfs-pages    xipfs on xipram, memory_model=pages (page allocator memory)
#   xipfs-devmap   xipfs on xipram, memory_model=devmap (ZONE_DEVICE, 2 MiB faults)
#   xipfs-pmem     xipfs on the second emulated pmem region (the filesystem alone: same
#                  device as the reference)
#   ext2-dax-pmem  ext2 -o dax on the first emulated pmem region: the reference
#   ext2-brd       ext2 on brd (the page cache over a RAM disk: every page twice)
#   tmpfs          tmpfs (the page cache is the only copy)
# Workloads (cases): memcpy (once: the bandwidth limit), seq-read/seq-write (1 MiB
# requests over a BENCH_FILE_MIB file) and their O_DIRECT forms, rand-read/rand-write (4 KiB)
# and their O_DIRECT forms, first-touch faults over a BENCH_FAULT_MIB file (shared read,
# shared write, private write; 4 KiB and 2 MiB-aligned with MADV_HUGEPAGE), exec of a
# static and a dynamic binary, create+stat+unlink of BENCH_FILES files, a walk of the
# root tree, tar x of it, and the memory a root filesystem costs (below).
#
# Memory, as a user sees it: from before the device exists to after the root image
# (/data/bench/root.img, made by scripts/bench) was loaded onto it (dd oflag=direct; tmpfs:
# tar x), mounted, all of its programs run (chroot) and all of its files read, with no
# drop_caches anywhere: the fall of MemFree (which counts the memory blocks devmap takes
# out of the system: they leave MemFree as they leave MemTotal), plus, for pmem, the part
# of the region the filesystem uses (reserved at boot with memmap=, so never in MemTotal).
# Divided by the image's size.
set -u
export PATH=/data/bin:$PATH
. /data/bench.conf
MIB=${BENCH_MIB:-256}
RUNS=${BENCH_RUNS:-5}
FILE_MIB=${BENCH_FILE_MIB:-128}
FAULT_MIB=${BENCH_FAULT_MIB:-64}
FILES=${BENCH_FILES:-10000}
BACKENDS=${BENCH_BACKENDS:-"xipfs-pages xipfs-devmap xipfs-pmem ext2-dax-pmem ext2-brd tmpfs"}
CASES=${BENCH_CASES:-all}
ROOT_IMG=/data/bench/root.img
ROOT_TAR=/data/bench/root.tar
M=/mnt/b
MKFS="mke2fs -q -F -t ext2 -b 4096"

log() { echo "bench: $*"; }
# emit CASE BACKEND LINE: one result line, with its case name, for the host.
emit() {
	printf 'XIPBENCH {"case":"%s",%s\n' "$1" "${3#\{}"
}
# err CASE BACKEND MESSAGE: a workload that could not run on a backend.
err() {
	printf 'XIPBENCH {"case":"%s","backend":"%s","error":"%s"}\n' "$1" "$2" "$3"
}
want() { [ "$CASES" = all ] || case " $CASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# bench CASE BACKEND XIPBENCH-ARGS...: run one workload, emit its line or an error.
bench() {
	_c=$1 _b=$2 _s=$3
	shift 3
	want "$_c" || return 0
	vm_mark
	# --backend right after the subcommand: exec and cmd end with the program's arguments.
	if _l=$(xipbench $_s --backend "$_b" "$@" 2>/tmp/bench.err); then
		vm_since "$_c $_b"
		emit "$_c" "$_b" "$_l"
	else
		err "$_c" "$_b" "$(tail -n 1 /tmp/bench.err | tr -d '"\\')"
		log "$_c on $_b failed: $(tail -n 3 /tmp/bench.err)"
	fi
}

mem() { awk -v k="$1:" '$1 == k { print $2 * 1024 }' /proc/meminfo; }
# settle: wait until MemFree stands still.  Freed pages wait in the page allocator's per-CPU
# lists, out of MemFree, and a device torn down may give its memory back after rmmod
# returns.  Each write to stat_refresh makes every CPU fold its counter deltas and trim its
# lists to their high mark (kept low for the memory runs, below); then MemFree is read a
# second apart until it moves by less than 1 MiB (at most 30 s).
settle() {
	_prev=-1 _start=$(mem MemFree)
	for _t in $(seq 30); do
		for _i in $(seq 40); do echo 1 >/proc/sys/vm/stat_refresh; done 2>/dev/null
		_now=$(mem MemFree)
		if [ $_prev -ge 0 ] && [ $((_now - _prev)) -lt 1048576 ] && [ $((_prev - _now)) -lt 1048576 ]; then
			[ "$TRACE" != 1 ] || echo "bench-trace settle: MemFree $(((_now - _start) / 1024)) KiB in $_t steps; per-CPU lists hold $(awk '$1 == "count:" { n += $2 } END { print n * 4 }' /proc/zoneinfo) KiB"
			return 0
		fi
		_prev=$_now
		sleep 1
	done
	log "MemFree still moving after 30 s"
}
# vm_mark, then vm_since LABEL: with BENCH_TRACE=1, what the kernel's memory management did
# in between (reclaim, compaction, major faults; counters of /proc/vmstat that moved) and
# the change of MemFree, in KiB.
TRACE=${BENCH_TRACE:-0}
vm_mark() {
	[ "$TRACE" = 1 ] || return 0
	cp /proc/vmstat /tmp/vm.0
	cp /proc/meminfo /tmp/mi.0
}
vm_since() {
	[ "$TRACE" = 1 ] || return 0
	cp /proc/meminfo /tmp/mi.1
	echo "bench-trace $1: $(awk 'NR == FNR { a[$1] = $2; next } $2 != a[$1] && $1 !~ /^(pgalloc|pgfree|pgfault|numa|nr_dirtied|nr_written|pgactivate|pgdeactivate|pglazyfree|pgrefill|pgpg|pgreuse|nr_zone_|nr_inactive|nr_active|workingset_nodes|unevictable_|nr_unevictable|nr_mlock|nr_tlb|pgrotated|pgmigrate|nr_dirty|nr_writeback|nr_mapped|nr_anon|pgfault|nr_kernel_stack|nr_page_table|nr_sec_page)/ { printf "%s %+d, ", $1, $2 - a[$1] }' /tmp/vm.0 /proc/vmstat)$(awk 'NR == FNR { a[$1] = $2; next } $2 != a[$1] { printf "%s %+d, ", $1, $2 - a[$1] }' /tmp/mi.0 /tmp/mi.1)"
}

# The pmem regions appear asynchronously after boot.
i=0
while { [ ! -b /dev/pmem0 ] || [ ! -b /dev/pmem1 ]; } && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
[ -b /dev/pmem1 ] || log "no /dev/pmem0 and /dev/pmem1: boot with two memmap= regions (scripts/bench)"
mkdir -p $M

# setup BACKEND SIZE_MIB: make the backend's device ($dev; none for tmpfs) of SIZE_MIB.
setup() {
	dev=
	case $1 in
	xipfs-pages | xipfs-devmap)
		modprobe xipram nr_devices=1 size_mib=$2 memory_model=${1#xipfs-} || return 1
		dev=/dev/xipram0 ;;
	xipfs-pmem) dev=/dev/pmem1 ;;
	ext2-dax-pmem) dev=/dev/pmem0 ;;
	ext2-brd)
		modprobe brd rd_nr=1 rd_size=$(($2 * 1024)) || return 1
		dev=/dev/ram0 ;;
	tmpfs) ;;
	esac
	[ -z "$dev" ] || [ -b "$dev" ] || { log "$1: no $dev"; return 1; }
}
# fsmount BACKEND: mount the backend's filesystem (made or loaded on $dev) on $M.
fsmount() {
	case $1 in
	xipfs-*) modprobe xipfs && mount -t xipfs $dev $M ;;
	ext2-dax-pmem) mount -t ext2 -o dax $dev $M ;;
	ext2-brd) mount -t ext2 $dev $M ;;
	tmpfs) mount -t tmpfs -o size=${MIB}m tmpfs $M ;;
	esac
}
# teardown BACKEND: unmount, check the filesystem, give the device back.
teardown() {
	umount $M 2>/dev/null
	if [ -n "$dev" ]; then
		e2fsck -fn $dev >/tmp/fsck.out 2>&1 || { log "$1: e2fsck -fn $dev found problems:"; head -n 20 /tmp/fsck.out; }
	fi
	case $1 in
	xipfs-pages | xipfs-devmap) rmmod xipfs 2>/dev/null; rmmod xipram ;;
	xipfs-pmem) rmmod xipfs 2>/dev/null ;;
	ext2-brd) rmmod brd ;;
	esac
	dev=
}

# --- The limit: memory bandwidth in the guest.
bench memcpy memory memcpy --runs $RUNS

# --- Throughput, faults, exec, metadata: a fresh filesystem of MIB on each backend.
for b in $BACKENDS; do
	log "backend $b: throughput, faults, exec, metadata"
	setup $b $MIB || { err all $b "the backend could not be set up"; continue; }
	if [ -n "$dev" ]; then
		$MKFS $dev ${MIB}M || { err all $b "mke2fs failed"; teardown $b; continue; }
	fi
	fsmount $b || { err all $b "mount failed"; teardown $b; continue; }
	R="--runs $RUNS"
	bench seq-write $b seq-write $M/seq --size ${FILE_MIB}M $R
	bench seq-read $b seq-read $M/seq $R
	bench rand-read $b rand-read $M/seq $R
	bench rand-write $b rand-write $M/seq $R
	rm -f $M/seq
	bench seq-write-direct $b seq-write $M/seqd --size ${FILE_MIB}M --direct $R
	bench seq-read-direct $b seq-read $M/seqd --direct $R
	bench rand-read-direct $b rand-read $M/seqd --direct $R
	bench rand-write-direct $b rand-write $M/seqd --direct $R
	rm -f $M/seqd
	# Faults: a file written with write(2), so that each filesystem lays it out as it
	# does; tmpfs gets huge pages for the 2 MiB cases only (huge=always on a remount).
	dd if=/dev/zero of=$M/fault bs=1M count=$FAULT_MIB conv=fsync 2>/dev/null
	for mode in shared-read shared-write private-write; do
		bench fault-$mode $b fault $M/fault --mode $mode $R
	done
	if [ $b = tmpfs ]; then
		rm -f $M/fault
		mount -o remount,huge=always $M
		dd if=/dev/zero of=$M/fault bs=1M count=$FAULT_MIB 2>/dev/null
	fi
	for mode in shared-read shared-write private-write; do
		bench fault-$mode-2m $b fault $M/fault --mode $mode --huge $R
	done
	[ $b != tmpfs ] || mount -o remount,huge=never $M
	rm -f $M/fault
	# The root tree on the backend: the binaries exec runs, the tree walk and find read.
	mkdir $M/root && tar -x -f $ROOT_TAR -C $M/root
	bench exec-static $b exec --count 200 $R $M/root/bin/busybox true
	bench exec-dynamic $b exec --count 200 $R $M/root/lib64/ld-linux-x86-64.so.2 \
		--library-path $M/root/lib/x86_64-linux-gnu:$M/root/usr/lib/x86_64-linux-gnu \
		$M/root/bin/dash -c true
	bench walk $b walk $M/root $R
	rm -rf $M/root
	mkdir $M/meta
	bench meta $b meta $M/meta --files $FILES $R
	rmdir $M/meta
	# One extraction before the timed ones.  Under TCG, the first writes to a page that held
	# code the guest ran (exec above ran binaries from this filesystem: on the DAX backends,
	# from the device memory itself; elsewhere from page cache that was freed since) go
	# through QEMU's self-modifying-code path, which drops its translations of the page:
	# measured, a first extraction took 100 to 660 s against 0.5 to 0.8 s for the next ones,
	# with the time in the kernel's memcpy.  A CPU has no such cost.
	mkdir $M/tx && tar -x -f $ROOT_TAR -C $M/tx
	bench tar-x $b cmd --name tar-x --setup "rm -rf $M/tx && mkdir $M/tx" $R -- tar -x -f $ROOT_TAR -C $M/tx
	rm -rf $M/tx
	teardown $b
done

# --- Memory for a root filesystem, per byte of image, RUNS times on each backend.
img_bytes=$(stat -c %s $ROOT_IMG)
img_mib=$(( (img_bytes + (1 << 20) - 1) >> 20 ))
# run_all DIR: run every program of the root tree at DIR once (chroot: its own libraries).
run_all() {
	mount -o bind /dev $1/dev
	mount -t proc proc $1/proc
	chroot $1 /bin/busybox sh -c '
		for p in $(/bin/busybox find /bin /sbin /usr/bin /usr/sbin -xdev -type f -perm -u+x 2>/dev/null); do
			case $p in */xip-init) continue ;; esac
			case $p in
			*/python3*) $p -c "import json, email, http.client, sqlite3" ;;
			*/perl) $p -e "use POSIX; use File::Find; 1" ;;
			*/busybox) $p true ;;
			*/dash) $p -c true ;;
			*) $p --version ;;
			esac >/dev/null 2>&1 </dev/null
		done'
	umount $1/proc
	umount $1/dev
}
# The page allocator's per-CPU lists hold freed pages out of MemFree: after a teardown, tens of
# MiB that the next device then takes without MemFree falling (traced: 57 MiB held after
# settle, 5 MiB at the end of the run).  For the memory runs they are kept small (a fixed
# high mark of a few batches: percpu_pagelist_high_fraction), and put back after.
if want memory; then
	PCP_FRACTION=$(cat /proc/sys/vm/percpu_pagelist_high_fraction)
	echo 1000000 >/proc/sys/vm/percpu_pagelist_high_fraction || log "cannot set percpu_pagelist_high_fraction"
fi
want memory && for b in $BACKENDS; do
	log "backend $b: memory for the root image ($img_mib MiB), $RUNS runs"
	runs= first=1 ok=1
	for r in $(seq $RUNS); do
		sync
		settle
		vm_mark
		t0=$(mem MemTotal) f0=$(mem MemFree)
		setup $b $img_mib || { ok=0; break; }
		if [ -n "$dev" ]; then
			dd if=$ROOT_IMG of=$dev bs=1M oflag=direct 2>/dev/null || { ok=0; teardown $b; break; }
			fsmount $b || { ok=0; teardown $b; break; }
		else
			MIB=$img_mib fsmount $b && tar -x -f $ROOT_TAR -C $M || { ok=0; teardown $b; break; }
		fi
		run_all $M
		xipbench mem-read $M --backend $b >/tmp/memread.json || { ok=0; teardown $b; break; }
		settle
		t1=$(mem MemTotal) f1=$(mem MemFree)
		vm_since "memory $b run $r"
		# Memory blocks devmap takes out of the system leave MemFree as they leave MemTotal:
		# the fall of MemFree already counts them.
		used=$((f0 - f1))
		case $b in *-pmem) used=$((used + img_mib * 1048576)) ;; esac
		runs="$runs${runs:+,}$(awk -v u=$used -v i=$img_bytes 'BEGIN { printf "%.4f", u / i }')"
		[ $first = 0 ] || printf 'XIPBENCH {"case":"memory-detail","backend":"%s","memfree_drop":%d,"memtotal_drop":%d,"image_bytes":%d,"cached":%d,"read":%s}\n' \
			$b $((f0 - f1)) $((t0 - t1)) $img_bytes $(mem Cached) "$(cat /tmp/memread.json)"
		first=0
		teardown $b
		sync
		echo 3 >/proc/sys/vm/drop_caches
	done
	if [ $ok = 1 ]; then
		printf 'XIPBENCH {"case":"memory","backend":"%s","unit":"bytes/byte","runs":[%s],"lower_is_better":true,"image_bytes":%d}\n' \
			$b "$runs" $img_bytes
	else
		err memory $b "loading the root image failed"
	fi
done
! want memory || echo $PCP_FRACTION >/proc/sys/vm/percpu_pagelist_high_fraction
log "done"
