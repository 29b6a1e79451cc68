//! Raw config -> typed `Config`. Every check runs even after an earlier one failed, so the
//! user sees all problems in one go, each with the key path it concerns.

use std::collections::BTreeMap;
mod websocket;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};

use super::raw::{RawConfig, RawEndpoint, RawPattern, RawProfile, RawTarget};
use super::{
    Arrivals, Config, ConfigError, ConfigErrors, Endpoint, Load, Profile, Scheme, ServerSettings,
    Target, Threshold, DEFAULT_BUCKETS,
};
use crate::scenario::model::Scenario;
use crate::schedule::calendar::Schedule;
use crate::schedule::Pattern;

pub const DEFAULT_LISTEN: &str = ":9632";
pub const DEFAULT_DEMO_LISTEN: &str = "127.0.0.1:9633";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_DRAIN: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CONNECTIONS: u64 = 1_000;
const DEFAULT_MAX_IN_FLIGHT: u64 = 1_000;

/// Users started (or retired) per second when a profile does not say: a hundred users
/// arrive over ten seconds instead of all in one instant.
const DEFAULT_SPAWN_RATE: f64 = 10.0;

/// The default seed of a profile: stable across reloads and identical on every shard, so
/// a random pattern is the same curve everywhere (FNV-1a of the name).
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(super) struct Collector<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<ConfigError>,
}

impl Collector<'_> {
    pub(super) fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.into(),
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Duration {
        let Some(v) = value else { return default };
        match humantime::parse_duration(v.trim()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?}: must be greater than zero"),
                );
                default
            }
            Err(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?} (e.g. \"30s\", \"5m\", \"250ms\")"),
                );
                default
            }
        }
    }

    pub(super) fn headers(
        &mut self,
        key: &str,
        raw: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (name, value) in raw {
            let k = format!("{key}.{name}");
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(n), Ok(v)) => out.push((n, v)),
                (Err(_), _) => self.err(k, format!("invalid header name {name:?}")),
                // The key names the header; the value may be a credential, so it is not quoted.
                (_, Err(_)) => self.err(
                    k,
                    "invalid header value (not shown, it may be a secret): it contains a \
                     control character such as a newline",
                ),
            }
        }
        out
    }
}

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

pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
        if let Some(mut t) = target(&mut c, name, t, base_dir) {
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
        if let Some(p) = profile(&mut c, name, p, raw, &targets, &scenarios) {
            profiles.push(Arc::new(p));
        }
    }

    super::safety::check_peak_rates(&mut c, &safety, &profiles);
    super::safety::check_peak_users(&mut c, &safety, &profiles);

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
        })
    } else {
        Err(ConfigErrors(c.errors))
    }
}

fn target(c: &mut Collector, name: &str, t: &RawTarget, base_dir: Option<&Path>) -> Option<Target> {
    let key = format!("targets.{name}");
    let before = c.errors.len();
    if !valid_name(name) {
        c.err(
            &key,
            format!("invalid target name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    let (scheme, host, port, base_path) = match t.url.as_deref() {
        None => {
            c.err(
                format!("{key}.url"),
                "missing: the target's base URL (e.g. \"http://127.0.0.1:8080\")",
            );
            (Scheme::Http, String::new(), 0, String::new())
        }
        Some(u) => match parse_url(u) {
            // An HTTP target's base path is put before every endpoint's path: a query there
            // would end up in the middle of each request's path (`/v1?page=1/items`). A
            // WebSocket URL is the endpoint itself, query included.
            Ok((Scheme::Http | Scheme::Https, .., base)) if base.contains('?') => {
                c.err(
                    format!("{key}.url"),
                    format!(
                        "invalid URL {:?}: a query string in a target's base URL would land in the \
                         middle of every endpoint's path; put it in the endpoints' `path`",
                        crate::redact::url(u)
                    ),
                );
                (Scheme::Http, String::new(), 0, String::new())
            }
            Ok(parts) => parts,
            Err(e) => {
                c.err(format!("{key}.url"), e);
                (Scheme::Http, String::new(), 0, String::new())
            }
        },
    };
    let headers = c.headers(&format!("{key}.headers"), &t.headers);
    let timeout = c.duration(
        &format!("{key}.timeout"),
        t.timeout.as_deref(),
        DEFAULT_TIMEOUT,
    );
    let max_connections = t.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        c.err(
            format!("{key}.max_connections"),
            "must be at least 1, got 0",
        );
    }
    let buckets = match &t.buckets {
        None => DEFAULT_BUCKETS.to_vec(),
        Some(b) => {
            let ok = !b.is_empty()
                && b.iter().all(|v| v.is_finite() && *v > 0.0)
                && b.windows(2).all(|w| w[0] < w[1]);
            if !ok {
                c.err(
                    format!("{key}.buckets"),
                    format!("invalid buckets {b:?}: need positive seconds in increasing order"),
                );
            }
            b.clone()
        }
    };
    let ws = websocket::target(c, &key, t);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for (i, e) in t.endpoints.iter().enumerate() {
        let ekey = format!("{key}.endpoints[{i}]");
        // Compared with every earlier raw name, valid or not, so no duplicate goes unreported.
        if let Some(n) = e
            .name
            .as_ref()
            .filter(|n| t.endpoints[..i].iter().any(|x| x.name.as_ref() == Some(*n)))
        {
            c.err(
                format!("{ekey}.name"),
                format!("duplicate endpoint name {n:?}"),
            );
        }
        if let Some(ep) = endpoint(c, &ekey, e, &base_path, base_dir) {
            endpoints.push(ep);
        }
    }
    (c.errors.len() == before).then(|| Target {
        name: name.to_string(),
        scheme,
        host,
        port,
        headers,
        timeout,
        http2: t.http2.unwrap_or(false),
        insecure: t.insecure.unwrap_or(false),
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        buckets,
        endpoints,
        websocket: ws,
        dns_allow: None,
    })
}

/// Splits a base URL into scheme, host, port and path prefix (without a trailing '/').
/// Errors quote the URL with credentials redacted; a URL with `user:pass@` is refused, since
/// they would not be sent (headers and scenario auth are the places for credentials).
pub fn parse_url(u: &str) -> Result<(Scheme, String, u16, String), String> {
    if !u.contains("://") {
        // Redacted as if it had the scheme it lacks, so `user:pass@host` is caught too.
        let shown = crate::redact::url(&format!("http://{u}"));
        let bare = &shown["http://".len()..];
        return Err(format!(
            "invalid URL {bare:?}: no scheme (e.g. \"{shown}\")"
        ));
    }
    let shown = crate::redact::url(u);
    let uri: Uri = u.parse().map_err(|_| format!("invalid URL {shown:?}"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some("ws") => Scheme::Ws,
        Some("wss") => Scheme::Wss,
        Some(s) => {
            return Err(format!(
                "invalid URL {shown:?}: unsupported scheme {s:?} (use http, https, ws or wss)"
            ))
        }
        None => {
            return Err(format!(
                "invalid URL {shown:?}: no scheme (e.g. \"http://{shown}\")"
            ))
        }
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "invalid URL {shown:?}: credentials in a URL are not sent; give them in a header \
             (headers = {{ Authorization = \"Basic ...\" }}, or -H on the command line) or in \
             a scenario's auth"
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("invalid URL {shown:?}: no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(match scheme {
        Scheme::Http | Scheme::Ws => 80,
        Scheme::Https | Scheme::Wss => 443,
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    Ok((scheme, host, port, path.trim_end_matches('/').to_string()))
}

fn endpoint(
    c: &mut Collector,
    key: &str,
    e: &RawEndpoint,
    base_path: &str,
    base_dir: Option<&Path>,
) -> Option<Endpoint> {
    let before = c.errors.len();
    let name = e.name.clone().unwrap_or_default();
    if e.name.is_none() {
        c.err(
            format!("{key}.name"),
            "missing: every endpoint needs a name (it is the metric label)",
        );
    } else if !valid_name(&name) {
        c.err(
            format!("{key}.name"),
            format!("invalid endpoint name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    let method_raw = e.method.as_deref().unwrap_or("GET");
    let method =
        Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
            c.err(
                format!("{key}.method"),
                format!("invalid method {method_raw:?}"),
            );
            Method::GET
        });
    let path = e.path.as_deref().unwrap_or("/");
    if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
        c.err(
            format!("{key}.path"),
            format!(
                "invalid path {:?}: must start with '/'",
                crate::redact::path(path)
            ),
        );
    }
    let headers = c.headers(&format!("{key}.headers"), &e.headers);
    let body = match (&e.body, &e.body_file) {
        (Some(_), Some(_)) => {
            c.err(
                format!("{key}.body_file"),
                "set either body or body_file, not both",
            );
            Bytes::new()
        }
        (Some(b), None) => Bytes::from(b.clone()),
        (None, Some(f)) => {
            let p = base_dir.map(|d| d.join(f)).unwrap_or_else(|| f.into());
            std::fs::read(&p).map(Bytes::from).unwrap_or_else(|err| {
                c.err(
                    format!("{key}.body_file"),
                    format!("cannot read {}: {err}", p.display()),
                );
                Bytes::new()
            })
        }
        (None, None) => Bytes::new(),
    };
    let weight = e.weight.unwrap_or(1);
    if weight == 0 || weight > 1_000_000 {
        c.err(
            format!("{key}.weight"),
            format!("invalid weight {weight}: must be 1..=1000000"),
        );
    }
    let expect_status = e.expect_status.clone().unwrap_or_default();
    for s in &expect_status {
        if !(100..=599).contains(s) {
            c.err(
                format!("{key}.expect_status"),
                format!("invalid status code {s}: must be 100..=599"),
            );
        }
    }
    (c.errors.len() == before).then(|| Endpoint {
        name,
        method,
        path: format!("{base_path}{path}"),
        headers,
        body,
        weight: u32::try_from(weight).unwrap_or(1),
        expect_status,
        body_contains: e.body_contains.clone(),
    })
}

fn profile(
    c: &mut Collector,
    name: &str,
    p: &RawProfile,
    raw: &RawConfig,
    targets: &[Arc<Target>],
    scenarios: &BTreeMap<String, (Arc<Scenario>, Arc<Target>)>,
) -> Option<Profile> {
    let key = format!("profiles.{name}");
    let before = c.errors.len();
    if !valid_name(name) {
        c.err(
            &key,
            format!("invalid profile name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    let (capacity, capacity_rate) = capacity_kind(c, &key, p);
    let known = || raw.targets.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut scenario = None;
    let target = match (p.target.as_deref(), p.scenario.as_deref()) {
        (Some(_), Some(_)) => {
            c.err(
                &key,
                "set either target (requests to its endpoints) or scenario (user sessions), not both",
            );
            None
        }
        (None, Some(sc)) => {
            if p.endpoints.is_some() {
                c.err(
                    format!("{key}.endpoints"),
                    "only applies with target; a scenario's steps are its requests",
                );
            }
            match scenarios.get(sc) {
                Some((s, t)) => {
                    scenario = Some(s.clone());
                    Some(t.clone())
                }
                None => {
                    // A scenario that failed its own validation has already been reported.
                    if !raw.scenarios.contains_key(sc) {
                        let names: Vec<_> = raw.scenarios.keys().cloned().collect();
                        c.err(
                            format!("{key}.scenario"),
                            format!("unknown scenario {sc:?} (known: {})", names.join(", ")),
                        );
                    }
                    None
                }
            }
        }
        (None, None) => {
            c.err(
                format!("{key}.target"),
                format!(
                    "missing: which target to load (known: {}), or a scenario",
                    known()
                ),
            );
            None
        }
        (Some(t), None) => {
            let found = targets.iter().find(|x| x.name == t).cloned();
            // A target that failed its own validation has already been reported.
            if found.is_none() && !raw.targets.contains_key(t) {
                c.err(
                    format!("{key}.target"),
                    format!("unknown target {t:?} (known: {})", known()),
                );
            }
            if found.as_ref().is_some_and(|t| {
                t.endpoints.is_empty() && !matches!(t.scheme, Scheme::Ws | Scheme::Wss)
            }) {
                c.err(
                    format!("{key}.target"),
                    format!(
                        "target {t:?} has no endpoints: give it [[targets.{t}.endpoints]] or run a scenario"
                    ),
                );
            }
            found
        }
    };
    let ws = websocket::profile_is_ws(p, raw);
    let mut endpoints = Vec::new();
    if let Some(t) = target.as_ref().filter(|_| !ws) {
        match &p.endpoints {
            None => endpoints = (0..t.endpoints.len()).collect(),
            Some(names) => {
                if names.is_empty() {
                    c.err(
                        format!("{key}.endpoints"),
                        "empty list: leave it out to use all of the target's endpoints",
                    );
                }
                for (i, n) in names.iter().enumerate() {
                    match t.endpoints.iter().position(|e| &e.name == n) {
                        Some(idx) => endpoints.push(idx),
                        None => {
                            let known: Vec<_> =
                                t.endpoints.iter().map(|e| e.name.as_str()).collect();
                            c.err(
                                format!("{key}.endpoints[{i}]"),
                                format!(
                                    "unknown endpoint {n:?} of target {:?} (known: {})",
                                    t.name,
                                    known.join(", ")
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    let seed = p.seed.unwrap_or_else(|| name_seed(name));
    let pattern = |c: &mut Collector, field: &str, raw: &RawPattern, what: &str| {
        let key = format!("{key}.{field}");
        if let RawPattern::Value(v) = raw {
            if !(v.is_finite() && *v > 0.0 && *v <= 10_000_000.0) {
                c.err(&key, format!("invalid {field} {v}: must be > 0 {what}"));
                return None;
            }
        }
        match crate::schedule::pattern::parse(raw, &key, seed) {
            Ok(p) => Some(p),
            Err(errors) => {
                for (k, m) in errors {
                    c.err(k, m);
                }
                None
            }
        }
    };
    let load = match (p.rate.as_ref().or(capacity_rate.as_ref()), p.users.as_ref()) {
        _ if ws => websocket::load(c, &key, p, |c, field, raw| {
            pattern(c, field, raw, "connections")
        }),
        _ if websocket::misplaced(c, &key, p) => None,
        (Some(_), Some(_)) => {
            c.err(
                &key,
                "set either rate (open model) or users (closed model), not both",
            );
            None
        }
        (None, None) => {
            c.err(
                &key,
                "missing load: set rate (arrivals per second) or users (concurrent virtual users)",
            );
            None
        }
        (Some(r), None) => {
            let max = p.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
            if max == 0 {
                c.err(format!("{key}.max_in_flight"), "must be at least 1, got 0");
            }
            if p.spawn_rate.is_some() {
                c.err(
                    format!("{key}.spawn_rate"),
                    "only applies to the closed model (users); the rate pattern paces arrivals",
                );
            }
            pattern(c, "rate", r, "requests per second").map(|rate| Load::Open {
                rate,
                max_in_flight: usize::try_from(max).unwrap_or(usize::MAX),
            })
        }
        (None, Some(u)) => {
            if p.max_in_flight.is_some() {
                c.err(
                    format!("{key}.max_in_flight"),
                    "only applies to the open model (rate); users already bound it",
                );
            }
            if p.arrivals.is_some() {
                c.err(
                    format!("{key}.arrivals"),
                    "only applies to the open model (rate); users send when their last request ends",
                );
            }
            if let RawPattern::Value(v) = u {
                if v.fract() != 0.0 && v.is_finite() {
                    c.err(
                        format!("{key}.users"),
                        format!("invalid users {v}: must be a whole number"),
                    );
                }
            }
            pattern(c, "users", u, "virtual users").and_then(|users| {
                if let Pattern::Constant { value } = users {
                    if value.fract() != 0.0 && !matches!(u, RawPattern::Value(_)) {
                        c.err(
                            format!("{key}.users.value"),
                            format!("invalid users {value}: must be a whole number"),
                        );
                        return None;
                    }
                }
                if users.max_value() > 1_000_000.0 {
                    c.err(
                        format!("{key}.users"),
                        format!("too many users ({}): at most 1000000", users.max_value()),
                    );
                    return None;
                }
                Some(Load::Closed { users })
            })
        }
    };
    let arrivals = match p.arrivals.as_deref() {
        None | Some("even") => Arrivals::Even,
        Some("poisson") => Arrivals::Poisson { seed },
        Some(other) => {
            c.err(
                format!("{key}.arrivals"),
                format!("unknown arrivals {other:?} (known: even, poisson)"),
            );
            Arrivals::Even
        }
    };
    if let Some(s) = p.spawn_rate {
        if !(s.is_finite() && s > 0.0) {
            c.err(
                format!("{key}.spawn_rate"),
                format!("invalid spawn_rate {s}: must be > 0 users per second"),
            );
        }
    }
    let schedule = match (&p.schedule, &load) {
        (None, _) => Some(Schedule::always()),
        (Some(raw), Some(load)) => {
            // A capacity search lasts at most its levels; the pattern is only its start rate.
            let length = match (&capacity, &capacity_rate) {
                (Some(spec), _) => Some(spec.max_length()),
                // A capacity table with errors: those are reported, not a missing "for".
                (None, Some(_)) => Some(Duration::from_secs(3600)),
                (None, None) => load.pattern().length(),
            };
            match crate::schedule::calendar::parse(raw, &format!("{key}.schedule"), length) {
                Ok(s) => Some(s),
                Err(errors) => {
                    for (k, m) in errors {
                        c.err(k, m);
                    }
                    None
                }
            }
        }
        // The load's own errors are reported; the schedule is checked once it is fixed.
        (Some(_), None) => None,
    };
    let duration = p
        .duration
        .as_deref()
        .map(|d| c.duration(&format!("{key}.duration"), Some(d), Duration::ZERO));
    if p.requests == Some(0) {
        c.err(format!("{key}.requests"), "must be at least 1, got 0");
    }
    let warmup = c.duration(
        &format!("{key}.warmup"),
        p.warmup.as_deref(),
        Duration::ZERO,
    );
    let mut thresholds = Vec::new();
    for (i, t) in p.thresholds.iter().enumerate() {
        match t.parse::<Threshold>() {
            Ok(t) => thresholds.push(t),
            Err(e) => c.err(format!("{key}.thresholds[{i}]"), e),
        }
    }
    let brake = p
        .brake
        .as_ref()
        .and_then(|b| super::safety::brake(c, &key, b, ws));
    if c.errors.len() != before {
        return None;
    }
    Some(Profile {
        name: name.to_string(),
        target: target?,
        endpoints,
        load: load?,
        scenario,
        arrivals,
        spawn_rate: p.spawn_rate.or(Some(DEFAULT_SPAWN_RATE)),
        seed,
        schedule: schedule?,
        duration,
        requests: p.requests,
        warmup,
        thresholds,
        brake,
        capacity,
    })
}

/// `kind` and the `[profiles.NAME.capacity]` table. A capacity profile's start rate stands in
/// for `rate` (the search sets the rates), so the rest validates as an open-model profile.
fn capacity_kind(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
) -> (
    Option<Arc<super::capacity::CapacitySpec>>,
    Option<RawPattern>,
) {
    let is_capacity = match p.kind.as_deref() {
        None | Some("load") => false,
        Some("capacity") => true,
        Some(other) => {
            c.err(
                format!("{key}.kind"),
                format!("unknown kind {other:?} (known: load, capacity)"),
            );
            return (None, None);
        }
    };
    let raw = match (is_capacity, &p.capacity) {
        (false, None) => return (None, None),
        (false, Some(_)) => {
            c.err(
                format!("{key}.capacity"),
                "only for capacity profiles: add kind = \"capacity\"",
            );
            return (None, None);
        }
        (true, None) => {
            c.err(
                format!("{key}.capacity"),
                "missing: a capacity profile needs a capacity table with slo = [...]",
            );
            return (None, Some(RawPattern::Value(1.0)));
        }
        (true, Some(raw)) => raw,
    };
    for (field, set) in [
        ("rate", p.rate.is_some()),
        ("users", p.users.is_some()),
        ("connections", p.connections.is_some()),
        ("scenario", p.scenario.is_some()),
        ("duration", p.duration.is_some()),
        ("requests", p.requests.is_some()),
    ] {
        if set {
            c.err(
                format!("{key}.{field}"),
                "not for a capacity profile: the search sets the rates and how long each level lasts",
            );
        }
    }
    let spec = super::capacity::validate(raw, &format!("{key}.capacity"), &mut |k, m| c.err(k, m));
    let start = spec.as_ref().map_or(1.0, |s| s.params.start_rate);
    (spec.map(Arc::new), Some(RawPattern::Value(start)))
}
