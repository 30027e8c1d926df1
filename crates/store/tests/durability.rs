//! An acknowledged write survives kill -9 of the process that made it.
//!
//! The test re-runs its own binary, filtered to the ignored helper
//! `crash_writer`, which writes in a loop and prints each acknowledged
//! revision; the parent kills it with SIGKILL mid-stream and checks the
//! reopened store against what was acknowledged.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use dockyard_store::{RedbStore, Store, StoreExt};

const DIR_ENV: &str = "DOCKYARD_STORE_CRASH_DIR";
const ACKS: usize = 300;

fn store_path(dir: &Path) -> PathBuf {
    dir.join("store.redb")
}

#[test]
#[ignore = "helper run by kill_9_keeps_every_acknowledged_write in a child process"]
fn crash_writer() {
    let dir = std::env::var(DIR_ENV).expect("DOCKYARD_STORE_CRASH_DIR names the store directory");
    let store = RedbStore::open(&store_path(Path::new(&dir))).expect("open the store");
    let mut out = std::io::stdout().lock();
    // Bounded so that a parent that forgot to kill us does not leave a
    // writer running forever; writing to a closed pipe also ends us.
    for i in 0u64..1_000_000 {
        let rev = store
            .put(&format!("crash/{i:08}"), i.to_string().into_bytes())
            .expect("put");
        writeln!(out, "ACK {i} {rev}").expect("parent reads our stdout");
        out.flush().expect("parent reads our stdout");
    }
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kill_9_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store_path(dir.path());
    // Some history from before, to check the counter carries on.
    {
        let s = RedbStore::open(&path).expect("open");
        s.put("before", b"1".to_vec()).expect("put");
    }
    let exe = std::env::current_exe().expect("own test binary");
    let child = Command::new(exe)
        .args([
            "crash_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the writer's output");
        // The harness prints "test crash_writer ... " without a newline
        // before our first line, and its own lines besides.
        let Some((_, rest)) = line.split_once("ACK ") else {
            continue;
        };
        let (i, rev) = rest.split_once(' ').expect("ACK <i> <revision>");
        let i: u64 = i.parse().expect("index");
        let rev: u64 = rev.parse().expect("revision");
        acked.push((i, rev));
        if acked.len() == ACKS {
            break;
        }
    }
    assert_eq!(acked.len(), ACKS, "the writer stopped early");
    // SIGKILL while the writer is in the middle of its next writes.
    child.0.kill().expect("kill -9 the writer");
    let status = child.0.wait().expect("reap the writer");
    assert!(!status.success(), "the writer was killed, not finished");

    let s = RedbStore::open(&path).expect("reopen after the crash");
    let last = acked.last().map_or(0, |&(_, rev)| rev);
    let now = s.revision().expect("revision");
    assert!(
        now >= last,
        "revision {now} went back behind acknowledged {last}"
    );
    for (i, (n, rev)) in acked.iter().enumerate() {
        assert_eq!(*n, i as u64);
        assert_eq!(*rev, i as u64 + 2, "one revision per put after `before`");
        let kv = s
            .get(&format!("crash/{n:08}"))
            .expect("get")
            .unwrap_or_else(|| panic!("acknowledged write {n} at revision {rev} was lost"));
        assert_eq!(kv.value, n.to_string().into_bytes());
        assert_eq!(kv.mod_revision, *rev);
    }
    assert!(s.get("before").expect("get").is_some());
    // The counter carries on after the crash, without reusing a revision.
    assert_eq!(s.put("after", vec![]).expect("put"), now + 1);
    // History up to the crash is replayable.
    let mut w = s.watch("crash/", 1).expect("watch");
    for (n, rev) in &acked {
        let e = w.try_recv().expect("replayed").expect("event");
        assert_eq!(
            (e.kv.key, e.kv.mod_revision),
            (format!("crash/{n:08}"), *rev)
        );
    }
}
