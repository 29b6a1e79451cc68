//! `loadtide healthcheck`: GETs the daemon's `/-/healthy` (the container HEALTHCHECK).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::EXIT_USAGE;

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The URL to GET (http:// or https://).
    #[arg(long, env = "LOADTIDE_HEALTHCHECK_URL", default_value = crate::healthcheck::DEFAULT_URL)]
    pub url: String,
    /// Give up after this long (connecting and answering together).
    #[arg(long, default_value = "2s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// HTTPS: accept any certificate (e.g. the daemon's self-signed one, over loopback).
    #[arg(long, short = 'k', env = "LOADTIDE_HEALTHCHECK_INSECURE")]
    pub insecure: bool,
    /// Basic auth user (the daemon's web config has basic_auth_users).
    #[arg(long, env = "LOADTIDE_HEALTHCHECK_USER", requires = "password_file")]
    pub user: Option<String>,
    /// File holding the basic auth password (surrounding whitespace is trimmed).
    #[arg(
        long,
        env = "LOADTIDE_HEALTHCHECK_PASSWORD_FILE",
        value_name = "PATH",
        requires = "user"
    )]
    pub password_file: Option<PathBuf>,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "invalid timeout {s:?}: a duration > 0, e.g. 2s or 500ms"
        )),
    }
}

/// 0 when the URL answers 2xx, 1 when it does not (or not in time), 2 for a bad URL or an
/// unreadable password file.
pub(super) async fn healthcheck(args: HealthcheckArgs) -> u8 {
    let url = args.url.as_str();
    let password = match &args.password_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(p) => Some(p.trim().to_string()),
            Err(e) => {
                eprintln!(
                    "error: --password-file: cannot read {}: {e}",
                    path.display()
                );
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let result = match crate::healthcheck::Probe::parse(url) {
        Ok(probe) => {
            let probe = probe.insecure(args.insecure);
            let probe = match (&args.user, &password) {
                (Some(user), Some(password)) => probe.basic_auth(user, password),
                _ => probe,
            };
            probe.check(args.timeout).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(status) => {
            println!("{url}: HTTP {status}");
            0
        }
        Err(e) if e.is_usage() => {
            eprintln!("error: --url: {e}");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            1
        }
    }
}
