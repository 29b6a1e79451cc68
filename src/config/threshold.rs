//! Threshold expressions such as `p95<1.5s`, `error_rate<2%` or `rps>=400`, optionally
//! windowed (`p95<300ms over 1m`: must hold in every 1-minute window of the run): parsed once
//! at config time (so a typo is a config error, exit 2), evaluated by `report` after a run.

use std::fmt;

/// What a threshold looks at in a run's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency statistic, in seconds.
    Latency(LatencyStat),
    /// Failed requests / all requests, 0..=1.
    ErrorRate,
    /// Completed requests per second over the run.
    Rps,
    Requests,
    Errors,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyStat {
    Min,
    Mean,
    Max,
    /// A percentile in 0..=100, e.g. 99.9.
    Percentile(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as the user wrote it, for reports.
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    /// The bound, in base units (seconds, ratio 0..=1, requests/s, count).
    pub bound: f64,
    /// `baseline*F`: the bound is F times the same metric in a baseline run (`--baseline`).
    pub baseline_factor: Option<f64>,
    /// `over 1m`: the length of the tumbling windows (whole seconds, >= 1) in each of which
    /// the threshold must hold; `None` for a whole-run threshold.
    pub window: Option<u64>,
}

impl Threshold {
    pub fn holds(&self, observed: f64) -> bool {
        self.holds_within(observed, self.bound)
    }

    /// True for `<` and `<=`: a higher value is worse (the worst window is the highest).
    pub fn is_upper_bound(&self) -> bool {
        matches!(self.op, Op::Lt | Op::Le)
    }

    /// Whether `observed` satisfies the comparison against `bound`.
    pub fn holds_within(&self, observed: f64, bound: f64) -> bool {
        match self.op {
            Op::Lt => observed < bound,
            Op::Le => observed <= bound,
            Op::Gt => observed > bound,
            Op::Ge => observed >= bound,
        }
    }
}

/// `baseline`, `baseline*1.1`, `baseline * 0.9`: the factor.
fn parse_baseline(v: &str) -> Option<Option<f64>> {
    let rest = v.strip_prefix("baseline")?.trim();
    if rest.is_empty() {
        return Some(Some(1.0));
    }
    let f: f64 = rest.strip_prefix('*')?.trim().parse().ok()?;
    Some(Some(f).filter(|f| f.is_finite() && *f >= 0.0))
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let whole = s.trim();
        let (expr, window) = split_window(whole)?;
        let mut t = parse_comparison(expr)?;
        if let Some(w) = window {
            t.expr = format!("{} over {}", t.expr, w.0);
            t.window = Some(w.1);
        }
        Ok(t)
    }
}

/// A window as written (`"1m"`) and its length in seconds.
type Window<'a> = (&'a str, u64);

/// Splits `p95<300ms over 1m` into the comparison and the window (`("1m", 60)`).
fn split_window(whole: &str) -> Result<(&str, Option<Window<'_>>), String> {
    let words: Vec<&str> = whole.split_whitespace().collect();
    let Some(at) = words.iter().position(|w| *w == "over") else {
        return Ok((whole, None));
    };
    // The byte offset of that word: the first "over" with whitespace before and after it.
    let cut = whole
        .match_indices("over")
        .map(|(i, _)| i)
        .find(|&i| {
            whole[..i].ends_with(char::is_whitespace)
                && whole[i + 4..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .unwrap_or(whole.len());
    let (expr, rest) = (whole[..cut].trim(), &words[at + 1..]);
    let window = match rest {
        [] => {
            return Err(format!(
                "invalid threshold {whole:?}: `over` needs a window length (e.g. \"p95<300ms over 1m\")"
            ))
        }
        [w] => *w,
        _ => {
            return Err(format!(
                "invalid threshold {whole:?}: `over` takes one window length such as 30s or 1m, got {:?}",
                rest.join(" ")
            ))
        }
    };
    let secs = parse_seconds(window).ok_or_else(|| {
        format!(
            "invalid threshold {whole:?}: bad window {window:?} after `over` (expected a duration such as 30s, 1m or 1h)"
        )
    })?;
    if secs < 1.0 || secs.fract() != 0.0 {
        return Err(format!(
            "invalid threshold {whole:?}: window {window:?} must be a whole number of seconds, at least 1s (the timeline has one row per second)"
        ));
    }
    Ok((expr, Some((window, secs as u64))))
}

fn parse_comparison(expr: &str) -> Result<Threshold, String> {
    let at = expr
        .find(['<', '>'])
        .ok_or_else(|| format!("invalid threshold {expr:?}: no comparison (e.g. \"p95<300ms\")"))?;
    let (name, rest) = expr.split_at(at);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else {
        (Op::Gt, &rest[1..])
    };
    let (name, value) = (name.trim(), value.trim());
    let metric = parse_metric(name).ok_or_else(|| {
            const NAMES: &[&str] = &["min", "mean", "max", "error_rate", "rps", "requests", "errors"];
            let hint = match name.strip_prefix('p').map(str::parse::<f64>) {
                Some(Ok(_)) => "; a percentile is p0 to p100".to_string(),
                _ if name.contains('{') => "; a threshold is over all of the profile's requests, \
                    with no {...} filter (a scenario step has max_latency)"
                    .to_string(),
                _ => crate::suggest::did_you_mean(name, NAMES),
            };
            format!(
                "invalid threshold {expr:?}: unknown metric {name:?}{hint} \
                 (known: p50, p90, p95, p99, p99.9, pNN, min, mean, max, error_rate, rps, requests, errors)"
            )
        })?;
    if let Some(factor) = parse_baseline(value) {
        let factor = factor.ok_or_else(|| {
                format!("invalid threshold {expr:?}: bad baseline factor in {value:?} (e.g. \"baseline*1.1\")")
            })?;
        return Ok(Threshold {
            expr: format!("{name}{}{value}", op.symbol()),
            metric,
            op,
            bound: f64::NAN,
            baseline_factor: Some(factor),
            window: None,
        });
    }
    let bound = match metric {
        Metric::Latency(_) => parse_seconds(value),
        Metric::ErrorRate => parse_ratio(value),
        Metric::Rps | Metric::Requests | Metric::Errors => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0),
    }
    .ok_or_else(|| {
        let hint = match metric {
            Metric::Latency(_) => "a duration such as 300ms or 1.5s",
            Metric::ErrorRate => "a ratio such as 0.02 or 2%",
            _ => "a non-negative number",
        };
        format!("invalid threshold {expr:?}: bad value {value:?} (expected {hint})")
    })?;
    Ok(Threshold {
        expr: format!("{name}{}{value}", op.symbol()),
        metric,
        op,
        bound,
        baseline_factor: None,
        window: None,
    })
}

fn parse_metric(name: &str) -> Option<Metric> {
    let stat = match name {
        "min" => LatencyStat::Min,
        "mean" | "avg" => LatencyStat::Mean,
        "max" => LatencyStat::Max,
        "med" | "median" => LatencyStat::Percentile(50.0),
        "p999" => LatencyStat::Percentile(99.9),
        "error_rate" => return Some(Metric::ErrorRate),
        "rps" => return Some(Metric::Rps),
        "requests" => return Some(Metric::Requests),
        "errors" => return Some(Metric::Errors),
        _ => {
            let p: f64 = name.strip_prefix('p')?.parse().ok()?;
            if !(0.0..=100.0).contains(&p) {
                return None;
            }
            LatencyStat::Percentile(p)
        }
    };
    Some(Metric::Latency(stat))
}

/// `300ms`, `1.5s`, `250us`, `2m`, `1h`; a bare number is seconds.
pub fn parse_seconds(v: &str) -> Option<f64> {
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(num * scale).filter(|v| v.is_finite())
}

fn parse_ratio(v: &str) -> Option<f64> {
    let r = match v.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => v.parse::<f64>().ok()?,
    };
    Some(r).filter(|r| (0.0..=1.0).contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Threshold {
        s.parse().expect("valid threshold")
    }

    #[test]
    fn parses_latency_rate_and_counts() {
        let p95 = t("p95<1.5s");
        assert_eq!(p95.metric, Metric::Latency(LatencyStat::Percentile(95.0)));
        assert_eq!((p95.op, p95.bound), (Op::Lt, 1.5));
        assert_eq!(t("p99 <= 250ms").bound, 0.25);
        assert_eq!(t("p99 <= 250ms").expr, "p99<=250ms");
        assert_eq!(
            t("p99.9<2s").metric,
            Metric::Latency(LatencyStat::Percentile(99.9))
        );
        assert_eq!(
            t("p999<2s").metric,
            Metric::Latency(LatencyStat::Percentile(99.9))
        );
        assert_eq!(t("error_rate<2%").bound, 0.02);
        assert_eq!(t("error_rate<0.02").bound, 0.02);
        let rps = t("rps>=400");
        assert_eq!(
            (rps.metric, rps.op, rps.bound),
            (Metric::Rps, Op::Ge, 400.0)
        );
        assert!((t("mean<100us").bound - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn holds_respects_strictness() {
        assert!(t("p95<1s").holds(0.999));
        assert!(!t("p95<1s").holds(1.0));
        assert!(t("p95<=1s").holds(1.0));
        assert!(t("rps>400").holds(401.0));
        assert!(!t("rps>400").holds(400.0));
    }

    #[test]
    fn rejects_with_a_reason() {
        let e = "p95=1s".parse::<Threshold>().expect_err("no operator");
        assert!(e.contains("no comparison"), "{e}");
        let e = "p42x<1s".parse::<Threshold>().expect_err("bad metric");
        assert!(e.contains("unknown metric \"p42x\""), "{e}");
        let e = "p95<fast".parse::<Threshold>().expect_err("bad value");
        assert!(e.contains("bad value \"fast\""), "{e}");
        let e = "error_rate<150%"
            .parse::<Threshold>()
            .expect_err("ratio over 1");
        assert!(e.contains("ratio"), "{e}");
        assert!("p101<1s".parse::<Threshold>().is_err());
    }

    #[test]
    fn parses_windows() {
        let w = t("p95<300ms over 1m");
        assert_eq!(w.window, Some(60));
        assert_eq!((w.op, w.bound), (Op::Lt, 0.3));
        assert_eq!(w.expr, "p95<300ms over 1m");
        assert_eq!(t("p95 < 300ms   over  2s").expr, "p95<300ms over 2s");
        assert_eq!(t("error_rate<1% over 30s").window, Some(30));
        assert_eq!(t("rps>=100 over 1h").window, Some(3600));
        assert_eq!(t("max<1s over 90").window, Some(90), "bare seconds");
        assert_eq!(t("p99<baseline*1.2 over 1m").baseline_factor, Some(1.2));
        assert_eq!(t("p95<300ms").window, None);
    }

    #[test]
    fn rejects_bad_windows_with_a_reason() {
        let e = |s: &str| s.parse::<Threshold>().expect_err(s);
        let m = e("p95<300ms over");
        assert!(m.contains("`over` needs a window length"), "{m}");
        let m = e("p95<300ms over soon");
        assert!(m.contains("bad window \"soon\""), "{m}");
        let m = e("p95<300ms over 500ms");
        assert!(m.contains("whole number of seconds, at least 1s"), "{m}");
        let m = e("p95<300ms over 0s");
        assert!(m.contains("at least 1s"), "{m}");
        let m = e("p95<300ms over 1.5s");
        assert!(m.contains("whole number of seconds"), "{m}");
        let m = e("p95<300ms over 1m 30s");
        assert!(m.contains("one window length"), "{m}");
        let m = e("p95<fast over 1m");
        assert!(m.contains("bad value \"fast\""), "{m}");
    }
}
