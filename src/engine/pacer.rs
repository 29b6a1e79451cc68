//! Intended send instants for the open model, a pure function of the plan. The expected
//! number of arrivals up to time t is the integral of the rate; the k-th arrival is due when
//! that integral reaches k (evenly spaced), or after exponential gaps in it (Poisson: the
//! time-rescaling of a Poisson process, so any pattern gets realistic independent users).
//! Latency is later measured from these instants, which keeps coordinated omission out.

use std::time::Duration;

use super::plan::{Plan, Shard};
use crate::config::Arrivals;

/// The longest integration step: the rate is taken as linear within a step, so a sharp
/// edge of a pattern is smoothed over at most this long.
const MAX_STEP: f64 = 0.01;

/// How far one call scans a zero rate before handing back control.
const LOOKAHEAD: f64 = 1.0;

/// Instants within this of the end belong to the next run: float sums of intervals must not
/// add an arrival at exactly the end.
const END_SLACK: f64 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Due {
    /// The next arrival is due this long after the start.
    At(Duration),
    /// Nothing is due before this instant (the rate is zero): look again then.
    Idle(Duration),
    End,
}

pub struct Pacer {
    plan: Plan,
    end: Option<f64>,
    /// Real seconds since the start up to which the rate is integrated.
    t: f64,
    /// The rate at `t`.
    rate: f64,
    /// Expected arrivals up to `t`.
    integral: f64,
    /// The integral's value at which the next arrival is due.
    next: f64,
    rng: Option<fastrand::Rng>,
}

impl Pacer {
    pub fn new(mut plan: Plan, arrivals: Arrivals, shard: Shard, end: Option<Duration>) -> Self {
        let rate = plan.value_at(0.0);
        let (next, rng) = match arrivals {
            Arrivals::Even => (shard.phase(), None),
            Arrivals::Poisson { seed } => {
                let mut rng = fastrand::Rng::with_seed(seed ^ u64::from(shard.index));
                (exponential(&mut rng), Some(rng))
            }
        };
        Pacer {
            plan,
            end: end.map(|d| d.as_secs_f64()),
            t: 0.0,
            rate,
            integral: 0.0,
            next,
            rng,
        }
    }

    /// The next intended send, advancing the schedule.
    pub fn next_due(&mut self) -> Due {
        let horizon = self.t + LOOKAHEAD;
        loop {
            let end = self.end.unwrap_or(f64::INFINITY);
            if self.t >= end - END_SLACK {
                return Due::End;
            }
            let remaining = self.next - self.integral;
            if remaining <= 0.0 {
                return self.arrive(self.t);
            }
            if self.t >= horizon {
                return Due::Idle(Duration::from_secs_f64(self.t));
            }
            let mut h = if self.rate > 0.0 {
                (remaining / self.rate).min(MAX_STEP)
            } else {
                MAX_STEP
            };
            h = h.min(end - self.t).max(1e-9);
            let r1 = self.plan.value_at(self.t + h);
            let area = 0.5 * (self.rate + r1) * h;
            if area >= remaining {
                // Solve r0·x + (r1-r0)/(2h)·x² = remaining for x in (0, h], in the form that
                // stays exact when the rate is constant.
                let a = (r1 - self.rate) / (2.0 * h);
                let disc = (self.rate * self.rate + 4.0 * a * remaining).max(0.0);
                let x = (2.0 * remaining / (self.rate + disc.sqrt())).min(h);
                self.t += x;
                self.rate = if x == h { r1 } else { self.rate + 2.0 * a * x };
                self.integral = self.next;
                if self.t >= end - END_SLACK {
                    return Due::End;
                }
                return self.arrive(self.t);
            }
            self.t += h;
            self.rate = r1;
            self.integral += area;
        }
    }

    fn arrive(&mut self, t: f64) -> Due {
        self.next += match &mut self.rng {
            Some(rng) => exponential(rng),
            None => 1.0,
        };
        Due::At(Duration::from_secs_f64(t))
    }

    /// This instance's intended rate at `elapsed`, for the `intended_requests_per_second` gauge.
    pub fn rate_at(&mut self, elapsed: Duration) -> f64 {
        self.plan.value_at(elapsed.as_secs_f64())
    }
}

/// An exponential variate with mean 1.
fn exponential(rng: &mut fastrand::Rng) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    -(1.0 - rng.f64()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Pattern;

    fn constant(v: f64) -> Plan {
        Plan::new(Pattern::Constant { value: v })
    }

    fn dues(mut p: Pacer) -> Vec<f64> {
        let mut out = Vec::new();
        loop {
            match p.next_due() {
                Due::At(d) => out.push(d.as_secs_f64()),
                Due::Idle(_) => {}
                Due::End => return out,
            }
        }
    }

    #[test]
    fn constant_rate_gives_exactly_rate_times_duration_arrivals_evenly_spaced() {
        let p = Pacer::new(
            constant(500.0),
            Arrivals::Even,
            Shard::WHOLE,
            Some(Duration::from_secs(30)),
        );
        let d = dues(p);
        assert_eq!(d.len(), 15_000);
        assert_eq!(d[0], 0.0);
        assert!(d.windows(2).all(|w| (w[1] - w[0] - 0.002).abs() < 1e-9));
    }

    #[test]
    fn fractional_rates_do_not_drift() {
        let p = Pacer::new(
            constant(3.0),
            Arrivals::Even,
            Shard::WHOLE,
            Some(Duration::from_secs(3_600)),
        );
        assert_eq!(dues(p).len(), 10_800);
        let half = Pacer::new(
            constant(0.5),
            Arrivals::Even,
            Shard::WHOLE,
            Some(Duration::from_secs(10)),
        );
        let d = dues(half);
        assert_eq!(d.len(), 5, "0.5/s is one request every 2 s: {d:?}");
        assert!((d[4] - 8.0).abs() < 1e-6);
    }

    #[test]
    fn without_an_end_it_never_stops() {
        let mut p = Pacer::new(constant(1_000.0), Arrivals::Even, Shard::WHOLE, None);
        let mut last = Due::End;
        for _ in 0..100_000 {
            last = p.next_due();
        }
        let Due::At(d) = last else { panic!("{last:?}") };
        assert!((d.as_secs_f64() - 99.999).abs() < 1e-6);
    }

    #[test]
    fn shards_interleave_to_the_whole_schedule() {
        let end = Some(Duration::from_secs(10));
        let whole = dues(Pacer::new(
            constant(30.0),
            Arrivals::Even,
            Shard::WHOLE,
            end,
        ));
        let mut merged: Vec<f64> = (0..3)
            .flat_map(|index| {
                let shard = Shard { index, count: 3 };
                dues(Pacer::new(
                    constant(30.0).sharded(shard, true),
                    Arrivals::Even,
                    shard,
                    end,
                ))
            })
            .collect();
        merged.sort_by(f64::total_cmp);
        assert_eq!(merged.len(), whole.len());
        assert!(merged.iter().zip(&whole).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn zero_rate_idles_without_arrivals() {
        let mut p = Pacer::new(constant(0.0), Arrivals::Even, Shard::WHOLE, None);
        // Shard 0's first arrival is due at integral 0, i.e. at once even at rate 0.
        assert_eq!(p.next_due(), Due::At(Duration::ZERO));
        assert!(matches!(p.next_due(), Due::Idle(d) if (d.as_secs_f64() - 1.0).abs() < 0.02));
        assert!(matches!(p.next_due(), Due::Idle(d) if (d.as_secs_f64() - 2.0).abs() < 0.02));
    }

    #[test]
    fn poisson_gaps_are_exponential_and_reproducible() {
        let end = Some(Duration::from_secs(200));
        let run = |seed| {
            dues(Pacer::new(
                constant(100.0),
                Arrivals::Poisson { seed },
                Shard::WHOLE,
                end,
            ))
        };
        let (a, b, c) = (run(7), run(7), run(8));
        assert_eq!(a, b, "same seed, same arrivals");
        assert_ne!(a, c);
        // 20,000 expected; a Poisson count's standard deviation is sqrt(20,000) ~ 141.
        assert!((a.len() as f64 - 20_000.0).abs() < 600.0, "{}", a.len());
        let gaps: Vec<f64> = a.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((mean - 0.01).abs() < 0.0005, "mean gap {mean}");
        // Exponential: the standard deviation equals the mean (even spacing would give 0).
        assert!(
            (var.sqrt() / mean - 1.0).abs() < 0.05,
            "cv {}",
            var.sqrt() / mean
        );
    }
}
