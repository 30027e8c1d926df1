//! The default seccomp filter: what Docker's default profile refuses to a
//! container without CAP_SYS_ADMIN, written as a deny list.
//!
//! Docker's profile is an allow list of about 350 syscalls. A deny list of
//! the dangerous remainder refuses the same calls that matter (kernel
//! modules, kexec, keyrings, bpf, perf, namespaces, mounts, clock, swap,
//! reboot, ptrace-like peeking into other processes) with EPERM, and leaves
//! new harmless syscalls usable, which is what people mostly trip over with
//! allow lists. Only x86_64 is listed: calls from another ABI (32-bit
//! `int 0x80`) get libseccomp's bad-architecture action and are killed.

use serde_json::{Value, json};

/// Syscalls refused with EPERM.
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "syslog",
    "sysfs",
    "_sysctl",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
];

/// Namespace flags `clone` may not carry (Docker refuses them without
/// CAP_SYS_ADMIN): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
/// NEWNET.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000,
    0x0200_0000,
    0x0400_0000,
    0x0800_0000,
    0x1000_0000,
    0x2000_0000,
    0x4000_0000,
];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// The `linux.seccomp` section of an OCI runtime spec.
pub fn default_profile() -> Value {
    let mut rules = vec![json!({
        "names": DENIED,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": EPERM,
    })];
    for flag in CLONE_NAMESPACE_FLAGS {
        rules.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
    }
    // clone3 passes its flags in memory where a filter cannot look; as
    // Docker does, make it look absent so libc falls back to clone.
    rules.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}));
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_parses_as_oci_seccomp() {
        let s: oci_spec::runtime::LinuxSeccomp =
            serde_json::from_value(default_profile()).expect("valid OCI seccomp section");
        let syscalls = s.syscalls().as_ref().expect("rules present");
        assert!(
            syscalls
                .iter()
                .any(|r| r.names().contains(&"unshare".to_string()))
        );
        assert_eq!(
            syscalls.iter().filter(|r| *r.names() == ["clone"]).count(),
            7
        );
    }
}
