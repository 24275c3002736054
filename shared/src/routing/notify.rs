//! Accepting a notification: store it (once per idempotency key), plan its deliveries, store
//! them, enqueue one message per delivery. Used by `POST /api/v1/notify` and by everything
//! Herald raises itself (node events, reports, reminders, failure notices).

use crate::app::App;
use crate::domain::Error;
use crate::domain::ids::new_id;
use crate::domain::notification::{DeliveryStatus, Notification, Target, Template};
use crate::queue::OutMessage;
use crate::queue::job::Job;
use crate::routing::plan::{Planned, Resume, plan, plan_more};
use crate::store::repo::CenterMessage;
use crate::text::templates::render_template;

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
}

/// The messages of what was planned: each delivery to send now, and the fan-out's next step.
fn pending_messages(planned: &Planned, notification: &str) -> Vec<OutMessage> {
    let mut messages: Vec<OutMessage> =
        planned.deliveries.iter().filter(|d| d.status == DeliveryStatus::Queued && d.hold_until.is_none()).map(Job::deliver).collect();
    if let Some(r) = &planned.resume {
        messages.push(Job::expand(notification, r.clone()));
    }
    messages
}

async fn enqueue(app: &App, planned: &Planned, notification: &str) -> Result<(), Error> {
    app.queue.send(pending_messages(planned, notification)).await?;
    Ok(())
}

/// Counts the deliveries skipped while planning (no channel to try), for the report and the
/// console; once the notification is stored (a request that fails counts nothing).
async fn count_skipped(app: &App, planned: &Planned) {
    let skipped = planned.deliveries.iter().filter(|d| d.status == DeliveryStatus::Skipped).count();
    if skipped > 0
        && let Err(e) = app.repo.bump_today(&crate::store::repo::delivery_counter("none", "-", "skipped"), skipped as i64).await
    {
        tracing::warn!(error = %e, "skipped deliveries not counted");
    }
}

/// What `POST /api/v1/notify` does with a notification: one without an idempotency key is
/// planned, then its messages, its deliveries and the notification itself, already planned,
/// are taken in together ([`crate::queue::intake`]: on AWS the messages first and the
/// notification last; on the embedded store in one transaction); `202` comes after that. So no
/// `PENDING` index entry is written and removed and the notification is written once (three
/// DynamoDB write units fewer than [`submit`]). On AWS a message that arrives before those
/// writes waits for them ([`crate::dispatch::ORPHAN_RECEIVES`]); if they fail, the request
/// answers the error and nothing is sent for it: a delivery is sent only once its notification
/// is stored (deliveries left without it are closed as `skipped`, its messages dropped). A
/// client that retries a failed request without a key may still get a notification twice if
/// the failure came after the writes (an answer lost on the way): use a key where that matters.
///
/// With a key, [`submit`].
pub async fn accept(app: &App, mut n: Notification) -> Result<Accepted, Error> {
    if n.idempotency_key.is_some() {
        return submit(app, n).await;
    }
    let snap = app.snapshot().await?;
    let planned = plan(&app.repo, &snap.channels, &snap.settings, &n, INLINE_BUDGET).await?;
    n.deliveries = planned.deliveries.len() as u32;
    n.planned = true;
    n.complete = planned.resume.is_none();
    let (records, head) = app.repo.notification_records(&n, &planned.deliveries)?;
    app.intake.take(pending_messages(&planned, &n.id), records, head).await?;
    count_skipped(app, &planned).await;
    Ok(Accepted { id: n.id, deliveries: n.deliveries, complete: n.complete })
}

/// Stores, plans and enqueues `n`: stored first (with its idempotency key, if it has one: a key
/// seen in the last 24 hours returns the earlier notification instead and changes nothing), on
/// the `PENDING` index until its messages are queued, so a crash or a queue failure between the
/// two is repaired by the sweeper rather than lost. Herald's own notifications (node events,
/// notices, the bot's broadcast) take this way: they have no client to retry them.
pub async fn submit(app: &App, mut n: Notification) -> Result<Accepted, Error> {
    if let Some(existing) = app.repo.create_notification(&n).await? {
        return Ok(Accepted { id: existing.id, deliveries: existing.deliveries, complete: existing.complete });
    }
    let snap = app.snapshot().await?;
    let planned = plan(&app.repo, &snap.channels, &snap.settings, &n, INLINE_BUDGET).await?;
    app.repo.add_deliveries(&planned.deliveries, true).await?;
    enqueue(app, &planned, &n.id).await?;
    n.deliveries = planned.deliveries.len() as u32;
    n.planned = true;
    n.complete = planned.resume.is_none();
    app.repo.save_notification(&n, 0).await?;
    count_skipped(app, &planned).await;
    Ok(Accepted { id: n.id, deliveries: n.deliveries, complete: n.complete })
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
    count_skipped(app, &planned).await;
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
    count_skipped(app, &planned).await;
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
