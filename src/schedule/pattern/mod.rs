//! A load pattern: the intended arrival rate (open model) or user count (closed model) as a
//! pure function of the time elapsed since the pattern's origin. `rate_at` is on the hot path
//! (about twice per request): plain f64 and integer math, no allocation, no clock, no tokio.
//! Parsing from the raw config shape is in `parse`.

use std::f64::consts::PI;
use std::time::Duration;

mod parse;
pub mod raw;

pub use parse::{parse, MAX_VALUE};

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
            } => spike_at(elapsed, (*base, *peak), *at, *hold, *ramp, *every),
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
            } => sine_at(elapsed, (*min, *max), *period, *peak_at, *trough_at),
            Pattern::Points(points) => points_at(points, elapsed),
            Pattern::Stages(stages) => stages_at(stages, elapsed),
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
            } => describe_spike((*base, *peak), *at, *hold, *ramp, *every),
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
            Pattern::Points(points) => describe_points(points),
            Pattern::Stages(stages) => describe_stages(stages),
        }
    }
}

/// A spike from `base` to `peak` at `at`: up over `ramp`, held `hold`, down over `ramp`;
/// again every `every`.
fn spike_at(
    elapsed: Duration,
    (base, peak): (f64, f64),
    at: Duration,
    hold: Duration,
    ramp: Duration,
    every: Option<Duration>,
) -> f64 {
    if elapsed < at {
        base
    } else {
        let mut t = elapsed - at;
        if let Some(every) = every {
            t = modulo(t, every);
        }
        let top = ramp.saturating_add(hold);
        if t < ramp {
            lerp(base, peak, fraction(t, ramp))
        } else if t < top {
            peak
        } else if t < top.saturating_add(ramp) {
            lerp(peak, base, fraction(t - top, ramp))
        } else {
            base
        }
    }
}

/// A smooth wave between `min` and `max`: half-cosines from trough to peak and back, which
/// need not be half a period apart.
fn sine_at(
    elapsed: Duration,
    (min, max): (f64, f64),
    period: Duration,
    peak_at: Duration,
    trough_at: Duration,
) -> f64 {
    let p = period.as_nanos();
    if p == 0 {
        min
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
            lerp(min, max, (1.0 - (PI * x).cos()) / 2.0)
        } else {
            let x = (d - rise) as f64 / (p - rise) as f64;
            lerp(max, min, (1.0 - (PI * x).cos()) / 2.0)
        }
    }
}

/// The stage `elapsed` falls in, at its own elapsed time; after the last, its end value.
fn stages_at(stages: &[Stage], elapsed: Duration) -> f64 {
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

fn describe_spike(
    (base, peak): (f64, f64),
    at: Duration,
    hold: Duration,
    ramp: Duration,
    every: Option<Duration>,
) -> String {
    let mut s = format!(
        "spike {} → {} at {} for {}",
        num(base),
        num(peak),
        dur(at),
        dur(hold)
    );
    if !ramp.is_zero() {
        s += &format!(", ramp {}", dur(ramp));
    }
    if let Some(every) = every {
        s += &format!(", every {}", dur(every));
    }
    s
}

/// The first points (three of more than four), then how many over how long.
fn describe_points(points: &[(Duration, f64)]) -> String {
    let shown = if points.len() > 4 { 3 } else { points.len() };
    let mut parts: Vec<String> = points[..shown]
        .iter()
        .map(|(at, v)| format!("{} at {}", num(*v), dur(*at)))
        .collect();
    if shown < points.len() {
        parts.push(format!(
            "… ({} points over {})",
            points.len(),
            dur(points.last().map_or(Duration::ZERO, |p| p.0))
        ));
    }
    format!("points {}", parts.join(", "))
}

/// The first stages (three of more than four), then how many over how long.
fn describe_stages(stages: &[Stage]) -> String {
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
            dur(stages
                .iter()
                .fold(Duration::ZERO, |a, s| a.saturating_add(s.duration)))
        ));
    }
    format!("stages: {}", parts.join(", "))
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

#[cfg(test)]
mod tests;
