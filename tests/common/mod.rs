//! A scripted HTTP/1.1 target for integration tests, on `127.0.0.1:0`. Each path can be given
//! its own behaviour (fast 200, fixed delay, a status code, a body, hang, reset), and the whole
//! server can stall periodically. It runs on a runtime of its own, on its own thread, so the
//! load generator under test never shares a scheduler with it; dropping the handle stops it
//! and cancels whatever it was still doing. It counts every request it received, in total and
//! per scripted path, so tests can compare what was sent with what arrived.

// Each test binary uses its own subset of this module.
#![allow(dead_code)]

pub mod capture;
pub mod cli;
pub mod daemon;
pub mod echo;
pub mod netns;
pub mod scrape;
pub mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};

/// What the server does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// 200 with the body `ok`, at once.
    Ok,
    /// 200 with the body `ok`, after this long.
    Delay(Duration),
    /// This status code, with the body `status <code>`.
    Status(u16),
    /// 200 with this body.
    Body(String),
    /// Never answers; the connection stays open until the client gives up.
    Hang,
    /// Reads the request, then closes the connection with a TCP RST and no response.
    Reset,
}

/// The whole server stops answering (no accepts, no responses) for `stall` every `every`,
/// the first stall starting `offset` after the server started. A request that arrives during a
/// stall is answered when the stall ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stall {
    pub every: Duration,
    pub stall: Duration,
    pub offset: Duration,
}

impl Stall {
    /// If `now` falls inside a stall, the instant that stall ends.
    fn until(&self, anchor: Instant, now: Instant) -> Option<Instant> {
        let first = anchor + self.offset;
        let since = now.checked_duration_since(first)?;
        let every = self.every.as_nanos();
        let (k, pos) = (since.as_nanos() / every, since.as_nanos() % every);
        (pos < self.stall.as_nanos()).then(|| {
            first
                + Duration::from_nanos(u64::try_from(k * every).expect("stall within u64 ns"))
                + self.stall
        })
    }
}

/// A server script: a behaviour per path, a default for every other path, an optional stall.
#[derive(Debug, Clone)]
pub struct Script {
    default: Behavior,
    routes: Vec<(String, Behavior)>,
    stall: Option<Stall>,
    watch: Option<String>,
    /// The network namespace (its /run/netns file) the server's sockets are made in.
    netns: Option<std::path::PathBuf>,
}

impl Script {
    /// Every path gets `default` unless a route says otherwise.
    pub fn new(default: Behavior) -> Self {
        Script {
            default,
            routes: Vec::new(),
            stall: None,
            watch: None,
            netns: None,
        }
    }

    /// Requests to exactly `path` (query ignored) get `behavior`; they are also counted apart.
    pub fn route(mut self, path: &str, behavior: Behavior) -> Self {
        self.routes.push((path.to_string(), behavior));
        self
    }

    /// Counts the requests whose URI or some header value contains `needle` (`TestServer::watched`),
    /// so a test can show that a value it checks is absent elsewhere did reach the target.
    pub fn watch(mut self, needle: &str) -> Self {
        self.watch = Some(needle.to_string());
        self
    }

    pub fn stall(mut self, stall: Stall) -> Self {
        self.stall = Some(stall);
        self
    }

    /// Starts serving the script on `127.0.0.1:0`.
    pub fn start(self) -> TestServer {
        TestServer::start(self)
    }

    /// Starts serving the script on `addr` (a loopback address).
    pub fn start_on(self, addr: SocketAddr) -> TestServer {
        TestServer::start_at(self, addr)
    }

    /// Starts serving the script on `addr` inside the network namespace `ns` a test made.
    pub fn start_in(mut self, ns: &netns::Netns, addr: SocketAddr) -> TestServer {
        self.netns = Some(ns.path());
        TestServer::start_at(self, addr)
    }
}

struct State {
    /// When each request arrived (tests send bounded loads, so this stays small).
    arrivals: std::sync::Mutex<Vec<Instant>>,
    default: Behavior,
    /// Per scripted path: its behaviour, requests received and their bytes on the wire.
    routes: HashMap<String, (Behavior, AtomicU64, AtomicU64)>,
    stall: Option<Stall>,
    watch: Option<String>,
    watched: AtomicU64,
    anchor: Instant,
    requests: AtomicU64,
    connections: AtomicU64,
}

impl State {
    fn stall_until(&self, now: Instant) -> Option<Instant> {
        self.stall.and_then(|s| s.until(self.anchor, now))
    }
}

/// A running scripted server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Every path gets `behavior`.
    pub fn with(behavior: Behavior) -> Self {
        Script::new(behavior).start()
    }

    /// Starts `script` on `127.0.0.1:0`. Stall windows are anchored at this call.
    pub fn start(script: Script) -> Self {
        Self::start_at(script, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn start_at(script: Script, at: SocketAddr) -> Self {
        assert!(
            at.ip().is_loopback() || script.netns.is_some(),
            "test servers listen on loopback, or in a network namespace of the test's own"
        );
        let netns = script.netns.clone();
        let reset = script.default == Behavior::Reset
            || script.routes.iter().any(|(_, b)| *b == Behavior::Reset);
        let state = Arc::new(State {
            default: script.default,
            routes: script
                .routes
                .into_iter()
                .map(|(p, b)| (p, (b, AtomicU64::new(0), AtomicU64::new(0))))
                .collect(),
            stall: script.stall,
            watch: script.watch,
            watched: AtomicU64::new(0),
            anchor: Instant::now(),
            arrivals: Default::default(),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let (shutdown, stop) = oneshot::channel();
        let (bound, addr) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("test-server".into())
            .spawn(move || {
                // Sockets belong to the namespace of the thread that makes them, and the
                // runtime's workers are spawned from this thread, so they share it too.
                if let Some(ns) = &netns {
                    netns::enter(ns);
                }
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("test server runtime");
                rt.block_on(async move {
                    let listener = listen(at).expect("listen on a loopback test port");
                    bound
                        .send(listener.local_addr().expect("bound address"))
                        .expect("the starting test waits for the address");
                    tokio::select! {
                        _ = accept_loop(listener, st, reset) => {}
                        _ = stop => {}
                    }
                });
                // Dropping the runtime cancels hanging handlers and open connections.
            })
            .expect("spawn the test server thread");
        TestServer {
            addr: addr.recv().expect("the test server started"),
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far (counted when the request head has been read).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests received so far on the scripted route `path`.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.state
            .routes
            .get(path)
            .map(|(_, n, _)| n.load(Ordering::SeqCst))
            .unwrap_or_else(|| panic!("{path} is not a scripted route"))
    }

    /// Mean size on the wire (HTTP/1.1: request line, headers, blank line, body) of the
    /// requests received on the scripted route `path`.
    pub fn mean_request_size(&self, path: &str) -> f64 {
        let (_, n, bytes) = self
            .state
            .routes
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not a scripted route"));
        bytes.load(Ordering::SeqCst) as f64 / n.load(Ordering::SeqCst) as f64
    }

    /// Requests received in each whole second since `from`.
    pub fn per_second(&self, from: Instant) -> Vec<u64> {
        let mut counts = Vec::new();
        for t in self.state.arrivals.lock().expect("arrivals lock").iter() {
            let second = t.saturating_duration_since(from).as_secs() as usize;
            if counts.len() <= second {
                counts.resize(second + 1, 0);
            }
            counts[second] += 1;
        }
        counts
    }

    /// Requests so far that carried the `Script::watch` needle.
    pub fn watched(&self) -> u64 {
        self.state.watched.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listener on `127.0.0.1:0` with a deep accept queue. std's default of 128 is too short for
/// a stall: at 200 new connections a second the queue overflows, the kernel drops the SYNs and
/// clients retry a whole second later, which would add the kernel's retransmission timer to
/// the latencies under test.
fn listen(at: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(at)?;
    socket.listen(4096)
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, reset: bool) {
    loop {
        // During a stall the whole server stops, accepts included: new connections wait in
        // the kernel's backlog until it ends.
        if let Some(end) = state.stall_until(Instant::now()) {
            sleep_until(end).await;
        }
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // e.g. EMFILE: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let _ = stream.set_nodelay(true);
        if reset {
            // Dropping a socket with SO_LINGER 0 sends RST instead of FIN. Only servers that
            // script a reset do this, so that ordinary closes stay ordinary.
            let _ = stream.set_zero_linger();
        }
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(state.clone(), req));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn response(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).expect("scripted status is valid");
    r
}

/// The request's size as HTTP/1.1 serialises it: request line, headers, blank line, body.
fn wire_size(req: &Request<Incoming>) -> u64 {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let line = req.method().as_str().len() + 1 + target.len() + " HTTP/1.1\r\n".len();
    let headers: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
        .sum();
    let body: usize = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    (line + headers + 2 + body) as u64
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> io::Result<Response<Full<Bytes>>> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(needle) = &state.watch {
        let hit = req.uri().to_string().contains(needle.as_str())
            || req
                .headers()
                .values()
                .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(needle.as_str()));
        if hit {
            state.watched.fetch_add(1, Ordering::SeqCst);
        }
    }
    state
        .arrivals
        .lock()
        .expect("arrivals lock")
        .push(Instant::now());
    let behavior = match state.routes.get(req.uri().path()) {
        Some((b, n, bytes)) => {
            n.fetch_add(1, Ordering::SeqCst);
            bytes.fetch_add(wire_size(&req), Ordering::SeqCst);
            b
        }
        None => &state.default,
    };
    if let Some(end) = state.stall_until(Instant::now()) {
        sleep_until(end).await;
    }
    Ok(match behavior {
        Behavior::Ok => response(200, "ok"),
        Behavior::Delay(d) => {
            tokio::time::sleep(*d).await;
            response(200, "ok")
        }
        Behavior::Status(code) => response(*code, format!("status {code}")),
        Behavior::Body(text) => response(200, text.clone()),
        Behavior::Hang => match std::future::pending::<Infallible>().await {},
        // An error from the service makes hyper drop the connection without writing a
        // response; with SO_LINGER 0 the close is a RST.
        Behavior::Reset => return Err(io::Error::other("scripted reset")),
    })
}

/// A loopback port with nothing listening on it: connecting is refused.
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback test port");
    l.local_addr().expect("bound address").port()
}
