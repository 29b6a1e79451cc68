//! The one loop that follows a schedule (cloudprober's Scheduler shape): look at the wall
//! clock, hand an activation in progress to the job, otherwise export the next start and
//! sleep until it (never longer than `IDLE_RECHECK`, so a clock set forward or a suspended
//! machine costs at most that), until cancelled. Load profiles (`scheduled`) and capacity
//! searches (`capacity::daemon`) are jobs; the loop knows neither.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::metrics::ProfileRecorder;
use crate::schedule::calendar::{Activity, Schedule};

/// How long an idle follower sleeps before looking at the clock again, at most.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// What the job wants after it saw an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Look at the clock again at once (the job ran, or was interrupted, and may run again).
    Again,
    /// Sleep this long (None: the idle recheck) before looking again.
    Wait(Option<Duration>),
    /// Done for good: no next start, wait for the cancel.
    Finish,
}

/// Work done while a schedule's window is open.
pub trait Job {
    /// The activation in progress at `now`, begun `elapsed` ago and open `until` (None: no
    /// end). Runs it, or declines, and says what to do next.
    fn active(
        &mut self,
        now: DateTime<Utc>,
        elapsed: Duration,
        until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Turn> + Send;
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1e3
}

/// Follows `schedule` for the profile `recorder` exports, handing each activation to `job`,
/// until `cancel` fires.
pub async fn follow(
    profile: &str,
    schedule: &Schedule,
    recorder: &ProfileRecorder,
    cancel: &CancellationToken,
    job: &mut impl Job,
) {
    loop {
        let now = Utc::now();
        let next = schedule.next_starts(now, 1).first().copied();
        recorder.set_next_start(next.map(unix));
        let wait = match schedule.activity_at(now) {
            Activity::Active { elapsed, until } => match job.active(now, elapsed, until).await {
                _ if cancel.is_cancelled() => return,
                Turn::Again => continue,
                Turn::Wait(wait) => wait,
                Turn::Finish => {
                    recorder.set_next_start(None);
                    cancel.cancelled().await;
                    return;
                }
            },
            Activity::Idle { next: None } => {
                recorder.set_active(false);
                tracing::info!(%profile, "schedule has no further activations");
                cancel.cancelled().await;
                return;
            }
            Activity::Idle { next: Some(at) } => {
                recorder.set_active(false);
                tracing::debug!(%profile, next = %at, "waiting for the schedule");
                Some((at - now).to_std().unwrap_or_default())
            }
        };
        let wait = wait.unwrap_or(IDLE_RECHECK).min(IDLE_RECHECK) + Duration::from_millis(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
