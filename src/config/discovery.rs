//! `file_sd`: where a target's connections go, from files in Prometheus's file_sd format
//! (JSON or YAML: a list of `{"targets": ["host:port", …], "labels": {…}}` groups). The
//! target's URL still names the service (scheme, Host and `:authority`, TLS server name);
//! the files list the instances behind it, as a load balancer would. The engine re-reads
//! the files while it runs (`engine/discovery.rs`); this module reads and checks them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::safety::Allowlist;

/// Prometheus's default for file_sd's `refresh_interval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// More instances than this in one target is a mistake, not a fleet.
pub const MAX_INSTANCES: usize = 10_000;

/// A target's validated `file_sd`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSd {
    /// Absolute, or relative to the config's directory, as resolved at load.
    pub files: Vec<PathBuf>,
    /// The files are re-read this often even when they look unchanged.
    pub refresh_interval: Duration,
    /// `safety.allowed_hosts`: every instance must pass it, at load and on every re-read.
    pub allow: Option<Allowlist>,
    /// The instances the files listed when the config was loaded.
    pub initial: Vec<Instance>,
}

/// One `host:port` a target's connections may go to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instance {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    targets: Vec<String>,
    /// Accepted for compatibility with Prometheus's files; loadtide's series carry the
    /// target's name, not per-instance labels (their number would follow the fleet's).
    #[serde(default)]
    #[allow(dead_code)]
    labels: std::collections::BTreeMap<String, String>,
}

impl FileSd {
    /// Every instance the files list now, in file order without repeats; the error names
    /// the file and what is wrong with it.
    pub fn read(&self, default_port: u16) -> Result<Vec<Instance>, String> {
        let mut out: Vec<Instance> = Vec::new();
        for file in &self.files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            for i in parse(file, &text, default_port)? {
                if let Some(allow) = self.allow.as_ref().filter(|a| !a.allows_host(&i.host)) {
                    return Err(format!(
                        "{}: instance {i} is not in safety.allowed_hosts ({allow})",
                        file.display()
                    ));
                }
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        if out.len() > MAX_INSTANCES {
            return Err(format!(
                "{} instances, more than the {MAX_INSTANCES} a target may have",
                out.len()
            ));
        }
        Ok(out)
    }
}

/// The instances of one file's text: JSON when the name ends in `.json`, else YAML.
pub fn parse(path: &Path, text: &str, default_port: u16) -> Result<Vec<Instance>, String> {
    let json = path.extension().is_some_and(|e| e == "json");
    let groups: Vec<Group> = if json {
        serde_json::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    groups
        .iter()
        .flat_map(|g| &g.targets)
        .map(|t| instance(t, default_port).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

/// `host:port`, `host` (the URL's port), `[v6]:port` or a bare IPv6 address.
fn instance(s: &str, default_port: u16) -> Result<Instance, String> {
    let bad = |why: &str| format!("invalid instance {s:?}: {why}");
    let s = s.trim();
    if s.is_empty() || s.contains('/') || s.contains(char::is_whitespace) {
        return Err(bad("want host:port, without a scheme or path"));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("junk after ]")),
        }
    } else if s.matches(':').count() > 1 {
        (s, None)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad("the port must be 1-65535")),
        },
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Instance {
        host: host.to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn i(host: &str, port: u16) -> Instance {
        Instance {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn json_and_yaml_groups_list_their_instances() {
        let json = r#"[{"targets": ["127.0.0.1:8081", "localhost"], "labels": {"env": "x"}},
                       {"targets": ["[::1]:9000"]}]"#;
        assert_eq!(
            parse(Path::new("a.json"), json, 80),
            Ok(vec![
                i("127.0.0.1", 8081),
                i("localhost", 80),
                i("::1", 9000)
            ])
        );
        let yaml = "- targets: ['127.0.0.2:81']\n  labels: {a: b}\n- targets: ['::1']\n";
        assert_eq!(
            parse(Path::new("a.yml"), yaml, 443),
            Ok(vec![i("127.0.0.2", 81), i("::1", 443)])
        );
        assert_eq!(parse(Path::new("a.json"), "[]", 80), Ok(vec![]));
    }

    #[test]
    fn bad_files_and_entries_are_named() {
        let e = parse(Path::new("sd.json"), r#"{"targets": []}"#, 80).unwrap_err();
        assert!(e.starts_with("sd.json: invalid type: map"), "{e}");
        let e = parse(Path::new("sd.json"), r#"[{"target": ["a"]}]"#, 80).unwrap_err();
        assert!(e.contains("unknown field `target`"), "{e}");
        for (entry, why) in [
            ("http://a:1", "without a scheme"),
            ("a:0", "1-65535"),
            ("a:x", "1-65535"),
            (":80", "no host"),
            ("[::1", "unclosed"),
        ] {
            let e = parse(Path::new("sd.yml"), &format!("- targets: [{entry:?}]"), 80).unwrap_err();
            assert!(e.contains(why) && e.contains(entry), "{entry}: {e}");
        }
    }

    #[test]
    fn reading_joins_the_files_and_applies_the_allowlist() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, r#"[{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]"#).unwrap();
        std::fs::write(&b, "- targets: ['127.0.0.1:2', '127.0.0.1:3']\n").unwrap();
        let mut sd = FileSd {
            files: vec![a, b.clone()],
            refresh_interval: DEFAULT_REFRESH,
            allow: Some(Allowlist::parse(&["127.0.0.0/8"]).unwrap()),
            initial: vec![],
        };
        let ports: Vec<u16> = sd.read(80).unwrap().iter().map(|i| i.port).collect();
        assert_eq!(ports, [1, 2, 3], "in order, without repeats");
        std::fs::write(&b, "- targets: ['10.0.0.1:80']\n").unwrap();
        let e = sd.read(80).unwrap_err();
        assert!(
            e.contains("10.0.0.1:80 is not in safety.allowed_hosts"),
            "{e}"
        );
        sd.files.push(dir.path().join("missing.json"));
        sd.allow = None;
        let e = sd.read(80).unwrap_err();
        assert!(
            e.contains("cannot read") && e.contains("missing.json"),
            "{e}"
        );
    }
}
