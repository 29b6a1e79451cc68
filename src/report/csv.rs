//! `--csv PREFIX`: `PREFIX_stats.csv` (one row per endpoint and an `Aggregated` row) and
//! `PREFIX_stats_history.csv` (one row per second), with Locust's column names and units
//! (milliseconds) so tooling written for Locust's CSV files reads them. A column loadtide has
//! no figure for holds `N/A`, as Locust writes for a request type without samples.

use hdrhistogram::Histogram;

use super::summary::Summary;

pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

pub const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

const QUANTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

fn ms(us: u64) -> String {
    format!("{:.0}", us as f64 / 1e3)
}

/// CSV fields with commas or quotes are quoted.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    kind: &str,
    name: &str,
    requests: u64,
    errors: u64,
    bytes: f64,
    secs: f64,
    h: Option<&Histogram<u64>>,
) -> String {
    let per_s = |n: u64| {
        if secs > 0.0 {
            n as f64 / secs
        } else {
            0.0
        }
    };
    let (median, mean, min, max, qs) = match h.filter(|h| !h.is_empty()) {
        Some(h) => (
            ms(h.value_at_quantile(0.5)),
            format!("{:.1}", h.mean() / 1e3),
            ms(h.min()),
            ms(h.max()),
            QUANTILES
                .iter()
                .map(|q| ms(h.value_at_quantile(*q)))
                .collect::<Vec<_>>(),
        ),
        None => (
            "0".into(),
            "0".into(),
            "0".into(),
            "0".into(),
            vec!["N/A".into(); QUANTILES.len()],
        ),
    };
    format!(
        "{},{},{requests},{errors},{median},{mean},{min},{max},{bytes:.0},{:.2},{:.2},{}",
        field(kind),
        field(name),
        per_s(requests),
        per_s(errors),
        qs.join(",")
    )
}

/// `PREFIX_stats.csv`.
pub fn stats(s: &Summary) -> String {
    let mut lines = vec![STATS_HEADER.to_string()];
    for e in &s.endpoints {
        lines.push(row(
            &e.method,
            &e.name,
            e.requests,
            e.errors,
            0.0,
            s.measured_s(),
            e.histogram.as_ref(),
        ));
    }
    let avg_size = if s.requests > 0 {
        s.bytes_received as f64 / s.requests as f64
    } else {
        0.0
    };
    lines.push(row(
        "",
        "Aggregated",
        s.requests,
        s.errors,
        avg_size,
        s.measured_s(),
        s.histogram.as_ref(),
    ));
    lines.join("\n") + "\n"
}

/// `PREFIX_stats_history.csv`: per second, the aggregate (Unix timestamps when the start is
/// known, else seconds since the start). The per-second timeline keeps p50, p90, p99 and max
/// (not a histogram per second: memory stays flat over long runs), so the other percentiles
/// are `N/A`; so are `User Count` (not sampled per second) and the running `Total` latency
/// columns, which would need a cumulative histogram per second. The counts are exact.
pub fn history(s: &Summary) -> String {
    let start = s.started_at.unwrap_or(0.0).floor() as u64;
    let (mut total, mut failed) = (0u64, 0u64);
    let mut lines = vec![HISTORY_HEADER.to_string()];
    let ms = |v: f64| format!("{:.0}", v * 1e3);
    for r in &s.timeline {
        total += r.requests;
        failed += r.errors;
        let percentiles = if r.requests == 0 {
            vec!["N/A".to_string(); QUANTILES.len()]
        } else {
            // 50% 66% 75% 80% 90% 95% 98% 99% 99.9% 99.99% 100%
            let na = || "N/A".to_string();
            vec![
                ms(r.p50),
                na(),
                na(),
                na(),
                ms(r.p90),
                na(),
                na(),
                ms(r.p99),
                na(),
                na(),
                ms(r.max),
            ]
        };
        lines.push(format!(
            "{},N/A,,Aggregated,{:.2},{},{},{total},{failed},N/A,N/A,N/A,N/A,N/A",
            start + r.t,
            r.rps,
            r.errors,
            percentiles.join(",")
        ));
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_locust_and_rows_have_as_many_fields() {
        let h: Vec<&str> = STATS_HEADER.split(',').collect();
        assert_eq!(h.len(), 22);
        assert_eq!(&h[..4], ["Type", "Name", "Request Count", "Failure Count"]);
        let mut hist =
            Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds");
        for us in 1..=1000u64 {
            hist.record(us * 100).expect("in range");
        }
        let r = row("GET", "a,b", 1000, 10, 0.0, 10.0, Some(&hist));
        assert!(r.starts_with("GET,\"a,b\",1000,10,50,"), "{r}");
        assert_eq!(
            r.matches(',').count(),
            22,
            "quoted comma + 21 separators: {r}"
        );
        assert!(r.ends_with(",100"), "max 100 ms: {r}");
        assert!(r.contains(",100.00,1.00,"), "rps and failures/s: {r}");
    }
}
