//! Repository names, tags and manifest references as the Distribution Spec
//! defines them.

use std::fmt;

use dockyard_image::Digest;

use crate::error::RegistryError;

/// Many clients cap `host[:port]/name` at 255 characters.
pub const MAX_NAME_LEN: usize = 255;
pub const MAX_TAG_LEN: usize = 128;

/// Whether `name` matches
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .split('/')
            .all(dockyard_image::reference::is_valid_path_component)
}

/// Whether `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    dockyard_image::reference::is_valid_tag(tag)
}

pub(crate) fn check_name(name: &str) -> Result<(), RegistryError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(RegistryError::NameInvalid(name.to_owned()))
    }
}

pub(crate) fn check_tag(tag: &str) -> Result<(), RegistryError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(RegistryError::TagInvalid(tag.to_owned()))
    }
}

/// Parses a digest from a URL or query, as the spec's `DIGEST_INVALID`.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, RegistryError> {
    Digest::parse(s).map_err(|e| RegistryError::DigestInvalid {
        value: s.to_owned(),
        reason: e.to_string(),
    })
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl ManifestRef {
    /// A reference with a `:` is a digest (tags cannot hold one).
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        if s.contains(':') {
            parse_digest(s).map(Self::Digest)
        } else {
            check_tag(s)?;
            Ok(Self::Tag(s.to_owned()))
        }
    }
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => f.write_str(t),
            Self::Digest(d) => write!(f, "{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "busybox",
            "team/app",
            "a.b_c__d-e---f/g0",
            "0/1/2/3",
            "library/ubuntu",
        ] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "team/App",
            "a/",
            "/a",
            "a//b",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "a._b",
            "_catalog",
            "a b",
            "a:b",
            "a/_tags",
            &"a".repeat(256),
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"t".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a b", &"t".repeat(129)] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn references() {
        let d = Digest::of(b"m");
        assert_eq!(
            ManifestRef::parse(d.as_str()).unwrap(),
            ManifestRef::Digest(d)
        );
        assert_eq!(
            ManifestRef::parse("v1").unwrap(),
            ManifestRef::Tag("v1".into())
        );
        assert!(matches!(
            ManifestRef::parse("sha256:abc"),
            Err(RegistryError::DigestInvalid { .. })
        ));
        assert!(matches!(
            ManifestRef::parse("-x"),
            Err(RegistryError::TagInvalid(_))
        ));
    }
}
