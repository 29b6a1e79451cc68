use super::super::days_label;
use super::super::tests::{cron, window, windows, KEY};
use super::*;

fn errors(raw: RawSchedule, pattern_len: Option<Duration>) -> Vec<(String, String)> {
    parse(&raw, KEY, pattern_len).unwrap_err()
}

fn one_error(key: &str, message: &str) -> Vec<(String, String)> {
    vec![(format!("{KEY}{key}"), message.to_string())]
}

#[test]
fn day_names_ranges_and_lists() {
    let mask = |text| parse_days(text).unwrap();
    assert_eq!(mask("mon-fri"), 0b001_1111);
    assert_eq!(mask("sat,sun"), 0b110_0000);
    assert_eq!(mask(" Mon , WED-fri "), 0b001_1101);
    assert_eq!(mask("*"), EVERY_DAY);
    assert_eq!(mask("fri-mon"), 0b111_0001);
    assert_eq!(mask("Monday,tuesday"), 0b000_0011);
    assert_eq!(days_label(mask("mon-fri")), "mon-fri");
    assert_eq!(days_label(mask("sun,sat")), "sat,sun");
    assert_eq!(days_label(mask("fri-mon")), "mon,fri-sun");
    assert_eq!(days_label(mask("sun-sat")), "every day");
}

#[test]
fn bad_cron() {
    assert_eq!(
        errors(cron("0 25 * * *", Some("1h"), "UTC"), None),
        one_error(
            ".cron",
            "invalid cron expression \"0 25 * * *\": hour 25 is out of range 0-23"
        )
    );
    assert_eq!(
        errors(cron("0 0 30 2 *", Some("1h"), "UTC"), None),
        one_error(
            ".cron",
            "invalid cron expression \"0 0 30 2 *\": it never fires"
        )
    );
    // Found by fuzzing: an empty list item made every lookup slow.
    for expr in [", * * * 3", "0 1,,2 * * *", "0 9 * * 1,"] {
        let got = errors(cron(expr, Some("1h"), "UTC"), None);
        assert_eq!(got.len(), 1, "{expr}: {got:?}");
        assert!(
            got[0].1.contains("has an empty list item"),
            "{expr}: {got:?}"
        );
    }
}

#[test]
fn unknown_timezone() {
    assert_eq!(
        errors(cron("0 9 * * *", Some("1h"), "Europe/Berln"), None),
        one_error(
            ".timezone",
            "unknown timezone \"Europe/Berln\" (did you mean \"Europe/Berlin\"?)"
        )
    );
    assert_eq!(
        errors(cron("0 9 * * *", Some("1h"), "Mars/Olympus_Mons"), None),
        one_error(
            ".timezone",
            "unknown timezone \"Mars/Olympus_Mons\" (an IANA name such as \
             \"Europe/Berlin\", \"America/New_York\" or \"UTC\")"
        )
    );
}

#[test]
fn bad_windows() {
    assert_eq!(
        errors(
            windows("UTC", vec![window(Some("mon-fry"), "09:00", "17:00")]),
            None
        ),
        one_error(
            ".windows[0].days",
            "invalid days \"mon-fry\": unknown day \"fry\" (e.g. \"mon-fri\", \"sat,sun\", \
             \"mon,wed-fri\" or \"*\")"
        )
    );
    assert_eq!(
        errors(windows("UTC", vec![window(None, "25:00", "17:00")]), None),
        one_error(
            ".windows[0].from",
            "invalid time \"25:00\": HH:MM or HH:MM:SS with hours 0-23 (e.g. \"09:00\" or \"17:30:15\")"
        )
    );
    assert_eq!(
        errors(
            windows(
                "UTC",
                vec![
                    window(None, "09:00", "17:00"),
                    window(None, "09:00", "09:00")
                ]
            ),
            None
        ),
        one_error(
            ".windows[1].to",
            "same as \"from\": a window needs a length (\"to\" earlier than \"from\" \
             crosses midnight)"
        )
    );
    let mut missing = windows("UTC", vec![window(None, "09:00", "17:00")]);
    missing.windows[0].to = None;
    assert_eq!(
        errors(missing, None),
        one_error(
            ".windows[0].to",
            "missing: when the window closes (e.g. \"17:30\")"
        )
    );
}

#[test]
fn cron_and_windows_together() {
    let mut raw = cron("0 9 * * *", Some("1h"), "UTC");
    raw.windows = vec![window(None, "09:00", "17:00")];
    assert_eq!(
        errors(raw, None),
        one_error(
            "",
            "cron and windows cannot be combined: use cron with \"for\", or windows"
        )
    );
}

#[test]
fn cron_without_for_or_pattern_length() {
    let message = "missing: how long each activation lasts (set \"for\", or use a pattern \
                   with a length such as stages or ramp)";
    assert_eq!(
        errors(cron("0 9 * * *", None, "UTC"), None),
        one_error(".for", message)
    );
    assert_eq!(
        errors(cron("0 9 * * *", Some("eight hours"), "UTC"), None),
        one_error(
            ".for",
            "invalid duration \"eight hours\" (e.g. \"30m\", \"8h\")"
        )
    );
}

#[test]
fn end_before_start() {
    let mut raw = cron("0 9 * * *", Some("1h"), "UTC");
    raw.start = Some("2026-12-01".into());
    raw.end = Some("2026-11-30T23:59:59".into());
    assert_eq!(
        errors(raw.clone(), None),
        one_error(
            ".end",
            "\"2026-11-30T23:59:59\" is not after start \"2026-12-01\""
        )
    );
    raw.end = Some("december".into());
    assert_eq!(
        errors(raw, None),
        one_error(
            ".end",
            "invalid date or time \"december\" (e.g. \"2026-12-01\", \"2026-12-01T09:00:00\" \
             or \"2026-12-01T09:00:00+01:00\")"
        )
    );
}

#[test]
fn repeat_false_needs_cron_or_windows() {
    let raw = RawSchedule {
        repeat: Some(false),
        ..RawSchedule::default()
    };
    assert_eq!(
        errors(raw, None),
        one_error(
            ".repeat",
            "only applies with cron or windows: an always schedule loops the pattern"
        )
    );
}

#[test]
fn for_needs_cron() {
    let mut raw = windows("UTC", vec![window(None, "09:00", "17:00")]);
    raw.for_ = Some("1h".into());
    assert_eq!(
        errors(raw, None),
        one_error(
            ".for",
            "only applies with cron: a window lasts from \"from\" to \"to\""
        )
    );
    let raw = RawSchedule {
        for_: Some("1h".into()),
        ..RawSchedule::default()
    };
    assert_eq!(
        errors(raw, None),
        one_error(
            ".for",
            "only applies with cron: an always schedule has no activations"
        )
    );
}

#[test]
fn every_error_is_collected() {
    let raw = RawSchedule {
        cron: Some("0 9 * *".into()),
        timezone: Some("Nowhere".into()),
        start: Some("2026-02-30".into()),
        ..RawSchedule::default()
    };
    let keys: Vec<String> = errors(raw, None).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [".timezone", ".start", ".cron", ".for"].map(|k| format!("{KEY}{k}"))
    );
}
