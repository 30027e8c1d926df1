//! Responses the load balancer writes itself (errors, fixed responses,
//! redirects) and the body type of every response, proxied or not.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::h1client::RawBody;
use crate::target::InflightGuard;

/// A response body: the target's, streamed through, or one the load
/// balancer made. No boxing, so proxying allocates nothing for the body.
pub(crate) enum LbBody {
    Full(Option<Bytes>),
    Proxied {
        body: Incoming,
        /// Keeps the request counted against its target until the body
        /// is fully sent (least outstanding requests, draining).
        guard: Option<InflightGuard>,
    },
    /// Read by the client connection's task straight off the target.
    Raw(RawBody),
}

impl LbBody {
    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }

    pub(crate) fn proxied(body: Incoming, guard: InflightGuard) -> Self {
        Self::Proxied {
            body,
            guard: Some(guard),
        }
    }
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Body for LbBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Proxied { body, guard } => {
                let polled = Pin::new(body).poll_frame(cx);
                if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
                    guard.take();
                }
                polled.map(|frame| frame.map(|r| r.map_err(BoxError::from)))
            }
            Self::Raw(body) => body
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(data) => data.is_none(),
            Self::Proxied { body, .. } => body.is_end_stream(),
            Self::Raw(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Proxied { body, .. } => body.size_hint(),
            Self::Raw(body) => body
                .exact_len()
                .map_or_else(SizeHint::default, SizeHint::with_exact),
        }
    }
}

const SERVER: HeaderValue = HeaderValue::from_static("awselb/2.0");
const HTML: HeaderValue = HeaderValue::from_static("text/html");

/// AWS's plain error page, e.g. for 502, 503 and 504.
pub(crate) fn error_page(status: StatusCode) -> Response<LbBody> {
    let reason = status.canonical_reason().unwrap_or("");
    let code = status.as_u16();
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(LbBody::Full(Some(Bytes::from(body))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::SERVER, SERVER);
    headers.insert(header::CONTENT_TYPE, HTML);
    response
}

/// A fixed-response action's response, prepared once at apply time.
#[derive(Debug, Clone)]
pub(crate) struct FixedResponse {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl FixedResponse {
    pub(crate) fn new(status: u16, content_type: Option<&str>, body: Option<&str>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let content_type = content_type
            .map(|ct| {
                if ct.starts_with("text/") && !ct.contains("charset") {
                    format!("{ct}; charset=utf-8")
                } else {
                    ct.to_owned()
                }
            })
            .and_then(|ct| HeaderValue::from_str(&ct).ok());
        Self {
            status,
            content_type,
            body: Bytes::from(body.unwrap_or("").to_owned()),
        }
    }

    pub(crate) fn respond(&self) -> Response<LbBody> {
        let mut response = Response::new(LbBody::Full(Some(self.body.clone())));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::SERVER, SERVER);
        if let Some(ct) = &self.content_type {
            headers.insert(header::CONTENT_TYPE, ct.clone());
        }
        response
    }
}

pub(crate) fn redirect(status: StatusCode, location: HeaderValue) -> Response<LbBody> {
    let mut response = error_page(status);
    response.headers_mut().insert(header::LOCATION, location);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn error_pages_look_like_aws() -> anyhow::Result<()> {
        let r = error_page(StatusCode::BAD_GATEWAY);
        assert_eq!(r.status(), 502);
        assert_eq!(r.headers()[header::SERVER], "awselb/2.0");
        let body = r
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .to_bytes();
        let text = std::str::from_utf8(&body)?;
        assert!(text.contains("<title>502 Bad Gateway</title>"));
        Ok(())
    }

    #[tokio::test]
    async fn fixed_response_keeps_status_type_and_body() -> anyhow::Result<()> {
        let fixed = FixedResponse::new(418, Some("application/json"), Some("{\"tea\":1}"));
        let r = fixed.respond();
        assert_eq!(r.status(), 418);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            r.into_body()
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!(e))?
                .to_bytes(),
            "{\"tea\":1}"
        );
        let text = FixedResponse::new(200, Some("text/plain"), None).respond();
        assert_eq!(
            text.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        Ok(())
    }
}
