//! One long TCP stream, for the NLB throughput figure of bench/lb.sh.
//!
//! `sink --listen ADDR` reads and discards each connection, closing it at
//! EOF. `send --to ADDR --gib N` writes N GiB, half-closes, waits for the
//! sink to close, and prints MiB/s over the whole transfer.

use std::net::SocketAddr;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Sink {
        #[arg(long)]
        listen: SocketAddr,
    },
    Send {
        #[arg(long)]
        to: SocketAddr,
        #[arg(long, default_value_t = 4)]
        gib: u64,
    },
}

const CHUNK: usize = 1 << 20;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match args.cmd {
            Cmd::Sink { listen } => sink(listen).await,
            Cmd::Send { to, gib } => send(to, gib).await,
        }
    })
}

async fn sink(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("ready");
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
    }
}

async fn send(to: SocketAddr, gib: u64) -> anyhow::Result<()> {
    let buf = vec![0x5au8; CHUNK];
    let total = gib << 30;
    let mut stream = TcpStream::connect(to).await?;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        stream.write_all(&buf).await?;
        sent += CHUNK as u64;
    }
    stream.shutdown().await?;
    // The sink closes after reading everything, so EOF here means all
    // bytes arrived.
    let mut rest = [0u8; 16];
    while stream.read(&mut rest).await? > 0 {}
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} MiB/s ({} GiB in {secs:.2} s)",
        (total >> 20) as f64 / secs,
        gib
    );
    Ok(())
}
