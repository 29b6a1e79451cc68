//! The kill switch's daemon side: the pause file, looked for every `PAUSE_FILE_CHECK`, and
//! `loadtide_paused`, mirroring the switch whichever source holds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::pause::{Pause, PauseSource};

/// How often the pause file is looked for.
const PAUSE_FILE_CHECK: Duration = Duration::from_secs(1);

/// Pauses or resumes traffic as `file` exists or not; an unreadable directory changes
/// nothing (a kill switch must not flip on an error) and is logged once in a row.
pub(super) fn look_for_pause_file(file: &Path, pause: &Pause, failing: &mut bool) {
    let found = file.try_exists();
    let was_failing = std::mem::replace(failing, found.is_err());
    match found {
        Ok(present) if present != pause.held_by(PauseSource::File) => {
            pause.set(PauseSource::File, present);
            let file = file.display();
            if present {
                tracing::warn!(%file, "pause file present: all traffic paused");
            } else if pause.is_paused() {
                tracing::warn!(%file, "pause file removed; still paused by POST /-/pause");
            } else {
                tracing::warn!(%file, "pause file removed: traffic resumed");
            }
        }
        Ok(_) => {}
        Err(e) if !was_failing => {
            tracing::warn!(file = %file.display(), error = %e, "cannot tell whether the pause file exists")
        }
        Err(_) => {}
    }
}

pub(super) async fn watch_pause_file(file: PathBuf, pause: Pause, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(PAUSE_FILE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => look_for_pause_file(&file, &pause, &mut failing),
            _ = cancel.cancelled() => return,
        }
    }
}

/// Mirrors the kill switch into `loadtide_paused`.
pub(super) async fn export_pause(pause: Pause, metrics: Arc<Metrics>) {
    let mut changes = pause.subscribe();
    loop {
        metrics.set_paused(*changes.borrow_and_update());
        if changes.changed().await.is_err() {
            return;
        }
    }
}
