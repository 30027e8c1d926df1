//! Rough throughput of the stores: `cargo bench -p dockyard-store`.
//!
//! Prints transactions and gets per second; it asserts nothing about
//! speed. A `RedbStore` write is bounded by one fsync per transaction, so
//! its numbers say more about the disk than about the code.

use std::time::{Duration, Instant};

use dockyard_store::{DEFAULT_HISTORY, MemStore, RedbStore, Store, StoreExt};

fn rate(n: u64, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-9)
}

fn measure(name: &str, s: &dyn Store, writes: u64, gets: u64) {
    let t = Instant::now();
    for i in 0..writes {
        s.put(&format!("bench/{:06}", i % 1000), vec![0u8; 256])
            .expect("put");
    }
    let puts = rate(writes, t.elapsed());

    let t = Instant::now();
    for _ in 0..writes / 4 {
        let kv = s.get("bench/000000").expect("get").expect("exists");
        s.update("bench/000000", kv.mod_revision, vec![1u8; 256])
            .expect("update")
            .expect("no one else writes");
    }
    let cas = rate(writes / 4, t.elapsed());

    let t = Instant::now();
    for i in 0..gets {
        s.get(&format!("bench/{:06}", i % 1000))
            .expect("get")
            .expect("exists");
    }
    let reads = rate(gets, t.elapsed());

    let t = Instant::now();
    let lists = 200;
    for _ in 0..lists {
        assert_eq!(s.list("bench/").expect("list").len(), 1000);
    }
    let lists = rate(lists, t.elapsed());

    let t = Instant::now();
    // All the history automatic compaction kept.
    let from = s
        .revision()
        .expect("revision")
        .saturating_sub(DEFAULT_HISTORY);
    let mut w = s.watch("bench/", from).expect("watch");
    let mut replayed = 0u64;
    while let Ok(e) = w.try_recv() {
        e.expect("event");
        replayed += 1;
    }
    let replay = rate(replayed, t.elapsed());

    println!(
        "{name:>6}: {puts:>9.0} puts/s  {cas:>9.0} cas txns/s  {reads:>9.0} gets/s  \
         {lists:>7.0} lists(1000 keys)/s  {replay:>9.0} replayed events/s"
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = RedbStore::open(&dir.path().join("bench.redb")).expect("open");
    measure("redb", &redb, 2_000, 100_000);
    measure("memory", &MemStore::new(), 100_000, 1_000_000);
}
