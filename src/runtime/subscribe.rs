//! Subscribers and the event queue: committed changes are delivered after commit, in LSN
//! order, never during replay; side effects wait in a queue that replay clears.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::Runtime;
use super::reducer::CallInfo;
use super::table::Tables;
use super::txn::{Changes, Op};
use super::typed::Table;
use super::value::{Row, Value};
use crate::Lsn;

/// What a change did to its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new row.
    Insert,
    /// A row replaced.
    Update,
    /// A row removed.
    Delete,
}

/// One committed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The table changed.
    pub table: Arc<str>,
    /// What happened.
    pub kind: ChangeKind,
    /// The row's primary key.
    pub key: Value,
    /// The new row (`None` for a delete).
    pub row: Option<Row>,
    /// The row before (`None` for an insert).
    pub old: Option<Row>,
}

/// One committed change to a row of table `T`, typed: what [`Runtime::on`] subscribers get.
#[derive(Clone, Debug, PartialEq)]
pub struct TypedChange<T> {
    /// What happened.
    pub kind: ChangeKind,
    /// The row before (`None` for an insert).
    pub old: Option<T>,
    /// The row after (`None` for a delete).
    pub new: Option<T>,
}

/// The changes of one committed transaction, grouped by table (in each table, in the order
/// they were made).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The LSN of the transaction's record.
    pub lsn: Lsn,
    /// Its changes.
    pub changes: Vec<Change>,
    /// The reducer call it records, if a reducer made it.
    pub call: Option<CallInfo>,
}

impl Commit {
    /// Builds the event of a transaction from its changes, before they are applied.
    pub(crate) fn of(
        lsn: Lsn,
        tables: &Tables,
        changes: &Changes,
        call: Option<CallInfo>,
    ) -> Commit {
        // Each change's old row is the one before it, this transaction's earlier changes
        // included.
        let mut current: BTreeMap<(usize, &Value), Option<&[Value]>> = BTreeMap::new();
        let mut list: Vec<Change> = changes
            .ops
            .iter()
            .map(|op| {
                let (local, kind, values) = match op {
                    Op::Insert { table, values } => (table, ChangeKind::Insert, Some(values)),
                    Op::Update { table, values } => (table, ChangeKind::Update, Some(values)),
                    Op::Delete { table, .. } => (table, ChangeKind::Delete, None),
                };
                let id = changes.tables[*local];
                let t = tables.get(id);
                let key = match op {
                    Op::Delete { key, .. } => key,
                    _ => t.key_of(values.expect("a row")),
                };
                let old = current
                    .insert((id, key), values.map(Vec::as_slice))
                    .unwrap_or_else(|| t.get(key));
                Change {
                    table: Arc::from(t.schema().name()),
                    kind,
                    key: key.clone(),
                    row: values.map(|v| t.to_row(v)),
                    old: old.map(|v| t.to_row(v)),
                }
            })
            .collect();
        list.sort_by(|a, b| a.table.cmp(&b.table));
        Commit {
            lsn,
            changes: list,
            call,
        }
    }

    /// The changes to `table`.
    #[must_use]
    pub fn changes_to(&self, table: &str) -> &[Change] {
        let start = self.changes.partition_point(|c| &*c.table < table);
        let end = self.changes.partition_point(|c| &*c.table <= table);
        &self.changes[start..end]
    }
}

/// A subscriber: called after commit with the transaction's LSN and its changes to the
/// table subscribed to.
pub type Subscriber = Arc<dyn Fn(Lsn, &[Change]) + Send + Sync>;

/// A subscriber as the runtime keeps it: it is also handed the runtime, so that it may read
/// or commit without holding a reference to it.
pub(crate) type Listener<C = Runtime> = Arc<dyn Fn(&C, Lsn, &[Change]) + Send + Sync>;

/// `subscriber` as a listener that ignores the runtime.
pub(crate) fn listener(subscriber: Subscriber) -> Listener {
    Arc::new(move |_: &Runtime, lsn, changes: &[Change]| subscriber(lsn, changes))
}

/// `f` over typed changes as a listener of `T`'s table.
pub(crate) fn typed_listener<T: Table + 'static>(
    f: impl Fn(&Runtime, Lsn, &[TypedChange<T>]) + Send + Sync + 'static,
) -> Listener {
    // `None` for no row; `Some(Err(..))` for a row the type cannot hold (a value written
    // through the dynamic API or by a module that is out of the field's range).
    let convert = |row: &Option<Row>| {
        row.as_ref().map(|row| {
            let values = row.iter().map(|(_, value)| value.clone()).collect();
            T::from_values(values)
        })
    };
    Arc::new(move |runtime: &Runtime, lsn, changes: &[Change]| {
        let typed: Vec<TypedChange<T>> = changes
            .iter()
            .filter_map(|change| {
                // A change whose rows do not convert is left out; it is not delivered as
                // a wrong row, and the commit (already durable) is not disturbed.
                Some(TypedChange {
                    kind: change.kind,
                    old: convert(&change.old).transpose().ok()?,
                    new: convert(&change.row).transpose().ok()?,
                })
            })
            .collect();
        if !typed.is_empty() {
            f(runtime, lsn, &typed);
        }
    })
}

/// A hook called for every transaction replayed (to rebuild state derived from the tables,
/// never for side effects).
pub type ReplayHook = Arc<dyn Fn(&Commit) + Send + Sync>;

/// A pending side effect: runs when the application drains the queue.
pub type Effect = Box<dyn FnOnce() + Send>;

/// Subscribers, committed events not yet delivered, and pending side effects.
/// `C` is what subscribers are handed with each commit: the runtime.
pub(crate) struct Hub<C = Runtime> {
    subscribers: RwLock<Vec<(String, Listener<C>)>>,
    events: Mutex<VecDeque<Arc<Commit>>>,
    delivering: Mutex<()>,
    effects: Mutex<Vec<Effect>>,
}

impl<C> Default for Hub<C> {
    fn default() -> Self {
        Hub {
            subscribers: RwLock::default(),
            events: Mutex::default(),
            delivering: Mutex::default(),
            effects: Mutex::default(),
        }
    }
}

impl<C> std::fmt::Debug for Hub<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("subscribers", &self.subscribers.read().len())
            .field("events", &self.events.lock().len())
            .field("effects", &self.effects.lock().len())
            .finish_non_exhaustive()
    }
}

impl<C> Hub<C> {
    pub fn subscribe(&self, table: String, subscriber: Listener<C>) {
        self.subscribers.write().push((table, subscriber));
    }

    pub fn has_subscribers(&self) -> bool {
        !self.subscribers.read().is_empty()
    }

    /// Queues a committed transaction's event. Called under the tables' write lock, so
    /// events are queued in LSN order.
    pub fn push(&self, commit: Commit) {
        self.events.lock().push_back(Arc::new(commit));
    }

    /// Delivers queued events up to `lsn_max()`, in order. One thread delivers at a time; a
    /// thread that finds another delivering leaves its event to it (the deliverer checks
    /// the queue again after letting go), so a subscriber may itself commit. The limit is
    /// read again at each check: the event left behind may be deliverable only under a limit
    /// that grew after the deliverer started (a durable LSN another thread advanced).
    pub fn deliver(&self, context: &C, lsn_max: impl Fn() -> Lsn) {
        loop {
            let Some(guard) = self.delivering.try_lock() else {
                return;
            };
            loop {
                let commit = {
                    let mut events = self.events.lock();
                    match events.front() {
                        Some(front) if front.lsn <= lsn_max() => events.pop_front(),
                        _ => None,
                    }
                };
                let Some(commit) = commit else { break };
                let subscribers = self.subscribers.read().clone();
                for (table, subscriber) in &subscribers {
                    let changes = commit.changes_to(table);
                    if !changes.is_empty() {
                        subscriber(context, commit.lsn, changes);
                    }
                }
            }
            drop(guard);
            let more = self
                .events
                .lock()
                .front()
                .is_some_and(|front| front.lsn <= lsn_max());
            if !more {
                return;
            }
        }
    }

    pub fn enqueue_effect(&self, effect: Effect) {
        self.effects.lock().push(effect);
    }

    pub fn drain_effects(&self) -> Vec<Effect> {
        std::mem::take(&mut *self.effects.lock())
    }

    /// Forgets pending effects and undelivered events: replay starts from the log alone.
    pub fn clear(&self) {
        self.effects.lock().clear();
        self.events.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn commit(lsn: u64, table: &str) -> Commit {
        Commit {
            lsn: Lsn(lsn),
            changes: vec![Change {
                table: Arc::from(table),
                kind: ChangeKind::Delete,
                key: Value::U64(lsn),
                row: None,
                old: None,
            }],
            call: None,
        }
    }

    #[test]
    fn delivers_in_order_up_to_the_limit_and_per_table() {
        let hub = Hub::<()>::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        hub.subscribe("a".into(), Arc::new(move |(), lsn, _| s.lock().push(lsn.0)));
        hub.push(commit(1, "a"));
        hub.push(commit(2, "b"));
        hub.push(commit(3, "a"));
        hub.deliver(&(), || Lsn(2));
        assert_eq!(*seen.lock(), [1]);
        hub.deliver(&(), || Lsn(3));
        assert_eq!(*seen.lock(), [1, 3]);
    }

    /// A deliverer used to keep the limit it started with: an event that became deliverable
    /// under a higher limit while it was busy, whose committer found it busy and left the
    /// event to it, stayed queued (a subscriber never saw the last durable transactions).
    #[test]
    fn an_event_left_to_a_busy_deliverer_is_delivered_under_the_new_limit() {
        let hub = Arc::new(Hub::<()>::default());
        let limit = Arc::new(AtomicU64::new(1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (inside, entered) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (inside, wait) = (Mutex::new(inside), Mutex::new(wait));
        let s = Arc::clone(&seen);
        hub.subscribe(
            "a".into(),
            Arc::new(move |(), lsn, _| {
                s.lock().push(lsn.0);
                if lsn.0 == 1 {
                    inside.lock().send(()).unwrap();
                    wait.lock().recv().unwrap();
                }
            }),
        );
        hub.push(commit(1, "a"));
        let (h, l) = (Arc::clone(&hub), Arc::clone(&limit));
        let first = std::thread::spawn(move || h.deliver(&(), || Lsn(l.load(Ordering::SeqCst))));
        entered.recv().unwrap();
        // Another committer: its event is durable now, and the deliverer is busy.
        hub.push(commit(2, "a"));
        limit.store(2, Ordering::SeqCst);
        hub.deliver(&(), || Lsn(limit.load(Ordering::SeqCst)));
        release.send(()).unwrap();
        first.join().unwrap();
        assert_eq!(*seen.lock(), [1, 2]);
    }

    #[test]
    fn clear_drops_effects_and_events() {
        let hub = Hub::<()>::default();
        let ran = Arc::new(AtomicU64::new(0));
        let r = Arc::clone(&ran);
        hub.enqueue_effect(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }));
        hub.push(commit(1, "a"));
        hub.clear();
        assert!(hub.drain_effects().is_empty());
        assert!(hub.events.lock().is_empty());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
