//! The `dockyard` binary: parses flags and wires the crates; nothing else.

fn main() {
    std::process::exit(dockyard_cli::main());
}
