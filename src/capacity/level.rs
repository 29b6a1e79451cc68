//! One load level of a capacity search: the profile at a constant open-model rate for
//! `stabilize` (excluded from every figure) and then `hold`, measured twice over — the target
//! (summary, SLO verdicts) and the generator itself (drops at `max_in_flight`, scheduler lag,
//! the process's own CPU) — so a level where the generator could not keep up is never blamed
//! on the target.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::threshold::Metric;
use crate::config::{Load, Profile, Threshold};
use crate::engine::{run_profile, RunSpec, Shard};
use crate::metrics::health::{lag_between, lag_buckets, process_cpu_seconds, HealthLimits};
use crate::metrics::{Metrics, ProfileRecorder, RunStats};
use crate::report::summary::{Latency, ThresholdResult};
use crate::report::Summary;
use crate::schedule::Pattern;

use super::search::Verdict;

/// How each level is run.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelSettings {
    pub stabilize: Duration,
    pub hold: Duration,
    pub shard: Shard,
    pub limits: HealthLimits,
    /// The process-wide `[safety]` caps every level obeys (the daemon's, or none for the CLI).
    pub safety: crate::engine::SafetyLimits,
}

/// The generator's own figures for a level's hold period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Arrivals due in the hold period (this shard's share).
    pub intended: u64,
    /// Arrivals not sent because `max_in_flight` requests were outstanding.
    pub dropped: u64,
    pub drop_ratio: f64,
    /// Arrivals refused by `[safety]` caps: a limit set on purpose, so not the generator's.
    #[serde(default)]
    pub safety_dropped: u64,
    /// `safety_dropped` / `intended`: above `max_drop_ratio` the target never saw the level's
    /// rate, so the level is `safety_capped`, neither a pass nor the generator's limit.
    #[serde(default)]
    pub safety_drop_ratio: f64,
    /// The cap that refused most of them (`safety.max_rate` or `safety.max_in_flight`).
    #[serde(default)]
    pub safety_cap: Option<String>,
    /// Upper bound of the scheduler-lag bucket holding the 99th percentile, seconds.
    pub lag_p99: f64,
    /// Share of arrivals dispatched later than `max_lag`.
    pub lag_over_bound: f64,
    /// User + system CPU seconds of this process during the hold.
    pub cpu_seconds: f64,
    /// `cpu_seconds` / (hold × cores): 1.0 means every core was busy with loadtide.
    pub cpu_utilisation: f64,
    pub cores: usize,
    /// Why the generator was the limit (empty when it was not).
    pub reasons: Vec<String>,
}

/// What a level showed, as the JSON and the logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelVerdict {
    Pass,
    /// `broken` says which SLOs.
    Fail,
    GeneratorBound,
    /// A `[safety]` cap held back more than `max_drop_ratio` of the arrivals: the target was
    /// not tested at this rate.
    SafetyCapped,
}

impl LevelVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            LevelVerdict::Pass => "pass",
            LevelVerdict::Fail => "fail",
            LevelVerdict::GeneratorBound => "generator_bound",
            LevelVerdict::SafetyCapped => "safety_capped",
        }
    }

    /// Neither the generator nor a safety cap kept this level from testing the target.
    pub fn judged_the_target(self) -> bool {
        matches!(self, LevelVerdict::Pass | LevelVerdict::Fail)
    }
}

impl std::fmt::Display for LevelVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One level's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Intended arrivals per second (of the whole load, before any shard split).
    pub rate: f64,
    /// Responses completed per second during the hold.
    pub achieved_rps: f64,
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub latency: Latency,
    pub status_codes: std::collections::BTreeMap<String, u64>,
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    pub verdict: LevelVerdict,
    /// The SLOs that broke, in the order given.
    pub broken: Vec<String>,
    pub slos: Vec<ThresholdResult>,
    pub health: Health,
    /// The hold period's full summary (histograms included), for the findings.
    #[serde(skip)]
    pub summary: Option<Box<Summary>>,
}

/// Judges a level, blaming the target only on evidence that survives the generator's own
/// limits. CPU above the limit: the generator was the bottleneck, whatever else happened.
/// Scheduler lag above the bound: latency is measured from the intended start, so a late
/// dispatch adds up to the lag p99 to it; a latency SLO that would still break with that
/// much taken off (or an error-rate SLO) is the target's failure, one that would hold is the
/// generator's, and a level whose SLOs held anyway passed. Drops blame the generator only
/// when the SLOs held: with a slow target, in-flight requests pile up to `max_in_flight`
/// (Little's law) and the drops are the target's doing. Arrivals refused by a `[safety]` cap
/// beyond `max_drop_ratio` mean the target never saw the level's rate: unless an SLO broke
/// even so (the target fails below the rate, so above it too), the level is safety-capped,
/// which stops the search without blaming the generator or counting as a pass.
pub fn judge(
    health: &mut Health,
    results: &[ThresholdResult],
    slos: &[Threshold],
    limits: &HealthLimits,
) -> Verdict {
    let broken: Vec<String> = results
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.expr.clone())
        .collect();
    let lagging = health.lag_over_bound > 0.01;
    // The failures that hold even with the generator's lag taken off the latency.
    let target_broken: Vec<String> = results
        .iter()
        .zip(slos)
        .filter(|(r, t)| {
            !r.passed
                && match t.metric {
                    Metric::Latency(_) if lagging => !t.holds((r.value - health.lag_p99).max(0.0)),
                    _ => true,
                }
        })
        .map(|(r, _)| r.expr.clone())
        .collect();
    let mut reasons = Vec::new();
    if health.cpu_utilisation > limits.max_cpu {
        reasons.push(format!(
            "CPU {:.0}% of {} core(s) (limit {:.0}%)",
            health.cpu_utilisation * 100.0,
            health.cores,
            limits.max_cpu * 100.0
        ));
    }
    if lagging && target_broken.len() < broken.len() {
        reasons.push(format!(
            "scheduler lag p99 {} > {} ({:.1}% of arrivals late), enough to explain {}",
            crate::report::render::seconds(health.lag_p99),
            crate::report::render::seconds(limits.max_lag.as_secs_f64()),
            health.lag_over_bound * 100.0,
            broken
                .iter()
                .filter(|b| !target_broken.contains(b))
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if health.drop_ratio > limits.max_drop_ratio && broken.is_empty() {
        reasons.push(format!(
            "{} of {} arrivals dropped ({:.1}%) at max_in_flight while the SLOs held",
            health.dropped,
            health.intended,
            health.drop_ratio * 100.0
        ));
    }
    health.reasons = reasons;
    if !target_broken.is_empty() && health.cpu_utilisation <= limits.max_cpu {
        // Some SLO broke whatever the generator did.
        health.reasons.clear();
        Verdict::Fail(target_broken)
    } else if health.safety_drop_ratio > limits.max_drop_ratio {
        // A limit set on purpose held the load back: not the generator's limit, not a pass.
        health.reasons.clear();
        Verdict::SafetyCapped
    } else if !health.reasons.is_empty() {
        Verdict::GeneratorBound
    } else if broken.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(broken)
    }
}

/// `base` at a constant `rate`, running for `length`.
fn at_rate(base: &Profile, rate: f64, length: Duration) -> Profile {
    let max_in_flight = match &base.load {
        Load::Open { max_in_flight, .. } => *max_in_flight,
        _ => 1_000,
    };
    Profile {
        load: Load::Open {
            rate: Pattern::Constant { value: rate },
            max_in_flight,
        },
        duration: Some(length),
        requests: None,
        ..base.clone()
    }
}

/// Arrivals of `profile` refused so far by each `[safety]` cap: (max_rate, max_in_flight).
fn safety_drops(metrics: &Metrics, profile: &str) -> (u64, u64) {
    use crate::metrics::names::{DROP_SAFETY_MAX_IN_FLIGHT, DROP_SAFETY_MAX_RATE};
    let count = |reason| metrics.dropped.with_label_values(&[profile, reason]).get();
    (
        count(DROP_SAFETY_MAX_RATE),
        count(DROP_SAFETY_MAX_IN_FLIGHT),
    )
}

/// The cap that refused more arrivals between two snapshots of `safety_drops`, if any did.
fn safety_cap(before: (u64, u64), after: (u64, u64)) -> Option<String> {
    let rate = after.0.saturating_sub(before.0);
    let in_flight = after.1.saturating_sub(before.1);
    match (rate, in_flight) {
        (0, 0) => None,
        (r, f) if r >= f => Some("safety.max_rate".into()),
        _ => Some("safety.max_in_flight".into()),
    }
}

/// Runs `base` at `rate` for one level, recording into `metrics` under the profile's name.
pub async fn run_level(
    base: &Profile,
    rate: f64,
    slos: &[Threshold],
    settings: &LevelSettings,
    metrics: &Metrics,
    cancel: &CancellationToken,
) -> Level {
    let length = settings.stabilize + settings.hold;
    let profile = Arc::new(at_rate(base, rate, length));
    let endpoints: Vec<(String, String)> = profile
        .target
        .endpoints
        .iter()
        .map(|e| (e.name.clone(), e.method.to_string()))
        .collect();
    let stats = RunStats::new(&endpoints);
    let recorder = ProfileRecorder::new(metrics, &profile, Some(stats.clone()));
    let spec = RunSpec {
        shard: settings.shard,
        limits: settings.safety.clone(),
        ..RunSpec::once(Some(length))
    };
    let drain = profile.target.timeout + Duration::from_secs(1);
    let run = tokio::spawn(run_profile(
        profile.clone(),
        spec,
        recorder,
        cancel.clone(),
        drain,
    ));
    tokio::select! {
        _ = tokio::time::sleep(settings.stabilize) => {}
        _ = cancel.cancelled() => {}
    }
    // The hold starts: everything before is forgotten.
    stats.lock().expect("stats lock poisoned").reset();
    let lag0 = lag_buckets(metrics, &profile.name);
    let refused0 = safety_drops(metrics, &profile.name);
    let cpu0 = process_cpu_seconds();
    let t0 = tokio::time::Instant::now();
    tokio::select! {
        _ = tokio::time::sleep(settings.hold) => {}
        _ = cancel.cancelled() => {}
    }
    let held = t0.elapsed();
    let cpu1 = process_cpu_seconds();
    let lag1 = lag_buckets(metrics, &profile.name);
    let refused1 = safety_drops(metrics, &profile.name);
    let completed = stats.lock().expect("stats lock poisoned").progress().0;
    let (dropped_in_hold, safety_dropped) = {
        let s = stats.lock().expect("stats lock poisoned");
        (s.dropped.saturating_sub(s.dropped_safety), s.dropped_safety)
    };
    // The drain: requests sent in the hold finish (or time out) and count.
    let _ = run.await;
    let mut s = stats.lock().expect("stats lock poisoned");
    let mut summary = Summary::new(&profile.name, &mut s, held);
    drop(s);
    let passed = summary.check(slos);
    let _ = passed;
    let secs = held.as_secs_f64().max(1e-3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_seconds = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a).max(0.0),
        _ => 0.0,
    };
    let intended = (rate * settings.shard.share() * secs).round() as u64;
    let (lag_p99, lag_over_bound) =
        lag_between(&lag0, &lag1, settings.limits.max_lag.as_secs_f64());
    let share_of_intended = |n: u64| {
        if intended > 0 {
            n as f64 / intended as f64
        } else {
            0.0
        }
    };
    let mut health = Health {
        intended,
        dropped: dropped_in_hold,
        drop_ratio: share_of_intended(dropped_in_hold),
        safety_dropped,
        safety_drop_ratio: share_of_intended(safety_dropped),
        safety_cap: safety_cap(refused0, refused1)
            .or_else(|| (safety_dropped > 0).then(|| "safety caps".to_string())),
        lag_p99,
        lag_over_bound,
        cpu_seconds,
        cpu_utilisation: cpu_seconds / (secs * cores as f64),
        cores,
        reasons: Vec::new(),
    };
    let verdict = judge(&mut health, &summary.thresholds, slos, &settings.limits);
    let (verdict, broken) = match verdict {
        Verdict::Pass => (LevelVerdict::Pass, Vec::new()),
        Verdict::Fail(b) => (LevelVerdict::Fail, b),
        Verdict::GeneratorBound => (LevelVerdict::GeneratorBound, Vec::new()),
        Verdict::SafetyCapped => (LevelVerdict::SafetyCapped, Vec::new()),
    };
    Level {
        rate,
        achieved_rps: completed as f64 / secs / settings.shard.share(),
        requests: summary.requests,
        errors: summary.errors,
        error_rate: summary.error_rate,
        latency: summary.latency.clone(),
        status_codes: summary.status_codes.clone(),
        error_kinds: summary.error_kinds.clone(),
        verdict,
        broken,
        slos: std::mem::take(&mut summary.thresholds),
        health,
        summary: Some(Box::new(summary)),
    }
}

impl Level {
    /// The verdict as the search wants it.
    pub fn verdict(&self) -> Verdict {
        match self.verdict {
            LevelVerdict::Pass => Verdict::Pass,
            LevelVerdict::Fail => Verdict::Fail(self.broken.clone()),
            LevelVerdict::SafetyCapped => Verdict::SafetyCapped,
            LevelVerdict::GeneratorBound => Verdict::GeneratorBound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A threshold and its result at `value`.
    fn slo(expr: &str, value: f64) -> (Threshold, ThresholdResult) {
        let t: Threshold = expr.parse().expect("valid");
        let passed = t.holds(value);
        let r = ThresholdResult {
            expr: expr.into(),
            value,
            passed,
            windows: None,
        };
        (t, r)
    }

    fn run_judge(h: &mut Health, slos: &[(Threshold, ThresholdResult)]) -> Verdict {
        let (ts, rs): (Vec<_>, Vec<_>) = slos.iter().cloned().unzip();
        judge(h, &rs, &ts, &HealthLimits::default())
    }

    fn healthy() -> Health {
        Health {
            intended: 1000,
            cores: 2,
            ..Health::default()
        }
    }

    #[test]
    fn drops_blame_the_generator_only_while_the_slos_hold() {
        let mut h = Health {
            dropped: 300,
            drop_ratio: 0.3,
            ..healthy()
        };
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.1)]),
            Verdict::GeneratorBound
        );
        assert!(
            h.reasons[0].contains("300 of 1000 arrivals dropped"),
            "{:?}",
            h.reasons
        );
        // A slow target fills max_in_flight: the SLO failure is the verdict.
        let mut h = Health {
            dropped: 300,
            drop_ratio: 0.3,
            ..healthy()
        };
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.9)]),
            Verdict::Fail(vec!["p99<500ms".into()])
        );
    }

    #[test]
    fn safety_drops_past_the_limit_cap_the_level_instead_of_passing_it() {
        // safety.max_in_flight held back 43% while the SLOs held on what got through.
        let capped = || Health {
            safety_dropped: 430,
            safety_drop_ratio: 0.43,
            safety_cap: Some("safety.max_in_flight".into()),
            ..healthy()
        };
        let mut h = capped();
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.1)]),
            Verdict::SafetyCapped
        );
        assert!(h.reasons.is_empty(), "not the generator's: {:?}", h.reasons);
        // …even with the generator busy too: the cap is what held the load back.
        let mut h = Health {
            cpu_utilisation: 0.97,
            ..capped()
        };
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.1)]),
            Verdict::SafetyCapped
        );
        assert!(h.reasons.is_empty(), "{:?}", h.reasons);
        // An SLO that broke on the reduced load breaks above it too: a failure.
        let mut h = capped();
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.9)]),
            Verdict::Fail(vec!["p99<500ms".into()])
        );
        // Within the drop limit the cap is noise: a pass.
        let mut h = Health {
            safety_dropped: 10,
            safety_drop_ratio: 0.01,
            ..healthy()
        };
        assert_eq!(run_judge(&mut h, &[slo("p99<500ms", 0.1)]), Verdict::Pass);
    }

    #[test]
    fn the_cap_named_is_the_one_that_refused_most() {
        assert_eq!(safety_cap((5, 5), (5, 5)), None);
        assert_eq!(
            safety_cap((0, 3), (2, 90)).as_deref(),
            Some("safety.max_in_flight")
        );
        assert_eq!(
            safety_cap((0, 0), (40, 1)).as_deref(),
            Some("safety.max_rate")
        );
    }

    #[test]
    fn lag_is_blamed_only_for_what_it_can_explain() {
        let lagging = || Health {
            lag_p99: 0.05,
            lag_over_bound: 0.04,
            ..healthy()
        };
        // p99 520 ms against 500 ms: 50 ms of lag explains it.
        let mut h = lagging();
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.52)]),
            Verdict::GeneratorBound
        );
        assert!(
            h.reasons[0].starts_with("scheduler lag p99 50.00ms > 10.00ms (4.0% of arrivals late), enough to explain p99<500ms"),
            "{:?}",
            h.reasons
        );
        // p99 900 ms: broken whatever the lag; errors are never the lag's doing.
        let mut h = lagging();
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.9), slo("error_rate<1%", 0.02)]),
            Verdict::Fail(vec!["p99<500ms".into(), "error_rate<1%".into()])
        );
        assert!(h.reasons.is_empty());
        // The SLOs held despite the lag: a pass.
        let mut h = lagging();
        assert_eq!(run_judge(&mut h, &[slo("p99<500ms", 0.2)]), Verdict::Pass);
    }

    #[test]
    fn a_saturated_cpu_is_the_generator_whatever_the_slos() {
        let mut h = Health {
            cpu_utilisation: 0.97,
            ..healthy()
        };
        assert_eq!(
            run_judge(&mut h, &[slo("p99<500ms", 0.9)]),
            Verdict::GeneratorBound
        );
        assert!(h.reasons[0].starts_with("CPU 97% of 2 core(s)"));
        let mut h = healthy();
        assert_eq!(run_judge(&mut h, &[slo("p99<1s", 0.1)]), Verdict::Pass);
        assert!(h.reasons.is_empty());
    }

    #[test]
    fn lag_figures_come_from_the_difference_of_two_snapshots() {
        let before = (vec![(0.001, 10), (0.01, 10), (0.1, 10)], 10);
        // 100 new: 90 under 1 ms, 5 under 10 ms, 5 under 100 ms.
        let after = (vec![(0.001, 100), (0.01, 105), (0.1, 110)], 110);
        let (p99, over) = lag_between(&before, &after, 0.01);
        assert_eq!(p99, 0.1);
        assert!((over - 0.05).abs() < 1e-12);
        let (p99, over) = lag_between(&before, &before, 0.01);
        assert_eq!((p99, over), (0.0, 0.0));
    }

    #[test]
    fn cpu_time_is_read_and_grows() {
        let a = process_cpu_seconds().expect("getrusage works");
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = process_cpu_seconds().expect("getrusage works");
        assert!(b >= a && a > 0.0, "{a} {b}");
    }
}
