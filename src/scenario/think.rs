//! Think time between steps: fixed, uniform over a range, or exponential around a mean. Pure:
//! [`Think::sample`] draws from the caller's rng and returns how long to wait; the executor
//! does the sleeping.

use std::time::Duration;

use serde::Deserialize;

/// The config forms: `"1s"`, `["1s", "3s"]`, `{ exponential = "2s" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = r#"a duration ("1s"), a range (["1s", "3s"]) or { exponential = "2s" }"#
)]
pub enum ThinkSpec {
    Fixed(String),
    Range(Vec<String>),
    Exponential { exponential: String },
}

/// A validated think time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Think {
    Fixed(Duration),
    /// Uniform between the two bounds, inclusive of the first.
    Uniform(Duration, Duration),
    /// Exponential with this mean, capped at [`EXPONENTIAL_CAP`] times the mean.
    Exponential(Duration),
}

/// An exponential draw longer than this many means is cut to it, so a user never sleeps
/// for hours; the mean drops by a factor of e^-10 (about 0.005%).
pub const EXPONENTIAL_CAP: f64 = 10.0;

impl Think {
    pub fn parse(spec: &ThinkSpec) -> Result<Self, String> {
        match spec {
            ThinkSpec::Fixed(d) => Ok(Self::Fixed(duration(d)?)),
            ThinkSpec::Range(bounds) => match bounds.as_slice() {
                [lo, hi] => {
                    let (lo, hi) = (duration(lo)?, duration(hi)?);
                    if lo > hi {
                        return Err(format!(
                            "think-time range [{:?}, {:?}]: the first bound is above the second",
                            bounds[0], bounds[1]
                        ));
                    }
                    Ok(Self::Uniform(lo, hi))
                }
                _ => Err(format!(
                    "a think-time range has two durations (e.g. [\"1s\", \"3s\"]), got {}",
                    bounds.len()
                )),
            },
            ThinkSpec::Exponential { exponential } => {
                let mean = duration(exponential)?;
                if mean.is_zero() {
                    return Err(format!(
                        "invalid duration {exponential:?}: an exponential mean must be greater than zero"
                    ));
                }
                Ok(Self::Exponential(mean))
            }
        }
    }

    /// How `check` and the start log show it: `1s`, `1s–3s`, `exponential, mean 2s`.
    pub fn describe(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        match *self {
            Self::Fixed(t) => d(t),
            Self::Uniform(lo, hi) => format!("{}–{}", d(lo), d(hi)),
            Self::Exponential(mean) => format!("exponential, mean {}", d(mean)),
        }
    }

    /// How long this user waits now.
    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform(lo, hi) => lo + (hi - lo).mul_f64(rng.f64()),
            Self::Exponential(mean) => {
                // 1 - u is in (0, 1], so the logarithm is finite.
                let draw = -(1.0 - rng.f64()).ln();
                mean.mul_f64(draw.min(EXPONENTIAL_CAP))
            }
        }
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {text:?} (e.g. \"30s\", \"5m\", \"250ms\")"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_reads_like_the_config() {
        let ms = Duration::from_millis;
        assert_eq!(Think::Fixed(ms(1500)).describe(), "1s 500ms");
        assert_eq!(Think::Uniform(ms(200), ms(800)).describe(), "200ms–800ms");
        assert_eq!(
            Think::Exponential(ms(2000)).describe(),
            "exponential, mean 2s"
        );
    }

    fn spec(json: &str) -> Result<ThinkSpec, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn think(json: &str) -> Result<Think, String> {
        Think::parse(&spec(json)?)
    }

    #[test]
    fn parses_the_three_config_forms() {
        assert_eq!(think(r#""1s""#), Ok(Think::Fixed(Duration::from_secs(1))));
        assert_eq!(think(r#""0s""#), Ok(Think::Fixed(Duration::ZERO)));
        assert_eq!(
            think(r#"["500ms", "3s"]"#),
            Ok(Think::Uniform(
                Duration::from_millis(500),
                Duration::from_secs(3)
            ))
        );
        assert_eq!(
            think(r#"{"exponential": "2s"}"#),
            Ok(Think::Exponential(Duration::from_secs(2)))
        );
    }

    #[test]
    fn rejects_bad_forms_with_clear_messages() {
        assert_eq!(
            think(r#""5x""#),
            Err(r#"invalid duration "5x" (e.g. "30s", "5m", "250ms")"#.to_string())
        );
        assert_eq!(
            think(r#"["1s"]"#),
            Err(r#"a think-time range has two durations (e.g. ["1s", "3s"]), got 1"#.to_string())
        );
        assert_eq!(
            think(r#"["3s", "1s"]"#),
            Err(
                r#"think-time range ["3s", "1s"]: the first bound is above the second"#.to_string()
            )
        );
        assert_eq!(
            think(r#"{"exponential": "0s"}"#),
            Err(
                r#"invalid duration "0s": an exponential mean must be greater than zero"#
                    .to_string()
            )
        );
        let err = spec(r#"{"exponentail": "2s"}"#).expect_err("typo");
        assert!(err.contains(r#"a duration ("1s"), a range"#), "{err}");
        assert!(spec("5").is_err());
    }

    #[test]
    fn fixed_always_returns_itself() {
        let mut rng = fastrand::Rng::with_seed(1);
        let t = Think::Fixed(Duration::from_millis(750));
        assert!((0..100).all(|_| t.sample(&mut rng) == Duration::from_millis(750)));
    }

    #[test]
    fn uniform_stays_within_bounds_and_spreads() {
        let mut rng = fastrand::Rng::with_seed(2);
        let (lo, hi) = (Duration::from_secs(1), Duration::from_secs(3));
        let t = Think::Uniform(lo, hi);
        let samples: Vec<Duration> = (0..10_000).map(|_| t.sample(&mut rng)).collect();
        assert!(samples.iter().all(|d| lo <= *d && *d <= hi));
        let mean = samples.iter().sum::<Duration>() / 10_000;
        assert!(
            mean.abs_diff(Duration::from_secs(2)) < Duration::from_millis(50),
            "{mean:?}"
        );
        assert!(samples.iter().any(|d| *d < Duration::from_millis(1100)));
        assert!(samples.iter().any(|d| *d > Duration::from_millis(2900)));
        let degenerate = Think::Uniform(lo, lo);
        assert_eq!(degenerate.sample(&mut rng), lo);
    }

    #[test]
    fn exponential_mean_is_close_and_draws_are_capped() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mean = Duration::from_secs(2);
        let t = Think::Exponential(mean);
        let samples: Vec<Duration> = (0..10_000).map(|_| t.sample(&mut rng)).collect();
        let cap = mean.mul_f64(EXPONENTIAL_CAP);
        assert!(samples.iter().all(|d| *d <= cap));
        let observed = samples.iter().sum::<Duration>() / 10_000;
        assert!(
            observed.abs_diff(mean) < mean / 10,
            "observed mean {observed:?}, expected {mean:?} ± 10%"
        );
        // Exponential, not uniform: about e^-1 ≈ 37% of draws exceed the mean.
        let above = samples.iter().filter(|d| **d > mean).count();
        assert!((3300..4100).contains(&above), "{above}");
    }
}
