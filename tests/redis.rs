//! Redis targets end to end: `loadtide run` against a real `redis-server` (Debian's package;
//! scripts/test.sh installs it) started here on 127.0.0.1, checked afterwards with `redis-cli`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{assert_refused, free_port, run_profile, run_profile_env, Out};
use serde_json::Value;

/// A redis-server of this test's own, stopped when dropped.
struct Redis {
    port: u16,
    password: Option<String>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// A server started with `extra` arguments too (e.g. `--requirepass`); `cli` authenticates
    /// as the default user with the last of them when it is a password.
    fn start_with(extra: &[&str]) -> Redis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs Debian's redis-server)");
        let redis = Redis {
            port,
            password: (extra.first() == Some(&"--requirepass")).then(|| extra[1].to_string()),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// `redis-cli` against this server; its output, trimmed.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(
                self.password
                    .iter()
                    .flat_map(|p| ["--no-auth-warning", "-a", p]),
            )
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(dir: &Path, toml: &str) -> (Out, Option<Value>) {
    run_profile(dir, toml, "load")
}

/// A profile of `requests` commands in the closed model (4 users): exact counts however busy
/// the machine is, where the open model drops an arrival that finds every connection busy.
fn config(url: &str, endpoints: &str, requests: u64) -> String {
    format!(
        r#"
[targets.cache]
url = "{url}"
timeout = "2s"
max_connections = 8
{endpoints}

[profiles.load]
target = "cache"
users = 4
requests = {requests}
"#
    )
}

#[test]
fn commands_are_templated_and_land_in_the_configured_database() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.cache.endpoints]]
name = "set"
command = ["SET", "user:{{ seq() }}", "{{ uuid() }}"]
weight = 3
[[targets.cache.endpoints]]
name = "ping"
command = ["PING"]
body_contains = "PONG"
"#;
    let url = format!("redis://127.0.0.1:{}/2", redis.port);
    let open = config(&url, endpoints, 300).replace("users = 4", "rate = 400");
    let (out, summary) = run(dir.path(), &open);
    assert_eq!(out.code, Some(0), "{out:?}");
    // `check` shows the bound the run applies: one command per connection.
    let check = common::cli::check(&dir.path().join("loadtide.toml"));
    assert!(
        check
            .stdout
            .contains("open model, 400 req/s, max 8 in flight (max_connections)"),
        "{check:?}"
    );
    let s = summary.unwrap();
    let requests = common::cli::sent_of(&s, 300);
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(s["status_codes"]["ok"], requests, "{s:#}");
    let sets = s["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "set")
        .map(|e| e["requests"].as_u64().unwrap())
        .unwrap();
    assert!(sets > 150, "weight 3 of 4: {s:#}");
    // Every SET wrote its own key (seq() per request), all in database 2, none in 0.
    assert_eq!(redis.cli(&["-n", "2", "DBSIZE"]), sets.to_string());
    assert_eq!(redis.cli(&["-n", "0", "DBSIZE"]), "0");
    let method = |name: &str| {
        s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["method"].clone())
            .unwrap()
    };
    assert_eq!(method("set"), "SET");
}

#[test]
fn an_error_reply_is_a_response_with_its_code_and_a_status_error() {
    let redis = Redis::start();
    assert_eq!(redis.cli(&["SET", "name", "a string"]), "OK");
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.cache.endpoints]]
name = "push"
command = ["LPUSH", "name", "x"]
"#;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let (out, summary) = run(dir.path(), &config(&url, endpoints, 40));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 40, "{s:#}");
    assert_eq!(s["status_codes"]["WRONGTYPE"], 40, "{s:#}");
    assert_eq!(s["error_kinds"]["status"], 40, "{s:#}");
}

#[test]
fn a_redis_that_is_not_there_counts_connect_errors() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = "[[targets.cache.endpoints]]\nname = \"ping\"\ncommand = [\"PING\"]\n";
    let url = format!("redis://127.0.0.1:{port}");
    let (out, summary) = run(dir.path(), &config(&url, endpoints, 20));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 20, "{s:#}");
    assert_eq!(s["error_kinds"]["connect"], 20, "{s:#}");
}

#[test]
fn bad_redis_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ep = |body: &str| format!("[[targets.cache.endpoints]]\nname = \"a\"\n{body}\n");
    let cases = [
        (
            config("redis://127.0.0.1:6379/x", &ep("command = [\"PING\"]"), 1),
            "targets.cache.url",
            "database number",
        ),
        (
            config("redis://127.0.0.1:6379", &ep(""), 1),
            "targets.cache.endpoints[0].command",
            "missing",
        ),
        (
            config("redis://127.0.0.1:6379", &ep("command = [\"1NCR\"]"), 1),
            "targets.cache.endpoints[0].command",
            "letters only",
        ),
        (
            config(
                "redis://127.0.0.1:6379",
                &ep("command = [\"GET\"]\nbody = \"x\""),
                1,
            ),
            "targets.cache.endpoints[0].body",
            "sends its `command`",
        ),
        (
            config(
                "redis://127.0.0.1:6379",
                &ep("command = [\"GET\", \"{{ x(\"]"),
                1,
            ),
            "targets.cache.endpoints[0].command[1]",
            "invalid template",
        ),
        (
            config("redis://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1)
                .replace("timeout =", "user = \"loader\"\ntimeout ="),
            "targets.cache.user",
            "needs password_env too",
        ),
        (
            config("redis://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1).replace(
                "timeout =",
                "password_env = \"LOADTIDE_TEST_NO_SUCH_VAR\"\ntimeout =",
            ),
            "targets.cache.password_env",
            "is not set",
        ),
        (
            config("http://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1),
            "targets.cache.endpoints[0].command",
            "only for redis://",
        ),
        (
            config("redis://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1)
                .replace("timeout =", "ca_file = \"ca.pem\"\ntimeout ="),
            "targets.cache.ca_file",
            "only for TLS targets",
        ),
        (
            config("rediss://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1)
                .replace("timeout =", "ca_file = \"no-such-ca.pem\"\ntimeout ="),
            "targets.cache.ca_file",
            "cannot read",
        ),
        (
            config("rediss://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1).replace(
                "timeout =",
                "ca_file = \"ca.pem\"\ninsecure = true\ntimeout =",
            ),
            "targets.cache.ca_file",
            "conflicts with insecure",
        ),
    ];
    // A file that is there but holds no certificate.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let empty = [(
        config("rediss://127.0.0.1:6379", &ep("command = [\"GET\"]"), 1)
            .replace("timeout =", "ca_file = \"empty.pem\"\ntimeout ="),
        "targets.cache.ca_file",
        "no certificate in it",
    )];
    assert_refused(dir.path(), &empty);
    assert_refused(dir.path(), &cases);
}

#[test]
fn a_server_that_requires_auth_gets_the_password_from_the_environment_and_an_acl_user() {
    let secret = "s3cret-Redis-pass";
    let redis = Redis::start_with(&["--requirepass", secret]);
    // An ACL user that may only write `user:*` keys.
    let acl = redis.cli(&[
        "ACL",
        "SETUSER",
        "loader",
        "on",
        ">loader-pass",
        "~user:*",
        "+@all",
    ]);
    assert_eq!(acl, "OK");
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.cache.endpoints]]
name = "set"
command = ["SET", "user:{{ seq() }}", "x"]
"#;
    let url = format!("redis://127.0.0.1:{}/1", redis.port);
    let with = |auth: &str| {
        config(&url, endpoints, 50).replace("timeout =", &format!("{auth}\ntimeout ="))
    };

    // Without AUTH the session cannot even select database 1 (NOAUTH): connect errors,
    // counted, not a crash.
    let (out, summary) = run(dir.path(), &with(""));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["error_kinds"]["connect"], 50, "{s:#}");
    assert_eq!(redis.cli(&["-n", "1", "DBSIZE"]), "0");
    // On database 0 the session opens, and each command is answered NOAUTH.
    let db0 = config(url.trim_end_matches("/1"), endpoints, 20);
    let (out, summary) = run(dir.path(), &db0);
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["status_codes"]["NOAUTH"], 20, "{s:#}");

    // The default user, with the password from the environment.
    let env = [("LT_REDIS_PASSWORD", secret)];
    let (out, summary) = run_profile_env(
        dir.path(),
        &with("password_env = \"LT_REDIS_PASSWORD\""),
        "load",
        &env,
    );
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(50), Some(0)),
        "{s:#}"
    );
    assert_eq!(redis.cli(&["-n", "1", "DBSIZE"]), "50");
    let printed = format!("{}{}{s}", out.stdout, out.stderr);
    assert!(
        !printed.contains(secret),
        "the password was printed: {printed}"
    );

    // The ACL user: its writes land, and the server saw them as that user.
    let env = [("LT_REDIS_PASSWORD", "loader-pass")];
    let auth = "user = \"loader\"\npassword_env = \"LT_REDIS_PASSWORD\"";
    let acl_keys = config(&url, &endpoints.replace("user:", "user:acl-"), 50)
        .replace("timeout =", &format!("{auth}\ntimeout ="));
    let (out, summary) = run_profile_env(dir.path(), &acl_keys, "load", &env);
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(redis.cli(&["-n", "1", "DBSIZE"]), "100");
    let denied = config(&url, &endpoints.replace("user:", "other:"), 10)
        .replace("timeout =", &format!("{auth}\ntimeout ="));
    let (out, summary) = run_profile_env(dir.path(), &denied, "load", &env);
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        s["status_codes"]["NOPERM"], 10,
        "keys outside ~user:* are the ACL's: {s:#}"
    );

    // A wrong password fails the connection: connect errors, counted, and the run ends.
    let env = [("LT_REDIS_PASSWORD", "not-the-pass-8271")];
    let (out, summary) = run_profile_env(
        dir.path(),
        &with("password_env = \"LT_REDIS_PASSWORD\""),
        "load",
        &env,
    );
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["error_kinds"]["connect"], 50, "{s:#}");
    assert!(!format!("{}{}{s}", out.stdout, out.stderr).contains("not-the-pass-8271"));
}

#[test]
fn rediss_targets_speak_tls_checked_against_ca_file_with_auth() {
    let certs_dir = tempfile::tempdir().unwrap();
    let ca = common::tls::ca_files(certs_dir.path(), &["127.0.0.1", "localhost"]);
    let tls_port = free_port();
    let secret = "tls-Redis-pass-5512";
    let tls_port_arg = tls_port.to_string();
    let redis = Redis::start_with(&[
        "--requirepass",
        secret,
        "--tls-port",
        &tls_port_arg,
        "--tls-cert-file",
        ca.cert.to_str().unwrap(),
        "--tls-key-file",
        ca.key.to_str().unwrap(),
        "--tls-ca-cert-file",
        ca.ca.to_str().unwrap(),
        "--tls-auth-clients",
        "no",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.cache.endpoints]]
name = "set"
command = ["SET", "tls:{{ uuid() }}", "x"]
"#;
    let env = [("LT_REDIS_PASSWORD", secret)];
    let with = |url: &str, extra: &str| {
        let auth = format!("password_env = \"LT_REDIS_PASSWORD\"\n{extra}\ntimeout =");
        config(url, endpoints, 40).replace("timeout =", &auth)
    };
    let run_env = |toml: &str| {
        let (out, summary) = run_profile_env(dir.path(), toml, "load", &env);
        summary.unwrap_or_else(|| panic!("{out:?}"))
    };
    let ca_file = format!("ca_file = {:?}", ca.ca.to_str().unwrap());
    let tls_url = format!("rediss://127.0.0.1:{tls_port}/3");

    // The private CA in ca_file verifies the server's certificate; AUTH and SELECT go over
    // TLS and every write lands (seen through the plain port).
    let s = run_env(&with(&tls_url, &ca_file));
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(40), Some(0)),
        "{s:#}"
    );
    assert_eq!(redis.cli(&["-n", "3", "DBSIZE"]), "40");
    assert_eq!(s["endpoints"][0]["method"], "SET", "{s:#}");

    // Without ca_file the Mozilla roots do not know this CA: every request is a `tls` error,
    // and nothing is written.
    let s = run_env(&with(&tls_url, ""));
    assert_eq!(s["error_kinds"]["tls"], 40, "{s:#}");
    // insecure = true encrypts without checking the certificate.
    let s = run_env(&with(&tls_url, "insecure = true"));
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(redis.cli(&["-n", "3", "DBSIZE"]), "80");

    // TLS against the plain port (the server waits for a line that never comes: timeouts),
    // and plain against the TLS port, fail: the handshake happens on rediss:// and only there.
    let plain_port = format!("rediss://127.0.0.1:{}/3", redis.port);
    let s =
        run_env(&with(&plain_port, &ca_file).replace("timeout = \"2s\"", "timeout = \"300ms\""));
    assert!(s["requests"].as_u64() > Some(0), "{s:#}");
    assert_eq!(s["errors"], s["requests"], "{s:#}");
    let kinds = s["error_kinds"].as_object().unwrap();
    assert!(kinds.keys().all(|k| k == "tls" || k == "timeout"), "{s:#}");
    let plain_on_tls = format!("redis://127.0.0.1:{tls_port}/3");
    let s = run_env(&with(&plain_on_tls, ""));
    assert_eq!(s["requests"], 40, "{s:#}");
    assert_eq!(s["errors"], 40, "{s:#}");
    assert_eq!(redis.cli(&["-n", "3", "DBSIZE"]), "80");
}
