//! Task metadata and credentials endpoint served to containers.
