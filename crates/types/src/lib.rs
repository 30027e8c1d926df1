//! dockyard-types
