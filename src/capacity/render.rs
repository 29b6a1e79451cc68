//! The capacity search's outputs: the load-level table for a terminal, JSON, and one
//! self-contained HTML file (inline CSS and SVG from `report::svg`, nothing fetched).

use std::fmt::Write as _;

use super::{CapacityReport, Level, LevelVerdict};
use crate::html::escape;
use crate::report::findings;
use crate::report::render::seconds;
use crate::report::svg::bar_chart;

/// The table's header line.
pub fn table_header() -> String {
    format!(
        "  {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}  {}",
        "rate", "achieved", "p50", "p95", "p99", "errors", "dropped", "verdict"
    )
}

/// One level as a table row.
pub fn table_row(l: &Level) -> String {
    let verdict = match l.verdict {
        LevelVerdict::Pass => "PASS".to_string(),
        LevelVerdict::Fail => format!("FAIL ({})", l.broken.join(", ")),
        LevelVerdict::SafetyCapped => format!("SAFETY-CAPPED ({})", safety_held(l)),
        LevelVerdict::GeneratorBound => {
            format!("GENERATOR-BOUND ({})", l.health.reasons.join("; "))
        }
    };
    format!(
        "  {:>8.1}/s {:>8.1}/s {:>10} {:>10} {:>10} {:>7.2}% {:>8}  {verdict}",
        l.rate,
        l.achieved_rps,
        seconds(l.latency.p50),
        seconds(l.latency.p95),
        seconds(l.latency.p99),
        l.error_rate * 100.0,
        l.health.dropped,
    )
}

/// What a `[safety]` cap held back at a safety-capped level.
fn safety_held(l: &Level) -> String {
    format!(
        "{} held back {:.0}% of arrivals",
        l.health
            .safety_cap
            .as_deref()
            .unwrap_or("the [safety] caps"),
        l.health.safety_drop_ratio * 100.0
    )
}

/// The end-of-search text: the levels by rate, the answer, the knee and the findings.
pub fn text(r: &CapacityReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\nloadtide capacity · profile {}", r.profile);
    let _ = writeln!(o, "  SLOs         {}", r.slos.join(", "));
    let _ = writeln!(o, "  levels (by rate)");
    let _ = writeln!(o, "{}", table_header());
    let mut by_rate: Vec<&Level> = r.levels.iter().collect();
    by_rate.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    for l in by_rate {
        let _ = writeln!(o, "{}", table_row(l));
    }
    let _ = writeln!(o, "  result       {}", r.message);
    let _ = writeln!(o, "  capacity     {:.1} req/s", r.capacity_rps);
    if let Some(slo) = &r.broken_slo {
        let _ = writeln!(
            o,
            "  first broken {slo} at {:.1} req/s",
            r.first_failing_rps.unwrap_or_default()
        );
    }
    match &r.knee {
        Some(k) => {
            let _ = writeln!(
                o,
                "  knee         {:.1} req/s: p50 {} > {}× the lowest level's {}",
                k.rate,
                seconds(k.p50),
                k.factor,
                seconds(k.base_p50)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  knee         none (p50 never reached {}× the lowest level's)",
                r.settings.knee_factor
            );
        }
    }
    if let Some(g) = &r.generator_limit {
        let _ = writeln!(
            o,
            "  GENERATOR-BOUND at {:.1} req/s: {}",
            g.rate,
            g.reasons.join("; ")
        );
        let _ = writeln!(o, "               {}", g.advice);
    }
    o.push_str(&findings::to_text(&r.findings));
    o
}

pub fn json(r: &CapacityReport) -> String {
    serde_json::to_string_pretty(r).expect("a capacity report always serialises")
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:980px;color:#222}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}\
td:last-child,th:last-child{text-align:left}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}\
.gen{color:#9a6700;font-weight:600}.chart{display:block;margin:.5em 0}.chart .grid{stroke:#eee}\
.chart .tick{font-size:10px;fill:#666}.chart .title{font-size:12px;font-weight:600}.chart .bar{fill:#4c78a8}\
@media print{body{margin:0}}";

/// The HTML report: answer, level table, charts of throughput and p99 per level, findings.
pub fn html(r: &CapacityReport, command: &str) -> String {
    let mut o = String::new();
    let title = format!("loadtide capacity · {}", r.profile);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head><body><h1>{t}</h1>",
        t = escape(&title)
    );
    let _ = write!(
        o,
        "<p><strong>{}</strong></p><p>capacity <strong>{:.1} req/s</strong> · SLOs <code>{}</code> · command <code>{}</code></p>",
        escape(&r.message),
        r.capacity_rps,
        escape(&r.slos.join(", ")),
        escape(command)
    );
    if let Some(k) = &r.knee {
        let _ = write!(
            o,
            "<p>knee: {:.1} req/s (p50 {} vs {} at the lowest level)</p>",
            k.rate,
            seconds(k.p50),
            seconds(k.base_p50)
        );
    }
    o.push_str("<h2>Levels</h2><table><tr><th>rate</th><th>achieved</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th><th>dropped</th><th>lag p99</th><th>CPU</th><th>verdict</th></tr>");
    let mut by_rate: Vec<&Level> = r.levels.iter().collect();
    by_rate.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    for l in &by_rate {
        let (class, verdict) = match l.verdict {
            LevelVerdict::Pass => ("pass", "PASS".to_string()),
            LevelVerdict::Fail => ("fail", format!("FAIL: {}", l.broken.join(", "))),
            LevelVerdict::SafetyCapped => ("gen", format!("SAFETY-CAPPED: {}", safety_held(l))),
            LevelVerdict::GeneratorBound => (
                "gen",
                format!("GENERATOR-BOUND: {}", l.health.reasons.join("; ")),
            ),
        };
        let _ = write!(
            o,
            "<tr><td>{:.1}/s</td><td>{:.1}/s</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{:.0}%</td><td class=\"{class}\">{}</td></tr>",
            l.rate,
            l.achieved_rps,
            seconds(l.latency.p50),
            seconds(l.latency.p95),
            seconds(l.latency.p99),
            l.error_rate * 100.0,
            l.health.dropped,
            seconds(l.health.lag_p99),
            l.health.cpu_utilisation * 100.0,
            escape(&verdict)
        );
    }
    o.push_str("</table><h2>Charts</h2>");
    let label = |l: &&Level| format!("{:.0}", l.rate);
    let achieved: Vec<(String, f64)> = by_rate.iter().map(|l| (label(l), l.achieved_rps)).collect();
    o.push_str(&bar_chart(
        "achieved",
        "achieved req/s per offered rate",
        &achieved,
        &|v| format!("{v:.0}/s"),
    ));
    let p99: Vec<(String, f64)> = by_rate.iter().map(|l| (label(l), l.latency.p99)).collect();
    o.push_str(&bar_chart(
        "p99",
        "p99 latency per offered rate",
        &p99,
        &|v| seconds(v),
    ));
    o.push_str(&findings::to_html(&r.findings));
    o.push_str("</body></html>\n");
    o
}
