//! A profile: what it loads (a target's endpoints or a scenario), how (open or closed model,
//! a pattern), when (its schedule), how long, and what must hold (thresholds, brake); a
//! capacity profile's search table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::super::capacity::CapacitySpec;
use super::super::checks::{valid_name, Collector};
use super::super::raw::{RawConfig, RawPattern, RawProfile};
use super::super::{Arrivals, Load, Profile, Scheme, Target, Threshold, Trace};
use super::websocket;
use crate::scenario::model::Scenario;
use crate::schedule::calendar::Schedule;
use crate::schedule::Pattern;

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

pub(super) fn profile(
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
    let (target, scenario) = what_it_loads(c, &key, p, raw, targets, scenarios);
    let ws = websocket::profile_is_ws(p, raw);
    let endpoints = target
        .as_ref()
        .filter(|_| !ws)
        .map_or_else(Vec::new, |t| endpoint_indexes(c, &key, p, t));
    let seed = p.seed.unwrap_or_else(|| name_seed(name));
    let load = load(c, &key, p, ws, seed, capacity_rate.as_ref());
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
    let schedule = schedule(
        c,
        &key,
        p,
        load.as_ref(),
        capacity.as_deref(),
        capacity_rate.is_some(),
    );
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
        .and_then(|b| super::super::safety::brake(c, &key, b, ws));
    let trace = trace(c, &key, p, target.as_deref());
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
        trace,
    })
}

/// `traceparent` and `trace_sample_ratio`: only HTTP and gRPC requests carry the header.
fn trace(c: &mut Collector, key: &str, p: &RawProfile, target: Option<&Target>) -> Trace {
    let ratio = p.trace_sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&ratio) {
        c.err(
            format!("{key}.trace_sample_ratio"),
            format!("invalid ratio {ratio}: must be between 0 and 1"),
        );
    }
    let carries =
        target.is_some_and(|t| (t.scheme.is_http() && t.websocket.is_none()) || t.scheme.is_grpc());
    if !carries && target.is_some() {
        for (k, set) in [
            ("traceparent", p.traceparent == Some(true)),
            ("trace_sample_ratio", p.trace_sample_ratio.is_some()),
        ] {
            if set {
                c.err(
                    format!("{key}.{k}"),
                    "only HTTP and gRPC requests carry a traceparent",
                );
            }
        }
    }
    Trace {
        enabled: if carries { p.traceparent } else { Some(false) },
        sample_ratio: ratio,
    }
}

/// `kind` and the `[profiles.NAME.capacity]` table. A capacity profile's start rate stands in
/// for `rate` (the search sets the rates), so the rest validates as an open-model profile.
fn capacity_kind(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
) -> (Option<Arc<CapacitySpec>>, Option<RawPattern>) {
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
    let spec =
        super::super::capacity::validate(raw, &format!("{key}.capacity"), &mut |k, m| c.err(k, m));
    let start = spec.as_ref().map_or(1.0, |s| s.params.start_rate);
    (spec.map(Arc::new), Some(RawPattern::Value(start)))
}

/// The target a profile loads, and its scenario when it runs one (whose target it is).
fn what_it_loads(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
    raw: &RawConfig,
    targets: &[Arc<Target>],
    scenarios: &BTreeMap<String, (Arc<Scenario>, Arc<Target>)>,
) -> (Option<Arc<Target>>, Option<Arc<Scenario>>) {
    let known = || raw.targets.keys().cloned().collect::<Vec<_>>().join(", ");
    let mut scenario = None;
    let target = match (p.target.as_deref(), p.scenario.as_deref()) {
        (Some(_), Some(_)) => {
            c.err(
                key,
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
    (target, scenario)
}

/// The indexes of the target's endpoints the profile requests: all of them, or those named.
fn endpoint_indexes(c: &mut Collector, key: &str, p: &RawProfile, t: &Target) -> Vec<usize> {
    let mut endpoints = Vec::new();
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
                        let known: Vec<_> = t.endpoints.iter().map(|e| e.name.as_str()).collect();
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
    endpoints
}

/// A rate, users or connections pattern at `key.field`; a plain number must be in range.
fn pattern(
    c: &mut Collector,
    key: &str,
    seed: u64,
    field: &str,
    raw: &RawPattern,
    what: &str,
) -> Option<Pattern> {
    let key = format!("{key}.{field}");
    if let RawPattern::Value(v) = raw {
        if v.is_finite() && *v > 10_000_000.0 {
            c.err(
                &key,
                format!("invalid {field} {v:e}: at most 10000000 {what}"),
            );
            return None;
        }
        if !(v.is_finite() && *v > 0.0) {
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
}

/// The open or closed (or WebSocket) load and its pattern.
fn load(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
    ws: bool,
    seed: u64,
    capacity_rate: Option<&RawPattern>,
) -> Option<Load> {
    match (p.rate.as_ref().or(capacity_rate), p.users.as_ref()) {
        _ if ws => websocket::load(c, key, p, |c, field, raw| {
            pattern(c, key, seed, field, raw, "connections")
        }),
        _ if websocket::misplaced(c, key, p) => None,
        (Some(_), Some(_)) => {
            c.err(
                key,
                "set either rate (open model) or users (closed model), not both",
            );
            None
        }
        (None, None) => {
            c.err(
                key,
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
            if p.think.is_some() {
                c.err(
                    format!("{key}.think"),
                    "only applies to the closed model (users); the rate pattern paces arrivals",
                );
            }
            pattern(c, key, seed, "rate", r, "requests per second").map(|rate| Load::Open {
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
            pattern(c, key, seed, "users", u, "virtual users").and_then(|users| {
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
                Some(Load::Closed {
                    users,
                    think: think(c, key, p),
                })
            })
        }
    }
}

/// A closed-model profile's pause between a user's requests (or scenario iterations).
fn think(c: &mut Collector, key: &str, p: &RawProfile) -> Option<crate::scenario::Think> {
    let spec = p.think.as_ref()?;
    crate::scenario::Think::parse(spec)
        .map_err(|e| c.err(format!("{key}.think"), e))
        .ok()
}

/// When the profile runs; a window without "for" lasts the load's pattern (or the longest
/// capacity search).
fn schedule(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
    load: Option<&Load>,
    capacity: Option<&CapacitySpec>,
    capacity_rate: bool,
) -> Option<Schedule> {
    match (&p.schedule, load) {
        (None, _) => Some(Schedule::always()),
        (Some(raw), Some(load)) => {
            // A capacity search lasts at most its levels; the pattern is only its start rate.
            let length = match (capacity, capacity_rate) {
                (Some(spec), _) => Some(spec.max_length()),
                // A capacity table with errors: those are reported, not a missing "for".
                (None, true) => Some(Duration::from_secs(3600)),
                (None, false) => load.pattern().length(),
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
    }
}
