//! Access keys: long-term keys (`AKIA...`) for the administrator and IAM
//! users, and temporary credentials (`ASIA...` with a session token and
//! an expiry), kept in one JSON file with mode 0600 that is replaced
//! atomically on every change.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use dockyard_types::ErrorKind;
use serde::{Deserialize, Serialize};

use crate::identity::{CredentialSource, Principal, Secret};

/// AWS lets an IAM user have at most two access keys.
pub const MAX_KEYS_PER_USER: usize = 2;
/// The longest temporary credentials may live (AWS's limit for
/// `GetSessionToken`).
pub const MAX_SESSION_TTL: Duration = Duration::hours(36);
/// Expired sessions are kept this long so requests still get "expired"
/// rather than "invalid"; then they are dropped on the next change.
const EXPIRED_SESSION_RETENTION: Duration = Duration::hours(1);

const KEY_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("access key {0} not found")]
    NotFound(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("user {user} already has {MAX_KEYS_PER_USER} access keys")]
    LimitExceeded { user: String },
    #[error("key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

impl KeyError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Self::LimitExceeded { .. } => ErrorKind::Conflict,
            Self::Io { .. } | Self::Corrupt { .. } | Self::Random(_) => ErrorKind::Internal,
        }
    }
}

/// A long-term access key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The IAM user the key belongs to; `None` for the administrator
    /// (account root) key.
    pub user: Option<String>,
    pub principal: Principal,
    pub created: DateTime<Utc>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("user", &self.user)
            .field("principal", &self.principal)
            .field("created", &self.created)
            .finish()
    }
}

/// Temporary credentials, as STS and the container credentials endpoint
/// hand them out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
    pub principal: Principal,
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KeyFile {
    /// The key id of the administrator key, once created.
    admin: Option<String>,
    keys: Vec<AccessKey>,
    sessions: Vec<SessionCredentials>,
}

/// The file-backed store of access keys. One process owns the file; the
/// in-memory copy is only updated after the file write succeeded.
pub struct KeyStore {
    path: PathBuf,
    account: String,
    state: Mutex<KeyFile>,
    /// Every key and session by id, rebuilt on each change: what request
    /// verification reads, without the writers' lock or a scan.
    lookup: RwLock<HashMap<String, Secret>>,
}

/// The secrets of `file` by access key id.
fn lookup(file: &KeyFile) -> HashMap<String, Secret> {
    let keys = file.keys.iter().map(|k| {
        (
            k.access_key_id.clone(),
            Secret {
                secret_access_key: k.secret_access_key.clone(),
                session_token: None,
                expires: None,
                principal: k.principal.clone(),
            },
        )
    });
    let sessions = file.sessions.iter().map(|s| {
        (
            s.access_key_id.clone(),
            Secret {
                secret_access_key: s.secret_access_key.clone(),
                session_token: Some(s.session_token.clone()),
                expires: Some(s.expiration),
                principal: s.principal.clone(),
            },
        )
    });
    // A session never shares an id with a key; were it to, the key wins,
    // as it did when keys were searched first.
    sessions.chain(keys).collect()
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Opens (or prepares to create) the key file at `path` for `account`.
    /// An existing file has its mode tightened to 0600.
    pub fn open(path: impl Into<PathBuf>, account: &str) -> Result<Self, KeyError> {
        let path = path.into();
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        let state = match fs::read(&path) {
            Ok(bytes) => {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io)?;
                serde_json::from_slice(&bytes).map_err(|source| KeyError::Corrupt {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeyFile::default(),
            Err(e) => return Err(io(e)),
        };
        Ok(Self {
            path,
            account: account.to_string(),
            lookup: RwLock::new(lookup(&state)),
            state: Mutex::new(state),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn lock(&self) -> MutexGuard<'_, KeyFile> {
        // The state is replaced only after a successful write, so a panic
        // while holding the lock cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The administrator (account root) key, created and saved on the
    /// first call; later calls, in this or a later process, return the
    /// same key.
    pub fn ensure_admin(&self, now: DateTime<Utc>) -> Result<AccessKey, KeyError> {
        let mut state = self.lock();
        if let Some(key) = state
            .admin
            .as_ref()
            .and_then(|id| state.keys.iter().find(|k| &k.access_key_id == id))
        {
            return Ok(key.clone());
        }
        let key = AccessKey {
            access_key_id: new_key_id("AKIA")?,
            secret_access_key: random_string(40, SECRET_ALPHABET)?,
            user: None,
            principal: Principal::root(&self.account),
            created: now,
        };
        let mut next = state.clone();
        next.admin = Some(key.access_key_id.clone());
        next.keys.push(key.clone());
        self.commit(&mut state, next)?;
        Ok(key)
    }

    /// A new key for IAM user `user`.
    pub fn create(&self, user: &str, now: DateTime<Utc>) -> Result<AccessKey, KeyError> {
        validate_user_name(user)?;
        let mut state = self.lock();
        let count = state
            .keys
            .iter()
            .filter(|k| k.user.as_deref() == Some(user))
            .count();
        if count >= MAX_KEYS_PER_USER {
            return Err(KeyError::LimitExceeded {
                user: user.to_string(),
            });
        }
        let key = AccessKey {
            access_key_id: new_key_id("AKIA")?,
            secret_access_key: random_string(40, SECRET_ALPHABET)?,
            user: Some(user.to_string()),
            principal: Principal::user(&self.account, user),
            created: now,
        };
        let mut next = state.clone();
        next.keys.push(key.clone());
        self.commit(&mut state, next)?;
        Ok(key)
    }

    /// Deletes a long-term key or revokes temporary credentials.
    pub fn delete(&self, access_key_id: &str) -> Result<(), KeyError> {
        let mut state = self.lock();
        let mut next = state.clone();
        let before = next.keys.len() + next.sessions.len();
        next.keys.retain(|k| k.access_key_id != access_key_id);
        next.sessions.retain(|s| s.access_key_id != access_key_id);
        if next.keys.len() + next.sessions.len() == before {
            return Err(KeyError::NotFound(access_key_id.to_string()));
        }
        if next.admin.as_deref() == Some(access_key_id) {
            next.admin = None;
        }
        self.commit(&mut state, next)
    }

    /// Long-term keys, oldest first. These include the secrets: callers
    /// decide what to show.
    pub fn list(&self) -> Vec<AccessKey> {
        let mut keys = self.lock().keys.clone();
        keys.sort_by(|a, b| (a.created, &a.access_key_id).cmp(&(b.created, &b.access_key_id)));
        keys
    }

    pub fn get(&self, access_key_id: &str) -> Option<AccessKey> {
        self.lock()
            .keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)
            .cloned()
    }

    /// Issues temporary credentials acting as `principal`, valid for `ttl`
    /// from `now`. Sessions that expired long enough ago are dropped.
    pub fn issue_session(
        &self,
        principal: Principal,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<SessionCredentials, KeyError> {
        if ttl <= Duration::zero() || ttl > MAX_SESSION_TTL {
            return Err(KeyError::InvalidArgument(format!(
                "session duration {}s is outside 1..={}s",
                ttl.num_seconds(),
                MAX_SESSION_TTL.num_seconds()
            )));
        }
        let session = SessionCredentials {
            access_key_id: new_key_id("ASIA")?,
            secret_access_key: random_string(40, SECRET_ALPHABET)?,
            session_token: new_session_token()?,
            expiration: now + ttl,
            principal,
        };
        let mut state = self.lock();
        let mut next = state.clone();
        next.sessions
            .retain(|s| s.expiration + EXPIRED_SESSION_RETENTION > now);
        next.sessions.push(session.clone());
        self.commit(&mut state, next)?;
        Ok(session)
    }

    /// Writes `next` to the file, then makes it the in-memory state.
    fn commit(&self, state: &mut KeyFile, next: KeyFile) -> Result<(), KeyError> {
        let bytes = serde_json::to_vec_pretty(&next).map_err(|source| KeyError::Corrupt {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes).map_err(|source| KeyError::Io {
            path: self.path.clone(),
            source,
        })?;
        *self.lookup.write().unwrap_or_else(|e| e.into_inner()) = lookup(&next);
        *state = next;
        Ok(())
    }
}

impl CredentialSource for KeyStore {
    fn secret_for(&self, access_key_id: &str) -> Option<Secret> {
        self.lookup
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(access_key_id)
            .cloned()
    }
}

/// Writes to a temporary file created with mode 0600 in the same
/// directory, syncs it and renames it over `path`, so a crash leaves the
/// old or the new file, never a torn or world-readable one.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keys".to_string());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode above only applies to a newly created file.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn validate_user_name(user: &str) -> Result<(), KeyError> {
    // IAM's rule for user names: 1-64 of letters, digits and `+=,.@_-`.
    let ok = !user.is_empty()
        && user.len() <= 64
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidArgument(format!(
            "user name {user:?} must be 1-64 letters, digits or +=,.@_-"
        )))
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>, KeyError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(buf)
}

/// `len` characters drawn uniformly from `alphabet` (rejection sampling,
/// so no character is more likely than another).
fn random_string(len: usize, alphabet: &[u8]) -> Result<String, KeyError> {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2)? {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

fn new_key_id(prefix: &str) -> Result<String, KeyError> {
    Ok(format!("{prefix}{}", random_string(16, KEY_ID_ALPHABET)?))
}

fn new_session_token() -> Result<String, KeyError> {
    Ok(base64::engine::general_purpose::STANDARD.encode(random_bytes(192)?))
}

#[cfg(test)]
mod tests;
