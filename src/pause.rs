//! The kill switch: one process-wide `Pause`, shared by the daemon (which watches the pause
//! file), the server (`POST /-/pause`, `/-/resume`) and every engine run (which stops sending
//! while it is on). Traffic is paused while either source says so: the API or the presence
//! of the pause file. It owns only the switch; what "paused" means for each load model lives
//! in the engine, and the metric in the daemon. A profile's own switch (the control API's
//! per-profile pause) is a `child` of the process-wide one: paused while either is.

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
    /// The control API paused one profile (`POST /api/v1/profiles/NAME/pause`).
    Profile,
}

/// A cheap handle on the switch; clones share it. The default is never paused.
#[derive(Clone, Default)]
pub struct Pause(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// The switch this one follows (a profile's follows the process-wide one).
    parent: Option<Pause>,
    /// Whether the API and the file hold the pause; a lock, so that concurrent changes
    /// cannot leave `paused` disagreeing with them.
    holds: Mutex<Holds>,
    /// Either hold; read on every arrival, so an atomic rather than the watch's lock.
    paused: AtomicBool,
    /// Wakes waiters on every change of `paused`.
    changes: watch::Sender<bool>,
}

impl Pause {
    /// A switch of its own that is also on while this one is.
    pub fn child(&self) -> Pause {
        Pause(Arc::new(Inner {
            parent: Some(self.clone()),
            ..Inner::default()
        }))
    }

    /// True while traffic is paused: an atomic load or two, for the hot loops.
    pub fn is_paused(&self) -> bool {
        self.0.paused.load(Ordering::Relaxed)
            || self.0.parent.as_ref().is_some_and(Pause::is_paused)
    }

    /// Whether this switch's own holds pause it (not its parent's).
    pub fn held(&self) -> bool {
        self.0.paused.load(Ordering::Relaxed)
    }

    /// Whether `source` currently holds the pause.
    pub fn held_by(&self, source: PauseSource) -> bool {
        let holds = self.0.holds.lock().expect("pause lock poisoned");
        match source {
            PauseSource::Api => holds.api,
            PauseSource::File => holds.file,
            PauseSource::Profile => holds.profile,
        }
    }

    /// Sets or clears `source`'s hold; true if that changed whether traffic is paused.
    pub fn set(&self, source: PauseSource, on: bool) -> bool {
        let mut holds = self.0.holds.lock().expect("pause lock poisoned");
        match source {
            PauseSource::Api => holds.api = on,
            PauseSource::File => holds.file = on,
            PauseSource::Profile => holds.profile = on,
        }
        let paused = holds.api || holds.file || holds.profile;
        let was = self.0.paused.swap(paused, Ordering::Relaxed);
        if was != paused {
            self.0.changes.send_replace(paused);
        }
        was != paused
    }

    /// Waits until traffic is not paused; false if `cancel` fired first. Returns at once
    /// (after one atomic load) when not paused.
    pub async fn wait_resumed(&self, cancel: &CancellationToken) -> bool {
        self.wait_until(false, cancel).await
    }

    /// Waits until traffic is paused; false if `cancel` fired first.
    pub async fn wait_paused(&self, cancel: &CancellationToken) -> bool {
        self.wait_until(true, cancel).await
    }

    async fn wait_until(&self, paused: bool, cancel: &CancellationToken) -> bool {
        // Subscribed before each check, so a change between the check and the wait wakes it.
        let mut chain = Vec::new();
        let mut p = Some(self);
        while let Some(q) = p {
            chain.push(q.0.changes.subscribe());
            p = q.0.parent.as_ref();
        }
        loop {
            if self.is_paused() == paused {
                return !cancel.is_cancelled();
            }
            let changes = chain.iter_mut().map(|rx| Box::pin(rx.changed()));
            tokio::select! {
                _ = futures_util::future::select_all(changes) => {}
                _ = cancel.cancelled() => return false,
            }
        }
    }

    /// A receiver that sees every change of this switch's own holds (for the metric and the
    /// log of the process-wide one).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.changes.subscribe()
    }
}

#[derive(Default)]
struct Holds {
    api: bool,
    file: bool,
    profile: bool,
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

    #[tokio::test(start_paused = true)]
    async fn a_child_is_paused_by_its_parent_or_by_itself() {
        let global = Pause::default();
        let (a, b) = (global.child(), global.child());
        let cancel = CancellationToken::new();
        a.set(PauseSource::Profile, true);
        assert_eq!(
            (a.is_paused(), b.is_paused(), global.is_paused()),
            (true, false, false)
        );
        global.set(PauseSource::Api, true);
        assert_eq!((a.is_paused(), b.is_paused()), (true, true));
        assert!(!b.held() && a.held());
        // b resumes when the parent does; a only once its own hold is gone too.
        let wait = |p: &Pause| {
            let (p, cancel) = (p.clone(), cancel.clone());
            tokio::spawn(async move { p.wait_resumed(&cancel).await })
        };
        let (wa, wb) = (wait(&a), wait(&b));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        global.set(PauseSource::Api, false);
        assert!(wb.await.expect("no panic"));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        assert!(!wa.is_finished());
        a.set(PauseSource::Profile, false);
        assert!(wa.await.expect("no panic"));
        // wait_paused sees the parent's pause.
        let paused = tokio::spawn({
            let (b, cancel) = (b.clone(), cancel.clone());
            async move { b.wait_paused(&cancel).await }
        });
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        global.set(PauseSource::File, true);
        assert!(paused.await.expect("no panic"));
    }
}
