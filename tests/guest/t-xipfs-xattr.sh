# SPDX-License-Identifier: GPL-2.0
# models: pages
# (One model: attributes live in metadata blocks, read and written through the same DAX
# copies in both models.)
# Extended attributes and POSIX ACLs, kept as ext2 keeps them (one block per inode,
# i_file_acl, shared between inodes by h_refcount):
# - user., trusted. and security. attributes: set, get, replace, create-only, remove, list,
#   with the errors the VFS and ext2 give (EEXIST, ENODATA, ERANGE for a short buffer or a
#   name over 255 bytes, ENOSPC when the block is full); st_blocks and the free count see
#   the block, which goes when the last attribute does; user. only on files and directories;
#   trusted. hidden from unprivileged callers; debugfs reads what xipfs wrote;
# - ACLs: an access ACL grants and is enforced, chmod rewrites its mask, one the mode says
#   all of is not kept, a default ACL is inherited (mode from the ACL, not the umask) and
#   refused on a file (EACCES); without one the umask applies;
# - mount options acl/noacl and user_xattr/nouser_xattr, at mount and remount;
# - a block an image shares between three inodes (refcount 3): a change copies it, a
#   deletion or the last attribute's removal drops one user, the last user frees it;
# - a block with a bad magic gives EUCLEAN and a log line;
# - e2fsck -fn is clean after each unmount.
. ./lib.sh

need_xipfs
need_progs xipxattr xiprw
m=/mnt/x
X=xipxattr

rw_mkfs 32
rw_mount
echo data >$m/f
free1=$(stat -f -c %f $m)
expect_eq "$(stat -c %b $m/f)" 8 "st_blocks of a one-block file"

# --- attributes --------------------------------------------------------------------
run $X set $m/f user.a hello
expect_eq "$($X get $m/f user.a)" hello "user.a"
expect_eq "$(stat -c %b $m/f)" 16 "st_blocks with an attribute block"
expect_eq "$(stat -f -c %f $m)" $((free1 - 1)) "free blocks with an attribute block"
run $X set $m/f user.a x --create --expect EEXIST
run $X set $m/f user.b v --replace --expect ENODATA
run $X set $m/f user.a world --replace
expect_eq "$($X get $m/f user.a)" world "user.a replaced"
run $X set $m/f user.empty -
expect_eq "$($X get $m/f user.empty --len)" 0 "an empty value"
run $X set $m/f trusted.t tv
run $X set $m/f security.s sv
expect_eq "$($X list $m/f | tr '\n' ' ')" "security.s trusted.t user.a user.empty " "list"
expect_eq "$(stat -f -c %f $m)" $((free1 - 1)) "free blocks: one block holds them all"
run $X get $m/f user.a --size 2 --expect ERANGE
run $X list $m/f --size 5 --expect ERANGE
run $X get $m/f user.nope --expect ENODATA
long=$(awk 'BEGIN { while (i++ < 256) printf "n" }')
run $X set $m/f "user.$long" v --expect ERANGE
# The VFS's limit, 255 bytes with the prefix, is below ext2's (255 without it).
name250=$(awk 'BEGIN { while (i++ < 250) printf "n" }')
run $X set $m/f "user.$name250" v
expect_eq "$($X get $m/f "user.$name250")" v "an attribute with the longest name"
run $X remove $m/f "user.$name250"
run $X set $m/f user.big @3900:b
run $X set $m/f user.big2 @3900:c --expect ENOSPC
expect_eq "$($X get $m/f user.big --len)" 3900 "a 3900-byte value"
run $X set $m/f user.huge @5000:d --expect ERANGE
run $X remove $m/f user.big
run $X remove $m/f user.big --expect ENODATA

# Which namespaces each kind of inode takes (the VFS's rules).
ln -s f $m/l
mkfifo $m/p
mkdir $m/d
run $X set $m/l user.x v --expect EPERM
run $X set $m/l trusted.x v
expect_eq "$($X get $m/l trusted.x)" v "trusted. on a symlink"
run $X set $m/p user.x v --expect EPERM
run $X set $m/p security.x pv
run $X set $m/d user.x dv
# An unprivileged caller: no trusted. names, no writing without write permission.
expect_eq "$(xiprw as 1000 1000 $X list $m/f | tr '\n' ' ')" "security.s user.a user.empty " \
	"list without CAP_SYS_ADMIN"
run xiprw as 1000 1000 $X set $m/f user.z v --expect EACCES
run xiprw as 1000 1000 $X get $m/f trusted.t --expect "ENODATA|EPERM"

rw_umount
debugfs -R "ea_list /f" "$dev" >/tmp/ea.out 2>&1
grep -q 'user.a.*world' /tmp/ea.out || { cat /tmp/ea.out; fail "debugfs does not see user.a = world"; }
grep -q 'trusted.t.*tv' /tmp/ea.out || { cat /tmp/ea.out; fail "debugfs does not see trusted.t"; }
rw_mount
expect_eq "$($X get $m/f user.a)" world "user.a after a remount"
expect_eq "$($X get $m/p security.x)" pv "security.x of a FIFO after a remount"
for n in user.a user.empty trusted.t security.s; do run $X remove $m/f $n; done
expect_eq "$($X list $m/f | wc -l)" 0 "names left"
expect_eq "$(stat -c %b $m/f)" 8 "st_blocks once the last attribute went"
expect_eq "$(stat -f -c %f $m)" $((free1 - 4)) \
	"free blocks (the symlink's, FIFO's and directory's attribute blocks, and the directory)"

# --- ACLs ----------------------------------------------------------------------------
echo secret >$m/acl
chmod 600 $m/acl
expect_fail "uid 1000 reads a 0600 file" xiprw as 1000 1000 cat $m/acl
run $X acl-set $m/acl access "u::rw-,u:1000:r--,g::---,m::r--,o::---"
expect_eq "$(stat -c %a $m/acl)" 640 "mode after an access ACL (group bits = mask)"
expect_eq "$(xiprw as 1000 1000 cat $m/acl)" secret "uid 1000 reads through the ACL"
expect_fail "uid 1001 reads" xiprw as 1001 1001 cat $m/acl
run chmod 600 $m/acl
expect_eq "$($X acl-get $m/acl access)" "u::rw-,u:1000:r--,g::---,m::---,o::---" "ACL after chmod 600"
expect_fail "uid 1000 reads once chmod cleared the mask" xiprw as 1000 1000 cat $m/acl
run $X acl-set $m/acl access "u::rw-,g::r--,o::r--"
expect_eq "$($X acl-get $m/acl access)" none "an ACL the mode says all of"
expect_eq "$(stat -c %a $m/acl)" 644 "mode from that ACL"
expect_eq "$(stat -c %b $m/acl)" 8 "st_blocks with no ACL left"
mkdir $m/dd
run $X acl-set $m/dd default "u::rwx,g::r-x,g:50:rwx,m::rwx,o::---"
expect_eq "$($X create $m/dd/n 666 077)" 660 "mode of a file under a default ACL (no umask)"
expect_eq "$($X acl-get $m/dd/n access)" "u::rw-,g::r-x,g:50:rwx,m::rw-,o::---" "inherited access ACL"
expect_eq "$($X acl-get $m/dd/n default)" none "default ACL of a file"
expect_eq "$($X create $m/dd/sub 777 077 dir)" 770 "mode of a directory under a default ACL"
expect_eq "$($X acl-get $m/dd/sub default)" "u::rwx,g::r-x,g:50:rwx,m::rwx,o::---" "inherited default ACL"
expect_eq "$($X list $m/dd/sub | tr '\n' ' ')" "system.posix_acl_access system.posix_acl_default " "list of ACLs"
expect_eq "$($X create $m/u 666 022)" 644 "umask without a default ACL"
expect_eq "$($X create $m/ud 777 027 dir)" 750 "umask of a directory without a default ACL"
run $X acl-set $m/u default "u::rwx,g::r-x,o::---" --expect EACCES
rw_umount

# --- mount options -----------------------------------------------------------------
rw_mount noacl
run $X acl-set $m/u access "u::rw-,u:1000:r--,g::---,m::r--,o::---" --expect EOPNOTSUPP
expect_eq "$($X create $m/dd/n2 666 077)" 600 "umask under noacl, default ACL ignored"
expect_eq "$($X list $m/dd/sub | wc -l)" 0 "ACL names listed under noacl"
grep " $m " /proc/mounts | grep -q noacl || fail "noacl not in /proc/mounts"
run mount -o remount,acl $m
run $X acl-set $m/u access "u::rw-,u:1000:r--,g::---,m::r--,o::---"
run $X acl-set $m/u access none
rw_umount
rw_mount nouser_xattr
run $X get $m/d user.x --expect EOPNOTSUPP
run $X set $m/d user.y v --expect EOPNOTSUPP
expect_eq "$($X list $m/d | wc -l)" 0 "user. names listed under nouser_xattr"
run mount -o remount,user_xattr $m
expect_eq "$($X get $m/d user.x)" dv "user.x after remount,user_xattr"
rm -rf $m/dd $m/l $m/p $m/d
expect_eq "$(stat -f -c %f $m)" $((free1 - 2)) "free blocks once the attributed inodes are gone (acl's data, ud)"
rw_umount

# --- a block shared by three inodes (as ext2's mbcache makes them) -------------------
for i in 1 2 3; do echo "s$i" >/tmp/s$i; done
# 200 bytes: too large for the inode's own space, where debugfs puts small values (ext2
# and xipfs read only the block).
awk 'BEGIN { while (i++ < 200) printf "s" }' >/tmp/shared
debugfs -w -f - "$dev" >/tmp/dbg.out 2>&1 <<EOF
write /tmp/s1 s1
write /tmp/s2 s2
write /tmp/s3 s3
ea_set -f /tmp/shared /s1 user.k
EOF
blk=$(debugfs -R "stat /s1" "$dev" 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
[ -n "$blk" ] && [ "$blk" -gt 0 ] || { cat /tmp/dbg.out; fail "no attribute block on /s1"; }
for i in 2 3; do
	blocks=$(debugfs -R "stat /s$i" "$dev" 2>/dev/null | sed -n 's/.*Blockcount: \([0-9]*\).*/\1/p')
	debugfs -w -R "sif /s$i file_acl $blk" "$dev" >/dev/null 2>&1
	debugfs -w -R "sif /s$i blocks $((blocks + 8))" "$dev" >/dev/null 2>&1
done
# h_refcount of block $1, read from the device (its page cache dropped first: xipfs writes
# the memory directly).
refcount() {
	echo 1 >/proc/sys/vm/drop_caches
	od -An -tu4 -j $(($1 * 4096 + 4)) -N4 "$dev" | tr -d ' '
}
printf '\003\000\000\000' | dd of="$dev" bs=1 seek=$((blk * 4096 + 4)) conv=notrunc 2>/dev/null
expect_eq "$(refcount $blk)" 3 "refcount written"
fsck_clean "$dev"
rw_mount
free2=$(stat -f -c %f $m)
shared=$(cat /tmp/shared)
for i in 1 2 3; do expect_eq "$($X get $m/s$i user.k)" "$shared" "user.k of s$i, shared"; done
run $X set $m/s2 user.k mine
expect_eq "$($X get $m/s2 user.k)" mine "s2 after its change"
expect_eq "$($X get $m/s1 user.k)" "$shared" "s1 after s2 changed"
expect_eq "$(refcount $blk)" 2 "refcount after a copy"
expect_eq "$(stat -f -c %f $m)" $((free2 - 1)) "free blocks after a copy"
rm $m/s3
expect_eq "$(refcount $blk)" 1 "refcount after a user was deleted"
rw_umount
rw_mount
run $X remove $m/s1 user.k
expect_eq "$(stat -f -c %f $m)" $((free2 + 1)) "free blocks once the shared block's last user let go"
rw_umount

# --- a corrupt block ---------------------------------------------------------------
rw_mount
run $X set $m/s1 user.c v
rw_umount
blk=$(debugfs -R "stat /s1" "$dev" 2>/dev/null | sed -n 's/.*File ACL: \([0-9]*\).*/\1/p')
printf 'XXXX' | dd of="$dev" bs=1 seek=$((blk * 4096)) conv=notrunc 2>/dev/null
rw_mount "errors=continue"
mark=$(dmesg_mark)
run $X get $m/s1 user.c --expect EUCLEAN
run $X set $m/s1 user.c w --expect EUCLEAN
dmesg_since "$mark" | grep -q "inode.*corrupt" || fail "no log line for a corrupt attribute block"
run umount $m
rw_release
exit 0
