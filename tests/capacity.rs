//! `loadtide capacity` end to end against targets of known capacity on 127.0.0.1:0: a server
//! that answers at most N requests per second, first in first out (the rest wait, so latency
//! climbs past N), and a fast server behind a deliberately starved generator (a tiny
//! `--max-in-flight`), which must be reported as the generator's limit, not the target's.
//! Every search is bounded by --max-rate and --max-levels, with short holds.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use common::cli::{f, read_json, KillOnDrop, Out};
use common::scrape::Scrape;

/// A target on its own runtime (two worker threads) until dropped.
struct Target {
    addr: SocketAddr,
    /// Requests received so far.
    hits: Arc<AtomicU64>,
    cancel: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Target {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Target {
    /// Serves at most `per_second` requests per second, in arrival order; the others queue.
    /// A stall of the process is made up for, up to 100 ms of work, so scheduler noise on a
    /// busy machine does not lower the capacity.
    fn capacity(per_second: f64) -> Target {
        Target::start(Some(per_second), Duration::ZERO)
    }

    /// Answers every request after `delay`, in parallel, without limit.
    fn delay(delay: Duration) -> Target {
        Target::start(None, delay)
    }

    fn start(per_second: Option<f64>, delay: Duration) -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
        if let Some(n) = per_second {
            let gap = Duration::from_secs_f64(1.0 / n);
            let credit = Duration::from_millis(100);
            runtime.spawn(async move {
                let mut next = Instant::now();
                while let Some(done) = rx.recv().await {
                    let now = Instant::now();
                    if next + credit < now {
                        next = now - credit;
                    }
                    next += gap;
                    if next > now {
                        tokio::time::sleep_until(next).await;
                    }
                    let _ = done.send(());
                }
            });
        }
        let stop = cancel.clone();
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        runtime.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = stop.cancelled() => return,
                };
                let tx = tx.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        let tx = tx.clone();
                        async move {
                            if per_second.is_some() {
                                let (done, wait) = oneshot::channel();
                                let _ = tx.send(done);
                                let _ = wait.await;
                            } else {
                                tokio::time::sleep(delay).await;
                            }
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Target {
            addr,
            hits,
            cancel,
            runtime: Some(runtime),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

fn exec(args: &[&str]) -> Out {
    common::cli::output(common::cli::loadtide(Duration::from_secs(90)).args(args))
}

const N: f64 = 400.0;

#[test]
fn finds_a_known_capacity_within_15_percent() {
    let target = Target::capacity(N);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("capacity.json");
    let html = dir.path().join("capacity.html");
    let started = std::time::Instant::now();
    let out = exec(&[
        "capacity",
        "--url",
        &target.url(),
        "--slo",
        "p99<150ms",
        "--slo",
        "error_rate<1%",
        "--start-rate",
        "100",
        "--factor",
        "1.5",
        "--hold",
        "1500ms",
        "--stabilize",
        "500ms",
        "--precision",
        "10%",
        "--max-rate",
        "2000",
        "--max-levels",
        "12",
        "--timeout",
        "5s",
        "--json",
        json.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    let took = started.elapsed();
    assert_eq!(out.code, Some(0), "{out:?}");
    let r = read_json(&json);
    let found = f(&r["capacity_rps"]);
    eprintln!(
        "known capacity {N}/s, found {found}/s in {took:?}\n{}",
        out.stdout
    );
    assert!(
        (found - N).abs() <= 0.15 * N,
        "found {found}/s for a target serving {N}/s\n{out:?}"
    );
    assert_eq!(r["outcome"], "found");
    assert!(r["generator_limit"].is_null(), "{out:?}");
    // The first failing level is above the capacity found, within the precision.
    let failing = f(&r["first_failing_rps"]);
    assert!(
        failing > found && failing <= found * 1.1 + 0.1,
        "{found} {failing}"
    );
    assert_eq!(
        r["broken_slo"], "p99<150ms",
        "latency breaks first; nothing errs"
    );
    // Every level has its figures and its verdict; above N the throughput stays near N.
    let levels = r["levels"].as_array().unwrap();
    assert!(levels.len() >= 5 && levels.len() <= 12, "{}", levels.len());
    for l in levels {
        for k in ["rate", "achieved_rps", "error_rate"] {
            assert!(l[k].is_number(), "{k} in {l}");
        }
        for k in ["p50", "p95", "p99"] {
            assert!(l["latency"][k].is_number(), "{k} in {l}");
        }
        assert!(l["health"]["cpu_utilisation"].is_number());
        assert!(l["health"]["lag_p99"].is_number());
        let verdict = l["verdict"].as_str().unwrap();
        let rate = f(&l["rate"]);
        if rate >= 1.3 * N {
            assert_eq!(verdict, "fail", "{l}");
            let achieved = f(&l["achieved_rps"]);
            assert!(
                achieved < 1.15 * N,
                "served {achieved}/s at most ~{N}/s: {l}"
            );
        }
        if rate <= 0.6 * N {
            assert_eq!(verdict, "pass", "{l}");
        }
    }
    // The knee (p50 doubling) sits at or above the capacity, never far below it.
    let knee = f(&r["knee"]["rate"]);
    assert!(knee > 0.8 * N, "knee {knee}");
    // The target saturating shows up as a finding with its numbers.
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|x| x["kind"] == "target_saturating"),
        "{findings:?}"
    );
    assert!(out.stdout.contains("capacity     "), "{out:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.contains("<svg"));
    assert!(!page.contains("<script") && !page.contains("<link"));
    assert!(took < Duration::from_secs(40), "took {took:?}");
}

#[test]
fn a_starved_generator_is_reported_as_the_limit_not_the_target() {
    // The target answers anything in 20 ms; two requests in flight allow ~100/s at most.
    let target = Target::delay(Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("capacity.json");
    let out = exec(&[
        "capacity",
        "--url",
        &target.url(),
        "--slo",
        "p99<500ms",
        "--max-in-flight",
        "2",
        "--start-rate",
        "40",
        "--factor",
        "2",
        "--hold",
        "1s",
        "--stabilize",
        "300ms",
        "--max-rate",
        "1000",
        "--max-levels",
        "6",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(3), "{out:?}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "generator_bound", "{out:?}");
    let g = &r["generator_limit"];
    let at = f(&g["rate"]);
    assert!((80.0..=320.0).contains(&at), "generator-bound at {at}/s");
    let reasons = g["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|x| x.as_str().unwrap().contains("dropped")),
        "{reasons:?}"
    );
    // No level blamed the target.
    for l in r["levels"].as_array().unwrap() {
        assert_ne!(l["verdict"], "fail", "{l}");
    }
    let last = r["levels"].as_array().unwrap().last().unwrap().clone();
    assert!(last["health"]["dropped"].as_u64().unwrap() > 0, "{last}");
    assert!(out.stdout.contains("GENERATOR-BOUND"), "{out:?}");
    assert!(
        out.stdout
            .contains("the generator, not the target, was the limit"),
        "{out:?}"
    );
    assert!(out.stdout.contains("--shard"), "{out:?}");
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["kind"] == "generator_bound"));
}

#[test]
fn exit_1_when_the_slo_fails_at_the_start_rate_and_2_on_bad_usage() {
    let target = Target::capacity(50.0);
    let out = exec(&[
        "capacity",
        "--url",
        &target.url(),
        "--slo",
        "p99<50ms",
        "--start-rate",
        "200",
        "--hold",
        "1s",
        "--stabilize",
        "200ms",
        "--timeout",
        "3s",
        "--quiet",
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stdout
            .contains("the SLOs already fail at the start rate 200.0 req/s"),
        "{out:?}"
    );
    let out = exec(&["capacity", "--url", &target.url(), "--slo", "p99<"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = exec(&["capacity", "--url", &target.url()]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("give at least one SLO"), "{out:?}");
    let out = exec(&[
        "capacity",
        "--url",
        &target.url(),
        "--slo",
        "p99<1s",
        "--factor",
        "0.5",
        "--precision",
        "150%",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("`--factor`: invalid factor 0.5"),
        "{out:?}"
    );
    assert!(out.stderr.contains("`--precision`"), "{out:?}");
}

#[test]
fn run_reports_findings_with_their_evidence() {
    // Starved generator: one request in flight against 20 ms answers at 100/s.
    let slow = Target::delay(Duration::from_millis(20));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = exec(&[
        "run",
        "--url",
        &slow.url(),
        "--rate",
        "100",
        "--duration",
        "2s",
        "--max-in-flight",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = read_json(&json);
    let findings = s["findings"].as_array().unwrap();
    let g = findings
        .iter()
        .find(|x| x["kind"] == "generator_bound")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(f(&g["evidence"]["dropped"]) >= 40.0, "{g}");
    assert_eq!(f(&g["evidence"]["dropped"]), f(&s["dropped"]));
    assert!(out.stdout.contains("[generator_bound]"), "{out:?}");

    // A queue growing at the target: 130/s offered to a target serving 100/s.
    let queue = Target::capacity(100.0);
    let out = exec(&[
        "run",
        "--url",
        &queue.url(),
        "--rate",
        "130",
        "--duration",
        "7s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = read_json(&json);
    let findings = s["findings"].as_array().unwrap();
    let sat = findings
        .iter()
        .find(|x| x["kind"] == "target_saturating")
        .unwrap_or_else(|| panic!("{findings:?}\n{out:?}"));
    let e = &sat["evidence"];
    assert!(f(&e["p50_late"]) > 2.0 * f(&e["p50_early"]), "{sat}");
    assert!((80.0..=120.0).contains(&f(&e["rps_late"])), "{sat}");
    assert!(
        findings.iter().all(|x| x["kind"] != "generator_bound"),
        "{findings:?}"
    );
}

/// GET /metrics from a daemon, as text (None until it answers).
fn scrape(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    // The body, after the response head.
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// The value of the series `name{profile="PROFILE"}` in a scrape, if it is there.
fn sample(text: &str, name: &str, profile: &str) -> Option<f64> {
    Scrape::parse(text).get(name, &[("profile", profile)])
}

#[test]
fn daemon_capacity_profile_exports_its_result() {
    let n = 200.0;
    let target = Target::capacity(n);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadtide.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[targets.api]
url = "http://{addr}"
timeout = "5s"

[[targets.api.endpoints]]
name = "home"
path = "/"

[profiles.nightly]
kind = "capacity"
target = "api"

[profiles.nightly.capacity]
slo = ["p99<150ms", "error_rate<1%"]
start_rate = 50
factor = 2
hold = "1s"
stabilize = "300ms"
max_rate = 1000
precision = "10%"
max_levels = 10
"#,
            addr = target.addr
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = assert_cmd::cargo::cargo_bin("loadtide");
    let _daemon = KillOnDrop(
        std::process::Command::new(bin)
            .args([
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--web.listen-address",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("LOADTIDE_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Some(t) = scrape(port) {
            if t.contains("loadtide_capacity_last_run_timestamp_seconds{") {
                break t;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no capacity result within 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let p = "nightly";
    let rps = sample(&text, "loadtide_capacity_rps", p).unwrap();
    assert!(
        (rps - n).abs() <= 0.2 * n,
        "capacity {rps}/s for a target serving {n}/s"
    );
    assert_eq!(
        sample(&text, "loadtide_capacity_generator_bound", p),
        Some(0.0)
    );
    let at = sample(&text, "loadtide_capacity_last_run_timestamp_seconds", p).unwrap();
    assert!(at > started && at < started + 60.0, "{at} vs {started}");
    // The levels' traffic is in the usual request metrics under the profile's name.
    assert!(text.contains(r#"loadtide_request_duration_seconds_count{endpoint="home",method="GET",profile="nightly",protocol="http",target="api"}"#));
}

/// Writes `body` as a config in `dir` and returns its path.
fn write_config(dir: &tempfile::TempDir, body: &str) -> String {
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

/// Writes a config with `[safety]` `safety`, one target `api` at `url` (endpoint `home`) and
/// one capacity profile `name` whose `[capacity]` table is `table`; returns its path.
fn write_capacity_config(
    dir: &tempfile::TempDir,
    safety: &str,
    url: &str,
    name: &str,
    table: &str,
) -> String {
    write_config(
        dir,
        &format!(
            "[safety]\n{safety}\n\n[targets.api]\nurl = \"{url}\"\n\n[[targets.api.endpoints]]\n\
             name = \"home\"\n\n[profiles.{name}]\nkind = \"capacity\"\ntarget = \"api\"\n\n\
             [profiles.{name}.capacity]\n{table}"
        ),
    )
}

#[test]
fn the_search_stops_at_safety_max_rate_with_the_profile_table_settings() {
    // A fast target that could take far more: only safety.max_rate (40) stops the search.
    // The table's settings differ from every CLI default, so the levels show whose they are.
    let target = Target::delay(Duration::from_millis(1));
    let dir = tempfile::tempdir().unwrap();
    let config = write_capacity_config(
        &dir,
        r#"allowed_hosts = ["127.0.0.1"]
max_rate = 40"#,
        &format!("http://{}", target.addr),
        "search",
        r#"slo = ["p99<2s"]
start_rate = 12.5
factor = 1.8
hold = "1s"
stabilize = "200ms"
max_rate = 5000
precision = "10%"
max_levels = 6
"#,
    );
    let json = dir.path().join("capacity.json");
    let out = exec(&[
        "capacity",
        "--config",
        &config,
        "--profile",
        "search",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "safety_limit", "{out:?}");
    assert_eq!(f(&r["capacity_rps"]), 40.0, "{out:?}");
    assert!(r["generator_limit"].is_null(), "{out:?}");
    let rates: Vec<f64> = r["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| f(&l["rate"]))
        .collect();
    assert_eq!(rates, [12.5, 22.5, 40.0], "{out:?}");
    for l in r["levels"].as_array().unwrap() {
        assert_eq!(l["verdict"], "pass", "{l}");
        assert_eq!(l["health"]["dropped"], 0, "{l}");
    }
    let s = &r["settings"];
    assert_eq!(f(&s["max_rate"]), 40.0);
    assert_eq!(f(&s["safety_max_rate"]), 40.0);
    assert_eq!(f(&s["hold_s"]), 1.0);
    assert_eq!(f(&s["stabilize_s"]), 0.2);
    assert_eq!(f(&s["precision"]), 0.1);
    assert!(
        out.stdout
            .contains("capacity is at least 40.0 req/s: every SLO held there; safety.max_rate stopped the search"),
        "{out:?}"
    );
    // A flag still overrides the table.
    let out = exec(&[
        "capacity",
        "--config",
        &config,
        "--profile",
        "search",
        "--quiet",
        "--start-rate",
        "40",
        "--hold",
        "500ms",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let r = read_json(&json);
    assert_eq!(r["levels"].as_array().unwrap().len(), 1, "{out:?}");
    assert_eq!(f(&r["settings"]["hold_s"]), 0.5);
    // Starting above the cap cannot work.
    let out = exec(&[
        "capacity",
        "--config",
        &config,
        "--profile",
        "search",
        "--start-rate",
        "50",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("`--start-rate`: start rate 50 is above safety.max_rate 40"),
        "{out:?}"
    );
}

#[test]
fn usage_errors_no_traffic() {
    // --allow-host, as for `run`: the target's host must be on the list.
    let out = exec(&[
        "capacity",
        "--url",
        "http://127.0.0.1:9/",
        "--allow-host",
        "api.example",
        "--slo",
        "p99<1s",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("`--url`: host \"127.0.0.1\" is not in safety.allowed_hosts (api.example)"),
        "{out:?}"
    );
    // Windowed and baseline SLOs cannot judge a level.
    let out = exec(&[
        "capacity",
        "--url",
        "http://127.0.0.1:9/",
        "--slo",
        "p99<1s over 1m",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("\"p99<1s over 1m\": a capacity SLO cannot use \"over\" windows"),
        "{out:?}"
    );
    // …nor when they are a profile's thresholds taken as the SLOs.
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        r#"
[targets.api]
url = "http://127.0.0.1:9"

[[targets.api.endpoints]]
name = "home"

[profiles.steady]
target = "api"
rate = 5
thresholds = ["p99<1s", "error_rate<1% over 30s"]
"#,
    );
    let out = exec(&["capacity", "--config", &config, "--profile", "steady"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(
            "`--slo`: the profile's threshold \"error_rate<1% over 30s\": a capacity SLO cannot use \"over\" windows"
        ),
        "{out:?}"
    );
    // A capacity table is validated as `serve` would: its search cannot start above the cap.
    let config = write_capacity_config(
        &dir,
        r#"max_rate = 40"#,
        "http://127.0.0.1:9",
        "search",
        r#"slo = ["p99<1s"]
start_rate = 50
"#,
    );
    let out = exec(&["capacity", "--config", &config, "--profile", "search"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(
            "`profiles.search.capacity.start_rate`: start_rate 50 is above safety.max_rate 40"
        ),
        "{out:?}"
    );
}

#[test]
fn a_cancelled_search_drops_the_level_in_progress_and_exits_1() {
    let target = Target::delay(Duration::from_millis(1));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("capacity.json");
    let bin = assert_cmd::cargo::cargo_bin("loadtide");
    let mut child = KillOnDrop(
        std::process::Command::new(bin)
            .args([
                "capacity",
                "--url",
                &target.url(),
                "--slo",
                "p99<1s",
                "--start-rate",
                "20",
                "--hold",
                "20s",
                "--stabilize",
                "0s",
                "--max-levels",
                "2",
                "--quiet",
                "--json",
                json.to_str().unwrap(),
            ])
            .env_remove("LOADTIDE_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The first level is under way (so the Ctrl-C handler is in place): interrupt it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while target.hits.load(Ordering::Relaxed) < 5 {
        assert!(std::time::Instant::now() < deadline, "no traffic in 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 15 s after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "cancelled", "{r}");
    assert_eq!(r["levels"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(f(&r["capacity_rps"]), 0.0);
}

#[test]
fn a_daemon_capacity_profile_stops_at_safety_max_rate_and_is_not_generator_bound() {
    let target = Target::delay(Duration::from_millis(1));
    let dir = tempfile::tempdir().unwrap();
    let config = write_capacity_config(
        &dir,
        r#"allowed_hosts = ["127.0.0.1"]
max_rate = 40"#,
        &format!("http://{}", target.addr),
        "nightly",
        r#"slo = ["p99<2s"]
start_rate = 10
hold = "1s"
stabilize = "200ms"
max_rate = 5000
max_levels = 6
"#,
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = assert_cmd::cargo::cargo_bin("loadtide");
    let _daemon = KillOnDrop(
        std::process::Command::new(bin)
            .args([
                "serve",
                "--config",
                &config,
                "--web.listen-address",
                &format!("127.0.0.1:{port}"),
            ])
            .env_remove("LOADTIDE_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Some(t) = scrape(port) {
            if t.contains("loadtide_capacity_last_run_timestamp_seconds{") {
                break t;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no capacity result within 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let p = "nightly";
    // 10, 20, 40: the cap, where every SLO still held.
    assert_eq!(sample(&text, "loadtide_capacity_rps", p), Some(40.0));
    assert_eq!(
        sample(&text, "loadtide_capacity_generator_bound", p),
        Some(0.0)
    );
}

#[test]
fn a_level_held_back_by_safety_max_in_flight_stops_the_search_below_it() {
    // The target answers in 40 ms, so safety.max_in_flight = 10 lets ~250/s through: 25/s
    // (1 in flight) and 100/s (4) pass cleanly, at 400/s (16 wanted) the cap refuses over a
    // third of the arrivals. The requests that got through still meet the SLO, but the
    // target never saw 400/s: the search stops there, below it, and blames no one.
    let target = Target::delay(Duration::from_millis(40));
    let dir = tempfile::tempdir().unwrap();
    let config = write_capacity_config(
        &dir,
        r#"allowed_hosts = ["127.0.0.1"]
max_in_flight = 10"#,
        &format!("http://{}", target.addr),
        "search",
        r#"slo = ["p99<2s"]
start_rate = 25
factor = 4
hold = "1s"
stabilize = "300ms"
max_rate = 2000
max_levels = 5
"#,
    );
    let json = dir.path().join("capacity.json");
    let out = exec(&[
        "capacity",
        "--config",
        &config,
        "--profile",
        "search",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "safety_limit", "{out:?}");
    assert!(r["generator_limit"].is_null(), "{out:?}");
    let levels = r["levels"].as_array().unwrap();
    // The search stopped at the first capped level, which is the highest it ran.
    let last = levels.last().unwrap();
    assert_eq!(last["verdict"], "safety_capped", "{out:?}");
    let capped_at = f(&last["rate"]);
    assert!(capped_at <= 400.0, "{out:?}");
    let h = &last["health"];
    assert_eq!(h["safety_cap"], "safety.max_in_flight", "{last}");
    assert!(f(&h["safety_drop_ratio"]) > 0.01, "{last}");
    assert_eq!(h["reasons"].as_array().unwrap().len(), 0, "{last}");
    // The capacity is the best clean pass, below the capped level.
    let passes: Vec<f64> = levels
        .iter()
        .filter(|l| l["verdict"] == "pass")
        .map(|l| f(&l["rate"]))
        .collect();
    let capacity = f(&r["capacity_rps"]);
    assert!(capacity > 0.0 && capacity < capped_at, "{out:?}");
    assert_eq!(Some(capacity), passes.iter().copied().reduce(f64::max));
    for l in levels {
        assert!(
            l["verdict"] == "pass" || l["verdict"] == "safety_capped",
            "{l}"
        );
    }
    assert!(
        !r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["kind"] == "generator_bound"),
        "{out:?}"
    );
    let message = r["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "safety.max_in_flight held back {:.0}% of arrivals at {capped_at:.1} req/s",
            f(&h["safety_drop_ratio"]) * 100.0
        )) && message.contains(&format!("capacity is at least {capacity:.1} req/s")),
        "{message}"
    );
    assert!(out.stdout.contains("SAFETY-CAPPED"), "{out:?}");
    assert!(!out.stdout.contains("GENERATOR-BOUND"), "{out:?}");
    // Bounded: three levels of 1.3 s at most 400/s.
    assert!(target.hits.load(Ordering::Relaxed) < 1_500);
}

#[test]
fn a_safety_max_rate_below_the_lowest_level_rate_is_refused() {
    // 0.05 req/s is a valid start rate and not above the cap, but levels run in steps of
    // 0.1 req/s: the ceiling rounds to 0, where nothing can be measured. The config is
    // refused at load, as `serve` and `check` refuse it.
    let dir = tempfile::tempdir().unwrap();
    let config = write_capacity_config(
        &dir,
        r#"max_rate = 0.05"#,
        "http://127.0.0.1:9",
        "search",
        r#"slo = ["p99<1s"]
start_rate = 0.05
"#,
    );
    let out = exec(&["capacity", "--config", &config, "--profile", "search"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(
            "`safety.max_rate`: max_rate 0.05 leaves capacity profile search a ceiling of 0 req/s, below the lowest level rate 0.1 req/s"
        ),
        "{out:?}"
    );
    // A start rate that rounds to 0 is refused as well.
    let out = exec(&[
        "capacity",
        "--url",
        "http://127.0.0.1:9/",
        "--slo",
        "p99<1s",
        "--start-rate",
        "0.04",
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("`--start-rate`: start_rate 0.04 rounds to 0"),
        "{out:?}"
    );
}
