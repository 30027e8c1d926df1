//! The crate's error kinds and the error of [`ImageStore`](crate::ImageStore)
//! operations, which wraps the errors of the lower modules.

use thiserror::Error;

use crate::content::ContentError;
use crate::digest::DigestError;
use crate::pull::PullError;
use crate::reference::ReferenceError;
use crate::unpack::UnpackError;

pub use dockyard_types::ErrorKind;

/// The error of an [`ImageStore`](crate::ImageStore) operation.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error("image not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A manifest, config or archive that does not make a usable image.
    #[error("invalid image {what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Digest(e) => e.kind(),
            Self::Reference(e) => e.kind(),
            Self::Content(e) => e.kind(),
            Self::Unpack(e) => e.kind(),
            Self::Pull(e) => e.kind(),
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::InvalidArgument(_) | Self::Invalid { .. } => ErrorKind::InvalidArgument,
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
