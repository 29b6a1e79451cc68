//! A capacity profile in the daemon: when its schedule's window opens, the search runs once
//! (not again until the next activation), and its result is exported as
//! `loadtide_capacity_rps`, `loadtide_capacity_generator_bound` and
//! `loadtide_capacity_last_run_timestamp_seconds`. The kill switch interrupts a search, which
//! then publishes nothing and runs again on resume if the window is still open.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::{HealthLimits, LevelSettings, Settings, KNEE_FACTOR};
use crate::config::Profile;
use crate::engine::{RunEnd, Shard};
use crate::metrics::{Metrics, ProfileRecorder};
use crate::pause::Pause;
use crate::schedule::calendar::Activity;

/// How long an idle capacity profile sleeps before looking at the clock again, at most.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

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
    // The start (Unix ms) of the activation already searched.
    let mut searched: Option<i64> = None;
    loop {
        let now = Utc::now();
        let next = profile.schedule.next_starts(now, 1).first().copied();
        recorder.set_next_start(next.map(|t| t.timestamp_millis() as f64 / 1e3));
        let wait = match profile.schedule.activity_at(now) {
            Activity::Active { elapsed, until } => {
                let started = now.timestamp_millis() - elapsed.as_millis() as i64;
                let done = searched.is_some_and(|s| (s - started).abs() < 2_000);
                if !done && !pause.is_paused() {
                    let interrupted = search(&profile, &settings, &metrics, &cancel, &pause).await;
                    if cancel.is_cancelled() {
                        return end;
                    }
                    if !interrupted {
                        searched = Some(started);
                    }
                    continue;
                }
                let left = until.map(|u| (u - now).to_std().unwrap_or_default());
                // Paused: look again soon.
                if pause.is_paused() {
                    Some(Duration::from_secs(1))
                } else {
                    left
                }
            }
            Activity::Idle { next: None } => {
                cancel.cancelled().await;
                return end;
            }
            Activity::Idle { next: Some(at) } => Some((at - now).to_std().unwrap_or_default()),
        };
        let wait = wait.unwrap_or(IDLE_RECHECK).min(IDLE_RECHECK) + Duration::from_millis(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return end,
        }
    }
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
    let mut paused = pause.subscribe();
    let on_pause = stop.clone();
    let watcher = tokio::spawn(async move {
        loop {
            if *paused.borrow_and_update() {
                on_pause.cancel();
                return;
            }
            if paused.changed().await.is_err() {
                return;
            }
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
