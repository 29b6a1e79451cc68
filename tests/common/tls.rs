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
