//! The recent past of each running profile, for the status page: its totals every
//! `EVERY`, the last `KEPT` of them (five minutes), so the page can show the last minute's
//! latency and errors and a sparkline of the achieved rate. Bounded: a fixed number of
//! snapshots per running profile, dropped with the profile.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::totals::{ProfileTotals, Window};
use crate::metrics::Metrics;

/// How often the totals are sampled.
pub const EVERY: Duration = Duration::from_secs(5);
/// Snapshots kept per profile: five minutes of intervals.
const KEPT: usize = 61;
/// The span the page's latency and error figures cover.
pub const RECENT: Duration = Duration::from_secs(60);

pub struct StatusHistory {
    metrics: Arc<Metrics>,
    rings: Mutex<BTreeMap<String, VecDeque<(Instant, ProfileTotals)>>>,
}

/// What the page shows of one profile's recent past.
pub struct Recent {
    /// The last `RECENT` (or what there is of it); None before two snapshots.
    pub window: Option<Window>,
    /// Requests per second in each interval, oldest first.
    pub rates: Vec<f64>,
}

impl StatusHistory {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(StatusHistory {
            metrics,
            rings: Default::default(),
        })
    }

    /// Takes a snapshot of each profile in `names` and forgets the others.
    pub fn sample(&self, names: &[String]) {
        self.sample_at(names, Instant::now());
    }

    fn sample_at(&self, names: &[String], now: Instant) {
        let mut rings = self.rings.lock().expect("status lock poisoned");
        rings.retain(|n, _| names.contains(n));
        for name in names {
            let ring = rings.entry(name.clone()).or_default();
            ring.push_back((now, self.metrics.profile_totals(name)));
            if ring.len() > KEPT {
                ring.pop_front();
            }
        }
    }

    pub fn recent(&self, name: &str) -> Recent {
        let rings = self.rings.lock().expect("status lock poisoned");
        let Some(ring) = rings.get(name).filter(|r| r.len() >= 2) else {
            return Recent {
                window: None,
                rates: Vec::new(),
            };
        };
        let (t1, last) = ring.back().expect("two snapshots");
        // The oldest snapshot still inside RECENT of the last one.
        let (_, from) = ring
            .iter()
            .find(|(t, _)| t1.duration_since(*t) <= RECENT)
            .filter(|(t, _)| t != t1)
            .unwrap_or(&ring[ring.len() - 2]);
        let rates = ring
            .iter()
            .zip(ring.iter().skip(1))
            .map(|((t0, a), (t1, b))| {
                let dt = t1.duration_since(*t0).as_secs_f64();
                b.requests().saturating_sub(a.requests()) as f64 / dt.max(1e-9)
            })
            .collect();
        Recent {
            window: Some(last.since(from)),
            rates,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};
    use crate::metrics::ProfileRecorder;
    use crate::outcome::Outcome;

    fn config() -> Config {
        let toml = r#"
[targets.t]
url = "http://127.0.0.1:9"
[[targets.t.endpoints]]
name = "e"
path = "/"
[profiles.p]
target = "t"
rate = 1
duration = "1h"
"#;
        use figment::providers::Format as _;
        let raw = figment::Figment::from(figment::providers::Toml::string(toml))
            .extract()
            .expect("a raw config");
        config::validate(&raw, "t.toml", None).expect("valid config")
    }

    #[test]
    fn rates_and_the_last_minute_come_from_the_snapshots() {
        let metrics = Metrics::new();
        let cfg = config();
        let recorder = ProfileRecorder::new(&metrics, &cfg.profiles[0], None);
        let history = StatusHistory::new(metrics.clone());
        let names = vec!["p".to_string()];
        let t0 = Instant::now();
        assert!(history.recent("p").window.is_none(), "nothing sampled yet");
        let ok = Outcome {
            code: None,
            error: None,
            bytes_received: 0,
            trace: None,
        };
        for i in 0..20u32 {
            // 10 requests in each 5 s interval, the last two a tenth slower.
            for _ in 0..10 {
                let ms = if i >= 18 { 400 } else { 4 };
                recorder.record(0, Duration::from_millis(ms), &ok);
            }
            history.sample_at(&names, t0 + EVERY * i);
        }
        let r = history.recent("p");
        assert_eq!(r.rates.len(), 19);
        assert!(
            r.rates.iter().all(|&x| (x - 2.0).abs() < 1e-9),
            "{:?}",
            r.rates
        );
        let w = r.window.expect("a window");
        // 60 s back from t=95 s is t=35 s: the 12 intervals after it, 120 requests.
        assert_eq!(w.requests, 120);
        assert!(w.quantile(0.5).expect("a median") < 0.01);
        assert!(w.quantile(0.99).expect("a p99") > 0.1);
        history.sample_at(&[], t0 + EVERY * 20);
        assert!(
            history.recent("p").rates.is_empty(),
            "a removed profile is forgotten"
        );
    }
}
