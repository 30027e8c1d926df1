//! The behaviour every [`ContentStore`] must have, as one function that
//! panics on the first deviation. Run it against each implementation from
//! a test with a fresh, empty store.

use std::io::{Read, Seek, Write};

use super::{ContentStore, write_blob};
use crate::digest::Digest;
use crate::error::ErrorKind;

/// Exercises `store` (which must start empty) through the whole blob
/// lifecycle and its error cases.
pub fn run(store: &dyn ContentStore) {
    assert!(
        store.list().expect("list").is_empty(),
        "the store under test must start empty"
    );
    commit_then_read(store);
    commit_is_idempotent(store);
    mismatches_stay_invisible(store);
    resume_continues_an_ingest(store);
    one_writer_per_ingest(store);
    abort_discards(store);
    absent_blobs(store);
    delete_removes(store);
}

fn read_all(store: &dyn ContentStore, d: &Digest) -> Vec<u8> {
    let mut buf = Vec::new();
    store
        .open(d)
        .expect("open committed blob")
        .read_to_end(&mut buf)
        .expect("read blob");
    buf
}

fn commit_then_read(store: &dyn ContentStore) {
    let data = b"the quick brown fox".repeat(1000);
    let want = Digest::of(&data);
    let mut w = store.writer().expect("writer");
    assert!(!w.id().is_empty(), "an ingest has an id");
    w.write_all(&data[..100]).expect("write");
    assert_eq!(w.written(), 100);
    assert_eq!(
        store.size(&want).expect("size"),
        None,
        "an ingest is not visible before commit"
    );
    w.write_all(&data[100..]).expect("write");
    let got = w
        .commit(Some(&want), Some(data.len() as u64))
        .expect("commit");
    assert_eq!(got, want);
    assert_eq!(store.size(&want).expect("size"), Some(data.len() as u64));
    assert_eq!(read_all(store, &want), data);
    let mut f = store.open(&want).expect("open");
    let mut tail = [0u8; 5];
    f.seek(std::io::SeekFrom::End(-5)).expect("seek");
    f.read_exact(&mut tail).expect("read tail");
    assert_eq!(&tail, &data[data.len() - 5..]);
    assert!(
        store
            .list()
            .expect("list")
            .contains(&(want, data.len() as u64))
    );
}

fn commit_is_idempotent(store: &dyn ContentStore) {
    let d1 = write_blob(store, b"twice", None).expect("first");
    let mut w = store.writer().expect("writer");
    w.write_all(b"twice").expect("write");
    let d2 = w
        .commit(Some(&d1), Some(5))
        .expect("committing stored content again");
    assert_eq!(d1, d2);
    assert_eq!(read_all(store, &d1), b"twice");
    let n = store
        .list()
        .expect("list")
        .iter()
        .filter(|(d, _)| *d == d1)
        .count();
    assert_eq!(n, 1);
}

fn mismatches_stay_invisible(store: &dyn ContentStore) {
    let before = store.list().expect("list");
    let claimed = Digest::of(b"what the sender said");
    let mut w = store.writer().expect("writer");
    let id = w.id().to_owned();
    w.write_all(b"what the sender sent").expect("write");
    let e = w
        .commit(Some(&claimed), None)
        .expect_err("a wrong digest must fail");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains(claimed.as_str()),
        "the error names the digest: {e}"
    );
    assert_eq!(store.size(&claimed).expect("size"), None);
    assert_eq!(
        store
            .size(&Digest::of(b"what the sender sent"))
            .expect("size"),
        None
    );
    assert_eq!(
        store.resume(&id).err().map(|e| e.kind()),
        Some(ErrorKind::NotFound),
        "a failed commit discards the ingest"
    );

    let mut w = store.writer().expect("writer");
    w.write_all(b"short").expect("write");
    let e = w
        .commit(Some(&Digest::of(b"short")), Some(6))
        .expect_err("a wrong size must fail");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert_eq!(store.size(&Digest::of(b"short")).expect("size"), None);
    assert_eq!(store.list().expect("list"), before);
}

fn resume_continues_an_ingest(store: &dyn ContentStore) {
    let data = b"0123456789abcdefghij";
    let mut w = store.writer().expect("writer");
    let id = w.id().to_owned();
    w.write_all(&data[..7]).expect("write");
    drop(w);
    assert_eq!(store.ingest_size(&id).expect("ingest size"), 7);
    let mut w = store.resume(&id).expect("resume");
    assert_eq!(w.id(), id);
    assert_eq!(w.written(), 7);
    w.write_all(&data[7..]).expect("write");
    let d = w
        .commit(Some(&Digest::of(data)), Some(data.len() as u64))
        .expect("commit after resume");
    assert_eq!(read_all(store, &d), data);
    assert_eq!(
        store.ingest_size(&id).err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

fn one_writer_per_ingest(store: &dyn ContentStore) {
    let w = store.writer().expect("writer");
    let id = w.id().to_owned();
    let e = store
        .resume(&id)
        .err()
        .expect("a second writer on a held ingest must fail");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    drop(w);
    let w = store.resume(&id).expect("resume once released");
    drop(w);
    store.abort(&id).expect("abort");
}

fn abort_discards(store: &dyn ContentStore) {
    let mut w = store.writer().expect("writer");
    let id = w.id().to_owned();
    w.write_all(b"never committed").expect("write");
    drop(w);
    store.abort(&id).expect("abort");
    assert_eq!(
        store.resume(&id).err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        store.abort(&id).err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        store.size(&Digest::of(b"never committed")).expect("size"),
        None
    );
    assert_eq!(
        store.resume("no-such-ingest").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

fn absent_blobs(store: &dyn ContentStore) {
    let d = Digest::of(b"absent");
    assert_eq!(store.size(&d).expect("size"), None);
    let e = store
        .open(&d)
        .err()
        .expect("opening an absent blob must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(d.as_str()), "{e}");
    assert_eq!(
        store.delete(&d).err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
}

fn delete_removes(store: &dyn ContentStore) {
    let d = write_blob(store, b"short-lived", None).expect("write");
    store.delete(&d).expect("delete");
    assert_eq!(store.size(&d).expect("size"), None);
    assert!(store.open(&d).is_err());
    assert!(!store.list().expect("list").iter().any(|(x, _)| *x == d));
    // Content can come back after a delete.
    write_blob(store, b"short-lived", Some(&d)).expect("write again");
    assert_eq!(read_all(store, &d), b"short-lived");
}
