//! Discord over HTTP (no Gateway connection, which a Lambda function cannot hold): notifications
//! through the REST API (<https://discord.com/developers/docs/resources/message#create-message>)
//! to the config's channel or to a user's DM (opened once with `POST /users/@me/channels`, its
//! id kept), `content` in Discord's Markdown cut to 2000 characters, an embed for the title,
//! link and image, link buttons as components, and no mention ever resolved
//! (`allowed_mentions` empty). Rate limits are read from the answers: a 429's `retry_after`, and
//! the `X-RateLimit-*` headers, so that a bucket known to be empty waits instead of drawing a
//! 429. The slash commands are registered by bulk overwrite; the interactions endpoint is
//! [`receive`].

pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, Registering, Registration, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::chat::{ADMIN_COMMANDS, Button, COMMANDS, Press};
use crate::domain::command::{Access, HostCommand};
use crate::domain::{ChannelKind, Locale, Valid, parse_json};
use crate::text::markup::{Flavor, char_len, cut_chars, escape_for, format_for, split};
use crate::text::message::Message;
use crate::text::templates::phrase;
use serde::Deserialize;
use serde_json::{Value, json};
pub use settings::DiscordSettings;
use std::time::Duration;

/// A message's `content` is at most 2000 characters.
pub const MAX_CONTENT: usize = 2000;
const MAX_TITLE: usize = 256;
const MAX_LABEL: usize = 80;
/// At most 5 action rows of 5 buttons.
const MAX_ROWS: usize = 5;
const PER_ROW: usize = 5;
/// `flags`: the message is seen by the invoker only (interaction responses).
pub const EPHEMERAL: u64 = 1 << 6;
/// `flags`: no push or desktop notification (quiet hours).
const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;
/// How long a user's DM channel id is kept (it does not change).
const DM_TTL_SECS: i64 = 30 * 86_400;
/// The method names of stored calls: a message to a channel or a user (`chat`), and a
/// follow-up to an interaction (`payload.token`, valid 15 minutes).
pub const MESSAGE: &str = "message";
pub const FOLLOWUP: &str = "followup";

fn settings(channel: &Channel) -> Option<&DiscordSettings> {
    match &channel.settings {
        ChannelSettings::Discord(d) => Some(d),
        _ => None,
    }
}

/// No `@everyone`, role or user mention in anything Herald sends is ever resolved.
pub fn no_mentions() -> Value {
    json!({"parse": []})
}

/// Rows of buttons as Discord components: action rows (type 1) of buttons (type 2), at most 5
/// rows of 5; the rows are kept as given when they fit, else the buttons are packed 5 to a row.
/// A data button is secondary (style 2) with the data as its `custom_id`; a URL one is a link
/// (style 5).
pub fn components(rows: &[Vec<Button>]) -> Vec<Value> {
    let button = |b: &Button| {
        let mut out = json!({"type": 2, "label": cut_chars(&b.label, MAX_LABEL)});
        match &b.press {
            Press::Data(id) => {
                out["style"] = json!(2);
                out["custom_id"] = json!(id);
            }
            Press::Url(url) => {
                out["style"] = json!(5);
                out["url"] = json!(url);
            }
        }
        out
    };
    let fits = rows.len() <= MAX_ROWS && rows.iter().all(|r| r.len() <= PER_ROW);
    let packed: Vec<Vec<&Button>> = if fits {
        rows.iter().map(|r| r.iter().collect()).collect()
    } else {
        rows.iter().flatten().collect::<Vec<_>>().chunks(PER_ROW).take(MAX_ROWS).map(<[_]>::to_vec).collect()
    };
    packed.into_iter().filter(|r| !r.is_empty()).map(|r| json!({"type": 1, "components": r.into_iter().map(button).collect::<Vec<_>>()})).collect()
}

/// The messages that send `m` to `chat`: the text cut into pieces of at most 2000 characters at
/// line boundaries, one message each; an embed with the title (linking to the link) and the
/// image on the first; the buttons and the link as link buttons on the last. A title too long
/// for an embed is sent whole at the top of the text.
pub fn render_calls(chat: &str, m: &Message) -> Vec<ApiCall> {
    let title = m.title.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let mut text = format_for(m.format, &m.text, Flavor::Markdown);
    if let Some(t) = title.filter(|t| char_len(t) > MAX_TITLE) {
        text = format!("**{}**\n{text}", escape_for(Flavor::Markdown, t));
    }
    let mut pieces = split(&text, MAX_CONTENT, char_len);
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    let last = pieces.len() - 1;
    let mut buttons: Vec<Vec<Button>> = m.buttons.iter().map(|b| vec![Button::url(&b.text, &b.url)]).collect();
    if let Some(link) = &m.link
        && !m.buttons.iter().any(|b| &b.url == link)
    {
        buttons.push(vec![Button::url(phrase("bot.open_link", m.locale), link)]);
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, content)| {
            let mut p = json!({"content": content, "allowed_mentions": no_mentions()});
            if i == 0 {
                let mut embed = json!({});
                if let Some(t) = title.filter(|t| char_len(t) <= MAX_TITLE) {
                    embed["title"] = json!(t);
                    if let Some(link) = &m.link {
                        embed["url"] = json!(link);
                    }
                }
                if let Some(img) = &m.image {
                    embed["image"] = json!({"url": img});
                }
                if embed.as_object().is_some_and(|e| !e.is_empty()) {
                    p["embeds"] = json!([embed]);
                }
            }
            if i == last && !buttons.is_empty() {
                p["components"] = json!(components(&buttons));
            }
            if m.silent {
                p["flags"] = json!(SUPPRESS_NOTIFICATIONS);
            }
            ApiCall::new(chat, MESSAGE, p)
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: Option<u64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

/// Reads a REST answer (<https://discord.com/developers/docs/topics/opcodes-and-status-codes#json>):
/// 2xx is the result; 429 waits its `retry_after` (global or not); 5xx is transient; a user who
/// cannot be written to (50007), an unknown channel or user (10003, 10013) and missing access
/// or permissions (50001, 50013) are permanent and mark the recipient unreachable; 401 is a bad
/// token; any other 4xx is permanent.
pub fn classify(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Result<Value, SendOutcome> {
    if status.is_success() {
        return Ok(serde_json::from_slice(body).unwrap_or(Value::Null));
    }
    if let Some(o) = super::redirected(status, headers, None) {
        return Err(o);
    }
    let e: ApiError = serde_json::from_slice(body).unwrap_or_default();
    let said = e.message.clone().unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        let wait = e.retry_after.filter(|s| s.is_finite() && *s >= 0.0).map(|s| Duration::from_secs_f64(s.min(43_200.0)));
        let retry_after = wait.unwrap_or_else(|| super::retry_after(headers, Duration::from_secs(5)));
        let scope = if e.global { " (global)" } else { "" };
        return Err(SendOutcome::RateLimited { retry_after, reason: format!("Discord 429{scope}: {said}") });
    }
    if status.is_server_error() {
        return Err(SendOutcome::transient(format!("Discord HTTP {}", status.as_u16())));
    }
    let reason = match e.code {
        Some(code) if code != 0 => format!("Discord {code}: {said}"),
        _ => format!("Discord {}: {said}", status.as_u16()),
    };
    Err(match (status.as_u16(), e.code) {
        (401, _) => SendOutcome::permanent(format!("{reason} (check the channel's bot_token)")),
        (_, Some(50007 | 10003 | 10013 | 50001 | 50013)) => SendOutcome::Permanent { reason, unreachable: true },
        _ => SendOutcome::permanent(reason),
    })
}

/// One REST call.
struct Api<'a> {
    ctx: &'a Context<'a>,
    base: &'a str,
    channel: &'a str,
    s: &'a DiscordSettings,
}

impl Api<'_> {
    /// Calls `method path` with `body`. A bucket the last answer said is empty (`X-RateLimit-Remaining: 0`)
    /// is waited for without a request; an answer that empties one is remembered (in the store,
    /// for every instance) until its `X-RateLimit-Reset-After`. `bucket` names the route's
    /// top-level resource (a channel, the application's commands).
    async fn call(&self, method: http::Method, path: &str, body: Option<&Value>, bucket: &str) -> Result<Value, SendOutcome> {
        let (status, headers, bytes) = self.answer(method, path, body, bucket).await?;
        classify(status, &headers, &bytes)
    }

    /// [`Self::call`]'s answer as it came (status, headers, body), before it is read.
    async fn answer(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
        bucket: &str,
    ) -> Result<(http::StatusCode, http::HeaderMap, bytes::Bytes), SendOutcome> {
        let key = format!("dcrl:{}:{bucket}", self.channel);
        let now_ms = jiff::Timestamp::now().as_millisecond();
        if let Ok(Some(until)) = self.ctx.memory.cached(&key).await
            && let Ok(until) = until.parse::<i64>()
            && until > now_ms
        {
            return Err(SendOutcome::RateLimited {
                retry_after: Duration::from_millis((until - now_ms) as u64),
                reason: "Discord rate-limit bucket empty (X-RateLimit-Remaining: 0)".into(),
            });
        }
        let mut req = self
            .ctx
            .http
            .request(method, format!("{}{path}", self.base))
            .header(http::header::AUTHORIZATION, format!("Bot {}", self.s.bot_token.expose()))
            .header(http::header::USER_AGENT, concat!("DiscordBot (https://github.com/herald-gateway/herald, ", env!("CARGO_PKG_VERSION"), ")"));
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(transport_error)?;
        let (status, headers) = (res.status(), res.headers().clone());
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if header("x-ratelimit-remaining") == Some("0")
            && let Some(after) = header("x-ratelimit-reset-after").and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0)
        {
            let until = now_ms + (after.min(3600.0) * 1000.0) as i64;
            // Best effort: without it the next call draws a 429, which is read as usual.
            let _ = self.ctx.memory.cache(&key, &until.to_string(), after.ceil() as i64 + 1).await;
        }
        let bytes = super::read_limited(res, super::MAX_ANSWER_BYTES).await?;
        Ok((status, headers, bytes))
    }

    /// The channel to post to for `chat`: the config's channel as it is; a user's DM (opened
    /// once, its id kept); an id that is no user (another channel) as it is.
    async fn channel_for(&self, chat: &str) -> Result<String, SendOutcome> {
        if self.s.channel_id.as_deref() == Some(chat) {
            return Ok(chat.to_owned());
        }
        let key = format!("dcdm:{}:{chat}", self.channel);
        if let Ok(Some(dm)) = self.ctx.memory.cached(&key).await {
            return Ok(dm);
        }
        let (status, headers, bytes) = self.answer(http::Method::POST, "/users/@me/channels", Some(&json!({"recipient_id": chat})), "dm").await?;
        // Not a user (50035 Invalid Form Body, 10013 Unknown User): a channel id.
        let code = serde_json::from_slice::<ApiError>(&bytes).ok().and_then(|e| e.code);
        if status.is_client_error() && matches!(code, Some(50035 | 10013)) {
            return Ok(chat.to_owned());
        }
        let dm = classify(status, &headers, &bytes)?;
        let id = dm["id"]
            .as_str()
            .filter(|id| settings::chat_problem(id).is_none())
            .ok_or_else(|| SendOutcome::transient("Discord opened a DM without an id"))?;
        let _ = self.ctx.memory.cache(&key, id, DM_TTL_SECS).await;
        Ok(id.to_owned())
    }
}

/// The commands registered with Discord: the bot's, but `start` (Discord has no deep link that
/// sends it), each with its description in English and Chinese, `bind` with its code and
/// `broadcast` with its text as a required option; the admin commands only for members who may
/// manage the server (`default_member_permissions: "0"`, which server admins can widen).
pub fn command_list(host: &[HostCommand]) -> Value {
    let option = |name: &str, zh_name: &str, en: &str, zh: &str| json!([{"type": 3, "name": name, "name_localizations": {"zh-CN": zh_name}, "description": en, "description_localizations": {"zh-CN": zh}, "required": true, "max_length": 1000}]);
    let mut out = Vec::new();
    for (name, admin) in COMMANDS.iter().map(|c| (*c, false)).chain(ADMIN_COMMANDS.iter().map(|c| (*c, true))) {
        if name == "start" {
            continue;
        }
        let key = format!("bot.cmd.{name}");
        let mut c = json!({
            "name": name,
            // What a Chinese client shows; the interaction still carries `name`.
            "name_localizations": {"zh-CN": zh_name(name)},
            "type": 1,
            "description": cut_chars(&phrase(&key, Locale::En), 100),
            "description_localizations": {"zh-CN": cut_chars(&phrase(&key, Locale::ZhCn), 100)},
        });
        match name {
            "bind" => c["options"] = option("code", "绑定码", "The code from your account page", "账户页面上的绑定码"),
            "broadcast" => c["options"] = option("text", "内容", "The announcement", "公告内容"),
            _ => {}
        }
        if admin {
            c["default_member_permissions"] = json!("0");
        }
        out.push(c);
    }
    // The host's commands: their arguments one optional text option, `args`.
    for h in host {
        let mut c = json!({
            "name": h.name,
            "type": 1,
            "description": h.description.get(Locale::En),
            "description_localizations": {"zh-CN": h.description.get(Locale::ZhCn)},
        });
        if let Some(a) = &h.args {
            c["options"] = json!([{"type": 3, "name": "args", "description": a.get(Locale::En), "description_localizations": {"zh-CN": a.get(Locale::ZhCn)}, "required": false, "max_length": 1000}]);
        }
        if h.access == Access::Admin {
            c["default_member_permissions"] = json!("0");
        }
        out.push(c);
    }
    Value::Array(out)
}

/// A command's name in Chinese (Discord's `name_localizations`).
fn zh_name(name: &str) -> &str {
    match name {
        "help" => "帮助",
        "menu" => "菜单",
        "my" => "我的",
        "checkin" => "签到",
        "bind" => "绑定",
        "unbind" => "解绑",
        "status" => "状态",
        "broadcast" => "广播",
        other => other,
    }
}

/// The Discord platform.
pub struct Discord;

impl Platform for Discord {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: DiscordSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Discord(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn account(&self, settings: &ChannelSettings) -> Option<String> {
        let ChannelSettings::Discord(d) = settings else { return None };
        d.application_id.clone()
    }

    fn bind_command(&self, code: &str) -> String {
        format!("/bind code:{code}")
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        use crate::domain::chat::BotConf;
        let ChannelSettings::Discord(d) = settings else { return BotConf::plain(ChannelKind::Discord) };
        BotConf::whitelisted(ChannelKind::Discord, true, &d.user_whitelist, &d.admin_whitelist)
    }
}

#[async_trait::async_trait]
impl Sender for Discord {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord
    }

    /// 50 requests a second per bot (Discord's global limit), and 5 messages per 5 seconds per
    /// channel (the usual message bucket; the headers of each answer say the real one, which
    /// [`Api::call`] honours as well).
    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("dcc:{channel}:{recipient}"), 5, 5000), SharedLimit::new(format!("dc:{channel}"), 50, 1000)]
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        render_calls(recipient, message)
    }

    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(s) = settings(channel) else { return SendOutcome::permanent("not a Discord channel").into() };
        let api = Api { ctx, base: channel.api_base(), channel: &channel.name, s };
        let result = match call.method.as_str() {
            MESSAGE => match api.channel_for(&call.chat).await {
                Ok(to) => api.call(http::Method::POST, &format!("/channels/{to}/messages"), Some(&call.payload), &format!("ch:{to}")).await,
                Err(o) => Err(o),
            },
            FOLLOWUP => {
                let (Some(app), Some(token)) = (s.application_id.as_deref(), call.payload["token"].as_str()) else {
                    return SendOutcome::permanent("a follow-up needs the config's application_id and the interaction's token").into();
                };
                let mut body = call.payload.clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("token");
                }
                let token: String = token.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect();
                api.call(http::Method::POST, &format!("/webhooks/{app}/{token}"), Some(&body), &format!("wh:{app}")).await
            }
            other => Err(SendOutcome::permanent(format!("unknown Discord call {other}"))),
        };
        result.err().unwrap_or(SendOutcome::Sent).into()
    }

    fn registers(&self) -> bool {
        true
    }

    /// Registers the slash commands by bulk overwrite (`PUT /applications/{id}/commands`, or the
    /// guild's when the config has a `guild_id`, which takes effect at once), and names the
    /// interactions endpoint URL and the install link.
    async fn register(&self, r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
        let s = settings(channel).ok_or("not a Discord channel")?;
        let app = s.application_id.as_deref().ok_or("no application_id: set it (developer portal, General Information) to register the commands")?;
        let api = Api { ctx: &r.ctx, base: channel.api_base(), channel: &channel.name, s };
        let path = match &s.guild_id {
            Some(g) => format!("/applications/{app}/guilds/{g}/commands"),
            None => format!("/applications/{app}/commands"),
        };
        let done = api
            .call(http::Method::PUT, &path, Some(&command_list(r.commands)), "commands")
            .await
            .map_err(|o| format!("commands: {}", super::describe(&o)))?;
        let url = r.public_url.map(|p| format!("{p}/callback/discord?source={}", channel.name));
        Ok(Registration {
            detail: json!({
                "ok": true,
                "commands": done.as_array().map(Vec::len),
                "scope": if s.guild_id.is_some() { "guild" } else { "global" },
                "interactions_endpoint_url": url,
                "receives": s.public_key.is_some(),
                // Send Messages (2048) and Embed Links (16384).
                "install_url": format!("https://discord.com/oauth2/authorize?client_id={app}&scope=bot+applications.commands&permissions=18432"),
            }),
            learned: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notification::{Button as Link, Format};

    fn message(text: &str) -> Message {
        Message {
            notification: "n".into(),
            delivery: "d".into(),
            ty: "announcement".into(),
            title: None,
            text: text.into(),
            format: Format::Text,
            link: None,
            image: None,
            buttons: Vec::new(),
            silent: false,
            locale: Locale::En,
            merged: false,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_notification_is_markdown_with_an_embed_and_link_buttons_and_pings_nobody() {
        let mut m = message("@everyone *not bold* <@123>");
        m.title = Some("Node down".into());
        m.link = Some("https://example.com/n1".into());
        m.image = Some("https://example.com/n1.png".into());
        m.buttons = vec![Link { text: "Renew".into(), url: "https://example.com/renew".into() }];
        m.silent = true;
        let calls = render_calls("42", &m);
        assert_eq!(calls.len(), 1);
        let p = &calls[0].payload;
        assert_eq!(p["content"], r"@everyone \*not bold\* \<@123\>");
        assert_eq!(p["allowed_mentions"], json!({"parse": []}));
        assert_eq!(p["embeds"][0], json!({"title": "Node down", "url": "https://example.com/n1", "image": {"url": "https://example.com/n1.png"}}));
        assert_eq!(p["components"][0]["components"][0], json!({"type": 2, "label": "Renew", "style": 5, "url": "https://example.com/renew"}));
        assert_eq!(p["components"][1]["components"][0]["url"], "https://example.com/n1");
        assert_eq!(p["flags"], json!(SUPPRESS_NOTIFICATIONS));
    }

    #[test]
    fn a_long_text_goes_in_pieces_of_2000_characters() {
        let text: String = (0..300).map(|i| format!("line {i:03} {}\n", "é".repeat(30))).collect();
        let calls = render_calls("42", &message(&text));
        assert!(calls.len() > 1);
        assert!(calls.iter().all(|c| c.payload["content"].as_str().unwrap().chars().count() <= MAX_CONTENT));
        assert_eq!(calls.iter().map(|c| c.payload["content"].as_str().unwrap()).collect::<String>(), text);
    }

    #[test]
    fn many_buttons_are_packed_five_to_a_row() {
        let rows: Vec<Vec<Button>> = (0..7).map(|i| vec![Button::data(format!("b{i}"), format!("p:{i}"))]).collect();
        let c = components(&rows);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0]["components"].as_array().unwrap().len(), 5);
        assert_eq!(c[1]["components"][1]["custom_id"], "p:6");
    }

    #[test]
    fn answers_are_read_as_discord_means_them() {
        let h = http::HeaderMap::new();
        let s = |c: u16| http::StatusCode::from_u16(c).unwrap();
        assert!(classify(s(200), &h, br#"{"id":"1"}"#).is_ok());
        assert_eq!(
            classify(s(429), &h, br#"{"message":"You are being rate limited.","retry_after":1.5,"global":true}"#),
            Err(SendOutcome::RateLimited {
                retry_after: Duration::from_millis(1500),
                reason: "Discord 429 (global): You are being rate limited.".into()
            })
        );
        let dm_closed = classify(s(403), &h, br#"{"message":"Cannot send messages to this user","code":50007}"#).unwrap_err();
        assert_eq!(dm_closed, SendOutcome::Permanent { reason: "Discord 50007: Cannot send messages to this user".into(), unreachable: true });
        assert!(matches!(
            classify(s(401), &h, br#"{"message":"401: Unauthorized","code":0}"#),
            Err(SendOutcome::Permanent { unreachable: false, .. })
        ));
        assert!(matches!(classify(s(502), &h, b"bad gateway"), Err(SendOutcome::Transient { .. })));
    }

    #[test]
    fn a_small_order_public_key_is_refused() {
        let s = |k: &str| {
            DiscordSettings { bot_token: crate::domain::secret::Secret::new("MTk4.Cl2FMQ.ZnCj"), public_key: Some(k.into()), ..Default::default() }
                .validate()
        };
        assert!(s("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").is_ok());
        for weak in [
            format!("01{}", "0".repeat(62)),
            "0".repeat(64),
            format!("ec{}7f", "f".repeat(60)),
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85".to_owned(),
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a".to_owned(),
        ] {
            assert!(s(&weak).is_err(), "{weak}");
        }
    }

    #[test]
    fn the_command_list_has_both_languages_and_options() {
        let list = command_list(&[]);
        let names: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["help", "menu", "my", "checkin", "bind", "unbind", "ping", "status", "broadcast"]);
        let bind = &list[4];
        assert_eq!((bind["options"][0]["name"].as_str(), bind["options"][0]["required"].as_bool()), (Some("code"), Some(true)));
        assert_eq!(bind["description_localizations"]["zh-CN"], "绑定账户：/bind 绑定码");
        assert_eq!(
            (bind["name_localizations"]["zh-CN"].as_str(), bind["options"][0]["name_localizations"]["zh-CN"].as_str()),
            (Some("绑定"), Some("绑定码"))
        );
        assert_eq!(list[7]["default_member_permissions"], "0");
        assert!(list.as_array().unwrap().iter().all(|c| c["description"].as_str().unwrap().chars().count() <= 100));
    }
}
