//! Merging made-up shards: against one run over all their samples, and every input error.

use std::time::Duration;

use super::inputs::missing_shards;
use super::*;
use crate::config::Threshold;
use crate::engine::Shard;
use crate::metrics::stats::TimelineRow;
use crate::metrics::RunStats;
use crate::outcome::{Code, ErrorKind, Outcome};
use crate::report::render;
use crate::report::summary::{ThresholdResult, WindowResult};

/// One request: endpoint index, latency in µs, status code (5xx counts as an error).
type Sample = (usize, u64, u16);

const ENDPOINTS: [(&str, &str); 2] = [("home", "GET"), ("orders", "POST")];

fn samples(seed: u64, n: usize) -> Vec<Sample> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| {
            // Spread over five decades (10 µs .. 1 s) so many HDR buckets are hit.
            let us = 10f64 * 10f64.powf(rng.f64() * 5.0);
            let status = if rng.u8(..) < 20 { 503 } else { 200 };
            (rng.usize(..2), us as u64, status)
        })
        .collect()
}

/// A summary of `samples` as `run` writes it, recorded at t=0 (the clock is paused).
fn summary(samples: &[Sample], started_at: f64, secs: f64) -> Summary {
    let names: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|(n, m)| (n.to_string(), m.to_string()))
        .collect();
    let stats = RunStats::new(&names);
    let mut s = stats.lock().expect("lock");
    for &(idx, us, status) in samples {
        let outcome = Outcome {
            code: Some(Code::Http(status)),
            error: (status >= 500).then_some(ErrorKind::Status),
            bytes_received: 3,
            trace: None,
        };
        s.record(idx, Duration::from_micros(us), &outcome);
    }
    let mut sum = Summary::new("checkout", &mut s, Duration::from_secs_f64(secs));
    sum.started_at = Some(started_at);
    sum
}

/// Through JSON and back, as `merge` reads files.
fn round_trip(s: &Summary) -> Summary {
    serde_json::from_str(&render::json(s)).expect("a summary reads back")
}

fn named(inputs: Vec<Summary>) -> Vec<(String, Summary)> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("shard-{i}.json"), s))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn merged_percentiles_equal_those_of_one_run_over_all_samples() {
    let (a, b, c) = (samples(1, 3000), samples(2, 500), samples(3, 1200));
    let thresholds: Vec<Threshold> = ["p99.9<10s", "p42<1s", "error_rate<1%"]
        .iter()
        .map(|t| t.parse().expect("valid"))
        .collect();
    let mut shards = [
        summary(&a, 1_000.0, 10.0),
        summary(&b, 1_000.0, 10.0),
        summary(&c, 1_000.0, 10.0),
    ];
    shards[0].check(&thresholds[..2]);
    shards[2].check(&thresholds[1..]);
    let merged = merge(shards.iter().map(round_trip).collect()).expect("mergeable");

    let all: Vec<Sample> = [a, b, c].concat();
    let mut one = summary(&all, 1_000.0, 10.0);
    one.check(&thresholds);

    assert_eq!(merged.latency, one.latency);
    assert_eq!(merged.histogram, one.histogram);
    assert_eq!(merged.thresholds, one.thresholds, "union, re-evaluated");
    for (m, o) in merged.endpoints.iter().zip(&one.endpoints) {
        assert_eq!((&m.name, &m.method), (&o.name, &o.method));
        assert_eq!(m.latency, o.latency, "{}", m.name);
        assert_eq!(m.histogram, o.histogram, "{}", m.name);
        assert_eq!((m.requests, m.errors), (o.requests, o.errors));
        assert_eq!(m.status_codes, o.status_codes);
        assert_eq!(m.error_kinds, o.error_kinds);
        assert_eq!(m.error_rate, o.error_rate);
        assert_eq!(m.rps, o.rps);
    }
    assert_eq!(merged.endpoints.len(), one.endpoints.len());
    assert_eq!(
        (merged.requests, merged.successes, merged.errors),
        (one.requests, one.successes, one.errors)
    );
    assert_eq!(merged.requests, 4700);
    assert_eq!(merged.bytes_received, 3 * 4700);
    assert_eq!(merged.status_codes, one.status_codes);
    assert_eq!(merged.error_kinds, one.error_kinds);
    assert_eq!((merged.error_rate, merged.rps), (one.error_rate, one.rps));
    assert_eq!(merged.duration_s, 10.0);
    assert_eq!(merged.started_at, Some(1_000.0));
    // Same second everywhere: counts add exactly; per-second percentiles are the shards' max.
    let counts = |s: &Summary| -> Vec<(u64, u64, u64)> {
        s.timeline
            .iter()
            .map(|r| (r.t, r.requests, r.errors))
            .collect()
    };
    assert_eq!(counts(&merged), counts(&one));
    let p99s: Vec<f64> = shards.iter().map(|s| s.timeline[0].p99).collect();
    assert_eq!(
        merged.timeline[0].p99,
        p99s.iter().copied().fold(0.0, f64::max)
    );
}

#[tokio::test(start_paused = true)]
async fn counts_add_and_run_length_spans_first_start_to_last_end() {
    let mut a = summary(&samples(4, 100), 2_000.25, 3.0);
    let mut b = summary(&samples(5, 50), 2_001.5, 4.0);
    (a.dropped, a.abandoned, b.dropped, b.abandoned) = (2, 1, 5, 0);
    let merged = merge(vec![a.clone(), b.clone()]).expect("mergeable");
    assert_eq!(merged.requests, 150);
    assert_eq!(merged.errors, a.errors + b.errors);
    assert_eq!(merged.successes, a.successes + b.successes);
    assert_eq!((merged.dropped, merged.abandoned), (7, 1));
    assert_eq!(merged.bytes_received, a.bytes_received + b.bytes_received);
    for code in ["200", "503"] {
        let n = |s: &Summary| s.status_codes.get(code).copied().unwrap_or(0);
        assert_eq!(n(&merged), n(&a) + n(&b), "{code}");
    }
    // 2000.25 .. max(2003.25, 2005.5)
    assert!(
        (merged.duration_s - 5.25).abs() < 1e-9,
        "{}",
        merged.duration_s
    );
    assert!((merged.rps - 150.0 / 5.25).abs() < 1e-9);
    assert_eq!(merged.error_rate, ratio(merged.errors, 150));
    assert_eq!(merged.started_at, Some(2_000.25));
    assert_eq!(merged.shard, None);
}

fn row(t: u64, requests: u64, errors: u64, p50: f64, p99: f64) -> TimelineRow {
    TimelineRow {
        t,
        requests,
        rps: requests as f64,
        errors,
        p50,
        p99,
        ..TimelineRow::default()
    }
}

#[tokio::test(start_paused = true)]
async fn windowed_verdicts_are_carried_over_not_recomputed() {
    let mut a = summary(&samples(4, 100), 2_000.0, 4.0);
    let mut b = summary(&samples(5, 50), 2_001.0, 4.0);
    let w = |start_s: f64, value: f64, passed: bool| WindowResult {
        start_s,
        end_s: start_s + 2.0,
        value,
        passed,
    };
    let result = |windows: Vec<WindowResult>| ThresholdResult {
        expr: "p95<100ms over 2s".into(),
        value: windows.iter().map(|w| w.value).fold(0.0, f64::max),
        passed: windows.iter().all(|w| w.passed),
        windows: Some(windows),
    };
    a.thresholds = vec![result(vec![w(0.0, 0.05, true), w(2.0, 0.3, false)])];
    b.thresholds = vec![result(vec![w(0.0, 0.02, true)])];
    let merged = merge(vec![a, b]).expect("mergeable");
    let t = &merged.thresholds[0];
    assert!(!t.passed);
    assert_eq!(t.value, 0.3);
    let starts: Vec<f64> = t.windows.iter().flatten().map(|w| w.start_s).collect();
    assert_eq!(
        starts,
        vec![0.0, 1.0, 2.0],
        "b's windows shifted by its later start"
    );
}

#[tokio::test(start_paused = true)]
async fn timelines_align_on_wall_clock_seconds() {
    let mut a = summary(&samples(6, 10), 1_000.4, 3.0);
    a.timeline = vec![
        row(0, 10, 0, 0.010, 0.020),
        row(1, 11, 1, 0.011, 0.050),
        row(2, 12, 0, 0.012, 0.030),
    ];
    // Starts two wall-clock seconds later (1002.9 -> second 1002): its row 0 is merged row 2.
    let mut b = summary(&samples(7, 10), 1_002.9, 2.0);
    b.timeline = vec![row(0, 5, 2, 0.030, 0.040), row(1, 6, 0, 0.001, 0.002)];
    // Starts after a gap: seconds 1003 and 1004 belong to nobody.
    let mut c = summary(&samples(8, 10), 1_005.1, 1.0);
    c.timeline = vec![row(0, 7, 0, 0.005, 0.006)];

    let merged = merge(vec![b, c, a]).expect("mergeable");
    let rows: Vec<(u64, u64, u64)> = merged
        .timeline
        .iter()
        .map(|r| (r.t, r.requests, r.errors))
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, 10, 0),
            (1, 11, 1),
            (2, 17, 2),
            (3, 6, 0),
            (4, 0, 0),
            (5, 7, 0)
        ]
    );
    let r2 = &merged.timeline[2];
    assert_eq!(r2.rps, 17.0);
    assert_eq!(
        (r2.p50, r2.p99),
        (0.030, 0.040),
        "max over the shards that second"
    );
    assert_eq!(merged.timeline[4].p99, 0.0);
    assert_eq!(merged.started_at, Some(1_000.4));
    assert!((merged.duration_s - 5.7).abs() < 1e-9, "1000.4 .. 1006.1");
}

#[tokio::test(start_paused = true)]
async fn different_profiles_are_an_error_naming_both_files() {
    let a = summary(&samples(9, 10), 1.0, 1.0);
    let mut b = a.clone();
    b.profile = "browse".into();
    let e = merge_named(named(vec![a, b])).expect_err("profiles differ");
    assert_eq!(
        e.to_string(),
        "profiles differ: shard-0.json ran \"checkout\", shard-1.json ran \"browse\""
    );
}

#[tokio::test(start_paused = true)]
async fn a_file_without_histograms_is_an_error_naming_it() {
    let a = summary(&samples(10, 10), 1.0, 1.0);
    // As an older loadtide wrote it: no `histogram` keys at all.
    let mut json: serde_json::Value = serde_json::from_str(&render::json(&a)).expect("json");
    json.as_object_mut().expect("object").remove("histogram");
    let old: Summary = serde_json::from_value(json.clone()).expect("still a summary");
    assert_eq!(old.histogram, None);
    let e = merge_named(named(vec![a.clone(), old])).expect_err("no histogram");
    assert!(
        e.to_string()
            .starts_with("shard-1.json: no latency histogram ("),
        "{e}"
    );

    json["histogram"] = a
        .histogram
        .as_ref()
        .map(|h| {
            serde_json::Value::String(super::super::summary::hdr_base64::encode(h).expect("enc"))
        })
        .expect("histogram");
    json["endpoints"][1]
        .as_object_mut()
        .expect("endpoint")
        .remove("histogram");
    let old: Summary = serde_json::from_value(json).expect("still a summary");
    let e = merge_named(named(vec![old, a])).expect_err("no endpoint histogram");
    assert!(
        e.to_string()
            .starts_with("shard-0.json: no latency histogram for endpoint orders POST ("),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_file_without_a_start_time_is_an_error_naming_it() {
    let a = summary(&samples(11, 10), 1.0, 1.0);
    let mut b = a.clone();
    b.started_at = None;
    let e = merge_named(named(vec![a, b])).expect_err("no start");
    assert!(
        e.to_string().starts_with("shard-1.json: no started_at"),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn shards_must_be_distinct_slices_of_one_split() {
    let base = summary(&samples(12, 10), 1.0, 1.0);
    let with = |index, count| Summary {
        shard: Some(Shard { index, count }),
        ..base.clone()
    };
    let e = merge_named(named(vec![with(0, 3), with(1, 3), with(1, 3)])).expect_err("duplicate");
    assert_eq!(
        e.to_string(),
        "shard 1/3 appears twice: shard-1.json and shard-2.json"
    );
    let e = merge_named(named(vec![with(0, 3), with(1, 4)])).expect_err("count");
    assert_eq!(
        e.to_string(),
        "shard counts differ: shard-0.json is a shard of 3, shard-1.json of 4"
    );
    // Two of three shards merge, with a warning for the caller to print.
    let merged = merge(vec![with(0, 3), with(2, 3)]).expect("partial merge");
    assert_eq!(merged.requests, 20);
    assert_eq!(
        missing_shards(&[Shard { index: 0, count: 3 }, Shard { index: 2, count: 3 }]),
        Some("merging 2 of 3 shards (0/3, 2/3); the summary covers only these".into())
    );
    let all: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
    assert_eq!(missing_shards(&all), None);
    assert_eq!(missing_shards(&[]), None);
}

#[test]
fn no_inputs_is_an_error() {
    assert_eq!(merge(Vec::new()), Err(MergeError::NoInputs));
}

#[tokio::test(start_paused = true)]
async fn a_common_seed_is_kept_and_differing_seeds_dropped() {
    let mut a = summary(&samples(13, 10), 1.0, 1.0);
    a.seed = Some(42);
    let mut b = a.clone();
    assert_eq!(
        merge(vec![a.clone(), b.clone()]).expect("ok").seed,
        Some(42)
    );
    b.seed = Some(7);
    assert_eq!(merge(vec![a, b]).expect("ok").seed, None);
}

#[tokio::test(start_paused = true)]
async fn stream_messages_add_up_for_the_endpoints_that_have_them() {
    use crate::report::summary::StreamMessages;
    let with = |seed, sent, received| {
        let mut s = summary(&samples(seed, 200), 1_000.0, 10.0);
        s.endpoints[1].stream = Some(StreamMessages { sent, received });
        round_trip(&s)
    };
    let plain = round_trip(&summary(&samples(3, 200), 1_000.0, 10.0));
    let merged = merge(vec![with(1, 50, 40), plain, with(2, 7, 9)]).expect("mergeable");
    let stream = |name: &str| {
        merged
            .endpoints
            .iter()
            .find(|e| e.name == name)
            .expect("merged")
            .stream
    };
    assert_eq!(
        stream("orders"),
        Some(StreamMessages {
            sent: 57,
            received: 49
        })
    );
    assert_eq!(
        stream("home"),
        None,
        "an endpoint without streams gets none"
    );
}
