# SPDX-License-Identifier: GPL-2.0
# The demo, first stage, run by the initramfs's init (scripts/guest/init).
#
# The initramfs is rootfs, which pivot_root(2) cannot move away from.  So, as
# an embedded system's init would, this stage mounts a tmpfs, copies the
# system into it, moves /proc, /sys and /dev there, and asks init (PID 1) to
# switch_root into it: the initramfs is emptied and the tmpfs becomes /, a
# real mount.  There, scripts/guest/demo-root.sh (the second stage, PID 1)
# builds the XIP root and pivot_roots into it.
say() { printf '\n### %s\n' "$*"; }
fail() { echo "demo: error: $*"; exit 1; }
must() { "$@" || fail "$* (exit status $?)"; }

for f in demo-root.sh tree rootfs.img rootfs.conf demo.conf; do
	[ -e "/data/$f" ] || fail "/data/$f is missing (run the demo with scripts/demo)"
done

say "stage 1, in the initramfs: copy the system into a tmpfs and switch_root into it"
must mkdir -p /tmproot
must mount -t tmpfs -o mode=755 tmpfs /tmproot
for d in /*; do
	case "$d" in
	/proc|/sys|/dev|/tmp|/tmproot) must mkdir -p "/tmproot$d" ;;
	*) must cp -a "$d" /tmproot/ ;;
	esac
done
must chmod 755 /tmproot/data/demo-root.sh
# The tmpfs root gets the kernel filesystems as they are (with /sys/kernel/debug
# and /dev/pts under them); /tmp starts afresh.
must umount /tmp
for m in /proc /sys /dev; do
	must mount --move "$m" "/tmproot$m"
done
echo "tmpfs root: $(du -sk /tmproot | cut -f1) KiB copied from the initramfs (tree and image included)"
# init runs "switch_root /tmproot /data/demo-root.sh" (it must be PID 1).
echo "/tmproot /data/demo-root.sh" >/.switch-root || fail "cannot write /.switch-root"
