#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# tests/guest/xiptree-image.sh OUTDIR
#
# Host side of the xipfs tree tests: build the test tree with xiptree (see
# tests/progs/xiptree.rs), copy it into an ext2 image with mke2fs -d, describe
# it with `xiptree manifest`, check the image with e2fsck, and leave
# OUTDIR/tree.img and OUTDIR/tree.manifest.  Name OUTDIR "tree" and give it to
# scripts/vm-run with --add: the guest tests expect /data/tree/tree.{img,manifest}.
#
# Skips all work when OUTDIR already holds the outputs of the same xiptree
# binary, this script and mke2fs (OUTDIR/tree.key).  Runs as root (chown, mknod).
# Takes xiptree from $XIPDAX_BUILD/test-progs/bin (scripts/build-test-progs).
set -euo pipefail

die() { echo "xiptree-image: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
XIPDAX_BUILD=${XIPDAX_BUILD:-${XDG_CACHE_HOME:-$HOME/.cache}/xipdax}
xiptree=$XIPDAX_BUILD/test-progs/bin/xiptree
[ -x "$xiptree" ] || die "no $xiptree: run scripts/build-test-progs first"
[ "$(id -u)" -eq 0 ] || die "must run as root (the tree has device nodes and other owners)"

# The size of the image: the tree holds ~17 MiB of data in ~3200 inodes.
IMG_SIZE=48M

key=$( { sha256sum <"$xiptree"; sha256sum <"$0"; mke2fs -V 2>&1; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/tree.img" ] && [ -f "$out/tree.manifest" ] &&
   [ "$(cat "$out/tree.key" 2>/dev/null)" = "$key" ]; then
	echo "xiptree-image: $out is up to date" >&2
	exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/xiptree-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
img=$work/tree.img
t0=$(date +%s.%N)

"$xiptree" build "$tree"

# mke2fs's default of one inode per 16 KiB is too few for 3000 entries in 48 MiB.
ninodes=$(( $(find "$tree" | wc -l) + 256 ))
mke2fs -q -t ext2 -b 4096 -N "$ninodes" -d "$tree" "$img" "$IMG_SIZE" >"$work/mke2fs.out" 2>&1 ||
	{ cat "$work/mke2fs.out" >&2; die "mke2fs failed"; }

# mke2fs -d gives the root directory its own mode, owner and times (0755,
# 0:0, now), not the source's: copy the tree root's onto the image.
read -r mode uid gid atime mtime ctime < <(stat -c '%f %u %g %X %Y %Z' "$tree")
cat >"$work/root.debugfs" <<EOF
sif / mode 0$(printf '%o' "0x$mode")
sif / uid $uid
sif / gid $gid
sif / atime @$atime
sif / mtime @$mtime
sif / ctime @$ctime
EOF
debugfs -w -f "$work/root.debugfs" "$img" >"$work/debugfs.out" 2>&1 ||
	{ cat "$work/debugfs.out" >&2; die "debugfs failed"; }
grep -qiE 'error|invalid|couldn|unknown' "$work/debugfs.out" &&
	{ cat "$work/debugfs.out" >&2; die "debugfs could not set the root's attributes"; }

# The manifest comes from the tree after mke2fs read it: what the image holds.
# (mke2fs reading does not change the tree: atimes are in the future, and
# relatime leaves those alone.)
"$xiptree" manifest "$tree" >"$work/tree.manifest"
# xiptree build gives every entry an atime in 2036-2037; one that is not was
# changed by reading (a strictatime mount?) and the image has the old one.
stale=$(awk '/^\// { for (i = 2; i <= NF; i++) if ($i ~ /^atime=/ && substr($i, 7) + 0 < 2082758400) { print $1; exit } }' \
	"$work/tree.manifest")
[ -z "$stale" ] || die "$tree$stale: atime changed while reading the tree (TMPDIR mounted strictatime?)"

e2fsck -fn "$img" >"$work/e2fsck.out" 2>&1 || { cat "$work/e2fsck.out" >&2; die "e2fsck -fn $img found problems"; }

mv "$img" "$out/tree.img"
mv "$work/tree.manifest" "$out/tree.manifest"
echo "$key" >"$out/tree.key"
printf 'xiptree-image: %s/tree.img (%s, %s inodes), %s entries in %s/tree.manifest, in %.1f s\n' \
	"$out" "$IMG_SIZE" "$ninodes" "$(grep -c '^/' "$out/tree.manifest")" "$out" \
	"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" >&2
