//! A config file's text, read before any parser sees it: a size cap (so a log or a disk
//! image handed over as `--config` fails at once instead of being parsed), a check that it
//! is text, that it holds settings at all, and a hint when a `.toml` file holds YAML or
//! JSON. Every message here is about the whole file, so its errors carry no key.

use std::io::Read as _;
use std::path::Path;

/// The largest config or overlay file loaded: the shipped ones are a few kilobytes, and a
/// request body of any size belongs in `body_file`.
pub const MAX_BYTES: u64 = 1 << 20;

/// The text of the file at `path` (`what` says which file in errors: "config file"), or
/// why it cannot be a config.
pub(super) fn read_text(path: &Path, what: &str) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot read {what}: {e}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if meta.is_dir() {
        return Err(format!("cannot read {what}: it is a directory"));
    }
    // `take`: a pipe or a device reports no length, and must not be read without end.
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_BYTES {
        let size = if meta.len() > MAX_BYTES {
            format!("{:.1} MiB", meta.len() as f64 / (1 << 20) as f64)
        } else {
            "over 1 MiB".to_string()
        };
        return Err(format!(
            "{what} is too large ({size}; at most 1 MiB): is it the right file? (a request body \
             belongs in an endpoint's body_file)"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{what} is not text: byte {} is not UTF-8 (a binary file?); a config is TOML, or YAML \
             in a .yaml file",
            e.utf8_error().valid_up_to()
        )
    })?;
    if let Some(at) = text.find('\0') {
        return Err(format!(
            "{what} is not text: byte {at} is a NUL (a binary file?); a config is TOML, or YAML \
             in a .yaml file"
        ));
    }
    Ok(text)
}

/// True when `text` holds nothing but blank lines and comments (and YAML's `---`).
pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

/// The message for a config file with no settings in it.
pub(super) const BLANK: &str = "the file is empty (no settings, only blank lines or comments): \
    nothing to load; is it the right file? (`loadtide init` writes a starter config)";

/// When TOML failed to parse `text`: a hint if it looks like another format, else "".
pub(super) fn format_hint(text: &str) -> &'static str {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if first.starts_with('{') {
        return "\nthe file looks like JSON: loadtide reads TOML, or YAML (which JSON is) from a \
                file named .yaml or .yml";
    }
    let yaml_key = first.split_once(':').is_some_and(|(k, _)| {
        !k.is_empty()
            && !k.contains('=')
            && k.trim_start_matches("- ")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '"' | '\''))
    });
    if first == "---" || yaml_key {
        return "\nthe file looks like YAML: name it .yaml or .yml to load it as YAML, or write it \
                as TOML (key = value, [tables])";
    }
    ""
}

/// When YAML failed to parse `text` with `message`: a hint if the line it names is indented
/// with a tab, which YAML does not allow, else "".
pub(super) fn yaml_hint(text: &str, message: &str) -> &'static str {
    let line = message
        .split_once(" at line ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    let tab = line
        .and_then(|n| text.lines().nth(n.checked_sub(1)?))
        .is_some_and(|l| l.trim_end().starts_with(|c: char| c.is_whitespace()) && l.contains('\t'));
    if tab {
        "\nYAML indents with spaces, not tabs"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_are_recognised() {
        assert!(format_hint("{ \"targets\": {} }").contains("JSON"));
        assert!(format_hint("# c\ntargets:\n  api:\n").contains("YAML"));
        assert!(format_hint("---\nserver: {}\n").contains("YAML"));
        assert_eq!(format_hint("[targets.api]\nurl = \"x\"\n"), "");
        assert_eq!(format_hint("url = \"http://x:1\"\n"), "");
    }

    #[test]
    fn tabs_in_yaml_are_named() {
        let text = "targets:\n  api:\n\turl: x\n";
        let msg = "found character that cannot start any token at line 3 column 1";
        assert!(yaml_hint(text, msg).contains("tabs"));
        assert_eq!(yaml_hint("a: 1\n", "something at line 1 column 2"), "");
    }

    #[test]
    fn blank_files() {
        assert!(is_blank(""));
        assert!(is_blank("\n  \n# just a comment\n"));
        assert!(!is_blank("[server]\n"));
    }
}
