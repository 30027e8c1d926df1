//! ELBv2 and ACM, each told about the other through the store: listeners
//! may name only certificates that exist, and a certificate in use says
//! so (and is not deleted).

use std::sync::Arc;

use dockyard_store::Store;

/// ELBv2's [`dockyard_elbv2::CertificateCheck`] over ACM's records.
pub struct AcmCertificates(pub Arc<dyn Store>);

impl dockyard_elbv2::CertificateCheck for AcmCertificates {
    fn exists(&self, account: &str, certificate_arn: &str) -> bool {
        match dockyard_acm::load(self.0.as_ref(), certificate_arn) {
            Ok(Some(c)) => c.account == account,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "reading a certificate");
                false
            }
        }
    }
}

/// ACM's [`dockyard_acm::CertificateUsers`]: the listeners serving it.
pub struct ListenerUsers(pub Arc<dyn Store>);

impl dockyard_acm::CertificateUsers for ListenerUsers {
    fn users(&self, certificate_arn: &str) -> Vec<String> {
        dockyard_elbv2::listeners_using_certificate(self.0.as_ref(), certificate_arn)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the listeners using a certificate");
                Vec::new()
            })
    }
}
