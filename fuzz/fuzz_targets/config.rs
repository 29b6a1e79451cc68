//! cargo-fuzz target `config`: see `loadtide::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::config(data));
