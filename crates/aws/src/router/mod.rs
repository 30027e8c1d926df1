//! The front door proper: authenticate, route to a service by protocol
//! (`X-Amz-Target` prefix for JSON, credential-scope service for Query),
//! decode, call, encode.
//!
//! Services are synchronous: the state store they work against is, and
//! a call must not wait on containers (see SKETCH.md). The HTTP server
//! runs [`FrontDoor::handle`] on a blocking thread (`spawn_blocking`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cbor;
use crate::error::{ApiError, Protocol};
use crate::identity::{CredentialSource, Principal};
use crate::json::{self, JsonVersion};
use crate::query::{self, QueryParams, XmlWriter};
use crate::request::RequestView;
use crate::response::{Response, new_request_id};
use crate::sigv4::{self, AuthError, Payload, Verified};

/// The largest request body the front door accepts: ECR's UploadLayerPart
/// carries up to 20 MiB of layer as base64 JSON.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Who is calling, and when, for one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    pub principal: Principal,
    pub access_key_id: String,
    /// The principal's account: the account every resource it names or
    /// creates belongs to.
    pub account: String,
    pub region: String,
    pub request_id: String,
    /// The time the front door received the request; services use it
    /// instead of reading a clock.
    pub now: DateTime<Utc>,
}

/// A service speaking the JSON 1.0/1.1 protocol.
pub trait JsonService: Send + Sync {
    /// The part of `X-Amz-Target` before the dot, e.g.
    /// `AmazonEC2ContainerServiceV20141113`.
    fn target_prefix(&self) -> &str;
    /// The SigV4 service name requests must be scoped to, e.g. `ecs`.
    fn signing_name(&self) -> &str;
    /// Runs one operation. Unknown operations answer
    /// [`ApiError::unknown_operation`].
    fn call(&self, ctx: &CallContext, operation: &str, input: Value) -> Result<Value, ApiError>;
    /// Whether `operation` only reads memory and answers in microseconds,
    /// so a server may run it on its I/O thread instead of handing it to a
    /// blocking pool (the hand-off costs more than such a call).
    fn is_quick(&self, _operation: &str) -> bool {
        false
    }
    /// The reply already serialised, for operations that keep their
    /// answers as JSON text (so a reply is copied, not rebuilt); `None`
    /// means the operation goes through [`call`](Self::call).
    fn call_text(
        &self,
        _ctx: &CallContext,
        _operation: &str,
        _input: &Value,
    ) -> Option<Result<Vec<u8>, ApiError>> {
        None
    }
    /// Output members that are timestamps, for the RPC v2 CBOR protocol,
    /// which tags them (JSON writes them as plain epoch seconds).
    fn timestamp_members(&self) -> &[&'static str] {
        &[]
    }
    /// The Query protocol's code for an error code, for awsQueryCompatible
    /// services (their JSON and CBOR errors carry it in
    /// `x-amzn-query-error`, which SDKs report as the error code).
    fn query_error_code(&self, _code: &str) -> Option<String> {
        None
    }
}

/// A service speaking the Query protocol with XML replies.
pub trait QueryService: Send + Sync {
    /// The SigV4 service name, e.g. `elasticloadbalancing`; Query
    /// requests carry no target, so this is what routes them.
    fn signing_name(&self) -> &str;
    /// The API version, e.g. `2015-12-01`; requests naming another
    /// version are refused.
    fn version(&self) -> &str;
    /// The XML namespace of replies, e.g.
    /// `http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/`.
    fn xmlns(&self) -> &str;
    /// Runs one action, writing the content of `<ActionResult>` to `out`.
    /// Unknown actions answer [`ApiError::invalid_action`].
    fn call(
        &self,
        ctx: &CallContext,
        action: &str,
        params: &QueryParams,
        out: &mut XmlWriter,
    ) -> Result<(), ApiError>;
}

/// Authenticates every AWS API request and hands it to its service.
pub struct FrontDoor {
    creds: Arc<dyn CredentialSource>,
    region: String,
    json: Vec<Arc<dyn JsonService>>,
    query: Vec<Arc<dyn QueryService>>,
    max_body: usize,
}

impl FrontDoor {
    pub fn new(creds: Arc<dyn CredentialSource>, region: impl Into<String>) -> Self {
        Self {
            creds,
            region: region.into(),
            json: Vec::new(),
            query: Vec::new(),
            max_body: MAX_BODY_BYTES,
        }
    }

    pub fn with_json_service(mut self, service: Arc<dyn JsonService>) -> Self {
        self.json.push(service);
        self
    }

    pub fn with_query_service(mut self, service: Arc<dyn QueryService>) -> Self {
        self.query.push(service);
        self
    }

    /// Lowers the body limit (tests, or a tighter deployment).
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Which protocol a request speaks: JSON when it has `X-Amz-Target`,
    /// Query when it is form-encoded or names an `Action` in its query
    /// string, `None` when it looks like neither (the server may route it
    /// elsewhere, or still call [`FrontDoor::handle`], which then answers
    /// in JSON).
    pub fn protocol_of(req: &RequestView<'_>) -> Option<Protocol> {
        if cbor::is_cbor(req) {
            Some(Protocol::Cbor)
        } else if req.headers.contains_key("x-amz-target") {
            Some(Protocol::Json)
        } else if query::is_form(req)
            || req.raw_query().split('&').any(|p| p.starts_with("Action="))
        {
            Some(Protocol::Query)
        } else {
            None
        }
    }

    /// Whether the request is a JSON operation its service calls quick
    /// ([`JsonService::is_quick`]): one a server may handle inline.
    pub fn is_quick(&self, req: &RequestView<'_>) -> bool {
        let Ok(target) = json::parse_target(req) else {
            return false;
        };
        self.json
            .iter()
            .find(|s| s.target_prefix() == target.prefix)
            .is_some_and(|s| s.is_quick(target.operation))
    }

    /// The reply for a body larger than [`FrontDoor::max_body`], for a
    /// server that stops reading early; `handle` gives the same reply.
    pub fn body_too_large(&self, req: RequestView<'_>, size: usize) -> Response {
        let protocol = Self::protocol_of(&req).unwrap_or(Protocol::Json);
        let code = match protocol {
            Protocol::Json | Protocol::Cbor => "RequestEntityTooLargeException",
            Protocol::Query => "RequestEntityTooLarge",
        };
        let err = ApiError::new(
            code,
            format!(
                "request body of {size} bytes exceeds the limit of {} bytes",
                self.max_body
            ),
            413,
        );
        self.render_error(&req, protocol, None, &new_request_id(), &err)
    }

    /// Handles one complete request received at `now`.
    pub fn handle(&self, req: RequestView<'_>, body: &[u8], now: DateTime<Utc>) -> Response {
        if body.len() > self.max_body {
            return self.body_too_large(req, body.len());
        }
        let request_id = new_request_id();
        let protocol = Self::protocol_of(&req).unwrap_or(Protocol::Json);
        let verified = match sigv4::verify(req, Payload::Bytes(body), self.creds.as_ref(), now) {
            Ok(v) => v,
            Err(e) => {
                let err = e.to_api_error(protocol);
                return self.render_error(&req, protocol, None, &request_id, &err);
            }
        };
        if verified.region != self.region {
            let err = AuthError::wrong_region(&verified.region).to_api_error(protocol);
            return self.render_error(&req, protocol, None, &request_id, &err);
        }
        let ctx = CallContext {
            account: verified.principal.account.clone(),
            principal: verified.principal.clone(),
            access_key_id: verified.access_key_id.clone(),
            region: verified.region.clone(),
            request_id,
            now,
        };
        match protocol {
            Protocol::Json => self.handle_json(&req, body, &verified, ctx),
            Protocol::Query => self.handle_query(&req, body, &verified, ctx),
            Protocol::Cbor => self.handle_cbor(&req, body, &verified, ctx),
        }
    }

    /// RPC v2 CBOR: the body becomes the JSON value a [`JsonService`] (found
    /// by the path's service name, its target prefix) takes, and its reply
    /// goes back as CBOR.
    fn handle_cbor(
        &self,
        req: &RequestView<'_>,
        body: &[u8],
        verified: &Verified,
        ctx: CallContext,
    ) -> Response {
        let (service_name, operation) = match cbor::parse_path(req) {
            Ok(p) => p,
            Err(e) => return cbor::error(&ctx.request_id, &e, None),
        };
        let Some(service) = self.json.iter().find(|s| s.target_prefix() == service_name) else {
            let e = ApiError::client(
                "UnknownOperationException",
                format!("no service is named {service_name}"),
            );
            return cbor::error(&ctx.request_id, &e, None);
        };
        let fail = |e: ApiError| {
            let query = service.query_error_code(&e.code);
            cbor::error(&ctx.request_id, &e, query.as_deref())
        };
        if verified.service != service.signing_name() {
            return fail(
                AuthError::wrong_service(service.signing_name()).to_api_error(Protocol::Cbor),
            );
        }
        if req.method != http::Method::POST {
            return fail(ApiError::new(
                "UnknownOperationException",
                "RPC v2 CBOR requests must be POSTs",
                405,
            ));
        }
        let input = match cbor::decode_body(body) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let name = format!("{service_name}.{operation}");
        let result = guard(&name, &ctx.request_id, || {
            service.call(&ctx, operation, input)
        })
        .and_then(|r| r);
        match result {
            Ok(output) => cbor::success(&ctx.request_id, &output, service.timestamp_members()),
            Err(e) => fail(e),
        }
    }

    fn handle_json(
        &self,
        req: &RequestView<'_>,
        body: &[u8],
        verified: &Verified,
        ctx: CallContext,
    ) -> Response {
        let fail =
            |err: ApiError| self.render_error(req, Protocol::Json, None, &ctx.request_id, &err);
        let target = match json::parse_target(req) {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        let Some(service) = self
            .json
            .iter()
            .find(|s| s.target_prefix() == target.prefix)
        else {
            return fail(ApiError::client(
                "UnknownOperationException",
                format!("no service answers to target prefix {}", target.prefix),
            ));
        };
        if verified.service != service.signing_name() {
            return fail(
                AuthError::wrong_service(service.signing_name()).to_api_error(Protocol::Json),
            );
        }
        let version = match json::json_version(req) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        let input = match json::decode_body(body) {
            Ok(v) => v,
            Err(e) => return json::error(&ctx.request_id, version, &e),
        };
        let name = format!("{}.{}", target.prefix, target.operation);
        let text = guard(&name, &ctx.request_id, || {
            service.call_text(&ctx, target.operation, &input)
        });
        // awsQueryCompatible services also give the Query code.
        let json_error = |e: &ApiError| {
            let mut r = json::error(&ctx.request_id, version, e);
            if let Some(code) = service.query_error_code(&e.code) {
                cbor::add_query_error(&mut r, &code, e);
            }
            r
        };
        match text {
            Ok(Some(Ok(body))) => return json::success_text(&ctx.request_id, version, body),
            Ok(Some(Err(e))) | Err(e) => return json_error(&e),
            Ok(None) => {}
        }
        let result = guard(&name, &ctx.request_id, || {
            service.call(&ctx, target.operation, input)
        })
        .and_then(|r| r);
        match result {
            Ok(output) => json::success(&ctx.request_id, version, &output),
            Err(e) => json_error(&e),
        }
    }

    fn handle_query(
        &self,
        req: &RequestView<'_>,
        body: &[u8],
        verified: &Verified,
        ctx: CallContext,
    ) -> Response {
        let Some(service) = self
            .query
            .iter()
            .find(|s| s.signing_name() == verified.service)
        else {
            let err = ApiError::client(
                "InvalidAction",
                format!(
                    "the credential scope names service '{}', which is not served here",
                    verified.service
                ),
            );
            return query::error(None, &ctx.request_id, &err);
        };
        let xmlns = service.xmlns();
        let fail = |err: ApiError| query::error(Some(xmlns), &ctx.request_id, &err);
        let params = QueryParams::parse(req, body);
        let Some(action) = params.action() else {
            return fail(ApiError::client("MissingAction", "Missing Action"));
        };
        match params.version() {
            Some(version) if version != service.version() => {
                return fail(ApiError::invalid_action(action, version));
            }
            _ => {}
        }
        let mut out = XmlWriter::new();
        let result = guard(action, &ctx.request_id, || {
            service.call(&ctx, action, &params, &mut out)
        })
        .and_then(|r| r);
        match result {
            Ok(()) => query::success(action, xmlns, &ctx.request_id, &out.finish()),
            Err(e) => fail(e),
        }
    }

    fn render_error(
        &self,
        req: &RequestView<'_>,
        protocol: Protocol,
        xmlns: Option<&str>,
        request_id: &str,
        err: &ApiError,
    ) -> Response {
        match protocol {
            Protocol::Json => {
                let version = json::json_version(req).unwrap_or(JsonVersion::V1_1);
                json::error(request_id, version, err)
            }
            Protocol::Query => query::error(xmlns, request_id, err),
            Protocol::Cbor => cbor::error(request_id, err, None),
        }
    }
}

/// Runs a service call, turning a panic into a 500 so one bad request
/// cannot take the connection (or the blocking thread's caller) down.
fn guard<T>(operation: &str, request_id: &str, f: impl FnOnce() -> T) -> Result<T, ApiError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        ApiError::server(
            "InternalFailure",
            format!("internal error in {operation} (request {request_id})"),
        )
    })
}

#[cfg(test)]
mod tests;
