//! Bottleneck hints, computed from evidence only: every finding carries the figures it rests
//! on, and a rule that lacks its evidence says nothing. Rules: the generator was the limit;
//! the target saturated (latency rising at flat throughput); connection errors growing with
//! the load; errors concentrated on one endpoint or one status code; a bimodal latency
//! distribution. `run::for_run` gives a one-shot run's findings and `levels::for_levels` a
//! capacity search's; `errors` and `latency_shape` hold the rules both share. This file holds
//! what they all speak in (`Finding`, `FindingKind`, the rules' shared limits) and the small
//! renderers (`to_text`, `to_html`, `to_markdown`) that let every report show them the same
//! way.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::html::escape;

mod errors;
pub mod latency_shape;
pub mod levels;
pub mod run;

/// One hint, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One sentence with the figures.
    pub message: String,
    /// What to do about it.
    pub advice: String,
    /// The figures, by name (seconds, ratios, requests per second, counts).
    pub evidence: BTreeMap<String, f64>,
}

/// What a finding is about; written (JSON, text, Markdown, HTML) as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The generator, not the target, was the limit: drops, scheduler lag or its CPU.
    GeneratorBound,
    /// The `[safety]` caps refused part of the load the profile asks for.
    SafetyCapped,
    /// Latency rose while throughput stayed flat: the target queues.
    TargetSaturating,
    /// Connect errors and timeouts: a connection limit at the target or in front of it.
    ConnectionLimit,
    /// Most errors on one endpoint or one HTTP status code.
    ErrorsConcentrated,
    /// Two latency modes far apart.
    LatencyBimodal,
}

impl FindingKind {
    /// The name as written in every output, e.g. `generator_bound`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::GeneratorBound => "generator_bound",
            FindingKind::SafetyCapped => "safety_capped",
            FindingKind::TargetSaturating => "target_saturating",
            FindingKind::ConnectionLimit => "connection_limit",
            FindingKind::ErrorsConcentrated => "errors_concentrated",
            FindingKind::LatencyBimodal => "latency_bimodal",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

fn finding(kind: FindingKind, message: String, advice: &str, evidence: &[(&str, f64)]) -> Finding {
    Finding {
        kind,
        message,
        advice: advice.into(),
        evidence: evidence.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

pub const SCALE_OUT: &str = "the generator, not the target, was the limit: raise max_in_flight \
    (--max-in-flight) if drops are the reason, or split the load over several machines with \
    --shard I/N (loadtide merge combines their summaries)";

/// Latency that at least doubled, by at least this much, counts as rising.
const RISE_FACTOR: f64 = 2.0;
const RISE_MIN: f64 = 0.005;
/// Throughput within this of the earlier figure counts as flat.
const FLAT: f64 = 0.10;

/// The generator's own figures over a one-shot run (not in the summary: they describe the
/// machine that ran it, and a merge of shards has none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorHealth {
    /// Scheduler lag p99 (a histogram bucket's upper bound), seconds.
    pub lag_p99: f64,
    /// Share of arrivals dispatched later than `lag_bound`.
    pub late_share: f64,
    pub lag_bound: f64,
    /// The process's CPU time / (wall time × available cores).
    pub cpu_utilisation: f64,
    pub max_cpu: f64,
}

fn rising(before: f64, after: f64) -> bool {
    after >= before * RISE_FACTOR && after - before >= RISE_MIN
}

/// Plain text, one finding per paragraph (empty when there are none).
pub fn to_text(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    let _ = writeln!(o, "  findings");
    for f in findings {
        let _ = writeln!(o, "    [{}] {}", f.kind, f.message);
        let _ = writeln!(o, "      → {}", f.advice);
    }
    o
}

/// An HTML section (`<h2>` and a list), no CSS needed; empty when there are none.
pub fn to_html(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    o.push_str("<h2>Findings</h2><ul class=\"findings\">");
    for f in findings {
        let evidence: Vec<String> = f
            .evidence
            .iter()
            .map(|(k, v)| format!("{k}={}", trim(*v)))
            .collect();
        let _ = write!(
            o,
            "<li><strong>{}</strong>: {}<br><em>{}</em><br><small>evidence: {}</small></li>",
            escape(f.kind.as_str()),
            escape(&f.message),
            escape(&f.advice),
            escape(&evidence.join(", "))
        );
    }
    o.push_str("</ul>");
    o
}

/// A Markdown section; empty when there are none.
pub fn to_markdown(findings: &[Finding]) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    o.push_str("### Findings\n\n");
    for f in findings {
        let _ = writeln!(o, "- **{}**: {} — _{}_", f.kind, f.message, f.advice);
    }
    o.push('\n');
    o
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
