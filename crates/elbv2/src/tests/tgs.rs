//! Target groups.

use super::{Fx, Node};

fn attrs(r: &Node) -> Vec<(String, String)> {
    r.members("Attributes")
        .iter()
        .map(|a| (a.text("Key"), a.text("Value")))
        .collect()
}

#[test]
fn http_group_defaults() {
    let fx = Fx::new();
    let r = fx.ok(
        "CreateTargetGroup",
        &[
            ("Name", "web"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("VpcId", "vpc-1"),
        ],
    );
    let tg = r.get("TargetGroups/member");
    assert_eq!(
        tg.text("TargetGroupArn"),
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0000000000000001"
    );
    for (k, v) in [
        ("TargetGroupName", "web"),
        ("Protocol", "HTTP"),
        ("Port", "80"),
        ("VpcId", "vpc-1"),
        ("HealthCheckProtocol", "HTTP"),
        ("HealthCheckPort", "traffic-port"),
        ("HealthCheckEnabled", "true"),
        ("HealthCheckIntervalSeconds", "30"),
        ("HealthCheckTimeoutSeconds", "5"),
        ("HealthyThresholdCount", "5"),
        ("UnhealthyThresholdCount", "2"),
        ("HealthCheckPath", "/"),
        ("Matcher/HttpCode", "200"),
        ("TargetType", "instance"),
        ("ProtocolVersion", "HTTP1"),
        ("IpAddressType", "ipv4"),
    ] {
        assert_eq!(tg.text(k), v, "{k}");
    }
    assert!(tg.members("LoadBalancerArns").is_empty());
}

#[test]
fn network_group_defaults() {
    let fx = Fx::new();
    let r = fx.ok(
        "CreateTargetGroup",
        &[
            ("Name", "tcp"),
            ("Protocol", "TCP"),
            ("Port", "5432"),
            ("TargetType", "ip"),
        ],
    );
    let tg = r.get("TargetGroups/member");
    assert_eq!(tg.text("HealthCheckProtocol"), "TCP");
    assert_eq!(tg.text("HealthCheckTimeoutSeconds"), "10");
    assert_eq!(tg.text("HealthCheckIntervalSeconds"), "30");
    assert_eq!(tg.text("VpcId"), "vpc-dockyard");
    assert!(!tg.has("HealthCheckPath") && !tg.has("Matcher") && !tg.has("ProtocolVersion"));

    let http = fx.ok(
        "CreateTargetGroup",
        &[
            ("Name", "tcp-http-check"),
            ("Protocol", "TCP"),
            ("Port", "80"),
            ("HealthCheckProtocol", "HTTP"),
            ("HealthCheckPath", "/healthz"),
        ],
    );
    let tg = http.get("TargetGroups/member");
    assert_eq!(tg.text("HealthCheckTimeoutSeconds"), "6");
    assert_eq!(tg.text("Matcher/HttpCode"), "200-399");
    assert_eq!(tg.text("HealthCheckPath"), "/healthz");

    let a = attrs(&fx.ok(
        "DescribeTargetGroupAttributes",
        &[("TargetGroupArn", &tg.text("TargetGroupArn"))],
    ));
    assert!(a.contains(&("stickiness.type".into(), "source_ip".into())));
    assert!(a.contains(&("proxy_protocol_v2.enabled".into(), "false".into())));
}

#[test]
fn create_is_idempotent_and_checked() {
    let fx = Fx::new();
    let arn = fx.tg("web", "HTTP", "80", "ip");
    let rev = fx.revision();
    assert_eq!(fx.tg("web", "HTTP", "80", "ip"), arn);
    assert_eq!(fx.revision(), rev);
    let e = fx.err(
        "CreateTargetGroup",
        &[
            ("Name", "web"),
            ("Protocol", "HTTP"),
            ("Port", "81"),
            ("VpcId", "vpc-1"),
            ("TargetType", "ip"),
        ],
    );
    assert_eq!(e.code, "DuplicateTargetGroupName");

    for (pairs, code) in [
        (vec![("Name", "a"), ("Port", "80")], "ValidationError"),
        (vec![("Name", "a"), ("Protocol", "HTTP")], "ValidationError"),
        (
            vec![("Name", "a"), ("Protocol", "HTTP"), ("Port", "0")],
            "ValidationError",
        ),
        (
            vec![("Name", "a-"), ("Protocol", "HTTP"), ("Port", "80")],
            "ValidationError",
        ),
        (
            vec![("Name", "a"), ("Protocol", "SCTP"), ("Port", "80")],
            "ValidationError",
        ),
        (
            vec![("Name", "a"), ("Protocol", "GENEVE"), ("Port", "6081")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![("Name", "a"), ("Protocol", "HTTPS"), ("Port", "443")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![("Name", "a"), ("Protocol", "UDP"), ("Port", "53")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("ProtocolVersion", "GRPC"),
            ],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("ProtocolVersion", "HTTP3"),
            ],
            "ValidationError",
        ),
        (
            vec![("Name", "a"), ("TargetType", "lambda")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("TargetType", "pod"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "TCP"),
                ("Port", "80"),
                ("ProtocolVersion", "HTTP2"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("HealthCheckIntervalSeconds", "400"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("HealthCheckEnabled", "false"),
            ],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("IpAddressType", "ipv6"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "a"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("Tags.member.1.Key", "k"),
                ("Tags.member.2.Key", "k"),
            ],
            "ValidationError",
        ),
    ] {
        assert_eq!(fx.code("CreateTargetGroup", &pairs), code, "{pairs:?}");
    }
}

#[test]
fn modify_health_check() {
    let fx = Fx::new();
    let arn = fx.tg("web", "HTTP", "80", "ip");
    let r = fx.ok(
        "ModifyTargetGroup",
        &[
            ("TargetGroupArn", &arn),
            ("HealthCheckPath", "/ready"),
            ("HealthCheckIntervalSeconds", "10"),
            ("HealthCheckTimeoutSeconds", "3"),
            ("HealthyThresholdCount", "2"),
            ("HealthCheckPort", "9000"),
            ("Matcher.HttpCode", "200-299"),
        ],
    );
    let tg = r.get("TargetGroups/member");
    assert_eq!(tg.text("HealthCheckPath"), "/ready");
    assert_eq!(tg.text("HealthCheckIntervalSeconds"), "10");
    assert_eq!(tg.text("HealthCheckPort"), "9000");
    assert_eq!(tg.text("Matcher/HttpCode"), "200-299");
    assert_eq!(
        tg.text("UnhealthyThresholdCount"),
        "2",
        "unchanged members stay"
    );
    // Timeout must stay below the interval: refused, nothing changes.
    let e = fx.err(
        "ModifyTargetGroup",
        &[
            ("TargetGroupArn", &arn),
            ("HealthCheckTimeoutSeconds", "10"),
        ],
    );
    assert_eq!(
        e.message,
        "Health check timeout '10' must be smaller than the interval '10'"
    );
    let missing = arn.replace("0000000000000001", "0000000000000002");
    assert_eq!(
        fx.code("ModifyTargetGroup", &[("TargetGroupArn", &missing)]),
        "TargetGroupNotFound"
    );
    assert_eq!(
        fx.code("ModifyTargetGroup", &[("TargetGroupArn", "tg")]),
        "ValidationError"
    );
}

#[test]
fn describe_filters_and_pages() {
    let fx = Fx::new();
    let (lb, used, _) = fx.web("web", "80");
    let names = ["c", "a", "b"];
    for n in names {
        fx.tg(n, "HTTP", "80", "ip");
    }
    let all = fx.ok("DescribeTargetGroups", &[]);
    let listed: Vec<String> = all
        .members("TargetGroups")
        .iter()
        .map(|t| t.text("TargetGroupName"))
        .collect();
    assert_eq!(listed, ["a", "b", "c", "web-tg"]);

    let by_lb = fx.ok("DescribeTargetGroups", &[("LoadBalancerArn", &lb)]);
    let only = by_lb.get("TargetGroups/member");
    assert_eq!(only.text("TargetGroupArn"), used);
    assert_eq!(only.strings("LoadBalancerArns"), std::slice::from_ref(&lb));

    let by_name = fx.ok("DescribeTargetGroups", &[("Names.member.1", "b")]);
    assert_eq!(by_name.members("TargetGroups").len(), 1);
    let by_arn = fx.ok(
        "DescribeTargetGroups",
        &[("TargetGroupArns.member.1", &used)],
    );
    assert_eq!(by_arn.text("TargetGroups/member/TargetGroupName"), "web-tg");

    let p1 = fx.ok("DescribeTargetGroups", &[("PageSize", "3")]);
    assert_eq!(p1.members("TargetGroups").len(), 3);
    let p2 = fx.ok(
        "DescribeTargetGroups",
        &[("PageSize", "3"), ("Marker", &p1.text("NextMarker"))],
    );
    assert_eq!(p2.text("TargetGroups/member/TargetGroupName"), "web-tg");
    assert!(!p2.has("NextMarker"));

    assert_eq!(
        fx.code("DescribeTargetGroups", &[("Names.member.1", "zz")]),
        "TargetGroupNotFound"
    );
    assert_eq!(
        fx.code(
            "DescribeTargetGroups",
            &[("Names.member.1", "a"), ("LoadBalancerArn", &lb)]
        ),
        "ValidationError"
    );
    let gone = lb.replace("0000000000000001", "00000000000000aa");
    assert_eq!(
        fx.code("DescribeTargetGroups", &[("LoadBalancerArn", &gone)]),
        "LoadBalancerNotFound"
    );
}

#[test]
fn delete_refuses_groups_in_use() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    fx.ok(
        "RegisterTargets",
        &[("TargetGroupArn", &tg), ("Targets.member.1.Id", "10.0.0.5")],
    );
    let e = fx.err("DeleteTargetGroup", &[("TargetGroupArn", &tg)]);
    assert_eq!(e.code, "ResourceInUse");
    assert!(e.message.contains(&tg));
    // In use by a rule only.
    let other = fx.tg("other", "HTTP", "80", "ip");
    let rule = fx.rule(&listener, "5", "/x", &other);
    assert_eq!(
        fx.code("DeleteTargetGroup", &[("TargetGroupArn", &other)]),
        "ResourceInUse"
    );
    fx.ok("DeleteRule", &[("RuleArn", &rule)]);
    fx.ok("DeleteTargetGroup", &[("TargetGroupArn", &other)]);

    fx.ok("DeleteListener", &[("ListenerArn", &listener)]);
    fx.ok("DeleteTargetGroup", &[("TargetGroupArn", &tg)]);
    let keys: Vec<String> = fx.dump().into_keys().collect();
    assert!(
        keys.iter()
            .all(|k| !k.starts_with("elbv2/tgs/") && !k.starts_with("elbv2/targets/")),
        "{keys:?}"
    );
    // Deleting again succeeds, as on AWS.
    fx.ok("DeleteTargetGroup", &[("TargetGroupArn", &tg)]);
}

#[test]
fn group_attributes() {
    let fx = Fx::new();
    let arn = fx.tg("web", "HTTP", "80", "ip");
    let before = attrs(&fx.ok("DescribeTargetGroupAttributes", &[("TargetGroupArn", &arn)]));
    for kv in [
        ("deregistration_delay.timeout_seconds", "300"),
        ("slow_start.duration_seconds", "0"),
        ("load_balancing.algorithm.type", "round_robin"),
        ("stickiness.enabled", "false"),
        ("stickiness.type", "lb_cookie"),
        ("stickiness.lb_cookie.duration_seconds", "86400"),
    ] {
        assert!(before.contains(&(kv.0.into(), kv.1.into())), "{kv:?}");
    }
    let after = attrs(&fx.ok(
        "ModifyTargetGroupAttributes",
        &[
            ("TargetGroupArn", &arn),
            (
                "Attributes.member.1.Key",
                "deregistration_delay.timeout_seconds",
            ),
            ("Attributes.member.1.Value", "30"),
            ("Attributes.member.2.Key", "slow_start.duration_seconds"),
            ("Attributes.member.2.Value", "60"),
            ("Attributes.member.3.Key", "load_balancing.algorithm.type"),
            ("Attributes.member.3.Value", "least_outstanding_requests"),
            ("Attributes.member.4.Key", "stickiness.enabled"),
            ("Attributes.member.4.Value", "true"),
            (
                "Attributes.member.5.Key",
                "stickiness.lb_cookie.duration_seconds",
            ),
            ("Attributes.member.5.Value", "3600"),
        ],
    ));
    assert_eq!(after.len(), before.len());
    assert!(after.contains(&(
        "load_balancing.algorithm.type".into(),
        "least_outstanding_requests".into()
    )));
    assert_eq!(
        attrs(&fx.ok("DescribeTargetGroupAttributes", &[("TargetGroupArn", &arn)])),
        after
    );
    for (k, v, code) in [
        (
            "deregistration_delay.timeout_seconds",
            "3601",
            "ValidationError",
        ),
        ("slow_start.duration_seconds", "20", "ValidationError"),
        (
            "load_balancing.algorithm.type",
            "fastest",
            "ValidationError",
        ),
        (
            "stickiness.type",
            "source_ip",
            "InvalidConfigurationRequest",
        ),
        ("proxy_protocol_v2.enabled", "true", "ValidationError"),
        (
            "target_group_health.dns_failover.minimum_healthy_targets.count",
            "2",
            "InvalidConfigurationRequest",
        ),
    ] {
        let pairs = [
            ("TargetGroupArn", arn.as_str()),
            ("Attributes.member.1.Key", k),
            ("Attributes.member.1.Value", v),
        ];
        assert_eq!(
            fx.code("ModifyTargetGroupAttributes", &pairs),
            code,
            "{k}={v}"
        );
    }
    let missing = arn.replace("0000000000000001", "0000000000000009");
    assert_eq!(
        fx.code(
            "DescribeTargetGroupAttributes",
            &[("TargetGroupArn", &missing)]
        ),
        "TargetGroupNotFound"
    );
}
