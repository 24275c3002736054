//! The queue port's contract, run against the in-process adapter (in memory, and kept in a
//! directory as the local runner uses it) and against SQS FIFO (through the emulator's real wire
//! protocol).

#![allow(clippy::unwrap_used)]

use herald::queue::*;
use std::sync::Arc;
use std::time::Duration;

fn msg(body: &str, group: &str) -> OutMessage {
    OutMessage { body: body.into(), group: group.into(), dedup: herald_tests::unique(body) }
}

const WAIT: Duration = Duration::from_secs(1);

async fn receive_all(q: &Arc<dyn Queue>, want: usize) -> Vec<Received> {
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= want {
            break;
        }
        got.extend(q.receive(10, WAIT).await.unwrap());
    }
    got
}

async fn delivers_each_group_in_order(q: Arc<dyn Queue>) {
    q.send(vec![msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("a3", "A")]).await.unwrap();
    let got = receive_all(&q, 4).await;
    let a: Vec<&str> = got.iter().filter(|m| m.group == "A").map(|m| m.body.as_str()).collect();
    assert_eq!(a, ["a1", "a2", "a3"]);
    for m in &got {
        q.delete(&m.receipt).await.unwrap();
    }
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

async fn holds_a_group_while_one_of_its_messages_is_in_flight(q: Arc<dyn Queue>) {
    q.send(vec![msg("a1", "A")]).await.unwrap();
    let first = q.receive(1, WAIT).await.unwrap();
    assert_eq!(first.len(), 1);
    q.send(vec![msg("a2", "A"), msg("b1", "B")]).await.unwrap();
    let next = receive_all(&q, 1).await;
    assert_eq!(next.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b1"]);
    q.delete(&first[0].receipt).await.unwrap();
    let after = receive_all(&q, 1).await;
    assert_eq!(after.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a2"]);
}

async fn redelivers_after_a_visibility_change(q: Arc<dyn Queue>) {
    q.send(vec![msg("x", "X")]).await.unwrap();
    let first = receive_all(&q, 1).await;
    assert_eq!(first[0].receive_count, 1);
    q.set_visibility(&first[0].receipt, 0).await.unwrap();
    let again = receive_all(&q, 1).await;
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("x", 2));
    assert_eq!(again[0].id, first[0].id);
}

async fn drops_a_duplicate_send(q: Arc<dyn Queue>) {
    let m = msg("once", "D");
    q.send(vec![m.clone()]).await.unwrap();
    q.send(vec![m]).await.unwrap();
    let got = receive_all(&q, 1).await;
    assert_eq!(got.len(), 1);
    q.delete(&got[0].receipt).await.unwrap();
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

async fn sends_more_than_a_batch(q: Arc<dyn Queue>) {
    let batch: Vec<OutMessage> = (0..25).map(|i| msg(&format!("m{i}"), &format!("G{i}"))).collect();
    q.send(batch).await.unwrap();
    let got = receive_all(&q, 25).await;
    assert_eq!(got.len(), 25);
}

async fn keeps_each_groups_order_across_many_batches(q: Arc<dyn Queue>) {
    // 45 messages, 3 groups: batches go out several at a time, a group's order must survive.
    let batch: Vec<OutMessage> = (0..45).map(|i| msg(&format!("{i:02}"), ["A", "B", "C"][i % 3])).collect();
    q.send(batch).await.unwrap();
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for _ in 0..60 {
        let got = q.receive(10, WAIT).await.unwrap();
        for m in &got {
            seen.entry(m.group.clone()).or_default().push(m.body.clone());
            q.delete(&m.receipt).await.unwrap();
        }
        if seen.values().map(Vec::len).sum::<usize>() == 45 {
            break;
        }
    }
    // Every group arrived, whole (a queue that delivers nothing must not pass the loop below).
    assert_eq!(seen.keys().map(String::as_str).collect::<Vec<_>>(), ["A", "B", "C"]);
    for (g, bodies) in seen {
        let mut sorted = bodies.clone();
        sorted.sort();
        assert_eq!(bodies, sorted, "group {g}");
        assert_eq!(bodies.len(), 15);
    }
}

async fn dead_letters_after_too_many_receives_and_redrives(q: Arc<dyn Queue>) {
    q.send(vec![msg("poison", "P")]).await.unwrap();
    for _ in 0..3 {
        let got = receive_all(&q, 1).await;
        assert_eq!(got.len(), 1);
        q.set_visibility(&got[0].receipt, 0).await.unwrap();
    }
    // The fourth receive finds it over the limit (3) and moves it to the dead-letter queue.
    assert!(q.receive(10, Duration::from_millis(300)).await.unwrap().is_empty());
    assert_eq!(q.depth().await.unwrap().dead, 1);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["poison"]);
    // Redriving is a send of the same body plus a delete from the dead-letter queue.
    q.send(vec![OutMessage { body: dead[0].body.clone(), group: dead[0].group.clone(), dedup: "poison-redriven".into() }]).await.unwrap();
    q.delete_dead(&dead[0].receipt).await.unwrap();
    let back = receive_all(&q, 1).await;
    assert_eq!(back[0].body, "poison");
    assert_eq!(q.depth().await.unwrap().dead, 0);
}

async fn dead_letters_on_request(q: Arc<dyn Queue>) {
    q.send(vec![msg("bad", "Q")]).await.unwrap();
    let got = receive_all(&q, 1).await;
    q.dead_letter(&got[0]).await.unwrap();
    q.delete(&got[0].receipt).await.unwrap();
    let depth = q.depth().await.unwrap();
    assert_eq!((depth.dead, depth.waiting), (1, 0));
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(herald_tests::memory_queue(30, 3))).await;
                }
            )*
        }
        mod file {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
                    let q = herald::queue::memory::MemoryQueue::in_store(&store, std::time::Duration::from_secs(30), 3).unwrap();
                    super::$name(std::sync::Arc::new(q)).await;
                }
            )*
        }
        mod sqs {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(q) = herald_tests::sqs_queue(30, 3).await else { return };
                    super::$name(std::sync::Arc::new(q)).await;
                }
            )*
        }
    };
}

contract!(
    delivers_each_group_in_order,
    holds_a_group_while_one_of_its_messages_is_in_flight,
    redelivers_after_a_visibility_change,
    drops_a_duplicate_send,
    sends_more_than_a_batch,
    keeps_each_groups_order_across_many_batches,
    dead_letters_after_too_many_receives_and_redrives,
    dead_letters_on_request,
    busy_groups_take_turns,
);

/// The local runner's queue keeps what was queued, in order, and its dead letters across a
/// restart (in the store's file); what was acknowledged stays gone.
#[tokio::test]
async fn the_file_queue_survives_a_restart() {
    use herald::queue::memory::MemoryQueue;
    use herald::store::embedded::EmbeddedTable;
    let dir = tempfile::tempdir().unwrap();
    let open = || -> Arc<dyn Queue> {
        let store = EmbeddedTable::open(dir.path()).unwrap();
        Arc::new(MemoryQueue::in_store(&store, Duration::from_secs(30), 3).unwrap())
    };
    let q = open();
    q.send(vec![msg("a1", "A"), msg("b1", "B"), msg("a2", "A"), msg("a3", "A")]).await.unwrap();
    // As many of one group as it can, as SQS FIFO does.
    let first = q.receive(2, WAIT).await.unwrap();
    let bodies: Vec<&str> = first.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a1", "a2"]);
    q.delete(&first[0].receipt).await.unwrap();
    q.dead_letter(&first[1]).await.unwrap();
    q.delete(&first[1].receipt).await.unwrap();
    drop(q);

    let q = open();
    let mut got = receive_all(&q, 2).await;
    got.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a3", "b1"]);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a2"]);
    for m in &got {
        q.delete(&m.receipt).await.unwrap();
    }
    q.delete_dead(&dead[0].receipt).await.unwrap();
    drop(q);

    let depth = open().depth().await.unwrap();
    assert_eq!((depth.waiting, depth.in_flight, depth.dead), (0, 0, 0));
}

/// Busy groups take turns: a receive takes what is ready of one group and moves it to the back,
/// so a group with many messages does not hold up the others.
async fn busy_groups_take_turns(q: Arc<dyn Queue>) {
    let mut many: Vec<OutMessage> = (0..25).map(|i| msg(&format!("a{i}"), "A")).collect();
    many.push(msg("b0", "B"));
    q.send(many).await.unwrap();
    let first = q.receive(10, WAIT).await.unwrap();
    let mut seen_b = first.iter().any(|m| m.group == "B");
    for _ in 0..3 {
        let batch = q.receive(10, WAIT).await.unwrap();
        seen_b |= batch.iter().any(|m| m.group == "B");
        if seen_b {
            break;
        }
    }
    assert!(seen_b, "group B was served while A is in flight");
}

/// A `queue.redb` left by an earlier version (its own file, tables `main` and `dead`) is moved
/// into the store's file on start, in order, and removed.
#[tokio::test]
async fn an_earlier_versions_queue_file_is_moved_in() {
    use herald::queue::memory::MemoryQueue;
    use herald::store::embedded::EmbeddedTable;
    const MAIN: redb::TableDefinition<u64, (&str, &str)> = redb::TableDefinition::new("main");
    const DEAD: redb::TableDefinition<u64, (&str, &str)> = redb::TableDefinition::new("dead");
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("queue.redb");
    {
        let db = redb::Database::create(&old).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut main = tx.open_table(MAIN).unwrap();
            main.insert(3, ("A", "a1")).unwrap();
            main.insert(7, ("A", "a2")).unwrap();
            tx.open_table(DEAD).unwrap().insert(5, ("B", "b-dead")).unwrap();
        }
        tx.commit().unwrap();
    }
    let (bytes, modified) = (std::fs::read(&old).unwrap(), std::fs::metadata(&old).unwrap().modified().unwrap());
    let open = || {
        let store = EmbeddedTable::open(dir.path()).unwrap();
        let q: Arc<dyn Queue> = Arc::new(MemoryQueue::in_store(&store, Duration::from_secs(30), 3).unwrap());
        q
    };
    let q = open();
    assert!(!old.exists(), "the old file is removed once its messages are moved");
    let got = q.receive(10, WAIT).await.unwrap();
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["b-dead"]);
    drop(q);

    // A crash after the move's commit, before the file's removal: the same file is there again
    // at the next start. It is removed, not moved in twice.
    std::fs::write(&old, &bytes).unwrap();
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(modified).unwrap();
    let q = open();
    assert!(!old.exists());
    let depth = q.depth().await.unwrap();
    assert_eq!((depth.waiting, depth.dead), (2, 1), "{depth:?}");
}
