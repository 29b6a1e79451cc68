//! The lean HTTP/1.1 path for endpoint requests: each endpoint's request is rendered to bytes
//! once, a request is one write, and the response is parsed with httparse in a buffer the
//! connection keeps, on the caller's task. Hyper's client runs a task per connection and
//! hands each request and response through channels; the profile (bench/README.md) showed
//! that hand-off and its wake-ups as the largest cost in user space. Scenarios (which need
//! response headers), HTTP/2 and gRPC stay on hyper.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::header::HeaderMap;
use http::Method;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::classify::classify_io;
use crate::outcome::ErrorKind;

/// A response head may not be larger than this (hyper's default buffer is larger, but no
/// real head comes near it).
const MAX_HEAD: usize = 64 * 1024;
/// As many response headers as hyper accepts.
const MAX_HEADERS: usize = 100;
/// What the buffer starts with and shrinks back to after a large body.
const BUF: usize = 16 * 1024;

/// One endpoint's request, rendered once.
pub struct WireRequest {
    /// Request line and headers, without the blank line: a traced request adds its
    /// `traceparent` here.
    head: Vec<u8>,
    /// Head, blank line and body: what an untraced request writes.
    whole: Bytes,
    body: Bytes,
    /// A response to HEAD has no body whatever its headers say.
    head_only: bool,
    /// Safe to send again on a fresh connection when a reused one turns out closed.
    idempotent: bool,
    /// The config sets a `traceparent` itself: the tracer leaves it alone.
    own_traceparent: bool,
}

impl WireRequest {
    /// `headers` as the config renders them (Host and Content-Length included), in order.
    pub fn new(method: &Method, path: &str, headers: &HeaderMap, body: Bytes) -> Self {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(method.as_str().as_bytes());
        head.push(b' ');
        head.extend_from_slice(path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        WireRequest {
            whole: Self::join(&head, None, &body),
            head,
            head_only: method == Method::HEAD,
            idempotent: method.is_idempotent(),
            own_traceparent: headers.contains_key("traceparent"),
            body,
        }
    }

    fn join(head: &[u8], extra: Option<(&str, &[u8])>, body: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(head.len() + 80 + body.len());
        out.extend_from_slice(head);
        if let Some((name, value)) = extra {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.into()
    }

    /// The bytes to write: rendered once, or with one more header (a `traceparent`).
    pub fn bytes(&self, extra: Option<(&str, &[u8])>) -> Bytes {
        match extra {
            None => self.whole.clone(),
            Some(_) => Self::join(&self.head, extra, &self.body),
        }
    }

    pub fn head_only(&self) -> bool {
        self.head_only
    }

    pub fn own_traceparent(&self) -> bool {
        self.own_traceparent
    }

    pub fn idempotent(&self) -> bool {
        self.idempotent
    }
}

/// A connection's byte stream, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes (no length, not chunked).
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    framing: Framing,
    keep_alive: bool,
}

/// A failure before any byte of the response arrived on a reused connection can be the
/// server having closed it while it sat idle: the request may be sent again on a new one.
pub struct Failed {
    pub kind: ErrorKind,
    pub nothing_back: bool,
}

/// An HTTP/1.1 connection without a task of its own: requests run on the caller's task.
pub struct Wire {
    stream: Stream,
    buf: BytesMut,
    open: bool,
    /// Responses read whole on this connection.
    served: u64,
}

impl Wire {
    pub fn new(stream: Stream) -> Self {
        Wire {
            stream,
            buf: BytesMut::with_capacity(BUF),
            open: true,
            served: 0,
        }
    }

    /// Whether it can carry another request: the last response was read whole and neither
    /// side asked to close.
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn reused(&self) -> bool {
        self.served > 0
    }

    /// Whether the server closed it (or sent bytes nobody asked for) while it sat idle,
    /// asked without waiting: what hyper's connection task would have noticed on its own.
    pub fn went_stale(&mut self) -> bool {
        if !self.open {
            return true;
        }
        let mut byte = [0u8; 1];
        let mut probe = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.stream).poll_read(&mut cx, &mut probe) {
            Poll::Pending => false,
            // End of stream, unasked bytes or an error: none leaves it usable.
            Poll::Ready(_) => {
                self.open = false;
                true
            }
        }
    }

    /// Writes `request` and reads the response head, skipping interim (1xx) responses.
    pub async fn start(&mut self, request: &[u8], head_only: bool) -> Result<Head, Failed> {
        self.open = false;
        self.buf.clear();
        let write = async {
            self.stream.write_all(request).await?;
            self.stream.flush().await
        };
        if let Err(e) = write.await {
            return Err(Failed {
                kind: classify_io(&e, ErrorKind::Reset),
                nothing_back: true,
            });
        }
        loop {
            if let Some(head) = self.parse_head(head_only).map_err(|kind| Failed {
                kind,
                nothing_back: false,
            })? {
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(Failed {
                    kind: ErrorKind::Protocol,
                    nothing_back: false,
                });
            }
            let nothing_back = self.buf.is_empty();
            match self.fill().await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failed {
                        kind: ErrorKind::Reset,
                        nothing_back,
                    })
                }
                Err(kind) => return Err(Failed { kind, nothing_back }),
            }
        }
    }

    /// Parses a head from the buffer, consuming it; None while it is incomplete.
    fn parse_head(&mut self, head_only: bool) -> Result<Option<Head>, ErrorKind> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ErrorKind::Protocol),
        };
        let status = response.code.ok_or(ErrorKind::Protocol)?;
        let http10 = response.version == Some(0);
        let mut length = None;
        let mut chunked = false;
        let mut close = http10;
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .ok_or(ErrorKind::Protocol)?;
                if length.is_some_and(|l| l != n) {
                    return Err(ErrorKind::Protocol);
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = has_token(h.value, b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                if has_token(h.value, b"close") {
                    close = true;
                } else if has_token(h.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        let framing = if head_only || status < 200 || status == 204 || status == 304 {
            Framing::Length(0)
        } else if chunked {
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::Close
        };
        self.buf.advance(len);
        Ok(Some(Head {
            status,
            framing,
            keep_alive: !close && framing != Framing::Close,
        }))
    }

    /// Reads the body `head` announced, handing each piece to `data` and keeping none;
    /// afterwards the connection is open for the next request unless either side said not.
    pub async fn read_body(
        &mut self,
        head: &Head,
        mut data: impl FnMut(&[u8]),
    ) -> Result<(), ErrorKind> {
        match head.framing {
            Framing::Length(n) => self.read_exact(n, &mut data).await?,
            Framing::Chunked => self.read_chunked(&mut data).await?,
            Framing::Close => loop {
                if !self.buf.is_empty() {
                    data(&self.buf);
                    self.buf.clear();
                }
                if !self.fill().await? {
                    break;
                }
            },
        }
        self.served += 1;
        // Bytes past the response were never asked for: the connection is out of step.
        self.open = head.keep_alive && self.buf.is_empty();
        if self.buf.capacity() > 4 * BUF {
            self.buf = BytesMut::with_capacity(BUF);
        }
        Ok(())
    }

    async fn read_exact(
        &mut self,
        mut left: u64,
        data: &mut impl FnMut(&[u8]),
    ) -> Result<(), ErrorKind> {
        loop {
            let take = (self.buf.len() as u64).min(left) as usize;
            if take > 0 {
                data(&self.buf[..take]);
                self.buf.advance(take);
                left -= take as u64;
            }
            if left == 0 {
                return Ok(());
            }
            if !self.fill().await? {
                return Err(ErrorKind::Reset);
            }
        }
    }

    async fn read_chunked(&mut self, data: &mut impl FnMut(&[u8])) -> Result<(), ErrorKind> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.buf.advance(used);
                        break size;
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() < MAX_HEAD => {
                        if !self.fill().await? {
                            return Err(ErrorKind::Reset);
                        }
                    }
                    _ => return Err(ErrorKind::Protocol),
                }
            };
            if size == 0 {
                return self.read_trailers().await;
            }
            self.read_exact(size, data).await?;
            self.expect_crlf().await?;
        }
    }

    /// After the last chunk: trailer lines (ignored) up to an empty one.
    async fn read_trailers(&mut self) -> Result<(), ErrorKind> {
        loop {
            match self.buf.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.buf.advance(2);
                    return Ok(());
                }
                Some(at) => self.buf.advance(at + 2),
                None if self.buf.len() >= MAX_HEAD => return Err(ErrorKind::Protocol),
                None => {
                    if !self.fill().await? {
                        return Err(ErrorKind::Reset);
                    }
                }
            }
        }
    }

    async fn expect_crlf(&mut self) -> Result<(), ErrorKind> {
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(ErrorKind::Reset);
            }
        }
        if &self.buf[..2] != b"\r\n" {
            return Err(ErrorKind::Protocol);
        }
        self.buf.advance(2);
        Ok(())
    }

    /// Reads more into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, ErrorKind> {
        use tokio::io::AsyncReadExt;
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(BUF);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(classify_io(&e, ErrorKind::Reset)),
        }
    }
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A server on 127.0.0.1 that answers each request on one connection with the next of
    /// `replies` (written in the pieces given), then closes.
    async fn server(replies: Vec<Vec<&'static [u8]>>) -> Wire {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            s.set_nodelay(true).expect("nodelay");
            for pieces in replies {
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut b = [0u8; 1024];
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&b[..n]),
                    }
                }
                for p in pieces {
                    s.write_all(p).await.expect("write");
                    s.flush().await.expect("flush");
                }
            }
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Wire::new(Stream::Plain(tcp))
    }

    fn get() -> Bytes {
        let mut headers = HeaderMap::new();
        headers.insert("host", "t".parse().expect("value"));
        WireRequest::new(&Method::GET, "/x", &headers, Bytes::new()).bytes(None)
    }

    /// One exchange: the status, the body as read, and whether the connection stays open.
    async fn exchange(wire: &mut Wire, head_only: bool) -> Result<(u16, Vec<u8>), ErrorKind> {
        let head = wire.start(&get(), head_only).await.map_err(|f| f.kind)?;
        let mut body = Vec::new();
        wire.read_body(&head, |d| body.extend_from_slice(d)).await?;
        Ok((head.status, body))
    }

    #[test]
    fn the_request_is_rendered_as_the_config_sizes_it() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "h:1".parse().expect("value"));
        headers.insert("content-length", "2".parse().expect("value"));
        let r = WireRequest::new(&Method::POST, "/p?q=1", &headers, Bytes::from_static(b"{}"));
        assert_eq!(
            &r.bytes(None)[..],
            b"POST /p?q=1 HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert_eq!(
            &r.bytes(Some(("traceparent", b"00-ab")))[..],
            b"POST /p?q=1 HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\ntraceparent: 00-ab\r\n\r\n{}"
        );
        assert!(!r.idempotent());
        assert!(!r.own_traceparent());
    }

    #[tokio::test]
    async fn a_length_delimited_body_keeps_the_connection_for_the_next_request() {
        let mut w = server(vec![
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", b"lo"],
            vec![b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"],
        ])
        .await;
        assert_eq!(exchange(&mut w, false).await, Ok((200, b"hello".to_vec())));
        assert!(w.is_open() && w.reused());
        assert_eq!(exchange(&mut w, false).await, Ok((404, Vec::new())));
        assert!(w.is_open());
    }

    #[tokio::test]
    async fn a_chunked_body_is_decoded_with_extensions_and_trailers() {
        let mut w = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n",
            b"a\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
        ]])
        .await;
        assert_eq!(
            exchange(&mut w, false).await,
            Ok((200, b"abc0123456789".to_vec()))
        );
        assert!(w.is_open());
    }

    #[tokio::test]
    async fn a_body_without_length_runs_to_the_close() {
        let mut w = server(vec![vec![b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end"]]).await;
        assert_eq!(
            exchange(&mut w, false).await,
            Ok((200, b"until the end".to_vec()))
        );
        assert!(!w.is_open());
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_and_head_has_no_body() {
        let mut w = server(vec![
            vec![
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            ],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"],
        ])
        .await;
        assert_eq!(exchange(&mut w, false).await, Ok((201, b"ok".to_vec())));
        assert_eq!(exchange(&mut w, true).await, Ok((200, Vec::new())));
        assert!(w.is_open());
    }

    #[tokio::test]
    async fn connection_close_or_http_1_0_ends_reuse() {
        let mut w = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        ]])
        .await;
        assert_eq!(exchange(&mut w, false).await, Ok((200, Vec::new())));
        assert!(!w.is_open());
        let mut w = server(vec![vec![b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]]).await;
        assert_eq!(exchange(&mut w, false).await, Ok((200, Vec::new())));
        assert!(!w.is_open());
    }

    #[tokio::test]
    async fn malformed_responses_are_protocol_errors() {
        for reply in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
            b"SMTP ready\r\n\r\n",
        ] {
            let mut w = server(vec![vec![reply]]).await;
            assert_eq!(
                exchange(&mut w, false).await,
                Err(ErrorKind::Protocol),
                "{reply:?}"
            );
            assert!(!w.is_open());
        }
    }

    #[tokio::test]
    async fn a_close_before_the_response_says_nothing_came_back() {
        // The server reads the request and closes: what a kept connection meets when the
        // server's keep-alive timer fired just as the request went out.
        let mut w = server(vec![vec![]]).await;
        let failed = w.start(&get(), false).await.expect_err("closed");
        assert_eq!(failed.kind, ErrorKind::Reset);
        assert!(failed.nothing_back);
        let mut w = server(vec![vec![b"HTTP/1.1 200 OK\r\nContent-Len"]]).await;
        let failed = w.start(&get(), false).await.expect_err("cut");
        assert_eq!(failed.kind, ErrorKind::Reset);
        assert!(!failed.nothing_back);
    }

    #[tokio::test]
    async fn a_body_cut_short_is_a_reset() {
        let mut w = server(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        ]])
        .await;
        assert_eq!(exchange(&mut w, false).await, Err(ErrorKind::Reset));
        assert!(!w.is_open());
    }
}
