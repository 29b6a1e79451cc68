//! Redis: each request is one command (its words templates, rendered per request) on a
//! connection a closed-model user keeps, or one borrowed from the pool in the open model. An
//! error reply is a response with the error's code (`ERR`, `WRONGTYPE`, ...) and counts as a
//! `status` error; a connection problem is classified like any other transport's. A
//! `rediss://` target's connections are TLS (`engine::tls`), the client speaking over them.

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, Value};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::resolve::resolve_counted;
use super::tls;
use super::transport::{Pool, Transport};
use crate::config::Target;
use crate::metrics::connection::ConnProbe;
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};
use crate::scenario::template::{Templates, Vars};

/// One word of a command: as written, or a template rendered for each request.
enum Word {
    Fixed(String),
    Template(String),
}

pub struct RedisClient {
    target: Arc<Target>,
    /// Per endpoint: the command's words.
    commands: Vec<Vec<Word>>,
    contains: Vec<Option<Vec<u8>>>,
    templates: Templates,
    idle: Pool<MultiplexedConnection>,
    /// The allowlist's refusals and the rediss:// certificate's expiry.
    probe: ConnProbe,
    /// `rediss://`: how connections start TLS.
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl RedisClient {
    pub fn new(target: Arc<Target>, probe: ConnProbe) -> Arc<Self> {
        let mut templates = Templates::new();
        let commands = target
            .endpoints
            .iter()
            .map(|e| {
                e.command
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let name = format!("{}.{i}", e.name);
                        // Compiled at `check` time already.
                        if w.contains("{{") && templates.add(&name, w).is_ok() {
                            Word::Template(name)
                        } else {
                            Word::Fixed(w.clone())
                        }
                    })
                    .collect()
            })
            .collect();
        let contains = target
            .endpoints
            .iter()
            .map(|e| e.body_contains.as_ref().map(|s| s.as_bytes().to_vec()))
            .collect();
        Arc::new(RedisClient {
            idle: Pool::new(target.max_connections),
            tls: target.scheme.is_tls().then(|| tls::connector(&target, b"")),
            target,
            commands,
            contains,
            templates,
            probe,
        })
    }

    fn command(&self, idx: usize) -> Result<redis::Cmd, ErrorKind> {
        let words = &self.commands[idx];
        let mut cmd = redis::Cmd::new();
        for w in words {
            match w {
                Word::Fixed(s) => cmd.arg(s),
                Word::Template(name) => cmd.arg(
                    self.templates
                        .render(name, &Vars::new())
                        .map_err(|_| ErrorKind::Other)?,
                ),
            };
        }
        Ok(cmd)
    }

    async fn connect(&self) -> Result<MultiplexedConnection, ErrorKind> {
        let t = &self.target;
        let addrs = resolve_counted(t, &self.probe.refused).await?;
        let redis = RedisConnectionInfo {
            db: t.database,
            username: t.redis_auth.as_ref().and_then(|a| a.user.clone()),
            password: t.redis_auth.as_ref().map(|a| a.password.clone()),
            ..Default::default()
        };
        // AUTH or SELECT refused, or the connection lost while they ran: no connection.
        let failed = |e: redis::RedisError| match classify(&e) {
            ErrorKind::Reset | ErrorKind::Other => ErrorKind::Connect,
            kind => kind,
        };
        if let Some((connector, name)) = &self.tls {
            // The address the allowlist passed; the certificate must name the URL's host.
            let tcp = TcpStream::connect(addrs[0])
                .await
                .map_err(|_| ErrorKind::Connect)?;
            let _ = tcp.set_nodelay(true);
            let stream = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|_| ErrorKind::Tls)?;
            if let Some(at) = tls::earliest_expiry(stream.get_ref().1.peer_certificates()) {
                self.probe.cert_not_after(at);
            }
            let (conn, driver) = MultiplexedConnection::new(&redis, stream)
                .await
                .map_err(failed)?;
            tokio::spawn(driver);
            return Ok(conn);
        }
        let info = ConnectionInfo {
            // The address the allowlist passed, never the name again.
            addr: ConnectionAddr::Tcp(addrs[0].ip().to_string(), addrs[0].port()),
            redis,
        };
        let client = redis::Client::open(info).map_err(|e| classify(&e))?;
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(failed)
    }
}

fn classify(e: &redis::RedisError) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connection_refusal() {
        ErrorKind::Connect
    } else if e.is_connection_dropped() || e.is_io_error() {
        ErrorKind::Reset
    } else if e.kind() == redis::ErrorKind::ParseError {
        ErrorKind::Protocol
    } else {
        ErrorKind::Other
    }
}

/// Whether a reply holds `needle` in one of its strings.
fn holds(value: &Value, needle: &[u8]) -> bool {
    let find = |hay: &[u8]| memchr::memmem::find(hay, needle).is_some();
    match value {
        Value::BulkString(b) => find(b),
        Value::SimpleString(s) => find(s.as_bytes()),
        Value::VerbatimString { text, .. } => find(text.as_bytes()),
        Value::Okay => find(b"OK"),
        Value::Int(i) => find(i.to_string().as_bytes()),
        Value::Array(items) | Value::Set(items) => items.iter().any(|v| holds(v, needle)),
        Value::Map(pairs) => pairs
            .iter()
            .any(|(k, v)| holds(k, needle) || holds(v, needle)),
        _ => false,
    }
}

/// The payload bytes of a reply (strings and numbers as text), for `bytes_received`.
fn size(value: &Value) -> u64 {
    match value {
        Value::BulkString(b) => b.len() as u64,
        Value::SimpleString(s) => s.len() as u64,
        Value::VerbatimString { text, .. } => text.len() as u64,
        Value::Okay => 2,
        Value::Int(i) => digits(*i),
        Value::Array(items) | Value::Set(items) => items.iter().map(size).sum(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| size(k) + size(v)).sum(),
        _ => 0,
    }
}

/// The length of `i` written in decimal, without writing it.
fn digits(i: i64) -> u64 {
    let magnitude = i.unsigned_abs().checked_ilog10().map_or(1, |d| d + 1);
    u64::from(magnitude) + u64::from(i < 0)
}

impl Transport for RedisClient {
    type Conn = MultiplexedConnection;

    fn target(&self) -> &Target {
        &self.target
    }

    fn pool(&self) -> &Pool<MultiplexedConnection> {
        &self.idle
    }

    async fn exchange(
        &self,
        idx: usize,
        slot: &mut Option<MultiplexedConnection>,
    ) -> Result<Outcome, ErrorKind> {
        let cmd = self.command(idx)?;
        let mut conn = match slot.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        match cmd.query_async::<Value>(&mut conn).await {
            Ok(value) => {
                let found = self.contains[idx]
                    .as_deref()
                    .is_none_or(|n| holds(&value, n));
                *slot = Some(conn);
                Ok(Outcome::replied(
                    Code::Named(NamedCode::OK),
                    (!found).then_some(ErrorKind::Check),
                    size(&value),
                ))
            }
            Err(e) => match e.code() {
                // The server answered with an error: the connection is fine.
                Some(code) => {
                    *slot = Some(conn);
                    Ok(Outcome::replied(
                        Code::Named(NamedCode::of(code)),
                        Some(ErrorKind::Status),
                        0,
                    ))
                }
                None => Err(classify(&e)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_match_the_decimal_text() {
        for i in [0, 7, 10, 99, 100, -1, -10, 12_345, i64::MAX, i64::MIN] {
            assert_eq!(digits(i), i.to_string().len() as u64, "{i}");
        }
    }
}
