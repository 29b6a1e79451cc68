//! The Prometheus registry and every metric family loadtide exports. Handles for one
//! profile/endpoint are resolved once (`recorder.rs`), so recording a request costs a few
//! atomic adds: no label lookup, lock or allocation on the hot path.

mod duration_family;
pub mod health;
pub mod names;
pub mod recorder;
pub mod stats;
pub mod websocket;
pub mod window;

use std::sync::Arc;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub use duration_family::DurationFamily;
pub use recorder::{BrakeTotals, DropReason, EndpointRecorder, ProfileRecorder, TripReason};
pub use stats::{RunStats, SharedStats};

use names::*;

/// All metric families, registered in one unprefixed registry (a prefixed registry would
/// also rename the standard `process_*` metrics).
pub struct Metrics {
    pub registry: Registry,
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
    pub(crate) checks: IntCounterVec,
    pub(crate) scenario_duration: HistogramVec,
    pub(crate) scenario_iterations: IntCounterVec,
    pub(crate) bytes_sent: IntCounterVec,
    pub(crate) bytes_received: IntCounterVec,
    pub(crate) config_reloads: IntCounterVec,
    pub(crate) config_last_reload_ok: IntGauge,
    pub(crate) paused: IntGauge,
    pub(crate) ws: websocket::WsFamilies,
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

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let m = Metrics {
            duration: Arc::new(DurationFamily::new(
                REQUEST_DURATION,
                REQUEST_DURATION_HELP,
                ENDPOINT_LABELS,
            )),
            responses: IntCounterVec::new(
                Opts::new(RESPONSES, RESPONSES_HELP),
                &endpoint_labels_with("code"),
            )
            .expect("static metric definition"),
            errors: IntCounterVec::new(
                Opts::new(REQUEST_ERRORS, REQUEST_ERRORS_HELP),
                &endpoint_labels_with("kind"),
            )
            .expect("static metric definition"),
            in_flight: IntGaugeVec::new(
                Opts::new(IN_FLIGHT, IN_FLIGHT_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            intended_rps: GaugeVec::new(Opts::new(INTENDED_RPS, INTENDED_RPS_HELP), &["profile"])
                .expect("static metric definition"),
            virtual_users: IntGaugeVec::new(
                Opts::new(VIRTUAL_USERS, VIRTUAL_USERS_HELP),
                &["profile"],
            )
            .expect("static metric definition"),
            dropped: IntCounterVec::new(Opts::new(DROPPED, DROPPED_HELP), &["profile", "reason"])
                .expect("static metric definition"),
            scheduler_lag: HistogramVec::new(
                HistogramOpts::new(SCHEDULER_LAG, SCHEDULER_LAG_HELP)
                    .buckets(SCHEDULER_LAG_BUCKETS.to_vec()),
                &["profile"],
            )
            .expect("static metric definition"),
            profile_active: IntGaugeVec::new(
                Opts::new(PROFILE_ACTIVE, PROFILE_ACTIVE_HELP),
                &["profile"],
            )
            .expect("static metric definition"),
            next_start: GaugeVec::new(Opts::new(NEXT_START, NEXT_START_HELP), &["profile"])
                .expect("static metric definition"),
            checks: IntCounterVec::new(
                Opts::new(CHECKS, CHECKS_HELP),
                &["profile", "target", "endpoint", "check", "result"],
            )
            .expect("static metric definition"),
            scenario_duration: HistogramVec::new(
                HistogramOpts::new(SCENARIO_DURATION, SCENARIO_DURATION_HELP)
                    .buckets(SCENARIO_DURATION_BUCKETS.to_vec()),
                &["profile", "scenario"],
            )
            .expect("static metric definition"),
            scenario_iterations: IntCounterVec::new(
                Opts::new(SCENARIO_ITERATIONS, SCENARIO_ITERATIONS_HELP),
                &["profile", "scenario", "result"],
            )
            .expect("static metric definition"),
            bytes_sent: IntCounterVec::new(
                Opts::new(BYTES_SENT, BYTES_SENT_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            bytes_received: IntCounterVec::new(
                Opts::new(BYTES_RECEIVED, BYTES_RECEIVED_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            config_reloads: IntCounterVec::new(
                Opts::new(CONFIG_RELOADS, CONFIG_RELOADS_HELP),
                &["result"],
            )
            .expect("static metric definition"),
            config_last_reload_ok: IntGauge::new(CONFIG_LAST_RELOAD_OK, CONFIG_LAST_RELOAD_OK_HELP)
                .expect("static metric definition"),
            paused: IntGauge::new(PAUSED, PAUSED_HELP).expect("static metric definition"),
            ws: websocket::WsFamilies::new(),
            safety_refused: IntCounterVec::new(
                Opts::new(SAFETY_REFUSED, SAFETY_REFUSED_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            safety_max_rate: Gauge::new(SAFETY_MAX_RATE, SAFETY_MAX_RATE_HELP)
                .expect("static metric definition"),
            safety_max_in_flight: IntGauge::new(SAFETY_MAX_IN_FLIGHT, SAFETY_MAX_IN_FLIGHT_HELP)
                .expect("static metric definition"),
            safety_in_flight: IntGauge::new(SAFETY_IN_FLIGHT, SAFETY_IN_FLIGHT_HELP)
                .expect("static metric definition"),
            brake_engaged: IntGaugeVec::new(
                Opts::new(BRAKE_ENGAGED, BRAKE_ENGAGED_HELP),
                &["profile"],
            )
            .expect("static metric definition"),
            brake_trips: IntCounterVec::new(
                Opts::new(BRAKE_TRIPS, BRAKE_TRIPS_HELP),
                &["profile", "reason"],
            )
            .expect("static metric definition"),
            capacity_rps: GaugeVec::new(Opts::new(CAPACITY_RPS, CAPACITY_RPS_HELP), &["profile"])
                .expect("static metric definition"),
            capacity_last_run: GaugeVec::new(
                Opts::new(CAPACITY_LAST_RUN, CAPACITY_LAST_RUN_HELP),
                &["profile"],
            )
            .expect("static metric definition"),
            capacity_generator_bound: GaugeVec::new(
                Opts::new(CAPACITY_GENERATOR_BOUND, CAPACITY_GENERATOR_BOUND_HELP),
                &["profile"],
            )
            .expect("static metric definition"),
            registry,
        };
        let build_info = IntGaugeVec::new(
            Opts::new(BUILD_INFO, BUILD_INFO_HELP),
            &["version", "revision"],
        )
        .expect("static metric definition");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("LOADTIDE_REVISION")])
            .set(1);
        let r = &m.registry;
        let register = |c: Box<dyn prometheus::core::Collector>| {
            r.register(c).expect("each family is registered once")
        };
        register(Box::new(ArcCollector(m.duration.clone())));
        register(Box::new(m.responses.clone()));
        register(Box::new(m.errors.clone()));
        register(Box::new(m.in_flight.clone()));
        register(Box::new(m.intended_rps.clone()));
        register(Box::new(m.virtual_users.clone()));
        register(Box::new(m.dropped.clone()));
        register(Box::new(m.scheduler_lag.clone()));
        register(Box::new(m.profile_active.clone()));
        register(Box::new(m.next_start.clone()));
        register(Box::new(m.checks.clone()));
        register(Box::new(m.scenario_duration.clone()));
        register(Box::new(m.scenario_iterations.clone()));
        register(Box::new(m.bytes_sent.clone()));
        register(Box::new(m.bytes_received.clone()));
        register(Box::new(m.config_reloads.clone()));
        register(Box::new(m.config_last_reload_ok.clone()));
        register(Box::new(m.paused.clone()));
        register(Box::new(m.safety_refused.clone()));
        register(Box::new(m.safety_max_rate.clone()));
        register(Box::new(m.safety_max_in_flight.clone()));
        register(Box::new(m.safety_in_flight.clone()));
        register(Box::new(m.brake_engaged.clone()));
        register(Box::new(m.brake_trips.clone()));
        register(Box::new(m.capacity_rps.clone()));
        register(Box::new(m.capacity_last_run.clone()));
        register(Box::new(m.capacity_generator_bound.clone()));
        register(Box::new(build_info));
        register(Box::new(RuntimeTasks(
            IntGauge::new(RUNTIME_ALIVE_TASKS, RUNTIME_ALIVE_TASKS_HELP)
                .expect("static metric definition"),
        )));
        m.ws.register(r);
        #[cfg(target_os = "linux")]
        register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        // Both results exist from the start, so `rate()` and alerts see a 0 before the first reload.
        for result in ["success", "failure"] {
            m.config_reloads.with_label_values(&[result]);
        }
        Arc::new(m)
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

    /// True while the paused gauge says so (for the landing page).
    pub fn paused(&self) -> bool {
        self.paused.get() == 1
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

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding into a Vec cannot fail");
        buf
    }
}

/// `loadtide_runtime_alive_tasks`, read from the tokio runtime at scrape time (absent when
/// rendered outside a runtime). A task leak shows up here long before it shows in memory.
struct RuntimeTasks(IntGauge);

impl prometheus::core::Collector for RuntimeTasks {
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

impl prometheus::core::Collector for ArcCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}
