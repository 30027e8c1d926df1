//! ECR's error answers, built in one place: AWS's exception names and
//! message wording, and the mapping from registry errors.

use dockyard_aws::ApiError;
use dockyard_registry::RegistryError;
use dockyard_registry::error::ErrorKind;

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

/// ECR's wording for a field that breaks its constraint.
pub(crate) fn invalid_field(field: &str, constraint: impl std::fmt::Display) -> ApiError {
    invalid(format!(
        "Invalid parameter at '{field}' failed to satisfy constraint: '{constraint}'"
    ))
}

pub(crate) fn repo_not_found(name: &str, registry_id: &str) -> ApiError {
    ApiError::client(
        "RepositoryNotFoundException",
        format!(
            "The repository with name '{name}' does not exist in the registry with id '{registry_id}'"
        ),
    )
}

pub(crate) fn server(message: impl std::fmt::Display) -> ApiError {
    ApiError::server("ServerException", message.to_string())
}

/// A registry failure the operation has no more specific answer for.
pub(crate) fn from_registry(e: RegistryError, registry_id: &str) -> ApiError {
    match e {
        RegistryError::NameUnknown(name) => repo_not_found(&name, registry_id),
        RegistryError::NameInvalid(_) => invalid_field("repositoryName", "must be a valid name"),
        RegistryError::TagImmutable { name, tag } => ApiError::client(
            "ImageTagAlreadyExistsException",
            format!(
                "The image tag '{tag}' already exists in the '{name}' repository and cannot be overwritten because the tag is immutable."
            ),
        ),
        RegistryError::Busy(m) => ApiError::client("LimitExceededException", m),
        e if e.kind() == ErrorKind::InvalidArgument => invalid(e.to_string()),
        e => server(e),
    }
}
