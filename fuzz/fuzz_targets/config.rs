//! libFuzzer entry for [`gwd_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::config(data));
