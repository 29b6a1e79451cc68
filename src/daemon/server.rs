//! The daemon's HTTP surface: `/metrics` (Prometheus text format), `/-/healthy`, `/-/ready`,
//! the status page on `/` and, only with `--web.enable-lifecycle`, `POST /-/reload`,
//! `/-/pause` and `/-/resume`; all of it behind the web config's TLS and basic auth when one
//! is given. It reads the registry, a status snapshot and the kill switch; it never reaches
//! into the engine.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use http::{HeaderValue, Method, Request};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::basic_auth::BasicAuth;
use crate::httpserve::{response, serve_tls, HttpResponse, Protocols};
use crate::metrics::openmetrics;
use crate::metrics::Metrics;
use crate::pause::{Pause, PauseSource};

/// A reload request from `POST /-/reload`, answered with the result.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    pub lifecycle: bool,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Profile name and a one-line description, for the landing page.
    pub profiles: RwLock<Vec<(String, String)>>,
    /// Every request must pass it, when set (the web config's `basic_auth_users`).
    pub auth: Option<Arc<BasicAuth>>,
    /// The kill switch, and the file that also holds it (for messages).
    pub pause: Pause,
    pub pause_file: Option<PathBuf>,
    /// Each profile's switches and achieved rate; the control API (served only with
    /// `--web.enable-control-api`) changes them.
    pub controls: Arc<super::control::Controls>,
    pub control_api: bool,
    /// The profiles' recent totals, for the status page.
    pub history: Arc<super::status::StatusHistory>,
}

/// Serves until `cancel` fires; over TLS when `tls` is given.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ServerState>,
    cancel: CancellationToken,
) {
    serve_tls(
        listener,
        tls,
        Protocols::Http1,
        cancel,
        Arc::new(move |req: Request<Incoming>| handle(state.clone(), req)),
    )
    .await;
}

async fn handle(state: Arc<ServerState>, req: Request<Incoming>) -> HttpResponse {
    if let Some(auth) = &state.auth {
        if !auth
            .allows(req.headers().get(http::header::AUTHORIZATION))
            .await
        {
            let mut r = response(401, "text/plain", "Unauthorized\n");
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"loadtide\""),
            );
            return r;
        }
    }
    match (req.method(), req.uri().path()) {
        // OpenMetrics (with exemplars) when the scraper asks for it, as Prometheus does.
        (&Method::GET, "/metrics") if openmetrics::wanted(accept(&req)) => response(
            200,
            openmetrics::CONTENT_TYPE,
            state.metrics.render_openmetrics(),
        ),
        (&Method::GET, "/metrics") => response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        (_, path) if path == "/api/v1/profiles" || path.starts_with("/api/v1/profiles/") => {
            match state.control_api {
                true => super::control_api::handle(&state.controls, req).await,
                false => response(
                    404,
                    "text/plain",
                    "the control API is off; start with --web.enable-control-api\n",
                ),
            }
        }
        (&Method::GET | &Method::HEAD, "/-/healthy") => {
            response(200, "text/plain", "loadtide is Healthy.\n")
        }
        (&Method::GET | &Method::HEAD, "/-/ready") => {
            if state.ready.load(Ordering::Relaxed) {
                response(200, "text/plain", "loadtide is Ready.\n")
            } else {
                response(503, "text/plain", "loadtide is not ready.\n")
            }
        }
        (&Method::POST | &Method::PUT, "/-/reload") if state.lifecycle => {
            let (tx, rx) = oneshot::channel();
            if state.reload.send(tx).await.is_err() {
                return response(503, "text/plain", "shutting down\n");
            }
            match rx.await {
                Ok(Ok(())) => response(200, "text/plain", "config reloaded\n"),
                Ok(Err(e)) => {
                    response(500, "text/plain", format!("failed to reload config: {e}\n"))
                }
                Err(_) => response(503, "text/plain", "shutting down\n"),
            }
        }
        (&Method::POST | &Method::PUT, "/-/pause") if state.lifecycle => {
            if state.pause.set(PauseSource::Api, true) {
                tracing::warn!("POST /-/pause: all traffic paused");
            }
            response(200, "text/plain", "traffic paused\n")
        }
        (&Method::POST | &Method::PUT, "/-/resume") if state.lifecycle => {
            if state.pause.set(PauseSource::Api, false) {
                tracing::warn!("POST /-/resume: traffic resumed");
            }
            match (&state.pause_file, state.pause.held_by(PauseSource::File)) {
                (Some(file), true) => response(
                    409,
                    "text/plain",
                    format!(
                        "still paused: the pause file {} exists; remove it to resume\n",
                        file.display()
                    ),
                ),
                _ => response(200, "text/plain", "traffic resumed\n"),
            }
        }
        (_, "/-/reload" | "/-/pause" | "/-/resume") if state.lifecycle => response(
            405,
            "text/plain",
            "This endpoint requires a POST request.\n",
        ),
        (_, "/-/reload" | "/-/pause" | "/-/resume") => response(
            403,
            "text/plain",
            "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n",
        ),
        (&Method::GET, "/") => response(
            200,
            "text/html; charset=utf-8",
            super::status_page::render(&state),
        ),
        _ => response(404, "text/plain", "not found\n"),
    }
}

fn accept(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
}
