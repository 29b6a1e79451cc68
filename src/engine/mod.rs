//! The load engine: turns a profile into requests. `executor` holds the open- and closed-model
//! loops, `pacer` the intended send instants, `client` the HTTP protocol (which `grpc` calls through), `websocket` a WebSocket
//! profile's connections (a closed-model crowd of connections). The engine records into
//! `metrics` and knows nothing of the server, reports or the CLI.

mod body;
pub mod brake;
mod budget;
mod classify;
pub mod client;
mod closed;
pub mod executor;
pub mod follow;
mod grpc;
mod grpc_stream;
mod h1;
pub mod limits;
pub mod pacer;
mod peers;
pub mod plan;
mod postgres;
mod redis;
pub mod resolve;
pub mod scheduled;
pub mod session;
pub mod socket;
pub(crate) mod tls;
pub mod trace;
pub mod transport;
mod websocket;
mod ws_request;

pub use executor::{run_profile, RunEnd};
pub use limits::SafetyLimits;
pub use plan::{Multiplier, RunSpec, Shard};
