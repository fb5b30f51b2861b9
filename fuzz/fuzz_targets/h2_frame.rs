//! libFuzzer entry for [`gwd_fuzz::h2_frame`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::h2_frame(data));
