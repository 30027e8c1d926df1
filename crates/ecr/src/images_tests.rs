use serde_json::{Value, json};

use dockyard_image::Digest;
use dockyard_registry::ManifestRef;

use crate::testutil::{Fx, push_image, upload_image};

fn ids(v: &Value) -> Vec<(String, Option<String>)> {
    let mut out: Vec<_> = v["imageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["imageDigest"].as_str().unwrap().to_owned(),
                i["imageTag"].as_str().map(str::to_owned),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn list_and_describe_with_filters_and_pages() {
    let fx = Fx::new();
    fx.create("app");
    let r = &fx.registry;
    let d1 = push_image(r, "app", "v1", b"1");
    r.put_manifest(
        "app",
        &ManifestRef::Tag("latest".into()),
        None,
        &r.peek_manifest("app", &ManifestRef::Digest(d1.clone()))
            .unwrap()
            .bytes,
        &[],
    )
    .unwrap();
    let untagged = upload_image(r, "app", b"2");
    let d2 = r
        .put_manifest(
            "app",
            &ManifestRef::Digest(Digest::of(&untagged)),
            None,
            &untagged,
            &[],
        )
        .unwrap()
        .digest;

    let all = fx
        .call("ListImages", json!({"repositoryName": "app"}))
        .unwrap();
    let mut want = vec![
        (d1.to_string(), Some("latest".to_owned())),
        (d1.to_string(), Some("v1".to_owned())),
        (d2.to_string(), None),
    ];
    want.sort();
    assert_eq!(ids(&all), want);
    let tagged = fx
        .call(
            "ListImages",
            json!({"repositoryName": "app", "filter": {"tagStatus": "TAGGED"}}),
        )
        .unwrap();
    assert_eq!(ids(&tagged).len(), 2);
    let un = fx
        .call(
            "ListImages",
            json!({"repositoryName": "app", "filter": {"tagStatus": "UNTAGGED"}}),
        )
        .unwrap();
    assert_eq!(ids(&un), [(d2.to_string(), None)]);
    fx.fail(
        "ListImages",
        json!({"repositoryName": "app", "filter": {"tagStatus": "SOME"}}),
        "InvalidParameterException",
    );
    // Pages of one, in a stable order, covering everything once.
    let mut seen = Vec::new();
    let mut token = None::<String>;
    loop {
        let mut input = json!({"repositoryName": "app", "maxResults": 1});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let page = fx.call("ListImages", input).unwrap();
        seen.extend(ids(&page));
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, want);

    let d = fx
        .call(
            "DescribeImages",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]}),
        )
        .unwrap();
    let detail = &d["imageDetails"][0];
    assert_eq!(detail["imageDigest"], d1.to_string());
    assert_eq!(detail["imageTags"], json!(["latest", "v1"]));
    assert_eq!(
        detail["imageSizeInBytes"],
        ("config-1".len() + "layer-1".len()) as u64
    );
    assert_eq!(
        detail["imageManifestMediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        detail["artifactMediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert!(detail["imagePushedAt"].as_f64().unwrap() > 1.7e9);
    let msg = fx.fail(
        "DescribeImages",
        json!({"repositoryName": "app", "imageIds": [{"imageTag": "v9"}]}),
        "ImageNotFoundException",
    );
    assert!(msg.contains("imageTag:'v9'"), "{msg}");
    let all = fx
        .call("DescribeImages", json!({"repositoryName": "app"}))
        .unwrap();
    assert_eq!(all["imageDetails"].as_array().unwrap().len(), 2);
    let un = fx
        .call(
            "DescribeImages",
            json!({"repositoryName": "app", "filter": {"tagStatus": "UNTAGGED"}}),
        )
        .unwrap();
    assert_eq!(un["imageDetails"][0]["imageDigest"], d2.to_string());
    assert!(un["imageDetails"][0].get("imageTags").is_none());
    fx.fail(
        "DescribeImages",
        json!({"repositoryName": "nope"}),
        "RepositoryNotFoundException",
    );
}

#[test]
fn batch_get_and_delete() {
    let fx = Fx::new();
    fx.create("app");
    let r = &fx.registry;
    let d1 = push_image(r, "app", "v1", b"1");
    let bytes = r
        .peek_manifest("app", &ManifestRef::Digest(d1.clone()))
        .unwrap()
        .bytes;
    r.put_manifest("app", &ManifestRef::Tag("latest".into()), None, &bytes, &[])
        .unwrap();

    let got = fx
        .call(
            "BatchGetImage",
            json!({"repositoryName": "app", "imageIds": [
                {"imageTag": "v1"},
                {"imageTag": "nope"},
                {"imageDigest": "sha256:zz"},
                {"imageDigest": d1.to_string(), "imageTag": "other"},
                {},
            ]}),
        )
        .unwrap();
    let img = &got["images"][0];
    assert_eq!(img["imageId"]["imageTag"], "v1");
    assert_eq!(img["imageId"]["imageDigest"], d1.to_string());
    assert_eq!(
        img["imageManifest"].as_str().unwrap().as_bytes(),
        &bytes[..]
    );
    let codes: Vec<&str> = got["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failureCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "ImageNotFound",
            "InvalidImageDigest",
            "ImageTagDoesNotMatchDigest",
            "MissingDigestAndTag"
        ]
    );
    let refused = fx
        .call(
            "BatchGetImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}],
                   "acceptedMediaTypes": ["application/vnd.docker.distribution.manifest.v2+json"]}),
        )
        .unwrap();
    assert_eq!(refused["failures"][0]["failureCode"], "ImageNotFound");
    fx.fail(
        "BatchGetImage",
        json!({"repositoryName": "app", "imageIds": []}),
        "InvalidParameterException",
    );

    // Deleting one of two tags keeps the image; the last tag takes it.
    let del = fx
        .call(
            "BatchDeleteImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "latest"}]}),
        )
        .unwrap();
    assert_eq!(del["imageIds"][0]["imageDigest"], d1.to_string());
    assert_eq!(r.list_images("app").unwrap()[0].tags, ["v1"]);
    let del = fx
        .call(
            "BatchDeleteImage",
            json!({"repositoryName": "app", "imageIds": [{"imageTag": "v1"}, {"imageTag": "v1"}]}),
        )
        .unwrap();
    assert_eq!(del["imageIds"].as_array().unwrap().len(), 1);
    assert_eq!(del["failures"][0]["failureCode"], "ImageNotFound");
    assert!(r.list_images("app").unwrap().is_empty());

    // By digest: the image and all its tags.
    let d2 = push_image(r, "app", "a", b"2");
    r.put_manifest(
        "app",
        &ManifestRef::Tag("b".into()),
        None,
        &r.peek_manifest("app", &ManifestRef::Digest(d2.clone()))
            .unwrap()
            .bytes,
        &[],
    )
    .unwrap();
    fx.call(
        "BatchDeleteImage",
        json!({"repositoryName": "app", "imageIds": [{"imageDigest": d2.to_string()}]}),
    )
    .unwrap();
    assert!(r.list_images("app").unwrap().is_empty());
    assert!(r.tags("app", None, None).unwrap().items.is_empty());
}

#[test]
fn index_children_cannot_be_deleted_alone() {
    let fx = Fx::new();
    fx.create("app");
    let r = &fx.registry;
    let child = push_image(r, "app", "child", b"1");
    let child_size = r
        .stat_manifest("app", &ManifestRef::Digest(child.clone()), &[])
        .unwrap()
        .size;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": child.to_string(), "size": child_size,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    r.put_manifest("app", &ManifestRef::Tag("multi".into()), None, &index, &[])
        .unwrap();
    let out = fx
        .call(
            "BatchDeleteImage",
            json!({"repositoryName": "app", "imageIds": [{"imageDigest": child.to_string()}]}),
        )
        .unwrap();
    assert_eq!(
        out["failures"][0]["failureCode"],
        "ImageReferencedByManifestList"
    );
    assert_eq!(r.list_images("app").unwrap().len(), 2);
}

#[test]
fn put_image_checks_like_ecr() {
    let fx = Fx::new();
    fx.create("app");
    let r = &fx.registry;
    let m = upload_image(r, "app", b"1");
    let text = String::from_utf8(m.clone()).unwrap();
    let d = Digest::of(&m).to_string();
    let out = fx
        .call(
            "PutImage",
            json!({"repositoryName": "app", "imageManifest": text, "imageTag": "v1", "imageDigest": d}),
        )
        .unwrap();
    assert_eq!(
        out["image"]["imageId"],
        json!({"imageDigest": d, "imageTag": "v1"})
    );
    assert_eq!(
        out["image"]["imageManifestMediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": text, "imageTag": "v1"}),
        "ImageAlreadyExistsException",
    );
    // The same manifest under a new tag is a change.
    fx.call(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": text, "imageTag": "v2"}),
    )
    .unwrap();
    fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": text, "imageDigest": Digest::of(b"x").to_string()}),
        "ImageDigestDoesNotMatchException",
    );
    let missing = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": crate::testutil::descriptor("application/vnd.oci.image.config.v1+json", b"nope"),
        "layers": [],
    })
    .to_string();
    let msg = fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": missing, "imageTag": "v3"}),
        "LayersNotFoundException",
    );
    assert!(msg.contains(&Digest::of(b"nope").to_string()), "{msg}");
    fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": "{not json", "imageTag": "v3"}),
        "InvalidParameterException",
    );
    fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": text, "imageTag": "bad tag"}),
        "InvalidParameterException",
    );

    // Immutable tags: a different image may not take v1.
    fx.call(
        "PutImageTagMutability",
        json!({"repositoryName": "app", "imageTagMutability": "IMMUTABLE"}),
    )
    .unwrap();
    let other = String::from_utf8(upload_image(r, "app", b"2")).unwrap();
    let msg = fx.fail(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": other, "imageTag": "v1"}),
        "ImageTagAlreadyExistsException",
    );
    assert!(msg.contains("'v1'"), "{msg}");
    assert_eq!(
        r.peek_manifest("app", &ManifestRef::Tag("v1".into()))
            .unwrap()
            .info
            .digest
            .to_string(),
        d
    );
    // ... nor through the registry API.
    let e = r
        .put_manifest(
            "app",
            &ManifestRef::Tag("v1".into()),
            None,
            other.as_bytes(),
            &[],
        )
        .unwrap_err();
    assert_eq!(e.code().as_str(), "TAG_INVALID");
    // A new tag is fine.
    fx.call(
        "PutImage",
        json!({"repositoryName": "app", "imageManifest": other, "imageTag": "v9"}),
    )
    .unwrap();
}
