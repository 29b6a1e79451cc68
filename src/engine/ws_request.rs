//! WebSocket request/reply: a `ws://` or `wss://` target with endpoints sends each request as
//! one text message (the endpoint's body, a template when it has `{{ }}`) on a connection a
//! closed-model user keeps (open model: one from the pool), and the request ends with the
//! next data message the server sends back. So WebSocket runs through the same `Transport`
//! as every other protocol: open and closed models, patterns, caps, the brake, thresholds,
//! reports and the request families with `protocol="websocket"`. A target without endpoints
//! is a message stream instead (`engine::websocket`: connections × message_rate, replies
//! correlated, many outstanding per connection).

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use super::body::Outgoing;
use super::classify::connect_tcp;
use super::resolve::resolve_counted;
use super::tls;
use super::transport::{Pool, Transport};
use super::websocket::{handshake_request, Io, Stream};
use crate::config::{Scheme, Target};
use crate::metrics::connection::ConnProbe;
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};
use crate::scenario::template::Templates;

pub struct WsRequestClient {
    target: Arc<Target>,
    messages: Vec<Outgoing<Utf8Bytes>>,
    contains: Vec<Option<Vec<u8>>>,
    templates: Templates,
    /// The upgrade request every connection sends (the URL's path, the target's headers).
    handshake: http::Request<()>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Pool<Stream>,
    /// The allowlist's refusals and the wss:// certificate's expiry.
    probe: ConnProbe,
}

impl WsRequestClient {
    pub fn new(target: Arc<Target>, probe: ConnProbe) -> Arc<Self> {
        let mut templates = Templates::new();
        let messages = target
            .endpoints
            .iter()
            .map(|e| {
                Outgoing::of(e, &mut templates, |body| {
                    Utf8Bytes::from(String::from_utf8_lossy(body).into_owned())
                })
            })
            .collect();
        let contains = target
            .endpoints
            .iter()
            .map(|e| e.body_contains.as_ref().map(|s| s.as_bytes().to_vec()))
            .collect();
        // Validation gives every endpoint of such a target the URL's path and query.
        let path = target.endpoints.first().map_or("/", |e| e.path.as_str());
        Arc::new(WsRequestClient {
            handshake: handshake_request(&target, path),
            tls: (target.scheme == Scheme::Wss).then(|| tls::connector(&target, b"http/1.1")),
            idle: Pool::new(target.max_connections),
            messages,
            contains,
            templates,
            probe,
            target,
        })
    }

    fn message(&self, idx: usize) -> Result<Utf8Bytes, ErrorKind> {
        self.messages[idx].render(&self.templates)
    }

    /// A new connection: resolved within the allowlist, TCP, TLS for wss://, the upgrade.
    /// An upgrade the server answers with a status is that response (`Err(Ok(outcome))`).
    async fn connect(&self) -> Result<Stream, Result<Outcome, ErrorKind>> {
        let addrs = resolve_counted(&self.target, &self.probe.refused)
            .await
            .map_err(Err)?;
        let tcp = connect_tcp(&addrs).await.map_err(Err)?;
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| Err(ErrorKind::Tls))?;
                if let Some(at) = tls::earliest_expiry(stream.get_ref().1.peer_certificates()) {
                    self.probe.cert_not_after(at);
                }
                Box::new(stream)
            }
        };
        match tokio_tungstenite::client_async(self.handshake.clone(), io).await {
            Ok((stream, _)) => Ok(stream),
            Err(tungstenite::Error::Http(response)) => Err(Ok(Outcome::replied(
                Code::Http(response.status().as_u16()),
                Some(ErrorKind::Status),
                0,
            ))),
            Err(e) => Err(Err(classify(&e))),
        }
    }
}

fn classify(e: &tungstenite::Error) -> ErrorKind {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => ErrorKind::Reset,
        E::Io(io) => super::classify::classify_io(io, ErrorKind::Reset),
        E::Tls(_) => ErrorKind::Tls,
        _ => ErrorKind::Protocol,
    }
}

impl Transport for WsRequestClient {
    type Conn = Stream;

    fn target(&self) -> &Target {
        &self.target
    }

    fn pool(&self) -> &Pool<Stream> {
        &self.idle
    }

    async fn exchange(&self, idx: usize, slot: &mut Option<Stream>) -> Result<Outcome, ErrorKind> {
        let text = self.message(idx)?;
        let mut stream = match slot.take() {
            Some(s) => s,
            None => match self.connect().await {
                Ok(s) => s,
                Err(Ok(refused)) => return Ok(refused),
                Err(Err(kind)) => return Err(kind),
            },
        };
        stream
            .send(Message::Text(text))
            .await
            .map_err(|e| classify(&e))?;
        loop {
            // The reply is read where it lies: no copy to check it and count it.
            let reply = match stream.next().await {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
                // Pings are answered by tungstenite; neither they nor pongs are replies.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(_))) | None => return Err(ErrorKind::Reset),
                Some(Err(e)) => return Err(classify(&e)),
            };
            let data: &[u8] = match &reply {
                Message::Text(t) => t.as_bytes(),
                Message::Binary(b) => b,
                _ => &[],
            };
            let found = self.contains[idx]
                .as_deref()
                .is_none_or(|n| memchr::memmem::find(data, n).is_some());
            let received = data.len() as u64;
            *slot = Some(stream);
            return Ok(Outcome::replied(
                Code::Named(NamedCode::OK),
                (!found).then_some(ErrorKind::Check),
                received,
            ));
        }
    }
}
