//! What one request came to. In the hot loop a failure is data: it is classified into a closed
//! set of kinds (the only values the `kind` label can take) and counted, never propagated.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Dns,
    Tls,
    Reset,
    /// A response arrived, but its status code was not an expected one.
    Status,
    /// A response arrived with an expected status, but a body check failed.
    Check,
    Protocol,
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Dns,
        ErrorKind::Tls,
        ErrorKind::Reset,
        ErrorKind::Status,
        ErrorKind::Check,
        ErrorKind::Protocol,
        ErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Reset => "reset",
            ErrorKind::Status => "status",
            ErrorKind::Check => "check",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The codes a response of a protocol other than HTTP can carry, as the `code` label and the
/// summary's `status_codes` show them: `ok`, a Redis error prefix, a SQLSTATE class (two
/// characters), a gRPC status name. A closed list, so the label's values stay bounded whatever a server replies;
/// anything else is `other`.
const NAMED_CODES: [&str; 73] = [
    "ok",
    "other",
    // Redis error replies, by their first word.
    "ERR",
    "WRONGTYPE",
    "NOSCRIPT",
    "BUSY",
    "LOADING",
    "READONLY",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
    "OOM",
    "EXECABORT",
    "MOVED",
    "ASK",
    "CLUSTERDOWN",
    // SQLSTATE classes (PostgreSQL appendix A).
    "00",
    "01",
    "02",
    "03",
    "08",
    "09",
    "0A",
    "0B",
    "0F",
    "0L",
    "0P",
    "0Z",
    "20",
    "21",
    "22",
    "23",
    "24",
    "25",
    "26",
    "27",
    "28",
    "2B",
    "2D",
    "2F",
    "34",
    "38",
    "39",
    "3B",
    "3D",
    "3F",
    "40",
    "42",
    "44",
    "53",
    "54",
    "55",
    "57",
    "58",
    "72",
    "F0",
    "XX",
    // gRPC status names by code, 1 to 16 (0, OK, is `ok`): `NamedCode::grpc` counts on the
    // order and on their being last.
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// One of [`NAMED_CODES`], by index: copied around the hot path for free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedCode(u8);

impl NamedCode {
    pub const OK: NamedCode = NamedCode(0);
    pub const OTHER: NamedCode = NamedCode(1);
    /// How many there are: the size of a per-code table.
    pub const COUNT: usize = NAMED_CODES.len();

    /// The code named `name`, or `other` when it is not on the list.
    pub fn of(name: &str) -> NamedCode {
        NAMED_CODES
            .iter()
            .position(|c| *c == name)
            .map_or(NamedCode::OTHER, |i| NamedCode(i as u8))
    }

    /// The name of gRPC status `code`: `ok` for 0, UNKNOWN past the 16 the spec defines.
    pub fn grpc(code: u32) -> NamedCode {
        match code {
            0 => NamedCode::OK,
            // CANCELLED (1) to UNAUTHENTICATED (16) close the list, in code order.
            1..=16 => NamedCode((NAMED_CODES.len() - 17 + code as usize) as u8),
            _ => NamedCode::of("UNKNOWN"),
        }
    }

    pub fn as_str(self) -> &'static str {
        NAMED_CODES[usize::from(self.0)]
    }

    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// What a response said: an HTTP status, or a named code of another protocol. HTTP statuses
/// sort first, by number, as they always did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Http(u16),
    Named(NamedCode),
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Http(status) => write!(f, "{status}"),
            Code::Named(name) => f.write_str(name.as_str()),
        }
    }
}

/// The W3C trace id a request carried in its `traceparent`, when it was marked sampled: the
/// exemplar that links its latency to the target's trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The result of one request. `code` is set whenever a response arrived, also when the
/// request counts as failed (`Status`/`Check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub code: Option<Code>,
    pub error: Option<ErrorKind>,
    pub bytes_received: u64,
    /// Set when the request carried a sampled `traceparent`.
    pub trace: Option<TraceId>,
}

impl Outcome {
    pub fn failed(kind: ErrorKind) -> Self {
        Outcome {
            code: None,
            error: Some(kind),
            bytes_received: 0,
            trace: None,
        }
    }

    /// A response with `code`, failed with `error` if set.
    pub fn replied(code: Code, error: Option<ErrorKind>, bytes_received: u64) -> Self {
        Outcome {
            code: Some(code),
            error,
            bytes_received,
            trace: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_codes_round_trip_and_unknown_ones_are_other() {
        for name in NAMED_CODES {
            assert_eq!(NamedCode::of(name).as_str(), name);
        }
        assert_eq!(NamedCode::of("SOMETHINGNEW"), NamedCode::OTHER);
        assert_eq!(Code::Named(NamedCode::of("23")).to_string(), "23");
        assert_eq!(Code::Http(503).to_string(), "503");
        assert!(Code::Http(599) < Code::Named(NamedCode::OK));
    }
}
