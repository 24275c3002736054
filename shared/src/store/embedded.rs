//! The embedded adapter: the whole table in one redb file in a directory. redb commits are
//! atomic and crash-safe (copy-on-write pages, a checksummed commit slot), so a crash leaves the
//! last committed state and never a half-written one. Writes are applied one after another by
//! one writer thread, each checking its condition first, so conditions are checked and applied
//! atomically; the writes waiting together share one transaction and one sync to disk (group
//! commit, [`super::group_commit`]), and each is answered once that transaction is on disk.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");
const SEP: u8 = 0;
const FILE: &str = "herald.redb";
/// redb's page cache on a file.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    /// No file behind it: commits need no sync, and nothing blocks.
    in_memory: bool,
    /// Writes since the last durable commit (in memory, most commits are not durable).
    writes: Arc<std::sync::atomic::AtomicU32>,
    /// On a file: the writer thread that commits concurrent writes together
    /// ([`super::group_commit`]).
    writer: Option<Arc<super::group_commit::Writer>>,
    /// The directory of the file (none in memory).
    dir: Option<std::path::PathBuf>,
}

/// In memory, one commit in this many is durable: redb reuses the pages earlier commits freed
/// only after a durable one.
const DURABLE_EVERY: u32 = 64;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn item_key(pk: &str, sk: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(pk.len() + sk.len() + 1);
    k.extend_from_slice(pk.as_bytes());
    k.push(SEP);
    k.extend_from_slice(sk.as_bytes());
    k
}

fn index_no(index: Index) -> u8 {
    match index {
        Index::Gsi1 => 1,
        Index::Gsi2 => 2,
        Index::Gsi3 => 3,
    }
}

fn index_key(index: Index, key: &IndexKey, pk: &str, sk: &str) -> Vec<u8> {
    let mut k = vec![index_no(index)];
    k.extend_from_slice(&item_key(&key.pk, &key.sk));
    k.push(SEP);
    k.extend_from_slice(&item_key(pk, sk));
    k
}

/// The key prefix every entry of one query partition starts with.
fn partition_prefix(index: Option<Index>, pk: &str) -> Vec<u8> {
    let mut k = Vec::new();
    if let Some(i) = index {
        k.push(index_no(i));
    }
    k.extend_from_slice(pk.as_bytes());
    k.push(SEP);
    k
}

fn decode(bytes: &[u8]) -> StoreResult<Item> {
    serde_json::from_slice(bytes).map_err(backend)
}

type Tx = redb::WriteTransaction;

pub(crate) fn read_item(tx: &Tx, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
    let table = tx.open_table(ITEMS).map_err(backend)?;
    let found = table.get(item_key(pk, sk).as_slice()).map_err(backend)?;
    found.map(|v| decode(v.value())).transpose()
}

fn remove_item(tx: &Tx, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
    let old = read_item(tx, pk, sk)?;
    if let Some(old) = &old {
        let mut items = tx.open_table(ITEMS).map_err(backend)?;
        items.remove(item_key(pk, sk).as_slice()).map_err(backend)?;
        let mut index = tx.open_table(INDEX).map_err(backend)?;
        for i in Index::ALL {
            if let Some(key) = old.index(i) {
                index.remove(index_key(i, key, pk, sk).as_slice()).map_err(backend)?;
            }
        }
    }
    Ok(old)
}

pub(crate) fn write_item(tx: &Tx, item: &Item) -> StoreResult<()> {
    remove_item(tx, &item.pk, &item.sk)?;
    let bytes = serde_json::to_vec(item).map_err(backend)?;
    let mut items = tx.open_table(ITEMS).map_err(backend)?;
    items.insert(item_key(&item.pk, &item.sk).as_slice(), bytes.as_slice()).map_err(backend)?;
    let mut index = tx.open_table(INDEX).map_err(backend)?;
    for i in Index::ALL {
        if let Some(key) = item.index(i) {
            index.insert(index_key(i, key, &item.pk, &item.sk).as_slice(), [].as_slice()).map_err(backend)?;
        }
    }
    Ok(())
}

impl EmbeddedTable {
    /// Opens (or creates) the table in `dir`.
    pub fn open(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| backend(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE);
        // redb keeps pages it read in memory up to its cache size (1 GiB by default); the local
        // runner's working set is far smaller, and its memory should stay small after a burst.
        let db =
            Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| backend(format!("cannot open {}: {e}", path.display())))?;
        // It holds channel secrets: readable by this user only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| backend(format!("cannot restrict {}: {e}", path.display())))?;
        }
        Ok(Self { dir: Some(dir.to_path_buf()), ..Self::init(db, false)? })
    }

    /// A table that lives in memory only (benchmarks, throwaway runs).
    pub fn in_memory() -> StoreResult<Self> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(backend)?;
        Self::init(db, true)
    }

    fn init(db: Database, in_memory: bool) -> StoreResult<Self> {
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(ITEMS).map_err(backend)?;
        tx.open_table(INDEX).map_err(backend)?;
        tx.commit().map_err(backend)?;
        let db = Arc::new(db);
        let writer = match in_memory {
            true => None,
            false => Some(Arc::new(super::group_commit::Writer::start(db.clone(), "store-writer").map_err(backend)?)),
        };
        Ok(Self { db, in_memory, writes: Arc::default(), writer, dir: None })
    }

    /// The directory the store's file is in (none in memory).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// On a file: the database and its writer thread, for what shares the file's commits (the
    /// queue kept in it, [`crate::queue::memory::MemoryQueue::in_store`]).
    pub(crate) fn file_db(&self) -> Option<Arc<Database>> {
        self.writer.is_some().then(|| self.db.clone())
    }

    pub(crate) fn writer(&self) -> Option<Arc<super::group_commit::Writer>> {
        self.writer.clone()
    }

    /// Reads run in place: they are lookups in pages the OS has cached, microseconds, and a
    /// hop to the blocking pool would cost more than the read.
    async fn blocking<T>(&self, f: impl FnOnce(&Database) -> StoreResult<T>) -> StoreResult<T> {
        f(&self.db)
    }

    /// On a file, writes go to the writer thread, which commits those waiting together with one
    /// sync to disk ([`super::group_commit`]; each closure checks its condition before writing,
    /// so a refused one leaves the others to commit). In memory there is nothing to sync, and
    /// nothing to wait for: each commits in place.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&Tx) -> StoreResult<T> + Send + 'static) -> StoreResult<T> {
        if let Some(w) = &self.writer {
            return w.write(f, |e| matches!(e, StoreError::ConditionFailed), StoreError::Backend).await;
        }
        // Nothing to persist to in memory: skip what a durable commit writes (allocator state,
        // checksums), most of the cost of a small write.
        let light = self.in_memory && !self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(DURABLE_EVERY);
        let run = move |db: &Database| {
            let mut tx = db.begin_write().map_err(backend)?;
            if light {
                tx.set_durability(redb::Durability::None).map_err(backend)?;
            }
            let out = f(&tx)?; // dropping an uncommitted transaction aborts it
            tx.commit().map_err(backend)?;
            Ok(out)
        };
        run(&self.db)
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor(#[serde(with = "serde_bytes_b64")] Vec<u8>);

mod serde_bytes_b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        URL_SAFE_NO_PAD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let key = item_key(pk, sk);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let table = tx.open_table(ITEMS).map_err(backend)?;
            let found = table.get(key.as_slice()).map_err(backend)?;
            found.map(|v| decode(v.value())).transpose()
        })
        .await
    }

    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|(p, s)| item_key(p, s)).collect();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let table = tx.open_table(ITEMS).map_err(backend)?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(v) = table.get(key.as_slice()).map_err(backend)? {
                    out.push(decode(v.value())?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        check_item(&item)?;
        self.write(move |tx| {
            if !cond_holds(cond, read_item(tx, &item.pk, &item.sk)?.as_ref()) {
                return Err(StoreError::ConditionFailed);
            }
            write_item(tx, &item)
        })
        .await
    }

    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        items.iter().try_for_each(check_item)?;
        self.write(move |tx| items.iter().try_for_each(|item| write_item(tx, item))).await
    }

    async fn put_each(&self, writes: Vec<(Item, Cond)>) -> StoreResult<Vec<StoreResult<()>>> {
        // An item that cannot be stored is refused alone, before the commit.
        let checked: Vec<StoreResult<()>> = writes.iter().map(|(item, _)| check_item(item)).collect();
        self.write(move |tx| {
            let mut out = Vec::with_capacity(writes.len());
            for ((item, cond), checked) in writes.iter().zip(checked) {
                out.push(match checked {
                    Err(e) => Err(e),
                    Ok(()) if !cond_holds(*cond, read_item(tx, &item.pk, &item.sk)?.as_ref()) => Err(StoreError::ConditionFailed),
                    // A write that fails midway may leave its item half done: the commit is
                    // abandoned (`?`), as for any other write.
                    Ok(()) => Ok(write_item(tx, item)?),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.write(move |tx| {
            if !cond_holds(cond, read_item(tx, &pk, &sk)?.as_ref()) {
                return Err(StoreError::ConditionFailed);
            }
            remove_item(tx, &pk, &sk)
        })
        .await
    }

    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        check_key(pk, sk)?;
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.write(move |tx| {
            let mut item = read_item(tx, &pk, &sk)?.unwrap_or_else(|| Item::new(pk, sk));
            item.n = item.n.saturating_add(delta);
            if exp.is_some() {
                item.exp = exp;
            }
            write_item(tx, &item)?;
            Ok(item.n)
        })
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.len() > MAX_TRANSACTION {
            return Err(StoreError::Invalid(format!("more than {MAX_TRANSACTION} writes in a transaction")));
        }
        for w in &writes {
            match w {
                Write::Put(item, _) => check_item(item)?,
                Write::Delete { pk, sk, .. } => check_key(pk, sk)?,
            }
        }
        self.write(move |tx| {
            for w in &writes {
                let (pk, sk, cond) = match w {
                    Write::Put(item, cond) => (&item.pk, &item.sk, *cond),
                    Write::Delete { pk, sk, cond } => (pk, sk, *cond),
                };
                if !cond_holds(cond, read_item(tx, pk, sk)?.as_ref()) {
                    return Err(StoreError::ConditionFailed);
                }
            }
            for w in &writes {
                match w {
                    Write::Put(item, _) => write_item(tx, item)?,
                    Write::Delete { pk, sk, .. } => {
                        remove_item(tx, pk, sk)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    fn stopped(&self) -> Option<String> {
        self.writer
            .as_ref()
            .filter(|w| w.broken())
            .map(|_| "the store's file had an I/O error (a full disk?) and takes no writes until it is opened again: restart herald-local".to_owned())
    }

    async fn query(&self, q: Query) -> StoreResult<Page> {
        let prefix = partition_prefix(q.index, &q.pk);
        let mut lower = prefix.clone();
        let mut upper = prefix.clone();
        match &q.sk {
            SkRange::All => upper.push(0xff),
            SkRange::Prefix(p) => {
                lower.extend_from_slice(p.as_bytes());
                upper.extend_from_slice(p.as_bytes());
                upper.push(0xff);
            }
            SkRange::Between(a, b) => {
                lower.extend_from_slice(a.as_bytes());
                upper.extend_from_slice(b.as_bytes());
                // Index entries carry the item key after the sort key; keep them in range.
                upper.push(SEP);
                upper.push(0xff);
            }
        }
        let mut lo = Bound::Included(lower);
        let mut hi = Bound::Included(upper);
        if let Some(c) = &q.cursor {
            let c: Cursor =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::BadCursor)?).map_err(|_| StoreError::BadCursor)?;
            if !c.0.starts_with(&prefix) {
                return Err(StoreError::BadCursor);
            }
            if q.forward {
                lo = Bound::Excluded(c.0);
            } else {
                hi = Bound::Excluded(c.0);
            }
        }
        let (index, sk_range, forward, limit) = (q.index, q.sk.clone(), q.forward, q.limit as usize);
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(backend)?;
            let items = tx.open_table(ITEMS).map_err(backend)?;
            let table = tx.open_table(if index.is_some() { INDEX } else { ITEMS }).map_err(backend)?;
            let range = table.range::<&[u8]>((lo.as_ref().map(|v| v.as_slice()), hi.as_ref().map(|v| v.as_slice()))).map_err(backend)?;
            let mut iter: Box<dyn Iterator<Item = _>> = if forward { Box::new(range) } else { Box::new(range.rev()) };
            let mut page = Page::default();
            let mut last_key = None;
            for entry in iter.by_ref() {
                let (k, v) = entry.map_err(backend)?;
                let key = k.value().to_vec();
                let item = if index.is_some() {
                    // index entry: no. ‖ ipk \0 isk \0 pk \0 sk
                    let rest = &key[prefix.len()..];
                    let mut parts = rest.splitn(3, |b| *b == SEP);
                    let (isk, pk, sk) = (parts.next(), parts.next(), parts.next());
                    let (Some(isk), Some(pk), Some(sk)) = (isk, pk, sk) else { continue };
                    if !sk_matches(&sk_range, &String::from_utf8_lossy(isk)) {
                        continue;
                    }
                    let found = items.get(item_key(&String::from_utf8_lossy(pk), &String::from_utf8_lossy(sk)).as_slice()).map_err(backend)?;
                    match found {
                        Some(v) => decode(v.value())?,
                        None => continue,
                    }
                } else {
                    decode(v.value())?
                };
                if page.items.len() == limit {
                    page.cursor = last_key.take().map(|k| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Cursor(k)).unwrap_or_default()));
                    break;
                }
                page.items.push(item);
                last_key = Some(key);
            }
            Ok(page)
        })
        .await
    }
}
