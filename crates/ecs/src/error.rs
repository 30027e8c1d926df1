//! ECS's error answers, in one place: AWS's exception names and wording.

use dockyard_aws::ApiError;
use dockyard_store::StoreError;

pub(crate) fn client(message: impl Into<String>) -> ApiError {
    ApiError::client("ClientException", message)
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

pub(crate) fn cluster_not_found() -> ApiError {
    ApiError::client("ClusterNotFoundException", "Cluster not found.")
}

pub(crate) fn server(message: impl std::fmt::Display) -> ApiError {
    ApiError::server("ServerException", message.to_string())
}

pub(crate) fn store(e: StoreError) -> ApiError {
    server(format!("state store: {e}"))
}

/// A record the store holds but cannot be decoded: a server fault.
pub(crate) fn corrupt(message: String) -> ApiError {
    server(message)
}
