#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# mkimages.sh OUTDIR: the ext2 images the fuzz seeds are cut from (by xipfs-seeds), made with
# mke2fs -d from small trees: every kind of file xipfs reads (direct, indirect, double and
# triple indirect blocks, holes, fast and slow symlinks, devices, FIFOs, hard links, a
# directory of several blocks, long names), in the format variants xipfs accepts (revision 0
# and 1, 128/256/1024-byte inodes, with and without filetype, one and several groups), and
# extended attribute blocks written by debugfs.
# Each image passes e2fsck -fn.
set -euo pipefail
out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

t=$work/tree
mkdir -p "$t/dir/sub/deeper" "$t/many" "$t/empty"
: >"$t/zero"
printf 'hello\n' >"$t/hello.txt"
head -c 4096 /dev/urandom >"$t/one-block"
head -c 60000 /dev/urandom >"$t/indirect"            # past the 12 direct blocks
head -c 5000 /dev/urandom >"$t/dir/sub/deeper/file"
truncate -s 4300K "$t/double.sparse"                  # past 12 + 1024 blocks: double indirect
printf 'end' >>"$t/double.sparse"
truncate -s 5G "$t/triple.sparse"                     # past 12 + 1024 + 1024^2: triple
printf 'end' >>"$t/triple.sparse"
printf 'start' >"$t/hole-middle"                       # data, a hole, data
truncate -s 100K "$t/hole-middle"
printf 'tail' >>"$t/hole-middle"
ln -s hello.txt "$t/fast-link"
ln -s "$(printf 'x%.0s' $(seq 100))" "$t/slow-link"
ln "$t/hello.txt" "$t/dir/hardlink"
mkfifo "$t/fifo"
if [ "$(id -u)" -eq 0 ]; then
	mknod "$t/chr" c 4 5
	mknod "$t/blk" b 300 70000
fi
for i in $(seq 300); do : >"$t/many/file-with-a-longish-name-$i"; done
: >"$t/many/$(printf 'n%.0s' $(seq 255))"

small=$work/small
mkdir -p "$small/d"
printf 'x\n' >"$small/f"
ln -s f "$small/l"

mk() { # name size mke2fs-options... (tree last)
	local name=$1 size=$2
	shift 2
	rm -f "$out/$name.img"
	mke2fs -q -F -t ext2 -b 4096 "$@" "$out/$name.img" "$size" >"$work/mke2fs.out" 2>&1 ||
		{ cat "$work/mke2fs.out" >&2; echo "mkimages: mke2fs of $name failed" >&2; exit 1; }
	e2fsck -fn "$out/$name.img" >"$work/e2fsck.out" 2>&1 ||
		{ cat "$work/e2fsck.out" >&2; echo "mkimages: e2fsck -fn $name is not clean" >&2; exit 1; }
}
mk default 16M -N 1024 -d "$t"
mk groups 16M -g 1024 -N 512 -d "$t"
mk inode128 16M -I 128 -N 1024 -O ^filetype,^dir_index,^resize_inode,^ext_attr -d "$t"
mk inode1024 16M -I 1024 -N 512 -d "$t"
mk rev0 1M -r 0 -N 64 -d "$small"
mk tiny 256K -N 16 -d "$small"

# Extended attribute blocks as e2fsprogs writes them (128-byte inodes: no room for them in the
# inode): user, trusted and security names, an empty value, a name with bytes over 0x7f, a
# 1000-byte value, and POSIX ACLs (given to debugfs in the VFS's format, version 2, which it
# stores in ext2's).
mk xattr 1M -I 128 -N 64 -d "$small"
printf '\x02\x00\x00\x00%b%b%b%b%b' \
	'\x01\x00\x06\x00\xff\xff\xff\xff' '\x02\x00\x04\x00\xe8\x03\x00\x00' \
	'\x04\x00\x04\x00\xff\xff\xff\xff' '\x10\x00\x04\x00\xff\xff\xff\xff' \
	'\x20\x00\x00\x00\xff\xff\xff\xff' >"$work/acl"
head -c 1000 /dev/urandom >"$work/big-value"
debugfs -w -f - "$out/xattr.img" >"$work/debugfs.out" 2>&1 <<EOF
ea_set /f user.comment hello
ea_set /f trusted.t "a longer value for the trusted attribute"
ea_set -f $work/acl /f system.posix_acl_access
ea_set -f $work/acl /d system.posix_acl_default
ea_set /d security.selinux system_u:object_r:etc_t:s0
ea_set /d user.empty ""
ea_set /d user.caf$(printf '\xc3\xa9') v
ea_set -f $work/big-value /d user.big
EOF
e2fsck -fn "$out/xattr.img" >"$work/e2fsck.out" 2>&1 ||
	{ cat "$work/debugfs.out" "$work/e2fsck.out" >&2; echo "mkimages: e2fsck -fn xattr is not clean" >&2; exit 1; }
debugfs -R "ea_list /d" "$out/xattr.img" 2>&1 | grep -q 'user.big (1000)' ||
	{ cat "$work/debugfs.out" >&2; echo "mkimages: debugfs ea_set failed" >&2; exit 1; }
ls "$out"
