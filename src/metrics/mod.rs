//! The Prometheus registry and every metric family loadtide exports. Handles for one
//! profile/endpoint are resolved once (`recorder.rs`), so recording a request costs a few
//! atomic adds: no label lookup, lock or allocation on the hot path.

pub mod connection;
mod control;
mod duration_family;
pub mod exemplars;
pub mod grpc_stream;
pub mod health;
pub mod names;
pub mod openmetrics;
pub mod recorder;
pub mod stats;
pub mod totals;
pub mod websocket;
pub mod window;

use std::sync::Arc;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub use control::ProfileStatus;
pub use duration_family::DurationFamily;
pub use recorder::{BrakeTotals, DropReason, EndpointRecorder, ProfileRecorder, TripReason};
pub use stats::{RunStats, SharedStats};

use names::*;
use prometheus::core::Collector;

/// One metric family as registered: see [`Metrics::families`].
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyInfo {
    pub name: String,
    /// `counter`, `gauge` or `histogram`, as in the exposition's `# TYPE` line.
    pub kind: String,
    pub labels: Vec<String>,
}

/// All metric families, registered in one unprefixed registry (a prefixed registry would
/// also rename the standard `process_*` metrics).
pub struct Metrics {
    pub registry: Registry,
    /// `[labels]`: added to every series at render time, so a reload can change them.
    static_labels: std::sync::RwLock<Vec<prometheus::proto::LabelPair>>,
    pub(crate) duration: Arc<DurationFamily>,
    pub(crate) responses: IntCounterVec,
    pub(crate) errors: IntCounterVec,
    pub(crate) in_flight: IntGaugeVec,
    pub(crate) intended_rps: GaugeVec,
    pub(crate) virtual_users: IntGaugeVec,
    pub(crate) dropped: IntCounterVec,
    pub(crate) scheduler_lag: HistogramVec,
    pub(crate) profile_active: IntGaugeVec,
    pub(crate) next_start: GaugeVec,
    pub(crate) profile_paused: IntGaugeVec,
    pub(crate) profile_rate_multiplier: GaugeVec,
    pub(crate) checks: IntCounterVec,
    pub(crate) scenario_duration: HistogramVec,
    pub(crate) scenario_iterations: IntCounterVec,
    pub(crate) bytes_sent: IntCounterVec,
    pub(crate) bytes_received: IntCounterVec,
    pub(crate) config_reloads: IntCounterVec,
    pub(crate) config_last_reload_ok: IntGauge,
    pub(crate) paused: IntGauge,
    pub(crate) ws: websocket::WsFamilies,
    pub(crate) grpc_stream: grpc_stream::GrpcStreamFamilies,
    pub(crate) conn: connection::ConnFamilies,
    pub(crate) exemplars: exemplars::ExemplarIndex,
    pub(crate) safety_refused: IntCounterVec,
    pub(crate) safety_max_rate: Gauge,
    pub(crate) safety_max_in_flight: IntGauge,
    pub(crate) safety_in_flight: IntGauge,
    pub(crate) brake_engaged: IntGaugeVec,
    pub(crate) brake_trips: IntCounterVec,
    capacity_rps: GaugeVec,
    capacity_last_run: GaugeVec,
    capacity_generator_bound: GaugeVec,
}

fn endpoint_labels_with(extra: &str) -> Vec<&str> {
    let mut v = ENDPOINT_LABELS.to_vec();
    v.push(extra);
    v
}

// Constructors of the static families: a definition that does not build is a programming
// error, caught by every test that creates `Metrics`.
fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition")
}

fn gauges(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("static metric definition")
}

fn int_gauges(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition")
}

fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::new(name, help).expect("static metric definition")
}

fn int_gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("static metric definition")
}

fn histograms(name: &str, help: &str, buckets: &[f64], labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("static metric definition")
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let m = Metrics {
            duration: Arc::new(DurationFamily::new(
                REQUEST_DURATION,
                REQUEST_DURATION_HELP,
                ENDPOINT_LABELS,
            )),
            responses: counter(RESPONSES, RESPONSES_HELP, &endpoint_labels_with("code")),
            errors: counter(
                REQUEST_ERRORS,
                REQUEST_ERRORS_HELP,
                &endpoint_labels_with("kind"),
            ),
            in_flight: int_gauges(IN_FLIGHT, IN_FLIGHT_HELP, &["profile", "target"]),
            intended_rps: gauges(INTENDED_RPS, INTENDED_RPS_HELP, &["profile"]),
            virtual_users: int_gauges(VIRTUAL_USERS, VIRTUAL_USERS_HELP, &["profile"]),
            dropped: counter(DROPPED, DROPPED_HELP, &["profile", "reason"]),
            scheduler_lag: histograms(
                SCHEDULER_LAG,
                SCHEDULER_LAG_HELP,
                SCHEDULER_LAG_BUCKETS,
                &["profile"],
            ),
            profile_active: int_gauges(PROFILE_ACTIVE, PROFILE_ACTIVE_HELP, &["profile"]),
            next_start: gauges(NEXT_START, NEXT_START_HELP, &["profile"]),
            profile_paused: int_gauges(PROFILE_PAUSED, PROFILE_PAUSED_HELP, &["profile"]),
            profile_rate_multiplier: gauges(
                PROFILE_RATE_MULTIPLIER,
                PROFILE_RATE_MULTIPLIER_HELP,
                &["profile"],
            ),
            checks: counter(
                CHECKS,
                CHECKS_HELP,
                &["profile", "target", "endpoint", "check", "result"],
            ),
            scenario_duration: histograms(
                SCENARIO_DURATION,
                SCENARIO_DURATION_HELP,
                SCENARIO_DURATION_BUCKETS,
                &["profile", "scenario"],
            ),
            scenario_iterations: counter(
                SCENARIO_ITERATIONS,
                SCENARIO_ITERATIONS_HELP,
                &["profile", "scenario", "result"],
            ),
            bytes_sent: counter(BYTES_SENT, BYTES_SENT_HELP, &["profile", "target"]),
            bytes_received: counter(BYTES_RECEIVED, BYTES_RECEIVED_HELP, &["profile", "target"]),
            config_reloads: counter(CONFIG_RELOADS, CONFIG_RELOADS_HELP, &["result"]),
            config_last_reload_ok: int_gauge(CONFIG_LAST_RELOAD_OK, CONFIG_LAST_RELOAD_OK_HELP),
            paused: int_gauge(PAUSED, PAUSED_HELP),
            ws: websocket::WsFamilies::new(),
            grpc_stream: grpc_stream::GrpcStreamFamilies::new(),
            conn: connection::ConnFamilies::new(),
            exemplars: Default::default(),
            safety_refused: counter(SAFETY_REFUSED, SAFETY_REFUSED_HELP, &["profile", "target"]),
            safety_max_rate: gauge(SAFETY_MAX_RATE, SAFETY_MAX_RATE_HELP),
            safety_max_in_flight: int_gauge(SAFETY_MAX_IN_FLIGHT, SAFETY_MAX_IN_FLIGHT_HELP),
            safety_in_flight: int_gauge(SAFETY_IN_FLIGHT, SAFETY_IN_FLIGHT_HELP),
            brake_engaged: int_gauges(BRAKE_ENGAGED, BRAKE_ENGAGED_HELP, &["profile"]),
            brake_trips: counter(BRAKE_TRIPS, BRAKE_TRIPS_HELP, &["profile", "reason"]),
            capacity_rps: gauges(CAPACITY_RPS, CAPACITY_RPS_HELP, &["profile"]),
            capacity_last_run: gauges(CAPACITY_LAST_RUN, CAPACITY_LAST_RUN_HELP, &["profile"]),
            capacity_generator_bound: gauges(
                CAPACITY_GENERATOR_BOUND,
                CAPACITY_GENERATOR_BOUND_HELP,
                &["profile"],
            ),
            registry,
            static_labels: Default::default(),
        };
        m.register_families();
        // Both results exist from the start, so `rate()` and alerts see a 0 before the first reload.
        for result in ["success", "failure"] {
            m.config_reloads.with_label_values(&[result]);
        }
        Arc::new(m)
    }

    /// Registers every family, with `loadtide_build_info`, the runtime's task count and the
    /// standard process metrics.
    fn register_families(&self) {
        for c in self.collectors() {
            self.registry
                .register(c)
                .expect("each family is registered once");
        }
    }

    /// Every collector the registry holds, in one list, so that what is registered and what
    /// [`Metrics::families`] describes cannot differ.
    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let build_info = int_gauges(BUILD_INFO, BUILD_INFO_HELP, &["version", "revision"]);
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("LOADTIDE_REVISION")])
            .set(1);
        let m = self;
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(ArcCollector(m.duration.clone())),
            Box::new(m.responses.clone()),
            Box::new(m.errors.clone()),
            Box::new(m.in_flight.clone()),
            Box::new(m.intended_rps.clone()),
            Box::new(m.virtual_users.clone()),
            Box::new(m.dropped.clone()),
            Box::new(m.scheduler_lag.clone()),
            Box::new(m.profile_active.clone()),
            Box::new(m.next_start.clone()),
            Box::new(m.profile_paused.clone()),
            Box::new(m.profile_rate_multiplier.clone()),
            Box::new(m.checks.clone()),
            Box::new(m.scenario_duration.clone()),
            Box::new(m.scenario_iterations.clone()),
            Box::new(m.bytes_sent.clone()),
            Box::new(m.bytes_received.clone()),
            Box::new(m.config_reloads.clone()),
            Box::new(m.config_last_reload_ok.clone()),
            Box::new(m.paused.clone()),
            Box::new(m.safety_refused.clone()),
            Box::new(m.safety_max_rate.clone()),
            Box::new(m.safety_max_in_flight.clone()),
            Box::new(m.safety_in_flight.clone()),
            Box::new(m.brake_engaged.clone()),
            Box::new(m.brake_trips.clone()),
            Box::new(m.capacity_rps.clone()),
            Box::new(m.capacity_last_run.clone()),
            Box::new(m.capacity_generator_bound.clone()),
            Box::new(build_info),
            Box::new(RuntimeTasks(int_gauge(
                RUNTIME_ALIVE_TASKS,
                RUNTIME_ALIVE_TASKS_HELP,
            ))),
        ];
        all.extend(m.ws.collectors());
        all.extend(m.grpc_stream.collectors());
        all.extend(m.conn.collectors());
        #[cfg(target_os = "linux")]
        all.push(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        all
    }

    /// Every registered family's name, type and label names, series or not (a scrape only
    /// shows families with series, and which have them depends on the config). The manual's
    /// metrics table is checked against this (`tests/docs.rs`).
    #[doc(hidden)]
    pub fn families(&self) -> Vec<FamilyInfo> {
        let mut out = Vec::new();
        for c in self.collectors() {
            let collected = c.collect();
            for desc in c.desc() {
                let kind = collected
                    .iter()
                    .find(|f| f.name() == desc.fq_name)
                    .map_or("untyped".to_string(), |f| {
                        format!("{:?}", f.get_field_type()).to_lowercase()
                    });
                out.push(FamilyInfo {
                    name: desc.fq_name.clone(),
                    kind,
                    labels: desc.variable_labels.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Records the outcome of a config (re)load.
    pub fn config_reloaded(&self, ok: bool) {
        self.config_reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
        self.config_last_reload_ok.set(i64::from(ok));
    }

    /// Marks the (initial) config as loaded without counting a reload.
    pub fn config_loaded(&self) {
        self.config_last_reload_ok.set(1);
    }

    /// Whether all traffic is paused (the kill switch).
    pub fn set_paused(&self, paused: bool) {
        self.paused.set(i64::from(paused));
    }

    /// The result of a capacity profile's search, finished at `at` (Unix seconds).
    pub fn capacity_result(&self, profile: &str, rps: f64, generator_bound: bool, at: f64) {
        self.capacity_rps.with_label_values(&[profile]).set(rps);
        self.capacity_generator_bound
            .with_label_values(&[profile])
            .set(f64::from(u8::from(generator_bound)));
        self.capacity_last_run.with_label_values(&[profile]).set(at);
    }

    /// `loadtide_safety_in_flight`, for the engine's `SafetyLimits` to keep up to date.
    pub fn safety_in_flight(&self) -> IntGauge {
        self.safety_in_flight.clone()
    }

    /// Publishes the caps in force (None: unset, exported as 0).
    pub fn set_safety_caps(&self, max_rate: Option<f64>, max_in_flight: Option<usize>) {
        self.safety_max_rate.set(max_rate.unwrap_or(0.0));
        self.safety_max_in_flight
            .set(max_in_flight.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)));
    }

    /// Sets the `[labels]` every series carries from the next scrape on (validated names).
    pub fn set_static_labels(&self, labels: &[(String, String)]) {
        let pairs = labels
            .iter()
            .map(|(k, v)| {
                let mut pair = prometheus::proto::LabelPair::default();
                pair.set_name(k.clone());
                pair.set_value(v.clone());
                pair
            })
            .collect();
        *self
            .static_labels
            .write()
            .expect("static labels lock poisoned") = pairs;
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.gather(), &mut buf)
            .expect("encoding into a Vec cannot fail");
        buf
    }

    /// The OpenMetrics exposition of every family, with exemplars.
    pub fn render_openmetrics(&self) -> Vec<u8> {
        openmetrics::encode(&self.gather(), &self.exemplars).into_bytes()
    }

    /// Every family, with the `[labels]` on each series.
    fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        let mut families = self.registry.gather();
        let extra = self
            .static_labels
            .read()
            .expect("static labels lock poisoned");
        if !extra.is_empty() {
            for metric in families.iter_mut().flat_map(|f| f.mut_metric().iter_mut()) {
                let mut labels = metric.take_label();
                // Config validation keeps the names apart; should a family ever gain one of
                // them, its own label wins rather than a duplicate breaking the exposition.
                let own: Vec<String> = labels.iter().map(|l| l.name().to_string()).collect();
                labels.extend(
                    extra
                        .iter()
                        .filter(|e| !own.iter().any(|o| o == e.name()))
                        .cloned(),
                );
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                metric.set_label(labels);
            }
        }
        families
    }
}

/// `loadtide_runtime_alive_tasks`, read from the tokio runtime at scrape time (absent when
/// rendered outside a runtime). A task leak shows up here long before it shows in memory.
struct RuntimeTasks(IntGauge);

impl Collector for RuntimeTasks {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                self.0
                    .set(i64::try_from(h.metrics().num_alive_tasks()).unwrap_or(i64::MAX));
                self.0.collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

/// Lets the registry hold a collector we also keep a handle to.
struct ArcCollector(Arc<DurationFamily>);

impl Collector for ArcCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_labels_go_on_every_series_sorted_and_never_twice() {
        let m = Metrics::new();
        m.config_loaded();
        m.dropped.with_label_values(&["p", "max_in_flight"]).inc();
        m.set_static_labels(&[
            ("location".into(), "eu-west".into()),
            ("profile".into(), "not-twice".into()),
        ]);
        let text = String::from_utf8(m.render()).expect("UTF-8");
        assert!(
            text.contains(
                r#"loadtide_dropped_requests_total{location="eu-west",profile="p",reason="max_in_flight"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"loadtide_config_last_reload_successful{location="eu-west",profile="not-twice"} 1"#),
            "{text}"
        );
        m.set_static_labels(&[]);
        let text = String::from_utf8(m.render()).expect("UTF-8");
        assert!(!text.contains("location"), "{text}");
    }
}
