//! nftables through the `nft` binary: a script is applied as one
//! transaction (all of it or nothing), listings come back as text or JSON.
//!
//! Why the binary and not netlink: nftables' netlink messages are the
//! bytecode the `nft` compiler emits, and no maintained crate compiles
//! rule text; the binary is part of the `nftables` package every host
//! with a firewall has, and `nft -f` is the interface it documents.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running nft while {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("nft failed while {what}: {stderr}")]
    Failed { what: String, stderr: String },
}

impl NftError {
    /// The table, chain or rule named does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Failed { stderr, .. } if stderr.contains("No such file or directory"))
    }
}

/// Runs `nft ARGS` with `stdin` as its input and returns what it printed.
/// `what` says what for the error message ("adding port rules").
pub fn run(args: &[&str], stdin: Option<&str>, what: &str) -> Result<String, NftError> {
    let spawn = |program: &str| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let spawned = match spawn("nft") {
        // Root's PATH has /usr/sbin, a service's may not.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => spawn("/usr/sbin/nft"),
        r => r,
    };
    let mut child = spawned.map_err(|source| NftError::Spawn {
        what: what.to_string(),
        source,
    })?;
    if let Some(mut input) = child.stdin.take()
        && let Some(s) = stdin
    {
        input
            .write_all(s.as_bytes())
            .map_err(|source| NftError::Spawn {
                what: what.to_string(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| NftError::Spawn {
        what: what.to_string(),
        source,
    })?;
    if !out.status.success() {
        return Err(NftError::Failed {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Applies a script as one transaction: all of it or nothing.
pub fn apply(script: &str, what: &str) -> Result<(), NftError> {
    run(&["-f", "-"], Some(script), what).map(|_| ())
}

/// Deletes `table` of `family`; a table that is not there is success.
pub fn delete_table(family: &str, table: &str) -> Result<(), NftError> {
    match run(
        &["delete", "table", family, table],
        None,
        &format!("deleting table {table}"),
    ) {
        Err(e) if e.is_missing() => Ok(()),
        r => r.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_told_from_other_failures() {
        let missing = NftError::Failed {
            what: "x".into(),
            stderr: "Error: Could not process rule: No such file or directory".into(),
        };
        let syntax = NftError::Failed {
            what: "x".into(),
            stderr: "Error: syntax error, unexpected junk".into(),
        };
        assert!(missing.is_missing());
        assert!(!syntax.is_missing());
        assert!(syntax.to_string().contains("while x: Error: syntax error"));
    }
}
