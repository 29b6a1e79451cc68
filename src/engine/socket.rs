//! Raw TCP and UDP: an endpoint's body (a template when it has `{{ }}`, rendered per request)
//! is written to the socket and its reply read by the endpoint's rule — up to a delimiter, a
//! length, or until the connection is quiet; over UDP one datagram each way. TCP connections
//! are pooled and kept like HTTP keep-alive ones; every failure is an `ErrorKind`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::body::Outgoing;
use super::classify::{classify_io, connect_error, connect_tcp};
use super::resolve::resolve_counted;
use super::transport::{Pool, Transport};
use crate::config::{Reply, Scheme, Target, MAX_REPLY};
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};
use crate::scenario::template::Templates;

/// The largest datagram a UDP reply can be.
const MAX_DATAGRAM: usize = 65_535;

struct Prepared {
    payload: Outgoing<Bytes>,
    reply: Reply,
    contains: Option<Vec<u8>>,
}

/// One socket with the buffer its replies are read into (kept, so reading allocates once).
pub struct SocketConn {
    io: Io,
    buf: Vec<u8>,
}

enum Io {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

pub struct SocketClient {
    target: Arc<Target>,
    prepared: Vec<Prepared>,
    templates: Templates,
    idle: Pool<SocketConn>,
    refused: prometheus::IntCounter,
}

impl SocketClient {
    pub fn new(target: Arc<Target>, refused: prometheus::IntCounter) -> Arc<Self> {
        let mut templates = Templates::new();
        let prepared = target
            .endpoints
            .iter()
            .map(|e| {
                // A fixed body is sent byte for byte, as written.
                let payload = Outgoing::of(e, &mut templates, Bytes::clone);
                Prepared {
                    payload,
                    reply: e.reply.clone(),
                    contains: e.body_contains.as_ref().map(|s| s.as_bytes().to_vec()),
                }
            })
            .collect();
        Arc::new(SocketClient {
            idle: Pool::new(target.max_connections),
            target,
            prepared,
            templates,
            refused,
        })
    }

    fn payload(&self, p: &Prepared) -> Result<Bytes, ErrorKind> {
        p.payload.render(&self.templates)
    }

    async fn connect(&self) -> Result<SocketConn, ErrorKind> {
        let t = &self.target;
        let addrs = resolve_counted(t, &self.refused).await?;
        let io = if t.scheme == Scheme::Udp {
            Io::Udp(udp_socket(addrs[0]).await.map_err(|e| connect_error(&e))?)
        } else {
            Io::Tcp(connect_tcp(&addrs).await?)
        };
        Ok(SocketConn {
            io,
            buf: Vec::new(),
        })
    }
}

async fn udp_socket(to: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .expect("static address");
    let socket = UdpSocket::bind(any).await?;
    // Connected: replies from anyone else are dropped by the kernel, and a closed port shows
    // as ConnectionRefused on the next receive.
    socket.connect(to).await?;
    Ok(socket)
}

impl SocketConn {
    async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        match &mut self.io {
            Io::Tcp(s) => s.write_all(payload).await,
            Io::Udp(s) => s.send(payload).await.map(drop),
        }
    }

    /// Reads one reply into `buf`; true when the connection can carry another request.
    async fn receive(&mut self, reply: &Reply) -> Result<bool, ErrorKind> {
        self.buf.clear();
        let stream = match &mut self.io {
            Io::Udp(s) => {
                // Into the spare capacity: room for the largest datagram, never zeroed.
                self.buf.reserve(MAX_DATAGRAM);
                s.recv_buf(&mut self.buf)
                    .await
                    .map_err(|e| classify_io(&e, ErrorKind::Connect))?;
                return Ok(true);
            }
            Io::Tcp(s) => s,
        };
        match reply {
            Reply::Bytes(n) => {
                self.buf.resize(*n, 0);
                stream
                    .read_exact(&mut self.buf)
                    .await
                    .map_err(|e| classify_io(&e, ErrorKind::Reset))?;
                Ok(true)
            }
            Reply::Until(delimiter) => read_until(stream, &mut self.buf, delimiter).await,
            Reply::Idle(quiet) => read_idle(stream, &mut self.buf, *quiet).await,
        }
    }
}

/// Reads until `buf` holds `delimiter`. Bytes that came after it (a pipelining server) are
/// dropped with the connection: kept, the next request's reply would start with them.
async fn read_until(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    delimiter: &[u8],
) -> Result<bool, ErrorKind> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| classify_io(&e, ErrorKind::Reset))?;
        if n == 0 {
            // Closed before the delimiter: the reply is cut short.
            return Err(ErrorKind::Reset);
        }
        // Only the new bytes and the delimiter's length before them can hold a new match.
        let from = buf.len().saturating_sub(delimiter.len() - 1);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = memmem::find(&buf[from..], delimiter) {
            let end = from + at + delimiter.len();
            let clean = end == buf.len();
            buf.truncate(end);
            return Ok(clean);
        }
        if buf.len() > MAX_REPLY {
            return Err(ErrorKind::Protocol);
        }
    }
}

/// Reads until nothing arrives for `quiet` or the server closes.
async fn read_idle(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    quiet: Duration,
) -> Result<bool, ErrorKind> {
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(quiet, stream.read(&mut chunk)).await {
            Err(_) => return Ok(true),
            Ok(Ok(0)) => return Ok(false),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(classify_io(&e, ErrorKind::Reset)),
        }
        if buf.len() > MAX_REPLY {
            return Err(ErrorKind::Protocol);
        }
    }
}

impl Transport for SocketClient {
    type Conn = SocketConn;

    fn target(&self) -> &Target {
        &self.target
    }

    fn pool(&self) -> &Pool<SocketConn> {
        &self.idle
    }

    async fn exchange(
        &self,
        idx: usize,
        slot: &mut Option<SocketConn>,
    ) -> Result<Outcome, ErrorKind> {
        let p = &self.prepared[idx];
        let payload = self.payload(p)?;
        let (mut conn, reused) = match slot.take() {
            Some(c) => (c, true),
            None => (self.connect().await?, false),
        };
        if let Err(e) = conn.send(&payload).await {
            // The server closed a kept connection while it sat idle: one new one, once.
            if !reused {
                return Err(classify_io(&e, ErrorKind::Reset));
            }
            conn = self.connect().await?;
            conn.send(&payload)
                .await
                .map_err(|e| classify_io(&e, ErrorKind::Reset))?;
        }
        let open = conn.receive(&p.reply).await?;
        let found = p
            .contains
            .as_deref()
            .is_none_or(|n| memmem::find(&conn.buf, n).is_some());
        let received = conn.buf.len() as u64;
        if open {
            *slot = Some(conn);
        }
        Ok(Outcome::replied(
            Code::Named(NamedCode::OK),
            (!found).then_some(ErrorKind::Check),
            received,
        ))
    }
}
