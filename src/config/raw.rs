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
    pub profiles: BTreeMap<String, RawProfile>,
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
    pub endpoints: Option<Vec<String>>,
    /// Open model: arrivals per second.
    pub rate: Option<f64>,
    /// Closed model: virtual users, each looping request after request.
    pub users: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub duration: Option<String>,
    pub requests: Option<u64>,
    #[serde(default)]
    pub thresholds: Vec<String>,
}
