#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# tests/guest/xipfs-images.sh OUTDIR
#
# Host side of the xipfs exec and corrupt-image tests.  Leaves in OUTDIR:
#
# - exec.img: an ext2 image (mke2fs -t ext2 -b 4096 -d) holding executables:
#     /bin/hello-static   a static(-pie) Rust program
#     /bin/hello-dynamic  the same program, dynamically linked, with its loader and
#                         libraries from the host at their usual paths:
#                         /lib64/ld-linux-x86-64.so.2, /lib/x86_64-linux-gnu/lib*.so*
#     /bin/busybox        the host's static busybox
#     /proc, /tmp         empty, for running in `chroot`
#   Both hello programs print "hello from a static|dynamic executable", then one line
#   "exec-map PATH mixedmap=yes|no" per file mapped executable (after reading every page
#   of it), telling whether the mapping is VM_MIXEDMAP, i.e. a DAX mapping of xipfs.
# - small.img and bad-*.img: 1 MiB images.  small.img is a good image of a small tree;
#   each bad-*.img is small.img (or, for bad-blocksize-1k, the same tree with 1 KiB blocks)
#   with one field patched at the byte level, at offsets found with debugfs (imap, bmap)
#   and dumpe2fs.  e2fsck -fn must find fault with each of them, except three that are
#   valid ext2/ext4 for e2fsck but not for xipfs: bad-blocksize-1k and
#   bad-incompat-inline-data (mounts refused) and bad-ro-compat (read-only mounts work).
# - bad.list: what the guest must see with each image (format at its top), read by
#   tests/guest/t-xipfs-corrupt.sh.
#
# Give OUTDIR (named "xipfs-img") to scripts/vm-run with --add: the guest tests expect
# /data/xipfs-img.  Skips all work when OUTDIR holds the outputs of the same script,
# busybox, rustc, libraries and mke2fs (OUTDIR/images.key).
set -euo pipefail

die() { echo "xipfs-images: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
RUSTC=/usr/bin/rustc
BUSYBOX=/bin/busybox
[ -x "$RUSTC" ] || die "no $RUSTC"
file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not a static executable"

work=$(mktemp -d "${TMPDIR:-/tmp}/xipfs-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
t0=$(date +%s.%N)

# ---------------------------------------------------------------------------
# The hello program, built static and dynamic.
cat >"$work/hello.rs" <<'EOF'
// Prints a greeting, then reads every page of each file mapped executable into this process
// (so that a page-cache filesystem would have to cache them all) and prints whether the
// mapping is VM_MIXEDMAP ("mm" in /proc/self/smaps): DAX mappings of xipfs are.
use std::fs;

fn main() {
    let kind = if cfg!(target_feature = "crt-static") { "static" } else { "dynamic" };
    println!("hello from a {kind} executable");
    let smaps = match fs::read_to_string("/proc/self/smaps") {
        Ok(s) => s,
        Err(e) => {
            println!("exec-map none: /proc/self/smaps: {e}");
            return;
        }
    };
    // Blocks of "START-END PERMS OFFSET DEV INODE PATH", then "Key: value" lines.
    let mut cur: Option<(usize, usize, String)> = None;
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 5 && f[0].contains('-') && !f[0].ends_with(':') {
            cur = None;
            if f.len() >= 6 && f[1].contains('x') && f[5].starts_with('/') {
                let (s, e) = f[0].split_once('-').unwrap();
                let s = usize::from_str_radix(s, 16).unwrap();
                let e = usize::from_str_radix(e, 16).unwrap();
                cur = Some((s, e, f[5..].join(" ")));
            }
        } else if let (Some((s, e, path)), Some("VmFlags:")) = (&cur, f.first().copied()) {
            let mut kb = 0;
            for a in (*s..*e).step_by(4096) {
                // SAFETY: the range is a readable, executable mapping of this process.
                unsafe { std::ptr::read_volatile(a as *const u8) };
                kb += 4;
            }
            let mm = if f.contains(&"mm") { "yes" } else { "no" };
            println!("exec-map {path} mixedmap={mm} ({kb} kB read)");
            cur = None;
        }
    }
}
EOF
# The dynamic program's loader and libraries: what a Rust program links on x86-64
# Debian (checked against ldd below), at the paths the host has them.
LIBS="/lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1"
for l in $LIBS; do [ -f "$l" ] || die "no $l"; done

key=$( {
	sha256sum <"$0"
	sha256sum <"$(dirname "$0")/xipfs-tinygroups.py"
	sha256sum <"$BUSYBOX"
	"$RUSTC" -V
	for l in $LIBS; do echo "$l"; sha256sum <"$l"; done
	mke2fs -V 2>&1
} | sha256sum | cut -d' ' -f1)
if [ -f "$out/exec.img" ] && [ -f "$out/bad.list" ] &&
   [ "$(cat "$out/images.key" 2>/dev/null)" = "$key" ]; then
	echo "xipfs-images: $out is up to date" >&2
	exit 0
fi

"$RUSTC" --edition 2021 -O -C strip=symbols -C target-feature=+crt-static \
	-o "$work/hello-static" "$work/hello.rs"
"$RUSTC" --edition 2021 -O -C strip=symbols -o "$work/hello-dynamic" "$work/hello.rs"
ldd "$work/hello-static" 2>&1 | grep -Eq 'not a dynamic executable|statically linked' ||
	die "hello-static is not static: $(ldd "$work/hello-static" 2>&1)"
for l in $(ldd "$work/hello-dynamic" | awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }'); do
	case " $LIBS " in *" $l "*) ;; *) die "hello-dynamic needs $l, which is not in LIBS" ;; esac
done

# ---------------------------------------------------------------------------
# exec.img
ex=$work/exec
mkdir -p "$ex/bin" "$ex/proc" "$ex/tmp"
cp "$work/hello-static" "$work/hello-dynamic" "$ex/bin/"
cp "$BUSYBOX" "$ex/bin/busybox"
for l in $LIBS; do
	mkdir -p "$ex$(dirname "$l")"
	cp -L "$l" "$ex$l"   # /lib64/ld-linux-x86-64.so.2 is a symlink on the host
done
chmod 0755 "$ex"/bin/* "$ex"/lib64/*
mke2fs -q -t ext2 -b 4096 -d "$ex" "$work/exec.img" 16M >"$work/mke2fs.out" 2>&1 ||
	{ cat "$work/mke2fs.out" >&2; die "mke2fs of exec.img failed"; }
e2fsck -fn "$work/exec.img" >"$work/e2fsck.out" 2>&1 ||
	{ cat "$work/e2fsck.out" >&2; die "e2fsck -fn exec.img found problems"; }

# ---------------------------------------------------------------------------
# small.img: a small tree with one of each thing a corruption below needs.
sm=$work/small
mkdir -p "$sm/dir/sub" "$sm/dir0" "$sm/dir-odd" "$sm/loopdir/sub"
printf 'the small file of the corrupt-image tests\n' >"$sm/file-small"
# 21 blocks: 12 direct, 9 through the indirect block.
head -c $((20 * 4096 + 100)) /dev/zero | tr '\0' 'i' >"$sm/file-ind"
head -c 4096 /dev/zero | tr '\0' 'h' >"$sm/huge"
printf 'bad type\n' >"$sm/badtype"
for n in a b c; do echo "$n" >"$sm/dir/$n"; done
echo x >"$sm/dir0/x"
echo y >"$sm/dir-odd/y"
long=$(printf 'long/%.0s' $(seq 40))   # 200 bytes: a slow symlink
ln -s file-small "$sm/link-fast"
ln -s "$long" "$sm/link-slow"
ln -s file-small "$sm/sym-fast"
ln -s "$long" "$sm/sym-slow"
# For the cross-linked images (the claim map): a two-block file, one-block files whose first
# block gets pointed elsewhere, and a directory of 4 blocks (300 hard links, 40-byte names).
head -c 8192 /dev/zero | tr '\0' 'A' >"$sm/alias"
for f in x1 x2 victim-it victim-bb victim-gdt victim-ind victim-dir; do
	head -c 4096 /dev/zero | tr '\0' "${f: -1}" >"$sm/$f"
done
mkdir "$sm/bigdir"
echo target >"$sm/bigdir/target"
for i in $(seq 300); do ln "$sm/bigdir/target" "$sm/bigdir/$(printf 'entry-%034d' "$i")"; done
# -I 256 and 4 KiB blocks as in the test tree; 64 inodes.
mkimg() { # BLOCKSIZE IMG
	mke2fs -q -t ext2 -b "$1" -I 256 -N 64 -d "$sm" "$2" 1M >"$work/mke2fs.out" 2>&1 ||
		{ cat "$work/mke2fs.out" >&2; die "mke2fs of $2 failed"; }
}
good=$work/small.img
mkimg 4096 "$good"
e2fsck -fn "$good" >"$work/e2fsck.out" 2>&1 ||
	{ cat "$work/e2fsck.out" >&2; die "e2fsck -fn small.img found problems"; }

# Patching: python3 writes little-endian fields; offsets come from the superblock at 1024,
# debugfs's imap (where an inode is) and bmap (where a file block is).
cat >"$work/patch.py" <<'EOF'
import sys
cmd, img = sys.argv[1], sys.argv[2]
with open(img, "r+b") as f:
    if cmd in ("get", "set", "or"):
        off, size = int(sys.argv[3], 0), int(sys.argv[4])
        f.seek(off)
        old = int.from_bytes(f.read(size), "little")
        if cmd == "get":
            print(old)
        else:
            new = int(sys.argv[5], 0) | (old if cmd == "or" else 0)
            f.seek(off)
            f.write(new.to_bytes(size, "little"))
    elif cmd in ("dirent", "dirent-last"):
        # Print "OFFSET REC_LEN" of the entry NAME (or of the last entry) of the directory
        # block BLOCK of a 4 KiB-block image.
        base = int(sys.argv[3]) * 4096
        f.seek(base)
        blk = f.read(4096)
        pos, last = 0, None
        while pos < 4096:
            rec = int.from_bytes(blk[pos + 4:pos + 6], "little")
            nlen = blk[pos + 6]
            if cmd == "dirent" and blk[pos + 8:pos + 8 + nlen] == sys.argv[4].encode():
                print(base + pos, rec)
                sys.exit(0)
            last = (pos, rec)
            if rec < 12:
                break
            pos += rec
        if cmd == "dirent-last" and last:
            print(base + last[0], last[1])
            sys.exit(0)
        sys.exit("no such entry")
EOF
py() { python3 "$work/patch.py" "$@"; }
dbg() { debugfs -R "$1" "$2" 2>/dev/null; }
ino_of() { dbg "stat $1" "$good" | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
# inode_at INO: byte offset of inode INO in the image.
inode_at() {
	local loc blk off
	loc=$(dbg "imap <$1>" "$good")
	blk=$(sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1/p' <<<"$loc")
	off=$(sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\2/p' <<<"$loc")
	[ -n "$blk" ] && [ -n "$off" ] || die "imap <$1>: $loc"
	echo $((blk * 4096 + off))
}
bmap() { dbg "bmap <$1> $2" "$good"; }

SB=1024
blocks_count=$(py get "$good" $((SB + 4)) 4)
inodes_count=$(py get "$good" $((SB + 0)) 4)
# Inode fields (struct ext2_inode).
I_MODE=0 I_SIZE=4 I_BLOCK=40 I_SIZE_HIGH=108
for p in file-ind huge badtype dir dir0 dir-odd loopdir sym-fast sym-slow \
	alias x1 x2 victim-it victim-bb victim-gdt victim-ind victim-dir bigdir; do
	i=$(ino_of "/$p")
	[ -n "$i" ] || die "no inode for /$p in small.img"
	eval "ino_${p//-/_}=$i"
done
gdt_block=$(dumpe2fs "$good" 2>/dev/null | sed -n 's/^ *Primary superblock at 0, Group descriptors at \([0-9]*\)-.*/\1/p')
[ "$gdt_block" = 1 ] || die "unexpected group descriptor location in dumpe2fs's output: '$gdt_block'"
dir_block=$(bmap "$ino_dir" 0)
loopdir_block=$(bmap "$ino_loopdir" 0)
ind_block=$(py get "$good" $(($(inode_at "$ino_file_ind") + I_BLOCK + 12 * 4)) 4)
[ "$ind_block" -gt 0 ] || die "/file-ind has no indirect block"
past_end=$((blocks_count + 1000))

list=$work/bad.list
cat >"$list" <<EOF
# Expectations of tests/guest/t-xipfs-corrupt.sh, made by tests/guest/xipfs-images.sh.
# Images are 1 MiB, except *.img.gz (gzip'ed, loaded into a device of their size).
# One check per line, each on a fresh mount of the image, except "then" lines:
#   IMAGE mount-fails ERRS [log=REGEX]   mount -o ro fails with one of ERRS (and a log line
#                                        matching REGEX, as below)
#   IMAGE mount-ok-ro                    mount -o ro works
#   IMAGE access OP PATH EXPECT [inode=N[,M]] [log=REGEX]
#       mount -o ro works, then \`xipmap try OP /mnt/x/PATH EXPECT\` passes; when the outcome
#       is an error, the kernel log must have a new line naming xipfs and, in that same line,
#       "inode N" and "inode M" if given and a match of the extended REGEX if given (where
#       "." stands for the spaces)
#   IMAGE then OP PATH EXPECT [inode=N[,M]] [log=REGEX]
#       the same on the mount of the line before (same IMAGE), after what it did: which of
#       two owners of a block is used first decides which one is refused
# ERRS and EXPECT are |-separated errno names; EXPECT may also hold ok, zeros, SIGBUS
# (see tests/progs/xipmap.rs).
EOF
# bad IMAGE WHAT...: add a line to bad.list.
bad() { echo "$*" >>"$list"; }
# mkbad NAME: copy small.img to bad-NAME.img and echo its path.
mkbad() { cp "$good" "$work/bad-$1.img"; echo "$work/bad-$1.img"; }

# --- The good image, to show the checks pass where nothing is wrong.
bad small.img mount-ok-ro
bad small.img access find / ok
bad small.img access cat /file-ind ok
bad small.img access mmap /file-ind ok
bad small.img access readlink /link-slow ok
bad small.img access readlink /link-fast ok
bad small.img access ls /loopdir ok

# --- Superblock and group descriptors: the mount is refused.
img=$(mkbad magic)
py set "$img" $((SB + 56)) 2 0x1234
bad bad-magic.img mount-fails EINVAL

mkimg 1024 "$work/bad-blocksize-1k.img"
bad bad-blocksize-1k.img mount-fails EINVAL

img=$(mkbad incompat-inline-data)   # 0x8000: an ext4 feature, unknown to xipfs
py or "$img" $((SB + 96)) 4 0x8000
bad bad-incompat-inline-data.img mount-fails EINVAL
img=$(mkbad incompat-unknown)       # unknown to everyone
py or "$img" $((SB + 96)) 4 0x40000000
bad bad-incompat-unknown.img mount-fails EINVAL

img=$(mkbad ro-compat)   # an unknown read-only-compatible feature: read-only mounts work
py or "$img" $((SB + 100)) 4 0x4000
bad bad-ro-compat.img mount-ok-ro
bad bad-ro-compat.img access cat /file-ind ok

img=$(mkbad inodes-count)
py set "$img" $((SB + 0)) 4 $((inodes_count + 8))
bad bad-inodes-count.img mount-fails EINVAL

img=$(mkbad blocks-count)  # twice the device
py set "$img" $((SB + 4)) 4 $((blocks_count * 2))
bad bad-blocks-count.img mount-fails EINVAL

img=$(mkbad gdt-inode-table)   # bg_inode_table of group 0 past the end
py set "$img" $((gdt_block * 4096 + 8)) 4 $past_end
bad bad-gdt-inode-table.img 'mount-fails EUCLEAN|EINVAL'

img=$(mkbad root-not-dir)
py set "$img" $(($(inode_at 2) + I_MODE)) 2 0o100755
bad bad-root-not-dir.img 'mount-fails EUCLEAN|EINVAL'

# --- Directory blocks: entries of /dir (or its last one), one field each.
read -r a_off a_rec <<<"$(py dirent "$good" "$dir_block" a)"
[ "$a_rec" -eq 12 ] || die "/dir/a is not a 12-byte entry (rec_len $a_rec): pick another"
read -r last_off last_rec <<<"$(py dirent-last "$good" "$dir_block")"
dirbad() { # NAME: the accesses that read the broken block of /dir
	bad "bad-$1.img" access ls /dir 'EUCLEAN|EIO' "inode=$ino_dir"
	bad "bad-$1.img" access stat /dir/no-such-name 'EUCLEAN|EIO' "inode=$ino_dir"
}
img=$(mkbad dirent-reclen-0)
py set "$img" $((a_off + 4)) 2 0
dirbad dirent-reclen-0
img=$(mkbad dirent-reclen-unaligned)
py set "$img" $((a_off + 4)) 2 14
dirbad dirent-reclen-unaligned
img=$(mkbad dirent-reclen-past-end)
py set "$img" $((last_off + 4)) 2 $((last_rec + 8))
dirbad dirent-reclen-past-end
img=$(mkbad dirent-inode-range)
py set "$img" "$a_off" 4 $((inodes_count + 1))
dirbad dirent-inode-range
img=$(mkbad dirent-name-len)   # name_len 200 in a 12-byte entry
py set "$img" $((a_off + 6)) 1 200
dirbad dirent-name-len

# A loop: /loopdir/sub is the root directory.  Listing /loopdir works; going into
# /loopdir/sub is refused (the VFS's loop check, ELOOP, or xipfs's own), and a walk ends.
read -r sub_off _ <<<"$(py dirent "$good" "$loopdir_block" sub)"
img=$(mkbad dirent-loop)
py set "$img" "$sub_off" 4 2
bad bad-dirent-loop.img access ls /loopdir ok
bad bad-dirent-loop.img access stat /loopdir/sub 'ELOOP|EUCLEAN'
bad bad-dirent-loop.img access find / 'ELOOP|EUCLEAN'

# --- Block maps of /file-ind.
at=$(inode_at "$ino_file_ind")
img=$(mkbad direct-block)
py set "$img" $((at + I_BLOCK)) 4 $past_end
bad bad-direct-block.img access cat /file-ind 'EUCLEAN|EIO' "inode=$ino_file_ind"
bad bad-direct-block.img access mmap /file-ind SIGBUS
bad bad-direct-block.img access cat /file-small ok
img=$(mkbad indirect-block)
py set "$img" $((at + I_BLOCK + 12 * 4)) 4 $past_end
bad bad-indirect-block.img access cat /file-ind 'EUCLEAN|EIO' "inode=$ino_file_ind"
bad bad-indirect-block.img access mmap /file-ind SIGBUS
img=$(mkbad indirect-entry)    # the 4th block number in the indirect block
py set "$img" $((ind_block * 4096 + 3 * 4)) 4 $past_end
bad bad-indirect-entry.img access cat /file-ind 'EUCLEAN|EIO' "inode=$ino_file_ind"
bad bad-indirect-entry.img access mmap /file-ind SIGBUS

# --- A regular file of 2^50 bytes with one block: what lies past the block reads as
# zeros (holes) or fails, and nothing worse.
at=$(inode_at "$ino_huge")
img=$(mkbad huge-size)
py set "$img" $((at + I_SIZE)) 4 0
py set "$img" $((at + I_SIZE_HIGH)) 4 $((1 << 18))
bad bad-huge-size.img access head /huge 'ok|EUCLEAN|EIO|EFBIG'
bad bad-huge-size.img access tail /huge 'zeros|EUCLEAN|EIO|EFBIG|EINVAL'
bad bad-huge-size.img access mmap /huge 'ok|SIGBUS|EUCLEAN|EIO|EFBIG|EOVERFLOW'

# --- Symlinks with impossible sizes.
img=$(mkbad symlink-slow-5000)
py set "$img" $(($(inode_at "$ino_sym_slow") + I_SIZE)) 4 5000
bad bad-symlink-slow-5000.img access readlink /sym-slow 'EUCLEAN|EIO' "inode=$ino_sym_slow"
img=$(mkbad symlink-fast-70)
py set "$img" $(($(inode_at "$ino_sym_fast") + I_SIZE)) 4 70
bad bad-symlink-fast-70.img access readlink /sym-fast 'EUCLEAN|EIO' "inode=$ino_sym_fast"

# --- Directories whose size is no whole number of blocks.
img=$(mkbad dir-size-0)
py set "$img" $(($(inode_at "$ino_dir0") + I_SIZE)) 4 0
bad bad-dir-size-0.img access ls /dir0 'EUCLEAN|EIO' "inode=$ino_dir0"
img=$(mkbad dir-size-odd)
py set "$img" $(($(inode_at "$ino_dir_odd") + I_SIZE)) 4 5000
bad bad-dir-size-odd.img access ls /dir-odd 'EUCLEAN|EIO' "inode=$ino_dir_odd"

# --- An inode whose type bits are none of the seven file types.
img=$(mkbad file-type)
py set "$img" $(($(inode_at "$ino_badtype") + I_MODE)) 2 $((0170000 | 0644))
bad bad-file-type.img access stat /badtype 'EUCLEAN|EIO' "inode=$ino_badtype"
bad bad-file-type.img access ls / ok

# --- Cross-linked blocks.  fs/dax.c gives each device page to one file page and WARNs on a
# second: xipfs's claim map refuses the second owner of a block (EUCLEAN, SIGBUS in a
# mapping) with a log line naming both.  Metadata is claimed at mount, file blocks when
# first used.
sif() { # IMAGE PATH FIELD VALUE
	debugfs -w -R "sif $2 $3 $4" "$1" >"$work/debugfs.out" 2>&1 ||
		{ cat "$work/debugfs.out" >&2; die "debugfs sif $2 $3 $4 failed"; }
}
alias0=$(bmap "$ino_alias" 0)
x1_0=$(bmap "$ino_x1" 0)
dumpe2fs "$good" 2>/dev/null >"$work/dumpe2fs.out"
bb_block=$(sed -n 's/^ *Block bitmap at \([0-9]*\) .*/\1/p' "$work/dumpe2fs.out" | head -1)
it_first=$(sed -n 's/^ *Inode table at \([0-9]*\)-.*/\1/p' "$work/dumpe2fs.out" | head -1)
[ -n "$bb_block" ] && [ -n "$it_first" ] || die "no bitmap or inode table in dumpe2fs's output"
# The reproducer of issue 7: /alias's second block is its first; /x2's block is /x1's.
img=$(mkbad xlink)
sif "$img" /alias 'block[1]' "$alias0"
sif "$img" /x2 'block[0]' "$x1_0"
ia=$ino_alias i1=$ino_x1 i2=$ino_x2
bad bad-xlink.img access mmap /alias SIGBUS "inode=$ia" "log=block.$alias0.[(]its.file.block.1[)].is.already.file.block.0.of.inode.$ia\$"
bad bad-xlink.img then mmap /x1 ok
bad bad-xlink.img then mmap /x2 SIGBUS "inode=$i2,$i1" "log=[(]its.file.block.0[)].is.already.file.block.0.of.inode.$i1\$"
bad bad-xlink.img then cat /x2 EUCLEAN "inode=$i2,$i1"
bad bad-xlink.img then cat /x1 ok
bad bad-xlink.img access cat /alias EUCLEAN "inode=$ia"
bad bad-xlink.img access cat /x2 ok
bad bad-xlink.img then mmap /x1 SIGBUS "inode=$i1,$i2"
# File data on metadata: refused whatever was read before (metadata is claimed at mount).
img=$(mkbad xlink-inode-table)
sif "$img" /victim-it 'block[0]' $((it_first + 1))
bad bad-xlink-inode-table.img access mmap /victim-it SIGBUS "inode=$ino_victim_it" 'log=is.already.the.inode.table.of.group.0$'
bad bad-xlink-inode-table.img access cat /victim-it EUCLEAN "inode=$ino_victim_it"
img=$(mkbad xlink-bitmap)
sif "$img" /victim-bb 'block[0]' "$bb_block"
bad bad-xlink-bitmap.img access mmap /victim-bb SIGBUS "inode=$ino_victim_bb" 'log=is.already.the.block.bitmap.of.group.0$'
img=$(mkbad xlink-gdt)
sif "$img" /victim-gdt 'block[0]' "$gdt_block"
bad bad-xlink-gdt.img access cat /victim-gdt EUCLEAN "inode=$ino_victim_gdt" 'log=is.already.the.group.descriptor.table.of.group.0$'
# File data on another file's indirect block, and on a directory block: the first user wins.
img=$(mkbad xlink-indirect)
sif "$img" /victim-ind 'block[0]' "$ind_block"
bad bad-xlink-indirect.img access cat /file-ind ok
bad bad-xlink-indirect.img then mmap /victim-ind SIGBUS "inode=$ino_victim_ind,$ino_file_ind" "log=is.already.an.indirect.block.of.inode.$ino_file_ind\$"
bad bad-xlink-indirect.img access mmap /victim-ind ok
bad bad-xlink-indirect.img then cat /file-ind EUCLEAN "inode=$ino_file_ind,$ino_victim_ind" "log=[(]one.of.its.indirect.blocks[)].is.already.file.block.0.of.inode.$ino_victim_ind\$"
img=$(mkbad xlink-dir)
sif "$img" /victim-dir 'block[0]' "$dir_block"
bad bad-xlink-dir.img access ls /dir ok
bad bad-xlink-dir.img then mmap /victim-dir SIGBUS "inode=$ino_victim_dir,$ino_dir"
bad bad-xlink-dir.img access mmap /victim-dir ok
bad bad-xlink-dir.img then ls /dir EUCLEAN "inode=$ino_dir,$ino_victim_dir"
bad bad-xlink-dir.img then stat /dir/a EUCLEAN "inode=$ino_dir,$ino_victim_dir"
# A directory whose blocks all alias its first: the walk is refused at block 1, so no lookup
# copies the directory's size in bytes out of one block.
bd0=$(bmap "$ino_bigdir" 0)
[ "$(bmap "$ino_bigdir" 3)" -gt 0 ] || die "/bigdir has fewer than 4 blocks"
img=$(mkbad dir-alias)
for i in 1 2 3; do sif "$img" /bigdir "block[$i]" "$bd0"; done
bad bad-dir-alias.img access ls /bigdir EUCLEAN "inode=$ino_bigdir" "log=[(]its.file.block.1[)].is.already.file.block.0.of.inode.$ino_bigdir\$"
bad bad-dir-alias.img access stat /bigdir/no-such-name EUCLEAN "inode=$ino_bigdir"

# --- Geometry: groups of 16 blocks on 64 MiB (1024 groups, 8 descriptor blocks), a valid
# ext2 that mke2fs would not make: it mounts, reading each descriptor from the device and
# keeping none.  8-block groups on 24 MiB (768 groups): the 6 descriptor blocks leave no
# room in group 0 for both its bitmaps, and its inode bitmap lands outside it: refused.
python3 "$(dirname "$0")/xipfs-tinygroups.py" "$work/tiny-groups.img" 16384 16
e2fsck -fn "$work/tiny-groups.img" >"$work/e2fsck.out" 2>&1 ||
	{ cat "$work/e2fsck.out" >&2; die "e2fsck -fn tiny-groups.img found problems"; }
python3 "$(dirname "$0")/xipfs-tinygroups.py" "$work/bad-tiny-groups-8.img" 6144 8
if e2fsck -fn "$work/bad-tiny-groups-8.img" >"$work/e2fsck.out" 2>&1; then
	die "bad-tiny-groups-8.img: e2fsck -fn finds nothing wrong"
fi
gzip -9 "$work/tiny-groups.img" "$work/bad-tiny-groups-8.img"
bad tiny-groups.img.gz mount-ok-ro
bad tiny-groups.img.gz access find / ok
bad tiny-groups.img.gz access ls /lost+found ok
bad bad-tiny-groups-8.img.gz mount-fails EUCLEAN 'log=cannot.mount:.group.0:.inode.bitmap.not.in.its.group$'

# ---------------------------------------------------------------------------
# Every bad image must be corrupt to e2fsck, except the three that are valid to it.
for img in "$work"/bad-*.img; do
	name=$(basename "$img")
	grep -q "^$name " "$list" || die "$name is not in bad.list"
	[ "$(stat -c %s "$img")" -eq $((1 << 20)) ] || die "$name is not 1 MiB"
	rc=0
	e2fsck -fn "$img" >"$work/e2fsck.out" 2>&1 || rc=$?
	case $name in
	bad-blocksize-1k.img | bad-incompat-inline-data.img)
		[ $rc -eq 0 ] || { cat "$work/e2fsck.out" >&2; die "$name: e2fsck -fn is not clean"; } ;;
	bad-ro-compat.img) ;;
	*) [ $rc -ne 0 ] || { cat "$work/e2fsck.out" >&2; die "$name: e2fsck -fn finds nothing wrong"; } ;;
	esac
done
for name in $(awk '!/^#/ { print $1 }' "$list" | sort -u); do
	[ "$name" = small.img ] || [ -f "$work/$name" ] || die "bad.list names $name, which was not made"
done
# A "then" line continues the check before it, which must be on the same image.
awk '!/^#/ { if ($2 == "then" && $1 != prev) { print "bad.list line " NR ": then after another image"; bad = 1 }
	prev = $1 } END { exit bad }' "$list" >&2 || die "bad.list: misplaced 'then' line"

mkdir -p "$out"
rm -f "$out"/*.img "$out"/*.img.gz "$out/bad.list" "$out/images.key"
mv "$work"/*.img "$work"/*.img.gz "$list" "$out/"
echo "$key" >"$out/images.key"
printf 'xipfs-images: %s: exec.img, small.img, %s bad images, %s checks in bad.list, in %.1f s\n' \
	"$out" "$(ls "$out"/bad-*.img* | wc -l)" "$(grep -vc '^#' "$out/bad.list")" \
	"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" >&2
