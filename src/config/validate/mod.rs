//! Raw config -> typed `Config`: the server settings here, targets and their endpoints in
//! `target`, profiles in `profile`, the WebSocket keys in `websocket`; scenarios and safety
//! limits in their own modules of `config`. Every problem goes to one `Collector`.

mod discovery;
mod grpc;
mod labels;
mod profile;
mod protocols;
mod redis;
mod socket;
mod sql;
mod target;
mod tls;
mod websocket;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::checks::Collector;
use super::raw::RawConfig;
use super::{Config, ConfigErrors, ServerSettings};

pub const DEFAULT_LISTEN: &str = ":9632";
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:9633";
const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// Parses `:9632`, `0.0.0.0:9632`, `[::1]:9632` or `localhost:9632`.
pub fn parse_listen(v: &str) -> Result<SocketAddr, String> {
    let full = if v.starts_with(':') {
        format!("0.0.0.0{v}")
    } else {
        v.to_string()
    };
    if let Ok(a) = full.parse() {
        return Ok(a);
    }
    full.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| {
            format!("invalid listen address {v:?} (e.g. \":9632\" or \"127.0.0.1:9632\")")
        })
}

pub fn validate(
    raw: &RawConfig,
    file: &str,
    base_dir: Option<&Path>,
) -> Result<Config, ConfigErrors> {
    let mut c = Collector {
        file,
        errors: Vec::new(),
    };

    let listen_raw = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = parse_listen(listen_raw).unwrap_or_else(|e| {
        c.err("server.listen", e);
        SocketAddr::from(([0, 0, 0, 0], 9632))
    });
    let drain_timeout = c.duration(
        "server.drain_timeout",
        raw.server.drain_timeout.as_deref(),
        DEFAULT_DRAIN,
    );

    let demo_target = raw.demo_target.as_ref().and_then(|d| {
        let v = d.listen.as_deref().unwrap_or(DEFAULT_DEMO_LISTEN);
        parse_listen(v)
            .map_err(|e| c.err("demo_target.listen", e))
            .ok()
    });

    let safety = super::safety::safety(&mut c, raw.safety.as_ref());
    let mut targets = Vec::new();
    for (name, t) in &raw.targets {
        if let Some(mut t) = target::target(&mut c, name, t, base_dir) {
            super::safety::check_target(&mut c, &safety, &mut t);
            targets.push(Arc::new(t));
        }
    }

    let mut scenarios = BTreeMap::new();
    for (name, sc) in &raw.scenarios {
        if let Some(v) = super::scenario::scenario(&mut c, name, sc, raw, &targets, base_dir) {
            scenarios.insert(name.clone(), v);
        }
    }

    let mut profiles = Vec::new();
    for (name, p) in &raw.profiles {
        if let Some(p) = profile::profile(&mut c, name, p, raw, &targets, &scenarios) {
            profiles.push(Arc::new(p));
        }
    }

    super::safety::check_peak_rates(&mut c, &safety, &profiles);
    super::safety::check_peak_users(&mut c, &safety, &profiles);
    let labels = labels::labels(&mut c, &raw.labels);

    if c.errors.is_empty() {
        Ok(Config {
            server: ServerSettings {
                listen,
                drain_timeout,
            },
            demo_target,
            targets,
            profiles,
            safety,
            labels,
        })
    } else {
        Err(ConfigErrors(c.errors))
    }
}
