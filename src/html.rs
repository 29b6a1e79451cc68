//! The one HTML escape every page uses (run and capacity reports, findings, SVG charts, the
//! daemon's landing page): `&`, `<`, `>` and `"` as entities, so text is safe both between
//! tags and inside double-quoted attribute values. A foundation: imports nothing from the
//! crate.

/// `s` with `&`, `<`, `>` and `"` replaced by their entities.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes_once() {
        assert_eq!(
            escape(r#"a & <b class="x">"#),
            "a &amp; &lt;b class=&quot;x&quot;&gt;"
        );
        assert_eq!(
            escape("&lt;"),
            "&amp;lt;",
            "an entity is text, escaped again"
        );
        assert_eq!(escape("plain 'text'"), "plain 'text'");
    }
}
