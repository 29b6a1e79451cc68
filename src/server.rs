//! The daemon's HTTP surface: `/metrics` (Prometheus text format), `/-/healthy`, `/-/ready`,
//! a landing page on `/` and, only with `--web.enable-lifecycle`, `POST /-/reload`. It reads
//! the registry and a status snapshot; it never reaches into the engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use http::{Method, Request};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::httpserve::{response, serve, HttpResponse};
use crate::metrics::Metrics;

/// A reload request from `POST /-/reload`, answered with the result.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

pub struct ServerState {
    pub metrics: Arc<Metrics>,
    pub ready: AtomicBool,
    pub lifecycle: bool,
    pub reload: mpsc::Sender<ReloadRequest>,
    /// Profile name and a one-line description, for the landing page.
    pub profiles: RwLock<Vec<(String, String)>>,
}

pub async fn run(listener: TcpListener, state: Arc<ServerState>, cancel: CancellationToken) {
    serve(
        listener,
        cancel,
        Arc::new(move |req: Request<Incoming>| handle(state.clone(), req)),
    )
    .await;
}

async fn handle(state: Arc<ServerState>, req: Request<Incoming>) -> HttpResponse {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => response(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
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
        (_, "/-/reload") if state.lifecycle => response(
            405,
            "text/plain",
            "This endpoint requires a POST request.\n",
        ),
        (_, "/-/reload") => response(
            403,
            "text/plain",
            "Lifecycle API is not enabled (start with --web.enable-lifecycle).\n",
        ),
        (&Method::GET, "/") => response(200, "text/html; charset=utf-8", landing(&state)),
        _ => response(404, "text/plain", "not found\n"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn landing(state: &ServerState) -> String {
    let rows: String = state
        .profiles
        .read()
        .expect("status lock poisoned")
        .iter()
        .map(|(name, description)| {
            let active = state
                .metrics
                .profile_active
                .with_label_values(&[name.as_str()])
                .get()
                == 1;
            let s = if active { "active" } else { "idle" };
            format!("<li><b>{s}</b> {}</li>", escape(description))
        })
        .collect();
    format!(
        "<!doctype html><html><head><title>loadtide</title></head><body><h1>loadtide {}</h1>\
         <p><a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\
         <h2>Profiles</h2><ul>{rows}</ul></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}
