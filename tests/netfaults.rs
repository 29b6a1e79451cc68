//! Faults on a real network path: each test makes a network namespace of its own joined to
//! this one by a veth pair (tests/common/netns.rs), starts a scripted server inside it, runs
//! `loadtide run` from outside against the namespace's address, and breaks the link under
//! the load — a blackhole route, the link going down and coming back, the target going away,
//! a rate-limited link, and netem delay, loss and reordering. Each asserts how the failures
//! are classified, that the arrival rate holds, that every request is accounted for
//! (responses + errors = requests) and that the run ends with a summary.
//!
//! Where this machine cannot run a case (not root, no netns, or a kernel without `sch_netem`)
//! the test prints `SKIPPED: <reason>` and writes it to `target/tmp/netfaults/<test>.skipped`,
//! which scripts/test.sh repeats in its summary, so a skip is never mistaken for a pass.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::cli::{f, loadtide, read_json};
use common::netns::Netns;
use common::{Behavior, Script, TestServer};
use serde_json::Value;

const PORT: u16 = 8080;

/// A namespace for `test`, or `None` after recording why there is none.
fn netns_or_skip(test: &str) -> Option<Netns> {
    let marker = skip_marker(test);
    let _ = std::fs::remove_file(&marker);
    match Netns::create() {
        Ok(ns) => Some(ns),
        Err(reason) => {
            skip(test, &format!("no network namespace: {reason}"));
            None
        }
    }
}

fn skip_marker(test: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("netfaults")
        .join(format!("{test}.skipped"))
}

fn skip(test: &str, reason: &str) {
    let marker = skip_marker(test);
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, format!("{test}: {reason}\n")).unwrap();
    eprintln!("SKIPPED: {test}: {reason}");
}

/// An open-model run of `rate` req/s for `secs` of `request` ("METHOD /path") against the
/// server in `ns`, with the given request timeout, started in the background; its summary is written to `dir`.
fn start_run(dir: &Path, ns: &Netns, request: &str, rate: u32, secs: u32, timeout: &str) -> Child {
    let (method, path) = request.split_once(' ').unwrap();
    let config = dir.join("loadtide.toml");
    let _ = std::fs::remove_file(dir.join("summary.json"));
    std::fs::write(
        &config,
        format!(
            r#"
[safety]
allowed_hosts = ["10.213.0.0/16"]

[targets.inside]
url = "http://{ip}:{PORT}"
timeout = "{timeout}"
max_connections = 64
[[targets.inside.endpoints]]
name = "page"
method = "{method}"
path = "{path}"

[profiles.load]
target = "inside"
rate = {rate}
duration = "{secs}s"
"#,
            ip = ns.ns_ip
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("loadtide"));
    cmd.args(["run", "--config"])
        .arg(&config)
        .args(["--profile", "load", "--json"])
        .arg(dir.join("summary.json"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.spawn().expect("loadtide run starts")
}

/// Waits (bounded) for the run to end; its summary.
fn finish(dir: &Path, mut child: Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            let s = dir.join("summary.json");
            assert!(s.exists(), "no summary ({status}):\n{err}");
            return read_json(&s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("loadtide run did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Blocks until the server has answered `n` requests (bounded): the fault comes under load,
/// whatever the machine's speed.
fn wait_for(server: &TestServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.requests() < n {
        assert!(
            Instant::now() < deadline,
            "only {} requests arrived",
            server.requests()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn count(s: &Value, table: &str, key: &str) -> u64 {
    s[table][key].as_u64().unwrap_or(0)
}

/// Every request is a response or an error (nothing lost), errors only of the `allowed`
/// kinds, and the open model kept its rate: `requests` within 3% of rate × duration.
fn assert_accounted(s: &Value, rate: u32, secs: u32, allowed: &[&str]) {
    let requests = s["requests"].as_u64().unwrap();
    let responses: u64 = s["status_codes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let errors = s["errors"].as_u64().unwrap();
    let by_kind: u64 = s["error_kinds"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(kind, v)| {
            assert!(
                allowed.contains(&kind.as_str()),
                "unexpected kind {kind}: {s:#}"
            );
            v.as_u64().unwrap()
        })
        .sum();
    assert_eq!(by_kind, errors, "{s:#}");
    // A response that fails a check is both; here no endpoint checks bodies.
    assert_eq!(responses + errors, requests, "{s:#}");
    let intended = u64::from(rate * secs);
    let arrived = requests + s["dropped"].as_u64().unwrap();
    assert!(
        arrived.abs_diff(intended) * 100 <= intended * 3,
        "{arrived} arrivals for an intended {intended}: {s:#}"
    );
}

fn addr(ns: &Netns) -> SocketAddr {
    SocketAddr::from((ns.ns_ip, PORT))
}

#[test]
fn a_blackholed_target_times_out_and_the_rate_holds() {
    let Some(ns) = netns_or_skip("a_blackholed_target_times_out_and_the_rate_holds") else {
        return;
    };
    let server = Script::new(Behavior::Ok).start_in(&ns, addr(&ns));
    let dir = tempfile::tempdir().unwrap();
    let run = start_run(dir.path(), &ns, "GET /", 200, 4, "250ms");
    wait_for(&server, 100);
    // Replies to loadtide's side now go nowhere: nothing is refused, nothing comes back.
    ns.ip(&["route", "add", "blackhole", &format!("{}/32", ns.host_ip)])
        .unwrap();
    let s = finish(dir.path(), run);
    assert_accounted(&s, 200, 4, &["timeout"]);
    assert!(count(&s, "status_codes", "200") >= 100, "{s:#}");
    assert!(count(&s, "error_kinds", "timeout") >= 300, "{s:#}");
    // A timed-out request is measured to its timeout, not dropped from the histogram.
    assert!(f(&s["latency"]["max"]) >= 0.25, "{s:#}");
}

#[test]
fn a_link_that_goes_down_and_comes_back_is_ridden_out() {
    let Some(ns) = netns_or_skip("a_link_that_goes_down_and_comes_back_is_ridden_out") else {
        return;
    };
    let server = Script::new(Behavior::Ok).start_in(&ns, addr(&ns));
    let dir = tempfile::tempdir().unwrap();
    let run = start_run(dir.path(), &ns, "GET /", 200, 5, "200ms");
    wait_for(&server, 100);
    ns.ip(&["link", "set", &ns.ns_if, "down"]).unwrap();
    let down_at = server.requests();
    std::thread::sleep(Duration::from_secs(1));
    ns.ip(&["link", "set", &ns.ns_if, "up"]).unwrap();
    let s = finish(dir.path(), run);
    // Down, requests time out or cannot connect; up again, traffic arrives again.
    assert_accounted(&s, 200, 5, &["timeout", "connect"]);
    assert!(s["errors"].as_u64().unwrap() >= 50, "{s:#}");
    assert!(server.requests() >= down_at + 200, "no recovery: {s:#}");
}

#[test]
fn a_target_that_goes_away_is_counted_as_resets_and_refused_connects() {
    let test = "a_target_that_goes_away_is_counted_as_resets_and_refused_connects";
    let Some(ns) = netns_or_skip(test) else {
        return;
    };
    // Slow answers, so requests are in flight on open connections when the server goes.
    let server = Script::new(Behavior::Delay(Duration::from_millis(100))).start_in(&ns, addr(&ns));
    let dir = tempfile::tempdir().unwrap();
    // POST: not idempotent, so a request whose connection is lost is not sent again.
    let run = start_run(dir.path(), &ns, "POST /", 200, 3, "1s");
    wait_for(&server, 100);
    // Dropping the server closes its listener and every connection, as the kernel does for a
    // killed process: in-flight requests lose their connection, new ones are refused (RST).
    drop(server);
    let s = finish(dir.path(), run);
    assert_accounted(&s, 200, 3, &["reset", "connect"]);
    assert!(count(&s, "error_kinds", "reset") >= 1, "{s:#}");
    assert!(count(&s, "error_kinds", "connect") >= 200, "{s:#}");
}

#[test]
fn a_rate_limited_link_shows_in_latency() {
    let Some(ns) = netns_or_skip("a_rate_limited_link_shows_in_latency") else {
        return;
    };
    // 80 KB answers through a 4 Mbit/s link (the server's side, egress): 160 ms each, 140 ms
    // once the 10 KB burst is spent. Closed model, one user, so answers do not share the link.
    let body = "x".repeat(80_000);
    let _server = Script::new(Behavior::Body(body)).start_in(&ns, addr(&ns));
    let dir = tempfile::tempdir().unwrap();
    let closed = |dir: &Path| {
        let config = dir.join("loadtide.toml");
        std::fs::write(
            &config,
            format!(
                "[safety]\nallowed_hosts = [\"10.213.0.0/16\"]\n[targets.inside]\nurl = \
                 \"http://{}:{PORT}\"\ntimeout = \"5s\"\n[[targets.inside.endpoints]]\nname = \
                 \"page\"\npath = \"/\"\n[profiles.load]\ntarget = \"inside\"\nusers = 1\n\
                 requests = 15\n",
                ns.ns_ip
            ),
        )
        .unwrap();
        let json = dir.join("summary.json");
        let out = common::cli::output(
            loadtide(Duration::from_secs(60))
                .args(["run", "--config"])
                .arg(&config)
                .args(["--profile", "load", "--json"])
                .arg(&json),
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        read_json(&json)
    };
    let fast = closed(dir.path());
    ns.tc(&[
        "qdisc", "add", "dev", &ns.ns_if, "root", "tbf", "rate", "4mbit", "burst", "10kb",
        "latency", "500ms",
    ])
    .unwrap();
    let slow = closed(dir.path());
    let (p50_fast, p50_slow) = (f(&fast["latency"]["p50"]), f(&slow["latency"]["p50"]));
    assert_eq!(slow["errors"], 0, "{slow:#}");
    assert!(p50_fast < 0.05, "unshaped p50 {p50_fast}: {fast:#}");
    assert!(
        (0.12..0.5).contains(&p50_slow),
        "shaped p50 {p50_slow} (unshaped {p50_fast}): {slow:#}"
    );
}

#[test]
fn netem_delay_loss_and_reordering_are_measured_and_survived() {
    let test = "netem_delay_loss_and_reordering_are_measured_and_survived";
    let Some(ns) = netns_or_skip(test) else {
        return;
    };
    let delay = [
        "qdisc", "add", "dev", &ns.ns_if, "root", "netem", "delay", "40ms",
    ];
    if let Err(e) = ns.tc(&delay) {
        skip(test, &format!("tc netem is not available here ({e})"));
        return;
    }
    let server = Script::new(Behavior::Ok).start_in(&ns, addr(&ns));
    let dir = tempfile::tempdir().unwrap();
    // Delay: one way (the server's replies), so every request takes at least 40 ms.
    let s = finish(
        dir.path(),
        start_run(dir.path(), &ns, "GET /", 100, 3, "2s"),
    );
    assert_accounted(&s, 100, 3, &[]);
    let p50 = f(&s["latency"]["p50"]);
    assert!(
        (0.04..0.09).contains(&p50),
        "p50 {p50} under 40 ms delay: {s:#}"
    );

    // Loss and reordering: TCP retransmits, so every request still succeeds, some later.
    for shape in [
        &["loss", "5%"][..],
        &["delay", "10ms", "reorder", "25%", "50%"][..],
    ] {
        let mut change = vec!["qdisc", "change", "dev", &ns.ns_if, "root", "netem"];
        change.extend_from_slice(shape);
        ns.tc(&change).unwrap();
        let before = server.requests();
        let s = finish(
            dir.path(),
            start_run(dir.path(), &ns, "GET /", 100, 3, "3s"),
        );
        assert_accounted(&s, 100, 3, &[]);
        assert!(server.requests() - before >= 290, "{shape:?}: {s:#}");
    }
}
