//! Pre-resolved metric handles for one running profile. Built once when the profile starts;
//! `record` then costs atomic adds only (plus one uncontended lock in one-shot mode, where
//! exact HDR percentiles are also kept).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{Gauge, Histogram, IntCounter, IntCounterVec, IntGauge};

use super::grpc_stream::StreamSeries;
use super::names::{DROP_MAX_IN_FLIGHT, DROP_SAFETY_MAX_IN_FLIGHT, DROP_SAFETY_MAX_RATE};
use super::websocket::WsRecorder;
use super::{Metrics, SharedStats};
use crate::config::Profile;
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};

const FIRST_CODE: u16 = 100;
const CODES: usize = 500;

pub struct EndpointRecorder {
    duration: Histogram,
    /// `loadtide_responses_total` by HTTP status, resolved on the first response with it.
    responses: Box<[OnceLock<IntCounter>]>,
    /// The same for the other protocols' named codes.
    named: Box<[OnceLock<IntCounter>]>,
    responses_vec: IntCounterVec,
    labels: [String; 5],
    errors: Vec<IntCounter>,
    request_bytes: u64,
    /// Whether its configured headers hold a `traceparent` (none is added then).
    own_traceparent: bool,
    exemplars: Arc<super::exemplars::SeriesExemplars>,
}

impl EndpointRecorder {
    /// The handles of endpoint `idx` of `profile`'s target.
    fn new(metrics: &Metrics, profile: &Profile, idx: usize) -> Self {
        let target = &profile.target;
        let e = &target.endpoints[idx];
        let values = [
            profile.name.as_str(),
            target.name.as_str(),
            e.name.as_str(),
            e.method.as_str(),
            target.scheme.protocol(),
        ];
        EndpointRecorder {
            duration: metrics.duration.series(
                super::names::ENDPOINT_LABELS,
                &values,
                &target.buckets,
            ),
            responses: (0..CODES).map(|_| OnceLock::new()).collect(),
            named: (0..NamedCode::COUNT).map(|_| OnceLock::new()).collect(),
            responses_vec: metrics.responses.clone(),
            labels: values.map(str::to_string),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| {
                    metrics
                        .errors
                        .with_label_values(&[&values[..], &[k.as_str()]].concat())
                })
                .collect(),
            request_bytes: target.request_size(e),
            own_traceparent: target.request_headers(e).contains_key("traceparent"),
            exemplars: metrics.exemplars.series(&values, &target.buckets),
        }
    }

    fn response(&self, code: Code) -> Option<&IntCounter> {
        let slot = match code {
            Code::Http(status) => self
                .responses
                .get(usize::from(status.checked_sub(FIRST_CODE)?))?,
            Code::Named(name) => self.named.get(name.index())?,
        };
        Some(slot.get_or_init(|| {
            let [p, t, e, m, proto] = &self.labels;
            self.responses_vec
                .with_label_values(&[p.as_str(), t, e, m, proto, &code.to_string()])
        }))
    }
}

/// Why an arrival was not sent: the `reason` label of `loadtide_dropped_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The profile's own `max_in_flight` (or `max_connections`).
    MaxInFlight,
    /// `safety.max_rate`, across all profiles.
    SafetyMaxRate,
    /// `safety.max_in_flight`, across all profiles.
    SafetyMaxInFlight,
}

/// Why a brake tripped: the `reason` label of `loadtide_brake_trips_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripReason {
    ErrorRatio,
    P99,
}

impl TripReason {
    pub fn as_str(self) -> &'static str {
        match self {
            TripReason::ErrorRatio => "error_ratio",
            TripReason::P99 => "p99",
        }
    }
}

/// Running totals the brake samples once a second: requests finished, failed ones, and those
/// slower than its `max_p99`. Three relaxed atomic adds per request, only for braked profiles.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BrakeTotals {
    pub requests: u64,
    pub errors: u64,
    pub slow: u64,
}

struct BrakeSeries {
    requests: AtomicU64,
    errors: AtomicU64,
    slow: AtomicU64,
    /// Latencies above this count as slow (u64::MAX: no p99 limit).
    slow_ns: u64,
    engaged: IntGauge,
    error_ratio: IntCounter,
    p99: IntCounter,
}

struct ScenarioSeries {
    duration: Histogram,
    success: IntCounter,
    failure: IntCounter,
}

pub struct ProfileRecorder {
    /// Indexed like the target's endpoints; `None` for those the profile does not use, which
    /// get no series at all.
    endpoints: Vec<Option<EndpointRecorder>>,
    in_flight: IntGauge,
    dropped: IntCounter,
    dropped_safety_rate: IntCounter,
    dropped_safety_in_flight: IntCounter,
    refused: IntCounter,
    /// Bytes each request adds for its `traceparent` (0 while requests carry none).
    trace_bytes: std::sync::atomic::AtomicU64,
    conn: super::connection::ConnProbe,
    brake: Option<BrakeSeries>,
    lag: Histogram,
    intended_rps: Gauge,
    virtual_users: IntGauge,
    active: IntGauge,
    next_start: Gauge,
    /// Per endpoint (scenario step), per check: (pass, fail).
    checks: Vec<Vec<(IntCounter, IntCounter)>>,
    scenario: Option<ScenarioSeries>,
    bytes_sent: IntCounter,
    bytes_received: IntCounter,
    stats: Option<SharedStats>,
    /// Set for a WebSocket target's profile.
    websocket: Option<WsRecorder>,
    /// Indexed like the target's endpoints: the streaming gRPC ones the profile uses.
    grpc_streams: Vec<Option<StreamSeries>>,
}

impl ProfileRecorder {
    /// Handles for `profile`'s series; `stats` is set in one-shot mode.
    pub fn new(metrics: &Metrics, profile: &Profile, stats: Option<SharedStats>) -> Arc<Self> {
        let p = profile.name.as_str();
        let t = profile.target.name.as_str();
        let endpoints = (0..profile.target.endpoints.len())
            .map(|idx| {
                profile
                    .endpoints
                    .contains(&idx)
                    .then(|| EndpointRecorder::new(metrics, profile, idx))
            })
            .collect();
        // Make every series visible at 0 from the start: alerts on `rate()` need a baseline.
        let dropped = metrics.dropped.with_label_values(&[p, DROP_MAX_IN_FLIGHT]);
        let dropped_safety_rate = metrics
            .dropped
            .with_label_values(&[p, DROP_SAFETY_MAX_RATE]);
        let dropped_safety_in_flight = metrics
            .dropped
            .with_label_values(&[p, DROP_SAFETY_MAX_IN_FLIGHT]);
        let brake = profile.brake.as_ref().map(|b| BrakeSeries {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            slow_ns: b.max_p99.map_or(u64::MAX, |d| {
                u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
            }),
            engaged: metrics.brake_engaged.with_label_values(&[p]),
            error_ratio: metrics
                .brake_trips
                .with_label_values(&[p, TripReason::ErrorRatio.as_str()]),
            p99: metrics
                .brake_trips
                .with_label_values(&[p, TripReason::P99.as_str()]),
        });
        let checks = (0..profile.target.endpoints.len())
            .map(|idx| {
                let Some(step) = profile.scenario.as_ref().and_then(|s| s.request(idx)) else {
                    return Vec::new();
                };
                let e = profile.target.endpoints[idx].name.as_str();
                step.check_names()
                    .iter()
                    .map(|c| {
                        let series = |r| metrics.checks.with_label_values(&[p, t, e, c, r]);
                        (series("pass"), series("fail"))
                    })
                    .collect()
            })
            .collect();
        let scenario = profile.scenario.as_ref().map(|s| {
            let n = s.name.as_str();
            ScenarioSeries {
                duration: metrics.scenario_duration.with_label_values(&[p, n]),
                success: metrics
                    .scenario_iterations
                    .with_label_values(&[p, n, "success"]),
                failure: metrics
                    .scenario_iterations
                    .with_label_values(&[p, n, "failure"]),
            }
        });
        let grpc_streams = (0..profile.target.endpoints.len())
            .map(|idx| {
                profile
                    .endpoints
                    .contains(&idx)
                    .then(|| StreamSeries::new(&metrics.grpc_stream, profile, idx))
                    .flatten()
            })
            .collect();
        Arc::new(ProfileRecorder {
            grpc_streams,
            checks,
            scenario,
            endpoints,
            in_flight: metrics.in_flight.with_label_values(&[p, t]),
            dropped,
            dropped_safety_rate,
            dropped_safety_in_flight,
            refused: metrics.safety_refused.with_label_values(&[p, t]),
            trace_bytes: Default::default(),
            conn: metrics.conn.probe(
                p,
                &profile.target,
                metrics.safety_refused.with_label_values(&[p, t]),
            ),
            brake,
            lag: metrics.scheduler_lag.with_label_values(&[p]),
            intended_rps: metrics.intended_rps.with_label_values(&[p]),
            virtual_users: metrics.virtual_users.with_label_values(&[p]),
            active: metrics.profile_active.with_label_values(&[p]),
            next_start: metrics.next_start.with_label_values(&[p]),
            bytes_sent: metrics.bytes_sent.with_label_values(&[p, t]),
            bytes_received: metrics.bytes_received.with_label_values(&[p, t]),
            websocket: profile
                .target
                .websocket
                .as_ref()
                .map(|_| WsRecorder::new(&metrics.ws, profile, stats.clone())),
            stats,
        })
    }

    /// Records a finished request to endpoint `idx` that took `latency`.
    pub fn record(&self, idx: usize, latency: Duration, outcome: &Outcome) {
        let ep = self.endpoints[idx]
            .as_ref()
            .expect("the executor picks only the profile's endpoints");
        ep.duration.observe(latency.as_secs_f64());
        if let Some(c) = outcome.code.and_then(|s| ep.response(s)) {
            c.inc();
        }
        if let Some(k) = outcome.error {
            ep.errors[k.index()].inc();
        }
        let traceparent = if ep.own_traceparent {
            0
        } else {
            self.trace_bytes.load(Ordering::Relaxed)
        };
        self.bytes_sent.inc_by(ep.request_bytes + traceparent);
        if let Some(trace) = outcome.trace {
            ep.exemplars
                .record(latency.as_secs_f64(), trace, outcome.error);
        }
        self.bytes_received.inc_by(outcome.bytes_received);
        if let Some(b) = &self.brake {
            b.requests.fetch_add(1, Ordering::Relaxed);
            if outcome.error.is_some() {
                b.errors.fetch_add(1, Ordering::Relaxed);
            }
            if latency.as_nanos() > u128::from(b.slow_ns) {
                b.slow.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(s) = &self.stats {
            s.lock()
                .expect("stats lock poisoned")
                .record(idx, latency, outcome);
        }
    }

    /// A request that could not start because `max_in_flight` requests were outstanding.
    pub fn dropped(&self) {
        self.dropped_for(DropReason::MaxInFlight);
    }

    /// A request that could not start, for `reason`.
    pub fn dropped_for(&self, reason: DropReason) {
        match reason {
            DropReason::MaxInFlight => &self.dropped,
            DropReason::SafetyMaxRate => &self.dropped_safety_rate,
            DropReason::SafetyMaxInFlight => &self.dropped_safety_in_flight,
        }
        .inc();
        if let Some(s) = &self.stats {
            let mut s = s.lock().expect("stats lock poisoned");
            match reason {
                DropReason::MaxInFlight => s.dropped(),
                DropReason::SafetyMaxRate | DropReason::SafetyMaxInFlight => s.dropped_by_safety(),
            }
        }
    }

    /// A connection refused because the target's name resolved outside the allowlist.
    pub fn refused(&self) {
        self.refused.inc();
    }

    /// Requests now carry this many bytes more (a `traceparent` header) than configured.
    pub fn add_request_bytes(&self, bytes: u64) {
        self.trace_bytes.store(bytes, Ordering::Relaxed);
    }

    /// `loadtide_safety_refused_total` of this profile, for the protocol clients.
    pub fn refused_counter(&self) -> IntCounter {
        self.refused.clone()
    }

    /// The connection phases and certificate expiry of this profile's target, for the HTTP,
    /// gRPC and WebSocket clients.
    pub fn conn_probe(&self) -> super::connection::ConnProbe {
        self.conn.clone()
    }

    /// The brake's running totals; None for a profile without a brake.
    pub fn brake_totals(&self) -> Option<BrakeTotals> {
        self.brake.as_ref().map(|b| BrakeTotals {
            requests: b.requests.load(Ordering::Relaxed),
            errors: b.errors.load(Ordering::Relaxed),
            slow: b.slow.load(Ordering::Relaxed),
        })
    }

    /// Whether the brake holds the profile back now.
    pub fn set_brake_engaged(&self, engaged: bool) {
        if let Some(b) = &self.brake {
            b.engaged.set(i64::from(engaged));
        }
    }

    /// The brake tripped, for `reason`.
    pub fn brake_tripped(&self, reason: TripReason) {
        if let Some(b) = &self.brake {
            match reason {
                TripReason::ErrorRatio => &b.error_ratio,
                TripReason::P99 => &b.p99,
            }
            .inc();
        }
    }

    pub fn lag(&self, lag: Duration) {
        self.lag.observe(lag.as_secs_f64());
    }

    pub fn started(&self) {
        self.in_flight.inc();
    }

    pub fn finished(&self) {
        self.in_flight.dec();
    }

    pub fn set_intended_rps(&self, rps: f64) {
        self.intended_rps.set(rps);
    }

    pub fn set_virtual_users(&self, users: i64) {
        self.virtual_users.set(users);
    }

    pub fn set_active(&self, active: bool) {
        self.active.set(i64::from(active));
        if !active {
            self.intended_rps.set(0.0);
            self.virtual_users.set(0);
        }
    }

    /// The result of check `check` (see `RequestStep::check_names`) of scenario step `idx`.
    pub fn check(&self, idx: usize, check: usize, passed: bool) {
        if let Some((pass, fail)) = self.checks.get(idx).and_then(|c| c.get(check)) {
            if passed { pass } else { fail }.inc();
        }
    }

    /// One finished scenario iteration.
    pub fn iteration(&self, took: Duration, ok: bool) {
        if let Some(s) = &self.scenario {
            s.duration.observe(took.as_secs_f64());
            if ok { &s.success } else { &s.failure }.inc();
        }
        if let Some(stats) = &self.stats {
            stats
                .lock()
                .expect("stats lock poisoned")
                .iteration(took, ok);
        }
    }

    /// The schedule's next start (Unix seconds), or None when there is none.
    pub fn set_next_start(&self, at: Option<f64>) {
        self.next_start.set(at.unwrap_or(0.0));
    }

    /// Requests in flight now (the `loadtide_requests_in_flight` gauge).
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.in_flight.get()).unwrap_or(0)
    }

    /// The intended arrival rate now (the `loadtide_intended_requests_per_second` gauge).
    pub fn intended_rps(&self) -> f64 {
        self.intended_rps.get()
    }

    pub fn stats(&self) -> Option<&SharedStats> {
        self.stats.as_ref()
    }

    /// Bytes of traffic not recorded through `record` (WebSocket messages).
    pub fn bytes(&self, sent: usize, received: usize) {
        self.bytes_sent.inc_by(sent as u64);
        self.bytes_received.inc_by(received as u64);
    }

    /// The message series of each streaming gRPC endpoint, indexed like the target's endpoints.
    pub fn grpc_streams(&self) -> Vec<Option<StreamSeries>> {
        self.grpc_streams.clone()
    }

    pub fn websocket(&self) -> Option<&WsRecorder> {
        self.websocket.as_ref()
    }
}
