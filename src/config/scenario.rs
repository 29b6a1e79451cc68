//! Validation of `[scenarios.NAME]` into a runnable `Scenario`: templates compiled, every
//! variable a step uses checked against what earlier steps extract (and feeder columns
//! against the files), secrets read from the environment or files, and a per-scenario copy
//! of the target whose endpoints are the request steps (so each step has its own series).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};

use super::checks::{valid_name, Collector};
use super::feeders::{self, bad_var, check_vars, valid_var};
use super::raw::{RawConfig, RawExtract, RawScenario, RawStep};
use super::{Endpoint, Target};
use crate::scenario::model::{
    Auth, OnFailure, RequestStep, Scenario, Step, AUTH_BEARER, AUTH_PASSWORD, AUTH_USER,
    CAPTURE_LIMIT,
};
use crate::scenario::{Check, Extractor, Feeder, Templates, Think, Vars};

/// Loops nest at most this deep; a repeat runs at most this many times.
const MAX_DEPTH: usize = 4;
const MAX_REPEAT: u64 = 100_000;

/// Validates scenario `name`; returns it with the target copy its profiles run against.
pub(super) fn scenario(
    c: &mut Collector,
    name: &str,
    raw: &RawScenario,
    config: &RawConfig,
    targets: &[Arc<Target>],
    base_dir: Option<&Path>,
) -> Option<(Arc<Scenario>, Arc<Target>)> {
    let key = format!("scenarios.{name}");
    let before = c.errors.len();
    if !valid_name(name) {
        c.err(
            &key,
            format!("invalid scenario name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    let mut fingerprint = std::collections::hash_map::DefaultHasher::new();
    format!("{raw:?}").hash(&mut fingerprint);

    let target = target(c, &key, raw, config, targets);
    let base_path = raw
        .target
        .as_deref()
        .and_then(|t| config.targets.get(t))
        .and_then(|t| t.url.as_deref())
        .and_then(|u| super::checks::parse_url(u).ok())
        .map(|(_, _, _, p)| p)
        .unwrap_or_default();

    let on_failure = on_failure(c, &key, raw);

    // What every new user starts with: constants, secrets, and (per user) one feeder row.
    let mut initial = Vars::new();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for (k, v) in &raw.vars {
        if !valid_var(k) {
            c.err(format!("{key}.vars.{k}"), bad_var(k));
        }
        initial.set(k, v.clone());
        known.insert(k.clone());
    }
    let secrets = secrets(c, &key, raw, base_dir, &mut fingerprint);
    if !raw.secrets.is_empty() {
        initial.set("secrets", minijinja::Value::from(secrets));
        known.insert("secrets".into());
    }
    let feeders = feeders::read(
        c,
        &key,
        &raw.feeders,
        base_dir,
        &mut fingerprint,
        &mut known,
    );

    let mut b = Builder {
        c,
        key: key.clone(),
        templates: Templates::new(),
        endpoints: Vec::new(),
        base_path,
        base_dir,
        known,
        feeders: &feeders,
        fingerprint: &mut fingerprint,
    };
    if raw.steps.is_empty() {
        b.c.err(
            format!("{key}.steps"),
            "missing: a scenario needs at least one step",
        );
    }
    let steps = b.steps(&raw.steps, &format!("{key}.steps"), 0);
    // Checked against every variable: auth applies to each request whose values exist by
    // then (a login step goes without the token it is about to fetch).
    let auth = b.auth(raw);
    let login = raw
        .auth
        .as_ref()
        .and_then(|a| a.login.as_deref())
        .and_then(|l| {
            let found = b.endpoints.iter().position(|e| e.name == l);
            if found.is_none() {
                let names: Vec<_> = b.endpoints.iter().map(|e| e.name.as_str()).collect();
                b.c.err(
                    format!("{key}.auth.login"),
                    format!("no request step named {l:?} (steps: {})", names.join(", ")),
                );
            }
            found
        });
    let (templates, endpoints) = (b.templates, b.endpoints);
    if c.errors.len() != before {
        return None;
    }
    let target = target?;
    let scenario_target = Arc::new(Target {
        endpoints,
        ..(*target).clone()
    });
    let scenario = Scenario {
        name: name.to_string(),
        steps,
        templates: Arc::new(templates),
        feeders,
        initial,
        on_failure,
        auth,
        login,
        fingerprint: fingerprint.finish(),
    };
    Some((Arc::new(scenario), scenario_target))
}

/// The scenario's target: it must exist and speak HTTP.
fn target(
    c: &mut Collector,
    key: &str,
    raw: &RawScenario,
    config: &RawConfig,
    targets: &[Arc<Target>],
) -> Option<Arc<Target>> {
    let known_targets = || {
        config
            .targets
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    match raw.target.as_deref() {
        None => {
            c.err(
                format!("{key}.target"),
                format!(
                    "missing: which target the steps call (known: {})",
                    known_targets()
                ),
            );
            None
        }
        Some(t) => {
            let found = targets.iter().find(|x| x.name == t).cloned();
            if found.is_none() && !config.targets.contains_key(t) {
                c.err(
                    format!("{key}.target"),
                    format!("unknown target {t:?} (known: {})", known_targets()),
                );
            }
            if found
                .as_ref()
                .is_some_and(|x| !matches!(x.scheme, super::Scheme::Http | super::Scheme::Https))
            {
                let scheme = found.as_ref().map_or("", |x| x.scheme.as_str());
                c.err(
                    format!("{key}.target"),
                    format!(
                        "target {t:?} is a {scheme}:// target; scenario steps are HTTP requests"
                    ),
                );
            }
            found
        }
    }
}

/// What a failed step does to the iteration: `stop` (default) or `continue`.
fn on_failure(c: &mut Collector, key: &str, raw: &RawScenario) -> OnFailure {
    match raw.on_failure.as_deref() {
        None | Some("stop") => OnFailure::Stop,
        Some("continue") => OnFailure::Continue,
        Some(other) => {
            c.err(
                format!("{key}.on_failure"),
                format!("unknown on_failure {other:?} (known: stop, continue)"),
            );
            OnFailure::Stop
        }
    }
}

/// Each secret's value, from its environment variable or file; the values go into the
/// fingerprint (a changed secret restarts the users) and nowhere else.
fn secrets(
    c: &mut Collector,
    key: &str,
    raw: &RawScenario,
    base_dir: Option<&Path>,
    fingerprint: &mut impl Hasher,
) -> BTreeMap<String, String> {
    let mut secrets = BTreeMap::new();
    for (k, s) in &raw.secrets {
        let skey = format!("{key}.secrets.{k}");
        let value = match (&s.env, &s.file) {
            (Some(var), None) => std::env::var(var)
                .map_err(|_| format!("environment variable {var} is not set (or not valid UTF-8)")),
            (None, Some(f)) => {
                let p = base_dir.map(|d| d.join(f)).unwrap_or_else(|| f.into());
                std::fs::read_to_string(&p)
                    .map(|v| v.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|e| format!("cannot read secret file {}: {e}", p.display()))
            }
            _ => Err("set exactly one of env (a variable name) or file (a path)".into()),
        };
        match value {
            Ok(v) => {
                v.hash(fingerprint);
                secrets.insert(k.clone(), v);
            }
            Err(e) => c.err(skey, e),
        }
    }
    secrets
}

struct Builder<'a, 'c> {
    c: &'a mut Collector<'c>,
    key: String,
    templates: Templates,
    /// One per request step: the scenario target's endpoints.
    endpoints: Vec<Endpoint>,
    base_path: String,
    base_dir: Option<&'a Path>,
    /// Variables defined so far, in step order.
    known: BTreeSet<String>,
    feeders: &'a [Feeder],
    fingerprint: &'a mut std::collections::hash_map::DefaultHasher,
}

impl Builder<'_, '_> {
    /// Compiles `source` as template `name` and checks the variables it uses.
    fn template(&mut self, key: &str, name: &str, source: &str) {
        if let Err(e) = self.templates.add(name, source) {
            self.c.err(key, e.to_string());
            return;
        }
        check_vars(
            self.c,
            key,
            &self.templates,
            name,
            &self.known,
            self.feeders,
            "vars, secrets, feeders or an earlier step's extract",
        );
    }

    fn auth(&mut self, raw: &RawScenario) -> Auth {
        let Some(a) = &raw.auth else {
            return Auth::None;
        };
        let key = format!("{}.auth", self.key);
        match (&a.bearer, &a.basic) {
            (Some(_), Some(_)) => {
                self.c.err(&key, "set either bearer or basic, not both");
                Auth::None
            }
            (Some(t), None) => {
                self.template(&format!("{key}.bearer"), AUTH_BEARER, t);
                Auth::Bearer
            }
            (None, Some(b)) => {
                for (field, name, v) in [
                    ("username", AUTH_USER, &b.username),
                    ("password", AUTH_PASSWORD, &b.password),
                ] {
                    match v {
                        Some(t) => self.template(&format!("{key}.basic.{field}"), name, t),
                        None => self.c.err(format!("{key}.basic.{field}"), "missing"),
                    }
                }
                Auth::Basic
            }
            (None, None) => Auth::None,
        }
    }

    fn steps(&mut self, raw: &[RawStep], key: &str, depth: usize) -> Vec<Step> {
        raw.iter()
            .enumerate()
            .filter_map(|(i, s)| self.step(s, &format!("{key}[{i}]"), depth))
            .collect()
    }

    fn step(&mut self, s: &RawStep, key: &str, depth: usize) -> Option<Step> {
        let kinds = [s.path.is_some(), s.think.is_some(), s.repeat.is_some()];
        match kinds {
            [true, false, false] => self.request(s, key).map(Step::Request),
            [false, true, false] => {
                let extra = s.name.is_some() || s.steps.is_some() || !s.extract.is_empty();
                if extra {
                    self.c.err(key, "a think step takes only `think`");
                }
                let spec = s.think.as_ref()?;
                match Think::parse(spec) {
                    Ok(t) => Some(Step::Think(t)),
                    Err(e) => {
                        self.c.err(format!("{key}.think"), e);
                        None
                    }
                }
            }
            [false, false, true] => {
                let times = s.repeat.unwrap_or(1);
                if times == 0 || times > MAX_REPEAT {
                    self.c.err(
                        format!("{key}.repeat"),
                        format!("invalid repeat {times}: must be 1..={MAX_REPEAT}"),
                    );
                }
                if depth + 1 >= MAX_DEPTH {
                    self.c
                        .err(key, format!("loops nest at most {MAX_DEPTH} deep"));
                    return None;
                }
                let inner = s.steps.as_deref().unwrap_or_default();
                if inner.is_empty() {
                    self.c.err(
                        format!("{key}.steps"),
                        "missing: the steps to repeat (e.g. steps = [{ name = \"page\", path = \"/\" }])",
                    );
                }
                let steps = self.steps(inner, &format!("{key}.steps"), depth + 1);
                Some(Step::Repeat { times, steps })
            }
            _ => {
                self.c.err(
                    key,
                    "a step is a request (path), a think time (think) or a loop (repeat with steps): set exactly one",
                );
                None
            }
        }
    }

    fn request(&mut self, s: &RawStep, key: &str) -> Option<RequestStep> {
        let before = self.c.errors.len();
        let name = self.step_name(s, key);
        if s.steps.is_some() {
            self.c.err(
                format!("{key}.steps"),
                "only a repeat step has nested steps",
            );
        }
        let method_raw = s.method.as_deref().unwrap_or("GET");
        let method =
            Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
                self.c.err(
                    format!("{key}.method"),
                    format!("invalid method {method_raw:?}"),
                );
                Method::GET
            });
        let endpoint = self.endpoints.len();
        let path = s.path.as_deref().unwrap_or("/");
        if !path.starts_with('/') {
            self.c.err(
                format!("{key}.path"),
                format!(
                    "invalid path {:?}: must start with '/'",
                    crate::redact::path(path)
                ),
            );
        }
        let full_path = format!("{}{path}", self.base_path);
        self.template(
            &format!("{key}.path"),
            &format!("{endpoint}.path"),
            &full_path,
        );
        let mut headers = Vec::new();
        for (n, (h, v)) in s.headers.iter().enumerate() {
            let hkey = format!("{key}.headers.{h}");
            match HeaderName::try_from(h.as_str()) {
                Ok(name) => {
                    let tname = format!("{endpoint}.header.{n}");
                    self.template(&hkey, &tname, v);
                    headers.push((name, tname));
                }
                Err(_) => self.c.err(hkey, format!("invalid header name {h:?}")),
            }
        }
        let body = self.body(s, key);
        if let Some(b) = &body {
            self.template(&format!("{key}.body"), &format!("{endpoint}.body"), b);
        }
        let expect_status = s.expect_status.clone().unwrap_or_default();
        for code in &expect_status {
            if !(100..=599).contains(code) {
                self.c.err(
                    format!("{key}.expect_status"),
                    format!("invalid status code {code}: must be 100..=599"),
                );
            }
        }
        let checks = self.checks(s, key);
        let extract = self.extractors(s, key);
        // Later steps may use what this one extracts.
        self.known.extend(s.extract.keys().cloned());
        let needs_body = !extract.is_empty()
            || checks
                .iter()
                .any(|ch| !matches!(ch, Check::MaxLatency(_) | Check::Status(_)));
        self.endpoints.push(Endpoint {
            name: name.clone(),
            method: method.clone(),
            path: "/".into(),
            headers: Vec::new(),
            body: Default::default(),
            weight: 1,
            expect_status: expect_status.clone(),
            body_contains: None,
            reply: Default::default(),
            command: Vec::new(),
            sql: Default::default(),
            grpc: None,
        });
        (self.c.errors.len() == before).then(|| RequestStep {
            endpoint,
            name,
            method,
            path: path.to_string(),
            headers,
            has_body: body.is_some(),
            once: s.once.unwrap_or(false),
            extract,
            expect_status,
            checks,
            capture: if needs_body { CAPTURE_LIMIT } else { 0 },
        })
    }

    /// A request step's name: present, valid and unique (it is the endpoint label).
    fn step_name(&mut self, s: &RawStep, key: &str) -> String {
        match &s.name {
            None => {
                self.c.err(
                    format!("{key}.name"),
                    "missing: every request step needs a name (it is the endpoint label)",
                );
                String::new()
            }
            Some(n) if !valid_name(n) => {
                self.c.err(
                    format!("{key}.name"),
                    format!("invalid step name {n:?}: use letters, digits, '_', '-', '.'"),
                );
                n.clone()
            }
            Some(n) if self.endpoints.iter().any(|e| &e.name == n) => {
                self.c.err(
                    format!("{key}.name"),
                    format!("duplicate step name {n:?}: each request step is its own series"),
                );
                n.clone()
            }
            Some(n) => n.clone(),
        }
    }

    /// The body template's source, inline or from `body_file` (whose content goes into the
    /// fingerprint).
    fn body(&mut self, s: &RawStep, key: &str) -> Option<String> {
        match (&s.body, &s.body_file) {
            (Some(_), Some(_)) => {
                self.c.err(
                    format!("{key}.body_file"),
                    "set either body or body_file, not both",
                );
                None
            }
            (Some(b), None) => Some(b.clone()),
            (None, Some(f)) => {
                let p = self.base_dir.map(|d| d.join(f)).unwrap_or_else(|| f.into());
                match std::fs::read_to_string(&p) {
                    Ok(b) => {
                        b.hash(self.fingerprint);
                        Some(b)
                    }
                    Err(e) => {
                        self.c.err(
                            format!("{key}.body_file"),
                            format!("cannot read {}: {e}", p.display()),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }

    /// The response checks beyond the status: body text, JSON paths, latency.
    fn checks(&mut self, s: &RawStep, key: &str) -> Vec<Check> {
        let mut checks = Vec::new();
        if let Some(text) = &s.body_contains {
            checks.push(Check::BodyContains(text.clone()));
        }
        if let Some(path) = &s.json_exists {
            match Check::json_exists(path) {
                Ok(ch) => checks.push(ch),
                Err(e) => self.c.err(format!("{key}.json_exists"), e),
            }
        }
        if let Some(eq) = &s.json_equals {
            match (&eq.path, &eq.value) {
                (Some(path), Some(value)) => match Check::json_equals(path, value.clone()) {
                    Ok(ch) => checks.push(ch),
                    Err(e) => self.c.err(format!("{key}.json_equals.path"), e),
                },
                _ => self.c.err(
                    format!("{key}.json_equals"),
                    "needs path and value (e.g. { path = \"$.ok\", value = true })",
                ),
            }
        }
        if let Some(d) = &s.max_latency {
            let d = self
                .c
                .duration(&format!("{key}.max_latency"), Some(d), Duration::ZERO);
            checks.push(Check::MaxLatency(d));
        }
        checks
    }

    /// What the step extracts from its response, by variable name.
    fn extractors(&mut self, s: &RawStep, key: &str) -> Vec<(String, Extractor)> {
        let mut extract = Vec::new();
        for (var, e) in &s.extract {
            let xkey = format!("{key}.extract.{var}");
            if !valid_var(var) {
                self.c.err(&xkey, bad_var(var));
            }
            match extractor(e) {
                Ok(x) => extract.push((var.clone(), x)),
                Err(msg) => self.c.err(xkey, msg),
            }
        }
        extract
    }
}

fn extractor(e: &RawExtract) -> Result<Extractor, String> {
    let set = [
        e.json.is_some(),
        e.header.is_some(),
        e.regex.is_some(),
        e.cookie.is_some(),
    ];
    if set.iter().filter(|x| **x).count() != 1 {
        return Err(
            "set exactly one of json (a JSONPath), header, regex (with optional group) or cookie"
                .into(),
        );
    }
    if e.group.is_some() && e.regex.is_none() {
        return Err("group only applies to regex".into());
    }
    if let Some(p) = &e.json {
        Extractor::json(p)
    } else if let Some(h) = &e.header {
        Extractor::header(h)
    } else if let Some(r) = &e.regex {
        Extractor::regex(r, e.group)
    } else {
        Extractor::cookie(e.cookie.as_deref().unwrap_or_default())
    }
}
