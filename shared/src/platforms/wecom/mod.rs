//! WeCom (企业微信) self-built apps: the encrypted callback (URL check and messages, with
//! encrypted passive replies), `message/send` in text, markdown, textcard and news form, the
//! access token shared by every instance through the store, menus, and every call going to
//! `api_base` (default `https://qyapi.weixin.qq.com`), so a fixed-IP proxy can stand in front,
//! as MoviePilot's WECHAT_PROXY does.

pub mod crypto;

use super::{Report, SendOutcome, transport_error};
use crate::app::App;
use crate::bot::{self, Action, Inbound, Input, Sender};
use crate::domain::ChannelKind;
use crate::domain::message::Message;
use crate::domain::notification::Format;
use crate::edge::http::{ApiError, HandlerResult, Request, Response, empty, respond};
use crate::platforms::config::{Channel, ChannelSettings, WecomSettings};
use crate::store::repo::Repo;
use crate::text::markup::split;
use crate::text::templates::phrase;
use crypto::Crypto;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// WeCom's limits in bytes (UTF-8).
const MAX_TEXT: usize = 2048;
const MAX_TITLE: usize = 128;
const MAX_DESCRIPTION: usize = 512;
/// How far a callback's timestamp may be from now.
pub const REPLAY_WINDOW_SECS: i64 = 300;

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
    repo: &'a Repo,
}

impl<'a> Client<'a> {
    pub fn new(http: &'a reqwest::Client, base: &'a str, settings: &'a WecomSettings, repo: &'a Repo) -> Self {
        Self { http, base, settings, repo }
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
        if !fresh && let Some(t) = self.repo.cached(&key).await.map_err(|e| SendOutcome::transient(e.to_string()))? {
            return Ok(t);
        }
        let url = self.url("/cgi-bin/gettoken", &[("corpid", &self.settings.corp_id), ("corpsecret", self.settings.secret.expose())])?;
        let res = self.http.get(url).send().await.map_err(transport_error).map_err(|o| self.redact(o, None))?;
        let v = self.answer(res).await.map_err(|o| self.redact(o, None))?;
        let token = v["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| SendOutcome::transient("gettoken returned no token"))?;
        let ttl = v["expires_in"].as_i64().unwrap_or(7200);
        self.repo.cache(&key, token, (ttl - 300).max(60)).await.map_err(|e| SendOutcome::transient(e.to_string()))?;
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
        let v: Value = res.json().await.map_err(transport_error)?;
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
                false => res.json().await.map_err(transport_error).map_err(redact)?,
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
pub fn render(s: &WecomSettings, touser: &str, m: &Message) -> Vec<Value> {
    let agent: i64 = s.agent_id.parse().unwrap_or_default();
    let base = |msgtype: &str, content: Value| {
        let mut v = json!({"touser": touser, "msgtype": msgtype, "agentid": agent, "enable_duplicate_check": 0});
        v[msgtype] = content;
        v
    };
    let text = match m.format {
        Format::Html => crate::domain::message::strip_tags(&m.text),
        _ => m.text.clone(),
    };
    let given_title = m.title.clone().filter(|t| !t.is_empty());
    let title = given_title.clone().unwrap_or_else(|| text.lines().next().unwrap_or_default().to_owned());
    let title_fits = title.len() <= MAX_TITLE;
    let card_title = if title_fits { title.clone() } else { format!("{}…", truncate_bytes(&title, MAX_TITLE - "…".len())) };
    let mut extras = String::new();
    for b in &m.buttons {
        extras.push_str(&format!("\n{}: {}", b.text, b.url));
    }
    let texts = |body: &str| -> Vec<Value> {
        let kind = if m.format == Format::Markdown { "markdown" } else { "text" };
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
        out.extend(texts(&rest));
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
    let mut body = match &given_title {
        Some(t) => format!("{t}\n{text}"),
        None => text,
    };
    body.push_str(&extras);
    if let Some(link) = &m.link
        && m.buttons.is_empty()
    {
        body.push_str(&format!("\n{link}"));
    }
    texts(&body)
}

/// Sends the parts of `m` not yet sent to `touser`: one member, or (only for a delivery Herald
/// merged, [`Message::merged`]) `a|b|c`; `@all` and any malformed member are refused before a
/// call is made.
pub async fn send(http: &reqwest::Client, base: &str, repo: &Repo, s: &WecomSettings, touser: &str, m: &Message, parts_done: u32) -> Report {
    if let Err(why) = crate::platforms::chat::wecom_touser(touser, m.merged) {
        return SendOutcome::permanent(why).into();
    }
    let client = Client::new(http, base, s, repo);
    let mut done = parts_done;
    let mut invalid = Vec::new();
    for body in render(s, touser, m).into_iter().skip(parts_done as usize) {
        match client.post("/cgi-bin/message/send", &[], &body).await {
            Ok(v) => {
                done += 1;
                if let Some(bad) = v["invaliduser"].as_str().filter(|b| !b.is_empty()) {
                    invalid.push(bad.to_owned());
                }
            }
            Err(outcome) => return Report { outcome, parts_done: done, note: None },
        }
    }
    let note = (!invalid.is_empty()).then(|| format!("WeCom did not know: {}", invalid.join("|")));
    Report { outcome: SendOutcome::Sent, parts_done: done, note }
}

/// Creates the app's menu from the bot's commands (at most 3 groups of 5 `click` buttons whose
/// key is the command, as MoviePilot does).
pub async fn create_menu(app: &App, channel: &Channel) -> Result<Value, String> {
    let ChannelSettings::Wecom(s) = &channel.settings else { return Err("not a WeCom channel".into()) };
    let locale = app.snapshot().await.map_err(|e| e.to_string())?.settings.locale;
    let group = |name: &str, cmds: &[&str]| json!({"name": phrase(name, locale), "sub_button": cmds.iter().map(|c| json!({"type": "click", "name": phrase(&format!("bot.cmd.{c}"), locale), "key": format!("/{c}")})).collect::<Vec<_>>()});
    let menu = json!({"button": [
        group("bot.menu.my", &["my", "checkin", "menu"]),
        group("bot.cmd.help", &["help", "ping", "unbind"]),
        group("bot.cmd.status", &["status"]),
    ]});
    let client = Client::new(&app.http, channel.api_base(), s, &app.repo);
    client.post("/cgi-bin/menu/create", &[("agentid", s.agent_id.as_str())], &menu).await.map_err(|o| match o {
        SendOutcome::RateLimited { reason, .. } | SendOutcome::Transient { reason } | SendOutcome::Permanent { reason, .. } => reason,
        other => other.label().to_owned(),
    })?;
    Ok(json!({"ok": true, "menu": menu}))
}

// ---- the callback ----

/// The direct children of `<xml>`: `<Encrypt>`, or the decrypted message's fields.
pub fn xml_fields(xml: &str) -> Option<HashMap<String, String>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0;
    let mut current: Option<String> = None;
    let mut out = HashMap::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 {
                    current = Some(e.name().as_ref().to_owned());
                }
            }
            Event::End(_) => {
                if depth == 2 {
                    current = None;
                }
                depth -= 1;
            }
            Event::Text(t) if depth == 2 => {
                let text = t.xml10_content();
                out.entry(current.clone()?).or_insert_with(String::new).push_str(&text);
            }
            Event::CData(t) if depth == 2 => {
                let text = t.into_inner();
                out.entry(current.clone()?).or_insert_with(String::new).push_str(&text);
            }
            Event::GeneralRef(r) if depth == 2 => {
                let c = match r.resolve_char_ref().ok()? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)?.to_owned(),
                };
                out.entry(current.clone()?).or_insert_with(String::new).push_str(&c);
            }
            Event::DocType(_) => return None,
            Event::Eof => return (depth == 0).then_some(out),
            _ => {}
        }
    }
}

/// The key that names one real-world callback event, for handling it once. A message has its
/// `MsgId`. An event has none, so its key is a digest of the whole decrypted payload: WeCom's
/// retries carry the very same payload (collapsed into one), while two different events — two
/// menu clicks in one second, of different `EventKey`s — differ somewhere and never collapse.
pub fn dedup_key(msg: &HashMap<String, String>, plain: &str) -> String {
    match msg.get("MsgId") {
        Some(id) if !id.is_empty() => id.clone(),
        _ => format!("ev:{}", crate::domain::ids::stable_id(&[plain])),
    }
}

fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// `GET, POST /callback/wecom?source=NAME`.
pub async fn callback(app: &App, req: Request) -> Response {
    crate::edge::http::finish(handle(app, &req).await)
}

/// [`callback`] as a Lambda HTTP handler.
pub fn handler(app: &App, req: Request) -> futures_util::future::BoxFuture<'_, Response> {
    Box::pin(callback(app, req))
}

fn bad(what: &str) -> ApiError {
    ApiError::Invalid(crate::domain::Invalid::new("", what))
}

#[tracing::instrument(skip_all, fields(channel))]
async fn handle(app: &App, req: &Request) -> HandlerResult {
    if req.method != http::Method::GET && req.method != http::Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let snap = app.snapshot().await?;
    let channel = snap.source(ChannelKind::Wecom, req.query("source")).cloned().ok_or(ApiError::Unauthorized)?;
    let ChannelSettings::Wecom(s) = &channel.settings else { return Err(ApiError::Unauthorized) };
    let (Some(token), Some(key)) = (&s.token, &s.encoding_aes_key) else { return Err(ApiError::Unauthorized) };
    let crypto = Crypto::new(token.expose(), key.expose(), &s.corp_id).map_err(|_| ApiError::Unauthorized)?;
    tracing::Span::current().record("channel", channel.name.as_str());
    let (signature, timestamp, nonce) = (req.query("msg_signature"), req.query("timestamp"), req.query("nonce"));
    let (Some(signature), Some(timestamp), Some(nonce)) = (signature, timestamp, nonce) else { return Err(ApiError::Unauthorized) };

    if req.method == http::Method::GET {
        // The URL check: answer the decrypted echostr, plain, within WeCom's one second.
        let echostr = req.query("echostr").ok_or(ApiError::Unauthorized)?;
        crypto.verify(signature, timestamp, nonce, echostr).map_err(|_| ApiError::Unauthorized)?;
        let plain = crypto.decrypt(echostr).map_err(|_| bad("echostr does not decrypt"))?;
        return Ok(respond(http::StatusCode::OK, "text/plain; charset=utf-8", plain));
    }

    if req.body.len() > crate::edge::http::MAX_BODY {
        return Err(ApiError::TooLarge);
    }
    let body = std::str::from_utf8(&req.body).map_err(|_| bad("body is not UTF-8"))?;
    let outer = xml_fields(body).ok_or_else(|| bad("body is not WeCom's XML"))?;
    let encrypted = outer.get("Encrypt").ok_or_else(|| bad("no Encrypt field"))?;
    crypto.verify(signature, timestamp, nonce, encrypted).map_err(|_| ApiError::Unauthorized)?;
    let sent_at: i64 = timestamp.parse().map_err(|_| ApiError::Unauthorized)?;
    if (app.now().as_second() - sent_at).abs() > REPLAY_WINDOW_SECS {
        return Err(ApiError::Unauthorized);
    }
    let plain = crypto.decrypt(encrypted).map_err(|_| bad("payload does not decrypt"))?;
    let msg = xml_fields(&plain).ok_or_else(|| bad("payload is not WeCom's XML"))?;
    let field = |k: &str| msg.get(k).map(String::as_str).unwrap_or_default();
    let from = field("FromUserName").to_owned();
    if from.is_empty() {
        return Err(bad("no FromUserName"));
    }
    // WeCom retries three times within seconds: each message is handled once.
    let id = dedup_key(&msg, &plain);
    if !app.repo.first_time(&format!("wc:{}", channel.name), &id, 86_400).await? {
        return Ok(empty(http::StatusCode::OK));
    }
    let input = match (field("MsgType"), field("Event")) {
        ("text", _) => Input::Text(field("Content").to_owned()),
        ("event", "click") => {
            // Menu commands are for the admin whitelist, when there is one (MoviePilot's rule).
            if !s.admin_whitelist.is_empty() && !s.admin_whitelist.iter().any(|a| a == &from) {
                let locale = app.repo.user_by_chat(ChannelKind::Wecom, &from).await?.and_then(|u| u.value.locale).unwrap_or(snap.settings.locale);
                return reply(
                    app,
                    &crypto,
                    s,
                    &channel,
                    &from,
                    vec![Action::Reply { text: phrase("bot.menu_denied", locale), buttons: vec![], edit: None }],
                    nonce,
                )
                .await;
            }
            Input::Text(field("EventKey").to_owned())
        }
        _ => return Ok(empty(http::StatusCode::OK)),
    };
    let inbound = Inbound { chat: from.clone(), group: false, from: Sender { id: from.clone(), name: from.clone(), language: None }, input };
    let actions = bot::handle(app, &channel, &snap.settings, &inbound).await?;
    reply(app, &crypto, s, &channel, &from, actions, nonce).await
}

/// Answers with one short reply passively (encrypted, in the response); anything more goes
/// through the queue as `message/send` calls, and the response is empty.
async fn reply(app: &App, crypto: &Crypto, s: &WecomSettings, channel: &Channel, to: &str, actions: Vec<Action>, nonce: &str) -> HandlerResult {
    let agent: i64 = s.agent_id.parse().unwrap_or_default();
    let mut texts: Vec<(String, String)> = actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Reply { text, .. } => Some((to.to_owned(), text)),
            Action::Tell { chat, text } => Some((chat, text)),
            _ => None,
        })
        .collect();
    if texts.len() == 1 && texts[0].0 == to && texts[0].1.len() <= MAX_TEXT {
        let (_, text) = texts.remove(0);
        let now = app.now().as_second().to_string();
        let inner = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
            cdata(to),
            cdata(&s.corp_id),
            cdata(&text)
        );
        let xml = crypto.reply_with(&inner, &now, nonce, crate::domain::ids::random_bytes::<16>()).map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(respond(http::StatusCode::OK, "application/xml", xml));
    }
    let calls = texts
        .into_iter()
        .flat_map(|(chat, text)| {
            split(&text, MAX_TEXT, str::len)
                .into_iter()
                .map(|piece| (chat.clone(), "message/send", json!({"touser": chat, "msgtype": "text", "agentid": agent, "text": {"content": piece}})))
                .collect::<Vec<_>>()
        })
        .collect();
    crate::platforms::telegram::enqueue(app, &channel.name, calls).await?;
    Ok(empty(http::StatusCode::OK))
}
