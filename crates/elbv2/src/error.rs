//! [`ElbError`]: every way an ELBv2 call fails, one variant per error code
//! of botocore's model (the message is AWS's wording, which clients show
//! as is), plus failures of the store behind the service. Mapped to the
//! wire in one place, `From<ElbError> for ApiError`.

use dockyard_aws::ApiError;
use dockyard_store::{ErrorKind, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ElbError {
    /// `ValidationError`: the request breaks a constraint of the model or
    /// one of ELB's rules about a single field.
    #[error("{0}")]
    Validation(String),
    /// `InvalidConfigurationRequest`: the request is well formed but the
    /// configuration it asks for cannot be had.
    #[error("{0}")]
    InvalidConfiguration(String),
    #[error("{0}")]
    LoadBalancerNotFound(String),
    #[error("{0}")]
    TargetGroupNotFound(String),
    #[error("{0}")]
    ListenerNotFound(String),
    #[error("{0}")]
    RuleNotFound(String),
    #[error("{0}")]
    DuplicateLoadBalancerName(String),
    #[error("{0}")]
    DuplicateTargetGroupName(String),
    /// `DuplicateListener`: the port is taken, by a listener of the same
    /// load balancer or (since listeners bind real ports on this host) of
    /// any other.
    #[error("{0}")]
    DuplicateListener(String),
    #[error("{0}")]
    DuplicateTagKeys(String),
    #[error("{0}")]
    PriorityInUse(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("{0}")]
    TargetGroupAssociationLimit(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("{0}")]
    IncompatibleProtocols(String),
    #[error("{0}")]
    UnsupportedProtocol(String),
    #[error("{0}")]
    InvalidLoadBalancerAction(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    #[error("{0}")]
    CertificateNotFound(String),
    #[error("{0}")]
    SslPolicyNotFound(String),
    /// One of the `TooMany*` quota codes.
    #[error("{message}")]
    Quota { code: Quota, message: String },
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("corrupt elbv2 record at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("elbv2 state kept changing under a write; try again")]
    Contention,
}

/// The quotas ELB enforces, by their error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    LoadBalancers,
    TargetGroups,
    Listeners,
    Rules,
    Targets,
    Tags,
    Actions,
    UniqueTargetGroupsPerLoadBalancer,
    Certificates,
}

impl Quota {
    pub fn code(self) -> &'static str {
        match self {
            Self::LoadBalancers => "TooManyLoadBalancers",
            Self::TargetGroups => "TooManyTargetGroups",
            Self::Listeners => "TooManyListeners",
            Self::Rules => "TooManyRules",
            Self::Targets => "TooManyTargets",
            Self::Tags => "TooManyTags",
            Self::Actions => "TooManyActions",
            Self::UniqueTargetGroupsPerLoadBalancer => "TooManyUniqueTargetGroupsPerLoadBalancer",
            Self::Certificates => "TooManyCertificates",
        }
    }
}

impl ElbError {
    /// The error code on the wire (the model's `error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationError",
            Self::InvalidConfiguration(_) => "InvalidConfigurationRequest",
            Self::LoadBalancerNotFound(_) => "LoadBalancerNotFound",
            Self::TargetGroupNotFound(_) => "TargetGroupNotFound",
            Self::ListenerNotFound(_) => "ListenerNotFound",
            Self::RuleNotFound(_) => "RuleNotFound",
            Self::DuplicateLoadBalancerName(_) => "DuplicateLoadBalancerName",
            Self::DuplicateTargetGroupName(_) => "DuplicateTargetGroupName",
            Self::DuplicateListener(_) => "DuplicateListener",
            Self::DuplicateTagKeys(_) => "DuplicateTagKeys",
            Self::PriorityInUse(_) => "PriorityInUse",
            Self::ResourceInUse(_) => "ResourceInUse",
            Self::TargetGroupAssociationLimit(_) => "TargetGroupAssociationLimit",
            Self::InvalidTarget(_) => "InvalidTarget",
            Self::IncompatibleProtocols(_) => "IncompatibleProtocols",
            Self::UnsupportedProtocol(_) => "UnsupportedProtocol",
            Self::InvalidLoadBalancerAction(_) => "InvalidLoadBalancerAction",
            Self::OperationNotPermitted(_) => "OperationNotPermitted",
            Self::CertificateNotFound(_) => "CertificateNotFound",
            Self::SslPolicyNotFound(_) => "SSLPolicyNotFound",
            Self::Quota { code, .. } => code.code(),
            Self::Store(_) | Self::Corrupt { .. } | Self::Contention => "InternalFailure",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::LoadBalancerNotFound(_)
            | Self::TargetGroupNotFound(_)
            | Self::ListenerNotFound(_)
            | Self::RuleNotFound(_)
            | Self::CertificateNotFound(_)
            | Self::SslPolicyNotFound(_) => ErrorKind::NotFound,
            Self::DuplicateLoadBalancerName(_)
            | Self::DuplicateTargetGroupName(_)
            | Self::DuplicateListener(_) => ErrorKind::AlreadyExists,
            Self::Validation(_)
            | Self::DuplicateTagKeys(_)
            | Self::InvalidTarget(_)
            | Self::IncompatibleProtocols(_)
            | Self::UnsupportedProtocol(_)
            | Self::InvalidLoadBalancerAction(_) => ErrorKind::InvalidArgument,
            Self::InvalidConfiguration(_)
            | Self::PriorityInUse(_)
            | Self::ResourceInUse(_)
            | Self::TargetGroupAssociationLimit(_)
            | Self::OperationNotPermitted(_)
            | Self::Quota { .. }
            | Self::Contention => ErrorKind::Conflict,
            Self::Store(e) => e.kind(),
            Self::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn quota(code: Quota, message: impl Into<String>) -> Self {
        Self::Quota {
            code,
            message: message.into(),
        }
    }

    /// AWS's wording for a member that breaks a constraint of the model;
    /// `field` is the member's name as AWS spells it in these messages
    /// (lower camel case).
    pub(crate) fn constraint(field: &str, value: impl std::fmt::Display, rule: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy \
             constraint: {rule}"
        ))
    }

    /// AWS's wording for a required member that is absent.
    pub(crate) fn missing(field: &str) -> Self {
        Self::Validation(format!(
            "1 validation error detected: Value null at '{field}' failed to satisfy \
             constraint: Member must not be null"
        ))
    }

    /// A value outside an enumeration of the model.
    pub(crate) fn not_in_enum(field: &str, value: &str, allowed: &[&str]) -> Self {
        Self::constraint(
            field,
            value,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )
    }

    pub(crate) fn is_server_fault(&self) -> bool {
        matches!(
            self,
            Self::Store(_) | Self::Corrupt { .. } | Self::Contention
        )
    }
}

impl From<ElbError> for ApiError {
    fn from(e: ElbError) -> Self {
        if e.is_server_fault() {
            tracing::error!(error = %e, "elbv2 state failure");
            return ApiError::server(e.code(), e.to_string());
        }
        ApiError::client(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_kinds_and_wire() {
        let e = ElbError::PriorityInUse("Priority '10' is currently in use".into());
        assert_eq!(e.code(), "PriorityInUse");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        let api = ApiError::from(e);
        assert_eq!((api.code.as_str(), api.status), ("PriorityInUse", 400));
        let q = ElbError::quota(Quota::Rules, "too many");
        assert_eq!(q.code(), "TooManyRules");
        let s = ApiError::from(ElbError::Store(StoreError::Unavailable("down".into())));
        assert_eq!((s.code.as_str(), s.status), ("InternalFailure", 500));
        assert_eq!(
            ElbError::not_in_enum("type", "x", &["application", "network"]).to_string(),
            "1 validation error detected: Value 'x' at 'type' failed to satisfy constraint: \
             Member must satisfy enum value set: [application, network]"
        );
        assert_eq!(
            ElbError::ListenerNotFound("x".into()).kind(),
            ErrorKind::NotFound
        );
    }
}
