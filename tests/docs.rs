//! The manual (`docs/`, an mdBook) against the code, so the reference cannot drift:
//! - the metrics table lists exactly the families the daemon registers, with their types and
//!   label names;
//! - every TOML example is accepted by the loader's own serde structs (no unknown key, no wrong
//!   type), every key those structs accept is documented, and the key tables name only real keys;
//! - the commands page has every subcommand of `loadtide --help`;
//! - every link between pages, and from the README into them, reaches a page and a heading.

#[path = "docs/markdown.rs"]
mod markdown;
#[path = "docs/schema.rs"]
mod schema;

use std::collections::{BTreeMap, BTreeSet};

use markdown::{code_spans, page, pages, read, root, split, tables};
use schema::{Child, Table};

/// Fails with every problem at once, one per line.
fn assert_none(problems: &[String], what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

/// The label names of a table cell (`profile, target`), sorted.
fn label_set<'a>(labels: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = labels
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// The metrics table of `docs/src/metrics.md`: family name -> (type, label names).
/// `process_*` stands for the process collector's families.
fn documented_families() -> BTreeMap<String, (String, Vec<String>)> {
    let md = page("metrics.md");
    let (_, prose) = split(&md);
    let table = tables(&prose)
        .into_iter()
        .find(|t| t.header == ["metric", "type", "labels", "meaning"])
        .expect("metrics.md has a | metric | type | labels | meaning | table");
    let mut out = BTreeMap::new();
    for row in &table.rows {
        let labels = label_set(row[2].split(','));
        for name in code_spans(&row[0]) {
            let previous = out.insert(name.clone(), (row[1].clone(), labels.clone()));
            assert!(previous.is_none(), "metrics.md lists {name} twice");
        }
    }
    out
}

/// Every family a fresh registry holds.
fn registered_families() -> Vec<loadtide::metrics::FamilyInfo> {
    // `loadtide_runtime_alive_tasks` reads the runtime it is collected in.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _in_runtime = rt.enter();
    loadtide::metrics::Metrics::new().families()
}

#[test]
fn metrics_table_lists_every_registered_family_with_its_type_and_labels() {
    let families = registered_families();
    let mut documented = documented_families();
    let mut problems = Vec::new();
    let process = documented.remove("process_*");
    for f in &families {
        if f.name.starts_with("process_") {
            if process.is_none() {
                problems.push(format!("{} is not covered by a `process_*` row", f.name));
            }
            continue;
        }
        let labels = label_set(f.labels.iter().map(String::as_str));
        match documented.remove(&f.name) {
            None => problems.push(format!(
                "{} is not documented; add a row: | `{}` | {} | {} | … |",
                f.name,
                f.name,
                f.kind,
                labels.join(", ")
            )),
            Some((kind, doc_labels)) => {
                if kind != f.kind {
                    problems.push(format!(
                        "{}: type is {}, the table says {kind}",
                        f.name, f.kind
                    ));
                }
                if doc_labels != labels {
                    problems.push(format!(
                        "{}: labels are {{{}}}, the table says {{{}}}",
                        f.name,
                        labels.join(", "),
                        doc_labels.join(", ")
                    ));
                }
            }
        }
    }
    for name in documented.keys() {
        problems.push(format!(
            "{name} is documented but no such family is registered"
        ));
    }
    assert_none(&problems, "docs/src/metrics.md against Metrics::families()");
}

/// `Metrics::families()` is what a live scrape shows: every family of the scrape that
/// `tests/daemon.rs` pins in `tests/golden/metrics-names.txt` is in it, with the same type and
/// labels (the golden has only the families a plain HTTP config gives series to).
#[test]
fn registered_families_agree_with_the_scraped_golden() {
    let families: BTreeSet<String> = registered_families()
        .into_iter()
        .map(|f| {
            let labels = label_set(f.labels.iter().map(String::as_str));
            format!("{} {} {{{}}}", f.name, f.kind, labels.join(","))
        })
        .collect();
    let golden = read(&root().join("tests/golden/metrics-names.txt"));
    let missing: Vec<String> = golden
        .lines()
        .filter(|l| !families.contains(*l))
        .map(String::from)
        .collect();
    assert_none(
        &missing,
        "scraped families that Metrics::families() does not describe",
    );
}

/// The pages the config reference spans: `config.md` has every table; `[safety]` and the brake
/// are explained in `safety.md`, `[profiles.NAME.capacity]` and `kind` in `capacity.md`.
const CONFIG_PAGES: &[&str] = &["config.md", "safety.md", "capacity.md"];

/// A commented-out option (`# users = 10   # … or closed model`) documents its key as much as
/// a set one, so it is checked too.
fn uncomment(body: &str) -> String {
    let re = regex::Regex::new(r"(?m)^(\s*)#\s?([A-Za-z_][A-Za-z0-9_.]*\s*=\s*\S)").expect("regex");
    re.replace_all(body, "$1$2").into_owned()
}

/// A TOML example as tables: the whole block, or, when it shows alternatives of one key
/// (`rate = …` four times), each statement on its own under the table header above it.
fn statements(body: &str) -> Result<Vec<toml::Table>, String> {
    if let Ok(whole) = body.parse::<toml::Table>() {
        return Ok(vec![whole]);
    }
    let (mut out, mut header, mut buf) = (Vec::new(), String::new(), String::new());
    for line in body.lines() {
        let t = line.trim();
        if buf.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if buf.is_empty() && t.starts_with('[') && !t.contains('=') {
            header = line.to_string();
            continue;
        }
        buf.push_str(line);
        buf.push('\n');
        if let Ok(table) = format!("{header}\n{buf}").parse::<toml::Table>() {
            out.push(table);
            buf.clear();
        }
    }
    match buf.trim() {
        "" => Ok(out),
        rest => Err(format!("not TOML: {rest}")),
    }
}

/// The table a statement is written in: the top level if every key is a top-level one, else
/// a table all its keys belong to (a pattern's `rate = { … }` is a profile's key) and whose
/// struct accepts it; with the loader's error when none accepts it (from the first table the
/// keys fit, still returned so that the rest of the example counts as documented).
fn root_of<'a>(chunk: &toml::Table, all: &'a [Table]) -> (Option<&'a Table>, Result<(), String>) {
    let candidates: Vec<&Table> = all
        .iter()
        .filter(|t| chunk.keys().all(|k| t.keys.contains(&k.as_str())))
        .collect();
    let mut first_error = None;
    for t in &candidates {
        match (t.parse)(toml::Value::Table(chunk.clone())) {
            Ok(()) => return (Some(t), Ok(())),
            Err(e) => {
                first_error.get_or_insert(format!("as {}: {e}", t.name));
            }
        }
    }
    let keys: Vec<&String> = chunk.keys().collect();
    let error =
        first_error.unwrap_or_else(|| format!("keys {keys:?} are in no one table of the config"));
    (candidates.first().copied(), Err(error))
}

/// Records (struct, key) for every key of `t`, a table of struct `name`, and of the tables
/// within it.
fn walk(all: &[Table], name: &str, t: &toml::Table, out: &mut BTreeSet<(String, String)>) {
    let table = all
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not in tests/docs/schema.rs"));
    for (key, value) in t {
        out.insert((name.to_string(), key.clone()));
        match (table.child(key), value) {
            (Some(Child::Table(n)), toml::Value::Table(sub)) => walk(all, n, sub, out),
            (Some(Child::Map(n)), toml::Value::Table(entries)) => {
                for sub in entries.values().filter_map(toml::Value::as_table) {
                    walk(all, n, sub, out);
                }
            }
            (Some(Child::Array(n)), toml::Value::Array(items)) => {
                for sub in items.iter().filter_map(toml::Value::as_table) {
                    walk(all, n, sub, out);
                }
            }
            _ => {}
        }
    }
}

/// The (struct, key) pairs the TOML examples of `pages` set, and every example the loader
/// refuses (`page:line: why`).
fn toml_examples(pages: &[String], all: &[Table]) -> (BTreeSet<(String, String)>, Vec<String>) {
    let (mut keys, mut problems) = (BTreeSet::new(), Vec::new());
    for name in pages {
        let (blocks, _) = split(&page(name));
        for block in blocks.iter().filter(|b| b.lang == "toml") {
            let at = format!("docs/src/{name}:{}", block.line);
            let chunks = match statements(&uncomment(&block.body)) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{at}: {e}"));
                    continue;
                }
            };
            for chunk in chunks {
                let (root, verdict) = root_of(&chunk, all);
                if let Some(t) = root {
                    walk(all, t.name, &chunk, &mut keys);
                }
                if let Err(e) = verdict {
                    problems.push(format!("{at}: {e}"));
                }
            }
        }
    }
    (keys, problems)
}

#[test]
fn every_toml_example_in_the_book_is_accepted_by_the_loader() {
    let (_, problems) = toml_examples(&pages(), &schema::tables());
    assert_none(
        &problems,
        "TOML examples with keys or types the loader refuses",
    );
}

#[test]
fn config_reference_documents_every_key_the_loader_accepts() {
    let all = schema::tables();
    let config_pages: Vec<String> = CONFIG_PAGES.iter().map(|p| p.to_string()).collect();
    let (in_examples, _) = toml_examples(&config_pages, &all);
    // A key named in code in the prose (`read_until`, `json_equals = { path, value }`, the
    // key tables) is documented too.
    let word = regex::Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").expect("regex");
    let mut in_prose = BTreeSet::new();
    for name in CONFIG_PAGES {
        let md = page(name);
        let (_, prose) = split(&md);
        for span in code_spans(&prose.join("\n")) {
            in_prose.extend(word.find_iter(&span).map(|m| m.as_str().to_string()));
        }
    }
    let mut problems = Vec::new();
    for t in &all {
        for key in t.keys {
            let shown = in_examples.contains(&(t.name.to_string(), key.to_string()));
            if !shown && !in_prose.contains(*key) {
                problems.push(format!(
                    "`{key}` ({}) is in no example and never named",
                    t.name
                ));
            }
        }
    }
    assert_none(
        &problems,
        &format!("keys the loader accepts that {CONFIG_PAGES:?} do not document"),
    );
}

/// The identifiers a key-table cell names as keys: the start of each code span, leaving out
/// what is in parentheses (`curve` (`linear` or `exponential`) names one key).
fn keys_in_cell(cell: &str) -> Vec<String> {
    let parens = regex::Regex::new(r"\([^)]*\)").expect("regex");
    let ident = regex::Regex::new(r"^[a-z_][a-z0-9_]*").expect("regex");
    code_spans(&parens.replace_all(cell, ""))
        .iter()
        .filter_map(|s| ident.find(s).map(|m| m.as_str().to_string()))
        .collect()
}

#[test]
fn key_tables_name_only_keys_of_one_config_table() {
    let all = schema::tables();
    let mut problems = Vec::new();
    for name in CONFIG_PAGES {
        let md = page(name);
        let (_, prose) = split(&md);
        for table in tables(&prose) {
            let Some(col) = table
                .header
                .iter()
                .position(|h| matches!(h.as_str(), "key" | "keys" | "step key"))
            else {
                continue;
            };
            let keys: BTreeSet<String> = table
                .rows
                .iter()
                .flat_map(|r| keys_in_cell(&r[col]))
                .collect();
            let best = all
                .iter()
                .max_by_key(|t| keys.iter().filter(|k| t.keys.contains(&k.as_str())).count())
                .expect("tables");
            let unknown: Vec<&String> = keys
                .iter()
                .filter(|k| !best.keys.contains(&k.as_str()))
                .collect();
            if !unknown.is_empty() {
                problems.push(format!(
                    "{name}: the table of {:?} names {unknown:?}, which {} does not accept",
                    table.header, best.name
                ));
            }
        }
    }
    assert_none(
        &problems,
        "key tables naming keys the loader does not accept",
    );
}

/// The structs that reject unknown keys but are not tables of the config file.
const NOT_CONFIG_TABLES: &[&str] = &[
    // An entry of a file_sd file (Prometheus's format, shown as JSON in config.md).
    "Group",
];

#[test]
fn every_strict_config_struct_is_in_the_docs_schema() {
    let known: BTreeSet<&str> = schema::tables().iter().map(|t| t.name).collect();
    let decl = regex::Regex::new(
        r"deny_unknown_fields[^\]]*\)\]\s*(?:#\[[^\]]*\]\s*)*pub(?:\([a-z]+\))? (?:struct|enum) (\w+)|deny_unknown_fields[^\]]*\)\]\s*(?:struct|enum) (\w+)",
    )
    .expect("regex");
    let mut problems = Vec::new();
    let mut dirs = vec![
        root().join("src/config"),
        root().join("src/schedule"),
        root().join("src/scenario"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = read(&path);
            for c in decl.captures_iter(&text) {
                let name = c.get(1).or(c.get(2)).expect("a name").as_str();
                if !known.contains(name) && !NOT_CONFIG_TABLES.contains(&name) {
                    problems.push(format!(
                        "{name} ({}) is a config table missing from tests/docs/schema.rs",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(known.len() > 20, "the schema lists {} tables", known.len());
    assert_none(
        &problems,
        "structs of the config that the docs checks do not know",
    );
}

#[test]
fn commands_page_has_every_subcommand_of_the_help() {
    let help = read(&root().join("tests/golden/help.txt"));
    let from_help: BTreeSet<String> = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect();
    let md = page("commands.md");
    let (_, prose) = split(&md);
    let table = tables(&prose)
        .into_iter()
        .find(|t| t.header.first().is_some_and(|h| h == "command"))
        .expect("commands.md has a | command | … | table");
    let documented: BTreeSet<String> = table
        .rows
        .iter()
        .filter_map(|r| code_spans(&r[0]).first().cloned())
        .filter_map(|c| c.split_whitespace().nth(1).map(String::from))
        .collect();
    let missing: Vec<_> = from_help.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&from_help).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "commands.md: missing {missing:?}, not in `loadtide --help` {extra:?}"
    );
}

#[test]
fn links_reach_a_page_and_a_heading() {
    let mut files = vec![
        root().join("README.md"),
        root().join("docs/ARCHITECTURE.md"),
    ];
    files.extend(pages().iter().map(|p| root().join("docs/src").join(p)));
    let mut problems = Vec::new();
    for file in &files {
        let md = read(file);
        let (_, prose) = split(&md);
        for link in markdown::links(&prose) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = match path {
                "" => file.clone(),
                p => file.parent().expect("a directory").join(p),
            };
            let at = file
                .strip_prefix(root())
                .expect("in the repository")
                .display();
            if !target.exists() {
                problems.push(format!("{at}: {link}: no such file"));
            } else if !anchor.is_empty()
                && !markdown::anchors(&read(&target))
                    .iter()
                    .any(|a| a == anchor)
            {
                problems.push(format!("{at}: {link}: no such heading"));
            }
        }
    }
    assert_none(&problems, "broken links");
}

#[test]
fn summary_lists_every_page() {
    let md = page("SUMMARY.md");
    let (_, prose) = split(&md);
    let listed: BTreeSet<String> = markdown::links(&prose).into_iter().collect();
    let unlisted: Vec<String> = pages()
        .into_iter()
        .filter(|p| p != "SUMMARY.md" && !listed.contains(p))
        .collect();
    assert_none(
        &unlisted,
        "pages of docs/src that SUMMARY.md leaves out of the book",
    );
}
