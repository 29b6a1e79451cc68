//! The global caps of `[safety]`: one `SafetyLimits` shared by every profile of a process, so
//! that the total arrival rate and the requests in flight across all profiles stay under
//! `max_rate` and `max_in_flight` whatever the profiles ask for. An open-model arrival over a
//! cap is dropped and counted (never queued); a closed-model user over a cap counts one drop
//! and waits for room (it is one of a fixed number of users, so nothing piles up). The rate
//! cap is a GCRA (virtual scheduling) on one atomic: lock-free, O(1), and a pure function of
//! the instant it is asked about, so it is tested with explicit times.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::Shard;
use crate::config::Safety;

/// Arrivals may come this early against the cap's even spacing (or one interval, if longer):
/// timer jitter and Poisson arrivals are not refused for being a little ahead, while over any
/// longer stretch the rate stays at most `max_rate`.
pub const RATE_TOLERANCE: Duration = Duration::from_millis(100);

/// Why the caps refused an arrival: the `reason` label of the drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MaxRate,
    MaxInFlight,
}

/// Generic cell rate algorithm on nanoseconds since an origin: an arrival at `now` conforms
/// when the theoretical arrival time `tat` is at most `now + tolerance`; it then moves `tat`
/// one interval on. Interval 0 means no cap.
#[derive(Debug, Default)]
pub struct Gcra {
    interval_ns: AtomicU64,
    tat_ns: AtomicU64,
}

impl Gcra {
    /// Caps the rate at `per_second` (None: no cap).
    pub fn set_rate(&self, per_second: Option<f64>) {
        let interval = per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .map_or(0, |r| ((1e9 / r).round() as u64).max(1));
        self.interval_ns.store(interval, Ordering::Relaxed);
    }

    fn tolerance(interval: u64) -> u64 {
        interval.max(RATE_TOLERANCE.as_nanos() as u64)
    }

    /// A waiter's tolerance: under half of what is left of an arrival's once the waiter's own
    /// slot is taken, so waiters back to back never use up the room arrivals are allowed.
    /// Zero at caps of 10/s and below, where one interval is the whole tolerance.
    fn waiter_tolerance(interval: u64) -> u64 {
        Self::tolerance(interval).saturating_sub(interval) / 2
    }

    /// Takes a slot at `now_ns` for an arrival that is dropped if refused; false when the
    /// rate is used up.
    pub fn try_take(&self, now_ns: u64) -> bool {
        self.take(now_ns, true)
    }

    /// Takes a slot at `now_ns` for a caller that waits when refused (a closed-model user),
    /// with a smaller tolerance than an arrival's. Waiters that loop back to back would
    /// otherwise keep the schedule a whole tolerance ahead and every open arrival of every
    /// other profile would be dropped; this way arrivals come first and waiters get the rest,
    /// and a waiter is not turned away by the mere spacing of the slots while the cap is not
    /// binding.
    pub fn try_take_due(&self, now_ns: u64) -> bool {
        self.take(now_ns, false)
    }

    fn take(&self, now_ns: u64, tolerant: bool) -> bool {
        let interval = self.interval_ns.load(Ordering::Relaxed);
        if interval == 0 {
            return true;
        }
        let tolerance = if tolerant {
            Self::tolerance(interval)
        } else {
            Self::waiter_tolerance(interval)
        };
        self.tat_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                (tat <= now_ns + tolerance).then(|| tat.max(now_ns) + interval)
            })
            .is_ok()
    }

    /// When the next slot frees up for an arrival, as of `now_ns` (now if one is free).
    pub fn next_free(&self, now_ns: u64) -> u64 {
        let interval = self.interval_ns.load(Ordering::Relaxed);
        if interval == 0 {
            return now_ns;
        }
        let tat = self.tat_ns.load(Ordering::Relaxed);
        tat.saturating_sub(Self::tolerance(interval)).max(now_ns)
    }

    /// When the next slot falls due for a waiter (`try_take_due`), as of `now_ns`.
    pub fn next_due(&self, now_ns: u64) -> u64 {
        let interval = self.interval_ns.load(Ordering::Relaxed);
        let tat = self.tat_ns.load(Ordering::Relaxed);
        tat.saturating_sub(Self::waiter_tolerance(interval))
            .max(now_ns)
    }
}

/// The process-wide caps. Cheap to clone; clones share everything. The default caps nothing.
#[derive(Clone)]
pub struct SafetyLimits(Arc<Inner>);

struct Inner {
    origin: Instant,
    rate: Gcra,
    /// The rate cap as set (f64 bits; 0: none), for the capacity search's ceiling.
    max_rate: AtomicU64,
    /// 0: no cap.
    max_in_flight: AtomicUsize,
    in_flight: AtomicUsize,
    released: Notify,
    gauge: IntGauge,
}

impl std::fmt::Debug for SafetyLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetyLimits")
            .field(
                "max_in_flight",
                &self.0.max_in_flight.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

/// Two handles are equal when they share one limiter.
impl PartialEq for SafetyLimits {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for SafetyLimits {
    fn default() -> Self {
        SafetyLimits::new(
            IntGauge::new("loadtide_safety_in_flight_unregistered", "unregistered")
                .expect("static metric definition"),
        )
    }
}

/// One request (or closed-model iteration) counted against `max_in_flight`; released on drop.
pub struct Slot(Arc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.gauge.dec();
        self.0.released.notify_one();
    }
}

impl SafetyLimits {
    /// No caps yet; `in_flight` mirrors the requests counted (`loadtide_safety_in_flight`).
    pub fn new(in_flight: IntGauge) -> Self {
        SafetyLimits(Arc::new(Inner {
            origin: Instant::now(),
            rate: Gcra::default(),
            max_rate: AtomicU64::new(0),
            max_in_flight: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            released: Notify::new(),
            gauge: in_flight,
        }))
    }

    /// Sets (or, with None, lifts) the caps; running profiles see the change at once.
    pub fn set(&self, max_rate: Option<f64>, max_in_flight: Option<usize>) {
        self.0.rate.set_rate(max_rate);
        let bits = max_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map_or(0, f64::to_bits);
        self.0.max_rate.store(bits, Ordering::Relaxed);
        self.0
            .max_in_flight
            .store(max_in_flight.unwrap_or(0), Ordering::Relaxed);
        // Waiters re-check against the new cap.
        self.0.released.notify_waiters();
    }

    /// Enforces `safety`'s caps as this shard's share of them (the config describes the whole
    /// deployment, like the profiles' rates); returns the caps now in force.
    pub fn apply(&self, safety: &Safety, shard: Shard) -> (Option<f64>, Option<usize>) {
        let rate = safety.max_rate.map(|r| r * shard.share());
        let in_flight = safety
            .max_in_flight
            .map(|n| n.div_ceil(shard.count as usize).max(1));
        self.set(rate, in_flight);
        (rate, in_flight)
    }

    /// The rate cap in force (this shard's share), if any.
    pub fn max_rate(&self) -> Option<f64> {
        match self.0.max_rate.load(Ordering::Relaxed) {
            0 => None,
            bits => Some(f64::from_bits(bits)),
        }
    }

    fn now_ns(&self) -> u64 {
        Instant::now().duration_since(self.0.origin).as_nanos() as u64
    }

    fn try_in_flight(&self) -> Option<Slot> {
        let max = self.0.max_in_flight.load(Ordering::Relaxed);
        self.0
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (max == 0 || n < max).then_some(n + 1)
            })
            .ok()?;
        self.0.gauge.inc();
        Some(Slot(self.0.clone()))
    }

    /// Admits one arrival now, or says which cap refused it. The in-flight cap is asked
    /// first, so a refused arrival never uses up a slot of the rate.
    pub fn try_start(&self) -> Result<Slot, Refusal> {
        self.admit(Gcra::try_take)
    }

    fn admit(&self, take: impl Fn(&Gcra, u64) -> bool) -> Result<Slot, Refusal> {
        let slot = self.try_in_flight().ok_or(Refusal::MaxInFlight)?;
        if take(&self.0.rate, self.now_ns()) {
            Ok(slot)
        } else {
            Err(Refusal::MaxRate)
        }
    }

    /// Counts a message against the rate only (WebSocket messages are not requests in
    /// flight).
    pub fn try_rate(&self) -> bool {
        self.0.rate.try_take(self.now_ns())
    }

    /// For a closed-model user: admits it now, or reports the first refusal to `refused`
    /// (one delayed iteration is one drop, however often it is turned away while it waits)
    /// and waits for room; open arrivals go first (`Gcra::try_take_due`). None when `cancel`
    /// fires first.
    pub async fn start(
        &self,
        cancel: &CancellationToken,
        mut refused: impl FnMut(Refusal),
    ) -> Option<Slot> {
        let mut reported = false;
        loop {
            let notified = self.0.released.notified();
            match self.admit(Gcra::try_take_due) {
                Ok(slot) => return Some(slot),
                Err(r) => {
                    if !std::mem::replace(&mut reported, true) {
                        refused(r);
                    }
                    let wait = async {
                        match r {
                            Refusal::MaxInFlight => notified.await,
                            Refusal::MaxRate => {
                                let at = self.0.rate.next_due(self.now_ns());
                                tokio::time::sleep_until(self.0.origin + Duration::from_nanos(at))
                                    .await
                            }
                        }
                    };
                    tokio::select! {
                        _ = wait => {}
                        _ = cancel.cancelled() => return None,
                    }
                }
            }
        }
    }

    /// Requests counted against `max_in_flight` now.
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn without_a_rate_everything_passes() {
        let g = Gcra::default();
        assert!((0..10_000).all(|_| g.try_take(0)));
        assert_eq!(g.next_free(5), 5);
    }

    #[test]
    fn the_rate_holds_over_a_second_with_a_short_burst_allowed() {
        let g = Gcra::default();
        g.set_rate(Some(100.0)); // one per 10 ms; 100 ms of tolerance
        let burst = (0..1000).filter(|_| g.try_take(0)).count();
        assert_eq!(burst, 11, "100 ms worth of arrivals at once, plus one");
        // Offered 1000/s for a second: about 100 pass in all.
        let mut passed = burst;
        for i in 1..1000u64 {
            passed += usize::from(g.try_take(i * MS));
        }
        assert!((100..=112).contains(&passed), "{passed} passed in 1 s");
    }

    #[test]
    fn even_arrivals_at_the_cap_all_pass_even_a_little_early() {
        let g = Gcra::default();
        g.set_rate(Some(50.0)); // 20 ms apart
        for i in 0..500u64 {
            let jitter = if i % 2 == 0 { 0 } else { 3 * MS };
            assert!(
                g.try_take((i * 20 * MS).saturating_sub(jitter)),
                "arrival {i}"
            );
        }
    }

    #[test]
    fn next_free_says_when_a_refused_caller_may_try_again() {
        let g = Gcra::default();
        g.set_rate(Some(10.0)); // 100 ms apart, tolerance 100 ms
        assert!(g.try_take(0));
        assert!(g.try_take(0));
        assert!(!g.try_take(0));
        let at = g.next_free(0);
        assert_eq!(at, 100 * MS);
        assert!(!g.try_take(at - 1));
        assert!(g.try_take(at));
    }

    #[tokio::test(start_paused = true)]
    async fn each_shard_enforces_its_share_of_the_caps() {
        let limits = SafetyLimits::default();
        let safety = Safety {
            max_rate: Some(300.0),
            max_in_flight: Some(10),
            ..Safety::default()
        };
        let shard = Shard { index: 1, count: 3 };
        assert_eq!(limits.apply(&safety, shard), (Some(100.0), Some(4)));
        assert_eq!(limits.apply(&safety, Shard::WHOLE), (Some(300.0), Some(10)));
        assert_eq!(limits.apply(&Safety::default(), shard), (None, None));
        assert!(
            (0..1000).all(|_| limits.try_start().is_ok()),
            "no caps left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_slots_are_capped_and_released_on_drop() {
        let limits = SafetyLimits::default();
        limits.set(None, Some(2));
        let a = limits.try_start().expect("first");
        let _b = limits.try_start().expect("second");
        assert_eq!(limits.try_start().err(), Some(Refusal::MaxInFlight));
        assert_eq!(limits.in_flight(), 2);
        drop(a);
        assert_eq!(limits.in_flight(), 1);
        assert!(limits.try_start().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_user_waits_for_room_and_counts_the_refusal() {
        let limits = SafetyLimits::default();
        limits.set(None, Some(1));
        let held = limits.try_start().expect("the only slot");
        let (l2, cancel) = (limits.clone(), CancellationToken::new());
        let waiter = tokio::spawn(async move {
            let mut refusals = Vec::new();
            let slot = l2.start(&cancel, |r| refusals.push(r)).await;
            (slot.is_some(), refusals)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "no room yet");
        drop(held);
        let (got, refusals) = waiter.await.expect("joins");
        assert!(got);
        assert_eq!(refusals, [Refusal::MaxInFlight]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_rate_caller_waits_for_the_next_slot() {
        let limits = SafetyLimits::default();
        limits.set(Some(10.0), None);
        let start = Instant::now();
        let mut refusals = 0;
        let cancel = CancellationToken::new();
        for _ in 0..4 {
            limits
                .start(&cancel, |_| refusals += 1)
                .await
                .expect("admitted");
        }
        // One now, then one every 100 ms: at 10/s a waiter has no tolerance.
        assert_eq!(start.elapsed(), Duration::from_millis(300));
        assert_eq!(refusals, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_turned_away_again_while_it_waits_counts_one_drop() {
        let limits = SafetyLimits::default();
        limits.set(Some(10.0), None);
        let cancel = CancellationToken::new();
        let refusals = std::sync::atomic::AtomicU32::new(0);
        let user = || async {
            limits
                .start(&cancel, |_| {
                    refusals.fetch_add(1, Ordering::Relaxed);
                })
                .await
                .map(|_| Instant::now())
        };
        let start = Instant::now();
        let (a, b, c) = tokio::join!(user(), user(), user());
        let mut at: Vec<_> = [a, b, c].map(|t| t.expect("admitted") - start).into();
        at.sort();
        assert_eq!(at, [0, 100, 200].map(Duration::from_millis));
        // Two users waited; the last lost the race at 100 ms as well, still one drop each.
        assert_eq!(refusals.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_waiter_under_a_cap_that_does_not_bind_is_never_turned_away() {
        // 200/s cap; an arrival and a waiter 2 ms apart, 20 times a second: 40/s in all.
        let g = Gcra::default();
        g.set_rate(Some(200.0));
        for i in 0..200u64 {
            let now = i * 50 * MS;
            assert!(g.try_take(now));
            assert!(g.try_take_due(now + 2 * MS), "waiter {i} refused");
        }
    }

    #[test]
    fn waiters_back_to_back_leave_room_for_arrivals_under_the_cap() {
        // The bundled config's case: closed users with no think time share a 200/s cap with
        // open profiles asking 60/s in all. Every arrival must pass; the waiters get the rest.
        let g = Gcra::default();
        g.set_rate(Some(200.0)); // 5 ms apart
        let (mut arrivals, mut waiters) = (0, 0);
        let mut next_waiter = 0;
        for ms in 0..10_000u64 {
            let now = ms * MS;
            if ms % 50 == 7 {
                // 20/s of open arrivals, a few at once
                for _ in 0..3 {
                    assert!(g.try_take(now), "arrival at {ms} ms refused");
                    arrivals += 1;
                }
            }
            if now >= next_waiter {
                if g.try_take_due(now) {
                    waiters += 1;
                } else {
                    next_waiter = g.next_due(now);
                }
            }
        }
        assert_eq!(arrivals, 600);
        let total = arrivals + waiters;
        assert!(
            (1_990..=2_030).contains(&total),
            "{total} slots in 10 s at 200/s"
        );
    }
}
