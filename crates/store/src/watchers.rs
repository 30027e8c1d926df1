//! The in-memory registry of live watches.
//!
//! Each store keeps its `Watchers` under the same lock that serialises its
//! commits, and both registering a watch (with its replay of history) and
//! delivering a commit's events happen under that lock. A watch therefore
//! receives every revision exactly once: either in its replay (committed
//! before it registered) or live (committed after), never both, never
//! neither.

use tokio::sync::mpsc::{self, UnboundedSender};

use crate::{Event, Revision, StoreError, Watch};

struct Watcher {
    prefix: String,
    /// Only revisions above this are delivered: a watch may be asked to
    /// start ahead of the store.
    after: Revision,
    tx: UnboundedSender<Result<Event, StoreError>>,
}

#[derive(Default)]
pub(crate) struct Watchers {
    list: Vec<Watcher>,
}

impl Watchers {
    /// Opens a watch on `prefix` for revisions above `after`, first
    /// sending it the matching events of `history` (which must end at the
    /// store's current revision).
    pub(crate) fn add(
        &mut self,
        prefix: &str,
        after: Revision,
        history: impl IntoIterator<Item = Event>,
    ) -> Watch {
        let (tx, rx) = mpsc::unbounded_channel();
        for event in history {
            if event.kv.key.starts_with(prefix) && event.kv.mod_revision > after {
                // The receiver is still in our hands, so this cannot fail.
                let _ = tx.send(Ok(event));
            }
        }
        self.list.push(Watcher {
            prefix: prefix.to_owned(),
            after,
            tx,
        });
        rx
    }

    /// Delivers one commit's events to every watch whose prefix they
    /// match, and forgets watches whose receiver was dropped.
    ///
    /// Channels are unbounded so that a slow reader never stalls writers;
    /// the price is memory held for a reader that stops reading without
    /// dropping its `Watch`.
    pub(crate) fn notify(&mut self, events: &[Event]) {
        self.list.retain(|w| {
            let due = |e: &&Event| e.kv.mod_revision > w.after && e.kv.key.starts_with(&w.prefix);
            for e in events.iter().filter(due) {
                if w.tx.send(Ok(e.clone())).is_err() {
                    return false;
                }
            }
            !w.tx.is_closed()
        });
    }

    /// Ends every watch with an error, for a store that can no longer
    /// promise it will deliver every change.
    pub(crate) fn fail_all(&mut self, error: impl Fn() -> StoreError) {
        for w in self.list.drain(..) {
            let _ = w.tx.send(Err(error()));
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, KeyValue};

    fn put(key: &str, rev: u64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.into(),
                value: vec![],
                create_revision: rev,
                mod_revision: rev,
                version: 1,
            },
            prev: None,
        }
    }

    #[test]
    fn history_then_live_filtered_by_prefix() {
        let mut w = Watchers::default();
        let mut rx = w.add("a/", 0, [put("a/1", 1), put("b/1", 2)]);
        w.notify(&[put("a/2", 3), put("b/2", 3), put("a/3", 3)]);
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.expect("no error sent").kv.key)
            .collect();
        assert_eq!(got, ["a/1", "a/2", "a/3"]);
    }

    #[test]
    fn a_watch_ahead_of_the_store_waits_for_its_revision() {
        let mut w = Watchers::default();
        let mut rx = w.add("", 3, []);
        for rev in 1..=5 {
            w.notify(&[put("k", rev)]);
        }
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.expect("no error sent").kv.mod_revision)
            .collect();
        assert_eq!(got, [4, 5]);
    }

    #[test]
    fn dropped_receivers_are_forgotten() {
        let mut w = Watchers::default();
        let keep = w.add("", 0, []);
        drop(w.add("", 0, []));
        drop(w.add("nothing-matches/", 0, []));
        assert_eq!(w.len(), 3);
        w.notify(&[put("x", 1)]);
        assert_eq!(w.len(), 1);
        drop(keep);
    }

    #[test]
    fn fail_all_sends_the_error_and_closes() {
        let mut w = Watchers::default();
        let mut rx = w.add("", 0, []);
        w.fail_all(|| StoreError::Unavailable("test".into()));
        assert!(matches!(rx.try_recv(), Ok(Err(StoreError::Unavailable(_)))));
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(w.len(), 0);
    }
}
