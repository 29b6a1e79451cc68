//! The serde shape of the config file, exactly as written by the user. Nothing here is
//! validated beyond types: `validate.rs` turns it into the typed `Config`, collecting every
//! problem at once. Unknown keys are errors so that typos never silently do nothing.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::schedule::calendar::raw::{RawSchedule, RawWindow};
pub use crate::schedule::pattern::raw::{RawPattern, RawPoint, RawShape};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    pub demo_target: Option<RawDemoTarget>,
    #[serde(default)]
    pub targets: BTreeMap<String, RawTarget>,
    #[serde(default)]
    pub scenarios: BTreeMap<String, RawScenario>,
    #[serde(default)]
    pub profiles: BTreeMap<String, RawProfile>,
    /// Guard rails: where targets may point and how much load this config may ever send.
    pub safety: Option<RawSafety>,
    /// `[labels]`: static labels added to every series on `/metrics` (e.g. `location`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `[safety]`: a target allowlist and global caps across all profiles.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    /// Host names, `*.suffix` wildcards, `*`, IP addresses and CIDRs targets may use.
    pub allowed_hosts: Option<Vec<String>>,
    /// Total arrivals per second across all profiles.
    pub max_rate: Option<f64>,
    /// Requests outstanding at once across all profiles (closed-model users included).
    pub max_in_flight: Option<i64>,
}

/// `[profiles.X.brake]`: back off or pause the profile while its target fails.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrake {
    /// Trip when more than this share of the window's requests failed.
    pub max_error_ratio: Option<f64>,
    /// Trip when the window's p99 latency is above this.
    pub max_p99: Option<String>,
    pub window: Option<String>,
    /// `pause` (default) or `backoff`.
    pub action: Option<String>,
    /// How long a tripped brake waits before letting traffic try again.
    pub cooldown: Option<String>,
    /// Windows with fewer requests than this never trip it.
    pub min_requests: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub drain_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemoTarget {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout: Option<String>,
    pub http2: Option<bool>,
    pub insecure: Option<bool>,
    /// TLS targets: a PEM file of the CA certificates the server's must chain to, relative
    /// to the config's directory.
    pub ca_file: Option<String>,
    pub max_connections: Option<u64>,
    pub buckets: Option<Vec<f64>>,
    #[serde(default)]
    pub endpoints: Vec<RawEndpoint>,
    /// Only for `ws://` and `wss://` targets.
    pub websocket: Option<RawWebSocket>,
    /// postgres:// targets: the role to log in as (default `postgres`).
    pub user: Option<String>,
    /// postgres:// targets: the environment variable holding the password (never the
    /// password itself: a config is shared, printed and committed).
    pub password_env: Option<String>,
    /// grpc:// targets: the `.proto` file describing the services (compiled in process), or
    /// a descriptor set (`.pb`, `.protoset`, `.desc`: `protoc --descriptor_set_out`), relative
    /// to the config's directory.
    pub proto: Option<String>,
    /// http(s):// and grpc(s):// targets: the instances behind the URL, from Prometheus
    /// file_sd files.
    pub file_sd: Option<RawFileSd>,
    /// The DNS server (`ip:port`, UDP then TCP) that resolves the target's names.
    pub dns_server: Option<String>,
    /// postgres:// targets: test data, the next row of each per request (`{{ name.column }}`).
    #[serde(default)]
    pub feeders: BTreeMap<String, RawFeeder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSd {
    #[serde(default)]
    pub files: Vec<String>,
    pub refresh_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub name: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
    pub weight: Option<u64>,
    pub expect_status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
    /// tcp:// targets: the reply ends with this delimiter (default "\n").
    pub read_until: Option<String>,
    /// tcp:// targets: the reply is this many bytes.
    pub read_bytes: Option<u64>,
    /// tcp:// targets: the reply is what arrives until the connection is quiet this long.
    pub read_idle: Option<String>,
    /// redis:// targets: the command and its arguments, each a template
    /// (`["SET", "user:{{ seq() }}", "x"]`).
    pub command: Option<Vec<String>>,
    /// postgres:// targets: the SQL statement, prepared once per connection (`$1`, `$2`...).
    pub query: Option<String>,
    /// postgres:// targets: the statement's parameters, each a template.
    pub params: Option<Vec<String>>,
    /// postgres:// targets: statements run in order inside one BEGIN … COMMIT, measured as
    /// one request (instead of `query`).
    pub transaction: Option<Vec<RawStatement>>,
    /// postgres:// targets: values rendered once per request (from feeder rows and the
    /// generators), shared by every parameter as `{{ name }}`.
    pub vars: Option<BTreeMap<String, String>>,
    /// grpc:// targets: the method to call, `package.Service/Method`.
    pub rpc: Option<String>,
    /// grpc:// client-streaming and bidi methods: how many request messages one call sends.
    pub stream_messages: Option<u64>,
    /// grpc:// client-streaming and bidi methods: the pause between two request messages.
    pub stream_interval: Option<String>,
}

/// One statement of a postgres:// endpoint's `transaction`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatement {
    pub query: Option<String>,
    pub params: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub target: Option<String>,
    /// Run this scenario (instead of `target`/`endpoints`): each arrival or user is a session.
    pub scenario: Option<String>,
    pub endpoints: Option<Vec<String>>,
    /// Open model: arrivals per second, a number or a pattern table.
    pub rate: Option<RawPattern>,
    /// Closed model: virtual users, each looping request after request; a number or a
    /// pattern table.
    pub users: Option<RawPattern>,
    /// WebSocket targets: concurrent connections, a number or a pattern table.
    pub connections: Option<RawPattern>,
    /// WebSocket targets: messages per second on each connection.
    pub message_rate: Option<f64>,
    /// Closed model: how many users are started (or retired) per second when the pattern
    /// asks for more (or fewer).
    pub spawn_rate: Option<f64>,
    /// Closed model: each user's pause after each request (or scenario iteration), like
    /// Locust's `wait_time`: `"1s"`, `["1s", "3s"]` or `{ exponential = "2s" }`.
    pub think: Option<crate::scenario::ThinkSpec>,
    /// HTTP and gRPC: send a W3C `traceparent` header with each request (default: on for
    /// `serve`, off for one-shot runs).
    pub traceparent: Option<bool>,
    /// The share of traced requests marked sampled (flag 01): the target's tracer records
    /// those, and their trace ids become exemplars. 0..=1, default 1.
    pub trace_sample_ratio: Option<f64>,
    /// Open model: `even` (default) or `poisson` inter-arrival gaps.
    pub arrivals: Option<String>,
    /// Seeds the random pattern and Poisson arrivals (default: derived from the profile name).
    pub seed: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub schedule: Option<RawSchedule>,
    pub duration: Option<String>,
    pub requests: Option<u64>,
    /// One-shot runs: the first part of the run left out of the summary and thresholds.
    pub warmup: Option<String>,
    #[serde(default)]
    pub thresholds: Vec<String>,
    pub brake: Option<RawBrake>,
    /// `load` (default) or `capacity` (the daemon runs a capacity search per activation).
    pub kind: Option<String>,
    /// `kind = "capacity"`: the search's settings.
    pub capacity: Option<super::capacity::RawCapacity>,
}

/// A user scenario: ordered steps against one target, with per-user variables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub target: Option<String>,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    /// `stop` (default): a failed step ends the iteration; `continue`: go on.
    pub on_failure: Option<String>,
    /// Test data: each new user takes the next row, as `{{ NAME.column }}`.
    #[serde(default)]
    pub feeders: BTreeMap<String, RawFeeder>,
    /// Values read from the environment or files at load, as `{{ secrets.NAME }}`.
    #[serde(default)]
    pub secrets: BTreeMap<String, RawSecret>,
    /// Constants available to every step, as `{{ NAME }}`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    pub auth: Option<RawAuth>,
}

/// A step: a request (`path` and friends), a think time (`think`) or a loop (`repeat` with
/// nested `steps`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub body_file: Option<String>,
    /// Run only in a user's first iteration (a login whose token later steps reuse).
    pub once: Option<bool>,
    #[serde(default)]
    pub extract: BTreeMap<String, RawExtract>,
    pub expect_status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
    pub json_exists: Option<String>,
    pub json_equals: Option<RawJsonEquals>,
    pub max_latency: Option<String>,
    pub think: Option<crate::scenario::ThinkSpec>,
    pub repeat: Option<u64>,
    pub steps: Option<Vec<RawStep>>,
}

/// Where a variable comes from: exactly one of `json`, `header`, `regex` (with `group`),
/// `cookie`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    pub json: Option<String>,
    pub header: Option<String>,
    pub regex: Option<String>,
    pub group: Option<usize>,
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJsonEquals {
    pub path: Option<String>,
    pub value: Option<serde_json::Value>,
}

/// Rows from a CSV file (with a header row) or an inline list of tables.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeeder {
    pub csv: Option<String>,
    pub list: Option<Vec<BTreeMap<String, String>>>,
    /// `round_robin` (default) or `random`.
    pub order: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<String>,
}

/// Authorization for every request of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// `Authorization: Bearer <rendered template>`.
    pub bearer: Option<String>,
    pub basic: Option<RawBasicAuth>,
    /// The step that logs in: on a 401 it runs again and the failed step is retried once.
    pub login: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `[targets.X.websocket]`: what each connection of a WebSocket target sends.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebSocket {
    /// Text of each message, with `{{ seq }}`, `{{ uuid }}` and `{{ timestamp_ms }}`.
    pub message: Option<String>,
    /// JSON field pairing a reply with its message (default: the next message is the reply).
    pub correlate: Option<String>,
}
