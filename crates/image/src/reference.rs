//! Image references as Docker writes them (`busybox`, `busybox:1.36`,
//! `127.0.0.1:4566/team/app:v1`, `name@sha256:...`), validated against the
//! OCI distribution grammar and normalised the way Docker does
//! (`busybox` -> `docker.io/library/busybox`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use thiserror::Error;

use crate::digest::{Digest, is_lower_hex};
use crate::error::ErrorKind;

/// The registry of names without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error("invalid reference {reference:?}: {reason}")]
    Invalid { reference: String, reason: String },
}

impl ReferenceError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl Reference {
    /// Parses and normalises a reference. A reference without tag or digest
    /// keeps none; see [`with_default_tag`](Self::with_default_tag).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::Invalid {
            reference: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() {
            return Err(invalid("empty reference"));
        }
        let (rest, digest) = match s.rsplit_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|e| invalid(&e.to_string()))?),
            ),
            None => (s, None),
        };
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(c) if last_slash.is_none_or(|sl| c > sl) => (&rest[..c], Some(&rest[c + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !is_valid_tag(t)
        {
            return Err(invalid(
                "a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        let (domain, remainder) = match name.split_once('/') {
            Some((first, rest)) if looks_like_domain(first) => (first, rest),
            _ => (DEFAULT_DOMAIN, name),
        };
        if !is_valid_domain(domain) {
            return Err(invalid("the registry must be host[:port]"));
        }
        let domain = if domain == LEGACY_DEFAULT_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        if remainder.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("repository name must be lowercase"));
        }
        if remainder.is_empty() || !remainder.split('/').all(is_valid_path_component) {
            return Err(invalid(
                "a repository name is '/'-separated components of [a-z0-9] joined by '.', '_', '__' or '-'",
            ));
        }
        if remainder.len() == 64 && is_lower_hex(remainder) {
            return Err(invalid(
                "a repository name cannot be a 64-character hexadecimal string",
            ));
        }
        let path = if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{remainder}")
        } else {
            remainder.to_owned()
        };
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        Ok(Self {
            domain: domain.to_owned(),
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The same reference with tag `latest` when it has neither tag nor
    /// digest, as `docker pull busybox` means `busybox:latest`.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::Invalid {
                reference: tag.to_owned(),
                reason: "invalid tag".into(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository pinned to a digest, without tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The registry, `host[:port]`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `domain/path`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name Docker shows (`busybox`, `user/app`, `host:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(short) if !short.contains('/') => short.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The whole reference in Docker's short form (`busybox:latest`,
    /// `127.0.0.1:4566/hello:latest`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`,
    /// `[::1]`), where we talk plain HTTP as Docker does.
    pub fn is_loopback_registry(&self) -> bool {
        let host = match self.domain.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => self.domain.split(':').next().unwrap_or_default(),
        };
        host.eq_ignore_ascii_case("localhost")
            || host == "::1"
            || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Reference {
    /// The full normalised form, `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Docker's rule: the first component names a registry when it has a '.'
/// or ':' (or capitals, which no repository may have), or is `localhost`.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// `[\w][\w.-]{0,127}`
/// Whether `t` matches the distribution spec's tag grammar
/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// Whether `c` is one repository path component:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn is_valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > sep_start);
    }
}

/// `host[:port]`, host being DNS-like components or a bracketed IPv6.
fn is_valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(v6) = d.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        Reference::parse(s).expect(s).with_default_tag().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            norm("index.docker.io/library/busybox:1"),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            norm("127.0.0.1:4566/team/app:v1"),
            "127.0.0.1:4566/team/app:v1"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("[::1]:5000/a/b"), "[::1]:5000/a/b:latest");
        assert_eq!(norm("ghcr.io/o/r"), "ghcr.io/o/r:latest");
        assert_eq!(
            norm(&format!("busybox@{D}")),
            format!("docker.io/library/busybox@{D}")
        );
        assert_eq!(
            norm(&format!("127.0.0.1:4566/app:v2@{D}")),
            format!("127.0.0.1:4566/app:v2@{D}")
        );
        assert_eq!(
            norm("a__b-c---d/x.y_z"),
            "docker.io/a__b-c---d/x.y_z:latest"
        );
    }

    #[test]
    fn parts() {
        let r = Reference::parse(&format!("127.0.0.1:4566/team/app:v1@{D}")).expect("parse");
        assert_eq!(r.domain(), "127.0.0.1:4566");
        assert_eq!(r.path(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest().map(Digest::as_str), Some(D));
        assert_eq!(r.name(), "127.0.0.1:4566/team/app");
        let bare = Reference::parse("busybox").expect("parse");
        assert_eq!(bare.tag(), None);
        assert_eq!(bare.with_default_tag().tag(), Some("latest"));
        let pinned = Reference::parse(&format!("busybox@{D}")).expect("parse");
        assert_eq!(
            pinned.clone().with_default_tag(),
            pinned,
            "a digest needs no default tag"
        );
    }

    #[test]
    fn familiar_forms() {
        let f = |s: &str| Reference::parse(s).expect(s).with_default_tag().familiar();
        assert_eq!(f("docker.io/library/busybox:latest"), "busybox:latest");
        assert_eq!(f("busybox"), "busybox:latest");
        assert_eq!(f("docker.io/user/app:1"), "user/app:1");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(f("127.0.0.1:4566/hello"), "127.0.0.1:4566/hello:latest");
        assert_eq!(f(&format!("busybox@{D}")), format!("busybox@{D}"));
    }

    #[test]
    fn rejects_invalid_names() {
        let long_tag = "t".repeat(129);
        let long_name = format!("a/{}", "b".repeat(260));
        for bad in [
            "",
            "Busybox",
            "docker.io/Library/busybox",
            "busybox:",
            "busybox:.x",
            "busybox:-x",
            "busybox:a/b",
            &format!("busybox:{long_tag}"),
            &long_name,
            "busy..box",
            "busy.-box",
            "-busybox",
            "busybox-",
            "a//b",
            "/busybox",
            "busybox/",
            "ex ample",
            "busybox@sha256:abc",
            "busybox@md5:d41d8cd98f00b204e9800998ecf8427e",
            "host:port/app",
            "-host.com/app",
            "[zz]/app",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            let e = Reference::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().starts_with("invalid reference"), "{e}");
        }
        assert!(Reference::parse(&format!("busybox:{}", "t".repeat(128))).is_ok());
        assert!(Reference::parse("busybox:V1_x.y-z").is_ok());
    }

    #[test]
    fn loopback_registries() {
        let lo = |s: &str| Reference::parse(s).expect(s).is_loopback_registry();
        assert!(lo("127.0.0.1:4566/hello"));
        assert!(lo("127.1.2.3/hello"));
        assert!(lo("localhost/hello"));
        assert!(lo("localhost:5000/hello"));
        assert!(lo("[::1]:5000/hello"));
        assert!(lo("[::1]/hello"));
        assert!(!lo("busybox"));
        assert!(!lo("128.0.0.1:4566/hello"));
        assert!(!lo("ghcr.io/x/y"));
        assert!(!lo("localhost.example.com/x"));
    }
}
