//! Feeders and template variables, shared by scenarios and postgres:// targets: reading a
//! table of feeders (CSV files or inline rows), valid variable names, and the check that a
//! template uses only variables that will be defined and columns its feeders have.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::Path;

use super::checks::Collector;
use super::raw::RawFeeder;
use crate::scenario::{template, Feeder, Order, Templates};

/// The feeders of `key` (a scenario's, or a postgres target's): CSV files or inline rows,
/// each a variable of the users' (or requests') vars.
pub(super) fn read(
    c: &mut Collector,
    key: &str,
    raw: &BTreeMap<String, RawFeeder>,
    base_dir: Option<&Path>,
    fingerprint: &mut impl Hasher,
    known: &mut BTreeSet<String>,
) -> Vec<Feeder> {
    let mut feeders = Vec::new();
    for (k, f) in raw {
        let fkey = format!("{key}.feeders.{k}");
        if !valid_var(k) {
            c.err(&fkey, bad_var(k));
        }
        let order = match f.order.as_deref() {
            None | Some("round_robin") => Order::RoundRobin,
            Some("random") => Order::Random,
            Some(other) => {
                c.err(
                    format!("{fkey}.order"),
                    format!("unknown order {other:?} (known: round_robin, random)"),
                );
                Order::RoundRobin
            }
        };
        let feeder = match (&f.csv, &f.list) {
            (Some(path), None) => {
                let p = base_dir
                    .map(|d| d.join(path))
                    .unwrap_or_else(|| path.into());
                if let Ok(bytes) = std::fs::read(&p) {
                    bytes.hash(fingerprint);
                }
                Feeder::from_csv(k, &p, order).map_err(|e| (format!("{fkey}.csv"), e))
            }
            (None, Some(rows)) => {
                Feeder::from_list(k, rows.clone(), order).map_err(|e| (format!("{fkey}.list"), e))
            }
            _ => Err((
                fkey.clone(),
                "set exactly one of csv (a file with a header row) or list (inline rows)".into(),
            )),
        };
        match feeder {
            Ok(f) => feeders.push(f),
            Err((k, e)) => c.err(k, e),
        }
        known.insert(k.clone());
    }
    feeders
}

pub(super) fn valid_var(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !template::GENERATORS.contains(&name)
}

pub(super) fn bad_var(name: &str) -> String {
    format!(
        "invalid variable name {name:?}: letters, digits and '_', not starting with a digit, \
         and not a generator ({})",
        template::GENERATORS.join(", ")
    )
}

/// Errors for template `name` (compiled in `templates`, at `key`) when it uses a variable not
/// in `known` (which `defined_by` names for the message), or a column its feeder lacks.
pub(super) fn check_vars(
    c: &mut Collector,
    key: &str,
    templates: &Templates,
    name: &str,
    known: &BTreeSet<String>,
    feeders: &[Feeder],
    defined_by: &str,
) {
    let unknown: Vec<String> = templates
        .declared(name)
        .into_iter()
        .filter(|v| !known.contains(v))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        c.err(
            key,
            format!(
                "uses {}, not defined by {defined_by} (known: {}; generators: {})",
                unknown
                    .iter()
                    .map(|v| format!("{{{{ {v} }}}}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
                template::GENERATORS.join(", ")
            ),
        );
    }
    for f in feeders {
        let used: BTreeSet<String> = templates
            .declared_paths(name)
            .into_iter()
            .filter_map(|p| {
                p.strip_prefix(&format!("{}.", f.name()))
                    .map(str::to_string)
            })
            .collect();
        if let Err(e) = f.require_columns(&used) {
            c.err(key, e);
        }
    }
}
