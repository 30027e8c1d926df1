use dockyard_types::ErrorKind;

/// Why a policy document was refused. Every variant is the caller's
/// mistake, so [`PolicyError::kind`] is always `InvalidArgument`; the
/// message names the statement (1-based index, and Sid when it has one)
/// and the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid json: {0}")]
    Json(String),
    /// A fault outside any statement (top-level elements, Version).
    #[error("policy: {0}")]
    Document(String),
    #[error("{}: {message}", statement_label(*.index, .sid.as_deref()))]
    Statement {
        /// 1-based position of the statement in the document.
        index: usize,
        sid: Option<String>,
        message: String,
    },
}

impl PolicyError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

fn statement_label(index: usize, sid: Option<&str>) -> String {
    match sid {
        Some(sid) if !sid.is_empty() => format!("statement {index} (Sid {sid:?})"),
        _ => format!("statement {index}"),
    }
}
