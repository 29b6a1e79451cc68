//! `loadtide capacity` and capacity profiles of the daemon: the highest open-model rate a
//! target sustains within its SLOs. `search` is the pure step/bisect controller, `level`
//! runs one load level and measures the generator's own health beside the target, `render`
//! prints the table, JSON and a self-contained HTML report. The search never blames the
//! target for the generator's limits: a generator-bound level stops it and says so.

pub mod daemon;
pub mod level;
pub mod render;
pub mod search;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::{Profile, Threshold};
use crate::metrics::Metrics;
use crate::report::findings::{self, levels::LevelPoint, Finding};

pub use level::{Level, LevelSettings, LevelVerdict};
pub use search::{Growth, Next, OutcomeKind, Params, Search, SearchOutcome, Verdict};

/// Default knee: the median latency at least doubled over the lowest level's…
pub const KNEE_FACTOR: f64 = 2.0;
/// …by at least a millisecond.
pub const KNEE_MIN_RISE: f64 = 0.001;

pub use crate::config::capacity::{safety_ceiling, MIN_LEVEL_RATE};

/// Everything a search needs besides the profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub params: Params,
    pub level: LevelSettings,
    pub slos: Vec<Threshold>,
    pub knee_factor: f64,
}

impl Settings {
    /// The longest the search can take (every level at most, drains aside).
    pub fn max_length(&self) -> Duration {
        (self.level.stabilize + self.level.hold) * self.params.max_levels as u32
    }
}

/// Where latency started to climb.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    pub rate: f64,
    pub p50: f64,
    /// p50 of the lowest-rate level.
    pub base_p50: f64,
    pub factor: f64,
}

/// When the generator, not the target, was the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorLimit {
    pub rate: f64,
    pub reasons: Vec<String>,
    pub advice: String,
}

/// The whole result, as written by `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    pub profile: String,
    pub started_at: Option<f64>,
    pub outcome: OutcomeKind,
    /// The highest rate that met every SLO (requests per second; 0 when none did).
    pub capacity_rps: f64,
    /// The lowest rate at which an SLO broke, if any did.
    pub first_failing_rps: Option<f64>,
    /// The SLO that broke first (at `first_failing_rps`), and all that broke there.
    pub broken_slo: Option<String>,
    pub broken_slos: Vec<String>,
    pub knee: Option<Knee>,
    pub generator_limit: Option<GeneratorLimit>,
    pub slos: Vec<String>,
    pub settings: SettingsSummary,
    pub levels: Vec<Level>,
    pub findings: Vec<Finding>,
    /// One line saying what was found.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsSummary {
    pub start_rate: f64,
    pub factor: Option<f64>,
    pub step: Option<f64>,
    /// The ceiling searched: `--max-rate`, or `safety_max_rate` when that is lower.
    pub max_rate: f64,
    /// `[safety] max_rate` (of the whole load), when set.
    #[serde(default)]
    pub safety_max_rate: Option<f64>,
    pub precision: f64,
    pub hold_s: f64,
    pub stabilize_s: f64,
    pub max_lag_s: f64,
    #[serde(default = "default_knee_factor")]
    pub knee_factor: f64,
}

fn default_knee_factor() -> f64 {
    KNEE_FACTOR
}

impl CapacityReport {
    /// 0 found (or at least max_rate, or what passed below a `[safety]` cap), 1 the SLOs
    /// fail at the start rate, the search was cancelled, or stopped (level limit, safety cap)
    /// before any level passed, 3 the generator was the limit before any answer.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            OutcomeKind::FailsAtStart | OutcomeKind::Cancelled => 1,
            OutcomeKind::GeneratorBound => 3,
            OutcomeKind::LevelLimit | OutcomeKind::SafetyLimit if self.capacity_rps == 0.0 => 1,
            _ => 0,
        }
    }

    pub fn generator_bound(&self) -> bool {
        self.generator_limit.is_some()
    }
}

/// Runs the search for `profile` (its target and endpoints; its load is replaced level by
/// level), recording into `metrics`; `on_level` sees each level as it ends. Cancelling ends
/// it after the level in progress.
pub async fn run(
    profile: Arc<Profile>,
    settings: &Settings,
    metrics: &Metrics,
    cancel: CancellationToken,
    mut on_level: impl FnMut(&Level),
) -> CapacityReport {
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .ok();
    // `[safety] max_rate` caps every level (this shard's share of it): searching above it
    // would only measure the limiter's drops, so the cap is the search's ceiling.
    let safety_max_rate = settings
        .level
        .safety
        .max_rate()
        .map(|r| safety_ceiling(r, settings.level.shard.share()));
    let mut settings = settings.clone();
    let capped = safety_max_rate.filter(|c| *c < settings.params.max_rate);
    if let Some(c) = capped {
        settings.params.max_rate = c;
        settings.params.start_rate = settings.params.start_rate.min(c);
    }
    let settings = &settings;
    let mut search = Search::new(settings.params);
    let mut levels: Vec<Level> = Vec::new();
    // A cap below the lowest level rate leaves nothing to run (the CLI refuses it up front).
    let nothing_to_run = capped.is_some_and(|c| c < MIN_LEVEL_RATE);
    while let Next::Run(rate) = search.next().clone() {
        if cancel.is_cancelled() || nothing_to_run {
            break;
        }
        let level = level::run_level(
            &profile,
            rate,
            &settings.slos,
            &settings.level,
            metrics,
            &cancel,
        )
        .await;
        if cancel.is_cancelled() {
            // Cut short: its figures cover part of a hold, so it is not judged.
            break;
        }
        on_level(&level);
        search.record(level.verdict());
        levels.push(level);
    }
    let best = |verdict: LevelVerdict, pick: fn(f64, f64) -> f64| {
        levels
            .iter()
            .filter(|l| l.verdict == verdict)
            .map(|l| l.rate)
            .reduce(pick)
    };
    let outcome = match search.next() {
        _ if nothing_to_run => SearchOutcome::SafetyLimit {
            rate: 0.0,
            at: None,
        },
        Next::Done(SearchOutcome::AboveMax { rate }) if capped.is_some() => {
            SearchOutcome::SafetyLimit {
                rate: *rate,
                at: None,
            }
        }
        Next::Done(o) => o.clone(),
        Next::Run(_) => SearchOutcome::Cancelled {
            passing: best(LevelVerdict::Pass, f64::max),
            failing: best(LevelVerdict::Fail, f64::min),
        },
    };
    let mut report = report(&profile.name, started_at, settings, levels, &outcome);
    report.settings.safety_max_rate = safety_max_rate;
    if nothing_to_run {
        report.message = format!(
            "safety.max_rate leaves this search a ceiling of {:.1} req/s, below the lowest level rate {MIN_LEVEL_RATE} req/s: no level ran",
            safety_max_rate.unwrap_or_default()
        );
    }
    report
}

/// Assembles the report from the levels run and the search's outcome.
pub fn report(
    profile: &str,
    started_at: Option<f64>,
    settings: &Settings,
    levels: Vec<Level>,
    outcome: &SearchOutcome,
) -> CapacityReport {
    let knee = knee(&levels, settings.knee_factor);
    let first_fail = levels
        .iter()
        .filter(|l| l.verdict == LevelVerdict::Fail)
        .min_by(|a, b| a.rate.total_cmp(&b.rate));
    let generator_limit = levels
        .iter()
        .find(|l| l.verdict == LevelVerdict::GeneratorBound)
        .map(|l| GeneratorLimit {
            rate: l.rate,
            reasons: l.health.reasons.clone(),
            advice: findings::SCALE_OUT.to_string(),
        });
    let points: Vec<LevelPoint> = levels.iter().map(point).collect();
    // The distribution and error rules look at the busiest level the generator produced.
    let busiest = levels
        .iter()
        .filter(|l| l.verdict.judged_the_target())
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .and_then(|l| l.summary.as_deref());
    let found = findings::levels::for_levels(&points, busiest);
    let capacity = outcome.capacity();
    let message = message(outcome, &levels, generator_limit.as_ref());
    CapacityReport {
        profile: profile.to_string(),
        started_at,
        outcome: outcome.kind(),
        capacity_rps: capacity,
        first_failing_rps: first_fail.map(|l| l.rate),
        broken_slo: first_fail.and_then(|l| l.broken.first().cloned()),
        broken_slos: first_fail.map(|l| l.broken.clone()).unwrap_or_default(),
        knee,
        generator_limit,
        slos: settings.slos.iter().map(|t| t.expr.clone()).collect(),
        settings: SettingsSummary::of(settings),
        levels,
        findings: found,
        message,
    }
}

/// The knee among the levels that tested the target (see `search::knee`).
fn knee(levels: &[Level], factor: f64) -> Option<Knee> {
    let judged: Vec<(f64, f64)> = levels
        .iter()
        .filter(|l| l.verdict.judged_the_target() && l.requests > 0)
        .map(|l| (l.rate, l.latency.p50))
        .collect();
    search::knee(&judged, factor, KNEE_MIN_RISE).map(|i| {
        let base = judged
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(0.0, |l| l.1);
        Knee {
            rate: judged[i].0,
            p50: judged[i].1,
            base_p50: base,
            factor,
        }
    })
}

/// The one line saying what the search found.
fn message(
    outcome: &SearchOutcome,
    levels: &[Level],
    generator_limit: Option<&GeneratorLimit>,
) -> String {
    match outcome {
        SearchOutcome::Found { rate, failing, broken } => format!(
            "capacity {rate:.1} req/s: every SLO held there; at {failing:.1} req/s {} broke",
            broken.join(", ")
        ),
        SearchOutcome::AboveMax { rate } => format!(
            "capacity at least {rate:.1} req/s: every SLO held at the maximum rate; raise max_rate (--max-rate) to search further"
        ),
        SearchOutcome::FailsAtStart { rate, broken } => format!(
            "the SLOs already fail at the start rate {rate:.1} req/s ({} broke): lower start_rate (--start-rate)",
            broken.join(", ")
        ),
        SearchOutcome::GeneratorBound { at, passing } => format!(
            "the generator, not the target, was the limit at {at:.1} req/s ({}); the target met the SLOs up to {} — {}",
            generator_limit
                .map(|g| g.reasons.join("; "))
                .unwrap_or_default(),
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            findings::SCALE_OUT
        ),
        SearchOutcome::LevelLimit { passing, failing } => format!(
            "stopped after the level limit: SLOs held up to {}, broke at {}",
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            failing.map_or("no level".into(), |f| format!("{f:.1} req/s"))
        ),
        SearchOutcome::SafetyLimit { rate, at: None } => format!(
            "capacity is at least {rate:.1} req/s: every SLO held there; safety.max_rate stopped the search"
        ),
        SearchOutcome::SafetyLimit { rate, at: Some(at) } => {
            let held = levels.iter().find(|l| l.rate == *at).map(|l| &l.health);
            let cap = held
                .and_then(|h| h.safety_cap.clone())
                .unwrap_or_else(|| "the [safety] caps".into());
            let share = held.map_or(0.0, |h| h.safety_drop_ratio) * 100.0;
            let known = if *rate > 0.0 {
                format!("capacity is at least {rate:.1} req/s (every SLO held there)")
            } else {
                "no level tested the target at its rate: lower the start rate".into()
            };
            format!(
                "{cap} held back {share:.0}% of arrivals at {at:.1} req/s, so the target never saw that rate: {known}; raise {cap} to search further"
            )
        }
        SearchOutcome::Cancelled { passing, failing } => format!(
            "search cancelled before an answer (the level in progress was dropped): SLOs held up to {}, broke at {}",
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            failing.map_or("no level".into(), |f| format!("{f:.1} req/s"))
        ),
    }
}

impl SettingsSummary {
    fn of(settings: &Settings) -> SettingsSummary {
        let p = &settings.params;
        SettingsSummary {
            start_rate: p.start_rate,
            factor: match p.growth {
                Growth::Factor(f) => Some(f),
                Growth::Step(_) => None,
            },
            step: match p.growth {
                Growth::Step(s) => Some(s),
                Growth::Factor(_) => None,
            },
            max_rate: p.max_rate,
            safety_max_rate: None,
            precision: p.precision,
            hold_s: settings.level.hold.as_secs_f64(),
            stabilize_s: settings.level.stabilize.as_secs_f64(),
            max_lag_s: settings.level.limits.max_lag.as_secs_f64(),
            knee_factor: settings.knee_factor,
        }
    }
}

/// One line for `loadtide check`: what a capacity profile searches.
pub fn describe(c: &crate::config::capacity::CapacitySpec) -> String {
    let p = &c.params;
    let growth = match p.growth {
        Growth::Factor(f) => format!("×{f}"),
        Growth::Step(s) => format!("+{s} req/s"),
    };
    let slos: Vec<&str> = c.slos.iter().map(|t| t.expr.as_str()).collect();
    format!(
        "capacity search from {} req/s ({growth} per level, at most {} req/s, {} hold after {} warm-up, precision {}%), SLOs {}",
        p.start_rate,
        p.max_rate,
        humantime::format_duration(c.hold),
        humantime::format_duration(c.stabilize),
        p.precision * 100.0,
        slos.join(", ")
    )
}

fn point(l: &Level) -> LevelPoint {
    LevelPoint {
        rate: l.rate,
        achieved_rps: l.achieved_rps,
        p50: l.latency.p50,
        p95: l.latency.p95,
        requests: l.requests,
        connect_errors: l.error_kinds.get("connect").copied().unwrap_or(0),
        timeouts: l.error_kinds.get("timeout").copied().unwrap_or(0),
        generator_reasons: l.health.reasons.clone(),
        dropped: l.health.dropped,
        intended: l.health.intended,
        lag_p99: l.health.lag_p99,
        cpu_utilisation: l.health.cpu_utilisation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::health::HealthLimits;

    fn settings() -> Settings {
        Settings {
            params: Params {
                start_rate: 250.0,
                growth: Growth::Factor(2.0),
                max_rate: 10_000.0,
                precision: 0.05,
                max_levels: 10,
            },
            level: LevelSettings {
                stabilize: Duration::from_millis(300),
                hold: Duration::from_secs(1),
                shard: crate::engine::Shard::WHOLE,
                limits: HealthLimits::default(),
                safety: crate::engine::SafetyLimits::default(),
            },
            slos: vec!["p99<500ms".parse().expect("valid")],
            knee_factor: KNEE_FACTOR,
        }
    }

    fn level(rate: f64, verdict: LevelVerdict, safety_drop_ratio: f64) -> Level {
        Level {
            rate,
            achieved_rps: rate.min(500.0),
            requests: rate.min(500.0) as u64,
            errors: 0,
            error_rate: 0.0,
            latency: Default::default(),
            status_codes: Default::default(),
            error_kinds: Default::default(),
            verdict,
            broken: Vec::new(),
            slos: Vec::new(),
            health: level::Health {
                intended: rate as u64,
                safety_dropped: (rate * safety_drop_ratio) as u64,
                safety_drop_ratio,
                safety_cap: (safety_drop_ratio > 0.0).then(|| "safety.max_in_flight".into()),
                cores: 2,
                ..Default::default()
            },
            summary: None,
        }
    }

    /// Runs the pure search over levels whose verdicts are given by rate.
    fn search(verdict: impl Fn(f64) -> Level) -> CapacityReport {
        let s = settings();
        let mut search = Search::new(s.params);
        let mut levels = Vec::new();
        while let Next::Run(rate) = search.next().clone() {
            let l = verdict(rate);
            search.record(l.verdict());
            levels.push(l);
        }
        let Next::Done(outcome) = search.next().clone() else {
            unreachable!()
        };
        report("api", None, &s, levels, &outcome)
    }

    #[test]
    fn a_level_the_safety_caps_held_back_ends_the_search_below_it() {
        // max_in_flight lets ~500/s through: 1000/s loses 50% of its arrivals to the cap.
        let r = search(|rate| {
            if rate <= 500.0 {
                level(rate, LevelVerdict::Pass, 0.0)
            } else {
                level(rate, LevelVerdict::SafetyCapped, 1.0 - 500.0 / rate)
            }
        });
        assert_eq!(r.outcome, OutcomeKind::SafetyLimit);
        assert_eq!(r.capacity_rps, 500.0);
        assert_eq!(r.levels.len(), 3, "250, 500, then 1000 capped: no more");
        assert!(!r.generator_bound());
        assert_eq!(r.exit_code(), 0);
        assert_eq!(
            r.message,
            "safety.max_in_flight held back 50% of arrivals at 1000.0 req/s, so the target never saw that rate: capacity is at least 500.0 req/s (every SLO held there); raise safety.max_in_flight to search further"
        );
        assert!(!r
            .findings
            .iter()
            .any(|f| f.kind == findings::FindingKind::GeneratorBound));
        // Held back from the start: no answer.
        let r = search(|rate| level(rate, LevelVerdict::SafetyCapped, 0.3));
        assert_eq!((r.outcome, r.capacity_rps), (OutcomeKind::SafetyLimit, 0.0));
        assert_eq!(r.exit_code(), 1);
        assert!(
            r.message.contains("no level tested the target at its rate"),
            "{}",
            r.message
        );
    }

    #[test]
    fn the_safety_ceiling_rounds_down_to_the_level_step() {
        assert_eq!(safety_ceiling(40.0, 1.0), 40.0);
        assert_eq!(safety_ceiling(0.25, 1.0), 0.2);
        assert_eq!(safety_ceiling(0.05, 1.0), 0.0);
        assert!(safety_ceiling(0.05, 1.0) < MIN_LEVEL_RATE);
        assert_eq!(safety_ceiling(0.05, 0.5), 0.1);
    }
}
