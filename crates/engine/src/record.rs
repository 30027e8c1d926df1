//! Container records: the engine's view of a container (name, image,
//! request, network), one JSON file each, changed under a file lock so
//! names stay unique across processes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use dockyard_net::{Attachment, NetworkMode};

use crate::error::EngineError;
use crate::spec::RunSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (config digest).
    pub image_id: String,
    pub created: String,
    /// The argv the container runs.
    pub args: Vec<String>,
    pub spec: RunSpec,
    pub network: NetworkMode,
    pub stop_signal: Option<String>,
    pub attachment: Option<Attachment>,
}

pub struct Records {
    dir: PathBuf,
    lock: PathBuf,
}

struct Lock(File);

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: unlocking an fd we own.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Records {
    pub fn open(root: &Path) -> Result<Self, EngineError> {
        let dir = root.join("containers");
        fs::create_dir_all(&dir).map_err(EngineError::io(format!("creating {}", dir.display())))?;
        Ok(Self {
            dir,
            lock: root.join("lock"),
        })
    }

    fn lock(&self) -> Result<Lock, EngineError> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(EngineError::io(format!("opening {}", self.lock.display())))?;
        loop {
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(EngineError::Io {
                    context: "locking container records".into(),
                    source: e,
                });
            }
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes a record atomically (rename; not fsynced, as the containers it
    /// names do not outlive a machine crash).
    pub fn write(&self, r: &ContainerRecord) -> Result<(), EngineError> {
        let path = self.path(&r.id);
        let tmp = path.with_extension("tmp");
        let bytes =
            serde_json::to_vec_pretty(r).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let mut f =
            File::create(&tmp).map_err(EngineError::io(format!("writing {}", tmp.display())))?;
        f.write_all(&bytes)
            .map_err(EngineError::io(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(EngineError::io(format!("renaming {}", path.display())))
    }

    /// Inserts a new record built by `make`, which is told whether a name
    /// is taken; fails if the record's name is already in use.
    pub fn insert(
        &self,
        make: impl FnOnce(&dyn Fn(&str) -> bool) -> Result<ContainerRecord, EngineError>,
    ) -> Result<ContainerRecord, EngineError> {
        let _g = self.lock()?;
        let existing = self.list()?;
        let taken = |n: &str| existing.iter().any(|r| r.name == n);
        let r = make(&taken)?;
        if let Some(other) = existing.iter().find(|o| o.name == r.name) {
            return Err(EngineError::NameInUse {
                name: r.name,
                id: other.id.clone(),
            });
        }
        self.write(&r)?;
        Ok(r)
    }

    pub fn remove(&self, id: &str) -> Result<(), EngineError> {
        let _g = self.lock()?;
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::Io {
                context: format!("removing record of {id}"),
                source: e,
            }),
        }
    }

    pub fn get(&self, id: &str) -> Result<ContainerRecord, EngineError> {
        let b =
            fs::read(self.path(id)).map_err(|_| EngineError::NoSuchContainer(id.to_string()))?;
        serde_json::from_slice(&b)
            .map_err(|e| EngineError::Invalid(format!("corrupt record of container {id}: {e}")))
    }

    pub fn list(&self) -> Result<Vec<ContainerRecord>, EngineError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir)
            .map_err(EngineError::io(format!("listing {}", self.dir.display())))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json")
                && let Ok(r) = self.get(id)
            {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// By exact name, full id, or a unique prefix of the id.
    pub fn resolve(&self, key: &str) -> Result<ContainerRecord, EngineError> {
        let key = key.strip_prefix('/').unwrap_or(key);
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.name == key || r.id == key) {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> = if key.is_empty() {
            Vec::new()
        } else {
            all.iter().filter(|r| r.id.starts_with(key)).collect()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::NoSuchContainer(key.to_string())),
            _ => Err(EngineError::Conflict(format!(
                "multiple containers match the id prefix {key}; give more of it"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            created: "t".into(),
            args: vec!["sh".into()],
            spec: RunSpec::default(),
            network: NetworkMode::None,
            stop_signal: None,
            attachment: None,
        }
    }

    #[test]
    fn names_are_unique_and_lookups_work() {
        let t = tempfile::tempdir().expect("tempdir");
        let r = Records::open(t.path()).expect("open");
        r.insert(|_| Ok(rec("abc123", "web"))).expect("insert");
        r.insert(|_| Ok(rec("abd456", "db"))).expect("insert");
        let e = r.insert(|taken| {
            assert!(taken("web"));
            Ok(rec("xyz", "web"))
        });
        assert!(matches!(e, Err(EngineError::NameInUse { .. })));
        assert_eq!(r.resolve("web").expect("by name").id, "abc123");
        assert_eq!(r.resolve("abd").expect("by prefix").name, "db");
        assert!(matches!(r.resolve("ab"), Err(EngineError::Conflict(_))));
        assert!(matches!(
            r.resolve("zzz"),
            Err(EngineError::NoSuchContainer(_))
        ));
        r.remove("abc123").expect("remove");
        assert!(r.resolve("web").is_err());
        assert_eq!(r.list().expect("list").len(), 1);
    }
}
