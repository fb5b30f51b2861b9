//! libFuzzer entry for [`gwd_fuzz::x509_cert`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwd_fuzz::x509_cert(data));
