//! gRPC targets end to end: `loadtide run` against a real tonic server on 127.0.0.1 — the demo
//! target's Greeter, in a `loadtide demo-target` process of the test's own (h2c) or served
//! here over TLS with a self-signed certificate — with the messages described by
//! `config/examples/greeter.proto`, compiled by loadtide at load time.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{assert_refused, endpoint, free_port, run_profile, KillOnDrop, Out};
use common::scrape::run_with_metrics;
use serde_json::Value;

fn proto() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/examples/greeter.proto"
    ))
    .unwrap()
}

/// A `loadtide demo-target` on a free port of 127.0.0.1, up and accepting.
fn demo_target() -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_loadtide"))
        .args(["demo-target", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "demo target did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// A config calling `endpoints` on `url` with the Greeter's proto (written beside it).
fn config(dir: &Path, url: &str, target: &str, endpoints: &str, requests: u64) -> String {
    std::fs::write(dir.join("greeter.proto"), proto()).unwrap();
    format!(
        r#"
[targets.greeter]
url = "{url}"
proto = "greeter.proto"
timeout = "2s"
{target}
{endpoints}

[profiles.load]
target = "greeter"
rate = 400
requests = {requests}
"#
    )
}

const HELLO: &str = r#"
[[targets.greeter.endpoints]]
name = "hello"
rpc = "loadtide.demo.Greeter/SayHello"
body = '{"name": "n{{ seq() }}"}'
body_contains = "Hello, n"
"#;

fn ok_summary(out: &Out, summary: Option<Value>, requests: u64) -> Value {
    assert_eq!(out.code, Some(0), "{out:?}");
    let s = summary.unwrap();
    assert_eq!(
        (s["requests"].as_u64(), s["errors"].as_u64()),
        (Some(requests), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["status_codes"]["ok"].as_u64(), Some(requests), "{s:#}");
    s
}

#[test]
fn unary_and_server_streaming_calls_succeed_with_templated_bodies() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    let stream = r#"
[[targets.greeter.endpoints]]
name = "stream"
rpc = "loadtide.demo.Greeter/SayHellos"
body = '{"name": "reader", "count": 50}'
body_contains = "Hello #50, reader"
"#;
    let endpoints = format!("{HELLO}{stream}");
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", &endpoints, 200);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = ok_summary(&out, summary, 200);
    let (hello, stream) = (endpoint(&s, "hello"), endpoint(&s, "stream"));
    assert_eq!(hello["method"], "UNARY", "{s:#}");
    assert_eq!(stream["method"], "SERVER_STREAMING", "{s:#}");
    assert!(
        hello.get("stream").is_none(),
        "a unary endpoint has no stream: {s:#}"
    );
    let calls = stream["requests"].as_u64().unwrap();
    assert_eq!(
        stream["stream"]["received"].as_u64(),
        Some(50 * calls),
        "{s:#}"
    );
    assert_eq!(stream["stream"]["sent"].as_u64(), Some(0), "{s:#}");
    // Found only in the 50th message: the whole stream was read and decoded.
    assert!(stream["requests"].as_u64().unwrap() > 50, "{s:#}");
}

#[test]
fn a_status_other_than_ok_is_its_name_and_a_status_error() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // The demo answers a name "status:N" with status N; the template renders it per call.
    let endpoints = r#"
[[targets.greeter.endpoints]]
name = "unavailable"
rpc = "loadtide.demo.Greeter/SayHello"
body = '{"name": "status:{{ 7 * 2 }}"}'
[[targets.greeter.endpoints]]
name = "not_found"
rpc = "/loadtide.demo.Greeter/SayHellos"
body = '{"name": "status:5", "count": 3}'
"#;
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", endpoints, 100);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 100, "{s:#}");
    assert_eq!(s["error_kinds"]["status"], 100, "{s:#}");
    let codes = &s["status_codes"];
    let (u, n) = (codes["UNAVAILABLE"].as_u64(), codes["NOT_FOUND"].as_u64());
    assert_eq!(u.unwrap() + n.unwrap(), 100, "{s:#}");
    assert_eq!(endpoint(&s, "unavailable")["requests"], u.unwrap(), "{s:#}");
}

#[test]
fn a_method_the_server_lacks_is_unimplemented_and_a_missing_text_a_check_error() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // The proto has a method the server does not: check passes, the server says so.
    let extended = proto().replace(
        "service Greeter {",
        "service Greeter {\n  rpc SayBye (HelloRequest) returns (HelloReply);",
    );
    let url = format!("grpc://127.0.0.1:{port}");
    let endpoints = r#"
[[targets.greeter.endpoints]]
name = "bye"
rpc = "loadtide.demo.Greeter/SayBye"
[[targets.greeter.endpoints]]
name = "hello"
rpc = "loadtide.demo.Greeter/SayHello"
body = '{"name": "x"}'
body_contains = "Goodbye"
"#;
    let toml = config(dir.path(), &url, "", endpoints, 100);
    std::fs::write(dir.path().join("greeter.proto"), extended).unwrap();
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    let bye = endpoint(&s, "bye")["requests"].as_u64().unwrap();
    assert_eq!(
        s["status_codes"]["UNIMPLEMENTED"].as_u64(),
        Some(bye),
        "{s:#}"
    );
    assert_eq!(s["error_kinds"]["status"].as_u64(), Some(bye), "{s:#}");
    assert_eq!(
        s["error_kinds"]["check"].as_u64(),
        Some(100 - bye),
        "the reply's JSON lacks the text: {s:#}"
    );
}

#[test]
fn a_descriptor_set_works_like_the_proto() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // What `protoc --descriptor_set_out` would write, compiled here without protoc.
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", HELLO, 50).replace("greeter.proto", "greeter.pb");
    let set = protox::compile(["greeter.proto"], [dir.path()]).unwrap();
    std::fs::write(
        dir.path().join("greeter.pb"),
        prost::Message::encode_to_vec(&set),
    )
    .unwrap();
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    ok_summary(&out, summary, 50);
}

#[test]
fn a_server_that_is_not_there_counts_connect_errors() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("grpc://127.0.0.1:{}", free_port());
    let toml = config(dir.path(), &url, "", HELLO, 20);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 20, "{s:#}");
    assert_eq!(s["error_kinds"]["connect"], 20, "{s:#}");
}

/// The demo target's services over TLS with a fresh self-signed certificate, ALPN h2.
fn tls_demo(rt: &tokio::runtime::Runtime) -> u16 {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(loadtide::demo::serve_tls(
        listener,
        Some(common::tls::self_signed(&[b"h2"])),
        tokio_util::sync::CancellationToken::new(),
    ));
    port
}

#[test]
fn grpcs_verifies_the_certificate_unless_insecure() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = tls_demo(&rt);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("grpcs://localhost:{port}");
    let toml = config(dir.path(), &url, "insecure = true", HELLO, 50);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    ok_summary(&out, summary, 50);
    // A self-signed certificate fails verification: every call a `tls` error.
    let toml = config(dir.path(), &url, "", HELLO, 10);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["error_kinds"]["tls"], 10, "{s:#}");
}

#[test]
fn bad_grpc_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = "grpc://127.0.0.1:50051";
    let ep = |body: &str| format!("[[targets.greeter.endpoints]]\nname = \"a\"\n{body}\n");
    let hello = "rpc = \"loadtide.demo.Greeter/SayHello\"";
    let cases = [
        (
            config(d, url, "", &ep("rpc = \"loadtide.demo.Greeter/SayHi\""), 1),
            "targets.greeter.endpoints[0].rpc",
            "unknown method \"SayHi\" of loadtide.demo.Greeter: it has SayHello, SayHellos, \
             CountHellos, Chat",
        ),
        (
            config(d, url, "", &ep("rpc = \"demo.Greeter/SayHello\""), 1),
            "targets.greeter.endpoints[0].rpc",
            "unknown service \"demo.Greeter\": the proto defines loadtide.demo.Greeter",
        ),
        (
            config(d, url, "", &ep("rpc = \"SayHello\""), 1),
            "targets.greeter.endpoints[0].rpc",
            "package.Service/Method",
        ),
        (
            config(d, url, "", &ep(""), 1),
            "targets.greeter.endpoints[0].rpc",
            "missing",
        ),
        (
            config(
                d,
                url,
                "",
                &ep(&format!("{hello}\nbody = '{{\"nam\": \"x\"}}'")),
                1,
            ),
            "targets.greeter.endpoints[0].body",
            "not a loadtide.demo.HelloRequest in JSON: unrecognized field name 'nam'",
        ),
        (
            config(
                d,
                url,
                "",
                &ep(&format!("{hello}\nbody = '{{\"name\": 5}}'")),
                1,
            ),
            "targets.greeter.endpoints[0].body",
            "expected a string",
        ),
        (
            config(d, url, "", &ep(&format!("{hello}\nmethod = \"POST\"")), 1),
            "targets.greeter.endpoints[0].method",
            "calls its `rpc`",
        ),
        (
            config(d, url, "", &ep(&format!("{hello}\nbody = '{{{{ nope('")), 1),
            "targets.greeter.endpoints[0].body",
            "invalid template",
        ),
        (
            config(d, url, "", &ep(hello), 1).replace("greeter.proto", "missing.proto"),
            "targets.greeter.proto",
            "missing.proto: no such file",
        ),
        (
            config(d, url, "", &ep(hello), 1).replace("proto = \"greeter.proto\"", ""),
            "targets.greeter.proto",
            "missing",
        ),
        (
            config(d, url, "http2 = false", &ep(hello), 1),
            "targets.greeter.http2",
            "HTTP/2 only",
        ),
        (
            config(d, "grpc://127.0.0.1", "", &ep(hello), 1),
            "targets.greeter.url",
            "needs a port",
        ),
        (
            config(d, "http://127.0.0.1:1", "", &ep("path = \"/\""), 1),
            "targets.greeter.proto",
            "only for grpc:// and grpcs:// targets",
        ),
    ];
    assert_refused(d, &cases);
    // A .proto that does not compile names the file and the line.
    let toml = config(d, url, "", &ep(hello), 1);
    std::fs::write(d.join("greeter.proto"), "syntax = \"proto3\";\nmessage {").unwrap();
    let (out, _) = run_profile(d, &toml, "load");
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("targets.greeter.proto") && out.stderr.contains("greeter.proto:2"),
        "{out:?}"
    );
}

/// The summary's endpoint `name`'s latency figure `key`, in seconds.
fn latency(s: &Value, name: &str, key: &str) -> f64 {
    common::cli::f(&endpoint(s, name)["latency"][key])
}

#[test]
fn a_client_streaming_call_sends_every_message_and_gets_the_count_back() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // The server counts the messages of a call and names the last: every reply must say 5
    // and m4, so each call sent all its messages, in order, rendered per message.
    let endpoints = r#"
[[targets.greeter.endpoints]]
name = "count"
rpc = "loadtide.demo.Greeter/CountHellos"
stream_messages = 5
stream_interval = "3ms"
body = '{"name": "m{{ message }}"}'
body_contains = "Counted 5 hellos, last m4"
"#;
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", endpoints, 60);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = ok_summary(&out, summary, 60);
    assert_eq!(endpoint(&s, "count")["method"], "CLIENT_STREAMING", "{s:#}");
    let stream = &endpoint(&s, "count")["stream"];
    assert_eq!(
        (stream["sent"].as_u64(), stream["received"].as_u64()),
        (Some(300), Some(60))
    );
    // Four pauses between five messages: a call's latency is to its end.
    assert!(latency(&s, "count", "min") >= 0.012, "{s:#}");
    // `check` says what one call sends.
    let out = common::cli::check(&dir.path().join("loadtide.toml"));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("CLIENT_STREAMING /loadtide.demo.Greeter/CountHellos, 5 messages, 3ms apart"),
        "{out:?}"
    );
}

#[test]
fn a_bidi_call_gets_a_reply_to_each_message_without_deadlock() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // The server answers each message at once, numbering its replies: reply #20 echoing m19
    // means all twenty went both ways, and the bytes received say there was no other.
    let endpoints = r#"
[[targets.greeter.endpoints]]
name = "chat"
rpc = "loadtide.demo.Greeter/Chat"
stream_messages = 20
body = '{"name": "m{{ message }}"}'
body_contains = "Hello #20, m19!"
"#;
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", endpoints, 50);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = ok_summary(&out, summary, 50);
    assert_eq!(endpoint(&s, "chat")["method"], "BIDI_STREAMING", "{s:#}");
    // The messages inside the calls: twenty each way per call, in the JSON and the text.
    let stream = &endpoint(&s, "chat")["stream"];
    assert_eq!(
        (stream["sent"].as_u64(), stream["received"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert!(
        out.stdout.contains("messages     chat: 1000 sent ("),
        "{out:?}"
    );
    // A frame is 5 bytes of prefix, then the HelloReply: tag, length, text.
    let per_call: usize = (1..=20)
        .map(|i| 5 + 2 + format!("Hello #{i}, m{}!", i - 1).len())
        .sum();
    assert_eq!(
        s["bytes_received"].as_u64(),
        Some(50 * per_call as u64),
        "{s:#}"
    );
    // Many messages on calls sharing one connection: the replies are read as they come,
    // or flow control would stall the stream.
    let long = endpoints
        .replace("stream_messages = 20", "stream_messages = 2000")
        .replace("#20, m19!", "#2000, m1999!");
    let toml = config(dir.path(), &url, "", &long, 20);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    ok_summary(&out, summary, 20);
}

#[test]
fn stream_messages_are_counted_and_bidi_replies_timed_per_message() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    let streams = r#"
[[targets.greeter.endpoints]]
name = "chat"
rpc = "loadtide.demo.Greeter/Chat"
stream_messages = 10
stream_interval = "2ms"
body = '{"name": "m{{ message }}"}'
[[targets.greeter.endpoints]]
name = "count"
rpc = "loadtide.demo.Greeter/CountHellos"
stream_messages = 5
body = '{"name": "m{{ message }}"}'
[[targets.greeter.endpoints]]
name = "stream"
rpc = "loadtide.demo.Greeter/SayHellos"
body = '{"name": "reader", "count": 7}'
"#;
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", &format!("{HELLO}{streams}"), 120)
        .replace("rate = 400", "users = 4");
    let path = dir.path().join("loadtide.toml");
    std::fs::write(&path, toml).unwrap();
    let profile = loadtide::config::load(&path)
        .unwrap()
        .profile("load")
        .unwrap()
        .clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let m = rt.block_on(run_with_metrics(profile));
    let calls = |e| {
        m.value(
            "loadtide_request_duration_seconds_count",
            &[("endpoint", e)],
        )
    };
    let ok = |e| {
        m.value(
            "loadtide_responses_total",
            &[("endpoint", e), ("code", "ok")],
        )
    };
    let messages = |e, direction| {
        let labels = [("endpoint", e), ("direction", direction)];
        m.value("loadtide_grpc_stream_messages_total", &labels)
    };
    let total: f64 = ["hello", "chat", "count", "stream"].map(calls).iter().sum();
    assert_eq!(total, 120.0);
    for e in ["hello", "chat", "count", "stream"] {
        assert!(calls(e) > 0.0 && ok(e) == calls(e), "{e}: {}", m.text);
    }
    // Bidi: ten messages each way per call; client streaming: five out, one reply; server
    // streaming: the seven replies the body asked for. A unary endpoint has no series.
    assert_eq!(messages("chat", "sent"), 10.0 * calls("chat"));
    assert_eq!(messages("chat", "received"), 10.0 * calls("chat"));
    assert_eq!(messages("count", "sent"), 5.0 * calls("count"));
    assert_eq!(messages("count", "received"), calls("count"));
    assert_eq!(messages("stream", "sent"), 0.0);
    assert_eq!(messages("stream", "received"), 7.0 * calls("stream"));
    let family = |name| -> std::collections::BTreeSet<String> {
        m.series(name, &[])
            .map(|s| s.labels["endpoint"].clone())
            .collect()
    };
    let with_messages = family("loadtide_grpc_stream_messages_total");
    assert_eq!(
        with_messages,
        ["chat", "count", "stream"].map(String::from).into()
    );
    // Each bidi reply is timed against its message: ten round trips per call, only for the
    // bidi endpoint, and each a part of its call (the call spans 18 ms of pauses).
    let rtts = family("loadtide_grpc_stream_message_rtt_seconds_count");
    assert_eq!(rtts, ["chat".to_string()].into());
    let rtt = |s| {
        m.value(
            &format!("loadtide_grpc_stream_message_rtt_seconds_{s}"),
            &[],
        )
    };
    assert_eq!(rtt("count"), 10.0 * calls("chat"));
    let call_mean = m.value(
        "loadtide_request_duration_seconds_sum",
        &[("endpoint", "chat")],
    ) / calls("chat");
    let rtt_mean = rtt("sum") / rtt("count");
    assert!(
        rtt_mean > 0.0 && rtt_mean < call_mean,
        "{rtt_mean} vs {call_mean}"
    );
    assert!(call_mean >= 0.018, "{call_mean}");
}

#[test]
fn a_stream_the_server_fails_midway_is_a_status_error_named_by_the_status() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    // Message 3 asks for a status: the server ends the call there, the rest never sent.
    let failing = |name: &str, rpc: &str, code: u32| {
        format!(
            r#"
[[targets.greeter.endpoints]]
name = "{name}"
rpc = "loadtide.demo.Greeter/{rpc}"
stream_messages = 10
body = '{{"name": "{{% if message == 3 %}}status:{code}{{% else %}}m{{{{ message }}}}{{% endif %}}"}}'
"#
        )
    };
    let endpoints = failing("count", "CountHellos", 9) + &failing("chat", "Chat", 10);
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", &endpoints, 80);
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["errors"], 80, "{s:#}");
    assert_eq!(s["error_kinds"]["status"], 80, "{s:#}");
    let codes = &s["status_codes"];
    assert_eq!(
        codes["FAILED_PRECONDITION"],
        endpoint(&s, "count")["requests"],
        "{s:#}"
    );
    assert_eq!(codes["ABORTED"], endpoint(&s, "chat")["requests"], "{s:#}");
}

#[test]
fn a_stalled_bidi_call_times_out_at_the_target_timeout() {
    let (_server, port) = demo_target();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = r#"
[[targets.greeter.endpoints]]
name = "stalled"
rpc = "loadtide.demo.Greeter/Chat"
stream_messages = 3
body = '{"name": "stall:30000"}'
"#;
    let url = format!("grpc://127.0.0.1:{port}");
    let toml = config(dir.path(), &url, "", endpoints, 10).replace("\"2s\"", "\"300ms\"");
    let started = Instant::now();
    let (out, summary) = run_profile(dir.path(), &toml, "load");
    let s = summary.unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(s["error_kinds"]["timeout"], 10, "{s:#}");
    // Bounded by the timeout: not the server's 30 s, nor a hang.
    assert!(latency(&s, "stalled", "min") >= 0.29, "{s:#}");
    assert!(latency(&s, "stalled", "max") < 2.0, "{s:#}");
    assert!(started.elapsed() < Duration::from_secs(20), "{s:#}");
}

#[test]
fn bad_stream_settings_are_refused_with_the_key_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let url = "grpc://127.0.0.1:50051";
    let ep = |rpc: &str, rest: &str| {
        format!(
            "[[targets.greeter.endpoints]]\nname = \"a\"\nrpc = \"loadtide.demo.Greeter/{rpc}\"\n\
             {rest}\n"
        )
    };
    let key = |k: &str| format!("targets.greeter.endpoints[0].{k}");
    let keys: Vec<String> = ["stream_messages", "stream_interval", "body"]
        .iter()
        .map(|k| key(k))
        .collect();
    let (messages, interval, body) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let cases = [
        (
            config(d, url, "", &ep("SayHello", "stream_messages = 3"), 1),
            messages,
            "loadtide.demo.Greeter/SayHello is a unary method, which takes one request \
             message: stream_messages is for client-streaming and bidi methods",
        ),
        (
            config(d, url, "", &ep("SayHellos", "stream_interval = \"1ms\""), 1),
            interval,
            "is a server-streaming method",
        ),
        (
            config(d, url, "", &ep("Chat", "stream_messages = 0"), 1),
            messages,
            "invalid stream_messages 0: must be 1..=10000",
        ),
        (
            config(d, url, "", &ep("Chat", "stream_messages = 10001"), 1),
            messages,
            "invalid stream_messages 10001: must be 1..=10000",
        ),
        (
            config(
                d,
                url,
                "",
                &ep("CountHellos", "stream_interval = \"soon\""),
                1,
            ),
            interval,
            "invalid duration \"soon\"",
        ),
        (
            config(
                d,
                url,
                "",
                &ep("CountHellos", "stream_interval = \"0s\""),
                1,
            ),
            interval,
            "must be greater than zero",
        ),
        (
            config(
                d,
                url,
                "",
                &ep("Chat", "stream_messages = 11\nstream_interval = \"200ms\""),
                1,
            ),
            interval,
            "11 messages 200ms apart take 2s, not less than the target's timeout (2s)",
        ),
        (
            config(
                d,
                url,
                "",
                &ep("SayHello", "body = '{\"name\": \"{{ message }}\"}'"),
                1,
            ),
            body,
            "{{ message }} is a stream message's index: only for client-streaming and bidi",
        ),
        (
            config(
                d,
                url,
                "",
                &ep("Chat", "body = '{\"name\": \"{{ user }}\"}'"),
                1,
            ),
            body,
            "undefined variable \"user\"",
        ),
        (
            config(
                d,
                "http://127.0.0.1:1",
                "",
                "[[targets.greeter.endpoints]]\nname = \"a\"\nstream_messages = 2\n",
                1,
            )
            .replace("proto = \"greeter.proto\"", ""),
            messages,
            "only for grpc:// and grpcs:// targets",
        ),
    ];
    assert_refused(d, &cases);
}
