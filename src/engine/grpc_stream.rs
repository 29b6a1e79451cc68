//! The request side of client-streaming and bidi gRPC calls: the messages are produced one at
//! a time into a small channel the HTTP/2 connection drains as flow control allows, while the
//! same task reads the replies. A reply to one message can arrive before the next is sent,
//! nothing waits on the other side to finish, and at most the channel's room is buffered.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::RequestStream;
use crate::metrics::grpc_stream::StreamSeries;
use crate::outcome::ErrorKind;

/// Chunks waiting for the connection: enough that producing the next overlaps sending the
/// last, little enough that a slow reader holds the producer back.
pub(super) const ROOM: usize = 2;

/// Messages sent without a pause share a chunk (one DATA frame) up to this size, as tonic
/// sends messages that are ready together: a frame per tiny message trips servers' flood
/// limits (h2 answers a pile of small frames with GOAWAY ENHANCE_YOUR_CALM).
const BATCH: usize = 16 << 10;

/// Request messages a bidi call keeps the ready instants of, waiting for their replies: past
/// this many unanswered the server is not answering message for message, and the call's
/// replies are counted but no longer timed.
const MAX_UNANSWERED: usize = 1024;

/// One streaming call's messages: counted as they go and come, and in a bidi call each reply
/// timed against the request message of the same position (an echo or chat answers in order).
pub(super) struct Tally<'a> {
    series: &'a StreamSeries,
    /// Ready instants of the messages not answered yet; None once past [`MAX_UNANSWERED`]
    /// (or for a call whose replies are not timed). The producer and the reader of one call
    /// run in one task, so the lock is never contended.
    ready: Mutex<Option<VecDeque<Instant>>>,
}

impl<'a> Tally<'a> {
    pub(super) fn new(series: &'a StreamSeries) -> Self {
        let ready = series.times_replies().then(VecDeque::new);
        Tally {
            series,
            ready: Mutex::new(ready),
        }
    }

    /// A request message was made, ready to send, at `at`.
    fn ready(&self, at: Instant) {
        let mut ready = self.ready.lock().expect("tally lock poisoned");
        if let Some(q) = ready.as_mut() {
            if q.len() < MAX_UNANSWERED {
                q.push_back(at);
            } else {
                *ready = None;
            }
        }
    }

    /// A reply message arrived.
    pub(super) fn received(&self) {
        self.series.received();
        let mut ready = self.ready.lock().expect("tally lock poisoned");
        if let Some(at) = ready.as_mut().and_then(VecDeque::pop_front) {
            self.series.reply(at.elapsed());
        }
    }
}

/// Sends `stream.messages` messages (`message(i)` makes the framed message `i`), `interval`
/// apart. Ends early, and without an error, when the call is already over (the server
/// answered or reset the stream): the reply says how it went. Dropping `tx` at the end closes
/// the request stream.
pub(super) async fn produce(
    stream: &RequestStream,
    tx: mpsc::Sender<Bytes>,
    tally: Option<&Tally<'_>>,
    mut message: impl FnMut(u32) -> Result<Bytes, ErrorKind>,
) -> Result<(), ErrorKind> {
    let mut chunk = BytesMut::new();
    let mut in_chunk = 0;
    for i in 0..stream.messages {
        if i > 0 {
            pause(stream.interval).await;
        }
        // Ready when made: time a full channel (flow control) holds it back counts in its
        // round trip, as a late send does in a request's latency.
        if let Some(t) = tally {
            t.ready(Instant::now());
        }
        chunk.extend_from_slice(&message(i)?);
        in_chunk += 1;
        let last = i + 1 == stream.messages;
        if stream.interval.is_none() && chunk.len() < BATCH && !last {
            continue;
        }
        if tx.send(chunk.split().freeze()).await.is_err() {
            break;
        }
        if let Some(t) = tally {
            t.series.sent(in_chunk);
        }
        in_chunk = 0;
    }
    Ok(())
}

async fn pause(interval: Option<Duration>) {
    if let Some(d) = interval {
        tokio::time::sleep(d).await;
    }
}

/// Runs the producer and the reply reader together; the call is the reply's. A producer that
/// fails (a message that does not render) fails the call; one that is done leaves the reader
/// to finish, and one still blocked when the reply ends is dropped with the call.
pub(super) async fn race<T>(
    produce: impl Future<Output = Result<(), ErrorKind>>,
    reply: impl Future<Output = Result<T, ErrorKind>>,
) -> Result<T, ErrorKind> {
    tokio::pin!(produce, reply);
    let mut producing = true;
    loop {
        tokio::select! {
            done = &mut produce, if producing => {
                done?;
                producing = false;
            }
            r = &mut reply => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    fn stream(messages: u32, ms: u64) -> RequestStream {
        RequestStream {
            messages,
            interval: (ms > 0).then(|| Duration::from_millis(ms)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn messages_go_out_in_order_and_interval_apart_then_the_stream_ends() {
        let (tx, mut rx) = mpsc::channel(ROOM);
        let start = Instant::now();
        let reader = async {
            let mut got = Vec::new();
            while let Some(m) = rx.recv().await {
                got.push((m, start.elapsed()));
            }
            Ok::<_, ErrorKind>(got)
        };
        let s = stream(3, 10);
        let got = race(
            produce(&s, tx, None, |i| Ok(Bytes::from(i.to_string()))),
            reader,
        )
        .await
        .expect("no error");
        let ms = |n| Duration::from_millis(n);
        let want = [("0", ms(0)), ("1", ms(10)), ("2", ms(20))].map(|(b, t)| (Bytes::from(b), t));
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn messages_without_a_pause_share_chunks_of_bounded_size() {
        let (tx, mut rx) = mpsc::channel::<Bytes>(ROOM);
        let reader = async {
            let mut sizes = Vec::new();
            while let Some(m) = rx.recv().await {
                sizes.push(m.len());
            }
            Ok::<_, ErrorKind>(sizes)
        };
        // 1000-byte messages: 17 to a chunk (the 17th passes 16 KiB), the rest at the end.
        let s = stream(40, 0);
        let sizes = race(
            produce(&s, tx, None, |_| Ok(Bytes::from(vec![0; 1000]))),
            reader,
        )
        .await
        .expect("no error");
        assert_eq!(sizes, [17_000, 17_000, 6_000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_that_ends_first_is_the_call_and_a_blocked_producer_is_dropped() {
        let (tx, _rx) = mpsc::channel(ROOM);
        // Nobody reads: the producer blocks once the room is full.
        let s = stream(10_000, 1);
        let mut made = 0;
        let reply = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok::<_, ErrorKind>("replied")
        };
        let r = race(
            produce(&s, tx, None, |_| {
                made += 1;
                Ok(Bytes::from_static(b"x"))
            }),
            reply,
        )
        .await;
        assert_eq!(r, Ok("replied"));
        // 1 ms apart for 5 ms, and the room full from the start: what was made waits.
        assert_eq!(made, ROOM + 1, "the room, and the one waiting for it");
    }

    #[tokio::test]
    async fn a_message_that_fails_fails_the_call_and_a_closed_stream_stops_the_producer() {
        let (tx, _rx) = mpsc::channel(ROOM);
        let r = race(
            produce(&stream(5, 1), tx, None, |i| {
                if i == 2 {
                    Err(ErrorKind::Other)
                } else {
                    Ok(Bytes::new())
                }
            }),
            std::future::pending::<Result<(), ErrorKind>>(),
        )
        .await;
        assert_eq!(r, Err(ErrorKind::Other));
        // The server ended the call: sending stops quietly after the first refused message.
        let (tx, rx) = mpsc::channel(ROOM);
        drop(rx);
        let mut made = 0;
        let done = produce(&stream(5, 1), tx, None, |_| {
            made += 1;
            Ok(Bytes::new())
        })
        .await;
        assert_eq!((done, made), (Ok(()), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn bidi_replies_are_timed_against_the_message_of_their_position() {
        let series = StreamSeries::detached(true);
        let tally = Tally::new(&series);
        let (tx, mut rx) = mpsc::channel(ROOM);
        // An echo 3 ms late: reply i comes 3 ms after message i, messages 10 ms apart.
        let echo = async {
            while rx.recv().await.is_some() {
                tokio::time::sleep(Duration::from_millis(3)).await;
                tally.received();
            }
            Ok::<_, ErrorKind>(())
        };
        let s = stream(4, 10);
        race(produce(&s, tx, Some(&tally), |_| Ok(Bytes::new())), echo)
            .await
            .expect("no error");
        assert_eq!(series.totals(), (4, 4, 4));
        assert!(
            (series.rtt_sum() - 0.012).abs() < 1e-9,
            "{}",
            series.rtt_sum()
        );
        // One reply more than messages is counted, and there is nothing to time it against.
        tally.received();
        assert_eq!(series.totals(), (4, 5, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_does_not_answer_message_for_message_stops_the_timing() {
        let series = StreamSeries::detached(true);
        let tally = Tally::new(&series);
        for _ in 0..=MAX_UNANSWERED {
            tally.ready(Instant::now());
        }
        tally.received();
        assert_eq!(series.totals(), (0, 1, 0), "counted, not timed");
        // Server streaming (no request stream): replies are counted, never timed.
        let server = StreamSeries::detached(false);
        let tally = Tally::new(&server);
        tally.ready(Instant::now());
        tally.received();
        assert_eq!(server.totals(), (0, 1, 0));
    }
}
