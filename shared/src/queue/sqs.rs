//! The SQS adapter: a FIFO queue and its FIFO dead-letter queue.

use super::*;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use futures_util::future::join_all;
use std::collections::HashMap;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dlq_url: String,
}

const SEND_RETRIES: usize = 3;
/// Send batches in flight at once.
const CONCURRENCY: usize = 8;

fn backend<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> QueueError {
    QueueError::Backend(match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => aws_sdk_sqs::error::DisplayErrorContext(&e).to_string().chars().take(300).collect(),
    })
}

fn invalid(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        Self { client, url: url.into(), dlq_url: dlq_url.into() }
    }

    /// The queue's and the dead-letter queue's URLs.
    pub fn urls(&self) -> (&str, &str) {
        (&self.url, &self.dlq_url)
    }

    /// Creates `name.fifo` and its dead-letter queue `name-dlq.fifo` if missing (for the emulator
    /// and `herald-local` on the aws backend; on AWS the SAM template creates them) and returns
    /// the adapter.
    pub async fn ensure(client: Client, name: &str, visibility_secs: u32, max_receives: u32) -> QueueResult<Self> {
        let dlq = client
            .create_queue()
            .queue_name(format!("{name}-dlq.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
            .send()
            .await
            .map_err(backend)?;
        let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
        let attrs = client.get_queue_attributes().queue_url(&dlq_url).attribute_names(QueueAttributeName::QueueArn).send().await.map_err(backend)?;
        let dlq_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string();
        let main = client
            .create_queue()
            .queue_name(format!("{name}.fifo"))
            .attributes(QueueAttributeName::FifoQueue, "true")
            .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .map_err(backend)?;
        Ok(Self::new(client, main.queue_url().unwrap_or_default(), dlq_url))
    }

    /// Sends batches of ten, several at once: batches go in waves of up to [`CONCURRENCY`], and a
    /// batch sharing a message group with one in the current wave waits for the next wave, so
    /// every group keeps its order. Entries SQS refuses for a passing reason are retried.
    async fn send_to(&self, url: &str, messages: Vec<OutMessage>) -> QueueResult<()> {
        let total = messages.len();
        let mut failed = 0;
        let mut reason = String::new();
        let mut wave: Vec<&[OutMessage]> = Vec::new();
        let mut groups: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut chunks = messages.chunks(MAX_BATCH).peekable();
        while let Some(chunk) = chunks.next() {
            wave.push(chunk);
            groups.extend(chunk.iter().map(|m| m.group.as_str()));
            let next_overlaps = chunks.peek().is_some_and(|c| c.iter().any(|m| groups.contains(m.group.as_str())));
            if wave.len() == CONCURRENCY || next_overlaps || chunks.peek().is_none() {
                for (f, r) in join_all(wave.drain(..).map(|c| self.send_batch(url, c))).await {
                    failed += f;
                    if !r.is_empty() {
                        reason = r;
                    }
                }
                groups.clear();
            }
        }
        if failed > 0 {
            return Err(QueueError::Partial { failed, total, reason });
        }
        Ok(())
    }

    /// One SendMessageBatch, with retries of what failed for a passing reason: (failed, reason).
    async fn send_batch(&self, url: &str, chunk: &[OutMessage]) -> (usize, String) {
        let mut failed = 0;
        let mut reason = String::new();
        let mut pending: Vec<(usize, &OutMessage)> = chunk.iter().enumerate().collect();
        for attempt in 0..=SEND_RETRIES {
            if pending.is_empty() {
                break;
            }
            let entries = match pending
                .iter()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&m.body)
                        .message_group_id(&m.group)
                        .message_deduplication_id(&m.dedup)
                        .build()
                        .map_err(invalid)
                })
                .collect::<QueueResult<Vec<_>>>()
            {
                Ok(e) => e,
                Err(e) => return (failed + pending.len(), e.to_string()),
            };
            let out = match self.client.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
                Ok(out) => out,
                Err(e) => {
                    reason = backend(e).to_string();
                    if attempt == SEND_RETRIES {
                        return (failed + pending.len(), reason);
                    }
                    continue;
                }
            };
            let retry: Vec<usize> = out
                .failed()
                .iter()
                .filter_map(|f| {
                    reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    // A sender fault (bad entry) will fail the same way again.
                    if f.sender_fault() {
                        failed += 1;
                        None
                    } else {
                        f.id().parse().ok()
                    }
                })
                .collect();
            pending.retain(|(i, _)| retry.contains(i));
        }
        (failed + pending.len(), reason)
    }

    async fn count(&self, url: &str) -> QueueResult<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(backend)?;
        let get = |n: &QueueAttributeName| out.attributes().and_then(|a| a.get(n)).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((get(&QueueAttributeName::ApproximateNumberOfMessages), get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)))
    }

    async fn receive_from(&self, url: &str, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, MAX_BATCH) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(backend)?;
        Ok(out
            .messages()
            .iter()
            .map(|m| {
                let attrs: HashMap<_, _> = m.attributes().cloned().unwrap_or_default();
                Received {
                    id: m.message_id().unwrap_or_default().to_owned(),
                    receipt: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group: attrs.get(&MessageSystemAttributeName::MessageGroupId).cloned().unwrap_or_default(),
                    receive_count: attrs.get(&MessageSystemAttributeName::ApproximateReceiveCount).and_then(|c| c.parse().ok()).unwrap_or(1),
                }
            })
            .collect())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<OutMessage>) -> QueueResult<()> {
        self.send_to(&self.url, messages).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        self.receive_from(&self.url, max, wait).await
    }

    async fn delete(&self, receipt: &str) -> QueueResult<()> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(backend)?;
        Ok(())
    }

    async fn set_visibility(&self, receipt: &str, secs: u32) -> QueueResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(secs.min(MAX_VISIBILITY_SECS) as i32)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn dead_letter(&self, message: &Received) -> QueueResult<()> {
        let copy = OutMessage { body: message.body.clone(), group: message.group.clone(), dedup: message.id.clone() };
        self.send_to(&self.dlq_url, vec![copy]).await
    }

    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>> {
        self.receive_from(&self.dlq_url, max, Duration::ZERO).await
    }

    async fn delete_dead(&self, receipt: &str) -> QueueResult<()> {
        self.client.delete_message().queue_url(&self.dlq_url).receipt_handle(receipt).send().await.map_err(backend)?;
        Ok(())
    }

    async fn depth(&self) -> QueueResult<Depth> {
        let (waiting, in_flight) = self.count(&self.url).await?;
        let (dead, dead_in_flight) = self.count(&self.dlq_url).await?;
        Ok(Depth { waiting, in_flight, dead: dead + dead_in_flight })
    }
}
