//! Version ordering of the package ecosystems we scan.

pub mod apk;
pub mod dpkg;

use std::cmp::Ordering;

/// Which ordering a package's versions follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    Dpkg,
    Apk,
}

impl Scheme {
    pub(crate) fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
        }
    }
}
