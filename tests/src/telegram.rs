//! A local stand-in for the Telegram Bot API: answers every method Herald calls the way Telegram
//! does (`{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
//! "parameters"}`), enforces the published limits with 429 + `retry_after` (about 30 messages a
//! second per bot, one a second per chat with a short burst, 20 a minute per group), and can be
//! told that a user blocked the bot or that a group moved.

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const BOT_TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
pub const BOT_USERNAME: &str = "herald_test_bot";

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self, capacity: f64, per_sec: f64) -> Option<u64> {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * per_sec).min(capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(((1.0 - self.tokens) / per_sec).ceil().max(1.0) as u64)
        }
    }
}

/// Faults to inject into `sendMessage`, decided by a seeded generator (repeatable runs).
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of sends answered 500.
    pub server_errors: f64,
    /// Share of sends that hang past the client's timeout, then fail (never delivered).
    pub timeouts: f64,
    pub hang: std::time::Duration,
    /// Every `burst_every` sends, the next `burst_len` get 429 with `retry_after` 1.
    pub burst_every: u64,
    pub burst_len: u64,
    pub seed: u64,
}

#[derive(Default)]
pub struct State {
    pub faults: Option<Faults>,
    rng: u64,
    sends: u64,
    burst_left: u64,
    /// Injected faults, by kind (not counted as our pacing's fault).
    pub injected_5xx: u64,
    pub injected_timeouts: u64,
    pub injected_429: u64,
    /// Times of every send, the ones that fail by injection included (each took a slot of our
    /// pacing, so together they are the rate Herald achieved against the limit).
    pub attempts: Vec<Instant>,
    next_id: i64,
    buckets: HashMap<String, Bucket>,
    pub blocked: HashSet<String>,
    pub moved: HashMap<String, String>,
    /// Chats whose next sends fail with 500, that many times.
    pub flaky: HashMap<String, u32>,
    /// Per chat, how the next sends end, in turn: `true` accepted as usual, `false` a 500. An
    /// entry is used up by each send that reaches it, so an empty script proves every step ran.
    pub script: HashMap<String, std::collections::VecDeque<bool>>,
    /// Chats whose next send gets a 429 with this `retry_after` (once).
    pub throttle: HashMap<String, u64>,
    pub too_many: u64,
    /// Turn the limits off (to measure pacing alone, or for functional tests).
    pub unlimited: bool,
    /// Every message Telegram accepted (what the chats show), in order.
    pub delivered: Vec<Value>,
}

pub struct FakeTelegram {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn fail(code: u16, description: &str, parameters: Option<Value>) -> Reply {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    Reply { status: code, ..Reply::ok(body.to_string()) }
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let Some((token, method)) = req.path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
        return fail(404, "Not Found", None);
    };
    if token != BOT_TOKEN {
        return fail(401, "Unauthorized", None);
    }
    let p = req.json();
    let chat = match &p["chat_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let ok = |result: Value| Reply::ok(json!({"ok": true, "result": result}).to_string());
    match method {
        "getMe" => ok(json!({"id": 123456, "is_bot": true, "first_name": "Herald", "username": BOT_USERNAME})),
        "sendMessage" | "sendPhoto" => {
            if let Some(to) = st.moved.get(&chat) {
                let to: i64 = to.parse().unwrap_or_default();
                return fail(400, "Bad Request: group chat was upgraded to a supergroup chat", Some(json!({"migrate_to_chat_id": to})));
            }
            if st.blocked.contains(&chat) {
                return fail(403, "Forbidden: bot was blocked by the user", None);
            }
            st.attempts.push(Instant::now());
            if let Some(f) = st.faults.clone() {
                st.sends += 1;
                if st.rng == 0 {
                    st.rng = f.seed | 1;
                }
                // xorshift64*: a tiny, repeatable generator.
                st.rng ^= st.rng >> 12;
                st.rng ^= st.rng << 25;
                st.rng ^= st.rng >> 27;
                let roll = (st.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
                if f.burst_every > 0 && st.sends.is_multiple_of(f.burst_every) {
                    st.burst_left = f.burst_len;
                }
                if st.burst_left > 0 {
                    st.burst_left -= 1;
                    st.injected_429 += 1;
                    return fail(429, "Too Many Requests: retry after 1", Some(json!({"retry_after": 1})));
                }
                if roll < f.timeouts {
                    st.injected_timeouts += 1;
                    return fail(500, "Internal Server Error", None).after(f.hang);
                }
                if roll < f.timeouts + f.server_errors {
                    st.injected_5xx += 1;
                    return fail(502, "Bad Gateway", None);
                }
            }
            if let Some(after) = st.throttle.remove(&chat) {
                return fail(429, &format!("Too Many Requests: retry after {after}"), Some(json!({"retry_after": after})));
            }
            if let Some(false) = st.script.get_mut(&chat).and_then(|s| s.pop_front()) {
                return fail(500, "Internal Server Error", None);
            }
            if let Some(n) = st.flaky.get_mut(&chat)
                && *n > 0
            {
                *n -= 1;
                return fail(500, "Internal Server Error", None);
            }
            let text = p["text"].as_str().or(p["caption"].as_str()).unwrap_or_default();
            if text.encode_utf16().count() > if method == "sendPhoto" { 1024 } else { 4096 } {
                return fail(400, "Bad Request: message is too long", None);
            }
            if p["parse_mode"] == "HTML" && text.contains("<unclosed") {
                return fail(400, "Bad Request: can't parse entities: Unclosed start tag", None);
            }
            if !st.unlimited {
                let group = chat.starts_with('-');
                let limits: [(String, f64, f64); 2] = [
                    ("bot".to_owned(), 30.0, 30.0),
                    if group { (format!("group:{chat}"), 20.0, 20.0 / 60.0) } else { (format!("chat:{chat}"), 2.0, 1.0) },
                ];
                for (key, capacity, rate) in limits {
                    let b = st.buckets.entry(key).or_insert(Bucket { tokens: capacity, at: Instant::now() });
                    if let Some(after) = b.take(capacity, rate) {
                        st.too_many += 1;
                        return fail(429, &format!("Too Many Requests: retry after {after}"), Some(json!({"retry_after": after})));
                    }
                }
            }
            st.next_id += 1;
            st.delivered.push(p.clone());
            ok(json!({"message_id": st.next_id, "chat": {"id": chat}, "date": 1_700_000_000, "text": text}))
        }
        "editMessageText" => ok(json!({"message_id": p["message_id"], "chat": {"id": chat}})),
        "setWebhook" | "setMyCommands" | "answerCallbackQuery" | "banChatMember" | "unbanChatMember" | "leaveChat" | "deleteWebhook" => {
            ok(json!(true))
        }
        _ => fail(404, "Not Found: method not found", None),
    }
}

impl FakeTelegram {
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

    /// The payloads of the calls of `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.server.received().iter().filter(|r| r.path.ends_with(&format!("/{method}"))).map(Recorded::json).collect()
    }

    /// Messages Telegram accepted so far (what the chats show), in order.
    pub fn delivered(&self) -> Vec<Value> {
        self.with(|s| s.delivered.clone())
    }
}
