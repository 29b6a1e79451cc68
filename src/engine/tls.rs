//! TLS client settings: what a target accepts as its server's certificate — the Mozilla root
//! set (webpki-roots) by default, the roots of its `ca_file` instead, or, with `insecure`
//! (or a postgres URL's `sslmode=require`), any certificate — and the ALPN it offers.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use crate::config::{SslMode, Target};

/// What a connection accepts as the server's certificate.
enum Trust<'a> {
    Any,
    /// A chain to `ca` (the Mozilla set when empty), naming the host unless `!check_name`.
    Roots {
        ca: &'a [CertificateDer<'static>],
        check_name: bool,
    },
}

/// The health probe's settings: the Mozilla roots, or any certificate with `insecure`.
pub fn client_config(insecure: bool, http2: bool) -> Arc<ClientConfig> {
    let trust = if insecure {
        Trust::Any
    } else {
        Trust::Roots {
            ca: &[],
            check_name: true,
        }
    };
    build(trust, if http2 { b"h2" } else { b"http/1.1" })
}

/// `target`'s settings, offering `alpn` (none when empty).
pub fn target_config(target: &Target, alpn: &[u8]) -> Arc<ClientConfig> {
    let sslmode = target.login.as_ref().map(|l| l.sslmode);
    let trust = if target.insecure || sslmode == Some(SslMode::Require) {
        Trust::Any
    } else {
        Trust::Roots {
            ca: &target.ca_certs,
            check_name: sslmode != Some(SslMode::VerifyCa),
        }
    };
    build(trust, alpn)
}

/// A connector for `target` and the name its certificate must carry (the URL's host).
pub fn connector(target: &Target, alpn: &[u8]) -> (TlsConnector, ServerName<'static>) {
    let name = ServerName::try_from(target.host.clone())
        .unwrap_or_else(|_| ServerName::try_from("invalid.invalid").expect("static name"));
    (TlsConnector::from(target_config(target, alpn)), name)
}

fn build(trust: Trust<'_>, alpn: &[u8]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut config = match trust {
        Trust::Roots {
            ca,
            check_name: true,
        } => builder
            .with_root_certificates(roots(ca))
            .with_no_client_auth(),
        Trust::Roots {
            ca,
            check_name: false,
        } => {
            let chain =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca)), provider.clone())
                    .build();
            match chain {
                Ok(chain) => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Lenient {
                        chain: Some(chain),
                        provider,
                    }))
                    .with_no_client_auth(),
                // No usable root: nothing can verify, which the handshake then says.
                Err(_) => builder
                    .with_root_certificates(RootCertStore::empty())
                    .with_no_client_auth(),
            }
        }
        Trust::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Lenient {
                chain: None,
                provider,
            }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = if alpn.is_empty() {
        Vec::new()
    } else {
        vec![alpn.to_vec()]
    };
    Arc::new(config)
}

/// `ca`'s certificates as roots, or the Mozilla set when there are none.
fn roots(ca: &[CertificateDer<'static>]) -> RootCertStore {
    if ca.is_empty() {
        return RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
    }
    let mut roots = RootCertStore::empty();
    // Parsed at load time already (`config::validate::tls`).
    roots.add_parsable_certificates(ca.iter().cloned());
    roots
}

/// When the earliest-expiring of `chain` expires (Unix seconds): what a target's
/// certificate-expiry gauge shows. None without certificates or when none parses.
pub fn earliest_expiry(chain: Option<&[CertificateDer<'_>]>) -> Option<f64> {
    chain?
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp() as f64)
        .reduce(f64::min)
}

/// Checks the handshake signatures, so the connection is encrypted, and the certificate as
/// far as asked: not at all without `chain` (`insecure`, `sslmode=require`), else its chain
/// but not its name (`sslmode=verify-ca`).
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
