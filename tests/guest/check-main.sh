# SPDX-License-Identifier: GPL-2.0
# Entry point of `make check` in the guest (see scripts/check).
. /data/check.conf 2>/dev/null
export PATH=/data/bin:$PATH
export TESTS
sh /data/guest/runner.sh
