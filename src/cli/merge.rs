//! `loadtide merge` on the command line: its arguments, reading the JSON files, printing and
//! writing the merged summary, and the exit code.

use std::path::{Path, PathBuf};

use clap::Args;

use super::exit::{EXIT_RUNTIME, EXIT_THRESHOLDS, EXIT_USAGE};
use crate::config::Threshold;
use crate::engine::Shard;
use crate::report::merge::inputs::missing_shards;
use crate::report::merge::merge_named;
use crate::report::render;
use crate::report::summary::Summary;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// JSON summaries written by `loadtide run --json`, one per shard.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the merged summary as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pass/fail criterion checked besides those the inputs carry, e.g. 'p99<300ms' (repeatable).
    #[arg(long = "threshold", short = 't')]
    pub thresholds: Vec<String>,
    /// Write a report of the merged run: self-contained HTML (.html) or Markdown (.md) (repeatable).
    #[arg(long = "report", value_name = "PATH", value_parser = super::run::parse_report_path)]
    pub reports: Vec<PathBuf>,
    /// No text summary on stdout (the exit code and --json still tell).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Reads one JSON summary; the error says what is wrong without the file name.
fn read(path: &Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not a loadtide JSON summary: {e}"))
}

/// `loadtide merge`: reads, merges, prints the text summary as `run` does, writes `--json`.
/// Exit code 0 when every threshold holds, 1 when one fails, 2 for bad input or usage (an
/// unreadable, invalid or unmergeable file, a bad --threshold), 3 when --json cannot be written.
pub fn merge_command(args: MergeArgs) -> u8 {
    let mut extra = Vec::new();
    for t in &args.thresholds {
        match t.parse::<Threshold>() {
            Ok(t) if t.window.is_some() => {
                eprintln!(
                    "error: command line: `--threshold`: {:?}: windowed thresholds cannot be \
                     evaluated by merge (shard summaries keep no per-window histograms); give \
                     them to each shard's run",
                    t.expr
                );
                return EXIT_USAGE;
            }
            Ok(t) => extra.push(t),
            Err(e) => {
                eprintln!("error: command line: `--threshold`: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let mut inputs = Vec::new();
    let mut unreadable = 0;
    for path in &args.files {
        let file = path.display().to_string();
        match read(path) {
            Ok(s) => inputs.push((file, s)),
            Err(e) => {
                eprintln!("error: {file}: {e}");
                unreadable += 1;
            }
        }
    }
    if unreadable > 0 {
        return EXIT_USAGE;
    }
    let shards: Vec<Shard> = inputs.iter().filter_map(|(_, s)| s.shard).collect();
    let mut summary = match merge_named(inputs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if let Some(w) = missing_shards(&shards) {
        eprintln!("warning: {w}");
    }

    // The inputs' thresholds (already in the summary, in order), then the command line's.
    let mut thresholds: Vec<Threshold> = summary
        .thresholds
        .iter()
        .filter_map(|r| r.expr.parse().ok())
        .collect();
    for t in extra {
        if !thresholds.iter().any(|k| k.expr == t.expr) {
            thresholds.push(t);
        }
    }
    let passed = summary.check(&thresholds);
    if !args.quiet {
        print!("{}", render::text(&summary, &thresholds));
    }
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, render::json(&summary)) {
            eprintln!(
                "error: cannot write the JSON summary to {}: {e}",
                path.display()
            );
            return EXIT_RUNTIME;
        }
    }
    if let Err(e) = write_reports(&args, &summary) {
        eprintln!("error: {e}");
        return EXIT_RUNTIME;
    }
    if passed {
        0
    } else {
        EXIT_THRESHOLDS
    }
}

/// The `--report` files of the merged summary.
fn write_reports(args: &MergeArgs, summary: &Summary) -> Result<(), String> {
    use crate::report::{html, markdown};
    let meta = html::ReportMeta {
        deltas: Vec::new(),
        command: crate::redact::command_line(std::env::args()),
        target: format!("{} shard summaries, merged", args.files.len()),
    };
    for path in &args.reports {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("md") => markdown::markdown(summary, &meta),
            _ => html::html(summary, &meta),
        };
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
    }
    Ok(())
}
