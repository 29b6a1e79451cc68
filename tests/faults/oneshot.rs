//! One fault per test, through `loadtide run --json`: the summary's `error_kinds` must name
//! the fault, the run must end on time with exit code 0 (no thresholds given, so errors do
//! not fail the run; a panic would be 101, a runtime failure 3) and its peak RSS must stay
//! under a bound.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::servers::{self, BadTls, Flapping, RawServer};
use super::watch;

/// Peak RSS allowed to a short run, whatever the target does. A debug build at rest is
/// ~15 MiB; the 200 MiB body case would blow this at once if bodies were buffered.
const RSS_BOUND_KIB: u64 = 96 << 10;

struct Summary {
    json: serde_json::Value,
    kinds: BTreeMap<String, u64>,
    max_rss_kib: u64,
    elapsed: Duration,
}

impl Summary {
    fn requests(&self) -> u64 {
        self.json["requests"].as_u64().unwrap()
    }

    fn status(&self, code: &str) -> u64 {
        self.json["status_codes"][code].as_u64().unwrap_or(0)
    }

    /// Every request failed, and only with `kind`.
    fn only(&self, kind: &str) {
        assert!(self.requests() > 0, "no requests: {}", self.json);
        assert_eq!(
            self.kinds,
            BTreeMap::from([(kind.to_string(), self.requests())]),
            "every request should fail with {kind}: {}",
            self.json
        );
    }
}

/// `loadtide run --url URL ARGS --json ...`, watched; asserts a normal exit, on time, under
/// the memory bound.
fn run(url: &str, args: &[&str], within: Duration) -> Summary {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .args(["run", "--quiet", "--url", url])
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let w = watch(&mut child, within, url);
    let output = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    assert_eq!(
        w.status.code(),
        Some(0),
        "loadtide run {url} {args:?} ended with {}:\n{output}",
        w.status
    );
    assert!(
        w.max_rss_kib < RSS_BOUND_KIB,
        "peak RSS {} KiB over the {} KiB bound",
        w.max_rss_kib,
        RSS_BOUND_KIB
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let kinds = json["error_kinds"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    Summary {
        json,
        kinds,
        max_rss_kib: w.max_rss_kib,
        elapsed: w.elapsed,
    }
}

/// Eight requests, four at a time, each given `timeout`.
fn closed(timeout: &str) -> Vec<&str> {
    vec!["-c", "4", "-n", "8", "--timeout", timeout]
}

#[test]
fn refused_connections_are_connect_errors() {
    let port = servers::refused_port();
    let s = run(
        &format!("http://127.0.0.1:{port}/"),
        &closed("1s"),
        Duration::from_secs(20),
    );
    s.only("connect");
}

#[test]
fn a_reset_mid_response_is_a_reset() {
    let server = RawServer::start(servers::reset_mid_response);
    let s = run(&server.url(), &closed("2s"), Duration::from_secs(20));
    s.only("reset");
    assert!(server.accepted() >= 1);
}

#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let server = RawServer::start(servers::never_answer);
    let s = run(&server.url(), &closed("300ms"), Duration::from_secs(20));
    s.only("timeout");
    // Eight 300 ms timeouts, four at a time: about 0.6 s, never the 10 s default.
    assert!(s.elapsed < Duration::from_secs(8), "took {:?}", s.elapsed);
}

#[test]
fn a_one_byte_per_second_trickle_is_a_timeout() {
    let server = RawServer::start(servers::trickle);
    let s = run(&server.url(), &closed("1500ms"), Duration::from_secs(20));
    s.only("timeout");
}

#[test]
fn a_200_mib_body_is_streamed_and_counted_in_flat_memory() {
    let server = RawServer::start(servers::huge_body);
    let s = run(
        &server.url(),
        &["-c", "2", "-n", "2", "--timeout", "60s"],
        Duration::from_secs(90),
    );
    assert_eq!(s.kinds, BTreeMap::new(), "{}", s.json);
    assert_eq!(s.status("200"), 2);
    assert_eq!(
        s.json["bytes_received"].as_u64().unwrap(),
        2 * servers::HUGE,
        "every body byte counted"
    );
    // 400 MiB went through a process that never held more than a small fraction of it.
    assert!(
        s.max_rss_kib < 64 << 10,
        "peak RSS {} KiB: the body was buffered",
        s.max_rss_kib
    );
}

#[test]
fn a_garbage_status_line_is_a_protocol_error() {
    let server = RawServer::start(servers::garbage_status);
    let s = run(&server.url(), &closed("2s"), Duration::from_secs(20));
    s.only("protocol");
}

#[test]
fn a_bad_chunk_size_is_a_protocol_error() {
    let server = RawServer::start(servers::bad_chunk);
    let s = run(&server.url(), &closed("2s"), Duration::from_secs(20));
    s.only("protocol");
}

#[test]
fn an_untrusted_self_signed_certificate_is_a_tls_error() {
    let server = BadTls::start(false);
    let s = run(&server.url(), &closed("2s"), Duration::from_secs(20));
    s.only("tls");
    assert_eq!(
        server.handshakes.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn an_expired_certificate_is_a_tls_error_unless_insecure() {
    let server = BadTls::start(true);
    let s = run(&server.url(), &closed("2s"), Duration::from_secs(20));
    s.only("tls");
    // --insecure accepts it: the same server then answers (proving the failure was the
    // certificate, not the server).
    let mut args = closed("2s");
    args.push("--insecure");
    let s = run(&server.url(), &args, Duration::from_secs(20));
    assert_eq!(s.kinds, BTreeMap::new(), "{}", s.json);
    assert_eq!(s.status("200"), 8);
}

#[test]
fn a_name_that_cannot_resolve_is_a_dns_error_without_hanging() {
    // A 64-character label is invalid in DNS: the stub resolver rejects it before sending
    // a query, so this needs no network (this machine's resolver is unreachable).
    let host = format!("{}.invalid", "a".repeat(64));
    let s = run(
        &format!("http://{host}/"),
        &closed("2s"),
        Duration::from_secs(20),
    );
    s.only("dns");
    assert!(s.elapsed < Duration::from_secs(5), "took {:?}", s.elapsed);
}

#[test]
fn a_flapping_target_fails_with_connect_errors_and_recovers() {
    let target = Flapping::start(Duration::from_millis(400), Duration::from_millis(400));
    let s = run(
        &target.url(),
        &["-r", "100", "-d", "3s", "--timeout", "1s"],
        Duration::from_secs(20),
    );
    let phases = target.phases();
    let connect = s.kinds.get("connect").copied().unwrap_or(0);
    assert!(connect > 0, "down phases refuse connections: {}", s.json);
    assert!(s.status("200") > 0, "{}", s.json);
    // Only what a listener going away can cause: refused connects, and connections it
    // dropped under a request.
    for kind in s.kinds.keys() {
        assert!(
            ["connect", "reset"].contains(&kind.as_str()),
            "unexpected kind {kind}: {}",
            s.json
        );
    }
    // Traffic came back after every outage: each up phase after the first answered.
    assert!(phases.len() >= 3, "phases {phases:?}");
    assert!(
        phases[1..phases.len() - 1].iter().all(|&n| n > 0),
        "an up phase got no traffic: {phases:?}"
    );
}

#[test]
fn absurd_timeouts_lengths_and_speeds_do_not_panic() {
    // Each of these once panicked: `Duration + 1 s` overflowed for the drain time, an
    // Instant overflowed for the deadline, and `Duration::from_secs_f64` for pattern time.
    let port = servers::refused_port();
    let url = format!("http://127.0.0.1:{port}/");
    let huge = "18446744073709551615s";
    for args in [
        vec!["-r", "5", "-n", "2", "--timeout", huge],
        vec!["-r", "5", "-n", "2", "--duration", huge],
        vec!["-r", "5", "-n", "2", "--speed", "1e308"],
        vec!["-c", "1", "-n", "2", "--timeout", huge, "--duration", huge],
    ] {
        let s = run(&url, &args, Duration::from_secs(20));
        s.only("connect");
    }
}
