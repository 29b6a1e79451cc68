//! The `loadtide_ws_*` families and the handles of one WebSocket profile, resolved once when
//! it starts with every series at 0 (alerts on `rate()` need a baseline). A connection records
//! through them with atomic adds only; in one-shot mode replies also go to the run's exact
//! statistics, and `totals` gives the counts the summary reports.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

use super::duration_family::DurationFamily;
use super::names::*;
use super::SharedStats;
use crate::config::Profile;
use crate::outcome::Outcome;

/// What went wrong on a WebSocket connection: the closed set of `kind` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WsErrorKind {
    /// DNS or TCP connect failed or timed out.
    Connect,
    /// The HTTP upgrade was refused or malformed, or timed out.
    Handshake,
    Tls,
    /// The server closed the connection, or it was reset, while loadtide was using it.
    Closed,
    /// A message got no reply within the target's timeout.
    Timeout,
    /// The server broke the WebSocket protocol (bad frame, invalid UTF-8, oversized message).
    Protocol,
    /// Writing a message failed.
    Send,
}

impl WsErrorKind {
    pub const ALL: [WsErrorKind; 7] = [
        WsErrorKind::Connect,
        WsErrorKind::Handshake,
        WsErrorKind::Tls,
        WsErrorKind::Closed,
        WsErrorKind::Timeout,
        WsErrorKind::Protocol,
        WsErrorKind::Send,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WsErrorKind::Connect => "connect",
            WsErrorKind::Handshake => "handshake",
            WsErrorKind::Tls => "tls",
            WsErrorKind::Closed => "closed",
            WsErrorKind::Timeout => "timeout",
            WsErrorKind::Protocol => "protocol",
            WsErrorKind::Send => "send",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The WebSocket metric families, registered with the others.
pub(crate) struct WsFamilies {
    connect: HistogramVec,
    /// Buckets are the target's, like request latency, so one family holds several layouts.
    rtt: Arc<DurationFamily>,
    messages: IntCounterVec,
    connections: IntGaugeVec,
    errors: IntCounterVec,
}

fn labels_with(extra: &str) -> Vec<&str> {
    let mut v = WS_LABELS.to_vec();
    v.push(extra);
    v
}

impl WsFamilies {
    pub(crate) fn new() -> Self {
        WsFamilies {
            connect: HistogramVec::new(
                HistogramOpts::new(WS_CONNECT_DURATION, WS_CONNECT_DURATION_HELP)
                    .buckets(WS_CONNECT_BUCKETS.to_vec()),
                WS_LABELS,
            )
            .expect("static metric definition"),
            rtt: Arc::new(DurationFamily::new(
                WS_MESSAGE_RTT,
                WS_MESSAGE_RTT_HELP,
                WS_LABELS,
            )),
            messages: IntCounterVec::new(
                Opts::new(WS_MESSAGES, WS_MESSAGES_HELP),
                &labels_with("direction"),
            )
            .expect("static metric definition"),
            connections: IntGaugeVec::new(
                Opts::new(WS_CONNECTIONS, WS_CONNECTIONS_HELP),
                &labels_with("state"),
            )
            .expect("static metric definition"),
            errors: IntCounterVec::new(Opts::new(WS_ERRORS, WS_ERRORS_HELP), &labels_with("kind"))
                .expect("static metric definition"),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.connect.clone()),
            Box::new(super::ArcCollector(self.rtt.clone())),
            Box::new(self.messages.clone()),
            Box::new(self.connections.clone()),
            Box::new(self.errors.clone()),
        ]
    }
}

/// Counts of one run, for the one-shot summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WsTotals {
    pub sent: u64,
    pub received: u64,
    pub replies: u64,
    pub connects: u64,
    /// Every kind, in `WsErrorKind::ALL` order.
    pub errors: Vec<(WsErrorKind, u64)>,
}

/// One connection state while it lasts: the gauge goes up now and down on drop.
pub struct StateGuard(IntGauge);

impl Drop for StateGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Pre-resolved handles for one WebSocket profile.
pub struct WsRecorder {
    connect: Histogram,
    rtt: Histogram,
    sent: IntCounter,
    received: IntCounter,
    open: IntGauge,
    connecting: IntGauge,
    errors: Vec<IntCounter>,
    stats: Option<SharedStats>,
}

impl WsRecorder {
    pub(crate) fn new(
        families: &WsFamilies,
        profile: &Profile,
        stats: Option<SharedStats>,
    ) -> Self {
        let values = [profile.name.as_str(), profile.target.name.as_str()];
        let [p, t] = values;
        WsRecorder {
            connect: families.connect.with_label_values(&values),
            rtt: families
                .rtt
                .series(WS_LABELS, &values, &profile.target.buckets),
            sent: families.messages.with_label_values(&[p, t, "sent"]),
            received: families.messages.with_label_values(&[p, t, "received"]),
            open: families.connections.with_label_values(&[p, t, "open"]),
            connecting: families
                .connections
                .with_label_values(&[p, t, "connecting"]),
            errors: WsErrorKind::ALL
                .iter()
                .map(|k| families.errors.with_label_values(&[p, t, k.as_str()]))
                .collect(),
            stats,
        }
    }

    /// A connection attempt in progress until the guard drops.
    pub fn connecting(&self) -> StateGuard {
        self.connecting.inc();
        StateGuard(self.connecting.clone())
    }

    /// A connection opened in `took`; it counts as open until the guard drops.
    pub fn connected(&self, took: Duration) -> StateGuard {
        self.connect.observe(took.as_secs_f64());
        self.open.inc();
        StateGuard(self.open.clone())
    }

    pub fn sent(&self) {
        self.sent.inc();
    }

    pub fn received(&self) {
        self.received.inc();
    }

    /// A reply of `bytes` arrived `rtt` after its message was due.
    pub fn reply(&self, rtt: Duration, bytes: usize) {
        self.rtt.observe(rtt.as_secs_f64());
        if let Some(s) = &self.stats {
            let ok = Outcome {
                code: None,
                error: None,
                bytes_received: bytes as u64,
                trace: None,
            };
            s.lock().expect("stats lock poisoned").record(0, rtt, &ok);
        }
    }

    pub fn error(&self, kind: WsErrorKind) {
        self.errors[kind.index()].inc();
    }

    pub fn totals(&self) -> WsTotals {
        WsTotals {
            sent: self.sent.get(),
            received: self.received.get(),
            replies: self.rtt.get_sample_count(),
            connects: self.connect.get_sample_count(),
            errors: WsErrorKind::ALL
                .iter()
                .map(|k| (*k, self.errors[k.index()].get()))
                .collect(),
        }
    }
}
