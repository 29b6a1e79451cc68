//! The capacity search as a pure state machine: it is told each level's verdict and answers
//! with the next rate to run or the outcome. No clock, no traffic, so every path is unit-tested.
//!
//! Ramp: start at `start_rate`, multiply by `factor` (or add `step`) after each passing level,
//! never beyond `max_rate` (the ceiling is run once, exactly). The first failing level ends the
//! ramp; bisection then halves the gap between the last passing and the first failing rate
//! until it is within `precision` of the passing one. A generator-bound level stops the search
//! at once: nothing above it can be measured from this machine. So does a safety-capped level
//! (a `[safety]` cap held back its arrivals): nothing above it can be measured under the caps.

use serde::{Deserialize, Serialize};

// The parameters and their checks belong to the config (the CLI and capacity profiles share
// them); the search only runs them.
use crate::config::capacity::round_rate as round;
pub use crate::config::capacity::{
    Growth, Params, DEFAULT_FACTOR, DEFAULT_MAX_LEVELS, DEFAULT_PRECISION,
};

/// What one level showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every SLO held and the generator kept up.
    Pass,
    /// These SLOs (expressions) broke, in the order they were given.
    Fail(Vec<String>),
    /// The generator could not produce the load (drops, lag or CPU): not the target's doing.
    GeneratorBound,
    /// A `[safety]` cap held back more than the drop limit of the arrivals: the target never
    /// saw this rate, so the level neither passed nor failed.
    SafetyCapped,
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchOutcome {
    /// The highest rate that met the SLOs, within the precision of `failing`, the lowest
    /// failing rate, where `broken` SLOs broke.
    Found {
        rate: f64,
        failing: f64,
        broken: Vec<String>,
    },
    /// Even `max_rate` met the SLOs: the capacity is at least that.
    AboveMax { rate: f64 },
    /// The SLOs already fail at the start rate.
    FailsAtStart { rate: f64, broken: Vec<String> },
    /// The generator was the limit at `at`; `passing` is the best the target showed before.
    GeneratorBound { at: f64, passing: Option<f64> },
    /// `max_levels` ran out before the precision was reached.
    LevelLimit {
        passing: Option<f64>,
        failing: Option<f64>,
    },
    /// A `[safety]` cap stopped the search: every SLO held at `rate` (0 when no level
    /// passed), the capacity is at least that. `at` is the level the caps held back (None:
    /// the search reached its ceiling, `[safety] max_rate`, and it passed).
    SafetyLimit { rate: f64, at: Option<f64> },
    /// Stopped from outside (Ctrl-C, a pause) before an answer; the level in progress is
    /// dropped, not judged.
    Cancelled {
        passing: Option<f64>,
        failing: Option<f64>,
    },
}

impl SearchOutcome {
    /// The highest rate known to meet the SLOs (0 when none did).
    pub fn capacity(&self) -> f64 {
        match self {
            SearchOutcome::Found { rate, .. }
            | SearchOutcome::AboveMax { rate }
            | SearchOutcome::SafetyLimit { rate, .. } => *rate,
            SearchOutcome::FailsAtStart { .. } => 0.0,
            SearchOutcome::GeneratorBound { passing, .. }
            | SearchOutcome::LevelLimit { passing, .. }
            | SearchOutcome::Cancelled { passing, .. } => passing.unwrap_or(0.0),
        }
    }

    pub fn kind(&self) -> OutcomeKind {
        match self {
            SearchOutcome::Found { .. } => OutcomeKind::Found,
            SearchOutcome::AboveMax { .. } => OutcomeKind::AboveMaxRate,
            SearchOutcome::FailsAtStart { .. } => OutcomeKind::FailsAtStart,
            SearchOutcome::GeneratorBound { .. } => OutcomeKind::GeneratorBound,
            SearchOutcome::LevelLimit { .. } => OutcomeKind::LevelLimit,
            SearchOutcome::SafetyLimit { .. } => OutcomeKind::SafetyLimit,
            SearchOutcome::Cancelled { .. } => OutcomeKind::Cancelled,
        }
    }
}

/// How the search ended, without its figures: the report's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Found,
    AboveMaxRate,
    FailsAtStart,
    GeneratorBound,
    LevelLimit,
    SafetyLimit,
    Cancelled,
}

impl OutcomeKind {
    /// The name in the JSON, the metrics and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Found => "found",
            OutcomeKind::AboveMaxRate => "above_max_rate",
            OutcomeKind::FailsAtStart => "fails_at_start",
            OutcomeKind::GeneratorBound => "generator_bound",
            OutcomeKind::LevelLimit => "level_limit",
            OutcomeKind::SafetyLimit => "safety_limit",
            OutcomeKind::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Run(f64),
    Done(SearchOutcome),
}

/// The search in progress.
#[derive(Debug, Clone)]
pub struct Search {
    params: Params,
    /// The highest passing rate so far.
    passing: Option<f64>,
    /// The lowest failing rate so far and the SLOs that broke there.
    failing: Option<(f64, Vec<String>)>,
    levels: usize,
    next: Next,
}

impl Search {
    pub fn new(params: Params) -> Search {
        Search {
            params,
            passing: None,
            failing: None,
            levels: 0,
            next: Next::Run(round(params.start_rate.min(params.max_rate))),
        }
    }

    /// The rate to run now, or how the search ended.
    pub fn next(&self) -> &Next {
        &self.next
    }

    /// Records the verdict of the level just run (at the rate `next` gave) and decides what
    /// comes after it.
    pub fn record(&mut self, verdict: Verdict) -> &Next {
        let Next::Run(rate) = self.next else {
            return &self.next;
        };
        self.levels += 1;
        match verdict {
            Verdict::GeneratorBound => {
                self.next = Next::Done(SearchOutcome::GeneratorBound {
                    at: rate,
                    passing: self.passing,
                });
                return &self.next;
            }
            Verdict::SafetyCapped => {
                self.next = Next::Done(SearchOutcome::SafetyLimit {
                    rate: self.passing.unwrap_or(0.0),
                    at: Some(rate),
                });
                return &self.next;
            }
            Verdict::Pass => {
                self.passing = Some(self.passing.map_or(rate, |p| p.max(rate)));
            }
            Verdict::Fail(broken) => {
                if self.failing.as_ref().is_none_or(|(f, _)| rate < *f) {
                    self.failing = Some((rate, broken));
                }
            }
        }
        self.next = self.decide();
        &self.next
    }

    fn decide(&self) -> Next {
        let p = &self.params;
        let next = match (self.passing, &self.failing) {
            (None, Some((rate, broken))) => {
                return Next::Done(SearchOutcome::FailsAtStart {
                    rate: *rate,
                    broken: broken.clone(),
                })
            }
            (None, None) => unreachable!("record() saw a pass or a failure"),
            // Ramp: still passing.
            (Some(pass), None) => {
                if pass >= p.max_rate {
                    return Next::Done(SearchOutcome::AboveMax { rate: pass });
                }
                let up = match p.growth {
                    Growth::Factor(f) => pass * f,
                    Growth::Step(s) => pass + s,
                };
                round(up.min(p.max_rate))
            }
            // Bisect.
            (Some(pass), Some((fail, broken))) => {
                if *fail - pass <= p.precision * pass || round((pass + fail) / 2.0) <= pass {
                    return Next::Done(SearchOutcome::Found {
                        rate: pass,
                        failing: *fail,
                        broken: broken.clone(),
                    });
                }
                round((pass + fail) / 2.0)
            }
        };
        if self.levels >= p.max_levels {
            return Next::Done(SearchOutcome::LevelLimit {
                passing: self.passing,
                failing: self.failing.as_ref().map(|(f, _)| *f),
            });
        }
        Next::Run(next)
    }
}

/// The knee: the first level, by rate, whose median latency exceeds `factor` times the median
/// of the lowest-rate level, by at least `min_rise` seconds (so sub-millisecond jitter of a
/// fast target is not a knee). `levels` are (rate, p50) in any order; returns the knee's
/// index into `levels`.
pub fn knee(levels: &[(f64, f64)], factor: f64, min_rise: f64) -> Option<usize> {
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_by(|&a, &b| levels[a].0.total_cmp(&levels[b].0));
    let base = levels[*order.first()?].1;
    order
        .into_iter()
        .skip(1)
        .find(|&i| levels[i].1 > base * factor && levels[i].1 - base >= min_rise)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            start_rate: 100.0,
            growth: Growth::Factor(2.0),
            max_rate: 10_000.0,
            precision: 0.05,
            max_levels: 30,
        }
    }

    /// Runs the search against a target whose SLO holds up to `capacity` exactly.
    fn simulate(p: Params, capacity: f64) -> (Vec<f64>, SearchOutcome) {
        let mut s = Search::new(p);
        let mut rates = Vec::new();
        loop {
            match s.next().clone() {
                Next::Run(r) => {
                    rates.push(r);
                    s.record(if r <= capacity {
                        Verdict::Pass
                    } else {
                        Verdict::Fail(vec!["p99<500ms".into()])
                    });
                }
                Next::Done(o) => return (rates, o),
            }
        }
    }

    #[test]
    fn ramps_by_the_factor_then_bisects_to_the_precision() {
        let (rates, outcome) = simulate(params(), 450.0);
        assert_eq!(&rates[..4], &[100.0, 200.0, 400.0, 800.0]);
        assert_eq!(&rates[4..], &[600.0, 500.0, 450.0, 475.0, 462.5]);
        let SearchOutcome::Found {
            rate,
            failing,
            broken,
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!((rate, failing), (450.0, 462.5));
        assert_eq!(broken, vec!["p99<500ms".to_string()]);
        assert!((failing - rate) / rate <= 0.05 + 1e-9);
    }

    #[test]
    fn finds_any_capacity_within_the_precision() {
        for cap in [101.0, 137.0, 999.0, 1234.5, 7777.0] {
            let (rates, outcome) = simulate(params(), cap);
            let SearchOutcome::Found { rate, failing, .. } = outcome else {
                panic!("{cap}: {outcome:?}")
            };
            assert!(rate <= cap && cap < failing, "{cap}: {rate}..{failing}");
            assert!(
                failing - rate <= 0.05 * rate + 0.1,
                "{cap}: {rate}..{failing}"
            );
            assert!(rates.len() < 20, "{cap}: {} levels", rates.len());
        }
    }

    #[test]
    fn a_step_ramp_adds_the_step() {
        let p = Params {
            growth: Growth::Step(50.0),
            ..params()
        };
        let (rates, outcome) = simulate(p, 260.0);
        assert_eq!(&rates[..5], &[100.0, 150.0, 200.0, 250.0, 300.0]);
        assert_eq!(&rates[5..], &[275.0, 262.5]);
        assert!(
            matches!(outcome, SearchOutcome::Found { rate, failing, .. } if rate == 250.0 && failing == 262.5)
        );
    }

    #[test]
    fn the_ceiling_is_run_exactly_once_and_reported_as_a_lower_bound() {
        let p = Params {
            max_rate: 300.0,
            ..params()
        };
        let (rates, outcome) = simulate(p, 1e9);
        assert_eq!(rates, vec![100.0, 200.0, 300.0]);
        assert_eq!(outcome, SearchOutcome::AboveMax { rate: 300.0 });
        assert_eq!(outcome.capacity(), 300.0);
    }

    #[test]
    fn a_failure_at_the_start_rate_ends_at_once() {
        let (rates, outcome) = simulate(params(), 50.0);
        assert_eq!(rates, vec![100.0]);
        assert_eq!(
            outcome,
            SearchOutcome::FailsAtStart {
                rate: 100.0,
                broken: vec!["p99<500ms".into()]
            }
        );
        assert_eq!(outcome.capacity(), 0.0);
    }

    #[test]
    fn a_generator_bound_level_stops_the_search_and_keeps_the_last_pass() {
        let mut s = Search::new(params());
        s.record(Verdict::Pass);
        assert_eq!(s.next(), &Next::Run(200.0));
        s.record(Verdict::GeneratorBound);
        assert_eq!(
            s.next(),
            &Next::Done(SearchOutcome::GeneratorBound {
                at: 200.0,
                passing: Some(100.0)
            })
        );
        // Nothing more happens once done.
        s.record(Verdict::Pass);
        assert!(matches!(
            s.next(),
            Next::Done(SearchOutcome::GeneratorBound { .. })
        ));
    }

    #[test]
    fn a_safety_capped_level_stops_the_search_at_the_last_clean_pass() {
        let mut s = Search::new(params());
        s.record(Verdict::Pass);
        s.record(Verdict::Pass);
        assert_eq!(s.next(), &Next::Run(400.0));
        s.record(Verdict::SafetyCapped);
        let done = Next::Done(SearchOutcome::SafetyLimit {
            rate: 200.0,
            at: Some(400.0),
        });
        assert_eq!(s.next(), &done);
        let Next::Done(o) = s.next() else {
            unreachable!()
        };
        assert_eq!((o.kind(), o.capacity()), (OutcomeKind::SafetyLimit, 200.0));
        s.record(Verdict::Pass);
        assert_eq!(s.next(), &done, "nothing more happens once done");
        // Capped at the start rate: no level passed.
        let mut s = Search::new(params());
        s.record(Verdict::SafetyCapped);
        assert_eq!(
            s.next(),
            &Next::Done(SearchOutcome::SafetyLimit {
                rate: 0.0,
                at: Some(100.0)
            })
        );
    }

    #[test]
    fn the_level_cap_bounds_the_search() {
        let p = Params {
            max_levels: 3,
            ..params()
        };
        let (rates, outcome) = simulate(p, 1e9);
        assert_eq!(rates.len(), 3);
        assert_eq!(
            outcome,
            SearchOutcome::LevelLimit {
                passing: Some(400.0),
                failing: None
            }
        );
    }

    #[test]
    fn settings_are_checked() {
        let bad = Params {
            start_rate: 0.0,
            growth: Growth::Factor(1.0),
            max_rate: -1.0,
            precision: 1.5,
            max_levels: 0,
        };
        let fields: Vec<_> = bad.check().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "start_rate",
                "factor",
                "max_rate",
                "precision",
                "max_levels"
            ]
        );
        let below = Params {
            max_rate: 50.0,
            ..params()
        };
        assert_eq!(below.check()[0].1, "max_rate 50 is below start_rate 100");
        let tiny = Params {
            start_rate: 0.04,
            ..params()
        };
        assert_eq!(
            tiny.check()[0].1,
            "start_rate 0.04 rounds to 0: levels run in steps of 0.1 requests per second"
        );
        let smallest = Params {
            start_rate: 0.05,
            ..params()
        };
        assert!(smallest.check().is_empty());
        assert_eq!(Search::new(smallest).next(), &Next::Run(0.1));
        assert!(params().check().is_empty());
    }

    #[test]
    fn the_knee_is_where_the_median_doubles_by_a_real_margin() {
        // Out of order on purpose: bisection levels come after the ramp.
        let levels = [
            (100.0, 0.010),
            (400.0, 0.013),
            (800.0, 0.400),
            (600.0, 0.030),
            (200.0, 0.011),
        ];
        assert_eq!(knee(&levels, 2.0, 0.001), Some(3), "600 rps: 3x the base");
        // A fast target's jitter (0.2 ms -> 0.5 ms) is not a knee.
        let fast = [(100.0, 0.0002), (200.0, 0.0005), (400.0, 0.0004)];
        assert_eq!(knee(&fast, 2.0, 0.001), None);
        assert_eq!(knee(&[], 2.0, 0.001), None);
    }
}
