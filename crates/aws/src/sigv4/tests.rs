//! Requests signed by AWS's own Rust signer (`aws-sigv4`) must verify;
//! each tampered part must fail with AWS's error for it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http::header::{AUTHORIZATION, HeaderValue};

use super::*;
use crate::identity::{Principal, Secret};
use crate::testing::{AKID, Signer, t0, to_server_form};

const SESSION_AKID: &str = "ASIAIOSFODNN7EXAMPLE";
const SESSION_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const SESSION_TOKEN: &str = "FQoGZXIvYXdzEXAMPLE+token/with==";

/// A key store with one long-term key and one session key that expires
/// an hour after `t0`.
fn keys() -> HashMap<String, Secret> {
    let mut m = HashMap::new();
    m.insert(
        AKID.to_string(),
        Secret {
            secret_access_key: crate::testing::SECRET.to_string(),
            session_token: None,
            expires: None,
            principal: Principal::root("000000000000"),
        },
    );
    m.insert(
        SESSION_AKID.to_string(),
        Secret {
            secret_access_key: SESSION_SECRET.to_string(),
            session_token: Some(SESSION_TOKEN.to_string()),
            expires: Some(t0() + Duration::hours(1)),
            principal: Principal::assumed_role("000000000000", "task-role", "abc"),
        },
    );
    m
}

fn json_request(body: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:4566/")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        )
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn get_request(path_and_query: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("GET")
        .uri(format!("http://127.0.0.1:4566{path_and_query}"))
        .body(Bytes::new())
        .unwrap()
}

fn check(req: &http::Request<Bytes>, now: DateTime<Utc>) -> Result<Verified, AuthError> {
    verify(
        RequestView::from(req),
        Payload::Bytes(req.body()),
        &keys(),
        now,
    )
}

fn kind_of(r: Result<Verified, AuthError>) -> AuthErrorKind {
    r.expect_err("verification should fail").kind()
}

fn set_header(req: &mut http::Request<Bytes>, name: &'static str, value: &str) {
    req.headers_mut()
        .insert(name, HeaderValue::from_str(value).unwrap());
}

fn auth_header(req: &http::Request<Bytes>) -> String {
    req.headers()[AUTHORIZATION].to_str().unwrap().to_string()
}

#[test]
fn header_signed_request_verifies() {
    let req = Signer::default().sign(json_request("{}"));
    let v = check(&req, t0()).unwrap();
    assert_eq!(v.access_key_id, AKID);
    assert_eq!(v.region, "us-east-1");
    assert_eq!(v.service, "ecs");
    assert_eq!(v.principal, Principal::root("000000000000"));
    assert!(!v.presigned);
    assert_eq!(v.signed_at, t0());
}

#[test]
fn tampered_body_is_refused() {
    let mut req = Signer::default().sign(json_request(r#"{"maxResults":1}"#));
    *req.body_mut() = Bytes::from_static(br#"{"maxResults":2}"#);
    let err = check(&req, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureMismatch);
    assert_eq!(err.message(), error::MSG_MISMATCH);
}

#[test]
fn tampered_signed_header_is_refused_but_unsigned_header_is_not() {
    let signed = Signer::default().sign(json_request("{}"));
    let mut req = signed.clone();
    set_header(
        &mut req,
        "x-amz-target",
        "AmazonEC2ContainerServiceV20141113.DeleteCluster",
    );
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    set_header(&mut req, "host", "evil.example:4566");
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed;
    set_header(&mut req, "user-agent", "added-after-signing");
    check(&req, t0()).unwrap();
}

#[test]
fn tampered_query_path_or_method_is_refused() {
    let signed = Signer::default().sign(get_request("/things/a%3Ab?b=2&a=x%20y"));
    check(&signed, t0()).unwrap();

    let mut req = signed.clone();
    *req.uri_mut() = "/things/a%3Ab?b=3&a=x%20y".parse().unwrap();
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    *req.uri_mut() = "/things/a%3Ab?b=2&a=x%20y&c=1".parse().unwrap();
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    *req.uri_mut() = "/things/a:b?b=2&a=x%20y".parse().unwrap();
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    *req.method_mut() = http::Method::DELETE;
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    // Reordering the query does not change its canonical form.
    let mut req = signed;
    *req.uri_mut() = "/things/a%3Ab?a=x%20y&b=2".parse().unwrap();
    check(&req, t0()).unwrap();
}

#[test]
fn paths_and_queries_encode_like_the_sdk() {
    for pq in [
        "/",
        "/v2/hello/manifests/latest",
        "/a/./b/../c//d/",
        "/arn%3Aaws%3Aecs%3Aus-east-1%3A000000000000%3Acluster%2Fdefault",
        "/%E1%88%B4/x",
        "/?list-type=2&prefix=a%2Fb&delimiter=%2F",
        "/?empty=&flag&t=%7Etilde&plus=a%2Bb&star=%2A&u=%C3%A9",
        "/?Action=DescribeLoadBalancers&Names.member.1=my%20lb&Version=2015-12-01",
    ] {
        let req = Signer::default().sign(get_request(pq));
        check(&req, t0()).unwrap_or_else(|e| panic!("{pq}: {e}"));
    }
}

#[test]
fn date_tampering_and_clock_skew() {
    let signed = Signer::default().sign(json_request("{}"));

    let mut req = signed.clone();
    set_header(&mut req, "x-amz-date", "20240517T103001Z");
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    set_header(&mut req, "x-amz-date", "20240518T103000Z");
    let err = check(&req, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureMismatch);
    assert!(
        err.message()
            .starts_with("Date in Credential scope does not match")
    );

    let mut req = signed.clone();
    set_header(&mut req, "x-amz-date", "2024-05-17T10:30:00Z");
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::IncompleteSignature
    );

    // Within 15 minutes either way is fine.
    check(&signed, t0() + Duration::minutes(15)).unwrap();
    check(&signed, t0() - Duration::minutes(15)).unwrap();

    let err = check(&signed, t0() + Duration::minutes(16)).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureExpired);
    assert_eq!(
        err.message(),
        "Signature expired: 20240517T103000Z is now earlier than 20240517T103100Z \
         (20240517T104600Z - 15 min.)"
    );
    let err = check(&signed, t0() - Duration::minutes(16)).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureExpired);
    assert_eq!(
        err.message(),
        "Signature not yet current: 20240517T103000Z is still later than 20240517T102900Z \
         (20240517T101400Z + 15 min.)"
    );
}

#[test]
fn unknown_key_wrong_secret_and_tampered_scope() {
    let req = Signer {
        akid: "AKIAUNKNOWNUNKNOWN00".into(),
        ..Signer::default()
    }
    .sign(json_request("{}"));
    let err = check(&req, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::InvalidClientToken);
    assert_eq!(
        err.message(),
        "The security token included in the request is invalid."
    );

    let req = Signer {
        secret: "not-the-secret-not-the-secret-not-the-se".into(),
        ..Signer::default()
    }
    .sign(json_request("{}"));
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let signed = Signer::default().sign(json_request("{}"));
    for (from, to) in [
        ("/us-east-1/", "/us-west-2/"),
        ("/ecs/", "/ecr/"),
        (AKID, "AKIAIOSFODNN7EXAMPLF"),
    ] {
        let mut req = signed.clone();
        let tampered = auth_header(&req).replace(from, to);
        set_header(&mut req, "authorization", &tampered);
        let kind = kind_of(check(&req, t0()));
        let want = if from == AKID {
            AuthErrorKind::InvalidClientToken
        } else {
            AuthErrorKind::SignatureMismatch
        };
        assert_eq!(kind, want, "{from} -> {to}");
    }

    // Another region verifies; whether it is served is the caller's call.
    let req = Signer {
        region: "eu-west-1".into(),
        ..Signer::default()
    }
    .sign(json_request("{}"));
    assert_eq!(check(&req, t0()).unwrap().region, "eu-west-1");
}

#[test]
fn missing_and_malformed_authorization() {
    let unsigned = to_server_form(json_request("{}"));
    let err = check(&unsigned, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::MissingToken);

    let signed = Signer::default().sign(json_request("{}"));
    let header = auth_header(&signed);

    let cases = [
        (
            header.split(", Signature=").next().unwrap().to_string(),
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            header.replace("/aws4_request", ""),
            "Credential must have exactly 5 slash-delimited elements",
        ),
        (
            header.replace("/aws4_request", "/aws5_request"),
            "Credential should be scoped with a valid terminator",
        ),
        (
            header.replace(
                "SignedHeaders=content-type;host;",
                "SignedHeaders=content-type;",
            ),
            "'Host' or ':authority' must be a 'SignedHeader'",
        ),
        (
            header.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            "Unsupported Authorization Type",
        ),
        ("Bearer abc".to_string(), "Unsupported Authorization Type"),
    ];
    for (value, message) in cases {
        let mut req = signed.clone();
        set_header(&mut req, "authorization", &value);
        let err = check(&req, t0()).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::IncompleteSignature, "{value}");
        assert!(
            err.message().contains(message),
            "{value}: {}",
            err.message()
        );
    }

    let mut req = signed.clone();
    req.headers_mut().remove("x-amz-date");
    let err = check(&req, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::IncompleteSignature);
    assert!(err.message().contains("'X-Amz-Date' or a 'Date' header"));

    // A signature that is not even hex is simply a mismatch.
    let mut req = signed;
    let bad = header.split("Signature=").next().unwrap().to_string() + "Signature=zz";
    set_header(&mut req, "authorization", &bad);
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);
}

#[test]
fn session_credentials() {
    let signer = Signer {
        akid: SESSION_AKID.into(),
        secret: SESSION_SECRET.into(),
        token: Some(SESSION_TOKEN.into()),
        ..Signer::default()
    };
    let signed = signer.sign(json_request("{}"));
    let v = check(&signed, t0()).unwrap();
    assert_eq!(
        v.principal.arn,
        "arn:aws:sts::000000000000:assumed-role/task-role/abc"
    );

    // Verifying later within the skew but past the expiry.
    let late = Signer {
        time: t0() + Duration::hours(1),
        ..signer.clone()
    }
    .sign(json_request("{}"));
    let err = check(&late, t0() + Duration::hours(1)).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::ExpiredToken);
    assert_eq!(
        err.message(),
        "The security token included in the request is expired"
    );

    let mut req = signed.clone();
    set_header(
        &mut req,
        "x-amz-security-token",
        "FQoGZXIvYXdzEXAMPLE+other",
    );
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::InvalidClientToken
    );

    let mut req = signed;
    req.headers_mut().remove("x-amz-security-token");
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::InvalidClientToken
    );

    // A long-term key used with a token is refused too.
    let req = Signer {
        token: Some("stray-token".into()),
        ..Signer::default()
    }
    .sign(json_request("{}"));
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::InvalidClientToken
    );
}

#[test]
fn content_sha256_header() {
    let mut signer = Signer::default();
    signer.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let signed = signer.sign(json_request(r#"{"a":1}"#));
    assert!(signed.headers().contains_key("x-amz-content-sha256"));
    check(&signed, t0()).unwrap();

    // With a precomputed body hash instead of the body.
    let hash = canonical::sha256_hex(br#"{"a":1}"#).to_ascii_uppercase();
    verify(
        RequestView::from(&signed),
        Payload::Sha256Hex(&hash),
        &keys(),
        t0(),
    )
    .unwrap();

    let mut req = signed.clone();
    *req.body_mut() = Bytes::from_static(br#"{"a":2}"#);
    let err = check(&req, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureMismatch);
    assert!(err.message().contains("x-amz-content-sha256"));

    let mut req = signed;
    set_header(
        &mut req,
        "x-amz-content-sha256",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    );
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::IncompleteSignature
    );

    // UNSIGNED-PAYLOAD leaves the body out of the signature on purpose.
    let mut signer = Signer {
        body: Some(SignableBody::UnsignedPayload),
        ..Signer::default()
    };
    signer.settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let mut req = signer.sign(json_request(r#"{"a":1}"#));
    assert_eq!(req.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    check(&req, t0()).unwrap();
    *req.body_mut() = Bytes::from_static(b"anything");
    check(&req, t0()).unwrap();
}

#[test]
fn precomputed_payload_without_header() {
    let req = Signer::default().sign(json_request(r#"{"x":true}"#));
    let hash = canonical::sha256_hex(br#"{"x":true}"#);
    verify(
        RequestView::from(&req),
        Payload::Sha256Hex(&hash),
        &keys(),
        t0(),
    )
    .unwrap();
    let other = canonical::sha256_hex(b"{}");
    let err = verify(
        RequestView::from(&req),
        Payload::Sha256Hex(&other),
        &keys(),
        t0(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::SignatureMismatch);
}

#[test]
fn presigned_urls() {
    let signed =
        Signer::presigned(300).sign(get_request("/v2/token?scope=repository%3Ahello%3Apull"));
    assert!(signed.uri().query().unwrap().contains("X-Amz-Signature="));
    assert!(!signed.headers().contains_key(AUTHORIZATION));
    let v = check(&signed, t0()).unwrap();
    assert!(v.presigned);

    // Valid for its whole window, not after.
    check(&signed, t0() + Duration::seconds(300)).unwrap();
    let err = check(&signed, t0() + Duration::seconds(301)).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RequestExpired);
    // Not usable long before it was made.
    assert_eq!(
        kind_of(check(&signed, t0() - Duration::minutes(16))),
        AuthErrorKind::SignatureExpired
    );

    let uri = signed.uri().to_string();
    for (from, to) in [
        ("hello", "other"),
        ("X-Amz-Expires=300", "X-Amz-Expires=600"),
        ("us-east-1", "us-east-2"),
    ] {
        let mut req = signed.clone();
        *req.uri_mut() = uri.replace(from, to).parse().unwrap();
        assert_eq!(
            kind_of(check(&req, t0())),
            AuthErrorKind::SignatureMismatch,
            "{from} -> {to}"
        );
    }
    let mut req = signed.clone();
    *req.uri_mut() = (uri.clone() + "&extra=1").parse().unwrap();
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    let mut req = signed.clone();
    *req.uri_mut() = uri.replace("X-Amz-Date=", "X-Amz-Nope=").parse().unwrap();
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::IncompleteSignature
    );

    // Both mechanisms at once is refused.
    let header_signed = Signer::default().sign(json_request("{}"));
    let mut req = signed;
    req.headers_mut().insert(
        AUTHORIZATION,
        header_signed.headers()[AUTHORIZATION].clone(),
    );
    assert_eq!(
        kind_of(check(&req, t0())),
        AuthErrorKind::IncompleteSignature
    );
}

#[test]
fn presigned_limits_and_modes() {
    let week = Signer::presigned(604_800).sign(get_request("/"));
    check(&week, t0() + Duration::days(7)).unwrap();
    let too_long = Signer::presigned(604_801).sign(get_request("/"));
    let err = check(&too_long, t0()).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::IncompleteSignature);
    assert!(err.message().contains("604800"));

    // S3-style presigners sign UNSIGNED-PAYLOAD.
    let mut signer = Signer::presigned(60);
    signer.body = Some(SignableBody::UnsignedPayload);
    let req = signer.sign(get_request("/?a=b"));
    check(&req, t0()).unwrap();

    // A POST with a body presigned over the body's hash.
    let mut req = Signer::presigned(60).sign(
        http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4566/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Bytes::from_static(
                b"Action=GetCallerIdentity&Version=2011-06-15",
            ))
            .unwrap(),
    );
    check(&req, t0()).unwrap();
    *req.body_mut() = Bytes::from_static(b"Action=GetCallerIdentity&Version=2011-06-16");
    assert_eq!(kind_of(check(&req, t0())), AuthErrorKind::SignatureMismatch);

    // Presigned with a session token in the query string.
    let mut signer = Signer::presigned(60);
    signer.akid = SESSION_AKID.into();
    signer.secret = SESSION_SECRET.into();
    signer.token = Some(SESSION_TOKEN.into());
    let req = signer.sign(get_request("/"));
    assert!(req.uri().query().unwrap().contains("X-Amz-Security-Token="));
    let v = check(&req, t0()).unwrap();
    assert_eq!(v.access_key_id, SESSION_AKID);
}

#[test]
fn parse_accepts_a_date_header() {
    let req = http::Request::builder()
        .uri("/")
        .header("host", "h")
        .header("date", "Fri, 17 May 2024 10:30:00 GMT")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240517/us-east-1/ecs/aws4_request, \
             SignedHeaders=date;host, Signature=ABCDEF",
        )
        .body(())
        .unwrap();
    let input = parse::parse(&RequestView::from(&req)).unwrap();
    assert_eq!(input.amz_date, "20240517T103000Z");
    assert_eq!(input.date, t0());
    assert_eq!(input.signature, "abcdef");
    assert_eq!(input.signed_headers, vec!["date", "host"]);
    assert_eq!(input.scope(), "20240517/us-east-1/ecs/aws4_request");
    assert_eq!(input.presign_expires, None);
}
