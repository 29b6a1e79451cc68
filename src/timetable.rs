//! What `loadtide check` shows of a profile's schedule: its next activations and a compact
//! chart of the load it plans over the next 24 hours, computed exactly as the daemon would
//! compute it (same activations, same place in the pattern), so a timetable can be reviewed
//! before it is deployed.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, DurationRound as _, SecondsFormat, Utc};

use crate::config::{Load, Profile};
use crate::engine::scheduled::activation_spec;
use crate::engine::Shard;
use crate::schedule::calendar::Activity;
use crate::schedule::plot;

/// Columns of the chart: 72 columns of 20 minutes each.
const COLUMNS: usize = 72;
const COLUMN: Duration = Duration::from_secs(20 * 60);
/// Samples per column (every 30 s); the column shows their mean.
const SAMPLES: u32 = 40;
const ROWS: usize = 4;
/// Next activations listed.
const NEXT: usize = 3;

/// The profile's planned load at `at` (0 when its schedule is idle).
pub fn planned_at(profile: &Profile, at: DateTime<Utc>) -> f64 {
    match profile.schedule.activity_at(at) {
        Activity::Active { elapsed, until } => {
            match activation_spec(profile, Shard::WHOLE, elapsed, until, at) {
                Some(spec) => spec.plan(profile.load.pattern(), false).value_at(0.0),
                None => 0.0,
            }
        }
        Activity::Idle { .. } => 0.0,
    }
}

/// The planned load over the 24 hours from `from`: one mean per column, and the lowest and
/// highest sample (so a short burst is reported even where a column's mean hides it).
pub fn day_plan(profile: &Profile, from: DateTime<Utc>) -> (Vec<f64>, f64, f64) {
    let step = COLUMN / SAMPLES;
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    let columns = (0..COLUMNS as u32)
        .map(|c| {
            let sum: f64 = (0..SAMPLES)
                .map(|s| {
                    let v = planned_at(profile, from + (COLUMN * c + step * s));
                    (lo, hi) = (lo.min(v), hi.max(v));
                    v
                })
                .sum();
            sum / f64::from(SAMPLES)
        })
        .collect();
    (columns, lo, hi)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The schedule, next activations and 24-hour chart of `profile`, as of `now`.
pub fn describe(profile: &Profile, now: DateTime<Utc>) -> String {
    let mut o = String::new();
    let s = &profile.schedule;
    let _ = writeln!(o, "  schedule {}", s.describe());
    let state = match s.activity_at(now) {
        Activity::Active { .. } => "active now",
        Activity::Idle { .. } => "idle now",
    };
    let next: Vec<String> = s.next_starts(now, NEXT).into_iter().map(stamp).collect();
    let next = if next.is_empty() {
        "none".to_string()
    } else {
        next.join(", ")
    };
    let _ = writeln!(o, "  {state}; next starts: {next}");
    // Whole hours keep the chart's columns on round times.
    let from = now
        .duration_trunc(chrono::TimeDelta::hours(1))
        .unwrap_or(now);
    let unit = match profile.load {
        Load::Open { .. } => "req/s",
        Load::Closed { .. } => "users",
        Load::WebSocket { .. } => "connections",
    };
    let (plan, lo, hi) = day_plan(profile, from);
    if lo == hi {
        let _ = writeln!(o, "  planned {unit} over the next 24h: {hi} throughout");
        return o;
    }
    let _ = writeln!(
        o,
        "  planned {unit} over the 24h from {} (mean per 20 min; lowest {}, highest {}):",
        stamp(from),
        round3(lo),
        round3(hi)
    );
    let lines = plot::chart(&plan, ROWS);
    let indent = lines
        .first()
        .and_then(|l| l.find('│'))
        .map(|i| l_chars(&lines[0][..i]) + 1)
        .unwrap_or(0);
    for line in &lines {
        let _ = writeln!(o, "    {line}");
    }
    let _ = writeln!(o, "    {:indent$}{}", "", axis(profile, from));
    o
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

fn l_chars(s: &str) -> usize {
    s.chars().count()
}

/// Hour marks under the chart every 6 hours, in the schedule's timezone.
fn axis(profile: &Profile, from: DateTime<Utc>) -> String {
    let mut line = String::new();
    for mark in 0..4u32 {
        let at = from + COLUMN * (mark * 18);
        let local = at + chrono::TimeDelta::seconds(profile.schedule.utc_offset_secs(at));
        let label = format!("^{}", local.format("%H:%M"));
        line.push_str(&format!("{label:<18}"));
    }
    format!("{} ({})", line.trim_end(), profile.schedule.timezone_name())
}
