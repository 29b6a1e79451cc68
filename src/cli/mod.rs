//! Command-line interface: `serve` (the daemon), `run` (one-shot for CI), `check` (validate a
//! config and show what would run), `capacity`, `merge`, `healthcheck` (probe a running
//! daemon), `init` and `import` (write a config) and `demo-target`. This file holds the clap
//! types and the dispatch; each command lives in its own module and maps every failure to an exit code (`exit`):
//! 0 success, 1 thresholds failed, 2 bad usage or config, 3 runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigErrors};

mod capacity;
mod check;
mod check_json;
pub mod exit;
mod generate;
mod healthcheck;
mod import;
mod init;
mod merge;
mod run;
mod serve;
mod target;

pub use check::describe_config;
pub use exit::{EXIT_RUNTIME, EXIT_THRESHOLDS, EXIT_USAGE};
pub use healthcheck::HealthcheckArgs;
pub(crate) use run::build_profile;
pub use run::RunArgs;
pub use serve::ServeArgs;

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

/// What `check` prints: the readable summary, or one JSON document (errors included).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckOutput {
    Text,
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
        /// Environment overlay: merge CONFIG's sibling `<stem>.NAME.toml` over it, and show which keys it set.
        #[arg(long, env = "LOADTIDE_ENV", value_name = "NAME")]
        env: Option<String>,
        /// Show the timetable as of this instant instead of now (RFC 3339).
        #[arg(long, value_name = "TIME", value_parser = parse_start_at)]
        at: Option<SystemTime>,
        /// json: one document on stdout, with the errors (file, key, message) when invalid.
        #[arg(long, value_enum, default_value = "text")]
        output: CheckOutput,
    },
    /// Find the highest arrival rate the target sustains within SLOs (step up, then bisect)
    ///
    /// Exit codes: 0 found (or every SLO held at --max-rate), 1 the SLOs already fail at the
    /// start rate, 2 bad usage, 3 runtime failure or the generator (not the target) was the
    /// limit.
    Capacity(Box<capacity::CapacityArgs>),
    /// Merge the JSON summaries of sharded runs into one, checking thresholds again.
    Merge(merge::MergeArgs),
    /// Probe a running daemon (container HEALTHCHECK): GET /-/healthy, exit 0 on 2xx, else 1.
    Healthcheck(HealthcheckArgs),
    /// Write a commented starter config (aimed at --url, or at the built-in demo target).
    Init(init::InitArgs),
    /// Write a loadtide config from a curl command line, a HAR recording or an OpenAPI description.
    Import(import::ImportArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, loadtide(1), in roff to stdout (e.g. `loadtide man > loadtide.1`).
    Man,
    /// Run only the built-in demo target (a small HTTP API for trying loadtide out).
    DemoTarget {
        #[arg(long, default_value = config::DEFAULT_DEMO_LISTEN)]
        listen: String,
    },
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
        "{}; nothing was started",
        crate::report::render::count(n, &format!("{what} error"))
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
        Command::Serve(args) => serve::serve(args).await,
        Command::Run(args) => run::command(*args).await,
        Command::Check {
            config,
            env,
            at,
            output,
        } => check::check(&config, env.as_deref(), at, output),
        Command::Capacity(args) => capacity::command(*args).await,
        Command::Merge(args) => merge::merge_command(args),
        Command::Healthcheck(args) => healthcheck::healthcheck(args).await,
        Command::DemoTarget { listen } => serve::demo_target(&listen).await,
        Command::Init(args) => init::init(&args),
        Command::Import(args) => import::import(args),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man => generate::man(),
    }
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
}
