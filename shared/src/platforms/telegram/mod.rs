//! Telegram: the Bot API client (every call to `api_base`, default `https://api.telegram.org`),
//! notifications rendered as HTML with escaping, long texts split at line boundaries, buttons as
//! inline keyboards; the webhook receiver (secret-token header, `update_id` dedup, passive reply)
//! and the registration of the webhook and the command list.
//!
//! The update types are Herald's own minimal serde structs: unknown fields are ignored, so new
//! Bot API versions never break parsing, and the binary carries no generated API surface.

use super::{Report, SendOutcome, transport_error};
use crate::app::App;
use crate::bot::{self, Action, Inbound, Input, Sender};
use crate::domain::ChannelKind;
use crate::domain::message::{Message, strip_tags};
use crate::domain::notification::{Call, DeliveryStatus, Format};
use crate::domain::secret::Secret;
use crate::edge::http::{ApiError, HandlerResult, Request, Response, empty, json};
use crate::platforms::config::{Channel, ChannelSettings, TelegramSettings};
use crate::text::markup::{escape_html, markdown_to_html, utf16_len};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tracing::{info, warn};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;

/// One bot's API.
pub struct Api<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a Secret,
}

impl<'a> Api<'a> {
    pub fn new(http: &'a reqwest::Client, base: &'a str, settings: &'a TelegramSettings) -> Self {
        Self { http, base, token: &settings.bot_token }
    }

    /// Calls a method; the result, or the outcome to record. Errors never carry the URL or the
    /// token (a proxy may echo it in its error text); a redirect is a permanent failure.
    pub async fn call(&self, method: &str, payload: &Value) -> Result<Value, SendOutcome> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose());
        let secrets = [self.token.expose(), self.token.expose().split_once(':').map(|(_, s)| s).unwrap_or_default()];
        let redact = |o: SendOutcome| super::redact_outcome(o, &secrets);
        let res = self.http.post(url).json(payload).send().await.map_err(transport_error).map_err(redact)?;
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(o) = super::redirected(status, &headers, Some(res.url())) {
            return Err(redact(o));
        }
        let body = res.bytes().await.map_err(transport_error).map_err(redact)?;
        classify(status, &headers, &body).map_err(redact)
    }
}

#[derive(Deserialize, Default)]
struct ApiAnswer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize, Default)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

/// Reads a Bot API answer into a result or an outcome.
pub fn classify(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Result<Value, SendOutcome> {
    let answer: ApiAnswer = serde_json::from_slice(body).unwrap_or_default();
    if answer.ok && status.is_success() {
        return Ok(answer.result);
    }
    let code = answer.error_code.unwrap_or(status.as_u16());
    let desc = answer.description.unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let reason = format!("Telegram {code}: {desc}");
    let params = answer.parameters.unwrap_or_default();
    if let Some(to) = params.migrate_to_chat_id {
        return Err(SendOutcome::Moved { to: to.to_string() });
    }
    Err(match code {
        429 => {
            let after = params.retry_after.map(Duration::from_secs).unwrap_or_else(|| super::retry_after(headers, Duration::from_secs(5)));
            SendOutcome::RateLimited { retry_after: after, reason }
        }
        403 => SendOutcome::Permanent { reason, unreachable: true },
        400 if ["chat not found", "user is deactivated", "PEER_ID_INVALID", "bot can't initiate"].iter().any(|d| desc.contains(d)) => {
            SendOutcome::Permanent { reason, unreachable: true }
        }
        401 | 404 => SendOutcome::permanent(format!("{reason} (check the channel's bot_token)")),
        500..=599 => SendOutcome::transient(reason),
        _ if !status.is_success() && status.is_server_error() => SendOutcome::transient(reason),
        _ => SendOutcome::permanent(reason),
    })
}

// ---- notifications ----

/// The HTML of a message's text (without the title), as its format says.
fn html_of(text: &str, format: Format) -> String {
    match format {
        Format::Text => escape_html(text),
        Format::Markdown => markdown_to_html(text),
        Format::Html => text.to_owned(),
    }
}

/// The pieces a message is sent in (HTML), each within Telegram's 4096 characters, as few as
/// fit: the text is rendered first and cut after escaping, at line boundaries where it can.
/// Every visible character arrives: HTML too long for one message is sent as its text
/// (tags removed, escaped), and a title too long to stay bold is sent as plain text.
pub fn pieces(m: &Message) -> Vec<String> {
    let title = m.title.as_deref().filter(|t| !t.is_empty());
    let whole = format!("{}{}", title.map(|t| format!("<b>{}</b>\n", escape_html(t))).unwrap_or_default(), html_of(&m.text, m.format));
    if utf16_len(&whole) <= MAX_TEXT {
        return vec![whole];
    }
    // Room for a <pre></pre> pair around each line that cannot be cut.
    let budget = MAX_TEXT - 11;
    let mut lines = Vec::new();
    if let Some(t) = title {
        let bold = format!("<b>{}</b>", escape_html(t));
        if utf16_len(&bold) <= budget && !t.contains('\n') {
            lines.push(crate::text::markup::HtmlLine { html: bold, pre: false, cont: false, cuttable: false });
        } else {
            lines.extend(crate::text::markup::text_lines(t));
        }
    }
    match m.format {
        Format::Text => lines.extend(crate::text::markup::text_lines(&m.text)),
        Format::Markdown => lines.extend(crate::text::markup::markdown_lines(&m.text, budget)),
        // HTML cannot be cut safely; its text is sent instead.
        Format::Html => lines.extend(crate::text::markup::text_lines(&strip_tags(&m.text))),
    }
    let packed = crate::text::markup::pack_html(&lines, MAX_TEXT);
    if !packed.is_empty() {
        return packed;
    }
    // Nothing visible was left (HTML that is all tags, or an unclosed one): its source, escaped,
    // so that something arrives or the platform says why not — never "sent" with nothing.
    let raw = crate::text::markup::pack_html(&crate::text::markup::text_lines(&m.text), MAX_TEXT);
    if raw.is_empty() { vec![whole] } else { raw }
}

fn keyboard(m: &Message) -> Option<Value> {
    let mut rows: Vec<Value> = m.buttons.iter().map(|b| json!([{"text": b.text, "url": b.url}])).collect();
    // The link is a button of its own, after the host's (unless one of them already opens it).
    if let Some(link) = &m.link
        && !m.buttons.iter().any(|b| &b.url == link)
    {
        rows.push(json!([{"text": crate::text::templates::phrase("bot.open_link", m.locale), "url": link}]));
    }
    (!rows.is_empty()).then(|| json!({"inline_keyboard": rows}))
}

/// The calls that send `m` to `chat`.
pub fn render(t: &TelegramSettings, chat: &str, m: &Message) -> Vec<(&'static str, Value)> {
    let parts = pieces(m);
    let last = parts.len().saturating_sub(1);
    let thread = (t.chat_id.as_deref() == Some(chat)).then(|| t.topics.get(&m.ty)).flatten();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let mut p = json!({"chat_id": chat, "parse_mode": "HTML", "disable_notification": m.silent});
            if let Some(th) = thread {
                p["message_thread_id"] = json!(th);
            }
            if i == last
                && let Some(k) = keyboard(m)
            {
                p["reply_markup"] = k;
            }
            match (&m.image, i) {
                (Some(img), 0) if utf16_len(&text) <= MAX_CAPTION => {
                    p["photo"] = json!(img);
                    p["caption"] = json!(text);
                    ("sendPhoto", p)
                }
                (Some(img), 0) => {
                    p["text"] = json!(text);
                    p["link_preview_options"] = json!({"url": img, "prefer_large_media": true, "show_above_text": true});
                    ("sendMessage", p)
                }
                _ => {
                    p["text"] = json!(text);
                    p["link_preview_options"] = json!({"is_disabled": m.link.is_none()});
                    ("sendMessage", p)
                }
            }
        })
        .collect()
}

/// Whether Telegram's answer says the forum topic (`message_thread_id`) no longer exists.
fn topic_gone(o: &SendOutcome) -> bool {
    matches!(o, SendOutcome::Permanent { reason, .. } if reason.contains("message thread not found") || reason.contains("TOPIC_DELETED") || reason.contains("TOPIC_CLOSED"))
}

/// Sends the parts of `m` not yet sent. A recipient that is not one Telegram chat id is refused
/// before any call. A deleted forum topic (`message thread not found`) is dropped: the part is
/// sent once more without it, the delivery's note says so, and the admins' message center is
/// told (once an hour per channel and topic) that `topics` names a stale id.
pub async fn send(ctx: &super::SendContext<'_>, channel: &str, base: &str, t: &TelegramSettings, chat: &str, m: &Message, parts_done: u32) -> Report {
    if let Err(e) = crate::platforms::chat::ChatId::parse("recipient", ChannelKind::Telegram, chat) {
        return SendOutcome::permanent(format!("refused recipient: it {}", e.message)).into();
    }
    let api = Api { http: ctx.http, base, token: &t.bot_token };
    let calls = render(t, chat, m);
    let mut done = parts_done;
    let mut note = None;
    for (method, mut payload) in calls.into_iter().skip(parts_done as usize) {
        let mut result = api.call(method, &payload).await;
        if let Err(o) = &result
            && topic_gone(o)
            && let Some(topic) = payload.as_object_mut().and_then(|p| p.remove("message_thread_id"))
        {
            note = Some(format!("forum topic {topic} for {} is gone; sent to the group without it (update the channel's topics)", m.ty));
            topic_stale(ctx, channel, &m.ty, &topic.to_string()).await;
            result = api.call(method, &payload).await;
        }
        if let Err(SendOutcome::Permanent { reason, .. }) = &result
            && reason.contains("can't parse entities")
        {
            // The host's HTML did not parse: send the same words as plain text.
            let key = if method == "sendPhoto" { "caption" } else { "text" };
            let plain = strip_tags(payload[key].as_str().unwrap_or_default());
            payload[key] = json!(plain);
            if let Some(o) = payload.as_object_mut() {
                o.remove("parse_mode");
            }
            result = api.call(method, &payload).await;
        }
        match result {
            Ok(_) => done += 1,
            Err(outcome) => return Report { outcome, parts_done: done, note },
        }
    }
    Report { outcome: SendOutcome::Sent, parts_done: done, note }
}

/// Files "topic N of type T is stale" in the admins' message center, once an hour per channel
/// and topic. Best effort: a store failure here must not fail the delivery that was sent.
async fn topic_stale(ctx: &super::SendContext<'_>, channel: &str, ty: &str, topic: &str) {
    let repo = ctx.repo;
    let once = repo.first_time("topicstale", &crate::domain::ids::stable_id(&[channel, topic]), 3600).await;
    if !matches!(once, Ok(true)) {
        return;
    }
    let locale = repo.settings().await.map(|s| s.locale).unwrap_or_default();
    let t = crate::domain::notification::Template {
        key: "telegram.topic_stale".into(),
        params: crate::params! {"channel" => channel, "type" => ty, "topic" => topic},
    };
    let (title, text) = crate::text::templates::render_template(&t, locale);
    let now = repo.timestamp();
    let m = crate::store::repo::CenterMessage {
        id: crate::domain::ids::new_id(now),
        category: "failure".into(),
        title,
        text,
        notification: None,
        read: false,
        created_at: now,
    };
    if let Err(e) = repo.file_message(&m).await {
        warn!(error = %e, "could not file the stale topic in the message center");
    }
}

// ---- registration ----

const COMMANDS: [&str; 8] = ["start", "help", "menu", "my", "checkin", "bind", "unbind", "ping"];
const ADMIN_COMMANDS: [&str; 2] = ["status", "broadcast"];

fn commands(names: &[&str], locale: crate::domain::Locale) -> Value {
    Value::Array(
        names.iter().map(|c| json!({"command": c, "description": crate::text::templates::phrase(&format!("bot.cmd.{c}"), locale)})).collect(),
    )
}

/// Registers the webhook at `public_url` + `/callback/telegram?source=NAME` (with a secret
/// token, generated once and kept) and the command lists (per language; admin commands for
/// admins' chats), and learns the bot's username. Errors: no public URL, or the platform's answer.
pub async fn register(app: &App, channel: &Channel, public_url: Option<&str>) -> Result<Value, String> {
    let ChannelSettings::Telegram(t) = &channel.settings else { return Err("not a Telegram channel".into()) };
    let public = public_url.ok_or("no public URL to register: set HERALD_PUBLIC_URL, or call this through Herald's public address")?;
    let mut t = t.clone();
    let api = Api { http: &app.http, base: channel.api_base(), token: &t.bot_token };
    let fail = |what: &str, o: SendOutcome| format!("{what}: {}", describe(&o));
    let me = api.call("getMe", &json!({})).await.map_err(|o| fail("getMe", o))?;
    let username = me["username"].as_str().map(str::to_owned);
    let secret = t.webhook_secret.clone().unwrap_or_else(|| Secret::new(crate::domain::ids::random_token::<32>()));
    let changed = t.bot_username != username || t.webhook_secret.is_none();
    t.bot_username = username.clone();
    t.webhook_secret = Some(secret.clone());
    if changed {
        // Kept before Telegram is told, so no update can arrive with a secret we do not know.
        let updated = Channel { settings: ChannelSettings::Telegram(t.clone()), ..channel.clone() };
        app.repo.put_channel(&updated).await.map_err(|e| e.to_string())?;
        app.invalidate();
    }
    let url = format!("{public}/callback/telegram?source={}", channel.name);
    let api = Api { http: &app.http, base: channel.api_base(), token: &t.bot_token };
    let hook = json!({
        "url": url,
        "secret_token": secret.expose(),
        "allowed_updates": ["message", "callback_query", "my_chat_member", "chat_member"],
        "max_connections": 40,
    });
    api.call("setWebhook", &hook).await.map_err(|o| fail("setWebhook", o))?;
    let mut lists = 0;
    for (locale, lang) in [(crate::domain::Locale::En, None), (crate::domain::Locale::ZhCn, Some("zh"))] {
        let mut p = json!({"commands": commands(&COMMANDS, locale), "scope": {"type": "default"}});
        if let Some(l) = lang {
            p["language_code"] = json!(l);
        }
        api.call("setMyCommands", &p).await.map_err(|o| fail("setMyCommands", o))?;
        lists += 1;
    }
    // Admins see the admin commands too, in their private chats.
    let mut admin_chats: Vec<String> = t.admin_whitelist.clone();
    for a in app.repo.admins().await.map_err(|e| e.to_string())? {
        if let Some(id) = a.ids.get(&ChannelKind::Telegram) {
            admin_chats.push(id.clone());
        }
    }
    admin_chats.sort();
    admin_chats.dedup();
    for chat in &admin_chats {
        let all: Vec<&str> = COMMANDS.iter().chain(ADMIN_COMMANDS.iter()).copied().collect();
        let p = json!({"commands": commands(&all, crate::domain::Locale::En), "scope": {"type": "chat", "chat_id": chat}});
        if api.call("setMyCommands", &p).await.is_ok() {
            lists += 1;
        }
    }
    info!(channel = %channel.name, "telegram webhook registered");
    Ok(json!({"ok": true, "webhook": url, "bot_username": username, "command_lists": lists}))
}

fn describe(o: &SendOutcome) -> String {
    match o {
        SendOutcome::Sent => "ok".into(),
        SendOutcome::RateLimited { reason, .. } | SendOutcome::Transient { reason } | SendOutcome::Permanent { reason, .. } => reason.clone(),
        SendOutcome::Moved { to } => format!("moved to {to}"),
    }
}

// ---- inbound ----

#[derive(Debug, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<TgMessage>,
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
    #[serde(default)]
    pub my_chat_member: Option<ChatMemberUpdated>,
    #[serde(default)]
    pub chat_member: Option<ChatMemberUpdated>,
}

#[derive(Debug, Deserialize)]
pub struct TgMessage {
    pub message_id: i64,
    #[serde(default)]
    pub from: Option<TgUser>,
    pub chat: Chat,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub new_chat_members: Vec<TgUser>,
    /// Service message in a group that became a supergroup: the supergroup's id.
    #[serde(default)]
    pub migrate_to_chat_id: Option<i64>,
    /// Service message in the new supergroup: the group's old id.
    #[serde(default)]
    pub migrate_from_chat_id: Option<i64>,
}

/// The chat move a service message announces, as `(from, to)`: a group upgraded to a supergroup
/// says so twice (`migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new one);
/// both read as the same move, which is applied once (it is idempotent).
pub fn migration(m: &TgMessage) -> Option<(String, String)> {
    match (m.migrate_to_chat_id, m.migrate_from_chat_id) {
        (Some(to), _) => Some((m.chat.id.to_string(), to.to_string())),
        (None, Some(from)) => Some((from.to_string(), m.chat.id.to_string())),
        (None, None) => None,
    }
}

#[derive(Debug, Deserialize, Clone)]
pub struct TgUser {
    pub id: i64,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub language_code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: TgUser,
    #[serde(default)]
    pub message: Option<CallbackMessage>,
    #[serde(default)]
    pub data: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackMessage {
    pub message_id: i64,
    pub chat: Chat,
}

#[derive(Debug, Deserialize)]
pub struct ChatMemberUpdated {
    pub chat: Chat,
    pub new_chat_member: ChatMember,
    #[serde(default)]
    pub old_chat_member: Option<ChatMember>,
}

#[derive(Debug, Deserialize)]
pub struct ChatMember {
    pub status: String,
    pub user: TgUser,
}

fn is_group(chat: &Chat) -> bool {
    matches!(chat.kind.as_str(), "group" | "supergroup")
}

fn sender(u: &TgUser) -> Sender {
    Sender {
        id: u.id.to_string(),
        name: u.username.as_ref().map(|n| format!("@{n}")).unwrap_or_else(|| u.first_name.clone()),
        language: u.language_code.clone(),
    }
}

/// What the bot is asked, from an update; `None` for updates the bot ignores.
pub fn inbound(u: &Update) -> Option<Inbound> {
    let present = |s: &str| matches!(s, "member" | "administrator" | "creator" | "restricted");
    if let Some(m) = &u.message {
        let group = is_group(&m.chat);
        if !m.new_chat_members.is_empty() {
            let joined = m.new_chat_members.iter().filter(|x| !x.is_bot).map(sender).collect();
            return Some(Inbound { chat: m.chat.id.to_string(), group, from: sender(m.from.as_ref()?), input: Input::Joined(joined) });
        }
        let text = m.text.clone()?;
        return Some(Inbound { chat: m.chat.id.to_string(), group, from: sender(m.from.as_ref()?), input: Input::Text(text) });
    }
    if let Some(q) = &u.callback_query {
        // A button on an inline-mode message (`inline_message_id`) has no chat: it is handled as
        // in the presser's private chat, with no message to edit.
        let (chat, group, message) = match &q.message {
            Some(msg) => (msg.chat.id.to_string(), is_group(&msg.chat), Some(msg.message_id.to_string())),
            None => (q.from.id.to_string(), false, None),
        };
        return Some(Inbound {
            chat,
            group,
            from: sender(&q.from),
            input: Input::Button { id: q.id.clone(), data: q.data.clone().unwrap_or_default(), message },
        });
    }
    if let Some(c) = &u.my_chat_member
        && is_group(&c.chat)
        && present(&c.new_chat_member.status)
    {
        return Some(Inbound { chat: c.chat.id.to_string(), group: true, from: sender(&c.new_chat_member.user), input: Input::AddedToGroup });
    }
    if let Some(c) = &u.chat_member {
        let was = c.old_chat_member.as_ref().is_some_and(|o| present(&o.status));
        if is_group(&c.chat) && present(&c.new_chat_member.status) && !was && !c.new_chat_member.user.is_bot {
            let who = sender(&c.new_chat_member.user);
            return Some(Inbound { chat: c.chat.id.to_string(), group: true, from: who.clone(), input: Input::Joined(vec![who]) });
        }
    }
    None
}

/// The bot's actions as Bot API calls.
pub fn calls(chat: &str, actions: &[Action]) -> Vec<(String, &'static str, Value)> {
    let markup = |buttons: &[Vec<(String, String)>]| json!({"inline_keyboard": buttons.iter().map(|row| row.iter().map(|(text, data)| json!({"text": text, "callback_data": data})).collect::<Vec<_>>()).collect::<Vec<_>>()});
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Reply { text, buttons, edit } => {
                let mut p = json!({"chat_id": chat, "text": text});
                if !buttons.is_empty() || edit.is_some() {
                    p["reply_markup"] = markup(buttons);
                }
                match edit {
                    Some(mid) => {
                        p["message_id"] = json!(mid.parse::<i64>().unwrap_or_default());
                        out.push((chat.to_owned(), "editMessageText", p));
                    }
                    None => out.push((chat.to_owned(), "sendMessage", p)),
                }
            }
            Action::Tell { chat: to, text } => out.push((to.clone(), "sendMessage", json!({"chat_id": to, "text": text}))),
            Action::Answer { id, text, alert } => {
                out.push((chat.to_owned(), "answerCallbackQuery", json!({"callback_query_id": id, "text": text, "show_alert": alert})))
            }
            Action::Remove { chat: group, user } => {
                // Ban, then unban: removed now, free to come back after binding.
                out.push((group.clone(), "banChatMember", json!({"chat_id": group, "user_id": user.parse::<i64>().unwrap_or_default()})));
                out.push((
                    group.clone(),
                    "unbanChatMember",
                    json!({"chat_id": group, "user_id": user.parse::<i64>().unwrap_or_default(), "only_if_banned": true}),
                ));
            }
            Action::Leave => out.push((chat.to_owned(), "leaveChat", json!({"chat_id": chat}))),
        }
    }
    out
}

/// `POST /callback/telegram?source=NAME`.
pub async fn webhook(app: &App, req: Request) -> Response {
    crate::edge::http::finish(handle_update(app, &req).await)
}

/// [`webhook`] as a Lambda HTTP handler.
pub fn handler(app: &App, req: Request) -> futures_util::future::BoxFuture<'_, Response> {
    Box::pin(webhook(app, req))
}

#[tracing::instrument(skip_all, fields(channel))]
async fn handle_update(app: &App, req: &Request) -> HandlerResult {
    if req.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let snap = app.snapshot().await?;
    // Nothing is read before the secret is checked; an unknown source is as unauthenticated as a
    // wrong secret.
    let channel = snap.source(ChannelKind::Telegram, req.query("source")).cloned().ok_or(ApiError::Unauthorized)?;
    let ChannelSettings::Telegram(t) = &channel.settings else { return Err(ApiError::Unauthorized) };
    let presented = req.header(SECRET_HEADER).unwrap_or_default();
    if !t.webhook_secret.as_ref().is_some_and(|s| s.matches(presented)) {
        return Err(ApiError::Unauthorized);
    }
    tracing::Span::current().record("channel", channel.name.as_str());
    if req.body.len() > crate::edge::http::MAX_BODY {
        return Err(ApiError::TooLarge);
    }
    let update: Update =
        serde_json::from_slice(&req.body).map_err(|_| ApiError::Invalid(crate::domain::Invalid::new("", "not a Telegram update")))?;
    // Telegram retries anything but 2xx: each update_id is handled once.
    if !app.repo.first_time(&format!("tg:{}", channel.name), &update.update_id.to_string(), 86_400).await? {
        return Ok(empty(http::StatusCode::OK));
    }
    if let Some((from, to)) = update.message.as_ref().and_then(migration) {
        // The group became a supergroup: the channel's chat and bound ids move with it, and the
        // bot stays (it would otherwise leave the new id as a group it does not know).
        crate::platforms::chat_moved(app, &channel.name, &from, &to).await?;
        info!(channel = %channel.name, from, to, "telegram group migrated");
        return Ok(empty(http::StatusCode::OK));
    }
    let Some(inbound) = inbound(&update) else { return Ok(empty(http::StatusCode::OK)) };
    let actions = bot::handle(app, &channel, &snap.settings, &inbound).await?;
    let mut calls = calls(&inbound.chat, &actions);
    if let Some(q) = &update.callback_query {
        answer_always(&mut calls, &inbound.chat, &q.id, q.message.is_none());
    }
    if calls.is_empty() {
        return Ok(empty(http::StatusCode::OK));
    }
    // One quick call rides back in the response body (Telegram makes it; its result is not
    // known, so only a button's answer or a short reply goes this way); the rest is queued.
    let (_, method, payload) = &calls[0];
    let short = payload["text"].as_str().is_none_or(|t| t.chars().count() <= 512);
    let passive = (*method == "answerCallbackQuery" || (*method == "sendMessage" && short)).then(|| calls.remove(0));
    enqueue(app, &channel.name, calls).await?;
    match passive {
        Some((_, method, mut payload)) => {
            payload["method"] = json!(method);
            Ok(json(http::StatusCode::OK, &payload))
        }
        None => Ok(empty(http::StatusCode::OK)),
    }
}

/// Every button press is answered (the client shows a spinner until it is): an
/// `answerCallbackQuery` is added first when the bot's actions hold none (a whitelist refusal,
/// a group the bot leaves). On an inline-mode message (`inline`) only the answer is kept: there
/// is no chat message to edit or reply under.
pub fn answer_always(calls: &mut Vec<(String, &'static str, Value)>, chat: &str, id: &str, inline: bool) {
    if inline {
        calls.retain(|(_, method, _)| *method == "answerCallbackQuery");
    }
    if !calls.iter().any(|(_, method, _)| *method == "answerCallbackQuery") {
        calls.insert(0, (chat.to_owned(), "answerCallbackQuery", json!({"callback_query_id": id})));
    }
}

/// Stores calls and puts them on the queue (in order, in their chats' groups).
pub async fn enqueue(app: &App, channel: &str, calls: Vec<(String, &'static str, Value)>) -> Result<(), ApiError> {
    if calls.is_empty() {
        return Ok(());
    }
    let now = app.now();
    let stored: Vec<Call> = calls
        .into_iter()
        .map(|(chat, method, payload)| Call {
            id: crate::domain::ids::new_id(now),
            channel: channel.to_owned(),
            chat,
            method: method.to_owned(),
            payload,
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
