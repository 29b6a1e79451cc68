//! The demo target's `/ws` endpoint: a WebSocket echo. Each text or binary message comes
//! back unchanged after a short, varied service time, so the bundled WebSocket profile shows
//! realistic round trips; a Close frame is answered and ends the connection.

use futures_util::{SinkExt, StreamExt};
use http::{header, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use crate::httpserve::{response, HttpResponse};

/// Answers the upgrade request and echoes on the upgraded connection until either side
/// closes it or `cancel` fires.
pub fn upgrade(mut req: Request<Incoming>, cancel: CancellationToken) -> HttpResponse {
    let header_has = |name: header::HeaderName, want: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(want))
    };
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (Some(key), true, true) = (
        key,
        header_has(header::UPGRADE, "websocket"),
        header_has(header::SEC_WEBSOCKET_VERSION, "13"),
    ) else {
        return response(
            400,
            "text/plain",
            "expected a WebSocket upgrade (version 13)\n",
        );
    };
    let upgrading = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrading.await else {
            return;
        };
        let stream =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        tokio::select! {
            _ = echo(stream) => {}
            _ = cancel.cancelled() => {}
        }
    });
    let mut res = response(101, "text/plain", "");
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.insert(
        header::CONNECTION,
        "upgrade".parse().expect("static header"),
    );
    h.insert(header::UPGRADE, "websocket".parse().expect("static header"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        derive_accept_key(key.as_bytes())
            .parse()
            .expect("base64 is a valid header value"),
    );
    res
}

async fn echo<S>(mut stream: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                tokio::time::sleep(super::service_time(1, 12)).await;
                if stream.send(msg).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return, // tungstenite has queued the answering Close
            _ => {}
        }
    }
}
