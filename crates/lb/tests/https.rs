//! HTTPS listeners: TLS with the listener's certificates chosen by SNI
//! (the first one the default), ALPN h2 and http/1.1, `X-Forwarded-Proto:
//! https`, certificates swapped live, a bad certificate refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use dockyard_lb::{DataPlane, DataPlaneOptions, LbConfig, ListenerCertificate, ListenerConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

const TG: &str = "arn:tg/app";
const LISTENER: &str = "listener/https";

struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl Ca {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Dockyard test CA");
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: rcgen::Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    fn issue(&self, arn: &str, names: &[&str]) -> ListenerCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ListenerCertificate {
            arn: arn.into(),
            chain_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn client(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

fn https_config(backend: SocketAddr, certs: Vec<ListenerCertificate>) -> LbConfig {
    let group = fast_group(TG, &[backend]);
    LbConfig {
        listeners: vec![ListenerConfig::https(LISTENER, any_port(), TG, certs)],
        target_groups: BTreeMap::from([(TG.to_owned(), group)]),
    }
}

/// The names on the certificate the server presented for `sni`, and the
/// negotiated ALPN protocol. Verifies the chain against the CA for `sni`.
async fn handshake(
    ca: &Ca,
    lb: SocketAddr,
    sni: &str,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(lb).await.unwrap();
    ca.client(alpn)
        .connect(ServerName::try_from(sni.to_string()).unwrap(), tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"))
}

fn presented(tls: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<String> {
    let der = &tls.get_ref().1.peer_certificates().unwrap()[0];
    dockyard_lb::certificate_names(der).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listeners_pick_certificates_by_sni_and_speak_h1_and_h2() {
    let backend = Backend::start("b").await;
    let ca = Ca::new();
    let a = ca.issue("arn:cert/a", &["a.example.com"]);
    let b = ca.issue("arn:cert/b", &["*.b.example.com"]);
    let plane = DataPlane::new(DataPlaneOptions::default());
    let lb = apply(&plane, https_config(backend.addr, vec![a, b]), LISTENER).await;
    wait_healthy(&plane, TG, &[backend.addr]).await;

    // SNI picks the certificate; a name no certificate has gets the
    // default (the client then refuses it, as it should).
    let tls = handshake(&ca, lb, "a.example.com", &[b"http/1.1"]).await;
    assert_eq!(presented(&tls), ["a.example.com"]);
    let tls = handshake(&ca, lb, "x.b.example.com", &[b"http/1.1"]).await;
    assert_eq!(presented(&tls), ["*.b.example.com"]);
    let tcp = TcpStream::connect(lb).await.unwrap();
    let e = ca
        .client(&[])
        .connect(ServerName::try_from("other.example.org").unwrap(), tcp)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");

    // HTTP/1.1 over TLS: the target is told the client came over https.
    let tls = handshake(&ca, lb, "a.example.com", &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let reply = sender.send_request(get_req("/hello")).await.unwrap();
    assert_eq!(reply.status(), 200);
    let seen = backend.last_seen();
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(
        seen.headers["x-forwarded-port"],
        lb.port().to_string().as_str()
    );

    // h2 by ALPN.
    let tls = handshake(&ca, lb, "x.b.example.com", &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get("https://x.b.example.com/over-h2")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = sender.send_request(req).await.unwrap();
    assert_eq!(reply.status(), 200);
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "b");
    assert_eq!(backend.last_seen().uri.path(), "/over-h2");

    // A new default certificate applies to the next connection, without a
    // rebind.
    let c = ca.issue("arn:cert/c", &["c.example.com"]);
    let again = apply(&plane, https_config(backend.addr, vec![c]), LISTENER).await;
    assert_eq!(again, lb);
    let tls = handshake(&ca, lb, "c.example.com", &[]).await;
    assert_eq!(presented(&tls), ["c.example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_that_does_not_fit_its_key_is_refused() {
    let backend = Backend::start("b").await;
    let ca = Ca::new();
    let mut a = ca.issue("arn:cert/a", &["a.example.com"]);
    a.key_pem = ca.issue("arn:cert/x", &["x.example.com"]).key_pem;
    let plane = DataPlane::new(DataPlaneOptions::default());
    let report = plane.apply(https_config(backend.addr, vec![a])).await;
    let e = report.errors[LISTENER].to_string();
    assert!(
        e.contains("arn:cert/a") && e.contains("does not fit"),
        "{e}"
    );
    let report = plane.apply(https_config(backend.addr, vec![])).await;
    assert!(
        report.errors[LISTENER]
            .to_string()
            .contains("needs a certificate"),
        "{:?}",
        report.errors
    );
}
