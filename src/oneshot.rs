//! `loadtide run`: one profile, run to its end (or until cancelled), with exact statistics, live
//! progress on a terminal, the summary and the threshold verdicts. A sampler reads the
//! in-flight gauge and the intended rate every 100 ms into the per-second timeline.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::Profile;
use crate::engine::{run_profile, RunSpec, Shard};
use crate::metrics::{Metrics, ProfileRecorder, RunStats};
use crate::report::render::seconds;
use crate::report::summary::StreamMessages;
use crate::report::Summary;

/// One pass of `profile`'s pattern from its beginning, `speed` times faster than real
/// time, as shard `shard`: it lasts the profile's `duration`, or else the pattern's length.
pub fn one_pass(profile: &Profile, shard: Shard, speed: f64) -> RunSpec {
    let length = profile
        .duration
        .or_else(|| profile.load.pattern().length().map(|l| l.div_f64(speed)));
    RunSpec {
        shard,
        speed,
        ..RunSpec::once(length)
    }
}

/// Runs one pass of `profile` and summarises it; thresholds are evaluated into the summary.
/// `progress` draws a live line on stderr (only when it is a terminal).
pub async fn run_once(profile: Arc<Profile>, progress: bool) -> (Summary, bool) {
    let spec = one_pass(&profile, Shard::WHOLE, 1.0);
    run_once_until(profile, spec, progress, CancellationToken::new()).await
}

/// Runs `profile` as `spec` says, ending early (with a summary of what ran) when `cancel`
/// fires.
pub async fn run_once_until(
    profile: Arc<Profile>,
    spec: RunSpec,
    progress: bool,
    cancel: CancellationToken,
) -> (Summary, bool) {
    let mut endpoints: Vec<(String, String)> = profile
        .target
        .endpoints
        .iter()
        .map(|e| (e.name.clone(), e.method.to_string()))
        .collect();
    if profile.target.websocket.is_some() {
        let (name, method) = crate::report::websocket::STATS_ENDPOINT;
        endpoints.push((name.into(), method.into()));
    }
    let stats = RunStats::new(&endpoints);
    stats
        .lock()
        .expect("stats lock poisoned")
        .measure(profile.warmup, &profile.thresholds);
    // Wall-clock start, beside the run clock RunStats just started: aligns shards' timelines.
    let started_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .ok();
    let metrics = Metrics::new();
    let recorder = ProfileRecorder::new(&metrics, &profile, Some(stats.clone()));

    let bar = (progress && std::io::stderr().is_terminal())
        .then(|| live_progress(&profile, spec.length, &stats));
    let drain = profile
        .target
        .timeout
        .saturating_add(Duration::from_secs(1));
    let shard = spec.shard;
    let sampler = tokio::spawn(sample(
        recorder.clone(),
        stats.clone(),
        matches!(profile.load, crate::config::Load::Open { .. }),
    ));
    let lag0 = crate::metrics::health::lag_buckets(&metrics, &profile.name);
    let cpu0 = crate::metrics::health::process_cpu_seconds();
    let end = run_profile(profile.clone(), spec, recorder.clone(), cancel, drain).await;
    let generator = generator_health(&metrics, &profile.name, &lag0, cpu0, end.elapsed);
    sampler.abort();
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
    if let Some(ws) = recorder.websocket() {
        crate::report::websocket::summarise(&mut summary, &ws.totals());
    }
    for (idx, series) in recorder.grpc_streams().iter().enumerate() {
        let Some(series) = series else { continue };
        let name = &profile.target.endpoints[idx].name;
        if let Some(e) = summary.endpoints.iter_mut().find(|e| &e.name == name) {
            let (sent, received, _) = series.totals();
            e.stream = Some(StreamMessages { sent, received });
        }
    }
    summary.abandoned = end.abandoned as u64;
    summary.started_at = started_at;
    if !shard.is_whole() {
        summary.shard = Some(shard);
    }
    summary.seed = seed_used(&profile);
    if let Some(sc) = &profile.scenario {
        summary.scenario = Some(crate::report::summary::ScenarioSummary::new(
            &sc.name,
            &s,
            summary.measured_s(),
        ));
    }
    let passed = summary.check(&profile.thresholds);
    summary.findings = crate::report::findings::run::for_run(&summary, Some(&generator));
    (summary, passed)
}

/// The generator's lag and CPU over the run, judged by the limits a capacity level uses.
/// CPU is judged only over runs of at least `CPU_MIN_WALL`: `cpu0` is read before the client
/// is set up (TLS roots, pools), which a very short run would count against a tiny wall time.
fn generator_health(
    metrics: &Metrics,
    profile: &str,
    lag0: &(Vec<(f64, u64)>, u64),
    cpu0: Option<f64>,
    elapsed: Duration,
) -> crate::report::findings::GeneratorHealth {
    use crate::metrics::health::{lag_between, lag_buckets, process_cpu_seconds, HealthLimits};
    const CPU_MIN_WALL: Duration = Duration::from_secs(2);
    let limits = HealthLimits::default();
    let bound = limits.max_lag.as_secs_f64();
    let (lag_p99, late_share) = lag_between(lag0, &lag_buckets(metrics, profile), bound);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_utilisation = match (cpu0, process_cpu_seconds()) {
        (Some(before), Some(after)) if elapsed >= CPU_MIN_WALL => {
            (after - before).max(0.0) / (elapsed.as_secs_f64() * cores)
        }
        _ => 0.0,
    };
    crate::report::findings::GeneratorHealth {
        lag_p99,
        late_share,
        lag_bound: bound,
        cpu_utilisation,
        max_cpu: limits.max_cpu,
    }
}

/// Every `SAMPLE_EVERY`, the requests in flight and (open model) the intended rate, into the
/// timeline. Off the hot path: it reads the gauges the executors keep anyway.
async fn sample(recorder: Arc<ProfileRecorder>, stats: crate::metrics::SharedStats, open: bool) {
    let mut tick = tokio::time::interval(crate::metrics::stats::SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let intended = open.then(|| recorder.intended_rps());
        stats
            .lock()
            .expect("stats lock poisoned")
            .sample(recorder.in_flight(), intended);
    }
}

/// The seed that replays the run's random choices (a random pattern's, or the Poisson
/// arrivals'), if it made any.
fn seed_used(profile: &Profile) -> Option<u64> {
    match profile.arrivals {
        crate::config::Arrivals::Poisson { seed } => Some(seed),
        crate::config::Arrivals::Even => profile.load.pattern().seed(),
    }
}

fn live_progress(
    profile: &Profile,
    length: Option<Duration>,
    stats: &crate::metrics::SharedStats,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = match length {
        Some(d) => ProgressBar::new(d.as_secs().max(1)),
        None => ProgressBar::new(profile.requests.unwrap_or(0)),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {elapsed_precise} / {eta} left  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let (bar2, stats, by_time) = (bar.clone(), stats.clone(), length.is_some());
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
