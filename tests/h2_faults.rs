//! HTTP/2 requests (and gRPC calls, which ride the same client) that the server ends with
//! RST_STREAM or a connection-wide GOAWAY, against a raw `h2` server on 127.0.0.1 built by
//! the test: each is classified by what the server did, never `other`, and the run goes on.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use h2::Reason;
use tokio::net::TcpListener;

use loadtide::oneshot::run_once;

/// How the server ends every request it gets.
#[derive(Clone, Copy)]
enum End {
    /// RST_STREAM with this reason.
    Reset(Reason),
    /// GOAWAY with this reason for the whole connection, the request left unanswered.
    GoAway(Reason),
}

/// An h2c server on 127.0.0.1:0 that ends each request as `end` says.
async fn server(end: End) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                // Held until the connection ends: a dropped one would reset its stream.
                let mut unanswered = Vec::new();
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    match end {
                        End::Reset(reason) => respond.send_reset(reason),
                        End::GoAway(reason) => {
                            conn.abrupt_shutdown(reason);
                            unanswered.push(respond);
                        }
                    }
                }
                drop(unanswered);
            });
        }
    });
    port
}

/// One user: with two, a second stream could reach the server after its GOAWAY, be refused
/// with the GOAWAY's reason (not cut off under a request) and count as another kind.
fn profile(url: &str, target: &str, endpoint: &str) -> Arc<loadtide::config::Profile> {
    let proto = include_str!("../config/examples/greeter.proto");
    common::cli::load_profile(
        &format!(
            "[targets.t]\nurl = \"{url}\"\ntimeout = \"2s\"\n{target}\n\
             [[targets.t.endpoints]]\nname = \"e\"\n{endpoint}\n\
             [profiles.p]\ntarget = \"t\"\nusers = 1\nrequests = 30\n"
        ),
        &[("greeter.proto", proto)],
    )
}

/// The error kinds of 30 HTTP/2 requests and of 30 gRPC calls to a server ending them as `end`.
async fn kinds(end: End) -> [std::collections::BTreeMap<String, u64>; 2] {
    let port = server(end).await;
    let http = profile(&format!("http://127.0.0.1:{port}"), "http2 = true", "");
    let grpc = profile(
        &format!("grpc://127.0.0.1:{port}"),
        "proto = \"greeter.proto\"",
        "rpc = \"loadtide.demo.Greeter/SayHello\"\nbody = '{\"name\": \"x\"}'",
    );
    let mut out = Vec::new();
    for p in [http, grpc] {
        let (s, _) = run_once(p, false).await;
        assert_eq!((s.requests, s.errors), (30, 30), "{:?}", s.error_kinds);
        out.push(s.error_kinds);
    }
    out.try_into().unwrap()
}

fn only(kind: &str) -> std::collections::BTreeMap<String, u64> {
    [(kind.to_string(), 30)].into()
}

#[tokio::test]
async fn a_stream_the_server_resets_is_a_reset() {
    for reason in [
        Reason::REFUSED_STREAM,
        Reason::INTERNAL_ERROR,
        Reason::CANCEL,
    ] {
        assert_eq!(
            kinds(End::Reset(reason)).await,
            [only("reset"), only("reset")],
            "{reason:?}"
        );
    }
}

/// A GOAWAY that closes the connection under a stream the server had accepted reaches the
/// client's stream as the connection's end (h2 reports a broken pipe; the reason stays with
/// the connection), so every reason is a `reset` here.
#[tokio::test]
async fn a_goaway_that_ends_the_connection_under_a_request_is_a_reset() {
    for reason in [
        Reason::NO_ERROR,
        Reason::ENHANCE_YOUR_CALM,
        Reason::PROTOCOL_ERROR,
    ] {
        assert_eq!(
            kinds(End::GoAway(reason)).await,
            [only("reset"), only("reset")],
            "{reason:?}"
        );
    }
}

#[tokio::test]
async fn a_stream_reset_saying_the_protocol_was_broken_is_a_protocol_error() {
    let want = [only("protocol"), only("protocol")];
    for reason in [Reason::PROTOCOL_ERROR, Reason::FRAME_SIZE_ERROR] {
        assert_eq!(kinds(End::Reset(reason)).await, want, "{reason:?}");
    }
}
