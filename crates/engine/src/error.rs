//! Engine errors, each with a kind the CLI turns into a message and an
//! exit code.

use thiserror::Error;

pub use dockyard_types::ErrorKind;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the container name \"{name}\" is already in use by container \"{id}\"; remove or rename that container to reuse the name"
    )]
    NameInUse { name: String, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Image(#[from] dockyard_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] dockyard_runtime::RuntimeError),
    #[error(transparent)]
    Net(#[from] dockyard_net::NetError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchContainer(_) => ErrorKind::NotFound,
            Self::Invalid(_) => ErrorKind::InvalidArgument,
            Self::NameInUse { .. } => ErrorKind::AlreadyExists,
            Self::Conflict(_) => ErrorKind::Conflict,
            Self::Image(e) => e.kind(),
            Self::Runtime(e) => e.kind(),
            Self::Net(e) => e.kind(),
            Self::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
