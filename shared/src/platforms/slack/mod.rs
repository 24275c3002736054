//! Slack, in HTTP mode (a socket cannot live in a Lambda function): notifications through the
//! Web API's `chat.postMessage` (<https://api.slack.com/methods/chat.postMessage>) as Block Kit
//! (a `section` in mrkdwn, an `image`, link buttons) with the same text as the fallback; a user
//! id as the channel opens the DM. Answers are read from the body (`"ok": false` with an error
//! code, even with HTTP 200). The receiver (Events API, slash command, interactivity, all on one
//! request URL) is [`receive`]. Slack user ids are unique within one workspace, so users' ids
//! are kept per config (`ids["slack:NAME"]`).

pub mod receive;
pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, Registering, Registration, SendOutcome, Sender, SharedLimit, transport_error};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::markup::{Flavor, char_len, cut_chars, escape_for, split};
use crate::text::message::Message;
use serde::Deserialize;
use serde_json::{Value, json};
pub use settings::SlackSettings;
use std::time::Duration;

/// A `section` block's text is at most 3000 characters (Block Kit reference, "Section block").
pub const MAX_SECTION: usize = 3000;
/// A button's label is at most 75 characters; an `actions` block holds at most 25 elements.
const MAX_LABEL: usize = 75;
const MAX_ELEMENTS: usize = 25;
/// How long to wait when a 429 names no `Retry-After`.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The method name a stored call uses for a POST to an interaction's `response_url` (valid 30
/// minutes, 5 uses; <https://api.slack.com/interactivity/handling#message_responses>). The URL
/// is in the payload's `url`.
pub const RESPONSE_URL: &str = "response_url";

fn settings(channel: &Channel) -> Option<&SlackSettings> {
    match &channel.settings {
        ChannelSettings::Slack(s) => Some(s),
        _ => None,
    }
}

/// The message's title and text in mrkdwn: the title bold, the text as its format says (plain
/// text and HTML escaped, Markdown rendered by [`Flavor::SlackMrkdwn`]).
pub fn mrkdwn(m: &Message) -> String {
    let body = crate::text::markup::format_for(m.format, &m.text, Flavor::SlackMrkdwn);
    match m.title.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(t) => format!("*{}*\n{body}", escape_for(Flavor::SlackMrkdwn, t.trim())),
        None => body,
    }
}

/// A `section` block with `text` in mrkdwn.
pub fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// A button (label cut to Slack's 75 characters): a link when `url` is given, else one the bot
/// reads back by its `value`.
pub fn button(label: &str, action_id: &str, url: Option<&str>, value: Option<&str>) -> Value {
    let mut b = json!({"type": "button", "text": {"type": "plain_text", "text": cut_chars(label, MAX_LABEL), "emoji": true}, "action_id": action_id});
    if let Some(u) = url {
        b["url"] = json!(u);
    }
    if let Some(v) = value {
        b["value"] = json!(v);
    }
    b
}

fn link_buttons(m: &Message) -> Vec<Value> {
    let mut out: Vec<Value> = m.buttons.iter().enumerate().map(|(i, b)| button(&b.text, &format!("link-{i}"), Some(&b.url), None)).collect();
    if let Some(link) = &m.link
        && !m.buttons.iter().any(|b| &b.url == link)
    {
        out.push(button(&crate::text::templates::phrase("bot.open_link", m.locale), "link", Some(link), None));
    }
    out.truncate(MAX_ELEMENTS);
    out
}

/// The `chat.postMessage` calls that send `m` to `chat`: the mrkdwn cut into pieces of at most
/// [`MAX_SECTION`] characters at line boundaries (a line longer than that is cut between
/// characters), one message per piece, each a `section` with the piece as its fallback `text`;
/// the image under the first piece, the buttons (and the link) under the last. Slack has no
/// silent send, so quiet hours hold or send as usual.
pub fn render_calls(chat: &str, m: &Message) -> Vec<ApiCall> {
    let mut pieces = split(&mrkdwn(m), MAX_SECTION, char_len);
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut blocks = Vec::new();
            if !piece.trim().is_empty() {
                blocks.push(section(&piece));
            }
            if let (0, Some(img)) = (i, &m.image) {
                let alt = m.title.as_deref().filter(|t| !t.is_empty()).unwrap_or("image");
                blocks.push(json!({"type": "image", "image_url": img, "alt_text": cut_chars(alt, 2000)}));
            }
            if i == last {
                let buttons = link_buttons(m);
                if !buttons.is_empty() {
                    blocks.push(json!({"type": "actions", "elements": buttons}));
                }
            }
            let text = if piece.trim().is_empty() { m.image.clone().or_else(|| m.link.clone()).unwrap_or_else(|| "-".into()) } else { piece };
            ApiCall::new(
                chat,
                "chat.postMessage",
                json!({"channel": chat, "text": text, "blocks": blocks, "unfurl_links": false, "unfurl_media": false}),
            )
        })
        .collect()
}

#[derive(Deserialize, Default)]
struct ApiAnswer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// Reads a Web API answer. Slack says most things with HTTP 200 and `{"ok": false, "error"}`
/// (<https://api.slack.com/web#evaluating_responses>): a conversation or person that cannot be
/// reached is permanent and marks the recipient unreachable; a token that no longer works is
/// permanent; `ratelimited` and HTTP 429 wait `Retry-After`; Slack's own failures and 5xx are
/// transient.
pub fn classify(status: http::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Result<Value, SendOutcome> {
    if status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(SendOutcome::RateLimited { retry_after: super::retry_after(headers, DEFAULT_WAIT), reason: "Slack 429: ratelimited".into() });
    }
    if status.is_server_error() {
        return Err(SendOutcome::transient(format!("Slack HTTP {}", status.as_u16())));
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let answer: ApiAnswer = parsed.as_ref().and_then(|v| ApiAnswer::deserialize(v).ok()).unwrap_or_default();
    if answer.ok && status.is_success() {
        return Ok(parsed.unwrap_or(Value::Null));
    }
    let Some(error) = answer.error else {
        let o = super::by_status(status, headers);
        return Err(if o == SendOutcome::Sent { SendOutcome::permanent("Slack answered without \"ok\": true") } else { o });
    };
    let reason = format!("Slack {error}");
    Err(match error.as_str() {
        "ratelimited" | "rate_limited" => SendOutcome::RateLimited { retry_after: super::retry_after(headers, DEFAULT_WAIT), reason },
        "channel_not_found" | "not_in_channel" | "is_archived" | "user_not_found" | "user_disabled" | "cannot_dm_bot" | "messages_tab_disabled" => {
            SendOutcome::Permanent { reason, unreachable: true }
        }
        "invalid_auth"
        | "not_authed"
        | "token_revoked"
        | "token_expired"
        | "account_inactive"
        | "no_permission"
        | "missing_scope"
        | "not_allowed_token_type" => SendOutcome::permanent(format!("{reason} (check the channel's bot_token and the app's scopes)")),
        "fatal_error" | "internal_error" | "service_unavailable" | "request_timeout" | "team_added_to_org" => SendOutcome::transient(reason),
        _ => SendOutcome::permanent(reason),
    })
}

/// Whether a stored call may POST to `url` as an interaction's `response_url`: Slack's own
/// (`https://hooks.slack.com/`), or under the config's `api_base` (a proxy, a test double).
/// Nothing else, so a stored call never carries a request elsewhere.
pub fn response_url_allowed(s: &SlackSettings, url: &str) -> bool {
    url.starts_with("https://hooks.slack.com/")
        || s.api_base.as_deref().is_some_and(|base| url.starts_with(&format!("{}/", base.trim_end_matches('/'))))
}

/// One POST to the Web API (`method`) or to a `response_url`, read by [`classify`].
async fn post(ctx: &Context<'_>, channel: &Channel, s: &SlackSettings, method: &str, payload: &Value) -> Result<Value, SendOutcome> {
    let req = if method == RESPONSE_URL {
        let url = payload["url"].as_str().unwrap_or_default();
        if !response_url_allowed(s, url) {
            return Err(SendOutcome::permanent("refused: a response_url must be Slack's (https://hooks.slack.com/)"));
        }
        let mut body = payload.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("url");
        }
        ctx.http.post(url).json(&body)
    } else {
        ctx.http.post(format!("{}/{method}", channel.api_base())).bearer_auth(s.bot_token.expose()).json(payload)
    };
    let res = req.send().await.map_err(transport_error)?;
    let (status, headers) = (res.status(), res.headers().clone());
    if let Some(o) = super::redirected(status, &headers, Some(res.url())) {
        return Err(o);
    }
    let body = super::read_limited(res, super::MAX_ANSWER_BYTES).await?;
    if method == RESPONSE_URL {
        // A response_url answers `ok` as text, or 404 once it expired or was used five times.
        return match status.as_u16() {
            200..=299 => Ok(Value::Null),
            404 => Err(SendOutcome::permanent("Slack response_url expired or used up")),
            _ => Err(super::by_status(status, &headers)),
        };
    }
    classify(status, &headers, &body)
}

/// The Slack platform.
pub struct Slack;

impl Platform for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: SlackSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Slack(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn bind_command(&self, code: &str) -> String {
        format!("/herald bind {code}")
    }

    fn ids_per_config(&self) -> bool {
        true
    }

    fn bot_conf(&self, settings: &ChannelSettings) -> crate::domain::chat::BotConf {
        use crate::domain::chat::BotConf;
        let ChannelSettings::Slack(s) = settings else { return BotConf::plain(ChannelKind::Slack) };
        BotConf::whitelisted(ChannelKind::Slack, true, &s.user_whitelist, &s.admin_whitelist)
    }
}

#[async_trait::async_trait]
impl Sender for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    /// `chat.postMessage` allows about one message a second per conversation, with short bursts
    /// (Slack's "Special" rate tier, <https://api.slack.com/apis/rate-limits>).
    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("slk:{channel}:{recipient}"), 1, 1000)]
    }

    fn addressee(&self, payload: &Value) -> Option<String> {
        payload.get("channel").and_then(Value::as_str).map(str::to_owned)
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        render_calls(recipient, message)
    }

    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let Some(s) = settings(channel) else { return SendOutcome::permanent("not a Slack channel").into() };
        post(ctx, channel, s, &call.method, &call.payload).await.err().unwrap_or(SendOutcome::Sent).into()
    }

    fn registers(&self) -> bool {
        true
    }

    /// Checks the token with `auth.test` and learns the bot's user id and the workspace (so the
    /// receiver ignores the bot's own messages and other workspaces). Slack has no call that
    /// sets an app's request URLs: they are in the app manifest (`infra/slack-app-manifest.yaml`),
    /// and the detail names the URL to put there.
    async fn register(&self, r: &Registering<'_>, channel: &Channel) -> Result<Registration, String> {
        let s = settings(channel).ok_or("not a Slack channel")?;
        let me = post(&r.ctx, channel, s, "auth.test", &json!({})).await.map_err(|o| format!("auth.test: {}", super::describe(&o)))?;
        let user_id = me["user_id"].as_str().filter(|id| settings::is_user_id(id)).map(str::to_owned);
        let team_id = me["team_id"].as_str().map(str::to_owned);
        let learned = (s.bot_user_id != user_id || s.team_id != team_id)
            .then(|| ChannelSettings::Slack(SlackSettings { bot_user_id: user_id.clone(), team_id: team_id.clone(), ..s.clone() }));
        let url = r.public_url.map(|p| format!("{p}/callback/slack?source={}", channel.name));
        Ok(Registration {
            detail: json!({
                "ok": true,
                "team": me["team"], "team_id": team_id, "bot_user_id": user_id,
                "request_url": url,
                "receives": s.signing_secret.is_some(),
                "next": "paste request_url into the app manifest's event, slash-command and interactivity URLs (see the README)",
            }),
            learned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notification::{Button, Format};

    fn message(text: &str, format: Format) -> Message {
        Message {
            notification: "n".into(),
            delivery: "d".into(),
            ty: "announcement".into(),
            title: None,
            text: text.into(),
            format,
            link: None,
            image: None,
            buttons: Vec::new(),
            silent: false,
            locale: crate::domain::Locale::En,
            merged: false,
            created_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn text_is_escaped_for_mrkdwn_and_the_title_is_bold() {
        let mut m = message("a < b && c > d <@U123> <!channel>", Format::Text);
        m.title = Some("R&D <alert>".into());
        let calls = render_calls("U1", &m);
        assert_eq!(calls.len(), 1);
        let want = "*R&amp;D &lt;alert&gt;*\na &lt; b &amp;&amp; c &gt; d &lt;@U123&gt; &lt;!channel&gt;";
        assert_eq!(calls[0].payload["text"], want);
        assert_eq!(calls[0].payload["blocks"][0], section(want));
        assert_eq!(calls[0].payload["channel"], "U1");
    }

    #[test]
    fn markdown_becomes_mrkdwn() {
        let calls = render_calls("C1", &message("**bold** [site](https://example.com/?a=1&b=2)", Format::Markdown));
        assert_eq!(calls[0].payload["text"], "*bold* <https://example.com/?a=1&amp;b=2|site>");
    }

    #[test]
    fn a_long_text_is_cut_into_sections_slack_takes_and_nothing_is_lost() {
        let text: String = (0..400).map(|i| format!("line {i} {}\n", "é".repeat(20))).collect();
        let calls = render_calls("C1", &message(&text, Format::Text));
        assert!(calls.len() > 1);
        for c in &calls {
            let t = c.payload["blocks"][0]["text"]["text"].as_str().unwrap();
            assert!(t.chars().count() <= MAX_SECTION);
        }
        let joined: String = calls.iter().map(|c| c.payload["text"].as_str().unwrap()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn image_goes_first_and_buttons_last() {
        let mut m = message(&"x\n".repeat(2000), Format::Text);
        m.image = Some("https://example.com/a.png".into());
        m.link = Some("https://example.com/".into());
        m.buttons = vec![Button { text: "Renew".into(), url: "https://example.com/renew".into() }];
        let calls = render_calls("C1", &m);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].payload["blocks"][1]["type"], "image");
        let last = calls[1].payload["blocks"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["type"], "actions");
        assert_eq!(last["elements"][0]["url"], "https://example.com/renew");
        assert_eq!(last["elements"][1]["url"], "https://example.com/");
    }

    #[test]
    fn answers_are_read_from_the_body() {
        let ok = http::StatusCode::OK;
        let h = http::HeaderMap::new();
        assert!(classify(ok, &h, br#"{"ok":true,"ts":"1.2"}"#).is_ok());
        let gone = classify(ok, &h, br#"{"ok":false,"error":"channel_not_found"}"#).unwrap_err();
        assert_eq!(gone, SendOutcome::Permanent { reason: "Slack channel_not_found".into(), unreachable: true });
        assert!(matches!(classify(ok, &h, br#"{"ok":false,"error":"invalid_auth"}"#), Err(SendOutcome::Permanent { unreachable: false, .. })));
        let mut wait = http::HeaderMap::new();
        wait.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify(http::StatusCode::TOO_MANY_REQUESTS, &wait, br#"{"ok":false,"error":"ratelimited"}"#),
            Err(SendOutcome::RateLimited { retry_after: Duration::from_secs(7), reason: "Slack 429: ratelimited".into() })
        );
        assert!(matches!(classify(http::StatusCode::BAD_GATEWAY, &h, b"<html>"), Err(SendOutcome::Transient { .. })));
        assert!(matches!(classify(ok, &h, br#"{"ok":false,"error":"internal_error"}"#), Err(SendOutcome::Transient { .. })));
        assert!(matches!(classify(ok, &h, b"not json"), Err(SendOutcome::Permanent { .. })));
    }
}
