//! `[labels]`: static labels on every exported series, for telling instances of a fleet
//! apart (`location = "eu-west"`). Names follow Prometheus's rules and may not shadow a label
//! loadtide or the scraper sets; values are plain, non-empty strings.

use std::collections::BTreeMap;

use crate::config::checks::Collector;

/// Every label name loadtide's own families use, and those Prometheus sets on a scrape or
/// reserves: a `[labels]` entry may not take one of them.
const RESERVED_LABELS: &[&str] = &[
    "profile",
    "target",
    "endpoint",
    "method",
    "protocol",
    "code",
    "kind",
    "reason",
    "check",
    "result",
    "scenario",
    "state",
    "phase",
    "direction",
    "version",
    "revision",
    "le",
    "quantile",
    "job",
    "instance",
];

/// More than this many is a config mistake, not a fleet: each one is on every series.
const MAX_LABELS: usize = 16;
const MAX_VALUE_LEN: usize = 256;

pub(super) fn labels(c: &mut Collector, raw: &BTreeMap<String, String>) -> Vec<(String, String)> {
    if raw.len() > MAX_LABELS {
        c.err(
            "labels",
            format!(
                "{} static labels: at most {MAX_LABELS} (each is added to every series)",
                raw.len()
            ),
        );
    }
    let mut out = Vec::new();
    for (name, value) in raw {
        let key = format!("labels.{name}");
        if let Err(e) = check_name(name) {
            c.err(&key, e);
        } else if value.is_empty() {
            c.err(
                &key,
                "empty value: Prometheus treats an empty label as absent",
            );
        } else if value.len() > MAX_VALUE_LEN {
            c.err(
                &key,
                format!("value of {} bytes: at most {MAX_VALUE_LEN}", value.len()),
            );
        } else {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    if !valid {
        return Err(format!(
            "invalid label name {name:?}: letters, digits and underscores, not starting with a digit"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "invalid label name {name:?}: names starting with \"__\" are reserved by Prometheus"
        ));
    }
    if RESERVED_LABELS.contains(&name) {
        return Err(format!(
            "label {name:?} is already set by loadtide or Prometheus; pick another name (e.g. \"location\", \"fleet\")"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_and_leave_loadtide_s_labels_alone() {
        assert!(check_name("location").is_ok());
        assert!(check_name("_team2").is_ok());
        for bad in [
            "", "2nd", "eu-west", "a.b", "__meta", "profile", "instance", "le",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn every_label_of_every_family_is_reserved_from_static_labels() {
        // The families and their labels as the daemon exports them (tests/daemon.rs keeps
        // this listing true): `{a,b}` at the end of each line.
        let listing = include_str!("../../../tests/golden/metrics-names.txt");
        for line in listing.lines() {
            let labels = line
                .rsplit_once('{')
                .map_or("", |(_, l)| l.trim_end_matches('}'));
            for label in labels.split(',').filter(|l| !l.is_empty()) {
                assert!(
                    RESERVED_LABELS.contains(&label),
                    "{label:?} of `{line}` is not in RESERVED_LABELS"
                );
            }
        }
    }
}
