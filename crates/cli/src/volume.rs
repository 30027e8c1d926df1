//! Volume commands: ls, rm.

use clap::Subcommand;

use dockyard_engine::Engine;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// List named volumes.
    #[command(alias = "list")]
    Ls {
        /// Only names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove named volumes (refused while a container uses one).
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        volumes: Vec<String>,
    },
}

pub fn dispatch(engine: &Engine, cmd: &VolumeCommand) -> anyhow::Result<i32> {
    match cmd {
        VolumeCommand::Ls { quiet } => {
            if !quiet {
                println!("DRIVER    VOLUME NAME");
            }
            for name in engine.volumes().list()? {
                if *quiet {
                    println!("{name}");
                } else {
                    println!("local     {name}");
                }
            }
            Ok(0)
        }
        VolumeCommand::Rm { volumes } => {
            let mut code = 0;
            for v in volumes {
                match engine.remove_volume(v) {
                    Ok(()) => println!("{v}"),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
    }
}
