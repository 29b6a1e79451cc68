//! The rules for one run's summary (a one-shot run, or a merge of shards): the `[safety]`
//! caps or the generator as the limit, and latency climbing at flat throughput in the
//! per-second timeline. With the error and latency-shape rules, `for_run` gives every finding
//! of a run.

use super::errors::{connection_errors, errors_concentrated};
use super::latency_shape::bimodal;
use super::{finding, rising, Finding, FindingKind, GeneratorHealth, FLAT, SCALE_OUT};
use crate::report::render::seconds;
use crate::report::summary::Summary;

/// Drops above this share of arrivals are a finding.
const DROP_SHARE: f64 = 0.01;

/// Findings for a one-shot run's summary; `generator` adds the lag and CPU rules.
pub fn for_run(s: &Summary, generator: Option<&GeneratorHealth>) -> Vec<Finding> {
    let mut out = Vec::new();
    let arrivals = s.requests + s.dropped;
    let share = |n: u64| n as f64 / arrivals as f64;
    // Refused by a [safety] cap: the config's limit, which the generator obeyed.
    let capped = s.dropped - s.generator_dropped();
    if capped > 0 && share(capped) > DROP_SHARE {
        out.push(finding(
            FindingKind::SafetyCapped,
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
            FindingKind::GeneratorBound,
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

/// Per-second timeline: the first and last thirds compared (at least 6 full seconds); latency
/// (p50) rising while throughput stays flat is a queue growing at the target.
pub(super) fn saturation_in_timeline(s: &Summary) -> Option<Finding> {
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
            FindingKind::TargetSaturating,
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
