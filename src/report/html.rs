//! `--report PATH.html`: one self-contained HTML file (inline CSS and SVG, nothing fetched),
//! readable offline and printable: run metadata, the summary, thresholds (and the windows in
//! which windowed ones failed), charts over time (intended vs achieved rate, latency
//! p50/p90/p99/max, errors by kind, in flight; failing windows shaded), the latency
//! distribution and a per-endpoint table.

use std::fmt::Write as _;

use super::render::{seconds, value, window_span};
use super::summary::{Latency, Summary, ThresholdResult};
use super::svg::{bar_chart, line_chart, Band, Series};
use crate::config::Threshold;
use crate::html::escape;
use crate::metrics::stats::TimelineRow;

/// What the report says about the run beyond the summary.
pub struct ReportMeta {
    /// The command line that ran it.
    pub command: String,
    /// The system under test (`http://host:port`).
    pub target: String,
    /// Figures compared with `--baseline` (empty without one).
    pub deltas: Vec<super::baseline::Delta>,
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\
.chart{display:block;margin:.5em 0}.chart .grid{stroke:#eee}.chart .tick{font-size:10px;fill:#666}\
.chart .title{font-size:12px;font-weight:600}.chart .legend{font-size:11px}.chart .bar{fill:#4c78a8}\
.chart .band{fill:#cf222e;fill-opacity:.13}tr.fail td{background:#fff1f0}\
code{background:#f6f8fa;padding:1px 4px}@media print{body{margin:0}.chart{break-inside:avoid}}";

/// Colours for errors by kind, in `ErrorKind::ALL` order where possible.
const PALETTE: [&str; 9] = [
    "#cf222e", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#1f77b4",
];

/// A threshold's value in its unit (the expression says which metric it is).
fn threshold_value(t: &ThresholdResult, v: f64) -> String {
    match t.expr.parse::<Threshold>() {
        Ok(th) => value(th.metric, v),
        Err(_) => format!("{v}"),
    }
}

fn latency_cells(l: &Latency) -> String {
    [l.p50, l.p90, l.p95, l.p99, l.max]
        .iter()
        .map(|v| format!("<td>{}</td>", seconds(*v)))
        .collect()
}

/// The report for `s`.
pub fn html(s: &Summary, meta: &ReportMeta) -> String {
    let mut o = String::new();
    let title = format!("loadtide report · {}", s.profile);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body><h1>{}</h1>",
        escape(&title),
        escape(&title)
    );
    let started = s
        .started_at
        .map(|t| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0)),
            )
            .to_string()
        })
        .unwrap_or_else(|| "-".into());
    let _ = write!(
        o,
        "<table class=\"meta\"><tr><th>command</th><td><code>{}</code></td></tr><tr><th>target</th><td>{}</td></tr><tr><th>started</th><td>{started}</td></tr><tr><th>duration</th><td>{:.2} s</td></tr><tr><th>loadtide</th><td>{}</td></tr></table>",
        escape(&meta.command),
        escape(&meta.target),
        s.duration_s,
        env!("CARGO_PKG_VERSION")
    );

    let _ = write!(
        o,
        "<h2>Summary</h2><table><tr><th>requests</th><td>{}</td></tr><tr><th>throughput</th><td>{:.1}/s</td></tr><tr><th>failures</th><td>{} ({:.2}%)</td></tr><tr><th>dropped (generator limit)</th><td>{}</td></tr><tr><th>refused by [safety] caps</th><td>{}</td></tr><tr><th>latency</th><td>min {} · mean {} · p50 {} · p90 {} · p95 {} · p99 {} · p99.9 {} · max {}</td></tr></table>",
        s.requests,
        s.rps,
        s.errors,
        s.error_rate * 100.0,
        s.generator_dropped(),
        s.dropped_safety,
        seconds(s.latency.min),
        seconds(s.latency.mean),
        seconds(s.latency.p50),
        seconds(s.latency.p90),
        seconds(s.latency.p95),
        seconds(s.latency.p99),
        seconds(s.latency.p999),
        seconds(s.latency.max),
    );

    o.push_str(&super::baseline::html(&meta.deltas));
    if !s.thresholds.is_empty() {
        thresholds(&mut o, s);
    }
    o.push_str(&super::findings::to_html(&s.findings));
    over_time(&mut o, s);

    if let Some(h) = &s.histogram {
        o.push_str("<h2>Latency distribution</h2>");
        o.push_str(&bar_chart(
            "distribution",
            "Requests by latency (doubling buckets)",
            &distribution(h),
            &|v| format!("{v:.0}"),
        ));
    }

    o.push_str("<h2>Endpoints</h2><table><tr><th>endpoint</th><th>method</th><th>requests</th><th>rps</th><th>errors</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>");
    for e in &s.endpoints {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}%</td>{}</tr>",
            escape(&e.name),
            escape(&e.method),
            e.requests,
            e.rps,
            e.error_rate * 100.0,
            latency_cells(&e.latency)
        );
    }
    o.push_str("</table>");
    if !s.error_kinds.is_empty() || !s.status_codes.is_empty() {
        o.push_str("<h2>Responses and errors</h2><table>");
        for (code, n) in &s.status_codes {
            let _ = write!(o, "<tr><th>status {}</th><td>{n}</td></tr>", escape(code));
        }
        for (kind, n) in &s.error_kinds {
            let _ = write!(o, "<tr><th>error {}</th><td>{n}</td></tr>", escape(kind));
        }
        o.push_str("</table>");
    }
    if let Some(sc) = &s.scenario {
        let _ = write!(
            o,
            "<h2>Scenario {}</h2><table><tr><th>iterations</th><td>{} ({:.2}/s)</td></tr><tr><th>failed</th><td>{}</td></tr><tr><th>iteration duration</th><td>p50 {} · p95 {} · p99 {} · max {}</td></tr></table>",
            escape(&sc.name),
            sc.iterations,
            sc.rate,
            sc.failures,
            seconds(sc.duration.p50),
            seconds(sc.duration.p95),
            seconds(sc.duration.p99),
            seconds(sc.duration.max)
        );
    }
    o.push_str("</body></html>\n");
    o
}

/// The thresholds table, and the windows in which windowed thresholds failed.
fn thresholds(o: &mut String, s: &Summary) {
    o.push_str("<h2>Thresholds</h2><table id=\"thresholds\"><tr><th>threshold</th><th>value</th><th>windows</th><th>result</th></tr>");
    for t in &s.thresholds {
        let (class, word) = if t.passed {
            ("pass", "PASSED")
        } else {
            ("fail", "FAILED")
        };
        let windows = match &t.windows {
            None => "whole run".to_string(),
            Some(w) if w.is_empty() => "none to judge".to_string(),
            Some(w) => format!(
                "worst of {}; {} failed",
                w.len(),
                w.iter().filter(|w| !w.passed).count()
            ),
        };
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{windows}</td><td class=\"{class}\">{word}</td></tr>",
            escape(&t.expr),
            threshold_value(t, t.value)
        );
    }
    o.push_str("</table>");
    if s.warmup_s > 0.0 {
        let _ = write!(
            o,
            "<p>The first {:.1} s (warmup) are left out of every figure and threshold; the charts show them.</p>",
            s.warmup_s
        );
    }
    let failing: Vec<_> = s
        .thresholds
        .iter()
        .flat_map(|t| t.failing_windows().map(move |w| (t, w)))
        .collect();
    if failing.is_empty() {
        return;
    }
    o.push_str("<h3>Failing windows</h3><table id=\"failing-windows\"><tr><th>threshold</th><th>window</th><th>value</th><th>result</th></tr>");
    for (t, w) in failing {
        let _ = write!(
            o,
            "<tr class=\"fail\" data-start=\"{}\" data-end=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"fail\">FAILED</td></tr>",
            w.start_s,
            w.end_s,
            escape(&t.expr),
            window_span(w.start_s, w.end_s),
            threshold_value(t, w.value)
        );
    }
    o.push_str("</table><p>Failing windows are shaded on the charts below.</p>");
}

/// The charts over time: intended vs achieved rate, latency, errors by kind, in flight.
fn over_time(o: &mut String, s: &Summary) {
    o.push_str("<h2>Over time</h2>");
    let bands = failing_bands(s);
    let tl = &s.timeline;
    let x: Vec<f64> = tl.iter().map(|r| r.t as f64).collect();
    o.push_str(&rate_chart(tl, &x, &bands));
    o.push_str(&latency_chart(tl, &x, &bands));
    o.push_str(&errors_chart(tl, &x, &bands));
    o.push_str(&in_flight_chart(tl, &x, &bands));
}

/// The windows in which windowed thresholds failed, as bands to shade on the charts.
fn failing_bands(s: &Summary) -> Vec<Band> {
    s.thresholds
        .iter()
        .flat_map(|t| {
            t.failing_windows().map(|w| Band {
                start: w.start_s,
                end: w.end_s,
                label: format!("{} failed in {}", t.expr, window_span(w.start_s, w.end_s)),
            })
        })
        .collect()
}

/// One figure of every second.
fn column(tl: &[TimelineRow], f: &dyn Fn(&TimelineRow) -> f64) -> Vec<f64> {
    tl.iter().map(f).collect()
}

/// Achieved requests per second, under the intended rate when the timeline has one.
fn rate_chart(tl: &[TimelineRow], x: &[f64], bands: &[Band]) -> String {
    let rps = column(tl, &|r| r.rps);
    let intended = column(tl, &|r| r.intended_rps.unwrap_or(f64::NAN));
    let mut rate = vec![Series {
        name: "achieved",
        values: &rps,
        color: "#1f77b4",
    }];
    if tl.iter().any(|r| r.intended_rps.is_some()) {
        rate.insert(
            0,
            Series {
                name: "intended",
                values: &intended,
                color: "#999999",
            },
        );
    }
    line_chart(
        "rate",
        "Requests per second: intended vs achieved",
        x,
        &rate,
        bands,
        &|v| format!("{v:.0}/s"),
    )
}

/// p50, p90, p99 and max of every second.
fn latency_chart(tl: &[TimelineRow], x: &[f64], bands: &[Band]) -> String {
    let (p50, p90, p99, max) = (
        column(tl, &|r| r.p50),
        column(tl, &|r| r.p90),
        column(tl, &|r| r.p99),
        column(tl, &|r| r.max),
    );
    line_chart(
        "latency",
        "Latency per second",
        x,
        &[
            Series {
                name: "p50",
                values: &p50,
                color: "#2ca02c",
            },
            Series {
                name: "p90",
                values: &p90,
                color: "#1f77b4",
            },
            Series {
                name: "p99",
                values: &p99,
                color: "#d62728",
            },
            Series {
                name: "max",
                values: &max,
                color: "#7f7f7f",
            },
        ],
        bands,
        &|v| seconds(v),
    )
}

/// One line per error kind seen, in the order of `ErrorKind::ALL`; a flat "errors" line when
/// there were none.
fn errors_chart(tl: &[TimelineRow], x: &[f64], bands: &[Band]) -> String {
    let kinds: Vec<&str> = crate::outcome::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| tl.iter().any(|r| r.error_kinds.contains_key(*k)))
        .collect();
    let per_kind: Vec<Vec<f64>> = kinds
        .iter()
        .map(|k| column(tl, &|r| r.error_kinds.get(*k).copied().unwrap_or(0) as f64))
        .collect();
    let errors = column(tl, &|r| r.errors as f64);
    let mut series: Vec<Series> = kinds
        .iter()
        .zip(&per_kind)
        .enumerate()
        .map(|(i, (k, v))| Series {
            name: k,
            values: v,
            color: PALETTE[i % PALETTE.len()],
        })
        .collect();
    if series.is_empty() {
        series.push(Series {
            name: "errors",
            values: &errors,
            color: "#cf222e",
        });
    }
    line_chart(
        "errors",
        "Errors per second by kind",
        x,
        &series,
        bands,
        &count,
    )
}

/// The most requests in flight each second.
fn in_flight_chart(tl: &[TimelineRow], x: &[f64], bands: &[Band]) -> String {
    let in_flight = column(tl, &|r| r.in_flight as f64);
    line_chart(
        "in-flight",
        "Requests in flight (highest 100 ms sample each second)",
        x,
        &[Series {
            name: "in flight",
            values: &in_flight,
            color: "#9467bd",
        }],
        bands,
        &count,
    )
}

/// A count on an axis: `2`, or `2.5` between whole ticks.
fn count(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Request counts in doubling latency buckets from 1 ms (microsecond histogram).
fn distribution(h: &hdrhistogram::Histogram<u64>) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut lo = 0u64;
    let mut hi = 1_000u64;
    while lo <= h.max() && out.len() < 24 {
        let n = h.count_between(lo, hi.saturating_sub(1).max(lo));
        out.push((format!("<{}", seconds(hi as f64 / 1e6)), n as f64));
        lo = hi;
        hi = hi.saturating_mul(2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::TimelineRow;

    #[test]
    fn the_report_is_self_contained_and_shows_everything() {
        let mut h =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for us in [800u64, 1_500, 2_500, 40_000] {
            h.record(us).expect("in range");
        }
        let s: Summary = serde_json::from_value(serde_json::json!({
            "profile": "checkout", "requests": 4, "successes": 3, "errors": 1,
            "error_rate": 0.25, "rps": 2.0, "duration_s": 2.0, "dropped": 0, "abandoned": 0,
            "bytes_received": 10, "latency": Latency::default(), "status_codes": {"200": 3, "500": 1},
            "error_kinds": {"status": 1}, "endpoints": [], "thresholds": [
                {"expr": "p95<300ms", "value": 0.04, "passed": true},
                {"expr": "error_rate<1%", "value": 0.25, "passed": false},
                {"expr": "p99<10ms over 1s", "value": 0.04, "passed": false, "windows": [
                    {"start_s": 0.0, "end_s": 1.0, "value": 0.002, "passed": true},
                    {"start_s": 1.0, "end_s": 2.0, "value": 0.04, "passed": false}]}],
            "timeline": [TimelineRow { t: 0, requests: 2, rps: 2.0, errors: 0, p50: 0.001, p99: 0.002, ..Default::default() },
                         TimelineRow { t: 1, requests: 2, rps: 2.0, errors: 1, p50: 0.002, p99: 0.04, ..Default::default() }],
            "started_at": 1_800_000_000.0,
        }))
        .expect("summary");
        let s = Summary {
            histogram: Some(h),
            ..s
        };
        let page = html(
            &s,
            &ReportMeta {
                command: "loadtide run --url http://127.0.0.1:1/<x>".into(),
                target: "http://127.0.0.1:1".into(),
                deltas: Vec::new(),
            },
        );
        assert!(page.starts_with("<!doctype html>"));
        assert_eq!(
            page.matches("<svg").count(),
            5,
            "4 charts over time + distribution"
        );
        for key in ["rate", "latency", "errors", "in-flight", "distribution"] {
            assert!(page.contains(&format!("data-chart=\"{key}\"")), "{key}");
        }
        assert!(page.contains("class=\"pass\">PASSED") && page.contains("class=\"fail\">FAILED"));
        // The failing window: a table row and a band on each of the 4 time charts.
        assert!(page.contains("<tr class=\"fail\" data-start=\"1\" data-end=\"2\"><td><code>p99&lt;10ms over 1s</code></td><td>1–2 s</td><td>40.00ms</td>"), "{page}");
        assert_eq!(page.matches("class=\"band\"").count(), 4);
        assert!(page.contains("<td>40.00ms</td><td>worst of 2; 1 failed</td>"));
        assert!(page.contains("/&lt;x&gt;"), "escaped command");
        assert!(page.contains("2027-01-15T08:00:00Z"));
        // Nothing to fetch: no scripts, stylesheets, images or fonts by URL.
        for needle in ["<script", "<link", "src=", "url(", "@import"] {
            assert!(!page.contains(needle), "{needle}");
        }
    }

    #[test]
    fn the_distribution_counts_every_request_once() {
        let mut h =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for us in [10u64, 999, 1_000, 1_999, 2_000, 70_000] {
            h.record(us).expect("in range");
        }
        let d = distribution(&h);
        assert_eq!(d.iter().map(|(_, n)| n).sum::<f64>(), 6.0);
        assert_eq!(d[0].1, 2.0, "below 1 ms");
        assert_eq!(d[1].1, 2.0, "1-2 ms");
    }
}
