//! `loadtide import`: turns what a user already has — a curl command line (`curl.rs`), a
//! browser's HAR recording (`har.rs`), an OpenAPI 3 description (`openapi.rs`) — into a
//! commented loadtide config. Each importer builds a `Draft` (targets, endpoints, scenarios,
//! profiles, and notes for the user); `render.rs` writes it as TOML in `loadtide init`'s
//! style, and `check` validates the text with the config loader's own rules. It reads only
//! the input it is given and sends nothing; the CLI (`cli/import.rs`) prints or writes the
//! text and picks the exit code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{self, ConfigErrors, RawConfig, Scheme};

pub mod curl;
pub mod har;
pub mod openapi;
mod render;
mod shell;

pub use render::render;

/// Why an input could not be imported: the input (a file, or "command line") and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input}: {message}")]
pub struct ImportError {
    pub input: String,
    pub message: String,
}

impl ImportError {
    pub fn new(input: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError {
            input: input.into(),
            message: message.into(),
        }
    }
}

/// What an importer found, before it is written as TOML.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Draft {
    /// The opening comment's first line: what this was imported from.
    pub source: String,
    pub targets: Vec<TargetDraft>,
    pub scenarios: Vec<ScenarioDraft>,
    pub profiles: Vec<ProfileDraft>,
    /// Said to the user on stderr (what was dropped, guessed or left out), not written.
    pub notes: Vec<String>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TargetDraft {
    pub name: String,
    /// Scheme, host, port and base path (no query).
    pub url: String,
    /// The host, as `safety.allowed_hosts` names it.
    pub host: String,
    pub timeout: Option<String>,
    pub http2: bool,
    pub insecure: bool,
    /// Comment lines written in the target's table (e.g. where credentials would go).
    pub comments: Vec<String>,
    pub endpoints: Vec<RequestDraft>,
}

/// One request: an endpoint of a target, or a request step of a scenario.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RequestDraft {
    pub name: String,
    pub method: String,
    /// Path and query, below the target's base path.
    pub path: String,
    /// Lower-case names, in the order they were found.
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub weight: Option<u64>,
    /// Comment lines written above the request's table.
    pub comments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    /// Read by loadtide at load (an absolute path, so the config works from anywhere).
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepDraft {
    Request(RequestDraft),
    Think(Duration),
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScenarioDraft {
    pub name: String,
    pub target: String,
    pub steps: Vec<StepDraft>,
    /// HTTP basic auth: the user name and the environment variable holding the password
    /// (never the password itself: a config is shared, printed and committed).
    pub basic_auth: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Open model: arrivals per second.
    Rate(f64),
    /// Closed model: users looping the scenario.
    Users(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileDraft {
    pub name: String,
    /// Runs the target's endpoints, or (when `scenario` is set) that scenario.
    pub target: Option<String>,
    pub scenario: Option<String>,
    pub load: Load,
}

/// `text` (as `render` wrote it) checked by the config loader's own rules, with relative
/// `body_file`s resolved against `base_dir`: what `loadtide check` would say of it, less
/// the `LOADTIDE_*` overrides of the environment.
pub fn check(text: &str, file: &str, base_dir: Option<&Path>) -> Result<(), ConfigErrors> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigErrors::one(file, "", e.to_string()))?;
    config::validate(&raw, file, base_dir).map(|_| ())
}

/// `s` as a config name (letters, digits, '_'; at most 64), or `fallback` when nothing is left.
pub fn slug(s: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    out.truncate(56);
    let out = out.trim_end_matches('_');
    if out.is_empty() {
        fallback.to_string()
    } else {
        out.to_string()
    }
}

/// Hands out names once each: `base`, then `base_2`, `base_3`, …
#[derive(Debug, Default)]
pub struct Names(BTreeSet<String>);

impl Names {
    pub fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while self.0.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.0.insert(name.clone());
        name
    }
}

/// An HTTP(S) URL split into its origin (`scheme://authority`), host and path with query
/// (fragment dropped; "/" when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub origin: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_http_url(u: &str) -> Result<Url, String> {
    let u = u.split('#').next().unwrap_or(u);
    let (scheme, host, port, _) = config::parse_url(u)?;
    if !matches!(scheme, Scheme::Http | Scheme::Https) {
        return Err(format!(
            "{} URLs are not imported (HTTP and HTTPS only)",
            scheme.protocol()
        ));
    }
    let uri: http::Uri = u
        .parse()
        .map_err(|_| format!("invalid URL {:?}", crate::redact::url(u)))?;
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    );
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let path = if path.is_empty() { "/" } else { path };
    Ok(Url {
        origin,
        host,
        port,
        path: path.to_string(),
    })
}

/// A target name for `url`'s host ("api.example.com" -> "api_example_com"), with its port
/// when another origin already took the name.
pub fn target_name(names: &mut Names, url: &Url) -> String {
    let base = slug(&url.host, "service");
    if names.0.contains(&base) {
        return names.unique(&format!("{base}_{}", url.port));
    }
    names.unique(&base)
}

/// A name for a request: its method and path without the query ("post_api_login").
pub fn request_name(names: &mut Names, method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let base = slug(&format!("{method} {path}"), "request");
    let base = if base == slug(method, "request") {
        format!("{base}_root")
    } else {
        base
    };
    names.unique(&base)
}

/// Form (and path segment) encoding as curl's --data-urlencode does it: unreserved characters kept, everything else `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The profile every import ends with: a short test, so `loadtide run --profile NAME` ends.
pub const DURATION: &str = "1m";
/// The thresholds each profile starts with, as `loadtide init` writes them.
pub const THRESHOLDS: &[&str] = &["p95<500ms", "error_rate<1%"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_config_names_and_unique() {
        assert_eq!(slug("api.example.com", "x"), "api_example_com");
        assert_eq!(slug("--", "x"), "x");
        assert!(slug(&"a".repeat(100), "x").len() <= 64);
        let mut n = Names::default();
        assert_eq!(request_name(&mut n, "GET", "/"), "get_root");
        assert_eq!(
            request_name(&mut n, "GET", "/api/items?x=1"),
            "get_api_items"
        );
        assert_eq!(request_name(&mut n, "GET", "/api/items"), "get_api_items_2");
        let mut t = Names::default();
        let a = parse_http_url("http://127.0.0.1:8080/x").expect("url");
        let b = parse_http_url("http://127.0.0.1:9090/y#frag").expect("url");
        assert_eq!(target_name(&mut t, &a), "127_0_0_1");
        assert_eq!(target_name(&mut t, &b), "127_0_0_1_9090");
        assert_eq!(b.path, "/y");
        assert_eq!(b.origin, "http://127.0.0.1:9090");
    }

    #[test]
    fn only_http_urls_are_imported() {
        assert!(parse_http_url("ws://127.0.0.1:1/").is_err());
        assert!(parse_http_url("example.com/x").is_err());
        let u = parse_http_url("https://example.com").expect("url");
        assert_eq!((u.path.as_str(), u.port), ("/", 443));
    }
}
