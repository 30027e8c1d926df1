//! dockyard-net
