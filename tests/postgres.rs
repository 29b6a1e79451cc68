//! PostgreSQL targets end to end: `loadtide run` against a real PostgreSQL (Debian's package;
//! scripts/test.sh installs it) that this test initialises in a temporary directory and
//! starts on 127.0.0.1 (as the `postgres` user when the test runs as root), checked with psql.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::{assert_refused, endpoint, free_port, run_profile, Out};
use serde_json::Value;

/// A PostgreSQL cluster of this test's own, stopped when dropped.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

/// `program` from PostgreSQL's bin directory, as the `postgres` user when we are root
/// (initdb and the server refuse to run as root).
fn pg_command(bin: &Path, program: &str) -> Command {
    let path = bin.join(program);
    if unsafe { libc::geteuid() } == 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test.sh installs Debian's postgresql)")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    fn start() -> Postgres {
        Postgres::start_with("")
    }

    /// A cluster whose server also gets `extra` options (`-c name=value ...`).
    fn start_with(extra: &str) -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        if unsafe { libc::geteuid() } == 0 {
            ok(
                Command::new("chown").arg("postgres:").arg(dir.path()),
                "chown the cluster's directory",
            );
        }
        let (bin, data, port) = (bin_dir(), dir.path().join("data"), free_port());
        ok(
            pg_command(&bin, "initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
            "initdb",
        );
        let options = format!(
            "-h 127.0.0.1 -p {port} -k {} -F -c max_connections=50 {extra}",
            dir.path().display()
        );
        ok(
            pg_command(&bin, "pg_ctl")
                .args(["-w", "-t", "60", "-l"])
                .arg(dir.path().join("log"))
                .args(["-o", &options, "-D"])
                .arg(&data)
                .arg("start"),
            "pg_ctl start",
        );
        Postgres {
            bin,
            data,
            port,
            _dir: dir,
        }
    }

    /// One SQL command through psql; its unaligned output.
    fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

fn config(url: &str, endpoints: &str, requests: u64) -> String {
    format!(
        "[targets.db]\nurl = \"{url}\"\ntimeout = \"5s\"\nmax_connections = 4\n{endpoints}\n\
         [profiles.load]\ntarget = \"db\"\nrate = 300\nrequests = {requests}\n"
    )
}

/// [`config`] in the closed model (4 users): exact counts however busy the machine is, where
/// the open model may drop an arrival when all 4 sessions are busy.
fn closed(url: &str, endpoints: &str, requests: u64) -> String {
    config(url, endpoints, requests).replace("rate = 300", "users = 4")
}

fn run(dir: &Path, toml: &str) -> (Out, Option<Value>) {
    run_profile(dir, toml, "load")
}

#[test]
fn prepared_statements_run_with_typed_templated_parameters() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE items (id int PRIMARY KEY, name text)");
    pg.psql("INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i");
    pg.psql("CREATE TABLE hits (n bigint PRIMARY KEY, at timestamptz DEFAULT now())");
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.db.endpoints]]
name = "by_id"
query = "SELECT name FROM items WHERE id = $1"
params = ["{{ random_int(1, 100) }}"]
weight = 2
[[targets.db.endpoints]]
name = "hit"
query = "INSERT INTO hits (n) VALUES ($1)"
params = ["{{ seq() }}"]
"#;
    let (out, summary) = run(dir.path(), &config(&pg.url(), endpoints, 300));
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = summary.unwrap();
    let requests = common::cli::sent_of(&s, 300);
    assert_eq!(s["errors"], 0, "{s:#}");
    assert_eq!(s["status_codes"]["ok"], requests, "{s:#}");
    let hits = endpoint(&s, "hit")["requests"].as_u64().unwrap();
    // Each INSERT had its own seq() value: as many rows as requests, no key clash.
    assert_eq!(pg.psql("SELECT count(*) FROM hits"), hits.to_string());
    assert_eq!(endpoint(&s, "by_id")["method"], "SELECT");
    assert_eq!(endpoint(&s, "hit")["method"], "INSERT");
    // "item N" rows came back: at least 6 bytes each.
    let reads = endpoint(&s, "by_id")["requests"].as_u64().unwrap();
    assert!(s["bytes_received"].as_u64().unwrap() >= 6 * reads, "{s:#}");
}

#[test]
fn server_errors_are_responses_with_their_sqlstate_class() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE once (id int PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.db.endpoints]]
name = "typo"
query = "SELEC 1"
[[targets.db.endpoints]]
name = "dup"
query = "INSERT INTO once VALUES (1)"
"#;
    let (out, summary) = run(dir.path(), &config(&pg.url(), endpoints, 60));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    let (typo, dup) = (endpoint(&s, "typo"), endpoint(&s, "dup"));
    let n = |e: &Value| e["requests"].as_u64().unwrap();
    // 42: syntax error or access rule violation; 23: integrity constraint violation (every
    // INSERT but the first).
    assert_eq!(typo["status_codes"]["42"].as_u64(), Some(n(typo)), "{s:#}");
    assert_eq!(
        dup["status_codes"]["23"].as_u64(),
        Some(n(dup) - 1),
        "{s:#}"
    );
    assert_eq!(dup["status_codes"]["ok"], 1, "{s:#}");
    assert_eq!(
        s["error_kinds"]["status"].as_u64(),
        Some(n(typo) + n(dup) - 1),
        "{s:#}"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM once"), "1");
}

#[test]
fn a_transaction_is_one_request_and_its_statements_share_a_feeder_row_and_vars() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)");
    pg.psql("INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 10) i");
    pg.psql("CREATE TABLE history (tx bigint PRIMARY KEY, src int, dst int)");
    let dir = tempfile::tempdir().unwrap();
    // Pairs of distinct accounts, one row per request, from a CSV beside the config.
    let csv: String = (1..=10).map(|i| format!("{i},{}\n", i % 10 + 1)).collect();
    std::fs::write(dir.path().join("pairs.csv"), format!("src,dst\n{csv}")).unwrap();
    let endpoints = r#"
feeders.pair = { csv = "pairs.csv" }
[[targets.db.endpoints]]
name = "transfer"
vars = { tx = "{{ seq() }}", amount = "{{ random_int(1, 5) }}" }
transaction = [
  { query = "UPDATE accounts SET balance = balance - $1 WHERE id = $2", params = ["{{ amount }}", "{{ pair.src }}"] },
  { query = "UPDATE accounts SET balance = balance + $1 WHERE id = $2", params = ["{{ amount }}", "{{ pair.dst }}"] },
  { query = "INSERT INTO history VALUES ($1, $2, $3)", params = ["{{ tx }}", "{{ pair.src }}", "{{ pair.dst }}"] },
]
"#;
    let (out, summary) = run(dir.path(), &closed(&pg.url(), endpoints, 200));
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = summary.unwrap();
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(200), Some(0)),
        "{s:#}"
    );
    assert_eq!(endpoint(&s, "transfer")["method"], "TRANSACTION");
    // One row per transaction, each with the pair its updates used and its own tx number.
    assert_eq!(pg.psql("SELECT count(*) FROM history"), "200");
    assert_eq!(
        pg.psql("SELECT count(*) FROM history WHERE dst <> src % 10 + 1"),
        "0"
    );
    // Both updates of a transfer used the same amount: money is neither made nor lost.
    assert_eq!(pg.psql("SELECT sum(balance) FROM accounts"), "10000");
    assert_ne!(pg.psql("SELECT min(balance) FROM accounts"), "1000");
}

#[test]
fn a_failing_statement_rolls_its_transaction_back_and_the_session_goes_on() {
    let pg = Postgres::start();
    pg.psql("CREATE TABLE counter (n int NOT NULL)");
    pg.psql("INSERT INTO counter VALUES (0)");
    pg.psql("CREATE TABLE seen (id int PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    // Five ids, round robin: the first transaction with each id commits, every later one
    // fails on the key (SQLSTATE class 23) after its UPDATE, which must be undone.
    let endpoints = r#"
feeders.k = { list = [{ id = "1" }, { id = "2" }, { id = "3" }, { id = "4" }, { id = "5" }] }
[[targets.db.endpoints]]
name = "once_per_id"
transaction = [
  { query = "UPDATE counter SET n = n + 1" },
  { query = "INSERT INTO seen VALUES ($1)", params = ["{{ k.id }}"] },
]
"#;
    let (out, summary) = run(dir.path(), &closed(&pg.url(), endpoints, 40));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["status_codes"]["ok"], 5, "{s:#}");
    assert_eq!(s["status_codes"]["23"], 35, "{s:#}");
    // Without the ROLLBACK a session would stay in the failed transaction: class 25.
    assert!(s["status_codes"].get("25").is_none(), "{s:#}");
    assert_eq!(pg.psql("SELECT n FROM counter"), "5");
    assert_eq!(pg.psql("SELECT count(*) FROM seen"), "5");
}

#[test]
fn a_database_that_is_not_there_counts_connect_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://127.0.0.1:{}/postgres", free_port());
    let endpoints = "[[targets.db.endpoints]]\nname = \"one\"\nquery = \"SELECT 1\"\n";
    let (out, summary) = run(dir.path(), &closed(&url, endpoints, 20));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 20, "{s:#}");
    assert_eq!(s["error_kinds"]["connect"], 20, "{s:#}");
}

#[test]
fn bad_postgres_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ep = |body: &str| format!("[[targets.db.endpoints]]\nname = \"a\"\n{body}\n");
    let url = "postgres://127.0.0.1:5432/app";
    let cases = [
        (
            config(url, &ep(""), 1),
            "targets.db.endpoints[0].query",
            "missing",
        ),
        (
            config(url, &ep("query = \"SELECT 1\"\nbody = \"x\""), 1),
            "targets.db.endpoints[0].body",
            "runs its `query`",
        ),
        (
            config(url, &ep("query = \"SELECT $1\"\nparams = [\"{{ x(\"]"), 1),
            "targets.db.endpoints[0].params[0]",
            "invalid template",
        ),
        (
            config(
                "postgres://app:secret@127.0.0.1/app",
                &ep("query = \"SELECT 1\""),
                1,
            ),
            "targets.db.url",
            "password_env",
        ),
        (
            config(
                url,
                &ep("query = \"SELECT 1\"")
                    .replace("[[", "password_env = \"LOADTIDE_TEST_NO_SUCH_VAR\"\n[["),
                1,
            ),
            "targets.db.password_env",
            "is not set",
        ),
        (
            config("http://127.0.0.1:5432", &ep("query = \"SELECT 1\""), 1),
            "targets.db.endpoints[0].query",
            "only for postgres://",
        ),
        (
            config(
                url,
                &ep("query = \"SELECT 1\"\ntransaction = [{ query = \"SELECT 2\" }]"),
                1,
            ),
            "targets.db.endpoints[0].query",
            "not both",
        ),
        (
            config(url, &ep("transaction = []"), 1),
            "targets.db.endpoints[0].transaction",
            "has 0 statements",
        ),
        (
            config(url, &ep("transaction = [{ params = [\"1\"] }]"), 1),
            "targets.db.endpoints[0].transaction[0].query",
            "missing",
        ),
        (
            config(
                url,
                &ep("query = \"SELECT $1\"\nparams = [\"{{ nope }}\"]"),
                1,
            ),
            "targets.db.endpoints[0].params[0]",
            "uses {{ nope }}",
        ),
        (
            config(
                url,
                &ep("query = \"SELECT $1\"\nparams = [\"{{ k.idd }}\"]")
                    .replace("[[", "feeders.k = { list = [{ id = \"1\" }] }\n[["),
                1,
            ),
            "targets.db.endpoints[0].params[0]",
            "has no column \"idd\"",
        ),
        (
            config(url, &ep("query = \"SELECT 1\"\nvars = { 1x = \"a\" }"), 1),
            "targets.db.endpoints[0].vars.1x",
            "invalid variable name",
        ),
        (
            config(
                "redis://127.0.0.1:6379",
                &ep("command = [\"PING\"]\nvars = { a = \"b\" }")
                    .replace("[[", "feeders.k = { list = [{ id = \"1\" }] }\n[["),
                1,
            ),
            "targets.db.feeders",
            "only for postgres://",
        ),
        (
            config(
                &format!("{url}?sslmode=prefer"),
                &ep("query = \"SELECT 1\""),
                1,
            ),
            "targets.db.url",
            "falls back between plain and TLS",
        ),
        (
            config(
                &format!("{url}?sslmode=verify"),
                &ep("query = \"SELECT 1\""),
                1,
            ),
            "targets.db.url",
            "unknown sslmode \"verify\"",
        ),
        (
            config(&format!("{url}?user=app"), &ep("query = \"SELECT 1\""), 1),
            "targets.db.url",
            "takes only sslmode",
        ),
        (
            config(url, &ep("query = \"SELECT 1\""), 1)
                .replace("timeout =", "insecure = true\ntimeout ="),
            "targets.db.insecure",
            "sslmode=require encrypts without checking",
        ),
        (
            config(
                &format!("{url}?sslmode=require"),
                &ep("query = \"SELECT 1\""),
                1,
            )
            .replace("timeout =", "ca_file = \"ca.pem\"\ntimeout ="),
            "targets.db.ca_file",
            "use ?sslmode=verify-ca",
        ),
        (
            config(url, &ep("query = \"SELECT 1\""), 1)
                .replace("timeout =", "ca_file = \"ca.pem\"\ntimeout ="),
            "targets.db.ca_file",
            "has no TLS",
        ),
    ];
    for out in assert_refused(dir.path(), &cases) {
        assert!(
            !out.stderr.contains("secret"),
            "the password is never shown: {out:?}"
        );
    }
}

#[test]
fn sslmode_runs_sessions_over_tls_and_checks_the_certificate_as_libpq_does() {
    let certs = tempfile::tempdir().unwrap();
    // A certificate for 127.0.0.1 only; the server listens on 127.0.0.2 too, where the name
    // does not match.
    let ca = common::tls::ca_files(certs.path(), &["127.0.0.1"]);
    if unsafe { libc::geteuid() } == 0 {
        ok(
            Command::new("chown")
                .arg("postgres:")
                .arg(&ca.cert)
                .arg(&ca.key),
            "chown the server's certificate and key",
        );
    }
    let pg = Postgres::start_with(&format!(
        "-c listen_addresses=127.0.0.1,127.0.0.2 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
        ca.cert.display(),
        ca.key.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    // Divides by zero (SQLSTATE class 22) unless the session is TLS.
    let endpoints = r#"
[[targets.db.endpoints]]
name = "tls"
query = "SELECT 1 / ssl::int FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
"#;
    let ca_file = format!("ca_file = {:?}\ntimeout =", ca.ca.to_str().unwrap());
    let url = |host: &str, mode: &str| format!("postgres://{host}:{}/postgres{mode}", pg.port);
    let summary = |toml: String| {
        let (out, summary) = run(dir.path(), &toml);
        summary.unwrap_or_else(|| panic!("{out:?}"))
    };
    let verified = |host: &str, mode: &str| {
        summary(closed(&url(host, mode), endpoints, 30).replace("timeout =", &ca_file))
    };

    // Plain: the check query sees no TLS.
    let s = summary(closed(&url("127.0.0.1", ""), endpoints, 30));
    assert_eq!(s["status_codes"]["22"], 30, "{s:#}");
    // verify-full with the CA: TLS, 0 errors.
    let s = verified("127.0.0.1", "?sslmode=verify-full");
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(30), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["status_codes"]["ok"], 30, "{s:#}");
    // On 127.0.0.2 the certificate's name does not match: verify-full refuses it, verify-ca
    // (chain only) accepts it.
    let s = verified("127.0.0.2", "?sslmode=verify-full");
    assert_eq!(s["error_kinds"]["tls"], 30, "{s:#}");
    let s = verified("127.0.0.2", "?sslmode=verify-ca");
    assert_eq!(s["errors"], 0, "{s:#}");
    // Without ca_file the Mozilla roots do not know the CA; require checks nothing.
    let s = summary(closed(
        &url("127.0.0.1", "?sslmode=verify-full"),
        endpoints,
        30,
    ));
    assert_eq!(s["error_kinds"]["tls"], 30, "{s:#}");
    let s = summary(closed(&url("127.0.0.1", "?sslmode=require"), endpoints, 30));
    assert_eq!(s["errors"], 0, "{s:#}");
}

#[test]
fn sslmode_require_against_a_server_without_tls_is_a_tls_error() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = "[[targets.db.endpoints]]\nname = \"one\"\nquery = \"SELECT 1\"\n";
    let url = format!("{}?sslmode=require", pg.url());
    let (out, summary) = run(dir.path(), &closed(&url, endpoints, 12));
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 12, "{s:#}");
    assert_eq!(s["error_kinds"]["tls"], 12, "{s:#}");
}

#[test]
fn a_session_the_server_ended_is_replaced_before_the_next_request() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    // One user; "end" makes the server terminate its own session (FATAL 57P01, then the
    // connection closes). The user's next request must notice and reconnect, not fail.
    let endpoints = r#"
[[targets.db.endpoints]]
name = "end"
query = "SELECT pg_terminate_backend(pg_backend_pid())"
[[targets.db.endpoints]]
name = "read"
query = "SELECT 1"
"#;
    let toml = closed(&pg.url(), endpoints, 60).replace("users = 4", "users = 1");
    let (out, summary) = run(dir.path(), &toml);
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    let (end, read) = (endpoint(&s, "end"), endpoint(&s, "read"));
    assert!(end["requests"].as_u64() > Some(5), "{s:#}");
    assert_eq!(end["errors"], end["requests"], "{s:#}");
    assert!(read["requests"].as_u64() > Some(5), "{s:#}");
    assert_eq!(read["errors"], 0, "{s:#}");
}
