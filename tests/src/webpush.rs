//! A local stand-in for a Web Push service (RFC 8030): it hands out subscriptions as a browser
//! would (`{"endpoint", "keys": {"p256dh", "auth"}}`, its own key pair and auth secret for each),
//! and for each push checks what a push service checks — the `TTL` header, `Content-Encoding:
//! aes128gcm`, and the VAPID `Authorization` (RFC 8292: the ES256 JWT verifies under `k`, `k` is
//! the key the subscription was made with, `aud` is this origin, `exp` within 24 hours) — then
//! decrypts the body with its own implementation of RFC 8291 and keeps the document. It answers
//! 201, or as told: 410 for a subscription that is gone, 413, 429 with `Retry-After`, 502.

use crate::servers::{Recorded, Reply, TestServer};
use aws_lc_rs::{aead, agreement, hkdf};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// One subscription the stand-in made: its private key, auth secret, and the application
/// server key it was made with.
pub struct Sub {
    key: agreement::PrivateKey,
    auth: [u8; 16],
    server_key: String,
}

#[derive(Default)]
pub struct State {
    subs: HashMap<String, Sub>,
    /// Subscriptions that are gone (410).
    pub gone: HashSet<String>,
    /// How the next pushes end, in turn: `true` accepted, `false` a 502.
    pub script: VecDeque<bool>,
    /// The next push gets a 429 with this `Retry-After` (once).
    pub throttle: Option<u64>,
    /// Every push accepted: `{"sub", "document", "ttl", "urgency", "topic"}`.
    pub delivered: Vec<Value>,
    /// Pushes refused, and why.
    pub refused: Vec<String>,
}

pub struct FakePushService {
    pub server: TestServer,
    pub state: Arc<Mutex<State>>,
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm).expand(info, Len(len)).unwrap().fill(&mut out).unwrap();
    out
}

/// Decrypts an `aes128gcm` Web Push body for `sub` (RFC 8188 §2, RFC 8291 §3.4).
fn decrypt(sub: &Sub, body: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 86 + 17 {
        return Err("body too short".into());
    }
    let (salt, rest) = body.split_at(16);
    let rs = u32::from_be_bytes(rest[..4].try_into().unwrap());
    let idlen = rest[4] as usize;
    if idlen != 65 || rs < 18 {
        return Err("bad header".into());
    }
    let as_public = &rest[5..70];
    let mut record = rest[70..].to_vec();
    if record.len() > rs as usize {
        return Err("more than one record".into());
    }
    let ua_public = sub.key.compute_public_key().unwrap();
    let ecdh =
        agreement::agree(&sub.key, agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, as_public), "ecdh".to_owned(), |s| Ok(s.to_vec()))?;
    let ikm = hkdf(&sub.auth, &ecdh, &[b"WebPush: info\0", ua_public.as_ref(), as_public], 32);
    let cek = hkdf(salt, &ikm, &[b"Content-Encoding: aes128gcm\0"], 16);
    let nonce = hkdf(salt, &ikm, &[b"Content-Encoding: nonce\0"], 12);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let plain = key
        .open_in_place(aead::Nonce::try_assume_unique_for_key(&nonce).unwrap(), aead::Aad::empty(), &mut record)
        .map_err(|_| "does not decrypt")?;
    let end = plain.iter().rposition(|b| *b != 0).ok_or("no delimiter")?;
    if plain[end] != 2 {
        return Err("not the last record".into());
    }
    Ok(plain[..end].to_vec())
}

/// Why a push's VAPID header is refused, if it is.
fn vapid_problem(req: &Recorded, origin: &str, sub: &Sub) -> Option<String> {
    let h = req.header("authorization").unwrap_or_default();
    let Some((t, k)) = h.strip_prefix("vapid t=").and_then(|r| r.split_once(", k=")) else { return Some(format!("no vapid header: {h}")) };
    if k != sub.server_key {
        return Some("k is not the key the subscription was made with".into());
    }
    let claims = match herald::platforms::webpush::crypto::verify_jwt(t, k) {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    let now = jiff::Timestamp::now().as_second();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if claims["aud"] != origin
        || exp <= now
        || exp > now + 86_400
        || !claims["sub"].as_str().is_some_and(|s| s.starts_with("mailto:") || s.starts_with("https:"))
    {
        return Some(format!("bad claims {claims}"));
    }
    None
}

fn respond(state: &Mutex<State>, origin: &str, req: &Recorded) -> Reply {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let Some(id) = req.path.strip_prefix("/push/").map(str::to_owned) else { return Reply::status(404) };
    let refuse = |st: &mut State, status: u16, why: String| {
        st.refused.push(why);
        Reply::status(status)
    };
    if st.gone.contains(&id) {
        return Reply::status(410);
    }
    let Some(sub) = st.subs.get(&id) else { return Reply::status(404) };
    if req.header("ttl").and_then(|t| t.parse::<u64>().ok()).is_none() {
        return refuse(&mut st, 400, "no TTL".into());
    }
    if req.header("content-encoding") != Some("aes128gcm") {
        return refuse(&mut st, 400, "not aes128gcm".into());
    }
    if let Some(why) = vapid_problem(req, origin, sub) {
        return refuse(&mut st, 403, why);
    }
    if req.body.len() > 4096 {
        return refuse(&mut st, 413, "too large".into());
    }
    let plain = match decrypt(sub, &req.body) {
        Ok(p) => p,
        Err(e) => return refuse(&mut st, 400, e),
    };
    if let Some(after) = st.throttle.take() {
        return Reply::status(429).header("retry-after", &after.to_string());
    }
    if let Some(false) = st.script.pop_front() {
        return Reply::status(502);
    }
    let document: Value = serde_json::from_slice(&plain).unwrap_or(Value::Null);
    st.delivered
        .push(json!({"sub": id, "document": document, "ttl": req.header("ttl"), "urgency": req.header("urgency"), "topic": req.header("topic")}));
    Reply { status: 201, ..Reply::ok("") }.header("location", &format!("/message/{}", st.delivered.len()))
}

impl FakePushService {
    pub async fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let s = state.clone();
        let origin: Arc<Mutex<String>> = Arc::default();
        let o = origin.clone();
        let server = TestServer::start(move |req| respond(&s, &o.lock().unwrap(), req)).await;
        *origin.lock().unwrap() = server.url.clone();
        Self { server, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A new subscription made with the application server key `server_key`, as the browser's
    /// `PushSubscription.toJSON()` gives it.
    pub fn subscribe(&self, name: &str, server_key: &str) -> Value {
        let key = agreement::PrivateKey::generate(&agreement::ECDH_P256).unwrap();
        let public = B64.encode(key.compute_public_key().unwrap().as_ref());
        let auth: [u8; 16] = herald::domain::ids::random_bytes::<16>();
        let endpoint = format!("{}/push/{name}", self.server.url);
        self.with(|s| s.subs.insert(name.to_owned(), Sub { key, auth, server_key: server_key.to_owned() }));
        json!({"endpoint": endpoint, "expirationTime": null, "keys": {"p256dh": public, "auth": B64.encode(auth)}})
    }

    /// The documents pushed to the subscription `name`.
    pub fn documents(&self, name: &str) -> Vec<Value> {
        self.with(|s| s.delivered.iter().filter(|d| d["sub"] == name).map(|d| d["document"].clone()).collect())
    }

    pub fn pushes(&self) -> usize {
        self.server.received().len()
    }
}
