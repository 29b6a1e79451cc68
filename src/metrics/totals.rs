//! A profile's running totals as the registry holds them (requests, errors and the latency
//! buckets of each of its series), and what two of them taken apart say about the time in
//! between: rate, error ratio and latency quantiles, computed like Prometheus's
//! `histogram_quantile` over a `rate()`. The daemon's status page reads them; nothing on the
//! request path does.

use std::collections::BTreeMap;

use prometheus::core::Collector;

use super::Metrics;

/// One latency series' cumulative bucket counts, by finite upper bound, and its total.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesCounts {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub count: u64,
}

/// Everything one profile has done so far, by latency series (label values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileTotals {
    pub series: BTreeMap<Vec<String>, SeriesCounts>,
    pub errors: u64,
}

/// What happened between two totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub errors: u64,
    /// Cumulative counts at every finite bound of any series, merged.
    buckets: Vec<(f64, f64)>,
}

impl Metrics {
    /// Profile `name`'s totals now.
    pub fn profile_totals(&self, name: &str) -> ProfileTotals {
        let errors = self
            .errors
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .filter(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == "profile" && l.value() == name)
            })
            .map(|m| m.get_counter().get_value() as u64)
            .sum();
        ProfileTotals {
            series: self.duration.counts_where(0, name),
            errors,
        }
    }
}

impl ProfileTotals {
    pub fn requests(&self) -> u64 {
        self.series.values().map(|s| s.count).sum()
    }

    /// What happened since `older` (an earlier snapshot of the same profile). A series
    /// `older` lacks is new since; counters never go down, so a smaller value (a series
    /// replaced by a reload with new buckets) counts from zero.
    pub fn since(&self, older: &ProfileTotals) -> Window {
        let deltas: Vec<SeriesCounts> = self
            .series
            .iter()
            .map(|(key, now)| match older.series.get(key) {
                Some(then) if then.bounds == now.bounds && then.count <= now.count => {
                    SeriesCounts {
                        bounds: now.bounds.clone(),
                        cumulative: now
                            .cumulative
                            .iter()
                            .zip(&then.cumulative)
                            .map(|(a, b)| a.saturating_sub(*b))
                            .collect(),
                        count: now.count - then.count,
                    }
                }
                _ => now.clone(),
            })
            .collect();
        Window {
            requests: deltas.iter().map(|d| d.count).sum(),
            errors: self.errors.saturating_sub(older.errors),
            buckets: merge(&deltas),
        }
    }
}

impl Window {
    /// Errors per request; None when there were no requests.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// The `q` quantile of latency in seconds, interpolated inside its bucket as
    /// `histogram_quantile` does (a quantile past the last bound is that bound); None when
    /// there were no requests.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.requests == 0 {
            return None;
        }
        let rank = q * self.requests as f64;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(bound, cumulative) in &self.buckets {
            if cumulative >= rank {
                let inside = cumulative - below;
                let frac = if inside > 0.0 {
                    (rank - below) / inside
                } else {
                    1.0
                };
                return Some(lower + (bound - lower) * frac);
            }
            (lower, below) = (bound, cumulative);
        }
        self.buckets.last().map(|&(bound, _)| bound)
    }
}

/// The series' cumulative counts summed at every bound any of them has: a series is read
/// at another's bound by linear interpolation inside its own bucket, so series with
/// different layouts (buckets are per target) still add up.
fn merge(series: &[SeriesCounts]) -> Vec<(f64, f64)> {
    let mut bounds: Vec<f64> = series.iter().flat_map(|s| s.bounds.clone()).collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
        .into_iter()
        .map(|b| (b, series.iter().map(|s| cumulative_at(s, b)).sum()))
        .collect()
}

fn cumulative_at(s: &SeriesCounts, x: f64) -> f64 {
    let (mut lower, mut below) = (0.0, 0.0);
    for (&bound, &cumulative) in s.bounds.iter().zip(&s.cumulative) {
        let cumulative = cumulative as f64;
        if x <= bound {
            return below + (cumulative - below) * (x - lower) / (bound - lower);
        }
        (lower, below) = (bound, cumulative);
    }
    below
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(bounds: &[f64], cumulative: &[u64], count: u64) -> SeriesCounts {
        SeriesCounts {
            bounds: bounds.to_vec(),
            cumulative: cumulative.to_vec(),
            count,
        }
    }

    fn totals(list: &[(&str, SeriesCounts)], errors: u64) -> ProfileTotals {
        ProfileTotals {
            series: list
                .iter()
                .map(|(k, s)| (vec![k.to_string()], s.clone()))
                .collect(),
            errors,
        }
    }

    #[test]
    fn quantiles_interpolate_inside_the_bucket_like_histogram_quantile() {
        // 100 requests: 50 under 10 ms, 40 in 10-100 ms, 10 in 100 ms-1 s.
        let w = totals(&[("a", series(&[0.01, 0.1, 1.0], &[50, 90, 100], 100))], 2)
            .since(&ProfileTotals::default());
        assert_eq!(w.requests, 100);
        assert_eq!(w.error_ratio(), Some(0.02));
        assert_eq!(w.quantile(0.5), Some(0.01));
        assert!((w.quantile(0.7).expect("a p70") - 0.055).abs() < 1e-12);
        assert!((w.quantile(0.99).expect("a p99") - 0.91).abs() < 1e-12);
    }

    #[test]
    fn a_quantile_past_the_last_bound_is_that_bound() {
        let w =
            totals(&[("a", series(&[0.1, 0.5], &[1, 2], 10))], 0).since(&ProfileTotals::default());
        assert_eq!(w.quantile(0.99), Some(0.5));
    }

    #[test]
    fn the_window_counts_only_what_happened_since_the_older_totals() {
        let then = totals(&[("a", series(&[0.1, 1.0], &[10, 10], 10))], 5);
        let now = totals(
            &[
                ("a", series(&[0.1, 1.0], &[10, 20], 20)),
                ("b", series(&[0.1, 1.0], &[0, 5], 5)),
            ],
            6,
        );
        let w = now.since(&then);
        assert_eq!((w.requests, w.errors), (15, 1));
        // All 15 new requests took 0.1-1 s, none less: the median is inside that bucket.
        let p50 = w.quantile(0.5).expect("a median");
        assert!(p50 > 0.1 && p50 < 1.0, "{p50}");
        assert_eq!(now.since(&now).quantile(0.5), None, "nothing happened");
    }

    #[test]
    fn series_with_different_buckets_merge_by_interpolation() {
        let a = series(&[0.1, 1.0], &[10, 10], 10);
        let b = series(&[0.05, 0.2], &[0, 10], 10);
        let w = totals(&[("a", a), ("b", b)], 0).since(&ProfileTotals::default());
        // At 0.1 s: all of a, and b's 0.05-0.2 bucket a third of the way in.
        assert_eq!(w.buckets[1].0, 0.1);
        assert!((w.buckets[1].1 - (10.0 + 10.0 / 3.0)).abs() < 1e-9);
        assert_eq!(w.buckets.last().expect("buckets").1, 20.0);
    }

    #[test]
    fn a_series_replaced_with_new_buckets_counts_from_zero() {
        let then = totals(&[("a", series(&[0.1], &[8], 8))], 0);
        let now = totals(&[("a", series(&[0.2], &[3], 3))], 0);
        assert_eq!(now.since(&then).requests, 3);
    }
}
