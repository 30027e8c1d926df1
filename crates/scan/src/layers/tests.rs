use super::*;
use crate::fixtures::{Entry, alpine_base, debian_base, gzip, tar, zstd};
use crate::{Inventory, PackageManager, ScanError, inventory};

fn inv(layers: &[Vec<u8>]) -> Inventory {
    inventory(layers.iter().map(|l| l.as_slice())).expect("layers are valid")
}

fn names(inv: &Inventory) -> Vec<&str> {
    inv.packages.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn normalize_paths() {
    assert_eq!(normalize("./etc/os-release"), "etc/os-release");
    assert_eq!(normalize("/etc//os-release"), "etc/os-release");
    assert_eq!(normalize("./var/lib/dpkg/"), "var/lib/dpkg");
    assert_eq!(normalize("usr/lib/../../etc/./x"), "etc/x");
    assert_eq!(normalize("../../etc"), "etc");
    assert_eq!(normalize("./"), "");
}

#[test]
fn debian_gzip_layer_with_os_release_symlink() {
    let inv = inv(&[gzip(&debian_base())]);
    let os = inv.os.as_ref().expect("os-release found");
    assert_eq!(os.id, "debian");
    assert_eq!(os.version_id, "12");
    assert_eq!(os.ecosystem().as_deref(), Some("Debian:12"));
    assert_eq!(names(&inv), ["bash", "libc6", "libssl3", "openssl"]);
    assert!(
        inv.packages
            .iter()
            .all(|p| p.manager == PackageManager::Dpkg)
    );
    assert!(inv.is_supported());
}

#[test]
fn alpine_zstd_and_plain_layers() {
    let extra = tar(&[Entry::File("/etc/motd", b"welcome\n")]);
    let inv = inv(&[zstd(&alpine_base()), extra]);
    let os = inv.os.as_ref().expect("os-release found");
    assert_eq!(os.ecosystem().as_deref(), Some("Alpine:v3.18"));
    assert_eq!(names(&inv), ["busybox", "libcrypto3", "libssl3", "musl"]);
    assert!(
        inv.packages
            .iter()
            .all(|p| p.manager == PackageManager::Apk)
    );
}

#[test]
fn whiteout_deletes_database() {
    let delete = tar(&[Entry::File("/var/lib/dpkg/.wh.status", b"")]);
    let inv = inv(&[debian_base(), delete]);
    assert!(inv.packages.is_empty());
    assert!(inv.os.is_some(), "the whiteout hides only the status file");
    assert!(!inv.is_supported());
}

#[test]
fn whiteout_of_a_parent_directory_deletes_everything_below() {
    let delete = tar(&[Entry::File("lib/.wh.apk", b"")]);
    let inv = inv(&[alpine_base(), delete]);
    assert!(inv.packages.is_empty());
}

#[test]
fn opaque_directory_replaces_database() {
    let lower = tar(&[
        Entry::File("etc/os-release", crate::fixtures::DEBIAN_OS_RELEASE),
        Entry::File("var/lib/dpkg/status", crate::fixtures::DEBIAN_STATUS),
        Entry::File(
            "var/lib/dpkg/status.d/tzdata",
            b"Package: tzdata\nVersion: 2024a-0+deb12u1\n",
        ),
    ]);
    let upper = tar(&[
        Entry::Dir("var/lib/dpkg/"),
        // The new status comes before the marker: the marker must still
        // hide only the lower layers' files.
        Entry::File(
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n",
        ),
        Entry::File("var/lib/dpkg/.wh..wh..opq", b""),
    ]);
    let inv = inv(&[lower, gzip(&upper)]);
    assert_eq!(names(&inv), ["zlib1g"]);
}

#[test]
fn whiteout_and_new_file_in_the_same_layer_keep_the_new_file() {
    let upper = tar(&[
        Entry::File(
            "var/lib/dpkg/status",
            b"Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10+deb12u5\n",
        ),
        Entry::File("var/lib/dpkg/.wh.status", b""),
    ]);
    let inv = inv(&[debian_base(), upper]);
    assert_eq!(names(&inv), ["curl"]);
}

#[test]
fn later_layer_replaces_os_release_symlink_with_a_file() {
    let upper = tar(&[Entry::File(
        "etc/os-release",
        b"ID=ubuntu\nVERSION_ID=\"22.04\"\n",
    )]);
    let inv = inv(&[debian_base(), upper]);
    let os = inv.os.expect("os-release found");
    assert_eq!(
        (os.id.as_str(), os.version_id.as_str()),
        ("ubuntu", "22.04")
    );
}

#[test]
fn absolute_symlink_through_a_directory_symlink() {
    let layer = tar(&[
        Entry::Symlink("lib", "usr/lib"),
        Entry::File("usr/lib/os-release", b"ID=debian\nVERSION_ID=11\n"),
        Entry::Symlink("etc/os-release", "/lib/os-release"),
    ]);
    let os = inv(&[layer]).os.expect("os-release found");
    assert_eq!(os.version_id, "11");
}

#[test]
fn falls_back_to_usr_lib_os_release_and_alpine_release() {
    let usr_lib = tar(&[Entry::File(
        "usr/lib/os-release",
        b"ID=debian\nVERSION_ID=12\n",
    )]);
    assert_eq!(inv(&[usr_lib]).os.expect("found").id, "debian");

    let only_release = tar(&[Entry::File("etc/alpine-release", b"3.19.1\n")]);
    let os = inv(&[only_release]).os.expect("found");
    assert_eq!(os.ecosystem().as_deref(), Some("Alpine:v3.19"));

    let no_version = tar(&[
        Entry::File("etc/os-release", b"ID=alpine\n"),
        Entry::File("etc/alpine-release", b"3.17.2\n"),
    ]);
    assert_eq!(inv(&[no_version]).os.expect("found").version_id, "3.17.2");
}

#[test]
fn symlink_loop_is_not_followed_forever() {
    let layer = tar(&[
        Entry::Symlink("etc/os-release", "a"),
        Entry::Symlink("etc/a", "os-release"),
    ]);
    assert_eq!(inv(&[layer]).os, None);
}

#[test]
fn distroless_status_dir() {
    let layer = tar(&[
        Entry::File("etc/os-release", crate::fixtures::DEBIAN_OS_RELEASE),
        Entry::File(
            "var/lib/dpkg/status.d/base",
            b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
        ),
        Entry::File("var/lib/dpkg/status.d/base.md5sums", b"abc  etc/issue\n"),
        Entry::File(
            "var/lib/dpkg/status.d/libc6",
            b"Package: libc6\nVersion: 2.36-9+deb12u3\nSource: glibc\n",
        ),
        Entry::File(
            "var/lib/dpkg/status.d/nested/x",
            b"Package: no\nVersion: 1\n",
        ),
    ]);
    let inv = inv(&[layer]);
    assert_eq!(names(&inv), ["base-files", "libc6"]);
}

#[test]
fn hard_link_to_the_database() {
    let layer = tar(&[
        Entry::File("var/lib/dpkg/status-old", crate::fixtures::DEBIAN_STATUS),
        Entry::File("var/lib/dpkg/status", b""),
    ]);
    // `status-old` is not kept, so a link to it cannot be resolved; a
    // link whose target is kept can.
    let linked = tar(&[
        Entry::File("var/lib/dpkg/status.d/a", b"Package: a\nVersion: 1\n"),
        Entry::HardLink("var/lib/dpkg/status.d/b", "var/lib/dpkg/status.d/a"),
    ]);
    assert!(inv(&[layer]).packages.is_empty());
    assert_eq!(
        inv(&[linked]).packages.len(),
        1,
        "identical packages dedupe"
    );
}

#[test]
fn a_file_replacing_a_directory_hides_its_contents() {
    let upper = tar(&[Entry::File("var/lib/dpkg", b"not a directory")]);
    assert!(inv(&[debian_base(), upper]).packages.is_empty());
}

#[test]
fn empty_layer_and_no_database_are_fine() {
    let inv = inv(&[Vec::new(), tar(&[Entry::File("app", b"\x7fELF")])]);
    assert_eq!(inv, Inventory::default());
}

#[test]
fn corrupt_gzip_names_the_layer() {
    let mut bad = gzip(&debian_base());
    let mid = bad.len() / 2;
    bad.truncate(mid);
    let err =
        inventory([debian_base(), bad].map(std::io::Cursor::new)).expect_err("truncated gzip");
    assert!(matches!(err, ScanError::Layer { index: 1, .. }), "{err}");
    assert!(err.to_string().starts_with("layer 1: "), "{err}");
    assert_eq!(err.kind(), dockyard_types::ErrorKind::InvalidArgument);
}

#[test]
fn corrupt_tar_names_the_layer() {
    let garbage = vec![b'x'; 1024];
    let err = inventory([garbage].map(std::io::Cursor::new)).expect_err("not a tar");
    assert!(matches!(err, ScanError::Layer { index: 0, .. }), "{err}");
}

#[test]
fn oversized_database_is_refused() {
    let layer = tar(&[Entry::Claimed(
        "lib/apk/db/installed",
        MAX_DATABASE_BYTES + 1,
    )]);
    let err = inventory([layer].map(std::io::Cursor::new)).expect_err("too big");
    assert!(
        matches!(&err, ScanError::LayerEntry { index: 0, path, .. } if path == "lib/apk/db/installed"),
        "{err}"
    );
}
