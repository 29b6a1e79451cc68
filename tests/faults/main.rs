//! The fault matrix: loadtide against local servers that misbehave (refuse, reset, hang,
//! trickle, stream 200 MiB, break HTTP, present a certificate nobody trusts, do not resolve,
//! flap), asserting for each the error kind counted, that the loadtide process's memory
//! (VmRSS from /proc) stays bounded and that the process stays alive and exits normally.
//! `oneshot` drives `loadtide run`, `daemon` drives `loadtide serve` and scrapes it
//! throughout, `fdlimit` starves it of file descriptors. No traffic leaves 127.0.0.1; the
//! one DNS case uses a name the resolver rejects before any query is sent.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod daemon;
mod fdlimit;
mod oneshot;
mod servers;

use std::process::{Child, ExitStatus};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Resident memory of process `pid` in KiB (VmRSS), None once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Open file descriptors of process `pid`.
pub fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// What watching a child until it exits saw.
pub struct Watched {
    pub status: ExitStatus,
    pub max_rss_kib: u64,
    pub elapsed: Duration,
}

/// Samples the child's RSS every 20 ms until it exits; kills it (and fails) after `within`.
pub fn watch(child: &mut Child, within: Duration, what: &str) -> Watched {
    let start = Instant::now();
    let mut max_rss_kib = 0;
    loop {
        if let Some(rss) = rss_kib(child.id()) {
            max_rss_kib = max_rss_kib.max(rss);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return Watched {
                status,
                max_rss_kib,
                elapsed: start.elapsed(),
            };
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: loadtide still running after {within:?}; killed");
        }
        sleep(Duration::from_millis(20));
    }
}
