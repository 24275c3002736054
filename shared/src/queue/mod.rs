//! The queue port: a FIFO queue of jobs with message groups, visibility changes and a
//! dead-letter queue. On AWS it is an SQS FIFO queue (group = one recipient chat, so messages to
//! one chat keep their order and only one is in flight at a time); locally it is in-process,
//! kept in the embedded store's file. [`intake`] writes a new notification's records and its
//! messages together.

pub mod intake;
pub mod job;
pub mod memory;
pub mod sqs;

use async_trait::async_trait;
use std::time::Duration;

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    pub body: String,
    /// FIFO message group: messages of one group are delivered in order, one batch at a time.
    pub group: String,
    /// Deduplication id: a second send with the same id within five minutes is dropped.
    pub dedup: String,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub receipt: String,
    pub body: String,
    pub group: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// Approximate numbers of messages, for `/status` and the operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Depth {
    pub waiting: u64,
    pub in_flight: u64,
    pub dead: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{failed} of {total} messages could not be enqueued: {reason}")]
    Partial { failed: usize, total: usize, reason: String },
    #[error("queue unavailable: {0}")]
    Backend(String),
}

pub type QueueResult<T> = Result<T, QueueError>;

/// SQS limits, kept by both adapters.
pub const MAX_BATCH: usize = 10;
pub const MAX_VISIBILITY_SECS: u32 = 12 * 60 * 60;

#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues messages, in batches of ten; entries that fail are retried, and what still fails
    /// is reported as [`QueueError::Partial`].
    async fn send(&self, messages: Vec<OutMessage>) -> QueueResult<()>;

    /// Receives up to `max` (≤ 10) messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>>;

    /// Acknowledges a message: it will not be delivered again.
    async fn delete(&self, receipt: &str) -> QueueResult<()>;

    /// Makes a received message visible again after `secs` (0 = now).
    async fn set_visibility(&self, receipt: &str, secs: u32) -> QueueResult<()>;

    /// Puts a copy of the message on the dead-letter queue; the caller acknowledges the original.
    async fn dead_letter(&self, message: &Received) -> QueueResult<()>;

    /// Receives up to `max` (≤ 10) messages from the dead-letter queue (to redrive them).
    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>>;

    /// Removes a message from the dead-letter queue.
    async fn delete_dead(&self, receipt: &str) -> QueueResult<()>;

    async fn depth(&self) -> QueueResult<Depth>;
}

impl From<QueueError> for crate::domain::Error {
    fn from(e: QueueError) -> Self {
        Self::Unavailable(e.to_string())
    }
}
