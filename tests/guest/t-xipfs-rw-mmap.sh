# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# Shared writable mappings of a read-write xipfs (xiprw map-*, tests/progs/xiprw.rs), on a
# filesystem whose free blocks hold the poison 0xa5 (rw_poison):
# - MAP_SHARED + PROT_WRITE stores are visible to read() and to another mapping at once,
#   before any msync; they persist (umount, mount) with and without msync; a store moves
#   the file's mtime;
# - a write fault on a hole allocates one block (st_blocks + 8), zeroed: the rest of the
#   page reads zeros, not the poison; read faults on holes see zeros (the zero page may
#   back them, or blocks) and the zero page is never written: another file's hole still
#   reads zeros after the store;
# - MAP_PRIVATE stays copy-on-write: stores to a data page and to a hole page change
#   neither the file, nor a shared mapping, nor st_blocks (and xipmap private-cow: not a
#   child process nor a new mapping);
# - after a truncate, a page wholly past the end gives SIGBUS for reads and stores, and
#   the rest of the last page maps as zeros;
# - a race of a writer, a truncater, a reader, a faulting reader and a storing writer on
#   one file never shows a byte that is neither 0 nor what was written (item 3 of the
#   issue: no stale data of a freed block);
# - a write fault when the filesystem is full gets SIGBUS, and nothing already written is
#   lost (e2fsck -fn clean);
# - mappings of xipfs files are DAX (statx's STATX_ATTR_DAX; VM_MIXEDMAP for xipfs).
# Under XFS_TYPE=ext2 XFS_OPTS=dax this needs XFS_DEV=/dev/pmem0 (ext2 cannot map DAX
# files of xipram).
. ./lib.sh

need_progs xiprw xipmap
[ "$XFS_TYPE" != xipfs ] || need_xipfs
T0=$(date +%s)
m=/mnt/x
st() { xiprw stat "$1" "$2"; }

rw_mkfs 64
rw_can_map || fail "$XFS_TYPE -o $XFS_OPTS cannot map files of $dev: run with XFS_DEV=/dev/pmem0"
rw_mount
rw_poison $m

# --- Stores through MAP_SHARED over written data: read() sees them at once.
run xiprw write $m/f 0 40000 1
run xiprw map-write $m/f 5000 20000 2
run xiprw check $m/f 0 5000 1
run xiprw check $m/f 5000 20000 2
run xiprw check $m/f 25000 15000 1
run xiprw map-write $m/f 30000 8000 3 --msync
run xiprw check $m/f 30000 8000 3 --mmap
expect_eq "$(st $m/f size)" 40000 "size after stores through a mapping"
# A store moves mtime (the fault's file_update_time).
run xiprw utimens $m/f 1000000000.0 1000000000.0
run xiprw map-write $m/f 39990 10 4
t=$(st $m/f mtime)
[ "${t%%.*}" -ge $((T0 - 1)) ] || fail "mtime $t not updated by a store through a shared mapping"

# --- Write faults on holes: a zeroed block each; the zero page untouched.
run truncate -s 1048576 $m/hole
run truncate -s 65536 $m/other
run xiprw map-hole $m/hole 5 $m/other
expect_eq "$(st $m/hole blocks)" 8 "st_blocks after one write fault on a direct block"
run truncate -s 2097152 $m/hole2
run xiprw map-hole $m/hole2 300 $m/other --tag 78
# Page 300 is reached through the indirect block: a data block and the indirect block.
expect_eq "$(st $m/hole2 blocks)" 16 "st_blocks after one write fault through the indirect block"

# --- MAP_PRIVATE stays copy-on-write.
run xiprw write $m/p 0 4096 5
run truncate -s 8192 $m/p
run xiprw map-private $m/p
run xiprw check $m/p 0 4096 5
run xiprw check $m/p 4096 4096 zero
expect_eq "$(st $m/p blocks)" 8 "st_blocks after private stores"
run xipmap private-cow $m/f
run xiprw check $m/f 0 5000 1

# --- Past the end after a truncate: SIGBUS; the rest of the last page maps as zeros.
run xiprw write $m/tr 0 12288 6
run xiprw truncate $m/tr 5000
run xiprw map-sigbus $m/tr 8192 read
run xiprw map-sigbus $m/tr 8192 write
if [ "$XFS_TYPE" = xipfs ]; then run xipmap shared $m/tr --mixedmap; else run xipmap shared $m/tr; fi
run xiprw check $m/tr 0 5000 6 --mmap
expect_eq "$(st $m/tr size)" 5000 "size after SIGBUS stores past the end"

# --- DAX mappings.
case ",$(rw_opts)," in
*,dax,* | *,dax=always,*) dax=yes ;;
*) dax=no ;;
esac
[ "$XFS_TYPE" = xipfs ] && dax=yes
run xipmap statx-dax $m/f $dax

# --- The race: no stale data from freed blocks, whatever the interleaving.
run xiprw race $m/race --iters 3000 --seed 7 --mmap
run xiprw race $m/race2 --iters 2000 --seed 8 --mmap

# --- All of it persists.
rw_umount
rw_mount
run xiprw check $m/f 0 5000 1
run xiprw check $m/f 5000 20000 2
run xiprw check $m/f 25000 5000 1
run xiprw check $m/f 30000 8000 3
run xiprw check $m/f 38000 1990 1
run xiprw check $m/f 39990 10 4
run xiprw check $m/hole 0 20480 zero
run xiprw check $m/hole 20480 100 77
run xiprw check $m/hole 20580 3995 zero
run xiprw check $m/hole 24575 1 77
run xiprw check $m/hole 24576 1024000 zero
expect_eq "$(st $m/hole blocks)" 8 "st_blocks of the hole file after a remount"
run xiprw check $m/hole2 1228800 100 78
run xiprw check $m/hole2 1228900 3995 zero
run xiprw check $m/hole2 1232895 1 78
run xiprw check $m/other 0 65536 zero
run xiprw check $m/p 0 4096 5
run xiprw check $m/p 4096 4096 zero
run xiprw check $m/tr 0 5000 6
rw_umount

# --- A write fault on a full filesystem: SIGBUS, nothing lost.
rw_mkfs 16
rw_mount
run xiprw write $m/keep 0 100000 8 --then fsync
run truncate -s 1048576 $m/sparse
run xiprw fill $m/full --tag 9
run xiprw map-sigbus $m/sparse 8192 write
run xiprw check $m/keep 0 100000 8
run xiprw check $m/sparse 0 1048576 zero
expect_eq "$(st $m/sparse blocks)" 0 "st_blocks of a file whose write fault failed"
# Stores to blocks the file has need no allocation and work on a full filesystem.
run xiprw map-write $m/keep 1000 5000 10
run xiprw check $m/keep 1000 5000 10
run rm $m/full
run xiprw map-write $m/sparse 8192 100 11
rw_umount
rw_mount ro
run xiprw check $m/keep 0 1000 8
run xiprw check $m/keep 1000 5000 10
run xiprw check $m/keep 6000 94000 8
run xiprw check $m/sparse 8192 100 11
rw_umount
rw_release
exit 0
