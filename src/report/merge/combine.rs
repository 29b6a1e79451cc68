//! Adding the inputs up: counts, status codes and error kinds sum, the HDR histograms (the
//! whole run's and each endpoint's) add exactly, thresholds are the union of the inputs' with
//! windowed verdicts carried over, and scenario sections add up. `Totals` holds the sums from
//! which the merged summary derives its rates and percentiles.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::MergeError;
use crate::config::Threshold;
use crate::report::summary::{
    latency, EndpointSummary, ScenarioSummary, Summary, ThresholdResult, WindowResult,
};

/// The inputs' figures added up, before rates and percentiles are derived.
pub(super) struct Totals {
    pub(super) histogram: Option<Histogram<u64>>,
    /// By (name, method), in order of first appearance.
    pub(super) endpoints: Vec<EndpointSummary>,
    pub(super) status_codes: BTreeMap<String, u64>,
    pub(super) error_kinds: BTreeMap<String, u64>,
    pub(super) requests: u64,
    pub(super) successes: u64,
    pub(super) errors: u64,
    pub(super) dropped: u64,
    pub(super) dropped_safety: u64,
    pub(super) abandoned: u64,
    pub(super) bytes_received: u64,
    /// The union of the inputs' thresholds, by (normalised) expression, in order of appearance.
    pub(super) thresholds: Vec<Threshold>,
    /// The windowed thresholds' results, carried over (`carry_windows`).
    pub(super) windowed: Vec<ThresholdResult>,
    /// The first start and the last end, Unix time in seconds.
    pub(super) start: f64,
    pub(super) end: f64,
}

impl Totals {
    /// The sums over `inputs`; an error names the first input missing a histogram or a start
    /// time, or carrying a threshold that does not parse.
    pub(super) fn of(inputs: &[(String, Summary)]) -> Result<Totals, MergeError> {
        let earliest = inputs
            .iter()
            .filter_map(|(_, s)| s.started_at)
            .fold(f64::INFINITY, f64::min);
        let mut totals = Totals {
            histogram: None,
            endpoints: Vec::new(),
            status_codes: BTreeMap::new(),
            error_kinds: BTreeMap::new(),
            requests: 0,
            successes: 0,
            errors: 0,
            dropped: 0,
            dropped_safety: 0,
            abandoned: 0,
            bytes_received: 0,
            thresholds: Vec::new(),
            windowed: Vec::new(),
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
        };
        for (file, s) in inputs {
            totals.add_input(file, s, earliest)?;
        }
        Ok(totals)
    }

    fn add_input(&mut self, file: &str, s: &Summary, earliest: f64) -> Result<(), MergeError> {
        let h = s.histogram.as_ref().ok_or_else(|| missing(file, ""))?;
        add(&mut self.histogram, h, file, "")?;
        self.requests += s.requests;
        self.successes += s.successes;
        self.errors += s.errors;
        self.dropped += s.dropped;
        self.dropped_safety += s.dropped_safety;
        self.abandoned += s.abandoned;
        self.bytes_received += s.bytes_received;
        sum_into(&mut self.status_codes, &s.status_codes);
        sum_into(&mut self.error_kinds, &s.error_kinds);
        let started = s.started_at.ok_or_else(|| MergeError::MissingStart {
            file: file.to_string(),
        })?;
        self.start = self.start.min(started);
        self.end = self.end.max(started + s.duration_s);
        for e in &s.endpoints {
            self.add_endpoint(file, e)?;
        }
        self.add_thresholds(file, s, s.started_at.unwrap_or(earliest) - earliest)
    }

    /// Adds one input's endpoint into the merged endpoint of the same name and method.
    fn add_endpoint(&mut self, file: &str, e: &EndpointSummary) -> Result<(), MergeError> {
        let what = format!(" for endpoint {} {}", e.name, e.method);
        let h = e.histogram.as_ref().ok_or_else(|| missing(file, &what))?;
        let i = match self
            .endpoints
            .iter()
            .position(|m| m.name == e.name && m.method == e.method)
        {
            Some(i) => i,
            None => {
                self.endpoints.push(EndpointSummary {
                    requests: 0,
                    errors: 0,
                    status_codes: BTreeMap::new(),
                    error_kinds: BTreeMap::new(),
                    histogram: None,
                    stream: e.stream.map(|_| Default::default()),
                    ..e.clone()
                });
                self.endpoints.len() - 1
            }
        };
        let m = &mut self.endpoints[i];
        m.requests += e.requests;
        m.errors += e.errors;
        if let Some(add) = &e.stream {
            m.stream.get_or_insert_with(Default::default).add(add);
        }
        sum_into(&mut m.status_codes, &e.status_codes);
        sum_into(&mut m.error_kinds, &e.error_kinds);
        add(&mut m.histogram, h, file, &what)
    }

    /// Adds one input's thresholds to the union; its windows are shifted by `offset` seconds
    /// (its start after the earliest input's).
    fn add_thresholds(&mut self, file: &str, s: &Summary, offset: f64) -> Result<(), MergeError> {
        for r in &s.thresholds {
            let t: Threshold = r.expr.parse().map_err(|reason| MergeError::Threshold {
                file: file.to_string(),
                reason,
            })?;
            if !self.thresholds.iter().any(|k| k.expr == t.expr) {
                self.thresholds.push(t);
            }
            if r.windows.is_some() {
                carry_windows(&mut self.windowed, r, offset);
            }
        }
        Ok(())
    }
}

/// `n` per second of `measured_s` (0 when nothing was measured).
pub(super) fn per_second(n: u64, measured_s: f64) -> f64 {
    if measured_s > 0.0 {
        n as f64 / measured_s
    } else {
        0.0
    }
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
pub(super) fn merge_scenarios(
    inputs: &[(String, Summary)],
    duration_s: f64,
) -> Option<ScenarioSummary> {
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

fn missing(file: &str, what: &str) -> MergeError {
    MergeError::MissingHistogram {
        file: file.to_string(),
        what: what.to_string(),
    }
}

pub(super) fn sum_into(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
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
