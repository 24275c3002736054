//! The storage port's contract, run against the embedded adapter (on disk, and in memory as the
//! benchmarks use it) and against DynamoDB (through the emulator's real wire protocol). All must
//! behave the same.

#![allow(clippy::unwrap_used)]

use herald::store::*;
use std::sync::Arc;

fn item(pk: &str, sk: &str, data: &str) -> Item {
    Item { data: data.into(), ..Item::new(pk, sk) }
}

async fn keeps_what_it_is_given(t: Arc<dyn Table>) {
    let mut it = item("U#1", "-", r#"{"a":1}"#);
    it.gsi1 = Some(IndexKey::new("EXP#2026-01-01", "1"));
    it.exp = Some(1_900_000_000);
    it.rev = 3;
    t.put(it.clone(), Cond::Any).await.unwrap();
    assert_eq!(t.get("U#1", "-").await.unwrap(), Some(it));
    assert_eq!(t.get("U#2", "-").await.unwrap(), None);
}

async fn refuses_a_second_insert_and_keeps_the_first(t: Arc<dyn Table>) {
    t.put(item("K", "-", "first"), Cond::Absent).await.unwrap();
    let err = t.put(item("K", "-", "second"), Cond::Absent).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(t.get("K", "-").await.unwrap().unwrap().data, "first");
}

async fn overwrites_only_an_expired_item(t: Arc<dyn Table>) {
    let mut live = item("SEEN#1", "-", "live");
    live.exp = Some(2_000);
    t.put(live, Cond::AbsentOrExpired(1_000)).await.unwrap();
    let err = t.put(item("SEEN#1", "-", "again"), Cond::AbsentOrExpired(1_500)).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    t.put(item("SEEN#1", "-", "after"), Cond::AbsentOrExpired(2_000)).await.unwrap();
    assert_eq!(t.get("SEEN#1", "-").await.unwrap().unwrap().data, "after");
}

async fn writes_only_over_the_expected_revision(t: Arc<dyn Table>) {
    let mut it = item("D", "1", "queued");
    t.put(it.clone(), Cond::Absent).await.unwrap();
    it.rev = 1;
    it.data = "sending".into();
    t.put(it.clone(), Cond::Rev(0)).await.unwrap();
    it.data = "stale".into();
    assert!(matches!(t.put(it.clone(), Cond::Rev(0)).await, Err(StoreError::ConditionFailed)));
    assert!(matches!(t.put(item("D", "2", "x"), Cond::Rev(0)).await, Err(StoreError::ConditionFailed)));
    assert!(matches!(t.put(item("D", "2", "x"), Cond::Exists).await, Err(StoreError::ConditionFailed)));
    assert_eq!(t.get("D", "1").await.unwrap().unwrap().data, "sending");
    // Absent or at the revision: the first write of a record kept elsewhere until then.
    t.put(Item { rev: 1, ..item("D", "3", "first") }, Cond::AbsentOrRev(0)).await.unwrap();
    assert!(matches!(t.put(Item { rev: 1, ..item("D", "3", "again") }, Cond::AbsentOrRev(0)).await, Err(StoreError::ConditionFailed)));
    t.put(Item { rev: 2, ..item("D", "3", "next") }, Cond::AbsentOrRev(1)).await.unwrap();
    assert_eq!(t.get("D", "3").await.unwrap().unwrap().data, "next");
}

async fn lets_exactly_one_of_many_racing_inserts_win(t: Arc<dyn Table>) {
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move { t.put(item("RACE", "-", &i.to_string()), Cond::Absent).await.is_ok() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

/// Writes made together (on the file store: one commit for all) are each checked alone: the
/// refused ones leave the others written.
async fn refuses_some_of_many_concurrent_writes_and_keeps_the_rest(t: Arc<dyn Table>) {
    t.put(item("MIX", "taken", "first"), Cond::Absent).await.unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                let sk = if i % 2 == 0 { format!("k{i}") } else { "taken".to_owned() };
                t.put(item("MIX", &sk, &i.to_string()), Cond::Absent).await
            })
        })
        .collect();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(refused, 12);
    let page = t.query(Query::new("MIX")).await.unwrap();
    assert_eq!(page.items.len(), 13);
    assert_eq!(t.get("MIX", "taken").await.unwrap().unwrap().data, "first");
}

async fn deletes_conditionally_and_returns_the_old_item(t: Arc<dyn Table>) {
    t.put(item("CODE#abc", "-", "user-1"), Cond::Any).await.unwrap();
    assert!(matches!(t.delete("CODE#abc", "-", Cond::Rev(9)).await, Err(StoreError::ConditionFailed)));
    let old = t.delete("CODE#abc", "-", Cond::Exists).await.unwrap();
    assert_eq!(old.unwrap().data, "user-1");
    assert!(matches!(t.delete("CODE#abc", "-", Cond::Exists).await, Err(StoreError::ConditionFailed)));
    assert_eq!(t.delete("CODE#abc", "-", Cond::Any).await.unwrap(), None);
}

async fn counts_every_concurrent_add(t: Arc<dyn Table>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move { t.add("RL#bot", "100", 1, Some(5_000)).await.unwrap() })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=16).collect::<Vec<_>>());
    assert_eq!(t.add("RL#bot", "100", -6, None).await.unwrap(), 10);
    let it = t.get("RL#bot", "100").await.unwrap().unwrap();
    assert_eq!((it.n, it.exp), (10, Some(5_000)));
}

async fn applies_a_transaction_whole_or_not_at_all(t: Arc<dyn Table>) {
    t.put(item("B#telegram#42", "-", "user-a"), Cond::Any).await.unwrap();
    let writes = vec![Write::Put(item("U#b", "-", "b"), Cond::Absent), Write::Put(item("B#telegram#42", "-", "user-b"), Cond::Absent)];
    assert!(matches!(t.transact(writes).await, Err(StoreError::ConditionFailed)));
    assert_eq!(t.get("U#b", "-").await.unwrap(), None);
    assert_eq!(t.get("B#telegram#42", "-").await.unwrap().unwrap().data, "user-a");

    let writes = vec![
        Write::Put(item("U#b", "-", "b"), Cond::Absent),
        Write::Delete { pk: "B#telegram#42".into(), sk: "-".into(), cond: Cond::Exists },
        Write::Put(item("B#telegram#43", "-", "user-b"), Cond::Absent),
    ];
    t.transact(writes).await.unwrap();
    assert!(t.get("U#b", "-").await.unwrap().is_some());
    assert_eq!(t.get("B#telegram#42", "-").await.unwrap(), None);
    assert!(t.get("B#telegram#43", "-").await.unwrap().is_some());
}

async fn pages_through_a_partition_in_order(t: Arc<dyn Table>) {
    let items: Vec<Item> = (0..57).map(|i| item("MC#admin", &format!("{i:04}"), "m")).collect();
    t.put_many(items).await.unwrap();
    t.put(item("MC#admin2", "0001", "other"), Cond::Any).await.unwrap();
    t.put(item("MC#admi", "0001", "other"), Cond::Any).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = t.query(Query::new("MC#admin").limit(10).after(cursor)).await.unwrap();
        seen.extend(page.items.iter().map(|i| i.sk.clone()));
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, (0..57).map(|i| format!("{i:04}")).collect::<Vec<_>>());

    let newest = t.query(Query::new("MC#admin").backward().limit(3)).await.unwrap();
    assert_eq!(newest.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(), ["0056", "0055", "0054"]);
    let next = t.query(Query::new("MC#admin").backward().limit(2).after(newest.cursor)).await.unwrap();
    assert_eq!(next.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(), ["0053", "0052"]);

    let between = t.query(Query::new("MC#admin").between("0010", "0012")).await.unwrap();
    assert_eq!(between.items.len(), 3);
    let prefix = t.query(Query::new("MC#admin").prefix("004")).await.unwrap();
    assert_eq!(prefix.items.len(), 10);
    let everything = t.query(Query::new("MC#admin").prefix("").limit(100)).await.unwrap();
    assert_eq!(everything.items.len(), 57, "an empty prefix is every sort key");
    // An index read newest first below a bound (the notification list's step).
    for i in 0..5 {
        let mut n = item("N#x", &format!("n{i}"), "n");
        n.gsi3 = Some(IndexKey::new("NL#2026-11-30", format!("{i:04}")));
        t.put(n, Cond::Any).await.unwrap();
    }
    let below = t.query(Query::on(Index::Gsi3, "NL#2026-11-30").between("0", "0003").backward().limit(2)).await.unwrap();
    assert_eq!(below.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(), ["n3", "n2"]);
}

async fn keeps_secondary_indexes_sparse_and_current(t: Arc<dyn Table>) {
    for (id, role) in [("a", true), ("b", false), ("c", true)] {
        let mut u = item(&format!("U#{id}"), "-", id);
        u.gsi2 = role.then(|| IndexKey::new("ROLE#admin", id));
        u.gsi1 = Some(IndexKey::new("EXP#2026-03-01", id));
        t.put(u, Cond::Any).await.unwrap();
    }
    let admins = t.query(Query::on(Index::Gsi2, "ROLE#admin")).await.unwrap();
    assert_eq!(admins.items.iter().map(|i| i.data.as_str()).collect::<Vec<_>>(), ["a", "c"]);

    // Demote c and move its expiry: both index entries follow the item.
    let mut c = item("U#c", "-", "c");
    c.gsi1 = Some(IndexKey::new("EXP#2026-04-01", "c"));
    t.put(c, Cond::Any).await.unwrap();
    let admins = t.query(Query::on(Index::Gsi2, "ROLE#admin")).await.unwrap();
    assert_eq!(admins.items.len(), 1);
    let march = t.query(Query::on(Index::Gsi1, "EXP#2026-03-01")).await.unwrap();
    assert_eq!(march.items.len(), 2);
    let april = t.query(Query::on(Index::Gsi1, "EXP#2026-04-01").between("a", "z")).await.unwrap();
    assert_eq!(april.items[0].pk, "U#c");

    t.delete("U#a", "-", Cond::Any).await.unwrap();
    assert!(t.query(Query::on(Index::Gsi2, "ROLE#admin")).await.unwrap().items.is_empty());
}

async fn pages_through_an_index(t: Arc<dyn Table>) {
    let items: Vec<Item> = (0..35)
        .map(|i| {
            let mut it = item(&format!("B#telegram#{i}"), "-", "u");
            it.gsi1 = Some(IndexKey::new("KIND#telegram", format!("{i:03}")));
            it
        })
        .collect();
    t.put_many(items).await.unwrap();
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = t.query(Query::on(Index::Gsi1, "KIND#telegram").limit(8).after(cursor)).await.unwrap();
        n += page.items.len();
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(n, 35);
}

async fn reads_many_keys_at_once(t: Arc<dyn Table>) {
    let items: Vec<Item> = (0..130).map(|i| item(&format!("U#{i}"), "-", &i.to_string())).collect();
    t.put_many(items).await.unwrap();
    let keys: Vec<(String, String)> = (0..135).map(|i| (format!("U#{i}"), "-".to_owned())).collect();
    let mut got: Vec<i64> = t.get_many(&keys).await.unwrap().iter().map(|i| i.data.parse().unwrap()).collect();
    got.sort();
    assert_eq!(got, (0..130).collect::<Vec<_>>());
}

async fn rejects_keys_it_cannot_store(t: Arc<dyn Table>) {
    assert!(matches!(t.put(item("", "-", "x"), Cond::Any).await, Err(StoreError::Invalid(_))));
    assert!(matches!(t.put(item("a\0b", "-", "x"), Cond::Any).await, Err(StoreError::Invalid(_))));
    assert!(matches!(t.query(Query::new("X").after(Some("not a cursor".into()))).await, Err(StoreError::BadCursor)));
}

async fn writes_each_on_its_own_condition(t: Arc<dyn Table>) {
    t.put(item("E", "taken", "first"), Cond::Any).await.unwrap();
    let out = t
        .put_each(vec![
            (item("E", "new", "n"), Cond::Absent),
            (item("E", "taken", "second"), Cond::Absent),
            (Item { rev: 1, ..item("E", "taken2", "x") }, Cond::Rev(7)),
            (item("", "bad", "x"), Cond::Any),
            (item("E", "any", "a"), Cond::Any),
        ])
        .await
        .unwrap();
    assert!(out[0].is_ok() && out[4].is_ok(), "{out:?}");
    assert!(matches!(out[1], Err(StoreError::ConditionFailed)) && matches!(out[2], Err(StoreError::ConditionFailed)), "{out:?}");
    assert!(matches!(out[3], Err(StoreError::Invalid(_))), "{out:?}");
    assert_eq!(t.get("E", "new").await.unwrap().unwrap().data, "n");
    assert_eq!(t.get("E", "taken").await.unwrap().unwrap().data, "first");
    assert_eq!(t.get("E", "any").await.unwrap().unwrap().data, "a");
    assert!(t.get("E", "taken2").await.unwrap().is_none());
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, t) = herald_tests::embedded_table();
                    super::$name(std::sync::Arc::new(t)).await;
                }
            )*
        }
        mod embedded_in_memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(std::sync::Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap())).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(t) = herald_tests::dynamo_table().await else { return };
                    super::$name(std::sync::Arc::new(t)).await;
                }
            )*
        }
    };
}

contract!(
    keeps_what_it_is_given,
    refuses_a_second_insert_and_keeps_the_first,
    overwrites_only_an_expired_item,
    writes_only_over_the_expected_revision,
    lets_exactly_one_of_many_racing_inserts_win,
    refuses_some_of_many_concurrent_writes_and_keeps_the_rest,
    deletes_conditionally_and_returns_the_old_item,
    counts_every_concurrent_add,
    applies_a_transaction_whole_or_not_at_all,
    pages_through_a_partition_in_order,
    keeps_secondary_indexes_sparse_and_current,
    pages_through_an_index,
    reads_many_keys_at_once,
    rejects_keys_it_cannot_store,
    writes_each_on_its_own_condition,
);

/// The store's file holds channel secrets: readable by its user only.
#[cfg(unix)]
#[test]
fn the_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _t) = herald_tests::embedded_table();
    let mode = std::fs::metadata(dir.path().join("herald.redb")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
}

#[tokio::test]
async fn embedded_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let t = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
        t.put(item("U#1", "-", "kept"), Cond::Absent).await.unwrap();
    }
    let t = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
    assert_eq!(t.get("U#1", "-").await.unwrap().unwrap().data, "kept");
}
