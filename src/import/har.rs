//! `loadtide import har FILE`: a browser session recorded as HAR 1.2, replayed as a user
//! scenario. The entries keep their order; the gap between one request's end and the next
//! one's start becomes a think step (rounded to 100 ms, capped at `MAX_THINK`). Static assets
//! (images, CSS, scripts, fonts, media: a CDN's job, not the service's) are left out unless
//! asked for. A scenario runs against one target, so each origin gets its target, its
//! scenario and its profile. Cookies are left to each user's cookie jar; connection-level
//! and browser-computed headers are dropped.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{
    parse_http_url, request_name, target_name, Body, Draft, ImportError, Load, Names, ProfileDraft,
    RequestDraft, ScenarioDraft, StepDraft, TargetDraft, Url,
};

/// Longer pauses are cut to this (a recording left open over lunch is not a think time).
pub const MAX_THINK: Duration = Duration::from_secs(30);
/// Users per origin's profile (fewer when there are many origins, under `max_in_flight`).
const USERS: u64 = 5;

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "startedDateTime", default)]
    started: String,
    /// Milliseconds from the request's start to the response's end.
    #[serde(default)]
    time: f64,
    request: Request,
    #[serde(default)]
    response: Response,
}

#[derive(Debug, Deserialize)]
struct Request {
    method: String,
    url: String,
    #[serde(rename = "httpVersion", default)]
    http_version: String,
    #[serde(default)]
    headers: Vec<Param>,
    #[serde(rename = "postData")]
    post_data: Option<PostData>,
}

#[derive(Debug, Deserialize)]
struct Param {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct PostData {
    text: Option<String>,
    #[serde(default)]
    params: Vec<Param>,
}

#[derive(Debug, Default, Deserialize)]
struct Response {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    content: Content,
}

#[derive(Debug, Default, Deserialize)]
struct Content {
    #[serde(rename = "mimeType", default)]
    mime_type: String,
}

/// Headers a replay must not copy: the connection's own, the ones loadtide computes, the
/// cookie (the jar's job) and HTTP/2 pseudo-headers (any name starting with ':').
const DROPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
    "content-length",
    "cookie",
];

const STATIC_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "bmp", "css", "js", "mjs", "map",
    "woff", "woff2", "ttf", "otf", "eot", "mp4", "webm", "mp3", "wav", "ogg", "m4a",
];

/// Whether a response is a static asset, by its MIME type or the path's extension.
fn is_static(mime: &str, path: &str) -> bool {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let by_mime = ["image/", "font/", "audio/", "video/"]
        .iter()
        .any(|p| mime.starts_with(p))
        || matches!(
            mime.as_str(),
            "text/css"
                | "text/javascript"
                | "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/font-woff"
                | "application/x-font-woff"
                | "application/x-font-ttf"
                | "application/vnd.ms-fontobject"
        );
    let path = path.split('?').next().unwrap_or(path);
    let last = path.rsplit('/').next().unwrap_or("");
    let by_ext = last
        .rsplit_once('.')
        .is_some_and(|(_, ext)| STATIC_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
    by_mime || by_ext
}

/// A kept entry: where it went, what it sent, and when (ms since the epoch, when known).
struct Kept {
    url: Url,
    request: RequestDraft,
    h2: bool,
    /// It sent a cookie header (left out).
    cookie: bool,
    start_ms: Option<f64>,
    end_ms: Option<f64>,
}

/// Which entries of a recording are imported.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Static assets too (by default they are left out).
    pub keep_static: bool,
    /// Only requests to these hosts (case-insensitive); empty: every host.
    pub hosts: Vec<String>,
}

/// The config draft for the HAR file at `path`.
pub fn import(path: &Path, filter: &Filter) -> Result<Draft, ImportError> {
    let keep_static = filter.keep_static;
    let input = path.display().to_string();
    let bad = |m: String| ImportError::new(&input, m);
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let entries = doc
        .get("log")
        .filter(|l| l.is_object())
        .ok_or_else(|| bad("not a HAR file: no top-level `log` object".into()))?
        .get("entries")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("not a HAR file: `log.entries` is missing or not a list".into()))?;
    if entries.is_empty() {
        return Err(bad(
            "`log.entries` is empty: the recording has no requests".into()
        ));
    }
    let mut kept = Vec::new();
    let (mut statics, mut other, mut elsewhere, mut bad_times) = (0, 0, 0, 0);
    for (i, raw) in entries.iter().enumerate() {
        let e: Entry = serde_json::from_value(raw.clone())
            .map_err(|err| bad(format!("`log.entries[{i}]`: {err}")))?;
        let Ok(url) = parse_http_url(&e.request.url) else {
            other += 1; // data:, blob:, ws:, extensions' own URLs
            continue;
        };
        if !filter.hosts.is_empty()
            && !filter
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&url.host))
        {
            elsewhere += 1;
            continue;
        }
        if !keep_static && is_static(&e.response.content.mime_type, &url.path) {
            statics += 1;
            continue;
        }
        let start_ms = chrono::DateTime::parse_from_rfc3339(&e.started)
            .ok()
            .map(|t| t.timestamp_millis() as f64);
        if start_ms.is_none() {
            bad_times += 1;
        }
        kept.push(Kept {
            h2: matches!(
                e.request.http_version.to_ascii_lowercase().as_str(),
                "h2" | "http/2" | "http/2.0"
            ),
            start_ms,
            end_ms: start_ms.map(|s| s + e.time.max(0.0)),
            cookie: e
                .request
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("cookie")),
            request: request(&e, &url),
            url,
        });
    }
    let left_out =
        format!(
        "{statics} static assets (images, CSS, scripts, fonts, media{}), {other} that were not \
         HTTP and {elsewhere} to other hosts than --host",
        if keep_static { "" } else { "; --keep-static keeps them" }
    );
    if kept.is_empty() {
        return Err(bad(format!(
            "none of its {} entries is left to import: {left_out}",
            entries.len()
        )));
    }
    let mut notes = vec![format!(
        "kept {} of {} requests; left out {left_out}",
        kept.len(),
        entries.len(),
    )];
    if bad_times > 0 {
        notes.push(format!(
            "{bad_times} entries had no valid startedDateTime: no think time around them"
        ));
    }
    Ok(draft(&input, kept, notes))
}

/// The step for `e`: method, path and query, the headers worth replaying, the body.
fn request(e: &Entry, url: &Url) -> RequestDraft {
    let mut headers: Vec<(String, String)> = Vec::new();
    for h in &e.request.headers {
        let name = h.name.trim().to_ascii_lowercase();
        // Not a header loadtide could send (the browser's own, or broken in the file).
        let invalid = http::HeaderName::try_from(name.as_str()).is_err()
            || http::HeaderValue::try_from(h.value.as_str()).is_err();
        if invalid || name.starts_with(':') || DROPPED_HEADERS.contains(&name.as_str()) {
            continue;
        }
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&h.value);
            }
            None => headers.push((name, h.value.clone())),
        }
    }
    let body = e.request.post_data.as_ref().and_then(|p| match &p.text {
        Some(t) if !t.is_empty() => Some(t.clone()),
        _ if !p.params.is_empty() => Some(
            p.params
                .iter()
                .map(|q| format!("{}={}", q.name, q.value))
                .collect::<Vec<_>>()
                .join("&"),
        ),
        _ => None,
    });
    let method = e.request.method.to_ascii_uppercase();
    RequestDraft {
        name: String::new(), // named per scenario
        method,
        path: url.path.clone(),
        headers,
        body: body.map(Body::Text),
        weight: None,
        comments: if e.response.status > 0 {
            vec![format!("recorded response: {}", e.response.status)]
        } else {
            Vec::new()
        },
    }
}

/// One target, scenario and profile per origin, in the order the origins first appear.
fn draft(input: &str, kept: Vec<Kept>, mut notes: Vec<String>) -> Draft {
    let mut origins: Vec<(Url, Vec<Kept>)> = Vec::new();
    for k in kept {
        match origins.iter_mut().find(|(u, _)| u.origin == k.url.origin) {
            Some((_, v)) => v.push(k),
            None => origins.push((k.url.clone(), vec![k])),
        }
    }
    if origins.len() > 1 {
        let each: Vec<String> = origins
            .iter()
            .map(|(u, e)| format!("{} ({})", u.origin, e.len()))
            .collect();
        notes.push(format!(
            "the recording spans {} origins: {}; a scenario runs against one target, so each \
             origin has its own target, scenario and profile (order kept within each): \
             remove the ones not to load (third parties), or give --host",
            origins.len(),
            each.join(", ")
        ));
    }
    let users = (100 / origins.len() as u64).clamp(1, USERS);
    let mut draft = Draft {
        source: format!(
            "A loadtide config imported by `loadtide import har` from {}.",
            Path::new(input)
                .file_name()
                .map_or(input.into(), |f| f.to_string_lossy())
        ),
        ..Draft::default()
    };
    let mut target_names = Names::default();
    let (mut capped, mut cookies, mut auth) = (0, false, Vec::new());
    for (url, entries) in origins {
        let name = target_name(&mut target_names, &url);
        let mut steps = Vec::new();
        let mut step_names = Names::default();
        let mut prev_end: Option<f64> = None;
        let h2 = url.origin.starts_with("https:") && entries.iter().all(|k| k.h2);
        for mut k in entries {
            if let (Some(end), Some(start)) = (prev_end, k.start_ms) {
                let tenths = ((start - end) / 100.0).round();
                if tenths >= 1.0 {
                    let mut think = Duration::from_millis(tenths as u64 * 100);
                    if think > MAX_THINK {
                        think = MAX_THINK;
                        capped += 1;
                    }
                    steps.push(StepDraft::Think(think));
                }
            }
            prev_end = k.end_ms.or(prev_end);
            k.request.name = request_name(&mut step_names, &k.request.method, &k.request.path);
            if k.request.headers.iter().any(|(h, _)| h == "authorization") {
                auth.push(format!("{}.{}", name, k.request.name));
            }
            cookies |= k.cookie;
            steps.push(StepDraft::Request(k.request));
        }
        draft.targets.push(TargetDraft {
            name: name.clone(),
            url: url.origin.clone(),
            host: url.host.clone(),
            http2: h2,
            ..TargetDraft::default()
        });
        draft.scenarios.push(ScenarioDraft {
            name: name.clone(),
            target: name.clone(),
            steps,
            basic_auth: None,
        });
        draft.profiles.push(ProfileDraft {
            name: name.clone(),
            target: None,
            scenario: Some(name),
            load: Load::Users(users),
        });
    }
    if cookies {
        notes.push(
            "the recorded cookie headers are left out: each user's cookie jar keeps what the \
             target sets during the scenario (a session from before the recording is not replayed)"
                .into(),
        );
    }
    if capped > 0 {
        notes.push(format!(
            "{capped} pauses longer than {}s were cut to {0}s",
            MAX_THINK.as_secs()
        ));
    }
    if !auth.is_empty() {
        notes.push(format!(
            "steps {} send the authorization header recorded in the HAR (a token that will \
             expire, written in clear): consider a login step and the scenario's `auth`",
            auth.join(", ")
        ));
    }
    draft.notes = notes;
    draft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_assets_by_mime_type_or_extension() {
        for (mime, path) in [
            ("image/png", "/x"),
            ("text/css; charset=utf-8", "/x"),
            ("application/javascript", "/x"),
            ("font/woff2", "/x"),
            ("video/mp4", "/x"),
            ("", "/app.JS?v=3"),
            ("application/octet-stream", "/fonts/a.woff2"),
        ] {
            assert!(is_static(mime, path), "{mime} {path}");
        }
        for (mime, path) in [
            ("application/json", "/api/items"),
            ("text/html", "/"),
            ("", "/v1.2/items"),
            ("application/json", "/api/items.json"),
        ] {
            assert!(!is_static(mime, path), "{mime} {path}");
        }
    }
}
