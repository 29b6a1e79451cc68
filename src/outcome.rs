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

/// The result of one request. `status` is set whenever a response arrived, also when the
/// request counts as failed (`Status`/`Check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    pub bytes_received: u64,
}

impl Outcome {
    pub fn failed(kind: ErrorKind) -> Self {
        Outcome {
            status: None,
            error: Some(kind),
            bytes_received: 0,
        }
    }
}
