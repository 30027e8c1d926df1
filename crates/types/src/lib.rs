//! Types shared by every Dockyard crate, with no I/O.

/// What sort of failure an error is. Every crate's error type has a
/// `kind()`; the edges (CLI exit codes, AWS error codes) map kinds in one
/// place each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    /// The request itself is malformed or out of range.
    InvalidArgument,
    /// The request conflicts with current state (in use, wrong state,
    /// port taken, ambiguous name).
    Conflict,
    /// Credentials were refused or are needed.
    Unauthorized,
    /// A dependency (a registry, the kernel) could not be reached.
    Unavailable,
    Internal,
}

/// The resource limit names Docker's `--ulimit` and ECS's `ulimits` accept.
pub const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];
