//! The intake port: a new notification's records (its deliveries, then the notification itself)
//! and the queue messages naming them, taken in together by `POST /api/v1/notify`
//! ([`crate::routing::notify::accept`]).
//!
//! - [`InOrder`] (AWS, and any store with any queue): the messages first, then the records,
//!   the notification last, so a failed request sends nothing (the dispatcher sends a delivery
//!   only once its notification is stored, and drops messages whose records never came).
//! - [`OneCommit`] (the embedded store with the queue kept in its file): all of it in one redb
//!   transaction, one sync to disk, which concurrent requests share (group commit): there is
//!   no order to keep, and nothing of a failed request is written at all.
//!
//! Both are checked by one contract suite (`tests/intake_contract.rs`).

use super::memory::MemoryQueue;
use super::{OutMessage, Queue, QueueError};
use crate::store::embedded::{EmbeddedTable, read_item, write_item};
use crate::store::{Cond, Item, StoreError, Table, check_item, cond_holds};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// `ConditionFailed`: an item has the head's key already.
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

#[async_trait]
pub trait Intake: Send + Sync {
    /// Writes `records` (unconditionally) and `head` (only if no item has its key, else
    /// [`StoreError::ConditionFailed`]), and enqueues `messages` (deduplicated as
    /// [`Queue::send`] does). Once it returns `Ok`, all of it is stored and queued.
    async fn take(&self, messages: Vec<OutMessage>, records: Vec<Item>, head: Item) -> Result<(), IntakeError>;
}

/// How long [`InOrder`]'s writes may take after its messages are queued before they are queued
/// again: well inside the ~31 s its messages wait ([`crate::dispatch::ORPHAN_RECEIVES`]).
pub const LATE_WRITE: Duration = Duration::from_secs(10);

/// Messages first, then `records` (batch writes), then `head`. Writes slower than
/// [`LATE_WRITE`] queue the messages again under new deduplication ids (their first copies may
/// have given up waiting; a copy that finds its delivery moved on does nothing).
pub struct InOrder {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
}

#[async_trait]
impl Intake for InOrder {
    async fn take(&self, messages: Vec<OutMessage>, records: Vec<Item>, head: Item) -> Result<(), IntakeError> {
        let again = messages.clone();
        self.queue.send(messages).await?;
        let queued = Instant::now();
        if !records.is_empty() {
            self.table.put_many(records).await?;
        }
        self.table.put(head, Cond::Absent).await?;
        if queued.elapsed() >= LATE_WRITE {
            let again = again.into_iter().map(|m| OutMessage { dedup: format!("{}-late", m.dedup), ..m }).collect();
            self.queue.send(again).await?;
        }
        Ok(())
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
    async fn take(&self, messages: Vec<OutMessage>, records: Vec<Item>, head: Item) -> Result<(), IntakeError> {
        records.iter().chain([&head]).try_for_each(check_item)?;
        let Some(writer) = self.table.writer() else { return Err(StoreError::Backend("the store is not kept in a file".into()).into()) };
        let staged = self.queue.stage(messages);
        let ops = staged.ops();
        let write = move |tx: &redb::WriteTransaction| -> Result<(), StoreError> {
            if !cond_holds(Cond::Absent, read_item(tx, &head.pk, &head.sk)?.as_ref()) {
                return Err(StoreError::ConditionFailed);
            }
            records.iter().chain([&head]).try_for_each(|item| write_item(tx, item))?;
            super::memory::apply(tx, ops).map_err(|e| StoreError::Backend(format!("queue: {e}")))
        };
        // Queued in memory once committed, even if the caller goes away meanwhile.
        let committed = async move { writer.write(write, |e| matches!(e, StoreError::ConditionFailed), StoreError::Backend).await };
        Ok(self.queue.commit_staged(staged, committed).await??)
    }
}
