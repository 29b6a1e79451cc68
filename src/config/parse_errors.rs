//! What the parsers say, in the words of the other config errors: figment's and serde's
//! errors with the key path (`targets.api.endpoints[0].name`), TOML types and the value;
//! TOML syntax errors with the key of the line they are on (found in the text, since the
//! parser only gives line and column) and without the source snippet, which may hold a secret.

use super::{env_source, file_source, is_env, ConfigError, ConfigErrors};

/// `targets.api.endpoints.0.name` -> `targets.api.endpoints[0].name`, as validation writes it.
pub(super) fn key_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Plain words (and TOML's names) for serde's type names.
fn type_name(t: &str) -> String {
    match t {
        "f64" | "f32" => "a number".into(),
        "u8" => "a whole number from 0 to 255".into(),
        "u16" => "a whole number from 0 to 65535".into(),
        "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i64" | "i32" => "a whole number".into(),
        "bool" | "a boolean" => "true or false".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.to_string(),
    }
}

/// What was found instead of `expected`, in TOML's names. A string's text is shown only
/// where a number or true/false belongs (`rate = "fast"`, `LOADTIDE_..._HTTP2=yes`): where a
/// table or an array belongs it may be a secret (`secrets.x = "…"`, `command = "AUTH …"`).
fn found_name(actual: &figment::error::Actual, expected: &str) -> String {
    use figment::error::Actual;
    let scalar = |t: String| t.contains("number") || t == "true or false";
    match actual {
        Actual::Str(s) if scalar(type_name(expected)) => format!("the string {s:?}"),
        Actual::Str(_) => "a string".into(),
        Actual::Seq => "an array".into(),
        Actual::Map => "a table".into(),
        other => other.to_string(),
    }
}

/// The keys whose values are durations: a bare number there is missing quotes and a unit.
const DURATIONS: &[&str] = &[
    "timeout",
    "drain_timeout",
    "duration",
    "warmup",
    "for",
    "over",
    "every",
    "hold",
    "ramp",
    "at",
    "period",
    "peak_at",
    "trough_at",
    "window",
    "cooldown",
    "max_p99",
    "read_idle",
    "refresh_interval",
    "stabilize",
    "max_lag",
    "max_latency",
    "think",
];

pub(crate) fn figment_errors(file: &str, err: figment::Error) -> ConfigErrors {
    use figment::error::{Actual, Kind};
    ConfigErrors(
        err.into_iter()
            .map(|e| {
                let key = key_path(&e.path);
                let file = match e.metadata.as_ref() {
                    Some(m) if is_env(m) => env_source(&e.path.join(".")),
                    Some(m) => file_source(m).unwrap_or_else(|| file.to_string()),
                    None => file.to_string(),
                };
                let message = match &e.kind {
                    Kind::UnknownField(field, expected) => {
                        let hint = crate::suggest::did_you_mean(field, expected);
                        format!(
                            "unknown key {field:?}{hint} (known: {})",
                            expected.join(", ")
                        )
                    }
                    Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
                        let number = matches!(
                            actual,
                            Actual::Signed(_) | Actual::Unsigned(_) | Actual::Float(_)
                        );
                        let last = e.path.last().map_or("", String::as_str);
                        let list = type_name(expected) == "an array";
                        let hint = match (number && expected == "a string", actual) {
                            (false, Actual::Str(_)) if list => {
                                " (a list: in brackets, [ … ])".into()
                            }
                            (false, _) => String::new(),
                            _ if DURATIONS.contains(&last) => {
                                " (a duration: in quotes, with its unit, e.g. \"5s\")".into()
                            }
                            (true, Actual::Signed(n)) => format!(" (in quotes: \"{n}\")"),
                            (true, Actual::Unsigned(n)) => format!(" (in quotes: \"{n}\")"),
                            (true, _) => " (in quotes)".into(),
                        };
                        format!(
                            "invalid type: found {}, expected {}{hint}",
                            found_name(actual, expected),
                            type_name(expected)
                        )
                    }
                    // TOML syntax errors carry their own line and column, and a snippet of the
                    // source: left out, since the broken line may hold a secret.
                    other => without_snippet(&other.to_string()),
                };
                ConfigError { file, key, message }
            })
            .collect(),
    )
}

/// serde stops at a config's first bad key or type, so a file with a typo in two targets
/// would be fixed one run at a time. After that first error, each part is read on its own
/// (the top-level tables; each target without its endpoints, each endpoint, each scenario and
/// each profile): the first error of every part, with its key path and source. Only runs when
/// the whole config already failed, so a valid config never takes this path.
pub(super) fn every_part(figment: &figment::Figment, file: &str) -> ConfigErrors {
    use figment::value::{Tag, Value};
    use std::collections::BTreeMap;
    let Ok(Value::Dict(_, top)) = figment.find_value("") else {
        return ConfigErrors(Vec::new());
    };
    let mut found: Vec<figment::Error> = Vec::new();
    let mut part = |path: Vec<String>, error: Option<figment::Error>| {
        for mut e in error
            .into_iter()
            .flat_map(|e| e.into_iter().collect::<Vec<_>>())
        {
            e.path = path.iter().cloned().chain(e.path).collect();
            e.metadata = figment
                .find_metadata(&e.path.join("."))
                .cloned()
                .or(e.metadata);
            found.push(e);
        }
    };
    /// The error reading `v` as a `T`, if any.
    fn read<T: serde::de::DeserializeOwned>(v: &Value) -> Option<figment::Error> {
        v.deserialize::<T>().err()
    }
    let named = |v: &Value| match v {
        Value::Dict(_, d) => d.clone().into_iter().collect(),
        _ => Vec::new(),
    };
    for (k, v) in &top {
        let at = |rest: &[&str]| {
            std::iter::once(k.clone())
                .chain(rest.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>()
        };
        match k.as_str() {
            "server" => part(at(&[]), read::<super::raw::RawServer>(v)),
            "demo_target" => part(at(&[]), read::<super::raw::RawDemoTarget>(v)),
            "safety" => part(at(&[]), read::<super::raw::RawSafety>(v)),
            "labels" => part(at(&[]), read::<BTreeMap<String, String>>(v)),
            "scenarios" => {
                for (name, sc) in named(v) {
                    part(at(&[&name]), read::<super::raw::RawScenario>(&sc));
                }
            }
            "profiles" => {
                for (name, p) in named(v) {
                    part(at(&[&name]), read::<super::raw::RawProfile>(&p));
                }
            }
            "targets" => {
                for (name, t) in named(v) {
                    let Value::Dict(tag, mut t) = t else {
                        part(at(&[&name]), read::<super::raw::RawTarget>(&t));
                        continue;
                    };
                    let endpoints = t.remove("endpoints");
                    part(
                        at(&[&name]),
                        read::<super::raw::RawTarget>(&Value::Dict(tag, t)),
                    );
                    match endpoints {
                        Some(Value::Array(_, list)) => {
                            for (i, e) in list.iter().enumerate() {
                                let i = i.to_string();
                                let path = at(&[&name, "endpoints", &i]);
                                part(path, read::<super::raw::RawEndpoint>(e));
                            }
                        }
                        Some(other) => part(
                            at(&[&name, "endpoints"]),
                            read::<Vec<super::raw::RawEndpoint>>(&other),
                        ),
                        None => {}
                    }
                }
            }
            // An unknown top-level key: the whole config's error names it and the known ones.
            _ => {
                let alone = Value::Dict(Tag::Default, [(k.clone(), v.clone())].into());
                part(Vec::new(), read::<super::RawConfig>(&alone));
            }
        }
    }
    let mut out: Vec<ConfigError> = Vec::new();
    for e in found {
        for one in figment_errors(file, e).0 {
            if !out.contains(&one) {
                out.push(one);
            }
        }
    }
    ConfigErrors(out)
}

/// A parser's message without the quoted source lines (`2 | url = "…`) and their carets.
fn without_snippet(message: &str) -> String {
    message
        .lines()
        .filter(|l| {
            let gutter = l
                .trim_start()
                .trim_start_matches(|c: char| c.is_ascii_digit());
            !gutter.trim_start().starts_with('|')
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Gives the TOML syntax errors of `file` (whose text is `text`) the key of the line they
/// point at, and says plainly what a duplicate key or table and a too large number are.
pub(super) fn locate_syntax(errors: &mut ConfigErrors, file: &str, text: &str) {
    for e in errors
        .0
        .iter_mut()
        .filter(|e| e.file == file && e.key.is_empty())
    {
        let Some((line, column)) = position(&e.message) else {
            continue;
        };
        let at = format!("line {line}, column {column}");
        if let Some((k, table)) = duplicate(&e.message) {
            e.key = if table.is_empty() {
                k
            } else {
                format!("{table}.{k}")
            };
            e.message = format!(
                "set twice (again on line {line}, as a key or a [table]): each key and each \
                 table may appear only once"
            );
            continue;
        }
        let Some((key, value)) = key_at(text, line) else {
            continue;
        };
        e.key = key;
        if e.message.contains("number too large") {
            e.message = format!(
                "invalid number {value} ({at}): too large (TOML numbers are 64-bit, at most \
                 9223372036854775807)"
            );
        }
    }
}

/// `TOML parse error at line 3, column 19` -> (3, 19).
fn position(message: &str) -> Option<(usize, usize)> {
    let rest = message.strip_prefix("TOML parse error at line ")?;
    let (line, rest) = rest.split_once(", column ")?;
    let column = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// ``duplicate key `rate` in table `profiles.steady` `` -> ("rate", "profiles.steady").
fn duplicate(message: &str) -> Option<(String, String)> {
    let rest = &message[message.find("duplicate key `")? + "duplicate key `".len()..];
    let (k, rest) = rest.split_once('`')?;
    let table = rest
        .strip_prefix(" in table `")
        .and_then(|t| t.split_once('`'))
        .map_or("", |(t, _)| t);
    Some((k.to_string(), table.to_string()))
}

/// The key path set on line `line` (1-based) of `text` and the value as written there, when
/// it is a number (anything else may be a secret): the last `[table]` or `[[array]]` header
/// above it, then the line's own `key =`. For a header line, the header.
fn key_at(text: &str, line: usize) -> Option<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let mut table = String::new();
    let mut arrays: Vec<String> = Vec::new();
    for l in &lines[..line] {
        if let Some(h) = header(l) {
            let array = l.trim_start().starts_with("[[");
            let n = arrays.iter().filter(|a| **a == h).count();
            table = if array {
                format!("{h}[{n}]")
            } else {
                h.clone()
            };
            if array {
                arrays.push(h);
            }
        }
    }
    if header(here).is_some() {
        return Some((table, String::new()));
    }
    let (k, v) = here.split_once('=')?;
    let k: Vec<&str> = k
        .split('.')
        .map(|s| s.trim().trim_matches('"').trim_matches('\''))
        .collect();
    if k.iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return None;
    }
    let v = v.split('#').next().unwrap_or("").trim();
    let number = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_digit() || "+-_.eE".contains(c));
    let key = if table.is_empty() {
        k.join(".")
    } else {
        format!("{table}.{}", k.join("."))
    };
    Some((key, if number { v.to_string() } else { String::new() }))
}

/// `[targets.api]` or `[[targets.api.endpoints]]` -> the dotted name, quotes removed.
fn header(line: &str) -> Option<String> {
    let l = line.trim();
    let l = l.split('#').next().unwrap_or(l).trim();
    let inner = l
        .strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| l.strip_prefix('[').and_then(|r| r.strip_suffix(']')))?;
    let parts: Vec<&str> = inner
        .split('.')
        .map(|s| s.trim().trim_matches('"'))
        .collect();
    Some(parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_snippets_are_dropped() {
        let msg = "TOML parse error at line 2, column 29\n  |\n2 | k = \"s3cret\n  |     ^\ninvalid basic string\n";
        assert_eq!(
            without_snippet(msg),
            "TOML parse error at line 2, column 29\ninvalid basic string"
        );
    }

    #[test]
    fn key_paths_use_brackets_for_indices() {
        let p: Vec<String> = ["targets", "api", "endpoints", "0", "name"]
            .map(String::from)
            .to_vec();
        assert_eq!(key_path(&p), "targets.api.endpoints[0].name");
    }

    #[test]
    fn syntax_errors_find_their_key() {
        let text = "top = 1\n[targets.api]\nurl = \"x\"\n[[targets.api.endpoints]]\nname = \"a\"\n\
                    [[targets.api.endpoints]]\n\"weight\" = 99 # w\n";
        assert_eq!(key_at(text, 1), Some(("top".into(), "1".into())));
        assert_eq!(
            key_at(text, 3),
            Some(("targets.api.url".into(), String::new()))
        );
        assert_eq!(
            key_at(text, 7),
            Some(("targets.api.endpoints[1].weight".into(), "99".into()))
        );
        assert_eq!(
            key_at(text, 6),
            Some(("targets.api.endpoints[1]".into(), String::new()))
        );
        assert_eq!(key_at(text, 99), None);
        assert_eq!(
            position("TOML parse error at line 3, column 19\nx"),
            Some((3, 19))
        );
        assert_eq!(
            duplicate("invalid table header\nduplicate key `steady` in table `profiles`"),
            Some(("steady".into(), "profiles".into()))
        );
    }
}
