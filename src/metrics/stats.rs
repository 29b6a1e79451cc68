//! Exact statistics for a one-shot run: an HDR histogram per endpoint (exact percentiles for
//! the summary and thresholds), a per-second timeline, and the tumbling windows of windowed
//! thresholds (`window.rs`). Memory is fixed per endpoint and per window length, and grows by
//! one small row per second (and per closed window) of run time, never per request. Requests
//! completing during the warmup appear in the timeline only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::window::{WindowSeries, WindowTrack};
use crate::config::threshold::{LatencyStat, Metric};
use crate::config::Threshold;
use crate::outcome::{Code, ErrorKind, Outcome};

/// Latencies are recorded in microseconds, from 1 µs to one hour, at 3 significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

pub type SharedStats = Arc<Mutex<RunStats>>;

pub struct EndpointStats {
    pub name: String,
    pub method: String,
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    pub status_codes: BTreeMap<Code, u64>,
    pub error_kinds: [u64; ErrorKind::ALL.len()],
    pub bytes_received: u64,
}

/// One second of the run, closed when the first request of a later second completes (or the
/// next in-flight sample is taken). Requests count in the second they complete in.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimelineRow {
    /// Seconds since the start of the run.
    pub t: u64,
    pub requests: u64,
    /// Achieved: requests completed per second.
    pub rps: f64,
    pub errors: u64,
    pub p50: f64,
    #[serde(default)]
    pub p90: f64,
    pub p99: f64,
    #[serde(default)]
    pub max: f64,
    /// Open model: the pattern's arrival rate that second (mean of samples every 100 ms);
    /// absent for the closed model, whose pattern is users rather than a rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rps: Option<f64>,
    /// Requests in flight: the highest of the samples taken every 100 ms that second.
    #[serde(default)]
    pub in_flight: u64,
    /// Errors that second by kind (kinds with none left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_kinds: BTreeMap<String, u64>,
}

/// Samples of the in-flight gauge and the intended rate are taken this often.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Scenario iterations of a one-shot run.
pub struct IterationStats {
    pub duration: Histogram<u64>,
    pub success: u64,
    pub failure: u64,
}

pub struct RunStats {
    started: tokio::time::Instant,
    pub iterations: IterationStats,
    pub endpoints: Vec<EndpointStats>,
    pub dropped: u64,
    /// Of `dropped`, those refused by the `[safety]` caps (not the generator's limit).
    pub dropped_safety: u64,
    second: u64,
    second_hist: Histogram<u32>,
    second_errors: u64,
    second_kinds: [u64; ErrorKind::ALL.len()],
    second_in_flight: u64,
    /// Sum and count of the intended-rate samples this second.
    second_intended: (f64, u32),
    pub timeline: Vec<TimelineRow>,
    /// Seconds since the start before which requests count in the timeline only.
    warmup: f64,
    windows: Vec<WindowTrack>,
    /// The windows of each length thresholds use, filled in by `finish`.
    pub window_series: Vec<WindowSeries>,
}

pub(crate) fn latency_histogram<T: hdrhistogram::Counter>(sigfig: u8) -> Histogram<T> {
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("static histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MICROS)
}

impl RunStats {
    /// Stats for endpoints named `(name, method)`, starting the clock now.
    pub fn new(endpoints: &[(String, String)]) -> SharedStats {
        Arc::new(Mutex::new(RunStats {
            started: tokio::time::Instant::now(),
            endpoints: endpoints
                .iter()
                .map(|(name, method)| EndpointStats {
                    name: name.clone(),
                    method: method.clone(),
                    latency: latency_histogram(3),
                    requests: 0,
                    errors: 0,
                    status_codes: BTreeMap::new(),
                    error_kinds: [0; ErrorKind::ALL.len()],
                    bytes_received: 0,
                })
                .collect(),
            iterations: IterationStats {
                duration: latency_histogram(3),
                success: 0,
                failure: 0,
            },
            dropped: 0,
            dropped_safety: 0,
            second: 0,
            second_hist: latency_histogram(2),
            second_errors: 0,
            second_kinds: [0; ErrorKind::ALL.len()],
            second_in_flight: 0,
            second_intended: (0.0, 0),
            timeline: Vec::new(),
            warmup: 0.0,
            windows: Vec::new(),
            window_series: Vec::new(),
        }))
    }

    /// Leaves the first `warmup` of the run out of everything but the timeline, and keeps the
    /// windows (aligned to the end of the warmup) that the windowed `thresholds` need.
    pub fn measure(&mut self, warmup: Duration, thresholds: &[Threshold]) {
        self.warmup = warmup.as_secs_f64();
        self.windows.clear();
        for t in thresholds {
            let Some(len) = t.window else { continue };
            let i = match self.windows.iter().position(|w| w.len() == len) {
                Some(i) => i,
                None => {
                    self.windows.push(WindowTrack::new(
                        len,
                        self.warmup,
                        Vec::new(),
                        latency_histogram(3),
                    ));
                    self.windows.len() - 1
                }
            };
            if let Metric::Latency(LatencyStat::Percentile(p)) = t.metric {
                self.windows[i].want_percentile(p);
            }
        }
    }

    /// The warmup, in seconds.
    pub fn warmup_s(&self) -> f64 {
        self.warmup
    }

    /// True while the warmup lasts, `t` seconds after the start.
    fn warming_up(&self, t: f64) -> bool {
        t < self.warmup
    }

    pub fn record(&mut self, idx: usize, latency: Duration, outcome: &Outcome) {
        let elapsed = self.started.elapsed();
        self.roll_to(elapsed.as_secs());
        let us = micros(latency);
        self.second_hist.saturating_record(us);
        if let Some(k) = outcome.error {
            self.second_errors += 1;
            self.second_kinds[k.index()] += 1;
        }
        let t = elapsed.as_secs_f64();
        if self.warming_up(t) {
            return;
        }
        for w in &mut self.windows {
            w.record(t, us, outcome.error.is_some());
        }
        let e = &mut self.endpoints[idx];
        e.latency.saturating_record(us);
        e.requests += 1;
        e.bytes_received += outcome.bytes_received;
        if let Some(s) = outcome.code {
            *e.status_codes.entry(s).or_default() += 1;
        }
        if let Some(k) = outcome.error {
            e.errors += 1;
            e.error_kinds[k.index()] += 1;
        }
    }

    /// An arrival dropped at `max_in_flight` (not counted during the warmup).
    pub fn dropped(&mut self) {
        if !self.warming_up(self.started.elapsed().as_secs_f64()) {
            self.dropped += 1;
        }
    }

    /// An arrival dropped by a `[safety]` cap: counted in `dropped` and `dropped_safety`.
    pub fn dropped_by_safety(&mut self) {
        if !self.warming_up(self.started.elapsed().as_secs_f64()) {
            self.dropped += 1;
            self.dropped_safety += 1;
        }
    }

    /// A sample of the requests in flight and the intended rate (None: closed model), taken
    /// every `SAMPLE_EVERY`.
    pub fn sample(&mut self, in_flight: u64, intended_rps: Option<f64>) {
        self.roll_to(self.started.elapsed().as_secs());
        self.second_in_flight = self.second_in_flight.max(in_flight);
        if let Some(r) = intended_rps {
            self.second_intended.0 += r;
            self.second_intended.1 += 1;
        }
    }

    pub fn iteration(&mut self, took: Duration, ok: bool) {
        if self.warming_up(self.started.elapsed().as_secs_f64()) {
            return;
        }
        self.iterations.duration.saturating_record(micros(took));
        if ok {
            self.iterations.success += 1;
        } else {
            self.iterations.failure += 1;
        }
    }

    /// Closes every second before `now` (seconds since start) into timeline rows.
    pub fn roll_to(&mut self, now: u64) {
        while self.second < now {
            let h = &self.second_hist;
            let n = h.len();
            let q = |p: f64| {
                if n == 0 {
                    0.0
                } else {
                    h.value_at_quantile(p) as f64 / 1e6
                }
            };
            let (sum, count) = self.second_intended;
            self.timeline.push(TimelineRow {
                t: self.second,
                requests: n,
                rps: n as f64,
                errors: self.second_errors,
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                max: if n == 0 { 0.0 } else { h.max() as f64 / 1e6 },
                intended_rps: (count > 0).then(|| sum / f64::from(count)),
                in_flight: self.second_in_flight,
                error_kinds: ErrorKind::ALL
                    .iter()
                    .zip(self.second_kinds)
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| (k.as_str().to_string(), n))
                    .collect(),
            });
            self.second_hist.reset();
            self.second_errors = 0;
            self.second_kinds = [0; ErrorKind::ALL.len()];
            self.second_in_flight = 0;
            self.second_intended = (0.0, 0);
            self.second += 1;
        }
    }

    /// Closes the last, possibly partial, second at the end of a run.
    pub fn finish(&mut self, elapsed: Duration) {
        self.window_series = std::mem::take(&mut self.windows)
            .into_iter()
            .map(|w| w.finish(elapsed.as_secs_f64()))
            .collect();
        self.roll_to(elapsed.as_secs());
        let frac = elapsed.as_secs_f64() - elapsed.as_secs() as f64;
        // Only when requests completed in it: samples alone (taken while the last requests
        // drain) would add a row of nothing at the end of every chart.
        if !self.second_hist.is_empty() {
            self.roll_to(self.second + 1);
            if let Some(last) = self.timeline.last_mut() {
                if frac > 0.05 {
                    last.rps = last.requests as f64 / frac;
                }
            }
        }
    }

    /// Forgets everything recorded so far and restarts the clock: a capacity level's
    /// stabilize period is left out of its figures this way.
    pub fn reset(&mut self) {
        self.started = tokio::time::Instant::now();
        for e in &mut self.endpoints {
            e.latency.reset();
            e.requests = 0;
            e.errors = 0;
            e.status_codes.clear();
            e.error_kinds = [0; ErrorKind::ALL.len()];
            e.bytes_received = 0;
        }
        self.iterations.duration.reset();
        self.iterations.success = 0;
        self.iterations.failure = 0;
        self.dropped = 0;
        self.dropped_safety = 0;
        self.second = 0;
        self.second_hist.reset();
        self.second_errors = 0;
        self.timeline.clear();
    }

    /// Requests and errors so far, and the p99 of the last complete second (for live progress).
    pub fn progress(&self) -> (u64, u64, Option<f64>) {
        let requests = self.endpoints.iter().map(|e| e.requests).sum();
        let errors = self.endpoints.iter().map(|e| e.errors).sum();
        (requests, errors, self.timeline.last().map(|r| r.p99))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16) -> Outcome {
        Outcome {
            code: Some(Code::Http(status)),
            error: None,
            bytes_received: 10,
            trace: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeline_has_one_row_per_second_including_empty_ones() {
        let stats = RunStats::new(&[("a".into(), "GET".into())]);
        {
            let mut s = stats.lock().expect("lock");
            s.record(0, Duration::from_millis(10), &ok(200));
            s.record(0, Duration::from_millis(30), &ok(200));
        }
        tokio::time::advance(Duration::from_millis(2_500)).await;
        let mut s = stats.lock().expect("lock");
        s.record(
            0,
            Duration::from_millis(20),
            &Outcome::failed(ErrorKind::Timeout),
        );
        s.finish(Duration::from_millis(2_500));
        let rows: Vec<_> = s
            .timeline
            .iter()
            .map(|r| (r.t, r.requests, r.errors))
            .collect();
        assert_eq!(rows, vec![(0, 2, 0), (1, 0, 0), (2, 1, 1)]);
        assert!(
            (s.timeline[2].rps - 2.0).abs() < 1e-9,
            "a half second with one request is 2 rps"
        );
        assert!((s.timeline[0].p99 - 0.030).abs() < 0.001);
        let e = &s.endpoints[0];
        assert_eq!(
            (e.requests, e.errors, e.status_codes[&Code::Http(200)]),
            (3, 1, 2)
        );
        assert_eq!(e.error_kinds[ErrorKind::Timeout.index()], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rows_carry_intended_rate_in_flight_latency_and_errors_by_kind() {
        let stats = RunStats::new(&[("a".into(), "GET".into())]);
        {
            let mut s = stats.lock().expect("lock");
            s.sample(3, Some(10.0));
            for ms in 1..=100 {
                s.record(0, Duration::from_millis(ms), &ok(200));
            }
            s.record(
                0,
                Duration::from_millis(5),
                &Outcome::failed(ErrorKind::Reset),
            );
            s.record(
                0,
                Duration::from_millis(5),
                &Outcome::failed(ErrorKind::Timeout),
            );
        }
        tokio::time::advance(Duration::from_millis(500)).await;
        stats.lock().expect("lock").sample(7, Some(20.0));
        tokio::time::advance(Duration::from_millis(600)).await;
        let mut s = stats.lock().expect("lock");
        s.sample(1, Some(30.0));
        s.finish(Duration::from_millis(1_100));
        let r = &s.timeline[0];
        assert_eq!(r.in_flight, 7, "the highest sample of the second");
        assert_eq!(
            r.intended_rps,
            Some(15.0),
            "the mean of the second's samples"
        );
        assert!((r.p90 - 0.090).abs() < 0.001, "{}", r.p90);
        assert!((r.max - 0.100).abs() < 0.001, "{}", r.max);
        assert!(r.p50 <= r.p90 && r.p90 <= r.p99 && r.p99 <= r.max);
        let kinds: Vec<(&str, u64)> = r
            .error_kinds
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect();
        assert_eq!(kinds, vec![("reset", 1), ("timeout", 1)]);
        assert_eq!(
            s.timeline.len(),
            1,
            "a last second with samples only adds no row"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_warmup_counts_in_the_timeline_only() {
        let stats = RunStats::new(&[("a".into(), "GET".into())]);
        stats
            .lock()
            .expect("lock")
            .measure(Duration::from_secs(1), &[]);
        stats
            .lock()
            .expect("lock")
            .record(0, Duration::from_millis(10), &ok(200));
        stats.lock().expect("lock").dropped();
        tokio::time::advance(Duration::from_millis(1_500)).await;
        let mut s = stats.lock().expect("lock");
        s.record(0, Duration::from_millis(10), &ok(200));
        s.dropped();
        s.finish(Duration::from_secs(2));
        assert_eq!((s.endpoints[0].requests, s.dropped), (1, 1));
        let rows: Vec<u64> = s.timeline.iter().map(|r| r.requests).collect();
        assert_eq!(rows, vec![1, 1]);
    }
}
