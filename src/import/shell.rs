//! A command line split into words as bash would: shell-words does the POSIX quoting; before
//! it, line continuations are joined and bash's ANSI-C quoting (`$'…'`, which browsers'
//! "Copy as cURL" uses for bodies with quotes or newlines) is rewritten as plain single quotes.

/// The words of `command`, or why it cannot be split.
pub fn split(command: &str) -> Result<Vec<String>, String> {
    let joined = command.replace("\\\r\n", " ").replace("\\\n", " ");
    let plain = ansi_c(&joined)?;
    shell_words::split(&plain).map_err(|e| format!("cannot split the command line: {e}"))
}

/// `s` with every `$'…'` outside other quotes replaced by the single-quoted text it stands for.
fn ansi_c(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\\' if !single => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '\'' if !double => {
                single = !single;
                out.push(c);
            }
            '"' if !single => {
                double = !double;
                out.push(c);
            }
            '$' if !single && !double && chars.peek() == Some(&'\'') => {
                chars.next();
                let text = decode(&mut chars)?;
                out.push('\'');
                out.push_str(&text.replace('\'', "'\\''"));
                out.push('\'');
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// The text of one `$'…'` (after its opening quote), through its closing quote.
fn decode(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => return Err("cannot split the command line: a $'…' string is not closed".into()),
            Some('\'') => return Ok(text),
            Some('\\') => {
                let e = chars
                    .next()
                    .ok_or("cannot split the command line: a $'…' string ends in '\\'")?;
                match e {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    'r' => text.push('\r'),
                    'a' => text.push('\u{7}'),
                    'b' => text.push('\u{8}'),
                    'e' | 'E' => text.push('\u{1b}'),
                    'f' => text.push('\u{c}'),
                    'v' => text.push('\u{b}'),
                    'x' => text.push(hex(chars, 2)?),
                    'u' => text.push(hex(chars, 4)?),
                    'U' => text.push(hex(chars, 8)?),
                    other => {
                        // \\ \' \" \? stand for themselves; bash keeps an unknown escape whole.
                        if !matches!(other, '\\' | '\'' | '"' | '?') {
                            text.push('\\');
                        }
                        text.push(other);
                    }
                }
            }
            Some(c) => text.push(c),
        }
    }
}

/// Up to `max` hex digits as one character.
fn hex(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, max: usize) -> Result<char, String> {
    let mut digits = String::new();
    while digits.len() < max {
        match chars.peek() {
            Some(c) if c.is_ascii_hexdigit() => {
                digits.push(*c);
                chars.next();
            }
            _ => break,
        }
    }
    u32::from_str_radix(&digits, 16)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(|| format!("cannot split the command line: bad escape \\x{digits} in $'…'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_c_strings_become_their_text() {
        let w = split(r#"curl --data-raw $'{"a":"it\'s"}\n' -H $'X: \x41\u00e9'"#).expect("split");
        assert_eq!(w[2], "{\"a\":\"it's\"}\n");
        assert_eq!(w[4], "X: Aé");
        // Inside other quotes, `$'` is just text.
        assert_eq!(
            split(r#"echo 'a$' "b$'c""#).expect("split")[1..],
            ["a$", "b$'c"]
        );
    }

    #[test]
    fn continuations_and_errors() {
        assert_eq!(
            split("curl \\\n -k \\\r\n http://h/").expect("split"),
            ["curl", "-k", "http://h/"]
        );
        assert!(split("curl $'open")
            .expect_err("unclosed")
            .contains("not closed"));
        assert!(split("curl 'open")
            .expect_err("unclosed")
            .contains("cannot split"));
    }
}
