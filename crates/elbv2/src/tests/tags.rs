//! Tags.

use super::{Fx, Node};

fn tags_of(r: &Node) -> Vec<(String, Vec<(String, String)>)> {
    r.members("TagDescriptions")
        .iter()
        .map(|d| {
            let tags = d
                .members("Tags")
                .iter()
                .map(|t| (t.text("Key"), t.text("Value")))
                .collect();
            (d.text("ResourceArn"), tags)
        })
        .collect()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.into(), v.into())
}

#[test]
fn every_kind_of_resource() {
    let fx = Fx::new();
    let (lb, tg, listener) = fx.web("web", "80");
    let rule = fx.rule(&listener, "1", "/a", &tg);
    let default = fx
        .ok("DescribeRules", &[("ListenerArn", &listener)])
        .members("Rules")[1]
        .text("RuleArn");
    let all = [&lb, &tg, &listener, &rule, &default];
    let mut pairs: Vec<(String, String)> = all
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("ResourceArns.member.{}", i + 1), a.to_string()))
        .collect();
    pairs.push(("Tags.member.1.Key".into(), "env".into()));
    pairs.push(("Tags.member.1.Value".into(), "prod".into()));
    pairs.push(("Tags.member.2.Key".into(), "team".into()));
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fx.ok("AddTags", &refs);

    let described = fx.ok("DescribeTags", &refs[..5]);
    let got = tags_of(&described);
    assert_eq!(got.len(), 5);
    for (i, (arn, tags)) in got.iter().enumerate() {
        assert_eq!(arn, all[i]);
        assert_eq!(tags, &[kv("env", "prod"), kv("team", "")]);
    }
    // AddTags updates a value in place.
    fx.ok(
        "AddTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("Tags.member.1.Key", "env"),
            ("Tags.member.1.Value", "dev"),
        ],
    );
    fx.ok(
        "RemoveTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("ResourceArns.member.2", &default),
            ("TagKeys.member.1", "team"),
        ],
    );
    let got = tags_of(&fx.ok(
        "DescribeTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("ResourceArns.member.2", &default),
        ],
    ));
    assert_eq!(got[0].1, [kv("env", "dev")]);
    assert_eq!(got[1].1, [kv("env", "prod")]);
}

#[test]
fn tags_given_at_creation() {
    let fx = Fx::new();
    let r = fx.ok(
        "CreateTargetGroup",
        &[
            ("Name", "tg"),
            ("Protocol", "HTTP"),
            ("Port", "80"),
            ("Tags.member.1.Key", "owner"),
            ("Tags.member.1.Value", "me"),
        ],
    );
    let tg = r.text("TargetGroups/member/TargetGroupArn");
    let got = tags_of(&fx.ok("DescribeTags", &[("ResourceArns.member.1", &tg)]));
    assert_eq!(got[0].1, [kv("owner", "me")]);
}

#[test]
fn all_or_nothing() {
    let fx = Fx::new();
    let (lb, tg, _) = fx.web("web", "80");
    let missing_tg = tg.replace("0000000000000002", "0000000000000099");
    let e = fx.err(
        "AddTags",
        &[
            ("ResourceArns.member.1", &lb),
            ("ResourceArns.member.2", &missing_tg),
            ("Tags.member.1.Key", "a"),
        ],
    );
    assert_eq!(e.code, "TargetGroupNotFound");
    let missing_lb = lb.replace("0000000000000001", "0000000000000099");
    assert_eq!(
        fx.code("DescribeTags", &[("ResourceArns.member.1", &missing_lb)]),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        fx.code(
            "RemoveTags",
            &[
                ("ResourceArns.member.1", &format!("{lb}1")),
                ("TagKeys.member.1", "a")
            ]
        ),
        "LoadBalancerNotFound"
    );
    assert_eq!(
        fx.code(
            "DescribeTags",
            &[("ResourceArns.member.1", "arn:aws:s3:::bucket")]
        ),
        "ValidationError"
    );
    assert_eq!(
        fx.code(
            "AddTags",
            &[
                ("ResourceArns.member.1", &lb),
                ("Tags.member.1.Key", "a"),
                ("Tags.member.2.Key", "a")
            ]
        ),
        "DuplicateTagKeys"
    );
    assert_eq!(
        fx.code("AddTags", &[("ResourceArns.member.1", &lb)]),
        "ValidationError"
    );
    assert_eq!(
        fx.code("RemoveTags", &[("ResourceArns.member.1", &lb)]),
        "ValidationError"
    );

    let keys: Vec<(String, String)> = (0..50)
        .map(|i| (format!("Tags.member.{}.Key", i + 1), format!("k{i}")))
        .collect();
    let mut pairs: Vec<(&str, &str)> = vec![("ResourceArns.member.1", &lb)];
    pairs.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    fx.ok("AddTags", &pairs);
    assert_eq!(
        fx.code(
            "AddTags",
            &[
                ("ResourceArns.member.1", &lb),
                ("Tags.member.1.Key", "one-more")
            ]
        ),
        "TooManyTags"
    );
}
