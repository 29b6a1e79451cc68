//! `loadtide merge`: combines the JSON summaries of the shards of one run (`run --shard i/n` on
//! several machines, no coordinator) into the summary one run recording every sample would have
//! produced. Counts add, latency comes from the merged HDR histograms (exact percentiles), the
//! per-second timelines are aligned on wall-clock seconds, and thresholds are evaluated again on
//! the result. Reads files and writes one; sends no traffic and never touches the engine.
//!
//! `inputs` checks that the summaries belong together, `combine` adds them up, `timeline`
//! lays their seconds on one clock; the CLI around it is `cli::merge`.

use super::findings::run::for_run;
use super::summary::{latency, ratio, Summary};
use combine::{merge_scenarios, per_second, Totals};
use inputs::check_inputs;
use timeline::timeline;

mod combine;
pub mod inputs;
mod timeline;

/// Why summaries cannot be merged; each names the input file(s) at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    NoInputs,
    #[error(
        "{file}: no latency histogram{what} (written by an older loadtide?): percentiles cannot be merged exactly"
    )]
    MissingHistogram { file: String, what: String },
    #[error("{file}: no started_at (written by an older loadtide?): timelines cannot be aligned")]
    MissingStart { file: String },
    #[error("profiles differ: {first} ran {first_profile:?}, {file} ran {profile:?}")]
    ProfileMismatch {
        first: String,
        first_profile: String,
        file: String,
        profile: String,
    },
    #[error("shard {index}/{count} appears twice: {first} and {file}")]
    DuplicateShard {
        index: u32,
        count: u32,
        first: String,
        file: String,
    },
    #[error("shard counts differ: {first} is a shard of {first_count}, {file} of {count}")]
    ShardCountMismatch {
        first: String,
        first_count: u32,
        file: String,
        count: u32,
    },
    #[error("{file}: {reason}")]
    Threshold { file: String, reason: String },
    #[error("{file}: cannot merge its histogram{what}: {reason}")]
    Histogram {
        file: String,
        what: String,
        reason: String,
    },
}

/// Merges `summaries`, naming them `input 1`, `input 2`, … in errors.
pub fn merge(summaries: Vec<Summary>) -> Result<Summary, MergeError> {
    merge_named(
        summaries
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("input {}", i + 1), s))
            .collect(),
    )
}

/// Merges `(file name, summary)` pairs into the summary of the whole run, thresholds checked.
pub fn merge_named(inputs: Vec<(String, Summary)>) -> Result<Summary, MergeError> {
    let Some((_, first_summary)) = inputs.first() else {
        return Err(MergeError::NoInputs);
    };
    check_inputs(&inputs)?;
    let Totals {
        histogram,
        mut endpoints,
        status_codes,
        error_kinds,
        requests,
        successes,
        errors,
        dropped,
        dropped_safety,
        abandoned,
        bytes_received,
        thresholds,
        windowed,
        start,
        end,
    } = Totals::of(&inputs)?;

    // Shards run side by side: the merged run lasts from the first start to the last end.
    let duration_s = (end - start).max(0.0);
    let warmup_s = inputs.iter().map(|(_, s)| s.warmup_s).fold(0.0, f64::max);
    let measured_s = duration_s - warmup_s;
    for e in &mut endpoints {
        e.error_rate = ratio(e.errors, e.requests);
        e.rps = per_second(e.requests, measured_s);
        e.latency = e.histogram.as_ref().map(latency).unwrap_or_default();
    }
    let seed = first_summary
        .seed
        .filter(|seed| inputs.iter().all(|(_, s)| s.seed == Some(*seed)));
    let mut merged = Summary {
        profile: first_summary.profile.clone(),
        started_at: Some(start),
        shard: None,
        seed,
        requests,
        successes,
        errors,
        error_rate: ratio(errors, requests),
        rps: per_second(requests, measured_s),
        duration_s,
        dropped,
        dropped_safety,
        abandoned,
        bytes_received,
        latency: histogram.as_ref().map(latency).unwrap_or_default(),
        status_codes,
        error_kinds,
        endpoints,
        thresholds: Vec::new(),
        timeline: timeline(&inputs, start),
        histogram,
        scenario: merge_scenarios(&inputs, duration_s),
        findings: Vec::new(),
        windows: Vec::new(),
        warmup_s,
    };
    // Windowed verdicts are carried over (see `combine::carry_windows`), then kept by `check`.
    merged.thresholds = windowed;
    merged.check(&thresholds);
    merged.findings = for_run(&merged, None);
    Ok(merged)
}

#[cfg(test)]
mod tests;
