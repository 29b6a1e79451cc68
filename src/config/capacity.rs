//! Capacity profiles (`kind = "capacity"`): the `[profiles.NAME.capacity]` table, raw and
//! validated. The daemon runs the search once per activation of the profile's schedule; the
//! rates come from the search, so the profile sets neither `rate` nor `users`.

use std::time::Duration;

use serde::Deserialize;

use super::Threshold;
// The search's parameter checks are pure (no tokio, no engine): one source for the CLI and
// the config.
use crate::capacity::search::{Growth, Params, DEFAULT_FACTOR, DEFAULT_MAX_LEVELS};

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

pub const DEFAULT_START_RATE: f64 = 10.0;
pub const DEFAULT_MAX_RATE: f64 = 100_000.0;

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
        None => crate::capacity::search::DEFAULT_PRECISION,
        Some(RawFraction::Number(v)) => *v,
        Some(RawFraction::Text(t)) => crate::capacity::cli::parse_fraction(t).unwrap_or(f64::NAN),
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
    let hold = duration("hold", raw.hold.as_deref(), Duration::from_secs(30), false);
    let stabilize = duration(
        "stabilize",
        raw.stabilize.as_deref(),
        Duration::from_secs(5),
        true,
    );
    let max_lag = duration(
        "max_lag",
        raw.max_lag.as_deref(),
        Duration::from_millis(10),
        false,
    );
    ok.then_some(CapacitySpec {
        slos,
        params,
        hold,
        stabilize,
        max_lag,
    })
}
