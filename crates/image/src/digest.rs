//! Content digests: `sha256:<64 lowercase hex>`, the only algorithm we
//! accept (as Docker and every registry we talk to use it).

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::error::ErrorKind;

const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A validated `sha256:<hex>` content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

#[derive(Debug, Error)]
pub enum DigestError {
    #[error("invalid digest {value:?}: {reason}")]
    Invalid { value: String, reason: &'static str },
}

impl DigestError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`; anything else is an error.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let invalid = |reason| DigestError::Invalid {
            value: s.to_owned(),
            reason,
        };
        let Some((algo, hex)) = s.split_once(':') else {
            return Err(invalid("expected algorithm:hex"));
        };
        if algo != "sha256" {
            return Err(invalid("only sha256 is supported"));
        }
        if hex.len() != HEX_LEN {
            return Err(invalid("a sha256 digest has 64 hex characters"));
        }
        if !is_lower_hex(hex) {
            return Err(invalid("a digest is lowercase hexadecimal"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds a digest from its 64 hex characters (as in a blob's file name).
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        Self::parse(&format!("{PREFIX}{hex}"))
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    fn from_hasher(h: Sha256) -> Self {
        Self(format!("{PREFIX}{}", hex::encode(h.finalize())))
    }

    /// `sha256`.
    pub fn algorithm(&self) -> &str {
        "sha256"
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// The first 12 hex characters, as `docker images` shows ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `s` is a non-empty run of lowercase hex digits.
pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256, for content that streams through.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> Digest {
        Digest::from_hasher(self.0)
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (so trailing padding is hashed too) and
    /// returns the digest and length of everything.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((self.hasher.finish(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn of_and_display() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d.hex().len(), 64);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::parse(EMPTY).expect("valid"), d);
        assert_eq!(Digest::from_hex(d.hex()).expect("valid"), d);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:../../../../etc/passwd/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            let e = Digest::parse(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().contains("invalid digest"), "{e}");
        }
    }

    #[test]
    fn serde_as_string() {
        let d = Digest::of(b"x");
        let j = serde_json::to_string(&d).expect("serialize");
        assert_eq!(j, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&j).expect("deserialize");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn hashing_reader_hashes_everything() {
        let data = vec![7u8; 100_000];
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 10];
        r.read_exact(&mut first).expect("read");
        let (d, n) = r.finish().expect("finish");
        assert_eq!(n, 100_000);
        assert_eq!(d, Digest::of(&data));
    }
}
