//! The open-files limit (RLIMIT_NOFILE). At start the soft limit is raised to the hard one,
//! as Go programs (Prometheus, its exporters) do, since every connection is a descriptor.
//! When descriptors still run out (EMFILE/ENFILE on connect or accept), callers count the
//! failure as usual (a `connect` error for the client) and call `exhausted`, which logs the
//! limit and what to do about it at most once per `LOG_EVERY`, so a starved generator says
//! why instead of flooding the log. Never panics: a limit it cannot read or raise is logged.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// At most one "out of file descriptors" message per this interval.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Soft and hard RLIMIT_NOFILE (`rlim_t` is a u64 on the Linux targets loadtide builds
/// for); None if it cannot be read.
pub fn limits() -> Option<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0)
        .then_some((l.rlim_cur, l.rlim_max))
}

/// Raises the soft open-files limit to the hard one (logged at `debug`; a failure at `warn`).
/// Returns the soft limit in force afterwards.
pub fn raise() -> Option<u64> {
    let (soft, hard) = limits()?;
    let mut now = soft;
    if soft < hard {
        let l = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } == 0 {
            now = hard;
        } else {
            let e = io::Error::last_os_error();
            tracing::warn!(soft, hard, error = %e, "cannot raise the open files limit");
        }
    }
    tracing::debug!(limit = now, hard, "open files limit (RLIMIT_NOFILE)");
    Some(now)
}

/// True when `e` says the process (EMFILE) or the system (ENFILE) ran out of descriptors.
pub fn is_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// When the last message was logged, in seconds since the epoch (0: never).
static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);

/// Logs that descriptors ran out while doing `what` (e.g. "connect", "accept"), at most once
/// per `LOG_EVERY` across the process; `e` is the error that said so.
pub fn exhausted(what: &str, e: &io::Error) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_LOGGED.load(Ordering::Relaxed);
    if last != 0 && now < last + LOG_EVERY.as_secs() {
        return;
    }
    if LAST_LOGGED
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return; // another thread logged it just now
    }
    let limit = limits().map_or_else(|| "unknown".to_string(), |(soft, _)| soft.to_string());
    tracing::error!(
        limit = %limit,
        error = %e,
        "out of file descriptors on {what}: the open files limit (ulimit -n) is {limit}; \
         raise LimitNOFILE= in the systemd unit (or ulimit -n), or lower max_connections / \
         max_in_flight. Failed connects count as kind=\"connect\" errors; logged at most \
         once every {}s",
        LOG_EVERY.as_secs()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_and_enfile_are_exhaustion_and_nothing_else_is() {
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::EMFILE)));
        assert!(is_exhaustion(&io::Error::from_raw_os_error(libc::ENFILE)));
        assert!(!is_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNREFUSED
        )));
        assert!(!is_exhaustion(&io::Error::other("x")));
    }

    #[test]
    fn the_limit_is_readable_and_raising_never_lowers_it() {
        let (soft, hard) = limits().expect("getrlimit works on Linux");
        assert!(soft <= hard);
        let now = raise().expect("limits are readable");
        assert!(now >= soft);
    }
}
