//! The front door driven with requests signed by AWS's own signer, for
//! both protocols and every error path.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Duration;
use serde_json::json;

use super::*;
use crate::identity::Secret;
use crate::keys::KeyStore;
use crate::testing::{AKID, SECRET, Signer, t0, to_server_form};

const TOY_PREFIX: &str = "ToyService_20240101";
const TOYQ_NS: &str = "http://toyq.amazonaws.com/doc/2015-12-01/";
const SESSION_AKID: &str = "ASIATOYTOYTOYTOYTOY1";
const SESSION_SECRET: &str = "sessionsecretsessionsecretsessionsecret1";
const SESSION_TOKEN: &str = "c2Vzc2lvbi10b2tlbg==";

struct Toy;

impl JsonService for Toy {
    fn target_prefix(&self) -> &str {
        TOY_PREFIX
    }
    fn signing_name(&self) -> &str {
        "toy"
    }
    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError> {
        match operation {
            "Echo" => Ok(json!({
                "input": input,
                "principal": ctx.principal.arn,
                "accessKeyId": ctx.access_key_id,
                "account": ctx.account,
                "region": ctx.region,
                "requestId": ctx.request_id,
                "now": ctx.now.to_rfc3339(),
            })),
            "Fail" => Err(ApiError::client(
                "ThingNotFoundException",
                format!("thing {} not found", input["name"].as_str().unwrap_or("?")),
            )),
            "Panic" => panic!("toy panic"),
            other => Err(ApiError::unknown_operation(other)),
        }
    }
}

/// A second JSON service, to check that credential scopes are enforced.
struct Other;

impl JsonService for Other {
    fn target_prefix(&self) -> &str {
        "OtherService"
    }
    fn signing_name(&self) -> &str {
        "other"
    }
    fn call(&self, _: &CallContext, _: &str, _: Value) -> Result<Value, ApiError> {
        Ok(json!({}))
    }
}

struct ToyQuery;

impl QueryService for ToyQuery {
    fn signing_name(&self) -> &str {
        "toyq"
    }
    fn version(&self) -> &str {
        "2015-12-01"
    }
    fn xmlns(&self) -> &str {
        TOYQ_NS
    }
    fn call(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ApiError> {
        match action {
            "Describe" => {
                out.members("Names", params.members("Names"), |w, n| {
                    w.element("Name", n);
                });
                out.element("Caller", &ctx.principal.arn);
                Ok(())
            }
            "Fail" => Err(ApiError::client(
                "LoadBalancerNotFound",
                "One or more load balancers not found",
            )),
            "Panic" => panic!("toy query panic"),
            other => Err(ApiError::invalid_action(other, self.version())),
        }
    }
}

fn creds() -> HashMap<String, Secret> {
    let mut m = HashMap::new();
    m.insert(
        AKID.to_string(),
        Secret {
            secret_access_key: SECRET.to_string(),
            session_token: None,
            expires: None,
            principal: Principal::user("123456789012", "alice"),
        },
    );
    m.insert(
        SESSION_AKID.to_string(),
        Secret {
            secret_access_key: SESSION_SECRET.to_string(),
            session_token: Some(SESSION_TOKEN.to_string()),
            expires: Some(t0() + Duration::minutes(30)),
            principal: Principal::assumed_role("000000000000", "role", "s"),
        },
    );
    m
}

fn door() -> FrontDoor {
    FrontDoor::new(Arc::new(creds()), "us-east-1")
        .with_json_service(Arc::new(Toy))
        .with_json_service(Arc::new(Other))
        .with_query_service(Arc::new(ToyQuery))
}

fn json_req(target: &str, body: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:4566/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn form_req(body: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:4566/")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

fn toy() -> Signer {
    Signer::new(AKID, SECRET, "toy")
}

fn toyq() -> Signer {
    Signer::new(AKID, SECRET, "toyq")
}

fn send(door: &FrontDoor, req: &http::Request<Bytes>) -> Response {
    door.handle(RequestView::from(req), req.body(), t0())
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[track_caller]
fn assert_json_error(r: &Response, status: u16, code: &str, message: &str) {
    let v = json_of(r);
    assert_eq!(r.status, status, "{v}");
    assert_eq!(v["__type"], code, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains(message),
        "{v} lacks {message:?}"
    );
    assert_eq!(r.headers[json::ERROR_TYPE_HEADER], code);
    assert!(r.request_id().is_some());
}

#[track_caller]
fn assert_xml_error(r: &Response, status: u16, fault: &str, code: &str, message: &str) {
    let body = std::str::from_utf8(&r.body).unwrap();
    assert_eq!(r.status, status, "{body}");
    assert_eq!(r.content_type(), Some("text/xml"));
    assert!(body.starts_with("<ErrorResponse"), "{body}");
    assert!(body.contains(&format!("<Type>{fault}</Type>")), "{body}");
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    assert!(body.contains(message), "{body} lacks {message:?}");
    let rid = r.request_id().unwrap();
    assert!(
        body.contains(&format!("<RequestId>{rid}</RequestId>")),
        "{body}"
    );
}

#[test]
fn json_call_succeeds_with_context() {
    let door = door();
    let req = toy().sign(json_req(&format!("{TOY_PREFIX}.Echo"), r#"{"a":[1,2]}"#));
    let r = send(&door, &req);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.content_type(), Some("application/x-amz-json-1.1"));
    let v = json_of(&r);
    assert_eq!(v["input"], json!({"a": [1, 2]}));
    assert_eq!(v["principal"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(v["account"], "123456789012");
    assert_eq!(v["accessKeyId"], AKID);
    assert_eq!(v["region"], "us-east-1");
    assert_eq!(v["requestId"], r.request_id().unwrap());
    assert_eq!(v["now"], t0().to_rfc3339());

    // Every request gets its own id.
    let again = send(&door, &req);
    assert_ne!(again.request_id(), r.request_id());

    // JSON 1.0 requests get 1.0 replies; an empty body means `{}`.
    let mut req = json_req(&format!("{TOY_PREFIX}.Echo"), "");
    req.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    let r = send(&door, &toy().sign(req));
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type(), Some("application/x-amz-json-1.0"));
    assert_eq!(json_of(&r)["input"], json!({}));
}

#[test]
fn json_authentication_errors() {
    let door = door();
    let target = format!("{TOY_PREFIX}.Echo");

    let r = send(&door, &to_server_form(json_req(&target, "{}")));
    assert_json_error(
        &r,
        400,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );

    let mut req = toy().sign(json_req(&target, r#"{"a":1}"#));
    *req.body_mut() = Bytes::from_static(br#"{"a":2}"#);
    assert_json_error(
        &send(&door, &req),
        400,
        "InvalidSignatureException",
        "The request signature we calculated does not match",
    );

    let mut signer = toy();
    signer.akid = "AKIANOBODYNOBODYNOBO".into();
    assert_json_error(
        &send(&door, &signer.sign(json_req(&target, "{}"))),
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );

    let req = toy().sign(json_req(&target, "{}"));
    let r = door.handle(
        RequestView::from(&req),
        req.body(),
        t0() + Duration::minutes(20),
    );
    assert_json_error(&r, 400, "InvalidSignatureException", "Signature expired: ");

    let mut req = toy().sign(json_req(&target, "{}"));
    req.headers_mut().insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
    );
    assert_json_error(
        &send(&door, &req),
        400,
        "IncompleteSignatureException",
        "requires 'Signature' parameter",
    );

    let mut signer = toy();
    signer.akid = SESSION_AKID.into();
    signer.secret = SESSION_SECRET.into();
    signer.token = Some(SESSION_TOKEN.into());
    signer.time = t0() + Duration::minutes(20);
    let req = signer.sign(json_req(&target, "{}"));
    let r = door.handle(
        RequestView::from(&req),
        req.body(),
        t0() + Duration::minutes(20),
    );
    assert_eq!(r.status, 200);
    let r = door.handle(
        RequestView::from(&req),
        req.body(),
        t0() + Duration::minutes(30),
    );
    assert_json_error(
        &r,
        400,
        "ExpiredTokenException",
        "The security token included in the request is expired",
    );
}

#[test]
fn json_scope_must_match_region_and_service() {
    let door = door();
    let target = format!("{TOY_PREFIX}.Echo");

    let mut signer = toy();
    signer.region = "us-west-2".into();
    assert_json_error(
        &send(&door, &signer.sign(json_req(&target, "{}"))),
        400,
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'us-west-2'.",
    );

    // Signed correctly, but for another service than the target's.
    let req = Signer::new(AKID, SECRET, "other").sign(json_req(&target, "{}"));
    assert_json_error(
        &send(&door, &req),
        400,
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'toy'.",
    );
    let req = Signer::new(AKID, SECRET, "other").sign(json_req("OtherService.Anything", "{}"));
    assert_eq!(send(&door, &req).status, 200);
}

#[test]
fn json_routing_and_decoding_errors() {
    let door = door();

    let r = send(&door, &toy().sign(json_req("NoSuchService_2020.Op", "{}")));
    assert_json_error(&r, 400, "UnknownOperationException", "NoSuchService_2020");

    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Nope"), "{}")),
    );
    assert_json_error(&r, 400, "UnknownOperationException", "Nope");

    // Signed, but with no target at all.
    let mut req = json_req("x.y", "{}");
    req.headers_mut().remove("x-amz-target");
    let r = send(&door, &toy().sign(req));
    assert_json_error(&r, 400, "UnknownOperationException", "X-Amz-Target");

    let mut req = json_req(&format!("{TOY_PREFIX}.Echo"), "{}");
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let r = send(&door, &toy().sign(req));
    assert_json_error(&r, 415, "UnsupportedMediaTypeException", "application/json");

    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Echo"), "{\"a\":")),
    );
    assert_json_error(&r, 400, "SerializationException", "malformed JSON");
    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Echo"), "[]")),
    );
    assert_json_error(&r, 400, "SerializationException", "JSON object");
}

#[test]
fn json_service_errors_and_panics() {
    let door = door();
    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Fail"), r#"{"name":"t1"}"#)),
    );
    assert_json_error(&r, 400, "ThingNotFoundException", "thing t1 not found");

    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Panic"), "{}")),
    );
    assert_json_error(&r, 500, "InternalFailure", "ToyService_20240101.Panic");
    // The door still works afterwards.
    let r = send(
        &door,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Echo"), "{}")),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn bodies_over_the_limit_are_refused_before_anything_else() {
    let door = door();
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let req = to_server_form(json_req(&format!("{TOY_PREFIX}.Echo"), &big));
    let r = send(&door, &req);
    assert_json_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        &MAX_BODY_BYTES.to_string(),
    );

    let small = door.with_max_body(16);
    let r = send(
        &small,
        &toy().sign(json_req(
            &format!("{TOY_PREFIX}.Echo"),
            r#"{"k":"0123456789"}"#,
        )),
    );
    assert_json_error(
        &r,
        413,
        "RequestEntityTooLargeException",
        "limit of 16 bytes",
    );
    let r = send(
        &small,
        &toyq().sign(form_req("Action=Describe&Names.member.1=a")),
    );
    assert_xml_error(&r, 413, "Sender", "RequestEntityTooLarge", "limit of 16");
    let r = send(
        &small,
        &toy().sign(json_req(&format!("{TOY_PREFIX}.Echo"), "{}")),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn query_call_succeeds() {
    let door = door();
    let req = toyq().sign(form_req(
        "Action=Describe&Version=2015-12-01&Names.member.2=b%26c&Names.member.1=a",
    ));
    let r = send(&door, &req);
    let body = std::str::from_utf8(&r.body).unwrap();
    assert_eq!(r.status, 200, "{body}");
    assert_eq!(r.content_type(), Some("text/xml"));
    let rid = r.request_id().unwrap();
    assert_eq!(
        body,
        format!(
            "<DescribeResponse xmlns=\"{TOYQ_NS}\"><DescribeResult><Names>\
             <member><Name>a</Name></member><member><Name>b&amp;c</Name></member></Names>\
             <Caller>arn:aws:iam::123456789012:user/alice</Caller></DescribeResult>\
             <ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>\
             </DescribeResponse>"
        )
    );

    // A presigned GET with the parameters in the query string.
    let mut signer = Signer::presigned(60);
    signer.service = "toyq".into();
    let req = signer.sign(
        http::Request::builder()
            .uri("http://127.0.0.1:4566/?Action=Describe&Names.member.1=q")
            .body(Bytes::new())
            .unwrap(),
    );
    assert_eq!(
        FrontDoor::protocol_of(&RequestView::from(&req)),
        Some(Protocol::Query)
    );
    let r = send(&door, &req);
    let body = std::str::from_utf8(&r.body).unwrap();
    assert_eq!(r.status, 200, "{body}");
    assert!(body.contains("<Name>q</Name>"), "{body}");
}

#[test]
fn query_errors() {
    let door = door();
    let describe = "Action=Describe&Version=2015-12-01";

    let r = send(&door, &to_server_form(form_req(describe)));
    assert_xml_error(
        &r,
        403,
        "Sender",
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );

    let mut req = toyq().sign(form_req(describe));
    *req.body_mut() = Bytes::from_static(b"Action=Fail&Version=2015-12-01");
    assert_xml_error(
        &send(&door, &req),
        403,
        "Sender",
        "SignatureDoesNotMatch",
        "does not match",
    );

    let mut signer = toyq();
    signer.akid = "AKIANOBODYNOBODYNOBO".into();
    assert_xml_error(
        &send(&door, &signer.sign(form_req(describe))),
        403,
        "Sender",
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );

    let req = toyq().sign(form_req(describe));
    let r = door.handle(
        RequestView::from(&req),
        req.body(),
        t0() - Duration::minutes(20),
    );
    assert_xml_error(
        &r,
        403,
        "Sender",
        "SignatureDoesNotMatch",
        "Signature not yet current",
    );

    let mut signer = Signer::presigned(60);
    signer.service = "toyq".into();
    let req = signer.sign(
        http::Request::builder()
            .uri("http://127.0.0.1:4566/?Action=Describe")
            .body(Bytes::new())
            .unwrap(),
    );
    let r = door.handle(
        RequestView::from(&req),
        req.body(),
        t0() + Duration::minutes(2),
    );
    assert_xml_error(&r, 400, "Sender", "RequestExpired", "Request has expired");

    let mut signer = toyq();
    signer.region = "eu-central-1".into();
    assert_xml_error(
        &send(&door, &signer.sign(form_req(describe))),
        403,
        "Sender",
        "SignatureDoesNotMatch",
        "not 'eu-central-1'",
    );

    let r = send(
        &door,
        &toyq().sign(form_req("Action=Fail&Version=2015-12-01")),
    );
    assert_xml_error(&r, 400, "Sender", "LoadBalancerNotFound", "not found");
    assert!(std::str::from_utf8(&r.body).unwrap().contains(TOYQ_NS));

    let r = send(&door, &toyq().sign(form_req("Version=2015-12-01")));
    assert_xml_error(&r, 400, "Sender", "MissingAction", "Missing Action");

    let r = send(
        &door,
        &toyq().sign(form_req("Action=Describe&Version=2012-06-01")),
    );
    assert_xml_error(
        &r,
        400,
        "Sender",
        "InvalidAction",
        "Could not find operation Describe for version 2012-06-01",
    );

    let r = send(
        &door,
        &toyq().sign(form_req("Action=Frobnicate&Version=2015-12-01")),
    );
    assert_xml_error(&r, 400, "Sender", "InvalidAction", "Frobnicate");

    let r = send(
        &door,
        &Signer::new(AKID, SECRET, "iam").sign(form_req("Action=ListUsers")),
    );
    assert_xml_error(&r, 400, "Sender", "InvalidAction", "'iam'");

    let r = send(&door, &toyq().sign(form_req("Action=Panic")));
    assert_xml_error(&r, 500, "Receiver", "InternalFailure", "Panic");
}

#[test]
fn protocol_detection() {
    let view_of = |req: &http::Request<Bytes>| FrontDoor::protocol_of(&RequestView::from(req));
    assert_eq!(view_of(&json_req("A.B", "{}")), Some(Protocol::Json));
    assert_eq!(view_of(&form_req("Action=X")), Some(Protocol::Query));
    let get = |uri: &str| {
        http::Request::builder()
            .uri(uri)
            .body(Bytes::new())
            .unwrap()
    };
    assert_eq!(view_of(&get("/?Version=1&Action=X")), Some(Protocol::Query));
    assert_eq!(view_of(&get("/?NoAction=X")), None);
    assert_eq!(view_of(&get("/v2/")), None);
}

#[test]
fn works_with_a_key_store_and_converts_to_http() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(KeyStore::open(dir.path().join("keys.json"), "000000000000").unwrap());
    let admin = keys.ensure_admin(t0()).unwrap();
    let door = FrontDoor::new(keys, "us-east-1").with_json_service(Arc::new(Toy));
    let req = Signer::new(&admin.access_key_id, &admin.secret_access_key, "toy")
        .sign(json_req(&format!("{TOY_PREFIX}.Echo"), "{}"));
    let r = send(&door, &req);
    assert_eq!(json_of(&r)["principal"], "arn:aws:iam::000000000000:root");
    let rid = r.request_id().unwrap().to_string();
    let http = r.into_http();
    assert_eq!(http.status(), 200);
    assert_eq!(http.headers()["x-amzn-requestid"], rid.as_str());
}
