//! Intended send instants for the open model. The schedule is a pure function of the
//! pattern: the n-th arrival is due one inter-arrival interval (at the rate of that moment)
//! after the previous one, whatever happened to earlier requests. Latency is later measured
//! from these instants, which is what keeps coordinated omission out of the figures.

use std::time::Duration;

use crate::schedule::Pattern;

/// How long to look again when the pattern's rate is zero.
const IDLE_STEP: Duration = Duration::from_millis(100);

pub struct Pacer {
    pattern: Pattern,
    next: Duration,
    end: Option<Duration>,
    /// Arrivals are counted from the last rate change, so that the n-th one is due at
    /// `anchor + n / rate` exactly: adding rounded intervals up would drift.
    anchor: Duration,
    anchor_rate: f64,
    n: u64,
}

impl Pacer {
    pub fn new(pattern: Pattern, end: Option<Duration>) -> Self {
        Pacer {
            pattern,
            next: Duration::ZERO,
            end,
            anchor: Duration::ZERO,
            anchor_rate: 0.0,
            n: 0,
        }
    }

    /// The offset from the start of the next intended send, or `None` once the run's end is
    /// reached. Advances the schedule.
    pub fn next_due(&mut self) -> Option<Duration> {
        loop {
            if self.end.is_some_and(|end| self.next >= end) {
                return None;
            }
            let rate = self.pattern.rate_at(self.next);
            if rate > 0.0 && rate.is_finite() {
                if rate != self.anchor_rate {
                    (self.anchor, self.anchor_rate, self.n) = (self.next, rate, 0);
                }
                let due = self.next;
                self.n += 1;
                self.next = self.anchor + Duration::from_secs_f64(self.n as f64 / rate);
                return Some(due);
            }
            self.anchor_rate = 0.0;
            self.next += IDLE_STEP;
        }
    }

    /// The intended rate at `elapsed`, for the `intended_requests_per_second` gauge.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        self.pattern.rate_at(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_gives_exactly_rate_times_duration_arrivals_evenly_spaced() {
        let mut p = Pacer::new(
            Pattern::Constant { value: 500.0 },
            Some(Duration::from_secs(30)),
        );
        let mut dues = Vec::new();
        while let Some(d) = p.next_due() {
            dues.push(d);
        }
        assert_eq!(dues.len(), 15_000);
        assert_eq!(dues[0], Duration::ZERO);
        assert_eq!(dues[1], Duration::from_millis(2));
        assert!(dues[14_999] < Duration::from_secs(30));
        assert!(dues
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::from_millis(2)));
    }

    #[test]
    fn fractional_rates_do_not_drift() {
        let mut p = Pacer::new(
            Pattern::Constant { value: 3.0 },
            Some(Duration::from_secs(3_600)),
        );
        let n = std::iter::from_fn(|| p.next_due()).count();
        assert_eq!(n, 10_800);
    }

    #[test]
    fn without_an_end_it_never_stops() {
        let mut p = Pacer::new(Pattern::Constant { value: 1_000.0 }, None);
        let last = (0..100_000).filter_map(|_| p.next_due()).last();
        assert_eq!(last, Some(Duration::from_millis(99_999)));
    }
}
