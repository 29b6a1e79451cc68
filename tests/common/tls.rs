//! TLS for test servers: a fresh self-signed certificate for `localhost`, per server.

use std::sync::Arc;

/// When the certificates of `self_signed` expire: 2031-06-01T00:00:00Z, in Unix seconds.
pub const NOT_AFTER: f64 = 1_938_038_400.0;

/// An acceptor with a new self-signed certificate for `localhost` valid until `NOT_AFTER`,
/// offering `alpn`.
pub fn self_signed(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("a valid name");
    params.not_after = rcgen::date_time_ymd(2031, 6, 1);
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a certificate");
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("the key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("a matching certificate and key");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A private CA and a server certificate it signed, as PEM files for servers that read them
/// (redis-server, PostgreSQL) and for a target's `ca_file`.
pub struct CaFiles {
    /// The CA's certificate: what a target's `ca_file` names.
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Writes into `dir` a new CA (`ca.pem`) and a certificate it signed for `names` (DNS names
/// or IP addresses) with its key (`server.pem`, `server.key`, mode 0600).
pub fn ca_files(dir: &std::path::Path, names: &[&str]) -> CaFiles {
    use std::os::unix::fs::PermissionsExt;

    let ca_key = rcgen::KeyPair::generate().expect("a key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("no names");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "loadtide test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("the CA");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("a key");
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("valid names");
    let cert = params
        .signed_by(&key, &issuer)
        .expect("a signed certificate");
    let files = CaFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem()).expect("write ca.pem");
    std::fs::write(&files.cert, cert.pem()).expect("write server.pem");
    std::fs::write(&files.key, key.serialize_pem()).expect("write server.key");
    std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))
        .expect("chmod server.key");
    files
}

/// An acceptor serving `files`' certificate and key, offering `alpn`.
pub fn acceptor(files: &CaFiles, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let cert = CertificateDer::from_pem_file(&files.cert).expect("server.pem");
    let key = PrivateKeyDer::from_pem_file(&files.key).expect("server.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a matching certificate and key");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}
