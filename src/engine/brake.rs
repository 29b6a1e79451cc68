//! The error-budget brake of one profile run, as a pure state machine driven by explicit time
//! (whole seconds since the run started) and the recorder's running totals: no clock, no
//! tokio, so every decision is unit-tested at chosen instants. `executor` samples the totals
//! once a second, feeds them here, logs each decision and applies `factor()` to the load.
//!
//! The window is a ring of one bucket per second (fixed memory, whatever the rate). p99 is
//! judged without a histogram: the window's p99 is above `max_p99` exactly when more than 1%
//! of its requests took longer than `max_p99`, and the recorder counts those as it goes.
//!
//! - released: full load; trips when the window (with at least `min_requests` requests) has
//!   an error ratio above `max_error_ratio` or a p99 above `max_p99`.
//! - pause: nothing is sent for `cooldown`, then the load is back in full and the window
//!   starts afresh (a target still failing trips it again).
//! - backoff: the load is halved at once, and halved again after each window that still
//!   trips it (down to 1/64); once `cooldown` has passed since the last trip, each healthy
//!   window doubles it back, until it is full again and the brake is released.

use crate::config::{BrakeAction, BrakeSpec};
use crate::metrics::{BrakeTotals, TripReason};

/// Backoff never goes below this share of the load: a trickle keeps probing the target.
pub const MIN_FACTOR: f64 = 1.0 / 64.0;

/// p99 is above `max_p99` when more than this share of requests were slower.
const SLOW_SHARE: f64 = 0.01;

/// What the window showed when the brake decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    pub requests: u64,
    pub errors: u64,
    pub slow: u64,
}

impl WindowStats {
    pub fn error_ratio(&self) -> f64 {
        self.errors as f64 / self.requests.max(1) as f64
    }

    /// Share of requests slower than `max_p99`.
    pub fn slow_ratio(&self) -> f64 {
        self.slow as f64 / self.requests.max(1) as f64
    }
}

/// A change of the brake, to log and export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Released → engaged: the load is now `factor` of the pattern's (0: paused).
    Tripped {
        reason: TripReason,
        stats: WindowStats,
        factor: f64,
    },
    /// Backoff: still tripping after a window, the load is halved again.
    Tightened {
        reason: TripReason,
        stats: WindowStats,
        factor: f64,
    },
    /// Backoff: a healthy window after the cooldown, the load is doubled back.
    Loosened { factor: f64 },
    /// Full load again.
    Released,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Released,
    Paused {
        until: u64,
    },
    Backoff {
        factor: f64,
        last_trip: u64,
        next_eval: u64,
    },
}

/// One profile run's brake.
#[derive(Debug, Clone)]
pub struct Brake {
    spec: BrakeSpec,
    /// Per-second deltas, tagged with their second; `len` = window seconds.
    ring: Vec<(u64, BrakeTotals)>,
    /// Buckets before this second are ignored (the window restarts after each decision).
    since: u64,
    last: BrakeTotals,
    state: State,
}

fn secs(d: std::time::Duration) -> u64 {
    d.as_secs_f64().ceil() as u64
}

impl Brake {
    pub fn new(spec: BrakeSpec) -> Self {
        let len = usize::try_from(secs(spec.window).max(1)).unwrap_or(1);
        Brake {
            ring: vec![(u64::MAX, BrakeTotals::default()); len],
            spec,
            since: 0,
            last: BrakeTotals::default(),
            state: State::Released,
        }
    }

    /// The share of the pattern's load to send now: 1 released, 0 paused, in between while
    /// backing off.
    pub fn factor(&self) -> f64 {
        match self.state {
            State::Released => 1.0,
            State::Paused { .. } => 0.0,
            State::Backoff { factor, .. } => factor,
        }
    }

    pub fn engaged(&self) -> bool {
        self.state != State::Released
    }

    /// Takes the running `totals` at second `now` (since the run started; call it about
    /// once a second, in order) and returns what changed, if anything.
    pub fn observe(&mut self, now: u64, totals: BrakeTotals) -> Option<Decision> {
        self.add(now, totals);
        let window = secs(self.spec.window).max(1);
        match self.state {
            State::Released => {
                let (reason, stats) = self.verdict(now)?;
                let factor = match self.spec.action {
                    BrakeAction::Pause => {
                        self.state = State::Paused {
                            until: now + secs(self.spec.cooldown),
                        };
                        0.0
                    }
                    BrakeAction::Backoff => {
                        self.state = State::Backoff {
                            factor: 0.5,
                            last_trip: now,
                            next_eval: now + window,
                        };
                        0.5
                    }
                };
                self.restart(now);
                Some(Decision::Tripped {
                    reason,
                    stats,
                    factor,
                })
            }
            State::Paused { until } => {
                if now < until {
                    return None;
                }
                self.state = State::Released;
                self.restart(now);
                Some(Decision::Released)
            }
            State::Backoff {
                factor,
                last_trip,
                next_eval,
            } => {
                if now < next_eval {
                    return None;
                }
                let verdict = self.verdict(now);
                self.restart(now);
                if let Some((reason, stats)) = verdict {
                    let factor = (factor / 2.0).max(MIN_FACTOR);
                    self.state = State::Backoff {
                        factor,
                        last_trip: now,
                        next_eval: now + window,
                    };
                    return Some(Decision::Tightened {
                        reason,
                        stats,
                        factor,
                    });
                }
                if now.saturating_sub(last_trip) < secs(self.spec.cooldown) {
                    self.state = State::Backoff {
                        factor,
                        last_trip,
                        next_eval: now + window,
                    };
                    return None;
                }
                let factor = factor * 2.0;
                if factor >= 1.0 {
                    self.state = State::Released;
                    Some(Decision::Released)
                } else {
                    self.state = State::Backoff {
                        factor,
                        last_trip,
                        next_eval: now + window,
                    };
                    Some(Decision::Loosened { factor })
                }
            }
        }
    }

    /// Adds what happened since the last call to the bucket of second `now`.
    fn add(&mut self, now: u64, totals: BrakeTotals) {
        let delta = BrakeTotals {
            requests: totals.requests.saturating_sub(self.last.requests),
            errors: totals.errors.saturating_sub(self.last.errors),
            slow: totals.slow.saturating_sub(self.last.slow),
        };
        self.last = totals;
        let len = self.ring.len() as u64;
        let slot = &mut self.ring[(now % len) as usize];
        if slot.0 != now {
            *slot = (now, BrakeTotals::default());
        }
        slot.1.requests += delta.requests;
        slot.1.errors += delta.errors;
        slot.1.slow += delta.slow;
    }

    /// Forgets the window: the next decision looks only at what comes after `now`.
    fn restart(&mut self, now: u64) {
        self.since = now + 1;
    }

    /// The window ending at `now`, and why it trips the brake, if it does.
    fn verdict(&self, now: u64) -> Option<(TripReason, WindowStats)> {
        let len = self.ring.len() as u64;
        let first = (now + 1).saturating_sub(len).max(self.since);
        let mut stats = WindowStats {
            requests: 0,
            errors: 0,
            slow: 0,
        };
        for (sec, t) in &self.ring {
            if *sec != u64::MAX && *sec >= first && *sec <= now {
                stats.requests += t.requests;
                stats.errors += t.errors;
                stats.slow += t.slow;
            }
        }
        if stats.requests < self.spec.min_requests {
            return None;
        }
        if self
            .spec
            .max_error_ratio
            .is_some_and(|max| stats.error_ratio() > max)
        {
            return Some((TripReason::ErrorRatio, stats));
        }
        if self.spec.max_p99.is_some() && stats.slow_ratio() > SLOW_SHARE {
            return Some((TripReason::P99, stats));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(action: BrakeAction) -> BrakeSpec {
        BrakeSpec {
            max_error_ratio: Some(0.2),
            max_p99: Some(Duration::from_secs(2)),
            window: Duration::from_secs(10),
            action,
            cooldown: Duration::from_secs(30),
            min_requests: 10,
        }
    }

    /// Feeds `per_sec` requests a second, `errors` of them failed and `slow` slow, over
    /// seconds `from..to`; returns the decisions with their second.
    struct Feed {
        brake: Brake,
        totals: BrakeTotals,
    }

    impl Feed {
        fn new(action: BrakeAction) -> Self {
            Feed {
                brake: Brake::new(spec(action)),
                totals: BrakeTotals::default(),
            }
        }

        fn run(
            &mut self,
            seconds: std::ops::Range<u64>,
            per_sec: u64,
            errors: u64,
            slow: u64,
        ) -> Vec<(u64, Decision)> {
            let mut out = Vec::new();
            for s in seconds {
                // Traffic is scaled by the brake, as the executor does.
                let f = self.brake.factor();
                let scale = |n: u64| (n as f64 * f).round() as u64;
                self.totals.requests += scale(per_sec);
                self.totals.errors += scale(errors);
                self.totals.slow += scale(slow);
                if let Some(d) = self.brake.observe(s, self.totals) {
                    out.push((s, d));
                }
            }
            out
        }
    }

    #[test]
    fn a_healthy_target_never_trips_it() {
        let mut f = Feed::new(BrakeAction::Pause);
        // 19% errors and 1% slow: both at most the limits.
        assert!(f.run(0..300, 100, 19, 1).is_empty());
        assert_eq!(f.brake.factor(), 1.0);
        assert!(!f.brake.engaged());
    }

    #[test]
    fn too_few_requests_never_trip_it() {
        let mut f = Feed::new(BrakeAction::Pause);
        // 100% errors, but 9 requests per 10-second window.
        let mut b = f.brake.clone();
        for s in 0..100u64 {
            let t = BrakeTotals {
                requests: (s + 1) * 9 / 10,
                errors: (s + 1) * 9 / 10,
                slow: 0,
            };
            assert_eq!(b.observe(s, t), None, "second {s}");
        }
        f.brake = b;
        assert!(!f.brake.engaged());
    }

    #[test]
    fn pause_trips_on_the_error_ratio_then_resumes_after_the_cooldown() {
        let mut f = Feed::new(BrakeAction::Pause);
        assert!(f.run(0..5, 100, 0, 0).is_empty());
        let d = f.run(5..6, 100, 50, 0);
        // Window: 600 requests, 50 errors: not yet.
        assert!(d.is_empty());
        let d = f.run(6..7, 100, 100, 0);
        // 700 requests, 150 errors = 21% > 20%.
        assert_eq!(
            d,
            [(
                6,
                Decision::Tripped {
                    reason: TripReason::ErrorRatio,
                    stats: WindowStats {
                        requests: 700,
                        errors: 150,
                        slow: 0
                    },
                    factor: 0.0
                }
            )]
        );
        assert!(f.brake.engaged());
        assert_eq!(f.brake.factor(), 0.0);
        // Paused for the 30 s cooldown, whatever the (absent) traffic.
        assert!(f.run(7..36, 100, 100, 0).is_empty());
        assert_eq!(f.brake.factor(), 0.0);
        assert_eq!(f.run(36..37, 100, 0, 0), [(36, Decision::Released)]);
        assert_eq!(f.brake.factor(), 1.0);
        // The window starts afresh: a healthy target stays released...
        assert!(f.run(37..60, 100, 0, 0).is_empty());
        // ...and one failing again trips it again, once there are enough requests.
        let d = f.run(60..70, 100, 100, 0);
        assert!(matches!(
            d.first(),
            Some((_, Decision::Tripped { factor, .. })) if *factor == 0.0
        ));
    }

    #[test]
    fn p99_trips_when_more_than_one_percent_are_slower_than_max_p99() {
        let mut f = Feed::new(BrakeAction::Pause);
        assert!(f.run(0..20, 100, 0, 1).is_empty(), "exactly 1% is fine");
        let d = f.run(20..30, 100, 0, 2);
        assert!(
            matches!(d.first(), Some((_, Decision::Tripped { reason: TripReason::P99, stats, .. })) if stats.slow_ratio() > 0.01),
            "{d:?}"
        );
    }

    #[test]
    fn the_error_ratio_is_the_reason_when_both_trip() {
        let mut f = Feed::new(BrakeAction::Pause);
        let d = f.run(0..1, 100, 100, 100);
        assert!(matches!(
            d.as_slice(),
            [(
                0,
                Decision::Tripped {
                    reason: TripReason::ErrorRatio,
                    ..
                }
            )]
        ));
    }

    #[test]
    fn backoff_halves_each_window_while_tripped_and_recovers_gradually() {
        let mut f = Feed::new(BrakeAction::Backoff);
        let d = f.run(0..1, 1000, 1000, 0);
        assert!(matches!(
            d.as_slice(),
            [(0, Decision::Tripped { factor, .. })] if *factor == 0.5
        ));
        // Still failing: halved once per 10 s window, not faster.
        let d = f.run(1..31, 1000, 1000, 0);
        let factors: Vec<(u64, f64)> = d
            .iter()
            .map(|(s, d)| match d {
                Decision::Tightened { factor, .. } => (*s, *factor),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(factors, [(10, 0.25), (20, 0.125), (30, 0.0625)]);
        // The target recovers at 31: nothing changes until 30 s after the last trip (60),
        // then the load doubles back each healthy window, and the brake is released.
        let d = f.run(31..100, 1000, 0, 0);
        assert_eq!(
            d,
            [
                (60, Decision::Loosened { factor: 0.125 }),
                (70, Decision::Loosened { factor: 0.25 }),
                (80, Decision::Loosened { factor: 0.5 }),
                (90, Decision::Released),
            ]
        );
        assert!(!f.brake.engaged());
        assert_eq!(f.brake.factor(), 1.0);
    }

    #[test]
    fn backoff_bottoms_out_at_the_minimum_factor() {
        let mut f = Feed::new(BrakeAction::Backoff);
        f.run(0..200, 100_000, 100_000, 0);
        assert_eq!(f.brake.factor(), MIN_FACTOR);
        assert!(f.brake.engaged());
    }

    #[test]
    fn old_seconds_leave_the_window() {
        let mut b = Brake::new(spec(BrakeAction::Pause));
        // 9 failures at second 0 (fewer than min_requests), then nothing until second 10,
        // when 10 healthy requests finish: the window (seconds 1..=10) no longer holds the
        // failures, so nothing trips (with them it would be 9 of 19).
        let burst = BrakeTotals {
            requests: 9,
            errors: 9,
            slow: 0,
        };
        for s in 0..10 {
            assert_eq!(b.observe(s, burst), None, "second {s}");
        }
        let later = BrakeTotals {
            requests: 19,
            ..burst
        };
        assert_eq!(b.observe(10, later), None);
        assert!(!b.engaged());
    }
}
