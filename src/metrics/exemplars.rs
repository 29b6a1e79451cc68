//! Exemplars: for each latency bucket and error kind of an endpoint's series, the last
//! sampled request that fell in it (its trace id, value and time), so a Prometheus with
//! exemplar storage links a latency spike to the trace of a request that made it. Held per
//! series, a bounded set (one slot per bucket and kind) however long the process runs, and
//! written only by sampled requests, with `try_lock`: a request never waits for a scrape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::outcome::{ErrorKind, TraceId};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar {
    pub trace: TraceId,
    pub value: f64,
    /// Unix seconds.
    pub at: f64,
}

/// The exemplars of one endpoint series.
pub struct SeriesExemplars {
    /// The latency buckets' upper bounds; one slot more for +Inf.
    bounds: Vec<f64>,
    latency: Mutex<Vec<Option<Exemplar>>>,
    errors: Mutex<[Option<Exemplar>; ErrorKind::ALL.len()]>,
}

impl SeriesExemplars {
    fn new(bounds: &[f64]) -> Self {
        SeriesExemplars {
            bounds: bounds.to_vec(),
            latency: Mutex::new(vec![None; bounds.len() + 1]),
            errors: Mutex::new([None; ErrorKind::ALL.len()]),
        }
    }

    /// A sampled request of `latency` seconds, failed with `error` if set.
    pub fn record(&self, latency: f64, trace: TraceId, error: Option<ErrorKind>) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        // The bucket a value counts in first: the smallest upper bound at or above it.
        let bucket = self.bounds.partition_point(|b| *b < latency);
        if let Ok(mut l) = self.latency.try_lock() {
            l[bucket] = Some(Exemplar {
                trace,
                value: latency,
                at,
            });
        }
        if let (Some(kind), Ok(mut e)) = (error, self.errors.try_lock()) {
            e[kind.index()] = Some(Exemplar {
                trace,
                value: 1.0,
                at,
            });
        }
    }

    /// The exemplar of the bucket with upper bound `le` (infinite: +Inf).
    pub fn bucket(&self, le: f64) -> Option<Exemplar> {
        let i = if le.is_infinite() {
            self.bounds.len()
        } else {
            self.bounds.iter().position(|b| *b == le)?
        };
        self.latency.lock().expect("exemplar lock poisoned")[i]
    }

    /// The exemplar of the error counter of `kind` (its `kind` label value).
    pub fn error(&self, kind: &str) -> Option<Exemplar> {
        let k = ErrorKind::ALL.iter().position(|k| k.as_str() == kind)?;
        self.errors.lock().expect("exemplar lock poisoned")[k]
    }
}

/// Every endpoint series' exemplars, by the series' endpoint label values (profile, target,
/// endpoint, method, protocol), for the OpenMetrics exposition to find.
#[derive(Default)]
pub struct ExemplarIndex {
    series: Mutex<HashMap<Vec<String>, Arc<SeriesExemplars>>>,
}

impl ExemplarIndex {
    /// The exemplars of the series labelled `values`, created with `bounds` on first use
    /// (like the series itself, kept across reloads).
    pub fn series(&self, values: &[&str], bounds: &[f64]) -> Arc<SeriesExemplars> {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut series = self.series.lock().expect("exemplar index lock poisoned");
        series
            .entry(key)
            .or_insert_with(|| Arc::new(SeriesExemplars::new(bounds)))
            .clone()
    }

    pub fn get(&self, values: &[&str]) -> Option<Arc<SeriesExemplars>> {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.series
            .lock()
            .expect("exemplar index lock poisoned")
            .get(&key)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_lands_in_the_first_bucket_that_counts_it() {
        let s = SeriesExemplars::new(&[0.1, 0.5, 1.0]);
        s.record(0.1, TraceId(1), None);
        s.record(0.3, TraceId(2), Some(ErrorKind::Timeout));
        s.record(7.0, TraceId(3), None);
        s.record(0.2, TraceId(4), None);
        let trace = |le| s.bucket(le).map(|e| e.trace);
        assert_eq!(trace(0.1), Some(TraceId(1)), "le is inclusive");
        assert_eq!(trace(0.5), Some(TraceId(4)), "the last one wins");
        assert_eq!(trace(1.0), None);
        assert_eq!(trace(f64::INFINITY), Some(TraceId(3)));
        assert_eq!(trace(0.25), None, "not a bucket of the series");
        assert_eq!(
            s.error("timeout").map(|e| (e.trace, e.value)),
            Some((TraceId(2), 1.0))
        );
        assert_eq!(s.error("status"), None);
    }
}
