//! Where connections go, while the daemon runs: a target's `file_sd` file is re-read when it
//! changes (traffic moves to the instances it lists; a bad or missing file keeps the last
//! good set and counts an error), and a name is re-resolved when its DNS TTL runs out
//! (traffic follows a changed answer; a failing resolver is counted). Real servers on
//! loopback addresses, and a DNS server on 127.0.0.1 written here (A records, TTL 1 s).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cli::{assert_refused, run_profile};
use common::daemon::Daemon;
use common::{Behavior, Script, TestServer};

fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests `servers` got together over `window`.
fn arrivals(servers: &[&TestServer], window: Duration) -> u64 {
    let sum = || servers.iter().map(|s| s.requests()).sum::<u64>();
    let before = sum();
    std::thread::sleep(window);
    sum() - before
}

fn sd_json(servers: &[&TestServer]) -> String {
    let list: Vec<String> = servers
        .iter()
        .map(|s| format!("{:?}", s.addr().to_string()))
        .collect();
    format!(
        "[{{\"targets\": [{}], \"labels\": {{\"env\": \"test\"}}}}]",
        list.join(", ")
    )
}

#[test]
fn file_sd_moves_traffic_to_the_listed_instances_and_a_bad_file_keeps_the_last_set() {
    let (a, b, c) = (
        TestServer::with(Behavior::Ok),
        TestServer::with(Behavior::Ok),
        TestServer::with(Behavior::Ok),
    );
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("api.json");
    std::fs::write(&sd, sd_json(&[&a, &b])).unwrap();
    // The URL names the service; its host is never resolved or dialled.
    let d = Daemon::start(
        &format!(
            "[safety]\nallowed_hosts = [\"api.service\", \"127.0.0.1\"]\n\
             [targets.api]\nurl = \"http://api.service:8080\"\n\
             file_sd = {{ files = [{sd:?}], refresh_interval = \"1h\" }}\n\
             [[targets.api.endpoints]]\nname = \"get\"\n\
             [profiles.steady]\ntarget = \"api\"\nrate = 60\n"
        ),
        &[],
    );
    let labels = [("profile", "steady"), ("target", "api")];
    eventually(
        "both instances get traffic",
        Duration::from_secs(10),
        || a.requests() > 10 && b.requests() > 10,
    );
    let s = d.scrape();
    assert_eq!(s.value("loadtide_discovery_instances", &labels), 2.0);
    assert_eq!(
        s.value("loadtide_discovery_read_errors_total", &labels),
        0.0
    );
    assert_eq!(c.requests(), 0);

    // A new set: traffic moves over within the poll interval (about a second).
    std::fs::write(&sd, sd_json(&[&c])).unwrap();
    eventually(
        "the new instance gets traffic",
        Duration::from_secs(10),
        || c.requests() > 10,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        arrivals(&[&a, &b], Duration::from_secs(1)),
        0,
        "the old instances are left"
    );
    assert!(arrivals(&[&c], Duration::from_secs(1)) > 30);
    assert_eq!(
        d.scrape().value("loadtide_discovery_instances", &labels),
        1.0
    );
    assert!(
        d.log().contains("file_sd: the instances changed"),
        "{}",
        d.log()
    );

    // Garbage, then an instance outside the allowlist, then no file: each is an error, and
    // the last good set keeps getting the load.
    let errors = || {
        d.scrape()
            .value("loadtide_discovery_read_errors_total", &labels)
    };
    for (n, bad) in [
        "not json at all",
        "[{\"targets\": [\"elsewhere.example:80\"]}]",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(&sd, bad).unwrap();
        eventually("a counted read error", Duration::from_secs(10), || {
            errors() >= (n + 1) as f64
        });
    }
    std::fs::remove_file(&sd).unwrap();
    eventually("a missing file counted", Duration::from_secs(10), || {
        errors() >= 3.0
    });
    assert!(arrivals(&[&c], Duration::from_secs(1)) > 30, "still served");
    assert_eq!(
        d.scrape().value("loadtide_discovery_instances", &labels),
        1.0
    );
    let log = d.log();
    assert!(log.contains("not in safety.allowed_hosts"), "{log}");
    assert!(log.contains("keeping the last good set"), "{log}");
}

#[test]
fn file_sd_and_dns_server_mistakes_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("ok.json");
    std::fs::write(&good, "[{\"targets\": [\"127.0.0.1:9\"]}]").unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[{\"targets\": [\"http://127.0.0.1:9/x\"]}]").unwrap();
    let config = |url: &str, extra: &str| {
        format!(
            "[safety]\nallowed_hosts = [\"127.0.0.1\", \"localhost\"]\n\
             [targets.t]\nurl = \"{url}\"\n{extra}\n[[targets.t.endpoints]]\nname = \"e\"\n\
             [profiles.load]\ntarget = \"t\"\nrate = 1\nduration = \"1s\"\n"
        )
    };
    let files = |f: &std::path::Path| format!("file_sd = {{ files = [{f:?}] }}");
    let elsewhere = dir.path().join("elsewhere.yml");
    std::fs::write(&elsewhere, "- targets: ['10.1.2.3:80']\n").unwrap();
    assert_refused(
        dir.path(),
        &[
            (
                config("ws://127.0.0.1:9/", &files(&good)),
                "targets.t.file_sd",
                "only for http(s):// and grpc(s):// targets (this one is ws://)",
            ),
            (
                config("http://localhost:9", "file_sd = { files = [] }"),
                "targets.t.file_sd.files",
                "at least one file",
            ),
            (
                config("http://localhost:9", &files(&dir.path().join("none.json"))),
                "targets.t.file_sd.files",
                "cannot read",
            ),
            (
                config("http://localhost:9", &files(&bad)),
                "targets.t.file_sd.files",
                "invalid instance \"http://127.0.0.1:9/x\": want host:port",
            ),
            (
                config("http://localhost:9", &files(&elsewhere)),
                "targets.t.file_sd.files",
                "instance 10.1.2.3:80 is not in safety.allowed_hosts",
            ),
            (
                config(
                    "http://localhost:9",
                    &format!(
                        "{}\n",
                        files(&good).replace(" }", ", refresh_interval = \"soon\" }")
                    ),
                ),
                "targets.t.file_sd.refresh_interval",
                "invalid duration",
            ),
            (
                config("http://localhost:9", "dns_server = \"resolver\""),
                "targets.t.dns_server",
                "want ip:port",
            ),
            (
                config("http://localhost:9", "dns_server = \"10.0.0.53:53\""),
                "targets.t.dns_server",
                "10.0.0.53:53 is not in safety.allowed_hosts",
            ),
        ],
    );
    // A good file is fine for a one-shot run too: its instance gets the load.
    let target = TestServer::with(Behavior::Ok);
    std::fs::write(&good, format!("[{{\"targets\": [\"{}\"]}}]", target.addr())).unwrap();
    let (out, summary) = run_profile(
        dir.path(),
        &config("http://localhost:1", &files(&good)),
        "load",
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(summary.is_some());
    assert!(
        target.requests() >= 1,
        "the run went to the file's instance"
    );
}

// ---------------------------------------------------------------------------------------
// A DNS server for one name
// ---------------------------------------------------------------------------------------

/// Answers A queries for any name with `ip` and a 1 s TTL (or SERVFAIL while `failing`);
/// other types get an empty answer. Counts the A queries.
struct Dns {
    addr: SocketAddr,
    ip: Arc<AtomicU32>,
    failing: Arc<AtomicBool>,
    queries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Dns {
    fn start(ip: Ipv4Addr) -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let dns = Dns {
            addr: socket.local_addr().unwrap(),
            ip: Arc::new(AtomicU32::new(ip.into())),
            failing: Arc::default(),
            queries: Arc::default(),
            stop: Arc::default(),
        };
        let (ip, failing, queries, stop) = (
            dns.ip.clone(),
            dns.failing.clone(),
            dns.queries.clone(),
            dns.stop.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let ip = Ipv4Addr::from(ip.load(Ordering::Relaxed));
                if let Some(reply) =
                    answer(&buf[..n], ip, failing.load(Ordering::Relaxed), &queries)
                {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        dns
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to one query: its id and question, then one A record (RFC 1035 §4.1).
fn answer(q: &[u8], ip: Ipv4Addr, failing: bool, queries: &AtomicU64) -> Option<Vec<u8>> {
    // The question: labels from byte 12 to the zero length, then type and class.
    let mut end = 12;
    while *q.get(end)? != 0 {
        end += 1 + usize::from(q[end]);
    }
    let qtype = u16::from_be_bytes([*q.get(end + 1)?, *q.get(end + 2)?]);
    let question = &q[12..end + 5];
    let is_a = qtype == 1;
    if is_a {
        queries.fetch_add(1, Ordering::Relaxed);
    }
    let answers = u16::from(is_a && !failing);
    let rcode = if failing { 2 } else { 0 };
    let mut r = Vec::with_capacity(64);
    r.extend_from_slice(&q[..2]);
    r.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    r.extend_from_slice(&answers.to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    if answers == 1 {
        // The name as a pointer to the question's, A, IN, TTL 1 s, 4 bytes.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

#[test]
fn a_name_is_resolved_again_when_its_ttl_ends_and_traffic_follows_the_new_answer() {
    let first = TestServer::with(Behavior::Ok);
    let port = first.addr().port();
    // The same port on another loopback address: what the changed record points at.
    let second = Script::new(Behavior::Ok).start_on(SocketAddr::from(([127, 0, 0, 2], port)));
    let dns = Dns::start(Ipv4Addr::new(127, 0, 0, 1));
    let d = Daemon::start(
        &format!(
            "[safety]\nallowed_hosts = [\"api.test\", \"127.0.0.0/8\"]\n\
             [targets.api]\nurl = \"http://api.test:{port}\"\ndns_server = \"{}\"\n\
             [[targets.api.endpoints]]\nname = \"get\"\n\
             [profiles.steady]\ntarget = \"api\"\nrate = 60\n",
            dns.addr
        ),
        &[],
    );
    eventually(
        "traffic to the first answer",
        Duration::from_secs(10),
        || first.requests() > 20,
    );
    let started = Instant::now();
    let at_start = dns.queries.load(Ordering::Relaxed);
    assert!(at_start >= 1);

    dns.ip
        .store(Ipv4Addr::new(127, 0, 0, 2).into(), Ordering::Relaxed);
    eventually("traffic to the new answer", Duration::from_secs(10), || {
        second.requests() > 20
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        arrivals(&[&first], Duration::from_secs(1)),
        0,
        "the old address is left"
    );
    assert!(
        d.log().contains("DNS answer changed; reconnecting"),
        "{}",
        d.log()
    );
    // About one lookup a TTL, not one a request (60 a second).
    let lookups = dns.queries.load(Ordering::Relaxed) - at_start;
    let secs = started.elapsed().as_secs_f64();
    assert!(
        lookups as f64 <= 3.0 * secs + 3.0,
        "{lookups} lookups in {secs:.1} s"
    );

    // The resolver fails: each failed lookup is counted, and the connections made to the
    // last answer keep carrying the load.
    dns.failing.store(true, Ordering::Relaxed);
    let labels = [("profile", "steady"), ("target", "api")];
    eventually("counted resolution errors", Duration::from_secs(10), || {
        d.scrape()
            .value("loadtide_dns_resolution_errors_total", &labels)
            >= 2.0
    });
    assert!(
        arrivals(&[&second], Duration::from_secs(1)) > 30,
        "still served"
    );
}
