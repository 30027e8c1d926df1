//! apk's database, `/lib/apk/db/installed`: one paragraph per package of
//! `X:value` lines (`P` name, `V` version, `A` architecture, `o` origin,
//! that is the source package), separated by blank lines.

use crate::{Package, PackageManager};

pub fn parse(text: &str) -> Vec<Package> {
    let mut out = Vec::new();
    let mut current = Fields::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            out.extend(current.take());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "P" => current.name = Some(value.to_string()),
            "V" => current.version = Some(value.to_string()),
            "A" => current.arch = Some(value.to_string()),
            "o" => current.origin = Some(value.to_string()),
            _ => {}
        }
    }
    out.extend(current.take());
    out
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    origin: Option<String>,
}

impl Fields {
    fn take(&mut self) -> Option<Package> {
        let f = std::mem::take(self);
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Some(Package {
            name: nonempty(f.name)?,
            version: nonempty(f.version)?,
            source_name: nonempty(f.origin),
            source_version: None,
            arch: nonempty(f.arch),
            manager: PackageManager::Apk,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_db() {
        let text = "\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
o:musl
F:lib
R:ld-musl-x86_64.so.1

C:Q1def=
P:libcrypto3
V:3.1.4-r1
A:x86_64
o:openssl
m:Natanael Copa <ncopa@alpinelinux.org>

P:broken-no-version
A:x86_64
";
        let pkgs = parse(text);
        assert_eq!(pkgs.len(), 2);
        assert_eq!(pkgs[0].name, "musl");
        assert_eq!(pkgs[0].version, "1.2.4-r2");
        assert_eq!(pkgs[1].name, "libcrypto3");
        assert_eq!(pkgs[1].source_name.as_deref(), Some("openssl"));
        assert_eq!(pkgs[1].arch.as_deref(), Some("x86_64"));
        assert_eq!(pkgs[1].manager, PackageManager::Apk);
    }
}
