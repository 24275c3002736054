//! Test support: the emulator connection, adapters made fresh per test, and (in [`servers`])
//! local HTTP servers that behave like the chat platforms' APIs.

#![allow(clippy::unwrap_used)]

use herald::queue::memory::MemoryQueue;
use herald::queue::sqs::SqsQueue;
use herald::store::dynamo::DynamoTable;
use herald::store::embedded::EmbeddedTable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The DynamoDB / SQS emulator's endpoint (`HERALD_TEST_EMULATOR`, set by the test command).
/// Absent, emulator tests skip themselves, unless `HERALD_REQUIRE_EMULATOR` (also set by the
/// test command, and by CI) says they must run: then they fail.
pub fn emulator() -> Option<String> {
    match std::env::var("HERALD_TEST_EMULATOR") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HERALD_REQUIRE_EMULATOR").is_some() || std::env::var_os("CI").is_some() => {
            panic!("HERALD_TEST_EMULATOR is not set but the emulator is required: run the README's test command")
        }
        _ => {
            eprintln!("skipped: no emulator (HERALD_TEST_EMULATOR unset)");
            None
        }
    }
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"))
        .load()
        .await
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh DynamoDB table on the emulator, or `None` when there is none (see [`emulator`]).
pub async fn dynamo_table() -> Option<DynamoTable> {
    let endpoint = emulator()?;
    let config = sdk_config(&endpoint).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), unique("herald"));
    table.ensure_table().await.unwrap();
    Some(table)
}

/// A fresh embedded table in a temporary directory (kept alive by the returned guard).
pub fn embedded_table() -> (tempfile::TempDir, EmbeddedTable) {
    let dir = tempfile::tempdir().unwrap();
    let table = EmbeddedTable::open(dir.path()).unwrap();
    (dir, table)
}

/// A fresh SQS FIFO queue pair on the emulator.
pub async fn sqs_queue(visibility_secs: u32, max_receives: u32) -> Option<SqsQueue> {
    let endpoint = emulator()?;
    let config = sdk_config(&endpoint).await;
    Some(SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &unique("herald"), visibility_secs, max_receives).await.unwrap())
}

pub fn memory_queue(visibility_secs: u32, max_receives: u32) -> MemoryQueue {
    MemoryQueue::new(Duration::from_secs(visibility_secs as u64), max_receives)
}
