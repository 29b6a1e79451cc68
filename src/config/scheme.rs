//! The URL schemes a target can have, and what each implies: its protocol label, TLS, and
//! which endpoint keys it reads.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
    /// WebSocket (`ws://`): without endpoints a message stream (`websocket` settings, profiles
    /// of connections × message_rate); with endpoints each request is a message and its reply.
    Ws,
    /// WebSocket over TLS (`wss://`).
    Wss,
    /// Raw TCP (`tcp://host:port`): each request sends the endpoint's body and reads a reply
    /// as its `read_*` settings say.
    Tcp,
    /// UDP (`udp://host:port`): each request is one datagram, its reply one datagram.
    Udp,
    /// Redis (`redis://host:port/db`): each request is one command.
    Redis,
    /// Redis over TLS (`rediss://host:port/db`).
    Rediss,
    /// PostgreSQL (`postgres://host:port/dbname`): each request is one prepared statement;
    /// TLS when the URL's `sslmode` asks for it (see `SqlLogin`).
    Postgres,
    /// gRPC over cleartext HTTP/2 (`grpc://host:port`, h2c): each request is one call of
    /// the endpoint's `rpc`, its message described by the target's `proto`.
    Grpc,
    /// gRPC over TLS (`grpcs://host:port`).
    Grpcs,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
            Scheme::Redis => "redis",
            Scheme::Rediss => "rediss",
            Scheme::Postgres => "postgres",
            Scheme::Grpc => "grpc",
            Scheme::Grpcs => "grpcs",
        }
    }

    /// The `protocol` label of the request families: the schemes that share a client share it.
    pub fn protocol(self) -> &'static str {
        match self {
            Scheme::Http | Scheme::Https => "http",
            Scheme::Ws | Scheme::Wss => "websocket",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
            Scheme::Redis | Scheme::Rediss => "redis",
            Scheme::Postgres => "postgres",
            Scheme::Grpc | Scheme::Grpcs => "grpc",
        }
    }

    /// Whether the connection is TLS by its scheme (a postgres:// one is by its `sslmode`).
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Scheme::Https | Scheme::Wss | Scheme::Grpcs | Scheme::Rediss
        )
    }

    pub fn is_redis(self) -> bool {
        matches!(self, Scheme::Redis | Scheme::Rediss)
    }

    pub fn is_ws(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    pub fn is_grpc(self) -> bool {
        matches!(self, Scheme::Grpc | Scheme::Grpcs)
    }

    /// Whether an endpoint is an HTTP request (method, path, headers, status), as for
    /// http(s):// targets and scenario steps; the other schemes send what their keys say.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Scheme::Http | Scheme::Https | Scheme::Ws | Scheme::Wss
        )
    }

    /// Raw socket schemes: an endpoint is bytes to send and a rule to read the reply by.
    pub fn is_socket(self) -> bool {
        matches!(self, Scheme::Tcp | Scheme::Udp)
    }
}
