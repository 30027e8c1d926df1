//! End-to-end: the AWS SDK for Rust driving Dockyard's ECR API, and the
//! registry answering what the API hands out (presigned layer URLs,
//! public pulls).
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecr::primitives::Blob;
use aws_sdk_ecr::types::{ImageIdentifier, ImageTagMutability};
use sha2::{Digest as _, Sha256};

use common::Server;

fn client(s: &Server) -> Client {
    let creds = s.credentials();
    let get = |k: &str| creds.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(get("AWS_ENDPOINT_URL"))
        .credentials_provider(Credentials::new(
            get("AWS_ACCESS_KEY_ID"),
            get("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "dockyard",
        ))
        .build();
    Client::from_conf(conf)
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Uploads a blob through the layer API, in parts of `part` bytes.
async fn upload(c: &Client, repo: &str, data: &[u8], part: usize) -> String {
    let id = c
        .initiate_layer_upload()
        .repository_name(repo)
        .send()
        .await
        .unwrap()
        .upload_id
        .unwrap();
    for (i, chunk) in data.chunks(part).enumerate() {
        let first = (i * part) as i64;
        c.upload_layer_part()
            .repository_name(repo)
            .upload_id(&id)
            .part_first_byte(first)
            .part_last_byte(first + chunk.len() as i64 - 1)
            .layer_part_blob(Blob::new(chunk))
            .send()
            .await
            .unwrap();
    }
    c.complete_layer_upload()
        .repository_name(repo)
        .upload_id(&id)
        .layer_digests(sha(data))
        .send()
        .await
        .unwrap()
        .layer_digest
        .unwrap()
}

fn manifest(config: &[u8], layer: &[u8]) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(layer), "size": layer.len()}],
    })
    .to_string()
}

#[test]
fn the_rust_sdk_drives_repositories_images_layers_and_policies() {
    let s = Server::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = client(&s);
        let repo = c
            .create_repository()
            .repository_name("sdk/app")
            .image_tag_mutability(ImageTagMutability::Immutable)
            .send()
            .await
            .unwrap()
            .repository
            .unwrap();
        assert_eq!(
            repo.repository_uri.as_deref(),
            Some(format!("127.0.0.1:{}/sdk/app", s.port).as_str())
        );
        let again = c
            .create_repository()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(again.is_repository_already_exists_exception(), "{again:?}");

        // Layers through the JSON API, then the image.
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let layer: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(upload(&c, "sdk/app", &config, 1 << 20).await, sha(&config));
        assert_eq!(upload(&c, "sdk/app", &layer, 30_000).await, sha(&layer));
        let m = manifest(&config, &layer);
        let put = c
            .put_image()
            .repository_name("sdk/app")
            .image_manifest(&m)
            .image_tag("v1")
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.image.unwrap().image_id.unwrap().image_digest.unwrap(),
            sha(m.as_bytes())
        );
        // Immutable: another image may not take v1.
        let other_layer = b"other".to_vec();
        upload(&c, "sdk/app", &other_layer, 1024).await;
        let err = c
            .put_image()
            .repository_name("sdk/app")
            .image_manifest(manifest(&config, &other_layer))
            .image_tag("v1")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_image_tag_already_exists_exception(), "{err:?}");

        let details = c
            .describe_images()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap()
            .image_details
            .unwrap();
        assert_eq!(details.len(), 1);
        assert_eq!(details[0].image_tags(), ["v1"]);
        assert_eq!(
            details[0].image_size_in_bytes,
            Some((config.len() + layer.len()) as i64)
        );
        let got = c
            .batch_get_image()
            .repository_name("sdk/app")
            .image_ids(ImageIdentifier::builder().image_tag("v1").build())
            .send()
            .await
            .unwrap();
        assert_eq!(got.images()[0].image_manifest.as_deref(), Some(m.as_str()));

        // The download URL works without credentials, for that blob only.
        let url = c
            .get_download_url_for_layer()
            .repository_name("sdk/app")
            .layer_digest(sha(&layer))
            .send()
            .await
            .unwrap()
            .download_url
            .unwrap();
        let path = url
            .strip_prefix(&format!("http://127.0.0.1:{}", s.port))
            .unwrap();
        let body = s.get(path).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.ends_with(std::str::from_utf8(&layer).unwrap()));
        let manifest_path = "/v2/sdk/app/manifests/v1";
        assert!(s.get(manifest_path).unwrap().starts_with("HTTP/1.1 401"));

        // A public-pull policy opens pulls (not pushes) to everyone.
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"public","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#;
        c.set_repository_policy()
            .repository_name("sdk/app")
            .policy_text(policy)
            .send()
            .await
            .unwrap();
        let anon = s.get(manifest_path).unwrap();
        assert!(anon.starts_with("HTTP/1.1 200") && anon.ends_with(&m), "{anon}");
        let bad = c
            .set_repository_policy()
            .repository_name("sdk/app")
            .policy_text("{}")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(bad.is_invalid_parameter_exception(), "{bad:?}");

        // Lifecycle: untagged images older than a day would go; none do.
        let lifecycle = r#"{"rules":[{"rulePriority":1,"description":"old untagged","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}"#;
        c.put_lifecycle_policy()
            .repository_name("sdk/app")
            .lifecycle_policy_text(lifecycle)
            .send()
            .await
            .unwrap();
        c.start_lifecycle_policy_preview()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap();
        let preview = c
            .get_lifecycle_policy_preview()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap();
        assert_eq!(
            preview.summary.unwrap().expiring_image_total_count,
            Some(0)
        );

        let del = c
            .batch_delete_image()
            .repository_name("sdk/app")
            .image_ids(ImageIdentifier::builder().image_tag("v1").build())
            .send()
            .await
            .unwrap();
        assert_eq!(del.image_ids().len(), 1);
        let listed = c
            .list_images()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap();
        assert!(listed.image_ids().is_empty());
        c.delete_repository()
            .repository_name("sdk/app")
            .send()
            .await
            .unwrap();
        let gone = c
            .describe_repositories()
            .repository_names("sdk/app")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(gone.is_repository_not_found_exception(), "{gone:?}");
    });
}
