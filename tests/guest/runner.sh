# SPDX-License-Identifier: GPL-2.0
# Guest side of `make check`: runs every guest test (tests/guest/t-*.sh), then
# prints one KTAP document holding the KUnit suites' results (from debugfs)
# and the guest tests' results, between markers that the host looks for.
# Run by scripts/vm-run with tests/guest added as /data/guest.

cd /data/guest || exit 1
: "${TESTS:=$(ls t-*.sh)}"
results=/tmp/guest-results
: >"$results"
n=0
for t in $TESTS; do
	n=$((n + 1))
	name=${t#t-}
	name=${name%.sh}
	echo "=== guest test $name"
	start=$(date +%s)
	if ( cd /data/guest && sh "./$t" ); then
		status=ok
	else
		status="not ok"
	fi
	echo "=== guest test $name: $status ($(($(date +%s) - start)) s)"
	# Leave a clean slate: nothing mounted, our modules gone.
	grep -E ' /mnt[^ ]* ' /proc/mounts | while read -r _ mp _; do umount "$mp"; done
	for m in xipfs xipram brd; do
		grep -q "^$m " /proc/modules && rmmod "$m"
	done
	echo "$status $n $name" >>"$results"
done

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
