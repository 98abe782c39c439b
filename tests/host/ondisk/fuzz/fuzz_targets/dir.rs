// SPDX-License-Identifier: GPL-2.0
//! libFuzzer target: `xipfs_ondisk_host::targets::dir` (its input format is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xipfs_ondisk_host::targets::dir(data);
});
