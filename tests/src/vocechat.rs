//! A local stand-in for VoceChat's bot API: `POST /api/bot/send_to_user/{uid}` and
//! `/api/bot/send_to_group/{gid}` with `x-api-key`, the body the message in its `Content-Type`
//! (`text/plain`, `text/markdown`), answered as the server does: the new message id as a JSON
//! number, 401 for a wrong key, 404 for an unknown user or group, and (scripted) 429 and 5xx.

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

pub const API_KEY: &str = "vocechat-bot-api-key-0123456789abcdef";
pub const WEBHOOK_SECRET: &str = "vocechat-webhook-secret-0123456789";
pub const BOT_UID: &str = "2";

#[derive(Default)]
pub struct State {
    /// Per target (`uid` or `group:gid`), how the next sends end: `true` accepted, `false` a 502.
    pub script: HashMap<String, VecDeque<bool>>,
    /// Targets whose next send gets a 429 with this `Retry-After` (once).
    pub throttle: HashMap<String, u64>,
    /// Users and groups the server does not know.
    pub unknown: HashSet<String>,
    next_mid: u64,
    /// Every message the server took, with `to` and `content_type`.
    pub delivered: Vec<Value>,
}

pub struct FakeVocechat {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    if req.header("x-api-key") != Some(API_KEY) {
        return Reply { status: 401, ..Reply::ok("") };
    }
    let to = if let Some(uid) = req.path.strip_prefix("/api/bot/send_to_user/") {
        uid.to_owned()
    } else if let Some(gid) = req.path.strip_prefix("/api/bot/send_to_group/") {
        format!("group:{gid}")
    } else {
        return Reply::status(404);
    };
    if st.unknown.contains(&to) {
        return Reply { status: 404, ..Reply::ok("") };
    }
    if let Some(after) = st.throttle.remove(&to) {
        return Reply::status(429).header("retry-after", &after.to_string());
    }
    if let Some(false) = st.script.get_mut(&to).and_then(VecDeque::pop_front) {
        return Reply::status(502);
    }
    let content_type = req.header("content-type").unwrap_or_default().to_owned();
    if !matches!(content_type.as_str(), "text/plain" | "text/markdown") || req.body.is_empty() {
        return Reply::status(400);
    }
    st.next_mid += 1;
    st.delivered.push(json!({"to": to, "content_type": content_type, "content": String::from_utf8_lossy(&req.body)}));
    Reply::ok(st.next_mid.to_string())
}

impl FakeVocechat {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let server = TestServer::start(move |req| respond(&s, req)).await;
        Self { server, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn texts_to(&self, to: &str) -> Vec<String> {
        self.with(|s| s.delivered.iter().filter(|m| m["to"] == to).map(|m| m["content"].as_str().unwrap_or_default().to_owned()).collect())
    }

    pub fn sends(&self) -> usize {
        self.server.received().iter().filter(|r| r.path.starts_with("/api/bot/send_to_")).count()
    }
}

/// A message VoceChat POSTs to the bot's webhook: `text` from `from`, to the bot (`gid`: in a group).
pub fn message(mid: u64, from: &str, text: &str, gid: Option<u64>) -> String {
    let target = match gid {
        Some(g) => json!({"gid": g}),
        None => json!({"uid": BOT_UID.parse::<u64>().unwrap_or(2)}),
    };
    json!({"created_at": 1_795_435_200_000u64, "from_uid": from.parse::<u64>().unwrap_or(0), "mid": mid, "target": target,
        "detail": {"type": "normal", "content_type": "text/plain", "content": text, "properties": null, "expires_in": null}})
    .to_string()
}

/// `body` POSTed to `/callback/vocechat?source={source}&token={token}`.
pub fn request(source: &str, token: &str, body: &str) -> herald::http::Request {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    let uri: http::Uri = format!("/callback/vocechat?source={source}&token={token}").parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_owned()))
}

/// The content types of the messages taken, in order.
pub fn content_types(fake: &FakeVocechat) -> Vec<String> {
    fake.with(|s| s.delivered.iter().map(|m| m["content_type"].as_str().unwrap_or_default().to_owned()).collect())
}
