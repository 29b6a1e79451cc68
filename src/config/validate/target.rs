//! A target and its endpoints: base URL, headers, timeout, connection limit, histogram
//! buckets and each endpoint's request.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use super::super::checks::{parse_url, scheme_named, valid_name, Collector};
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{Endpoint, Scheme, Sql, Target, DEFAULT_BUCKETS};
use super::{discovery, grpc, protocols, redis, socket, sql, tls, websocket};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_CONNECTIONS: u64 = 1_000;

pub(super) fn target(
    c: &mut Collector,
    name: &str,
    t: &RawTarget,
    base_dir: Option<&Path>,
) -> Option<Target> {
    let key = format!("targets.{name}");
    let before = c.errors.len();
    if !valid_name(name) {
        c.err(
            &key,
            format!("invalid target name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    let (scheme, host, port, base_path) = url(c, &key, t);
    let headers = c.headers(&format!("{key}.headers"), &t.headers);
    let timeout = c.duration(
        &format!("{key}.timeout"),
        t.timeout.as_deref(),
        DEFAULT_TIMEOUT,
    );
    let max_connections = t.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        c.err(
            format!("{key}.max_connections"),
            "must be at least 1, got 0",
        );
    }
    // HTTP/2 is a way of speaking HTTP (and gRPC's only one): a socket or database target
    // speaks its own protocol, where the key would silently mean nothing.
    if t.http2.is_some() && !scheme.is_http() && !scheme.is_grpc() {
        c.err(
            format!("{key}.http2"),
            format!(
                "is for http(s):// targets: a {} target speaks its own protocol",
                scheme.protocol()
            ),
        );
    }
    let buckets = buckets(c, &key, t);
    let ws = websocket::target(c, &key, t);
    let login = sql::login(c, &key, t, scheme, &base_path);
    let redis_auth = redis::auth(c, &key, t, scheme);
    let sslmode = login.as_ref().map(|l| l.sslmode);
    let ca_certs = tls::ca(c, &key, t, scheme, sslmode, base_dir);
    let feeders = sql::feeders(c, &key, t, scheme, base_dir);
    let pool = grpc::descriptors(c, &key, t, scheme, base_dir);
    let file_sd = discovery::file_sd(c, &key, t, (scheme, port), base_dir);
    let dns_server = discovery::dns_server(c, &key, t);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for (i, e) in t.endpoints.iter().enumerate() {
        let ekey = format!("{key}.endpoints[{i}]");
        // Compared with every earlier raw name, valid or not, so no duplicate goes unreported.
        if let Some(n) = e
            .name
            .as_ref()
            .filter(|n| t.endpoints[..i].iter().any(|x| x.name.as_ref() == Some(*n)))
        {
            c.err(
                format!("{ekey}.name"),
                format!("duplicate endpoint name {n:?}"),
            );
        }
        let target = Of {
            scheme,
            base_path: &base_path,
            grpc: (pool.as_ref(), timeout),
            feeders: &feeders.list,
        };
        if let Some(ep) = endpoint(c, &ekey, e, &target, base_dir) {
            endpoints.push(ep);
        }
    }
    (c.errors.len() == before).then(|| Target {
        name: name.to_string(),
        scheme,
        host,
        port,
        headers,
        timeout,
        http2: t.http2.unwrap_or(false) || scheme.is_grpc(),
        insecure: t.insecure.unwrap_or(false),
        ca_certs,
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        buckets,
        endpoints,
        websocket: ws,
        database: redis::database(scheme, &base_path),
        login,
        redis_auth,
        feeders,
        dns_allow: None,
        file_sd,
        dns_server,
    })
}

/// The target's URL split into scheme, host, port and base path; an error (and the scheme
/// it names, if any) when it is missing or bad.
fn url(c: &mut Collector, key: &str, t: &RawTarget) -> (Scheme, String, u16, String) {
    match t.url.as_deref() {
        None => {
            c.err(
                format!("{key}.url"),
                "missing: the target's base URL (e.g. \"http://127.0.0.1:8080\")",
            );
            (Scheme::Http, String::new(), 0, String::new())
        }
        Some(u) => match parse_url(u) {
            // An HTTP target's base path is put before every endpoint's path: a query there
            // would end up in the middle of each request's path (`/v1?page=1/items`). A
            // WebSocket URL is the endpoint itself, query included.
            Ok((Scheme::Http | Scheme::Https, .., base)) if base.contains('?') => {
                c.err(
                    format!("{key}.url"),
                    format!(
                        "invalid URL {:?}: a query string in a target's base URL would land in the \
                         middle of every endpoint's path; put it in the endpoints' `path`",
                        crate::redact::url(u)
                    ),
                );
                (Scheme::Http, String::new(), 0, String::new())
            }
            Ok(parts) => parts,
            Err(e) => {
                c.err(format!("{key}.url"), e);
                // The scheme it names, still: else its endpoints' keys are checked as HTTP
                // ones and a redis:// target's `command` is "only for redis:// targets".
                let named = u.split_once("://").and_then(|(s, _)| scheme_named(s));
                (
                    named.unwrap_or(Scheme::Http),
                    String::new(),
                    0,
                    String::new(),
                )
            }
        },
    }
}

/// The target's latency buckets: positive seconds in increasing order, or the defaults.
fn buckets(c: &mut Collector, key: &str, t: &RawTarget) -> Vec<f64> {
    match &t.buckets {
        None => DEFAULT_BUCKETS.to_vec(),
        Some(b) => {
            let ok = !b.is_empty()
                && b.iter().all(|v| v.is_finite() && *v > 0.0)
                && b.windows(2).all(|w| w[0] < w[1]);
            if !ok {
                c.err(
                    format!("{key}.buckets"),
                    format!("invalid buckets {b:?}: need positive seconds in increasing order"),
                );
            }
            b.clone()
        }
    }
}

/// What an endpoint needs to know of its target.
struct Of<'a> {
    scheme: Scheme,
    base_path: &'a str,
    /// grpc:// targets: the services of their `proto` (None when it failed to load), and the
    /// timeout that bounds a whole call.
    grpc: (Option<&'a prost_reflect::DescriptorPool>, Duration),
    /// postgres:// targets: the feeders whose rows templates may use.
    feeders: &'a [crate::scenario::Feeder],
}

fn endpoint(
    c: &mut Collector,
    key: &str,
    e: &RawEndpoint,
    target: &Of<'_>,
    base_dir: Option<&Path>,
) -> Option<Endpoint> {
    let (scheme, base_path) = (target.scheme, target.base_path);
    let before = c.errors.len();
    let name = e.name.clone().unwrap_or_default();
    if e.name.is_none() {
        c.err(
            format!("{key}.name"),
            "missing: every endpoint needs a name (it is the metric label)",
        );
    } else if !valid_name(&name) {
        c.err(
            format!("{key}.name"),
            format!("invalid endpoint name {name:?}: use letters, digits, '_', '-', '.'"),
        );
    }
    protocols::foreign_keys(c, key, e, scheme);
    let body = payload(c, key, e, base_dir);
    let mut grpc = None;
    let mut work = Sql::default();
    match scheme {
        Scheme::Tcp | Scheme::Udp => socket::body(c, key, e),
        Scheme::Ws | Scheme::Wss => websocket::request(c, key, e),
        Scheme::Redis | Scheme::Rediss => redis::command(c, key, e),
        Scheme::Postgres => work = sql::endpoint(c, key, e, target.feeders),
        Scheme::Grpc | Scheme::Grpcs => grpc = grpc::endpoint(c, key, e, &body, target.grpc),
        Scheme::Http | Scheme::Https => {}
    }
    // A grpc endpoint's `method` label is its kind of call, its path the method's.
    let rpc_kind = grpc.as_ref().map(|(m, _)| m.kind());
    let reply = socket::reply(c, key, e, scheme);
    // A socket endpoint's `method` label says what it does to the socket; a redis one's is
    // its command's name.
    let method_raw = e
        .method
        .as_deref()
        .or(e.command.as_deref().and_then(redis::command_name))
        .or(e.query.as_deref().and_then(sql::verb))
        .or(e.transaction.as_ref().map(|_| "TRANSACTION"))
        .or(rpc_kind)
        .unwrap_or(match scheme {
            _ if scheme.is_socket() => "SEND",
            Scheme::Ws | Scheme::Wss => "MESSAGE",
            _ => "GET",
        });
    let method =
        Method::from_bytes(method_raw.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
            c.err(
                format!("{key}.method"),
                format!("invalid method {method_raw:?}"),
            );
            Method::GET
        });
    let path = grpc.as_ref().map_or_else(
        || e.path.clone().unwrap_or_else(|| "/".to_string()),
        |(_, p)| p.clone(),
    );
    let path = path.as_str();
    if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
        c.err(
            format!("{key}.path"),
            format!(
                "invalid path {:?}: {}",
                crate::redact::path(path),
                if path.starts_with('/') {
                    // A space, a quote, a control character...: what a request line cannot hold.
                    "not a valid request path; percent-encode spaces and other special \
                     characters (a space is %20)"
                } else {
                    "must start with '/'"
                }
            ),
        );
    }
    let headers = c.headers(&format!("{key}.headers"), &e.headers);
    let weight = e.weight.unwrap_or(1);
    if weight == 0 || weight > 1_000_000 {
        c.err(
            format!("{key}.weight"),
            format!("invalid weight {weight}: must be 1..=1000000"),
        );
    }
    let expect_status = e.expect_status.clone().unwrap_or_default();
    for s in &expect_status {
        if !(100..=599).contains(s) {
            c.err(
                format!("{key}.expect_status"),
                format!("invalid status code {s}: must be 100..=599"),
            );
        }
    }
    (c.errors.len() == before).then(|| Endpoint {
        name,
        method,
        // A WebSocket request goes to the URL's own path (its query kept).
        path: match (scheme.is_ws(), base_path) {
            (true, "") => "/".to_string(),
            (true, url_path) => url_path.to_string(),
            _ => format!("{base_path}{path}"),
        },
        headers,
        body,
        weight: u32::try_from(weight).unwrap_or(1),
        expect_status,
        body_contains: e.body_contains.clone(),
        reply,
        command: e.command.clone().unwrap_or_default(),
        sql: work,
        grpc: grpc.map(|(m, _)| m),
    })
}

/// An endpoint's `body`, or the contents of its `body_file` (relative to the config's
/// directory).
fn payload(c: &mut Collector, key: &str, e: &RawEndpoint, base_dir: Option<&Path>) -> Bytes {
    match (&e.body, &e.body_file) {
        (Some(_), Some(_)) => {
            c.err(
                format!("{key}.body_file"),
                "set either body or body_file, not both",
            );
            Bytes::new()
        }
        (Some(b), None) => Bytes::from(b.clone()),
        (None, Some(f)) => {
            let p = base_dir.map(|d| d.join(f)).unwrap_or_else(|| f.into());
            std::fs::read(&p).map(Bytes::from).unwrap_or_else(|err| {
                c.err(
                    format!("{key}.body_file"),
                    format!("cannot read {}: {err}", p.display()),
                );
                Bytes::new()
            })
        }
        (None, None) => Bytes::new(),
    }
}
