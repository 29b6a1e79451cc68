//! A daemon's load profile over time: for each activation of its schedule (found by
//! `follow`), runs the engine at the right place in the pattern. Everything is computed from
//! the wall clock, so a restarted daemon, a reloaded profile and every shard of a scaled-out
//! deployment agree on where the pattern is.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::follow::{Job, Turn};
use super::plan::{Multiplier, PatternClock};
use super::{run_profile, RunEnd, RunSpec, SafetyLimits, Shard};
use crate::config::Profile;
use crate::metrics::ProfileRecorder;
use crate::pause::Pause;
use crate::schedule::calendar::Schedule;

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
        limits: SafetyLimits::default(),
        trace_by_default: false,
        multiplier: Default::default(),
    })
}

/// A load profile as a `follow` job: each activation runs the engine at its place in the
/// pattern, obeying the kill switch and the process-wide caps.
struct LoadJob {
    profile: Arc<Profile>,
    shard: Shard,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    drain: Duration,
    pause: Pause,
    multiplier: Multiplier,
    limits: SafetyLimits,
    last: RunEnd,
}

impl Job for LoadJob {
    async fn active(
        &mut self,
        now: DateTime<Utc>,
        elapsed: Duration,
        until: Option<DateTime<Utc>>,
    ) -> Turn {
        let Some(spec) = activation_spec(&self.profile, self.shard, elapsed, until, now) else {
            return Turn::Wait(until.map(|u| (u - now).to_std().unwrap_or_default()));
        };
        let spec = RunSpec {
            pause: self.pause.clone(),
            limits: self.limits.clone(),
            trace_by_default: true,
            multiplier: self.multiplier.clone(),
            ..spec
        };
        self.last = run_profile(
            self.profile.clone(),
            spec,
            self.recorder.clone(),
            self.cancel.clone(),
            self.drain,
        )
        .await;
        // A profile with a duration or a request budget under an `always` schedule runs once.
        if self.profile.schedule.is_always() {
            Turn::Finish
        } else {
            Turn::Again
        }
    }
}

/// Follows `profile`'s schedule until `cancel` fires; every activation obeys `pause`, the
/// load `multiplier` and the process-wide `limits`.
pub async fn follow(
    profile: Arc<Profile>,
    shard: Shard,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    drain: Duration,
    (pause, multiplier): (Pause, Multiplier),
    limits: SafetyLimits,
) -> RunEnd {
    let mut job = LoadJob {
        profile: profile.clone(),
        shard,
        recorder: recorder.clone(),
        cancel: cancel.clone(),
        drain,
        pause,
        multiplier,
        limits,
        last: RunEnd {
            elapsed: Duration::ZERO,
            abandoned: 0,
        },
    };
    super::follow::follow(
        &profile.name,
        &profile.schedule,
        &recorder,
        &cancel,
        &mut job,
    )
    .await;
    job.last
}
