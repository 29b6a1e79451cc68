//! The one-shot summary of a WebSocket profile, in the same shape as an HTTP one: `requests`
//! are the messages sent, `successes` the replies received, the latency figures (and the
//! timeline) are the replies' round trips, and `errors`/`error_kinds` count every WebSocket
//! error by kind (connect, handshake, tls, closed, timeout, protocol, send). Connection
//! errors are not messages, so `error_rate` is errors per message sent, capped at 1 (and 1
//! when errors happened but nothing could be sent).

use super::summary::{ratio, Summary};
use crate::metrics::websocket::WsTotals;

/// The one row of a WebSocket profile's run statistics (its replies).
pub const STATS_ENDPOINT: (&str, &str) = ("messages", "WS");

/// Rewrites the counts of `summary` (built from the replies) with the run's `totals`.
pub fn summarise(summary: &mut Summary, totals: &WsTotals) {
    let errors: u64 = totals.errors.iter().map(|(_, n)| n).sum();
    let error_rate = if totals.sent == 0 {
        if errors > 0 {
            1.0
        } else {
            0.0
        }
    } else {
        ratio(errors, totals.sent).min(1.0)
    };
    let kinds = totals
        .errors
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.as_str().to_string(), *n))
        .collect();
    let rps = if summary.duration_s > 0.0 {
        totals.sent as f64 / summary.duration_s
    } else {
        0.0
    };
    summary.requests = totals.sent;
    summary.successes = totals.replies;
    summary.errors = errors;
    summary.error_rate = error_rate;
    summary.rps = rps;
    summary.error_kinds = kinds;
    for e in &mut summary.endpoints {
        e.requests = totals.sent;
        e.errors = errors;
        e.error_rate = error_rate;
        e.rps = rps;
        e.error_kinds = summary.error_kinds.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::websocket::WsErrorKind;
    use crate::metrics::RunStats;

    #[tokio::test(start_paused = true)]
    async fn messages_are_the_requests_and_every_error_kind_is_listed() {
        let (name, method) = STATS_ENDPOINT;
        let stats = RunStats::new(&[(name.into(), method.into())]);
        let mut s = stats.lock().expect("lock");
        let mut sum = Summary::new("chat", &mut s, Duration::from_secs(10));
        let totals = WsTotals {
            sent: 40,
            received: 38,
            replies: 37,
            connects: 3,
            errors: vec![
                (WsErrorKind::Connect, 1),
                (WsErrorKind::Closed, 2),
                (WsErrorKind::Timeout, 1),
                (WsErrorKind::Send, 0),
            ],
        };
        summarise(&mut sum, &totals);
        assert_eq!((sum.requests, sum.successes, sum.errors), (40, 37, 4));
        assert!((sum.error_rate - 0.1).abs() < 1e-12);
        assert!((sum.rps - 4.0).abs() < 1e-12);
        assert_eq!(sum.error_kinds.len(), 3, "{:?}", sum.error_kinds);
        assert_eq!(sum.endpoints[0].requests, 40);

        let none_sent = WsTotals {
            errors: vec![(WsErrorKind::Connect, 5)],
            ..WsTotals::default()
        };
        summarise(&mut sum, &none_sent);
        assert_eq!(sum.error_rate, 1.0, "a target that cannot be reached fails");
    }
}
