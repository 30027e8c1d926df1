//! Container logs: one JSON object a line, Docker's `json-file` shape
//! (`{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`), appended by
//! the shim as output arrives, so they can be read while the container runs
//! and after it exits.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its trailing newline when the line had one.
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// Longest line kept whole; longer output is split into several records,
/// as Docker does at 16 KiB.
pub const MAX_LINE: usize = 16 * 1024;

/// Splits a stream's bytes into lines and appends records to a log file.
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn new(stream: Stream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Feeds bytes; writes every complete line (or full chunk) as a record.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl Write, now: &str) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            write_entry(out, self.stream, &self.pending[start..end], now)?;
            start = end;
        }
        while self.pending.len() - start >= MAX_LINE {
            write_entry(
                out,
                self.stream,
                &self.pending[start..start + MAX_LINE],
                now,
            )?;
            start += MAX_LINE;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Writes what is left when the stream closes.
    pub fn finish(&mut self, out: &mut impl Write, now: &str) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            write_entry(out, self.stream, &self.pending, now)?;
            self.pending.clear();
        }
        Ok(())
    }
}

fn write_entry(
    out: &mut impl Write,
    stream: Stream,
    text: &[u8],
    now: &str,
) -> std::io::Result<()> {
    let e = Entry {
        log: String::from_utf8_lossy(text).into_owned(),
        stream,
        time: now.to_string(),
    };
    let mut line = serde_json::to_vec(&e).map_err(std::io::Error::other)?;
    line.push(b'\n');
    // One write per record: a reader never sees half of one in the middle.
    out.write_all(&line)
}

/// Reads records from `path` starting at byte `offset`; returns them and
/// the offset after the last complete record.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<(Vec<Entry>, u64)> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), offset)),
        Err(e) => return Err(e),
    };
    f.seek(SeekFrom::Start(offset))?;
    let mut r = BufReader::new(f);
    let mut out = Vec::new();
    let mut pos = offset;
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        pos += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
    Ok((out, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_long_chunks() {
        let mut out = Vec::new();
        let mut s = LineSplitter::new(Stream::Stdout);
        s.feed(b"hello\nwor", &mut out, "t1").expect("feed");
        s.feed(b"ld\n", &mut out, "t2").expect("feed");
        s.feed(&vec![b'x'; MAX_LINE + 5], &mut out, "t3")
            .expect("feed");
        s.finish(&mut out, "t4").expect("finish");
        let text = String::from_utf8(out).expect("utf8");
        let entries: Vec<Entry> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0].log, "hello\n");
        assert_eq!(entries[1].log, "world\n");
        assert_eq!(entries[1].time, "t2");
        assert_eq!(entries[2].log.len(), MAX_LINE);
        assert_eq!(entries[3].log.len(), 5);
    }

    #[test]
    fn reads_incrementally_and_skips_partial_records() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("log");
        let mut f = File::create(&p).expect("create");
        let mut s = LineSplitter::new(Stream::Stderr);
        s.feed(b"a\nb\n", &mut f, "t").expect("feed");
        let (e, off) = read_from(&p, 0).expect("read");
        assert_eq!(e.len(), 2);
        f.write_all(b"{\"log\":\"par").expect("partial");
        let (e2, off2) = read_from(&p, off).expect("read");
        assert!(e2.is_empty());
        assert_eq!(off2, off);
        assert_eq!(e[1].stream, Stream::Stderr);
    }
}
