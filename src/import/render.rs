//! A `Draft` as a commented loadtide config, laid out like `loadtide init`'s starter: server,
//! safety (the imported hosts the only ones allowed), targets with their endpoints,
//! scenarios with their steps, profiles. Every string goes through the TOML crate's quoting;
//! what a scenario step sends is a template, so text that looks like one is kept literal.

use std::fmt::Write as _;

use super::{Body, Draft, Load, ProfileDraft, RequestDraft, ScenarioDraft, StepDraft, TargetDraft};

/// The config text for `draft`.
pub fn render(draft: &Draft) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", draft.source);
    out.push_str(HEADER);
    let mut hosts: Vec<&str> = Vec::new();
    for t in &draft.targets {
        if !hosts.contains(&t.host.as_str()) {
            hosts.push(&t.host);
        }
    }
    let hosts: Vec<String> = hosts.iter().map(|h| toml_str(h)).collect();
    let _ = writeln!(out, "allowed_hosts = [{}]", hosts.join(", "));
    out.push_str(CAPS);
    for t in &draft.targets {
        target(&mut out, t);
    }
    for s in &draft.scenarios {
        scenario(&mut out, s);
    }
    for p in &draft.profiles {
        profile(&mut out, p);
    }
    out
}

const HEADER: &str = "\
# Check it with `loadtide check --config FILE`, run it once with
# `loadtide run --config FILE --profile NAME`, or around the clock with
# `loadtide serve --config FILE` (metrics on 127.0.0.1:9632/metrics; drop the profiles'
# `duration` there). Every key is in docs/src/config.md.

[server]
listen = \"127.0.0.1:9632\"   # \":9632\" to let a Prometheus on another host scrape

# Guard rails: targets may only point at these hosts, and the caps hold across all profiles.
[safety]
";

const CAPS: &str = "\
max_rate = 50               # arrivals per second, all profiles together
max_in_flight = 100
";

fn target(out: &mut String, t: &TargetDraft) {
    let _ = writeln!(out, "\n[targets.{}]", t.name);
    let _ = writeln!(out, "url = {}", toml_str(&t.url));
    let _ = writeln!(
        out,
        "timeout = {}",
        toml_str(t.timeout.as_deref().unwrap_or("10s"))
    );
    if t.http2 {
        out.push_str("http2 = true\n");
    }
    if t.insecure {
        out.push_str("insecure = true             # accepts any certificate\n");
    }
    for c in &t.comments {
        let _ = writeln!(out, "# {c}");
    }
    for e in &t.endpoints {
        let _ = writeln!(out);
        comments(out, &e.comments);
        let _ = writeln!(out, "[[targets.{}.endpoints]]", t.name);
        request(out, e, false);
        if let Some(w) = e.weight {
            let _ = writeln!(out, "weight = {w}");
        }
    }
}

fn scenario(out: &mut String, s: &ScenarioDraft) {
    let _ = writeln!(out, "\n[scenarios.{}]", s.name);
    let _ = writeln!(out, "target = {}", toml_str(&s.target));
    if let Some((user, env)) = &s.basic_auth {
        let _ = writeln!(
            out,
            "secrets = {{ password = {{ env = {} }} }}   # read at load; never written here",
            toml_str(env)
        );
        let _ = writeln!(
            out,
            "auth = {{ basic = {{ username = {}, password = \"{{{{ secrets.password }}}}\" }} }}",
            toml_str(&literal(user))
        );
    }
    for step in &s.steps {
        let _ = writeln!(out);
        match step {
            StepDraft::Request(r) => {
                comments(out, &r.comments);
                let _ = writeln!(out, "[[scenarios.{}.steps]]", s.name);
                request(out, r, true);
            }
            StepDraft::Think(d) => {
                let _ = writeln!(out, "[[scenarios.{}.steps]]", s.name);
                let _ = writeln!(
                    out,
                    "think = {}",
                    toml_str(&humantime::format_duration(*d).to_string())
                );
            }
        }
    }
}

/// The keys of one request; in a scenario (`template`), the text it sends kept literal.
fn request(out: &mut String, r: &RequestDraft, template: bool) {
    let text = |s: &str| {
        if template {
            toml_str(&literal(s))
        } else {
            toml_str(s)
        }
    };
    let _ = writeln!(out, "name = {}", toml_str(&r.name));
    let _ = writeln!(out, "method = {}", toml_str(&r.method));
    let _ = writeln!(out, "path = {}", text(&r.path));
    if !r.headers.is_empty() {
        let pairs: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{} = {}", toml_str(k), text(v)))
            .collect();
        let _ = writeln!(out, "headers = {{ {} }}", pairs.join(", "));
    }
    match &r.body {
        Some(Body::Text(b)) => {
            let _ = writeln!(out, "body = {}", text(b));
        }
        Some(Body::File(p)) => {
            let _ = writeln!(out, "body_file = {}", toml_str(&p.display().to_string()));
        }
        None => {}
    }
}

fn profile(out: &mut String, p: &ProfileDraft) {
    let _ = writeln!(out, "\n[profiles.{}]", p.name);
    if let Some(t) = &p.target {
        let _ = writeln!(out, "target = {}", toml_str(t));
    }
    if let Some(s) = &p.scenario {
        let _ = writeln!(out, "scenario = {}", toml_str(s));
    }
    match p.load {
        Load::Rate(r) => {
            let _ = writeln!(
                out,
                "rate = {r}                    # open model: arrivals per second, whatever the target's speed"
            );
        }
        Load::Users(u) => {
            let _ = writeln!(
                out,
                "users = {u}                   # closed model: users, each looping the scenario"
            );
        }
    }
    let _ = writeln!(
        out,
        "duration = {}             # a short test; without it the daemon runs it forever",
        toml_str(super::DURATION)
    );
    let t: Vec<String> = super::THRESHOLDS.iter().map(|t| toml_str(t)).collect();
    let _ = writeln!(out, "thresholds = [{}]", t.join(", "));
}

fn comments(out: &mut String, lines: &[String]) {
    for c in lines {
        let _ = writeln!(out, "# {c}");
    }
}

/// `s` as a TOML string, quoted and escaped by the TOML crate figment reads the config with.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `s` as a template that renders to `s` itself: text with template markers is wrapped in a
/// raw block.
fn literal(s: &str) -> String {
    if ["{{", "{%", "{#"].iter().any(|m| s.contains(m)) {
        format!("{{% raw %}}{s}{{% endraw %}}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_markers_stay_literal_in_scenarios_only() {
        assert_eq!(literal("a {{ b }}"), "{% raw %}a {{ b }}{% endraw %}");
        assert_eq!(literal("plain"), "plain");
        let r = RequestDraft {
            name: "n".into(),
            method: "POST".into(),
            path: "/x".into(),
            body: Some(Body::Text("{{x}}".into())),
            ..RequestDraft::default()
        };
        let (mut a, mut b) = (String::new(), String::new());
        request(&mut a, &r, true);
        request(&mut b, &r, false);
        assert!(a.contains("raw"), "{a}");
        assert!(!b.contains("raw"), "{b}");
    }
}
