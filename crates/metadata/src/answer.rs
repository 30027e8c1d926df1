//! The answer to each endpoint, status and body as the ECS agent gives
//! them, computed from a [`MetadataSource`] with no HTTP involved.

use std::net::IpAddr;

use http::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{CredentialsLookup, render_credentials};
use crate::render::{ApiVersion, render_container, render_task};
use crate::route::{CredentialsApi, Endpoint};
use crate::source::{MetadataSource, SourceError};
use crate::stats::{render_stats, render_task_stats};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    /// The agent's metadata errors are a bare JSON string.
    fn message(status: StatusCode, message: String) -> Self {
        Self {
            status,
            body: Value::String(message),
        }
    }
}

pub(crate) fn answer(source: &dyn MetadataSource, endpoint: &Endpoint, peer: IpAddr) -> Reply {
    match endpoint {
        Endpoint::Container { version, token } => match source.container(token) {
            Some(c) => Reply::ok(render_container(&c, *version)),
            None => not_found(*version, "container metadata", token, Missing::DockerId),
        },
        Endpoint::Task {
            version,
            token,
            with_tags,
        } => match source.task(token) {
            Some(t) => Reply::ok(render_task(&t, *version, *with_tags)),
            None => not_found(*version, "task metadata", token, Missing::TaskArn),
        },
        Endpoint::ContainerStats { version, token } => match source.container_stats(token) {
            Ok(s) => Reply::ok(render_stats(&s, *version)),
            Err(e) => stats_error(*version, "container", token, &e),
        },
        Endpoint::TaskStats { version, token } => match source.task_stats(token) {
            Ok(s) => Reply::ok(render_task_stats(&s, *version)),
            Err(e) => stats_error(*version, "task", token, &e),
        },
        Endpoint::Credentials { api, id } => credentials(source, *api, id, peer),
    }
}

enum Missing {
    DockerId,
    TaskArn,
}

fn not_found(version: ApiVersion, handler: &str, token: &str, missing: Missing) -> Reply {
    let v = match version {
        ApiVersion::V3 => "V3",
        ApiVersion::V4 => "V4",
    };
    let reason = match missing {
        Missing::DockerId => {
            "unable to get container ID from request: unable to get docker ID from v3 endpoint ID"
        }
        Missing::TaskArn => {
            "unable to get task arn from request: unable to get task Arn from v3 endpoint ID"
        }
    };
    Reply::message(
        StatusCode::NOT_FOUND,
        format!("{v} {handler} handler: {reason}: {token}"),
    )
}

fn stats_error(version: ApiVersion, of: &str, token: &str, e: &SourceError) -> Reply {
    match e {
        SourceError::UnknownToken(_) => {
            not_found(version, &format!("{of} stats"), token, Missing::TaskArn)
        }
        SourceError::Stats { target, reason } => {
            tracing::warn!(
                token,
                target,
                reason,
                "metadata endpoint: reading {of} stats failed"
            );
            Reply::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Unable to get {of} stats for: {target}"),
            )
        }
    }
}

fn credentials(source: &dyn MetadataSource, api: CredentialsApi, id: &str, peer: IpAddr) -> Reply {
    let prefix = match api {
        CredentialsApi::V1 => "CredentialsV1Request",
        CredentialsApi::V2 => "CredentialsV2Request",
    };
    let error = |status: StatusCode, code: &str, text: &str| Reply {
        status,
        // The agent's ErrorMessage struct has an untagged HTTPErrorCode
        // field, which Go marshals too.
        body: json!({
            "code": code,
            "message": format!("{prefix}: {text}"),
            "HTTPErrorCode": status.as_u16(),
        }),
    };
    if id.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "NoIdInRequest",
            "No Credential ID in the request",
        );
    }
    match source.credentials(id, peer) {
        CredentialsLookup::Found(c) => {
            tracing::info!(%peer, role = %c.role_arn, "metadata endpoint: served task credentials");
            Reply::ok(render_credentials(&c))
        }
        CredentialsLookup::Pending => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "CredentialsUninitialized",
            "Credentials uninitialized for ID",
        ),
        // Answered like an unknown id, so another task cannot learn that
        // an id it guessed or saw is live.
        CredentialsLookup::Forbidden => {
            tracing::warn!(%peer, "metadata endpoint: credentials asked for by another task");
            invalid_id(error)
        }
        CredentialsLookup::NotFound => invalid_id(error),
    }
}

fn invalid_id(error: impl Fn(StatusCode, &str, &str) -> Reply) -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidIdInRequest",
        "Credentials not found",
    )
}

#[cfg(test)]
mod tests;
