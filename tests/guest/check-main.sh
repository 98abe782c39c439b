# SPDX-License-Identifier: GPL-2.0
# Entry point of `make check` in the guest (see scripts/check).
# check.conf sets TESTS and the other variables scripts/check passes; export them all.
set -a
. /data/check.conf 2>/dev/null
set +a
export PATH=/data/bin:$PATH
sh /data/guest/runner.sh
