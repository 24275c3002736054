//! Discord's interactions endpoint
//! (<https://discord.com/developers/docs/interactions/receiving-and-responding>): every request
//! is checked with Ed25519 over `X-Signature-Timestamp ‖ raw body` under the application's public
//! key (a bad or missing signature, or an unreadable key, is `401`: Discord sends bad ones on
//! purpose and drops an endpoint that takes them). `PING` is answered `PONG`; slash commands
//! (`APPLICATION_COMMAND`) and button presses (`MESSAGE_COMPONENT`) go to the bot, once per
//! interaction id. The bot's answer is ready while the request is open, so it is the response
//! itself (a message, ephemeral; or the pressed message updated in place); anything more goes
//! through the queue as follow-ups with the interaction's token (valid 15 minutes).

use super::{EPHEMERAL, FOLLOWUP, MESSAGE, components, no_mentions};
use crate::domain::Format;
use crate::domain::Invalid;
use crate::domain::chat::{Action, Button, Inbound, Input, Sender};
use crate::http::{Request, json as json_response};
use crate::platforms::config::{Channel, ChannelSettings};
use crate::platforms::{ApiCall, Parsed, Receiver, Reply, Unverified, fresh};
use crate::text::markup::{Flavor, escape_for, format_for};
use serde::Deserialize;
use serde_json::{Value, json};

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Discord sets no window; Herald refuses a signed request more than this many seconds old, so a
/// captured one cannot be played again later (repeats inside it are dropped by interaction id).
pub const WINDOW_SECS: i64 = 300;

/// Whether `signature` (hex) is the Ed25519 signature of `timestamp ‖ body` under `public_key`
/// (hex), checked with aws-lc-rs, and `timestamp` is within [`WINDOW_SECS`] of `now`.
pub fn verify_signature(public_key: &str, timestamp: &str, signature: &str, body: &[u8], now: jiff::Timestamp) -> bool {
    let (Ok(key), Ok(sig)) = (hex::decode(public_key), hex::decode(signature)) else { return false };
    if key.len() != 32 || sig.len() != 64 || !fresh(timestamp, now, WINDOW_SECS) {
        return false;
    }
    let mut msg = Vec::with_capacity(timestamp.len() + body.len());
    msg.extend_from_slice(timestamp.as_bytes());
    msg.extend_from_slice(body);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &key).verify(&msg, &sig).is_ok()
}

#[derive(Debug, Deserialize)]
struct Interaction {
    id: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    message: Option<IdOnly>,
}

#[derive(Debug, Deserialize)]
struct Member {
    user: User,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    global_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: Vec<CommandOption>,
    #[serde(default)]
    custom_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommandOption {
    #[serde(default)]
    value: Value,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

const PING: u8 = 1;
const APPLICATION_COMMAND: u8 = 2;
const MESSAGE_COMPONENT: u8 = 3;

/// Response types (`InteractionCallbackType`).
const PONG: u8 = 1;
const CHANNEL_MESSAGE: u8 = 4;
const DEFERRED_UPDATE: u8 = 6;
const UPDATE_MESSAGE: u8 = 7;

/// The interaction's token, kept in a button's id so the answer can follow up on it.
fn token_of(inbound: &Inbound) -> Option<&str> {
    match &inbound.input {
        Input::Button { id, .. } => Some(id.as_str()),
        _ => None,
    }
}

fn parse(body: &[u8]) -> Result<Parsed, Invalid> {
    let i: Interaction = serde_json::from_slice(body).map_err(|_| Invalid::new("", "not a Discord interaction"))?;
    if i.kind == PING {
        return Ok(Parsed::Challenge(json_response(http::StatusCode::OK, &json!({"type": PONG}))));
    }
    let Some(user) = i.member.map(|m| m.user).or(i.user) else { return Ok(Parsed::Ignored) };
    let (Some(chat), Some(token), Some(data)) = (i.channel_id, i.token, i.data) else { return Ok(Parsed::Ignored) };
    let input = match i.kind {
        APPLICATION_COMMAND => {
            let Some(name) = data.name else { return Ok(Parsed::Ignored) };
            let args: Vec<String> =
                data.options.iter().filter_map(|o| o.value.as_str().map(str::to_owned).or_else(|| o.value.as_i64().map(|n| n.to_string()))).collect();
            Input::Text(format!("/{name} {}", args.join(" ")).trim_end().to_owned())
        }
        MESSAGE_COMPONENT => Input::Button { id: token, data: data.custom_id.unwrap_or_default(), message: i.message.map(|m| m.id) },
        _ => return Ok(Parsed::Ignored),
    };
    let from = Sender { name: user.global_name.or(user.username).unwrap_or_else(|| user.id.clone()), id: user.id, language: i.locale };
    // Answers are ephemeral (only the person sees them): read as a private chat wherever asked.
    let inbound = Inbound { chat, group: false, from, input };
    Ok(Parsed::Inbound { dedup: i.id, inbound })
}

/// A bot reply as message data: its text in Discord's Markdown, its image as an embed, its
/// buttons as components.
fn data(text: &str, format: Format, image: Option<&str>, buttons: &[Vec<Button>], ephemeral: bool) -> Value {
    let content = crate::text::markup::cut_chars(&format_for(format, text, Flavor::Markdown), super::MAX_CONTENT);
    let mut d = json!({"content": content, "allowed_mentions": no_mentions(), "components": components(buttons)});
    if let Some(i) = image {
        d["embeds"] = json!([{"image": {"url": i}}]);
    }
    if ephemeral {
        d["flags"] = json!(EPHEMERAL);
    }
    d
}

fn plain(text: &str, ephemeral: bool) -> Value {
    data(text, Format::Text, None, &[], ephemeral)
}

/// The first of `rest` that is `wanted`, taken out.
fn take<'a>(rest: &mut Vec<&'a Action>, wanted: impl Fn(&Action) -> bool) -> Option<&'a Action> {
    rest.iter().position(|a| wanted(a)).map(|i| rest.remove(i))
}

/// The bot's actions as the interaction's response and follow-ups: for a button press, an edit
/// of its message is the response (`UPDATE_MESSAGE`), else its first answer (an ephemeral
/// message), else a silent acknowledgement (`DEFERRED_UPDATE_MESSAGE`); for a command, its first
/// reply. The rest are follow-ups (ephemeral), and a word to another chat is a message there.
fn respond(inbound: &Inbound, token: &str, actions: &[Action]) -> Reply {
    let chat = inbound.chat.as_str();
    let mut rest: Vec<&Action> = actions.iter().collect();
    let is_button = matches!(inbound.input, Input::Button { .. });
    let first = if is_button {
        take(&mut rest, |a| matches!(a, Action::Reply { edit: Some(_), .. }))
            .or_else(|| take(&mut rest, |a| matches!(a, Action::Answer { text: Some(_), .. } | Action::Reply { .. })))
    } else {
        take(&mut rest, |a| matches!(a, Action::Reply { .. } | Action::Answer { text: Some(_), .. }))
    };
    let response = match first {
        Some(Action::Reply { text, format, image, buttons, edit: Some(_) }) if is_button => {
            json!({"type": UPDATE_MESSAGE, "data": data(text, *format, image.as_deref(), buttons, false)})
        }
        Some(Action::Reply { text, format, image, buttons, .. }) => {
            json!({"type": CHANNEL_MESSAGE, "data": data(text, *format, image.as_deref(), buttons, true)})
        }
        Some(Action::Answer { text: Some(t), .. }) => json!({"type": CHANNEL_MESSAGE, "data": plain(t, true)}),
        _ if is_button => json!({"type": DEFERRED_UPDATE}),
        _ => json!({"type": CHANNEL_MESSAGE, "data": plain("✓", true)}),
    };
    let followup = |d: Value| {
        let mut p = d;
        p["token"] = json!(token);
        ApiCall::new(chat, FOLLOWUP, p)
    };
    let mut queued = Vec::new();
    for a in rest {
        match a {
            Action::Reply { text, format, image, buttons, .. } => queued.push(followup(data(text, *format, image.as_deref(), buttons, true))),
            Action::Answer { text: Some(t), .. } => queued.push(followup(plain(t, true))),
            Action::Tell { chat: to, text } => {
                queued.push(ApiCall::new(to, MESSAGE, json!({"content": escape_for(Flavor::Markdown, text), "allowed_mentions": no_mentions()})))
            }
            // Nothing to stop (the response acknowledged the press); group rules are Telegram's.
            Action::Answer { text: None, .. } | Action::Remove { .. } | Action::Leave => {}
        }
    }
    Reply { response: Some(json_response(http::StatusCode::OK, &response)), queued }
}

/// Discord's receiver.
pub struct DiscordReceiver;

impl Receiver for DiscordReceiver {
    fn verify(&self, channel: &Channel, req: &Request, now: jiff::Timestamp) -> Result<(), Unverified> {
        let ChannelSettings::Discord(d) = &channel.settings else { return Err(Unverified::Unauthenticated("not a Discord channel")) };
        let Some(key) = &d.public_key else { return Err(Unverified::Unauthenticated("the config has no public_key")) };
        let (ts, sig) = (req.header(TIMESTAMP_HEADER).unwrap_or_default(), req.header(SIGNATURE_HEADER).unwrap_or_default());
        if verify_signature(key, ts, sig, &req.body, now) { Ok(()) } else { Err(Unverified::Unauthenticated("no, a wrong or a stale signature")) }
    }

    fn parse(&self, _channel: &Channel, req: &Request) -> Result<Parsed, Invalid> {
        parse(&req.body)
    }

    fn reply(&self, _channel: &Channel, req: &Request, inbound: &Inbound, actions: Vec<Action>, _now: jiff::Timestamp) -> Reply {
        // A command's token is read again from the body (a button's is its id).
        let token = match token_of(inbound) {
            Some(t) => t.to_owned(),
            None => serde_json::from_slice::<Value>(&req.body).ok().and_then(|v| v["token"].as_str().map(str::to_owned)).unwrap_or_default(),
        };
        respond(inbound, &token, &actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const SIG: &str =
        "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f";

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn the_vectors_verify_and_any_change_is_refused() {
        // RFC 8032 §7.1 TEST 1 and TEST 2 (timestamp "" so the message is the body alone).
        let empty =
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        let k = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, hex::decode(PK).unwrap());
        assert!(k.verify(b"", &hex::decode(empty).unwrap()).is_ok());
        let pk2 = hex::decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c").unwrap();
        let sig2 = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
        assert!(
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, pk2).verify(&[0x72], &hex::decode(sig2).unwrap()).is_ok()
        );
        // The Discord-shaped vector (platforms.md §4.4).
        assert!(verify_signature(PK, "1700000000", SIG, br#"{"type":1}"#, at(1_700_000_000)));
        assert!(!verify_signature(PK, "1700000000", SIG, br#"{"type":2}"#, at(1_700_000_000)), "a flipped body byte");
        assert!(!verify_signature(PK, "1700000001", SIG, br#"{"type":1}"#, at(1_700_000_000)), "another timestamp");
        assert!(!verify_signature(PK, "1700000000", SIG, br#"{"type":1}"#, at(1_700_000_000 + 301)), "stale");
        assert!(!verify_signature(PK, "1700000000", "", br#"{"type":1}"#, at(1_700_000_000)), "no signature");
        assert!(!verify_signature("zz", "1700000000", SIG, br#"{"type":1}"#, at(1_700_000_000)), "an unreadable key");
        assert!(!verify_signature(&PK[..62], "1700000000", SIG, br#"{"type":1}"#, at(1_700_000_000)), "a short key");
    }

    #[test]
    fn ping_is_answered_pong() {
        let Parsed::Challenge(r) = parse(br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#).unwrap() else { panic!() };
        assert_eq!(serde_json::from_slice::<Value>(r.body()).unwrap(), json!({"type": 1}));
        assert_eq!(r.headers()["content-type"], "application/json");
    }

    #[test]
    fn a_command_with_its_option_reads_as_typed_text_and_is_answered_ephemerally() {
        let body = json!({"id": "901", "type": 2, "token": "tok", "channel_id": "77", "locale": "zh-CN", "guild_id": "5",
            "member": {"user": {"id": "42", "username": "ada"}}, "data": {"id": "3", "name": "bind", "type": 1, "options": [{"name": "code", "type": 3, "value": "AbC-1"}]}});
        let Parsed::Inbound { dedup, inbound } = parse(body.to_string().as_bytes()).unwrap() else { panic!() };
        assert_eq!((dedup.as_str(), inbound.chat.as_str(), &inbound.input), ("901", "77", &Input::Text("/bind AbC-1".into())));
        assert_eq!(inbound.from.language.as_deref(), Some("zh-CN"));
        let actions = vec![Action::reply("Bound *x*"), Action::Tell { chat: "43".into(), text: "moved".into() }, Action::reply("more")];
        let r = respond(&inbound, "tok", &actions);
        let v: Value = serde_json::from_slice(r.response.unwrap().body()).unwrap();
        assert_eq!((v["type"].as_u64(), v["data"]["content"].as_str(), v["data"]["flags"].as_u64()), (Some(4), Some(r"Bound \*x\*"), Some(64)));
        assert_eq!(r.queued.iter().map(|c| (c.chat.as_str(), c.method.as_str())).collect::<Vec<_>>(), [("43", MESSAGE), ("77", FOLLOWUP)]);
        assert_eq!(r.queued[1].payload["token"], "tok");
    }

    #[test]
    fn a_press_updates_its_message_and_an_answer_follows() {
        let body = json!({"id": "902", "type": 3, "token": "tok2", "channel_id": "77", "user": {"id": "42"}, "message": {"id": "555"}, "data": {"custom_id": "p:1", "component_type": 2}});
        let Parsed::Inbound { inbound, .. } = parse(body.to_string().as_bytes()).unwrap() else { panic!() };
        let actions = vec![
            Action::Answer { id: "tok2".into(), text: Some("on".into()), alert: false },
            Action::buttons("prefs", vec![vec![Button::data("Back", "m:")]], Some("555".into())),
        ];
        let r = respond(&inbound, "tok2", &actions);
        let v: Value = serde_json::from_slice(r.response.unwrap().body()).unwrap();
        assert_eq!(v["type"], 7);
        assert_eq!(v["data"]["components"][0]["components"][0]["custom_id"], "m:");
        assert_eq!(r.queued.len(), 1);
        assert_eq!((r.queued[0].method.as_str(), r.queued[0].payload["content"].as_str()), (FOLLOWUP, Some("on")));
        // Nothing to say: a silent acknowledgement.
        let r = respond(&inbound, "tok2", &[Action::Answer { id: "tok2".into(), text: None, alert: false }]);
        assert_eq!(serde_json::from_slice::<Value>(r.response.unwrap().body()).unwrap(), json!({"type": 6}));
    }
}
