//! The storage port: one table of items addressed by a partition key and a sort key, with three
//! sparse secondary indexes, conditional writes, atomic counters and transactions. It is exactly
//! the part of DynamoDB Herald needs, so the DynamoDB adapter is a thin mapping and the embedded
//! adapter can honour the same contract; [`crate::store::repo`] builds the typed records on top.
//!
//! Expiry (`exp`) is data here, not behaviour: DynamoDB deletes expired items lazily and the
//! emulator never does, so readers decide with their own clock (see `Item::live`).

pub mod dynamo;
pub mod embedded;
pub(crate) mod group_commit;
pub mod repo;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    /// Entries in the secondary indexes (`gsi1`..`gsi3`); `None` keeps the item out of that index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1: Option<IndexKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2: Option<IndexKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi3: Option<IndexKey>,
    /// Expiry, Unix seconds (the DynamoDB TTL attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Revision, for optimistic concurrency with [`Cond::Rev`].
    #[serde(default)]
    pub rev: u64,
    /// Atomic counter, changed only by [`Table::add`].
    #[serde(default)]
    pub n: i64,
    /// The record itself, as JSON text.
    #[serde(default)]
    pub data: String,
}

impl Item {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into(), ..Self::default() }
    }

    /// Whether the item is still alive at `now` (Unix seconds).
    pub fn live(&self, now: i64) -> bool {
        self.exp.is_none_or(|e| e > now)
    }

    pub fn index(&self, index: Index) -> Option<&IndexKey> {
        match index {
            Index::Gsi1 => self.gsi1.as_ref(),
            Index::Gsi2 => self.gsi2.as_ref(),
            Index::Gsi3 => self.gsi3.as_ref(),
        }
    }
}

/// An item's key in a secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Gsi1, Index::Gsi2, Index::Gsi3];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
            Index::Gsi3 => "gsi3",
        }
    }
}

/// The condition a write must meet, checked atomically with the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Always write.
    Any,
    /// Only if no item has this key.
    Absent,
    /// Only if no item has this key, or the one there has expired before `now` (Unix seconds).
    AbsentOrExpired(i64),
    /// Only if an item has this key.
    Exists,
    /// Only if the item there has this revision.
    Rev(u64),
    /// Only if no item has this key, or the one there has this revision: the first write of a
    /// record that may not have been written yet (a delivery kept in its notification's plan
    /// until its claim writes it, [`crate::store::repo::Repo::save_delivery`]).
    AbsentOrRev(u64),
}

/// Sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    Prefix(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SkRange,
    pub forward: bool,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl Query {
    pub fn new(pk: impl Into<String>) -> Self {
        Self { index: None, pk: pk.into(), sk: SkRange::All, forward: true, limit: 1000, cursor: None }
    }

    pub fn on(index: Index, pk: impl Into<String>) -> Self {
        Self { index: Some(index), ..Self::new(pk) }
    }

    /// Sort keys starting with `prefix`; an empty prefix is every sort key (DynamoDB refuses
    /// an empty `begins_with`, so both adapters read it as [`SkRange::All`]).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.sk = if prefix.is_empty() { SkRange::All } else { SkRange::Prefix(prefix) };
        self
    }

    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sk = SkRange::Between(from.into(), to.into());
        self
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.max(1);
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query. `cursor` is set when there may be more (opaque; pass it back).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

/// Items each written only if its condition holds, in order
/// ([`crate::queue::intake::Entry::heads`]).
pub type Heads = Vec<(Item, Cond)>;

/// One write of a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    Put(Item, Cond),
    Delete { pk: String, sk: String, cond: Cond },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold; nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// The key or a value cannot be stored (too long, forbidden characters).
    #[error("invalid item: {0}")]
    Invalid(String),
    /// A query's cursor is not one this query gave.
    #[error("bad cursor")]
    BadCursor,
    #[error("store unavailable: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Limits both adapters enforce, DynamoDB's own.
pub const MAX_TRANSACTION: usize = 100;
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The storage port.
#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>>;

    /// Reads up to 100 items by key; missing ones are left out, order is not kept.
    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>>;

    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()>;

    /// Writes many items unconditionally (25 per request on DynamoDB; what it leaves unprocessed
    /// is retried until written or the retries run out, which is an error).
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()>;

    /// Writes each item if its own condition holds, each on its own (not a transaction: one
    /// refused leaves the others written), and answers each write's outcome in order. One
    /// commit on the embedded store (so a send's `sent` state and the next send's claim share
    /// one sync, [`crate::dispatch`]); concurrent requests on DynamoDB, one write unit each.
    /// The provided version writes one after another. `Err` only for what fails all of them.
    async fn put_each(&self, writes: Vec<(Item, Cond)>) -> StoreResult<Vec<StoreResult<()>>> {
        let mut out = Vec::with_capacity(writes.len());
        for (item, cond) in writes {
            out.push(self.put(item, cond).await);
        }
        Ok(out)
    }

    /// Deletes an item if the condition holds; returns what was there.
    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>>;

    /// Adds `delta` to the item's counter (creating the item at 0 first) and returns the new
    /// value. `exp`, when given, is set on the item too.
    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64>;

    /// All writes or none; any condition failing fails the whole transaction.
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()>;

    async fn query(&self, query: Query) -> StoreResult<Page>;

    /// Why the store takes no writes until it is opened again, if so (the embedded store's file
    /// after an I/O error such as a full disk); `None` while it works, and always on DynamoDB.
    fn stopped(&self) -> Option<String> {
        None
    }
}

pub(crate) fn check_key(pk: &str, sk: &str) -> StoreResult<()> {
    let bad = |s: &str| s.is_empty() || s.len() > 1024 || s.contains('\0');
    if bad(pk) || sk.len() > 1024 || sk.contains('\0') {
        return Err(StoreError::Invalid("key is empty, too long, or holds a NUL".into()));
    }
    Ok(())
}

pub(crate) fn check_item(item: &Item) -> StoreResult<()> {
    check_key(&item.pk, &item.sk)?;
    for key in Index::ALL.iter().filter_map(|i| item.index(*i)) {
        check_key(&key.pk, &key.sk)?;
    }
    if item.data.len() > MAX_ITEM_BYTES - 2048 {
        return Err(StoreError::Invalid("item too large".into()));
    }
    Ok(())
}

pub(crate) fn sk_matches(range: &SkRange, sk: &str) -> bool {
    match range {
        SkRange::All => true,
        SkRange::Prefix(p) => sk.starts_with(p.as_str()),
        SkRange::Between(a, b) => sk >= a.as_str() && sk <= b.as_str(),
    }
}

pub(crate) fn cond_holds(cond: Cond, existing: Option<&Item>) -> bool {
    match (cond, existing) {
        (Cond::Any, _) => true,
        (Cond::Absent, e) => e.is_none(),
        (Cond::AbsentOrExpired(_), None) => true,
        (Cond::AbsentOrExpired(now), Some(e)) => e.exp.is_some_and(|x| x <= now),
        (Cond::Exists, e) => e.is_some(),
        (Cond::Rev(r), Some(e)) => e.rev == r,
        (Cond::Rev(_), None) => false,
        (Cond::AbsentOrRev(_), None) => true,
        (Cond::AbsentOrRev(r), Some(e)) => e.rev == r,
    }
}

impl From<StoreError> for crate::domain::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConditionFailed => Self::Conflict("changed concurrently, try again".into()),
            StoreError::Invalid(m) => Self::Invalid(crate::domain::Invalid::new("", m)),
            StoreError::BadCursor => Self::Invalid(crate::domain::Invalid::new("cursor", "is not one this API gave")),
            StoreError::Backend(m) => Self::Unavailable(m),
        }
    }
}
