//! grpc:// and grpcs:// targets: the `proto` that describes their services (a `.proto` file
//! compiled in process by protox, so no protoc is needed, or a descriptor set), and each
//! endpoint's `rpc` and JSON `body`, checked against the method's request message here so a
//! typo in a field name fails `check`, not every request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use prost_reflect::{DescriptorPool, MethodDescriptor};

use super::super::checks::Collector;
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{GrpcMethod, RequestStream, Scheme, STREAM_MESSAGE_VAR};
use crate::scenario::template::Templates;

/// Extensions of a serialized `FileDescriptorSet` (`protoc --descriptor_set_out`,
/// `buf build -o`); anything else is read as `.proto` source.
const DESCRIPTOR_SET: [&str; 4] = ["pb", "protoset", "desc", "bin"];

/// The services a grpc:// target at `key` can call; errors for `proto` on other targets.
pub(super) fn descriptors(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    scheme: Scheme,
    base_dir: Option<&Path>,
) -> Option<DescriptorPool> {
    let pkey = format!("{key}.proto");
    if !scheme.is_grpc() {
        if t.proto.is_some() {
            c.err(pkey, "only for grpc:// and grpcs:// targets");
        }
        return None;
    }
    if t.http2 == Some(false) {
        c.err(format!("{key}.http2"), "gRPC runs over HTTP/2 only");
    }
    let Some(file) = &t.proto else {
        c.err(
            pkey,
            "missing: a grpc:// target names the .proto file (or descriptor set) of its \
             services, e.g. proto = \"greeter.proto\"",
        );
        return None;
    };
    let path = base_dir.map_or_else(|| PathBuf::from(file), |d| d.join(file));
    let set = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| DESCRIPTOR_SET.contains(&e));
    if !path.is_file() {
        c.err(
            pkey,
            format!("cannot read {}: no such file", path.display()),
        );
        return None;
    }
    let pool = if set {
        std::fs::read(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|b| {
                DescriptorPool::decode(b.as_slice())
                    .map_err(|e| format!("{} is not a descriptor set: {e}", path.display()))
            })
    } else {
        compile(&path)
    };
    pool.map_err(|e| c.err(pkey, e)).ok()
}

/// `path` compiled with its directory as the import root (imports of the well-known
/// `google/protobuf/*.proto` types resolve without it).
fn compile(path: &Path) -> Result<DescriptorPool, String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(path.as_os_str());
    let mut compiler = protox::Compiler::new([dir]).map_err(|e| e.to_string())?;
    compiler.include_imports(true);
    compiler
        .open_file(name)
        .map_err(|e| format!("cannot compile {}: {e}", at(dir, &e)))?;
    Ok(compiler.descriptor_pool())
}

/// Where protox's error `e` points: `file:line:column`, or the file alone.
fn at(dir: &Path, e: &protox::Error) -> String {
    use miette::Diagnostic as _;
    let file = e.file().map_or_else(|| dir.to_path_buf(), |f| dir.join(f));
    let offset = e.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    match offset.filter(|o| *o <= text.len()) {
        Some(o) => {
            let before = &text.as_bytes()[..o];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            let column = o - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
                + 1;
            format!("{}:{line}:{column}", file.display())
        }
        None => file.display().to_string(),
    }
}

/// A grpc endpoint at `key`: its method resolved in `pool` (None when the target's `proto`
/// already failed), its body (`body` or `body_file`'s) checked against the request message
/// and, for a method that takes a stream, the stream's keys (bounded by the target's
/// `timeout`). The second value is the method's `path` (`/package.Service/Method`).
pub(super) fn endpoint(
    c: &mut Collector,
    key: &str,
    e: &RawEndpoint,
    body: &[u8],
    (pool, timeout): (Option<&DescriptorPool>, Duration),
) -> Option<(GrpcMethod, String)> {
    let Some(rpc) = e.rpc.as_deref() else {
        c.err(
            format!("{key}.rpc"),
            "missing: a grpc endpoint names the method it calls, e.g. \
             rpc = \"helloworld.Greeter/SayHello\"",
        );
        return None;
    };
    let m = method(c, &format!("{key}.rpc"), rpc, pool?)?;
    let requests = if m.is_client_streaming() {
        Some(stream(c, key, e, timeout))
    } else {
        let kind = if m.is_server_streaming() {
            "a server-streaming"
        } else {
            "a unary"
        };
        for (k, set) in [
            ("stream_messages", e.stream_messages.is_some()),
            ("stream_interval", e.stream_interval.is_some()),
        ] {
            if set {
                c.err(
                    format!("{key}.{k}"),
                    format!(
                        "{rpc} is {kind} method, which takes one request message: {k} is for \
                         client-streaming and bidi methods"
                    ),
                );
            }
        }
        None
    };
    let Ok(body) = std::str::from_utf8(body) else {
        c.err(format!("{key}.body"), "not UTF-8: a gRPC body is JSON");
        return None;
    };
    check_body(c, key, body, &m.input(), requests.is_some())?;
    let path = format!("/{}/{}", m.parent_service().full_name(), m.name());
    Some((
        GrpcMethod {
            input: m.input(),
            output: m.output(),
            server_streaming: m.is_server_streaming(),
            requests,
        },
        path,
    ))
}

/// The method `rpc` (at `rkey`) names in `pool`.
fn method(
    c: &mut Collector,
    rkey: &str,
    rpc: &str,
    pool: &DescriptorPool,
) -> Option<MethodDescriptor> {
    let Some((service, method)) = rpc.trim_start_matches('/').split_once('/') else {
        c.err(
            rkey,
            format!("invalid rpc {rpc:?}: write it as package.Service/Method"),
        );
        return None;
    };
    let Some(svc) = pool.get_service_by_name(service) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
        c.err(
            rkey,
            format!(
                "unknown service {service:?}: the proto defines {}",
                list(&known)
            ),
        );
        return None;
    };
    let found = svc.methods().find(|m| m.name() == method);
    if found.is_none() {
        let known: Vec<String> = svc.methods().map(|m| m.name().to_string()).collect();
        c.err(
            rkey,
            format!(
                "unknown method {method:?} of {service}: it has {}",
                list(&known)
            ),
        );
    }
    found
}

/// The most messages one call may send: a stream is one request's worth of load, not a
/// soak test of its own.
const MAX_STREAM_MESSAGES: u64 = 10_000;

/// `stream_messages` (default 1) and `stream_interval` of a client-streaming or bidi endpoint.
fn stream(c: &mut Collector, key: &str, e: &RawEndpoint, timeout: Duration) -> RequestStream {
    let n = e.stream_messages.unwrap_or(1);
    if n == 0 || n > MAX_STREAM_MESSAGES {
        c.err(
            format!("{key}.stream_messages"),
            format!("invalid stream_messages {n}: must be 1..={MAX_STREAM_MESSAGES}"),
        );
    }
    let messages = u32::try_from(n.clamp(1, MAX_STREAM_MESSAGES)).unwrap_or(1);
    let ikey = format!("{key}.stream_interval");
    let interval = e
        .stream_interval
        .as_deref()
        .map(|v| c.duration(&ikey, Some(v), Duration::ZERO))
        .filter(|d| !d.is_zero());
    // The timeout bounds the whole call: a stream that cannot end in time always fails.
    let sending = interval.map_or(Duration::ZERO, |d| {
        d.checked_mul(messages - 1).unwrap_or(Duration::MAX)
    });
    if sending >= timeout {
        c.err(
            ikey,
            format!(
                "{messages} messages {} apart take {}, not less than the target's timeout \
                 ({}): every call would time out",
                humantime::format_duration(interval.unwrap_or_default()),
                humantime::format_duration(sending),
                humantime::format_duration(timeout),
            ),
        );
    }
    RequestStream { messages, interval }
}

/// Checks a request body: a template must compile and read no variable but
/// [`STREAM_MESSAGE_VAR`] (in a `stream`'s body only); a body without one must be the JSON of
/// `input` (the proto3 JSON mapping), with no unknown fields.
fn check_body(
    c: &mut Collector,
    key: &str,
    body: &str,
    input: &prost_reflect::MessageDescriptor,
    stream: bool,
) -> Option<()> {
    let body = if body.trim().is_empty() { "{}" } else { body };
    let bkey = format!("{key}.body");
    if body.contains("{{") || body.contains("{%") {
        let mut t = Templates::new();
        t.add("body", body)
            .map_err(|e| c.err(&bkey, e.to_string()))
            .ok()?;
        // Rendered without a user's variables: anything else is undefined at every call.
        let unknown = t
            .declared("body")
            .into_iter()
            .find(|v| !(stream && v == STREAM_MESSAGE_VAR));
        return match unknown {
            None => Some(()),
            Some(v) if v == STREAM_MESSAGE_VAR => {
                c.err(
                    bkey,
                    format!(
                        "{{{{ {v} }}}} is a stream message's index: only for client-streaming \
                         and bidi methods"
                    ),
                );
                None
            }
            Some(v) => {
                let extra = if stream {
                    format!(" and {{{{ {STREAM_MESSAGE_VAR} }}}}")
                } else {
                    String::new()
                };
                c.err(
                    bkey,
                    format!(
                        "undefined variable {v:?}: a gRPC body has the generators (seq(), \
                         random_int(), ...){extra} only"
                    ),
                );
                None
            }
        };
    }
    GrpcMethod::encode_as(input, body)
        .map(|_| ())
        .map_err(|e| c.err(bkey, format!("not a {} in JSON: {e}", input.full_name())))
        .ok()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
