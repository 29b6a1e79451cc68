//! The serde shape of the config file, exactly as written by the user. Nothing here is
//! validated beyond types: `validate.rs` turns it into the typed `Config`, collecting every
//! problem at once. Unknown keys are errors so that typos never silently do nothing.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    pub max_connections: Option<u64>,
    pub buckets: Option<Vec<f64>>,
    #[serde(default)]
    pub endpoints: Vec<RawEndpoint>,
    /// Only for `ws://` and `wss://` targets.
    pub websocket: Option<RawWebSocket>,
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

/// A load value: a plain number (constant) or a table naming a pattern and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPattern {
    Value(f64),
    Shape(Box<RawShape>),
}

impl<'de> Deserialize<'de> for RawPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawPattern;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a pattern table")
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawPattern, E> {
                Ok(RawPattern::Value(v as f64))
            }
            // Environment variables arrive as strings: `LOADTIDE_PROFILES__X__RATE=50`.
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPattern, E> {
                v.trim()
                    .parse()
                    .map(RawPattern::Value)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<RawPattern, A::Error> {
                RawShape::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|s| RawPattern::Shape(Box::new(s)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Every key any pattern kind takes; `schedule::pattern` checks which apply to `pattern`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShape {
    /// constant, step, ramp, spike, random, sine (or diurnal), points, stages.
    pub pattern: Option<String>,
    pub value: Option<f64>,
    // step
    pub start: Option<f64>,
    pub step: Option<f64>,
    pub every: Option<String>,
    // ramp (and step's bound `to`)
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub over: Option<String>,
    pub curve: Option<String>,
    // spike
    pub base: Option<f64>,
    pub peak: Option<f64>,
    pub at: Option<String>,
    pub hold: Option<String>,
    pub ramp: Option<String>,
    // random and sine
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub seed: Option<u64>,
    pub period: Option<String>,
    pub peak_at: Option<String>,
    pub trough_at: Option<String>,
    // points
    pub points: Option<Vec<RawPoint>>,
    // stages
    pub stages: Option<Vec<RawShape>>,
    /// A stage's length.
    pub duration: Option<String>,
    /// A k6-style stage: ramp linearly from the previous stage's last value to this.
    pub target: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoint {
    pub at: Option<String>,
    pub value: Option<f64>,
}

/// When a profile runs. No cron and no windows: always (the pattern loops forever).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Five-field cron expression (or six with seconds) for each activation's start.
    pub cron: Option<String>,
    /// How long each cron activation lasts (default: the pattern's length).
    #[serde(rename = "for")]
    pub for_: Option<String>,
    #[serde(default)]
    pub windows: Vec<RawWindow>,
    /// IANA timezone name for cron, windows and dates (default UTC).
    pub timezone: Option<String>,
    /// Not before this date (`2026-12-01`) or instant (`2026-12-01T09:00:00`, RFC 3339).
    pub start: Option<String>,
    /// Not after this date or instant.
    pub end: Option<String>,
    /// Loop the pattern inside each activation when it is shorter (default true).
    pub repeat: Option<bool>,
}

/// A time-of-day window on some days of the week: `{ days = "mon-fri", from = "09:00",
/// to = "17:30" }`; `to` before `from` crosses midnight.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub days: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
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
