//! In-process tests of the load engine: a profile is run to its end with `run_once` against a
//! scripted server on 127.0.0.1 (`tests/common`), and the summary is checked against what the
//! server saw and against what the profile asked for: exact arrival counts, latency measured
//! from the intended start (no coordinated omission), error classification, the closed model,
//! `max_in_flight` drops, thresholds and the weighted endpoint mix.
//!
//! The tests hold one lock while they run: the timing assertions assume the machine is not
//! also busy with the other tests of this file.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{refused_port, Behavior, Script, Stall, TestServer};
use loadtide::config::Profile;
use loadtide::report::Summary;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// No single run in this file should take anywhere near this long.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Loads `toml` as a config file and returns its profile `p`.
fn profile(toml: &str) -> Arc<Profile> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, toml).expect("write the test config");
    let config = loadtide::config::load(&path)
        .unwrap_or_else(|e| panic!("invalid test config:\n{e}\n---\n{toml}"));
    config.profile("p").expect("profile p").clone()
}

/// A config with target `t` at `url` (plus the `target` keys), one endpoint `e` (with the
/// `endpoint` keys) and profile `p` (with the `profile` keys).
fn single(url: &str, target: &str, endpoint: &str, profile_keys: &str) -> Arc<Profile> {
    profile(&format!(
        "[targets.t]\nurl = \"{url}\"\n{target}\n\
         [[targets.t.endpoints]]\nname = \"e\"\n{endpoint}\n\
         [profiles.p]\ntarget = \"t\"\n{profile_keys}\n"
    ))
}

/// Runs `profile` to its end, failing the test if it does not end in time. The summary is
/// printed, so a failing test shows what the run saw.
async fn run(profile: Arc<Profile>) -> (Summary, bool) {
    let started = tokio::time::Instant::now();
    let (s, passed) = bounded(loadtide::oneshot::run_once(profile, false)).await;
    eprintln!(
        "run took {:?}: requests {} errors {} dropped {} duration_s {:.4} rps {:.2} \
         latency {:?} status_codes {:?} error_kinds {:?} thresholds {:?}",
        started.elapsed(),
        s.requests,
        s.errors,
        s.dropped,
        s.duration_s,
        s.rps,
        s.latency,
        s.status_codes,
        s.error_kinds,
        s.thresholds
    );
    (s, passed)
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(RUN_LIMIT, f)
        .await
        .expect("the run did not end in time")
}

fn map(entries: &[(&str, u64)]) -> BTreeMap<String, u64> {
    entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn endpoint<'a>(s: &'a Summary, name: &str) -> &'a loadtide::report::summary::EndpointSummary {
    s.endpoints
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no endpoint {name} in the summary"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_sends_exactly_rate_times_duration() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 400\nduration = \"5s\"",
    );

    let (s, passed) = run(p).await;

    assert!(passed, "no thresholds, so nothing can fail");
    assert_eq!(s.requests, 2_000, "the pacer is exact: 400/s for 5 s");
    assert_eq!((s.errors, s.dropped), (0, 0), "{:?}", s.error_kinds);
    assert_eq!(server.requests(), 2_000, "what the server received");
    assert_eq!(s.status_codes, map(&[("200", 2_000)]));
    // The last arrival is due at 4.9975 s; duration_s runs to its response.
    assert!(
        (4.99..5.1).contains(&s.duration_s),
        "duration_s {}",
        s.duration_s
    );
    assert!(
        (s.rps - 400.0).abs() <= 4.0,
        "achieved {} rps over {} s",
        s.rps,
        s.duration_s
    );
    // At ~1 ms per response, concurrency stays tiny: connections must be reused, not one each.
    assert!(
        server.connections() < 50,
        "{} connections for 2000 sequential-ish requests",
        server.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_counts_from_the_intended_start_so_stalls_show() {
    let _serial = SERIAL.lock().await;
    // Stalled for [1 s, 2 s) and [4 s, 5 s) of a 6 s run: a third of the arrivals wait for the
    // end of a stall, uniformly up to 1 s. Latency from the intended start puts about 0.7 s at
    // p90 and about 0.97 s at p99; a generator that waited for the server before sending on
    // (coordinated omission) would report a few slow requests and a fast p99.
    let server = Script::new(Behavior::Ok)
        .stall(Stall {
            every: Duration::from_secs(3),
            stall: Duration::from_secs(1),
            offset: Duration::from_secs(1),
        })
        .start();
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 200\nduration = \"6s\"",
    );

    let (s, _) = run(p).await;

    assert_eq!(s.requests, 1_200);
    assert_eq!(s.errors, 0, "{:?}", s.error_kinds);
    assert_eq!(server.requests(), 1_200);
    let l = &s.latency;
    assert!(
        l.p50 < 0.050,
        "p50 {} should be unaffected by stalls",
        l.p50
    );
    assert!(l.p90 > 0.300, "p90 {} should show the stalls", l.p90);
    assert!(l.p99 > 0.800, "p99 {} should be close to the stall", l.p99);
    assert!(
        l.max < 1.5,
        "max {} should not exceed one stall by much",
        l.max
    );
}

// Current-thread on purpose: blocking that one thread stalls the generator itself.
#[tokio::test]
async fn latency_counts_from_the_intended_start_when_the_generator_is_late() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 200\nduration = \"2s\"",
    );
    // 0.8 s in, the runtime that paces and sends stops for 300 ms; the 60 arrivals due
    // meanwhile go out late in a burst. Their latency counts from when they were due, so
    // 15% of all requests spread over 0..300 ms: p99 near 280 ms. Counted from the actual
    // send they would all look fast.
    let freeze = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        std::thread::sleep(Duration::from_millis(300));
    });

    let (s, _) = run(p).await;
    freeze.await.expect("the freeze task");

    assert_eq!(s.requests, 400);
    assert_eq!(s.errors, 0, "{:?}", s.error_kinds);
    assert_eq!(server.requests(), 400);
    let l = &s.latency;
    assert!(l.p50 < 0.050, "p50 {} should be unaffected", l.p50);
    assert!(l.p99 > 0.200, "p99 {} should show the late sends", l.p99);
    assert!(
        l.max < 0.5,
        "max {} should not exceed the freeze by much",
        l.max
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_connect_errors() {
    let _serial = SERIAL.lock().await;
    let url = format!("http://127.0.0.1:{}", refused_port());
    let p = single(&url, "", "path = \"/\"", "users = 2\nrequests = 10");

    let (s, _) = run(p).await;

    assert_eq!((s.requests, s.errors), (10, 10));
    assert_eq!(s.error_kinds, map(&[("connect", 10)]));
    assert!(s.status_codes.is_empty(), "{:?}", s.status_codes);
    assert_eq!(s.error_rate, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_gives_timeouts() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Hang);
    let p = single(
        &server.url(),
        "timeout = \"200ms\"",
        "path = \"/\"",
        "users = 3\nrequests = 6",
    );

    let (s, _) = run(p).await;

    assert_eq!((s.requests, s.errors), (6, 6));
    assert_eq!(s.error_kinds, map(&[("timeout", 6)]));
    assert_eq!(server.requests(), 6, "each request reached the server");
    assert!(
        s.latency.min >= 0.199 && s.latency.max < 0.5,
        "timed out requests take the timeout: {:?}",
        s.latency
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_is_a_reset() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Reset);
    let p = single(&server.url(), "", "path = \"/\"", "users = 1\nrequests = 5");

    let (s, _) = run(p).await;

    assert_eq!((s.requests, s.errors), (5, 5));
    assert_eq!(s.error_kinds, map(&[("reset", 5)]));
    assert!(s.status_codes.is_empty(), "{:?}", s.status_codes);
    assert_eq!(server.requests(), 5, "each request reached the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_a_status_error_with_its_code() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Status(500));
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "users = 2\nrequests = 10",
    );

    let (s, _) = run(p).await;

    assert_eq!((s.requests, s.errors), (10, 10));
    assert_eq!(s.error_kinds, map(&[("status", 10)]));
    assert_eq!(s.status_codes, map(&[("500", 10)]));
    assert_eq!(server.requests(), 10);
}

/// Two endpoints on one server returning 200, mixed in one run: `good` (with its extra
/// endpoint keys) passes, `bad` fails every request with `kind`.
async fn one_of_two_endpoints_fails(
    behavior: Behavior,
    good: (&str, &str),
    bad: (&str, &str),
    kind: &str,
) {
    let server = TestServer::with(behavior);
    let p = profile(&format!(
        "[targets.t]\nurl = \"{}\"\n\
         [[targets.t.endpoints]]\nname = \"{g}\"\npath = \"/{g}\"\n{}\n\
         [[targets.t.endpoints]]\nname = \"{b}\"\npath = \"/{b}\"\n{}\n\
         [profiles.p]\ntarget = \"t\"\nusers = 2\nrequests = 60\n",
        server.url(),
        good.1,
        bad.1,
        g = good.0,
        b = bad.0,
    ));

    let (s, _) = run(p).await;

    assert_eq!(s.requests, 60);
    assert_eq!(s.status_codes, map(&[("200", 60)]));
    let (good, bad) = (endpoint(&s, good.0), endpoint(&s, bad.0));
    assert!(good.requests > 0 && bad.requests > 0, "both were picked");
    assert_eq!(bad.errors, bad.requests);
    assert_eq!(bad.error_kinds, map(&[(kind, bad.requests)]));
    assert_eq!(good.errors, 0, "{:?}", good.error_kinds);
    assert_eq!(s.error_kinds, map(&[(kind, bad.requests)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_status_turns_an_unexpected_200_into_a_status_error() {
    let _serial = SERIAL.lock().await;
    one_of_two_endpoints_fails(
        Behavior::Ok,
        ("okay", "expect_status = [200]"),
        ("created", "expect_status = [201]"),
        "status",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_contains_mismatch_is_a_check_error() {
    let _serial = SERIAL.lock().await;
    one_of_two_endpoints_fails(
        Behavior::Body("{\"items\": [1, 2, 3]}".into()),
        ("found", "body_contains = \"items\""),
        ("missing", "body_contains = \"orders\""),
        "check",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_sends_exactly_its_request_budget() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "users = 4\nspawn_rate = 1000\nrequests = 200",
    );

    let (s, passed) = run(p).await;

    assert!(passed);
    assert_eq!((s.requests, s.errors), (200, 0), "{:?}", s.error_kinds);
    assert_eq!(server.requests(), 200);
    assert_eq!(
        server.connections(),
        4,
        "each user keeps its own keep-alive connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_think_paces_each_user() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    // Two users, 250 ms of think after each request, for 1 s: requests at about 0, 250, 500
    // and 750 ms each. Without think they would send thousands.
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "users = 2\nspawn_rate = 1000\nthink = \"250ms\"\nduration = \"1s\"",
    );

    let (s, passed) = run(p).await;

    assert!(passed);
    assert_eq!(s.errors, 0, "{:?}", s.error_kinds);
    assert!(
        (6..=10).contains(&s.requests),
        "{} requests: two users pausing 250 ms for 1 s send about 8",
        s.requests
    );
    assert_eq!(server.requests(), s.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_drops_arrivals_instead_of_queueing_them() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Delay(Duration::from_millis(500)));
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 200\nmax_in_flight = 5\nduration = \"2s\"",
    );

    let (s, _) = run(p).await;

    // 5 slots, each busy 500 ms at a time, over 2 s: about 20 sent, the other 380 dropped.
    assert_eq!(
        s.requests + s.dropped,
        400,
        "every arrival is sent or dropped"
    );
    assert!(s.dropped > 0);
    assert!(
        (15..=25).contains(&s.requests),
        "{} requests through 5 slots of 500 ms in 2 s",
        s.requests
    );
    assert_eq!(s.errors, 0, "{:?}", s.error_kinds);
    assert_eq!(server.requests(), s.requests);
    assert!(s.latency.min >= 0.499, "{:?}", s.latency);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_latency_threshold_fails_the_run() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Delay(Duration::from_millis(50)));
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 100\nrequests = 20\nthresholds = [\"p95<1ms\"]",
    );

    let (s, passed) = run(p).await;

    assert!(!passed);
    assert_eq!(s.thresholds.len(), 1);
    let t = &s.thresholds[0];
    assert_eq!(t.expr, "p95<1ms");
    assert!(!t.passed);
    assert!(
        t.value > 0.04 && t.value < 1.0,
        "p95 of a 50 ms server: {}",
        t.value
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_met_error_rate_threshold_passes_the_run() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 100\nrequests = 20\nthresholds = [\"error_rate<1%\"]",
    );

    let (s, passed) = run(p).await;

    assert!(passed, "{:?}", s.thresholds);
    assert_eq!(s.requests, 20);
    assert_eq!(s.thresholds.len(), 1);
    let t = &s.thresholds[0];
    assert_eq!(t.expr, "error_rate<1%");
    assert!(t.passed);
    assert_eq!(t.value, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_mixed_by_weight() {
    let _serial = SERIAL.lock().await;
    // ±5% of the light endpoint's 25% share is 4 standard deviations at 20 000 requests
    // (1.8 at 4 000, which would fail one run in 15).
    const N: u64 = 20_000;
    let server = Script::new(Behavior::Status(404))
        .route("/heavy", Behavior::Ok)
        .route("/light", Behavior::Ok)
        .start();
    let p = profile(&format!(
        r#"
[targets.t]
url = "{}"
[[targets.t.endpoints]]
name = "heavy"
path = "/heavy"
weight = 3
[[targets.t.endpoints]]
name = "light"
path = "/light"
weight = 1
[profiles.p]
target = "t"
users = 8
requests = {N}
"#,
        server.url()
    ));

    let (s, _) = run(p).await;

    assert_eq!((s.requests, s.errors), (N, 0), "{:?}", s.error_kinds);
    let (heavy, light) = (
        endpoint(&s, "heavy").requests,
        endpoint(&s, "light").requests,
    );
    assert_eq!(heavy + light, N);
    assert_eq!(server.requests_to("/heavy"), heavy);
    assert_eq!(server.requests_to("/light"), light);
    let within = |got: u64, want: f64| (got as f64 - want).abs() <= want * 0.05;
    assert!(
        within(heavy, N as f64 * 0.75) && within(light, N as f64 * 0.25),
        "heavy {heavy}, light {light}: expected 3:1 of {N}"
    );
}

/// Runs `profile` for one pass under `pause`, switched on and off at the given offsets.
async fn run_paused(profile: Arc<Profile>, toggles: &[(u64, bool)]) -> (Summary, Duration) {
    use loadtide::engine::{RunSpec, Shard};
    use loadtide::pause::{Pause, PauseSource};
    let pause = Pause::default();
    let spec = RunSpec {
        pause: pause.clone(),
        ..loadtide::oneshot::one_pass(&profile, Shard::WHOLE, 1.0)
    };
    let started = tokio::time::Instant::now();
    let toggles = toggles.to_vec();
    let switch = tokio::spawn(async move {
        for (at, on) in toggles {
            tokio::time::sleep_until(started + Duration::from_millis(at)).await;
            pause.set(PauseSource::Api, on);
        }
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let (s, _) = bounded(loadtide::oneshot::run_once_until(
        profile, spec, false, cancel,
    ))
    .await;
    switch.abort();
    (s, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_arrivals_are_neither_sent_nor_dropped_and_nothing_catches_up() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "rate = 100\nduration = \"2s\"\nmax_in_flight = 5",
    );
    // Paused for the middle second of two.
    let (s, _) = run_paused(p, &[(500, true), (1_500, false)]).await;
    assert!((90..=110).contains(&s.requests), "sent {}", s.requests);
    assert_eq!(s.dropped, 0, "paused arrivals are not drops");
    assert_eq!(server.requests(), s.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_model_paused_past_its_end_stops_on_time_abandoning_nobody() {
    let _serial = SERIAL.lock().await;
    let server = TestServer::with(Behavior::Ok);
    let p = single(
        &server.url(),
        "",
        "path = \"/\"",
        "users = 3\nspawn_rate = 1000\nduration = \"1s\"",
    );
    let (s, took) = run_paused(p, &[(300, true)]).await;
    assert!(s.requests > 0);
    assert_eq!(server.requests(), s.requests);
    assert_eq!(s.abandoned, 0);
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}
