//! Errors of the runtime driver, each with a kind the callers map.

use thiserror::Error;

pub use dockyard_types::ErrorKind;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container {0} already exists")]
    AlreadyExists(String),
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    #[error("container {id} is {state}: {what}")]
    WrongState {
        id: String,
        state: String,
        what: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("container {id}: {message}")]
    Create { id: String, message: String },
    #[error("{0}")]
    Internal(String),
}

impl RuntimeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Self::InvalidConfig(_) => ErrorKind::InvalidArgument,
            Self::WrongState { .. } => ErrorKind::Conflict,
            Self::Io { .. } | Self::Create { .. } | Self::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
