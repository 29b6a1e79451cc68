//! A load pattern: the intended arrival rate (open model) or user count (closed model) as a
//! pure function of the time elapsed since the pattern's origin, and its parsing from the raw
//! config shape. `rate_at` is on the hot path (about twice per request): plain f64 and integer
//! math, no allocation, no clock, no tokio. Parsing collects every problem as a
//! (key path, message) pair; turning those into `ConfigError`s is `config::validate`'s job.

use std::f64::consts::PI;
use std::time::Duration;

use crate::config::raw::{RawPattern, RawShape};

/// Sanity bound for every value: arrivals per second or users.
pub const MAX_VALUE: f64 = 10_000_000.0;

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// The same value for the whole run.
    Constant { value: f64 },
    /// `start`, then `+= step` every `every`, never beyond `to` (a floor when `step` < 0).
    Step {
        start: f64,
        step: f64,
        every: Duration,
        to: f64,
    },
    /// `from` -> `to` over `over`, then holds `to`.
    Ramp {
        from: f64,
        to: f64,
        over: Duration,
        curve: Curve,
    },
    /// `base`, rising to `peak` from `at` over `ramp` (0 = sharp edge), holding `hold`, falling
    /// back over `ramp`; repeats every `every` (measured from `at`) when set.
    Spike {
        base: f64,
        peak: f64,
        at: Duration,
        hold: Duration,
        ramp: Duration,
        every: Option<Duration>,
    },
    /// A value drawn uniformly in [min, max) for each interval of length `every`: a pure
    /// function of (seed, interval index), so a run replays exactly.
    Random {
        min: f64,
        max: f64,
        every: Duration,
        seed: u64,
    },
    /// `min` at `trough_at`, `max` at `peak_at` (offsets within `period`), half-cosines in
    /// between, so trough and peak need not be half a period apart.
    Sine {
        min: f64,
        max: f64,
        period: Duration,
        peak_at: Duration,
        trough_at: Duration,
    },
    /// Piecewise linear through (at, value), sorted by `at`; flat before and after.
    Points(Vec<(Duration, f64)>),
    /// One stage after another, each with its own time origin; after the last, its end value.
    Stages(Vec<Stage>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub pattern: Pattern,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Curve {
    Linear,
    /// Geometric: equal ratios in equal times (needs from > 0 and to > 0).
    Exponential,
}

impl Pattern {
    /// The pattern's value at `elapsed`: arrivals per second (open) or users (closed). Never
    /// negative, never NaN.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let v = match self {
            Pattern::Constant { value } => *value,
            Pattern::Step {
                start,
                step,
                every,
                to,
            } => {
                let n = index(elapsed, *every) as f64;
                let v = start + step * n;
                if *step >= 0.0 {
                    v.min(*to)
                } else {
                    v.max(*to)
                }
            }
            Pattern::Ramp {
                from,
                to,
                over,
                curve,
            } => {
                if elapsed >= *over {
                    *to
                } else {
                    let f = fraction(elapsed, *over);
                    match curve {
                        Curve::Linear => lerp(*from, *to, f),
                        Curve::Exponential => from * (to / from).powf(f),
                    }
                }
            }
            Pattern::Spike {
                base,
                peak,
                at,
                hold,
                ramp,
                every,
            } => {
                if elapsed < *at {
                    *base
                } else {
                    let mut t = elapsed - *at;
                    if let Some(every) = every {
                        t = modulo(t, *every);
                    }
                    let top = ramp.saturating_add(*hold);
                    if t < *ramp {
                        lerp(*base, *peak, fraction(t, *ramp))
                    } else if t < top {
                        *peak
                    } else if t < top.saturating_add(*ramp) {
                        lerp(*peak, *base, fraction(t - top, *ramp))
                    } else {
                        *base
                    }
                }
            }
            Pattern::Random {
                min,
                max,
                every,
                seed,
            } => {
                let u = unit(mix(*seed, index(elapsed, *every)));
                min + (max - min) * u
            }
            Pattern::Sine {
                min,
                max,
                period,
                peak_at,
                trough_at,
            } => {
                let p = period.as_nanos();
                if p == 0 {
                    *min
                } else {
                    let (t, peak, trough) = (
                        elapsed.as_nanos() % p,
                        peak_at.as_nanos(),
                        trough_at.as_nanos(),
                    );
                    // Everything measured from the trough, forwards, modulo the period.
                    let d = (t + p - trough % p) % p;
                    let rise = (peak % p + p - trough % p) % p;
                    if d < rise {
                        let x = d as f64 / rise as f64;
                        lerp(*min, *max, (1.0 - (PI * x).cos()) / 2.0)
                    } else {
                        let x = (d - rise) as f64 / (p - rise) as f64;
                        lerp(*max, *min, (1.0 - (PI * x).cos()) / 2.0)
                    }
                }
            }
            Pattern::Points(points) => points_at(points, elapsed),
            Pattern::Stages(stages) => {
                let mut start = Duration::ZERO;
                let mut found = None;
                for s in stages {
                    let end = start.saturating_add(s.duration);
                    if elapsed < end {
                        found = Some(s.pattern.rate_at(elapsed - start));
                        break;
                    }
                    start = end;
                }
                match (found, stages.last()) {
                    (Some(v), _) => v,
                    (None, Some(last)) => last.pattern.rate_at(last.duration),
                    (None, None) => 0.0,
                }
            }
        };
        // Also maps NaN (a hand-built exponential ramp from 0, say) to 0.
        if v > 0.0 {
            v
        } else {
            0.0
        }
    }

    /// The natural length of one pass, for patterns that have one; callers loop a pattern by
    /// evaluating `rate_at(elapsed mod length)`.
    pub fn length(&self) -> Option<Duration> {
        match self {
            Pattern::Ramp { over, .. } => Some(*over),
            Pattern::Points(points) => points.last().map(|p| p.0),
            Pattern::Stages(stages) => Some(
                stages
                    .iter()
                    .fold(Duration::ZERO, |a, s| a.saturating_add(s.duration)),
            ),
            Pattern::Spike {
                at,
                hold,
                ramp,
                every: None,
                ..
            } => Some(
                at.saturating_add(*hold)
                    .saturating_add(ramp.saturating_mul(2)),
            ),
            Pattern::Spike { every: Some(_), .. }
            | Pattern::Step { .. }
            | Pattern::Constant { .. }
            | Pattern::Random { .. }
            | Pattern::Sine { .. } => None,
        }
    }

    /// An upper bound of `rate_at` over all time, for caps and checks.
    pub fn max_value(&self) -> f64 {
        let v = match self {
            Pattern::Constant { value } => *value,
            Pattern::Step { start, to, .. } => start.max(*to),
            Pattern::Ramp { from, to, .. } => from.max(*to),
            Pattern::Spike { base, peak, .. } => base.max(*peak),
            Pattern::Random { max, .. } | Pattern::Sine { max, .. } => *max,
            Pattern::Points(points) => points.iter().map(|p| p.1).fold(0.0, f64::max),
            Pattern::Stages(stages) => stages
                .iter()
                .map(|s| s.pattern.max_value())
                .fold(0.0, f64::max),
        };
        v.max(0.0)
    }

    /// The random pattern's seed (the first one, looking inside stages), to print for replay.
    pub fn seed(&self) -> Option<u64> {
        match self {
            Pattern::Random { seed, .. } => Some(*seed),
            Pattern::Stages(stages) => stages.iter().find_map(|s| s.pattern.seed()),
            _ => None,
        }
    }

    /// A short one-line description: `ramp 0 → 200 over 10m (linear)`.
    pub fn describe(&self) -> String {
        match self {
            Pattern::Constant { value } => format!("constant {}", num(*value)),
            Pattern::Step {
                start,
                step,
                every,
                to,
            } => {
                let (sign, bound) = if *step >= 0.0 {
                    ("+", "up to")
                } else {
                    ("", "down to")
                };
                format!(
                    "step from {} by {sign}{} every {}, {bound} {}",
                    num(*start),
                    num(*step),
                    dur(*every),
                    num(*to)
                )
            }
            Pattern::Ramp {
                from,
                to,
                over,
                curve,
            } => format!(
                "ramp {} → {} over {} ({})",
                num(*from),
                num(*to),
                dur(*over),
                match curve {
                    Curve::Linear => "linear",
                    Curve::Exponential => "exponential",
                }
            ),
            Pattern::Spike {
                base,
                peak,
                at,
                hold,
                ramp,
                every,
            } => {
                let mut s = format!(
                    "spike {} → {} at {} for {}",
                    num(*base),
                    num(*peak),
                    dur(*at),
                    dur(*hold)
                );
                if !ramp.is_zero() {
                    s += &format!(", ramp {}", dur(*ramp));
                }
                if let Some(every) = every {
                    s += &format!(", every {}", dur(*every));
                }
                s
            }
            Pattern::Random {
                min,
                max,
                every,
                seed,
            } => format!(
                "random {}..{} every {} (seed {seed})",
                num(*min),
                num(*max),
                dur(*every)
            ),
            Pattern::Sine {
                min,
                max,
                period,
                peak_at,
                trough_at,
            } => format!(
                "sine {}..{} over {}, peak at {}, trough at {}",
                num(*min),
                num(*max),
                dur(*period),
                dur(*peak_at),
                dur(*trough_at)
            ),
            Pattern::Points(points) => {
                let shown = if points.len() > 4 { 3 } else { points.len() };
                let mut parts: Vec<String> = points[..shown]
                    .iter()
                    .map(|(at, v)| format!("{} at {}", num(*v), dur(*at)))
                    .collect();
                if shown < points.len() {
                    parts.push(format!(
                        "… ({} points over {})",
                        points.len(),
                        dur(self.length().unwrap_or_default())
                    ));
                }
                format!("points {}", parts.join(", "))
            }
            Pattern::Stages(stages) => {
                let shown = if stages.len() > 4 { 3 } else { stages.len() };
                let mut parts: Vec<String> = stages[..shown]
                    .iter()
                    .map(|s| {
                        let inner = match &s.pattern {
                            Pattern::Stages(_) => format!("({})", s.pattern.describe()),
                            p => p.describe(),
                        };
                        if s.pattern.length() == Some(s.duration) {
                            inner
                        } else {
                            format!("{inner} for {}", dur(s.duration))
                        }
                    })
                    .collect();
                if shown < stages.len() {
                    parts.push(format!(
                        "… ({} stages, {})",
                        stages.len(),
                        dur(self.length().unwrap_or_default())
                    ));
                }
                format!("stages: {}", parts.join(", "))
            }
        }
    }
}

/// How many whole `every`s fit in `t`; integer math so that exactly `every` is interval 1.
fn index(t: Duration, every: Duration) -> u64 {
    let e = every.as_nanos();
    if e == 0 {
        return 0;
    }
    u64::try_from(t.as_nanos() / e).unwrap_or(u64::MAX)
}

fn modulo(t: Duration, m: Duration) -> Duration {
    let m = m.as_nanos();
    if m == 0 {
        return t;
    }
    let r = t.as_nanos() % m;
    // r < m, and m came from a Duration, so the seconds fit a u64.
    Duration::new((r / 1_000_000_000) as u64, (r % 1_000_000_000) as u32)
}

fn fraction(t: Duration, of: Duration) -> f64 {
    t.as_secs_f64() / of.as_secs_f64()
}

/// Exact at both ends (`a` at 0, `b` at 1) and monotonic in between.
fn lerp(a: f64, b: f64, w: f64) -> f64 {
    if w >= 1.0 {
        b
    } else {
        a + (b - a) * w
    }
}

fn points_at(points: &[(Duration, f64)], t: Duration) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    if t <= first.0 {
        return first.1;
    }
    if t >= last.0 {
        return last.1;
    }
    // first.0 < t < last.0, so 1 <= i < len.
    let i = points.partition_point(|p| p.0 <= t);
    let ((t0, v0), (t1, v1)) = (points[i - 1], points[i]);
    lerp(v0, v1, fraction(t - t0, t1 - t0))
}

/// splitmix64's finaliser: our own rather than fastrand's generator, so a seed replays the
/// same values whatever the fastrand version.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(seed: u64, j: u64) -> u64 {
    splitmix(seed ^ splitmix(j))
}

/// A uniform value in [0, 1) from 53 random bits.
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn num(v: f64) -> String {
    format!("{}", (v * 1000.0).round() / 1000.0)
}

fn dur(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

// ---------------------------------------------------------------------------------------------
// Parsing

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
            let hint = KINDS
                .iter()
                .find(|k| one_edit_apart(kind, k))
                .map(|k| format!("; did you mean {k:?}?"))
                .unwrap_or_default();
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
            self.err(key, format!("must be at least min ({min})"));
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
                    self.err(f(name), "must be greater than 0 for an exponential ramp");
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
                        format!("must be later than the previous point ({})", dur(prev)),
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

/// One insertion, deletion, substitution or swap of neighbours apart (as for unknown keys in
/// `config`).
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    match (a.len() - prefix - suffix, b.len() - prefix - suffix) {
        (1, 1) | (0, 1) | (1, 0) => true,
        (2, 2) => a[prefix] == b[prefix + 1] && a[prefix + 1] == b[prefix],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawPoint;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

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
        let distinct: std::collections::BTreeSet<u64> =
            seq(&a).iter().map(|v| v.to_bits()).collect();
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
                "must be greater than 0 for an exponential ramp"
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
            one("profiles.x.rate.max", "must be at least min (10)")
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
                "must be later than the previous point (2m)"
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
}
