//! A postgres:// target's login, feeders and its endpoints' statements: `query` (prepared
//! once per connection) and `params` (templates rendered per request, converted to the types
//! the server gives the statement's parameters), or a `transaction` of them, with `vars`
//! rendered once per request from the feeders' rows.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;

use super::super::checks::Collector;
use super::super::feeders::{bad_var, check_vars, read as feeders_of, valid_var};
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{Scheme, Sql, SqlLogin, SqlStatement, SslMode, TargetFeeders};
use crate::scenario::template::Templates;
use crate::scenario::Feeder;

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
        if !scheme.is_redis() {
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
    let (dbname, sslmode) = SslMode::split(dbname);
    Some(SqlLogin {
        dbname: match dbname.trim_start_matches('/') {
            "" => "postgres".to_string(),
            name => name.to_string(),
        },
        user: t.user.clone().unwrap_or_else(|| "postgres".to_string()),
        password,
        sslmode,
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

/// Statements one transaction may hold: enough for any TPC-style mix, and a bound on the
/// sessions' prepared-statement caches.
const MAX_STATEMENTS: usize = 64;

/// A postgres:// target's feeders (errors for them on any other target).
pub(super) fn feeders(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    scheme: Scheme,
    base_dir: Option<&Path>,
) -> TargetFeeders {
    if t.feeders.is_empty() {
        return TargetFeeders::default();
    }
    if scheme != Scheme::Postgres {
        c.err(format!("{key}.feeders"), "only for postgres:// targets");
        return TargetFeeders::default();
    }
    let mut hasher = DefaultHasher::new();
    format!("{:?}", t.feeders).hash(&mut hasher);
    let list = feeders_of(
        c,
        key,
        &t.feeders,
        base_dir,
        &mut hasher,
        &mut BTreeSet::new(),
    );
    TargetFeeders {
        list: list.into(),
        fingerprint: hasher.finish(),
    }
}

/// A postgres endpoint: its `vars`, and one statement (`query`, `params`) or a `transaction`
/// of them, every template checked against the variables it may use.
pub(super) fn endpoint(c: &mut Collector, key: &str, e: &RawEndpoint, feeders: &[Feeder]) -> Sql {
    let mut templates = Templates::new();
    let fed: BTreeSet<String> = feeders.iter().map(|f| f.name().to_string()).collect();
    let mut vars = Vec::new();
    for (name, source) in e.vars.iter().flatten() {
        let vkey = format!("{key}.vars.{name}");
        if !valid_var(name) {
            c.err(&vkey, bad_var(name));
        } else if fed.contains(name) {
            c.err(&vkey, format!("{name:?} is also a feeder's name"));
        }
        // Vars are rendered from the rows alone: a table has no order to render them in.
        template(c, &vkey, &mut templates, source, &fed, feeders);
        vars.push((name.clone(), source.clone()));
    }
    let mut known = fed;
    known.extend(vars.iter().map(|(n, _)| n.clone()));
    let mut statement =
        |c: &mut Collector, skey: &str, query: &Option<String>, params: &Option<Vec<String>>| {
            if query.as_deref().map(str::trim).unwrap_or("").is_empty() {
                c.err(
                format!("{skey}.query"),
                "missing: a postgres:// endpoint needs a query (e.g. query = \"SELECT $1::int\")",
            );
            }
            for (i, p) in params.iter().flatten().enumerate() {
                template(
                    c,
                    &format!("{skey}.params[{i}]"),
                    &mut templates,
                    p,
                    &known,
                    feeders,
                );
            }
            SqlStatement {
                query: query.clone().unwrap_or_default(),
                params: params.clone().unwrap_or_default(),
            }
        };
    let statements = match &e.transaction {
        None => vec![statement(c, key, &e.query, &e.params)],
        Some(list) => {
            for (k, on) in [("query", e.query.is_some()), ("params", e.params.is_some())] {
                if on {
                    c.err(
                        format!("{key}.{k}"),
                        "set either query and params (one statement) or transaction (each of \
                         its statements with its own query and params), not both",
                    );
                }
            }
            if list.is_empty() || list.len() > MAX_STATEMENTS {
                c.err(
                    format!("{key}.transaction"),
                    format!(
                        "has {} statements: must be 1..={MAX_STATEMENTS}",
                        list.len()
                    ),
                );
            }
            list.iter()
                .enumerate()
                .map(|(i, st)| {
                    statement(c, &format!("{key}.transaction[{i}]"), &st.query, &st.params)
                })
                .collect()
        }
    };
    Sql {
        statements,
        transaction: e.transaction.is_some(),
        vars,
    }
}

/// Compiles `source` (at `key`) and checks that it only uses `known` variables and columns
/// its feeders have.
fn template(
    c: &mut Collector,
    key: &str,
    templates: &mut Templates,
    source: &str,
    known: &BTreeSet<String>,
    feeders: &[Feeder],
) {
    match templates.add(key, source) {
        Err(err) => c.err(key, err.to_string()),
        Ok(()) => check_vars(
            c,
            key,
            templates,
            key,
            known,
            feeders,
            "the endpoint's vars or the target's feeders",
        ),
    }
}

/// The `method` label of a statement: its first word, upper-cased (`SELECT`, `INSERT`...).
pub(super) fn verb(query: &str) -> Option<&str> {
    query
        .split_whitespace()
        .next()
        .filter(|w| w.chars().all(|ch| ch.is_ascii_alphabetic()))
}
