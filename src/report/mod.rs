//! After a one-shot run: the summary (`summary.rs`), threshold verdicts and the text and JSON
//! renderings (`render.rs`). Reads the run's statistics; never touches the engine.

pub mod merge;
pub mod render;
pub mod summary;
pub mod websocket;

pub use summary::{Summary, ThresholdResult};
