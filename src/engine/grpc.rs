//! gRPC: each request is one call (of any kind: a client-streaming or bidi call's messages
//! are produced by `grpc_stream` while the reply is read) on the target's shared HTTP/2
//! connection, sent through the HTTP client so DNS allowlist checks, TLS and connection reuse
//! are the same code as for HTTP. A call's request frame is encoded once when its body has no
//! template; the reply is read frame by frame (one message at a time in memory) and judged by
//! its `grpc-status`: `code` is the status name (`ok`, `UNAVAILABLE`, ...), a status other
//! than OK a `status` error. Latency is to the call's end, so the last message of a stream.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, TE};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};

use super::body::ReqBody;
use super::classify::classify_hyper;
use super::client::{Conn, HttpClient};
use super::grpc_stream::{self, Tally};
use super::transport::{Pool, Transport};
use crate::config::{GrpcMethod, Target, MAX_REPLY, STREAM_MESSAGE_VAR};
use crate::metrics::connection::ConnProbe;
use crate::metrics::grpc_stream::StreamSeries;
use crate::outcome::{Code, ErrorKind, NamedCode, Outcome};
use crate::scenario::template::{Templates, Vars};

/// One endpoint's call, built once.
struct Call {
    uri: Uri,
    headers: HeaderMap,
    /// The length-prefixed request message, when the body has no template.
    frame: Option<Bytes>,
    method: GrpcMethod,
    contains: Option<String>,
    /// A streaming method's message series.
    stream: Option<StreamSeries>,
}

pub struct GrpcClient {
    http: Arc<HttpClient>,
    calls: Vec<Call>,
    templates: Templates,
}

impl GrpcClient {
    /// `streams` holds the message series of the streaming endpoints, indexed like them.
    pub fn new(
        target: Arc<Target>,
        probe: ConnProbe,
        trace: Option<f64>,
        streams: Vec<Option<StreamSeries>>,
    ) -> Arc<Self> {
        let http = HttpClient::new(target.clone(), probe, trace, false);
        let mut templates = Templates::new();
        let calls = target
            .endpoints
            .iter()
            .zip(streams.into_iter().chain(std::iter::repeat(None)))
            .filter_map(|(e, stream)| {
                let method = e.grpc.clone()?;
                let json = std::str::from_utf8(&e.body).unwrap_or("{}");
                let json = if json.trim().is_empty() { "{}" } else { json };
                // Checked at `check` time already: a template compiles, a plain body encodes.
                let frame = if json.contains("{{") || json.contains("{%") {
                    let _ = templates.add(&e.name, json);
                    None
                } else {
                    method.encode(json).ok().map(|m| frame(&m))
                };
                Some(Call {
                    uri: http.uri(&e.path).ok()?,
                    headers: headers(&target, e),
                    frame,
                    method,
                    contains: e.body_contains.clone(),
                    stream,
                })
            })
            .collect();
        Arc::new(GrpcClient {
            http,
            calls,
            templates,
        })
    }

    /// Message `index` of endpoint `idx` (None for a call of one message), its body rendered
    /// and encoded for this call, framed.
    fn message(&self, idx: usize, index: Option<u32>) -> Result<Bytes, ErrorKind> {
        let call = &self.calls[idx];
        if let Some(f) = &call.frame {
            return Ok(f.clone());
        }
        let name = &self.http.target().endpoints[idx].name;
        let mut vars = Vars::new();
        if let Some(i) = index {
            vars.set(STREAM_MESSAGE_VAR, i);
        }
        let json = self.templates.render(name, &vars).map_err(|e| {
            tracing::debug!(endpoint = %name, error = %e, "gRPC body template failed");
            ErrorKind::Other
        })?;
        let message = call.method.encode(&json).map_err(|e| {
            tracing::debug!(endpoint = %name, error = %e, "gRPC body is not the request message");
            ErrorKind::Other
        })?;
        Ok(frame(&message))
    }

    /// Sends the call `call` with `body` and reads its reply to the end; a streaming call's
    /// reply messages go to `tally`.
    async fn call(
        &self,
        call: &Call,
        body: impl Into<ReqBody>,
        slot: &mut Option<Conn>,
        tally: Option<&Tally<'_>>,
    ) -> Result<Outcome, ErrorKind> {
        let mut req = Request::new(body);
        *req.method_mut() = Method::POST;
        *req.uri_mut() = call.uri.clone();
        *req.headers_mut() = call.headers.clone();
        let (head, mut body, conn, trace) = self.http.send(req, slot).await?;
        let head_at = std::time::Instant::now();
        let mut messages = Messages {
            pending: BytesMut::new(),
            count: 0,
        };
        let mut found = call.contains.is_none();
        let mut received = 0u64;
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify_hyper(&e))?;
            match frame.into_data() {
                Ok(data) => {
                    received += data.len() as u64;
                    messages.feed(&data, |m| {
                        if let Some(t) = tally {
                            t.received();
                        }
                        if let (false, Some(needle)) = (found, &call.contains) {
                            found = holds(&call.method, m, needle)?;
                        }
                        Ok(())
                    })?;
                }
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        self.http.body_read(head_at);
        *slot = Some(conn);
        let code = if head.status != StatusCode::OK {
            status_of_http(head.status)
        } else {
            // A reply without messages may carry its status in the head ("trailers-only").
            let value = trailers
                .as_ref()
                .and_then(|t| t.get("grpc-status"))
                .or_else(|| head.headers.get("grpc-status"));
            status(value).ok_or(ErrorKind::Protocol)?
        };
        let error = if code != NamedCode::OK {
            Some(ErrorKind::Status)
        } else if !messages.pending.is_empty()
            || (messages.count == 0 && !call.method.server_streaming)
        {
            // A cut-off message, or a call with one reply that returned none.
            Some(ErrorKind::Protocol)
        } else if !found {
            Some(ErrorKind::Check)
        } else {
            None
        };
        Ok(Outcome {
            trace,
            ..Outcome::replied(Code::Named(code), error, received)
        })
    }
}

/// The headers of every call to `e`: the target's and endpoint's metadata, then the ones gRPC
/// requires, and the deadline (the target's timeout) so the server can give up in time too.
fn headers(target: &Target, e: &crate::config::Endpoint) -> HeaderMap {
    let mut h = target.request_headers(e);
    // That was the JSON body's length, not the frame's; HTTP/2 frames the body itself.
    h.remove(CONTENT_LENGTH);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert(TE, HeaderValue::from_static("trailers"));
    if let Ok(v) = HeaderValue::from_str(&timeout_header(target.timeout)) {
        h.insert(HeaderName::from_static("grpc-timeout"), v);
    }
    h
}

/// `grpc-timeout`: at most 8 digits and a unit, in the finest unit that fits.
fn timeout_header(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 100_000_000 {
        format!("{ms}m")
    } else {
        format!("{}S", d.as_secs().min(99_999_999))
    }
}

/// A message as gRPC puts it on the wire: uncompressed flag, big-endian length, bytes.
fn frame(message: &[u8]) -> Bytes {
    let mut f = BytesMut::with_capacity(5 + message.len());
    f.extend_from_slice(&[0]);
    f.extend_from_slice(&(message.len() as u32).to_be_bytes());
    f.extend_from_slice(message);
    f.freeze()
}

/// The status a `grpc-status` value names.
fn status(value: Option<&HeaderValue>) -> Option<NamedCode> {
    Some(NamedCode::grpc(value?.to_str().ok()?.parse().ok()?))
}

/// The status a client reports when the HTTP response itself failed (gRPC's "HTTP to gRPC
/// status code mapping").
fn status_of_http(status: StatusCode) -> NamedCode {
    NamedCode::grpc(match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    })
}

/// Splits a reply's data frames into messages, holding at most one message at a time.
struct Messages {
    pending: BytesMut,
    count: u64,
}

impl Messages {
    /// Adds `data`; each whole message is handed to `each`. A compressed or oversized message
    /// is a protocol error (loadtide asks for no compression).
    fn feed(
        &mut self,
        data: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), ErrorKind>,
    ) -> Result<(), ErrorKind> {
        self.pending.extend_from_slice(data);
        while self.pending.len() >= 5 {
            let len = u32::from_be_bytes([
                self.pending[1],
                self.pending[2],
                self.pending[3],
                self.pending[4],
            ]) as usize;
            if self.pending[0] != 0 || len > MAX_REPLY {
                return Err(ErrorKind::Protocol);
            }
            if self.pending.len() < 5 + len {
                break;
            }
            self.pending.advance(5);
            let message = self.pending.split_to(len);
            self.count += 1;
            each(&message)?;
        }
        Ok(())
    }
}

/// Whether the JSON of `message` (a reply of `method`) holds `needle`.
fn holds(method: &GrpcMethod, message: &[u8], needle: &str) -> Result<bool, ErrorKind> {
    let m = prost_reflect::DynamicMessage::decode(method.output.clone(), message)
        .map_err(|_| ErrorKind::Protocol)?;
    let json = serde_json::to_string(&m).map_err(|_| ErrorKind::Protocol)?;
    Ok(json.contains(needle))
}

impl Transport for GrpcClient {
    type Conn = Conn;

    fn target(&self) -> &Target {
        self.http.target()
    }

    fn pool(&self) -> &Pool<Conn> {
        self.http.pool()
    }

    fn reusable(conn: &Conn) -> bool {
        HttpClient::reusable(conn)
    }

    /// As the HTTP client's: `send` checks a connection out per request.
    fn take_idle(&self) -> Option<Conn> {
        self.http.take_idle()
    }

    fn put_idle(&self, conn: Conn) {
        self.http.keep_idle(conn);
    }

    async fn exchange(&self, idx: usize, slot: &mut Option<Conn>) -> Result<Outcome, ErrorKind> {
        let call = &self.calls[idx];
        let tally = call.stream.as_ref().map(Tally::new);
        let tally = tally.as_ref();
        let Some(stream) = &call.method.requests else {
            let body = Full::new(self.message(idx, None)?);
            return self.call(call, body, slot, tally).await;
        };
        let (tx, body) = ReqBody::channel(grpc_stream::ROOM);
        let produce = grpc_stream::produce(stream, tx, tally, |i| self.message(idx, Some(i)));
        grpc_stream::race(produce, self.call(call, body, slot, tally)).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_split_across_and_within_frames() {
        let mut m = Messages {
            pending: BytesMut::new(),
            count: 0,
        };
        let (a, b) = (frame(b"hello"), frame(b""));
        let wire = [&a[..], &b[..], &a[..]].concat();
        let mut seen = Vec::new();
        let mut keep = |x: &[u8]| {
            seen.push(x.to_vec());
            Ok(())
        };
        // One byte at a time, then the rest at once: the same three messages.
        for byte in &wire[..3] {
            m.feed(&[*byte], &mut keep).unwrap();
        }
        m.feed(&wire[3..], &mut keep).unwrap();
        assert_eq!(seen, vec![b"hello".to_vec(), vec![], b"hello".to_vec()]);
        assert_eq!(m.count, 3);
        assert!(m.pending.is_empty());
    }

    #[test]
    fn compressed_or_huge_messages_are_protocol_errors() {
        let mut m = Messages {
            pending: BytesMut::new(),
            count: 0,
        };
        assert_eq!(
            m.feed(&[1, 0, 0, 0, 1, 7], |_| Ok(())),
            Err(ErrorKind::Protocol)
        );
        let mut m = Messages {
            pending: BytesMut::new(),
            count: 0,
        };
        assert_eq!(
            m.feed(&[0, 0xff, 0xff, 0xff, 0xff], |_| Ok(())),
            Err(ErrorKind::Protocol)
        );
    }

    #[test]
    fn statuses_are_named_by_code_and_http_failures_mapped() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        let name = |s| status(Some(&v(s))).map(NamedCode::as_str);
        assert_eq!(name("0"), Some("ok"));
        assert_eq!(name("1"), Some("CANCELLED"));
        assert_eq!(name("14"), Some("UNAVAILABLE"));
        assert_eq!(name("16"), Some("UNAUTHENTICATED"));
        assert_eq!(name("99"), Some("UNKNOWN"));
        assert_eq!(name("x"), None);
        assert_eq!(status(None), None);
        let http = |s| status_of_http(StatusCode::from_u16(s).unwrap()).as_str();
        assert_eq!(http(404), "UNIMPLEMENTED");
        assert_eq!(http(503), "UNAVAILABLE");
        assert_eq!(http(500), "UNKNOWN");
    }

    #[test]
    fn deadlines_fit_the_header_grammar() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10000m");
        assert_eq!(timeout_header(Duration::from_secs(200_000)), "200000S");
    }
}
