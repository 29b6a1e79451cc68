//! The hot loops. Open model: a pacer yields intended send instants and each request runs in
//! its own task, up to `max_in_flight`; past that, arrivals are dropped and counted, never
//! queued. Closed model: N users, each sending its next request when the previous one ends.
//! Both record every outcome through pre-resolved handles and stop on cancel, at the end of
//! the profile's duration or after its request budget.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::brake::{Brake, Decision};
use super::budget::Budget;
use super::client::HttpClient;
use super::limits::{Refusal, SafetyLimits};
use super::pacer::{Due, Pacer};
use super::plan::RunSpec;
use super::session::Session;
use super::websocket::Connection;
use crate::config::{Load, Profile};
use crate::metrics::{DropReason, ProfileRecorder};
use crate::outcome::ErrorKind;
use crate::pause::Pause;

/// Wake this much before an intended send: tokio's timer fires on millisecond ticks, so
/// aiming early and sending at once keeps the timer's granularity out of the latency figures.
const EARLY: Duration = Duration::from_millis(1);

/// After a connect, DNS or TLS failure a closed-model user pauses this long, so an absent
/// target costs a trickle of failed connects rather than a busy loop.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// How a profile run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEnd {
    /// From the start until the last request finished (or the drain gave up).
    pub elapsed: Duration,
    /// Requests still outstanding when the drain time ran out.
    pub abandoned: usize,
}

/// Weighted choice of an endpoint.
struct Picker {
    endpoints: Vec<usize>,
    cumulative: Vec<u32>,
}

impl Picker {
    fn new(profile: &Profile) -> Self {
        let mut total = 0u32;
        let cumulative = profile
            .endpoints
            .iter()
            .map(|&i| {
                total = total.saturating_add(profile.target.endpoints[i].weight);
                total
            })
            .collect();
        Picker {
            endpoints: profile.endpoints.clone(),
            cumulative,
        }
    }

    fn pick(&self) -> usize {
        if self.endpoints.len() == 1 {
            return self.endpoints[0];
        }
        let total = *self
            .cumulative
            .last()
            .expect("a profile has at least one endpoint");
        let r = fastrand::u32(0..total);
        self.endpoints[self.cumulative.partition_point(|&c| c <= r)]
    }
}

fn drop_reason(r: Refusal) -> DropReason {
    match r {
        Refusal::MaxRate => DropReason::SafetyMaxRate,
        Refusal::MaxInFlight => DropReason::SafetyMaxInFlight,
    }
}

/// The share of the load the brake lets through, shared between its task and the loops.
#[derive(Clone)]
struct BrakeFactor(Arc<AtomicU64>);

impl BrakeFactor {
    fn new() -> Self {
        BrakeFactor(Arc::new(AtomicU64::new(1.0f64.to_bits())))
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, f: f64) {
        self.0.store(f.to_bits(), Ordering::Relaxed);
    }
}

/// Runs `profile`'s brake until `stop`: once a second it feeds the recorder's totals to the
/// state machine, then logs, exports and applies what it decided.
async fn steer_brake(
    profile: Arc<Profile>,
    recorder: Arc<ProfileRecorder>,
    factor: BrakeFactor,
    stop: CancellationToken,
) {
    let Some(spec) = profile.brake.clone() else {
        return;
    };
    let action = spec.action.as_str();
    let mut brake = Brake::new(spec);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recorder.set_brake_engaged(false);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let Some(totals) = recorder.brake_totals() else {
            break;
        };
        let now = start.elapsed().as_secs();
        let name = profile.name.as_str();
        match brake.observe(now, totals) {
            None => {}
            Some(Decision::Tripped {
                reason,
                stats,
                factor,
            }) => {
                recorder.brake_tripped(reason);
                tracing::warn!(
                    profile = name,
                    reason = reason.as_str(),
                    requests = stats.requests,
                    errors = stats.errors,
                    error_ratio = stats.error_ratio(),
                    slower_than_max_p99 = stats.slow_ratio(),
                    action,
                    load_factor = factor,
                    "error-budget brake tripped: {}",
                    if factor == 0.0 {
                        "pausing the profile for the cooldown".to_string()
                    } else {
                        format!("backing off to {:.1}% of the load", factor * 100.0)
                    }
                );
            }
            Some(Decision::Tightened {
                reason,
                stats,
                factor,
            }) => {
                tracing::warn!(
                    profile = name,
                    reason = reason.as_str(),
                    requests = stats.requests,
                    errors = stats.errors,
                    error_ratio = stats.error_ratio(),
                    slower_than_max_p99 = stats.slow_ratio(),
                    load_factor = factor,
                    "error-budget brake still tripped: backing off to {:.1}% of the load",
                    factor * 100.0
                );
            }
            Some(Decision::Loosened { factor }) => {
                tracing::info!(
                    profile = name,
                    load_factor = factor,
                    "error-budget brake: target healthy, recovering to {:.1}% of the load",
                    factor * 100.0
                );
            }
            Some(Decision::Released) => {
                tracing::info!(
                    profile = name,
                    action,
                    "error-budget brake released: full load again"
                );
            }
        }
        factor.set(brake.factor());
        recorder.set_brake_engaged(brake.engaged());
    }
    recorder.set_brake_engaged(false);
}

/// How often the closed model compares its users with the pattern.
const USER_TICK: Duration = Duration::from_millis(50);

/// The closed model's live users, grown and shrunk towards the pattern at the spawn rate.
/// Each user has its own retire flag, so retiring one never stops another.
struct Crowd {
    flags: Vec<Arc<AtomicBool>>,
    spawn_rate: Option<f64>,
    /// Users that may be started or retired now; refills at the spawn rate.
    credit: f64,
    last: Option<Instant>,
}

impl Crowd {
    fn new(spawn_rate: Option<f64>) -> Self {
        // The first tick may start a tick's worth of users, and at least one.
        let credit = spawn_rate.map_or(1.0, |r| (r * USER_TICK.as_secs_f64()).max(1.0));
        Crowd {
            flags: Vec::new(),
            spawn_rate,
            credit,
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.flags.len()
    }

    /// Moves towards `want` users as far as the credit allows, starting users with `spawn`.
    fn steer(&mut self, want: usize, now: Instant, mut spawn: impl FnMut(Arc<AtomicBool>)) {
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

    fn retire_all(&mut self) {
        for flag in self.flags.drain(..) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// One closed-model virtual user: sends its next request when the last one ends.
#[derive(Clone)]
struct User {
    session: Option<Arc<Session>>,
    client: Arc<HttpClient>,
    recorder: Arc<ProfileRecorder>,
    picker: Arc<Picker>,
    budget: Arc<Budget>,
    cancel: CancellationToken,
    deadline: Option<Instant>,
    pause: Pause,
    limits: SafetyLimits,
}

impl User {
    async fn run(self, retired: Arc<AtomicBool>) {
        if let Some(session) = &self.session {
            return self.run_scenario(session, &retired).await;
        }
        let mut slot = None;
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
            if matches!(
                outcome.error,
                Some(ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls)
            ) {
                tokio::select! {
                    _ = tokio::time::sleep(CONNECT_BACKOFF) => {}
                    _ = self.cancel.cancelled() => break,
                }
            }
        }
    }
}

impl User {
    /// The closed model with a scenario: this user loops the scenario, keeping its variables
    /// (a token from a `once` login step), cookies and connection between iterations. The
    /// request budget counts iterations.
    async fn run_scenario(&self, session: &Session, retired: &AtomicBool) {
        let mut user = session.user();
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
            if !ok && started.elapsed() < CONNECT_BACKOFF {
                tokio::select! {
                    _ = tokio::time::sleep(CONNECT_BACKOFF) => {}
                    _ = self.cancel.cancelled() => break,
                }
            }
        }
    }
}

/// Runs `profile` as `spec` says until it ends or `cancel` fires, then waits up to `drain`
/// for the requests still in flight.
pub async fn run_profile(
    profile: Arc<Profile>,
    spec: RunSpec,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    drain: Duration,
) -> RunEnd {
    let client = HttpClient::new(profile.target.clone(), recorder.refused_counter());
    let session = profile.scenario.as_ref().map(|s| {
        Arc::new(Session::new(
            s.clone(),
            profile.target.clone(),
            client.clone(),
            recorder.clone(),
            cancel.clone(),
        ))
    });
    let picker = Arc::new(Picker::new(&profile));
    let budget = Arc::new(Budget::new(profile.requests));
    let tracker = TaskTracker::new();
    let start = Instant::now();
    // A length too long for an Instant (e.g. --duration 18446744073709551615s) is no deadline.
    let deadline = spec.length.and_then(|d| start.checked_add(d));
    recorder.set_active(true);
    let brake = BrakeFactor::new();
    let brake_stop = cancel.child_token();
    let brake_task = profile.brake.is_some().then(|| {
        tokio::spawn(steer_brake(
            profile.clone(),
            recorder.clone(),
            brake.clone(),
            brake_stop.clone(),
        ))
    });

    match &profile.load {
        Load::Open {
            rate,
            max_in_flight,
        } => {
            // Without pipelining an HTTP/1.1 request needs a connection of its own.
            let cap = if profile.target.http2 {
                *max_in_flight
            } else {
                (*max_in_flight).min(profile.target.max_connections)
            };
            let permits = Arc::new(Semaphore::new(cap));
            let mut pacer = Pacer::new(
                spec.plan(rate, true),
                profile.arrivals,
                spec.shard,
                spec.length,
            );
            // The brake thins arrivals evenly: each lets `factor` through, one is sent per whole.
            let mut brake_credit = 0.0;
            loop {
                let offset = match pacer.next_due() {
                    Due::End => break,
                    Due::Idle(until) => {
                        recorder.set_intended_rps(0.0);
                        tokio::select! {
                            _ = sleep_until(start + until) => continue,
                            _ = cancel.cancelled() => break,
                        }
                    }
                    Due::At(offset) => offset,
                };
                let due = start + offset;
                if Instant::now() + EARLY < due {
                    tokio::select! {
                        _ = sleep_until(due - EARLY) => {}
                        _ = cancel.cancelled() => break,
                    }
                } else if cancel.is_cancelled() {
                    break;
                }
                // Paused: the arrival is skipped — not sent, not taken from the budget, not
                // counted as dropped (the generator is not the bottleneck) — and nothing is
                // intended. The pacer keeps following the pattern, so a resume is in step.
                if spec.pause.is_paused() {
                    recorder.set_intended_rps(0.0);
                    continue;
                }
                // Held back by the brake: skipped like a pause (not sent, not dropped, not
                // from the budget), and the intended rate is the braked one.
                let factor = brake.get();
                if factor < 1.0 {
                    brake_credit += factor;
                    if brake_credit < 1.0 {
                        recorder.set_intended_rps(pacer.rate_at(offset) * factor);
                        continue;
                    }
                    brake_credit -= 1.0;
                }
                if !budget.take() {
                    break;
                }
                recorder.set_intended_rps(pacer.rate_at(offset) * factor);
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    recorder.dropped();
                    continue;
                };
                let safety_slot = match spec.limits.try_start() {
                    Ok(slot) => slot,
                    Err(r) => {
                        recorder.dropped_for(drop_reason(r));
                        continue;
                    }
                };
                let now = Instant::now();
                recorder.lag(now.saturating_duration_since(due));
                // Measured from the intended instant when late, from the send when early.
                let origin = now.min(due);
                if let Some(session) = &session {
                    // Each arrival is a new user's session.
                    let session = session.clone();
                    tracker.spawn(async move {
                        let mut user = session.user();
                        session.iterate(&mut user, origin).await;
                        session.release(user);
                        drop((permit, safety_slot));
                    });
                    continue;
                }
                let (client, recorder, idx) = (client.clone(), recorder.clone(), picker.pick());
                tracker.spawn(async move {
                    recorder.started();
                    let mut slot = client.take_idle();
                    let outcome = client.call(idx, &mut slot).await;
                    let latency = origin.elapsed();
                    if let Some(conn) = slot {
                        client.put_idle(conn);
                    }
                    recorder.finished();
                    recorder.record(idx, latency, &outcome);
                    drop((permit, safety_slot));
                });
            }
        }
        // A WebSocket profile's connections are a crowd too, steered like users.
        Load::Closed { users: pattern }
        | Load::WebSocket {
            connections: pattern,
            ..
        } => {
            // Users and connections stop with the run: `retire_all` flags them, and `stop`
            // also wakes those idling while paused.
            let stop = cancel.child_token();
            let conn = Connection::for_profile(
                &profile,
                &recorder,
                &budget,
                &stop,
                (&spec.pause, &spec.limits),
                deadline,
            );
            let user = User {
                session: session.clone(),
                client: client.clone(),
                recorder: recorder.clone(),
                picker: picker.clone(),
                budget: budget.clone(),
                cancel: stop.clone(),
                deadline,
                pause: spec.pause.clone(),
                limits: spec.limits.clone(),
            };
            let mut plan = spec.plan(pattern, false);
            let mut crowd = Crowd::new(profile.spawn_rate);
            let mut tick = tokio::time::interval(USER_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = cancel.cancelled() => break,
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) || budget.spent() {
                    break;
                }
                let total = plan
                    .value_at(now.duration_since(start).as_secs_f64())
                    .round();
                // The brake scales the users (0 while paused: they finish and retire).
                let want = (spec.shard.users(total as u64) as f64 * brake.get()).round() as usize;
                crowd.steer(want, now, |retire| match &conn {
                    Some(c) => {
                        tracker.spawn(c.clone().run(retire));
                    }
                    None => {
                        tracker.spawn(user.clone().run(retire));
                    }
                });
                recorder.set_virtual_users(crowd.len() as i64);
            }
            crowd.retire_all();
            stop.cancel();
        }
    }
    brake_stop.cancel();
    if let Some(task) = brake_task {
        let _ = task.await;
    }
    // Cancelled runs are marked inactive by whoever cancelled them (see the daemon's reload).
    if !cancel.is_cancelled() {
        recorder.set_active(false);
    }
    tracker.close();
    let drained = tokio::time::timeout(drain, tracker.wait()).await.is_ok();
    // A run that lasted its full length is at least that long, even though the last
    // arrival is due (and may finish) a little before the end: rps = requests / duration.
    let full_length = spec
        .length
        .filter(|_| !cancel.is_cancelled() && !budget.spent());
    RunEnd {
        elapsed: start.elapsed().max(full_length.unwrap_or_default()),
        abandoned: if drained { 0 } else { tracker.len() },
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
