//! Capacity profiles (`kind = "capacity"`): the `[profiles.NAME.capacity]` table, raw and
//! validated. The daemon runs the search once per activation of the profile's schedule; the
//! rates come from the search, so the profile sets neither `rate` nor `users`.

use std::time::Duration;

use serde::Deserialize;

use super::Threshold;

/// `[profiles.NAME.capacity]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    #[serde(default)]
    pub slo: Vec<String>,
    pub start_rate: Option<f64>,
    pub factor: Option<f64>,
    pub step: Option<f64>,
    pub hold: Option<String>,
    pub stabilize: Option<String>,
    pub max_rate: Option<f64>,
    /// `"5%"` or `0.05`.
    pub precision: Option<RawFraction>,
    pub max_levels: Option<usize>,
    pub max_lag: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawFraction {
    Number(f64),
    Text(String),
}

/// How the ramp grows the rate after a passing level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// Multiply by this (> 1).
    Factor(f64),
    /// Add this many requests per second (> 0).
    Step(f64),
}

/// The search's knobs, already validated (see `Params::check`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub start_rate: f64,
    pub growth: Growth,
    pub max_rate: f64,
    /// Bisection stops when (failing - passing) <= precision * passing (e.g. 0.05).
    pub precision: f64,
    /// Hard cap on levels run, whatever the other settings say.
    pub max_levels: usize,
}

impl Params {
    /// Every problem with the settings, as (field, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.start_rate) {
            e.push((
                "start_rate",
                format!(
                    "invalid start_rate {}: must be > 0 requests per second",
                    self.start_rate
                ),
            ));
        } else if round_rate(self.start_rate) <= 0.0 {
            e.push((
                "start_rate",
                format!(
                    "start_rate {} rounds to 0: levels run in steps of 0.1 requests per second",
                    self.start_rate
                ),
            ));
        }
        match self.growth {
            Growth::Factor(f) if !(f.is_finite() && f > 1.0) => e.push((
                "factor",
                format!("invalid factor {f}: must be > 1 (e.g. 2 doubles the rate)"),
            )),
            Growth::Step(s) if !positive(s) => e.push((
                "step",
                format!("invalid step {s}: must be > 0 requests per second"),
            )),
            _ => {}
        }
        if !positive(self.max_rate) || self.max_rate > 10_000_000.0 {
            e.push((
                "max_rate",
                format!(
                    "invalid max_rate {}: must be > 0 and at most 10000000 requests per second",
                    self.max_rate
                ),
            ));
        } else if positive(self.start_rate) && self.max_rate < self.start_rate {
            e.push((
                "max_rate",
                format!(
                    "max_rate {} is below start_rate {}",
                    self.max_rate, self.start_rate
                ),
            ));
        }
        if !(self.precision.is_finite() && self.precision > 0.0 && self.precision < 1.0) {
            e.push((
                "precision",
                format!(
                    "invalid precision {}: a fraction between 0 and 1 such as 0.05 or 5%",
                    self.precision
                ),
            ));
        }
        if self.max_levels == 0 {
            e.push((
                "max_levels",
                format!("must be at least 1, got {}", self.max_levels),
            ));
        }
        e
    }
}

// The one set of defaults, for `loadtide capacity` and for capacity profiles alike.
pub const DEFAULT_START_RATE: f64 = 10.0;
pub const DEFAULT_MAX_RATE: f64 = 100_000.0;
pub const DEFAULT_FACTOR: f64 = 2.0;
pub const DEFAULT_PRECISION: f64 = 0.05;
pub const DEFAULT_MAX_LEVELS: usize = 30;
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);
pub const DEFAULT_STABILIZE: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_LAG: Duration = Duration::from_millis(10);

/// The lowest rate a level runs at: levels run at multiples of it.
pub const MIN_LEVEL_RATE: f64 = 0.1;

/// Rates are run rounded to 0.1 request per second, so tables and metrics stay readable.
pub fn round_rate(rate: f64) -> f64 {
    (rate * 10.0).round() / 10.0
}

/// The search's ceiling under `[safety] max_rate` (`cap`, of the whole process) for a shard
/// with this `share` of the load: its share of the cap, rounded down to the 0.1 req/s the
/// levels are run at, so no level exceeds the cap. Below `MIN_LEVEL_RATE` no level can run.
pub fn safety_ceiling(cap: f64, share: f64) -> f64 {
    ((cap / share) * 10.0 + 1e-6).floor() / 10.0
}

/// `"5%"` or `"0.05"`.
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => s.parse().ok(),
    }
}

/// A validated capacity search.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySpec {
    pub slos: Vec<Threshold>,
    pub params: Params,
    pub hold: Duration,
    pub stabilize: Duration,
    pub max_lag: Duration,
}

impl CapacitySpec {
    /// The longest a search can run (every level at most; drains aside).
    pub fn max_length(&self) -> Duration {
        (self.hold + self.stabilize) * self.params.max_levels as u32
    }
}

/// Why `t` cannot be a capacity SLO, if it cannot: each level is judged once over its whole
/// hold, with no baseline run and no windows (a windowed SLO would find none and fail).
pub fn unsupported_slo(t: &Threshold) -> Option<String> {
    if t.baseline_factor.is_some() {
        Some(format!(
            "{:?}: a capacity SLO cannot refer to a baseline",
            t.expr
        ))
    } else if t.window.is_some() {
        Some(format!(
            "{:?}: a capacity SLO cannot use \"over\" windows: each level is judged over its whole hold",
            t.expr
        ))
    } else {
        None
    }
}

/// Validates `raw` at `key` (`profiles.NAME.capacity`); every problem goes to `err`.
pub(super) fn validate(
    raw: &RawCapacity,
    key: &str,
    err: &mut dyn FnMut(String, String),
) -> Option<CapacitySpec> {
    let mut ok = true;
    let mut fail = |k: String, m: String| {
        ok = false;
        err(k, m)
    };
    let mut slos = Vec::new();
    if raw.slo.is_empty() {
        fail(
            format!("{key}.slo"),
            "give at least one SLO, e.g. slo = [\"p99<500ms\", \"error_rate<1%\"]".into(),
        );
    }
    for (i, s) in raw.slo.iter().enumerate() {
        match s.parse::<Threshold>() {
            Ok(t) => match unsupported_slo(&t) {
                Some(m) => fail(format!("{key}.slo[{i}]"), m),
                None => slos.push(t),
            },
            Err(e) => fail(format!("{key}.slo[{i}]"), e),
        }
    }
    if raw.factor.is_some() && raw.step.is_some() {
        fail(
            format!("{key}.step"),
            "set either factor (multiply) or step (add), not both".into(),
        );
    }
    let precision = match &raw.precision {
        None => DEFAULT_PRECISION,
        Some(RawFraction::Number(v)) => *v,
        Some(RawFraction::Text(t)) => parse_fraction(t).unwrap_or(f64::NAN),
    };
    let params = Params {
        start_rate: raw.start_rate.unwrap_or(DEFAULT_START_RATE),
        growth: match raw.step {
            Some(s) => Growth::Step(s),
            None => Growth::Factor(raw.factor.unwrap_or(DEFAULT_FACTOR)),
        },
        max_rate: raw.max_rate.unwrap_or(DEFAULT_MAX_RATE),
        precision,
        max_levels: raw.max_levels.unwrap_or(DEFAULT_MAX_LEVELS),
    };
    for (field, m) in params.check() {
        fail(format!("{key}.{field}"), m);
    }
    let mut duration = |field: &str, v: Option<&str>, default: Duration, zero_ok: bool| {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.trim()) {
            Ok(d) if zero_ok || !d.is_zero() => d,
            _ => {
                fail(
                    format!("{key}.{field}"),
                    format!("invalid duration {v:?} (e.g. \"30s\", \"5m\", \"250ms\")"),
                );
                default
            }
        }
    };
    let hold = duration("hold", raw.hold.as_deref(), DEFAULT_HOLD, false);
    let stabilize = duration(
        "stabilize",
        raw.stabilize.as_deref(),
        DEFAULT_STABILIZE,
        true,
    );
    let max_lag = duration("max_lag", raw.max_lag.as_deref(), DEFAULT_MAX_LAG, false);
    ok.then_some(CapacitySpec {
        slos,
        params,
        hold,
        stabilize,
        max_lag,
    })
}
