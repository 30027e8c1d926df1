use serde_json::{Value, json};

use super::{ALICE, Call, resource_policy};
use crate::Decision::{Allow, NotApplicable};
use crate::PolicyDocument;

/// An allow-everything policy guarded by `condition`.
fn guarded(condition: Value) -> PolicyDocument {
    resource_policy(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Condition": condition
    }}))
}

/// Whether the condition holds for a request with `context`.
fn holds(doc: &PolicyDocument, context: &[(&str, &[&str])]) -> bool {
    let call = context
        .iter()
        .fold(Call::by(ALICE, "ecr:BatchGetImage"), |call, (k, v)| {
            call.with(k, v)
        });
    match call.eval(doc) {
        Allow => true,
        NotApplicable => false,
        other => panic!("unexpected {other:?}"),
    }
}

/// Request context entries: key and values.
type Context<'a> = &'a [(&'a str, &'a [&'a str])];

/// Checks `(context, expected)` cases for one condition.
fn check(condition: Value, cases: &[(Context<'_>, bool)]) {
    let doc = guarded(condition.clone());
    for (context, expected) in cases {
        assert_eq!(
            holds(&doc, context),
            *expected,
            "{condition} with {context:?}"
        );
    }
}

const NONE: &[(&str, &[&str])] = &[];

#[test]
fn string_operators() {
    check(
        json!({"StringEquals": {"aws:PrincipalTag/team": ["web", "api"]}}),
        &[
            (&[("aws:PrincipalTag/team", &["web"])], true),
            (&[("aws:principaltag/TEAM", &["api"])], true),
            (&[("aws:PrincipalTag/team", &["Web"])], false),
            (&[("aws:PrincipalTag/team", &["db"])], false),
            (NONE, false),
        ],
    );
    // Negated operators with several values: none of them may match.
    check(
        json!({"StringNotEquals": {"aws:PrincipalTag/team": ["web", "api"]}}),
        &[
            (&[("aws:PrincipalTag/team", &["web"])], false),
            (&[("aws:PrincipalTag/team", &["api"])], false),
            (&[("aws:PrincipalTag/team", &["db"])], true),
            (NONE, true),
        ],
    );
    check(
        json!({"StringEqualsIgnoreCase": {"k": "Web"}}),
        &[
            (&[("k", &["wEB"])], true),
            (&[("k", &["webs"])], false),
            (NONE, false),
        ],
    );
    check(
        json!({"StringNotEqualsIgnoreCase": {"k": "Web"}}),
        &[
            (&[("k", &["wEB"])], false),
            (&[("k", &["webs"])], true),
            (NONE, true),
        ],
    );
    check(
        json!({"StringLike": {"k": ["team-*", "ops-?"]}}),
        &[
            (&[("k", &["team-web"])], true),
            (&[("k", &["ops-1"])], true),
            (&[("k", &["ops-12"])], false),
            (&[("k", &["Team-web"])], false),
            (NONE, false),
        ],
    );
    check(
        json!({"StringNotLike": {"k": "team-*"}}),
        &[
            (&[("k", &["team-web"])], false),
            (&[("k", &["ops"])], true),
            (NONE, true),
        ],
    );
    // StringEquals takes wildcards literally.
    check(
        json!({"StringEquals": {"k": "team-*"}}),
        &[
            (&[("k", &["team-web"])], false),
            (&[("k", &["team-*"])], true),
        ],
    );
}

#[test]
fn numeric_operators() {
    let five: &[(&str, &[&str])] = &[("n", &["5"])];
    let ten: &[(&str, &[&str])] = &[("n", &["10"])];
    let fifteen: &[(&str, &[&str])] = &[("n", &["15"])];
    let not_a_number: &[(&str, &[&str])] = &[("n", &["ten"])];
    let table = [
        ("NumericEquals", [false, true, false]),
        ("NumericNotEquals", [true, false, true]),
        ("NumericLessThan", [true, false, false]),
        ("NumericLessThanEquals", [true, true, false]),
        ("NumericGreaterThan", [false, false, true]),
        ("NumericGreaterThanEquals", [false, true, true]),
    ];
    for (op, expected) in table {
        let negated = op == "NumericNotEquals";
        check(
            json!({op: {"n": 10}}),
            &[
                (five, expected[0]),
                (ten, expected[1]),
                (fifteen, expected[2]),
                (not_a_number, negated),
                (NONE, negated),
            ],
        );
    }
    check(
        json!({"NumericEquals": {"n": "10.0"}}),
        &[(&[("n", &["10"])], true)],
    );
}

#[test]
fn date_operators() {
    let before: &[(&str, &[&str])] = &[("aws:CurrentTime", &["2024-04-30T23:59:59Z"])];
    let at: &[(&str, &[&str])] = &[("aws:CurrentTime", &["2024-05-01T02:00:00+02:00"])];
    let after: &[(&str, &[&str])] = &[("aws:CurrentTime", &["1714521601"])];
    let table = [
        ("DateEquals", [false, true, false]),
        ("DateNotEquals", [true, false, true]),
        ("DateLessThan", [true, false, false]),
        ("DateLessThanEquals", [true, true, false]),
        ("DateGreaterThan", [false, false, true]),
        ("DateGreaterThanEquals", [false, true, true]),
    ];
    for (op, expected) in table {
        for policy_value in [
            json!("2024-05-01T00:00:00Z"),
            json!(1714521600),
            json!("2024-05-01"),
        ] {
            check(
                json!({op: {"aws:CurrentTime": policy_value}}),
                &[
                    (before, expected[0]),
                    (at, expected[1]),
                    (after, expected[2]),
                    (NONE, op == "DateNotEquals"),
                ],
            );
        }
    }
}

#[test]
fn bool_and_binary() {
    for policy_value in [json!("true"), json!(true), json!("TRUE")] {
        check(
            json!({"Bool": {"aws:SecureTransport": policy_value}}),
            &[
                (&[("aws:SecureTransport", &["true"])], true),
                (&[("aws:SecureTransport", &["True"])], true),
                (&[("aws:SecureTransport", &["false"])], false),
                (NONE, false),
            ],
        );
    }
    check(
        json!({"Bool": {"aws:SecureTransport": false}}),
        &[
            (&[("aws:SecureTransport", &["false"])], true),
            (&[("aws:SecureTransport", &["true"])], false),
        ],
    );
    check(
        json!({"BinaryEquals": {"k": "QmluYXJ5VmFsdWU="}}),
        &[
            (&[("k", &["QmluYXJ5VmFsdWU="])], true),
            (&[("k", &["QmluYXJ5VmFsdWF="])], false),
            (NONE, false),
        ],
    );
}

#[test]
fn ip_address_operators() {
    let v4: &[(&str, &[&str])] = &[("aws:SourceIp", &["203.0.113.77"])];
    let v4_outside: &[(&str, &[&str])] = &[("aws:SourceIp", &["198.51.100.1"])];
    let v6: &[(&str, &[&str])] = &[("aws:SourceIp", &["2001:db8:85a3::8a2e:370:7334"])];
    let v6_outside: &[(&str, &[&str])] = &[("aws:SourceIp", &["2001:db9::1"])];
    let garbage: &[(&str, &[&str])] = &[("aws:SourceIp", &["localhost"])];
    let nets = json!(["203.0.113.0/24", "2001:db8:85a3::/48"]);
    check(
        json!({"IpAddress": {"aws:SourceIp": nets}}),
        &[
            (v4, true),
            (v4_outside, false),
            (v6, true),
            (v6_outside, false),
            (garbage, false),
            (NONE, false),
        ],
    );
    check(
        json!({"NotIpAddress": {"aws:SourceIp": nets}}),
        &[
            (v4, false),
            (v4_outside, true),
            (v6, false),
            (v6_outside, true),
            (NONE, true),
        ],
    );
    check(
        json!({"IpAddress": {"aws:SourceIp": "203.0.113.77"}}),
        &[(v4, true), (&[("aws:SourceIp", &["203.0.113.78"])], false)],
    );
}

#[test]
fn arn_operators() {
    let task: &[(&str, &[&str])] = &[(
        "aws:SourceArn",
        &["arn:aws:ecs:us-east-1:111122223333:task/c/abc"],
    )];
    let other: &[(&str, &[&str])] = &[(
        "aws:SourceArn",
        &["arn:aws:ecs:us-east-1:444455556666:task/c/abc"],
    )];
    for op in ["ArnLike", "ArnEquals"] {
        check(
            json!({op: {"aws:SourceArn": "arn:aws:ecs:*:111122223333:task/*"}}),
            &[(task, true), (other, false), (NONE, false)],
        );
    }
    for op in ["ArnNotLike", "ArnNotEquals"] {
        check(
            json!({op: {"aws:SourceArn": "arn:aws:ecs:*:111122223333:task/*"}}),
            &[(task, false), (other, true), (NONE, true)],
        );
    }
}

#[test]
fn if_exists() {
    check(
        json!({"StringEqualsIfExists": {"ecr:ResourceTag/env": "prod"}}),
        &[
            (NONE, true),
            (&[("ecr:ResourceTag/env", &["prod"])], true),
            (&[("ecr:ResourceTag/env", &["dev"])], false),
        ],
    );
    check(
        json!({"NumericLessThanIfExists": {"n": 3}, "NotIpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}),
        &[
            (NONE, true),
            (&[("n", &["2"])], true),
            (&[("n", &["4"])], false),
            (&[("aws:SourceIp", &["10.1.1.1"])], false),
            (&[("n", &["1"]), ("aws:SourceIp", &["192.0.2.1"])], true),
        ],
    );
}

#[test]
fn null_checks_presence() {
    check(
        json!({"Null": {"aws:TokenIssueTime": "true"}}),
        &[
            (NONE, true),
            (&[("aws:TokenIssueTime", &[])], true),
            (&[("aws:TokenIssueTime", &["x"])], false),
        ],
    );
    check(
        json!({"Null": {"aws:TokenIssueTime": false}}),
        &[
            (NONE, false),
            (&[("aws:TokenIssueTime", &[])], false),
            (&[("aws:TokenIssueTime", &["x"])], true),
        ],
    );
}

#[test]
fn for_any_value() {
    check(
        json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}),
        &[
            (&[("aws:TagKeys", &["owner", "env"])], true),
            (&[("aws:TagKeys", &["owner"])], false),
            (&[("aws:TagKeys", &[])], false),
            (NONE, false),
        ],
    );
    // Per value: some request value matches none of the policy values.
    check(
        json!({"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["team", "env"]}}),
        &[
            (&[("aws:TagKeys", &["team", "owner"])], true),
            (&[("aws:TagKeys", &["team", "env"])], false),
            (NONE, false),
        ],
    );
    check(
        json!({"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "team*"}}),
        &[
            (NONE, true),
            (&[("aws:TagKeys", &["env"])], false),
            (&[("aws:TagKeys", &["teams"])], true),
        ],
    );
}

#[test]
fn for_all_values() {
    check(
        json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "owner"]}}),
        &[
            (&[("aws:TagKeys", &["team", "env"])], true),
            (&[("aws:TagKeys", &["team", "cost"])], false),
            // AWS: also true when the key is missing or empty.
            (&[("aws:TagKeys", &[])], true),
            (NONE, true),
        ],
    );
    // AWS's example: deny unless every tag key starts with key1.
    check(
        json!({"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}),
        &[
            (&[("aws:TagKeys", &["key1:legal"])], false),
            (&[("aws:TagKeys", &["key1:hr", "key1:personnel"])], false),
            (&[("aws:TagKeys", &["key2:audit"])], true),
            (&[("aws:TagKeys", &["key1:hr", "key2:audit"])], false),
            (NONE, true),
        ],
    );
    // The documented guard against an absent key: add Null false.
    check(
        json!({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}, "Null": {"aws:TagKeys": "false"}}),
        &[(NONE, false), (&[("aws:TagKeys", &["team"])], true)],
    );
}

#[test]
fn plain_operators_with_several_request_values() {
    check(
        json!({"StringEquals": {"k": "a"}}),
        &[
            (&[("k", &["b", "a"])], true),
            (&[("k", &["b", "c"])], false),
        ],
    );
    check(
        json!({"StringNotEquals": {"k": "a"}}),
        &[
            (&[("k", &["b", "a"])], false),
            (&[("k", &["b", "c"])], true),
        ],
    );
}

#[test]
fn all_operators_and_keys_must_hold() {
    check(
        json!({
            "StringEquals": {"aws:PrincipalAccount": "000000000000", "aws:username": "alice"},
            "Bool": {"aws:SecureTransport": "true"}
        }),
        &[
            (
                &[
                    ("aws:PrincipalAccount", &["000000000000"]),
                    ("aws:username", &["alice"]),
                    ("aws:SecureTransport", &["true"]),
                ],
                true,
            ),
            (
                &[
                    ("aws:PrincipalAccount", &["000000000000"]),
                    ("aws:username", &["alice"]),
                    ("aws:SecureTransport", &["false"]),
                ],
                false,
            ),
            (
                &[
                    ("aws:PrincipalAccount", &["000000000000"]),
                    ("aws:SecureTransport", &["true"]),
                ],
                false,
            ),
        ],
    );
}

#[test]
fn operator_names_ignore_case() {
    check(
        json!({"stringequals": {"k": "v"}}),
        &[(&[("k", &["v"])], true), (&[("k", &["w"])], false)],
    );
    check(
        json!({"FORANYVALUE:StringLikeifexists": {"k": "v*"}}),
        &[(NONE, true), (&[("k", &["w"])], false)],
    );
}

#[test]
fn variables_in_condition_values() {
    check(
        json!({"StringEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}),
        &[
            (
                &[
                    ("ecr:ResourceTag/owner", &["alice"]),
                    ("aws:username", &["alice"]),
                ],
                true,
            ),
            (
                &[
                    ("ecr:ResourceTag/owner", &["bob"]),
                    ("aws:username", &["alice"]),
                ],
                false,
            ),
            (&[("ecr:ResourceTag/owner", &["${aws:username}"])], false),
        ],
    );
    // An unresolvable variable makes negated operators fail too, rather
    // than match everything.
    check(
        json!({"StringNotEquals": {"ecr:ResourceTag/owner": "${aws:username}"}}),
        &[
            (
                &[
                    ("ecr:ResourceTag/owner", &["bob"]),
                    ("aws:username", &["alice"]),
                ],
                true,
            ),
            (
                &[
                    ("ecr:ResourceTag/owner", &["alice"]),
                    ("aws:username", &["alice"]),
                ],
                false,
            ),
            (&[("ecr:ResourceTag/owner", &["bob"])], false),
        ],
    );
    check(
        json!({"StringLike": {"k": "${aws:username}-*"}, "ArnLike": {"a": "arn:aws:iam::${aws:PrincipalAccount}:role/*"}}),
        &[(
            &[
                ("k", &["alice-1"]),
                ("aws:username", &["alice"]),
                ("a", &["arn:aws:iam::000000000000:role/r"]),
                ("aws:PrincipalAccount", &["000000000000"]),
            ],
            true,
        )],
    );
    // 2008-10-17 compares the text as written.
    let old = resource_policy(json!({"Version": "2008-10-17", "Statement": {
        "Effect": "Allow", "Principal": "*", "Action": "ecr:*",
        "Condition": {"StringEquals": {"k": "${aws:username}"}}
    }}));
    assert!(holds(
        &old,
        &[("k", &["${aws:username}"]), ("aws:username", &["alice"])]
    ));
    assert!(!holds(
        &old,
        &[("k", &["alice"]), ("aws:username", &["alice"])]
    ));
}
