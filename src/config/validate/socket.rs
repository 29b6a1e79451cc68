//! What a tcp:// or udp:// endpoint may say: its body (a template rendered per request with
//! the generators: `seq()`, `random_int()`, `uuid()`, ...) and how its reply ends.

use std::time::Duration;

use super::super::checks::Collector;
use super::super::raw::RawEndpoint;
use super::super::{Reply, Scheme, MAX_REPLY};
use crate::scenario::template::Templates;

/// The reply rule of a socket endpoint at `key` (a `read_*` key elsewhere is reported by
/// `protocols::foreign_keys`).
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

/// Errors for a body that does not compile as a template.
pub(super) fn body(c: &mut Collector, key: &str, e: &RawEndpoint) {
    if let Some(body) = &e.body {
        if let Err(err) = Templates::new().add("body", body) {
            c.err(format!("{key}.body"), err.to_string());
        }
    }
}
