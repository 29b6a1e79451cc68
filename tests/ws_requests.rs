//! WebSocket request/reply targets end to end: `loadtide run` against a WebSocket server this
//! test starts on 127.0.0.1 (tokio-tungstenite, on a runtime of its own thread), which answers
//! each message with `echo:` and the message, counts connections and messages, and records
//! the upgrade request's path and headers. A `ws://` target with endpoints runs through the
//! engine's `Transport` like any other protocol, so both models, checks and the summary work.

#![allow(clippy::unwrap_used)]
// tungstenite's handshake callback returns its own Result type, whose error is a response.
#![allow(clippy::result_large_err)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;

use common::cli::{assert_refused, endpoint, run_profile, Out};
use serde_json::Value;

#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    messages: AtomicU64,
    /// The upgrade requests' path and query, and their `x-token` header.
    upgrades: Mutex<Vec<(String, Option<String>)>>,
}

/// Answers `slow` after 500 ms, closes on `bye`, echoes anything else as `echo:<message>`.
/// An upgrade to `/nope` is answered 404.
struct WsServer {
    port: u16,
    seen: Arc<Seen>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WsServer {
    fn start() -> WsServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let state = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(serve(tcp, state.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        WsServer {
            port,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(tcp: tokio::net::TcpStream, seen: Arc<Seen>) {
    let record = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let token = req
            .headers()
            .get("x-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        seen.upgrades.lock().unwrap().push((path.clone(), token));
        if path == "/nope" {
            let mut refused = ErrorResponse::new(None);
            *refused.status_mut() = http::StatusCode::NOT_FOUND;
            return Err(refused);
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, record).await else {
        return;
    };
    seen.connections.fetch_add(1, Ordering::Relaxed);
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        seen.messages.fetch_add(1, Ordering::Relaxed);
        match text.as_str() {
            "bye" => {
                let _ = ws.close(None).await;
                return;
            }
            "slow" => tokio::time::sleep(Duration::from_millis(500)).await,
            _ => {}
        }
        if ws
            .send(Message::text(format!("echo:{}", text.as_str())))
            .await
            .is_err()
        {
            return;
        }
    }
}

fn config(url: &str, endpoints: &str, load: &str) -> String {
    format!(
        "[targets.chat]\nurl = \"{url}\"\ntimeout = \"2s\"\nmax_connections = 4\n\
         headers = {{ x-token = \"t0k3n\" }}\n{endpoints}\n\
         [profiles.load]\ntarget = \"chat\"\n{load}\n"
    )
}

fn run(dir: &Path, toml: &str) -> (Out, Value) {
    let (out, summary) = run_profile(dir, toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    (out, s)
}

const ENDPOINTS: &str = r#"
[[targets.chat.endpoints]]
name = "hello"
body = '{"n": {{ seq() }}}'
body_contains = "echo:{\"n\""
weight = 3
[[targets.chat.endpoints]]
name = "ping"
body = "ping"
body_contains = "pong"
"#;

#[test]
fn each_request_is_a_message_and_its_reply_in_the_open_model() {
    let server = WsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/chat?room=7");
    let (out, s) = run(
        dir.path(),
        &config(&url, ENDPOINTS, "rate = 200\nrequests = 200"),
    );
    assert_eq!(out.code, Some(0), "no thresholds: {out:?}");
    // Every request not dropped reached the server.
    let requests = common::cli::sent_of(&s, 200);
    assert_eq!(server.seen.messages.load(Ordering::Relaxed), requests);
    let (hello, ping) = (endpoint(&s, "hello"), endpoint(&s, "ping"));
    assert_eq!(hello["method"], "MESSAGE", "{s:#}");
    assert_eq!(hello["errors"], 0, "{s:#}");
    // "echo:ping" lacks "pong": each is a check error, the connection stays up.
    assert_eq!(ping["errors"], ping["requests"], "{s:#}");
    assert_eq!(s["error_kinds"]["check"], ping["requests"], "{s:#}");
    assert_eq!(s["status_codes"]["ok"], requests, "{s:#}");
    // Pooled connections, at most max_connections of them, each upgraded at the URL's path
    // and query with the target's headers.
    let connections = server.seen.connections.load(Ordering::Relaxed);
    assert!((1..=4).contains(&connections), "{connections} connections");
    let upgrades = server.seen.upgrades.lock().unwrap().clone();
    assert!(
        upgrades
            .iter()
            .all(|(p, t)| p == "/chat?room=7" && t.as_deref() == Some("t0k3n")),
        "{upgrades:?}"
    );
    // "echo:" plus the message came back for each request.
    let received = s["bytes_received"].as_u64().unwrap();
    assert!(received >= requests * 5, "{s:#}");
}

#[test]
fn closed_model_users_keep_their_connection_and_failures_are_classified() {
    let server = WsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/ws");
    let (out, s) = run(
        dir.path(),
        &config(
            &url,
            ENDPOINTS,
            "users = 3\nspawn_rate = 1000\nrequests = 90",
        ),
    );
    assert_eq!(s["requests"], 90, "{out:?}");
    assert_eq!(server.seen.connections.load(Ordering::Relaxed), 3);

    // A reply later than the timeout: `timeout`, and the connection is not reused.
    let slow = "[[targets.chat.endpoints]]\nname = \"slow\"\nbody = \"slow\"\n";
    let toml = config(&url, slow, "users = 2\nrequests = 6").replace("\"2s\"", "\"150ms\"");
    let (_, s) = run(dir.path(), &toml);
    assert_eq!(s["error_kinds"]["timeout"], 6, "{s:#}");
    // The server closes instead of answering: `reset`, and the next request reconnects.
    let before = server.seen.connections.load(Ordering::Relaxed);
    let bye = "[[targets.chat.endpoints]]\nname = \"bye\"\nbody = \"bye\"\n";
    let (_, s) = run(dir.path(), &config(&url, bye, "users = 1\nrequests = 5"));
    assert_eq!(s["error_kinds"]["reset"], 5, "{s:#}");
    assert_eq!(server.seen.connections.load(Ordering::Relaxed), before + 5);
    // An upgrade the server refuses is its status, counted as a `status` error.
    let (_, s) = run(
        dir.path(),
        &config(&server.url("/nope"), ENDPOINTS, "users = 1\nrequests = 4"),
    );
    assert_eq!(s["status_codes"]["404"], 4, "{s:#}");
    assert_eq!(s["error_kinds"]["status"], 4, "{s:#}");
}

#[test]
fn bad_websocket_request_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = "ws://127.0.0.1:9/ws";
    let ep = |body: &str| format!("[[targets.chat.endpoints]]\nname = \"a\"\n{body}\n");
    let load = "rate = 1\nrequests = 1";
    let cases = [
        (
            config(url, &ep(""), load),
            "targets.chat.endpoints[0].body",
            "sends its body as one message",
        ),
        (
            config(url, &ep("body = \"x\"\nmethod = \"POST\""), load),
            "targets.chat.endpoints[0].method",
            "sends its `body` as one message",
        ),
        (
            config(url, &ep("body = \"x\"\npath = \"/other\""), load),
            "targets.chat.endpoints[0].path",
            "sends its `body` as one message",
        ),
        (
            config(url, &ep("body = \"{{ nope(\""), load),
            "targets.chat.endpoints[0].body",
            "invalid template",
        ),
        (
            config(url, &ep("body = \"x\""), load).replace(
                "[profiles",
                "[targets.chat.websocket]\nmessage = \"m\"\n[profiles",
            ),
            "targets.chat.websocket",
            "the websocket table is for a message stream",
        ),
        (
            config(
                url,
                &ep("body = \"x\""),
                "connections = 2\nmessage_rate = 1",
            ),
            "profiles.load.connections",
            "only for WebSocket message streams",
        ),
    ];
    assert_refused(dir.path(), &cases);
}
