//! WeCom (企业微信) self-built apps: the encrypted callback (URL check and messages, with
//! encrypted passive replies), `message/send` in text, markdown, textcard and news form, the
//! access token shared by every instance through the store, menus, and every call going to
//! `api_base` (default `https://qyapi.weixin.qq.com`), so a fixed-IP proxy can stand in front,
//! as MoviePilot's WECHAT_PROXY does.

pub mod crypto;
pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Memory, Platform, Registering, Registration, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::command::HostCommand;
use crate::domain::notification::Format;
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::markup::cut_chars;
use crate::text::markup::{Flavor, escape_for, render_markdown, split};
use crate::text::message::Message;
use crate::text::templates::phrase;
use serde_json::{Value, json};
pub use settings::WecomSettings;
use std::time::Duration;

/// WeCom's limits in bytes (UTF-8).
pub const MAX_TEXT: usize = 2048;
const MAX_TITLE: usize = 128;
const MAX_DESCRIPTION: usize = 512;

// ---- the API client ----

/// Errors that mean the access token is no good (expired, invalid, missing).
const TOKEN_ERRORS: [i64; 3] = [42001, 40014, 41001];

/// Reads WeCom's `errcode` into an outcome. Errors come with HTTP 200.
pub fn classify(errcode: i64, errmsg: &str) -> Result<(), SendOutcome> {
    let reason = format!("WeCom {errcode}: {errmsg}");
    match errcode {
        0 => Ok(()),
        -1 => Err(SendOutcome::transient(reason)),
        45009 | 45033 => Err(SendOutcome::RateLimited { retry_after: Duration::from_secs(60), reason }),
        60020 => Err(SendOutcome::permanent(format!(
            "WeCom 60020 (untrusted IP): add Herald's outbound IP to the app's trusted IPs (企业可信IP), or set the channel's api_base to a fixed-IP proxy. {errmsg}"
        ))),
        81013 => Err(SendOutcome::Permanent { reason, unreachable: true }),
        _ => Err(SendOutcome::permanent(reason)),
    }
}

pub struct Client<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    settings: &'a WecomSettings,
    memory: &'a dyn Memory,
}

impl<'a> Client<'a> {
    pub fn new(http: &'a reqwest::Client, base: &'a str, settings: &'a WecomSettings, memory: &'a dyn Memory) -> Self {
        Self { http, base, settings, memory }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, SendOutcome> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|_| SendOutcome::permanent("api_base is not a URL"))?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(url)
    }

    /// Where the token is kept: per corp and agent, and per secret and `api_base` (a digest of
    /// both), so a config with another secret or another host never gets this one's token.
    pub fn cache_key(&self) -> String {
        let scope = crate::domain::ids::stable_id(&[self.settings.secret.expose(), self.base]);
        format!("wecom:{}:{}:{scope}", self.settings.corp_id, self.settings.agent_id)
    }

    /// The access token: from the store (shared by every instance) while it lives, else fresh
    /// from `gettoken` and kept until five minutes before it expires.
    pub async fn token(&self, fresh: bool) -> Result<String, SendOutcome> {
        let key = self.cache_key();
        if !fresh && let Some(t) = self.memory.cached(&key).await.map_err(SendOutcome::transient)? {
            return Ok(t);
        }
        let url = self.url("/cgi-bin/gettoken", &[("corpid", &self.settings.corp_id), ("corpsecret", self.settings.secret.expose())])?;
        let res = self.http.get(url).send().await.map_err(transport_error).map_err(|o| self.redact(o, None))?;
        let v = self.answer(res).await.map_err(|o| self.redact(o, None))?;
        let token = v["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| SendOutcome::transient("gettoken returned no token"))?;
        let ttl = v["expires_in"].as_i64().unwrap_or(7200);
        self.memory.cache(&key, token, (ttl - 300).max(60)).await.map_err(SendOutcome::transient)?;
        Ok(token.to_owned())
    }

    /// `o` without the app's secret (or the access token in use) in its text: a proxy may echo
    /// the URL that carried them.
    fn redact(&self, o: SendOutcome, token: Option<&str>) -> SendOutcome {
        let mut secrets = vec![self.settings.secret.expose()];
        secrets.extend(token);
        super::redact_outcome(o, &secrets)
    }

    async fn answer(&self, res: reqwest::Response) -> Result<Value, SendOutcome> {
        let status = res.status();
        if let Some(o) = super::redirected(status, res.headers(), Some(res.url())) {
            return Err(o);
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(super::by_status(status, res.headers()));
        }
        let v: Value = super::read_json(res).await?;
        classify(v["errcode"].as_i64().unwrap_or(0), v["errmsg"].as_str().unwrap_or_default())?;
        Ok(v)
    }

    /// POSTs to `path` with the access token; a token WeCom no longer takes is refreshed and the
    /// call made once more.
    pub async fn post(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Result<Value, SendOutcome> {
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let mut params = vec![("access_token", token.as_str())];
            params.extend_from_slice(query);
            let redact = |o: SendOutcome| self.redact(o, Some(&token));
            let res = self.http.post(self.url(path, &params)?).json(body).send().await.map_err(transport_error).map_err(redact)?;
            let status = res.status();
            if let Some(o) = super::redirected(status, res.headers(), Some(res.url())) {
                return Err(redact(o));
            }
            let v: Value = match status.is_server_error() || status.as_u16() == 429 {
                true => return Err(redact(super::by_status(status, res.headers()))),
                false => super::read_json(res).await.map_err(redact)?,
            };
            let code = v["errcode"].as_i64().unwrap_or(0);
            if TOKEN_ERRORS.contains(&code) && !fresh {
                fresh = true;
                continue;
            }
            classify(code, v["errmsg"].as_str().unwrap_or_default()).map_err(redact)?;
            return Ok(v);
        }
    }
}

// ---- notifications ----

/// The longest prefix of `s` within `max` UTF-8 bytes, cut at a character boundary.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `message/send` bodies for `m` to `touser` (one member, or `a|b|c`), as few as WeCom's
/// limits allow, and together carrying every visible character the host sent:
/// - with an image: a `news` article (title, the first ≤512 bytes of the text, the image),
///   then whatever text did not fit as `text` messages;
/// - with a link and a short text (≤512 bytes, title ≤128 bytes, no buttons): a `textcard`;
/// - otherwise `text` (or `markdown`) messages of at most 2048 bytes, cut at line boundaries.
///
/// A title too long for a card's 128 bytes is shortened there and sent whole at the top of the
/// text; buttons are written out as `label: url` lines.
pub fn render_bodies(s: &WecomSettings, touser: &str, m: &Message) -> Vec<Value> {
    let agent: i64 = s.agent_id.parse().unwrap_or_default();
    let base = |msgtype: &str, content: Value| {
        let mut v = json!({"touser": touser, "msgtype": msgtype, "agentid": agent, "enable_duplicate_check": 0});
        v[msgtype] = content;
        v
    };
    // Cards and articles show plain text; a Markdown message is written in WeCom's own
    // Markdown (its subset, marks in the host's text neutralised) for the `markdown` msgtype.
    let text = match m.format {
        Format::Html => crate::text::message::strip_tags(&m.text),
        Format::Markdown => render_markdown(&m.text, Flavor::Plain),
        Format::Text => m.text.clone(),
    };
    let given_title = m.title.clone().filter(|t| !t.is_empty());
    let title = given_title.clone().unwrap_or_else(|| text.lines().next().unwrap_or_default().to_owned());
    let title_fits = title.len() <= MAX_TITLE;
    let card_title = if title_fits { title.clone() } else { format!("{}…", truncate_bytes(&title, MAX_TITLE - "…".len())) };
    let mut extras = String::new();
    for b in &m.buttons {
        let label = if m.format == Format::Markdown { escape_for(Flavor::WecomMarkdown, &b.text) } else { b.text.clone() };
        extras.push_str(&format!("\n{label}: {}", b.url));
    }
    let texts = |kind: &str, body: &str| -> Vec<Value> {
        split(body, MAX_TEXT, str::len).into_iter().map(|piece| base(kind, json!({"content": piece}))).collect()
    };
    if let Some(image) = &m.image {
        // The article's description holds what fits; the rest follows as text.
        let mut body = match (&given_title, title_fits) {
            (Some(t), false) => format!("{t}\n{text}"),
            _ => text.clone(),
        };
        body.push_str(&extras);
        let mut parts = split(&body, MAX_DESCRIPTION, str::len).into_iter();
        let description = parts.next().unwrap_or_default();
        let rest: String = parts.collect();
        let article = json!({
            "title": card_title,
            "description": description,
            "url": m.link.as_deref().unwrap_or(image),
            "picurl": image,
        });
        let mut out = vec![base("news", json!({"articles": [article]}))];
        out.extend(texts("text", &rest));
        return out;
    }
    if let Some(link) = &m.link
        && m.buttons.is_empty()
        && text.len() <= MAX_DESCRIPTION
        && title_fits
    {
        let card = json!({
            "title": card_title,
            "description": text,
            "url": link,
            "btntxt": phrase("bot.open_link", m.locale),
        });
        return vec![base("textcard", card)];
    }
    let markdown = m.format == Format::Markdown;
    let mut body = match (&given_title, markdown) {
        (Some(t), true) => format!("**{}**\n{}", escape_for(Flavor::WecomMarkdown, t), render_markdown(&m.text, Flavor::WecomMarkdown)),
        (None, true) => render_markdown(&m.text, Flavor::WecomMarkdown),
        (Some(t), false) => format!("{t}\n{text}"),
        (None, false) => text,
    };
    body.push_str(&extras);
    if let Some(link) = &m.link
        && m.buttons.is_empty()
    {
        body.push_str(&format!("\n{link}"));
    }
    texts(if markdown { "markdown" } else { "text" }, &body)
}

/// The menu: at most 3 groups of 5 `click` buttons whose key is the command, as MoviePilot does;
/// the host's first four commands (but its admin ones) join `status` in the third group, named by their
/// description cut to WeCom's 7 characters (`/help` lists them all).
pub fn menu(locale: crate::domain::Locale, host: &[HostCommand]) -> Value {
    let item = |name: String, key: String| json!({"type": "click", "name": name, "key": key});
    let group = |name: &str, cmds: &[&str]| json!({"name": phrase(name, locale), "sub_button": cmds.iter().map(|c| item(phrase(&format!("bot.cmd.{c}"), locale), format!("/{c}"))).collect::<Vec<_>>()});
    let mut more = group("bot.cmd.status", &["status"]);
    if !host.is_empty() {
        more["name"] = json!(phrase("bot.menu.more", locale));
        if let Some(items) = more["sub_button"].as_array_mut() {
            let shown = host.iter().filter(|c| c.access != crate::domain::command::Access::Admin).take(4);
            items.extend(shown.map(|c| item(cut_chars(c.description.get(locale), 7), format!("/{}", c.name))));
        }
    }
    json!({"button": [group("bot.menu.my", &["my", "checkin", "menu"]), group("bot.cmd.help", &["help", "ping", "unbind"]), more]})
}

fn settings(channel: &Channel) -> Option<&WecomSettings> {
    match &channel.settings {
        ChannelSettings::Wecom(s) => Some(s),
        _ => None,
    }
}

/// The method name of a `message/send` call.
pub const SEND: &str = "message/send";

/// WeCom self-built apps (<https://developer.work.weixin.qq.com/document/path/90236>).
pub struct Wecom;

impl Platform for Wecom {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Wecom
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: WecomSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Wecom(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn account(&self, settings: &ChannelSettings) -> Option<String> {
        let ChannelSettings::Wecom(w) = settings else { return None };
        Some(format!("{}/{}", w.corp_id, w.agent_id))
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base", "corp_id", "agent_id"]
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        let mut conf = crate::domain::chat::BotConf::plain(ChannelKind::Wecom);
        if let ChannelSettings::Wecom(w) = settings {
            conf.admin_whitelist = w.admin_whitelist.clone();
        }
        conf
    }

    fn merges_recipients(&self) -> Option<usize> {
        Some(settings::WECOM_BATCH_MAX)
    }
}

#[async_trait::async_trait]
impl Sender for Wecom {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Wecom
    }

    /// A userid ignores case ("不区分大小写"): `ZhangSan` and `zhangsan` share one budget.
    fn chat_key(&self, recipient: &str) -> String {
        recipient.to_ascii_lowercase()
    }

    /// 30 messages a minute per member (a message to many counts against each one's budget).
    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        recipient.split('|').map(|member| SharedLimit::new(format!("wc:{channel}:{}", self.chat_key(member)), 30, 60_000)).collect()
    }

    /// "每应用对同一个成员不可超过30条/分，超过部分会被丢弃不下发" (message/send's limits).
    fn drops_past_limits(&self) -> bool {
        true
    }

    /// One member, or (only for a delivery Herald merged, [`Message::merged`]) `a|b|c`; `@all`
    /// and any malformed member are refused before a call is made.
    fn refuse(&self, recipient: &str, message: &Message) -> Option<String> {
        settings::wecom_touser(recipient, message.merged).err()
    }

    fn addressee(&self, payload: &Value) -> Option<String> {
        payload.get("touser").map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
    }

    fn render(&self, channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        let Some(s) = settings(channel) else { return Vec::new() };
        render_bodies(s, recipient, message).into_iter().map(|b| ApiCall::new(recipient, SEND, b)).collect()
    }

    /// `POST /cgi-bin/{method}` with the access token; members WeCom did not know
    /// (`invaliduser`) become the note.
    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(s) = settings(channel) else { return SendOutcome::permanent("not a WeCom channel").into() };
        let client = Client::new(ctx.http, channel.api_base(), s, ctx.memory);
        match client.post(&format!("/cgi-bin/{}", call.method), &[], &call.payload).await {
            Ok(v) => {
                let note = v["invaliduser"].as_str().filter(|b| !b.is_empty()).map(|bad| format!("WeCom did not know: {bad}"));
                Answer { outcome: SendOutcome::Sent, note }
            }
            Err(outcome) => outcome.into(),
        }
    }

    fn registers(&self) -> bool {
        true
    }

    /// Creates the app's menu from the bot's commands ([`menu`]).
    async fn register(&self, r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
        let s = settings(channel).ok_or("not a WeCom channel")?;
        let menu = menu(r.locale, r.commands);
        let client = Client::new(r.ctx.http, channel.api_base(), s, r.ctx.memory);
        client.post("/cgi-bin/menu/create", &[("agentid", s.agent_id.as_str())], &menu).await.map_err(|o| super::describe(&o))?;
        Ok(Registration { detail: json!({"ok": true, "menu": menu}), learned: None })
    }
}
