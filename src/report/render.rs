//! Human text and JSON renderings of a `Summary`.

use std::fmt::Write as _;

use super::summary::{Latency, Summary, ThresholdResult};
use crate::config::threshold::Metric;
use crate::config::Threshold;

/// `0.000123` -> `123µs`, `0.0123` -> `12.30ms`, `1.5` -> `1.50s`.
pub fn seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}

fn latency_line(l: &Latency) -> String {
    format!(
        "min {}  mean {}  p50 {}  p90 {}  p95 {}  p99 {}  p99.9 {}  max {}",
        seconds(l.min),
        seconds(l.mean),
        seconds(l.p50),
        seconds(l.p90),
        seconds(l.p95),
        seconds(l.p99),
        seconds(l.p999),
        seconds(l.max)
    )
}

/// `n` and the noun, plural unless `n` is one: "1 endpoint", "3 endpoints".
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A window `[start, end)` in seconds since the start: `4–6 s`, `1.5–3.5 s`.
pub fn window_span(start: f64, end: f64) -> String {
    let n = |v: f64| {
        if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!("{}–{} s", n(start), n(end))
}

/// At most this many failing windows are named in the text summary.
const WINDOWS_SHOWN: usize = 10;

pub fn value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Latency(_) => seconds(v),
        Metric::ErrorRate => format!("{:.3}%", v * 100.0),
        Metric::Rps => format!("{v:.1}/s"),
        Metric::Requests | Metric::Errors => format!("{v:.0}"),
    }
}

/// The end-of-run summary for a terminal or a CI log.
pub fn text(s: &Summary, thresholds: &[Threshold]) -> String {
    let mut o = String::new();
    let pct = |r: f64| format!("{:.2}%", r * 100.0);
    let _ = writeln!(o, "\nloadtide summary · profile {}", s.profile);
    let _ = writeln!(o, "  requests     {:>10}   {:.1}/s", s.requests, s.rps);
    let _ = writeln!(o, "  successes    {:>10}", s.successes);
    let _ = writeln!(
        o,
        "  failures     {:>10}   error rate {}",
        s.errors,
        pct(s.error_rate)
    );
    let generator_dropped = s.generator_dropped();
    if generator_dropped > 0 {
        let _ = writeln!(o, "  dropped      {:>10}   (max_in_flight reached: the generator, not the target, was the limit)", generator_dropped);
    }
    if s.dropped_safety > 0 {
        let _ = writeln!(o, "  capped       {:>10}   (refused by the [safety] caps: the target got less than the profile asks)", s.dropped_safety);
    }
    let _ = writeln!(o, "  duration     {:>10}", format!("{:.2}s", s.duration_s));
    if s.warmup_s > 0.0 {
        let _ = writeln!(
            o,
            "  warmup       {:>10}   left out of every figure and threshold (timeline only)",
            format!("{:.2}s", s.warmup_s)
        );
    }
    let _ = writeln!(o, "  latency      {}", latency_line(&s.latency));
    if !s.status_codes.is_empty() {
        let codes: Vec<String> = s
            .status_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(o, "  status codes {}", codes.join(", "));
    }
    if !s.error_kinds.is_empty() {
        let kinds: Vec<String> = s
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        let _ = writeln!(o, "  errors       {}", kinds.join(", "));
    }
    if let Some(sc) = &s.scenario {
        let _ = writeln!(
            o,
            "  scenario     {} · {} iterations ({:.2}/s), {} failed · duration {}",
            sc.name,
            sc.iterations,
            sc.rate,
            sc.failures,
            latency_line(&sc.duration)
        );
    }
    if s.endpoints.len() > 1 {
        let _ = writeln!(o, "  endpoints");
        // As wide as the longest method (gRPC's SERVER_STREAMING), so the columns line up.
        let width = s
            .endpoints
            .iter()
            .map(|e| e.method.len())
            .max()
            .unwrap_or(0)
            .max(6);
        for e in &s.endpoints {
            let _ = writeln!(
                o,
                "    {:<20} {:<width$} {:>9} req {:>9.1}/s  p50 {:>9}  p99 {:>9}  errors {}",
                e.name,
                e.method,
                e.requests,
                e.rps,
                seconds(e.latency.p50),
                seconds(e.latency.p99),
                pct(e.error_rate)
            );
        }
    }
    let per_s = |n: u64| {
        if s.duration_s > 0.0 {
            n as f64 / s.duration_s
        } else {
            0.0
        }
    };
    for (name, m) in s
        .endpoints
        .iter()
        .filter_map(|e| Some((&e.name, e.stream?)))
    {
        let _ = writeln!(
            o,
            "  messages     {name}: {} sent ({:.1}/s), {} received ({:.1}/s)",
            m.sent,
            per_s(m.sent),
            m.received,
            per_s(m.received)
        );
    }
    if !s.thresholds.is_empty() {
        let _ = writeln!(o, "  thresholds");
        for (r, t) in s.thresholds.iter().zip(thresholds) {
            threshold_line(&mut o, r, t);
        }
    }
    o.push_str(&super::findings::to_text(&s.findings));
    o
}

/// One threshold's verdict: the observed value, or for a windowed one the worst window and
/// (up to `WINDOWS_SHOWN` of) the windows that failed.
fn threshold_line(o: &mut String, r: &ThresholdResult, t: &Threshold) {
    let verdict = if r.passed { "PASSED" } else { "FAILED" };
    let Some(windows) = &r.windows else {
        let _ = writeln!(
            o,
            "    {verdict}  {:<24} observed {}",
            r.expr,
            value(t.metric, r.value)
        );
        return;
    };
    if windows.is_empty() {
        let _ = writeln!(
            o,
            "    {verdict}  {:<24} no window to judge (a final window shorter than half the length is not judged)",
            r.expr
        );
        return;
    }
    let failing: Vec<_> = r.failing_windows().collect();
    let _ = writeln!(
        o,
        "    {verdict}  {:<24} worst window {} ({} of {} windows failed)",
        r.expr,
        value(t.metric, r.value),
        failing.len(),
        windows.len()
    );
    if !failing.is_empty() {
        let mut named: Vec<String> = failing
            .iter()
            .take(WINDOWS_SHOWN)
            .map(|w| {
                format!(
                    "{} ({})",
                    window_span(w.start_s, w.end_s),
                    value(t.metric, w.value)
                )
            })
            .collect();
        if failing.len() > WINDOWS_SHOWN {
            named.push(format!("and {} more", failing.len() - WINDOWS_SHOWN));
        }
        let _ = writeln!(o, "            failing windows: {}", named.join(", "));
    }
}

pub fn json(s: &Summary) -> String {
    serde_json::to_string_pretty(s).expect("a summary always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_picks_a_readable_unit() {
        assert_eq!(seconds(0.000_123), "123µs");
        assert_eq!(seconds(0.012_3), "12.30ms");
        assert_eq!(seconds(1.5), "1.50s");
    }

    #[test]
    fn windows_read_as_spans() {
        assert_eq!(window_span(4.0, 6.0), "4–6 s");
        assert_eq!(window_span(1.5, 3.5), "1.5–3.5 s");
    }

    #[test]
    fn counts_are_singular_only_for_one() {
        assert_eq!(count(1, "endpoint"), "1 endpoint");
        assert_eq!(count(0, "endpoint"), "0 endpoints");
        assert_eq!(count(3, "usage error"), "3 usage errors");
    }
}
