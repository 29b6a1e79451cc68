//! `loadtide import curl '<command line>'`: the request a curl command would send, as one
//! target, one endpoint and a short constant-rate profile. The command line is split as bash
//! would (`shell.rs`); the options that shape the request are understood, the
//! ones that only shape curl's own output are skipped, and any other is an error naming it,
//! so nothing the user asked for is silently lost. A password (`-u user:pass`, or in the
//! URL) is never written: the request becomes a one-step scenario whose basic auth reads it
//! from an environment variable.

use std::path::Path;

use super::{
    parse_http_url, percent_encode, request_name, target_name, Body, Draft, ImportError, Load,
    Names, ProfileDraft, RequestDraft, ScenarioDraft, StepDraft, TargetDraft, Url,
};

const INPUT: &str = "command line";

/// What the options of a curl command mean here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Request,
    Header,
    /// `-d`/`--data`/`--data-ascii`: `@file` read with its newlines removed.
    Data,
    /// `--data-binary`: `@file` sent as it is.
    DataBinary,
    /// `--data-raw`: no `@file`.
    DataRaw,
    DataUrlencode,
    Json,
    User,
    Insecure,
    Http2,
    UserAgent,
    Referer,
    Cookie,
    Compressed,
    Get,
    Head,
    Url,
    MaxTime,
    Location,
    /// Shapes only curl's own output or behaviour: skipped (with its value, if it takes one).
    Skip,
    SkipValue,
}

impl Opt {
    fn takes_value(self) -> bool {
        !matches!(
            self,
            Opt::Insecure
                | Opt::Http2
                | Opt::Compressed
                | Opt::Get
                | Opt::Head
                | Opt::Location
                | Opt::Skip
        )
    }
}

fn long(name: &str) -> Option<Opt> {
    Some(match name {
        "request" => Opt::Request,
        "header" => Opt::Header,
        "data" | "data-ascii" => Opt::Data,
        "data-binary" => Opt::DataBinary,
        "data-raw" => Opt::DataRaw,
        "data-urlencode" => Opt::DataUrlencode,
        "json" => Opt::Json,
        "user" => Opt::User,
        "insecure" => Opt::Insecure,
        "http2" | "http2-prior-knowledge" => Opt::Http2,
        "user-agent" => Opt::UserAgent,
        "referer" => Opt::Referer,
        "cookie" => Opt::Cookie,
        "compressed" => Opt::Compressed,
        "get" => Opt::Get,
        "head" => Opt::Head,
        "url" => Opt::Url,
        "max-time" => Opt::MaxTime,
        "location" => Opt::Location,
        "silent" | "show-error" | "verbose" | "include" | "fail" | "fail-with-body"
        | "no-progress-meter" | "progress-bar" | "http1.1" | "no-buffer" | "basic" => Opt::Skip,
        "output" | "write-out" | "connect-timeout" => Opt::SkipValue,
        _ => return None,
    })
}

fn short(c: char) -> Option<Opt> {
    Some(match c {
        'X' => Opt::Request,
        'H' => Opt::Header,
        'd' => Opt::Data,
        'u' => Opt::User,
        'k' => Opt::Insecure,
        'A' => Opt::UserAgent,
        'e' => Opt::Referer,
        'b' => Opt::Cookie,
        'G' => Opt::Get,
        'I' => Opt::Head,
        'm' => Opt::MaxTime,
        'L' => Opt::Location,
        's' | 'S' | 'v' | 'i' | 'f' | 'N' => Opt::Skip,
        'o' | 'w' => Opt::SkipValue,
        _ => return None,
    })
}

/// The request as the options describe it.
#[derive(Debug, Default)]
struct Request {
    url: Option<String>,
    method: Option<String>,
    headers: Vec<(String, String)>,
    /// The pieces of `-d` and friends, in order; joined with '&' (`--json` pieces with nothing).
    data: Vec<String>,
    /// A `--data-binary @file` (or `--json @file`) alone: sent from the file by loadtide.
    data_file: Option<std::path::PathBuf>,
    json: bool,
    user: Option<String>,
    insecure: bool,
    http2: bool,
    get: bool,
    head: bool,
    timeout: Option<String>,
    notes: Vec<String>,
}

fn usage(message: impl Into<String>) -> ImportError {
    ImportError::new(INPUT, message)
}

/// The config draft for `command` (a curl command line, `curl` itself optional); `@file`
/// arguments are read relative to `cwd`.
pub fn import(command: &str, cwd: &Path) -> Result<Draft, ImportError> {
    let words = super::shell::split(command).map_err(usage)?;
    let mut words = words.into_iter().peekable();
    if words.peek().map(String::as_str) == Some("curl") {
        words.next();
    }
    let mut req = Request::default();
    while let Some(w) = words.next() {
        if let Some(name) = w.strip_prefix("--").filter(|n| !n.is_empty()) {
            let opt =
                long(name).ok_or_else(|| usage(format!("unsupported curl option `--{name}`")))?;
            let value = if opt.takes_value() {
                Some(words.next().ok_or_else(|| missing(&w))?)
            } else {
                None
            };
            apply(&mut req, opt, &w, value, cwd)?;
        } else if w.len() > 1 && w.starts_with('-') {
            let cluster: Vec<char> = w.chars().skip(1).collect();
            for (i, c) in cluster.iter().enumerate() {
                let opt =
                    short(*c).ok_or_else(|| usage(format!("unsupported curl option `-{c}`")))?;
                if opt.takes_value() {
                    let rest: String = cluster[i + 1..].iter().collect();
                    let value = if rest.is_empty() {
                        words.next().ok_or_else(|| missing(&format!("-{c}")))?
                    } else {
                        rest
                    };
                    apply(&mut req, opt, &format!("-{c}"), Some(value), cwd)?;
                    break;
                }
                apply(&mut req, opt, &format!("-{c}"), None, cwd)?;
            }
        } else {
            set_url(&mut req, w)?;
        }
    }
    draft(req)
}

fn missing(flag: &str) -> ImportError {
    usage(format!("curl option `{flag}` needs a value"))
}

fn set_url(req: &mut Request, url: String) -> Result<(), ImportError> {
    if let Some(first) = &req.url {
        return Err(usage(format!(
            "more than one URL ({} and {}): import one request at a time",
            crate::redact::url(first),
            crate::redact::url(&url)
        )));
    }
    req.url = Some(url);
    Ok(())
}

fn apply(
    req: &mut Request,
    opt: Opt,
    flag: &str,
    value: Option<String>,
    cwd: &Path,
) -> Result<(), ImportError> {
    let v = value.unwrap_or_default();
    match opt {
        Opt::Request => req.method = Some(v.to_ascii_uppercase()),
        Opt::Header => header(req, &v)?,
        Opt::Data | Opt::DataBinary | Opt::DataRaw | Opt::Json => data(req, opt, v, cwd)?,
        Opt::DataUrlencode => {
            let piece = urlencoded(&v, cwd)?;
            req.data.push(piece);
        }
        Opt::User => req.user = Some(v),
        Opt::Insecure => req.insecure = true,
        Opt::Http2 => req.http2 = true,
        Opt::UserAgent => req.headers.push(("user-agent".into(), v)),
        Opt::Referer => {
            let r = v.strip_suffix(";auto").unwrap_or(&v).to_string();
            req.headers.push(("referer".into(), r));
        }
        Opt::Cookie if v.contains('=') => req.headers.push(("cookie".into(), v)),
        Opt::Cookie => {
            return Err(usage(format!(
                "`{flag} {v}` reads cookies from a file, which is not imported: give them as \
                 `-b 'name=value; other=value'`"
            )))
        }
        Opt::Compressed => req.notes.push(
            "--compressed is ignored: loadtide sends no Accept-Encoding and does not decode \
             bodies (add an accept-encoding header to the endpoint to have the target compress)"
                .into(),
        ),
        Opt::Get => req.get = true,
        Opt::Head => req.head = true,
        Opt::Url => set_url(req, v)?,
        Opt::MaxTime => {
            let secs: f64 = v
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| usage(format!("`{flag} {v}`: not a number of seconds")))?;
            req.timeout = Some(format!("{}ms", (secs * 1000.0).round().max(1.0)));
        }
        Opt::Location => req.notes.push(
            "-L is ignored: loadtide does not follow redirects (a 3xx counts as a success)".into(),
        ),
        Opt::Skip | Opt::SkipValue => {}
    }
    Ok(())
}

fn header(req: &mut Request, h: &str) -> Result<(), ImportError> {
    if h.starts_with('@') {
        return Err(usage(format!(
            "`-H {h}` reads headers from a file, which is not imported: give each as -H 'Name: value'"
        )));
    }
    if let Some(name) = h.strip_suffix(';').filter(|n| !n.contains(':')) {
        // curl's way to send a header with an empty value.
        req.headers
            .push((name.trim().to_ascii_lowercase(), String::new()));
        return Ok(());
    }
    let Some((name, value)) = h.split_once(':') else {
        return Err(usage(format!(
            "`-H {h}` is not a header: expected 'Name: value'"
        )));
    };
    if http::HeaderName::try_from(name.trim()).is_err() {
        return Err(usage(format!(
            "`-H {h}`: {:?} is not a valid header name",
            name.trim()
        )));
    }
    let value = value.trim();
    if !value.is_empty() {
        // `-H 'Name:'` removes one of curl's own headers; loadtide sends none of them anyway.
        req.headers
            .push((name.trim().to_ascii_lowercase(), value.to_string()));
    }
    Ok(())
}

fn data(req: &mut Request, opt: Opt, v: String, cwd: &Path) -> Result<(), ImportError> {
    if opt == Opt::Json {
        req.json = true;
    }
    let file = v.strip_prefix('@').filter(|_| opt != Opt::DataRaw);
    let Some(file) = file else {
        req.data.push(v);
        return Ok(());
    };
    if file == "-" {
        return Err(usage(
            "a body from standard input (@-) is not imported: give the file's name",
        ));
    }
    let path = cwd.join(file);
    let bytes =
        std::fs::read(&path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    if matches!(opt, Opt::DataBinary | Opt::Json) {
        // Sent byte for byte: loadtide reads the file itself, so binary bodies work too.
        let abs = std::fs::canonicalize(&path).unwrap_or(path);
        req.data_file = Some(abs);
        req.data.push(String::new());
        return Ok(());
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        usage(format!(
            "{} is not UTF-8 text: send it with --data-binary @FILE",
            path.display()
        ))
    })?;
    req.data.push(text.replace(['\r', '\n'], ""));
    Ok(())
}

/// One `--data-urlencode` piece: `content`, `=content`, `name=content`, `@file`, `name@file`.
fn urlencoded(v: &str, cwd: &Path) -> Result<String, ImportError> {
    let (name, content) = match v.find(['=', '@']) {
        Some(i) if v.as_bytes()[i] == b'@' => {
            let path = cwd.join(&v[i + 1..]);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            (&v[..i], text)
        }
        Some(i) => (&v[..i], v[i + 1..].to_string()),
        None => ("", v.to_string()),
    };
    let encoded = percent_encode(&content);
    Ok(if name.is_empty() {
        encoded
    } else {
        format!("{name}={encoded}")
    })
}

/// `user:pass@` taken out of `url`: the URL without it, and the credentials.
fn userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => (
            format!("{scheme}://{}", &rest[at + 1..]),
            Some(rest[..at].to_string()),
        ),
        None => (url.to_string(), None),
    }
}

/// The body the data options make (with the content type curl would add), or, with `-G`,
/// none: the data goes into `url`'s query.
fn body(req: &mut Request, url: &mut Url) -> Result<Option<Body>, ImportError> {
    if req.data.is_empty() {
        return Ok(None);
    }
    if req.get {
        let sep = if url.path.contains('?') { '&' } else { '?' };
        url.path = format!("{}{sep}{}", url.path, req.data.join("&"));
        return Ok(None);
    }
    let body = match req.data_file.take() {
        Some(f) if req.data.len() == 1 => {
            req.notes.push(format!(
                "the body is read from {} when the config loads: keep the file there, or move \
                 it beside the config and make `body_file` relative to it",
                f.display()
            ));
            Body::File(f)
        }
        Some(_) => {
            return Err(usage(
                "a --data-binary @FILE (or --json @FILE) body can't be joined with other data",
            ))
        }
        None => Body::Text(req.data.join(if req.json { "" } else { "&" })),
    };
    let has = |headers: &[(String, String)], n: &str| headers.iter().any(|(k, _)| k == n);
    let defaults: &[(&str, &str)] = if req.json {
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ]
    } else {
        &[("content-type", "application/x-www-form-urlencoded")]
    };
    let looks_json = matches!(&body, Body::Text(t) if t.trim_start().starts_with(['{', '[']));
    if !req.json && looks_json && !has(&req.headers, "content-type") {
        req.notes.push(
            "the body looks like JSON but curl sends -d data as \
             application/x-www-form-urlencoded, and so does this config: use --json, or \
             -H 'Content-Type: application/json', if the service expects JSON"
                .into(),
        );
    }
    for (name, value) in defaults {
        if !has(&req.headers, name) {
            req.headers.push(((*name).into(), (*value).into()));
        }
    }
    Ok(Some(body))
}

fn draft(mut req: Request) -> Result<Draft, ImportError> {
    let raw_url = req
        .url
        .take()
        .ok_or_else(|| usage("no URL: give the one curl would request"))?;
    let raw_url = if raw_url.contains("://") {
        raw_url
    } else {
        req.notes.push(format!(
            "no scheme in {raw_url:?}: http:// assumed, as curl does"
        ));
        format!("http://{raw_url}")
    };
    let (raw_url, creds) = userinfo(&raw_url);
    if req.user.is_none() {
        req.user = creds;
    }
    let mut url = parse_http_url(&raw_url).map_err(usage)?;
    let body = body(&mut req, &mut url)?;
    let method = req.method.clone().unwrap_or_else(|| {
        if req.head {
            "HEAD".into()
        } else if body.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let mut targets = Names::default();
    let name = target_name(&mut targets, &url);
    let mut notes = std::mem::take(&mut req.notes);
    if req.headers.iter().any(|(k, _)| k == "authorization") {
        notes.push(
            "the authorization header is written into the config as given; anyone who reads \
             the config can use it (a scenario's `auth` with `secrets` reads it from the \
             environment instead)"
                .into(),
        );
    }
    let endpoint = RequestDraft {
        name: request_name(&mut Names::default(), &method, &url.path),
        method,
        path: url.path.clone(),
        headers: req.headers,
        body,
        weight: None,
        comments: Vec::new(),
    };
    let mut target = TargetDraft {
        name: name.clone(),
        url: url.origin.clone(),
        host: url.host.clone(),
        timeout: req.timeout,
        http2: req.http2,
        insecure: req.insecure,
        ..TargetDraft::default()
    };
    let mut draft = Draft {
        source: "A loadtide config imported by `loadtide import curl`.".into(),
        ..Draft::default()
    };
    let mut profile = ProfileDraft {
        name: "steady".into(),
        target: Some(name.clone()),
        scenario: None,
        load: Load::Rate(5.0),
    };
    match req.user {
        None => target.endpoints.push(endpoint),
        Some(user) => {
            let (user, _password) = user.split_once(':').unwrap_or((&user, ""));
            // A shell variable's name: `export 127_0_0_1_PASSWORD=…` would be refused.
            let prefix = if name.starts_with(|c: char| c.is_ascii_digit()) {
                "HOST_"
            } else {
                ""
            };
            let env = format!("{prefix}{}_PASSWORD", name.to_ascii_uppercase());
            notes.push(format!(
                "the password of {user:?} is not written into the config: it is read from the \
                 environment variable {env} (set it before check and run)"
            ));
            draft.scenarios.push(ScenarioDraft {
                name: name.clone(),
                target: name.clone(),
                steps: vec![StepDraft::Request(endpoint)],
                basic_auth: Some((user.to_string(), env)),
            });
            profile.target = None;
            profile.scenario = Some(name);
        }
    }
    draft.targets.push(target);
    draft.profiles.push(profile);
    draft.notes = notes;
    Ok(draft)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cmd: &str) -> Draft {
        import(cmd, Path::new(".")).unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    #[test]
    fn method_headers_and_body_are_kept() {
        let d = req(
            r#"curl -X PUT 'https://api.example.com/v1/items?id=3' -H 'Accept: application/json' -H "X-Trace:  abc" --data-raw '{"a":1}' -k --http2"#,
        );
        let t = &d.targets[0];
        assert_eq!(t.name, "api_example_com");
        assert_eq!(t.url, "https://api.example.com");
        assert!(t.insecure && t.http2);
        let e = &t.endpoints[0];
        assert_eq!(e.method, "PUT");
        assert_eq!(e.path, "/v1/items?id=3");
        assert_eq!(e.body, Some(Body::Text(r#"{"a":1}"#.into())));
        assert_eq!(
            e.headers,
            vec![
                ("accept".into(), "application/json".into()),
                ("x-trace".into(), "abc".into()),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into()
                ),
            ]
        );
    }

    #[test]
    fn data_means_post_and_get_moves_it_into_the_query() {
        let d = req("curl http://127.0.0.1:8080/f -d a=1 -d b=2");
        assert_eq!(d.targets[0].endpoints[0].method, "POST");
        assert_eq!(
            d.targets[0].endpoints[0].body,
            Some(Body::Text("a=1&b=2".into()))
        );
        let d = req("curl -G http://127.0.0.1:8080/f?x=0 -d a=1 --data-urlencode 'q=a b'");
        let e = &d.targets[0].endpoints[0];
        assert_eq!(
            (e.method.as_str(), e.path.as_str()),
            ("GET", "/f?x=0&a=1&q=a%20b")
        );
        assert!(e.body.is_none());
    }

    #[test]
    fn clustered_and_attached_short_options() {
        let d = req("curl -sSLk -XDELETE -HAccept:text/plain http://h/x");
        let e = &d.targets[0].endpoints[0];
        assert_eq!(e.method, "DELETE");
        assert_eq!(e.headers, vec![("accept".into(), "text/plain".into())]);
        assert!(d.targets[0].insecure);
        assert!(d.notes.iter().any(|n| n.contains("redirects")));
    }

    #[test]
    fn json_sets_its_headers() {
        let d = req(r#"curl --json '{"n": 2}' http://h/j"#);
        let e = &d.targets[0].endpoints[0];
        assert_eq!(e.method, "POST");
        assert!(e
            .headers
            .contains(&("content-type".into(), "application/json".into())));
        assert!(e
            .headers
            .contains(&("accept".into(), "application/json".into())));
    }

    #[test]
    fn a_password_becomes_an_environment_variable() {
        for cmd in [
            "curl -u alice:s3cret http://127.0.0.1/p",
            "curl http://alice:s3cret@127.0.0.1/p",
        ] {
            let d = req(cmd);
            let s = &d.scenarios[0];
            assert_eq!(
                s.basic_auth,
                Some(("alice".into(), "HOST_127_0_0_1_PASSWORD".into()))
            );
            assert_eq!(d.profiles[0].scenario.as_deref(), Some("127_0_0_1"));
            let text = super::super::render(&d);
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn unknown_options_and_bad_input_are_named() {
        for (cmd, needle) in [
            ("curl --frobnicate http://h/", "`--frobnicate`"),
            ("curl -Z http://h/", "`-Z`"),
            ("curl -X", "`-X` needs a value"),
            ("curl -H 'nocolon' http://h/", "not a header"),
            (
                "curl -H 'Bad Name: x' http://h/",
                "\"Bad Name\" is not a valid header name",
            ),
            ("curl http://a/ http://b/", "more than one URL"),
            ("curl -b cookies.txt http://h/", "reads cookies from a file"),
            ("curl 'http://h/", "cannot split"),
            (
                "curl -d @/nonexistent/x http://h/",
                "cannot read /nonexistent/x",
            ),
            ("curl -k", "no URL"),
            ("curl ws://h/", "HTTP and HTTPS only"),
        ] {
            let e = import(cmd, Path::new(".")).expect_err(cmd);
            assert!(e.to_string().contains(needle), "{cmd}: {e}");
        }
    }

    #[test]
    fn a_browsers_copy_as_curl() {
        let d = req(r#"curl 'https://shop.example.com/api/cart' \
  -H 'accept: */*' \
  -H 'content-type: application/json' \
  -b 'sid=abc; theme=dark' \
  -H 'sec-ch-ua: "Chromium";v="131"' \
  --data-raw $'{"note":"it\'s"}' \
  --compressed"#);
        let e = &d.targets[0].endpoints[0];
        assert_eq!(e.method, "POST");
        assert_eq!(e.body, Some(Body::Text(r#"{"note":"it's"}"#.into())));
        assert_eq!(
            e.headers,
            vec![
                ("accept".into(), "*/*".into()),
                ("content-type".into(), "application/json".into()),
                ("cookie".into(), "sid=abc; theme=dark".into()),
                ("sec-ch-ua".into(), r#""Chromium";v="131""#.into()),
            ]
        );
    }

    #[test]
    fn line_continuations_and_scheme_less_urls() {
        let d = req("curl \\\n  -H 'A: b' \\\n  example.com/x");
        assert_eq!(d.targets[0].url, "http://example.com");
        assert!(d.notes.iter().any(|n| n.contains("http:// assumed")));
    }
}
