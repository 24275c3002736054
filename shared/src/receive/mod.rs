//! The one receiver pipeline every platform's webhook runs through
//! (`/callback/{kind}?source=NAME`): the config is found by `source`; the platform verifies the
//! raw request (nothing else is read before, and an unknown source is as unauthenticated as a
//! wrong signature: `401`); the verified request is parsed (a challenge is answered at once);
//! a repeated event is acknowledged and not acted on twice; the bot answers (a host-app command
//! is relayed to the host, [`crate::relay`]); and its actions go back as the passive reply where
//! the platform takes one, the rest through the queue.

use crate::app::App;
use crate::domain::notification::{Call, DeliveryStatus};
use crate::domain::{ChannelKind, Error};
use crate::http::{MAX_BODY, Request, Response, empty};
use crate::platforms::{ApiCall, Parsed, Unverified, receiver};
use tracing::{info, warn};

/// How long an event's id is remembered for deduplication, in seconds (platforms retry within
/// minutes; a day is ample).
pub const DEDUP_TTL_SECS: i64 = 86_400;

/// Handles one request to `kind`'s receiver. Errors: `Unauthorized` (unknown source, or the
/// platform's verification failed), `TooLarge` (past [`MAX_BODY`]), `Invalid` (a verified body
/// that does not parse), `NotFound` (the kind does not receive), `Unavailable` (the store or the
/// queue).
#[tracing::instrument(skip_all, fields(kind = %kind, channel))]
pub async fn handle(app: &App, kind: ChannelKind, req: &Request) -> Result<Response, Error> {
    let receiver = receiver(kind).ok_or(Error::NotFound)?;
    if req.body.len() > MAX_BODY {
        return Err(Error::TooLarge);
    }
    let snap = app.snapshot().await?;
    let channel = snap.source(kind, req.query("source")).cloned().ok_or(Error::Unauthorized)?;
    receiver.verify(&channel, req, app.now()).map_err(|why| {
        tracing::debug!(channel = %channel.name, why = ?why, "request refused");
        match why {
            Unverified::Unauthenticated(_) => Error::Unauthorized,
            Unverified::Malformed(what) => Error::Invalid(crate::domain::Invalid::new("", what)),
        }
    })?;
    tracing::Span::current().record("channel", channel.name.as_str());
    // Each platform's dedup id says what it is unique in (Telegram: the config, whose own secret
    // signs it; WeCom: the app, since `source` is not signed), so one scope per kind: one WeCom
    // event replayed to two configs of the same app is acted on once.
    let scope = format!("rx:{kind}");
    match receiver.parse(&channel, req)? {
        Parsed::Challenge(r) => Ok(r),
        Parsed::Ignored => Ok(empty(http::StatusCode::OK)),
        Parsed::Moved { dedup, from, to } => {
            if app.repo.first_time(&scope, &dedup, DEDUP_TTL_SECS).await? {
                if let Err(e) = app.repo.move_chat(&channel.name, &from, &to).await {
                    forget(app, &scope, &dedup).await;
                    return Err(e.into());
                }
                app.invalidate();
                info!(channel = %channel.name, from, to, "chat moved");
            }
            Ok(empty(http::StatusCode::OK))
        }
        Parsed::Inbound { dedup, inbound } => {
            if !app.repo.first_time(&scope, &dedup, DEDUP_TTL_SECS).await? {
                return Ok(empty(http::StatusCode::OK));
            }
            let handled = async {
                let turn = crate::bot::handle(app, &channel, &snap, &inbound).await?;
                let mut actions = turn.actions;
                if let Some(run) = turn.run {
                    let shown = crate::relay::run(app, &channel, &inbound, &dedup, req, receiver.reply_within(), run, &actions).await?;
                    actions.extend(shown);
                }
                let reply = receiver.reply(&channel, req, &inbound, actions, app.now());
                enqueue(app, &channel.name, reply.queued).await?;
                Ok::<_, Error>(reply.response.unwrap_or_else(|| empty(http::StatusCode::OK)))
            };
            match handled.await {
                Ok(r) => Ok(r),
                Err(e) => {
                    forget(app, &scope, &dedup).await;
                    Err(e)
                }
            }
        }
    }
}

/// An event whose handling failed is forgotten, so the platform's retry is handled rather than
/// dropped as a repeat.
async fn forget(app: &App, scope: &str, dedup: &str) {
    if let Err(e) = app.repo.forget(scope, dedup).await {
        warn!(error = %e, "could not forget a failed event; its retry will be dropped");
    }
}

/// Stores the bot's calls and puts them on the queue, in order, each in its chat's group.
pub async fn enqueue(app: &App, channel: &str, calls: Vec<ApiCall>) -> Result<(), Error> {
    if calls.is_empty() {
        return Ok(());
    }
    let now = app.now();
    let stored: Vec<Call> = calls
        .into_iter()
        .map(|c| Call {
            id: crate::domain::ids::new_id(now),
            channel: channel.to_owned(),
            chat: c.chat,
            method: c.method,
            payload: c.payload,
            status: DeliveryStatus::Queued,
            attempts: 0,
            reason: None,
            claimed_at: None,
            updated_at: now,
        })
        .collect();
    app.repo.add_calls(&stored).await?;
    if let Err(e) = app.queue.send(stored.iter().map(crate::queue::job::Job::call).collect()).await {
        warn!(error = %e, "bot replies stored but not queued");
        return Err(e.into());
    }
    Ok(())
}
