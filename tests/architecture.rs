//! The house's floors, checked on the source: every `crate::`/`super::` path in `src/` is
//! resolved to the file it names, and no file may import from a higher floor, no import
//! cycle may span files of different folders, no file may pass 700 lines and no function
//! 120. `docs/ARCHITECTURE.md` explains the floors; this keeps them true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first: a module may import from its own floor and those below.
const FLOORS: &[&[&str]] = &[
    // Foundations: no knowledge of profiles, load or output.
    &[
        "outcome",
        "redact",
        "suggest",
        "html",
        "fdlimit",
        "pause",
        "notify",
        "httpserve",
    ],
    // Pure functions of time and of a user's variables.
    &["schedule", "scenario"],
    // Raw TOML -> validated, typed Config.
    &["config"],
    &["metrics"],
    &["engine"],
    &["report", "capacity"],
    &[
        "daemon",
        "oneshot",
        "demo",
        "healthcheck",
        "timetable",
        "import",
        "scheduler",
        "server",
        "webconfig",
        "basic_auth",
    ],
    &["cli", "fuzzing"],
];

const MAX_FILE_LINES: usize = 700;
const MAX_FN_LINES: usize = 120;

/// A module path (`["engine", "executor"]`) for every file under `src/`.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .expect("under src")
                .with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The source without comments, string literals and `#[cfg(test)]` modules (tests may reach
/// anywhere).
fn code_of(src: &str) -> String {
    let without_tests = match src.find("#[cfg(test)]\nmod ") {
        Some(i) => &src[..i],
        None => src,
    };
    let no_comments = regex::Regex::new(r"(?m)//.*$").expect("static regex");
    let no_strings = regex::Regex::new(r#""(\\.|[^"\\])*""#).expect("static regex");
    no_strings
        .replace_all(&no_comments.replace_all(without_tests, ""), "\"\"")
        .into_owned()
}

/// The longest prefix of `path` that is a module file.
fn resolve<'a>(
    mods: &'a BTreeMap<Vec<String>, PathBuf>,
    path: &[String],
) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| mods.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// Every path a `use` tree or an expression names, expanded: `crate::a::{b, c::d}` gives
/// `crate::a::b` and `crate::a::c::d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let start = regex::Regex::new(r"\b(crate|super)::").expect("static regex");
    for m in start.find_iter(code) {
        let head = if m.as_str().starts_with("crate") {
            "crate"
        } else {
            "super"
        };
        let mut rest = &code[m.end()..];
        let mut prefix = vec![head.to_string()];
        expand(&mut rest, &mut prefix, &mut out);
    }
    out
}

fn expand(rest: &mut &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        let s = rest.trim_start();
        if let Some(inner) = s.strip_prefix('{') {
            *rest = inner;
            loop {
                let mut branch = prefix.clone();
                expand(rest, &mut branch, out);
                let s = rest.trim_start();
                if let Some(r) = s.strip_prefix(',') {
                    *rest = r;
                    if rest.trim_start().starts_with('}') {
                        *rest = &rest.trim_start()[1..];
                        return;
                    }
                } else if let Some(r) = s.strip_prefix('}') {
                    *rest = r;
                    return;
                } else {
                    return;
                }
            }
        }
        let ident: String = s
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            out.push(prefix.clone());
            *rest = s;
            return;
        }
        prefix.push(ident.clone());
        let after = &s[ident.len()..];
        match after.strip_prefix("::") {
            Some(r) => *rest = r,
            None => {
                out.push(prefix.clone());
                *rest = after;
                return;
            }
        }
    }
}

/// File -> the files it imports.
fn graph(mods: &BTreeMap<Vec<String>, PathBuf>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut edges = BTreeMap::new();
    for (module, file) in mods {
        let code = code_of(&std::fs::read_to_string(file).expect("read source"));
        let mut targets = BTreeSet::new();
        for p in paths(&code) {
            // `crate::` starts at the root; each `super::` climbs one module from this one.
            let mut target: Vec<String> = module.clone();
            let mut segs = p.into_iter().peekable();
            if segs.peek().is_some_and(|s| s == "crate") {
                segs.next();
                target.clear();
            }
            while segs.peek().is_some_and(|s| s == "super") {
                segs.next();
                target.pop();
            }
            target.extend(segs);
            if let Some(t) = resolve(mods, &target) {
                if t != module {
                    targets.insert(t.clone());
                }
            }
        }
        edges.insert(module.clone(), targets);
    }
    edges
}

fn floor_of(module: &[String]) -> usize {
    FLOORS
        .iter()
        .position(|f| f.contains(&module[0].as_str()))
        .unwrap_or_else(|| panic!("src/{}: on no floor of tests/architecture.rs", module[0]))
}

fn name(m: &[String]) -> String {
    m.join("/")
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_from_a_higher_floor() {
    let mods = modules(&src_dir());
    let mut bad = Vec::new();
    for (from, tos) in graph(&mods) {
        for to in tos {
            if floor_of(&to) > floor_of(&from) {
                bad.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(bad.is_empty(), "imports up a floor:\n{}", bad.join("\n"));
}

#[test]
fn no_import_cycle_spans_folders() {
    let mods = modules(&src_dir());
    let edges = graph(&mods);
    // A module's folder: itself when it has children (`a.rs` beside `a/`, or `a/mod.rs`),
    // else its parent module.
    let folder = |m: &Vec<String>| {
        let has_children = mods.keys().any(|k| k.len() > m.len() && k.starts_with(m));
        if has_children {
            m.clone()
        } else {
            m[..m.len() - 1].to_vec()
        }
    };
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        sccs: Vec<Vec<&'a Vec<String>>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            s.sccs.push(scc);
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        sccs: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    let bad: Vec<String> = s
        .sccs
        .iter()
        .filter(|c| c.iter().map(|m| folder(m)).collect::<BTreeSet<_>>().len() > 1)
        .map(|c| c.iter().map(|m| name(m)).collect::<Vec<_>>().join(" <-> "))
        .collect();
    assert!(
        bad.is_empty(),
        "import cycles across folders:\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_source_file_is_over_700_lines() {
    let bad: Vec<String> = modules(&src_dir())
        .values()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).expect("read").lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        bad.join("\n")
    );
}

/// Functions by brace matching from each `fn` line to the line closing its body (tests
/// included: a 200-line test is as hard to read as a 200-line function).
fn long_functions(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    let fn_start =
        regex::Regex::new(r"^\s*(pub(\([a-z]+\))?\s+)?(async\s+)?(const\s+)?fn\s+\w+").expect("re");
    let strings = regex::Regex::new(r#""(\\.|[^"\\])*"|'.'"#).expect("static regex");
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !fn_start.is_match(line) {
            continue;
        }
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = strings.replace_all(l, "\"\"");
            let code = code.split("//").next().unwrap_or("");
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            opened |= code.contains('{');
            if !opened && code.trim_end().ends_with(';') {
                break;
            }
            if opened && depth <= 0 {
                let n = j - i + 1;
                if n > MAX_FN_LINES {
                    out.push(format!("{}:{}: {n} lines", file.display(), i + 1));
                }
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_is_over_120_lines() {
    let bad: Vec<String> = modules(&src_dir())
        .values()
        .flat_map(|f| long_functions(f))
        .collect();
    assert!(
        bad.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import() {
    // The parser itself: a `use` tree of the shape the source uses resolves to its files.
    let code = "use crate::{config::{self, Profile}, engine::plan::Shard};\nlet x = super::y::Z;";
    let got = paths(code);
    assert!(got.contains(&vec!["crate".into(), "config".into(), "Profile".into()]));
    assert!(got.contains(&vec![
        "crate".into(),
        "engine".into(),
        "plan".into(),
        "Shard".into()
    ]));
    assert!(got.contains(&vec!["super".into(), "y".into(), "Z".into()]));
    assert!(floor_of(&["cli".into()]) > floor_of(&["engine".into()]));
}
