//! Just enough Markdown for the manual's checks: fenced code blocks, the prose around them,
//! pipe tables, inline code spans, links and heading anchors.

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A page of the book, `docs/src/NAME`.
pub fn page(name: &str) -> String {
    read(&root().join("docs/src").join(name))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every page of the book (the `.md` files of `docs/src/`), sorted.
pub fn pages() -> Vec<String> {
    let dir = root().join("docs/src");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("docs/src")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".md"))
        .collect();
    names.sort();
    names
}

pub struct CodeBlock {
    pub lang: String,
    pub body: String,
    /// 1-based line of the opening fence, for messages.
    pub line: usize,
}

/// The fenced code blocks (indented ones inside lists too) and the lines outside them.
pub fn split(md: &str) -> (Vec<CodeBlock>, Vec<&str>) {
    let (mut blocks, mut prose) = (Vec::new(), Vec::new());
    let mut open: Option<CodeBlock> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (None, Some(lang)) => {
                open = Some(CodeBlock {
                    lang: lang.trim().to_string(),
                    body: String::new(),
                    line: i + 1,
                })
            }
            (Some(block), Some(_)) => blocks.push(block),
            (Some(mut block), None) => {
                block.body.push_str(line.trim_start_matches("  "));
                block.body.push('\n');
                open = Some(block);
            }
            (None, None) => prose.push(line),
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    (blocks, prose)
}

/// A pipe table: its header cells and rows.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The cells of a table line; `\|` is a pipe inside a cell.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().expect("a cell").push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().expect("a cell").push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The pipe tables of the prose lines.
pub fn tables(prose: &[&str]) -> Vec<Table> {
    let mut out = Vec::new();
    let mut lines = prose.iter().peekable();
    while let Some(line) = lines.next() {
        let is_row = |l: &str| l.trim_start().starts_with('|');
        if !is_row(line) {
            continue;
        }
        let header = cells(line);
        lines.next(); // the | --- | line
        let mut rows = Vec::new();
        while let Some(row) = lines.next_if(|l| is_row(l)) {
            rows.push(cells(row));
        }
        out.push(Table { header, rows });
    }
    out
}

/// The contents of the inline code spans of `text`.
pub fn code_spans(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"`+([^`]+)`+").expect("regex");
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

/// The targets of the links in the prose lines (`[text](target)`).
pub fn links(prose: &[&str]) -> Vec<String> {
    let re = regex::Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    prose
        .iter()
        .flat_map(|l| re.captures_iter(l).map(|c| c[1].to_string()))
        .collect()
}

/// The anchors of the headings of a page, as GitHub and mdBook make them: lower case, code
/// marks and punctuation dropped, spaces as `-`.
pub fn anchors(md: &str) -> Vec<String> {
    let (_, prose) = split(md);
    prose
        .iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| {
            h.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}
