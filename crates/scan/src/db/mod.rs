//! Parsers for the files that describe an image's OS and packages.

pub mod apk;
pub mod dpkg;
pub mod os_release;
