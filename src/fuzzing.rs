//! Fuzz target bodies, in one place for both `fuzz/` (cargo-fuzz, nightly) and the stable
//! `tests/fuzz_smoke.rs`: each takes arbitrary bytes, feeds them to one parser and then uses
//! what it accepted the way loadtide would (rates sampled, arrivals paced, schedules
//! stepped, templates rendered), so arithmetic on absurd values is exercised too. A target
//! must never panic, whatever the bytes; errors are fine. Nothing here does I/O: config
//! keys that would read files or resolve names are dropped before validation.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;

use crate::config::raw::{RawConfig, RawPattern, RawSchedule};
use crate::config::{Config, Load, Profile};
use crate::engine::pacer::{Due, Pacer};
use crate::engine::plan::RunSpec;
use crate::schedule::Pattern;

/// A fuzz target: arbitrary bytes in, no panic out.
pub type Target = fn(&[u8]);

/// The targets, by the name `fuzz/` and the seed corpus (`fuzz/corpus/<name>/`) use.
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("duration", duration),
    ("threshold", threshold),
    ("schedule", schedule),
    ("pattern", pattern),
    ("template", template),
];

/// Fixed instants, so that a target behaves the same on every run.
fn instants() -> [DateTime<Utc>; 3] {
    [
        Utc.timestamp_opt(0, 0).single().expect("the epoch exists"),
        Utc.timestamp_opt(1_795_000_000, 0) // late 2026
            .single()
            .expect("a valid instant"),
        Utc.timestamp_opt(4_102_444_800, 0) // 2100-01-01
            .single()
            .expect("a valid instant"),
    ]
}

/// Keys whose values name files (read during validation) or hosts (resolved).
const IO_KEYS: &[&str] = &["body_file", "file", "csv"];

/// Drops the keys of `IO_KEYS` and any `listen` that is not a literal socket address, so
/// validation neither reads files nor asks the (possibly unreachable) resolver.
fn defuse(v: &mut Value) {
    match v {
        Value::Dict(_, dict) => {
            dict.retain(|k, v| {
                if IO_KEYS.contains(&k.as_str()) {
                    return false;
                }
                if k == "listen" {
                    return v.as_str().is_some_and(|s| {
                        let full = if s.starts_with(':') {
                            format!("0.0.0.0{s}")
                        } else {
                            s.to_string()
                        };
                        full.parse::<std::net::SocketAddr>().is_ok()
                    });
                }
                true
            });
            dict.values_mut().for_each(defuse);
        }
        Value::Array(_, items) => items.iter_mut().for_each(defuse),
        _ => {}
    }
}

/// A config from TOML text, defused; None if it is not TOML or not a config's shape.
fn raw_config(text: &str) -> Option<RawConfig> {
    let mut value: Value = Figment::from(Toml::string(text)).extract().ok()?;
    defuse(&mut value);
    let dict: Dict = value.into_dict()?;
    Figment::from(Serialized::defaults(dict)).extract().ok()
}

/// Uses a validated config the way `check`, `run` and the daemon do.
fn exercise_config(c: &Config) {
    for p in &c.profiles {
        exercise_profile(p);
    }
}

fn exercise_profile(p: &Profile) {
    exercise_pattern(p.load.pattern());
    if let Load::Open { rate, .. } = &p.load {
        let spec = RunSpec::once(p.duration.or(rate.length()));
        pace(Pacer::new(
            spec.plan(rate, true),
            p.arrivals,
            spec.shard,
            spec.length,
        ));
    }
    for at in instants() {
        let _ = p.schedule.activity_at(at);
        let _ = p.schedule.next_starts(at, 3);
        let _ = crate::timetable::planned_at(p, at);
        let _ = crate::timetable::describe(p, at);
    }
    let _ = p.schedule.describe();
    for t in &p.thresholds {
        let _ = t.holds(0.5);
        let _ = t.to_string();
    }
}

/// Takes a bounded number of arrivals from `pacer` (the first 200, or up to 5 s in).
fn pace(mut pacer: Pacer) {
    for _ in 0..200 {
        match pacer.next_due() {
            Due::End => return,
            Due::At(d) | Due::Idle(d) if d > Duration::from_secs(5) => return,
            Due::At(d) => {
                let _ = pacer.rate_at(d);
            }
            Due::Idle(_) => {}
        }
    }
}

fn exercise_pattern(p: &Pattern) {
    // Up to 30,000 years in: a daemon runs long, but not longer than that.
    for secs in [0, 1, 59, 3_600, 86_400 * 7, 86_400 * 366, 1_000_000_000_000] {
        let _ = p.rate_at(Duration::from_secs(secs));
    }
    let _ = p.rate_at(Duration::from_micros(1_500));
    let _ = p.length();
    let _ = p.max_value();
    let _ = p.describe();
    let _ = crate::schedule::plot::sample(p, p.length().unwrap_or(Duration::from_secs(60)), 20);
}

/// TOML text → a validated config → used.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(raw) = raw_config(text) else { return };
    if let Ok(c) = crate::config::validate(&raw, "fuzz.toml", None) {
        exercise_config(&c);
    }
}

/// A string as a TOML basic string (JSON's escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a str serialises")
}

/// One string in every place a duration is read: a target's timeout, the drain timeout, a
/// profile's duration, a ramp's `over`, a step's `every`, a schedule's `for` and a think
/// time and a latency check; then the config is used.
pub fn duration(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let d = toml_string(s);
    let text = format!(
        r#"
[server]
drain_timeout = {d}
[targets.t]
url = "http://127.0.0.1:1"
timeout = {d}
[[targets.t.endpoints]]
name = "e"
path = "/"
[profiles.ramp]
target = "t"
endpoints = ["e"]
duration = {d}
rate = {{ pattern = "ramp", from = 1, to = 1000, over = {d} }}
schedule = {{ cron = "0 9 * * *", for = {d} }}
[profiles.step]
target = "t"
endpoints = ["e"]
rate = {{ pattern = "step", start = 1, step = 10, every = {d}, duration = {d} }}
[scenarios.s]
target = "t"
[[scenarios.s.steps]]
path = "/"
think = {d}
max_latency = {d}
"#
    );
    if let Some(raw) = raw_config(&text) {
        if let Ok(c) = crate::config::validate(&raw, "fuzz.toml", None) {
            exercise_config(&c);
        }
    }
    if let Ok(t) = crate::scenario::Think::parse(&crate::scenario::ThinkSpec::Fixed(s.into())) {
        let mut rng = fastrand::Rng::with_seed(1);
        let _ = t.sample(&mut rng);
    }
}

/// A `--threshold` expression → parsed → checked against a few values.
pub fn threshold(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = s.parse::<crate::config::Threshold>() {
        for v in [0.0, 0.5, 1e9, f64::NAN, f64::INFINITY, -1.0] {
            let _ = t.holds(v);
            let _ = t.holds_within(v, 2.0);
        }
        let _ = t.to_string();
    }
    let _ = crate::config::threshold::parse_seconds(s);
}

/// A `schedule` table as TOML (or, when that is not TOML, a cron expression lasting an
/// hour) → parsed → stepped through at fixed instants.
pub fn schedule(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let raw: RawSchedule = match Figment::from(Toml::string(text)).extract() {
        Ok(raw) => raw,
        Err(_) => RawSchedule {
            cron: Some(text.to_string()),
            for_: Some("1h".into()),
            ..RawSchedule::default()
        },
    };
    for pattern_len in [None, Some(Duration::from_secs(600))] {
        if let Ok(s) = crate::schedule::calendar::parse(&raw, "schedule", pattern_len) {
            for at in instants() {
                let _ = s.activity_at(at);
                let _ = s.next_starts(at, 3);
                let _ = s.utc_offset_secs(at);
            }
            let _ = s.describe();
        }
    }
}

/// A load value as TOML (`rate = ...`) → parsed → sampled, plotted and paced.
pub fn pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    #[derive(serde::Deserialize)]
    struct Holder {
        rate: RawPattern,
    }
    let Ok(h) = Figment::from(Toml::string(text)).extract::<Holder>() else {
        return;
    };
    let Ok(p) = crate::schedule::pattern::parse(&h.rate, "rate", 42) else {
        return;
    };
    exercise_pattern(&p);
    for arrivals in [
        crate::config::Arrivals::Even,
        crate::config::Arrivals::Poisson { seed: 7 },
    ] {
        let spec = RunSpec::once(p.length().or(Some(Duration::from_secs(5))));
        pace(Pacer::new(
            spec.plan(&p, true),
            arrivals,
            spec.shard,
            spec.length,
        ));
    }
}

/// A request template → compiled → rendered with a few variables.
pub fn template(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let mut t = crate::scenario::Templates::new();
    if t.add("fuzz", source).is_err() {
        return;
    }
    let _ = t.declared("fuzz");
    let _ = t.declared_paths("fuzz");
    let mut vars = crate::scenario::Vars::new();
    vars.set("user", "alice");
    vars.set("n", 3);
    vars.set("token", "abc.def");
    let _ = t.render("fuzz", &vars);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness must not reject good input on its own (defusing, the round trip through
    /// figment): the bundled config gets through to validation and passes.
    #[test]
    fn the_bundled_config_gets_through_the_harness() {
        let text = include_str!("../config/loadtide.toml");
        let raw = raw_config(text).expect("TOML of a config's shape");
        let c = crate::config::validate(&raw, "loadtide.toml", None).expect("valid");
        assert!(!c.profiles.is_empty());
        exercise_config(&c);
    }

    #[test]
    fn defusing_drops_file_keys_and_host_names_only() {
        let raw = raw_config(
            "[server]\nlisten = \"example.invalid:9\"\n[demo_target]\nlisten = \":8080\"\n",
        )
        .expect("a config");
        assert_eq!(raw.server.listen, None);
        assert_eq!(
            raw.demo_target.and_then(|d| d.listen).as_deref(),
            Some(":8080")
        );
    }
}
