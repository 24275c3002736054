//! Accepting a notification: store it (once per idempotency key), plan its deliveries, store
//! them, enqueue one message per delivery. Used by `POST /api/v1/notify` and by everything
//! Herald raises itself (node events, reports, reminders, failure notices).

use crate::app::App;
use crate::domain::Error;
use crate::domain::ids::new_id;
use crate::domain::notification::{Delivery, DeliveryStatus, Notification, Target, Template};
use crate::queue::OutMessage;
use crate::queue::intake::{Entry, IntakeError};
use crate::queue::job::Job;
use crate::routing::plan::{Planned, Resume, plan, plan_more};
use crate::store::repo::CenterMessage;
use crate::store::repo::{KEY_TAKEOVER, Keyed};
use crate::store::{Cond, StoreError};
use crate::text::templates::render_template;
use futures_util::future::join_all;

/// Deliveries planned inside the request; an `all` fan-out beyond this goes on in the
/// dispatcher, a queue message at a time.
pub const INLINE_BUDGET: usize = 500;
pub const EXPAND_BUDGET: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    pub id: String,
    pub deliveries: u32,
    /// False while an `all` fan-out is still being planned.
    pub complete: bool,
    /// The answer to an idempotency key given before (nothing new was made or sent); left out
    /// when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

impl Accepted {
    fn of(n: &Notification) -> Self {
        Self { id: n.id.clone(), deliveries: n.deliveries, complete: n.complete, replayed: false }
    }

    fn replay(n: &Notification) -> Self {
        Self { replayed: true, ..Self::of(n) }
    }
}

/// The message of each delivery to send now (queued, not held for quiet hours).
pub fn send_now(deliveries: &[Delivery]) -> Vec<OutMessage> {
    deliveries.iter().filter(|d| d.status == DeliveryStatus::Queued && d.hold_until.is_none()).map(Job::deliver).collect()
}

/// The messages of what was planned: each delivery to send now, and the fan-out's next step.
fn pending_messages(planned: &Planned, notification: &str) -> Vec<OutMessage> {
    let mut messages = send_now(&planned.deliveries);
    if let Some(r) = &planned.resume {
        messages.push(Job::expand(notification, r.clone()));
    }
    messages
}

async fn enqueue(app: &App, planned: &Planned, notification: &str) -> Result<(), Error> {
    app.queue.send(pending_messages(planned, notification)).await?;
    Ok(())
}

/// Deliveries skipped while planning (no channel to try).
fn skipped(planned: &Planned) -> usize {
    planned.deliveries.iter().filter(|d| d.status == DeliveryStatus::Skipped).count()
}

/// Counts `skipped` deliveries (no channel to try), for the report and the console; once their
/// notifications are stored (a request that fails counts nothing).
async fn count_skipped(app: &App, skipped: usize) {
    if skipped > 0
        && let Err(e) = app.repo.bump_today(&crate::store::repo::delivery_counter("none", "-", "skipped"), skipped as i64).await
    {
        tracing::warn!(error = %e, "skipped deliveries not counted");
    }
}

/// What `key` names, waiting (about a second at most) while a request that took it a moment
/// ago is finishing, so two requests racing with one key both answer the one written.
async fn settled(app: &App, key: &str) -> Result<Keyed, crate::store::StoreError> {
    let mut waits = [50, 100, 200, 300, 400].into_iter();
    loop {
        let found = app.repo.idempotency(key).await?;
        match (&found, waits.next()) {
            (Keyed::Unfinished { since, .. }, Some(ms)) if *since < KEY_TAKEOVER => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
            _ => return Ok(found),
        }
    }
}

fn under_way() -> Error {
    Error::Conflict("a request with this idempotency key is under way; try again in a minute".into())
}

/// What `POST /api/v1/notify` does with one notification: [`accept_all`].
pub async fn accept(app: &App, n: Notification) -> Result<Accepted, Error> {
    accept_all(app, vec![n]).await.pop().unwrap_or_else(|| Err(Error::Internal("no answer".into())))
}

/// What `POST /api/v1/notify` does with notifications (one, or a batch's entries in their
/// order): each is planned, then all their messages, deliveries and the notifications
/// themselves, already planned, are taken in together in one call ([`crate::queue::intake`]:
/// on AWS the keys' claims first, then the messages in order, the notifications last; on the
/// embedded store in one transaction); the answers come after that, one per notification, in order. So the
/// messages of a batch reach each chat in the batch's order, no `PENDING` index entry is written
/// and removed, and each notification is written once.
///
/// An idempotency key given in the last 24 hours answers the notification it named and changes
/// nothing (also a key repeated within the batch: the first entry's). The key's record is the
/// entry's claim, written first (in the same transaction on the embedded store): requests that
/// lose a race with one key queue nothing and answer the winner's notification (waiting about a
/// second for it); a request that fails after its claim gives the key back; one left naming
/// nothing answers `409` (under way) for [`KEY_TAKEOVER`] seconds, then is taken over.
///
/// On AWS a message that arrives before those writes waits for them
/// ([`crate::dispatch::ORPHAN_RECEIVES`]); if they fail, that entry answers the error and
/// nothing is sent for it: a delivery is sent only once its notification is stored (deliveries
/// left without it are closed as `skipped`, its messages dropped). A client that retries a
/// failed request without a key may still get a notification twice if the failure came after
/// the writes (an answer lost on the way): use a key where that matters.
pub async fn accept_all(app: &App, ns: Vec<Notification>) -> Vec<Result<Accepted, Error>> {
    let mut out: Vec<Option<Result<Accepted, Error>>> = vec![None; ns.len()];
    let snap = match app.snapshot().await {
        Ok(s) => s,
        Err(e) => return vec![Err(e.into()); ns.len()],
    };
    // A key given before, or earlier in this batch: that notification's answer.
    let mut first_of_key: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut repeat_of = vec![None; ns.len()];
    for (i, n) in ns.iter().enumerate() {
        let Some(key) = n.idempotency_key.as_deref() else { continue };
        match first_of_key.get(key) {
            Some(&first) => repeat_of[i] = Some(first),
            None => _ = first_of_key.insert(key, i),
        }
    }
    // The condition each new notification's key is written on.
    let mut key_cond = vec![Cond::Any; ns.len()];
    let known = join_all(first_of_key.iter().map(|(key, &i)| async move { (i, settled(app, key).await) })).await;
    for (i, found) in known {
        match found {
            Ok(Keyed::Named(existing)) => out[i] = Some(Ok(Accepted::replay(&existing))),
            Ok(Keyed::Free) => key_cond[i] = Cond::AbsentOrExpired(app.now().as_second()),
            Ok(Keyed::Unfinished { rev, since }) if since >= KEY_TAKEOVER => key_cond[i] = Cond::Rev(rev),
            Ok(Keyed::Unfinished { .. }) => out[i] = Some(Err(under_way())),
            Err(e) => out[i] = Some(Err(e.into())),
        }
    }
    let todo: Vec<usize> = (0..ns.len()).filter(|&i| out[i].is_none() && repeat_of[i].is_none()).collect();
    let planned = join_all(todo.iter().map(|&i| plan(&app.repo, &snap.channels, &snap.settings, &ns[i], INLINE_BUDGET))).await;
    let mut entries = Vec::new();
    let mut taking = Vec::new();
    for (&i, planned) in todo.iter().zip(planned) {
        let mut n = ns[i].clone();
        let entry = planned.map_err(Error::from).and_then(|planned| {
            n.deliveries = planned.deliveries.len() as u32;
            n.planned = true;
            n.complete = planned.resume.is_none();
            let w = app.repo.notification_records(&n, &planned.deliveries, key_cond[i])?;
            Ok((Entry { claim: w.claim, messages: pending_messages(&planned, &n.id), records: w.records, heads: vec![w.head] }, planned))
        });
        match entry {
            Ok((entry, planned)) => {
                entries.push(entry);
                taking.push((i, n, planned));
            }
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    match app.intake.take_all(entries).await {
        Err(e) => {
            let e = Error::from(e);
            for (i, _, _) in &taking {
                out[*i] = Some(Err(e.clone()));
            }
        }
        Ok(answers) => {
            let mut not_sendable = 0;
            for ((i, n, planned), answer) in taking.into_iter().zip(answers) {
                out[i] = Some(match answer {
                    Ok(()) => {
                        not_sendable += skipped(&planned);
                        Ok(Accepted::of(&n))
                    }
                    // Its key was taken meanwhile (another request with the same key): that one's.
                    Err(IntakeError::Store(StoreError::ConditionFailed)) if n.idempotency_key.is_some() => {
                        match settled(app, n.idempotency_key.as_deref().unwrap_or_default()).await {
                            Ok(Keyed::Named(existing)) => Ok(Accepted::replay(&existing)),
                            Ok(Keyed::Unfinished { .. }) => Err(under_way()),
                            // Given back: its own write was refused.
                            Ok(Keyed::Free) => Err(StoreError::ConditionFailed.into()),
                            Err(e) => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e.into()),
                });
            }
            count_skipped(app, not_sendable).await;
        }
    }
    for (i, first) in repeat_of.into_iter().enumerate() {
        if let Some(first) = first {
            out[i] = out[first].clone().map(|r| r.map(|a| Accepted { replayed: true, ..a }));
        }
    }
    out.into_iter().map(|o| o.unwrap_or_else(|| Err(Error::Internal("no answer".into())))).collect()
}

/// Takes in a notification Herald raises itself (node events, notices, the daily report, the
/// bot's broadcast): the way API calls take ([`accept`]: stored once, planned, its deliveries in
/// it); if that fails for want of the queue or the store ([`Error::Unavailable`] or
/// [`Error::Internal`]), [`stored_first`], so that an outage of the queue does not lose it: no
/// client retries what Herald raises. An idempotency key seen in the last 24 hours returns the
/// earlier notification instead and changes nothing.
pub async fn submit(app: &App, n: Notification) -> Result<Accepted, Error> {
    match accept(app, n.clone()).await {
        Err(e @ (Error::Unavailable(_) | Error::Internal(_))) => {
            tracing::warn!(notification = %n.id, error = %e, "not taken in; stored first for the sweeper to plan");
            stored_first(app, n).await
        }
        taken => taken,
    }
}

/// Stores, plans and enqueues `n`: stored first (with its idempotency key, if it has one), on
/// the `PENDING` index until its messages are queued, so a crash or a queue failure between the
/// two is repaired by the sweeper ([`replan`]) rather than lost. Messages the failed [`accept`]
/// queued before it stopped find their deliveries' records here, written before its own.
async fn stored_first(app: &App, mut n: Notification) -> Result<Accepted, Error> {
    if let Some(existing) = app.repo.create_notification(&n).await? {
        return Ok(Accepted::replay(&existing));
    }
    let snap = app.snapshot().await?;
    let planned = plan(&app.repo, &snap.channels, &snap.settings, &n, INLINE_BUDGET).await?;
    app.repo.add_deliveries(&planned.deliveries, true).await?;
    enqueue(app, &planned, &n.id).await?;
    n.deliveries = planned.deliveries.len() as u32;
    n.planned = true;
    n.complete = planned.resume.is_none();
    app.repo.save_notification(&n, 0).await?;
    count_skipped(app, skipped(&planned)).await;
    Ok(Accepted::of(&n))
}

/// A notification Herald raises itself, from a built-in template, on every channel but `avoid`.
pub async fn raise(app: &App, ty: &str, to: Target, template: Template, avoid: &[&str]) -> Result<Accepted, Error> {
    let mut n = Notification::built_in(new_id(app.now()), ty, to, template, app.now());
    n.avoid = avoid.iter().map(|c| c.to_string()).collect();
    submit(app, n).await
}

/// Plans the next part of an `all` fan-out (the `Expand` job). `Ok(false)`: the notification
/// is not stored (yet: [`accept`] queues this job before it stores the notification); the
/// dispatcher looks again a few times, then drops the job.
pub async fn expand(app: &App, notification: &str, resume: Resume) -> Result<bool, Error> {
    let found = match app.repo.notification(notification).await? {
        None => crate::dispatch::read_again(|| app.repo.notification(notification)).await?,
        found => found,
    };
    let Some(current) = found else { return Ok(false) };
    if !current.value.planned {
        // Queued by `submit`, which has not yet recorded its own part: come back after it.
        return Err(Error::Conflict("the notification is still being planned".into()));
    }
    let snap = app.snapshot().await?;
    let planned = plan_more(&app.repo, &snap.channels, &snap.settings, &current.value, resume, EXPAND_BUDGET).await?;
    // A redelivered Expand must not reset progress: write only what is absent.
    app.repo.add_deliveries(&planned.deliveries, false).await?;
    enqueue(app, &planned, notification).await?;
    let mut n = current.value;
    n.deliveries += planned.deliveries.len() as u32;
    n.complete = planned.resume.is_none();
    app.repo.save_notification(&n, current.rev).await?;
    count_skipped(app, skipped(&planned)).await;
    Ok(true)
}

/// Plans again a notification whose planning never finished (found by the sweeper), keeping
/// whatever deliveries already exist and re-enqueueing those still queued (the dispatcher
/// ignores a delivery that has moved on).
pub async fn replan(app: &App, n: &Notification) -> Result<(), Error> {
    let Some(current) = app.repo.notification(&n.id).await? else { return Ok(()) };
    let snap = app.snapshot().await?;
    let planned = plan(&app.repo, &snap.channels, &snap.settings, &current.value, INLINE_BUDGET).await?;
    app.repo.add_deliveries(&planned.deliveries, false).await?;
    enqueue(app, &planned, &n.id).await?;
    let mut updated = current.value;
    updated.deliveries = updated.deliveries.max(planned.deliveries.len() as u32);
    updated.planned = true;
    updated.complete = planned.resume.is_none();
    app.repo.save_notification(&updated, current.rev).await?;
    count_skipped(app, skipped(&planned)).await;
    Ok(())
}

/// Files an entry in the admins' message center, in the deployment's language.
pub async fn file(app: &App, category: &str, template: Template, notification: Option<&str>) -> Result<(), Error> {
    let locale = app.snapshot().await?.settings.locale;
    let (title, text) = render_template(&template, locale);
    let m = CenterMessage {
        id: new_id(app.now()),
        category: category.to_owned(),
        title,
        text,
        notification: notification.map(str::to_owned),
        read: false,
        created_at: app.now(),
    };
    app.repo.file_message(&m).await?;
    Ok(())
}
