//! The one-shot summary with DESIGN's stable field names, built from the run's exact HDR
//! statistics, and the threshold verdicts that decide the exit code. The summary carries its
//! latency histograms (HdrHistogram V2 deflate, base64), so shard summaries merge exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::threshold::{LatencyStat, Metric};
use crate::config::Threshold;
use crate::metrics::stats::{EndpointStats, RunStats, TimelineRow};
use crate::outcome::ErrorKind;

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub expr: String,
    pub value: f64,
    pub passed: bool,
}

/// Which slice of a sharded run a summary covers: `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
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
    /// Arrivals not sent because `max_in_flight` was reached (the generator's limit).
    pub dropped: u64,
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

fn codes(map: &BTreeMap<u16, u64>) -> BTreeMap<String, u64> {
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
    }
}

impl Summary {
    /// Summarises `stats` for a run of `profile` that took `elapsed`.
    pub fn new(profile: &str, stats: &mut RunStats, elapsed: Duration) -> Summary {
        stats.finish(elapsed);
        let secs = elapsed.as_secs_f64();
        let mut merged = Histogram::<u64>::new_from(&stats.endpoints[0].latency);
        let mut status = BTreeMap::<u16, u64>::new();
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
            duration_s: secs,
            dropped: stats.dropped,
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
        }
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
        self.thresholds = thresholds
            .iter()
            .map(|t| {
                let value = self.value_of(t.metric);
                let bound = match t.baseline_factor {
                    Some(f) => baseline.map_or(f64::NAN, |b| b.value_of(t.metric) * f),
                    None => t.bound,
                };
                ThresholdResult {
                    expr: t.expr.clone(),
                    value,
                    passed: !bound.is_nan() && t.holds_within(value, bound),
                }
            })
            .collect();
        self.thresholds.iter().all(|t| t.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    #[tokio::test(start_paused = true)]
    async fn summary_merges_endpoints_and_checks_thresholds() {
        let stats = RunStats::new(&[("a".into(), "GET".into()), ("b".into(), "POST".into())]);
        let mut s = stats.lock().expect("lock");
        for i in 0..90 {
            s.record(
                0,
                Duration::from_millis(10 + i % 5),
                &Outcome {
                    status: Some(200),
                    error: None,
                    bytes_received: 1,
                },
            );
        }
        for _ in 0..10 {
            s.record(
                1,
                Duration::from_millis(500),
                &Outcome {
                    status: Some(503),
                    error: Some(ErrorKind::Status),
                    bytes_received: 1,
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
}
