//! One test for each claim of the README that no test held it to (issue 22): each is named for
//! the claim, asserts what the README states, and fails when that behaviour breaks. Time is a
//! `ManualClock`; every injected fault is confirmed to have happened.

#![allow(clippy::unwrap_used)]

use herald::app::{App, Config};
use herald::dispatch::pacing::Pace;
use herald::dispatch::{Dispatcher, backoff};
use herald::domain::ChannelKind;
use herald::domain::clock::Clock;
use herald::domain::clock::ManualClock;
use herald::domain::ids::new_id;
use herald::domain::notification::{Delivery, Notification, Target};
use herald::platforms::config::ChannelSettings;
use herald::queue::job::Job;
use herald::queue::{Depth, OutMessage, Queue, QueueResult, Received};
use herald::store::{Cond, Item, Page, Query, StoreError, StoreResult, Table, Write};
use herald_tests::servers::{Reply, TestServer};
use herald_tests::telegram::{BOT_TOKEN, FakeTelegram};
use herald_tests::wecom::FakeWecom;
use herald_tests::{call, drain, memory_queue, test_config};
use jiff::SignedDuration;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NOW: &str = "2026-11-23T10:00:00Z";

fn clock(at: &str) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at.parse().unwrap()))
}

/// Herald on the embedded store in a temporary directory, with the test configuration changed
/// by `tweak`, the given clock, and the given queue (else an in-process one).
fn build(clock: Arc<ManualClock>, queue: Option<Arc<dyn Queue>>, tweak: impl FnOnce(&mut Config)) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let mut config = test_config();
    config.public_url = Some("https://herald.test".into());
    tweak(&mut config);
    let queue = queue.unwrap_or_else(|| Arc::new(memory_queue(180, config.max_receives)));
    (dir, App::new(table, queue, clock, config).unwrap())
}

async fn put(app: &App, path: &str, body: Value) -> Value {
    let (status, v) = call(app, "PUT", path, Some(body)).await;
    assert!(status == 200 || status == 201, "PUT {path}: {status} {v}");
    v
}

async fn notify(app: &App, body: Value) -> String {
    let (status, v) = call(app, "POST", "/api/v1/notify", Some(body)).await;
    assert_eq!(status, 202, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn deliveries(app: &App, id: &str) -> Vec<Value> {
    let (status, v) = call(app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert_eq!(status, 200, "{v}");
    v["deliveries"].as_array().unwrap().clone()
}

async fn job(app: &App, name: &str) -> Value {
    let (status, v) = call(app, "POST", &format!("/api/v1/jobs/{name}/run"), None).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// A local webhook endpoint answering `status` to everything.
async fn endpoint(status: u16) -> TestServer {
    TestServer::start(move |_| if status == 200 { Reply::ok("{}") } else { Reply::status(status) }).await
}

/// A queue that records the visibility timeouts the dispatcher sets (its reschedulings).
struct Recording {
    inner: Arc<dyn Queue>,
    visibility: Mutex<Vec<u32>>,
    /// Each message sent is also dead-lettered at once (as if it failed again right away).
    fail_again: AtomicBool,
}

impl Recording {
    fn new() -> Arc<Self> {
        Arc::new(Self { inner: Arc::new(memory_queue(180, 20)), visibility: Mutex::default(), fail_again: AtomicBool::new(false) })
    }

    fn timeouts(&self) -> Vec<u32> {
        self.visibility.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Queue for Recording {
    async fn send(&self, m: Vec<OutMessage>) -> QueueResult<()> {
        if self.fail_again.load(Ordering::SeqCst) {
            for o in &m {
                let dead = Received { id: o.dedup.clone(), receipt: String::new(), body: o.body.clone(), group: o.group.clone(), receive_count: 1 };
                self.inner.dead_letter(&dead).await?;
            }
            return Ok(());
        }
        self.inner.send(m).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, r: &str) -> QueueResult<()> {
        self.inner.delete(r).await
    }
    async fn set_visibility(&self, r: &str, secs: u32) -> QueueResult<()> {
        self.visibility.lock().unwrap().push(secs);
        self.inner.set_visibility(r, secs).await
    }
    async fn dead_letter(&self, m: &Received) -> QueueResult<()> {
        self.inner.dead_letter(m).await
    }
    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>> {
        self.inner.dead_letters(max).await
    }
    async fn delete_dead(&self, r: &str) -> QueueResult<()> {
        self.inner.delete_dead(r).await
    }
    async fn depth(&self) -> QueueResult<Depth> {
        self.inner.depth().await
    }
}

/// A table that can be told to be unavailable, or to fail the conditional writes of items whose
/// key starts with a prefix (as a concurrent writer would make them fail); it counts both.
#[derive(Default)]
struct TableFaults {
    down: AtomicBool,
    unavailable: AtomicU32,
    conflict_prefix: Mutex<Option<String>>,
    conflicts: AtomicU32,
    /// Writes of items whose key starts with this fail (store unavailable).
    down_prefix: Mutex<Option<String>>,
    /// Writes of a delivery's `sent` state fail (store unavailable), counted.
    sent_down: AtomicBool,
    /// What the store says stopped it (`Table::stopped`), if set.
    stopped: Mutex<Option<String>>,
    sent_refused: AtomicU32,
    /// The next read of the channels waits, once it has read them, until this is notified;
    /// `channels_read` is notified when it got there.
    hold_channels: Mutex<Option<Arc<tokio::sync::Notify>>>,
    channels_read: tokio::sync::Notify,
}

struct FaultyTable(Arc<dyn Table>, Arc<TableFaults>);

impl FaultyTable {
    fn up(&self) -> StoreResult<()> {
        if self.1.down.load(Ordering::SeqCst) {
            self.1.unavailable.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected: store unavailable".into()));
        }
        Ok(())
    }

    fn down_at(&self, pk: &str) -> StoreResult<()> {
        match self.1.down_prefix.lock().unwrap().as_deref() {
            Some(p) if pk.starts_with(p) => Err(StoreError::Backend("injected: store unavailable".into())),
            _ => Ok(()),
        }
    }

    fn conflict(&self, pk: &str, cond: Cond) -> StoreResult<()> {
        let prefix = self.1.conflict_prefix.lock().unwrap().clone();
        if cond != Cond::Any && prefix.is_some_and(|p| pk.starts_with(&p)) {
            self.1.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::ConditionFailed);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Table for FaultyTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        self.up()?;
        self.0.get(pk, sk).await
    }
    async fn get_many(&self, keys: &[(String, String)]) -> StoreResult<Vec<Item>> {
        self.up()?;
        self.0.get_many(keys).await
    }
    async fn put(&self, item: Item, cond: Cond) -> StoreResult<()> {
        self.up()?;
        self.down_at(&item.pk)?;
        self.conflict(&item.pk, cond)?;
        if self.1.sent_down.load(Ordering::SeqCst) && item.sk.starts_with("D#") && item.data.contains("\"status\":\"sent\"") {
            self.1.sent_refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected: sent state not written".into()));
        }
        self.0.put(item, cond).await
    }
    async fn put_many(&self, items: Vec<Item>) -> StoreResult<()> {
        self.up()?;
        items.iter().try_for_each(|i| self.down_at(&i.pk))?;
        self.0.put_many(items).await
    }
    async fn delete(&self, pk: &str, sk: &str, cond: Cond) -> StoreResult<Option<Item>> {
        self.up()?;
        self.0.delete(pk, sk, cond).await
    }
    async fn add(&self, pk: &str, sk: &str, delta: i64, exp: Option<i64>) -> StoreResult<i64> {
        self.up()?;
        self.0.add(pk, sk, delta, exp).await
    }
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        self.up()?;
        for w in &writes {
            if let Write::Put(item, cond) = w {
                self.conflict(&item.pk, *cond)?;
            }
        }
        self.0.transact(writes).await
    }
    async fn query(&self, q: Query) -> StoreResult<Page> {
        self.up()?;
        let hold = if q.pk == "CHANNELS" { self.1.hold_channels.lock().unwrap().take() } else { None };
        let page = self.0.query(q).await;
        if let Some(gate) = hold {
            self.1.channels_read.notify_one();
            gate.notified().await;
        }
        page
    }
    fn stopped(&self) -> Option<String> {
        self.1.stopped.lock().unwrap().clone()
    }
}

/// Herald on an embedded store behind [`FaultyTable`] (the in-memory queue), `tweak`ed.
fn faulty_app(tweak: impl FnOnce(&mut Config)) -> (tempfile::TempDir, App, Arc<TableFaults>) {
    let faults = Arc::new(TableFaults::default());
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(FaultyTable(Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap()), faults.clone()));
    let mut config = test_config();
    tweak(&mut config);
    let app = App::new(table, Arc::new(memory_queue(180, 20)), clock(NOW), config).unwrap();
    (dir, app, faults)
}

// ---- Telegram ----

const TG_SECRET: &str = "claims-webhook-secret-0123456789";
const GROUP: &str = "-1001234567890";

/// A Telegram channel `name` on a fresh stand-in (its limits off), registered; `extra` settings
/// are added (a `null` removes one).
async fn telegram_channel(app: &App, name: &str, types: &[&str], extra: Value) -> FakeTelegram {
    let fake = FakeTelegram::start().await;
    fake.with(|s| s.unlimited = true);
    let mut settings = json!({"bot_token": BOT_TOKEN, "chat_id": GROUP, "api_base": fake.url(), "webhook_secret": TG_SECRET});
    for (k, v) in extra.as_object().unwrap() {
        match v {
            Value::Null => {
                settings.as_object_mut().unwrap().remove(k);
            }
            v => settings[k] = v.clone(),
        }
    }
    let (status, body) =
        call(app, "PUT", &format!("/api/v1/channels/{name}"), Some(json!({"kind": "telegram", "types": types, "settings": settings}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
    fake
}

async fn telegram_app(extra: Value) -> (tempfile::TempDir, App, FakeTelegram, Arc<ManualClock>) {
    let clock = clock(NOW);
    let (dir, app) = build(clock.clone(), None, |_| {});
    let fake = telegram_channel(&app, "tg", &[], extra).await;
    (dir, app, fake, clock)
}

static NEXT: AtomicI64 = AtomicI64::new(1);

fn text_in(from: i64, chat: i64, text: &str) -> Value {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let kind = if chat < 0 { "supergroup" } else { "private" };
    json!({"update_id": id, "message": {"message_id": id, "from": {"id": from, "is_bot": false, "first_name": "Ada", "language_code": "en"}, "chat": {"id": chat, "type": kind}, "date": 1, "text": text}})
}

fn text(from: i64, t: &str) -> Value {
    text_in(from, from, t)
}

fn button(from: i64, data: &str, message_id: i64) -> Value {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    json!({"update_id": id, "callback_query": {"id": format!("cb{id}"), "from": {"id": from, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": message_id, "chat": {"id": from, "type": "private"}}, "chat_instance": "1", "data": data}})
}

fn joined(who: i64, chat: i64) -> Value {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let member = json!({"id": who, "is_bot": false, "first_name": "Eve"});
    json!({"update_id": id, "message": {"message_id": id, "from": member, "chat": {"id": chat, "type": "supergroup"}, "date": 1, "new_chat_members": [member]}})
}

/// Posts an update to `/callback/telegram?source=SOURCE` with `secret`; the status and the
/// passive reply.
async fn update_to(app: &App, source: Option<&str>, secret: &str, body: &Value) -> (u16, Value) {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-telegram-bot-api-secret-token", secret.parse().unwrap());
    let path = match source {
        Some(s) => format!("/callback/telegram?source={s}"),
        None => "/callback/telegram".to_owned(),
    };
    let uri: http::Uri = path.parse().unwrap();
    let req = herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_string()));
    let resp = herald::edge::router::route(app, req).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

async fn post(app: &App, body: Value) -> Value {
    let (status, v) = update_to(app, Some("tg"), TG_SECRET, &body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn chats(fake: &FakeTelegram) -> Vec<String> {
    fake.delivered().iter().map(|m| m["chat_id"].as_str().unwrap().to_owned()).collect()
}

/// README: "several configs of one kind are independent (the `source`)": each carries its own
/// types to its own default chat through its own bot, and takes only updates signed with its
/// own secret.
#[tokio::test]
async fn several_configs_of_one_kind_stay_independent() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    let one = telegram_channel(&app, "tg1", &["node"], json!({"chat_id": "-1001", "webhook_secret": "secret-of-tg1-0123456789"})).await;
    let two = telegram_channel(
        &app,
        "tg2",
        &["account"],
        json!({"chat_id": "-1002", "webhook_secret": "secret-of-tg2-0123456789", "group_bound_only": true}),
    )
    .await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin", "ids": {"telegram": "7"}})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
    notify(&app, json!({"type": "node", "text": "n1 is down", "to": "admins"})).await;
    notify(&app, json!({"type": "account", "text": "expires soon", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(set(chats(&one)), set(vec!["7".into(), "-1001".into()]), "tg1 carries node only, to its own group");
    assert_eq!(chats(&two), ["42"], "tg2 carries account only, and its own group gets no node notice");

    // Each source takes its own secret only; without a source, two configs are ambiguous.
    let ping = text(42, "/ping");
    assert_eq!(update_to(&app, Some("tg2"), "secret-of-tg1-0123456789", &ping).await.0, 401);
    assert_eq!(update_to(&app, None, "secret-of-tg2-0123456789", &ping).await.0, 401);
    // The same update id on each source is handled by each (dedup is per source).
    let (s1, r1) = update_to(&app, Some("tg1"), "secret-of-tg1-0123456789", &ping).await;
    let (s2, r2) = update_to(&app, Some("tg2"), "secret-of-tg2-0123456789", &ping).await;
    assert_eq!((s1, r1["method"].as_str(), s2, r2["method"].as_str()), (200, Some("sendMessage"), 200, Some("sendMessage")));

    // Group rules are per config: tg2 removes an unbound member through its own bot, tg1 does not.
    let (_, r) = update_to(&app, Some("tg1"), "secret-of-tg1-0123456789", &joined(77, -1001)).await;
    assert_eq!(r, Value::Null);
    let (_, r) = update_to(&app, Some("tg2"), "secret-of-tg2-0123456789", &joined(77, -1002)).await;
    assert!(r["text"].as_str().unwrap().contains("has not bound an account"), "{r}");
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(two.calls("banChatMember"), [json!({"chat_id": "-1002", "user_id": 77})]);
    assert!(one.calls("banChatMember").is_empty());
}

/// README table "built-in type | default": system, node, daily_report and user_registered go to
/// the admins (and the default chats), account and checkin to the user, announcement to all —
/// whatever the notification's `to` says.
#[tokio::test]
async fn every_built_in_type_goes_to_its_default_scope() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    let hook = endpoint(200).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin", "ids": {"webhook": "a1"}})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"webhook": "u1"}})).await;
    put(&app, "/api/v1/users/u2", json!({"ids": {"webhook": "u2"}})).await;
    let admin = ["a1", "url"];
    let user = ["u1"];
    let all = ["a1", "u1", "u2", "url"];
    let cases: [(&str, &[&str]); 7] = [
        ("system", &admin),
        ("node", &admin),
        ("daily_report", &admin),
        ("account", &user),
        ("announcement", &all),
        ("user_registered", &admin),
        ("checkin", &user),
    ];
    for (ty, want) in cases {
        // `to` names the user: only the default scope decides who else gets it.
        let id = notify(&app, json!({"type": ty, "text": "x", "to": {"user": "u1"}})).await;
        let got: BTreeSet<String> = deliveries(&app, &id).await.iter().map(|d| d["recipient"].as_str().unwrap().to_owned()).collect();
        assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), "{ty}");
    }
}

/// README: during quiet hours a message is "held until the hours end for the types in the
/// settings' `deferrable_types` (default `announcement`, `daily_report`)", else sent silently.
#[tokio::test]
async fn custom_deferrable_types_are_held_and_the_others_sent_silently() {
    // 12:00 UTC = 20:00 in Shanghai: inside quiet hours 19:00-07:00, which end at 23:00 UTC.
    let (_d, app) = build(clock("2026-03-02T12:00:00Z"), None, |_| {});
    let hook = endpoint(200).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    let quiet = json!({"start": "19:00", "end": "07:00", "time_zone": "Asia/Shanghai"});
    put(&app, "/api/v1/users/u4", json!({"ids": {"webhook": "u4"}, "preferences": {"quiet_hours": quiet}})).await;
    let u4 = |ds: Vec<Value>| ds.into_iter().find(|d| d["recipient"] == "u4").unwrap();

    // The default list: an announcement is held, a download sent silently.
    let held = u4(deliveries(&app, &notify(&app, json!({"type": "announcement", "text": "a", "to": "all"})).await).await);
    assert_eq!((held["hold_until"].as_str(), held["silent"].as_bool()), (Some("2026-03-02T23:00:00Z"), Some(false)), "{held}");
    let silent = u4(deliveries(&app, &notify(&app, json!({"type": "download", "text": "d", "to": {"user": "u4"}})).await).await);
    assert_eq!((silent["hold_until"].clone(), silent["silent"].as_bool()), (Value::Null, Some(true)), "{silent}");

    // A custom list: now the download waits, and the announcement goes silently.
    put(&app, "/api/v1/settings", json!({"deferrable_types": ["download"]})).await;
    let held = u4(deliveries(&app, &notify(&app, json!({"type": "download", "text": "d2", "to": {"user": "u4"}})).await).await);
    assert_eq!((held["hold_until"].as_str(), held["silent"].as_bool()), (Some("2026-03-02T23:00:00Z"), Some(false)), "{held}");
    let silent = u4(deliveries(&app, &notify(&app, json!({"type": "announcement", "text": "a2", "to": "all"})).await).await);
    assert_eq!((silent["hold_until"].clone(), silent["silent"].as_bool()), (Value::Null, Some(true)), "{silent}");
}

/// README: built-in notifications are written in "the user's `locale`": a zh-CN user's expiry
/// reminder, from the daily job through the queue to Telegram, in Chinese; the group (the
/// settings' `en`) gets its report in English.
#[tokio::test]
async fn a_built_in_notification_reaches_a_zh_cn_user_in_chinese_end_to_end() {
    let (_d, app, fake, _clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"locale": "zh-CN", "expires_at": "2026-11-26T12:00:00Z", "ids": {"telegram": "42"}})).await;
    job(&app, "daily").await;
    drain(&app, &Dispatcher::default()).await;
    let sent = fake.delivered();
    let to_user: Vec<&Value> = sent.iter().filter(|m| m["chat_id"] == "42").collect();
    assert_eq!(to_user.len(), 1, "{sent:?}");
    assert_eq!(to_user[0]["text"], "<b>账户即将到期</b>\n你的账户将在 3 天后（2026-11-26）到期。");
    let report = sent.iter().find(|m| m["chat_id"] == GROUP).unwrap();
    assert!(report["text"].as_str().unwrap().starts_with("<b>Daily report 2026-11-22</b>\nUsers: 1"), "{report}");
}

/// README: "the user's `locale`, else the settings' `locale`": with the settings in zh-CN, an
/// admin without a locale and the group read Chinese, an admin who reads English English.
#[tokio::test]
async fn without_a_locale_of_their_own_people_read_the_settings_locale() {
    let (_d, app, fake, _clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/settings", json!({"locale": "zh-CN"})).await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin", "ids": {"telegram": "1"}})).await;
    put(&app, "/api/v1/users/a2", json!({"role": "admin", "locale": "en", "ids": {"telegram": "2"}})).await;
    put(&app, "/api/v1/nodes/hk1", json!({"name": "HK 1"})).await;
    drain(&app, &Dispatcher::default()).await;
    let text_to = |chat: &str| fake.delivered().iter().find(|m| m["chat_id"] == chat).map(|m| m["text"].as_str().unwrap().to_owned());
    assert_eq!(text_to("1").as_deref(), Some("<b>节点已添加</b>\n节点 HK 1 已添加。"));
    assert_eq!(text_to(GROUP).as_deref(), Some("<b>节点已添加</b>\n节点 HK 1 已添加。"));
    assert_eq!(text_to("2").as_deref(), Some("<b>Node added</b>\nNode HK 1 was added."));
}

/// README: "HTML input passed as is and resent as plain text if Telegram cannot parse it".
#[tokio::test]
async fn telegram_html_is_passed_through_and_resent_as_plain_text_when_telegram_cannot_parse_it() {
    let (_d, app, fake, _clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
    let html = "<b>bold</b> &amp; <a href=\"https://x.test/a\">a link</a>";
    notify(&app, json!({"type": "account", "text": html, "format": "html", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let first = fake.delivered();
    assert_eq!((first.len(), first[0]["text"].as_str(), first[0]["parse_mode"].as_str()), (1, Some(html), Some("HTML")));

    // `<div>` is not one of Telegram's tags: refused ("can't parse entities"), then sent plain.
    let id = notify(&app, json!({"type": "account", "text": "<div>Hello</div> <b>world</b>", "format": "html", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let tries = fake.calls("sendMessage");
    assert_eq!(tries.len(), 3, "the refused try and the plain resend");
    assert_eq!((tries[1]["text"].as_str(), tries[1]["parse_mode"].as_str()), (Some("<div>Hello</div> <b>world</b>"), Some("HTML")));
    let shown = fake.delivered();
    assert_eq!(shown.len(), 2, "the refused try was not shown");
    assert_eq!((shown[1]["text"].as_str(), shown[1].get("parse_mode")), (Some("Hello world"), None));
    let d = &deliveries(&app, &id).await[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(1)), "{d}");
}

/// README: notifications go with "images as a photo or a large preview" (a photo while the
/// text fits a caption, else a large preview above the text).
#[tokio::test]
async fn images_go_as_a_photo_or_a_large_preview() {
    let (_d, app, fake, _clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
    let img = "https://img.test/poster.jpg";
    notify(&app, json!({"type": "account", "title": "New film", "text": "Now in the library", "image": img, "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let photo = fake.calls("sendPhoto");
    assert_eq!(photo.len(), 1);
    assert_eq!((photo[0]["photo"].as_str(), photo[0]["caption"].as_str()), (Some(img), Some("<b>New film</b>\nNow in the library")));

    let long = (0..80).map(|i| format!("Synopsis, part {i}.")).collect::<Vec<_>>().join(" ");
    notify(&app, json!({"type": "account", "text": long, "image": img, "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(fake.calls("sendPhoto").len(), 1, "too long for a caption");
    let shown = fake.delivered();
    let preview = shown.last().unwrap();
    assert_eq!(preview["text"], long.as_str());
    assert_eq!(preview["link_preview_options"], json!({"url": img, "prefer_large_media": true, "show_above_text": true}));
}

/// README: "`/my` (plan, expiry, traffic; in groups only in the configured group, with a
/// check-in button)".
#[tokio::test]
async fn my_answers_in_groups_only_in_the_configured_group() {
    let (_d, app, fake, _clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"name": "Ada", "plan": "pro", "ids": {"telegram": "42"}})).await;
    let group: i64 = GROUP.parse().unwrap();
    let r = post(&app, text_in(42, group, "/my")).await;
    assert_eq!(r["chat_id"], GROUP);
    assert!(r["text"].as_str().unwrap().starts_with("Ada\nPlan: pro"), "{r}");
    assert_eq!(r["reply_markup"]["inline_keyboard"], json!([[{"text": "Check in", "callback_data": "ci"}]]));
    // In a private chat: the account, without the group's button.
    let r = post(&app, text(42, "/my")).await;
    assert!(r["text"].as_str().unwrap().starts_with("Ada\nPlan: pro") && r.get("reply_markup").is_none(), "{r}");
    // In any other group: no account shown, the bot leaves.
    assert_eq!(post(&app, text_in(42, -100999, "/my")).await, Value::Null);
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(fake.calls("leaveChat"), [json!({"chat_id": "-100999"})]);
    assert!(fake.calls("sendMessage").iter().all(|m| m["chat_id"] != "-100999"));

    // A bot with no configured group shows the account in no group.
    let (_d2, app2, _fake2, _c2) = telegram_app(json!({"chat_id": null})).await;
    put(&app2, "/api/v1/users/u1", json!({"name": "Ada", "plan": "pro", "ids": {"telegram": "42"}})).await;
    let r = post(&app2, text_in(42, -100777, "/my")).await;
    assert_eq!(r["text"], "/my works in the official group only.");
}

/// README: "`group_bound_only` removes members who join without a bound account ... and
/// members who unbind".
#[tokio::test]
async fn unbinding_removes_the_member_from_the_group_with_group_bound_only() {
    for bound_only in [true, false] {
        let (_d, app, fake, _clock) = telegram_app(json!({"group_bound_only": bound_only})).await;
        put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
        let ask = post(&app, text(42, "/unbind")).await;
        assert_eq!(ask["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "ub:y");
        assert_eq!(post(&app, button(42, "ub:y", 5)).await["method"], "answerCallbackQuery");
        drain(&app, &Dispatcher::default()).await;
        assert_eq!(fake.calls("editMessageText")[0]["text"], "Unbound. Bind again any time with /bind CODE.");
        assert!(app.repo.user_by_chat(ChannelKind::Telegram, "42").await.unwrap().is_none());
        if bound_only {
            assert_eq!(fake.calls("banChatMember"), [json!({"chat_id": GROUP, "user_id": 42})]);
            assert_eq!(fake.calls("unbanChatMember"), [json!({"chat_id": GROUP, "user_id": 42, "only_if_banned": true})]);
        } else {
            assert!(fake.calls("banChatMember").is_empty(), "without group_bound_only nobody is removed");
        }
    }
}

/// README: "Codes are one-time and expire in ten minutes."
#[tokio::test]
async fn bind_codes_expire_after_ten_minutes() {
    let (_d, app, _fake, clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"name": "One"})).await;
    put(&app, "/api/v1/users/u2", json!({"name": "Two"})).await;
    let (_, first) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    assert_eq!(first["expires_at"], "2026-11-23T10:10:00Z");
    clock.advance(SignedDuration::from_secs(599));
    let r = post(&app, text(42, &format!("/bind {}", first["code"].as_str().unwrap()))).await;
    assert_eq!(r["text"], "Bound to One. Your notifications will come here.");

    let (_, second) = call(&app, "POST", "/api/v1/users/u2/bind-code", None).await;
    clock.advance(SignedDuration::from_secs(601));
    let r = post(&app, text(43, &format!("/bind {}", second["code"].as_str().unwrap()))).await;
    assert_eq!(r["text"], "This code is invalid or has expired. Get a new one from the panel.");
    assert!(app.repo.user_by_chat(ChannelKind::Telegram, "43").await.unwrap().is_none());
}

/// README: "`/checkin` (once per local day, reward from the settings' range)".
#[tokio::test]
async fn check_in_rewards_stay_within_the_settings_range() {
    let (_d, app, _fake, clock) = telegram_app(json!({})).await;
    put(&app, "/api/v1/settings", json!({"checkin": {"min": 5, "max": 7, "unit": "GB"}})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
    let reward = |r: &Value| -> i64 {
        let t = r["text"].as_str().unwrap();
        t.strip_prefix("Checked in: +").and_then(|r| r.split(' ').next()).unwrap_or_else(|| panic!("{t}")).parse().unwrap()
    };
    let (mut seen, mut total) = (BTreeSet::new(), 0);
    for _ in 0..60 {
        clock.advance(SignedDuration::from_hours(24));
        let r = reward(&post(&app, text(42, "/checkin")).await);
        assert!((5..=7).contains(&r), "{r}");
        seen.insert(r);
        total += r;
    }
    // Drawn from the whole range (missing one of three values 60 times: p < 1e-10).
    assert_eq!(seen, BTreeSet::from([5, 6, 7]));
    assert_eq!(app.repo.user("u1").await.unwrap().unwrap().value.rewards, total);
    put(&app, "/api/v1/settings", json!({"checkin": {"min": 3, "max": 3, "unit": "GB"}})).await;
    clock.advance(SignedDuration::from_hours(24));
    assert_eq!(reward(&post(&app, text(42, "/checkin")).await), 3);
}

/// README: delivery runs at Telegram's "20/min per group" and no faster: 20 messages to the
/// group in 40 s go, the 21st is rescheduled until the minute of the first has passed.
#[tokio::test]
async fn a_group_gets_at_most_twenty_messages_a_minute() {
    let clock = clock(NOW);
    let queue = Recording::new();
    let (_d, app) = build(clock.clone(), Some(queue.clone()), |_| {});
    let fake = telegram_channel(&app, "tg", &[], json!({})).await;
    let mut ids = Vec::new();
    for i in 0..21 {
        // No admins: a node notice goes to the group only.
        ids.push(notify(&app, json!({"type": "node", "text": format!("n{i}"), "to": "admins"})).await);
    }
    let d = Dispatcher::default();
    for i in 0..21 {
        let batch = app.queue.receive(1, Duration::from_millis(200)).await.unwrap();
        assert_eq!(batch.len(), 1, "message {i}");
        let failed = d.process(&app, batch.clone()).await;
        if failed.is_empty() {
            app.queue.delete(&batch[0].receipt).await.unwrap();
        } else {
            assert_eq!(i, 20, "only the 21st waits");
        }
        // Two seconds apart: the chat's one a second never binds, only the group's minute.
        clock.advance(SignedDuration::from_secs(2));
    }
    assert_eq!(chats(&fake), vec![GROUP.to_owned(); 20]);
    // Sent at 0, 2 ... 38 s; asked at 40 s, the 21st may go at 60 s: rescheduled 20 s, not sent.
    assert_eq!(queue.timeouts(), [20]);
    let last = &deliveries(&app, &ids[20]).await[0];
    assert_eq!((last["status"].as_str(), last["attempts"].as_u64()), (Some("queued"), Some(0)), "{last}");
    let channel = app.repo.channel("tg").await.unwrap().unwrap();
    clock.set("2026-11-23T10:00:58Z".parse().unwrap());
    assert!(matches!(d.pacer.acquire(&app.repo, &channel, GROUP).await.unwrap(), Pace::Later(_)));
    clock.set("2026-11-23T10:01:00Z".parse().unwrap());
    assert_eq!(d.pacer.acquire(&app.repo, &channel, GROUP).await.unwrap(), Pace::Go);
}

/// Telegram's `retry_after` is honoured up to the queue's longest delay (12 h, SQS's maximum
/// visibility timeout), and the chat's pause in the instance is capped the same way.
#[tokio::test]
async fn a_retry_after_beyond_the_queues_longest_delay_is_capped_at_twelve_hours() {
    let queue = Recording::new();
    let (_d, app) = build(clock(NOW), Some(queue.clone()), |_| {});
    let fake = telegram_channel(&app, "tg", &[], json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}})).await;
    let id = notify(&app, json!({"type": "account", "text": "x", "to": {"user": "u1"}})).await;
    fake.with(|s| s.throttle.insert("42".into(), 1_000_000_000_000));
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(d.process(&app, batch).await.len(), 1);
    assert!(fake.with(|s| s.throttle.is_empty()), "the 429 was given");
    assert_eq!(queue.timeouts(), [12 * 60 * 60]);
    let waiting = &deliveries(&app, &id).await[0];
    assert_eq!((waiting["status"].as_str(), waiting["attempts"].as_u64()), (Some("queued"), Some(0)), "{waiting}");
    let channel = app.repo.channel("tg").await.unwrap().unwrap();
    let Pace::Later(pause) = d.pacer.acquire(&app.repo, &channel, "42").await.unwrap() else { panic!("the chat is paused") };
    assert!(pause <= Duration::from_secs(12 * 60 * 60) && pause > Duration::from_secs(12 * 60 * 60 - 60), "{pause:?}");
}

// ---- WeCom ----

async fn wecom_channel(app: &App, api_base: &str, extra: Value) {
    use herald_tests::wecom::{AES_KEY, AGENT, CORP, SECRET, TOKEN};
    let mut settings =
        json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY, "api_base": api_base});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, body) = call(app, "PUT", "/api/v1/channels/wc", Some(json!({"kind": "wecom", "settings": settings}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
}

async fn wecom_app(extra: Value) -> (tempfile::TempDir, App, FakeWecom, Arc<ManualClock>) {
    let fake = FakeWecom::start().await;
    let clock = clock(NOW);
    let (dir, app) = build(clock.clone(), None, |_| {});
    wecom_channel(&app, &fake.server.url, extra).await;
    (dir, app, fake, clock)
}

fn access_tokens_of_sends(fake: &FakeWecom) -> Vec<String> {
    fake.server
        .received()
        .iter()
        .filter(|r| r.path == "/cgi-bin/message/send")
        .map(|r| r.query.split('&').find_map(|kv| kv.strip_prefix("access_token=")).unwrap().to_owned())
        .collect()
}

/// README: "An `all` notification reaches many members in one call (`touser=a|b|c`, up to
/// 1000, never `@all`)": 1001 members make two calls, of 1000 and 1.
#[tokio::test]
async fn wecom_touser_holds_at_most_a_thousand_members() {
    let (_d, app, fake, _clock) = wecom_app(json!({})).await;
    let now = app.now();
    let members: Vec<String> = (0..1001).map(|i| format!("m{i:04}")).collect();
    let users: Vec<herald::domain::User> = members
        .iter()
        .map(|m| {
            let mut u = herald::domain::User::new(m, now);
            u.ids.insert(ChannelKind::Wecom.into(), m.clone());
            u
        })
        .collect();
    app.repo.seed_users(&users).await.unwrap();
    let id = notify(&app, json!({"type": "announcement", "text": "维护通知", "to": "all"})).await;
    drain(&app, &Dispatcher::default()).await;
    let sent = fake.delivered();
    let mut sizes: Vec<usize> = sent.iter().map(|m| m["touser"].as_str().unwrap().split('|').count()).collect();
    sizes.sort();
    assert_eq!(sizes, [1, 1000]);
    let mut reached: Vec<String> =
        sent.iter().flat_map(|m| m["touser"].as_str().unwrap().split('|').map(str::to_owned).collect::<Vec<_>>()).collect();
    reached.sort();
    assert_eq!(reached, members, "each member once");
    assert!(deliveries(&app, &id).await.iter().all(|d| d["status"] == "sent"));
    assert!(fake.with(|s| s.dropped.is_empty()));
}

/// README: the access token is "fetched again once if WeCom rejects it (42001 / 40014)": a
/// token WeCom says expired (42001) is replaced and the send made once more.
#[tokio::test]
async fn wecom_fetches_a_new_token_when_wecom_answers_42001() {
    let (_d, app, fake, _clock) = wecom_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"wecom": "zhangsan"}})).await;
    // The shared token is one WeCom issued but that has expired by the time it is used.
    fake.with(|s| s.token_ttl = Duration::ZERO);
    let channel = app.repo.channel("wc").await.unwrap().unwrap();
    let ChannelSettings::Wecom(s) = &channel.settings else { panic!("a WeCom channel") };
    let client = herald::platforms::wecom::Client::new(&app.http, channel.api_base(), s, &app.repo);
    assert_eq!(client.token(true).await.unwrap(), "tok-2");
    fake.with(|s| s.token_ttl = Duration::from_secs(7200));
    let id = notify(&app, json!({"type": "account", "text": "x", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(access_tokens_of_sends(&fake), ["tok-2", "tok-3"], "refused with the expired token, sent with a new one");
    assert_eq!(fake.delivered().len(), 1);
    let d = &deliveries(&app, &id).await[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(1)), "{d}");
}

/// README: the access token is "cached in the store for every instance, refreshed five
/// minutes before it expires" (WeCom's 7200 s: used for 6900 s).
#[tokio::test]
async fn wecom_refreshes_the_token_five_minutes_before_it_expires() {
    let (_d, app, fake, clock) = wecom_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"wecom": "zhangsan"}})).await;
    // The menu was created at NOW with tok-1.
    let d = Dispatcher::default();
    let app_ref = &app;
    let send = move |text: &'static str| notify(app_ref, json!({"type": "account", "text": text, "to": {"user": "u1"}}));
    clock.advance(SignedDuration::from_secs(6899));
    send("a").await;
    drain(&app, &d).await;
    clock.advance(SignedDuration::from_secs(2));
    send("b").await;
    drain(&app, &d).await;
    assert_eq!(access_tokens_of_sends(&fake), ["tok-1", "tok-2"]);
    assert_eq!(fake.with(|s| s.tokens_issued), 2);
}

/// README: "45009 / 45033 reschedule the message" (45033: too many concurrent calls).
#[tokio::test]
async fn wecom_45033_reschedules_the_message() {
    let sends = Arc::new(AtomicUsize::new(0));
    let n = sends.clone();
    let server = TestServer::start(move |r| match r.path.as_str() {
        "/cgi-bin/gettoken" => Reply::ok(json!({"errcode": 0, "errmsg": "ok", "access_token": "t1", "expires_in": 7200}).to_string()),
        "/cgi-bin/message/send" if n.fetch_add(1, Ordering::SeqCst) == 0 => {
            Reply::ok(json!({"errcode": 45033, "errmsg": "api concurrent out of limit"}).to_string())
        }
        _ => Reply::ok(json!({"errcode": 0, "errmsg": "ok"}).to_string()),
    })
    .await;
    let queue = Recording::new();
    let (_d, app) = build(clock(NOW), Some(queue.clone()), |_| {});
    wecom_channel(&app, &server.url, json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"wecom": "zhangsan"}})).await;
    let id = notify(&app, json!({"type": "account", "text": "x", "to": {"user": "u1"}})).await;
    let batch = app.queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(Dispatcher::default().process(&app, batch).await.len(), 1);
    assert_eq!(sends.load(Ordering::SeqCst), 1, "the 45033 was given");
    assert_eq!(queue.timeouts(), [60], "rescheduled a minute later, not slept on");
    let d = &deliveries(&app, &id).await[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("queued"), Some(0)), "{d}");
    assert!(d["reason"].as_str().unwrap().contains("45033"), "{d}");
}

/// README: "Sending uses `message/send`: text ..., markdown, textcard ... and news".
#[tokio::test]
async fn wecom_sends_markdown_as_a_markdown_message() {
    let (_d, app, fake, _clock) = wecom_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"wecom": "zhangsan"}})).await;
    notify(&app, json!({"type": "account", "text": "**续费** 提醒\n> 3 天后到期", "format": "markdown", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(
        fake.delivered(),
        [
            json!({"touser": "zhangsan", "msgtype": "markdown", "agentid": 1000002, "enable_duplicate_check": 0, "markdown": {"content": "**续费** 提醒\n> 3 天后到期"}})
        ]
    );
}

fn wecom_crypto() -> herald::platforms::wecom::crypto::Crypto {
    use herald_tests::wecom::{AES_KEY, CORP, TOKEN};
    herald::platforms::wecom::crypto::Crypto::new(TOKEN, AES_KEY, CORP).unwrap()
}

/// A menu click as WeCom posts it (encrypted) at `ts`; the decrypted passive reply's text.
async fn click(app: &App, from: &str, key: &str, ts: i64) -> Option<String> {
    use herald_tests::wecom::{AGENT, CORP};
    let inner = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[{key}]]></EventKey><AgentID>{AGENT}</AgentID></xml>"
    );
    let c = wecom_crypto();
    let enc = c.encrypt_with(&inner, herald::domain::ids::random_bytes::<16>()).unwrap();
    let sig = c.signature(&ts.to_string(), "n1", &enc);
    let body = format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
    let uri: http::Uri = format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={ts}&nonce=n1").parse().unwrap();
    let resp =
        herald::edge::router::route(app, herald::http::Request::new(http::Method::POST, &uri, http::HeaderMap::new(), bytes::Bytes::from(body)))
            .await;
    assert_eq!(resp.status(), 200);
    let body = String::from_utf8_lossy(resp.body()).into_owned();
    if body.is_empty() {
        return None;
    }
    let outer = herald::platforms::wecom::receive::xml_fields(&body).unwrap();
    let inner = herald::platforms::wecom::receive::xml_fields(&c.decrypt(&outer["Encrypt"]).unwrap()).unwrap();
    Some(inner["Content"].clone())
}

/// README: "menu clicks run their command, for the `admin_whitelist` only when it is set":
/// without one, anybody's click runs.
#[tokio::test]
async fn wecom_menu_clicks_run_for_everyone_without_an_admin_whitelist() {
    let (_d, app, _fake, clock) = wecom_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"name": "Zhang", "plan": "pro", "ids": {"wecom": "zhangsan"}})).await;
    let ts = herald::domain::clock::Clock::now(&*clock).as_second();
    let my = click(&app, "zhangsan", "/my", ts).await.unwrap();
    assert!(my.starts_with("Zhang\nPlan: pro"), "{my}");
    assert_eq!(click(&app, "lisi", "/ping", ts).await.as_deref(), Some("Your id: lisi\nThis chat: lisi"));
}

// ---- the dispatcher ----

/// README: "transient failures retry with exponential backoff and jitter" (reliability.md:
/// ±25% jitter, `HERALD_RETRY_BASE_SECS` 10 s doubling, at most 15 min).
#[test]
fn backoff_doubles_with_each_attempt() {
    assert_eq!(Config::default().retry_base, Duration::from_secs(10));
    let base = Duration::from_secs(10);
    let samples = |attempt: u32| (0..400).map(|_| backoff(base, attempt).as_secs_f64()).collect::<Vec<f64>>();
    for attempt in 1..=6 {
        let nominal = 10.0 * 2f64.powi(attempt as i32 - 1);
        let this = samples(attempt);
        assert!(this.iter().all(|s| (nominal * 0.75 - 1e-6..=nominal * 1.25 + 1e-6).contains(s)), "attempt {attempt}: {this:?}");
        // With at most ±25%, every delay of the next attempt is longer than any of this one.
        let next_min = samples(attempt + 1).into_iter().fold(f64::MAX, f64::min);
        assert!(next_min > this.iter().copied().fold(0.0, f64::max), "attempt {attempt}");
    }
    // The first retry waits the base (attempt 0 reads as the first).
    assert!((7.5..=12.5).contains(&backoff(base, 0).as_secs_f64()));
}

#[test]
fn backoff_jitter_spreads_delays_up_to_a_quarter_either_way() {
    let delays: Vec<f64> = (0..2000).map(|_| backoff(Duration::from_secs(40), 1).as_secs_f64()).collect();
    let (lo, hi) = (delays.iter().copied().fold(f64::MAX, f64::min), delays.iter().copied().fold(0.0, f64::max));
    assert!(lo >= 30.0 - 1e-6 && hi <= 50.0 + 1e-6, "{lo} {hi}");
    // Spread both ways, close to the bounds (a draw under 32 or over 48 has p ≈ 0.1 each).
    assert!(lo < 32.0 && hi > 48.0, "{lo} {hi}");
    let distinct: BTreeSet<u64> = delays.iter().map(|d| (d * 1000.0) as u64).collect();
    assert!(distinct.len() > 100, "{} distinct delays", distinct.len());
}

#[test]
fn backoff_is_capped_at_fifteen_minutes() {
    let base = Duration::from_secs(10);
    // 10 s × 2^7 = 1280 s: even with -25% over the cap.
    for attempt in [8, 11, 20, 1000, u32::MAX] {
        for _ in 0..200 {
            assert_eq!(backoff(base, attempt), Duration::from_secs(900), "attempt {attempt}");
        }
    }
    // Below the cap, the cap only cuts the jitter's upper part: 10 s × 2^6 = 640 s (480..800).
    assert!((0..400).map(|_| backoff(base, 7)).all(|d| d >= Duration::from_secs(480) && d <= Duration::from_secs(800)));
}

/// The setting: a delivery failing transiently, with attempts left, on the queue's next-to-last
/// receive and then its last (`HERALD_MAX_RECEIVES` 3 here, `HERALD_MAX_ATTEMPTS` 10).
async fn failing_until_the_receives_run_out() -> (tempfile::TempDir, App, TestServer, String) {
    let hook = endpoint(500).await;
    let (dir, app) = build(clock(NOW), None, |c| {
        c.max_receives = 3;
        c.max_attempts = 10;
    });
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin"})).await;
    let id = notify(&app, json!({"type": "node", "text": "n1 is down", "to": "admins"})).await;
    drain(&app, &Dispatcher::default()).await;
    (dir, app, hook, id)
}

/// README / reliability.md: "lost messages end in a dead-letter queue and a message to the
/// admins, never in silence"; "on a message's last receive the dispatcher finishes it itself"
/// rather than leave it to the queue's redrive, which would move it without a word.
#[tokio::test]
async fn the_dispatcher_finishes_a_failing_message_itself_before_the_queue_redrives_it() {
    let (_d, app, hook, id) = failing_until_the_receives_run_out().await;
    let d = &deliveries(&app, &id).await[0];
    assert_eq!(d["status"], "failed", "{d}");
    let attempts = d["attempts"].as_u64().unwrap();
    assert!((1..=3).contains(&attempts) && attempts < 10, "finished within the queue's receives, with attempts left: {d}");
    assert_eq!(d["reason"], format!("gave up after {attempts} attempts: HTTP 500"));
    assert_eq!(hook.received().len() as u64, attempts, "each try reached the endpoint");
    assert_eq!(app.queue.depth().await.unwrap(), Depth { waiting: 0, in_flight: 0, dead: 1 });
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert!(m["messages"][0]["text"].as_str().unwrap().contains("HTTP 500"), "{m}");
}

/// The same, exactly as worded: retried as usual until the last receive, finished on it.
#[tokio::test]
async fn the_dispatcher_finishes_a_failing_message_on_its_last_receive() {
    let (_d, app, hook, id) = failing_until_the_receives_run_out().await;
    let d = &deliveries(&app, &id).await[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("failed"), Some(3)), "{d}");
    assert_eq!(hook.received().len(), 3);
}

/// reliability.md: after a failure "the admins get a message-center entry and a `system`
/// notification on every other channel (once per channel and reason an hour)".
#[tokio::test]
async fn a_failure_tells_the_admins_once_per_channel_and_reason_an_hour() {
    let clock = clock(NOW);
    let (_d, app) = build(clock.clone(), None, |_| {});
    let bad = endpoint(400).await;
    let ops = endpoint(200).await;
    put(&app, "/api/v1/channels/bad", json!({"kind": "webhook", "types": ["download"], "settings": {"url": bad.url}})).await;
    put(&app, "/api/v1/channels/ops", json!({"kind": "webhook", "types": ["system"], "settings": {"url": ops.url}})).await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin"})).await;
    let d = Dispatcher::default();
    let (app_ref, d_ref) = (&app, &d);
    let fail_once = move || async move {
        notify(app_ref, json!({"type": "download", "text": "done", "to": "admins"})).await;
        drain(app_ref, d_ref).await;
    };
    let notices = || ops.received().iter().map(|r| r.json()).collect::<Vec<Value>>();
    fail_once().await;
    let first = notices();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0]["type"].as_str(), first[0]["text"].as_str()),
        (Some("system"), Some("A notification of type download could not be sent to url on bad: HTTP 400"))
    );
    fail_once().await;
    clock.advance(SignedDuration::from_mins(59));
    fail_once().await;
    assert_eq!(notices().len(), 1, "the same channel and reason within the hour: told once");
    clock.advance(SignedDuration::from_mins(2));
    fail_once().await;
    assert_eq!(notices().len(), 2, "an hour later: told again");
    assert_eq!(bad.received().len(), 4, "every notification failed");
    let (_, m) = call(&app, "GET", "/api/v1/messages?admin=a1", None).await;
    assert_eq!(m["messages"].as_array().unwrap().iter().filter(|m| m["category"] == "failure").count(), 2, "{m}");
}

/// An app on a manual clock whose queue refuses sends while `failing` is set, with a webhook
/// channel `hook` to a sink that answers 200.
async fn with_a_queue_that_can_fail() -> (Arc<ManualClock>, Arc<herald_tests::faults::FlakyQueue>, tempfile::TempDir, App, TestServer) {
    let clock = clock(NOW);
    let queue = Arc::new(herald_tests::faults::FlakyQueue { inner: Arc::new(memory_queue(180, 20)), failing: 0.into() });
    let (dir, app) = build(clock.clone(), Some(queue.clone()), |_| {});
    let hook = endpoint(200).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    (clock, queue, dir, app, hook)
}

/// reliability.md: "Every notification Herald raises itself ... is taken in the same way as an
/// API call": stored once with its deliveries in it (no `PENDING` entry, no delivery record
/// until the dispatcher claims it). A queue that refuses once is met by the second way (stored
/// first): sent once all the same.
#[tokio::test]
async fn a_notification_herald_raises_is_taken_in_like_an_api_call() {
    let (clock, queue, _d, app, hook) = with_a_queue_that_can_fail().await;
    let n = Notification::text(new_id(clock.now()), "node", None, "n1 is down".into(), Target::Admins, clock.now());
    assert_eq!(herald::routing::notify::submit(&app, n.clone()).await.unwrap().deliveries, 1);
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty(), "not stored first");
    let stored = app.repo.notification(&n.id).await.unwrap().unwrap().value;
    assert_eq!(stored.plan.len(), 1, "its delivery in it");
    assert!(app.repo.delivery(&n.id, &stored.plan[0].id).await.unwrap().is_none(), "no record of its own yet");

    let again = Notification::text(new_id(clock.now()), "node", None, "n2 is down".into(), Target::Admins, clock.now());
    queue.failing.store(1, Ordering::SeqCst);
    assert_eq!(herald::routing::notify::submit(&app, again.clone()).await.unwrap().deliveries, 1);
    assert_eq!(queue.failing.load(Ordering::SeqCst), 0, "the intake was refused");
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty(), "stored first, then planned");
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 2);
    assert_eq!(deliveries(&app, &again.id).await[0]["status"], "sent");
}

/// reliability.md: a daily run whose reminders were queued but not stored (the store failed)
/// is not done; the run made again takes them all, and its messages are queued beside the
/// first run's ("deduplication ids of their own run"), not dropped as their copies: each user
/// is reminded once, and a third run finds them all taken.
#[tokio::test]
async fn reminders_of_a_run_that_failed_are_taken_again_and_sent_once() {
    let (_d, app, faults) = faulty_app(|c| c.public_url = Some("https://herald.test".into()));
    let tg = telegram_channel(&app, "tg", &[], json!({})).await;
    put(&app, "/api/v1/settings", json!({"daily_report": {"enabled": false}})).await;
    assert_eq!(herald_tests::seed_users(&app, 30, "2026-11-26T12:00:00Z").await, 30);
    // Reminders are kept at `N#R...` (their ids come from their keys).
    *faults.down_prefix.lock().unwrap() = Some("N#R".into());
    assert!(herald::jobs::run(&app, "daily", true, None).await.is_err());
    *faults.down_prefix.lock().unwrap() = None;
    assert_eq!(app.queue.depth().await.unwrap().waiting, 30, "queued, not stored");
    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    assert_eq!(v["daily"]["reminders"]["reminded"], 30, "{v}");
    assert_eq!(app.queue.depth().await.unwrap().waiting, 60, "not dropped as copies of the first run's");
    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    assert_eq!((v["daily"]["reminders"]["reminded"].as_u64(), v["daily"]["reminders"]["skipped"].as_u64()), (Some(0), Some(30)), "{v}");
    drain(&app, &Dispatcher::default()).await;
    let mut got = chats(&tg);
    got.sort();
    got.dedup();
    assert_eq!((chats(&tg).len(), got.len()), (30, 30), "each user once");
}

/// A reminder's deliveries kept in records of their own (held for quiet hours here) are written
/// only if absent: a run that takes a reminder another run is taking at the same time (both
/// found it not yet stored) is refused, rather than putting a delivery the other already moved
/// on back to `queued`. Here the other run's notification is not there (yet) while its held
/// delivery was already sent.
#[tokio::test]
async fn a_reminder_taken_again_does_not_reset_its_deliveries() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    telegram_channel(&app, "tg", &[], json!({})).await;
    put(&app, "/api/v1/settings", json!({"daily_report": {"enabled": false}, "deferrable_types": ["account"]})).await;
    let quiet = json!({"start": "00:00", "end": "23:59", "time_zone": "UTC"});
    put(&app, "/api/v1/users/u1", json!({"ids": {"telegram": "42"}, "expires_at": "2026-11-26T12:00:00Z", "preferences": {"quiet_hours": quiet}}))
        .await;
    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    assert_eq!(v["daily"]["reminders"]["reminded"], 1, "{v}");
    let (_, list) = call(&app, "GET", "/api/v1/notifications?type=account", None).await;
    let id = list["notifications"][0]["id"].as_str().unwrap().to_owned();
    let records = app.repo.table.query(Query::new(format!("N#{id}"))).await.unwrap().items;
    let did = records.iter().find_map(|i| i.sk.strip_prefix("D#")).expect("held: a record of its own").to_owned();
    let held = app.repo.delivery(&id, &did).await.unwrap().unwrap();
    let mut sent = held.value.clone();
    sent.status = herald::domain::DeliveryStatus::Sent;
    app.repo.save_delivery(&sent, held.rev).await.unwrap();
    app.repo.table.delete(&format!("N#{id}"), "N", Cond::Any).await.unwrap();

    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    assert_eq!((v["daily"]["reminders"]["reminded"].as_u64(), v["daily"]["reminders"]["skipped"].as_u64()), (Some(0), Some(1)), "{v}");
    assert_eq!(app.repo.delivery(&id, &did).await.unwrap().unwrap().value.status, herald::domain::DeliveryStatus::Sent);
}

/// reliability.md: a notification Herald raises itself is taken in like an API call; "if that
/// fails for want of the queue or the store, it is stored first instead, on the `PENDING` index
/// until its messages are queued; if that is interrupted too, the sweeper (every tick) plans it
/// again". Here the queue was down for both. Through the API the same failure stores nothing:
/// the client's retry with its key is sent once.
#[tokio::test]
async fn the_sweeper_plans_again_a_notification_whose_planning_was_interrupted() {
    let (clock, queue, _d, app, hook) = with_a_queue_that_can_fail().await;
    let body = json!({"type": "node", "text": "n2 is down", "to": "admins", "idempotency_key": "n2-down"});
    queue.failing.store(1, Ordering::SeqCst);
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(body.clone())).await;
    assert_eq!((status, v), (503, json!({"error": "unavailable"})));
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty(), "nothing of it stored");
    assert_eq!(call(&app, "POST", "/api/v1/notify", Some(body)).await.0, 202, "the retry with its key");

    let mut n = Notification::text(new_id(clock.now()), "node", None, "n1 is down".into(), Target::Admins, clock.now());
    n.idempotency_key = Some("n1-down".into());
    queue.failing.store(2, Ordering::SeqCst);
    assert!(herald::routing::notify::submit(&app, n).await.is_err());
    assert_eq!(queue.failing.load(Ordering::SeqCst), 0, "the queue refused the intake and the stored notification's message");
    let pending = app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(app.queue.depth().await.unwrap().waiting, 1, "the API's retry only");
    // Not yet: it may still be being planned.
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (0, 0));
    clock.advance(SignedDuration::from_mins(3));
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (0, 1));
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 2);
    assert_eq!(deliveries(&app, &pending[0].id).await[0]["status"], "sent");
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (0, 0), "planned once");
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 2, "each sent once");
}

/// A channel written while a request is reading the configuration into the cache (the
/// periodic job on the local runner, another request) is not left out of the cache for its
/// lifetime: a notification right after the write reaches it.
#[tokio::test]
async fn a_channel_written_while_the_configuration_is_read_is_not_cached_without_it() {
    let (_dir, app, faults) = faulty_app(|c| c.cache_ttl = Duration::from_secs(30));
    let app = Arc::new(app);
    let hook = endpoint(200).await;
    let gate = Arc::new(tokio::sync::Notify::new());
    *faults.hold_channels.lock().unwrap() = Some(gate.clone());
    let reading = {
        let app = app.clone();
        tokio::spawn(async move { app.snapshot().await.unwrap().channels.len() })
    };
    faults.channels_read.notified().await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    gate.notify_one();
    assert_eq!(reading.await.unwrap(), 0, "read before the channel was written");
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "up", "to": "admins"}))).await;
    assert_eq!((status, v["deliveries"].as_u64()), (202, Some(1)), "{v}");
}

/// reliability.md: on AWS an idempotency key's record is written first; "if the request then
/// fails, the key is given back, so a retry goes through; one left behind (the store failed
/// again) names nothing: another request with it answers 409 for a minute, then takes it over".
#[tokio::test]
async fn a_key_of_a_request_that_failed_midway_is_given_back_or_taken_over_after_a_minute() {
    let (clock, faults, dir) = (clock(NOW), Arc::new(TableFaults::default()), tempfile::tempdir().unwrap());
    let table = Arc::new(FaultyTable(Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap()), faults.clone()));
    let app = App::new(table, Arc::new(memory_queue(180, 20)), clock.clone(), test_config()).unwrap();
    let hook = endpoint(200).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    let body = |key: &str| json!({"type": "node", "text": format!("{key}: down"), "to": "admins", "idempotency_key": key});
    // The notification's write fails after its key's: the key is given back, the retry goes through.
    *faults.conflict_prefix.lock().unwrap() = Some("NL#".into());
    assert_eq!(call(&app, "POST", "/api/v1/notify", Some(body("n3"))).await.0, 409);
    *faults.conflict_prefix.lock().unwrap() = None;
    assert!(app.repo.table.get("IDEM#n3", "-").await.unwrap().is_none(), "given back");
    let (status, first) = call(&app, "POST", "/api/v1/notify", Some(body("n3"))).await;
    assert_eq!((status, first["deliveries"].as_u64()), (202, Some(1)), "{first}");

    // A key left naming nothing (its request and the store failed again): 409, then taken over.
    let mut left = Item::new("IDEM#n4", "-");
    left.data = json!({"notification": "01M83XJ880HCT06BWQE8W572EF"}).to_string();
    left.exp = Some(clock.now().as_second() + 86_400);
    app.repo.table.put(left, Cond::Absent).await.unwrap();
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(body("n4"))).await;
    assert_eq!((status, v["error"].as_str()), (409, Some("conflict")), "{v}");
    clock.advance(SignedDuration::from_secs(61));
    let (status, taken) = call(&app, "POST", "/api/v1/notify", Some(body("n4"))).await;
    assert_eq!((status, taken["deliveries"].as_u64()), (202, Some(1)), "{taken}");
    assert_eq!(call(&app, "POST", "/api/v1/notify", Some(body("n4"))).await.1["id"], taken["id"]);
    let n = app.repo.keyed_notification("n4").await.unwrap().unwrap();
    assert_eq!(n.id.as_str(), taken["id"].as_str().unwrap());
}

/// README: `HERALD_CACHE_SECS` is "how long a function caches channel configs and settings
/// (default 30)": another instance's change is not seen while the cache is fresh, its own is,
/// and once the time is up the change is read.
#[tokio::test]
async fn channel_configs_and_settings_are_cached_for_the_configured_time() {
    assert_eq!(Config::default().cache_ttl, Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let table: Arc<dyn Table> = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let queue: Arc<dyn Queue> = Arc::new(memory_queue(180, 20));
    let instance = |ttl: Duration| App::new(table.clone(), queue.clone(), clock(NOW), Config { cache_ttl: ttl, ..test_config() }).unwrap();
    let (cached, other, brief) = (instance(Duration::from_secs(3600)), instance(Duration::ZERO), instance(Duration::from_millis(1)));
    let locale = locale_of;
    assert_eq!((locale(&cached).await, locale(&brief).await), (herald::domain::Locale::En, herald::domain::Locale::En));
    put(&other, "/api/v1/settings", json!({"locale": "zh-CN"})).await;
    put(&other, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": "https://h.test/x"}})).await;
    assert_eq!(locale(&other).await, herald::domain::Locale::ZhCn);
    let snap = cached.snapshot().await.unwrap();
    assert_eq!((snap.settings.locale, snap.channels.len()), (herald::domain::Locale::En, 0), "within the TTL: as cached");
    // A change made by this instance is seen at once.
    put(&cached, "/api/v1/channels/ops", json!({"kind": "webhook", "settings": {"url": "https://o.test/x"}})).await;
    let snap = cached.snapshot().await.unwrap();
    assert_eq!((snap.settings.locale, snap.channels.len()), (herald::domain::Locale::ZhCn, 2));
    // Past the TTL (1 ms; at least 5 ms pass), the other instance's change is read.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(locale(&brief).await, herald::domain::Locale::ZhCn);
}

async fn locale_of(app: &App) -> herald::domain::Locale {
    app.snapshot().await.unwrap().settings.locale
}

// ---- nodes ----

struct Ops {
    _dir: tempfile::TempDir,
    app: App,
    hook: TestServer,
    d: Dispatcher,
}

/// Herald with a webhook carrying the admins' notices, an admin, and the settings given.
async fn ops(settings: Value) -> Ops {
    let (dir, app) = build(clock(NOW), None, |_| {});
    let hook = endpoint(200).await;
    put(&app, "/api/v1/settings", settings).await;
    put(&app, "/api/v1/channels/ops", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    put(&app, "/api/v1/users/admin", json!({"role": "admin"})).await;
    Ops { _dir: dir, app, hook, d: Dispatcher::default() }
}

impl Ops {
    async fn texts(&self) -> Vec<String> {
        drain(&self.app, &self.d).await;
        self.hook.received().iter().map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned()).collect()
    }

    async fn blocked(&self, id: &str) -> bool {
        call(&self.app, "GET", &format!("/api/v1/nodes/{id}"), None).await.1["blocked"].as_bool().unwrap()
    }
}

/// README: "Blocked / unblocked follows ... the host's reports, with the same debounce"
/// (`node.debounce`, here 2): one report changes nothing, the second check in a row does.
#[tokio::test]
async fn blocked_and_unblocked_reports_wait_for_the_debounce() {
    let w = ops(json!({"node": {"debounce": 2}})).await;
    put(&w.app, "/api/v1/nodes/n1", json!({"name": "N1", "region": "cn"})).await;
    let app = &w.app;
    let beat = move |blocked: bool| call(app, "POST", "/api/v1/nodes/n1/heartbeat", Some(json!({"blocked": blocked})));
    beat(true).await;
    job(&w.app, "node-check").await;
    assert_eq!((w.texts().await.len(), w.blocked("n1").await), (1, false), "one blocked check: no change (a debounce of 1 would change it)");
    beat(true).await;
    job(&w.app, "node-check").await;
    assert_eq!(w.texts().await[1..], ["Node N1 is unreachable from cn."]);
    assert!(w.blocked("n1").await);
    beat(false).await;
    job(&w.app, "node-check").await;
    assert_eq!((w.texts().await.len(), w.blocked("n1").await), (2, true), "one reachable check: still blocked");
    job(&w.app, "node-check").await;
    assert_eq!(w.texts().await[1..], ["Node N1 is unreachable from cn.", "Node N1 is reachable again from cn."]);
    assert!(!w.blocked("n1").await);
}

/// The same through the `node.probe_url` checker.
#[tokio::test]
async fn blocked_and_unblocked_probes_wait_for_the_debounce() {
    let reachable = Arc::new(AtomicBool::new(false));
    let r = reachable.clone();
    let probe = TestServer::start(move |_| Reply::ok(json!({"reachable": r.load(Ordering::SeqCst)}).to_string())).await;
    let w = ops(json!({"node": {"debounce": 2, "probe_url": format!("{}/check?host={{host}}", probe.url)}})).await;
    put(&w.app, "/api/v1/nodes/n1", json!({"name": "N1", "host": "n1.example", "region": "cn"})).await;
    job(&w.app, "node-check").await;
    assert_eq!((w.texts().await.len(), w.blocked("n1").await), (1, false));
    job(&w.app, "node-check").await;
    assert_eq!(w.texts().await[1..], ["Node N1 is unreachable from cn."]);
    reachable.store(true, Ordering::SeqCst);
    job(&w.app, "node-check").await;
    assert_eq!((w.texts().await.len(), w.blocked("n1").await), (2, true));
    job(&w.app, "node-check").await;
    assert_eq!(w.texts().await.len(), 3);
    assert!(!w.blocked("n1").await);
    assert_eq!(probe.received().len(), 4, "the probe was asked at each check");
}

/// README: `GET /api/v1/nodes` lists the nodes (keys never shown).
#[tokio::test]
async fn get_nodes_lists_every_node_with_its_key_masked() {
    let w = ops(json!({})).await;
    put(&w.app, "/api/v1/nodes/n1", json!({"name": "N1", "host": "n1.example", "key": "node-key-0123456789"})).await;
    put(&w.app, "/api/v1/nodes/n2", json!({"name": "N2"})).await;
    let (status, v) = call(&w.app, "GET", "/api/v1/nodes", None).await;
    assert_eq!(status, 200);
    let nodes = v["nodes"].as_array().unwrap();
    let ids: BTreeSet<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from(["n1", "n2"]));
    let n1 = nodes.iter().find(|n| n["id"] == "n1").unwrap();
    assert_eq!((n1["name"].as_str(), n1["host"].as_str(), n1["key"].as_str()), (Some("N1"), Some("n1.example"), Some("********")));
    assert!(!v.to_string().contains("node-key-0123456789"));
    call(&w.app, "DELETE", "/api/v1/nodes/n2", None).await;
    assert_eq!(call(&w.app, "GET", "/api/v1/nodes", None).await.1["nodes"].as_array().unwrap().len(), 1);
}

async fn heartbeat(app: &App, node: &str, body: Value) {
    let (status, v) = call(app, "POST", &format!("/api/v1/nodes/{node}/heartbeat"), Some(body)).await;
    assert_eq!(status, 200, "{v}");
}

/// README: `GET /api/v1/status` has "nodes online / offline / blocked".
#[tokio::test]
async fn status_counts_the_nodes_online_offline_and_blocked() {
    let clock = clock(NOW);
    let (_d, app) = build(clock.clone(), None, |_| {});
    put(&app, "/api/v1/settings", json!({"node": {"debounce": 1}})).await;
    for n in ["up", "down", "walled", "new"] {
        put(&app, &format!("/api/v1/nodes/{n}"), json!({"name": n})).await;
    }
    for n in ["up", "down"] {
        heartbeat(&app, n, json!({})).await;
    }
    heartbeat(&app, "walled", json!({"blocked": true})).await;
    job(&app, "node-check").await;
    clock.advance(SignedDuration::from_mins(11));
    heartbeat(&app, "up", json!({})).await;
    heartbeat(&app, "walled", json!({"blocked": true})).await;
    job(&app, "node-check").await;
    let (status, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(status, 200);
    // "down" stopped sending; "new" never sent a heartbeat at all, and past `offline_after_secs`
    // since it was added it counts as offline too.
    assert_eq!(s["nodes"], json!({"total": 4, "online": 2, "offline": 2, "blocked": 1}), "{s}");
    // "down" comes back: today's counters hold its downtime as `downtime_secs`, and no
    // counter's internal key (`downtime#down`).
    clock.advance(SignedDuration::from_mins(1));
    heartbeat(&app, "down", json!({})).await;
    job(&app, "node-check").await;
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert!(s["today"]["downtime_secs"].as_i64().is_some_and(|secs| secs > 0), "{s}");
    assert!(s["today"].as_object().unwrap().keys().all(|k| !k.contains('#')), "{s}");
    for name in ["sent", "failed", "skipped", "checkins", "new_users"] {
        assert_eq!(s["today"][name], 0, "each counter is there, 0 until counted: {s}");
    }
}

// ---- the API ----

/// README: errors include "`409`" (a write that lost to a concurrent one, here every time) —
/// and nothing is changed.
#[tokio::test]
async fn the_api_answers_409_when_a_write_keeps_conflicting() {
    let (_dir, app, faults) = faulty_app(|_| {});
    put(&app, "/api/v1/users/u1", json!({"plan": "basic"})).await;
    *faults.conflict_prefix.lock().unwrap() = Some("U#u1".into());
    let (status, v) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"plan": "pro"}))).await;
    assert_eq!((status, v["error"].as_str()), (409, Some("conflict")), "{v}");
    assert_eq!(faults.conflicts.load(Ordering::SeqCst), 3, "three tries, each lost");
    *faults.conflict_prefix.lock().unwrap() = None;
    assert_eq!(call(&app, "GET", "/api/v1/users/u1", None).await.1["plan"], "basic");
    assert_eq!(call(&app, "PUT", "/api/v1/users/u1", Some(json!({"plan": "pro"}))).await.0, 200);
}

/// README: "`503` when the store or queue is unavailable".
#[tokio::test]
async fn the_api_answers_503_when_the_store_or_the_queue_is_unavailable() {
    let faults = Arc::new(TableFaults::default());
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(FaultyTable(Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap()), faults.clone()));
    let queue = Arc::new(herald_tests::faults::FlakyQueue { inner: Arc::new(memory_queue(180, 20)), failing: 0.into() });
    let app = App::new(table, queue.clone(), clock(NOW), test_config()).unwrap();
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": "https://h.test/x"}})).await;

    faults.down.store(true, Ordering::SeqCst);
    for (method, path) in [("GET", "/api/v1/channels"), ("GET", "/api/v1/status"), ("PUT", "/api/v1/users/u1")] {
        let (status, v) = call(&app, method, path, Some(json!({}))).await;
        assert_eq!((status, v), (503, json!({"error": "unavailable"})), "{method} {path}");
    }
    assert!(faults.unavailable.load(Ordering::SeqCst) >= 3, "the store refused each");
    faults.down.store(false, Ordering::SeqCst);
    assert_eq!(call(&app, "GET", "/api/v1/channels", None).await.0, 200);

    queue.failing.store(1, Ordering::SeqCst);
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    assert_eq!((status, v), (503, json!({"error": "unavailable"})));
    assert_eq!(queue.failing.load(Ordering::SeqCst), 0, "the queue refused it");
}

/// A send's `sent` state that cannot be written holds its chat: the next message of the group
/// is not sent (its claim answers an error), both come back, and nothing is acknowledged; once
/// the store takes writes again, each is sent (the first a second time: the documented window,
/// one send).
#[tokio::test]
async fn an_unrecorded_send_holds_the_rest_of_its_chat() {
    let (_dir, app, faults) = faulty_app(|c| c.lease = Duration::ZERO);
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    for text in ["first", "second", "third"] {
        let (status, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": text, "to": "admins"}))).await;
        assert_eq!(status, 202);
    }
    let batch = app.queue.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(batch.len(), 3, "one chat, one group, one batch");
    faults.sent_down.store(true, Ordering::SeqCst);
    let d = Dispatcher::default();
    let failed = d.process(&app, batch.clone()).await;
    assert_eq!(hook.received().len(), 1, "only the first was sent");
    assert_eq!(failed.len(), 3, "none acknowledged: {failed:?}");
    assert!(faults.sent_refused.load(Ordering::SeqCst) >= 1);
    assert_eq!(d.in_flight.load(Ordering::SeqCst), 0);

    faults.sent_down.store(false, Ordering::SeqCst);
    for m in &batch {
        app.queue.set_visibility(&m.receipt, 0).await.unwrap();
    }
    drain(&app, &d).await;
    let texts: Vec<String> = hook.received().iter().map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(texts.iter().filter(|t| t.contains("first")).count(), 2, "the first once more; {texts:?}");
    let later: Vec<&String> = texts[1..].iter().collect();
    assert!(later.iter().position(|t| t.contains("second")) < later.iter().position(|t| t.contains("third")), "in order: {texts:?}");
}

/// `/healthz` tells a supervisor when the store takes no writes until it is opened again (the
/// embedded store after an I/O error such as a full disk; the local runner then exits).
#[tokio::test]
async fn healthz_fails_while_the_store_takes_no_writes() {
    let (_dir, app, faults) = faulty_app(|_| {});
    let health = || herald::edge::router::route(&app, herald_tests::request("GET", "/healthz", None));
    assert_eq!(health().await.status(), 200);
    *faults.stopped.lock().unwrap() = Some("the store's file had an I/O error".into());
    let resp = health().await;
    assert_eq!(resp.status(), 503);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["ok"], false);
    assert!(body["error"].as_str().unwrap().contains("I/O error"), "{body}");
}

/// A send still rate limited on the queue's last receive is a recorded failure (failed, told in
/// the message center, dead-lettered for a redrive), not a message that drops into the
/// dead-letter queue with its delivery still `queued`.
#[tokio::test]
async fn a_send_rate_limited_to_the_last_receive_is_a_recorded_failure() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    let hook = TestServer::start(|_| Reply::status(429).header("retry-after", "7")).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    put(&app, "/api/v1/users/a1", json!({"role": "admin"})).await;
    let (_, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let mut batch = app.queue.receive(10, Duration::from_millis(100)).await.unwrap();
    batch[0].receive_count = app.config.max_receives;
    let failed = Dispatcher::default().process(&app, batch).await;
    assert!(failed.is_empty(), "dead-lettered and acknowledged: {failed:?}");
    assert_eq!(hook.received().len(), 1);
    let d = &deliveries(&app, &id).await[0];
    assert_eq!(d["status"], "failed", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("rate limited"), "{d}");
    assert_eq!(app.queue.depth().await.unwrap().dead, 1);
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert!(m["messages"].as_array().unwrap().iter().any(|e| e["category"] == "failure"), "{m}");
}

/// Herald with one webhook channel to a stand-in answering 200, and one notification to it
/// taken in (not sent yet): its id.
async fn one_to_a_webhook(clock: Arc<ManualClock>) -> (tempfile::TempDir, App, TestServer, String) {
    let (d, app) = build(clock, None, |_| {});
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    let (_, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    (d, app, hook, v["id"].as_str().unwrap().to_owned())
}

/// A redrive moves each dead letter once a call, even if it fails again at once and is
/// dead-lettered anew while the call is still going (before, such a message went round until
/// the call's 1,000 moves were used up, sent again each time).
#[tokio::test]
async fn a_redrive_moves_each_dead_letter_once_a_call() {
    let queue = Recording::new();
    let (_d, app) = build(clock(NOW), Some(queue.clone()), |_| {});
    let hook = endpoint(400).await;
    put(&app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(app.queue.depth().await.unwrap().dead, 1);
    queue.fail_again.store(true, Ordering::SeqCst);
    let (status, v) = call(&app, "POST", "/api/v1/deadletters/redrive", None).await;
    assert_eq!((status, v["moved"].as_u64()), (200, Some(1)), "{v}");
}

/// A webhook that answers 400 while the flag is up, one notification to it, failed (and
/// dead-lettered); the flag, to let the next sends through, and the webhook.
async fn failed_once_to_a_webhook(app: &App) -> (Arc<AtomicBool>, TestServer) {
    let refuse = Arc::new(AtomicBool::new(true));
    let r = refuse.clone();
    let hook = TestServer::start(move |_| if r.load(Ordering::SeqCst) { Reply::status(400) } else { Reply::ok("{}") }).await;
    put(app, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await;
    call(app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    drain(app, &Dispatcher::default()).await;
    (refuse, hook)
}

/// The day's counters count deliveries by how they ended: one that failed, was redriven and
/// was then sent counts once, as sent (before, it counted as failed and as sent).
#[tokio::test]
async fn a_redriven_delivery_is_counted_once_by_how_it_ended() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    let (refuse, hook) = failed_once_to_a_webhook(&app).await;
    let today = |s: &Value, name: &str| s["today"][name].as_i64().unwrap_or(0);
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!((today(&s, "failed"), today(&s, "sent")), (1, 0), "{s}");
    refuse.store(false, Ordering::SeqCst);
    let (status, v) = call(&app, "POST", "/api/v1/deadletters/redrive", None).await;
    assert_eq!((status, v["moved"].as_u64()), (200, Some(1)), "{v}");
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.count(), 2);
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!((today(&s, "failed"), today(&s, "sent")), (0, 1), "{s}");
    // The daily report's reasons too: none left.
    let settings = app.snapshot().await.unwrap().settings.clone();
    let day = app.repo.local_day(app.now());
    let r = herald::jobs::report_numbers(&app, &settings, day).await.unwrap();
    assert_eq!(r["top_failure_reasons"], json!([]), "{r}");
}

/// A failure counted on one day and redriven after the time zone moved it to another: no
/// counter goes below zero (the failure stays counted where it was).
#[tokio::test]
async fn a_redrive_after_the_time_zone_changed_leaves_no_counter_below_zero() {
    let (_d, app) = build(clock("2026-11-23T20:00:00Z"), None, |_| {});
    let (refuse, _hook) = failed_once_to_a_webhook(&app).await;
    // 20:00 UTC is 04:00 the next day in Shanghai.
    put(&app, "/api/v1/settings", json!({"time_zone": "Asia/Shanghai"})).await;
    refuse.store(false, Ordering::SeqCst);
    call(&app, "POST", "/api/v1/deadletters/redrive", None).await;
    drain(&app, &Dispatcher::default()).await;
    let (_, stats) = call(&app, "GET", "/api/v1/stats?days=3", None).await;
    let failed: Vec<i64> = stats["kinds"]["webhook"]["failed"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert!(failed.iter().all(|n| *n >= 0), "{stats}");
    let (_, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert!(s["today"]["failed"].as_i64().unwrap_or(0) >= 0, "{s}");
}

/// A notification's deliveries are kept in its own record (its plan) until the dispatcher
/// writes each one's first state: none has a record of its own when it is taken in, the API
/// shows them queued all the same, and two messages for one planned delivery received at once
/// (a duplicate, as SQS may deliver) send it once: the second claim finds the first's record.
#[tokio::test]
async fn a_planned_delivery_has_no_record_until_claimed_and_is_claimed_once() {
    let clock = clock(NOW);
    let (_d, app, hook, id) = one_to_a_webhook(clock.clone()).await;
    let planned = app.repo.deliveries(&id, None, 10).await.unwrap().items;
    assert_eq!(planned.len(), 1);
    assert!(app.repo.delivery(&id, &planned[0].id).await.unwrap().is_none(), "no record of its own yet");
    assert_eq!(deliveries(&app, &id).await[0]["status"], "queued");

    // The same delivery's message twice, in two groups, so both are received at once.
    let mut twin = Job::deliver(&planned[0]);
    (twin.group, twin.dedup) = ("twin".into(), "twin".into());
    app.queue.send(vec![twin]).await.unwrap();
    let batch = app.queue.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(batch.len(), 2);
    let (a, b) = (Dispatcher::default(), Dispatcher::default());
    let (one, two) = tokio::join!(a.process(&app, vec![batch[0].clone()]), b.process(&app, vec![batch[1].clone()]));
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 1, "sent once ({} and {} left for later)", one.len(), two.len());
    let record = app.repo.delivery(&id, &planned[0].id).await.unwrap().unwrap();
    assert_eq!(record.value.status, herald::domain::notification::DeliveryStatus::Sent);
    assert_eq!(deliveries(&app, &id).await[0]["status"], "sent", "its record wins over the plan");
}

/// A plan too big to read with the notification for every send (more than `PLAN_BYTES`) is
/// written as the deliveries' own records at once, and sent all the same.
#[tokio::test]
async fn a_big_plan_is_written_as_records() {
    let (_d, app) = build(clock(NOW), None, |_| {});
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    for i in 0..16 {
        put(&app, &format!("/api/v1/channels/hook{i}"), json!({"kind": "webhook", "settings": {"url": format!("{}/{i}", hook.url)}})).await;
    }
    let (_, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let n = app.repo.notification(&id).await.unwrap().unwrap().value;
    assert!(n.plan.is_empty() && n.deliveries == 16, "{n:?}");
    for d in app.repo.deliveries(&id, None, 100).await.unwrap().items {
        assert!(app.repo.delivery(&id, &d.id).await.unwrap().is_some(), "a record of its own");
    }
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 16);
}

/// The local runner is the only dispatcher of its store: a claim left by a crash of the process
/// before is taken over at once, not after the lease (which would hold its chat that long).
#[tokio::test]
async fn a_sole_dispatcher_takes_over_a_crashed_claim_at_once() {
    let clock = clock(NOW);
    let (_d, app, hook, id) = one_to_a_webhook(clock.clone()).await;
    // Claimed, then the process died mid-send.
    let mut d = app.repo.deliveries(&id, None, 10).await.unwrap().items[0].clone();
    d.status = herald::domain::notification::DeliveryStatus::Sending;
    d.claimed_at = Some(app.now());
    app.repo.save_delivery(&d, 0).await.unwrap();
    clock.advance(SignedDuration::from_secs(1));

    let batch = app.queue.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(Dispatcher::default().process(&app, batch.clone()).await.len(), 1, "another dispatcher waits out the lease");
    assert_eq!(hook.received().len(), 0);
    app.queue.set_visibility(&batch[0].receipt, 0).await.unwrap();
    let mut app = app;
    app.sole_since = Some(app.now());
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 1);
    assert_eq!(deliveries(&app, &id).await[0]["status"], "sent");
}

/// A bot's reply in the same chat as a send whose `sent` state cannot be written is not made
/// either (it sends without a delivery's claim, so the state before it is written first).
#[tokio::test]
async fn a_bot_reply_waits_for_the_send_before_it_to_be_recorded() {
    let (_dir, app, faults) = faulty_app(|c| c.public_url = Some("https://herald.test".into()));
    let fake = telegram_channel(&app, "tg", &[], json!({})).await;
    let (status, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "node down", "to": "admins"}))).await;
    assert_eq!(status, 202);
    let reply = herald::domain::notification::Call {
        id: "reply-1".into(),
        channel: "tg".into(),
        chat: GROUP.into(),
        method: "sendMessage".into(),
        payload: json!({"chat_id": GROUP, "text": "pong"}),
        status: herald::domain::notification::DeliveryStatus::Queued,
        attempts: 0,
        reason: None,
        claimed_at: None,
        updated_at: app.now(),
    };
    app.repo.add_calls(std::slice::from_ref(&reply)).await.unwrap();
    app.queue.send(vec![herald::queue::job::Job::call(&reply)]).await.unwrap();
    let batch = app.queue.receive(10, Duration::from_millis(100)).await.unwrap();
    assert_eq!(batch.len(), 2, "the notice and the reply: one chat, one batch");
    faults.sent_down.store(true, Ordering::SeqCst);
    let failed = Dispatcher::default().process(&app, batch).await;
    let texts: Vec<String> = fake.calls("sendMessage").iter().map(|c| c["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts.len(), 1, "the notice only: {texts:?}");
    assert!(!texts[0].contains("pong"));
    assert_eq!(failed.len(), 2);
}

/// README: "the admins' message center, newest first, paged with `?cursor=&limit=`".
#[tokio::test]
async fn the_message_center_pages_newest_first() {
    let clock = clock(NOW);
    let (_d, app) = build(clock.clone(), None, |_| {});
    put(&app, "/api/v1/users/a1", json!({"role": "admin"})).await;
    for count in 1..=5 {
        let t = herald::domain::Template { key: "queue.dead_letters".into(), params: herald::params! {"count" => count} };
        herald::routing::notify::file(&app, "failure", t, None).await.unwrap();
        clock.advance(SignedDuration::from_secs(1));
    }
    for owner in [None, Some("a1")] {
        let mut pages: Vec<Vec<u32>> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = reqwest::Url::parse("http://h/api/v1/messages").unwrap();
            url.query_pairs_mut().append_pair("limit", "2");
            if let Some(o) = owner {
                url.query_pairs_mut().append_pair("admin", o);
            }
            if let Some(c) = &cursor {
                url.query_pairs_mut().append_pair("cursor", c);
            }
            let (status, v) = call(&app, "GET", &format!("{}?{}", url.path(), url.query().unwrap()), None).await;
            assert_eq!(status, 200, "{v}");
            let page: Vec<u32> =
                v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().split(' ').next().unwrap().parse().unwrap()).collect();
            if !page.is_empty() {
                pages.push(page);
            }
            match v["cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages.len() < 10, "{pages:?}");
        }
        assert_eq!(pages, [vec![5, 4], vec![3, 2], vec![1]], "{owner:?}");
    }
    for bad in ["0", "101", "x"] {
        assert_eq!(call(&app, "GET", &format!("/api/v1/messages?limit={bad}"), None).await.0, 400);
    }
}

/// WeCom drops a member's messages past 30 a minute without a word, so each part of a long
/// message takes its own pacing slot: eleven three-part messages to one member send ten (30
/// parts) within the minute, and the eleventh waits rather than being lost.
#[tokio::test]
async fn wecom_paces_every_part_of_a_long_message() {
    let (_d, app, fake, _clock) = wecom_app(json!({})).await;
    put(&app, "/api/v1/users/u1", json!({"ids": {"wecom": "zhangsan"}})).await;
    let long: String = (0..130).map(|i| format!("line {i:03} {}\n", "x".repeat(30))).collect();
    assert!(long.len() > 2 * 2048 && long.len() < 3 * 2000);
    let mut ids = Vec::new();
    for _ in 0..11 {
        ids.push(notify(&app, json!({"type": "account", "text": long, "to": {"user": "u1"}})).await);
    }
    let dispatcher = Dispatcher::default();
    for _ in 0..6 {
        let batch = app.queue.receive(10, std::time::Duration::from_millis(50)).await.unwrap();
        let failed = dispatcher.process(&app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            app.queue.delete(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(fake.delivered().len(), 30, "30 parts a minute to one member, no more");
    let mut statuses: Vec<String> = Vec::new();
    for id in &ids {
        statuses.push(deliveries(&app, id).await[0]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "sent").count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| *s == "queued").count(), 1, "the eleventh waits: {statuses:?}");
}

/// reliability.md: "A notification sent through the API without an idempotency key is planned,
/// its messages queued, then its deliveries stored and, last, the notification ..." A message that
/// arrives before the writes waits for them; one whose writes never came is dropped after a few
/// receives; deliveries left without their notification are closed as skipped.
#[tokio::test]
async fn a_notification_without_a_key_is_stored_after_its_messages_and_they_wait_for_it() {
    let (clock, queue, _d, app, hook) = with_a_queue_that_can_fail().await;

    // The queue refuses: 503, and nothing is stored (no PENDING entry, nothing listed).
    queue.failing.store(1, Ordering::SeqCst);
    let (status, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n1 is down", "to": "admins"}))).await;
    assert_eq!(status, 503);
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty());
    let (_, list) = call(&app, "GET", "/api/v1/notifications", None).await;
    assert_eq!(list["notifications"], json!([]));

    // Accepted: stored planned, in the list at once, sent once.
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n2 is down", "to": "admins"}))).await;
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(app.repo.notification(&id).await.unwrap().unwrap().value.planned);
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty());
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(deliveries(&app, &id).await[0]["status"], "sent");
    assert_eq!(hook.received().len(), 1);

    // A message ahead of its records: comes back while they may still be written, then finds them.
    let n = herald::domain::notification::Notification::text(
        herald::domain::ids::new_id(app.now()),
        "node",
        None,
        "n3 is down".into(),
        herald::domain::notification::Target::Admins,
        app.now(),
    );
    let snap = app.snapshot().await.unwrap();
    let planned = herald::routing::plan::plan(&app.repo, &snap.channels, &snap.settings, &n, 100).await.unwrap();
    let messages: Vec<OutMessage> = planned.deliveries.iter().map(herald::queue::job::Job::deliver).collect();
    app.queue.send(messages).await.unwrap();
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(d.process(&app, batch.clone()).await.len(), 1, "not there yet: comes back");
    let mut stored = n.clone();
    stored.planned = true;
    stored.deliveries = 1;
    stored.complete = true;
    let w = app.repo.notification_records(&stored, &planned.deliveries, Cond::Any).unwrap();
    app.repo.table.put_many(w.records).await.unwrap();
    app.repo.table.put(w.head.0, w.head.1).await.unwrap();
    clock.advance(SignedDuration::from_secs(5));
    drain(&app, &d).await;
    assert_eq!(deliveries(&app, &n.id).await[0]["status"], "sent");
    assert_eq!(hook.received().len(), 2);

    // One whose records never came (its request failed): looked at again for a few receives,
    // then acknowledged, never dead-lettered (it must not hold its FIFO group until the messages
    // behind it are dead-lettered too).
    let orphan = Delivery { notification: herald::domain::ids::new_id(app.now()), id: "orphan-delivery".into(), ..planned.deliveries[0].clone() };
    app.queue.send(vec![herald::queue::job::Job::deliver(&orphan)]).await.unwrap();
    let batch = app.queue.receive(10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(d.process(&app, batch.clone()).await.len(), 1, "first receives: waits");
    let mut last = batch[0].clone();
    last.receive_count = herald::dispatch::ORPHAN_RECEIVES;
    assert!(d.process(&app, vec![last.clone()]).await.is_empty(), "after them: acknowledged");
    app.queue.delete(&last.receipt).await.unwrap();
    assert_eq!(app.queue.depth().await.unwrap(), Depth::default());

    // Deliveries written without their notification (the request failed between the two
    // writes): nothing is sent; once waited for, each is closed as skipped, not failed.
    let lone = Delivery { notification: herald::domain::ids::new_id(app.now()), id: "lone-delivery".into(), ..planned.deliveries[0].clone() };
    app.repo.add_deliveries(std::slice::from_ref(&lone), true).await.unwrap();
    app.queue.send(vec![herald::queue::job::Job::deliver(&lone)]).await.unwrap();
    let batch = app.queue.receive(10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(d.process(&app, batch.clone()).await.len(), 1, "its notification may be a moment away");
    let mut last = batch[0].clone();
    last.receive_count = herald::dispatch::ORPHAN_RECEIVES;
    assert!(d.process(&app, vec![last]).await.is_empty());
    assert_eq!(app.repo.delivery(&lone.notification, &lone.id).await.unwrap().unwrap().value.status, herald::domain::DeliveryStatus::Skipped);
    assert_eq!(hook.received().len(), 2, "nothing sent for either");
}

/// Herald's own notifications fall back to the store-first way: a node event raised while the
/// queue is down (for the intake and for the second way's message) is planned again by the
/// sweeper (there is no client to retry it).
#[tokio::test]
async fn a_notice_raised_while_the_queue_is_down_is_sent_by_the_sweeper() {
    let (clock, queue, _d, app, hook) = with_a_queue_that_can_fail().await;
    queue.failing.store(2, Ordering::SeqCst);
    let (status, _) = call(&app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "Tokyo 1"}))).await;
    assert_eq!(status, 503, "the node is saved; its notice could not be queued");
    assert_eq!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().len(), 1);
    clock.advance(SignedDuration::from_mins(3));
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (0, 1));
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(hook.received().len(), 1);
}
