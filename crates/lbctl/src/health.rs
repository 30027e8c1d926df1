//! The data plane's health reports, as the ELBv2 API asks for them.

use std::sync::{Arc, PoisonError, RwLock};

use dockyard_elbv2::{TargetHealth, TargetHealthReason, TargetHealthSource, TargetHealthState};
use dockyard_lb::{self as lb, HealthMap};

use crate::translate::TargetAddresses;

/// The latest health map and the addresses targets were resolved to;
/// answers from memory.
#[derive(Default)]
pub struct SharedHealth {
    inner: RwLock<(Arc<HealthMap>, TargetAddresses)>,
}

impl SharedHealth {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set_health(&self, map: Arc<HealthMap>) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).0 = map;
    }

    pub(crate) fn set_targets(&self, targets: TargetAddresses) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).1 = targets;
    }
}

fn state(s: lb::TargetHealthState) -> TargetHealthState {
    match s {
        lb::TargetHealthState::Initial => TargetHealthState::Initial,
        lb::TargetHealthState::Healthy => TargetHealthState::Healthy,
        lb::TargetHealthState::Unhealthy => TargetHealthState::Unhealthy,
        lb::TargetHealthState::Unused => TargetHealthState::Unused,
        lb::TargetHealthState::Draining => TargetHealthState::Draining,
        lb::TargetHealthState::Unavailable => TargetHealthState::Unavailable,
    }
}

fn reason(r: lb::TargetHealthReason) -> TargetHealthReason {
    match r {
        lb::TargetHealthReason::RegistrationInProgress => {
            TargetHealthReason::RegistrationInProgress
        }
        lb::TargetHealthReason::InitialHealthChecking => TargetHealthReason::InitialHealthChecking,
        lb::TargetHealthReason::InternalError => TargetHealthReason::InternalError,
        lb::TargetHealthReason::ResponseCodeMismatch => TargetHealthReason::ResponseCodeMismatch,
        lb::TargetHealthReason::Timeout => TargetHealthReason::Timeout,
        lb::TargetHealthReason::FailedHealthChecks => TargetHealthReason::FailedHealthChecks,
        lb::TargetHealthReason::DeregistrationInProgress => {
            TargetHealthReason::DeregistrationInProgress
        }
        lb::TargetHealthReason::NotInUse => TargetHealthReason::NotInUse,
        lb::TargetHealthReason::HealthCheckDisabled => TargetHealthReason::HealthCheckDisabled,
    }
}

impl TargetHealthSource for SharedHealth {
    fn health(&self, target_group_arn: &str, target_id: &str, port: u16) -> Option<TargetHealth> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let (map, targets) = &*inner;
        let ip = targets.get(&(target_group_arn.to_string(), target_id.to_string(), port))?;
        let h = map.get(&(target_group_arn.to_string(), *ip, port))?;
        Some(TargetHealth {
            state: state(h.state),
            reason: h.reason.map(reason),
            description: h.description.clone(),
        })
    }
}
