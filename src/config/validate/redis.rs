//! A redis:// endpoint's command: a name of letters, then arguments, each a template rendered
//! per request.

use super::super::checks::Collector;
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{RedisAuth, Scheme};
use super::sql;
use crate::scenario::template::Templates;

/// A redis:// target's AUTH: the password `password_env` names, and `user` for an ACL user
/// (without it, the `default` user).
pub(super) fn auth(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    scheme: Scheme,
) -> Option<RedisAuth> {
    if !scheme.is_redis() {
        return None;
    }
    if t.password_env.is_none() {
        if t.user.is_some() {
            c.err(
                format!("{key}.user"),
                "needs password_env too: Redis AUTH sends a user and a password",
            );
        }
        return None;
    }
    Some(RedisAuth {
        user: t.user.clone(),
        password: sql::password(c, key, t)?,
    })
}

/// The command's name, when it is one (letters only): also the endpoint's `method` label.
pub(super) fn command_name(words: &[String]) -> Option<&str> {
    words
        .first()
        .filter(|n| !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphabetic()))
        .map(String::as_str)
}

pub(super) fn command(c: &mut Collector, key: &str, e: &RawEndpoint) {
    let Some(words) = &e.command else {
        c.err(
            format!("{key}.command"),
            "missing: a redis:// endpoint needs a command (e.g. command = [\"PING\"])",
        );
        return;
    };
    if command_name(words).is_none() {
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

/// A redis:// target's database: the URL's path (`/2`), 0 without one (and for other targets).
pub(super) fn database(scheme: Scheme, base_path: &str) -> i64 {
    if scheme.is_redis() {
        base_path.trim_start_matches('/').parse().unwrap_or(0)
    } else {
        0
    }
}
