//! loadtide: a load-generation daemon with Prometheus-native metrics, and a one-shot CLI for CI.
//!
//! `cli` parses arguments and picks a command; `daemon` runs profiles forever with `/metrics`;
//! `oneshot` runs one profile to the end and reports. Both drive the same `engine`.

pub mod capacity;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub mod fdlimit;
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod html;
pub mod httpserve;
pub mod import;
pub mod metrics;
pub mod notify;
pub mod oneshot;
pub mod outcome;
pub mod pause;
pub mod redact;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod suggest;
pub mod timetable;
