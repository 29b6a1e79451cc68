//! The control API (`--web.enable-control-api`, behind the same basic auth as every other
//! endpoint): `GET /api/v1/profiles` lists each running profile's state, rates and next
//! start; `POST /api/v1/profiles/NAME/pause` and `/resume` hold or release one profile;
//! `PUT /api/v1/profiles/NAME/rate_multiplier` with a number (0 to 10) in the body scales
//! its load. Answers are JSON; changes are logged to the `loadtide::audit` target and last
//! until the next reload.

use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use super::control::{Controls, MAX_MULTIPLIER};
use crate::httpserve::{response, HttpResponse};

/// A multiplier body is a number: more than this is not one.
const MAX_BODY: usize = 256;

pub(super) async fn handle(controls: &Controls, req: Request<Incoming>) -> HttpResponse {
    let path = req.uri().path().to_string();
    let who = super::basic_auth::user_of(req.headers().get(http::header::AUTHORIZATION))
        .unwrap_or_else(|| "anonymous".to_string());
    let rest = path.trim_start_matches("/api/v1/profiles");
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    match (method, parts.as_slice()) {
        (Method::GET, []) => {
            let list: Vec<_> = controls
                .names()
                .iter()
                .filter_map(|n| controls.describe(n))
                .collect();
            json_response(200, &json!({ "profiles": list }))
        }
        (Method::GET, [name]) => profile(controls, name),
        (Method::POST, [name, action @ ("pause" | "resume")]) => {
            match controls.pause(name, *action == "pause", &who) {
                Some(()) => profile(controls, name),
                None => unknown(name),
            }
        }
        (Method::PUT, [name, "rate_multiplier"]) => {
            let name = name.to_string();
            match multiplier(req).await {
                Err(message) => error(400, &message),
                Ok(m) => match controls.set_multiplier(&name, m, &who) {
                    Some(_) => profile(controls, &name),
                    None => unknown(&name),
                },
            }
        }
        (_, [] | [_] | [_, "pause" | "resume" | "rate_multiplier"]) => {
            error(405, "method not allowed here")
        }
        _ => error(404, "no such endpoint of the control API"),
    }
}

/// The body of a `rate_multiplier` request: `2.5` or `{"rate_multiplier": 2.5}`.
async fn multiplier(req: Request<Incoming>) -> Result<f64, String> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| format!("the body must be a number under {MAX_BODY} bytes"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|_| format!("the body must be a number, got {:?}", text.trim()))?;
    let m = value
        .as_f64()
        .or_else(|| value.get("rate_multiplier").and_then(|v| v.as_f64()))
        .ok_or_else(|| format!("the body must be a number, got {value}"))?;
    if !(0.0..=MAX_MULTIPLIER).contains(&m) {
        return Err(format!(
            "rate_multiplier must be between 0 and {MAX_MULTIPLIER}, got {m}"
        ));
    }
    Ok(m)
}

fn profile(controls: &Controls, name: &str) -> HttpResponse {
    match controls.describe(name) {
        Some(p) => json_response(200, &p),
        None => unknown(name),
    }
}

fn unknown(name: &str) -> HttpResponse {
    error(404, &format!("no running profile {name:?}"))
}

fn error(status: u16, message: &str) -> HttpResponse {
    json_response(status, &json!({ "error": message }))
}

fn json_response(status: u16, v: &serde_json::Value) -> HttpResponse {
    response(status, "application/json", format!("{v:#}\n"))
}
