//! Running the `loadtide` binary from tests: a command with no inherited `LOADTIDE_*`
//! variables (they set flags and config keys) and a hard timeout, so a run that would not end
//! fails the test instead of hanging it; and what it printed, shown whole when an assertion
//! fails.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

pub fn loadtide(timeout: Duration) -> Command {
    let mut cmd = Command::cargo_bin("loadtide").expect("the loadtide binary is built");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LOADTIDE_") {
            cmd.env_remove(k);
        }
    }
    cmd.timeout(timeout);
    cmd
}

/// What a finished command printed.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to the end.
pub fn output(cmd: &mut Command) -> Out {
    let out = cmd.output().expect("loadtide started");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON ({e}):\n{text}"))
}

pub fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

/// A child process (a `loadtide serve` under test) killed and reaped however the test ends.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `toml` as `loadtide.toml` in `dir` and runs its profile `profile` with `--json`:
/// what it printed and the summary, when it wrote one.
pub fn run_profile(dir: &Path, toml: &str, profile: &str) -> (Out, Option<Value>) {
    run_profile_env(dir, toml, profile, &[])
}

/// [`run_profile`] with environment variables set for the run (e.g. a `password_env`).
pub fn run_profile_env(
    dir: &Path,
    toml: &str,
    profile: &str,
    env: &[(&str, &str)],
) -> (Out, Option<Value>) {
    let config = dir.join("loadtide.toml");
    std::fs::write(&config, toml).expect("config written");
    let json = dir.join("summary.json");
    let _ = std::fs::remove_file(&json);
    let mut cmd = loadtide(Duration::from_secs(60));
    cmd.envs(env.iter().copied());
    let out = output(cmd.args([
        "run".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--profile".as_ref(),
        profile.as_ref(),
        "--json".as_ref(),
        json.as_os_str(),
    ]));
    let summary = json.exists().then(|| read_json(&json));
    (out, summary)
}

/// The summary's entry for endpoint `name`.
pub fn endpoint<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["endpoints"]
        .as_array()
        .expect("a summary lists its endpoints")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no endpoint {name}: {s:#}"))
}

/// A port on 127.0.0.1 nothing listens on now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Runs each config of `cases` (its profile `load`) and asserts it is refused with exit 2
/// and an error naming the key and saying the message; returns what each printed.
pub fn assert_refused(dir: &Path, cases: &[(String, &str, &str)]) -> Vec<Out> {
    cases
        .iter()
        .map(|(toml, key, message)| {
            let (out, _) = run_profile(dir, toml, "load");
            assert_eq!(out.code, Some(2), "{key}: {out:?}");
            assert!(out.stderr.contains(key), "{key}: {out:?}");
            assert!(out.stderr.contains(message), "{key}: {out:?}");
            out
        })
        .collect()
}

/// Profile `p` of the config `toml`, loaded as `loadtide` loads a file (in a directory of its
/// own, holding `files` too: (name, contents)).
pub fn load_profile(
    toml: &str,
    files: &[(&str, &str)],
) -> std::sync::Arc<loadtide::config::Profile> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).expect("file written");
    }
    let path = dir.path().join("p.toml");
    std::fs::write(&path, toml).expect("config written");
    let config = loadtide::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    config.profile("p").expect("profile p").clone()
}

/// `loadtide check --config PATH`.
pub fn check(config: &Path) -> Out {
    output(loadtide(Duration::from_secs(30)).args([
        "check".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]))
}

/// The requests of an open-model summary `s` of `n` arrivals: each was sent or, finding every
/// connection busy on a loaded machine, dropped and counted (never queued); most were sent.
pub fn sent_of(s: &Value, n: u64) -> u64 {
    let requests = s["requests"].as_u64().expect("requests");
    let dropped = s["dropped"].as_u64().expect("dropped");
    assert_eq!(requests + dropped, n, "{s:#}");
    assert!(requests > n / 2, "{s:#}");
    requests
}
