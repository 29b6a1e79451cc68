//! cargo-fuzz target `duration`: see `loadtide::fuzzing::duration`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::duration(data));
