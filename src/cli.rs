//! Command-line interface: `serve` (the daemon), `run` (one-shot for CI), `check` (validate a
//! config and show what would run), `merge`, `healthcheck` (probe a running daemon) and
//! `demo-target`. Maps every failure to an exit code:
//! 0 success, 1 thresholds failed, 2 bad usage or config, 3 runtime failure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigErrors, Load, RawConfig};
use crate::daemon::{self, DaemonError, DaemonOptions};
use crate::engine::Shard;
use crate::report::render;

pub const EXIT_THRESHOLDS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_RUNTIME: u8 = 3;

#[derive(Parser, Debug)]
#[command(name = "loadtide", version, about = "Scheduled, Prometheus-native load generation", long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, env = "LOADTIDE_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// Log filter (tracing's env-filter syntax, e.g. "info" or "loadtide=debug").
    #[arg(long, default_value = "info", env = "LOADTIDE_LOG", global = true)]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every profile of the config until SIGTERM, exposing /metrics.
    Serve(ServeArgs),
    /// Run one load test and report: ad hoc (--url) or a profile of a config (--config, --profile).
    Run(Box<RunArgs>),
    /// Validate a config and print what each profile would run; sends no traffic.
    Check {
        #[arg(
            long,
            short,
            env = "LOADTIDE_CONFIG",
            default_value = "config/loadtide.toml"
        )]
        config: PathBuf,
        /// Show the timetable as of this instant instead of now (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
        at: Option<SystemTime>,
    },
    /// Find the highest arrival rate the target sustains within SLOs (step up, then bisect)
    ///
    /// Exit codes: 0 found (or every SLO held at --max-rate), 1 the SLOs already fail at the
    /// start rate, 2 bad usage, 3 runtime failure or the generator (not the target) was the
    /// limit.
    Capacity(Box<crate::capacity::cli::CapacityArgs>),
    /// Merge the JSON summaries of sharded runs into one, checking thresholds again.
    Merge(crate::report::merge::MergeArgs),
    /// Probe a running daemon (container HEALTHCHECK): GET /-/healthy, exit 0 on 2xx, else 1.
    Healthcheck(HealthcheckArgs),
    /// Run only the built-in demo target (a small HTTP API for trying loadtide out).
    DemoTarget {
        #[arg(long, default_value = config::DEFAULT_DEMO_LISTEN)]
        listen: String,
    },
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The URL to GET (http:// or https://).
    #[arg(long, env = "LOADTIDE_HEALTHCHECK_URL", default_value = crate::healthcheck::DEFAULT_URL)]
    pub url: String,
    /// Give up after this long (connecting and answering together).
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// HTTPS: accept any certificate (e.g. the daemon's self-signed one, over loopback).
    #[arg(long, short = 'k', env = "LOADTIDE_HEALTHCHECK_INSECURE")]
    pub insecure: bool,
    /// Basic auth user (the daemon's web config has basic_auth_users).
    #[arg(long, env = "LOADTIDE_HEALTHCHECK_USER", requires = "password_file")]
    pub user: Option<String>,
    /// File holding the basic auth password (surrounding whitespace is trimmed).
    #[arg(
        long,
        env = "LOADTIDE_HEALTHCHECK_PASSWORD_FILE",
        value_name = "PATH",
        requires = "user"
    )]
    pub password_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(
        long,
        short,
        env = "LOADTIDE_CONFIG",
        default_value = "config/loadtide.toml"
    )]
    pub config: PathBuf,
    /// Address for /metrics; overrides server.listen (e.g. ":9632", "127.0.0.1:9632").
    #[arg(long = "web.listen-address", env = "LOADTIDE_WEB_LISTEN_ADDRESS")]
    pub listen: Option<String>,
    /// Enable POST /-/reload, /-/pause and /-/resume.
    #[arg(long = "web.enable-lifecycle")]
    pub lifecycle: bool,
    /// TLS and basic auth for every endpoint, from a Prometheus exporter-toolkit
    /// web-config.yml (read once at start).
    #[arg(
        long = "web.config.file",
        env = "LOADTIDE_WEB_CONFIG_FILE",
        value_name = "PATH"
    )]
    pub web_config: Option<PathBuf>,
    /// Pause all traffic while this file exists (looked for every second).
    #[arg(long, env = "LOADTIDE_PAUSE_FILE", value_name = "PATH")]
    pub pause_file: Option<PathBuf>,
    /// Generate shard INDEX of COUNT of every profile's load (0-based, e.g. "1/3"; "auto/3"
    /// takes INDEX from a StatefulSet pod name ending in -<ordinal>).
    #[arg(long, env = "LOADTIDE_SHARD", value_name = "INDEX/COUNT")]
    pub shard: Option<Shard>,
}

#[derive(Args, Debug, Default)]
#[command(allow_negative_numbers = true)]
pub struct RunArgs {
    /// Config file to take the profile from (with --profile).
    #[arg(long, env = "LOADTIDE_CONFIG", requires = "profile")]
    pub config: Option<PathBuf>,
    /// The profile to run from --config.
    #[arg(long, short, env = "LOADTIDE_PROFILE", requires = "config")]
    pub profile: Option<String>,
    /// Target URL for an ad hoc run.
    #[arg(long, short, env = "LOADTIDE_URL", conflicts_with = "config")]
    pub url: Option<String>,
    /// HTTP method.
    #[arg(long, short = 'm', env = "LOADTIDE_METHOD", default_value = "GET")]
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

fn parse_report_path(s: &str) -> Result<PathBuf, String> {
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

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "invalid timeout {s:?}: a duration > 0, e.g. 2s or 500ms"
        )),
    }
}

fn parse_start_at(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(s.trim())
        .map_err(|e| format!("invalid time {s:?} ({e}); e.g. 2026-11-22T10:00:00Z"))
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub(crate) fn print_config_errors(errors: &ConfigErrors) {
    for e in &errors.0 {
        eprintln!("error: {e}");
    }
    let n = errors.0.len();
    let what = if errors.0.iter().all(|e| e.file == "command line") {
        "usage"
    } else {
        "configuration"
    };
    eprintln!(
        "{n} {what} error{}; nothing was started",
        if n == 1 { "" } else { "s" }
    );
}

/// Parses the arguments and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    // Run the command on a worker thread, not on the thread that called block_on: otherwise
    // the open-model pacer lives on the main thread and every request it spawns costs a
    // cross-thread wake-up (measured: ~11k futex calls per 20k requests).
    let code = runtime.block_on(async move {
        tokio::spawn(dispatch(cli.command))
            .await
            .unwrap_or(EXIT_RUNTIME)
    });
    // Don't wait for stray request tasks (e.g. abandoned after the drain).
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(code)
}

async fn dispatch(command: Command) -> u8 {
    // Every connection is a descriptor: take all the open files the hard limit allows (the
    // daemon logs the result once it serves; before that, stderr is for config errors).
    if matches!(
        command,
        Command::Serve(_) | Command::Run(_) | Command::Capacity(_)
    ) {
        crate::fdlimit::raise();
    }
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Run(args) => match run(*args).await {
            Ok(code) => code,
            Err(RunError::Config(e)) => {
                print_config_errors(&e);
                EXIT_USAGE
            }
            Err(RunError::Runtime(e)) => {
                eprintln!("error: {e:#}");
                EXIT_RUNTIME
            }
        },
        Command::Check { config, at } => check(&config, at),
        Command::Capacity(args) => crate::capacity::cli::command(*args).await,
        Command::Merge(args) => crate::report::merge::merge_command(args),
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::DemoTarget { listen } => demo_target(&listen).await,
    }
}

/// 0 when the URL answers 2xx, 1 when it does not (or not in time), 2 for a bad URL or an
/// unreadable password file.
async fn healthcheck(args: HealthcheckArgs) -> u8 {
    let url = args.url.as_str();
    let password = match &args.password_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(p) => Some(p.trim().to_string()),
            Err(e) => {
                eprintln!(
                    "error: --password-file: cannot read {}: {e}",
                    path.display()
                );
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let result = match crate::healthcheck::Probe::parse(url) {
        Ok(probe) => {
            let probe = probe.insecure(args.insecure);
            let probe = match (&args.user, &password) {
                (Some(user), Some(password)) => probe.basic_auth(user, password),
                _ => probe,
            };
            probe.check(args.timeout).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(status) => {
            println!("{url}: HTTP {status}");
            0
        }
        Err(e) if e.is_usage() => {
            eprintln!("error: --url: {e}");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}

async fn serve(args: ServeArgs) -> u8 {
    let listen = match args.listen.as_deref().map(config::parse_listen).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: --web.listen-address: {e}");
            return EXIT_USAGE;
        }
    };
    let web = match args
        .web_config
        .as_deref()
        .map(crate::webconfig::load)
        .transpose()
    {
        Ok(w) => w,
        Err(e) => {
            print_config_errors(&e);
            return EXIT_USAGE;
        }
    };
    let opts = DaemonOptions {
        config_path: args.config,
        listen,
        lifecycle: args.lifecycle,
        shard: args.shard.unwrap_or(Shard::WHOLE),
        web,
        pause_file: args.pause_file,
    };
    match daemon::serve(opts).await {
        Ok(()) => 0,
        Err(DaemonError::Config(e)) => {
            print_config_errors(&e);
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_RUNTIME
        }
    }
}

fn check(path: &Path, at: Option<SystemTime>) -> u8 {
    let at = at
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_else(chrono::Utc::now);
    match config::load(path) {
        Ok(c) => {
            print!("{}", describe_config(path, &c, at));
            0
        }
        Err(e) => {
            print_config_errors(&e);
            EXIT_USAGE
        }
    }
}

/// What `check` prints: every profile with its load, limits, endpoint mix and timetable
/// (next activations and the planned load over the 24 hours from `at`).
pub fn describe_config(path: &Path, c: &Config, at: chrono::DateTime<chrono::Utc>) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "{}: OK", path.display());
    let _ = writeln!(o, "metrics on {}", c.server.listen);
    if let Some(d) = c.demo_target {
        let _ = writeln!(o, "demo target on {d}");
    }
    o.push_str(&describe_safety(c));
    for p in &c.profiles {
        let value = |pattern: &crate::schedule::Pattern, unit: &str| match pattern {
            crate::schedule::Pattern::Constant { value } => format!("{value} {unit}"),
            other => format!("{unit}: {}", other.describe()),
        };
        let load = match &p.load {
            Load::Open {
                rate,
                max_in_flight,
            } => {
                let poisson = match p.arrivals {
                    config::Arrivals::Poisson { .. } => ", Poisson arrivals",
                    config::Arrivals::Even => "",
                };
                format!(
                    "open model, {}{poisson}, max {max_in_flight} in flight",
                    value(rate, "req/s")
                )
            }
            Load::Closed { users } => {
                let spawn = p
                    .spawn_rate
                    .map(|r| format!(", spawning {r}/s"))
                    .unwrap_or_default();
                format!("closed model, {}{spawn}", value(users, "users"))
            }
            Load::WebSocket {
                connections,
                message_rate,
            } => format!(
                "websocket, {}, {message_rate} msg/s each",
                value(connections, "connections")
            ),
        };
        let length = match (p.duration, p.requests) {
            (Some(d), Some(n)) => format!("for {} or {n} requests", humantime::format_duration(d)),
            (Some(d), None) => format!("for {}", humantime::format_duration(d)),
            (None, Some(n)) => format!("for {n} requests"),
            (None, None) => "until stopped".to_string(),
        };
        let (load, length) = match &p.capacity {
            Some(c) => (
                crate::capacity::describe(c),
                "once per activation".to_string(),
            ),
            None => (load, length),
        };
        let t = &p.target;
        let _ = writeln!(o, "profile {}: {load}, {length}", p.name);
        let _ = writeln!(
            o,
            "  target {} = {}://{} (timeout {})",
            t.name,
            t.scheme.as_str(),
            t.authority(),
            humantime::format_duration(t.timeout)
        );
        if let Some(sc) = &p.scenario {
            let _ = writeln!(o, "  scenario {} (each iteration in order):", sc.name);
            for line in sc.describe() {
                let _ = writeln!(o, "    {line}");
            }
        }
        if let Some(ws) = &t.websocket {
            o.push_str(&ws.describe());
        }
        let total: u32 = p.endpoints.iter().map(|&i| t.endpoints[i].weight).sum();
        for &i in p.endpoints.iter().filter(|_| p.scenario.is_none()) {
            let e = &t.endpoints[i];
            let share = 100.0 * f64::from(e.weight) / f64::from(total.max(1));
            let _ = writeln!(
                o,
                "  endpoint {:<16} {:<6} {:<30} {share:5.1}%",
                e.name,
                e.method.as_str(),
                crate::redact::path(&e.path)
            );
        }
        for th in &p.thresholds {
            let _ = writeln!(o, "  threshold {th}");
        }
        if let Some(b) = &p.brake {
            let _ = writeln!(o, "  {}", b.describe());
        }
        o.push_str(&crate::timetable::describe(p, at));
    }
    o
}

/// `check`'s safety section: the allowlist, the caps and the peak rates against `max_rate`.
fn describe_safety(c: &Config) -> String {
    use config::safety::{num, worst_overlap};
    use std::fmt::Write as _;
    let s = &c.safety;
    let mut o = String::from("safety:\n");
    match &s.allowed_hosts {
        Some(a) => {
            let _ = writeln!(o, "  allowed hosts: {a}");
            if a.dns_nets().is_some() {
                let _ = writeln!(
                    o,
                    "  DNS answers must lie in the allowed addresses and CIDRs, or the connection is refused"
                );
            }
        }
        None => {
            let _ = writeln!(
                o,
                "  note: no safety.allowed_hosts: targets may point at ANY host"
            );
        }
    }
    let (names, peak) = worst_overlap(&c.profiles, s.max_rate);
    let peak = if names.is_empty() {
        "no open-model or WebSocket profile".to_string()
    } else {
        format!("{} req/s ({})", num(peak), names.join(" + "))
    };
    match s.max_rate {
        Some(max) => {
            let _ = writeln!(
                o,
                "  max_rate {} req/s across all profiles; highest peak of profiles that may run together: {peak}",
                num(max)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  max_rate: none; highest peak of profiles that may run together: {peak}"
            );
        }
    }
    match s.max_in_flight {
        Some(n) => {
            let _ = writeln!(o, "  max_in_flight {n} across all profiles");
        }
        None => o.push_str("  max_in_flight: none\n"),
    }
    o
}

async fn demo_target(listen: &str) -> u8 {
    let addr: SocketAddr = match config::parse_listen(listen) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: --listen: {e}");
            return EXIT_USAGE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return EXIT_RUNTIME;
        }
    };
    tracing::info!(address = %listener.local_addr().unwrap_or(addr), "demo target listening");
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = crate::demo::run(listener, cancel.clone()) => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    cancel.cancel();
    0
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
    let (raw, file, dir) = match (&args.config, &args.url) {
        (Some(path), _) => (
            {
                let (raw, sources) = config::load_raw(path)?;
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
    let name = args.profile.clone().unwrap_or_else(|| "adhoc".into());
    let mut raw = raw;
    let Some(p) = raw.profiles.get_mut(&name) else {
        let known: Vec<_> = raw.profiles.keys().cloned().collect();
        return Err(ConfigErrors::one(
            &file,
            "",
            format!("no profile {name:?} (known: {})", known.join(", ")),
        ));
    };
    // Flags win over the file.
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
    if args.url.is_none() {
        if let Some(t) = p.target.clone().and_then(|t| raw.targets.get_mut(&t)) {
            if args.timeout.is_some() {
                t.timeout = args.timeout.clone();
            }
            t.http2 = t.http2.or(args.http2.then_some(true));
            t.insecure = t.insecure.or(args.insecure.then_some(true));
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
        None if args.url.is_some() => profile.spawn_rate = None,
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
        return Err(ConfigErrors::one(
            "command line",
            "--warmup",
            format!(
                "warmup {} is not shorter than the run ({}): nothing would be measured",
                humantime::format_duration(profile.warmup),
                humantime::format_duration(length)
            ),
        ));
    }
    Ok((Arc::new(profile), config.demo_target, config.safety))
}

fn adhoc_raw(url: &str, args: &RunArgs) -> Result<RawConfig, ConfigErrors> {
    // An unparsable or scheme-less URL goes through as it is: validation names what is wrong.
    let uri: http::Uri = url.parse().unwrap_or_default();
    if matches!(uri.scheme_str(), Some("ws" | "wss")) {
        return Err(ConfigErrors::one(
            "command line",
            "--url",
            "a WebSocket URL needs a config file: a ws:// or wss:// target and a profile with \
             connections and message_rate (README: WebSocket targets); run it with --config and --profile",
        ));
    }
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
    for h in &args.headers {
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
        method: Some(args.method.clone()),
        path: Some(path),
        headers,
        body: args.body.clone(),
        body_file: args.body_file.as_ref().map(|p| p.display().to_string()),
        ..Default::default()
    };
    let target = config::raw::RawTarget {
        url: Some(base),
        timeout: args.timeout.clone(),
        http2: Some(args.http2),
        insecure: Some(args.insecure),
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
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        // Catches duplicate short flags and bad `requires`/`conflicts_with` names.
        Cli::command().debug_assert();
    }

    #[test]
    fn adhoc_errors_name_the_flag() {
        let args = RunArgs {
            url: Some("http://127.0.0.1:1/".into()),
            rate: Some(-5.0),
            method: "GET".into(),
            ..Default::default()
        };
        let err = build_profile(&args).expect_err("negative rate");
        assert_eq!(
            err.to_string(),
            "command line: `--rate`: invalid rate -5: must be > 0 requests per second"
        );
    }
}
