#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::route::route;
use crate::testing::{Fake, WEB_ARN, creds};

const APP_IP: &str = "10.0.0.5";

fn ask(fake: &Fake, path: &str, peer: &str) -> Reply {
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let endpoint = route(path, query).unwrap();
    answer(fake, &endpoint, peer.parse().unwrap())
}

#[test]
fn container_and_task_metadata() {
    let f = Fake::new();
    let r = ask(&f, "/v4/tok-app", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["Name"], json!("app"));
    assert_eq!(r.body["DockerId"], json!("id-app"));

    let r = ask(&f, "/v4/tok-app/task", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["TaskARN"], json!(WEB_ARN));
    assert_eq!(r.body["Limits"], json!({"CPU": 0.5, "Memory": 1024}));
    let names: Vec<&str> = r.body["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);

    let r = ask(&f, "/v3/tok-sidecar", APP_IP);
    assert_eq!(r.body["Name"], json!("sidecar"));
    let r = ask(&f, "/v4/tok-app/taskWithTags", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn unknown_tokens_get_the_agents_404_messages() {
    let f = Fake::new();
    let cases = [
        (
            "/v4/nope",
            "V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: nope",
        ),
        (
            "/v4/nope/task",
            "V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope",
        ),
        (
            "/v4/nope/stats",
            "V4 container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope",
        ),
        (
            "/v4/nope/task/stats",
            "V4 task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope",
        ),
        (
            "/v3/nope",
            "V3 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: nope",
        ),
    ];
    for (path, message) in cases {
        let r = ask(&f, path, APP_IP);
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body, json!(message), "{path}");
    }
}

#[test]
fn stats_of_a_container_and_its_task() {
    let f = Fake::new();
    let r = ask(&f, "/v4/tok-app/stats", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], json!("id-app"));
    assert_eq!(r.body["memory_stats"]["usage"], json!(4096));

    let r = ask(&f, "/v4/tok-sidecar/task/stats", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id-app"]["pids_stats"], json!({"current": 2}));
    assert_eq!(r.body["id-sidecar"], json!({}));
}

#[test]
fn stats_that_cannot_be_read_are_a_500() {
    let f = Fake::new();
    let r = ask(&f, "/v4/tok-job/stats", "10.0.0.9");
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body, json!("Unable to get container stats for: id-job"));
    let r = ask(&f, "/v4/tok-job/task/stats", "10.0.0.9");
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.body,
        json!("Unable to get task stats for: arn:aws:ecs:us-east-1:123456789012:task/dev/batch1")
    );
}

#[test]
fn credentials_for_their_own_task() {
    let f = Fake::new();
    let r = ask(&f, "/v2/credentials/cred-web", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, render_credentials(&creds("web")));
    let r = ask(&f, "/v1/credentials?id=cred-web", APP_IP);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["AccessKeyId"], json!("ASIAweb"));
    // host network mode: the id alone suffices.
    let r = ask(&f, "/v2/credentials/cred-host", "192.168.7.7");
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn credentials_errors_have_the_agents_shape() {
    let f = Fake::new();
    let invalid = json!({
        "code": "InvalidIdInRequest",
        "message": "CredentialsV2Request: Credentials not found",
        "HTTPErrorCode": 400,
    });
    let r = ask(&f, "/v2/credentials/unknown", APP_IP);
    assert_eq!((r.status, &r.body), (StatusCode::BAD_REQUEST, &invalid));

    // Another task's credentials look exactly like an unknown id.
    let r = ask(&f, "/v2/credentials/cred-batch", APP_IP);
    assert_eq!((r.status, &r.body), (StatusCode::BAD_REQUEST, &invalid));

    let r = ask(&f, "/v2/credentials/", APP_IP);
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "code": "NoIdInRequest",
            "message": "CredentialsV2Request: No Credential ID in the request",
            "HTTPErrorCode": 400,
        })
    );
    let r = ask(&f, "/v1/credentials", APP_IP);
    assert_eq!(
        r.body["message"],
        json!("CredentialsV1Request: No Credential ID in the request")
    );

    let r = ask(&f, "/v2/credentials/cred-pending", APP_IP);
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.body,
        json!({
            "code": "CredentialsUninitialized",
            "message": "CredentialsV2Request: Credentials uninitialized for ID",
            "HTTPErrorCode": 503,
        })
    );
}
