//! The engine against the plain reference (`reference.rs`, the rules
//! followed literally): the same plan, failures included, on random
//! clusters and requests, for one call and for many calls on one view.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use super::properties::{gen_instance, gen_request};
use super::*;
use crate::model::PlacedTask;
use crate::rng::Rng;

const CASES: u64 = 2000;

fn cluster(rng: &mut Rng, max: usize) -> Vec<InstanceState> {
    (0..rng.below(max + 1))
        .map(|n| gen_instance(rng, n))
        .collect()
}

/// What placing `plan` does to the cluster, as the control plane records
/// it.
fn apply(state: &mut [InstanceState], req: &TaskRequest, plan: &Placement) {
    for (_, arn) in &plan.placed {
        let at = state.iter().position(|i| &i.arn == arn).unwrap();
        state[at].tasks.push(PlacedTask {
            group: req.effective_group(),
            cpu: req.cpu,
            memory: req.memory,
            ports: req.host_ports.clone(),
            ..PlacedTask::default()
        });
    }
}

#[test]
fn place_gives_the_reference_plan() {
    for case in 0..CASES {
        let mut rng = Rng::new(case);
        let instances = cluster(&mut rng, 40);
        let req = gen_request(&mut rng);
        let count = rng.below(60);
        let seed = rng.next_u64();
        assert_eq!(
            place(&req, count, &instances, seed),
            reference::place(&req, count, &instances, seed),
            "case {case}"
        );
    }
}

#[test]
fn a_view_gives_the_reference_plan_call_after_call() {
    for case in 0..CASES / 4 {
        let mut rng = Rng::new(1_000_000 + case);
        let instances = cluster(&mut rng, 25);
        let mut view = ClusterView::new(&instances);
        let mut state = instances.clone();
        for call in 0..1 + rng.below(8) {
            let req = gen_request(&mut rng);
            let count = rng.below(15);
            let seed = rng.next_u64();
            let got = view.place(&req, count, seed);
            let want = reference::place(&req, count, &state, seed);
            assert_eq!(got, want, "case {case} call {call}");
            if let Ok(plan) = &want {
                apply(&mut state, &req, plan);
            }
        }
    }
}

#[test]
fn a_cloned_view_leaves_the_original_as_it_was() {
    let mut rng = Rng::new(5);
    let instances: Vec<InstanceState> = (0..12).map(|n| gen_instance(&mut rng, n)).collect();
    let req = TaskRequest {
        cpu: 0,
        memory: 0,
        strategies: vec![crate::Strategy::Spread(crate::SpreadField::InstanceId)],
        ..TaskRequest::default()
    };
    let mut view = ClusterView::new(&instances);
    let first = view.place(&req, 3, 1).unwrap();
    let mut tried = view.clone();
    let second = tried.place(&req, 3, 2).unwrap();
    // The original has not seen the clone's tasks: the same call on it
    // gives the same plan again.
    assert_eq!(view.place(&req, 3, 2).unwrap(), second);
    assert_ne!(first.placed, Vec::new());
}
