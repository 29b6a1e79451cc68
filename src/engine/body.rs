//! The body of a request the HTTP client sends: whole (every HTTP request, a unary gRPC call)
//! or streamed from a bounded channel (a client-streaming or bidi gRPC call), so the messages
//! of a stream go out as they are produced and never pile up in memory; and what a socket or
//! WebSocket endpoint sends, fixed or templated.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::config::Endpoint;
use crate::outcome::ErrorKind;
use crate::scenario::template::{Templates, Vars};

/// What a socket or WebSocket endpoint sends: its body as written, shared (each request's
/// copy is a reference-count bump), or a template rendered for each request.
pub(super) enum Outgoing<T> {
    Fixed(T),
    Template(String),
}

impl<T: Clone + From<String>> Outgoing<T> {
    /// Endpoint `e`'s body; a template is added to `templates` under the endpoint's name, a
    /// body without `{{` is `fixed(body)` (compiled at `check` time already).
    pub(super) fn of(
        e: &Endpoint,
        templates: &mut Templates,
        fixed: impl FnOnce(&Bytes) -> T,
    ) -> Self {
        let text = String::from_utf8_lossy(&e.body);
        if text.contains("{{") && templates.add(&e.name, &text).is_ok() {
            Outgoing::Template(e.name.clone())
        } else {
            Outgoing::Fixed(fixed(&e.body))
        }
    }

    /// This request's body.
    pub(super) fn render(&self, templates: &Templates) -> Result<T, ErrorKind> {
        match self {
            Outgoing::Fixed(body) => Ok(body.clone()),
            Outgoing::Template(name) => templates
                .render(name, &Vars::new())
                .map(T::from)
                .map_err(|_| ErrorKind::Other),
        }
    }
}

pub enum ReqBody {
    Full(Full<Bytes>),
    /// Ends when every sender is dropped.
    Stream(mpsc::Receiver<Bytes>),
}

impl ReqBody {
    /// A streamed body and the sender that feeds it, holding at most `room` chunks that
    /// the connection has not taken yet.
    pub fn channel(room: usize) -> (mpsc::Sender<Bytes>, ReqBody) {
        let (tx, rx) = mpsc::channel(room);
        (tx, ReqBody::Stream(rx))
    }
}

impl From<Full<Bytes>> for ReqBody {
    fn from(b: Full<Bytes>) -> Self {
        ReqBody::Full(b)
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        // Both variants are Unpin.
        match self.get_mut() {
            ReqBody::Full(b) => Pin::new(b).poll_frame(cx),
            ReqBody::Stream(rx) => rx.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Full(b) => b.is_end_stream(),
            ReqBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Full(b) => b.size_hint(),
            ReqBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_streamed_body_yields_what_was_sent_and_ends_with_the_sender() {
        let (tx, mut body) = ReqBody::channel(1);
        let feed = tokio::spawn(async move {
            for chunk in ["a", "bc"] {
                tx.send(Bytes::from(chunk)).await.expect("body alive");
            }
        });
        let mut got = Vec::new();
        while let Some(frame) = body.frame().await {
            got.push(frame.expect("infallible").into_data().expect("data"));
        }
        feed.await.expect("feeder");
        assert_eq!(got, [Bytes::from("a"), Bytes::from("bc")]);
        assert!(
            !body.is_end_stream(),
            "a stream's length is never known up front"
        );
    }

    #[tokio::test]
    async fn a_whole_body_keeps_its_exact_length() {
        let body = ReqBody::from(Full::new(Bytes::from("hello")));
        assert_eq!(body.size_hint().exact(), Some(5));
        let data = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(data, "hello");
    }
}
