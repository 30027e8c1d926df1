use dockyard_types::ErrorKind;

/// A placement constraint, strategy or cluster query that ECS would refuse.
///
/// The message is worded like ECS's own (capitalised, naming the offending
/// value) because the API edge hands it back to AWS clients inside an
/// `InvalidParameterException`, which is why it does not follow the
/// lower-case rule of Dockyard's other messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }

    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Why [`place`](crate::place) produced no plan at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The cluster has no registered container instance. ECS answers
    /// `RunTask` with an `InvalidParameterException` rather than with
    /// `failures` in this case.
    #[error("No Container Instances were found in your cluster.")]
    NoContainerInstances,
    /// The request breaks one of ECS's limits (too many constraints...).
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

impl PlaceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoContainerInstances => ErrorKind::InvalidArgument,
            Self::Invalid(e) => e.kind(),
        }
    }
}
