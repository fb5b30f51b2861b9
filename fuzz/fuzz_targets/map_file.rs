//! libFuzzer entry for [`gwd_fuzz::map_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::map_file(data));
