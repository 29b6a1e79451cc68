use super::super::tests::{ms, s};
use super::*;
use crate::schedule::pattern::raw::RawPoint;

fn shape(toml: &str) -> RawPattern {
    use figment::providers::Format;
    let raw = figment::Figment::from(figment::providers::Toml::string(toml))
        .extract::<RawShape>()
        .expect("test TOML is a valid shape");
    RawPattern::Shape(Box::new(raw))
}

fn errors(toml: &str) -> Vec<(String, String)> {
    parse(&shape(toml), "profiles.x.rate", 7).expect_err("this shape is invalid")
}

fn one(key: &str, msg: &str) -> Vec<(String, String)> {
    vec![(key.to_string(), msg.to_string())]
}

#[test]
fn parse_plain_values() {
    let p = parse(&RawPattern::Value(0.5), "profiles.x.rate", 1);
    assert_eq!(p, Ok(Pattern::Constant { value: 0.5 }));
    assert_eq!(
        parse(&RawPattern::Value(0.0), "k", 1),
        Ok(Pattern::Constant { value: 0.0 })
    );
    assert_eq!(
        parse(&RawPattern::Value(-1.0), "profiles.x.rate", 1),
        Err(one(
            "profiles.x.rate",
            "invalid value -1: must be zero or more"
        ))
    );
    assert_eq!(
        parse(&RawPattern::Value(2e7), "profiles.x.rate", 1),
        Err(one(
            "profiles.x.rate",
            "invalid value 20000000: must be at most 10000000"
        ))
    );
    assert_eq!(
        parse(&RawPattern::Value(f64::INFINITY), "profiles.x.rate", 1),
        Err(one(
            "profiles.x.rate",
            "invalid value inf: must be a finite number"
        ))
    );
}

#[test]
fn parse_every_kind() {
    let ok = |toml: &str| parse(&shape(toml), "profiles.x.rate", 7).expect(toml);
    assert_eq!(
        ok(r#"pattern = "constant"
              value = 3"#),
        Pattern::Constant { value: 3.0 }
    );
    assert_eq!(
        ok(r#"pattern = "step"
              start = 10
              step = 10
              every = "1m"
              to = 50"#),
        Pattern::Step {
            start: 10.0,
            step: 10.0,
            every: s(60),
            to: 50.0
        }
    );
    assert_eq!(
        ok(r#"pattern = "ramp"
              from = 1
              to = 100
              over = "10m"
              curve = "exponential""#),
        Pattern::Ramp {
            from: 1.0,
            to: 100.0,
            over: s(600),
            curve: Curve::Exponential
        }
    );
    assert_eq!(
        ok(r#"pattern = "spike"
              base = 10
              peak = 100
              at = "5m"
              hold = "30s""#),
        Pattern::Spike {
            base: 10.0,
            peak: 100.0,
            at: s(300),
            hold: s(30),
            ramp: Duration::ZERO,
            every: None
        }
    );
    assert_eq!(
        ok(r#"pattern = "random"
              min = 1
              max = 2.5
              every = "30s""#),
        Pattern::Random {
            min: 1.0,
            max: 2.5,
            every: s(30),
            seed: 7
        },
        "seed defaults to the caller's"
    );
    assert_eq!(
        ok(r#"pattern = "diurnal"
              min = 5
              max = 50
              peak_at = "14:00"
              trough_at = "4h""#),
        Pattern::Sine {
            min: 5.0,
            max: 50.0,
            period: DAY,
            peak_at: s(14 * 3600),
            trough_at: s(4 * 3600)
        }
    );
    assert_eq!(
        ok(r#"pattern = "sine"
              min = 5
              max = 50
              period = "1h"
              peak_at = "10m""#),
        Pattern::Sine {
            min: 5.0,
            max: 50.0,
            period: s(3600),
            peak_at: s(600),
            trough_at: s(2400)
        },
        "trough half a period after the peak"
    );
    assert_eq!(
        ok(r#"pattern = "points"
              points = [{ at = "0s", value = 1 }, { at = "1m", value = 2 }]"#),
        Pattern::Points(vec![(s(0), 1.0), (s(60), 2.0)])
    );
}

#[test]
fn parse_a_realistic_stages_config() {
    let raw = shape(
        r#"
        pattern = "stages"
        start = 5
        stages = [
            { duration = "2m", target = 100 },
            { duration = "10m", pattern = "constant", value = 100 },
            { duration = "5m", pattern = "spike", base = 100, peak = 400, at = "1m", hold = "1m", ramp = "30s" },
            { duration = "1h", pattern = "stages", stages = [
                { duration = "30m", target = 50 },
                { duration = "30m", pattern = "random", min = 40, max = 60, every = "1m", seed = 9 },
            ] },
            { duration = "1m", target = 0 },
        ]
        "#,
    );
    let p = parse(&raw, "profiles.x.rate", 1).expect("valid stages");
    assert_eq!(p.length(), Some(s(2 * 60 + 10 * 60 + 5 * 60 + 3600 + 60)));
    assert_eq!(p.rate_at(s(0)), 5.0, "starts from `start`");
    assert_eq!(p.rate_at(s(120)), 100.0);
    assert_eq!(p.rate_at(s(720 + 60 + 30 + 30)), 400.0, "spike holds");
    // The nested k6 stage ramps from where the spike stage ended (100) to 50.
    assert_eq!(p.rate_at(s(1020 + 900)), 75.0);
    assert_eq!(p.seed(), Some(9));
    let last_random = p.rate_at(s(1020 + 3600) - ms(1));
    assert!((40.0..=60.0).contains(&last_random));
    // The final k6 stage ramps from the random stage's value at its end, down to 0.
    let Pattern::Stages(stages) = &p else {
        panic!("not stages: {p:?}")
    };
    assert_eq!(
        stages[4].pattern,
        Pattern::Ramp {
            from: stages[3].pattern.rate_at(s(3600)),
            to: 0.0,
            over: s(60),
            curve: Curve::Linear
        }
    );
    assert_eq!(p.rate_at(s(100_000)), 0.0);
    assert_eq!(p.max_value(), 400.0);
}

#[test]
fn parse_reports_missing_and_foreign_keys() {
    assert_eq!(
        errors(
            r#"pattern = "spike"
               base = 1
               peak = 2
               at = "1m"
               over = "5m""#
        ),
        vec![
            (
                "profiles.x.rate.over".into(),
                "does not apply to a spike pattern (its keys: base, peak, at, hold, ramp, every)"
                    .into()
            ),
            (
                "profiles.x.rate.hold".into(),
                "missing: how long the spike holds its peak (e.g. \"30s\")".into()
            ),
        ]
    );
    assert_eq!(
        errors("value = 3"),
        one(
            "profiles.x.rate.pattern",
            "missing: the pattern kind (one of: constant, step, ramp, spike, random, sine, \
             diurnal, points, stages)"
        )
    );
    assert_eq!(
        errors(r#"pattern = "rmap""#),
        one(
            "profiles.x.rate.pattern",
            "unknown pattern \"rmap\"; did you mean \"ramp\"? (known: constant, step, ramp, \
             spike, random, sine, diurnal, points, stages)"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "constant"
               value = 1
               duration = "1m""#
        ),
        one(
            "profiles.x.rate.duration",
            "only applies inside stages (how long a stage lasts)"
        )
    );
}

#[test]
fn parse_reports_bad_values() {
    assert_eq!(
        errors(
            r#"pattern = "ramp"
               from = 0
               to = 100
               over = "5x"
               curve = "exponential""#
        ),
        one(
            "profiles.x.rate.over",
            "invalid duration \"5x\" (e.g. \"30s\", \"5m\", \"250ms\")"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "ramp"
               from = 0
               to = 100
               over = "5m"
               curve = "exponential""#
        ),
        one(
            "profiles.x.rate.from",
            "0 is not allowed: an exponential ramp needs from and to > 0"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "random"
               min = 10
               max = 5
               every = "0s""#
        ),
        one(
            "profiles.x.rate.every",
            "invalid duration \"0s\": must be greater than zero"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "random"
               min = 10
               max = 5
               every = "1s""#
        ),
        one(
            "profiles.x.rate.max",
            "5 is below min (10): must be at least min"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "sine"
               min = 1
               max = 5
               peak_at = "25:00""#
        ),
        one(
            "profiles.x.rate.peak_at",
            "invalid time of day \"25:00\" (e.g. \"14:00\", hours 0-23, or a duration like \"14h\")"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "sine"
               min = 1
               max = 5
               period = "1h"
               peak_at = "14:00""#
        ),
        one(
            "profiles.x.rate.peak_at",
            "must be less than the period (1h)"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "step"
               start = 10
               step = 5
               every = "1m"
               to = 5"#
        ),
        one(
            "profiles.x.rate.to",
            "must be at least start (10) when step is positive"
        )
    );
    assert_eq!(
        errors(
            r#"pattern = "spike"
               base = 1
               peak = 2
               at = "0s"
               hold = "1m"
               ramp = "30s"
               every = "90s""#
        ),
        one(
            "profiles.x.rate.every",
            "must be at least the spike's length, hold + 2 × ramp (2m)"
        )
    );
}

#[test]
fn parse_reports_points_and_stage_errors_by_index() {
    let mut raw = RawShape {
        pattern: Some("points".into()),
        ..RawShape::default()
    };
    let pt = |at: &str, value| RawPoint {
        at: Some(at.into()),
        value: Some(value),
    };
    raw.points = Some(vec![pt("0s", 1.0), pt("2m", 2.0), pt("1m", 3.0)]);
    assert_eq!(
        parse(
            &RawPattern::Shape(Box::new(raw.clone())),
            "profiles.x.rate",
            1
        ),
        Err(one(
            "profiles.x.rate.points[2].at",
            "1m is not later than the previous point (2m)"
        ))
    );
    raw.points = Some(vec![pt("0s", 1.0)]);
    assert_eq!(
        parse(&RawPattern::Shape(Box::new(raw)), "profiles.x.rate", 1),
        Err(one(
            "profiles.x.rate.points",
            "needs at least 2 points (found 1)"
        ))
    );
    assert_eq!(
        errors(
            r#"pattern = "stages"
               stages = [
                   { duration = "1m", target = -5 },
                   { target = 10 },
                   { duration = "1m", pattern = "constant", value = 1, target = 3 },
                   { duration = "1m", value = 1 },
                   { duration = "1m" },
               ]"#
        ),
        vec![
            (
                "profiles.x.rate.stages[0].target".into(),
                "invalid value -5: must be zero or more".into()
            ),
            (
                "profiles.x.rate.stages[1].duration".into(),
                "missing: how long this stage lasts (e.g. \"2m\")".into()
            ),
            (
                "profiles.x.rate.stages[2].target".into(),
                "does not apply to a stage with a pattern (a k6-style stage is only duration \
                 and target)"
                    .into()
            ),
            (
                "profiles.x.rate.stages[3].pattern".into(),
                "missing: the stage's pattern kind (one of: constant, step, ramp, spike, \
                 random, sine, diurnal, points, stages), or a k6-style target"
                    .into()
            ),
            (
                "profiles.x.rate.stages[4].target".into(),
                "missing: the value this stage ramps to (k6-style), or a pattern".into()
            ),
        ]
    );
}
