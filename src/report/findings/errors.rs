//! The rules on a summary's errors, shared by runs and by a capacity search's busiest level:
//! connect errors and timeouts above 1% of requests, and most errors on one endpoint or one
//! HTTP status code.

use super::{finding, Finding, FindingKind};
use crate::report::summary::Summary;

/// A one-shot run: connect errors and timeouts above 1% of requests.
pub(super) fn connection_errors(s: &Summary) -> Option<Finding> {
    let connect = s.error_kinds.get("connect").copied().unwrap_or(0);
    let timeout = s.error_kinds.get("timeout").copied().unwrap_or(0);
    let n = connect + timeout;
    (s.requests > 0 && n >= 5 && n as f64 >= 0.01 * s.requests as f64).then(|| {
        finding(
            FindingKind::ConnectionLimit,
            format!(
                "{n} of {} requests ({:.1}%) failed to connect ({connect}) or timed out ({timeout})",
                s.requests,
                100.0 * n as f64 / s.requests as f64
            ),
            "the target (or something in front of it) refuses or stalls connections: check its accept backlog, max connections and the generator's ulimit -n",
            &[
                ("connect_errors", connect as f64),
                ("timeouts", timeout as f64),
                ("requests", s.requests as f64),
            ],
        )
    })
}

/// 80% or more of 10 or more errors on one endpoint (of several, carrying less than 80% of
/// the requests), or on one HTTP status code.
pub(super) fn errors_concentrated(s: &Summary) -> Vec<Finding> {
    let mut out = Vec::new();
    if s.errors < 10 {
        return out;
    }
    if s.endpoints.len() > 1 {
        if let Some(e) = s.endpoints.iter().max_by_key(|e| e.errors) {
            let err_share = e.errors as f64 / s.errors as f64;
            let req_share = e.requests as f64 / s.requests.max(1) as f64;
            if err_share >= 0.8 && req_share < 0.8 {
                out.push(finding(
                    FindingKind::ErrorsConcentrated,
                    format!(
                        "{:.0}% of the errors ({} of {}) came from endpoint {} {}, which had {:.0}% of the requests",
                        100.0 * err_share,
                        e.errors,
                        s.errors,
                        e.method,
                        e.name,
                        100.0 * req_share
                    ),
                    "look at that endpoint first: its handler or what it depends on",
                    &[
                        ("endpoint_errors", e.errors as f64),
                        ("errors", s.errors as f64),
                        ("error_share", err_share),
                        ("request_share", req_share),
                    ],
                ));
            }
        }
    }
    let failing_codes: Vec<(&String, u64)> = s
        .status_codes
        .iter()
        .filter(|(c, _)| c.parse::<u16>().is_ok_and(|c| c >= 400))
        .map(|(c, n)| (c, *n))
        .collect();
    if let Some((code, n)) = failing_codes.iter().max_by_key(|(_, n)| *n) {
        let share = *n as f64 / s.errors as f64;
        if share >= 0.8 && *n >= 10 {
            let code_num: f64 = code.parse().unwrap_or(0.0);
            out.push(finding(
                FindingKind::ErrorsConcentrated,
                format!(
                    "{:.0}% of the errors ({n} of {}) were HTTP {code}",
                    100.0 * share.min(1.0),
                    s.errors
                ),
                match code.as_str() {
                    "429" => "the target rate-limits this load: raise its limit or stay below it",
                    "502" | "503" | "504" => {
                        "a proxy or load balancer gave up on the backend: the backend is overloaded or down"
                    }
                    _ => "one cause behind most errors: the target's logs for that status",
                },
                &[("status", code_num), ("count", *n as f64), ("errors", s.errors as f64)],
            ));
        }
    }
    out
}
