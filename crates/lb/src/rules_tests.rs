use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::*;
use crate::config::{
    Algorithm, FixedResponseConfig, ForwardConfig, QueryStringPair, Rule, WeightedTargetGroup,
};
use crate::target::TgState;

fn groups(arns: &[&str]) -> BTreeMap<String, Arc<TgRuntime>> {
    arns.iter()
        .enumerate()
        .map(|(i, arn)| {
            let state = TgState {
                targets: Box::new([]),
                algorithm: Algorithm::RoundRobin,
                slow_start: Duration::ZERO,
                stickiness: None,
                checked: true,
                used: true,
            };
            (
                (*arn).to_owned(),
                Arc::new(TgRuntime::new(arn, i as u64 + 100, state)),
            )
        })
        .collect()
}

fn fixed(code: u16) -> Vec<Action> {
    vec![Action::FixedResponse(FixedResponseConfig {
        status: code,
        content_type: None,
        body: None,
    })]
}

fn listener(rules: Vec<Rule>) -> ListenerConfig {
    let mut l = ListenerConfig::http("l", SocketAddr::from(([127, 0, 0, 1], 0)), "tg");
    l.rules = rules;
    l.default_actions = fixed(404);
    l
}

fn rule(priority: u32, conditions: Vec<Condition>, code: u16) -> Rule {
    Rule {
        priority,
        conditions,
        actions: fixed(code),
    }
}

struct Req {
    method: Method,
    host: &'static str,
    path: &'static str,
    query: Option<&'static str>,
    headers: HeaderMap,
    source: IpAddr,
}

impl Req {
    fn get(path: &'static str) -> Self {
        Self {
            method: Method::GET,
            host: "example.com",
            path,
            query: None,
            headers: HeaderMap::new(),
            source: IpAddr::from([10, 0, 0, 1]),
        }
    }
}

/// The status code of the fixed response the request is routed to.
fn route(l: &CompiledListener, r: &Req) -> u16 {
    let view = RequestView {
        method: &r.method,
        host: r.host,
        path: r.path,
        query: r.query,
        headers: &r.headers,
        source: r.source,
    };
    match l.route(&view) {
        CompiledAction::Fixed(f) => f.respond().status().as_u16(),
        CompiledAction::Forward(_) => 1,
        CompiledAction::Redirect(_) => 2,
    }
}

fn one(condition: Condition) -> CompiledListener {
    compile(
        &listener(vec![rule(1, vec![condition], 200)]),
        &groups(&["tg"]),
    )
    .expect("compiles")
}

#[test]
fn host_header_is_case_insensitive_with_wildcards() {
    let l = one(Condition::HostHeader(vec![
        "*.example.com".into(),
        "exact.org".into(),
    ]));
    let mut r = Req::get("/");
    r.host = "API.Example.com";
    assert_eq!(route(&l, &r), 200);
    r.host = "example.com";
    assert_eq!(route(&l, &r), 404);
    r.host = "EXACT.org";
    assert_eq!(route(&l, &r), 200);
}

#[test]
fn path_pattern_is_case_sensitive_and_ignores_the_query() {
    let l = one(Condition::PathPattern(vec![
        "/img/*".into(),
        "/v?/x".into(),
    ]));
    assert_eq!(route(&l, &Req::get("/img/a.png")), 200);
    assert_eq!(route(&l, &Req::get("/IMG/a.png")), 404);
    assert_eq!(route(&l, &Req::get("/v2/x")), 200);
    let mut r = Req::get("/other");
    r.query = Some("p=/img/x");
    assert_eq!(route(&l, &r), 404);
}

#[test]
fn http_header_matches_any_value_case_insensitively() {
    let l = one(Condition::HttpHeader {
        name: "User-Agent".into(),
        values: vec!["*chrome*".into(), "curl/?.*".into()],
    });
    let mut r = Req::get("/");
    assert_eq!(route(&l, &r), 404);
    r.headers
        .insert("user-agent", HeaderValue::from_static("Mozilla Chrome/1"));
    assert_eq!(route(&l, &r), 200);
    r.headers
        .insert("user-agent", HeaderValue::from_static("curl/8.1"));
    assert_eq!(route(&l, &r), 200);
    r.headers
        .insert("user-agent", HeaderValue::from_static("wget"));
    assert_eq!(route(&l, &r), 404);
    r.headers
        .append("user-agent", HeaderValue::from_static("chrome"));
    assert_eq!(route(&l, &r), 200);
}

#[test]
fn method_is_exact_and_case_sensitive() {
    let l = one(Condition::HttpRequestMethod(vec![
        "POST".into(),
        "CUSTOM-METHOD".into(),
    ]));
    let mut r = Req::get("/");
    assert_eq!(route(&l, &r), 404);
    r.method = Method::POST;
    assert_eq!(route(&l, &r), 200);
    r.method = Method::from_bytes(b"CUSTOM-METHOD").expect("method");
    assert_eq!(route(&l, &r), 200);
    r.method = Method::from_bytes(b"post").expect("method");
    assert_eq!(route(&l, &r), 404);
}

#[test]
fn query_string_pairs_and_values() {
    let l = one(Condition::QueryString(vec![
        QueryStringPair {
            key: Some("version".into()),
            value: "v1*".into(),
        },
        QueryStringPair {
            key: None,
            value: "example".into(),
        },
        QueryStringPair {
            key: Some("lit".into()),
            value: r"a\*".into(),
        },
    ]));
    let with = |q: &'static str| {
        let mut r = Req::get("/");
        r.query = Some(q);
        route(&l, &r)
    };
    assert_eq!(route(&l, &Req::get("/")), 404);
    assert_eq!(with("a=1&VERSION=V1.2"), 200);
    assert_eq!(with("version=v2"), 404);
    assert_eq!(with("anything=Example"), 200);
    assert_eq!(with("x=ex%61mple"), 200);
    assert_eq!(with("lit=a*"), 200);
    assert_eq!(with("lit=ab"), 404);
}

#[test]
fn source_ip_uses_the_peer() -> Result<(), crate::error::ConfigError> {
    let l = one(Condition::SourceIp(vec!["192.0.2.0/24".parse()?]));
    let mut r = Req::get("/");
    assert_eq!(route(&l, &r), 404);
    r.source = IpAddr::from([192, 0, 2, 9]);
    assert_eq!(route(&l, &r), 200);
    r.source = "::ffff:192.0.2.10".parse().expect("ip");
    assert_eq!(route(&l, &r), 200);
    Ok(())
}

#[test]
fn rules_run_by_priority_and_all_conditions_must_match() {
    let l = compile(
        &listener(vec![
            rule(30, vec![Condition::PathPattern(vec!["/*".into()])], 230),
            rule(
                10,
                vec![
                    Condition::PathPattern(vec!["/api/*".into()]),
                    Condition::HttpRequestMethod(vec!["POST".into()]),
                ],
                210,
            ),
            rule(20, vec![Condition::PathPattern(vec!["/api/*".into()])], 220),
        ]),
        &groups(&["tg"]),
    )
    .expect("compiles");
    let mut r = Req::get("/api/x");
    assert_eq!(route(&l, &r), 220);
    r.method = Method::POST;
    assert_eq!(route(&l, &r), 210);
    assert_eq!(route(&l, &Req::get("/other")), 230);
    assert_eq!(route(&l, &Req::get("no-slash")), 404);
}

#[test]
fn unknown_target_group_is_refused() {
    let mut l = listener(vec![]);
    l.default_actions = vec![Action::Forward(ForwardConfig::single("missing"))];
    assert!(matches!(
        compile(&l, &groups(&["tg"])),
        Err(ListenerError::UnknownTargetGroup { .. })
    ));
}

#[test]
fn weighted_forward_follows_weights_and_group_stickiness() {
    let gs = groups(&["a", "b", "c"]);
    let mut l = listener(vec![]);
    l.default_actions = vec![Action::Forward(ForwardConfig {
        target_groups: vec![
            WeightedTargetGroup {
                arn: "a".into(),
                weight: 3,
            },
            WeightedTargetGroup {
                arn: "b".into(),
                weight: 1,
            },
            WeightedTargetGroup {
                arn: "c".into(),
                weight: 0,
            },
        ],
        stickiness: Some(Duration::from_secs(60)),
    })];
    let compiled = compile(&l, &gs).expect("compiles");
    let f = compiled.forward().expect("forward");
    let mut counts = BTreeMap::new();
    for i in 0..4000u64 {
        let tg = f.choose(i, None).expect("group");
        *counts.entry(tg.arn.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.get("a"), Some(&3000));
    assert_eq!(counts.get("b"), Some(&1000));
    assert_eq!(counts.get("c"), None);
    let b = gs["b"].sticky_token;
    assert!((0..100).all(|i| f.choose(i, Some(b)).map(|t| &*t.arn) == Some("b")));
    // A zero-weight group is not sticky any more.
    let c = gs["c"].sticky_token;
    assert!((0..100).all(|i| f.choose(i, Some(c)).map(|t| &*t.arn) != Some("c")));
}

fn parts() -> UrlParts<'static> {
    UrlParts {
        protocol: "HTTP",
        host: "example.com",
        port: 8080,
        path: "/a/b",
        query: "x=1",
    }
}

fn redirect(c: RedirectConfig) -> String {
    Redirect::new(&c).location(&parts())
}

fn base() -> RedirectConfig {
    RedirectConfig {
        protocol: None,
        host: None,
        port: None,
        path: None,
        query: None,
        status: RedirectStatus::Permanent,
    }
}

#[test]
fn redirect_defaults_keep_every_component() {
    assert_eq!(redirect(base()), "http://example.com:8080/a/b?x=1");
}

#[test]
fn redirect_placeholders() {
    let https = RedirectConfig {
        protocol: Some("HTTPS".into()),
        port: Some("443".into()),
        ..base()
    };
    assert_eq!(redirect(https), "https://example.com:443/a/b?x=1");
    let moved = RedirectConfig {
        host: Some("new.#{host}".into()),
        path: Some("/new/#{path}/#{port}".into()),
        query: Some("#{query}&from=#{protocol}&h=#{host}".into()),
        ..base()
    };
    assert_eq!(
        redirect(moved),
        "http://new.example.com:8080/new/a/b/8080?x=1&from=HTTP&h=example.com"
    );
    let no_query = RedirectConfig {
        query: Some(String::new()),
        path: Some("/fixed".into()),
        ..base()
    };
    assert_eq!(redirect(no_query), "http://example.com:8080/fixed");
    let unknown = RedirectConfig {
        path: Some("/#{nope}/#{path".into()),
        ..base()
    };
    assert_eq!(
        redirect(unknown),
        "http://example.com:8080/#{nope}/#{path?x=1"
    );
}

#[test]
fn redirect_response_status() {
    let r = Redirect::new(&RedirectConfig {
        status: RedirectStatus::Found,
        protocol: Some("HTTPS".into()),
        ..base()
    })
    .respond(&parts());
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://example.com:8080/a/b?x=1");
}

#[test]
fn host_port_split() {
    assert_eq!(host_without_port("example.com:8080"), "example.com");
    assert_eq!(host_without_port("example.com"), "example.com");
    assert_eq!(host_without_port("[::1]:80"), "::1");
    assert_eq!(host_without_port("::1"), "::1");
}
