# SPDX-License-Identifier: GPL-2.0
# models: own
# (it loads xipram in the devmap model, then in the pages model, itself)
# 2 MiB (PMD) faults on xipfs mappings.  Model-specific: it runs the devmap model, then the
# pages model, itself (memory_model=), whatever the run's default.
# devmap (xipram memory_model=devmap):
# - a 64 MiB file written through xipfs, mapped MAP_SHARED: the mapping starts 2 MiB
#   aligned (get_unmapped_area), touching every 4 KiB page takes at most 1/64 of the
#   16384 faults 4 KiB pages need (256), and the mapping holds what read() reads;
# - stores into a 64 MiB sparse file through a shared mapping: write faults allocate whole
#   aligned 2 MiB runs, again at most 256 faults, and read() sees every store;
# - a mapping at a file offset that is not 2 MiB aligned is placed with the same
#   alignment modulo 2 MiB and still gets PMD faults for the aligned windows inside;
# - fallback to 4 KiB faults, with the right bytes: a file with a hole every other page
#   (no 2 MiB run), and a file that mke2fs -d laid out off the 2 MiB grid of the device
#   (4 KiB faults: at least one per 64 KiB window, which fault-around maps at once, and
#   one per hole);
# pages (memory_model=pages): the same 64 MiB file takes 4 KiB faults (plain pages cannot
# be mapped by PMD), one per 64 KiB window at least, with the right bytes.
# e2fsck -fn is clean after each part.
. ./lib.sh
need_xipfs
command -v xippmd >/dev/null || fail "xippmd (tests/progs) missing"
grep -q movablecore= /proc/cmdline || fail "boot with movablecore= (e.g. 1G): the devmap model takes movable memory blocks"
unload_all
mkdir -p /mnt/x

# touch ARGS...: xippmd touch ARGS, its output kept in /tmp/pmd.out.
touch_file() {
	xippmd touch "$@" >/tmp/pmd.out 2>&1 || { cat /tmp/pmd.out; fail "'xippmd touch $*' failed"; }
	cat /tmp/pmd.out
}

# The 64 MiB checks on the mounted /mnt/x, in the model $1.
big_file() {
	run xiprw write /mnt/x/big 0 64M 7 --chunk 4M
	if [ "$1" = devmap ]; then
		touch_file /mnt/x/big --max-faults 256
		grep -q "aligned yes" /tmp/pmd.out || fail "the 64 MiB mapping is not 2 MiB aligned"
	else
		# Plain pages: no 2 MiB faults, 4 KiB ones mapping 64 KiB each (fault-around):
		# 16384 / 16 = 1024 at least, where 2 MiB faults would have taken 32.
		touch_file /mnt/x/big --min-faults 1024
	fi
	run xiprw check /mnt/x/big 0 64M 7
}

# --- devmap --------------------------------------------------------------------------
run modprobe xipram memory_model=devmap size_mib=256
grep -q ': xipram$' /proc/iomem || fail "memory_model=devmap: no xipram range in /proc/iomem"
dev=/dev/xipram0
run mke2fs -q -F -t ext2 -b 4096 -I 256 $dev
run mount -t xipfs $dev /mnt/x
big_file devmap
# Write faults on holes: each 2 MiB of the sparse file is allocated by one PMD fault.
: >/mnt/x/sparse
run xiprw truncate /mnt/x/sparse 64M
touch_file /mnt/x/sparse --write --max-faults 256
# A mapping of 8 MiB from file offset 4 KiB: placed at the same colour, so the three 2 MiB
# windows of the file wholly inside it take one fault each; the 511 pages before them and
# the one after take one each at most (fault-around maps most of them in 64 KiB windows):
# 515 faults at most, not 2048.
touch_file /mnt/x/big --off 4096 --len $((8 * 1048576)) --max-faults 515
grep -q "aligned yes" /tmp/pmd.out || fail "a mapping at file offset 4 KiB is not placed at its offset's 2 MiB colour"
# Fallback: holes every other page; 2048 pages in 4 KiB faults: each of the 1024 holes its
# own (a hole is not mapped around a fault), the written pages mostly mapped around the
# fault of the first of each 64 KiB window (fault-around): at least 1024 + 128 faults, where
# 2 MiB faults would have taken 4.
run xippmd sparse /mnt/x/holes 2048
touch_file /mnt/x/holes --min-faults 1152
run umount /mnt/x
fsck_clean $dev

# Fallback: a contiguous file that mke2fs -d placed off the 2 MiB grid.
rm -rf /tmp/pmdsrc
mkdir -p /tmp/pmdsrc
dd if=/dev/urandom of=/tmp/pmdsrc/f bs=1M count=16 2>/dev/null
run mke2fs -q -F -t ext2 -b 4096 -I 256 -d /tmp/pmdsrc $dev 65536
# mke2fs -d writes the file in runs of 1024 blocks with the indirect blocks between them,
# from wherever its group's free space starts: no 2 MiB of it starts on an aligned block.
for l in 0 512 1024 1536 2048 2560 3072 3584; do
	b=$(debugfs -R "bmap /f $l" $dev 2>/dev/null)
	echo "file block $l: device block $b"
	[ $((b % 512)) -ne 0 ] || fail "mke2fs -d put file block $l on an aligned block ($b): the test needs it off the grid"
done
run mount -t xipfs -o ro $dev /mnt/x
# 4 KiB faults, each mapping its 64 KiB window (fault-around): 4096 / 16 = 256, where 2 MiB
# faults would have taken 8.
touch_file /mnt/x/f --min-faults 256
cmp /mnt/x/f /tmp/pmdsrc/f || fail "/f does not read back as written"
run umount /mnt/x
fsck_clean $dev
run rmmod xipram

# --- pages -----------------------------------------------------------------------------
run modprobe xipram memory_model=pages size_mib=256
run mke2fs -q -F -t ext2 -b 4096 -I 256 $dev
run mount -t xipfs $dev /mnt/x
big_file pages
run umount /mnt/x
fsck_clean $dev
run rmmod xipram
echo "t-xipfs-pmd: ok"
