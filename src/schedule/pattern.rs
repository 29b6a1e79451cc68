//! A load pattern: the intended arrival rate (open model) or user count (closed model) as a
//! pure function of the time elapsed since the profile started. Only `Constant` exists yet;
//! ramps, steps, spikes and sine shapes are new variants of this enum, and the executors never
//! change because they only ever call `rate_at`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// The same value for the whole run.
    Constant { value: f64 },
}

impl Pattern {
    /// The pattern's value at `elapsed`: arrivals per second (open) or users (closed).
    pub fn rate_at(&self, _elapsed: Duration) -> f64 {
        match self {
            Pattern::Constant { value } => *value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_is_the_same_at_every_instant() {
        let p = Pattern::Constant { value: 250.0 };
        for s in [0, 1, 59, 3_600, 86_400 * 30] {
            assert_eq!(p.rate_at(Duration::from_secs(s)), 250.0);
        }
    }
}
