//! The reads the admin console (`/console/`, [`crate::edge::pages`]) needs besides the rest of
//! the API, usable by any client: the recent notifications with filters, the deliveries of the
//! last days counted per day by kind and status, and users found by name. Cold paths: each
//! request reads a bounded number of records.

use crate::app::App;
use crate::domain::notification::{DeliveryStatus, Notification, Target};
use crate::domain::{Error, Invalid, check_name};
use crate::http::{HandlerResult, Request, json, page_params};
use crate::store::repo::{RETENTION, utc_day};
use http::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Most notifications one list request reads, matched or not (the rest is for the next call).
const LIST_BUDGET: usize = 200;
/// Most deliveries of one notification read to count them by status.
const COUNT_DELIVERIES: u32 = 1000;

/// `GET /api/v1/notifications?type=&status=&user=&limit=&cursor=`: planned notifications, newest
/// first, each with its deliveries counted by status → `{"notifications": [{"id", "type",
/// "title", "text", "to", "created_at", "complete", "deliveries", "counts": {"queued", "sending",
/// "sent", "failed", "skipped"}}], "cursor"}`. `status` keeps those with at least one delivery in
/// that status; `user` those addressed to that user or with a delivery for them. A call reads
/// at most [`LIST_BUDGET`] notifications (stepping back a day at a time, as far as they are
/// kept: one query a day), so a page may hold fewer than `limit` (default 20) while `cursor`
/// says there is more to look through; `cursor` is null once nothing older is kept. Errors:
/// `400` naming `status`, `user`, `type`, `limit` or `cursor`.
pub async fn list_notifications(app: &App, req: &Request) -> HandlerResult {
    let (cursor, limit) = page_params(req)?;
    let limit = if req.query("limit").is_some() { limit as usize } else { 20 };
    let status = match req.query("status").filter(|s| !s.is_empty()) {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| Invalid::new("status", "must be queued, sending, sent, failed or skipped"))?),
        None => None,
    };
    let user = req.query("user").filter(|s| !s.is_empty());
    if let Some(u) = user {
        check_name("user", u, 128)?;
    }
    let ty = req.query("type").filter(|s| !s.is_empty());
    if let Some(t) = ty {
        check_name("type", t, 64)?;
    }
    let oldest = utc_day(app.now() - jiff::SignedDuration::from_secs(RETENTION));
    let today = utc_day(app.now());
    let (mut day, mut before) = match cursor {
        Some(c) => parse_cursor(&c).filter(|(d, _)| *d >= oldest && *d <= today).ok_or_else(|| Invalid::new("cursor", "is not one this API gave"))?,
        None => (today, None),
    };
    let locale = app.snapshot().await?.settings.locale;
    let (mut out, mut read) = (Vec::new(), 0);
    let next = loop {
        if day < oldest {
            break None;
        }
        if out.len() >= limit || read >= LIST_BUDGET || crate::jobs::out_of_time(app, req.deadline) {
            break Some(list_cursor(day, before.as_deref()));
        }
        let want = (LIST_BUDGET - read).min(50) as u32;
        let page = app.repo.notifications_of_day(day, before.as_deref(), want).await?;
        let exhausted = page.next.is_none();
        // An empty page that is not the day's last (all it read unplanned or expired) still counts.
        read += usize::from(page.notifications.is_empty());
        let mut full = false;
        for (n, key) in page.notifications {
            read += 1;
            before = Some(key);
            if ty.is_some_and(|t| t != n.ty) {
                continue;
            }
            let (counts, users) = count(app, &n).await?;
            let addressed = matches!(&n.to, Target::User(u) if Some(u.as_str()) == user);
            if status.is_some_and(|s| counts[s.as_str()] == 0) || user.is_some_and(|u| !addressed && !users.iter().any(|x| x == u)) {
                continue;
            }
            out.push(summary(&n, counts, locale));
            if out.len() >= limit {
                full = true;
                break;
            }
        }
        if !full && page.next.is_some() {
            before = page.next;
        }
        if exhausted && out.len() < limit {
            day = match day.yesterday() {
                Ok(d) => d,
                Err(_) => break None,
            };
            before = None;
        }
    };
    Ok(json(StatusCode::OK, &json!({"notifications": out, "cursor": next})))
}

/// A list cursor, `DAY~MS.ID`: the day reached and the listing key to continue below, with a
/// `.` for the store's `#` so the cursor needs no escaping in a URL.
fn list_cursor(day: jiff::civil::Date, before: Option<&str>) -> String {
    format!("{day}~{}", before.unwrap_or_default().replace('#', "."))
}

/// The day and listing key of a cursor [`list_cursor`] made (`#` taken for `.` too); `None` for
/// anything else, a cut-off one included (`DAY~MS`, as a URL's `#` leaves it).
fn parse_cursor(c: &str) -> Option<(jiff::civil::Date, Option<String>)> {
    let (day, key) = c.split_once('~')?;
    let day = day.parse().ok()?;
    if key.is_empty() {
        return Some((day, None));
    }
    let (ms, id) = key.split_once(['.', '#'])?;
    let whole =
        ms.len() == 14 && ms.bytes().all(|b| b.is_ascii_digit()) && (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    whole.then(|| (day, Some(format!("{ms}#{id}"))))
}

/// A notification's deliveries counted by status, and the users they are for.
async fn count(app: &App, n: &Notification) -> Result<(Value, Vec<String>), Error> {
    let mut counts: BTreeMap<&str, u64> = DeliveryStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut users = Vec::new();
    let mut cursor = None;
    let mut seen = 0;
    loop {
        let page = app.repo.deliveries_of(n, cursor, 500).await?;
        for d in &page.items {
            *counts.entry(d.status.as_str()).or_default() += 1;
            if let Some(u) = &d.user {
                users.push(u.clone());
            }
        }
        seen += page.items.len() as u32;
        match page.cursor {
            Some(c) if seen < COUNT_DELIVERIES => cursor = Some(c),
            _ => break,
        }
    }
    Ok((json!(counts), users))
}

/// A notification as the list shows it; one of Herald's own (a template) in the settings' locale.
fn summary(n: &Notification, counts: Value, locale: crate::domain::Locale) -> Value {
    let (title, text) = match &n.template {
        Some(t) => {
            let (title, text) = crate::text::templates::render_template(t, locale);
            (Some(title), text)
        }
        None => (n.title.clone(), n.text.clone()),
    };
    json!({
        "id": n.id,
        "type": n.ty,
        "title": title,
        "text": text,
        "to": n.to,
        "created_at": n.created_at,
        "complete": n.complete,
        "deliveries": n.deliveries,
        "counts": counts,
    })
}

/// `GET /api/v1/stats?days=N` (1 to 90, default 14): the deliveries of the last `days` local
/// days (the settings' time zone) that ended, per day by kind and status, and over the window
/// per channel with its last outcome, and each node's downtime → `{"days": [oldest .. today],
/// "kinds": {KIND: {"sent": [n per day], "failed": [...], "skipped": [...]}}, "channels": {NAME:
/// {"kind", "sent", "failed", "skipped", "last": {"status", "at", "reason"} | null}}, "nodes":
/// {ID: {"downtime_secs"}}}`. Deliveries skipped while planning are kind `none`. A dispatcher
/// writes `last` when a channel's outcome changes and otherwise at most once a minute, so its
/// time may be up to a minute old.
pub async fn stats(app: &App, req: &Request) -> HandlerResult {
    let n: usize = match req.query("days") {
        None => 14,
        Some(d) => d.parse().ok().filter(|d| (1..=90).contains(d)).ok_or_else(|| Invalid::new("days", "must be 1 to 90"))?,
    };
    app.repo.ensure_tz().await?;
    let today = app.repo.local_day(app.now());
    let mut days = Vec::with_capacity(n);
    let mut d = today;
    for _ in 0..n {
        days.push(d);
        d = d.yesterday().map_err(|e| Error::Internal(e.to_string()))?;
    }
    days.reverse();
    let snap = app.snapshot().await?;
    let last = app.repo.last_outcomes().await?;
    let mut kinds: BTreeMap<String, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    let mut channels: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut nodes: BTreeMap<String, i64> = BTreeMap::new();
    for (i, day) in days.iter().enumerate() {
        let day = day.to_string();
        for (kind, channel, status, count) in app.repo.delivery_stats(&day).await? {
            let row = kinds.entry(kind).or_default();
            for s in ["sent", "failed", "skipped"] {
                row.entry(s.to_owned()).or_insert_with(|| vec![0; n]);
            }
            if let Some(v) = row.get_mut(&status) {
                v[i] += count;
            }
            if channel != "-" {
                *channels.entry(channel).or_default().entry(status).or_default() += count;
            }
        }
        for (name, secs) in app.repo.stats(&day).await? {
            if let Some(id) = name.strip_prefix("downtime#") {
                *nodes.entry(id.to_owned()).or_default() += secs;
            }
        }
    }
    let mut by_channel = Map::new();
    for c in &snap.channels {
        let counts = channels.remove(&c.name).unwrap_or_default();
        let get = |s: &str| counts.get(s).copied().unwrap_or(0);
        by_channel.insert(
            c.name.clone(),
            json!({"kind": c.kind(), "sent": get("sent"), "failed": get("failed"), "skipped": get("skipped"), "last": last.get(&c.name)}),
        );
    }
    let nodes: Map<String, Value> = nodes.into_iter().map(|(id, secs)| (id, json!({"downtime_secs": secs}))).collect();
    Ok(json(StatusCode::OK, &json!({"days": days, "kinds": kinds, "channels": by_channel, "nodes": nodes})))
}

/// `GET /api/v1/users?q=&limit=&cursor=`: users by name → `{"users": [...], "cursor"}`; `q`
/// finds the user with that id (first) and those whose name starts with it, case-insensitive.
pub async fn find_users(app: &App, req: &Request) -> HandlerResult {
    let (cursor, limit) = page_params(req)?;
    let q = req.query("q").map(str::trim).unwrap_or_default();
    if q.chars().count() > 128 {
        return Err(Invalid::new("q", "must be at most 128 characters").into());
    }
    let page = app.repo.users_named(q, cursor.clone(), limit).await?;
    let mut users = page.items;
    if cursor.is_none()
        && !q.is_empty()
        && check_name("q", q, 128).is_ok()
        && let Some(u) = app.repo.user(q).await?
    {
        users.retain(|x| x.id != u.value.id);
        users.insert(0, u.value);
    }
    Ok(json(StatusCode::OK, &json!({"users": users, "cursor": page.cursor})))
}

/// The URL a platform is given to reach this channel's receiver (`None` for a kind that
/// receives nothing, or when where Herald is cannot be told), with what its platform adds
/// ([`crate::platforms::Platform::callback_extra`]: a secret as a placeholder, never shown).
pub fn callback_url(app: &App, channel: &crate::platforms::config::Channel, req: &Request) -> Option<String> {
    crate::platforms::receiver(channel.kind())?;
    let base = app.config.receiver_base(channel.kind(), req.origin())?;
    let extra = crate::platforms::platform(channel.kind()).callback_extra();
    Some(format!("{base}/callback/{}?source={}{extra}", channel.kind(), channel.name))
}
