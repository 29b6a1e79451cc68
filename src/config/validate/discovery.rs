//! A target's `file_sd`: only where connections are HTTP/2 or HTTP/1.1 (http, https, grpc,
//! grpcs), at least one file, each readable and well-formed now (a file that goes bad later
//! keeps the last good set; one that is bad at load is the config's mistake); and
//! `dns_server`, an `ip:port`.

use std::path::Path;

use super::super::checks::Collector;
use super::super::discovery::{FileSd, DEFAULT_REFRESH};
use super::super::raw::RawTarget;
use super::super::Scheme;

pub(super) fn file_sd(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    (scheme, port): (Scheme, u16),
    base_dir: Option<&Path>,
) -> Option<FileSd> {
    let raw = t.file_sd.as_ref()?;
    let key = format!("{key}.file_sd");
    if !matches!(
        scheme,
        Scheme::Http | Scheme::Https | Scheme::Grpc | Scheme::Grpcs
    ) {
        c.err(
            &key,
            format!(
                "only for http(s):// and grpc(s):// targets (this one is {}://)",
                scheme.as_str()
            ),
        );
        return None;
    }
    if raw.files.is_empty() {
        c.err(
            format!("{key}.files"),
            "missing: at least one file in Prometheus file_sd format (JSON or YAML)",
        );
        return None;
    }
    let refresh_interval = c.duration(
        &format!("{key}.refresh_interval"),
        raw.refresh_interval.as_deref(),
        DEFAULT_REFRESH,
    );
    let mut sd = FileSd {
        files: raw
            .files
            .iter()
            .map(|f| base_dir.map_or_else(|| f.into(), |d| d.join(f)))
            .collect(),
        refresh_interval,
        allow: None,
        initial: Vec::new(),
    };
    match sd.read(port) {
        Ok(initial) => sd.initial = initial,
        Err(e) => {
            c.err(format!("{key}.files"), e);
            return None;
        }
    }
    Some(sd)
}

pub(super) fn dns_server(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
) -> Option<std::net::SocketAddr> {
    let v = t.dns_server.as_deref()?;
    match v.trim().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                format!("{key}.dns_server"),
                format!(
                    "invalid DNS server {v:?}: want ip:port, e.g. \"127.0.0.1:53\" or \"[::1]:53\""
                ),
            );
            None
        }
    }
}
