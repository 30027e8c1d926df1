//! File system operations relative to directory descriptors, none of which
//! follows a symbolic link: the only way layer content can steer where we
//! write is through links it created, and we never traverse one.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};

/// An open directory; every operation names an entry directly inside it.
#[derive(Debug)]
pub(crate) struct Dir(File);

fn own(fd: RawFd) -> File {
    // SAFETY: `fd` was just returned by a successful open call and is
    // owned by nothing else; the File takes sole ownership and closes it.
    File::from(unsafe { OwnedFd::from_raw_fd(fd) })
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// The kind of file an entry is, from `lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink,
    Whiteout,
    Other,
}

pub(crate) fn kind_of(st: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFLNK => Kind::Symlink,
        SFlag::S_IFCHR if st.st_rdev == 0 => Kind::Whiteout,
        _ => Kind::Other,
    }
}

impl Dir {
    /// Opens a directory we trust (the snapshot being written, a lower
    /// snapshot), refusing a symlink in its last component.
    pub(crate) fn open(path: &Path) -> nix::Result<Self> {
        nix::fcntl::open(path, DIR_FLAGS, Mode::empty()).map(|fd| Self(own(fd)))
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub(crate) fn file(&self) -> &File {
        &self.0
    }

    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        self.0.try_clone().map(Self)
    }

    /// Opens the subdirectory `name`; `ELOOP`/`ENOTDIR` when it is a
    /// symlink or not a directory.
    pub(crate) fn open_dir(&self, name: &OsStr) -> nix::Result<Self> {
        nix::fcntl::openat(Some(self.fd()), name, DIR_FLAGS, Mode::empty()).map(|fd| Self(own(fd)))
    }

    /// `lstat` of an entry, `None` when absent.
    pub(crate) fn stat(&self, name: &OsStr) -> nix::Result<Option<FileStat>> {
        match nix::sys::stat::fstatat(Some(self.fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn mkdir(&self, name: &OsStr, mode: u32) -> nix::Result<()> {
        nix::sys::stat::mkdirat(Some(self.fd()), name, Mode::from_bits_truncate(mode))
    }

    /// Creates a new regular file; fails if anything exists at `name`.
    pub(crate) fn create_file(&self, name: &OsStr) -> nix::Result<File> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        nix::fcntl::openat(
            Some(self.fd()),
            name,
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map(own)
    }

    /// Opens an existing regular file for reading, never through a symlink.
    pub(crate) fn open_file(&self, name: &OsStr) -> nix::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        nix::fcntl::openat(Some(self.fd()), name, flags, Mode::empty()).map(own)
    }

    pub(crate) fn symlink(&self, target: &OsStr, name: &OsStr) -> nix::Result<()> {
        nix::unistd::symlinkat(target, Some(self.fd()), name)
    }

    /// Hard-links `from/from_name` as `name` here, linking a symlink itself
    /// rather than what it points to.
    pub(crate) fn hardlink(&self, from: &Dir, from_name: &OsStr, name: &OsStr) -> nix::Result<()> {
        nix::unistd::linkat(
            Some(from.fd()),
            from_name,
            Some(self.fd()),
            name,
            AtFlags::empty(),
        )
    }

    /// An overlayfs whiteout: a character device 0:0.
    pub(crate) fn whiteout(&self, name: &OsStr) -> nix::Result<()> {
        nix::sys::stat::mknodat(Some(self.fd()), name, SFlag::S_IFCHR, Mode::empty(), 0)
    }

    pub(crate) fn mkfifo(&self, name: &OsStr) -> nix::Result<()> {
        nix::sys::stat::mknodat(
            Some(self.fd()),
            name,
            SFlag::S_IFIFO,
            Mode::from_bits_truncate(0o600),
            0,
        )
    }

    pub(crate) fn lchown(&self, name: &OsStr, uid: u32, gid: u32) -> nix::Result<()> {
        nix::unistd::fchownat(
            Some(self.fd()),
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }

    /// Sets the mode of an entry that we created in this unpack and know
    /// is not a symlink (Linux cannot chmod a symlink without following).
    pub(crate) fn chmod_not_symlink(&self, name: &OsStr, mode: u32) -> nix::Result<()> {
        nix::sys::stat::fchmodat(
            Some(self.fd()),
            name,
            Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    pub(crate) fn set_mtime(&self, name: &OsStr, mtime: TimeSpec) -> nix::Result<()> {
        nix::sys::stat::utimensat(
            Some(self.fd()),
            name,
            &mtime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )
    }

    pub(crate) fn readlink(&self, name: &OsStr) -> nix::Result<std::ffi::OsString> {
        nix::fcntl::readlinkat(Some(self.fd()), name)
    }

    /// Removes `name` and, for a directory, everything below it.
    pub(crate) fn remove_all(&self, name: &OsStr) -> nix::Result<()> {
        let Some(st) = self.stat(name)? else {
            return Ok(());
        };
        if kind_of(&st) != Kind::Dir {
            return nix::unistd::unlinkat(Some(self.fd()), name, UnlinkatFlags::NoRemoveDir);
        }
        let sub = self.open_dir(name)?;
        for child in sub.names()? {
            sub.remove_all(OsStr::from_bytes(child.as_bytes()))?;
        }
        nix::unistd::unlinkat(Some(self.fd()), name, UnlinkatFlags::RemoveDir)
    }

    /// The names in this directory, without `.` and `..`.
    pub(crate) fn names(&self) -> nix::Result<Vec<CString>> {
        let mut d = nix::dir::Dir::openat(Some(self.fd()), ".", DIR_FLAGS, Mode::empty())?;
        let mut out = Vec::new();
        for e in d.iter() {
            let e = e?;
            let n = e.file_name();
            if n.to_bytes() != b"." && n.to_bytes() != b".." {
                out.push(n.to_owned());
            }
        }
        Ok(out)
    }
}

pub(crate) fn timespec(secs: i64, nanos: i64) -> TimeSpec {
    TimeSpec::new(secs, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_all_does_not_follow_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        std::fs::write(outside.join("keep"), b"x").expect("write");
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("d/e")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("d/link")).expect("symlink");
        std::os::unix::fs::symlink(&outside, root.join("d/e/link")).expect("symlink");
        let dir = Dir::open(&root).expect("open");
        dir.remove_all(OsStr::new("d")).expect("remove_all");
        assert!(!root.join("d").exists());
        assert!(outside.join("keep").exists());
    }

    #[test]
    fn open_dir_refuses_symlinks() {
        let t = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("/", t.path().join("l")).expect("symlink");
        let dir = Dir::open(t.path()).expect("open");
        assert!(matches!(
            dir.open_dir(OsStr::new("l")),
            Err(Errno::ELOOP | Errno::ENOTDIR)
        ));
        assert!(Dir::open(&t.path().join("l")).is_err());
    }
}
