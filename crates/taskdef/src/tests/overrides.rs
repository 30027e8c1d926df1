//! RunTask overrides: checked against the definition and applied.

use super::*;
use crate::{TaskOverride, TaskResources, effective, validate_overrides};

fn def() -> TaskDefinition {
    register(
        json!({"family": "f", "memory": "512", "cpu": "1024", "containerDefinitions": [
            {"name": "app", "image": "x", "memory": 128, "cpu": 256, "command": ["serve"],
             "environment": [{"name": "A", "value": "1"}, {"name": "KEEP", "value": "k"}],
             "resourceRequirements": [{"type": "GPU", "value": "1"}]},
            {"name": "side", "image": "y", "memoryReservation": 64}
        ]}),
    )
}

fn bad(d: &TaskDefinition, o: Value) -> String {
    let e = validate_overrides(d, &o).unwrap_err();
    assert_eq!(e.code, "InvalidParameterException", "{}", e.message);
    e.message
}

#[test]
fn no_overrides() {
    let d = def();
    assert_eq!(
        validate_overrides(&d, &Value::Null).unwrap(),
        TaskOverride::default()
    );
    let o = validate_overrides(&d, &json!({})).unwrap();
    assert_eq!(effective(&d, &o), d);
}

#[test]
fn overrides_apply() {
    let d = def();
    let o = validate_overrides(
        &d,
        &json!({
            "containerOverrides": [
                {"name": "app", "command": ["migrate", "--all"],
                 "environment": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
                 "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::b/o.env"}],
                 "cpu": 512, "memory": 256, "memoryReservation": 200,
                 "resourceRequirements": [{"type": "GPU", "value": "2"}]},
                {"name": "side", "memoryReservation": 96}
            ],
            "cpu": "2 vCPU",
            "memory": "1 GB",
            "taskRoleArn": "arn:aws:iam::1:role/other",
            "executionRoleArn": "arn:aws:iam::1:role/exec",
            "ephemeralStorage": {"sizeInGiB": 40}
        }),
    )
    .unwrap();
    let e = effective(&d, &o);
    let app = &e.container_definitions[0];
    assert_eq!(
        app.command,
        Some(vec!["migrate".to_string(), "--all".to_string()])
    );
    // Replaced by name in place, new ones added, others kept.
    let env: Vec<(&str, &str)> = app
        .environment
        .iter()
        .map(|kv| (kv.name.as_deref().unwrap(), kv.value.as_deref().unwrap()))
        .collect();
    assert_eq!(env, [("A", "2"), ("KEEP", "k"), ("B", "3")]);
    assert_eq!(app.environment_files.as_ref().unwrap().len(), 1);
    assert_eq!(
        (app.cpu, app.memory, app.memory_reservation),
        (Some(512), Some(256), Some(200))
    );
    assert_eq!(app.resource_requirements.as_ref().unwrap()[0].value, "2");
    assert_eq!(e.container_definitions[1].memory_reservation, Some(96));
    // Sizes normalised as a definition's are.
    assert_eq!(
        (e.cpu.as_deref(), e.memory.as_deref()),
        (Some("2048"), Some("1024"))
    );
    assert_eq!(
        e.resources(),
        TaskResources {
            cpu: 2048,
            memory: 1024
        }
    );
    assert_eq!(
        e.task_role_arn.as_deref(),
        Some("arn:aws:iam::1:role/other")
    );
    assert_eq!(
        e.execution_role_arn.as_deref(),
        Some("arn:aws:iam::1:role/exec")
    );
    assert_eq!(e.ephemeral_storage.unwrap().size_in_gib, Some(40));
    // The definition itself is untouched.
    assert_eq!(
        d.container_definitions[0].command,
        Some(vec!["serve".to_string()])
    );
    // The overrides serialize in ECS's shape, for DescribeTasks.
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(
        v["containerOverrides"][1],
        json!({"name": "side", "memoryReservation": 96})
    );
    assert_eq!(v["ephemeralStorage"], json!({"sizeInGiB": 40}));
}

#[test]
fn overrides_are_checked() {
    let d = def();
    assert_eq!(
        bad(&d, json!({"containerOverrides": [{"name": "nope"}]})),
        "Override for container named nope is not a container in the TaskDefinition."
    );
    assert!(
        bad(&d, json!({"containerOverrides": [{"command": ["x"]}]}))
            .contains("name must be specified")
    );
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "memory": 4}]})
        )
        .contains("6 MiB")
    );
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "cpu": -1}]})
        )
        .contains("cpu")
    );
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "memoryReservation": 129}]})
        )
        .contains("memoryReservation")
    );
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "environment": [{"value": "x"}]}]})
        )
        .contains("environment")
    );
    assert!(bad(&d, json!({"containerOverrides": [{"name": "app", "environmentFiles": [{"type": "s3", "value": "nope"}]}]})).contains("S3"));
    assert!(bad(&d, json!({"containerOverrides": [{"name": "app", "resourceRequirements": [{"type": "TPU", "value": "1"}]}]})).contains("TPU"));
    // The task's memory and cpu, overridden or not, cover the containers.
    assert_eq!(
        bad(&d, json!({"memory": "100"})),
        "The sum of all container 'memory' values cannot be greater than the value of the task 'memory'."
    );
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "side", "memoryReservation": 600}]})
        )
        .contains("'memoryReservation'")
    );
    assert!(bad(&d, json!({"cpu": "128"})).contains("'cpu'"));
    assert!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "cpu": 2000}]})
        )
        .contains("'cpu'")
    );
    assert!(bad(&d, json!({"cpu": "lots"})).contains("Invalid 'cpu' override"));
    assert!(bad(&d, json!({"memory": "2"})).contains("Invalid 'memory' override"));
    assert!(bad(&d, json!({"ephemeralStorage": {"sizeInGiB": 500}})).contains("sizeInGiB"));
    assert!(bad(&d, json!({"inferenceAcceleratorOverrides": [{"deviceName": "d1", "deviceType": "eia2.medium"}]})).contains("d1"));
    let long = "x".repeat(9000);
    assert_eq!(
        bad(
            &d,
            json!({"containerOverrides": [{"name": "app", "command": [long]}]})
        ),
        "Container Overrides length must be at most 8192"
    );
    let e = validate_overrides(&d, &json!({"containerOverrides": "app"})).unwrap_err();
    assert_eq!(e.code, "SerializationException");
    let e = validate_overrides(
        &d,
        &json!({"containerOverrides": [{"name": "app", "cpu": "1"}]}),
    )
    .unwrap_err();
    assert_eq!(e.code, "SerializationException");
}

#[test]
fn containers_without_limits_keep_the_task_memory() {
    // Container memory comes from the task, so the task memory cannot be
    // dropped by an override, only changed.
    let d = register(fargate(json!({})));
    let o = validate_overrides(&d, &json!({"cpu": "512", "memory": "1024"})).unwrap();
    assert_eq!(
        effective(&d, &o).resources(),
        TaskResources {
            cpu: 512,
            memory: 1024
        }
    );
    // A Fargate definition's overridden size is still a Fargate size.
    assert_eq!(
        bad(&d, json!({"memory": "4096"})),
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."
    );
    validate_overrides(
        &d,
        &json!({"containerOverrides": [{"name": "app", "memory": 256}]}),
    )
    .unwrap();
}
