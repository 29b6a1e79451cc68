//! The merged per-second timeline: the inputs' rows laid on one wall clock.

use std::collections::BTreeMap;

use super::combine::sum_into;
use crate::metrics::stats::TimelineRow;
use crate::report::summary::Summary;

/// The inputs' per-second rows laid on one wall clock: row `t` of an input that started at
/// `started_at` is second `floor(started_at) + t`, and the merged row `t` is second
/// `floor(start) + t`, with a zero row for any second no input covers. Requests, rps and
/// errors add up exactly. p50 and p99 are NOT exact: a row keeps no histogram, so they are the
/// largest of the inputs' values that second (an upper bound on the true p99 of the second when
/// the shards' latencies are alike; the whole-run percentiles are exact). The alignment itself
/// is to the second: inputs whose starts differ by a fraction of a second share rows as if
/// their seconds began together.
pub(super) fn timeline(inputs: &[(String, Summary)], start: f64) -> Vec<TimelineRow> {
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
