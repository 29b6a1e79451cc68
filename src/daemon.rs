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
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigErrors, Load, Profile};
use crate::engine::{RunEnd, SafetyLimits, Shard};
use crate::metrics::{Metrics, ProfileRecorder};
use crate::pause::{Pause, PauseSource};
use crate::server::{self, ServerState};
use crate::webconfig::WebConfig;

/// How often the pause file is looked for.
const PAUSE_FILE_CHECK: Duration = Duration::from_secs(1);

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
    /// Overrides `server.listen` (`--web.listen-address`).
    pub listen: Option<SocketAddr>,
    pub lifecycle: bool,
    /// This instance's share of every profile (`--shard`).
    pub shard: Shard,
    /// TLS and basic auth for the endpoints (`--web.config.file`), already loaded.
    pub web: Option<WebConfig>,
    /// All traffic pauses while this file exists (`--pause-file`).
    pub pause_file: Option<PathBuf>,
}

struct Running {
    profile: Arc<Profile>,
    recorder: Arc<ProfileRecorder>,
    cancel: CancellationToken,
    handle: JoinHandle<RunEnd>,
}

struct Daemon {
    metrics: Arc<Metrics>,
    state: Arc<ServerState>,
    running: BTreeMap<String, Running>,
    drain: Duration,
    shard: Shard,
    pause: Pause,
    /// `[safety]`'s caps, shared by every profile; updated in place on reload.
    limits: SafetyLimits,
}

fn describe(p: &Profile) -> String {
    let load = match &p.load {
        Load::Open { rate, .. } => format!("open model, {} req/s", rate.rate_at(Duration::ZERO)),
        Load::Closed { users } => format!("closed model, {} users", users.rate_at(Duration::ZERO)),
        Load::WebSocket {
            connections,
            message_rate,
        } => format!(
            "websocket, {} connections, {message_rate} msg/s each",
            connections.rate_at(Duration::ZERO)
        ),
    };
    let load = match &p.capacity {
        Some(c) => format!(
            "capacity search from {} req/s, SLOs {}",
            c.params.start_rate,
            c.slos
                .iter()
                .map(|t| t.expr.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => load,
    };
    format!(
        "{} → target {} ({} endpoints): {load}",
        p.name,
        p.target.name,
        p.endpoints.len()
    )
}

impl Running {
    /// Stops the run and zeroes its gauges here, before any replacement starts: the
    /// executor leaves them alone when cancelled, so a late finish of the old run cannot
    /// overwrite the new run's values (both write the same series).
    fn stop(&self) {
        self.cancel.cancel();
        self.recorder.set_active(false);
    }
}

impl Daemon {
    fn start(&mut self, profile: Arc<Profile>) {
        let recorder = ProfileRecorder::new(&self.metrics, &profile, None);
        let cancel = CancellationToken::new();
        tracing::info!(profile = %profile.name, "starting profile: {}", describe(&profile));
        let handle = if profile.capacity.is_some() {
            tokio::spawn(crate::capacity::daemon::follow(
                profile.clone(),
                self.shard,
                self.metrics.clone(),
                recorder.clone(),
                cancel.clone(),
                self.pause.clone(),
                self.limits.clone(),
            ))
        } else {
            tokio::spawn(crate::engine::scheduled::follow(
                profile.clone(),
                self.shard,
                recorder.clone(),
                cancel.clone(),
                self.drain,
                self.pause.clone(),
                self.limits.clone(),
            ))
        };
        self.running.insert(
            profile.name.clone(),
            Running {
                profile,
                recorder,
                cancel,
                handle,
            },
        );
    }

    fn publish_status(&self) {
        let lines = self
            .running
            .values()
            .map(|r| (r.profile.name.clone(), describe(&r.profile)))
            .collect();
        *self.state.profiles.write().expect("status lock poisoned") = lines;
    }

    /// Puts `safety`'s caps (this shard's share) in force and exports them.
    fn apply_caps(&self, safety: &config::Safety) {
        let (rate, in_flight) = self.limits.apply(safety, self.shard);
        self.metrics.set_safety_caps(rate, in_flight);
    }

    /// Swaps in `new`'s profiles by name, keeping the unchanged ones running.
    fn apply(&mut self, new: &Config) {
        self.apply_caps(&new.safety);
        let mut keep = BTreeMap::new();
        for p in &new.profiles {
            match self.running.remove(&p.name) {
                Some(r) if *r.profile == **p => {
                    keep.insert(p.name.clone(), r);
                }
                Some(r) => {
                    tracing::info!(profile = %p.name, "profile changed; restarting it");
                    r.stop();
                }
                None => {}
            }
        }
        for (name, r) in std::mem::take(&mut self.running) {
            tracing::info!(profile = %name, "profile removed; stopping it");
            r.stop();
        }
        self.running = keep;
        for p in &new.profiles {
            if !self.running.contains_key(&p.name) {
                self.start(p.clone());
            }
        }
        self.publish_status();
    }

    fn reload(&mut self, path: &std::path::Path, current: &mut Config) -> Result<(), String> {
        match config::load(path) {
            Ok(new) => {
                if new.server != current.server || new.demo_target != current.demo_target {
                    tracing::warn!("server and demo_target settings change only on restart; the rest was reloaded");
                }
                self.apply(&new);
                *current = new;
                self.metrics.config_reloaded(true);
                tracing::info!(path = %path.display(), "configuration reloaded");
                Ok(())
            }
            Err(errors) => {
                for e in &errors.0 {
                    tracing::error!("reload rejected: {e}");
                }
                self.metrics.config_reloaded(false);
                tracing::error!(
                    "{} configuration error(s); the previous configuration keeps running",
                    errors.0.len()
                );
                Err(errors.to_string())
            }
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn serve(opts: DaemonOptions) -> Result<(), DaemonError> {
    let mut current = config::load(&opts.config_path).map_err(DaemonError::Config)?;
    if current.safety.allowed_hosts.is_none() {
        tracing::warn!(config = %opts.config_path.display(), "no safety.allowed_hosts: targets may point at any host");
    }
    let listen = opts.listen.unwrap_or(current.server.listen);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| DaemonError::Bind {
            addr: listen,
            source,
        })?;
    let demo = match current.demo_target {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| DaemonError::Bind { addr, source })?,
        ),
        None => None,
    };
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;

    let metrics = Metrics::new();
    metrics.config_loaded();
    let server_cancel = CancellationToken::new();
    let pause = Pause::default();
    if let Some(file) = &opts.pause_file {
        // Before any profile starts: a file present at start means no traffic at all.
        look_for_pause_file(file, &pause, &mut false);
        tokio::spawn(watch_pause_file(
            file.clone(),
            pause.clone(),
            server_cancel.clone(),
        ));
    }
    tokio::spawn(export_pause(pause.clone(), metrics.clone()));
    let (tls, auth) = match &opts.web {
        Some(web) => {
            for w in &web.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(file = %web.path.display(), "web config: {}", web.summary);
            (
                web.tls.clone().map(tokio_rustls::TlsAcceptor::from),
                crate::basic_auth::BasicAuth::new(web.users.clone()),
            )
        }
        None => (None, None),
    };
    let (reload_tx, mut reload_rx) = mpsc::channel(4);
    let state = Arc::new(ServerState {
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
        pause,
    };
    daemon.apply(&current);
    state.ready.store(true, Ordering::Relaxed);
    let status = |n: usize| format!("serving /metrics; {n} profile(s) running");
    crate::notify::ready(&status(daemon.running.len()));
    let watchdog = crate::notify::spawn_watchdog();

    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading configuration");
                crate::notify::reloading();
                let _ = daemon.reload(&opts.config_path, &mut current);
                crate::notify::ready(&status(daemon.running.len()));
            }
            Some(reply) = reload_rx.recv() => {
                tracing::info!("POST /-/reload: reloading configuration");
                crate::notify::reloading();
                let _ = reply.send(daemon.reload(&opts.config_path, &mut current));
                crate::notify::ready(&status(daemon.running.len()));
            }
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); break; }
        }
    }

    // Drain: stop every profile, give in-flight requests the drain time, then stop serving.
    state.ready.store(false, Ordering::Relaxed);
    crate::notify::stopping();
    if let Some(w) = watchdog {
        w.abort();
    }
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
    server_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), server_task).await;
    tracing::info!("stopped");
    Ok(())
}

/// Pauses or resumes traffic as `file` exists or not; an unreadable directory changes
/// nothing (a kill switch must not flip on an error) and is logged once in a row.
fn look_for_pause_file(file: &Path, pause: &Pause, failing: &mut bool) {
    let found = file.try_exists();
    let was_failing = std::mem::replace(failing, found.is_err());
    match found {
        Ok(present) if present != pause.held_by(PauseSource::File) => {
            pause.set(PauseSource::File, present);
            let file = file.display();
            if present {
                tracing::warn!(%file, "pause file present: all traffic paused");
            } else if pause.is_paused() {
                tracing::warn!(%file, "pause file removed; still paused by POST /-/pause");
            } else {
                tracing::warn!(%file, "pause file removed: traffic resumed");
            }
        }
        Ok(_) => {}
        Err(e) if !was_failing => {
            tracing::warn!(file = %file.display(), error = %e, "cannot tell whether the pause file exists")
        }
        Err(_) => {}
    }
}

async fn watch_pause_file(file: PathBuf, pause: Pause, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(PAUSE_FILE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => look_for_pause_file(&file, &pause, &mut failing),
            _ = cancel.cancelled() => return,
        }
    }
}

/// Mirrors the kill switch into `loadtide_paused`.
async fn export_pause(pause: Pause, metrics: Arc<Metrics>) {
    let mut changes = pause.subscribe();
    loop {
        metrics.set_paused(*changes.borrow_and_update());
        if changes.changed().await.is_err() {
            return;
        }
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
