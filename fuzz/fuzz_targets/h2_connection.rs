//! libFuzzer entry for [`gwd_fuzz::h2_connection`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::h2_connection(data));
