//! W3C trace context end to end: the daemon's requests carry a `traceparent` (one-shot runs'
//! only when asked), a target started here records every one it receives, and the daemon's
//! OpenMetrics exposition carries the sampled ones' trace ids as exemplars.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use common::cli::{free_port, run_profile, KillOnDrop};

/// A target on 127.0.0.1 answering 200 to everything, keeping each request's `traceparent`
/// ("" when it had none). It runs on a thread of its own until the test process ends.
fn recording_target() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let record = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let value = req
                            .headers()
                            .get("traceparent")
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default();
                        record.lock().unwrap().push(value);
                        async {
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
    });
    (addr, seen)
}

fn config(target: SocketAddr, profile_keys: &str) -> String {
    format!(
        "[targets.api]\nurl = \"http://{target}\"\n[[targets.api.endpoints]]\nname = \"get\"\n\
         [profiles.load]\ntarget = \"api\"\nrate = 100\nrequests = 60\n{profile_keys}\n"
    )
}

/// `GET /metrics` with `accept`, the body.
fn scrape(addr: SocketAddr, accept: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(head, body)| {
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        format!("{head}\n\n{body}")
    })
}

/// The W3C fields of a `traceparent`: (trace id, sampled).
fn fields(v: &str) -> (String, bool) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v:?}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len()),
        ("00", 32, 16),
        "{v:?}"
    );
    assert!(parts[1].chars().all(|c| c.is_ascii_hexdigit()), "{v:?}");
    assert!(parts[3] == "00" || parts[3] == "01", "{v:?}");
    (parts[1].to_string(), parts[3] == "01")
}

#[test]
fn the_daemon_traces_its_requests_and_exports_sampled_ones_as_exemplars() {
    let (target, seen) = recording_target();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, config(target, "trace_sample_ratio = 0.5")).unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _daemon = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_loadtide"))
            .args(["serve", "--config"])
            .arg(&path)
            .args(["--web.listen-address", &listen.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().len() < 60 {
        assert!(Instant::now() < deadline, "the 60 requests did not arrive");
        std::thread::sleep(Duration::from_millis(50));
    }
    let headers = seen.lock().unwrap().clone();
    let traced: Vec<(String, bool)> = headers.iter().map(|h| fields(h)).collect();
    let sampled: Vec<&String> = traced.iter().filter(|t| t.1).map(|t| &t.0).collect();
    // 60 requests at a ratio of 0.5: both kinds (all one kind has odds of 2^-59).
    assert!(!sampled.is_empty() && sampled.len() < 60, "{headers:?}");
    let unique: std::collections::HashSet<&String> = traced.iter().map(|t| &t.0).collect();
    assert_eq!(unique.len(), 60, "a new trace per request");

    let om = scrape(
        listen,
        "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    )
    .unwrap();
    assert!(
        om.contains("application/openmetrics-text; version=1.0.0"),
        "{om}"
    );
    assert!(om.trim_end().ends_with("# EOF"), "{om}");
    let exemplars: Vec<&str> = om
        .lines()
        .filter(|l| l.starts_with("loadtide_request_duration_seconds_bucket"))
        .filter_map(|l| l.split_once(" # {trace_id=\"").map(|(_, rest)| &rest[..32]))
        .collect();
    assert!(!exemplars.is_empty(), "{om}");
    for id in &exemplars {
        assert!(
            sampled.iter().any(|s| s == id),
            "{id} was not a sampled request's trace"
        );
    }
    // The 0.0.4 text format has no exemplars.
    let text = scrape(listen, "text/plain").unwrap();
    assert!(text.contains("text/plain; version=0.0.4"));
    assert!(!text.contains("trace_id"), "{text}");
}

#[test]
fn one_shot_runs_send_no_traceparent_unless_the_profile_asks() {
    let (target, seen) = recording_target();
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = run_profile(dir.path(), &config(target, ""), "load");
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(seen.lock().unwrap().iter().all(String::is_empty));
    seen.lock().unwrap().clear();
    let (out, _) = run_profile(dir.path(), &config(target, "traceparent = true"), "load");
    assert_eq!(out.code, Some(0), "{out:?}");
    let headers = seen.lock().unwrap().clone();
    assert_eq!(headers.len(), 60);
    assert!(
        headers.iter().all(|h| fields(h).1),
        "sampled by default: {headers:?}"
    );
}

#[test]
fn trace_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let t = SocketAddr::from(([127, 0, 0, 1], 9));
    let cases = [
        (
            config(t, "trace_sample_ratio = 1.5"),
            "profiles.load.trace_sample_ratio",
            "must be between 0 and 1",
        ),
        (
            config(t, "").replace("http://127.0.0.1:9", "tcp://127.0.0.1:9")
                + "traceparent = true\n",
            "profiles.load.traceparent",
            "only HTTP and gRPC requests carry a traceparent",
        ),
    ];
    common::cli::assert_refused(dir.path(), &cases);
}
