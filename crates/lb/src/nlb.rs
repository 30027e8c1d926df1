//! Network Load Balancer listeners: each TCP connection goes whole to a
//! target chosen by a hash of its 5-tuple, and bytes move with splice(2)
//! through a pipe, never through user space.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::sys::socket::{Shutdown, shutdown};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::io::{Activity, idle};
use crate::listener::{Accepted, Phase, reached};
use crate::target::{InflightGuard, TgRuntime};

pub(crate) fn serve(accepted: Accepted, connect_timeout: Duration) {
    tokio::spawn(async move {
        let Accepted {
            stream,
            peer,
            local,
            slot,
            mut phase,
            guard: _guard,
            ..
        } = accepted;
        let hash = flow_hash(peer, local);
        let (target, idle_timeout) = {
            let listener = slot.load();
            let Some(forward) = listener.forward() else {
                return;
            };
            let Some(group) = forward.choose(hash, None) else {
                return;
            };
            let state = group.state.load();
            let Some(target) = TgRuntime::pick_by_hash(&state, hash.rotate_left(17)) else {
                return;
            };
            (InflightGuard::new(target), listener.idle_timeout)
        };
        let upstream = match tokio::time::timeout(
            connect_timeout,
            TcpStream::connect(target.target().addr),
        )
        .await
        {
            Ok(Ok(upstream)) => upstream,
            Ok(Err(e)) => {
                tracing::debug!(target = %target.target().addr, error = %e, "target refused connection");
                return;
            }
            Err(_) => return,
        };
        let _ = upstream.set_nodelay(true);
        let activity = Activity::default();
        tokio::select! {
            result = relay(&stream, &upstream, &activity) => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, %peer, "tcp flow ended");
                }
            }
            () = idle(&activity, || idle_timeout) => {}
            () = reached(&mut phase, Phase::Closed) => {}
        }
        drop(target);
    });
}

/// The 5-tuple hash (protocol, source, destination) AWS NLBs route by.
fn flow_hash(peer: SocketAddr, local: SocketAddr) -> u64 {
    let mut h = DefaultHasher::new();
    6u8.hash(&mut h); // IPPROTO_TCP
    peer.hash(&mut h);
    local.hash(&mut h);
    h.finish()
}

/// Both directions at once; a half-close is passed on, an error ends both.
pub(crate) async fn relay(a: &TcpStream, b: &TcpStream, activity: &Activity) -> io::Result<()> {
    tokio::try_join!(pump(a, b, activity), pump(b, a, activity))?;
    Ok(())
}

async fn pump(from: &TcpStream, to: &TcpStream, activity: &Activity) -> io::Result<()> {
    match Pipe::new() {
        Ok(pipe) => splice_loop(from, to, &pipe, activity).await,
        Err(e) => {
            tracing::debug!(error = %e, "no pipe for splice; copying in user space");
            copy_loop(from, to, activity).await
        }
    }
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    fn new() -> io::Result<Self> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        // Bigger pipes mean fewer splice calls per megabyte; the default
        // maximum for unprivileged pipes is 1 MiB, and failing is fine.
        let capacity = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(1 << 20))
            .ok()
            .and_then(|c| usize::try_from(c).ok())
            .unwrap_or(1 << 16);
        Ok(Self {
            read,
            write,
            capacity,
        })
    }
}

/// Returned inside `try_io` when splice(2) into a non-empty pipe says
/// EAGAIN: that may be the pipe being full rather than the socket being
/// drained, so the socket's readiness must not be cleared.
const STALLED: usize = usize::MAX;

/// Moves bytes socket -> pipe -> socket, reading and writing whenever
/// either side can make progress, so both TCP connections stay busy.
async fn splice_loop(
    from: &TcpStream,
    to: &TcpStream,
    pipe: &Pipe,
    activity: &Activity,
) -> io::Result<()> {
    let flags = SpliceFFlags::SPLICE_F_NONBLOCK | SpliceFFlags::SPLICE_F_MOVE;
    let mut pending = 0usize;
    let mut eof = false;
    let mut stalled = false;
    loop {
        let mut progressed = false;
        if !eof && !stalled && pending < pipe.capacity {
            let room = pipe.capacity - pending;
            let filled = from.try_io(Interest::READABLE, || {
                match splice(from, None, &pipe.write, None, room, flags) {
                    Err(nix::errno::Errno::EAGAIN) if pending > 0 => Ok(STALLED),
                    other => other.map_err(io::Error::from),
                }
            });
            match filled {
                Ok(STALLED) => stalled = true,
                Ok(0) => {
                    eof = true;
                    progressed = true;
                }
                Ok(n) => {
                    pending += n;
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if pending > 0 {
            // The pipe holds data, so EAGAIN here is the socket's.
            match to.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, to, None, pending, flags).map_err(io::Error::from)
            }) {
                Ok(n) => {
                    pending -= n;
                    stalled = false;
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if eof && pending == 0 {
            let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
            return Ok(());
        }
        if progressed {
            activity.bump();
            // try_io does not count against Tokio's cooperative budget;
            // without this a fast stream would starve the other tasks.
            tokio::task::consume_budget().await;
            continue;
        }
        let want_read = !eof && !stalled && pending < pipe.capacity;
        match (want_read, pending > 0) {
            (true, true) => {
                tokio::select! {
                    r = from.readable() => r?,
                    w = to.writable() => w?,
                }
            }
            (true, false) => from.readable().await?,
            (false, true) => to.writable().await?,
            (false, false) => return Ok(()),
        }
    }
}

async fn copy_loop(from: &TcpStream, to: &TcpStream, activity: &Activity) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        from.readable().await?;
        let n = match from.try_read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
            return Ok(());
        }
        activity.bump();
        let mut sent = 0;
        while sent < n {
            to.writable().await?;
            match to.try_write(&buf[sent..n]) {
                Ok(w) => sent += w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> io::Result<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        Ok((client, server))
    }

    /// client <-> [a | relay | b] <-> server, with a half-close passed on.
    #[tokio::test]
    async fn relay_moves_bytes_both_ways_and_passes_eof() -> io::Result<()> {
        let (mut client, a) = pair().await?;
        let (b, mut server) = pair().await?;
        let activity = Activity::default();
        let relayed = tokio::spawn(async move { relay(&a, &b, &activity).await });
        let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&payload).await?;
            client.shutdown().await?;
            let mut back = Vec::new();
            client.read_to_end(&mut back).await?;
            Ok::<_, io::Error>(back)
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?;
        assert!(got == expected, "relayed bytes differ");
        server.write_all(b"done").await?;
        server.shutdown().await?;
        let back = writer.await.map_err(io::Error::other)??;
        assert_eq!(back, b"done");
        relayed.await.map_err(io::Error::other)??;
        Ok(())
    }

    #[test]
    fn flow_hash_depends_on_the_tuple() {
        let a: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
        let b: SocketAddr = "10.0.0.1:40001".parse().expect("addr");
        let l: SocketAddr = "10.0.0.2:80".parse().expect("addr");
        assert_eq!(flow_hash(a, l), flow_hash(a, l));
        assert_ne!(flow_hash(a, l), flow_hash(b, l));
    }
}
