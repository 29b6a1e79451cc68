//! The lean HTTP/1.1 path end to end, against a raw TCP server written here so that the
//! framing and closing behaviour is exactly what the test says: servers that close kept
//! connections without saying so, chunked and length-delimited bodies, and what arrives on
//! the wire.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use loadtide::oneshot::run_once;

#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    requests: AtomicU64,
    /// The first request's bytes as they arrived.
    first: Mutex<Vec<u8>>,
}

/// Answers GETs on 127.0.0.1:0; every `close_after` responses on a connection it closes it
/// without a `Connection: close` (as a server whose keep-alive timer fires does). Odd
/// requests get a chunked body, even ones a length-delimited one.
async fn server(close_after: u64) -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            state.connections.fetch_add(1, Ordering::Relaxed);
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut served = 0;
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let n = state.requests.fetch_add(1, Ordering::Relaxed);
                    if n == 0 {
                        *state.first.lock().unwrap() = buf[..end + 4].to_vec();
                    }
                    buf.drain(..end + 4);
                    let reply: &[u8] = if n % 2 == 1 {
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
                    };
                    if tcp.write_all(reply).await.is_err() {
                        return;
                    }
                    served += 1;
                    if served == close_after {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

fn profile(port: u16, users: u32, requests: u64) -> Arc<loadtide::config::Profile> {
    common::cli::load_profile(
        &format!(
            "[targets.t]\nurl = \"http://127.0.0.1:{port}\"\ntimeout = \"2s\"\n\
             headers = {{ x-team = \"checkout\" }}\n\
             [[targets.t.endpoints]]\nname = \"e\"\npath = \"/hi?x=1\"\nbody_contains = \"o w\"\n\
             [profiles.p]\ntarget = \"t\"\nusers = {users}\nspawn_rate = 1000\nrequests = {requests}\n"
        ),
        &[],
    )
}

/// A kept connection the server closed without a word is noticed (or the request, a GET,
/// is sent once more on a new connection): no request fails for it.
#[tokio::test]
async fn connections_closed_by_the_server_between_requests_cost_no_errors() {
    let (port, seen) = server(3).await;
    let (s, _) = run_once(profile(port, 2, 300), false).await;
    assert_eq!((s.requests, s.errors), (300, 0), "{:?}", s.error_kinds);
    assert_eq!(seen.requests.load(Ordering::Relaxed), 300, "each sent once");
    // 300 requests, 3 per connection.
    assert!(
        seen.connections.load(Ordering::Relaxed) >= 100,
        "{} connections",
        seen.connections.load(Ordering::Relaxed)
    );
    assert_eq!(
        s.bytes_received,
        300 * 11,
        "both framings' bodies are counted"
    );
}

/// Kept connections carry every request when the server keeps them, whatever the framing;
/// the request line and headers arrive as the config writes them.
#[tokio::test]
async fn kept_connections_carry_every_request_and_the_request_is_as_configured() {
    let (port, seen) = server(u64::MAX).await;
    let (s, _) = run_once(profile(port, 4, 400), false).await;
    assert_eq!((s.requests, s.errors), (400, 0), "{:?}", s.error_kinds);
    assert_eq!(seen.connections.load(Ordering::Relaxed), 4, "one per user");
    let first = String::from_utf8(seen.first.lock().unwrap().clone()).unwrap();
    assert!(first.starts_with("GET /hi?x=1 HTTP/1.1\r\n"), "{first}");
    let lower = first.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
        "{first}"
    );
    assert!(lower.contains("\r\nx-team: checkout\r\n"), "{first}");
    assert!(lower.contains("\r\nuser-agent: loadtide/"), "{first}");
    assert!(
        !lower.contains("content-length"),
        "a GET without a body: {first}"
    );
}
