//! The ECS API through `call()`, with agents' sessions driven by hand.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use dockyard_agentproto::NodeKind;

use crate::testutil::{Fx, change};

fn arns(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn fargate_def(fx: &Fx) {
    fx.ok(
        "RegisterTaskDefinition",
        json!({
            "family": "api", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512", "taskRoleArn": "arn:aws:iam::000000000000:role/app",
            "containerDefinitions": [{"name": "app", "image": "busybox"}]
        }),
    );
}

fn awsvpc() -> Value {
    json!({"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}})
}

#[test]
fn clusters_are_created_once_described_listed_and_deleted() {
    let fx = Fx::new();
    let a = fx.ok("CreateCluster", json!({"clusterName": "prod", "tags": [{"key": "team", "value": "a"}], "settings": [{"name": "containerInsights", "value": "enabled"}]}));
    assert_eq!(a["cluster"]["status"], "ACTIVE");
    assert_eq!(
        a["cluster"]["clusterArn"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/prod"
    );
    let again = fx.ok("CreateCluster", json!({"clusterName": "prod"}));
    assert_eq!(again["cluster"]["clusterArn"], a["cluster"]["clusterArn"]);
    fx.ok("CreateCluster", json!({}));
    let d = fx.ok(
        "DescribeClusters",
        json!({"clusters": ["prod", "nope"], "include": ["TAGS", "SETTINGS", "STATISTICS"]}),
    );
    assert_eq!(d["clusters"][0]["tags"][0]["key"], "team");
    assert_eq!(d["clusters"][0]["settings"][0]["value"], "enabled");
    assert_eq!(d["clusters"][0]["statistics"].as_array().unwrap().len(), 8);
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    let page = fx.ok("ListClusters", json!({"maxResults": 1}));
    assert_eq!(arns(&page, "clusterArns").len(), 1);
    let rest = fx.ok("ListClusters", json!({"nextToken": page["nextToken"]}));
    assert_eq!(arns(&rest, "clusterArns").len(), 1);
    assert!(rest.get("nextToken").is_none());

    fx.node(NodeKind::Instance, Some("prod"), 1024, 1024);
    let e = fx.err("DeleteCluster", json!({"cluster": "prod"}));
    assert_eq!(e.code, "ClusterContainsContainerInstancesException");
    let gone = fx.ok("DeleteCluster", json!({"cluster": "default"}));
    assert_eq!(gone["cluster"]["status"], "INACTIVE");
    assert_eq!(
        fx.err("RunTask", json!({"taskDefinition": "x"})).code,
        "ClusterNotFoundException"
    );

    assert_eq!(
        fx.err("CreateCluster", json!({"clusterName": "a b"})).code,
        "InvalidParameterException"
    );
    assert_eq!(
        fx.err("CreateCluster", json!({"clusterName": 5})).code,
        "SerializationException"
    );
    let cp = fx.ok("PutClusterCapacityProviders", json!({"cluster": "prod", "capacityProviders": ["FARGATE", "FARGATE_SPOT"], "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}));
    assert_eq!(
        cp["cluster"]["capacityProviders"],
        json!(["FARGATE", "FARGATE_SPOT"])
    );
    let e = fx.err("PutClusterCapacityProviders", json!({"cluster": "prod", "capacityProviders": ["mine"], "defaultCapacityProviderStrategy": []}));
    assert_eq!(e.code, "InvalidParameterException");
    let p = fx.ok("DescribeCapacityProviders", json!({}));
    assert_eq!(p["capacityProviders"].as_array().unwrap().len(), 2);
}

#[test]
fn task_definitions_have_revisions_and_a_lifecycle() {
    let fx = Fx::new();
    let one = fx.register_web("web", json!({"tags": [{"key": "k", "value": "v"}]}));
    assert_eq!(one["taskDefinition"]["revision"], 1);
    let two = fx.register_web("web", json!({}));
    assert_eq!(two["taskDefinition"]["revision"], 2);
    fx.register_web("worker", json!({}));
    let d = fx.ok(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web", "include": ["TAGS"]}),
    );
    assert_eq!(d["taskDefinition"]["revision"], 2);
    let d1 = fx.ok(
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
    );
    assert_eq!(d1["tags"][0]["key"], "k");
    let arn1 = d1["taskDefinition"]["taskDefinitionArn"].clone();
    assert_eq!(
        fx.ok("DescribeTaskDefinition", json!({"taskDefinition": arn1}))["taskDefinition"]["revision"],
        1
    );

    let all = fx.ok("ListTaskDefinitions", json!({}));
    assert_eq!(arns(&all, "taskDefinitionArns").len(), 3);
    let web_desc = fx.ok(
        "ListTaskDefinitions",
        json!({"familyPrefix": "web", "sort": "DESC", "maxResults": 1}),
    );
    assert!(arns(&web_desc, "taskDefinitionArns")[0].ends_with("web:2"));
    let next = fx.ok(
        "ListTaskDefinitions",
        json!({"familyPrefix": "web", "sort": "DESC", "nextToken": web_desc["nextToken"]}),
    );
    assert!(arns(&next, "taskDefinitionArns")[0].ends_with("web:1"));

    let dereg = fx.ok(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:2"}),
    );
    assert_eq!(dereg["taskDefinition"]["status"], "INACTIVE");
    assert!(dereg["taskDefinition"]["deregisteredAt"].is_number());
    assert_eq!(
        fx.ok("DescribeTaskDefinition", json!({"taskDefinition": "web"}))["taskDefinition"]["revision"],
        1
    );
    assert_eq!(
        fx.err("DeregisterTaskDefinition", json!({"taskDefinition": "web"}))
            .code,
        "ClientException"
    );
    let inactive = fx.ok("ListTaskDefinitions", json!({"status": "INACTIVE"}));
    assert_eq!(arns(&inactive, "taskDefinitionArns").len(), 1);
    fx.ok(
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "worker:1"}),
    );
    let fams = fx.ok("ListTaskDefinitionFamilies", json!({"status": "ACTIVE"}));
    assert_eq!(fams["families"], json!(["web"]));
    let fams = fx.ok("ListTaskDefinitionFamilies", json!({"status": "INACTIVE"}));
    assert_eq!(fams["families"], json!(["worker"]));

    let del = fx.ok(
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["web:2", "web:1"]}),
    );
    assert_eq!(del["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS");
    assert_eq!(del["failures"].as_array().unwrap().len(), 1);
    // A revision number is never given out twice.
    assert_eq!(
        fx.register_web("web", json!({}))["taskDefinition"]["revision"],
        3
    );
    assert_eq!(
        fx.err("DescribeTaskDefinition", json!({"taskDefinition": "nope"}))
            .code,
        "ClientException"
    );
}

#[test]
fn run_task_places_an_agent_runs_it_and_reports_back() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "prod"}));
    fx.register_web("web", json!({}));
    let node = fx.node(NodeKind::Instance, Some("prod"), 1024, 256);
    let run = fx.ok("RunTask", json!({"cluster": "prod", "taskDefinition": "web", "startedBy": "me", "tags": [{"key": "a", "value": "b"}]}));
    let t = &run["tasks"][0];
    assert_eq!(t["lastStatus"], "PROVISIONING");
    assert_eq!(t["desiredStatus"], "RUNNING");
    assert_eq!(t["launchType"], "EC2");
    let arn = t["taskArn"].as_str().unwrap().to_string();

    // The agent's session sees it, runs it and reports.
    let p = fx.poll(&node, vec![]);
    assert_eq!(p.tasks.len(), 1);
    assert_eq!(p.tasks[0].task_arn, arn);
    assert_eq!(p.tasks[0].definition.container_definitions[0].name, "web");
    let p = fx.poll(
        &node,
        vec![
            change(1, &arn, "PENDING", &[]),
            change(2, &arn, "RUNNING", &[("web", "RUNNING", None)]),
        ],
    );
    assert_eq!(p.applied_seq, 2);
    let d = fx.ok(
        "DescribeTasks",
        json!({"cluster": "prod", "tasks": [arn], "include": ["TAGS"]}),
    );
    let t = &d["tasks"][0];
    assert_eq!(t["lastStatus"], "RUNNING");
    assert_eq!(t["containers"][0]["runtimeId"], "rt-web");
    assert_eq!(t["connectivity"], "CONNECTED");
    assert!(t["startedAt"].is_number());
    assert_eq!(t["tags"][0]["key"], "a");
    let ci = fx.ok(
        "DescribeContainerInstances",
        json!({"cluster": "prod", "containerInstances": [node]}),
    );
    let inst = &ci["containerInstances"][0];
    assert_eq!(inst["runningTasksCount"], 1);
    assert_eq!(inst["remainingResources"][1]["integerValue"], 256 - 64);
    assert!(
        inst["remainingResources"][2]["stringSetValue"]
            .as_array()
            .unwrap()
            .contains(&json!("8080"))
    );
    let c = fx.ok("DescribeClusters", json!({"clusters": ["prod"]}));
    assert_eq!(c["clusters"][0]["runningTasksCount"], 1);
    assert_eq!(c["clusters"][0]["registeredContainerInstancesCount"], 1);

    // A second task wants the same host port: RESOURCE:PORTS.
    let r = fx.ok(
        "RunTask",
        json!({"cluster": "prod", "taskDefinition": "web"}),
    );
    assert!(r["tasks"].as_array().unwrap().is_empty());
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:PORTS");
    fx.register_web(
        "big",
        json!({"containerDefinitions": [{"name": "b", "image": "x", "memory": 4096}]}),
    );
    let r = fx.ok(
        "RunTask",
        json!({"cluster": "prod", "taskDefinition": "big"}),
    );
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:MEMORY");

    let listed = fx.ok("ListTasks", json!({"cluster": "prod", "startedBy": "me"}));
    assert_eq!(arns(&listed, "taskArns"), std::slice::from_ref(&arn));
    assert!(
        arns(
            &fx.ok(
                "ListTasks",
                json!({"cluster": "prod", "desiredStatus": "STOPPED"})
            ),
            "taskArns"
        )
        .is_empty()
    );
    assert_eq!(
        arns(
            &fx.ok(
                "ListTasks",
                json!({"cluster": "prod", "containerInstance": node, "family": "web"})
            ),
            "taskArns"
        )
        .len(),
        1
    );

    let s = fx.ok(
        "StopTask",
        json!({"cluster": "prod", "task": arn, "reason": "done"}),
    );
    assert_eq!(s["task"]["desiredStatus"], "STOPPED");
    let p = fx.poll(&node, vec![]);
    assert_eq!(p.tasks[0].desired_status, "STOPPED");
    let stopped = change(3, &arn, "STOPPED", &[("web", "STOPPED", Some(137))]);
    fx.poll(&node, vec![stopped.clone()]);
    // The same change again (a lost reply) changes nothing.
    let p = fx.poll(&node, vec![stopped]);
    assert_eq!(p.applied_seq, 3);
    assert!(p.tasks.is_empty());
    let d = fx.ok("DescribeTasks", json!({"cluster": "prod", "tasks": [arn]}));
    let t = &d["tasks"][0];
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "UserInitiated");
    assert_eq!(t["stoppedReason"], "done");
    assert_eq!(t["containers"][0]["exitCode"], 137);
    assert!(t["stoppedAt"].is_number());
    let listed = fx.ok(
        "ListTasks",
        json!({"cluster": "prod", "desiredStatus": "STOPPED"}),
    );
    assert_eq!(arns(&listed, "taskArns").len(), 1);
    // The text form of DescribeTasks says the same as the value form.
    use dockyard_aws::JsonService;
    let input = json!({"cluster": "prod", "tasks": [arn, "nope"], "include": ["TAGS"]});
    let text = fx
        .svc
        .call_text(&crate::testutil::ctx(), "DescribeTasks", &input)
        .unwrap()
        .unwrap();
    let parsed: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(parsed, fx.ok("DescribeTasks", input));
    let input = json!({"cluster": "prod", "desiredStatus": "STOPPED"});
    let text = fx
        .svc
        .call_text(&crate::testutil::ctx(), "ListTasks", &input)
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&text).unwrap(),
        fx.ok("ListTasks", input)
    );
    assert!(
        fx.svc
            .call_text(&crate::testutil::ctx(), "ListClusters", &json!({}))
            .is_none()
    );
    // An hour after it stopped, the task is forgotten, as on ECS.
    assert_eq!(fx.svc.expire_stopped(chrono::Utc::now()).unwrap(), 0);
    assert_eq!(
        fx.svc
            .expire_stopped(chrono::Utc::now() + chrono::Duration::minutes(61))
            .unwrap(),
        1
    );
    let d = fx.ok("DescribeTasks", json!({"cluster": "prod", "tasks": [arn]}));
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    assert!(
        arns(
            &fx.ok(
                "ListTasks",
                json!({"cluster": "prod", "desiredStatus": "STOPPED"})
            ),
            "taskArns"
        )
        .is_empty()
    );
    // Resources are free again.
    assert!(
        fx.ok(
            "RunTask",
            json!({"cluster": "prod", "taskDefinition": "web"})
        )["failures"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn list_tasks_pages_through_every_task_once() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "prod"}));
    // No fixed host port: all eight fit on the one instance.
    fx.register_web(
        "web",
        json!({"containerDefinitions": [{"name": "web", "image": "busybox", "memory": 64}]}),
    );
    fx.node(NodeKind::Instance, Some("prod"), 16384, 16384);
    let mut ran: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|by| {
            let r = fx.ok(
                "RunTask",
                json!({"cluster": "prod", "taskDefinition": "web", "count": 4, "startedBy": by}),
            );
            r["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["taskArn"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    ran.sort();
    let (mut seen, mut token, mut pages) = (vec![], None::<Value>, vec![]);
    loop {
        let mut input = json!({"cluster": "prod", "maxResults": 3});
        if let Some(t) = token.take() {
            input["nextToken"] = t;
        }
        let page = fx.ok("ListTasks", input);
        pages.push(page["taskArns"].as_array().unwrap().len());
        seen.extend(arns(&page, "taskArns"));
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(pages, [3, 3, 2]);
    seen.sort();
    assert_eq!(seen, ran);
    let by_b = fx.ok(
        "ListTasks",
        json!({"cluster": "prod", "startedBy": "b", "maxResults": 4}),
    );
    assert_eq!(arns(&by_b, "taskArns").len(), 4);
    // Exactly as many as asked for and no more: no token.
    assert!(by_b.get("nextToken").is_none(), "{by_b}");
    let e = fx.err(
        "ListTasks",
        json!({"cluster": "prod", "nextToken": "not-a-token"}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    let e = fx.err("ListTasks", json!({"cluster": "prod", "maxResults": 101}));
    assert_eq!(e.code, "InvalidParameterException");
}

#[test]
fn fargate_runs_on_managed_capacity_with_role_credentials() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({}));
    fargate_def(&fx);
    let r = fx.ok(
        "RunTask",
        json!({"taskDefinition": "api", "launchType": "FARGATE", "networkConfiguration": awsvpc()}),
    );
    assert!(r["tasks"].as_array().unwrap().is_empty());
    assert!(
        r["failures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Capacity is unavailable")
    );
    let node = fx.node(NodeKind::Fargate, None, 4096, 8192);
    let r = fx.ok("RunTask", json!({"taskDefinition": "api", "launchType": "FARGATE", "count": 2, "networkConfiguration": awsvpc(), "clientToken": "tok-1"}));
    let tasks = r["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(
        tasks[0]["attachments"][0]["type"],
        "ElasticNetworkInterface"
    );
    assert_eq!(tasks[0]["platformVersion"], "1.4.0");
    // The same client token again: the same tasks, none new.
    let again = fx.ok("RunTask", json!({"taskDefinition": "api", "launchType": "FARGATE", "count": 2, "networkConfiguration": awsvpc(), "clientToken": "tok-1"}));
    assert_eq!(again["tasks"][0]["taskArn"], tasks[0]["taskArn"]);
    let p = fx.poll(&node, vec![]);
    assert_eq!(p.tasks.len(), 2);
    let creds = p.tasks[0].credentials.as_ref().unwrap();
    assert_eq!(creds.role_arn, "arn:aws:iam::000000000000:role/app");
    // Strategy from the cluster's default capacity provider strategy.
    fx.ok("PutClusterCapacityProviders", json!({"capacityProviders": ["FARGATE_SPOT"], "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}));
    let r = fx.ok(
        "RunTask",
        json!({"taskDefinition": "api", "networkConfiguration": awsvpc()}),
    );
    assert_eq!(r["tasks"][0]["capacityProviderName"], "FARGATE_SPOT");
    assert_eq!(r["tasks"][0]["launchType"], "FARGATE");
}

#[test]
fn bad_launches_are_refused_with_ecs_errors() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({}));
    fargate_def(&fx);
    fx.register_web("web", json!({}));
    let e = fx.err(
        "RunTask",
        json!({"taskDefinition": "api", "launchType": "FARGATE"}),
    );
    assert!(
        e.message.contains("Network Configuration must be provided"),
        "{}",
        e.message
    );
    let e = fx.err(
        "RunTask",
        json!({"taskDefinition": "web", "networkConfiguration": awsvpc()}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    let e = fx.err(
        "RunTask",
        json!({"taskDefinition": "web", "launchType": "FARGATE"}),
    );
    assert_eq!(e.code, "ClientException");
    let e = fx.err("RunTask", json!({"taskDefinition": "web", "count": 11}));
    assert_eq!(e.code, "InvalidParameterException");
    let e = fx.err("RunTask", json!({"taskDefinition": "web", "launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]}));
    assert_eq!(e.code, "InvalidParameterException");
    let e = fx.err(
        "RunTask",
        json!({"taskDefinition": "web", "overrides": {"containerOverrides": [{"name": "nope"}]}}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    let e = fx.err("RunTask", json!({"taskDefinition": "web"}));
    assert!(
        e.message.contains("No Container Instances"),
        "{}",
        e.message
    );
    let e = fx.err("RunTask", json!({"taskDefinition": 7}));
    assert_eq!(e.code, "SerializationException");
    let e = fx.err("StopTask", json!({"task": "0123"}));
    assert_eq!(e.code, "InvalidParameterException");
    let d = fx.ok("DescribeTasks", json!({"tasks": ["0123"]}));
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    assert!(
        fx.ok("ListTasks", json!({}))["taskArns"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn instances_attributes_tags_and_draining() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    let a = fx.node(NodeKind::Instance, Some("c"), 2048, 2048);
    let b = fx.node(NodeKind::Instance, Some("c"), 2048, 2048);
    let put = fx.ok(
        "PutAttributes",
        json!({"cluster": "c", "attributes": [{"name": "stack", "value": "prod", "targetId": a}]}),
    );
    assert!(
        put["attributes"][0]["targetId"]
            .as_str()
            .unwrap()
            .contains("container-instance/c/")
    );
    let e = fx.err("PutAttributes", json!({"cluster": "c", "attributes": [{"name": "stack", "value": "prod", "targetId": "nope"}]}));
    assert_eq!(e.code, "TargetNotFoundException");
    let listed = fx.ok(
        "ListAttributes",
        json!({"cluster": "c", "targetType": "container-instance", "attributeName": "stack"}),
    );
    assert_eq!(listed["attributes"].as_array().unwrap().len(), 1);
    let f = fx.ok(
        "ListContainerInstances",
        json!({"cluster": "c", "filter": "attribute:stack == prod"}),
    );
    assert_eq!(arns(&f, "containerInstanceArns").len(), 1);
    assert!(arns(&f, "containerInstanceArns")[0].ends_with(&a));
    assert_eq!(
        fx.err(
            "ListContainerInstances",
            json!({"cluster": "c", "filter": "attribute:stack =="})
        )
        .code,
        "InvalidParameterException"
    );
    fx.ok(
        "DeleteAttributes",
        json!({"cluster": "c", "attributes": [{"name": "stack", "targetId": a}]}),
    );
    let f = fx.ok(
        "ListContainerInstances",
        json!({"cluster": "c", "filter": "attribute:stack exists"}),
    );
    assert!(arns(&f, "containerInstanceArns").is_empty());

    // Draining keeps new tasks off the instance.
    fx.ok(
        "UpdateContainerInstancesState",
        json!({"cluster": "c", "containerInstances": [a], "status": "DRAINING"}),
    );
    fx.register_web(
        "w",
        json!({"containerDefinitions": [{"name": "w", "image": "x", "memory": 64}]}),
    );
    for _ in 0..4 {
        let r = fx.ok("RunTask", json!({"cluster": "c", "taskDefinition": "w"}));
        assert_eq!(
            r["tasks"][0]["containerInstanceArn"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap(),
            b
        );
    }
    let d = fx.ok(
        "ListContainerInstances",
        json!({"cluster": "c", "status": "DRAINING"}),
    );
    assert_eq!(arns(&d, "containerInstanceArns").len(), 1);

    let arn = fx.ok(
        "DescribeContainerInstances",
        json!({"cluster": "c", "containerInstances": [b]}),
    )["containerInstances"][0]["containerInstanceArn"]
        .clone();
    fx.ok(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "x", "value": "1"}]}),
    );
    assert_eq!(
        fx.ok("ListTagsForResource", json!({"resourceArn": arn}))["tags"][0]["key"],
        "x"
    );
    fx.ok(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["x"]}),
    );
    assert!(
        fx.ok("ListTagsForResource", json!({"resourceArn": arn}))["tags"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let missing = "arn:aws:ecs:us-east-1:000000000000:cluster/none";
    assert_eq!(
        fx.err("ListTagsForResource", json!({"resourceArn": missing}))
            .code,
        "ResourceNotFoundException"
    );

    let e = fx.err(
        "DeregisterContainerInstance",
        json!({"cluster": "c", "containerInstance": b}),
    );
    assert_eq!(e.code, "InvalidParameterException");
    let d = fx.ok(
        "DeregisterContainerInstance",
        json!({"cluster": "c", "containerInstance": b, "force": true}),
    );
    assert_eq!(d["containerInstance"]["status"], "INACTIVE");
    // A deregistered node's agent is told to register again.
    let e = fx
        .svc
        .poll(
            &crate::testutil::ctx(),
            &dockyard_agentproto::PollRequest {
                node_id: b.clone(),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(e.message.contains("not registered"), "{}", e.message);
}

#[test]
fn silent_agents_are_marked_disconnected_and_reconnect_by_polling() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({}));
    let n = fx.node(NodeKind::Instance, None, 1024, 1024);
    assert!(fx.svc.connected_nodes().unwrap().contains(&n));
    assert!(fx.svc.set_connected(&n, false).unwrap());
    let d = fx.ok(
        "DescribeContainerInstances",
        json!({"containerInstances": [n.clone()]}),
    );
    assert_eq!(d["containerInstances"][0]["agentConnected"], false);
    fx.register_web("w", json!({}));
    let r = fx.ok("RunTask", json!({"taskDefinition": "w"}));
    assert_eq!(r["failures"][0]["reason"], "AGENT");
    fx.poll(&n, vec![]);
    let d = fx.ok(
        "DescribeContainerInstances",
        json!({"containerInstances": [n]}),
    );
    assert_eq!(d["containerInstances"][0]["agentConnected"], true);
}

#[test]
fn udp_host_ports_are_held_apart_from_tcp_ones() {
    let fx = Fx::new();
    fx.ok("CreateCluster", json!({"clusterName": "c"}));
    let node = fx.node(NodeKind::Instance, Some("c"), 4096, 4096);
    let mapping = |protocol: &str| {
        json!({"containerDefinitions": [{"name": "dns", "image": "busybox", "memory": 64,
            "portMappings": [{"containerPort": 53, "hostPort": 5353, "protocol": protocol}]}]})
    };
    fx.register_web("dns-udp", mapping("udp"));
    fx.register_web("dns-tcp", mapping("tcp"));
    let run = |family: &str| fx.ok("RunTask", json!({"cluster": "c", "taskDefinition": family}));
    // UDP 5353 does not take TCP 5353: both fit on the one instance.
    assert_eq!(run("dns-udp")["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(run("dns-tcp")["tasks"].as_array().unwrap().len(), 1);
    let r = run("dns-udp");
    assert!(r["tasks"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:PORTS_UDP");
    let r = run("dns-tcp");
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:PORTS");
    let ci = fx.ok(
        "DescribeContainerInstances",
        json!({"cluster": "c", "containerInstances": [node]}),
    );
    let remaining = ci["containerInstances"][0]["remainingResources"]
        .as_array()
        .unwrap()
        .clone();
    let set = |name: &str| {
        remaining
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| r["stringSetValue"].clone())
            .unwrap()
    };
    assert!(
        set("PORTS").as_array().unwrap().contains(&json!("5353")),
        "{remaining:?}"
    );
    assert_eq!(set("PORTS_UDP"), json!(["5353"]), "{remaining:?}");
}
