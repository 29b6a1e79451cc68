//! A minimal HTTP accept loop shared by the metrics server and the demo target: one task per
//! connection, keep-alive, optional TLS, stops accepting when cancelled. HTTP/1.1 only, or
//! also cleartext HTTP/2 (`Protocols::WithH2c`: the demo target's gRPC service).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub type HttpResponse = Response<Full<Bytes>>;

/// What a connection may speak.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    Http1,
    /// HTTP/1.1, or HTTP/2 with prior knowledge when the client opens with its preface.
    WithH2c,
}

/// How long a client may take to send its first bytes and finish the TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a TLS port answers to a plain-HTTP request, as Go's servers (and so Prometheus and
/// its exporters) do.
const PLAIN_HTTP_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Serves `handler` on `listener` until `cancel` fires, speaking `protocols`.
pub async fn serve<H, F, B>(
    listener: TcpListener,
    protocols: Protocols,
    cancel: CancellationToken,
    handler: Arc<H>,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    serve_tls(listener, None, protocols, cancel, handler).await
}

/// Like `serve`, over TLS when `tls` is given.
pub async fn serve_tls<H, F, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    protocols: Protocols,
    cancel: CancellationToken,
    handler: Arc<H>,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning; never give up
                    // serving. The connection waits in the backlog for the next try.
                    if crate::fdlimit::is_exhaustion(&e) {
                        crate::fdlimit::exhausted("accept", &e);
                    } else {
                        tracing::warn!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let cancel = cancel.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, protocols, handler, cancel).await,
                Some(tls) => {
                    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, tls));
                    match accepted.await {
                        Ok(Some(stream)) => {
                            serve_connection(stream, protocols, handler, cancel).await
                        }
                        Ok(None) => {}
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// The TLS side of a new connection; None (after answering 400) when the client speaks plain
/// HTTP, or when the handshake fails.
async fn handshake(
    mut stream: TcpStream,
    tls: TlsAcceptor,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    // A TLS connection opens with a handshake record (content type 22).
    if matches!(stream.peek(&mut first).await, Ok(1) if first[0] != 22) {
        // Read the request head first, so that closing does not reset the connection
        // before the client has read the answer.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            let mut head = Vec::with_capacity(1024);
            while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let mut buf = [0u8; 1024];
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        let _ = stream.write_all(PLAIN_HTTP_TO_TLS).await;
        let _ = stream.shutdown().await;
        return None;
    }
    match tls.accept(stream).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
    }
}

async fn serve_connection<I, H, F, B>(
    io: I,
    protocols: Protocols,
    handler: Arc<H>,
    cancel: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let service = service_fn(move |req| {
        let fut = handler(req);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if protocols == Protocols::Http1 {
        builder = builder.http1_only();
    }
    // Upgrades: the demo target's WebSocket endpoint.
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}

/// How long a connection may take to finish its requests once serving stops.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}
