//! Tumbling windows for windowed thresholds (`p95<300ms over 1m`): windows of a fixed length,
//! aligned to the end of the warmup, each closed into a small row of figures when a later
//! request completes (or the run ends). Only the window currently open has a histogram, one
//! per window length that some threshold uses, so memory does not grow with the run beyond one
//! small row per closed window. Requests belong to the window in which they complete, as in
//! the per-second timeline.

use hdrhistogram::Histogram;

use crate::config::threshold::{LatencyStat, Metric};

/// The figures of one closed window, in seconds since the start of the run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowStat {
    pub start_s: f64,
    pub end_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    /// `(percentile in 0..=100, seconds)` for the percentiles thresholds on this length use.
    pub percentiles: Vec<(f64, f64)>,
}

impl WindowStat {
    /// The value `metric` takes in this window (NaN for a percentile not kept).
    pub fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Requests => self.requests as f64,
            Metric::Errors => self.errors as f64,
            Metric::ErrorRate if self.requests == 0 => 0.0,
            Metric::ErrorRate => self.errors as f64 / self.requests as f64,
            Metric::Rps => {
                let secs = self.end_s - self.start_s;
                if secs > 0.0 {
                    self.requests as f64 / secs
                } else {
                    0.0
                }
            }
            Metric::Latency(LatencyStat::Min) => self.min,
            Metric::Latency(LatencyStat::Mean) => self.mean,
            Metric::Latency(LatencyStat::Max) => self.max,
            Metric::Latency(LatencyStat::Percentile(p)) => self
                .percentiles
                .iter()
                .find(|(q, _)| (q - p).abs() < 1e-9)
                .map_or(f64::NAN, |(_, v)| *v),
        }
    }
}

/// The closed windows of one length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WindowSeries {
    pub len_s: u64,
    pub windows: Vec<WindowStat>,
    /// The final window when it was shorter than half the length: `(start_s, end_s)`, not
    /// judged (too few samples to say anything about that window).
    pub unjudged: Option<(f64, f64)>,
}

/// The open window of one length and the rows of those already closed.
pub(crate) struct WindowTrack {
    len: u64,
    /// Where window 0 starts (the end of the warmup), in seconds since the run's start.
    origin: f64,
    index: u64,
    hist: Histogram<u64>,
    requests: u64,
    errors: u64,
    percentiles: Vec<f64>,
    closed: Vec<WindowStat>,
}

impl WindowTrack {
    pub(crate) fn new(len: u64, origin: f64, percentiles: Vec<f64>, hist: Histogram<u64>) -> Self {
        WindowTrack {
            len: len.max(1),
            origin,
            index: 0,
            hist,
            requests: 0,
            errors: 0,
            percentiles,
            closed: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Keeps percentile `p` (0..=100) of each window.
    pub(crate) fn want_percentile(&mut self, p: f64) {
        if !self.percentiles.iter().any(|q| (q - p).abs() < 1e-9) {
            self.percentiles.push(p);
        }
    }

    fn start(&self) -> f64 {
        self.origin + (self.index * self.len) as f64
    }

    fn end(&self) -> f64 {
        self.start() + self.len as f64
    }

    /// A request that completed `t` seconds after the start (at or after the origin).
    pub(crate) fn record(&mut self, t: f64, micros: u64, error: bool) {
        self.roll_to(t);
        self.hist.saturating_record(micros);
        self.requests += 1;
        if error {
            self.errors += 1;
        }
    }

    /// Closes every window that ends at or before `t`.
    pub(crate) fn roll_to(&mut self, t: f64) {
        while t >= self.end() {
            let end = self.end();
            self.close(end);
        }
    }

    fn close(&mut self, end: f64) {
        let h = &self.hist;
        let s = |us: u64| us as f64 / 1e6;
        let (min, mean, max) = if h.is_empty() {
            (0.0, 0.0, 0.0)
        } else {
            (s(h.min()), h.mean() / 1e6, s(h.max()))
        };
        let percentiles = self
            .percentiles
            .iter()
            .map(|&p| {
                let v = if h.is_empty() {
                    0.0
                } else {
                    s(h.value_at_quantile(p / 100.0))
                };
                (p, v)
            })
            .collect();
        self.closed.push(WindowStat {
            start_s: self.start(),
            end_s: end,
            requests: self.requests,
            errors: self.errors,
            min,
            mean,
            max,
            percentiles,
        });
        self.hist.reset();
        self.requests = 0;
        self.errors = 0;
        self.index += 1;
    }

    /// Closes the windows up to `elapsed` (seconds since the start), the end of the run: a
    /// final partial window is judged when it lasted at least half the length.
    pub(crate) fn finish(mut self, elapsed: f64) -> WindowSeries {
        self.roll_to(elapsed);
        let start = self.start();
        let mut unjudged = None;
        if elapsed > start {
            if elapsed - start >= self.len as f64 / 2.0 {
                self.close(elapsed);
            } else {
                unjudged = Some((start, elapsed));
            }
        }
        WindowSeries {
            len_s: self.len,
            windows: self.closed,
            unjudged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(len: u64, origin: f64) -> WindowTrack {
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        WindowTrack::new(len, origin, vec![95.0], h)
    }

    #[test]
    fn windows_tumble_from_the_origin_and_keep_empty_ones() {
        let mut w = track(2, 1.0);
        w.record(1.2, 10_000, false);
        w.record(2.9, 20_000, true);
        // Nothing completes in [3, 5).
        w.record(5.5, 500_000, false);
        let s = w.finish(7.4);
        let spans: Vec<_> = s
            .windows
            .iter()
            .map(|w| (w.start_s, w.end_s, w.requests, w.errors))
            .collect();
        assert_eq!(
            spans,
            vec![(1.0, 3.0, 2, 1), (3.0, 5.0, 0, 0), (5.0, 7.0, 1, 0)]
        );
        assert_eq!(s.unjudged, Some((7.0, 7.4)), "0.4 s < half of 2 s");
        let first = &s.windows[0];
        assert_eq!(first.value(Metric::ErrorRate), 0.5);
        assert_eq!(first.value(Metric::Rps), 1.0);
        assert!((first.value(Metric::Latency(LatencyStat::Max)) - 0.020).abs() < 1e-4);
        assert!(
            (s.windows[2].value(Metric::Latency(LatencyStat::Percentile(95.0))) - 0.5).abs() < 1e-3
        );
        assert_eq!(s.windows[1].value(Metric::ErrorRate), 0.0, "empty window");
        assert!(first
            .value(Metric::Latency(LatencyStat::Percentile(50.0)))
            .is_nan());
    }

    #[test]
    fn a_final_window_of_at_least_half_the_length_is_judged_on_its_own_length() {
        let mut w = track(4, 0.0);
        w.record(0.5, 1_000, false);
        w.record(5.0, 1_000, false);
        w.record(5.5, 1_000, false);
        let s = w.finish(6.0);
        assert_eq!(s.unjudged, None);
        assert_eq!(s.windows.len(), 2);
        assert_eq!((s.windows[1].start_s, s.windows[1].end_s), (4.0, 6.0));
        assert_eq!(s.windows[1].value(Metric::Rps), 1.0, "2 requests in 2 s");
    }
}
