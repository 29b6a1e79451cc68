//! The small checks every part of config validation shares: the error collector (every
//! check runs even after an earlier one failed, so the user sees all problems in one go,
//! each with its key path), names, durations, headers and base URLs.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Uri};

use super::{ConfigError, Scheme};

pub(super) struct Collector<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<ConfigError>,
}

impl Collector<'_> {
    pub(super) fn err(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.into(),
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Duration {
        let Some(v) = value else { return default };
        match humantime::parse_duration(v.trim()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?}: must be greater than zero"),
                );
                default
            }
            Err(humantime::DurationError::NumberOverflow) => {
                self.err(key, format!("invalid duration {v:?}: too large"));
                default
            }
            Err(_) => {
                self.err(
                    key,
                    format!("invalid duration {v:?} (e.g. \"30s\", \"5m\", \"250ms\")"),
                );
                default
            }
        }
    }

    pub(super) fn headers(
        &mut self,
        key: &str,
        raw: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (name, value) in raw {
            let k = format!("{key}.{name}");
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(n), Ok(v)) => out.push((n, v)),
                (Err(_), _) => self.err(k, format!("invalid header name {name:?}")),
                // The key names the header; the value may be a credential, so it is not quoted.
                (_, Err(_)) => self.err(
                    k,
                    "invalid header value (not shown, it may be a secret): it contains a \
                     control character such as a newline",
                ),
            }
        }
        out
    }
}

pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The scheme a URL's `scheme://` names, if loadtide has it.
pub(super) fn scheme_named(s: &str) -> Option<Scheme> {
    Some(match s {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        "tcp" => Scheme::Tcp,
        "udp" => Scheme::Udp,
        "redis" => Scheme::Redis,
        "rediss" => Scheme::Rediss,
        "postgres" | "postgresql" => Scheme::Postgres,
        "grpc" => Scheme::Grpc,
        "grpcs" => Scheme::Grpcs,
        _ => return None,
    })
}

/// Splits a base URL into scheme, host, port and path prefix (without a trailing '/').
/// Errors quote the URL with credentials redacted; a URL with `user:pass@` is refused, since
/// they would not be sent (headers and scenario auth are the places for credentials).
pub fn parse_url(u: &str) -> Result<(Scheme, String, u16, String), String> {
    if u.trim().is_empty() {
        return Err(format!(
            "invalid URL {u:?}: empty (e.g. \"http://127.0.0.1:8080\")"
        ));
    }
    if !u.contains("://") {
        // Redacted as if it had the scheme it lacks, so `user:pass@host` is caught too.
        let shown = crate::redact::url(&format!("http://{u}"));
        let bare = &shown["http://".len()..];
        return Err(format!(
            "invalid URL {bare:?}: no scheme (e.g. \"{shown}\")"
        ));
    }
    let shown = crate::redact::url(u);
    let uri: Uri = u.parse().map_err(|_| {
        format!("invalid URL {shown:?}: not a URL (e.g. \"http://127.0.0.1:8080/base\")")
    })?;
    let scheme = match uri.scheme_str().map(|s| (s, scheme_named(s))) {
        Some((_, Some(scheme))) => scheme,
        Some((s, None)) => {
            return Err(format!(
                "invalid URL {shown:?}: unsupported scheme {s:?} (use http, https, ws, wss, tcp, \
                 udp, redis, rediss, postgres, grpc or grpcs)"
            ))
        }
        None => {
            return Err(format!(
                "invalid URL {shown:?}: no scheme (e.g. \"http://{shown}\")"
            ))
        }
    };
    if scheme == Scheme::Postgres && uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "invalid URL {shown:?}: credentials in a URL end up in logs; give the role in `user` \
             and the name of the environment variable holding the password in `password_env`"
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "invalid URL {shown:?}: credentials in a URL are not sent; give them in a header \
             (headers = {{ Authorization = \"Basic ...\" }}, or -H on the command line) or in \
             a scenario's auth"
        ));
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("invalid URL {shown:?}: no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    // `Uri` reads a port above 65535 as no port at all: the scheme's default would be used.
    let written_port = uri.authority().and_then(|a| {
        let after_host = a.as_str().rsplit(']').next().unwrap_or_default();
        after_host.rsplit_once(':').map(|(_, p)| p.to_string())
    });
    if let Some(p) = written_port.filter(|p| !p.is_empty()) {
        if !p.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "invalid URL {shown:?}: port {p} is out of range (1-65535)"
            ));
        }
    }
    let port = match (uri.port_u16(), scheme) {
        (Some(port), _) => port,
        (None, Scheme::Http | Scheme::Ws) => 80,
        (None, Scheme::Https | Scheme::Wss | Scheme::Grpcs) => 443,
        (None, Scheme::Redis | Scheme::Rediss) => 6379,
        (None, Scheme::Postgres) => 5432,
        (None, Scheme::Tcp | Scheme::Udp | Scheme::Grpc) => {
            return Err(format!(
                "invalid URL {shown:?}: a {} target needs a port (e.g. \"{}://127.0.0.1:9000\")",
                scheme.as_str(),
                scheme.as_str()
            ))
        }
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let db = path.trim_start_matches('/');
    if scheme.is_redis() && !(db.is_empty() || db.parse::<u16>().is_ok()) {
        return Err(format!(
            "invalid URL {shown:?}: a redis URL's path is its database number (redis://host:6379/0)"
        ));
    }
    if scheme == Scheme::Postgres {
        let (name, query) = db.split_once('?').unwrap_or((db, ""));
        if !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        {
            return Err(format!(
                "invalid URL {shown:?}: a postgres URL's path is the database's name \
                 (postgres://host:5432/app)"
            ));
        }
        postgres_query(&shown, query)?;
    }
    if (scheme.is_socket() || scheme.is_grpc()) && !path.trim_end_matches('/').is_empty() {
        return Err(format!(
            "invalid URL {shown:?}: a {} URL is host and port only",
            scheme.as_str()
        ));
    }
    Ok((scheme, host, port, path.trim_end_matches('/').to_string()))
}

/// A postgres URL's query: `sslmode` only, one of the modes loadtide runs.
fn postgres_query(shown: &str, query: &str) -> Result<(), String> {
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("sslmode", mode)) if super::SslMode::named(mode).is_some() => {}
            Some(("sslmode", "allow" | "prefer")) => {
                return Err(format!(
                    "invalid URL {shown:?}: sslmode={} falls back between plain and TLS, so a \
                     run would not say which it measured; use disable or require",
                    &kv["sslmode=".len()..]
                ))
            }
            Some(("sslmode", mode)) => {
                return Err(format!(
                    "invalid URL {shown:?}: unknown sslmode {mode:?} (use {})",
                    super::SslMode::NAMES.join(", ")
                ))
            }
            _ => {
                return Err(format!(
                    "invalid URL {shown:?}: {kv:?} in the query; a postgres URL's query takes \
                     only sslmode (the role is `user`, the password `password_env`)"
                ))
            }
        }
    }
    Ok(())
}
