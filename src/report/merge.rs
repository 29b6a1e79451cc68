//! `loadtide merge`: combines the JSON summaries of the shards of one run (`run --shard i/n` on
//! several machines, no coordinator) into the summary one run recording every sample would have
//! produced. Counts add, latency comes from the merged HDR histograms (exact percentiles), the
//! per-second timelines are aligned on wall-clock seconds, and thresholds are evaluated again on
//! the result. Reads files and writes one; sends no traffic and never touches the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Args;
use hdrhistogram::Histogram;

use super::render;
use super::summary::{
    latency, ratio, EndpointSummary, ScenarioSummary, Shard, Summary, ThresholdResult, WindowResult,
};
use crate::cli::{EXIT_RUNTIME, EXIT_THRESHOLDS, EXIT_USAGE};
use crate::config::Threshold;
use crate::metrics::stats::TimelineRow;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// JSON summaries written by `loadtide run --json`, one per shard.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the merged summary as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pass/fail criterion checked besides those the inputs carry, e.g. 'p99<300ms' (repeatable).
    #[arg(long = "threshold", short = 't')]
    pub thresholds: Vec<String>,
    /// No text summary on stdout (the exit code and --json still tell).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Why summaries cannot be merged; each names the input file(s) at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    NoInputs,
    #[error(
        "{file}: no latency histogram{what} (written by an older loadtide?): percentiles cannot be merged exactly"
    )]
    MissingHistogram { file: String, what: String },
    #[error("{file}: no started_at (written by an older loadtide?): timelines cannot be aligned")]
    MissingStart { file: String },
    #[error("profiles differ: {first} ran {first_profile:?}, {file} ran {profile:?}")]
    ProfileMismatch {
        first: String,
        first_profile: String,
        file: String,
        profile: String,
    },
    #[error("shard {index}/{count} appears twice: {first} and {file}")]
    DuplicateShard {
        index: u32,
        count: u32,
        first: String,
        file: String,
    },
    #[error("shard counts differ: {first} is a shard of {first_count}, {file} of {count}")]
    ShardCountMismatch {
        first: String,
        first_count: u32,
        file: String,
        count: u32,
    },
    #[error("{file}: {reason}")]
    Threshold { file: String, reason: String },
    #[error("{file}: cannot merge its histogram{what}: {reason}")]
    Histogram {
        file: String,
        what: String,
        reason: String,
    },
}

/// Merges `summaries`, naming them `input 1`, `input 2`, … in errors.
pub fn merge(summaries: Vec<Summary>) -> Result<Summary, MergeError> {
    merge_named(
        summaries
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("input {}", i + 1), s))
            .collect(),
    )
}

/// Merges `(file name, summary)` pairs into the summary of the whole run, thresholds checked.
pub fn merge_named(inputs: Vec<(String, Summary)>) -> Result<Summary, MergeError> {
    let Some((_, first_summary)) = inputs.first() else {
        return Err(MergeError::NoInputs);
    };
    check_inputs(&inputs)?;

    let mut histogram: Option<Histogram<u64>> = None;
    let mut endpoints: Vec<EndpointSummary> = Vec::new();
    let mut status_codes = BTreeMap::new();
    let mut error_kinds = BTreeMap::new();
    let (mut requests, mut successes, mut errors) = (0, 0, 0);
    let (mut dropped, mut dropped_safety, mut abandoned, mut bytes_received) = (0, 0, 0, 0);
    let mut thresholds: Vec<Threshold> = Vec::new();
    let mut windowed: Vec<ThresholdResult> = Vec::new();
    let earliest = inputs
        .iter()
        .filter_map(|(_, s)| s.started_at)
        .fold(f64::INFINITY, f64::min);
    let (mut start, mut end) = (f64::INFINITY, f64::NEG_INFINITY);
    for (file, s) in &inputs {
        let h = s.histogram.as_ref().ok_or_else(|| missing(file, ""))?;
        add(&mut histogram, h, file, "")?;
        requests += s.requests;
        successes += s.successes;
        errors += s.errors;
        dropped += s.dropped;
        dropped_safety += s.dropped_safety;
        abandoned += s.abandoned;
        bytes_received += s.bytes_received;
        sum_into(&mut status_codes, &s.status_codes);
        sum_into(&mut error_kinds, &s.error_kinds);
        let started = s
            .started_at
            .ok_or_else(|| MergeError::MissingStart { file: file.clone() })?;
        start = start.min(started);
        end = end.max(started + s.duration_s);

        for e in &s.endpoints {
            let what = format!(" for endpoint {} {}", e.name, e.method);
            let h = e.histogram.as_ref().ok_or_else(|| missing(file, &what))?;
            let i = match endpoints
                .iter()
                .position(|m| m.name == e.name && m.method == e.method)
            {
                Some(i) => i,
                None => {
                    endpoints.push(EndpointSummary {
                        requests: 0,
                        errors: 0,
                        status_codes: BTreeMap::new(),
                        error_kinds: BTreeMap::new(),
                        histogram: None,
                        ..e.clone()
                    });
                    endpoints.len() - 1
                }
            };
            let m = &mut endpoints[i];
            m.requests += e.requests;
            m.errors += e.errors;
            sum_into(&mut m.status_codes, &e.status_codes);
            sum_into(&mut m.error_kinds, &e.error_kinds);
            add(&mut m.histogram, h, file, &what)?;
        }

        // The union of the inputs' thresholds, by (normalised) expression, in order of appearance.
        for r in &s.thresholds {
            let t: Threshold = r.expr.parse().map_err(|reason| MergeError::Threshold {
                file: file.clone(),
                reason,
            })?;
            if !thresholds.iter().any(|k| k.expr == t.expr) {
                thresholds.push(t);
            }
            if r.windows.is_some() {
                carry_windows(
                    &mut windowed,
                    r,
                    s.started_at.unwrap_or(earliest) - earliest,
                );
            }
        }
    }

    // Shards run side by side: the merged run lasts from the first start to the last end.
    let duration_s = (end - start).max(0.0);
    let warmup_s = inputs.iter().map(|(_, s)| s.warmup_s).fold(0.0, f64::max);
    let measured_s = duration_s - warmup_s;
    let per_second = |n: u64| {
        if measured_s > 0.0 {
            n as f64 / measured_s
        } else {
            0.0
        }
    };
    for e in &mut endpoints {
        e.error_rate = ratio(e.errors, e.requests);
        e.rps = per_second(e.requests);
        e.latency = e.histogram.as_ref().map(latency).unwrap_or_default();
    }
    let seed = first_summary
        .seed
        .filter(|seed| inputs.iter().all(|(_, s)| s.seed == Some(*seed)));
    let mut merged = Summary {
        profile: first_summary.profile.clone(),
        started_at: Some(start),
        shard: None,
        seed,
        requests,
        successes,
        errors,
        error_rate: ratio(errors, requests),
        rps: per_second(requests),
        duration_s,
        dropped,
        dropped_safety,
        abandoned,
        bytes_received,
        latency: histogram.as_ref().map(latency).unwrap_or_default(),
        status_codes,
        error_kinds,
        endpoints,
        thresholds: Vec::new(),
        timeline: timeline(&inputs, start),
        histogram,
        scenario: merge_scenarios(&inputs, duration_s),
        findings: Vec::new(),
        windows: Vec::new(),
        warmup_s,
    };
    // Windowed verdicts are carried over (see `carry_windows`), then kept by `check`.
    merged.thresholds = windowed;
    merged.check(&thresholds);
    merged.findings = super::findings::for_run(&merged, None);
    Ok(merged)
}

/// Adds one input's windowed threshold result to the merged ones. Shard summaries keep no
/// per-window histograms, so windows cannot be recomputed: a windowed threshold passes in the
/// merge when it passed in every input that has it; its windows are all the inputs' windows,
/// shifted by `offset` seconds (that input's start after the earliest), and its value is the
/// worst of the inputs' values.
fn carry_windows(merged: &mut Vec<ThresholdResult>, r: &ThresholdResult, offset: f64) {
    let shifted = r.windows.iter().flatten().map(|w| WindowResult {
        start_s: w.start_s + offset,
        end_s: w.end_s + offset,
        ..w.clone()
    });
    let Some(m) = merged.iter_mut().find(|m| m.expr == r.expr) else {
        merged.push(ThresholdResult {
            windows: Some(shifted.collect()),
            ..r.clone()
        });
        return;
    };
    let upper = r
        .expr
        .parse::<Threshold>()
        .map_or(true, |t| t.is_upper_bound());
    m.value = if upper {
        m.value.max(r.value)
    } else {
        m.value.min(r.value)
    };
    m.passed &= r.passed;
    let windows = m.windows.get_or_insert_with(Vec::new);
    windows.extend(shifted);
    windows.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
}

/// The scenario sections added up, with exact duration percentiles from their histograms
/// (inputs without a histogram contribute counts only).
fn merge_scenarios(inputs: &[(String, Summary)], duration_s: f64) -> Option<ScenarioSummary> {
    let mut parts = inputs.iter().filter_map(|(_, s)| s.scenario.as_ref());
    let first = parts.next()?;
    let mut merged = first.clone();
    for p in parts {
        merged.iterations += p.iterations;
        merged.successes += p.successes;
        merged.failures += p.failures;
        match (&mut merged.histogram, &p.histogram) {
            (Some(h), Some(other)) => {
                if h.add(other).is_err() {
                    merged.histogram = None;
                }
            }
            _ => merged.histogram = None,
        }
    }
    merged.rate = if duration_s > 0.0 {
        merged.iterations as f64 / duration_s
    } else {
        0.0
    };
    if let Some(h) = &merged.histogram {
        merged.duration = latency(h);
    }
    Some(merged)
}

/// Profiles agree, shards are distinct slices of one split; every input has a start time.
fn check_inputs(inputs: &[(String, Summary)]) -> Result<(), MergeError> {
    let (first, first_summary) = &inputs[0];
    let mut shards: BTreeMap<u32, &str> = BTreeMap::new();
    let mut count: Option<(u32, &str)> = None;
    for (file, s) in inputs {
        if s.profile != first_summary.profile {
            return Err(MergeError::ProfileMismatch {
                first: first.clone(),
                first_profile: first_summary.profile.clone(),
                file: file.clone(),
                profile: s.profile.clone(),
            });
        }
        let Some(shard) = s.shard else { continue };
        match count {
            None => count = Some((shard.count, file)),
            Some((n, other)) if n != shard.count => {
                return Err(MergeError::ShardCountMismatch {
                    first: other.to_string(),
                    first_count: n,
                    file: file.clone(),
                    count: shard.count,
                })
            }
            Some(_) => {}
        }
        if let Some(other) = shards.insert(shard.index, file) {
            return Err(MergeError::DuplicateShard {
                index: shard.index,
                count: shard.count,
                first: other.to_string(),
                file: file.clone(),
            });
        }
    }
    Ok(())
}

/// A warning when the inputs are fewer shards than their split has (not an error: a partial
/// merge is still a true summary of the shards given).
pub fn missing_shards(shards: &[Shard]) -> Option<String> {
    let count = shards.first()?.count;
    let present: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
    (present.len() < count as usize).then(|| {
        let list: Vec<String> = present.iter().map(|i| format!("{i}/{count}")).collect();
        format!(
            "merging {} of {count} shards ({}); the summary covers only these",
            present.len(),
            list.join(", ")
        )
    })
}

fn missing(file: &str, what: &str) -> MergeError {
    MergeError::MissingHistogram {
        file: file.to_string(),
        what: what.to_string(),
    }
}

fn sum_into(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

/// Adds `h` into `into`. Every loadtide histogram has the same bounds, so this is exact; the
/// sum resizes itself should a file have come from a build with wider bounds.
fn add(
    into: &mut Option<Histogram<u64>>,
    h: &Histogram<u64>,
    file: &str,
    what: &str,
) -> Result<(), MergeError> {
    let sum = into.get_or_insert_with(|| {
        let mut sum = Histogram::new_from(h);
        sum.auto(true);
        sum
    });
    sum.add(h).map_err(|e| MergeError::Histogram {
        file: file.to_string(),
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// The inputs' per-second rows laid on one wall clock: row `t` of an input that started at
/// `started_at` is second `floor(started_at) + t`, and the merged row `t` is second
/// `floor(start) + t`, with a zero row for any second no input covers. Requests, rps and
/// errors add up exactly. p50 and p99 are NOT exact: a row keeps no histogram, so they are the
/// largest of the inputs' values that second (an upper bound on the true p99 of the second when
/// the shards' latencies are alike; the whole-run percentiles are exact). The alignment itself
/// is to the second: inputs whose starts differ by a fraction of a second share rows as if
/// their seconds began together.
fn timeline(inputs: &[(String, Summary)], start: f64) -> Vec<TimelineRow> {
    let base = start.floor();
    let mut rows: BTreeMap<u64, TimelineRow> = BTreeMap::new();
    for (_, s) in inputs {
        // started_at was checked before: present in every input.
        let offset = (s.started_at.unwrap_or(start).floor() - base).max(0.0) as u64;
        for r in &s.timeline {
            let t = offset + r.t;
            let m = rows.entry(t).or_insert_with(|| empty_row(t));
            m.requests += r.requests;
            m.rps += r.rps;
            m.errors += r.errors;
            m.p50 = m.p50.max(r.p50);
            m.p90 = m.p90.max(r.p90);
            m.p99 = m.p99.max(r.p99);
            m.max = m.max.max(r.max);
            if let Some(i) = r.intended_rps {
                *m.intended_rps.get_or_insert(0.0) += i;
            }
            m.in_flight += r.in_flight;
            sum_into(&mut m.error_kinds, &r.error_kinds);
        }
    }
    let last = rows.keys().next_back().map_or(0, |t| t + 1);
    (0..last)
        .map(|t| rows.remove(&t).unwrap_or_else(|| empty_row(t)))
        .collect()
}

fn empty_row(t: u64) -> TimelineRow {
    TimelineRow {
        t,
        ..TimelineRow::default()
    }
}

/// Reads one JSON summary; the error says what is wrong without the file name.
fn read(path: &Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not a loadtide JSON summary: {e}"))
}

/// `loadtide merge`: reads, merges, prints the text summary as `run` does, writes `--json`.
/// Exit code 0 when every threshold holds, 1 when one fails, 2 for bad input or usage (an
/// unreadable, invalid or unmergeable file, a bad --threshold), 3 when --json cannot be written.
pub fn merge_command(args: MergeArgs) -> u8 {
    let mut extra = Vec::new();
    for t in &args.thresholds {
        match t.parse::<Threshold>() {
            Ok(t) if t.window.is_some() => {
                eprintln!(
                    "error: command line: `--threshold`: {:?}: windowed thresholds cannot be \
                     evaluated by merge (shard summaries keep no per-window histograms); give \
                     them to each shard's run",
                    t.expr
                );
                return EXIT_USAGE;
            }
            Ok(t) => extra.push(t),
            Err(e) => {
                eprintln!("error: command line: `--threshold`: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let mut inputs = Vec::new();
    let mut unreadable = 0;
    for path in &args.files {
        let file = path.display().to_string();
        match read(path) {
            Ok(s) => inputs.push((file, s)),
            Err(e) => {
                eprintln!("error: {file}: {e}");
                unreadable += 1;
            }
        }
    }
    if unreadable > 0 {
        return EXIT_USAGE;
    }
    let shards: Vec<Shard> = inputs.iter().filter_map(|(_, s)| s.shard).collect();
    let mut summary = match merge_named(inputs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(w) = missing_shards(&shards) {
        eprintln!("warning: {w}");
    }

    // The inputs' thresholds (already in the summary, in order), then the command line's.
    let mut thresholds: Vec<Threshold> = summary
        .thresholds
        .iter()
        .filter_map(|r| r.expr.parse().ok())
        .collect();
    for t in extra {
        if !thresholds.iter().any(|k| k.expr == t.expr) {
            thresholds.push(t);
        }
    }
    let passed = summary.check(&thresholds);
    if !args.quiet {
        print!("{}", render::text(&summary, &thresholds));
    }
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, render::json(&summary)) {
            eprintln!(
                "error: cannot write the JSON summary to {}: {e}",
                path.display()
            );
            return EXIT_RUNTIME;
        }
    }
    if passed {
        0
    } else {
        EXIT_THRESHOLDS
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::RunStats;
    use crate::outcome::{ErrorKind, Outcome};

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
                status: Some(status),
                error: (status >= 500).then_some(ErrorKind::Status),
                bytes_received: 3,
            };
            s.record(idx, Duration::from_micros(us), &outcome);
        }
        let mut sum = Summary::new("checkout", &mut s, Duration::from_secs_f64(secs));
        sum.started_at = Some(started_at);
        sum
    }

    /// Through JSON and back, as `merge` reads files.
    fn round_trip(s: &Summary) -> Summary {
        serde_json::from_str(&super::render::json(s)).expect("a summary reads back")
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
        let mut json: serde_json::Value =
            serde_json::from_str(&super::render::json(&a)).expect("json");
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
                serde_json::Value::String(
                    super::super::summary::hdr_base64::encode(h).expect("enc"),
                )
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
        let e =
            merge_named(named(vec![with(0, 3), with(1, 3), with(1, 3)])).expect_err("duplicate");
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
}
