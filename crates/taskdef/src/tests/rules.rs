//! One test per family of RegisterTaskDefinition rules (first half: the
//! request's shape, names, sizes, Fargate, networking, health checks,
//! dependencies).

use super::*;

#[test]
fn wrong_json_types_are_serialization_exceptions_unknown_members_ignored() {
    let e = err(json!({"family": "f", "containerDefinitions": [{"name": 1, "image": "x"}]}));
    assert_eq!(e.code, "SerializationException");
    assert_eq!(e.message, "NUMBER_VALUE can not be converted to a String");
    assert_eq!(
        err(json!({"family": "f", "cpu": 256, "containerDefinitions": []})).code,
        "SerializationException"
    );
    assert_eq!(
        err(one(json!({"memory": "64"}))).code,
        "SerializationException"
    );
    assert_eq!(
        err(one(json!({"essential": "yes"}))).code,
        "SerializationException"
    );
    assert_eq!(
        err(one(json!({"portMappings": {"containerPort": 80}}))).code,
        "SerializationException"
    );
    assert_eq!(err(json!("nope")).code, "SerializationException");
    // Unknown members (a newer SDK's, or a describe answer's) are dropped,
    // nulls are absent.
    let d = register(with(
        one(json!({"futureThing": {"a": 1}, "memoryReservation": null})),
        json!({"tags": null, "somethingNew": true, "networkMode": null}),
    ));
    let v = json_of(&d);
    assert!(v.get("somethingNew").is_none());
    assert!(v["containerDefinitions"][0].get("futureThing").is_none());
    assert!(v.get("networkMode").is_none(), "{v}");
}

#[test]
fn required_members() {
    assert_eq!(
        client_err(json!({"containerDefinitions": [{"name": "a", "image": "x", "memory": 64}]})),
        "Family should not be null or empty."
    );
    assert_eq!(
        client_err(json!({"family": "f"})),
        "Container list cannot be empty."
    );
    assert_eq!(
        client_err(json!({"family": "f", "containerDefinitions": []})),
        "Container list cannot be empty."
    );
    assert_eq!(
        client_err(json!({"family": "f", "containerDefinitions": [{"image": "x", "memory": 64}]})),
        "Container.name should not be null or empty."
    );
    assert_eq!(
        client_err(json!({"family": "f", "containerDefinitions": [{"name": "a", "memory": 64}]})),
        "Container.image should not be null or empty."
    );
    assert_eq!(
        client_err(one(json!({"image": "  "}))),
        "Container.image should not be null or empty."
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("c{i}"), "image": "x", "memory": 8}))
        .collect();
    assert_eq!(
        client_err(json!({"family": "f", "containerDefinitions": eleven})),
        "Too many containers."
    );
}

#[test]
fn names_and_their_patterns() {
    let family = |f: &str| with(one(json!({})), json!({"family": f}));
    register(family(&"a".repeat(255)));
    register(family("My_family-2"));
    for bad in ["bad name", "x.y", "a/b", &"a".repeat(256)] {
        assert!(
            client_err(family(bad)).starts_with("Family contains invalid characters"),
            "{bad}"
        );
    }
    assert_eq!(
        client_err(one(json!({"name": "a b"}))),
        "Container.name contains invalid characters."
    );
    assert!(client_err(one(json!({"name": "a".repeat(256)}))).contains("255"));
    register(one(json!({"name": "A-b_9"})));
    // Images: tags, registries with ports, digests.
    register(one(
        json!({"image": "registry.example.com:5000/team/app:v1.2#x"}),
    ));
    register(one(
        json!({"image": format!("repo/app@sha256:{}", "a".repeat(64))}),
    ));
    assert_eq!(
        client_err(one(json!({"image": "bad image"}))),
        "Container.image contains invalid characters."
    );
    assert!(client_err(one(json!({"image": "repo/app@sha256:abc"}))).contains("digest"));
    assert!(client_err(one(json!({"image": "a".repeat(256)}))).contains("255"));
}

#[test]
fn container_names_unique_and_one_essential() {
    let two = |a: Value, b: Value| {
        json!({"family": "f", "containerDefinitions": [
            with(json!({"name": "a", "image": "x", "memory": 64}), a),
            with(json!({"name": "b", "image": "x", "memory": 64}), b)
        ]})
    };
    assert_eq!(
        client_err(two(json!({}), json!({"name": "a"}))),
        "Container names must be unique within a Task Definition."
    );
    assert_eq!(
        client_err(two(
            json!({"essential": false}),
            json!({"essential": false})
        )),
        "Task definition doesn't have any essential container."
    );
    let d = register(two(json!({"essential": false}), json!({})));
    assert_eq!(d.container_definitions[0].essential, Some(false));
    // Essential is filled in, as ECS returns it.
    assert_eq!(d.container_definitions[1].essential, Some(true));
}

#[test]
fn task_and_container_sizes() {
    // Task sizes in units or vCPUs/GB, returned as ECS's numeric strings.
    for (cpu, mem, want) in [
        ("1024", "2048", ("1024", "2048")),
        ("1 vCPU", "2 GB", ("1024", "2048")),
        ("0.25 vcpu", "512 MiB", ("256", "512")),
        ("2 vcpu", "1.5GB", ("2048", "1536")),
        ("128", "6", ("128", "6")),
        ("192 vCPU", "512", ("196608", "512")),
    ] {
        let d = register(with(
            one(json!({"memory": null})),
            json!({"cpu": cpu, "memory": mem}),
        ));
        assert_eq!(
            (d.cpu.as_deref(), d.memory.as_deref()),
            (Some(want.0), Some(want.1))
        );
    }
    for bad in ["x", "64", "0.1 vcpu", "200 vcpu", "-1", ""] {
        assert_eq!(
            client_err(with(one(json!({})), json!({"cpu": bad}))),
            "Invalid 'cpu' setting for task.",
            "{bad}"
        );
    }
    for bad in ["x", "5", "0.1 GB", "1 TB"] {
        assert_eq!(
            client_err(with(one(json!({})), json!({"memory": bad}))),
            "Invalid 'memory' setting for task.",
            "{bad}"
        );
    }
    // A container needs a limit unless the task has memory.
    assert_eq!(
        client_err(one(json!({"memory": null}))),
        "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."
    );
    register(one(json!({"memory": null, "memoryReservation": 32})));
    register(with(one(json!({"memory": null})), json!({"memory": "128"})));
    // Docker's 6 MiB minimum, and soft <= hard.
    assert!(client_err(one(json!({"memory": 5}))).contains("'memory'"));
    assert!(
        client_err(one(json!({"memory": null, "memoryReservation": 4})))
            .contains("'memoryReservation'")
    );
    assert_eq!(
        client_err(one(json!({"memory": 64, "memoryReservation": 65}))),
        "Invalid 'memory' setting for container 'app'. 'memory' must be greater than or equal to 'memoryReservation'."
    );
    register(one(json!({"memory": 64, "memoryReservation": 64})));
    assert!(
        client_err(one(json!({"cpu": -1})))
            .starts_with("Invalid 'cpu' setting for container 'app'.")
    );
    // Containers add up to no more than the task.
    let sized = |c: Value, task: Value| {
        with(
            json!({"family": "f", "containerDefinitions": [
                with(json!({"name": "a", "image": "x"}), c.clone()),
                with(json!({"name": "b", "image": "x"}), c)
            ]}),
            task,
        )
    };
    assert_eq!(
        client_err(sized(
            json!({"cpu": 600}),
            json!({"cpu": "1024", "memory": "512"})
        )),
        "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."
    );
    assert_eq!(
        client_err(sized(json!({"memory": 300}), json!({"memory": "512"}))),
        "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'."
    );
    assert_eq!(
        client_err(sized(
            json!({"memoryReservation": 300}),
            json!({"memory": "512"})
        )),
        "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."
    );
    let d = register(sized(
        json!({"cpu": 512, "memory": 256}),
        json!({"cpu": "1 vcpu", "memory": "0.5 GB"}),
    ));
    assert_eq!(d.container_definitions[0].cpu, Some(512));
    // cpu 0 is filled in, as ECS returns it.
    assert_eq!(
        register(one(json!({}))).container_definitions[0].cpu,
        Some(0)
    );
}

#[test]
fn fargate_requirements() {
    let d = register(fargate(json!({})));
    assert_eq!(d.compatibilities, ["EC2", "FARGATE"]);
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"networkMode": "bridge"}))),
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}."
    );
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"networkMode": null}))),
        "Fargate only supports network mode \u{2018}awsvpc\u{2019}."
    );
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"cpu": null}))),
        "Fargate requires that 'cpu' be defined at the task level."
    );
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"memory": null}))),
        "Fargate requires that 'memory' be defined at the task level."
    );
    assert_eq!(
        client_err(with(
            fargate(json!({})),
            json!({"cpu": "1024", "memory": "512"})
        )),
        "No Fargate configuration exists for given values: 1024 CPU, 512 memory. See the Amazon ECS documentation for the valid values."
    );
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"pidMode": "host"}))),
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'."
    );
    register(with(fargate(json!({})), json!({"pidMode": "task"})));
    assert_eq!(
        client_err(with(fargate(json!({})), json!({"ipcMode": "task"}))),
        "Tasks using the Fargate launch type do not support ipcMode."
    );
    assert_eq!(
        client_err(fargate(
            json!({"portMappings": [{"containerPort": 80, "hostPort": 8080}]})
        )),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match."
    );
    // What Fargate cannot run.
    for (container, what) in [
        (json!({"privileged": true}), "privileged"),
        (
            json!({"linuxParameters": {"devices": [{"hostPath": "/dev/fuse"}]}}),
            "devices",
        ),
        (
            json!({"linuxParameters": {"sharedMemorySize": 64}}),
            "sharedMemorySize",
        ),
        (
            json!({"linuxParameters": {"tmpfs": [{"containerPath": "/t", "size": 8}]}}),
            "tmpfs",
        ),
        (json!({"linuxParameters": {"maxSwap": 0}}), "maxSwap"),
        (
            json!({"dockerSecurityOptions": ["no-new-privileges"]}),
            "dockerSecurityOptions",
        ),
    ] {
        assert_eq!(
            client_err(fargate(container)),
            format!("Fargate compatible task definitions do not support {what}")
        );
    }
    assert!(
        client_err(fargate(
            json!({"linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}}})
        ))
        .contains("SYS_PTRACE")
    );
    register(fargate(
        json!({"linuxParameters": {"capabilities": {"add": ["SYS_PTRACE"], "drop": ["ALL"]}}}),
    ));
    assert!(
        client_err(fargate(
            json!({"logConfiguration": {"logDriver": "json-file"}})
        ))
        .contains("awslogs, splunk and awsfirelens")
    );
    assert!(
        client_err(fargate(json!({"stopTimeout": 121})))
            .contains("maximum value for Fargate is 120")
    );
    assert!(
        client_err(fargate(json!({"startTimeout": 300}))).starts_with("Invalid 'startTimeout'")
    );
    register(fargate(json!({"stopTimeout": 120, "startTimeout": 0})));
    register(fargate(json!({"stopTimeout": 1})));
    let vol = |v: Value| {
        with(
            fargate(json!({})),
            json!({"volumes": [with(json!({"name": "v"}), v)]}),
        )
    };
    assert!(client_err(vol(json!({"host": {"sourcePath": "/data"}}))).ends_with("sourcePath"));
    assert!(
        client_err(vol(json!({"dockerVolumeConfiguration": {"scope": "task"}})))
            .ends_with("dockerVolumeConfiguration")
    );
    // A bind mount without a source path is a Fargate volume.
    register(vol(json!({})));
    assert!(client_err(with(fargate(json!({})), json!({"placementConstraints": [{"type": "memberOf", "expression": "attribute:x == y"}]}))).ends_with("placementConstraints"));
    // Fargate containers need no limits of their own.
    assert_eq!(
        register(fargate(json!({}))).container_definitions[0].memory,
        None
    );
    // Dockyard needs no execution role for awslogs on Fargate.
    register(fargate(
        json!({"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}}),
    ));
}

#[test]
fn network_modes_and_port_mappings() {
    let mode = |m: &str, ports: Value| {
        with(
            one(json!({"portMappings": ports})),
            json!({"networkMode": m}),
        )
    };
    assert!(client_err(mode("nat", json!([]))).starts_with("Invalid network mode 'nat'"));
    // hostPort is filled: the container port in awsvpc and host mode, 0
    // (dynamic) in bridge mode; protocol tcp.
    for (m, host) in [("awsvpc", 80), ("host", 80), ("bridge", 0)] {
        let d = register(mode(m, json!([{"containerPort": 80}])));
        let p = &d.container_definitions[0].port_mappings[0];
        assert_eq!(
            (p.host_port, p.protocol.as_deref()),
            (Some(host), Some("tcp")),
            "{m}"
        );
    }
    let d = register(mode(
        "bridge",
        json!([{"containerPort": 53, "hostPort": 5353, "protocol": "udp"}]),
    ));
    assert_eq!(
        d.container_definitions[0].port_mappings[0].host_port,
        Some(5353)
    );
    assert_eq!(
        client_err(mode("host", json!([{"containerPort": 80, "hostPort": 81}]))),
        "When networkMode=host, the host ports and container ports in port mappings must match."
    );
    register(mode("host", json!([{"containerPort": 80, "hostPort": 80}])));
    assert_eq!(
        client_err(mode("none", json!([{"containerPort": 80}]))),
        "Port mappings are not supported when networkMode=none."
    );
    register(mode("none", json!([])));
    let port_err = |ports: Value| client_err(mode("bridge", ports));
    assert_eq!(
        port_err(json!([{"containerPort": 70000}])),
        "Invalid 'containerPort' setting for container 'app'. The value must be between 1 and 65535."
    );
    assert!(port_err(json!([{"containerPort": 0}])).starts_with("Invalid 'containerPort'"));
    assert!(
        port_err(json!([{"containerPort": 80, "hostPort": 65536}]))
            .starts_with("Invalid 'hostPort'")
    );
    assert!(
        port_err(json!([{"containerPort": 80, "hostPort": -1}])).starts_with("Invalid 'hostPort'")
    );
    assert!(
        port_err(json!([{"containerPort": 80, "protocol": "sctp"}]))
            .starts_with("Invalid 'protocol'")
    );
    assert!(
        port_err(json!([{"containerPort": 80, "appProtocol": "ftp"}]))
            .starts_with("Invalid 'appProtocol'")
    );
    assert!(port_err(json!([{"hostPort": 80}])).starts_with("Invalid 'containerPort'"));
    assert!(
        port_err(json!([{"containerPort": 80}, {"containerPort": 80, "hostPort": 8080}]))
            .contains("more than one port mapping")
    );
    register(mode(
        "bridge",
        json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "udp"}]),
    ));
    // Names of port mappings (Service Connect).
    register(mode(
        "bridge",
        json!([{"containerPort": 80, "name": "web-80_tcp"}]),
    ));
    assert!(port_err(json!([{"containerPort": 80, "name": "Web"}])).contains("port mapping name"));
    assert!(port_err(json!([{"containerPort": 80, "name": "-w"}])).contains("port mapping name"));
    assert!(
        port_err(json!([{"containerPort": 80, "name": "w"}, {"containerPort": 81, "name": "w"}]))
            .contains("used twice")
    );
    // Port ranges: bridge or awsvpc, no host port, first < last, no
    // overlap.
    let d = register(mode(
        "awsvpc",
        json!([{"containerPortRange": "8000-8099"}, {"containerPort": 9000}]),
    ));
    assert_eq!(d.container_definitions[0].port_mappings[0].host_port, None);
    for bad in ["8000", "9-8", "0-10", "10-70000", "a-b"] {
        assert!(
            port_err(json!([{"containerPortRange": bad}]))
                .starts_with("Invalid 'containerPortRange'"),
            "{bad}"
        );
    }
    assert!(
        client_err(mode("host", json!([{"containerPortRange": "1-2"}])))
            .starts_with("Invalid 'containerPortRange'")
    );
    assert!(
        port_err(json!([{"containerPortRange": "1-2", "hostPort": 1}]))
            .starts_with("Invalid 'hostPort'")
    );
    assert!(
        port_err(json!([{"containerPortRange": "1-2", "containerPort": 1}])).contains("not both")
    );
    assert!(
        port_err(json!([{"containerPortRange": "100-200"}, {"containerPort": 150}]))
            .contains("more than one port mapping")
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"containerPortRange": format!("{}-{}", 1000 + i * 10, 1005 + i * 10)}))
        .collect();
    assert!(port_err(json!(many)).contains("At most 100"));
}

#[test]
fn health_checks() {
    let hc = |h: Value| one(json!({"healthCheck": h}));
    let d = register(hc(
        json!({"command": ["CMD-SHELL", "curl -f localhost || exit 1"]}),
    ));
    let got = d.container_definitions[0].health_check.clone().unwrap();
    // ECS's defaults are filled in; the start period stays off.
    assert_eq!(
        (got.interval, got.timeout, got.retries, got.start_period),
        (Some(30), Some(5), Some(3), None)
    );
    register(hc(
        json!({"command": ["CMD", "/bin/check", "--quick"], "interval": 5, "timeout": 60, "retries": 10, "startPeriod": 300}),
    ));
    register(hc(json!({"command": ["NONE"]})));
    let msg = |h: Value| client_err(hc(h));
    assert!(msg(json!({"command": []})).contains("must not be empty"));
    assert!(msg(json!({})).contains("must not be empty"));
    assert!(msg(json!({"command": ["curl", "x"]})).contains("CMD, CMD-SHELL or NONE"));
    assert!(msg(json!({"command": ["CMD"]})).contains("followed by"));
    for (field, bad) in [
        ("interval", 4),
        ("interval", 301),
        ("timeout", 1),
        ("timeout", 61),
        ("retries", 0),
        ("retries", 11),
        ("startPeriod", -1),
        ("startPeriod", 301),
    ] {
        let mut h = json!({"command": ["CMD", "true"]});
        h[field] = json!(bad);
        let m = msg(h);
        assert!(
            m.starts_with("Invalid 'healthCheck' setting for container 'app'.")
                && m.contains(field),
            "{m}"
        );
    }
}

#[test]
fn container_dependencies() {
    let defs = |cs: Value| json!({"family": "f", "containerDefinitions": cs});
    let c =
        |name: &str, extra: Value| with(json!({"name": name, "image": "x", "memory": 64}), extra);
    let dep =
        |on: &str, cond: &str| json!({"dependsOn": [{"containerName": on, "condition": cond}]});
    let d = register(defs(json!([
        c("db", json!({"healthCheck": {"command": ["CMD", "true"]}})),
        c("init", json!({"essential": false})),
        c(
            "app",
            json!({"dependsOn": [{"containerName": "db", "condition": "HEALTHY"}, {"containerName": "init", "condition": "SUCCESS"}]})
        )
    ])));
    assert_eq!(d.container_definitions[2].depends_on.len(), 2);
    assert!(
        client_err(defs(json!([c("a", dep("zz", "START"))])))
            .contains("'zz' is not in the task definition")
    );
    assert!(
        client_err(defs(json!([c("a", dep("a", "START"))]))).contains("cannot depend on itself")
    );
    assert!(
        client_err(defs(json!([
            c("a", json!({})),
            c("b", dep("a", "RUNNING"))
        ])))
        .contains("'RUNNING' is not a condition")
    );
    assert!(
        client_err(defs(json!([
            c("a", json!({})),
            c("b", dep("a", "HEALTHY"))
        ])))
        .contains("has no healthCheck")
    );
    for cond in ["SUCCESS", "COMPLETE"] {
        assert_eq!(
            client_err(defs(json!([c("a", json!({})), c("b", dep("a", cond))]))),
            "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"
        );
    }
    assert_eq!(
        client_err(defs(json!([
            c("a", dep("b", "START")),
            c("b", dep("a", "START"))
        ]))),
        "Container dependencies must not form a cycle: a -> b -> a."
    );
    assert_eq!(
        client_err(defs(json!([
            c("a", dep("b", "START")),
            c("b", dep("c", "START")),
            c("c", dep("a", "START")),
            c("d", dep("a", "START"))
        ]))),
        "Container dependencies must not form a cycle: a -> b -> c -> a."
    );
    // A diamond is no cycle.
    register(defs(json!([
        c("a", json!({})),
        c("b", dep("a", "START")),
        c("c", dep("a", "START")),
        c(
            "d",
            json!({"dependsOn": [{"containerName": "b", "condition": "START"}, {"containerName": "c", "condition": "START"}]})
        )
    ])));
}
