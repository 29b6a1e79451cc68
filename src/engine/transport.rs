//! The protocol-neutral seam of the engine: a `Transport` sends one "request" to endpoint
//! `idx` of its target and returns what it came to as an `Outcome` (a code, an error kind,
//! bytes). The open and closed loops, caps, the brake, budgets and metrics are written once
//! against this trait; HTTP, raw TCP/UDP, Redis and PostgreSQL are its implementations.
//! Latency is measured by the caller from the intended start, so it is the same for all.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::error::Elapsed;

use crate::config::Target;
use crate::outcome::{ErrorKind, Outcome};

pub trait Transport: Send + Sync + 'static {
    /// What a closed-model user keeps between its requests (a keep-alive connection, a
    /// database session); open-model requests borrow one from the pool and give it back.
    type Conn: Send + 'static;

    /// The target it sends to.
    fn target(&self) -> &Target;

    /// How many requests can be outstanding at once, when the transport, not the profile,
    /// bounds it (one per connection without multiplexing); None when only the profile does.
    fn max_outstanding(&self) -> Option<usize> {
        self.target().request_bound()
    }

    /// The target's timeout: one request, connect to last byte.
    fn timeout(&self) -> Duration {
        self.target().timeout
    }

    /// The idle connections open-model requests borrow.
    fn pool(&self) -> &Pool<Self::Conn>;

    /// Whether `conn` can carry another request (false once the peer closed it).
    fn reusable(_conn: &Self::Conn) -> bool {
        true
    }

    /// One request to endpoint `idx` on the connection in `slot` (or a new one), leaving a
    /// reusable connection there afterwards; a failure is its kind.
    fn exchange(
        &self,
        idx: usize,
        slot: &mut Option<Self::Conn>,
    ) -> impl Future<Output = Result<Outcome, ErrorKind>> + Send;

    /// A pooled idle connection, if any.
    fn take_idle(&self) -> Option<Self::Conn> {
        self.pool().take()
    }

    /// Returns a connection to the pool (dropped when it is closed or the pool is full).
    fn put_idle(&self, conn: Self::Conn) {
        if Self::reusable(&conn) {
            self.pool().put(conn);
        }
    }

    /// `exchange` bounded by the target's timeout: every failure is classified into the
    /// outcome, never returned as an error.
    fn call(
        &self,
        idx: usize,
        slot: &mut Option<Self::Conn>,
    ) -> impl Future<Output = Outcome> + Send {
        async move {
            let result = tokio::time::timeout(self.timeout(), self.exchange(idx, slot)).await;
            settle(result, slot)
        }
    }
}

/// What an exchange bounded by the target's timeout came to. A timed-out connection is
/// dropped from `slot`: it may still carry the late reply, which the next request would read.
fn settle<C>(result: Result<Result<Outcome, ErrorKind>, Elapsed>, slot: &mut Option<C>) -> Outcome {
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
pub struct Pool<C> {
    idle: Mutex<Vec<C>>,
    max: usize,
}

impl<C> Pool<C> {
    pub fn new(max: usize) -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            max,
        }
    }

    pub fn take(&self) -> Option<C> {
        self.idle.lock().expect("pool lock poisoned").pop()
    }

    /// The most recently returned idle connection `want` accepts.
    pub fn take_where(&self, want: impl FnMut(&C) -> bool) -> Option<C> {
        let mut idle = self.idle.lock().expect("pool lock poisoned");
        let at = idle.iter().rposition(want)?;
        Some(idle.remove(at))
    }

    /// Drops (closing) every idle connection `keep` refuses.
    pub fn retain(&self, keep: impl FnMut(&C) -> bool) {
        self.idle.lock().expect("pool lock poisoned").retain(keep);
    }

    /// Keeps `conn` unless the pool is full (then it is dropped, closing it).
    pub fn put(&self, conn: C) {
        let mut idle = self.idle.lock().expect("pool lock poisoned");
        if idle.len() < self.max {
            idle.push(conn);
        }
    }
}
