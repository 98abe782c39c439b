# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# The write path of a read-write xipfs, through read() and write() (mappings are in
# t-xipfs-rw-mmap.sh).  Every byte written is a pattern of its offset (xiprw, never 0 and
# never 0xa5), and the free blocks are first filled with 0xa5 and freed (rw_poison), so that
# data in the wrong place, lost, or a block handed out without zeroing shows.
# - write (unaligned chunks), pwrite, writev, O_APPEND (the file position ignored),
#   O_DIRECT (the same path), O_SYNC and O_DSYNC writes, fsync, fdatasync, syncfs;
# - sparse writes leave holes that read as zeros, with exactly the blocks (data and
#   indirect) the ext2 format needs; writes into holes fill them, the rest of the block
#   zeroed;
# - fallocate mode 0 (size, zeroed blocks, no new block when written) and
#   FALLOC_FL_KEEP_SIZE inside and past the end (the size unchanged, blocks allocated,
#   zeros when the file is later extended over them); the kernel's ext2 has no fallocate
#   (EOPNOTSUPP): under XFS_TYPE=ext2 the same checks run on tmpfs instead;
# - hole punching (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): block aligned, inside one
#   block, unaligned ends, over holes, across the direct/indirect boundary and the spans
#   of indirect blocks under the double-indirect one (freed when they map nothing; exact
#   st_blocks and free counts), past and reaching the end, the whole file: the size stays,
#   the hole reads zeros (also through a mapping made before the punch), the bytes around
#   stay, later writes into it get fresh zeroed blocks; other modes give EOPNOTSUPP; on
#   tmpfs under XFS_TYPE=ext2, as fallocate;
# - truncate and ftruncate down and up: the partial tail block zeroed (a later extension,
#   by truncate or by a write past the end, reads zeros), blocks freed, indirect blocks
#   included (st_blocks and statfs's free count exact, down to the triple-indirect chain);
# - copy_file_range and splice into and out of files;
# - large_file: a sparse file over 4 GiB, writes and truncates up to the ext2 limit for
#   4 KiB blocks (EFBIG one byte past it), and a file over 2 GiB on an image made without
#   large_file sets the feature;
# - mtime changes on write and truncate;
# - everything reads back the same after umount and mount, and e2fsck -fn is clean after
#   every umount.
. ./lib.sh

need_progs xiprw
[ "$XFS_TYPE" != xipfs ] || need_xipfs
T0=$(date +%s)
m=/mnt/x

# st PATH FIELD: one field of xiprw stat (lstat).
st() { xiprw stat "$1" "$2"; }
free_blocks() { stat -f -c %f $m; }
# expect_blocks PATH N: st_blocks (512-byte units) of PATH is N.
expect_blocks() { expect_eq "$(st "$1" blocks)" "$2" "st_blocks of $1"; }
expect_size() { expect_eq "$(st "$1" size)" "$2" "size of $1"; }
# recent PATH FIELD: the time FIELD of PATH was set during the test.
recent() {
	_t=$(st "$1" "$2")
	[ "${_t%%.*}" -ge $((T0 - 1)) ] || fail "$1: $2 is $_t, not updated (the test started at $T0)"
}

rw_mkfs 128
rw_mount
rw_poison $m

# --- write, pwrite, writev: unaligned chunks, crossing blocks.
run xiprw write $m/w 0 300000 1 --how write --chunk 1000
run xiprw write $m/w 300000 200001 1 --how pwrite --chunk 4095
run xiprw write $m/w 500001 99999 1 --how writev --chunk 7777
expect_size $m/w 600000
run xiprw check $m/w 0 600000 1
# Overwrite an unaligned range in the middle with another pattern.
run xiprw write $m/w 4000 10000 2 --how write --chunk 3333
run xiprw check $m/w 0 4000 1
run xiprw check $m/w 4000 10000 2
run xiprw check $m/w 14000 586000 1
# 147 data blocks: 12 direct, 135 through the indirect block: 148 blocks of 8 sectors.
expect_blocks $m/w 1184

# --- O_APPEND: every write lands at the end, wherever the file position is.
run xiprw write $m/a 0 5000 3 --how append
run xiprw write $m/a 5000 123 3 --how append
run xiprw write $m/a 5123 70000 3 --how append --chunk 9999
printf 'shell' >>$m/a
expect_size $m/a 75128
run xiprw check $m/a 0 75123 3
expect_eq "$(tail -c 5 $m/a)" shell "the shell's >> at the end"

# --- O_DIRECT: aligned writes and reads, seen by ordinary reads too.
run xiprw write $m/d 1048576 1048576 4 --how direct --chunk 131072
run xiprw check $m/d 1048576 1048576 4 --direct
run xiprw check $m/d 1048576 1048576 4
run xiprw check $m/d 0 1048576 zero --direct
expect_size $m/d 2097152
# Blocks 256..511, all through the indirect block: 257 blocks.
expect_blocks $m/d 2056
run xiprw write $m/d 0 8192 5 --how direct
run xiprw check $m/d 0 8192 5

# --- Synchronous writes and the sync calls.
run xiprw write $m/s1 0 100000 6 --sync
run xiprw write $m/s2 0 100000 7 --dsync
run xiprw write $m/s3 0 100000 8 --then fsync
run xiprw write $m/s4 0 100000 9 --then fdatasync
run xiprw write $m/s5 0 100000 10 --then syncfs
run xiprw write $m/s6 0 98304 11 --how direct --chunk 8192 --sync
run xiprw sync $m/s1 fsync
run xiprw sync $m/s2 fdatasync
run xiprw sync $m/s3 syncfs
run xiprw sync $m fsync
run sync
for i in 1 2 3 4 5; do run xiprw check $m/s$i 0 100000 $((i + 5)); done
run xiprw check $m/s6 0 98304 11

# --- Holes: sparse writes read back with zeros between, and only the blocks needed.
run xiprw write $m/h 0 100 12
run xiprw write $m/h 10485760 100 12
expect_size $m/h 10485860
run xiprw check $m/h 100 10485660 zero
# Block 0, and block 2560 through the double-indirect block and one indirect block.
expect_blocks $m/h 32
# Filling holes: blocks 1280-1281 (a new indirect block under the double-indirect one)...
run xiprw write $m/h 5242880 5000 13
expect_blocks $m/h 56
# ... and 10 bytes in the middle of block 12 (the first of the indirect block): the rest
# of the new block reads zeros.
run xiprw write $m/h 50000 10 14
expect_blocks $m/h 72
run xiprw check $m/h 0 100 12
run xiprw check $m/h 100 49900 zero
run xiprw check $m/h 50000 10 14
run xiprw check $m/h 50010 5192870 zero
run xiprw check $m/h 5242880 5000 13
run xiprw check $m/h 5247880 5237880 zero
run xiprw check $m/h 10485760 100 12

# --- fallocate.
# falloc_checks DIR EXACT: the fallocate checks in DIR; EXACT=yes on an ext2-format
# filesystem (block counts with indirect blocks), no on tmpfs (pages only).
falloc_checks() {
	_d=$1 _x=$2
	# Mode 0 on a new file: the size grows, every block is allocated and reads zeros.
	_f0=$(stat -f -c %f "$_d")
	if [ "$_x" = yes ]; then _b="--blocks 2064"; else _b="--min-blocks 2056"; fi
	run xiprw fallocate "$_d/fa" 0 0 1048581 $_b
	expect_size "$_d/fa" 1048581
	run xiprw check "$_d/fa" 0 1048581 zero
	_f1=$(stat -f -c %f "$_d")
	if [ "$_x" = yes ]; then
		expect_eq $((_f0 - _f1)) 258 "free blocks taken by fallocate of 1 MiB + 5 (257 data, 1 indirect)"
	else
		[ $((_f0 - _f1)) -ge 257 ] || fail "fallocate of 257 blocks took $((_f0 - _f1)) free blocks"
	fi
	# Writing into allocated blocks allocates nothing more.
	_b0=$(st "$_d/fa" blocks)
	run xiprw write "$_d/fa" 4096 100 20
	run xiprw write "$_d/fa" 1000000 48581 20
	expect_blocks "$_d/fa" "$_b0"
	expect_size "$_d/fa" 1048581
	run xiprw check "$_d/fa" 0 4096 zero
	run xiprw check "$_d/fa" 4096 100 20
	run xiprw check "$_d/fa" 4196 995804 zero
	run xiprw check "$_d/fa" 1000000 48581 20
	# Mode 0 over data and holes: the data stays, the holes read zeros, the size grows.
	run xiprw write "$_d/fb" 0 100 21
	run xiprw write "$_d/fb" 65536 100 21
	if [ "$_x" = yes ]; then _b="--blocks 264"; else _b="--min-blocks 256"; fi
	run xiprw fallocate "$_d/fb" 0 0 131072 $_b
	expect_size "$_d/fb" 131072
	run xiprw check "$_d/fb" 0 100 21
	run xiprw check "$_d/fb" 100 65436 zero
	run xiprw check "$_d/fb" 65536 100 21
	run xiprw check "$_d/fb" 65636 65436 zero
	# KEEP_SIZE inside the file, over holes: blocks, no size change, zeros.
	run truncate -s 1048576 "$_d/fk"
	if [ "$_x" = yes ]; then _b="--blocks 520"; else _b="--min-blocks 512"; fi
	run xiprw fallocate "$_d/fk" keep 0 262144 $_b
	expect_size "$_d/fk" 1048576
	run xiprw check "$_d/fk" 0 1048576 zero
	# KEEP_SIZE past the end: the size stays, blocks are allocated (while the file is
	# open), and extending the file over them shows zeros, by truncate and by a write.
	run xiprw write "$_d/fe" 0 5000 22
	run xiprw fallocate "$_d/fe" keep 8192 65536 --min-blocks 144
	expect_size "$_d/fe" 5000
	run xiprw check "$_d/fe" 0 5000 22
	run xiprw truncate "$_d/fe" 40000
	run xiprw check "$_d/fe" 0 5000 22
	run xiprw check "$_d/fe" 5000 35000 zero
	run xiprw write "$_d/fe" 70000 100 22
	expect_size "$_d/fe" 70100
	run xiprw check "$_d/fe" 40000 30000 zero
	run xiprw check "$_d/fe" 70000 100 22
	# More than the free space: ENOSPC, and once the file is gone all space is back.
	run xiprw fallocate "$_d/fz" 0 0 $(( (_f0 + 100) * 4096 )) --expect ENOSPC
	run rm -f "$_d/fa" "$_d/fb" "$_d/fk" "$_d/fe" "$_d/fz"
	expect_eq "$(stat -f -c %f "$_d")" "$_f0" "free blocks after the fallocate files went"
}
# --- Hole punching (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE).
# punch_checks DIR EXACT: as falloc_checks.  One file of 12 MiB + 1000 bytes (blocks 0..3072:
# 12 direct, 1024 under the indirect block, 2037 under the double-indirect block and its
# first two indirect blocks, which map blocks 1036..2059 and 2060..3083) is punched piece
# by piece until only 6 data blocks are left: after each punch the size is the same,
# st_blocks and the free count are exact (with EXACT=no, on tmpfs, pages only), and a
# mapping made before the punch (xiprw fallocate --mapped) shows what read() shows: zeros
# in the hole, the rest as it was.  Then holes are written into (fresh zeroed blocks, the
# poison never shows), and the whole file is punched.
punch_checks() {
	_d=$1 _x=$2 _p=$1/pu
	_S=$((12 * 1048576 + 1000))
	# _nd data blocks and _ni indirect blocks: st_blocks and the free blocks taken.
	_pb() {
		_nd=$1 _ni=$2
		if [ "$_x" = yes ]; then _n=$((_nd + _ni)); else _n=$_nd; fi
		expect_blocks "$_p" $((_n * 8))
		expect_eq $((_f0 - $(stat -f -c %f "$_d"))) $_n "free blocks taken by $_p ($_nd data, $_ni indirect)"
	}
	# _punch OFF LEN DATA IND [WHAT]: punch, then the size, the blocks, zeros in the hole
	# (clipped to the size) through read() and a new mapping.
	_punch() {
		if [ "$_x" = yes ]; then _n=$(($3 + $4)); else _n=$3; fi
		run xiprw fallocate "$_p" punch "$1" "$2" $_mapped --blocks $((_n * 8))
		expect_size "$_p" $_S
		_pb "$3" "$4"
		_e=$(($1 + $2)); [ $_e -le $_S ] || _e=$_S
		if [ "$1" -lt $_e ]; then
			run xiprw check "$_p" "$1" $((_e - $1)) zero
			_mc "$_p" "$1" $((_e - $1)) zero
		fi
	}
	# Mappings: on tmpfs a read fault on a hole allocates a page, which would change the
	# counts, so the mapped checks are xipfs's only.
	_mc() { [ "$_x" = no ] || run xiprw check "$@" --mmap; }
	_mapped=--mapped; [ "$_x" = yes ] || _mapped=
	_f0=$(stat -f -c %f "$_d")
	run xiprw write "$_p" 0 $_S 60 --chunk 1048576
	_pb 3073 4
	# Block aligned: blocks 2 and 3.
	_punch 8192 8192 3071 4
	# Inside one block (block 4): zeroed, nothing freed.
	_punch 17000 1000 3071 4
	# Partial blocks at both ends: 30000 in block 7 to 50000 in block 12 (the first under
	# the indirect block): blocks 8..11 freed, the ends zeroed.
	_punch 30000 20000 3067 4
	# Over holes only: nothing changes.
	_punch 8192 8192 3067 4
	_punch 32768 16384 3067 4
	# Across the direct/indirect boundary: blocks 10..12 (10 and 11 are holes already).
	_punch 40960 12288 3066 4
	# Blocks 13..1035: the rest of the indirect block's span; it is freed too.
	_punch 53248 $(((1036 - 13) * 4096)) 2043 3
	# Under the double-indirect block, across the boundary of its first two indirect blocks:
	# 1100 partly (zeroed), 1101..2099 freed; both indirect blocks still map blocks.
	_punch $((1100 * 4096 + 5)) $(((2100 - 1100) * 4096 - 5)) 1044 3
	# Reaching past the end: block 3000 partly, 3001..3072 freed (3072, the last, is partial).
	_punch $((3000 * 4096 + 123)) $((_S + 1048576)) 972 3
	# 2100..3000: the second indirect block under the double-indirect block maps nothing
	# any more and is freed.
	_punch $((2100 * 4096)) $((901 * 4096)) 71 2
	# 1036..1100 with unaligned ends in holes (1035 and 1101): the first indirect block
	# and the double-indirect block go.
	_punch $((1036 * 4096 - 7)) $((65 * 4096 + 8)) 6 0
	# Past the end of the file: nothing at all.
	_punch $_S 1048576 6 0
	_punch $((_S + 100000)) 4096 6 0
	# (and the last bytes, in a hole by now)
	_punch $((_S - 1000)) 1000 6 0
	# The data left: blocks 0, 1, 4 (zeroed in the middle), 5, 6 and 7 (zeroed from 30000).
	run xiprw check "$_p" 0 8192 60
	run xiprw check "$_p" 8192 8192 zero
	_mc "$_p" 17000 1000 zero
	_mc "$_p" 16384 616 60
	run xiprw check "$_p" 18000 12000 60
	_mc "$_p" 18000 12000 60
	run xiprw check "$_p" 30000 $((_S - 30000)) zero
	_mc "$_p" 0 8192 60
	# Writes into the holes: fresh blocks, zeroed around what is written.
	run xiprw write "$_p" 8292 10 61
	_pb 7 0
	run xiprw write "$_p" $((500 * 4096 + 50)) 100 62
	_pb 8 1
	run xiprw write "$_p" $((2080 * 4096 + 3000)) 100 63
	_pb 9 3
	run xiprw write "$_p" $((_S - 10)) 10 64
	_pb 10 3
	expect_size "$_p" $_S
	run xiprw check "$_p" 8192 100 zero
	run xiprw check "$_p" 8292 10 61
	run xiprw check "$_p" 8302 8082 zero
	_mc "$_p" $((500 * 4096)) 50 zero
	_mc "$_p" $((500 * 4096 + 50)) 100 62
	_mc "$_p" $((500 * 4096 + 150)) 3946 zero
	run xiprw check "$_p" $((2080 * 4096)) 3000 zero
	run xiprw check "$_p" $((2080 * 4096 + 3000)) 100 63
	run xiprw check "$_p" $((2080 * 4096 + 3100)) 996 zero
	_mc "$_p" $((3072 * 4096)) $((_S - 10 - 3072 * 4096)) zero
	_mc "$_p" $((_S - 10)) 10 64
	# The whole file, [0, size): every block goes, the last (partial) one included, the size
	# stays.  (tmpfs frees only the pages wholly inside the range: the last one goes when
	# the hole covers its whole page, past the end.)
	if [ "$_x" = yes ]; then
		_punch 0 $_S 0 0
	else
		_punch 0 $_S 1 0
		_punch 0 $((3073 * 4096)) 0 0
	fi
	expect_eq "$(stat -f -c %f "$_d")" "$_f0" "free blocks after punching the whole file"
	run xiprw write "$_p" 5000 100 65
	run xiprw check "$_p" 0 5000 zero
	run xiprw check "$_p" 5000 100 65
	run xiprw check "$_p" 5100 $((_S - 5100)) zero
	_pb 1 0
	run rm "$_p"
	# The triple-indirect chain: block 1049611 is the last under the double-indirect block
	# (with its last indirect block), 1049612 the first under the triple-indirect block
	# (with a double-indirect and an indirect block under it), 2098188 the first of the
	# second double-indirect block under it (and its indirect block).
	_f0=$(stat -f -c %f "$_d")
	_S=$((2098188 * 4096 + 100))
	run xiprw write "$_p" $((1049611 * 4096)) 8192 67
	run xiprw write "$_p" $((2098188 * 4096)) 100 68
	_pb 3 7
	# Across the double-/triple-indirect boundary, 1049611 zeroed in part: 1049612 and
	# the two indirect blocks above it go; the triple-indirect block still maps 2098188.
	_punch $((1049611 * 4096 + 100)) $((8192 - 100)) 2 5
	run xiprw check "$_p" $((1049611 * 4096)) 100 67
	# The last block (partial, the hole reaching past the end): the triple-indirect block
	# and the two below it go.
	_punch $((2098188 * 4096)) 4096 1 2
	run xiprw check "$_p" $((1049611 * 4096)) 100 67
	# The last block under the double-indirect block: everything goes.
	_punch $((1049611 * 4096)) 4096 0 0
	expect_eq "$(stat -f -c %f "$_d")" "$_f0" "free blocks after punching the triple-indirect range"
	run xiprw check "$_p" $((1049611 * 4096 - 4096)) $((3 * 4096)) zero
	expect_size "$_p" $_S
	rm "$_p"
	# A small file punched, for the check after the remount: [5000, 60000) of 100000.
	run xiprw write "$_d/pr" 0 100000 66
	# 25 blocks (13 under the indirect block): 1 and 14 are zeroed in part, 2..13 freed.
	if [ "$_x" = yes ]; then _b=112; else _b=104; fi
	run xiprw fallocate "$_d/pr" punch 5000 55000 $_mapped --blocks $_b
	run xiprw check "$_d/pr" 0 5000 66
	run xiprw check "$_d/pr" 5000 55000 zero
	run xiprw check "$_d/pr" 60000 40000 66
	# The modes that are not: PUNCH_HOLE without KEEP_SIZE (the VFS), ZERO_RANGE,
	# COLLAPSE_RANGE, INSERT_RANGE.
	for _mo in 0x2 0x10 0x8 0x20; do
		run xiprw fallocate "$_d/pr" $_mo 4096 4096 --expect EOPNOTSUPP
	done
	expect_size "$_d/pr" 100000
}

if [ "$XFS_TYPE" = ext2 ]; then
	# The kernel's ext2 refuses fallocate; the checks themselves run on tmpfs.
	: >$m/nofalloc
	run xiprw fallocate $m/nofalloc 0 0 4096 --expect EOPNOTSUPP
	echo "SKIP under ext2: fallocate (EOPNOTSUPP); its checks run on tmpfs instead"
	mkdir -p /mnt/t
	run mount -t tmpfs -o size=32m tmpfs /mnt/t
	falloc_checks /mnt/t no
	punch_checks /mnt/t no
	run xiprw check /mnt/t/pr 60000 40000 66
	run umount /mnt/t
else
	falloc_checks $m yes
	punch_checks $m yes
fi

# --- truncate: the partial tail block is zeroed, so that extensions read zeros.
run xiprw write $m/t 0 12288 30
run xiprw truncate $m/t 5000
expect_size $m/t 5000
expect_blocks $m/t 16
run xiprw truncate $m/t 12000 --path
expect_size $m/t 12000
run xiprw check $m/t 0 5000 30
run xiprw check $m/t 5000 7000 zero
expect_blocks $m/t 16
# The same with busybox truncate and an extension by a write past the end.
run xiprw write $m/t2 0 8192 31
run truncate -s 100 $m/t2
run xiprw write $m/t2 9000 10 32
expect_size $m/t2 9010
run xiprw check $m/t2 0 100 31
run xiprw check $m/t2 100 8900 zero
run xiprw check $m/t2 9000 10 32
# Truncating frees blocks, indirect blocks included; statfs sees it at once.
f0=$(free_blocks)
run xiprw write $m/big 0 8388608 33 --chunk 1048576
# 2048 data blocks: 12 direct, 1024 through the indirect block, 1012 through the
# double-indirect block and one indirect block under it: 2051 blocks.
expect_blocks $m/big 16408
expect_eq $((f0 - $(free_blocks))) 2051 "free blocks taken by an 8 MiB file"
run xiprw truncate $m/big 49152
expect_blocks $m/big 96
expect_eq $((f0 - $(free_blocks))) 12 "free blocks taken by the file cut to 12 blocks"
run xiprw truncate $m/big 53248
expect_blocks $m/big 96
run xiprw write $m/big 49152 1 34
expect_blocks $m/big 112
run xiprw check $m/big 0 49152 33
run xiprw check $m/big 49152 1 34
run xiprw check $m/big 49153 4095 zero
run xiprw truncate $m/big 0
expect_blocks $m/big 0
expect_eq "$(free_blocks)" "$f0" "free blocks after truncating to 0"
# The triple-indirect chain: one byte past 4299210752 (block 1049612, the first through
# the triple-indirect block) takes 4 blocks, and a truncate back to that offset frees them.
run xiprw write $m/big 4299231232 1 35
expect_blocks $m/big 32
expect_eq $((f0 - $(free_blocks))) 4 "free blocks taken by one byte in the triple-indirect range"
run xiprw truncate $m/big 4299210752
expect_blocks $m/big 0
expect_eq "$(free_blocks)" "$f0" "free blocks after truncating the triple-indirect range away"
run xiprw check $m/big 4299145216 65536 zero
run rm $m/big

# --- copy_file_range and splice.
run xiprw write $m/src 0 1100000 40
run xiprw copy $m/src 4097 $m/dst 10000 1048699
expect_size $m/dst 1058699
run xiprw check $m/dst 0 10000 zero
run xiprw check $m/dst 10000 1048699 40 --from 4097
run xiprw copy $m/src 0 $m/dst 3000000 5000
expect_size $m/dst 3005000
run xiprw check $m/dst 1058699 1941301 zero
run xiprw check $m/dst 3000000 5000 40 --from 0
run xiprw copy $m/src 100 $m/dst 20000 30000
run xiprw check $m/dst 10000 10000 40 --from 4097
run xiprw check $m/dst 20000 30000 40 --from 100
run xiprw check $m/dst 50000 1008699 40 --from 44097
run xiprw splice-in $m/sp 3000 300000 41
expect_size $m/sp 303000
run xiprw check $m/sp 0 3000 zero
run xiprw check $m/sp 3000 300000 41
run xiprw splice-out $m/sp 3000 300000 41
run xiprw splice-out $m/src 12345 500000 40
run xiprw splice-in $m/src 1000 5000 42
run xiprw check $m/src 0 1000 40
run xiprw check $m/src 1000 5000 42
run xiprw check $m/src 6000 1094000 40

# --- mtime moves on write and truncate.
run xiprw utimens $m/w 1000000000.0 1000000000.0
run xiprw write $m/w 10 10 1
recent $m/w mtime
run xiprw utimens $m/t 1000000000.0 1000000000.0
run xiprw truncate $m/t 6000
recent $m/t mtime

# --- large_file: over 4 GiB, and the ext2 limit for 4 KiB blocks.
run xiprw write $m/large 5368709120 10000 50
expect_size $m/large 5368719120
run xiprw check $m/large 5368709120 10000 50
run xiprw check $m/large 5367660544 1048576 zero
# Blocks 1310720-1310722, through the triple-indirect block: 6 blocks.
expect_blocks $m/large 48
max=2196873666560
f0=$(free_blocks)
run xiprw write $m/max $((max - 1)) 1 51
expect_size $m/max $max
run xiprw check $m/max $((max - 1)) 1 51
run xiprw write $m/max $max 1 51 --expect EFBIG
# Two bytes at max - 1: one is written, the second gets EFBIG.
run xiprw write $m/max2 $((max - 1)) 2 52 --chunk 2 --expect EFBIG
expect_size $m/max2 $max
run xiprw check $m/max2 $((max - 1)) 1 52
run xiprw truncate $m/max $((max + 1)) --expect EFBIG
run xiprw truncate $m/max $max
run xiprw truncate $m/max 0
run rm $m/max2
expect_eq "$(free_blocks)" "$f0" "free blocks after the files at the limit went"

# --- Everything again after umount (e2fsck -fn clean) and mount.
rw_umount
sb_field 'Filesystem features' | grep -qw large_file || fail "no large_file feature after a 5 GiB file"
rw_mount
run xiprw check $m/w 0 4000 1
run xiprw check $m/w 4000 10000 2
run xiprw check $m/w 14000 586000 1
run xiprw check $m/a 0 75123 3
run xiprw check $m/d 0 8192 5
run xiprw check $m/d 8192 1040384 zero
run xiprw check $m/d 1048576 1048576 4 --direct
for i in 1 2 3 4 5; do run xiprw check $m/s$i 0 100000 $((i + 5)); done
run xiprw check $m/s6 0 98304 11
run xiprw check $m/h 0 100 12
run xiprw check $m/h 100 49900 zero
run xiprw check $m/h 50000 10 14
run xiprw check $m/h 50010 5192870 zero
run xiprw check $m/h 5242880 5000 13
run xiprw check $m/h 10485760 100 12
expect_blocks $m/h 72
run xiprw check $m/t 0 5000 30
run xiprw check $m/t 5000 1000 zero
run xiprw check $m/t2 9000 10 32
run xiprw check $m/dst 20000 30000 40 --from 100
run xiprw check $m/sp 3000 300000 41
run xiprw check $m/large 5368709120 10000 50
expect_size $m/large 5368719120
if [ "$XFS_TYPE" != ext2 ]; then
	run xiprw check $m/pr 0 5000 66
	run xiprw check $m/pr 5000 55000 zero
	run xiprw check $m/pr 60000 40000 66
	expect_blocks $m/pr 112
fi
rw_umount

# --- A file over 2 GiB on an image made without large_file: the feature is set.  (mke2fs
# always sets it; tune2fs clears it where no file is that large: without resize_inode.)
rw_mkfs 16 -O ^resize_inode
run tune2fs -O ^large_file $dev
fsck_clean $dev
sb_field 'Filesystem features' | grep -qw large_file && fail "tune2fs -O ^large_file left large_file"
rw_mount
run xiprw write $m/over2g 3221225472 100 53
expect_size $m/over2g 3221225572
rw_umount
sb_field 'Filesystem features' | grep -qw large_file ||
	fail "a 3 GiB file on an image without large_file did not set the feature"
rw_mount ro
run xiprw check $m/over2g 3221225472 100 53
rw_umount
rw_release
exit 0
