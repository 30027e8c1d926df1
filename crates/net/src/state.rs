//! Attachment records on disk: one JSON file per attachment under
//! `state_dir/attachments/`, written atomically, mutated only while holding
//! an exclusive `flock` on `state_dir/lock` (which serialises processes as
//! well as threads, since every holder opens the file anew).
//!
//! A record is written before any resource is made for it and removed only
//! after all of them are gone, so after a crash the records are a complete
//! list of what may need cleaning up. The records are also the IP leases.
//!
//! A detached bridge attachment whose veth pair the kernel is still
//! deleting (it goes with the namespace, asynchronously) moves to
//! `state_dir/releasing/`: no longer an attachment, still a lease, so its
//! address (and the MAC made from it) is not handed out while the old pair
//! exists.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::{Attachment, NetError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// False until every resource of the attachment exists; a record left
    /// incomplete means an attach crashed or is still running.
    pub complete: bool,
    pub attachment: Attachment,
    /// When a detach left the veth pair to the kernel (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<u64>,
}

pub(crate) struct StateDir {
    root: PathBuf,
}

/// Proof that the state lock is held; released on drop.
pub(crate) struct Locked(#[allow(dead_code)] Flock<File>);

/// An exclusive `flock` on `path`, created if missing. Blocks until free.
pub(crate) fn lock_file(path: &Path) -> Result<Flock<File>, NetError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(NetError::io(format!("creating {}", dir.display())))?;
    }
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(NetError::io(format!(
            "opening lock file {}",
            path.display()
        )))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::errno(format!("locking {}", path.display()))(e))
}

impl StateDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("attachments")
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir().join(format!("{id}.json"))
    }

    fn releasing_dir(&self) -> PathBuf {
        self.root.join("releasing")
    }

    pub fn lock(&self) -> Result<Locked, NetError> {
        Ok(Locked(lock_file(&self.root.join("lock"))?))
    }

    /// Readers need no lock: records are replaced by rename, so a reader
    /// sees either the old or the new file, never half of one.
    pub fn read(&self, id: &str) -> Result<Option<Record>, NetError> {
        read_record(&self.path(id))
    }

    pub fn list(&self) -> Result<Vec<Record>, NetError> {
        list_dir(&self.dir())
    }

    /// Records of detached attachments whose veth pair is still going.
    pub fn releasing(&self) -> Result<Vec<Record>, NetError> {
        list_dir(&self.releasing_dir())
    }

    /// Moves `rec` from the attachments to the releasing records.
    pub fn mark_releasing(&self, lock: &Locked, rec: &Record) -> Result<(), NetError> {
        let dir = self.releasing_dir();
        write_at(&dir, &dir.join(format!("{}.json", rec.attachment.id)), rec)?;
        self.remove(lock, &rec.attachment.id)
    }

    /// Forgets a releasing record: its pair is gone, and so is its lease.
    pub fn remove_releasing(&self, _lock: &Locked, id: &str) -> Result<(), NetError> {
        let path = self.releasing_dir().join(format!("{id}.json"));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io(format!("removing {}", path.display()))(e)),
        }
    }
}

fn list_dir(dir: &Path) -> Result<Vec<Record>, NetError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetError::io(format!("listing {}", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(NetError::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        if let Some(r) = read_record(&entry.path())? {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.attachment.id.cmp(&b.attachment.id));
    Ok(out)
}

impl StateDir {
    /// Addresses leased: those of attachments and of releasing records.
    pub fn used_ips(&self, _lock: &Locked) -> Result<HashSet<Ipv4Addr>, NetError> {
        Ok(self
            .list()?
            .into_iter()
            .chain(self.releasing()?)
            .filter_map(|r| r.attachment.ip)
            .collect())
    }

    pub fn write(&self, _lock: &Locked, rec: &Record) -> Result<(), NetError> {
        write_at(&self.dir(), &self.path(&rec.attachment.id), rec)
    }

    pub fn remove(&self, _lock: &Locked, id: &str) -> Result<(), NetError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io(format!("removing {}", path.display()))(e)),
        }
    }
}

/// Writes `rec` to `path` in `dir` atomically (a temporary file, renamed).
fn write_at(dir: &Path, path: &Path, rec: &Record) -> Result<(), NetError> {
    fs::create_dir_all(dir).map_err(NetError::io(format!("creating {}", dir.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let body = serde_json::to_vec_pretty(rec).map_err(|source| NetError::Record {
        path: path.to_path_buf(),
        source,
    })?;
    let what = format!("writing {}", path.display());
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(NetError::io(what.clone()))?;
    // Atomic (rename) but not fsynced: what a record describes (netns,
    // veth, rules) does not outlive a machine crash either, and the page
    // cache survives a crash of the process.
    f.write_all(&body).map_err(NetError::io(what.clone()))?;
    fs::rename(&tmp, path).map_err(NetError::io(what))
}

fn read_record(path: &Path) -> Result<Option<Record>, NetError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| NetError::Record {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io(format!("reading {}", path.display()))(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::NetworkMode;

    fn rec(id: &str, ip: Option<Ipv4Addr>) -> Record {
        Record {
            complete: false,
            released_at: None,
            attachment: Attachment {
                id: id.into(),
                mode: NetworkMode::Bridge,
                netns: None,
                ip,
                prefix_len: 24,
                gateway: None,
                mac: None,
                host_veth: None,
                ports: vec![],
            },
        }
    }

    #[test]
    fn write_read_list_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let s = StateDir::new(tmp.path());
        assert!(s.list().unwrap().is_empty());
        let l = s.lock().unwrap();
        s.write(&l, &rec("b", Some(Ipv4Addr::new(10, 0, 0, 3))))
            .unwrap();
        s.write(&l, &rec("a", Some(Ipv4Addr::new(10, 0, 0, 2))))
            .unwrap();
        s.write(&l, &rec("h", None)).unwrap();
        let ids: Vec<_> = s
            .list()
            .unwrap()
            .into_iter()
            .map(|r| r.attachment.id)
            .collect();
        assert_eq!(ids, ["a", "b", "h"]);
        assert_eq!(s.used_ips(&l).unwrap().len(), 2);
        let mut r = s.read("a").unwrap().unwrap();
        r.complete = true;
        s.write(&l, &r).unwrap();
        assert!(s.read("a").unwrap().unwrap().complete);
        s.remove(&l, "a").unwrap();
        s.remove(&l, "a").unwrap();
        assert!(s.read("a").unwrap().is_none());
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(tmp.path().join("attachments"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn corrupt_record_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("attachments")).unwrap();
        fs::write(tmp.path().join("attachments/x.json"), b"{nope").unwrap();
        let e = StateDir::new(tmp.path()).read("x").unwrap_err();
        assert!(e.to_string().contains("attachments/x.json"), "{e}");
    }

    #[test]
    fn lock_excludes_other_holders() {
        let tmp = tempfile::tempdir().unwrap();
        let s = StateDir::new(tmp.path());
        let held = s.lock().unwrap();
        // A second open file description must not get the lock while held.
        let f = OpenOptions::new()
            .write(true)
            .open(tmp.path().join("lock"))
            .unwrap();
        let (f, _) = Flock::lock(f, FlockArg::LockExclusiveNonblock).unwrap_err();
        drop(held);
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok());
    }
}
