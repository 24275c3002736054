//! Port wrappers that count requests, for the fan-out checks and the benchmarks: store reads
//! and writes as requests, and as the capacity units DynamoDB bills for them (item sizes and
//! the table's indexes, which project every attribute, included); queue requests as SQS would
//! bill them (one per ten messages).

use async_trait::async_trait;
use herald::queue::{Depth, OutMessage, Queue, QueueResult, Received};
use herald::store::{Cond, Item, Page, Query, StoreResult, Table, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default, Debug)]
pub struct Counts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub queue_requests: AtomicU64,
    pub messages: AtomicU64,
    /// DynamoDB write capacity units: 1 per KB of the item, for the table and again for each
    /// index the item enters, leaves or changes in; twice that inside a transaction.
    pub write_units: AtomicU64,
    /// DynamoDB read capacity units, in halves: a strongly consistent read is 2 per 4 KB, an
    /// index query (eventually consistent) 1 per 4 KB.
    pub read_half_units: AtomicU64,
    /// Count units too (it reads each item before writing it: for the cost model only, as it
    /// slows the store down).
    pub bill: AtomicBool,
}

impl Counts {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        (l(&self.reads), l(&self.writes), l(&self.queue_requests), l(&self.messages))
    }

    /// Counts that include capacity units.
    pub fn billing() -> Self {
        Self { bill: AtomicBool::new(true), ..Self::default() }
    }

    /// (write units, read units).
    pub fn units(&self) -> (u64, f64) {
        (self.write_units.load(Ordering::SeqCst), self.read_half_units.load(Ordering::SeqCst) as f64 / 2.0)
    }
}

fn size(item: &Item) -> u64 {
    serde_json::to_vec(item).map(|v| v.len() as u64).unwrap_or(0)
}

/// Write units for replacing `old` with `new` (either may be absent).
fn write_units(old: Option<&Item>, new: Option<&Item>) -> u64 {
    let kb = |i: Option<&Item>| i.map(|i| size(i).div_ceil(1024).max(1)).unwrap_or(0);
    let mut units = kb(old).max(kb(new)).max(1);
    for g in 0..3 {
        let key = |i: Option<&Item>| i.and_then(|i| [&i.gsi1, &i.gsi2, &i.gsi3][g].clone());
        units += match (key(old), key(new)) {
            (None, None) => 0,
            (Some(a), Some(b)) if a == b => kb(new),
            (Some(_), Some(_)) => kb(old) + kb(new),
            (Some(_), None) => kb(old),
            (None, Some(_)) => kb(new),
        };
    }
    units
}

fn read_half_units(bytes: u64, consistent: bool) -> u64 {
    bytes.div_ceil(4096).max(1) * if consistent { 2 } else { 1 }
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::SeqCst);
}

pub struct CountingTable(pub Arc<dyn Table>, pub Arc<Counts>);

impl CountingTable {
    async fn bill_write(&self, pk: &str, sk: &str, new: Option<&Item>, factor: u64) -> StoreResult<()> {
        if self.1.bill.load(Ordering::Relaxed) {
            let old = self.0.get(pk, sk).await?;
            bump(&self.1.write_units, factor * write_units(old.as_ref(), new));
        }
        Ok(())
    }

    fn bill_read(&self, half_units: impl FnOnce() -> u64) {
        if self.1.bill.load(Ordering::Relaxed) {
            bump(&self.1.read_half_units, half_units());
        }
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        bump(&self.1.reads, 1);
        let found = self.0.get(pk, sk).await?;
        self.bill_read(|| read_half_units(found.as_ref().map(size).unwrap_or(0), true));
        Ok(found)
    }
    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        bump(&self.1.reads, keys.len().div_ceil(100) as u64);
        let found = self.0.get_many(keys).await?;
        self.bill_read(|| found.iter().map(|i| read_half_units(size(i), true)).sum::<u64>().max(keys.len() as u64 * 2));
        Ok(found)
    }
    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        bump(&self.1.writes, 1);
        // A write whose condition fails is billed as well.
        self.bill_write(&item.pk, &item.sk, Some(&item), 1).await?;
        self.0.put(item, cond).await
    }
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        bump(&self.1.writes, items.len().div_ceil(25) as u64);
        for item in &items {
            self.bill_write(&item.pk, &item.sk, Some(item), 1).await?;
        }
        self.0.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        bump(&self.1.writes, 1);
        self.bill_write(pk, sk, None, 1).await?;
        self.0.delete(pk, sk, cond).await
    }
    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        bump(&self.1.writes, 1);
        bump(&self.1.write_units, 1);
        self.0.add(pk, sk, delta, exp).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        bump(&self.1.writes, 1);
        for w in &writes {
            let (pk, sk, new) = match w {
                Write::Put(item, _) => (&item.pk, &item.sk, Some(item)),
                Write::Delete { pk, sk, .. } => (pk, sk, None),
            };
            self.bill_write(pk, sk, new, 2).await?;
        }
        self.0.transact(writes).await
    }
    async fn query(&self, q: Query) -> StoreResult<Page> {
        bump(&self.1.reads, 1);
        let consistent = q.index.is_none();
        let page = self.0.query(q).await?;
        self.bill_read(|| read_half_units(page.items.iter().map(size).sum(), consistent));
        Ok(page)
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
