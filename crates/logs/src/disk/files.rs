//! The files of one log stream: a directory of runs, grouped by the UTC
//! day of their events' timestamps.
//!
//! File names are `YYYYMMDD-GEN-RUN.seg`. Every run is sorted by key; an
//! append goes to a run of its day whose last key is not after the
//! batch's first, or starts a new run. A day with [`MAX_RUNS`] runs that
//! still needs another is compacted: its runs are merged into one run of
//! the next generation (written as `.tmp`, fsynced, renamed), after which
//! the older generation's files are deleted. On open, `.tmp` files and
//! any generation below a day's newest are leftovers of an interrupted
//! compaction and are deleted.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::reader::{Forward, RunReader};
use super::record::{Key, encode_record};
use super::run::Run;

pub(crate) const DAY_MS: i64 = 86_400_000;
/// Runs a day may have before it is compacted.
pub(crate) const MAX_RUNS: usize = 8;
/// Compaction writes in pieces of about this size.
const COMPACT_CHUNK: usize = 1 << 20;

pub(crate) fn day_of(ts: i64) -> i64 {
    ts.div_euclid(DAY_MS)
}

#[derive(Debug, Default)]
struct Day {
    generation: u32,
    runs: Vec<Run>,
}

/// What the stream's files say about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FileStats {
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub last_ingest: Option<i64>,
    pub bytes: u64,
    /// The sequence number the next event gets.
    pub next_seq: u64,
}

#[derive(Debug)]
pub(crate) struct StreamFiles {
    dir: PathBuf,
    days: BTreeMap<i64, Day>,
    next_seq: u64,
    last_ingest: Option<i64>,
    /// The run that holds an open append handle, as (day, run number).
    active: Option<(i64, u32)>,
    dir_ready: bool,
}

fn date_of(day: i64) -> String {
    match chrono::DateTime::from_timestamp(day.saturating_mul(86_400), 0) {
        Some(t) => t.format("%Y%m%d").to_string(),
        None => format!("d{day}"),
    }
}

fn file_name(day: i64, generation: u32, run: u32, ext: &str) -> String {
    format!("{}-{generation}-{run}.{ext}", date_of(day))
}

/// `(day, generation, run, is_tmp)` of a run file name.
fn parse_name(name: &str) -> Option<(i64, u32, u32, bool)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let tmp = match ext {
        "seg" => false,
        "tmp" => true,
        _ => return None,
    };
    let mut parts = stem.split('-');
    let date = parts.next()?;
    let generation = parts.next()?.parse().ok()?;
    let run = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let day = if let Some(d) = date.strip_prefix('d') {
        d.parse().ok()?
    } else {
        let d = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
        d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?)
            .num_days()
    };
    Some((day, generation, run, tmp))
}

/// Makes a directory entry durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl StreamFiles {
    /// A stream with no files yet; its directory is made on first append.
    pub fn empty(dir: PathBuf) -> Self {
        Self {
            dir,
            days: BTreeMap::new(),
            next_seq: 1,
            last_ingest: None,
            active: None,
            dir_ready: false,
        }
    }

    /// Opens a stream's directory after a restart, recovering every run.
    pub fn load(dir: PathBuf) -> io::Result<Self> {
        let mut s = Self::empty(dir);
        let entries = match fs::read_dir(&s.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(s),
            Err(e) => return Err(e),
        };
        s.dir_ready = true;
        let mut found: BTreeMap<i64, Vec<(u32, u32, PathBuf)>> = BTreeMap::new();
        let mut removed = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some((day, generation, run, tmp)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            if tmp {
                fs::remove_file(entry.path())?;
                removed = true;
            } else {
                found
                    .entry(day)
                    .or_default()
                    .push((generation, run, entry.path()));
            }
        }
        for (day, mut files) in found {
            let newest = files.iter().map(|f| f.0).max().unwrap_or(0);
            files.sort();
            let mut d = Day {
                generation: newest,
                runs: Vec::new(),
            };
            for (generation, no, path) in files {
                if generation < newest {
                    fs::remove_file(&path)?;
                    removed = true;
                    continue;
                }
                match Run::recover(&path, no)? {
                    Some(run) => d.runs.push(run),
                    None => {
                        tracing::warn!(path = %path.display(), "removing a log run that was never completed");
                        fs::remove_file(&path)?;
                        removed = true;
                    }
                }
            }
            if !d.runs.is_empty() {
                s.days.insert(day, d);
            }
        }
        if removed {
            sync_dir(&s.dir)?;
        }
        let runs = || s.days.values().flat_map(|d| d.runs.iter());
        s.next_seq = runs().map(|r| r.max_seq).max().unwrap_or(0) + 1;
        s.last_ingest = runs().filter_map(|r| r.max_ingest).max();
        Ok(s)
    }

    pub fn stats(&self) -> FileStats {
        let runs = || self.days.values().flat_map(|d| d.runs.iter());
        FileStats {
            first_ts: runs().filter_map(|r| r.first).map(|k| k.ts).min(),
            last_ts: runs().filter_map(|r| r.last).map(|k| k.ts).max(),
            last_ingest: self.last_ingest,
            bytes: runs().map(|r| r.len).sum(),
            next_seq: self.next_seq,
        }
    }

    /// The days that have runs, oldest first.
    pub fn days(&self) -> Vec<i64> {
        self.days.keys().copied().collect()
    }

    /// Readers over a day's runs as they are now.
    pub fn open_day(&self, day: i64) -> io::Result<Vec<RunReader>> {
        match self.days.get(&day) {
            Some(d) => d.runs.iter().map(Run::reader).collect(),
            None => Ok(Vec::new()),
        }
    }

    fn ensure_dir(&mut self) -> io::Result<()> {
        if self.dir_ready {
            return Ok(());
        }
        // Every directory made here must be durable for the files in it
        // to be found after a crash.
        let mut made = Vec::new();
        let mut p = self.dir.as_path();
        while !p.exists() {
            made.push(p.to_path_buf());
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        fs::create_dir_all(&self.dir)?;
        for d in made {
            if let Some(parent) = d.parent() {
                sync_dir(parent)?;
            }
        }
        self.dir_ready = true;
        Ok(())
    }

    /// Appends events (sorted by timestamp) durably; returns the sequence
    /// number of the first. Ingestion time never goes backwards within a
    /// stream, so it is at least that of the previous append.
    pub fn append(&mut self, events: &[(i64, &str)], now: i64) -> io::Result<u64> {
        let first_seq = self.next_seq;
        let ingest = self.last_ingest.map_or(now, |l| l.max(now));
        self.ensure_dir()?;
        let mut i = 0;
        while i < events.len() {
            let day = day_of(events[i].0);
            let n = events[i..]
                .iter()
                .take_while(|(ts, _)| day_of(*ts) == day)
                .count();
            let slice = &events[i..i + n];
            let seq0 = self.next_seq;
            let first = Key {
                ts: slice[0].0,
                seq: seq0,
            };
            let last = Key {
                ts: slice[n - 1].0,
                seq: seq0 + n as u64 - 1,
            };
            let run = self.run_for(day, first)?;
            let mut buf = Vec::with_capacity(slice.iter().map(|(_, m)| m.len() + 44).sum());
            for (k, (ts, msg)) in slice.iter().enumerate() {
                let key = Key {
                    ts: *ts,
                    seq: seq0 + k as u64,
                };
                encode_record(run.nonce, key, ingest, msg.as_bytes(), &mut buf);
            }
            run.append(&buf, first, last, ingest)?;
            self.next_seq += n as u64;
            self.last_ingest = Some(ingest);
            i += n;
        }
        Ok(first_seq)
    }

    /// The run of `day` that events starting at `first` go to.
    fn run_for(&mut self, day: i64, first: Key) -> io::Result<&mut Run> {
        let fits = |d: &Day| {
            d.runs
                .iter()
                .enumerate()
                .filter(|(_, r)| r.accepts(first))
                .max_by_key(|(_, r)| r.last)
                .map(|(i, _)| i)
        };
        let mut chosen = self.days.get(&day).and_then(fits);
        if chosen.is_none() {
            if self
                .days
                .get(&day)
                .is_some_and(|d| d.runs.len() >= MAX_RUNS)
            {
                self.compact(day)?;
            }
            chosen = Some(self.new_run(day)?);
        }
        let idx = chosen.unwrap_or_default();
        let no = self.days.get(&day).map_or(0, |d| d.runs[idx].no);
        if let Some((aday, ano)) = self.active.filter(|a| *a != (day, no))
            && let Some(r) = self
                .days
                .get_mut(&aday)
                .and_then(|d| d.runs.iter_mut().find(|r| r.no == ano))
        {
            r.close();
        }
        self.active = Some((day, no));
        let d = self.days.entry(day).or_default();
        Ok(&mut d.runs[idx])
    }

    fn new_run(&mut self, day: i64) -> io::Result<usize> {
        let d = self.days.entry(day).or_default();
        let no = d.runs.iter().map(|r| r.no + 1).max().unwrap_or(0);
        let path = self.dir.join(file_name(day, d.generation, no, "seg"));
        let run = Run::create(&path, no, 0, None)?;
        sync_dir(&self.dir)?;
        d.runs.push(run);
        Ok(d.runs.len() - 1)
    }

    /// Merges a day's runs into one run of the next generation.
    fn compact(&mut self, day: i64) -> io::Result<()> {
        let Some(d) = self.days.get(&day) else {
            return Ok(());
        };
        let generation = d.generation + 1;
        let tmp = self.dir.join(file_name(day, generation, 0, "tmp"));
        let seq_floor = d.runs.iter().map(|r| r.max_seq).max().unwrap_or(0);
        let ingest_floor = d.runs.iter().filter_map(|r| r.max_ingest).max();
        let mut out = Run::create(&tmp, 0, seq_floor, ingest_floor)?;
        let mut cursors = d
            .runs
            .iter()
            .map(|r| Forward::new(r.reader()?, Key::MIN))
            .collect::<io::Result<Vec<_>>>()?;
        let (mut first, mut last) = (None, None);
        let mut buf = Vec::with_capacity(COMPACT_CHUNK);
        loop {
            let best = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.head().map(|e| (e.key, i)))
                .min();
            let Some((_, i)) = best else { break };
            let Some(e) = cursors[i].take()? else { break };
            first.get_or_insert(e.key);
            last = Some(e.key);
            encode_record(out.nonce, e.key, e.ingest, e.message.as_bytes(), &mut buf);
            if buf.len() >= COMPACT_CHUNK {
                out.write_unsynced(&buf)?;
                buf.clear();
            }
        }
        out.write_unsynced(&buf)?;
        out.seal(first, last)?;
        out.close();
        let done = self.dir.join(file_name(day, generation, 0, "seg"));
        fs::rename(&tmp, &done)?;
        out.path = done;
        sync_dir(&self.dir)?;
        let old = self.days.insert(
            day,
            Day {
                generation,
                runs: vec![out],
            },
        );
        if self.active.is_some_and(|(a, _)| a == day) {
            self.active = None;
        }
        for r in old.into_iter().flat_map(|d| d.runs) {
            fs::remove_file(&r.path)?;
        }
        sync_dir(&self.dir)?;
        tracing::debug!(dir = %self.dir.display(), day, generation, "compacted a day of log runs");
        Ok(())
    }

    /// Deletes every day that ends at or before `cutoff` (ms); returns how
    /// many days went.
    pub fn expire(&mut self, cutoff: i64) -> io::Result<usize> {
        let expired: Vec<i64> = self
            .days
            .keys()
            .copied()
            .filter(|d| d.saturating_add(1).saturating_mul(DAY_MS) <= cutoff)
            .collect();
        for day in &expired {
            if let Some(d) = self.days.remove(day) {
                for r in d.runs {
                    fs::remove_file(&r.path)?;
                }
            }
            if self.active.is_some_and(|(a, _)| a == *day) {
                self.active = None;
            }
        }
        if !expired.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(expired.len())
    }

    /// Deletes the stream's directory and everything in it.
    pub fn remove_all(&mut self) -> io::Result<()> {
        self.days.clear();
        self.active = None;
        match fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    #[cfg(test)]
    pub fn run_count(&self, day: i64) -> usize {
        self.days.get(&day).map_or(0, |d| d.runs.len())
    }

    pub fn dir_path(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
