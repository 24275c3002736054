//! A local stand-in for the WeCom API: `gettoken` (tokens that expire), `message/send` with its
//! errcodes (42001 expired token, 40014 invalid token, 45009 too frequent, 60020 untrusted IP,
//! 81013 no valid recipient, `invaliduser`) and scripted HTTP 500s, WeCom's silent drop beyond
//! 30 messages a minute to one member, its silent cuts of over-long fields (recorded in
//! `truncated`), and `menu/create`.
//! Bodies are checked as WeCom checks them (`agentid`, recipients, `msgtype` and its fields;
//! at most 3 menu groups of 5 click buttons).

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CORP: &str = "wx5823bf96d3bd56c7";
pub const SECRET: &str = "wecom-app-secret";
pub const AGENT: &str = "1000002";
/// The official sample's callback token and key.
pub const TOKEN: &str = "QDG6eK";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

pub struct State {
    tokens: HashMap<String, Instant>,
    pub token_ttl: Duration,
    pub tokens_issued: u32,
    pub untrusted_ip: bool,
    pub throttle_once: bool,
    /// How the next `message/send` calls end, in turn: `true` as usual, `false` an HTTP 500
    /// (WeCom's gateway failing). Each send that reaches an entry uses it up.
    pub script: std::collections::VecDeque<bool>,
    pub invalid_users: HashSet<String>,
    sends: HashMap<String, Vec<Instant>>,
    /// Members WeCom silently dropped a message for (over 30 a minute).
    pub dropped: Vec<String>,
    /// Fields WeCom silently cut to its limit (`text.content` past 2048 bytes, a card's or an
    /// article's title past 128 or description past 512), as `msgtype.field`.
    pub truncated: Vec<String>,
    /// Message bodies WeCom accepted.
    pub delivered: Vec<Value>,
    pub menus: Vec<Value>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            tokens: HashMap::new(),
            token_ttl: Duration::from_secs(7200),
            tokens_issued: 0,
            untrusted_ip: false,
            throttle_once: false,
            script: std::collections::VecDeque::new(),
            invalid_users: HashSet::new(),
            sends: HashMap::new(),
            dropped: Vec::new(),
            truncated: Vec::new(),
            delivered: Vec::new(),
            menus: Vec::new(),
        }
    }
}

pub struct FakeWecom {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn query(req: &Recorded) -> HashMap<String, String> {
    req.query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.replace("%7C", "|"))).collect()
}

fn err(code: i64, msg: &str) -> Reply {
    Reply::ok(json!({"errcode": code, "errmsg": msg}).to_string())
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let q = query(req);
    if st.untrusted_ip {
        return err(60020, "not allow to access from your ip, hint: [1700000000_1_abc], from ip: 203.0.113.9");
    }
    if req.path == "/cgi-bin/gettoken" {
        if q.get("corpid").map(String::as_str) != Some(CORP) || q.get("corpsecret").map(String::as_str) != Some(SECRET) {
            return err(40001, "invalid credential");
        }
        st.tokens_issued += 1;
        let token = format!("tok-{}", st.tokens_issued);
        let ttl = st.token_ttl;
        st.tokens.insert(token.clone(), Instant::now() + ttl);
        return Reply::ok(json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": ttl.as_secs()}).to_string());
    }
    match q.get("access_token").and_then(|t| st.tokens.get(t)) {
        None => return err(40014, "invalid access_token"),
        Some(until) if *until <= Instant::now() => return err(42001, "access_token expired"),
        Some(_) => {}
    }
    match req.path.as_str() {
        "/cgi-bin/message/send" => {
            if st.throttle_once {
                st.throttle_once = false;
                return err(45009, "api freq out of limit");
            }
            if st.script.pop_front() == Some(false) {
                return Reply::status(500);
            }
            let mut body = req.json();
            if let Some((code, why)) = bad_message(&body) {
                return err(code, why);
            }
            let cut = truncate(&mut body);
            st.truncated.extend(cut);
            let members: Vec<String> = body["touser"].as_str().unwrap_or_default().split('|').map(str::to_owned).collect();
            if members.len() > 1000 {
                return err(40031, "invalid user list: more than 1000 members in touser");
            }
            if members.iter().any(|m| m == "@all") {
                return err(40003, "test server refuses @all: Herald must never send it");
            }
            let invalid: Vec<String> = members.iter().filter(|m| st.invalid_users.contains(*m)).cloned().collect();
            if invalid.len() == members.len() {
                return err(81013, "user & party & tag all invalid");
            }
            let now = Instant::now();
            for m in members.iter().filter(|m| !invalid.contains(m)) {
                let sent = st.sends.entry(m.clone()).or_default();
                sent.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                if sent.len() >= 30 {
                    st.dropped.push(m.clone());
                } else {
                    sent.push(now);
                }
            }
            st.delivered.push(body);
            Reply::ok(
                json!({"errcode": 0, "errmsg": "ok", "invaliduser": invalid.join("|"), "msgid": format!("m{}", st.delivered.len())}).to_string(),
            )
        }
        "/cgi-bin/menu/create" => {
            let menu = req.json();
            if q.get("agentid").map(String::as_str) != Some(AGENT) {
                return err(40056, "invalid agentid");
            }
            let buttons = menu["button"].as_array().map(Vec::as_slice).unwrap_or_default();
            let button_ok = |b: &Value| match b["sub_button"].as_array() {
                Some(sub) => {
                    !sub.is_empty() && sub.len() <= 5 && sub.iter().all(|s| s["type"] == "click" && s["key"].as_str().is_some_and(|k| !k.is_empty()))
                }
                None => b["type"] == "click" && b["key"].is_string(),
            };
            if buttons.is_empty() || buttons.len() > 3 || !buttons.iter().all(|b| b["name"].as_str().is_some_and(|n| !n.is_empty()) && button_ok(b)) {
                return err(40016, "invalid button size or content");
            }
            st.menus.push(menu);
            err(0, "ok")
        }
        _ => Reply::status(404),
    }
}

impl FakeWecom {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let server = TestServer::start(move |req| respond(&s, req)).await;
        Self { server, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn delivered(&self) -> Vec<Value> {
        self.with(|s| s.delivered.clone())
    }

    pub fn calls(&self, path: &str) -> usize {
        self.server.received().iter().filter(|r| r.path == path).count()
    }
}

/// What WeCom refuses in a `message/send` body (platforms.md §2.4): the app's `agentid`, a
/// recipient, a `msgtype` Herald uses with its object and that object's required fields.
fn bad_message(body: &Value) -> Option<(i64, &'static str)> {
    if body["agentid"].as_i64().map(|a| a.to_string()).as_deref() != Some(AGENT) {
        return Some((40056, "invalid agentid"));
    }
    if body["touser"].as_str().is_none_or(str::is_empty) {
        return Some((40031, "invalid user list: touser is empty"));
    }
    let ty = body["msgtype"].as_str().unwrap_or_default();
    let object = &body[ty];
    let has = |v: &Value, field: &str| v[field].as_str().is_some_and(|s| !s.trim().is_empty());
    let ok = match ty {
        "text" | "markdown" => has(object, "content"),
        "textcard" => has(object, "title") && has(object, "description") && has(object, "url"),
        "news" => object["articles"].as_array().is_some_and(|a| (1..=8).contains(&a.len()) && a.iter().all(|a| has(a, "title") && has(a, "url"))),
        _ => return Some((40008, "invalid message type")),
    };
    (!ok).then_some((44004, "empty content or a required field missing"))
}

/// WeCom's silent cuts: the fields over their limits are cut (on a UTF-8 boundary, as the
/// client shows them) and named, so a test can assert nothing was lost.
fn truncate(body: &mut Value) -> Vec<String> {
    let ty = body["msgtype"].as_str().unwrap_or_default().to_owned();
    let mut cut = Vec::new();
    let mut clip = |v: &mut Value, field: &str, limit: usize, name: String| {
        if let Some(s) = v[field].as_str()
            && s.len() > limit
        {
            let mut end = limit;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            v[field] = Value::String(s[..end].to_owned());
            cut.push(name);
        }
    };
    match ty.as_str() {
        "text" | "markdown" => clip(&mut body[ty.as_str()], "content", 2048, format!("{ty}.content")),
        "textcard" => {
            clip(&mut body["textcard"], "title", 128, "textcard.title".into());
            clip(&mut body["textcard"], "description", 512, "textcard.description".into());
        }
        "news" => {
            if let Some(articles) = body["news"]["articles"].as_array_mut() {
                for a in articles {
                    clip(a, "title", 128, "news.title".into());
                    clip(a, "description", 512, "news.description".into());
                }
            }
        }
        _ => {}
    }
    cut
}
