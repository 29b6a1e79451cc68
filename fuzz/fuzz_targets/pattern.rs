//! cargo-fuzz target `pattern`: see `loadtide::fuzzing::pattern`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::pattern(data));
