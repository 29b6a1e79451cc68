//! WebSocket load against real servers on 127.0.0.1: a scripted WebSocket server built here
//! (tokio-tungstenite `accept_async`, plain or TLS with a self-signed certificate) that counts
//! the messages it receives per connection, and loadtide's own demo target. Each test runs a
//! WebSocket profile in-process for a bounded time, then compares the scraped `/metrics`
//! text (or the one-shot summary) with what the server saw.
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use common::scrape::Scrape;

use loadtide::config::{Load, Profile, Scheme};
use loadtide::engine::{run_profile, RunSpec};
use loadtide::metrics::{Metrics, ProfileRecorder};
use loadtide::pause::{Pause, PauseSource};

/// The timing assertions assume the tests of this file do not run at the same time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// No run in this file should take anywhere near this long.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// How the test server answers each text or binary message.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Echo,
    /// Echoes every second message (the 2nd, 4th, ...) this much later, the others at once,
    /// so replies overtake each other.
    DelayEveryOther(Duration),
    /// Reads and counts, never answers.
    Never,
    /// Echoes, and closes the connection (Close frame) after this many messages.
    CloseAfter(u64),
}

#[derive(Default)]
struct Seen {
    /// Messages received, per connection in accept order.
    per_connection: Mutex<Vec<u64>>,
    /// Close frames received from the client.
    closes: AtomicU64,
}

struct WsServer {
    port: u16,
    seen: Arc<Seen>,
    stop: CancellationToken,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl WsServer {
    async fn start(reply: Reply, tls: Option<tokio_rustls::TlsAcceptor>) -> WsServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let stop = CancellationToken::new();
        let (state, cancel) = (seen.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    r = listener.accept() => match r { Ok((tcp, _)) => tcp, Err(_) => return },
                    _ = cancel.cancelled() => return,
                };
                let idx = {
                    let mut v = state.per_connection.lock().unwrap();
                    v.push(0);
                    v.len() - 1
                };
                let (state, tls, cancel) = (state.clone(), tls.clone(), cancel.clone());
                tokio::spawn(async move {
                    let conn = async {
                        match tls {
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(tcp).await {
                                    serve(stream, reply, idx, &state).await;
                                }
                            }
                            None => serve(tcp, reply, idx, &state).await,
                        }
                    };
                    tokio::select! {
                        _ = conn => {}
                        _ = cancel.cancelled() => {}
                    }
                });
            }
        });
        WsServer { port, seen, stop }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn per_connection(&self) -> Vec<u64> {
        self.seen.per_connection.lock().unwrap().clone()
    }

    fn received(&self) -> u64 {
        self.per_connection().iter().sum()
    }

    fn closes(&self) -> u64 {
        self.seen.closes.load(Ordering::Relaxed)
    }
}

async fn serve<S>(stream: S, reply: Reply, idx: usize, seen: &Seen)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    let mut n = 0u64;
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                n += 1;
                seen.per_connection.lock().unwrap()[idx] += 1;
                match reply {
                    Reply::Echo => {
                        let _ = tx.send(msg);
                    }
                    Reply::DelayEveryOther(d) if n.is_multiple_of(2) => {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(d).await;
                            let _ = tx.send(msg);
                        });
                    }
                    Reply::DelayEveryOther(_) => {
                        let _ = tx.send(msg);
                    }
                    Reply::Never => {}
                    Reply::CloseAfter(k) => {
                        let _ = tx.send(msg);
                        if n == k {
                            let _ = tx.send(Message::Close(None));
                        }
                    }
                }
            }
            // Keep reading: the next read sends tungstenite's answering Close and ends.
            Message::Close(_) => {
                seen.closes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Loads `toml` as a config file and returns its profile `p`.
fn load(toml: &str) -> Arc<Profile> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, toml).unwrap();
    let config = loadtide::config::load(&path)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n---\n{toml}"));
    config.profile("p").unwrap().clone()
}

/// Target `t` at `url` (plus `target` keys and `[targets.t.websocket]` keys) and profile `p`.
fn ws_profile(url: &str, target: &str, websocket: &str, profile: &str) -> Arc<Profile> {
    load(&format!(
        "[targets.t]\nurl = \"{url}\"\n{target}\n[targets.t.websocket]\n{websocket}\n\
         [profiles.p]\ntarget = \"t\"\n{profile}\n"
    ))
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(RUN_LIMIT, f)
        .await
        .expect("the run did not end in time")
}

/// Runs `profile` for `length` (then its drain) and returns the metrics exposition.
async fn run(profile: Arc<Profile>, length: Duration) -> WsScrape {
    let metrics = Metrics::new();
    let recorder = ProfileRecorder::new(&metrics, &profile, None);
    let end = bounded(run_profile(
        profile,
        RunSpec::once(Some(length)),
        recorder,
        CancellationToken::new(),
        Duration::from_secs(10),
    ))
    .await;
    assert_eq!(end.abandoned, 0, "every connection ended within the drain");
    let text = String::from_utf8(metrics.render()).unwrap();
    WsScrape(Scrape::parse(&text))
}

/// A `/metrics` text, read by metric name and label values.
struct WsScrape(Scrape);

impl WsScrape {
    /// The sum of the samples of `name` whose labels include all of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0.sum(name, labels)
    }

    fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.get(name, labels) as u64
    }

    fn sent(&self) -> u64 {
        self.count("loadtide_ws_messages_total", &[("direction", "sent")])
    }

    fn received(&self) -> u64 {
        self.count("loadtide_ws_messages_total", &[("direction", "received")])
    }

    fn replies(&self) -> u64 {
        self.count("loadtide_ws_message_rtt_seconds_count", &[])
    }

    fn errors(&self, kind: &str) -> u64 {
        self.count("loadtide_ws_errors_total", &[("kind", kind)])
    }

    fn connects(&self) -> u64 {
        self.count("loadtide_ws_connect_duration_seconds_count", &[])
    }

    fn summary(&self) -> String {
        self.0
            .text
            .lines()
            .filter(|l| l.starts_with("loadtide_ws_") && !l.contains("_bucket"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const KINDS: [&str; 7] = [
    "connect",
    "handshake",
    "tls",
    "closed",
    "timeout",
    "protocol",
    "send",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_counts_match_the_server_and_every_reply_is_timed() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::Echo, None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"2s\"",
        "",
        "connections = 3\nmessage_rate = 20",
    );

    let m = run(p, Duration::from_secs(2)).await;
    eprintln!("{}", m.summary());

    let sent = m.sent();
    // 3 connections × 20/s × 2 s, less what a connection's random phase pushes past the end.
    assert!((100..=120).contains(&sent), "sent {sent}");
    assert_eq!(sent, server.received(), "what the server received");
    assert_eq!(m.received(), sent, "every message echoed");
    assert_eq!(m.replies(), sent, "one round trip per reply");
    for kind in KINDS {
        assert_eq!(m.errors(kind), 0, "errors of kind {kind}");
    }
    let per = server.per_connection();
    assert_eq!(per.len(), 3, "one connection per pool member: {per:?}");
    assert!(per.iter().all(|&n| (33..=40).contains(&n)), "{per:?}");
    assert_eq!(m.connects(), 3);
    assert_eq!(
        server.closes(),
        3,
        "every connection ends with a Close frame"
    );
    for state in ["open", "connecting"] {
        assert_eq!(
            m.get("loadtide_ws_connections", &[("state", state)]),
            0.0,
            "{state} after the run"
        );
    }
    let rtt_sum = m.get("loadtide_ws_message_rtt_seconds_sum", &[]);
    assert!(
        rtt_sum > 0.0 && rtt_sum / (sent as f64) < 0.1,
        "mean RTT {rtt_sum}/{sent}"
    );
    assert!(m.count("loadtide_bytes_sent_total", &[("profile", "p")]) >= sent * 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_pair_by_correlation_id_when_the_server_answers_out_of_order() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::DelayEveryOther(Duration::from_millis(150)), None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"2s\"\nbuckets = [0.025, 0.1, 0.25, 1]",
        "message = '{\"id\": {{ seq }}, \"text\": \"hi\"}'\ncorrelate = \"id\"",
        "connections = 2\nmessage_rate = 20",
    );

    let m = run(p, Duration::from_secs(2)).await;
    eprintln!("{}", m.summary());

    let sent = m.sent();
    assert!(sent >= 60, "sent {sent}");
    assert_eq!(sent, server.received());
    assert_eq!(m.replies(), sent, "every reply paired with its own message");
    assert_eq!(m.errors("timeout"), 0);
    // Every other message waits 150 ms, the rest about 1 ms: half the round trips are below
    // 25 ms, none between 25 and 100 ms. Pairing by arrival order instead would pair most
    // replies with the message before theirs and give round trips of 50 to 100 ms.
    let bucket = |le| m.get("loadtide_ws_message_rtt_seconds_bucket", &[("le", le)]) as u64;
    let (fast, below_100ms, within) = (bucket("0.025"), bucket("0.1"), bucket("0.25"));
    let share = fast as f64 / sent as f64;
    assert!((0.4..=0.6).contains(&share), "{fast} of {sent} below 25 ms");
    assert_eq!(below_100ms, fast, "none between 25 and 100 ms");
    assert_eq!(within, sent, "the delayed ones take 150 ms, not more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_gives_timeout_errors() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::Never, None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"300ms\"",
        "",
        "connections = 2\nmessage_rate = 10",
    );

    let m = run(p, Duration::from_millis(1_500)).await;
    eprintln!("{}", m.summary());

    let sent = m.sent();
    assert!(sent >= 20, "sent {sent}");
    assert_eq!(sent, server.received());
    assert_eq!((m.received(), m.replies()), (0, 0));
    // The run waits for what it is owed, so every message ends as a timeout.
    assert_eq!(m.errors("timeout"), sent);
    assert_eq!(m.errors("closed"), 0, "the connections stayed up");
    assert_eq!(m.connects(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_reopened_and_counted() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::CloseAfter(5), None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"1s\"",
        "",
        "connections = 2\nmessage_rate = 20",
    );

    let m = run(p, Duration::from_secs(3)).await;
    eprintln!("{}", m.summary());

    let closed = m.errors("closed") + m.errors("send");
    assert!(m.errors("closed") > 0, "the server's closes are counted");
    // Each connection lasts 5 messages (~250 ms) and reopens 100 ms later: several times
    // each in 3 s.
    let per = server.per_connection();
    assert!(per.len() >= 6, "reconnected: {per:?}");
    assert_eq!(m.connects(), per.len() as u64);
    assert!(
        closed >= per.len() as u64 - 2,
        "{closed} closes for {per:?}"
    );
    assert!(per.iter().all(|&n| n <= 6), "{per:?}");
    // Traffic went on after the first connections were dropped.
    assert!(m.sent() >= 30, "sent {}", m.sent());
    assert!(server.received() <= m.sent());
    assert!(m.replies() >= server.received() - per.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_connections_stay_open_and_send_nothing_until_resumed() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::Echo, None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"2s\"",
        "",
        "connections = 2\nmessage_rate = 50",
    );
    let metrics = Metrics::new();
    let recorder = ProfileRecorder::new(&metrics, &p, None);
    let pause = Pause::default();
    let spec = RunSpec {
        pause: pause.clone(),
        ..RunSpec::once(Some(Duration::from_secs(3)))
    };
    let run = tokio::spawn(run_profile(
        p,
        spec,
        recorder,
        CancellationToken::new(),
        Duration::from_secs(10),
    ));
    tokio::time::sleep(Duration::from_millis(800)).await;
    pause.set(PauseSource::Api, true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.received();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.received(), before, "sent while paused");
    let m = WsScrape(Scrape::parse(&String::from_utf8(metrics.render()).unwrap()));
    assert_eq!(m.get("loadtide_ws_connections", &[("state", "open")]), 2.0);
    assert_eq!(m.sent(), before, "paused messages are not counted as sent");
    pause.set(PauseSource::Api, false);
    let end = bounded(run).await.unwrap();
    assert_eq!(end.abandoned, 0);
    let after = server.received();
    // About 2 × 50/s for 0.8 s before and 1 s after; nothing caught up for the pause.
    assert!((60..=90).contains(&before), "before the pause: {before}");
    assert!(
        (70..=110).contains(&(after - before)),
        "after: {}",
        after - before
    );
    assert_eq!(
        server.per_connection().len(),
        2,
        "the connections stayed open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_retried_with_exponential_backoff() {
    let _serial = SERIAL.lock().await;
    let port = common::refused_port();
    let p = ws_profile(
        &format!("ws://127.0.0.1:{port}/ws"),
        "timeout = \"1s\"",
        "",
        "connections = 1\nmessage_rate = 10",
    );

    let m = run(p, Duration::from_millis(1_600)).await;
    eprintln!("{}", m.summary());

    // Attempts at 0, 0.1, 0.3, 0.7 and 1.5 s: a fixed 100 ms pause would give 16, a busy
    // loop thousands.
    let attempts = m.errors("connect");
    assert!((4..=6).contains(&attempts), "{attempts} connect attempts");
    assert_eq!((m.sent(), m.connects()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_uses_tls_and_honours_insecure() {
    let _serial = SERIAL.lock().await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let server = WsServer::start(Reply::Echo, Some(acceptor)).await;
    let url = format!("wss://localhost:{}/ws", server.port);

    let trusting = ws_profile(
        &url,
        "timeout = \"2s\"\ninsecure = true",
        "",
        "connections = 2\nmessage_rate = 10",
    );
    assert_eq!(trusting.target.scheme, Scheme::Wss);
    let m = run(trusting, Duration::from_secs(1)).await;
    eprintln!("{}", m.summary());
    assert!(m.sent() >= 15, "sent {}", m.sent());
    assert_eq!(m.sent(), server.received());
    assert_eq!(m.replies(), m.sent());

    let before = server.received();
    let strict = ws_profile(
        &url,
        "timeout = \"2s\"",
        "",
        "connections = 1\nmessage_rate = 10",
    );
    let m = run(strict, Duration::from_millis(500)).await;
    eprintln!("{}", m.summary());
    assert!(m.errors("tls") >= 1, "a self-signed certificate is refused");
    assert_eq!((m.sent(), m.connects()), (0, 0));
    assert_eq!(server.received(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_summary_counts_messages_round_trips_and_error_kinds() {
    let _serial = SERIAL.lock().await;
    let server = WsServer::start(Reply::Echo, None).await;
    let p = ws_profile(
        &server.url(),
        "timeout = \"1s\"",
        "message = 'ping {{ seq }} {{ uuid }} {{ timestamp_ms }}'",
        "connections = 2\nmessage_rate = 10\nduration = \"1s\"\nthresholds = [\"p99<500ms\", \"error_rate<1%\"]",
    );

    let (s, passed) = bounded(loadtide::oneshot::run_once(p, false)).await;
    eprintln!(
        "requests {} successes {} errors {} kinds {:?} latency {:?}",
        s.requests, s.successes, s.errors, s.error_kinds, s.latency
    );

    assert!(passed, "{:?}", s.thresholds);
    assert!(s.requests >= 15, "requests {}", s.requests);
    assert_eq!(
        s.requests,
        server.received(),
        "requests are the messages sent"
    );
    assert_eq!((s.successes, s.errors), (s.requests, 0));
    assert!(
        s.latency.p50 > 0.0 && s.latency.max < 0.5,
        "{:?}",
        s.latency
    );
    assert_eq!(s.endpoints.len(), 1);
    assert_eq!(
        (s.endpoints[0].name.as_str(), s.endpoints[0].method.as_str()),
        ("messages", "WS")
    );
    assert_eq!(s.endpoints[0].requests, s.requests);

    // A target that never answers: every message is a timeout error.
    let silent = WsServer::start(Reply::Never, None).await;
    let p = ws_profile(
        &silent.url(),
        "timeout = \"200ms\"",
        "",
        "connections = 1\nmessage_rate = 10\nduration = \"500ms\"\nthresholds = [\"error_rate<1%\"]",
    );
    let (s, passed) = bounded(loadtide::oneshot::run_once(p, false)).await;
    assert!(!passed);
    assert!(s.requests >= 3);
    assert_eq!(s.error_kinds.get("timeout"), Some(&s.requests));
    assert_eq!(s.error_rate, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_target_echoes_on_ws() {
    let _serial = SERIAL.lock().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = CancellationToken::new();
    tokio::spawn(loadtide::demo::run(listener, stop.clone()));
    let p = ws_profile(
        &format!("ws://127.0.0.1:{port}/ws"),
        "timeout = \"2s\"",
        "message = '{\"id\": {{ seq }}}'\ncorrelate = \"id\"",
        "connections = 2\nmessage_rate = 10",
    );

    let m = run(p, Duration::from_secs(1)).await;
    stop.cancel();
    eprintln!("{}", m.summary());
    assert!(m.sent() >= 15, "sent {}", m.sent());
    assert_eq!(m.replies(), m.sent());
    for kind in KINDS {
        assert_eq!(m.errors(kind), 0, "errors of kind {kind}");
    }
}

#[test]
fn websocket_config_means_what_it_says() {
    let c = loadtide::config::load(std::path::Path::new(
        "tests/fixtures/config/good/websocket.toml",
    ))
    .unwrap();
    let chat = c.profile("chat").unwrap();
    let t = &chat.target;
    assert_eq!(t.scheme, Scheme::Wss);
    assert_eq!(t.authority(), "chat.staging.example.internal:8443");
    assert!(t.insecure && t.endpoints.is_empty());
    let ws = t.websocket.as_ref().unwrap();
    assert_eq!(ws.path, "/socket/?room=load", "the URL's path, exactly");
    assert_eq!(ws.correlate.as_deref(), Some("meta.id"));
    let first = ws.message.render(0);
    assert!(first.contains("\"seq\": 0"), "{first}");
    assert!(ws.correlation_key(&first).is_some());
    let Load::WebSocket {
        connections,
        message_rate,
    } = &chat.load
    else {
        panic!("a WebSocket load: {:?}", chat.load);
    };
    assert_eq!(*message_rate, 0.5);
    assert_eq!(connections.max_value(), 50.0);
    assert_eq!((chat.spawn_rate, chat.requests), (Some(5.0), Some(10_000)));

    let echo = c.profile("echo").unwrap();
    assert_eq!(echo.target.authority(), "[::1]:9000");
    let ws = echo.target.websocket.as_ref().unwrap();
    assert_eq!((ws.path.as_str(), ws.correlate.as_deref()), ("/", None));
    assert_eq!(ws.message.render(3), "{\"seq\": 3}");
}
