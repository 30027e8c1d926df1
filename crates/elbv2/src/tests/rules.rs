//! Listener rules.

use super::{Fx, Node};

fn priorities(r: &Node) -> Vec<(String, String)> {
    r.members("Rules")
        .iter()
        .map(|m| (m.text("Priority"), m.text("IsDefault")))
        .collect()
}

fn p(priority: &str, default: bool) -> (String, String) {
    (priority.into(), default.to_string())
}

#[test]
fn create_and_describe() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    let r = fx.ok(
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "10"),
            ("Conditions.member.1.Field", "path-pattern"),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.1",
                "/api/*",
            ),
            ("Conditions.member.2.Field", "http-header"),
            (
                "Conditions.member.2.HttpHeaderConfig.HttpHeaderName",
                "X-Env",
            ),
            (
                "Conditions.member.2.HttpHeaderConfig.Values.member.1",
                "blue",
            ),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &tg),
            ("Actions.member.1.Order", "1"),
        ],
    );
    let rule = r.get("Rules/member");
    let arn = rule.text("RuleArn");
    assert!(
        arn.contains(":listener-rule/app/web/0000000000000001/0000000000000003/"),
        "{arn}"
    );
    assert_eq!(rule.text("Priority"), "10");
    assert_eq!(rule.text("IsDefault"), "false");
    let conds = rule.members("Conditions");
    assert_eq!(conds[0].text("Field"), "path-pattern");
    assert_eq!(conds[0].strings("Values"), ["/api/*"]);
    assert_eq!(conds[0].strings("PathPatternConfig/Values"), ["/api/*"]);
    assert_eq!(conds[1].text("HttpHeaderConfig/HttpHeaderName"), "X-Env");
    assert!(!conds[1].has("Values"));
    assert_eq!(rule.text("Actions/member/Order"), "1");

    fx.rule(&listener, "5", "/five", &tg);
    let all = fx.ok("DescribeRules", &[("ListenerArn", &listener)]);
    assert_eq!(
        priorities(&all),
        [p("5", false), p("10", false), p("default", true)]
    );
    let default = all.members("Rules")[2];
    assert!(default.members("Conditions").is_empty());
    assert_eq!(default.text("Actions/member/TargetGroupArn"), tg);
    // By ARN, the default rule included.
    let by_arn = fx.ok(
        "DescribeRules",
        &[
            ("RuleArns.member.1", &default.text("RuleArn")),
            ("RuleArns.member.2", &arn),
        ],
    );
    assert_eq!(priorities(&by_arn), [p("10", false), p("default", true)]);
    let page = fx.ok(
        "DescribeRules",
        &[("ListenerArn", &listener), ("PageSize", "2")],
    );
    assert_eq!(priorities(&page), [p("5", false), p("10", false)]);
    let rest = fx.ok(
        "DescribeRules",
        &[
            ("ListenerArn", &listener),
            ("PageSize", "2"),
            ("Marker", &page.text("NextMarker")),
        ],
    );
    assert_eq!(priorities(&rest), [p("default", true)]);
    assert_eq!(fx.code("DescribeRules", &[]), "ValidationError");
    let missing = format!("{}0", arn);
    assert_eq!(
        fx.code("DescribeRules", &[("RuleArns.member.1", &missing)]),
        "RuleNotFound"
    );
}

#[test]
fn bad_rules_are_refused_whole() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    fx.rule(&listener, "10", "/a", &tg);
    let base = |priority: &'static str| {
        vec![
            ("ListenerArn".to_string(), listener.clone()),
            ("Priority".to_string(), priority.to_string()),
            ("Actions.member.1.Type".to_string(), "forward".to_string()),
            ("Actions.member.1.TargetGroupArn".to_string(), tg.clone()),
        ]
    };
    let cond = |pairs: &mut Vec<(String, String)>, n: usize, path: &str| {
        pairs.push((
            format!("Conditions.member.{n}.Field"),
            "path-pattern".into(),
        ));
        pairs.push((
            format!("Conditions.member.{n}.Values.member.1"),
            path.into(),
        ));
    };
    let attempt = |pairs: Vec<(String, String)>| {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fx.err("CreateRule", &pairs)
    };

    let mut in_use = base("10");
    cond(&mut in_use, 1, "/b");
    let e = attempt(in_use);
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("PriorityInUse", "Priority '10' is currently in use")
    );

    for bad in ["0", "50001", "x"] {
        let mut pairs = base(bad);
        cond(&mut pairs, 1, "/b");
        assert_eq!(attempt(pairs).code, "ValidationError", "priority {bad}");
    }

    let mut too_many = base("20");
    too_many.push(("Conditions.member.1.Field".into(), "path-pattern".into()));
    for i in 1..=6 {
        too_many.push((
            format!("Conditions.member.1.PathPatternConfig.Values.member.{i}"),
            format!("/p{i}"),
        ));
    }
    let e = attempt(too_many);
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        (
            "ValidationError",
            "A rule can only have '5' condition values"
        )
    );

    let mut across = base("20");
    for (i, (field, cfg, v)) in [
        ("path-pattern", "PathPatternConfig", "/a"),
        ("host-header", "HostHeaderConfig", "a.example.com"),
        ("http-request-method", "HttpRequestMethodConfig", "GET"),
        ("source-ip", "SourceIpConfig", "10.0.0.0/8"),
    ]
    .iter()
    .enumerate()
    {
        across.push((
            format!("Conditions.member.{}.Field", i + 1),
            field.to_string(),
        ));
        across.push((
            format!("Conditions.member.{}.{cfg}.Values.member.1", i + 1),
            v.to_string(),
        ));
        across.push((
            format!("Conditions.member.{}.{cfg}.Values.member.2", i + 1),
            v.to_string(),
        ));
    }
    assert_eq!(
        attempt(across).code,
        "ValidationError",
        "8 values across conditions"
    );

    let no_conditions = base("20");
    assert_eq!(attempt(no_conditions).code, "ValidationError");
    let mut no_actions = base("20");
    no_actions.truncate(2);
    cond(&mut no_actions, 1, "/b");
    assert_eq!(attempt(no_actions).code, "ValidationError");
    let mut unknown_tg = base("20");
    unknown_tg[3].1 = tg.replace("0000000000000002", "00000000000000dd");
    cond(&mut unknown_tg, 1, "/b");
    assert_eq!(attempt(unknown_tg).code, "TargetGroupNotFound");
    let mut transforms = base("20");
    cond(&mut transforms, 1, "/b");
    transforms.push(("Transforms.member.1.Type".into(), "url-rewrite".into()));
    assert_eq!(attempt(transforms).code, "ValidationError");
    let mut gone = base("20");
    gone[0].1 = format!("{listener}0");
    cond(&mut gone, 1, "/b");
    assert_eq!(attempt(gone).code, "ListenerNotFound");

    // Rules belong to HTTP listeners.
    let nlb = fx.nlb("tcp");
    let tcp_tg = fx.tg("tcp-tg", "TCP", "80", "ip");
    let tcp = fx.listener(&nlb, "TCP", "81", &tcp_tg);
    let mut on_tcp = base("20");
    on_tcp[0].1 = tcp;
    on_tcp[3].1 = tcp_tg;
    cond(&mut on_tcp, 1, "/b");
    assert_eq!(attempt(on_tcp).code, "UnsupportedProtocol");
}

#[test]
fn modify_rules_and_the_default_rule() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    let rule = fx.rule(&listener, "10", "/a", &tg);
    let other = fx.tg("other", "HTTP", "80", "ip");
    let r = fx.ok(
        "ModifyRule",
        &[
            ("RuleArn", &rule),
            ("Conditions.member.1.Field", "host-header"),
            (
                "Conditions.member.1.HostHeaderConfig.Values.member.1",
                "*.example.com",
            ),
            ("Actions.member.1.Type", "forward"),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                &tg,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "80",
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn",
                &other,
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight",
                "20",
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled",
                "true",
            ),
            (
                "Actions.member.1.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds",
                "300",
            ),
        ],
    );
    let m = r.get("Rules/member");
    assert_eq!(m.text("Priority"), "10");
    assert_eq!(m.text("Conditions/member/Field"), "host-header");
    let a = m.get("Actions/member");
    assert!(!a.has("TargetGroupArn"), "two groups: only ForwardConfig");
    let weights: Vec<String> = a
        .members("ForwardConfig/TargetGroups")
        .iter()
        .map(|t| t.text("Weight"))
        .collect();
    assert_eq!(weights, ["80", "20"]);
    assert_eq!(
        a.text("ForwardConfig/TargetGroupStickinessConfig/DurationSeconds"),
        "300"
    );
    // Unchanged members stay.
    let only_actions = fx.ok(
        "ModifyRule",
        &[
            ("RuleArn", &rule),
            ("Actions.member.1.Type", "fixed-response"),
            ("Actions.member.1.FixedResponseConfig.StatusCode", "404"),
        ],
    );
    assert_eq!(
        only_actions.text("Rules/member/Conditions/member/Field"),
        "host-header"
    );

    let rules = fx.ok("DescribeRules", &[("ListenerArn", &listener)]);
    let default = rules.members("Rules")[1].text("RuleArn");
    let r = fx.ok(
        "ModifyRule",
        &[
            ("RuleArn", &default),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &other),
        ],
    );
    assert_eq!(r.text("Rules/member/Priority"), "default");
    let l = fx.ok("DescribeListeners", &[("ListenerArns.member.1", &listener)]);
    assert_eq!(
        l.text("Listeners/member/DefaultActions/member/TargetGroupArn"),
        other
    );
    assert_eq!(
        fx.code(
            "ModifyRule",
            &[
                ("RuleArn", &default),
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/x"),
            ]
        ),
        "OperationNotPermitted"
    );
    assert_eq!(
        fx.code(
            "ModifyRule",
            &[
                ("RuleArn", &rule),
                ("Conditions.member.1.Field", "path-pattern"),
                ("Conditions.member.1.Values.member.1", "/x"),
                ("Conditions.member.2.Field", "path-pattern"),
                ("Conditions.member.2.Values.member.1", "/y"),
            ]
        ),
        "ValidationError"
    );
    assert_eq!(
        fx.code("ModifyRule", &[("RuleArn", &format!("{rule}9"))]),
        "RuleNotFound"
    );
}

#[test]
fn delete_rules() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    let rule = fx.rule(&listener, "10", "/a", &tg);
    let default = fx
        .ok("DescribeRules", &[("ListenerArn", &listener)])
        .members("Rules")[1]
        .text("RuleArn");
    assert_eq!(
        fx.code("DeleteRule", &[("RuleArn", &default)]),
        "OperationNotPermitted"
    );
    fx.ok("DeleteRule", &[("RuleArn", &rule)]);
    assert_eq!(fx.code("DeleteRule", &[("RuleArn", &rule)]), "RuleNotFound");
    assert_eq!(
        fx.code("DeleteRule", &[("RuleArn", "rule-1")]),
        "ValidationError"
    );
    assert_eq!(
        priorities(&fx.ok("DescribeRules", &[("ListenerArn", &listener)])),
        [p("default", true)]
    );
}

#[test]
fn set_rule_priorities() {
    let fx = Fx::new();
    let (_, tg, listener) = fx.web("web", "80");
    let a = fx.rule(&listener, "1", "/a", &tg);
    let b = fx.rule(&listener, "2", "/b", &tg);
    let c = fx.rule(&listener, "3", "/c", &tg);
    // A swap: each move alone would collide, together they do not.
    let r = fx.ok(
        "SetRulePriorities",
        &[
            ("RulePriorities.member.1.RuleArn", &a),
            ("RulePriorities.member.1.Priority", "2"),
            ("RulePriorities.member.2.RuleArn", &b),
            ("RulePriorities.member.2.Priority", "1"),
        ],
    );
    assert_eq!(priorities(&r), [p("2", false), p("1", false)]);
    let order: Vec<String> = fx
        .ok("DescribeRules", &[("ListenerArn", &listener)])
        .members("Rules")
        .iter()
        .map(|m| m.text("RuleArn"))
        .collect();
    assert_eq!(&order[..3], [b.clone(), a.clone(), c.clone()]);

    let e = fx.err(
        "SetRulePriorities",
        &[
            ("RulePriorities.member.1.RuleArn", &a),
            ("RulePriorities.member.1.Priority", "7"),
            ("RulePriorities.member.2.RuleArn", &b),
            ("RulePriorities.member.2.Priority", "3"),
        ],
    );
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("PriorityInUse", "Priority '3' is currently in use")
    );
    assert_eq!(
        fx.code(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &a),
                ("RulePriorities.member.1.Priority", "9"),
                ("RulePriorities.member.2.RuleArn", &b),
                ("RulePriorities.member.2.Priority", "9"),
            ]
        ),
        "ValidationError"
    );
    let default = fx
        .ok("DescribeRules", &[("ListenerArn", &listener)])
        .members("Rules")[3]
        .text("RuleArn");
    assert_eq!(
        fx.code(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &default),
                ("RulePriorities.member.1.Priority", "9")
            ]
        ),
        "OperationNotPermitted"
    );
    assert_eq!(
        fx.code(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &a),
                ("RulePriorities.member.1.Priority", "0")
            ]
        ),
        "ValidationError"
    );
    assert_eq!(
        fx.code(
            "SetRulePriorities",
            &[
                ("RulePriorities.member.1.RuleArn", &format!("{c}1")),
                ("RulePriorities.member.1.Priority", "9")
            ]
        ),
        "RuleNotFound"
    );
    assert_eq!(fx.code("SetRulePriorities", &[]), "ValidationError");
}

#[test]
fn rule_quota_per_load_balancer() {
    let fx = Fx::new();
    let (lb, tg, listener) = fx.web("web", "80");
    let tg2 = fx.tg("tg2", "HTTP", "80", "ip");
    let second = fx.listener(&lb, "HTTP", "81", &tg2);
    for i in 1..=100 {
        let l = if i % 2 == 0 { &listener } else { &second };
        fx.rule(l, &i.to_string(), &format!("/r{i}"), &tg);
    }
    let e = fx.err(
        "CreateRule",
        &[
            ("ListenerArn", &listener),
            ("Priority", "101"),
            ("Conditions.member.1.Field", "path-pattern"),
            ("Conditions.member.1.Values.member.1", "/over"),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.TargetGroupArn", &tg),
        ],
    );
    assert_eq!(e.code, "TooManyRules");
}
