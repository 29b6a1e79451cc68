//! The kill switch: one process-wide `Pause`, shared by the daemon (which watches the pause
//! file), the server (`POST /-/pause`, `/-/resume`) and every engine run (which stops sending
//! while it is on). Traffic is paused while either source says so: the API or the presence
//! of the pause file. It owns only the switch; what "paused" means for each load model lives
//! in the engine, and the metric in the daemon.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Who paused traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseSource {
    /// `POST /-/pause`.
    Api,
    /// The pause file exists.
    File,
}

/// A cheap handle on the switch; clones share it. The default is never paused.
#[derive(Clone, Default)]
pub struct Pause(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Whether the API and the file hold the pause; a lock, so that concurrent changes
    /// cannot leave `paused` disagreeing with them.
    holds: Mutex<Holds>,
    /// Either hold; read on every arrival, so an atomic rather than the watch's lock.
    paused: AtomicBool,
    /// Wakes waiters on every change of `paused`.
    changes: watch::Sender<bool>,
}

impl Pause {
    /// True while traffic is paused: one atomic load, for the hot loops.
    pub fn is_paused(&self) -> bool {
        self.0.paused.load(Ordering::Relaxed)
    }

    /// Whether `source` currently holds the pause.
    pub fn held_by(&self, source: PauseSource) -> bool {
        let holds = self.0.holds.lock().expect("pause lock poisoned");
        match source {
            PauseSource::Api => holds.api,
            PauseSource::File => holds.file,
        }
    }

    /// Sets or clears `source`'s hold; true if that changed whether traffic is paused.
    pub fn set(&self, source: PauseSource, on: bool) -> bool {
        let mut holds = self.0.holds.lock().expect("pause lock poisoned");
        match source {
            PauseSource::Api => holds.api = on,
            PauseSource::File => holds.file = on,
        }
        let paused = holds.api || holds.file;
        let was = self.0.paused.swap(paused, Ordering::Relaxed);
        if was != paused {
            self.0.changes.send_replace(paused);
        }
        was != paused
    }

    /// Waits until traffic is not paused; false if `cancel` fired first. Returns at once
    /// (after one atomic load) when not paused.
    pub async fn wait_resumed(&self, cancel: &CancellationToken) -> bool {
        if !self.is_paused() {
            return !cancel.is_cancelled();
        }
        let mut rx = self.0.changes.subscribe();
        tokio::select! {
            r = rx.wait_for(|paused| !paused) => r.is_ok(),
            _ = cancel.cancelled() => false,
        }
    }

    /// A receiver that sees every change of the paused state (for the metric and the log).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.changes.subscribe()
    }
}

#[derive(Default)]
struct Holds {
    api: bool,
    file: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_while_either_source_holds_it() {
        let p = Pause::default();
        assert!(!p.is_paused());
        assert!(p.set(PauseSource::Api, true));
        assert!(!p.set(PauseSource::File, true), "already paused");
        assert!(!p.set(PauseSource::Api, false), "the file still holds it");
        assert!(p.is_paused());
        assert!(p.set(PauseSource::File, false));
        assert!(!p.is_paused());
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_wake_on_resume_or_cancel() {
        let p = Pause::default();
        let cancel = CancellationToken::new();
        assert!(p.wait_resumed(&cancel).await, "not paused: at once");
        p.set(PauseSource::Api, true);
        let waiter = tokio::spawn({
            let (p, cancel) = (p.clone(), cancel.clone());
            async move { p.wait_resumed(&cancel).await }
        });
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        assert!(!waiter.is_finished());
        p.set(PauseSource::Api, false);
        assert!(waiter.await.expect("no panic"));

        p.set(PauseSource::File, true);
        let waiter = tokio::spawn({
            let (p, cancel) = (p.clone(), cancel.clone());
            async move { p.wait_resumed(&cancel).await }
        });
        cancel.cancel();
        assert!(!waiter.await.expect("no panic"), "cancelled while paused");
    }
}
