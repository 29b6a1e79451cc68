//! cargo-fuzz target `threshold`: see `loadtide::fuzzing::threshold`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::threshold(data));
