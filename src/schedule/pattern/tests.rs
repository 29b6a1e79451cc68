use super::*;

pub(super) fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

pub(super) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[test]
fn constant_is_the_same_at_every_instant() {
    let p = Pattern::Constant { value: 250.0 };
    for t in [0, 1, 59, 3_600, 86_400 * 30] {
        assert_eq!(p.rate_at(s(t)), 250.0);
    }
    assert_eq!(Pattern::Constant { value: 0.5 }.rate_at(s(9)), 0.5);
    assert_eq!(Pattern::Constant { value: 0.0 }.rate_at(s(9)), 0.0);
    assert_eq!(Pattern::Constant { value: -3.0 }.rate_at(s(9)), 0.0);
    assert_eq!(Pattern::Constant { value: f64::NAN }.rate_at(s(9)), 0.0);
}

#[test]
fn step_changes_at_exactly_every_and_stops_at_to() {
    let p = Pattern::Step {
        start: 10.0,
        step: 5.0,
        every: s(60),
        to: 22.0,
    };
    assert_eq!(p.rate_at(s(0)), 10.0);
    assert_eq!(p.rate_at(s(60) - ms(1)), 10.0);
    assert_eq!(p.rate_at(s(60)), 15.0);
    assert_eq!(p.rate_at(s(120)), 20.0);
    assert_eq!(p.rate_at(s(180)), 22.0, "clamped at to");
    assert_eq!(p.rate_at(s(86_400 * 365)), 22.0);
    // Sub-second steps land exactly too (0.3 / 0.1 is 2.999… in floating point).
    let fine = Pattern::Step {
        start: 0.0,
        step: 1.0,
        every: ms(100),
        to: 100.0,
    };
    assert_eq!(fine.rate_at(ms(300)), 3.0);
}

#[test]
fn negative_step_stops_at_the_floor() {
    let p = Pattern::Step {
        start: 100.0,
        step: -30.0,
        every: s(10),
        to: 20.0,
    };
    let got: Vec<f64> = [0, 10, 20, 30, 1_000].map(|t| p.rate_at(s(t))).to_vec();
    assert_eq!(got, [100.0, 70.0, 40.0, 20.0, 20.0]);
    let fractional = Pattern::Step {
        start: 0.5,
        step: -0.25,
        every: s(1),
        to: 0.0,
    };
    assert_eq!(fractional.rate_at(s(0)), 0.5);
    assert_eq!(fractional.rate_at(s(1)), 0.25);
    assert_eq!(fractional.rate_at(s(5)), 0.0);
}

#[test]
fn ramp_is_exact_at_both_ends_and_holds_after() {
    let p = Pattern::Ramp {
        from: 0.0,
        to: 200.0,
        over: s(600),
        curve: Curve::Linear,
    };
    assert_eq!(p.rate_at(s(0)), 0.0);
    assert_eq!(p.rate_at(s(150)), 50.0);
    assert_eq!(p.rate_at(s(300)), 100.0);
    assert_eq!(p.rate_at(s(600)), 200.0);
    assert_eq!(p.rate_at(s(7_200)), 200.0);
    let down = Pattern::Ramp {
        from: 0.5,
        to: 0.0,
        over: s(10),
        curve: Curve::Linear,
    };
    assert_eq!(down.rate_at(s(0)), 0.5);
    assert_eq!(down.rate_at(s(5)), 0.25);
    assert_eq!(down.rate_at(s(10)), 0.0);
}

#[test]
fn exponential_ramp_is_geometric() {
    let p = Pattern::Ramp {
        from: 10.0,
        to: 1_000.0,
        over: s(100),
        curve: Curve::Exponential,
    };
    assert_eq!(p.rate_at(s(0)), 10.0);
    assert!((p.rate_at(s(50)) - 100.0).abs() < 1e-9);
    assert_eq!(p.rate_at(s(100)), 1_000.0);
    assert_eq!(p.rate_at(s(101)), 1_000.0);
}

#[test]
fn sharp_spike_has_half_open_edges() {
    let p = Pattern::Spike {
        base: 10.0,
        peak: 500.0,
        at: s(300),
        hold: s(30),
        ramp: Duration::ZERO,
        every: None,
    };
    assert_eq!(p.rate_at(s(300) - ms(1)), 10.0);
    assert_eq!(p.rate_at(s(300)), 500.0);
    assert_eq!(p.rate_at(s(330) - ms(1)), 500.0);
    assert_eq!(p.rate_at(s(330)), 10.0);
    assert_eq!(p.rate_at(s(3_600)), 10.0);
    assert_eq!(p.length(), Some(s(330)));
}

#[test]
fn ramped_spike_rises_holds_falls_and_repeats() {
    let p = Pattern::Spike {
        base: 10.0,
        peak: 110.0,
        at: s(60),
        hold: s(20),
        ramp: s(10),
        every: Some(s(100)),
    };
    for (t, want) in [
        (0, 10.0),
        (60, 10.0),
        (65, 60.0),
        (70, 110.0),
        (89, 110.0),
        (90, 110.0),
        (95, 60.0),
        (100, 10.0),
        (159, 10.0),
        // Second occurrence, `every` after the first, measured from `at`.
        (160, 10.0),
        (165, 60.0),
        (175, 110.0),
        (195, 60.0),
        (200, 10.0),
    ] {
        assert_eq!(p.rate_at(s(t)), want, "at {t}s");
    }
    assert_eq!(p.length(), None);
    // A dip: peak below base.
    let dip = Pattern::Spike {
        base: 100.0,
        peak: 0.0,
        at: s(0),
        hold: s(5),
        ramp: Duration::ZERO,
        every: None,
    };
    assert_eq!(dip.rate_at(s(0)), 0.0);
    assert_eq!(dip.rate_at(s(5)), 100.0);
    assert_eq!(dip.max_value(), 100.0);
}

#[test]
fn random_is_a_replayable_function_of_seed_and_interval() {
    let p = |seed| Pattern::Random {
        min: 10.0,
        max: 20.0,
        every: s(30),
        seed,
    };
    let seq = |p: &Pattern| (0..50).map(|i| p.rate_at(s(i * 30))).collect::<Vec<_>>();
    let (a, b) = (p(42), p(43));
    assert_eq!(seq(&a), seq(&p(42)), "same seed, same sequence");
    assert_ne!(seq(&a), seq(&b), "different seeds differ");
    for i in 0..50 {
        let v = a.rate_at(s(i * 30));
        assert!((10.0..=20.0).contains(&v), "{v} out of range");
        assert_eq!(a.rate_at(s(i * 30 + 29)), v, "constant within interval {i}");
    }
    let distinct: std::collections::BTreeSet<u64> = seq(&a).iter().map(|v| v.to_bits()).collect();
    assert!(distinct.len() > 40, "values change between intervals");
    assert_eq!(a.seed(), Some(42));
    let flat = Pattern::Random {
        min: 0.5,
        max: 0.5,
        every: s(1),
        seed: 1,
    };
    assert_eq!(flat.rate_at(s(77)), 0.5);
}

#[test]
fn sine_has_min_at_trough_max_at_peak_and_is_monotonic_between() {
    let p = Pattern::Sine {
        min: 20.0,
        max: 100.0,
        period: DAY,
        peak_at: s(14 * 3600),
        trough_at: s(4 * 3600),
    };
    assert_eq!(p.rate_at(s(4 * 3600)), 20.0);
    assert_eq!(p.rate_at(s(14 * 3600)), 100.0);
    assert_eq!(
        p.rate_at(DAY + s(4 * 3600)),
        20.0,
        "evaluated modulo the period"
    );
    assert_eq!(p.rate_at(DAY * 3 + s(14 * 3600)), 100.0);
    // Rising 04:00 -> 14:00, falling 14:00 -> 04:00 the next day (through midnight).
    let mut last = 20.0;
    for m in (4 * 60 + 1)..=(14 * 60) {
        let v = p.rate_at(s(m * 60));
        assert!(v > last, "not rising at minute {m}");
        last = v;
    }
    for m in (14 * 60 + 1)..=(28 * 60) {
        let v = p.rate_at(s(m * 60));
        assert!(v < last, "not falling at minute {m}");
        last = v;
    }
    // Half-way through each half in time is half-way in value.
    assert!((p.rate_at(s(9 * 3600)) - 60.0).abs() < 1e-9);
    assert!((p.rate_at(s(21 * 3600)) - 60.0).abs() < 1e-9);
}

#[test]
fn points_interpolate_and_are_flat_outside() {
    let p = Pattern::Points(vec![(s(60), 10.0), (s(120), 30.0), (s(180), 0.5)]);
    assert_eq!(p.rate_at(s(0)), 10.0);
    assert_eq!(p.rate_at(s(60)), 10.0);
    assert_eq!(p.rate_at(s(90)), 20.0);
    assert_eq!(p.rate_at(s(120)), 30.0);
    assert!((p.rate_at(s(150)) - 15.25).abs() < 1e-12);
    assert_eq!(p.rate_at(s(180)), 0.5);
    assert_eq!(p.rate_at(s(10_000)), 0.5);
    assert_eq!(p.length(), Some(s(180)));
    assert_eq!(p.max_value(), 30.0);
}

fn k6(stages: &[(u64, f64)]) -> Pattern {
    let mut prev = 0.0;
    Pattern::Stages(
        stages
            .iter()
            .map(|&(secs, target)| {
                let p = Pattern::Ramp {
                    from: prev,
                    to: target,
                    over: s(secs),
                    curve: Curve::Linear,
                };
                prev = target;
                Stage {
                    duration: s(secs),
                    pattern: p,
                }
            })
            .collect(),
    )
}

#[test]
fn stages_run_in_sequence_each_from_its_own_start() {
    let mut p = k6(&[(120, 100.0), (600, 100.0), (60, 0.0)]);
    assert_eq!(p.rate_at(s(0)), 0.0);
    assert_eq!(p.rate_at(s(60)), 50.0);
    assert_eq!(p.rate_at(s(120)), 100.0);
    assert_eq!(p.rate_at(s(700)), 100.0);
    assert_eq!(p.rate_at(s(750)), 50.0);
    assert_eq!(p.rate_at(s(780)), 0.0);
    assert_eq!(p.length(), Some(s(780)));
    // After the end: the last stage's value at its end.
    if let Pattern::Stages(stages) = &mut p {
        stages.push(Stage {
            duration: s(10),
            pattern: Pattern::Constant { value: 7.0 },
        });
    }
    assert_eq!(p.rate_at(s(780)), 7.0);
    assert_eq!(p.rate_at(s(100_000)), 7.0);
    assert_eq!(p.max_value(), 100.0);
    assert_eq!(p.seed(), None);
}

#[test]
fn length_max_value_and_seed() {
    let random = Pattern::Random {
        min: 1.0,
        max: 9.0,
        every: s(1),
        seed: 5,
    };
    assert_eq!(random.length(), None);
    assert_eq!(random.max_value(), 9.0);
    let step = Pattern::Step {
        start: 100.0,
        step: -10.0,
        every: s(1),
        to: 0.0,
    };
    assert_eq!(step.length(), None);
    assert_eq!(step.max_value(), 100.0);
    let nested = Pattern::Stages(vec![
        Stage {
            duration: s(5),
            pattern: Pattern::Constant { value: 3.0 },
        },
        Stage {
            duration: s(5),
            pattern: random,
        },
    ]);
    assert_eq!(nested.seed(), Some(5));
    assert_eq!(nested.max_value(), 9.0);
    assert_eq!(nested.length(), Some(s(10)));
    assert_eq!(Pattern::Constant { value: 0.0 }.max_value(), 0.0);
}

#[test]
fn describe_is_one_short_line() {
    let ramp = Pattern::Ramp {
        from: 0.0,
        to: 200.0,
        over: s(600),
        curve: Curve::Linear,
    };
    assert_eq!(ramp.describe(), "ramp 0 → 200 over 10m (linear)");
    let stages = Pattern::Stages(vec![
        Stage {
            duration: s(120),
            pattern: Pattern::Ramp {
                from: 0.0,
                to: 100.0,
                over: s(120),
                curve: Curve::Linear,
            },
        },
        Stage {
            duration: s(600),
            pattern: Pattern::Constant { value: 100.0 },
        },
    ]);
    assert_eq!(
        stages.describe(),
        "stages: ramp 0 → 100 over 2m (linear), constant 100 for 10m"
    );
    let spike = Pattern::Spike {
        base: 10.0,
        peak: 500.0,
        at: s(300),
        hold: s(30),
        ramp: s(10),
        every: Some(s(3600)),
    };
    assert_eq!(
        spike.describe(),
        "spike 10 → 500 at 5m for 30s, ramp 10s, every 1h"
    );
    let long = k6(&[(60, 1.0), (60, 2.0), (60, 3.0), (60, 4.0), (60, 0.5)]);
    assert_eq!(
        long.describe(),
        "stages: ramp 0 → 1 over 1m (linear), ramp 1 → 2 over 1m (linear), \
         ramp 2 → 3 over 1m (linear), … (5 stages, 5m)"
    );
}
