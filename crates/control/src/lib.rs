//! The control plane's asynchronous half: the agent endpoints (register
//! and the long poll that is an agent's session) and the heartbeat
//! monitor that marks silent agents disconnected.
//!
//! A poll takes a snapshot (synchronous, in `dockyard_ecs::session`),
//! answers at once when there is news, and otherwise watches the node's
//! task index in the store from the snapshot's revision until something
//! changes or the poll interval passes. Watching the store rather than an
//! in-process signal means a change made by any server reaches the agent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use dockyard_agentproto::{POLL_PATH, PollRequest, REGISTER_PATH, RegisterRequest, Usage};
use dockyard_aws::sigv4::{self, Payload};
use dockyard_aws::{ApiError, CallContext, CredentialSource, RequestView, new_request_id};
use dockyard_ecs::EcsService;
use dockyard_ecs::session::node_watch_prefix;

/// The path prefix the server hands to [`Control::handle`].
pub const AGENT_PATHS: &str = "/_dockyard/agent/";

pub struct Control {
    ecs: Arc<EcsService>,
    creds: Arc<dyn CredentialSource>,
    region: String,
    last_seen: Mutex<HashMap<String, Instant>>,
    /// Nodes holding tasks whose agent is disconnected, since when this
    /// server first saw them so.
    silent_since: Mutex<HashMap<String, Instant>>,
    started: Instant,
    usage: Option<Arc<dyn UsageSink>>,
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(e: &ApiError) -> Response<Bytes> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    reply(
        status,
        serde_json::to_vec(&json!({"__type": e.code, "message": e.message})).unwrap_or_default(),
    )
}

fn ok(v: &impl Serialize) -> Response<Bytes> {
    match serde_json::to_vec(v) {
        Ok(b) => reply(StatusCode::OK, b),
        Err(e) => error(&ApiError::server("ServerException", e.to_string())),
    }
}

/// Where the resource usage agents report with their polls goes.
pub trait UsageSink: Send + Sync {
    /// `usage` as node `node_id` reported it at `now`.
    fn record(&self, node_id: &str, usage: &Usage, now: chrono::DateTime<chrono::Utc>);
}

impl Control {
    pub fn new(ecs: Arc<EcsService>, creds: Arc<dyn CredentialSource>, region: &str) -> Self {
        Self {
            ecs,
            creds,
            region: region.to_string(),
            last_seen: Mutex::new(HashMap::new()),
            silent_since: Mutex::new(HashMap::new()),
            started: Instant::now(),
            usage: None,
        }
    }

    /// Hands the usage in every poll to `sink`.
    pub fn with_usage_sink(mut self, sink: Arc<dyn UsageSink>) -> Self {
        self.usage = Some(sink);
        self
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.ecs.options().poll_seconds.max(1))
    }

    /// An agent silent this long is marked disconnected.
    fn disconnect_after(&self) -> Duration {
        self.poll_interval() * 3
    }

    fn seen(&self, node: &str) {
        if let Ok(mut m) = self.last_seen.lock() {
            m.insert(node.to_string(), Instant::now());
        }
    }

    fn authenticate(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<CallContext, ApiError> {
        let now = chrono::Utc::now();
        let v = sigv4::verify(
            RequestView::from(parts),
            Payload::Bytes(body),
            self.creds.as_ref(),
            now,
        )
        .map_err(|e| e.to_api_error(dockyard_aws::Protocol::Json))?;
        if v.region != self.region {
            return Err(sigv4::AuthError::wrong_region(&v.region)
                .to_api_error(dockyard_aws::Protocol::Json));
        }
        if v.service != "ecs" {
            return Err(
                sigv4::AuthError::wrong_service("ecs").to_api_error(dockyard_aws::Protocol::Json)
            );
        }
        Ok(CallContext {
            account: v.principal.account.clone(),
            principal: v.principal,
            access_key_id: v.access_key_id,
            region: v.region,
            request_id: new_request_id(),
            now,
        })
    }

    /// Serves one request under [`AGENT_PATHS`].
    pub async fn handle(
        self: Arc<Self>,
        parts: http::request::Parts,
        body: Bytes,
    ) -> Response<Bytes> {
        if parts.method != http::Method::POST {
            return error(&ApiError::new(
                "MethodNotAllowed",
                "agent endpoints take POST",
                405,
            ));
        }
        let ctx = match self.authenticate(&parts, &body) {
            Ok(c) => c,
            Err(e) => return error(&e),
        };
        match parts.uri.path() {
            REGISTER_PATH => self.register(ctx, &body).await,
            POLL_PATH => self.poll(ctx, &body).await,
            _ => error(&ApiError::new("NotFound", "no such agent endpoint", 404)),
        }
    }

    async fn register(self: Arc<Self>, ctx: CallContext, body: &[u8]) -> Response<Bytes> {
        let req: RegisterRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return error(&ApiError::client(
                    "SerializationException",
                    format!("bad register request: {e}"),
                ));
            }
        };
        let ecs = self.ecs.clone();
        match tokio::task::spawn_blocking(move || ecs.register_node(&ctx, req)).await {
            Ok(Ok(r)) => {
                self.seen(&r.node_id);
                ok(&r)
            }
            Ok(Err(e)) => error(&e),
            Err(e) => error(&ApiError::server("ServerException", e.to_string())),
        }
    }

    async fn poll(self: Arc<Self>, ctx: CallContext, body: &[u8]) -> Response<Bytes> {
        let mut req: PollRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return error(&ApiError::client(
                    "SerializationException",
                    format!("bad poll request: {e}"),
                ));
            }
        };
        self.seen(&req.node_id);
        if let (Some(sink), Some(usage)) = (self.usage.clone(), req.usage.take()) {
            let (node, now) = (req.node_id.clone(), ctx.now);
            tokio::task::spawn_blocking(move || sink.record(&node, &usage, now));
        }
        let deadline = tokio::time::Instant::now() + self.poll_interval();
        loop {
            let ecs = self.ecs.clone();
            let (c, r) = (ctx.clone(), req.clone());
            let snap = match tokio::task::spawn_blocking(move || ecs.poll(&c, &r)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return error(&e),
                Err(e) => return error(&ApiError::server("ServerException", e.to_string())),
            };
            if snap.news || tokio::time::Instant::now() >= deadline {
                return ok(&snap.response);
            }
            // Changes are applied once; what follows only waits.
            req.changes.clear();
            let mut watch = match self
                .ecs
                .store()
                .watch(&node_watch_prefix(&req.node_id), snap.revision)
            {
                Ok(w) => w,
                Err(e) => {
                    return error(&ApiError::server("ServerException", e.to_string()));
                }
            };
            tokio::select! {
                _ = watch.recv() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    self.seen(&req.node_id);
                    return ok(&snap.response);
                }
            }
        }
    }

    /// A node disconnected this long has lost its tasks.
    fn lost_after(&self) -> Duration {
        Duration::from_secs(self.ecs.options().node_lost_seconds)
    }

    /// Declares lost the tasks of nodes disconnected (or deregistered) for
    /// longer than [`lost_after`](Self::lost_after): they are STOPPED and
    /// their services replace them elsewhere.
    async fn lose_silent_nodes(&self) {
        let ecs = self.ecs.clone();
        let silent = match tokio::task::spawn_blocking(move || ecs.silent_nodes_with_tasks()).await
        {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::warn!("listing silent nodes: {}", e.message);
                return;
            }
            Err(e) => {
                tracing::warn!("listing silent nodes: {e}");
                return;
            }
        };
        let due: Vec<String> = {
            let Ok(mut since) = self.silent_since.lock() else {
                return;
            };
            since.retain(|n, _| silent.contains(n));
            for n in &silent {
                since.entry(n.clone()).or_insert_with(Instant::now);
            }
            since
                .iter()
                .filter(|(_, t)| t.elapsed() >= self.lost_after())
                .map(|(n, _)| n.clone())
                .collect()
        };
        for node in due {
            let ecs = self.ecs.clone();
            let n = node.clone();
            let now = chrono::Utc::now().timestamp_millis();
            match tokio::task::spawn_blocking(move || {
                ecs.lose_node_tasks(&n, dockyard_ecs::services::LOST_REASON, now)
            })
            .await
            {
                Ok(Ok(count)) => tracing::warn!("node {node} is lost: {count} tasks stopped"),
                Ok(Err(e)) => tracing::warn!("losing node {node}: {}", e.message),
                Err(e) => tracing::warn!("losing node {node}: {e}"),
            }
        }
    }

    /// Marks agents silent for too long disconnected, until `shutdown`.
    pub async fn monitor(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.poll_interval());
        loop {
            tick.tick().await;
            let limit = self.disconnect_after();
            // Nodes a restarted server has not heard from yet get a grace
            // period from its start.
            let silent: Vec<String> = {
                let Ok(m) = self.last_seen.lock() else {
                    continue;
                };
                m.iter()
                    .filter(|(_, t)| t.elapsed() > limit)
                    .map(|(n, _)| n.clone())
                    .collect()
            };
            let mut stale = silent;
            if self.started.elapsed() > limit {
                let ecs = self.ecs.clone();
                if let Ok(Ok(all)) =
                    tokio::task::spawn_blocking(move || ecs.connected_nodes()).await
                {
                    let known: Vec<String> = self
                        .last_seen
                        .lock()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    stale.extend(all.into_iter().filter(|n| !known.contains(n)));
                }
            }
            for node in stale {
                let ecs = self.ecs.clone();
                let n = node.clone();
                match tokio::task::spawn_blocking(move || ecs.set_connected(&n, false)).await {
                    Ok(Ok(true)) => {
                        tracing::warn!("agent of node {node} stopped polling; marked disconnected")
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!("marking node {node} disconnected: {}", e.message),
                    Err(e) => tracing::warn!("marking node {node} disconnected: {e}"),
                }
                if let Ok(mut m) = self.last_seen.lock() {
                    m.remove(&node);
                }
            }
            self.lose_silent_nodes().await;
        }
    }
}
