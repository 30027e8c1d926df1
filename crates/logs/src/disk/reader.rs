//! Reading one run file: records by offset in either direction through a
//! small window, resynchronising on the file's nonce, and a binary search
//! for the first record at or after a key (runs are sorted by key).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::record::{
    Event, FILE_HEADER_LEN, Key, RECORD_HEADER_LEN, RECORD_OVERHEAD, decode_record,
    header_message_len, u32_at,
};

/// How much a reader fetches at once.
const WINDOW: usize = 64 * 1024;
/// Below this span the binary search gives way to a linear scan.
const LINEAR_SPAN: u64 = 64 * 1024;

/// A read-only view of a run file up to `end` (its length when the view
/// was taken: later appends are not seen).
pub(crate) struct RunReader {
    file: File,
    nonce: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl RunReader {
    pub fn new(file: File, nonce: u64, end: u64) -> Self {
        Self {
            file,
            nonce,
            end,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// `len` bytes at `off`, or `None` past the end. `backward` says
    /// which way the caller is walking, so the window covers what it will
    /// ask for next.
    fn bytes(&mut self, off: u64, len: usize, backward: bool) -> io::Result<Option<&[u8]>> {
        let Some(stop) = off.checked_add(len as u64).filter(|s| *s <= self.end) else {
            return Ok(None);
        };
        let buf_end = self.buf_start + self.buf.len() as u64;
        if off < self.buf_start || stop > buf_end {
            let want = len.max(WINDOW) as u64;
            let (start, fill_end) = if backward {
                (
                    stop.saturating_sub(want).max(FILE_HEADER_LEN.min(off)),
                    stop,
                )
            } else {
                (off, (off + want).min(self.end))
            };
            self.buf.resize((fill_end - start) as usize, 0);
            self.buf_start = start;
            if let Err(e) = self.file.read_exact_at(&mut self.buf, start) {
                self.buf.clear();
                return Err(e);
            }
        }
        let at = (off - self.buf_start) as usize;
        Ok(Some(&self.buf[at..at + len]))
    }

    /// The valid record starting at `off`, with its total length.
    pub fn record_at(&mut self, off: u64, backward: bool) -> io::Result<Option<(Event, u64)>> {
        let nonce = self.nonce;
        let Some(head) = self.bytes(off, RECORD_HEADER_LEN, backward)? else {
            return Ok(None);
        };
        let Some(len) = header_message_len(nonce, head) else {
            return Ok(None);
        };
        let total = RECORD_OVERHEAD + len;
        let Some(rec) = self.bytes(off, total, backward)? else {
            return Ok(None);
        };
        Ok(decode_record(nonce, rec).map(|e| (e, total as u64)))
    }

    /// The valid record ending at `end_off`, with its start.
    pub fn record_before(&mut self, end_off: u64) -> io::Result<Option<(Event, u64)>> {
        if end_off < FILE_HEADER_LEN + RECORD_OVERHEAD as u64 {
            return Ok(None);
        }
        let Some(trailer) = self.bytes(end_off - 4, 4, true)? else {
            return Ok(None);
        };
        let total = u64::from(u32_at(trailer, 0));
        if total < RECORD_OVERHEAD as u64 || end_off - FILE_HEADER_LEN < total {
            return Ok(None);
        }
        let start = end_off - total;
        Ok(self
            .record_at(start, true)?
            .filter(|(_, t)| *t == total)
            .map(|(e, _)| (e, start)))
    }

    /// The first valid record starting in `[from, limit)`, with its
    /// offset and length.
    pub fn resync(&mut self, from: u64, limit: u64) -> io::Result<Option<(u64, Event, u64)>> {
        let needle = self.nonce.to_le_bytes();
        let mut pos = from.max(FILE_HEADER_LEN);
        while pos < limit.min(self.end) {
            let avail = (self.end - pos).min(WINDOW as u64) as usize;
            if avail < needle.len() {
                return Ok(None);
            }
            let Some(chunk) = self.bytes(pos, avail, false)? else {
                return Ok(None);
            };
            let found = chunk.windows(needle.len()).position(|w| w == needle);
            match found {
                Some(i) => {
                    let at = pos + i as u64;
                    if at >= limit {
                        return Ok(None);
                    }
                    if let Some((e, total)) = self.record_at(at, false)? {
                        return Ok(Some((at, e, total)));
                    }
                    pos = at + 1;
                }
                // The needle may straddle the window's end.
                None => pos += (avail - (needle.len() - 1)) as u64,
            }
        }
        Ok(None)
    }

    /// The offset of the first record whose key is at least `key` (the
    /// end of the run when there is none).
    pub fn lower_bound(&mut self, key: Key) -> io::Result<u64> {
        let mut lo = FILE_HEADER_LEN;
        let mut hi = self.end;
        while hi.saturating_sub(lo) > LINEAR_SPAN {
            let mid = lo + (hi - lo) / 2;
            match self.resync(mid, hi)? {
                None => hi = mid,
                Some((off, e, total)) if e.key < key => lo = off + total,
                Some((off, _, _)) => hi = off,
            }
        }
        let mut off = lo;
        while off < self.end {
            match self.record_at(off, false)? {
                Some((e, _)) if e.key >= key => return Ok(off),
                Some((_, total)) => off += total,
                None => match self.resync(off + 1, self.end)? {
                    Some((at, _, _)) => off = at,
                    None => return Ok(self.end),
                },
            }
        }
        Ok(self.end)
    }
}

/// Walks a run forward from an offset, skipping damaged bytes.
pub(crate) struct Forward {
    reader: RunReader,
    pos: u64,
    head: Option<Event>,
}

impl Forward {
    /// Positioned at the first record with a key at least `from`.
    pub fn new(mut reader: RunReader, from: Key) -> io::Result<Self> {
        let pos = reader.lower_bound(from)?;
        let mut f = Self {
            reader,
            pos,
            head: None,
        };
        f.advance()?;
        Ok(f)
    }

    pub fn head(&self) -> Option<&Event> {
        self.head.as_ref()
    }

    /// Takes the head and reads the next one.
    pub fn take(&mut self) -> io::Result<Option<Event>> {
        let e = self.head.take();
        if e.is_some() {
            self.advance()?;
        }
        Ok(e)
    }

    fn advance(&mut self) -> io::Result<()> {
        while self.pos < self.reader.end() {
            if let Some((e, total)) = self.reader.record_at(self.pos, false)? {
                self.pos += total;
                self.head = Some(e);
                return Ok(());
            }
            tracing::warn!(
                offset = self.pos,
                "damaged log record; skipping to the next"
            );
            match self.reader.resync(self.pos + 1, self.reader.end())? {
                Some((at, _, _)) => self.pos = at,
                None => self.pos = self.reader.end(),
            }
        }
        self.head = None;
        Ok(())
    }
}

/// Walks a run backward from the records before a key.
pub(crate) struct Backward {
    reader: RunReader,
    pos: u64,
    head: Option<Event>,
}

impl Backward {
    /// Positioned at the last record with a key below `before`.
    pub fn new(mut reader: RunReader, before: Key) -> io::Result<Self> {
        let pos = reader.lower_bound(before)?;
        let mut b = Self {
            reader,
            pos,
            head: None,
        };
        b.advance()?;
        Ok(b)
    }

    pub fn head(&self) -> Option<&Event> {
        self.head.as_ref()
    }

    pub fn take(&mut self) -> io::Result<Option<Event>> {
        let e = self.head.take();
        if e.is_some() {
            self.advance()?;
        }
        Ok(e)
    }

    fn advance(&mut self) -> io::Result<()> {
        self.head = match self.reader.record_before(self.pos)? {
            Some((e, start)) => {
                self.pos = start;
                Some(e)
            }
            None => {
                if self.pos > FILE_HEADER_LEN {
                    tracing::warn!(offset = self.pos, "damaged log record; stopping here");
                }
                None
            }
        };
        Ok(())
    }
}
