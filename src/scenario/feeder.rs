//! Test data: a [`Feeder`] holds rows (from an inline list or a CSV file with a header row)
//! and hands one to each new virtual user, round-robin or at random, from any thread. A row
//! becomes the template variable `{{ <feeder name>.<column> }}`. Files are read once, at
//! config load; nothing here touches the network or tokio.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use minijinja::Value;

/// How [`Feeder::next`] picks a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Row 1, 2, …, n, 1, 2, … across all users.
    #[default]
    RoundRobin,
    /// Uniformly at random, with repetition.
    Random,
}

/// One row: column → value, already shaped as a template value (cloning it is cheap).
/// `Debug` shows the columns only: rows often hold passwords.
#[derive(Clone)]
pub struct Row(Value);

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns: Vec<String> = match self.0.try_iter() {
            Ok(keys) => keys.map(|k| k.to_string()).collect(),
            Err(_) => Vec::new(),
        };
        f.debug_tuple("Row").field(&columns).finish()
    }
}

impl Row {
    fn new(columns: &[String], cells: impl IntoIterator<Item = String>) -> Self {
        let map: BTreeMap<String, Value> = columns
            .iter()
            .cloned()
            .zip(cells.into_iter().map(Value::from))
            .collect();
        Self(Value::from(map))
    }

    /// The cell in `column`, if the row has that column.
    pub fn get(&self, column: &str) -> Option<String> {
        let v = self.0.get_attr(column).ok()?;
        v.as_str().map(str::to_owned)
    }
}

impl From<&Row> for Value {
    fn from(row: &Row) -> Value {
        row.0.clone()
    }
}

impl From<Row> for Value {
    fn from(row: Row) -> Value {
        row.0
    }
}

/// A named, non-empty set of rows with the same columns.
#[derive(Debug)]
pub struct Feeder {
    name: String,
    columns: Vec<String>,
    rows: Vec<Row>,
    order: Order,
    cursor: AtomicUsize,
}

impl Feeder {
    /// Reads a CSV file with a header row. Errors name the file as given:
    /// `cannot read CSV file "users.csv": No such file or directory`,
    /// `users.csv: row 3 has 2 fields, the header has 3`, `users.csv: no rows`.
    pub fn from_csv(name: &str, path: &Path, order: Order) -> Result<Self, String> {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read CSV file \"{shown}\": {}", io_reason(&e)))?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::Headers)
            .from_reader(bytes.as_slice());
        let header = reader
            .headers()
            .map_err(|e| format!("{shown}: {}", csv_reason(&e)))?
            .clone();
        let columns: Vec<String> = header.iter().map(str::to_owned).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("{shown}: {}", csv_reason(&e)))?;
            rows.push(Row::new(&columns, record.iter().map(str::to_owned)));
        }
        if rows.is_empty() {
            return Err(format!("{shown}: no rows"));
        }
        check_columns(&columns).map_err(|e| format!("{shown}: header: {e}"))?;
        Ok(Self::build(name, columns, rows, order))
    }

    /// Rows written inline in the config; every row must have the same columns.
    pub fn from_list(
        name: &str,
        list: Vec<BTreeMap<String, String>>,
        order: Order,
    ) -> Result<Self, String> {
        let Some(first) = list.first() else {
            return Err(format!("feeder {name:?}: no rows"));
        };
        let columns: Vec<String> = first.keys().cloned().collect();
        check_columns(&columns).map_err(|e| format!("feeder {name:?}: {e}"))?;
        let mut rows = Vec::with_capacity(list.len());
        for (i, row) in list.into_iter().enumerate() {
            if !row.keys().eq(columns.iter()) {
                let keys: Vec<&str> = row.keys().map(String::as_str).collect();
                return Err(format!(
                    "feeder {name:?}: row {} has columns {}, the first row has {}",
                    i + 1,
                    keys.join(", "),
                    columns.join(", ")
                ));
            }
            rows.push(Row::new(&columns, row.into_values()));
        }
        Ok(Self::build(name, columns, rows, order))
    }

    fn build(name: &str, columns: Vec<String>, rows: Vec<Row>, order: Order) -> Self {
        Self {
            name: name.to_owned(),
            columns,
            rows,
            order,
            cursor: AtomicUsize::new(0),
        }
    }

    /// The template variable a row is bound to.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Always false: a feeder without rows is a config error.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn order(&self) -> Order {
        self.order
    }

    /// Every column in `used` must exist (e.g. the `name` of `{{ user.name }}`), else:
    /// `feeder "user" has no column "nmae" (known: name, password)`.
    pub fn require_columns(&self, used: &BTreeSet<String>) -> Result<(), String> {
        let missing: Vec<String> = used
            .iter()
            .filter(|c| !self.columns.contains(c))
            .map(|c| format!("{c:?}"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let noun = if missing.len() == 1 {
            "column"
        } else {
            "columns"
        };
        Err(format!(
            "feeder {:?} has no {noun} {} (known: {})",
            self.name,
            missing.join(", "),
            self.columns.join(", ")
        ))
    }

    /// The row for the next virtual user.
    pub fn next(&self) -> &Row {
        let i = match self.order {
            Order::RoundRobin => self.cursor.fetch_add(1, Ordering::Relaxed) % self.rows.len(),
            Order::Random => fastrand::usize(..self.rows.len()),
        };
        &self.rows[i]
    }
}

fn check_columns(columns: &[String]) -> Result<(), String> {
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err("no columns".to_owned());
    }
    if let Some(i) = columns.iter().position(String::is_empty) {
        return Err(format!("column {} has no name", i + 1));
    }
    let mut seen = BTreeSet::new();
    for c in columns {
        if !seen.insert(c) {
            return Err(format!("column {c:?} appears twice"));
        }
    }
    Ok(())
}

/// `No such file or directory`, without the ` (os error 2)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

/// Row numbers are file lines, which is what an editor or a spreadsheet shows.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let row = pos.as_ref().map_or(0, csv::Position::line);
            format!("row {row} has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let row = pos.as_ref().map_or(0, csv::Position::line);
            format!("row {row} is not valid UTF-8")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv_file(content: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(content.as_bytes()).expect("write");
        f
    }

    fn list(rows: &[&[(&str, &str)]]) -> Vec<BTreeMap<String, String>> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn reads_a_csv_with_a_header() {
        let f = csv_file("name, password\nada,a1\n\"bob, jr\",b2\n");
        let feeder = Feeder::from_csv("user", f.path(), Order::RoundRobin).expect("valid CSV");
        assert_eq!(feeder.name(), "user");
        assert_eq!(feeder.columns(), ["name", "password"]);
        assert_eq!(feeder.len(), 2);
        let first = feeder.next();
        assert_eq!(first.get("name").as_deref(), Some("ada"));
        assert_eq!(first.get("password").as_deref(), Some("a1"));
        assert_eq!(feeder.next().get("name").as_deref(), Some("bob, jr"));
        assert_eq!(first.get("missing"), None);
        assert_eq!(format!("{first:?}"), r#"Row(["name", "password"])"#);
    }

    #[test]
    fn round_robin_cycles_in_order() {
        let feeder = Feeder::from_list(
            "u",
            list(&[&[("id", "1")], &[("id", "2")], &[("id", "3")]]),
            Order::RoundRobin,
        )
        .expect("valid list");
        let ids: Vec<String> = (0..7)
            .map(|_| feeder.next().get("id").expect("has id"))
            .collect();
        assert_eq!(ids, ["1", "2", "3", "1", "2", "3", "1"]);
    }

    #[test]
    fn random_stays_within_the_rows_and_reaches_them_all() {
        let feeder = Feeder::from_list(
            "u",
            list(&[&[("id", "1")], &[("id", "2")], &[("id", "3")]]),
            Order::Random,
        )
        .expect("valid list");
        let seen: BTreeSet<String> = (0..300)
            .map(|_| feeder.next().get("id").expect("has id"))
            .collect();
        assert_eq!(seen, BTreeSet::from(["1", "2", "3"].map(String::from)));
    }

    #[test]
    fn round_robin_is_shared_across_threads() {
        let feeder = Feeder::from_list(
            "u",
            list(&[&[("id", "a")], &[("id", "b")]]),
            Order::RoundRobin,
        )
        .expect("valid list");
        let counts = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..100)
                            .map(|_| feeder.next().get("id"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut a = 0;
            for h in handles {
                a += h
                    .join()
                    .expect("thread")
                    .iter()
                    .filter(|id| id.as_deref() == Some("a"))
                    .count();
            }
            a
        });
        assert_eq!(counts, 200);
    }

    #[test]
    fn a_row_renders_as_a_nested_template_variable() {
        let feeder = Feeder::from_list(
            "user",
            list(&[&[("name", "ada"), ("password", "pw")]]),
            Order::RoundRobin,
        )
        .expect("valid list");
        let mut templates = crate::scenario::Templates::new();
        templates
            .add("body", "{{ user.name }}:{{ user.password }}")
            .expect("valid template");
        let mut vars = crate::scenario::Vars::new();
        vars.set(feeder.name(), feeder.next());
        assert_eq!(templates.render("body", &vars).as_deref(), Ok("ada:pw"));
    }

    #[test]
    fn missing_csv_file_is_a_clear_error() {
        assert_eq!(
            Feeder::from_csv("u", Path::new("users.csv"), Order::RoundRobin).expect_err("missing"),
            r#"cannot read CSV file "users.csv": No such file or directory"#
        );
    }

    #[test]
    fn short_csv_row_is_an_error_with_its_row_number() {
        let f = csv_file("name,password,role\nada,a1,admin\nbob,b2\n");
        let err = Feeder::from_csv("u", f.path(), Order::RoundRobin).expect_err("short row");
        assert_eq!(
            err,
            format!(
                "{}: row 3 has 2 fields, the header has 3",
                f.path().display()
            )
        );
    }

    #[test]
    fn empty_or_header_only_csv_has_no_rows() {
        for content in ["", "\n", "name,password\n"] {
            let f = csv_file(content);
            assert_eq!(
                Feeder::from_csv("u", f.path(), Order::RoundRobin).expect_err("no rows"),
                format!("{}: no rows", f.path().display()),
                "{content:?}"
            );
        }
    }

    #[test]
    fn bad_csv_headers_are_errors() {
        let f = csv_file("name,name\na,b\n");
        assert_eq!(
            Feeder::from_csv("u", f.path(), Order::RoundRobin).expect_err("duplicate"),
            format!(
                "{}: header: column \"name\" appears twice",
                f.path().display()
            )
        );
        let f = csv_file("name,,role\na,b,c\n");
        assert_eq!(
            Feeder::from_csv("u", f.path(), Order::RoundRobin).expect_err("blank"),
            format!("{}: header: column 2 has no name", f.path().display())
        );
    }

    #[test]
    fn inline_list_errors() {
        assert_eq!(
            Feeder::from_list("user", vec![], Order::Random).expect_err("empty"),
            r#"feeder "user": no rows"#
        );
        assert_eq!(
            Feeder::from_list(
                "user",
                list(&[&[("name", "a"), ("pw", "1")], &[("name", "b")]]),
                Order::Random
            )
            .expect_err("ragged"),
            r#"feeder "user": row 2 has columns name, the first row has name, pw"#
        );
    }

    #[test]
    fn require_columns_names_the_missing_and_the_known() {
        let feeder = Feeder::from_list(
            "user",
            list(&[&[("name", "ada"), ("password", "pw")]]),
            Order::RoundRobin,
        )
        .expect("valid list");
        let used = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect();
        assert_eq!(feeder.require_columns(&used(&["name"])), Ok(()));
        assert_eq!(feeder.require_columns(&used(&[])), Ok(()));
        assert_eq!(
            feeder.require_columns(&used(&["name", "nmae"])),
            Err(r#"feeder "user" has no column "nmae" (known: name, password)"#.to_string())
        );
        assert_eq!(
            feeder.require_columns(&used(&["a", "b"])),
            Err(r#"feeder "user" has no columns "a", "b" (known: name, password)"#.to_string())
        );
    }
}
