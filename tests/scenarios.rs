//! Scenarios against a local app (in this file) that requires login, issues tokens that expire
//! after a few uses, sets a session cookie and counts every call per user: the login → 5 ×
//! data → transaction flow of the manual's scenario example (docs/src/config.md), token reuse
//! across iterations and refresh on 401, feeders from a CSV file, generators, checks and
//! on_failure. Everything on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use loadtide::config::Profile;
use loadtide::report::Summary;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Uses of one token before the app answers 401 (it has expired).
const TOKEN_USES: u32 = 3;

#[derive(Default, Debug)]
struct Counts {
    logins: u64,
    failed_logins: u64,
    data: u64,
    unauthorized: u64,
    transactions: u64,
}

#[derive(Default)]
struct App {
    /// token -> (user, uses left)
    tokens: BTreeMap<String, (String, u32)>,
    per_user: BTreeMap<String, Counts>,
    issued: u64,
    /// `seq` values and uuids seen in transaction bodies.
    seqs: Vec<u64>,
    uuids: BTreeSet<String>,
    quantities: Vec<i64>,
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(app: Arc<Mutex<App>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (head, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let bearer = head
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let cookie = head
        .headers
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut app = app.lock().unwrap();
    match (head.method.as_str(), head.uri.path()) {
        ("POST", "/api/login") => {
            let user = body["user"].as_str().unwrap_or_default().to_string();
            let ok = body["password"].as_str() == Some(&format!("secret-{user}"));
            if !ok {
                app.per_user.entry(user).or_default().failed_logins += 1;
                return json(403, r#"{"error":"bad credentials"}"#.into());
            }
            app.issued += 1;
            let token = format!("tok-{user}-{}", app.issued);
            app.tokens.insert(token.clone(), (user.clone(), TOKEN_USES));
            app.per_user.entry(user.clone()).or_default().logins += 1;
            let mut r = json(200, format!(r#"{{"token":"{token}","user":"{user}"}}"#));
            r.headers_mut().insert(
                "set-cookie",
                format!("session={user}; Path=/api").parse().unwrap(),
            );
            r
        }
        (_, path @ ("/api/data" | "/api/transaction")) => {
            let valid = bearer.and_then(|t| {
                let (user, left) = app.tokens.get_mut(&t)?;
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(user.clone())
            });
            let Some(user) = valid else {
                // Attribute the 401 to the user the (expired) token belonged to.
                let who = head
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split('-').nth(1))
                    .unwrap_or("unknown")
                    .to_string();
                app.per_user.entry(who).or_default().unauthorized += 1;
                return json(401, r#"{"error":"token expired"}"#.into());
            };
            if path == "/api/data" {
                app.per_user.entry(user).or_default().data += 1;
                return json(200, r#"{"ok":true,"items":[{"id":7}]}"#.into());
            }
            if cookie != format!("session={user}") {
                return json(
                    400,
                    format!(r#"{{"error":"no session cookie for {user}"}}"#),
                );
            }
            app.per_user.entry(user).or_default().transactions += 1;
            if let Some(n) = body["seq"].as_u64() {
                app.seqs.push(n);
            }
            if let Some(u) = body["ref"].as_str() {
                app.uuids.insert(u.to_string());
            }
            if let Some(q) = body["quantity"].as_i64() {
                app.quantities.push(q);
            }
            json(201, r#"{"id":1}"#.into())
        }
        _ => json(404, "{}".into()),
    }
}

/// The app on 127.0.0.1, on its own runtime thread; stops when the runtime is dropped.
struct Server {
    addr: SocketAddr,
    app: Arc<Mutex<App>>,
    connections: Arc<std::sync::atomic::AtomicU64>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    fn start() -> Server {
        let app = Arc::new(Mutex::new(App::default()));
        let connections = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let conns = connections.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let a = app.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let serve = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        conns.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let a = a.clone();
                        tokio::spawn(async move {
                            let svc = service_fn(move |req| {
                                let a = a.clone();
                                async move { Ok::<_, Infallible>(handle(a, req).await) }
                            });
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = serve => {}
                    _ = stop_rx => {}
                }
            });
        });
        Server {
            addr: addr_rx.recv().unwrap(),
            app,
            connections,
            _stop: stop_tx,
        }
    }
}

/// The manual's scenario example: log in once per user (token and session cookie reused),
/// 5 data pages, one transaction with generated values; users from `users.csv`.
fn config(addr: SocketAddr, profile: &str, users_csv: &str) -> (tempfile::TempDir, Arc<Profile>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), users_csv).unwrap();
    let toml = format!(
        r#"
[targets.app]
url = "http://{addr}"

[scenarios.shop]
target = "app"
feeders.user = {{ csv = "users.csv" }}
auth = {{ bearer = "{{{{ token }}}}", login = "login" }}

[[scenarios.shop.steps]]
name = "login"
method = "POST"
path = "/api/login"
once = true
headers = {{ "content-type" = "application/json" }}
body = '{{"user": "{{{{ user.name }}}}", "password": "{{{{ user.password }}}}"}}'
expect_status = [200]
extract = {{ token = {{ json = "$.token" }} }}

[[scenarios.shop.steps]]
repeat = 5
steps = [
  {{ name = "data", path = "/api/data", json_equals = {{ path = "$.ok", value = true }} }},
  {{ think = "1ms" }},
]

[[scenarios.shop.steps]]
name = "transaction"
method = "POST"
path = "/api/transaction"
body = '{{"seq": {{{{ seq() }}}}, "ref": "{{{{ uuid() }}}}", "quantity": {{{{ random_int(1, 3) }}}}}}'
expect_status = [201]

[profiles.p]
scenario = "shop"
{profile}
"#
    );
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, &toml).unwrap();
    let cfg = loadtide::config::load(&path)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n---\n{toml}"));
    let p = cfg.profile("p").unwrap().clone();
    (dir, p)
}

async fn run(p: Arc<Profile>) -> Summary {
    let (s, _) = tokio::time::timeout(
        Duration::from_secs(30),
        loadtide::oneshot::run_once(p, false),
    )
    .await
    .expect("the run ends");
    eprintln!("{}", loadtide::report::render::text(&s, &[]));
    s
}

fn step<'a>(s: &'a Summary, name: &str) -> &'a loadtide::report::summary::EndpointSummary {
    s.endpoints.iter().find(|e| e.name == name).unwrap()
}

const USERS: &str = "name,password\nalice,secret-alice\nbob,secret-bob\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_log_in_once_reuse_the_token_and_refresh_it_on_401() {
    let _serial = SERIAL.lock().await;
    let server = Server::start();
    // Two users, 4 iterations each (8 in all, the budget counts iterations).
    let (_dir, p) = config(
        server.addr,
        "users = 2\nspawn_rate = 100\nrequests = 8",
        USERS,
    );
    let s = run(p).await;
    let app = server.app.lock().unwrap();
    eprintln!("{:?}", app.per_user);
    let sc = s.scenario.as_ref().unwrap();
    assert_eq!((sc.iterations, sc.failures), (8, 0), "{sc:?}");
    let total = |f: fn(&Counts) -> u64| app.per_user.values().map(f).sum::<u64>();
    // Every iteration: 5 data pages and one transaction, whatever token refreshes happened.
    assert_eq!(total(|c| c.data), 40);
    assert_eq!(total(|c| c.transactions), 8);
    // Both feeder rows were used, one per user.
    assert!(app.per_user["alice"].logins >= 1 && app.per_user["bob"].logins >= 1);
    // A token is good for 3 calls and each iteration makes 6: without refresh on 401 nothing
    // past the third call would pass; with it, each 401 costs one login and one retry.
    let (logins, unauthorized) = (total(|c| c.logins), total(|c| c.unauthorized));
    assert!(unauthorized > 0, "tokens expired");
    assert_eq!(
        logins,
        2 + unauthorized,
        "one login per user, then one per 401"
    );
    // Token reuse: far fewer logins than requests (2 per iteration with 3 uses per token).
    assert!(logins < 48 / 2, "{logins}");
    // What the summary counts is what the app saw.
    assert_eq!(step(&s, "data").requests, 40 + data_retries(&s));
    assert_eq!(step(&s, "login").requests, logins);
    assert_eq!(step(&s, "transaction").requests, 8 + transaction_401s(&s));
    assert_eq!(
        s.errors, 0,
        "401s that a login fixed are not errors: {:?}",
        s.error_kinds
    );
    assert_eq!(
        s.status_codes.get("401").copied().unwrap_or(0),
        unauthorized
    );
    // Generators: seq counts 1..=8 across users, uuids unique, random_int in range.
    let mut seqs = app.seqs.clone();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<u64>>());
    assert_eq!(app.uuids.len(), 8);
    assert!(app.quantities.iter().all(|q| (1..=3).contains(q)));
}

/// Data requests beyond the 40 that passed: the ones answered 401 (then retried).
fn data_retries(s: &Summary) -> u64 {
    step(s, "data")
        .status_codes
        .get("401")
        .copied()
        .unwrap_or(0)
}

fn transaction_401s(s: &Summary) -> u64 {
    step(s, "transaction")
        .status_codes
        .get("401")
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_arrivals_are_new_sessions_each_logging_in() {
    let _serial = SERIAL.lock().await;
    let server = Server::start();
    let (_dir, p) = config(server.addr, "rate = 10\nduration = \"1s\"", USERS);
    let s = run(p).await;
    let app = server.app.lock().unwrap();
    let sc = s.scenario.as_ref().unwrap();
    assert_eq!((sc.iterations, sc.failures), (10, 0), "{sc:?}");
    // Each arrival is a new user with its own login (feeder rows round-robin).
    assert_eq!(
        app.per_user["alice"].logins,
        5 + app.per_user["alice"].unauthorized
    );
    assert_eq!(
        app.per_user["bob"].logins,
        5 + app.per_user["bob"].unauthorized
    );
    assert_eq!(
        app.per_user.values().map(|c| c.transactions).sum::<u64>(),
        10
    );
    // Sessions hand their connection back: 10 sessions of 7+ requests, 100 ms apart, need
    // only a few connections, not one per session.
    assert!(
        server.connections.load(std::sync::atomic::Ordering::SeqCst) <= 3,
        "{} connections",
        server.connections.load(std::sync::atomic::Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_stops_the_iteration_and_counts_as_a_check_failure() {
    let _serial = SERIAL.lock().await;
    let server = Server::start();
    let users = "name,password\nmallory,wrong\n";
    let (_dir, p) = config(server.addr, "users = 1\nrequests = 3", users);
    let s = run(p).await;
    let app = server.app.lock().unwrap();
    let sc = s.scenario.as_ref().unwrap();
    assert_eq!((sc.iterations, sc.failures), (3, 3));
    // The login is retried each iteration (it never succeeded), nothing else is called.
    assert_eq!(app.per_user["mallory"].failed_logins, 3);
    assert_eq!(app.per_user["mallory"].data, 0);
    let login = step(&s, "login");
    assert_eq!(login.errors, 3);
    assert_eq!(login.error_kinds.get("status").copied(), Some(3));
    assert_eq!(step(&s, "data").requests, 0);
}

#[test]
fn scenario_config_errors_name_the_step_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"
[targets.app]
url = "http://127.0.0.1:1"

[scenarios.shop]
target = "app"
feeders.user = { csv = "missing.csv" }

[[scenarios.shop.steps]]
name = "data"
path = "/api/data/{{ tokn }}"

[[scenarios.shop.steps]]
name = "next"
path = "/x"
extract = { id = { json = "$..[" } }

[profiles.p]
scenario = "shop"
users = 1
"#,
    )
    .unwrap();
    let err = loadtide::config::load(&path).unwrap_err().to_string();
    for expected in [
        "`scenarios.shop.feeders.user.csv`: cannot read CSV file",
        "`scenarios.shop.steps[0].path`: uses {{ tokn }}, not defined",
        "`scenarios.shop.steps[1].extract.id`: invalid JSONPath",
    ] {
        assert!(err.contains(expected), "{expected:?} in:\n{err}");
    }
}

/// A secret from the environment reaches the target (the app sees the bearer token) but never
/// the outputs: not `check`, not the run's text or JSON summary, not the logs at debug level.
#[test]
fn secrets_reach_the_target_but_no_output() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = "tok-alice-424242";
    server
        .app
        .lock()
        .unwrap()
        .tokens
        .insert(secret.into(), ("alice".into(), 1_000));
    let toml = format!(
        r#"
[targets.app]
url = "http://{}"
[scenarios.s]
target = "app"
secrets.token = {{ env = "LT_TEST_TOKEN" }}
auth = {{ bearer = "{{{{ secrets.token }}}}" }}
[[scenarios.s.steps]]
name = "data"
path = "/api/data"
[profiles.p]
scenario = "s"
users = 1
requests = 5
"#,
        server.addr
    );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).unwrap();
    let json = dir.path().join("s.json");
    let bin = assert_cmd::cargo::cargo_bin("loadtide");
    let mut outputs = String::new();
    for args in [
        vec!["check", "--config", path.to_str().unwrap()],
        vec![
            "--log-level",
            "debug",
            "run",
            "--config",
            path.to_str().unwrap(),
            "--profile",
            "p",
            "--json",
            json.to_str().unwrap(),
        ],
    ] {
        let out = std::process::Command::new(&bin)
            .args(&args)
            .env("LT_TEST_TOKEN", secret)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        outputs.push_str(&String::from_utf8_lossy(&out.stdout));
        outputs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    outputs.push_str(&std::fs::read_to_string(&json).unwrap());
    assert_eq!(
        server.app.lock().unwrap().per_user["alice"].data,
        5,
        "the token worked"
    );
    assert!(!outputs.contains("424242"), "secret leaked:\n{outputs}");
    assert!(outputs.contains("data"), "outputs were captured: {outputs}");
}

/// The reports of a scenario run: the per-endpoint tables list every step by name with its
/// own count (5 data pages per iteration, one transaction), and the scenario section has the
/// iterations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_have_a_row_per_step_and_the_scenario_section() {
    let _serial = SERIAL.lock().await;
    let server = Server::start();
    let (_dir, p) = config(
        server.addr,
        "users = 1\nspawn_rate = 100\nrequests = 3",
        USERS,
    );
    let s = run(p).await;
    let meta = loadtide::report::html::ReportMeta {
        command: "loadtide run --config loadtide.toml --profile p".into(),
        target: format!("http://{}", server.addr),
        deltas: Vec::new(),
    };
    let html = loadtide::report::html::html(&s, &meta);
    let md = loadtide::report::markdown::markdown(&s, &meta);
    let data = step(&s, "data");
    assert_eq!(
        data.requests,
        5 * 3 + data_retries(&s),
        "5 pages per iteration"
    );
    for e in &s.endpoints {
        let html_row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            e.name, e.method, e.requests
        );
        assert!(html.contains(&html_row), "no row {html_row} in the HTML");
        let md_row = format!("| {} | {} | {} |", e.name, e.method, e.requests);
        assert!(md.contains(&md_row), "no row {md_row} in:\n{md}");
    }
    for name in ["login", "data", "transaction"] {
        assert!(s.endpoints.iter().any(|e| e.name == name), "step {name}");
    }
    assert!(
        html.contains("<h2>Scenario shop</h2><table><tr><th>iterations</th><td>3 "),
        "{html}"
    );
    assert!(
        md.contains("Scenario `shop`: 3 iterations, 0 failed"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_think_pauses_each_user_between_iterations() {
    let _serial = SERIAL.lock().await;
    let server = Server::start();
    // One user, 300 ms after each iteration, for 1 s: iterations start at about 0, 300, 600
    // and 900 ms. Back to back it would run hundreds.
    let (_dir, p) = config(
        server.addr,
        "users = 1\nthink = \"300ms\"\nduration = \"1s\"",
        USERS,
    );
    let s = run(p).await;
    let sc = s.scenario.as_ref().unwrap();
    assert!(
        (2..=4).contains(&sc.iterations),
        "{} iterations in 1 s with 300 ms of think after each",
        sc.iterations
    );
}
