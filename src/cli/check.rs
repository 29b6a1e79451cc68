//! `loadtide check`: validates a config and prints what each profile would run (load,
//! limits, endpoint mix, safety caps, timetable); sends no traffic.

use std::path::Path;
use std::time::SystemTime;

use super::generate::print_all;
use super::{print_config_errors, CheckOutput, EXIT_USAGE};
use crate::config::{self, Config, Load};

pub(super) fn check(
    path: &Path,
    env: Option<&str>,
    at: Option<SystemTime>,
    output: CheckOutput,
) -> u8 {
    let at = at
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_else(chrono::Utc::now);
    let loaded = config::load_env(path, env).and_then(|c| {
        let overlay = env.map(|e| config::overlay_keys(path, e)).transpose()?;
        Ok((c, overlay))
    });
    match (loaded, output) {
        (Ok((c, overlay)), CheckOutput::Json) => {
            let doc = super::check_json::config(path, &c, overlay, at);
            print_all(format!("{doc:#}\n").as_bytes())
        }
        (Err(e), CheckOutput::Json) => {
            let doc = super::check_json::errors(path, &e);
            print_all(format!("{doc:#}\n").as_bytes()).max(EXIT_USAGE)
        }
        (Ok((c, overlay)), CheckOutput::Text) => {
            let mut text = describe_config(path, &c, at);
            if let Some((file, keys)) = overlay {
                text.push_str(&describe_overlay(&file, &keys));
            }
            print_all(text.as_bytes())
        }
        (Err(e), CheckOutput::Text) => {
            print_config_errors(&e);
            EXIT_USAGE
        }
    }
}

/// Which keys an `--env` overlay set over the base file (values are in the sections above,
/// already merged; secrets are never printed).
fn describe_overlay(file: &Path, keys: &[String]) -> String {
    let mut o = format!(
        "overlay {}: sets {}\n",
        file.display(),
        crate::report::render::count(keys.len(), "key")
    );
    for k in keys {
        o.push_str(&format!("  {k}\n"));
    }
    o
}

/// What `check` prints: every profile with its load, limits, endpoint mix and timetable
/// (next activations and the planned load over the 24 hours from `at`).
pub fn describe_config(path: &Path, c: &Config, at: chrono::DateTime<chrono::Utc>) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "{}: OK", path.display());
    let _ = writeln!(o, "metrics on {}", c.server.listen);
    if !c.labels.is_empty() {
        let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = writeln!(o, "labels on every series: {}", labels.join(", "));
    }
    if let Some(d) = c.demo_target {
        let _ = writeln!(o, "demo target on {d}");
    }
    o.push_str(&describe_safety(c));
    for p in &c.profiles {
        let (load, length) = load_and_length(p);
        let t = &p.target;
        let _ = writeln!(o, "profile {}: {load}, {length}", p.name);
        let _ = writeln!(
            o,
            "  target {} = {}://{} (timeout {})",
            t.name,
            t.scheme.as_str(),
            t.authority(),
            humantime::format_duration(t.timeout)
        );
        if let Some(sd) = &t.file_sd {
            let list: Vec<String> = sd.initial.iter().map(|i| i.to_string()).collect();
            let _ = writeln!(
                o,
                "  connections go to {} from file_sd (re-read on change and every {}): {}",
                crate::report::render::count(list.len(), "instance"),
                humantime::format_duration(sd.refresh_interval),
                list.join(", ")
            );
        }
        if let Some(server) = t.dns_server {
            let _ = writeln!(o, "  names resolved by DNS server {server}");
        }
        if let Some(sc) = &p.scenario {
            let _ = writeln!(o, "  scenario {} (each iteration in order):", sc.name);
            for line in sc.describe() {
                let _ = writeln!(o, "    {line}");
            }
        }
        if let Some(ws) = &t.websocket {
            o.push_str(&ws.describe());
        }
        if p.scenario.is_none() {
            o.push_str(&endpoint_lines(t, &p.endpoints));
        }
        for th in &p.thresholds {
            let _ = writeln!(o, "  threshold {th}");
        }
        if let Some(b) = &p.brake {
            let _ = writeln!(o, "  {}", b.describe());
        }
        o.push_str(&crate::timetable::describe(p, at));
    }
    o
}

/// One line per endpoint of `used`: name, method, what a request sends, its share of the
/// weight; columns as wide as their longest entry (a long name, TRANSACTION, ...).
fn endpoint_lines(t: &config::Target, used: &[usize]) -> String {
    use std::fmt::Write as _;
    let total: u32 = used.iter().map(|&i| t.endpoints[i].weight).sum();
    let rows: Vec<_> = used
        .iter()
        .map(|&i| {
            let e = &t.endpoints[i];
            let share = 100.0 * f64::from(e.weight) / f64::from(total.max(1));
            (
                e.name.as_str(),
                e.method.as_str(),
                endpoint_detail(t, e),
                share,
            )
        })
        .collect();
    let width = |col: fn(&(&str, &str, String, f64)) -> usize, min: usize| {
        rows.iter().map(col).max().unwrap_or(0).max(min)
    };
    let name_w = width(|r| r.0.chars().count(), 16);
    let (method_w, detail_w) = (width(|r| r.1.len(), 6), width(|r| r.2.chars().count(), 30));
    let mut o = String::new();
    for (name, method, detail, share) in &rows {
        let _ = writeln!(
            o,
            "  endpoint {name:<name_w$} {method:<method_w$} {detail:<detail_w$} {share:5.1}%"
        );
    }
    o
}

/// What one request to `e` sends, as `check` shows it: never a body or argument that could
/// hold a secret.
fn endpoint_detail(t: &config::Target, e: &config::Endpoint) -> String {
    // A socket body may carry a secret (AUTH ...): its size and reply rule only.
    if t.scheme.is_socket() {
        format!("{} bytes, {}", e.body.len(), e.reply.describe(t.scheme))
    } else if !e.sql.statements.is_empty() {
        // Statements may hold literals worth keeping private: their size only.
        let st = &e.sql.statements;
        let size = format!(
            "{} param(s), {} chars of SQL",
            st.iter().map(|s| s.params.len()).sum::<usize>(),
            st.iter().map(|s| s.query.len()).sum::<usize>()
        );
        if e.sql.transaction {
            format!("transaction of {} statement(s), {size}", st.len())
        } else {
            size
        }
    } else if !e.command.is_empty() {
        // Arguments may be credentials (AUTH): their count only.
        format!("{} argument(s)", e.command.len() - 1)
    } else if let Some(s) = e.grpc.as_ref().and_then(|g| g.requests.as_ref()) {
        format!("{}, {}", crate::redact::path(&e.path), s.describe())
    } else {
        crate::redact::path(&e.path)
    }
}

/// A profile's load ("open model, 20 req/s, max 1000 in flight") and how long it runs.
pub(super) fn load_and_length(p: &config::Profile) -> (String, String) {
    let value = |pattern: &crate::schedule::Pattern, unit: &str| match pattern {
        crate::schedule::Pattern::Constant { value } => format!("{value} {unit}"),
        other => format!("{unit}: {}", other.describe()),
    };
    let load = match &p.load {
        Load::Open {
            rate,
            max_in_flight,
        } => {
            let poisson = match p.arrivals {
                config::Arrivals::Poisson { .. } => ", Poisson arrivals",
                config::Arrivals::Even => "",
            };
            // The transport's bound when it is the tighter one, as the executor applies it.
            let bound = match p.target.request_bound() {
                Some(n) if n < *max_in_flight => format!("max {n} in flight (max_connections)"),
                _ => format!("max {max_in_flight} in flight"),
            };
            format!("open model, {}{poisson}, {bound}", value(rate, "req/s"))
        }
        Load::Closed { users, think } => {
            let spawn = p
                .spawn_rate
                .map(|r| format!(", spawning {r}/s"))
                .unwrap_or_default();
            let think = think
                .map(|t| format!(", think {}", t.describe()))
                .unwrap_or_default();
            format!("closed model, {}{spawn}{think}", value(users, "users"))
        }
        Load::WebSocket {
            connections,
            message_rate,
        } => format!(
            "websocket, {}, {message_rate} msg/s each",
            value(connections, "connections")
        ),
    };
    let length = match (p.duration, p.requests) {
        (Some(d), Some(n)) => format!("for {} or {n} requests", humantime::format_duration(d)),
        (Some(d), None) => format!("for {}", humantime::format_duration(d)),
        (None, Some(n)) => format!("for {n} requests"),
        (None, None) => "until stopped".to_string(),
    };
    let (load, length) = match &p.capacity {
        Some(c) => (
            crate::capacity::describe(c),
            "once per activation".to_string(),
        ),
        None => (load, length),
    };
    (load, length)
}

/// `check`'s safety section: the allowlist, the caps and the peak rates against `max_rate`.
fn describe_safety(c: &Config) -> String {
    use config::safety::{num, worst_overlap};
    use std::fmt::Write as _;
    let s = &c.safety;
    let mut o = String::from("safety:\n");
    match &s.allowed_hosts {
        Some(a) => {
            let _ = writeln!(o, "  allowed hosts: {a}");
            if a.dns_nets().is_some() {
                let _ = writeln!(
                    o,
                    "  DNS answers must lie in the allowed addresses and CIDRs, or the connection is refused"
                );
            }
        }
        None => {
            let _ = writeln!(
                o,
                "  note: no safety.allowed_hosts: targets may point at ANY host"
            );
        }
    }
    let (names, peak) = worst_overlap(&c.profiles, s.max_rate);
    let peak = if names.is_empty() {
        "no open-model or WebSocket profile".to_string()
    } else {
        format!("{} req/s ({})", num(peak), names.join(" + "))
    };
    match s.max_rate {
        Some(max) => {
            let _ = writeln!(
                o,
                "  max_rate {} req/s across all profiles; highest peak of profiles that may run together: {peak}",
                num(max)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  max_rate: none; highest peak of profiles that may run together: {peak}"
            );
        }
    }
    match s.max_in_flight {
        Some(n) => {
            let _ = writeln!(o, "  max_in_flight {n} across all profiles");
        }
        None => o.push_str("  max_in_flight: none\n"),
    }
    o
}
