//! Telling how a layer blob is compressed.

use super::UnpackError;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// What a layer media type declares, `None` when it does not say.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let mt = media_type.trim();
        if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
            Some(Self::Gzip)
        } else if mt.ends_with("+zstd") {
            Some(Self::Zstd)
        } else if mt.ends_with(".tar") {
            Some(Self::None)
        } else {
            None
        }
    }

    /// What the first bytes of a blob say.
    pub fn sniff(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Chooses the decompressor. Magic bytes win when they name a compression
/// (a tar header cannot start with them in practice, and mislabelled
/// layers exist); a media type that promises compression the bytes do not
/// show is an error, and an unknown media type falls back to the bytes.
pub(super) fn decide(media_type: &str, magic: &[u8]) -> Result<Compression, UnpackError> {
    if media_type.contains("+encrypted") {
        return Err(UnpackError::Compression {
            media_type: media_type.into(),
            reason: "encrypted layers are not supported".into(),
        });
    }
    let sniffed = Compression::sniff(magic);
    match Compression::from_media_type(media_type) {
        Some(declared) if declared != Compression::None && sniffed == Compression::None => {
            Err(UnpackError::Compression {
                media_type: media_type.into(),
                reason: format!("the blob does not start with {declared:?} magic bytes"),
            })
        }
        _ => Ok(sniffed),
    }
}
