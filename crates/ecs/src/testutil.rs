//! Fixtures for the unit tests: an ECS service over a `MemStore`, and
//! an agent session driven by hand.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{Value, json};

use dockyard_agentproto::{
    ContainerChange, NodeKind, PollRequest, RegisterRequest, TaskChange, TaskCredentials,
};
use dockyard_aws::{ApiError, CallContext, JsonService, Principal};
use dockyard_store::MemStore;

use crate::{CredentialIssuer, EcsOptions, EcsService};

pub(crate) const ACCOUNT: &str = "000000000000";

pub(crate) fn ctx() -> CallContext {
    CallContext {
        principal: Principal::root(ACCOUNT),
        access_key_id: "AKIAEXAMPLE".into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        now: chrono::Utc::now(),
    }
}

struct Issuer;

impl CredentialIssuer for Issuer {
    fn issue(
        &self,
        role_arn: &str,
        _: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<TaskCredentials, String> {
        Ok(TaskCredentials {
            id: "cred-id".into(),
            role_arn: role_arn.into(),
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration: (now + chrono::Duration::hours(6)).to_rfc3339(),
        })
    }
}

pub(crate) struct Fx {
    pub svc: EcsService,
}

impl Fx {
    pub fn new() -> Self {
        let store = Arc::new(MemStore::new());
        Self {
            svc: EcsService::new(store, Arc::new(Issuer), EcsOptions::new("us-east-1")),
        }
    }

    /// A service whose target health comes from `health`.
    pub fn with_target_health(health: Arc<dyn dockyard_elbv2::TargetHealthSource>) -> Self {
        let store = Arc::new(MemStore::new());
        Self {
            svc: EcsService::new(store, Arc::new(Issuer), EcsOptions::new("us-east-1"))
                .with_target_health(health),
        }
    }

    pub fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        self.svc.call(&ctx(), op, input)
    }

    pub fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input)
            .unwrap_or_else(|e| panic!("{op} failed: {} {}", e.code, e.message))
    }

    pub fn err(&self, op: &str, input: Value) -> ApiError {
        match self.call(op, input) {
            Ok(v) => panic!("{op} should have failed, answered {v}"),
            Err(e) => e,
        }
    }

    /// Registers an agent node of `kind` in `cluster`.
    pub fn node(&self, kind: NodeKind, cluster: Option<&str>, cpu: u32, memory: u32) -> String {
        self.svc
            .register_node(
                &ctx(),
                RegisterRequest {
                    kind,
                    cluster: cluster.map(str::to_owned),
                    node_id: None,
                    cpu,
                    memory,
                    reserved_ports: vec![],
                    attributes: Default::default(),
                    address: "127.0.0.1".into(),
                    hostname: "h".into(),
                    agent_version: "1".into(),
                },
            )
            .unwrap()
            .node_id
    }

    pub fn poll(&self, node: &str, changes: Vec<TaskChange>) -> dockyard_agentproto::PollResponse {
        self.svc
            .poll(
                &ctx(),
                &PollRequest {
                    node_id: node.into(),
                    seen_version: 0,
                    changes,
                    usage: None,
                    no_wait: true,
                },
            )
            .unwrap()
            .response
    }

    pub fn register_web(&self, family: &str, extra: Value) -> Value {
        let mut input = json!({
            "family": family,
            "containerDefinitions": [{
                "name": "web", "image": "busybox", "memory": 64, "cpu": 128,
                "portMappings": [{"containerPort": 80, "hostPort": 8080}]
            }]
        });
        if let (Some(o), Some(e)) = (input.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        self.ok("RegisterTaskDefinition", input)
    }
}

pub(crate) fn change(
    seq: u64,
    task: &str,
    status: &str,
    containers: &[(&str, &str, Option<i32>)],
) -> TaskChange {
    let now = chrono::Utc::now().timestamp_millis();
    TaskChange {
        seq,
        started_ms: (status == "RUNNING").then_some(now),
        containers: containers
            .iter()
            .map(|(n, s, code)| ContainerChange {
                name: (*n).into(),
                status: (*s).into(),
                runtime_id: Some(format!("rt-{n}")),
                image_digest: None,
                exit_code: *code,
                reason: None,
                network_bindings: vec![],
                health_status: None,
            })
            .collect(),
        ..TaskChange::new(task, status, now)
    }
}
