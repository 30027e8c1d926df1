//! One run file: an append-only, key-sorted sequence of records.
//!
//! Lifecycle: [`Run::create`] writes and fsyncs the header (the caller
//! fsyncs the directory); [`Run::append`] writes records, fsyncs, and only
//! then advances the header's durable length; [`Run::recover`] on open
//! trusts the durable length, checks what lies after it record by record,
//! and truncates a torn tail (data never acknowledged).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::reader::RunReader;
use super::record::{
    DURABLE_LEN_OFFSET, FILE_HEADER_LEN, Key, encode_durable_len, encode_file_header,
    parse_file_header,
};

#[derive(Debug)]
pub(crate) struct Run {
    pub path: PathBuf,
    pub no: u32,
    pub nonce: u64,
    /// Bytes of the file holding valid records (and the header).
    pub len: u64,
    pub first: Option<Key>,
    pub last: Option<Key>,
    /// The highest sequence number in the run (0 = none).
    pub max_seq: u64,
    pub max_ingest: Option<i64>,
    /// Open for appends while this run is the stream's active one.
    file: Option<File>,
}

impl Run {
    /// A new empty run at `path`, floors carried over from compacted runs.
    pub fn create(
        path: &Path,
        no: u32,
        seq_floor: u64,
        ingest_floor: Option<i64>,
    ) -> io::Result<Run> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| io::Error::other(e.to_string()))?;
        let nonce = u64::from_le_bytes(nonce);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let header = encode_file_header(
            nonce,
            seq_floor,
            ingest_floor.unwrap_or(i64::MIN),
            FILE_HEADER_LEN,
        );
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        Ok(Run {
            path: path.to_path_buf(),
            no,
            nonce,
            len: FILE_HEADER_LEN,
            first: None,
            last: None,
            max_seq: seq_floor,
            max_ingest: ingest_floor,
            file: Some(file),
        })
    }

    /// Opens an existing run after a restart. `None` when the file has no
    /// valid header: it was never fully created, so holds nothing that was
    /// acknowledged.
    pub fn recover(path: &Path, no: u32) -> io::Result<Option<Run>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let file_len = file.metadata()?.len();
        let mut raw = [0u8; FILE_HEADER_LEN as usize];
        if file_len < FILE_HEADER_LEN || file.read_exact_at(&mut raw, 0).is_err() {
            return Ok(None);
        }
        let Some(header) = parse_file_header(&raw) else {
            return Ok(None);
        };
        let trusted = header
            .durable_len
            .filter(|l| (FILE_HEADER_LEN..=file_len).contains(l))
            .unwrap_or(FILE_HEADER_LEN);
        let mut reader = RunReader::new(file.try_clone()?, header.nonce, file_len);
        // Check what follows the durable length; it ends at the first
        // record that is not whole.
        let mut valid_end = trusted;
        let mut tail_last = None;
        while let Some((e, total)) = reader.record_at(valid_end, false)? {
            valid_end += total;
            tail_last = Some(e);
        }
        if valid_end < file_len {
            tracing::warn!(
                path = %path.display(),
                kept = valid_end,
                dropped = file_len - valid_end,
                "truncating an unacknowledged torn tail of a log run"
            );
            file.set_len(valid_end)?;
        }
        if valid_end != header.durable_len.unwrap_or(0) {
            file.write_all_at(&encode_durable_len(valid_end), DURABLE_LEN_OFFSET)?;
            file.sync_all()?;
        }
        let mut reader = RunReader::new(file, header.nonce, valid_end);
        let first = reader.record_at(FILE_HEADER_LEN, false)?.map(|(e, _)| e);
        let last = match tail_last {
            Some(e) => Some(e),
            None => reader.record_before(valid_end)?.map(|(e, _)| e),
        };
        // Appends go in key order, so the last record is also the newest
        // one this run received (compaction leaves floors in the header).
        let floor_ingest = (header.ingest_floor != i64::MIN).then_some(header.ingest_floor);
        Ok(Some(Run {
            path: path.to_path_buf(),
            no,
            nonce: header.nonce,
            len: valid_end,
            first: first.map(|e| e.key),
            last: last.as_ref().map(|e| e.key),
            max_seq: last
                .as_ref()
                .map_or(header.seq_floor, |e| e.key.seq.max(header.seq_floor)),
            max_ingest: match (last.as_ref().map(|e| e.ingest), floor_ingest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            file: None,
        }))
    }

    /// Whether events starting at `first` keep this run sorted.
    pub fn accepts(&self, first: Key) -> bool {
        self.last.is_none_or(|l| l <= first)
    }

    /// Appends encoded records holding keys `first..=last`, durably.
    pub fn append(&mut self, records: &[u8], first: Key, last: Key, ingest: i64) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().read(true).write(true).open(&self.path)?);
        }
        let Some(file) = self.file.as_ref() else {
            return Err(io::Error::other("run file not open"));
        };
        let at = self.len;
        let written = file
            .write_all_at(records, at)
            .and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Leave no partial records behind for the next append to
            // follow; if even that fails, recovery truncates on open.
            let _ = file.set_len(at);
            self.file = None;
            return Err(e);
        }
        self.len = at + records.len() as u64;
        // Not fsynced: the next append's fsync (or the kernel) persists
        // it, and recovery rechecks anything past an older value. So a
        // failure here costs only a longer check on open, and must not
        // fail an append whose records are already durable.
        if let Err(e) = file.write_all_at(&encode_durable_len(self.len), DURABLE_LEN_OFFSET) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not advance a log run's durable length");
        }
        if self.first.is_none() {
            self.first = Some(first);
        }
        self.last = Some(last);
        self.max_seq = self.max_seq.max(last.seq);
        self.max_ingest = Some(self.max_ingest.map_or(ingest, |m| m.max(ingest)));
        Ok(())
    }

    /// Closes the append handle (the stream keeps one run open).
    pub fn close(&mut self) {
        self.file = None;
    }

    /// A reader over the run as it is now.
    pub fn reader(&self) -> io::Result<RunReader> {
        Ok(RunReader::new(
            File::open(&self.path)?,
            self.nonce,
            self.len,
        ))
    }

    /// Finishes a run written by compaction: records its length and
    /// fsyncs everything.
    pub fn seal(&mut self, first: Option<Key>, last: Option<Key>) -> io::Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Err(io::Error::other("run file not open"));
        };
        file.write_all_at(&encode_durable_len(self.len), DURABLE_LEN_OFFSET)?;
        file.sync_all()?;
        self.first = first;
        self.last = last;
        Ok(())
    }

    /// Writes raw records at the end without fsyncing (compaction fsyncs
    /// once in [`Run::seal`]).
    pub fn write_unsynced(&mut self, records: &[u8]) -> io::Result<()> {
        let Some(file) = self.file.as_ref() else {
            return Err(io::Error::other("run file not open"));
        };
        file.write_all_at(records, self.len)?;
        self.len += records.len() as u64;
        Ok(())
    }
}
