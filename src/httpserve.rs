//! A minimal HTTP/1.1 accept loop shared by the metrics server and the demo target: one task
//! per connection, keep-alive, optional TLS, stops accepting when cancelled.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub type HttpResponse = Response<Full<Bytes>>;

/// How long a client may take to send its first bytes and finish the TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a TLS port answers to a plain-HTTP request, as Go's servers (and so Prometheus and
/// its exporters) do.
const PLAIN_HTTP_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Serves `handler` on `listener` until `cancel` fires.
pub async fn serve<H, F>(listener: TcpListener, cancel: CancellationToken, handler: Arc<H>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    serve_tls(listener, None, cancel, handler).await
}

/// Like `serve`, over TLS when `tls` is given.
pub async fn serve_tls<H, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    cancel: CancellationToken,
    handler: Arc<H>,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
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
                None => serve_connection(stream, handler, cancel).await,
                Some(tls) => {
                    let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, tls));
                    match accepted.await {
                        Ok(Some(stream)) => serve_connection(stream, handler, cancel).await,
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

async fn serve_connection<I, H, F>(io: I, handler: Arc<H>, cancel: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let service = service_fn(move |req| {
        let fut = handler(req);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades(); // the demo target's WebSocket endpoint
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = cancel.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
        }
    }
}

pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}
