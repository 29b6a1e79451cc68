//! Config fixtures, table-driven: every `tests/fixtures/config/bad/X.toml` must fail to load
//! with exactly the text in `X.err` (one line per error); every `good/*.toml` and every
//! `config/*.toml` shipped in the repo must load. `UPDATE_GOLDEN=1` rewrites the `.err` files;
//! review the diff by eye before keeping it.
//!
//! Paths are given relative to the crate root (cargo runs integration tests there), so the file
//! part of each message is stable: `tests/fixtures/config/bad/X.toml: ...`.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use loadtide::config;

const GOOD: &str = "tests/fixtures/config/good";
const BAD: &str = "tests/fixtures/config/bad";

fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// The `*.toml` files directly in `dir`, as crate-root-relative paths, sorted.
fn tomls(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| Path::new(dir).join(e.unwrap().file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    out.sort();
    out
}

/// Env overrides (`LOADTIDE_A__B=…`) apply to every load; a stray one in the developer's shell
/// would change what these tests see, so refuse to run with one set rather than flake.
fn assert_no_env_overrides() {
    let stray: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("LOADTIDE_") && k.contains("__"))
        .collect();
    assert!(
        stray.is_empty(),
        "unset {stray:?}: they override every config these tests load"
    );
}

#[test]
fn bad_configs_fail_with_the_expected_errors() {
    assert_no_env_overrides();
    let files = tomls(BAD);
    assert!(files.len() >= 20, "expected the bad fixtures in {BAD}");
    let mut failures = Vec::new();
    for toml in &files {
        let err_file = toml.with_extension("err");
        let actual = match config::load(toml) {
            Ok(_) => {
                failures.push(format!("{}: loaded, but must fail", toml.display()));
                continue;
            }
            Err(e) => format!("{e}\n"),
        };
        if update_golden() {
            fs::write(&err_file, &actual).unwrap();
            continue;
        }
        match fs::read_to_string(&err_file) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: error text differs (UPDATE_GOLDEN=1 rewrites it)\n--- expected\n{expected}--- actual\n{actual}",
                toml.display()
            )),
            Err(e) => failures.push(format!(
                "{}: cannot read {} ({e}); UPDATE_GOLDEN=1 writes it. Actual:\n{actual}",
                toml.display(),
                err_file.display()
            )),
        }
    }
    // Every .err belongs to a fixture, so renaming a .toml cannot leave a stale expectation.
    for e in fs::read_dir(BAD).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "err") && !p.with_extension("toml").exists() {
            failures.push(format!("{}: no matching .toml", p.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_error_names_the_file() {
    assert_no_env_overrides();
    for toml in tomls(BAD) {
        let errors = config::load(&toml).expect_err("bad fixture");
        for e in &errors.0 {
            assert_eq!(e.file, toml.display().to_string(), "{e}");
            assert!(!e.message.is_empty(), "{}: empty message", toml.display());
        }
    }
}

#[test]
fn several_errors_are_all_reported_at_once() {
    assert_no_env_overrides();
    let errors = config::load(Path::new("tests/fixtures/config/bad/many_errors.toml"))
        .expect_err("many_errors.toml is invalid");
    let keys: Vec<&str> = errors.0.iter().map(|e| e.key.as_str()).collect();
    for key in [
        "server.drain_timeout",
        "targets.api.url",
        "targets.api.timeout",
        "targets.api.buckets",
        "targets.api.endpoints[0].method",
        "targets.api.endpoints[0].path",
        // A duplicate of endpoint 0, which is itself invalid: still reported.
        "targets.api.endpoints[1].name",
        "profiles.checkout",
        "profiles.checkout.target",
        "profiles.browse.endpoints[1]",
        "profiles.browse.users",
        "profiles.browse.duration",
        "profiles.browse.thresholds[0]",
    ] {
        assert!(keys.contains(&key), "no error for `{key}` in:\n{errors}");
    }
}

#[test]
fn good_fixtures_load() {
    assert_no_env_overrides();
    let files = tomls(GOOD);
    assert!(!files.is_empty(), "expected good fixtures in {GOOD}");
    for toml in files {
        if let Err(e) = config::load(&toml) {
            panic!("{} must load:\n{e}", toml.display());
        }
    }
}

/// Like `tomls`, but also in subdirectories (`config/profiles/*.toml` and the like).
fn tomls_recursive(dir: &str) -> Vec<PathBuf> {
    let mut out = tomls(dir);
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tomls_recursive(p.to_str().unwrap()));
        }
    }
    out
}

#[test]
fn shipped_configs_load() {
    assert_no_env_overrides();
    let files = tomls_recursive("config");
    assert!(
        files.iter().any(|p| p.ends_with("loadtide.toml")),
        "config/loadtide.toml is the bundled default"
    );
    assert!(
        files.iter().any(|p| p.ends_with("examples/tcp.toml")),
        "config/examples/ holds an example per protocol"
    );
    for toml in files {
        if let Err(e) = config::load(&toml) {
            panic!("{} must load:\n{e}", toml.display());
        }
    }
}

#[test]
fn good_fixtures_mean_what_they_say() {
    assert_no_env_overrides();
    let c = config::load(Path::new("tests/fixtures/config/good/closed_model.toml")).unwrap();
    let p = c.profile("browse").unwrap();
    assert_eq!(p.target.name, "shop");
    // Only the subset named in the profile, and paths joined with the base URL's path.
    assert_eq!(p.endpoints.len(), 1);
    let e = &p.target.endpoints[p.endpoints[0]];
    assert_eq!(
        (e.name.as_str(), e.path.as_str()),
        ("list_items", "/v1/items?limit=10")
    );
    assert!(matches!(p.load, config::Load::Closed { .. }));
    assert_eq!(p.duration, Some(std::time::Duration::from_secs(90)));
    assert_eq!(p.requests, Some(1000));
    assert_eq!(p.thresholds.len(), 6);
    assert_eq!(p.target.timeout, std::time::Duration::from_secs(2));
    let post = &p.target.endpoints[1];
    assert_eq!(
        post.method,
        http::Method::POST,
        "methods are case-insensitive"
    );

    let full = config::load(Path::new("tests/fixtures/config/good/full.toml")).unwrap();
    let api = full.targets.iter().find(|t| t.name == "api").unwrap();
    assert_eq!(api.scheme, config::Scheme::Https);
    assert_eq!(api.authority(), "api.staging.example.internal:8443");
    assert_eq!(api.buckets, vec![0.005, 0.05, 0.5, 5.0]);
    assert_eq!(api.max_connections, 16);
    assert!(api.http2 && api.insecure);
    // body_file is read relative to the config file's directory.
    let upload = api.endpoints.iter().find(|e| e.name == "upload").unwrap();
    let sibling = fs::read("tests/fixtures/config/good/minimal.toml").unwrap();
    assert_eq!(upload.body.as_ref(), sibling.as_slice());
    let ws = full.targets.iter().find(|t| t.name == "ws").unwrap();
    assert_eq!(ws.authority(), "[::1]:9000");
    assert_eq!(full.server.listen.to_string(), "127.0.0.1:19632");
    assert_eq!(full.server.drain_timeout, std::time::Duration::from_secs(3));
    assert_eq!(
        full.demo_target.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:19633")
    );
}

#[test]
fn missing_file_is_an_error_not_an_empty_config() {
    assert_no_env_overrides();
    let path = Path::new("tests/fixtures/config/no-such-file.toml");
    let errors = config::load(path).expect_err("a missing file must not load");
    let text = errors.to_string();
    assert_eq!(errors.0.len(), 1, "{text}");
    assert!(
        text.starts_with("tests/fixtures/config/no-such-file.toml: cannot read config file: "),
        "{text}"
    );
}

/// Environment overrides, checked through the binary so this process's environment stays
/// untouched (tests run in parallel threads and share it).
#[test]
fn environment_overrides_the_file() {
    let minimal = "tests/fixtures/config/good/minimal.toml";
    let check = |envs: &[(&str, &str)]| {
        let mut cmd = assert_cmd::Command::cargo_bin("loadtide").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("LOADTIDE_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["check", "--config", minimal])
            .envs(envs.iter().copied());
        cmd.timeout(std::time::Duration::from_secs(30));
        cmd.output().unwrap()
    };

    let out = check(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("profile steady: open model, 5 req/s"),
        "{stdout}"
    );

    let out = check(&[("LOADTIDE_PROFILES__STEADY__RATE", "7")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("profile steady: open model, 7 req/s"),
        "{stdout}"
    );

    // A nested key for another part of the config, and a bad value from the environment is
    // reported as coming from the environment, with exit code 2.
    let out = check(&[("LOADTIDE_TARGETS__API__TIMEOUT", "3s")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(timeout 3s)"), "{stdout}");

    let out = check(&[("LOADTIDE_PROFILES__STEADY__RATE", "fast")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("environment (LOADTIDE_PROFILES__STEADY__RATE): `profiles.steady.rate`"),
        "{stderr}"
    );

    // A value of the right type that fails validation is blamed on the variable too.
    let out = check(&[("LOADTIDE_TARGETS__API__TIMEOUT", "5mns")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("environment (LOADTIDE_TARGETS__API__TIMEOUT): `targets.api.timeout`: invalid duration \"5mns\""),
        "{stderr}"
    );
}

/// A 5 MB file handed over as a config (a log, a dump, a generated monster) is refused before
/// it is parsed, quickly, with its size: configs are kilobytes, and request bodies of any
/// size go in `body_file`. Generated here rather than committed. The file is valid TOML (a
/// good config padded with comments), so only the size can be what refuses it.
#[test]
fn a_five_megabyte_file_fails_fast_naming_its_size() {
    assert_no_env_overrides();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let mut text = fs::read_to_string("tests/fixtures/config/good/minimal.toml").unwrap();
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    while text.len() < 5_000_000 {
        text.push_str(line);
    }
    fs::write(&path, &text).unwrap();
    let started = std::time::Instant::now();
    let errors = config::load(&path).expect_err("a 5 MB config must be refused");
    let elapsed = started.elapsed();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}: config file is too large (4.8 MiB; at most 1 MiB): is it the right file? (a \
             request body belongs in an endpoint's body_file)",
            path.display()
        )
    );
    assert!(
        elapsed < std::time::Duration::from_secs(2),
        "took {elapsed:?}"
    );
    // At the limit, the same text loads.
    text.truncate(1 << 20);
    let cut = text.rfind('\n').unwrap() + 1;
    text.truncate(cut);
    fs::write(&path, &text).unwrap();
    if let Err(e) = config::load(&path) {
        panic!("a config just under 1 MiB must load:\n{e}");
    }
}

/// Every error names its key path, except those about the whole file (not text, empty, another
/// format), and none is a raw dump of the parsers' own words (Rust type names, serde's
/// "sequence" and "map", croner's "Component error").
#[test]
fn every_error_names_its_key_in_the_configs_words() {
    assert_no_env_overrides();
    const WHOLE_FILE: &[&str] = &[
        "binary_file",
        "empty_file",
        "json_in_toml",
        "nul_bytes",
        "only_comments",
        "yaml_in_toml",
    ];
    for toml in tomls(BAD) {
        let stem = toml.file_stem().unwrap().to_str().unwrap();
        let errors = config::load(&toml).expect_err("bad fixture");
        for e in &errors.0 {
            if WHOLE_FILE.contains(&stem) {
                assert!(
                    e.key.is_empty(),
                    "{stem}: a whole-file error has no key: {e}"
                );
                continue;
            }
            assert!(!e.key.is_empty(), "{stem}: no key path in: {e}");
            assert!(
                !e.message.contains("s3cret"),
                "{stem}: a secret quoted in: {e}"
            );
            for raw in [
                "struct Raw",
                "found sequence",
                "a sequence",
                "found map",
                "Component error",
                "u64",
            ] {
                assert!(
                    !e.message.contains(raw),
                    "{stem}: parser words {raw:?} in: {e}"
                );
            }
        }
    }
}
