//! `loadtide serve` against misbehaving targets, scraped throughout: `/metrics` must keep
//! answering while the targets flap, hang, reset, trickle, flood, garble, fail TLS and fail
//! to resolve, across a reload, with bounded memory.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::rss_kib;
use super::servers::{self, BadTls, Flapping, RawServer};

/// A spawned `loadtide serve`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Spawns `loadtide serve` with `config` on a free loopback port; `nofile` caps its open
    /// files (soft and hard RLIMIT_NOFILE) before it starts.
    pub fn spawn(config: &str, nofile: Option<u64>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loadtide.toml");
        std::fs::write(&path, config).unwrap();
        let log = dir.path().join("daemon.log");
        let out = std::fs::File::create(&log).unwrap();
        let addr: SocketAddr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadtide"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LOADTIDE_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--log-level", "info", "--log-format", "human", "serve"])
            .arg("--config")
            .arg(&path)
            .arg("--web.listen-address")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until `/-/ready` answers 200.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !matches!(
            get(self.addr, "/-/ready", Duration::from_secs(2)),
            Ok((200, _))
        ) {
            assert!(self.alive(), "daemon exited:\n{}", self.log());
            assert!(
                Instant::now() < deadline,
                "not ready in 15 s:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET` with `Connection: close`, bounded by `timeout`: status and body.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, text.to_string());
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// The sum of the samples of `name` whose labels include every `k="v"` of `labels`.
pub fn sum(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn target(name: &str, addr: SocketAddr, timeout: &str) -> String {
    target_url(name, &format!("http://{addr}"), timeout)
}

fn target_url(name: &str, url: &str, timeout: &str) -> String {
    format!(
        "[targets.{name}]\nurl = \"{url}\"\ntimeout = \"{timeout}\"\nmax_connections = 64\n\
         [[targets.{name}.endpoints]]\nname = \"root\"\npath = \"/\"\n"
    )
}

fn profile(name: &str, target: &str, rate: u32) -> String {
    format!(
        "[profiles.{name}]\ntarget = \"{target}\"\nendpoints = [\"root\"]\nrate = {rate}\n\
         max_in_flight = 64\n"
    )
}

#[test]
fn metrics_keep_answering_while_targets_flap_hang_and_reset() {
    let flap = Flapping::start(Duration::from_millis(500), Duration::from_millis(500));
    let hang = RawServer::start(servers::never_answer);
    let reset = RawServer::start(servers::reset_mid_response);
    let config = format!(
        "[server]\ndrain_timeout = \"1s\"\n{}{}{}{}{}{}",
        target("flap", flap.addr(), "500ms"),
        target("hang", hang.addr(), "300ms"),
        target("reset", reset.addr(), "1s"),
        profile("flap", "flap", 200),
        profile("hang", "hang", 50),
        profile("reset", "reset", 50),
    );
    let mut d = Daemon::spawn(&config, None);
    d.wait_ready();
    let (last, max_rss) = scrape_throughout(&mut d);
    let errors = "loadtide_request_errors_total";
    let responses = "loadtide_responses_total";
    assert!(sum(&last, errors, &[("profile", "flap"), ("kind", "connect")]) > 0.0);
    assert!(sum(&last, responses, &[("profile", "flap"), ("code", "200")]) > 0.0);
    assert!(sum(&last, errors, &[("profile", "hang"), ("kind", "timeout")]) > 0.0);
    assert!(sum(&last, errors, &[("profile", "reset"), ("kind", "reset")]) > 0.0);
    // Nothing else went wrong: no other kind anywhere.
    for kind in ["dns", "tls", "status", "check", "protocol", "other"] {
        assert_eq!(sum(&last, errors, &[("kind", kind)]), 0.0, "kind {kind}");
    }
    assert!(max_rss < 96 << 10, "peak RSS {max_rss} KiB");
}

#[test]
fn metrics_keep_answering_while_targets_trickle_flood_garble_and_fail_tls_and_dns() {
    let trickle = RawServer::start(servers::trickle);
    let huge = RawServer::start(servers::huge_body);
    let garbage = RawServer::start(servers::garbage_status);
    let tls = BadTls::start(false);
    // A 64-character label: the resolver rejects it without a query (no network needed).
    let unresolvable = format!("http://{}.invalid", "a".repeat(64));
    let config = format!(
        "[server]\ndrain_timeout = \"1s\"\n{}{}{}{}{}{}{}{}{}\n\
         [profiles.huge]\ntarget = \"huge\"\nendpoints = [\"root\"]\nrate = 2\nmax_in_flight = 1\n",
        target("trickle", trickle.addr(), "300ms"),
        target("huge", huge.addr(), "30s"),
        target("garbage", garbage.addr(), "1s"),
        target_url("tls", &tls.url(), "1s"),
        target_url("dns", &unresolvable, "1s"),
        profile("trickle", "trickle", 50),
        profile("garbage", "garbage", 50),
        profile("tls", "tls", 50),
        profile("dns", "dns", 50),
    );
    let mut d = Daemon::spawn(&config, None);
    d.wait_ready();
    let (last, max_rss) = scrape_throughout(&mut d);
    let errors = "loadtide_request_errors_total";
    for (profile, kind) in [
        ("trickle", "timeout"),
        ("garbage", "protocol"),
        ("tls", "tls"),
        ("dns", "dns"),
    ] {
        let of = |k: &str| sum(&last, errors, &[("profile", profile), ("kind", k)]);
        assert!(of(kind) > 0.0, "{profile}: no {kind} errors\n{last}");
        assert_eq!(
            sum(&last, errors, &[("profile", profile)]),
            of(kind),
            "{profile}: errors of another kind\n{last}"
        );
    }
    // The 200 MiB bodies stream through without being held: bytes are counted, memory stays
    // flat, and nothing about them is an error.
    assert_eq!(sum(&last, errors, &[("profile", "huge")]), 0.0, "{last}");
    assert!(
        sum(
            &last,
            "loadtide_bytes_received_total",
            &[("profile", "huge")]
        ) > 0.0,
        "{last}"
    );
    assert!(max_rss < 96 << 10, "peak RSS {max_rss} KiB");
}

/// Scrapes `d` every 100 ms for 4 s, with a reload in the middle: every scrape must answer,
/// each within a second, the reload must succeed and the daemon must stay up and never
/// panic. Returns the last scrape and the peak RSS (KiB).
fn scrape_throughout(d: &mut Daemon) -> (String, u64) {
    let start = Instant::now();
    let mut scrapes = 0;
    let mut max_rss = 0;
    let mut last = String::new();
    let mut reloaded = false;
    while start.elapsed() < Duration::from_secs(4) {
        let t = Instant::now();
        let (status, body) = get(d.addr, "/metrics", Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("scrape {scrapes} failed: {e}\n{}", d.log()));
        assert_eq!(status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "scrape {scrapes} took {:?}",
            t.elapsed()
        );
        scrapes += 1;
        last = body;
        max_rss = max_rss.max(rss_kib(d.pid()).unwrap());
        if !reloaded && start.elapsed() > Duration::from_secs(2) {
            d.signal("HUP");
            reloaded = true;
        }
        sleep(Duration::from_millis(100));
    }
    assert!(d.alive(), "daemon died:\n{}", d.log());
    assert!(scrapes >= 20, "only {scrapes} scrapes");
    assert_eq!(
        sum(
            &last,
            "loadtide_config_reloads_total",
            &[("result", "success")]
        ),
        1.0
    );
    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");
    (last, max_rss)
}
