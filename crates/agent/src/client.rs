//! A SigV4-signing HTTP client for the server: the agent endpoints and the
//! AWS JSON APIs the agent calls (ECR tokens, CloudWatch Logs).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The key the agent signs with.
#[derive(Clone)]
pub struct AgentCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AgentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the server answered {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

pub struct Client {
    base: String,
    authority: String,
    region: String,
    creds: AgentCredentials,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    /// `base` is `http://HOST:PORT`.
    pub fn new(base: &str, region: &str, creds: AgentCredentials) -> Result<Self, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        let uri: http::Uri = base.parse().map_err(|e| ClientError::Unreachable {
            url: base.clone(),
            message: format!("not a URL: {e}"),
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(ClientError::Unreachable {
                url: base,
                message: "only http:// server URLs are supported".into(),
            });
        }
        let authority =
            uri.authority()
                .map(|a| a.to_string())
                .ok_or_else(|| ClientError::Unreachable {
                    url: base.clone(),
                    message: "the URL names no host".into(),
                })?;
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Ok(Self {
            base,
            authority,
            region: region.to_string(),
            creds,
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The server's `HOST:PORT`, as image references to its registry name
    /// it.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    fn signed(
        &self,
        path: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<http::Request<Full<Bytes>>, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = http::Request::post(&url)
            .header("host", &self.authority)
            .body(Bytes::from(body))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| ClientError::Protocol(e.to_string()))?,
                http::HeaderValue::from_str(v).map_err(|e| ClientError::Protocol(e.to_string()))?,
            );
        }
        let identity = Credentials::new(
            self.creds.access_key_id.clone(),
            self.creds.secret_access_key.clone(),
            self.creds.session_token.clone(),
            None,
            "dockyard-agent",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .into();
        let hdrs: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            url.clone(),
            hdrs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(req.body()),
        )
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ClientError::Protocol(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req.map(Full::new))
    }

    async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), ClientError> {
        let url = req.uri().to_string();
        let fut = async {
            let resp = self
                .http
                .request(req)
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Unreachable {
                    url: url.clone(),
                    message: e.to_string(),
                })?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    fn api_error(status: u16, body: &[u8]) -> ClientError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let code = v["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
            .unwrap_or_else(|| format!("HTTP{status}"));
        let message = v["message"]
            .as_str()
            .or_else(|| v["Message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        ClientError::Api {
            status,
            code,
            message,
        }
    }

    /// Calls an agent endpoint.
    pub async fn agent<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let r = self.signed(path, "ecs", &[("content-type", "application/json")], body)?;
        let (status, body) = self.send(r, timeout).await?;
        if status != 200 {
            return Err(Self::api_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Calls an AWS JSON 1.1 operation, e.g. (`logs`, `Logs_20140328.PutLogEvents`).
    pub async fn json(
        &self,
        service: &str,
        target: &str,
        input: &Value,
    ) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(input).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let r = self.signed(
            "/",
            service,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target),
            ],
            body,
        )?;
        let (status, body) = self.send(r, Duration::from_secs(30)).await?;
        if status != 200 {
            return Err(Self::api_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}
