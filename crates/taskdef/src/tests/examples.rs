//! Task definitions from AWS's documentation and from ECS's own answers,
//! registered and compared with what ECS returned (or, where AWS shows no
//! answer, with what its rules give).

use chrono::DateTime;

use super::*;

fn registered(input: Value, arn: &str, revision: u32, at: &str, by: Option<&str>) -> Value {
    let at = DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&Utc);
    let def = validate_registration(&input).unwrap().into_definition(
        revision,
        arn.into(),
        at,
        by.map(String::from),
    );
    let v = json_of(&def);
    // What a client reads back is what was stored.
    let back: TaskDefinition = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, def);
    v
}

fn epoch(at: &str) -> Value {
    let t = DateTime::parse_from_rfc3339(at).unwrap();
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// ECS lists required attributes in no particular order.
fn sorted_attributes(mut v: Value) -> Value {
    if let Some(a) = v["requiresAttributes"].as_array_mut() {
        a.sort_by(|x, y| x["name"].as_str().cmp(&y["name"].as_str()));
    }
    v
}

#[test]
fn cli_reference_sleep360() {
    // `aws ecs register-task-definition --cli-input-json file://sleep360.json`
    // from the AWS CLI reference. ECS has since added `systemControls: []`
    // to every container it returns.
    let input = json!({
        "containerDefinitions": [{
            "name": "sleep", "image": "busybox", "cpu": 10,
            "command": ["sleep", "360"], "memory": 10, "essential": true
        }],
        "family": "sleep360"
    });
    let at = "2024-01-02T03:04:05.678Z";
    let got = registered(
        input,
        "arn:aws:ecs:us-west-2:123456789012:task-definition/sleep360:2",
        2,
        at,
        None,
    );
    let want = json!({
        "taskDefinitionArn": "arn:aws:ecs:us-west-2:123456789012:task-definition/sleep360:2",
        "containerDefinitions": [{
            "name": "sleep",
            "image": "busybox",
            "cpu": 10,
            "memory": 10,
            "portMappings": [],
            "essential": true,
            "command": ["sleep", "360"],
            "environment": [],
            "mountPoints": [],
            "volumesFrom": [],
            "systemControls": []
        }],
        "family": "sleep360",
        "revision": 2,
        "volumes": [],
        "status": "ACTIVE",
        "placementConstraints": [],
        "compatibilities": ["EC2"],
        "registeredAt": epoch(at)
    });
    assert_eq!(got, want);
}

#[test]
fn fargate_tutorial_as_ecs_answered_it() {
    // A RegisterTaskDefinition request and ECS's complete answer to it
    // (December 2024), including the required attributes it derived.
    let input = json!({
        "family": "tetris-game-ecs-ui",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": [{
            "name": "application",
            "image": "makbanov/tetris-game:latest",
            "portMappings": [{
                "name": "application", "containerPort": 80, "hostPort": 80,
                "protocol": "tcp", "appProtocol": "http"
            }],
            "essential": true,
            "linuxParameters": {"initProcessEnabled": true},
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:80/actuator/health || exit 1"],
                "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "tetris-game-ecs-tasks",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ui-service"
                }
            }
        }],
        "executionRoleArn": "arn:aws:iam::975049978758:role/tetrisGameEcsTaskExecutionRole",
        "taskRoleArn": "arn:aws:iam::975049978758:role/tetrisGameEcsTaskRole"
    });
    let at = "2024-12-10T20:28:50.525000+05:00";
    let got = registered(
        input,
        "arn:aws:ecs:us-east-1:975049978758:task-definition/tetris-game-ecs-ui:1",
        1,
        at,
        Some("arn:aws:iam::975049978758:user/cloud_user"),
    );
    let want = json!({
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:975049978758:task-definition/tetris-game-ecs-ui:1",
        "containerDefinitions": [{
            "name": "application",
            "image": "makbanov/tetris-game:latest",
            "cpu": 0,
            "portMappings": [{
                "containerPort": 80, "hostPort": 80, "protocol": "tcp",
                "name": "application", "appProtocol": "http"
            }],
            "essential": true,
            "environment": [],
            "mountPoints": [],
            "volumesFrom": [],
            "linuxParameters": {"initProcessEnabled": true},
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "tetris-game-ecs-tasks",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ui-service"
                }
            },
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:80/actuator/health || exit 1"],
                "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60
            },
            "systemControls": []
        }],
        "family": "tetris-game-ecs-ui",
        "taskRoleArn": "arn:aws:iam::975049978758:role/tetrisGameEcsTaskRole",
        "executionRoleArn": "arn:aws:iam::975049978758:role/tetrisGameEcsTaskExecutionRole",
        "networkMode": "awsvpc",
        "revision": 1,
        "volumes": [],
        "status": "ACTIVE",
        "requiresAttributes": [
            {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
            {"name": "ecs.capability.execution-role-awslogs"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
            {"name": "com.amazonaws.ecs.capability.task-iam-role"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.25"},
            {"name": "ecs.capability.container-health-check"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
            {"name": "ecs.capability.task-eni"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.29"}
        ],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "registeredAt": epoch(at),
        "registeredBy": "arn:aws:iam::975049978758:user/cloud_user"
    });
    assert_eq!(got, sorted_attributes(want));
}

#[test]
fn cli_reference_data_volumes() {
    // "To use data volumes in a task definition" from the AWS CLI
    // reference: a host volume shared by two containers.
    let input = json!({
        "family": "web-timer",
        "containerDefinitions": [
            {
                "name": "web", "image": "nginx", "cpu": 99, "memory": 100,
                "portMappings": [{"containerPort": 80, "hostPort": 80}],
                "essential": true,
                "mountPoints": [{"sourceVolume": "webdata", "containerPath": "/usr/share/nginx/html", "readOnly": true}]
            },
            {
                "name": "timer", "image": "busybox", "cpu": 10, "memory": 20,
                "entryPoint": ["sh", "-c"],
                "command": ["while true; do date > /nginx/index.html; sleep 1; done"],
                "mountPoints": [{"sourceVolume": "webdata", "containerPath": "/nginx/"}]
            }
        ],
        "volumes": [{"name": "webdata", "host": {"sourcePath": "/ecs/webdata"}}]
    });
    let at = "2024-05-06T07:08:09Z";
    let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web-timer:1";
    let got = registered(input, arn, 1, at, None);
    let want = json!({
        "taskDefinitionArn": arn,
        "containerDefinitions": [
            {
                "name": "web", "image": "nginx", "cpu": 99, "memory": 100,
                "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
                "essential": true,
                "environment": [],
                "mountPoints": [{"sourceVolume": "webdata", "containerPath": "/usr/share/nginx/html", "readOnly": true}],
                "volumesFrom": [],
                "systemControls": []
            },
            {
                "name": "timer", "image": "busybox", "cpu": 10, "memory": 20,
                "portMappings": [],
                "essential": true,
                "entryPoint": ["sh", "-c"],
                "command": ["while true; do date > /nginx/index.html; sleep 1; done"],
                "environment": [],
                "mountPoints": [{"sourceVolume": "webdata", "containerPath": "/nginx/"}],
                "volumesFrom": [],
                "systemControls": []
            }
        ],
        "family": "web-timer",
        "revision": 1,
        "volumes": [{"name": "webdata", "host": {"sourcePath": "/ecs/webdata"}}],
        "status": "ACTIVE",
        "placementConstraints": [],
        "compatibilities": ["EC2"],
        "registeredAt": epoch(at)
    });
    assert_eq!(got, want);
}

#[test]
fn developer_guide_fargate_webserver() {
    // The Fargate web server of the developer guide's example task
    // definitions.
    let input = json!({
        "containerDefinitions": [{
            "command": ["/bin/sh -c \"echo '<html><body><h1>Amazon ECS Sample App</h1></body></html>' > /usr/local/apache2/htdocs/index.html && httpd-foreground\""],
            "entryPoint": ["sh", "-c"],
            "essential": true,
            "image": "public.ecr.aws/docker/library/httpd:2.4",
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/fargate-task-definition",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs"
                }
            },
            "name": "sample-fargate-app",
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
        }],
        "cpu": "256",
        "executionRoleArn": "arn:aws:iam::012345678910:role/ecsTaskExecutionRole",
        "family": "fargate-task-definition",
        "memory": "512",
        "networkMode": "awsvpc",
        "runtimePlatform": {"operatingSystemFamily": "LINUX"},
        "requiresCompatibilities": ["FARGATE"]
    });
    let at = "2024-05-06T07:08:09.5Z";
    let arn = "arn:aws:ecs:us-east-1:012345678910:task-definition/fargate-task-definition:1";
    let got = registered(input.clone(), arn, 1, at, None);
    let container = &got["containerDefinitions"][0];
    assert_eq!(container["cpu"], 0);
    assert_eq!(container["environment"], json!([]));
    assert_eq!(got["compatibilities"], json!(["EC2", "FARGATE"]));
    assert_eq!(got["registeredAt"], json!(1_714_979_289.5));
    assert_eq!(
        got["requiresAttributes"],
        json!([
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"},
            {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
            {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
            {"name": "ecs.capability.execution-role-awslogs"},
            {"name": "ecs.capability.task-eni"}
        ])
    );
    // Registering what ECS returned, as `aws ecs describe-task-definition`
    // piped into a new revision does after dropping the read-only members,
    // gives the same definition.
    let mut again = got.clone();
    for k in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
    ] {
        again.as_object_mut().unwrap().remove(k);
    }
    assert_eq!(registered(again, arn, 1, at, None), got);
}

#[test]
fn console_logging_options_need_newer_docker() {
    // A console-made definition (August 2024): non-blocking logs and
    // awslogs-create-group, which ECS answered with Docker API 1.28 and
    // 1.29 besides the usual awslogs attributes.
    let d = register(json!({
        "family": "day1ireland-server01",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "2048",
        "memory": "4096",
        "containerDefinitions": [{
            "name": "day1ireland-server01",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/server:latest",
            "cpu": 0,
            "portMappings": [{"name": "day1ie-server01-80-tcp", "containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "essential": true,
            "environment": [], "mountPoints": [], "volumesFrom": [],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/day1ireland-server01",
                    "mode": "non-blocking",
                    "awslogs-create-group": "true",
                    "max-buffer-size": "25m",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs"
                },
                "secretOptions": []
            },
            "systemControls": []
        }]
    }));
    let mut want = vec![
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "ecs.capability.execution-role-awslogs",
        "com.amazonaws.ecs.capability.ecr-auth",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "com.amazonaws.ecs.capability.docker-remote-api.1.28",
        "ecs.capability.execution-role-ecr-pull",
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "ecs.capability.task-eni",
        "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    ];
    want.sort();
    assert_eq!(attribute_names(&d), want);
    // The empty secretOptions list registered comes back.
    assert_eq!(
        json_of(&d)["containerDefinitions"][0]["logConfiguration"]["secretOptions"],
        json!([])
    );
}
