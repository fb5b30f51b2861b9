//! libFuzzer entry for [`gwd_fuzz::h1_body`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::h1_body(data));
