//! libFuzzer entry for [`gwd_fuzz::deflate_roundtrip`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::deflate_roundtrip(data));
