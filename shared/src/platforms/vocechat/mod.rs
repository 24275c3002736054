//! VoceChat's bot API (<https://doc.voce.chat/bot/bot-and-webhook>): messages to a user
//! (`POST {server_url}/api/bot/send_to_user/{uid}`) or a group (`send_to_group/{gid}`) with the
//! bot's `x-api-key`, the body the message itself, as `text/markdown` (plain text escaped,
//! Markdown rendered). 401 / 403 fail for good (the key), 404 marks the recipient unreachable,
//! 429 and 5xx are tried again. The webhook receiver is [`receive`]. User ids are numbers per
//! server, so users' ids are kept per config (`ids["vocechat:NAME"]`).

pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::markup::{Flavor, char_len, escape_for, split};
use crate::text::message::Message;
use serde_json::{Value, json};
pub use settings::VocechatSettings;
use std::time::Duration;

/// VoceChat documents no limit; messages are cut at 4000 characters.
pub const MAX_TEXT: usize = 4000;

fn settings(channel: &Channel) -> Option<&VocechatSettings> {
    match &channel.settings {
        ChannelSettings::Vocechat(v) => Some(v),
        _ => None,
    }
}

/// The Markdown of `m`: the title bold, the text escaped (plain, HTML) or rendered (Markdown),
/// the image, the buttons and the link as Markdown links.
fn markdown(m: &Message) -> String {
    let body = crate::text::markup::format_for(m.format, &m.text, Flavor::Markdown);
    let mut out = match m.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("**{}**\n{body}", escape_for(Flavor::Markdown, t)),
        None => body,
    };
    if let Some(img) = &m.image {
        out.push_str(&format!("\n\n![]({img})"));
    }
    for b in &m.buttons {
        out.push_str(&format!("\n[{}]({})", escape_for(Flavor::Markdown, &b.text), b.url));
    }
    if let Some(link) = m.link.as_deref().filter(|l| !m.buttons.iter().any(|b| b.url == *l)) {
        out.push_str(&format!("\n[{}]({link})", escape_for(Flavor::Markdown, &crate::text::templates::phrase("bot.open_link", m.locale))));
    }
    out
}

/// One message to `chat` (a user id, or `group:N`): `{"content_type", "content"}`.
pub fn message(chat: &str, content_type: &str, content: &str) -> ApiCall {
    ApiCall::new(chat, "send", json!({"content_type": content_type, "content": content}))
}

/// The messages that send `m` to `chat`, in pieces of at most [`MAX_TEXT`] characters.
pub fn render_calls(chat: &str, m: &Message) -> Vec<ApiCall> {
    split(&markdown(m), MAX_TEXT, char_len).iter().map(|p| message(chat, "text/markdown", p)).collect()
}

/// Reads VoceChat's answer (the new message's id, or an HTTP error).
pub fn classify(status: http::StatusCode, headers: &http::HeaderMap) -> Result<(), SendOutcome> {
    if status.is_success() {
        return Ok(());
    }
    if let Some(o) = super::redirected(status, headers, None) {
        return Err(o);
    }
    let reason = format!("VoceChat HTTP {}", status.as_u16());
    Err(match status.as_u16() {
        401 | 403 => SendOutcome::permanent(format!("{reason} (check the channel's api_key)")),
        404 => SendOutcome::Permanent { reason: format!("{reason}: no such user or group"), unreachable: true },
        429 => SendOutcome::RateLimited { retry_after: super::retry_after(headers, Duration::from_secs(5)), reason },
        408 | 500..=599 => SendOutcome::transient(reason),
        _ => SendOutcome::permanent(reason),
    })
}

/// The VoceChat platform.
pub struct Vocechat;

impl Platform for Vocechat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Vocechat
    }

    /// The bot's webhook URL carries its secret (`/callback/vocechat?source=NAME&token=SECRET`).
    fn callback_extra(&self) -> &'static str {
        "&token=WEBHOOK_SECRET"
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: VocechatSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Vocechat(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn ids_per_config(&self) -> bool {
        true
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["server_url"]
    }

    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[("server_url", false)]
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        let ChannelSettings::Vocechat(v) = settings else { return crate::domain::chat::BotConf::plain(ChannelKind::Vocechat) };
        crate::domain::chat::BotConf {
            group: v.group_id.as_ref().map(|g| format!("group:{g}")),
            ..crate::domain::chat::BotConf::whitelisted(ChannelKind::Vocechat, false, &v.user_whitelist, &v.admin_whitelist)
        }
    }
}

#[async_trait::async_trait]
impl Sender for Vocechat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Vocechat
    }

    /// VoceChat documents no limit: five messages a second per server keeps a self-hosted
    /// server comfortable.
    fn limits(&self, channel: &str, _recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("vc:{channel}"), 5, 1000)]
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        render_calls(recipient, message)
    }

    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(v) = settings(channel) else { return SendOutcome::permanent("not a VoceChat channel").into() };
        let path = match call.chat.strip_prefix("group:") {
            Some(gid) => format!("send_to_group/{gid}"),
            None => format!("send_to_user/{}", call.chat),
        };
        let content_type = call.payload["content_type"].as_str().unwrap_or("text/plain").to_owned();
        let content = call.payload["content"].as_str().unwrap_or_default().to_owned();
        let sent = async {
            let res = ctx
                .http
                .post(format!("{}/api/bot/{path}", channel.api_base()))
                .header("x-api-key", v.api_key.expose())
                .header(http::header::CONTENT_TYPE, content_type)
                .body(content)
                .send()
                .await
                .map_err(transport_error)?;
            classify(res.status(), res.headers())
        };
        sent.await.err().unwrap_or(SendOutcome::Sent).into()
    }
}
