//! The status page on `/`: one self-contained HTML page (inline style and SVG, no script,
//! nothing fetched) that reloads itself every few seconds. Per profile: state, intended and
//! achieved rate, p50/p99 and error ratio over the last minute, a sparkline of the achieved
//! rate over five minutes and the next start. Numbers are rounded to three significant
//! figures, so the page reads like a dashboard rather than a dump.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::server::ServerState;
use super::status::{EVERY, RECENT};
use crate::html::escape;
use crate::pause::PauseSource;
use crate::report::render::count;

const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{font-size:18px;margin:0}\
header p{margin:4px 0 0;color:#c5cad6}header a{color:#9ecbff}\
main{padding:16px 24px}table{border-collapse:collapse;width:100%;background:#fff;\
box-shadow:0 1px 2px #0002}th,td{padding:8px 10px;text-align:left;border-bottom:1px solid #e3e6ec;\
vertical-align:top}th{font-size:12px;text-transform:uppercase;color:#5b6475;letter-spacing:.03em}\
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.desc{color:#5b6475;font-size:12px}.state{font-weight:600;padding:1px 8px;border-radius:9px;\
font-size:12px}.active{background:#d6f5df;color:#17652f}.paused{background:#fde4c8;color:#8a4a00}\
.idle{background:#e3e6ec;color:#3b4252}.banner{background:#fde4c8;color:#8a4a00;padding:8px 12px;\
margin-bottom:12px;font-weight:600}svg.spark polyline{fill:none;stroke:#2f6fde;stroke-width:1.5}\
.muted{color:#8a92a3}footer{color:#5b6475;font-size:12px;padding:0 24px 16px}";

const SPARK_W: f64 = 120.0;
const SPARK_H: f64 = 28.0;

/// The page, as of now.
pub(super) fn render(state: &ServerState) -> String {
    let profiles = state.profiles.read().expect("status lock poisoned").clone();
    let mut rows = String::new();
    for (name, description) in &profiles {
        row(&mut rows, state, name, description);
    }
    if profiles.is_empty() {
        rows.push_str("<tr><td colspan=\"9\" class=\"muted\">No profiles in the config.</td></tr>");
    }
    let ready = state.ready.load(Ordering::Relaxed);
    let refresh = EVERY.as_secs();
    let api = if state.control_api {
        " · <a href=\"/api/v1/profiles\">Control API</a>"
    } else {
        ""
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{refresh}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <link rel=\"icon\" href=\"data:,\">\
         <title>loadtide · {}</title><style>{STYLE}</style></head><body>\
         <header><h1>loadtide {}</h1><p>{} · {} · <a href=\"/metrics\">Metrics</a> · \
         <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a>{api}</p></header>\
         <main>{}<table><thead><tr><th>Profile</th><th>State</th><th>Achieved</th>\
         <th>Intended</th><th>p50</th><th>p99</th><th>Errors</th><th>Last 5 min</th>\
         <th>Next start</th></tr></thead><tbody>{rows}</tbody></table></main>\
         <footer>Rates over the last 10 s; latency and errors over the last {}; \
         refreshes every {refresh} s.</footer></body></html>\n",
        count(profiles.len(), "profile"),
        env!("CARGO_PKG_VERSION"),
        count(profiles.len(), "profile"),
        if ready { "ready" } else { "starting" },
        banner(state),
        duration(RECENT),
    )
}

/// A line above the table while the kill switch holds all traffic.
fn banner(state: &ServerState) -> String {
    let file = || {
        state
            .pause_file
            .as_ref()
            .map(|f| escape(&f.display().to_string()))
            .unwrap_or_default()
    };
    let by = match (
        state.pause.held_by(PauseSource::Api),
        state.pause.held_by(PauseSource::File),
    ) {
        (false, false) => return String::new(),
        (true, false) => "POST /-/pause".to_string(),
        (false, true) => format!("the pause file {}", file()),
        (true, true) => format!("the pause file {} and POST /-/pause", file()),
    };
    format!("<div class=\"banner\">All traffic is paused by {by}.</div>")
}

fn row(o: &mut String, state: &ServerState, name: &str, description: &str) {
    let s = state.metrics.profile_status(name);
    let paused = state.controls.is_paused(name);
    let (class, label) = match (paused, s.active) {
        (true, _) => ("paused", "paused"),
        (false, true) => ("active", "active"),
        (false, false) => ("idle", "idle"),
    };
    let recent = state.history.recent(name);
    let window = recent.window.as_ref();
    let dash = || "<span class=\"muted\">–</span>".to_string();
    let achieved = match state.controls.achieved(name) {
        Some(r) if s.active || r > 0.0 => format!("{}/s", sig(r)),
        _ => dash(),
    };
    // A closed model intends users, not a rate.
    let intended = match (s.active, s.intended_rps, s.virtual_users) {
        (false, ..) => dash(),
        (true, r, users) if r == 0.0 && users > 0 => count(users as usize, "user"),
        (true, r, _) => format!("{}/s", sig(r)),
    };
    let q = |q: f64| {
        window
            .and_then(|w| w.quantile(q))
            .map_or_else(dash, latency)
    };
    let errors = window
        .and_then(|w| w.error_ratio())
        .map_or_else(dash, percent);
    let next = match &s.next_start {
        Some(at) => match chrono::DateTime::parse_from_rfc3339(at) {
            Ok(t) => {
                let left = (t.timestamp() - chrono::Utc::now().timestamp()).max(0);
                format!(
                    "<span title=\"{at}\">in {}</span>",
                    duration(Duration::from_secs(left as u64))
                )
            }
            Err(_) => escape(at),
        },
        None => dash(),
    };
    let _ = write!(
        o,
        "<tr data-profile=\"{n}\"><td><b>{n}</b><div class=\"desc\">{d}</div></td>\
         <td><span class=\"state {class}\">{label}</span></td><td class=\"num\">{achieved}</td>\
         <td class=\"num\">{intended}</td><td class=\"num\">{p50}</td><td class=\"num\">{p99}</td>\
         <td class=\"num\">{errors}</td><td>{spark}</td><td class=\"num\">{next}</td></tr>",
        n = escape(name),
        d = escape(description),
        p50 = q(0.5),
        p99 = q(0.99),
        spark = sparkline(&recent.rates),
    );
}

/// The rates as a small line chart, zero at the bottom; a dash before two points.
fn sparkline(rates: &[f64]) -> String {
    if rates.len() < 2 {
        return "<span class=\"muted\">–</span>".into();
    }
    let max = rates.iter().copied().fold(0.0, f64::max);
    let step = SPARK_W / (rates.len() - 1) as f64;
    let points: Vec<String> = rates
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let y = if max > 0.0 {
                SPARK_H - 1.0 - r / max * (SPARK_H - 2.0)
            } else {
                SPARK_H - 1.0
            };
            format!("{:.1},{y:.1}", i as f64 * step)
        })
        .collect();
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    format!(
        "<svg class=\"spark\" width=\"{SPARK_W}\" height=\"{SPARK_H}\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" \
         role=\"img\"><title>achieved req/s every {} s: min {}, max {}</title>\
         <polyline points=\"{}\"/></svg>",
        EVERY.as_secs(),
        sig(min),
        sig(max),
        points.join(" ")
    )
}

/// `v` to three significant figures, trailing zeros dropped: 1234 -> "1230", 12.0 -> "12",
/// 0.012345 -> "0.0123"; thousands as "k" from 10,000 on.
fn sig(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.abs() >= 10_000.0 {
        return format!("{}k", sig(v / 1000.0));
    }
    sig_digits(v, 3)
}

fn sig_digits(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32 + 1;
    let decimals = (digits - magnitude).max(0);
    let scale = 10f64.powi(magnitude - digits);
    let rounded = if decimals == 0 {
        (v / scale).round() * scale
    } else {
        v
    };
    let s = format!("{rounded:.*}", decimals as usize);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Seconds as µs, ms or s with three significant figures: "850µs", "12.3ms", "1.5s".
fn latency(s: f64) -> String {
    // Thresholds just under the unit, so 0.9999 s reads "1s", not "1000ms".
    if s < 0.999_5e-3 {
        format!("{}µs", sig_digits(s * 1e6, 3))
    } else if s < 0.999_5 {
        format!("{}ms", sig_digits(s * 1e3, 3))
    } else {
        format!("{}s", sig_digits(s, 3))
    }
}

/// A ratio as a percentage with two significant figures: "0%", "0.12%", "12%".
fn percent(r: f64) -> String {
    format!("{}%", sig_digits(r * 100.0, 2))
}

/// "45 s", "1 min", "12 min", "3 h 20 min", "1 day", "2 days", "73 years".
fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        86_400..31_536_000 => count((s / 86_400) as usize, "day"),
        _ => count((s / 31_536_000) as usize, "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_figures() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (12.0, "12"),
            (12.345, "12.3"),
            (99.96, "100"),
            (1234.5, "1230"),
            (0.012345, "0.0123"),
            (19_999.0, "20k"),
            (123_456.0, "123k"),
            (f64::NAN, "–"),
        ];
        for (v, want) in cases {
            assert_eq!(sig(v), want, "{v}");
        }
    }

    #[test]
    fn latencies_ratios_and_spans_read_like_words() {
        assert_eq!(latency(0.000_85), "850µs");
        assert_eq!(latency(0.012_34), "12.3ms");
        assert_eq!(latency(0.999_9), "1s");
        assert_eq!(latency(0.000_999_9), "1ms");
        assert_eq!(latency(1.5), "1.5s");
        assert_eq!(percent(0.0), "0%");
        assert_eq!(percent(0.001_234), "0.12%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(duration(Duration::from_secs(45)), "45 s");
        assert_eq!(duration(Duration::from_secs(60)), "1 min");
        assert_eq!(duration(Duration::from_secs(3600)), "1 h");
        assert_eq!(duration(Duration::from_secs(3600 + 20 * 60)), "1 h 20 min");
        assert_eq!(duration(Duration::from_secs(86_400)), "1 day");
        assert_eq!(duration(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(duration(Duration::from_secs(364 * 86_400)), "364 days");
        assert_eq!(duration(Duration::from_secs(800 * 86_400)), "2 years");
    }

    #[test]
    fn the_sparkline_spans_the_box_with_zero_at_the_bottom() {
        assert!(sparkline(&[5.0]).contains('–'), "one point is no line");
        let svg = sparkline(&[0.0, 10.0, 5.0]);
        assert!(
            svg.contains("points=\"0.0,27.0 60.0,1.0 120.0,14.0\""),
            "{svg}"
        );
        assert!(svg.contains("min 0, max 10"), "{svg}");
        let flat = sparkline(&[0.0, 0.0]);
        assert!(flat.contains("0.0,27.0 120.0,27.0"), "{flat}");
    }
}
