//! Where a target's host name becomes an address, for HTTP and WebSocket alike: the one place
//! the `safety.allowed_hosts` DNS check runs. When the allowlist has IP or CIDR entries, every
//! address the name resolves to must lie in one of them, or the connection is refused before
//! any packet goes to the target (a name that is allowed but points somewhere else — a stale
//! record, a rebinding attack — sends nothing).

use std::net::{IpAddr, SocketAddr};

use crate::config::safety::addr_allowed;
use crate::config::Target;
use crate::outcome::ErrorKind;

/// Why a target's host gave no address to connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// The lookup failed or found nothing.
    NotFound,
    /// The name resolved to this address, which `safety.allowed_hosts` does not allow.
    Refused(IpAddr),
}

/// The addresses to try, in order, for `target`: its IP literal, or every address its name
/// resolves to once all of them passed the allowlist's CIDRs. Never empty.
pub async fn resolve(target: &Target) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        // Checked against the allowlist when the config was loaded.
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|_| ResolveError::NotFound)?
        .collect();
    check(target, &addrs)
}

/// `resolve` as a request sees it: any failure is a `dns` error, and an address the
/// allowlist refuses is also counted in `refused` (`loadtide_safety_refused_total`).
pub async fn resolve_counted(
    target: &Target,
    refused: &prometheus::IntCounter,
) -> Result<Vec<SocketAddr>, ErrorKind> {
    resolve(target).await.map_err(|e| {
        if let ResolveError::Refused(ip) = e {
            refused.inc();
            tracing::debug!(target = %target.name, host = %target.host, %ip, "refused: resolves outside safety.allowed_hosts");
        }
        ErrorKind::Dns
    })
}

/// `addrs` if all are allowed for `target`.
fn check(target: &Target, addrs: &[SocketAddr]) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Some(nets) = &target.dns_allow {
        if let Some(bad) = addrs.iter().find(|a| !addr_allowed(nets, a.ip())) {
            return Err(ResolveError::Refused(bad.ip()));
        }
    }
    if addrs.is_empty() {
        return Err(ResolveError::NotFound);
    }
    Ok(addrs.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Allowlist;

    fn target(host: &str, allow: &[&str]) -> Target {
        let raw = format!(
            "[safety]\nallowed_hosts = {allow:?}\n[targets.t]\nurl = \"http://{host}:8080\"\n[[targets.t.endpoints]]\nname = \"e\"\n"
        );
        let raw: crate::config::RawConfig = toml_from(&raw);
        let c = crate::config::validate(&raw, "t.toml", None).unwrap();
        (*c.targets[0]).clone()
    }

    fn toml_from(s: &str) -> crate::config::RawConfig {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(s)).extract().unwrap()
    }

    #[test]
    fn every_answer_must_lie_in_the_cidrs() {
        let t = target("db.internal", &["db.internal", "10.0.0.0/8"]);
        let ok: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        let bad: SocketAddr = "192.168.1.1:8080".parse().unwrap();
        assert_eq!(check(&t, &[ok]), Ok(vec![ok]));
        assert_eq!(
            check(&t, &[ok, bad]),
            Err(ResolveError::Refused(bad.ip())),
            "one bad answer refuses the name"
        );
        assert_eq!(check(&t, &[]), Err(ResolveError::NotFound));
        // Without CIDR entries there is no DNS check.
        let t = target("db.internal", &["db.internal"]);
        assert_eq!(check(&t, &[bad]), Ok(vec![bad]));
        assert!(Allowlist::parse(&["db.internal"])
            .unwrap()
            .dns_nets()
            .is_none());
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_and_is_refused_outside_the_cidrs() {
        // /etc/hosts answers for localhost: no network needed.
        let refused = target("localhost", &["localhost", "10.0.0.0/8"]);
        match resolve(&refused).await {
            Err(ResolveError::Refused(ip)) => assert!(ip.is_loopback(), "{ip}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let allowed = target("localhost", &["localhost", "127.0.0.0/8", "::1"]);
        let addrs = resolve(&allowed).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
