use serde_json::json;

use super::{ALICE, Call, REPO, identity_policy, resource_policy};
use crate::Decision::{Allow, ExplicitDeny, NotApplicable};
use crate::combine;

const BOB: &str = "arn:aws:iam::000000000000:user/bob";
const OTHER_ACCOUNT_USER: &str = "arn:aws:iam::111122223333:user/carol";

#[test]
fn ecr_public_pull() {
    // AWS's "allow public pull" repository policy example.
    let doc = resource_policy(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowPull",
            "Effect": "Allow",
            "Principal": "*",
            "Action": [
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability"
            ]
        }]
    }));
    for action in [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
    ] {
        assert_eq!(Call::anonymous(action).eval(&doc), Allow, "{action}");
        assert_eq!(Call::by(OTHER_ACCOUNT_USER, action).eval(&doc), Allow);
        assert_eq!(
            Call::service("ecs-tasks.amazonaws.com", action).eval(&doc),
            Allow
        );
    }
    for action in [
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecr:DeleteRepository",
    ] {
        assert_eq!(
            Call::anonymous(action).eval(&doc),
            NotApplicable,
            "{action}"
        );
    }
}

#[test]
fn ecr_cross_account_push() {
    let doc = resource_policy(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowCrossAccountPush",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:CompleteLayerUpload",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart"
            ]
        }]
    }));
    assert_eq!(
        Call::by(OTHER_ACCOUNT_USER, "ecr:PutImage").eval(&doc),
        Allow
    );
    let session = "arn:aws:sts::111122223333:assumed-role/ci/build-7";
    assert_eq!(Call::by(session, "ecr:UploadLayerPart").eval(&doc), Allow);
    assert_eq!(Call::by(ALICE, "ecr:PutImage").eval(&doc), NotApplicable);
    assert_eq!(Call::anonymous("ecr:PutImage").eval(&doc), NotApplicable);
    assert_eq!(
        Call::by(OTHER_ACCOUNT_USER, "ecr:BatchGetImage").eval(&doc),
        NotApplicable
    );
}

#[test]
fn ecr_deny_one_user() {
    let doc = resource_policy(json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowAll",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
                "Action": "ecr:*"
            },
            {
                "Sid": "DenyAlice",
                "Effect": "Deny",
                "Principal": {"AWS": ALICE},
                "Action": "ecr:*"
            }
        ]
    }));
    assert_eq!(
        Call::by(ALICE, "ecr:BatchGetImage").eval(&doc),
        ExplicitDeny
    );
    assert_eq!(Call::by(BOB, "ecr:BatchGetImage").eval(&doc), Allow);
    assert_eq!(
        Call::by(OTHER_ACCOUNT_USER, "ecr:BatchGetImage").eval(&doc),
        NotApplicable
    );
}

#[test]
fn ecr_service_access_with_conditions() {
    // AWS's CodeBuild access example, with confused-deputy conditions.
    let doc = resource_policy(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CodeBuildAccess",
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            "Condition": {
                "ArnLike": {"aws:SourceArn": "arn:aws:codebuild:us-east-1:111122223333:project/*"},
                "StringEquals": {"aws:SourceAccount": "111122223333"}
            }
        }]
    }));
    let call = Call::service("codebuild.amazonaws.com", "ecr:BatchGetImage");
    let from_project = call
        .clone()
        .with(
            "aws:SourceArn",
            &["arn:aws:codebuild:us-east-1:111122223333:project/web"],
        )
        .with("aws:SourceAccount", &["111122223333"]);
    assert_eq!(from_project.eval(&doc), Allow);
    assert_eq!(call.clone().eval(&doc), NotApplicable);
    let wrong_account = from_project
        .clone()
        .with("aws:SourceAccount", &["444455556666"]);
    assert_eq!(wrong_account.eval(&doc), NotApplicable);
    let other_service = Call::service("lambda.amazonaws.com", "ecr:BatchGetImage")
        .with(
            "aws:SourceArn",
            &["arn:aws:codebuild:us-east-1:111122223333:project/web"],
        )
        .with("aws:SourceAccount", &["111122223333"]);
    assert_eq!(other_service.eval(&doc), NotApplicable);
}

#[test]
fn action_wildcards_and_case() {
    let doc = resource_policy(json!({"Statement": {
        "Effect": "Allow", "Principal": "*", "Action": ["ecr:Batch*", "ecr:?etDownloadUrlForLayer"]
    }}));
    for action in [
        "ecr:BatchGetImage",
        "ecr:BatchDeleteImage",
        "ECR:BATCHGETIMAGE",
        "ecr:GetDownloadUrlForLayer",
    ] {
        assert_eq!(Call::anonymous(action).eval(&doc), Allow, "{action}");
    }
    for action in [
        "ecr:PutImage",
        "ecr:GetAuthorizationToken",
        "s3:BatchGetImage",
    ] {
        assert_eq!(
            Call::anonymous(action).eval(&doc),
            NotApplicable,
            "{action}"
        );
    }
    let everything =
        resource_policy(json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*"}}));
    assert_eq!(Call::anonymous("s3:GetObject").eval(&everything), Allow);
}

#[test]
fn resource_wildcards_are_case_sensitive() {
    let doc = identity_policy(json!({"Statement": {
        "Effect": "Allow",
        "Action": "ecr:*",
        "Resource": ["arn:aws:ecr:*:000000000000:repository/team/*", "arn:aws:ecr:us-east-1:000000000000:repository/tool?"]
    }}));
    let call = |resource: &str| Call::by(ALICE, "ecr:BatchGetImage").on(resource).eval(&doc);
    assert_eq!(call(REPO), Allow);
    assert_eq!(
        call("arn:aws:ecr:eu-west-1:000000000000:repository/team/x/y"),
        Allow
    );
    assert_eq!(
        call("arn:aws:ecr:us-east-1:000000000000:repository/tool1"),
        Allow
    );
    assert_eq!(
        call("arn:aws:ecr:us-east-1:000000000000:repository/tool12"),
        NotApplicable
    );
    assert_eq!(
        call("arn:aws:ecr:us-east-1:000000000000:repository/Team/app"),
        NotApplicable
    );
    assert_eq!(
        call("arn:aws:ecr:us-east-1:111122223333:repository/team/app"),
        NotApplicable
    );
}

#[test]
fn missing_resource_means_the_policys_own_resource() {
    let doc = resource_policy(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}}),
    );
    let call = Call::anonymous("ecr:BatchGetImage");
    assert_eq!(
        call.clone()
            .on("arn:aws:ecr:us-east-1:0:repository/any")
            .eval(&doc),
        Allow
    );
    let scoped = resource_policy(json!({"Statement": {
        "Effect": "Allow", "Principal": "*", "Action": "ecr:*", "Resource": REPO
    }}));
    assert_eq!(call.clone().eval(&scoped), Allow);
    assert_eq!(
        call.on("arn:aws:ecr:us-east-1:000000000000:repository/other")
            .eval(&scoped),
        NotApplicable
    );
}

#[test]
fn not_action_and_not_resource() {
    let doc = identity_policy(json!({"Statement": [
        {"Effect": "Allow", "NotAction": ["ecr:Delete*", "ecr:SetRepositoryPolicy"], "Resource": "*"},
        {"Effect": "Deny", "Action": "ecr:*", "NotResource": "arn:aws:ecr:*:*:repository/team/*"}
    ]}));
    let call = |action: &str, resource: &str| Call::by(ALICE, action).on(resource).eval(&doc);
    assert_eq!(call("ecr:BatchGetImage", REPO), Allow);
    assert_eq!(call("ecr:DeleteRepository", REPO), NotApplicable);
    assert_eq!(call("ecr:setrepositorypolicy", REPO), NotApplicable);
    let outside = "arn:aws:ecr:us-east-1:000000000000:repository/other";
    assert_eq!(call("ecr:BatchGetImage", outside), ExplicitDeny);
    assert_eq!(call("s3:GetObject", outside), Allow);
}

#[test]
fn not_principal() {
    let doc = resource_policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": [ALICE, "arn:aws:iam::111122223333:root"]}, "Action": "ecr:*"}
    ]}));
    assert_eq!(Call::by(ALICE, "ecr:BatchGetImage").eval(&doc), Allow);
    assert_eq!(
        Call::by(OTHER_ACCOUNT_USER, "ecr:BatchGetImage").eval(&doc),
        Allow
    );
    assert_eq!(Call::by(BOB, "ecr:BatchGetImage").eval(&doc), ExplicitDeny);
    assert_eq!(
        Call::anonymous("ecr:BatchGetImage").eval(&doc),
        ExplicitDeny
    );
    assert_eq!(
        Call::service("ecs-tasks.amazonaws.com", "ecr:BatchGetImage").eval(&doc),
        ExplicitDeny
    );

    let allow_all_but_services = resource_policy(json!({"Statement": {
        "Effect": "Allow", "NotPrincipal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "ecr:*"
    }}));
    assert_eq!(
        Call::by(BOB, "ecr:PutImage").eval(&allow_all_but_services),
        Allow
    );
    assert_eq!(
        Call::service("ecs-tasks.amazonaws.com", "ecr:PutImage").eval(&allow_all_but_services),
        NotApplicable
    );
}

#[test]
fn identity_policies_ignore_the_caller() {
    let doc = identity_policy(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "ecr:*", "Resource": "*"
    }}));
    assert_eq!(Call::by(BOB, "ecr:PutImage").eval(&doc), Allow);
    assert_eq!(Call::anonymous("ecr:PutImage").eval(&doc), Allow);
}

#[test]
fn deny_wins_within_a_document_whatever_the_order() {
    let doc = resource_policy(json!({"Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage"},
        {"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}
    ]}));
    assert_eq!(Call::by(ALICE, "ecr:PutImage").eval(&doc), ExplicitDeny);
    assert_eq!(Call::by(ALICE, "ecr:BatchGetImage").eval(&doc), Allow);
}

#[test]
fn combining_decisions() {
    assert_eq!(combine([]), NotApplicable);
    assert_eq!(combine([NotApplicable, NotApplicable]), NotApplicable);
    assert_eq!(combine([NotApplicable, Allow]), Allow);
    assert_eq!(combine([Allow, ExplicitDeny, Allow]), ExplicitDeny);
    assert_eq!(combine([ExplicitDeny, NotApplicable]), ExplicitDeny);
}

#[test]
fn resource_variables_in_2012_10_17() {
    let statement = json!({
        "Effect": "Allow",
        "Action": "ecr:*",
        "Resource": "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/${aws:username}/*"
    });
    let doc = identity_policy(json!({"Version": "2012-10-17", "Statement": statement.clone()}));
    let alice = Call::by(ALICE, "ecr:PutImage")
        .with("aws:username", &["alice"])
        .with("aws:PrincipalAccount", &["000000000000"]);
    let own = "arn:aws:ecr:us-east-1:000000000000:repository/alice/app";
    let bobs = "arn:aws:ecr:us-east-1:000000000000:repository/bob/app";
    assert_eq!(alice.clone().on(own).eval(&doc), Allow);
    assert_eq!(alice.clone().on(bobs).eval(&doc), NotApplicable);
    // Without the key the variable resolves to nothing and matches nothing.
    let anonymous = Call::by(ALICE, "ecr:PutImage").with("aws:PrincipalAccount", &["000000000000"]);
    assert_eq!(anonymous.clone().on(own).eval(&doc), NotApplicable);

    // In 2008-10-17 the same text is literal.
    let old = identity_policy(json!({"Version": "2008-10-17", "Statement": statement}));
    assert_eq!(alice.clone().on(own).eval(&old), NotApplicable);
    let literal = "arn:aws:ecr:us-east-1:${aws:PrincipalAccount}:repository/${aws:username}/x";
    assert_eq!(alice.clone().on(literal).eval(&old), Allow);

    // An unresolvable NotResource entry must not open every resource.
    let not = identity_policy(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "ecr:*", "NotResource": "arn:aws:ecr:*:*:repository/${aws:username}/*"
    }}));
    assert_eq!(alice.clone().on(bobs).eval(&not), Allow);
    assert_eq!(alice.on(own).eval(&not), NotApplicable);
    assert_eq!(anonymous.on(bobs).eval(&not), NotApplicable);
}

#[test]
fn escapes_and_defaults() {
    let doc = identity_policy(json!({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow",
        "Action": "ecr:*",
        "Resource": "arn:aws:ecr:*:*:repository/${*}${?}/${aws:PrincipalTag/team, 'shared'}/*"
    }}));
    let call = Call::by(ALICE, "ecr:BatchGetImage");
    assert_eq!(
        call.clone()
            .on("arn:aws:ecr:r:1:repository/*?/shared/app")
            .eval(&doc),
        Allow
    );
    assert_eq!(
        call.clone()
            .on("arn:aws:ecr:r:1:repository/ab/shared/app")
            .eval(&doc),
        NotApplicable
    );
    let tagged = call.with("aws:PrincipalTag/team", &["web"]);
    assert_eq!(
        tagged
            .clone()
            .on("arn:aws:ecr:r:1:repository/*?/web/app")
            .eval(&doc),
        Allow
    );
    assert_eq!(
        tagged
            .on("arn:aws:ecr:r:1:repository/*?/shared/app")
            .eval(&doc),
        NotApplicable
    );
}
