# SPDX-License-Identifier: GPL-2.0
# models: pages
# (Pages only: it checks the host-made image, its manifest and the checker through the
# kernel's ext2 without DAX, where xipram is a plain block device; xipram's block path is
# run in both models by t-xipram-blockio.)
# The xipfs test tree on the kernel's own ext2: the image made on the host by
# tests/guest/xiptree-image.sh (in /data/tree), copied onto xipram and mounted
# read-only, must match its manifest in every field of every entry
# (xiptree verify, tests/progs/xiptree.rs).  This proves the image, the
# manifest and the checker, which the xipfs tests then use unchanged; and a
# manifest with planted errors must make the checker fail.
. ./lib.sh

img=/data/tree/tree.img
manifest=/data/tree/tree.manifest
need_files $img $manifest
need_progs xiptree

xipram_load 64
dev=/dev/xipram0
run dd if=$img of=$dev bs=1M 2>/dev/null
fsck_clean $dev
mkdir -p /mnt/t
run mount -t ext2 -o ro $dev /mnt/t

# --- The whole tree against the manifest.
start=$(date +%s)
xiptree verify $manifest /mnt/t >/tmp/verify.out 2>&1
rc=$?
head -n 50 /tmp/verify.out
echo "xiptree verify took $(($(date +%s) - start)) s"
[ $rc -eq 0 ] || fail "xiptree verify found differences (exit $rc)"
grep -q '^verified [1-9][0-9]* entries, 0 mismatches$' /tmp/verify.out ||
	fail "xiptree verify did not report its summary"

# --- The checker must fail when the manifest is wrong.  To keep it quick this
# uses the manifest of the /sizes subtree only (re-rooted at /), with five
# planted errors: a mode, a size, a hash, an entry left out (so it is extra
# on the disk) and one that does not exist (so it is missing).
sub=/tmp/sizes.manifest
{
	echo "# xiptree manifest v1"
	grep '^/sizes ' $manifest | sed 's|^/sizes |/ |'
	grep '^/sizes/' $manifest | sed 's|^/sizes/|/|'
} >$sub.body
n=$(grep -c '^/' $sub.body)
[ "$n" -gt 10 ] || fail "the manifest has no /sizes subtree"
{ cat $sub.body; echo "# end $n entries"; } >$sub
xiptree verify $sub /mnt/t/sizes >/tmp/verify-sub.out 2>&1 ||
	{ cat /tmp/verify-sub.out; fail "the unmodified /sizes manifest does not verify"; }
{
	echo "# xiptree manifest v1"
	sed -e '/^\/one /s/ mode=[0-7]* / mode=0600 /' \
	    -e '/^\/block-1 /s/ size=4095 / size=4096 /' \
	    -e '/^\/three-mib /s/ hash=.*/ hash=0123456789abcdef/' \
	    -e '/^\/empty /d' $sub.body
	echo "/not-there type=file mode=0644 uid=0 gid=0 nlink=1 size=0 mtime=0 atime=0 ctime=0 hash=0"
	echo "# end $n entries"
} >$sub.bad
xiptree verify $sub.bad /mnt/t/sizes >/tmp/verify-bad.out 2>&1
rc=$?
cat /tmp/verify-bad.out
expect_eq $rc 1 "exit status of xiptree verify with a wrong manifest"
for what in '^/one: mode: ' '^/block-1: size: ' '^/three-mib: hash: ' \
	    '^/empty: extra entry' '^/not-there: missing' ' 5 mismatches$'; do
	grep -q "$what" /tmp/verify-bad.out || fail "xiptree verify did not report '$what'"
done
# A truncated manifest is refused, not taken as "fewer entries".
head -n 20 $manifest >/tmp/truncated.manifest
expect_fail "truncated manifest" xiptree verify /tmp/truncated.manifest /mnt/t

run umount /mnt/t
fsck_clean $dev
run rmmod xipram
exit 0
