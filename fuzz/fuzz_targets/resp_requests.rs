//! libFuzzer entry point; the target itself is `brokerlab_fuzz::resp_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brokerlab_fuzz::resp_requests(data));
