//! What `run` and `capacity` load: a profile of a config, or an ad hoc target from `--url`
//! with its request. One set of flags, so both commands spell and check them alike.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Default, Clone)]
pub struct TargetArgs {
    /// Config file to take the profile from (with --profile).
    #[arg(long, env = "LOADTIDE_CONFIG", requires = "profile")]
    pub config: Option<PathBuf>,
    /// Environment overlay: merge --config's sibling `<stem>.NAME.toml` (e.g. loadtide.staging.toml) over it.
    #[arg(long, env = "LOADTIDE_ENV", value_name = "NAME", requires = "config")]
    pub env: Option<String>,
    /// The profile to run from --config.
    #[arg(long, short, env = "LOADTIDE_PROFILE", requires = "config")]
    pub profile: Option<String>,
    /// Target URL for an ad hoc run.
    #[arg(long, short, env = "LOADTIDE_URL", conflicts_with = "config")]
    pub url: Option<String>,
    /// HTTP method.
    #[arg(long, short = 'm', env = "LOADTIDE_METHOD", default_value = "GET")]
    pub method: String,
    /// Request header "Name: value" (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, short = 'b', conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
}
