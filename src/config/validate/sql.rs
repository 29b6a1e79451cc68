//! A postgres:// target's login and its endpoints' statements: `query` (prepared once per
//! connection) and `params` (templates rendered per request, converted to the types the
//! server gives the statement's parameters).

use super::super::checks::Collector;
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{Scheme, SqlLogin};
use crate::scenario::template::Templates;

/// The login of a postgres:// target at `key`; errors for the login keys on other targets.
pub(super) fn login(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    scheme: Scheme,
    dbname: &str,
) -> Option<SqlLogin> {
    if scheme != Scheme::Postgres {
        // A redis:// target's are its AUTH (`redis::auth`).
        if scheme != Scheme::Redis {
            for (k, on) in [
                ("user", t.user.is_some()),
                ("password_env", t.password_env.is_some()),
            ] {
                if on {
                    c.err(
                        format!("{key}.{k}"),
                        "only for postgres:// and redis:// targets",
                    );
                }
            }
        }
        return None;
    }
    let password = password(c, key, t);
    Some(SqlLogin {
        dbname: match dbname.trim_start_matches('/') {
            "" => "postgres".to_string(),
            name => name.to_string(),
        },
        user: t.user.clone().unwrap_or_else(|| "postgres".to_string()),
        password,
    })
}

/// The password in the environment variable `password_env` names; an error when it is not set.
pub(super) fn password(c: &mut Collector, key: &str, t: &RawTarget) -> Option<String> {
    let var = t.password_env.as_ref()?;
    match std::env::var(var) {
        Ok(p) => Some(p),
        Err(_) => {
            c.err(
                format!("{key}.password_env"),
                format!("environment variable {var:?} is not set"),
            );
            None
        }
    }
}

/// A postgres endpoint: a statement and its parameters' templates.
pub(super) fn endpoint(c: &mut Collector, key: &str, e: &RawEndpoint) {
    match e.query.as_deref().map(str::trim) {
        None | Some("") => c.err(
            format!("{key}.query"),
            "missing: a postgres:// endpoint needs a query (e.g. query = \"SELECT $1::int\")",
        ),
        Some(_) => {}
    }
    let mut templates = Templates::new();
    for (i, p) in e.params.iter().flatten().enumerate() {
        if let Err(err) = templates.add(&i.to_string(), p) {
            c.err(format!("{key}.params[{i}]"), err.to_string());
        }
    }
}

/// The `method` label of a statement: its first word, upper-cased (`SELECT`, `INSERT`...).
pub(super) fn verb(query: &str) -> Option<&str> {
    query
        .split_whitespace()
        .next()
        .filter(|w| w.chars().all(|ch| ch.is_ascii_alphabetic()))
}
