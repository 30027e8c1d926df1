//! TLS for HTTPS listeners: rustls (ring) with the listener's
//! certificates, chosen by SNI (exact names and `*.` wildcards from each
//! certificate's subject alternative names and common name), the first
//! one being the default as ELB's default certificate is. ALPN offers h2
//! and http/1.1.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::ListenerCertificate;

/// A listener's certificates, ready to serve.
#[derive(Debug)]
struct SniResolver {
    /// (names, key); the first is the default.
    certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello.server_name().and_then(|sni| {
            self.certs
                .iter()
                .find(|(names, _)| names.iter().any(|n| name_matches(n, sni)))
        });
        by_name
            .or_else(|| self.certs.first())
            .map(|(_, key)| key.clone())
    }
}

/// `pattern` (a certificate name, maybe `*.example.com`) against a
/// requested host name, case-insensitively; a wildcard covers one label.
pub(crate) fn name_matches(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// The DNS names a certificate is for: its subject alternative names, or
/// its common name when it has none.
pub fn certificate_names(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the certificate does not parse: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push((*d).to_string());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_string),
        );
    }
    Ok(names)
}

/// A certificate chain and its key from PEM, checked to belong together.
pub fn certified_key(chain_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("no certificate in the PEM text".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("the private key is not valid PEM: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("the private key does not fit the certificate: {e}"))
}

/// The server configuration of an HTTPS listener.
pub(crate) fn server_config(certs: &[ListenerCertificate]) -> Result<Arc<ServerConfig>, String> {
    if certs.is_empty() {
        return Err("an HTTPS listener needs a certificate".into());
    }
    let mut resolved = Vec::with_capacity(certs.len());
    for c in certs {
        let key = certified_key(&c.chain_pem, &c.key_pem).map_err(|e| format!("{}: {e}", c.arn))?;
        let names = certificate_names(key.end_entity_cert().map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", c.arn))?;
        resolved.push((names, Arc::new(key)));
    }
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver { certs: resolved }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("*.example.com", "www.example.com"));
        assert!(name_matches("*.Example.com", "API.example.COM"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(!name_matches("example.com", "www.example.com"));
    }
}
