//! Failures as error kinds: what a failed connect, socket error or hyper error comes to,
//! shared by every transport that speaks over TCP.

use std::error::Error as _;
use std::io;

use tokio::net::TcpStream;

use crate::outcome::ErrorKind;

/// A failed connect (or socket setup) as a kind; running out of file descriptors is also
/// logged, since it is the generator's limit, not the target's.
pub(super) fn connect_error(e: &io::Error) -> ErrorKind {
    if crate::fdlimit::is_exhaustion(e) {
        crate::fdlimit::exhausted("connect", e);
    }
    classify_io(e, ErrorKind::Connect)
}

/// A TCP connection to the first of `addrs` that accepts, with Nagle off: requests are small
/// and their latency is the measurement.
pub(super) async fn connect_tcp(addrs: &[std::net::SocketAddr]) -> Result<TcpStream, ErrorKind> {
    let tcp = TcpStream::connect(addrs)
        .await
        .map_err(|e| connect_error(&e))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

pub(super) fn classify_io(e: &io::Error, default: ErrorKind) -> ErrorKind {
    use io::ErrorKind as K;
    match e.kind() {
        K::TimedOut => ErrorKind::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
            if default != ErrorKind::Connect =>
        {
            ErrorKind::Reset
        }
        K::UnexpectedEof if default == ErrorKind::Tls => ErrorKind::Tls,
        K::UnexpectedEof => ErrorKind::Reset,
        // Under a hyper error (default `Reset`), InvalidInput/InvalidData is hyper's decoder
        // rejecting a malformed body (a chunk size that is not hex, ...): a protocol error,
        // not a reset. (rustls reports certificate problems as InvalidData too; those come
        // with the `Tls` default and stay `tls`.)
        K::InvalidData | K::InvalidInput if default == ErrorKind::Reset => ErrorKind::Protocol,
        _ => default,
    }
}

/// Maps a hyper error to a kind: the io error underneath when there is one.
pub(super) fn classify_hyper(e: &hyper::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        return ErrorKind::Protocol;
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return classify_io(io, ErrorKind::Reset);
        }
        if let Some(h2) = s.downcast_ref::<h2::Error>() {
            return classify_h2(h2);
        }
        if let Some(h2) = s.downcast_ref::<hyper::Error>() {
            if h2.is_parse() {
                return ErrorKind::Protocol;
            }
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() || e.is_body_write_aborted() {
        return ErrorKind::Reset;
    }
    ErrorKind::Other
}

/// An HTTP/2 failure: the server ending a stream (RST_STREAM) or the connection (GOAWAY)
/// under a request is a `reset`, whatever its reason (REFUSED_STREAM, ENHANCE_YOUR_CALM,
/// ...), unless the reason says the protocol was broken; h2 finding the server broke it is
/// `protocol` too.
fn classify_h2(e: &h2::Error) -> ErrorKind {
    use h2::Reason;
    if let Some(io) = e.get_io() {
        return classify_io(io, ErrorKind::Reset);
    }
    let broken = matches!(
        e.reason(),
        Some(
            Reason::PROTOCOL_ERROR
                | Reason::FLOW_CONTROL_ERROR
                | Reason::FRAME_SIZE_ERROR
                | Reason::COMPRESSION_ERROR
        )
    );
    if broken || e.is_library() {
        ErrorKind::Protocol
    } else if e.is_reset() || e.is_go_away() {
        ErrorKind::Reset
    } else {
        ErrorKind::Other
    }
}
