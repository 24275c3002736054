//! Scheduled work: the node check (every few minutes), the daily report and the expiry and
//! traffic reminders (once a day at the configured local time), and the sweeper. Each runs on
//! demand too (`POST /api/v1/jobs/{name}/run`), and every decision reads the injected clock.

use crate::app::App;
use crate::domain::Error;
use crate::domain::ids::stable_id;
use crate::domain::node::{Node, NodeStatus};
use crate::domain::notification::{Notification, Target, Template};
use crate::domain::settings::{NodeSettings, Settings};
use crate::domain::user::{User, parse_hhmm};
use crate::params;
use crate::queue::OutMessage;
use crate::queue::intake::{Entry, IntakeError};
use crate::routing::notify;
use crate::routing::plan::{Known, plan_known};
use crate::store::repo::traffic_band;
use crate::store::{Cond, StoreError};
use crate::text::templates::{human_bytes, human_duration};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tracing::{info, warn};

pub const JOBS: [&str; 4] = ["tick", "node-check", "daily", "sweep"];

/// Deliveries stuck in flight released, notifications left unplanned planned again
/// ([`crate::dispatch::sweep`]), and host-command interactions past their window closed
/// ([`crate::relay::expire`]).
async fn sweep(app: &App) -> Result<Value, Error> {
    let (released, replanned) = crate::dispatch::sweep(app).await?;
    let closed = crate::relay::expire(app).await?;
    Ok(json!({"released": released, "replanned": replanned, "interactions_closed": closed}))
}

/// Runs a job by name. `force`: the daily job runs even if it is not due or already ran today.
/// `deadline`: when to stop and leave the rest to the next run.
pub async fn run(app: &App, name: &str, force: bool, deadline: Option<Timestamp>) -> Result<Value, Error> {
    match name {
        "tick" => {
            let nodes = node_check(app).await?;
            let sweep = sweep(app).await?;
            let daily = daily(app, false, deadline).await?;
            Ok(json!({"nodes": nodes, "sweep": sweep, "daily": daily}))
        }
        "node-check" => Ok(json!({"nodes": node_check(app).await?})),
        "daily" => Ok(json!({"daily": daily(app, force, deadline).await?})),
        "sweep" => Ok(json!({"sweep": sweep(app).await?})),
        _ => Err(Error::NotFound),
    }
}

// ---- nodes ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Offline,
    Online { downtime: i64 },
    Blocked,
    Unblocked,
}

/// One check of one node: its next state and what changed. `reachable` is the probe's answer,
/// if there is a probe.
pub fn step(node: &Node, now: Timestamp, s: &NodeSettings, reachable: Option<bool>) -> (Node, Vec<Transition>) {
    let mut n = node.clone();
    let mut out = Vec::new();
    let limit = SignedDuration::from_secs(s.offline_after_secs as i64);
    let fresh = n.last_heartbeat.is_some_and(|t| now.duration_since(t) < limit);
    match (n.status, fresh) {
        (NodeStatus::Unknown, true) => {
            n.status = NodeStatus::Online;
            n.status_since = Some(now);
            n.streak = 0;
        }
        (NodeStatus::Unknown, false) => {
            // Never heard from: counted as missing once `offline_after_secs` have passed since it
            // was added (a record without that date: since the check first saw it), with the
            // same debounce as a node that stopped.
            let watched_since = n.created_at.or(n.status_since);
            if watched_since.is_none() {
                n.status_since = Some(now);
            }
            if watched_since.is_some_and(|t| now.duration_since(t) >= limit) {
                n.streak += 1;
                if n.streak >= s.debounce {
                    n.streak = 0;
                    n.status = NodeStatus::Offline;
                    n.status_since = watched_since;
                    out.push(Transition::Offline);
                }
            }
        }
        (NodeStatus::Online, true) | (NodeStatus::Offline, false) => n.streak = 0,
        (NodeStatus::Online, false) | (NodeStatus::Offline, true) => {
            n.streak += 1;
            if n.streak >= s.debounce {
                n.streak = 0;
                if n.status == NodeStatus::Online {
                    // Down since it was last heard from, not since we noticed.
                    n.status = NodeStatus::Offline;
                    n.status_since = n.last_heartbeat.or(Some(now));
                    out.push(Transition::Offline);
                } else {
                    let since = n.status_since.replace(now);
                    n.status = NodeStatus::Online;
                    out.push(Transition::Online { downtime: since.map(|t| now.as_second() - t.as_second()).unwrap_or(0).max(0) });
                }
            }
        }
    }
    if let Some(blocked) = reachable.map(|r| !r).or(n.reported_blocked) {
        if blocked == n.blocked {
            n.block_streak = 0;
        } else {
            n.block_streak += 1;
            if n.block_streak >= s.debounce {
                n.blocked = blocked;
                n.block_streak = 0;
                n.blocked_since = blocked.then_some(now);
                out.push(if blocked { Transition::Blocked } else { Transition::Unblocked });
            }
        }
    }
    (n, out)
}

/// Asks the configured checker whether a node is reachable (from its region).
async fn probe(app: &App, template: &str, node: &Node) -> Option<bool> {
    let host = node.host.as_deref()?;
    let url = template
        .replace("{host}", host)
        .replace("{port}", &node.port.map(|p| p.to_string()).unwrap_or_default())
        .replace("{region}", node.region.as_deref().unwrap_or(""));
    match app.http.get(&url).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok()?.get("reachable")?.as_bool(),
        Ok(r) => {
            warn!(node = %node.id, status = r.status().as_u16(), "probe answered with an error");
            None
        }
        Err(e) => {
            warn!(node = %node.id, error = %e.without_url(), "probe unreachable");
            None
        }
    }
}

fn local_time(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()
}

/// Raises the notice for a node event (scope `node`: the admins and the group by default).
pub async fn node_notice(app: &App, key: &str, params: std::collections::BTreeMap<String, String>) -> Result<(), Error> {
    notify::raise(app, "node", Target::Admins, Template { key: key.into(), params }, &[]).await?;
    Ok(())
}

/// Checks every node once: heartbeats against the threshold, the probe if configured, with
/// the debounce; each change is written conditionally and told once.
pub async fn node_check(app: &App) -> Result<Value, Error> {
    let settings = app.snapshot().await?.settings.clone();
    let mut changes = Vec::new();
    let nodes = app.repo.nodes().await?;
    for v in nodes.iter().filter(|v| v.value.enabled) {
        let reachable = match &settings.node.probe_url {
            Some(t) => probe(app, t, &v.value).await,
            None => None,
        };
        let now = app.now();
        let (next, transitions) = step(&v.value, now, &settings.node, reachable);
        if next == v.value {
            continue;
        }
        match app.repo.save_node(&next, Some(v.rev)).await {
            Ok(()) => {}
            // Changed meanwhile (a heartbeat, another check): the next check sees it.
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
        for t in transitions {
            let name = next.name.clone();
            let region = next.region.clone().unwrap_or_else(|| "-".into());
            let (key, p) = match t {
                Transition::Offline => {
                    let tz = settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
                    match next.last_heartbeat {
                        Some(t) => ("node.offline", params! {"name" => name, "last_seen" => local_time(t, &tz)}),
                        None => {
                            let added = next.status_since.map(|t| local_time(t, &tz)).unwrap_or_else(|| "-".into());
                            ("node.never_seen", params! {"name" => name, "added" => added})
                        }
                    }
                }
                Transition::Online { downtime } => {
                    // Each local day gets the part of the outage that fell in it.
                    let tz = settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
                    let since = now.checked_sub(SignedDuration::from_secs(downtime)).unwrap_or(now);
                    for (day, secs) in split_by_local_day(since, now, &tz) {
                        app.repo.bump(&day.to_string(), &format!("downtime#{}", next.id), secs).await?;
                    }
                    ("node.online", params! {"name" => name, "downtime" => human_duration(downtime, settings.locale)})
                }
                Transition::Blocked => ("node.blocked", params! {"name" => name, "region" => region}),
                Transition::Unblocked => ("node.unblocked", params! {"name" => name, "region" => region}),
            };
            info!(node = %next.id, event = key, "node changed");
            changes.push(json!({"node": next.id, "event": key}));
            if let Err(e) = node_notice(app, key, p).await {
                warn!(node = %next.id, error = %e, "node notice not raised");
            }
        }
    }
    Ok(json!({"checked": nodes.len(), "changes": changes}))
}

// ---- the daily job ----

/// The instant local midnight begins `day` in `tz` (the first instant of the day when midnight
/// itself does not exist there).
pub fn day_start(day: jiff::civil::Date, tz: &jiff::tz::TimeZone) -> Result<Timestamp, Error> {
    day.to_zoned_datetime(tz.clone()).and_then(|z| z.start_of_day()).map(|z| z.timestamp()).map_err(|e| Error::Internal(e.to_string()))
}

/// `[from, to)` cut at local midnights in `tz`: each local day it touches, with the seconds of
/// it that fall in that day (23-hour and 25-hour days included).
pub fn split_by_local_day(from: Timestamp, to: Timestamp, tz: &jiff::tz::TimeZone) -> Vec<(jiff::civil::Date, i64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let day = at.to_zoned_datetime(tz.clone()).date();
        let next = day.tomorrow().ok().and_then(|d| day_start(d, tz).ok()).filter(|n| *n > at).unwrap_or(to);
        let end = next.min(to);
        out.push((day, end.as_second() - at.as_second()));
        at = end;
    }
    out
}

/// When the scheduler first looked at the daily job (kept in the store, so a restart keeps
/// it): a run due before then is not caught up.
async fn watching_since(app: &App) -> Result<Timestamp, Error> {
    const KEY: &str = "daily-watching-since";
    if let Some(at) = app.repo.cached(KEY).await?.and_then(|v| v.parse::<Timestamp>().ok()) {
        return Ok(at);
    }
    let now = app.now();
    app.repo.cache(KEY, &now.to_string(), 10 * 366 * 86_400).await?;
    Ok(now)
}

/// Runs the daily report and reminders if due, or now (for today) if `force`.
///
/// Each local day has one run, due at `daily_report.time` in the settings' time zone: the
/// admins' report of the day before, then that day's reminders. The run that is due is the
/// latest whose time has passed: today's once its time has come, else yesterday's — so a run
/// no tick reached before midnight (say at 23:59, with ticks at 23:56 and 00:01) runs late,
/// once, after midnight. A day counts as done only when its run finished (a run stopped by
/// its deadline goes on at the next tick); a missed run is caught up only if the scheduler was
/// already watching when it came due (a new deployment sends neither yesterday's nor, started
/// after the time, today's).
pub async fn daily(app: &App, force: bool, deadline: Option<Timestamp>) -> Result<Value, Error> {
    let settings = app.snapshot().await?.settings.clone();
    let tz = settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
    let now = app.now();
    let today = now.to_zoned_datetime(tz.clone()).date();
    let at = parse_hhmm(&settings.daily_report.time).unwrap_or_default();
    let due_at =
        |day: jiff::civil::Date| day.to_datetime(at).to_zoned_datetime(tz.clone()).map(|z| z.timestamp()).map_err(|e| Error::Internal(e.to_string()));
    let watching = watching_since(app).await?;
    let run_day = if force || now >= due_at(today)? { today } else { today.yesterday().map_err(|e| Error::Internal(e.to_string()))? };
    // Due before the scheduler first ran (a new deployment): not caught up, today's as well.
    if !force && watching > due_at(run_day)? {
        return Ok(json!({"ran": false}));
    }
    let done_key = format!("daily-done:{run_day}");
    if !force && app.repo.cached(&done_key).await?.is_some() {
        return Ok(json!({"ran": false}));
    }
    let yesterday = run_day.yesterday().map_err(|e| Error::Internal(e.to_string()))?;
    let mut report = Value::Null;
    if settings.daily_report.enabled {
        // A control character no API key may hold: a client's key cannot stand for it.
        let key = if force { None } else { Some(format!("\u{1f}daily-report:{yesterday}")) };
        report = report_numbers(app, &settings, yesterday).await?;
        let mut n = Notification::built_in(
            crate::domain::ids::new_id(app.now()),
            "daily_report",
            Target::Admins,
            report_template(&report, yesterday, &settings),
            app.now(),
        );
        n.idempotency_key = key;
        notify::submit(app, n).await?;
    }
    let reminders = reminders(app, &settings, run_day, deadline).await?;
    let finished = reminders["finished"] == true;
    if finished {
        app.repo.cache(&done_key, "1", 3 * 86_400).await?;
    }
    Ok(json!({"ran": true, "day": run_day.to_string(), "report": report, "reminders": reminders}))
}

/// The report's figures for `day` (a local date).
pub async fn report_numbers(app: &App, settings: &Settings, day: jiff::civil::Date) -> Result<Value, Error> {
    let stats = app.repo.stats(&day.to_string()).await?;
    let total = app.repo.stats("total").await?;
    // A reason whose failures were all redriven is counted down to 0: not a reason any more.
    let mut reasons: Vec<(String, i64)> = app.repo.stats(&format!("{day}#reasons")).await?.into_iter().filter(|(_, n)| *n > 0).collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    reasons.truncate(3);
    let nodes = app.repo.nodes().await?;
    let now = app.now();
    let tz = settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
    let (start, end) = (day_start(day, &tz)?, day_start(day.tomorrow().map_err(|e| Error::Internal(e.to_string()))?, &tz)?);
    let mut downtime: Vec<(String, i64)> = nodes
        .iter()
        .map(|n| {
            // Outages that ended are counted per local day when they end (split at midnight).
            let mut secs = stats.get(&format!("downtime#{}", n.value.id)).copied().unwrap_or(0);
            // A node still down adds the part of its outage that fell inside this day.
            if n.value.status == NodeStatus::Offline
                && let Some(since) = n.value.status_since
            {
                let (from, to) = (since.max(start), now.min(end));
                secs += (to.as_second() - from.as_second()).max(0);
            }
            (n.value.name.clone(), secs)
        })
        .filter(|(_, s)| *s > 0)
        .collect();
    downtime.sort_by_key(|d| std::cmp::Reverse(d.1));
    let count = |k: &str| stats.get(k).copied().unwrap_or(0);
    Ok(json!({
        "date": day.to_string(),
        "users": total.get("users").copied().unwrap_or(0),
        "new_users": count("new_users"),
        "checkins": count("checkins"),
        "nodes_online": nodes.iter().filter(|n| n.value.status == NodeStatus::Online).count(),
        "nodes_offline": nodes.iter().filter(|n| n.value.status == NodeStatus::Offline).count(),
        "downtime": downtime.iter().map(|(n, s)| json!({"node": n, "seconds": s})).collect::<Vec<_>>(),
        "sent": count("sent"),
        "failed": count("failed"),
        "top_failure_reasons": reasons.iter().map(|(r, n)| json!({"reason": r, "count": n})).collect::<Vec<_>>(),
    }))
}

fn report_template(r: &Value, day: jiff::civil::Date, settings: &Settings) -> Template {
    let downtime: Vec<String> = r["downtime"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| format!("{} {}", d["node"].as_str().unwrap_or_default(), human_duration(d["seconds"].as_i64().unwrap_or(0), settings.locale)))
        .collect();
    let reasons: Vec<String> = r["top_failure_reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| format!("{} ({})", x["reason"].as_str().unwrap_or_default(), x["count"]))
        .collect();
    let n = |k: &str| r[k].as_i64().unwrap_or(0).to_string();
    Template {
        key: "report.daily".into(),
        params: params! {
            "date" => day,
            "users" => n("users"), "new_users" => n("new_users"), "checkins" => n("checkins"),
            "nodes_online" => n("nodes_online"), "nodes_offline" => n("nodes_offline"),
            "downtime" => if downtime.is_empty() { String::new() } else { format!(" — {}", downtime.join(", ")) },
            "sent" => n("sent"), "failed" => n("failed"),
            "reasons" => if reasons.is_empty() { String::new() } else { format!("\n{}", reasons.join("\n")) },
        },
    }
}

// ---- reminders ----

/// A reminder to send: its user, its wording, and the key that makes it once per period.
struct Reminder {
    user: User,
    template: Template,
    key: String,
}

/// Takes reminders in through the intake ([`crate::queue::intake`]), like a batch of API calls:
/// each stored once, planned, its deliveries in it, [`Batcher::CHUNK`] to a call.
struct Batcher<'a> {
    app: &'a App,
    settings: &'a Settings,
    admins: Vec<User>,
    /// This run's own: its messages' deduplication ids end with it.
    run: String,
    queued: usize,
    deliveries: usize,
    skipped: usize,
    reminded: usize,
}

impl<'a> Batcher<'a> {
    const CHUNK: usize = 100;

    async fn new(app: &'a App, settings: &'a Settings) -> Result<Self, Error> {
        let admins = app.repo.admins().await?;
        let run = crate::domain::ids::new_id(app.now());
        Ok(Self { app, settings, admins, run, queued: 0, deliveries: 0, skipped: 0, reminded: 0 })
    }

    /// Takes in the reminders of `batch` not sent yet. An error leaves the run unfinished (it
    /// goes on at the next tick): what was taken is found then, the rest is taken again.
    async fn add(&mut self, batch: Vec<Reminder>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = self.app.now();
        // The id comes from the key: a second run finds the reminder it already sent.
        let ids: Vec<String> = batch.iter().map(|r| format!("R{}", stable_id(&[&r.key]))).collect();
        let existing = self.app.repo.existing_notifications(&ids).await?;
        let snap = self.app.snapshot().await?;
        // Each entry with its deliveries and messages, counted once it is taken.
        let (mut entries, mut sizes) = (Vec::new(), Vec::new());
        for (r, id) in batch.into_iter().zip(ids) {
            if existing.contains(&id) {
                self.skipped += 1;
                continue;
            }
            let mut n = Notification::built_in(id, "account", Target::User(r.user.id.clone()), r.template, now);
            let planned = plan_known(&snap.channels, self.settings, &n, &Known { user: Some(&r.user), admins: &self.admins }, now);
            (n.deliveries, n.planned, n.complete) = (planned.len() as u32, true, true);
            // A run made again within the queue's five minutes of deduplication must not have
            // its messages dropped as copies of an interrupted run's (dropped as orphans).
            let messages: Vec<OutMessage> =
                notify::send_now(&planned).into_iter().map(|m| OutMessage { dedup: format!("{}-{}", m.dedup, self.run), ..m }).collect();
            let w = self.app.repo.notification_records(&n, &planned, Cond::Any)?;
            sizes.push((planned.len(), messages.len()));
            // Its deliveries' own records (held ones, a big plan's) only if absent, before the
            // notification: ids come from the key, so another run taking the same reminder at
            // the same time must not put a delivery it already claimed back to `queued`.
            let heads = w.records.into_iter().map(|r| (r, Cond::Absent)).chain([w.head]).collect();
            entries.push(Entry { claim: None, messages, records: Vec::new(), heads });
        }
        let (mut failed, mut sizes) = (None, sizes.into_iter());
        while !entries.is_empty() {
            let rest = entries.split_off(entries.len().min(Self::CHUNK));
            for (taken, (deliveries, messages)) in self.app.intake.take_all(std::mem::replace(&mut entries, rest)).await?.into_iter().zip(&mut sizes)
            {
                match taken {
                    Ok(()) => {
                        self.reminded += 1;
                        self.deliveries += deliveries;
                        self.queued += messages;
                    }
                    // Taken meanwhile by another run.
                    Err(IntakeError::Store(StoreError::ConditionFailed)) => self.skipped += 1,
                    Err(e) => failed = Some(Error::from(e)),
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Whether a long job must stop now: less than 20 s left before `deadline` (the function's
/// timeout), enough to write what it did and answer.
pub fn out_of_time(app: &App, deadline: Option<Timestamp>) -> bool {
    deadline.is_some_and(|d| d.duration_since(app.now()) < SignedDuration::from_secs(20))
}

/// Expiry reminders (N days before, and the day after it expired) and traffic reminders (past
/// the threshold, and used up), each once per period, found through the indexes.
pub async fn reminders(app: &App, settings: &Settings, today: jiff::civil::Date, deadline: Option<Timestamp>) -> Result<Value, Error> {
    let tz = settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
    let mut b = Batcher::new(app, settings).await?;
    let mut finished = true;
    let mut days: Vec<i64> = settings.reminders.expiry_days.iter().map(|d| *d as i64).collect();
    days.sort_unstable();
    days.dedup();
    days.push(-1); // expired yesterday
    'expiry: for d in days {
        let target = today.checked_add(SignedDuration::from_hours(24 * d)).map_err(|e| Error::Internal(e.to_string()))?;
        // The local day, from its midnight to the next (23 or 25 hours on a DST change, never
        // midnight + 24 h), in the UTC dates it touches (the index's key).
        let start = day_start(target, &tz)?;
        let end = day_start(target.tomorrow().map_err(|e| Error::Internal(e.to_string()))?, &tz)?;
        let mut utc_days = vec![start.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()];
        let last = end.checked_sub(SignedDuration::from_secs(1)).unwrap_or(end).to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        while let Some(next) = utc_days.last().and_then(|d| d.tomorrow().ok()).filter(|d| *d <= last) {
            utc_days.push(next);
        }
        for utc in utc_days {
            let mut cursor = None;
            loop {
                if out_of_time(app, deadline) {
                    finished = false;
                    break 'expiry;
                }
                let page = app.repo.users_expiring(utc, cursor, 1000).await?;
                let batch = page
                    .items
                    .into_iter()
                    .filter(|u| u.expires_at.is_some_and(|t| t >= start && t < end))
                    .filter_map(|u| {
                        let at = u.expires_at?;
                        let date = at.to_zoned_datetime(tz.clone()).date().to_string();
                        let (key, template) = if d < 0 {
                            (
                                format!("expired:{}:{}", u.id, at.as_second()),
                                Template { key: "account.expired".into(), params: params! {"date" => date} },
                            )
                        } else {
                            (
                                format!("expiring:{}:{d}:{}", u.id, at.as_second()),
                                Template { key: "account.expiring".into(), params: params! {"days" => d, "date" => date} },
                            )
                        };
                        Some(Reminder { user: u, template, key })
                    })
                    .collect();
                b.add(batch).await?;
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
    }
    let threshold = settings.reminders.traffic_percent;
    let mut band = traffic_band(threshold).unwrap_or(50);
    'traffic: while finished && band <= 100 {
        let mut cursor = None;
        loop {
            if out_of_time(app, deadline) {
                finished = false;
                break 'traffic;
            }
            let page = app.repo.users_in_band(band, cursor, 1000).await?;
            let batch = page
                .items
                .into_iter()
                .filter_map(|u| {
                    let pct = u.traffic_percent()?;
                    let (used, total) = (u.traffic_used?, u.traffic_total?);
                    // Once per quota cycle: a cycle begins when the host resets the counter (or
                    // at the `traffic_reset_at` it gives), not on the 1st of a month.
                    let cycle = u.traffic_reset_at.map(|t| t.as_second()).unwrap_or(0);
                    if pct >= 100 {
                        let t = Template { key: "account.traffic_exhausted".into(), params: params! {"total" => human_bytes(total)} };
                        Some(Reminder { key: format!("traffic100:{}:{cycle}", u.id), user: u, template: t })
                    } else if pct >= threshold {
                        let t = Template {
                            key: "account.traffic".into(),
                            params: params! {"percent" => pct, "used" => human_bytes(used), "total" => human_bytes(total)},
                        };
                        Some(Reminder { key: format!("traffic{threshold}:{}:{cycle}", u.id), user: u, template: t })
                    } else {
                        None
                    }
                })
                .collect();
            b.add(batch).await?;
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        band += 10;
    }
    Ok(json!({"finished": finished, "reminded": b.reminded, "skipped": b.skipped, "deliveries": b.deliveries, "queued": b.queued}))
}

/// What an operator (and the bot's `/status`) looks at: the queue's depth, the nodes, today's
/// counters (in the deployment's time zone) and the number of users.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub queue: crate::queue::Depth,
    pub nodes: NodeCounts,
    /// Today's counters by name, each there (0 until counted): deliveries by final state
    /// (`sent`, `failed`, `skipped`), `checkins`, `new_users`, and `downtime_secs` (every node's
    /// seconds offline, summed; each node's own is in `GET /api/v1/stats`).
    pub today: std::collections::BTreeMap<String, i64>,
    pub users: i64,
}

/// Nodes by state; a blocked node is counted under `blocked` as well as `online` or `offline`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct NodeCounts {
    pub total: usize,
    pub online: usize,
    pub offline: usize,
    pub blocked: usize,
}

/// Reads the [`Status`] from the store and the queue.
pub async fn status(app: &App) -> Result<Status, Error> {
    use crate::domain::node::{Node, NodeStatus};
    let queue = app.queue.depth().await?;
    let nodes = app.repo.nodes().await?;
    let count = |f: &dyn Fn(&Node) -> bool| nodes.iter().filter(|n| f(&n.value)).count();
    app.repo.ensure_tz().await?;
    let day = app.repo.local_day(app.now()).to_string();
    let mut today: std::collections::BTreeMap<String, i64> =
        ["sent", "failed", "skipped", "checkins", "new_users", "downtime_secs"].into_iter().map(|k| (k.to_owned(), 0)).collect();
    for (name, n) in app.repo.stats(&day).await? {
        let name = if name.starts_with("downtime#") { "downtime_secs".to_owned() } else { name };
        *today.entry(name).or_default() += n;
    }
    let total = app.repo.stats("total").await?;
    Ok(Status {
        queue,
        nodes: NodeCounts {
            total: nodes.len(),
            online: count(&|n| n.status == NodeStatus::Online),
            offline: count(&|n| n.status == NodeStatus::Offline),
            blocked: count(&|n| n.blocked),
        },
        today,
        users: total.get("users").copied().unwrap_or(0),
    })
}
