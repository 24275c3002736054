//! VoceChat's bot webhook (the URL set on the bot: `/callback/vocechat?source=NAME&token=SECRET`):
//! VoceChat checks it with a GET that must answer 200, then POSTs each message as JSON
//! (`from_uid`, `mid`, `target` `{uid}` or `{gid}`, `detail` `{type, content_type, content}`).
//! VoceChat signs nothing, so the `token` in the URL is compared in constant time with the
//! config's `webhook_secret` (wrong or missing: `401`), on the GET too. Only `normal` and
//! `reply` messages in text reach the bot; the bot's own are ignored; a repeated `mid` is acted
//! on once. VoceChat takes no answer in the response: the bot's replies go through the queue.

use super::message;
use crate::domain::Invalid;
use crate::domain::chat::{Action, Inbound, Input, Sender, command_line};
use crate::http::{Request, json as json_response};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{Parsed, Receiver, Reply, Unverified, reply_text};
use crate::text::markup::{Flavor, escape_for};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct Message {
    from_uid: u64,
    mid: u64,
    #[serde(default)]
    target: Target,
    detail: Detail,
}

#[derive(Debug, Default, Deserialize)]
struct Target {
    #[serde(default)]
    uid: Option<u64>,
    #[serde(default)]
    gid: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    content: Value,
}

/// VoceChat's receiver.
pub struct VocechatReceiver;

impl Receiver for VocechatReceiver {
    fn methods(&self) -> &'static [http::Method] {
        &[http::Method::GET, http::Method::POST]
    }

    fn verify(&self, channel: &Channel, req: &Request, _now: jiff::Timestamp) -> Result<(), Unverified> {
        let ChannelSettings::Vocechat(v) = &channel.settings else { return Err(Unverified::Unauthenticated("not a VoceChat channel")) };
        match (&v.webhook_secret, req.query("token")) {
            (Some(secret), Some(token)) if secret.matches(token) => Ok(()),
            _ => Err(Unverified::Unauthenticated("a wrong or missing token")),
        }
    }

    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        if req.method == http::Method::GET {
            return Ok(Parsed::Challenge(json_response(http::StatusCode::OK, &json!({"status": "OK"}))));
        }
        let ChannelSettings::Vocechat(v) = &channel.settings else { return Err(Invalid::new("", "not a VoceChat channel")) };
        if req.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Invalid::new("", "not a VoceChat message"));
        }
        let m: Message = serde_json::from_slice(&req.body).map_err(|_| Invalid::new("", "not a VoceChat message"))?;
        let from = m.from_uid.to_string();
        let text = m.detail.content.as_str().filter(|_| m.detail.content_type.as_deref().is_none_or(|t| t.starts_with("text/")));
        let (Some(text), "normal" | "reply") = (text, m.detail.kind.as_str()) else { return Ok(Parsed::Ignored) };
        if v.bot_uid.as_deref() == Some(from.as_str()) {
            return Ok(Parsed::Ignored);
        }
        let (chat, group) = match (m.target.gid, m.target.uid) {
            (Some(gid), _) => (format!("group:{gid}"), true),
            (None, Some(_)) => (from.clone(), false),
            (None, None) => return Ok(Parsed::Ignored),
        };
        // A message id is unique on its server: two configs of one bot act on it once.
        let dedup = format!("{}:{}", channel.api_base(), m.mid);
        let inbound = Inbound { chat, group, from: Sender { id: from.clone(), name: from, language: None }, input: Input::Text(command_line(text)) };
        Ok(Parsed::Inbound { dedup, inbound })
    }

    fn reply(&self, _channel: &Channel, _req: &Request, inbound: &Inbound, actions: Vec<Action>, _now: jiff::Timestamp) -> Reply {
        let mut out = Reply::default();
        for a in actions {
            let (to, text) = match a {
                Action::Reply { text, format, image, .. } => (inbound.chat.clone(), reply_text(&text, format, image.as_deref(), Flavor::Markdown)),
                Action::Answer { text: Some(text), .. } => (inbound.chat.clone(), escape_for(Flavor::Markdown, &text)),
                Action::Tell { chat, text } => (chat, escape_for(Flavor::Markdown, &text)),
                Action::Answer { text: None, .. } | Action::Remove { .. } | Action::Leave => continue,
            };
            out.queued.push(message(&to, "text/markdown", &text));
        }
        out
    }
}
