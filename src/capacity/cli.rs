//! `loadtide capacity`: the command-line face of the search. Builds the profile the same way
//! `run` does (ad hoc from --url, or a profile of a config), runs the search, prints each level
//! as it ends and the table at the end, writes --json and --report, picks the exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::render;
use super::search::{self, Growth, Params};
use super::{HealthLimits, LevelSettings, Settings};
use crate::cli::{RunArgs, EXIT_RUNTIME, EXIT_USAGE};
use crate::config::{ConfigErrors, Threshold};
use crate::engine::Shard;

#[derive(Args, Debug, Default)]
pub struct CapacityArgs {
    /// Config file to take the profile from (with --profile).
    #[arg(long, env = "LOADTIDE_CONFIG", requires = "profile")]
    pub config: Option<PathBuf>,
    /// The profile of --config whose target and endpoints are searched.
    #[arg(long, short, requires = "config")]
    pub profile: Option<String>,
    /// Target URL for an ad hoc search.
    #[arg(long, short, conflicts_with = "config")]
    pub url: Option<String>,
    /// HTTP method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,
    /// Request header "Name: value" (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, short = 'b', conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
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
    /// Service level objective each level must meet, threshold syntax: 'p99<500ms',
    /// 'error_rate<1%' (repeatable; default: the profile's thresholds).
    #[arg(long = "slo", short = 's', value_name = "EXPR")]
    pub slos: Vec<String>,
    /// First level's arrival rate (requests per second).
    #[arg(long, default_value_t = 10.0)]
    pub start_rate: f64,
    /// Multiply the rate by this after each passing level.
    #[arg(long, conflicts_with = "step")]
    pub factor: Option<f64>,
    /// Add this many requests per second after each passing level instead.
    #[arg(long)]
    pub step: Option<f64>,
    /// How long each level is measured.
    #[arg(long, default_value = "10s")]
    pub hold: String,
    /// Warm-up at each level's rate before its hold, left out of its figures.
    #[arg(long, default_value = "2s")]
    pub stabilize: String,
    /// Never offer more than this (requests per second).
    #[arg(long, default_value_t = 100_000.0)]
    pub max_rate: f64,
    /// Bisection stops when the failing rate is within this of the passing one (5% or 0.05).
    #[arg(long, default_value = "5%")]
    pub precision: String,
    /// At most this many levels, whatever else happens.
    #[arg(long, default_value_t = search::DEFAULT_MAX_LEVELS)]
    pub max_levels: usize,
    /// Generator health: a level whose scheduler lag p99 is above this is generator-bound.
    #[arg(long, default_value = "10ms")]
    pub max_lag: String,
    /// The knee is the first level whose p50 exceeds this many times the lowest level's.
    #[arg(long, default_value_t = super::KNEE_FACTOR)]
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

/// `"5%"` or `"0.05"`.
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|v| v / 100.0),
        None => s.parse().ok(),
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

fn settings(
    args: &CapacityArgs,
    profile_thresholds: &[Threshold],
) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut slos = Vec::new();
    for s in &args.slos {
        match s.parse::<Threshold>() {
            Ok(t) if t.baseline_factor.is_some() => errors.push(usage(
                "--slo",
                format!("{s:?}: a capacity SLO cannot refer to a baseline"),
            )),
            Ok(t) => slos.push(t),
            Err(e) => errors.push(usage("--slo", e)),
        }
    }
    if args.slos.is_empty() {
        slos = profile_thresholds.to_vec();
    }
    if slos.is_empty() && errors.is_empty() {
        errors.push(usage(
            "--slo",
            "give at least one SLO, e.g. --slo 'p99<500ms' --slo 'error_rate<1%'",
        ));
    }
    let precision = parse_fraction(&args.precision).unwrap_or(f64::NAN);
    let params = Params {
        start_rate: args.start_rate,
        growth: match (args.factor, args.step) {
            (_, Some(s)) => Growth::Step(s),
            (f, None) => Growth::Factor(f.unwrap_or(search::DEFAULT_FACTOR)),
        },
        max_rate: args.max_rate,
        precision,
        max_levels: args.max_levels,
    };
    for (field, m) in params.check() {
        errors.push(usage(&format!("--{}", field.replace('_', "-")), m));
    }
    let hold = duration("--hold", &args.hold, false);
    let stabilize = duration("--stabilize", &args.stabilize, true);
    let max_lag = duration("--max-lag", &args.max_lag, false);
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

/// Runs the command; returns the exit code.
pub async fn command(args: CapacityArgs) -> u8 {
    let run_args = RunArgs {
        config: args.config.clone(),
        profile: args.profile.clone(),
        url: args.url.clone(),
        method: args.method.clone(),
        headers: args.headers.clone(),
        body: args.body.clone(),
        body_file: args.body_file.clone(),
        rate: Some(args.start_rate.max(f64::MIN_POSITIVE)),
        duration: Some("1s".into()),
        timeout: args.timeout.clone(),
        max_in_flight: args.max_in_flight,
        http2: args.http2,
        insecure: args.insecure,
        quiet: true,
        ..RunArgs::default()
    };
    // A capacity profile's own table gives the SLOs and defaults the flags override.
    let spec = match (&args.config, &args.profile) {
        (Some(path), Some(name)) => crate::config::load(path)
            .ok()
            .and_then(|c| c.profile(name).and_then(|p| p.capacity.clone())),
        _ => None,
    };
    let built = crate::cli::build_profile(&run_args).and_then(|(p, demo, safety)| {
        let slos = spec.as_ref().map_or(&p.thresholds, |s| &s.slos);
        settings(&args, slos).map(|s| {
            // The config's [safety] caps hold for every level, as in `run`.
            s.level.safety.apply(&safety, s.level.shard);
            (p, demo, s)
        })
    });
    let (profile, demo, settings) = match built {
        Ok(b) => b,
        Err(e) => {
            crate::cli::print_config_errors(&e);
            return EXIT_USAGE;
        }
    };
    if profile.scenario.is_some() || profile.target.websocket.is_some() {
        crate::cli::print_config_errors(&usage(
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
    let report = super::run(profile, &settings, &metrics, cancel, |l| {
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
            slos: vec!["p99<500ms".into(), "bogus".into()],
            start_rate: 0.0,
            factor: Some(1.0),
            max_rate: 100.0,
            precision: "5%".into(),
            max_levels: 10,
            hold: "0s".into(),
            stabilize: "1s".into(),
            max_lag: "10ms".into(),
            knee_factor: 2.0,
            ..CapacityArgs::default()
        };
        let e = settings(&args, &[]).expect_err("bad").to_string();
        assert!(e.contains("`--slo`: invalid threshold \"bogus\""), "{e}");
        assert!(e.contains("`--start-rate`: invalid start_rate 0"), "{e}");
        assert!(e.contains("`--factor`: invalid factor 1"), "{e}");
        assert!(e.contains("`--hold`: invalid duration \"0s\""), "{e}");
    }
}
