//! The generator's own health, read off the metrics it keeps anyway: scheduler lag between
//! two snapshots of its histogram, and the process's CPU time. A capacity level and a
//! one-shot run judge by the same limits whether the generator, not the target, was the
//! bottleneck.

use std::time::Duration;

use prometheus::core::Metric as _;

use super::Metrics;

/// When the generator counts as the bottleneck of a level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthLimits {
    /// Scheduler lag: the level is generator-bound when its p99 is above this.
    pub max_lag: Duration,
    /// Dropped arrivals / intended arrivals above this (and the SLOs otherwise held).
    pub max_drop_ratio: f64,
    /// The process's CPU time / (wall time × available cores) above this.
    pub max_cpu: f64,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            max_lag: Duration::from_millis(10),
            max_drop_ratio: 0.01,
            max_cpu: 0.9,
        }
    }
}

/// CPU seconds (user + system) this process has used so far.
pub fn process_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a full `rusage` into the pointer it is given, which points
        // at memory of exactly that type; RUSAGE_SELF is always a valid `who`.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return None;
        }
        // SAFETY: getrusage returned 0, so it initialised the struct.
        let u = unsafe { usage.assume_init() };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(secs(u.ru_utime) + secs(u.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Cumulative (upper bound, count) of the lag histogram of `profile`.
pub fn lag_buckets(metrics: &Metrics, profile: &str) -> (Vec<(f64, u64)>, u64) {
    let h = metrics.scheduler_lag.with_label_values(&[profile]).metric();
    let h = h.get_histogram();
    (
        h.get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect(),
        h.get_sample_count(),
    )
}

/// p99 (as a bucket's upper bound) and the share over `bound` of the lag recorded between two
/// snapshots of the histogram.
pub fn lag_between(
    before: &(Vec<(f64, u64)>, u64),
    after: &(Vec<(f64, u64)>, u64),
    bound: f64,
) -> (f64, f64) {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return (0.0, 0.0);
    }
    let counts: Vec<(f64, u64)> = after
        .0
        .iter()
        .zip(&before.0)
        .map(|((le, a), (_, b))| (*le, a.saturating_sub(*b)))
        .collect();
    let need = (total as f64 * 0.99).ceil() as u64;
    let p99 = counts
        .iter()
        .find(|(_, c)| *c >= need)
        .map_or(f64::INFINITY, |(le, _)| *le);
    // Observations at or below the largest bucket bound not above `bound`.
    let within = counts
        .iter()
        .filter(|(le, _)| *le <= bound + 1e-12)
        .map(|(_, c)| *c)
        .next_back()
        .unwrap_or(0);
    (p99, (total - within) as f64 / total as f64)
}
