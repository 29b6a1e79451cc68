//! Templated paths, headers and bodies: compiled once per scenario with minijinja, rendered
//! per request against a virtual user's [`Vars`]. Undefined variables are errors (strict mode),
//! never an empty string sent to the target. Generators (`seq()`, `random_int(lo, hi)`,
//! `uuid()`, `choice(list)`, `timestamp()`, `timestamp_ms()`) are global functions; `seq()` is
//! one counter shared by every user of the scenario. Nothing here performs I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// The generator functions every template can call; not variables, so [`Templates::declared`]
/// leaves them out.
pub const GENERATORS: [&str; 6] = [
    "seq",
    "random_int",
    "uuid",
    "choice",
    "timestamp",
    "timestamp_ms",
];

/// A template that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid template: {message}")]
pub struct TemplateError {
    message: String,
}

/// A scenario's templates, compiled once, rendered many times from any thread.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.templates().map(|(name, _)| name).collect();
        f.debug_struct("Templates").field("names", &names).finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An empty set with the generators registered and a fresh `seq()` counter.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Bodies are JSON, form data or plain text: never HTML-escape, whatever the name says.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // A body template's last newline is part of the body.
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true);
        env.set_syntax(syntax.build().expect("the default delimiters are valid"));

        let seq = Arc::new(AtomicU64::new(0));
        env.add_function("seq", move || seq.fetch_add(1, Ordering::Relaxed) + 1);
        env.add_function("random_int", random_int);
        env.add_function("uuid", uuid);
        env.add_function("choice", choice);
        env.add_function("timestamp", || unix_time().as_secs());
        env.add_function("timestamp_ms", || {
            u64::try_from(unix_time().as_millis()).unwrap_or(u64::MAX)
        });
        Self { env }
    }

    /// Compiles `source` under `name` (e.g. `"login.body"`), replacing any earlier one.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| TemplateError {
                message: describe(&e),
            })
    }

    /// Renders the template `name` for one user. Errors name the undefined variable, if that is
    /// what went wrong: `undefined variable "tokn" (line 1)`.
    pub fn render(&self, name: &str, vars: &Vars) -> Result<String, String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|_| format!("no template named {name:?}"))?;
        tmpl.render(vars.to_value()).map_err(|e| {
            if e.kind() == ErrorKind::UndefinedError {
                if let Some(missing) = self.first_undefined(name, vars) {
                    return format!("undefined variable {missing:?}{}", line_of(&e));
                }
            }
            describe(&e)
        })
    }

    /// The top-level variables template `name` reads (`{{ user.name }}` → `user`), without the
    /// generators and without names it sets itself. Empty for an unknown name.
    pub fn declared(&self, name: &str) -> BTreeSet<String> {
        self.undeclared(name, false)
    }

    /// Like [`Templates::declared`], with trivial attribute lookups kept (`user.name`), so a
    /// feeder's columns can be checked with [`crate::scenario::Feeder::require_columns`].
    pub fn declared_paths(&self, name: &str) -> BTreeSet<String> {
        self.undeclared(name, true)
    }

    fn undeclared(&self, name: &str, nested: bool) -> BTreeSet<String> {
        let Ok(tmpl) = self.env.get_template(name) else {
            return BTreeSet::new();
        };
        tmpl.undeclared_variables(nested)
            .into_iter()
            .filter(|v| !GENERATORS.contains(&v.split('.').next().unwrap_or(v)))
            .collect()
    }

    /// The first referenced variable path that `vars` cannot resolve. Only on the error path:
    /// it reparses the template.
    fn first_undefined(&self, name: &str, vars: &Vars) -> Option<String> {
        self.undeclared(name, true).into_iter().find(|path| {
            let mut parts = path.split('.');
            let Some(mut value) = parts.next().and_then(|top| vars.get(top)).cloned() else {
                return true;
            };
            for part in parts {
                match value.get_attr(part) {
                    Ok(v) if !v.is_undefined() => value = v,
                    _ => return true,
                }
            }
            false
        })
    }
}

/// One virtual user's variables: extracted values, feeder rows (nested maps, so
/// `{{ user.name }}` works) and constants. Cloning is cheap until one side changes.
/// `Debug` shows the names only: values may be tokens or passwords.
#[derive(Clone, Default)]
pub struct Vars {
    map: Arc<BTreeMap<Arc<str>, Value>>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to a string, a number, or a map (e.g. a [`crate::scenario::Row`]).
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        Arc::make_mut(&mut self.map).insert(Arc::from(name), value.into());
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The variable names, sorted (for "known: …" in error messages).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(|k| &**k)
    }

    /// The render context: shares the map, copies nothing.
    fn to_value(&self) -> Value {
        Value::from_dyn_object(Arc::clone(&self.map))
    }
}

fn random_int(lo: i64, hi: i64) -> Result<i64, Error> {
    if lo > hi {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("random_int({lo}, {hi}): the low bound is above the high bound"),
        ));
    }
    Ok(fastrand::i64(lo..=hi))
}

/// A version 4 UUID from the thread-local fast generator: unique enough for request ids and
/// idempotency keys, without a system call per request. Not for secrets.
fn uuid() -> String {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .to_string()
}

/// `choice(["a", "b"])` or `choice("a", "b")`.
fn choice(args: Rest<Value>) -> Result<Value, Error> {
    let items: Vec<Value> = match args.0.as_slice() {
        [one] if matches!(one.kind(), ValueKind::Seq) => one.try_iter()?.collect(),
        _ => args.0,
    };
    if items.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "choice() needs a non-empty list",
        ));
    }
    Ok(items[fastrand::usize(..items.len())].clone())
}

fn unix_time() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `unexpected end of input (line 1)`: the detail and the line, without minijinja's kind
/// prefix and template name (the caller's message names the config key).
fn describe(e: &Error) -> String {
    let detail = match e.detail() {
        Some(d) => d.to_owned(),
        None => e.kind().to_string(),
    };
    format!("{detail}{}", line_of(e))
}

fn line_of(e: &Error) -> String {
    match e.line() {
        Some(line) => format!(" (line {line})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(sources: &[(&str, &str)]) -> Templates {
        let mut t = Templates::new();
        for (name, source) in sources {
            t.add(name, source).expect("valid template");
        }
        t
    }

    fn render(source: &str, vars: &Vars) -> Result<String, String> {
        templates(&[("t", source)]).render("t", vars)
    }

    #[test]
    fn renders_variables_and_numbers() {
        let mut vars = Vars::new();
        vars.set("token", "abc");
        vars.set("n", 42);
        assert_eq!(
            render("Bearer {{ token }} #{{ n }}", &vars).as_deref(),
            Ok("Bearer abc #42")
        );
    }

    #[test]
    fn renders_a_nested_feeder_row() {
        let mut row = BTreeMap::new();
        row.insert("name".to_string(), Value::from("ada"));
        row.insert("password".to_string(), Value::from("s3cret"));
        let mut vars = Vars::new();
        vars.set("user", row);
        assert_eq!(
            render(
                r#"{"u":"{{ user.name }}","p":"{{ user["password"] }}"}"#,
                &vars
            )
            .as_deref(),
            Ok(r#"{"u":"ada","p":"s3cret"}"#)
        );
    }

    #[test]
    fn does_not_escape_html_and_keeps_the_trailing_newline() {
        let mut vars = Vars::new();
        vars.set("q", "<a&b>");
        assert_eq!(
            templates(&[("body.html", "{{ q }}\n")])
                .render("body.html", &vars)
                .as_deref(),
            Ok("<a&b>\n")
        );
    }

    #[test]
    fn undefined_variable_is_an_error_naming_it() {
        let mut vars = Vars::new();
        vars.set("token", "abc");
        assert_eq!(
            render("a\n{{ tokn }}", &vars),
            Err("undefined variable \"tokn\" (line 2)".to_string())
        );
    }

    #[test]
    fn undefined_attribute_is_an_error_naming_the_path() {
        let mut row = BTreeMap::new();
        row.insert("name".to_string(), Value::from("ada"));
        let mut vars = Vars::new();
        vars.set("user", row);
        assert_eq!(
            render("{{ user.nmae }}", &vars),
            Err("undefined variable \"user.nmae\" (line 1)".to_string())
        );
    }

    #[test]
    fn syntax_error_has_a_clear_message() {
        let mut t = Templates::new();
        let err = t.add("t", "{{ token ").expect_err("unterminated");
        assert_eq!(
            err.to_string(),
            "invalid template: unexpected end of input, expected end of variable block (line 1)"
        );
        let err = t.add("t", "ok\n{% if x %}").expect_err("unclosed block");
        assert!(err.to_string().starts_with("invalid template: "), "{err}");
        assert!(err.to_string().ends_with("(line 2)"), "{err}");
    }

    #[test]
    fn unknown_template_name_is_an_error() {
        assert_eq!(
            Templates::new().render("nope", &Vars::new()),
            Err("no template named \"nope\"".to_string())
        );
    }

    #[test]
    fn seq_starts_at_one_and_is_shared_across_templates_and_renders() {
        let t = templates(&[("a", "{{ seq() }}"), ("b", "{{ seq() }},{{ seq() }}")]);
        let vars = Vars::new();
        assert_eq!(t.render("a", &vars).as_deref(), Ok("1"));
        assert_eq!(t.render("b", &vars).as_deref(), Ok("2,3"));
        assert_eq!(t.render("a", &vars).as_deref(), Ok("4"));
        // Another scenario has its own counter.
        assert_eq!(
            templates(&[("a", "{{ seq() }}")])
                .render("a", &vars)
                .as_deref(),
            Ok("1")
        );
    }

    #[test]
    fn seq_is_unique_across_threads() {
        let t = Arc::new(templates(&[("a", "{{ seq() }}")]));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    (0..250)
                        .map(|_| t.render("a", &Vars::new()).expect("renders"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .map(|s| s.parse().expect("a number"))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn random_int_is_inclusive_and_in_bounds() {
        let t = templates(&[("r", "{{ random_int(-2, 2) }}")]);
        let seen: BTreeSet<i64> = (0..2000)
            .map(|_| {
                t.render("r", &Vars::new())
                    .expect("renders")
                    .parse()
                    .expect("an integer")
            })
            .collect();
        assert_eq!(seen, (-2..=2).collect());
        assert_eq!(
            render("{{ random_int(7, 7) }}", &Vars::new()).as_deref(),
            Ok("7")
        );
    }

    #[test]
    fn random_int_with_reversed_bounds_is_an_error() {
        let err = render("{{ random_int(5, 1) }}", &Vars::new()).expect_err("reversed");
        assert_eq!(
            err,
            "random_int(5, 1): the low bound is above the high bound (line 1)"
        );
    }

    #[test]
    fn uuid_is_a_version_4_uuid_and_changes() {
        let t = templates(&[("u", "{{ uuid() }}")]);
        let a = t.render("u", &Vars::new()).expect("renders");
        let b = t.render("u", &Vars::new()).expect("renders");
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(a.len(), 36);
        assert_eq!(a, a.to_lowercase());
    }

    #[test]
    fn choice_picks_from_a_list_or_from_its_arguments() {
        let t = templates(&[
            ("list", r#"{{ choice(["red", "green", "blue"]) }}"#),
            ("args", "{{ choice(1, 2) }}"),
            ("var", "{{ choice(colors) }}"),
        ]);
        let mut vars = Vars::new();
        vars.set("colors", vec![Value::from("cyan"), Value::from("magenta")]);
        let mut lists = BTreeSet::new();
        for _ in 0..300 {
            lists.insert(t.render("list", &vars).expect("renders"));
            let arg = t.render("args", &vars).expect("renders");
            assert!(arg == "1" || arg == "2", "{arg}");
            let var = t.render("var", &vars).expect("renders");
            assert!(var == "cyan" || var == "magenta", "{var}");
        }
        assert_eq!(
            lists,
            BTreeSet::from(["red", "green", "blue"].map(String::from))
        );
    }

    #[test]
    fn choice_of_nothing_is_an_error() {
        assert_eq!(
            render("{{ choice([]) }}", &Vars::new()),
            Err("choice() needs a non-empty list (line 1)".to_string())
        );
    }

    #[test]
    fn timestamps_are_unix_seconds_and_milliseconds() {
        let t = templates(&[("s", "{{ timestamp() }}"), ("ms", "{{ timestamp_ms() }}")]);
        let before = unix_time().as_secs();
        let s: u64 = t
            .render("s", &Vars::new())
            .expect("renders")
            .parse()
            .expect("int");
        let ms: u64 = t
            .render("ms", &Vars::new())
            .expect("renders")
            .parse()
            .expect("int");
        let after = unix_time().as_secs();
        assert!(before <= s && s <= after, "{before} <= {s} <= {after}");
        assert!(before * 1000 <= ms && ms <= (after + 1) * 1000, "{ms}");
    }

    #[test]
    fn declared_lists_top_level_variables_without_generators_or_locals() {
        let t = templates(&[(
            "t",
            "{% set x = 1 %}{{ x }} {{ token }} {{ user.name }} {{ seq() }} {{ uuid() }}\
             {% for i in items %}{{ i }}{% endfor %}",
        )]);
        assert_eq!(
            t.declared("t"),
            BTreeSet::from(["items", "token", "user"].map(String::from))
        );
        assert_eq!(
            t.declared_paths("t"),
            BTreeSet::from(["items", "token", "user.name"].map(String::from))
        );
        assert!(t.declared("unknown").is_empty());
    }

    #[test]
    fn vars_clone_is_independent() {
        let mut a = Vars::new();
        a.set("k", "1");
        let mut b = a.clone();
        b.set("k", "2");
        b.set("other", 3);
        assert_eq!(a.get("k").and_then(Value::as_str), Some("1"));
        assert_eq!(b.get("k").and_then(Value::as_str), Some("2"));
        assert!(!a.contains("other"));
        assert_eq!(b.names().collect::<Vec<_>>(), vec!["k", "other"]);
        b.set("token", "s3cret");
        assert_eq!(format!("{b:?}"), r#"{"k", "other", "token"}"#);
    }
}
