//! Building layer tars in memory for tests.

use std::io::Write;

/// One tar entry; paths are written byte for byte as given (so tests can
/// use `./` and `/` prefixes the `tar` crate's builder would refuse).
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A regular file whose header claims `size` bytes but carries none.
    Claimed(&'a str, u64),
}

fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_old();
    let name = &mut h.as_old_mut().name;
    assert!(path.len() < name.len(), "test path too long: {path}");
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h
}

fn set_link(h: &mut tar::Header, target: &str) {
    let link = &mut h.as_old_mut().linkname;
    link[..target.len()].copy_from_slice(target.as_bytes());
}

pub fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, data): (tar::Header, &[u8]) = match e {
            Entry::File(p, data) => (header(p, tar::EntryType::Regular, data.len() as u64), data),
            Entry::Dir(p) => (header(p, tar::EntryType::Directory, 0), &[]),
            Entry::Symlink(p, t) => {
                let mut h = header(p, tar::EntryType::Symlink, 0);
                set_link(&mut h, t);
                (h, &[])
            }
            Entry::HardLink(p, t) => {
                let mut h = header(p, tar::EntryType::Link, 0);
                set_link(&mut h, t);
                (h, &[])
            }
            Entry::Claimed(p, size) => (header(p, tar::EntryType::Regular, *size), &[]),
        };
        h.set_cksum();
        b.append(&h, data).expect("writing to a Vec cannot fail");
    }
    b.into_inner().expect("writing to a Vec cannot fail")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("encoding in memory cannot fail")
}

pub const DEBIAN_OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\n";

pub const DEBIAN_STATUS: &[u8] = b"Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u3

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u2

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
";

pub const ALPINE_OS_RELEASE: &[u8] = b"NAME=\"Alpine Linux\"\nID=alpine\n\
VERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n";

pub const APK_INSTALLED: &[u8] = b"C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
o:musl

C:Q1def=
P:libcrypto3
V:3.1.3-r0
A:x86_64
o:openssl

C:Q1ghi=
P:libssl3
V:3.1.3-r0
A:x86_64
o:openssl

P:busybox
V:1.36.1-r5
A:x86_64
o:busybox
";

/// A Debian 12 base layer: os-release reached through the usual
/// `etc/os-release -> ../usr/lib/os-release` symlink, and dpkg's status.
pub fn debian_base() -> Vec<u8> {
    tar(&[
        Entry::Dir("./"),
        Entry::Dir("./etc/"),
        Entry::Symlink("./etc/os-release", "../usr/lib/os-release"),
        Entry::Dir("./usr/"),
        Entry::Dir("./usr/lib/"),
        Entry::File("./usr/lib/os-release", DEBIAN_OS_RELEASE),
        Entry::Dir("./var/lib/dpkg/"),
        Entry::File("./var/lib/dpkg/status", DEBIAN_STATUS),
    ])
}

pub fn alpine_base() -> Vec<u8> {
    tar(&[
        Entry::File("etc/os-release", ALPINE_OS_RELEASE),
        Entry::File("etc/alpine-release", b"3.18.4\n"),
        Entry::Dir("lib/apk/db/"),
        Entry::File("lib/apk/db/installed", APK_INSTALLED),
    ])
}
