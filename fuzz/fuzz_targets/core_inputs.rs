//! libFuzzer entry point; the target itself is `brokerlab_fuzz::core_inputs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| brokerlab_fuzz::core_inputs(data));
