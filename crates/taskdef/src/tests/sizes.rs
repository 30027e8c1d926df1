//! The Fargate size table and the size forms, swept rather than sampled.

use super::*;
use crate::{FARGATE_SIZES, fargate_memory_for, is_fargate_size, parse_cpu, parse_memory};

const CPUS: [u32; 10] = [128, 256, 384, 512, 1024, 2048, 4096, 8192, 16384, 32768];

#[test]
fn registration_agrees_with_the_table_everywhere() {
    for cpu in CPUS {
        for memory in (512..=131_072).step_by(512) {
            let v = with(
                fargate(json!({})),
                json!({"cpu": cpu.to_string(), "memory": memory.to_string()}),
            );
            let ok = is_fargate_size(cpu, memory);
            match validate_registration(&v) {
                Ok(_) => assert!(ok, "{cpu}/{memory} accepted"),
                Err(e) => {
                    assert!(!ok, "{cpu}/{memory} refused: {}", e.message);
                    assert_eq!(
                        e.message,
                        format!(
                            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
                        )
                    );
                }
            }
        }
    }
}

#[test]
fn the_table_is_ordered_stepped_and_bounded() {
    for (i, (cpu, mems)) in FARGATE_SIZES.iter().enumerate() {
        assert!(cpu.is_power_of_two());
        if i > 0 {
            assert_eq!(*cpu, FARGATE_SIZES[i - 1].0 * 2);
        }
        // From 2 GiB per vCPU up to at most 8, ascending.
        assert!(mems.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(mems.first(), Some(&(cpu * 2)));
        assert!(mems.iter().all(|m| m % 512 == 0 && *m <= cpu * 8));
        assert_eq!(fargate_memory_for(*cpu), *mems);
    }
}

#[test]
fn every_size_form_gives_the_same_definition() {
    for (cpu, mems) in FARGATE_SIZES {
        for memory in mems {
            let vcpu = format!("{} vCPU", f64::from(cpu) / 1024.0);
            let gb = format!("{}GB", f64::from(*memory) / 1024.0);
            let forms = [
                (cpu.to_string(), memory.to_string()),
                (vcpu.clone(), gb.clone()),
                (vcpu.to_lowercase(), format!("{memory} MiB")),
            ];
            for (c, m) in forms {
                // Without asking for Fargate: the size alone makes it
                // compatible.
                let d = register(with(
                    one(json!({"memory": null})),
                    json!({"networkMode": "awsvpc", "cpu": c, "memory": m}),
                ));
                assert_eq!(d.cpu, Some(cpu.to_string()), "{c}");
                assert_eq!(d.memory, Some(memory.to_string()), "{m}");
                assert_eq!(d.compatibilities, ["EC2", "FARGATE"], "{c} {m}");
            }
        }
    }
}

#[test]
fn parsing_round_trips() {
    for n in (1..=200_000u32).step_by(97) {
        assert_eq!(parse_cpu(&n.to_string()), Some(n));
        assert_eq!(parse_memory(&n.to_string()), Some(n));
        assert_eq!(parse_memory(&format!("{n} MiB")), Some(n));
    }
    for quarter in 1..=800u32 {
        let v = f64::from(quarter) / 4.0;
        assert_eq!(parse_cpu(&format!("{v} vcpu")), Some(quarter * 256));
        assert_eq!(parse_memory(&format!("{v} GB")), Some(quarter * 256));
    }
}
