//! Log groups and streams: their metadata in the state store, mirrored in
//! memory (this service is the only writer of `logs/`), and each stream's
//! files.
//!
//! Store keys: `logs/groups/ACCOUNT/GROUP` and
//! `logs/streams/ACCOUNT/GROUP:STREAM` (group names cannot hold `:`, so a
//! group's streams are exactly the keys under `.../GROUP:`). A group's or
//! stream's id is the revision that created its key; files live under
//! `DIR/GROUP_ID/STREAM_ID/`.
//!
//! Lock order: the group map, a group's stream map, a group's metadata,
//! a stream's files.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use dockyard_store::{Compare, Op, Store, StoreExt, Txn};

use crate::disk::{self, DaySource, FileStats, StreamFiles};
use crate::error::LogsError;

pub(crate) const GROUPS: &str = "logs/groups/";
pub(crate) const STREAMS: &str = "logs/streams/";

fn group_key(account: &str, name: &str) -> String {
    format!("{GROUPS}{account}/{name}")
}

fn streams_prefix(account: &str, group: &str) -> String {
    format!("{STREAMS}{account}/{group}:")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupMeta {
    pub account: String,
    pub name: String,
    pub creation_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub log_group_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamMeta {
    account: String,
    group: String,
    name: String,
    creation_time: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct Group {
    pub id: u64,
    pub account: String,
    pub name: String,
    dir: PathBuf,
    /// The metadata and the `mod_revision` of its key.
    meta: Mutex<(GroupMeta, u64)>,
    streams: RwLock<Streams>,
}

#[derive(Default)]
struct Streams {
    deleted: bool,
    map: BTreeMap<String, Arc<Stream>>,
}

pub(crate) struct Stream {
    pub id: u64,
    pub name: String,
    pub creation_time: i64,
    files: Mutex<StreamData>,
}

struct StreamData {
    deleted: bool,
    files: StreamFiles,
}

/// What a call on a stream found.
pub(crate) enum Outcome<T> {
    Done(T),
    /// The group or stream went away meanwhile.
    Gone,
}

impl Stream {
    pub fn stats(&self) -> FileStats {
        lock(&self.files).files.stats()
    }

    /// Appends events (sorted by timestamp) durably; the first one's
    /// sequence number.
    pub fn append(&self, events: &[(i64, &str)], now: i64) -> Result<Outcome<u64>, LogsError> {
        let mut d = lock(&self.files);
        if d.deleted {
            return Ok(Outcome::Gone);
        }
        let dir = d.files_dir();
        d.files
            .append(events, now)
            .map(Outcome::Done)
            .map_err(|e| LogsError::io(dir, e))
    }

    /// Deletes days that end at or before `cutoff`.
    pub fn expire(&self, cutoff: i64) -> Result<usize, LogsError> {
        let mut d = lock(&self.files);
        if d.deleted {
            return Ok(0);
        }
        let dir = d.files_dir();
        d.files.expire(cutoff).map_err(|e| LogsError::io(dir, e))
    }
}

impl StreamData {
    fn files_dir(&self) -> PathBuf {
        self.files.dir_path().to_path_buf()
    }
}

impl DaySource for Stream {
    fn days(&self) -> io::Result<Vec<i64>> {
        let d = lock(&self.files);
        Ok(if d.deleted {
            Vec::new()
        } else {
            d.files.days()
        })
    }

    fn open_day(&self, day: i64) -> io::Result<Vec<disk::reader::RunReader>> {
        let d = lock(&self.files);
        if d.deleted {
            return Ok(Vec::new());
        }
        d.files.open_day(day)
    }
}

impl Group {
    pub fn meta(&self) -> GroupMeta {
        lock(&self.meta).0.clone()
    }

    pub fn stream(&self, name: &str) -> Option<Arc<Stream>> {
        self.read_streams().map.get(name).cloned()
    }

    /// Every stream, by name.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.read_streams().map.values().cloned().collect()
    }

    fn read_streams(&self) -> std::sync::RwLockReadGuard<'_, Streams> {
        self.streams.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_streams(&self) -> std::sync::RwLockWriteGuard<'_, Streams> {
        self.streams.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stored_bytes(&self) -> u64 {
        self.streams().iter().map(|s| s.stats().bytes).sum()
    }
}

pub(crate) struct State {
    store: Arc<dyn Store>,
    dir: PathBuf,
    groups: RwLock<BTreeMap<(String, String), Arc<Group>>>,
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Result<T, LogsError> {
    serde_json::from_slice(value).map_err(|e| LogsError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Plain structs of strings, numbers and string maps always serialise.
    serde_json::to_vec(v).unwrap_or_default()
}

impl State {
    /// Loads every group and stream from the store, recovers their files,
    /// and deletes directories no stream owns (left by a crash between a
    /// store delete and the file removal).
    pub fn load(store: Arc<dyn Store>, dir: PathBuf) -> Result<State, LogsError> {
        fs::create_dir_all(&dir).map_err(|e| LogsError::io(&dir, e))?;
        let mut groups = BTreeMap::new();
        let mut by_key: BTreeMap<(String, String), Arc<Group>> = BTreeMap::new();
        for kv in store.list(GROUPS)? {
            let meta: GroupMeta = decode(&kv.key, &kv.value)?;
            let id = kv.create_revision;
            let g = Arc::new(Group {
                id,
                account: meta.account.clone(),
                name: meta.name.clone(),
                dir: dir.join(id.to_string()),
                meta: Mutex::new((meta, kv.mod_revision)),
                streams: RwLock::new(Streams::default()),
            });
            by_key.insert((g.account.clone(), g.name.clone()), g);
        }
        for kv in store.list(STREAMS)? {
            let meta: StreamMeta = decode(&kv.key, &kv.value)?;
            let Some(g) = by_key.get(&(meta.account.clone(), meta.group.clone())) else {
                tracing::warn!(key = %kv.key, "log stream without its group; ignoring it");
                continue;
            };
            let sdir = g.dir.join(kv.create_revision.to_string());
            let files = StreamFiles::load(sdir.clone()).map_err(|e| LogsError::io(sdir, e))?;
            let s = Arc::new(Stream {
                id: kv.create_revision,
                name: meta.name.clone(),
                creation_time: meta.creation_time,
                files: Mutex::new(StreamData {
                    deleted: false,
                    files,
                }),
            });
            g.write_streams().map.insert(meta.name, s);
        }
        for (k, g) in by_key {
            groups.insert(k, g);
        }
        let state = State {
            store,
            dir,
            groups: RwLock::new(groups),
        };
        state.remove_orphans()?;
        Ok(state)
    }

    fn remove_orphans(&self) -> Result<(), LogsError> {
        let groups: BTreeMap<u64, HashSet<u64>> = self
            .all_groups()
            .iter()
            .map(|g| (g.id, g.streams().iter().map(|s| s.id).collect()))
            .collect();
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| LogsError::io(p, e)
        };
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let Some(gid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            match groups.get(&gid) {
                None => {
                    tracing::info!(path = %path.display(), "removing files of a deleted log group");
                    fs::remove_dir_all(&path).map_err(io(&path))?;
                }
                Some(streams) => {
                    for s in fs::read_dir(&path).map_err(io(&path))? {
                        let s = s.map_err(io(&path))?;
                        let known = s
                            .file_name()
                            .to_str()
                            .and_then(|n| n.parse::<u64>().ok())
                            .is_none_or(|sid| streams.contains(&sid));
                        if !known {
                            tracing::info!(path = %s.path().display(), "removing files of a deleted log stream");
                            fs::remove_dir_all(s.path()).map_err(io(&s.path()))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn read_groups(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<(String, String), Arc<Group>>> {
        self.groups.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn group(&self, account: &str, name: &str) -> Option<Arc<Group>> {
        self.read_groups()
            .get(&(account.to_string(), name.to_string()))
            .cloned()
    }

    /// An account's groups, by name.
    pub fn groups_of(&self, account: &str) -> Vec<Arc<Group>> {
        self.read_groups()
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, g)| g.clone())
            .collect()
    }

    pub fn all_groups(&self) -> Vec<Arc<Group>> {
        self.read_groups().values().cloned().collect()
    }

    /// Creates a group; `false` if it exists.
    pub fn create_group(&self, meta: GroupMeta) -> Result<bool, LogsError> {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        let k = (meta.account.clone(), meta.name.clone());
        if groups.contains_key(&k) {
            return Ok(false);
        }
        let key = group_key(&meta.account, &meta.name);
        let Some(rev) = self.store.create(&key, encode(&meta))? else {
            return Ok(false);
        };
        let g = Arc::new(Group {
            id: rev,
            account: meta.account.clone(),
            name: meta.name.clone(),
            dir: self.dir.join(rev.to_string()),
            meta: Mutex::new((meta, rev)),
            streams: RwLock::new(Streams::default()),
        });
        groups.insert(k, g);
        Ok(true)
    }

    /// Deletes a group, its streams and their files; `false` if there
    /// was no such group.
    pub fn delete_group(&self, account: &str, name: &str) -> Result<bool, LogsError> {
        let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
        let k = (account.to_string(), name.to_string());
        let Some(g) = groups.get(&k).cloned() else {
            return Ok(false);
        };
        let mut streams = g.write_streams();
        self.store.txn(Txn {
            compares: vec![],
            success: vec![
                Op::Delete {
                    key: group_key(account, name),
                },
                Op::DeletePrefix {
                    prefix: streams_prefix(account, name),
                },
            ],
            failure: vec![],
        })?;
        groups.remove(&k);
        streams.deleted = true;
        for s in streams.map.values() {
            lock(&s.files).deleted = true;
        }
        streams.map.clear();
        drop(streams);
        drop(groups);
        match fs::remove_dir_all(&g.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LogsError::io(&g.dir, e)),
            _ => Ok(true),
        }
    }

    /// Changes a group's metadata with `f`; `Gone` if the group was
    /// deleted meanwhile.
    pub fn update_group<E>(
        &self,
        g: &Group,
        f: impl FnOnce(&mut GroupMeta) -> Result<(), E>,
    ) -> Result<Outcome<Result<(), E>>, LogsError> {
        let mut meta = lock(&g.meta);
        let mut next = meta.0.clone();
        if let Err(e) = f(&mut next) {
            return Ok(Outcome::Done(Err(e)));
        }
        let key = group_key(&g.account, &g.name);
        match self.store.update(&key, meta.1, encode(&next))? {
            Some(rev) => {
                *meta = (next, rev);
                Ok(Outcome::Done(Ok(())))
            }
            None => Ok(Outcome::Gone),
        }
    }

    /// Creates a stream; `Done(false)` if it exists.
    pub fn create_stream(
        &self,
        g: &Group,
        name: &str,
        now: i64,
    ) -> Result<Outcome<bool>, LogsError> {
        let mut streams = g.write_streams();
        if streams.deleted {
            return Ok(Outcome::Gone);
        }
        if streams.map.contains_key(name) {
            return Ok(Outcome::Done(false));
        }
        let meta = StreamMeta {
            account: g.account.clone(),
            group: g.name.clone(),
            name: name.to_string(),
            creation_time: now,
        };
        let key = format!("{}{name}", streams_prefix(&g.account, &g.name));
        let r = self.store.txn(Txn {
            compares: vec![
                Compare::Exists(group_key(&g.account, &g.name)),
                Compare::Missing(key.clone()),
            ],
            success: vec![Op::Put {
                key,
                value: encode(&meta),
            }],
            failure: vec![],
        })?;
        if !r.succeeded {
            return Ok(Outcome::Done(false));
        }
        let s = Arc::new(Stream {
            id: r.revision,
            name: name.to_string(),
            creation_time: now,
            files: Mutex::new(StreamData {
                deleted: false,
                files: StreamFiles::empty(g.dir.join(r.revision.to_string())),
            }),
        });
        streams.map.insert(name.to_string(), s);
        Ok(Outcome::Done(true))
    }

    /// Deletes a stream and its files; `false` if there was none.
    pub fn delete_stream(&self, g: &Group, name: &str) -> Result<bool, LogsError> {
        let mut streams = g.write_streams();
        let Some(s) = streams.map.get(name).cloned() else {
            return Ok(false);
        };
        self.store
            .delete(&format!("{}{name}", streams_prefix(&g.account, &g.name)))?;
        streams.map.remove(name);
        drop(streams);
        let mut d = lock(&s.files);
        d.deleted = true;
        let dir = d.files_dir();
        d.files.remove_all().map_err(|e| LogsError::io(dir, e))?;
        Ok(true)
    }
}
