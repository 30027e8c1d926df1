use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use dockyard_aws::{ApiError, CallContext, JsonService, Principal};
use dockyard_store::MemStore;
use serde_json::{Value, json};

use crate::{AcmService, CertificateUsers};

fn ctx(account: &str) -> CallContext {
    CallContext {
        principal: Principal::root(account),
        access_key_id: "AKIAEXAMPLE".into(),
        account: account.into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now: Utc.timestamp_opt(1_780_000_000, 0).unwrap(),
    }
}

/// A certificate for `names` signed by a fresh CA: (cert PEM, key PEM,
/// CA PEM).
fn issued(names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Dockyard test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem(), ca_cert.pem())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[derive(Default)]
struct Users(Mutex<Vec<(String, String)>>);

impl CertificateUsers for Users {
    fn users(&self, arn: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == arn)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

fn service() -> (AcmService, Arc<Users>) {
    let users = Arc::new(Users::default());
    let svc = AcmService::new(Arc::new(MemStore::new())).with_users(users.clone());
    (svc, users)
}

fn call(svc: &AcmService, account: &str, op: &str, input: Value) -> Result<Value, ApiError> {
    svc.call(&ctx(account), op, input)
}

#[test]
fn an_imported_certificate_is_described_listed_got_tagged_and_deleted() {
    let (svc, users) = service();
    let op = |name: &str, input: Value| call(&svc, "111111111111", name, input);
    let (cert, key, ca) = issued(&["www.example.com", "*.api.example.com"]);
    let arn = op(
        "ImportCertificate",
        json!({
            "Certificate": b64(&cert), "PrivateKey": b64(&key), "CertificateChain": b64(&ca),
            "Tags": [{"Key": "team", "Value": "web"}],
        }),
    )
    .unwrap()["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:acm:us-east-1:111111111111:certificate/"),
        "{arn}"
    );

    let d = op("DescribeCertificate", json!({"CertificateArn": arn})).unwrap();
    let c = &d["Certificate"];
    assert_eq!(c["DomainName"], "www.example.com");
    assert_eq!(
        c["SubjectAlternativeNames"],
        json!(["www.example.com", "*.api.example.com"])
    );
    assert_eq!(c["Type"], "IMPORTED");
    assert_eq!(c["Status"], "ISSUED");
    assert_eq!(c["KeyAlgorithm"], "EC_prime256v1");
    assert_eq!(c["SignatureAlgorithm"], "SHA256WITHECDSA");
    assert!(c["Issuer"].as_str().unwrap().contains("Dockyard test CA"));
    assert!(c["NotAfter"].as_i64().unwrap() > c["NotBefore"].as_i64().unwrap());
    assert_eq!(c["InUseBy"], json!([]));

    let got = op("GetCertificate", json!({"CertificateArn": arn})).unwrap();
    assert_eq!(got["Certificate"], cert);
    assert_eq!(got["CertificateChain"], ca);

    let listed = op("ListCertificates", json!({})).unwrap();
    assert_eq!(listed["CertificateSummaryList"][0]["CertificateArn"], arn);
    // Another account sees nothing of it.
    let other = call(&svc, "222222222222", "ListCertificates", json!({})).unwrap();
    assert_eq!(other["CertificateSummaryList"], json!([]));
    let e = call(
        &svc,
        "222222222222",
        "DescribeCertificate",
        json!({"CertificateArn": arn}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");

    op(
        "AddTagsToCertificate",
        json!({"CertificateArn": arn, "Tags": [{"Key": "env", "Value": "prod"}]}),
    )
    .unwrap();
    let tags = op("ListTagsForCertificate", json!({"CertificateArn": arn})).unwrap();
    assert_eq!(
        tags["Tags"],
        json!([{"Key": "team", "Value": "web"}, {"Key": "env", "Value": "prod"}])
    );
    op(
        "RemoveTagsFromCertificate",
        json!({"CertificateArn": arn, "Tags": [{"Key": "team"}]}),
    )
    .unwrap();
    let tags = op("ListTagsForCertificate", json!({"CertificateArn": arn})).unwrap();
    assert_eq!(tags["Tags"], json!([{"Key": "env", "Value": "prod"}]));

    // In use: not deleted, and says by whom.
    users
        .0
        .lock()
        .unwrap()
        .push((arn.clone(), "arn:listener/x".into()));
    let d = op("DescribeCertificate", json!({"CertificateArn": arn})).unwrap();
    assert_eq!(d["Certificate"]["InUseBy"], json!(["arn:listener/x"]));
    let e = op("DeleteCertificate", json!({"CertificateArn": arn})).unwrap_err();
    assert_eq!(e.code, "ResourceInUseException");
    users.0.lock().unwrap().clear();
    op("DeleteCertificate", json!({"CertificateArn": arn})).unwrap();
    let e = op("GetCertificate", json!({"CertificateArn": arn})).unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
}

#[test]
fn reimport_keeps_the_arn_and_replaces_the_contents() {
    let (svc, _) = service();
    let (cert, key, _) = issued(&["a.example.com"]);
    let arn = call(
        &svc,
        "1",
        "ImportCertificate",
        json!({"Certificate": b64(&cert), "PrivateKey": b64(&key)}),
    )
    .unwrap()["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
    let (cert2, key2, _) = issued(&["b.example.com"]);
    let again = call(
        &svc,
        "1",
        "ImportCertificate",
        json!({"CertificateArn": arn, "Certificate": b64(&cert2), "PrivateKey": b64(&key2)}),
    )
    .unwrap();
    assert_eq!(again["CertificateArn"], arn);
    let d = call(
        &svc,
        "1",
        "DescribeCertificate",
        json!({"CertificateArn": arn}),
    )
    .unwrap();
    assert_eq!(d["Certificate"]["DomainName"], "b.example.com");
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let (svc, _) = service();
    let (cert, key, _) = issued(&["a.example.com"]);
    let (_, other_key, _) = issued(&["b.example.com"]);
    let cases = [
        (
            json!({"PrivateKey": b64(&key)}),
            "ValidationException",
            "certificate",
        ),
        (
            json!({"Certificate": b64(&cert)}),
            "ValidationException",
            "privateKey",
        ),
        (
            json!({"Certificate": "%%%", "PrivateKey": b64(&key)}),
            "ValidationException",
            "base64",
        ),
        (
            json!({"Certificate": b64("hello"), "PrivateKey": b64(&key)}),
            "ValidationException",
            "exactly one certificate",
        ),
        (
            json!({"Certificate": b64(&format!("{cert}{cert}")), "PrivateKey": b64(&key)}),
            "ValidationException",
            "exactly one certificate",
        ),
        (
            json!({"Certificate": b64(&cert), "PrivateKey": b64(&other_key)}),
            "ValidationException",
            "does not fit",
        ),
        (
            json!({"Certificate": b64(&cert), "PrivateKey": b64(&key), "Tags": [{"Key": "aws:x", "Value": "y"}]}),
            "InvalidTagException",
            "aws:",
        ),
    ];
    for (input, code, words) in cases {
        let e = call(&svc, "1", "ImportCertificate", input.clone()).unwrap_err();
        assert_eq!(e.code, code, "{input}: {}", e.message);
        assert!(e.message.contains(words), "{input}: {}", e.message);
    }
    let listed = call(&svc, "1", "ListCertificates", json!({})).unwrap();
    assert_eq!(listed["CertificateSummaryList"], json!([]));
    let e = call(
        &svc,
        "1",
        "DescribeCertificate",
        json!({"CertificateArn": "nope"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "InvalidArnException");
    let e = call(
        &svc,
        "1",
        "RequestCertificate",
        json!({"DomainName": "x.com"}),
    )
    .unwrap_err();
    assert_eq!(e.code, "ValidationException");
}

#[test]
fn listing_pages() {
    let (svc, _) = service();
    for i in 0..5 {
        let (cert, key, _) = issued(&[&format!("h{i}.example.com")]);
        call(
            &svc,
            "1",
            "ImportCertificate",
            json!({"Certificate": b64(&cert), "PrivateKey": b64(&key)}),
        )
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"MaxItems": 2});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let page = call(&svc, "1", "ListCertificates", input).unwrap();
        for c in page["CertificateSummaryList"].as_array().unwrap() {
            seen.push(c["CertificateArn"].as_str().unwrap().to_string());
        }
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.into()),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
}
