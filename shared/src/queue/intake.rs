//! The intake port: new notifications' records (their deliveries, then each notification
//! itself, with its idempotency key if it has one) and the queue messages naming them, taken in
//! together by `POST /api/v1/notify` ([`crate::routing::notify::accept_all`]), one call for a
//! whole batch, its entries in the order given.
//!
//! - [`InOrder`] (AWS, and any store with any queue): all the messages first (in order: SQS
//!   FIFO keeps a group's order across the batch), then all the records, then each entry's
//!   heads (its idempotency key, then the notification), so a failed request sends nothing (the dispatcher sends a delivery only once its
//!   notification is stored, and drops messages whose records never came).
//! - [`OneCommit`] (the embedded store with the queue kept in its file): all of it in one redb
//!   transaction, one sync to disk, which concurrent requests share (group commit): there is
//!   no order to keep, and nothing of a refused entry is written at all.
//!
//! Both are checked by one contract suite (`tests/intake_contract.rs`).

use super::memory::MemoryQueue;
use super::{OutMessage, Queue, QueueError};
use crate::store::embedded::{EmbeddedTable, read_item, write_item};
use crate::store::{Cond, Heads, Item, StoreError, Table, check_item, cond_holds};
use async_trait::async_trait;
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// `ConditionFailed`: one of an entry's heads' conditions did not hold.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IntakeError> for crate::domain::Error {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::Queue(e) => e.into(),
            IntakeError::Store(e) => e.into(),
        }
    }
}

/// One notification's part of an intake.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Enqueued (deduplicated as [`Queue::send`] does) once the entry is taken.
    pub messages: Vec<OutMessage>,
    /// Written unconditionally (the deliveries).
    pub records: Vec<Item>,
    /// Each written only if its condition holds, in order (an idempotency key's record, then
    /// the notification): [`OneCommit`] writes all or none of them; [`InOrder`] writes them one
    /// after another and stops at the first refused (so a failure between two leaves the first).
    pub heads: Heads,
}

/// The answer to each entry, in order: `Ok` (stored and queued) or its own error
/// (`StoreError::ConditionFailed`: a head's condition did not hold). An outer error: nothing was
/// taken (or, [`InOrder`], only messages and records that wait for heads that never come).
pub type Taken = Result<Vec<Result<(), IntakeError>>, IntakeError>;

#[async_trait]
pub trait Intake: Send + Sync {
    /// Takes `entries` in their order: a message of a later entry is never received before one
    /// of an earlier entry in the same group.
    async fn take_all(&self, entries: Vec<Entry>) -> Taken;

    /// One entry whose only head is `head` (absent): [`Self::take_all`].
    async fn take(&self, messages: Vec<OutMessage>, records: Vec<Item>, head: Item) -> Result<(), IntakeError> {
        let entry = Entry { messages, records, heads: vec![(head, Cond::Absent)] };
        self.take_all(vec![entry]).await?.pop().unwrap_or(Ok(()))
    }
}

/// How long [`InOrder`]'s writes may take after its messages are queued before they are queued
/// again: well inside the ~31 s its messages wait ([`crate::dispatch::ORPHAN_RECEIVES`]).
pub const LATE_WRITE: Duration = Duration::from_secs(10);

/// All the messages first (one [`Queue::send`]), then all the records (batch writes), then each
/// entry's heads (conditional puts, one after another; the entries at once). Writes
/// slower than [`LATE_WRITE`] queue the taken entries' messages again under new deduplication
/// ids (their first copies may have given up waiting; a copy that finds its delivery moved on
/// does nothing).
pub struct InOrder {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
}

impl InOrder {
    /// One after another, stopping at the first refused.
    async fn heads(&self, heads: Heads) -> Result<(), IntakeError> {
        for (item, cond) in heads {
            self.table.put(item, cond).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Intake for InOrder {
    async fn take_all(&self, entries: Vec<Entry>) -> Taken {
        let messages: Vec<OutMessage> = entries.iter().flat_map(|e| e.messages.iter().cloned()).collect();
        self.queue.send(messages).await?;
        let queued = Instant::now();
        let records: Vec<Item> = entries.iter().flat_map(|e| e.records.iter().cloned()).collect();
        if !records.is_empty() {
            self.table.put_many(records).await?;
        }
        let (messages, heads): (Vec<_>, Vec<_>) = entries.into_iter().map(|e| (e.messages, e.heads)).unzip();
        let out = join_all(heads.into_iter().map(|h| self.heads(h))).await;
        if queued.elapsed() >= LATE_WRITE {
            let again = messages
                .into_iter()
                .zip(&out)
                .filter(|(_, r)| r.is_ok())
                .flat_map(|(m, _)| m)
                .map(|m| OutMessage { dedup: format!("{}-late", m.dedup), ..m })
                .collect();
            self.queue.send(again).await?;
        }
        Ok(out)
    }
}

/// All in one transaction of the store's file: the queue must be kept in it
/// ([`MemoryQueue::in_store`]).
pub struct OneCommit {
    table: EmbeddedTable,
    queue: MemoryQueue,
}

impl OneCommit {
    /// `None` unless `queue` is kept in `table`'s file.
    pub fn new(table: EmbeddedTable, queue: MemoryQueue) -> Option<Self> {
        queue.kept_in(&table).then_some(Self { table, queue })
    }
}

#[async_trait]
impl Intake for OneCommit {
    async fn take_all(&self, entries: Vec<Entry>) -> Taken {
        entries.iter().flat_map(|e| e.records.iter().chain(e.heads.iter().map(|(h, _)| h))).try_for_each(check_item)?;
        let Some(writer) = self.table.writer() else { return Err(StoreError::Backend("the store is not kept in a file".into()).into()) };
        let staged: Vec<_> = entries.iter().map(|e| self.queue.stage(e.messages.clone())).collect();
        let ops: Vec<_> = staged.iter().map(|s| s.ops()).collect();
        // Each entry sees the ones before it (a key repeated in the batch is refused).
        let write = move |tx: &redb::WriteTransaction| -> Result<Vec<bool>, StoreError> {
            let mut taken = Vec::with_capacity(entries.len());
            for (e, ops) in entries.into_iter().zip(ops) {
                let mut holds = true;
                for (h, cond) in &e.heads {
                    holds &= cond_holds(*cond, read_item(tx, &h.pk, &h.sk)?.as_ref());
                }
                if holds {
                    e.records.iter().chain(e.heads.iter().map(|(h, _)| h)).try_for_each(|item| write_item(tx, item))?;
                    super::memory::apply(tx, ops).map_err(|e| StoreError::Backend(format!("queue: {e}")))?;
                }
                taken.push(holds);
            }
            Ok(taken)
        };
        // Queued in memory once committed, even if the caller goes away meanwhile.
        let committed = async move { writer.write(write, |_| false, StoreError::Backend).await };
        let taken = self.queue.commit_staged(staged, committed).await??;
        Ok(taken.into_iter().map(|t| if t { Ok(()) } else { Err(StoreError::ConditionFailed.into()) }).collect())
    }
}
