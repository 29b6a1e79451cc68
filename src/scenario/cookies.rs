//! One virtual user's cookies: [`CookieJar::store`] takes a response's `Set-Cookie` headers,
//! [`CookieJar::header`] builds the next request's `Cookie` header. A scenario talks to one
//! target, so domains are ignored; paths, `Max-Age` and `Expires` are honoured (RFC 6265).
//! At most [`MAX_COOKIES`] are kept; the oldest goes first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{HeaderMap, HeaderValue, SET_COOKIE};

/// Most cookies one user keeps: enough for any session, small enough that a target
/// setting a new cookie per response cannot grow a user without bound.
pub const MAX_COOKIES: usize = 50;

#[derive(Clone, PartialEq, Eq)]
struct Stored {
    name: String,
    value: String,
    path: String,
    /// `None`: a session cookie, kept for the user's lifetime.
    expires: Option<SystemTime>,
}

/// `Debug` leaves the value out: session cookies are credentials.
impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// A virtual user's cookies, in creation order.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    cookies: Vec<Stored>,
}

impl CookieJar {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Applies every `Set-Cookie` in a response to a request for `request_path` (which gives
    /// the default path of cookies without one). Unparsable cookies are skipped.
    pub fn store(&mut self, request_path: &str, headers: &HeaderMap) {
        self.store_at(request_path, headers, SystemTime::now());
    }

    /// The `Cookie` header for a request to `request_path` (a query string is ignored), or
    /// `None` if no live cookie matches. Longer paths first, as RFC 6265 asks.
    pub fn header(&self, request_path: &str) -> Option<HeaderValue> {
        self.header_at(request_path, SystemTime::now())
    }

    fn store_at(&mut self, request_path: &str, headers: &HeaderMap, now: SystemTime) {
        for raw in headers.get_all(SET_COOKIE) {
            let Ok(text) = raw.to_str() else { continue };
            let Ok(parsed) = cookie::Cookie::parse(text) else {
                continue;
            };
            if parsed.name().is_empty() {
                continue;
            }
            let path = match parsed.path() {
                Some(p) if p.starts_with('/') => p.to_owned(),
                _ => default_path(request_path).to_owned(),
            };
            // Max-Age wins over Expires; zero or negative, or a past date, deletes.
            let expires = match (parsed.max_age(), parsed.expires_datetime()) {
                (Some(age), _) if age.is_positive() => {
                    Some(now + Duration::from_secs(age.whole_seconds().unsigned_abs()))
                }
                (Some(_), _) => Some(UNIX_EPOCH),
                (None, Some(at)) => Some(match u64::try_from(at.unix_timestamp()) {
                    Ok(secs) => UNIX_EPOCH + Duration::from_secs(secs),
                    Err(_) => UNIX_EPOCH,
                }),
                (None, None) => None,
            };
            let stored = Stored {
                name: parsed.name().to_owned(),
                value: parsed.value().to_owned(),
                path,
                expires,
            };
            let existing = self
                .cookies
                .iter()
                .position(|c| c.name == stored.name && c.path == stored.path);
            let expired = stored.expires.is_some_and(|at| at <= now);
            match (existing, expired) {
                (Some(i), true) => {
                    self.cookies.remove(i);
                }
                // An overwrite keeps the original's place in the creation order.
                (Some(i), false) => self.cookies[i] = stored,
                (None, true) => {}
                (None, false) => self.cookies.push(stored),
            }
        }
        self.cookies.retain(|c| c.expires.is_none_or(|at| at > now));
        if self.cookies.len() > MAX_COOKIES {
            let excess = self.cookies.len() - MAX_COOKIES;
            self.cookies.drain(..excess);
        }
    }

    fn header_at(&self, request_path: &str, now: SystemTime) -> Option<HeaderValue> {
        let path = request_path
            .split(['?', '#'])
            .next()
            .unwrap_or(request_path);
        let mut live: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| c.expires.is_none_or(|at| at > now) && path_matches(&c.path, path))
            .collect();
        if live.is_empty() {
            return None;
        }
        live.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let text = live
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&text).ok()
    }
}

/// RFC 6265 §5.1.4: the request path up to, not including, its last `/`; `/` at the root.
fn default_path(request_path: &str) -> &str {
    let path = request_path
        .split(['?', '#'])
        .next()
        .unwrap_or(request_path);
    if !path.starts_with('/') {
        return "/";
    }
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// RFC 6265 §5.1.4: `/docs` matches `/docs`, `/docs/` and `/docs/a`, not `/docsearch`.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    let request_path = if request_path.is_empty() {
        "/"
    } else {
        request_path
    };
    match request_path.strip_prefix(cookie_path) {
        Some(rest) => rest.is_empty() || cookie_path.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_cookies(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SET_COOKIE, HeaderValue::from_str(v).expect("valid header"));
        }
        h
    }

    fn header(jar: &CookieJar, path: &str) -> Option<String> {
        jar.header(path)
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    #[test]
    fn empty_jar_sends_nothing() {
        assert_eq!(header(&CookieJar::new(), "/"), None);
    }

    #[test]
    fn stores_and_sends_cookies() {
        let mut jar = CookieJar::new();
        jar.store(
            "/login",
            &set_cookies(&["session=s1; Path=/; HttpOnly", "theme=dark; Path=/"]),
        );
        assert_eq!(
            header(&jar, "/api/data?page=2").as_deref(),
            Some("session=s1; theme=dark")
        );
        assert_eq!(jar.len(), 2);
        assert!(!format!("{jar:?}").contains("s1"), "{jar:?}");
    }

    #[test]
    fn overwrites_a_cookie_with_the_same_name_and_path() {
        let mut jar = CookieJar::new();
        jar.store("/", &set_cookies(&["a=1; Path=/", "b=2; Path=/"]));
        jar.store("/", &set_cookies(&["a=3; Path=/"]));
        assert_eq!(header(&jar, "/").as_deref(), Some("a=3; b=2"));
        assert_eq!(jar.len(), 2);
    }

    #[test]
    fn max_age_zero_or_a_past_expiry_deletes() {
        let mut jar = CookieJar::new();
        jar.store(
            "/",
            &set_cookies(&["a=1; Path=/", "b=2; Path=/", "c=3; Path=/"]),
        );
        jar.store(
            "/",
            &set_cookies(&[
                "a=; Path=/; Max-Age=0",
                "b=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            ]),
        );
        assert_eq!(header(&jar, "/").as_deref(), Some("c=3"));
        // Deleting a cookie on another path leaves this one.
        jar.store("/", &set_cookies(&["c=; Path=/other; Max-Age=0"]));
        assert_eq!(header(&jar, "/").as_deref(), Some("c=3"));
    }

    #[test]
    fn cookies_expire_with_time() {
        let mut jar = CookieJar::new();
        let t0 = SystemTime::now();
        jar.store_at(
            "/",
            &set_cookies(&["short=1; Path=/; Max-Age=60", "session=2; Path=/"]),
            t0,
        );
        assert_eq!(
            jar.header_at("/", t0 + Duration::from_secs(59))
                .as_ref()
                .map(|v| v.to_str().expect("ascii")),
            Some("short=1; session=2")
        );
        assert_eq!(
            jar.header_at("/", t0 + Duration::from_secs(60))
                .as_ref()
                .map(|v| v.to_str().expect("ascii")),
            Some("session=2")
        );
        jar.store_at(
            "/",
            &set_cookies(&["future=1; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT"]),
            t0,
        );
        assert_eq!(
            jar.header_at("/", t0)
                .as_ref()
                .map(|v| v.to_str().expect("ascii")),
            Some("short=1; session=2; future=1")
        );
    }

    #[test]
    fn path_scopes_cookies_and_longer_paths_come_first() {
        let mut jar = CookieJar::new();
        jar.store(
            "/",
            &set_cookies(&[
                "root=r; Path=/",
                "docs=d; Path=/docs",
                "slash=s; Path=/api/",
            ]),
        );
        assert_eq!(header(&jar, "/").as_deref(), Some("root=r"));
        assert_eq!(header(&jar, "/docs").as_deref(), Some("docs=d; root=r"));
        assert_eq!(header(&jar, "/docs/a").as_deref(), Some("docs=d; root=r"));
        assert_eq!(header(&jar, "/docsearch").as_deref(), Some("root=r"));
        assert_eq!(header(&jar, "/api/x").as_deref(), Some("slash=s; root=r"));
        assert_eq!(header(&jar, "/api").as_deref(), Some("root=r"));
    }

    #[test]
    fn default_path_is_the_request_directory() {
        let mut jar = CookieJar::new();
        jar.store(
            "/account/login?next=/",
            &set_cookies(&["a=1", "b=2; Path=relative"]),
        );
        assert_eq!(
            header(&jar, "/account/settings").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(header(&jar, "/other"), None);
        assert_eq!(default_path("/login"), "/");
        assert_eq!(default_path(""), "/");
        assert_eq!(default_path("/a/b/c"), "/a/b");
    }

    #[test]
    fn ignores_domains_and_unparsable_values() {
        let mut jar = CookieJar::new();
        jar.store(
            "/",
            &set_cookies(&[
                "a=1; Domain=elsewhere.example; Path=/",
                "no-equals-sign",
                "=x",
            ]),
        );
        assert_eq!(header(&jar, "/").as_deref(), Some("a=1"));
    }

    #[test]
    fn keeps_at_most_fifty_dropping_the_oldest() {
        let mut jar = CookieJar::new();
        for i in 0..MAX_COOKIES + 5 {
            jar.store("/", &set_cookies(&[&format!("c{i}={i}; Path=/")]));
        }
        assert_eq!(jar.len(), MAX_COOKIES);
        let sent = header(&jar, "/").expect("cookies");
        assert!(sent.starts_with("c5=5; c6=6"), "{sent}");
        assert!(sent.ends_with("c54=54"), "{sent}");
        assert!(!sent.contains("c4=4;"), "{sent}");
    }
}
