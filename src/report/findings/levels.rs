//! The rules for the levels of a capacity search, read across levels: the lowest level where
//! the generator was the limit, the target saturating (offered load up, throughput flat, p95
//! up), and connect errors growing with the load. With the error and latency-shape rules on
//! the busiest level's summary, `for_levels` gives every finding of a search.

use super::errors::errors_concentrated;
use super::latency_shape::bimodal;
use super::{finding, rising, Finding, FindingKind, FLAT, SCALE_OUT};
use crate::report::render::seconds;
use crate::report::summary::Summary;

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

/// Findings for the levels of a capacity search (any order); `summary` is the busiest level's,
/// for the distribution and error rules.
pub fn for_levels(levels: &[LevelPoint], summary: Option<&Summary>) -> Vec<Finding> {
    let mut sorted: Vec<&LevelPoint> = levels.iter().collect();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let mut out = Vec::new();
    if let Some(l) = sorted.iter().find(|l| !l.generator_reasons.is_empty()) {
        out.push(finding(
            FindingKind::GeneratorBound,
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
        FindingKind::TargetSaturating,
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
        FindingKind::ConnectionLimit,
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
