//! Pins every rendering of one seeded run byte for byte: the JSON summary, the text summary,
//! the Markdown and HTML reports, the Locust CSVs and the merge of two shards. The run is
//! synthetic (a seeded sequence of outcomes recorded on tokio's paused clock) so that nothing
//! but the code under test can change a byte. A refactor must leave every file as it is;
//! a deliberate change of output rewrites them with `UPDATE_GOLDEN=1`.

use std::path::Path;
use std::time::Duration;

use loadtide::config::Threshold;
use loadtide::metrics::RunStats;
use loadtide::outcome::{Code, ErrorKind, Outcome};
use loadtide::report::findings::GeneratorHealth;
use loadtide::report::html::ReportMeta;
use loadtide::report::{csv, findings, html, markdown, merge, render, Summary};

const THRESHOLDS: [&str; 6] = [
    "p95<300ms",
    "p99<250ms",
    "error_rate<5%",
    "rps>=40",
    "p95<300ms over 2s",
    "error_rate<10% over 3s",
];

fn thresholds() -> Vec<Threshold> {
    THRESHOLDS
        .iter()
        .map(|t| t.parse().expect("valid threshold"))
        .collect()
}

/// Eight seconds of a seeded two-endpoint run, 1 s of warmup, a slow and failing spell in
/// seconds 4–5; shard `index` of 2 draws its own sequence.
async fn seeded_run(seed: u64, index: u32) -> Summary {
    let t0 = tokio::time::Instant::now();
    let stats = RunStats::new(&[
        ("home".into(), "GET".into()),
        ("search".into(), "POST".into()),
    ]);
    let ts = thresholds();
    stats
        .lock()
        .expect("stats lock")
        .measure(Duration::from_secs(1), &ts);
    let mut rng = fastrand::Rng::with_seed(seed);
    const KINDS: [ErrorKind; 3] = [ErrorKind::Timeout, ErrorKind::Status, ErrorKind::Reset];
    for tick in 0..80u64 {
        // Ten 100 ms ticks a second: a sample, then a handful of completions.
        let at = t0 + Duration::from_millis(tick * 100 + 50);
        tokio::time::advance(at - tokio::time::Instant::now()).await;
        let slow = (40..60).contains(&tick);
        let mut s = stats.lock().expect("stats lock");
        s.sample(rng.u64(1..30), Some(50.0 + tick as f64 / 10.0));
        for _ in 0..rng.usize(3..8) {
            let endpoint = rng.usize(0..2);
            let ms = if slow {
                rng.u64(200..900)
            } else {
                rng.u64(2..60) + 40 * endpoint as u64
            };
            let outcome = if rng.f64() < if slow { 0.25 } else { 0.01 } {
                let kind = KINDS[rng.usize(0..KINDS.len())];
                Outcome {
                    code: (kind == ErrorKind::Status).then_some(Code::Http(503)),
                    error: Some(kind),
                    bytes_received: 0,
                    trace: None,
                }
            } else {
                Outcome {
                    code: Some(Code::Http(if rng.bool() { 200 } else { 201 })),
                    error: None,
                    bytes_received: rng.u64(100..2_000),
                    trace: None,
                }
            };
            s.record(endpoint, Duration::from_millis(ms), &outcome);
        }
        if rng.f64() < 0.05 {
            s.dropped();
        }
        if tick == 70 {
            s.dropped_by_safety();
        }
    }
    let mut s = stats.lock().expect("stats lock");
    let mut summary = Summary::new("checkout", &mut s, Duration::from_millis(8_000));
    summary.started_at = Some(1_790_000_000.0 + f64::from(index));
    summary.seed = Some(seed);
    summary.check(&ts);
    let generator = GeneratorHealth {
        lag_p99: 0.004,
        late_share: 0.002,
        lag_bound: 0.01,
        cpu_utilisation: 0.35,
        max_cpu: 0.9,
    };
    summary.findings = findings::run::for_run(&summary, Some(&generator));
    summary
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/pinned")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from {} (UPDATE_GOLDEN=1 rewrites it after a deliberate change)\n--- actual:\n{actual}",
        path.display()
    );
}

#[tokio::test(start_paused = true)]
async fn every_rendering_of_a_seeded_run_is_byte_identical() {
    let summary = seeded_run(42, 0).await;
    assert!(summary.requests > 300, "{} requests", summary.requests);
    assert!(
        summary.thresholds.iter().any(|t| !t.passed),
        "the slow spell fails a threshold"
    );
    let meta = ReportMeta {
        command: "loadtide run --config config/loadtide.toml --profile checkout".into(),
        target: "http://127.0.0.1:8080".into(),
        deltas: Vec::new(),
    };
    golden("summary.json", &render::json(&summary));
    golden("summary.txt", &render::text(&summary, &thresholds()));
    golden("report.md", &markdown::markdown(&summary, &meta));
    golden("report.html", &html::html(&summary, &meta));
    golden("stats.csv", &csv::stats(&summary));
    golden("stats_history.csv", &csv::history(&summary));
}

#[tokio::test(start_paused = true)]
async fn the_merge_of_two_seeded_shards_is_byte_identical() {
    let a = seeded_run(7, 0).await;
    let b = seeded_run(8, 1).await;
    let mut merged = merge::merge(vec![a, b]).expect("the shards merge");
    merged.check(&thresholds());
    golden("merged.json", &render::json(&merged));
}
