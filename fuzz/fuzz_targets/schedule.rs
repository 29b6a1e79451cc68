//! cargo-fuzz target `schedule`: see `loadtide::fuzzing::schedule`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::schedule(data));
