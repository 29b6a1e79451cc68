//! Redaction of secrets in text loadtide writes out: the command line recorded in reports and
//! URLs quoted in error messages. Pure functions, no I/O; callers decide where text goes.
//!
//! What is redacted (each replaced by `<redacted>`): every header value given with `-H` /
//! `--header` (any header may carry a credential, so none is kept); the values of flags whose
//! name looks secret (`--password`, `--token`, …, but not `--password-file`: a path) and of
//! `--body` (login bodies carry passwords); in anything that looks like a URL, the userinfo
//! (`user:pass@`) and query values whose key looks secret (`token`, `api_key`, `sig`, …).

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Query keys that hold secrets (case-insensitive substrings).
const SECRET_KEYS: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "signature",
    "sig",
];

fn looks_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// Long flags whose value is a secret; `--*-file` flags name a file and are kept.
fn secret_flag(name: &str) -> bool {
    !name.ends_with("-file")
        && (name == "body"
            || ["password", "passwd", "token", "secret", "api-key", "apikey"]
                .iter()
                .any(|s| name.contains(s)))
}

/// `Name: <redacted>` for a `Name: value` header (the whole text when there is no colon, since
/// then it cannot tell the name from the value).
pub fn header(h: &str) -> String {
    match h.split_once(':') {
        Some((name, _)) => format!("{}: {REDACTED}", name.trim()),
        None => REDACTED.to_string(),
    }
}

/// `u` with its userinfo and secret-looking query values redacted. Text without `://` is
/// returned as it is unless it holds an `@`: then it is read as a URL missing its scheme
/// (`user:pass@host`, a common slip).
///
/// The userinfo normally ends at an `@` before the first `/`, `?` or `#`. A password may
/// also hold one of those unencoded (`user:p#ss@host`): text up to a later `@` counts as
/// userinfo when it starts `name:` followed by something other than a port number, so
/// `host:8080/users/a@b` keeps its path.
pub fn url(u: &str) -> String {
    let Some(scheme_end) = u.find("://").map(|i| i + 3) else {
        if !u.contains('@') {
            return u.to_string();
        }
        return url(&format!("http://{u}"))["http://".len()..].to_string();
    };
    let (head, rest) = u.split_at(scheme_end);
    let delimiter = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..delimiter].rfind('@').or_else(|| {
        let at = rest.rfind('@')?;
        let colon = rest[..delimiter].find(':')?;
        let after = &rest[colon + 1..delimiter];
        (after.is_empty() || !after.bytes().all(|b| b.is_ascii_digit())).then_some(at)
    });
    let (userinfo, rest) = match at {
        Some(at) => (format!("{REDACTED}@"), &rest[at + 1..]),
        None => (String::new(), rest),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, rest) = rest.split_at(end);
    format!("{head}{userinfo}{host}{}", path(rest))
}

/// Short flags of `run` and `capacity` that take a value (the others are switches and may be
/// grouped before one of these, as in `-kH 'Name: value'`).
const SHORT_WITH_VALUE: &[char] = &['C', 'c', 'p', 'u', 'm', 'H', 'b', 'r', 'd', 'n', 't', 's'];

/// How an argument is shown (redacted or not).
type Show = fn(&str) -> String;

/// What a group of short flags (`-kH…`, `-qbBODY`) says: the group as shown, and how to show
/// the next argument when the group's last flag takes it as its value.
fn short_group(arg: &str) -> (String, Option<Show>) {
    let flags = &arg[1..];
    for (i, c) in flags.char_indices() {
        if !SHORT_WITH_VALUE.contains(&c) {
            continue;
        }
        let (group, value) = flags.split_at(i + c.len_utf8());
        let shown: Option<Show> = match c {
            'H' => Some(header),
            'b' => Some(|_| REDACTED.to_string()),
            _ => None,
        };
        return match (value.is_empty(), shown) {
            (true, f) => (arg.to_string(), f.or(Some(url))),
            (false, Some(f)) => (format!("-{group}{}", f(value)), None),
            (false, None) => (format!("-{group}{}", url(value)), None),
        };
    }
    (arg.to_string(), None)
}

/// `path?query#fragment` with secret-looking query values redacted.
pub fn path(rest: &str) -> String {
    let Some(q) = rest.find('?') else {
        return rest.to_string();
    };
    let (path, after) = rest.split_at(q + 1);
    let (query, fragment) = after.split_at(after.find('#').unwrap_or(after.len()));
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if looks_secret(k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}{}{fragment}", pairs.join("&"))
}

/// The command line `args` (argv, program first) joined with spaces, secrets redacted.
pub fn command_line<I: IntoIterator<Item = String>>(args: I) -> String {
    let mut out = Vec::new();
    // What the previous argument says the next one is.
    let mut next: Option<Show> = None;
    for arg in args {
        if let Some(f) = next.take() {
            out.push(f(&arg));
            continue;
        }
        let redacted = if arg == "-H" || arg == "--header" {
            next = Some(header);
            arg
        } else if let Some(h) = arg.strip_prefix("--header=") {
            format!("--header={}", header(h))
        } else if let Some(name) = arg.strip_prefix("--") {
            match name.split_once('=') {
                Some((n, _)) if secret_flag(n) => format!("--{n}={REDACTED}"),
                Some((n, v)) => format!("--{n}={}", url(v)),
                None if secret_flag(name) => {
                    next = Some(|_| REDACTED.to_string());
                    arg
                }
                None => arg,
            }
        } else if arg.len() > 1 && arg.starts_with('-') {
            let (shown, then) = short_group(&arg);
            next = then;
            shown
        } else {
            url(&arg)
        };
        out.push(redacted);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> String {
        command_line(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn every_header_value_is_redacted_in_every_spelling() {
        assert_eq!(
            cmd(&[
                "loadtide",
                "run",
                "-H",
                "Authorization: Bearer S3CRET",
                "--header",
                "X-Team: sre"
            ]),
            "loadtide run -H Authorization: <redacted> --header X-Team: <redacted>"
        );
        assert_eq!(
            cmd(&["loadtide", "--header=Cookie: sid=S3CRET", "-HX-Key:S3CRET"]),
            "loadtide --header=Cookie: <redacted> -HX-Key: <redacted>"
        );
        assert_eq!(cmd(&["-H", "S3CRET"]), "-H <redacted>");
        // Grouped after switches (-k, -q), as clap accepts them.
        assert_eq!(
            cmd(&[
                "loadtide",
                "run",
                "-kH",
                "Authorization: Bearer S3CRET",
                "-qkHX-Key:S3CRET"
            ]),
            "loadtide run -kH Authorization: <redacted> -qkHX-Key: <redacted>"
        );
        assert_eq!(
            cmd(&[
                "-qb",
                "{\"pw\":\"S3CRET\"}",
                "-kb{S3CRET}",
                "-c10",
                "-qn",
                "5"
            ]),
            "-qb <redacted> -kb<redacted> -c10 -qn 5"
        );
    }

    #[test]
    fn url_userinfo_and_secret_query_values_are_redacted() {
        assert_eq!(
            url("http://user:S3CRET@example.com:8080/a?page=2&access_token=S3CRET&Sig=S3CRET#top"),
            "http://<redacted>@example.com:8080/a?page=2&access_token=<redacted>&Sig=<redacted>#top"
        );
        assert_eq!(
            url("https://example.com?API_KEY=S3CRET"),
            "https://example.com?API_KEY=<redacted>"
        );
        assert_eq!(path("/a?x=1&token=S3CRET"), "/a?x=1&token=<redacted>");
        // An '@' in the path is not userinfo.
        assert_eq!(url("http://h/@x?q=1"), "http://h/@x?q=1");
        // A password with an unencoded '#', '/' or '?': up to the last '@' goes.
        for u in [
            "http://u:p#ss@h/x",
            "http://u:p/ss@h/x",
            "http://u:p?ss@h:80",
        ] {
            assert!(url(u).starts_with("http://<redacted>@h"), "{u}: {}", url(u));
            assert!(!url(u).contains("ss@"), "{u}: {}", url(u));
        }
        assert_eq!(url("not a url"), "not a url");
        assert_eq!(url("u:S3CRET@h:9632/x"), "<redacted>@h:9632/x");
        assert_eq!(
            cmd(&[
                "loadtide",
                "run",
                "--url",
                "http://u:S3CRET@h/?token=S3CRET",
                "-r",
                "5"
            ]),
            "loadtide run --url http://<redacted>@h/?token=<redacted> -r 5"
        );
        assert_eq!(
            cmd(&["loadtide", "run", "--url=http://u:S3CRET@h/"]),
            "loadtide run --url=http://<redacted>@h/"
        );
    }

    #[test]
    fn secret_flags_and_bodies_are_redacted_but_file_paths_kept() {
        assert_eq!(
            cmd(&[
                "loadtide",
                "healthcheck",
                "--password",
                "S3CRET",
                "--password-file",
                "/run/pw"
            ]),
            "loadtide healthcheck --password <redacted> --password-file /run/pw"
        );
        assert_eq!(
            cmd(&[
                "loadtide",
                "--api-token=S3CRET",
                "-b",
                "{\"pw\":\"S3CRET\"}",
                "--body",
                "S3CRET"
            ]),
            "loadtide --api-token=<redacted> -b <redacted> --body <redacted>"
        );
        assert_eq!(cmd(&["-bS3CRET"]), "-b<redacted>");
        assert_eq!(
            cmd(&["loadtide", "run", "--rate", "20", "--duration", "1s"]),
            "loadtide run --rate 20 --duration 1s"
        );
    }
}
