# SPDX-License-Identifier: GPL-2.0
# The guest tests make check runs, in which xipram memory models, and under which names.
# Read by both sides, so that they agree: scripts/check (on the host: the names the
# results must hold, each exactly once) and runner.sh (in the guest: what to run).
#
#   sh plan.sh        (in tests/guest; environment: TESTS, XIPRAM_MODELS)
#
# prints one line per run, "NAME FILE MODEL PASS", in the order to run them, and exits non-zero
# (saying why on stderr) when a test's marker is bad.
#
# Each t-*.sh says near its top, in a line of its own, which models it runs in:
#   # models: pages devmap   it makes its devices with lib.sh (xipram_load, load_image,
#                            rw_mkfs), which honour XIPRAM_MODEL: it runs once per model
#                            of XIPRAM_MODELS, with XIPRAM_MODEL set to that model;
#   # models: pages          (or devmap) it runs once, in that model only; the comment
#                            after the marker says why;
#   # models: own            it runs once, with XIPRAM_MODEL empty: it chooses
#                            memory_model itself (the parameter tests) or makes no xipram
#                            device.
# A test without a marker runs in every model, as "pages devmap" does.
#
# XIPRAM_MODELS (default "pages devmap") are the passes: the first runs every test (the
# single-model and "own" ones too), each further one runs again the tests that run in
# every model.  A run in pages (or an "own" run) is named after the file (t-xipfs-rw-io.sh:
# xipfs-rw-io); a run in another model gets "@MODEL" (xipfs-rw-io@devmap).

: "${TESTS:=$(ls t-*.sh)}"
: "${XIPRAM_MODELS:=pages devmap}"

for m in $XIPRAM_MODELS; do
	case $m in
	pages | devmap) ;;
	*) echo "plan.sh: XIPRAM_MODELS: unknown model '$m' (pages, devmap)" >&2; exit 1 ;;
	esac
done

# models FILE: the models of the marker ("all" without one, "own").
models() {
	_f=$1
	_line=$(sed -n '1,40{/^# models:/{s/^# models://p;q;};}' "$_f")
	[ -n "$_line" ] || { echo all; return 0; }
	_all=0
	_own=0
	_one=
	for _w in $_line; do
		case $_w in
		pages | devmap) _one="$_one $_w" ;;
		own) _own=1 ;;
		*) echo "plan.sh: $_f: unknown word '$_w' in its '# models:' line" >&2; return 1 ;;
		esac
	done
	case $_one in
	" pages devmap" | " devmap pages") _all=1 ;;
	esac
	if [ $_own = 1 ]; then
		[ -z "$_one" ] || { echo "plan.sh: $_f: '# models: own' with a model" >&2; return 1; }
		echo own
	elif [ $_all = 1 ]; then
		echo all
	else
		set -- $_one
		[ $# = 1 ] || { echo "plan.sh: $_f: bad '# models:' line" >&2; return 1; }
		echo "$1"
	fi
}

# name FILE MODEL
name() {
	_n=${1#t-}
	_n=${_n%.sh}
	case $2 in
	pages | own) echo "$_n" ;;
	*) echo "$_n@$2" ;;
	esac
}

rc=0
first=1
for pass in $XIPRAM_MODELS; do
	for t in $TESTS; do
		[ -f "$t" ] || { echo "plan.sh: no test $t" >&2; rc=1; continue; }
		m=$(models "$t") || { rc=1; continue; }
		case $m in
		all) echo "$(name "$t" $pass) $t $pass $pass" ;;
		*) [ $first = 1 ] && echo "$(name "$t" "$m") $t $m $pass" ;;
		esac
	done
	first=0
done
exit $rc
