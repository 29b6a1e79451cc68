//! A target's TLS trust: `ca_file` (a PEM bundle of the roots the server's certificate must
//! chain to) and `insecure`, checked against whether the target verifies certificates at all.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::super::checks::Collector;
use super::super::raw::RawTarget;
use super::super::{Scheme, SslMode};

/// The certificates of `ca_file`, read relative to `base_dir`; empty without it. Errors for
/// it on a target that checks no certificate, and for `insecure` beside it.
pub(super) fn ca(
    c: &mut Collector,
    key: &str,
    t: &RawTarget,
    scheme: Scheme,
    sslmode: Option<SslMode>,
    base_dir: Option<&Path>,
) -> Vec<CertificateDer<'static>> {
    if scheme == Scheme::Postgres && t.insecure.is_some() {
        c.err(
            format!("{key}.insecure"),
            "not for postgres:// targets: the URL's sslmode says how the certificate is checked \
             (?sslmode=require encrypts without checking it)",
        );
    }
    let Some(file) = &t.ca_file else {
        return Vec::new();
    };
    let k = format!("{key}.ca_file");
    let verifies = match sslmode {
        Some(mode) => matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull),
        None => scheme.is_tls(),
    };
    if !verifies {
        let why = match sslmode {
            Some(SslMode::Require) => {
                "sslmode=require does not check the server's certificate; use \
                 ?sslmode=verify-ca or ?sslmode=verify-full"
            }
            Some(_) => "this postgres:// URL has no TLS; add ?sslmode=verify-full",
            None => {
                "only for TLS targets (https, wss, grpcs, rediss, postgres with sslmode=verify-*)"
            }
        };
        c.err(k, why);
        return Vec::new();
    }
    if t.insecure == Some(true) {
        c.err(
            k,
            "conflicts with insecure = true, which accepts any certificate",
        );
        return Vec::new();
    }
    let path = base_dir.map_or_else(|| Path::new(file).to_path_buf(), |d| d.join(file));
    let certs: Result<Vec<_>, _> = match CertificateDer::pem_file_iter(&path) {
        Ok(iter) => iter.collect(),
        Err(e) => {
            c.err(
                k,
                format!("cannot read {}: {}", path.display(), pem_error(&e)),
            );
            return Vec::new();
        }
    };
    match certs {
        Ok(certs) if !certs.is_empty() => certs,
        Ok(_) => {
            c.err(
                k,
                format!(
                    "{}: no certificate in it (a PEM file of \"-----BEGIN CERTIFICATE-----\" blocks)",
                    path.display()
                ),
            );
            Vec::new()
        }
        Err(e) => {
            c.err(k, format!("{}: {}", path.display(), pem_error(&e)));
            Vec::new()
        }
    }
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("not a PEM file ({other:?})"),
    }
}
