//! Idle timeouts without a timer reset per read or write: the stream bumps
//! a counter, and a watchdog ticking at a quarter of the timeout closes
//! the connection once the counter has stood still for the whole timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
pub(crate) struct Activity(AtomicU64);

impl Activity {
    /// Not an atomic increment: a lost update between two threads only
    /// means the counter moved by one instead of two, which still reads
    /// as activity, and a plain store avoids a locked instruction per I/O.
    pub(crate) fn bump(&self) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Resolves once no byte has moved for `timeout()` (re-read every tick,
/// so a changed listener setting applies to open connections).
pub(crate) async fn idle(activity: &Activity, timeout: impl Fn() -> Duration) {
    let mut last = activity.get();
    let mut quiet = Duration::ZERO;
    loop {
        let limit = timeout();
        let tick = (limit / 4).max(Duration::from_millis(5));
        tokio::time::sleep(tick).await;
        let now = activity.get();
        if now == last {
            quiet += tick;
            if quiet >= timeout() {
                return;
            }
        } else {
            last = now;
            quiet = Duration::ZERO;
        }
    }
}

/// A stream that reports every transfer to an [`Activity`].
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bump();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.bump();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.bump();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn transfers_count_as_activity() -> io::Result<()> {
        let activity = Arc::new(Activity::default());
        let (a, mut b) = tokio::io::duplex(64);
        let mut tracked = Tracked::new(a, activity.clone());
        tracked.write_all(b"hello").await?;
        let mut buf = [0u8; 5];
        b.read_exact(&mut buf).await?;
        b.write_all(b"x").await?;
        let mut one = [0u8; 1];
        tracked.read_exact(&mut one).await?;
        assert!(activity.get() >= 2);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn idle_fires_only_after_quiet_for_the_timeout() {
        let activity = Arc::new(Activity::default());
        let busy = activity.clone();
        let start = tokio::time::Instant::now();
        // Activity for the first 10 s keeps the 4 s timeout from firing.
        let chatter = tokio::spawn(async move {
            for _ in 0..10 {
                busy.bump();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        idle(&activity, || Duration::from_secs(4)).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(13), "fired after {waited:?}");
        let _ = chatter.await;
    }
}
