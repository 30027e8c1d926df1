//! The one error type of this crate.

use dockyard_types::ErrorKind;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScanError {
    /// A layer could not be read as a (compressed) tar stream; `index` is
    /// its zero-based position, lowest layer first.
    #[error("layer {index}: {source}")]
    Layer {
        index: usize,
        #[source]
        source: std::io::Error,
    },
    /// A layer entry we refuse to hold in memory.
    #[error("layer {index}: {path}: {reason}")]
    LayerEntry {
        index: usize,
        path: String,
        reason: String,
    },
    /// The vulnerability feed is malformed; `location` names the entry
    /// (index and id when known) or the line.
    #[error("vulnerability feed: {location}: {reason}")]
    Feed { location: String, reason: String },
}

impl ScanError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Layer { .. } | Self::LayerEntry { .. } | Self::Feed { .. } => {
                ErrorKind::InvalidArgument
            }
        }
    }
}
