//! ECS task definitions: the model in ECS's JSON shape, the checks
//! `RegisterTaskDefinition` makes (with ECS's exception names and, where
//! known, its wording), what ECS derives at registration
//! (`compatibilities`, `requiresAttributes`, defaults), and RunTask
//! overrides. Pure: ids and times are passed in.

mod attributes;
mod decode;
mod model;
mod overrides;
mod size;
mod validate;

#[cfg(test)]
mod tests;

pub use attributes::{fargate_problem, required_attributes};
pub use model::*;
pub use overrides::{ContainerOverride, TaskOverride, effective, validate_overrides};
pub use size::{FARGATE_SIZES, fargate_memory_for, is_fargate_size, parse_cpu, parse_memory};
pub use validate::{Registration, Tag, validate_registration};

use dockyard_types::ErrorKind;

/// A check that failed: ECS's exception name (`ClientException`,
/// `InvalidParameterException`, `SerializationException`) and its message,
/// worded as ECS words it rather than in Dockyard's lower case, since it
/// goes to AWS clients as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ValidationError {
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn client(message: impl Into<String>) -> Self {
        Self {
            code: "ClientException",
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "InvalidParameterException",
            message: message.into(),
        }
    }

    /// Always a malformed request.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}
