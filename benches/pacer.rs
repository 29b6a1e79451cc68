//! The open model's scheduling cost per arrival, for each kind of pattern: how long
//! `Pacer::next_due` takes (the pacer runs on one task and must keep up with the rate).
//! A plain timing loop (no harness crate): `cargo bench --bench pacer` prints ns/arrival.
//! Compare the pattern kinds with each other and with `constant` in the same run; absolute
//! figures move with the machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use figment::providers::Format as _;
use loadtide::config::raw::RawPattern;
use loadtide::config::Arrivals;
use loadtide::engine::pacer::{Due, Pacer};
use loadtide::engine::plan::Plan;
use loadtide::engine::Shard;
use loadtide::schedule::pattern;

fn pattern(toml: &str) -> loadtide::schedule::Pattern {
    let raw: RawPattern =
        figment::Figment::from(figment::providers::Toml::string(&format!("rate = {toml}")))
            .extract_inner("rate")
            .expect("bench pattern");
    pattern::parse(&raw, "rate", 1).expect("valid bench pattern")
}

/// Arrivals in `seconds` of pattern time, and the wall time it took to schedule them.
fn measure(p: &loadtide::schedule::Pattern, arrivals: Arrivals, seconds: u64) -> (u64, Duration) {
    let mut pacer = Pacer::new(
        Plan::new(p.clone()).looping(true),
        arrivals,
        Shard::WHOLE,
        Some(Duration::from_secs(seconds)),
    );
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        match black_box(pacer.next_due()) {
            Due::At(_) => n += 1,
            Due::Idle(_) => {}
            Due::End => break,
        }
    }
    (n, start.elapsed())
}

fn main() {
    let cases = [
        ("constant 5000/s", "5000"),
        (
            "ramp 0 -> 10000/s over 60s",
            r#"{ pattern = "ramp", from = 0, to = 10000, over = "60s" }"#,
        ),
        (
            "diurnal 1000..9000/s",
            r#"{ pattern = "diurnal", min = 1000, max = 9000, peak_at = "14:00", trough_at = "03:00" }"#,
        ),
        (
            "stages (k6 style, 4 stages)",
            r#"{ pattern = "stages", stages = [ { duration = "15s", target = 8000 }, { duration = "15s", target = 8000 }, { duration = "15s", pattern = "spike", base = 8000, peak = 10000, at = "5s", hold = "5s" }, { duration = "15s", target = 1000 } ] }"#,
        ),
        (
            "random 1000..9000/s every 1s",
            r#"{ pattern = "random", min = 1000, max = 9000, every = "1s", seed = 7 }"#,
        ),
    ];
    println!(
        "{:<34} {:>10} {:>12} {:>12}",
        "pattern (60 s of schedule)", "arrivals", "ns/arrival", "even/Poisson"
    );
    for (name, toml) in cases {
        let p = pattern(toml);
        let (n, t) = measure(&p, Arrivals::Even, 60);
        let (np, tp) = measure(&p, Arrivals::Poisson { seed: 1 }, 60);
        let per = |t: Duration, n: u64| t.as_nanos() as f64 / n.max(1) as f64;
        println!(
            "{name:<34} {n:>10} {:>12.1} {:>12.2}",
            per(t, n),
            per(t, n) / per(tp, np)
        );
    }
}
