//! `loadtide capacity`: the command-line face of the search (`crate::capacity`). Builds the profile the same way
//! `run` does (ad hoc from --url, or a profile of a config), runs the search, prints each level
//! as it ends and the table at the end, writes --json and --report, picks the exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::target::TargetArgs;
use super::{RunArgs, EXIT_RUNTIME, EXIT_USAGE};
use crate::capacity::{render, LevelSettings, Settings, KNEE_FACTOR};
use crate::config::capacity::{
    self as defaults, parse_fraction, safety_ceiling, unsupported_slo, CapacitySpec, Growth,
    Params, MIN_LEVEL_RATE,
};
use crate::config::{ConfigErrors, Threshold};
use crate::engine::Shard;
use crate::metrics::health::HealthLimits;

#[derive(Args, Debug, Default)]
#[command(allow_negative_numbers = true)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Per-request timeout (default 10s).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Most requests outstanding at once; beyond it arrivals are dropped (and the generator,
    /// not the target, is the limit).
    #[arg(long)]
    pub max_in_flight: Option<u64>,
    /// Use HTTP/2.
    #[arg(long)]
    pub http2: bool,
    /// Accept any TLS certificate.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Ad hoc searches: refuse a --url whose host is not one of these (as `run --allow-host`;
    /// repeatable).
    #[arg(long = "allow-host", value_name = "HOST", conflicts_with = "config")]
    pub allow_hosts: Vec<String>,
    /// Service level objective each level must meet, threshold syntax: 'p99<500ms',
    /// 'error_rate<1%' (repeatable; default: the profile's thresholds).
    #[arg(long = "slo", short = 's', value_name = "EXPR")]
    pub slos: Vec<String>,
    // The search's settings below default to a capacity profile's table (with --profile),
    // then to the values given in the help.
    /// First level's arrival rate (requests per second; default 10).
    #[arg(long)]
    pub start_rate: Option<f64>,
    /// Multiply the rate by this after each passing level.
    #[arg(long, conflicts_with = "step")]
    pub factor: Option<f64>,
    /// Add this many requests per second after each passing level instead.
    #[arg(long)]
    pub step: Option<f64>,
    /// How long each level is measured (default 30s).
    #[arg(long)]
    pub hold: Option<String>,
    /// Warm-up at each level's rate before its hold, left out of its figures (default 5s).
    #[arg(long)]
    pub stabilize: Option<String>,
    /// Never offer more than this (requests per second; default 100000; never above the
    /// config's safety.max_rate).
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// Bisection stops when the failing rate is within this of the passing one (5% or 0.05;
    /// default 5%).
    #[arg(long)]
    pub precision: Option<String>,
    /// At most this many levels, whatever else happens (default 30).
    #[arg(long)]
    pub max_levels: Option<usize>,
    /// Generator health: a level whose scheduler lag p99 is above this is generator-bound
    /// (default 10ms).
    #[arg(long)]
    pub max_lag: Option<String>,
    /// The knee is the first level whose p50 exceeds this many times the lowest level's.
    #[arg(long, default_value_t = KNEE_FACTOR)]
    pub knee_factor: f64,
    /// Generate shard INDEX of COUNT of each level's load (run the same search on COUNT machines).
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<Shard>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (.html).
    #[arg(long = "report", value_name = "PATH.html", value_parser = parse_html_path)]
    pub report: Option<PathBuf>,
    /// No per-level lines while the search runs.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_html_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => Ok(p),
        _ => Err(format!(
            "the capacity report is HTML: give a .html file name, not {s:?}"
        )),
    }
}

fn usage(key: &str, message: impl Into<String>) -> ConfigErrors {
    ConfigErrors::one("command line", key, message)
}

fn duration(key: &str, s: &str, zero_ok: bool) -> Result<Duration, ConfigErrors> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if zero_ok || !d.is_zero() => Ok(d),
        _ => Err(usage(
            key,
            format!("invalid duration {s:?} (e.g. \"10s\", \"500ms\")"),
        )),
    }
}

/// The search's settings: each flag, else the capacity profile's table (`spec`), else the
/// built-in default; SLOs from --slo, else the table's, else the profile's thresholds.
fn settings(
    args: &CapacityArgs,
    profile_thresholds: &[Threshold],
    spec: Option<&CapacitySpec>,
) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut slos = Vec::new();
    for s in &args.slos {
        match s.parse::<Threshold>() {
            Ok(t) => match unsupported_slo(&t) {
                Some(m) => errors.push(usage("--slo", m)),
                None => slos.push(t),
            },
            Err(e) => errors.push(usage("--slo", e)),
        }
    }
    if args.slos.is_empty() {
        slos = spec.map_or(profile_thresholds, |s| &s.slos).to_vec();
        // Thresholds written for `run` may use windows or a baseline, which a level cannot.
        for t in &slos {
            if let Some(m) = unsupported_slo(t) {
                errors.push(usage(
                    "--slo",
                    format!("the profile's threshold {m}; give the SLOs with --slo"),
                ));
            }
        }
    }
    if slos.is_empty() && errors.is_empty() {
        errors.push(usage(
            "--slo",
            "give at least one SLO, e.g. --slo 'p99<500ms' --slo 'error_rate<1%'",
        ));
    }
    let table = spec.map(|s| s.params);
    let precision = match &args.precision {
        Some(p) => parse_fraction(p).unwrap_or(f64::NAN),
        None => table.map_or(defaults::DEFAULT_PRECISION, |t| t.precision),
    };
    let params = Params {
        start_rate: args
            .start_rate
            .or(table.map(|t| t.start_rate))
            .unwrap_or(defaults::DEFAULT_START_RATE),
        growth: match (args.factor, args.step) {
            (_, Some(s)) => Growth::Step(s),
            (Some(f), None) => Growth::Factor(f),
            (None, None) => table.map_or(Growth::Factor(defaults::DEFAULT_FACTOR), |t| t.growth),
        },
        max_rate: args
            .max_rate
            .or(table.map(|t| t.max_rate))
            .unwrap_or(defaults::DEFAULT_MAX_RATE),
        precision,
        max_levels: args
            .max_levels
            .or(table.map(|t| t.max_levels))
            .unwrap_or(defaults::DEFAULT_MAX_LEVELS),
    };
    for (field, m) in params.check() {
        errors.push(usage(&format!("--{}", field.replace('_', "-")), m));
    }
    let flag_or =
        |key: &str, flag: &Option<String>, table: Option<Duration>, default, zero_ok| match flag {
            Some(v) => duration(key, v, zero_ok),
            None => Ok(table.unwrap_or(default)),
        };
    let hold = flag_or(
        "--hold",
        &args.hold,
        spec.map(|s| s.hold),
        defaults::DEFAULT_HOLD,
        false,
    );
    let stabilize = flag_or(
        "--stabilize",
        &args.stabilize,
        spec.map(|s| s.stabilize),
        defaults::DEFAULT_STABILIZE,
        true,
    );
    let max_lag = flag_or(
        "--max-lag",
        &args.max_lag,
        spec.map(|s| s.max_lag),
        defaults::DEFAULT_MAX_LAG,
        false,
    );
    if !(args.knee_factor.is_finite() && args.knee_factor > 1.0) {
        errors.push(usage(
            "--knee-factor",
            format!("invalid knee factor {}: must be > 1", args.knee_factor),
        ));
    }
    let (hold, stabilize, max_lag) = match (hold, stabilize, max_lag) {
        (Ok(h), Ok(s), Ok(l)) if errors.is_empty() => (h, s, l),
        (h, s, l) => {
            for e in [h.err(), s.err(), l.err()].into_iter().flatten() {
                errors.push(e);
            }
            return Err(ConfigErrors(errors.into_iter().flat_map(|e| e.0).collect()));
        }
    };
    Ok(Settings {
        params,
        level: LevelSettings {
            stabilize,
            hold,
            shard: args.shard.unwrap_or(Shard::WHOLE),
            limits: HealthLimits {
                max_lag,
                ..HealthLimits::default()
            },
            safety: crate::engine::SafetyLimits::default(),
        },
        slos,
        knee_factor: args.knee_factor,
    })
}

/// The `capacity` table of --profile when it is a capacity profile, validated as `serve`
/// would (that profile alone, as `run --profile` does; `command` runs it as a plain profile).
fn capacity_spec(args: &CapacityArgs) -> Result<Option<Arc<CapacitySpec>>, ConfigErrors> {
    let (Some(path), Some(name)) = (&args.target.config, &args.target.profile) else {
        return Ok(None);
    };
    let (raw, sources) = crate::config::load_raw_env(path, args.target.env.as_deref())?;
    let kind = raw.profiles.get(name).and_then(|p| p.kind.as_deref());
    if kind != Some("capacity") {
        return Ok(None);
    }
    let raw = crate::config::raw::RawConfig {
        profiles: raw
            .profiles
            .into_iter()
            .filter(|(n, _)| n == name)
            .collect(),
        ..raw
    };
    let config = crate::config::validate(&raw, &path.display().to_string(), path.parent())
        .map_err(|e| sources.attribute(e))?;
    Ok(config.profile(name).and_then(|p| p.capacity.clone()))
}

/// Runs the command; returns the exit code.
pub async fn command(args: CapacityArgs) -> u8 {
    let run_args = RunArgs {
        target: args.target.clone(),
        // A placeholder making it an open-model profile (each level sets its own rate), low
        // enough for the load-time safety.max_rate check; the start rate is checked below.
        rate: Some(0.001),
        duration: Some("1s".into()),
        timeout: args.timeout.clone(),
        max_in_flight: args.max_in_flight,
        http2: args.http2,
        insecure: args.insecure,
        allow_hosts: args.allow_hosts.clone(),
        quiet: true,
        ..RunArgs::default()
    };
    // A capacity profile's own table gives the SLOs and the settings the flags override,
    // validated as `serve` would (its start rate against safety.max_rate included).
    let spec = match capacity_spec(&args) {
        Ok(spec) => spec,
        Err(e) => {
            super::print_config_errors(&e);
            return EXIT_USAGE;
        }
    };
    let built = super::build_profile(&run_args).and_then(|(p, demo, safety)| {
        let s = settings(&args, &p.thresholds, spec.as_deref())?;
        // The config's [safety] caps hold for every level, as in `run`; its max_rate is the
        // search's ceiling (see `capacity::run`), so the search must start below it.
        s.level.safety.apply(&safety, s.level.shard);
        let share = s.level.shard.share();
        match safety.max_rate {
            Some(cap) if s.params.start_rate > cap => Err(usage(
                "--start-rate",
                format!(
                    "start rate {} is above safety.max_rate {cap}: the search could not run",
                    s.params.start_rate
                ),
            )),
            // Levels run at multiples of 0.1 req/s, the ceiling rounded down to one.
            Some(cap) if safety_ceiling(cap, share) < MIN_LEVEL_RATE => Err(usage(
                "safety.max_rate",
                format!(
                    "safety.max_rate {cap} leaves the search a ceiling of {:.1} req/s, below the lowest level rate {} req/s: the search could not run",
                    safety_ceiling(cap, share),
                    MIN_LEVEL_RATE
                ),
            )),
            _ => Ok((p, demo, s)),
        }
    });
    let (profile, demo, settings) = match built {
        Ok(b) => b,
        Err(e) => {
            super::print_config_errors(&e);
            return EXIT_USAGE;
        }
    };
    if profile.scenario.is_some() || profile.target.websocket.is_some() {
        super::print_config_errors(&usage(
            "--profile",
            "capacity searches request endpoints; scenario and WebSocket profiles are not supported",
        ));
        return EXIT_USAGE;
    }
    match search_and_report(args, profile, demo, settings).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_RUNTIME
        }
    }
}

async fn search_and_report(
    args: CapacityArgs,
    profile: Arc<crate::config::Profile>,
    demo: Option<std::net::SocketAddr>,
    settings: Settings,
) -> anyhow::Result<u8> {
    let demo_cancel = CancellationToken::new();
    if let Some(addr) = demo {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot start the demo target on {addr}"))?;
        tokio::spawn(crate::demo::run(l, demo_cancel.clone()));
    }
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let quiet = args.quiet;
    if !quiet {
        eprintln!("{}", render::table_header());
    }
    let metrics = crate::metrics::Metrics::new();
    let report = crate::capacity::run(profile, &settings, &metrics, cancel, |l| {
        if !quiet {
            eprintln!("{}", render::table_row(l));
        }
    })
    .await;
    watcher.abort();
    demo_cancel.cancel();
    print!("{}", render::text(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, render::json(&report))
            .with_context(|| format!("cannot write the JSON result to {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        let command = crate::redact::command_line(std::env::args());
        std::fs::write(path, render::html(&report, &command))
            .with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_take_percent_or_ratio() {
        assert_eq!(parse_fraction("5%"), Some(0.05));
        assert_eq!(parse_fraction("0.1"), Some(0.1));
        assert_eq!(parse_fraction("x"), None);
    }

    #[test]
    fn bad_settings_are_all_reported() {
        let args = CapacityArgs {
            slos: vec!["p99<500ms".into(), "bogus".into(), "p99<1s over 1m".into()],
            start_rate: Some(0.0),
            factor: Some(1.0),
            max_rate: Some(100.0),
            hold: Some("0s".into()),
            knee_factor: 2.0,
            ..CapacityArgs::default()
        };
        let e = settings(&args, &[], None).expect_err("bad").to_string();
        assert!(
            e.contains("`--slo`: \"p99<1s over 1m\": a capacity SLO cannot use \"over\" windows"),
            "{e}"
        );
        assert!(e.contains("`--slo`: invalid threshold \"bogus\""), "{e}");
        assert!(e.contains("`--start-rate`: invalid start_rate 0"), "{e}");
        assert!(e.contains("`--factor`: invalid factor 1"), "{e}");
        assert!(e.contains("`--hold`: invalid duration \"0s\""), "{e}");
    }

    #[test]
    fn a_capacity_table_fills_in_the_flags_not_given() {
        let spec = CapacitySpec {
            slos: vec!["p99<1s".parse().expect("valid")],
            params: Params {
                start_rate: 7.0,
                growth: Growth::Step(3.0),
                max_rate: 70.0,
                precision: 0.2,
                max_levels: 4,
            },
            hold: Duration::from_secs(3),
            stabilize: Duration::from_secs(1),
            max_lag: Duration::from_millis(20),
        };
        let args = CapacityArgs {
            max_rate: Some(50.0),
            knee_factor: 2.0,
            ..CapacityArgs::default()
        };
        let s = settings(&args, &[], Some(&spec)).expect("valid");
        let want = Params {
            max_rate: 50.0,
            ..spec.params
        };
        assert_eq!(s.params, want);
        assert_eq!(s.slos, spec.slos);
        assert_eq!(
            (s.level.hold, s.level.stabilize, s.level.limits.max_lag),
            (spec.hold, spec.stabilize, spec.max_lag)
        );
        // Without a table: the built-in defaults.
        let s = settings(&args, &spec.slos, None).expect("valid");
        assert_eq!(s.params.start_rate, defaults::DEFAULT_START_RATE);
        assert_eq!(s.params.growth, Growth::Factor(defaults::DEFAULT_FACTOR));
        assert_eq!(
            (s.level.hold, s.level.stabilize),
            (defaults::DEFAULT_HOLD, defaults::DEFAULT_STABILIZE)
        );
    }
}
