//! libFuzzer entry for [`gwd_fuzz::haproxy_cfg`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::haproxy_cfg(data));
