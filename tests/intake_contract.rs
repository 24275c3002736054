//! The intake port's contract ([`herald::queue::intake`]), run against its two adapters: one
//! commit on the embedded store with the queue in its file (as the local runner has it), and in
//! order on DynamoDB and SQS FIFO (the emulator's real wire protocol) and on the in-memory
//! table and queue.

#![allow(clippy::unwrap_used)]

use herald::queue::intake::{Entry, InOrder, Intake, IntakeError, OneCommit};
use herald::queue::*;
use herald::store::*;
use std::sync::Arc;
use std::time::Duration;

struct Parts {
    table: Arc<dyn Table>,
    queue: Arc<dyn Queue>,
    intake: Arc<dyn Intake>,
}

fn item(pk: &str, sk: &str, data: &str) -> Item {
    Item { data: data.into(), ..Item::new(pk, sk) }
}

fn msg(body: &str, group: &str, dedup: &str) -> OutMessage {
    OutMessage { body: body.into(), group: group.into(), dedup: dedup.into() }
}

async fn bodies(q: &Arc<dyn Queue>, want: usize) -> Vec<String> {
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= want {
            break;
        }
        for m in q.receive(10, Duration::from_millis(500)).await.unwrap() {
            q.delete(&m.receipt).await.unwrap();
            got.push(m.body);
        }
    }
    got.sort();
    got
}

async fn takes_records_head_and_messages(p: Parts) {
    let n = herald_tests::unique("N");
    let messages = vec![msg("d1", "g1", &herald_tests::unique("d1")), msg("d2", "g2", &herald_tests::unique("d2"))];
    p.intake.take(messages, vec![item(&n, "D#1", "one"), item(&n, "D#2", "two")], item(&n, "N", "head")).await.unwrap();
    for (sk, data) in [("D#1", "one"), ("D#2", "two"), ("N", "head")] {
        assert_eq!(p.table.get(&n, sk).await.unwrap().unwrap().data, data);
    }
    assert_eq!(bodies(&p.queue, 2).await, ["d1", "d2"]);
}

async fn refuses_a_head_that_is_there_and_keeps_it(p: Parts) {
    let n = herald_tests::unique("N");
    p.table.put(item(&n, "N", "first"), Cond::Absent).await.unwrap();
    let err = p.intake.take(vec![msg("x", "g", &herald_tests::unique("x"))], vec![], item(&n, "N", "second")).await.unwrap_err();
    assert!(matches!(err, IntakeError::Store(StoreError::ConditionFailed)), "{err}");
    assert_eq!(p.table.get(&n, "N").await.unwrap().unwrap().data, "first");
}

async fn drops_a_message_sent_twice(p: Parts) {
    let dedup = herald_tests::unique("same");
    for i in 0..2 {
        let n = herald_tests::unique("N");
        p.intake.take(vec![msg("once", "g", &dedup)], vec![], item(&n, "N", &i.to_string())).await.unwrap();
    }
    assert_eq!(bodies(&p.queue, 2).await, ["once"]);
}

/// A batch's entries are taken in their order: one group's messages are received in it, and
/// each entry is answered on its own (a refused head fails its entry only).
async fn takes_a_batch_in_order_and_answers_each_entry(p: Parts) {
    let (group, taken) = (herald_tests::unique("g"), herald_tests::unique("N"));
    p.table.put(item(&taken, "N", "there"), Cond::Absent).await.unwrap();
    let mut entries = Vec::new();
    let mut heads = Vec::new();
    for i in 0..25 {
        let n = if i == 7 { taken.clone() } else { herald_tests::unique("N") };
        let m = msg(&format!("{i:02}"), &group, &herald_tests::unique("m"));
        entries.push(Entry {
            claim: None,
            messages: vec![m],
            records: vec![item(&n, "D#1", &i.to_string())],
            heads: vec![(item(&n, "N", "head"), Cond::Absent)],
        });
        heads.push(n);
    }
    let out = p.intake.take_all(entries).await.unwrap();
    assert_eq!(out.len(), 25);
    for (i, r) in out.iter().enumerate() {
        assert_eq!(r.is_ok(), i != 7, "entry {i}: {r:?}");
    }
    assert!(matches!(out[7], Err(IntakeError::Store(StoreError::ConditionFailed))));
    assert_eq!(p.table.get(&taken, "N").await.unwrap().unwrap().data, "there");
    assert_eq!(p.table.get(&heads[8], "N").await.unwrap().unwrap().data, "head");
    // In the order sent, one receive after another (the group's next message comes once the
    // one before is deleted).
    let mut got = Vec::new();
    for _ in 0..60 {
        for m in p.queue.receive(10, Duration::from_millis(300)).await.unwrap() {
            p.queue.delete(&m.receipt).await.unwrap();
            got.push(m.body);
        }
        if got.len() >= 24 {
            break;
        }
    }
    // The refused entry's message: dropped by One commit; sent by In order (its delivery then
    // waits for a notification that never comes).
    got.retain(|b| b != "07");
    let want: Vec<String> = (0..25).filter(|i| *i != 7).map(|i| format!("{i:02}")).collect();
    assert_eq!(got, want);
}

/// An entry whose claim (an idempotency key's record) is refused is answered so and leaves
/// nothing: no record, no head, no message; the entries beside it are taken.
async fn takes_nothing_of_an_entry_whose_claim_is_refused(p: Parts) {
    let key = herald_tests::unique("IDEM");
    let (a, b, c) = (herald_tests::unique("N"), herald_tests::unique("N"), herald_tests::unique("N"));
    let entry = |n: &str, keyed: bool| Entry {
        claim: keyed.then(|| (item(&key, "-", n), Cond::AbsentOrExpired(0))),
        messages: vec![msg(n, &herald_tests::unique("g"), &herald_tests::unique("m"))],
        records: vec![item(n, "D#1", n)],
        heads: vec![(item(n, "N", n), Cond::Absent)],
    };
    assert!(p.intake.take_all(vec![entry(&a, true)]).await.unwrap()[0].is_ok());
    let out = p.intake.take_all(vec![entry(&b, true), entry(&c, false)]).await.unwrap();
    assert!(matches!(out[0], Err(IntakeError::Store(StoreError::ConditionFailed))), "{out:?}");
    assert!(out[1].is_ok(), "{out:?}");
    assert!(p.table.get(&b, "N").await.unwrap().is_none(), "the second notification is not written without its key");
    assert!(p.table.get(&b, "D#1").await.unwrap().is_none(), "nor its deliveries");
    assert_eq!(p.table.get(&key, "-").await.unwrap().unwrap().data, a);
    assert_eq!(bodies(&p.queue, 2).await, {
        let mut want = vec![a.clone(), c.clone()];
        want.sort();
        want
    });
}

/// One commit: an entry's claim and heads are all written or none (a refused notification
/// leaves no key).
#[tokio::test]
async fn one_commit_writes_all_of_an_entrys_heads_or_none() {
    let (_dir, p) = one_commit();
    let (key, n) = (herald_tests::unique("IDEM"), herald_tests::unique("N"));
    p.table.put(item(&n, "N", "there"), Cond::Absent).await.unwrap();
    let entry = Entry {
        claim: Some((item(&key, "-", &n), Cond::AbsentOrExpired(0))),
        messages: vec![],
        records: vec![],
        heads: vec![(item(&n, "N", "again"), Cond::Absent)],
    };
    assert!(p.intake.take_all(vec![entry]).await.unwrap()[0].is_err());
    assert!(p.table.get(&key, "-").await.unwrap().is_none());
}

/// A table whose puts land and whose answers are lost: the SDK's retry then finds its own
/// first try (`ConditionFailed`).
struct LostAnswers(Arc<dyn Table>);

#[async_trait::async_trait]
impl Table for LostAnswers {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        self.0.get(pk, sk).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        self.0.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        self.0.put(item.clone(), cond).await?;
        self.0.put(item, cond).await
    }
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        self.0.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        self.0.delete(pk, sk, cond).await
    }
    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        self.0.add(pk, sk, delta, exp).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        self.0.transact(writes).await
    }
    async fn query(&self, q: Query) -> StoreResult<Page> {
        self.0.query(q).await
    }
}

/// In order: a claim or a head whose write landed but whose answer was lost (the retry finds
/// the first try) is taken, not refused: the key is kept, the notification answered once.
#[tokio::test]
async fn in_order_takes_a_write_whose_answer_was_lost() {
    let table: Arc<dyn Table> = Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap());
    let queue: Arc<dyn Queue> = Arc::new(herald_tests::memory_queue(30, 3));
    let intake = InOrder { table: Arc::new(LostAnswers(table.clone())), queue: queue.clone() };
    let (key, n) = (herald_tests::unique("IDEM"), herald_tests::unique("N"));
    let entry = Entry {
        claim: Some((item(&key, "-", &n), Cond::AbsentOrExpired(0))),
        messages: vec![msg("once", "g", &herald_tests::unique("m"))],
        records: vec![],
        heads: vec![(item(&n, "N", "head"), Cond::Absent)],
    };
    let out = intake.take_all(vec![entry]).await.unwrap();
    assert!(out[0].is_ok(), "{out:?}");
    assert_eq!(table.get(&key, "-").await.unwrap().unwrap().data, n, "the key is kept");
    assert_eq!(table.get(&n, "N").await.unwrap().unwrap().data, "head");
}

/// One commit: a refused request leaves nothing at all (no record, no message, and its
/// deduplication ids free for the retry).
#[tokio::test]
async fn one_commit_writes_nothing_of_a_refused_request() {
    let (_dir, p) = one_commit();
    let n = herald_tests::unique("N");
    p.table.put(item(&n, "N", "first"), Cond::Absent).await.unwrap();
    let m = msg("retry", "g", "dedup-1");
    assert!(p.intake.take(vec![m.clone()], vec![item(&n, "D#1", "one")], item(&n, "N", "second")).await.is_err());
    assert!(p.table.get(&n, "D#1").await.unwrap().is_none());
    assert!(p.queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let n2 = herald_tests::unique("N");
    p.intake.take(vec![m], vec![], item(&n2, "N", "ok")).await.unwrap();
    assert_eq!(bodies(&p.queue, 1).await, ["retry"]);
}

/// One commit: a request whose caller goes away midway (a client that hangs up) still has its
/// messages queued once they are committed, not only after a restart.
#[tokio::test]
async fn one_commit_queues_what_it_committed_when_the_caller_goes_away() {
    let (_dir, p) = one_commit();
    let n = herald_tests::unique("N");
    let take = p.intake.take(vec![msg("kept", "g", "gone-1")], vec![], item(&n, "N", "head"));
    // Polled once (the commit is under way), then dropped.
    assert!(tokio::time::timeout(Duration::ZERO, take).await.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(p.table.get(&n, "N").await.unwrap().is_some());
    assert_eq!(bodies(&p.queue, 1).await, ["kept"]);
}

/// One commit: what was taken in is on disk, records and messages, after a restart.
#[tokio::test]
async fn one_commit_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let table = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
        let queue = herald::queue::memory::MemoryQueue::in_store(&table, Duration::from_secs(30), 3).unwrap();
        let intake = OneCommit::new(table, queue).unwrap();
        intake.take(vec![msg("kept", "g", "k")], vec![item("N#1", "D#1", "one")], item("N#1", "N", "head")).await.unwrap();
    }
    let table = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
    let queue: Arc<dyn Queue> = Arc::new(herald::queue::memory::MemoryQueue::in_store(&table, Duration::from_secs(30), 3).unwrap());
    assert_eq!(table.get("N#1", "D#1").await.unwrap().unwrap().data, "one");
    assert_eq!(bodies(&queue, 1).await, ["kept"]);
}

/// A queue kept in another file cannot share its commits: no one-commit intake for it.
#[tokio::test]
async fn one_commit_needs_the_queue_in_the_stores_file() {
    let (_a, table) = herald_tests::embedded_table();
    let (_b, other) = herald_tests::embedded_table();
    let queue = herald::queue::memory::MemoryQueue::in_store(&other, Duration::from_secs(30), 3).unwrap();
    assert!(OneCommit::new(table.clone(), queue).is_none());
    assert!(OneCommit::new(table, herald_tests::memory_queue(30, 3)).is_none());
}

fn one_commit() -> (tempfile::TempDir, Parts) {
    let (dir, table) = herald_tests::embedded_table();
    let queue = herald::queue::memory::MemoryQueue::in_store(&table, Duration::from_secs(30), 3).unwrap();
    let intake = Arc::new(OneCommit::new(table.clone(), queue.clone()).unwrap());
    (dir, Parts { table: Arc::new(table), queue: Arc::new(queue), intake })
}

fn in_order(table: Arc<dyn Table>, queue: Arc<dyn Queue>) -> Parts {
    let intake = Arc::new(InOrder { table: table.clone(), queue: queue.clone() });
    Parts { table, queue, intake }
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod one_commit {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, p) = super::one_commit();
                    super::$name(p).await;
                }
            )*
        }
        mod in_order_in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let table = std::sync::Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap());
                    super::$name(super::in_order(table, std::sync::Arc::new(herald_tests::memory_queue(30, 3)))).await;
                }
            )*
        }
        mod in_order_aws {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(table) = herald_tests::dynamo_table().await else { return };
                    let Some(queue) = herald_tests::sqs_queue(30, 3).await else { return };
                    super::$name(super::in_order(std::sync::Arc::new(table), std::sync::Arc::new(queue))).await;
                }
            )*
        }
    };
}

contract!(
    takes_records_head_and_messages,
    refuses_a_head_that_is_there_and_keeps_it,
    drops_a_message_sent_twice,
    takes_a_batch_in_order_and_answers_each_entry,
    takes_nothing_of_an_entry_whose_claim_is_refused,
);
