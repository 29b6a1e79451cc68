//! The fuzz targets on stable Rust: every target of `loadtide::fuzzing` over its committed
//! seed corpus (`fuzz/corpus/<target>/`), then over deterministic pseudo-random mutations of
//! it (fixed seed, bounded in count and time), asserting that nothing panics and that no
//! input takes long. A failure prints the input, ready to add to the corpus. Longer, coverage
//! guided runs are `scripts/fuzz.sh TARGET SECONDS` (cargo-fuzz).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use loadtide::fuzzing::TARGETS;

/// Mutations per target at most, and time per target at most.
const MUTATIONS: usize = 2_000;
const BUDGET: Duration = Duration::from_millis(1_500);
/// Any single input slower than this fails the test (a hang in the making).
const SLOW: Duration = Duration::from_secs(2);

/// Values that break arithmetic, spliced into inputs.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-308",
    "nan",
    "inf",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "999999999999999h",
    "18446744073709551615s",
    "1ns",
    "0s",
    "\"",
    "{{",
    "}}",
    "{%",
    "%}",
    "[",
    "]",
    "=",
    "*",
    "/",
    ",",
    "<",
    ">=",
    "%",
    "baseline*",
    "\u{0}",
    "\u{10ffff}",
    "L",
    "#",
    "?",
    "W",
    "\n",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let inputs: Vec<Vec<u8>> = entries.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!inputs.is_empty(), "{}: empty seed corpus", dir.display());
    inputs
}

/// One mutation of `input`, drawing from `rng` (and from `seeds` for splices).
fn mutate(rng: &mut fastrand::Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(0..=out.len());
        match rng.u8(0..6) {
            0 if !out.is_empty() => {
                let i = rng.usize(0..out.len());
                out[i] ^= 1 << rng.u8(0..8);
            }
            1 if !out.is_empty() => {
                let end = (at + rng.usize(1..16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.usize(0..TOKENS.len())];
                out.splice(at..at, t.bytes());
            }
            3 => {
                // Replace a run of digits (or anything) with a token: absurd numbers.
                let end = (at + rng.usize(0..8)).min(out.len());
                let t = TOKENS[rng.usize(0..TOKENS.len())];
                out.splice(at..end, t.bytes());
            }
            4 => {
                let other = &seeds[rng.usize(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.usize(0..other.len());
                    let to = (from + rng.usize(1..64)).min(other.len());
                    out.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => out.insert(at, rng.u8(..)),
        }
    }
    out
}

/// Runs `f` on `input`; the panic message, or a note when it was slow.
fn check(f: fn(&[u8]), input: &[u8]) -> Option<String> {
    let start = Instant::now();
    let result = std::panic::catch_unwind(|| f(input));
    let took = start.elapsed();
    match result {
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into()),
        ),
        Ok(()) if took > SLOW => Some(format!("took {took:?}")),
        Ok(()) => None,
    }
}

fn smoke(name: &str) {
    let f = TARGETS.iter().find(|(n, _)| *n == name).unwrap().1;
    let seeds = corpus(name);
    let mut failures = Vec::new();
    for s in &seeds {
        if let Some(why) = check(f, s) {
            failures.push((why, s.clone()));
        }
    }
    // The seed depends on the target only: every run tries the same inputs.
    let mut rng = fastrand::Rng::with_seed(
        name.bytes()
            .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let start = Instant::now();
    let mut tried = 0;
    while tried < MUTATIONS && start.elapsed() < BUDGET {
        let base = &seeds[rng.usize(0..seeds.len())];
        let input = mutate(&mut rng, base, &seeds);
        if let Some(why) = check(f, &input) {
            failures.push((why, input));
        }
        tried += 1;
    }
    assert!(
        failures.is_empty(),
        "fuzz target {name}: {} of {} inputs failed; first ones:\n{}",
        failures.len(),
        seeds.len() + tried,
        failures
            .iter()
            .take(5)
            .map(|(why, input)| format!("  {why}\n    input: {:?}", String::from_utf8_lossy(input)))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "{name}: {} seeds + {tried} mutations, no panic",
        seeds.len()
    );
}

#[test]
fn every_target_has_a_smoke_test() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "config",
            "duration",
            "threshold",
            "schedule",
            "pattern",
            "template"
        ]
    );
}

#[test]
fn fuzz_config() {
    smoke("config");
}

#[test]
fn fuzz_duration() {
    smoke("duration");
}

#[test]
fn fuzz_threshold() {
    smoke("threshold");
}

#[test]
fn fuzz_schedule() {
    smoke("schedule");
}

#[test]
fn fuzz_pattern() {
    smoke("pattern");
}

#[test]
fn fuzz_template() {
    smoke("template");
}
