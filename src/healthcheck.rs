//! `loadtide healthcheck`: one GET of the daemon's `/-/healthy` (or of the URL given), for
//! container HEALTHCHECKs in an image with no shell and no curl; over HTTPS and with basic auth
//! when the daemon has a web config. Owns the URL rules, the request and the verdict (2xx or
//! not); knows nothing of the daemon, its config or metrics.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The daemon's liveness endpoint on its default port, over loopback.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9632/-/healthy";

/// How much of a failing response's body goes into the error message.
const BODY_SHOWN: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: &'static str },
    #[error("{url}: cannot connect: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url}: TLS handshake failed: {source} (a self-signed certificate needs --insecure)")]
    Tls { url: String, source: std::io::Error },
    #[error("{url}: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("{url}: no answer within {}", humantime::format_duration(*.timeout))]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: HTTP {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
}

impl HealthError {
    /// A bad URL is a usage error; everything else means "not healthy".
    pub fn is_usage(&self) -> bool {
        matches!(self, HealthError::BadUrl { .. })
    }
}

/// A checked `http(s)://host[:port]/path` URL, and how to talk to it.
#[derive(Clone)]
pub struct Probe {
    url: String,
    uri: Uri,
    host: String,
    port: u16,
    https: bool,
    insecure: bool,
    /// The `Authorization` header's value.
    authorization: Option<String>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Probe")
            .field("url", &self.url)
            .field("insecure", &self.insecure)
            .field("basic_auth", &self.authorization.is_some())
            .finish()
    }
}

impl Probe {
    /// Accepts absolute `http://` and `https://` URLs with a host; the port defaults to 80 or
    /// 443.
    pub fn parse(url: &str) -> Result<Probe, HealthError> {
        // Shown with credentials and secret-looking query values redacted.
        let bad = |reason| HealthError::BadUrl {
            url: crate::redact::url(url),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| bad("not a URL (e.g. http://127.0.0.1:9632/-/healthy)"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(_) => return Err(bad("only http:// and https:// URLs")),
            None => return Err(bad("no scheme (e.g. http://127.0.0.1:9632/-/healthy)")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported (use --user and --password-file)",
            ));
        }
        Ok(Probe {
            url: url.to_string(),
            host: host.to_string(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            uri,
            https,
            insecure: false,
            authorization: None,
        })
    }

    /// Accept any server certificate (a daemon with a self-signed one, over loopback).
    pub fn insecure(mut self, insecure: bool) -> Probe {
        self.insecure = insecure;
        self
    }

    /// Send HTTP basic auth credentials.
    pub fn basic_auth(mut self, user: &str, password: &str) -> Probe {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// GETs the URL once; Ok with the status when it is 2xx. `timeout` bounds everything:
    /// connecting, the request and reading a failing response's body.
    pub async fn check(&self, timeout: Duration) -> Result<StatusCode, HealthError> {
        tokio::time::timeout(timeout, self.get())
            .await
            .unwrap_or_else(|_| {
                Err(HealthError::Timeout {
                    url: self.url.clone(),
                    timeout,
                })
            })
    }

    async fn get(&self) -> Result<StatusCode, HealthError> {
        let url = || self.url.clone();
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| HealthError::Connect { url: url(), source })?;
        if !self.https {
            return self.exchange(tcp).await;
        }
        let connector = TlsConnector::from(crate::engine::tls::client_config(self.insecure, false));
        let name = ServerName::try_from(self.host.clone()).map_err(|_| HealthError::BadUrl {
            url: url(),
            reason: "the host is not a valid TLS server name",
        })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|source| HealthError::Tls { url: url(), source })?;
        self.exchange(tls).await
    }

    /// The request and its verdict, over an open connection.
    async fn exchange<I>(&self, io: I) -> Result<StatusCode, HealthError>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let url = || self.url.clone();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|source| HealthError::Http { url: url(), source })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(
                http::header::USER_AGENT,
                concat!("loadtide-healthcheck/", env!("CARGO_PKG_VERSION")),
            )
            .header(http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .expect("path and headers come from a parsed URI");
        if let Some(value) = &self.authorization {
            let value = http::HeaderValue::from_str(value).expect("base64 is a valid header value");
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        let response = send
            .send_request(request)
            .await
            .map_err(|source| HealthError::Http { url: url(), source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(status);
        }
        // Show what the server said (e.g. "loadtide is not ready."), cut short.
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        Err(HealthError::Status {
            url: url(),
            status,
            body: first.chars().take(BODY_SHOWN).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_http_urls_with_default_port_80() {
        let p = Probe::parse(DEFAULT_URL).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 9632));
        let p = Probe::parse("http://localhost/-/ready").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("localhost", 80));
        let p = Probe::parse("http://[::1]:9632/-/healthy").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 9632));
        let p = Probe::parse("https://localhost/-/healthy").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.https), ("localhost", 443, true));
    }

    #[test]
    fn refuses_what_it_cannot_probe() {
        for url in [
            "ftp://127.0.0.1:9632/-/healthy",
            "127.0.0.1:9632",
            "/-/healthy",
            "http://",
            "not a url",
            "http://user:pw@127.0.0.1:9632/",
            "user:pw@127.0.0.1:9632/-/healthy",
        ] {
            let e = Probe::parse(url).unwrap_err();
            assert!(e.is_usage(), "{url}: {e}");
            assert!(!e.to_string().contains("pw@"), "credentials shown: {e}");
        }
    }
}
