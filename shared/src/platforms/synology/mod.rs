//! Synology Chat (<https://kb.synology.com/en-global/DSM/help/Chat/chat_integration>):
//! notifications to a channel through its incoming webhook (`incoming_url`) and to a person
//! through the chat bot (`method=chatbot`, `user_ids`), each a form body `payload=<JSON>` with
//! `text` (links as `<url|label>`) and `file_url` for an image. Synology answers
//! `{"success": false, "error": {...}}` with HTTP 200, so the body is read, never the status
//! alone. The bot's receiver is [`receive`]. User ids are numbers per server, so users' ids are
//! kept per config (`ids["synology:NAME"]`).

pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::notification::Format;
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::markup::{Flavor, char_len, render_markdown, split};
use crate::text::message::{Message, strip_tags};
use serde::Deserialize;
use serde_json::{Value, json};
pub use settings::SynologySettings;
use std::time::Duration;

/// Synology documents no limit; messages are cut at 2000 characters.
pub const MAX_TEXT: usize = 2000;
/// How long to wait after "create post too frequently" (Synology names no wait).
pub const TOO_FREQUENT_WAIT: Duration = Duration::from_secs(10);
/// The chat a channel's incoming webhook posts to.
pub const CHANNEL: &str = "channel";

fn settings(channel: &Channel) -> Option<&SynologySettings> {
    match &channel.settings {
        ChannelSettings::Synology(s) => Some(s),
        _ => None,
    }
}

/// The text of `m` as Synology Chat shows it: title, the text (Markdown and HTML as plain
/// text), the link and the buttons as `<url|label>` lines.
fn text_of(m: &Message) -> String {
    let body = match m.format {
        Format::Text => m.text.clone(),
        Format::Markdown => render_markdown(&m.text, Flavor::Plain),
        Format::Html => strip_tags(&m.text),
    };
    let mut out = match m.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("{t}\n{body}"),
        None => body,
    };
    let label = |s: &str| s.replace(['|', '<', '>'], " ");
    for b in &m.buttons {
        out.push_str(&format!("\n<{}|{}>", b.url, label(&b.text)));
    }
    if let Some(link) = m.link.as_deref().filter(|l| !m.buttons.iter().any(|b| b.url == *l)) {
        out.push_str(&format!("\n<{link}|{}>", label(&crate::text::templates::phrase("bot.open_link", m.locale))));
    }
    out
}

/// The payload of one post to `chat` (`channel`, or a user id for the bot).
pub fn payload(chat: &str, text: &str, file_url: Option<&str>) -> Value {
    let mut p = json!({"text": text});
    if let Some(u) = file_url {
        p["file_url"] = json!(u);
    }
    if let Ok(uid) = chat.parse::<u64>() {
        p["user_ids"] = json!([uid]);
    }
    p
}

/// The posts that send `m` to `chat`: the text in pieces of at most [`MAX_TEXT`] characters at
/// line boundaries, the image (`file_url`) with the first.
pub fn render_calls(chat: &str, m: &Message) -> Vec<ApiCall> {
    let mut pieces = split(&text_of(m), MAX_TEXT, char_len);
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    pieces.iter().enumerate().map(|(i, p)| ApiCall::new(chat, "post", payload(chat, p, if i == 0 { m.image.as_deref() } else { None }))).collect()
}

#[derive(Deserialize, Default)]
struct ApiAnswer {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    errors: Value,
}

/// Reads Synology Chat's answer: `success` says whether it was taken (HTTP 200 either way); "create
/// post too frequently" (code 411) waits [`TOO_FREQUENT_WAIT`]; a 429 its `Retry-After`; a 5xx is
/// transient; anything else refused is permanent.
pub fn classify(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Result<(), SendOutcome> {
    if let Some(o) = super::redirected(status, headers, None) {
        return Err(o);
    }
    if !status.is_success() {
        // An HTTP error here is the NAS's (a wrong path, a proxy), never the person's: nobody is
        // marked unreachable for it (`by_status` would for a 404).
        return Err(match super::by_status(status, headers) {
            SendOutcome::Transient { reason } => SendOutcome::transient(format!("Synology {reason}")),
            SendOutcome::RateLimited { retry_after, reason } => SendOutcome::RateLimited { retry_after, reason: format!("Synology {reason}") },
            SendOutcome::Permanent { reason, .. } => SendOutcome::permanent(format!("Synology {reason}")),
            other => other,
        });
    }
    let answer: ApiAnswer = serde_json::from_slice(body).unwrap_or_default();
    if answer.success {
        return Ok(());
    }
    let Some(e) = answer.error else { return Err(SendOutcome::permanent("Synology answered without \"success\": true")) };
    let said = match &e.errors {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let reason = format!("Synology {}: {said}", e.code.unwrap_or_default());
    Err(if e.code == Some(411) || said.contains("too frequent") {
        SendOutcome::RateLimited { retry_after: TOO_FREQUENT_WAIT, reason }
    } else if said.contains("invalid token") || said.contains("Unauthorized") {
        SendOutcome::permanent(format!("{reason} (check the channel's tokens)"))
    } else if said.contains("user") && said.contains("not") {
        SendOutcome::Permanent { reason, unreachable: true }
    } else {
        SendOutcome::permanent(reason)
    })
}

/// The Synology Chat platform.
pub struct Synology;

impl Platform for Synology {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Synology
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: SynologySettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Synology(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn ids_per_config(&self) -> bool {
        true
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base", "incoming_url"]
    }

    /// The `token` inside `incoming_url` (a platform's answer may quote the URL's query): as
    /// written, decoded, and without Synology's quotes.
    fn also_redact(&self, settings: &ChannelSettings) -> Vec<String> {
        let ChannelSettings::Synology(s) = settings else { return Vec::new() };
        let Some(url) = s.incoming_url.as_ref().and_then(|u| reqwest::Url::parse(u.expose()).ok()) else { return Vec::new() };
        let mut out = Vec::new();
        for (k, v) in url.query_pairs() {
            if k == "token" {
                out.push(v.trim_matches('"').to_owned());
                out.push(v.into_owned());
            }
        }
        if let Some(raw) = url.query().and_then(|q| q.split('&').find_map(|p| p.strip_prefix("token="))) {
            out.push(raw.to_owned());
        }
        out
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        use crate::domain::chat::BotConf;
        let ChannelSettings::Synology(s) = settings else { return BotConf::plain(ChannelKind::Synology) };
        BotConf::whitelisted(ChannelKind::Synology, false, &s.user_whitelist, &s.admin_whitelist)
    }
}

#[async_trait::async_trait]
impl Sender for Synology {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Synology
    }

    /// Synology documents no limit but refuses posts that come "too frequently": one post a
    /// second per server, so a daily report to hundreds of people goes out steadily instead of
    /// in a burst that trips it.
    fn limits(&self, channel: &str, _recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("syn:{channel}"), 1, 1000)]
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        render_calls(recipient, message)
    }

    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(s) = settings(channel) else { return SendOutcome::permanent("not a Synology Chat channel").into() };
        let url = if call.chat == CHANNEL {
            match &s.incoming_url {
                Some(u) => u.expose().to_owned(),
                None => return SendOutcome::permanent("this config has no incoming_url to post to the channel").into(),
            }
        } else {
            match (&s.bot_token, &s.api_base) {
                (Some(token), Some(base)) => {
                    let token: String = form_urlencoded::byte_serialize(token.expose().as_bytes()).collect();
                    format!("{}/webapi/entry.cgi?api=SYNO.Chat.External&method=chatbot&version=2&token=%22{token}%22", base.trim_end_matches('/'))
                }
                _ => return SendOutcome::permanent("this config has no bot_token and api_base to message a user").into(),
            }
        };
        let body = form_urlencoded::Serializer::new(String::new()).append_pair("payload", &call.payload.to_string()).finish();
        let sent = async {
            let res = ctx
                .http
                .post(url)
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(transport_error)?;
            let (status, headers) = (res.status(), res.headers().clone());
            let bytes = super::read_limited(res, super::MAX_ANSWER_BYTES).await?;
            classify(status, &headers, &bytes)
        };
        sent.await.err().unwrap_or(SendOutcome::Sent).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_success() {
        let ok = http::StatusCode::OK;
        let h = http::HeaderMap::new();
        assert!(classify(ok, &h, br#"{"success":true}"#).is_ok());
        assert_eq!(
            classify(ok, &h, br#"{"error":{"code":411,"errors":"create post too frequently"},"success":false}"#),
            Err(SendOutcome::RateLimited { retry_after: TOO_FREQUENT_WAIT, reason: "Synology 411: create post too frequently".into() })
        );
        assert!(matches!(
            classify(ok, &h, br#"{"error":{"code":403,"errors":"invalid token"},"success":false}"#),
            Err(SendOutcome::Permanent { .. })
        ));
        assert!(matches!(classify(http::StatusCode::BAD_GATEWAY, &h, b""), Err(SendOutcome::Transient { .. })));
        assert!(matches!(classify(ok, &h, b"<html>"), Err(SendOutcome::Permanent { .. })));
    }

    #[test]
    fn a_user_gets_the_bots_payload_and_links_read_as_synology_links() {
        let m = Message {
            notification: "n".into(),
            delivery: "d".into(),
            ty: "account".into(),
            title: Some("Expiring".into()),
            text: "**soon**".into(),
            format: Format::Markdown,
            link: Some("https://example.com/renew".into()),
            image: Some("https://example.com/a.png".into()),
            buttons: Vec::new(),
            silent: false,
            locale: crate::domain::Locale::En,
            merged: false,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        };
        let calls = render_calls("5", &m);
        assert_eq!(
            calls[0].payload,
            json!({"text": "Expiring\nsoon\n<https://example.com/renew|Open>", "file_url": "https://example.com/a.png", "user_ids": [5]})
        );
        assert_eq!(render_calls(CHANNEL, &m)[0].payload.get("user_ids"), None);
    }
}
