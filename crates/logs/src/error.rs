//! Errors: [`LogsError`] for storage failures, and CloudWatch Logs' wire
//! errors (exception names and AWS's wording) built in one place.

use std::path::PathBuf;

use dockyard_aws::ApiError;
use dockyard_store::{ErrorKind, StoreError};

/// A failure of the storage behind the service.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("log file i/o at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("corrupt log metadata at key {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

impl LogsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io { .. } | Self::Corrupt { .. } => ErrorKind::Internal,
            Self::Store(e) => e.kind(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<LogsError> for ApiError {
    fn from(e: LogsError) -> Self {
        tracing::error!(error = %e, "cloudwatch logs storage failure");
        ApiError::server("ServiceUnavailableException", e.to_string())
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

/// AWS's wording for a member that breaks a constraint of the model.
pub(crate) fn constraint(field: &str, value: impl std::fmt::Display, rule: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
    ))
}

/// AWS's wording for a required member that is absent.
pub(crate) fn missing(field: &str) -> ApiError {
    invalid(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

pub(crate) fn group_not_found() -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

pub(crate) fn stream_not_found() -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
}

pub(crate) fn group_exists() -> ApiError {
    ApiError::client(
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
    )
}

pub(crate) fn stream_exists() -> ApiError {
    ApiError::client(
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
    )
}

pub(crate) fn bad_token() -> ApiError {
    invalid("The specified nextToken is invalid.")
}
