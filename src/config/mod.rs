//! Configuration: loading (file + `LOADTIDE_*` environment through figment), validation into
//! typed values, and the typed `Config` the rest of the program runs on. Every problem is
//! collected and reported together, each naming the file, the key path and the bad value.

pub mod capacity;
mod checks;
pub mod discovery;
mod feeders;
mod overlay;
mod parse_errors;
pub mod raw;
pub mod safety;
mod scenario;
mod scheme;
mod source;
pub mod sql;
pub mod threshold;
mod validate;
pub mod websocket;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use figment::providers::{Env, Format, Toml, Yaml};
use figment::Figment;
use http::{HeaderName, HeaderValue, Method};

pub use checks::parse_url;
pub use overlay::{overlay_keys, overlay_path};
pub(crate) use parse_errors::figment_errors;
pub use raw::RawConfig;
pub use safety::{Allowlist, BrakeAction, BrakeSpec, Safety};
pub use scheme::Scheme;
pub use sql::{Sql, SqlStatement, SslMode, TargetFeeders};
pub use threshold::Threshold;
pub use validate::{parse_listen, validate, DEFAULT_DEMO_LISTEN, DEFAULT_LISTEN};
pub use websocket::WebSocket;

use crate::schedule::calendar::Schedule;
use crate::schedule::Pattern;

/// Default latency buckets (seconds): Prometheus' defaults plus a sub-5ms start for fast
/// targets and a 15/30/60 s tail so timeouts land in a bucket, not only in `+Inf`.
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerSettings,
    /// Start loadtide's built-in demo target on this address.
    pub demo_target: Option<SocketAddr>,
    pub targets: Vec<Arc<Target>>,
    pub profiles: Vec<Arc<Profile>>,
    /// `[safety]`: the allowlist and the global caps (the default restricts nothing).
    pub safety: Safety,
    /// `[labels]`: added to every series this instance exports, sorted by name.
    pub labels: Vec<(String, String)>,
}

impl Config {
    pub fn profile(&self, name: &str) -> Option<&Arc<Profile>> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// How long SIGTERM waits for in-flight requests before giving up on them.
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    /// HTTP/2: asked for on an http(s):// target, always on a gRPC one, never on the others.
    pub http2: bool,
    /// Accept any server certificate (self-signed staging targets).
    pub insecure: bool,
    /// `ca_file`: the roots a TLS target's certificate must chain to, instead of the Mozilla
    /// set (a private CA).
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub max_connections: usize,
    pub buckets: Vec<f64>,
    pub endpoints: Vec<Endpoint>,
    /// Set exactly for `ws://` and `wss://` targets.
    pub websocket: Option<WebSocket>,
    /// `redis://host:port/N`: the database (0 when the URL has no path).
    pub database: i64,
    /// Set exactly for `postgres://` targets.
    pub login: Option<SqlLogin>,
    /// A `redis://` target's AUTH, when it has `password_env`.
    pub redis_auth: Option<RedisAuth>,
    /// postgres:// targets: the feeders every request takes a row of.
    pub feeders: TargetFeeders,
    /// The CIDRs of `safety.allowed_hosts`: when set, every address the host resolves to
    /// must lie in one of them, or the connection is refused before it is made.
    pub dns_allow: Option<Arc<[ipnet::IpNet]>>,
    /// `file_sd`: the instances connections go to, instead of the URL's host.
    pub file_sd: Option<discovery::FileSd>,
    /// `dns_server`: names are resolved by this server instead of the system's resolver.
    pub dns_server: Option<std::net::SocketAddr>,
}

impl Target {
    /// How many requests can be outstanding on this target at once: one per connection
    /// (`max_connections`) for every protocol but HTTP/2 and gRPC, whose connections
    /// multiplex (None: only the profile's `max_in_flight` bounds them). HTTP/1.1 does not
    /// pipeline; a socket's replies are matched to requests by order; Redis gets one command
    /// at a time per connection so a slow one shows in its own latency; a PostgreSQL session
    /// runs one statement at a time; a WebSocket request's reply is the next message.
    pub fn request_bound(&self) -> Option<usize> {
        // Validation sets `http2` for every gRPC target and refuses it on any other non-HTTP one.
        (!self.http2).then_some(self.max_connections)
    }

    /// The headers sent with every request to endpoint `e`, in the order the client sets
    /// them: user-agent and host (HTTP/1.1 only) first, then the target's and the endpoint's
    /// own headers, which replace those of the same name, then the body's length.
    pub fn request_headers(&self, e: &Endpoint) -> http::HeaderMap {
        use http::header::{CONTENT_LENGTH, HOST, USER_AGENT};
        let mut headers = http::HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("loadtide/", env!("CARGO_PKG_VERSION"))),
        );
        if !self.http2 {
            if let Ok(host) = HeaderValue::from_str(&self.authority()) {
                headers.insert(HOST, host);
            }
        }
        for (k, v) in self.headers.iter().chain(&e.headers) {
            headers.insert(k.clone(), v.clone());
        }
        if !e.body.is_empty() {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(e.body.len()));
        }
        headers
    }

    /// The size of a request to `e` as HTTP/1.1 puts it on the wire (a socket target's: the
    /// body; a redis one's: the command in RESP; templates as written in the config).
    pub fn request_size(&self, e: &Endpoint) -> u64 {
        if self.scheme.is_socket() {
            return e.body.len() as u64;
        }
        if self.scheme.is_redis() {
            // RESP: `*N\r\n`, then `$len\r\nword\r\n` per word.
            let words: usize = e
                .command
                .iter()
                .map(|w| w.len() + w.len().to_string().len() + 5)
                .sum();
            return (words + e.command.len().to_string().len() + 3) as u64;
        }
        let line = e.method.as_str().len() + 1 + e.path.len() + " HTTP/1.1\r\n".len();
        let headers: usize = self
            .request_headers(e)
            .iter()
            .map(|(k, v)| k.as_str().len() + 2 + v.len() + 2)
            .sum();
        // A stream sends its body once per message.
        let messages = e
            .grpc
            .as_ref()
            .and_then(|g| g.requests.as_ref())
            .map_or(1, |r| r.messages as usize);
        (line + headers + 2 + e.body.len() * messages) as u64
    }

    /// `host:port` as sent in the Host header (port omitted when it is the scheme's default).
    pub fn authority(&self) -> String {
        let default = matches!(
            (self.scheme, self.port),
            (Scheme::Http | Scheme::Ws, 80) | (Scheme::Https | Scheme::Wss | Scheme::Grpcs, 443)
        );
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The metric label; never the raw URL.
    pub name: String,
    pub method: Method,
    /// Path and query, already joined with the target's base path.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    pub weight: u32,
    /// Accepted status codes; empty means any 2xx or 3xx.
    pub expect_status: Vec<u16>,
    pub body_contains: Option<String>,
    /// tcp:// and udp:// targets: how a reply ends (HTTP endpoints ignore it).
    pub reply: Reply,
    /// redis:// targets: the command and its arguments, each a template.
    pub command: Vec<String>,
    /// postgres:// targets: the statement (or a transaction's) and its parameters.
    pub sql: Sql,
    /// grpc:// targets: the method `path` (`/package.Service/Method`) names, resolved in the
    /// target's descriptors; `body` is its request message as JSON (a template).
    pub grpc: Option<GrpcMethod>,
}

/// A gRPC method of a target's `proto`: the messages it takes and returns.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpcMethod {
    pub input: prost_reflect::MessageDescriptor,
    pub output: prost_reflect::MessageDescriptor,
    /// The server answers with a stream of messages (the call ends with the last).
    pub server_streaming: bool,
    /// Client-streaming and bidi methods: the request messages one call sends; None for a
    /// method that takes one message.
    pub requests: Option<RequestStream>,
}

/// The template variable holding a stream message's index (0-based) in its call.
pub const STREAM_MESSAGE_VAR: &str = "message";

/// The request messages of one client-streaming or bidi call: the body rendered `messages`
/// times (with [`STREAM_MESSAGE_VAR`] set to the index), `interval` apart.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestStream {
    pub messages: u32,
    pub interval: Option<Duration>,
}

impl RequestStream {
    /// How `check` shows it, e.g. `10 messages, 10ms apart`.
    pub fn describe(&self) -> String {
        let n = self.messages;
        let noun = if n == 1 { "message" } else { "messages" };
        match self.interval {
            Some(d) => format!("{n} {noun}, {} apart", humantime::format_duration(d)),
            None => format!("{n} {noun}"),
        }
    }
}

impl GrpcMethod {
    /// The kind of call, gRPC's own name for it (the `method` label of its endpoint).
    pub fn kind(&self) -> &'static str {
        match (self.requests.is_some(), self.server_streaming) {
            (false, false) => "UNARY",
            (false, true) => "SERVER_STREAMING",
            (true, false) => "CLIENT_STREAMING",
            (true, true) => "BIDI_STREAMING",
        }
    }

    /// The protobuf encoding of the request message written as JSON in `json` (the proto3
    /// JSON mapping; unknown fields are an error).
    pub fn encode(&self, json: &str) -> Result<Vec<u8>, String> {
        Self::encode_as(&self.input, json)
    }

    fn encode_as(input: &prost_reflect::MessageDescriptor, json: &str) -> Result<Vec<u8>, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        let message = prost_reflect::DynamicMessage::deserialize(input.clone(), &mut de)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(prost::Message::encode_to_vec(&message))
    }
}

/// How a redis:// target authenticates: `AUTH [user] password`.
#[derive(Clone, PartialEq)]
pub struct RedisAuth {
    pub user: Option<String>,
    /// Read from `password_env` when the config was loaded.
    pub password: String,
}

// By hand, so no debug print of a config shows the password.
impl fmt::Debug for RedisAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How a postgres:// target logs in.
#[derive(Clone, PartialEq)]
pub struct SqlLogin {
    pub dbname: String,
    pub user: String,
    /// Read from `password_env` when the config was loaded.
    pub password: Option<String>,
    /// TLS, from the URL's `?sslmode=`.
    pub sslmode: SslMode,
}

// By hand, so no debug print of a config shows the password.
impl fmt::Debug for SqlLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlLogin")
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

/// A socket reply larger than this is not a reply but a stream: the request fails as
/// `protocol` rather than buffering without end.
pub const MAX_REPLY: usize = 16 << 20;

/// How a raw socket endpoint's reply ends. UDP replies are one datagram whatever it says.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// At this delimiter (a line by default).
    Until(Vec<u8>),
    /// After this many bytes.
    Bytes(usize),
    /// When nothing more arrives for this long (or the server closes).
    Idle(Duration),
}

impl Reply {
    /// How `check` shows it, e.g. `reply until "\n"`.
    pub fn describe(&self, scheme: Scheme) -> String {
        match (scheme, self) {
            (Scheme::Udp, _) => "reply: one datagram".to_string(),
            (_, Reply::Until(d)) => format!("reply until {:?}", String::from_utf8_lossy(d)),
            (_, Reply::Bytes(n)) => format!("reply of {n} bytes"),
            (_, Reply::Idle(d)) => {
                format!("reply until quiet for {}", humantime::format_duration(*d))
            }
        }
    }
}

impl Default for Reply {
    fn default() -> Self {
        Reply::Until(b"\n".to_vec())
    }
}

impl Endpoint {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&code)
        } else {
            self.expect_status.contains(&code)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Open model: arrivals follow the pattern whatever the target does; at most
    /// `max_in_flight` outstanding, the rest are dropped and counted.
    Open { rate: Pattern, max_in_flight: usize },
    /// Closed model: this many virtual users, each sending its next request when the last ends
    /// (after its `think` pause, if any).
    Closed {
        users: Pattern,
        think: Option<crate::scenario::Think>,
    },
    /// A WebSocket target: this many connections, each sending `message_rate` messages per
    /// second and awaiting their replies.
    WebSocket {
        connections: Pattern,
        message_rate: f64,
    },
}

/// How the open model spaces arrivals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// Evenly spaced at the rate of each moment.
    Even,
    /// Exponentially distributed gaps (independent users), reproducible from the seed.
    Poisson { seed: u64 },
}

impl Load {
    /// The rate, users or connections pattern.
    pub fn pattern(&self) -> &Pattern {
        match self {
            Load::Open { rate, .. } => rate,
            Load::Closed { users, .. } => users,
            Load::WebSocket { connections, .. } => connections,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    pub target: Arc<Target>,
    /// Indices into `target.endpoints`, each with its weight.
    pub endpoints: Vec<usize>,
    pub load: Load,
    /// Run this scenario's steps as user sessions (its target's endpoints are the steps).
    pub scenario: Option<Arc<crate::scenario::model::Scenario>>,
    pub arrivals: Arrivals,
    /// Closed model: users started or retired per second (None: all at once).
    pub spawn_rate: Option<f64>,
    /// Seeds the random pattern and Poisson arrivals.
    pub seed: u64,
    /// When the daemon runs it (`run` ignores it and runs one pass now).
    pub schedule: Schedule,
    /// Ends the profile after this long (one-shot runs; the daemon runs forever when unset).
    pub duration: Option<Duration>,
    /// Ends the profile after this many requests.
    pub requests: Option<u64>,
    /// One-shot runs: this first part of the run is left out of the summary's figures and of
    /// every threshold (whole-run and windowed); the timeline still shows it.
    pub warmup: Duration,
    pub thresholds: Vec<Threshold>,
    /// The error-budget brake (`[profiles.NAME.brake]`).
    pub brake: Option<BrakeSpec>,
    /// `kind = "capacity"`: the daemon runs this capacity search once per activation.
    pub capacity: Option<Arc<capacity::CapacitySpec>>,
    pub trace: Trace,
}

/// Whether a profile's HTTP and gRPC requests carry a W3C `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trace {
    /// `traceparent`; None: the mode's default (on in the daemon, off in one-shot runs).
    pub enabled: Option<bool>,
    /// The share of traced requests marked sampled.
    pub sample_ratio: f64,
}

impl Trace {
    /// The sample ratio when requests carry a traceparent, with `by_default` for an unset
    /// `traceparent`; None when they carry none.
    pub fn ratio(&self, by_default: bool) -> Option<f64> {
        self.enabled
            .unwrap_or(by_default)
            .then_some(self.sample_ratio)
    }
}

/// One configuration problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.key.is_empty()) {
            (false, false) => write!(f, "{}: `{}`: {}", self.file, self.key, self.message),
            (false, true) => write!(f, "{}: {}", self.file, self.message),
            (true, false) => write!(f, "`{}`: {}", self.key, self.message),
            (true, true) => f.write_str(&self.message),
        }
    }
}

/// Every problem found in one config, printed one per line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn one(file: &str, key: &str, message: impl Into<String>) -> Self {
        ConfigErrors(vec![ConfigError {
            file: file.into(),
            key: key.into(),
            message: message.into(),
        }])
    }
}

/// Where each value of a loaded config came from, to blame the right source in errors.
pub struct Sources(Figment);

impl Sources {
    /// Re-labels errors whose value came from a `LOADTIDE_*` variable instead of the file.
    pub fn attribute(&self, errors: ConfigErrors) -> ConfigErrors {
        ConfigErrors(
            errors
                .0
                .into_iter()
                .map(|mut e| {
                    let key = e.key.replace('[', ".").replace(']', "");
                    match self.0.find_metadata(&key) {
                        Some(m) if is_env(m) => e.file = env_source(&key),
                        Some(m) => {
                            if let Some(p) = file_source(m) {
                                e.file = p;
                            }
                        }
                        None => {}
                    }
                    e
                })
                .collect(),
        )
    }
}

/// The path of the file provider a value came from (an `--env` overlay).
fn file_source(m: &figment::Metadata) -> Option<String> {
    match &m.source {
        Some(figment::Source::File(p)) => Some(p.display().to_string()),
        _ => None,
    }
}

fn is_env(m: &figment::Metadata) -> bool {
    m.name.contains("environment")
}

fn env_source(key: &str) -> String {
    format!(
        "environment (LOADTIDE_{})",
        key.replace('.', "__").to_uppercase()
    )
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads the file at `path` (TOML, or YAML by extension) overlaid with `LOADTIDE_*` variables
/// (`LOADTIDE_SERVER__LISTEN=:9000`, `LOADTIDE_PROFILES__STEADY__RATE=50`): the raw config.
pub fn load_raw(path: &Path) -> Result<(RawConfig, Sources), ConfigErrors> {
    load_raw_env(path, None)
}

/// `load_raw` with the overlay of `--env NAME` merged over the file, under the variables:
/// base file < `loadtide.NAME.toml` < `LOADTIDE_*`.
pub fn load_raw_env(path: &Path, env: Option<&str>) -> Result<(RawConfig, Sources), ConfigErrors> {
    let file = path.display().to_string();
    // Read it ourselves: figment's file providers treat a missing file as an empty table.
    let text =
        source::read_text(path, "config file").map_err(|m| ConfigErrors::one(&file, "", m))?;
    if source::is_blank(&text) {
        return Err(ConfigErrors::one(&file, "", source::BLANK));
    }
    let mut figment = if is_yaml(path) {
        Figment::from(Yaml::string(&text))
    } else {
        Figment::from(Toml::string(&text))
    };
    let overlay = env
        .map(|env| overlay::read_overlay(path, env))
        .transpose()?;
    if let Some((op, _)) = &overlay {
        // A file provider, so that each value it sets carries its path for the errors.
        figment = if is_yaml(op) {
            figment.merge(Yaml::file_exact(op))
        } else {
            figment.merge(Toml::file_exact(op))
        };
    }
    // Only nested keys come from the environment: single-level LOADTIDE_* variables belong
    // to the command line (LOADTIDE_CONFIG, LOADTIDE_RATE, ...).
    let env = Env::prefixed("LOADTIDE_")
        .filter(|k| k.as_str().contains("__"))
        .split("__");
    let figment = figment.merge(env);
    let raw = figment.extract::<RawConfig>().map_err(|e| {
        let mut errors = figment_errors(&file, e);
        // Every part's first error too, after the one that stopped serde.
        for more in parse_errors::every_part(&figment, &file).0 {
            if !errors.0.contains(&more) {
                errors.0.push(more);
            }
        }
        parse_errors::locate_syntax(&mut errors, &file, &text);
        if let Some((op, text)) = &overlay {
            parse_errors::locate_syntax(&mut errors, &op.display().to_string(), text);
        }
        // A syntax error in the file itself: say so when it is another format.
        if let [one] = errors.0.as_mut_slice() {
            if one.key.is_empty() && one.file == file {
                let hint = if is_yaml(path) {
                    source::yaml_hint(&text, &one.message)
                } else {
                    source::format_hint(&text)
                };
                one.message.push_str(hint);
            }
        }
        errors
    })?;
    Ok((raw, Sources(figment)))
}

/// Loads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_env(path, None)
}

/// Loads and validates the config file at `path` with the overlay of `--env NAME`, if given.
pub fn load_env(path: &Path, env: Option<&str>) -> Result<Config, ConfigErrors> {
    let (raw, sources) = load_raw_env(path, env)?;
    validate(&raw, &path.display().to_string(), path.parent()).map_err(|e| sources.attribute(e))
}
