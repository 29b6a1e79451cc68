//! Building blocks of user scenarios, all pure (no networking, no tokio, no clock reads
//! beyond `SystemTime` for cookie expiry and the `timestamp()` generators):
//!
//! - `template`: paths, headers and bodies compiled once with minijinja and rendered per request
//!   against a user's `Vars`; generators (`seq`, `random_int`, `uuid`, `choice`, `timestamp`,
//!   `timestamp_ms`); `declared` for config validation.
//! - `extract`: `Extractor` (JSONPath, header, regex, cookie) takes values from a response into
//!   variables; `Check` (status, body contains, JSONPath exists/equals, max latency) judges it.
//! - `feeder`: test data rows from an inline list or a CSV file, one per new user.
//! - `cookies`: a per-user `CookieJar` (path-scoped, expiring, bounded).
//! - `think`: think time between steps (fixed, uniform, exponential).
//!
//! The engine owns the order of steps, loops, sleeping and HTTP; config validation owns the
//! messages' file and key prefix. Nothing here logs, so secrets in variables stay out of logs.

pub mod cookies;
pub mod extract;
pub mod feeder;
pub mod model;
pub mod template;
pub mod think;

pub use cookies::CookieJar;
pub use extract::{Check, Extractor, JsonQuery};
pub use feeder::{Feeder, Order, Row};
pub use template::{TemplateError, Templates, Vars};
pub use think::{Think, ThinkSpec};
