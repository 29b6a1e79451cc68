//! Issue 7: a secret never appears in any output. One canary string is used as every kind of
//! secret loadtide accepts (a `-H` header, a query token, a config header, a scenario secret
//! from the environment, URL credentials that must be refused) and every output is searched
//! for it: `check`, `run` (stdout, stderr at debug level, JSON, HTML, Markdown, CSV),
//! `capacity` (JSON, HTML), and the daemon (its log, /metrics, a failed reload's 500 body).
//! The target counts the requests that carried the canary, so the test fails if the secret was
//! simply not used. Loads are bounded in time and count; the daemon is killed by a Drop guard;
//! all traffic stays on 127.0.0.1.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::cli::{loadtide, output, Out};
use common::{Behavior, Script, TestServer};

/// Unique enough that a hit can only be a leak.
const CANARY: &str = "cnry-5ec7e7-q9z";
const ENV: &str = "LT_SECRETS_TEST_TOKEN";

/// Every output gathered so far, by name, for the final search.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn add(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.0.push((name.into(), text.into()));
    }

    fn out(&mut self, name: &str, out: &Out) {
        self.add(format!("{name} stdout"), out.stdout.clone());
        self.add(format!("{name} stderr"), out.stderr.clone());
    }

    fn file(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()));
        assert!(!text.is_empty(), "{} is empty", path.display());
        self.add(path.display().to_string(), text);
    }

    fn assert_no_canary(&self) {
        let leaks: Vec<String> = self
            .0
            .iter()
            .filter(|(_, text)| text.contains(CANARY))
            .map(|(name, text)| {
                let line = text.lines().find(|l| l.contains(CANARY)).unwrap_or("");
                format!("{name}: {line}")
            })
            .collect();
        assert!(
            leaks.is_empty(),
            "the secret leaked into:\n{}",
            leaks.join("\n")
        );
    }
}

/// A config with a secret header on the target and a scenario whose bearer token comes from
/// the environment; `hdr` is bounded for `run`, the daemon runs it until killed.
fn config(addr: SocketAddr, bounded: bool) -> String {
    let limit = if bounded { "duration = \"1s\"" } else { "" };
    let scn_limit = if bounded { "requests = 5" } else { "" };
    format!(
        r#"
[targets.app]
url = "http://{addr}"
headers = {{ "X-Api-Key" = "{CANARY}" }}

[[targets.app.endpoints]]
name = "data"
path = "/data?api_key={CANARY}"

[scenarios.s]
target = "app"
secrets.token = {{ env = "{ENV}" }}
auth = {{ bearer = "{{{{ secrets.token }}}}" }}

[[scenarios.s.steps]]
name = "step"
path = "/step"

[profiles.hdr]
target = "app"
rate = 10
{limit}

[profiles.scn]
scenario = "s"
users = 1
{scn_limit}
"#
    )
}

fn run(dir: &Path, name: &str, args: &[&str]) -> (Out, Vec<PathBuf>) {
    let p = |ext: &str| dir.join(format!("{name}.{ext}"));
    let csv = dir.join(name).display().to_string();
    let (json, html, md) = (p("json"), p("html"), p("md"));
    let mut cmd = loadtide(Duration::from_secs(60));
    cmd.env(ENV, CANARY)
        .args(["--log-level", "debug", "run"])
        .args(args)
        .args(["--json", json.to_str().unwrap()])
        .args(["--report", html.to_str().unwrap()])
        .args(["--report", md.to_str().unwrap()])
        .args(["--csv", &csv]);
    let files = vec![
        json,
        html,
        md,
        PathBuf::from(format!("{csv}_stats.csv")),
        PathBuf::from(format!("{csv}_stats_history.csv")),
    ];
    (output(&mut cmd), files)
}

#[test]
fn no_output_contains_a_secret() {
    let server = Script::new(Behavior::Ok).watch(CANARY).start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, config(server.addr(), true)).unwrap();
    let cfg = cfg.to_str().unwrap();
    let mut outs = Outputs::default();

    let out = output(
        loadtide(Duration::from_secs(30))
            .env(ENV, CANARY)
            .args(["check", "--config", cfg]),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    outs.out("check", &out);

    // Ad hoc: a -H header and a query token, both sent.
    let before = server.watched();
    let url = format!("{}/data?access_token={CANARY}&page=1", server.url());
    let header = format!("Authorization: Bearer {CANARY}");
    let (out, files) = run(
        dir.path(),
        "adhoc",
        &[
            "--url",
            &url,
            "-H",
            &header,
            "--duration",
            "1s",
            "--rate",
            "20",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(server.watched() > before, "the ad hoc run sent no canary");
    outs.out("run --url", &out);
    files.iter().for_each(|f| outs.file(f));
    // The report still records the command, redacted.
    let md = std::fs::read_to_string(&files[2]).unwrap();
    assert!(
        md.contains("-H Authorization: <redacted>")
            && md.contains("access_token=<redacted>&page=1"),
        "{md}"
    );

    // From the config: the target's header, then the scenario's secret.
    for profile in ["hdr", "scn"] {
        let before = server.watched();
        let (out, files) = run(
            dir.path(),
            profile,
            &["--config", cfg, "--profile", profile],
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            server.watched() > before,
            "profile {profile} sent no canary"
        );
        outs.out(&format!("run --profile {profile}"), &out);
        files.iter().for_each(|f| outs.file(f));
    }

    // Credentials in a URL are refused (they would not be sent), without being echoed.
    let creds = format!("http://user:{CANARY}@{}/data", server.addr());
    let out = output(loadtide(Duration::from_secs(30)).args(["run", "--url", &creds, "-n", "1"]));
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("credentials in a URL are not sent"),
        "{out:?}"
    );
    outs.out("run --url user:pass@", &out);

    // A short, bounded capacity search.
    let before = server.watched();
    let (json, html) = (dir.path().join("cap.json"), dir.path().join("cap.html"));
    let out = output(loadtide(Duration::from_secs(60)).args([
        "capacity",
        "--url",
        &url,
        "-H",
        &header,
        "--slo",
        "p99<500ms",
        "--start-rate",
        "20",
        "--factor",
        "2",
        "--hold",
        "500ms",
        "--stabilize",
        "200ms",
        "--max-rate",
        "40",
        "--max-levels",
        "2",
        "--json",
        json.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]));
    assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
    assert!(server.watched() > before, "capacity sent no canary");
    outs.out("capacity", &out);
    outs.file(&json);
    outs.file(&html);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Authorization: &lt;redacted&gt;"), "{page}");

    daemon_outputs(&server, dir.path(), &mut outs);
    outs.assert_no_canary();
}

/// `serve` with the good config, then a reload whose bad values hold the canary.
fn daemon_outputs(server: &TestServer, dir: &Path, outs: &mut Outputs) {
    let d = Daemon::start(dir, &config(server.addr(), false));
    let before = server.watched();
    eventually("the daemon sends the canary", || {
        server.watched() > before + 5
    });
    outs.add("/metrics", d.http("GET", "/metrics").1);

    let bad = config(server.addr(), false)
        .replace(
            &format!("\"X-Api-Key\" = \"{CANARY}\""),
            &format!("\"X-Api-Key\" = \"{CANARY}\\nx\""),
        )
        .replace("url = \"http://", &format!("url = \"http://user:{CANARY}@"));
    assert_ne!(bad, config(server.addr(), false));
    std::fs::write(&d.config, bad).unwrap();
    let check = output(
        loadtide(Duration::from_secs(30))
            .env(ENV, CANARY)
            .arg("check")
            .arg("--config")
            .arg(&d.config),
    );
    assert_eq!(check.code, Some(2), "{check:?}");
    assert!(check.stderr.contains("X-Api-Key"), "{check:?}");
    outs.out("check (bad)", &check);

    let (status, body) = d.http("POST", "/-/reload");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("headers.X-Api-Key"),
        "the 500 names the key: {body}"
    );
    outs.add("/-/reload 500 body", body);
    // And by SIGHUP, which only logs.
    let ok = Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    eventually("both failed reloads are counted", || {
        d.http("GET", "/metrics")
            .1
            .lines()
            .any(|l| l.starts_with("loadtide_config_reloads_total{result=\"failure\"} 2"))
    });
    outs.add("/metrics after the reloads", d.http("GET", "/metrics").1);
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(
        log.contains("X-Api-Key"),
        "the log names the bad key:\n{log}"
    );
    assert!(log.contains("reload rejected"), "{log}");
    outs.add("daemon log", log);
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "not within 15 s: {what}");
        sleep(Duration::from_millis(50));
    }
}

/// `loadtide serve` with lifecycle endpoints on a free loopback port; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    config: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, config: &str) -> Daemon {
        let cfg = dir.join("daemon.toml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.join("daemon.log");
        let file = File::create(&log).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LOADTIDE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env(ENV, CANARY)
            .args(["--log-level", "debug", "serve", "--web.enable-lifecycle"])
            .arg("--config")
            .arg(&cfg)
            .args(["--web.listen-address", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let d = Daemon {
            child: cmd.spawn().unwrap(),
            addr,
            config: cfg,
            log,
        };
        eventually("the daemon is ready", || {
            matches!(d.try_http("GET", "/-/ready"), Ok((200, _)))
        });
        d
    }

    fn http(&self, method: &str, path: &str) -> (u16, String) {
        self.try_http(method, path)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// One HTTP/1.1 request with `Connection: close`, read to the end.
    fn try_http(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(text.clone()))?;
        // The whole response, head included: a header could leak too.
        Ok((status, text))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
