//! `--web.config.file`: TLS and basic auth for the daemon's own endpoints, read from the
//! exporter-toolkit `web-config.yml` format that Prometheus and its exporters use, so operators
//! reuse their files (and `promtool check web-config` checks them). Owns parsing, validation
//! (every problem at once, each naming the file and key) and building the rustls server
//! config; the server applies it, `basic_auth` checks passwords. Read once at start: a reload
//! does not re-read it.
//!
//! Differences from exporter-toolkit, each refused or warned about rather than silently
//! changed: rustls speaks TLS 1.2 and 1.3 only; `cipher_suites`, `curve_preferences`,
//! `prefer_server_cipher_suites` and `http_server_config` are ignored with a warning;
//! `client_allowed_sans` and the client auth types that skip verification are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Format, Yaml};
use figment::Figment;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::config::{ConfigError, ConfigErrors};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<IgnoredAny>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<IgnoredAny>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<IgnoredAny>,
    curve_preferences: Option<IgnoredAny>,
    prefer_server_cipher_suites: Option<IgnoredAny>,
}

/// A loaded, valid web config.
pub struct WebConfig {
    pub path: PathBuf,
    /// None: plain HTTP (a file with only `basic_auth_users`, as exporter-toolkit allows).
    pub tls: Option<Arc<ServerConfig>>,
    /// User name -> bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Settings that were ignored, and risky combinations, to log at start.
    pub warnings: Vec<String>,
    /// One line for the log: what is enforced.
    pub summary: String,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("summary", &self.summary)
            .finish()
    }
}

/// `tls_server_config.min_version`/`max_version` values, as exporter-toolkit spells them.
const VERSIONS: [&str; 4] = ["TLS10", "TLS11", "TLS12", "TLS13"];

/// `client_auth_type` values loadtide honours.
const CLIENT_AUTH: [&str; 3] = [
    "NoClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

/// Collects the problems of one file.
struct Problems<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            key: key.to_string(),
            message: message.into(),
        });
    }
}

/// Reads and validates the web config at `path`. Relative paths in it are relative to the
/// file's directory, as in exporter-toolkit.
pub fn load(path: &Path) -> Result<WebConfig, ConfigErrors> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors::one(&file, "", format!("cannot read web config file: {e}")))?;
    // An empty file (or one of comments only) is valid: no TLS, no auth.
    let raw: RawWebConfig = if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        RawWebConfig::default()
    } else {
        Figment::from(Yaml::string(&text))
            .extract()
            .map_err(|e| crate::config::figment_errors(&file, e))?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut p = Problems {
        file: &file,
        errors: Vec::new(),
    };
    let mut warnings = Vec::new();
    if raw.http_server_config.is_some() {
        warnings.push(format!(
            "{file}: `http_server_config` is ignored (loadtide serves HTTP/1.1 and sets no extra headers)"
        ));
    }
    let tls = raw
        .tls_server_config
        .as_ref()
        .and_then(|t| tls_config(t, dir, &mut p, &mut warnings));
    check_users(&raw.basic_auth_users, &mut p);
    if !p.errors.is_empty() {
        return Err(ConfigErrors(p.errors));
    }
    if tls.is_none() && !raw.basic_auth_users.is_empty() {
        warnings.push(format!(
            "{file}: basic auth without TLS (no `tls_server_config`): passwords cross the network in clear text"
        ));
    }
    let summary = match (&tls, raw.basic_auth_users.len()) {
        (Some(_), 0) => "TLS".to_string(),
        (Some(_), n) => format!("TLS and basic auth ({n} user(s))"),
        (None, 0) => "plain HTTP, no authentication".to_string(),
        (None, n) => format!("plain HTTP with basic auth ({n} user(s))"),
    };
    Ok(WebConfig {
        path: path.to_path_buf(),
        tls,
        users: raw.basic_auth_users,
        warnings,
        summary,
    })
}

fn check_users(users: &BTreeMap<String, String>, p: &mut Problems) {
    for (user, hash) in users {
        let key = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            p.add(&key, "a user name must be non-empty and contain no ':'");
        }
        if hash.parse::<bcrypt::HashParts>().is_err() {
            p.add(
                &key,
                "not a bcrypt hash (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')",
            );
        }
    }
}

/// The rustls server config, or None when no certificate is configured or on errors (added
/// to `p`).
fn tls_config(
    t: &RawTls,
    dir: &Path,
    p: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<Arc<ServerConfig>> {
    let key = |k: &str| format!("tls_server_config.{k}");
    unsupported_keys(t, p, warnings);
    let versions = protocol_versions(t, p);
    let client_auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let (verify_clients, roots) = client_verification(t, client_auth, dir, p);
    let (cert_file, key_file) = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => (dir.join(c), dir.join(k)),
        (c, k) => {
            let missing = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
            let anything_else = t.client_auth_type.is_some()
                || t.client_ca_file.is_some()
                || t.min_version.is_some()
                || t.max_version.is_some();
            // exporter-toolkit serves plain HTTP without a certificate; a section that asks
            // for TLS settings but cannot get TLS is a mistake worth stopping for.
            if missing(c) && missing(k) && !anything_else {
                return None;
            }
            for (name, v) in [("cert_file", c), ("key_file", k)] {
                if missing(v) {
                    p.add(
                        &key(name),
                        "missing: cert_file and key_file are both needed for TLS",
                    );
                }
            }
            return None;
        }
    };
    let certs = read_certs(&cert_file, &key("cert_file"), p);
    let private_key = match PrivateKeyDer::from_pem_file(&key_file) {
        Ok(k) => Some(k),
        Err(e) => {
            p.add(
                &key("key_file"),
                format!(
                    "cannot read a private key from {}: {}",
                    key_file.display(),
                    pem_error(e)
                ),
            );
            None
        }
    };
    let (certs, private_key, versions) = (certs?, private_key?, versions?);
    if verify_clients && roots.is_none() {
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .expect("ring supports TLS 1.2 and 1.3");
    let builder = match roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if client_auth == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            match verifier.build() {
                Ok(v) => builder.with_client_cert_verifier(v),
                Err(e) => {
                    p.add(&key("client_ca_file"), format!("unusable: {e}"));
                    return None;
                }
            }
        }
        None => builder.with_no_client_auth(),
    };
    match builder.with_single_cert(certs, private_key) {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(Arc::new(config))
        }
        Err(e) => {
            p.add(
                &key("key_file"),
                format!(
                    "cannot be used with the certificate in {}: {e}",
                    cert_file.display()
                ),
            );
            None
        }
    }
}

/// Keys of exporter-toolkit's web config that rustls cannot honour: a warning where
/// ignoring them is safe, an error where it would weaken what the user asked for.
fn unsupported_keys(t: &RawTls, p: &mut Problems, warnings: &mut Vec<String>) {
    let key = |k: &str| format!("tls_server_config.{k}");
    for (name, set) in [
        ("cipher_suites", t.cipher_suites.is_some()),
        ("curve_preferences", t.curve_preferences.is_some()),
        (
            "prefer_server_cipher_suites",
            t.prefer_server_cipher_suites.is_some(),
        ),
    ] {
        if set {
            warnings.push(format!(
                "{}: `{}` is ignored (rustls offers only its own modern suites and groups)",
                p.file,
                key(name)
            ));
        }
    }
    if t.client_allowed_sans.is_some() {
        p.add(
            &key("client_allowed_sans"),
            "not supported by loadtide: remove it, or put a proxy that checks client certificate SANs in front",
        );
    }
}

/// Whether client certificates are verified (`client_auth_type`), and against which CAs.
fn client_verification(
    t: &RawTls,
    client_auth: &str,
    dir: &Path,
    p: &mut Problems,
) -> (bool, Option<RootCertStore>) {
    let key = |k: &str| format!("tls_server_config.{k}");
    let verify_clients = match client_auth {
        "NoClientCert" | "" => false,
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => true,
        "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
            p.add(
                &key("client_auth_type"),
                format!(
                    "{client_auth:?} accepts unverified client certificates and is not supported \
                     (use one of: {})",
                    CLIENT_AUTH.join(", ")
                ),
            );
            false
        }
        other => {
            p.add(
                &key("client_auth_type"),
                format!("unknown {other:?} (known: {})", CLIENT_AUTH.join(", ")),
            );
            false
        }
    };
    let roots = match (&t.client_ca_file, verify_clients) {
        (Some(_), false) if client_auth == "NoClientCert" || client_auth.is_empty() => {
            p.add(
                &key("client_ca_file"),
                "set, but client_auth_type is NoClientCert: set client_auth_type to VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            );
            None
        }
        (None, true) => {
            p.add(
                &key("client_ca_file"),
                format!("required by client_auth_type {client_auth:?}"),
            );
            None
        }
        (Some(ca), true) => client_roots(&dir.join(ca), &key("client_ca_file"), p),
        _ => None,
    };
    (verify_clients, roots)
}

fn protocol_versions(
    t: &RawTls,
    p: &mut Problems,
) -> Option<Vec<&'static SupportedProtocolVersion>> {
    let mut parse = |name: &str, v: &Option<String>, default: usize| match v.as_deref() {
        None | Some("") => Some(default),
        Some(v) => match VERSIONS.iter().position(|k| *k == v) {
            Some(i) => Some(i),
            None => {
                p.add(
                    &format!("tls_server_config.{name}"),
                    format!("unknown TLS version {v:?} (known: {})", VERSIONS.join(", ")),
                );
                None
            }
        },
    };
    // exporter-toolkit's default minimum is TLS 1.2; rustls cannot go lower anyway.
    let min = parse("min_version", &t.min_version, 2);
    let max = parse("max_version", &t.max_version, 3);
    let (min, max) = (min?, max?);
    if min > max {
        p.add(
            "tls_server_config.max_version",
            format!("{} is below min_version {}", VERSIONS[max], VERSIONS[min]),
        );
        return None;
    }
    if max < 2 {
        p.add(
            "tls_server_config.max_version",
            format!("{}: loadtide speaks TLS 1.2 and 1.3 only", VERSIONS[max]),
        );
        return None;
    }
    let mut versions = Vec::new();
    if min <= 2 {
        versions.push(&rustls::version::TLS12);
    }
    if max == 3 {
        versions.push(&rustls::version::TLS13);
    }
    Some(versions)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM block of that kind in the file".into()
        }
        other => format!("{other:?}"),
    }
}

fn read_certs(path: &Path, key: &str, p: &mut Problems) -> Option<Vec<CertificateDer<'static>>> {
    let certs =
        CertificateDer::pem_file_iter(path).and_then(|it| it.collect::<Result<Vec<_>, _>>());
    match certs {
        Ok(c) if !c.is_empty() => Some(c),
        Ok(_) => {
            p.add(
                key,
                format!(
                    "no certificate (PEM \"CERTIFICATE\" block) in {}",
                    path.display()
                ),
            );
            None
        }
        Err(e) => {
            p.add(
                key,
                format!(
                    "cannot read certificates from {}: {}",
                    path.display(),
                    pem_error(e)
                ),
            );
            None
        }
    }
}

fn client_roots(path: &Path, key: &str, p: &mut Problems) -> Option<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, key, p)? {
        if let Err(e) = roots.add(cert) {
            p.add(
                key,
                format!("bad CA certificate in {}: {e}", path.display()),
            );
            return None;
        }
    }
    Some(roots)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn self_signed(dir: &Path) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        write(dir, "cert.pem", &cert.cert.pem());
        write(dir, "key.pem", &cert.signing_key.serialize_pem());
    }

    fn errors(dir: &Path, yaml: &str) -> Vec<String> {
        let path = write(dir, "web.yml", yaml);
        let file = path.display().to_string();
        load(&path)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.to_string().replace(&file, "web.yml"))
            .collect()
    }

    #[test]
    fn loads_tls_and_users_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path());
        let hash = bcrypt::hash("secret", 4).unwrap();
        let path = write(
            dir.path(),
            "web.yml",
            &format!(
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n\
                 http_server_config:\n  http2: false\nbasic_auth_users:\n  alice: {hash}\n"
            ),
        );
        let w = load(&path).unwrap();
        assert!(w.tls.is_some());
        assert_eq!(w.users.len(), 1);
        assert_eq!(w.summary, "TLS and basic auth (1 user(s))");
        assert_eq!(w.warnings.len(), 1, "{:?}", w.warnings);
        assert!(w.warnings[0].contains("http_server_config"));
        assert!(!format!("{w:?}").contains(&hash), "Debug shows no hash");
    }

    #[test]
    fn empty_file_and_users_only_serve_plain_http() {
        let dir = tempfile::tempdir().unwrap();
        let w = load(&write(dir.path(), "web.yml", "# nothing\n")).unwrap();
        assert!(w.tls.is_none() && w.users.is_empty());
        let hash = bcrypt::hash("pw", 4).unwrap();
        let w = load(&write(
            dir.path(),
            "web.yml",
            &format!("basic_auth_users:\n  bob: '{hash}'\n"),
        ))
        .unwrap();
        assert!(w.tls.is_none());
        assert!(w.warnings[0].contains("clear text"), "{:?}", w.warnings);
    }

    #[test]
    fn every_problem_names_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = errors(
            dir.path(),
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n  min_version: TLS14\n  \
             client_auth_type: RequireAnyClientCert\nbasic_auth_users:\n  alice: plaintext\n",
        );
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(
            e[0].starts_with(
                "web.yml: `tls_server_config.min_version`: unknown TLS version \"TLS14\""
            ),
            "{e:#?}"
        );
        assert!(
            e[1].starts_with(
                "web.yml: `tls_server_config.client_auth_type`: \"RequireAnyClientCert\""
            ),
            "{e:#?}"
        );
        assert!(
            e[2].starts_with(
                "web.yml: `tls_server_config.cert_file`: cannot read certificates from"
            ),
            "{e:#?}"
        );
        assert!(e[2].contains("nope.pem"), "{e:#?}");
        assert!(
            e[3].starts_with("web.yml: `tls_server_config.key_file`: cannot read a private key"),
            "{e:#?}"
        );
        assert!(
            e[4].starts_with("web.yml: `basic_auth_users.alice`: not a bcrypt hash"),
            "{e:#?}"
        );

        let e = errors(
            dir.path(),
            "tls_server_config:\n  cert_file: c.pem\n  min_version: TLS12\n",
        );
        assert_eq!(
            e,
            ["web.yml: `tls_server_config.key_file`: missing: cert_file and key_file are both needed for TLS"]
        );
        let e = errors(dir.path(), "tls_server_config:\n  cert_fil: c.pem\n");
        assert!(
            e[0].contains("`tls_server_config.cert_fil`: unknown key \"cert_fil\"; did you mean \"cert_file\"?"),
            "{e:#?}"
        );
        let e = errors(dir.path(), "basic_auth_users: [alice]\n");
        assert!(e[0].contains("`basic_auth_users`: invalid type"), "{e:#?}");
    }

    #[test]
    fn mismatched_key_and_version_order_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        self_signed(dir.path());
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        write(dir.path(), "other.key", &other.signing_key.serialize_pem());
        let e = errors(
            dir.path(),
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: other.key\n",
        );
        assert!(
            e[0].starts_with(
                "web.yml: `tls_server_config.key_file`: cannot be used with the certificate"
            ),
            "{e:#?}"
        );
        let e = errors(
            dir.path(),
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n  max_version: TLS12\n",
        );
        assert_eq!(
            e,
            ["web.yml: `tls_server_config.max_version`: TLS12 is below min_version TLS13"]
        );
        let e = errors(
            dir.path(),
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n",
        );
        assert_eq!(e, ["web.yml: `tls_server_config.client_ca_file`: required by client_auth_type \"RequireAndVerifyClientCert\""]);
    }
}
