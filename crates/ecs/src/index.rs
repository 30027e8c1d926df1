//! An in-memory index of every task, kept by a store watch, so that
//! ListTasks, DescribeTasks and the counts clusters and instances report
//! read memory instead of decoding records. Writes made through this
//! process are waited for (read-your-writes); writes of other servers
//! arrive with the watch, as ECS's own List calls are eventually
//! consistent.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use dockyard_store::{EventKind, Revision, Store, StoreError};

use crate::model::{TASKS, Task, decode};

#[derive(Default)]
struct Inner {
    /// The highest task revision applied.
    rev: Revision,
    /// How many events of `rev` were applied: one commit's events arrive
    /// one by one, so a reader waiting for a write of several tasks must
    /// also wait for all of them.
    rev_events: usize,
    /// cluster -> task id -> task.
    clusters: HashMap<String, BTreeMap<String, Arc<Entry>>>,
}

/// One task as the index holds it, with its DescribeTasks JSON made on
/// first use (an update replaces the whole entry).
pub(crate) struct Entry {
    pub task: Task,
    plain: std::sync::OnceLock<Vec<u8>>,
    tagged: std::sync::OnceLock<Vec<u8>>,
}

impl Entry {
    fn new(task: Task) -> Arc<Self> {
        Arc::new(Self {
            task,
            plain: std::sync::OnceLock::new(),
            tagged: std::sync::OnceLock::new(),
        })
    }

    /// The task in DescribeTasks' shape, serialised.
    pub fn json(&self, with_tags: bool) -> &[u8] {
        let cell = if with_tags { &self.tagged } else { &self.plain };
        cell.get_or_init(|| {
            serde_json::to_vec(&crate::render::task(&self.task, with_tags)).unwrap_or_default()
        })
    }
}

impl std::ops::Deref for Entry {
    type Target = Task;
    fn deref(&self) -> &Task {
        &self.task
    }
}

pub(crate) struct TaskIndex {
    inner: Mutex<Inner>,
    cv: Condvar,
    /// The revision of this process's last task write, and how many task
    /// keys it wrote.
    written: Mutex<(Revision, usize)>,
}

/// How long a read waits for the watch to deliver this process's own
/// write before reading what it has.
const CATCH_UP: Duration = Duration::from_secs(2);

fn split(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(TASKS)?.split_once('/')
}

impl TaskIndex {
    pub fn start(store: &Arc<dyn Store>) -> Arc<Self> {
        let index = Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            cv: Condvar::new(),
            written: Mutex::new((0, 0)),
        });
        let weak_store: Weak<dyn Store> = Arc::downgrade(store);
        let idx = index.clone();
        let spawned = std::thread::Builder::new()
            .name("ecs-task-index".into())
            .spawn(move || idx.follow(weak_store));
        if let Err(e) = spawned {
            tracing::error!("cannot start the task index: {e}");
        }
        index
    }

    /// Loads every task, then applies the watch; starts over when the
    /// watch's history was compacted away. Ends when the store is gone.
    fn follow(&self, store: Weak<dyn Store>) {
        loop {
            let Some(s) = store.upgrade() else { return };
            let watch = match self.load(s.as_ref()) {
                Ok(rev) => s.watch(TASKS, rev),
                Err(e) => Err(e),
            };
            drop(s);
            let mut watch = match watch {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!("task index: {e}; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            };
            loop {
                match watch.blocking_recv() {
                    None => return,
                    Some(Err(e @ StoreError::Compacted { .. })) => {
                        tracing::warn!("task index: {e}; reloading");
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("task index: {e}; reloading");
                        break;
                    }
                    Some(Ok(ev)) => {
                        self.apply(ev.kind, &ev.kv.key, &ev.kv.value, ev.kv.mod_revision)
                    }
                }
            }
        }
    }

    fn load(&self, store: &dyn Store) -> Result<Revision, StoreError> {
        let mut clusters: HashMap<String, BTreeMap<String, Arc<Entry>>> = HashMap::new();
        let mut after: Option<String> = None;
        let mut at = 0;
        loop {
            let (kvs, rev) = store.range(TASKS, after.as_deref(), 1000)?;
            if at == 0 {
                at = rev;
            }
            let done = kvs.len() < 1000;
            after = kvs.last().map(|kv| kv.key.clone());
            for kv in kvs {
                if let (Some((c, id)), Ok(t)) = (split(&kv.key), decode::<Task>(&kv.value, &kv.key))
                {
                    clusters
                        .entry(c.to_string())
                        .or_default()
                        .insert(id.to_string(), Entry::new(t));
                }
            }
            if done || after.is_none() {
                break;
            }
        }
        // Paged reads may see later revisions; the watch from the first
        // page's revision replays them, which is harmless.
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.clusters = clusters;
        if at >= inner.rev {
            inner.rev = at;
            inner.rev_events = usize::MAX;
        }
        drop(inner);
        self.cv.notify_all();
        Ok(at)
    }

    fn apply(&self, kind: EventKind, key: &str, value: &[u8], rev: Revision) {
        let Some((c, id)) = split(key) else { return };
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match kind {
            EventKind::Put => match decode::<Task>(value, key) {
                Ok(t) => {
                    inner
                        .clusters
                        .entry(c.to_string())
                        .or_default()
                        .insert(id.to_string(), Entry::new(t));
                }
                Err(e) => tracing::warn!("task index: {e}"),
            },
            EventKind::Delete => {
                if let Some(m) = inner.clusters.get_mut(c) {
                    m.remove(id);
                }
            }
        }
        if rev > inner.rev {
            inner.rev = rev;
            inner.rev_events = 1;
        } else if rev == inner.rev {
            inner.rev_events = inner.rev_events.saturating_add(1);
        }
        drop(inner);
        self.cv.notify_all();
    }

    /// Notes a write of one task key by this process at `rev`.
    pub fn wrote(&self, rev: Revision) {
        self.wrote_n(rev, 1);
    }

    /// Notes a write of `n` task keys by this process at `rev`.
    pub fn wrote_n(&self, rev: Revision, n: usize) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if rev > w.0 {
            *w = (rev, n);
        } else if rev == w.0 {
            w.1 = w.1.max(n);
        }
    }

    /// Waits until this process's own writes are in the index.
    fn synced(&self) -> std::sync::MutexGuard<'_, Inner> {
        let (want, n) = *self.written.lock().unwrap_or_else(|p| p.into_inner());
        let behind = |i: &Inner| i.rev < want || (i.rev == want && i.rev_events < n);
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if !behind(&inner) {
            return inner;
        }
        let (inner, _) = self
            .cv
            .wait_timeout_while(inner, CATCH_UP, |i| behind(i))
            .unwrap_or_else(|p| p.into_inner());
        inner
    }

    /// A cluster's tasks in id order.
    pub fn cluster(&self, cluster: &str) -> Vec<Arc<Entry>> {
        self.synced()
            .clusters
            .get(cluster)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Calls `emit` with up to `n` of a cluster's tasks after the id
    /// `after` (id order) that `keep` accepts; returns the last id when
    /// more may follow. Runs under the index's lock without copying.
    pub fn page_with(
        &self,
        cluster: &str,
        after: Option<&str>,
        n: usize,
        keep: impl Fn(&Task) -> bool,
        mut emit: impl FnMut(&Task),
    ) -> Option<String> {
        use std::ops::Bound;
        let inner = self.synced();
        let m = inner.clusters.get(cluster)?;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let (mut count, mut last): (usize, Option<&String>) = (0, None);
        for (id, t) in m.range::<str, _>((start, Bound::Unbounded)) {
            if !keep(t) {
                continue;
            }
            if count == n {
                return last.cloned();
            }
            emit(t);
            count += 1;
            last = Some(id);
        }
        None
    }

    /// (cluster, id) of the tasks STOPPED before `cutoff_ms`.
    pub fn stopped_before(&self, cutoff_ms: i64) -> Vec<(String, String)> {
        let inner = self.synced();
        inner
            .clusters
            .iter()
            .flat_map(|(c, m)| {
                m.iter()
                    .filter(|(_, t)| {
                        t.last_status == "STOPPED" && t.times.stopped.is_some_and(|s| s < cutoff_ms)
                    })
                    .map(move |(id, _)| (c.clone(), id.clone()))
            })
            .collect()
    }

    pub fn get(&self, cluster: &str, id: &str) -> Option<Arc<Entry>> {
        self.synced().clusters.get(cluster)?.get(id).cloned()
    }
}
