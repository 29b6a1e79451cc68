//! What a tcp:// or udp:// endpoint may say: its body (a template rendered per request with
//! the generators: `seq()`, `random_int()`, `uuid()`, ...) and how its reply ends. The HTTP
//! settings of an endpoint mean nothing on a socket and are refused, not ignored.

use std::time::Duration;

use super::super::checks::Collector;
use super::super::raw::RawEndpoint;
use super::super::{Reply, Scheme, MAX_REPLY};
use crate::scenario::template::Templates;

/// The reply rule of a socket endpoint at `key`; on an HTTP endpoint, errors for any
/// `read_*` setting.
pub(super) fn reply(c: &mut Collector, key: &str, e: &RawEndpoint, scheme: Scheme) -> Reply {
    let set: Vec<&str> = [
        ("read_until", e.read_until.is_some()),
        ("read_bytes", e.read_bytes.is_some()),
        ("read_idle", e.read_idle.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if !scheme.is_socket() {
        for k in set {
            c.err(
                format!("{key}.{k}"),
                format!(
                    "only for tcp:// and udp:// targets (this one is {}://)",
                    scheme.as_str()
                ),
            );
        }
        return Reply::default();
    }
    if set.len() > 1 {
        c.err(
            format!("{key}.{}", set[1]),
            format!(
                "set one of read_until, read_bytes and read_idle, not {}",
                set.join(" and ")
            ),
        );
    }
    if let Some(d) = &e.read_until {
        if d.is_empty() {
            c.err(format!("{key}.read_until"), "must not be empty");
        }
        return Reply::Until(d.as_bytes().to_vec());
    }
    if let Some(n) = e.read_bytes {
        if n == 0 || n > MAX_REPLY as u64 {
            c.err(
                format!("{key}.read_bytes"),
                format!("invalid length {n}: must be 1..={MAX_REPLY}"),
            );
        }
        return Reply::Bytes(usize::try_from(n).unwrap_or(1));
    }
    if let Some(d) = &e.read_idle {
        let key = format!("{key}.read_idle");
        return Reply::Idle(c.duration(&key, Some(d), Duration::from_millis(50)));
    }
    Reply::default()
}

/// Errors for an endpoint's HTTP-only settings on a target of another protocol, for a body
/// or command that does not compile as a template, and for a key of the wrong protocol.
pub(super) fn endpoint(c: &mut Collector, key: &str, e: &RawEndpoint, scheme: Scheme) {
    let http_only = [
        ("method", e.method.is_some()),
        ("path", e.path.is_some()),
        ("headers", !e.headers.is_empty()),
        ("expect_status", e.expect_status.is_some()),
    ];
    let what = match scheme {
        Scheme::Redis => "sends its `command`",
        Scheme::Postgres => "runs its `query`",
        _ => "sends its `body` and reads a reply",
    };
    for (k, _) in http_only.iter().filter(|(_, on)| *on) {
        c.err(
            format!("{key}.{k}"),
            format!("an HTTP setting; a {}:// endpoint {what}", scheme.as_str()),
        );
    }
    if scheme == Scheme::Redis {
        return command(c, key, e);
    }
    if scheme == Scheme::Postgres {
        return super::sql::endpoint(c, key, e);
    }
    if e.command.is_some() {
        c.err(format!("{key}.command"), "only for redis:// targets");
    }
    if let Some(body) = &e.body {
        if let Err(err) = Templates::new().add("body", body) {
            c.err(format!("{key}.body"), err.to_string());
        }
    }
}

/// A redis endpoint's command: a name of letters, then arguments, each a template.
fn command(c: &mut Collector, key: &str, e: &RawEndpoint) {
    for (k, on) in [
        ("body", e.body.is_some()),
        ("body_file", e.body_file.is_some()),
    ] {
        if on {
            c.err(
                format!("{key}.{k}"),
                "a redis:// endpoint sends its `command` (e.g. command = [\"GET\", \"user:1\"])",
            );
        }
    }
    let Some(words) = &e.command else {
        c.err(
            format!("{key}.command"),
            "missing: a redis:// endpoint needs a command (e.g. command = [\"PING\"])",
        );
        return;
    };
    let name_ok = words
        .first()
        .is_some_and(|n| !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphabetic()));
    if !name_ok {
        c.err(
            format!("{key}.command"),
            format!(
                "invalid command {:?}: the first word is the command's name, letters only",
                words.first().map(String::as_str).unwrap_or("")
            ),
        );
    }
    let mut templates = Templates::new();
    for (i, word) in words.iter().enumerate() {
        if let Err(err) = templates.add(&i.to_string(), word) {
            c.err(format!("{key}.command[{i}]"), err.to_string());
        }
    }
}
