//! The OpenMetrics 1.0 text exposition of the gathered families, for a scraper that asks for
//! `application/openmetrics-text` (Prometheus does, and stores exemplars with
//! `--enable-feature=exemplar-storage`). The `prometheus` crate writes only the 0.0.4 text
//! format and has no exemplars; this writes the same samples, with the same label values
//! (`le` included, so a series does not change when the scrape format does), plus the
//! exemplars of `loadtide_request_duration_seconds` buckets and
//! `loadtide_request_errors_total`.

use std::fmt::Write as _;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::exemplars::{Exemplar, ExemplarIndex};
use super::names::{ENDPOINT_LABELS, REQUEST_DURATION, REQUEST_ERRORS};

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

pub fn encode(families: &[MetricFamily], exemplars: &ExemplarIndex) -> String {
    let mut o = String::with_capacity(64 * 1024);
    for mf in families {
        let name = mf.name();
        let ty = mf.get_field_type();
        let (family, kind) = match ty {
            MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
            MetricType::GAUGE => (name, "gauge"),
            MetricType::HISTOGRAM => (name, "histogram"),
            MetricType::SUMMARY => (name, "summary"),
            MetricType::UNTYPED => (name, "unknown"),
        };
        let _ = writeln!(o, "# TYPE {family} {kind}");
        if !mf.help().is_empty() {
            let _ = writeln!(o, "# HELP {family} {}", escape(mf.help()));
        }
        for m in mf.get_metric() {
            let series = if name == REQUEST_DURATION || name == REQUEST_ERRORS {
                endpoint_key(m).and_then(|k| exemplars.get(&k))
            } else {
                None
            };
            match ty {
                MetricType::COUNTER => {
                    let ex = series.as_ref().and_then(|s| s.error(label(m, "kind")?));
                    let sample = format!("{family}_total");
                    line(&mut o, &sample, m, None, m.get_counter().get_value(), ex);
                }
                MetricType::GAUGE => line(&mut o, name, m, None, m.get_gauge().get_value(), None),
                // The crate's own types never produce it (its text encoder refuses it too).
                MetricType::UNTYPED => {}
                MetricType::HISTOGRAM => histogram(&mut o, name, m, series.as_deref()),
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let quantile = q.quantile().to_string();
                        line(
                            &mut o,
                            name,
                            m,
                            Some(("quantile", &quantile)),
                            q.value(),
                            None,
                        );
                    }
                    line(
                        &mut o,
                        &format!("{name}_sum"),
                        m,
                        None,
                        s.sample_sum(),
                        None,
                    );
                    let count = s.sample_count() as f64;
                    line(&mut o, &format!("{name}_count"), m, None, count, None);
                }
            }
        }
    }
    o.push_str("# EOF\n");
    o
}

fn histogram(
    o: &mut String,
    name: &str,
    m: &Metric,
    series: Option<&super::exemplars::SeriesExemplars>,
) {
    let h = m.get_histogram();
    let bucket = format!("{name}_bucket");
    let mut inf_seen = false;
    for b in h.get_bucket() {
        let le = b.upper_bound();
        inf_seen |= le == f64::INFINITY;
        let ex = series.and_then(|s| s.bucket(le));
        let le = if le == f64::INFINITY {
            "+Inf".to_string()
        } else {
            le.to_string()
        };
        line(
            o,
            &bucket,
            m,
            Some(("le", &le)),
            b.cumulative_count() as f64,
            ex,
        );
    }
    if !inf_seen {
        let ex = series.and_then(|s| s.bucket(f64::INFINITY));
        line(
            o,
            &bucket,
            m,
            Some(("le", "+Inf")),
            h.get_sample_count() as f64,
            ex,
        );
    }
    line(o, &format!("{name}_sum"), m, None, h.get_sample_sum(), None);
    let count = h.get_sample_count() as f64;
    line(o, &format!("{name}_count"), m, None, count, None);
}

/// One sample line, with its exemplar if any: `name{labels} value # {trace_id="…"} v ts`.
fn line(
    o: &mut String,
    name: &str,
    m: &Metric,
    extra: Option<(&str, &str)>,
    value: f64,
    exemplar: Option<Exemplar>,
) {
    o.push_str(name);
    let pairs = m.get_label();
    if !pairs.is_empty() || extra.is_some() {
        let mut sep = '{';
        let extra = extra.iter().map(|(k, v)| (*k, *v));
        for (k, v) in pairs.iter().map(|p| (p.name(), p.value())).chain(extra) {
            let _ = write!(o, "{sep}{k}=\"{}\"", escape(v));
            sep = ',';
        }
        o.push('}');
    }
    let _ = write!(o, " {}", number(value));
    if let Some(e) = exemplar {
        let _ = write!(
            o,
            " # {{trace_id=\"{}\"}} {} {:.3}",
            e.trace,
            number(e.value),
            e.at
        );
    }
    o.push('\n');
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

/// `\`, newline and `"` escaped, as OpenMetrics wants in label values and help text.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['\\', '\n', '"']) {
        return v.into();
    }
    v.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
        .into()
}

fn label<'a>(m: &'a Metric, name: &str) -> Option<&'a str> {
    m.get_label()
        .iter()
        .find(|p| p.name() == name)
        .map(LabelPair::value)
}

/// The endpoint label values of `m`, in `ENDPOINT_LABELS` order (static labels left out).
fn endpoint_key(m: &Metric) -> Option<Vec<&str>> {
    ENDPOINT_LABELS.iter().map(|n| label(m, n)).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::outcome::{ErrorKind, TraceId};
    use prometheus::core::Collector as _;

    #[test]
    fn families_follow_openmetrics_with_exemplars_on_buckets_and_errors() {
        let labels = ["p", "t", "e", "GET", "http"];
        let h = prometheus::HistogramVec::new(
            prometheus::HistogramOpts::new(REQUEST_DURATION, "Latency \"of\" requests.")
                .buckets(vec![0.1, 1.0]),
            ENDPOINT_LABELS,
        )
        .unwrap();
        h.with_label_values(&labels).observe(0.05);
        let errors = prometheus::IntCounterVec::new(
            prometheus::Opts::new(REQUEST_ERRORS, "Failed requests."),
            &[ENDPOINT_LABELS, &["kind"]].concat(),
        )
        .unwrap();
        errors
            .with_label_values(&[&labels[..], &["timeout"]].concat())
            .inc();
        let index = ExemplarIndex::default();
        index
            .series(&labels, &[0.1, 1.0])
            .record(0.05, TraceId(0xab), Some(ErrorKind::Timeout));
        let families = [h.collect(), errors.collect()].concat();
        let text = encode(&families, &index);
        let trace = format!("{:032x}", 0xab);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# TYPE loadtide_request_duration_seconds histogram"
        );
        assert_eq!(
            lines[1],
            "# HELP loadtide_request_duration_seconds Latency \\\"of\\\" requests."
        );
        let bucket = |le: &str| {
            lines
                .iter()
                .find(|l| l.contains(&format!("le=\"{le}\"")))
                .unwrap()
                .to_string()
        };
        assert!(
            bucket("0.1").starts_with(
                "loadtide_request_duration_seconds_bucket{endpoint=\"e\",method=\"GET\",profile=\"p\",protocol=\"http\",target=\"t\",le=\"0.1\"} 1 # {trace_id=\""
            ) && bucket("0.1").contains(&format!("{trace}\"}} 0.05 ")),
            "{text}"
        );
        assert!(
            !bucket("1").contains('#'),
            "no exemplar in an empty bucket: {text}"
        );
        assert!(bucket("+Inf").ends_with("} 1"), "{text}");
        assert!(
            text.contains("# TYPE loadtide_request_errors counter\n"),
            "{text}"
        );
        let err = lines
            .iter()
            .find(|l| l.starts_with("loadtide_request_errors_total"))
            .unwrap();
        assert!(err.contains("kind=\"timeout\""), "{err}");
        let exemplar = format!("\"}} 1 # {{trace_id=\"{trace}\"}} 1 ");
        assert!(err.contains(&exemplar), "{err}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn accept_headers_pick_the_format() {
        assert!(wanted(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(!wanted(Some("text/plain;version=0.0.4")));
        assert!(!wanted(None));
    }
}
