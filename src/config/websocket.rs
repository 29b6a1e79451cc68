//! The typed settings of a WebSocket target (`ws://` or `wss://` URL plus an optional
//! `[targets.X.websocket]` table): where to connect, the message each connection sends and how
//! a reply is paired with its message. `MessageTemplate::render` is the one place placeholders
//! are substituted, so a fuller template engine can replace it without touching the engine.

use std::time::{SystemTime, UNIX_EPOCH};

/// Sent when a WebSocket target gives no `message`.
pub const DEFAULT_MESSAGE: &str = r#"{"seq": {{ seq }}}"#;

/// Placeholders a message may use.
const PLACEHOLDERS: &[&str] = &["seq", "uuid", "timestamp_ms"];

#[derive(Debug, Clone, PartialEq)]
pub struct WebSocket {
    /// Path and query of the handshake request (`/` when the URL has none).
    pub path: String,
    pub message: MessageTemplate,
    /// Dotted path of the JSON field whose value pairs a reply with its message; `None`:
    /// the next message received is the reply to the oldest one outstanding.
    pub correlate: Option<String>,
}

impl WebSocket {
    /// What `loadtide check` prints about it, one indented line each.
    pub fn describe(&self) -> String {
        let replies = match &self.correlate {
            Some(field) => format!("paired by the JSON field {field:?}"),
            None => "the next message received".to_string(),
        };
        format!(
            "  websocket path {}: sends {:?}; reply: {replies}\n",
            crate::redact::path(&self.path),
            self.message.text
        )
    }

    /// The correlation value of a message (sent or received): the JSON text of its
    /// `correlate` field, or None when there is no such field or no correlation.
    pub fn correlation_key(&self, text: &str) -> Option<String> {
        let field = self.correlate.as_deref()?;
        let doc: serde_json::Value = serde_json::from_str(text).ok()?;
        field_at(&doc, field).map(|v| v.to_string())
    }
}

fn field_at<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Seq,
    Uuid,
    TimestampMs,
}

/// A message text with `{{ seq }}` (the connection's message counter, from 0), `{{ uuid }}`
/// (a random v4 UUID) and `{{ timestamp_ms }}` (Unix milliseconds) placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTemplate {
    /// As written in the config.
    pub text: String,
    parts: Vec<Part>,
}

impl MessageTemplate {
    /// Splits `text` into literal text and placeholders; an unknown or unclosed placeholder
    /// is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                format!("unclosed placeholder in {text:?}: \"{{{{\" without \"}}}}\"")
            })?;
            parts.push(match after[..close].trim() {
                "seq" => Part::Seq,
                "uuid" => Part::Uuid,
                "timestamp_ms" => Part::TimestampMs,
                other => {
                    return Err(format!(
                        "unknown placeholder {{{{ {other} }}}} (known: {})",
                        PLACEHOLDERS.join(", ")
                    ))
                }
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(MessageTemplate {
            text: text.to_string(),
            parts,
        })
    }

    /// The text of message number `seq` of a connection.
    pub fn render(&self, seq: u64) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Seq => out.push_str(&seq.to_string()),
                Part::Uuid => out.push_str(&uuid_v4()),
                Part::TimestampMs => {
                    let ms = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or_default();
                    out.push_str(&ms.to_string());
                }
            }
        }
        out
    }
}

/// A random (version 4) UUID in its usual hyphenated form.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted() {
        let t = MessageTemplate::parse(
            r#"{"id": {{ seq }}, "u": "{{uuid}}", "t": {{ timestamp_ms }}}"#,
        )
        .expect("valid");
        let text = t.render(7);
        let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(doc["id"], 7);
        let u = doc["u"].as_str().expect("uuid string");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4: {u}");
        assert!(doc["t"].as_u64().expect("ms") > 1_600_000_000_000);
        assert_eq!(
            MessageTemplate::parse("plain").expect("valid").render(1),
            "plain"
        );
    }

    #[test]
    fn bad_placeholders_are_errors() {
        assert_eq!(
            MessageTemplate::parse("{{ sequence }}").expect_err("unknown"),
            "unknown placeholder {{ sequence }} (known: seq, uuid, timestamp_ms)"
        );
        assert!(MessageTemplate::parse("a {{ seq")
            .expect_err("unclosed")
            .contains("unclosed"));
    }

    #[test]
    fn correlation_keys_come_from_a_json_field() {
        let ws = WebSocket {
            path: "/".into(),
            message: MessageTemplate::parse(DEFAULT_MESSAGE).expect("valid"),
            correlate: Some("meta.id".into()),
        };
        assert_eq!(
            ws.correlation_key(r#"{"meta": {"id": 3}}"#).as_deref(),
            Some("3")
        );
        assert_eq!(
            ws.correlation_key(r#"{"meta": {"id": "3"}}"#).as_deref(),
            Some("\"3\"")
        );
        assert_eq!(ws.correlation_key("not json"), None);
        assert_eq!(ws.correlation_key(r#"{"id": 3}"#), None);
    }
}
