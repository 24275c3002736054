//! The platforms Herald sends on and receives from. Each is one folder implementing [`Platform`]
//! (and, for those that receive, [`Receiver`]): its settings and their validation, its chat ids,
//! rendering a [`Message`] into its API calls, making one call and reading the answer into a
//! [`SendOutcome`], its rate limits, registration (webhook, commands, menus), and for receivers
//! the verification, parsing and passive reply. [`platform`] is the one registry from a kind to
//! its module; nothing outside this folder matches on a kind.
//!
//! What is the same for every platform is here, written once: sending a long message in parts
//! and resuming after the last part sent ([`send`]), a stored call ([`execute`]), and the
//! reading of transport errors, `Retry-After`, redirects and plain HTTP statuses.

pub mod chat_id;
pub mod config;
pub mod discord;
pub mod slack;
pub mod synology;
pub mod telegram;
pub mod vocechat;
pub mod webhook;
pub mod webpush;
pub mod wecom;

use crate::domain::chat::{Action, BotConf, Inbound};
use crate::domain::{ChannelKind, Invalid, Locale, Valid};
use crate::http::{Request, Response};
use crate::text::message::Message;
use config::{Channel, ChannelSettings};
use serde_json::Value;
use std::time::Duration;

/// What became of one send.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent,
    /// The platform asked us to wait (429 and its kin): try again after `retry_after`.
    RateLimited {
        retry_after: Duration,
        reason: String,
    },
    /// Might work later (5xx, timeout, connection refused).
    Transient {
        reason: String,
    },
    /// Will not work as it stands (bad credentials, unknown chat). `unreachable`: the recipient
    /// cannot be reached on this platform (blocked the bot, left).
    Permanent {
        reason: String,
        unreachable: bool,
    },
    /// The chat moved (a Telegram group upgraded to a supergroup): send there instead.
    Moved {
        to: String,
    },
}

impl SendOutcome {
    pub fn permanent(reason: impl Into<String>) -> Self {
        SendOutcome::Permanent { reason: reason.into(), unreachable: false }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        SendOutcome::Transient { reason: reason.into() }
    }

    /// A short name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::RateLimited { .. } => "rate_limited",
            SendOutcome::Transient { .. } => "transient",
            SendOutcome::Permanent { .. } => "permanent",
            SendOutcome::Moved { .. } => "moved",
        }
    }
}

/// The outcome of a send, how many parts of a long message are done (sent now or before), and
/// the notes of its calls ([`Answer::note`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub outcome: SendOutcome,
    pub parts_done: u32,
    pub note: Option<String>,
}

impl From<SendOutcome> for Report {
    fn from(outcome: SendOutcome) -> Self {
        let parts_done = u32::from(outcome == SendOutcome::Sent);
        Report { outcome, parts_done, note: None }
    }
}

/// Most characters of a reason kept, stored and shown (a platform's error page can be long).
pub const MAX_REASON_CHARS: usize = 1000;

/// Most bytes of a platform's answer read ([`read_limited`]).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// `reason` cut to [`MAX_REASON_CHARS`], with `…` where it was cut.
pub fn clip_reason(reason: String) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((at, _)) => format!("{}…", &reason[..at]),
        None => reason,
    }
}

/// A response's body, at most `max` bytes: a longer one is a transient failure, read no
/// further (an error page must not fill memory or the store).
pub async fn read_limited(mut res: reqwest::Response, max: usize) -> Result<bytes::Bytes, SendOutcome> {
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(transport_error)? {
        if out.len() + chunk.len() > max {
            return Err(SendOutcome::transient(format!("the answer is longer than {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
}

/// A platform's JSON answer, read with [`read_limited`].
pub async fn read_json(res: reqwest::Response) -> Result<Value, SendOutcome> {
    let body = read_limited(res, MAX_ANSWER_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| SendOutcome::transient(format!("unreadable answer: {e}")))
}

/// `outcome` with the given secrets masked out of its reason ([`crate::domain::secret::redact`]),
/// cut to [`MAX_REASON_CHARS`].
pub fn redact_outcome(outcome: SendOutcome, secrets: &[&str]) -> SendOutcome {
    let r = |s: String| clip_reason(crate::domain::secret::redact(&s, secrets));
    match outcome {
        SendOutcome::RateLimited { retry_after, reason } => SendOutcome::RateLimited { retry_after, reason: r(reason) },
        SendOutcome::Transient { reason } => SendOutcome::Transient { reason: r(reason) },
        SendOutcome::Permanent { reason, unreachable } => SendOutcome::Permanent { reason: r(reason), unreachable },
        other => other,
    }
}

/// A report with every secret of `settings` masked out of its reason and note.
pub fn redact_report(report: Report, settings: &ChannelSettings) -> Report {
    let owned = settings.secret_values();
    let secrets: Vec<&str> = owned.iter().map(String::as_str).collect();
    Report {
        outcome: redact_outcome(report.outcome, &secrets),
        parts_done: report.parts_done,
        note: report.note.map(|n| clip_reason(crate::domain::secret::redact(&n, &secrets))),
    }
}

/// The reason an outcome gives, for people (`ok` when sent).
pub fn describe(o: &SendOutcome) -> String {
    match o {
        SendOutcome::Sent => "ok".into(),
        SendOutcome::RateLimited { reason, retry_after } => format!("{reason}; retry after {}s", retry_after.as_secs()),
        SendOutcome::Transient { reason } | SendOutcome::Permanent { reason, .. } => reason.clone(),
        SendOutcome::Moved { to } => format!("the chat moved to {to}"),
    }
}

/// What a platform module may keep between calls, whatever the store behind it: the store
/// adapter implements it ([`crate::store::repo::Repo`]). Errors are the store's, as text.
#[async_trait::async_trait]
pub trait Memory: Send + Sync {
    /// A value kept under `key` while it lives (an access token shared by every instance).
    async fn cached(&self, key: &str) -> Result<Option<String>, String>;
    /// Keeps `value` under `key` for `ttl_secs` seconds.
    async fn cache(&self, key: &str, value: &str, ttl_secs: i64) -> Result<(), String>;
    /// True the first time `key` is seen in `scope` within `ttl_secs` seconds.
    async fn first_time(&self, scope: &str, key: &str, ttl_secs: i64) -> Result<bool, String>;
    /// Files a notice (a built-in template) in the admins' message center.
    async fn notice(&self, category: &str, template: crate::domain::notification::Template) -> Result<(), String>;
    /// `user`'s Web Push subscription `id`, if it still exists.
    async fn push_subscription(&self, user: &str, id: &str) -> Result<Option<crate::domain::user::PushSubscription>, String>;
    /// Removes `user`'s Web Push subscription `id` (its push service said it is gone).
    async fn drop_push_subscription(&self, user: &str, id: &str) -> Result<(), String>;
}

/// What a platform call may use: the HTTP client (no redirects, the configured timeout) and
/// the platform's [`Memory`].
pub struct Context<'a> {
    pub http: &'a reqwest::Client,
    pub memory: &'a dyn Memory,
}

/// One call to a platform's API: a part of a message, or one of the bot's replies. `chat` is
/// whom it reaches (for pacing and the queue's order); `method` and `payload` are the
/// platform's own (`sendMessage` and its JSON; WeCom's `message/send`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiCall {
    pub chat: String,
    pub method: String,
    pub payload: Value,
}

impl ApiCall {
    pub fn new(chat: impl Into<String>, method: impl Into<String>, payload: Value) -> Self {
        ApiCall { chat: chat.into(), method: method.into(), payload }
    }
}

/// What one call came to: the outcome, and anything the platform said that belongs on the
/// delivery (WeCom's `invaliduser`, a Telegram forum topic that is gone).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub outcome: SendOutcome,
    pub note: Option<String>,
}

impl From<SendOutcome> for Answer {
    fn from(outcome: SendOutcome) -> Self {
        Answer { outcome, note: None }
    }
}

/// A limit shared by every dispatcher instance: `count` sends per `window`, kept under `key`
/// (see [`crate::dispatch::pacing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimit {
    pub key: String,
    pub count: u32,
    pub window: Duration,
}

impl SharedLimit {
    pub fn new(key: String, count: u32, window_ms: u64) -> Self {
        SharedLimit { key, count, window: Duration::from_millis(window_ms) }
    }
}

/// What registering a channel with its platform needs: where the platform reaches Herald, the
/// chats of the admins (for admin-only command lists) and the deployment's language.
pub struct Registering<'a> {
    pub ctx: Context<'a>,
    /// The receiver's base URL (`https://host`), if Herald knows it.
    pub public_url: Option<&'a str>,
    pub admin_chats: Vec<String>,
    pub locale: Locale,
    /// The host app's declared commands, listed beside the bot's own.
    pub commands: &'a [crate::domain::command::HostCommand],
}

/// What a registration did: the platform's answers for the operator, and settings learned on
/// the way (the bot's username) to keep.
#[derive(Debug, Clone)]
pub struct Registration {
    pub detail: Value,
    pub learned: Option<ChannelSettings>,
}

/// One platform's settings face: what a channel config of it holds and means. Implemented once
/// per folder; reached through [`platform`]. Sending is [`Sender`] and receiving [`Receiver`],
/// reached through their own registries, so a binary that never sends links no sending code.
pub trait Platform: Sync {
    fn kind(&self) -> ChannelKind;

    /// Reads and validates this platform's settings; errors name the field (without `settings.`).
    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings>;

    /// Why `id` is not one chat id of this platform (the accepted format), or `None` if it is.
    /// No id that addresses many people at once (WeCom's `@all`) is ever one.
    fn chat_problem(&self, id: &str) -> Option<&'static str>;

    /// Whether a chat id here names one person only within one workspace or server (Slack user
    /// ids, Synology Chat and VoceChat user numbers), so that users' ids are kept per channel
    /// config (`ids["slack:NAME"]`, [`crate::domain::Binding`]) rather than per platform.
    fn ids_per_config(&self) -> bool {
        false
    }

    /// The account on the platform a config speaks as, where the platform's limits are the
    /// account's: a Telegram bot (its id, the digits before the token's `:`), a Discord
    /// application (`application_id`, when given), a WeCom app (`corp_id/agent_id`). Configs of
    /// one account (two Telegram configs of one bot, each with its own default chat) share its
    /// pacing schedules ([`crate::dispatch::pacing::limits`]): each alone would pace to the
    /// whole limit, together twice it. Public ids only, never a secret: it is part of a store key.
    fn account(&self, _settings: &ChannelSettings) -> Option<String> {
        None
    }

    /// Fills in settings Herald makes itself when they are left out (Web Push's VAPID key pair:
    /// kept from `previous`, the stored config of the same kind, else made anew).
    fn complete(&self, _settings: &mut ChannelSettings, _previous: Option<&ChannelSettings>) -> Valid {
        Ok(())
    }

    /// Whether a user's `ids` holds their chat id on this platform (Web Push: no; a person's
    /// browsers register their subscriptions themselves).
    fn user_ids(&self) -> bool {
        true
    }

    /// The recipients `user` has on `channel`, reachable or not: their id on the channel's
    /// binding (Web Push: each of their subscriptions, as `USER:ID`).
    fn recipients(&self, channel: &Channel, user: &crate::domain::User) -> Vec<String> {
        user.ids.get(&channel.binding()).cloned().into_iter().collect()
    }

    /// The settings fields that say where secrets are sent: a secret sent back masked is kept
    /// only while these are unchanged.
    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base"]
    }

    /// URL fields shown with only their scheme and host when they may carry a credential:
    /// `true` always (a webhook's `url`), `false` only when the URL has a user, query or fragment.
    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[("api_base", false)]
    }

    /// Values besides the [`crate::domain::secret::Secret`] fields and the URL fields that may
    /// carry a secret, masked out of anything a platform answers (a Telegram token's secret half,
    /// which a platform may echo without the bot id).
    fn also_redact(&self, _settings: &ChannelSettings) -> Vec<String> {
        Vec::new()
    }

    /// Secrets Herald makes itself (Telegram's webhook `secret_token`): made anew, never kept,
    /// when the destination changes.
    fn generated_secrets(&self) -> &'static [&'static str] {
        &[]
    }

    /// The bot settings of a config of this platform.
    fn bot_conf(&self, _settings: &ChannelSettings) -> BotConf {
        BotConf::plain(self.kind())
    }

    /// What a person types to the bot to bind their account with `code` (`/bind CODE` unless the
    /// platform takes commands another way).
    fn bind_command(&self, code: &str) -> String {
        format!("/bind {code}")
    }

    /// What the callback URL given to the platform carries after `?source=NAME`, secrets as
    /// placeholders for the operator to fill in (they are never shown): VoceChat's
    /// `&token=WEBHOOK_SECRET`; nothing elsewhere.
    fn callback_extra(&self) -> &'static str {
        ""
    }

    /// A link that opens a chat with the bot and binds the account with `code` (Telegram's
    /// `https://t.me/BOT?start=CODE`), if the platform has deep links.
    fn bind_link(&self, _settings: &ChannelSettings, _code: &str) -> Option<String> {
        None
    }

    /// The config's default chat moved (a Telegram group became a supergroup): updates it in
    /// `settings`; true if it was `from`.
    fn move_chat(&self, _settings: &mut ChannelSettings, _from: &str, _to: &str) -> bool {
        false
    }

    /// At most this many recipients' copies of one notification may be merged into one call
    /// (WeCom's `touser=a|b|c`); `None`: never merged.
    fn merges_recipients(&self) -> Option<usize> {
        None
    }
}

/// One platform's sending face: rendering a message into its calls, making a call, its limits,
/// and registration. Reached through [`sender`].
#[async_trait::async_trait]
pub trait Sender: Sync {
    fn kind(&self) -> ChannelKind;

    /// `recipient` as one chat's key in pacing (its schedules, its 429 pauses): as written by
    /// default; lower case where the platform's ids ignore case (Telegram `@username`s, WeCom
    /// userids), so each chat has one key however it is written.
    fn chat_key(&self, recipient: &str) -> String {
        recipient.to_owned()
    }

    /// The limits a send to `recipient` on the config `channel` is under.
    fn limits(&self, _channel: &str, _recipient: &str) -> Vec<SharedLimit> {
        Vec::new()
    }

    /// Whether the platform drops messages past its limits without saying so (WeCom discards a
    /// member's 31st message in a minute), so that every part of a long message must take its
    /// own pacing slot; platforms that answer 429 instead resume from the part that was refused.
    fn drops_past_limits(&self) -> bool {
        false
    }

    /// Why `recipient` may not receive `message` (checked before any call), if it may not. By
    /// default: it must be one chat id ([`Platform::chat_problem`]).
    fn refuse(&self, recipient: &str, _message: &Message) -> Option<String> {
        platform(self.kind()).chat_problem(recipient).map(|why| format!("refused recipient: it {why}"))
    }

    /// Whom a stored call's payload addresses (Telegram's `chat_id`, WeCom's `touser`), checked
    /// like its chat before the call is made: a stored call never reaches more than one chat.
    fn addressee(&self, _payload: &Value) -> Option<String> {
        None
    }

    /// The calls that send `message` to `recipient`, in order; a long message is several.
    fn render(&self, channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall>;

    /// Makes one call and reads the platform's answer. The answer's text may carry anything the
    /// platform echoed: [`send`] and [`execute`] redact the config's secrets from it.
    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer;

    /// Whether configs of this platform are registered with it (webhook, commands, menus), on
    /// save and by `POST /api/v1/channels/{name}/register`.
    fn registers(&self) -> bool {
        false
    }

    /// Settings to keep before the platform is told anything (a webhook secret made now, so no
    /// request can arrive with a secret Herald does not know); `None` if nothing changes.
    fn before_registering(&self, _settings: &ChannelSettings) -> Option<ChannelSettings> {
        None
    }

    /// Tells the platform where Herald is and what the bot can do.
    async fn register(&self, _r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
        Err(format!("{} channels have nothing to register", channel.kind()))
    }
}

/// What a verified request is.
#[derive(Debug)]
pub enum Parsed {
    /// Answered at once, nothing else done (WeCom's URL check, Slack's `url_verification`,
    /// Discord's PING).
    Challenge(Response),
    /// Something for the bot; `dedup` names it, so a retry of the same request is acted on once.
    Inbound { dedup: String, inbound: Inbound },
    /// A chat moved (a Telegram group became a supergroup), once per `dedup`.
    Moved { dedup: String, from: String, to: String },
    /// Nothing for Herald: answered `200` so the platform does not retry.
    Ignored,
}

/// The bot's actions as the platform takes them: one answer that rides back in the response
/// (the passive reply, when the platform has one and it fits), and calls for the queue.
#[derive(Debug, Default)]
pub struct Reply {
    pub response: Option<Response>,
    pub queued: Vec<ApiCall>,
}

/// Why a request was refused before it was read; nothing changes either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified {
    /// Not shown to be the platform's (no, wrong or stale signature or secret): `401`.
    Unauthenticated(&'static str),
    /// So malformed that its signature cannot even be checked (a WeCom body that is not XML):
    /// `400`.
    Malformed(&'static str),
}

/// A platform's receiver, run step by step by the one pipeline ([`crate::receive`]).
pub trait Receiver: Sync {
    /// The methods its route takes (others are `405`).
    fn methods(&self) -> &'static [http::Method] {
        &[http::Method::POST]
    }

    /// Checks the request came from the platform for this config, over the raw request (the
    /// signature or secret compared in constant time, the timestamp within the replay window),
    /// before anything else is read.
    fn verify(&self, channel: &Channel, req: &Request, now: jiff::Timestamp) -> Result<(), Unverified>;

    /// Reads a verified request.
    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid>;

    /// Writes the bot's `actions` for `inbound` as the passive reply and queued calls.
    fn reply(&self, channel: &Channel, req: &Request, inbound: &Inbound, actions: Vec<Action>, now: jiff::Timestamp) -> Reply;

    /// How long Herald may wait on a host app's reply before answering the platform, which
    /// drops a request not answered in time (Slack and Discord: 3 s; WeCom: 5 s).
    fn reply_within(&self) -> Duration {
        Duration::from_millis(2_500)
    }

    /// `actions` that come after the response was given (it said `said`), as queued calls:
    /// written as [`Receiver::reply`] writes them after `said` (through Slack's `response_url`,
    /// as Discord follow-ups), without what `said` itself was written as.
    fn later(
        &self,
        channel: &Channel,
        req: &Request,
        inbound: &Inbound,
        said: Vec<Action>,
        actions: Vec<Action>,
        now: jiff::Timestamp,
    ) -> Vec<ApiCall> {
        let before = self.reply(channel, req, inbound, said.clone(), now).queued.len();
        let mut all = said;
        all.extend(actions);
        let mut calls = self.reply(channel, req, inbound, all, now).queued;
        calls.split_off(before.min(calls.len()))
    }
}

/// A bot reply's text for a platform without buttons or images in bot replies: `text` in
/// `format` written for `flavor`, and the image's link on a line of its own.
pub fn reply_text(text: &str, format: crate::domain::Format, image: Option<&str>, flavor: crate::text::markup::Flavor) -> String {
    let body = crate::text::markup::format_for(format, text, flavor);
    match image {
        Some(i) if body.is_empty() => i.to_owned(),
        Some(i) => format!("{body}\n{i}"),
        None => body,
    }
}

/// Whether a timestamp a platform signed (seconds since the epoch) is within `window_secs` of
/// `now`, either way: outside it, a captured request is not taken again.
pub fn fresh(timestamp: &str, now: jiff::Timestamp, window_secs: i64) -> bool {
    timestamp.trim().parse::<i64>().is_ok_and(|t| (i128::from(now.as_second()) - i128::from(t)).abs() <= i128::from(window_secs))
}

/// The settings face of `kind`: the one place a kind is mapped to its module (with [`sender`]
/// and [`receiver`], which map it to the same module's other faces).
pub fn platform(kind: ChannelKind) -> &'static dyn Platform {
    match kind {
        ChannelKind::Telegram => &telegram::Telegram,
        ChannelKind::Wecom => &wecom::Wecom,
        ChannelKind::Slack => &slack::Slack,
        ChannelKind::Discord => &discord::Discord,
        ChannelKind::Synology => &synology::Synology,
        ChannelKind::Vocechat => &vocechat::Vocechat,
        ChannelKind::Webpush => &webpush::Webpush,
        ChannelKind::Webhook => &webhook::Webhook,
    }
}

/// The sending face of `kind`.
pub fn sender(kind: ChannelKind) -> &'static dyn Sender {
    match kind {
        ChannelKind::Telegram => &telegram::Telegram,
        ChannelKind::Wecom => &wecom::Wecom,
        ChannelKind::Webhook => &webhook::Webhook,
        ChannelKind::Slack => &slack::Slack,
        ChannelKind::Discord => &discord::Discord,
        ChannelKind::Synology => &synology::Synology,
        ChannelKind::Vocechat => &vocechat::Vocechat,
        ChannelKind::Webpush => &webpush::Webpush,
    }
}

/// The receiver of `kind`, if this version receives on it.
pub fn receiver(kind: ChannelKind) -> Option<&'static dyn Receiver> {
    match kind {
        ChannelKind::Telegram => Some(&telegram::receive::TelegramReceiver),
        ChannelKind::Wecom => Some(&wecom::receive::WecomReceiver),
        ChannelKind::Slack => Some(&slack::receive::SlackReceiver),
        ChannelKind::Discord => Some(&discord::receive::DiscordReceiver),
        ChannelKind::Synology => Some(&synology::receive::SynologyReceiver),
        ChannelKind::Vocechat => Some(&vocechat::receive::VocechatReceiver),
        _ => None,
    }
}

/// Registers `channel` with its platform ([`Sender::register`]); whatever the platform
/// answered, the detail and the error never carry the config's secrets (a `setWebhook` refusal
/// may echo the secret token it was sent).
pub async fn register(r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
    let owned = channel.settings.secret_values();
    let secrets: Vec<&str> = owned.iter().map(String::as_str).collect();
    let redact = |s: &str| crate::domain::secret::redact(s, &secrets);
    match sender(channel.kind()).register(r, channel).await {
        Ok(mut done) => {
            done.detail = serde_json::from_str(&redact(&done.detail.to_string())).unwrap_or(Value::Null);
            Ok(done)
        }
        Err(e) => Err(redact(&e)),
    }
}

/// Whether configs of `kind` are registered with their platform ([`Sender::registers`]).
pub fn registers(kind: ChannelKind) -> bool {
    sender(kind).registers()
}

/// The recipients `user` is reached at on `channel` ([`Platform::recipients`]), none if the
/// platform said they cannot be reached there (blocked the bot).
pub fn reachable(channel: &Channel, user: &crate::domain::User) -> Vec<String> {
    if user.unreachable.contains_key(&channel.binding()) {
        return Vec::new();
    }
    platform(channel.kind()).recipients(channel, user)
}

/// The bot settings of `channel` ([`Platform::bot_conf`]), with its binding.
pub fn bot_conf(channel: &Channel) -> BotConf {
    BotConf { binding: channel.binding(), ..platform(channel.kind()).bot_conf(&channel.settings) }
}

/// Sends `message` to `recipient` on `channel`: renders it, skips the first `parts_done` calls
/// (sent by an earlier attempt), and makes the rest in order, stopping at the first that does
/// not go. A recipient the platform refuses fails permanently before any call.
///
/// Whatever the platform answered, the report's reason and note never carry the channel's own
/// secrets ([`redact_report`]): they are stored, logged and shown to admins.
pub async fn send(ctx: &Context<'_>, channel: &Channel, recipient: &str, message: &Message, parts_done: u32) -> Report {
    let p = sender(channel.kind());
    if let Some(why) = p.refuse(recipient, message) {
        return SendOutcome::permanent(why).into();
    }
    let mut done = parts_done;
    let mut notes: Vec<String> = Vec::new();
    let mut outcome = SendOutcome::Sent;
    for call in p.render(channel, recipient, message).iter().skip(parts_done as usize) {
        let answer = p.call(ctx, channel, call).await;
        notes.extend(answer.note);
        if answer.outcome != SendOutcome::Sent {
            outcome = answer.outcome;
            break;
        }
        done += 1;
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    redact_report(Report { outcome, parts_done: done, note }, &channel.settings)
}

/// Makes one stored call (a bot's reply), once its chat is checked to be one chat. The
/// outcome's reason is redacted as [`send`]'s is.
pub async fn execute(ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> SendOutcome {
    let p = sender(channel.kind());
    for chat in std::iter::once(call.chat.clone()).chain(p.addressee(&call.payload)) {
        if let Some(why) = platform(channel.kind()).chat_problem(&chat) {
            return SendOutcome::permanent(format!("refused recipient: it {why}"));
        }
    }
    let outcome = p.call(ctx, channel, call).await.outcome;
    let secrets = channel.settings.secret_values();
    redact_outcome(outcome, &secrets.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A transport failure (no HTTP answer): timeouts and connection errors may pass. The text names
/// the host and every cause (`could not connect (127.0.0.1:9): client error (Connect): tcp
/// connect error: Connection refused`), never the rest of the URL, which for some platforms
/// holds the token.
pub fn transport_error(e: reqwest::Error) -> SendOutcome {
    let host = e.url().and_then(|u| {
        Some(match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_owned(),
        })
    });
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(&e);
    while let Some(c) = next {
        let text = c.to_string();
        if causes.last() != Some(&text) {
            causes.push(text);
        }
        next = c.source();
    }
    if causes.is_empty() {
        causes.push(e.to_string());
    }
    let to = host.map(|h| format!(" ({h})")).unwrap_or_default();
    SendOutcome::transient(format!("{what}{to}: {}", causes.join(": ")))
}

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs; it gets the default).
pub fn retry_after(headers: &http::HeaderMap, default: Duration) -> Duration {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(43_200.0)))
        .unwrap_or(default)
}

/// A redirect, as a permanent failure naming where it pointed. Herald follows no redirect
/// (the HTTP client is built with none): a followed 302 turns a POST into a bodiless GET that
/// still carries the channel's secret headers, and would read as sent. The text names only the
/// `Location`'s host (a relative one is on `from`'s host), never its path or query.
pub fn redirected(status: http::StatusCode, headers: &http::HeaderMap, from: Option<&reqwest::Url>) -> Option<SendOutcome> {
    if !status.is_redirection() {
        return None;
    }
    let location = headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let target = match (reqwest::Url::parse(location), from) {
        (Ok(u), _) => u.host_str().map(str::to_owned),
        (Err(_), Some(base)) if !location.is_empty() => base.join(location).ok().and_then(|u| u.host_str().map(str::to_owned)),
        _ => None,
    };
    let to = match target {
        Some(host) => format!("redirected to {host}"),
        None => "redirected (no usable Location)".to_owned(),
    };
    Some(SendOutcome::permanent(format!(
        "HTTP {}: {to}; Herald does not follow redirects, set the channel's URL to where it should post",
        status.as_u16()
    )))
}

/// The usual reading of an HTTP status, for platforms that say everything with it (a 3xx reads
/// as [`redirected`] does, without the host: pass through [`redirected`] first to name it).
pub fn by_status(status: http::StatusCode, headers: &http::HeaderMap) -> SendOutcome {
    if let Some(r) = redirected(status, headers, None) {
        return r;
    }
    match status.as_u16() {
        200..=299 => SendOutcome::Sent,
        429 => SendOutcome::RateLimited { retry_after: retry_after(headers, Duration::from_secs(60)), reason: "HTTP 429".into() },
        408 | 425 | 500..=599 => SendOutcome::transient(format!("HTTP {}", status.as_u16())),
        404 | 410 => SendOutcome::Permanent { reason: format!("HTTP {}", status.as_u16()), unreachable: true },
        s => SendOutcome::permanent(format!("HTTP {s}")),
    }
}
