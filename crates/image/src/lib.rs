//! dockyard-image
