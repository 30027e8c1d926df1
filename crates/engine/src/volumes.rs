//! Named volumes: directories the engine owns under `DATA/volumes/NAME/_data`
//! (Docker's layout), created on first use and kept until removed. ECS
//! task-scoped volumes are named volumes the agent removes when the task
//! ends.

use std::path::{Path, PathBuf};

use crate::error::EngineError;

/// The named volumes of one engine.
#[derive(Debug, Clone)]
pub struct Volumes {
    root: PathBuf,
}

/// Docker's rule for volume names.
pub fn validate_volume_name(name: &str) -> Result<(), EngineError> {
    if crate::spec::docker_name_ok(name, 255) {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host directory, use an absolute path"
        )))
    }
}

impl Volumes {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The host directory behind a volume.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// The volume's directory, created when missing.
    pub fn ensure(&self, name: &str) -> Result<PathBuf, EngineError> {
        validate_volume_name(name)?;
        let p = self.path(name);
        std::fs::create_dir_all(&p).map_err(EngineError::io(format!("creating volume {name}")))?;
        Ok(p)
    }

    /// Every volume's name, sorted.
    pub fn list(&self) -> Result<Vec<String>, EngineError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(EngineError::io("listing volumes")(e)),
        };
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("_data").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Removes a volume and its data; a missing one is not an error.
    pub fn remove(&self, name: &str) -> Result<(), EngineError> {
        validate_volume_name(name)?;
        let dir = self.root.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::io(format!("removing volume {name}"))(e)),
        }
    }

    /// Whether `p` lies inside a named volume.
    pub fn contains(&self, p: &Path) -> bool {
        p.starts_with(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_listed_and_removed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v = Volumes::new(tmp.path().join("volumes"));
        assert!(v.list().expect("empty").is_empty());
        let p = v.ensure("data-1").expect("ensure");
        assert!(p.is_dir() && v.contains(&p));
        std::fs::write(p.join("f"), "x").expect("write");
        assert_eq!(v.ensure("data-1").expect("again"), p);
        assert_eq!(std::fs::read_to_string(p.join("f")).expect("kept"), "x");
        v.ensure("other").expect("other");
        assert_eq!(v.list().expect("list"), ["data-1", "other"]);
        v.remove("data-1").expect("rm");
        v.remove("data-1").expect("rm again");
        assert_eq!(v.list().expect("list"), ["other"]);
        for bad in ["../x", "a/b", "-x", "x", ""] {
            assert!(v.ensure(bad).is_err(), "{bad}");
        }
    }
}
