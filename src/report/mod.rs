//! After a one-shot run: the summary (`summary.rs`), threshold verdicts and the text and JSON
//! renderings (`render.rs`). Reads the run's statistics; never touches the engine.

pub mod baseline;
pub mod csv;
pub mod findings;
pub mod html;
pub mod markdown;
pub mod merge;
pub mod render;
pub mod summary;
pub(crate) mod svg;
pub mod websocket;

pub use summary::{Summary, ThresholdResult};
