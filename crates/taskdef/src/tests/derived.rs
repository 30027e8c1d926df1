//! What registration derives: `compatibilities` and `requiresAttributes`.

use super::*;
use crate::{fargate_problem, required_attributes};

#[test]
fn compatibilities() {
    assert_eq!(register(one(json!({}))).compatibilities, ["EC2"]);
    // Fargate-compatible without asking: awsvpc and a Fargate size.
    let awsvpc = |cpu: &str, mem: &str| {
        with(
            one(json!({"memory": null})),
            json!({"networkMode": "awsvpc", "cpu": cpu, "memory": mem}),
        )
    };
    assert_eq!(
        register(awsvpc("512", "1024")).compatibilities,
        ["EC2", "FARGATE"]
    );
    assert_eq!(register(awsvpc("512", "512")).compatibilities, ["EC2"]);
    assert_eq!(register(awsvpc("300", "1024")).compatibilities, ["EC2"]);
    let privileged = with(
        one(json!({"memory": null, "privileged": true})),
        json!({"networkMode": "awsvpc", "cpu": "512", "memory": "1024"}),
    );
    assert_eq!(register(privileged.clone()).compatibilities, ["EC2"]);
    assert_eq!(
        client_err(with(
            privileged,
            json!({"requiresCompatibilities": ["FARGATE"]})
        )),
        "Fargate compatible task definitions do not support privileged"
    );
    assert_eq!(
        register(with(
            fargate(json!({})),
            json!({"requiresCompatibilities": ["EC2", "FARGATE"]})
        ))
        .compatibilities,
        ["EC2", "FARGATE"]
    );
    // ECS Anywhere when asked for, and possible.
    let external = with(
        one(json!({})),
        json!({"requiresCompatibilities": ["EXTERNAL"]}),
    );
    assert_eq!(
        register(external.clone()).compatibilities,
        ["EXTERNAL", "EC2"]
    );
    assert!(
        client_err(with(external.clone(), json!({"networkMode": "awsvpc"}))).contains("awsvpc")
    );
    assert!(
        client_err(with(
            external,
            json!({"volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}]})
        ))
        .contains("EFS")
    );
    assert_eq!(
        register(with(
            one(json!({})),
            json!({"requiresCompatibilities": ["MANAGED_INSTANCES"]})
        ))
        .compatibilities,
        ["EC2", "MANAGED_INSTANCES"]
    );
    assert_eq!(fargate_problem(&register(fargate(json!({})))), None);
    assert!(
        fargate_problem(&register(one(json!({}))))
            .unwrap()
            .contains("awsvpc")
    );
}

#[test]
fn a_plain_definition_requires_nothing() {
    let d = register(one(
        json!({"command": ["sleep", "1"], "portMappings": [{"containerPort": 80}]}),
    ));
    assert!(d.requires_attributes.is_empty());
    assert!(json_of(&d).get("requiresAttributes").is_none());
}

#[test]
fn required_attributes_follow_features() {
    let attrs = |v: Value| -> Vec<String> {
        attribute_names(&register(v))
            .into_iter()
            .map(String::from)
            .collect()
    };
    let has = |v: Value, want: &[&str]| {
        let got = attrs(v.clone());
        for w in want {
            assert!(
                got.iter().any(|g| g == w),
                "{w} missing from {got:?} for {v}"
            );
        }
    };
    let api = |n: u32| format!("com.amazonaws.ecs.capability.docker-remote-api.1.{n}");
    let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1";
    has(
        with(
            one(json!({"image": ecr})),
            json!({"executionRoleArn": "arn:aws:iam::1:role/x"}),
        ),
        &[
            "com.amazonaws.ecs.capability.ecr-auth",
            "ecs.capability.execution-role-ecr-pull",
        ],
    );
    let ecr_no_role = attrs(one(json!({"image": ecr})));
    assert_eq!(ecr_no_role, ["com.amazonaws.ecs.capability.ecr-auth"]);
    assert!(attrs(one(json!({"image": "public.ecr.aws/nginx/nginx:1"}))).is_empty());
    has(
        with(
            one(json!({})),
            json!({"taskRoleArn": "arn:aws:iam::1:role/t", "networkMode": "host"}),
        ),
        &[
            "com.amazonaws.ecs.capability.task-iam-role",
            "com.amazonaws.ecs.capability.task-iam-role-network-host",
        ],
    );
    has(
        one(json!({"privileged": true})),
        &["com.amazonaws.ecs.capability.privileged-container"],
    );
    has(one(json!({"dockerLabels": {"a": "b"}})), &[&api(18)]);
    has(
        one(json!({"ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 2}]})),
        &[&api(18)],
    );
    has(
        one(json!({"logConfiguration": {"logDriver": "json-file"}})),
        &[
            &api(18),
            "com.amazonaws.ecs.capability.logging-driver.json-file",
        ],
    );
    assert!(
        !attrs(one(json!({"logConfiguration": {"logDriver": "json-file"}}))).contains(&api(19))
    );
    has(
        one(json!({"logConfiguration": {"logDriver": "syslog", "options": {"tag": "x"}}})),
        &[
            &api(19),
            "com.amazonaws.ecs.capability.logging-driver.syslog",
        ],
    );
    has(
        one(
            json!({"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-multiline-pattern": "^x"}}}),
        ),
        &[
            &api(19),
            &api(30),
            "com.amazonaws.ecs.capability.logging-driver.awslogs",
        ],
    );
    has(
        one(
            json!({"logConfiguration": {"logDriver": "splunk", "secretOptions": [
                {"name": "splunk-token", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:t"}
            ]}}),
        ),
        &["ecs.capability.secrets.asm.bootstrap.log-driver"],
    );
    has(
        one(json!({"healthCheck": {"command": ["CMD", "true"]}})),
        &["ecs.capability.container-health-check", &api(24)],
    );
    let start_period = attrs(one(
        json!({"healthCheck": {"command": ["CMD", "true"], "startPeriod": 10}}),
    ));
    assert!(start_period.contains(&api(29)) && !start_period.contains(&api(24)));
    has(
        one(json!({"linuxParameters": {"initProcessEnabled": true}})),
        &[&api(25)],
    );
    assert!(
        attrs(one(
            json!({"linuxParameters": {"initProcessEnabled": false}})
        ))
        .is_empty()
    );
    has(
        json!({"family": "f", "containerDefinitions": [
            {"name": "a", "image": "x", "memory": 8, "essential": false},
            {"name": "b", "image": "x", "memory": 8, "dependsOn": [{"containerName": "a", "condition": "COMPLETE"}]}
        ]}),
        &["ecs.capability.container-ordering"],
    );
    has(
        one(json!({"secrets": [
            {"name": "A", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:a"},
            {"name": "B", "valueFrom": "/prod/b"}
        ]})),
        &[
            "ecs.capability.secrets.asm.environment-variables",
            "ecs.capability.secrets.ssm.environment-variables",
        ],
    );
    has(
        one(json!({"environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::b/a.env"}]})),
        &["ecs.capability.env-files.s3"],
    );
    has(
        one(
            json!({"repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:r"}}),
        ),
        &["com.amazonaws.ecs.capability.private-registry-authentication.secretsmanager"],
    );
    has(
        one(json!({"dockerSecurityOptions": ["label:level:s0", "apparmor:p"]})),
        &[
            "com.amazonaws.ecs.capability.selinux",
            "com.amazonaws.ecs.capability.apparmor",
        ],
    );
    has(
        with(
            one(json!({})),
            json!({"volumes": [{"name": "v", "dockerVolumeConfiguration": {"driver": "rexray"}}]}),
        ),
        &["ecs.capability.docker-plugin.rexray", &api(25)],
    );
    has(
        with(
            one(json!({})),
            json!({"volumes": [{"name": "v", "dockerVolumeConfiguration": {"scope": "task"}}]}),
        ),
        &["ecs.capability.docker-plugin.local"],
    );
    has(
        with(
            one(json!({})),
            json!({"volumes": [{"name": "v", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "transitEncryption": "ENABLED", "authorizationConfig": {"iam": "ENABLED"}}}]}),
        ),
        &["ecs.capability.efs", "ecs.capability.efsAuth", &api(25)],
    );
    has(
        with(one(json!({})), json!({"pidMode": "task"})),
        &["ecs.capability.pid-ipc-namespace-sharing"],
    );
    has(
        with(
            one(json!({})),
            json!({"networkMode": "awsvpc", "proxyConfiguration": {"containerName": "app"}}),
        ),
        &["ecs.capability.aws-appmesh", "ecs.capability.task-eni"],
    );
    // Sorted and without duplicates, for a stable answer.
    let d = register(json!({"family": "f", "containerDefinitions": [
        {"name": "a", "image": "x", "memory": 8, "dockerLabels": {"a": "b"}, "healthCheck": {"command": ["NONE"]}},
        {"name": "b", "image": "x", "memory": 8, "dockerLabels": {"a": "b"}, "healthCheck": {"command": ["NONE"]}}
    ]}));
    let names = attribute_names(&d);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
    assert_eq!(required_attributes(&d), d.requires_attributes);
}
