//! Port wrappers that count requests, for the fan-out checks and the benchmarks: store reads
//! and writes as DynamoDB would bill requests, queue requests as SQS would (one per ten messages).

use async_trait::async_trait;
use herald::queue::{Depth, OutMessage, Queue, QueueResult, Received};
use herald::store::{Cond, Item, Page, Query, StoreResult, Table, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default, Debug)]
pub struct Counts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub queue_requests: AtomicU64,
    pub messages: AtomicU64,
}

impl Counts {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        (l(&self.reads), l(&self.writes), l(&self.queue_requests), l(&self.messages))
    }
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::SeqCst);
}

pub struct CountingTable(pub Arc<dyn Table>, pub Arc<Counts>);

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        bump(&self.1.reads, 1);
        self.0.get(pk, sk).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        bump(&self.1.reads, keys.len().div_ceil(100) as u64);
        self.0.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        bump(&self.1.writes, 1);
        self.0.put(item, cond).await
    }
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        bump(&self.1.writes, items.len().div_ceil(25) as u64);
        self.0.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        bump(&self.1.writes, 1);
        self.0.delete(pk, sk, cond).await
    }
    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        bump(&self.1.writes, 1);
        self.0.add(pk, sk, delta, exp).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        bump(&self.1.writes, 1);
        self.0.transact(writes).await
    }
    async fn query(&self, q: Query) -> StoreResult<Page> {
        bump(&self.1.reads, 1);
        self.0.query(q).await
    }
}

pub struct CountingQueue(pub Arc<dyn Queue>, pub Arc<Counts>);

#[async_trait]
impl Queue for CountingQueue {
    async fn send(&self, m: Vec<OutMessage>) -> QueueResult<()> {
        bump(&self.1.queue_requests, m.len().div_ceil(10) as u64);
        bump(&self.1.messages, m.len() as u64);
        self.0.send(m).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        self.0.receive(max, wait).await
    }
    async fn delete(&self, r: &str) -> QueueResult<()> {
        self.0.delete(r).await
    }
    async fn set_visibility(&self, r: &str, s: u32) -> QueueResult<()> {
        self.0.set_visibility(r, s).await
    }
    async fn dead_letter(&self, m: &Received) -> QueueResult<()> {
        self.0.dead_letter(m).await
    }
    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>> {
        self.0.dead_letters(max).await
    }
    async fn delete_dead(&self, r: &str) -> QueueResult<()> {
        self.0.delete_dead(r).await
    }
    async fn depth(&self) -> QueueResult<Depth> {
        self.0.depth().await
    }
}
