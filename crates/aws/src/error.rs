//! The error every AWS operation answers with, in the wire protocol's
//! terms: a code (the modelled exception name), a message and an HTTP
//! status.

/// Which AWS wire protocol a request speaks; decides how errors look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// JSON 1.0/1.1 with `X-Amz-Target` (ECS, ECR, Logs...).
    Json,
    /// Query with XML replies (ELBv2, IAM, STS...).
    Query,
    /// Smithy RPC v2 CBOR (CloudWatch, as newer SDKs speak it); answers
    /// authentication failures as the JSON protocol does.
    Cbor,
}

/// Who is at fault, as the Query protocol's `<Type>` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Sender,
    Receiver,
}

/// An error as it goes on the wire. Services build these from their own
/// error kinds in one place each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ApiError {
    /// The modelled exception name, e.g. `ClusterNotFoundException`.
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>, status: u16) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// A 400: the caller sent something wrong.
    pub fn client(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, message, 400)
    }

    /// A 500: the service failed.
    pub fn server(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, message, 500)
    }

    /// JSON services' answer to an operation they do not know.
    pub fn unknown_operation(operation: &str) -> Self {
        Self::client(
            "UnknownOperationException",
            format!("operation {operation} is not supported by this service"),
        )
    }

    /// Query services' answer to an action (or version) they do not know.
    pub fn invalid_action(action: &str, version: &str) -> Self {
        Self::client(
            "InvalidAction",
            format!("Could not find operation {action} for version {version}"),
        )
    }

    pub fn fault(&self) -> Fault {
        if self.status >= 500 {
            Fault::Receiver
        } else {
            Fault::Sender
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_follows_status() {
        assert_eq!(ApiError::client("A", "b").fault(), Fault::Sender);
        assert_eq!(ApiError::new("A", "b", 403).fault(), Fault::Sender);
        assert_eq!(ApiError::server("A", "b").fault(), Fault::Receiver);
        assert_eq!(ApiError::new("A", "b", 503).fault(), Fault::Receiver);
        assert_eq!(ApiError::client("A", "b").status, 400);
        assert_eq!(ApiError::server("A", "b").status, 500);
    }
}
