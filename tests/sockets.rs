//! Raw TCP and UDP targets end to end: `loadtide run` against line and datagram servers on
//! 127.0.0.1 started here, through the same engine, summary and exit codes as HTTP.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::cli::{assert_refused, free_port, run_profile, Out};
use common::echo::EchoServer;
use serde_json::Value;

fn run_config(dir: &Path, toml: &str) -> (Out, Option<Value>) {
    run_profile(dir, toml, "load")
}

/// `requests` requests in the closed model (4 users): exact counts however busy the machine
/// is, where the open model drops an arrival that finds every connection busy.
fn profile(url: &str, endpoint: &str, requests: u64) -> String {
    format!(
        r#"
[targets.sock]
url = "{url}"
timeout = "2s"
max_connections = 32
[[targets.sock.endpoints]]
{endpoint}

[profiles.load]
target = "sock"
users = 4
requests = {requests}
"#
    )
}

#[test]
fn tcp_requests_are_templated_lines_with_their_replies_checked() {
    let server = EchoServer::tcp();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"name = "ping"
body = "PING {{ seq() }}\n"
body_contains = "PONG""#;
    let url = format!("tcp://{}", server.addr);
    let open = profile(&url, endpoint, 200).replace("users = 4", "rate = 400");
    let (out, summary) = run_config(dir.path(), &open);
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = summary.expect("a summary");
    // Every request not dropped reached the server.
    let requests = common::cli::sent_of(&s, 200);
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(s["status_codes"]["ok"], requests, "{s:#}");
    assert_eq!(s["endpoints"][0]["method"], "SEND", "{s:#}");
    assert_eq!(server.requests(), requests);
    // The template was rendered for each request, not once.
    assert_eq!(server.distinct() as u64, requests);
    // "PONG n\n": 6 bytes and the digits of n, per reply.
    assert!(
        s["bytes_received"].as_u64().unwrap() >= requests * 7,
        "{s:#}"
    );
}

#[test]
fn a_reply_without_the_expected_text_fails_its_check() {
    let server = EchoServer::tcp();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"name = "hello"
body = "HELLO\n"
body_contains = "PONG""#;
    let url = format!("tcp://{}", server.addr);
    let (out, summary) = run_config(dir.path(), &profile(&url, endpoint, 50));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 50, "{s:#}");
    assert_eq!(s["error_kinds"]["check"], 50, "{s:#}");
    assert_eq!(s["status_codes"]["ok"], 50, "a reply came: {s:#}");
}

#[test]
fn a_fixed_length_reply_is_read_by_its_length() {
    let server = EchoServer::tcp();
    let dir = tempfile::tempdir().unwrap();
    // "PONG a\n" is 7 bytes.
    let endpoint = r#"name = "ping"
body = "PING a\n"
read_bytes = 7
body_contains = "PONG a""#;
    let url = format!("tcp://{}", server.addr);
    let (out, summary) = run_config(dir.path(), &profile(&url, endpoint, 40));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(40), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["bytes_received"], 40 * 7, "{s:#}");
}

#[test]
fn udp_requests_are_datagrams_answered_by_datagrams() {
    let server = EchoServer::udp();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"name = "echo"
body = "probe {{ seq() }}"
body_contains = "probe""#;
    let url = format!("udp://{}", server.addr);
    let (out, summary) = run_config(dir.path(), &profile(&url, endpoint, 100));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["requests"], 100, "{s:#}");
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(server.distinct(), 100);
}

#[test]
fn a_closed_port_counts_connect_errors_and_nothing_crashes() {
    // Bound and dropped: nothing listens there now.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"name = "ping"
body = "PING\n""#;
    let url = format!("tcp://127.0.0.1:{port}");
    let (out, summary) = run_config(dir.path(), &profile(&url, endpoint, 20));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 20, "{s:#}");
    assert_eq!(s["error_kinds"]["connect"], 20, "{s:#}");
}

#[test]
fn bad_socket_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            profile("tcp://127.0.0.1", r#"name = "a""#, 1),
            "targets.sock.url",
            "needs a port",
        ),
        (
            profile("tcp://127.0.0.1:9/x", r#"name = "a""#, 1),
            "targets.sock.url",
            "host and port only",
        ),
        (
            profile("tcp://127.0.0.1:9", "name = \"a\"\nmethod = \"POST\"", 1),
            "targets.sock.endpoints[0].method",
            "an HTTP setting",
        ),
        (
            profile(
                "http://127.0.0.1:9",
                "name = \"a\"\nread_until = \"\\n\"",
                1,
            ),
            "targets.sock.endpoints[0].read_until",
            "only for tcp:// and udp://",
        ),
        (
            profile(
                "tcp://127.0.0.1:9",
                "name = \"a\"\nread_until = \"x\"\nread_bytes = 3",
                1,
            ),
            "targets.sock.endpoints[0].read_bytes",
            "not read_until and read_bytes",
        ),
        (
            profile("tcp://127.0.0.1:9", "name = \"a\"\nbody = \"{{ nope(\"", 1),
            "targets.sock.endpoints[0].body",
            "invalid template",
        ),
    ];
    assert_refused(dir.path(), &cases);
}

#[test]
fn a_tcp_url_on_the_command_line_sends_the_body() {
    let server = EchoServer::tcp();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let url = format!("tcp://{}", server.addr);
    let out = common::cli::output(
        common::cli::loadtide(std::time::Duration::from_secs(60)).args([
            "run",
            "--url",
            &url,
            "--body",
            "PING cli\n",
            "--rate",
            "100",
            "--requests",
            "30",
            "--json",
            json.to_str().unwrap(),
        ]),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = common::cli::read_json(&json);
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(30), Some(0)),
        "{s:#}"
    );
    assert_eq!(server.requests(), 30);
}
