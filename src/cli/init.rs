//! `loadtide init [--url URL]`: writes a commented starter config that `check` accepts as it
//! is — aimed at the URL's service (its host the only one allowed), or, without a URL, at the
//! built-in demo target — and never overwrites a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{print_config_errors, EXIT_USAGE};
use crate::config::{self, ConfigErrors, Scheme};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The service to load: its base URL and the path of its first endpoint (http or https).
    #[arg(long, short)]
    pub url: Option<String>,
    /// Where to write the config (refused if it exists).
    #[arg(long, short, default_value = "loadtide.toml")]
    pub config: PathBuf,
}

pub(super) fn init(args: &InitArgs) -> u8 {
    let text = match starter(args.url.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            print_config_errors(&e);
            return EXIT_USAGE;
        }
    };
    match write_new(&args.config, &text, "remove it or give --config NEW_PATH") {
        Ok(()) => {
            println!(
                "wrote {}; next: loadtide check --config {0}, then loadtide serve --config {0}",
                args.config.display()
            );
            0
        }
        Err(e) => {
            print_config_errors(&ConfigErrors::one(
                &args.config.display().to_string(),
                "",
                e,
            ));
            EXIT_USAGE
        }
    }
}

/// Creates `path` with `text`; an existing file is left alone and named in the error, which
/// ends with `hint` (what to do instead).
pub(super) fn write_new(path: &Path, text: &str, hint: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("already exists; not overwritten ({hint})")
            }
            _ => format!("cannot create it: {e}"),
        })?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write it: {e}"))
}

/// The starter config for `url` (None: the built-in demo target).
pub fn starter(url: Option<&str>) -> Result<String, ConfigErrors> {
    let Some(url) = url else {
        return Ok(fill(
            "127.0.0.1",
            "http://127.0.0.1:9633",
            "/api/items",
            DEMO_TARGET,
        ));
    };
    let bad = |m: String| ConfigErrors::one("command line", "--url", m);
    let (scheme, host, _, path) = config::parse_url(url).map_err(bad)?;
    if !matches!(scheme, Scheme::Http | Scheme::Https) {
        return Err(bad(format!(
            "init writes an HTTP starter; for {} targets see config/examples/",
            scheme.protocol()
        )));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad("invalid URL".into()))?;
    let base = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    );
    // parse_url's path prefix keeps the query and drops a trailing '/'.
    let path = if path.is_empty() { "/" } else { &path };
    Ok(fill(&host, &base, path, ""))
}

fn fill(host: &str, base: &str, path: &str, demo: &str) -> String {
    TEMPLATE
        .replace("{host}", &toml_str(host))
        .replace("{url}", &toml_str(base))
        .replace("{path}", &toml_str(path))
        .replace("{demo}\n", demo)
}

/// `s` as a TOML string, quoted and escaped by the TOML crate figment reads the config with.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

const DEMO_TARGET: &str = "\
# The built-in demo target, so this config runs with nothing else: remove this table and
# point `url` at your service.
[demo_target]
listen = \"127.0.0.1:9633\"

";

const TEMPLATE: &str = r#"# A loadtide starter config, written by `loadtide init`. Check it with
# `loadtide check --config FILE`, run it once with `loadtide run --config FILE --profile steady`
# or around the clock with `loadtide serve --config FILE` (metrics on 127.0.0.1:9632/metrics).
# Every key is in the manual's config reference: docs/src/config.md.

[server]
listen = "127.0.0.1:9632"   # ":9632" to let a Prometheus on another host scrape

# Guard rails: targets may only point at these hosts, and the caps hold across all profiles.
[safety]
allowed_hosts = [{host}]
max_rate = 50               # arrivals per second, all profiles together
max_in_flight = 100

{demo}
[targets.service]
url = {url}
timeout = "5s"
# headers = { "authorization" = "Bearer ..." }
# Latency buckets in seconds: put one at each SLO threshold you alert on.
buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

[[targets.service.endpoints]]
name = "first"
method = "GET"
path = {path}
expect_status = [200]
# body_contains = "ok"

# Open model: 5 arrivals per second whatever the target's speed (latency counts from the
# intended start, so a slow target shows). `run` checks the thresholds and exits 1 on a miss.
[profiles.steady]
target = "service"
rate = 5
thresholds = ["p95<500ms", "error_rate<1%"]
# schedule = { cron = "0 9 * * MON-FRI", for = "8h", timezone = "UTC" }

# Closed model: two users, each pausing 1-3 s between requests.
# [profiles.users]
# target = "service"
# users = 2
# think = ["1s", "3s"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starters_load_and_allow_only_their_host() {
        for (url, host) in [
            (None, "127.0.0.1"),
            (
                Some("https://api.example.com:8443/v1/items?limit=5"),
                "api.example.com",
            ),
            (Some("http://[::1]:8080/"), "::1"),
        ] {
            let text = starter(url).expect("a starter");
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("loadtide.toml");
            std::fs::write(&path, &text).expect("written");
            let c = config::load(&path).unwrap_or_else(|e| panic!("{url:?}:\n{e}\n{text}"));
            assert_eq!(c.profiles.len(), 1);
            assert_eq!(c.targets[0].endpoints.len(), 1);
            assert!(
                text.contains(&format!("allowed_hosts = [\"{host}\"]")),
                "{text}"
            );
            assert_eq!(c.demo_target.is_some(), url.is_none());
        }
        let text = starter(Some("https://api.example.com:8443/v1/items?limit=5")).expect("ok");
        assert!(
            text.contains(r#"url = "https://api.example.com:8443""#),
            "{text}"
        );
        assert!(text.contains(r#"path = "/v1/items?limit=5""#), "{text}");
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_by_name() {
        let e = starter(Some("redis://127.0.0.1:6379")).expect_err("refused");
        assert!(e.to_string().contains("for redis targets"), "{e}");
        let e = starter(Some("example.com")).expect_err("refused");
        assert!(e.to_string().contains("no scheme"), "{e}");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("loadtide.toml");
        std::fs::write(&path, "mine").expect("written");
        let e = write_new(&path, "theirs", "remove it").expect_err("refused");
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "mine");
    }
}
