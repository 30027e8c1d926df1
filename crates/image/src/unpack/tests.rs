//! Layer unpacking, including hostile layers built header by header.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;

/// Builds tars with raw headers, so names the `tar` crate would refuse
/// (`..`, absolute) can be written.
#[derive(Default)]
pub(crate) struct RawTar {
    b: Vec<u8>,
}

pub(crate) fn header(path: &str, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    let gnu = h.as_gnu_mut().expect("a gnu header");
    assert!(path.len() <= gnu.name.len(), "test paths fit the header");
    gnu.name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h
}

impl RawTar {
    pub(crate) fn add(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.b.extend_from_slice(h.as_bytes());
        self.b.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.b.extend(std::iter::repeat_n(0u8, pad));
        self
    }
    pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.add(header(path, EntryType::Regular, data.len() as u64), data)
    }
    pub(crate) fn dir(&mut self, path: &str) -> &mut Self {
        self.add(header(path, EntryType::Directory, 0), b"")
    }
    fn link(&mut self, path: &str, kind: EntryType, target: &str) -> &mut Self {
        let mut h = header(path, kind, 0);
        let gnu = h.as_gnu_mut().expect("a gnu header");
        gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.add(h, b"")
    }
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.link(path, EntryType::Symlink, target)
    }
    pub(crate) fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.link(path, EntryType::Link, target)
    }
    fn device(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = header(path, kind, 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        self.add(h, b"")
    }
    /// A PAX header applying `records` to the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = 1 + k.len() + 1 + v.len() + 1;
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.add(
            header("././@PaxHeader", EntryType::XHeader, data.len() as u64),
            &data,
        )
    }
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.b);
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

struct Case {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    fs: PathBuf,
}

impl Case {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let outer = tmp.path().join("snap");
        let fs = outer.join("fs");
        fs::create_dir_all(&fs).expect("mkdir");
        fs::write(outer.join("sentinel"), b"outside").expect("write");
        Self {
            _tmp: tmp,
            outer,
            fs,
        }
    }

    fn unpack(&self, tar: &[u8], lowers: &[PathBuf]) -> Result<Digest, UnpackError> {
        unpack_layer(
            &mut &tar[..],
            "application/vnd.oci.image.layer.v1.tar",
            None,
            &self.fs,
            lowers,
        )
    }

    /// Everything under the temp dir outside `fs` is as we left it.
    fn assert_outside_untouched(&self) {
        let tmp = self.outer.parent().expect("parent");
        let mut names: Vec<_> = fs::read_dir(tmp)
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("snap")]);
        let mut inner: Vec<_> = fs::read_dir(&self.outer)
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        inner.sort();
        assert_eq!(
            inner,
            vec![std::ffi::OsString::from("fs"), "sentinel".into()]
        );
        assert_eq!(
            fs::read(self.outer.join("sentinel")).expect("read"),
            b"outside"
        );
    }
}

fn expect_refused(r: Result<Digest, UnpackError>, entry: &str, words: &str) -> String {
    let e = r.expect_err("a hostile layer must be refused");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("{entry:?}")),
        "the error names the entry {entry:?}: {msg}"
    );
    assert!(msg.contains(words), "the error says {words:?}: {msg}");
    msg
}

fn unique(prefix: &str) -> String {
    dockyard_testkit::unique(prefix)
}

#[test]
fn refuses_dotdot() {
    for name in ["../x", "a/../../x", "./../x"] {
        let c = Case::new();
        let tar = RawTar::default().file(name, b"evil").finish();
        expect_refused(c.unpack(&tar, &[]), name, "'..'");
        c.assert_outside_untouched();
    }
}

#[test]
fn refuses_absolute_paths() {
    let name = format!("/etc/{}", unique("dockyard-escape-"));
    let c = Case::new();
    let tar = RawTar::default().file(&name, b"evil").finish();
    expect_refused(c.unpack(&tar, &[]), &name, "absolute");
    assert!(!Path::new(&name).exists());
    c.assert_outside_untouched();
}

#[test]
fn refuses_writing_through_absolute_symlink() {
    let passwd = fs::read("/etc/passwd").expect("read /etc/passwd");
    let c = Case::new();
    let tar = RawTar::default()
        .symlink("a", "/")
        .file("a/etc/passwd", b"root::0:0::/:/bin/sh\n")
        .finish();
    expect_refused(c.unpack(&tar, &[]), "a/etc/passwd", "symlink \"a\"");
    assert_eq!(fs::read("/etc/passwd").expect("read /etc/passwd"), passwd);
    c.assert_outside_untouched();
}

#[test]
fn refuses_writing_through_relative_symlink_upwards() {
    let c = Case::new();
    let x = unique("x-");
    let entry = format!("a/{x}");
    let tar = RawTar::default()
        .symlink("a", "../../..")
        .file(&entry, b"evil")
        .finish();
    expect_refused(c.unpack(&tar, &[]), &entry, "symlink \"a\"");
    let tmp = c.outer.parent().expect("parent");
    assert!(!tmp.parent().expect("grandparent").join(&x).exists());
    c.assert_outside_untouched();
    // The symlink itself is harmless content and stays as written.
    assert_eq!(
        fs::read_link(c.fs.join("a")).expect("readlink"),
        Path::new("../../..")
    );
}

#[test]
fn refuses_symlinked_directory_deeper_in_the_path() {
    let c = Case::new();
    let tar = RawTar::default()
        .dir("d")
        .symlink("d/up", "..")
        .file("d/up/up/sentinel", b"evil")
        .finish();
    expect_refused(c.unpack(&tar, &[]), "d/up/up/sentinel", "symlink \"d/up\"");
    c.assert_outside_untouched();
}

#[test]
fn refuses_hard_links_out_of_the_layer() {
    for target in ["/etc/shadow", "../../../etc/shadow", "a/../../etc/shadow"] {
        let c = Case::new();
        let tar = RawTar::default().hardlink("shadow", target).finish();
        expect_refused(c.unpack(&tar, &[]), "shadow", "outside the layer");
        assert!(!c.fs.join("shadow").exists());
        c.assert_outside_untouched();
    }
}

#[test]
fn refuses_hard_links_through_escaping_symlinks() {
    let c = Case::new();
    let tar = RawTar::default()
        .symlink("esc", "/etc")
        .hardlink("shadow", "esc/shadow")
        .finish();
    expect_refused(c.unpack(&tar, &[]), "shadow", "symlink \"esc\"");
    assert!(fs::symlink_metadata(c.fs.join("shadow")).is_err());
    c.assert_outside_untouched();
}

#[test]
fn hard_link_to_a_symlink_links_the_symlink_itself() {
    let c = Case::new();
    let tar = RawTar::default()
        .symlink("esc", "/etc/shadow")
        .hardlink("h", "esc")
        .finish();
    c.unpack(&tar, &[])
        .expect("a link to a symlink is contained");
    let m = fs::symlink_metadata(c.fs.join("h")).expect("lstat");
    assert!(m.file_type().is_symlink());
    assert_eq!(
        fs::read_link(c.fs.join("h")).expect("readlink"),
        Path::new("/etc/shadow")
    );
    c.assert_outside_untouched();
}

#[test]
fn refuses_device_nodes() {
    for (kind, major, minor) in [
        (EntryType::Char, 1, 3),
        (EntryType::Block, 8, 0),
        (EntryType::Char, 0, 1),
    ] {
        let c = Case::new();
        let tar = RawTar::default()
            .device("dev/null", kind, major, minor)
            .finish();
        expect_refused(
            c.unpack(&tar, &[]),
            "dev/null",
            "device nodes are not allowed",
        );
        assert!(fs::symlink_metadata(c.fs.join("dev/null")).is_err());
    }
}

#[test]
fn refuses_replacing_the_root() {
    let c = Case::new();
    let tar = RawTar::default().symlink("./", "/").finish();
    expect_refused(c.unpack(&tar, &[]), "./", "layer root");
    c.assert_outside_untouched();
}

#[test]
fn fifos_stay_inside() {
    dockyard_testkit::require_root!();
    let c = Case::new();
    let tar = RawTar::default()
        .add(header("run/fifo", EntryType::Fifo, 0), b"")
        .finish();
    c.unpack(&tar, &[]).expect("unpack");
    assert!(
        fs::symlink_metadata(c.fs.join("run/fifo"))
            .expect("lstat")
            .file_type()
            .is_fifo()
    );
}

#[test]
fn whiteouts_and_opaque_directories() {
    dockyard_testkit::require_root!();
    let c = Case::new();
    let tar = RawTar::default()
        .file(".wh.gone", b"")
        .dir("etc")
        .file("etc/.wh..wh..opq", b"")
        .file("etc/keep", b"kept")
        .file("etc/.wh..wh.plnk", b"")
        .file("deep/er/.wh.file", b"")
        .finish();
    c.unpack(&tar, &[]).expect("unpack");
    let gone = fs::symlink_metadata(c.fs.join("gone")).expect("whiteout exists");
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    assert!(
        fs::symlink_metadata(c.fs.join("deep/er/file"))
            .expect("nested whiteout")
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        xattr::get(c.fs.join("etc"), OPAQUE_XATTR).expect("getxattr"),
        Some(b"y".to_vec())
    );
    assert_eq!(fs::read(c.fs.join("etc/keep")).expect("read"), b"kept");
    let names: Vec<_> = fs::read_dir(c.fs.join("etc"))
        .expect("read")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("keep")],
        "no .wh. names are left"
    );
    assert!(fs::symlink_metadata(c.fs.join(".wh.gone")).is_err());
}

#[test]
fn modes_owners_times_and_xattrs() {
    dockyard_testkit::require_root!();
    let c = Case::new();
    let mut t = RawTar::default();
    let mut h = header("bin/su", EntryType::Regular, 4);
    h.set_mode(0o4755);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_234_567_890);
    t.pax(&[
        ("SCHILY.xattr.user.origin", b"layer"),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
    ]);
    t.add(h, b"exec");
    let mut d = header("secret", EntryType::Directory, 0);
    d.set_mode(0o700);
    d.set_uid(42);
    d.set_mtime(1_000_000_000);
    t.add(d, b"");
    t.file("secret/inner", b"x");
    let mut s = header("link", EntryType::Symlink, 0);
    s.as_gnu_mut().expect("gnu").linkname[..6].copy_from_slice(b"bin/su");
    s.set_uid(5);
    s.set_gid(6);
    t.add(s, b"");
    t.pax(&[("uid", b"3000000"), ("gid", b"3000001")]);
    t.file("bigid", b"");
    let tar = t.finish();
    c.unpack(&tar, &[]).expect("unpack");

    let su = fs::symlink_metadata(c.fs.join("bin/su")).expect("lstat");
    assert_eq!(
        su.permissions().mode() & 0o7777,
        0o4755,
        "setuid survives chown"
    );
    assert_eq!((su.uid(), su.gid()), (1000, 1001));
    assert_eq!(su.mtime(), 1_234_567_890);
    assert_eq!(
        xattr::get(c.fs.join("bin/su"), "user.origin").expect("getxattr"),
        Some(b"layer".to_vec())
    );
    assert_eq!(
        xattr::get(c.fs.join("bin/su"), "trusted.overlay.redirect").expect("getxattr"),
        None
    );
    let dir = fs::symlink_metadata(c.fs.join("secret")).expect("lstat");
    assert_eq!(dir.permissions().mode() & 0o7777, 0o700);
    assert_eq!(dir.uid(), 42);
    assert_eq!(
        dir.mtime(),
        1_000_000_000,
        "a directory's mtime is set after its contents"
    );
    let link = fs::symlink_metadata(c.fs.join("link")).expect("lstat");
    assert!(link.file_type().is_symlink());
    assert_eq!((link.uid(), link.gid()), (5, 6));
    let big = fs::symlink_metadata(c.fs.join("bigid")).expect("lstat");
    assert_eq!((big.uid(), big.gid()), (3_000_000, 3_000_001));
}

#[test]
fn hard_links_within_a_layer() {
    let c = Case::new();
    let tar = RawTar::default()
        .file("a", b"same")
        .hardlink("b", "a")
        .hardlink("dir/c", "./a")
        .finish();
    c.unpack(&tar, &[]).expect("unpack");
    let a = fs::metadata(c.fs.join("a")).expect("a");
    assert_eq!(fs::metadata(c.fs.join("b")).expect("b").ino(), a.ino());
    assert_eq!(fs::metadata(c.fs.join("dir/c")).expect("c").ino(), a.ino());
    assert_eq!(a.nlink(), 3);
}

#[test]
fn hard_link_to_a_lower_layer_copies_the_file() {
    dockyard_testkit::require_root!();
    let lower = Case::new();
    let mut h = header("bin/tool", EntryType::Regular, 5);
    h.set_mode(0o755);
    h.set_uid(7);
    let tar = RawTar::default()
        .add(h, b"tool!")
        .file("gone/x", b"hidden")
        .finish();
    lower.unpack(&tar, &[]).expect("lower");

    let mid = Case::new();
    let tar = RawTar::default().file(".wh.gone", b"").finish();
    mid.unpack(&tar, std::slice::from_ref(&lower.fs))
        .expect("middle");

    let upper = Case::new();
    let tar = RawTar::default()
        .hardlink("usr/bin/tool", "bin/tool")
        .finish();
    upper
        .unpack(&tar, &[mid.fs.clone(), lower.fs.clone()])
        .expect("upper");
    let copy = fs::symlink_metadata(upper.fs.join("usr/bin/tool")).expect("copied");
    let orig = fs::symlink_metadata(lower.fs.join("bin/tool")).expect("original");
    assert_ne!(copy.ino(), orig.ino());
    assert_eq!(
        fs::read(upper.fs.join("usr/bin/tool")).expect("read"),
        b"tool!"
    );
    assert_eq!(copy.permissions().mode() & 0o7777, 0o755);
    assert_eq!(copy.uid(), 7);

    let tar = RawTar::default().hardlink("x", "gone/x").finish();
    let again = Case::new();
    expect_refused(
        again.unpack(&tar, &[mid.fs.clone(), lower.fs.clone()]),
        "x",
        "not found",
    );
}

#[test]
fn later_entries_replace_earlier_ones() {
    let c = Case::new();
    let tar = RawTar::default()
        .file("d/f", b"one")
        .file("x", b"file")
        .dir("x")
        .symlink("d", "elsewhere")
        .file("x/inner", b"in")
        .finish();
    c.unpack(&tar, &[]).expect("unpack");
    assert!(
        fs::symlink_metadata(c.fs.join("d"))
            .expect("d")
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(c.fs.join("x/inner")).expect("read"), b"in");
}

#[test]
fn diff_id_and_compression() {
    let tar = RawTar::default().file("hello", b"world").finish();
    let diff_id = Digest::of(&tar);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).expect("gzip");
        e.finish().expect("gzip")
    };
    let zst = zstd::encode_all(&tar[..], 3).expect("zstd");
    for (blob, mt) in [
        (&tar, "application/vnd.oci.image.layer.v1.tar"),
        (&gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
        (&gz, "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        (&zst, "application/vnd.oci.image.layer.v1.tar+zstd"),
        (&gz, ""),
        (&zst, "application/octet-stream"),
        (&gz, "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let c = Case::new();
        let got = unpack_layer(&mut &blob[..], mt, Some(&diff_id), &c.fs, &[]).expect(mt);
        assert_eq!(got, diff_id);
        assert_eq!(fs::read(c.fs.join("hello")).expect("read"), b"world");
    }
    let c = Case::new();
    let e = unpack_layer(
        &mut &tar[..],
        "application/vnd.oci.image.layer.v1.tar+gzip",
        None,
        &c.fs,
        &[],
    )
    .expect_err("plain bytes labelled gzip");
    assert!(e.to_string().contains("Gzip"), "{e}");
    let wrong = Digest::of(b"other");
    let c = Case::new();
    let e = unpack_layer(&mut &gz[..], "", Some(&wrong), &c.fs, &[]).expect_err("wrong diff id");
    assert!(matches!(e, UnpackError::DiffIdMismatch { .. }), "{e}");
    assert!(e.to_string().contains(wrong.as_str()));
}

#[test]
fn blank_numeric_fields_read_as_zero() {
    let c = Case::new();
    let mut h = header("f", EntryType::Regular, 1);
    let old = h.as_old_mut();
    old.uid = [0; 8];
    old.gid = [b' '; 8];
    old.mtime = [0; 12];
    let tar = RawTar::default().add(h, b"x").finish();
    c.unpack(&tar, &[]).expect("unpack");
    assert_eq!(
        fs::symlink_metadata(c.fs.join("f")).expect("lstat").mtime(),
        0
    );
    let mut h = header("g", EntryType::Regular, 1);
    h.as_old_mut().uid = *b"zzzzzzz\0";
    let tar = RawTar::default().add(h, b"x").finish();
    expect_refused(Case::new().unpack(&tar, &[]), "g", "bad uid");
}
