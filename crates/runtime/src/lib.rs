//! dockyard-runtime
