//! The HTTP client: one per running profile and target. HTTP/1.1 connections are pooled
//! (a closed-model user keeps its own across requests; open-model requests borrow from the
//! pool); HTTP/2 shares one multiplexed connection. Every failure is classified into an
//! `ErrorKind` here and returned as data.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Request, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use super::classify::{classify_hyper, classify_io, connect_tcp};
use super::h1::{self, Wire, WireRequest};
use super::peers::Peers;
use super::tls;
use super::trace::{Tracer, TRACEPARENT};
use super::transport::{Pool, Transport};
use crate::config::{Scheme, Target};
use crate::metrics::connection::{ConnProbe, Phase};
use crate::outcome::{Code, ErrorKind, Outcome, TraceId};

type Body = super::body::ReqBody;

/// A connection ready to carry requests: the instance it goes to (an index into the peers'
/// list) and the peers' generation it was made in.
pub struct Conn {
    send: Sender,
    instance: usize,
    generation: u64,
}

enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
    /// The lean path (`h1.rs`): no connection task.
    Wire(Wire),
}

impl Conn {
    /// Another handle on a shared HTTP/2 connection (HTTP/1.1 ones are never shared).
    fn share(&self) -> Conn {
        let send = match &self.send {
            Sender::H2(s) => Sender::H2(s.clone()),
            Sender::H1(_) | Sender::Wire(_) => unreachable!("only HTTP/2 connections are shared"),
        };
        Conn {
            send,
            instance: self.instance,
            generation: self.generation,
        }
    }

    fn is_closed(&self) -> bool {
        match &self.send {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
            Sender::Wire(w) => !w.is_open(),
        }
    }
}

/// What `send` returns: the response head, its body stream, the connection to reuse, and
/// the trace id of a sampled `traceparent`.
pub(super) type Sent = (http::response::Parts, Incoming, Conn, Option<TraceId>);

/// A request template per endpoint, built once.
struct Prepared {
    method: http::Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    body_contains: Option<Vec<u8>>,
}

/// What a scenario step keeps of a response.
pub struct Captured {
    pub status: u16,
    pub headers: HeaderMap,
    /// At most the step's capture limit; the rest was only counted.
    pub body: Bytes,
}

pub struct HttpClient {
    target: Arc<Target>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    prepared: Vec<Prepared>,
    /// The endpoints' requests rendered for the lean path; empty when hyper carries them
    /// (HTTP/2, scenarios, gRPC).
    wire: Vec<WireRequest>,
    idle: Pool<Conn>,
    /// HTTP/2: one shared connection per instance, used round robin.
    shared_h2: Mutex<Vec<Conn>>,
    h2_connecting: tokio::sync::Mutex<()>,
    /// The peers' generation the idle pool was last swept for.
    pool_generation: std::sync::atomic::AtomicU64,
    /// Where new connections go (the host, or `file_sd`'s instances) and when old ones retire.
    peers: Arc<Peers>,
    /// DNS answers outside the allowlist, phase timings, certificate expiry.
    probe: ConnProbe,
    /// Set when requests carry a `traceparent`.
    tracer: Option<Tracer>,
}

impl HttpClient {
    /// A client for `target`, recording what it learns of connections through `probe`; with
    /// `trace` (a sample ratio) requests carry a `traceparent`. `lean`: endpoint requests
    /// over HTTP/1.1 take the lean path, for a client nothing calls `send` on (no scenario).
    pub fn new(target: Arc<Target>, probe: ConnProbe, trace: Option<f64>, lean: bool) -> Arc<Self> {
        let tls = matches!(target.scheme, Scheme::Https | Scheme::Grpcs)
            .then(|| tls::connector(&target, if target.http2 { b"h2" } else { b"http/1.1" }));
        let authority = target.authority();
        let scheme = if matches!(target.scheme, Scheme::Https | Scheme::Grpcs) {
            "https"
        } else {
            "http"
        };
        let prepared = target
            .endpoints
            .iter()
            .map(|e| {
                let headers = target.request_headers(e);
                // HTTP/1.1 sends origin-form ("/path"); HTTP/2 needs the full URI for :authority.
                let uri = if target.http2 {
                    format!("{scheme}://{authority}{}", e.path)
                } else {
                    e.path.clone()
                };
                Prepared {
                    method: e.method.clone(),
                    uri: uri.parse().expect("path validated with the config"),
                    headers,
                    body: e.body.clone(),
                    body_contains: e.body_contains.as_ref().map(|s| s.as_bytes().to_vec()),
                }
            })
            .collect();
        let wire = if lean && !target.http2 && matches!(target.scheme, Scheme::Http | Scheme::Https)
        {
            target
                .endpoints
                .iter()
                .map(|e| {
                    WireRequest::new(
                        &e.method,
                        &e.path,
                        &target.request_headers(e),
                        e.body.clone(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Arc::new(HttpClient {
            wire,
            idle: Pool::new(target.max_connections),
            peers: Peers::new(target.clone(), probe.clone()),
            target,
            tls,
            prepared,
            shared_h2: Mutex::new(Vec::new()),
            h2_connecting: tokio::sync::Mutex::new(()),
            pool_generation: Default::default(),
            probe,
            tracer: trace.map(Tracer::new),
        })
    }

    pub(super) fn target(&self) -> &Target {
        &self.target
    }

    /// A response body read whole, from its head at `head_at`.
    pub(super) fn body_read(&self, head_at: Instant) {
        self.probe.phase(Phase::Body, head_at.elapsed());
    }

    /// Sends a request built by the caller (a scenario step), keeping the response head and
    /// up to `capture` body bytes for extraction and checks. The outcome carries transport
    /// errors only: judging the status is the caller's job. Bounded by the target's timeout.
    pub async fn call_request(
        &self,
        req: Request<Full<Bytes>>,
        slot: &mut Option<Conn>,
        capture: usize,
    ) -> (Outcome, Option<Captured>) {
        let exchange = async {
            let (head, mut body, conn, trace) = self.send(req, slot).await?;
            let head_at = Instant::now();
            let mut kept = Vec::new();
            let mut received = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| classify_hyper(&e))?;
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                    let room = capture.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            self.body_read(head_at);
            *slot = Some(conn);
            Ok::<_, ErrorKind>((head, Bytes::from(kept), received, trace))
        };
        match tokio::time::timeout(self.target.timeout, exchange).await {
            Ok(Ok((head, body, received, trace))) => (
                Outcome {
                    code: Some(Code::Http(head.status.as_u16())),
                    error: None,
                    bytes_received: received,
                    trace,
                },
                Some(Captured {
                    status: head.status.as_u16(),
                    headers: head.headers,
                    body,
                }),
            ),
            Ok(Err(kind)) => (Outcome::failed(kind), None),
            Err(_) => {
                *slot = None;
                (Outcome::failed(ErrorKind::Timeout), None)
            }
        }
    }

    /// The URI for `path_and_query` as this target's connections want it: origin-form for
    /// HTTP/1.1, absolute for HTTP/2 (which needs :authority).
    pub fn uri(&self, path_and_query: &str) -> Result<http::Uri, ErrorKind> {
        let uri = if self.target.http2 {
            let scheme = if matches!(self.target.scheme, Scheme::Https | Scheme::Grpcs) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}{path_and_query}", self.target.authority())
        } else {
            path_and_query.to_string()
        };
        uri.parse().map_err(|_| ErrorKind::Other)
    }

    /// Sends `req` on the connection in `slot` (or a pooled or new one) and returns the
    /// response head, its body stream, the connection to reuse once the body is read, and
    /// the trace id of a sampled `traceparent` it added.
    pub(super) async fn send(
        &self,
        req: Request<impl Into<Body>>,
        slot: &mut Option<Conn>,
    ) -> Result<Sent, ErrorKind> {
        let mut req = req.map(Into::into);
        let trace = self.tracer.and_then(|t| t.inject(req.headers_mut()));
        let mut conn = match slot.take() {
            Some(c) if self.current(&c) => c,
            _ => self.checkout().await?,
        };
        let sent = Instant::now();
        // The same clock read: a due refresh starts in the background, never delays this.
        self.peers.tick(sent);
        let response = match &mut conn.send {
            Sender::H1(s) => {
                if s.ready().await.is_err() {
                    // The server closed this keep-alive connection while it sat idle.
                    conn = self.connect(conn.instance).await?;
                    let Sender::H1(s) = &mut conn.send else {
                        return Err(ErrorKind::Other);
                    };
                    s.ready().await.map_err(|e| classify_hyper(&e))?;
                    s.send_request(req).await
                } else {
                    s.send_request(req).await
                }
            }
            Sender::H2(s) => {
                *req.version_mut() = Version::HTTP_2;
                s.ready().await.map_err(|e| classify_hyper(&e))?;
                s.send_request(req).await
            }
            // A lean client is made only where nothing calls `send`.
            Sender::Wire(_) => return Err(ErrorKind::Other),
        }
        .map_err(|e| classify_hyper(&e))?;
        self.probe.phase(Phase::FirstByte, sent.elapsed());
        let (head, body) = response.into_parts();
        Ok((head, body, conn, trace))
    }

    /// Whether `conn` is open and was made since the peers last changed.
    fn current(&self, conn: &Conn) -> bool {
        !conn.is_closed() && conn.generation == self.peers.generation()
    }

    /// A connection to the next instance (round robin, so open-model requests spread over
    /// every instance whatever the pool holds): an idle pooled one, a shared HTTP/2 one, or
    /// a new one.
    async fn checkout(&self) -> Result<Conn, ErrorKind> {
        let k = self.peers.pick();
        if self.target.http2 {
            return self.checkout_h2(k).await;
        }
        match self.idle_for(k) {
            Some(c) => Ok(c),
            None => self.connect(k).await,
        }
    }

    /// An idle HTTP/1.1 connection to instance `k` that is still current.
    fn idle_for(&self, k: usize) -> Option<Conn> {
        let generation = self.peers.generation();
        // A load first: a swap on every checkout would bounce the cache line between cores.
        if self.pool_generation.load(Ordering::Acquire) != generation
            && self.pool_generation.swap(generation, Ordering::AcqRel) != generation
        {
            self.idle.retain(|c| c.generation == generation);
        }
        while let Some(c) = self.idle.take_where(|c| c.instance == k) {
            if self.current(&c) {
                return Some(c);
            }
        }
        None
    }

    /// Keeps an HTTP/1.1 connection for the next request; an HTTP/2 handle is dropped (its
    /// connection stays shared).
    pub(super) fn keep_idle(&self, conn: Conn) {
        if !matches!(conn.send, Sender::H2(_)) && !conn.is_closed() {
            self.idle.put(conn);
        }
    }

    /// HTTP/2 multiplexes: one connection per instance is shared by all its requests.
    async fn checkout_h2(&self, k: usize) -> Result<Conn, ErrorKind> {
        if let Some(c) = self.shared_for(k) {
            return Ok(c);
        }
        // One handshake at a time: users starting together wait for it and share the
        // connection it makes, instead of each opening its own.
        let _connecting = self.h2_connecting.lock().await;
        if let Some(c) = self.shared_for(k) {
            return Ok(c);
        }
        let generation = self.peers.generation();
        let conn = self.connect(k).await?;
        if conn.generation == generation {
            let mut shared = self.shared_h2.lock().expect("h2 lock poisoned");
            if !shared.iter().any(|c| c.instance == k) {
                shared.push(conn.share());
            }
        }
        Ok(conn)
    }

    /// The live shared HTTP/2 connection to instance `k`, if there is one.
    fn shared_for(&self, k: usize) -> Option<Conn> {
        let mut shared = self.shared_h2.lock().expect("h2 lock poisoned");
        shared.retain(|c| self.current(c));
        shared.iter().find(|c| c.instance == k).map(Conn::share)
    }

    /// A new connection to instance `k`.
    async fn connect(&self, k: usize) -> Result<Conn, ErrorKind> {
        let t = &self.target;
        let mut lap = Instant::now();
        let mut phase = |p: Phase| {
            let now = Instant::now();
            self.probe.phase(p, now - lap);
            lap = now;
        };
        // Read first: a change while connecting retires this connection at its next use.
        let generation = self.peers.generation();
        // A name resolving outside safety.allowed_hosts is refused before connecting.
        let addrs = self.peers.addrs_of(k).await?;
        phase(Phase::Dns);
        let tcp = connect_tcp(&addrs).await?;
        phase(Phase::Connect);
        let lean = !self.wire.is_empty();
        let send = match &self.tls {
            None if lean => Ok(Sender::Wire(Wire::new(h1::Stream::Plain(tcp)))),
            None => handshake(tcp, t.http2).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| classify_io(&e, ErrorKind::Tls))?;
                phase(Phase::Tls);
                if let Some(at) = tls::earliest_expiry(stream.get_ref().1.peer_certificates()) {
                    self.probe.cert_not_after(at);
                }
                if lean {
                    Ok(Sender::Wire(Wire::new(h1::Stream::Tls(Box::new(stream)))))
                } else {
                    handshake(stream, t.http2).await
                }
            }
        }?;
        Ok(Conn {
            send,
            instance: k,
            generation,
        })
    }
    /// What a response to endpoint `idx` came to: its body's failure, an unexpected status
    /// or a failed body check, in that order.
    fn judge(
        &self,
        idx: usize,
        status: u16,
        body_error: Option<ErrorKind>,
        search: Option<Search<'_>>,
        received: u64,
        trace: Option<TraceId>,
    ) -> Outcome {
        let error = if let Some(e) = body_error {
            Some(e)
        } else if !self.target.endpoints[idx].status_ok(status) {
            Some(ErrorKind::Status)
        } else if search.is_some_and(|s| !s.found) {
            Some(ErrorKind::Check)
        } else {
            None
        };
        Outcome {
            code: Some(Code::Http(status)),
            error,
            bytes_received: received,
            trace,
        }
    }

    /// `exchange` on the lean path. A kept connection the server closed while it sat idle
    /// is replaced before the request; an idempotent request that meets such a close with
    /// nothing back is sent once more on a new connection, as browsers do.
    async fn exchange_wire(
        &self,
        idx: usize,
        slot: &mut Option<Conn>,
    ) -> Result<Outcome, ErrorKind> {
        let w = &self.wire[idx];
        let p = &self.prepared[idx];
        let (bytes, trace) = match self.tracer {
            // Known once per endpoint: no header lookup per request.
            Some(t) if !w.own_traceparent() => {
                let (value, id) = t.next();
                (w.bytes(Some((TRACEPARENT.as_str(), value.as_bytes()))), id)
            }
            _ => (w.bytes(None), None),
        };
        let mut conn = match slot.take() {
            Some(c) if self.current(&c) => c,
            _ => self.checkout().await?,
        };
        let mut retried = false;
        loop {
            let Sender::Wire(wire) = &mut conn.send else {
                return Err(ErrorKind::Other);
            };
            // Only a kept connection can have gone stale; a server that closes every new
            // one fails the request below instead of looping here.
            if wire.reused() && wire.went_stale() {
                conn = self.connect(conn.instance).await?;
                continue;
            }
            let sent = Instant::now();
            // The same clock read: a due refresh starts in the background, never delays this.
            self.peers.tick(sent);
            let reused = wire.reused();
            let head = match wire.start(&bytes, w.head_only()).await {
                Ok(head) => head,
                Err(f) if f.nothing_back && reused && w.idempotent() && !retried => {
                    retried = true;
                    conn = self.connect(conn.instance).await?;
                    continue;
                }
                Err(f) => return Err(f.kind),
            };
            self.probe.phase(Phase::FirstByte, sent.elapsed());
            let head_at = Instant::now();
            let mut received = 0u64;
            let mut search = p.body_contains.as_deref().map(Search::new);
            let body = wire
                .read_body(&head, |data| {
                    received += data.len() as u64;
                    if let Some(search) = search.as_mut() {
                        search.feed(data);
                    }
                })
                .await;
            if body.is_ok() {
                self.body_read(head_at);
                *slot = Some(conn);
            }
            return Ok(self.judge(idx, head.status, body.err(), search, received, trace));
        }
    }
}

impl Transport for HttpClient {
    type Conn = Conn;

    fn target(&self) -> &Target {
        &self.target
    }

    fn pool(&self) -> &Pool<Conn> {
        &self.idle
    }

    fn reusable(conn: &Conn) -> bool {
        !conn.is_closed()
    }

    /// None: `send` checks out a connection to the next instance itself (an idle one from
    /// the pool, or a new one), so open-model requests spread over every instance.
    fn take_idle(&self) -> Option<Conn> {
        None
    }

    fn put_idle(&self, conn: Conn) {
        self.keep_idle(conn);
    }

    async fn exchange(&self, idx: usize, slot: &mut Option<Conn>) -> Result<Outcome, ErrorKind> {
        if !self.wire.is_empty() {
            return self.exchange_wire(idx, slot).await;
        }
        let p = &self.prepared[idx];
        let mut req = Request::new(Full::new(p.body.clone()));
        *req.method_mut() = p.method.clone();
        *req.uri_mut() = p.uri.clone();
        *req.headers_mut() = p.headers.clone();
        let (head, mut body, conn, trace) = self.send(req, slot).await?;
        let head_at = Instant::now();
        let status = head.status.as_u16();
        let mut received = 0u64;
        let mut search = p.body_contains.as_deref().map(Search::new);
        let mut body_error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        received += data.len() as u64;
                        if let Some(search) = search.as_mut() {
                            search.feed(data);
                        }
                    }
                }
                Err(e) => {
                    body_error = Some(classify_hyper(&e));
                    break;
                }
            }
        }
        if body_error.is_none() {
            self.body_read(head_at);
            *slot = Some(conn);
        }
        Ok(self.judge(idx, status, body_error, search, received, trace))
    }
}

async fn handshake<S>(io: S, http2: bool) -> Result<Sender, ErrorKind>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if http2 {
        let (send, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| classify_hyper(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H2(send))
    } else {
        let (send, conn) = http1::handshake(io).await.map_err(|e| classify_hyper(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(send))
    }
}

/// A streaming substring search over a response body: keeps only the last `needle.len() - 1`
/// bytes between chunks, so a match across a chunk boundary is found and memory stays flat
/// whatever the body's size.
struct Search<'a> {
    needle: &'a [u8],
    carry: Vec<u8>,
    found: bool,
}

impl<'a> Search<'a> {
    fn new(needle: &'a [u8]) -> Self {
        Search {
            needle,
            carry: Vec::new(),
            found: needle.is_empty(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        if self.found {
            return;
        }
        let n = self.needle.len();
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(chunk);
        if window.windows(n).any(|w| w == self.needle) {
            self.found = true;
            return;
        }
        window.drain(..window.len().saturating_sub(n - 1));
        self.carry = window;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(chunks: &[&[u8]], needle: &[u8]) -> bool {
        let mut s = Search::new(needle);
        for c in chunks {
            s.feed(c);
        }
        s.found
    }

    #[test]
    fn search_finds_a_needle_split_across_chunks() {
        assert!(search(&[b"...ite", b"ms..."], b"items"));
        assert!(search(&[b"i", b"t", b"e", b"m", b"s"], b"items"));
        assert!(!search(&[b"item", b"z", b"tems"], b"items"));
        assert!(search(&[b""], b""));
    }

    #[test]
    fn search_keeps_only_a_short_tail() {
        let mut s = Search::new(b"needle");
        s.feed(&vec![b'x'; 8 << 20]);
        assert!(s.carry.len() < 6);
        s.feed(b"needle");
        assert!(s.found);
    }
}
