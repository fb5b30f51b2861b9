//! libFuzzer entry for [`gwd_fuzz::client_hello`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::client_hello(data));
