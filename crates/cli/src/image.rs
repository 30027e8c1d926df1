//! Image commands: images, load, save, pull, rmi.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use dockyard_engine::Engine;
use dockyard_image::{PullEvent, RegistryAuth};

use crate::format;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls,
    /// Load images from an OCI layout (directory or tar) or a `docker save` archive.
    Load(LoadArgs),
    /// Save images to an OCI layout tar.
    Save(SaveArgs),
    /// Pull an image from a registry.
    Pull(PullArgs),
    /// Remove images.
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Give an image another name.
    Tag { source: String, target: String },
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Archive or directory to read.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// The same, given as an argument.
    pub path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    pub image: String,
    /// Registry user name (with --password or DOCKYARD_REGISTRY_PASSWORD).
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long, env = "DOCKYARD_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print nothing but the image id.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Remove even when containers use the image.
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn dispatch(engine: &Engine, cmd: &ImageCommand) -> anyhow::Result<i32> {
    match cmd {
        ImageCommand::Ls => list(engine),
        ImageCommand::Load(a) => load(engine, a),
        ImageCommand::Save(a) => save(engine, a),
        ImageCommand::Pull(a) => pull(engine, a),
        ImageCommand::Rm(a) => rmi(engine, a),
        ImageCommand::Tag { source, target } => {
            engine.images().tag(source, target)?;
            Ok(0)
        }
    }
}

pub fn list(engine: &Engine) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    for img in engine.images().list()? {
        let created = img
            .created
            .as_deref()
            .map(|c| format!("{} ago", format::human_duration(format::age(c))))
            .unwrap_or_default();
        let names = img.familiar_references();
        let short = img.short_id().to_string();
        if names.is_empty() {
            rows.push(vec![
                "<none>".into(),
                "<none>".into(),
                short.clone(),
                created.clone(),
                format::human_size(img.size),
            ]);
        }
        for n in names {
            let (repo, tag) = match n.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                Some((r, t)) => (r.to_string(), t.to_string()),
                None => (n.clone(), "<none>".into()),
            };
            rows.push(vec![
                repo,
                tag,
                short.clone(),
                created.clone(),
                format::human_size(img.size),
            ]);
        }
    }
    format::table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &rows);
    Ok(0)
}

pub fn load(engine: &Engine, a: &LoadArgs) -> anyhow::Result<i32> {
    let path = a
        .input
        .clone()
        .or(a.path.clone())
        .ok_or_else(|| anyhow::anyhow!("give the archive to load: dockyard load -i FILE"))?;
    let loaded = engine.images().load(&path)?;
    for img in loaded {
        let names = img.familiar_references();
        if names.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for n in names {
            println!("Loaded image: {n}");
        }
    }
    Ok(0)
}

pub fn save(engine: &Engine, a: &SaveArgs) -> anyhow::Result<i32> {
    match &a.output {
        Some(p) => {
            let tmp = p.with_extension("partial");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            engine.images().save(&a.images, &mut f)?;
            f.flush()?;
            drop(f);
            std::fs::rename(&tmp, p)?;
        }
        None => {
            let stdout = std::io::stdout();
            if std::io::IsTerminal::is_terminal(&stdout) {
                anyhow::bail!(
                    "refusing to write an image archive to a terminal; use -o FILE or redirect"
                );
            }
            let mut out = std::io::BufWriter::new(stdout.lock());
            engine.images().save(&a.images, &mut out)?;
            out.flush()?;
        }
    }
    Ok(0)
}

pub fn pull(engine: &Engine, a: &PullArgs) -> anyhow::Result<i32> {
    let auth = match (&a.username, &a.password) {
        (Some(u), Some(p)) => RegistryAuth::Basic(u.clone(), p.clone()),
        (Some(_), None) => {
            anyhow::bail!("--username needs --password or DOCKYARD_REGISTRY_PASSWORD")
        }
        _ => RegistryAuth::Anonymous,
    };
    let quiet = a.quiet;
    let progress = |ev: PullEvent| {
        if quiet {
            return;
        }
        match ev {
            PullEvent::Resolved {
                reference,
                manifest_digest,
            } => println!("{reference}: resolved to {manifest_digest}"),
            PullEvent::LayerExists { digest, .. } => println!("{}: Already exists", digest.short()),
            PullEvent::LayerStarted { digest, size } => println!(
                "{}: Downloading {}",
                digest.short(),
                format::human_size(size)
            ),
            PullEvent::LayerDone { digest } => println!("{}: Pull complete", digest.short()),
            PullEvent::Unpacking => println!("Unpacking layers"),
            PullEvent::LayerProgress { .. } => {}
        }
    };
    let img = engine.images().pull(&a.image, auth, &progress)?;
    if quiet {
        println!("{}", img.id);
    } else {
        println!("Digest: {}", img.manifest_digest);
        println!(
            "Status: Downloaded newer image for {}",
            img.familiar_references()
                .first()
                .cloned()
                .unwrap_or_else(|| a.image.clone())
        );
    }
    Ok(0)
}

pub fn rmi(engine: &Engine, a: &RmiArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in &a.images {
        match engine
            .images()
            .remove(name, a.force, &|d| engine.image_in_use(d))
        {
            Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
            Err(e) => {
                eprintln!("Error response: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
