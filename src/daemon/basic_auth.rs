//! HTTP basic auth against the bcrypt hashes of a web config's `basic_auth_users`, the way
//! exporter-toolkit checks them: an unknown user costs the same bcrypt as a known one (no user
//! enumeration by timing), and a verified password is remembered so that a scrape every 15 s
//! does not cost a bcrypt each time. Only a SHA-256 of the password is kept, per (user, hash),
//! and compared in constant time. bcrypt runs one at a time on the blocking pool, never on the
//! runtime's workers, so a flood of bad passwords cannot stall the load generator's loops.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::HeaderValue;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// A bcrypt hash (cost 10) of a password nobody uses: checked for unknown users, so they take
/// as long to refuse as a wrong password does.
const DUMMY_HASH: &str = "$2b$10$VP.wyl.o1bjhvWcInMtwqu/XsBT.ihKGVh7fEw6Ow0I76bu4lDoHy";

/// Verified passwords are remembered for at most this many (user, hash) pairs.
const CACHE_MAX: usize = 1024;

type Digest = [u8; 32];

pub struct BasicAuth {
    /// User name -> bcrypt hash.
    users: BTreeMap<String, String>,
    /// (user, hash) -> SHA-256 of the last password that verified against that hash.
    verified: Mutex<HashMap<(String, String), Digest>>,
    /// One bcrypt at a time.
    bcrypt: Semaphore,
}

fn sha256(data: &[u8]) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The user and password of an `Authorization: Basic ...` header.
/// The user name a request's basic credentials give (for the audit log; checked or not).
pub fn user_of(header: Option<&HeaderValue>) -> Option<String> {
    credentials(header).map(|(user, _)| user)
}

fn credentials(header: Option<&HeaderValue>) -> Option<(String, Vec<u8>)> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

impl BasicAuth {
    /// None when there are no users (no authentication).
    pub fn new(users: BTreeMap<String, String>) -> Option<Arc<BasicAuth>> {
        (!users.is_empty()).then(|| {
            Arc::new(BasicAuth {
                users,
                verified: Mutex::new(HashMap::new()),
                bcrypt: Semaphore::new(1),
            })
        })
    }

    /// Whether the request's `Authorization` header names a user and their password.
    pub async fn allows(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = credentials(header) else {
            return false;
        };
        let digest = sha256(&password);
        let known = self.users.get(&user).cloned();
        if let Some(hash) = &known {
            let verified = self.verified.lock().expect("auth cache poisoned");
            if let Some(cached) = verified.get(&(user.clone(), hash.clone())) {
                if bool::from(cached.ct_eq(&digest)) {
                    return true;
                }
            }
        }
        let hash = known.clone().unwrap_or_else(|| DUMMY_HASH.to_string());
        let ok = {
            let Ok(_one_at_a_time) = self.bcrypt.acquire().await else {
                return false;
            };
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        };
        match known {
            Some(hash) if ok => {
                let mut verified = self.verified.lock().expect("auth cache poisoned");
                if verified.len() >= CACHE_MAX {
                    verified.clear();
                }
                verified.insert((user, hash), digest);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).unwrap()
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let parts: bcrypt::HashParts = DUMMY_HASH.parse().unwrap();
        assert_eq!(parts.get_cost(), 10);
    }

    #[test]
    fn parses_basic_credentials_only() {
        assert_eq!(
            credentials(Some(&basic("al:ice", "p:w"))),
            Some(("al".to_string(), b"ice:p:w".to_vec()))
        );
        assert_eq!(
            credentials(Some(&HeaderValue::from_static("basic YTpi"))),
            Some(("a".to_string(), b"b".to_vec()))
        );
        for bad in ["Bearer YTpi", "Basic", "Basic !!!", "Basic YWI="] {
            assert_eq!(
                credentials(Some(&HeaderValue::from_static(bad))),
                None,
                "{bad}"
            );
        }
        assert_eq!(credentials(None), None);
    }

    #[tokio::test]
    async fn checks_passwords_and_remembers_verified_ones() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let auth = BasicAuth::new([("alice".to_string(), hash.clone())].into()).unwrap();
        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(&basic("alice", "wrong"))).await);
        assert!(!auth.allows(Some(&basic("bob", "right"))).await);
        assert!(
            auth.verified.lock().unwrap().is_empty(),
            "failures are not cached"
        );
        assert!(auth.allows(Some(&basic("alice", "right"))).await);
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
        // Cached: a wrong password still fails, the right one passes.
        assert!(!auth.allows(Some(&basic("alice", "righ"))).await);
        assert!(auth.allows(Some(&basic("alice", "right"))).await);
        assert!(BasicAuth::new(BTreeMap::new()).is_none());
    }
}
