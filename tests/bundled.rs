//! The bundled default config, served as a newcomer would (`loadtide serve`), for 20 s: every
//! profile that its schedule has active produces samples, a scheduled one that is not says
//! when it starts, the capacity search reaches its ceiling, nothing is dropped (by the
//! `[safety]` caps or `max_in_flight`), and the log has no warning or error. Only the two loopback ports are changed,
//! so the test can run beside anything else.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use common::cli::{free_port, KillOnDrop};
use common::scrape::Scrape;

const BUNDLED: &str = "config/loadtide.toml";
const DEMO_ADDR: &str = "127.0.0.1:9633";
const RUN_FOR: Duration = Duration::from_secs(20);

fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// The names of the `[profiles.NAME]` tables, in file order.
fn profile_names(config: &str) -> Vec<String> {
    let table = regex::Regex::new(r"(?m)^\[profiles\.([A-Za-z0-9_-]+)\]\s*$").unwrap();
    table
        .captures_iter(config)
        .map(|c| c[1].to_string())
        .collect()
}

/// Samples a profile produced: requests timed, plus WebSocket messages answered.
fn samples(s: &Scrape, profile: &str) -> f64 {
    s.sum(
        "loadtide_request_duration_seconds_count",
        &[("profile", profile)],
    ) + s.sum(
        "loadtide_ws_message_rtt_seconds_count",
        &[("profile", profile)],
    )
}

#[test]
fn the_bundled_config_serves_every_profile_cleanly() {
    let bundled = std::fs::read_to_string(BUNDLED).expect("the bundled config");
    assert!(
        bundled.contains(DEMO_ADDR),
        "the bundled config no longer puts the demo target on {DEMO_ADDR}"
    );
    let profiles = profile_names(&bundled);
    assert!(profiles.len() >= 5, "profiles found: {profiles:?}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadtide.toml");
    let demo = format!("127.0.0.1:{}", free_port());
    std::fs::write(&config, bundled.replace(DEMO_ADDR, &demo)).unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    let _daemon = KillOnDrop(
        cmd.args(["--log-level", "info", "serve", "--config"])
            .arg(&config)
            .arg("--web.listen-address")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let started = Instant::now();
    while !matches!(get(addr, "/-/ready"), Some((200, _))) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not ready in 15 s; log:\n{}",
            read_log()
        );
        sleep(Duration::from_millis(50));
    }
    let ready = Instant::now();
    sleep(RUN_FOR.saturating_sub(ready.elapsed()));
    let (status, text) = get(addr, "/metrics").expect("/metrics answers");
    assert_eq!(status, 200);
    let s = Scrape::parse(&text);
    let log = read_log();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    for p in &profiles {
        let active = s.value("loadtide_profile_active", &[("profile", p)]);
        let n = samples(&s, p);
        if active == 1.0 || p == "capacity" {
            assert!(n > 0.0, "profile {p} is active but produced no samples");
        } else {
            // Outside its schedule's window (the 10-minute bursts): it says when it starts.
            let next = s.value(
                "loadtide_profile_next_start_timestamp_seconds",
                &[("profile", p)],
            );
            assert!(
                next > now && next <= now + 600.0,
                "profile {p} is idle and its next start {next} is not within 10 minutes of {now}"
            );
        }
        // An arrival, a message or a closed-model iteration refused by the caps: the bundled
        // profiles ask far less than them together.
        let refused = s.sum("loadtide_dropped_requests_total", &[("profile", p)]);
        assert_eq!(refused, 0.0, "profile {p}: {refused} arrivals dropped");
    }
    assert_eq!(
        s.value("loadtide_capacity_rps", &[("profile", "capacity")]),
        20.0,
        "the bundled capacity search reaches its max_rate of 20/s; log:\n{log}"
    );
    assert_eq!(
        s.value(
            "loadtide_capacity_generator_bound",
            &[("profile", "capacity")]
        ),
        0.0
    );
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        bad.is_empty(),
        "warnings or errors in the log:\n{}",
        bad.join("\n")
    );
}
