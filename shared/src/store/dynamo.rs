//! The DynamoDB adapter. One table, string keys `pk`/`sk`, three sparse GSIs (`gsi1`..`gsi3` on
//! `g1pk`/`g1sk`..), TTL on `exp`. Item mapping lives here and nowhere else.

use super::*;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection,
    ProjectionType, Put, PutRequest, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, WriteRequest,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

type Attrs = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

const INDEX_ATTRS: [(Index, &str, &str); 3] = [(Index::Gsi1, "g1pk", "g1sk"), (Index::Gsi2, "g2pk", "g2sk"), (Index::Gsi3, "g3pk", "g3sk")];
const RETRIES: u32 = 8;

fn backend<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    let code = e.code().unwrap_or("");
    if code == "ConditionalCheckFailedException" {
        return StoreError::ConditionFailed;
    }
    if code == "TransactionCanceledException" && e.message().unwrap_or("").contains("ConditionalCheckFailed") {
        return StoreError::ConditionFailed;
    }
    StoreError::Backend(match e.message() {
        Some(m) => format!("{code}: {m}"),
        None => aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string().chars().take(300).collect(),
    })
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn num(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: &str, sk: &str) -> Attrs {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn to_attrs(item: &Item) -> Attrs {
    let mut a = key(&item.pk, &item.sk);
    for (index, p, k) in INDEX_ATTRS {
        if let Some(ix) = item.index(index) {
            a.insert(p.to_owned(), s(&ix.pk));
            a.insert(k.to_owned(), s(&ix.sk));
        }
    }
    if let Some(exp) = item.exp {
        a.insert("exp".to_owned(), num(exp));
    }
    a.insert("rev".to_owned(), num(item.rev));
    if item.n != 0 {
        a.insert("n".to_owned(), num(item.n));
    }
    if !item.data.is_empty() {
        a.insert("d".to_owned(), s(&item.data));
    }
    a
}

fn get_s(a: &Attrs, name: &str) -> Option<String> {
    a.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(a: &Attrs, name: &str) -> Option<i64> {
    a.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

fn from_attrs(a: &Attrs) -> StoreResult<Item> {
    let (Some(pk), Some(sk)) = (get_s(a, "pk"), get_s(a, "sk")) else {
        return Err(StoreError::Backend("item without a key".into()));
    };
    let index = |p: &str, k: &str| Some(IndexKey { pk: get_s(a, p)?, sk: get_s(a, k)? });
    Ok(Item {
        pk,
        sk,
        gsi1: index("g1pk", "g1sk"),
        gsi2: index("g2pk", "g2sk"),
        gsi3: index("g3pk", "g3sk"),
        exp: get_n(a, "exp"),
        rev: get_n(a, "rev").unwrap_or(0).max(0) as u64,
        n: get_n(a, "n").unwrap_or(0),
        data: get_s(a, "d").unwrap_or_default(),
    })
}

/// A condition as (expression, names, values) for DynamoDB.
fn condition(cond: Cond) -> (Option<&'static str>, Option<HashMap<String, String>>, Option<Attrs>) {
    match cond {
        Cond::Any => (None, None, None),
        Cond::Absent => (Some("attribute_not_exists(pk)"), None, None),
        Cond::Exists => (Some("attribute_exists(pk)"), None, None),
        Cond::AbsentOrExpired(now) => (
            Some("attribute_not_exists(pk) OR #exp <= :now"),
            Some(HashMap::from([("#exp".to_owned(), "exp".to_owned())])),
            Some(HashMap::from([(":now".to_owned(), num(now))])),
        ),
        Cond::Rev(r) => {
            (Some("#rev = :rev"), Some(HashMap::from([("#rev".to_owned(), "rev".to_owned())])), Some(HashMap::from([(":rev".to_owned(), num(r))])))
        }
        Cond::AbsentOrRev(r) => (
            Some("attribute_not_exists(pk) OR #rev = :rev"),
            Some(HashMap::from([("#rev".to_owned(), "rev".to_owned())])),
            Some(HashMap::from([(":rev".to_owned(), num(r))])),
        ),
    }
}

async fn backoff(attempt: u32) {
    // Only used for DynamoDB's "unprocessed" leftovers of batch calls, as its docs ask.
    let ms = 20u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Batch requests in flight at once for one `get_many` / `put_many` (a 100,000-user fan-out is
/// thousands of them; one at a time it would be latency-bound).
const CONCURRENCY: usize = 8;

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    async fn get_chunk(&self, chunk: &[(String, String)]) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut pending: Vec<Attrs> = chunk.iter().map(|(p, s)| key(p, s)).collect();
        let mut attempt = 0;
        while !pending.is_empty() {
            let ka =
                KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut pending))).build().map_err(|e| StoreError::Backend(e.to_string()))?;
            let res = self.client.batch_get_item().request_items(&self.table, ka).send().await.map_err(backend)?;
            for a in res.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                out.push(from_attrs(a)?);
            }
            pending = res.unprocessed_keys().and_then(|u| u.get(&self.table)).map(|k| k.keys().to_vec()).unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > RETRIES {
                    return Err(StoreError::Backend("BatchGetItem left keys unprocessed".into()));
                }
                backoff(attempt).await;
            }
        }
        Ok(out)
    }

    async fn put_chunk(&self, chunk: &[Item]) -> StoreResult<()> {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                let put = PutRequest::builder().set_item(Some(to_attrs(i))).build().map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<_>>()?;
        let mut attempt = 0;
        while !pending.is_empty() {
            let res = self.client.batch_write_item().request_items(&self.table, std::mem::take(&mut pending)).send().await.map_err(backend)?;
            pending = res.unprocessed_items().and_then(|u| u.get(&self.table)).cloned().unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                if attempt > RETRIES {
                    return Err(StoreError::Backend("BatchWriteItem left items unprocessed".into()));
                }
                backoff(attempt).await;
            }
        }
        Ok(())
    }

    /// Creates the table with its indexes and TTL if it does not exist (for the emulator and
    /// `herald-local --backend aws`; on AWS the SAM template creates it).
    pub async fn ensure_table(&self) -> StoreResult<()> {
        if self.client.describe_table().table_name(&self.table).send().await.is_ok() {
            return Ok(());
        }
        let attr = |n: &str| AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build();
        let ks = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build();
        let mut req = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk").map_err(|e| StoreError::Backend(e.to_string()))?)
            .attribute_definitions(attr("sk").map_err(|e| StoreError::Backend(e.to_string()))?)
            .key_schema(ks("pk", KeyType::Hash).map_err(|e| StoreError::Backend(e.to_string()))?)
            .key_schema(ks("sk", KeyType::Range).map_err(|e| StoreError::Backend(e.to_string()))?);
        for (index, p, k) in INDEX_ATTRS {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(index.name())
                .key_schema(ks(p, KeyType::Hash).map_err(|e| StoreError::Backend(e.to_string()))?)
                .key_schema(ks(k, KeyType::Range).map_err(|e| StoreError::Backend(e.to_string()))?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            req = req
                .attribute_definitions(attr(p).map_err(|e| StoreError::Backend(e.to_string()))?)
                .attribute_definitions(attr(k).map_err(|e| StoreError::Backend(e.to_string()))?)
                .global_secondary_indexes(gsi);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(backend(e)),
        }
        let ttl = TimeToLiveSpecification::builder().enabled(true).attribute_name("exp").build().map_err(|e| StoreError::Backend(e.to_string()))?;
        self.client.update_time_to_live().table_name(&self.table).time_to_live_specification(ttl).send().await.map_err(backend)?;
        Ok(())
    }
}

fn encode_cursor(key: &Attrs) -> Option<String> {
    let map: BTreeMap<&str, &str> = key.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str()))).collect();
    Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&map).ok()?))
}

/// A cursor back into the key it was made from, if it is one `q` could have given: the table's
/// key (and the index's, for an index query, in `q`'s partition), nothing else, so a forged one
/// is a `400`, not a request DynamoDB refuses.
fn decode_cursor(c: &str, q: &Query) -> StoreResult<Attrs> {
    let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| StoreError::BadCursor)?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
    let mut want = vec!["pk", "sk"];
    let part = match q.index {
        Some(i) => {
            let (_, ipk, isk) = INDEX_ATTRS.iter().find(|(x, ..)| *x == i).ok_or(StoreError::BadCursor)?;
            want.extend([*ipk, *isk]);
            *ipk
        }
        None => "pk",
    };
    let fits = map.len() == want.len()
        && want.iter().all(|k| map.get(*k).is_some_and(|v| check_key(v, "-").is_ok()))
        && map.get(part).is_some_and(|p| *p == q.pk);
    if !fits {
        return Err(StoreError::BadCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        check_key(pk, sk)?;
        let out = self.client.get_item().table_name(&self.table).set_key(Some(key(pk, sk))).consistent_read(true).send().await.map_err(backend)?;
        out.item().map(from_attrs).transpose()
    }

    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(keys.len());
        for wave in keys.chunks(100 * CONCURRENCY) {
            let mut calls = Vec::new();
            for chunk in wave.chunks(100) {
                calls.push(self.get_chunk(chunk));
            }
            for items in join_all(calls).await {
                out.extend(items?);
            }
        }
        Ok(out)
    }

    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        check_item(&item)?;
        let (expr, names, values) = condition(cond);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attrs(&item)))
            .set_condition_expression(expr.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_each(&self, writes: Vec<(Item, Cond)>) -> StoreResult<Vec<StoreResult<()>>> {
        Ok(join_all(writes.into_iter().map(|(item, cond)| self.put(item, cond))).await)
    }

    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        items.iter().try_for_each(check_item)?;
        for wave in items.chunks(25 * CONCURRENCY) {
            let mut calls = Vec::new();
            for chunk in wave.chunks(25) {
                calls.push(self.put_chunk(chunk));
            }
            join_all(calls).await.into_iter().collect::<StoreResult<()>>()?;
        }
        Ok(())
    }

    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        check_key(pk, sk)?;
        let (expr, names, values) = condition(cond);
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .set_condition_expression(expr.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        out.attributes().filter(|a| !a.is_empty()).map(from_attrs).transpose()
    }

    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        check_key(pk, sk)?;
        let mut names = HashMap::from([("#n".to_owned(), "n".to_owned())]);
        let mut values = HashMap::from([(":d".to_owned(), num(delta))]);
        let mut expr = "ADD #n :d".to_owned();
        if let Some(exp) = exp {
            names.insert("#exp".into(), "exp".into());
            values.insert(":e".into(), num(exp));
            expr.push_str(" SET #exp = :e");
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(backend)?;
        out.attributes().and_then(|a| get_n(a, "n")).ok_or_else(|| StoreError::Backend("UpdateItem returned no counter".into()))
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.len() > MAX_TRANSACTION {
            return Err(StoreError::Invalid(format!("more than {MAX_TRANSACTION} writes in a transaction")));
        }
        let mut items = Vec::with_capacity(writes.len());
        for w in &writes {
            let built = match w {
                Write::Put(item, cond) => {
                    check_item(item)?;
                    let (expr, names, values) = condition(*cond);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attrs(item)))
                        .set_condition_expression(expr.map(str::to_owned))
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    TransactWriteItem::builder().put(put).build()
                }
                Write::Delete { pk, sk, cond } => {
                    check_key(pk, sk)?;
                    let (expr, names, values) = condition(*cond);
                    let del = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, sk)))
                        .set_condition_expression(expr.map(str::to_owned))
                        .set_expression_attribute_names(names)
                        .set_expression_attribute_values(values)
                        .build()
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    TransactWriteItem::builder().delete(del).build()
                }
            };
            items.push(built);
        }
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(backend)?;
        Ok(())
    }

    async fn query(&self, q: Query) -> StoreResult<Page> {
        let (pk_attr, sk_attr) = match q.index {
            None => ("pk", "sk"),
            Some(i) => INDEX_ATTRS.iter().find(|(x, _, _)| *x == i).map(|(_, p, k)| (*p, *k)).unwrap_or(("pk", "sk")),
        };
        let mut names = HashMap::from([("#p".to_owned(), pk_attr.to_owned())]);
        let mut values = HashMap::from([(":p".to_owned(), s(&q.pk))]);
        let mut expr = "#p = :p".to_owned();
        match &q.sk {
            SkRange::All => {}
            SkRange::Prefix(prefix) => {
                names.insert("#s".into(), sk_attr.into());
                values.insert(":s".into(), s(prefix));
                expr.push_str(" AND begins_with(#s, :s)");
            }
            SkRange::Between(a, b) => {
                names.insert("#s".into(), sk_attr.into());
                values.insert(":a".into(), s(a));
                values.insert(":b".into(), s(b));
                expr.push_str(" AND #s BETWEEN :a AND :b");
            }
        }
        let start = q.cursor.as_deref().map(|c| decode_cursor(c, &q)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(q.index.map(|i| i.name().to_owned()))
            .key_condition_expression(expr)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(q.forward)
            .limit(q.limit.min(1000) as i32)
            .set_exclusive_start_key(start)
            .set_consistent_read(q.index.is_none().then_some(true))
            .send()
            .await
            .map_err(backend)?;
        let items = out.items().iter().map(from_attrs).collect::<StoreResult<Vec<_>>>()?;
        let cursor = out.last_evaluated_key().filter(|k| !k.is_empty()).and_then(encode_cursor);
        Ok(Page { items, cursor })
    }
}
