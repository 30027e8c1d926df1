//! ECS task definitions: the model in ECS's JSON shape, the checks
//! `RegisterTaskDefinition` makes, and RunTask overrides. Pure: ids and
//! times are passed in.

mod model;
mod overrides;
mod validate;

pub use model::*;
pub use overrides::{ContainerOverride, TaskOverride, effective, validate_overrides};
pub use validate::{Registration, Tag, validate_registration};

/// A check that failed: ECS's exception name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub code: &'static str,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn client(message: impl Into<String>) -> Self {
        Self {
            code: "ClientException",
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "InvalidParameterException",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Task CPU as ECS accepts it: units (`1024`) or vCPUs (`1 vCPU`,
/// `0.25 vcpu`).
pub fn parse_cpu(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(v) = t.strip_suffix("vcpu") {
        let n: f64 = v.trim().parse().ok()?;
        return (n > 0.0 && n.is_finite()).then(|| (n * 1024.0).round() as u32);
    }
    t.parse().ok()
}

/// Task memory as ECS accepts it: MiB (`512`), `512 MiB`/`512 mb` or
/// `2 GB`/`2 gib`.
pub fn parse_memory(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    for (suffix, mult) in [("gib", 1024.0), ("gb", 1024.0), ("mib", 1.0), ("mb", 1.0)] {
        if let Some(v) = t.strip_suffix(suffix) {
            let n: f64 = v.trim().parse().ok()?;
            return (n > 0.0 && n.is_finite()).then(|| (n * mult).round() as u32);
        }
    }
    t.parse().ok()
}

/// The Fargate task sizes: for each CPU value, the memory values (MiB)
/// it allows.
pub fn fargate_memory_for(cpu: u32) -> Vec<u32> {
    let gib = |from: u32, to: u32, step: u32| {
        (from..=to)
            .step_by(step as usize)
            .map(|g| g * 1024)
            .collect::<Vec<_>>()
    };
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => gib(1, 4, 1),
        1024 => gib(2, 8, 1),
        2048 => gib(4, 16, 1),
        4096 => gib(8, 30, 1),
        8192 => gib(16, 60, 4),
        16384 => gib(32, 120, 8),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_form() {
        assert_eq!(parse_cpu("1024"), Some(1024));
        assert_eq!(parse_cpu("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu(".25 vcpu"), Some(256));
        assert_eq!(parse_cpu("x"), None);
        assert_eq!(parse_memory("2 GB"), Some(2048));
        assert_eq!(parse_memory("512"), Some(512));
        assert_eq!(parse_memory("0.5GiB"), Some(512));
        assert_eq!(fargate_memory_for(256), [512, 1024, 2048]);
        assert!(fargate_memory_for(8192).contains(&(20 * 1024)));
        assert!(!fargate_memory_for(8192).contains(&(17 * 1024)));
        assert!(fargate_memory_for(300).is_empty());
    }
}
