//! The endpoint a node agent serves to containers at
//! `http://169.254.170.2`, as the ECS container agent does:
//!
//! - task metadata v4 (and v3): `/v4/<token>`, `/task`, `/taskWithTags`,
//!   `/stats`, `/task/stats`, where the token (one per container) comes
//!   from `ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/<token>`;
//! - task role credentials: `/v2/credentials/<id>` (and
//!   `/v1/credentials?id=<id>`), from
//!   `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>`.
//!
//! The agent implements [`MetadataSource`] over its state (keeping
//! credentials in a [`CredentialsTable`]) and runs [`serve`] on a listener
//! that containers reach with their own source addresses. The JSON follows
//! the ECS agent's Go structs: the `render_*` functions can be used on
//! their own.

mod answer;
mod credentials;
mod meta;
mod render;
mod route;
mod server;
mod source;
mod stats;
#[cfg(test)]
mod testing;
mod wire;

pub use credentials::*;
pub use meta::*;
pub use render::{ApiVersion, render_container, render_task};
pub use server::serve;
pub use source::*;
pub use stats::*;
