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
mod tests {
    use super::*;
    use crate::config::raw::{RawSchedule, RawWindow};

    pub(super) const KEY: &str = "profiles.daily.schedule";

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    pub(super) fn cron(expr: &str, for_: Option<&str>, tz: &str) -> RawSchedule {
        RawSchedule {
            cron: Some(expr.into()),
            for_: for_.map(Into::into),
            timezone: Some(tz.into()),
            ..RawSchedule::default()
        }
    }

    pub(super) fn window(days: Option<&str>, from: &str, to: &str) -> RawWindow {
        RawWindow {
            days: days.map(Into::into),
            from: Some(from.into()),
            to: Some(to.into()),
        }
    }

    pub(super) fn windows(tz: &str, list: Vec<RawWindow>) -> RawSchedule {
        RawSchedule {
            windows: list,
            timezone: Some(tz.into()),
            ..RawSchedule::default()
        }
    }

    fn compile(raw: RawSchedule) -> Schedule {
        parse(&raw, KEY, None).unwrap()
    }

    fn active(elapsed: Duration, until: &str) -> Activity {
        Activity::Active {
            elapsed,
            until: Some(at(until)),
        }
    }

    fn idle(next: &str) -> Activity {
        Activity::Idle {
            next: Some(at(next)),
        }
    }

    #[test]
    fn always_pattern_time_is_local_time_since_the_local_epoch() {
        let berlin = compile(RawSchedule {
            timezone: Some("Europe/Berlin".into()),
            ..RawSchedule::default()
        });
        assert!(berlin.is_always() && berlin.repeat());
        // 14:00 in Berlin in summer (CEST, +02:00) is 12:00 UTC.
        let now = at("2026-07-01T12:00:00Z");
        let Activity::Active { elapsed, until } = berlin.activity_at(now) else {
            panic!("always is active");
        };
        assert_eq!(until, None);
        assert_eq!(elapsed, secs(now.timestamp() as u64 + 7_200));
        assert_eq!(elapsed.as_secs() % 86_400, 14 * 3_600);
        // In winter (CET, +01:00) 14:00 local is 13:00 UTC.
        let winter = at("2026-01-15T13:00:00.250Z");
        let Activity::Active { elapsed, .. } = berlin.activity_at(winter) else {
            panic!("always is active");
        };
        assert_eq!(elapsed.as_millis() % 86_400_000, 14 * 3_600_000 + 250);
        assert_eq!(berlin.utc_offset_secs(now), 7_200);
        assert_eq!(berlin.utc_offset_secs(winter), 3_600);

        let utc = Schedule::always();
        assert_eq!(utc.timezone_name(), "UTC");
        assert_eq!(
            utc.activity_at(now),
            Activity::Active {
                elapsed: secs(now.timestamp() as u64),
                until: None
            }
        );
        assert!(utc.next_starts(now, 3).is_empty());
        assert_eq!(utc, compile(RawSchedule::default()));
    }

    #[test]
    fn always_between_start_and_end() {
        let s = compile(RawSchedule {
            timezone: Some("Europe/Berlin".into()),
            start: Some("2026-12-01".into()),
            end: Some("2026-12-02T09:00:00".into()),
            ..RawSchedule::default()
        });
        let (start, end) = (at("2026-11-30T23:00:00Z"), at("2026-12-02T08:00:00Z"));
        assert_eq!(
            s.activity_at(at("2026-11-30T22:59:59Z")),
            idle("2026-11-30T23:00:00Z")
        );
        let Activity::Active { elapsed, until } = s.activity_at(start) else {
            panic!("active from start");
        };
        assert_eq!((elapsed.as_secs() % 86_400, until), (0, Some(end)));
        assert!(matches!(
            s.activity_at(end - TimeDelta::seconds(1)),
            Activity::Active { .. }
        ));
        assert_eq!(s.activity_at(end), Activity::Idle { next: None });
        assert_eq!(s.next_starts(at("2026-11-01T00:00:00Z"), 3), vec![start]);
        assert!(s.next_starts(start, 3).is_empty());
    }

    #[test]
    fn cron_weekdays_at_nine_for_eight_hours() {
        let s = compile(cron("0 9 * * MON-FRI", Some("8h"), "Europe/Berlin"));
        assert!(!s.is_always());
        // Wednesday 2026-07-01, CEST.
        assert_eq!(
            s.activity_at(at("2026-07-01T08:59:59+02:00")),
            idle("2026-07-01T09:00:00+02:00")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T09:00:00+02:00")),
            active(secs(0), "2026-07-01T17:00:00+02:00")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T12:30:00.5+02:00")),
            active(
                Duration::from_millis(12_600_500),
                "2026-07-01T17:00:00+02:00"
            )
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T16:59:59+02:00")),
            active(secs(8 * 3_600 - 1), "2026-07-01T17:00:00+02:00")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T17:00:00+02:00")),
            idle("2026-07-02T09:00:00+02:00")
        );
        // Friday evening and the weekend wait for Monday.
        for now in ["2026-07-03T17:00:00+02:00", "2026-07-04T12:00:00+02:00"] {
            assert_eq!(s.activity_at(at(now)), idle("2026-07-06T09:00:00+02:00"));
        }
        assert_eq!(
            s.next_starts(at("2026-07-03T09:00:00+02:00"), 3),
            vec![
                at("2026-07-06T09:00:00+02:00"),
                at("2026-07-07T09:00:00+02:00"),
                at("2026-07-08T09:00:00+02:00")
            ]
        );
    }

    #[test]
    fn cron_without_for_lasts_the_pattern_length() {
        let raw = cron("0 * * * *", None, "UTC");
        let s = parse(&raw, KEY, Some(secs(600))).unwrap();
        assert_eq!(
            s.activity_at(at("2026-07-01T10:05:00Z")),
            active(secs(300), "2026-07-01T10:10:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T10:10:00Z")),
            idle("2026-07-01T11:00:00Z")
        );
        // `for` wins over the pattern's length.
        let raw = cron("0 * * * *", Some("20m"), "UTC");
        let s = parse(&raw, KEY, Some(secs(600))).unwrap();
        assert!(matches!(
            s.activity_at(at("2026-07-01T10:15:00Z")),
            Activity::Active { .. }
        ));
    }

    #[test]
    fn overlapping_cron_activations_the_latest_wins() {
        let s = compile(cron("0 * * * *", Some("90m"), "UTC"));
        assert_eq!(
            s.activity_at(at("2026-07-01T10:45:00Z")),
            active(secs(2_700), "2026-07-01T11:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T11:00:00Z")),
            active(secs(0), "2026-07-01T12:00:00Z")
        );
    }

    #[test]
    fn six_field_cron_has_seconds() {
        let s = compile(cron("30 0 9 * * *", Some("1m"), "UTC"));
        assert_eq!(
            s.next_starts(at("2026-07-01T00:00:00Z"), 1),
            vec![at("2026-07-01T09:00:30Z")]
        );
    }

    #[test]
    fn a_window_crossing_midnight_belongs_to_the_day_it_starts() {
        let s = compile(windows("UTC", vec![window(Some("fri"), "22:00", "06:00")]));
        let next_friday = "2026-07-10T22:00:00Z";
        // Thursday night is not a Friday window; Friday before dawn is Thursday's.
        assert_eq!(
            s.activity_at(at("2026-07-02T23:00:00Z")),
            idle("2026-07-03T22:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-03T05:00:00Z")),
            idle("2026-07-03T22:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-03T22:00:00Z")),
            active(secs(0), "2026-07-04T06:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-04T05:59:59Z")),
            active(secs(8 * 3_600 - 1), "2026-07-04T06:00:00Z")
        );
        assert_eq!(s.activity_at(at("2026-07-04T06:00:00Z")), idle(next_friday));
        assert_eq!(s.activity_at(at("2026-07-04T23:00:00Z")), idle(next_friday));
    }

    #[test]
    fn windows_on_lists_of_days() {
        let s = compile(windows(
            "UTC",
            vec![
                window(Some("mon,wed-fri"), "09:00", "17:00"),
                window(Some("Sat,SUN"), "10:00:30", "12:00"),
            ],
        ));
        // Tuesday 2026-06-30 is idle, Wednesday is on.
        assert_eq!(
            s.activity_at(at("2026-06-30T10:00:00Z")),
            idle("2026-07-01T09:00:00Z")
        );
        assert_eq!(
            s.next_starts(at("2026-07-02T12:00:00Z"), 4),
            vec![
                at("2026-07-03T09:00:00Z"),
                at("2026-07-04T10:00:30Z"),
                at("2026-07-05T10:00:30Z"),
                at("2026-07-06T09:00:00Z")
            ]
        );
        assert_eq!(
            s.describe(),
            "windows mon,wed-fri 09:00–17:00, sat,sun 10:00:30–12:00 (UTC)"
        );
        // No days means every day.
        let every = compile(windows("UTC", vec![window(None, "18:00", "24:00")]));
        assert_eq!(
            every.activity_at(at("2026-06-30T23:59:00Z")),
            active(secs(21_540), "2026-07-01T00:00:00Z")
        );
        assert_eq!(every.describe(), "windows every day 18:00–24:00 (UTC)");
    }

    #[test]
    fn overlapping_windows_the_latest_start_wins_then_the_longer_resumes() {
        let s = compile(windows(
            "UTC",
            vec![
                window(Some("mon-fri"), "09:00", "17:00"),
                window(Some("wed"), "12:00", "13:00"),
            ],
        ));
        assert_eq!(
            s.activity_at(at("2026-07-01T11:00:00Z")),
            active(secs(7_200), "2026-07-01T12:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T12:30:00Z")),
            active(secs(1_800), "2026-07-01T13:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-07-01T14:00:00Z")),
            active(secs(5 * 3_600), "2026-07-01T17:00:00Z")
        );
    }

    #[test]
    fn berlin_spring_forward_day() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let cron_nine = compile(cron("0 9 * * *", Some("1h"), "Europe/Berlin"));
        assert_eq!(
            cron_nine.next_starts(at("2026-03-28T12:00:00Z"), 2),
            vec![at("2026-03-29T07:00:00Z"), at("2026-03-30T07:00:00Z")]
        );
        let night = compile(windows(
            "Europe/Berlin",
            vec![window(None, "00:00", "06:00")],
        ));
        assert_eq!(
            night.activity_at(at("2026-03-28T23:00:00Z")),
            active(secs(0), "2026-03-29T04:00:00Z")
        );
        assert_eq!(
            night.activity_at(at("2026-03-29T03:59:59Z")),
            active(secs(5 * 3_600 - 1), "2026-03-29T04:00:00Z")
        );
        // A window opening inside the gap opens when it ends, at 03:00 CEST.
        let in_gap = compile(windows(
            "Europe/Berlin",
            vec![window(None, "02:30", "04:00")],
        ));
        assert_eq!(
            in_gap.activity_at(at("2026-03-29T00:59:59Z")),
            idle("2026-03-29T03:00:00+02:00")
        );
        assert_eq!(
            in_gap.activity_at(at("2026-03-29T03:00:00+02:00")),
            active(secs(0), "2026-03-29T04:00:00+02:00")
        );
        // Croner: a fixed-time job due in the gap runs right after it.
        let cron_gap = compile(cron("30 2 * * *", Some("10m"), "Europe/Berlin"));
        assert_eq!(
            cron_gap.next_starts(at("2026-03-28T12:00:00Z"), 2),
            vec![
                at("2026-03-29T03:00:00+02:00"),
                at("2026-03-30T02:30:00+02:00")
            ]
        );
        assert_eq!(
            cron_gap.activity_at(at("2026-03-29T03:05:00+02:00")),
            active(secs(300), "2026-03-29T03:10:00+02:00")
        );
    }

    #[test]
    fn berlin_fall_back_day() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET.
        let cron_nine = compile(cron("0 9 * * *", Some("1h"), "Europe/Berlin"));
        assert_eq!(
            cron_nine.next_starts(at("2026-10-24T00:00:00Z"), 2),
            vec![at("2026-10-24T07:00:00Z"), at("2026-10-25T08:00:00Z")]
        );
        let night = compile(windows(
            "Europe/Berlin",
            vec![window(None, "00:00", "06:00")],
        ));
        assert_eq!(
            night.activity_at(at("2026-10-24T22:00:00Z")),
            active(secs(0), "2026-10-25T05:00:00Z")
        );
        assert_eq!(
            night.activity_at(at("2026-10-25T04:59:59Z")),
            active(secs(7 * 3_600 - 1), "2026-10-25T05:00:00Z")
        );
        // An ambiguous local time means the earlier instant (02:30 CEST).
        let repeated = compile(windows(
            "Europe/Berlin",
            vec![window(None, "02:30", "03:30")],
        ));
        assert_eq!(
            repeated.activity_at(at("2026-10-25T00:30:00Z")),
            active(secs(0), "2026-10-25T02:30:00Z")
        );
        // Croner: a fixed-time job in the repeated hour runs once, at the earlier instant.
        let cron_fold = compile(cron("30 2 * * *", Some("10m"), "Europe/Berlin"));
        assert_eq!(
            cron_fold.next_starts(at("2026-10-24T12:00:00Z"), 2),
            vec![at("2026-10-25T00:30:00Z"), at("2026-10-26T01:30:00Z")]
        );
        // Always: the repeated hour plays its pattern twice.
        let always = compile(RawSchedule {
            timezone: Some("Europe/Berlin".into()),
            ..RawSchedule::default()
        });
        let position = |t| match always.activity_at(at(t)) {
            Activity::Active { elapsed, .. } => elapsed.as_secs() % 86_400,
            Activity::Idle { .. } => panic!("always is active"),
        };
        assert_eq!(
            position("2026-10-25T00:30:00Z"),
            position("2026-10-25T01:30:00Z")
        );
    }

    #[test]
    fn new_york_changes_clocks_too() {
        let s = compile(cron("0 9 * * *", Some("8h"), "America/New_York"));
        assert_eq!(
            s.next_starts(at("2026-03-07T00:00:00Z"), 2),
            vec![at("2026-03-07T14:00:00Z"), at("2026-03-08T13:00:00Z")]
        );
        assert_eq!(
            s.next_starts(at("2026-10-31T00:00:00Z"), 2),
            vec![at("2026-10-31T13:00:00Z"), at("2026-11-01T14:00:00Z")]
        );
        let night = compile(windows(
            "America/New_York",
            vec![window(None, "00:00", "06:00")],
        ));
        assert_eq!(
            night.activity_at(at("2026-03-08T05:00:00Z")),
            active(secs(0), "2026-03-08T10:00:00Z")
        );
    }

    #[test]
    fn start_and_end_bound_every_activation() {
        let mut raw = cron("0 9 * * *", Some("1h"), "Europe/Berlin");
        raw.start = Some("2026-12-01".into());
        raw.end = Some("2026-12-03".into());
        let s = compile(raw.clone());
        assert_eq!(
            s.next_starts(at("2026-11-01T00:00:00Z"), 5),
            vec![at("2026-12-01T08:00:00Z"), at("2026-12-02T08:00:00Z")]
        );
        assert_eq!(
            s.activity_at(at("2026-11-30T08:30:00Z")),
            idle("2026-12-01T08:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-12-03T08:30:00Z")),
            Activity::Idle { next: None }
        );
        assert_eq!(
            s.describe(),
            "cron \"0 9 * * *\" for 1h (Europe/Berlin) from 2026-12-01 00:00 until 2026-12-03 00:00"
        );

        // An activation running at `start` begins there, mid-pattern; `end` cuts one short.
        raw.start = Some("2026-12-01T09:30:00".into());
        raw.end = Some("2026-12-02T09:30:00+01:00".into());
        let s = compile(raw);
        assert_eq!(
            s.activity_at(at("2026-12-01T08:10:00Z")),
            idle("2026-12-01T08:30:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-12-01T08:30:00Z")),
            active(secs(1_800), "2026-12-01T09:00:00Z")
        );
        assert_eq!(
            s.activity_at(at("2026-12-02T08:10:00Z")),
            active(secs(600), "2026-12-02T08:30:00Z")
        );
        assert_eq!(
            s.next_starts(at("2026-12-01T07:00:00Z"), 5),
            vec![at("2026-12-01T08:30:00Z"), at("2026-12-02T08:00:00Z")]
        );
    }

    #[test]
    fn describe_one_line() {
        assert_eq!(Schedule::always().describe(), "always (UTC)");
        let s = compile(cron("0 9 * * MON-FRI", Some("8h"), "Europe/Berlin"));
        assert_eq!(
            s.describe(),
            "cron \"0 9 * * MON-FRI\" for 8h (Europe/Berlin)"
        );
        assert_eq!(s.timezone_name(), "Europe/Berlin");
        let mut raw = windows("UTC", vec![window(Some("mon-fri"), "09:00", "17:00")]);
        raw.repeat = Some(false);
        let s = compile(raw);
        assert!(!s.repeat());
        assert_eq!(
            s.describe(),
            "windows mon-fri 09:00–17:00 (UTC), pattern played once per activation"
        );
    }

    #[test]
    fn overlap_is_ruled_out_only_when_certain() {
        let day = compile(windows(
            "UTC",
            vec![window(Some("mon-fri"), "09:00", "17:00")],
        ));
        let night = compile(windows("UTC", vec![window(Some("*"), "22:00", "06:00")]));
        let evening = compile(windows(
            "UTC",
            vec![window(Some("mon-fri"), "16:00", "23:00")],
        ));
        let weekend = compile(windows(
            "UTC",
            vec![window(Some("sat,sun"), "09:00", "17:00")],
        ));
        assert!(!day.may_overlap(&night), "09-17 and 22-06 never meet");
        assert!(!night.may_overlap(&day));
        assert!(day.may_overlap(&evening), "16:00-17:00 is shared");
        assert!(night.may_overlap(&evening), "22:00-23:00 is shared");
        assert!(!day.may_overlap(&weekend));
        // Sunday 22:00 to Monday 06:00 wraps the week and meets a Monday-morning window.
        let monday_early = compile(windows("UTC", vec![window(Some("mon"), "05:00", "07:00")]));
        assert!(night.may_overlap(&monday_early));
        // Adjacent windows do not overlap: [09:00, 17:00) and [17:00, 18:00).
        let after = compile(windows(
            "UTC",
            vec![window(Some("mon-fri"), "17:00", "18:00")],
        ));
        assert!(!day.may_overlap(&after));
        // Another timezone, cron and always: assume they may.
        let berlin = compile(windows(
            "Europe/Berlin",
            vec![window(Some("*"), "22:00", "06:00")],
        ));
        assert!(day.may_overlap(&berlin));
        let nightly = compile(cron("0 2 * * *", Some("1h"), "UTC"));
        assert!(nightly.may_overlap(&day));
        assert!(Schedule::always().may_overlap(&day));
        // Disjoint date ranges never overlap, whatever the rest.
        let mut december = RawSchedule {
            start: Some("2026-12-01".into()),
            end: Some("2027-01-01".into()),
            ..RawSchedule::default()
        };
        let dec = compile(december.clone());
        december.start = Some("2027-01-01".into());
        december.end = None;
        let january_on = compile(december);
        assert!(!dec.may_overlap(&january_on));
        assert!(dec.may_overlap(&Schedule::always()));
    }
}
