//! Synology Chat's bot (and outgoing webhook) requests to Herald: form fields `token`,
//! `user_id`, `username`, `text`, and for an outgoing webhook `channel_id`, `post_id`,
//! `timestamp` and `trigger_word`. Synology signs nothing: the `token` field is compared in
//! constant time with the config's `outgoing_token` (a wrong or missing one is `401`). A repeated
//! post (the same `post_id`, or for the bot the same user, timestamp and text) is acted on once.
//! The first answer rides back as the passive reply (`{"text": ...}`); more go through the queue
//! as bot messages to the person.

use super::payload;
use crate::domain::Invalid;
use crate::domain::chat::{Action, Inbound, Input, Sender, command_line};
use crate::http::{Request, json as json_response};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{ApiCall, Parsed, Receiver, Reply, Unverified, reply_text};
use crate::text::markup::Flavor;
use serde_json::json;

fn fields(req: &Request) -> Vec<(String, String)> {
    form_urlencoded::parse(&req.body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Synology Chat's receiver.
pub struct SynologyReceiver;

impl Receiver for SynologyReceiver {
    fn verify(&self, channel: &Channel, req: &Request, _now: jiff::Timestamp) -> Result<(), Unverified> {
        let ChannelSettings::Synology(s) = &channel.settings else { return Err(Unverified::Unauthenticated("not a Synology Chat channel")) };
        let Some(expected) = &s.outgoing_token else { return Err(Unverified::Unauthenticated("the config has no outgoing_token")) };
        let f = fields(req);
        match field(&f, "token") {
            Some(t) if expected.matches(t) => Ok(()),
            _ => Err(Unverified::Unauthenticated("a wrong or missing token")),
        }
    }

    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        let f = fields(req);
        let user = field(&f, "user_id").ok_or_else(|| Invalid::new("user_id", "is missing"))?;
        if user.parse::<u64>().is_err() {
            return Err(Invalid::new("user_id", "must be a number"));
        }
        let mut text = field(&f, "text").unwrap_or_default().trim();
        // An outgoing webhook fires on its trigger word, which starts the text.
        if let Some(word) = field(&f, "trigger_word") {
            text = text.strip_prefix(word).unwrap_or(text).trim_start();
        }
        let dedup = match field(&f, "post_id") {
            Some(post) => format!("{}:post:{post}", channel.name),
            None => crate::domain::ids::stable_id(&[&channel.name, user, field(&f, "timestamp").unwrap_or_default(), text]),
        };
        let from = Sender { id: user.to_owned(), name: field(&f, "username").unwrap_or(user).to_owned(), language: None };
        // In a channel (an outgoing webhook) the passive reply is seen by everyone there.
        let group = field(&f, "channel_id").is_some() && field(&f, "trigger_word").is_some();
        let inbound = Inbound { chat: user.to_owned(), group, from, input: Input::Text(command_line(text)) };
        Ok(Parsed::Inbound { dedup, inbound })
    }

    fn reply(&self, channel: &Channel, _req: &Request, inbound: &Inbound, actions: Vec<Action>, _now: jiff::Timestamp) -> Reply {
        let has_bot = matches!(&channel.settings, ChannelSettings::Synology(s) if s.bot_token.is_some());
        let mut out = Reply::default();
        for a in actions {
            let (to, text) = match a {
                Action::Reply { text, format, image, .. } => (inbound.chat.clone(), reply_text(&text, format, image.as_deref(), Flavor::Plain)),
                Action::Answer { text: Some(text), .. } => (inbound.chat.clone(), text),
                Action::Tell { chat, text } => (chat, text),
                Action::Answer { text: None, .. } | Action::Remove { .. } | Action::Leave => continue,
            };
            if out.response.is_none() && to == inbound.chat {
                out.response = Some(json_response(http::StatusCode::OK, &json!({"text": text})));
            } else if has_bot {
                out.queued.push(ApiCall::new(&to, "post", payload(&to, &text, None)));
            }
        }
        out
    }
}
