//! The in-process adapter: SQS FIFO semantics (groups, visibility, five-minute deduplication,
//! redrive to the dead-letter queue after `max_receives`) in memory, for the local runner and
//! tests. Messages do not survive a restart of the process.

use super::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

const DEDUP_WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Entry {
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
    seen: HashMap<String, Instant>,
    next: u64,
}

#[derive(Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    visibility: Duration,
    max_receives: u32,
}

impl MemoryQueue {
    /// `visibility`: how long a received message stays invisible; `max_receives`: receives after
    /// which a message moves to the dead-letter queue (the redrive policy).
    pub fn new(visibility: Duration, max_receives: u32) -> Self {
        Self { state: Arc::default(), notify: Arc::new(Notify::new()), visibility, max_receives }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_ready(&self, max: usize) -> Vec<Received> {
        let now = Instant::now();
        let mut st = self.lock();
        let st = &mut *st;
        let mut blocked = HashSet::new();
        let mut out = Vec::new();
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
        out
    }

    fn find(&self, receipt: &str, f: impl FnOnce(&mut VecDeque<Entry>, usize)) -> QueueResult<()> {
        let mut st = self.lock();
        match st.main.iter().position(|e| e.receipt.as_deref() == Some(receipt)) {
            Some(i) => {
                f(&mut st.main, i);
                Ok(())
            }
            None => Err(QueueError::Backend("receipt handle is not valid (message deleted or received again)".into())),
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, messages: Vec<OutMessage>) -> QueueResult<()> {
        let now = Instant::now();
        {
            let mut st = self.lock();
            st.seen.retain(|_, t| now.duration_since(*t) < DEDUP_WINDOW);
            for m in messages {
                if st.seen.contains_key(&m.dedup) {
                    continue;
                }
                st.seen.insert(m.dedup.clone(), now);
                st.next += 1;
                let id = format!("m{}", st.next);
                st.main.push_back(Entry { id, body: m.body, group: m.group, visible_at: now, receipt: None, receive_count: 0 });
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        let deadline = Instant::now() + wait;
        loop {
            let got = self.take_ready(max.clamp(1, MAX_BATCH));
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
        self.find(receipt, |q, i| {
            q.remove(i);
        })
    }

    async fn set_visibility(&self, receipt: &str, secs: u32) -> QueueResult<()> {
        let secs = secs.min(MAX_VISIBILITY_SECS);
        self.find(receipt, |q, i| q[i].visible_at = Instant::now() + Duration::from_secs(secs as u64))?;
        self.notify.notify_waiters();
        Ok(())
    }

    async fn dead_letter(&self, message: &Received) -> QueueResult<()> {
        let mut st = self.lock();
        st.dead.push_back(Entry {
            id: message.id.clone(),
            body: message.body.clone(),
            group: message.group.clone(),
            visible_at: Instant::now(),
            receipt: None,
            receive_count: 0,
        });
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
        let mut st = self.lock();
        match st.dead.iter().position(|e| e.receipt.as_deref() == Some(receipt)) {
            Some(i) => {
                st.dead.remove(i);
                Ok(())
            }
            None => Err(QueueError::Backend("receipt handle is not valid".into())),
        }
    }

    async fn depth(&self) -> QueueResult<Depth> {
        let st = self.lock();
        let now = Instant::now();
        let in_flight = st.main.iter().filter(|e| e.receipt.is_some() && e.visible_at > now).count() as u64;
        Ok(Depth { waiting: st.main.len() as u64 - in_flight, in_flight, dead: st.dead.len() as u64 })
    }
}
