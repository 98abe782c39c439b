# SPDX-License-Identifier: GPL-2.0
# Guest side of `make check`: runs every guest test (tests/guest/t-*.sh) in the
# memory models plan.sh says (one pass per model of XIPRAM_MODELS), then
# prints one KTAP document holding the KUnit suites' results (from debugfs)
# and the guest tests' results, between markers that the host looks for.
# Run by scripts/vm-run with tests/guest added as /data/guest.

cd /data/guest || exit 1
results=/tmp/guest-results
: >"$results"
# What to run, in which memory model, under which name (plan.sh; scripts/check expects
# the same names).  A broken plan is reported as a failed test of its own.
n=0
if ! sh ./plan.sh >/tmp/guest-plan 2>/tmp/guest-plan.err; then
	cat /tmp/guest-plan.err
	n=1
	echo "not ok 1 plan" >>"$results"
fi

# dmesg_since MARK (as lib.sh's): the kernel log after the line MARK.
dmesg_since() {
	dmesg | awk -v m="$1" 'seen { print } index($0, m) { seen = 1 }'
}

# model_check MODEL MARK: every xipram device made since MARK has the memory model MODEL,
# and there was one: a run in a model that made no device in it did not test that model.
# lib.sh's xipram_load checks each load too; this also catches a test that loads xipram
# without it.  If the mark has left the kernel log (a 128 KiB ring), it cannot tell.
model_check() {
	dmesg | grep -qF "$2" || { echo "runner: the kernel log no longer holds the test's start: model not checked"; return 0; }
	case $1 in
	pages) _text="page allocator" ;;
	devmap) _text="ZONE_DEVICE (devmap)" ;;
	esac
	dmesg_since "$2" | grep -E 'xipram[0-9]+: [0-9]+ MiB of .* memory in' >/tmp/runner-models
	if ! [ -s /tmp/runner-models ] && [ -n "${XFS_DEV:-}" ]; then
		echo "runner: no xipram device made (XFS_DEV=$XFS_DEV)"
		return 0
	fi
	if ! [ -s /tmp/runner-models ]; then
		echo "runner: FAIL: no xipram device was made in this run in the $1 model"
		return 1
	fi
	if grep -vF "MiB of $_text memory" /tmp/runner-models; then
		echo "runner: FAIL: xipram device(s) above are not in the $1 model"
		return 1
	fi
	echo "runner: $(wc -l </tmp/runner-models) xipram device(s), all in the $1 model"
}

pass=
pass_start=$(date +%s)
pass_n=0
end_pass() {
	[ -n "$pass" ] && echo "=== guest pass $pass: $pass_n test(s) in $(($(date +%s) - pass_start)) s"
}
while read -r name t model this <&3; do
	n=$((n + 1))
	# A pass is the runs of one model; the first one holds the single-model and own tests.
	if [ "$this" != "$pass" ]; then
		end_pass
		pass=$this
		pass_start=$(date +%s)
		pass_n=0
	fi
	pass_n=$((pass_n + 1))
	xmodel=$model
	[ "$xmodel" = own ] && xmodel=
	echo "=== guest test $name (${t}${xmodel:+, XIPRAM_MODEL=$xmodel})"
	start=$(date +%s)
	mark="xipdax-runner-mark $name $(cat /proc/sys/kernel/random/uuid)"
	echo "<7>$mark" >/dev/kmsg
	if ( cd /data/guest && XIPRAM_MODEL=$xmodel sh "./$t" ); then
		status=ok
	else
		status="not ok"
	fi
	if [ -n "$xmodel" ] && [ "$status" = ok ] && ! model_check "$xmodel" "$mark"; then
		status="not ok"
	fi
	echo "=== guest test $name: $status ($(($(date +%s) - start)) s)"
	# Leave a clean slate: nothing mounted, our modules gone.
	grep -E ' /mnt[^ ]* ' /proc/mounts | while read -r _ mp _; do umount "$mp"; done
	for m in xipfs xipram brd; do
		grep -q "^$m " /proc/modules && rmmod "$m"
	done
	echo "$status $n $name" >>"$results"
done 3</tmp/guest-plan
end_pass

# The KUnit suites of our modules run when the modules load; load them once
# more in case no test did, so that their results are in debugfs.
for m in xipram xipfs; do
	modinfo "$m" >/dev/null 2>&1 && modprobe "$m" 2>/dev/null
done

suites=$(ls /sys/kernel/debug/kunit 2>/dev/null)
nsuites=$(echo $suites | wc -w)
echo "XIPDAX-KTAP-BEGIN"
echo "KTAP version 1"
echo "1..$((nsuites + 1))"
i=0
for s in $suites; do
	i=$((i + 1))
	# Drop the file's own 2-line header and renumber its closing line.
	tail -n +3 "/sys/kernel/debug/kunit/$s/results" |
		sed -e "s/^\(ok\|not ok\) 1 \($s\)\$/\1 $i \2/"
done
echo "    KTAP version 1"
echo "    # Subtest: guest"
echo "    1..$n"
guest_ok=ok
while read -r st num name; do
	if [ "$st" = not ]; then
		set -- $num $name
		echo "    not ok $2 $3"
		guest_ok="not ok"
	else
		echo "    ok $num $name"
	fi
done <"$results"
echo "$guest_ok $((nsuites + 1)) guest"
echo "XIPDAX-KTAP-END"
