# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# FIEMAP (filefrag -v, the tool users have): what xipfs reports for a file is its block map
# as debugfs reads it from the image after the unmount, block for block (logical block ->
# device block), holes left out, the last extent flagged "last":
# - a file of 1 MiB of data, a 1 MiB hole, 64 KiB of data and a hole to its end (3 MiB);
# - a 6 MiB file, through the indirect and double-indirect blocks (whose own blocks are
#   not data and are not reported);
# - an empty file and a file that is all hole: no extent;
# - on a read-only mount as on a read-write one.
. ./lib.sh

need_xipfs
m=/mnt/x

# fiemap FILE: "LOGICAL PHYSICAL" for each block FIEMAP reports (filefrag -v).
fiemap() {
	filefrag -v "$1" >/tmp/ff.out || fail "filefrag -v $1"
	awk '/^ *[0-9]+:/ {
		gsub(/\.\./, " "); gsub(/:/, " ");
		a = $2 + 0; b = $3 + 0; p = $4 + 0;
		for (i = 0; a + i <= b; i++) print a + i, p + i
	}' /tmp/ff.out
}
# bmap NAME: the same from debugfs's view of the unmounted image (stat's BLOCKS list:
# "(0-11):1000-1011, (IND):1012, (12-255):1013-1256"; the map blocks left out).
bmap() {
	debugfs -R "stat /$1" "$dev" 2>/dev/null | sed -n '/^BLOCKS:/,/^TOTAL/p' |
		tr ',' '\n' | grep -o '([0-9-]*):[0-9-]*' | tr -d '(' | tr ':' ' ' |
		awk '{ n = split($1, l, "-"); split($2, p, "-"); a = l[1] + 0; b = (n > 1 ? l[2] : l[1]) + 0;
			for (i = 0; a + i <= b; i++) print a + i, p[1] + i }'
}

rw_mkfs 64
rw_mount
dd if=/dev/urandom of=$m/f bs=64k count=16 2>/dev/null || fail "write f"
dd if=/dev/urandom of=$m/f bs=64k seek=32 count=1 conv=notrunc 2>/dev/null || fail "write f at 2 MiB"
truncate -s 3M $m/f || fail "truncate f"
dd if=/dev/urandom of=$m/big bs=1M count=6 2>/dev/null || fail "write big"
: >$m/empty
truncate -s 1M $m/sparse || fail "truncate sparse"
sync
for n in f big empty sparse; do fiemap $m/$n >/tmp/fm.$n; done
filefrag -v $m/f | grep -E '^ *[0-9]+:' | tail -n 1 | grep -q last ||
	fail "f: the last extent is not flagged last"
expect_eq "$(wc -l </tmp/fm.f)" 272 "f: blocks reported"
expect_eq "$(sed -n 257p /tmp/fm.f | cut -d' ' -f1)" 512 "f: the first logical block of the second extent"
expect_eq "$(wc -l </tmp/fm.big)" 1536 "big: blocks reported"
expect_eq "$(wc -l </tmp/fm.empty)" 0 "empty: blocks reported"
expect_eq "$(wc -l </tmp/fm.sparse)" 0 "sparse: blocks reported"
rw_umount
for n in f big; do
	bmap $n >/tmp/bm.$n
	cmp -s /tmp/fm.$n /tmp/bm.$n || {
		diff /tmp/fm.$n /tmp/bm.$n | head -n 10
		fail "$n: FIEMAP and the block map on the image differ"
	}
done
rw_mount ro
fiemap $m/big >/tmp/fm.ro
cmp -s /tmp/fm.ro /tmp/bm.big || fail "big: FIEMAP on a read-only mount differs"
run umount $m
echo "FIEMAP matches the block map: f $(wc -l </tmp/fm.f) blocks, big $(wc -l </tmp/fm.big)"
rw_release
exit 0
