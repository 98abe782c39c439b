// SPDX-License-Identifier: GPL-2.0
//! libFuzzer target: `xipfs_ondisk_host::targets::xattr` (its input format is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xipfs_ondisk_host::targets::xattr(data);
});
