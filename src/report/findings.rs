//! Bottleneck hints, computed from evidence only: every finding carries the figures it rests
//! on, and a rule that lacks its evidence says nothing. Rules: the generator was the limit;
//! the target saturated (latency rising at flat throughput); connection errors growing with
//! the load; errors concentrated on one endpoint or one status code; a bimodal latency
//! distribution. Small renderers (`to_text`, `to_html`, `to_markdown`) let every report show
//! them the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::render::seconds;
use super::summary::Summary;
use crate::html::escape;

/// One hint, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `generator_bound`, `safety_capped`, `target_saturating`, `connection_limit`,
    /// `errors_concentrated`, `latency_bimodal`.
    pub kind: String,
    /// One sentence with the figures.
    pub message: String,
    /// What to do about it.
    pub advice: String,
    /// The figures, by name (seconds, ratios, requests per second, counts).
    pub evidence: BTreeMap<String, f64>,
}

fn finding(kind: &str, message: String, advice: &str, evidence: &[(&str, f64)]) -> Finding {
    Finding {
        kind: kind.into(),
        message,
        advice: advice.into(),
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

pub const SCALE_OUT: &str = "the generator, not the target, was the limit: raise max_in_flight \
    (--max-in-flight) if drops are the reason, or split the load over several machines with \
    --shard I/N (loadtide merge combines their summaries)";

/// Drops above this share of arrivals are a finding.
const DROP_SHARE: f64 = 0.01;
/// Latency that at least doubled, by at least this much, counts as rising.
const RISE_FACTOR: f64 = 2.0;
const RISE_MIN: f64 = 0.005;
/// Throughput within this of the earlier figure counts as flat.
const FLAT: f64 = 0.10;

/// A load level (capacity search) as the rules see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelPoint {
    /// Intended arrivals per second.
    pub rate: f64,
    pub achieved_rps: f64,
    pub p50: f64,
    pub p95: f64,
    pub requests: u64,
    /// Errors of kind `connect` and `timeout`.
    pub connect_errors: u64,
    pub timeouts: u64,
    /// Why the generator was the limit at this level (empty when it was not).
    pub generator_reasons: Vec<String>,
    pub dropped: u64,
    pub intended: u64,
    pub lag_p99: f64,
    pub cpu_utilisation: f64,
}

/// The generator's own figures over a one-shot run (not in the summary: they describe the
/// machine that ran it, and a merge of shards has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorHealth {
    /// Scheduler lag p99 (a histogram bucket's upper bound), seconds.
    pub lag_p99: f64,
    /// Share of arrivals dispatched later than `lag_bound`.
    pub late_share: f64,
    pub lag_bound: f64,
    /// The process's CPU time / (wall time × available cores).
    pub cpu_utilisation: f64,
    pub max_cpu: f64,
}

/// Findings for a one-shot run's summary; `generator` adds the lag and CPU rules.
pub fn for_run(s: &Summary, generator: Option<&GeneratorHealth>) -> Vec<Finding> {
    let mut out = Vec::new();
    let arrivals = s.requests + s.dropped;
    let share = |n: u64| n as f64 / arrivals as f64;
    // Refused by a [safety] cap: the config's limit, which the generator obeyed.
    let capped = s.dropped - s.generator_dropped();
    if capped > 0 && share(capped) > DROP_SHARE {
        out.push(finding(
            "safety_capped",
            format!(
                "{capped} of {arrivals} arrivals ({:.1}%) were refused by the [safety] caps (max_rate / max_in_flight)",
                100.0 * share(capped)
            ),
            "the target got less load than the profile asks for: lower the profile's rate or \
             raise the cap in [safety] if the target may take more",
            &[("dropped_safety", capped as f64), ("arrivals", arrivals as f64)],
        ));
    }
    let dropped = s.generator_dropped();
    let mut reasons = Vec::new();
    let mut evidence = Vec::new();
    if dropped > 0 && share(dropped) > DROP_SHARE {
        reasons.push(format!(
            "{dropped} of {arrivals} arrivals ({:.1}%) were dropped because max_in_flight requests were outstanding",
            100.0 * share(dropped)
        ));
        evidence.extend([("dropped", dropped as f64), ("arrivals", arrivals as f64)]);
    }
    if let Some(g) = generator {
        // Late dispatches add their lag to the latency measured from the intended start.
        if g.late_share > DROP_SHARE && g.lag_p99 > g.lag_bound {
            reasons.push(format!(
                "{:.1}% of arrivals were dispatched more than {} late (scheduler lag p99 {}), and that lag is counted in the latency",
                g.late_share * 100.0,
                seconds(g.lag_bound),
                seconds(g.lag_p99)
            ));
            evidence.extend([("lag_p99", g.lag_p99), ("late_share", g.late_share)]);
        }
        if g.cpu_utilisation > g.max_cpu {
            reasons.push(format!(
                "loadtide used {:.0}% of the machine's CPU (limit {:.0}%)",
                g.cpu_utilisation * 100.0,
                g.max_cpu * 100.0
            ));
            evidence.push(("cpu_utilisation", g.cpu_utilisation));
        }
    }
    if !reasons.is_empty() {
        out.push(finding(
            "generator_bound",
            reasons.join("; "),
            SCALE_OUT,
            &evidence,
        ));
    }
    out.extend(saturation_in_timeline(s));
    out.extend(connection_errors(s));
    out.extend(errors_concentrated(s));
    if let Some(h) = &s.histogram {
        out.extend(bimodal(h));
    }
    out
}

/// Findings for the levels of a capacity search (any order); `summary` is the busiest level's,
/// for the distribution and error rules.
pub fn for_levels(levels: &[LevelPoint], summary: Option<&Summary>) -> Vec<Finding> {
    let mut sorted: Vec<&LevelPoint> = levels.iter().collect();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let mut out = Vec::new();
    if let Some(l) = sorted.iter().find(|l| !l.generator_reasons.is_empty()) {
        out.push(finding(
            "generator_bound",
            format!(
                "at {:.1} req/s the generator was the limit: {}",
                l.rate,
                l.generator_reasons.join("; ")
            ),
            SCALE_OUT,
            &[
                ("rate", l.rate),
                ("dropped", l.dropped as f64),
                ("intended", l.intended as f64),
                ("lag_p99", l.lag_p99),
                ("cpu_utilisation", l.cpu_utilisation),
            ],
        ));
    }
    out.extend(saturation_in_levels(&sorted));
    out.extend(connections_growing(&sorted));
    if let Some(s) = summary {
        out.extend(errors_concentrated(s));
        if let Some(h) = &s.histogram {
            out.extend(bimodal(h));
        }
    }
    out
}

fn rising(before: f64, after: f64) -> bool {
    after >= before * RISE_FACTOR && after - before >= RISE_MIN
}

/// The lowest level whose offered rate is 10% or more above an earlier level's while its
/// achieved throughput is not (within 10%) and its p95 at least doubled: the target queues
/// instead of serving more.
fn saturation_in_levels(sorted: &[&LevelPoint]) -> Option<Finding> {
    // Only levels the generator produced faithfully say anything about the target.
    let ok: Vec<&LevelPoint> = sorted
        .iter()
        .copied()
        .filter(|l| l.generator_reasons.is_empty() && l.requests > 0)
        .collect();
    let (a, b) = ok.iter().enumerate().find_map(|(j, b)| {
        ok[..j].iter().rev().find_map(|a| {
            let offered_up = b.rate >= a.rate * 1.1;
            let flat = b.achieved_rps <= a.achieved_rps * (1.0 + FLAT);
            (offered_up && flat && rising(a.p95, b.p95)).then_some((*a, *b))
        })
    })?;
    Some(finding(
        "target_saturating",
        format!(
            "the target saturated near {:.1} req/s: offered {:.1} → {:.1} req/s, achieved only {:.1} → {:.1} req/s while p95 rose {} → {}",
            a.achieved_rps,
            a.rate,
            b.rate,
            a.achieved_rps,
            b.achieved_rps,
            seconds(a.p95),
            seconds(b.p95)
        ),
        "the target queues beyond this throughput: look at its CPU, thread or connection pools and downstream dependencies",
        &[
            ("rate_before", a.rate),
            ("rate_after", b.rate),
            ("achieved_before", a.achieved_rps),
            ("achieved_after", b.achieved_rps),
            ("p95_before", a.p95),
            ("p95_after", b.p95),
        ],
    ))
}

/// Per-second timeline: the first and last thirds compared (at least 6 full seconds); latency
/// (p50) rising while throughput stays flat is a queue growing at the target.
fn saturation_in_timeline(s: &Summary) -> Option<Finding> {
    // The last row may be a partial second.
    let rows = &s.timeline[..s.timeline.len().saturating_sub(1)];
    if rows.len() < 6 {
        return None;
    }
    let third = rows.len() / 3;
    let avg = |r: &[crate::metrics::stats::TimelineRow],
               f: fn(&crate::metrics::stats::TimelineRow) -> f64| {
        r.iter().map(f).sum::<f64>() / r.len() as f64
    };
    let (early, late) = (&rows[..third], &rows[rows.len() - third..]);
    let (p50a, p50b) = (avg(early, |r| r.p50), avg(late, |r| r.p50));
    let (rpsa, rpsb) = (avg(early, |r| r.rps), avg(late, |r| r.rps));
    let flat = rpsa > 0.0 && (rpsb - rpsa).abs() <= FLAT * rpsa;
    (flat && rising(p50a, p50b)).then(|| {
        finding(
            "target_saturating",
            format!(
                "latency climbed while throughput stayed flat: p50 {} → {} from the first to the last third of the run, at {:.1} → {:.1} req/s",
                seconds(p50a),
                seconds(p50b),
                rpsa,
                rpsb
            ),
            "a queue is growing at the target: the offered load is above what it serves; run `loadtide capacity` to find the rate it sustains",
            &[
                ("p50_early", p50a),
                ("p50_late", p50b),
                ("rps_early", rpsa),
                ("rps_late", rpsb),
            ],
        )
    })
}

/// Connect errors and timeouts: absent (< 0.1%) at the lowest level, 1% or more at a higher one.
fn connections_growing(sorted: &[&LevelPoint]) -> Option<Finding> {
    let share = |l: &LevelPoint| {
        if l.requests == 0 {
            0.0
        } else {
            (l.connect_errors + l.timeouts) as f64 / l.requests as f64
        }
    };
    let first = sorted.first()?;
    if share(first) >= 0.001 {
        return None;
    }
    let worst = sorted
        .iter()
        .skip(1)
        .find(|l| share(l) >= 0.01 && l.connect_errors + l.timeouts >= 5)?;
    Some(finding(
        "connection_limit",
        format!(
            "connect errors and timeouts grew with the load: {:.2}% at {:.1} req/s, {:.2}% ({} connect, {} timeout) at {:.1} req/s",
            100.0 * share(first),
            first.rate,
            100.0 * share(worst),
            worst.connect_errors,
            worst.timeouts,
            worst.rate
        ),
        "a connection limit is near: the target's accept backlog or max connections, a load balancer's limit, or the generator's own file descriptors (ulimit -n)",
        &[
            ("rate_low", first.rate),
            ("share_low", share(first)),
            ("rate_high", worst.rate),
            ("share_high", share(worst)),
            ("connect_errors", worst.connect_errors as f64),
            ("timeouts", worst.timeouts as f64),
        ],
    ))
}

/// A one-shot run: connect errors and timeouts above 1% of requests.
fn connection_errors(s: &Summary) -> Option<Finding> {
    let connect = s.error_kinds.get("connect").copied().unwrap_or(0);
    let timeout = s.error_kinds.get("timeout").copied().unwrap_or(0);
    let n = connect + timeout;
    (s.requests > 0 && n >= 5 && n as f64 >= 0.01 * s.requests as f64).then(|| {
        finding(
            "connection_limit",
            format!(
                "{n} of {} requests ({:.1}%) failed to connect ({connect}) or timed out ({timeout})",
                s.requests,
                100.0 * n as f64 / s.requests as f64
            ),
            "the target (or something in front of it) refuses or stalls connections: check its accept backlog, max connections and the generator's ulimit -n",
            &[
                ("connect_errors", connect as f64),
                ("timeouts", timeout as f64),
                ("requests", s.requests as f64),
            ],
        )
    })
}

/// 80% or more of 10 or more errors on one endpoint (of several, carrying less than 80% of
/// the requests), or on one HTTP status code.
fn errors_concentrated(s: &Summary) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.errors < 10 {
        return out;
    }
    if s.endpoints.len() > 1 {
        if let Some(e) = s.endpoints.iter().max_by_key(|e| e.errors) {
            let err_share = e.errors as f64 / s.errors as f64;
            let req_share = e.requests as f64 / s.requests.max(1) as f64;
            if err_share >= 0.8 && req_share < 0.8 {
                out.push(finding(
                    "errors_concentrated",
                    format!(
                        "{:.0}% of the errors ({} of {}) came from endpoint {} {}, which had {:.0}% of the requests",
                        100.0 * err_share,
                        e.errors,
                        s.errors,
                        e.method,
                        e.name,
                        100.0 * req_share
                    ),
                    "look at that endpoint first: its handler or what it depends on",
                    &[
                        ("endpoint_errors", e.errors as f64),
                        ("errors", s.errors as f64),
                        ("error_share", err_share),
                        ("request_share", req_share),
                    ],
                ));
            }
        }
    }
    let failing_codes: Vec<(&String, u64)> = s
        .status_codes
        .iter()
        .filter(|(c, _)| c.parse::<u16>().is_ok_and(|c| c >= 400))
        .map(|(c, n)| (c, *n))
        .collect();
    if let Some((code, n)) = failing_codes.iter().max_by_key(|(_, n)| *n) {
        let share = *n as f64 / s.errors as f64;
        if share >= 0.8 && *n >= 10 {
            let code_num: f64 = code.parse().unwrap_or(0.0);
            out.push(finding(
                "errors_concentrated",
                format!(
                    "{:.0}% of the errors ({n} of {}) were HTTP {code}",
                    100.0 * share.min(1.0),
                    s.errors
                ),
                match code.as_str() {
                    "429" => "the target rate-limits this load: raise its limit or stay below it",
                    "502" | "503" | "504" => {
                        "a proxy or load balancer gave up on the backend: the backend is overloaded or down"
                    }
                    _ => "one cause behind most errors: the target's logs for that status",
                },
                &[("status", code_num), ("count", *n as f64), ("errors", s.errors as f64)],
            ));
        }
    }
    out
}

/// Two latency modes at least twice apart, each holding 10% or more of the requests, with a
/// valley between them below a fifth of the smaller mode (bins 25% wide on a log scale).
pub fn bimodal(h: &Histogram<u64>) -> Option<Finding> {
    const WIDTH: f64 = 1.25;
    let total = h.len();
    if total < 50 {
        return None;
    }
    let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
    for v in h.iter_recorded() {
        let us = v.value_iterated_to().max(1) as f64;
        *bins
            .entry((us.ln() / WIDTH.ln()).floor() as i64)
            .or_default() += v.count_at_value();
    }
    let (lo, hi) = (*bins.keys().next()?, *bins.keys().next_back()?);
    let counts: Vec<u64> = (lo..=hi)
        .map(|b| bins.get(&b).copied().unwrap_or(0))
        .collect();
    let value = |i: usize| WIDTH.powf((lo + i as i64) as f64 + 0.5) / 1e6;
    let peak1 = (0..counts.len()).max_by_key(|&i| counts[i])?;
    let mut best: Option<(usize, u64, f64)> = None;
    for j in 0..counts.len() {
        if j.abs_diff(peak1) < 3 || counts[j] == 0 {
            continue;
        }
        let (a, b) = (peak1.min(j), peak1.max(j));
        let valley = counts[a..=b].iter().copied().min().unwrap_or(0);
        if valley as f64 > 0.2 * counts[j] as f64 {
            continue;
        }
        // The mass on j's side of the valley.
        let vi = (a..=b).find(|&k| counts[k] == valley).unwrap_or(a);
        let side: u64 = if j > peak1 {
            counts[vi + 1..].iter().sum()
        } else {
            counts[..vi].iter().sum()
        };
        let share = side as f64 / total as f64;
        let other = 1.0 - share;
        if share >= 0.1 && other >= 0.1 && best.is_none_or(|(_, c, _)| counts[j] > c) {
            best = Some((j, counts[j], share));
        }
    }
    let (j, _, share2) = best?;
    let (fast, slow, slow_share) = if j > peak1 {
        (value(peak1), value(j), share2)
    } else {
        (value(j), value(peak1), 1.0 - share2)
    };
    Some(finding(
        "latency_bimodal",
        format!(
            "latency has two modes: around {} and around {} ({:.0}% of requests in the slow one)",
            seconds(fast),
            seconds(slow),
            100.0 * slow_share
        ),
        "two paths behind one endpoint: cache hits and misses, a slow replica or shard, retries, or connection setup (new TLS handshakes) on part of the requests",
        &[
            ("fast_mode", fast),
            ("slow_mode", slow),
            ("slow_share", slow_share),
        ],
    ))
}

/// Plain text, one finding per paragraph (empty when there are none).
pub fn to_text(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    let _ = writeln!(o, "  findings");
    for f in findings {
        let _ = writeln!(o, "    [{}] {}", f.kind, f.message);
        let _ = writeln!(o, "      → {}", f.advice);
    }
    o
}

/// An HTML section (`<h2>` and a list), no CSS needed; empty when there are none.
pub fn to_html(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    o.push_str("<h2>Findings</h2><ul class=\"findings\">");
    for f in findings {
        let evidence: Vec<String> = f
            .evidence
            .iter()
            .map(|(k, v)| format!("{k}={}", trim(*v)))
            .collect();
        let _ = write!(
            o,
            "<li><strong>{}</strong>: {}<br><em>{}</em><br><small>evidence: {}</small></li>",
            escape(&f.kind),
            escape(&f.message),
            escape(&f.advice),
            escape(&evidence.join(", "))
        );
    }
    o.push_str("</ul>");
    o
}

/// A Markdown section; empty when there are none.
pub fn to_markdown(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    o.push_str("### Findings\n\n");
    for f in findings {
        let _ = writeln!(o, "- **{}**: {} — _{}_", f.kind, f.message, f.advice);
    }
    o.push('\n');
    o
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::TimelineRow;
    use crate::metrics::RunStats;
    use crate::outcome::{ErrorKind, Outcome};
    use std::time::Duration;

    fn ok() -> Outcome {
        Outcome {
            status: Some(200),
            error: None,
            bytes_received: 1,
        }
    }

    fn status(code: u16) -> Outcome {
        Outcome {
            status: Some(code),
            error: Some(ErrorKind::Status),
            bytes_received: 1,
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
        assert_eq!(f.kind, "target_saturating");
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
        let f = vec![finding("x", "a <b>".into(), "do & see", &[("p95", 0.25)])];
        let html = to_html(&f);
        assert!(html.contains("a &lt;b&gt;") && html.contains("do &amp; see"));
        assert!(html.contains("p95=0.25"));
        assert!(to_markdown(&f).contains("- **x**: a <b>"));
        assert!(to_text(&f).contains("[x] a <b>"));
    }
}
