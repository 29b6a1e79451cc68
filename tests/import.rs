//! `loadtide import curl|har|openapi`, end to end through the binary: each importer's config
//! passes `loadtide check` and says what it should (read back as TOML, not searched as
//! text), a HAR keeps its order and pauses and drops static assets, imported configs run and
//! send what the input described, and bad inputs are exit 2 with a message naming the
//! problem.
//!
//! Imported configs may name any host (it is only text); traffic only ever goes to the
//! capture server started here on 127.0.0.1:0, for a bounded number of requests, and every
//! command has a hard timeout.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Value;

use common::capture::Capture;
use common::cli::Out;

mod common;

const FIXTURES: &str = "tests/fixtures/import";

fn exec(args: &[&str], envs: &[(&str, &str)]) -> Out {
    common::cli::output(
        common::cli::loadtide(Duration::from_secs(60))
            .args(args)
            .envs(envs.iter().copied()),
    )
}

#[track_caller]
fn assert_code(out: &Out, code: i32) {
    assert_eq!(out.code, Some(code), "{out:?}");
}

/// Runs `loadtide import ARGS -o DIR/loadtide.toml`; asserts it succeeded and that
/// `loadtide check` accepts the file; returns its path and the TOML.
fn import(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> (PathBuf, Value, Out) {
    let path = dir.join("loadtide.toml");
    let _ = std::fs::remove_file(&path);
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", path.to_str().unwrap()]);
    let out = exec(&all, envs);
    assert_code(&out, 0);
    assert!(out.stdout.is_empty(), "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let check = exec(&["check", "--config", path.to_str().unwrap()], envs);
    assert_eq!(check.code, Some(0), "{check:?}\n{text}");
    let toml: Value = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    (path, toml, out)
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// `loadtide run --config PATH --profile NAME --requests N`, which must pass.
fn run(path: &Path, profile: &str, requests: &str, envs: &[(&str, &str)]) {
    let out = exec(
        &[
            "run",
            "--config",
            path.to_str().unwrap(),
            "--profile",
            profile,
            "--requests",
            requests,
            "--quiet",
        ],
        envs,
    );
    assert_code(&out, 0);
}

// ---------------------------------------------------------------------------------------------
// curl

#[test]
fn curl_import_is_one_target_one_endpoint_and_a_constant_rate_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, out) = import(
        dir.path(),
        &[
            "curl",
            r#"curl -X PUT 'https://api.example.com/v1/items?id=3' -H 'Accept: application/json' --json '{"a":1}' -k --compressed -m 2.5"#,
        ],
        &[],
    );
    assert!(out.stderr.contains("--compressed is ignored"), "{out:?}");
    let t = &c["targets"]["api_example_com"];
    assert_eq!(t["url"].as_str(), Some("https://api.example.com"));
    assert_eq!(t["insecure"].as_bool(), Some(true));
    assert_eq!(t["timeout"].as_str(), Some("2500ms"));
    let eps = t["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 1);
    let e = &eps[0];
    assert_eq!(e["name"].as_str(), Some("put_v1_items"));
    assert_eq!(e["method"].as_str(), Some("PUT"));
    assert_eq!(e["path"].as_str(), Some("/v1/items?id=3"));
    assert_eq!(e["body"].as_str(), Some(r#"{"a":1}"#));
    assert_eq!(e["headers"]["accept"].as_str(), Some("application/json"));
    assert_eq!(
        e["headers"]["content-type"].as_str(),
        Some("application/json")
    );
    let p = &c["profiles"]["steady"];
    assert_eq!(p["target"].as_str(), Some("api_example_com"));
    assert_eq!(p["rate"].as_integer(), Some(5));
    assert_eq!(p["duration"].as_str(), Some("1m"));
    // As `init --url` does: the imported host is the only one allowed.
    assert_eq!(strs(&c["safety"]["allowed_hosts"]), ["api.example.com"]);
}

#[test]
fn a_curl_import_runs_and_sends_the_method_headers_and_body() {
    let target = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("order.json"), "{\"sku\": \"a-1\"}\n").unwrap();
    let cmd = format!(
        "curl -X POST 'http://{}/orders?id=7' -H 'X-Test: 1' -A import-test/1 -e http://ref/ \
         -b 'a=1; b=2' --data-binary @order.json",
        target.addr
    );
    // `@order.json` is read relative to the working directory.
    let path = dir.path().join("loadtide.toml");
    let out = common::cli::output(
        common::cli::loadtide(Duration::from_secs(60))
            .current_dir(dir.path())
            .args(["import", "curl", &cmd, "-o", path.to_str().unwrap()]),
    );
    assert_code(&out, 0);
    let c: Value = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let e = &c["targets"]["127_0_0_1"]["endpoints"][0];
    assert!(
        e["body_file"].as_str().unwrap().ends_with("order.json"),
        "{e}"
    );
    run(&path, "steady", "3", &[]);
    let seen = target.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/orders?id=7");
        assert_eq!(r.headers["x-test"], "1");
        assert_eq!(r.headers["user-agent"], "import-test/1");
        assert_eq!(r.headers["referer"], "http://ref/");
        assert_eq!(r.headers["cookie"], "a=1; b=2");
        assert_eq!(
            r.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(r.body.as_ref(), b"{\"sku\": \"a-1\"}\n");
    }
}

#[test]
fn a_curl_password_is_read_from_the_environment_never_written() {
    let target = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    let cmd = format!("curl -u alice:s3cret-canary http://{}/private", target.addr);
    let path = dir.path().join("loadtide.toml");
    let p = path.to_str().unwrap();
    let out = exec(&["import", "curl", &cmd, "-o", p], &[]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("HOST_127_0_0_1_PASSWORD"), "{out:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("s3cret-canary"), "{text}");
    assert!(!out.stderr.contains("s3cret-canary"), "{out:?}");
    // Without the variable, check names it; with it, the config runs and logs in.
    let check = exec(&["check", "--config", p], &[]);
    assert_code(&check, 2);
    assert!(
        check.stderr.contains("HOST_127_0_0_1_PASSWORD"),
        "{check:?}"
    );
    let env = [("HOST_127_0_0_1_PASSWORD", "s3cret-canary")];
    assert_code(&exec(&["check", "--config", p], &env), 0);
    let c: Value = text.parse().unwrap();
    let s = &c["scenarios"]["127_0_0_1"];
    assert_eq!(s["auth"]["basic"]["username"].as_str(), Some("alice"));
    assert_eq!(s["steps"][0]["path"].as_str(), Some("/private"));
    run(&path, "steady", "2", &env);
    let seen = target.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    // base64("alice:s3cret-canary")
    assert_eq!(
        seen[0].headers["authorization"],
        "Basic YWxpY2U6czNjcmV0LWNhbmFyeQ=="
    );
}

// ---------------------------------------------------------------------------------------------
// HAR

#[test]
fn har_import_keeps_order_and_pauses_and_drops_static_assets() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, out) = import(dir.path(), &["har", &fixture("session.har")], &[]);
    assert!(out.stderr.contains("kept 5 of 10 requests"), "{out:?}");
    assert!(out.stderr.contains("4 static assets"), "{out:?}");
    assert!(out.stderr.contains("1 pauses longer than 30s"), "{out:?}");
    assert!(out.stderr.contains("2 origins"), "{out:?}");
    assert!(out.stderr.contains("api_example_com.get_v1_me"), "{out:?}");

    let steps = c["scenarios"]["127_0_0_1"]["steps"].as_array().unwrap();
    let shape: Vec<String> = steps
        .iter()
        .map(|s| match (s.get("name"), s.get("think")) {
            (Some(n), None) => n.as_str().unwrap().to_string(),
            (None, Some(t)) => format!("think {}", t.as_str().unwrap()),
            _ => panic!("{s}"),
        })
        .collect();
    assert_eq!(
        shape,
        [
            "get_root",
            "think 2s",
            "post_api_login",
            "think 1s 200ms",
            "get_api_items",
            "think 30s",
            "post_api_items",
        ]
    );
    let root = &steps[0];
    assert_eq!(root["headers"]["accept"].as_str(), Some("text/html"));
    for dropped in ["host", "connection", "cookie"] {
        assert!(root["headers"].get(dropped).is_none(), "{root}");
    }
    let login = &steps[2];
    assert_eq!(login["method"].as_str(), Some("POST"));
    let headers = login["headers"].as_table().unwrap();
    let names: Vec<&str> = headers.keys().map(String::as_str).collect();
    assert_eq!(names, ["content-type", "x-requested-with"]);
    // A template marker in the recorded body is sent as it is.
    assert_eq!(
        login["body"].as_str(),
        Some(r#"{% raw %}{"user":"ann","note":"{{x}}"}{% endraw %}"#)
    );
    assert_eq!(steps[4]["path"].as_str(), Some("/api/items?page=2"));
    assert_eq!(steps[6]["body"].as_str(), Some("name=pen&qty=2"));

    let api = &c["targets"]["api_example_com"];
    assert_eq!(api["url"].as_str(), Some("https://api.example.com"));
    assert_eq!(api["http2"].as_bool(), Some(true));
    let me = &c["scenarios"]["api_example_com"]["steps"][0];
    assert!(me["headers"].get(":method").is_none(), "{me}");
    assert_eq!(
        strs(&c["safety"]["allowed_hosts"]),
        ["127.0.0.1", "api.example.com"]
    );
    let p = &c["profiles"]["127_0_0_1"];
    assert_eq!(p["scenario"].as_str(), Some("127_0_0_1"));
    assert_eq!(p["users"].as_integer(), Some(5));
}

#[test]
fn keep_static_keeps_the_assets() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, _) = import(
        dir.path(),
        &["har", &fixture("session.har"), "--keep-static"],
        &[],
    );
    let names: Vec<&str> = c["scenarios"]["127_0_0_1"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("name")?.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "get_root",
            "get_static_app_css",
            "get_logo_png",
            "get_app_js",
            "post_api_login",
            "get_api_items",
            "post_api_items",
        ]
    );
    assert!(c["targets"].get("cdn_example_com").is_some());
}

#[test]
fn host_keeps_only_the_requests_to_that_host() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, out) = import(
        dir.path(),
        &["har", &fixture("session.har"), "--host", "API.example.com"],
        &[],
    );
    assert!(out.stderr.contains("kept 1 of 10 requests"), "{out:?}");
    assert!(
        out.stderr.contains("8 to other hosts than --host"),
        "{out:?}"
    );
    let targets: Vec<&String> = c["targets"].as_table().unwrap().keys().collect();
    assert_eq!(targets, ["api_example_com"]);
    assert_eq!(strs(&c["safety"]["allowed_hosts"]), ["api.example.com"]);
}

#[test]
fn a_har_import_replays_the_session_in_order() {
    let target = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("s.har");
    let base = format!("http://{}", target.addr);
    let entry = |t: &str, method: &str, path: &str, post: &str| {
        format!(
            r#"{{"startedDateTime": "{t}", "time": 5, "request": {{"method": "{method}",
               "url": "{base}{path}", "headers": [{{"name": "X-Step", "value": "{path}"}}]{post}}},
               "response": {{"status": 200, "content": {{"mimeType": "application/json"}}}}}}"#
        )
    };
    let entries = [
        entry("2026-11-20T10:00:00.000Z", "GET", "/a", ""),
        entry(
            "2026-11-20T10:00:00.105Z",
            "POST",
            "/b",
            r#", "postData": {"mimeType": "text/plain", "text": "{{ not a template }}"}"#,
        ),
    ];
    std::fs::write(
        &har,
        format!(r#"{{"log": {{"entries": [{}]}}}}"#, entries.join(",")),
    )
    .unwrap();
    let (path, c, _) = import(dir.path(), &["har", har.to_str().unwrap()], &[]);
    let steps = c["scenarios"]["127_0_0_1"]["steps"].as_array().unwrap();
    assert_eq!(steps[1]["think"].as_str(), Some("100ms"));
    run(&path, "127_0_0_1", "1", &[]);
    let seen = target.seen();
    let order: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    // Each user sends /a, then /b: at every point as many /a as /b have arrived.
    let mut open = 0i32;
    for o in &order {
        open += if *o == ("GET", "/a") { 1 } else { -1 };
        assert!(open >= 0, "{order:?}");
    }
    let b = seen.iter().find(|r| r.target == "/b").expect("/b was sent");
    assert_eq!(b.method, "POST");
    assert_eq!(b.headers["x-step"], "/b");
    assert_eq!(b.body.as_ref(), b"{{ not a template }}");
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

#[test]
fn openapi_import_has_an_endpoint_per_operation_with_parameters_filled() {
    let dir = tempfile::tempdir().unwrap();
    let (_, c, out) = import(dir.path(), &["openapi", &fixture("petstore.yaml")], &[]);
    assert!(out.stderr.contains("credentials"), "{out:?}");
    let t = &c["targets"]["petstore_example_com"];
    assert_eq!(
        t["url"].as_str(),
        Some("https://petstore.example.com/api/v3")
    );
    let eps = t["endpoints"].as_array().unwrap();
    let by_name = |n: &str| {
        eps.iter()
            .find(|e| e["name"].as_str() == Some(n))
            .unwrap_or_else(|| panic!("no endpoint {n}: {eps:?}"))
    };
    let names: Vec<&str> = eps.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "add_pet",
            "find_pets",
            "get_pet_by_id",
            "delete_pet_petid",
            "get_store_order_orderid",
            "update_user",
        ]
    );
    let add = by_name("add_pet");
    assert_eq!(add["method"].as_str(), Some("POST"));
    let body: serde_json::Value = serde_json::from_str(add["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "doggie", "photoUrls": ["example"]})
    );
    assert_eq!(add["weight"].as_integer(), Some(1));
    let find = by_name("find_pets");
    assert_eq!(find["path"].as_str(), Some("/pet?status=available"));
    assert_eq!(find["weight"].as_integer(), Some(3));
    assert_eq!(by_name("get_pet_by_id")["path"].as_str(), Some("/pet/1"));
    let del = by_name("delete_pet_petid");
    assert_eq!(del["path"].as_str(), Some("/pet/1"));
    assert_eq!(del["headers"]["api_key"].as_str(), Some("key-123"));
    assert_eq!(
        by_name("get_store_order_orderid")["path"].as_str(),
        Some("/store/order/7")
    );
    let upd = by_name("update_user");
    assert_eq!(upd["path"].as_str(), Some("/user/example"));
    assert_eq!(
        upd["body"].as_str(),
        Some(r#"{"username":"ann","email":"ann@example.com"}"#)
    );
    // The values are named where the user sees them.
    let text = std::fs::read_to_string(dir.path().join("loadtide.toml")).unwrap();
    assert!(
        text.contains("# parameters: petId = 1 (from its type)"),
        "{text}"
    );
    assert!(
        text.contains("status = available (its first enum value)"),
        "{text}"
    );
    assert_eq!(c["profiles"]["steady"]["rate"].as_integer(), Some(5));
}

#[test]
fn an_openapi_import_runs_every_operation_against_url() {
    let target = Capture::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{}/api/v3", target.addr);
    let (path, _, _) = import(
        dir.path(),
        &["openapi", &fixture("petstore.yaml"), "--url", &url],
        &[],
    );
    // Six operations weighing 1 3 3 1 3 1, picked at random by weight: in 150 requests each
    // is all but certain to come up ((11/12)^150 < 1e-5 for a light one to be missed).
    let p = path.to_str().unwrap();
    let args = [
        "run",
        "--config",
        p,
        "--profile",
        "steady",
        "--rate",
        "50",
        "--requests",
        "150",
        "--quiet",
    ];
    assert_code(&exec(&args, &[]), 0);
    let seen = target.seen();
    let mut sent: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    sent.sort();
    sent.dedup();
    assert_eq!(
        sent,
        [
            "DELETE /api/v3/pet/1",
            "GET /api/v3/pet/1",
            "GET /api/v3/pet?status=available",
            "GET /api/v3/store/order/7",
            "POST /api/v3/pet",
            "PUT /api/v3/user/example",
        ],
        "{seen:#?}"
    );
    let add = seen.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(add.headers["content-type"], "application/json");
    assert_eq!(
        add.body.as_ref(),
        br#"{"name":"doggie","photoUrls":["example"]}"#
    );
    let del = seen.iter().find(|r| r.method == "DELETE").unwrap();
    assert_eq!(del.headers["api_key"], "key-123");
}

#[test]
fn openapi_json_with_a_relative_server_takes_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture("minimal.json");
    let out = exec(&["import", "openapi", &file], &[]);
    assert_code(&out, 2);
    assert!(
        out.stderr
            .contains("is relative: give the service's URL with --url"),
        "{out:?}"
    );
    let (_, c, _) = import(
        dir.path(),
        &["openapi", &file, "--url", "http://127.0.0.1:8080/v1"],
        &[],
    );
    let t = &c["targets"]["127_0_0_1"];
    assert_eq!(t["url"].as_str(), Some("http://127.0.0.1:8080/v1"));
    let eps = t["endpoints"].as_array().unwrap();
    assert_eq!(eps[0]["path"].as_str(), Some("/items/abc%201"));
    assert_eq!(eps[1]["path"].as_str(), Some("/things/example/parts"));
    assert_eq!(eps[2]["body"].as_str(), Some(r#"{"name":"pen"}"#));
}

// ---------------------------------------------------------------------------------------------
// Bad inputs and the output file

#[test]
fn bad_inputs_exit_2_naming_the_problem() {
    let missing = fixture("missing.har");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["har".into(), fixture("broken.har")],
            "broken.har: not JSON",
        ),
        (
            vec!["har".into(), fixture("petstore.yaml")],
            "petstore.yaml: not JSON",
        ),
        (
            vec!["har".into(), fixture("minimal.json")],
            "minimal.json: not a HAR file: no top-level `log` object",
        ),
        (
            vec!["har".into(), fixture("empty.har")],
            "empty.har: `log.entries` is empty",
        ),
        (vec!["har".into(), missing], "missing.har: cannot read it"),
        (
            vec!["openapi".into(), fixture("swagger2.json")],
            "swagger2.json: a Swagger 2.0 description is not imported",
        ),
        (
            vec!["openapi".into(), fixture("broken.har")],
            "broken.har: not YAML",
        ),
        (
            vec!["openapi".into(), fixture("session.har")],
            "session.har: not an OpenAPI description: no top-level `openapi` version",
        ),
        (
            vec!["curl".into(), "curl --proxy http://p:1 http://h/".into()],
            "command line: unsupported curl option `--proxy`",
        ),
        (
            vec!["curl".into(), "curl -X POST".into()],
            "command line: no URL",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["import"];
        all.extend(args.iter().map(String::as_str));
        let out = exec(&all, &[]);
        assert_code(&out, 2);
        assert!(out.stderr.contains(needle), "{needle}: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[test]
fn stdout_by_default_and_an_existing_file_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = "curl http://127.0.0.1:9/x";
    let printed = exec(&["import", "curl", cmd], &[]);
    assert_code(&printed, 0);
    let c: Value = printed.stdout.parse().unwrap();
    assert_eq!(
        c["targets"]["127_0_0_1"]["endpoints"][0]["path"].as_str(),
        Some("/x")
    );
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, "mine").unwrap();
    let p = path.to_str().unwrap();
    let out = exec(&["import", "curl", cmd, "-o", p], &[]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("already exists; not overwritten"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    let out = exec(&["import", "curl", cmd, "-o", p, "--force"], &[]);
    assert_code(&out, 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), printed.stdout);
}
