//! The closed model's crowd: virtual users grown and shrunk towards the pattern's count at
//! the spawn rate, each sending its next request (or scenario iteration) when the last one
//! ends, obeying the kill switch and the global caps between requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::executor::{drop_reason, Picker};
use super::limits::SafetyLimits;
use super::session::Session;
use super::transport::Transport;
use crate::metrics::ProfileRecorder;
use crate::outcome::ErrorKind;
use crate::pause::Pause;
use crate::scenario::Think;

/// After a connect, DNS or TLS failure a closed-model user pauses this long, so an absent
/// target costs a trickle of failed connects rather than a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// How often the closed model compares its users with the pattern.
pub(super) const USER_TICK: Duration = Duration::from_millis(50);

/// The closed model's live users, grown and shrunk towards the pattern at the spawn rate.
/// Each user has its own retire flag, so retiring one never stops another.
pub(super) struct Crowd {
    flags: Vec<Arc<AtomicBool>>,
    spawn_rate: Option<f64>,
    /// Users that may be started or retired now; refills at the spawn rate.
    credit: f64,
    last: Option<Instant>,
}

impl Crowd {
    pub(super) fn new(spawn_rate: Option<f64>) -> Self {
        // The first tick may start a tick's worth of users, and at least one.
        let credit = spawn_rate.map_or(1.0, |r| (r * USER_TICK.as_secs_f64()).max(1.0));
        Crowd {
            flags: Vec::new(),
            spawn_rate,
            credit,
            last: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.flags.len()
    }

    /// Moves towards `want` users as far as the credit allows, starting users with `spawn`.
    pub(super) fn steer(
        &mut self,
        want: usize,
        now: Instant,
        mut spawn: impl FnMut(Arc<AtomicBool>),
    ) {
        if let (Some(rate), Some(last)) = (self.spawn_rate, self.last) {
            // Credit does not pile up while nothing changes: at most a second's worth.
            let dt = now.duration_since(last).as_secs_f64();
            self.credit = (self.credit + rate * dt).min(rate.max(1.0));
        }
        self.last = Some(now);
        while self.flags.len() != want && (self.spawn_rate.is_none() || self.credit >= 1.0) {
            if self.flags.len() < want {
                let flag = Arc::new(AtomicBool::new(false));
                spawn(flag.clone());
                self.flags.push(flag);
            } else if let Some(flag) = self.flags.pop() {
                flag.store(true, Ordering::Relaxed);
            }
            self.credit -= 1.0;
        }
    }

    pub(super) fn retire_all(&mut self) {
        for flag in self.flags.drain(..) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// One closed-model virtual user: sends its next request when the last one ends.
pub(super) struct User<T: Transport> {
    pub(super) session: Option<Arc<Session>>,
    pub(super) client: Arc<T>,
    pub(super) recorder: Arc<ProfileRecorder>,
    pub(super) picker: Arc<Picker>,
    pub(super) budget: Arc<Budget>,
    pub(super) cancel: CancellationToken,
    pub(super) deadline: Option<Instant>,
    pub(super) pause: Pause,
    pub(super) limits: SafetyLimits,
    /// The profile's `think`: a pause after each request or iteration.
    pub(super) think: Option<Think>,
}

// By hand: a derive would ask for `T: Clone`, and only the `Arc` is cloned.
impl<T: Transport> Clone for User<T> {
    fn clone(&self) -> Self {
        User {
            session: self.session.clone(),
            client: self.client.clone(),
            recorder: self.recorder.clone(),
            picker: self.picker.clone(),
            budget: self.budget.clone(),
            cancel: self.cancel.clone(),
            deadline: self.deadline,
            pause: self.pause.clone(),
            limits: self.limits.clone(),
            think: self.think,
        }
    }
}

impl<T: Transport> User<T> {
    pub(super) async fn run(self, retired: Arc<AtomicBool>) {
        if let Some(session) = &self.session {
            return self.run_scenario(session, &retired).await;
        }
        let mut slot = None;
        let mut rng = fastrand::Rng::new();
        loop {
            // Paused: the user idles here, between requests.
            if !self.pause.wait_resumed(&self.cancel).await {
                break;
            }
            if retired.load(Ordering::Relaxed)
                || self.cancel.is_cancelled()
                || self.deadline.is_some_and(|d| Instant::now() >= d)
                || !self.budget.take()
            {
                break;
            }
            // Over a global cap: one drop counted, then the user waits for room.
            let Some(safety_slot) = self
                .limits
                .start(&self.cancel, |r| self.recorder.dropped_for(drop_reason(r)))
                .await
            else {
                break;
            };
            let idx = self.picker.pick();
            let sent = Instant::now();
            self.recorder.started();
            // Not raced against `cancel`: a stop lets the request in flight finish (that is
            // the drain), and registering a canceller per request would cost a lock on the
            // hot path.
            let outcome = self.client.call(idx, &mut slot).await;
            self.recorder.finished();
            self.recorder.record(idx, sent.elapsed(), &outcome);
            drop(safety_slot);
            let backoff = matches!(
                outcome.error,
                Some(ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls)
            )
            .then_some(CONNECT_BACKOFF);
            if !self.pause_after(backoff, &mut rng).await {
                break;
            }
        }
    }

    /// Waits the think time, or at least `backoff`; false when cancelled meanwhile.
    async fn pause_after(&self, backoff: Option<Duration>, rng: &mut fastrand::Rng) -> bool {
        let think = self.think.map_or(Duration::ZERO, |t| t.sample(rng));
        let wait = backoff.map_or(think, |b| b.max(think));
        if wait.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = self.cancel.cancelled() => false,
        }
    }
}

impl<T: Transport> User<T> {
    /// The closed model with a scenario: this user loops the scenario, keeping its variables
    /// (a token from a `once` login step), cookies and connection between iterations. The
    /// request budget counts iterations.
    async fn run_scenario(&self, session: &Session, retired: &AtomicBool) {
        let mut user = session.user();
        let mut rng = fastrand::Rng::new();
        loop {
            // Paused: the user idles here, between iterations.
            if !self.pause.wait_resumed(&self.cancel).await {
                break;
            }
            if retired.load(Ordering::Relaxed)
                || self.cancel.is_cancelled()
                || self.deadline.is_some_and(|d| Instant::now() >= d)
                || !self.budget.take()
            {
                break;
            }
            let Some(safety_slot) = self
                .limits
                .start(&self.cancel, |r| self.recorder.dropped_for(drop_reason(r)))
                .await
            else {
                break;
            };
            let started = Instant::now();
            let ok = session.iterate(&mut user, started).await;
            drop(safety_slot);
            // A session that fails at once (target down) must not spin.
            let backoff = (!ok && started.elapsed() < CONNECT_BACKOFF).then_some(CONNECT_BACKOFF);
            if !self.pause_after(backoff, &mut rng).await {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steers `crowd` towards `want` at `t` ms; returns how many users it started.
    fn steer(crowd: &mut Crowd, start: Instant, t: u64, want: usize) -> usize {
        let mut started = 0;
        crowd.steer(want, start + Duration::from_millis(t), |_| started += 1);
        started
    }

    #[test]
    fn users_join_at_the_spawn_rate_not_all_at_once() {
        let start = Instant::now();
        let mut crowd = Crowd::new(Some(10.0));
        assert_eq!(steer(&mut crowd, start, 0, 20), 1, "one at once");
        let mut total = 1;
        for tick in 1..=20 {
            total += steer(&mut crowd, start, tick * 50, 20);
        }
        // 10 users/s for 1 s after the first.
        assert_eq!(total, 11);
        for tick in 21..=60 {
            total += steer(&mut crowd, start, tick * 50, 20);
        }
        assert_eq!(total, 20, "never beyond what the pattern asks");
        assert_eq!(crowd.len(), 20);
    }

    #[test]
    fn users_retire_at_the_spawn_rate_and_only_the_newest() {
        let start = Instant::now();
        let mut crowd = Crowd::new(None);
        let mut flags = Vec::new();
        crowd.steer(6, start, |f| flags.push(f));
        assert_eq!(flags.len(), 6);
        crowd.spawn_rate = Some(2.0);
        crowd.credit = 0.0;
        crowd.steer(2, start + Duration::from_millis(500), |_| {});
        assert_eq!(crowd.len(), 5, "2/s retires one in half a second");
        for t in [1_000, 1_500, 2_000] {
            crowd.steer(2, start + Duration::from_millis(t), |_| {});
        }
        assert_eq!(crowd.len(), 2);
        let retired: Vec<bool> = flags.iter().map(|f| f.load(Ordering::Relaxed)).collect();
        assert_eq!(retired, [false, false, true, true, true, true]);
        crowd.retire_all();
        assert!(flags.iter().all(|f| f.load(Ordering::Relaxed)));
    }

    #[test]
    fn without_a_spawn_rate_the_crowd_jumps_to_the_pattern() {
        let start = Instant::now();
        let mut crowd = Crowd::new(None);
        assert_eq!(steer(&mut crowd, start, 0, 50), 50);
        assert_eq!(steer(&mut crowd, start, 50, 10), 0);
        assert_eq!(crowd.len(), 10);
    }
}
