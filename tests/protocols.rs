//! HTTPS and HTTP/2 against real servers on 127.0.0.1: a TLS server with a self-signed
//! certificate (rcgen) and an HTTP/2 prior-knowledge (h2c) server, both built by the test.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use common::scrape::run_with_metrics;
use loadtide::oneshot::run_once;

/// Serves 200 on 127.0.0.1:0, over TLS (self-signed, ALPN h2 + http/1.1) or as h2c;
/// counts the requests that arrived as HTTP/2.
async fn server(tls: bool) -> (u16, Arc<AtomicU64>) {
    serve(tls.then(|| common::tls::self_signed(&[b"h2", b"http/1.1"]))).await
}

/// [`server`] with TLS by `acceptor`, when there is one.
async fn serve(acceptor: Option<tokio_rustls::TlsAcceptor>) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let h2_seen = Arc::new(AtomicU64::new(0));
    let seen = h2_seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    if req.version() == Version::HTTP_2 {
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                    async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"secure hello",
                        ))))
                    }
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        builder = builder.http2_only();
                        let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    (port, h2_seen)
}

fn profile(url: &str, extra: &str) -> Arc<loadtide::config::Profile> {
    common::cli::load_profile(
        &format!(
            "[targets.t]\nurl = \"{url}\"\ntimeout = \"2s\"\n{extra}\n[[targets.t.endpoints]]\nname = \"e\"\n\
             body_contains = \"hello\"\n[profiles.p]\ntarget = \"t\"\nusers = 4\nrequests = 200\n"
        ),
        &[],
    )
}

#[tokio::test]
async fn https_with_insecure_accepts_a_self_signed_certificate() {
    let (port, h2) = server(true).await;
    let (s, _) = run_once(
        profile(&format!("https://localhost:{port}"), "insecure = true"),
        false,
    )
    .await;
    assert_eq!((s.requests, s.errors), (200, 0), "{:?}", s.error_kinds);
    assert_eq!(s.status_codes["200"], 200);
    assert_eq!(
        h2.load(Ordering::Relaxed),
        0,
        "HTTP/1.1 unless http2 is asked for"
    );
}

#[tokio::test]
async fn https_without_insecure_rejects_a_self_signed_certificate_as_tls_error() {
    let (port, _) = server(true).await;
    let (s, _) = run_once(profile(&format!("https://localhost:{port}"), ""), false).await;
    assert_eq!(s.errors, s.requests);
    assert_eq!(
        s.error_kinds.get("tls"),
        Some(&s.requests),
        "{:?}",
        s.error_kinds
    );
}

#[tokio::test]
async fn https_with_ca_file_trusts_a_private_ca_and_still_checks_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::tls::ca_files(dir.path(), &["localhost"]);
    let (port, _) = serve(Some(common::tls::acceptor(&ca, &[b"http/1.1"]))).await;
    let ca_file = format!("ca_file = {:?}", ca.ca.to_str().unwrap());
    let (s, _) = run_once(
        profile(&format!("https://localhost:{port}"), &ca_file),
        false,
    )
    .await;
    assert_eq!((s.requests, s.errors), (200, 0), "{:?}", s.error_kinds);
    // The same CA, but the URL names a host the certificate does not: refused.
    let (s, _) = run_once(
        profile(&format!("https://127.0.0.1:{port}"), &ca_file),
        false,
    )
    .await;
    assert_eq!(
        s.error_kinds.get("tls"),
        Some(&s.requests),
        "{:?}",
        s.error_kinds
    );
}

#[tokio::test]
async fn http2_over_tls_negotiates_h2() {
    let (port, h2) = server(true).await;
    let (s, _) = run_once(
        profile(
            &format!("https://localhost:{port}"),
            "insecure = true\nhttp2 = true",
        ),
        false,
    )
    .await;
    assert_eq!((s.requests, s.errors), (200, 0), "{:?}", s.error_kinds);
    assert_eq!(
        h2.load(Ordering::Relaxed),
        200,
        "every request arrived as HTTP/2"
    );
}

#[tokio::test]
async fn http2_prior_knowledge_over_plain_http() {
    let (port, h2) = server(false).await;
    let (s, _) = run_once(
        profile(&format!("http://127.0.0.1:{port}"), "http2 = true"),
        false,
    )
    .await;
    assert_eq!((s.requests, s.errors), (200, 0), "{:?}", s.error_kinds);
    assert_eq!(h2.load(Ordering::Relaxed), 200);
}

#[tokio::test]
async fn phases_are_timed_and_the_certificate_expiry_is_exported() {
    let (port, _) = server(true).await;
    let s = run_with_metrics(profile(
        &format!("https://localhost:{port}"),
        "insecure = true",
    ))
    .await;
    let labels = |phase| [("profile", "p"), ("target", "t"), ("phase", phase)];
    let count = |phase| s.value("loadtide_request_phase_seconds_count", &labels(phase));
    // Up to 4 users, each on one keep-alive connection of its own: at most 4 connections
    // for 200 requests, each through all three connection phases.
    let connections = count("connect");
    assert!((1.0..=4.0).contains(&connections), "{connections}");
    for phase in ["dns", "tls"] {
        assert_eq!(count(phase), connections, "{phase}: new connections only");
    }
    for phase in ["first_byte", "body"] {
        assert_eq!(count(phase), 200.0, "{phase}: every request");
    }
    let first_byte = s.value("loadtide_request_phase_seconds_sum", &labels("first_byte"));
    assert!(first_byte > 0.0, "{first_byte}");
    assert_eq!(
        s.value(
            "loadtide_tls_cert_not_after_timestamp_seconds",
            &[("profile", "p"), ("target", "t")]
        ),
        common::tls::NOT_AFTER
    );
}

#[tokio::test]
async fn a_plain_target_has_no_tls_phase_and_no_certificate_series() {
    let (port, _) = server(false).await;
    let s = run_with_metrics(profile(&format!("http://127.0.0.1:{port}"), "http2 = true")).await;
    let count = |phase| {
        s.value(
            "loadtide_request_phase_seconds_count",
            &[("profile", "p"), ("phase", phase)],
        )
    };
    assert_eq!(count("tls"), 0.0);
    // One shared HTTP/2 connection (a race of the first users may open one more).
    assert!(
        (1.0..=4.0).contains(&count("connect")),
        "{}",
        count("connect")
    );
    assert_eq!(count("first_byte"), 200.0);
    assert!(s
        .get(
            "loadtide_tls_cert_not_after_timestamp_seconds",
            &[("profile", "p")]
        )
        .is_none());
}

/// Users starting together on an HTTP/2 target share one connection: the first handshake is
/// waited for instead of each user opening its own.
#[tokio::test]
async fn http2_users_starting_at_once_share_one_connection() {
    let (port, h2) = server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        format!(
            "[targets.t]\nurl = \"http://127.0.0.1:{port}\"\nhttp2 = true\n\
             [[targets.t.endpoints]]\nname = \"e\"\n\
             [profiles.p]\ntarget = \"t\"\nusers = 20\nspawn_rate = 1000\nrequests = 400\n"
        ),
    )
    .unwrap();
    let profile = loadtide::config::load(&path)
        .unwrap()
        .profile("p")
        .unwrap()
        .clone();
    let s = run_with_metrics(profile).await;
    assert_eq!(h2.load(Ordering::Relaxed), 400);
    let connects = s.value(
        "loadtide_request_phase_seconds_count",
        &[("profile", "p"), ("phase", "connect")],
    );
    assert_eq!(connects, 1.0, "one connection for 20 users");
}
