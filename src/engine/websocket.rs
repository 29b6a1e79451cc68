//! WebSocket load: each member of a profile's connection pool (steered like closed-model users,
//! see `executor`) opens a connection, sends the target's message at `message_rate` and pairs
//! each reply with its message (by correlation field, or the next message received). Round
//! trips are measured from each message's intended send instant, so a stalled server or a
//! late send shows in the RTT (no coordinated omission). A dropped connection is counted and
//! re-established after an exponential backoff. Every failure is a `WsErrorKind`, counted,
//! never propagated. On stop a connection sends nothing more, waits for the replies it is
//! owed (each bounded by the target's timeout), then closes with a Close frame.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant, MissedTickBehavior};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::budget::Budget;
use super::limits::SafetyLimits;
use super::resolve::{resolve, ResolveError};
use super::tls;
use crate::config::{Load, Profile, Scheme, Target, WebSocket};
use crate::metrics::websocket::{WsErrorKind, WsRecorder};
use crate::metrics::{DropReason, ProfileRecorder};
use crate::pause::Pause;

/// First pause before reconnecting; doubles after each failed attempt, up to `BACKOFF_MAX`,
/// and starts over once a connection opens.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Messages awaiting a reply, per connection. Past it the oldest is given up (counted as a
/// timeout), so a server that never answers cannot grow memory without bound.
pub const MAX_OUTSTANDING: usize = 10_000;

/// How often a connection looks for overdue replies and for being retired.
const HOUSEKEEPING: Duration = Duration::from_millis(50);

/// How long a stopping connection waits for the server to answer its Close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Stream = WebSocketStream<Box<dyn Io>>;

/// One member of a profile's connection pool; clones share everything but their state.
#[derive(Clone)]
pub(super) struct Connection(Arc<Shared>);

struct Shared {
    target: Arc<Target>,
    ws: WebSocket,
    request: http::Request<()>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    period: Duration,
    recorder: Arc<ProfileRecorder>,
    budget: Arc<Budget>,
    cancel: CancellationToken,
    pause: Pause,
    limits: SafetyLimits,
    deadline: Option<Instant>,
}

/// How a connection's session ended.
enum Ended {
    /// Stopped by loadtide (cancel, retire, deadline or budget): do not reconnect.
    Stopped,
    /// Lost; reconnect after the backoff.
    Failed(WsErrorKind),
}

impl Connection {
    /// The pool member of `profile` when it loads a WebSocket target; None otherwise.
    pub(super) fn for_profile(
        profile: &Profile,
        recorder: &Arc<ProfileRecorder>,
        budget: &Arc<Budget>,
        cancel: &CancellationToken,
        (pause, limits): (&Pause, &SafetyLimits),
        deadline: Option<Instant>,
    ) -> Option<Connection> {
        let (Load::WebSocket { message_rate, .. }, Some(ws)) =
            (&profile.load, &profile.target.websocket)
        else {
            return None;
        };
        let target = profile.target.clone();
        let tls = (target.scheme == Scheme::Wss).then(|| tls::connector(&target, b"http/1.1"));
        Some(Connection(Arc::new(Shared {
            request: handshake_request(&target, &ws.path),
            ws: ws.clone(),
            tls,
            period: Duration::from_secs_f64(1.0 / message_rate),
            recorder: recorder.clone(),
            budget: budget.clone(),
            cancel: cancel.clone(),
            pause: pause.clone(),
            limits: limits.clone(),
            deadline,
            target,
        })))
    }

    /// Connects, sends and reconnects until retired, cancelled, past the deadline or out of
    /// budget.
    pub(super) async fn run(self, retired: Arc<AtomicBool>) {
        let s = &*self.0;
        let rec = s
            .recorder
            .websocket()
            .expect("a WebSocket profile has a WebSocket recorder");
        let mut seq = 0u64;
        let mut backoff = BACKOFF_START;
        while !s.stopping(&retired) {
            // Paused: a lost connection is re-opened only on resume.
            if !s.pause.wait_resumed(&s.cancel).await {
                return;
            }
            match s.open(rec).await {
                Ok((stream, open)) => {
                    backoff = BACKOFF_START;
                    let ended = s.session(stream, &retired, &mut seq, rec).await;
                    drop(open);
                    match ended {
                        Ended::Stopped => return,
                        Ended::Failed(kind) => rec.error(kind),
                    }
                }
                Err(kind) => rec.error(kind),
            }
            let wake = Instant::now() + backoff;
            let wake = s.deadline.map_or(wake, |d| wake.min(d));
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = s.cancel.cancelled() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}

impl Shared {
    fn stopping(&self, retired: &AtomicBool) -> bool {
        retired.load(Ordering::Relaxed)
            || self.cancel.is_cancelled()
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// TCP connect, TLS and the upgrade, all within the target's timeout; the phase that
    /// failed (or ran out of time) names the error.
    async fn open(
        &self,
        rec: &WsRecorder,
    ) -> Result<(Stream, crate::metrics::websocket::StateGuard), WsErrorKind> {
        let _connecting = rec.connecting();
        let started = Instant::now();
        // Saturating: a timeout too long for an Instant means "no timeout", not a panic.
        let until = started
            .checked_add(self.target.timeout)
            .unwrap_or(started + Duration::from_secs(86_400 * 365 * 30));
        let t = &self.target;
        // A name resolving outside safety.allowed_hosts is refused before connecting.
        let addrs = timeout_at(until, resolve(t))
            .await
            .map_err(|_| WsErrorKind::Connect)?
            .map_err(|e| {
                if let ResolveError::Refused(ip) = e {
                    self.recorder.refused();
                    tracing::debug!(target = %t.name, host = %t.host, %ip, "refused: resolves outside safety.allowed_hosts");
                }
                WsErrorKind::Connect
            })?;
        let tcp = timeout_at(until, TcpStream::connect(&addrs[..]))
            .await
            .map_err(|_| WsErrorKind::Connect)?
            .map_err(|e| {
                if crate::fdlimit::is_exhaustion(&e) {
                    crate::fdlimit::exhausted("connect", &e);
                }
                WsErrorKind::Connect
            })?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => {
                let stream = timeout_at(until, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| WsErrorKind::Tls)?
                    .map_err(|_| WsErrorKind::Tls)?;
                if let Some(at) = tls::earliest_expiry(stream.get_ref().1.peer_certificates()) {
                    self.recorder.conn_probe().cert_not_after(at);
                }
                Box::new(stream)
            }
        };
        let (stream, _response) = timeout_at(
            until,
            tokio_tungstenite::client_async(self.request.clone(), io),
        )
        .await
        .map_err(|_| WsErrorKind::Handshake)?
        .map_err(|_| WsErrorKind::Handshake)?;
        Ok((stream, rec.connected(started.elapsed())))
    }

    /// Sends at the message rate and matches replies until the connection fails or the run
    /// stops; then waits for the replies still owed and closes.
    async fn session(
        &self,
        mut stream: Stream,
        retired: &AtomicBool,
        seq: &mut u64,
        rec: &WsRecorder,
    ) -> Ended {
        let timeout = self.target.timeout;
        let mut owed = Outstanding::new(self.ws.correlate.is_some());
        // A random phase spreads the pool's sends over the period instead of in lockstep.
        let first = Instant::now() + self.period.mul_f64(fastrand::f64());
        let mut ticks = tokio::time::interval_at(first, self.period);
        // Late ticks fire at once with their intended instants: the delay lands in the RTT.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut sending = true;
        loop {
            tokio::select! {
                biased;
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => self.on_reply(&mut owed, text.as_bytes(), rec),
                    Some(Ok(Message::Binary(data))) => self.on_reply(&mut owed, &data, rec),
                    Some(Ok(Message::Close(_))) | None => return Ended::Failed(WsErrorKind::Closed),
                    Some(Ok(_)) => {} // ping, pong: tungstenite answers pings itself
                    Some(Err(e)) => return Ended::Failed(classify(&e)),
                },
                _ = self.cancel.cancelled(), if sending => sending = false,
                _ = housekeeping.tick() => {
                    for _ in 0..owed.expire(Instant::now(), timeout) {
                        rec.error(WsErrorKind::Timeout);
                    }
                    if sending && self.stopping(retired) {
                        sending = false;
                    }
                }
                due = ticks.tick(), if sending => {
                    if self.deadline.is_some_and(|d| due >= d) {
                        sending = false;
                    } else if self.pause.is_paused() {
                        // Paused: the message is skipped; the connection stays open, idle.
                    } else if !self.budget.take() {
                        sending = false;
                    } else if !self.limits.try_rate() {
                        // Over safety.max_rate: this message is dropped and counted.
                        self.recorder.dropped_for(DropReason::SafetyMaxRate);
                    } else if let Err(kind) = self.send(&mut stream, &mut owed, seq, due, rec).await {
                        return Ended::Failed(kind);
                    }
                }
            }
            if !sending && owed.is_empty() {
                break;
            }
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            let _ = stream.close(None).await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        Ended::Stopped
    }

    async fn send(
        &self,
        stream: &mut Stream,
        owed: &mut Outstanding,
        seq: &mut u64,
        due: Instant,
        rec: &WsRecorder,
    ) -> Result<(), WsErrorKind> {
        let text = self.ws.message.render(*seq);
        let key = self.ws.correlation_key(&text);
        let n = *seq;
        *seq += 1;
        self.recorder
            .lag(Instant::now().saturating_duration_since(due));
        if owed.insert(n, due, key) {
            rec.error(WsErrorKind::Timeout);
        }
        let bytes = text.len();
        if stream.send(Message::text(text)).await.is_err() {
            owed.remove(n);
            return Err(WsErrorKind::Send);
        }
        rec.sent();
        self.recorder.bytes(bytes, 0);
        Ok(())
    }

    fn on_reply(&self, owed: &mut Outstanding, data: &[u8], rec: &WsRecorder) {
        rec.received();
        self.recorder.bytes(0, data.len());
        let key = if owed.correlate {
            match std::str::from_utf8(data)
                .ok()
                .and_then(|t| self.ws.correlation_key(t))
            {
                Some(k) => Some(k),
                None => return, // not a reply (a push, or a reply without the field)
            }
        } else {
            None
        };
        if let Some(due) = owed.reply(key.as_deref()) {
            rec.reply(due.elapsed(), data.len());
        }
    }
}

/// The upgrade request for `path` (and query): the target's URL and headers, and loadtide's
/// user agent.
pub(super) fn handshake_request(target: &Target, path: &str) -> http::Request<()> {
    let url = format!(
        "{}://{}{}",
        target.scheme.as_str(),
        target.authority(),
        path
    );
    let mut request = url
        .into_client_request()
        .expect("the URL was validated with the config");
    let headers = request.headers_mut();
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(concat!("loadtide/", env!("CARGO_PKG_VERSION"))),
    );
    for (k, v) in &target.headers {
        headers.insert(k.clone(), v.clone());
    }
    request
}

fn classify(e: &tungstenite::Error) -> WsErrorKind {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed | E::Io(_) => WsErrorKind::Closed,
        E::Tls(_) => WsErrorKind::Tls,
        _ => WsErrorKind::Protocol,
    }
}

/// A connection's messages awaiting replies, oldest first, each with its intended send
/// instant and (when replies are correlated) its correlation value.
struct Outstanding {
    correlate: bool,
    by_seq: BTreeMap<u64, (Instant, Option<String>)>,
    by_key: HashMap<String, u64>,
}

impl Outstanding {
    fn new(correlate: bool) -> Self {
        Outstanding {
            correlate,
            by_seq: BTreeMap::new(),
            by_key: HashMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    /// Adds message `seq`; true when the oldest had to be given up to make room.
    fn insert(&mut self, seq: u64, due: Instant, key: Option<String>) -> bool {
        let evicted = self.by_seq.len() >= MAX_OUTSTANDING;
        if evicted {
            if let Some((old, _)) = self.by_seq.first_key_value() {
                let old = *old;
                self.remove(old);
            }
        }
        if let Some(k) = &key {
            self.by_key.insert(k.clone(), seq);
        }
        self.by_seq.insert(seq, (due, key));
        evicted
    }

    fn remove(&mut self, seq: u64) -> Option<Instant> {
        let (due, key) = self.by_seq.remove(&seq)?;
        // A later message with the same value may own the key now: leave it alone.
        if let Some(k) = key {
            if self.by_key.get(&k) == Some(&seq) {
                self.by_key.remove(&k);
            }
        }
        Some(due)
    }

    /// The intended send instant of the message this reply answers: the one with the
    /// reply's correlation value, or (uncorrelated) the oldest one.
    fn reply(&mut self, key: Option<&str>) -> Option<Instant> {
        let seq = match key {
            Some(k) => *self.by_key.get(k)?,
            None => *self.by_seq.first_key_value()?.0,
        };
        self.remove(seq)
    }

    /// Gives up the messages unanswered `timeout` after their intended send; how many.
    fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut n = 0;
        while let Some((&seq, &(due, _))) = self.by_seq.first_key_value() {
            // An absurd timeout (u64::MAX s) must not overflow the instant: never expires.
            if due.checked_add(timeout).is_none_or(|end| now < end) {
                break;
            }
            self.remove(seq);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlated_replies_pair_in_any_order_and_late_ones_expire() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut owed = Outstanding::new(true);
        for seq in 0..3 {
            owed.insert(seq, t0 + ms(seq * 100), Some(seq.to_string()));
        }
        assert_eq!(owed.reply(Some("2")), Some(t0 + ms(200)));
        assert_eq!(owed.reply(Some("2")), None, "answered once");
        assert_eq!(owed.reply(Some("9")), None, "unknown value");
        // At 1.05 s with a 1 s timeout, message 0 (due at 0) is overdue, message 1 is not.
        assert_eq!(owed.expire(t0 + ms(1_050), ms(1_000)), 1);
        assert_eq!(owed.reply(Some("1")), Some(t0 + ms(100)));
        assert!(owed.is_empty());
    }

    #[test]
    fn uncorrelated_replies_answer_the_oldest() {
        let t0 = Instant::now();
        let mut owed = Outstanding::new(false);
        owed.insert(0, t0, None);
        owed.insert(1, t0 + Duration::from_millis(5), None);
        assert_eq!(owed.reply(None), Some(t0));
        assert_eq!(owed.reply(None), Some(t0 + Duration::from_millis(5)));
        assert_eq!(owed.reply(None), None);
    }

    #[test]
    fn outstanding_is_bounded_and_evicts_the_oldest() {
        let t0 = Instant::now();
        let mut owed = Outstanding::new(true);
        for seq in 0..MAX_OUTSTANDING as u64 {
            assert!(!owed.insert(seq, t0, Some(seq.to_string())));
        }
        assert!(owed.insert(MAX_OUTSTANDING as u64, t0, Some("new".into())));
        assert_eq!(owed.by_seq.len(), MAX_OUTSTANDING);
        assert_eq!(owed.by_key.len(), MAX_OUTSTANDING);
        assert_eq!(owed.reply(Some("0")), None, "the oldest was given up");
        assert!(owed.reply(Some("new")).is_some());
    }

    #[test]
    fn a_reused_value_pairs_with_the_newest_and_the_older_one_times_out() {
        let t0 = Instant::now();
        let mut owed = Outstanding::new(true);
        owed.insert(0, t0, Some("x".into()));
        owed.insert(1, t0 + Duration::from_millis(10), Some("x".into()));
        assert_eq!(
            owed.expire(t0 + Duration::from_secs(1), Duration::from_secs(1)),
            1
        );
        assert_eq!(owed.reply(Some("x")), Some(t0 + Duration::from_millis(10)));
    }
}
