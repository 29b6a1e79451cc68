//! `--baseline PATH.json`: the run compared with an earlier JSON summary — p95, p99, error
//! rate and throughput before and after, with the change — for the text, HTML and Markdown
//! outputs. (`baseline*F` thresholds are evaluated by `Summary::check_against`.)

use super::render::seconds;
use super::summary::Summary;
use crate::config::threshold::{LatencyStat, Metric};

/// One compared figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    pub name: &'static str,
    pub metric: Metric,
    pub before: f64,
    pub after: f64,
}

impl Delta {
    /// The change as a signed percentage of the baseline (None when the baseline is 0).
    pub fn change(&self) -> Option<f64> {
        (self.before != 0.0).then(|| (self.after - self.before) / self.before * 100.0)
    }

    pub fn format(&self, v: f64) -> String {
        match self.metric {
            Metric::Latency(_) => seconds(v),
            Metric::ErrorRate => format!("{:.2}%", v * 100.0),
            _ => format!("{v:.1}/s"),
        }
    }

    /// `+12.3%`, `-4.0%` or `n/a`.
    pub fn change_text(&self) -> String {
        self.change()
            .map(|c| format!("{c:+.1}%"))
            .unwrap_or_else(|| "n/a".into())
    }
}

/// The compared figures of `now` against `base`.
pub fn deltas(now: &Summary, base: &Summary) -> Vec<Delta> {
    [
        ("p95", Metric::Latency(LatencyStat::Percentile(95.0))),
        ("p99", Metric::Latency(LatencyStat::Percentile(99.0))),
        ("error rate", Metric::ErrorRate),
        ("rps", Metric::Rps),
    ]
    .into_iter()
    .map(|(name, metric)| Delta {
        name,
        metric,
        before: base.value_of(metric),
        after: now.value_of(metric),
    })
    .collect()
}

/// Lines for the text summary.
pub fn text(deltas: &[Delta]) -> String {
    let mut o = String::from("  vs baseline ");
    let parts: Vec<String> = deltas
        .iter()
        .map(|d| {
            format!(
                "{} {} → {} ({})",
                d.name,
                d.format(d.before),
                d.format(d.after),
                d.change_text()
            )
        })
        .collect();
    o.push_str(&parts.join(" · "));
    o.push('\n');
    o
}

/// The HTML report's table (empty without a baseline). Nothing here needs escaping: the names
/// are constants and the cells formatted numbers.
pub fn html(deltas: &[Delta]) -> String {
    if deltas.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "<h2>Compared with the baseline</h2><table class=\"baseline\"><tr><th>figure</th><th>baseline</th><th>this run</th><th>change</th></tr>",
    );
    for d in deltas {
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            d.name,
            d.format(d.before),
            d.format(d.after),
            d.change_text()
        ));
    }
    o.push_str("</table>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_relative_to_the_baseline() {
        let d = Delta {
            name: "p95",
            metric: Metric::Latency(LatencyStat::Percentile(95.0)),
            before: 0.1,
            after: 0.125,
        };
        assert_eq!(d.change_text(), "+25.0%");
        assert_eq!(d.format(d.after), "125.00ms");
        let zero = Delta {
            before: 0.0,
            ..d.clone()
        };
        assert_eq!(zero.change_text(), "n/a");
        let table = html(&[d]);
        assert!(
            table
                .contains("<tr><td>p95</td><td>100.00ms</td><td>125.00ms</td><td>+25.0%</td></tr>"),
            "{table}"
        );
        assert_eq!(html(&[]), "");
    }
}
