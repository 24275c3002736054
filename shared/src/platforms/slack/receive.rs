//! Slack's request URL, in HTTP mode (<https://api.slack.com/apis/http>): one URL takes the
//! three kinds of request Slack signs the same way:
//! - the Events API (JSON): `url_verification` is answered with its challenge; an
//!   `event_callback` with a `message` in a DM or an `app_mention` goes to the bot, deduplicated
//!   by `event_id` (Slack's retries carry the same one), and is answered through the queue;
//! - a slash command (`/herald <command> [args]`, form fields): answered in the response body,
//!   ephemeral (only the person sees it), deduplicated by `trigger_id`;
//! - interactivity (`payload=` with `block_actions`): a button press, acknowledged with an
//!   empty 200, its message updated through the interaction's `response_url` from the queue.
//!
//! Events written by bots (Herald's own included) are ignored, and so are events from another
//! workspace than the config's. `<@U…>` mentions are dropped before the text is read, and a
//! first word naming a command is read as that command (`bind CODE` in a DM, where a leading
//! `/` would start one of Slack's own commands).

use super::{RESPONSE_URL, SlackSettings, button, section};
use crate::domain::chat::{Action, Button, Inbound, Input, Press, Sender, command_line};
use crate::domain::{Format, Invalid};
use crate::http::{Request, json as json_response};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{ApiCall, Parsed, Receiver, Reply, Unverified, fresh};
use crate::text::markup::{Flavor, cut_chars, escape_for, format_for};
use serde::Deserialize;
use serde_json::{Value, json};

/// The header with the request's Unix time, in seconds.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The header with the request's signature, `v0=` and the hex HMAC.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// A request older (or newer) than this many seconds is refused, as Slack recommends.
pub const WINDOW_SECS: i64 = 300;

/// Slack's v0 signature of `body` sent at `timestamp`: `v0=` + hex(HMAC-SHA256(signing secret,
/// `v0:{timestamp}:{body}`)) (<https://api.slack.com/authentication/verifying-requests-from-slack>).
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(format!("v0:{timestamp}:").as_bytes());
    ctx.update(body);
    format!("v0={}", hex::encode(ctx.sign().as_ref()))
}

/// Checks a request's `v0` signature in constant time (aws-lc-rs `hmac::verify`), and that its
/// timestamp is within [`WINDOW_SECS`] of `now`.
pub fn verify_signature(secret: &str, timestamp: &str, presented: &str, body: &[u8], now: jiff::Timestamp) -> bool {
    let Some(tag) = presented.strip_prefix("v0=").and_then(|h| hex::decode(h).ok()) else { return false };
    if !fresh(timestamp, now, WINDOW_SECS) {
        return false;
    }
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut msg = Vec::with_capacity(body.len() + 16);
    msg.extend_from_slice(format!("v0:{}:", timestamp.trim()).as_bytes());
    msg.extend_from_slice(body);
    aws_lc_rs::hmac::verify(&key, &msg, &tag).is_ok()
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: String,
    user: IdName,
    #[serde(default)]
    team: Option<IdName>,
    #[serde(default)]
    channel: Option<IdName>,
    #[serde(default)]
    container: Option<Container>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    trigger_id: Option<String>,
    #[serde(default)]
    actions: Vec<ActionPayload>,
}

#[derive(Debug, Deserialize)]
struct IdName {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    locale: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    message_ts: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    is_ephemeral: bool,
}

#[derive(Debug, Deserialize)]
struct ActionPayload {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// The prefix of the `action_id` of the bot's own buttons (a notification's link buttons are
/// `link…`, and their presses are only acknowledged).
const BOT_ACTION: &str = "hb-";

/// Text from Slack as the bot reads it: `<@U…>` mentions dropped, Slack's three escapes
/// undone, and a first word that names a command given its `/`.
pub fn command_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    command_line(&out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn is_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Whether a request from `team` is for this config (any, until registration learned its
/// workspace).
fn our_team(s: &SlackSettings, team: Option<&str>) -> bool {
    s.team_id.as_deref().is_none_or(|ours| team == Some(ours))
}

fn dedup(team: Option<&str>, id: &str) -> String {
    format!("{}:{id}", team.unwrap_or("-"))
}

fn parse_event(s: &SlackSettings, body: &[u8]) -> Result<Parsed, Invalid> {
    let env: Envelope = serde_json::from_slice(body).map_err(|_| Invalid::new("", "not a Slack Events API request"))?;
    if env.kind == "url_verification" {
        let challenge = env.challenge.ok_or_else(|| Invalid::new("challenge", "is missing"))?;
        return Ok(Parsed::Challenge(json_response(http::StatusCode::OK, &json!({"challenge": challenge}))));
    }
    let (Some(event), Some(event_id)) = (env.event, env.event_id.as_deref()) else { return Ok(Parsed::Ignored) };
    if env.kind != "event_callback" || !our_team(s, env.team_id.as_deref()) {
        return Ok(Parsed::Ignored);
    }
    let from_bot = event.bot_id.is_some() || event.subtype.is_some() || event.user.is_none() || event.user == s.bot_user_id;
    let (Some(user), Some(chat), Some(text)) = (event.user, event.channel, event.text) else { return Ok(Parsed::Ignored) };
    let dm = event.channel_type.as_deref() == Some("im") || chat.starts_with('D');
    let group = match event.kind.as_str() {
        "message" if dm => false,
        // A mention in a DM also arrives as a `message`; it is answered once, from that.
        "app_mention" if !dm => true,
        _ => return Ok(Parsed::Ignored),
    };
    if from_bot {
        return Ok(Parsed::Ignored);
    }
    let inbound = Inbound { chat, group, from: Sender { id: user.clone(), name: user, language: None }, input: Input::Text(command_text(&text)) };
    Ok(Parsed::Inbound { dedup: dedup(env.team_id.as_deref(), event_id), inbound })
}

fn parse_command(s: &SlackSettings, fields: &[(String, String)]) -> Result<Parsed, Invalid> {
    let need = |name: &str| field(fields, name).filter(|v| !v.is_empty()).ok_or_else(|| Invalid::new(name, "is missing"));
    let (user, chat, trigger) = (need("user_id")?, need("channel_id")?, need("trigger_id")?);
    let team = field(fields, "team_id");
    if !our_team(s, team) {
        return Ok(Parsed::Ignored);
    }
    let text = command_text(field(fields, "text").unwrap_or_default());
    let text = if text.is_empty() {
        "/help".to_owned()
    } else if text.starts_with('/') {
        text
    } else {
        format!("/{text}")
    };
    let from = Sender { id: user.to_owned(), name: field(fields, "user_name").unwrap_or(user).to_owned(), language: None };
    // The answer is ephemeral, for the person alone: read as a private chat wherever it is typed.
    let inbound = Inbound { chat: chat.to_owned(), group: false, from, input: Input::Text(text) };
    Ok(Parsed::Inbound { dedup: dedup(team, trigger), inbound })
}

fn parse_interaction(s: &SlackSettings, payload: &str) -> Result<Parsed, Invalid> {
    let i: Interaction = serde_json::from_str(payload).map_err(|_| Invalid::new("payload", "is not a Slack interaction payload"))?;
    let team = i.team.as_ref().map(|t| t.id.as_str());
    if i.kind != "block_actions" || !our_team(s, team) {
        return Ok(Parsed::Ignored);
    }
    let Some(action) = i.actions.first().filter(|a| a.action_id.starts_with(BOT_ACTION)) else { return Ok(Parsed::Ignored) };
    let container = i.container.as_ref();
    let Some(chat) = i.channel.as_ref().map(|c| c.id.clone()).or_else(|| container.and_then(|c| c.channel_id.clone())) else {
        return Ok(Parsed::Ignored);
    };
    let Some(trigger) = i.trigger_id.as_deref() else { return Ok(Parsed::Ignored) };
    let ephemeral = container.is_some_and(|c| c.is_ephemeral);
    let from = Sender {
        id: i.user.id.clone(),
        name: i.user.username.clone().or(i.user.name.clone()).unwrap_or_else(|| i.user.id.clone()),
        language: i.user.locale.clone(),
    };
    let inbound = Inbound {
        group: !ephemeral && !chat.starts_with('D'),
        chat,
        from,
        // The press is answered through its response_url: it is the button's id here.
        input: Input::Button {
            id: i.response_url.unwrap_or_default(),
            data: action.value.clone().unwrap_or_default(),
            message: container.and_then(|c| c.message_ts.clone()),
        },
    };
    Ok(Parsed::Inbound { dedup: dedup(team, trigger), inbound })
}

/// A bot reply as Slack message content: the text in mrkdwn in a section, the image as an image
/// block, each row of buttons an `actions` block (a data button carries the bot's data as its
/// `value`; a URL one opens it).
fn content(text: &str, format: Format, image: Option<&str>, buttons: &[Vec<Button>]) -> Value {
    let text = cut_chars(&format_for(format, text, Flavor::SlackMrkdwn), super::MAX_SECTION);
    let mut blocks = vec![section(&text)];
    if let Some(i) = image {
        blocks.push(json!({"type": "image", "image_url": i, "alt_text": "image"}));
    }
    for (r, row) in buttons.iter().enumerate() {
        let elements: Vec<Value> = row
            .iter()
            .enumerate()
            .map(|(c, b)| {
                let id = format!("{BOT_ACTION}{r}-{c}");
                match &b.press {
                    Press::Data(d) => button(&b.label, &id, None, Some(d)),
                    Press::Url(u) => button(&b.label, &id, Some(u), None),
                }
            })
            .collect();
        blocks.push(json!({"type": "actions", "elements": elements}));
    }
    json!({"text": text, "blocks": blocks})
}

fn reply_content(a: &Action) -> Value {
    match a {
        Action::Reply { text, format, image, buttons, .. } => content(text, *format, image.as_deref(), buttons),
        _ => Value::Null,
    }
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    base
}

/// How the bot's answers reach the person: through the Web API (events), ephemeral through the
/// response (slash commands) or an interaction's `response_url` (button presses).
enum Via<'a> {
    Api,
    Command { response_url: Option<&'a str> },
    Interaction { response_url: &'a str },
}

/// The bot's actions as Slack calls; the first reply of a slash command as the response body.
fn calls(inbound: &Inbound, actions: &[Action], via: &Via) -> Reply {
    let chat = inbound.chat.as_str();
    let mut out = Reply::default();
    let to_url = |url: &str, body: Value| ApiCall::new(chat, RESPONSE_URL, with(json!({"url": url}), body));
    for a in actions {
        match (a, via) {
            (Action::Reply { edit, .. }, Via::Interaction { response_url }) => {
                let how =
                    if edit.is_some() { json!({"replace_original": true}) } else { json!({"response_type": "ephemeral", "replace_original": false}) };
                out.queued.push(to_url(response_url, with(how, reply_content(a))));
            }
            (Action::Reply { .. }, Via::Command { response_url }) => {
                let body = with(json!({"response_type": "ephemeral"}), reply_content(a));
                match (&out.response, response_url) {
                    (None, _) => out.response = Some(json_response(http::StatusCode::OK, &body)),
                    (Some(_), Some(url)) => out.queued.push(to_url(url, body)),
                    (Some(_), None) => {}
                }
            }
            (Action::Reply { edit: Some(ts), .. }, Via::Api) => {
                out.queued.push(ApiCall::new(chat, "chat.update", with(json!({"channel": chat, "ts": ts}), reply_content(a))));
            }
            (Action::Reply { edit: None, .. }, Via::Api) => {
                out.queued.push(ApiCall::new(chat, "chat.postMessage", with(json!({"channel": chat}), reply_content(a))));
            }
            (Action::Tell { chat: to, text }, _) => {
                out.queued.push(ApiCall::new(to, "chat.postMessage", json!({"channel": to, "text": escape_for(Flavor::SlackMrkdwn, text)})));
            }
            (Action::Answer { text: Some(t), .. }, Via::Interaction { response_url }) => {
                let body = json!({"response_type": "ephemeral", "replace_original": false, "text": escape_for(Flavor::SlackMrkdwn, t)});
                out.queued.push(to_url(response_url, body));
            }
            (Action::Answer { text: Some(t), .. }, _) => out.queued.push(ApiCall::new(
                chat,
                "chat.postEphemeral",
                json!({"channel": chat, "user": inbound.from.id, "text": escape_for(Flavor::SlackMrkdwn, t)}),
            )),
            // The press was acknowledged by the empty 200; nothing more to stop.
            (Action::Answer { text: None, .. }, _) => {}
            // Removing members takes admin scopes a bot does not have: group rules are Telegram's.
            (Action::Remove { .. }, _) => {}
            (Action::Leave, _) => out.queued.push(ApiCall::new(chat, "conversations.leave", json!({"channel": chat}))),
        }
    }
    out
}

/// Slack's receiver.
pub struct SlackReceiver;

impl Receiver for SlackReceiver {
    fn verify(&self, channel: &Channel, req: &Request, now: jiff::Timestamp) -> Result<(), Unverified> {
        let ChannelSettings::Slack(s) = &channel.settings else { return Err(Unverified::Unauthenticated("not a Slack channel")) };
        let Some(secret) = &s.signing_secret else { return Err(Unverified::Unauthenticated("the config has no signing_secret")) };
        let (ts, sig) = (req.header(TIMESTAMP_HEADER).unwrap_or_default(), req.header(SIGNATURE_HEADER).unwrap_or_default());
        if verify_signature(secret.expose(), ts, sig, &req.body, now) {
            Ok(())
        } else {
            Err(Unverified::Unauthenticated("no, a wrong or a stale signature"))
        }
    }

    fn parse(&self, channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        let ChannelSettings::Slack(s) = &channel.settings else { return Err(Invalid::new("", "not a Slack channel")) };
        if is_json(&req.body) {
            return parse_event(s, &req.body);
        }
        let fields = form(&req.body);
        if let Some(payload) = field(&fields, "payload") {
            return parse_interaction(s, payload);
        }
        if field(&fields, "command").is_some() {
            return parse_command(s, &fields);
        }
        Err(Invalid::new("", "not a Slack event, slash command or interaction"))
    }

    fn reply(&self, _channel: &Channel, req: &Request, inbound: &Inbound, actions: Vec<Action>, _now: jiff::Timestamp) -> Reply {
        let fields;
        let via = match &inbound.input {
            Input::Button { id, .. } if !id.is_empty() => Via::Interaction { response_url: id },
            _ if !is_json(&req.body) => {
                fields = form(&req.body);
                Via::Command { response_url: field(&fields, "response_url") }
            }
            _ => Via::Api,
        };
        calls(inbound, &actions, &via)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn the_official_example_signs_and_verifies_at_its_own_time() {
        assert_eq!(signature(SECRET, TS, BODY.as_bytes()), SIG);
        assert!(verify_signature(SECRET, TS, SIG, BODY.as_bytes(), at(1531420618 + 299)));
        // Stale, from the future, altered, another secret, no prefix: refused.
        assert!(!verify_signature(SECRET, TS, SIG, BODY.as_bytes(), at(1531420618 + 301)));
        assert!(!verify_signature(SECRET, TS, SIG, BODY.as_bytes(), at(1531420618 - 301)));
        assert!(!verify_signature(SECRET, TS, SIG, format!("{BODY}&x=1").as_bytes(), at(1531420618)));
        assert!(!verify_signature("another-secret", TS, SIG, BODY.as_bytes(), at(1531420618)));
        assert!(!verify_signature(SECRET, TS, &SIG[3..], BODY.as_bytes(), at(1531420618)));
        assert!(!verify_signature(SECRET, "1531420619", SIG, BODY.as_bytes(), at(1531420618)));
        // Timestamps at the ends of the range are stale, not a panic.
        for ts in ["-9223372036854775808", "9223372036854775807", "99999999999999999999"] {
            assert!(!verify_signature(SECRET, ts, SIG, BODY.as_bytes(), at(1531420618)), "{ts}");
        }
    }

    #[test]
    fn mentions_are_dropped_and_a_bare_command_word_gets_its_slash() {
        assert_eq!(command_text("<@U0BOT> bind AbC-123"), "/bind AbC-123");
        assert_eq!(command_text("CHECKIN"), "/CHECKIN");
        assert_eq!(command_text("/my"), "/my");
        assert_eq!(command_text("hello <@U0BOT|herald> there"), "hello  there");
        assert_eq!(command_text("broadcast a &lt; b &amp; c"), "/broadcast a < b & c");
        assert_eq!(command_text("<@U0BOT"), "<@U0BOT");
    }

    fn settings() -> SlackSettings {
        SlackSettings { bot_user_id: Some("U0BOT".into()), team_id: Some("T1".into()), ..Default::default() }
    }

    fn event(e: Value) -> Vec<u8> {
        json!({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": e}).to_string().into_bytes()
    }

    #[test]
    fn dms_and_mentions_reach_the_bot_and_bots_do_not() {
        let s = settings();
        let dm = parse_event(&s, &event(json!({"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "my"}))).unwrap();
        let Parsed::Inbound { dedup, inbound } = dm else { panic!("{dm:?}") };
        assert_eq!((dedup.as_str(), inbound.chat.as_str(), inbound.group, &inbound.input), ("T1:Ev1", "D1", false, &Input::Text("/my".into())));
        let mention = parse_event(&s, &event(json!({"type": "app_mention", "channel": "C1", "user": "U1", "text": "<@U0BOT> ping"}))).unwrap();
        assert!(matches!(mention, Parsed::Inbound { inbound: Inbound { group: true, .. }, .. }), "{mention:?}");
        for ignored in [
            json!({"type": "message", "channel_type": "im", "channel": "D1", "user": "U0BOT", "text": "my"}),
            json!({"type": "message", "channel_type": "im", "channel": "D1", "bot_id": "B1", "user": "U2", "text": "my"}),
            json!({"type": "message", "subtype": "message_changed", "channel_type": "im", "channel": "D1", "user": "U1", "text": "my"}),
            json!({"type": "message", "channel_type": "channel", "channel": "C1", "user": "U1", "text": "my"}),
            json!({"type": "app_mention", "channel": "D1", "user": "U1", "text": "<@U0BOT> my"}),
            json!({"type": "member_joined_channel", "channel": "C1", "user": "U1"}),
        ] {
            assert!(matches!(parse_event(&s, &event(ignored.clone())).unwrap(), Parsed::Ignored), "{ignored}");
        }
        let other_team = json!({"type": "event_callback", "team_id": "T9", "event_id": "Ev1", "event": {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "my"}});
        assert!(matches!(parse_event(&s, other_team.to_string().as_bytes()).unwrap(), Parsed::Ignored));
    }

    #[test]
    fn url_verification_is_answered_with_its_challenge() {
        let body =
            br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let Parsed::Challenge(r) = parse_event(&settings(), body).unwrap() else { panic!() };
        assert_eq!(serde_json::from_slice::<Value>(r.body()).unwrap(), json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}));
    }

    #[test]
    fn a_slash_command_is_answered_in_the_response_and_more_through_its_response_url() {
        let fields = form(b"team_id=T1&channel_id=C1&user_id=U1&user_name=ada&command=%2Fherald&text=bind+X&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1&trigger_id=9.9");
        let Parsed::Inbound { dedup, inbound } = parse_command(&settings(), &fields).unwrap() else { panic!() };
        assert_eq!((dedup.as_str(), &inbound.input), ("T1:9.9", &Input::Text("/bind X".into())));
        let actions = vec![Action::reply("a < b"), Action::reply("second")];
        let r = calls(&inbound, &actions, &Via::Command { response_url: Some("https://hooks.slack.com/commands/1") });
        let body: Value = serde_json::from_slice(r.response.unwrap().body()).unwrap();
        assert_eq!((body["response_type"].as_str(), body["text"].as_str()), (Some("ephemeral"), Some("a &lt; b")));
        assert_eq!(r.queued.len(), 1);
        assert_eq!((r.queued[0].method.as_str(), r.queued[0].payload["url"].as_str()), (RESPONSE_URL, Some("https://hooks.slack.com/commands/1")));
    }

    #[test]
    fn a_button_press_edits_its_message_through_the_response_url() {
        let payload = json!({"type": "block_actions", "user": {"id": "U1", "username": "ada"}, "team": {"id": "T1"}, "channel": {"id": "D1"},
            "container": {"message_ts": "1.5", "channel_id": "D1", "is_ephemeral": true}, "response_url": "https://hooks.slack.com/actions/1",
            "trigger_id": "7.7", "actions": [{"action_id": "hb-0-0", "value": "m:my"}]});
        let Parsed::Inbound { inbound, .. } = parse_interaction(&settings(), &payload.to_string()).unwrap() else { panic!() };
        let Input::Button { id, data, message } = &inbound.input else { panic!() };
        assert_eq!((id.as_str(), data.as_str(), message.as_deref()), ("https://hooks.slack.com/actions/1", "m:my", Some("1.5")));
        let actions = vec![
            Action::Answer { id: id.clone(), text: None, alert: false },
            Action::buttons("hi", vec![vec![Button::data("Back", "m:")]], Some("1.5".into())),
        ];
        let r = calls(&inbound, &actions, &Via::Interaction { response_url: id });
        assert!(r.response.is_none());
        assert_eq!(r.queued.len(), 1);
        let p = &r.queued[0].payload;
        assert_eq!((p["replace_original"].as_bool(), p["blocks"][1]["elements"][0]["value"].as_str()), (Some(true), Some("m:")));
        // A notification's link button is only acknowledged.
        let link = json!({"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"}, "channel": {"id": "D1"}, "trigger_id": "1", "actions": [{"action_id": "link-0"}]});
        assert!(matches!(parse_interaction(&settings(), &link.to_string()).unwrap(), Parsed::Ignored));
    }
}
