//! Telegram's webhook (<https://core.telegram.org/bots/api#setwebhook>): the secret-token
//! header, updates read into the bot's [`Inbound`] (deduplicated by `update_id`), and the
//! bot's actions as Bot API calls, one riding back in the response body.
//!
//! The update types are Herald's own minimal serde structs: unknown fields are ignored, so new
//! Bot API versions never break parsing, and the binary carries no generated API surface.

use crate::domain::chat::{Action, Button, Inbound, Input, Press, Sender};
use crate::domain::{Format, Invalid};
use crate::http::{Request, json as json_response};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{ApiCall, Parsed, Receiver, Reply, Unverified};
use crate::text::markup::{Flavor, format_for};
use serde::Deserialize;
use serde_json::json;

/// The header carrying the `secret_token` given to `setWebhook`.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

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
pub fn calls(chat: &str, actions: &[Action]) -> Vec<ApiCall> {
    let key = |b: &Button| match &b.press {
        Press::Data(d) => json!({"text": b.label, "callback_data": d}),
        Press::Url(u) => json!({"text": b.label, "url": u}),
    };
    let markup =
        |buttons: &[Vec<Button>]| json!({"inline_keyboard": buttons.iter().map(|row| row.iter().map(key).collect::<Vec<_>>()).collect::<Vec<_>>()});
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Reply { text, format, image, buttons, edit } => {
                // The bot's own text goes as it is; a host app's Markdown or HTML as Telegram HTML.
                let mut p = match format {
                    Format::Text => json!({"chat_id": chat, "text": text}),
                    f => json!({"chat_id": chat, "text": format_for(*f, text, Flavor::TelegramHtml), "parse_mode": "HTML"}),
                };
                // An image is shown as the message's link preview, above the text.
                if let Some(i) = image {
                    p["link_preview_options"] = json!({"url": i, "prefer_large_media": true, "show_above_text": true});
                }
                if !buttons.is_empty() || edit.is_some() {
                    p["reply_markup"] = markup(buttons);
                }
                match edit {
                    Some(mid) => {
                        p["message_id"] = json!(mid.parse::<i64>().unwrap_or_default());
                        out.push(ApiCall::new(chat, "editMessageText", p));
                    }
                    None => out.push(ApiCall::new(chat, "sendMessage", p)),
                }
            }
            Action::Tell { chat: to, text } => out.push(ApiCall::new(to, "sendMessage", json!({"chat_id": to, "text": text}))),
            Action::Answer { id, text, alert } => {
                out.push(ApiCall::new(chat, "answerCallbackQuery", json!({"callback_query_id": id, "text": text, "show_alert": alert})))
            }
            Action::Remove { chat: group, user } => {
                // Ban, then unban: removed now, free to come back after binding.
                out.push(ApiCall::new(group, "banChatMember", json!({"chat_id": group, "user_id": user.parse::<i64>().unwrap_or_default()})));
                out.push(ApiCall::new(
                    group,
                    "unbanChatMember",
                    json!({"chat_id": group, "user_id": user.parse::<i64>().unwrap_or_default(), "only_if_banned": true}),
                ));
            }
            Action::Leave => out.push(ApiCall::new(chat, "leaveChat", json!({"chat_id": chat}))),
        }
    }
    out
}

/// Every button press is answered (the client shows a spinner until it is): an
/// `answerCallbackQuery` is added first when the bot's actions hold none (a whitelist refusal,
/// a group the bot leaves). On an inline-mode message (`inline`) only the answer is kept: there
/// is no chat message to edit or reply under.
pub fn answer_always(calls: &mut Vec<ApiCall>, chat: &str, id: &str, inline: bool) {
    if inline {
        calls.retain(|c| c.method == "answerCallbackQuery");
    }
    if !calls.iter().any(|c| c.method == "answerCallbackQuery") {
        calls.insert(0, ApiCall::new(chat, "answerCallbackQuery", json!({"callback_query_id": id})));
    }
}

/// Telegram's receiver.
pub struct TelegramReceiver;

impl Receiver for TelegramReceiver {
    /// Telegram sets no deadline, but holds the chat's next updates while one is unanswered.
    fn reply_within(&self) -> std::time::Duration {
        std::time::Duration::from_secs(4)
    }

    fn verify(&self, channel: &Channel, req: &Request, _now: jiff::Timestamp) -> Result<(), Unverified> {
        let ChannelSettings::Telegram(t) = &channel.settings else { return Err(Unverified::Unauthenticated("not a Telegram channel")) };
        let presented = req.header(SECRET_HEADER).unwrap_or_default();
        match &t.webhook_secret {
            Some(s) if s.matches(presented) => Ok(()),
            _ => Err(Unverified::Unauthenticated("wrong or missing secret token")),
        }
    }

    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        let not_an_update = || Invalid::new("", "not a Telegram update");
        // An object only: serde would read a struct from an array, field by field.
        if req.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(not_an_update());
        }
        let update: Update = serde_json::from_slice(&req.body).map_err(|_| not_an_update())?;
        // Telegram retries anything but 2xx: each update_id is handled once per config (each
        // config has its own webhook secret, so an update reaches it only through its own URL).
        let dedup = format!("{}:{}", channel.name, update.update_id);
        if let Some((from, to)) = update.message.as_ref().and_then(migration) {
            // The group became a supergroup: the channel's chat and bound ids move with it, and
            // the bot stays (it would otherwise leave the new id as a group it does not know).
            return Ok(Parsed::Moved { dedup, from, to });
        }
        Ok(match inbound(&update) {
            Some(inbound) => Parsed::Inbound { dedup, inbound },
            None => Parsed::Ignored,
        })
    }

    /// Every button press is answered ([`answer_always`]). One quick call rides back in the
    /// response body (Telegram makes it; its result is not known, so only a button's answer or
    /// a short reply goes this way); the rest is queued.
    fn reply(&self, _channel: &Channel, _req: &Request, inbound: &Inbound, actions: Vec<Action>, _now: jiff::Timestamp) -> Reply {
        let mut queued = calls(&inbound.chat, &actions);
        if let Input::Button { id, message, .. } = &inbound.input {
            answer_always(&mut queued, &inbound.chat, id, message.is_none());
        }
        let Some(first) = queued.first() else { return Reply::default() };
        let short = first.payload["text"].as_str().is_none_or(|t| t.chars().count() <= 512);
        if !(first.method == "answerCallbackQuery" || (first.method == "sendMessage" && short)) {
            return Reply { response: None, queued };
        }
        let passive = queued.remove(0);
        let mut body = passive.payload;
        body["method"] = json!(passive.method);
        Reply { response: Some(json_response(http::StatusCode::OK, &body)), queued }
    }
}
