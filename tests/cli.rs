//! The `loadtide` binary, end to end: exit codes, the text and JSON summaries, what reaches the
//! target, flags over config, `check` and `--help` (golden files under `tests/golden/`,
//! rewritten only with `UPDATE_GOLDEN=1`).
//!
//! Traffic only ever goes to servers started here on 127.0.0.1:0: the built-in demo target
//! (`loadtide::demo::run`), or a capture server that records every request it gets. Each run
//! is short (`--requests N` or `--duration 1s`), and every command has a hard timeout.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use common::cli::{f, read_json, KillOnDrop, Out};

mod common;

// ---------------------------------------------------------------------------------------------
// Local targets

/// A server on 127.0.0.1:0, running on its own tokio runtime's worker threads until dropped.
struct LocalServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// One request as the capture server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl LocalServer {
    fn runtime() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        (runtime, listener)
    }

    /// loadtide's built-in demo API: GET / (text), GET /api/items (JSON, 2–40 ms),
    /// POST /api/orders (201), GET /health.
    fn demo() -> Self {
        let (runtime, listener) = Self::runtime();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        runtime.spawn(loadtide::demo::run(listener, cancel.clone()));
        LocalServer {
            addr,
            cancel,
            runtime: Some(runtime),
            seen: Arc::default(),
        }
    }

    /// Answers 200 "ok" to everything and records method, path, headers and body.
    fn capture() -> Self {
        let (runtime, listener) = Self::runtime();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (stop, log) = (cancel.clone(), seen.clone());
        runtime.spawn(async move {
            loop {
                let stream = tokio::select! {
                    r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                    _ = stop.cancelled() => return,
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes());
                            log.lock().unwrap().push(Seen {
                                method: parts.method.to_string(),
                                path_and_query: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts.headers,
                                body: body.unwrap_or_default(),
                            });
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok\n"))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        LocalServer {
            addr,
            cancel,
            runtime: Some(runtime),
            seen,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the binary

fn loadtide() -> Command {
    common::cli::loadtide(Duration::from_secs(60))
}

fn exec(args: &[&str]) -> Out {
    exec_with(args, &[])
}

fn exec_with(args: &[&str], envs: &[(&str, &str)]) -> Out {
    common::cli::output(loadtide().args(args).envs(envs.iter().copied()))
}

#[track_caller]
fn assert_code(out: &Out, code: i32) {
    assert_eq!(out.code, Some(code), "{out:?}");
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("expected a count, got {v}"))
}

/// A config against `server` with no demo_target (so nothing binds a fixed port).
fn write_config(dir: &Path, server: &LocalServer) -> String {
    let path = dir.join("loadtide.toml");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"

[targets.local]
url = "{url}"
timeout = "5s"

[[targets.local.endpoints]]
name = "home"
path = "/"
weight = 1

[[targets.local.endpoints]]
name = "items"
path = "/api/items"
weight = 1

# Would run for an hour and 5 minutes on its own: the tests override its length with flags.
[profiles.long]
target = "local"
rate = 50
duration = "1h"
thresholds = ["error_rate<5%"]

[profiles.browsers]
target = "local"
endpoints = ["home"]
users = 2
duration = "5m"
"#,
        url = server.url("")
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn exit_0_when_thresholds_hold() {
    let demo = LocalServer::demo();
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/"),
        "--requests",
        "20",
        "--concurrency",
        "2",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "p99<5s",
        "--threshold",
        "requests>=20",
    ]);
    assert_code(&out, 0);
    assert!(!out.stdout.contains("FAILED"), "{out:?}");
}

#[test]
fn exit_1_when_a_threshold_fails_and_the_summary_says_which() {
    let demo = LocalServer::demo();
    // /api/items takes at least 2 ms, so p50 < 1µs cannot hold.
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/api/items"),
        "--requests",
        "10",
        "--concurrency",
        "2",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "p50<1us",
    ]);
    assert_code(&out, 1);
    let verdicts: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("PASSED") || l.contains("FAILED"))
        .collect();
    assert_eq!(verdicts.len(), 2, "{out:?}");
    assert!(
        verdicts[0].contains("PASSED") && verdicts[0].contains("error_rate<1%"),
        "{out:?}"
    );
    assert!(
        verdicts[1].contains("FAILED") && verdicts[1].contains("p50<1us"),
        "{out:?}"
    );
}

#[test]
fn exit_1_when_the_target_is_down_and_error_rate_is_bounded() {
    // A port nobody listens on: every request fails to connect, no traffic leaves the host.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let out = exec(&[
        "run",
        "--url",
        &format!("http://127.0.0.1:{port}/"),
        "--requests",
        "5",
        "--concurrency",
        "1",
        "--threshold",
        "error_rate<1%",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_code(&out, 1);
    let s = read_json(&json);
    assert_eq!(u(&s["requests"]), 5, "{s:#}");
    assert_eq!(u(&s["errors"]), 5, "{s:#}");
    assert_eq!(f(&s["error_rate"]), 1.0, "{s:#}");
    assert_eq!(u(&s["error_kinds"]["connect"]), 5, "{s:#}");
    assert!(s["status_codes"].as_object().unwrap().is_empty(), "{s:#}");
}

#[test]
fn exit_2_on_bad_usage() {
    let demo = LocalServer::demo();
    let url = demo.url("/");
    let cases: &[(&[&str], &str)] = &[
        (&["run"], "--url"),
        (
            &["run", "--url", &url, "--rate", "0", "-n", "1"],
            "`--rate`",
        ),
        (&["run", "--url", &url, "--rate=-3", "-n", "1"], "`--rate`"),
        (&["run", "--url", &url, "--bogus"], "--bogus"),
        (
            &["run", "--url", &url, "-n", "1", "--threshold", "p95=1s"],
            "`--threshold`",
        ),
        (
            &["run", "--url", &url, "-n", "1", "--threshold", "latency<1s"],
            "unknown metric",
        ),
        (
            &["run", "--url", &url, "--rate", "5", "--concurrency", "2"],
            "--concurrency",
        ),
        (
            &["run", "--url", &url, "-n", "1", "--duration", "soon"],
            "`--duration`",
        ),
        (&["run", "--url", &url, "-n", "0"], "`--requests`"),
        (
            &["run", "--url", &url, "-n", "1", "--header", "no-colon"],
            "`--header`",
        ),
        (
            &["run", "--url", &url, "-n", "1", "--method", "GE T"],
            "`--method`",
        ),
        (&["run", "--url", "ftp://127.0.0.1/", "-n", "1"], "`--url`"),
        (&["run", "--url", "127.0.0.1:9/", "-n", "1"], "`--url`"),
        (&["run", "--profile", "steady"], "--config"),
        (
            &["serve", "--web.listen-address", "not an address"],
            "--web.listen-address",
        ),
        (&["frobnicate"], "frobnicate"),
        (&[], "Usage"),
    ];
    for (args, mention) in cases {
        let out = exec(args);
        assert_eq!(out.code, Some(2), "loadtide {args:?}\n{out:?}");
        assert!(
            out.stderr.contains(mention),
            "loadtide {args:?}: stderr should mention {mention:?}\n{out:?}"
        );
        assert!(
            out.stdout.is_empty(),
            "loadtide {args:?}: no report\n{out:?}"
        );
    }
    assert!(demo.seen().is_empty());
}

#[test]
fn exit_2_on_a_bad_config_for_check_serve_and_run() {
    let bad = "tests/fixtures/config/bad/missing_url.toml";
    let expected = format!(
        "error: {}\n1 configuration error; nothing was started\n",
        std::fs::read_to_string("tests/fixtures/config/bad/missing_url.err")
            .unwrap()
            .trim_end()
    );
    for args in [
        &["check", "--config", bad][..],
        &[
            "serve",
            "--config",
            bad,
            "--web.listen-address",
            "127.0.0.1:0",
        ],
        &["run", "--config", bad, "--profile", "steady"],
    ] {
        let out = exec(args);
        assert_code(&out, 2);
        assert_eq!(out.stderr, expected, "loadtide {args:?}");
        assert!(out.stdout.is_empty(), "loadtide {args:?}\n{out:?}");
    }

    // All errors of a file, then the count.
    let out = exec(&[
        "check",
        "--config",
        "tests/fixtures/config/bad/many_errors.toml",
    ]);
    assert_code(&out, 2);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let errors = lines.iter().filter(|l| l.starts_with("error: ")).count();
    assert!(errors >= 10, "{out:?}");
    assert_eq!(
        lines.last().copied(),
        Some(format!("{errors} configuration errors; nothing was started").as_str()),
        "{out:?}"
    );

    // Missing file, and a profile that is not in the file.
    let out = exec(&[
        "check",
        "--config",
        "tests/fixtures/config/no-such-file.toml",
    ]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("cannot read config file"), "{out:?}");
    let out = exec(&[
        "run",
        "--config",
        "tests/fixtures/config/good/minimal.toml",
        "--profile",
        "nope",
    ]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains(r#"no profile "nope" (known: steady)"#),
        "{out:?}"
    );
}

#[test]
fn exit_3_when_serve_cannot_bind_the_metrics_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // No demo_target; the profile's target records anything it gets (it must get nothing).
    let target = LocalServer::capture();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &target);
    let out = exec(&["serve", "--config", &config, "--web.listen-address", &addr]);
    assert_code(&out, 3);
    assert!(out.stderr.contains("cannot listen on"), "{out:?}");
    assert!(out.stderr.contains(&addr), "{out:?}");
    assert!(
        target.seen().is_empty(),
        "no traffic before the port is bound"
    );
    drop(taken);
}

#[test]
fn exit_3_when_the_json_summary_cannot_be_written() {
    let demo = LocalServer::demo();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("no-such-dir").join("summary.json");
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/"),
        "--requests",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_code(&out, 3);
    assert!(
        out.stderr.contains("cannot write the JSON summary"),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Reports

/// `--report` HTML and Markdown and `--csv` files from one run: self-contained HTML with its
/// charts, Markdown tables, Locust-style CSV headers with one row per endpoint plus the aggregate,
/// and one history row per second.
#[test]
fn reports_html_markdown_and_csv_are_written() {
    let demo = LocalServer::demo();
    let dir = tempfile::tempdir().unwrap();
    let (html, md) = (dir.path().join("r.html"), dir.path().join("r.md"));
    let prefix = dir.path().join("lt");
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/api/items"),
        "--rate",
        "50",
        "--duration",
        "2s",
        "--threshold",
        "p99<5s",
        "--report",
        html.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
        "--csv",
        prefix.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("<svg").count(), 5, "{page}");
    assert!(page.contains("class=\"pass\">PASSED"));
    for needle in ["<script", "<link", "src=", "url("] {
        assert!(!page.contains(needle), "fetches {needle}");
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| requests | rps | errors |"), "{md}");
    assert!(md.contains("| `p99<5s` |"), "{md}");
    assert_markdown_tables_are_well_formed(&md, 3);
    let stats = std::fs::read_to_string(format!("{}_stats.csv", prefix.display())).unwrap();
    let lines: Vec<&str> = stats.lines().collect();
    const LOCUST_STATS: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
    assert_eq!(lines[0], LOCUST_STATS);
    assert_eq!(lines.len(), 3, "endpoint + Aggregated: {stats}");
    assert!(lines[1].starts_with("GET,default,100,0,"), "{stats}");
    assert!(lines[2].starts_with(",Aggregated,100,0,"), "{stats}");
    let history =
        std::fs::read_to_string(format!("{}_stats_history.csv", prefix.display())).unwrap();
    let rows: Vec<&str> = history.lines().collect();
    // Locust 2.x's `_stats_history.csv` header, written out here rather than taken from the
    // code, so a change to the code's constant cannot pass unnoticed.
    const LOCUST_HISTORY: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";
    assert_eq!(rows[0], LOCUST_HISTORY);
    assert!((2..=4).contains(&(rows.len() - 1)), "{history}");
    let header: Vec<&str> = rows[0].split(',').collect();
    let column = |row: &str, name: &str| -> String {
        let at = header.iter().position(|h| *h == name).unwrap();
        row.split(',').nth(at).unwrap().to_string()
    };
    for row in &rows[1..] {
        assert_eq!(row.split(',').count(), header.len(), "{row}");
        assert_eq!(column(row, "Name"), "Aggregated");
    }
    let last = rows.last().unwrap();
    assert_eq!(column(last, "Total Request Count"), "100", "{history}");
    assert_eq!(column(last, "Total Failure Count"), "0", "{history}");
    // A full second at 50/s has a median and a maximum, in whole milliseconds.
    let median: u64 = column(rows[1], "50%").parse().unwrap();
    let max: u64 = column(rows[1], "100%").parse().unwrap();
    assert!(median <= max, "{history}");

    let out = exec(&["run", "--url", &demo.url("/"), "--report", "r.pdf"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("use a .html or .md file name"),
        "{out:?}"
    );
}

/// Every Markdown table in `md` (runs of lines starting with `|`) has a separator row after
/// its header and as many cells in each row as in the header; at least `tables` of them.
fn assert_markdown_tables_are_well_formed(md: &str, tables: usize) {
    // Cells split on `|` not escaped as `\|`.
    let cells = |line: &str| line.replace("\\|", "").matches('|').count() - 1;
    let mut found = 0;
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with('|') {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && lines[i].starts_with('|') {
            i += 1;
        }
        let table = &lines[start..i];
        assert!(table.len() >= 3, "a table with no rows: {table:?}");
        let width = cells(table[0]);
        assert!(
            table[1]
                .split('|')
                .all(|c| c.trim().trim_matches([':', '-']).is_empty()),
            "no separator row: {table:?}"
        );
        for row in table {
            assert_eq!(cells(row), width, "{row} in {table:?}");
        }
        found += 1;
    }
    assert!(found >= tables, "{found} tables in {md}");
}

/// Windowed thresholds against a server that stalls once, for 0.4 s, 5 s after it starts:
/// over the whole run p95 stays low (the stalled requests are ~3% of the run), but in the
/// 2-second window where the stalled requests complete it is high, so the windowed threshold
/// fails (exit 1) and the text, JSON and HTML name that window. The 2 s warmup is left out of
/// the figures and the windows start after it. The stall's place in the run comes from the
/// wall clock (the summary's `started_at`), not from a guess at how fast the binary starts.
#[test]
fn a_windowed_threshold_fails_in_the_slow_window_while_the_whole_run_passes() {
    let stall = common::Stall {
        every: Duration::from_secs(3600),
        stall: Duration::from_millis(400),
        offset: Duration::from_secs(5),
    };
    let anchor = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let server = common::Script::new(common::Behavior::Ok)
        .stall(stall)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (json, html, md) = (
        dir.path().join("s.json"),
        dir.path().join("r.html"),
        dir.path().join("r.md"),
    );
    let out = exec(&[
        "run",
        "--url",
        &format!("{}/", server.url()),
        "--rate",
        "40",
        "--duration",
        "10s",
        "--warmup",
        "2s",
        "--threshold",
        "p95<100ms",
        "--threshold",
        "p95<100ms over 2s",
        "--threshold",
        "requests>=40 over 2s",
        "--json",
        json.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
        "--report",
        md.to_str().unwrap(),
    ]);
    assert_code(&out, 1);
    let s = read_json(&json);
    let t = &s["thresholds"];
    assert_eq!(t[0]["expr"], "p95<100ms");
    assert_eq!(t[0]["passed"], true, "whole run: {s:#}");
    assert!(t[0].get("windows").is_none(), "{s:#}");
    assert_eq!(t[1]["expr"], "p95<100ms over 2s");
    assert_eq!(t[1]["passed"], false, "{s:#}");
    assert_eq!(
        t[2]["passed"], true,
        "40 rps: 80 requests in every window: {s:#}"
    );
    assert_eq!(f(&s["warmup_s"]), 2.0);

    // Windows of 2 s from the end of the warmup: [2,4) [4,6) [6,8) [8,10).
    let windows = t[1]["windows"].as_array().unwrap();
    let spans: Vec<(f64, f64)> = windows
        .iter()
        .map(|w| (f(&w["start_s"]), f(&w["end_s"])))
        .collect();
    assert_eq!(
        spans[..4],
        [(2.0, 4.0), (4.0, 6.0), (6.0, 8.0), (8.0, 10.0)],
        "{s:#}"
    );
    // The stalled requests are answered when the stall ends: that second of the run is in
    // the one failing window.
    let stall_end = anchor + 5.4 - f(&s["started_at"]);
    let failing: Vec<&Value> = windows.iter().filter(|w| w["passed"] == false).collect();
    assert_eq!(failing.len(), 1, "stall ends at {stall_end:.2} s: {s:#}");
    let (start, end) = (f(&failing[0]["start_s"]), f(&failing[0]["end_s"]));
    assert!(
        start <= stall_end + 0.1 && stall_end - 0.1 < end,
        "stall ends at {stall_end:.2} s, failing window {start}–{end}: {s:#}"
    );
    assert_eq!(f(&t[1]["value"]), f(&failing[0]["value"]), "worst window");
    assert!(f(&t[1]["value"]) >= 0.1, "{s:#}");
    let span = format!("{start:.0}–{end:.0} s");
    assert!(
        out.stdout.contains(&format!("failing windows: {span}")),
        "{out:?}"
    );

    // The timeline has the new series: intended rate 40/s, latency max >= p99, in flight.
    let timeline = s["timeline"].as_array().unwrap();
    assert!(timeline.len() >= 10, "{s:#}");
    for r in &timeline[1..9] {
        assert!((f(&r["intended_rps"]) - 40.0).abs() < 1e-6, "{r}");
        assert!(
            f(&r["max"]) >= f(&r["p99"]) && f(&r["p99"]) >= f(&r["p90"]),
            "{r}"
        );
    }
    let stalled = (stall_end - 0.4).floor() as usize..=stall_end.floor() as usize;
    let most = timeline[stalled]
        .iter()
        .map(|r| u(&r["in_flight"]))
        .max()
        .unwrap();
    assert!(most >= 2, "requests pile up in the stall: {s:#}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(&format!("data-start=\"{start}\" data-end=\"{end}\"")),
        "failing window row"
    );
    assert_eq!(
        page.matches("class=\"band\"").count(),
        4,
        "one band per time chart"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains(&format!("- `p95<100ms over 2s` failed in 1 window: {span}")),
        "{md}"
    );
}

#[test]
fn bad_windows_and_warmups_are_usage_errors() {
    let demo = LocalServer::demo();
    let url = demo.url("/");
    for (args, message) in [
        (
            vec!["--threshold", "p95<1s over 500ms"],
            "must be a whole number of seconds, at least 1s",
        ),
        (
            vec!["--threshold", "p95<1s over"],
            "`over` needs a window length",
        ),
        (
            vec!["--warmup", "5s", "--duration", "2s"],
            "is not shorter than the run",
        ),
        (vec!["--warmup", "soon"], "--warmup"),
    ] {
        let mut all = vec!["run", "--url", url.as_str()];
        all.extend(args.iter().copied());
        let out = exec(&all);
        assert_code(&out, 2);
        assert!(out.stderr.contains(message), "{message}: {out:?}");
    }
}

/// `--baseline`: deltas in the text and the reports, and thresholds relative to the baseline
/// that pass or fail on the numbers (exit 1), or are a usage error without a baseline (exit 2).
#[test]
fn baseline_thresholds_and_deltas() {
    let demo = LocalServer::demo();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let url = demo.url("/api/items");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--url", &url, "--rate", "40", "--duration", "1s"];
        args.extend_from_slice(extra);
        exec(&args)
    };
    assert_code(&run(&["--json", base.to_str().unwrap()]), 0);
    let md = dir.path().join("r.md");
    let html = dir.path().join("r.html");
    let out = run(&[
        "--baseline",
        base.to_str().unwrap(),
        "--threshold",
        "p99<baseline*100",
        "--threshold",
        "requests<=baseline*1.5",
        "--report",
        md.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("vs baseline p95"), "{out:?}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.contains("| vs baseline | baseline | this run | change |"),
        "{md}"
    );
    // The HTML has the same four rows, in a table of its own.
    let html = std::fs::read_to_string(&html).unwrap();
    let table = html
        .split("<h2>Compared with the baseline</h2>")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .unwrap_or_else(|| panic!("no baseline table in the HTML report"));
    for figure in ["p95", "p99", "error rate", "rps"] {
        assert!(
            table.contains(&format!("<tr><td>{figure}</td>")),
            "{figure} missing: {table}"
        );
    }
    // Throughput ten times the baseline's cannot be met: exit 1.
    let out = run(&[
        "--baseline",
        base.to_str().unwrap(),
        "--threshold",
        "rps>baseline*10",
    ]);
    assert_code(&out, 1);
    let out = run(&["--threshold", "p95<baseline*1.1"]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("give --baseline PATH.json"), "{out:?}");
}

#[test]
fn json_summary_has_the_design_fields_and_consistent_values() {
    let demo = LocalServer::demo();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let n = 30;
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/api/items"),
        "--requests",
        &n.to_string(),
        "--concurrency",
        "3",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "p99 < 5s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let s = read_json(&json);

    for key in [
        "requests",
        "errors",
        "error_rate",
        "rps",
        "duration_s",
        "latency",
        "status_codes",
        "error_kinds",
        "endpoints",
        "thresholds",
        "timeline",
    ] {
        assert!(s.get(key).is_some(), "missing {key:?} in {s:#}");
    }
    assert_eq!(u(&s["requests"]), n, "{s:#}");
    assert_eq!(u(&s["errors"]), 0, "{s:#}");
    assert_eq!(f(&s["error_rate"]), 0.0, "{s:#}");
    assert_eq!(u(&s["status_codes"]["200"]), n, "{s:#}");
    assert_eq!(s["status_codes"].as_object().unwrap().len(), 1, "{s:#}");
    assert!(s["error_kinds"].as_object().unwrap().is_empty(), "{s:#}");

    let duration = f(&s["duration_s"]);
    let rps = f(&s["rps"]);
    assert!(duration > 0.0 && duration < 30.0, "{s:#}");
    assert!(
        (rps - n as f64 / duration).abs() < 1e-6 * rps.max(1.0),
        "rps is requests / duration_s: {s:#}"
    );

    // Seconds, ordered, and within what the demo's /api/items can take (2–40 ms plus noise).
    let l = &s["latency"];
    let stats: Vec<f64> = ["min", "p50", "p90", "p95", "p99", "p999", "max"]
        .iter()
        .map(|k| f(&l[*k]))
        .collect();
    assert!(stats.windows(2).all(|w| w[0] <= w[1]), "ordered: {l:#}");
    let mean = f(&l["mean"]);
    assert!(stats[0] <= mean && mean <= stats[6], "{l:#}");
    assert!(stats[0] >= 0.0015, "min below the demo's 2 ms floor: {l:#}");
    assert!(stats[6] < 5.0, "latency is in seconds: {l:#}");

    let endpoints = s["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{s:#}");
    let e = &endpoints[0];
    assert_eq!(e["method"], "GET", "{s:#}");
    assert_eq!(u(&e["requests"]), n, "{s:#}");
    assert_eq!(u(&e["errors"]), 0, "{s:#}");
    assert_eq!(u(&e["status_codes"]["200"]), n, "{s:#}");
    assert_eq!(e["latency"], s["latency"], "one endpoint: same latency");

    let thresholds = s["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 2, "{s:#}");
    assert_eq!(thresholds[0]["expr"], "error_rate<1%");
    assert_eq!(f(&thresholds[0]["value"]), 0.0);
    assert_eq!(thresholds[0]["passed"], true);
    assert_eq!(thresholds[1]["expr"], "p99<5s", "normalised expression");
    let p99 = f(&thresholds[1]["value"]);
    assert!(p99 > 0.0 && p99 <= stats[6], "{s:#}");
    assert_eq!(thresholds[1]["passed"], true);

    // Every request lands in exactly one second of the timeline.
    let timeline = s["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty(), "{s:#}");
    let total: u64 = timeline.iter().map(|r| u(&r["requests"])).sum();
    assert_eq!(total, n, "{s:#}");
    for row in timeline {
        for key in ["rps", "p50", "p99", "errors"] {
            assert!(
                row.get(key).is_some(),
                "timeline row without {key:?}: {row}"
            );
        }
    }

    // The text summary says the same.
    assert!(out.stdout.contains("loadtide summary"), "{out:?}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("requests") && l.contains(&n.to_string())),
        "{out:?}"
    );
    assert!(out.stdout.contains(&format!("200: {n}")), "{out:?}");
}

#[test]
fn piped_output_has_no_progress_bar_or_escape_codes() {
    let demo = LocalServer::demo();
    let out = exec(&[
        "run",
        "--url",
        &demo.url("/"),
        "--duration",
        "1s",
        "--rate",
        "20",
        "--threshold",
        "error_rate<1%",
    ]);
    assert_code(&out, 0);
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains('\x1b'), "ANSI escape on {name}\n{out:?}");
        assert!(
            !text.contains('\r'),
            "carriage return (progress) on {name}\n{out:?}"
        );
        assert!(!text.contains(" left "), "progress bar on {name}\n{out:?}");
    }
    assert!(out.stdout.contains("PASSED"), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// What reaches the target

#[test]
fn headers_and_query_reach_the_target() {
    let target = LocalServer::capture();
    let out = exec(&[
        "run",
        "--url",
        &target.url("/echo?x=1&y=two"),
        "--header",
        "X-Test: 1",
        "-H",
        "x-other:   spaced out  ",
        "--requests",
        "3",
        "--concurrency",
        "1",
    ]);
    assert_code(&out, 0);
    let seen = target.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}\n{out:?}");
    for r in &seen {
        assert_eq!(r.method, "GET");
        assert_eq!(r.path_and_query, "/echo?x=1&y=two");
        assert_eq!(r.headers["x-test"], "1", "{r:#?}");
        assert_eq!(r.headers["x-other"], "spaced out", "{r:#?}");
        assert_eq!(r.headers["host"], target.addr.to_string(), "{r:#?}");
        assert!(r.body.is_empty());
    }
}

#[test]
fn method_and_body_reach_the_target() {
    let target = LocalServer::capture();
    let out = exec(&[
        "run",
        "--url",
        &target.url("/orders"),
        "--method",
        "POST",
        "--body",
        "abc",
        "--requests",
        "2",
        "--concurrency",
        "1",
    ]);
    assert_code(&out, 0);
    let seen = target.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}\n{out:?}");
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path_and_query, "/orders");
        assert_eq!(r.body.as_ref(), b"abc");
        assert_eq!(r.headers["content-length"], "3", "{r:#?}");
    }

    // --body-file, and a lowercase method.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, br#"{"item": 7}"#).unwrap();
    let target = LocalServer::capture();
    let out = exec(&[
        "run",
        "--url",
        &target.url("/orders"),
        "--method",
        "put",
        "--body-file",
        file.to_str().unwrap(),
        "--requests",
        "1",
        "--concurrency",
        "1",
    ]);
    assert_code(&out, 0);
    let seen = target.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}\n{out:?}");
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].body.as_ref(), br#"{"item": 7}"#);
}

// ---------------------------------------------------------------------------------------------
// Config and flags

#[test]
fn run_from_config_with_flags_overriding_the_file() {
    let demo = LocalServer::demo();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &demo);
    let json = dir.path().join("summary.json");
    // The file says one hour; --requests 20 replaces that. Thresholds add up: file and flag.
    let out = exec(&[
        "run",
        "--config",
        &config,
        "--profile",
        "long",
        "--requests",
        "20",
        "--threshold",
        "requests>=20",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let s = read_json(&json);
    assert_eq!(u(&s["requests"]), 20, "{s:#}");
    assert!(f(&s["duration_s"]) < 30.0, "{s:#}");
    let names: Vec<&str> = s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["home", "items"], "{s:#}");
    let per_endpoint: u64 = s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| u(&e["requests"]))
        .sum();
    assert_eq!(per_endpoint, 20, "{s:#}");
    let exprs: Vec<&str> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    assert_eq!(exprs, ["error_rate<5%", "requests>=20"], "{s:#}");

    // --duration replaces the file's length too, and --rate turns a closed profile open.
    let out = exec(&[
        "run",
        "--config",
        &config,
        "--profile",
        "browsers",
        "--rate",
        "10",
        "--duration",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    let s = read_json(&json);
    let d = f(&s["duration_s"]);
    assert!((0.9..10.0).contains(&d), "{s:#}");
    let requests = u(&s["requests"]);
    assert!((5..=15).contains(&requests), "about 10/s for 1s: {s:#}");

    // Environment variables set flags as well (LOADTIDE_REQUESTS is --requests).
    let out = exec_with(
        &["run", "--profile", "long", "--json", json.to_str().unwrap()],
        &[("LOADTIDE_CONFIG", &config), ("LOADTIDE_REQUESTS", "7")],
    );
    assert_code(&out, 0);
    assert_eq!(u(&read_json(&json)["requests"]), 7);
}

#[test]
fn check_lines_up_each_profiles_endpoints_whatever_their_methods() {
    // TRANSACTION, SERVER_STREAMING and long SQL or stream descriptions included.
    for example in ["postgres", "grpc"] {
        let path = format!("config/examples/{example}.toml");
        let out = exec(&["check", "--config", &path]);
        assert_code(&out, 0);
        let lines: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("  endpoint "))
            .collect();
        assert!(lines.len() > 2, "{path}: {out:?}");
        // The method starts in the same column on every line ("  endpoint NAME METHOD"),
        // and the lines, which end with the share, are as long.
        let method_column = |l: &str| {
            let after_name = 11 + l[11..].find(' ').unwrap();
            after_name + l[after_name..].find(|c: char| c != ' ').unwrap()
        };
        for l in &lines {
            assert_eq!(
                (method_column(l), l.chars().count(), l.ends_with('%')),
                (method_column(lines[0]), lines[0].chars().count(), true),
                "{path}:\n{}",
                lines.join("\n")
            );
        }
    }
}

#[test]
fn check_prints_every_profile() {
    let out = exec(&["check", "--config", "config/loadtide.toml"]);
    assert_code(&out, 0);
    assert!(
        out.stdout.starts_with("config/loadtide.toml: OK\n"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("profile steady: open model, 20 req/s, max 200 in flight, until stopped"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(
            "profile browsers: closed model, 2 users, spawning 10/s, think 500ms–2s, until stopped"
        ),
        "{out:?}"
    );
    assert!(out.stdout.contains("threshold p95<250ms"), "{out:?}");

    // The default path is the bundled config.
    let default = exec(&["check"]);
    assert_code(&default, 0);
    assert_eq!(default.stdout, out.stdout);

    let out = exec(&[
        "check",
        "--config",
        "tests/fixtures/config/good/closed_model.toml",
    ]);
    assert_code(&out, 0);
    assert!(
        out.stdout.contains(
            "profile browse: closed model, 3 users, spawning 10/s, think 200ms–800ms, for 1m 30s or 1000 requests"
        ),
        "{out:?}"
    );
    assert!(out.stdout.contains("endpoint list_items"), "{out:?}");
    assert!(
        !out.stdout.contains("endpoint create_order"),
        "only the profile's endpoints: {out:?}"
    );
    let profiles = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("profile "))
        .count();
    assert_eq!(profiles, 1, "{out:?}");

    let out = exec(&["check", "--config", "tests/fixtures/config/good/full.toml"]);
    assert_code(&out, 0);
    for p in [
        "profile pinger: closed model, 1 users",
        "profile steady: open model, 12.5 req/s",
    ] {
        assert!(out.stdout.contains(p), "{p:?} in {out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// healthcheck

/// A 127.0.0.1 port that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn healthcheck_exit_codes() {
    // 2xx: exit 0, one GET of exactly the URL's path.
    let ok = LocalServer::capture();
    let out = exec(&["healthcheck", "--url", &ok.url("/-/healthy")]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("HTTP 200 OK"), "{out:?}");
    let seen = ok.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path_and_query.as_str()),
        ("GET", "/-/healthy")
    );
    assert_eq!(seen[0].headers["host"], ok.addr.to_string());

    // Not 2xx: exit 1, with the status and the body's first line.
    let demo = LocalServer::demo();
    let out = exec(&["healthcheck", "--url", &demo.url("/nope")]);
    assert_code(&out, 1);
    assert!(
        out.stderr.contains("HTTP 404 Not Found: not found"),
        "{out:?}"
    );

    // Nothing listening: exit 1.
    let url = format!("http://127.0.0.1:{}/-/healthy", closed_port());
    let out = exec(&["healthcheck", "--url", &url]);
    assert_code(&out, 1);
    assert!(out.stderr.contains("cannot connect"), "{out:?}");

    // Connected but never answered (the kernel accepts into the backlog; nobody reads):
    // exit 1 once --timeout is up.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/-/healthy", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let out = exec(&["healthcheck", "--url", &url, "--timeout", "300ms"]);
    assert_code(&out, 1);
    assert!(out.stderr.contains("no answer within 300ms"), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(silent);

    // Bad URL or timeout: usage error, nothing sent.
    for args in [
        &["healthcheck", "--url", "ftp://127.0.0.1:9632/-/healthy"][..],
        &["healthcheck", "--url", "127.0.0.1:9632"],
        &["healthcheck", "--url", "not a url"],
        &["healthcheck", "--timeout", "soon"],
    ] {
        let out = exec(args);
        assert_code(&out, 2);
    }
}

/// What the container HEALTHCHECK does, against a real daemon: unhealthy before it listens,
/// healthy (and ready) once it serves, unhealthy again after it stopped.
#[test]
fn healthcheck_against_a_running_daemon() {
    use assert_cmd::cargo::CommandCargoExt as _;

    let target = LocalServer::capture();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &target);
    let listen = format!("127.0.0.1:{}", closed_port());
    let healthy = format!("http://{listen}/-/healthy");
    let ready = format!("http://{listen}/-/ready");

    let out = exec(&["healthcheck", "--url", &healthy]);
    assert_code(&out, 1);

    let mut cmd = std::process::Command::cargo_bin("loadtide").unwrap();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .args([
            "serve",
            "--config",
            &config,
            "--web.listen-address",
            &listen,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = KillOnDrop(child);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = exec(&["healthcheck", "--url", &healthy]);
    while last.code != Some(0) && std::time::Instant::now() < deadline {
        assert!(
            daemon.0.try_wait().unwrap().is_none(),
            "serve exited early: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        last = exec(&["healthcheck", "--url", &healthy]);
    }
    assert_code(&last, 0);
    assert!(last.stdout.contains("/-/healthy: HTTP 200 OK"), "{last:?}");
    let mut out = exec(&["healthcheck", "--url", &ready]);
    while out.code != Some(0) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        out = exec(&["healthcheck", "--url", &ready]);
    }
    assert_code(&out, 0);

    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    let out = exec(&["healthcheck", "--url", &healthy]);
    assert_code(&out, 1);
}

// ---------------------------------------------------------------------------------------------
// Help text goldens

fn golden(name: &str, actual: &str) {
    let path = Path::new("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all("tests/golden").unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); UPDATE_GOLDEN=1 writes it. Actual:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}--- actual\n{actual}",
        path.display()
    );
}

/// The timetable of scheduled profiles as of a fixed instant: schedules, next activations
/// (cron in Europe/Berlin at 02:00 local is 01:00 UTC in winter) and the 24-hour charts.
#[test]
fn check_shows_the_timetable_at_a_given_instant() {
    let out = exec(&[
        "check",
        "--config",
        "tests/fixtures/config/good/schedules.toml",
        "--at",
        "2026-11-23T08:10:00Z",
    ]);
    assert_code(&out, 0);
    golden("check_schedules.txt", &out.stdout);
    assert!(out.stdout.contains(
        "idle now; next starts: 2026-11-24T01:00:00Z, 2026-11-25T01:00:00Z, 2026-11-26T01:00:00Z"
    ));
}

#[test]
fn help_matches_the_goldens() {
    for (args, file) in [
        (&["--help"][..], "help.txt"),
        (&["run", "--help"], "help_run.txt"),
        (&["serve", "--help"], "help_serve.txt"),
        (&["check", "--help"], "help_check.txt"),
        (&["merge", "--help"], "help_merge.txt"),
        (&["healthcheck", "--help"], "help_healthcheck.txt"),
    ] {
        let out = exec(args);
        assert_code(&out, 0);
        golden(file, &out.stdout);
    }
}

#[test]
fn env_overlays_merge_over_the_base_and_check_names_what_they_set() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("loadtide.toml");
    std::fs::write(
        &base,
        "[safety]\nallowed_hosts = [\"127.0.0.1\"]\nmax_rate = 100\n\
         [targets.api]\nurl = \"http://127.0.0.1:9\"\n\
         [[targets.api.endpoints]]\nname = \"home\"\npath = \"/\"\n\
         [profiles.steady]\ntarget = \"api\"\nrate = 10\n",
    )
    .unwrap();
    let overlay = |env: &str, text: &str| {
        std::fs::write(dir.path().join(format!("loadtide.{env}.toml")), text).unwrap()
    };
    overlay(
        "staging",
        "[profiles.steady]\nrate = 50\n[safety]\nmax_rate = 500\n",
    );
    overlay("bad", "[profiles.steady]\nrate = -1\n");
    overlay("typo", "[profiles.steady]\nrat = 5\n");
    let b = base.to_str().unwrap();

    let plain = exec(&["check", "--config", b]);
    assert_code(&plain, 0);
    assert!(plain.stdout.contains("open model, 10 req/s"), "{plain:?}");
    assert!(!plain.stdout.contains("overlay"), "{plain:?}");

    let staging = exec(&["check", "--config", b, "--env", "staging"]);
    assert_code(&staging, 0);
    assert!(
        staging.stdout.contains("open model, 50 req/s"),
        "{staging:?}"
    );
    let file = dir.path().join("loadtide.staging.toml");
    assert!(
        staging.stdout.contains(&format!(
            "overlay {}: sets 2 keys\n  profiles.steady.rate\n  safety.max_rate\n",
            file.display()
        )),
        "{staging:?}"
    );
    // LOADTIDE_ENV does the same, as in a systemd unit or a container.
    let from_env = exec_with(&["check", "--config", b], &[("LOADTIDE_ENV", "staging")]);
    assert_eq!(from_env.stdout, staging.stdout);

    // A value the overlay set is blamed on the overlay, with its key.
    let bad = exec(&["check", "--config", b, "--env", "bad"]);
    assert_code(&bad, 2);
    let bad_file = dir.path().join("loadtide.bad.toml");
    assert!(
        bad.stderr.contains(&format!(
            "{}: `profiles.steady.rate`: invalid rate -1",
            bad_file.display()
        )),
        "{bad:?}"
    );
    let typo = exec(&["check", "--config", b, "--env", "typo"]);
    assert_code(&typo, 2);
    assert!(
        typo.stderr.contains(&format!(
            "{}: `profiles.steady.rat`: unknown key \"rat\"; did you mean \"rate\"?",
            dir.path().join("loadtide.typo.toml").display()
        )),
        "{typo:?}"
    );

    let missing = exec(&["check", "--config", b, "--env", "prod"]);
    assert_code(&missing, 2);
    assert!(
        missing.stderr.contains(&format!(
            "{}: cannot read the overlay of --env prod",
            dir.path().join("loadtide.prod.toml").display()
        )),
        "{missing:?}"
    );
    let odd = exec(&["check", "--config", b, "--env", "../etc/x"]);
    assert_code(&odd, 2);
    assert!(odd.stderr.contains("invalid --env \"../etc/x\""), "{odd:?}");
}

#[test]
fn init_writes_a_starter_that_checks_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("starter.toml");
    let p = path.to_str().unwrap();
    let out = exec(&[
        "init",
        "--config",
        p,
        "--url",
        "http://127.0.0.1:8080/health",
    ]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("wrote "), "{out:?}");
    let check = exec(&["check", "--config", p]);
    assert_code(&check, 0);
    assert!(
        check.stdout.contains("profile steady: open model, 5 req/s"),
        "{check:?}"
    );
    assert!(
        check.stdout.contains("allowed hosts: 127.0.0.1"),
        "{check:?}"
    );

    let before = std::fs::read_to_string(&path).unwrap();
    let again = exec(&["init", "--config", p]);
    assert_code(&again, 2);
    assert!(
        again
            .stderr
            .contains(&format!("{p}: already exists; not overwritten")),
        "{again:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    let redis = dir.path().join("redis.toml");
    let out = exec(&[
        "init",
        "--config",
        redis.to_str().unwrap(),
        "--url",
        "redis://127.0.0.1:6379",
    ]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("`--url`: init writes an HTTP starter"),
        "{out:?}"
    );
    assert!(!redis.exists());

    let man = exec(&["man"]);
    assert_code(&man, 0);
    assert!(man.stdout.contains(".SH \"LOADTIDE INIT\""), "man page");
    let fish = exec(&["completions", "fish"]);
    assert_code(&fish, 0);
    assert!(fish.stdout.contains("complete -c loadtide"), "{fish:?}");
}

#[test]
fn check_output_json_describes_profiles_or_lists_the_errors() {
    let out = exec(&["check", "--output", "json", "--at", "2026-12-07T10:05:00Z"]);
    assert_code(&out, 0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        (doc["ok"].as_bool(), doc["config"].as_str()),
        (Some(true), Some("config/loadtide.toml"))
    );
    let profiles = doc["profiles"].as_array().unwrap();
    let steady = profiles.iter().find(|p| p["name"] == "steady").unwrap();
    assert_eq!(steady["model"], "open", "{steady:#}");
    assert_eq!(steady["load"], "open model, 20 req/s, max 200 in flight");
    assert_eq!(steady["thresholds"][0], "p95<250ms", "{steady:#}");
    assert_eq!(steady["protocol"], "http");
    let shares: f64 = steady["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{steady:#}");
    // The text form's profiles, one for one.
    let text = exec(&["check"]);
    let listed = text
        .stdout
        .lines()
        .filter(|l| l.starts_with("profile "))
        .count();
    assert_eq!(profiles.len(), listed);
    // A scheduled profile's next starts are RFC 3339 instants after --at.
    let bursts = profiles.iter().find(|p| p["name"] == "bursts").unwrap();
    assert_eq!(
        bursts["next_starts"][0], "2026-12-07T10:10:00Z",
        "{bursts:#}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[targets.api]\nurl = \"ftp://x\"\ntimout = \"1s\"\n").unwrap();
    let out = exec(&[
        "check",
        "--output",
        "json",
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_code(&out, 2);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let keys: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"targets.api.timout"), "{doc:#}");
    let typo = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "targets.api.timout")
        .unwrap();
    assert!(
        typo["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"timeout\""),
        "{typo:#}"
    );
    assert_eq!(typo["file"], bad.to_str().unwrap());
}
