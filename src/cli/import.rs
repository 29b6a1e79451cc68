//! `loadtide import curl|har|openapi`: a loadtide config from a curl command line, a HAR
//! recording or an OpenAPI description (the conversions live in `crate::import`), printed on
//! stdout or written with `-o FILE` (an existing file only with `--force`). What was
//! dropped or guessed goes to stderr as notes; an input that cannot be imported is exit 2.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::EXIT_USAGE;
use crate::import::{self, Draft, ImportError};

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: Source,
}

#[derive(Subcommand, Debug)]
pub enum Source {
    /// The request of a curl command line, quoted whole: one endpoint, a constant-rate profile.
    Curl {
        /// The command line, e.g. 'curl -X POST https://api.example.com/items -d @item.json'.
        #[arg(value_name = "CURL_COMMAND")]
        command: String,
        #[command(flatten)]
        out: Output,
    },
    /// A browser session recorded as HAR: one user scenario per origin, in order, with the
    /// recorded pauses as think times.
    Har {
        /// The .har file (browser dev tools: Network, "Save all as HAR").
        file: PathBuf,
        /// Keep images, CSS, scripts, fonts and media (left out by default).
        #[arg(long)]
        keep_static: bool,
        /// Only the requests to this host (repeatable; default: every host in the recording).
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        #[command(flatten)]
        out: Output,
    },
    /// An OpenAPI 3 description (JSON or YAML): one endpoint per operation.
    Openapi {
        /// The description, .json or .yaml.
        file: PathBuf,
        /// The service's base URL (default: the description's servers[0]).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Args, Debug)]
pub struct Output {
    /// Write the config to FILE instead of stdout (refused if it exists, unless --force).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
}

pub(super) fn import(args: ImportArgs) -> u8 {
    let (draft, out) = match convert(args.source) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("nothing was imported");
            return EXIT_USAGE;
        }
    };
    for n in &draft.notes {
        eprintln!("note: {n}");
    }
    let text = import::render(&draft);
    let shown = out
        .output
        .as_ref()
        .map_or("the imported config".into(), |p| p.display().to_string());
    // What `check` will say, said now: e.g. the password variable that is not set yet.
    if let Err(errors) = import::check(&text, &shown, None) {
        for e in &errors.0 {
            eprintln!("warning: {e}");
        }
        eprintln!("warning: `loadtide check` rejects it until that is fixed");
    }
    let Some(path) = out.output else {
        print!("{text}");
        return 0;
    };
    let written = if out.force {
        std::fs::write(&path, &text).map_err(|e| format!("cannot write it: {e}"))
    } else {
        super::init::write_new(&path, &text, "give --force to replace it")
    };
    match written {
        Ok(()) => {
            let profile = draft.profiles.first().map_or("NAME", |p| p.name.as_str());
            eprintln!(
                "wrote {}; next: loadtide check --config {0}, then loadtide run --config {0} --profile {profile}",
                path.display()
            );
            0
        }
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            EXIT_USAGE
        }
    }
}

fn convert(source: Source) -> Result<(Draft, Output), ImportError> {
    Ok(match source {
        Source::Curl { command, out } => {
            let cwd = std::env::current_dir().map_err(|e| {
                ImportError::new("command line", format!("no working directory: {e}"))
            })?;
            (import::curl::import(&command, &cwd)?, out)
        }
        Source::Har {
            file,
            keep_static,
            hosts,
            out,
        } => {
            let filter = import::har::Filter { keep_static, hosts };
            (import::har::import(&file, &filter)?, out)
        }
        Source::Openapi { file, url, out } => {
            (import::openapi::import(&file, url.as_deref())?, out)
        }
    })
}
