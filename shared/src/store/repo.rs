//! Typed records over the [`Table`] port: how each thing Herald keeps is laid out in the one
//! table, and the reads each hot path needs (all by key or by index, never a scan).
//!
//! | record | pk | sk | indexes |
//! |---|---|---|---|
//! | channel | `CHANNELS` | name | |
//! | settings | `SETTINGS` | `-` | |
//! | user | `U#id` | `-` | gsi1 `EXP#day`, gsi2 `ROLE#admin`, gsi3 `TRF#band` |
//! | user directory entry (find by name) | `USERS` | lower-case name `#` id | |
//! | binding ([`Binding`], chat) → user | `B#binding#chat` | `-` | gsi1 `KIND#binding` / user |
//! | notification (a ULID id: all but reminders) | `NL#day` | ms `#` id (both from the id) | gsi2 `PENDING` / created (until planned: only one Herald raised while the intake failed) |
//! | notification (a reminder's id; any stored before the day's list) | `N#id` | `N` | gsi2 `PENDING` / created (until planned), gsi3 `NL#day` / created (once planned) |
//! | delivery (from its first state written; till then in its notification's `plan`) | `N#id` | `D#id` | gsi1 `HELD` / until (while held) |
//! | idempotency key | `IDEM#key` | `-` | TTL 24 h |
//! | bind code | `CODE#code` | `-` | TTL 10 min |
//! | Web Push page link | `PUSHLINK#token` | `-` | TTL 1 h |
//! | inbound dedup mark | `SEEN#scope#id` | `-` | TTL 1 day |
//! | check-in | `CHECKIN#user` | local day | |
//! | node | `NODES` | id | |
//! | message-center entry | `MC#admin` | id (time-ordered) | TTL 30 days |
//! | counter (stats, rate windows) | `STAT#day` / `RL#key` | name / window | TTL |
//! | a channel's last outcome | `STAT#last` | channel | |
//! | cached token | `CACHE#key` | `-` | TTL |
//! | platform call (bot reply) | `CALL#id` | `-` | TTL 7 days |
//! | Web Push subscription | `WP#user` | endpoint hash | |
//! | host-app command | `COMMANDS` | name | |
//! | interaction (a host command's run) | `IX#id` | `-` | gsi2 `IX#OPEN` / expiry (while waiting); TTL |
//! | host button data | `HBTN#id` | `-` | TTL 30 days |
//! | numbered choices | `CHOICE#binding#chat#person` | `-` | TTL 1 day |

use crate::domain::Binding;
use crate::domain::clock::Clock;
use crate::domain::command::{HostCommand, Interaction, InteractionState};
use crate::domain::node::Node;
use crate::domain::notification::{Call, Delivery, Notification};
use crate::domain::settings::Settings;
use crate::platforms::config::Channel;

use crate::domain::user::{PushSubscription, Role, User};
use crate::store::*;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const DAY: i64 = 86_400;
pub const IDEMPOTENCY_TTL: i64 = DAY;

/// How long after an idempotency key was taken a request may take it over if the one that took
/// it stored no notification (it failed midway): longer than any request of the API runs
/// (the template's function timeouts are at most 30 s), so the first is not still under way.
pub const KEY_TAKEOVER: i64 = 60;

/// A new notification's writes ([`Repo::notification_records`]).
#[derive(Debug, Clone)]
pub struct NotificationRecords {
    /// Its idempotency key's record and the condition it is written on.
    pub claim: Option<(Item, Cond)>,
    /// Its deliveries.
    pub records: Vec<Item>,
    /// The notification, absent.
    pub head: (Item, Cond),
}

/// What an idempotency key names ([`Repo::idempotency`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Keyed {
    /// Not given in the last [`IDEMPOTENCY_TTL`]: a new notification takes it
    /// (`Cond::AbsentOrExpired`).
    Free,
    /// The notification it named.
    Named(Box<Notification>),
    /// Taken `since` seconds ago by a request that has not stored its notification: under way,
    /// or failed midway (then, after [`KEY_TAKEOVER`], a new request takes it over with
    /// `Cond::Rev(rev)`).
    Unfinished { rev: u64, since: i64 },
}
pub const BIND_CODE_TTL: i64 = 600;
pub const MESSAGE_TTL: i64 = 30 * DAY;

/// A record and the revision it was read at (for a conditional write back).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub rev: u64,
}

/// A page of typed records.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub cursor: Option<String>,
}

/// An entry of the admins' message center.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CenterMessage {
    pub id: String,
    /// `failure`, `config`, `node`, `system`.
    pub category: String,
    pub title: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<String>,
    #[serde(default)]
    pub read: bool,
    pub created_at: Timestamp,
}

/// A channel's last delivery outcome, as the console's overview shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LastOutcome {
    /// `sent`, `failed` or `skipped`.
    pub status: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The name of a day's delivery counter: deliveries of `channel` (of `kind`) that ended in
/// `status`. Deliveries skipped while planning, before any channel, count as kind `none`,
/// channel `-`.
pub fn delivery_counter(kind: &str, channel: &str, status: &str) -> String {
    format!("d#{kind}#{channel}#{status}")
}

/// `(kind, channel, status)` of a [`delivery_counter`] name (a channel name has no `#`).
fn parse_delivery_counter(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.strip_prefix("d#")?.splitn(3, '#');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{on} account {chat} is already bound to another user")]
    Taken { on: Binding, chat: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A record as stored: the one place [`crate::domain::secret::Secret`]s are written as their
/// values ([`crate::domain::secret::exposed`]).
fn encode<T: Serialize>(v: &T) -> StoreResult<String> {
    crate::domain::secret::exposed(|| serde_json::to_string(v)).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn decode<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    serde_json::from_str(&item.data).map_err(|e| StoreError::Backend(format!("unreadable record {}/{}: {e}", item.pk, item.sk)))
}

/// The UTC day of `t` (the notification list's partition).
pub fn utc_day(t: Timestamp) -> jiff::civil::Date {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

/// A notification's place in its day's list: creation time in milliseconds, then its id.
fn listing_key(n: &Notification) -> String {
    format!("{:014}#{}", n.created_at.as_millisecond().max(0), n.id)
}

/// Where a notification whose id is a ULID ([`crate::domain::ids::new_id`]: every one Herald
/// makes but a reminder's) is kept: in its UTC day's list, `NL#day` / `ms#id`, both from the
/// id's own time, so it is found by id alone and the console's list is a query on that
/// partition with no index entry to write (one write unit less per notification on DynamoDB).
/// `None` for any other id (a reminder's, derived from its key so that a second run finds it,
/// also in a later quota cycle's day): kept at `N#id` / `N` and listed through gsi3, as every
/// notification was before.
fn notification_key(id: &str) -> Option<(String, String)> {
    let ms = crate::domain::ids::ulid_millis(id)?;
    let day = utc_day(Timestamp::from_millisecond(ms).ok()?);
    Some((format!("NL#{day}"), format!("{ms:014}#{id}")))
}

/// `N#id` / `N`: where a notification without a ULID id is kept, and every one stored before
/// notifications were kept in their day's list ([`notification_key`]).
fn by_id_key(id: &str) -> (String, String) {
    (format!("N#{id}"), "N".to_owned())
}

/// The most a notification's record may hold with its [`Notification::plan`] (JSON bytes):
/// the dispatcher reads it for every one of its sends, and DynamoDB bills a strongly
/// consistent read per 4 KB, so the plan stays within one read unit (about ten deliveries);
/// a bigger plan is written as the deliveries' own records, as a fan-out's pages are.
pub const PLAN_BYTES: usize = 3_500;

/// The condition of a delivery's write over `rev` ([`Repo::save_delivery`]).
fn delivery_cond(rev: u64) -> Cond {
    if rev == 0 { Cond::AbsentOrRev(0) } else { Cond::Rev(rev) }
}

/// One page of a day's notifications ([`Repo::notifications_of_day`]).
#[derive(Debug)]
pub struct DayPage {
    /// Newest first, each with its listing key.
    pub notifications: Vec<(Notification, String)>,
    /// The `before` of the next page, `None` once the day has nothing older.
    pub next: Option<String>,
}

fn user_key(id: &str) -> String {
    format!("U#{id}")
}

/// The user directory entry of `u` (found by name prefix, listed by name).
fn directory_key(u: &User) -> (String, String) {
    ("USERS".into(), format!("{}#{}", u.name.as_deref().unwrap_or_default().to_lowercase(), u.id))
}

fn directory_item(u: &User) -> StoreResult<Item> {
    let (pk, sk) = directory_key(u);
    let mut item = Item::new(pk, sk);
    item.data = encode(&serde_json::json!({"user": u.id}))?;
    Ok(item)
}

fn binding_key(on: &Binding, chat: &str) -> String {
    format!("B#{on}#{chat}")
}

/// The binding record of `chat` on `on`, for `user`.
fn binding_item(on: &Binding, chat: &str, user: &str) -> StoreResult<Item> {
    let mut b = Item::new(binding_key(on, chat), "-");
    b.data = encode(&serde_json::json!({"user": user}))?;
    b.gsi1 = Some(IndexKey::new(format!("KIND#{on}"), user));
    Ok(b)
}

/// Traffic bands indexed for the reminders: tens of percent from 50 up, 100 for exhausted.
pub fn traffic_band(percent: u64) -> Option<u64> {
    (percent >= 50).then(|| (percent.min(100) / 10) * 10)
}

#[derive(Clone)]
pub struct Repo {
    pub table: Arc<dyn Table>,
    pub clock: Arc<dyn Clock>,
    /// The deployment's time zone as last read from the settings: counters are kept per local day.
    tz: Arc<std::sync::Mutex<jiff::tz::TimeZone>>,
    /// Whether `tz` has been read from the settings yet (until then it is UTC).
    tz_known: Arc<std::sync::atomic::AtomicBool>,
}

/// How long notifications and their deliveries are kept.
pub const RETENTION: i64 = 90 * DAY;

impl Repo {
    pub fn new(table: Arc<dyn Table>, clock: Arc<dyn Clock>) -> Self {
        Self {
            table,
            clock,
            tz: Arc::new(std::sync::Mutex::new(jiff::tz::TimeZone::UTC)),
            tz_known: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    fn remember_tz(&self, s: &Settings) {
        if let Ok(tz) = s.tz() {
            *crate::lock(&self.tz) = tz;
            self.tz_known.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Reads the settings once if this process has not yet, so that [`Self::local_day`] uses
    /// the configured time zone rather than UTC (a function that never read the settings).
    pub async fn ensure_tz(&self) -> StoreResult<()> {
        if !self.tz_known.load(std::sync::atomic::Ordering::Relaxed) {
            self.settings().await?;
        }
        Ok(())
    }

    /// The local date (deployment time zone) of `t`.
    pub fn local_day(&self, t: Timestamp) -> jiff::civil::Date {
        let tz = crate::lock(&self.tz).clone();
        t.to_zoned_datetime(tz).date()
    }

    /// The current time, from the repo's clock (the test clock in tests).
    pub fn timestamp(&self) -> Timestamp {
        self.clock.now()
    }

    fn now(&self) -> i64 {
        self.clock.now().as_second()
    }

    async fn get_live<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> StoreResult<Option<Versioned<T>>> {
        match self.table.get(pk, sk).await? {
            Some(item) if item.live(self.now()) => Ok(Some(Versioned { value: decode(&item)?, rev: item.rev })),
            _ => Ok(None),
        }
    }

    /// Every item of a query, following the cursor (for small partitions: channels, nodes,
    /// admins).
    async fn query_all(&self, q: Query) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.table.query(q.clone().after(cursor)).await?;
            out.extend(page.items);
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    // ---- channels and settings ----

    pub async fn channels(&self) -> StoreResult<Vec<Channel>> {
        let items = self.query_all(Query::new("CHANNELS")).await?;
        items.iter().map(|i| self.channel_from(i)).collect()
    }

    fn channel_from(&self, item: &Item) -> StoreResult<Channel> {
        let v: serde_json::Value = decode(item)?;
        let updated = v.get("updated_at").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_else(|| self.clock.now());
        Channel::from_json(&item.sk, v, None, updated).map_err(|e| StoreError::Backend(format!("stored channel {} no longer valid: {e}", item.sk)))
    }

    pub async fn channel(&self, name: &str) -> StoreResult<Option<Channel>> {
        self.table.get("CHANNELS", name).await?.map(|i| self.channel_from(&i)).transpose()
    }

    pub async fn put_channel(&self, c: &Channel) -> StoreResult<()> {
        let item = Item { data: c.to_json().to_string(), ..Item::new("CHANNELS", &c.name) };
        self.table.put(item, Cond::Any).await
    }

    pub async fn delete_channel(&self, name: &str) -> StoreResult<bool> {
        Ok(self.table.delete("CHANNELS", name, Cond::Any).await?.is_some())
    }

    /// The global settings (defaults when none are stored). Numbers stored before they were
    /// range-checked are brought into range here, so no reader's arithmetic can wrap on them.
    pub async fn settings(&self) -> StoreResult<Settings> {
        let mut s: Settings = self.get_live("SETTINGS", "-").await?.map(|v| v.value).unwrap_or_default();
        s.clamp_numbers();
        self.remember_tz(&s);
        Ok(s)
    }

    pub async fn put_settings(&self, s: &Settings) -> StoreResult<()> {
        self.table.put(Item { data: encode(s)?, ..Item::new("SETTINGS", "-") }, Cond::Any).await?;
        self.remember_tz(s);
        Ok(())
    }

    // ---- users and bindings ----

    pub async fn user(&self, id: &str) -> StoreResult<Option<Versioned<User>>> {
        self.get_live(&user_key(id), "-").await
    }

    fn user_item(&self, u: &User, rev: u64) -> StoreResult<Item> {
        let mut item = Item { data: encode(u)?, rev, ..Item::new(user_key(&u.id), "-") };
        item.gsi1 = u.expires_at.map(|t| IndexKey::new(format!("EXP#{}", t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()), &u.id));
        item.gsi2 = (u.role == Role::Admin).then(|| IndexKey::new("ROLE#admin", &u.id));
        item.gsi3 = u.traffic_percent().and_then(traffic_band).map(|b| IndexKey::new(format!("TRF#{b}"), &u.id));
        Ok(item)
    }

    /// Writes a user and their chat bindings in one transaction. `previous` is the user as read
    /// (at `previous.rev`), or `None` for a new user; a concurrent change makes this fail with
    /// `ConditionFailed`. A chat id bound to another user fails with [`BindError::Taken`].
    pub async fn save_user(&self, user: &User, previous: Option<&Versioned<User>>) -> Result<(), BindError> {
        let (cond, rev) = match previous {
            Some(p) => (Cond::Rev(p.rev), p.rev + 1),
            None => (Cond::Absent, 0),
        };
        let old_ids = previous.map(|p| p.value.bindings()).unwrap_or_default();
        let new_ids = user.bindings();
        let mut writes = vec![Write::Put(self.user_item(user, rev)?, cond)];
        // The directory entry changes only with the name (a host syncing traffic writes none).
        if previous.is_none_or(|p| p.value.name != user.name) {
            if let Some(p) = previous.filter(|p| directory_key(&p.value) != directory_key(user)) {
                let (pk, sk) = directory_key(&p.value);
                writes.push(Write::Delete { pk, sk, cond: Cond::Any });
            }
            writes.push(Write::Put(directory_item(user)?, Cond::Any));
        }
        let mut added = Vec::new();
        for (on, chat) in &old_ids {
            if new_ids.get(on) != Some(chat) {
                writes.push(Write::Delete { pk: binding_key(on, chat), sk: "-".into(), cond: Cond::Any });
            }
        }
        for (on, chat) in &new_ids {
            if old_ids.get(on) != Some(chat) {
                writes.push(Write::Put(binding_item(on, chat, &user.id)?, Cond::Absent));
                added.push((on.clone(), chat.clone()));
            }
        }
        match self.table.transact(writes).await {
            Ok(()) => {
                if previous.is_none() {
                    self.bump_total("users", 1).await?;
                    self.bump_today("new_users", 1).await?;
                }
                Ok(())
            }
            Err(StoreError::ConditionFailed) => {
                // Say which chat id is taken, if that was it (rather than a concurrent update).
                for (on, chat) in added {
                    if let Some(owner) = self.bound_user_id(&on, &chat).await?
                        && owner != user.id
                    {
                        return Err(BindError::Taken { on, chat });
                    }
                }
                Err(BindError::Store(StoreError::ConditionFailed))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes many new users and their bindings in batches, without the per-user transaction
    /// (bulk imports and benchmarks; the ids must not be bound elsewhere).
    pub async fn seed_users(&self, users: &[User]) -> StoreResult<()> {
        let mut items = Vec::with_capacity(users.len() * 2);
        for u in users {
            items.push(self.user_item(u, 0)?);
            items.push(directory_item(u)?);
            for (on, chat) in &u.bindings() {
                items.push(binding_item(on, chat, &u.id)?);
            }
        }
        self.table.put_many(items).await
    }

    pub async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let Some(u) = self.user(id).await? else { return Ok(false) };
        let (dpk, dsk) = directory_key(&u.value);
        let mut writes =
            vec![Write::Delete { pk: user_key(id), sk: "-".into(), cond: Cond::Rev(u.rev) }, Write::Delete { pk: dpk, sk: dsk, cond: Cond::Any }];
        for (on, chat) in &u.value.bindings() {
            writes.push(Write::Delete { pk: binding_key(on, chat), sk: "-".into(), cond: Cond::Any });
        }
        self.table.transact(writes).await?;
        self.bump_total("users", -1).await?;
        Ok(true)
    }

    /// Users whose name starts with `prefix` (case-insensitive; `""`: every user), by name, a
    /// page at a time (the console's search; a cold path).
    pub async fn users_named(&self, prefix: &str, cursor: Option<String>, limit: u32) -> StoreResult<Paged<User>> {
        #[derive(serde::Deserialize)]
        struct D {
            user: String,
        }
        let page = self.table.query(Query::new("USERS").prefix(prefix.to_lowercase()).limit(limit).after(cursor)).await?;
        let ids: Vec<String> = page.items.iter().map(|i| decode::<D>(i).map(|d| d.user)).collect::<StoreResult<_>>()?;
        let mut users = self.users_by_ids(&ids).await?;
        users.sort_by_key(|u| ids.iter().position(|i| *i == u.id));
        Ok(Paged { items: users, cursor: page.cursor })
    }

    /// The id of the user `chat` on `on` is bound to.
    pub async fn bound_user_id(&self, on: &Binding, chat: &str) -> StoreResult<Option<String>> {
        #[derive(serde::Deserialize)]
        struct B {
            user: String,
        }
        Ok(self.get_live::<B>(&binding_key(on, chat), "-").await?.map(|b| b.value.user))
    }

    /// The user a chat account is bound to (every inbound message asks this).
    pub async fn user_by_chat(&self, on: impl Into<Binding>, chat: &str) -> StoreResult<Option<Versioned<User>>> {
        match self.bound_user_id(&on.into(), chat).await? {
            Some(id) => self.user(&id).await,
            None => Ok(None),
        }
    }

    pub async fn admins(&self) -> StoreResult<Vec<User>> {
        let items = self.query_all(Query::on(Index::Gsi2, "ROLE#admin")).await?;
        items.iter().map(decode).collect()
    }

    async fn users_of(&self, page: Page) -> StoreResult<Paged<User>> {
        let items = page.items.iter().map(decode).collect::<StoreResult<Vec<User>>>()?;
        Ok(Paged { items, cursor: page.cursor })
    }

    /// Users with an id on `on`, a page at a time (the `all` fan-out).
    pub async fn users_on(&self, on: &Binding, cursor: Option<String>, limit: u32) -> StoreResult<Paged<String>> {
        let page = self.table.query(Query::on(Index::Gsi1, format!("KIND#{on}")).limit(limit).after(cursor)).await?;
        Ok(Paged { items: page.items.into_iter().filter_map(|i| i.gsi1.map(|k| k.sk)).collect(), cursor: page.cursor })
    }

    pub async fn users_by_ids(&self, ids: &[String]) -> StoreResult<Vec<User>> {
        let keys: Vec<(String, String)> = ids.iter().map(|id| (user_key(id), "-".to_owned())).collect();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in keys.chunks(100) {
            for item in self.table.get_many(chunk).await? {
                out.push(decode(&item)?);
            }
        }
        Ok(out)
    }

    /// Users whose account expires on `day` (UTC date), a page at a time.
    pub async fn users_expiring(&self, day: jiff::civil::Date, cursor: Option<String>, limit: u32) -> StoreResult<Paged<User>> {
        let page = self.table.query(Query::on(Index::Gsi1, format!("EXP#{day}")).limit(limit).after(cursor)).await?;
        self.users_of(page).await
    }

    /// Users in a traffic band (see [`traffic_band`]), a page at a time.
    pub async fn users_in_band(&self, band: u64, cursor: Option<String>, limit: u32) -> StoreResult<Paged<User>> {
        let page = self.table.query(Query::on(Index::Gsi3, format!("TRF#{band}")).limit(limit).after(cursor)).await?;
        self.users_of(page).await
    }

    // ---- counters ----

    fn today(&self) -> String {
        self.local_day(self.clock.now()).to_string()
    }

    pub async fn bump(&self, day: &str, name: &str, delta: i64) -> StoreResult<i64> {
        self.table.add(&format!("STAT#{day}"), name, delta, Some(self.now() + 400 * DAY)).await
    }

    /// Today's (local) counter `name`.
    pub async fn bump_today(&self, name: &str, delta: i64) -> StoreResult<i64> {
        self.ensure_tz().await?;
        let day = self.today();
        self.bump(&day, name, delta).await
    }

    pub async fn bump_total(&self, name: &str, delta: i64) -> StoreResult<i64> {
        self.table.add("STAT#total", name, delta, None).await
    }

    /// The counters of a day (`YYYY-MM-DD`, or `total`), the deliveries' ([`delivery_counter`])
    /// added up by status (`sent`, `failed`, `skipped`).
    pub async fn stats(&self, day: &str) -> StoreResult<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for i in self.query_all(Query::new(format!("STAT#{day}"))).await? {
            let name = match parse_delivery_counter(&i.sk) {
                Some((_, _, status)) => status.to_owned(),
                None => i.sk,
            };
            *out.entry(name).or_default() += i.n;
        }
        Ok(out)
    }

    /// A day's delivery counters as `(kind, channel, status, count)` ([`delivery_counter`]).
    pub async fn delivery_stats(&self, day: &str) -> StoreResult<Vec<(String, String, String, i64)>> {
        let items = self.query_all(Query::new(format!("STAT#{day}")).prefix("d#")).await?;
        Ok(items.iter().filter_map(|i| parse_delivery_counter(&i.sk).map(|(k, c, s)| (k.to_owned(), c.to_owned(), s.to_owned(), i.n))).collect())
    }

    /// Keeps each channel's last outcome (one write per channel, by the dispatcher once per batch).
    pub async fn set_last_outcomes(&self, last: &BTreeMap<String, LastOutcome>) -> StoreResult<()> {
        let items =
            last.iter().map(|(channel, o)| Ok(Item { data: encode(o)?, ..Item::new("STAT#last", channel) })).collect::<StoreResult<Vec<_>>>()?;
        self.table.put_many(items).await
    }

    /// Every channel's last outcome, by channel name.
    pub async fn last_outcomes(&self) -> StoreResult<BTreeMap<String, LastOutcome>> {
        self.query_all(Query::new("STAT#last")).await?.iter().map(|i| Ok((i.sk.clone(), decode(i)?))).collect()
    }

    // ---- notifications and deliveries ----

    /// The item of `n` at its place ([`notification_key`]), or at `N#id` if `legacy` (where
    /// it is kept if stored before notifications were kept in their day's list).
    fn notification_item_at(&self, n: &Notification, rev: u64, legacy: bool) -> StoreResult<Item> {
        let ((pk, sk), listed) = match notification_key(&n.id) {
            Some(key) if !legacy => (key, true),
            _ => (by_id_key(&n.id), false),
        };
        let key = Item::new(pk, sk);
        let mut item = Item { data: encode(n)?, rev, exp: Some(n.created_at.as_second() + RETENTION), ..key };
        item.gsi2 = (!n.planned).then(|| IndexKey::new("PENDING", format!("{}#{}", n.created_at.as_second(), n.id)));
        // Kept elsewhere, it is listed through gsi3 once planned (the write that takes it off
        // PENDING): one index write per notification rather than one per state.
        item.gsi3 = (!listed && n.planned).then(|| IndexKey::new(format!("NL#{}", utc_day(n.created_at)), listing_key(n)));
        Ok(item)
    }

    fn notification_item(&self, n: &Notification, rev: u64) -> StoreResult<Item> {
        self.notification_item_at(n, rev, false)
    }

    /// Planned notifications of `day` (UTC) whose listing key is below `before` (`None`: from
    /// the day's end), newest first: at most `limit`, each with its listing key, and the
    /// `before` of the next call (`None` once the day has nothing older). The console's list; a
    /// cold path: two queries, the day's list (`NL#day`) and the notifications listed through
    /// gsi3 (those with a reminder's id, and those stored before the day's list existed).
    pub async fn notifications_of_day(&self, day: jiff::civil::Date, before: Option<&str>, limit: u32) -> StoreResult<DayPage> {
        let range = |q: Query| q.between("0", before.unwrap_or("~")).backward().limit(limit + 1);
        let (own, indexed) = tokio::try_join!(
            self.table.query(range(Query::new(format!("NL#{day}")))),
            self.table.query(range(Query::on(Index::Gsi3, format!("NL#{day}"))))
        )?;
        let sources: [(Vec<(String, &Item)>, bool); 2] = [
            (own.items.iter().map(|i| (i.sk.clone(), i)).collect(), own.cursor.is_some()),
            (indexed.items.iter().filter_map(|i| Some((i.gsi3.as_ref()?.sk.clone(), i))).collect(), indexed.cursor.is_some()),
        ];
        // A query that may have more below what it read (it filled its limit, `before` itself
        // counted, or the store cut its page short): below its last key nothing is known yet,
        // from either query; the next call starts there.
        let cut = |(items, paged): &(Vec<(String, &Item)>, bool)| *paged || items.len() > limit as usize;
        let mut more = sources.iter().any(cut);
        let floor = sources.iter().filter(|s| cut(s)).filter_map(|(items, _)| items.last().map(|(k, _)| k.clone())).max();
        let mut keyed: Vec<(String, &Item)> = sources.into_iter().flat_map(|(items, _)| items).collect();
        keyed.retain(|(k, _)| before.is_none_or(|b| k.as_str() < b) && floor.as_ref().is_none_or(|f| k >= f));
        keyed.sort_by(|a, b| b.0.cmp(&a.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        more |= keyed.len() > limit as usize;
        keyed.truncate(limit as usize);
        let next = if more { keyed.last().map(|(k, _)| k.clone()) } else { None };
        let now = self.now();
        let mut notifications = Vec::new();
        for (key, item) in keyed.into_iter().filter(|(_, i)| i.live(now)) {
            let n: Notification = decode(item)?;
            if n.planned {
                notifications.push((n, key));
            }
        }
        Ok(DayPage { notifications, next })
    }

    /// Stores a new notification. With an idempotency key already used in the last 24 hours,
    /// stores nothing and returns the notification that key created.
    pub async fn create_notification(&self, n: &Notification) -> StoreResult<Option<Notification>> {
        let item = self.notification_item(n, 0)?;
        let Some(key) = &n.idempotency_key else {
            self.table.put(item, Cond::Absent).await?;
            return Ok(None);
        };
        match self
            .table
            .transact(vec![Write::Put(self.idempotency_item(key, &n.id, 0)?, Cond::AbsentOrExpired(self.now())), Write::Put(item, Cond::Absent)])
            .await
        {
            Ok(()) => Ok(None),
            Err(StoreError::ConditionFailed) => self.keyed_notification(key).await?.map(Some).ok_or(StoreError::ConditionFailed),
            Err(e) => Err(e),
        }
    }

    /// `IDEM#{key}`: which notification an idempotency key names, for [`IDEMPOTENCY_TTL`];
    /// `rev` 0 for a new key, one more than the unfinished one's when taking it over.
    fn idempotency_item(&self, key: &str, notification: &str, rev: u64) -> StoreResult<Item> {
        let mut idem = Item::new(format!("IDEM#{key}"), "-");
        idem.data = encode(&serde_json::json!({"notification": notification}))?;
        idem.exp = Some(self.now() + IDEMPOTENCY_TTL);
        idem.rev = rev;
        Ok(idem)
    }

    /// What an idempotency key names now (one read, two if it names a notification).
    pub async fn idempotency(&self, key: &str) -> StoreResult<Keyed> {
        #[derive(serde::Deserialize)]
        struct I {
            notification: String,
        }
        let Some(item) = self.table.get(&format!("IDEM#{key}"), "-").await?.filter(|i| i.live(self.now())) else { return Ok(Keyed::Free) };
        let named: I = decode(&item)?;
        if let Some(n) = self.notification(&named.notification).await? {
            return Ok(Keyed::Named(Box::new(n.value)));
        }
        let taken_at = item.exp.unwrap_or_default() - IDEMPOTENCY_TTL;
        Ok(Keyed::Unfinished { rev: item.rev, since: self.now() - taken_at })
    }

    /// The notification an idempotency key given in the last [`IDEMPOTENCY_TTL`] names, if it
    /// is stored.
    pub async fn keyed_notification(&self, key: &str) -> StoreResult<Option<Notification>> {
        Ok(match self.idempotency(key).await? {
            Keyed::Named(n) => Some(*n),
            _ => None,
        })
    }

    /// The writes of a new, planned notification with its first deliveries, for
    /// [`crate::queue::intake::Entry`]: the claim on its idempotency key if it has one (the
    /// key's record, written only if `key` holds: `Cond::AbsentOrExpired(now)` for a
    /// [`Keyed::Free`] key, `Cond::Rev(rev)` to take over a [`Keyed::Unfinished`] one), the
    /// records of the deliveries held for quiet hours (the sweeper finds them by index), and
    /// the notification itself as the head (absent: its id is a fresh ULID), carrying every
    /// other delivery in its [`Notification::plan`] until the dispatcher writes its state (if
    /// that stays within [`PLAN_BYTES`]; else every delivery is a record of its own).
    /// Where writes are not one transaction the head comes last, so a stored notification
    /// always has its deliveries and its key; a failure before it leaves held deliveries that
    /// wait for it (closed as `skipped`) and perhaps the key naming no notification
    /// ([`Keyed::Unfinished`]).
    pub fn notification_records(&self, n: &Notification, deliveries: &[Delivery], key: Cond) -> StoreResult<NotificationRecords> {
        let claim = match &n.idempotency_key {
            Some(k) => {
                let rev = if let Cond::Rev(r) = key { r + 1 } else { 0 };
                Some((self.idempotency_item(k, &n.id, rev)?, key))
            }
            None => None,
        };
        let held = deliveries.iter().filter(|d| d.hold_until.is_some());
        let plan = deliveries.iter().filter(|d| d.hold_until.is_none()).cloned().collect();
        let head = self.notification_item(&Notification { plan, ..n.clone() }, 0)?;
        if head.data.len() <= PLAN_BYTES {
            let records = held.map(|d| self.delivery_item(d, 0)).collect::<StoreResult<Vec<_>>>()?;
            return Ok(NotificationRecords { claim, records, head: (head, Cond::Absent) });
        }
        // Too many to read with the notification for each send: each in its own record.
        let records = deliveries.iter().map(|d| self.delivery_item(d, 0)).collect::<StoreResult<Vec<_>>>()?;
        Ok(NotificationRecords { claim, records, head: (self.notification_item(n, 0)?, Cond::Absent) })
    }

    /// Which of these notification ids exist already.
    pub async fn existing_notifications(&self, ids: &[String]) -> StoreResult<std::collections::HashSet<String>> {
        let ids_at: HashMap<(String, String), &String> = ids.iter().map(|id| (notification_key(id).unwrap_or_else(|| by_id_key(id)), id)).collect();
        let keys: Vec<(String, String)> = ids_at.keys().cloned().collect();
        let mut out = std::collections::HashSet::new();
        for chunk in keys.chunks(100) {
            out.extend(self.table.get_many(chunk).await?.into_iter().filter_map(|i| ids_at.get(&(i.pk, i.sk)).map(|id| (*id).clone())));
        }
        Ok(out)
    }

    /// Notification `id`: at its place ([`notification_key`]), else at `N#id` (a second read,
    /// for one stored before notifications were kept in their day's list, or none at all).
    pub async fn notification(&self, id: &str) -> StoreResult<Option<Versioned<Notification>>> {
        if let Some((pk, sk)) = notification_key(id)
            && let Some(found) = self.get_live(&pk, &sk).await?
        {
            return Ok(Some(found));
        }
        let (pk, sk) = by_id_key(id);
        self.get_live(&pk, &sk).await
    }

    /// Writes `n` over revision `rev`, where it is kept. `ConditionFailed` if it changed.
    pub async fn save_notification(&self, n: &Notification, rev: u64) -> StoreResult<()> {
        let (pk, sk) = by_id_key(&n.id);
        match self.table.put(self.notification_item(n, rev + 1)?, Cond::Rev(rev)).await {
            // Stored before notifications were kept in their day's list: written where it is.
            Err(StoreError::ConditionFailed) if notification_key(&n.id).is_some() && self.table.get(&pk, &sk).await?.is_some() => {
                self.table.put(self.notification_item_at(n, rev + 1, true)?, Cond::Rev(rev)).await
            }
            r => r,
        }
    }

    /// Notifications created before `before` whose planning never finished (a crash between
    /// storing and enqueueing); the sweeper plans them again.
    pub async fn unplanned(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<Notification>> {
        let page = self.table.query(Query::on(Index::Gsi2, "PENDING").between("0", format!("{}#~", before.as_second())).limit(limit)).await?;
        page.items.iter().map(decode).collect()
    }

    fn delivery_item(&self, d: &Delivery, rev: u64) -> StoreResult<Item> {
        let key = Item::new(format!("N#{}", d.notification), format!("D#{}", d.id));
        let mut item = Item { data: encode(d)?, rev, exp: Some(self.now() + RETENTION), ..key };
        item.gsi1 = d.hold_until.map(|t| IndexKey::new("HELD", format!("{:012}#{}#{}", t.as_second().max(0), d.notification, d.id)));
        Ok(item)
    }

    /// Stores new deliveries. `fresh`: they cannot exist yet (first planning), so they are
    /// written in batches; otherwise each is written only if absent, keeping any progress made.
    pub async fn add_deliveries(&self, ds: &[Delivery], fresh: bool) -> StoreResult<()> {
        if fresh {
            let items = ds.iter().map(|d| self.delivery_item(d, 0)).collect::<StoreResult<Vec<_>>>()?;
            return self.table.put_many(items).await;
        }
        for d in ds {
            match self.table.put(self.delivery_item(d, 0)?, Cond::Absent).await {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn delivery(&self, notification: &str, id: &str) -> StoreResult<Option<Versioned<Delivery>>> {
        self.get_live(&format!("N#{notification}"), &format!("D#{id}")).await
    }

    /// Writes a delivery's new state if nobody changed it since `rev` was read. Revision 0 is a
    /// delivery as planned, in its own record or still in its notification's
    /// [`Notification::plan`]: its first write also creates its record (`Cond::AbsentOrRev(0)`;
    /// of two writers, the second finds the first's record and is refused).
    pub async fn save_delivery(&self, d: &Delivery, rev: u64) -> StoreResult<u64> {
        self.table.put(self.delivery_item(d, rev + 1)?, delivery_cond(rev)).await?;
        Ok(rev + 1)
    }

    /// Writes each delivery over its revision (as [`Self::save_delivery`]), each on its own, in
    /// one round ([`Table::put_each`]); answers each one's new revision or error, in order.
    pub async fn save_deliveries(&self, saves: &[(&Delivery, u64)]) -> StoreResult<Vec<StoreResult<u64>>> {
        let writes = saves.iter().map(|(d, rev)| Ok((self.delivery_item(d, rev + 1)?, delivery_cond(*rev)))).collect::<StoreResult<Vec<_>>>()?;
        let out = self.table.put_each(writes).await?;
        Ok(out.into_iter().zip(saves).map(|(r, (_, rev))| r.map(|()| rev + 1)).collect())
    }

    /// [`Self::deliveries_of`] notification `id` (one read more); without it (its request failed
    /// before writing it), the records left.
    pub async fn deliveries(&self, id: &str, after: Option<String>, limit: u32) -> StoreResult<Paged<Delivery>> {
        let n = self.notification(id).await?;
        self.page_deliveries(id, n.as_ref().map_or(&[][..], |n| &n.value.plan), after, limit).await
    }

    /// The deliveries of `n` by id, at most `limit` after id `after` (the `cursor` of the page
    /// before; `BadCursor` if it is not a delivery id's shape, 24 lower-case hex digits): those
    /// with their own record as it has them, the others as planned in [`Notification::plan`].
    /// `cursor` is set while there may be more.
    pub async fn deliveries_of(&self, n: &Notification, after: Option<String>, limit: u32) -> StoreResult<Paged<Delivery>> {
        self.page_deliveries(&n.id, &n.plan, after, limit).await
    }

    async fn page_deliveries(&self, notification: &str, plan: &[Delivery], after: Option<String>, limit: u32) -> StoreResult<Paged<Delivery>> {
        // Delivery ids are 24 lower-case hex digits ([`Delivery::id_for`]).
        if let Some(a) = &after
            && (a.len() != 24 || !a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(StoreError::BadCursor);
        }
        let limit = limit.max(1) as usize;
        // `\u{1}` puts the range just past `after`, `~` past every id.
        let from = after.as_ref().map_or_else(|| "D#".to_owned(), |a| format!("D#{a}\u{1}"));
        let page = self.table.query(Query::new(format!("N#{notification}")).between(from, "D#~").limit(limit as u32 + 1)).await?;
        let mut by_id: BTreeMap<String, Delivery> =
            plan.iter().filter(|d| after.as_ref().is_none_or(|a| d.id.as_str() > a.as_str())).map(|d| (d.id.clone(), d.clone())).collect();
        let mut last_read = None;
        for item in &page.items {
            let d: Delivery = decode(item)?;
            last_read = Some(d.id.clone());
            by_id.insert(d.id.clone(), d);
        }
        // The records past the last one read are not known yet: neither are planned ones there.
        let mut more = by_id.len() > limit;
        if let (Some(_), Some(bound)) = (&page.cursor, &last_read) {
            by_id.retain(|id, _| id <= bound);
            more = true;
        }
        let items: Vec<Delivery> = by_id.into_values().take(limit).collect();
        let cursor = if more { items.last().map(|d| d.id.clone()) } else { None };
        Ok(Paged { items, cursor })
    }

    /// Held deliveries due by `now`.
    pub async fn due_held(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Versioned<Delivery>>> {
        let page = self.table.query(Query::on(Index::Gsi1, "HELD").between("0", format!("{:012}#~", now.as_second().max(0))).limit(limit)).await?;
        page.items.iter().map(|i| Ok(Versioned { value: decode(i)?, rev: i.rev })).collect()
    }

    // ---- platform calls (bot replies) ----

    pub async fn add_calls(&self, calls: &[Call]) -> StoreResult<()> {
        let items = calls
            .iter()
            .map(|c| Ok(Item { data: encode(c)?, exp: Some(self.now() + 7 * DAY), ..Item::new(format!("CALL#{}", c.id), "-") }))
            .collect::<StoreResult<Vec<_>>>()?;
        self.table.put_many(items).await
    }

    pub async fn call(&self, id: &str) -> StoreResult<Option<Versioned<Call>>> {
        self.get_live(&format!("CALL#{id}"), "-").await
    }

    pub async fn save_call(&self, c: &Call, rev: u64) -> StoreResult<u64> {
        let item = Item { data: encode(c)?, rev: rev + 1, exp: Some(self.now() + 7 * DAY), ..Item::new(format!("CALL#{}", c.id), "-") };
        self.table.put(item, Cond::Rev(rev)).await?;
        Ok(rev + 1)
    }

    // ---- short-lived marks ----

    /// True the first time `(scope, id)` is seen within `ttl` seconds (inbound dedup, reminders).
    pub async fn first_time(&self, scope: &str, id: &str, ttl: i64) -> StoreResult<bool> {
        let mut item = Item::new(format!("SEEN#{scope}#{id}"), "-");
        item.exp = Some(self.now() + ttl);
        match self.table.put(item, Cond::AbsentOrExpired(self.now())).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets that `id` was seen in `scope` (so its next arrival is a first time again): for a
    /// request whose handling failed after [`Self::first_time`] marked it, so the platform's
    /// retry is handled rather than dropped.
    pub async fn forget(&self, scope: &str, id: &str) -> StoreResult<()> {
        self.table.delete(&format!("SEEN#{scope}#{id}"), "-", Cond::Any).await.map(|_| ())
    }

    /// A one-time code that binds a chat account to `user` (expires in ten minutes).
    pub async fn create_bind_code(&self, user: &str, code: &str) -> StoreResult<Timestamp> {
        let mut item = Item::new(format!("CODE#{code}"), "-");
        item.data = encode(&serde_json::json!({"user": user}))?;
        let exp = self.now() + BIND_CODE_TTL;
        item.exp = Some(exp);
        self.table.put(item, Cond::Absent).await?;
        Timestamp::from_second(exp).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// Uses up a bind code: the user it was for, once; `None` if unknown, used or expired.
    pub async fn take_bind_code(&self, code: &str) -> StoreResult<Option<String>> {
        match self.table.delete(&format!("CODE#{code}"), "-", Cond::Exists).await {
            Ok(Some(item)) if item.live(self.now()) => {
                #[derive(serde::Deserialize)]
                struct C {
                    user: String,
                }
                Ok(Some(decode::<C>(&item)?.user))
            }
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records a check-in for `(user, day)` and adds the reward to the user, in one transaction.
    /// `Ok(None)`: already checked in that day. `ConditionFailed`: the user changed meanwhile
    /// (read again and retry).
    pub async fn check_in(&self, user: &Versioned<User>, day: &str, reward: i64) -> StoreResult<Option<User>> {
        let key = format!("CHECKIN#{}", user.value.id);
        let mut mark = Item::new(&key, day);
        mark.data = encode(&serde_json::json!({"reward": reward, "at": self.clock.now()}))?;
        mark.exp = Some(self.now() + 400 * DAY);
        let mut updated = user.value.clone();
        updated.rewards = updated.rewards.saturating_add(reward);
        updated.updated_at = self.clock.now();
        let writes = vec![Write::Put(mark, Cond::Absent), Write::Put(self.user_item(&updated, user.rev + 1)?, Cond::Rev(user.rev))];
        match self.table.transact(writes).await {
            Ok(()) => Ok(Some(updated)),
            Err(StoreError::ConditionFailed) if self.table.get(&key, day).await?.is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A value cached for everyone (platform access tokens), while it lives.
    pub async fn cached(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self.get_live::<String>(&format!("CACHE#{key}"), "-").await?.map(|v| v.value))
    }

    pub async fn cache(&self, key: &str, value: &str, ttl: i64) -> StoreResult<()> {
        let mut item = Item::new(format!("CACHE#{key}"), "-");
        item.data = encode(&value)?;
        item.exp = Some(self.now() + ttl);
        self.table.put(item, Cond::Any).await
    }

    // ---- nodes ----

    pub async fn nodes(&self) -> StoreResult<Vec<Versioned<Node>>> {
        let items = self.query_all(Query::new("NODES")).await?;
        items.iter().map(|i| Ok(Versioned { value: decode(i)?, rev: i.rev })).collect()
    }

    pub async fn node(&self, id: &str) -> StoreResult<Option<Versioned<Node>>> {
        self.get_live("NODES", id).await
    }

    /// Writes a node if it is still at `rev` (`None`: only if new).
    pub async fn save_node(&self, n: &Node, rev: Option<u64>) -> StoreResult<()> {
        let (cond, next) = match rev {
            Some(r) => (Cond::Rev(r), r + 1),
            None => (Cond::Absent, 0),
        };
        self.table.put(Item { data: encode(n)?, rev: next, ..Item::new("NODES", &n.id) }, cond).await
    }

    pub async fn delete_node(&self, id: &str) -> StoreResult<Option<Node>> {
        self.table.delete("NODES", id, Cond::Any).await?.map(|i| decode(&i)).transpose()
    }

    // ---- message center ----

    /// Files a message for each admin and in the shared feed (`*`).
    pub async fn file_message(&self, m: &CenterMessage) -> StoreResult<()> {
        let mut owners: Vec<String> = self.admins().await?.into_iter().map(|a| a.id).collect();
        owners.push("*".into());
        let items = owners
            .iter()
            .map(|o| {
                // Message ids sort by time (ids::new_id), so the id is the sort key.
                let mut item = Item::new(format!("MC#{o}"), &m.id);
                item.data = encode(m)?;
                item.exp = Some(m.created_at.as_second() + MESSAGE_TTL);
                Ok(item)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.table.put_many(items).await
    }

    /// An admin's messages (`*`: the shared feed), newest first.
    pub async fn messages(&self, owner: &str, cursor: Option<String>, limit: u32) -> StoreResult<Paged<CenterMessage>> {
        let page = self.table.query(Query::new(format!("MC#{owner}")).backward().limit(limit).after(cursor)).await?;
        let now = self.now();
        let items = page.items.iter().filter(|i| i.live(now)).map(decode).collect::<StoreResult<_>>()?;
        Ok(Paged { items, cursor: page.cursor })
    }

    /// Marks one message read; false if there is no such message.
    pub async fn mark_read(&self, owner: &str, id: &str) -> StoreResult<bool> {
        let Some(item) = self.table.get(&format!("MC#{owner}"), id).await? else { return Ok(false) };
        let mut m: CenterMessage = decode(&item)?;
        m.read = true;
        let updated = Item { data: encode(&m)?, rev: item.rev + 1, ..item.clone() };
        match self.table.put(updated, Cond::Rev(item.rev)).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

impl Repo {
    /// A chat moved (Telegram `migrate_to_chat_id`): the config's default chat, if it was
    /// `from`, and any user bound to `from` on the config's kind now point at `to`. Idempotent.
    /// The caller drops its cached configs ([`crate::app::App::invalidate`]).
    pub async fn move_chat(&self, channel: &str, from: &str, to: &str) -> StoreResult<()> {
        let Some(mut c) = self.channel(channel).await? else { return Ok(()) };
        let on = c.binding();
        if crate::platforms::platform(c.kind()).move_chat(&mut c.settings, from, to) {
            self.put_channel(&c).await?;
        }
        if let Some(u) = self.user_by_chat(on.clone(), from).await? {
            let mut moved = u.value.clone();
            moved.ids.insert(on, to.to_owned());
            match self.save_user(&moved, Some(&u)).await {
                Ok(()) | Err(BindError::Taken { .. }) => {}
                Err(BindError::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::platforms::Memory for Repo {
    async fn cached(&self, key: &str) -> Result<Option<String>, String> {
        Repo::cached(self, key).await.map_err(|e| e.to_string())
    }

    async fn cache(&self, key: &str, value: &str, ttl_secs: i64) -> Result<(), String> {
        Repo::cache(self, key, value, ttl_secs).await.map_err(|e| e.to_string())
    }

    async fn first_time(&self, scope: &str, key: &str, ttl_secs: i64) -> Result<bool, String> {
        Repo::first_time(self, scope, key, ttl_secs).await.map_err(|e| e.to_string())
    }

    async fn notice(&self, category: &str, template: crate::domain::notification::Template) -> Result<(), String> {
        let locale = self.settings().await.map(|s| s.locale).unwrap_or_default();
        let (title, text) = crate::text::templates::render_template(&template, locale);
        let now = self.timestamp();
        let m = CenterMessage {
            id: crate::domain::ids::new_id(now),
            category: category.to_owned(),
            title,
            text,
            notification: None,
            read: false,
            created_at: now,
        };
        self.file_message(&m).await.map_err(|e| e.to_string())
    }

    async fn push_subscription(&self, user: &str, id: &str) -> Result<Option<PushSubscription>, String> {
        let u = self.user(user).await.map_err(|e| e.to_string())?;
        Ok(u.and_then(|u| u.value.push.into_iter().find(|s| s.id == id)))
    }

    async fn drop_push_subscription(&self, user: &str, id: &str) -> Result<(), String> {
        self.remove_push_subscription(user, id).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Repo {
    /// Adds `sub` to `user`'s Web Push subscriptions, or replaces the one with its id (the same
    /// endpoint subscribed again). At most [`MAX_PUSH_SUBSCRIPTIONS`]: the oldest goes. `None`
    /// if the user does not exist.
    pub async fn add_push_subscription(&self, user: &str, sub: PushSubscription) -> StoreResult<Option<()>> {
        for _ in 0..3 {
            let Some(current) = self.user(user).await? else { return Ok(None) };
            let mut u = current.value.clone();
            u.push.retain(|s| s.id != sub.id);
            u.push.push(sub.clone());
            while u.push.len() > MAX_PUSH_SUBSCRIPTIONS {
                u.push.remove(0);
            }
            u.updated_at = self.timestamp();
            match self.save_user(&u, Some(&current)).await {
                Ok(()) => return Ok(Some(())),
                Err(BindError::Store(StoreError::ConditionFailed)) => continue,
                Err(BindError::Store(e)) => return Err(e),
                Err(BindError::Taken { .. }) => return Err(StoreError::ConditionFailed),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// Removes `user`'s subscription `id`; whether there was one.
    pub async fn remove_push_subscription(&self, user: &str, id: &str) -> StoreResult<bool> {
        for _ in 0..3 {
            let Some(current) = self.user(user).await? else { return Ok(false) };
            if !current.value.push.iter().any(|s| s.id == id) {
                return Ok(false);
            }
            let mut u = current.value.clone();
            u.push.retain(|s| s.id != id);
            u.updated_at = self.timestamp();
            match self.save_user(&u, Some(&current)).await {
                Ok(()) => return Ok(true),
                Err(BindError::Store(StoreError::ConditionFailed)) => continue,
                Err(BindError::Store(e)) => return Err(e),
                Err(BindError::Taken { .. }) => return Err(StoreError::ConditionFailed),
            }
        }
        Err(StoreError::ConditionFailed)
    }

    /// A link token for `user`'s Web Push page on `channel`, kept `ttl_secs` (the page registers
    /// and removes the person's subscriptions with it, and nothing else). `user` is named with
    /// when it was made, so that a user deleted and made again under the same id is another
    /// person to the link.
    pub async fn create_push_link(&self, user: &User, channel: &str, token: &str, ttl_secs: i64) -> StoreResult<Timestamp> {
        let mut item = Item::new(format!("PUSHLINK#{token}"), "-");
        item.data = encode(&serde_json::json!({"user": user.id, "since": user.created_at, "channel": channel}))?;
        let exp = self.now() + ttl_secs;
        item.exp = Some(exp);
        self.table.put(item, Cond::Absent).await?;
        Timestamp::from_second(exp).map_err(|e| StoreError::Invalid(e.to_string()))
    }

    /// The user and the Web Push channel a page link token is for, while it lives and while that
    /// user is the one it was made for.
    pub async fn push_link(&self, token: &str) -> StoreResult<Option<(String, String)>> {
        #[derive(serde::Deserialize)]
        struct L {
            user: String,
            since: Timestamp,
            channel: String,
        }
        let Some(l) = self.get_live::<L>(&format!("PUSHLINK#{token}"), "-").await? else { return Ok(None) };
        let same = self.user(&l.value.user).await?.is_some_and(|u| u.value.created_at == l.value.since);
        Ok(same.then_some((l.value.user, l.value.channel)))
    }
}

/// The most Web Push subscriptions one person keeps (browsers and phones).
pub const MAX_PUSH_SUBSCRIPTIONS: usize = 10;

/// How long a host button's data kept server-side stays pressable, and how long numbered
/// choices wait for the person's answer, in seconds.
pub const HOST_BUTTON_TTL: i64 = 30 * DAY;
pub const CHOICES_TTL: i64 = DAY;

fn open_interaction_key(ix: &Interaction) -> IndexKey {
    IndexKey::new("IX#OPEN", format!("{:012}#{}", ix.expires_at.as_second().max(0), ix.id))
}

/// Host-app commands ([`crate::domain::command`]) and their interactions.
impl Repo {
    /// The declared commands, by name.
    pub async fn commands(&self) -> StoreResult<Vec<HostCommand>> {
        self.query_all(Query::new("COMMANDS")).await?.iter().map(decode).collect()
    }

    pub async fn command(&self, name: &str) -> StoreResult<Option<HostCommand>> {
        self.table.get("COMMANDS", name).await?.map(|i| decode(&i)).transpose()
    }

    pub async fn put_command(&self, c: &HostCommand) -> StoreResult<()> {
        let item = Item { data: encode(c)?, ..Item::new("COMMANDS", &c.name) };
        self.table.put(item, Cond::Any).await
    }

    pub async fn delete_command(&self, name: &str) -> StoreResult<bool> {
        Ok(self.table.delete("COMMANDS", name, Cond::Any).await?.is_some())
    }

    fn interaction_item(&self, ix: &Interaction, rev: u64) -> StoreResult<Item> {
        let mut item = Item::new(format!("IX#{}", ix.id), "-");
        item.data = encode(ix)?;
        item.rev = rev;
        item.exp = Some(ix.expires_at.as_second() + DAY);
        item.gsi2 = (ix.state == InteractionState::Waiting).then(|| open_interaction_key(ix));
        Ok(item)
    }

    /// Stores a new interaction; `false` if one with its id exists (the platform sent the same
    /// event again: it is relayed once).
    pub async fn add_interaction(&self, ix: &Interaction) -> StoreResult<bool> {
        match self.table.put(self.interaction_item(ix, 1)?, Cond::Absent).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn interaction(&self, id: &str) -> StoreResult<Option<Versioned<Interaction>>> {
        self.get_live(&format!("IX#{id}"), "-").await
    }

    /// Writes `ix` over the revision `rev` read; `ConditionFailed` if it changed meanwhile (a
    /// reply and the expiry raced: one wins).
    pub async fn update_interaction(&self, ix: &Interaction, rev: u64) -> StoreResult<()> {
        self.table.put(self.interaction_item(ix, rev + 1)?, Cond::Rev(rev)).await
    }

    /// Interactions still waiting for a reply whose window closed before `now`.
    pub async fn expired_interactions(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Versioned<Interaction>>> {
        let to = format!("{:012}#~", now.as_second().max(0));
        let page = self.table.query(Query::on(Index::Gsi2, "IX#OPEN").between("0", to).limit(limit)).await?;
        page.items.iter().map(|i| Ok(Versioned { value: decode(i)?, rev: i.rev })).collect()
    }

    /// Keeps a host button's command and arguments under a short id (their data does not fit
    /// the platform's limit).
    pub async fn keep_host_button(&self, id: &str, command: &str, args: &str) -> StoreResult<()> {
        let mut item = Item::new(format!("HBTN#{id}"), "-");
        item.data = encode(&(command, args))?;
        item.exp = Some(self.now() + HOST_BUTTON_TTL);
        self.table.put(item, Cond::Any).await
    }

    /// The command and arguments a kept host button runs.
    pub async fn host_button(&self, id: &str) -> StoreResult<Option<(String, String)>> {
        Ok(self.get_live(&format!("HBTN#{id}"), "-").await?.map(|v| v.value))
    }

    /// The numbered choices (command, arguments) last offered to `person` in `chat` on a
    /// platform without buttons; replaced by each new offer.
    pub async fn offer_choices(&self, on: &Binding, chat: &str, person: &str, choices: &[(String, String)]) -> StoreResult<()> {
        let mut item = Item::new(format!("CHOICE#{on}#{chat}#{person}"), "-");
        item.data = encode(&choices)?;
        item.exp = Some(self.now() + CHOICES_TTL);
        self.table.put(item, Cond::Any).await
    }

    pub async fn choices(&self, on: &Binding, chat: &str, person: &str) -> StoreResult<Vec<(String, String)>> {
        Ok(self.get_live(&format!("CHOICE#{on}#{chat}#{person}"), "-").await?.map(|v| v.value).unwrap_or_default())
    }
}
