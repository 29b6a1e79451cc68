//! `loadtide merge`, end to end: two real `loadtide run --json` processes (side by side, as
//! shards on two machines would be) against a scripted server on 127.0.0.1:0, then the merge of
//! their summaries checked against the inputs and against our own decoding of their HDR
//! histograms. Every run is bounded (`--requests`), and every command has a hard timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use base64::Engine as _;
use common::{Behavior, Script};
use hdrhistogram::Histogram;
use serde_json::Value;

fn loadtide() -> Command {
    common::cli::loadtide(Duration::from_secs(60))
}

/// Exit code, stdout and stderr.
fn exec(args: &[&str]) -> (Option<i32>, String, String) {
    let out = loadtide().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{text}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected a count, got {v}"))
}

/// Decodes a `histogram` field ourselves: base64 of HdrHistogram's V2 deflate encoding.
fn histogram(v: &Value) -> Histogram<u64> {
    let text = v.as_str().unwrap_or_else(|| panic!("no histogram: {v}"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

#[test]
fn merging_two_runs_gives_the_summary_of_all_their_requests() {
    let server = Script::new(Behavior::Ok)
        .route("/slow", Behavior::Delay(Duration::from_millis(5)))
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m) = (
        dir.path().join("a.json"),
        dir.path().join("b.json"),
        dir.path().join("m.json"),
    );
    let (report_html, report_md) = (dir.path().join("m.html"), dir.path().join("m.md"));
    // Two runs side by side, one against a fast path and one against a slower one.
    std::thread::scope(|scope| {
        for (path, json) in [("/", &a), ("/slow", &b)] {
            let url = format!("{}{path}", server.url());
            scope.spawn(move || {
                let json = json.to_str().unwrap();
                let args = [
                    "run",
                    "--url",
                    &url,
                    "--rate",
                    "200",
                    "--requests",
                    "400",
                    "--quiet",
                    "--json",
                    json,
                ];
                let (code, stdout, stderr) = exec(&args);
                assert_eq!(code, Some(0), "{stdout}{stderr}");
            });
        }
    });
    let (sa, sb) = (read_json(&a), read_json(&b));

    let (code, stdout, stderr) = exec(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
        m.to_str().unwrap(),
        "--threshold",
        "p99<10s",
        "--report",
        report_html.to_str().unwrap(),
        "--report",
        report_md.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let s = read_json(&m);
    // The merged run's reports carry the merged figures, not one shard's.
    let html = std::fs::read_to_string(&report_html).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"),
        "{html}"
    );
    assert!(html.contains("2 shard summaries, merged"), "{html}");
    let md = std::fs::read_to_string(&report_md).unwrap();
    assert!(md.contains("800"), "{md}");
    assert!(md.contains("p99<10s"), "{md}");

    assert_eq!(u(&s["requests"]), u(&sa["requests"]) + u(&sb["requests"]));
    assert_eq!(u(&s["requests"]), 800, "{s:#}");
    assert_eq!(u(&s["errors"]), 0, "{s:#}");
    assert_eq!(
        u(&s["status_codes"]["200"]),
        u(&sa["status_codes"]["200"]) + u(&sb["status_codes"]["200"])
    );
    assert_eq!(s["status_codes"].as_object().unwrap().len(), 1, "{s:#}");
    assert_eq!(s["profile"], sa["profile"]);
    let endpoints = s["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "same (name, method) in both: {s:#}");
    assert_eq!(u(&endpoints[0]["requests"]), 800);

    // The merged run lasts from the first start to the last end; rps follows from it.
    let span = |x: &Value| {
        (
            f(&x["started_at"]),
            f(&x["started_at"]) + f(&x["duration_s"]),
        )
    };
    let ((a0, a1), (b0, b1)) = (span(&sa), span(&sb));
    let duration = f(&s["duration_s"]);
    assert!((duration - (a1.max(b1) - a0.min(b0))).abs() < 1e-6, "{s:#}");
    assert!((f(&s["rps"]) - 800.0 / duration).abs() < 1e-6, "{s:#}");
    let timeline = s["timeline"].as_array().unwrap();
    let total: u64 = timeline.iter().map(|r| u(&r["requests"])).sum();
    assert_eq!(
        total, 800,
        "every request in one second of the timeline: {s:#}"
    );

    // Percentiles: between the inputs', and exactly those of both histograms added together.
    let mut all = histogram(&sa["histogram"]);
    all.add(histogram(&sb["histogram"])).unwrap();
    assert_eq!(all.len(), 800);
    for (key, q) in [("p50", 0.5), ("p99", 0.99)] {
        let (x, y, merged) = (
            f(&sa["latency"][key]),
            f(&sb["latency"][key]),
            f(&s["latency"][key]),
        );
        assert!(
            x.min(y) <= merged && merged <= x.max(y),
            "{key}: {merged} not within the inputs' {x} and {y}"
        );
        assert_eq!(merged, all.value_at_quantile(q) as f64 / 1e6, "{key}");
    }
    assert_eq!(
        histogram(&s["histogram"]),
        all,
        "the merged histogram is written"
    );

    let thresholds = s["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 1, "{s:#}");
    assert_eq!(thresholds[0]["expr"], "p99<10s");
    assert_eq!(thresholds[0]["passed"], true);
    assert!(stdout.contains("loadtide summary"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("requests") && l.contains("800")),
        "{stdout}"
    );
    assert!(stdout.contains("PASSED  p99<10s"), "{stdout}");

    // A threshold the merged run breaks: exit 1, and the summary says which.
    let (code, stdout, stderr) = exec(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--threshold",
        "requests>=800",
        "--threshold",
        "p50<1us",
    ]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("PASSED  requests>=800"), "{stdout}");
    assert!(stdout.contains("FAILED  p50<1us"), "{stdout}");

    // A summary from before histograms were written cannot be merged exactly: exit 2, named.
    let mut old = sb.clone();
    old.as_object_mut().unwrap().remove("histogram");
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let (code, stdout, stderr) = exec(&["merge", a.to_str().unwrap(), old_path.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("{}: no latency histogram", old_path.display())),
        "{stderr}"
    );
}

#[test]
fn unreadable_or_invalid_files_exit_2_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-shard.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let (code, stdout, stderr) = exec(&[
        "merge",
        missing.to_str().unwrap(),
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("error: {}: cannot read", missing.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: {}: not a loadtide JSON summary",
            garbage.display()
        )),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "no summary: {stdout}");
}

#[test]
fn merge_without_files_is_a_usage_error() {
    let (code, stdout, stderr) = exec(&["merge"]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
}
