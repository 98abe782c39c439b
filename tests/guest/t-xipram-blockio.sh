# SPDX-License-Identifier: GPL-2.0
# models: pages devmap
# xipram as a plain RAM disk: reads and writes of any sector-aligned length and
# offset, flush, discard and write-zeroes, and the end of the device.
. ./lib.sh

xipram_load 16
dev=/dev/xipram0
size=$dev_bytes  # 16 MiB, or a whole memory block in devmap

# A fresh device reads as zeroes.
expect_eq "$(dd if=$dev bs=1M count=16 2>/dev/null | tr -d '\0' | wc -c)" 0 "fresh device not zero"

# Writes and reads of many lengths at many sector offsets, across the 2 MiB
# run boundaries, buffered and O_DIRECT.
head -c $((3 << 20)) /dev/urandom >/tmp/rand
for spec in "1 0" "1 7" "8 1" "8 4095" "9 4096" "4096 3" "1000 2047" "6144 12" ; do
	set -- $spec
	count=$1 seek=$2
	dd if=/tmp/rand of=$dev bs=512 count=$count seek=$seek conv=notrunc 2>/dev/null || fail "write $spec"
	dd if=$dev of=/tmp/back bs=512 count=$count skip=$seek 2>/dev/null || fail "read $spec"
	head -c $((count * 512)) /tmp/rand | cmp - /tmp/back || fail "read back $count sectors at $seek"
done
dd if=/tmp/rand of=$dev bs=4096 count=700 seek=100 oflag=direct 2>/dev/null || fail "O_DIRECT write"
dd if=$dev of=/tmp/back bs=4096 count=700 skip=100 iflag=direct 2>/dev/null || fail "O_DIRECT read"
head -c $((700 * 4096)) /tmp/rand | cmp - /tmp/back || fail "O_DIRECT read back"

# Flush: sync and an explicit flush of the device succeed.
run sync
run blockdev --flushbufs $dev

# Discard zeroes the range (whole pages) and leaves the rest.
dd if=/tmp/rand of=$dev bs=1M count=3 seek=8 2>/dev/null
run blkdiscard -o $((9 << 20)) -l $((1 << 20)) $dev
expect_eq "$(dd if=$dev bs=1M count=1 skip=9 2>/dev/null | tr -d '\0' | wc -c)" 0 "discarded range not zero"
dd if=$dev of=/tmp/back bs=1M count=1 skip=8 2>/dev/null
head -c $((1 << 20)) /tmp/rand | cmp - /tmp/back || fail "discard touched the previous MiB"
dd if=$dev of=/tmp/back bs=1M count=1 skip=10 2>/dev/null
dd if=/tmp/rand bs=1M count=1 skip=2 2>/dev/null | cmp - /tmp/back || fail "discard touched the next MiB"
# Write-zeroes (blkdiscard -z) does the same.
run blkdiscard -z -o $((10 << 20)) -l $((1 << 20)) $dev
expect_eq "$(dd if=$dev bs=1M count=1 skip=10 2>/dev/null | tr -d '\0' | wc -c)" 0 "zeroed range not zero"

# The end of the device: the last sector works, past it fails cleanly.
echo last | dd of=$dev bs=512 seek=$((size / 512 - 1)) conv=sync 2>/dev/null || fail "write last sector"
expect_eq "$(dd if=$dev bs=512 skip=$((size / 512 - 1)) count=1 2>/dev/null | head -n 1)" last "last sector"
expect_fail "write past the end" dd if=/tmp/rand of=$dev bs=512 seek=$((size / 512)) count=1 oflag=direct
expect_fail "write across the end" dd if=/tmp/rand of=$dev bs=4096 seek=$((size / 4096 - 1)) count=2 oflag=direct conv=notrunc
expect_eq "$(dd if=$dev bs=512 skip=$((size / 512)) count=1 2>/dev/null | wc -c)" 0 "read past the end"
run rmmod xipram
exit 0
