//! The Prometheus text exposition, parsed: samples with their labels, `# TYPE` and `# HELP`
//! lines. One parser for every test that reads `/metrics`.

// A malformed exposition should fail the test at the line that shows it.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

/// One sample line: `name{labels} value`.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` text.
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
    /// Family name -> type, from `# TYPE`.
    pub types: BTreeMap<String, String>,
    /// Families with a `# HELP` line.
    pub helps: BTreeSet<String>,
}

/// Parses one sample line; label values unescaped (`\\n`, `\\"`, `\\\\`).
fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            let (start, c) = chars.next().unwrap();
            if c == '}' {
                rest = &inner[start + 1..];
                break;
            }
            if c == ',' {
                continue;
            }
            let eq = inner[start..].find('=').unwrap() + start;
            let key = inner[start..eq].to_string();
            while chars.peek().unwrap().0 <= eq {
                chars.next();
            }
            assert_eq!(chars.next().unwrap().1, '"', "label value unquoted: {line}");
            let mut value = String::new();
            loop {
                match chars.next().unwrap().1 {
                    '"' => break,
                    '\\' => match chars.next().unwrap().1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.insert(key, value);
        }
    }
    let value = rest.split_whitespace().next().unwrap();
    let value = value
        .parse()
        .unwrap_or_else(|_| panic!("bad value in {line:?}"));
    Sample {
        name,
        labels,
        value,
    }
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut samples = Vec::new();
        let mut types = BTreeMap::new();
        let mut helps = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("#"), Some("TYPE"), Some(name)) => {
                    types.insert(name.to_string(), words.next().unwrap().to_string());
                }
                (Some("#"), Some("HELP"), Some(name)) => {
                    helps.insert(name.to_string());
                }
                (Some("#"), _, _) => {}
                _ => samples.push(parse_sample(line)),
            }
        }
        Scrape {
            text: text.to_string(),
            samples,
            types,
            helps,
        }
    }

    pub fn series<'a>(
        &'a self,
        name: &'a str,
        filter: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && filter
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one series of `name` matching `filter`.
    pub fn value(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        let found: Vec<_> = self.series(name, filter).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one series {name}{filter:?}, found {found:?}"
        );
        found[0].value
    }

    /// The value of the one series of `name` with exactly these labels, if it is there.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// The sum over every series of `name` matching `filter` (0 if there is none).
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.series(name, filter).map(|s| s.value).sum()
    }

    /// Requests completed by `profile` (every endpoint), from the duration histogram.
    pub fn requests(&self, profile: &str) -> f64 {
        self.sum(
            "loadtide_request_duration_seconds_count",
            &[("profile", profile)],
        )
    }

    /// Label names used by family `family` (histogram `le` excluded).
    pub fn label_names(&self, family: &str) -> BTreeSet<String> {
        let names: BTreeSet<String> =
            if self.types.get(family).map(String::as_str) == Some("histogram") {
                [format!("{family}_count")].into()
            } else {
                [family.to_string()].into()
            };
        self.samples
            .iter()
            .filter(|s| names.contains(&s.name))
            .flat_map(|s| s.labels.keys().cloned())
            .collect()
    }
}

/// `profile` run once in process, its load bounded by the profile, against a registry of its
/// own, whose exposition is returned parsed.
pub async fn run_with_metrics(profile: std::sync::Arc<loadtide::config::Profile>) -> Scrape {
    let metrics = loadtide::metrics::Metrics::new();
    let recorder = loadtide::metrics::ProfileRecorder::new(&metrics, &profile, None);
    let spec = loadtide::oneshot::one_pass(&profile, loadtide::engine::Shard::WHOLE, 1.0);
    loadtide::engine::run_profile(
        profile,
        spec,
        recorder,
        tokio_util::sync::CancellationToken::new(),
        std::time::Duration::from_secs(3),
    )
    .await;
    Scrape::parse(&String::from_utf8(metrics.render()).unwrap())
}
