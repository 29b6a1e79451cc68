//! The hot loops. Open model: a pacer yields intended send instants and each request runs in
//! its own task, up to `max_in_flight`; past that, arrivals are dropped and counted, never
//! queued. Closed model: N users, each sending its next request when the previous one ends.
//! Both record every outcome through pre-resolved handles and stop on cancel, at the end of
//! the profile's duration or after its request budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::brake::{Brake, Decision};
use super::budget::Budget;
use super::client::HttpClient;
use super::closed::{Crowd, User, USER_TICK};
use super::grpc::GrpcClient;
use super::limits::Refusal;
use super::pacer::{Due, Pacer};
use super::plan::RunSpec;
use super::postgres::PostgresClient;
use super::redis::RedisClient;
use super::session::Session;
use super::socket::SocketClient;
use super::transport::Transport;
use super::websocket::Connection;
use super::ws_request::WsRequestClient;
use crate::config::{Load, Profile, Scheme};
use crate::metrics::{DropReason, ProfileRecorder};
use crate::schedule::Pattern;

/// Wake this much before an intended send: tokio's timer fires on millisecond ticks, so
/// aiming early and sending at once keeps the timer's granularity out of the latency figures.
const EARLY: Duration = Duration::from_millis(1);

/// How a profile run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunEnd {
    /// From the start until the last request finished (or the drain gave up).
    pub elapsed: Duration,
    /// Requests still outstanding when the drain time ran out.
    pub abandoned: usize,
}

/// Weighted choice of an endpoint.
pub(super) struct Picker {
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

    pub(super) fn pick(&self) -> usize {
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

pub(super) fn drop_reason(r: Refusal) -> DropReason {
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

/// One run of a profile: what both load models share while it lasts.
struct Run<T: Transport> {
    profile: Arc<Profile>,
    spec: RunSpec,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    client: Arc<T>,
    session: Option<Arc<Session>>,
    picker: Arc<Picker>,
    budget: Arc<Budget>,
    tracker: TaskTracker,
    start: Instant,
    deadline: Option<Instant>,
    brake: BrakeFactor,
}

/// What a run is given besides its transport.
struct Orders {
    profile: Arc<Profile>,
    spec: RunSpec,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
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
    let (target, refused) = (profile.target.clone(), recorder.refused_counter());
    let trace = profile.trace.ratio(spec.trace_by_default);
    if trace.is_some() {
        recorder.add_request_bytes(super::trace::WIRE_SIZE);
    }
    let orders = Orders {
        profile,
        spec,
        recorder,
        cancel,
    };
    // One arm per transport; scenario sessions are HTTP only (config validation sees to it).
    match target.scheme {
        Scheme::Tcp | Scheme::Udp => {
            let client = SocketClient::new(target, refused);
            Run::new(orders, client, None).drive(drain).await
        }
        Scheme::Redis | Scheme::Rediss => {
            let client = RedisClient::new(target, orders.recorder.conn_probe());
            Run::new(orders, client, None).drive(drain).await
        }
        Scheme::Postgres => {
            let client = PostgresClient::new(target, refused);
            Run::new(orders, client, None).drive(drain).await
        }
        Scheme::Grpc | Scheme::Grpcs => {
            let recorder = &orders.recorder;
            let client = GrpcClient::new(
                target,
                recorder.conn_probe(),
                trace,
                recorder.grpc_streams(),
            );
            Run::new(orders, client, None).drive(drain).await
        }
        // A WebSocket target with endpoints: each request is a message and its reply.
        Scheme::Ws | Scheme::Wss if target.websocket.is_none() => {
            let client = WsRequestClient::new(target, orders.recorder.conn_probe());
            Run::new(orders, client, None).drive(drain).await
        }
        Scheme::Http | Scheme::Https | Scheme::Ws | Scheme::Wss => {
            // Scenario steps need hyper's response heads; plain endpoints take the lean path.
            let lean = orders.profile.scenario.is_none();
            let client = HttpClient::new(target, orders.recorder.conn_probe(), trace, lean);
            let session = orders.profile.scenario.as_ref().map(|s| {
                Arc::new(Session::new(
                    s.clone(),
                    orders.profile.target.clone(),
                    client.clone(),
                    orders.recorder.clone(),
                    orders.cancel.clone(),
                ))
            });
            Run::new(orders, client, session).drive(drain).await
        }
    }
}

impl<T: Transport> Run<T> {
    fn new(orders: Orders, client: Arc<T>, session: Option<Arc<Session>>) -> Self {
        let Orders {
            profile,
            spec,
            recorder,
            cancel,
        } = orders;
        let start = Instant::now();
        Run {
            picker: Arc::new(Picker::new(&profile)),
            budget: Arc::new(Budget::new(profile.requests)),
            tracker: TaskTracker::new(),
            start,
            // A length too long for an Instant (e.g. --duration 18446744073709551615s) is no
            // deadline.
            deadline: spec.length.and_then(|d| start.checked_add(d)),
            brake: BrakeFactor::new(),
            profile,
            spec,
            recorder,
            cancel,
            client,
            session,
        }
    }

    /// Both models' loop, with the brake beside it, then the drain.
    async fn drive(self, drain: Duration) -> RunEnd {
        self.recorder.set_active(true);
        let brake_stop = self.cancel.child_token();
        let brake_task = self.profile.brake.is_some().then(|| {
            tokio::spawn(steer_brake(
                self.profile.clone(),
                self.recorder.clone(),
                self.brake.clone(),
                brake_stop.clone(),
            ))
        });
        match &self.profile.load {
            Load::Open {
                rate,
                max_in_flight,
            } => self.open(rate, *max_in_flight).await,
            // A WebSocket profile's connections are a crowd too, steered like users.
            Load::Closed { users: pattern, .. }
            | Load::WebSocket {
                connections: pattern,
                ..
            } => self.closed(pattern).await,
        }
        brake_stop.cancel();
        if let Some(task) = brake_task {
            let _ = task.await;
        }
        self.finish(drain).await
    }

    /// The open model: arrivals at the pattern's rate, each request in a task of its own, up
    /// to `max_in_flight`; beyond it arrivals are dropped and counted.
    async fn open(&self, rate: &Pattern, max_in_flight: usize) {
        let Run {
            profile,
            spec,
            recorder,
            cancel,
            client,
            session,
            picker,
            budget,
            tracker,
            start,
            brake,
            ..
        } = self;
        let start = *start;
        let cap = client
            .max_outstanding()
            .map_or(max_in_flight, |n| max_in_flight.min(n));
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
                // Boxed: the spawned task then holds a pointer, not the whole request future,
                // which tokio would otherwise copy into the task cell on every arrival.
                let outcome = Box::pin(client.call(idx, &mut slot)).await;
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

    /// The closed model (and a WebSocket profile's connections): a crowd of users steered
    /// towards the pattern's count, each sending its next request when the last one ends.
    async fn closed(&self, pattern: &Pattern) {
        let Run {
            profile,
            spec,
            recorder,
            cancel,
            client,
            session,
            picker,
            budget,
            tracker,
            start,
            deadline,
            brake,
            ..
        } = self;
        let (start, deadline) = (*start, *deadline);
        // Users and connections stop with the run: `retire_all` flags them, and `stop`
        // also wakes those idling while paused.
        let stop = cancel.child_token();
        let conn = Connection::for_profile(
            profile,
            recorder,
            budget,
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
            think: match &profile.load {
                Load::Closed { think, .. } => *think,
                _ => None,
            },
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
        if cancel.is_cancelled() {
            // The stop zeroed the gauge, but a tick that was under way as it came may have
            // written the crowd's size after it, and none follows. A replacement run of the
            // same name writes its own within a tick.
            recorder.set_virtual_users(0);
        }
        crowd.retire_all();
        stop.cancel();
    }

    /// Marks the run over and waits up to `drain` for the requests still in flight.
    async fn finish(self, drain: Duration) -> RunEnd {
        let Run {
            spec,
            recorder,
            cancel,
            budget,
            tracker,
            start,
            ..
        } = self;
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
}
