use dockyard_types::ErrorKind;

/// Why a lifecycle policy text was refused.
///
/// The wording follows ECR's own (`Lifecycle policy validation failure:
/// ...`, in JSON-schema phrasing where ECR uses it) because the ECR API
/// hands it back to AWS clients inside an `InvalidParameterException`;
/// that is why it starts with a capital letter, unlike Dockyard's other
/// error messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The text breaks ECR's schema or one of its policy-wide rules.
    #[error("Lifecycle policy validation failure: {0}")]
    Invalid(String),
    /// The text uses a newer ECR feature (archive storage, pull-time
    /// counts, transitions) that Dockyard does not implement.
    #[error("Lifecycle policy validation failure: {0} is not supported by Dockyard yet")]
    Unsupported(String),
}

impl LifecycleError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
