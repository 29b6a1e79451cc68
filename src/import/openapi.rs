//! `loadtide import openapi FILE`: an OpenAPI 3.x description (JSON or YAML) as one target
//! with an endpoint per operation. Path parameters (and required query and header
//! parameters) are filled from their `example`, `default` or first `enum` value, else from
//! their type, and each endpoint's comment says which value it got and why; a JSON request
//! body comes from the media type's or schema's example, else is built from the schema.
//! Reads weigh more than writes. Only local `$ref`s (`#/components/...`) are followed.

use std::cell::RefCell;
use std::path::Path;

use serde_yaml::Value;

use super::{
    parse_http_url, percent_encode, request_name, slug, target_name, Body, Draft, ImportError,
    Load, Names, ProfileDraft, RequestDraft, TargetDraft,
};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// `$ref` chains and generated bodies go at most this deep (recursive schemas end here).
const MAX_DEPTH: usize = 8;
/// A GET's share against every other method's 1.
const READ_WEIGHT: u64 = 3;

/// The config draft for the OpenAPI description at `path`, aimed at `url` if given (else at
/// its `servers[0]`).
pub fn import(path: &Path, url: Option<&str>) -> Result<Draft, ImportError> {
    let input = path.display().to_string();
    let bad = |m: String| ImportError::new(&input, m);
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let doc: Value = if json {
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?
    } else {
        serde_yaml::from_str(&text).map_err(|e| bad(format!("not YAML: {e}")))?
    };
    match doc.get("openapi").and_then(scalar) {
        Some(v) if v.starts_with("3.") => {}
        Some(v) => return Err(bad(format!("OpenAPI {v} is not imported (3.x only)"))),
        None if doc.get("swagger").is_some() => {
            return Err(bad(
                "a Swagger 2.0 description is not imported: convert it to OpenAPI 3 first".into(),
            ))
        }
        None => {
            return Err(bad(
                "not an OpenAPI description: no top-level `openapi` version".into(),
            ))
        }
    }
    let base = server(&doc, url).map_err(bad)?;
    let parsed = parse_http_url(&base).map_err(|e| bad(format!("server URL: {e}")))?;
    let spec = Spec {
        doc: &doc,
        building: RefCell::default(),
    };
    let mut endpoints = Vec::new();
    let mut names = Names::default();
    let mut notes = Vec::new();
    let paths = doc.get("paths").and_then(Value::as_mapping);
    for (p, item) in paths.into_iter().flatten() {
        let (Some(p), Some(item)) = (p.as_str(), item.as_mapping()) else {
            continue;
        };
        let item = spec.resolve(&Value::Mapping(item.clone()));
        // In the description's order (a path item's other keys are not operations).
        for (m, op) in item.as_mapping().into_iter().flatten() {
            if let Some(m) = m.as_str().filter(|m| METHODS.contains(m)) {
                endpoints.push(spec.operation(p, m, &item, op, &mut names, &mut notes));
            }
        }
    }
    if endpoints.is_empty() {
        return Err(bad("no operations under `paths`: nothing to import".into()));
    }
    let writes: Vec<&str> = endpoints
        .iter()
        .filter(|e| !matches!(e.method.as_str(), "GET" | "HEAD" | "OPTIONS"))
        .map(|e| e.name.as_str())
        .collect();
    if !writes.is_empty() {
        notes.push(format!(
            "{} operations may change data ({}): remove the ones not to run against a shared \
             environment",
            writes.len(),
            writes.join(", ")
        ));
    }
    let mut target_names = Names::default();
    let name = target_name(&mut target_names, &parsed);
    let comments = spec.credentials(&name, &mut notes);
    let title = doc
        .get("info")
        .and_then(|i| i.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("the API");
    Ok(Draft {
        source: format!(
            "A loadtide config imported by `loadtide import openapi` from {title:?} ({} operations).",
            endpoints.len()
        ),
        targets: vec![TargetDraft {
            name: name.clone(),
            url: base.trim_end_matches('/').to_string(),
            host: parsed.host,
            comments,
            endpoints,
            ..TargetDraft::default()
        }],
        scenarios: Vec::new(),
        profiles: vec![ProfileDraft {
            name: "steady".into(),
            target: Some(name),
            scenario: None,
            load: Load::Rate(5.0),
        }],
        notes,
    })
}

/// The base URL: `--url`, else `servers[0].url` with its variables at their defaults.
fn server(doc: &Value, url: Option<&str>) -> Result<String, String> {
    if let Some(u) = url {
        return Ok(u.to_string());
    }
    let first = doc.get("servers").and_then(|s| s.get(0));
    let Some(mut u) = first
        .and_then(|s| s.get("url"))
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return Err("no `servers[0].url`: give the service's URL with --url".into());
    };
    if let Some(vars) = first
        .and_then(|s| s.get("variables"))
        .and_then(Value::as_mapping)
    {
        for (k, v) in vars {
            if let (Some(k), Some(d)) = (k.as_str(), v.get("default").and_then(scalar)) {
                u = u.replace(&format!("{{{k}}}"), &d);
            }
        }
    }
    if !u.contains("://") {
        return Err(format!(
            "`servers[0].url` {u:?} is relative: give the service's URL with --url \
             (e.g. --url http://127.0.0.1:8080{u})"
        ));
    }
    Ok(u)
}

/// A number, string or boolean as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

struct Spec<'a> {
    doc: &'a Value,
    /// The `$ref`s of the schemas `build` is inside of, outermost first.
    building: RefCell<Vec<String>>,
}

impl Spec<'_> {
    /// `v` with a local `$ref` followed (up to `MAX_DEPTH` hops); anything else as it is.
    fn resolve(&self, v: &Value) -> Value {
        let mut v = v.clone();
        for _ in 0..MAX_DEPTH {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            let Some(found) = self.pointer(r) else {
                return Value::Null;
            };
            v = found.clone();
        }
        Value::Null
    }

    fn pointer(&self, r: &str) -> Option<&Value> {
        let mut at = self.doc;
        for seg in r.strip_prefix("#/")?.split('/') {
            let seg = seg.replace("~1", "/").replace("~0", "~");
            at = at.get(seg.as_str())?;
        }
        Some(at)
    }

    fn operation(
        &self,
        path: &str,
        method: &str,
        item: &Value,
        op: &Value,
        names: &mut Names,
        notes: &mut Vec<String>,
    ) -> RequestDraft {
        let method_up = method.to_ascii_uppercase();
        let name = match op.get("operationId").and_then(Value::as_str) {
            Some(id) => names.unique(&slug(&snake(id), "operation")),
            None => request_name(names, &method_up, path),
        };
        let mut comments = vec![match op.get("summary").and_then(Value::as_str) {
            Some(s) => format!("{method_up} {path}: {}", s.trim()),
            None => format!("{method_up} {path}"),
        }];
        let mut filled_path = path.to_string();
        let (mut query, mut headers, mut filled) = (Vec::new(), Vec::new(), Vec::new());
        for p in self.parameters(item, op) {
            let (Some(pname), Some(place)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let required = p.get("required").and_then(Value::as_bool) == Some(true);
            if place != "path" && !required {
                continue;
            }
            let (value, why) = self.param_value(&p);
            filled.push(format!("{pname} = {value} ({why})"));
            match place {
                "path" => {
                    filled_path =
                        filled_path.replace(&format!("{{{pname}}}"), &percent_encode(&value));
                }
                "query" => query.push(format!(
                    "{}={}",
                    percent_encode(pname),
                    percent_encode(&value)
                )),
                "header" => headers.push((pname.to_ascii_lowercase(), value)),
                _ => {} // cookie parameters: left to the user
            }
        }
        // A `{name}` no parameter declares: filled all the same, so the path is valid.
        while let Some((start, end)) = filled_path
            .find('{')
            .and_then(|a| Some((a, a + filled_path[a..].find('}')?)))
        {
            let pname = filled_path[start + 1..end].to_string();
            filled.push(format!("{pname} = example (not declared)"));
            filled_path.replace_range(start..=end, "example");
        }
        if !filled.is_empty() {
            comments.push(format!("parameters: {}", filled.join(", ")));
        }
        if !query.is_empty() {
            filled_path = format!("{filled_path}?{}", query.join("&"));
        }
        let body = self.body(op, &name, notes);
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        RequestDraft {
            name,
            weight: Some(if method == "get" { READ_WEIGHT } else { 1 }),
            method: method_up,
            path: filled_path,
            headers,
            body: body.map(Body::Text),
            comments,
        }
    }

    /// The path item's parameters, overridden by the operation's of the same name and place.
    fn parameters(&self, item: &Value, op: &Value) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        for list in [item.get("parameters"), op.get("parameters")] {
            for p in list.and_then(Value::as_sequence).into_iter().flatten() {
                let p = self.resolve(p);
                let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
                out.retain(|o| key(o) != key(&p));
                out.push(p);
            }
        }
        out
    }

    /// A parameter's value and where it came from.
    fn param_value(&self, p: &Value) -> (String, &'static str) {
        if let Some(v) = p.get("example").and_then(scalar) {
            return (v, "its example");
        }
        if let Some(v) = first_example(p).and_then(|v| scalar(&v)) {
            return (v, "its example");
        }
        let schema = self.resolve(p.get("schema").unwrap_or(&Value::Null));
        for (key, why) in [("example", "its example"), ("default", "its default")] {
            if let Some(v) = schema.get(key).and_then(scalar) {
                return (v, why);
            }
        }
        if let Some(v) = schema.get("enum").and_then(|e| e.get(0)).and_then(scalar) {
            return (v, "its first enum value");
        }
        let v = by_type(&schema);
        (
            scalar(&v).unwrap_or_else(|| "example".into()),
            "from its type",
        )
    }

    /// The operation's JSON request body: an example, else one built from the schema.
    fn body(&self, op: &Value, name: &str, notes: &mut Vec<String>) -> Option<String> {
        let rb = self.resolve(op.get("requestBody")?);
        let content = rb.get("content")?.as_mapping()?;
        let json = content.iter().find(|(k, _)| {
            k.as_str()
                .is_some_and(|k| k.starts_with("application/json") || k.contains("+json"))
        });
        let Some((_, media)) = json else {
            let types: Vec<&str> = content.keys().filter_map(Value::as_str).collect();
            notes.push(format!(
                "{name}: its request body ({}) is not JSON and was left out",
                types.join(", ")
            ));
            return None;
        };
        let schema = self.resolve(media.get("schema").unwrap_or(&Value::Null));
        let example = media
            .get("example")
            .cloned()
            .or_else(|| first_example(media))
            .or_else(|| schema.get("example").cloned())
            .unwrap_or_else(|| self.build(&schema, 0));
        let example = self.resolve(&example);
        // Straight from the YAML value, so the keys keep the description's order.
        serde_json::to_string(&example).ok()
    }

    /// A value that fits `schema`: its example or default, else its properties' (required
    /// ones, or all when none is), its items', its type's.
    fn build(&self, schema: &Value, depth: usize) -> Value {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            // A schema that contains itself (a tree's children) ends where it recurs.
            if self.building.borrow().iter().any(|b| b == r) {
                return Value::Null;
            }
            self.building.borrow_mut().push(r.to_string());
            let v = self.build(&self.resolve(schema), depth);
            self.building.borrow_mut().pop();
            return v;
        }
        let schema = schema.clone();
        if let Some(v) = schema.get("example").or_else(|| schema.get("default")) {
            return v.clone();
        }
        if let Some(v) = schema.get("enum").and_then(|e| e.get(0)) {
            return v.clone();
        }
        if depth >= MAX_DEPTH {
            return Value::Null;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_sequence) {
            let mut merged = serde_yaml::Mapping::new();
            for s in all {
                if let Value::Mapping(m) = self.build(s, depth + 1) {
                    merged.extend(m);
                }
            }
            return Value::Mapping(merged);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(first) = schema.get(key).and_then(|s| s.get(0)) {
                return self.build(first, depth + 1);
            }
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_mapping) {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_sequence)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in props {
                let keep = required.is_empty() || k.as_str().is_some_and(|k| required.contains(&k));
                if keep {
                    out.insert(k.clone(), self.build(v, depth + 1));
                }
            }
            return Value::Mapping(out);
        }
        if schema.get("type").and_then(Value::as_str) == Some("array") {
            let item = self.build(schema.get("items").unwrap_or(&Value::Null), depth + 1);
            return Value::Sequence(vec![item]);
        }
        by_type(&schema)
    }

    /// Where the credentials the description asks for would go: comment lines for the
    /// target, and a note.
    fn credentials(&self, target: &str, notes: &mut Vec<String>) -> Vec<String> {
        let Some(schemes) = self
            .doc
            .get("components")
            .and_then(|c| c.get("securitySchemes"))
            .and_then(Value::as_mapping)
        else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for (name, s) in schemes {
            let s = self.resolve(s);
            let kind = s.get("type").and_then(Value::as_str).unwrap_or("");
            let scheme = s.get("scheme").and_then(Value::as_str).unwrap_or("");
            let line = match (kind, scheme.to_ascii_lowercase().as_str()) {
                ("http", "basic") => "headers = { \"authorization\" = \"Basic …\" }".to_string(),
                ("http", _) | ("oauth2" | "openIdConnect", _) => {
                    "headers = { \"authorization\" = \"Bearer …\" }".to_string()
                }
                ("apiKey", _) if s.get("in").and_then(Value::as_str) == Some("header") => {
                    let h = s.get("name").and_then(Value::as_str).unwrap_or("x-api-key");
                    format!("headers = {{ {:?} = \"…\" }}", h.to_ascii_lowercase())
                }
                _ => continue,
            };
            let name = name.as_str().unwrap_or("?");
            lines.push(format!("{line}   # security scheme {name:?}"));
        }
        if !lines.is_empty() {
            notes.push(format!(
                "the API declares credentials ({} scheme(s)): fill in targets.{target}.headers \
                 (left commented out)",
                lines.len()
            ));
        }
        lines
    }
}

/// `getPetById` -> `get_Pet_By_Id` (slug then lowers it): camelCase words kept apart.
fn snake(id: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in id.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// The first of an `examples` map's values.
fn first_example(v: &Value) -> Option<Value> {
    let (_, e) = v.get("examples")?.as_mapping()?.iter().next()?;
    e.get("value").cloned()
}

/// A plain value of the schema's type and format.
fn by_type(schema: &Value) -> Value {
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    match schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
    {
        "integer" | "number" => Value::Number(1.into()),
        "boolean" => Value::Bool(true),
        "array" => Value::Sequence(Vec::new()),
        "object" => Value::Mapping(serde_yaml::Mapping::new()),
        _ => Value::String(
            match format {
                "uuid" => "00000000-0000-4000-8000-000000000001",
                "date" => "2026-01-01",
                "date-time" => "2026-01-01T00:00:00Z",
                "email" => "user@example.com",
                "uri" | "url" => "https://example.com/",
                _ => "example",
            }
            .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("YAML")
    }

    #[test]
    fn a_recursive_schema_ends_where_it_recurs() {
        let doc = spec(
            "components: {schemas: {Node: {type: object, properties: {name: {type: string}, \
             children: {type: array, items: {$ref: '#/components/schemas/Node'}}}}}}",
        );
        let s = Spec {
            doc: &doc,
            building: RefCell::default(),
        };
        let v = s.build(&spec("$ref: '#/components/schemas/Node'"), 0);
        let json = serde_json::to_string(&v).expect("JSON");
        assert_eq!(json, r#"{"name":"example","children":[null]}"#);
    }

    #[test]
    fn values_by_type_and_format() {
        for (schema, want) in [
            ("{type: integer}", "1"),
            ("{type: boolean}", "true"),
            (
                "{type: string, format: uuid}",
                "00000000-0000-4000-8000-000000000001",
            ),
            ("{type: string}", "example"),
            ("{}", "example"),
        ] {
            assert_eq!(
                scalar(&by_type(&spec(schema))).as_deref(),
                Some(want),
                "{schema}"
            );
        }
    }

    #[test]
    fn operation_ids_keep_their_words() {
        assert_eq!(slug(&snake("getPetById"), "x"), "get_pet_by_id");
        assert_eq!(slug(&snake("list-users_v2"), "x"), "list_users_v2");
    }

    #[test]
    fn server_variables_take_their_defaults() {
        let doc = spec(
            "servers: [{url: '{proto}://h:{port}/v1', variables: {proto: {default: http}, \
             port: {default: '8080'}}}]",
        );
        assert_eq!(server(&doc, None).expect("url"), "http://h:8080/v1");
        assert_eq!(server(&doc, Some("http://x/")).expect("url"), "http://x/");
        assert!(server(&spec("{}"), None)
            .expect_err("none")
            .contains("--url"));
    }
}
