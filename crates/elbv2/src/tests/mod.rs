//! Tests of the service through its Query interface, every request and
//! reply checked against botocore's model ([`model`]).

mod lbs;
mod listeners;
mod model;
mod rules;
mod snapshot;
mod tags;
mod targets;
mod tgs;
mod xml;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use dockyard_aws::query::{self, QueryParams, XmlWriter};
use dockyard_aws::{ApiError, CallContext, Principal, QueryService};
use dockyard_store::{MemStore, Store, StoreExt};

use crate::health::{TargetHealth, TargetHealthSource};
use crate::listeners::PortCheck;
use crate::model::Protocol;
use crate::{ElbService, SequentialIds, XMLNS};

pub(crate) use xml::Node;

pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const REGION: &str = "us-east-1";

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 17, 10, 30, 0).unwrap()
}

/// Health reports set by hand.
#[derive(Default)]
pub(crate) struct FakeHealth(Mutex<BTreeMap<(String, String, u16), TargetHealth>>);

impl FakeHealth {
    pub fn set(&self, tg: &str, id: &str, port: u16, h: TargetHealth) {
        self.0
            .lock()
            .unwrap()
            .insert((tg.into(), id.into(), port), h);
    }
}

impl TargetHealthSource for FakeHealth {
    fn health(&self, tg: &str, id: &str, port: u16) -> Option<TargetHealth> {
        self.0
            .lock()
            .unwrap()
            .get(&(tg.into(), id.into(), port))
            .cloned()
    }
}

/// Ports something else on the host holds.
#[derive(Default)]
pub(crate) struct FakePorts(Mutex<Vec<u16>>);

impl PortCheck for FakePorts {
    fn check(&self, port: u16, _: Protocol) -> Result<(), String> {
        if self.0.lock().unwrap().contains(&port) {
            return Err(format!("something else listens on port {port}"));
        }
        Ok(())
    }
}

/// Certificates that exist: (account, ARN).
#[derive(Default)]
pub(crate) struct FakeCerts(pub Mutex<Vec<(String, String)>>);

impl crate::CertificateCheck for FakeCerts {
    fn exists(&self, account: &str, arn: &str) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(a, c)| a == account && c == arn)
    }
}

pub(crate) struct Fx {
    pub store: Arc<MemStore>,
    pub svc: ElbService,
    pub health: Arc<FakeHealth>,
    pub ports: Arc<FakePorts>,
    pub certs: Arc<FakeCerts>,
    now: Mutex<DateTime<Utc>>,
    account: Mutex<String>,
}

pub(crate) type Pairs<'a> = &'a [(&'a str, &'a str)];

impl Fx {
    pub fn new() -> Self {
        let store = Arc::new(MemStore::new());
        let health = Arc::new(FakeHealth::default());
        let ports = Arc::new(FakePorts::default());
        let certs = Arc::new(FakeCerts::default());
        let svc = ElbService::new(
            store.clone(),
            Arc::new(SequentialIds::default()),
            health.clone(),
        )
        .with_port_check(ports.clone())
        .with_certificates(certs.clone())
        .with_listener_address([127, 0, 0, 9].into());
        Self {
            store,
            svc,
            health,
            ports,
            certs,
            now: Mutex::new(t0()),
            account: Mutex::new(ACCOUNT.into()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    pub fn advance(&self, seconds: i64) {
        *self.now.lock().unwrap() += Duration::seconds(seconds);
    }

    /// Calls as another account from now on.
    pub fn as_account(&self, account: &str) {
        *self.account.lock().unwrap() = account.into();
    }

    pub fn ctx(&self) -> CallContext {
        let account = self.account.lock().unwrap().clone();
        CallContext {
            principal: Principal::root(&account),
            access_key_id: "AKIAEXAMPLE".into(),
            account,
            region: REGION.into(),
            request_id: "r".into(),
            now: self.now(),
        }
    }

    /// Calls `action` and returns its `<ActionResult>`, checking the
    /// request and the whole reply document against the model.
    pub fn call(&self, action: &str, pairs: Pairs<'_>) -> Result<Node, ApiError> {
        for (k, _) in pairs {
            model::check_input(action, k);
        }
        let params = QueryParams::from_pairs(pairs.iter().copied());
        let mut out = XmlWriter::new();
        match self.svc.call(&self.ctx(), action, &params, &mut out) {
            Ok(()) => {
                let reply = query::success(action, XMLNS, "req-1", &out.finish());
                let body = String::from_utf8(reply.body.to_vec()).unwrap();
                let doc = xml::parse(&body);
                let response = doc.get(&format!("{action}Response"));
                assert_eq!(response.attrs, [("xmlns".to_string(), XMLNS.to_string())]);
                let result = response.get(&format!("{action}Result"));
                model::check_output(action, result);
                Ok(result.clone())
            }
            Err(e) => {
                model::check_error(action, &e.code);
                Err(e)
            }
        }
    }

    pub fn ok(&self, action: &str, pairs: Pairs<'_>) -> Node {
        self.call(action, pairs)
            .unwrap_or_else(|e| panic!("{action} failed: {} {}", e.code, e.message))
    }

    /// The error `action` answers; the store must be as it was before.
    pub fn err(&self, action: &str, pairs: Pairs<'_>) -> ApiError {
        let before = self.dump();
        match self.call(action, pairs) {
            Ok(n) => panic!("{action} should have failed, answered {n:?}"),
            Err(e) => {
                assert_eq!(self.dump(), before, "{action} failed but changed the store");
                e
            }
        }
    }

    /// The code `action` fails with.
    pub fn code(&self, action: &str, pairs: Pairs<'_>) -> String {
        self.err(action, pairs).code
    }

    /// Every key and value under `elbv2/` (the generation key aside).
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        self.store
            .list(crate::model::PREFIX)
            .unwrap()
            .into_iter()
            .filter(|kv| kv.key != crate::model::GEN_KEY)
            .map(|kv| (kv.key, kv.value))
            .collect()
    }

    pub fn revision(&self) -> u64 {
        self.store.revision().unwrap()
    }

    pub fn alb(&self, name: &str) -> String {
        self.ok(
            "CreateLoadBalancer",
            &[
                ("Name", name),
                ("Subnets.member.1", "subnet-a"),
                ("Subnets.member.2", "subnet-b"),
            ],
        )
        .text("LoadBalancers/member/LoadBalancerArn")
    }

    pub fn nlb(&self, name: &str) -> String {
        self.ok(
            "CreateLoadBalancer",
            &[
                ("Name", name),
                ("Type", "network"),
                ("Subnets.member.1", "subnet-a"),
            ],
        )
        .text("LoadBalancers/member/LoadBalancerArn")
    }

    pub fn tg(&self, name: &str, protocol: &str, port: &str, target_type: &str) -> String {
        self.ok(
            "CreateTargetGroup",
            &[
                ("Name", name),
                ("Protocol", protocol),
                ("Port", port),
                ("VpcId", "vpc-1"),
                ("TargetType", target_type),
            ],
        )
        .text("TargetGroups/member/TargetGroupArn")
    }

    pub fn listener(&self, lb: &str, protocol: &str, port: &str, tg: &str) -> String {
        self.ok(
            "CreateListener",
            &[
                ("LoadBalancerArn", lb),
                ("Protocol", protocol),
                ("Port", port),
                ("DefaultActions.member.1.Type", "forward"),
                ("DefaultActions.member.1.TargetGroupArn", tg),
            ],
        )
        .text("Listeners/member/ListenerArn")
    }

    pub fn rule(&self, listener: &str, priority: &str, path: &str, tg: &str) -> String {
        self.ok(
            "CreateRule",
            &[
                ("ListenerArn", listener),
                ("Priority", priority),
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", path),
                ("Actions.member.1.Type", "forward"),
                ("Actions.member.1.TargetGroupArn", tg),
            ],
        )
        .text("Rules/member/RuleArn")
    }

    /// An ALB on port `port` forwarding to a new HTTP target group of `ip`
    /// targets: (lb, tg, listener).
    pub fn web(&self, name: &str, port: &str) -> (String, String, String) {
        let lb = self.alb(name);
        let tg = self.tg(&format!("{name}-tg"), "HTTP", "8080", "ip");
        let l = self.listener(&lb, "HTTP", port, &tg);
        (lb, tg, l)
    }
}

#[test]
fn unknown_actions_and_service_identity() {
    let fx = Fx::new();
    let e = fx
        .svc
        .call(
            &fx.ctx(),
            "SetSubnetsSomehow",
            &QueryParams::default(),
            &mut XmlWriter::new(),
        )
        .err()
        .unwrap();
    assert_eq!(e.code, "InvalidAction");
    assert_eq!(fx.svc.signing_name(), "elasticloadbalancing");
    assert_eq!(fx.svc.version(), "2015-12-01");
    assert_eq!(fx.svc.xmlns(), XMLNS);
}

#[test]
fn account_limits() {
    let fx = Fx::new();
    let r = fx.ok("DescribeAccountLimits", &[]);
    let names: Vec<String> = r.members("Limits").iter().map(|m| m.text("Name")).collect();
    assert!(names.contains(&"condition-values-per-alb-rule".to_string()));
    let first = fx.ok("DescribeAccountLimits", &[("PageSize", "2")]);
    assert_eq!(first.members("Limits").len(), 2);
    let marker = first.text("NextMarker");
    let second = fx.ok(
        "DescribeAccountLimits",
        &[("PageSize", "2"), ("Marker", &marker)],
    );
    assert_ne!(second.members("Limits")[0].text("Name"), names[0]);
}

#[test]
fn a_store_failure_is_a_server_error() {
    // A record that does not decode: the call fails as the service's
    // fault and names the key.
    let fx = Fx::new();
    fx.store.put("elbv2/lbs/broken", b"{".to_vec()).unwrap();
    let e = fx.err("DescribeLoadBalancers", &[]);
    assert_eq!((e.code.as_str(), e.status), ("InternalFailure", 500));
    assert!(e.message.contains("elbv2/lbs/broken"), "{}", e.message);
}
