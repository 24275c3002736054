//! Telegram: the Bot API client (every call to `api_base`, default `https://api.telegram.org`),
//! notifications rendered as HTML with escaping, long texts split at line boundaries, buttons as
//! inline keyboards, and the registration of the webhook and the command lists. The webhook
//! receiver is [`receive`].

pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, Registering, Registration, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::notification::Format;
use crate::domain::secret::Secret;
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::markup::{escape_html, markdown_to_html, utf16_len};
use crate::text::message::{Message, strip_tags};
pub use receive::SECRET_HEADER;
use serde::Deserialize;
use serde_json::{Value, json};
pub use settings::TelegramSettings;
use std::time::Duration;
use tracing::info;

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
        let body = super::read_limited(res, super::MAX_ANSWER_BYTES).await.map_err(redact)?;
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

/// The Bot API calls that send `m` to `chat`: one per piece ([`pieces`]), the first a
/// `sendPhoto` when there is an image and the piece fits a caption, the buttons on the last.
pub fn render_calls(t: &TelegramSettings, chat: &str, m: &Message) -> Vec<ApiCall> {
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
            let method = match (&m.image, i) {
                (Some(img), 0) if utf16_len(&text) <= MAX_CAPTION => {
                    p["photo"] = json!(img);
                    p["caption"] = json!(text);
                    "sendPhoto"
                }
                (Some(img), 0) => {
                    p["text"] = json!(text);
                    p["link_preview_options"] = json!({"url": img, "prefer_large_media": true, "show_above_text": true});
                    "sendMessage"
                }
                _ => {
                    p["text"] = json!(text);
                    p["link_preview_options"] = json!({"is_disabled": m.link.is_none()});
                    "sendMessage"
                }
            };
            ApiCall::new(chat, method, p)
        })
        .collect()
}

/// Whether Telegram's answer says the forum topic (`message_thread_id`) no longer exists.
fn topic_gone(o: &SendOutcome) -> bool {
    matches!(o, SendOutcome::Permanent { reason, .. } if reason.contains("message thread not found") || reason.contains("TOPIC_DELETED") || reason.contains("TOPIC_CLOSED"))
}

fn settings(channel: &Channel) -> Option<&TelegramSettings> {
    match &channel.settings {
        ChannelSettings::Telegram(t) => Some(t),
        _ => None,
    }
}

/// Files "topic N of type T is stale" in the admins' message center, once an hour per channel
/// and topic. Best effort: a store failure here must not fail the delivery that was sent.
async fn topic_stale(ctx: &Context<'_>, channel: &str, ty: &str, topic: &str) {
    let once = ctx.memory.first_time("topicstale", &crate::domain::ids::stable_id(&[channel, topic]), 3600).await;
    if !matches!(once, Ok(true)) {
        return;
    }
    let t = crate::domain::notification::Template {
        key: "telegram.topic_stale".into(),
        params: crate::params! {"channel" => channel, "type" => ty, "topic" => topic},
    };
    if let Err(e) = ctx.memory.notice("failure", t).await {
        tracing::warn!(error = %e, "could not file the stale topic in the message center");
    }
}

/// Telegram's Bot API (<https://core.telegram.org/bots/api>): HTML messages, inline keyboards,
/// the webhook with a secret token, command lists per language and scope.
pub struct Telegram;

impl Platform for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: TelegramSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Telegram(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn account(&self, settings: &ChannelSettings) -> Option<String> {
        let ChannelSettings::Telegram(t) = settings else { return None };
        t.bot_token.expose().split_once(':').map(|(bot, _)| bot.to_owned())
    }

    fn generated_secrets(&self) -> &'static [&'static str] {
        &["webhook_secret"]
    }

    fn also_redact(&self, settings: &ChannelSettings) -> Vec<String> {
        match settings {
            ChannelSettings::Telegram(t) => t.bot_token.expose().split_once(':').map(|(_, half)| vec![half.to_owned()]).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        let ChannelSettings::Telegram(t) = settings else { return crate::domain::chat::BotConf::plain(ChannelKind::Telegram) };
        crate::domain::chat::BotConf {
            kind: ChannelKind::Telegram,
            binding: ChannelKind::Telegram.into(),
            buttons: true,
            user_whitelist: t.user_whitelist.clone(),
            admin_whitelist: t.admin_whitelist.clone(),
            group: t.chat_id.clone(),
            quiet: t.group_quiet,
            bound_only: t.group_bound_only,
            username: t.bot_username.as_ref().map(|u| u.trim_start_matches('@').to_owned()),
        }
    }

    fn bind_link(&self, settings: &ChannelSettings, code: &str) -> Option<String> {
        let ChannelSettings::Telegram(t) = settings else { return None };
        let bot = t.bot_username.as_deref()?.trim_start_matches('@');
        Some(format!("https://t.me/{bot}?start={code}"))
    }

    fn move_chat(&self, settings: &mut ChannelSettings, from: &str, to: &str) -> bool {
        match settings {
            ChannelSettings::Telegram(t) if t.chat_id.as_deref() == Some(from) => {
                t.chat_id = Some(to.to_owned());
                true
            }
            _ => false,
        }
    }
}

#[async_trait::async_trait]
impl Sender for Telegram {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    /// 30 messages a second per bot, one a second per chat, 20 a minute per group
    /// (<https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this>). The
    /// chat's own limit comes first: it is the one that makes a send wait, and a bot slot taken
    /// before waiting would go unused.
    /// `@Name` and `@name` are one chat (usernames ignore case).
    fn chat_key(&self, recipient: &str) -> String {
        recipient.to_ascii_lowercase()
    }

    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        let recipient = self.chat_key(recipient);
        let mut v = vec![SharedLimit::new(format!("tgc:{channel}:{recipient}"), 1, 1000), SharedLimit::new(format!("tg:{channel}"), 30, 1000)];
        // Group and channel chat ids are negative (or @names).
        if recipient.starts_with('-') || recipient.starts_with('@') {
            v.push(SharedLimit::new(format!("tgg:{channel}:{recipient}"), 20, 60_000));
        }
        v
    }

    fn addressee(&self, payload: &Value) -> Option<String> {
        payload.get("chat_id").map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
    }

    fn render(&self, channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        settings(channel).map(|t| render_calls(t, recipient, message)).unwrap_or_default()
    }

    /// One call. A deleted forum topic (`message thread not found`) is dropped: the part is sent
    /// once more without it, the note says so, and the admins' message center is told (once an
    /// hour per channel and topic) that `topics` names a stale id. HTML Telegram cannot parse is
    /// sent once more as its plain words.
    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(t) = settings(channel) else { return SendOutcome::permanent("not a Telegram channel").into() };
        let api = Api { http: ctx.http, base: channel.api_base(), token: &t.bot_token };
        let mut payload = call.payload.clone();
        let mut result = api.call(&call.method, &payload).await;
        let mut note = None;
        if let Err(o) = &result
            && topic_gone(o)
            && let Some(topic) = payload.as_object_mut().and_then(|p| p.remove("message_thread_id"))
        {
            let ty = t.topics.iter().find(|(_, id)| json!(id) == topic).map(|(ty, _)| ty.clone()).unwrap_or_default();
            note = Some(format!("forum topic {topic} for {ty} is gone; sent to the group without it (update the channel's topics)"));
            topic_stale(ctx, &channel.name, &ty, &topic.to_string()).await;
            result = api.call(&call.method, &payload).await;
        }
        if let Err(SendOutcome::Permanent { reason, .. }) = &result
            && reason.contains("can't parse entities")
            && payload.get("parse_mode").is_some()
        {
            // The host's HTML did not parse: send the same words as plain text.
            let key = if call.method == "sendPhoto" { "caption" } else { "text" };
            let plain = strip_tags(payload[key].as_str().unwrap_or_default());
            payload[key] = json!(plain);
            if let Some(o) = payload.as_object_mut() {
                o.remove("parse_mode");
            }
            result = api.call(&call.method, &payload).await;
        }
        Answer { outcome: result.err().unwrap_or(SendOutcome::Sent), note }
    }

    fn registers(&self) -> bool {
        true
    }

    fn before_registering(&self, settings: &ChannelSettings) -> Option<ChannelSettings> {
        let ChannelSettings::Telegram(t) = settings else { return None };
        if t.webhook_secret.is_some() {
            return None;
        }
        let mut t = t.clone();
        t.webhook_secret = Some(Secret::new(crate::domain::ids::random_token::<32>()));
        Some(ChannelSettings::Telegram(t))
    }

    /// Registers the webhook at `public_url` + `/callback/telegram?source=NAME` with the secret
    /// token kept in the settings ([`Platform::before_registering`]), the command lists (per
    /// language; admin commands for admins' chats), and learns the bot's username.
    async fn register(&self, r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
        let t = settings(channel).ok_or("not a Telegram channel")?;
        let public = r.public_url.ok_or("no public URL to register: set HERALD_PUBLIC_URL, or call this through Herald's public address")?;
        let secret = t.webhook_secret.as_ref().ok_or("no webhook secret kept yet")?;
        let api = Api { http: r.ctx.http, base: channel.api_base(), token: &t.bot_token };
        let fail = |what: &str, o: SendOutcome| format!("{what}: {}", super::describe(&o));
        let me = api.call("getMe", &json!({})).await.map_err(|o| fail("getMe", o))?;
        // Learned only if it is a username (it goes into deep links as it is).
        let username = me["username"].as_str().filter(|u| settings::is_bot_username(u)).map(str::to_owned);
        let learned =
            (t.bot_username != username).then(|| ChannelSettings::Telegram(TelegramSettings { bot_username: username.clone(), ..t.clone() }));
        let url = format!("{public}/callback/telegram?source={}", channel.name);
        let hook = json!({
            "url": url,
            "secret_token": secret.expose(),
            "allowed_updates": ["message", "callback_query", "my_chat_member", "chat_member"],
            "max_connections": 40,
        });
        api.call("setWebhook", &hook).await.map_err(|o| fail("setWebhook", o))?;
        let mut lists = 0;
        for (locale, lang) in [(crate::domain::Locale::En, None), (crate::domain::Locale::ZhCn, Some("zh"))] {
            let mut p = json!({"commands": commands(COMMANDS, r.commands, false, locale), "scope": {"type": "default"}});
            if let Some(l) = lang {
                p["language_code"] = json!(l);
            }
            api.call("setMyCommands", &p).await.map_err(|o| fail("setMyCommands", o))?;
            lists += 1;
        }
        // Admins see the admin commands too, in their private chats.
        let mut admin_chats: Vec<String> = t.admin_whitelist.clone();
        admin_chats.extend(r.admin_chats.iter().cloned());
        admin_chats.sort();
        admin_chats.dedup();
        let all: Vec<&str> = COMMANDS.iter().chain(ADMIN_COMMANDS.iter()).copied().collect();
        for chat in &admin_chats {
            let p = json!({"commands": commands(&all, r.commands, true, crate::domain::Locale::En), "scope": {"type": "chat", "chat_id": chat}});
            if api.call("setMyCommands", &p).await.is_ok() {
                lists += 1;
            }
        }
        info!(channel = %channel.name, "telegram webhook registered");
        Ok(Registration { detail: json!({"ok": true, "webhook": url, "bot_username": username, "command_lists": lists}), learned })
    }
}

// ---- registration ----

use crate::domain::chat::{ADMIN_COMMANDS, COMMANDS};
use crate::domain::command::{Access, HostCommand};

/// A `setMyCommands` list: the bot's commands `names`, then the host's (its admin commands only
/// for `admin` lists).
fn commands(names: &[&str], host: &[HostCommand], admin: bool, locale: crate::domain::Locale) -> Value {
    let own = names.iter().map(|c| json!({"command": c, "description": crate::text::templates::phrase(&format!("bot.cmd.{c}"), locale)}));
    let host =
        host.iter().filter(|c| admin || c.access != Access::Admin).map(|c| json!({"command": c.name, "description": c.description.get(locale)}));
    Value::Array(own.chain(host).collect())
}
