//! A local stand-in for Discord's REST API (v10): opens DMs (`POST /users/@me/channels`), takes
//! messages (`POST /channels/{id}/messages`, checking what Discord checks: the bot token, at
//! most 2000 characters of content, at most 5 action rows of 5 components), bulk-overwrites
//! commands (global and guild), and takes interaction follow-ups (`POST /webhooks/{app}/{token}`).
//! It answers as Discord does: JSON errors with a `code` (10003 Unknown Channel, 50007 Cannot
//! send messages to this user, 50035 Invalid Form Body), 429 with `retry_after`, `global` and
//! `Retry-After`, and `X-RateLimit-*` headers on every message, from a bucket of 5 messages per
//! 5 seconds per channel. Signing helpers make interactions as Discord signs them.

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const BOT_TOKEN: &str = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs";
pub const APPLICATION_ID: &str = "1198622483471925248";
/// RFC 8032 §7.1 TEST 1: the key pair the tests sign interactions with.
pub const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
pub const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// The DM channel Discord opens for user `id` (here: the id with a leading 9).
pub fn dm(user: &str) -> String {
    format!("9{user}")
}

#[derive(Default)]
pub struct State {
    /// Per channel (as posted to), how the next sends end: `true` accepted, `false` a 502.
    pub script: HashMap<String, VecDeque<bool>>,
    /// Channels whose next message gets a 429 with this `retry_after` in seconds (once).
    pub throttle: HashMap<String, f64>,
    /// Users whose DMs are closed to the bot (50007 on send).
    pub closed: HashSet<String>,
    /// Turn the per-channel bucket off.
    pub unlimited: bool,
    /// The per-channel bucket: this many messages per `window` seconds (default 5 per 5).
    pub bucket: Option<(u32, f64)>,
    /// 429s answered so far.
    pub too_many: u32,
    buckets: HashMap<String, (u32, Instant)>,
    next_id: u64,
    /// Every message Discord shows, in order, with `channel_id` where it shows.
    pub delivered: Vec<Value>,
    /// The command lists registered, by path.
    pub commands: HashMap<String, Value>,
}

pub struct FakeDiscord {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

fn error(status: u16, code: u64, message: &str) -> Reply {
    Reply { status, ..Reply::ok(json!({"code": code, "message": message}).to_string()) }
}

/// Why Discord refuses `p` as a message, if it does (50035 Invalid Form Body).
fn invalid(p: &Value) -> Option<&'static str> {
    let content = p["content"].as_str().unwrap_or_default();
    if content.is_empty() && p["embeds"].as_array().is_none_or(Vec::is_empty) && p["components"].as_array().is_none_or(Vec::is_empty) {
        return Some("Cannot send an empty message");
    }
    if content.chars().count() > 2000 {
        return Some("content: Must be 2000 or fewer in length.");
    }
    let rows = p["components"].as_array().cloned().unwrap_or_default();
    if rows.len() > 5 || rows.iter().any(|r| r["type"] != 1 || r["components"].as_array().is_none_or(|c| c.is_empty() || c.len() > 5)) {
        return Some("components: invalid action rows");
    }
    for b in rows.iter().flat_map(|r| r["components"].as_array().cloned().unwrap_or_default()) {
        let label_ok = b["label"].as_str().is_some_and(|l| l.chars().count() <= 80);
        let target_ok = if b["style"] == 5 { b["url"].is_string() } else { b["custom_id"].as_str().is_some_and(|c| (1..=100).contains(&c.len())) };
        if !label_ok || !target_ok {
            return Some("components: invalid button");
        }
    }
    None
}

fn respond(state: &Mutex<State>, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let p = req.json();
    let ok = |v: Value| Reply::ok(v.to_string());
    // Follow-ups are authorised by the interaction token in the path, not the bot token.
    if let Some(rest) = req.path.strip_prefix(&format!("/webhooks/{APPLICATION_ID}/")) {
        if let Some(why) = invalid(&p) {
            return error(400, 50035, why);
        }
        st.next_id += 1;
        let mut shown = p.clone();
        shown["channel_id"] = json!(format!("followup:{rest}"));
        st.delivered.push(shown);
        return ok(json!({"id": st.next_id.to_string()}));
    }
    if req.header("authorization") != Some(&format!("Bot {BOT_TOKEN}")) {
        return error(401, 0, "401: Unauthorized");
    }
    let path = req.path.as_str();
    if path == "/users/@me/channels" && req.method == "POST" {
        // A channel's id (here: 7…) is no user.
        let Some(user) = p["recipient_id"].as_str().filter(|u| u.chars().all(|c| c.is_ascii_digit()) && u.len() < 18 && !u.starts_with('7')) else {
            return error(400, 50035, "Invalid Form Body");
        };
        return ok(json!({"id": dm(user), "type": 1, "recipients": [{"id": user}]}));
    }
    if let Some(rest) = path.strip_prefix(&format!("/applications/{APPLICATION_ID}/")) {
        if req.method != "PUT" || !rest.ends_with("commands") {
            return error(405, 0, "405: Method Not Allowed");
        }
        let list = p.as_array().cloned().unwrap_or_default();
        let bad = list.iter().any(|c| {
            let name = c["name"].as_str().unwrap_or_default();
            let description = c["description"].as_str().unwrap_or_default();
            name.is_empty()
                || name.len() > 32
                || name.chars().any(|ch| ch.is_uppercase())
                || description.is_empty()
                || description.chars().count() > 100
        });
        if bad || list.len() > 100 {
            return error(400, 50035, "Invalid Form Body");
        }
        st.commands.insert(rest.to_owned(), p.clone());
        return ok(Value::Array(list.iter().enumerate().map(|(i, c)| json!({"id": (1000 + i).to_string(), "name": c["name"]})).collect()));
    }
    let Some(channel) = path.strip_prefix("/channels/").and_then(|r| r.strip_suffix("/messages")).map(str::to_owned) else {
        return error(404, 0, "404: Not Found");
    };
    let user_of_dm = channel.strip_prefix('9').map(str::to_owned);
    if !channel.starts_with('9') && !channel.starts_with('7') {
        return error(404, 10003, "Unknown Channel");
    }
    if user_of_dm.as_ref().is_some_and(|u| st.closed.contains(u)) {
        return error(403, 50007, "Cannot send messages to this user");
    }
    if let Some(why) = invalid(&p) {
        return error(400, 50035, why);
    }
    if let Some(after) = st.throttle.remove(&channel) {
        return Reply {
            status: 429,
            ..Reply::ok(json!({"message": "You are being rate limited.", "retry_after": after, "global": false}).to_string())
        }
        .header("retry-after", &after.ceil().to_string())
        .header("x-ratelimit-scope", "user");
    }
    if let Some(false) = st.script.get_mut(&channel).and_then(VecDeque::pop_front) {
        return Reply { status: 502, ..Reply::ok("<html>502 Bad Gateway</html>") };
    }
    let (size, window) = st.bucket.unwrap_or((5, 5.0));
    let (remaining, reset_after) = if st.unlimited {
        (size, window)
    } else {
        let now = Instant::now();
        let (used, since) = st.buckets.entry(channel.clone()).or_insert((0, now));
        if now.duration_since(*since).as_secs_f64() >= window {
            *used = 0;
            *since = now;
        }
        let after = window - now.duration_since(*since).as_secs_f64();
        if *used >= size {
            st.too_many += 1;
            return Reply {
                status: 429,
                ..Reply::ok(json!({"message": "You are being rate limited.", "retry_after": after, "global": false}).to_string())
            }
            .header("retry-after", &after.ceil().to_string());
        }
        *used += 1;
        (size - *used, after)
    };
    st.next_id += 1;
    let mut shown = p.clone();
    shown["channel_id"] = json!(channel);
    st.delivered.push(shown);
    ok(json!({"id": st.next_id.to_string(), "channel_id": channel, "content": p["content"]}))
        .header("x-ratelimit-limit", &size.to_string())
        .header("x-ratelimit-remaining", &remaining.to_string())
        .header("x-ratelimit-reset-after", &format!("{reset_after:.3}"))
        .header("x-ratelimit-bucket", "abcd1234")
}

impl FakeDiscord {
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

    /// Requests to paths ending in `suffix`, in order.
    pub fn calls(&self, suffix: &str) -> Vec<Recorded> {
        self.server.received().into_iter().filter(|r| r.path.ends_with(suffix)).collect()
    }

    pub fn delivered(&self) -> Vec<Value> {
        self.with(|s| s.delivered.clone())
    }

    /// The contents shown in `channel` (a user id reads as their DM).
    pub fn texts_in(&self, channel: &str) -> Vec<String> {
        let ids = [channel.to_owned(), dm(channel)];
        self.delivered()
            .iter()
            .filter(|m| ids.iter().any(|i| m["channel_id"] == i.as_str()))
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Ed25519 over `timestamp ‖ body` with [`SEED`], hex.
pub fn signature(timestamp: &str, body: &str) -> String {
    let key = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&hex::decode(SEED).unwrap()).unwrap();
    hex::encode(key.sign(format!("{timestamp}{body}").as_bytes()).as_ref())
}

/// `body` as Discord POSTs it to `/callback/discord?source={source}`, signed at `timestamp`.
pub fn signed(source: &str, body: &str, timestamp: i64) -> herald::http::Request {
    let ts = timestamp.to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert(herald::platforms::discord::receive::TIMESTAMP_HEADER, ts.parse().unwrap());
    headers.insert(herald::platforms::discord::receive::SIGNATURE_HEADER, signature(&ts, body).parse().unwrap());
    headers.insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    let uri: http::Uri = format!("/callback/discord?source={source}").parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_owned()))
}

/// A slash command `/{name}` with string `options` (`name`, `value`), by `user` in their DM.
pub fn command(id: &str, user: &str, name: &str, options: &[(&str, &str)]) -> String {
    let options: Vec<Value> = options.iter().map(|(n, v)| json!({"name": n, "type": 3, "value": v})).collect();
    json!({
        "id": id, "application_id": APPLICATION_ID, "type": 2, "token": format!("tok-{id}"), "version": 1,
        "channel_id": dm(user), "channel": {"id": dm(user), "type": 1}, "user": {"id": user, "username": "ada", "global_name": "Ada"},
        "locale": "en-US", "data": {"id": "1000", "name": name, "type": 1, "options": options},
    })
    .to_string()
}

/// A press of the bot's button `custom_id` on message `message` in `user`'s DM.
pub fn press(id: &str, user: &str, message: &str, custom_id: &str) -> String {
    json!({
        "id": id, "application_id": APPLICATION_ID, "type": 3, "token": format!("tok-{id}"), "version": 1,
        "channel_id": dm(user), "user": {"id": user, "username": "ada"}, "locale": "en-US",
        "message": {"id": message, "channel_id": dm(user), "content": "menu"}, "data": {"custom_id": custom_id, "component_type": 2},
    })
    .to_string()
}
