//! The node's image store: content-addressed blobs, image records, layers
//! unpacked into overlayfs-ready snapshots, and the ways images arrive and
//! leave (pull from a registry, load and save archives).
//!
//! Everything is synchronous, as the CLI is; [`ImageStore::pull`] runs its
//! network transfer on a private current-thread tokio runtime, so async
//! callers run it inside `spawn_blocking`.
//!
//! The parts, each with its lifecycle documented on it:
//! - [`content`]: the [`ContentStore`] trait (ingest -> [`BlobWriter`] ->
//!   `commit(expected digest, size)` -> readable) and [`FsContentStore`];
//!   the registry shares the trait;
//! - [`mod@reference`]: Docker-style references and their normalisation;
//! - [`ImageStore`]: records, references, `resolve`, `tag`, `remove` with
//!   garbage collection, `rootfs_layers` (snapshots, unpacked once per
//!   chain id), `load`, `save` and `pull`;
//! - [`unpack`]: applying a layer tar safely, with overlayfs whiteouts.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod content;
pub mod digest;
pub mod error;
mod load;
pub mod manifest;
mod meta;
pub mod pull;
pub mod reference;
mod save;
mod snapshot;
mod store;
#[cfg(test)]
mod testutil;
pub mod unpack;

pub use content::{BlobWriter, ContentError, ContentStore, FsContentStore, ReadSeek};
pub use digest::{Digest, DigestError};
pub use error::{ErrorKind, ImageError};
pub use meta::{ImageConfig, ImageRecord, LayerRecord, chain_ids};
pub use pull::{PullError, PullEvent, RegistryAuth};
pub use reference::{Reference, ReferenceError};
pub use store::ImageStore;
pub use unpack::UnpackError;
