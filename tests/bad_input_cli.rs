//! Bad input on the command line, through the binary: conflicting and invalid flags of `run`
//! and `capacity`, bad `--env` overlays and environment overrides, files that cannot be read,
//! a web config whose certificate is missing. Each is refused with exit code 2, nothing sent,
//! and stderr names the flag (or file and key) and the bad value.
//!
//! No case reaches a target: every URL points at 127.0.0.1 on a port nothing listens on, and
//! each command is refused before it would connect (under a hard timeout all the same).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use common::cli::{free_port, loadtide, output, Out};

mod common;

fn exec(args: &[&str]) -> Out {
    output(loadtide(Duration::from_secs(30)).args(args))
}

fn exec_env(args: &[&str], envs: &[(&str, &str)]) -> Out {
    output(
        loadtide(Duration::from_secs(30))
            .args(args)
            .envs(envs.iter().copied()),
    )
}

/// Asserts `out` is a refusal (exit 2, nothing run) whose stderr says every one of `needles`.
fn assert_refused(what: &str, out: &Out, needles: &[&str]) {
    assert_eq!(out.code, Some(2), "{what}: {out:?}");
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "{what}: no {n:?} in stderr: {out:?}"
        );
    }
    assert!(
        !out.stderr.contains("panicked"),
        "{what}: a panic is not an error message: {out:?}"
    );
}

const GOOD: &str = "[targets.api]
url = \"http://127.0.0.1:9\"

[[targets.api.endpoints]]
name = \"home\"

[profiles.steady]
target = \"api\"
rate = 5
duration = \"1s\"
";

fn url() -> String {
    format!("http://127.0.0.1:{}/", free_port())
}

#[test]
fn conflicting_flags_are_refused() {
    let u = url();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "--url", &u, "--config", "x.toml", "--profile", "p"],
            &["--url", "--config"],
        ),
        (
            &["run", "--url", &u, "--rate", "5", "--concurrency", "2"],
            &["--rate", "--concurrency"],
        ),
        (
            &["run", "--url", &u, "--body", "x", "--body-file", "b.json"],
            &["--body", "--body-file"],
        ),
        (&["run", "--config", "x.toml"], &["--profile"]),
        (&["run", "--profile", "steady"], &["--config"]),
        (
            &["capacity", "--url", &u, "--factor", "2", "--step", "10"],
            &["--factor", "--step"],
        ),
        (&["run", "--url", &u, "--no-such-flag"], &["--no-such-flag"]),
        // An overlay of nothing: --env only merges over a --config file.
        (
            &["run", "--url", &u, "--env", "staging"],
            &["--env", "--config"],
        ),
        (
            &["capacity", "--url", &u, "--env", "staging"],
            &["--env", "--config"],
        ),
        (&["run"], &["--url", "--config"]),
    ];
    for (args, needles) in cases {
        assert_refused(&args.join(" "), &exec(args), needles);
    }
}

#[test]
fn invalid_flag_values_name_the_flag_and_the_value() {
    let u = url();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--url", u.as_str(), "--quiet"];
        args.extend_from_slice(extra);
        exec(&args)
    };
    let cases: &[(&[&str], &[&str])] = &[
        (&["--rate", "-1"], &["--rate", "-1"]),
        (&["--rate", "0"], &["--rate", "0"]),
        (&["--rate", "nan"], &["--rate", "NaN"]),
        (&["--rate", "inf"], &["--rate", "inf"]),
        (&["--rate", "fast"], &["--rate", "fast"]),
        (&["--concurrency", "0"], &["--concurrency", "0"]),
        (&["--concurrency", "-3"], &["--concurrency", "-3"]),
        (&["--duration", "0"], &["--duration", "\"0\""]),
        (&["--duration", "0s"], &["--duration", "\"0s\""]),
        (&["--duration", "forever"], &["--duration", "forever"]),
        (&["--requests", "0"], &["--requests", "0"]),
        (&["--timeout", "0ms"], &["--timeout", "0ms"]),
        (
            &["--max-in-flight", "0", "--rate", "5"],
            &["--max-in-flight", "0"],
        ),
        (&["--threshold", "p99 fast"], &["--threshold", "p99 fast"]),
        (&["--threshold", "p99<fast"], &["--threshold", "p99<fast"]),
        (
            &["--threshold", "erorr_rate<1%"],
            &["--threshold", "erorr_rate"],
        ),
        (
            &["--threshold", "error_rate<150%"],
            &["--threshold", "150%"],
        ),
        (&["--warmup", "5s", "--duration", "2s"], &["--warmup", "5s"]),
        (&["--spawn-rate", "-1"], &["--spawn-rate", "-1"]),
        (&["--speed", "0"], &["--speed", "0"]),
        (&["--shard", "3/2"], &["--shard", "3/2"]),
        (&["--start-at", "yesterday"], &["--start-at", "yesterday"]),
        (&["--report", "out.pdf"], &["--report", "out.pdf"]),
        (&["--method", "GE T"], &["--method", "GE T"]),
        (
            &["--allow-host", "10.0.0.0/33"],
            &["--allow-host", "10.0.0.0/33"],
        ),
        (&["--allow-host", "example.com"], &["--url", "127.0.0.1"]),
        (
            &["--body-file", "no-such-body.json"],
            &["--body-file", "no-such-body.json"],
        ),
    ];
    for (extra, needles) in cases {
        assert_refused(&extra.join(" "), &run(extra), needles);
    }
    // Header values may be secrets: the flag is named, the value is not echoed.
    let out = run(&["--header", "Authorization Bearer s3cret"]);
    assert_refused("--header without a colon", &out, &["--header"]);
    assert!(!out.stderr.contains("s3cret"), "{out:?}");
}

#[test]
fn invalid_urls_are_refused() {
    let port = free_port();
    let cases = [
        (
            format!("ftp://127.0.0.1:{port}"),
            "unsupported scheme \"ftp\"",
        ),
        (format!("127.0.0.1:{port}"), "no scheme"),
        ("http://127.0.0.1:70000/".to_string(), "70000"),
        (
            "http://user:pw@127.0.0.1:9/".to_string(),
            "credentials in a URL",
        ),
        ("ws://127.0.0.1:9/".to_string(), "needs a config file"),
        ("grpc://127.0.0.1:9".to_string(), "needs a config file"),
    ];
    for (u, message) in cases {
        let out = exec(&["run", "--url", &u, "--quiet"]);
        assert_refused(&u, &out, &["--url", message]);
        assert!(!out.stderr.contains("pw@"), "{out:?}");
    }
}

#[test]
fn capacity_flags_are_checked() {
    let u = url();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--slo", "p99 fast"], &["--slo", "p99 fast"]),
        (
            &["--slo", "p99<1s", "--start-rate", "0"],
            &["--start-rate", "0"],
        ),
        (
            &["--slo", "p99<1s", "--start-rate", "-5"],
            &["--start-rate", "-5"],
        ),
        (&["--slo", "p99<1s", "--factor", "1"], &["--factor", "1"]),
        (
            &["--slo", "p99<1s", "--precision", "150%"],
            &["--precision", "invalid precision 1.5"],
        ),
        (&["--slo", "p99<1s", "--hold", "soon"], &["--hold", "soon"]),
        (
            &["--slo", "p99<1s", "--max-levels", "0"],
            &["--max-levels", "must be at least 1, got 0"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["capacity", "--url", u.as_str(), "--quiet"];
        args.extend_from_slice(extra);
        assert_refused(&extra.join(" "), &exec(&args), needles);
    }
}

/// `--config` files that are not configs: missing, a directory, empty, binary, too large.
#[test]
fn unreadable_config_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let write = |name: &str, bytes: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let missing = d.join("missing.toml").display().to_string();
    let dir_path = d.display().to_string();
    let empty = write("empty.toml", b"");
    let binary = write("binary.toml", b"\x7fELF\x00\x01\xff\xfe");
    let mut big = GOOD.as_bytes().to_vec();
    big.resize(3 << 20, b'#');
    let big = write("big.toml", &big);
    let cases = [
        (&missing, "cannot read config file"),
        (&dir_path, "it is a directory"),
        (&empty, "the file is empty"),
        (&binary, "is not text"),
        (&big, "too large (3.0 MiB; at most 1 MiB)"),
    ];
    // A device with no end: read up to the cap, then refused, not read forever.
    let zero = "/dev/zero".to_string();
    let mut cases = cases.to_vec();
    if std::path::Path::new(&zero).exists() {
        cases.push((&zero, "too large (over 1 MiB; at most 1 MiB)"));
    }
    for (path, message) in cases {
        for cmd in [
            vec!["check", "--config", path.as_str()],
            vec!["run", "--config", path.as_str(), "--profile", "steady"],
        ] {
            assert_refused(&cmd.join(" "), &exec(&cmd), &[path.as_str(), message]);
        }
    }
}

#[test]
fn unknown_profile_suggests_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, GOOD).unwrap();
    let p = path.to_str().unwrap();
    let out = exec(&["run", "--config", p, "--profile", "stedy", "--quiet"]);
    assert_refused(
        "--profile stedy",
        &out,
        &[
            p,
            "--profile",
            "\"stedy\"",
            "did you mean \"steady\"?",
            "(known: steady)",
        ],
    );
}

/// A warmup from the file that is not shorter than the run is blamed on the file's key, not
/// on a `--warmup` flag nobody gave.
#[test]
fn warmup_from_the_file_is_blamed_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadtide.toml");
    std::fs::write(
        &path,
        GOOD.replace("duration = \"1s\"", "duration = \"1s\"\nwarmup = \"5s\""),
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let out = exec(&["run", "--config", p, "--profile", "steady", "--quiet"]);
    assert_refused(
        "warmup 5s",
        &out,
        &[p, "`profiles.steady.warmup`", "warmup 5s"],
    );
    assert!(!out.stderr.contains("--warmup"), "{out:?}");
}

/// `--env` overlays and `LOADTIDE_*` overrides with bad content are blamed on their source.
#[test]
fn bad_overlays_and_environment_overrides_name_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("loadtide.toml");
    std::fs::write(&base, GOOD).unwrap();
    let b = base.to_str().unwrap();
    let overlay = |env: &str, text: &[u8]| {
        let p = dir.path().join(format!("loadtide.{env}.toml"));
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let syntax = overlay("syntax", b"[profiles.steady\nrate = 5\n");
    let types = overlay("types", b"[profiles.steady]\nrate = \"fast\"\n");
    let value = overlay("value", b"[targets.api]\ntimeout = \"5 mintues\"\n");
    let typo = overlay("typo", b"[targets.api]\ntimout = \"5s\"\n");
    let binary = overlay("binary", b"\x00\x01\x02");
    let cases = [
        (
            "syntax",
            vec![syntax.as_str(), "TOML parse error at line 1"],
        ),
        (
            "types",
            vec![
                types.as_str(),
                "`profiles.steady.rate`",
                "found the string \"fast\"",
            ],
        ),
        (
            "value",
            vec![value.as_str(), "`targets.api.timeout`", "\"5 mintues\""],
        ),
        (
            "typo",
            vec![
                typo.as_str(),
                "`targets.api.timout`",
                "did you mean \"timeout\"?",
            ],
        ),
        ("binary", vec![binary.as_str(), "is not text"]),
        (
            "nope",
            vec![
                "loadtide.nope.toml",
                "cannot read the overlay of --env nope",
            ],
        ),
        ("", vec!["invalid --env \"\""]),
    ];
    for (env, needles) in &cases {
        let out = exec(&["check", "--config", b, "--env", env]);
        assert_refused(&format!("--env {env:?}"), &out, needles);
    }

    let vars: &[(&str, &str, &[&str])] = &[
        (
            "LOADTIDE_TARGETS__API__TIMOUT",
            "5s",
            &["`targets.api.timout`", "did you mean \"timeout\"?"],
        ),
        (
            "LOADTIDE_PROFILES__STEADY__RATE",
            "-1",
            &[
                "environment (LOADTIDE_PROFILES__STEADY__RATE)",
                "invalid rate -1",
            ],
        ),
        (
            "LOADTIDE_TARGETS__API__MAX_CONNECTIONS",
            "many",
            &[
                "environment (LOADTIDE_TARGETS__API__MAX_CONNECTIONS)",
                "\"many\"",
            ],
        ),
        (
            "LOADTIDE_PROFILES__STEADY__SCHEDULE__TIMEZONE",
            "Mars/Olympus",
            &[
                "environment (LOADTIDE_PROFILES__STEADY__SCHEDULE__TIMEZONE)",
                "\"Mars/Olympus\"",
            ],
        ),
    ];
    for (k, v, needles) in vars {
        let out = exec_env(&["check", "--config", b], &[(k, v)]);
        assert_refused(&format!("{k}={v}"), &out, needles);
    }
}

/// `serve` flags: a listen address that is not one, a web config that is not there.
#[test]
fn serve_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("loadtide.toml");
    std::fs::write(&config, "[server]\ndrain_timeout = \"1s\"\n").unwrap();
    let c = config.to_str().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cases: [(Vec<&str>, &[&str]); 3] = [
        (
            vec!["serve", "--config", c, "--web.listen-address", "nowhere"],
            &["--web.listen-address", "\"nowhere\""],
        ),
        (
            vec![
                "serve",
                "--config",
                c,
                "--web.listen-address",
                &listen,
                "--web.config.file",
                "no-such-web.yml",
            ],
            &["no-such-web.yml", "cannot read web config file"],
        ),
        (
            vec![
                "serve",
                "--config",
                "no-such.toml",
                "--web.listen-address",
                &listen,
            ],
            &["no-such.toml", "cannot read config file"],
        ),
    ];
    for (args, needles) in &cases {
        assert_refused(&args.join(" "), &exec(args), needles);
    }
}

/// `serve --web.config.file` whose certificate or key is missing: refused before serving.
#[test]
fn web_config_with_missing_tls_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // No profiles: should a case be let through, the daemon sends nothing.
    let config = dir.path().join("loadtide.toml");
    std::fs::write(&config, "[server]\ndrain_timeout = \"1s\"\n").unwrap();
    let cases = [
        (
            "tls_server_config:\n  cert_file: no-such.crt\n  key_file: no-such.key\n",
            "no-such.crt",
        ),
        ("tls_server_config:\n  cert_file: no-such.crt\n", "key_file"),
        (
            "tls_server_config:\n  cert_fil: x.crt\n",
            "did you mean \"cert_file\"?",
        ),
    ];
    for (yaml, needle) in cases {
        let web = dir.path().join("web.yml");
        std::fs::write(&web, yaml).unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let out = exec(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--web.listen-address",
            &listen,
            "--web.config.file",
            web.to_str().unwrap(),
        ]);
        assert_refused(yaml, &out, &[&web.display().to_string(), needle]);
    }
}

/// A reload to a file that is not a config (emptied by an editor, binary, too large, YAML in a
/// .toml, a key set twice) is refused with the reason, counted as a failure, and the old config
/// stays: its static labels are still on every series. (tests/daemon.rs covers a reload whose
/// profiles are invalid, with the old profiles still sending.) No profiles, so no traffic.
#[test]
fn a_bad_reload_keeps_the_old_config() {
    let good = "[labels]\nlocation = \"eu-west\"\n";
    let d = common::daemon::Daemon::start(good, &["--web.enable-lifecycle"]);
    let mut big = good.as_bytes().to_vec();
    big.resize(2 << 20, b'\n');
    let cases: [(&[u8], &str); 5] = [
        (b"", "the file is empty"),
        (b"\x7fELF\x00\x01\xff", "is not text"),
        (&big, "too large (2.0 MiB; at most 1 MiB)"),
        (b"labels:\n  location: us-east\n", "looks like YAML"),
        (
            b"[labels]\nlocation = \"us-east\"\nlocation = \"ap-south\"\n",
            "`labels.location`: set twice",
        ),
    ];
    for (i, (bytes, message)) in cases.iter().enumerate() {
        std::fs::write(&d.config, bytes).unwrap();
        let (status, body) = d.call("POST", "/-/reload", "").expect("the daemon answers");
        assert_eq!(status, 500, "{message}: {body}");
        assert!(body.contains(message), "{message}: {body}");
        let s = d.scrape();
        let failures = s.value("loadtide_config_reloads_total", &[("result", "failure")]);
        assert_eq!(failures, (i + 1) as f64, "{message}");
        assert_eq!(s.value("loadtide_config_last_reload_successful", &[]), 0.0);
        let build = s.value("loadtide_build_info", &[]);
        assert_eq!(build, 1.0);
        assert_eq!(
            s.series("loadtide_build_info", &[("location", "eu-west")])
                .count(),
            1,
            "{message}: the old labels are gone:\n{}",
            s.text
        );
    }
    assert_eq!(d.call("GET", "/-/healthy", "").map(|r| r.0), Some(200));
}

/// A YAML config (by its extension) with a typo, a wrong type or broken syntax: the same
/// errors as TOML's, naming file and key.
#[test]
fn yaml_configs_get_the_same_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 3] = [
        (
            "targets:\n  api:\n    url: http://127.0.0.1:9\n    timout: 5s\n",
            &["`targets.api.timout`", "did you mean \"timeout\"?"],
        ),
        (
            "targets:\n  api:\n    url: http://127.0.0.1:9\n    max_connections: many\n",
            &["`targets.api.max_connections`", "\"many\""],
        ),
        (
            "targets:\n  api:\n\turl: x\n",
            &["line 3", "YAML indents with spaces, not tabs"],
        ),
    ];
    for (i, (yaml, needles)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        let p = path.to_str().unwrap();
        let out = exec(&["check", "--config", p]);
        let mut all = vec![p];
        all.extend_from_slice(needles);
        assert_refused(yaml, &out, &all);
    }
}
