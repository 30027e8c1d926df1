//! A standalone shim binary, used by the runtime's own integration tests
//! (the `dockyard` binary re-executes itself as `dockyard shim` instead).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(dockyard_runtime::shim::main(&args));
}
