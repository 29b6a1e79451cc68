//! `loadtide serve` (the daemon, with its flags mapped onto `DaemonOptions`) and
//! `loadtide demo-target`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{print_config_errors, EXIT_RUNTIME, EXIT_USAGE};
use crate::config;
use crate::daemon::{self, DaemonError, DaemonOptions};
use crate::engine::Shard;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[arg(
        long,
        short,
        env = "LOADTIDE_CONFIG",
        default_value = "config/loadtide.toml"
    )]
    pub config: PathBuf,
    /// Environment overlay: merge CONFIG's sibling `<stem>.NAME.toml` (e.g. loadtide.staging.toml) over it.
    #[arg(long, env = "LOADTIDE_ENV", value_name = "NAME")]
    pub env: Option<String>,
    /// Address for /metrics; overrides server.listen (e.g. ":9632", "127.0.0.1:9632").
    #[arg(long = "web.listen-address", env = "LOADTIDE_WEB_LISTEN_ADDRESS")]
    pub listen: Option<String>,
    /// Enable POST /-/reload, /-/pause and /-/resume.
    #[arg(long = "web.enable-lifecycle")]
    pub lifecycle: bool,
    /// Enable the control API: GET /api/v1/profiles, POST /api/v1/profiles/NAME/{pause,resume},
    /// PUT /api/v1/profiles/NAME/rate_multiplier (changes last until the next reload).
    #[arg(long = "web.enable-control-api")]
    pub control_api: bool,
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

pub(super) async fn serve(args: ServeArgs) -> u8 {
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
        .map(crate::daemon::webconfig::load)
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
        env: args.env,
        listen,
        lifecycle: args.lifecycle,
        control_api: args.control_api,
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

pub(super) async fn demo_target(listen: &str) -> u8 {
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
