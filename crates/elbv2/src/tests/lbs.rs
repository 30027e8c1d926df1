//! Load balancers.

use super::{Fx, REGION};

const ALB_ARN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/0000000000000001";

#[test]
fn create_application_load_balancer() {
    let fx = Fx::new();
    let r = fx.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "Web"),
            ("Subnets.member.1", "subnet-a"),
            ("Subnets.member.2", "subnet-b"),
            ("SecurityGroups.member.1", "sg-1"),
            ("Scheme", "internal"),
        ],
    );
    let lb = r.get("LoadBalancers/member");
    assert_eq!(
        lb.text("LoadBalancerArn"),
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/Web/0000000000000001"
    );
    assert_eq!(lb.text("DNSName"), "web-0000000000000001.elb.localhost");
    assert_eq!(lb.text("LoadBalancerName"), "Web");
    assert_eq!(lb.text("State/Code"), "active");
    assert_eq!(lb.text("Type"), "application");
    assert_eq!(lb.text("Scheme"), "internal");
    assert_eq!(lb.text("VpcId"), "vpc-dockyard");
    assert_eq!(lb.text("IpAddressType"), "ipv4");
    assert_eq!(lb.text("CreatedTime"), "2024-05-17T10:30:00.000Z");
    assert_eq!(lb.text("CanonicalHostedZoneId"), "Z35SXDOTRQ7X7K");
    assert_eq!(lb.strings("SecurityGroups"), ["sg-1"]);
    let zones: Vec<(String, String)> = lb
        .members("AvailabilityZones")
        .iter()
        .map(|z| (z.text("ZoneName"), z.text("SubnetId")))
        .collect();
    assert_eq!(
        zones,
        [
            (format!("{REGION}a"), "subnet-a".to_string()),
            (format!("{REGION}b"), "subnet-b".to_string())
        ]
    );
    // Where the listeners are bound, in every zone.
    for z in lb.members("AvailabilityZones") {
        let addrs: Vec<String> = z
            .members("LoadBalancerAddresses")
            .iter()
            .map(|a| a.text("IpAddress"))
            .collect();
        assert_eq!(addrs, ["127.0.0.9"]);
    }
}

#[test]
fn create_network_load_balancer_with_subnet_mappings() {
    let fx = Fx::new();
    let r = fx.ok(
        "CreateLoadBalancer",
        &[
            ("Name", "tcp"),
            ("Type", "network"),
            ("SubnetMappings.member.1.SubnetId", "subnet-x"),
        ],
    );
    let lb = r.get("LoadBalancers/member");
    assert!(
        lb.text("LoadBalancerArn")
            .contains(":loadbalancer/net/tcp/")
    );
    assert_eq!(lb.text("Type"), "network");
    assert_eq!(lb.text("Scheme"), "internet-facing");
    assert_eq!(lb.text("CanonicalHostedZoneId"), "Z26RNL4JYFTOTI");
    assert_eq!(lb.members("AvailabilityZones").len(), 1);
    assert!(!lb.has("SecurityGroups"));
    let attrs = fx.ok(
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &lb.text("LoadBalancerArn"))],
    );
    let keys: Vec<String> = attrs
        .members("Attributes")
        .iter()
        .map(|a| a.text("Key"))
        .collect();
    assert!(keys.contains(&"load_balancing.cross_zone.enabled".to_string()));
    assert!(!keys.contains(&"idle_timeout.timeout_seconds".to_string()));
}

#[test]
fn create_is_idempotent_but_names_are_unique() {
    let fx = Fx::new();
    let arn = fx.alb("web");
    assert_eq!(arn, ALB_ARN);
    let rev = fx.revision();
    assert_eq!(
        fx.alb("web"),
        arn,
        "the same request again answers the same load balancer"
    );
    assert_eq!(fx.revision(), rev, "and writes nothing");
    let e = fx.err(
        "CreateLoadBalancer",
        &[("Name", "web"), ("Subnets.member.1", "subnet-a")],
    );
    assert_eq!(e.code, "DuplicateLoadBalancerName");
    assert_eq!(
        e.message,
        "A load balancer with the same name 'web' exists, but with different settings"
    );
}

#[test]
fn create_refuses_bad_input() {
    let fx = Fx::new();
    let s = ("Subnets.member.1", "subnet-a");
    for (pairs, code) in [
        (vec![s], "ValidationError"),
        (vec![("Name", "-web"), s], "ValidationError"),
        (vec![("Name", "internal-web"), s], "ValidationError"),
        (vec![("Name", "web")], "ValidationError"),
        (
            vec![("Name", "web"), s, ("Type", "classic")],
            "ValidationError",
        ),
        (
            vec![("Name", "web"), s, ("Type", "gateway")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![("Name", "web"), s, ("Scheme", "public")],
            "ValidationError",
        ),
        (
            vec![("Name", "web"), s, ("IpAddressType", "ipv5")],
            "ValidationError",
        ),
        (
            vec![("Name", "web"), s, ("Subnets.member.2", "subnet-a")],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "web"),
                s,
                ("SubnetMappings.member.1.SubnetId", "subnet-b"),
            ],
            "ValidationError",
        ),
        (
            vec![
                ("Name", "web"),
                ("SubnetMappings.member.1.SubnetId", "subnet-b"),
                ("SubnetMappings.member.1.AllocationId", "eipalloc-1"),
            ],
            "InvalidConfigurationRequest",
        ),
        (
            vec![
                ("Name", "web"),
                s,
                ("Tags.member.1.Key", "a"),
                ("Tags.member.2.Key", "a"),
            ],
            "DuplicateTagKeys",
        ),
    ] {
        assert_eq!(fx.code("CreateLoadBalancer", &pairs), code, "{pairs:?}");
    }
    assert!(fx.dump().is_empty());
}

#[test]
fn describe_filters_and_pages() {
    let fx = Fx::new();
    for name in ["e", "c", "a", "d", "b"] {
        fx.alb(name);
    }
    let all = fx.ok("DescribeLoadBalancers", &[]);
    let names: Vec<String> = all
        .members("LoadBalancers")
        .iter()
        .map(|l| l.text("LoadBalancerName"))
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"]);
    assert!(!all.has("NextMarker"));

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut pairs = vec![("PageSize", "2")];
        if let Some(m) = &marker {
            pairs.push(("Marker", m));
        }
        let page = fx.ok("DescribeLoadBalancers", &pairs);
        seen.extend(
            page.members("LoadBalancers")
                .iter()
                .map(|l| l.text("LoadBalancerName")),
        );
        match page.opt("NextMarker") {
            Some(m) => marker = Some(m.text.clone()),
            None => break,
        }
    }
    assert_eq!(seen, names);

    let by_name = fx.ok(
        "DescribeLoadBalancers",
        &[("Names.member.1", "c"), ("Names.member.2", "a")],
    );
    assert_eq!(by_name.members("LoadBalancers").len(), 2);
    let arn = by_name.members("LoadBalancers")[0].text("LoadBalancerArn");
    let by_arn = fx.ok(
        "DescribeLoadBalancers",
        &[("LoadBalancerArns.member.1", &arn)],
    );
    assert_eq!(by_arn.text("LoadBalancers/member/LoadBalancerName"), "a");

    let e = fx.err(
        "DescribeLoadBalancers",
        &[("Names.member.1", "a"), ("Names.member.2", "zz")],
    );
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("LoadBalancerNotFound", "Load balancers '[zz]' not found")
    );
    let missing = arn.replace("0000000000000003", "00000000000000ff");
    assert_eq!(
        fx.code(
            "DescribeLoadBalancers",
            &[("LoadBalancerArns.member.1", &missing)]
        ),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        fx.code(
            "DescribeLoadBalancers",
            &[("LoadBalancerArns.member.1", "nope")]
        ),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        fx.code(
            "DescribeLoadBalancers",
            &[("LoadBalancerArns.member.1", &arn), ("Names.member.1", "a")]
        ),
        "ValidationError"
    );
    assert_eq!(
        fx.code("DescribeLoadBalancers", &[("PageSize", "0")]),
        "ValidationError"
    );
    assert_eq!(
        fx.code("DescribeLoadBalancers", &[("Marker", "not-hex")]),
        "ValidationError"
    );
}

#[test]
fn accounts_do_not_see_each_other() {
    let fx = Fx::new();
    let arn = fx.alb("web");
    fx.as_account("111111111111");
    assert!(
        fx.ok("DescribeLoadBalancers", &[])
            .members("LoadBalancers")
            .is_empty()
    );
    assert_eq!(
        fx.code(
            "DescribeLoadBalancerAttributes",
            &[("LoadBalancerArn", &arn)]
        ),
        "LoadBalancerNotFound"
    );
    // The same name is free in another account.
    assert!(fx.alb("web").contains(":111111111111:"));
    fx.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &arn)]);
    fx.as_account(super::ACCOUNT);
    assert_eq!(
        fx.ok("DescribeLoadBalancers", &[])
            .members("LoadBalancers")
            .len(),
        1
    );
}

#[test]
fn delete_takes_listeners_and_rules_with_it() {
    let fx = Fx::new();
    let (lb, tg, listener) = fx.web("web", "80");
    fx.rule(&listener, "10", "/api/*", &tg);
    let (_, _, other) = fx.web("other", "81");
    fx.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    let keys: Vec<String> = fx.dump().into_keys().collect();
    assert!(
        keys.iter().all(|k| !k.starts_with("elbv2/rules/")),
        "{keys:?}"
    );
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("elbv2/listeners/"))
            .count(),
        1
    );
    assert_eq!(
        fx.code("DescribeListeners", &[("ListenerArns.member.1", &listener)]),
        "ListenerNotFound"
    );
    fx.ok("DescribeListeners", &[("ListenerArns.member.1", &other)]);
    // The target group stays, now unused; the port is free again.
    let tgs = fx.ok("DescribeTargetGroups", &[("TargetGroupArns.member.1", &tg)]);
    assert!(
        tgs.members("TargetGroups/member/LoadBalancerArns")
            .is_empty()
    );
    let again = fx.alb("again");
    fx.listener(&again, "HTTP", "80", &tg);
    // Deleting what is gone succeeds; a malformed ARN does not.
    fx.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    assert_eq!(
        fx.code("DeleteLoadBalancer", &[("LoadBalancerArn", "lb-1")]),
        "ValidationError"
    );
    assert_eq!(fx.code("DeleteLoadBalancer", &[]), "ValidationError");
}

#[test]
fn deletion_protection() {
    let fx = Fx::new();
    let (lb, _, _) = fx.web("web", "80");
    fx.ok(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "deletion_protection.enabled"),
            ("Attributes.member.1.Value", "true"),
        ],
    );
    assert_eq!(
        fx.code("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]),
        "OperationNotPermitted"
    );
    fx.ok(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "deletion_protection.enabled"),
            ("Attributes.member.1.Value", "false"),
        ],
    );
    fx.ok("DeleteLoadBalancer", &[("LoadBalancerArn", &lb)]);
    assert!(
        fx.ok("DescribeLoadBalancers", &[])
            .members("LoadBalancers")
            .is_empty()
    );
}

#[test]
fn attributes() {
    let fx = Fx::new();
    let lb = fx.alb("web");
    let attrs = |r: &super::Node| -> Vec<(String, String)> {
        r.members("Attributes")
            .iter()
            .map(|a| (a.text("Key"), a.text("Value")))
            .collect()
    };
    let before = attrs(&fx.ok(
        "DescribeLoadBalancerAttributes",
        &[("LoadBalancerArn", &lb)],
    ));
    assert!(before.contains(&("idle_timeout.timeout_seconds".into(), "60".into())));
    assert!(before.contains(&("routing.http2.enabled".into(), "true".into())));
    let after = attrs(&fx.ok(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "idle_timeout.timeout_seconds"),
            ("Attributes.member.1.Value", "300"),
            (
                "Attributes.member.2.Key",
                "routing.http.xff_header_processing.mode",
            ),
            ("Attributes.member.2.Value", "append"),
        ],
    ));
    assert_eq!(after.len(), before.len(), "the reply lists every attribute");
    assert!(after.contains(&("idle_timeout.timeout_seconds".into(), "300".into())));
    assert_eq!(
        attrs(&fx.ok(
            "DescribeLoadBalancerAttributes",
            &[("LoadBalancerArn", &lb)]
        )),
        after
    );
    // A bad change anywhere in the list changes nothing.
    let e = fx.err(
        "ModifyLoadBalancerAttributes",
        &[
            ("LoadBalancerArn", &lb),
            ("Attributes.member.1.Key", "idle_timeout.timeout_seconds"),
            ("Attributes.member.1.Value", "30"),
            (
                "Attributes.member.2.Key",
                "idle_timeout.timeout_seconds.bogus",
            ),
            ("Attributes.member.2.Value", "1"),
        ],
    );
    assert_eq!(e.code, "ValidationError");
    for (k, v, code) in [
        ("idle_timeout.timeout_seconds", "4001", "ValidationError"),
        (
            "access_logs.s3.enabled",
            "true",
            "InvalidConfigurationRequest",
        ),
        (
            "load_balancing.cross_zone.enabled",
            "false",
            "InvalidConfigurationRequest",
        ),
        (
            "routing.http.xff_header_processing.mode",
            "preserve",
            "InvalidConfigurationRequest",
        ),
    ] {
        let pairs = [
            ("LoadBalancerArn", lb.as_str()),
            ("Attributes.member.1.Key", k),
            ("Attributes.member.1.Value", v),
        ];
        assert_eq!(
            fx.code("ModifyLoadBalancerAttributes", &pairs),
            code,
            "{k}={v}"
        );
    }
    assert_eq!(
        fx.code("ModifyLoadBalancerAttributes", &[("LoadBalancerArn", &lb)]),
        "ValidationError"
    );
    let gone = lb.replace("0000000000000001", "0000000000000009");
    assert_eq!(
        fx.code(
            "DescribeLoadBalancerAttributes",
            &[("LoadBalancerArn", &gone)]
        ),
        "LoadBalancerNotFound"
    );
}

#[test]
fn load_balancer_quota() {
    let fx = Fx::new();
    for i in 0..50 {
        fx.nlb(&format!("n{i}"));
    }
    assert_eq!(
        fx.code(
            "CreateLoadBalancer",
            &[
                ("Name", "n50"),
                ("Type", "network"),
                ("Subnets.member.1", "s")
            ]
        ),
        "TooManyLoadBalancers"
    );
    // The quota is per type.
    fx.alb("web");
}
