//! Task sizes: the CPU and memory strings ECS accepts, and the Fargate
//! task size table.

/// Memory values from `from` in `N` steps of `step` MiB.
const fn steps<const N: usize>(from: u32, step: u32) -> [u32; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = from + step * i as u32;
        i += 1;
    }
    out
}

const MEM_512: [u32; 4] = steps(1024, 1024);
const MEM_1024: [u32; 7] = steps(2048, 1024);
const MEM_2048: [u32; 13] = steps(4096, 1024);
const MEM_4096: [u32; 23] = steps(8192, 1024);
const MEM_8192: [u32; 12] = steps(16 * 1024, 4 * 1024);
const MEM_16384: [u32; 12] = steps(32 * 1024, 8 * 1024);

/// The Fargate task sizes: each CPU value (units) with the memory values
/// (MiB) it may be paired with, as AWS's "Task size" table lists them.
pub const FARGATE_SIZES: [(u32, &[u32]); 7] = [
    (256, &[512, 1024, 2048]),
    (512, &MEM_512),
    (1024, &MEM_1024),
    (2048, &MEM_2048),
    (4096, &MEM_4096),
    (8192, &MEM_8192),
    (16384, &MEM_16384),
];

/// The memory values Fargate allows with `cpu` units; empty when `cpu` is
/// not a Fargate CPU value.
pub fn fargate_memory_for(cpu: u32) -> &'static [u32] {
    FARGATE_SIZES
        .iter()
        .find(|(c, _)| *c == cpu)
        .map(|(_, m)| *m)
        .unwrap_or(&[])
}

/// Whether `cpu` units with `memory` MiB is a Fargate task size.
pub fn is_fargate_size(cpu: u32, memory: u32) -> bool {
    fargate_memory_for(cpu).contains(&memory)
}

/// Task CPU as ECS accepts it: units (`1024`) or vCPUs (`1 vCPU`,
/// `0.25 vcpu`, `.5vCPU`). `None` when the text is neither or the vCPUs
/// are not a whole number of units.
pub fn parse_cpu(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    match t.strip_suffix("vcpu") {
        Some(n) => scaled(n, 1024),
        None => whole(&t),
    }
}

/// Task memory as ECS accepts it: MiB (`512`, `512 MiB`, `512mb`) or GB
/// (`2 GB`, `0.5GiB`). `None` when the text is neither or the value is not
/// a whole number of MiB.
pub fn parse_memory(s: &str) -> Option<u32> {
    let t = s.trim().to_ascii_lowercase();
    for (suffix, per) in [("gib", 1024), ("gb", 1024), ("mib", 1), ("mb", 1)] {
        if let Some(n) = t.strip_suffix(suffix) {
            return scaled(n, per);
        }
    }
    whole(&t)
}

fn whole(t: &str) -> Option<u32> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// `n` (a decimal, maybe fractional) times `per`, when that is a positive
/// whole number that fits.
fn scaled(n: &str, per: u32) -> Option<u32> {
    let n = n.trim();
    let valid = !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && n.bytes().filter(|b| *b == b'.').count() <= 1
        && n != ".";
    if !valid {
        return None;
    }
    let v = n.parse::<f64>().ok()? * f64::from(per);
    let rounded = v.round();
    // Decimal fractions such as 0.1 are not exact in binary; a value within
    // a millionth of a whole number is that number.
    if v <= 0.0 || (v - rounded).abs() > 1e-6 || rounded > f64::from(u32::MAX) {
        return None;
    }
    Some(rounded as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_vcpus() {
        assert_eq!(parse_cpu("1024"), Some(1024));
        assert_eq!(parse_cpu(" 256 "), Some(256));
        assert_eq!(parse_cpu("1 vCPU"), Some(1024));
        assert_eq!(parse_cpu("1 vcpu"), Some(1024));
        assert_eq!(parse_cpu("0.25 vcpu"), Some(256));
        assert_eq!(parse_cpu(".5vCPU"), Some(512));
        assert_eq!(parse_cpu("0.125 VCPU"), Some(128));
        assert_eq!(parse_cpu("16 vCPU"), Some(16384));
        for bad in [
            "",
            "x",
            "-1",
            "1.5",
            "0.3 vcpu",
            "0 vcpu",
            "vcpu",
            ". vcpu",
            "1..2 vcpu",
        ] {
            assert_eq!(parse_cpu(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mib_and_gb() {
        assert_eq!(parse_memory("512"), Some(512));
        assert_eq!(parse_memory("512 MiB"), Some(512));
        assert_eq!(parse_memory("512mb"), Some(512));
        assert_eq!(parse_memory("2 GB"), Some(2048));
        assert_eq!(parse_memory("2GB"), Some(2048));
        assert_eq!(parse_memory("0.5GiB"), Some(512));
        assert_eq!(parse_memory("1.5 gb"), Some(1536));
        assert_eq!(parse_memory("120 GB"), Some(122_880));
        for bad in ["", "GB", "-2 GB", "0.1 GB", "1e3", "2 TB", "5000000 GB"] {
            assert_eq!(parse_memory(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_table_has_aws_rows() {
        let total: usize = FARGATE_SIZES.iter().map(|(_, m)| m.len()).sum();
        assert_eq!(total, 74);
        assert_eq!(fargate_memory_for(256), [512, 1024, 2048]);
        assert_eq!(fargate_memory_for(512), [1024, 2048, 3072, 4096]);
        assert_eq!(fargate_memory_for(1024).first(), Some(&2048));
        assert_eq!(fargate_memory_for(1024).last(), Some(&8192));
        assert_eq!(fargate_memory_for(2048).last(), Some(&16384));
        assert_eq!(fargate_memory_for(4096).last(), Some(&30720));
        assert_eq!(fargate_memory_for(8192).last(), Some(&61440));
        assert_eq!(fargate_memory_for(16384).last(), Some(&122_880));
        assert!(is_fargate_size(8192, 20 * 1024));
        assert!(!is_fargate_size(8192, 17 * 1024));
        assert!(!is_fargate_size(16384, 36 * 1024));
        assert!(fargate_memory_for(300).is_empty());
        assert!(fargate_memory_for(32768).is_empty());
    }
}
