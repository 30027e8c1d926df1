#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use chrono::Duration;

use super::*;
use crate::RequestView;
use crate::identity::PrincipalKind;
use crate::sigv4::{AuthErrorKind, Payload, verify};
use crate::testing::{Signer, t0};

const ACCOUNT: &str = "000000000000";

fn store(dir: &tempfile::TempDir) -> KeyStore {
    KeyStore::open(dir.path().join("keys.json"), ACCOUNT).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn is_key_id(id: &str, prefix: &str) -> bool {
    id.len() == 20
        && id.starts_with(prefix)
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[test]
fn admin_key_is_created_once_and_persisted_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    assert!(
        !keys.path().exists(),
        "nothing is written before a key exists"
    );

    let admin = keys.ensure_admin(t0()).unwrap();
    assert!(
        is_key_id(&admin.access_key_id, "AKIA"),
        "{}",
        admin.access_key_id
    );
    assert_eq!(admin.secret_access_key.len(), 40);
    assert!(
        admin
            .secret_access_key
            .bytes()
            .all(|b| SECRET_ALPHABET.contains(&b))
    );
    assert_eq!(admin.user, None);
    assert_eq!(admin.principal.kind, PrincipalKind::Root);
    assert_eq!(admin.principal.arn, "arn:aws:iam::000000000000:root");
    assert_eq!(mode(keys.path()), 0o600);

    assert_eq!(keys.ensure_admin(t0() + Duration::days(1)).unwrap(), admin);
    let reopened = store(&dir);
    assert_eq!(reopened.ensure_admin(t0()).unwrap(), admin);
    assert_eq!(reopened.list(), vec![admin]);

    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["keys.json"]);
}

#[test]
fn user_keys_create_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    let admin = keys.ensure_admin(t0()).unwrap();
    let a = keys.create("alice", t0() + Duration::seconds(1)).unwrap();
    let b = keys.create("alice", t0() + Duration::seconds(2)).unwrap();
    assert_ne!(a.access_key_id, b.access_key_id);
    assert_eq!(a.principal.arn, "arn:aws:iam::000000000000:user/alice");
    assert_eq!(a.principal.kind, PrincipalKind::User);
    assert_eq!(a.user.as_deref(), Some("alice"));

    let err = keys.create("alice", t0()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("alice"));

    for bad in ["", "has space", "slash/name", &"x".repeat(65)] {
        let err = keys.create(bad, t0()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
    keys.create("ci+bot=x,y.z@example_com-1", t0() + Duration::seconds(3))
        .unwrap();

    let ids: Vec<String> = keys.list().into_iter().map(|k| k.access_key_id).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], admin.access_key_id);

    keys.delete(&a.access_key_id).unwrap();
    let err = keys.delete(&a.access_key_id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(&a.access_key_id));
    assert!(keys.secret_for(&a.access_key_id).is_none());
    assert_eq!(keys.get(&b.access_key_id).unwrap(), b);

    let reopened = store(&dir);
    assert_eq!(reopened.list(), keys.list());
    assert!(reopened.get(&a.access_key_id).is_none());
    // A user whose key was deleted may create another.
    reopened.create("alice", t0()).unwrap();
}

#[test]
fn deleting_the_admin_key_makes_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    let first = keys.ensure_admin(t0()).unwrap();
    keys.delete(&first.access_key_id).unwrap();
    let second = keys.ensure_admin(t0()).unwrap();
    assert_ne!(first.access_key_id, second.access_key_id);
}

#[test]
fn open_tightens_mode_and_reports_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    {
        store(&dir).ensure_admin(t0()).unwrap();
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    store(&dir);
    assert_eq!(mode(&path), 0o600);

    fs::write(&path, b"{not json").unwrap();
    let err = KeyStore::open(&path, ACCOUNT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("keys.json"), "{err}");

    let err = KeyStore::open(dir.path(), ACCOUNT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
}

#[test]
fn a_failed_write_leaves_state_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let keys = KeyStore::open(sub.join("keys.json"), ACCOUNT).unwrap();
    // The key file's directory becomes a regular file, so writes fail.
    fs::write(&sub, b"").unwrap();
    let err = keys.ensure_admin(t0()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(keys.list().is_empty());
}

#[test]
fn keys_are_credential_sources() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    let admin = keys.ensure_admin(t0()).unwrap();
    let secret = keys.secret_for(&admin.access_key_id).unwrap();
    assert_eq!(secret.secret_access_key, admin.secret_access_key);
    assert_eq!(secret.session_token, None);
    assert_eq!(secret.expires, None);
    assert!(keys.secret_for("AKIANOTAKEY000000000").is_none());

    let req = Signer::new(&admin.access_key_id, &admin.secret_access_key, "ecr").sign(
        http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4566/")
            .body(Bytes::from_static(b"{}"))
            .unwrap(),
    );
    let v = verify(
        RequestView::from(&req),
        Payload::Bytes(req.body()),
        &keys,
        t0(),
    )
    .unwrap();
    assert_eq!(v.principal, admin.principal);
}

#[test]
fn sessions_verify_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    let principal = Principal::assumed_role(ACCOUNT, "web-task", "task-1");
    let s = keys
        .issue_session(principal.clone(), Duration::hours(1), t0())
        .unwrap();
    assert!(is_key_id(&s.access_key_id, "ASIA"), "{}", s.access_key_id);
    assert_eq!(s.expiration, t0() + Duration::hours(1));
    assert!(s.session_token.len() >= 200);
    let debug = format!("{s:?}");
    assert!(!debug.contains(&s.secret_access_key) && !debug.contains(&s.session_token));

    let secret = keys.secret_for(&s.access_key_id).unwrap();
    assert_eq!(
        secret.session_token.as_deref(),
        Some(s.session_token.as_str())
    );
    assert_eq!(secret.expires, Some(s.expiration));
    assert_eq!(secret.principal, principal);
    // Sessions are not long-term keys.
    assert!(keys.list().is_empty());

    let sign_at = |at| {
        let mut signer = Signer::new(&s.access_key_id, &s.secret_access_key, "logs");
        signer.token = Some(s.session_token.clone());
        signer.time = at;
        signer.sign(
            http::Request::builder()
                .method("POST")
                .uri("http://127.0.0.1:4566/")
                .body(Bytes::from_static(b"{}"))
                .unwrap(),
        )
    };
    let check = |req: &http::Request<Bytes>, now| {
        verify(
            RequestView::from(req),
            Payload::Bytes(req.body()),
            &keys,
            now,
        )
    };
    let v = check(&sign_at(t0()), t0()).unwrap();
    assert_eq!(v.principal, principal);

    // Survives a restart.
    let reopened = store(&dir);
    assert!(reopened.secret_for(&s.access_key_id).is_some());

    let late = t0() + Duration::hours(1);
    let err = check(&sign_at(late), late).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::ExpiredToken);

    // Long-expired sessions are dropped when the next one is issued, and
    // then are simply unknown.
    let much_later = t0() + Duration::hours(3);
    keys.issue_session(principal, Duration::hours(1), much_later)
        .unwrap();
    assert!(keys.secret_for(&s.access_key_id).is_none());
    let err = check(&sign_at(much_later), much_later).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::InvalidClientToken);
}

#[test]
fn sessions_can_be_revoked_and_ttl_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store(&dir);
    let p = Principal::assumed_role(ACCOUNT, "r", "s");
    let s = keys
        .issue_session(p.clone(), Duration::minutes(15), t0())
        .unwrap();
    keys.delete(&s.access_key_id).unwrap();
    assert!(keys.secret_for(&s.access_key_id).is_none());

    for ttl in [Duration::zero(), Duration::seconds(-1), Duration::hours(37)] {
        let err = keys.issue_session(p.clone(), ttl, t0()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
    keys.issue_session(p, MAX_SESSION_TTL, t0()).unwrap();
}

#[test]
fn random_strings_use_the_whole_alphabet_and_do_not_repeat() {
    let ids: std::collections::HashSet<String> =
        (0..200).map(|_| new_key_id("AKIA").unwrap()).collect();
    assert_eq!(ids.len(), 200);
    let s = random_string(4000, KEY_ID_ALPHABET).unwrap();
    for c in KEY_ID_ALPHABET {
        assert!(s.as_bytes().contains(c), "{} never drawn", *c as char);
    }
    assert!(s.bytes().all(|b| KEY_ID_ALPHABET.contains(&b)));
}
