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
    /// Share of sends Telegram accepts (the chat shows them) whose answer then comes after the
    /// client's timeout: the one duplicate no sender can rule out (the Bot API has no
    /// idempotency key), counted so the fault run can say how many it caused.
    pub accepted_timeouts: f64,
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
    pub injected_accepted_timeouts: u64,
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
    if let Some(why) = bad_request(method, &p) {
        return fail(400, &format!("Bad Request: {why}"), None);
    }
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
            // An answer that comes after the client gave up, for a message accepted all the same.
            let mut late = None;
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
                if roll < f.timeouts + f.server_errors + f.accepted_timeouts {
                    late = Some(f.hang);
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
            let reply = ok(json!({"message_id": st.next_id, "chat": {"id": chat}, "date": 1_700_000_000, "text": text}));
            match late {
                Some(after) => {
                    st.injected_accepted_timeouts += 1;
                    reply.after(after)
                }
                None => reply,
            }
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

/// Telegram's HTML tags (core.telegram.org/bots/api#html-style; platforms.md §1.2).
const HTML_TAGS: [&str; 15] = ["b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre", "blockquote"];

/// The visible text of a message in Telegram's HTML, or why Telegram cannot parse it: only its
/// own tags, properly nested and closed (`a` with `href`, `span` with `class="tg-spoiler"`),
/// and the entities `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric ones decoded.
pub fn html_visible(text: &str) -> Result<String, String> {
    let mut visible = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let at = text.len() - rest.len();
        if c == '<' {
            let Some(end) = rest.find('>') else { return Err(format!("Unclosed start tag at byte offset {at}")) };
            let tag = &rest[1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let name = name.trim().to_ascii_lowercase();
                match open.pop() {
                    Some(top) if top == name => {}
                    Some(top) => return Err(format!("Can't find end tag corresponding to start tag \"{top}\"")),
                    None => return Err(format!("Unexpected end tag at byte offset {at}")),
                }
            } else {
                let name = tag.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
                let attrs = tag[name.len().min(tag.len())..].trim();
                let ok = HTML_TAGS.contains(&name.as_str())
                    && match name.as_str() {
                        "a" => attrs.starts_with("href="),
                        "span" => attrs == "class=\"tg-spoiler\"",
                        "pre" | "code" | "blockquote" => attrs.is_empty() || attrs.starts_with("class=") || attrs == "expandable",
                        _ => attrs.is_empty(),
                    };
                if !ok {
                    return Err(format!("Unsupported start tag \"{name}\" at byte offset {at}"));
                }
                open.push(name);
            }
            rest = &rest[end + 1..];
        } else if c == '&' {
            let entity = rest.find(';').filter(|&e| e <= 10).map(|e| &rest[1..e]);
            let decoded = entity.and_then(|e| match e {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                _ => e
                    .strip_prefix('#')
                    .and_then(|n| n.strip_prefix('x').map_or_else(|| n.parse().ok(), |h| u32::from_str_radix(h, 16).ok()))
                    .and_then(char::from_u32),
            });
            match (decoded, entity) {
                (Some(ch), Some(e)) => {
                    visible.push(ch);
                    rest = &rest[e.len() + 2..];
                }
                _ => {
                    visible.push('&');
                    rest = &rest[1..];
                }
            }
        } else {
            visible.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    match open.pop() {
        Some(top) => Err(format!("Can't find end tag corresponding to start tag \"{top}\"")),
        None => Ok(visible),
    }
}

fn is_chat_id(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64(),
        Value::String(s) => {
            s.strip_prefix('-').unwrap_or(s).parse::<i64>().is_ok()
                || s.strip_prefix('@').is_some_and(|u| (5..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        }
        _ => false,
    }
}

/// What the Bot API refuses with 400 before anything else: missing or malformed required
/// parameters, over-long texts (counted after entity parsing, in UTF-16 units, as Telegram
/// does) and HTML it cannot parse. `None` when the request is well-formed.
fn bad_request(method: &str, p: &Value) -> Option<String> {
    let needs_chat = ["sendMessage", "sendPhoto", "banChatMember", "unbanChatMember", "leaveChat"].contains(&method)
        || (method == "editMessageText" && p.get("inline_message_id").is_none());
    if needs_chat && !is_chat_id(&p["chat_id"]) {
        return Some(if p.get("chat_id").is_none() { "chat_id is empty".into() } else { "chat not found".into() });
    }
    if ["banChatMember", "unbanChatMember"].contains(&method)
        && !p["user_id"].is_i64()
        && p["user_id"].as_str().and_then(|u| u.parse::<i64>().ok()).is_none()
    {
        return Some("invalid user_id specified".into());
    }
    if method == "editMessageText" && p.get("inline_message_id").is_none() && p.get("message_id").is_none() {
        return Some("message identifier is not specified".into());
    }
    if method == "answerCallbackQuery" {
        if p["callback_query_id"].as_str().is_none_or(str::is_empty) {
            return Some("query is too old and response timeout expired or query ID is invalid".into());
        }
        if p["text"].as_str().is_some_and(|t| t.chars().count() > 200) {
            return Some("MESSAGE_TOO_LONG".into());
        }
    }
    if method == "setWebhook" && !p["url"].as_str().is_some_and(|u| u.starts_with("https://")) {
        return Some("bad webhook: An HTTPS URL must be provided for webhook".into());
    }
    if method == "setMyCommands" {
        let commands = p["commands"].as_array()?;
        let valid = |c: &Value| {
            c["command"]
                .as_str()
                .is_some_and(|n| (1..=32).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
                && c["description"].as_str().is_some_and(|d| (1..=256).contains(&d.chars().count()))
        };
        if commands.len() > 100 || !commands.iter().all(valid) {
            return Some("BOT_COMMAND_INVALID".into());
        }
    }
    let (field, limit) = match method {
        "sendMessage" | "editMessageText" => ("text", 4096),
        "sendPhoto" => ("caption", 1024),
        _ => return None,
    };
    if method == "sendPhoto" && p["photo"].as_str().is_none_or(str::is_empty) {
        return Some("there is no photo in the request".into());
    }
    let text = match p[field].as_str() {
        Some(t) => t,
        None if field == "caption" => return None,
        None => return Some("message text is empty".into()),
    };
    let visible = if p["parse_mode"] == "HTML" {
        match html_visible(text) {
            Ok(v) => v,
            Err(why) => return Some(format!("can't parse entities: {why}")),
        }
    } else {
        text.to_owned()
    };
    if field == "text" && visible.trim().is_empty() {
        return Some("message text is empty".into());
    }
    if visible.encode_utf16().count() > limit {
        return Some(if field == "text" { "message is too long".into() } else { "message caption is too long".into() });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_html_as_telegram_does() {
        assert_eq!(html_visible("<b>a &amp; b</b> &lt;3 <a href=\"https://x\">x</a> &#128578;").as_deref(), Ok("a & b <3 x 🙂"));
        for (bad, why) in [
            ("<unclosed", "Unclosed start tag"),
            ("<b>x", "Can't find end tag"),
            ("<b><i>x</b></i>", "Can't find end tag"),
            ("<div>x</div>", "Unsupported start tag \"div\""),
            ("<span>x</span>", "Unsupported start tag \"span\""),
            ("x</b>", "Unexpected end tag"),
        ] {
            assert!(html_visible(bad).unwrap_err().contains(why), "{bad}");
        }
    }

    #[test]
    fn refuses_what_the_bot_api_refuses() {
        let ok = json!({"chat_id": "42", "text": "hi"});
        assert_eq!(bad_request("sendMessage", &ok), None);
        assert_eq!(bad_request("sendMessage", &json!({"text": "hi"})).as_deref(), Some("chat_id is empty"));
        assert_eq!(bad_request("sendMessage", &json!({"chat_id": "4 2", "text": "hi"})).as_deref(), Some("chat not found"));
        assert_eq!(bad_request("sendMessage", &json!({"chat_id": 42})).as_deref(), Some("message text is empty"));
        assert_eq!(bad_request("sendMessage", &json!({"chat_id": "@herald_news", "text": "x".repeat(4097)})).as_deref(), Some("message is too long"));
        // The limit counts what the chat shows, not the markup.
        let marked = format!("<b>{}</b>", "x".repeat(4096));
        assert_eq!(bad_request("sendMessage", &json!({"chat_id": -100, "text": marked, "parse_mode": "HTML"})), None);
        assert!(bad_request("setWebhook", &json!({"url": "http://x"})).is_some());
        assert!(bad_request("banChatMember", &json!({"chat_id": -100})).is_some());
        assert!(bad_request("editMessageText", &json!({"chat_id": 1, "text": "x"})).is_some());
        assert!(bad_request("setMyCommands", &json!({"commands": [{"command": "Bind", "description": "x"}]})).is_some());
    }
}
