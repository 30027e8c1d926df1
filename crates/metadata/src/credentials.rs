//! Task role credentials: the JSON the SDKs' container credential provider
//! reads, and a table that hands each task only its own.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::RwLock;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Temporary credentials of a task's IAM role.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub role_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
}

// Secrets must not reach logs through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("role_arn", &self.role_arn)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// The body of `GET /v2/credentials/<id>`, field names as the ECS agent's
/// `IAMRoleCredentials`.
pub fn render_credentials(c: &Credentials) -> Value {
    json!({
        "RoleArn": c.role_arn,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key,
        "Token": c.session_token,
        "Expiration": c.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// What a credentials lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsLookup {
    Found(Credentials),
    /// No credentials have this id.
    NotFound,
    /// The id is known but its credentials have not arrived yet; the
    /// caller should retry.
    Pending,
    /// The credentials belong to a task the caller is not.
    Forbidden,
}

/// Who may read a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedCallers {
    /// Anyone who knows the id: for tasks sharing the node's addresses
    /// (`host` network mode), where the source address says nothing.
    Any,
    /// Only connections from these addresses: the task's own.
    Only(Vec<IpAddr>),
}

impl AllowedCallers {
    pub fn admits(&self, peer: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Only(ips) => {
                let peer = peer.to_canonical();
                ips.iter().any(|ip| ip.to_canonical() == peer)
            }
        }
    }
}

enum Entry {
    Pending,
    Ready(Credentials, AllowedCallers),
}

/// Credentials by id, each with who may read it. A node agent keeps one
/// and answers [`crate::MetadataSource::credentials`] from it.
#[derive(Default)]
pub struct CredentialsTable {
    entries: RwLock<HashMap<String, Entry>>,
}

impl CredentialsTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `id` will have credentials, so that callers get "retry"
    /// rather than "no such id" until they arrive.
    pub fn expect(&self, id: impl Into<String>) {
        let mut m = self.write();
        m.entry(id.into()).or_insert(Entry::Pending);
    }

    /// Sets (or refreshes) the credentials for `id`.
    pub fn insert(&self, id: impl Into<String>, creds: Credentials, callers: AllowedCallers) {
        self.write().insert(id.into(), Entry::Ready(creds, callers));
    }

    /// Forgets `id`; true if it was known.
    pub fn remove(&self, id: &str) -> bool {
        self.write().remove(id).is_some()
    }

    pub fn lookup(&self, id: &str, peer: IpAddr) -> CredentialsLookup {
        let m = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match m.get(id) {
            None => CredentialsLookup::NotFound,
            Some(Entry::Pending) => CredentialsLookup::Pending,
            Some(Entry::Ready(c, callers)) if callers.admits(peer) => {
                CredentialsLookup::Found(c.clone())
            }
            Some(Entry::Ready(..)) => CredentialsLookup::Forbidden,
        }
    }

    // A panic elsewhere cannot leave a map insert half done, so a
    // poisoned lock still guards consistent data.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone;

    fn creds() -> Credentials {
        Credentials {
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret/key".into(),
            session_token: "token==".into(),
            expiration: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn renders_the_agents_field_names() {
        assert_eq!(
            render_credentials(&creds()),
            json!({
                "RoleArn": "arn:aws:iam::123456789012:role/app",
                "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "secret/key",
                "Token": "token==",
                "Expiration": "2026-11-22T12:00:00Z",
            })
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let s = format!("{:?}", creds());
        assert!(s.contains("ASIAEXAMPLE"));
        assert!(!s.contains("secret/key"));
        assert!(!s.contains("token=="));
    }

    #[test]
    fn a_task_reads_only_its_own_credentials() {
        let t = CredentialsTable::new();
        t.insert(
            "task-a",
            creds(),
            AllowedCallers::Only(vec![ip("10.0.0.5")]),
        );
        assert_eq!(
            t.lookup("task-a", ip("10.0.0.5")),
            CredentialsLookup::Found(creds())
        );
        assert_eq!(
            t.lookup("task-a", ip("10.0.0.6")),
            CredentialsLookup::Forbidden
        );
        // A dual-stack listener sees IPv4 callers as mapped addresses.
        assert_eq!(
            t.lookup("task-a", ip("::ffff:10.0.0.5")),
            CredentialsLookup::Found(creds())
        );
        assert_eq!(
            t.lookup("nope", ip("10.0.0.5")),
            CredentialsLookup::NotFound
        );
    }

    #[test]
    fn host_mode_tasks_need_only_the_id() {
        let t = CredentialsTable::new();
        t.insert("host-task", creds(), AllowedCallers::Any);
        assert!(matches!(
            t.lookup("host-task", ip("192.168.1.1")),
            CredentialsLookup::Found(_)
        ));
    }

    #[test]
    fn expected_ids_are_pending_until_set_and_gone_after_remove() {
        let t = CredentialsTable::new();
        t.expect("x");
        assert_eq!(t.lookup("x", ip("10.0.0.1")), CredentialsLookup::Pending);
        t.insert("x", creds(), AllowedCallers::Any);
        // Expecting again must not drop credentials already there.
        t.expect("x");
        assert!(matches!(
            t.lookup("x", ip("10.0.0.1")),
            CredentialsLookup::Found(_)
        ));
        assert!(t.remove("x"));
        assert!(!t.remove("x"));
        assert_eq!(t.lookup("x", ip("10.0.0.1")), CredentialsLookup::NotFound);
    }
}
