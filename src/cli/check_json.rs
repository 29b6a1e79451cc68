//! `loadtide check --output json`: the same verdict as the text form, for CI and editors. A
//! good config gives its profiles (load, endpoint mix, thresholds, timetable); a bad one its
//! errors, each with file, key and message, and exit code 2. Nothing here holds a secret:
//! URLs are redacted and bodies, commands and statements are left out, as in the text form.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::config::{Config, ConfigErrors, Load};
use crate::schedule::calendar::Activity;

/// Next activations listed per profile.
const NEXT: usize = 3;

pub(super) fn config(
    path: &Path,
    c: &Config,
    overlay: Option<(std::path::PathBuf, Vec<String>)>,
    at: DateTime<Utc>,
) -> Value {
    json!({
        "config": path.display().to_string(),
        "ok": true,
        "errors": [],
        "listen": c.server.listen.to_string(),
        "demo_target": c.demo_target.map(|d| d.to_string()),
        "labels": c.labels.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "safety": {
            "allowed_hosts": c.safety.allowed_hosts.is_some(),
            "max_rate": c.safety.max_rate,
            "max_in_flight": c.safety.max_in_flight,
        },
        "profiles": c.profiles.iter().map(|p| profile(p, at)).collect::<Vec<_>>(),
        "overlay": overlay.map(|(file, keys)| json!({
            "file": file.display().to_string(),
            "keys": keys,
        })),
    })
}

fn profile(p: &crate::config::Profile, at: DateTime<Utc>) -> Value {
    let t = &p.target;
    let model = match (&p.load, &p.capacity) {
        (_, Some(_)) => "capacity",
        (Load::Open { .. }, None) => "open",
        (Load::Closed { .. }, None) => "closed",
        (Load::WebSocket { .. }, None) => "websocket",
    };
    let (load, length) = super::check::load_and_length(p);
    let total: u32 = p.endpoints.iter().map(|&i| t.endpoints[i].weight).sum();
    let endpoints: Vec<Value> = p
        .endpoints
        .iter()
        .map(|&i| {
            let e = &t.endpoints[i];
            json!({
                "name": e.name,
                "method": e.method.as_str(),
                "share": f64::from(e.weight) / f64::from(total.max(1)),
            })
        })
        .collect();
    let stamp = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    let active = matches!(p.schedule.activity_at(at), Activity::Active { .. });
    json!({
        "name": p.name,
        "target": t.name,
        "url": crate::redact::url(&format!("{}://{}", t.scheme.as_str(), t.authority())),
        "protocol": t.scheme.protocol(),
        "model": model,
        "load": load,
        "length": length,
        "scenario": p.scenario.as_ref().map(|s| s.name.clone()),
        "endpoints": endpoints,
        "thresholds": p.thresholds.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "active_now": active,
        "planned_now": crate::timetable::planned_at(p, at),
        "next_starts": p.schedule.next_starts(at, NEXT).into_iter().map(stamp).collect::<Vec<_>>(),
    })
}

pub(super) fn errors(path: &Path, e: &ConfigErrors) -> Value {
    json!({
        "config": path.display().to_string(),
        "ok": false,
        "errors": e.0.iter().map(|e| json!({
            "file": e.file,
            "key": e.key,
            "message": e.message,
        })).collect::<Vec<_>>(),
    })
}
