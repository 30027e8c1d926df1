use std::sync::Mutex;

use super::*;
use crate::disk::read::{DaySource, PageLimit, read_backward, read_forward};
use crate::disk::record::{Event, FILE_HEADER_LEN};

/// A stream's files behind the lock readers go through.
struct Src(Mutex<StreamFiles>);

impl DaySource for Src {
    fn days(&self) -> io::Result<Vec<i64>> {
        Ok(self.0.lock().unwrap().days())
    }
    fn open_day(&self, day: i64) -> io::Result<Vec<RunReader>> {
        self.0.lock().unwrap().open_day(day)
    }
}

const T: i64 = 1_714_564_800_000; // 2024-05-01T12:00:00Z
const ALL: PageLimit = PageLimit {
    events: usize::MAX,
    bytes: usize::MAX,
};

fn msgs(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.message.clone()).collect()
}

fn all(src: &Src) -> Vec<Event> {
    read_forward(src, Key::MIN, Key::MAX, ALL).unwrap()
}

fn new_src(dir: &Path) -> Src {
    Src(Mutex::new(StreamFiles::empty(dir.join("g").join("s"))))
}

fn put(src: &Src, events: &[(i64, &str)]) -> u64 {
    src.0.lock().unwrap().append(events, T).unwrap()
}

#[test]
fn appends_read_back_in_both_directions_across_days() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    assert_eq!(put(&src, &[(T - DAY_MS, "y1"), (T - DAY_MS + 1, "y2")]), 1);
    assert_eq!(put(&src, &[(T, "a"), (T + 1, "b"), (T + 1, "c")]), 3);
    assert_eq!(msgs(&all(&src)), ["y1", "y2", "a", "b", "c"]);

    let page = PageLimit {
        events: 2,
        bytes: usize::MAX,
    };
    let first = read_forward(&src, Key::MIN, Key::MAX, page).unwrap();
    assert_eq!(msgs(&first), ["y1", "y2"]);
    let next = read_forward(&src, first[1].key.succ(), Key::MAX, page).unwrap();
    assert_eq!(msgs(&next), ["a", "b"]);
    let last = read_backward(&src, Key::MIN, Key::MAX, page).unwrap();
    assert_eq!(msgs(&last), ["b", "c"]);
    let before = read_backward(&src, Key::MIN, last[0].key, page).unwrap();
    assert_eq!(msgs(&before), ["y2", "a"]);
    // Time bounds: from inclusive, to exclusive.
    let mid = read_forward(&src, Key::at(T), Key::at(T + 1), ALL).unwrap();
    assert_eq!(msgs(&mid), ["a"]);
    // A byte cap still returns at least one event.
    let tiny = PageLimit {
        events: 10,
        bytes: 1,
    };
    assert_eq!(
        msgs(&read_forward(&src, Key::MIN, Key::MAX, tiny).unwrap()),
        ["y1"]
    );

    let st = src.0.lock().unwrap().stats();
    assert_eq!(st.first_ts, Some(T - DAY_MS));
    assert_eq!(st.last_ts, Some(T + 1));
    assert_eq!(st.last_ingest, Some(T));
    assert_eq!(st.next_seq, 6);
    assert!(st.bytes > 2 * FILE_HEADER_LEN);
}

#[test]
fn late_batches_open_runs_that_are_merged_on_read_and_compacted() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T + 100, "late-day-start"), (T + 200, "x")]);
    // Each batch is older than everything before it: a new run each time.
    let mut expected = vec![
        (T + 100, "late-day-start".to_string()),
        (T + 200, "x".into()),
    ];
    for i in 0..(MAX_RUNS as i64 + 3) {
        let m = format!("m{i}");
        put(&src, &[(T + 50 - i, m.as_str())]);
        expected.push((T + 50 - i, m));
    }
    let day = day_of(T);
    // Compaction kept the run count bounded.
    assert!(src.0.lock().unwrap().run_count(day) <= MAX_RUNS);
    expected.sort_by_key(|(t, _)| *t);
    let got: Vec<(i64, String)> = all(&src)
        .into_iter()
        .map(|e| (e.key.ts, e.message))
        .collect();
    assert_eq!(got, expected);
    let back = read_backward(&src, Key::MIN, Key::MAX, ALL).unwrap();
    assert_eq!(back.len(), expected.len());
    // Sequence numbers stay unique across compaction and reopen.
    let dir = src.0.lock().unwrap().dir_path().to_path_buf();
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".seg")), "{names:?}");
    assert!(
        names.iter().any(|n| n.starts_with("20240501-1-")),
        "{names:?}"
    );
    let reopened = Src(Mutex::new(StreamFiles::load(dir).unwrap()));
    let next = reopened.0.lock().unwrap().stats().next_seq;
    assert_eq!(next, 3 + MAX_RUNS as u64 + 3);
    let keys: Vec<Key> = all(&reopened).iter().map(|e| e.key).collect();
    let mut seqs: Vec<u64> = keys.iter().map(|k| k.seq).collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), keys.len());
}

#[test]
fn recovery_keeps_acknowledged_records_and_drops_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T, "one"), (T + 1, "two")]);
    put(&src, &[(T + 2, "three")]);
    let dir = src.0.lock().unwrap().dir_path().to_path_buf();
    drop(src);
    let file = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let good_len = fs::metadata(&file).unwrap().len();
    // Half a record, as a crash in the middle of a write leaves it.
    let mut f = fs::OpenOptions::new().append(true).open(&file).unwrap();
    io::Write::write_all(&mut f, &[0xAB; 30]).unwrap();
    drop(f);

    let src = Src(Mutex::new(StreamFiles::load(dir.clone()).unwrap()));
    assert_eq!(fs::metadata(&file).unwrap().len(), good_len);
    assert_eq!(msgs(&all(&src)), ["one", "two", "three"]);
    assert_eq!(src.0.lock().unwrap().stats().next_seq, 4);
    // Appending after recovery continues the run.
    put(&src, &[(T + 3, "four")]);
    drop(src);
    let src = Src(Mutex::new(StreamFiles::load(dir).unwrap()));
    assert_eq!(msgs(&all(&src)), ["one", "two", "three", "four"]);
}

#[test]
fn recovery_rechecks_records_past_a_stale_durable_length() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T, "one")]);
    let dir = src.0.lock().unwrap().dir_path().to_path_buf();
    drop(src);
    let file = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    // As if the header update after the fsync never reached the disk.
    let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
    std::os::unix::fs::FileExt::write_all_at(
        &f,
        &crate::disk::record::encode_durable_len(FILE_HEADER_LEN),
        crate::disk::record::DURABLE_LEN_OFFSET,
    )
    .unwrap();
    // And a torn header half is no worse.
    let src = Src(Mutex::new(StreamFiles::load(dir.clone()).unwrap()));
    assert_eq!(msgs(&all(&src)), ["one"]);
    drop(src);
    std::os::unix::fs::FileExt::write_all_at(&f, &[0xFF; 4], 44).unwrap();
    let src = Src(Mutex::new(StreamFiles::load(dir).unwrap()));
    assert_eq!(msgs(&all(&src)), ["one"]);
}

#[test]
fn interrupted_compactions_and_unfinished_runs_are_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T, "kept")]);
    let dir = src.0.lock().unwrap().dir_path().to_path_buf();
    drop(src);
    let day = day_of(T);
    // Generation 1 finished (renamed) but generation 0 not yet deleted:
    // write a gen-1 run holding the same event.
    let mut g1 = Run::create(&dir.join(file_name(day, 1, 0, "seg")), 0, 0, None).unwrap();
    let mut buf = Vec::new();
    encode_record(g1.nonce, Key { ts: T, seq: 1 }, T, b"kept", &mut buf);
    g1.append(&buf, Key { ts: T, seq: 1 }, Key { ts: T, seq: 1 }, T)
        .unwrap();
    fs::write(dir.join(file_name(day, 2, 0, "tmp")), b"partial").unwrap();
    fs::write(dir.join(file_name(day + 1, 0, 0, "seg")), b"no header").unwrap();
    let src = Src(Mutex::new(StreamFiles::load(dir.clone()).unwrap()));
    assert_eq!(msgs(&all(&src)), ["kept"]);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["20240501-1-0.seg"]);
}

#[test]
fn expiry_deletes_whole_days_and_removal_deletes_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T - 2 * DAY_MS, "old")]);
    put(&src, &[(T - DAY_MS, "yesterday")]);
    put(&src, &[(T, "today")]);
    let mut files = src.0.lock().unwrap();
    // The cutoff falls inside yesterday: only the day before goes.
    assert_eq!(files.expire(T - DAY_MS + 1).unwrap(), 1);
    drop(files);
    assert_eq!(msgs(&all(&src)), ["yesterday", "today"]);
    let mut files = src.0.lock().unwrap();
    assert_eq!(files.stats().first_ts, Some(T - DAY_MS));
    let dir = files.dir_path().to_path_buf();
    files.remove_all().unwrap();
    assert!(!dir.exists());
}

#[test]
fn binary_search_finds_every_key_in_a_large_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    let big = "x".repeat(3000);
    let mut batch = Vec::new();
    for i in 0..400i64 {
        batch.push((T + i * 10, if i % 7 == 0 { big.as_str() } else { "small" }));
    }
    for chunk in batch.chunks(50) {
        put(&src, chunk);
    }
    let events = all(&src);
    assert_eq!(events.len(), 400);
    for (n, e) in events.iter().enumerate().step_by(13) {
        let from_here = read_forward(
            &src,
            e.key,
            Key::MAX,
            PageLimit {
                events: 1,
                bytes: usize::MAX,
            },
        )
        .unwrap();
        assert_eq!(from_here[0].key, e.key, "forward to #{n}");
        let between = read_forward(
            &src,
            Key::at(e.key.ts + 1),
            Key::MAX,
            PageLimit {
                events: 1,
                bytes: usize::MAX,
            },
        )
        .unwrap();
        assert_eq!(
            between.first().map(|x| x.key),
            events.get(n + 1).map(|x| x.key)
        );
        let before = read_backward(
            &src,
            Key::MIN,
            e.key,
            PageLimit {
                events: 1,
                bytes: usize::MAX,
            },
        )
        .unwrap();
        assert_eq!(
            before.first().map(|x| x.key),
            n.checked_sub(1).map(|p| events[p].key)
        );
    }
}

#[test]
fn damaged_bytes_mid_run_are_skipped_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let src = new_src(tmp.path());
    put(&src, &[(T, "aaaa")]);
    put(&src, &[(T + 1, "bbbb")]);
    put(&src, &[(T + 2, "cccc")]);
    let dir = src.0.lock().unwrap().dir_path().to_path_buf();
    let file = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let mut raw = fs::read(&file).unwrap();
    let at = raw.windows(4).position(|w| w == b"bbbb").unwrap();
    raw[at] = b'X';
    fs::write(&file, raw).unwrap();
    assert_eq!(msgs(&all(&src)), ["aaaa", "cccc"]);
}
