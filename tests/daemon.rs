//! Integration tests of the daemon (`loadtide serve`): the real binary, spawned with a config
//! that points at a small HTTP target this file starts on 127.0.0.1, scraped over HTTP. They
//! assert metric values (not only names), promtool's lint, SIGHUP and `POST /-/reload`
//! semantics, a bounded drain on SIGTERM and resilience to an absent target. Every spawned
//! daemon is killed by a Drop guard, so none outlives a failing test; no traffic leaves
//! 127.0.0.1.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::scrape::Scrape;
use common::{Behavior, Script, TestServer};

// ---------------------------------------------------------------------------------------
// The target: 200 on /ok, 500 on /fail, 200 after 20 ms on /slow, never an answer on /hang.
// ---------------------------------------------------------------------------------------

/// The scripted target every daemon test loads (`common::TestServer`).
struct Target;

impl Target {
    fn start() -> TestServer {
        Script::new(Behavior::Status(404))
            .route("/ok", Behavior::Ok)
            .route("/fail", Behavior::Status(500))
            .route("/slow", Behavior::Delay(Duration::from_millis(20)))
            .route("/hang", Behavior::Hang)
            .start()
    }
}

// ---------------------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------------------

/// Target `local` at `addr` with endpoints ok, fail, slow and hang.
fn target_toml(addr: SocketAddr, timeout: &str) -> String {
    format!(
        r#"
[targets.local]
url = "http://{addr}"
timeout = "{timeout}"

[[targets.local.endpoints]]
name = "ok"
path = "/ok"

[[targets.local.endpoints]]
name = "fail"
path = "/fail"

[[targets.local.endpoints]]
name = "slow"
path = "/slow"

[[targets.local.endpoints]]
name = "hang"
path = "/hang"
"#
    )
}

/// An open profile (`rate` arrivals/s) on `endpoints` of target `local`.
fn open_profile(name: &str, endpoints: &[&str], rate: &str) -> String {
    format!("\n[profiles.{name}]\ntarget = \"local\"\nendpoints = {endpoints:?}\nrate = {rate}\n")
}

/// A closed profile (`users` virtual users) on `endpoints` of target `local`.
fn closed_profile(name: &str, endpoints: &[&str], users: u32) -> String {
    format!("\n[profiles.{name}]\ntarget = \"local\"\nendpoints = {endpoints:?}\nusers = {users}\nspawn_rate = 100\n")
}

/// Both load models against `addr`: `open` at 50/s on ok+fail, `closed` with 2 users on slow.
fn both_models(addr: SocketAddr) -> String {
    format!(
        "[server]\ndrain_timeout = \"10s\"\n{}{}{}",
        target_toml(addr, "5s"),
        open_profile("open", &["ok", "fail"], "50"),
        closed_profile("closed", &["slow"], 2)
    )
}

// ---------------------------------------------------------------------------------------
// The daemon under test
// ---------------------------------------------------------------------------------------

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Daemon {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    spawned: Instant,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `loadtide serve` on a free loopback port with `config` and waits until ready.
    fn start(config: &str, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(config, extra, &[])
    }

    fn start_with_env(config: &str, extra: &[&str], env: &[(&str, &std::path::Path)]) -> Daemon {
        let d = Daemon::spawn(config, extra, env);
        d.wait_ready();
        d
    }

    /// Starts `loadtide serve` like `start_with_env`, without waiting for it.
    fn spawn(config: &str, extra: &[&str], env: &[(&str, &std::path::Path)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("loadtide.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.path().join("daemon.log");
        let out = File::create(&log).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
        // The test's own environment must not change the daemon's config.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LOADTIDE_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--log-level", "info", "--log-format", "human", "serve"])
            .arg("--config")
            .arg(&config_path)
            .arg("--web.listen-address")
            .arg(addr.to_string())
            .args(extra)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        Daemon {
            child: cmd.spawn().unwrap(),
            addr,
            config: config_path,
            log,
            spawned: Instant::now(),
            _dir: dir,
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((200, _)) = try_http(self.addr, "GET", "/-/ready") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready within 15 s; log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path)
    }

    fn post(&self, path: &str) -> (u16, String) {
        http(self.addr, "POST", path)
    }

    fn scrape(&self) -> Scrape {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Scrape::parse(&body)
    }

    fn write_config(&self, config: &str) {
        std::fs::write(&self.config, config).unwrap();
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The exit status, if the process exits within `within`.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-request HTTP/1.1 client (`Connection: close`, read to the end).
fn try_http(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let (status, _head, body) = parse_response(&raw)?;
    Ok((status, body))
}

/// Status, head and body of a raw HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> std::io::Result<(u16, String, String)> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, text.to_string());
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, head.to_string(), body.to_string()))
}

fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    try_http(addr, method, path).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `within`.
fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

/// Two counters that must agree, read from one scrape. Families are separate atomics
/// collected one after another, so a request finishing mid-scrape can put them one apart:
/// retry a few scrapes for a consistent view before failing.
fn assert_consistent(d: &Daemon, what: &str, f: impl Fn(&Scrape) -> (f64, f64)) {
    let mut last = (0.0, 0.0);
    for _ in 0..10 {
        last = f(&d.scrape());
        if last.0 == last.1 {
            return;
        }
        sleep(Duration::from_millis(10));
    }
    panic!("{what}: {} != {} in 10 scrapes", last.0, last.1);
}

/// Runs `promtool ARGS` with `stdin`; None (with a note) when promtool is not installed,
/// which fails the test when `CI` is set.
fn promtool(args: &[&std::ffi::OsStr], stdin: &str) -> Option<std::process::Output> {
    let child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is required when CI is set (apt-get install prometheus)"
            );
            eprintln!("note: promtool not installed; skipping `promtool {args:?}`");
            return None;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

/// `promtool check metrics` on `text` (skipped when promtool is missing, unless `CI` is set).
fn promtool_check(text: &str) {
    let Some(out) = promtool(&["check".as_ref(), "metrics".as_ref()], text) else {
        return;
    };
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- scrape ---\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const KINDS: [&str; 9] = [
    "timeout", "connect", "dns", "tls", "reset", "status", "check", "protocol", "other",
];

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[test]
fn scrape_has_every_design_metric_with_the_right_values() {
    let target = Target::start();
    // A brake that never trips (the slow endpoint never fails), so its families are listed.
    let config = format!(
        "{}brake = {{ max_error_ratio = 0.99 }}\n",
        both_models(target.addr())
    );
    let d = Daemon::start(&config, &[]);
    let ready = Instant::now();
    // Profiles start before the daemon reports ready: at least `ready` to the start of the
    // scrape and at most `spawned` to its end lie between the first arrival and the scrape.
    sleep(Duration::from_secs(2).saturating_sub(ready.elapsed()));
    let before = Instant::now();
    let s = d.scrape();
    let after = Instant::now();

    assert_types_help_and_labels(&s, target.addr());
    check_golden_names(&s);

    // The open profile ran at ~50/s for the time elapsed; the closed one as fast as 2 users
    // and a 20 ms target allow.
    let open = s.requests("open");
    let (lo, hi) = (
        0.4 * 50.0 * (before - ready).as_secs_f64(),
        1.2 * 50.0 * (after - d.spawned).as_secs_f64() + 1.0,
    );
    assert!(
        (lo..=hi).contains(&open),
        "open profile: {open} requests, expected {lo:.0}..{hi:.0}"
    );
    let closed = s.requests("closed");
    assert!(closed > 10.0, "closed profile: {closed} requests");

    assert_latency_histogram(&s);
    assert_responses_and_errors(&d, &s);
    assert_engine_gauges(&s, open);
    assert_config_build_and_process(&s);

    // Bytes: response bodies as the target sent them ("ok"); request bytes grow below.
    let closed_pt = [("profile", "closed"), ("target", "local")];
    assert_consistent(&d, "closed bytes received vs 2 × requests", |s| {
        (
            s.value("loadtide_bytes_received_total", &closed_pt),
            2.0 * s.requests("closed"),
        )
    });

    // Counters grow between two scrapes.
    sleep(Duration::from_millis(300));
    let s2 = d.scrape();
    assert!(s2.requests("open") > open);
    assert!(s2.requests("closed") > closed);
    let sent = |s: &Scrape| s.value("loadtide_bytes_sent_total", &[("profile", "open")]);
    assert!(sent(&s2) > sent(&s) && sent(&s) > 0.0);
    let cpu = |s: &Scrape| s.value("process_cpu_seconds_total", &[]);
    assert!(cpu(&s2) >= cpu(&s));
}

/// Every DESIGN family with its type, help text and label names; label values never hold
/// the target's URL.
fn assert_types_help_and_labels(s: &Scrape, target: SocketAddr) {
    const ENDPOINT: &str = "endpoint,method,profile,protocol,target";
    let families = [
        ("loadtide_request_duration_seconds", "histogram", ENDPOINT),
        (
            "loadtide_responses_total",
            "counter",
            "code,endpoint,method,profile,protocol,target",
        ),
        (
            "loadtide_request_errors_total",
            "counter",
            "endpoint,kind,method,profile,protocol,target",
        ),
        ("loadtide_requests_in_flight", "gauge", "profile,target"),
        ("loadtide_intended_requests_per_second", "gauge", "profile"),
        ("loadtide_virtual_users", "gauge", "profile"),
        (
            "loadtide_dropped_requests_total",
            "counter",
            "profile,reason",
        ),
        ("loadtide_scheduler_lag_seconds", "histogram", "profile"),
        ("loadtide_profile_active", "gauge", "profile"),
        ("loadtide_bytes_sent_total", "counter", "profile,target"),
        ("loadtide_bytes_received_total", "counter", "profile,target"),
        ("loadtide_config_reloads_total", "counter", "result"),
        ("loadtide_config_last_reload_successful", "gauge", ""),
        ("loadtide_build_info", "gauge", "revision,version"),
        ("process_cpu_seconds_total", "counter", ""),
        ("process_resident_memory_bytes", "gauge", ""),
        ("process_open_fds", "gauge", ""),
        ("process_max_fds", "gauge", ""),
        ("process_start_time_seconds", "gauge", ""),
    ];
    for (family, ty, labels) in families {
        assert_eq!(
            s.types.get(family).map(String::as_str),
            Some(ty),
            "type of {family}"
        );
        let names: Vec<_> = s.label_names(family).into_iter().collect();
        assert_eq!(names.join(","), labels, "label names of {family}");
    }
    for family in s.types.keys() {
        assert!(s.helps.contains(family), "{family} has no HELP");
    }
    assert!(
        !s.text.contains("loadtide_process_"),
        "process metrics must stay unprefixed"
    );
    let url_bits = [
        "://".to_string(),
        target.ip().to_string(),
        target.port().to_string(),
    ];
    for sample in &s.samples {
        for (k, v) in &sample.labels {
            assert!(
                !v.starts_with('/') && !url_bits.iter().any(|b| v.contains(b.as_str())),
                "label {k}={v:?} of {} looks like a URL",
                sample.name
            );
        }
    }
}

/// Cumulative buckets ending in `+Inf` = `_count`, and a plausible mean on loopback.
fn assert_latency_histogram(s: &Scrape) {
    let ok = [
        ("profile", "open"),
        ("target", "local"),
        ("endpoint", "ok"),
        ("method", "GET"),
    ];
    let count = s.value("loadtide_request_duration_seconds_count", &ok);
    let buckets: Vec<(f64, f64)> = s
        .series("loadtide_request_duration_seconds_bucket", &ok)
        .map(|b| (b.labels["le"].parse().unwrap(), b.value))
        .collect();
    assert!(buckets.len() > 5, "too few buckets: {buckets:?}");
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{buckets:?}"
    );
    assert_eq!(*buckets.last().unwrap(), (f64::INFINITY, count));
    let sum = s.value("loadtide_request_duration_seconds_sum", &ok);
    assert!(count > 0.0 && sum > 0.0, "count {count}, sum {sum}");
    assert!(sum / count < 0.5, "mean latency {} s", sum / count);
}

fn errors(s: &Scrape, profile: &str, endpoint: &str, kind: &str) -> f64 {
    s.value(
        "loadtide_request_errors_total",
        &[("profile", profile), ("endpoint", endpoint), ("kind", kind)],
    )
}

fn responses(s: &Scrape, profile: &str, endpoint: &str, code: &str) -> f64 {
    s.value(
        "loadtide_responses_total",
        &[("profile", profile), ("endpoint", endpoint), ("code", code)],
    )
}

fn endpoint_requests(s: &Scrape, profile: &str, endpoint: &str) -> f64 {
    s.value(
        "loadtide_request_duration_seconds_count",
        &[("profile", profile), ("endpoint", endpoint)],
    )
}

/// /ok answers 200 without errors; /fail answers 500, each counted as a `status` error.
fn assert_responses_and_errors(d: &Daemon, s: &Scrape) {
    let codes: BTreeSet<_> = s
        .series("loadtide_responses_total", &[("profile", "open")])
        .map(|r| r.labels["code"].as_str())
        .collect();
    assert_eq!(codes, ["200", "500"].into());
    for sample in s.series("loadtide_request_errors_total", &[]) {
        let kind = sample.labels["kind"].as_str();
        assert!(KINDS.contains(&kind), "{sample:?}");
    }
    for kind in KINDS {
        assert_eq!(errors(s, "open", "ok", kind), 0.0, "open/ok {kind} errors");
        if kind != "status" {
            assert_eq!(errors(s, "open", "fail", kind), 0.0, "open/fail {kind}");
        }
    }
    assert!(errors(s, "open", "fail", "status") > 0.0);
    assert_consistent(d, "status errors vs 500 responses", |s| {
        (
            errors(s, "open", "fail", "status"),
            responses(s, "open", "fail", "500"),
        )
    });
    assert_consistent(d, "fail requests vs 500 responses", |s| {
        (
            endpoint_requests(s, "open", "fail"),
            responses(s, "open", "fail", "500"),
        )
    });
    assert_consistent(d, "ok requests vs 200 responses", |s| {
        (
            endpoint_requests(s, "open", "ok"),
            responses(s, "open", "ok", "200"),
        )
    });
}

/// In flight, intended rate, users, active, drops and scheduler lag, per model.
fn assert_engine_gauges(s: &Scrape, open_requests: f64) {
    let p = |name| [("profile", name)];
    let in_flight = s.value(
        "loadtide_requests_in_flight",
        &[("profile", "closed"), ("target", "local")],
    );
    assert!(
        (0.0..=2.0).contains(&in_flight),
        "closed in flight {in_flight}"
    );
    let in_flight = s.value("loadtide_requests_in_flight", &p("open"));
    assert!(
        (0.0..=10.0).contains(&in_flight),
        "open in flight {in_flight}"
    );
    let rps = "loadtide_intended_requests_per_second";
    assert_eq!(s.value(rps, &p("open")), 50.0);
    assert_eq!(s.value(rps, &p("closed")), 0.0);
    assert_eq!(s.value("loadtide_virtual_users", &p("closed")), 2.0);
    assert_eq!(s.value("loadtide_virtual_users", &p("open")), 0.0);
    for name in ["open", "closed"] {
        assert_eq!(s.value("loadtide_profile_active", &p(name)), 1.0);
        let dropped = [("profile", name), ("reason", "max_in_flight")];
        assert_eq!(s.value("loadtide_dropped_requests_total", &dropped), 0.0);
    }
    // One lag observation per open-model dispatch, made before the request is sent (so at
    // least one per completed request); none in the closed model.
    let lag = "loadtide_scheduler_lag_seconds";
    let lag_count = s.value(&format!("{lag}_count"), &p("open"));
    assert!(
        lag_count >= open_requests,
        "lag observations {lag_count} < requests {open_requests}"
    );
    let inf = [("profile", "open"), ("le", "+Inf")];
    assert_eq!(s.value(&format!("{lag}_bucket"), &inf), lag_count);
    assert_eq!(s.value(&format!("{lag}_count"), &p("closed")), 0.0);
}

/// No reload yet, build info = 1 with this crate's version, process metrics of this process.
fn assert_config_build_and_process(s: &Scrape) {
    let reloads = "loadtide_config_reloads_total";
    assert_eq!(s.value(reloads, &[("result", "success")]), 0.0);
    assert_eq!(s.value(reloads, &[("result", "failure")]), 0.0);
    assert_eq!(s.value("loadtide_config_last_reload_successful", &[]), 1.0);
    let info: Vec<_> = s.series("loadtide_build_info", &[]).collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].value, 1.0);
    assert_eq!(info[0].labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!info[0].labels["revision"].is_empty());

    assert!(s.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(s.value("process_open_fds", &[]) >= 3.0);
    assert!(s.value("process_max_fds", &[]) >= s.value("process_open_fds", &[]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = s.value("process_start_time_seconds", &[]);
    assert!(
        (now - 60.0..=now + 1.0).contains(&started),
        "start time {started}, now {now}"
    );
}

/// The metric families, their types and label names, against `tests/golden/metrics-names.txt`
/// (rewritten with `UPDATE_GOLDEN=1`): names are part of the contract.
fn check_golden_names(s: &Scrape) {
    let listing: String = s
        .types
        .iter()
        .map(|(family, ty)| {
            let labels: Vec<_> = s.label_names(family).into_iter().collect();
            format!("{family} {ty} {{{}}}\n", labels.join(","))
        })
        .collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/metrics-names.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &listing).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        listing, golden,
        "metric families changed; if intended, rerun with UPDATE_GOLDEN=1"
    );
}

#[test]
fn scrape_passes_promtool_check_metrics() {
    let target = Target::start();
    let d = Daemon::start(&both_models(target.addr()), &[]);
    // Every family with at least one sample, including 500s and status errors.
    let s = eventually("traffic on every endpoint", Duration::from_secs(10), || {
        let s = d.scrape();
        let f = [("profile", "open"), ("endpoint", "fail"), ("code", "500")];
        (s.sum("loadtide_responses_total", &f) > 0.0
            && s.requests("open") > 0.0
            && s.requests("closed") > 0.0)
            .then_some(s)
    });
    promtool_check(&s.text);
}

/// The value of label `name` on every sample of the scrape, counted.
fn label_values(s: &Scrape, name: &str) -> BTreeMap<Option<String>, usize> {
    let mut out = BTreeMap::new();
    for sample in &s.samples {
        *out.entry(sample.labels.get(name).cloned()).or_default() += 1;
    }
    out
}

#[test]
fn static_labels_are_on_every_series_and_follow_a_reload() {
    let target = Target::start();
    let body = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        closed_profile("closed", &["ok"], 1)
    );
    let labelled =
        |location: &str| format!("[labels]\nlocation = \"{location}\"\nfleet = \"canary\"\n{body}");
    let d = Daemon::start(&labelled("eu-west"), &[]);
    let s = eventually("requests", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.requests("closed") > 0.0).then_some(s)
    });
    let n = s.samples.len();
    assert!(n > 50, "{n} samples");
    assert_eq!(
        label_values(&s, "location"),
        BTreeMap::from([(Some("eu-west".to_string()), n)]),
        "every series, loadtide's and the process collector's"
    );
    assert_eq!(
        label_values(&s, "fleet"),
        BTreeMap::from([(Some("canary".to_string()), n)])
    );
    promtool_check(&s.text);

    // A reload changes them; a bad one keeps the last good set.
    d.write_config(&labelled("us-east"));
    d.signal("HUP");
    // The labels change while the reload is applied and the counter moves once it is
    // done, so a scrape can fall between the two: wait for both.
    eventually(
        "the new label and the counted reload",
        Duration::from_secs(10),
        || {
            let s = d.scrape();
            (label_values(&s, "location").keys().collect::<Vec<_>>() == [&Some("us-east".into())]
                && s.value("loadtide_config_reloads_total", &[("result", "success")]) == 1.0)
                .then_some(())
        },
    );
    d.write_config(&format!("[labels]\nprofile = \"x\"\n{body}"));
    d.signal("HUP");
    eventually("the rejected reload", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.value("loadtide_config_reloads_total", &[("result", "failure")]) == 1.0).then_some(())
    });
    let s = d.scrape();
    assert_eq!(
        label_values(&s, "location").keys().collect::<Vec<_>>(),
        [&Some("us-east".to_string())]
    );
    assert!(
        d.log()
            .contains("`labels.profile`: label \"profile\" is already set by loadtide"),
        "{}",
        d.log()
    );
}

#[test]
fn request_bytes_match_what_the_target_received() {
    let target = Target::start();
    let config = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        closed_profile("closed", &["slow"], 1)
    );
    let d = Daemon::start(&config, &[]);
    eventually("some requests", Duration::from_secs(10), || {
        (d.scrape().requests("closed") >= 10.0).then_some(())
    });
    let wire = target.mean_request_size("/slow");
    let pt = [("profile", "closed"), ("target", "local")];
    assert_consistent(&d, "bytes sent vs requests × size on the wire", |s| {
        (
            s.value("loadtide_bytes_sent_total", &pt),
            s.requests("closed") * wire,
        )
    });
}

#[test]
fn sighup_keeps_unchanged_profiles_adds_new_ones_and_rejects_a_bad_config() {
    let target = Target::start();
    let head = format!(
        "[server]\ndrain_timeout = \"2s\"\n{}",
        target_toml(target.addr(), "5s")
    );
    let v1 = format!(
        "{head}{}{}",
        open_profile("keep", &["ok"], "50"),
        closed_profile("gone", &["slow"], 2)
    );
    let v2 = format!(
        "{head}{}{}",
        open_profile("keep", &["ok"], "50"),
        open_profile("fresh", &["ok"], "20")
    );
    let bad = format!(
        "{head}{}{}",
        open_profile("keep", &["ok"], "-1"),
        open_profile("fresh", &["ok"], "20")
    );
    let mut d = Daemon::start(&v1, &[]);
    let keep = [("profile", "keep")];
    eventually("traffic from keep", Duration::from_secs(10), || {
        (d.scrape().requests("keep") >= 20.0).then_some(())
    });
    let before = d.scrape().requests("keep");

    // A valid, changed config.
    d.write_config(&v2);
    d.signal("HUP");
    let reloads = "loadtide_config_reloads_total";
    eventually("a successful reload", Duration::from_secs(10), || {
        (d.scrape().value(reloads, &[("result", "success")]) == 1.0).then_some(())
    });
    let s = eventually(
        "fresh running, gone stopped",
        Duration::from_secs(10),
        || {
            let s = d.scrape();
            let gone = [("profile", "gone")];
            // A removed profile's last requests may still finish (that is its drain).
            (s.value("loadtide_profile_active", &[("profile", "fresh")]) == 1.0
                && s.requests("fresh") > 0.0
                && s.value("loadtide_profile_active", &gone) == 0.0
                && s.value("loadtide_requests_in_flight", &gone) == 0.0)
                .then_some(s)
        },
    );
    assert_eq!(s.value(reloads, &[("result", "failure")]), 0.0);
    assert_eq!(s.value("loadtide_config_last_reload_successful", &[]), 1.0);
    assert_eq!(s.value("loadtide_profile_active", &keep), 1.0);
    assert_eq!(
        s.value("loadtide_virtual_users", &[("profile", "gone")]),
        0.0
    );
    assert_eq!(
        s.value(
            "loadtide_intended_requests_per_second",
            &[("profile", "fresh")]
        ),
        20.0
    );
    // keep was neither reset nor restarted: its count carries on from where it was...
    let after = s.requests("keep");
    assert!(after >= before, "keep went from {before} to {after}");
    // ...and it was started exactly once.
    let log = d.log();
    assert_eq!(
        log.matches("starting profile: keep ").count(),
        1,
        "keep restarted on reload; log:\n{log}"
    );
    assert!(log.contains("profile removed"), "{log}");
    // gone sends nothing more.
    let gone = s.requests("gone");
    assert!(gone > 0.0);
    sleep(Duration::from_millis(300));
    let s = d.scrape();
    assert_eq!(s.requests("gone"), gone, "a removed profile kept sending");
    assert!(s.requests("keep") > after);

    // An invalid config: rejected, counted, the old profiles keep running.
    d.write_config(&bad);
    d.signal("HUP");
    let s = eventually("a failed reload", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.value(reloads, &[("result", "failure")]) == 1.0).then_some(s)
    });
    assert_eq!(s.value(reloads, &[("result", "success")]), 1.0);
    assert_eq!(s.value("loadtide_config_last_reload_successful", &[]), 0.0);
    assert_eq!(
        s.value("loadtide_intended_requests_per_second", &keep),
        50.0
    );
    let (keep1, fresh1) = (s.requests("keep"), s.requests("fresh"));
    sleep(Duration::from_millis(300));
    let s = d.scrape();
    assert!(
        s.requests("keep") > keep1,
        "keep stopped after a bad reload"
    );
    assert!(
        s.requests("fresh") > fresh1,
        "fresh stopped after a bad reload"
    );
    assert_eq!(s.value("loadtide_profile_active", &keep), 1.0);
    assert!(d.alive(), "daemon died on a bad config:\n{}", d.log());
    assert_eq!(d.get("/-/healthy").0, 200);
    assert_eq!(d.get("/-/ready").0, 200);
    let log = d.log();
    assert!(
        log.contains("profiles.keep.rate"),
        "the log names the bad key:\n{log}"
    );
}

#[test]
fn sighup_restarts_a_changed_profile_with_its_new_settings() {
    let target = Target::start();
    let head = target_toml(target.addr(), "5s");
    let config = |users: u32, rate: &str| {
        format!(
            "{head}{}{}",
            closed_profile("users", &["slow"], users),
            open_profile("arrivals", &["ok"], rate)
        )
    };
    let d = Daemon::start(&config(2, "20"), &[]);
    eventually("traffic", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.requests("users") > 0.0 && s.requests("arrivals") > 0.0).then_some(())
    });
    // The old and the new run race to their gauges; several reloads make a loss likely.
    for (i, (users, rate)) in [(3, "30"), (2, "20")].iter().cycle().take(8).enumerate() {
        d.write_config(&config(*users, rate));
        d.signal("HUP");
        eventually("a successful reload", Duration::from_secs(10), || {
            let s = d.scrape();
            let n = s.value("loadtide_config_reloads_total", &[("result", "success")]);
            (n == (i + 1) as f64).then_some(())
        });
        // Let the old runs wind down; then the gauges must show the new settings.
        sleep(Duration::from_millis(200));
        let s = d.scrape();
        let users = f64::from(*users);
        let p = |name| [("profile", name)];
        assert_eq!(
            s.value("loadtide_virtual_users", &p("users")),
            users,
            "reload {i}"
        );
        assert_eq!(
            s.value("loadtide_profile_active", &p("users")),
            1.0,
            "reload {i}"
        );
        assert_eq!(
            s.value("loadtide_profile_active", &p("arrivals")),
            1.0,
            "reload {i}"
        );
    }
}

#[test]
fn reload_endpoint_needs_the_lifecycle_flag() {
    let target = Target::start();
    let good = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        open_profile("p", &["ok"], "5")
    );
    let bad = good.replace("rate = 5", "rate = -1");
    assert_ne!(good, bad);

    let plain = Daemon::start(&good, &[]);
    let (status, body) = plain.post("/-/reload");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    let s = plain.scrape();
    assert_eq!(
        s.value("loadtide_config_reloads_total", &[("result", "success")]),
        0.0
    );

    let lifecycle = Daemon::start(&good, &["--web.enable-lifecycle"]);
    let (status, body) = lifecycle.post("/-/reload");
    assert_eq!(status, 200, "{body}");
    let s = lifecycle.scrape();
    assert_eq!(
        s.value("loadtide_config_reloads_total", &[("result", "success")]),
        1.0
    );
    lifecycle.write_config(&bad);
    let (status, body) = lifecycle.post("/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("profiles.p.rate"), "{body}");
    let s = lifecycle.scrape();
    assert_eq!(
        s.value("loadtide_config_reloads_total", &[("result", "failure")]),
        1.0
    );
    assert_eq!(s.value("loadtide_config_last_reload_successful", &[]), 0.0);
    assert_eq!(lifecycle.get("/-/healthy").0, 200);
}

#[test]
fn sigterm_exits_zero_after_draining() {
    let target = Target::start();
    let mut d = Daemon::start(&both_models(target.addr()), &[]);
    eventually("traffic", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.requests("open") > 0.0 && s.requests("closed") > 0.0).then_some(())
    });
    let sent = Instant::now();
    d.signal("TERM");
    // drain_timeout is 10 s; nothing hangs, so this should take well under a second.
    let status = d.wait_exit(Duration::from_secs(10));
    let log = d.log();
    let status = status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{log}"));
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?}",
        sent.elapsed()
    );
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn sigterm_with_a_hanging_target_is_bounded_by_the_drain_timeout() {
    let target = Target::start();
    let config = format!(
        "[server]\ndrain_timeout = \"1s\"\n{}{}{}",
        target_toml(target.addr(), "30s"),
        open_profile("open", &["hang"], "20"),
        closed_profile("closed", &["hang"], 2)
    );
    let mut d = Daemon::start(&config, &[]);
    eventually("requests hanging", Duration::from_secs(10), || {
        let s = d.scrape();
        let f = |p| s.value("loadtide_requests_in_flight", &[("profile", p)]);
        (f("open") >= 3.0 && f("closed") == 2.0).then_some(())
    });
    let sent = Instant::now();
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(8));
    let took = sent.elapsed();
    let log = d.log();
    let status = status.unwrap_or_else(|| panic!("still running 8 s after SIGTERM:\n{log}"));
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        took >= Duration::from_millis(900),
        "did not wait for the drain: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(log.contains("drain time ran out"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn an_absent_target_counts_connect_errors_and_the_daemon_keeps_serving() {
    let port = free_port(); // nothing listens there: connections are refused
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = format!(
        "{}{}{}",
        target_toml(addr, "2s"),
        open_profile("open", &["ok"], "50"),
        closed_profile("closed", &["ok"], 2)
    );
    let mut d = Daemon::start(&config, &[]);
    let connect = |s: &Scrape, p: &str| {
        s.value(
            "loadtide_request_errors_total",
            &[("profile", p), ("endpoint", "ok"), ("kind", "connect")],
        )
    };
    let s1 = eventually("connect errors", Duration::from_secs(10), || {
        let s = d.scrape();
        (connect(&s, "open") > 0.0 && connect(&s, "closed") > 0.0).then_some(s)
    });
    sleep(Duration::from_millis(300));
    let s2 = d.scrape();
    for p in ["open", "closed"] {
        assert!(
            connect(&s2, p) > connect(&s1, p),
            "{p}: connect errors stalled"
        );
        for kind in KINDS.iter().filter(|k| **k != "connect") {
            assert_eq!(
                s2.value(
                    "loadtide_request_errors_total",
                    &[("profile", p), ("endpoint", "ok"), ("kind", kind)]
                ),
                0.0,
                "{p}: errors of kind {kind}"
            );
        }
        assert_eq!(s2.value("loadtide_profile_active", &[("profile", p)]), 1.0);
    }
    assert_eq!(s2.series("loadtide_responses_total", &[]).count(), 0);
    // Failed requests are observed in the latency histogram too.
    for p in ["open", "closed"] {
        assert_consistent(&d, "requests vs connect errors", |s| {
            (s.requests(p), connect(s, p))
        });
    }
    // The closed model backs off after a refused connect instead of spinning.
    let closed_rate = (connect(&s2, "closed") - connect(&s1, "closed")) / 0.3;
    assert!(closed_rate < 2.0 * 2.0 / 0.010, "{closed_rate}/s");
    assert!(d.alive(), "{}", d.log());
    assert_eq!(d.get("/-/healthy").0, 200);
}

/// The `<tr>` of profile `name` on the status page.
fn status_row<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!("<tr data-profile=\"{name}\">"))
        .unwrap_or_else(|| panic!("no row for {name}: {page}"));
    let end = start + page[start..].find("</tr>").expect("the row ends");
    &page[start..end]
}

/// The text of the row's cells, tags dropped.
fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .map(|c| {
            let mut text = String::new();
            let mut in_tag = true;
            for ch in c.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => text.push(ch),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

#[test]
fn status_page_shows_rates_latency_errors_and_next_start_per_profile() {
    let target = Target::start();
    let config = format!(
        "{}{}{}{}schedule = {{ start = \"2099-01-01\" }}\n",
        target_toml(target.addr(), "5s"),
        open_profile("alpha-arrivals", &["ok", "fail"], "20"),
        closed_profile("bravo-browsers", &["slow"], 1),
        open_profile("later", &["ok"], "5"),
    );
    let d = Daemon::start(&config, &[]);
    // The page keeps a snapshot every 5 s: the last minute needs two of them.
    let page = eventually("a sparkline", Duration::from_secs(20), || {
        let (status, page) = d.get("/");
        assert_eq!(status, 200);
        status_row(&page, "alpha-arrivals")
            .contains("<polyline")
            .then_some(page)
    });
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(page.contains("3 profiles"), "{page}");
    assert!(
        !page.contains("src=") && !page.contains("<script"),
        "self-contained"
    );

    // Name, description, state, achieved, intended, p50, p99, errors, sparkline, next.
    let alpha = cells(status_row(&page, "alpha-arrivals"));
    assert!(
        alpha[0].contains("(2 endpoints): open model, 20 req/s"),
        "{alpha:?}"
    );
    assert_eq!(alpha[1], "active");
    let achieved: f64 = alpha[2].trim_end_matches("/s").parse().unwrap();
    assert!((10.0..=30.0).contains(&achieved), "{alpha:?}");
    assert_eq!(alpha[3], "20/s");
    assert!(
        alpha[4].ends_with("ms") || alpha[4].ends_with("µs"),
        "{alpha:?}"
    );
    // Half the requests go to /fail, which answers 500.
    let errors: f64 = alpha[6].trim_end_matches('%').parse().unwrap();
    assert!((25.0..=75.0).contains(&errors), "{alpha:?}");
    assert_eq!(alpha[6].len(), 3, "two significant figures: {alpha:?}");

    let bravo = cells(status_row(&page, "bravo-browsers"));
    assert!(
        bravo[0].contains("(1 endpoint): closed model, 1 user"),
        "{bravo:?}"
    );
    assert_eq!(
        bravo[3], "1 user",
        "a closed model intends users: {bravo:?}"
    );
    assert_eq!(bravo[6], "0%", "{bravo:?}");

    let later = cells(status_row(&page, "later"));
    assert_eq!(later[1], "idle");
    assert_eq!(later[2], "–", "nothing achieved before the start");
    assert_eq!(later[3], "–", "nothing intended before the start");
    assert!(
        later[8].starts_with("in ") && later[8].ends_with(" years"),
        "{later:?}"
    );

    let (status, body) = d.get("/-/healthy");
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.get("/-/ready").0, 200);
    assert_eq!(d.get("/no-such-page").0, 404);
}

#[test]
fn systemd_notify_protocol_ready_reloading_stopping() {
    use std::os::unix::net::UnixDatagram;
    let target = Target::start();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let recv = || {
        let mut buf = [0u8; 4096];
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let mut d = Daemon::start_with_env(
        &both_models(target.addr()),
        &[],
        &[("NOTIFY_SOCKET", &socket_path)],
    );
    let first = recv();
    assert!(first.contains("READY=1"), "{first:?}");
    assert!(
        first.contains("STATUS=serving /metrics; 2 profile(s) running"),
        "{first:?}"
    );

    d.signal("HUP");
    let reloading = recv();
    assert!(reloading.contains("RELOADING=1"), "{reloading:?}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    assert!(recv().contains("READY=1"));

    d.signal("TERM");
    let stopping = recv();
    assert!(stopping.contains("STOPPING=1"), "{stopping:?}");
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
}

/// Schedules in the daemon: a profile whose schedule starts in 2099 stays idle and exports
/// that start; one that runs for 1 s of every 2 s (cron with seconds) sends about half of
/// what it would send always, is active only part of the time, and announces its next start.
#[test]
fn scheduled_profiles_follow_their_timetable() {
    let target = Target::start();
    let config = format!(
        "{}{}schedule = {{ start = \"2099-01-01\" }}\n{}schedule = {{ cron = \"*/2 * * * * *\", for = \"1s\" }}\n",
        target_toml(target.addr(), "5s"),
        open_profile("later", &["ok"], "50"),
        open_profile("blink", &["ok"], "100"),
    );
    let mut d = Daemon::start(&config, &[]);
    let p = |name| [("profile", name)];
    let s = d.scrape();
    assert_eq!(s.value("loadtide_profile_active", &p("later")), 0.0);
    assert_eq!(
        s.value("loadtide_profile_next_start_timestamp_seconds", &p("later")),
        4_070_908_800.0,
        "2099-01-01T00:00:00Z"
    );
    // Watch `blink` for 6 s: active and idle in turns, next start always within 2 s ahead.
    let (mut active, mut idle) = (0, 0);
    let first = d.scrape().requests("blink");
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_secs(6) {
        let s = d.scrape();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let next = s.value("loadtide_profile_next_start_timestamp_seconds", &p("blink"));
        assert!(
            next > now - 0.5 && next <= now + 2.5,
            "next start {next} vs now {now}"
        );
        match s.value("loadtide_profile_active", &p("blink")) as i64 {
            1 => active += 1,
            _ => idle += 1,
        }
        sleep(Duration::from_millis(100));
    }
    let sent = d.scrape().requests("blink") - first;
    assert!(
        active >= 10 && idle >= 10,
        "active {active}, idle {idle} samples"
    );
    // 6 s at half duty: ~300 of the 600 an always-on profile would send.
    assert!((200.0..=400.0).contains(&sent), "sent {sent} in 6 s");
    assert_eq!(d.scrape().requests("later"), 0.0);
    assert!(d.alive(), "{}", d.log());
}

/// A scenario profile in the daemon: every step has its request series, checks count by
/// result, iterations by result, and the scrape stays valid for promtool.
#[test]
fn scenario_profiles_export_step_check_and_iteration_metrics() {
    let target = Target::start();
    let config = format!(
        "{}\n[scenarios.flow]\ntarget = \"local\"\non_failure = \"continue\"\n\
         [[scenarios.flow.steps]]\nname = \"first\"\npath = \"/ok\"\nbody_contains = \"ok\"\n\
         extract = {{ word = {{ regex = \"(ok)\" }} }}\n\
         [[scenarios.flow.steps]]\nname = \"second\"\npath = \"/{{{{ word }}}}\"\n\
         [[scenarios.flow.steps]]\nname = \"broken\"\npath = \"/fail\"\n\
         [profiles.journeys]\nscenario = \"flow\"\nrate = 20\n",
        target_toml(target.addr(), "5s"),
    );
    let mut d = Daemon::start(&config, &[]);
    let s = eventually("iterations", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.sum(
            "loadtide_scenario_iterations_total",
            &[("profile", "journeys")],
        ) >= 10.0)
            .then_some(s)
    });
    promtool_check(&d.get("/metrics").1);
    let p = ("profile", "journeys");
    let checks = |endpoint, check, result| {
        s.value(
            "loadtide_checks_total",
            &[
                p,
                ("endpoint", endpoint),
                ("check", check),
                ("result", result),
            ],
        )
    };
    // The failing last step makes every iteration a failure; nothing else fails.
    let failed = s.value(
        "loadtide_scenario_iterations_total",
        &[p, ("scenario", "flow"), ("result", "failure")],
    );
    assert!(failed >= 10.0, "{failed}");
    assert_eq!(
        s.value(
            "loadtide_scenario_iterations_total",
            &[p, ("scenario", "flow"), ("result", "success")]
        ),
        0.0
    );
    assert!(checks("first", "body_contains", "pass") >= 10.0);
    assert!(checks("first", "extract word", "pass") >= 10.0);
    assert_eq!(checks("first", "body_contains", "fail"), 0.0);
    // `second` requested the path built from the extracted word: /ok, so its status passed.
    assert!(checks("second", "status", "pass") >= 10.0);
    assert!(checks("broken", "status", "fail") >= 10.0);
    assert!(errors(&s, "journeys", "broken", "status") >= 10.0);
    assert_eq!(errors(&s, "journeys", "first", "check"), 0.0);
    let count = s.value(
        "loadtide_scenario_duration_seconds_count",
        &[p, ("scenario", "flow")],
    );
    assert!(
        count >= failed - 1.0,
        "{count} durations for {failed} iterations"
    );
    assert!(d.alive(), "{}", d.log());
}

// ---------------------------------------------------------------------------------------
// --web.config.file: TLS and basic auth in front of every endpoint
// ---------------------------------------------------------------------------------------

/// A one-request HTTPS client that trusts only `ca` (DER) and asks for `localhost`, with basic
/// auth when given: status, head and body.
fn try_https(
    addr: SocketAddr,
    ca: &[u8],
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> std::io::Result<(u16, String, String)> {
    use base64::Engine as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let authorization = auth
        .map(|(user, password)| {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    write!(
        tls,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify: what arrived is the whole response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse_response(&raw)
}

/// `promtool check web-config` on `path` (skipped when promtool is missing, unless `CI` is
/// set).
fn promtool_check_web_config(path: &Path) {
    let args = ["check".as_ref(), "web-config".as_ref(), path.as_os_str()];
    let Some(out) = promtool(&args, "") else {
        return;
    };
    assert!(
        out.status.success(),
        "promtool check web-config {} failed ({}):\n{}{}",
        path.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for `localhost` and a web config requiring it and basic auth
/// for user `prometheus` with `password`, in `dir`: the CA (DER) and the config's path.
fn tls_and_auth_files(dir: &Path, password: &str) -> (Vec<u8>, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    // Cost 4, the lowest bcrypt allows, keeps the test fast; operators use 10 or more.
    let hash = bcrypt::hash(password, 4).unwrap();
    let web = dir.join("web-config.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        ),
    )
    .unwrap();
    (cert.cert.der().to_vec(), web)
}

/// `loadtide healthcheck ARGS` with the test's LOADTIDE_* variables removed: (exit code, output).
fn healthcheck(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.arg("healthcheck").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn web_config_puts_every_endpoint_behind_tls_and_basic_auth() {
    let target = Target::start();
    let dir = tempfile::tempdir().unwrap();
    let password = "s3cret pass:with colon";
    let (ca, web) = tls_and_auth_files(dir.path(), password);
    promtool_check_web_config(&web);
    let config = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        open_profile("p", &["ok"], "20")
    );
    let web_arg = web.to_str().unwrap();
    let d = Daemon::spawn(
        &config,
        &["--web.config.file", web_arg, "--web.enable-lifecycle"],
        &[],
    );
    let good = Some(("prometheus", password));
    let https = |method: &str, path: &str, auth| try_https(d.addr, &ca, method, path, auth);
    eventually("ready over HTTPS", Duration::from_secs(15), || {
        matches!(https("GET", "/-/ready", good), Ok((200, ..))).then_some(())
    });

    // Plain HTTP gets the answer Go's servers give (so a Prometheus with the wrong scheme
    // says why), and nothing else.
    let (status, body) = http(d.addr, "GET", "/metrics");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("HTTP request to an HTTPS server"), "{body}");

    // Every path, the lifecycle ones and unknown ones too, wants credentials first.
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/-/healthy"),
        ("GET", "/-/ready"),
        ("GET", "/"),
        ("POST", "/-/reload"),
        ("POST", "/-/pause"),
        ("GET", "/no-such-page"),
    ] {
        let (status, head, _) = https(method, path, None).unwrap();
        assert_eq!(status, 401, "{method} {path} without credentials");
        assert!(
            head.to_ascii_lowercase()
                .contains("\r\nwww-authenticate: basic realm=\"loadtide\""),
            "{method} {path}: {head}"
        );
    }
    for (user, pw) in [
        ("prometheus", "wrong"),
        ("prometheus", ""),
        ("prometheus", "s3cret pass"),
        ("Prometheus", password),
        ("nobody", password),
    ] {
        let (status, ..) = https("GET", "/metrics", Some((user, pw))).unwrap();
        assert_eq!(status, 401, "{user}:{pw}");
    }

    // The right password, over and over (verified once, then from the cache).
    let s = eventually("traffic", Duration::from_secs(10), || {
        let (status, _, body) = https("GET", "/metrics", good).unwrap();
        assert_eq!(status, 200, "{body}");
        let s = Scrape::parse(&body);
        (s.requests("p") > 0.0).then_some(s)
    });
    assert_eq!(s.value("loadtide_paused", &[]), 0.0);
    assert_eq!(s.series("loadtide_build_info", &[]).count(), 1);
    promtool_check(&s.text);
    let (status, _, body) = https("GET", "/", good).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("<tr data-profile=\"p\">"), "{body}");
    let (status, _, body) = https("POST", "/-/reload", good).unwrap();
    assert_eq!(status, 200, "{body}");

    // `loadtide healthcheck` against it: HTTPS, a self-signed certificate, basic auth.
    let pw_file = dir.path().join("password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let pw_file = pw_file.to_str().unwrap();
    let url = format!("https://127.0.0.1:{}/-/healthy", d.addr.port());
    let auth = ["--user", "prometheus", "--password-file", pw_file];
    let (code, out) = healthcheck(&[&["--url", &url, "--insecure"][..], &auth].concat());
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = healthcheck(&["--url", &url, "--insecure"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("401"), "{out}");
    let (code, out) = healthcheck(&[&["--url", &url][..], &auth].concat());
    assert_eq!(
        code,
        Some(1),
        "a self-signed certificate is not trusted: {out}"
    );
    assert!(out.contains("--insecure"), "{out}");

    let log = d.log();
    assert!(log.contains("TLS and basic auth (1 user(s))"), "{log}");
    assert!(
        !log.contains(password),
        "the password leaked into the log:\n{log}"
    );
}

#[test]
fn the_example_web_config_loads_and_passes_promtool() {
    // Beside the certificate files it names (relative to its directory), as installed.
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/web-config.example.yml");
    let web = dir.path().join("web-config.yml");
    std::fs::copy(&example, &web).unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("tls/loadtide.crt"), cert.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("tls/loadtide.key"),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    promtool_check_web_config(&web);
    let loaded = loadtide::daemon::webconfig::load(&web).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.tls.is_some());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(bcrypt::verify("change-me", &loaded.users["prometheus"]).unwrap());
}

#[test]
fn a_bad_web_config_exits_2_naming_the_file_and_each_key() {
    let target = Target::start();
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n\
         basic_auth_users:\n  alice: not-a-bcrypt-hash\n",
    )
    .unwrap();
    let config = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        open_profile("p", &["ok"], "5")
    );
    let mut d = Daemon::spawn(&config, &["--web.config.file", web.to_str().unwrap()], &[]);
    let status = d.wait_exit(Duration::from_secs(10));
    let log = d.log();
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{log}");
    let file = web.display();
    for key in [
        "tls_server_config.cert_file",
        "tls_server_config.key_file",
        "basic_auth_users.alice",
    ] {
        assert!(
            log.contains(&format!("error: {file}: `{key}`: ")),
            "{key}:\n{log}"
        );
    }
    assert!(log.contains("missing.pem"), "{log}");
    assert!(
        log.contains("3 configuration errors; nothing was started"),
        "{log}"
    );
    assert_eq!(target.requests(), 0, "no traffic was sent");

    std::fs::remove_file(&web).unwrap();
    let mut d = Daemon::spawn(&config, &["--web.config.file", web.to_str().unwrap()], &[]);
    let status = d.wait_exit(Duration::from_secs(10));
    let log = d.log();
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{log}");
    assert!(
        log.contains(&format!("error: {file}: cannot read web config file")),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------
// The kill switch: POST /-/pause, /-/resume and the pause file
// ---------------------------------------------------------------------------------------

/// Waits until nothing of `profiles` is in flight, then scrapes twice a second apart and
/// asserts that no request was sent in between; returns the second scrape.
fn assert_quiet(d: &Daemon, profiles: &[&str]) -> Scrape {
    eventually(
        "in-flight requests to finish",
        Duration::from_secs(10),
        || {
            let s = d.scrape();
            profiles
                .iter()
                .all(|p| s.value("loadtide_requests_in_flight", &[("profile", p)]) == 0.0)
                .then_some(())
        },
    );
    let before = d.scrape();
    sleep(Duration::from_secs(1));
    let after = d.scrape();
    for p in profiles {
        assert_eq!(
            after.requests(p),
            before.requests(p),
            "{p} sent requests while paused"
        );
    }
    after
}

/// Waits until every one of `profiles` has sent more than it had in `since`.
fn assert_sending(d: &Daemon, profiles: &[&str], since: &Scrape) {
    eventually("traffic after resuming", Duration::from_secs(10), || {
        let s = d.scrape();
        profiles
            .iter()
            .all(|p| s.requests(p) > since.requests(p))
            .then_some(())
    });
}

#[test]
fn pause_and_resume_stop_and_restart_both_models_and_hold_across_reload() {
    let target = Target::start();
    let d = Daemon::start(&both_models(target.addr()), &["--web.enable-lifecycle"]);
    let both = ["open", "closed"];
    eventually("traffic", Duration::from_secs(10), || {
        let s = d.scrape();
        both.iter().all(|p| s.requests(p) > 0.0).then_some(())
    });
    assert_eq!(d.scrape().value("loadtide_paused", &[]), 0.0);

    let (status, body) = d.post("/-/pause");
    assert_eq!(status, 200, "{body}");
    let s = assert_quiet(&d, &both);
    assert_eq!(s.value("loadtide_paused", &[]), 1.0);
    let open = [("profile", "open")];
    // Paused arrivals are neither sent nor dropped, and nothing is intended.
    assert_eq!(s.sum("loadtide_dropped_requests_total", &open), 0.0);
    assert_eq!(s.value("loadtide_intended_requests_per_second", &open), 0.0);
    // Still active on their schedules; the closed model's users idle.
    assert_eq!(s.value("loadtide_profile_active", &open), 1.0);
    assert_eq!(
        s.value("loadtide_virtual_users", &[("profile", "closed")]),
        2.0
    );
    let (_, page) = d.get("/");
    assert!(
        page.contains("All traffic is paused by POST /-/pause."),
        "{page}"
    );
    assert!(
        status_row(&page, "open").contains("<span class=\"state paused\">paused</span>"),
        "{page}"
    );
    assert_eq!(d.post("/-/pause").0, 200, "pausing twice is fine");

    // A reload restarts the changed profile paused, and keeps the unchanged one paused.
    d.write_config(&both_models(target.addr()).replace("users = 2", "users = 3"));
    d.signal("HUP");
    eventually("a successful reload", Duration::from_secs(10), || {
        let s = d.scrape();
        (s.value("loadtide_config_reloads_total", &[("result", "success")]) == 1.0
            && s.value("loadtide_virtual_users", &[("profile", "closed")]) == 3.0)
            .then_some(())
    });
    let s = assert_quiet(&d, &both);
    assert_eq!(s.value("loadtide_paused", &[]), 1.0);

    let (status, body) = d.post("/-/resume");
    assert_eq!(status, 200, "{body}");
    assert_sending(&d, &both, &s);
    let s = d.scrape();
    assert_eq!(s.value("loadtide_paused", &[]), 0.0);
    assert_eq!(
        s.value("loadtide_intended_requests_per_second", &open),
        50.0
    );
    let log = d.log();
    assert!(log.contains("POST /-/pause: all traffic paused"), "{log}");
    assert!(log.contains("POST /-/resume: traffic resumed"), "{log}");
}

#[test]
fn pause_endpoints_need_the_lifecycle_flag_and_a_post() {
    let target = Target::start();
    let config = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        open_profile("p", &["ok"], "20")
    );
    let plain = Daemon::start(&config, &[]);
    for path in ["/-/pause", "/-/resume"] {
        let (status, body) = plain.post(path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("--web.enable-lifecycle"), "{body}");
    }
    assert_eq!(plain.scrape().value("loadtide_paused", &[]), 0.0);

    let lifecycle = Daemon::start(&config, &["--web.enable-lifecycle"]);
    for path in ["/-/pause", "/-/resume"] {
        let (status, body) = lifecycle.get(path);
        assert_eq!(status, 405, "GET {path}: {body}");
    }
    assert_eq!(lifecycle.scrape().value("loadtide_paused", &[]), 0.0);
}

#[test]
fn the_pause_file_pauses_new_and_reloaded_profiles_until_it_is_removed() {
    let target = Target::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loadtide.pause");
    let v1 = both_models(target.addr());
    let v2 = format!("{v1}{}", open_profile("fresh", &["ok"], "20"));
    let d = Daemon::start(
        &v1,
        &[
            "--pause-file",
            file.to_str().unwrap(),
            "--web.enable-lifecycle",
        ],
    );
    let both = ["open", "closed"];
    eventually("traffic", Duration::from_secs(10), || {
        let s = d.scrape();
        both.iter().all(|p| s.requests(p) > 0.0).then_some(())
    });

    File::create(&file).unwrap();
    eventually("paused by the file", Duration::from_secs(5), || {
        (d.scrape().value("loadtide_paused", &[]) == 1.0).then_some(())
    });
    assert_quiet(&d, &both);
    let (_, page) = d.get("/");
    assert!(page.contains("by the pause file"), "{page}");
    // The API cannot override the file.
    let (status, body) = d.post("/-/resume");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("remove it to resume"), "{body}");

    // A profile added by a reload starts paused.
    d.write_config(&v2);
    d.signal("HUP");
    eventually("fresh started", Duration::from_secs(10), || {
        let s = d.scrape();
        // `sum`, not `value`: the series is absent until the reload has been applied.
        (s.sum("loadtide_profile_active", &[("profile", "fresh")]) == 1.0).then_some(())
    });
    let s = assert_quiet(&d, &["open", "closed", "fresh"]);
    assert_eq!(s.requests("fresh"), 0.0, "fresh sent before the resume");

    std::fs::remove_file(&file).unwrap();
    assert_sending(&d, &["open", "closed", "fresh"], &s);
    assert_eq!(d.scrape().value("loadtide_paused", &[]), 0.0);
    let log = d.log();
    assert!(
        log.contains("pause file present: all traffic paused"),
        "{log}"
    );
    assert!(log.contains("pause file removed: traffic resumed"), "{log}");
}

#[test]
fn a_pause_file_present_at_start_sends_nothing() {
    let target = Target::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("paused");
    File::create(&file).unwrap();
    let d = Daemon::start(
        &both_models(target.addr()),
        &["--pause-file", file.to_str().unwrap()],
    );
    sleep(Duration::from_millis(500));
    let s = assert_quiet(&d, &["open", "closed"]);
    assert_eq!(s.value("loadtide_paused", &[]), 1.0);
    assert_eq!(s.requests("open") + s.requests("closed"), 0.0);
    assert_eq!(target.requests(), 0, "the target saw requests");
}

/// Every broken config of the fixture corpus: `check` exits 2 on it, and a reload to it is
/// refused (500, naming the key) while the running profile keeps sending.
#[test]
fn no_bad_fixture_replaces_a_running_config() {
    let target = Target::start();
    let good = format!(
        "{}{}",
        target_toml(target.addr(), "5s"),
        open_profile("p", &["ok"], "20")
    );
    let d = Daemon::start(&good, &["--web.enable-lifecycle"]);
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/config/bad")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 40, "only {} bad fixtures", fixtures.len());
    let before = eventually(
        "traffic before the reloads",
        Duration::from_secs(10),
        || {
            let n = d.scrape().requests("p");
            (n > 0.0).then_some(n)
        },
    );
    for fixture in &fixtures {
        let check = Command::new(env!("CARGO_BIN_EXE_loadtide"))
            .arg("check")
            .arg("--config")
            .arg(fixture)
            .env_remove("LOADTIDE_CONFIG")
            .output()
            .unwrap();
        assert_eq!(check.status.code(), Some(2), "check {}", fixture.display());

        // Bytes, not text: some fixtures are binary on purpose.
        std::fs::write(&d.config, std::fs::read(fixture).unwrap()).unwrap();
        // Checked where the daemon reads it, so files named relative to the config resolve
        // (or fail to) alike for both.
        let check = Command::new(env!("CARGO_BIN_EXE_loadtide"))
            .arg("check")
            .arg("--config")
            .arg(&d.config)
            .env_remove("LOADTIDE_CONFIG")
            .output()
            .unwrap();
        assert_eq!(
            check.status.code(),
            Some(2),
            "check a copy of {}",
            fixture.display()
        );
        let (status, body) = d.post("/-/reload");
        assert_eq!(status, 500, "reload to {}: {body}", fixture.display());
        // The first error's key (between backticks) that check names is named in the answer.
        let stderr = String::from_utf8_lossy(&check.stderr);
        if let Some(key) = stderr.lines().next().and_then(|l| l.split('`').nth(1)) {
            assert!(
                body.contains(key),
                "{}: {key} not in {body}",
                fixture.display()
            );
        }
    }
    let s = d.scrape();
    assert_eq!(
        s.value("loadtide_config_reloads_total", &[("result", "failure")]),
        fixtures.len() as f64
    );
    assert_eq!(s.value("loadtide_profile_active", &[("profile", "p")]), 1.0);
    eventually(
        "the old profile still sending",
        Duration::from_secs(10),
        || (d.scrape().requests("p") > before + 20.0).then_some(()),
    );
}
