//! `os-release(5)` and `/etc/alpine-release`.

use crate::OsRelease;

/// Parses an os-release file. Values may be bare or quoted with `"` or
/// `'`; inside double quotes a backslash escapes the next character, as
/// the shell-compatible format allows. `ID` defaults to `linux`, as the
/// man page says.
pub fn parse(text: &str) -> OsRelease {
    let mut id = None;
    let mut version_id = None;
    let mut pretty_name = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        match key.trim() {
            "ID" => id = Some(value.to_ascii_lowercase()),
            "VERSION_ID" => version_id = Some(value),
            "PRETTY_NAME" => pretty_name = Some(value),
            _ => {}
        }
    }
    OsRelease {
        id: id.unwrap_or_else(|| "linux".into()),
        version_id: version_id.unwrap_or_default(),
        pretty_name,
    }
}

fn unquote(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `/etc/alpine-release` holds just the version, e.g. `3.18.4`.
pub fn from_alpine_release(text: &str) -> Option<OsRelease> {
    let version = text.lines().next()?.trim();
    if version.is_empty() {
        return None;
    }
    Some(OsRelease {
        id: "alpine".into(),
        version_id: version.into(),
        pretty_name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian() {
        let os = parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n# comment\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id, "12");
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn quoting_and_defaults() {
        let os = parse("ID='Alpine'\nPRETTY_NAME=\"say \\\"hi\\\"\"\n");
        assert_eq!(os.id, "alpine");
        assert_eq!(os.version_id, "");
        assert_eq!(os.pretty_name.as_deref(), Some("say \"hi\""));
        assert_eq!(parse("").id, "linux");
    }

    #[test]
    fn alpine_release() {
        let os = from_alpine_release("3.18.4\n").expect("a version");
        assert_eq!(
            (os.id.as_str(), os.version_id.as_str()),
            ("alpine", "3.18.4")
        );
        assert!(from_alpine_release("\n").is_none());
    }
}
