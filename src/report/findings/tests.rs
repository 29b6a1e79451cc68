//! The findings' rules on made-up runs and levels, and their renderings.

use super::latency_shape::bimodal;
use super::levels::{for_levels, LevelPoint};
use super::run::{for_run, saturation_in_timeline};
use super::*;
use crate::metrics::stats::TimelineRow;
use crate::metrics::RunStats;
use crate::outcome::{Code, ErrorKind, Outcome};
use crate::report::summary::Summary;
use std::time::Duration;

fn ok() -> Outcome {
    Outcome {
        code: Some(Code::Http(200)),
        error: None,
        bytes_received: 1,
        trace: None,
    }
}

fn status(code: u16) -> Outcome {
    Outcome {
        code: Some(Code::Http(code)),
        error: Some(ErrorKind::Status),
        bytes_received: 1,
        trace: None,
    }
}

/// A summary of `f`'s records over endpoints a and b.
fn summary(f: impl Fn(&mut RunStats)) -> Summary {
    let stats = RunStats::new(&[("a".into(), "GET".into()), ("b".into(), "POST".into())]);
    let mut s = stats.lock().expect("lock");
    f(&mut s);
    Summary::new("p", &mut s, Duration::from_secs(10))
}

fn kinds(fs: &[Finding]) -> Vec<&str> {
    fs.iter().map(|f| f.kind.as_str()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_clean_run_has_no_findings() {
    let s = summary(|s| {
        for i in 0..500 {
            s.record(
                i % 2,
                Duration::from_micros(10_000 + (i as u64 % 50) * 40),
                &ok(),
            );
        }
    });
    assert_eq!(for_run(&s, None), vec![]);
    assert_eq!(to_text(&[]), "");
    assert_eq!(to_html(&[]), "");
}

#[tokio::test(start_paused = true)]
async fn drops_make_a_generator_finding_with_the_numbers() {
    let mut s = summary(|s| {
        for _ in 0..100 {
            s.record(0, Duration::from_millis(5), &ok());
        }
    });
    s.dropped = 25;
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["generator_bound"]);
    assert!(
        f[0].message.starts_with("25 of 125 arrivals (20.0%)"),
        "{}",
        f[0].message
    );
    assert_eq!(f[0].evidence["dropped"], 25.0);
    s.dropped = 1; // under 1%
    assert!(for_run(&s, None).is_empty());
}

#[tokio::test(start_paused = true)]
async fn safety_drops_are_the_caps_not_the_generator() {
    let mut s = summary(|s| {
        for _ in 0..100 {
            s.record(0, Duration::from_millis(5), &ok());
        }
    });
    (s.dropped, s.dropped_safety) = (25, 25);
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["safety_capped"]);
    assert_eq!(f[0].evidence["dropped_safety"], 25.0);
    assert!(
        f[0].message
            .starts_with("25 of 125 arrivals (20.0%) were refused"),
        "{}",
        f[0].message
    );
    // Both at once: each finding counts its own drops.
    s.dropped = 45;
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["safety_capped", "generator_bound"]);
    assert_eq!(f[1].evidence["dropped"], 20.0);
}

#[tokio::test(start_paused = true)]
async fn lag_and_cpu_make_a_generator_finding_only_over_their_limits() {
    let s = summary(|s| {
        for _ in 0..100 {
            s.record(0, Duration::from_millis(5), &ok());
        }
    });
    let healthy = GeneratorHealth {
        lag_p99: 0.001,
        late_share: 0.0,
        lag_bound: 0.01,
        cpu_utilisation: 0.3,
        max_cpu: 0.9,
    };
    assert!(for_run(&s, Some(&healthy)).is_empty());
    // A p99 over the bound with under 1% of arrivals late is noise, not a finding.
    let blip = GeneratorHealth {
        lag_p99: 0.025,
        late_share: 0.005,
        ..healthy
    };
    assert!(for_run(&s, Some(&blip)).is_empty());
    let late = GeneratorHealth {
        late_share: 0.04,
        ..blip
    };
    let f = for_run(&s, Some(&late));
    assert_eq!(kinds(&f), ["generator_bound"]);
    assert!(
        f[0].message
            .starts_with("4.0% of arrivals were dispatched more than 10.00ms late"),
        "{}",
        f[0].message
    );
    assert_eq!(f[0].evidence["lag_p99"], 0.025);
    assert!(!f[0].evidence.contains_key("cpu_utilisation"));
    let busy = GeneratorHealth {
        cpu_utilisation: 0.97,
        ..late
    };
    let f = for_run(&s, Some(&busy));
    assert_eq!(kinds(&f), ["generator_bound"], "one finding, both reasons");
    assert!(
        f[0].message
            .contains("; loadtide used 97% of the machine's CPU (limit 90%)"),
        "{}",
        f[0].message
    );
    assert_eq!(f[0].evidence["cpu_utilisation"], 0.97);
}

#[tokio::test(start_paused = true)]
async fn errors_on_one_endpoint_and_one_status() {
    let s = summary(|s| {
        for _ in 0..100 {
            s.record(0, Duration::from_millis(5), &ok());
        }
        for i in 0..100 {
            let o = if i < 30 { status(503) } else { ok() };
            s.record(1, Duration::from_millis(5), &o);
        }
    });
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["errors_concentrated", "errors_concentrated"]);
    assert!(
        f[0].message
            .contains("100% of the errors (30 of 30) came from endpoint POST b, which had 50%"),
        "{}",
        f[0].message
    );
    assert!(f[1].message.contains("were HTTP 503"), "{}", f[1].message);
    assert_eq!(f[1].evidence["status"], 503.0);
    // Spread errors are not concentrated.
    let spread = summary(|s| {
        for i in 0..100 {
            s.record(
                i % 2,
                Duration::from_millis(5),
                &status(500 + (i % 4) as u16),
            );
        }
    });
    assert!(kinds(&for_run(&spread, None))
        .iter()
        .all(|k| *k != "errors_concentrated"));
}

#[tokio::test(start_paused = true)]
async fn connect_errors_and_timeouts_in_a_run() {
    let s = summary(|s| {
        for i in 0..100 {
            let o = if i < 10 {
                Outcome::failed(ErrorKind::Connect)
            } else {
                ok()
            };
            s.record(0, Duration::from_millis(5), &o);
        }
    });
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["connection_limit"]);
    assert_eq!(f[0].evidence["connect_errors"], 10.0);
}

#[tokio::test(start_paused = true)]
async fn two_separated_modes_are_bimodal_one_wide_mode_is_not() {
    let s = summary(|s| {
        for i in 0..700 {
            s.record(0, Duration::from_micros(2_000 + (i % 20) * 20), &ok());
        }
        for i in 0..300 {
            s.record(0, Duration::from_micros(80_000 + (i % 20) * 500), &ok());
        }
    });
    let f = for_run(&s, None);
    assert_eq!(kinds(&f), ["latency_bimodal"]);
    let e = &f[0].evidence;
    assert!((0.0015..0.003).contains(&e["fast_mode"]), "{e:?}");
    assert!((0.06..0.11).contains(&e["slow_mode"]), "{e:?}");
    assert!((e["slow_share"] - 0.3).abs() < 0.02, "{e:?}");
    // A broad single mode (1..100 ms, log-uniform-ish) is not two modes.
    let wide = summary(|s| {
        for i in 0..1000u64 {
            let us = (1_000.0 * 100f64.powf(i as f64 / 1000.0)) as u64;
            s.record(0, Duration::from_micros(us), &ok());
        }
    });
    assert!(bimodal(wide.histogram.as_ref().expect("histogram")).is_none());
}

fn row(t: u64, rps: f64, p50: f64) -> TimelineRow {
    TimelineRow {
        t,
        requests: rps as u64,
        rps,
        errors: 0,
        p50,
        p99: p50 * 2.0,
        ..TimelineRow::default()
    }
}

#[tokio::test(start_paused = true)]
async fn rising_latency_at_flat_throughput_in_the_timeline() {
    let mut s = summary(|s| s.record(0, Duration::from_millis(5), &ok()));
    s.timeline = (0..10)
        .map(|t| row(t, 400.0, 0.003 + 0.02 * t as f64))
        .collect();
    let f = saturation_in_timeline(&s).expect("saturating");
    assert_eq!(f.kind, FindingKind::TargetSaturating);
    assert!(f.evidence["p50_late"] > 0.1);
    // A ramp whose latency follows its throughput up is not saturation.
    s.timeline = (0..10)
        .map(|t| row(t, 100.0 * (t + 1) as f64, 0.003 + 0.02 * t as f64))
        .collect();
    assert!(saturation_in_timeline(&s).is_none());
    // Flat latency: nothing.
    s.timeline = (0..10).map(|t| row(t, 400.0, 0.003)).collect();
    assert!(saturation_in_timeline(&s).is_none());
}

fn level(rate: f64, achieved: f64, p95: f64) -> LevelPoint {
    LevelPoint {
        rate,
        achieved_rps: achieved,
        p50: p95 / 2.0,
        p95,
        requests: (achieved * 2.0) as u64,
        ..LevelPoint::default()
    }
}

#[test]
fn levels_show_saturation_connections_and_the_generator() {
    let levels = [
        level(800.0, 405.0, 0.9),
        level(100.0, 100.0, 0.003),
        level(200.0, 200.0, 0.003),
        level(400.0, 398.0, 0.004),
        level(600.0, 402.0, 0.3),
    ];
    let f = for_levels(&levels, None);
    assert_eq!(kinds(&f), ["target_saturating"]);
    assert_eq!(f[0].evidence["rate_before"], 400.0);
    assert_eq!(f[0].evidence["rate_after"], 600.0);
    // Throughput that keeps up is no saturation, however latency moves.
    let fine = [level(100.0, 100.0, 0.003), level(200.0, 199.0, 0.010)];
    assert!(for_levels(&fine, None).is_empty());

    let mut conn = [level(100.0, 100.0, 0.003), level(200.0, 200.0, 0.003)];
    conn[1].connect_errors = 12;
    let f = for_levels(&conn, None);
    assert_eq!(kinds(&f), ["connection_limit"]);
    assert_eq!(f[0].evidence["rate_high"], 200.0);

    let mut gen = [level(100.0, 100.0, 0.003), level(200.0, 120.0, 0.003)];
    gen[1].generator_reasons = vec!["80 of 200 arrivals dropped".into()];
    gen[1].dropped = 80;
    let f = for_levels(&gen, None);
    assert_eq!(
        kinds(&f),
        ["generator_bound"],
        "a generator-bound level is not saturation"
    );
    assert!(f[0].message.contains("80 of 200 arrivals dropped"));
    assert!(f[0].advice.contains("--shard"));
}

#[test]
fn renderers_escape_and_list_evidence() {
    let f = vec![finding(
        FindingKind::LatencyBimodal,
        "a <b>".into(),
        "do & see",
        &[("p95", 0.25)],
    )];
    let html = to_html(&f);
    assert!(html.contains("<strong>latency_bimodal</strong>"));
    assert!(html.contains("a &lt;b&gt;") && html.contains("do &amp; see"));
    assert!(html.contains("p95=0.25"));
    assert!(to_markdown(&f).contains("- **latency_bimodal**: a <b>"));
    assert!(to_text(&f).contains("[latency_bimodal] a <b>"));
}

#[test]
fn kinds_are_written_as_their_snake_case_names() {
    use FindingKind::*;
    for kind in [
        GeneratorBound,
        SafetyCapped,
        TargetSaturating,
        ConnectionLimit,
        ErrorsConcentrated,
        LatencyBimodal,
    ] {
        let json = serde_json::to_string(&kind).expect("serialises");
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
        assert_eq!(kind.to_string(), kind.as_str());
        assert_eq!(
            serde_json::from_str::<FindingKind>(&json).expect("reads back"),
            kind
        );
    }
    assert_eq!(GeneratorBound.as_str(), "generator_bound");
    assert!(serde_json::from_str::<FindingKind>("\"GeneratorBound\"").is_err());
}
