# SPDX-License-Identifier: GPL-2.0
# Shared settings and helpers for the build, check and demo scripts.
# Sourced, not run.

set -euo pipefail
trap 'echo "error: ${BASH_SOURCE[0]}:$LINENO: command failed: $BASH_COMMAND" >&2' ERR

XIP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything that is built lives outside the checkout so that a fresh clone
# reuses it.  Override with XIPDAX_BUILD.
XIPDAX_BUILD=${XIPDAX_BUILD:-${XDG_CACHE_HOME:-$HOME/.cache}/xipdax}
XIP_TOOLS=$XIPDAX_BUILD/tools          # bindgen lives here
XIP_PRISTINE=$XIPDAX_BUILD/pristine    # the unpacked tarball, never modified
XIP_SRC=$XIPDAX_BUILD/src              # pristine (hard links) + our overlay
XIP_STAGE=$XIPDAX_BUILD/stage          # what the overlay should look like
# XIP_VARIANT=bench: the benchmark kernel (make bench), the test configuration with
# scripts/xipdax-bench.config on top (no sanitizers, lockdep, debug checks or KUnit),
# built into and booted from directories of its own, from the same source tree.
XIP_VARIANT=${XIP_VARIANT:-}
case "$XIP_VARIANT" in
"" | bench) ;;
*) echo "error: XIP_VARIANT=$XIP_VARIANT: empty (the test kernel) or bench" >&2; exit 1 ;;
esac
XIP_SFX=${XIP_VARIANT:+-$XIP_VARIANT}
XIP_OBJ=$XIPDAX_BUILD/obj$XIP_SFX      # O= output of the kernel build
XIP_ROOT=$XIPDAX_BUILD/guest$XIP_SFX   # initramfs staging and archives

LINUX_TARBALL=/usr/src/linux-source-6.12.tar.xz
BINDGEN=$XIP_TOOLS/bin/bindgen
KMAKE=(make -C "$XIP_SRC" O="$XIP_OBJ" LLVM=1
       RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc HOSTRUSTC=/usr/bin/rustc
       BINDGEN="$BINDGEN")

_xip_t0=${_xip_t0:-$(date +%s)}
export _xip_t0

# step "message": a progress line with the elapsed time since the first step.
step() {
	local now
	now=$(date +%s)
	printf '==> [%4ds] %s\n' "$((now - _xip_t0))" "$*" >&2
}

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# fstests_source: FSTESTS_SRC, or else the newest fstests snapshot in ../shared/fstests/
# next to the checkout, or nothing (a plain glob: no failing command under set -e).
fstests_source() {
	local f src=${FSTESTS_SRC:-}
	if [ -z "$src" ]; then
		for f in "$XIP_TOP"/../shared/fstests/xfstests-*.tar.gz; do
			[ -e "$f" ] && src=$f
		done
	fi
	printf '%s\n' "$src"
}

# run_quiet LOG cmd...: run a long command with its output in LOG, printing
# a progress line every 60 s; on failure show the end of LOG.
run_quiet() {
	local log=$1 pid rc start
	shift
	start=$(date +%s)
	"$@" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		kill -0 "$pid" 2>/dev/null &&
			step "  ... still running ($(($(date +%s) - start)) s, log: $log)"
	done
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$log" >&2
		die "failed (exit $rc): $* (full log: $log)"
	fi
}
