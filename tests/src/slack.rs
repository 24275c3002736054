//! A local stand-in for Slack's Web API and its interaction `response_url`s: answers the way
//! Slack does (HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "..."}`, 429 with
//! `Retry-After` and `{"ok": false, "error": "ratelimited"}`), checks the bearer token and what
//! Block Kit allows (a section's text at most 3000 characters, at most 50 blocks, a button's
//! label at most 75), paces `chat.postMessage` at about one message a second per conversation
//! with a short burst, and opens a DM when a message is posted to a user id (`U…` → `D…`).
//! Signing helpers make requests as Slack signs them.

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const TEAM: &str = "T1DC2JH3J";
pub const BOT_USER: &str = "U0HERALD1";

/// The DM conversation Slack opens for a user id (`U42` → `D42`); other ids stay as they are.
pub fn dm(chat: &str) -> String {
    match chat.strip_prefix('U') {
        Some(rest) => format!("D{rest}"),
        None => chat.to_owned(),
    }
}

#[derive(Default)]
pub struct State {
    /// Per conversation (as posted to), how the next sends end: `true` accepted, `false` a 500.
    pub script: HashMap<String, VecDeque<bool>>,
    /// Conversations whose next send gets a 429 with this `Retry-After` (once).
    pub throttle: HashMap<String, u64>,
    /// Conversations Slack does not know (`channel_not_found`).
    pub missing: HashSet<String>,
    /// Turn the per-conversation pacing off.
    pub unlimited: bool,
    buckets: HashMap<String, (f64, Instant)>,
    next_ts: u64,
    /// Every message Slack accepted (posted, updated or sent to a response_url), with the
    /// conversation it shows in as `channel`, in order.
    pub delivered: Vec<Value>,
    /// response_url uses left, by path.
    pub response_uses: HashMap<String, u32>,
}

pub struct FakeSlack {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn answer(body: Value) -> Reply {
    Reply::ok(body.to_string())
}

fn error(code: &str) -> Reply {
    answer(json!({"ok": false, "error": code}))
}

/// Why Slack refuses `p` as message content, if it does.
fn invalid_content(p: &Value) -> Option<&'static str> {
    let blocks = p["blocks"].as_array();
    if p["text"].as_str().is_none_or(str::is_empty) && blocks.is_none_or(Vec::is_empty) {
        return Some("no_text");
    }
    let blocks = blocks.cloned().unwrap_or_default();
    if blocks.len() > 50 {
        return Some("invalid_blocks");
    }
    for b in &blocks {
        match b["type"].as_str() {
            Some("section") if b["text"]["text"].as_str().is_some_and(|t| !t.is_empty() && t.chars().count() <= 3000) => {}
            Some("image") if b["image_url"].is_string() && b["alt_text"].is_string() => {}
            Some("actions") => {
                let elements = b["elements"].as_array().cloned().unwrap_or_default();
                let ok = !elements.is_empty()
                    && elements.len() <= 25
                    && elements.iter().all(|e| e["text"]["text"].as_str().is_some_and(|t| t.chars().count() <= 75) && e["action_id"].is_string());
                if !ok {
                    return Some("invalid_blocks");
                }
            }
            _ => return Some("invalid_blocks"),
        }
    }
    None
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let p = req.json();
    if let Some(id) = req.path.strip_prefix("/response/") {
        // An interaction's response_url: five uses, no token.
        let left = st.response_uses.entry(id.to_owned()).or_insert(5);
        if *left == 0 {
            return Reply { status: 404, ..Reply::ok("used_url") };
        }
        *left -= 1;
        if let Some(why) = invalid_content(&p) {
            return Reply { status: 400, ..Reply::ok(why) };
        }
        let mut shown = p.clone();
        shown["channel"] = json!(format!("response:{id}"));
        st.delivered.push(shown);
        return Reply { headers: vec![("content-type".into(), "text/plain".into())], ..Reply::ok("ok") };
    }
    let Some(method) = req.path.strip_prefix('/') else { return Reply::status(404) };
    if req.header("authorization") != Some(&format!("Bearer {BOT_TOKEN}")) {
        return error(if req.header("authorization").is_none() { "not_authed" } else { "invalid_auth" });
    }
    match method {
        "auth.test" => answer(
            json!({"ok": true, "url": "https://herald-test.slack.com/", "team": "Herald Test", "user": "herald", "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0HERALD1"}),
        ),
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => {
            let Some(chat) = p["channel"].as_str().map(str::to_owned) else { return error("channel_not_found") };
            if st.missing.contains(&chat) {
                return error("channel_not_found");
            }
            if let Some(why) = invalid_content(&p) {
                return error(why);
            }
            if method == "chat.postMessage" {
                if let Some(after) = st.throttle.remove(&chat) {
                    return Reply { status: 429, ..error("ratelimited") }.header("retry-after", &after.to_string());
                }
                if let Some(false) = st.script.get_mut(&chat).and_then(VecDeque::pop_front) {
                    return Reply { status: 500, ..Reply::ok("<html>Internal Server Error</html>") };
                }
                if !st.unlimited {
                    let now = Instant::now();
                    let (tokens, at) = st.buckets.entry(chat.clone()).or_insert((3.0, now));
                    *tokens = (*tokens + now.duration_since(*at).as_secs_f64()).min(3.0);
                    *at = now;
                    if *tokens < 1.0 {
                        return Reply { status: 429, ..error("ratelimited") }.header("retry-after", "1");
                    }
                    *tokens -= 1.0;
                }
            }
            st.next_ts += 1;
            let ts = format!("1700000000.{:06}", st.next_ts);
            let mut shown = p.clone();
            shown["channel"] = json!(dm(&chat));
            st.delivered.push(shown);
            answer(json!({"ok": true, "channel": dm(&chat), "ts": ts}))
        }
        "conversations.leave" => answer(json!({"ok": true})),
        _ => error("unknown_method"),
    }
}

impl FakeSlack {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let server = TestServer::start(move |req| respond(&s, req)).await;
        Self { server, state }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A response_url on this stand-in (as Slack gives one with each interaction).
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.server.url)
    }

    /// The payloads of the calls of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.server.received().iter().filter(|r| r.path == format!("/{method}")).map(Recorded::json).collect()
    }

    /// What Slack shows, in order: every accepted message, `channel` being where it shows.
    pub fn delivered(&self) -> Vec<Value> {
        self.with(|s| s.delivered.clone())
    }

    /// The texts shown in `chat` (a user id reads as its DM).
    pub fn texts_in(&self, chat: &str) -> Vec<String> {
        let chat = dm(chat);
        self.delivered().iter().filter(|m| m["channel"] == chat.as_str()).map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

/// `body` as Slack POSTs it to `/callback/slack?source={source}`, signed at `timestamp` with
/// `secret`.
pub fn signed(source: &str, body: &str, secret: &str, timestamp: i64) -> herald::http::Request {
    let mut headers = http::HeaderMap::new();
    let ts = timestamp.to_string();
    headers.insert(herald::platforms::slack::receive::TIMESTAMP_HEADER, ts.parse().unwrap());
    let sig = herald::platforms::slack::receive::signature(secret, &ts, body.as_bytes());
    headers.insert(herald::platforms::slack::receive::SIGNATURE_HEADER, sig.parse().unwrap());
    let content_type = if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
    headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
    let uri: http::Uri = format!("/callback/slack?source={source}").parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_owned()))
}

/// An Events API message from `user` in their DM with the bot.
pub fn dm_event(event_id: &str, user: &str, text: &str) -> String {
    json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "team_id": TEAM, "api_app_id": "A0HERALD1", "type": "event_callback",
        "event_id": event_id, "event_time": 1_700_000_000,
        "event": {"type": "message", "channel_type": "im", "channel": dm(user), "user": user, "text": text, "ts": "1700000000.000100"},
    })
    .to_string()
}

/// A slash command `/herald {text}` typed by `user` in `channel`, answered at `response_url`.
pub fn slash(trigger: &str, user: &str, channel: &str, text: &str, response_url: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("token", "xyzz0WbapA4vBCDEFasx0q6G"),
            ("team_id", TEAM),
            ("team_domain", "heraldtest"),
            ("channel_id", channel),
            ("channel_name", "general"),
            ("user_id", user),
            ("user_name", "ada"),
            ("command", "/herald"),
            ("text", text),
            ("api_app_id", "A0HERALD1"),
            ("response_url", response_url),
            ("trigger_id", trigger),
        ])
        .finish()
}

/// A press of the bot's button carrying `value`, on the message `ts` in `channel`.
pub fn press(trigger: &str, user: &str, channel: &str, ts: &str, value: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions", "team": {"id": TEAM, "domain": "heraldtest"}, "user": {"id": user, "username": "ada", "team_id": TEAM},
        "api_app_id": "A0HERALD1", "trigger_id": trigger, "channel": {"id": channel, "name": "directmessage"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
        "message": {"type": "message", "ts": ts, "text": "menu"}, "response_url": response_url,
        "actions": [{"type": "button", "action_id": "hb-0-0", "block_id": "b", "value": value, "action_ts": "1700000001.000200"}],
    });
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}
