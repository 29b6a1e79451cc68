//! The `loadtide_grpc_stream_*` families: the messages inside streaming gRPC calls, which the
//! request families (one observation per call) cannot show. Resolved once per streaming
//! endpoint when its profile starts, every series at 0; a call then costs atomic adds.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Histogram, IntCounter, IntCounterVec, Opts};

use super::duration_family::DurationFamily;
use super::names::*;
use crate::config::Profile;

/// The families, registered with the others.
pub(crate) struct GrpcStreamFamilies {
    messages: IntCounterVec,
    /// Buckets are the target's, like request latency.
    rtt: Arc<DurationFamily>,
}

impl GrpcStreamFamilies {
    pub(crate) fn new() -> Self {
        let mut with_direction = GRPC_STREAM_LABELS.to_vec();
        with_direction.push("direction");
        GrpcStreamFamilies {
            messages: IntCounterVec::new(
                Opts::new(GRPC_STREAM_MESSAGES, GRPC_STREAM_MESSAGES_HELP),
                &with_direction,
            )
            .expect("static metric definition"),
            rtt: Arc::new(DurationFamily::new(
                GRPC_STREAM_MESSAGE_RTT,
                GRPC_STREAM_MESSAGE_RTT_HELP,
                GRPC_STREAM_LABELS,
            )),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.messages.clone()),
            Box::new(super::ArcCollector(self.rtt.clone())),
        ]
    }
}

/// The handles of one streaming endpoint: client-streaming calls send, server-streaming ones
/// receive, bidi calls do both and time each reply against its message.
#[derive(Clone)]
pub struct StreamSeries {
    sent: IntCounter,
    received: IntCounter,
    /// Bidi endpoints only.
    rtt: Option<Histogram>,
}

impl StreamSeries {
    /// The series of endpoint `idx` of `profile`'s target; None unless it is a streaming
    /// gRPC method.
    pub(crate) fn new(
        families: &GrpcStreamFamilies,
        profile: &Profile,
        idx: usize,
    ) -> Option<Self> {
        let target = &profile.target;
        let e = &target.endpoints[idx];
        let method = e.grpc.as_ref()?;
        if !method.server_streaming && method.requests.is_none() {
            return None;
        }
        let values = [profile.name.as_str(), target.name.as_str(), e.name.as_str()];
        let [p, t, name] = values;
        let bidi = method.server_streaming && method.requests.is_some();
        Some(StreamSeries {
            sent: families.messages.with_label_values(&[p, t, name, "sent"]),
            received: families
                .messages
                .with_label_values(&[p, t, name, "received"]),
            rtt: bidi.then(|| {
                families
                    .rtt
                    .series(GRPC_STREAM_LABELS, &values, &target.buckets)
            }),
        })
    }

    /// Series registered nowhere, for tests of the code that records into them.
    #[cfg(test)]
    pub(crate) fn detached(bidi: bool) -> Self {
        let counter = || IntCounter::new("c", "c").expect("static metric definition");
        let rtt = prometheus::HistogramOpts::new("h", "h");
        StreamSeries {
            sent: counter(),
            received: counter(),
            rtt: bidi.then(|| Histogram::with_opts(rtt).expect("static metric definition")),
        }
    }

    /// The sum of the timed round trips so far, in seconds.
    #[cfg(test)]
    pub(crate) fn rtt_sum(&self) -> f64 {
        self.rtt.as_ref().map_or(0.0, |h| h.get_sample_sum())
    }

    /// `n` request messages went to the connection.
    pub fn sent(&self, n: u64) {
        self.sent.inc_by(n);
    }

    /// A reply message arrived.
    pub fn received(&self) {
        self.received.inc();
    }

    /// Whether replies are timed against their messages (a bidi method).
    pub fn times_replies(&self) -> bool {
        self.rtt.is_some()
    }

    /// A bidi reply arrived `rtt` after its message was ready to send.
    pub fn reply(&self, rtt: Duration) {
        if let Some(h) = &self.rtt {
            h.observe(rtt.as_secs_f64());
        }
    }

    /// (sent, received, timed replies) so far.
    pub fn totals(&self) -> (u64, u64, u64) {
        let timed = self.rtt.as_ref().map_or(0, |h| h.get_sample_count());
        (self.sent.get(), self.received.get(), timed)
    }
}
