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

use super::client::HttpClient;
use super::pacer::Pacer;
use crate::config::{Load, Profile};
use crate::metrics::ProfileRecorder;
use crate::outcome::ErrorKind;

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

/// Takes one request from the budget; false once it is spent.
fn take(budget: &Option<AtomicU64>) -> bool {
    budget.as_ref().is_none_or(|b| {
        b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    })
}

/// Runs `profile` until it ends or `cancel` fires, then waits up to `drain` for the requests
/// still in flight.
pub async fn run_profile(
    profile: Arc<Profile>,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    drain: Duration,
) -> RunEnd {
    let client = HttpClient::new(profile.target.clone());
    let picker = Arc::new(Picker::new(&profile));
    let budget = Arc::new(profile.requests.map(AtomicU64::new));
    let tracker = TaskTracker::new();
    let start = Instant::now();
    let deadline = profile.duration.map(|d| start + d);
    recorder.set_active(true);

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
            let mut pacer = Pacer::new(rate.clone(), profile.duration);
            while let Some(offset) = pacer.next_due() {
                let due = start + offset;
                if Instant::now() + EARLY < due {
                    tokio::select! {
                        _ = sleep_until(due - EARLY) => {}
                        _ = cancel.cancelled() => break,
                    }
                } else if cancel.is_cancelled() {
                    break;
                }
                if !take(&budget) {
                    break;
                }
                recorder.set_intended_rps(pacer.rate_at(offset));
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    recorder.dropped();
                    continue;
                };
                let now = Instant::now();
                recorder.lag(now.saturating_duration_since(due));
                // Measured from the intended instant when late, from the send when early.
                let origin = now.min(due);
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
                    drop(permit);
                });
            }
        }
        Load::Closed { users } => {
            let n = users.rate_at(Duration::ZERO).round().max(0.0) as i64;
            recorder.set_virtual_users(n);
            for _ in 0..n {
                let (client, recorder, picker, budget, cancel) = (
                    client.clone(),
                    recorder.clone(),
                    picker.clone(),
                    budget.clone(),
                    cancel.clone(),
                );
                tracker.spawn(async move {
                    let mut slot = None;
                    loop {
                        if cancel.is_cancelled()
                            || deadline.is_some_and(|d| Instant::now() >= d)
                            || !take(&budget)
                        {
                            break;
                        }
                        let idx = picker.pick();
                        let sent = Instant::now();
                        recorder.started();
                        // Not raced against `cancel`: a stop lets the request in flight finish
                        // (that is the drain), and registering a canceller per request would cost
                        // a lock on the hot path.
                        let outcome = client.call(idx, &mut slot).await;
                        recorder.finished();
                        recorder.record(idx, sent.elapsed(), &outcome);
                        if matches!(
                            outcome.error,
                            Some(ErrorKind::Connect | ErrorKind::Dns | ErrorKind::Tls)
                        ) {
                            tokio::select! {
                                _ = tokio::time::sleep(CONNECT_BACKOFF) => {}
                                _ = cancel.cancelled() => break,
                            }
                        }
                    }
                });
            }
            // Users stop themselves at the deadline or when the budget is spent; until then
            // the profile is active.
            tracker.close();
            tokio::select! {
                _ = async { match deadline { Some(d) => sleep_until(d).await, None => std::future::pending().await } } => {}
                _ = cancel.cancelled() => {}
                _ = tracker.wait() => {}
            }
        }
    }
    // Cancelled runs are marked inactive by whoever cancelled them (see the daemon's reload).
    if !cancel.is_cancelled() {
        recorder.set_active(false);
    }
    tracker.close();
    let drained = tokio::time::timeout(drain, tracker.wait()).await.is_ok();
    // A run that lasted its full duration is at least that long, even though the last
    // arrival is due (and may finish) a little before the end: rps = requests / duration.
    let spent = (*budget)
        .as_ref()
        .is_some_and(|b| b.load(Ordering::Relaxed) == 0);
    let full_length = profile
        .duration
        .filter(|_| !cancel.is_cancelled() && !spent);
    RunEnd {
        elapsed: start.elapsed().max(full_length.unwrap_or_default()),
        abandoned: if drained { 0 } else { tracker.len() },
    }
}
