//! One test per family of RegisterTaskDefinition rules (second half:
//! environment, logs, volumes and mounts, limits, the remaining container
//! and task settings, tags), plus resources and timestamps.

use super::*;
use crate::TaskResources;

#[test]
fn environment_files_and_secrets() {
    register(one(
        json!({"environment": [{"name": "A", "value": "1"}, {"name": "B"}]}),
    ));
    assert!(
        client_err(one(json!({"environment": [{"value": "1"}]})))
            .starts_with("Invalid 'environment' setting for container 'app'.")
    );
    assert!(
        client_err(one(json!({"environment": [{"name": "", "value": "1"}]})))
            .contains("must not be empty")
    );
    assert!(client_err(one(json!({"environment": [{"name": "A=B"}]}))).contains("'='"));
    let file = |t: &str, v: &str| one(json!({"environmentFiles": [{"type": t, "value": v}]}));
    let d = register(file("s3", "arn:aws:s3:::bucket/app/prod.env"));
    assert_eq!(
        d.container_definitions[0]
            .environment_files
            .as_ref()
            .unwrap()[0]
            .kind,
        "s3"
    );
    assert!(client_err(file("http", "arn:aws:s3:::bucket/x.env")).contains("must be s3"));
    assert!(client_err(file("s3", "s3://bucket/x.env")).contains("not the ARN of an S3 object"));
    assert!(client_err(file("s3", "arn:aws:s3:::bucket/x.txt")).contains(".env"));
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"type": "s3", "value": format!("arn:aws:s3:::b/{i}.env")}))
        .collect();
    assert!(client_err(one(json!({"environmentFiles": eleven}))).contains("At most 10"));
    register(one(
        json!({"secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/db"}]}),
    ));
    assert!(client_err(one(json!({"secrets": [{"name": "DB"}]}))).contains("valueFrom"));
    assert!(client_err(one(json!({"secrets": [{"valueFrom": "p"}]}))).contains("name"));
}

#[test]
fn log_configuration() {
    let log = |l: Value| one(json!({"logConfiguration": l}));
    for driver in [
        "json-file",
        "syslog",
        "journald",
        "gelf",
        "fluentd",
        "splunk",
        "none",
    ] {
        register(log(json!({"logDriver": driver})));
    }
    assert_eq!(
        client_err(log(json!({"logDriver": "logentries"}))),
        "Invalid 'logConfiguration' setting for container 'app'. Log driver 'logentries' is not supported."
    );
    assert!(client_err(log(json!({}))).contains("Log driver '' is not supported"));
    assert_eq!(
        client_err(log(
            json!({"logDriver": "awslogs", "options": {"awslogs-region": "us-east-1"}})
        )),
        "Log driver awslogs requires options: awslogs-group"
    );
    // Dockyard fills the region in when it is left out.
    register(log(
        json!({"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/app"}}),
    ));
    assert!(
        client_err(log(
            json!({"logDriver": "json-file", "secretOptions": [{"name": "x"}]})
        ))
        .contains("secret option")
    );
    // awsfirelens routes to a FireLens container of the task.
    let firelens = |router: bool| {
        let mut cs = vec![
            json!({"name": "app", "image": "x", "memory": 64, "logConfiguration": {"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}}}),
        ];
        if router {
            cs.push(json!({"name": "log_router", "image": "fluent-bit", "memory": 64, "firelensConfiguration": {"type": "fluentbit"}}));
        }
        json!({"family": "f", "containerDefinitions": cs})
    };
    assert!(client_err(firelens(false)).contains("firelensConfiguration"));
    let d = register(firelens(true));
    assert!(attribute_names(&d).contains(&"ecs.capability.firelens.fluentbit"));
    assert!(
        client_err(one(json!({"firelensConfiguration": {"type": "logstash"}})))
            .contains("fluentd or fluentbit")
    );
}

#[test]
fn volumes_and_mount_points() {
    let vols =
        |v: Value, mounts: Value| with(one(json!({"mountPoints": mounts})), json!({"volumes": v}));
    let d = register(vols(
        json!([{"name": "data"}, {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true, "driver": "local"}}]),
        json!([{"sourceVolume": "data", "containerPath": "/data"}, {"sourceVolume": "cache", "containerPath": "/cache", "readOnly": true}]),
    ));
    // A volume of no kind is an empty host volume, as ECS returns it.
    assert_eq!(
        json_of(&d)["volumes"][0],
        json!({"name": "data", "host": {}})
    );
    assert_eq!(
        client_err(vols(
            json!([]),
            json!([{"sourceVolume": "data", "containerPath": "/data"}])
        )),
        "Invalid 'mountPoints' setting for container 'app'. The source volume 'data' is not a volume of the task definition."
    );
    assert!(
        client_err(vols(
            json!([{"name": "data"}]),
            json!([{"sourceVolume": "data", "containerPath": "data"}])
        ))
        .contains("absolute")
    );
    assert!(
        client_err(vols(
            json!([{"name": "data"}]),
            json!([{"sourceVolume": "data"}])
        ))
        .contains("absolute")
    );
    assert!(client_err(vols(
        json!([{"name": "a"}, {"name": "b"}]),
        json!([{"sourceVolume": "a", "containerPath": "/x"}, {"sourceVolume": "b", "containerPath": "/x"}])
    ))
    .contains("Duplicate mount point"));
    assert!(
        client_err(vols(json!([{"name": "a"}, {"name": "a"}]), json!([])))
            .starts_with("Volume names must be unique")
    );
    assert_eq!(
        client_err(vols(json!([{"host": {}}]), json!([]))),
        "Volume.name should not be null or empty."
    );
    assert!(client_err(vols(json!([{"name": "a b"}]), json!([]))).contains("invalid characters"));
    assert!(
        client_err(vols(
            json!([{"name": "a", "host": {}, "dockerVolumeConfiguration": {}}]),
            json!([])
        ))
        .contains("only one of")
    );
    assert!(
        client_err(vols(
            json!([{"name": "a", "host": {"sourcePath": "rel"}}]),
            json!([])
        ))
        .contains("absolute")
    );
    assert!(
        client_err(vols(
            json!([{"name": "a", "dockerVolumeConfiguration": {"scope": "global"}}]),
            json!([])
        ))
        .contains("task or shared")
    );
    // EFS: a file system, and encryption in transit for IAM or access points.
    let efs = |e: Value| {
        vols(
            json!([{"name": "a", "efsVolumeConfiguration": e}]),
            json!([]),
        )
    };
    register(efs(
        json!({"fileSystemId": "fs-1", "transitEncryption": "ENABLED", "authorizationConfig": {"iam": "ENABLED", "accessPointId": "fsap-1"}}),
    ));
    assert!(client_err(efs(json!({}))).contains("fileSystemId"));
    assert!(
        client_err(efs(
            json!({"fileSystemId": "fs-1", "authorizationConfig": {"iam": "ENABLED"}})
        ))
        .contains("Transit encryption")
    );
    assert!(client_err(efs(json!({"fileSystemId": "fs-1", "transitEncryption": "ENABLED", "rootDirectory": "/x", "authorizationConfig": {"accessPointId": "fsap-1"}}))).contains("root directory"));
    assert!(
        client_err(efs(
            json!({"fileSystemId": "fs-1", "transitEncryption": "MAYBE"})
        ))
        .contains("ENABLED or DISABLED")
    );
    // volumesFrom names another container.
    let from = |src: &str| {
        json!({"family": "f", "containerDefinitions": [
            {"name": "data", "image": "x", "memory": 8, "essential": false},
            {"name": "app", "image": "x", "memory": 8, "volumesFrom": [{"sourceContainer": src, "readOnly": true}]}
        ]})
    };
    register(from("data"));
    assert!(
        client_err(from("app")).starts_with("Invalid 'volumesFrom' setting for container 'app'.")
    );
    assert!(client_err(from("nope")).contains("'nope'"));
}

#[test]
fn ulimits() {
    let u = |l: Value| one(json!({"ulimits": l}));
    register(u(
        json!([{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}, {"name": "core", "softLimit": -1, "hardLimit": -1}, {"name": "memlock", "softLimit": 10, "hardLimit": -1}]),
    ));
    assert!(
        client_err(u(
            json!([{"name": "files", "softLimit": 1, "hardLimit": 1}])
        ))
        .contains("'files' is not a valid ulimit")
    );
    assert!(
        client_err(u(
            json!([{"name": "nofile", "softLimit": 10, "hardLimit": 5}])
        ))
        .contains("softLimit")
    );
    assert!(
        client_err(u(
            json!([{"name": "nofile", "softLimit": -1, "hardLimit": 5}])
        ))
        .contains("softLimit")
    );
    assert!(client_err(u(json!([{"name": "nofile", "softLimit": 10}]))).contains("hardLimit"));
    assert!(client_err(u(json!([{"name": "nofile", "softLimit": 1, "hardLimit": 1}, {"name": "nofile", "softLimit": 1, "hardLimit": 1}]))).contains("twice"));
}

#[test]
fn linux_parameters() {
    let lp = |p: Value| one(json!({"linuxParameters": p}));
    register(lp(json!({
        "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]},
        "initProcessEnabled": true,
        "sharedMemorySize": 128,
        "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read", "write"]}],
        "tmpfs": [{"containerPath": "/run", "size": 64, "mountOptions": ["rw", "noexec", "mode=1777"]}],
        "maxSwap": 0,
        "swappiness": 60
    })));
    let msg = |p: Value| client_err(lp(p));
    assert!(
        msg(json!({"capabilities": {"add": ["CAP_NET_ADMIN"]}})).contains("not a valid capability")
    );
    assert!(msg(json!({"capabilities": {"drop": ["FLY"]}})).contains("not a valid capability"));
    assert!(msg(json!({"sharedMemorySize": 0})).contains("sharedMemorySize"));
    assert!(msg(json!({"devices": [{"hostPath": "dev/fuse"}]})).contains("absolute"));
    assert!(
        msg(json!({"devices": [{"hostPath": "/dev/fuse", "permissions": ["all"]}]}))
            .contains("device permission")
    );
    assert!(msg(json!({"tmpfs": [{"containerPath": "/t", "size": 0}]})).contains("size"));
    assert!(msg(json!({"tmpfs": [{"containerPath": "t", "size": 1}]})).contains("absolute"));
    assert!(
        msg(json!({"tmpfs": [{"containerPath": "/t", "size": 1, "mountOptions": ["turbo"]}]}))
            .contains("mount option")
    );
    assert!(msg(json!({"maxSwap": -1})).contains("maxSwap"));
    assert!(msg(json!({"swappiness": 101})).contains("swappiness"));
}

#[test]
fn other_container_settings() {
    register(one(json!({
        "stopTimeout": 600, "startTimeout": 0, "user": "1000:1000", "workingDirectory": "/srv",
        "readonlyRootFilesystem": true, "hostname": "box", "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.2"}],
        "dnsServers": ["10.0.0.1"], "dockerLabels": {"team": "a"}, "interactive": true, "pseudoTerminal": true,
        "dockerSecurityOptions": ["no-new-privileges", "label:type:svirt_apache_t", "apparmor:docker-default"],
        "versionConsistency": "disabled", "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
        "resourceRequirements": [{"type": "GPU", "value": "1"}],
        "repositoryCredentials": {"credentialsParameter": "arn:aws:secretsmanager:us-east-1:1:secret:x"},
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}]
    })));
    let msg = |c: Value| client_err(one(c));
    assert!(msg(json!({"stopTimeout": -1})).starts_with("Invalid 'stopTimeout'"));
    assert!(msg(json!({"startTimeout": -5})).starts_with("Invalid 'startTimeout'"));
    assert!(msg(json!({"workingDirectory": "srv"})).contains("absolute"));
    assert!(msg(json!({"user": ""})).starts_with("Invalid 'user'"));
    assert!(
        msg(json!({"dockerSecurityOptions": ["seccomp:x"]}))
            .contains("not a valid security option")
    );
    assert!(
        msg(json!({"dockerSecurityOptions": ["label:"]})).contains("not a valid security option")
    );
    assert!(msg(json!({"versionConsistency": "on"})).starts_with("Invalid 'versionConsistency'"));
    assert!(msg(json!({"restartPolicy": {"ignoredExitCodes": [1]}})).contains("'enabled'"));
    assert!(
        msg(json!({"restartPolicy": {"enabled": true, "restartAttemptPeriod": 30}}))
            .contains("60 and 1800")
    );
    assert!(msg(json!({"resourceRequirements": [{"type": "TPU", "value": "1"}]})).contains("TPU"));
    assert!(
        msg(json!({"resourceRequirements": [{"type": "GPU", "value": "0"}]})).contains("positive")
    );
    assert!(msg(json!({"resourceRequirements": [{"type": "GPU", "value": "1"}, {"type": "GPU", "value": "2"}]})).contains("twice"));
    assert!(msg(json!({"repositoryCredentials": {}})).contains("credentialsParameter"));
    assert!(msg(json!({"extraHosts": [{"hostname": "db"}]})).contains("ipAddress"));
    assert!(msg(json!({"systemControls": [{"value": "1"}]})).contains("namespace"));
    let awsvpc = |c: Value| client_err(with(one(c), json!({"networkMode": "awsvpc"})));
    assert_eq!(
        awsvpc(json!({"hostname": "box"})),
        "hostname is not supported on container when networkMode=awsvpc."
    );
    assert_eq!(
        awsvpc(json!({"extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.2"}]})),
        "extraHosts is not supported on container when networkMode=awsvpc."
    );
    // Links: bridge mode only, to another container, name or name:alias.
    let links = |l: Value, mode: &str| {
        json!({"family": "f", "networkMode": mode, "containerDefinitions": [
            {"name": "db", "image": "x", "memory": 8},
            {"name": "app", "image": "x", "memory": 8, "links": l}
        ]})
    };
    register(links(json!(["db", "db:database"]), "bridge"));
    assert_eq!(
        client_err(links(json!(["db"]), "host")),
        "Links are not supported when networkMode=host."
    );
    assert!(client_err(links(json!(["cache"]), "bridge")).contains("'cache'"));
    assert!(client_err(links(json!(["app"]), "bridge")).contains("'app'"));
    assert!(client_err(links(json!(["db:"]), "bridge")).contains("name:alias"));
}

#[test]
fn other_task_settings() {
    let task = |t: Value| with(one(json!({})), t);
    register(task(json!({
        "pidMode": "host", "ipcMode": "none",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
        "ephemeralStorage": {"sizeInGiB": 30},
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "enableFaultInjection": true,
        "requiresCompatibilities": ["EC2"]
    })));
    let msg = |t: Value| client_err(task(t));
    assert!(msg(json!({"pidMode": "container"})).starts_with("Invalid pidMode"));
    assert!(msg(json!({"ipcMode": "shareable"})).starts_with("Invalid ipcMode"));
    assert!(
        msg(json!({"requiresCompatibilities": ["LAMBDA"]}))
            .starts_with("Invalid compatibility 'LAMBDA'")
    );
    assert!(
        msg(json!({"placementConstraints": [{"type": "distinctInstance"}]})).contains("memberOf")
    );
    assert!(msg(json!({"placementConstraints": [{"type": "memberOf"}]})).contains("expression"));
    let eleven = vec![json!({"type": "memberOf", "expression": "attribute:a == b"}); 11];
    assert!(msg(json!({"placementConstraints": eleven})).contains("at most 10"));
    for size in [
        json!({}),
        json!({"sizeInGiB": 20}),
        json!({"sizeInGiB": 201}),
    ] {
        assert!(msg(json!({"ephemeralStorage": size})).contains("sizeInGiB"));
    }
    assert!(
        msg(json!({"runtimePlatform": {"cpuArchitecture": "MIPS"}})).contains("cpuArchitecture")
    );
    assert!(
        msg(json!({"runtimePlatform": {"operatingSystemFamily": "BSD"}}))
            .contains("operatingSystemFamily")
    );
    // Proxy configuration: App Mesh, awsvpc, one of the containers.
    let proxy = |p: Value, mode: &str| task(json!({"networkMode": mode, "proxyConfiguration": p}));
    register(proxy(
        json!({"type": "APPMESH", "containerName": "app", "properties": [{"name": "ProxyIngressPort", "value": "15000"}]}),
        "awsvpc",
    ));
    assert!(client_err(proxy(json!({"containerName": "envoy"}), "awsvpc")).contains("'envoy'"));
    assert!(client_err(proxy(json!({"containerName": "app"}), "bridge")).contains("awsvpc"));
    assert!(
        client_err(proxy(
            json!({"type": "ISTIO", "containerName": "app"}),
            "awsvpc"
        ))
        .contains("APPMESH")
    );
    // Inference accelerators referenced by containers.
    let acc = |c: Value| {
        with(
            one(c),
            json!({"inferenceAccelerators": [{"deviceName": "device_1", "deviceType": "eia2.medium"}]}),
        )
    };
    register(acc(
        json!({"resourceRequirements": [{"type": "InferenceAccelerator", "value": "device_1"}]}),
    ));
    assert!(
        client_err(acc(
            json!({"resourceRequirements": [{"type": "InferenceAccelerator", "value": "device_2"}]})
        ))
        .contains("device_2")
    );
    assert!(msg(json!({"inferenceAccelerators": [{"deviceName": "d"}]})).contains("deviceType"));
}

#[test]
fn tags() {
    let tagged = |t: Value| with(one(json!({})), json!({"tags": t}));
    let r = validate_registration(&tagged(
        json!([{"key": "team", "value": "a"}, {"key": "env"}, {"key": "team", "value": "b"}]),
    ))
    .unwrap();
    assert_eq!(
        r.tags(),
        [
            crate::Tag {
                key: "env".into(),
                value: String::new()
            },
            crate::Tag {
                key: "team".into(),
                value: "b".into()
            }
        ]
    );
    assert_eq!(
        serde_json::to_value(&r.tags()[1]).unwrap(),
        json!({"key": "team", "value": "b"})
    );
    let bad = |t: Value| {
        let e = err(tagged(t));
        assert_eq!(e.code, "InvalidParameterException");
        e.message
    };
    let fifty_one: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    assert_eq!(bad(json!(fifty_one)), "Tags cannot exceed 50 per resource.");
    assert!(bad(json!([{"value": "v"}])).contains("between 1 and 128"));
    assert!(bad(json!([{"key": "k".repeat(129)}])).contains("between 1 and 128"));
    assert!(bad(json!([{"key": "k", "value": "v".repeat(257)}])).contains("at most 256"));
    assert!(bad(json!([{"key": "AWS:owner", "value": "v"}])).contains("reserved"));
    assert!(bad(json!([{"key": "a*b", "value": "v"}])).contains("may only contain"));
    validate_registration(&tagged(
        json!([{"key": "Ünïcode key 1 _.:/=+-@", "value": "x y"}]),
    ))
    .unwrap();
}

#[test]
fn resources_placement_reserves() {
    let d = register(json!({"family": "f", "containerDefinitions": [
        {"name": "a", "image": "x", "cpu": 100, "memory": 256, "memoryReservation": 128},
        {"name": "b", "image": "x", "memory": 64},
        {"name": "c", "image": "x", "cpu": 28, "memoryReservation": 32}
    ]}));
    // A soft limit is what ECS subtracts from the instance when given.
    assert_eq!(
        d.resources(),
        TaskResources {
            cpu: 128,
            memory: 128 + 64 + 32
        }
    );
    let d = register(with(
        one(json!({"cpu": 10})),
        json!({"cpu": "0.5 vCPU", "memory": "1GB"}),
    ));
    assert_eq!(
        d.resources(),
        TaskResources {
            cpu: 512,
            memory: 1024
        }
    );
    let d = register(fargate(json!({})));
    assert_eq!(
        d.resources(),
        TaskResources {
            cpu: 256,
            memory: 512
        }
    );
}

#[test]
fn timestamps_are_epoch_seconds() {
    let mut d = register(one(json!({})));
    d.deregistered_at = Some(Utc.timestamp_millis_opt(1_700_000_100_000).unwrap());
    let v = json_of(&d);
    assert_eq!(v["registeredAt"], json!(1_700_000_000.123));
    assert_eq!(v["deregisteredAt"], json!(1_700_000_100.0));
    assert!(v.get("deleteRequestedAt").is_none());
    let back: TaskDefinition = serde_json::from_value(v).unwrap();
    assert_eq!(back.registered_at, d.registered_at);
    let t: TaskDefinition =
        serde_json::from_value(json!({"registeredAt": 1_600_000_000, "deleteRequestedAt": 1.5}))
            .unwrap();
    assert_eq!(t.registered_at.unwrap().timestamp(), 1_600_000_000);
    assert_eq!(t.delete_requested_at.unwrap().timestamp_millis(), 1500);
    // Registration keeps milliseconds, what the wire carries.
    let r = validate_registration(&one(json!({}))).unwrap();
    let precise = Utc.timestamp_nanos(1_700_000_000_123_456_789);
    let d = r.into_definition(7, "arn".into(), precise, Some("arn:aws:iam::1:root".into()));
    assert_eq!(
        d.registered_at.unwrap().timestamp_subsec_nanos(),
        123_000_000
    );
    assert_eq!(
        (d.revision, d.status.as_str(), d.registered_by.as_deref()),
        (7, "ACTIVE", Some("arn:aws:iam::1:root"))
    );
}
