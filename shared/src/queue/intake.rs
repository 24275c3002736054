//! The intake port: new notifications' records (their deliveries, then each notification
//! itself, with its idempotency key if it has one) and the queue messages naming them, taken in
//! together by `POST /api/v1/notify` ([`crate::routing::notify::accept_all`]), one call for a
//! whole batch, its entries in the order given.
//!
//! - [`InOrder`] (AWS, and any store with any queue): each entry's claim on its idempotency key
//!   first, then all the messages (in order: SQS FIFO keeps a group's order across the batch),
//!   then all the records, then each entry's notification, so a failed request sends nothing
//!   (the dispatcher sends a delivery only once its notification is stored, and drops messages
//!   whose records never came).
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
    /// `ConditionFailed`: an entry's claim's or one of its heads' conditions did not hold.
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
    /// Written first, only if its condition holds (an idempotency key's record, absent or
    /// expired): nothing else of the entry is queued or written unless it is.
    pub claim: Option<(Item, Cond)>,
    /// Enqueued (deduplicated as [`Queue::send`] does) once the entry is taken.
    pub messages: Vec<OutMessage>,
    /// Written unconditionally (the deliveries kept in records of their own, when their ids
    /// are new: a notification just made).
    pub records: Vec<Item>,
    /// Each written only if its condition holds, in order, last (the notification, absent;
    /// before it, a reminder's delivery records, absent too: its ids come from its key, so
    /// another run may be taking the same one).
    /// [`OneCommit`] writes the claim, the records and the heads all or none; [`InOrder`] one
    /// after another, so a failure after the claim leaves it naming nothing
    /// ([`crate::store::repo::Keyed::Unfinished`]).
    pub heads: Heads,
}

/// The answer to each entry, in order: `Ok` (stored and queued) or its own error
/// (`StoreError::ConditionFailed`: its claim's or a head's condition did not hold). An outer error: nothing was
/// taken (or, [`InOrder`], only messages and records that wait for heads that never come).
pub type Taken = Result<Vec<Result<(), IntakeError>>, IntakeError>;

#[async_trait]
pub trait Intake: Send + Sync {
    /// Takes `entries` in their order: a message of a later entry is never received before one
    /// of an earlier entry in the same group.
    async fn take_all(&self, entries: Vec<Entry>) -> Taken;

    /// One entry whose only head is `head` (absent): [`Self::take_all`].
    async fn take(&self, messages: Vec<OutMessage>, records: Vec<Item>, head: Item) -> Result<(), IntakeError> {
        let entry = Entry { claim: None, messages, records, heads: vec![(head, Cond::Absent)] };
        self.take_all(vec![entry]).await?.pop().unwrap_or(Ok(()))
    }
}

/// How long [`InOrder`]'s writes may take after its messages are queued before they are queued
/// again: well inside the ~31 s its messages wait ([`crate::dispatch::ORPHAN_RECEIVES`]).
pub const LATE_WRITE: Duration = Duration::from_secs(10);

/// How long after its claim [`InOrder`] may still write an entry's heads: half of
/// [`crate::store::repo::KEY_TAKEOVER`], so a claim is never taken over by another request
/// while this one may still finish.
pub const CLAIM_HOLD: Duration = Duration::from_secs(30);

/// Each entry's claim first (the entries at once; a refused one ends its entry there), then all
/// the messages of the others (one [`Queue::send`]), then all their records (batch writes),
/// then each one's heads (conditional puts, one after another; the entries at once), unless
/// [`CLAIM_HOLD`] has passed since the claims. A claim whose entry then fails is given back.
/// Writes slower than [`LATE_WRITE`] queue the taken entries' messages again under new
/// deduplication ids (their first copies may have given up waiting; a copy that finds its
/// delivery moved on does nothing).
pub struct InOrder {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
}

impl InOrder {
    /// Gives back an entry's claim that names nothing (its heads were not written), if it is
    /// still this one's; best effort: one left behind is taken over after
    /// [`crate::store::repo::KEY_TAKEOVER`].
    async fn release(&self, e: &Entry) {
        let Some((item, _)) = &e.claim else { return };
        if let Err(err) = self.table.delete(&item.pk, &item.sk, Cond::Rev(item.rev)).await {
            tracing::warn!(error = %err, "an idempotency key left naming nothing; it is taken over later");
        }
    }

    /// One after another, stopping at the first refused.
    async fn heads(&self, heads: Heads, claimed: Instant) -> Result<(), IntakeError> {
        if claimed.elapsed() >= CLAIM_HOLD {
            return Err(StoreError::Backend("the store took too long; nothing was sent, try again".into()).into());
        }
        for (item, cond) in heads {
            self.put_own(item, cond).await?;
        }
        Ok(())
    }

    /// A conditional put that counts as done when the item found is this very write: the
    /// SDK retries a write whose answer was lost, and the retry's condition then fails against
    /// the first try, which landed.
    async fn put_own(&self, item: Item, cond: Cond) -> Result<(), StoreError> {
        let (pk, sk, data, rev) = (item.pk.clone(), item.sk.clone(), item.data.clone(), item.rev);
        match self.table.put(item, cond).await {
            Err(StoreError::ConditionFailed) => match self.table.get(&pk, &sk).await? {
                Some(found) if found.data == data && found.rev == rev => Ok(()),
                _ => Err(StoreError::ConditionFailed),
            },
            other => other,
        }
    }
}

#[async_trait]
impl Intake for InOrder {
    async fn take_all(&self, entries: Vec<Entry>) -> Taken {
        let claims: Vec<Result<(), IntakeError>> = join_all(entries.iter().map(|e| async move {
            match &e.claim {
                Some((item, cond)) => Ok(self.put_own(item.clone(), *cond).await?),
                None => Ok(()),
            }
        }))
        .await;
        let claimed = Instant::now();
        let go: Vec<&Entry> = entries.iter().zip(&claims).filter(|(_, c)| c.is_ok()).map(|(e, _)| e).collect();
        let messages: Vec<OutMessage> = go.iter().flat_map(|e| e.messages.iter().cloned()).collect();
        let records: Vec<Item> = go.iter().flat_map(|e| e.records.iter().cloned()).collect();
        let sent = self.queue.send(messages).await.map_err(IntakeError::from);
        let queued = Instant::now();
        let stored = match sent {
            Ok(()) if !records.is_empty() => self.table.put_many(records).await.map_err(IntakeError::from),
            other => other,
        };
        if let Err(e) = stored {
            // The keys go back, so a retry need not wait for the takeover.
            join_all(go.iter().map(|e| self.release(e))).await;
            return Err(e);
        }
        let heads = entries.iter().zip(claims).map(|(e, claim)| async move {
            claim?;
            let out = self.heads(e.heads.clone(), claimed).await;
            if out.is_err() {
                self.release(e).await;
            }
            out
        });
        let out: Vec<Result<(), IntakeError>> = join_all(heads).await;
        if queued.elapsed() >= LATE_WRITE {
            let again: Vec<OutMessage> = entries
                .into_iter()
                .zip(&out)
                .filter(|(_, r)| r.is_ok())
                .flat_map(|(e, _)| e.messages)
                .map(|m| OutMessage { dedup: format!("{}-late", m.dedup), ..m })
                .collect();
            // The first copies are queued and the entries stored: this answers no differently.
            if let Err(e) = self.queue.send(again).await {
                tracing::warn!(error = %e, "the late copies of taken messages were not queued");
            }
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
        entries.iter().flat_map(|e| e.records.iter().chain(e.claim.iter().chain(&e.heads).map(|(h, _)| h))).try_for_each(check_item)?;
        let Some(writer) = self.table.writer() else { return Err(StoreError::Backend("the store is not kept in a file".into()).into()) };
        let staged: Vec<_> = entries.iter().map(|e| self.queue.stage(e.messages.clone())).collect();
        let ops: Vec<_> = staged.iter().map(|s| s.ops()).collect();
        // Each entry sees the ones before it (a key repeated in the batch is refused).
        let write = move |tx: &redb::WriteTransaction| -> Result<Vec<bool>, StoreError> {
            let mut taken = Vec::with_capacity(entries.len());
            for (e, ops) in entries.into_iter().zip(ops) {
                let mut holds = true;
                for (h, cond) in e.claim.iter().chain(&e.heads) {
                    holds &= cond_holds(*cond, read_item(tx, &h.pk, &h.sk)?.as_ref());
                }
                if holds {
                    let heads = e.claim.iter().chain(&e.heads).map(|(h, _)| h);
                    e.records.iter().chain(heads).try_for_each(|item| write_item(tx, item))?;
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
