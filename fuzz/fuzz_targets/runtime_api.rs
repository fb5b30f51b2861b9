//! libFuzzer entry for [`gwd_fuzz::runtime_api`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::runtime_api(data));
