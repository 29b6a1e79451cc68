//! `--report PATH.md`: the summary as Markdown tables, for a pull-request comment, with the
//! windows in which windowed thresholds failed.

use std::fmt::Write as _;

use super::html::ReportMeta;
use super::render::{seconds, value, window_span};
use super::summary::Summary;

/// Table cells may not contain a bare `|`.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown report for `s`.
pub fn markdown(s: &Summary, meta: &ReportMeta) -> String {
    let mut o = String::new();
    let verdict = if s.thresholds.iter().all(|t| t.passed) {
        "✅ all thresholds passed"
    } else {
        "❌ thresholds failed"
    };
    let _ = writeln!(o, "### loadtide · {} · {verdict}\n", cell(&s.profile));
    let _ = writeln!(
        o,
        "`{}` against {} for {:.1} s\n",
        meta.command.replace('`', "'"),
        meta.target,
        s.duration_s
    );
    let _ = writeln!(
        o,
        "| requests | rps | errors | p50 | p90 | p95 | p99 | max |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let l = &s.latency;
    let _ = writeln!(
        o,
        "| {} | {:.1} | {:.2}% | {} | {} | {} | {} | {} |\n",
        s.requests,
        s.rps,
        s.error_rate * 100.0,
        seconds(l.p50),
        seconds(l.p90),
        seconds(l.p95),
        seconds(l.p99),
        seconds(l.max)
    );
    if !meta.deltas.is_empty() {
        deltas(&mut o, meta);
    }
    if !s.thresholds.is_empty() {
        thresholds(&mut o, s);
    }
    o.push_str(&super::findings::to_markdown(&s.findings));
    endpoints(&mut o, s);
    if let Some(sc) = &s.scenario {
        let _ = writeln!(
            o,
            "\nScenario `{}`: {} iterations, {} failed, iteration p95 {}",
            cell(&sc.name),
            sc.iterations,
            sc.failures,
            seconds(sc.duration.p95)
        );
    }
    o
}

/// The figures compared with `--baseline`.
fn deltas(o: &mut String, meta: &ReportMeta) {
    let _ = writeln!(
        o,
        "| vs baseline | baseline | this run | change |\n| --- | ---: | ---: | ---: |"
    );
    for d in &meta.deltas {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            d.name,
            d.format(d.before),
            d.format(d.after),
            d.change_text()
        );
    }
    o.push('\n');
}

/// A threshold's value in its unit (the expression says which metric it is).
fn threshold_value(expr: &str, v: f64) -> String {
    match expr.parse::<crate::config::Threshold>() {
        Ok(t) => value(t.metric, v),
        Err(_) => format!("{v}"),
    }
}

/// The thresholds table, the windows in which windowed thresholds failed, and the warmup note.
fn thresholds(o: &mut String, s: &Summary) {
    let _ = writeln!(o, "| threshold | value | result |\n| --- | ---: | :---: |");
    for t in &s.thresholds {
        let _ = writeln!(
            o,
            "| `{}` | {}{} | {} |",
            cell(&t.expr),
            threshold_value(&t.expr, t.value),
            if t.windows.is_some() {
                " (worst window)"
            } else {
                ""
            },
            if t.passed { "✅" } else { "❌" }
        );
    }
    o.push('\n');
    for t in &s.thresholds {
        let failing: Vec<String> = t
            .failing_windows()
            .map(|w| {
                format!(
                    "{} ({})",
                    window_span(w.start_s, w.end_s),
                    threshold_value(&t.expr, w.value)
                )
            })
            .collect();
        if !failing.is_empty() {
            let _ = writeln!(
                o,
                "- `{}` failed in {}: {}",
                cell(&t.expr),
                if failing.len() == 1 {
                    "1 window"
                } else {
                    "these windows"
                },
                failing.join(", ")
            );
        }
    }
    if s.thresholds
        .iter()
        .any(|t| t.failing_windows().next().is_some())
    {
        o.push('\n');
    }
    if s.warmup_s > 0.0 {
        let _ = writeln!(
            o,
            "The first {:.1} s (warmup) are left out of every figure and threshold.\n",
            s.warmup_s
        );
    }
}

/// One row per endpoint.
fn endpoints(o: &mut String, s: &Summary) {
    let _ = writeln!(
        o,
        "| endpoint | method | requests | rps | errors | p50 | p90 | p95 | p99 | max |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for e in &s.endpoints {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.1} | {:.2}% | {} | {} | {} | {} | {} |",
            cell(&e.name),
            e.method,
            e.requests,
            e.rps,
            e.error_rate * 100.0,
            seconds(e.latency.p50),
            seconds(e.latency.p90),
            seconds(e.latency.p95),
            seconds(e.latency.p99),
            seconds(e.latency.max)
        );
    }
}
