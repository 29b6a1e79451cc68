//! cargo-fuzz target `template`: see `loadtide::fuzzing::template`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadtide::fuzzing::template(data));
