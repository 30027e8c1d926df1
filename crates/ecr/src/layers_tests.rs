use std::sync::Arc;

use base64::Engine;
use serde_json::json;

use dockyard_image::Digest;
use dockyard_registry::auth::{Action, RegistryAuth};

use crate::UrlSigner;
use crate::testutil::Fx;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[test]
fn layer_upload_in_parts() {
    let fx = Fx::new();
    fx.create("app");
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&data).to_string();

    let check = fx
        .call(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": "app", "layerDigests": [digest, "junk", ""]}),
        )
        .unwrap();
    assert_eq!(check["layers"][0]["layerAvailability"], "UNAVAILABLE");
    assert_eq!(check["failures"][0]["failureCode"], "InvalidLayerDigest");
    assert_eq!(check["failures"][1]["failureCode"], "MissingLayerDigest");

    let init = fx
        .call("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .unwrap();
    let id = init["uploadId"].as_str().unwrap().to_owned();
    assert!(init["partSize"].as_u64().unwrap() > 0);

    fx.fail(
        "CompleteLayerUpload",
        json!({"repositoryName": "app", "uploadId": id, "layerDigests": [digest]}),
        "EmptyUploadException",
    );
    let part = |first: usize, last: usize| {
        json!({"repositoryName": "app", "uploadId": id, "partFirstByte": first,
               "partLastByte": last, "layerPartBlob": b64(&data[first..=last])})
    };
    let out = fx.call("UploadLayerPart", part(0, 999)).unwrap();
    assert_eq!(out["lastByteReceived"], 999);
    // Out of order, or a length the bounds do not describe: refused.
    fx.fail(
        "UploadLayerPart",
        part(2000, 2999),
        "InvalidLayerPartException",
    );
    let mut lying = part(1000, 1999);
    lying["partLastByte"] = json!(2500);
    fx.fail("UploadLayerPart", lying, "InvalidLayerPartException");
    fx.call("UploadLayerPart", part(1000, 1999)).unwrap();
    fx.call("UploadLayerPart", part(2000, 2999)).unwrap();
    let done = fx
        .call(
            "CompleteLayerUpload",
            json!({"repositoryName": "app", "uploadId": id, "layerDigests": [digest]}),
        )
        .unwrap();
    assert_eq!(done["layerDigest"], digest);
    let check = fx
        .call(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": "app", "layerDigests": [digest]}),
        )
        .unwrap();
    assert_eq!(check["layers"][0]["layerAvailability"], "AVAILABLE");
    assert_eq!(check["layers"][0]["layerSize"], 3000);

    // The session is over; a second upload of the same layer is refused.
    fx.fail("UploadLayerPart", part(0, 999), "UploadNotFoundException");
    let again = fx
        .call("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .unwrap();
    let id2 = again["uploadId"].as_str().unwrap();
    fx.call(
        "UploadLayerPart",
        json!({"repositoryName": "app", "uploadId": id2, "partFirstByte": 0,
               "partLastByte": 2999, "layerPartBlob": b64(&data)}),
    )
    .unwrap();
    fx.fail(
        "CompleteLayerUpload",
        json!({"repositoryName": "app", "uploadId": id2, "layerDigests": [digest]}),
        "LayerAlreadyExistsException",
    );

    // A wrong digest stores nothing.
    let bad = fx
        .call("InitiateLayerUpload", json!({"repositoryName": "app"}))
        .unwrap();
    let id3 = bad["uploadId"].as_str().unwrap();
    fx.call(
        "UploadLayerPart",
        json!({"repositoryName": "app", "uploadId": id3, "partFirstByte": 0,
               "partLastByte": 2, "layerPartBlob": b64(b"abc")}),
    )
    .unwrap();
    let wrong = Digest::of(b"abd").to_string();
    fx.fail(
        "CompleteLayerUpload",
        json!({"repositoryName": "app", "uploadId": id3, "layerDigests": [wrong]}),
        "InvalidLayerException",
    );
    assert!(fx.registry.stat_blob("app", &Digest::of(b"abc")).is_err());
    fx.fail(
        "InitiateLayerUpload",
        json!({"repositoryName": "nope"}),
        "RepositoryNotFoundException",
    );
}

#[test]
fn download_urls_are_presigned_for_one_blob() {
    let fx = Fx::new();
    fx.create("app");
    let data = b"layer bytes";
    let d = Digest::of(data);
    fx.registry.upload_blob("app", &mut &data[..], &d).unwrap();
    let out = fx
        .call(
            "GetDownloadUrlForLayer",
            json!({"repositoryName": "app", "layerDigest": d.to_string()}),
        )
        .unwrap();
    let url = out["downloadUrl"].as_str().unwrap();
    let path_and_query = url.strip_prefix("http://127.0.0.1:4566").unwrap();
    assert!(
        path_and_query.starts_with(&format!("/v2/app/blobs/{d}?")),
        "{url}"
    );
    let req = |uri: &str| http::Request::get(uri).body(()).unwrap().into_parts().0;

    let auth = fx.auth();
    assert!(
        auth.authorize(&req(path_and_query), Some("app"), Action::Pull)
            .is_ok()
    );
    // Only for reading, only that path, only with this server's key.
    assert!(
        auth.authorize(&req(path_and_query), Some("app"), Action::Push)
            .is_err()
    );
    let other = path_and_query.replace("/v2/app/", "/v2/other/");
    assert!(
        auth.authorize(&req(&other), Some("other"), Action::Pull)
            .is_err()
    );
    let stranger = crate::EcrTokenAuth::new(
        fx.keys.clone(),
        Arc::new(UrlSigner::random().unwrap()),
        fx.store.clone(),
        "us-east-1",
    );
    assert!(
        stranger
            .authorize(&req(path_and_query), Some("app"), Action::Pull)
            .is_err()
    );
    let expired = fx.svc.signer.sign(&format!("/v2/app/blobs/{d}"), 1);
    assert!(
        auth.authorize(
            &req(&format!("/v2/app/blobs/{d}?{expired}")),
            Some("app"),
            Action::Pull
        )
        .is_err()
    );

    fx.fail(
        "GetDownloadUrlForLayer",
        json!({"repositoryName": "app", "layerDigest": Digest::of(b"x").to_string()}),
        "LayersNotFoundException",
    );
    fx.fail(
        "GetDownloadUrlForLayer",
        json!({"repositoryName": "app", "layerDigest": "nope"}),
        "InvalidParameterException",
    );
}
