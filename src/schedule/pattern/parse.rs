//! Parsing a load value from the raw config shape (a plain number or a `pattern` table) into
//! a `Pattern`. Every problem is collected as a (key path, message) pair; turning those into
//! `ConfigError`s is `config::validate`'s job.

use std::time::Duration;

use super::raw::{RawPattern, RawShape};
use super::{dur, modulo, Curve, Pattern, Stage, DAY};
use crate::suggest;

/// Sanity bound for every value: arrivals per second or users.
pub const MAX_VALUE: f64 = 10_000_000.0;

const KINDS: &[&str] = &[
    "constant", "step", "ramp", "spike", "random", "sine", "diurnal", "points", "stages",
];

fn kind_keys(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "constant" => &["value"],
        "step" => &["start", "step", "every", "to"],
        "ramp" => &["from", "to", "over", "curve"],
        "spike" => &["base", "peak", "at", "hold", "ramp", "every"],
        "random" => &["min", "max", "every", "seed"],
        "sine" | "diurnal" => &["min", "max", "period", "peak_at", "trough_at"],
        "points" => &["points"],
        "stages" => &["start", "stages"],
        _ => return None,
    })
}

/// The keys set in `s` other than `pattern`, in declaration order.
fn set_keys(s: &RawShape) -> Vec<&'static str> {
    [
        ("value", s.value.is_some()),
        ("start", s.start.is_some()),
        ("step", s.step.is_some()),
        ("every", s.every.is_some()),
        ("from", s.from.is_some()),
        ("to", s.to.is_some()),
        ("over", s.over.is_some()),
        ("curve", s.curve.is_some()),
        ("base", s.base.is_some()),
        ("peak", s.peak.is_some()),
        ("at", s.at.is_some()),
        ("hold", s.hold.is_some()),
        ("ramp", s.ramp.is_some()),
        ("min", s.min.is_some()),
        ("max", s.max.is_some()),
        ("seed", s.seed.is_some()),
        ("period", s.period.is_some()),
        ("peak_at", s.peak_at.is_some()),
        ("trough_at", s.trough_at.is_some()),
        ("points", s.points.is_some()),
        ("stages", s.stages.is_some()),
        ("duration", s.duration.is_some()),
        ("target", s.target.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

/// Parses a load value. `key` is the config key path of this value, e.g.
/// "profiles.daily.rate"; errors are (key path, message) pairs, all of them collected. A plain
/// number may be 0 here: the caller decides whether that is allowed.
pub fn parse(
    raw: &RawPattern,
    key: &str,
    default_seed: u64,
) -> Result<Pattern, Vec<(String, String)>> {
    let mut p = Parser {
        errors: Vec::new(),
        default_seed,
    };
    let pattern = match raw {
        RawPattern::Value(v) => p.value(key, *v).map(|value| Pattern::Constant { value }),
        RawPattern::Shape(s) => p.shape(s, key, false, 0.0),
    };
    match pattern {
        Some(pattern) if p.errors.is_empty() => Ok(pattern),
        _ => Err(p.errors),
    }
}

struct Parser {
    errors: Vec<(String, String)>,
    default_seed: u64,
}

impl Parser {
    fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push((key.into(), message.into()));
    }

    fn missing(&mut self, key: &str, what: &str) {
        self.err(key, format!("missing: {what}"));
    }

    fn value(&mut self, key: &str, v: f64) -> Option<f64> {
        let problem = if !v.is_finite() {
            "must be a finite number".to_string()
        } else if v < 0.0 {
            "must be zero or more".to_string()
        } else if v > MAX_VALUE {
            format!("must be at most {MAX_VALUE}")
        } else {
            return Some(v);
        };
        self.err(key, format!("invalid value {v}: {problem}"));
        None
    }

    fn req_value(&mut self, key: &str, v: Option<f64>, what: &str) -> Option<f64> {
        match v {
            Some(v) => self.value(key, v),
            None => {
                self.missing(key, what);
                None
            }
        }
    }

    fn duration(&mut self, key: &str, v: &str, zero_ok: bool) -> Option<Duration> {
        match humantime::parse_duration(v.trim()) {
            Ok(d) if zero_ok || !d.is_zero() => Some(d),
            Ok(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?}: must be greater than zero"),
                );
                None
            }
            Err(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?} (e.g. \"30s\", \"5m\", \"250ms\")"),
                );
                None
            }
        }
    }

    fn req_duration(
        &mut self,
        key: &str,
        v: Option<&str>,
        what: &str,
        zero_ok: bool,
    ) -> Option<Duration> {
        match v {
            Some(v) => self.duration(key, v, zero_ok),
            None => {
                self.missing(key, what);
                None
            }
        }
    }

    /// An offset within a period: a time of day ("14:00") or a duration ("14h").
    fn offset(&mut self, key: &str, v: &str) -> Option<Duration> {
        let s = v.trim();
        if let Some((h, m)) = s.split_once(':') {
            let part = |x: &str, max: u64| {
                (!x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| x.parse::<u64>().ok())
                    .flatten()
                    .filter(|n| *n <= max)
            };
            return match (part(h, 23), part(m, 59)) {
                (Some(h), Some(m)) => Some(Duration::from_secs(h * 3600 + m * 60)),
                _ => {
                    self.err(
                        key,
                        format!(
                            "invalid time of day {v:?} (e.g. \"14:00\", hours 0-23, \
                             or a duration like \"14h\")"
                        ),
                    );
                    None
                }
            };
        }
        match humantime::parse_duration(s) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    key,
                    format!("invalid offset {v:?} (e.g. \"14:00\" or a duration like \"14h\")"),
                );
                None
            }
        }
    }

    /// `in_stage`: `s` is an element of a `stages` list, so `duration` applies. `initial`: the
    /// value a nested k6-style stage list ramps from unless it sets `start`.
    fn shape(&mut self, s: &RawShape, key: &str, in_stage: bool, initial: f64) -> Option<Pattern> {
        let Some(kind) = s.pattern.as_deref() else {
            self.missing(
                &format!("{key}.pattern"),
                &format!("the pattern kind (one of: {})", KINDS.join(", ")),
            );
            return None;
        };
        let Some(keys) = kind_keys(kind) else {
            let hint = suggest::did_you_mean(kind, KINDS);
            self.err(
                format!("{key}.pattern"),
                format!(
                    "unknown pattern {kind:?}{hint} (known: {})",
                    KINDS.join(", ")
                ),
            );
            return None;
        };
        for k in set_keys(s) {
            if keys.contains(&k) || (in_stage && k == "duration") {
                continue;
            }
            let message = match k {
                "duration" => "only applies inside stages (how long a stage lasts)".to_string(),
                "target" if in_stage => "does not apply to a stage with a pattern \
                     (a k6-style stage is only duration and target)"
                    .to_string(),
                "target" => "only applies inside stages (a k6-style stage ramps to it)".to_string(),
                _ => format!(
                    "does not apply to a {kind} pattern (its keys: {})",
                    keys.join(", ")
                ),
            };
            self.err(format!("{key}.{k}"), message);
        }
        let f = |name: &str| format!("{key}.{name}");
        match kind {
            "constant" => {
                let value = self.req_value(&f("value"), s.value, "the constant value")?;
                Some(Pattern::Constant { value })
            }
            "step" => self.step(s, &f),
            "ramp" => self.ramp(s, &f),
            "spike" => self.spike(s, &f),
            "random" => {
                let min = self.req_value(&f("min"), s.min, "the lowest value");
                let max = self.req_value(&f("max"), s.max, "the highest value");
                let every = self.req_duration(
                    &f("every"),
                    s.every.as_deref(),
                    "how long each random value holds (e.g. \"30s\")",
                    false,
                );
                let (min, max, every) = (min?, max?, every?);
                self.min_max(&f("max"), min, max);
                Some(Pattern::Random {
                    min,
                    max,
                    every,
                    seed: s.seed.unwrap_or(self.default_seed),
                })
            }
            "sine" | "diurnal" => self.sine(s, &f),
            "points" => self.points(s, key),
            _ => self.stages(s, key, initial),
        }
    }

    fn min_max(&mut self, key: &str, min: f64, max: f64) {
        if min > max {
            self.err(
                key,
                format!("{max} is below min ({min}): must be at least min"),
            );
        }
    }

    fn step(&mut self, s: &RawShape, f: &dyn Fn(&str) -> String) -> Option<Pattern> {
        let start = self.req_value(&f("start"), s.start, "the first step's value");
        let step = match s.step {
            Some(v) if v.is_finite() && v.abs() <= MAX_VALUE => Some(v),
            Some(v) => {
                self.err(
                    f("step"),
                    format!(
                        "invalid step {v}: must be a finite number \
                         between -{MAX_VALUE} and {MAX_VALUE}"
                    ),
                );
                None
            }
            None => {
                self.missing(
                    &f("step"),
                    "how much each step adds (negative to step down)",
                );
                None
            }
        };
        let every = self.req_duration(
            &f("every"),
            s.every.as_deref(),
            "how long each step lasts (e.g. \"1m\")",
            false,
        );
        let to = self.req_value(
            &f("to"),
            s.to,
            "the value the steps stop at (a floor when step is negative)",
        );
        let (start, step, every, to) = (start?, step?, every?, to?);
        if step > 0.0 && to < start {
            self.err(
                f("to"),
                format!("must be at least start ({start}) when step is positive"),
            );
        } else if step < 0.0 && to > start {
            self.err(
                f("to"),
                format!("must be at most start ({start}) when step is negative"),
            );
        }
        Some(Pattern::Step {
            start,
            step,
            every,
            to,
        })
    }

    fn ramp(&mut self, s: &RawShape, f: &dyn Fn(&str) -> String) -> Option<Pattern> {
        let from = self.req_value(&f("from"), s.from, "the value at the start of the ramp");
        let to = self.req_value(&f("to"), s.to, "the value at the end of the ramp");
        let over = self.req_duration(
            &f("over"),
            s.over.as_deref(),
            "how long the ramp takes (e.g. \"10m\")",
            false,
        );
        let curve = match s.curve.as_deref().map(str::trim) {
            None | Some("linear") => Some(Curve::Linear),
            Some("exponential") => Some(Curve::Exponential),
            Some(other) => {
                self.err(
                    f("curve"),
                    format!("invalid curve {other:?} (known: linear, exponential)"),
                );
                None
            }
        };
        let (from, to, over, curve) = (from?, to?, over?, curve?);
        if curve == Curve::Exponential {
            for (name, v) in [("from", from), ("to", to)] {
                if v <= 0.0 {
                    self.err(
                        f(name),
                        format!("{v} is not allowed: an exponential ramp needs from and to > 0"),
                    );
                }
            }
        }
        Some(Pattern::Ramp {
            from,
            to,
            over,
            curve,
        })
    }

    fn spike(&mut self, s: &RawShape, f: &dyn Fn(&str) -> String) -> Option<Pattern> {
        let base = self.req_value(&f("base"), s.base, "the value outside the spike");
        let peak = self.req_value(&f("peak"), s.peak, "the value at the top of the spike");
        let at = self.req_duration(
            &f("at"),
            s.at.as_deref(),
            "when the spike starts (e.g. \"5m\")",
            true,
        );
        let hold = self.req_duration(
            &f("hold"),
            s.hold.as_deref(),
            "how long the spike holds its peak (e.g. \"30s\")",
            true,
        );
        let ramp = match s.ramp.as_deref() {
            Some(v) => self.duration(&f("ramp"), v, true),
            None => Some(Duration::ZERO),
        };
        let every = match s.every.as_deref() {
            Some(v) => Some(self.duration(&f("every"), v, false)),
            None => Some(None),
        };
        let (base, peak, at, hold, ramp, every) = (base?, peak?, at?, hold?, ramp?, every?);
        if hold.is_zero() && ramp.is_zero() {
            self.err(
                f("hold"),
                "must be greater than zero when there is no ramp (the spike would never happen)",
            );
        }
        let length = hold.saturating_add(ramp.saturating_mul(2));
        if every.is_some_and(|e| e < length) {
            self.err(
                f("every"),
                format!(
                    "must be at least the spike's length, hold + 2 × ramp ({})",
                    dur(length)
                ),
            );
        }
        Some(Pattern::Spike {
            base,
            peak,
            at,
            hold,
            ramp,
            every,
        })
    }

    fn sine(&mut self, s: &RawShape, f: &dyn Fn(&str) -> String) -> Option<Pattern> {
        let min = self.req_value(&f("min"), s.min, "the value at the trough");
        let max = self.req_value(&f("max"), s.max, "the value at the peak");
        let period = match s.period.as_deref() {
            Some(v) => self.duration(&f("period"), v, false),
            None => Some(DAY),
        };
        let peak_at = match s.peak_at.as_deref() {
            Some(v) => self.offset(&f("peak_at"), v),
            None => {
                self.missing(
                    &f("peak_at"),
                    "when the peak comes within the period (\"14:00\" or \"14h\")",
                );
                None
            }
        };
        let trough_at = match s.trough_at.as_deref() {
            Some(v) => self.offset(&f("trough_at"), v).map(Some),
            None => Some(None),
        };
        let (min, max, period, peak_at, trough_at) = (min?, max?, period?, peak_at?, trough_at?);
        self.min_max(&f("max"), min, max);
        for (name, v) in [("peak_at", Some(peak_at)), ("trough_at", trough_at)] {
            if v.is_some_and(|v| v >= period) {
                self.err(
                    f(name),
                    format!("must be less than the period ({})", dur(period)),
                );
            }
        }
        let trough_at = trough_at.unwrap_or_else(|| modulo(peak_at + period / 2, period));
        if trough_at == peak_at {
            self.err(f("trough_at"), "must differ from peak_at");
        }
        Some(Pattern::Sine {
            min,
            max,
            period,
            peak_at,
            trough_at,
        })
    }

    fn points(&mut self, s: &RawShape, key: &str) -> Option<Pattern> {
        let Some(raw) = &s.points else {
            self.missing(
                &format!("{key}.points"),
                "the points to interpolate between ([{ at = \"0s\", value = 10 }, …])",
            );
            return None;
        };
        let mut ok = raw.len() >= 2;
        if !ok {
            self.err(
                format!("{key}.points"),
                format!("needs at least 2 points (found {})", raw.len()),
            );
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut prev: Option<Duration> = None;
        for (i, pt) in raw.iter().enumerate() {
            let k = format!("{key}.points[{i}]");
            let at = self.req_duration(
                &format!("{k}.at"),
                pt.at.as_deref(),
                "the point's offset (e.g. \"5m\")",
                true,
            );
            let value = self.req_value(&format!("{k}.value"), pt.value, "the point's value");
            if let (Some(at), Some(prev)) = (at, prev) {
                if at <= prev {
                    self.err(
                        format!("{k}.at"),
                        format!(
                            "{} is not later than the previous point ({})",
                            dur(at),
                            dur(prev)
                        ),
                    );
                }
            }
            prev = at.or(prev);
            match (at, value) {
                (Some(at), Some(v)) => out.push((at, v)),
                _ => ok = false,
            }
        }
        ok.then_some(Pattern::Points(out))
    }

    fn stages(&mut self, s: &RawShape, key: &str, initial: f64) -> Option<Pattern> {
        let start = match s.start {
            Some(v) => self.value(&format!("{key}.start"), v).unwrap_or(initial),
            None => initial,
        };
        let Some(raw) = &s.stages else {
            self.missing(&format!("{key}.stages"), "the list of stages");
            return None;
        };
        if raw.is_empty() {
            self.err(format!("{key}.stages"), "needs at least one stage");
            return None;
        }
        let mut prev = start;
        let mut out = Vec::with_capacity(raw.len());
        let mut ok = true;
        for (i, st) in raw.iter().enumerate() {
            let k = format!("{key}.stages[{i}]");
            let duration = self.req_duration(
                &format!("{k}.duration"),
                st.duration.as_deref(),
                "how long this stage lasts (e.g. \"2m\")",
                false,
            );
            let pattern = match (&st.pattern, st.target) {
                (Some(_), _) => self.shape(st, &k, true, prev),
                (None, Some(target)) => {
                    // k6-style: a linear ramp from where the previous stage ended.
                    for other in set_keys(st) {
                        if other != "duration" && other != "target" {
                            self.err(
                                format!("{k}.{other}"),
                                "does not apply to a k6-style stage (its keys: duration, target)",
                            );
                        }
                    }
                    let to = self.value(&format!("{k}.target"), target);
                    match (to, duration) {
                        (Some(to), Some(over)) => Some(Pattern::Ramp {
                            from: prev,
                            to,
                            over,
                            curve: Curve::Linear,
                        }),
                        _ => None,
                    }
                }
                (None, None) => {
                    if set_keys(st).iter().any(|k| *k != "duration") {
                        self.missing(
                            &format!("{k}.pattern"),
                            &format!(
                                "the stage's pattern kind (one of: {}), or a k6-style target",
                                KINDS.join(", ")
                            ),
                        );
                    } else {
                        self.missing(
                            &format!("{k}.target"),
                            "the value this stage ramps to (k6-style), or a pattern",
                        );
                    }
                    None
                }
            };
            match (duration, pattern) {
                (Some(duration), Some(pattern)) => {
                    prev = pattern.rate_at(duration);
                    out.push(Stage { duration, pattern });
                }
                _ => ok = false,
            }
        }
        ok.then_some(Pattern::Stages(out))
    }
}

#[cfg(test)]
mod tests;
