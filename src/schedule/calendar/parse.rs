//! Parsing a profile's raw `schedule` table into a `Schedule`: timezone, start and end, cron
//! or weekday/time windows, `for` and `repeat`. Every problem is collected as a (key path,
//! message) pair; turning those into `ConfigError`s is `config::validate`'s job.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::raw::{RawSchedule, RawWindow};
use super::{resolve, Schedule, When, Window, EVERY_DAY};

/// `key` is the config key of the schedule table, e.g. "profiles.daily.schedule"; errors are
/// (key path, message) pairs, all collected.
pub fn parse(
    raw: &RawSchedule,
    key: &str,
    pattern_len: Option<Duration>,
) -> Result<Schedule, Vec<(String, String)>> {
    let mut errors = Errors {
        key,
        list: Vec::new(),
    };
    let tz = match raw.timezone.as_deref() {
        None => Tz::UTC,
        Some(name) => parse_timezone(name).unwrap_or_else(|e| {
            errors.add("timezone", e);
            Tz::UTC
        }),
    };
    let mut instant = |field: &str, value: Option<&str>| {
        let value = value?;
        let parsed = parse_instant(tz, value);
        if parsed.is_none() {
            errors.add(
                field,
                format!(
                    "invalid date or time {value:?} (e.g. \"2026-12-01\", \"2026-12-01T09:00:00\" \
                     or \"2026-12-01T09:00:00+01:00\")"
                ),
            );
        }
        parsed
    };
    let start = instant("start", raw.start.as_deref());
    let end = instant("end", raw.end.as_deref());
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            let (s, e) = (raw.start.as_deref(), raw.end.as_deref());
            let (s, e) = (s.unwrap_or_default(), e.unwrap_or_default());
            errors.add("end", format!("{e:?} is not after start {s:?}"));
        }
    }
    let for_ = parse_for(raw.for_.as_deref(), &mut errors);

    let when = match (&raw.cron, raw.windows.is_empty()) {
        (Some(expr), false) => {
            errors.add(
                "",
                "cron and windows cannot be combined: use cron with \"for\", or windows",
            );
            parse_cron(expr, tz, start, &mut errors);
            parse_windows(&raw.windows, &mut errors);
            None
        }
        (Some(expr), true) => {
            let cron = parse_cron(expr, tz, start, &mut errors);
            let length = for_.or(pattern_len.filter(|d| !d.is_zero()));
            if length.is_none() && raw.for_.is_none() {
                errors.add(
                    "for",
                    "missing: how long each activation lasts (set \"for\", or use a pattern with \
                     a length such as stages or ramp)",
                );
            }
            cron.zip(length).map(|(cron, length)| When::Cron {
                cron: Box::new(cron),
                expr: expr.trim().to_string(),
                length,
            })
        }
        (None, false) => {
            if raw.for_.is_some() {
                errors.add(
                    "for",
                    "only applies with cron: a window lasts from \"from\" to \"to\"",
                );
            }
            Some(When::Windows(parse_windows(&raw.windows, &mut errors)))
        }
        (None, true) => {
            if raw.for_.is_some() {
                errors.add(
                    "for",
                    "only applies with cron: an always schedule has no activations",
                );
            }
            if raw.repeat == Some(false) {
                errors.add(
                    "repeat",
                    "only applies with cron or windows: an always schedule loops the pattern",
                );
            }
            Some(When::Always)
        }
    };

    match when {
        Some(when) if errors.list.is_empty() => Ok(Schedule {
            when,
            tz,
            start,
            end,
            repeat: raw.repeat.unwrap_or(true),
        }),
        _ => Err(errors.list),
    }
}

/// `for`: how long each cron activation lasts.
fn parse_for(value: Option<&str>, errors: &mut Errors) -> Option<Duration> {
    value.and_then(|v| match humantime::parse_duration(v.trim()) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            errors.add(
                "for",
                format!("invalid duration {v:?}: must be greater than zero"),
            );
            None
        }
        Err(_) => {
            errors.add(
                "for",
                format!("invalid duration {v:?} (e.g. \"30m\", \"8h\")"),
            );
            None
        }
    })
}

struct Errors<'a> {
    key: &'a str,
    list: Vec<(String, String)>,
}

impl Errors<'_> {
    /// `field` is relative to the schedule table; "" is the table itself.
    fn add(&mut self, field: &str, message: impl Into<String>) {
        let key = if field.is_empty() {
            self.key.to_string()
        } else {
            format!("{}.{field}", self.key)
        };
        self.list.push((key, message.into()));
    }
}

fn parse_cron(
    expr: &str,
    tz: Tz,
    start: Option<DateTime<Utc>>,
    errors: &mut Errors,
) -> Option<Cron> {
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let invalid = |reason: &str| format!("invalid cron expression {expr:?}: {reason}");
    let fields = expr.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        errors.add(
            "cron",
            invalid(&format!(
                "{fields} fields; expected 5 (minute hour day-of-month month day-of-week) \
                 or 6 (seconds first)"
            )),
        );
        return None;
    }
    if let Some(reason) = out_of_range(expr) {
        errors.add("cron", invalid(&reason));
        return None;
    }
    match parser.parse(expr) {
        Err(e) => {
            errors.add("cron", invalid(e.to_string().trim_end_matches('.')));
            None
        }
        Ok(cron) => {
            // Catches `0 0 30 2 *`: croner gives up after searching a year of seconds, which
            // takes milliseconds, so do it once here rather than on every `activity_at`.
            let from = start.unwrap_or(DateTime::UNIX_EPOCH).with_timezone(&tz);
            if cron.find_next_occurrence(&from, true).is_err() {
                errors.add("cron", invalid("it never fires"));
                return None;
            }
            Some(cron)
        }
    }
}

/// The first number of a cron field outside its field's range, as "minute 61 is out of
/// range 0-59" (croner only says "Number out of bounds"). Steps (`*/90`), names and `L`,
/// `W`, `#` are left to croner.
fn out_of_range(expr: &str) -> Option<String> {
    const FIELDS: [(&str, u32, u32); 6] = [
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day-of-month", 1, 31),
        ("month", 1, 12),
        ("day-of-week", 0, 7),
    ];
    let words: Vec<&str> = expr.split_whitespace().collect();
    let fields = &FIELDS[FIELDS.len().saturating_sub(words.len())..];
    for (word, (name, lo, hi)) in words.iter().zip(fields) {
        // `,` or `1,,5`: croner takes an empty item, and such a pattern made every lookup
        // search for seconds (a fuzzing find); it is a typo either way.
        if word.split(',').any(str::is_empty) {
            return Some(format!("{name} field {word:?} has an empty list item"));
        }
        for part in word.split(',') {
            let range = part.split('/').next().unwrap_or(part);
            for n in range.split('-').filter_map(|n| n.parse::<u32>().ok()) {
                if !(*lo..=*hi).contains(&n) {
                    return Some(format!("{name} {n} is out of range {lo}-{hi}"));
                }
            }
        }
    }
    None
}

fn parse_windows(raw: &[RawWindow], errors: &mut Errors) -> Vec<Window> {
    let mut windows = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let field = |name: &str| format!("windows[{i}].{name}");
        let days = match w.days.as_deref() {
            None => Some(EVERY_DAY),
            Some(text) => parse_days(text)
                .map_err(|e| errors.add(&field("days"), e))
                .ok(),
        };
        let mut time = |name: &str, value: Option<&str>, missing: &str| {
            let Some(value) = value else {
                errors.add(&field(name), format!("missing: {missing}"));
                return None;
            };
            let parsed = parse_time(value);
            if parsed.is_none() {
                errors.add(
                    &field(name),
                    format!(
                        "invalid time {value:?}: HH:MM or HH:MM:SS with hours 0-23 \
                         (e.g. \"09:00\" or \"17:30:15\")"
                    ),
                );
            }
            parsed
        };
        let from = time(
            "from",
            w.from.as_deref(),
            "when the window opens (e.g. \"09:00\")",
        );
        let to = time(
            "to",
            w.to.as_deref(),
            "when the window closes (e.g. \"17:30\")",
        );
        let (Some(days), Some(from), Some(to)) = (days, from, to) else {
            continue;
        };
        if from == to && w.to.as_deref().map(str::trim) != Some("24:00") {
            errors.add(
                &field("to"),
                "same as \"from\": a window needs a length (\"to\" earlier than \"from\" crosses \
                 midnight)",
            );
            continue;
        }
        windows.push(Window {
            days,
            from,
            to,
            crosses_midnight: to <= from,
        });
    }
    windows
}

/// "mon-fri", "sat,sun", "mon,wed-fri", "fri-mon" (wraps), "*"; short or full names, any case.
fn parse_days(text: &str) -> Result<u8, String> {
    let invalid = |why: String| {
        format!("invalid days {text:?}: {why} (e.g. \"mon-fri\", \"sat,sun\", \"mon,wed-fri\" or \"*\")")
    };
    let day = |name: &str| -> Result<u32, String> {
        name.trim()
            .parse::<Weekday>()
            .map(|d| d.num_days_from_monday())
            .map_err(|_| invalid(format!("unknown day {:?}", name.trim())))
    };
    let mut mask = 0u8;
    for part in text.split(',') {
        let part = part.trim();
        if part == "*" {
            mask = EVERY_DAY;
        } else if let Some((first, last)) = part.split_once('-') {
            let (first, last) = (day(first)?, day(last)?);
            let len = (last + 7 - first) % 7;
            for n in 0..=len {
                mask |= 1 << ((first + n) % 7);
            }
        } else if part.is_empty() {
            return Err(invalid("empty day".to_string()));
        } else {
            mask |= 1 << day(part)?;
        }
    }
    Ok(mask)
}

/// "HH:MM" or "HH:MM:SS"; "24:00" is midnight at the end of the day.
fn parse_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    if text == "24:00" {
        return Some(NaiveTime::MIN);
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .ok()?;
    // chrono reads ":60" as a leap second; no window needs one.
    (time.nanosecond() < 1_000_000_000).then_some(time)
}

/// A date (local midnight), a local date and time, or RFC 3339 with an offset.
fn parse_instant(tz: Tz, text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(resolve(tz, date.and_time(NaiveTime::MIN)));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|local| resolve(tz, local))
}

fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        // Nothing to be near: every short name would be "close" to an empty one.
        let close = (!name.trim().is_empty())
            .then(|| closest_timezone(name))
            .flatten();
        let hint = match close {
            Some(close) => format!("did you mean {close:?}?"),
            None => "an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
                .to_string(),
        };
        format!("unknown timezone {name:?} ({hint})")
    })
}

fn closest_timezone(name: &str) -> Option<&'static str> {
    let wanted = name.trim().to_ascii_lowercase();
    let limit = (wanted.chars().count() / 4).max(2);
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                crate::suggest::edit_distance(&wanted, &tz.name().to_ascii_lowercase()),
                tz.name(),
            )
        })
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
