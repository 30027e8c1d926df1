//! The registry's keys in the state store, all under `registry/`:
//!
//! | key | value |
//! | --- | --- |
//! | `registry/catalog/<name>` | the repository (created time) |
//! | `registry/repos/<name>/_tags/<tag>` | the tagged manifest digest |
//! | `registry/repos/<name>/_manifests/<digest>` | media type, size, push and pull times, subject, artifact type, referenced blobs and children |
//! | `registry/repos/<name>/_links/<digest>` | a blob uploaded to or mounted into the repository |
//! | `registry/repos/<name>/_referrers/<subject>/<digest>` | the referrer's descriptor |
//! | `registry/blobs/<digest>` | one per stored blob: live or being deleted, and when it was last touched |
//! | `registry/uploads/<id>` | an upload session: repository, ingest id, times |
//!
//! The `_` before the kind keeps repositories apart: a name component
//! cannot start with `_`, so the prefix `registry/repos/team/_tags/` never
//! matches the keys of `team/app`.

use dockyard_image::Digest;

pub const ROOT: &str = "registry/";
pub const CATALOG: &str = "registry/catalog/";
pub const REPOS: &str = "registry/repos/";
pub const BLOBS: &str = "registry/blobs/";
pub const UPLOADS: &str = "registry/uploads/";

pub fn repo(name: &str) -> String {
    format!("{CATALOG}{name}")
}

pub fn tags_prefix(name: &str) -> String {
    format!("{REPOS}{name}/_tags/")
}

pub fn tag(name: &str, tag: &str) -> String {
    format!("{REPOS}{name}/_tags/{tag}")
}

pub fn manifests_prefix(name: &str) -> String {
    format!("{REPOS}{name}/_manifests/")
}

pub fn manifest(name: &str, d: &Digest) -> String {
    format!("{REPOS}{name}/_manifests/{d}")
}

pub fn links_prefix(name: &str) -> String {
    format!("{REPOS}{name}/_links/")
}

pub fn link(name: &str, d: &Digest) -> String {
    format!("{REPOS}{name}/_links/{d}")
}

pub fn referrers_prefix(name: &str, subject: &Digest) -> String {
    format!("{REPOS}{name}/_referrers/{subject}/")
}

pub fn referrers_all(name: &str) -> String {
    format!("{REPOS}{name}/_referrers/")
}

pub fn referrer(name: &str, subject: &Digest, d: &Digest) -> String {
    format!("{REPOS}{name}/_referrers/{subject}/{d}")
}

pub fn blob(d: &Digest) -> String {
    format!("{BLOBS}{d}")
}

pub fn upload(id: &str) -> String {
    format!("{UPLOADS}{id}")
}

/// What a key under `registry/repos/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoKey<'a> {
    Tag { name: &'a str, tag: &'a str },
    Manifest { name: &'a str, digest: &'a str },
    Link { name: &'a str, digest: &'a str },
    Referrer { name: &'a str, rest: &'a str },
}

/// Splits a key under `registry/repos/`; `None` for anything else.
pub fn parse_repo_key(key: &str) -> Option<RepoKey<'_>> {
    let rest = key.strip_prefix(REPOS)?;
    let (name, kind) = rest.split_once("/_")?;
    let (kind, tail) = kind.split_once('/')?;
    Some(match kind {
        "tags" => RepoKey::Tag { name, tag: tail },
        "manifests" => RepoKey::Manifest { name, digest: tail },
        "links" => RepoKey::Link { name, digest: tail },
        "referrers" => RepoKey::Referrer { name, rest: tail },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_keys_round_trip() {
        let d = Digest::of(b"x");
        assert_eq!(
            parse_repo_key(&manifest("team/app", &d)),
            Some(RepoKey::Manifest {
                name: "team/app",
                digest: d.as_str()
            })
        );
        assert_eq!(
            parse_repo_key(&tag("a", "v1")),
            Some(RepoKey::Tag {
                name: "a",
                tag: "v1"
            })
        );
        assert_eq!(
            parse_repo_key(&link("a/b/c", &d)),
            Some(RepoKey::Link {
                name: "a/b/c",
                digest: d.as_str()
            })
        );
        assert!(parse_repo_key(&blob(&d)).is_none());
        assert!(!tag("team/app", "v1").starts_with(&tags_prefix("team")));
    }
}
