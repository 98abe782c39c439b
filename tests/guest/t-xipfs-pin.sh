# SPDX-License-Identifier: GPL-2.0
# models: own
# (it loads xipram in the devmap model, then in the pages model, itself)
# Truncate and hole punching against pages pinned by get_user_pages.  Model-specific: it
# runs the devmap model, then the pages model, itself (memory_model=).
# devmap:
# - a page of a 4 MiB file is vmsplice()d into a pipe (the pipe holds a reference to the
#   mapped page, as an O_DIRECT transfer in flight does): a truncate to 0 waits (still
#   running after 3 s, size and free blocks unchanged) until the pipe is read; the pipe
#   then holds the page's old bytes, and only then are the blocks freed;
# - the same for FALLOC_FL_PUNCH_HOLE over the whole file: it waits, then the file reads
#   as zeros, keeps its size and its blocks are free;
# - a truncate waiting for a pin is killable, and then changes nothing (size and data);
# - O_DIRECT reads from a brd device into the mapping while the file is truncated and its
#   blocks reused by another file: the other file never gets the O_DIRECT bytes;
# pages: the page cannot be pinned: vmsplice of the mapping fails with EEXIST (what
# get_user_pages answers for a page table entry without a struct page to take), and the
# truncate goes through at once.
# e2fsck -fn is clean after each part.
. ./lib.sh
need_xipfs
command -v xippmd >/dev/null || fail "xippmd (tests/progs) missing"
grep -q movablecore= /proc/cmdline || fail "boot with movablecore= (e.g. 1G): the devmap model takes movable memory blocks"
unload_all
mkdir -p /mnt/x
MIB=1048576

free_blocks() { stat -f -c %f /mnt/x; }

# pin_start FILE PAGE: xippmd pin in the background, its stdin a fifo kept open on fd 3;
# waits until it says whether the page is pinned.  Sets $pinpid.
pin_start() {
	rm -f /tmp/pin.fifo /tmp/pin.out
	mkfifo /tmp/pin.fifo
	xippmd pin "$1" "$2" </tmp/pin.fifo >/tmp/pin.out 2>&1 &
	pinpid=$!
	exec 3>/tmp/pin.fifo
	_i=0
	while ! grep -q "^pinned\|^vmsplice: E\|FAIL" /tmp/pin.out && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	cat /tmp/pin.out
}
# pin_release: let xippmd read the pipe and check the page; it must succeed.
pin_release() {
	echo go >&3
	exec 3>&-
	wait $pinpid || { cat /tmp/pin.out; fail "the pinned page changed or xippmd failed"; }
	cat /tmp/pin.out | tail -n 1
}

# held CMD...: CMD runs in the background and must still be running 3 s later, with the
# file's size and the free block count unchanged.  Sets $heldpid.
held() {
	_size=$(stat -c %s /mnt/x/f)
	_free=$(free_blocks)
	"$@" &
	heldpid=$!
	sleep 3
	kill -0 $heldpid 2>/dev/null || fail "'$*' returned while a page of the file was pinned"
	[ "$(stat -c %s /mnt/x/f)" = "$_size" ] || fail "'$*' changed the size while waiting for the pin"
	[ "$(free_blocks)" = "$_free" ] || fail "'$*' freed blocks ($_free -> $(free_blocks) free) while a page was pinned"
	echo "'$*' waits for the pinned page (size $_size, $_free blocks free)"
}

# --- devmap --------------------------------------------------------------------------
run modprobe xipram memory_model=devmap size_mib=128
grep -q ': xipram$' /proc/iomem || fail "memory_model=devmap: no xipram range in /proc/iomem"
dev=/dev/xipram0
run mke2fs -q -F -t ext2 -b 4096 -I 256 $dev 32768
run mount -t xipfs $dev /mnt/x

# Truncate waits for the pin.
run xiprw write /mnt/x/f 0 4M 3
pin_start /mnt/x/f 5
grep -q '^vmsplice: ok' /tmp/pin.out || fail "devmap: vmsplice of a mapped xipfs page failed"
free0=$(free_blocks)
held xiprw truncate /mnt/x/f 0
pin_release
wait $heldpid || fail "the truncate failed once the pin was gone"
[ "$(stat -c %s /mnt/x/f)" = 0 ] || fail "size $(stat -c %s /mnt/x/f) after truncate to 0"
[ "$(free_blocks)" -ge $((free0 + 1024)) ] || fail "the truncate freed $(( $(free_blocks) - free0 )) blocks, not 1024"

# Hole punching waits for the pin.
run xiprw write /mnt/x/f 0 4M 4
pin_start /mnt/x/f 700
grep -q '^vmsplice: ok' /tmp/pin.out || fail "devmap: vmsplice of a mapped xipfs page failed"
free0=$(free_blocks)
held xippmd punch /mnt/x/f 0 4M
pin_release
wait $heldpid || fail "the hole punch failed once the pin was gone"
[ "$(stat -c %s /mnt/x/f)" = $((4 * MIB)) ] || fail "punching a hole changed the size"
run xiprw check /mnt/x/f 0 4M zero
[ "$(free_blocks)" -ge $((free0 + 1024)) ] || fail "the hole punch freed $(( $(free_blocks) - free0 )) blocks, not 1024"

# A waiting truncate can be killed, and then nothing changed.
run xiprw write /mnt/x/f 0 4M 5
pin_start /mnt/x/f 9
held xiprw truncate /mnt/x/f 4096
kill -KILL $heldpid
wait $heldpid 2>/dev/null && fail "the killed truncate exited 0"
[ "$(stat -c %s /mnt/x/f)" = $((4 * MIB)) ] || fail "a killed truncate changed the size"
pin_release
run xiprw check /mnt/x/f 0 4M 5
run umount /mnt/x
fsck_clean $dev
run mount -t xipfs $dev /mnt/x

# O_DIRECT into the mapping against truncate and block reuse.
run modprobe brd rd_nr=1 rd_size=1024
_i=0
while [ ! -b /dev/ram0 ] && [ $_i -lt 30 ]; do sleep 0.1; _i=$((_i + 1)); done
run xiprw write /mnt/x/f 0 1M 6
run xippmd odirect-race /mnt/x/f /dev/ram0 --iters 150
run umount /mnt/x
fsck_clean $dev
run rmmod brd
run rmmod xipram

# --- pages -----------------------------------------------------------------------------
run modprobe xipram memory_model=pages size_mib=128
run mke2fs -q -F -t ext2 -b 4096 -I 256 $dev 32768
run mount -t xipfs $dev /mnt/x
run xiprw write /mnt/x/f 0 4M 3
pin_start /mnt/x/f 5
grep -q '^vmsplice: EEXIST' /tmp/pin.out || fail "pages: vmsplice of a mapped xipfs page should fail with EEXIST"
wait $pinpid
exec 3>&-
run xiprw truncate /mnt/x/f 0
run umount /mnt/x
fsck_clean $dev
run rmmod xipram
echo "t-xipfs-pin: ok"
