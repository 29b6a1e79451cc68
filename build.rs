//! Stamps the git revision into the binary for `loadtide_build_info`.
use std::process::Command;

fn main() {
    // A container build has no .git: it passes the revision in LOADTIDE_REVISION instead.
    println!("cargo:rerun-if-env-changed=LOADTIDE_REVISION");
    let from_env = std::env::var("LOADTIDE_REVISION")
        .ok()
        .filter(|s| !s.is_empty());
    let rev = from_env.unwrap_or_else(|| git_revision().unwrap_or_else(|| "unknown".into()));
    println!("cargo:rustc-env=LOADTIDE_REVISION={rev}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}

fn git_revision() -> Option<String> {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
