//! loadtide's built-in demo target: a small HTTP API on loopback with realistic, varied
//! latency and a trickle of errors, plus a WebSocket echo on `/ws` (`demo/ws.rs`) and a gRPC
//! Greeter over h2c on the same port (`demo/grpc.rs`), so the bundled config shows live
//! traffic with nothing else running. Started by `[demo_target]`
//! in a config or by `loadtide demo-target`.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::httpserve::{response, HttpResponse, Protocols};

mod grpc;
mod ws;

/// Serves the demo API on `listener` until `cancel` fires.
pub async fn run(listener: TcpListener, cancel: CancellationToken) {
    serve_tls(listener, None, cancel).await
}

/// Like `run`, over TLS when `tls` is given (tests of grpcs:// and https:// targets; offer
/// ALPN h2 in it for gRPC).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cancel: CancellationToken,
) {
    let stop = cancel.clone();
    crate::httpserve::serve_tls(
        listener,
        tls,
        Protocols::WithH2c,
        cancel,
        Arc::new(move |req: Request<Incoming>| {
            let stop = stop.clone();
            async move {
                if grpc::is_grpc(&req) {
                    return grpc::call(req).await;
                }
                if req.uri().path() == "/ws" {
                    return grpc::boxed(ws::upgrade(req, stop));
                }
                let bearer = req
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .is_some_and(|t| t.starts_with("demo-"));
                grpc::boxed(
                    handle(req.method().clone(), req.uri().path().to_string(), bearer).await,
                )
            }
        }),
    )
    .await;
}

/// A delay between `lo` and `hi` milliseconds, skewed towards `lo` like real service times.
fn service_time(lo: u64, hi: u64) -> Duration {
    let u = fastrand::f64();
    Duration::from_micros(lo * 1000 + ((hi - lo) as f64 * 1000.0 * u * u * u) as u64)
}

/// `bearer`: the request carries a token issued by `/api/login`.
async fn handle(method: Method, path: String, bearer: bool) -> HttpResponse {
    match (method, path.as_str()) {
        (Method::GET, "/") => response(200, "text/plain", "loadtide demo target\n"),
        (Method::GET, "/health") => response(200, "text/plain", "ok\n"),
        (Method::GET, "/api/items") => {
            tokio::time::sleep(service_time(2, 40)).await;
            response(
                200,
                "application/json",
                r#"{"items":[{"id":1,"name":"tide table"},{"id":2,"name":"buoy"}]}"#,
            )
        }
        (Method::POST, "/api/orders") => {
            tokio::time::sleep(service_time(5, 120)).await;
            if fastrand::u32(0..100) == 0 {
                response(503, "application/json", r#"{"error":"try again"}"#)
            } else {
                response(201, "application/json", r#"{"order":"accepted"}"#)
            }
        }
        // A login that hands out a token, and an account page that wants it: for scenarios.
        (Method::POST, "/api/login") => {
            tokio::time::sleep(service_time(10, 60)).await;
            let token = format!(r#"{{"token":"demo-{:016x}"}}"#, fastrand::u64(..));
            response(200, "application/json", token)
        }
        (Method::GET, "/api/account") if bearer => {
            tokio::time::sleep(service_time(2, 30)).await;
            response(200, "application/json", r#"{"ok":true,"balance":42}"#)
        }
        (Method::GET, "/api/account") => {
            response(401, "application/json", r#"{"error":"log in first"}"#)
        }
        _ => response(404, "text/plain", "not found\n"),
    }
}
