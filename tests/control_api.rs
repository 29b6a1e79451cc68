//! The daemon's control API end to end: a `loadtide serve` with `--web.enable-control-api`
//! sends load to a target started here; the test pauses and resumes a profile, scales its
//! rate, sees the target's arrivals, the metrics and the audit log follow, and a reload put
//! everything back to the config.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::scrape::Scrape;
use common::{Behavior, TestServer};
use serde_json::Value;

fn serve(target: &TestServer, flags: &[&str]) -> Daemon {
    Daemon::start(
        &format!(
            "[targets.api]\nurl = \"{}\"\n[[targets.api.endpoints]]\nname = \"get\"\n\
             [profiles.steady]\ntarget = \"api\"\nrate = 40\n\
             [profiles.other]\ntarget = \"api\"\nrate = 1\n",
            target.url()
        ),
        flags,
    )
}

fn call(d: &Daemon, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    d.call(method, path, body)
}

fn json(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = call(d, method, path, body).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

/// Requests the target got in `window`, after `settle` for a change to take effect.
fn arrivals(target: &TestServer, settle: Duration, window: Duration) -> u64 {
    std::thread::sleep(settle);
    let before = target.requests();
    std::thread::sleep(window);
    target.requests() - before
}

fn gauge(d: &Daemon, name: &str) -> f64 {
    let text = call(d, "GET", "/metrics", "").unwrap().1;
    Scrape::parse(&text).value(name, &[("profile", "steady")])
}

#[test]
fn profiles_pause_resume_and_scale_until_a_reload_undoes_it() {
    let target = TestServer::with(Behavior::Ok);
    let d = serve(
        &target,
        &["--web.enable-control-api", "--web.enable-lifecycle"],
    );
    let (status, list) = json(&d, "GET", "/api/v1/profiles", "");
    assert_eq!(status, 200, "{list:#}");
    let names: Vec<&str> = list["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other", "steady"]);
    let steady = |d: &Daemon| json(d, "GET", "/api/v1/profiles/steady", "").1;
    let s = steady(&d);
    assert_eq!(
        (s["state"].as_str(), s["rate_multiplier"].as_f64()),
        (Some("active"), Some(1.0)),
        "{s:#}"
    );
    assert_eq!(s["intended_rps"], 40.0, "{s:#}");

    // The load before and at twice the rate (41/s with `other`'s 1/s).
    let base = arrivals(&target, Duration::from_millis(500), Duration::from_secs(2));
    let (status, s) = json(&d, "PUT", "/api/v1/profiles/steady/rate_multiplier", "2");
    assert_eq!(
        (status, s["rate_multiplier"].as_f64()),
        (200, Some(2.0)),
        "{s:#}"
    );
    let doubled = arrivals(&target, Duration::from_millis(1500), Duration::from_secs(2));
    let ratio = doubled as f64 / base as f64;
    assert!((1.6..2.4).contains(&ratio), "{base} then {doubled} in 2 s");
    assert_eq!(gauge(&d, "loadtide_profile_rate_multiplier"), 2.0);
    assert_eq!(steady(&d)["intended_rps"], 80.0);

    // Paused: only `other` (1/s) reaches the target.
    let (status, s) = json(&d, "POST", "/api/v1/profiles/steady/pause", "");
    assert_eq!(
        (status, s["state"].as_str(), s["paused"].as_bool()),
        (200, Some("paused"), Some(true)),
        "{s:#}"
    );
    let paused = arrivals(&target, Duration::from_millis(500), Duration::from_secs(2));
    assert!(paused <= 4, "{paused} arrivals in 2 s while paused");
    assert_eq!(gauge(&d, "loadtide_profile_paused"), 1.0);
    let (status, s) = json(&d, "POST", "/api/v1/profiles/steady/resume", "");
    assert_eq!(
        (status, s["state"].as_str()),
        (200, Some("active")),
        "{s:#}"
    );
    let resumed = arrivals(&target, Duration::from_millis(1500), Duration::from_secs(2));
    assert!(
        resumed as f64 > 1.6 * base as f64,
        "{resumed} after resuming at ×2, base {base}"
    );

    // Refused with a reason, changing nothing.
    for (method, path, body, code, says) in [
        (
            "PUT",
            "/api/v1/profiles/steady/rate_multiplier",
            "11",
            400,
            "between 0 and 10",
        ),
        (
            "PUT",
            "/api/v1/profiles/steady/rate_multiplier",
            "fast",
            400,
            "must be a number",
        ),
        (
            "PUT",
            "/api/v1/profiles/nope/rate_multiplier",
            "1",
            404,
            "no running profile \"nope\"",
        ),
        (
            "POST",
            "/api/v1/profiles/nope/pause",
            "",
            404,
            "no running profile",
        ),
        (
            "DELETE",
            "/api/v1/profiles/steady/pause",
            "",
            405,
            "not allowed",
        ),
    ] {
        let (status, body) = json(&d, method, path, body);
        assert_eq!(status, code, "{method} {path}: {body:#}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{method} {path}: {body:#}"
        );
    }
    assert_eq!(steady(&d)["rate_multiplier"], 2.0);

    // A reload puts the config back in force.
    json(&d, "POST", "/api/v1/profiles/steady/pause", "");
    assert_eq!(call(&d, "POST", "/-/reload", "").unwrap().0, 200);
    let s = steady(&d);
    assert_eq!(
        (s["paused"].as_bool(), s["rate_multiplier"].as_f64()),
        (Some(false), Some(1.0)),
        "{s:#}"
    );
    let log = std::fs::read_to_string(&d.log).unwrap();
    for line in [
        "control API: rate multiplier changed",
        "control API: paused profile",
        "control API: resumed profile",
        "reload: the profile's API changes are undone",
    ] {
        assert!(log.contains(line), "{line:?} not in the log:\n{log}");
    }
    assert!(log.contains("loadtide::audit"), "{log}");
}

#[test]
fn the_control_api_is_off_unless_enabled() {
    let target = TestServer::with(Behavior::Ok);
    let d = serve(&target, &[]);
    let (status, body) = call(&d, "GET", "/api/v1/profiles", "").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("--web.enable-control-api"), "{body}");
    let (status, _) = call(&d, "POST", "/api/v1/profiles/steady/pause", "").unwrap();
    assert_eq!(status, 404);
    assert_eq!(gauge(&d, "loadtide_profile_paused"), 0.0);
    assert_eq!(gauge(&d, "loadtide_profile_rate_multiplier"), 1.0);
}
