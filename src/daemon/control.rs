//! Live control of running profiles: each has its own pause (a child of the process-wide
//! kill switch) and a load multiplier, which the control API (`control_api.rs`, off unless
//! `--web.enable-control-api`) changes and a reload puts back (the config is the truth; a
//! change through the API lasts until the next reload or restart). Every change is exported
//! (`loadtide_profile_paused`, `loadtide_profile_rate_multiplier`) and logged to the audit
//! log target.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::engine::Multiplier;
use crate::metrics::Metrics;
use crate::pause::{Pause, PauseSource};

/// The highest multiplier the API accepts: ten times the configured load.
pub const MAX_MULTIPLIER: f64 = 10.0;

/// Seconds of request counts kept per profile for its achieved rate.
const WINDOW: usize = 10;

/// One profile's switches, shared with its running engine.
#[derive(Clone)]
pub struct ProfileControl {
    pub pause: Pause,
    pub multiplier: Multiplier,
}

pub struct Controls {
    global: Pause,
    metrics: Arc<Metrics>,
    profiles: RwLock<BTreeMap<String, ProfileControl>>,
    /// Per profile: (when, requests so far), one a second, the last `WINDOW`.
    counts: Mutex<BTreeMap<String, VecDeque<(Instant, u64)>>>,
}

impl Controls {
    pub fn new(global: Pause, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Controls {
            global,
            metrics,
            profiles: Default::default(),
            counts: Default::default(),
        })
    }

    /// The switches of profile `name`, created (unpaused, ×1) when it has none.
    pub fn of(&self, name: &str) -> ProfileControl {
        let mut profiles = self.profiles.write().expect("controls lock poisoned");
        let c = profiles
            .entry(name.to_string())
            .or_insert_with(|| ProfileControl {
                pause: self.global.child(),
                multiplier: Multiplier::default(),
            });
        self.export(name, c);
        c.clone()
    }

    /// Keeps only the profiles in `names` and puts every kept one back to the config's
    /// load (a reload); logs what that undid.
    pub fn reset(&self, names: &[&str]) {
        let mut profiles = self.profiles.write().expect("controls lock poisoned");
        profiles.retain(|name, _| {
            let keep = names.contains(&name.as_str());
            if !keep {
                self.metrics.forget_profile_control(name);
            }
            keep
        });
        for (name, c) in profiles.iter() {
            let (paused, m) = (c.pause.held(), c.multiplier.get());
            if paused || m != 1.0 {
                tracing::info!(target: "loadtide::audit", profile = %name, paused, rate_multiplier = m,
                    "reload: the profile's API changes are undone (paused=false, rate_multiplier=1)");
            }
            c.pause.set(PauseSource::Profile, false);
            c.multiplier.set(1.0);
            self.export(name, c);
        }
    }

    /// Pauses or resumes `name`; None when no such profile runs.
    pub fn pause(&self, name: &str, on: bool, who: &str) -> Option<()> {
        let c = self.get(name)?;
        let changed = c.pause.set(PauseSource::Profile, on);
        tracing::info!(target: "loadtide::audit", profile = %name, user = %who, changed,
            "control API: {} profile", if on { "paused" } else { "resumed" });
        self.export(name, &c);
        Some(())
    }

    /// Sets `name`'s load multiplier (0..=MAX_MULTIPLIER, checked by the caller); the old one.
    pub fn set_multiplier(&self, name: &str, m: f64, who: &str) -> Option<f64> {
        let c = self.get(name)?;
        let old = c.multiplier.get();
        c.multiplier.set(m);
        tracing::info!(target: "loadtide::audit", profile = %name, user = %who, from = old, to = m,
            "control API: rate multiplier changed");
        self.export(name, &c);
        Some(old)
    }

    fn get(&self, name: &str) -> Option<ProfileControl> {
        let profiles = self.profiles.read().expect("controls lock poisoned");
        profiles.get(name).cloned()
    }

    fn export(&self, name: &str, c: &ProfileControl) {
        self.metrics
            .set_profile_control(name, c.pause.held(), c.multiplier.get());
    }

    /// Records each profile's request count now (the daemon calls it once a second).
    pub fn sample(&self) {
        let now = Instant::now();
        let names: Vec<String> = self
            .profiles
            .read()
            .expect("controls lock poisoned")
            .keys()
            .cloned()
            .collect();
        let mut counts = self.counts.lock().expect("counts lock poisoned");
        counts.retain(|n, _| names.contains(n));
        for name in names {
            let ring = counts.entry(name.clone()).or_default();
            ring.push_back((now, self.metrics.requests_of(&name)));
            if ring.len() > WINDOW {
                ring.pop_front();
            }
        }
    }

    /// Whether `name` is held, by its own pause or the kill switch.
    pub fn is_paused(&self, name: &str) -> bool {
        self.get(name).is_some_and(|c| c.pause.is_paused())
    }

    /// Requests per second completed over the last seconds; None before two samples.
    pub fn achieved(&self, name: &str) -> Option<f64> {
        let counts = self.counts.lock().expect("counts lock poisoned");
        let ring = counts.get(name)?;
        let ((t0, c0), (t1, c1)) = (ring.front()?, ring.back()?);
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.0).then(|| c1.saturating_sub(*c0) as f64 / dt)
    }

    /// What `GET /api/v1/profiles` shows of profile `name`.
    pub fn describe(&self, name: &str) -> Option<serde_json::Value> {
        let c = self.get(name)?;
        let s = self.metrics.profile_status(name);
        let state = if c.pause.is_paused() {
            "paused"
        } else if s.active {
            "active"
        } else {
            "idle"
        };
        Some(serde_json::json!({
            "name": name,
            "state": state,
            "paused": c.pause.held(),
            "paused_by_kill_switch": self.global.is_paused(),
            "rate_multiplier": c.multiplier.get(),
            "intended_rps": s.intended_rps,
            "achieved_rps": self.achieved(name),
            "virtual_users": s.virtual_users,
            "requests": self.metrics.requests_of(name),
            "next_start": s.next_start,
        }))
    }

    pub fn names(&self) -> Vec<String> {
        let profiles = self.profiles.read().expect("controls lock poisoned");
        profiles.keys().cloned().collect()
    }
}
