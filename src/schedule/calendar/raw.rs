//! A schedule as it is written in config, before `parse` checks it.

use serde::Deserialize;

/// When a profile runs. No cron and no windows: always (the pattern loops forever).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Five-field cron expression (or six with seconds) for each activation's start.
    pub cron: Option<String>,
    /// How long each cron activation lasts (default: the pattern's length).
    #[serde(rename = "for")]
    pub for_: Option<String>,
    #[serde(default)]
    pub windows: Vec<RawWindow>,
    /// IANA timezone name for cron, windows and dates (default UTC).
    pub timezone: Option<String>,
    /// Not before this date (`2026-12-01`) or instant (`2026-12-01T09:00:00`, RFC 3339).
    pub start: Option<String>,
    /// Not after this date or instant.
    pub end: Option<String>,
    /// Loop the pattern inside each activation when it is shorter (default true).
    pub repeat: Option<bool>,
}

/// A time-of-day window on some days of the week: `{ days = "mon-fri", from = "09:00",
/// to = "17:30" }`; `to` before `from` crosses midnight.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub days: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}
