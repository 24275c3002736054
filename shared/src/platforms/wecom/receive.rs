//! WeCom's callback (<https://developer.work.weixin.qq.com/document/path/90930>): the URL check
//! (a GET answered with the decrypted `echostr`), encrypted messages (`msg_signature` over the
//! token, timestamp, nonce and `Encrypt`, within a replay window), and encrypted passive replies.

use super::crypto::Crypto;
use super::{MAX_TEXT, SEND, WecomSettings};
use crate::domain::Invalid;
use crate::domain::chat::{Action, Inbound, Input, Sender};
use crate::http::{Request, respond};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{ApiCall, Parsed, Receiver, Reply, Unverified, reply_text};
use crate::text::markup::Flavor;
use crate::text::markup::split;
use serde_json::json;
use std::collections::HashMap;

/// How far a callback's timestamp may be from now, in seconds.
pub const REPLAY_WINDOW_SECS: i64 = 300;

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

fn crypto(channel: &Channel) -> Option<(&WecomSettings, Crypto)> {
    let ChannelSettings::Wecom(s) = &channel.settings else { return None };
    let (Some(token), Some(key)) = (&s.token, &s.encoding_aes_key) else { return None };
    Crypto::new(token.expose(), key.expose(), &s.corp_id).ok().map(|c| (s, c))
}

/// The signed query: `msg_signature`, `timestamp`, `nonce`.
fn signed(req: &Request) -> Option<(&str, &str, &str)> {
    Some((req.query("msg_signature")?, req.query("timestamp")?, req.query("nonce")?))
}

/// WeCom's receiver.
pub struct WecomReceiver;

impl Receiver for WecomReceiver {
    /// WeCom waits 5 seconds for the passive reply, then retries.
    fn reply_within(&self) -> std::time::Duration {
        std::time::Duration::from_secs(4)
    }

    fn methods(&self) -> &'static [http::Method] {
        &[http::Method::GET, http::Method::POST]
    }

    /// The URL check signs its `echostr`; a message signs its `Encrypt` element; either way the
    /// timestamp must be within [`REPLAY_WINDOW_SECS`] of now.
    fn verify(&self, channel: &Channel, req: &Request, now: jiff::Timestamp) -> Result<(), Unverified> {
        let (_, crypto) = crypto(channel).ok_or(Unverified::Unauthenticated("no callback token and key"))?;
        let (signature, timestamp, nonce) = signed(req).ok_or(Unverified::Unauthenticated("unsigned"))?;
        let signed_value = if req.method == http::Method::GET {
            req.query("echostr").ok_or(Unverified::Unauthenticated("no echostr"))?.to_owned()
        } else {
            let body = std::str::from_utf8(&req.body).map_err(|_| Unverified::Malformed("body is not UTF-8"))?;
            let outer = xml_fields(body).ok_or(Unverified::Malformed("body is not WeCom's XML"))?;
            outer.get("Encrypt").cloned().ok_or(Unverified::Malformed("no Encrypt field"))?
        };
        crypto.verify(signature, timestamp, nonce, &signed_value).map_err(|_| Unverified::Unauthenticated("bad signature"))?;
        // The URL check too: a GET signed like a POST would otherwise decrypt any captured
        // message, however old.
        if !crate::platforms::fresh(timestamp, now, REPLAY_WINDOW_SECS) {
            return Err(Unverified::Unauthenticated("outside the replay window"));
        }
        Ok(())
    }

    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        let bad = |what: &str| Invalid::new("", what);
        let (_, crypto) = crypto(channel).ok_or_else(|| bad("no callback token and key"))?;
        if req.method == http::Method::GET {
            // The URL check: answer the decrypted echostr, plain, within WeCom's one second.
            let plain = crypto.decrypt(req.query("echostr").unwrap_or_default()).map_err(|_| bad("echostr does not decrypt"))?;
            return Ok(Parsed::Challenge(respond(http::StatusCode::OK, "text/plain; charset=utf-8", plain)));
        }
        let body = std::str::from_utf8(&req.body).map_err(|_| bad("body is not UTF-8"))?;
        let outer = xml_fields(body).ok_or_else(|| bad("body is not WeCom's XML"))?;
        let encrypted = outer.get("Encrypt").ok_or_else(|| bad("no Encrypt field"))?;
        let plain = crypto.decrypt(encrypted).map_err(|_| bad("payload does not decrypt"))?;
        let msg = xml_fields(&plain).ok_or_else(|| bad("payload is not WeCom's XML"))?;
        let field = |k: &str| msg.get(k).map(String::as_str).unwrap_or_default();
        let from = field("FromUserName").to_owned();
        if from.is_empty() {
            return Err(bad("no FromUserName"));
        }
        let input = match (field("MsgType"), field("Event")) {
            ("text", _) => Input::Text(field("Content").to_owned()),
            ("event", "click") => Input::Menu(field("EventKey").to_owned()),
            _ => return Ok(Parsed::Ignored),
        };
        // WeCom retries three times within seconds: each message is handled once.
        let ChannelSettings::Wecom(s) = &channel.settings else { return Err(bad("not a WeCom channel")) };
        let dedup = format!("{}:{}:{}", s.corp_id, s.agent_id, dedup_key(&msg, &plain));
        let inbound = Inbound { chat: from.clone(), group: false, from: Sender { id: from.clone(), name: from, language: None }, input };
        Ok(Parsed::Inbound { dedup, inbound })
    }

    /// One short reply goes back passively (encrypted, in the response); anything more goes
    /// through the queue as `message/send` calls, and the response is empty.
    fn reply(&self, channel: &Channel, req: &Request, inbound: &Inbound, actions: Vec<Action>, now: jiff::Timestamp) -> Reply {
        let Some((s, crypto)) = crypto(channel) else { return Reply::default() };
        let to = inbound.chat.as_str();
        let agent: i64 = s.agent_id.parse().unwrap_or_default();
        let mut texts = texts(to, actions);
        let nonce = req.query("nonce").unwrap_or_default();
        if texts.len() == 1 && texts[0].0 == to && texts[0].1.len() <= MAX_TEXT {
            let (_, text) = texts.remove(0);
            let now = now.as_second().to_string();
            let inner = format!(
                "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
                cdata(to),
                cdata(&s.corp_id),
                cdata(&text)
            );
            if let Ok(xml) = crypto.reply_with(&inner, &now, nonce, crate::domain::ids::random_bytes::<16>()) {
                return Reply { response: Some(respond(http::StatusCode::OK, "application/xml", xml)), queued: Vec::new() };
            }
            texts.push((to.to_owned(), text));
        }
        Reply { response: None, queued: sends(agent, texts) }
    }

    /// After the response, every text is a `message/send` (the passive slot is spent).
    fn later(
        &self,
        channel: &Channel,
        _req: &Request,
        inbound: &Inbound,
        _said: Vec<Action>,
        actions: Vec<Action>,
        _now: jiff::Timestamp,
    ) -> Vec<ApiCall> {
        let Some((s, _)) = crypto(channel) else { return Vec::new() };
        sends(s.agent_id.parse().unwrap_or_default(), texts(&inbound.chat, actions))
    }
}

/// The texts of the bot's actions, with whom each is for.
fn texts(to: &str, actions: Vec<Action>) -> Vec<(String, String)> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Reply { text, format, image, .. } => Some((to.to_owned(), reply_text(&text, format, image.as_deref(), Flavor::Plain))),
            Action::Tell { chat, text } => Some((chat, text)),
            _ => None,
        })
        .collect()
}

/// Texts as `message/send` calls, each cut to WeCom's length.
fn sends(agent: i64, texts: Vec<(String, String)>) -> Vec<ApiCall> {
    texts
        .into_iter()
        .flat_map(|(chat, text)| {
            split(&text, MAX_TEXT, str::len)
                .into_iter()
                .map(|piece| {
                    ApiCall::new(chat.clone(), SEND, json!({"touser": chat, "msgtype": "text", "agentid": agent, "text": {"content": piece}}))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}
