//! `[safety]` and each profile's `brake`: where targets may point (an allowlist of host names,
//! `*.suffix` wildcards, `*`, IP addresses and CIDRs, also applied to DNS answers at connect
//! time), global caps on the arrival rate and on requests in flight, and the error-budget brake
//! settings. This module only validates and answers questions about the config; enforcing the
//! caps and the brake is the engine's job.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::checks::Collector;
use super::raw::{RawBrake, RawSafety};
use super::{Load, Profile, Target};

/// The longest brake window: it is kept as one bucket per second.
pub const MAX_BRAKE_WINDOW: Duration = Duration::from_secs(3600);
const DEFAULT_BRAKE_WINDOW: Duration = Duration::from_secs(30);
const DEFAULT_BRAKE_COOLDOWN: Duration = Duration::from_secs(60);
const DEFAULT_BRAKE_MIN_REQUESTS: u64 = 10;

/// The validated `[safety]` table. The default (no table) restricts nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Safety {
    pub allowed_hosts: Option<Allowlist>,
    /// Total arrivals per second across all profiles.
    pub max_rate: Option<f64>,
    /// Requests outstanding at once across all profiles.
    pub max_in_flight: Option<usize>,
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// `*`: any host.
    Any,
    /// A host name, lowercase, without a trailing dot.
    Exact(String),
    /// `*.staging.example`, kept as `.staging.example`: names ending so, not the parent itself.
    Suffix(String),
    /// An IP address (a /32 or /128) or a CIDR.
    Net(IpNet),
}

/// `safety.allowed_hosts`, as written and compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Allowlist {
    rules: Vec<Rule>,
    written: Vec<String>,
    /// The IP and CIDR entries; when there are any, every DNS answer must lie in one of them.
    nets: Arc<[IpNet]>,
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written.join(", "))
    }
}

impl Allowlist {
    /// Compiles the entries; the error says what is wrong with the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, (usize, String)> {
        let mut rules = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            rules.push(rule(e.as_ref()).map_err(|m| (i, m))?);
        }
        let nets: Vec<IpNet> = rules
            .iter()
            .filter_map(|r| match r {
                Rule::Net(n) => Some(*n),
                _ => None,
            })
            .collect();
        Ok(Allowlist {
            rules,
            written: entries
                .iter()
                .map(|e| e.as_ref().trim().to_string())
                .collect(),
            nets: nets.into(),
        })
    }

    /// Whether a target may use `host` (a name, or an IP address without brackets).
    pub fn allows_host(&self, host: &str) -> bool {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.rules.iter().any(|r| match r {
                Rule::Any => true,
                Rule::Net(n) => n.contains(&ip.to_canonical()),
                _ => false,
            });
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.rules.iter().any(|r| match r {
            Rule::Any => true,
            Rule::Exact(name) => *name == host,
            Rule::Suffix(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
            Rule::Net(_) => false,
        })
    }

    /// The IP and CIDR entries that DNS answers must lie in; None when there are none (no DNS
    /// check).
    pub fn dns_nets(&self) -> Option<Arc<[IpNet]>> {
        (!self.nets.is_empty()).then(|| self.nets.clone())
    }
}

/// Whether `ip` lies in one of `nets` (an IPv4-mapped IPv6 address counts as its IPv4 one).
pub fn addr_allowed(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

fn rule(entry: &str) -> Result<Rule, String> {
    let e = entry.trim();
    if e.is_empty() {
        return Err(
            "empty entry: give a host name, \"*.example.com\", \"*\", an IP address or a CIDR"
                .into(),
        );
    }
    if e == "*" {
        return Ok(Rule::Any);
    }
    if e.contains('/') {
        return e
            .parse::<IpNet>()
            .map(|n| Rule::Net(n.trunc()))
            .map_err(|_| format!("invalid CIDR {e:?} (e.g. \"10.0.0.0/8\", \"fd00::/8\")"));
    }
    let bare = e.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Rule::Net(IpNet::from(ip.to_canonical())));
    }
    let (suffix, name) = match e.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, e),
    };
    if name.contains('*') {
        return Err(format!(
            "invalid entry {e:?}: a wildcard is \"*\" alone or a leading \"*.\" (e.g. \"*.staging.example\")"
        ));
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !valid {
        return Err(format!(
            "invalid host name {e:?} (e.g. \"api.staging.example\", \"*.staging.example\", \"10.0.0.0/8\")"
        ));
    }
    Ok(if suffix {
        Rule::Suffix(format!(".{name}"))
    } else {
        Rule::Exact(name)
    })
}

/// Validates `[safety]`.
pub(super) fn safety(c: &mut Collector, raw: Option<&RawSafety>) -> Safety {
    let Some(raw) = raw else {
        return Safety::default();
    };
    let allowed_hosts = raw.allowed_hosts.as_ref().and_then(|entries| {
        if entries.is_empty() {
            c.err(
                "safety.allowed_hosts",
                "empty list: no target could be loaded; list the hosts targets may use, or leave it out to allow any host",
            );
            return None;
        }
        let mut ok = true;
        for (i, e) in entries.iter().enumerate() {
            if let Err(m) = rule(e) {
                c.err(format!("safety.allowed_hosts[{i}]"), m);
                ok = false;
            }
        }
        ok.then(|| Allowlist::parse(entries).ok()).flatten()
    });
    let max_rate = raw.max_rate.filter(|r| {
        let ok = r.is_finite() && *r > 0.0;
        if !ok {
            c.err(
                "safety.max_rate",
                format!("invalid max_rate {r}: must be > 0 requests per second"),
            );
        }
        ok
    });
    let max_in_flight = raw.max_in_flight.and_then(|n| {
        if n < 1 {
            c.err(
                "safety.max_in_flight",
                format!("must be at least 1, got {n}"),
            );
            return None;
        }
        usize::try_from(n).ok()
    });
    Safety {
        allowed_hosts,
        max_rate,
        max_in_flight,
    }
}

/// Rejects a target whose host the allowlist does not allow, and hands it the CIDRs its DNS
/// answers must lie in.
pub(super) fn check_target(c: &mut Collector, safety: &Safety, t: &mut Target) {
    let Some(allow) = &safety.allowed_hosts else {
        return;
    };
    if !allow.allows_host(&t.host) {
        c.err(
            format!("targets.{}.url", t.name),
            format!("host {:?} is not in safety.allowed_hosts ({allow})", t.host),
        );
    }
    t.dns_allow = allow.dns_nets();
    if let Some(server) = t
        .dns_server
        .filter(|s| !allow.allows_host(&s.ip().to_string()))
    {
        c.err(
            format!("targets.{}.dns_server", t.name),
            format!("{server} is not in safety.allowed_hosts ({allow})"),
        );
    }
    if let Some(sd) = &mut t.file_sd {
        sd.allow = Some(allow.clone());
        if let Some(i) = sd.initial.iter().find(|i| !allow.allows_host(&i.host)) {
            c.err(
                format!("targets.{}.file_sd.files", t.name),
                format!("instance {i} is not in safety.allowed_hosts ({allow})"),
            );
        }
    }
}

/// The most arrivals per second a profile can ask for: the open model's peak rate, or a
/// WebSocket profile's peak connections times its message rate. None for the closed model,
/// whose rate depends on the target's speed (the run-time cap still holds it). A capacity
/// search climbs to its ceiling: `max_rate`, capped at `safety_max_rate` (the search stops
/// there, see `capacity::run`).
pub fn peak_rate(p: &Profile, safety_max_rate: Option<f64>) -> Option<f64> {
    if let Some(c) = &p.capacity {
        return Some(capacity_ceiling(c.params.max_rate, safety_max_rate));
    }
    match &p.load {
        Load::Open { rate, .. } => Some(rate.max_value()),
        Load::WebSocket {
            connections,
            message_rate,
        } => Some(connections.max_value() * message_rate),
        Load::Closed { .. } => None,
    }
}

/// The highest rate a capacity search with `max_rate` runs under `safety.max_rate`.
pub fn capacity_ceiling(max_rate: f64, safety_max_rate: Option<f64>) -> f64 {
    safety_max_rate.map_or(max_rate, |s| max_rate.min(s))
}

/// The largest sum of peak rates over profiles whose schedules may be active together (see
/// `Schedule::may_overlap`): the profiles, by name, and the sum. Exact over the overlap
/// relation for up to 20 rated profiles; beyond that every rated profile is summed.
pub fn worst_overlap(
    profiles: &[Arc<Profile>],
    safety_max_rate: Option<f64>,
) -> (Vec<String>, f64) {
    let rated: Vec<(&Profile, f64)> = profiles
        .iter()
        .filter_map(|p| peak_rate(p, safety_max_rate).map(|r| (&**p, r)))
        .collect();
    worst_sum(&rated)
}

/// The largest sum of the figures of `rated` profiles that may be active together.
fn worst_sum(rated: &[(&Profile, f64)]) -> (Vec<String>, f64) {
    let n = rated.len();
    let all = || {
        (
            rated.iter().map(|(p, _)| p.name.clone()).collect(),
            rated.iter().map(|(_, r)| r).sum(),
        )
    };
    if n > 20 {
        return all();
    }
    let mut meets = vec![0u32; n];
    for i in 0..n {
        for j in 0..n {
            if i == j || rated[i].0.schedule.may_overlap(&rated[j].0.schedule) {
                meets[i] |= 1 << j;
            }
        }
    }
    let mut best = (0u32, 0.0f64);
    for set in 1u32..(1u32 << n) {
        // Every member meets every other one.
        let together = (0..n)
            .filter(|i| set & (1 << i) != 0)
            .all(|i| meets[i] & set == set);
        if !together {
            continue;
        }
        let sum: f64 = (0..n)
            .filter(|i| set & (1 << i) != 0)
            .map(|i| rated[i].1)
            .sum();
        if sum > best.1 {
            best = (set, sum);
        }
    }
    let names = (0..n)
        .filter(|i| best.0 & (1 << i) != 0)
        .map(|i| rated[i].0.name.clone())
        .collect();
    (names, best.1)
}

/// How an over-the-cap error names the `n` profiles whose peaks it adds up.
fn which_profiles(n: usize) -> &'static str {
    if n == 1 {
        "profile"
    } else {
        "profiles that may run at the same time"
    }
}

/// Rejects profiles whose peak rates, when they may run together, add up past `max_rate`.
pub(super) fn check_peak_rates(c: &mut Collector, safety: &Safety, profiles: &[Arc<Profile>]) {
    let Some(max) = safety.max_rate else { return };
    for p in profiles {
        // The search would start above the cap: every arrival of its first level dropped.
        if let Some(start) = p.capacity.as_ref().map(|s| s.params.start_rate) {
            // Levels run at whole tenths of a request per second: a cap under the lowest
            // leaves no level to run.
            let ceiling = super::capacity::safety_ceiling(max, 1.0);
            if ceiling < super::capacity::MIN_LEVEL_RATE {
                c.err(
                    "safety.max_rate",
                    format!(
                        "max_rate {} leaves capacity profile {} a ceiling of {} req/s, below the \
                         lowest level rate {} req/s: the search could not run",
                        num(max),
                        p.name,
                        num(ceiling),
                        num(super::capacity::MIN_LEVEL_RATE)
                    ),
                );
                continue;
            }
            if start > max {
                c.err(
                    format!("profiles.{}.capacity.start_rate", p.name),
                    format!(
                        "start_rate {} is above safety.max_rate {}: the search could not run",
                        num(start),
                        num(max)
                    ),
                );
            }
        }
    }
    let (names, sum) = worst_overlap(profiles, Some(max));
    if sum > max {
        let rates: BTreeMap<&str, f64> = profiles
            .iter()
            .filter_map(|p| peak_rate(p, Some(max)).map(|r| (p.name.as_str(), r)))
            .collect();
        let terms: Vec<String> = names
            .iter()
            .map(|n| format!("{n} {}", num(rates[n.as_str()])))
            .collect();
        let what = which_profiles(names.len());
        c.err(
            "safety.max_rate",
            format!(
                "peak rates of {what} add up to {} req/s ({}), above max_rate {}",
                num(sum),
                terms.join(" + "),
                num(max)
            ),
        );
    }
}

/// The most requests a profile can hold in flight by itself: a closed-model profile's peak
/// users (each holds one request, or one scenario iteration, at a time). None for the open
/// model and WebSocket profiles, whose arrivals over the cap are dropped instead.
pub fn peak_users(p: &Profile) -> Option<f64> {
    match &p.load {
        Load::Closed { users, .. } => Some(users.max_value()),
        _ => None,
    }
}

/// Rejects closed-model profiles whose users, when they may run together, add up past
/// `max_in_flight`: the cap would hold users back for the whole run, not as a guard rail.
pub(super) fn check_peak_users(c: &mut Collector, safety: &Safety, profiles: &[Arc<Profile>]) {
    let Some(max) = safety.max_in_flight else {
        return;
    };
    let users: Vec<(&Profile, f64)> = profiles
        .iter()
        .filter_map(|p| peak_users(p).map(|u| (&**p, u)))
        .collect();
    let (names, sum) = worst_sum(&users);
    if sum > max as f64 {
        let terms: Vec<String> = names
            .iter()
            .filter_map(|n| users.iter().find(|(p, _)| &p.name == n))
            .map(|(p, u)| format!("{} {}", p.name, num(*u)))
            .collect();
        let what = which_profiles(names.len());
        c.err(
            "safety.max_in_flight",
            format!(
                "peak users of {what} add up to {} ({}), above max_in_flight {max}: each user holds a request in flight",
                num(sum),
                terms.join(" + "),
            ),
        );
    }
}

/// The way a tripped brake holds a profile back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrakeAction {
    /// Send nothing until the cooldown is over.
    Pause,
    /// Halve the rate (or users) each window while tripped; double it back each healthy
    /// window once the cooldown is over.
    Backoff,
}

impl BrakeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BrakeAction::Pause => "pause",
            BrakeAction::Backoff => "backoff",
        }
    }
}

/// A profile's validated `brake` table.
#[derive(Debug, Clone, PartialEq)]
pub struct BrakeSpec {
    pub max_error_ratio: Option<f64>,
    pub max_p99: Option<Duration>,
    /// Whole seconds, 1s..=1h.
    pub window: Duration,
    pub action: BrakeAction,
    pub cooldown: Duration,
    pub min_requests: u64,
}

impl BrakeSpec {
    /// One line for `loadtide check`.
    pub fn describe(&self) -> String {
        let mut trips = Vec::new();
        if let Some(r) = self.max_error_ratio {
            trips.push(format!("error ratio > {}", num(r)));
        }
        if let Some(p) = self.max_p99 {
            trips.push(format!("p99 > {}", humantime::format_duration(p)));
        }
        format!(
            "brake: {} over {} (at least {} requests) → {}, cooldown {}",
            trips.join(" or "),
            humantime::format_duration(self.window),
            self.min_requests,
            self.action.as_str(),
            humantime::format_duration(self.cooldown)
        )
    }
}

/// Validates `profiles.NAME.brake`.
pub(super) fn brake(
    c: &mut Collector,
    key: &str,
    raw: &RawBrake,
    websocket: bool,
) -> Option<BrakeSpec> {
    let key = format!("{key}.brake");
    let before = c.errors.len();
    if websocket {
        c.err(
            &key,
            "only applies to HTTP targets (requests and scenarios), not WebSocket ones",
        );
    }
    if let Some(r) = raw.max_error_ratio {
        if !(r.is_finite() && (0.0..1.0).contains(&r)) {
            c.err(
                format!("{key}.max_error_ratio"),
                format!(
                    "invalid max_error_ratio {r}: a ratio from 0 up to (not including) 1, e.g. 0.2"
                ),
            );
        }
    }
    let max_p99 = raw
        .max_p99
        .as_deref()
        .map(|v| c.duration(&format!("{key}.max_p99"), Some(v), Duration::ZERO));
    if raw.max_error_ratio.is_none() && raw.max_p99.is_none() {
        c.err(
            &key,
            "set max_error_ratio, max_p99 or both: what trips the brake",
        );
    }
    let window = c.duration(
        &format!("{key}.window"),
        raw.window.as_deref(),
        DEFAULT_BRAKE_WINDOW,
    );
    if raw.window.is_some() && (window < Duration::from_secs(1) || window > MAX_BRAKE_WINDOW) {
        c.err(
            format!("{key}.window"),
            format!(
                "invalid window {:?}: must be from 1s to 1h",
                raw.window.as_deref().unwrap_or_default()
            ),
        );
    }
    let action = match raw.action.as_deref() {
        None | Some("pause") => BrakeAction::Pause,
        Some("backoff") => BrakeAction::Backoff,
        Some(other) => {
            c.err(
                format!("{key}.action"),
                format!("unknown action {other:?} (known: pause, backoff)"),
            );
            BrakeAction::Pause
        }
    };
    let cooldown = c.duration(
        &format!("{key}.cooldown"),
        raw.cooldown.as_deref(),
        DEFAULT_BRAKE_COOLDOWN,
    );
    let min_requests = raw.min_requests.unwrap_or(DEFAULT_BRAKE_MIN_REQUESTS);
    if min_requests == 0 {
        c.err(format!("{key}.min_requests"), "must be at least 1, got 0");
    }
    (c.errors.len() == before).then(|| BrakeSpec {
        max_error_ratio: raw.max_error_ratio,
        max_p99,
        // Whole seconds: the window is a ring of one-second buckets.
        window: Duration::from_secs(window.as_secs_f64().ceil() as u64),
        action,
        cooldown,
        min_requests,
    })
}

/// A number as a person writes it: `500`, `0.5`, `1234.5`.
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).expect("valid entries")
    }

    #[test]
    fn exact_names_match_case_insensitively_and_only_themselves() {
        let a = list(&["localhost", "API.staging.example."]);
        assert!(a.allows_host("localhost"));
        assert!(a.allows_host("LOCALHOST"));
        assert!(a.allows_host("api.staging.example"));
        assert!(a.allows_host("api.staging.example."));
        assert!(!a.allows_host("evil.example"));
        assert!(!a.allows_host("x.localhost"));
        assert!(
            !a.allows_host("127.0.0.1"),
            "a name does not allow an address"
        );
    }

    #[test]
    fn wildcards_match_subdomains_but_not_the_parent() {
        let a = list(&["*.staging.example"]);
        assert!(a.allows_host("api.staging.example"));
        assert!(a.allows_host("a.b.staging.example"));
        assert!(!a.allows_host("staging.example"));
        assert!(!a.allows_host("evilstaging.example"));
        assert!(!a.allows_host("staging.example.evil"));
        let any = list(&["*"]);
        assert!(any.allows_host("anything.example"));
        assert!(any.allows_host("8.8.8.8"));
        assert!(any.allows_host("::1"));
        assert!(any.dns_nets().is_none());
    }

    #[test]
    fn addresses_and_cidrs_match_ip_hosts_and_dns_answers() {
        let a = list(&["127.0.0.0/8", "::1", "[fd00::1]", "10.1.2.3"]);
        assert!(a.allows_host("127.9.9.9"));
        assert!(a.allows_host("::1"));
        assert!(a.allows_host("fd00::1"));
        assert!(a.allows_host("10.1.2.3"));
        assert!(!a.allows_host("10.1.2.4"));
        assert!(!a.allows_host("::2"));
        // IPv4-mapped IPv6 counts as the IPv4 address.
        assert!(a.allows_host("::ffff:127.0.0.1"));
        let nets = a.dns_nets().expect("has CIDRs");
        assert!(addr_allowed(&nets, "127.0.0.1".parse().unwrap()));
        assert!(!addr_allowed(&nets, IpAddr::from([192, 168, 0, 1])));
        assert!(list(&["localhost", "*.x"]).dns_nets().is_none());
        // A CIDR with host bits set is taken as its network.
        assert!(list(&["10.1.2.3/8"]).allows_host("10.200.0.1"));
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            Allowlist::parse(&["ok.example", " "]).map(|_| ()),
            Err((
                1,
                "empty entry: give a host name, \"*.example.com\", \"*\", an IP address or a CIDR"
                    .into()
            ))
        );
        let err = |e: &str| Allowlist::parse(&[e]).map(|_| ()).unwrap_err().1;
        assert!(err("10.0.0.0/33").starts_with("invalid CIDR \"10.0.0.0/33\""));
        assert!(err("foo/8").starts_with("invalid CIDR"));
        assert!(err("a.*.example").starts_with("invalid entry \"a.*.example\": a wildcard"));
        assert!(err("**").starts_with("invalid entry"));
        assert!(err("has space.example").starts_with("invalid host name"));
        assert!(err("*.").starts_with("invalid host name"));
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(num(500.0), "500");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1.0 / 3.0), "0.333");
    }
}
