//! The one-shot summary with DESIGN's stable field names, built from the run's exact HDR
//! statistics, and the threshold verdicts that decide the exit code. The summary carries its
//! latency histograms (HdrHistogram V2 deflate, base64), so shard summaries merge exactly.
//! Every figure but the timeline leaves out the warmup. A windowed threshold
//! (`p95<300ms over 1m`) is judged in each window of the run; its `value` is the worst window's.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::threshold::{LatencyStat, Metric};
use crate::config::Threshold;
use crate::engine::Shard;
use crate::metrics::stats::{EndpointStats, RunStats, TimelineRow};
use crate::metrics::window::WindowSeries;
use crate::outcome::{Code, ErrorKind};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointSummary {
    pub name: String,
    pub method: String,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub latency: Latency,
    pub status_codes: BTreeMap<String, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    /// This endpoint's latencies in microseconds; `None` only in files from older versions.
    #[serde(default, with = "hdr_base64")]
    pub histogram: Option<Histogram<u64>>,
    /// A streaming gRPC endpoint's messages inside its calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamMessages>,
}

/// The messages of a streaming gRPC endpoint's calls, as `loadtide_grpc_stream_messages_total`
/// counts them (a call is one request; these are what went inside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMessages {
    pub sent: u64,
    pub received: u64,
}

impl StreamMessages {
    pub fn add(&mut self, other: &StreamMessages) {
        self.sent += other.sent;
        self.received += other.received;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub expr: String,
    /// The observed value; for a windowed threshold, the worst window's.
    pub value: f64,
    pub passed: bool,
    /// Windowed thresholds only: every judged window, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<WindowResult>>,
}

/// One window of a windowed threshold, in seconds since the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    pub start_s: f64,
    pub end_s: f64,
    pub value: f64,
    pub passed: bool,
}

impl ThresholdResult {
    /// The windows in which a windowed threshold failed.
    pub fn failing_windows(&self) -> impl Iterator<Item = &WindowResult> {
        self.windows.iter().flatten().filter(|w| !w.passed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub profile: String,
    /// Unix time in seconds when the run started; aligns the timelines of shards.
    #[serde(default)]
    pub started_at: Option<f64>,
    /// The slice of a sharded run; `None` for an unsharded run or a merged summary.
    #[serde(default)]
    pub shard: Option<Shard>,
    #[serde(default)]
    pub seed: Option<u64>,
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub duration_s: f64,
    /// The first seconds of the run left out of every figure but the timeline.
    #[serde(default)]
    pub warmup_s: f64,
    /// Arrivals not sent: `max_in_flight` was reached (the generator's limit) or a `[safety]`
    /// cap refused them (`dropped_safety` of them).
    pub dropped: u64,
    /// Of `dropped`, those refused by the `[safety]` caps: the config's limit, not the
    /// generator's.
    #[serde(default)]
    pub dropped_safety: u64,
    /// Requests still in flight when the drain time ran out; not in any other figure.
    pub abandoned: u64,
    pub bytes_received: u64,
    pub latency: Latency,
    pub status_codes: BTreeMap<String, u64>,
    pub error_kinds: BTreeMap<String, u64>,
    pub endpoints: Vec<EndpointSummary>,
    pub thresholds: Vec<ThresholdResult>,
    pub timeline: Vec<TimelineRow>,
    /// All endpoints' latencies in microseconds; `None` only in files from older versions.
    #[serde(default, with = "hdr_base64")]
    pub histogram: Option<Histogram<u64>>,
    /// Scenario profiles: iterations and their durations (the steps are the endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioSummary>,
    /// Bottleneck hints with the figures they rest on (`report::findings`).
    #[serde(default)]
    pub findings: Vec<super::findings::Finding>,
    /// The closed windows of the windowed thresholds (not serialised: their verdicts are).
    #[serde(skip)]
    pub windows: Vec<WindowSeries>,
}

/// The iterations of a scenario run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub name: String,
    pub iterations: u64,
    pub successes: u64,
    pub failures: u64,
    /// Iterations per second over the run.
    pub rate: f64,
    /// Iteration durations, think times included.
    pub duration: Latency,
    #[serde(default, with = "hdr_base64")]
    pub histogram: Option<Histogram<u64>>,
}

impl ScenarioSummary {
    pub fn new(name: &str, stats: &RunStats, secs: f64) -> ScenarioSummary {
        let it = &stats.iterations;
        let n = it.success + it.failure;
        ScenarioSummary {
            name: name.to_string(),
            iterations: n,
            successes: it.success,
            failures: it.failure,
            rate: if secs > 0.0 { n as f64 / secs } else { 0.0 },
            duration: latency(&it.duration),
            histogram: Some(it.duration.clone()),
        }
    }
}

/// An HDR histogram as the base64 of its V2 deflate serialisation, the encoding other
/// HdrHistogram tools read (e.g. the `HISTFAAA…` strings of Java's histogram logs).
pub mod hdr_base64 {
    use base64::Engine as _;
    use hdrhistogram::serialization::{
        Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
    };
    use hdrhistogram::Histogram;
    use serde::{de, ser, Deserialize as _, Deserializer, Serializer};

    pub fn encode(h: &Histogram<u64>) -> Result<String, String> {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut buf)
            .map_err(|e| format!("cannot encode a histogram: {e}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    pub fn decode(s: &str) -> Result<Histogram<u64>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| format!("invalid histogram: not base64 ({e})"))?;
        HdrDeserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("invalid histogram: {e}"))
    }

    pub fn serialize<S: Serializer>(h: &Option<Histogram<u64>>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&encode(h).map_err(ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Histogram<u64>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| decode(&s).map_err(de::Error::custom))
            .transpose()
    }
}

/// Min, mean, percentiles and max of a histogram of microseconds, in seconds.
pub fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let s = |us: u64| us as f64 / 1e6;
    Latency {
        min: s(h.min()),
        mean: h.mean() / 1e6,
        p50: s(h.value_at_quantile(0.50)),
        p90: s(h.value_at_quantile(0.90)),
        p95: s(h.value_at_quantile(0.95)),
        p99: s(h.value_at_quantile(0.99)),
        p999: s(h.value_at_quantile(0.999)),
        max: s(h.max()),
    }
}

pub(crate) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn kinds(counts: &[u64]) -> BTreeMap<String, u64> {
    ErrorKind::ALL
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(k, &n)| (k.as_str().to_string(), n))
        .collect()
}

fn codes(map: &BTreeMap<Code, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

fn endpoint(e: &EndpointStats, secs: f64) -> EndpointSummary {
    EndpointSummary {
        name: e.name.clone(),
        method: e.method.clone(),
        requests: e.requests,
        errors: e.errors,
        error_rate: ratio(e.errors, e.requests),
        rps: if secs > 0.0 {
            e.requests as f64 / secs
        } else {
            0.0
        },
        latency: latency(&e.latency),
        status_codes: codes(&e.status_codes),
        error_kinds: kinds(&e.error_kinds),
        histogram: Some(e.latency.clone()),
        stream: None,
    }
}

impl Summary {
    /// Summarises `stats` for a run of `profile` that took `elapsed`.
    pub fn new(profile: &str, stats: &mut RunStats, elapsed: Duration) -> Summary {
        stats.finish(elapsed);
        let warmup = stats.warmup_s().min(elapsed.as_secs_f64());
        // Rates are over the measured part, after the warmup.
        let secs = elapsed.as_secs_f64() - warmup;
        let mut merged = Histogram::<u64>::new_from(&stats.endpoints[0].latency);
        let mut status = BTreeMap::<Code, u64>::new();
        let mut kind_counts = [0u64; ErrorKind::ALL.len()];
        let (mut requests, mut errors, mut bytes) = (0, 0, 0);
        for e in &stats.endpoints {
            merged
                .add(&e.latency)
                .expect("same bounds for every endpoint");
            for (c, n) in &e.status_codes {
                *status.entry(*c).or_default() += n;
            }
            for (t, n) in kind_counts.iter_mut().zip(e.error_kinds) {
                *t += n;
            }
            requests += e.requests;
            errors += e.errors;
            bytes += e.bytes_received;
        }
        Summary {
            profile: profile.to_string(),
            started_at: None,
            shard: None,
            seed: None,
            requests,
            successes: requests - errors,
            errors,
            error_rate: ratio(errors, requests),
            rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            duration_s: elapsed.as_secs_f64(),
            warmup_s: warmup,
            dropped: stats.dropped,
            dropped_safety: stats.dropped_safety,
            abandoned: 0,
            bytes_received: bytes,
            latency: latency(&merged),
            status_codes: codes(&status),
            error_kinds: kinds(&kind_counts),
            endpoints: stats.endpoints.iter().map(|e| endpoint(e, secs)).collect(),
            thresholds: Vec::new(),
            timeline: stats.timeline.clone(),
            histogram: Some(merged),
            scenario: None,
            findings: Vec::new(),
            windows: std::mem::take(&mut stats.window_series),
        }
    }

    /// Arrivals dropped at `max_in_flight`: `dropped` less what the `[safety]` caps refused.
    pub fn generator_dropped(&self) -> u64 {
        self.dropped.saturating_sub(self.dropped_safety)
    }

    /// The measured seconds: the duration less the warmup.
    pub fn measured_s(&self) -> f64 {
        (self.duration_s - self.warmup_s).max(0.0)
    }

    /// The observed value a threshold compares against.
    pub fn value_of(&self, metric: Metric) -> f64 {
        match metric {
            Metric::ErrorRate => self.error_rate,
            Metric::Rps => self.rps,
            Metric::Requests => self.requests as f64,
            Metric::Errors => self.errors as f64,
            Metric::Latency(stat) => {
                let Some(h) = self.histogram.as_ref().filter(|h| !h.is_empty()) else {
                    return 0.0;
                };
                match stat {
                    LatencyStat::Min => self.latency.min,
                    LatencyStat::Mean => self.latency.mean,
                    LatencyStat::Max => self.latency.max,
                    LatencyStat::Percentile(p) => h.value_at_quantile(p / 100.0) as f64 / 1e6,
                }
            }
        }
    }

    /// Evaluates `thresholds` into `self.thresholds`; true when all hold.
    pub fn check(&mut self, thresholds: &[Threshold]) -> bool {
        self.check_against(thresholds, None)
    }

    /// As `check`, with `baseline*F` thresholds bound by the same metric of `baseline` (they
    /// fail without one).
    pub fn check_against(&mut self, thresholds: &[Threshold], baseline: Option<&Summary>) -> bool {
        let results = thresholds
            .iter()
            .map(|t| {
                let bound = match t.baseline_factor {
                    Some(f) => baseline.map_or(f64::NAN, |b| b.value_of(t.metric) * f),
                    None => t.bound,
                };
                if t.window.is_some() {
                    return self.check_windows(t, bound);
                }
                let value = self.value_of(t.metric);
                ThresholdResult {
                    expr: t.expr.clone(),
                    value,
                    passed: !bound.is_nan() && t.holds_within(value, bound),
                    windows: None,
                }
            })
            .collect();
        self.thresholds = results;
        self.thresholds.iter().all(|t| t.passed)
    }

    /// A windowed threshold: judged in each window of its length; the value is the worst
    /// window's. Without the run's windows (a summary read back from JSON, as `merge` does)
    /// the verdict already in the summary is kept; with none to keep, or no window long enough
    /// to judge, it fails.
    fn check_windows(&self, t: &Threshold, bound: f64) -> ThresholdResult {
        let Some(series) = self.windows.iter().find(|s| Some(s.len_s) == t.window) else {
            return self
                .thresholds
                .iter()
                .find(|r| r.expr == t.expr && r.windows.is_some())
                .cloned()
                .unwrap_or_else(|| ThresholdResult {
                    expr: t.expr.clone(),
                    value: 0.0,
                    passed: false,
                    windows: Some(Vec::new()),
                });
        };
        let windows: Vec<WindowResult> = series
            .windows
            .iter()
            .map(|w| {
                let value = w.value(t.metric);
                WindowResult {
                    start_s: w.start_s,
                    end_s: w.end_s,
                    value,
                    passed: !bound.is_nan() && !value.is_nan() && t.holds_within(value, bound),
                }
            })
            .collect();
        let values = windows.iter().map(|w| w.value).filter(|v| !v.is_nan());
        let worst = if t.is_upper_bound() {
            values.fold(f64::NEG_INFINITY, f64::max)
        } else {
            values.fold(f64::INFINITY, f64::min)
        };
        ThresholdResult {
            expr: t.expr.clone(),
            value: if worst.is_finite() { worst } else { 0.0 },
            passed: !windows.is_empty() && windows.iter().all(|w| w.passed),
            windows: Some(windows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Code, Outcome};

    #[tokio::test(start_paused = true)]
    async fn summary_merges_endpoints_and_checks_thresholds() {
        let stats = RunStats::new(&[("a".into(), "GET".into()), ("b".into(), "POST".into())]);
        let mut s = stats.lock().expect("lock");
        for i in 0..90 {
            s.record(
                0,
                Duration::from_millis(10 + i % 5),
                &Outcome {
                    code: Some(Code::Http(200)),
                    error: None,
                    bytes_received: 1,
                    trace: None,
                },
            );
        }
        for _ in 0..10 {
            s.record(
                1,
                Duration::from_millis(500),
                &Outcome {
                    code: Some(Code::Http(503)),
                    error: Some(ErrorKind::Status),
                    bytes_received: 1,
                    trace: None,
                },
            );
        }
        let mut sum = Summary::new("p", &mut s, Duration::from_secs(10));
        assert_eq!((sum.requests, sum.errors, sum.successes), (100, 10, 90));
        assert!((sum.error_rate - 0.1).abs() < 1e-12);
        assert!((sum.rps - 10.0).abs() < 1e-12);
        assert_eq!(sum.status_codes["503"], 10);
        assert_eq!(sum.error_kinds["status"], 10);
        assert!(
            (sum.latency.p50 - 0.012).abs() < 0.0005,
            "{}",
            sum.latency.p50
        );
        assert!((sum.latency.p95 - 0.5).abs() < 0.001, "{}", sum.latency.p95);
        assert_eq!(sum.endpoints[1].requests, 10);
        let ts: Vec<Threshold> = ["p50<20ms", "p95<100ms", "error_rate<=10%", "rps>10"]
            .iter()
            .map(|t| t.parse().expect("valid"))
            .collect();
        assert!(!sum.check(&ts));
        let passed: Vec<bool> = sum.thresholds.iter().map(|t| t.passed).collect();
        assert_eq!(passed, vec![true, false, true, false]);
    }

    /// Advances the paused clock to `at` seconds after `t0` and records `n` requests of
    /// `ms` milliseconds (`errors` of them failed).
    async fn burst(
        stats: &crate::metrics::SharedStats,
        t0: tokio::time::Instant,
        at: f64,
        n: u32,
        ms: u64,
        errors: u32,
    ) {
        tokio::time::advance((t0 + Duration::from_secs_f64(at)) - tokio::time::Instant::now())
            .await;
        let mut s = stats.lock().expect("lock");
        for i in 0..n {
            let failed = i < errors;
            s.record(
                0,
                Duration::from_millis(ms),
                &Outcome {
                    code: Some(Code::Http(if failed { 500 } else { 200 })),
                    error: failed.then_some(ErrorKind::Status),
                    bytes_received: 1,
                    trace: None,
                },
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn windowed_thresholds_fail_in_the_slow_window_only_and_the_warmup_is_left_out() {
        let t0 = tokio::time::Instant::now();
        let stats = RunStats::new(&[("a".into(), "GET".into())]);
        let ts: Vec<Threshold> = [
            "p95<100ms",
            "p95<100ms over 2s",
            "max<1s over 2s",
            "error_rate<5% over 2s",
            "rps>=15 over 2s",
            "requests>=1 over 4s",
        ]
        .iter()
        .map(|t| t.parse().expect("valid"))
        .collect();
        stats
            .lock()
            .expect("lock")
            .measure(Duration::from_secs(1), &ts);
        // Warmup: very slow and failing, left out of everything but the timeline.
        burst(&stats, t0, 0.5, 10, 2_000, 10).await;
        // Windows [1,3) [3,5) [5,7) of 2 s after the 1 s warmup, then [7,7.5) unjudged.
        // Three slow requests and three errors in [3,5) only: 13% of that window, 2.4% overall.
        for sec in 1..7 {
            if sec == 4 {
                burst(&stats, t0, 4.2, 3, 500, 3).await;
            }
            burst(&stats, t0, f64::from(sec) + 0.5, 20, 10, 0).await;
        }
        burst(&stats, t0, 7.2, 1, 10, 0).await;
        let mut s = stats.lock().expect("lock");
        let mut sum = Summary::new("p", &mut s, Duration::from_millis(7_500));
        assert_eq!(sum.requests, 20 * 6 + 3 + 1, "warmup requests left out");
        assert_eq!(sum.warmup_s, 1.0);
        assert!(
            (sum.rps - 124.0 / 6.5).abs() < 1e-9,
            "rate over the measured 6.5 s"
        );
        assert_eq!(
            sum.timeline[0].requests, 10,
            "the timeline shows the warmup"
        );
        assert!(!sum.check(&ts));
        let r = &sum.thresholds;
        assert!(r[0].passed, "whole run p95 {}", r[0].value);
        assert!(r[0].windows.is_none());
        let spans: Vec<(f64, f64, bool)> = r[1]
            .windows
            .as_ref()
            .expect("windowed")
            .iter()
            .map(|w| (w.start_s, w.end_s, w.passed))
            .collect();
        assert_eq!(
            spans,
            vec![(1.0, 3.0, true), (3.0, 5.0, false), (5.0, 7.0, true)]
        );
        assert!(!r[1].passed);
        assert!(
            (r[1].value - 0.5).abs() < 0.001,
            "worst window: {}",
            r[1].value
        );
        let failing: Vec<f64> = r[1].failing_windows().map(|w| w.start_s).collect();
        assert_eq!(failing, vec![3.0]);
        assert!(r[2].passed, "max 500ms < 1s in every window");
        assert!(!r[3].passed, "3 errors of 43 in [3,5)");
        assert!((r[3].value - 3.0 / 43.0).abs() < 1e-9, "{}", r[3].value);
        // rps>=15: lower bound, so the worst window is the slowest one.
        assert!(r[4].passed, "{}", r[4].value);
        assert!((r[4].value - 20.0).abs() < 1e-9, "{}", r[4].value);
        // 4 s windows: [1,5) and [5,7.5) (2.5 s >= half of 4 s, judged).
        let w4 = r[5].windows.as_ref().expect("windowed");
        assert_eq!(w4.len(), 2);
        assert_eq!((w4[1].start_s, w4[1].end_s, w4[1].value), (5.0, 7.5, 41.0));
        // JSON: windowed entries carry their windows, whole-run ones do not.
        let json: serde_json::Value = serde_json::to_value(&sum).expect("json");
        assert!(json["thresholds"][0].get("windows").is_none());
        assert_eq!(json["thresholds"][1]["windows"][1]["passed"], false);
        assert_eq!(json["thresholds"][1]["windows"][1]["start_s"], 3.0);
        // Read back (as merge does), the verdicts are kept rather than lost.
        let mut back: Summary = serde_json::from_value(json).expect("read back");
        assert!(!back.check(&ts));
        assert_eq!(back.thresholds, sum.thresholds);
    }

    #[test]
    fn a_windowed_threshold_with_no_window_to_judge_fails() {
        let mut sum: Summary = serde_json::from_value(serde_json::json!({
            "profile": "p", "requests": 0, "successes": 0, "errors": 0, "error_rate": 0.0,
            "rps": 0.0, "duration_s": 0.4, "dropped": 0, "abandoned": 0, "bytes_received": 0,
            "latency": Latency::default(), "status_codes": {}, "error_kinds": {},
            "endpoints": [], "thresholds": [], "timeline": []
        }))
        .expect("summary");
        let t: Threshold = "p95<1s over 1s".parse().expect("valid");
        assert!(!sum.check(&[t]));
        assert_eq!(sum.thresholds[0].windows, Some(Vec::new()));
    }
}
