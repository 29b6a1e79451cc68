//! Out of file descriptors: `loadtide serve` started with RLIMIT_NOFILE 64 and aimed at a
//! target that accepts and never answers, with far more requests in flight than descriptors.
//! Connects fail with EMFILE: they must be counted (kind `connect`), logged with the limit
//! and the advice (at most once per interval), and neither panic nor spin; `/metrics` must
//! answer again once the load ends.

use std::thread::sleep;
use std::time::{Duration, Instant};

use super::daemon::{get, sum, Daemon};
use super::servers::{self, RawServer};

/// User plus system CPU time of `pid` in seconds (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
fn running_out_of_file_descriptors_is_counted_logged_and_survived() {
    let hang = RawServer::start(servers::never_answer);
    let config = format!(
        "[targets.hang]\nurl = \"http://{}\"\ntimeout = \"1s\"\nmax_connections = 500\n\
         [[targets.hang.endpoints]]\nname = \"root\"\npath = \"/\"\n\
         [profiles.starve]\ntarget = \"hang\"\nendpoints = [\"root\"]\nrate = 300\n\
         max_in_flight = 500\nduration = \"3s\"\n",
        hang.addr()
    );
    let mut d = Daemon::spawn(&config, Some(64));
    d.wait_ready();
    let cpu0 = cpu_seconds(d.pid());
    let start = Instant::now();

    // While starved, scrapes may wait in the backlog; they must not kill anything.
    let mut answered_while_starved = 0;
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok((200, _)) = get(d.addr, "/metrics", Duration::from_millis(500)) {
            answered_while_starved += 1;
        }
        sleep(Duration::from_millis(100));
    }
    // The profile has ended; the last requests time out within 1 s and free their
    // descriptors: /metrics must answer again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        if let Ok((200, body)) = get(d.addr, "/metrics", Duration::from_secs(1)) {
            if sum(
                &body,
                "loadtide_requests_in_flight",
                &[("profile", "starve")],
            ) == 0.0
            {
                break body;
            }
        }
        assert!(d.alive(), "daemon died:\n{}", d.log());
        assert!(
            Instant::now() < deadline,
            "/metrics did not recover:\n{}",
            d.log()
        );
        sleep(Duration::from_millis(100));
    };
    let cpu = cpu_seconds(d.pid()) - cpu0;
    let wall = start.elapsed().as_secs_f64();
    assert!(d.alive(), "daemon died:\n{}", d.log());

    let connect = sum(
        &scrape,
        "loadtide_request_errors_total",
        &[("profile", "starve"), ("kind", "connect")],
    );
    let timeouts = sum(
        &scrape,
        "loadtide_request_errors_total",
        &[("profile", "starve"), ("kind", "timeout")],
    );
    assert!(
        connect > 0.0,
        "EMFILE connects counted as connect:\n{scrape}"
    );
    assert!(timeouts > 0.0, "the connections that opened timed out");
    assert!(hang.accepted() > 0, "some connections still got through");

    let log = d.log();
    assert!(!log.contains("panicked"), "{log}");
    // The limit in force is logged at start (64: the hard limit leaves nothing to raise).
    assert!(
        log.lines()
            .any(|l| l.contains("open files limit") && l.contains("limit=64")),
        "{log}"
    );
    let told = log
        .lines()
        .filter(|l| l.contains("out of file descriptors on connect"))
        .collect::<Vec<_>>();
    assert!(!told.is_empty(), "no EMFILE message:\n{log}");
    assert!(
        told[0].contains("is 64") && told[0].contains("LimitNOFILE"),
        "{}",
        told[0]
    );
    // Once per 10 s interval: a 3 s starvation logs it once (twice at an interval edge).
    assert!(told.len() <= 2, "logged {} times:\n{log}", told.len());
    // Not a spin: failing connects at 300/s cost little CPU.
    assert!(
        cpu < 0.6 * wall,
        "{cpu:.2} s of CPU in {wall:.2} s (answered {answered_while_starved} scrapes while starved)"
    );
}
