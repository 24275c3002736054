//! A local stand-in for Synology Chat's `webapi/entry.cgi` (`SYNO.Chat.External`): the incoming
//! webhook of one channel (`method=incoming`) and the chat bot (`method=chatbot`, `user_ids`),
//! each a form body `payload=<JSON>`, answered as Synology does: HTTP 200 with
//! `{"success": true}` or `{"success": false, "error": {"code", "errors"}}` — a wrong token
//! (`invalid token`, modelled: Synology's exact code is not documented), an unknown user, and
//! "create post too frequently" (411) when posts come faster than its (undocumented) pace,
//! modelled here as 2 a second per server.

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const INCOMING_TOKEN: &str = "incoming-token-0123456789";
pub const BOT_TOKEN: &str = "bot-token-ABCDEFGHIJKLMNOP0123";
pub const OUTGOING_TOKEN: &str = "outgoing-token-9876543210zyxw";

#[derive(Default)]
pub struct State {
    /// How the next posts end, in turn: `true` accepted, `false` a 502.
    pub script: VecDeque<bool>,
    /// The next post gets "create post too frequently" (once).
    pub too_frequent: bool,
    /// Users the server does not know.
    pub unknown: HashSet<u64>,
    /// Turn the pace off.
    pub unlimited: bool,
    recent: VecDeque<Instant>,
    /// Every post Synology accepted, with `to`: `channel` or the user id.
    pub delivered: Vec<Value>,
    pub refused_too_frequent: u32,
}

pub struct FakeSynology {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn answer(v: Value) -> Reply {
    Reply::ok(v.to_string())
}

fn error(code: i64, errors: &str) -> Reply {
    answer(json!({"error": {"code": code, "errors": errors}, "success": false}))
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let q: Vec<(String, String)> = form_urlencoded::parse(req.query.as_bytes()).into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap_or_default();
    if req.path != "/webapi/entry.cgi" || get("api") != "SYNO.Chat.External" {
        return Reply::status(404);
    }
    let method = get("method").to_owned();
    let token = get("token").trim_matches('"').to_owned();
    let expected = if method == "chatbot" { BOT_TOKEN } else { INCOMING_TOKEN };
    if token != expected {
        return error(403, "invalid token");
    }
    let body: Vec<(String, String)> = form_urlencoded::parse(&req.body).into_owned().collect();
    let Some(p) = body.iter().find(|(k, _)| k == "payload").and_then(|(_, v)| serde_json::from_str::<Value>(v).ok()) else {
        return error(120, "payload is missing or not JSON");
    };
    if let Some(false) = st.script.pop_front() {
        return Reply { status: 502, ..Reply::ok("<html>502 Bad Gateway</html>") };
    }
    if std::mem::take(&mut st.too_frequent) {
        st.refused_too_frequent += 1;
        return error(411, "create post too frequently");
    }
    if !st.unlimited {
        let now = Instant::now();
        while st.recent.front().is_some_and(|t| now.duration_since(*t).as_secs_f64() >= 1.0) {
            st.recent.pop_front();
        }
        if st.recent.len() >= 2 {
            st.refused_too_frequent += 1;
            return error(411, "create post too frequently");
        }
        st.recent.push_back(now);
    }
    if p["text"].as_str().is_none_or(str::is_empty) && p["file_url"].is_null() {
        return error(120, "text is empty");
    }
    let to: Vec<Value> = if method == "chatbot" {
        let users: Vec<u64> = p["user_ids"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
        if users.is_empty() || users.iter().any(|u| st.unknown.contains(u)) {
            return error(404, "user not found");
        }
        users.iter().map(|u| json!(u.to_string())).collect()
    } else {
        vec![json!("channel")]
    };
    for t in to {
        let mut shown = p.clone();
        shown["to"] = t;
        st.delivered.push(shown);
    }
    answer(json!({"success": true}))
}

impl FakeSynology {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let server = TestServer::start(move |req| respond(&s, req)).await;
        Self { server, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The channel's incoming-webhook URL on this stand-in.
    pub fn incoming_url(&self) -> String {
        format!("{}/webapi/entry.cgi?api=SYNO.Chat.External&method=incoming&version=2&token=%22{INCOMING_TOKEN}%22", self.server.url)
    }

    /// The texts shown to `to` (`channel`, or a user id).
    pub fn texts_to(&self, to: &str) -> Vec<String> {
        self.with(|s| s.delivered.iter().filter(|m| m["to"] == to).map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect())
    }

    pub fn posts(&self) -> usize {
        self.server.received().len()
    }
}

/// What the bot POSTs to Herald when `user` writes `text` to it.
pub fn bot_post(user: &str, text: &str, timestamp: i64, token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("token", token), ("user_id", user), ("username", "ada"), ("text", text), ("timestamp", &timestamp.to_string())])
        .finish()
}

/// `body` POSTed to `/callback/synology?source={source}`.
pub fn request(source: &str, body: &str) -> herald::http::Request {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
    let uri: http::Uri = format!("/callback/synology?source={source}").parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_owned()))
}
