//! Patterns and shards end to end, against a scripted server on 127.0.0.1 (`tests/common`):
//! the per-second counts the server receives follow a stages profile's planned curve; the
//! closed model grows its users at the spawn rate; three `--shard i/3` processes started
//! together with `--start-at` add up to one unsharded run; `run --speed` compresses a pattern.
//! Expected curves are computed here from the profile's definition, not by loadtide.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use assert_cmd::cargo::CommandCargoExt;
use common::{Behavior, TestServer};
use loadtide::config::Profile;
use serde_json::Value;
use tokio::time::Instant;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn load(dir: &Path, toml: &str) -> (std::path::PathBuf, Arc<Profile>) {
    let path = dir.join("loadtide.toml");
    std::fs::write(&path, toml).expect("write the test config");
    let config = loadtide::config::load(&path)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n---\n{toml}"));
    (path, config.profile("p").expect("profile p").clone())
}

fn config(url: &str, profile: &str) -> String {
    format!(
        "[targets.t]\nurl = \"{url}\"\n[[targets.t.endpoints]]\nname = \"e\"\npath = \"/\"\n\
         [profiles.p]\ntarget = \"t\"\n{profile}\n"
    )
}

/// `actual` within 5% of `expected` per second (or 2 requests, for the ramp's small first
/// second where one arrival either side of a boundary is already 5%).
/// `late` arrivals may land just after the end: one per process whose last arrival is due
/// a moment before it (its response and clock skew between processes push it over).
fn assert_follows(actual: &[u64], expected: &[f64], late: u64) {
    assert!(
        actual.len() >= expected.len(),
        "{} seconds seen, {} planned: {actual:?}",
        actual.len(),
        expected.len()
    );
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tolerance = (0.05 * e).max(2.0);
        assert!(
            (a as f64 - e).abs() <= tolerance,
            "second {i}: received {a}, planned {e} (±{tolerance}); all: {actual:?} vs {expected:?}"
        );
    }
    let extra: u64 = actual[expected.len()..].iter().sum();
    assert!(
        extra <= late,
        "{extra} requests after the pattern ended: {actual:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_counts_follow_a_stages_profile() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let dir = tempfile::tempdir().unwrap();
    // k6-style stages: ramp 0 -> 100/s over 2 s, hold 2 s, ramp to 300/s in 1 s, down to 50/s
    // in 1 s. The run lasts the pattern's length (6 s) since no duration is given.
    let (_, p) = load(
        dir.path(),
        &config(
            &server.url(),
            "rate = { pattern = \"stages\", stages = [\n\
               { duration = \"2s\", target = 100 },\n\
               { duration = \"2s\", target = 100 },\n\
               { duration = \"1s\", target = 300 },\n\
               { duration = \"1s\", target = 50 } ] }",
        ),
    );
    let from = Instant::now();
    let (s, _) = tokio::time::timeout(
        Duration::from_secs(20),
        loadtide::oneshot::run_once(p, false),
    )
    .await
    .expect("the run ends with its pattern");
    // The integral of the rate over each second.
    let planned = [25.0, 75.0, 100.0, 100.0, 200.0, 175.0];
    let received = server.per_second(from);
    eprintln!(
        "received per second {received:?}, summary requests {}",
        s.requests
    );
    assert_follows(&received, &planned, 1);
    assert_eq!(s.requests, server.requests());
    assert!((s.requests as f64 - 675.0).abs() <= 2.0, "{}", s.requests);
    assert!((s.duration_s - 6.0).abs() < 0.3, "ran {} s", s.duration_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_adds_users_at_the_spawn_rate() {
    let _serial = SERIAL.lock().await;
    // Each request takes 100 ms, so each user sends about 10/s: the request count per second
    // shows how many users were running. 20 users at 10 users/s: ~1 + 10·t users for 2 s.
    let server = TestServer::with(Behavior::Delay(Duration::from_millis(100)));
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = load(
        dir.path(),
        &config(
            &server.url(),
            "users = 20\nspawn_rate = 10\nduration = \"4s\"",
        ),
    );
    let from = Instant::now();
    let (s, _) = tokio::time::timeout(
        Duration::from_secs(20),
        loadtide::oneshot::run_once(p, false),
    )
    .await
    .expect("bounded run");
    let received = server.per_second(from);
    eprintln!("received per second {received:?}");
    assert!(received.len() >= 4, "{received:?}");
    // Second 0: users 1..=10 join at 0.1 s steps, ~55 requests in all; all at once would
    // be ~200. Seconds 2 and 3: all 20 users, ~200 each.
    assert!(
        (30..=90).contains(&received[0]),
        "first second {received:?}"
    );
    assert!(
        received[1] > received[0] + 40,
        "still growing: {received:?}"
    );
    for sec in [2, 3] {
        assert!(
            (170..=210).contains(&received[sec]),
            "second {sec} should have all 20 users: {received:?}"
        );
    }
    assert_eq!(s.requests, server.requests());
    assert!(
        server.connections() <= 20,
        "one connection per user: {}",
        server.connections()
    );
}

fn spawn_run(config: &Path, args: &[&str], json: &Path) -> Child {
    let mut cmd = StdCommand::cargo_bin("loadtide").unwrap();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["run", "--quiet", "--profile", "p", "--config"])
        .arg(config)
        .args(args)
        .arg("--json")
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` (at most 60 s) and returns its JSON summary.
fn finish(mut child: Child, json: &Path) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert_eq!(status.code(), Some(0), "{err}");
            let text = std::fs::read_to_string(json).unwrap();
            return serde_json::from_str(&text).unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("loadtide run did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

#[test]
fn three_shards_add_up_to_one_unsharded_run() {
    let _serial = SERIAL.blocking_lock();
    let server = TestServer::with(Behavior::Ok);
    let dir = tempfile::tempdir().unwrap();
    // A ramp 30 -> 330/s over 4 s: 720 requests in all.
    let (path, _) = load(
        dir.path(),
        &config(
            &server.url(),
            "rate = { pattern = \"ramp\", from = 30, to = 330, over = \"4s\" }",
        ),
    );
    let start = SystemTime::now() + Duration::from_millis(1500);
    let shards: Vec<_> = (0..3)
        .map(|i| {
            let json = dir.path().join(format!("shard-{i}.json"));
            let child = spawn_run(
                &path,
                &["--shard", &format!("{i}/3"), "--start-at", &rfc3339(start)],
                &json,
            );
            (child, json)
        })
        .collect();
    // The common start as an instant of this process's clock.
    let from = Instant::now() + start.duration_since(SystemTime::now()).unwrap();
    let sharded: Vec<Value> = shards
        .into_iter()
        .map(|(child, json)| finish(child, &json))
        .collect();
    let per_second_sharded = server.per_second(from);
    let total: u64 = sharded
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    let shares: Vec<u64> = sharded
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    eprintln!("shards sent {shares:?}; per second {per_second_sharded:?}");
    assert_eq!(server.requests(), total);

    let json = dir.path().join("whole.json");
    let whole = finish(spawn_run(&path, &[], &json), &json)["requests"]
        .as_u64()
        .unwrap();
    eprintln!("unsharded sent {whole}");
    assert!(
        (total as f64 - whole as f64).abs() <= 0.02 * whole as f64,
        "sharded total {total} vs unsharded {whole}"
    );
    assert!((whole as f64 - 720.0).abs() <= 3.0, "{whole}");
    // Each shard sends a third, give or take the arrival at the edges.
    for s in shares {
        assert!((s as f64 - 240.0).abs() <= 3.0, "{s}");
    }
    // Started together, the shards follow the ramp together: the per-second sums climb
    // 30 -> 330/s (second k is planned at 30 + 75·(k + 0.5)).
    assert_follows(&per_second_sharded, &[67.5, 142.5, 217.5, 292.5], 3);
}

#[test]
fn speed_compresses_the_pattern_in_time_not_in_rate() {
    let _serial = SERIAL.blocking_lock();
    let server = TestServer::with(Behavior::Ok);
    let dir = tempfile::tempdir().unwrap();
    // A 2-minute ramp 0 -> 120/s at speed 60 lasts 2 s; its mean rate is still 60/s.
    let (path, _) = load(
        dir.path(),
        &config(
            &server.url(),
            "rate = { pattern = \"ramp\", from = 0, to = 120, over = \"2m\" }",
        ),
    );
    let json = dir.path().join("fast.json");
    let s = finish(spawn_run(&path, &["--speed", "60"], &json), &json);
    let requests = s["requests"].as_u64().unwrap();
    assert!((requests as f64 - 120.0).abs() <= 2.0, "{requests}");
    let d = s["duration_s"].as_f64().unwrap();
    assert!((d - 2.0).abs() < 0.3, "lasted {d} s");
}
