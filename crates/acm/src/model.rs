//! Imported certificates as the store keeps them, and what is read from
//! a certificate's PEM text.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Where certificates live in the state store: `acm/certs/ID`.
pub const PREFIX: &str = "acm/certs/";

pub(crate) fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    pub id: String,
    pub arn: String,
    pub account: String,
    pub certificate_pem: String,
    /// The intermediate certificates, PEM; may be empty.
    pub chain_pem: String,
    /// The private key, PEM. The store file is readable by root only.
    pub key_pem: String,
    pub details: Parsed,
    pub imported_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub tags: Vec<(String, String)>,
}

impl CertificateRecord {
    /// The certificate followed by its chain, as a TLS server sends it.
    pub fn full_chain_pem(&self) -> String {
        let mut s = self.certificate_pem.trim_end().to_string();
        s.push('\n');
        if !self.chain_pem.trim().is_empty() {
            s.push_str(self.chain_pem.trim_end());
            s.push('\n');
        }
        s
    }

    /// ACM's status: ISSUED until the certificate expires.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if now > self.details.not_after {
            "EXPIRED"
        } else {
            "ISSUED"
        }
    }
}

/// What DescribeCertificate reports, read from the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parsed {
    pub domain: String,
    pub sans: Vec<String>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// ACM's names: RSA_2048, EC_prime256v1...
    pub key_algorithm: String,
    /// ACM's names: SHA256WITHRSA, SHA256WITHECDSA...
    pub signature_algorithm: String,
}

/// Checks a certificate, its key and chain as ImportCertificate does, and
/// reads the certificate's details. The error is the message of a
/// ValidationException.
pub(crate) fn parse(cert_pem: &str, key_pem: &str, chain_pem: &str) -> Result<Parsed, String> {
    let count = cert_pem.matches("-----BEGIN CERTIFICATE-----").count();
    if count != 1 {
        return Err(format!(
            "The certificate field must contain exactly one certificate in PEM format; it \
             contains {count}"
        ));
    }
    let full = format!("{}\n{}", cert_pem.trim_end(), chain_pem.trim());
    // What a listener will serve: the same parsing and the same key check.
    let key = dockyard_lb::certified_key(&full, key_pem)
        .map_err(|e| format!("The certificate, chain or private key could not be used: {e}"))?;
    let der = key.end_entity_cert().map_err(|e| e.to_string())?;
    let names = dockyard_lb::certificate_names(der)?;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("The certificate does not parse: {e}"))?;
    let validity = cert.validity();
    let time = |t: x509_parser::time::ASN1Time| {
        Utc.timestamp_opt(t.timestamp(), 0)
            .single()
            .ok_or_else(|| "The certificate's validity is out of range".to_string())
    };
    let cn = cert
        .subject()
        .iter_common_name()
        .find_map(|c| c.as_str().ok())
        .map(str::to_string);
    let domain = cn
        .clone()
        .or_else(|| names.first().cloned())
        .ok_or("The certificate names no domain (no common name, no DNS names)")?;
    let mut sans = names;
    if !sans.contains(&domain) {
        sans.insert(0, domain.clone());
    }
    Ok(Parsed {
        domain,
        sans,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        not_before: time(validity.not_before)?,
        not_after: time(validity.not_after)?,
        key_algorithm: key_algorithm(&cert),
        signature_algorithm: signature_algorithm(&cert),
    })
}

fn key_algorithm(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    use x509_parser::public_key::PublicKey;
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA_{}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "EC_prime256v1".into(),
                Some("1.3.132.0.34") => "EC_secp384r1".into(),
                Some("1.3.132.0.35") => "EC_secp521r1".into(),
                _ => "EC".into(),
            }
        }
        _ => "UNKNOWN".into(),
    }
}

fn signature_algorithm(cert: &x509_parser::certificate::X509Certificate<'_>) -> String {
    match cert.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.11" => "SHA256WITHRSA",
        "1.2.840.113549.1.1.12" => "SHA384WITHRSA",
        "1.2.840.113549.1.1.13" => "SHA512WITHRSA",
        "1.2.840.10045.4.3.2" => "SHA256WITHECDSA",
        "1.2.840.10045.4.3.3" => "SHA384WITHECDSA",
        "1.2.840.10045.4.3.4" => "SHA512WITHECDSA",
        _ => "UNKNOWN",
    }
    .into()
}
