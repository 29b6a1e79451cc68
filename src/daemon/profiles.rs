//! The daemon's running profiles, by name: starting each on its schedule (a load profile or
//! a capacity search), swapping them on reload (unchanged ones keep running, changed ones
//! restart, removed ones stop) and publishing the list the landing page shows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::control::Controls;
use super::server::ServerState;
use crate::config::{self, Config, Load, Profile};
use crate::engine::{RunEnd, SafetyLimits, Shard};
use crate::metrics::{Metrics, ProfileRecorder};
use crate::schedule::Pattern;

pub(super) struct Running {
    pub(super) profile: Arc<Profile>,
    pub(super) recorder: Arc<ProfileRecorder>,
    pub(super) cancel: CancellationToken,
    pub(super) handle: JoinHandle<RunEnd>,
}

pub(super) struct Daemon {
    pub(super) metrics: Arc<Metrics>,
    pub(super) state: Arc<ServerState>,
    pub(super) running: BTreeMap<String, Running>,
    pub(super) drain: Duration,
    pub(super) shard: Shard,
    /// Each profile's own pause and load multiplier (the control API's switches).
    pub(super) controls: Arc<Controls>,
    /// `[safety]`'s caps, shared by every profile; updated in place on reload.
    pub(super) limits: SafetyLimits,
}

/// A constant as its number, any other pattern as its description.
fn amount(p: &Pattern) -> String {
    match p {
        Pattern::Constant { value } => value.to_string(),
        other => other.describe(),
    }
}

/// "1 user", "3 users", "ramp 0 → 10 over 1m (linear) users".
fn counted(p: &Pattern, noun: &str) -> String {
    match p {
        Pattern::Constant { value } if *value == 1.0 => format!("1 {noun}"),
        _ => format!("{} {noun}s", amount(p)),
    }
}

/// What the profile runs, for the log and the status page: "target api (2 endpoints): …".
fn summary(p: &Profile) -> String {
    let load = match &p.load {
        Load::Open { rate, .. } => format!("open model, {} req/s", amount(rate)),
        Load::Closed { users, think } => format!(
            "closed model, {}{}",
            counted(users, "user"),
            think
                .map(|t| format!(", think {}", t.describe()))
                .unwrap_or_default()
        ),
        Load::WebSocket {
            connections,
            message_rate,
        } => format!(
            "websocket, {}, {message_rate} msg/s each",
            counted(connections, "connection")
        ),
    };
    let load = match &p.capacity {
        Some(c) => format!(
            "capacity search from {} req/s, SLOs {}",
            c.params.start_rate,
            c.slos
                .iter()
                .map(|t| t.expr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => load,
    };
    format!(
        "target {} ({}): {load}",
        p.target.name,
        crate::report::render::count(p.endpoints.len(), "endpoint")
    )
}

impl Running {
    /// Stops the run and zeroes its gauges here, before any replacement starts: the
    /// executor leaves them alone when cancelled, so a late finish of the old run cannot
    /// overwrite the new run's values (both write the same series).
    pub(super) fn stop(&self) {
        self.cancel.cancel();
        self.recorder.set_active(false);
    }
}

impl Daemon {
    fn start(&mut self, profile: Arc<Profile>) {
        let recorder = ProfileRecorder::new(&self.metrics, &profile, None);
        let cancel = CancellationToken::new();
        let control = self.controls.of(&profile.name);
        tracing::info!(profile = %profile.name, "starting profile: {} → {}", profile.name, summary(&profile));
        let handle = if profile.capacity.is_some() {
            tokio::spawn(crate::capacity::daemon::follow(
                profile.clone(),
                self.shard,
                self.metrics.clone(),
                recorder.clone(),
                cancel.clone(),
                control.pause,
                self.limits.clone(),
            ))
        } else {
            tokio::spawn(crate::engine::scheduled::follow(
                profile.clone(),
                self.shard,
                recorder.clone(),
                cancel.clone(),
                self.drain,
                (control.pause, control.multiplier),
                self.limits.clone(),
            ))
        };
        self.running.insert(
            profile.name.clone(),
            Running {
                profile,
                recorder,
                cancel,
                handle,
            },
        );
    }

    fn publish_status(&self) {
        let lines = self
            .running
            .values()
            .map(|r| (r.profile.name.clone(), summary(&r.profile)))
            .collect();
        *self.state.profiles.write().expect("status lock poisoned") = lines;
    }

    /// Puts `safety`'s caps (this shard's share) in force and exports them.
    fn apply_caps(&self, safety: &config::Safety) {
        let (rate, in_flight) = self.limits.apply(safety, self.shard);
        self.metrics.set_safety_caps(rate, in_flight);
    }

    /// Swaps in `new`'s profiles by name, keeping the unchanged ones running.
    pub(super) fn apply(&mut self, new: &Config) {
        self.apply_caps(&new.safety);
        self.metrics.set_static_labels(&new.labels);
        // The config is the truth again: API pauses and multipliers end with a reload.
        let names: Vec<&str> = new.profiles.iter().map(|p| p.name.as_str()).collect();
        self.controls.reset(&names);
        let mut keep = BTreeMap::new();
        for p in &new.profiles {
            match self.running.remove(&p.name) {
                Some(r) if *r.profile == **p => {
                    keep.insert(p.name.clone(), r);
                }
                Some(r) => {
                    tracing::info!(profile = %p.name, "profile changed; restarting it");
                    r.stop();
                }
                None => {}
            }
        }
        for (name, r) in std::mem::take(&mut self.running) {
            tracing::info!(profile = %name, "profile removed; stopping it");
            r.stop();
        }
        self.running = keep;
        for p in &new.profiles {
            if !self.running.contains_key(&p.name) {
                self.start(p.clone());
            }
        }
        self.publish_status();
    }

    pub(super) fn reload(
        &mut self,
        path: &std::path::Path,
        env: Option<&str>,
        current: &mut Config,
    ) -> Result<(), String> {
        match config::load_env(path, env) {
            Ok(new) => {
                if new.server != current.server || new.demo_target != current.demo_target {
                    tracing::warn!("server and demo_target settings change only on restart; the rest was reloaded");
                }
                self.apply(&new);
                *current = new;
                self.metrics.config_reloaded(true);
                tracing::info!(path = %path.display(), "configuration reloaded");
                Ok(())
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!("reload rejected: {e}");
                }
                self.metrics.config_reloaded(false);
                tracing::error!(
                    "{} configuration error(s); the previous configuration keeps running",
                    errors.0.len()
                );
                Err(errors.to_string())
            }
        }
    }
}
