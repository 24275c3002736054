//! Host-app commands, relayed: when a person runs a command the host app declared
//! ([`crate::domain::command`]), the bot has checked who may run it; here the run becomes an
//! [`Interaction`] (once per platform event, however often the platform retries), is POSTed to
//! the host signed with the command's secret, and the host's [`HostReply`] is written for the
//! platform.
//!
//! The host answers in one of two ways. Within the platform's deadline
//! ([`crate::platforms::Receiver::reply_within`], given to the host as `reply_by`): `200` with
//! the reply, which goes back as the platform's passive reply. Later: `202` at once, then
//! `POST /api/v1/interactions/{id}/reply` within [`REPLY_WINDOW_SECS`]; the person is told
//! "working on it" at once and the reply goes through the queue, after it (through Slack's
//! `response_url`, as Discord follow-ups). A host that does neither in time is treated as
//! `202`. A host that cannot be reached, answers an error or an unreadable reply, or never
//! replies in the window: the person gets a short message in their language (never the host's
//! words) and the admins a message-center entry.
//!
//! The event is signed like a webhook channel's document, over the timestamp too, so a
//! captured event cannot be played again: `X-Herald-Timestamp: <unix seconds>` and
//! `X-Herald-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.

use crate::app::App;
use crate::bot::Run;
use crate::domain::chat::{Action, BotConf, Button, Inbound};
use crate::domain::command::{HostReply, Interaction, InteractionState, KeptRequest, REPLY_WINDOW_SECS};
use crate::domain::{Error, Format, Invalid, Locale};
use crate::http::Request;
use crate::platforms::config::Channel;
use crate::platforms::{ApiCall, Parsed, describe, receiver, transport_error};
use crate::store::StoreError;
use crate::text::templates::phrase;
use jiff::SignedDuration;
use serde_json::{Value, json};
use std::time::Duration;
use tracing::warn;

pub const SIGNATURE_HEADER: &str = "X-Herald-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Herald-Timestamp";
pub const INTERACTION_HEADER: &str = "X-Herald-Interaction";
/// The most of a host's answer Herald reads, in bytes.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The longest button data kept in the button itself (Telegram's `callback_data` limit, the
/// smallest of the platforms'); longer data is kept in the store under a short id.
pub const MAX_BUTTON_DATA: usize = 64;

/// `sha256=` and the hex HMAC-SHA256 of `timestamp.body` under `secret` (the webhook channel's
/// signature, [`crate::platforms::webhook::signature`], over the timestamp as well).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    crate::platforms::webhook::signature(secret, &signed)
}

/// What the host answered.
#[derive(Debug)]
enum Relayed {
    /// The reply, in time.
    Reply(HostReply),
    /// `202`, or no answer by the deadline once the event was sent: a reply may come through
    /// the API.
    Later,
    /// Cannot be answered; the reason is for the admins.
    Failed(String),
}

impl KeptRequest {
    fn of(req: &Request) -> Self {
        KeptRequest {
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.iter().filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))).collect(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
        }
    }

    fn request(&self) -> Request {
        let mut headers = http::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (http::HeaderName::try_from(k.as_str()), http::HeaderValue::try_from(v.as_str())) {
                headers.append(k, v);
            }
        }
        Request {
            method: http::Method::POST,
            path: self.path.clone(),
            query: self.query.clone(),
            headers,
            body: bytes::Bytes::from(self.body.clone()),
            deadline: None,
        }
    }
}

/// Relays `run` (the bot decided it for `inbound` on `channel`, after its own `before`
/// actions) and returns what to show now: the host's reply, "working on it", or the failure
/// message. `dedup` is the platform event's id: a second run of the same event is not relayed
/// again. `wait` is how long the platform waits for its response.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    app: &App,
    channel: &Channel,
    inbound: &Inbound,
    dedup: &str,
    req: &Request,
    wait: Duration,
    run: Run,
    before: &[Action],
) -> Result<Vec<Action>, Error> {
    let now = app.now();
    let snap = app.snapshot().await?;
    let Some(command) = snap.command(&run.command).cloned() else { return Ok(vec![Action::reply(phrase("bot.unknown", run.locale))]) };
    let working = Action::reply(phrase("bot.working", run.locale));
    let reply_by = now + SignedDuration::try_from(wait).unwrap_or_default();
    let mut said = before.to_vec();
    said.push(working.clone());
    let mut ix = Interaction {
        id: crate::domain::ids::stable_id(&["ix", channel.kind().as_str(), &channel.name, dedup]),
        command: run.command,
        args: run.args,
        channel: channel.name.clone(),
        kind: channel.kind(),
        chat: inbound.chat.clone(),
        from: inbound.from.id.clone(),
        user: run.user,
        role: run.role.to_owned(),
        locale: run.locale,
        state: InteractionState::Waiting,
        created_at: now,
        expires_at: now + SignedDuration::from_secs(REPLY_WINDOW_SECS),
        request: KeptRequest::of(req),
        reply_by,
        // Stored as it will be if the host answers later, so a reply through the API that
        // comes before this request is answered is written after "working on it".
        said,
    };
    if !app.repo.add_interaction(&ix).await? {
        return Ok(vec![working]); // the platform sent this event again: relayed once
    }
    let event = json!({
        "type": "command",
        "interaction": ix.id,
        "command": ix.command,
        "args": ix.args,
        "user": ix.user,
        "role": ix.role,
        "platform": ix.kind,
        "channel": ix.channel,
        "chat": ix.chat,
        "sender": {"id": inbound.from.id, "name": inbound.from.name},
        "locale": ix.locale,
        "reply_by": reply_by,
        "expires_at": ix.expires_at,
        "reply_path": format!("{}interactions/{}/reply", crate::api::PREFIX, ix.id),
    });
    let relayed = post(app, &command.url, command.secret.expose(), &ix.id, &event, wait).await;
    let conf = crate::platforms::bot_conf(channel);
    let outcome = match relayed {
        Relayed::Reply(r) => match check(&snap, &r) {
            Ok(()) => Ok(r),
            Err(e) => Err(format!("its reply is not valid: {e}")),
        },
        Relayed::Later => return Ok(vec![working]),
        Relayed::Failed(why) => Err(why),
    };
    let (state, actions) = match outcome {
        Ok(r) => (InteractionState::Replied, actions(app, &conf, inbound, &r, ix.locale).await?),
        Err(why) => {
            failed(app, &ix, &why).await;
            (InteractionState::Failed, vec![Action::reply(phrase("bot.host_failed", ix.locale))])
        }
    };
    ix.state = state;
    match app.repo.update_interaction(&ix, 1).await {
        Ok(()) => Ok(actions),
        // A reply through the API came first: it is queued after "working on it".
        Err(StoreError::ConditionFailed) => Ok(vec![working]),
        Err(e) => Err(e.into()),
    }
}

/// Checks a reply against the deployment's commands (a button may run any of them).
fn check(snap: &crate::app::Snapshot, r: &HostReply) -> Result<(), Invalid> {
    r.check(|c| snap.command(c).is_some() || crate::domain::chat::is_command(c))
}

/// POSTs the signed event and reads the answer within `wait`.
async fn post(app: &App, url: &str, secret: &str, id: &str, event: &Value, wait: Duration) -> Relayed {
    let body = serde_json::to_vec(event).unwrap_or_default();
    let ts = app.now().as_second();
    let sent = app
        .http
        .post(url)
        .timeout(wait)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, signature(secret, ts, &body))
        .header(INTERACTION_HEADER, id)
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        // Sent, and not answered yet: the host may still reply through the API.
        Err(e) if e.is_timeout() && !e.is_connect() => return Relayed::Later,
        Err(e) => return Relayed::Failed(describe(&transport_error(e))),
    };
    let status = resp.status();
    if status == http::StatusCode::ACCEPTED {
        return Relayed::Later;
    }
    if !status.is_success() {
        return Relayed::Failed(format!("the host answered HTTP {}", status.as_u16()));
    }
    match crate::platforms::read_limited(resp, MAX_ANSWER).await.map_err(|o| crate::platforms::describe(&o)) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|v| crate::domain::parse_json(v).map_err(|e| e.to_string()))
        {
            Ok(r) => Relayed::Reply(r),
            Err(e) => Relayed::Failed(format!("its reply is not valid: {e}")),
        },
        Err(e) => Relayed::Failed(format!("its reply could not be read: {e}")),
    }
}

/// The host's reply as the bot's actions on a platform with `conf`: buttons where it has them
/// (a command button's data kept in the store when longer than [`MAX_BUTTON_DATA`]), else the
/// buttons as numbered choices the person answers with a number, and links as lines.
pub async fn actions(app: &App, conf: &BotConf, inbound: &Inbound, r: &HostReply, locale: Locale) -> Result<Vec<Action>, Error> {
    let link =
        r.link.as_ref().map(|l| (l.text.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| phrase("bot.open_link", locale)), l.url.clone()));
    if conf.buttons {
        let mut rows = Vec::new();
        for row in &r.buttons {
            let mut out = Vec::new();
            for b in row {
                out.push(match (&b.url, &b.command) {
                    (Some(u), _) => Button::url(&b.text, u),
                    (None, Some(c)) => Button::data(&b.text, button_data(app, c, &b.args).await?),
                    (None, None) => continue,
                });
            }
            rows.push(out);
        }
        if let Some((label, url)) = link {
            rows.push(vec![Button::url(label, url)]);
        }
        return Ok(vec![Action::Reply { text: r.text.clone(), format: r.format, image: r.image.clone(), buttons: rows, edit: None }]);
    }
    // Each line written whole as text in the reply's format (so `1.` is not read as a list).
    let line = |s: &str| match r.format {
        Format::Text => s.to_owned(),
        Format::Markdown => crate::text::markup::escape_for(crate::text::markup::Flavor::Markdown, s),
        Format::Html => crate::text::markup::escape_html(s),
    };
    let mut lines = Vec::new();
    let mut choices = Vec::new();
    for b in r.buttons.iter().flatten() {
        match (&b.url, &b.command) {
            (Some(u), _) => lines.push(line(&format!("{}: {u}", b.text))),
            // In a group a bare number is not read as a command: the command itself is shown.
            (None, Some(c)) if inbound.group => lines.push(line(format!("{}: /{c} {}", b.text, b.args).trim_end())),
            (None, Some(c)) => {
                choices.push((c.clone(), b.args.clone()));
                lines.push(line(&format!("{}. {}", choices.len(), b.text)));
            }
            (None, None) => {}
        }
    }
    if let Some((label, url)) = link {
        lines.push(line(&format!("{label}: {url}")));
    }
    if !inbound.group {
        // Replaces the choices offered before (none now: a number runs nothing old).
        app.repo.offer_choices(&conf.binding, &inbound.chat, &inbound.from.id, &choices).await?;
    }
    if !choices.is_empty() {
        lines.push(line(&phrase("bot.choose", locale)));
    }
    let mut text = r.text.clone();
    if !lines.is_empty() {
        // A blank line first, so Markdown reads the choices as a list of their own.
        text = if text.trim().is_empty() { lines.join("\n") } else { format!("{text}\n\n{}", lines.join("\n")) };
    }
    Ok(vec![Action::Reply { text, format: r.format, image: r.image.clone(), buttons: Vec::new(), edit: None }])
}

/// A command button's data: `/command args` when it fits, else `h:` and the id it is kept under.
async fn button_data(app: &App, command: &str, args: &str) -> Result<String, Error> {
    let typed = format!("/{command} {args}").trim_end().to_owned();
    if typed.len() <= MAX_BUTTON_DATA {
        return Ok(typed);
    }
    let id = crate::domain::ids::random_token::<12>();
    app.repo.keep_host_button(&id, command, args).await?;
    Ok(format!("h:{id}"))
}

/// Tells the admins (message center) that `ix` failed and why.
async fn failed(app: &App, ix: &Interaction, why: &str) {
    // The reason may quote the host's reply: kept short.
    let why = crate::text::markup::cut_chars(why, 300);
    let why = why.as_str();
    warn!(command = %ix.command, interaction = %ix.id, reason = why, "host command failed");
    let t = crate::domain::Template {
        key: "command.failed".into(),
        params: crate::params! {"command" => ix.command, "platform" => ix.kind.as_str(), "reason" => why},
    };
    if let Err(e) = crate::platforms::Memory::notice(&app.repo, "failure", t).await {
        warn!(error = %e, "could not file the failed command in the message center");
    }
}

/// The channel `ix` came through, its receiver, and the person's message read again from the
/// kept request. `Conflict` if the channel is gone or is now of another kind.
type Origin = (Channel, &'static dyn crate::platforms::Receiver, Inbound);

async fn origin(app: &App, ix: &Interaction) -> Result<Origin, Error> {
    let gone = || Error::Conflict("the channel of this interaction is gone".into());
    let channel = app.snapshot().await?.channel(&ix.channel).cloned().filter(|c| c.kind() == ix.kind).ok_or_else(gone)?;
    let rx = receiver(channel.kind()).ok_or_else(gone)?;
    match rx.parse(&channel, &ix.request.request()) {
        Ok(Parsed::Inbound { inbound, .. }) => Ok((channel, rx, inbound)),
        _ => Err(gone()),
    }
}

/// `actions` for `ix`'s person as the calls that follow what the platform's response already
/// said (`origin` is [`origin`]'s answer). `Conflict` when the platform takes nothing after its
/// response (a Synology Chat channel without `bot_token`).
fn later_calls(app: &App, ix: &Interaction, origin: &Origin, actions: Vec<Action>) -> Result<Vec<ApiCall>, Error> {
    let (channel, rx, inbound) = origin;
    let calls = rx.later(channel, &ix.request.request(), inbound, ix.said.clone(), actions, app.now());
    if calls.is_empty() {
        return Err(Error::Conflict(format!(
            "channel {} cannot send anything after its response (a Synology Chat channel needs bot_token)",
            channel.name
        )));
    }
    Ok(calls)
}

/// `POST /api/v1/interactions/{id}/reply`: the host's reply after `202`, within the window.
/// Errors: `NotFound` (unknown, or past its record's life), `Conflict` (answered, failed or
/// past the window), `Invalid` (the reply).
pub async fn reply_later(app: &App, id: &str, reply: HostReply) -> Result<Value, Error> {
    let current = app.repo.interaction(id).await?.ok_or(Error::NotFound)?;
    let mut ix = current.value;
    if ix.state != InteractionState::Waiting {
        return Err(Error::Conflict(format!("this interaction is {}", if ix.state == InteractionState::Replied { "answered" } else { "closed" })));
    }
    if app.now() > ix.expires_at {
        return Err(Error::Conflict("this interaction's reply window (15 minutes) is over".into()));
    }
    check(&*app.snapshot().await?, &reply)?;
    let from = origin(app, &ix).await?;
    let shown = actions(app, &crate::platforms::bot_conf(&from.0), &from.2, &reply, ix.locale).await?;
    let calls = later_calls(app, &ix, &from, shown)?;
    let n = calls.len();
    // A reply faster than the platform's response (the host replied, then answered 202): held
    // until that response is given, so the person sees it after "working on it".
    if let Ok(early) = std::time::Duration::try_from(ix.reply_by.duration_since(app.now())) {
        tokio::time::sleep(early.min(std::time::Duration::from_secs(5))).await;
    }
    ix.state = InteractionState::Replied;
    match app.repo.update_interaction(&ix, current.rev).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(Error::Conflict("this interaction was answered or closed meanwhile".into())),
        Err(e) => return Err(e.into()),
    }
    match crate::receive::enqueue(app, &from.0.name, calls).await {
        Ok(()) => Ok(json!({"ok": true, "calls": n})),
        Err(e) => {
            // Not shown: open again, so the host's retry is taken.
            ix.state = InteractionState::Waiting;
            if let Err(e) = app.repo.update_interaction(&ix, current.rev + 1).await {
                warn!(interaction = id, error = %e, "a reply that could not be queued left its interaction closed");
            }
            Err(e)
        }
    }
}

/// Closes the interactions whose window passed without a reply: each person is told it did
/// not work, and the admins why. Returns how many were closed. Run by the sweeper.
pub async fn expire(app: &App) -> Result<u32, Error> {
    let mut closed = 0;
    for current in app.repo.expired_interactions(app.now(), 100).await? {
        let mut ix = current.value;
        ix.state = InteractionState::Failed;
        match app.repo.update_interaction(&ix, current.rev).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => continue, // answered meanwhile
            Err(e) => return Err(e.into()),
        }
        failed(app, &ix, "no reply within 15 minutes").await;
        let sorry = vec![Action::reply(phrase("bot.host_failed", ix.locale))];
        let told = async {
            let from = origin(app, &ix).await?;
            let calls = later_calls(app, &ix, &from, sorry)?;
            crate::receive::enqueue(app, &from.0.name, calls).await
        };
        if let Err(e) = told.await {
            warn!(interaction = %ix.id, error = %e, "could not tell the person their command failed");
        }
        closed += 1;
    }
    Ok(closed)
}
