//! libFuzzer entry for [`gwd_fuzz::hpack`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::hpack(data));
