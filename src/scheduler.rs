//! A daemon's profile over time: waits for each activation of its schedule, runs the engine
//! for it at the right place in the pattern, and exports whether it is active and when it
//! next starts. Everything is computed from the wall clock, so a restarted daemon, a
//! reloaded profile and every shard of a scaled-out deployment agree on where the pattern is.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Profile;
use crate::engine::plan::PatternClock;
use crate::engine::{run_profile, RunEnd, RunSpec, Shard};
use crate::metrics::ProfileRecorder;
use crate::pause::Pause;
use crate::schedule::calendar::{Activity, Schedule};

/// How long an idle profile sleeps before looking at the clock again, at most: a wall clock
/// set forward (or a suspended machine) must not make it miss an activation for long.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// Activations shorter than this are not worth starting the engine for.
const MIN_RUN: Duration = Duration::from_millis(20);

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1e3
}

/// Pattern time under an `always` schedule: local wall-clock seconds since the local epoch,
/// so a daily curve peaks at its local hour and loops line up on every instance.
fn wall_clock(schedule: Arc<Schedule>, start: DateTime<Utc>) -> PatternClock {
    Arc::new(move |real: f64| {
        let at = start + chrono::Duration::milliseconds((real * 1e3) as i64);
        unix(at) + schedule.utc_offset_secs(at) as f64
    })
}

/// The engine run for the activation in progress at `now`, or None if it is (nearly) over.
pub fn activation_spec(
    profile: &Profile,
    shard: Shard,
    elapsed: Duration,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<RunSpec> {
    let schedule = &profile.schedule;
    let left = until.map(|u| (u - now).to_std().unwrap_or_default());
    let length = match (left, profile.duration) {
        (Some(l), Some(d)) => Some(l.min(d)),
        (l, d) => l.or(d),
    };
    if length.is_some_and(|l| l < MIN_RUN) {
        return None;
    }
    let clock = schedule
        .is_always()
        .then(|| wall_clock(Arc::new(schedule.clone()), now));
    Some(RunSpec {
        shard,
        speed: 1.0,
        offset: elapsed,
        repeat: schedule.repeat(),
        clock,
        length,
        pause: Pause::default(),
        limits: crate::engine::SafetyLimits::default(),
    })
}

/// Follows `profile`'s schedule until `cancel` fires; every activation obeys `pause` and the
/// process-wide `limits`.
pub async fn follow(
    profile: Arc<Profile>,
    shard: Shard,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    drain: Duration,
    pause: Pause,
    limits: crate::engine::SafetyLimits,
) -> RunEnd {
    let mut last = RunEnd {
        elapsed: Duration::ZERO,
        abandoned: 0,
    };
    loop {
        let now = Utc::now();
        let next = profile.schedule.next_starts(now, 1).first().copied();
        recorder.set_next_start(next.map(unix));
        let wait = match profile.schedule.activity_at(now) {
            Activity::Active { elapsed, until } => {
                match activation_spec(&profile, shard, elapsed, until, now) {
                    Some(spec) => {
                        last = run_profile(
                            profile.clone(),
                            RunSpec {
                                pause: pause.clone(),
                                limits: limits.clone(),
                                ..spec
                            },
                            recorder.clone(),
                            cancel.clone(),
                            drain,
                        )
                        .await;
                        if cancel.is_cancelled() {
                            return last;
                        }
                        // A profile with a duration or a request budget under an `always`
                        // schedule runs once.
                        if profile.schedule.is_always() {
                            recorder.set_next_start(None);
                            cancel.cancelled().await;
                            return last;
                        }
                        continue;
                    }
                    None => until.map(|u| (u - now).to_std().unwrap_or_default()),
                }
            }
            Activity::Idle { next: None } => {
                recorder.set_active(false);
                tracing::info!(profile = %profile.name, "schedule has no further activations");
                cancel.cancelled().await;
                return last;
            }
            Activity::Idle { next: Some(at) } => {
                recorder.set_active(false);
                tracing::debug!(profile = %profile.name, next = %at, "waiting for the schedule");
                Some((at - now).to_std().unwrap_or_default())
            }
        };
        let wait = wait.unwrap_or(IDLE_RECHECK).min(IDLE_RECHECK) + Duration::from_millis(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return last,
        }
    }
}
