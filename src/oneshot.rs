//! `loadtide run`: one profile, run to its end (or until cancelled), with exact statistics, live
//! progress on a terminal, the summary and the threshold verdicts.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::Profile;
use crate::engine::run_profile;
use crate::metrics::{Metrics, ProfileRecorder, RunStats};
use crate::report::render::seconds;
use crate::report::Summary;

/// Runs `profile` once and summarises it; thresholds are evaluated into the summary.
/// `progress` draws a live line on stderr (only when it is a terminal).
pub async fn run_once(profile: Arc<Profile>, progress: bool) -> (Summary, bool) {
    run_once_until(profile, progress, CancellationToken::new()).await
}

/// As `run_once`, ending early (with a summary of what ran) when `cancel` fires.
pub async fn run_once_until(
    profile: Arc<Profile>,
    progress: bool,
    cancel: CancellationToken,
) -> (Summary, bool) {
    let endpoints: Vec<(String, String)> = profile
        .target
        .endpoints
        .iter()
        .map(|e| (e.name.clone(), e.method.to_string()))
        .collect();
    let stats = RunStats::new(&endpoints);
    let metrics = Metrics::new();
    let recorder = ProfileRecorder::new(&metrics, &profile, Some(stats.clone()));

    let bar =
        (progress && std::io::stderr().is_terminal()).then(|| live_progress(&profile, &stats));
    let drain = profile.target.timeout + Duration::from_secs(1);
    let end = run_profile(profile.clone(), recorder, cancel, drain).await;
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
    let mut s = stats.lock().expect("stats lock poisoned");
    if end.abandoned > 0 {
        tracing::warn!(
            abandoned = end.abandoned,
            "requests still in flight after the drain time are left out of the summary"
        );
    }
    let mut summary = Summary::new(&profile.name, &mut s, end.elapsed);
    summary.abandoned = end.abandoned as u64;
    let passed = summary.check(&profile.thresholds);
    (summary, passed)
}

fn live_progress(
    profile: &Profile,
    stats: &crate::metrics::SharedStats,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = match profile.duration {
        Some(d) => ProgressBar::new(d.as_secs().max(1)),
        None => ProgressBar::new(profile.requests.unwrap_or(0)),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {elapsed_precise} / {eta} left  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let (bar2, stats, by_time) = (bar.clone(), stats.clone(), profile.duration.is_some());
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last = (0u64, started);
        loop {
            tick.tick().await;
            let (requests, errors, p99) = stats.lock().expect("stats lock poisoned").progress();
            let now = tokio::time::Instant::now();
            let rate =
                (requests - last.0) as f64 / now.duration_since(last.1).as_secs_f64().max(1e-3);
            last = (requests, now);
            bar2.set_position(if by_time {
                started.elapsed().as_secs()
            } else {
                requests
            });
            bar2.set_message(format!(
                "{requests} req  {rate:.0}/s  p99 {}  errors {errors}",
                p99.map(seconds).unwrap_or_else(|| "-".into())
            ));
        }
    });
    (bar, task)
}
