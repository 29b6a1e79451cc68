//! A capacity profile in the daemon: when its schedule's window opens, the search runs once
//! (not again until the next activation), and its result is exported as
//! `loadtide_capacity_rps`, `loadtide_capacity_generator_bound` and
//! `loadtide_capacity_last_run_timestamp_seconds`. The kill switch interrupts a search, which
//! then publishes nothing and runs again on resume if the window is still open.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{LevelSettings, Settings, KNEE_FACTOR};
use crate::config::Profile;
use crate::engine::follow::{self, Job, Turn};
use crate::engine::{RunEnd, Shard};
use crate::metrics::health::HealthLimits;
use crate::metrics::{Metrics, ProfileRecorder};
use crate::pause::Pause;

/// The search settings of a capacity profile.
pub fn settings(profile: &Profile, shard: Shard) -> Option<Settings> {
    let spec = profile.capacity.as_ref()?;
    Some(Settings {
        params: spec.params,
        level: LevelSettings {
            stabilize: spec.stabilize,
            hold: spec.hold,
            shard,
            limits: HealthLimits {
                max_lag: spec.max_lag,
                ..HealthLimits::default()
            },
            safety: crate::engine::SafetyLimits::default(),
        },
        slos: spec.slos.clone(),
        knee_factor: KNEE_FACTOR,
    })
}

/// A capacity profile as a `follow` job: one search per activation, again on resume when a
/// pause interrupted it.
struct SearchJob {
    profile: Arc<Profile>,
    settings: Settings,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
    pause: Pause,
    /// The start (Unix ms) of the activation already searched.
    searched: Option<i64>,
}

impl Job for SearchJob {
    async fn active(
        &mut self,
        now: DateTime<Utc>,
        elapsed: Duration,
        until: Option<DateTime<Utc>>,
    ) -> Turn {
        let started = now.timestamp_millis() - elapsed.as_millis() as i64;
        let done = self.searched.is_some_and(|s| (s - started).abs() < 2_000);
        if self.pause.is_paused() {
            // Look again soon.
            return Turn::Wait(Some(Duration::from_secs(1)));
        }
        if done {
            return Turn::Wait(until.map(|u| (u - now).to_std().unwrap_or_default()));
        }
        let (p, s, m) = (&self.profile, &self.settings, &self.metrics);
        if !search(p, s, m, &self.cancel, &self.pause).await {
            self.searched = Some(started);
        }
        Turn::Again
    }
}

/// Follows `profile`'s schedule until `cancel` fires, searching once per activation.
pub async fn follow(
    profile: Arc<Profile>,
    shard: Shard,
    metrics: Arc<Metrics>,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    pause: Pause,
    safety: crate::engine::SafetyLimits,
) -> RunEnd {
    let end = RunEnd {
        elapsed: Duration::ZERO,
        abandoned: 0,
    };
    let Some(mut settings) = settings(&profile, shard) else {
        return end;
    };
    settings.level.safety = safety;
    let mut job = SearchJob {
        profile: profile.clone(),
        settings,
        metrics,
        cancel: cancel.clone(),
        pause,
        searched: None,
    };
    follow::follow(
        &profile.name,
        &profile.schedule,
        &recorder,
        &cancel,
        &mut job,
    )
    .await;
    end
}

/// One search; true when it was interrupted (pause or shutdown) and published nothing.
async fn search(
    profile: &Arc<Profile>,
    settings: &Settings,
    metrics: &Metrics,
    cancel: &CancellationToken,
    pause: &Pause,
) -> bool {
    tracing::info!(profile = %profile.name, "capacity search starting");
    let stop = cancel.child_token();
    let (pause, on_pause) = (pause.clone(), stop.clone());
    let watcher = tokio::spawn(async move {
        if pause.wait_paused(&on_pause).await {
            on_pause.cancel();
        }
    });
    let name = profile.name.clone();
    let report = super::run(profile.clone(), settings, metrics, stop.clone(), |l| {
        tracing::info!(
            profile = %name,
            rate = l.rate,
            achieved = l.achieved_rps,
            p99 = l.latency.p99,
            verdict = %l.verdict,
            "capacity level"
        );
    })
    .await;
    watcher.abort();
    if stop.is_cancelled() {
        tracing::warn!(profile = %profile.name, "capacity search interrupted; nothing published");
        return true;
    }
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics.capacity_result(
        &profile.name,
        report.capacity_rps,
        report.generator_bound(),
        at,
    );
    tracing::info!(profile = %profile.name, capacity_rps = report.capacity_rps, "{}", report.message);
    false
}
