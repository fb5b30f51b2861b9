//! libFuzzer entry for [`gwd_fuzz::acl_patterns`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::acl_patterns(data));
