//! The in-process adapter: SQS FIFO semantics (groups, visibility, five-minute deduplication,
//! redrive to the dead-letter queue after `max_receives`) in memory, for the local runner and
//! tests. Made with [`MemoryQueue::in_store`], it also keeps its messages in the embedded
//! store's redb file (tables `queue` and `dead_letters`), written by the store's own writer
//! thread: what was queued survives a restart (receive counts and the deduplication window
//! start afresh; the dispatcher's delivery states keep a redelivered message from being sent
//! twice), and a message and the records it names can be written in one transaction
//! ([`super::intake`]).
//!
//! Messages are kept per group, and the groups in a ring: a receive looks at each group once
//! (not at every message), takes as many ready messages of one group as it can (as SQS FIFO
//! does), and moves that group to the back, so busy groups take turns.

use super::*;
use crate::store::embedded::EmbeddedTable;
use crate::store::group_commit::Writer;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

const DEDUP_WINDOW: Duration = Duration::from_secs(300);
/// Sequence number → (group, body), in the order sent.
const MAIN: TableDefinition<u64, (&str, &str)> = TableDefinition::new("queue");
const DEAD: TableDefinition<u64, (&str, &str)> = TableDefinition::new("dead_letters");
/// The separate file earlier versions kept the queue in (tables `main` and `dead`); its
/// messages are moved into the store's file when it is found.
const OLD_FILE: &str = "queue.redb";
const OLD_MAIN: TableDefinition<u64, (&str, &str)> = TableDefinition::new("main");
const OLD_DEAD: TableDefinition<u64, (&str, &str)> = TableDefinition::new("dead");

/// A change to the journal: a message stored or removed, on the main or the dead-letter queue.
pub(crate) enum Op {
    Put { dead: bool, seq: u64, group: String, body: String },
    Remove { dead: bool, seq: u64 },
}

fn put(dead: bool, e: &Entry) -> Op {
    Op::Put { dead, seq: e.seq, group: e.group.clone(), body: e.body.clone() }
}

/// Applies journal changes in `tx`.
pub(crate) fn apply(tx: &redb::WriteTransaction, ops: Vec<Op>) -> Result<(), redb::Error> {
    let (mut main, mut dead) = (tx.open_table(MAIN)?, tx.open_table(DEAD)?);
    for op in ops {
        match op {
            Op::Put { dead: d, seq, group, body } => {
                (if d { &mut dead } else { &mut main }).insert(seq, (group.as_str(), body.as_str()))?;
            }
            Op::Remove { dead: d, seq } => {
                (if d { &mut dead } else { &mut main }).remove(seq)?;
            }
        }
    }
    Ok(())
}

fn journal_error(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(format!("queue file: {e}"))
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    id: String,
    body: String,
    group: String,
    visible_at: Instant,
    receipt: Option<String>,
    receive_count: u32,
}

#[derive(Default)]
struct State {
    /// Each group's messages, oldest first. A group is here exactly while its name is in
    /// `ring`; an empty one is removed when a receive comes to it.
    groups: HashMap<String, VecDeque<Entry>>,
    /// The groups with messages, in the order receives look at them.
    ring: VecDeque<String>,
    /// Receipt of each message in flight → its group.
    receipts: HashMap<String, String>,
    dead: VecDeque<Entry>,
    /// Deduplication ids sent within [`DEDUP_WINDOW`], and when; `seen_order` holds them in the
    /// order sent, so the expired ones are dropped from its front (not by a scan of every id on
    /// every send).
    seen: HashMap<String, Instant>,
    seen_order: VecDeque<(Instant, String)>,
    next: u64,
}

impl State {
    fn push(&mut self, e: Entry) {
        match self.groups.get_mut(&e.group) {
            Some(q) => q.push_back(e),
            None => {
                self.ring.push_back(e.group.clone());
                self.groups.insert(e.group.clone(), VecDeque::from([e]));
            }
        }
    }
}

/// Messages staged for a send: entries not yet in the queue, and the deduplication ids they
/// took (given back if the send fails).
pub(crate) struct Staged {
    entries: Vec<Entry>,
    dedups: Vec<String>,
}

impl Staged {
    /// The journal changes that store these messages.
    pub(crate) fn ops(&self) -> Vec<Op> {
        self.entries.iter().map(|e| put(false, e)).collect()
    }
}

#[derive(Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
    /// The store file's writer thread: journal changes share its commits with the store's
    /// writes ([`crate::store::group_commit`]).
    journal: Option<Arc<Writer>>,
}

impl MemoryQueue {
    /// `visibility`: how long a received message stays invisible; `max_receives`: receives after
    /// which a message moves to the dead-letter queue (the redrive policy).
    pub fn new(visibility: Duration, max_receives: u32) -> Self {
        Self { state: Arc::default(), notify: Arc::new(Notify::new()), visibility, max_receives, journal: None }
    }

    /// The same, kept in the file of `store` (an embedded store on a directory): the messages
    /// stored there by an earlier run are queued again, and those of an earlier version's
    /// `queue.redb` beside it are moved in (and that file removed).
    pub fn in_store(store: &EmbeddedTable, visibility: Duration, max_receives: u32) -> QueueResult<Self> {
        let (Some(db), Some(writer)) = (store.file_db(), store.writer()) else {
            return Err(QueueError::Backend("the store is not kept in a file".into()));
        };
        let tx = db.begin_write().map_err(journal_error)?;
        tx.open_table(MAIN).map_err(journal_error)?;
        tx.open_table(DEAD).map_err(journal_error)?;
        tx.commit().map_err(journal_error)?;
        if let Some(dir) = store.dir() {
            let path = dir.join(OLD_FILE);
            move_old_file(&path, &db).map_err(|e| {
                QueueError::Backend(format!(
                    "cannot move the messages of the earlier queue file {} into the store ({e}); move that file aside to start without them",
                    path.display()
                ))
            })?;
        }
        let mut state = State::default();
        let tx = db.begin_read().map_err(journal_error)?;
        let now = Instant::now();
        for (def, dead) in [(MAIN, false), (DEAD, true)] {
            for row in tx.open_table(def).map_err(journal_error)?.iter().map_err(journal_error)? {
                let (seq, value) = row.map_err(journal_error)?;
                let (seq, (group, body)) = (seq.value(), value.value());
                state.next = state.next.max(seq);
                let (group, body) = (group.to_owned(), body.to_owned());
                let e = Entry { seq, id: format!("m{seq}"), body, group, visible_at: now, receipt: None, receive_count: 0 };
                if dead {
                    state.dead.push_back(e);
                } else {
                    state.push(e);
                }
            }
        }
        let mut q = Self::new(visibility, max_receives);
        q.state = Arc::new(Mutex::new(state));
        q.journal = Some(writer);
        Ok(q)
    }

    /// Whether this queue is kept in `store`'s file.
    pub(crate) fn kept_in(&self, store: &EmbeddedTable) -> bool {
        matches!((&self.journal, store.writer()), (Some(a), Some(b)) if Arc::ptr_eq(a, &b))
    }

    /// Writes `ops` to the journal (in the writer's next commit, a sync to disk).
    async fn persist(&self, ops: Vec<Op>) -> QueueResult<()> {
        let Some(writer) = &self.journal else { return Ok(()) };
        if ops.is_empty() {
            return Ok(());
        }
        let run = move |tx: &redb::WriteTransaction| -> Result<(), QueueError> { apply(tx, ops).map_err(journal_error) };
        writer.write(run, |_| false, QueueError::Backend).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::lock(&self.state)
    }

    /// Takes the deduplication ids of `messages` and numbers the new ones; nothing is queued
    /// until [`Self::publish`] (a message within the window of an earlier one is dropped).
    pub(crate) fn stage(&self, messages: Vec<OutMessage>) -> Staged {
        let now = Instant::now();
        let mut staged = Staged { entries: Vec::with_capacity(messages.len()), dedups: Vec::with_capacity(messages.len()) };
        let mut st = self.lock();
        while let Some((at, _)) = st.seen_order.front()
            && now.duration_since(*at) >= DEDUP_WINDOW
        {
            if let Some((at, id)) = st.seen_order.pop_front()
                && st.seen.get(&id) == Some(&at)
            {
                st.seen.remove(&id);
            }
        }
        for m in messages {
            if st.seen.contains_key(&m.dedup) {
                continue;
            }
            st.seen.insert(m.dedup.clone(), now);
            st.seen_order.push_back((now, m.dedup.clone()));
            st.next += 1;
            let seq = st.next;
            staged.entries.push(Entry { seq, id: format!("m{seq}"), body: m.body, group: m.group, visible_at: now, receipt: None, receive_count: 0 });
            staged.dedups.push(m.dedup);
        }
        staged
    }

    /// Queues what was staged (once it is on disk).
    pub(crate) fn publish(&self, staged: Staged) {
        let mut st = self.lock();
        for e in staged.entries {
            st.push(e);
        }
        drop(st);
        self.notify.notify_waiters();
    }

    /// Gives back the deduplication ids of a send that failed.
    pub(crate) fn unstage(&self, staged: Staged) {
        let mut st = self.lock();
        for dedup in &staged.dedups {
            st.seen.remove(dedup);
        }
    }

    /// Ready messages, and the journal changes for those it moved to the dead-letter queue.
    fn take_ready(&self, max: usize) -> (Vec<Received>, Vec<Op>) {
        let now = Instant::now();
        let mut st = self.lock();
        let st = &mut *st;
        let mut out = Vec::new();
        let mut ops = Vec::new();
        for _ in 0..st.ring.len() {
            if out.len() >= max {
                break;
            }
            let Some(name) = st.ring.pop_front() else { break };
            let Some(q) = st.groups.get_mut(&name) else { continue };
            let mut i = 0;
            // The group's ready messages from its front, up to the first one in flight or waiting.
            while i < q.len() && out.len() < max && q[i].visible_at <= now {
                if q[i].receive_count >= self.max_receives {
                    if let Some(dead) = q.remove(i) {
                        if let Some(r) = &dead.receipt {
                            st.receipts.remove(r);
                        }
                        ops.extend([Op::Remove { dead: false, seq: dead.seq }, put(true, &dead)]);
                        st.dead.push_back(dead);
                    }
                    continue;
                }
                st.next += 1;
                let e = &mut q[i];
                e.receive_count += 1;
                e.visible_at = now + self.visibility;
                let receipt = format!("{}#{}", e.id, st.next);
                if let Some(old) = e.receipt.replace(receipt.clone()) {
                    st.receipts.remove(&old);
                }
                st.receipts.insert(receipt.clone(), name.clone());
                out.push(Received { id: e.id.clone(), receipt, body: e.body.clone(), group: e.group.clone(), receive_count: e.receive_count });
                i += 1;
            }
            if q.is_empty() {
                st.groups.remove(&name);
            } else {
                st.ring.push_back(name);
            }
        }
        (out, ops)
    }

    /// Runs `f` on the message in flight under `receipt` (its group's queue and its place).
    fn find<T>(&self, receipt: &str, f: impl FnOnce(&mut VecDeque<Entry>, usize) -> T) -> QueueResult<T> {
        let mut st = self.lock();
        let invalid = || QueueError::Backend("receipt handle is not valid (message deleted or received again)".into());
        let group = st.receipts.get(receipt).cloned().ok_or_else(invalid)?;
        let q = st.groups.get_mut(&group).ok_or_else(invalid)?;
        let i = q.iter().position(|e| e.receipt.as_deref() == Some(receipt)).ok_or_else(invalid)?;
        Ok(f(q, i))
    }
}

/// Which earlier queue file was moved in (its length and modification time, nanoseconds): a
/// crash between the move's commit and the file's removal must not move it in twice.
const MOVED: TableDefinition<&str, (u64, u64)> = TableDefinition::new("moved_queue_file");

/// Moves the messages of an earlier version's queue file into the store's file, marking it moved
/// in the same transaction, then removes it (a file already marked moved is only removed).
fn move_old_file(path: &std::path::Path, db: &redb::Database) -> QueueResult<()> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as u64);
    let stamp = (meta.len(), modified);
    let tx = db.begin_write().map_err(journal_error)?;
    let done = tx.open_table(MOVED).map_err(journal_error)?.get(OLD_FILE).map_err(journal_error)?.map(|v| v.value());
    if done != Some(stamp) {
        let old = redb::Database::create(path).map_err(journal_error)?;
        let read = old.begin_read().map_err(journal_error)?;
        {
            let (mut main, mut dead) = (tx.open_table(MAIN).map_err(journal_error)?, tx.open_table(DEAD).map_err(journal_error)?);
            let mut seq = main.last().map_err(journal_error)?.map(|(k, _)| k.value()).unwrap_or(0);
            seq = seq.max(dead.last().map_err(journal_error)?.map(|(k, _)| k.value()).unwrap_or(0));
            for (def, to) in [(OLD_MAIN, &mut main), (OLD_DEAD, &mut dead)] {
                let table = match read.open_table(def) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => continue,
                    Err(e) => return Err(journal_error(e)),
                };
                for row in table.iter().map_err(journal_error)? {
                    let (_, value) = row.map_err(journal_error)?;
                    seq += 1;
                    to.insert(seq, value.value()).map_err(journal_error)?;
                }
            }
            tx.open_table(MOVED).map_err(journal_error)?.insert(OLD_FILE, stamp).map_err(journal_error)?;
        }
        tx.commit().map_err(journal_error)?;
    }
    // Moved (now or by an earlier start): the file goes. If it cannot be removed now, the next
    // start tries again, and does not move its messages twice.
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(error = %e, file = %path.display(), "the earlier queue file was moved in but could not be removed");
    }
    Ok(())
}

impl MemoryQueue {
    /// Stores staged messages in the file, then queues those `write` says were taken, in order
    /// (and gives back the deduplication ids of the others, or of all if it failed). Run on a
    /// task of its own where the caller may go away midway (a client that hangs up): a message
    /// on disk must be queued in memory too, not only after a restart. `Err` only if that task
    /// itself failed; else the write's own outcome: one `bool` per `staged`, taken or not.
    pub(crate) async fn commit_staged<E: Send + 'static>(
        &self,
        staged: Vec<Staged>,
        write: impl std::future::Future<Output = Result<Vec<bool>, E>> + Send + 'static,
    ) -> Result<Result<Vec<bool>, E>, QueueError> {
        let this = self.clone();
        let run = async move {
            let out = write.await;
            for (i, s) in staged.into_iter().enumerate() {
                match &out {
                    Ok(taken) if taken.get(i) == Some(&true) => this.publish(s),
                    _ => this.unstage(s),
                }
            }
            out
        };
        tokio::spawn(run).await.map_err(|e| QueueError::Backend(format!("send stopped: {e}")))
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutMessage>) -> QueueResult<()> {
        let staged = self.stage(messages);
        if self.journal.is_none() {
            self.publish(staged);
            return Ok(());
        }
        // Stored before it can be received: a send that returned is never lost.
        let (this, ops) = (self.clone(), staged.ops());
        self.commit_staged(vec![staged], async move { this.persist(ops).await.map(|()| vec![true]) }).await?.map(drop)
    }

    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        let deadline = Instant::now() + wait;
        loop {
            let (got, moved) = self.take_ready(max.clamp(1, MAX_BATCH));
            self.persist(moved).await?;
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            // Woken by a send, or re-checked for visibility timeouts that ran out.
            let nap = (deadline - now).min(Duration::from_millis(50));
            let _ = tokio::time::timeout(nap, self.notify.notified()).await;
        }
    }

    async fn delete(&self, receipt: &str) -> QueueResult<()> {
        let gone = self.find(receipt, |q, i| q.remove(i))?;
        // An emptied group stays (and in the ring) until a receive passes it.
        self.lock().receipts.remove(receipt);
        self.notify.notify_waiters(); // the next message of its group may be ready
        self.persist(gone.map(|e| Op::Remove { dead: false, seq: e.seq }).into_iter().collect()).await
    }

    async fn set_visibility(&self, receipt: &str, secs: u32) -> QueueResult<()> {
        let secs = secs.min(MAX_VISIBILITY_SECS);
        self.find(receipt, |q, i| q[i].visible_at = Instant::now() + Duration::from_secs(secs as u64))?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, message: &Received) -> QueueResult<()> {
        let entry = {
            let mut st = self.lock();
            st.next += 1;
            Entry {
                seq: st.next,
                id: message.id.clone(),
                body: message.body.clone(),
                group: message.group.clone(),
                visible_at: Instant::now(),
                receipt: None,
                receive_count: 0,
            }
        };
        self.persist(vec![put(true, &entry)]).await?;
        self.lock().dead.push_back(entry);
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>> {
        let mut st = self.lock();
        let now = Instant::now();
        st.next += 1;
        let stamp = st.next;
        let mut out = Vec::new();
        for e in st.dead.iter_mut().filter(|e| e.visible_at <= now).take(max.clamp(1, MAX_BATCH)) {
            e.receive_count += 1;
            e.visible_at = now + self.visibility;
            let receipt = format!("dead#{}#{stamp}", e.id);
            e.receipt = Some(receipt.clone());
            out.push(Received { id: e.id.clone(), receipt, body: e.body.clone(), group: e.group.clone(), receive_count: e.receive_count });
        }
        Ok(out)
    }

    async fn delete_dead(&self, receipt: &str) -> QueueResult<()> {
        let gone = {
            let mut st = self.lock();
            match st.dead.iter().position(|e| e.receipt.as_deref() == Some(receipt)) {
                Some(i) => st.dead.remove(i),
                None => return Err(QueueError::Backend("receipt handle is not valid".into())),
            }
        };
        self.persist(gone.map(|e| Op::Remove { dead: true, seq: e.seq }).into_iter().collect()).await
    }

    async fn depth(&self) -> QueueResult<Depth> {
        let st = self.lock();
        let now = Instant::now();
        let (mut waiting, mut in_flight) = (0, 0);
        for e in st.groups.values().flatten() {
            if e.receipt.is_some() && e.visible_at > now {
                in_flight += 1;
            } else {
                waiting += 1;
            }
        }
        Ok(Depth { waiting, in_flight, dead: st.dead.len() as u64 })
    }
}
