//! When and how hard each profile runs, as pure functions of time. Nothing here touches
//! tokio or the clock: the engine asks `rate_at(elapsed)`, tests ask the same at fixed instants.

pub mod calendar;
pub mod pattern;
pub mod plot;

pub use pattern::Pattern;
