//! `loadtide serve`: runs every profile of the config until SIGTERM/SIGINT, serving
//! `/metrics`. SIGHUP (or `POST /-/reload`) reloads the config: a bad one is logged, counted
//! and ignored; profiles whose definition did not change keep running untouched (same series,
//! same place in their pattern); changed ones restart, removed ones stop. The kill switch
//! (`POST /-/pause`, the pause file) is process-wide, so it holds across reloads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{self, ConfigErrors};
use crate::engine::{RunEnd, SafetyLimits, Shard};
use crate::metrics::Metrics;
use crate::pause::Pause;
use control::Controls;
use profiles::Daemon;
use server::ServerState;
use webconfig::WebConfig;

pub mod basic_auth;
mod control;
mod control_api;
mod pause_file;
mod profiles;
pub mod server;
mod status;
mod status_page;
pub mod webconfig;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

pub struct DaemonOptions {
    pub config_path: PathBuf,
    /// `--env NAME`: the overlay merged over the config, at start and on every reload.
    pub env: Option<String>,
    /// Overrides `server.listen` (`--web.listen-address`).
    pub listen: Option<SocketAddr>,
    pub lifecycle: bool,
    /// Serve the control API (`--web.enable-control-api`).
    pub control_api: bool,
    /// This instance's share of every profile (`--shard`).
    pub shard: Shard,
    /// TLS and basic auth for the endpoints (`--web.config.file`), already loaded.
    pub web: Option<WebConfig>,
    /// All traffic pauses while this file exists (`--pause-file`).
    pub pause_file: Option<PathBuf>,
}

/// The process signals the daemon answers: SIGHUP reloads, SIGTERM and SIGINT drain.
struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let on = |kind| signal(kind).map_err(DaemonError::Signals);
        Ok(Signals {
            hup: on(SignalKind::hangup())?,
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
        })
    }
}

/// Binds the metrics port and the demo target's, before anything starts: a port taken is a
/// runtime failure (exit 3) with nothing sent.
async fn bind(
    listen: SocketAddr,
    demo: Option<SocketAddr>,
) -> Result<(TcpListener, Option<TcpListener>), DaemonError> {
    let bind = |addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Bind { addr, source })
    };
    let listener = bind(listen).await?;
    let demo = match demo {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    Ok((listener, demo))
}

/// The kill switch, with the pause file looked at once before any profile starts (a file
/// present at start means no traffic at all) and watched from then on.
fn start_pause(file: Option<&Path>, metrics: &Arc<Metrics>, cancel: &CancellationToken) -> Pause {
    let pause = Pause::default();
    if let Some(file) = file {
        pause_file::look_for_pause_file(file, &pause, &mut false);
        tokio::spawn(pause_file::watch_pause_file(
            file.to_path_buf(),
            pause.clone(),
            cancel.clone(),
        ));
    }
    tokio::spawn(pause_file::export_pause(pause.clone(), metrics.clone()));
    pause
}

/// TLS acceptor and basic auth from the web config, its warnings logged.
fn web_security(
    web: Option<&WebConfig>,
) -> (
    Option<tokio_rustls::TlsAcceptor>,
    Option<Arc<basic_auth::BasicAuth>>,
) {
    let Some(web) = web else {
        return (None, None);
    };
    for w in &web.warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(file = %web.path.display(), "web config: {}", web.summary);
    (
        web.tls.clone().map(tokio_rustls::TlsAcceptor::from),
        basic_auth::BasicAuth::new(web.users.clone()),
    )
}

/// Samples each profile's request count once a second (the achieved rate) and its totals
/// every `status::EVERY` (the status page's last minute and sparkline).
async fn sample_controls(
    controls: Arc<Controls>,
    history: Arc<status::StatusHistory>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let every = status::EVERY.as_secs();
    for n in 0u64.. {
        tokio::select! {
            _ = tick.tick() => {
                controls.sample();
                if n % every == 0 {
                    history.sample(&controls.names());
                }
            }
            _ = cancel.cancelled() => return,
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(opts: DaemonOptions) -> Result<(), DaemonError> {
    let mut current =
        config::load_env(&opts.config_path, opts.env.as_deref()).map_err(DaemonError::Config)?;
    if current.safety.allowed_hosts.is_none() {
        tracing::warn!(config = %opts.config_path.display(), "no safety.allowed_hosts: targets may point at any host");
    }
    let listen = opts.listen.unwrap_or(current.server.listen);
    let (listener, demo) = bind(listen, current.demo_target).await?;
    let mut signals = Signals::install()?;

    let metrics = Metrics::new();
    metrics.config_loaded();
    let server_cancel = CancellationToken::new();
    let pause = start_pause(opts.pause_file.as_deref(), &metrics, &server_cancel);
    let (tls, auth) = web_security(opts.web.as_ref());
    let (reload_tx, mut reload_rx) = mpsc::channel(4);
    let controls = Controls::new(pause.clone(), metrics.clone());
    let history = status::StatusHistory::new(metrics.clone());
    let state = Arc::new(ServerState {
        controls: controls.clone(),
        control_api: opts.control_api,
        history,
        metrics: metrics.clone(),
        ready: Default::default(),
        lifecycle: opts.lifecycle,
        reload: reload_tx,
        profiles: Default::default(),
        auth,
        pause: pause.clone(),
        pause_file: opts.pause_file.clone(),
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listener.local_addr().unwrap_or(listen), scheme, "serving /metrics");
    if let Some((limit, hard)) = crate::fdlimit::limits() {
        tracing::info!(
            limit,
            hard,
            "open files limit (RLIMIT_NOFILE; raised to the hard limit at start)"
        );
    }
    let server_task = tokio::spawn(server::run(
        listener,
        tls,
        state.clone(),
        server_cancel.clone(),
    ));
    if let Some(l) = demo {
        tracing::info!(address = %l.local_addr().unwrap_or(listen), "demo target listening");
        tokio::spawn(crate::demo::run(l, server_cancel.clone()));
    }

    let limits = SafetyLimits::new(metrics.safety_in_flight());
    let mut daemon = Daemon {
        metrics,
        limits,
        state: state.clone(),
        running: BTreeMap::new(),
        drain: current.server.drain_timeout,
        shard: opts.shard,
        controls,
    };
    daemon.apply(&current);
    // After the first apply, so the first snapshot already has every profile.
    tokio::spawn(sample_controls(
        daemon.controls.clone(),
        state.history.clone(),
        server_cancel.clone(),
    ));
    state.ready.store(true, Ordering::Relaxed);
    let status = |n: usize| format!("serving /metrics; {n} profile(s) running");
    crate::notify::ready(&status(daemon.running.len()));
    let watchdog = crate::notify::spawn_watchdog();

    loop {
        tokio::select! {
            _ = signals.hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                crate::notify::reloading();
                let _ = daemon.reload(&opts.config_path, opts.env.as_deref(), &mut current);
                crate::notify::ready(&status(daemon.running.len()));
            }
            Some(reply) = reload_rx.recv() => {
                tracing::info!("POST /-/reload: reloading configuration");
                crate::notify::reloading();
                let _ = reply.send(daemon.reload(&opts.config_path, opts.env.as_deref(), &mut current));
                crate::notify::ready(&status(daemon.running.len()));
            }
            _ = signals.term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = signals.int.recv() => { tracing::info!("SIGINT: draining"); break; }
        }
    }

    state.ready.store(false, Ordering::Relaxed);
    crate::notify::stopping();
    if let Some(w) = watchdog {
        w.abort();
    }
    drain(&mut daemon).await;
    server_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), server_task).await;
    tracing::info!("stopped");
    Ok(())
}

/// Stops every profile and gives in-flight requests the drain time (and a second more).
async fn drain(daemon: &mut Daemon) {
    let running = std::mem::take(&mut daemon.running);
    for r in running.values() {
        r.stop();
    }
    let all = futures_join(running.into_values().map(|r| r.handle).collect());
    let abandoned = match tokio::time::timeout(
        daemon.drain.saturating_add(Duration::from_secs(1)),
        all,
    )
    .await
    {
        Ok(ends) => ends.iter().map(|e| e.abandoned).sum(),
        Err(_) => 1,
    };
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "drain time ran out with requests still in flight"
        );
    }
}

async fn futures_join(handles: Vec<JoinHandle<RunEnd>>) -> Vec<RunEnd> {
    let mut ends = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(end) = h.await {
            ends.push(end);
        }
    }
    ends
}
