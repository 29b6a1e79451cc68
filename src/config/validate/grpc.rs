//! grpc:// and grpcs:// targets: the `proto` that describes their services (a `.proto` file
//! compiled in process by protox, so no protoc is needed, or a descriptor set), and each
//! endpoint's `rpc` and JSON `body`, checked against the method's request message here so a
//! typo in a field name fails `check`, not every request.

use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;

use super::super::checks::Collector;
use super::super::raw::{RawEndpoint, RawTarget};
use super::super::{GrpcMethod, Scheme};
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
/// already failed) and its body (`body` or `body_file`'s) checked against the request
/// message. The second value is the method's `path` (`/package.Service/Method`).
pub(super) fn endpoint(
    c: &mut Collector,
    key: &str,
    e: &RawEndpoint,
    body: &[u8],
    pool: Option<&DescriptorPool>,
) -> Option<(GrpcMethod, String)> {
    let Some(rpc) = e.rpc.as_deref() else {
        c.err(
            format!("{key}.rpc"),
            "missing: a grpc endpoint names the method it calls, e.g. \
             rpc = \"helloworld.Greeter/SayHello\"",
        );
        return None;
    };
    let pool = pool?;
    let rkey = format!("{key}.rpc");
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
    let Some(m) = svc.methods().find(|m| m.name() == method) else {
        let known: Vec<String> = svc.methods().map(|m| m.name().to_string()).collect();
        c.err(
            rkey,
            format!(
                "unknown method {method:?} of {service}: it has {}",
                list(&known)
            ),
        );
        return None;
    };
    if m.is_client_streaming() {
        c.err(
            rkey,
            format!(
                "{rpc} streams requests from the client: loadtide calls unary and \
                 server-streaming methods only"
            ),
        );
        return None;
    }
    let Ok(body) = std::str::from_utf8(body) else {
        c.err(format!("{key}.body"), "not UTF-8: a gRPC body is JSON");
        return None;
    };
    check_body(c, key, body, &m.input())?;
    let path = format!("/{service}/{method}");
    Some((
        GrpcMethod {
            input: m.input(),
            output: m.output(),
            server_streaming: m.is_server_streaming(),
        },
        path,
    ))
}

/// Checks a request body: a template must compile; a body without one must be the JSON of
/// `input` (the proto3 JSON mapping), with no unknown fields.
fn check_body(
    c: &mut Collector,
    key: &str,
    body: &str,
    input: &prost_reflect::MessageDescriptor,
) -> Option<()> {
    let body = if body.trim().is_empty() { "{}" } else { body };
    let bkey = format!("{key}.body");
    if body.contains("{{") || body.contains("{%") {
        return Templates::new()
            .add("body", body)
            .map_err(|e| c.err(bkey, e.to_string()))
            .ok();
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
