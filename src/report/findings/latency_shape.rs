//! The shape of a latency distribution: two modes far apart (a fast and a slow path behind
//! one endpoint), found in the run's HDR histogram on a log scale.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::{finding, Finding, FindingKind};
use crate::report::render::seconds;

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
        FindingKind::LatencyBimodal,
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
