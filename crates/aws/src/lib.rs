//! The AWS front door: every AWS API Dockyard serves comes through here.
//! It verifies SigV4 signatures ([`sigv4`]), decodes the JSON 1.1
//! ([`json`]) and Query ([`query`]) protocols, encodes replies and
//! errors in AWS's shapes, and routes requests to services ([`router`]).
//! Access keys live in [`keys`].
//!
//! It is independent of any HTTP server: it takes `http` request parts
//! and a complete body, and returns an owned [`Response`].

pub mod cbor;
pub mod error;
pub mod identity;
pub mod input;
pub mod json;
pub mod keys;
pub mod query;
pub mod request;
pub mod response;
pub mod router;
pub mod sigv4;

pub use error::{ApiError, Fault, Protocol};
pub use identity::{CredentialSource, Principal, PrincipalKind, Secret};
pub use request::RequestView;
pub use response::{Response, new_request_id};
pub use router::{CallContext, FrontDoor, JsonService, MAX_BODY_BYTES, QueryService};

#[cfg(test)]
pub(crate) mod testing;
