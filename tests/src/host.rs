//! A stand-in for a host app's command endpoint: it checks each event as the README tells hosts
//! to (the timestamp within 5 minutes, the HMAC-SHA256 over `timestamp.body` compared in
//! constant time, each interaction id taken once), written here independently of Herald's
//! signing code, and answers by command:
//!
//! - `search ARGS`: at once, a Markdown reply with an image, a button running
//!   `search ARGS page 2`, a link button, and a button whose arguments are too long for
//!   Telegram's 64-byte button data;
//! - `about`: at once, plain text;
//! - `later`: `202`, the reply to come through the API;
//! - `sleepy`: after `slow` (past any platform's deadline), a reply nobody reads;
//! - `broken`: `500` with a body that must never reach the person;
//! - anything else: `200` with a reply that is not valid (no text).

use crate::servers::{Recorded, Reply, TestServer};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const HOST_SECRET: &str = "host-app-secret-0123456789";
/// Longer than Telegram's 64 bytes of button data once written as `/search ARGS`.
pub const LONG_ARGS: &str = "the-long-and-winding-road-that-leads-to-your-door-will-never-disappear";

#[derive(Default)]
pub struct State {
    /// Every event taken (signature good, fresh, first time), in order.
    pub events: Vec<Value>,
    /// Events refused, with why.
    pub refused: Vec<&'static str>,
    seen: HashSet<String>,
}

pub struct FakeHost {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

/// The check the README gives hosts: `Ok(event)` or why it is refused.
pub fn verify(secret: &str, r: &Recorded, now: i64, seen: &mut HashSet<String>) -> Result<Value, &'static str> {
    let ts = r.header("x-herald-timestamp").ok_or("no timestamp")?;
    let t: i64 = ts.parse().map_err(|_| "unreadable timestamp")?;
    if (now - t).abs() > 300 {
        return Err("stale timestamp");
    }
    let sig = r.header("x-herald-signature").and_then(|s| s.strip_prefix("sha256=")).ok_or("no signature")?;
    let sig = hex::decode(sig).map_err(|_| "unreadable signature")?;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    aws_lc_rs::hmac::verify(&key, &signed, &sig).map_err(|_| "wrong signature")?;
    let event = r.json();
    let id = event["interaction"].as_str().ok_or("no interaction id")?.to_owned();
    if !seen.insert(id) {
        return Err("replayed");
    }
    Ok(event)
}

impl FakeHost {
    /// A host whose `sleepy` command answers after `slow`.
    pub async fn start(slow: Duration) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let server = TestServer::start(move |r| {
            let mut s = st.lock().unwrap();
            let now = jiff::Timestamp::now().as_second();
            let event = match verify(HOST_SECRET, r, now, &mut s.seen) {
                Ok(e) => e,
                Err(why) => {
                    s.refused.push(why);
                    return Reply::status(401);
                }
            };
            s.events.push(event.clone());
            let args = event["args"].as_str().unwrap_or_default().to_owned();
            match event["command"].as_str().unwrap_or_default() {
                "search" => Reply::ok(
                    json!({
                        "text": format!("Found **2** for _{args}_ <b>"),
                        "format": "markdown",
                        "image": "https://example.com/poster.png",
                        "buttons": [
                            [{"text": "Next page", "command": "search", "args": format!("{args} page 2")}, {"text": "Site", "url": "https://example.com/s"}],
                            [{"text": "Long", "command": "search", "args": LONG_ARGS}]
                        ]
                    })
                    .to_string(),
                ),
                "about" => Reply::ok(json!({"text": format!("About: {} as {}", event["sender"]["name"], event["role"])}).to_string()),
                "later" => Reply::status(202),
                "sleepy" => Reply::ok(json!({"text": "too late"}).to_string()).after(slow),
                "broken" => Reply { body: "secret stack trace".into(), ..Reply::status(500) },
                _ => Reply::ok(json!({"text": ""}).to_string()),
            }
        })
        .await;
        FakeHost { server, state }
    }

    pub fn url(&self) -> String {
        format!("{}/herald", self.server.url)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn events(&self) -> Vec<Value> {
        self.with(|s| s.events.clone())
    }
}
