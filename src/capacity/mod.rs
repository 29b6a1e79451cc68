//! `loadtide capacity` and capacity profiles of the daemon: the highest open-model rate a
//! target sustains within its SLOs. `search` is the pure step/bisect controller, `level`
//! runs one load level and measures the generator's own health beside the target, `render`
//! prints the table, JSON and a self-contained HTML report. The search never blames the
//! target for the generator's limits: a generator-bound level stops it and says so.

pub mod cli;
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
use crate::report::findings::{self, Finding, LevelPoint};

pub use level::{HealthLimits, Level, LevelSettings};
pub use search::{Growth, Next, Outcome, Params, Search, Verdict};

/// Default knee: the median latency at least doubled over the lowest level's…
pub const KNEE_FACTOR: f64 = 2.0;
/// …by at least a millisecond.
pub const KNEE_MIN_RISE: f64 = 0.001;

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
    /// `found`, `above_max_rate`, `safety_limit`, `fails_at_start`, `generator_bound`,
    /// `level_limit`, `cancelled`.
    pub outcome: String,
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
    /// 0 found (or at least max_rate or safety.max_rate), 1 the SLOs fail at the start rate
    /// or the search was cancelled, 3 the generator was the limit before any answer.
    pub fn exit_code(&self) -> u8 {
        match self.outcome.as_str() {
            "fails_at_start" | "cancelled" => 1,
            "generator_bound" => 3,
            "level_limit" if self.capacity_rps == 0.0 => 1,
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
        .map(|r| ((r / settings.level.shard.share()) * 10.0 + 1e-6).floor() / 10.0);
    let mut settings = settings.clone();
    let capped = safety_max_rate.filter(|c| *c < settings.params.max_rate);
    if let Some(c) = capped {
        settings.params.max_rate = c;
        settings.params.start_rate = settings.params.start_rate.min(c);
    }
    let settings = &settings;
    let mut search = Search::new(settings.params);
    let mut levels: Vec<Level> = Vec::new();
    while let Next::Run(rate) = search.next().clone() {
        if cancel.is_cancelled() {
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
    let best = |verdict: &str, pick: fn(f64, f64) -> f64| {
        levels
            .iter()
            .filter(|l| l.verdict == verdict)
            .map(|l| l.rate)
            .reduce(pick)
    };
    let outcome = match search.next() {
        Next::Done(Outcome::AboveMax { rate }) if capped.is_some() => {
            Outcome::SafetyLimit { rate: *rate }
        }
        Next::Done(o) => o.clone(),
        Next::Run(_) => Outcome::Cancelled {
            passing: best("pass", f64::max),
            failing: best("fail", f64::min),
        },
    };
    let mut report = report(&profile.name, started_at, settings, levels, &outcome);
    report.settings.safety_max_rate = safety_max_rate;
    report
}

/// Assembles the report from the levels run and the search's outcome.
pub fn report(
    profile: &str,
    started_at: Option<f64>,
    settings: &Settings,
    levels: Vec<Level>,
    outcome: &Outcome,
) -> CapacityReport {
    let judged: Vec<(f64, f64)> = levels
        .iter()
        .filter(|l| l.verdict != "generator_bound" && l.requests > 0)
        .map(|l| (l.rate, l.latency.p50))
        .collect();
    let knee = search::knee(&judged, settings.knee_factor, KNEE_MIN_RISE).map(|i| {
        let base = judged
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(0.0, |l| l.1);
        Knee {
            rate: judged[i].0,
            p50: judged[i].1,
            base_p50: base,
            factor: settings.knee_factor,
        }
    });
    let first_fail = levels
        .iter()
        .filter(|l| l.verdict == "fail")
        .min_by(|a, b| a.rate.total_cmp(&b.rate));
    let generator_limit = levels
        .iter()
        .find(|l| l.verdict == "generator_bound")
        .map(|l| GeneratorLimit {
            rate: l.rate,
            reasons: l.health.reasons.clone(),
            advice: findings::SCALE_OUT.to_string(),
        });
    let points: Vec<LevelPoint> = levels.iter().map(point).collect();
    // The distribution and error rules look at the busiest level the generator produced.
    let busiest = levels
        .iter()
        .filter(|l| l.verdict != "generator_bound")
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .and_then(|l| l.summary.as_deref());
    let found = findings::for_levels(&points, busiest);
    let capacity = outcome.capacity();
    let message = match outcome {
        Outcome::Found { rate, failing, broken } => format!(
            "capacity {rate:.1} req/s: every SLO held there; at {failing:.1} req/s {} broke",
            broken.join(", ")
        ),
        Outcome::AboveMax { rate } => format!(
            "capacity at least {rate:.1} req/s: every SLO held at --max-rate; raise it to search further"
        ),
        Outcome::FailsAtStart { rate, broken } => format!(
            "the SLOs already fail at the start rate {rate:.1} req/s ({} broke): lower --start-rate",
            broken.join(", ")
        ),
        Outcome::GeneratorBound { at, passing } => format!(
            "the generator, not the target, was the limit at {at:.1} req/s ({}); the target met the SLOs up to {} — {}",
            generator_limit
                .as_ref()
                .map(|g| g.reasons.join("; "))
                .unwrap_or_default(),
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            findings::SCALE_OUT
        ),
        Outcome::LevelLimit { passing, failing } => format!(
            "stopped after the level limit: SLOs held up to {}, broke at {}",
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            failing.map_or("no level".into(), |f| format!("{f:.1} req/s"))
        ),
        Outcome::SafetyLimit { rate } => format!(
            "capacity is at least {rate:.1} req/s: every SLO held there; safety.max_rate stopped the search"
        ),
        Outcome::Cancelled { passing, failing } => format!(
            "search cancelled before an answer (the level in progress was dropped): SLOs held up to {}, broke at {}",
            passing.map_or("no level".into(), |p| format!("{p:.1} req/s")),
            failing.map_or("no level".into(), |f| format!("{f:.1} req/s"))
        ),
    };
    let p = &settings.params;
    CapacityReport {
        profile: profile.to_string(),
        started_at,
        outcome: outcome.kind().into(),
        capacity_rps: capacity,
        first_failing_rps: first_fail.map(|l| l.rate),
        broken_slo: first_fail.and_then(|l| l.broken.first().cloned()),
        broken_slos: first_fail.map(|l| l.broken.clone()).unwrap_or_default(),
        knee,
        generator_limit,
        slos: settings.slos.iter().map(|t| t.expr.clone()).collect(),
        settings: SettingsSummary {
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
        },
        levels,
        findings: found,
        message,
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
