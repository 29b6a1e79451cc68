//! What a step takes from a response ([`Extractor`]: JSONPath, header, regex, cookie) and what
//! it asserts about it ([`Check`]). Both are compiled from config strings once, then applied
//! per response; neither allocates a label from response content.

use std::fmt;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, SET_COOKIE};
use serde_json_path::JsonPath;

/// A compiled JSONPath that remembers the text it came from (for check names and messages).
#[derive(Clone)]
pub struct JsonQuery {
    text: String,
    path: JsonPath,
}

impl JsonQuery {
    pub fn parse(text: &str) -> Result<Self, String> {
        let path = JsonPath::parse(text).map_err(|e| format!("invalid JSONPath {text:?}: {e}"))?;
        Ok(Self {
            text: text.to_owned(),
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first node the path selects in `body`; `None` if the body is not JSON or nothing
    /// matches. Parses the body on every call.
    fn first(&self, body: &[u8]) -> Option<serde_json::Value> {
        let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
        self.path.query(&doc).first().cloned()
    }
}

impl fmt::Debug for JsonQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonQuery({:?})", self.text)
    }
}

/// Takes one value from a response into a user variable.
#[derive(Debug, Clone)]
pub enum Extractor {
    /// The first match; strings unquoted, numbers and booleans as their JSON text, arrays and
    /// objects as compact JSON, `null` as no value.
    Json(JsonQuery),
    /// The first value of the header (names are case-insensitive).
    Header(HeaderName),
    /// The capture group of the first match in the body.
    Regex(regex::bytes::Regex, usize),
    /// The value of the last `Set-Cookie` with this name.
    Cookie(String),
}

impl Extractor {
    pub fn json(path: &str) -> Result<Self, String> {
        JsonQuery::parse(path).map(Self::Json)
    }

    pub fn header(name: &str) -> Result<Self, String> {
        HeaderName::from_bytes(name.as_bytes())
            .map(Self::Header)
            .map_err(|_| format!("invalid header name {name:?}"))
    }

    /// `group` defaults to 1, or to 0 (the whole match) when the regex has no groups.
    pub fn regex(pattern: &str, group: Option<usize>) -> Result<Self, String> {
        let re = regex::bytes::Regex::new(pattern)
            .map_err(|e| format!("invalid regex {pattern:?}: {}", regex_reason(&e)))?;
        let groups = re.captures_len() - 1;
        let group = group.unwrap_or(usize::from(groups > 0));
        if group > groups {
            return Err(format!(
                "regex {pattern:?} has no group {group} (it has {groups})"
            ));
        }
        Ok(Self::Regex(re, group))
    }

    pub fn cookie(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !valid {
            return Err(format!("invalid cookie name {name:?}"));
        }
        Ok(Self::Cookie(name.to_owned()))
    }

    /// The extracted value, or `None` when the response does not have it.
    pub fn extract(&self, _status: u16, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        match self {
            Self::Json(query) => match query.first(body)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s),
                other => Some(other.to_string()),
            },
            Self::Header(name) => headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Self::Regex(re, group) => {
                let m = re.captures(body)?.get(*group)?;
                Some(String::from_utf8_lossy(m.as_bytes()).into_owned())
            }
            Self::Cookie(name) => headers
                .get_all(SET_COOKIE)
                .iter()
                .rev()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| cookie::Cookie::parse(v).ok())
                .find(|c| c.name() == name)
                .map(|c| c.value().to_owned()),
        }
    }
}

/// The one-line reason from a regex error, whose display spans several lines.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default())
        .trim()
        .to_owned()
}

/// One assertion about a step's response.
#[derive(Debug, Clone)]
pub enum Check {
    /// The status is one of these.
    Status(Vec<u16>),
    /// The body contains this text (bytes, case-sensitive).
    BodyContains(String),
    /// The JSONPath selects at least one node (a `null` counts).
    JsonExists(JsonQuery),
    /// The first node the JSONPath selects equals this value (numbers compare by value: 1 == 1.0).
    JsonEquals(JsonQuery, serde_json::Value),
    /// The latency is at most this.
    MaxLatency(Duration),
}

/// Longest JSONPath text kept in a check name, so labels stay bounded.
const MAX_PATH_IN_NAME: usize = 48;

impl Check {
    pub fn json_exists(path: &str) -> Result<Self, String> {
        JsonQuery::parse(path).map(Self::JsonExists)
    }

    pub fn json_equals(path: &str, value: serde_json::Value) -> Result<Self, String> {
        JsonQuery::parse(path).map(|q| Self::JsonEquals(q, value))
    }

    /// A short label for `loadtide_checks_total{check}`, derived from config only:
    /// `status`, `body_contains`, `json $.ok exists`, `json $.ok equals`, `max_latency`.
    pub fn name(&self) -> String {
        match self {
            Self::Status(_) => "status".to_owned(),
            Self::BodyContains(_) => "body_contains".to_owned(),
            Self::JsonExists(q) => format!("json {} exists", bounded(q.as_str())),
            Self::JsonEquals(q, _) => format!("json {} equals", bounded(q.as_str())),
            Self::MaxLatency(_) => "max_latency".to_owned(),
        }
    }

    pub fn evaluate(
        &self,
        status: u16,
        _headers: &HeaderMap,
        body: &[u8],
        latency: Duration,
    ) -> bool {
        match self {
            Self::Status(codes) => codes.contains(&status),
            Self::BodyContains(text) => memchr::memmem::find(body, text.as_bytes()).is_some(),
            Self::JsonExists(q) => {
                let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return false;
                };
                !q.path.query(&doc).is_empty()
            }
            Self::JsonEquals(q, expected) => q.first(body).is_some_and(|v| json_eq(&v, expected)),
            Self::MaxLatency(max) => latency <= *max,
        }
    }
}

fn bounded(text: &str) -> &str {
    match text.char_indices().nth(MAX_PATH_IN_NAME) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// JSON equality where numbers compare by value, so a config's `1` matches a response's `1.0`.
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    const BODY: &[u8] = br#"{"token":"abc.def","n":42,"f":1.5,"ok":true,"none":null,
        "items":[{"id":7,"tags":["a"]},{"id":8}],"user":{"name":"ada"}}"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("valid header value"));
        }
        h
    }

    fn extract(e: &Extractor, h: &HeaderMap, body: &[u8]) -> Option<String> {
        e.extract(200, h, body)
    }

    #[test]
    fn json_extracts_strings_unquoted_and_numbers_as_text() {
        let h = HeaderMap::new();
        let get = |p: &str| extract(&Extractor::json(p).expect("valid path"), &h, BODY);
        assert_eq!(get("$.token").as_deref(), Some("abc.def"));
        assert_eq!(get("$.n").as_deref(), Some("42"));
        assert_eq!(get("$.f").as_deref(), Some("1.5"));
        assert_eq!(get("$.ok").as_deref(), Some("true"));
        assert_eq!(get("$.items[0].id").as_deref(), Some("7"));
        assert_eq!(get("$.items[*].id").as_deref(), Some("7"), "first match");
        assert_eq!(get("$.items[0].tags").as_deref(), Some(r#"["a"]"#));
        assert_eq!(get("$.user").as_deref(), Some(r#"{"name":"ada"}"#));
    }

    #[test]
    fn json_missing_null_or_not_json_is_none() {
        let h = HeaderMap::new();
        let e = Extractor::json("$.missing").expect("valid path");
        assert_eq!(extract(&e, &h, BODY), None);
        assert_eq!(
            extract(&Extractor::json("$.none").expect("valid"), &h, BODY),
            None
        );
        assert_eq!(
            extract(&Extractor::json("$.items[5].id").expect("valid"), &h, BODY),
            None
        );
        assert_eq!(
            extract(&Extractor::json("$.token").expect("valid"), &h, b"<html>"),
            None
        );
        assert_eq!(
            extract(&Extractor::json("$.token").expect("valid"), &h, b""),
            None
        );
    }

    #[test]
    fn invalid_jsonpath_is_a_clear_error() {
        let err = Extractor::json("$..[").expect_err("invalid");
        assert!(err.starts_with(r#"invalid JSONPath "$..[": "#), "{err}");
        let err = Check::json_exists("token").expect_err("no root");
        assert!(err.starts_with(r#"invalid JSONPath "token": "#), "{err}");
    }

    #[test]
    fn header_is_case_insensitive_and_takes_the_first_value() {
        let h = headers(&[("x-request-id", "r1"), ("x-request-id", "r2")]);
        let e = Extractor::header("X-Request-ID").expect("valid name");
        assert_eq!(extract(&e, &h, b"").as_deref(), Some("r1"));
        let missing = Extractor::header("location").expect("valid name");
        assert_eq!(extract(&missing, &h, b""), None);
        assert_eq!(
            Extractor::header("bad name").expect_err("space"),
            r#"invalid header name "bad name""#
        );
    }

    #[test]
    fn regex_uses_group_one_by_default_and_zero_without_groups() {
        let h = HeaderMap::new();
        let body = b"<input name=\"csrf\" value=\"t0k3n\"> order 12345";
        let e = Extractor::regex(r#"value="([^"]+)""#, None).expect("valid");
        assert_eq!(extract(&e, &h, body).as_deref(), Some("t0k3n"));
        let whole = Extractor::regex(r"\d{5}", None).expect("valid");
        assert_eq!(extract(&whole, &h, body).as_deref(), Some("12345"));
        let second = Extractor::regex(r"(order) (\d+)", Some(2)).expect("valid");
        assert_eq!(extract(&second, &h, body).as_deref(), Some("12345"));
        let zero = Extractor::regex(r"(order) (\d+)", Some(0)).expect("valid");
        assert_eq!(extract(&zero, &h, body).as_deref(), Some("order 12345"));
    }

    #[test]
    fn regex_without_a_match_or_an_unmatched_group_is_none() {
        let h = HeaderMap::new();
        let e = Extractor::regex(r"id=(\d+)", None).expect("valid");
        assert_eq!(extract(&e, &h, b"no ids here"), None);
        let optional = Extractor::regex(r"a(x)?b", None).expect("valid");
        assert_eq!(extract(&optional, &h, b"ab"), None);
    }

    #[test]
    fn regex_errors_are_one_line() {
        assert_eq!(
            Extractor::regex("(", None).expect_err("unclosed"),
            r#"invalid regex "(": unclosed group"#
        );
        assert_eq!(
            Extractor::regex(r"(\d+)", Some(2)).expect_err("no group 2"),
            r#"regex "(\\d+)" has no group 2 (it has 1)"#
        );
    }

    #[test]
    fn cookie_takes_the_named_set_cookie() {
        let h = headers(&[
            ("set-cookie", "theme=dark; Path=/"),
            ("set-cookie", "session=s1; HttpOnly; Secure"),
        ]);
        let e = Extractor::cookie("session").expect("valid");
        assert_eq!(extract(&e, &h, b"").as_deref(), Some("s1"));
        let missing = Extractor::cookie("other").expect("valid");
        assert_eq!(extract(&missing, &h, b""), None);
        assert_eq!(extract(&e, &HeaderMap::new(), b""), None);
        let twice = headers(&[("set-cookie", "session=old"), ("set-cookie", "session=new")]);
        assert_eq!(
            extract(&e, &twice, b"").as_deref(),
            Some("new"),
            "the last one wins"
        );
        assert!(Extractor::cookie("").is_err());
        assert!(Extractor::cookie("a=b").is_err());
    }

    fn eval(c: &Check, status: u16, body: &[u8], ms: u64) -> bool {
        c.evaluate(status, &HeaderMap::new(), body, Duration::from_millis(ms))
    }

    #[test]
    fn status_check() {
        let c = Check::Status(vec![200, 201]);
        assert!(eval(&c, 201, b"", 0));
        assert!(!eval(&c, 500, b"", 0));
    }

    #[test]
    fn body_contains_check() {
        let c = Check::BodyContains("welcome".into());
        assert!(eval(&c, 200, b"<h1>welcome, ada</h1>", 0));
        assert!(!eval(&c, 200, b"<h1>Welcome</h1>", 0));
        assert!(!eval(&c, 200, b"", 0));
    }

    #[test]
    fn json_exists_check() {
        assert!(eval(
            &Check::json_exists("$.ok").expect("valid"),
            200,
            BODY,
            0
        ));
        assert!(eval(
            &Check::json_exists("$.none").expect("valid"),
            200,
            BODY,
            0
        ));
        assert!(!eval(
            &Check::json_exists("$.nope").expect("valid"),
            200,
            BODY,
            0
        ));
        assert!(!eval(
            &Check::json_exists("$.ok").expect("valid"),
            200,
            b"not json",
            0
        ));
    }

    #[test]
    fn json_equals_check() {
        let eq = |p: &str, v| eval(&Check::json_equals(p, v).expect("valid"), 200, BODY, 0);
        assert!(eq("$.ok", json!(true)));
        assert!(!eq("$.ok", json!(false)));
        assert!(eq("$.token", json!("abc.def")));
        assert!(eq("$.n", json!(42)));
        assert!(eq("$.n", json!(42.0)), "numbers compare by value");
        assert!(!eq("$.n", json!("42")), "a string is not a number");
        assert!(eq("$.items[1]", json!({"id": 8.0})));
        assert!(!eq("$.missing", json!(null)));
        assert!(eq("$.none", json!(null)));
    }

    #[test]
    fn max_latency_check() {
        let c = Check::MaxLatency(Duration::from_millis(250));
        assert!(eval(&c, 200, b"", 250));
        assert!(!eval(&c, 200, b"", 251));
    }

    #[test]
    fn check_names_come_from_config_and_are_bounded() {
        assert_eq!(Check::Status(vec![200]).name(), "status");
        assert_eq!(
            Check::BodyContains("secret text".into()).name(),
            "body_contains"
        );
        assert_eq!(
            Check::json_exists("$.ok").expect("valid").name(),
            "json $.ok exists"
        );
        assert_eq!(
            Check::json_equals("$.items[0].id", json!(7))
                .expect("valid")
                .name(),
            "json $.items[0].id equals"
        );
        assert_eq!(
            Check::MaxLatency(Duration::from_secs(1)).name(),
            "max_latency"
        );
        let long = format!("$.{}", "a".repeat(200));
        let name = Check::json_exists(&long).expect("valid").name();
        assert_eq!(name.len(), "json  exists".len() + MAX_PATH_IN_NAME);
    }
}
