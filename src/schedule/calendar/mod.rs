//! When a profile runs, as pure functions of wall-clock time: always, on a cron schedule (each
//! fire starts an activation lasting `for`), or inside weekday/time-of-day windows, in an IANA
//! timezone and between optional `start` and `end`. It also says how far into its pattern a
//! profile is at any instant ("pattern time"), computed from the calendar alone, so every
//! instance of a scaled-out deployment agrees without talking to the others. Nothing here
//! reads the clock or touches tokio: every function takes the instant it is asked about.
//!
//! Rules worth knowing:
//! - Always: pattern time is the local time since 1970-01-01T00:00 local, so a 24h pattern
//!   lines up with the local day. When clocks fall back, that hour's pattern plays twice; when
//!   they spring forward, an hour of it is skipped.
//! - One activation at a time: the one that started most recently and still runs wins, so an
//!   activation ends at its own end or when the next one starts, whichever is first.
//! - Local times that do not exist (spring-forward gap) mean the first instant after the gap;
//!   ambiguous ones (fall back) the earlier instant. Cron follows croner: a fixed-time job
//!   (single second, minute and hour) due in a gap runs at the first instant after it, and in a
//!   repeated hour only at the earlier instant; interval jobs (`*/30 * * * *`) skip times in a
//!   gap and run at both instants of a repeated hour.
//! - An activation already running at `start` begins there, mid-pattern, as after a restart.
//!
//! Parsing the `schedule` table into a `Schedule` is in `parse`.

use std::time::Duration;

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use croner::Cron;

mod parse;
pub mod raw;

pub use parse::parse;

/// A profile's compiled `schedule` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    when: When,
    tz: Tz,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    repeat: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum When {
    Always,
    Cron {
        cron: Box<Cron>,
        expr: String,
        length: Duration,
    },
    Windows(Vec<Window>),
}

/// A time-of-day window on some weekdays, in local time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    /// Bit `n` is set for the weekday `n` days from Monday.
    days: u8,
    from: NaiveTime,
    to: NaiveTime,
    /// `to` is on the day after the one the window starts on.
    crosses_midnight: bool,
}

const EVERY_DAY: u8 = 0x7f;

/// What a schedule says about one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// active; `elapsed` = pattern time; `until` = end of this activation (None for always
    /// without end)
    Active {
        elapsed: Duration,
        until: Option<DateTime<Utc>>,
    },
    /// not active; `next` = start of the next activation, None if never again
    Idle { next: Option<DateTime<Utc>> },
}

impl Schedule {
    /// Active at every instant, in UTC.
    pub fn always() -> Schedule {
        Schedule {
            when: When::Always,
            tz: Tz::UTC,
            start: None,
            end: None,
            repeat: true,
        }
    }

    pub fn is_always(&self) -> bool {
        matches!(self.when, When::Always)
    }

    /// Loop a finite pattern inside each activation.
    pub fn repeat(&self) -> bool {
        self.repeat
    }

    pub fn activity_at(&self, now: DateTime<Utc>) -> Activity {
        if self.end.is_some_and(|end| now >= end) {
            return Activity::Idle { next: None };
        }
        if let Some(start) = self.start.filter(|&start| now < start) {
            let next = match self.unbounded_at(start) {
                Activity::Active { .. } => Some(start),
                Activity::Idle { next } => next,
            };
            return Activity::Idle {
                next: self.before_end(next),
            };
        }
        match self.unbounded_at(now) {
            Activity::Active { elapsed, until } => Activity::Active {
                elapsed,
                until: earliest(until, self.end),
            },
            Activity::Idle { next } => Activity::Idle {
                next: self.before_end(next),
            },
        }
    }

    /// The next `n` activation starts strictly after `now` (for always: empty, or the start
    /// date if in the future).
    pub fn next_starts(&self, now: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut starts = Vec::new();
        let mut after = now;
        if let Some(start) = self.start.filter(|&start| start > now) {
            if matches!(self.unbounded_at(start), Activity::Active { .. }) {
                starts.push(start);
            }
            after = start;
        }
        while starts.len() < n {
            let Some(next) = self.before_end(self.next_unbounded_start(after)) else {
                break;
            };
            starts.push(next);
            after = next;
        }
        starts.truncate(n);
        starts
    }

    /// UTC offset in seconds at `now` in the schedule's timezone (for mapping real time to
    /// local pattern time).
    pub fn utc_offset_secs(&self, now: DateTime<Utc>) -> i64 {
        i64::from(
            self.tz
                .offset_from_utc_datetime(&now.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }

    pub fn timezone_name(&self) -> &str {
        self.tz.name()
    }

    /// One line for `loadtide check`, e.g. `cron "0 9 * * MON-FRI" for 8h (Europe/Berlin)`.
    pub fn describe(&self) -> String {
        let mut line = match &self.when {
            When::Always => "always".to_string(),
            When::Cron { expr, length, .. } => {
                format!("cron {expr:?} for {}", humantime::format_duration(*length))
            }
            When::Windows(windows) => {
                let each: Vec<String> = windows.iter().map(Window::describe).collect();
                format!("windows {}", each.join(", "))
            }
        };
        line.push_str(&format!(" ({})", self.tz.name()));
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).format("%Y-%m-%d %H:%M");
        if let Some(start) = self.start {
            line.push_str(&format!(" from {}", local(start)));
        }
        if let Some(end) = self.end {
            line.push_str(&format!(" until {}", local(end)));
        }
        if !self.repeat {
            line.push_str(", pattern played once per activation");
        }
        line
    }

    /// Whether `self` and `other` can ever be active at the same instant. Conservative: false
    /// only when that is certain — their `start`..`end` ranges are disjoint, or both are
    /// windows in the same timezone that never meet in the week. Anything else (cron, always,
    /// windows in two timezones) may overlap.
    pub fn may_overlap(&self, other: &Schedule) -> bool {
        let before = |end: Option<DateTime<Utc>>, start: Option<DateTime<Utc>>| matches!((end, start), (Some(e), Some(s)) if e <= s);
        if before(self.end, other.start) || before(other.end, self.start) {
            return false;
        }
        match (&self.when, &other.when) {
            (When::Windows(a), When::Windows(b)) if self.tz == other.tz => {
                let (a, b) = (week_spans(a), week_spans(b));
                a.iter().any(|x| b.iter().any(|y| x.0 < y.1 && y.0 < x.1))
            }
            _ => true,
        }
    }

    /// Activity ignoring `start` and `end`.
    fn unbounded_at(&self, now: DateTime<Utc>) -> Activity {
        match &self.when {
            When::Always => {
                let local = now + TimeDelta::seconds(self.utc_offset_secs(now));
                Activity::Active {
                    elapsed: since(DateTime::UNIX_EPOCH, local),
                    until: None,
                }
            }
            When::Cron { cron, length, .. } => {
                let next = self.next_fire(cron, now);
                match self.last_fire(cron, now) {
                    Some(fire) if now < after(fire, *length) => Activity::Active {
                        elapsed: since(fire, now),
                        until: earliest(Some(after(fire, *length)), next),
                    },
                    _ => Activity::Idle { next },
                }
            }
            When::Windows(windows) => {
                let today = now.with_timezone(&self.tz).date_naive();
                // A window lasts under a day of local time, so one running now started today,
                // yesterday or (around a DST change) the day before.
                let running = [2, 1, 0]
                    .into_iter()
                    .filter_map(|back| today.checked_sub_days(Days::new(back)))
                    .flat_map(|day| windows.iter().filter_map(move |w| w.on(self.tz, day)))
                    .filter(|&(start, end)| start <= now && now < end)
                    .max();
                let next = self.next_window_start(windows, now);
                match running {
                    Some((start, end)) => Activity::Active {
                        elapsed: since(start, now),
                        until: earliest(Some(end), next),
                    },
                    None => Activity::Idle { next },
                }
            }
        }
    }

    /// The first activation start strictly after `t`, ignoring `start` and `end`.
    fn next_unbounded_start(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.when {
            When::Always => None,
            When::Cron { cron, .. } => self.next_fire(cron, t),
            When::Windows(windows) => self.next_window_start(windows, t),
        }
    }

    /// The latest fire at or before `t`.
    fn last_fire(&self, cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        cron.find_previous_occurrence(&t.with_timezone(&self.tz), true)
            .ok()
            .map(|fire| fire.with_timezone(&Utc))
    }

    /// The first fire strictly after `t`.
    fn next_fire(&self, cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        cron.find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|fire| fire.with_timezone(&Utc))
    }

    fn next_window_start(&self, windows: &[Window], t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = t.with_timezone(&self.tz).date_naive();
        // Every window has at least one weekday, so a week and a bit always finds one.
        (0..=8)
            .filter_map(|ahead| today.checked_add_days(Days::new(ahead)))
            .flat_map(|day| windows.iter().filter_map(move |w| w.on(self.tz, day)))
            .map(|(start, _)| start)
            .filter(|&start| start > t)
            .min()
    }

    fn before_end(&self, t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        t.filter(|&t| self.end.is_none_or(|end| t < end))
    }
}

impl Window {
    /// The real-time span of this window if it starts on local `day`. None on other weekdays,
    /// or when the whole window falls into a DST gap.
    fn on(&self, tz: Tz, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.days & (1 << day.weekday().num_days_from_monday()) == 0 {
            return None;
        }
        let start = resolve(tz, day.and_time(self.from));
        let end_day = if self.crosses_midnight {
            day.succ_opt()?
        } else {
            day
        };
        let end = resolve(tz, end_day.and_time(self.to));
        (end > start).then_some((start, end))
    }

    fn describe(&self) -> String {
        let to = if self.crosses_midnight && self.to == NaiveTime::MIN {
            "24:00".to_string()
        } else {
            clock(self.to)
        };
        format!("{} {}–{to}", days_label(self.days), clock(self.from))
    }
}

const WEEK_SECS: u32 = 7 * 86_400;

/// The local-time spans of `windows` as [from, to) seconds since Monday 00:00, a span past
/// the end of the week split in two. Local instants map to real ones monotonically (earlier
/// of an ambiguous time, end of a gap), so spans disjoint here are disjoint in real time.
fn week_spans(windows: &[Window]) -> Vec<(u32, u32)> {
    let mut spans = Vec::new();
    for w in windows {
        let from = w.from.num_seconds_from_midnight();
        let to = w.to.num_seconds_from_midnight();
        let len = if w.crosses_midnight {
            86_400 - from + to
        } else {
            to.saturating_sub(from)
        };
        for day in (0..7).filter(|d| w.days & (1 << d) != 0) {
            let start = day * 86_400 + from;
            let end = start + len;
            if end > WEEK_SECS {
                spans.push((start, WEEK_SECS));
                spans.push((0, end - WEEK_SECS));
            } else {
                spans.push((start, end));
            }
        }
    }
    spans
}

/// The instant of a local time: the earlier one if ambiguous, the first after the gap if it
/// does not exist.
fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => first_instant_at_or_after(tz, local),
    }
}

/// Binary search for the first instant whose local time is at or after `local`: the end of
/// the gap `local` falls in. Offsets stay within ±26h, so the answer lies within ±30h of
/// `local` read as UTC.
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let instant = |secs: i64| {
        DateTime::from_timestamp(secs, 0).expect("a DST gap lies well inside chrono's range")
    };
    let local_at = |secs: i64| instant(secs).with_timezone(&tz).naive_local();
    let guess = local.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 30 * 3600, guess + 30 * 3600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid) >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    instant(hi)
}

fn since(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn clock(t: NaiveTime) -> String {
    if t.second() == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

/// "mon-fri", "sat,sun", "mon,wed-fri", "every day".
fn days_label(mask: u8) -> String {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if mask == EVERY_DAY {
        return "every day".to_string();
    }
    let mut parts = Vec::new();
    let mut n = 0;
    while n < 7 {
        if mask & (1 << n) == 0 {
            n += 1;
            continue;
        }
        let first = n;
        while n + 1 < 7 && mask & (1 << (n + 1)) != 0 {
            n += 1;
        }
        match n - first {
            0 => parts.push(NAMES[first].to_string()),
            1 => parts.push(format!("{},{}", NAMES[first], NAMES[n])),
            _ => parts.push(format!("{}-{}", NAMES[first], NAMES[n])),
        }
        n += 1;
    }
    parts.join(",")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
