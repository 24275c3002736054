//! The in-process adapter: SQS FIFO semantics (groups, visibility, five-minute deduplication,
//! redrive to the dead-letter queue after `max_receives`) in memory, for the local runner and
//! tests. Opened on a directory ([`MemoryQueue::open`]), it also keeps its messages in a redb
//! file there, so what was queued survives a restart (receive counts and the deduplication
//! window start afresh; the dispatcher's delivery states keep a redelivered message from being
//! sent twice).

use super::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

const DEDUP_WINDOW: Duration = Duration::from_secs(300);
/// Sequence number → (group, body), in the order sent.
const MAIN: TableDefinition<u64, (&str, &str)> = TableDefinition::new("main");
const DEAD: TableDefinition<u64, (&str, &str)> = TableDefinition::new("dead");
const FILE: &str = "queue.redb";

/// A change to the journal: a message stored or removed, on the main or the dead-letter queue.
enum Op {
    Put { dead: bool, seq: u64, group: String, body: String },
    Remove { dead: bool, seq: u64 },
}

fn put(dead: bool, e: &Entry) -> Op {
    Op::Put { dead, seq: e.seq, group: e.group.clone(), body: e.body.clone() }
}

/// Applies journal changes in `tx`.
fn apply(tx: &redb::WriteTransaction, ops: Vec<Op>) -> Result<(), redb::Error> {
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
    main: VecDeque<Entry>,
    dead: VecDeque<Entry>,
    /// Deduplication ids sent within [`DEDUP_WINDOW`], and when; `seen_order` holds them in the
    /// order sent, so the expired ones are dropped from its front (not by a scan of every id on
    /// every send).
    seen: HashMap<String, Instant>,
    seen_order: VecDeque<(Instant, String)>,
    next: u64,
}

#[derive(Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
    /// The file's writer thread: journal changes of concurrent sends, receives and deletes
    /// share one commit ([`crate::store::group_commit`]).
    journal: Option<Arc<crate::store::group_commit::Writer>>,
}

impl MemoryQueue {
    /// `visibility`: how long a received message stays invisible; `max_receives`: receives after
    /// which a message moves to the dead-letter queue (the redrive policy).
    pub fn new(visibility: Duration, max_receives: u32) -> Self {
        Self { state: Arc::default(), notify: Arc::new(Notify::new()), visibility, max_receives, journal: None }
    }

    /// The same, kept in `dir`: the messages stored there by an earlier run are queued again.
    pub fn open(dir: &Path, visibility: Duration, max_receives: u32) -> QueueResult<Self> {
        std::fs::create_dir_all(dir).map_err(journal_error)?;
        let db = Database::create(dir.join(FILE)).map_err(journal_error)?;
        let tx = db.begin_write().map_err(journal_error)?;
        tx.open_table(MAIN).map_err(journal_error)?;
        tx.open_table(DEAD).map_err(journal_error)?;
        tx.commit().map_err(journal_error)?;
        let mut state = State::default();
        let tx = db.begin_read().map_err(journal_error)?;
        let now = Instant::now();
        for (def, queue) in [(MAIN, &mut state.main), (DEAD, &mut state.dead)] {
            for row in tx.open_table(def).map_err(journal_error)?.iter().map_err(journal_error)? {
                let (seq, value) = row.map_err(journal_error)?;
                let (seq, (group, body)) = (seq.value(), value.value());
                state.next = state.next.max(seq);
                let (group, body) = (group.to_owned(), body.to_owned());
                queue.push_back(Entry { seq, id: format!("m{seq}"), body, group, visible_at: now, receipt: None, receive_count: 0 });
            }
        }
        let mut q = Self::new(visibility, max_receives);
        q.state = Arc::new(Mutex::new(state));
        q.journal = Some(Arc::new(crate::store::group_commit::Writer::start(Arc::new(db), "queue-writer").map_err(journal_error)?));
        Ok(q)
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

    /// Ready messages, and the journal changes for those it moved to the dead-letter queue.
    fn take_ready(&self, max: usize) -> (Vec<Received>, Vec<Op>) {
        let now = Instant::now();
        let mut st = self.lock();
        let st = &mut *st;
        let mut blocked = HashSet::new();
        let mut out = Vec::new();
        let mut ops = Vec::new();
        let mut i = 0;
        while i < st.main.len() && out.len() < max {
            let e = &mut st.main[i];
            if blocked.contains(&e.group) {
                i += 1;
                continue;
            }
            if e.visible_at > now {
                blocked.insert(e.group.clone());
                i += 1;
                continue;
            }
            if e.receive_count >= self.max_receives {
                if let Some(dead) = st.main.remove(i) {
                    ops.extend([Op::Remove { dead: false, seq: dead.seq }, put(true, &dead)]);
                    st.dead.push_back(dead);
                }
                continue;
            }
            st.next += 1;
            e.receive_count += 1;
            e.visible_at = now + self.visibility;
            let receipt = format!("{}#{}", e.id, st.next);
            e.receipt = Some(receipt.clone());
            out.push(Received { id: e.id.clone(), receipt, body: e.body.clone(), group: e.group.clone(), receive_count: e.receive_count });
            i += 1;
        }
        (out, ops)
    }

    fn find<T>(&self, receipt: &str, f: impl FnOnce(&mut VecDeque<Entry>, usize) -> T) -> QueueResult<T> {
        let mut st = self.lock();
        match st.main.iter().position(|e| e.receipt.as_deref() == Some(receipt)) {
            Some(i) => Ok(f(&mut st.main, i)),
            None => Err(QueueError::Backend("receipt handle is not valid (message deleted or received again)".into())),
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutMessage>) -> QueueResult<()> {
        let now = Instant::now();
        let mut fresh = Vec::with_capacity(messages.len());
        {
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
                let entry = Entry { seq, id: format!("m{seq}"), body: m.body, group: m.group, visible_at: now, receipt: None, receive_count: 0 };
                fresh.push((m.dedup, entry));
            }
        }
        // Stored before it can be received: a send that returned is never lost.
        if let Err(e) = self.persist(fresh.iter().map(|(_, e)| put(false, e)).collect()).await {
            let mut st = self.lock();
            for (dedup, _) in &fresh {
                st.seen.remove(dedup);
            }
            return Err(e);
        }
        self.lock().main.extend(fresh.into_iter().map(|(_, e)| e));
        self.notify.notify_waiters();
        Ok(())
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
        let in_flight = st.main.iter().filter(|e| e.receipt.is_some() && e.visible_at > now).count() as u64;
        Ok(Depth { waiting: st.main.len() as u64 - in_flight, in_flight, dead: st.dead.len() as u64 })
    }
}
