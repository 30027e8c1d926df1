use std::io::Write;
use std::time::Duration;

use dockyard_store::StoreExt;

use super::*;
use crate::names::ManifestRef;
use crate::testutil::{Fixture, image_manifest, push_blob, push_image};

const HOUR: Duration = Duration::from_secs(3600);

fn blob_record(r: &Registry, d: &Digest) -> Option<BlobRecord> {
    records::get::<BlobRecord>(r.store(), &keys::blob(d))
        .unwrap()
        .map(|(b, _)| b)
}

#[test]
fn keeps_referenced_and_recent_blobs_and_collects_the_rest() {
    let f = Fixture::new();
    let r = &f.registry;
    let (m, _) = push_image(r, "a", "v1", b"1");
    let (_, config, layer) = image_manifest(b"1");
    let orphan = push_blob(r, "a", b"never used");

    let report = r.gc().unwrap();
    assert!(report.deleted.is_empty());
    assert_eq!(report.kept_recent, 1, "{report:?}");

    f.clock.advance(HOUR + Duration::from_secs(1));
    let report = r.gc().unwrap();
    assert_eq!(report.deleted, std::slice::from_ref(&orphan));
    assert_eq!(report.bytes_freed, 10);
    assert_eq!(report.links_removed, 1);
    assert!(r.content().size(&orphan).unwrap().is_none());
    assert!(blob_record(r, &orphan).is_none());
    assert!(matches!(
        r.stat_blob("a", &orphan),
        Err(RegistryError::BlobUnknown { .. })
    ));
    // The image is whole.
    assert!(
        r.get_manifest("a", &ManifestRef::Tag("v1".into()), &[])
            .is_ok()
    );
    assert!(r.stat_blob("a", &Digest::of(&config)).is_ok());

    // Deleted manifests free their blobs after the grace period.
    r.delete_manifest("a", &ManifestRef::Digest(m.clone()))
        .unwrap();
    f.clock.advance(HOUR + Duration::from_secs(1));
    let mut deleted = r.gc().unwrap().deleted;
    deleted.sort();
    let mut want = vec![Digest::of(&config), Digest::of(&layer), m];
    want.sort();
    assert_eq!(deleted, want);
    assert!(r.content().list().unwrap().is_empty());
    assert!(r.store().list(keys::BLOBS).unwrap().is_empty());
    assert!(r.store().list(&keys::links_prefix("a")).unwrap().is_empty());
}

#[test]
fn a_blob_uploaded_for_a_manifest_not_yet_pushed_survives() {
    let f = Fixture::new();
    let r = &f.registry;
    let (m, config, layer) = image_manifest(b"1");
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    f.clock.advance(HOUR - Duration::from_secs(1));
    assert!(r.gc().unwrap().deleted.is_empty());
    r.put_manifest("a", &ManifestRef::Tag("v1".into()), None, &m, &[])
        .unwrap();
    f.clock.advance(10 * HOUR);
    assert!(r.gc().unwrap().deleted.is_empty());
}

#[test]
fn a_push_after_the_mark_wins_over_the_sweep() {
    let f = Fixture::with_config(|c| c.gc_grace = Duration::ZERO);
    let r = &f.registry;
    let (m, config, layer) = image_manifest(b"1");
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    f.clock.advance(Duration::from_secs(1));
    let plan = r.gc_plan().unwrap();
    assert_eq!(plan.candidates.len(), 2, "both blobs look abandoned");
    // The manifest arrives between mark and sweep.
    r.put_manifest("a", &ManifestRef::Tag("v1".into()), None, &m, &[])
        .unwrap();
    let report = r.gc_sweep(plan).unwrap();
    assert_eq!((report.raced, report.deleted.len()), (2, 0));
    assert!(r.stat_blob("a", &Digest::of(&layer)).is_ok());
    assert!(
        r.get_manifest("a", &ManifestRef::Tag("v1".into()), &[])
            .is_ok()
    );
    // Referenced now, so even with no grace a new run keeps them.
    assert!(r.gc().unwrap().deleted.is_empty());
}

#[test]
fn a_sweep_before_the_push_makes_the_push_fail_cleanly() {
    let f = Fixture::new();
    let r = &f.registry;
    let (m, config, layer) = image_manifest(b"1");
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    f.clock.advance(2 * HOUR);
    assert_eq!(r.gc().unwrap().deleted.len(), 2);
    let e = r
        .put_manifest("a", &ManifestRef::Tag("v1".into()), None, &m, &[])
        .unwrap_err();
    assert_eq!(e.code().as_str(), "MANIFEST_BLOB_UNKNOWN");
    assert!(
        r.store()
            .list(&keys::manifests_prefix("a"))
            .unwrap()
            .is_empty()
    );
    assert!(r.content().list().unwrap().is_empty());
    // Uploading again works: the deletion is complete.
    push_blob(r, "a", &config);
    push_blob(r, "a", &layer);
    r.put_manifest("a", &ManifestRef::Tag("v1".into()), None, &m, &[])
        .unwrap();
}

#[test]
fn a_mount_after_the_mark_wins_over_the_sweep() {
    let f = Fixture::with_config(|c| c.gc_grace = Duration::ZERO);
    let r = &f.registry;
    let d = push_blob(r, "a", b"shared");
    f.clock.advance(Duration::from_secs(1));
    let plan = r.gc_plan().unwrap();
    assert!(r.mount_blob("b", &d, "a").unwrap());
    assert_eq!(r.gc_sweep(plan).unwrap().raced, 1);
    assert!(r.stat_blob("b", &d).is_ok());
}

#[test]
fn reads_keep_an_unreferenced_blob_alive() {
    let f = Fixture::new();
    let r = &f.registry;
    let d = push_blob(r, "a", b"checked");
    f.clock.advance(HOUR * 3 / 4);
    // A client checks it (HEAD) before pushing a manifest using it.
    r.stat_blob("a", &d).unwrap();
    f.clock.advance(HOUR * 3 / 4);
    assert!(r.gc().unwrap().deleted.is_empty());
    f.clock.advance(HOUR);
    assert_eq!(r.gc().unwrap().deleted, [d]);
}

#[test]
fn content_without_any_record_is_collected_and_uploads_expire() {
    let f = Fixture::new();
    let r = &f.registry;
    let stray = dockyard_image::content::write_blob(r.content(), b"stray", None).unwrap();
    let id = r.start_upload("a").unwrap();
    let mut w = r.resume_upload("a", &id, Some(0)).unwrap();
    w.write_all(b"partial").unwrap();
    drop(w);
    let report = r.gc().unwrap();
    assert_eq!(report.deleted, [stray]);
    assert_eq!(report.uploads_expired, 0);
    assert_eq!(r.upload_status("a", &id).unwrap(), 7);

    f.clock.advance(25 * HOUR);
    assert_eq!(r.gc().unwrap().uploads_expired, 1);
    assert!(matches!(
        r.upload_status("a", &id),
        Err(RegistryError::UploadUnknown(_))
    ));
}

#[test]
fn a_collector_that_died_mid_deletion_is_finished_by_the_next() {
    let f = Fixture::new();
    let r = &f.registry;
    let d = push_blob(r, "a", b"half deleted");
    let (_, rev) = records::get::<BlobRecord>(r.store(), &keys::blob(&d))
        .unwrap()
        .unwrap();
    let tomb = BlobRecord {
        state: BlobState::Deleting,
        size: Some(12),
        touched_at: r.now(),
    };
    r.store()
        .update(&keys::blob(&d), rev, serde_json::to_vec(&tomb).unwrap())
        .unwrap()
        .unwrap();
    // Fresh: another collector may be at work, leave it.
    r.gc().unwrap();
    assert!(r.content().size(&d).unwrap().is_some());
    f.clock.advance(Duration::from_secs(120));
    r.gc().unwrap();
    assert!(r.content().size(&d).unwrap().is_none());
    assert!(blob_record(r, &d).is_none());
}

#[test]
fn a_corrupt_manifest_record_stops_collection() {
    let f = Fixture::with_config(|c| c.gc_grace = Duration::ZERO);
    let r = &f.registry;
    let (m, _) = push_image(r, "a", "v1", b"1");
    r.store()
        .put(&keys::manifest("a", &m), b"garbage".to_vec())
        .unwrap();
    f.clock.advance(Duration::from_secs(1));
    assert!(matches!(r.gc(), Err(RegistryError::Corrupt { .. })));
    assert_eq!(r.content().list().unwrap().len(), 3);
}
