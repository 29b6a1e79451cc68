//! Which endpoint keys belong to which protocol, in one table: a key set on an endpoint of a
//! target whose protocol does not use it is an error naming the key, never silently ignored.

use super::super::checks::Collector;
use super::super::raw::RawEndpoint;
use super::super::Scheme;

/// The protocols an endpoint key belongs to.
#[derive(Clone, Copy)]
enum Owner {
    /// method, path, expect_status: the request line and status.
    Http,
    /// headers: HTTP headers, or a gRPC call's metadata.
    Head,
    /// rpc: the method a gRPC call names.
    Grpc,
    /// read_*: how a socket reply ends.
    Socket,
    Redis,
    Postgres,
    /// A body to send: HTTP and sockets.
    Payload,
    /// A check on the reply's text: everything but PostgreSQL (rows are typed values).
    Text,
}

impl Owner {
    fn allows(self, s: Scheme) -> bool {
        match self {
            // A WebSocket request is a message on a connection the URL opened.
            Owner::Http => s.is_http() && !s.is_ws(),
            Owner::Head => (s.is_http() && !s.is_ws()) || s.is_grpc(),
            Owner::Grpc => s.is_grpc(),
            Owner::Socket => s.is_socket(),
            Owner::Redis => s.is_redis(),
            Owner::Postgres => s == Scheme::Postgres,
            Owner::Payload => s.is_http() || s.is_socket() || s.is_grpc(),
            Owner::Text => s != Scheme::Postgres,
        }
    }
}

/// What an endpoint of `scheme` does instead, for the error message.
fn what(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Redis | Scheme::Rediss => "sends its `command`",
        Scheme::Postgres => "runs its `query`",
        Scheme::Grpc | Scheme::Grpcs => "calls its `rpc` with its JSON `body`",
        Scheme::Ws | Scheme::Wss => {
            "sends its `body` as one message on the connection the URL opens (headers: the \
             target's) and reads a reply"
        }
        _ => "sends its `body` and reads a reply",
    }
}

/// Errors for each key of `e` that `scheme` does not use.
pub(super) fn foreign_keys(c: &mut Collector, key: &str, e: &RawEndpoint, scheme: Scheme) {
    let keys = [
        ("method", e.method.is_some(), Owner::Http),
        ("path", e.path.is_some(), Owner::Http),
        ("headers", !e.headers.is_empty(), Owner::Head),
        ("expect_status", e.expect_status.is_some(), Owner::Http),
        ("body", e.body.is_some(), Owner::Payload),
        ("body_file", e.body_file.is_some(), Owner::Payload),
        ("body_contains", e.body_contains.is_some(), Owner::Text),
        ("read_until", e.read_until.is_some(), Owner::Socket),
        ("read_bytes", e.read_bytes.is_some(), Owner::Socket),
        ("read_idle", e.read_idle.is_some(), Owner::Socket),
        ("command", e.command.is_some(), Owner::Redis),
        ("query", e.query.is_some(), Owner::Postgres),
        ("params", e.params.is_some(), Owner::Postgres),
        ("transaction", e.transaction.is_some(), Owner::Postgres),
        ("vars", e.vars.is_some(), Owner::Postgres),
        ("rpc", e.rpc.is_some(), Owner::Grpc),
        ("stream_messages", e.stream_messages.is_some(), Owner::Grpc),
        ("stream_interval", e.stream_interval.is_some(), Owner::Grpc),
    ];
    let s = scheme.as_str();
    for (k, _, owner) in keys.iter().filter(|(_, set, o)| *set && !o.allows(scheme)) {
        let message = match owner {
            Owner::Http | Owner::Head => {
                format!("an HTTP setting; a {s}:// endpoint {}", what(scheme))
            }
            Owner::Grpc => "only for grpc:// and grpcs:// targets".to_string(),
            Owner::Socket => format!("only for tcp:// and udp:// targets (this one is {s}://)"),
            Owner::Redis => "only for redis:// targets".to_string(),
            Owner::Postgres => "only for postgres:// targets".to_string(),
            Owner::Payload | Owner::Text => {
                format!("not for a {s}:// endpoint, which {}", what(scheme))
            }
        };
        c.err(format!("{key}.{k}"), message);
    }
}
