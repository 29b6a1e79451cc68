//! A redis:// endpoint's command: a name of letters, then arguments, each a template rendered
//! per request.

use super::super::checks::Collector;
use super::super::raw::RawEndpoint;
use crate::scenario::template::Templates;

/// The command's name, when it is one (letters only): also the endpoint's `method` label.
pub(super) fn command_name(words: &[String]) -> Option<&str> {
    words
        .first()
        .filter(|n| !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphabetic()))
        .map(String::as_str)
}

pub(super) fn command(c: &mut Collector, key: &str, e: &RawEndpoint) {
    let Some(words) = &e.command else {
        c.err(
            format!("{key}.command"),
            "missing: a redis:// endpoint needs a command (e.g. command = [\"PING\"])",
        );
        return;
    };
    if command_name(words).is_none() {
        c.err(
            format!("{key}.command"),
            format!(
                "invalid command {:?}: the first word is the command's name, letters only",
                words.first().map(String::as_str).unwrap_or("")
            ),
        );
    }
    let mut templates = Templates::new();
    for (i, word) in words.iter().enumerate() {
        if let Err(err) = templates.add(&i.to_string(), word) {
            c.err(format!("{key}.command[{i}]"), err.to_string());
        }
    }
}
