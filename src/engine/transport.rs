//! The protocol-neutral seam of the engine: a `Transport` sends one "request" to endpoint
//! `idx` of its target and returns what it came to as an `Outcome` (a code, an error kind,
//! bytes). The open and closed loops, caps, the brake, budgets and metrics are written once
//! against this trait; HTTP, raw TCP/UDP, Redis and PostgreSQL are its implementations.
//! Latency is measured by the caller from the intended start, so it is the same for all.

use std::future::Future;
use std::sync::Mutex;

use tokio::time::error::Elapsed;

use crate::outcome::{ErrorKind, Outcome};

pub trait Transport: Send + Sync + 'static {
    /// What a closed-model user keeps between its requests (a keep-alive connection, a
    /// database session); open-model requests borrow one from the pool and give it back.
    type Conn: Send + 'static;

    /// How many requests can be outstanding at once, when the transport, not the profile,
    /// bounds it (one per connection without multiplexing); None when only the profile does.
    fn max_outstanding(&self) -> Option<usize>;

    /// A pooled idle connection, if any.
    fn take_idle(&self) -> Option<Self::Conn>;

    /// Returns a connection to the pool (dropped when it is closed or the pool is full).
    fn put_idle(&self, conn: Self::Conn);

    /// Sends one request to endpoint `idx`, reusing the connection in `slot` (or a pooled or
    /// new one) and leaving a reusable one there afterwards. Bounded by the target's timeout;
    /// every failure is classified into the outcome, never returned as an error.
    fn call(
        &self,
        idx: usize,
        slot: &mut Option<Self::Conn>,
    ) -> impl Future<Output = Outcome> + Send;
}

/// What an exchange bounded by the target's timeout came to. A timed-out connection is
/// dropped from `slot`: it may still carry the late reply, which the next request would read.
pub(super) fn settle<C>(
    result: Result<Result<Outcome, ErrorKind>, Elapsed>,
    slot: &mut Option<C>,
) -> Outcome {
    match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(kind)) => Outcome::failed(kind),
        Err(_) => {
            *slot = None;
            Outcome::failed(ErrorKind::Timeout)
        }
    }
}

/// Idle connections of a transport, at most `max`: open-model requests borrow from it.
pub(super) struct Pool<C> {
    idle: Mutex<Vec<C>>,
    max: usize,
}

impl<C> Pool<C> {
    pub(super) fn new(max: usize) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            max,
        }
    }

    pub(super) fn take(&self) -> Option<C> {
        self.idle.lock().expect("pool lock poisoned").pop()
    }

    /// Keeps `conn` unless the pool is full (then it is dropped, closing it).
    pub(super) fn put(&self, conn: C) {
        let mut idle = self.idle.lock().expect("pool lock poisoned");
        if idle.len() < self.max {
            idle.push(conn);
        }
    }
}
