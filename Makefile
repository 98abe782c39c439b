# SPDX-License-Identifier: GPL-2.0
#
# Entry points.  The kernel build itself happens outside the checkout, in
# $(XIPDAX_BUILD) (default ~/.cache/xipdax); see README.md.

.PHONY: all demo check build setup vm-run bench clean-build fuzz fuzz-images fstests stress

all: build

# Install what is missing (Debian packages, bindgen).
setup:
	scripts/setup-host

# Build the test kernel, our modules and the guest initramfs.
build:
	scripts/build

# The main job: boot the guest and show what xipram/xipfs do.
demo:
	scripts/demo

# Build and run every test; ends with "N passed, N failed, N skipped".
check:
	scripts/check

# Benchmarks (ratios against in-kernel alternatives, same boot).
bench:
	scripts/bench

# Forget the kernel build (the next build starts from scratch).
clean-build:
	scripts/clean-build

# The on-disk parser on the host: property tests, then FUZZ_SECONDS (default 600) of
# libFuzzer per target (scripts/host-fuzz; make check runs a bounded pass).
fuzz:
	scripts/host-fuzz

# Hostile images in the guest for a long time (scripts/fuzz-images; FUZZ_SECONDS, default
# 1800, FUZZ_IMAGES, FUZZ_SEED): mutated images mounted, walked, read, mapped, modified.
fuzz-images:
	scripts/fuzz-images

# fstests against xipfs in the guest (scripts/fstests; FST_FS=ext2-dax for the baseline):
# the tests of tests/fstests/xipfs.list, fstests built by scripts/fstests-build.
fstests:
	scripts/fstests

# Concurrency and fault injection for longer (scripts/stress: the timed storm runs
# STRESS_SECONDS, default 900, in each memory model; then t-xipfs-faults).
stress:
	scripts/stress
