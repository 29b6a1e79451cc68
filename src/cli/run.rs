//! `loadtide run`: builds the profile (ad hoc from `--url`, or a profile of a config with
//! flags over the file), runs one pass of it, prints the summary and writes the JSON,
//! HTML/Markdown and CSV outputs; the exit code says whether every threshold held.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::target::TargetArgs;
use super::{parse_start_at, EXIT_THRESHOLDS};
use crate::config::{self, ConfigErrors, RawConfig};
use crate::engine::Shard;
use crate::report::render;

#[derive(Args, Debug, Default)]
#[command(allow_negative_numbers = true)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Open model: arrivals per second, whatever the target's speed.
    #[arg(
        long,
        short = 'r',
        env = "LOADTIDE_RATE",
        conflicts_with = "concurrency"
    )]
    pub rate: Option<f64>,
    /// Closed model: concurrent connections, each sending as fast as the target answers.
    #[arg(long, short = 'c', env = "LOADTIDE_CONCURRENCY")]
    pub concurrency: Option<u64>,
    /// How long to run (e.g. 30s, 5m). Default 10s when neither this nor --requests is given.
    #[arg(long, short = 'd', env = "LOADTIDE_DURATION")]
    pub duration: Option<String>,
    /// Stop after this many requests.
    #[arg(long, short = 'n', env = "LOADTIDE_REQUESTS")]
    pub requests: Option<u64>,
    /// Leave this first part of the run (e.g. 30s) out of the summary and every threshold;
    /// the timeline still shows it.
    #[arg(long, env = "LOADTIDE_WARMUP")]
    pub warmup: Option<String>,
    /// Per-request timeout (default 10s).
    #[arg(long, env = "LOADTIDE_TIMEOUT")]
    pub timeout: Option<String>,
    /// Open model: most requests outstanding at once; further arrivals are dropped and counted.
    #[arg(long)]
    pub max_in_flight: Option<u64>,
    /// Ad hoc runs: refuse a --url whose host is not one of these (host name, "*.domain",
    /// IP address or CIDR; repeatable); with addresses or CIDRs, DNS answers are checked too.
    #[arg(long = "allow-host", value_name = "HOST", conflicts_with = "config")]
    pub allow_hosts: Vec<String>,
    /// Use HTTP/2 (ALPN over TLS, prior knowledge over plain HTTP).
    #[arg(long)]
    pub http2: bool,
    /// Accept any TLS certificate.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Pass/fail criterion, e.g. 'p95<300ms', 'error_rate<1%', 'rps>400' (repeatable).
    #[arg(long = "threshold", short = 't')]
    pub thresholds: Vec<String>,
    /// Closed model: users started (or retired) per second (default: all at once for --url,
    /// the profile's spawn_rate for --config).
    #[arg(long)]
    pub spawn_rate: Option<f64>,
    /// Run the pattern this many times faster (e.g. 60 rehearses a daily curve in 24 minutes).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Generate shard INDEX of COUNT of the load (0-based, e.g. "1/3"; "auto/3" takes INDEX
    /// from a StatefulSet pod name ending in -<ordinal>).
    #[arg(long, env = "LOADTIDE_SHARD", value_name = "INDEX/COUNT")]
    pub shard: Option<Shard>,
    /// Start at this instant (RFC 3339, e.g. 2026-11-22T10:00:00Z), so that shards on several
    /// machines run the same pattern in step; a late start joins the pattern where it is.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
    pub start_at: Option<SystemTime>,
    /// Write the summary as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write a report: self-contained HTML (.html) or Markdown (.md) (repeatable).
    #[arg(long = "report", value_name = "PATH", value_parser = parse_report_path)]
    pub reports: Vec<PathBuf>,
    /// Compare with an earlier JSON summary: deltas in every output, and thresholds such as
    /// 'p95<baseline*1.1'.
    #[arg(long, value_name = "PATH.json")]
    pub baseline: Option<PathBuf>,
    /// Write PREFIX_stats.csv and PREFIX_stats_history.csv (Locust's columns).
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<String>,
    /// No live progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

pub(super) fn parse_report_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm" | "md") => Ok(p),
        _ => Err(format!(
            "unknown report format for {s:?}: use a .html or .md file name"
        )),
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("invalid speed {s:?}: a factor > 0, e.g. 60")),
    }
}

enum RunError {
    Config(ConfigErrors),
    Runtime(anyhow::Error),
}

/// Maps config key paths of the ad hoc config back to the flags that set them.
fn flag_errors(e: ConfigErrors) -> ConfigErrors {
    const FLAGS: &[(&str, &str)] = &[
        ("targets.adhoc.url", "--url"),
        ("targets.adhoc.timeout", "--timeout"),
        ("targets.adhoc.endpoints[0].method", "--method"),
        ("targets.adhoc.endpoints[0].path", "--url"),
        ("targets.adhoc.endpoints[0].headers", "--header"),
        ("targets.adhoc.endpoints[0].body_file", "--body-file"),
        ("profiles.adhoc.rate", "--rate"),
        ("profiles.adhoc.users", "--concurrency"),
        ("profiles.adhoc.duration", "--duration"),
        ("profiles.adhoc.requests", "--requests"),
        ("profiles.adhoc.warmup", "--warmup"),
        ("profiles.adhoc.max_in_flight", "--max-in-flight"),
        ("profiles.adhoc.thresholds", "--threshold"),
        ("safety.allowed_hosts", "--allow-host"),
        ("profiles.adhoc", "flags"),
    ];
    ConfigErrors(
        e.0.into_iter()
            .map(|mut err| {
                if let Some((_, flag)) = FLAGS.iter().find(|(k, _)| err.key.starts_with(k)) {
                    err.key = flag.to_string();
                }
                err.file = "command line".into();
                err
            })
            .collect(),
    )
}

/// Builds the profile for `run`: from the config and profile named, or ad hoc from --url;
/// flags override what the config says.
pub(crate) fn build_profile(
    args: &RunArgs,
) -> Result<(Arc<config::Profile>, Option<SocketAddr>, config::Safety), ConfigErrors> {
    let usage = |m: &str| ConfigErrors::one("command line", "", m);
    let mut sources_for_errors = None;
    let (raw, file, dir) = match (&args.target.config, &args.target.url) {
        (Some(path), _) => (
            {
                let (raw, sources) = config::load_raw_env(path, args.target.env.as_deref())?;
                sources_for_errors = Some(sources);
                raw
            },
            path.display().to_string(),
            path.parent().map(Path::to_path_buf),
        ),
        (None, Some(url)) => (adhoc_raw(url, args)?, String::new(), None),
        (None, None) => {
            return Err(usage(
                "give --url URL for an ad hoc run, or --config FILE --profile NAME",
            ))
        }
    };
    let name = args
        .target
        .profile
        .clone()
        .unwrap_or_else(|| "adhoc".into());
    let mut raw = raw;
    let Some(p) = raw.profiles.get_mut(&name) else {
        let known: Vec<&str> = raw.profiles.keys().map(String::as_str).collect();
        let hint = crate::suggest::did_you_mean(&name, &known);
        return Err(ConfigErrors::one(
            &file,
            "",
            format!(
                "--profile: no profile {name:?}{hint} (known: {})",
                known.join(", ")
            ),
        ));
    };
    // Flags win over the file.
    override_from_flags(args, p);
    if args.target.url.is_none() {
        if let Some(t) = p.target.clone().and_then(|t| raw.targets.get_mut(&t)) {
            override_target_from_flags(args, t);
        }
    }
    let raw = RawConfig {
        profiles: raw
            .profiles
            .into_iter()
            .filter(|(n, _)| *n == name)
            .collect(),
        ..raw
    };
    let config =
        config::validate(&raw, &file, dir.as_deref()).map_err(|e| match &sources_for_errors {
            Some(sources) => sources.attribute(e),
            None => flag_errors(e),
        })?;
    let mut profile = config
        .profile(&name)
        .map(|p| (**p).clone())
        .ok_or_else(|| usage("profile vanished in validation"))?;
    match args.spawn_rate {
        Some(r) if !(r.is_finite() && r > 0.0) => {
            return Err(ConfigErrors::one(
                "command line",
                "--spawn-rate",
                format!("invalid spawn rate {r}: must be > 0 users per second"),
            ))
        }
        Some(r) => profile.spawn_rate = Some(r),
        // Ad hoc runs are benchmarks: every connection at once, as wrk and oha do.
        None if args.target.url.is_some() => profile.spawn_rate = None,
        None => {}
    }
    let ends = profile.duration.is_some()
        || profile.requests.is_some()
        || profile.load.pattern().length().is_some();
    if !ends {
        return Err(ConfigErrors::one(
            &file,
            &format!("profiles.{name}"),
            "never ends: its pattern has no length; give --duration or --requests",
        ));
    }
    let length = crate::oneshot::one_pass(&profile, Shard::WHOLE, args.speed).length;
    if let Some(length) = length.filter(|l| profile.warmup >= *l) {
        // Blame the flag only when it set the warmup; else the file's key.
        let (source, key) = match &args.warmup {
            Some(_) => ("command line".to_string(), "--warmup".to_string()),
            None => (file.clone(), format!("profiles.{name}.warmup")),
        };
        return Err(ConfigErrors::one(
            &source,
            &key,
            format!(
                "warmup {} is not shorter than the run ({}): nothing would be measured",
                humantime::format_duration(profile.warmup),
                humantime::format_duration(length)
            ),
        ));
    }
    Ok((Arc::new(profile), config.demo_target, config.safety))
}

/// `--rate`, `--concurrency`, `--duration`/`--requests`, `--max-in-flight`, `--warmup` and
/// `--threshold` over the profile of the file.
fn override_from_flags(args: &RunArgs, p: &mut config::raw::RawProfile) {
    if let Some(r) = args.rate {
        p.rate = Some(config::raw::RawPattern::Value(r));
        p.users = None;
        // A capacity profile run at a fixed rate is a plain load profile.
        p.kind = None;
        p.capacity = None;
    }
    if let Some(c) = args.concurrency {
        p.users = Some(config::raw::RawPattern::Value(c as f64));
        p.rate = None;
        p.max_in_flight = None;
    }
    if args.duration.is_some() || args.requests.is_some() {
        p.duration = args.duration.clone();
        p.requests = args.requests;
    }
    if args.max_in_flight.is_some() {
        p.max_in_flight = args.max_in_flight;
    }
    if args.warmup.is_some() {
        p.warmup = args.warmup.clone();
    }
    p.thresholds.extend(args.thresholds.iter().cloned());
}

/// `--timeout`, `--http2` and `--insecure` over the profile's target in the file.
fn override_target_from_flags(args: &RunArgs, t: &mut config::raw::RawTarget) {
    if args.timeout.is_some() {
        t.timeout = args.timeout.clone();
    }
    t.http2 = t.http2.or(args.http2.then_some(true));
    t.insecure = t.insecure.or(args.insecure.then_some(true));
}

fn adhoc_raw(url: &str, args: &RunArgs) -> Result<RawConfig, ConfigErrors> {
    // An unparsable or scheme-less URL goes through as it is: validation names what is wrong.
    let uri: http::Uri = url.parse().unwrap_or_default();
    if matches!(uri.scheme_str(), Some("ws" | "wss")) {
        return Err(ConfigErrors::one(
            "command line",
            "--url",
            "a WebSocket URL needs a config file: a ws:// or wss:// target and a profile with \
             connections and message_rate (docs/src/config.md: WebSocket targets); run it with --config and --profile",
        ));
    }
    if matches!(uri.scheme_str(), Some("redis" | "postgres" | "postgresql")) {
        return Err(ConfigErrors::one(
            "command line",
            "--url",
            "a redis:// or postgres:// target needs a config file: its endpoints' `command` or \
             `query` (docs/src/config.md: Redis, PostgreSQL targets); run it with --config and --profile",
        ));
    }
    if matches!(uri.scheme_str(), Some("grpc" | "grpcs")) {
        return Err(ConfigErrors::one(
            "command line",
            "--url",
            "a grpc:// target needs a config file: its `proto` and its endpoints' `rpc` and JSON \
             `body` (docs/src/config.md: gRPC targets); run it with --config and --profile",
        ));
    }
    // A tcp:// or udp:// request is its body (--body/--body-file): no method, no path.
    let socket = matches!(uri.scheme_str(), Some("tcp" | "udp"));
    let base = match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}"),
        _ => url.to_string(),
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or("/".into());
    let mut headers = BTreeMap::new();
    for h in &args.target.headers {
        let Some((k, v)) = h.split_once(':') else {
            return Err(ConfigErrors::one(
                "command line",
                "--header",
                // Not quoted: without the colon the value cannot be told from the name.
                "invalid header (expected \"Name: value\"; not shown, it may hold a secret)",
            ));
        };
        headers.insert(k.trim().to_string(), v.trim().to_string());
    }
    let endpoint = config::raw::RawEndpoint {
        name: Some("default".into()),
        method: (!socket).then(|| args.target.method.clone()),
        path: (!socket).then_some(path),
        headers,
        body: args.target.body.clone(),
        body_file: args
            .target
            .body_file
            .as_ref()
            .map(|p| p.display().to_string()),
        ..Default::default()
    };
    let target = config::raw::RawTarget {
        url: Some(base),
        timeout: args.timeout.clone(),
        // Set only when asked for: on a target the key does not apply to, even `false` is
        // refused (http2 on tcp://, insecure on postgres://).
        http2: args.http2.then_some(true),
        insecure: args.insecure.then_some(true),
        endpoints: vec![endpoint],
        ..Default::default()
    };
    let duration = if args.duration.is_none() && args.requests.is_none() {
        Some("10s".into())
    } else {
        args.duration.clone()
    };
    let profile = config::raw::RawProfile {
        target: Some("adhoc".into()),
        rate: args.rate.map(config::raw::RawPattern::Value),
        users: if args.rate.is_none() {
            Some(config::raw::RawPattern::Value(
                args.concurrency.unwrap_or(10) as f64,
            ))
        } else {
            None
        },
        max_in_flight: args.max_in_flight,
        duration,
        requests: args.requests,
        ..Default::default()
    };
    let safety = (!args.allow_hosts.is_empty()).then(|| config::raw::RawSafety {
        allowed_hosts: Some(args.allow_hosts.clone()),
        ..Default::default()
    });
    Ok(RawConfig {
        targets: [("adhoc".to_string(), target)].into(),
        profiles: [("adhoc".to_string(), profile)].into(),
        safety,
        ..Default::default()
    })
}

/// `--report` and `--csv` files.
fn write_reports(
    args: &RunArgs,
    summary: &crate::report::Summary,
    profile: &config::Profile,
    deltas: Vec<crate::report::baseline::Delta>,
) -> anyhow::Result<()> {
    use crate::report::{csv, html, markdown};
    let meta = html::ReportMeta {
        deltas,
        command: crate::redact::command_line(std::env::args()),
        target: format!(
            "{}://{}",
            profile.target.scheme.as_str(),
            profile.target.authority()
        ),
    };
    let write = |path: &Path, text: String| {
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the report {}", path.display()))
    };
    for path in &args.reports {
        match path.extension().and_then(|e| e.to_str()) {
            Some("md") => write(path, markdown::markdown(summary, &meta))?,
            _ => write(path, html::html(summary, &meta))?,
        }
    }
    if let Some(prefix) = &args.csv {
        write(
            Path::new(&format!("{prefix}_stats.csv")),
            csv::stats(summary),
        )?;
        write(
            Path::new(&format!("{prefix}_stats_history.csv")),
            csv::history(summary),
        )?;
    }
    Ok(())
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// The `--baseline` summary; an error (exit 2) when it cannot be read, or when a threshold
/// refers to a baseline and none is given.
fn load_baseline(
    args: &RunArgs,
    profile: &config::Profile,
) -> Result<Option<crate::report::Summary>, ConfigErrors> {
    let usage = |m: String| ConfigErrors::one("command line", "--baseline", m);
    let Some(path) = &args.baseline else {
        if let Some(t) = profile
            .thresholds
            .iter()
            .find(|t| t.baseline_factor.is_some())
        {
            return Err(usage(format!(
                "threshold {:?} compares with a baseline: give --baseline PATH.json",
                t.expr
            )));
        }
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        usage(format!(
            "{} is not a loadtide JSON summary: {e}",
            path.display()
        ))
    })
}

/// `loadtide run`: the exit code of the run, or of why it could not start.
pub(super) async fn command(args: RunArgs) -> u8 {
    match run(args).await {
        Ok(code) => code,
        Err(RunError::Config(e)) => {
            super::print_config_errors(&e);
            super::EXIT_USAGE
        }
        Err(RunError::Runtime(e)) => {
            eprintln!("error: {e:#}");
            super::EXIT_RUNTIME
        }
    }
}

async fn run(args: RunArgs) -> Result<u8, RunError> {
    let (profile, demo, safety) = build_profile(&args).map_err(RunError::Config)?;
    let baseline = load_baseline(&args, &profile).map_err(RunError::Config)?;
    let demo_cancel = CancellationToken::new();
    if let Some(addr) = demo {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot start the demo target on {addr}"))
            .map_err(RunError::Runtime)?;
        tokio::spawn(crate::demo::run(l, demo_cancel.clone()));
    }
    // Ctrl-C ends the run early; the summary still covers what ran.
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let mut spec =
        crate::oneshot::one_pass(&profile, args.shard.unwrap_or(Shard::WHOLE), args.speed);
    spec.limits.apply(&safety, spec.shard);
    if let Some(at) = args.start_at {
        match at.duration_since(SystemTime::now()) {
            Ok(wait) => {
                tracing::info!(
                    "waiting {} for --start-at",
                    humantime::format_duration(round_ms(wait))
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => {}
                }
            }
            // Late: join the pattern where the others are, for what is left of the run.
            Err(e) => {
                let late = e.duration();
                spec.offset = late.mul_f64(spec.speed);
                spec.length = spec.length.map(|l| l.saturating_sub(late));
            }
        }
    }
    let (mut summary, mut passed) =
        crate::oneshot::run_once_until(profile.clone(), spec, !args.quiet, cancel).await;
    let mut deltas = Vec::new();
    if let Some(base) = &baseline {
        passed = summary.check_against(&profile.thresholds, Some(base));
        deltas = crate::report::baseline::deltas(&summary, base);
    }
    watcher.abort();
    demo_cancel.cancel();
    print!("{}", render::text(&summary, &profile.thresholds));
    if !deltas.is_empty() {
        print!("{}", crate::report::baseline::text(&deltas));
    }
    if let Some(path) = &args.json {
        std::fs::write(path, render::json(&summary))
            .with_context(|| format!("cannot write the JSON summary to {}", path.display()))
            .map_err(RunError::Runtime)?;
    }
    write_reports(&args, &summary, &profile, deltas).map_err(RunError::Runtime)?;
    Ok(if passed { 0 } else { EXIT_THRESHOLDS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adhoc_errors_name_the_flag() {
        let args = RunArgs {
            target: TargetArgs {
                url: Some("http://127.0.0.1:1/".into()),
                method: "GET".into(),
                ..Default::default()
            },
            rate: Some(-5.0),
            ..Default::default()
        };
        let err = build_profile(&args).expect_err("negative rate");
        assert_eq!(
            err.to_string(),
            "command line: `--rate`: invalid rate -5: must be > 0 requests per second"
        );
    }
}
