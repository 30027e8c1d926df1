//! dockyard-engine
