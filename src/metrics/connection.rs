//! What the HTTP and gRPC clients learn about a target's connections, like blackbox_exporter
//! does for a probe: how long each phase of a request took (`loadtide_request_phase_seconds`)
//! and when the certificates a TLS target presented expire
//! (`loadtide_tls_cert_not_after_timestamp_seconds`). Per profile and target, not per
//! endpoint: a connection belongs to the target, whichever endpoint's request opened it.

use std::time::Duration;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts,
};

use super::names::*;
use crate::config::Target;

/// A phase of a request, as the `phase` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Dns,
    Connect,
    Tls,
    FirstByte,
    Body,
}

pub(crate) struct ConnFamilies {
    phase: HistogramVec,
    cert_not_after: GaugeVec,
    dns_errors: IntCounterVec,
    discovery_errors: IntCounterVec,
    discovery_instances: IntGaugeVec,
}

impl ConnFamilies {
    pub(crate) fn new() -> Self {
        ConnFamilies {
            phase: HistogramVec::new(
                HistogramOpts::new(REQUEST_PHASE, REQUEST_PHASE_HELP)
                    .buckets(REQUEST_PHASE_BUCKETS.to_vec()),
                &["profile", "target", "phase"],
            )
            .expect("static metric definition"),
            cert_not_after: GaugeVec::new(
                Opts::new(TLS_CERT_NOT_AFTER, TLS_CERT_NOT_AFTER_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            dns_errors: IntCounterVec::new(
                Opts::new(DNS_ERRORS, DNS_ERRORS_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            discovery_errors: IntCounterVec::new(
                Opts::new(DISCOVERY_ERRORS, DISCOVERY_ERRORS_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
            discovery_instances: IntGaugeVec::new(
                Opts::new(DISCOVERY_INSTANCES, DISCOVERY_INSTANCES_HELP),
                &["profile", "target"],
            )
            .expect("static metric definition"),
        }
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.phase.clone()),
            Box::new(self.cert_not_after.clone()),
            Box::new(self.dns_errors.clone()),
            Box::new(self.discovery_errors.clone()),
            Box::new(self.discovery_instances.clone()),
        ]
    }

    /// The handles of `profile` on `target`: phases for the HTTP and gRPC schemes (not for
    /// WebSocket, whose requests are messages on a connection), the certificate gauge for TLS
    /// ones.
    pub(crate) fn probe(&self, profile: &str, t: &Target, refused: IntCounter) -> ConnProbe {
        let phases = (t.scheme.is_http() && !t.scheme.is_ws()) || t.scheme.is_grpc();
        let (tls, target) = (t.scheme.is_tls(), t.name.as_str());
        ConnProbe {
            refused,
            phases: phases.then(|| {
                PHASES.map(|phase| self.phase.with_label_values(&[profile, target, phase]))
            }),
            cert: tls.then(|| CertGauge {
                family: self.cert_not_after.clone(),
                labels: [profile.to_string(), target.to_string()],
            }),
            // Where the client resolves names itself (HTTP, gRPC), with the target's file_sd.
            dns_errors: phases.then(|| self.dns_errors.with_label_values(&[profile, target])),
            discovery: t.file_sd.as_ref().map(|_| {
                (
                    self.discovery_errors.with_label_values(&[profile, target]),
                    self.discovery_instances
                        .with_label_values(&[profile, target]),
                )
            }),
        }
    }
}

/// The gauge of a TLS target's certificate expiry, created by the first handshake: a series
/// at 0 before it would read as "expired in 1970" to the alert rule.
#[derive(Clone)]
struct CertGauge {
    family: GaugeVec,
    labels: [String; 2],
}

/// The connection-level handles of one profile's client.
#[derive(Clone)]
pub struct ConnProbe {
    /// `loadtide_safety_refused_total`: DNS answers outside the allowlist.
    pub refused: IntCounter,
    phases: Option<[Histogram; 5]>,
    cert: Option<CertGauge>,
    dns_errors: Option<IntCounter>,
    discovery: Option<(IntCounter, IntGauge)>,
}

impl ConnProbe {
    /// A probe that records phases and certificates nowhere (tests and one-off clients).
    pub fn detached(refused: IntCounter) -> Self {
        ConnProbe {
            refused,
            phases: None,
            cert: None,
            dns_errors: None,
            discovery: None,
        }
    }

    /// A lookup of one of the target's names failed.
    pub fn dns_error(&self) {
        if let Some(c) = &self.dns_errors {
            c.inc();
        }
    }

    /// A re-read of the target's file_sd files failed.
    pub fn discovery_error(&self) {
        if let Some((c, _)) = &self.discovery {
            c.inc();
        }
    }

    /// The file_sd files list `n` instances now.
    pub fn instances(&self, n: usize) {
        if let Some((_, g)) = &self.discovery {
            g.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub fn phase(&self, phase: Phase, took: Duration) {
        if let Some(p) = &self.phases {
            p[phase as usize].observe(took.as_secs_f64());
        }
    }

    /// A handshake with a certificate chain whose earliest expiry is `not_after` (Unix s).
    pub fn cert_not_after(&self, not_after: f64) {
        if let Some(c) = &self.cert {
            let [p, t] = &c.labels;
            c.family.with_label_values(&[p, t]).set(not_after);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus::core::Collector as _;

    #[test]
    fn the_phases_are_named_in_label_order() {
        for (phase, name) in [
            (Phase::Dns, "dns"),
            (Phase::Connect, "connect"),
            (Phase::Tls, "tls"),
            (Phase::FirstByte, "first_byte"),
            (Phase::Body, "body"),
        ] {
            assert_eq!(PHASES[phase as usize], name);
        }
    }

    #[test]
    fn the_certificate_series_appears_with_the_first_handshake() {
        let f = ConnFamilies::new();
        use figment::providers::{Format, Toml};
        let toml =
            "[targets.t]\nurl = \"https://localhost\"\n[[targets.t.endpoints]]\nname = \"e\"\n";
        let raw = figment::Figment::from(Toml::string(toml))
            .extract()
            .unwrap();
        let target = crate::config::validate(&raw, "t.toml", None)
            .unwrap()
            .targets[0]
            .clone();
        let probe = f.probe("p", &target, IntCounter::new("r", "r").unwrap());
        let series = || f.cert_not_after.collect()[0].get_metric().len();
        assert_eq!(series(), 0, "no series before a handshake");
        probe.cert_not_after(1.9e9);
        assert_eq!(series(), 1);
        assert_eq!(f.cert_not_after.with_label_values(&["p", "t"]).get(), 1.9e9);
    }
}
