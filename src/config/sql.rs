//! What a postgres:// endpoint runs per request, and the test data its requests draw from.

use std::fmt;
use std::sync::Arc;

use crate::scenario::Feeder;

/// A postgres:// endpoint's work: one statement, or a transaction's statements in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sql {
    pub statements: Vec<SqlStatement>,
    /// Run the statements inside BEGIN … COMMIT, as one request.
    pub transaction: bool,
    /// Rendered once per request (after the feeder rows are taken) and shared by every
    /// parameter as `{{ name }}`: how statements of a transaction agree on an id.
    pub vars: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    /// Prepared once per session (`$1`, `$2`, …).
    pub query: String,
    /// Templates, one per parameter.
    pub params: Vec<String>,
}

/// A target's feeders: each request takes the next row of each. Compared by what they were
/// made from (config text and file contents), so a reload that leaves them alone keeps them.
#[derive(Clone, Default)]
pub struct TargetFeeders {
    pub list: Arc<[Feeder]>,
    pub fingerprint: u64,
}

impl PartialEq for TargetFeeders {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint && self.list.len() == other.list.len()
    }
}

// By hand: rows often hold credentials; the names are enough.
impl fmt::Debug for TargetFeeders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.list.iter().map(Feeder::name))
            .finish()
    }
}

/// How a postgres:// target's sessions use TLS: libpq's `sslmode` from the URL's query,
/// without `allow` and `prefer`, which fall back between plain and TLS: a load test has to
/// know which of the two it measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    #[default]
    Disable,
    /// Encrypted; the certificate is not checked (as libpq's `require`).
    Require,
    /// The certificate chain is checked against the roots (`ca_file` or the Mozilla set),
    /// not its name.
    VerifyCa,
    /// The chain and that the certificate names the URL's host.
    VerifyFull,
}

impl SslMode {
    pub const NAMES: [&'static str; 4] = ["disable", "require", "verify-ca", "verify-full"];

    pub fn named(name: &str) -> Option<SslMode> {
        Some(match name {
            "disable" => SslMode::Disable,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The mode a postgres URL's path and query (`/app?sslmode=require`) gives, once
    /// `parse_url` has passed it; the database's name before it.
    pub fn split(path: &str) -> (&str, SslMode) {
        let (db, query) = path.split_once('?').unwrap_or((path, ""));
        let mode = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("sslmode="))
            .filter_map(SslMode::named)
            .next_back()
            .unwrap_or_default();
        (db, mode)
    }
}

#[cfg(test)]
mod tests {
    use super::SslMode;

    #[test]
    fn the_query_gives_the_mode_and_the_path_the_database() {
        assert_eq!(SslMode::split("/app"), ("/app", SslMode::Disable));
        assert_eq!(
            SslMode::split("/app?sslmode=verify-ca"),
            ("/app", SslMode::VerifyCa)
        );
        assert_eq!(SslMode::split("?sslmode=require"), ("", SslMode::Require));
        assert_eq!(
            SslMode::split("/a?sslmode=require&sslmode=verify-full"),
            ("/a", SslMode::VerifyFull),
            "the last one wins, as in libpq"
        );
    }
}
