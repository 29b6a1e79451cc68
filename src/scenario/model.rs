//! A validated scenario, ready to run: its steps with compiled templates, extractors and
//! checks, its feeders, constants and secrets. Built by config validation; run by the
//! engine's session runner.

use http::{HeaderName, Method};
use std::sync::Arc;

use super::{Check, Extractor, Feeder, Templates, Think, Vars};

/// What happens after a step fails (transport error, unexpected status, failed check or
/// extraction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// End the iteration; it counts as failed.
    Stop,
    /// Go on with the next step; the iteration still counts as failed.
    Continue,
}

#[derive(Debug)]
pub enum Step {
    Request(RequestStep),
    Think(Think),
    Repeat { times: u64, steps: Vec<Step> },
}

/// One request of a scenario. Its templates are named `<index>.path`, `<index>.body` and
/// `<index>.header.<n>` in the scenario's `Templates`.
#[derive(Debug)]
pub struct RequestStep {
    /// Index into the scenario target's endpoints: the step's metric series.
    pub endpoint: usize,
    pub name: String,
    pub method: Method,
    /// The path template as written (for `check`).
    pub path: String,
    /// Headers whose values are templates, in order: (name, template name).
    pub headers: Vec<(HeaderName, String)>,
    pub has_body: bool,
    pub once: bool,
    pub extract: Vec<(String, Extractor)>,
    /// Accepted status codes (empty: any 2xx or 3xx), then the other checks.
    pub expect_status: Vec<u16>,
    pub checks: Vec<Check>,
    /// Bytes of the body kept for extraction and checks (0: the body is only counted).
    pub capture: usize,
}

impl RequestStep {
    pub fn path_template(&self) -> String {
        format!("{}.path", self.endpoint)
    }

    pub fn body_template(&self) -> String {
        format!("{}.body", self.endpoint)
    }

    /// The `check` label of each of this step's checks, in evaluation order: the status,
    /// the other checks, then one per extracted variable.
    pub fn check_names(&self) -> Vec<String> {
        std::iter::once("status".to_string())
            .chain(self.checks.iter().map(|c| c.name()))
            .chain(self.extract.iter().map(|(v, _)| format!("extract {v}")))
            .collect()
    }

    pub fn status_ok(&self, code: u16) -> bool {
        if self.expect_status.is_empty() {
            (200..400).contains(&code)
        } else {
            self.expect_status.contains(&code)
        }
    }
}

/// How every request of the scenario is authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// A template rendered into `Authorization: Bearer …`.
    Bearer,
    /// Templates rendered into `Authorization: Basic …`.
    Basic,
}

/// Template names of the scenario-wide auth values.
pub const AUTH_BEARER: &str = "auth.bearer";
pub const AUTH_USER: &str = "auth.username";
pub const AUTH_PASSWORD: &str = "auth.password";

pub struct Scenario {
    pub name: String,
    pub steps: Vec<Step>,
    pub templates: Arc<Templates>,
    pub feeders: Vec<Feeder>,
    /// Constants and `secrets`, set on every new user.
    pub initial: Vars,
    pub on_failure: OnFailure,
    pub auth: Auth,
    /// The endpoint index of the login step re-run on a 401.
    pub login: Option<usize>,
    /// Identifies the definition (config text and the files it reads), so a reload can tell
    /// whether the scenario changed.
    pub fingerprint: u64,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario")
            .field("name", &self.name)
            .field("steps", &self.steps)
            .field("feeders", &self.feeders)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Scenario {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.fingerprint == other.fingerprint
    }
}

impl Scenario {
    /// Every request step, loops unrolled once, in order.
    pub fn requests(&self) -> Vec<&RequestStep> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a RequestStep>) {
            for s in steps {
                match s {
                    Step::Request(r) => out.push(r),
                    Step::Repeat { steps, .. } => walk(steps, out),
                    Step::Think(_) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }

    /// One line per step for `loadtide check`, loops indented.
    pub fn describe(&self) -> Vec<String> {
        fn walk(steps: &[Step], depth: usize, out: &mut Vec<String>) {
            let pad = "  ".repeat(depth);
            for s in steps {
                match s {
                    Step::Request(r) => {
                        let mut notes = Vec::new();
                        if r.once {
                            notes.push("once per user".to_string());
                        }
                        if !r.extract.is_empty() {
                            let vars: Vec<&str> =
                                r.extract.iter().map(|(v, _)| v.as_str()).collect();
                            notes.push(format!("extracts {}", vars.join(", ")));
                        }
                        if !r.checks.is_empty() {
                            let checks: Vec<String> = r.checks.iter().map(|c| c.name()).collect();
                            notes.push(format!("checks {}", checks.join(", ")));
                        }
                        let notes = if notes.is_empty() {
                            String::new()
                        } else {
                            format!("  ({})", notes.join("; "))
                        };
                        out.push(format!(
                            "{pad}{:<16} {:<6} {}{notes}",
                            r.name,
                            r.method.as_str(),
                            crate::redact::path(&r.path)
                        ));
                    }
                    Step::Think(t) => out.push(format!("{pad}think {t:?}")),
                    Step::Repeat { times, steps } => {
                        out.push(format!("{pad}repeat {times} ×"));
                        walk(steps, depth + 1, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, 0, &mut out);
        out
    }

    /// The request step with endpoint index `endpoint`.
    pub fn request(&self, endpoint: usize) -> Option<&RequestStep> {
        self.requests().into_iter().find(|r| r.endpoint == endpoint)
    }
}

/// Bytes of a response body kept for extraction and checks.
pub const CAPTURE_LIMIT: usize = 1 << 20;
