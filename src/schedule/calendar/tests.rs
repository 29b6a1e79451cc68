use super::raw::{RawSchedule, RawWindow};
use super::*;

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
