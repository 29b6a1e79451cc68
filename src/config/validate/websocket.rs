//! The WebSocket part of validation: a target whose URL is `ws://` or `wss://` takes a
//! `websocket` table instead of endpoints, and its profiles take `connections` and
//! `message_rate` instead of `rate` or `users`. Keys of one kind on the other are errors.

use http::Uri;

use super::super::checks::Collector;
use super::super::raw::{RawConfig, RawEndpoint, RawPattern, RawProfile, RawTarget};
use super::super::websocket::{MessageTemplate, WebSocket, DEFAULT_MESSAGE};
use crate::config::Load;
use crate::schedule::Pattern;

/// At most this many connections per profile: each is a socket and a task.
const MAX_CONNECTIONS: f64 = 100_000.0;

/// Per connection; beyond it the reply timeout, not the rate, is what is being measured.
const MAX_MESSAGE_RATE: f64 = 100_000.0;

/// True for a WebSocket message stream: a target whose URL is `ws://` or `wss://`, without
/// endpoints (with them, each request is a message and its reply, loaded like any target).
pub(super) fn is_ws(t: &RawTarget) -> bool {
    is_ws_url(t) && t.endpoints.is_empty()
}

fn is_ws_url(t: &RawTarget) -> bool {
    t.url.as_deref().is_some_and(|u| {
        let u = u.trim().to_ascii_lowercase();
        u.starts_with("ws://") || u.starts_with("wss://")
    })
}

/// Whether profile `p` loads a WebSocket target. When its target is unknown (already
/// reported), WebSocket keys in the profile decide, so they are checked as such.
pub(super) fn profile_is_ws(p: &RawProfile, raw: &RawConfig) -> bool {
    match p.target.as_deref().and_then(|t| raw.targets.get(t)) {
        Some(t) => is_ws(t),
        None => p.connections.is_some() || p.message_rate.is_some(),
    }
}

/// Checks the keys of target `key` that depend on its kind; the settings of a WebSocket
/// target, None for an HTTP one.
pub(super) fn target(c: &mut Collector, key: &str, t: &RawTarget) -> Option<WebSocket> {
    if !is_ws(t) {
        let ws_requests = is_ws_url(t);
        reject(
            c,
            key,
            &[
                (
                    "websocket",
                    t.websocket.is_some() && !ws_requests,
                    "only for WebSocket targets (a ws:// or wss:// url)",
                ),
                (
                    "websocket",
                    t.websocket.is_some() && ws_requests,
                    "a WebSocket target with endpoints sends each endpoint's body as a request \
                     and reads its reply; the websocket table is for a message stream (a \
                     target without endpoints)",
                ),
                (
                    "http2",
                    t.http2.is_some() && ws_requests,
                    "does not apply to a WebSocket target (its handshake is HTTP/1.1)",
                ),
            ],
        );
        return None;
    }
    reject(
        c,
        key,
        &[
            (
                "http2",
                t.http2.is_some(),
                "does not apply to a WebSocket target (its handshake is HTTP/1.1)",
            ),
            (
                "max_connections",
                t.max_connections.is_some(),
                "does not apply to a WebSocket target: its profiles set `connections`",
            ),
        ],
    );
    let raw = t.websocket.clone().unwrap_or_default();
    let text = raw.message.as_deref().unwrap_or(DEFAULT_MESSAGE);
    let message = match MessageTemplate::parse(text) {
        Ok(m) => m,
        Err(e) => {
            c.err(format!("{key}.websocket.message"), e);
            return None;
        }
    };
    // The URL's own path, trailing slash and query kept: the handshake must ask for exactly it.
    let path = t
        .url
        .as_deref()
        .and_then(|u| u.trim().parse::<Uri>().ok())
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()))
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/".into());
    let ws = WebSocket {
        path,
        message,
        correlate: raw.correlate.clone(),
    };
    if let Some(field) = &ws.correlate {
        let sample = ws.message.render(0);
        if field.is_empty() {
            c.err(
                format!("{key}.websocket.correlate"),
                "empty: name the JSON field, or leave it out to take the next message as the reply",
            );
        } else if ws.correlation_key(&sample).is_none() {
            c.err(
                format!("{key}.websocket.correlate"),
                format!(
                    "field {field:?} is not in the message (a first one reads {sample:?}): \
                     correlate needs a JSON message with that field"
                ),
            );
        }
    }
    Some(ws)
}

/// Reports each `(field, set, why)` of `fields` that is set; true if any is.
fn reject(c: &mut Collector, key: &str, fields: &[(&str, bool, &str)]) -> bool {
    let mut found = false;
    for (field, set, why) in fields {
        if *set {
            c.err(format!("{key}.{field}"), *why);
            found = true;
        }
    }
    found
}

/// Reports `connections` and `message_rate` on a profile of an HTTP target; true if any.
pub(super) fn misplaced(c: &mut Collector, key: &str, p: &RawProfile) -> bool {
    const WHY: &str =
        "only for WebSocket message streams (a ws:// or wss:// target without endpoints); this \
         target takes rate or users";
    reject(
        c,
        key,
        &[
            ("connections", p.connections.is_some(), WHY),
            ("message_rate", p.message_rate.is_some(), WHY),
        ],
    )
}

/// The load of profile `key` on a WebSocket target; `pattern` parses the connections pattern.
pub(super) fn load(
    c: &mut Collector,
    key: &str,
    p: &RawProfile,
    pattern: impl Fn(&mut Collector, &str, &RawPattern) -> Option<Pattern>,
) -> Option<Load> {
    let before = c.errors.len();
    const LOAD: &str = "does not apply to a WebSocket target: set connections and message_rate";
    let not_here = [
        ("rate", p.rate.is_some(), LOAD),
        ("users", p.users.is_some(), LOAD),
        (
            "think",
            p.think.is_some(),
            "does not apply to a WebSocket target: each connection sends evenly at message_rate",
        ),
        (
            "max_in_flight",
            p.max_in_flight.is_some(),
            "does not apply to a WebSocket target: connections bound its load",
        ),
        (
            "arrivals",
            p.arrivals.is_some(),
            "does not apply to a WebSocket target: each connection sends evenly at message_rate",
        ),
        (
            "endpoints",
            p.endpoints.is_some(),
            "a WebSocket target without endpoints is a message stream: each connection sends the \
             target's `websocket.message`",
        ),
    ];
    reject(c, key, &not_here);
    let connections = match &p.connections {
        None => {
            c.err(
                format!("{key}.connections"),
                "missing: how many concurrent connections (a number or a pattern table)",
            );
            None
        }
        Some(raw) => {
            if let RawPattern::Value(v) = raw {
                if v.is_finite() && v.fract() != 0.0 {
                    c.err(
                        format!("{key}.connections"),
                        format!("invalid connections {v}: must be a whole number"),
                    );
                }
            }
            pattern(c, "connections", raw).filter(|conns| {
                let ok = conns.max_value() <= MAX_CONNECTIONS;
                if !ok {
                    c.err(
                        format!("{key}.connections"),
                        format!(
                            "too many connections ({}): at most 100000",
                            conns.max_value()
                        ),
                    );
                }
                ok
            })
        }
    };
    let message_rate = match p.message_rate {
        None => {
            c.err(
                format!("{key}.message_rate"),
                "missing: messages per second on each connection (e.g. 2, or 0.5 for one every 2 s)",
            );
            None
        }
        Some(r) if !(r.is_finite() && r > 0.0 && r <= MAX_MESSAGE_RATE) => {
            c.err(
                format!("{key}.message_rate"),
                format!(
                    "invalid message_rate {r}: must be > 0 messages per second (at most 100000)"
                ),
            );
            None
        }
        Some(r) => Some(r),
    };
    if c.errors.len() != before {
        return None;
    }
    Some(Load::WebSocket {
        connections: connections?,
        message_rate: message_rate?,
    })
}

/// An endpoint of a WebSocket target with endpoints: its `body` is the message (a template).
pub(super) fn request(c: &mut Collector, key: &str, e: &RawEndpoint) {
    match &e.body {
        None if e.body_file.is_none() => c.err(
            format!("{key}.body"),
            "missing: a ws:// endpoint sends its body as one message (e.g. body = '{\"op\":\"ping\"}')",
        ),
        Some(body) => {
            if let Err(err) = crate::scenario::template::Templates::new().add("body", body) {
                c.err(format!("{key}.body"), err.to_string());
            }
        }
        None => {}
    }
}
