use dockyard_types::ErrorKind;
use serde_json::{Value, json};

use super::{identity_policy, resource_policy};
use crate::{Effect, PolicyDocument, PolicyKind, PolicyVersion};

fn resource_error(v: Value) -> String {
    let err = PolicyDocument::parse(&v.to_string(), PolicyKind::Resource)
        .expect_err(&format!("should be refused: {v}"));
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    err.to_string()
}

fn identity_error(v: Value) -> String {
    let err = PolicyDocument::parse(&v.to_string(), PolicyKind::Identity)
        .expect_err(&format!("should be refused: {v}"));
    err.to_string()
}

/// A resource-policy statement that is valid, to break one element of.
fn pull() -> Value {
    json!({
        "Sid": "pull",
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    })
}

/// The error for a document whose second statement is `statement`.
fn second_statement_error(statement: Value) -> String {
    resource_error(json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "NotAction": "ecr:*"}, statement]
    }))
}

fn with(mut statement: Value, key: &str, value: Value) -> Value {
    statement[key] = value;
    statement
}

fn without(mut statement: Value, key: &str) -> Value {
    statement.as_object_mut().map(|m| m.remove(key));
    statement
}

#[test]
fn valid_documents() {
    let doc = resource_policy(json!({"Version": "2012-10-17", "Id": "p1", "Statement": [pull()]}));
    assert_eq!(doc.version(), PolicyVersion::V2012_10_17);
    assert_eq!(doc.version().as_str(), "2012-10-17");
    assert_eq!(doc.id(), Some("p1"));
    assert_eq!(doc.kind(), PolicyKind::Resource);
    assert_eq!(doc.statements().len(), 1);
    assert_eq!(doc.statements()[0].sid(), Some("pull"));
    assert_eq!(doc.statements()[0].effect(), Effect::Allow);

    // One statement as an object; no Version means 2008-10-17; no Sid.
    let doc = resource_policy(json!({"Statement": without(pull(), "Sid")}));
    assert_eq!(doc.version(), PolicyVersion::V2008_10_17);
    assert_eq!(doc.id(), None);
    assert_eq!(doc.statements()[0].sid(), None);
    let doc = resource_policy(json!({"Version": "2008-10-17", "Statement": [pull()]}));
    assert_eq!(doc.version(), PolicyVersion::V2008_10_17);

    // Empty Sids are not subject to uniqueness.
    let blank = with(pull(), "Sid", json!(""));
    assert_eq!(
        resource_policy(json!({"Statement": [blank.clone(), blank]}))
            .statements()
            .len(),
        2
    );
}

#[test]
fn valid_statement_elements() {
    for principal in [
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": "111122223333"}),
        json!({"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/r"]}),
        json!({"AWS": "arn:aws:sts::111122223333:assumed-role/r/s"}),
        json!({"Service": ["ecs-tasks.amazonaws.com", "codebuild.amazonaws.com"]}),
        json!({"Federated": "accounts.google.com"}),
        json!({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}),
    ] {
        resource_policy(json!({"Statement": with(pull(), "Principal", principal.clone())}));
        let not = with(without(pull(), "Principal"), "NotPrincipal", principal);
        resource_policy(json!({"Statement": not}));
    }
    for action in [
        json!("*"),
        json!("ecr:*"),
        json!("ECR:batch?etImage"),
        json!(["ecr:Get*"]),
    ] {
        resource_policy(json!({"Statement": with(pull(), "Action", action.clone())}));
        let not = with(without(pull(), "Action"), "NotAction", action);
        resource_policy(json!({"Statement": not}));
    }
    for resource in [
        json!("*"),
        json!("arn:aws:ecr:us-east-1:000000000000:repository/team/*"),
        json!([
            "arn:aws:s3:::bucket",
            "arn:aws:ecr:*:*:repository/${aws:username}"
        ]),
    ] {
        resource_policy(json!({"Statement": with(pull(), "Resource", resource.clone())}));
        resource_policy(json!({"Statement": with(pull(), "NotResource", resource)}));
    }
    let doc = resource_policy(json!({"Statement": with(pull(), "Condition", json!({
        "StringEquals": {"aws:PrincipalOrgID": "o-abc", "aws:username": ["a", "b"]},
        "NumericLessThan": {"s3:max-keys": 10},
        "Bool": {"aws:SecureTransport": false},
        "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
        "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]},
        "ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "team*"},
        "forallvalues:stringequals": {"aws:TagKeys": "x"},
        "Null": {"aws:TokenIssueTime": "true"},
        "BinaryEquals": {"key": "QmluYXJ5VmFsdWU="},
        "ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:*:task/*"}
    }))}));
    assert_eq!(doc.statements()[0].conditions.len(), 11);
    // An empty Condition block has nothing to test.
    resource_policy(json!({"Statement": with(pull(), "Condition", json!({}))}));

    let doc = identity_policy(json!({"Version": "2012-10-17", "Statement": {
        "Sid": "Pull1", "Effect": "Deny", "NotAction": "ecr:Put*", "NotResource": "*"
    }}));
    assert_eq!(doc.statements()[0].effect(), Effect::Deny);
}

#[test]
fn invalid_documents() {
    assert!(
        PolicyDocument::parse("{", PolicyKind::Resource)
            .unwrap_err()
            .to_string()
            .starts_with("policy is not valid json: ")
    );
    assert_eq!(
        resource_error(json!([pull()])),
        "policy: the document must be a json object"
    );
    assert_eq!(
        resource_error(json!({"Statements": [pull()]})),
        "policy: unknown element \"Statements\" (expected Version, Id and Statement)"
    );
    assert_eq!(
        resource_error(json!({"Version": "2010-01-01", "Statement": [pull()]})),
        "policy: Version must be \"2012-10-17\" or \"2008-10-17\", got \"2010-01-01\""
    );
    assert_eq!(
        resource_error(json!({"Version": 2012, "Statement": [pull()]})),
        "policy: Version must be \"2012-10-17\" or \"2008-10-17\", got 2012"
    );
    assert_eq!(
        resource_error(json!({"Id": 1, "Statement": [pull()]})),
        "policy: Id must be a string"
    );
    assert_eq!(
        resource_error(json!({"Version": "2012-10-17"})),
        "policy: Statement is required"
    );
    assert_eq!(
        resource_error(json!({"Statement": []})),
        "policy: Statement must not be an empty array"
    );
    assert_eq!(
        resource_error(json!({"Statement": "allow all"})),
        "policy: Statement must be an object or an array of objects"
    );
    assert_eq!(
        second_statement_error(json!("x")),
        "statement 2: must be a json object"
    );
    assert_eq!(
        second_statement_error(json!({"Sid": 7, "Effect": "Allow"})),
        "statement 2: Sid must be a string"
    );
    assert_eq!(
        resource_error(json!({"Statement": [pull(), pull()]})),
        "statement 2 (Sid \"pull\"): Sid \"pull\" is already used by statement 1"
    );
}

#[test]
fn invalid_statement_elements() {
    let cases = [
        (
            with(pull(), "Actions", json!("ecr:*")),
            "unknown element \"Actions\"",
        ),
        (without(pull(), "Effect"), "Effect is required"),
        (
            with(pull(), "Effect", json!("allow")),
            "Effect must be \"Allow\" or \"Deny\", got \"allow\"",
        ),
        (
            with(pull(), "Effect", json!(true)),
            "Effect must be \"Allow\" or \"Deny\", got true",
        ),
        (without(pull(), "Action"), "must have Action or NotAction"),
        (
            with(pull(), "NotAction", json!("ecr:*")),
            "must not have both Action and NotAction",
        ),
        (
            with(pull(), "Action", json!([])),
            "Action must not be an empty array",
        ),
        (
            with(pull(), "Action", json!("")),
            "Action must not contain an empty string",
        ),
        (
            with(pull(), "Action", json!(["ecr:*", 3])),
            "Action must be a string or an array of strings",
        ),
        (
            with(pull(), "Action", json!({"ecr": "*"})),
            "Action must be a string or an array of strings",
        ),
        (
            with(pull(), "Action", json!("BatchGetImage")),
            "Action \"BatchGetImage\" must be \"*\" or \"service:action\" (such as \"ecr:BatchGetImage\")",
        ),
        (
            with(without(pull(), "Action"), "NotAction", json!("ecr*:Get")),
            "NotAction \"ecr*:Get\" must be \"*\" or \"service:action\" (such as \"ecr:BatchGetImage\")",
        ),
        (
            with(pull(), "Action", json!("ecr:")),
            "Action \"ecr:\" must be \"*\" or \"service:action\" (such as \"ecr:BatchGetImage\")",
        ),
        (
            without(pull(), "Principal"),
            "must have Principal or NotPrincipal in a resource policy",
        ),
        (
            with(pull(), "NotPrincipal", json!("*")),
            "must not have both Principal and NotPrincipal",
        ),
        (
            with(pull(), "Principal", json!({})),
            "Principal must not be empty",
        ),
        (
            with(
                pull(),
                "Principal",
                json!({"AWS": "arn:aws:iam::111122223333:user/*"}),
            ),
            "Principal.AWS: \"arn:aws:iam::111122223333:user/*\" is not \"*\", an account id or an iam/sts principal arn (wildcards are not allowed)",
        ),
        (
            with(pull(), "Resource", json!([])),
            "Resource must not be an empty array",
        ),
        (
            with(pull(), "Resource", json!("team/app")),
            "Resource \"team/app\" must be \"*\" or an arn (arn:partition:service:region:account:resource)",
        ),
        (
            with(
                with(pull(), "Resource", json!("*")),
                "NotResource",
                json!("*"),
            ),
            "must not have both Resource and NotResource",
        ),
        (
            with(pull(), "Condition", json!("x")),
            "Condition must be an object of {operator: {key: values}}",
        ),
        (
            with(pull(), "Condition", json!({"StringEqualz": {"k": "v"}})),
            "Condition has unknown operator \"StringEqualz\"",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"ForSomeValues:StringEquals": {"k": "v"}}),
            ),
            "Condition has unknown operator \"ForSomeValues:StringEquals\"",
        ),
        (
            with(pull(), "Condition", json!({"NullIfExists": {"k": "true"}})),
            "Condition has unknown operator \"NullIfExists\"",
        ),
        (
            with(pull(), "Condition", json!({"StringEquals": {}})),
            "Condition StringEquals must not be empty",
        ),
        (
            with(pull(), "Condition", json!({"StringEquals": "v"})),
            "Condition StringEquals must be an object of {key: values}",
        ),
        (
            with(pull(), "Condition", json!({"StringEquals": {"": "v"}})),
            "Condition StringEquals has an empty key",
        ),
        (
            with(pull(), "Condition", json!({"StringEquals": {"k": []}})),
            "Condition StringEquals \"k\" must not be an empty array",
        ),
        (
            with(pull(), "Condition", json!({"StringEquals": {"k": null}})),
            "Condition StringEquals \"k\" must be a string, number or boolean, or an array of them",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"StringEquals": {"k": [{"a": 1}]}}),
            ),
            "Condition StringEquals \"k\" must be a string, number or boolean, or an array of them",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"NumericLessThan": {"s3:max-keys": ["1", "ten"]}}),
            ),
            "Condition NumericLessThan \"s3:max-keys\": \"ten\" is not a number",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"DateLessThan": {"aws:CurrentTime": "tomorrow"}}),
            ),
            "Condition DateLessThan \"aws:CurrentTime\": \"tomorrow\" is not an ISO 8601 date or epoch seconds",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/40"}}),
            ),
            "Condition NotIpAddress \"aws:SourceIp\": \"10.0.0.0/40\" is not an IP address or CIDR block",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"Bool": {"aws:SecureTransport": "yes"}}),
            ),
            "Condition Bool \"aws:SecureTransport\": \"yes\" is not \"true\" or \"false\"",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"Null": {"aws:SourceIp": "maybe"}}),
            ),
            "Condition Null \"aws:SourceIp\": \"maybe\" is not \"true\" or \"false\"",
        ),
        (
            with(
                pull(),
                "Condition",
                json!({"BinaryEquals": {"k": "not base64!"}}),
            ),
            "Condition BinaryEquals \"k\": \"not base64!\" is not base64",
        ),
    ];
    for (statement, message) in cases {
        assert_eq!(
            second_statement_error(statement.clone()),
            format!("statement 2 (Sid \"pull\"): {message}"),
            "{statement}"
        );
    }
    // Without a Sid the index alone names the statement.
    assert_eq!(
        second_statement_error(with(without(pull(), "Sid"), "Effect", json!("allow"))),
        "statement 2: Effect must be \"Allow\" or \"Deny\", got \"allow\""
    );
}

#[test]
fn identity_policy_rules() {
    let statement = json!({"Sid": "Pull", "Effect": "Allow", "Action": "ecr:*", "Resource": "*"});
    identity_policy(json!({"Statement": statement.clone()}));
    assert_eq!(
        identity_error(json!({"Statement": with(statement.clone(), "Principal", json!("*"))})),
        "statement 1 (Sid \"Pull\"): Principal is not allowed in an identity policy"
    );
    assert_eq!(
        identity_error(json!({"Statement": with(statement.clone(), "NotPrincipal", json!("*"))})),
        "statement 1 (Sid \"Pull\"): NotPrincipal is not allowed in an identity policy"
    );
    assert_eq!(
        identity_error(json!({"Statement": without(statement.clone(), "Resource")})),
        "statement 1 (Sid \"Pull\"): must have Resource or NotResource in an identity policy"
    );
    assert_eq!(
        identity_error(json!({"Statement": with(statement, "Sid", json!("pull images"))})),
        "statement 1 (Sid \"pull images\"): Sid \"pull images\" may only contain letters and digits in an identity policy"
    );
    // Resource policies accept such Sids.
    resource_policy(json!({"Statement": with(pull(), "Sid", json!("pull images"))}));
}
