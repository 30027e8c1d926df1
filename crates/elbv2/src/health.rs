//! Target health: the states and reason codes of `DescribeTargetHealth`,
//! and [`TargetHealthSource`], through which the data plane's health
//! checker reports what it saw.
//!
//! What this crate decides on its own, before asking the source: a target
//! being deregistered is `draining` (`Target.DeregistrationInProgress`)
//! until its group's deregistration delay passes; a target of a group no
//! listener or rule forwards to is `unused` (`Target.NotInUse`), as is one
//! in a zone its load balancer is not in; a target the checker has not
//! reported on yet is `initial` (`Elb.RegistrationInProgress`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{TargetGroupRecord, TargetRecord};
use crate::state::State;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }
        }
    };
}

wire_enum!(
    /// `TargetHealthStateEnum`.
    TargetHealthState {
        Initial = "initial",
        Healthy = "healthy",
        Unhealthy = "unhealthy",
        UnhealthyDraining = "unhealthy.draining",
        Unused = "unused",
        Draining = "draining",
        Unavailable = "unavailable",
    }
);

wire_enum!(
    /// `TargetHealthReasonEnum`.
    TargetHealthReason {
        RegistrationInProgress = "Elb.RegistrationInProgress",
        InitialHealthChecking = "Elb.InitialHealthChecking",
        ResponseCodeMismatch = "Target.ResponseCodeMismatch",
        Timeout = "Target.Timeout",
        FailedHealthChecks = "Target.FailedHealthChecks",
        NotRegistered = "Target.NotRegistered",
        NotInUse = "Target.NotInUse",
        DeregistrationInProgress = "Target.DeregistrationInProgress",
        InvalidState = "Target.InvalidState",
        IpUnusable = "Target.IpUnusable",
        HealthCheckDisabled = "Target.HealthCheckDisabled",
        InternalError = "Elb.InternalError",
    }
);

/// The health of one target, as `DescribeTargetHealth` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub state: TargetHealthState,
    /// None when healthy, as on AWS.
    pub reason: Option<TargetHealthReason>,
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn new(state: TargetHealthState, reason: TargetHealthReason, description: &str) -> Self {
        Self {
            state,
            reason: Some(reason),
            description: Some(description.to_string()),
        }
    }

    pub fn healthy() -> Self {
        Self {
            state: TargetHealthState::Healthy,
            reason: None,
            description: None,
        }
    }
}

/// What the data plane's health checker last concluded about targets.
///
/// Called while answering `DescribeTargetHealth` (so it must answer from
/// memory, quickly), only for registered targets of groups that a
/// listener or rule uses; `None` means no conclusion yet, which reads as
/// `initial`.
pub trait TargetHealthSource: Send + Sync {
    fn health(&self, target_group_arn: &str, target_id: &str, port: u16) -> Option<TargetHealth>;
}

/// A source with no reports: every target in use stays `initial` (for a
/// server without a data plane, and tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHealthReports;

impl TargetHealthSource for NoHealthReports {
    fn health(&self, _: &str, _: &str, _: u16) -> Option<TargetHealth> {
        None
    }
}

/// One registration and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealthDescription {
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    /// The port health checks go to; `None` when the target is not
    /// checked (unused).
    pub health_check_port: Option<u16>,
    pub health: TargetHealth,
}

/// The health of a live registration at `now`.
pub(crate) fn describe(
    state: &State,
    tg: &TargetGroupRecord,
    t: &TargetRecord,
    source: &dyn TargetHealthSource,
    now: DateTime<Utc>,
) -> TargetHealthDescription {
    let checked = |health| TargetHealthDescription {
        id: t.id.clone(),
        port: t.port,
        availability_zone: t.availability_zone.clone(),
        health_check_port: Some(tg.health_check.port_for(t.port)),
        health,
    };
    let unused = |description: &str| TargetHealthDescription {
        health_check_port: None,
        ..checked(TargetHealth::new(
            TargetHealthState::Unused,
            TargetHealthReason::NotInUse,
            description,
        ))
    };
    if t.deregistered_at.is_some() && state.is_live(t, now) {
        return checked(TargetHealth::new(
            TargetHealthState::Draining,
            TargetHealthReason::DeregistrationInProgress,
            "Target deregistration is in progress",
        ));
    }
    let users = state.users_of(&tg.arn);
    if users.is_empty() {
        return unused("Target group is not configured to receive traffic from the load balancer");
    }
    if let Some(zone) = t.availability_zone.as_deref().filter(|z| *z != "all") {
        let enabled = state
            .lbs
            .values()
            .filter(|lb| users.contains(&lb.arn))
            .any(|lb| lb.zones.iter().any(|z| z.zone_name == zone));
        if !enabled {
            return unused(
                "Target is in an Availability Zone that is not enabled for the load balancer",
            );
        }
    }
    checked(source.health(&tg.arn, &t.id, t.port).unwrap_or_else(|| {
        TargetHealth::new(
            TargetHealthState::Initial,
            TargetHealthReason::RegistrationInProgress,
            "Target registration is in progress",
        )
    }))
}

/// A target asked about that is not registered.
pub(crate) fn not_registered(id: &str, port: u16) -> TargetHealthDescription {
    TargetHealthDescription {
        id: id.to_string(),
        port,
        availability_zone: None,
        health_check_port: None,
        health: TargetHealth::new(
            TargetHealthState::Unused,
            TargetHealthReason::NotRegistered,
            "Target is not registered to the target group",
        ),
    }
}
