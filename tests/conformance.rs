//! The platform conformance suite: one set of cases, run against every platform this version
//! sends on (as `store_contract.rs` runs one contract against every store). Each platform is a
//! [`Subject`]: Herald on the embedded store with one channel of that kind, pointed at a local
//! stand-in for the platform's API that can be told to fail. The cases:
//!
//! 1. a request to the receiver that is not the platform's (no or a wrong secret or signature,
//!    an unknown `source`) is refused with 401 and changes nothing;
//! 2. the same update delivered twice is acted on once;
//! 3. a 429 reschedules the delivery after the platform's own wait, without counting a try;
//! 4. a 5xx is retried;
//! 5. a permanent error is recorded as failed, with the reason, and not retried;
//! 6. a long message sent in parts resumes after a partial failure: every part once;
//! 7. bind, then `/my`, through the bot.
//!
//! Receiving cases (1, 2, 7) need a receiver: a subject says whether it has one
//! ([`Subject::inbox`]), and the case checks that claim against the registry
//! ([`herald::platforms::platform`]) and that the platform's callback route answers 404, rather
//! than passing silently.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald::domain::{ChannelKind, DeliveryStatus, Format};
use herald::http::{Request, Response};
use herald::platforms::wecom::crypto::Crypto;
use herald::platforms::{Report, SendOutcome};
use herald::queue::{Depth, OutMessage, Queue, QueueResult, Received};
use herald_tests::discord::{self as dc, FakeDiscord};
use herald_tests::servers::{Reply, TestServer};
use herald_tests::slack::{self as sl, FakeSlack};
use herald_tests::synology::{self as syn, FakeSynology};
use herald_tests::telegram::{BOT_TOKEN, FakeTelegram};
use herald_tests::vocechat::{self as vc, FakeVocechat};
use herald_tests::webpush::FakePushService;
use herald_tests::wecom::{AES_KEY, AGENT, CORP, FakeWecom};
use herald_tests::{call, drain, memory_queue, test_config};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The channel every subject configures.
const NAME: &str = "ch";
/// The user the sending cases address, bound to the subject's recipient.
const USER: &str = "u1";

// ---- the subjects ----

/// One platform under test: its stand-in, the channel settings that point Herald at it, and the
/// stand-in's controls and records.
trait Subject: Sized {
    const KIND: ChannelKind;
    /// Whether a long message is sent in several calls on this platform.
    const SPLITS: bool;

    /// Starts the stand-in.
    async fn start() -> Self;
    /// The channel's settings, pointed at the stand-in.
    fn settings(&self) -> Value;
    /// A chat on this platform (a user's id there).
    fn recipient(&self) -> &str;
    /// Whether a message too long for one part is cut (Web Push: one record) rather than sent
    /// in several.
    const CUTS: bool = false;
    /// Binds [`USER`] to [`Subject::recipient`]: by default their id, `PUT` in the user's `ids`.
    async fn bind(&self, app: &App, on: &str) {
        let (status, v) = call(app, "PUT", &format!("/api/v1/users/{USER}"), Some(json!({"name": "Ada", "ids": {on: self.recipient()}}))).await;
        assert!(status == 200 || status == 201, "{status} {v}");
    }
    /// The receiving side, for a platform that receives.
    fn inbox(&self) -> Option<&dyn Inbox>;

    /// How the next sends end, in turn: `true` accepted, `false` a 5xx.
    fn script(&self, steps: &[bool]);
    /// Makes the next send meet the platform's rate limit; returns the wait Herald must honour.
    fn rate_limit(&self) -> Duration;
    /// Makes every send from now on fail for good (bad credentials, a refused request); returns
    /// what the reason must say, and a credential the reason must not carry.
    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str);

    /// Every request the stand-in received.
    fn requests(&self) -> usize;
    /// Requests that tried to send a message.
    fn send_attempts(&self) -> usize;
    /// The texts the platform accepted for `chat`, in order.
    fn delivered_to(&self, chat: &str) -> Vec<String>;
}

/// A platform's receiving side, as its webhook would be called. An update is the platform's own
/// payload (Telegram's JSON, WeCom's decrypted XML), as text.
trait Inbox {
    /// A new update: `text` from `from`, in a private chat.
    fn update(&self, from: &str, text: &str) -> String;
    /// `update` as the platform would POST it to `/callback/{kind}?source=ch`, authenticated.
    fn request(&self, update: &str) -> Request;
    /// `update` in requests that are not shown to be the platform's, each named.
    fn forged(&self, update: &str) -> Vec<(&'static str, Request)>;
    /// The text of the passive reply in `response`, if there is one.
    fn passive_text(&self, response: &Response) -> Option<String>;
    /// How a user binds with a code here.
    fn bind_command(&self, code: &str) -> String;
}

fn post_to(path_and_query: &str, headers: http::HeaderMap, body: String) -> Request {
    let uri: http::Uri = path_and_query.parse().unwrap();
    Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

// Telegram, against FakeTelegram (its own limits off: Herald's pacing still applies).

const TG_SECRET: &str = "conformance-webhook-secret-0123456789";
const TG_WRONG_TOKEN: &str = "654321:ZYXwvu-wrong-token-0123456789abc";

struct Tg(FakeTelegram);

impl Subject for Tg {
    const KIND: ChannelKind = ChannelKind::Telegram;
    const SPLITS: bool = true;

    async fn start() -> Self {
        let fake = FakeTelegram::start().await;
        fake.with(|s| s.unlimited = true);
        Tg(fake)
    }

    fn settings(&self) -> Value {
        json!({"bot_token": BOT_TOKEN, "api_base": self.0.url(), "webhook_secret": TG_SECRET})
    }

    fn recipient(&self) -> &str {
        "42"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.entry(self.recipient().into()).or_default().extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        self.0.with(|s| s.throttle.insert(self.recipient().into(), 7));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        // The operator saves a token Telegram does not know (it answers 401 Unauthorized).
        let mut settings = self.settings();
        settings["bot_token"] = json!(TG_WRONG_TOKEN);
        put_channel(app, Self::KIND, settings).await;
        ("Telegram 401: Unauthorized (check the channel's bot_token)", TG_WRONG_TOKEN)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.server.received().iter().filter(|r| r.path.ends_with("/sendMessage") || r.path.ends_with("/sendPhoto")).count()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.delivered().iter().filter(|m| m["chat_id"] == chat).map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

impl Inbox for Tg {
    fn update(&self, from: &str, text: &str) -> String {
        let id = next_id();
        let from: i64 = from.parse().unwrap();
        json!({"update_id": id, "message": {"message_id": id, "from": {"id": from, "is_bot": false, "first_name": "Ada", "language_code": "en"}, "chat": {"id": from, "type": "private"}, "date": 1, "text": text}})
            .to_string()
    }

    fn request(&self, update: &str) -> Request {
        let mut headers = http::HeaderMap::new();
        headers.insert(herald::platforms::telegram::SECRET_HEADER, TG_SECRET.parse().unwrap());
        post_to(&format!("/callback/telegram?source={NAME}"), headers, update.to_owned())
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        let with = |secret: Option<&str>| {
            let mut req = self.request(update);
            req.headers.remove(herald::platforms::telegram::SECRET_HEADER);
            if let Some(s) = secret {
                req.headers.insert(herald::platforms::telegram::SECRET_HEADER, s.parse().unwrap());
            }
            req
        };
        vec![
            ("no secret token", with(None)),
            ("an empty secret token", with(Some(""))),
            ("a wrong secret token", with(Some("conformance-webhook-secret-0123456788"))),
            ("the bot token as the secret", with(Some("ABC-DEF1234ghIkl-zyx57W2v1u123ew11"))),
        ]
    }

    fn passive_text(&self, response: &Response) -> Option<String> {
        if response.status() != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(response.body()).ok()?;
        v["text"].as_str().map(str::to_owned)
    }

    fn bind_command(&self, code: &str) -> String {
        // What the bot's deep link (t.me/bot?start=CODE) sends.
        format!("/start {code}")
    }
}

// WeCom, against FakeWecom, with encrypted callbacks (the official sample's token and key).

const WC_TOKEN: &str = herald_tests::wecom::TOKEN;
const WC_WRONG_SECRET: &str = "wecom-app-secret-that-is-wrong";

struct Wc(FakeWecom);

impl Wc {
    fn crypto(token: &str) -> Crypto {
        Crypto::new(token, AES_KEY, CORP).unwrap()
    }

    /// `inner` encrypted and signed under `token` at `ts`, as WeCom POSTs a callback.
    fn callback(inner: &str, token: &str, ts: i64, nonce: &str) -> Request {
        let c = Self::crypto(token);
        let enc = c.encrypt_with(inner, herald::domain::ids::random_bytes::<16>()).unwrap();
        let sig = c.signature(&ts.to_string(), nonce, &enc);
        let body = format!(
            "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>"
        );
        post_to(&format!("/callback/wecom?source={NAME}&msg_signature={sig}&timestamp={ts}&nonce={nonce}"), http::HeaderMap::new(), body)
    }

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }
}

impl Subject for Wc {
    const KIND: ChannelKind = ChannelKind::Wecom;
    const SPLITS: bool = true;

    async fn start() -> Self {
        Wc(FakeWecom::start().await)
    }

    fn settings(&self) -> Value {
        json!({"corp_id": CORP, "agent_id": AGENT, "secret": herald_tests::wecom::SECRET, "token": WC_TOKEN, "encoding_aes_key": AES_KEY, "api_base": self.0.server.url})
    }

    fn recipient(&self) -> &str {
        "zhangsan"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        // WeCom's 45009 names no wait: Herald waits a minute.
        self.0.with(|s| s.throttle_once = true);
        Duration::from_secs(60)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        // The operator saves a secret WeCom does not take (gettoken answers 40001).
        let mut settings = self.settings();
        settings["secret"] = json!(WC_WRONG_SECRET);
        put_channel(app, Self::KIND, settings).await;
        ("WeCom 40001: invalid credential", WC_WRONG_SECRET)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.calls("/cgi-bin/message/send")
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.delivered().iter().filter(|m| m["touser"] == chat).map(|m| m["text"]["content"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

impl Inbox for Wc {
    fn update(&self, from: &str, text: &str) -> String {
        let (id, ts) = (next_id(), Self::now());
        format!(
            "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{id}</MsgId><AgentID>{AGENT}</AgentID></xml>"
        )
    }

    fn request(&self, update: &str) -> Request {
        Self::callback(update, WC_TOKEN, Self::now(), "conformance")
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        let mut unsigned = self.request(update);
        unsigned.query.retain(|(k, _)| k != "msg_signature");
        let mut wrong = self.request(update);
        for (k, v) in &mut wrong.query {
            if k == "msg_signature" {
                *v = "0".repeat(40);
            }
        }
        vec![
            ("no signature", unsigned),
            ("a wrong signature", wrong),
            ("a signature under another token", Self::callback(update, "AnotherToken", Self::now(), "conformance")),
            ("a signed request ten minutes old (outside the replay window)", Self::callback(update, WC_TOKEN, Self::now() - 600, "conformance")),
        ]
    }

    fn passive_text(&self, response: &Response) -> Option<String> {
        if response.status() != 200 {
            return None;
        }
        let body = std::str::from_utf8(response.body()).ok().filter(|b| !b.is_empty())?;
        let outer = herald::platforms::wecom::receive::xml_fields(body).expect("a passive reply is WeCom's XML");
        let c = Self::crypto(WC_TOKEN);
        c.verify(&outer["MsgSignature"], &outer["TimeStamp"], &outer["Nonce"], &outer["Encrypt"]).expect("the passive reply is signed");
        let inner = herald::platforms::wecom::receive::xml_fields(&c.decrypt(&outer["Encrypt"]).unwrap())?;
        inner.get("Content").cloned()
    }

    fn bind_command(&self, code: &str) -> String {
        format!("/bind {code}")
    }
}

// Slack, against FakeSlack (its pacing off: Herald's applies), with signed Events API requests.

struct Sl(FakeSlack);

impl Subject for Sl {
    const KIND: ChannelKind = ChannelKind::Slack;
    const SPLITS: bool = true;

    async fn start() -> Self {
        let fake = FakeSlack::start().await;
        fake.with(|s| s.unlimited = true);
        Sl(fake)
    }

    fn settings(&self) -> Value {
        json!({"bot_token": sl::BOT_TOKEN, "signing_secret": sl::SIGNING_SECRET, "api_base": self.0.url()})
    }

    fn recipient(&self) -> &str {
        "U42ADA"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.entry(self.recipient().into()).or_default().extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        self.0.with(|s| s.throttle.insert(self.recipient().into(), 7));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        // The operator saves a token of another app (Slack answers invalid_auth).
        let mut settings = self.settings();
        settings["bot_token"] = json!(SL_WRONG_TOKEN);
        put_channel(app, Self::KIND, settings).await;
        ("Slack invalid_auth", SL_WRONG_TOKEN)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.calls("chat.postMessage").len()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.texts_in(chat)
    }
}

const SL_WRONG_TOKEN: &str = "xoxb-17653672481-19874698323-wrongwrongwrongwrong";

impl Inbox for Sl {
    fn update(&self, from: &str, text: &str) -> String {
        sl::dm_event(&format!("Ev{:08}", next_id()), from, text)
    }

    fn request(&self, update: &str) -> Request {
        sl::signed(NAME, update, sl::SIGNING_SECRET, jiff::Timestamp::now().as_second())
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        let now = jiff::Timestamp::now().as_second();
        let mut unsigned = self.request(update);
        unsigned.headers.remove(herald::platforms::slack::receive::SIGNATURE_HEADER);
        let mut no_time = self.request(update);
        no_time.headers.remove(herald::platforms::slack::receive::TIMESTAMP_HEADER);
        let mut wrong = self.request(update);
        wrong.headers.insert(herald::platforms::slack::receive::SIGNATURE_HEADER, format!("v0={}", "0".repeat(64)).parse().unwrap());
        let mut other_body = sl::signed(NAME, update, sl::SIGNING_SECRET, now);
        other_body.body = bytes::Bytes::from(update.replace("event_callback", "event_callback "));
        vec![
            ("no signature", unsigned),
            ("no timestamp", no_time),
            ("a wrong signature", wrong),
            ("a signature under another secret", sl::signed(NAME, update, "9f742231b10e8888abcd99yyyzzz85a5", now)),
            ("a body other than the one signed", other_body),
            ("a signed request ten minutes old (outside the replay window)", sl::signed(NAME, update, sl::SIGNING_SECRET, now - 600)),
        ]
    }

    fn passive_text(&self, response: &Response) -> Option<String> {
        if response.status() != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(response.body()).ok()?;
        v["text"].as_str().map(str::to_owned)
    }

    fn bind_command(&self, code: &str) -> String {
        // As typed in the DM with the bot (a leading `/` would start a Slack command).
        format!("bind {code}")
    }
}

// Discord, against FakeDiscord (its bucket off: Herald's pacing applies), with signed
// interactions. The bot is reached by slash commands, whose answer is the response itself.

struct Dc(FakeDiscord);

const DC_WRONG_TOKEN: &str = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.WrongWrongWrongWrongWrongWro";

impl Subject for Dc {
    const KIND: ChannelKind = ChannelKind::Discord;
    const SPLITS: bool = true;

    async fn start() -> Self {
        let fake = FakeDiscord::start().await;
        fake.with(|s| s.unlimited = true);
        Dc(fake)
    }

    fn settings(&self) -> Value {
        json!({"bot_token": dc::BOT_TOKEN, "application_id": dc::APPLICATION_ID, "public_key": dc::PUBLIC_KEY, "api_base": self.0.url()})
    }

    fn recipient(&self) -> &str {
        "4242"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.entry(dc::dm(self.recipient())).or_default().extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        self.0.with(|s| s.throttle.insert(dc::dm(self.recipient()), 7.0));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        // The operator saves a token Discord does not know (401).
        let mut settings = self.settings();
        settings["bot_token"] = json!(DC_WRONG_TOKEN);
        put_channel(app, Self::KIND, settings).await;
        ("Discord 401: 401: Unauthorized", DC_WRONG_TOKEN)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.calls("/messages").len()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.texts_in(chat)
    }
}

impl Inbox for Dc {
    fn update(&self, from: &str, text: &str) -> String {
        // Typed as a slash command: `/bind CODE` is the command `bind` with its option.
        let line = text.trim_start_matches('/');
        let (name, arg) = line.split_once(' ').unwrap_or((line, ""));
        let option = match name {
            "bind" => vec![("code", arg)],
            "broadcast" => vec![("text", arg)],
            _ => vec![],
        };
        dc::command(&format!("{}", 1_300_000_000_000_000_000 + next_id()), from, name, &option)
    }

    fn request(&self, update: &str) -> Request {
        dc::signed(NAME, update, jiff::Timestamp::now().as_second())
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        use herald::platforms::discord::receive::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
        let now = jiff::Timestamp::now().as_second();
        let mut unsigned = self.request(update);
        unsigned.headers.remove(SIGNATURE_HEADER);
        let mut no_time = self.request(update);
        no_time.headers.remove(TIMESTAMP_HEADER);
        let mut wrong = self.request(update);
        wrong.headers.insert(SIGNATURE_HEADER, "0".repeat(128).parse().unwrap());
        let mut other_body = self.request(update);
        other_body.body = bytes::Bytes::from(format!("{update} "));
        vec![
            ("no signature", unsigned),
            ("no timestamp", no_time),
            ("a wrong signature", wrong),
            ("a body other than the one signed", other_body),
            ("a signed request ten minutes old (outside the replay window)", dc::signed(NAME, update, now - 600)),
        ]
    }

    fn passive_text(&self, response: &Response) -> Option<String> {
        if response.status() != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(response.body()).ok()?;
        v["data"]["content"].as_str().map(str::to_owned)
    }

    fn bind_command(&self, code: &str) -> String {
        format!("/bind {code}")
    }
}

// Synology Chat, against FakeSynology (its pace off: Herald's applies): the bot posts form
// fields with the outgoing token; the first answer rides back in the response.

struct Syn(FakeSynology);

const SYN_WRONG_TOKEN: &str = "bot-token-WRONGWRONGWRONG0123";

/// A form body with its `token` field replaced (`None`: removed).
fn with_token(body: &str, token: Option<&str>) -> String {
    let fields = form_urlencoded::parse(body.as_bytes()).into_owned().filter(|(k, _)| k != "token");
    let mut out = form_urlencoded::Serializer::new(String::new());
    if let Some(t) = token {
        out.append_pair("token", t);
    }
    out.extend_pairs(fields).finish()
}

impl Subject for Syn {
    const KIND: ChannelKind = ChannelKind::Synology;
    const SPLITS: bool = true;

    async fn start() -> Self {
        let fake = FakeSynology::start().await;
        fake.with(|s| s.unlimited = true);
        Syn(fake)
    }

    fn settings(&self) -> Value {
        json!({"incoming_url": self.0.incoming_url(), "bot_token": syn::BOT_TOKEN, "outgoing_token": syn::OUTGOING_TOKEN, "api_base": self.0.server.url})
    }

    fn recipient(&self) -> &str {
        "5"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        // "create post too frequently" names no wait: Herald waits its own.
        self.0.with(|s| s.too_frequent = true);
        herald::platforms::synology::TOO_FREQUENT_WAIT
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        let mut settings = self.settings();
        settings["bot_token"] = json!(SYN_WRONG_TOKEN);
        put_channel(app, Self::KIND, settings).await;
        ("Synology 403: invalid token", SYN_WRONG_TOKEN)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.posts()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.texts_to(chat)
    }
}

impl Inbox for Syn {
    fn update(&self, from: &str, text: &str) -> String {
        syn::bot_post(from, text, 1_795_435_200_000 + next_id() as i64, syn::OUTGOING_TOKEN)
    }

    fn request(&self, update: &str) -> Request {
        syn::request(NAME, update)
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        vec![
            ("no token", syn::request(NAME, &with_token(update, None))),
            ("an empty token", syn::request(NAME, &with_token(update, Some("")))),
            ("a wrong token", syn::request(NAME, &with_token(update, Some("outgoing-token-9876543210zyxv")))),
            ("the bot's own token", syn::request(NAME, &with_token(update, Some(syn::BOT_TOKEN)))),
        ]
    }

    fn passive_text(&self, response: &Response) -> Option<String> {
        if response.status() != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(response.body()).ok()?;
        v["text"].as_str().map(str::to_owned)
    }

    fn bind_command(&self, code: &str) -> String {
        format!("bind {code}")
    }
}

// VoceChat, against FakeVocechat: the webhook carries its secret in the URL; answers go
// through the queue (VoceChat takes none in the response).

struct Vc(FakeVocechat);

const VC_WRONG_KEY: &str = "vocechat-bot-api-key-WRONGWRONGWRONG";

impl Subject for Vc {
    const KIND: ChannelKind = ChannelKind::Vocechat;
    const SPLITS: bool = true;

    async fn start() -> Self {
        Vc(FakeVocechat::start().await)
    }

    fn settings(&self) -> Value {
        json!({"server_url": self.0.server.url, "api_key": vc::API_KEY, "webhook_secret": vc::WEBHOOK_SECRET, "bot_uid": vc::BOT_UID})
    }

    fn recipient(&self) -> &str {
        "7"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        Some(self)
    }

    fn script(&self, steps: &[bool]) {
        self.0.with(|s| s.script.entry(self.recipient().into()).or_default().extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        self.0.with(|s| s.throttle.insert(self.recipient().into(), 7));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        let mut settings = self.settings();
        settings["api_key"] = json!(VC_WRONG_KEY);
        put_channel(app, Self::KIND, settings).await;
        ("VoceChat HTTP 401", VC_WRONG_KEY)
    }

    fn requests(&self) -> usize {
        self.0.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.0.sends()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.0.texts_to(chat)
    }
}

impl Inbox for Vc {
    fn update(&self, from: &str, text: &str) -> String {
        vc::message(next_id(), from, text, None)
    }

    fn request(&self, update: &str) -> Request {
        vc::request(NAME, vc::WEBHOOK_SECRET, update)
    }

    fn forged(&self, update: &str) -> Vec<(&'static str, Request)> {
        let mut none = self.request(update);
        none.query.retain(|(k, _)| k != "token");
        vec![
            ("no token", none),
            ("an empty token", vc::request(NAME, "", update)),
            ("a wrong token", vc::request(NAME, "vocechat-webhook-secret-0123456788", update)),
            ("the API key as the token", vc::request(NAME, vc::API_KEY, update)),
        ]
    }

    fn passive_text(&self, _response: &Response) -> Option<String> {
        None
    }

    fn bind_command(&self, code: &str) -> String {
        format!("/bind {code}")
    }
}

// Web Push, against FakePushService (which decrypts each push and checks its VAPID token). It
// sends only, to each of a person's subscriptions: the person's browser registers one.

struct Wp {
    fake: FakePushService,
    recipient: String,
}

impl Subject for Wp {
    const KIND: ChannelKind = ChannelKind::Webpush;
    const SPLITS: bool = false;
    const CUTS: bool = true;

    async fn start() -> Self {
        let fake = FakePushService::start().await;
        let endpoint = format!("{}/push/sub1", fake.server.url);
        Wp { recipient: format!("{USER}:{}", herald::platforms::webpush::subscription_id(&endpoint)), fake }
    }

    fn settings(&self) -> Value {
        // No VAPID keys: Herald makes the pair.
        json!({"subject": "mailto:ops@example.com", "api_base": self.fake.server.url})
    }

    fn recipient(&self) -> &str {
        &self.recipient
    }

    /// The person's browser subscribes with the channel's public key and registers it.
    async fn bind(&self, app: &App, _on: &str) {
        let (_, ch) = call(app, "GET", &format!("/api/v1/channels/{NAME}"), None).await;
        let key = ch["settings"]["vapid_public_key"].as_str().unwrap().to_owned();
        call(app, "PUT", &format!("/api/v1/users/{USER}"), Some(json!({"name": "Ada"}))).await;
        let sub = self.fake.subscribe("sub1", &key);
        let (status, v) = call(app, "POST", &format!("/api/v1/webpush/subscriptions?user={USER}"), Some(sub)).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(format!("{USER}:{}", v["id"].as_str().unwrap()), self.recipient);
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        None
    }

    fn script(&self, steps: &[bool]) {
        self.fake.with(|s| s.script.extend(steps.iter().copied()));
    }

    fn rate_limit(&self) -> Duration {
        self.fake.with(|s| s.throttle = Some(7));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, app: &App) -> (&'static str, &'static str) {
        // The operator saves another VAPID key pair: the subscriptions were made with the old
        // public key, so the push service refuses the new signature (403).
        let (public, private) = herald::platforms::webpush::crypto::generate_vapid().unwrap();
        let mut settings = self.settings();
        settings["vapid_public_key"] = json!(public);
        settings["vapid_private_key"] = json!(private);
        put_channel(app, Self::KIND, settings).await;
        ("push service HTTP 403", Box::leak(private.into_boxed_str()))
    }

    fn requests(&self) -> usize {
        self.fake.pushes()
    }

    fn send_attempts(&self) -> usize {
        self.fake.pushes()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        if chat != self.recipient {
            return Vec::new();
        }
        self.fake.documents("sub1").iter().map(|d| d["body"].as_str().unwrap_or_default().to_owned()).collect()
    }
}

// The generic webhook, against a TestServer that answers as scripted. It sends only.

#[derive(Default)]
struct HookState {
    script: VecDeque<Reply>,
    broken: bool,
    accepted: Vec<Value>,
}

struct Hook {
    server: TestServer,
    state: Arc<Mutex<HookState>>,
}

impl Hook {
    fn with<T>(&self, f: impl FnOnce(&mut HookState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

impl Subject for Hook {
    const KIND: ChannelKind = ChannelKind::Webhook;
    /// A webhook gets the whole message in one document.
    const SPLITS: bool = false;

    async fn start() -> Self {
        let state: Arc<Mutex<HookState>> = Arc::default();
        let s = state.clone();
        let server = TestServer::start(move |req| {
            let mut st = s.lock().unwrap();
            if st.broken {
                return Reply::status(400);
            }
            let reply = st.script.pop_front().unwrap_or_else(|| Reply::ok("{}"));
            if (200..300).contains(&reply.status) {
                st.accepted.push(req.json());
            }
            reply
        })
        .await;
        Hook { server, state }
    }

    fn settings(&self) -> Value {
        json!({"url": self.server.url, "secret": "conformance-signing-secret"})
    }

    fn recipient(&self) -> &str {
        "hook-user-1"
    }

    fn inbox(&self) -> Option<&dyn Inbox> {
        None
    }

    fn script(&self, steps: &[bool]) {
        self.with(|s| s.script.extend(steps.iter().map(|ok| if *ok { Reply::ok("{}") } else { Reply::status(503) })));
    }

    fn rate_limit(&self) -> Duration {
        self.with(|s| s.script.push_back(Reply::status(429).header("retry-after", "7")));
        Duration::from_secs(7)
    }

    async fn break_for_good(&self, _app: &App) -> (&'static str, &'static str) {
        // The endpoint refuses the request: 400.
        self.with(|s| s.broken = true);
        ("HTTP 400", "conformance-signing-secret")
    }

    fn requests(&self) -> usize {
        self.server.received().len()
    }

    fn send_attempts(&self) -> usize {
        self.requests()
    }

    fn delivered_to(&self, chat: &str) -> Vec<String> {
        self.with(|s| s.accepted.iter().filter(|d| d["recipient"] == chat).map(|d| d["text"].as_str().unwrap_or_default().to_owned()).collect())
    }
}

// ---- the stand: Herald with one channel on the subject ----

/// The in-process queue, recording the visibility the dispatcher gives each message it hands
/// back (how long it is rescheduled for), so no case has to wait that long to see it.
struct RecordingQueue {
    inner: herald::queue::memory::MemoryQueue,
    visibility: Mutex<Vec<(String, u32)>>,
}

impl RecordingQueue {
    fn visibility_of(&self, receipt: &str) -> Vec<u32> {
        self.visibility.lock().unwrap().iter().filter(|(r, _)| r == receipt).map(|(_, s)| *s).collect()
    }
}

#[async_trait::async_trait]
impl Queue for RecordingQueue {
    async fn send(&self, m: Vec<OutMessage>) -> QueueResult<()> {
        self.inner.send(m).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> QueueResult<Vec<Received>> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, r: &str) -> QueueResult<()> {
        self.inner.delete(r).await
    }
    async fn set_visibility(&self, r: &str, secs: u32) -> QueueResult<()> {
        self.visibility.lock().unwrap().push((r.to_owned(), secs));
        self.inner.set_visibility(r, secs).await
    }
    async fn dead_letter(&self, m: &Received) -> QueueResult<()> {
        self.inner.dead_letter(m).await
    }
    async fn dead_letters(&self, max: usize) -> QueueResult<Vec<Received>> {
        self.inner.dead_letters(max).await
    }
    async fn delete_dead(&self, r: &str) -> QueueResult<()> {
        self.inner.delete_dead(r).await
    }
    async fn depth(&self) -> QueueResult<Depth> {
        self.inner.depth().await
    }
}

struct Stand<S> {
    _dir: tempfile::TempDir,
    app: App,
    queue: Arc<RecordingQueue>,
    dispatcher: Dispatcher,
    s: S,
}

async fn put_channel(app: &App, kind: ChannelKind, settings: Value) -> Value {
    let (status, body) = call(app, "PUT", &format!("/api/v1/channels/{NAME}"), Some(json!({"kind": kind.as_str(), "settings": settings}))).await;
    assert!(status == 200 || status == 201, "{status} {body}");
    body
}

/// Herald on a fresh embedded store with the channel `ch` on a fresh stand-in for `S`.
async fn stand<S: Subject>() -> Stand<S> {
    let dir = tempfile::tempdir().unwrap();
    let table = herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap();
    let mut config = test_config();
    config.public_url = Some("https://herald.test".into());
    let queue = Arc::new(RecordingQueue { inner: memory_queue(180, config.max_receives), visibility: Mutex::default() });
    let app = App::new(Arc::new(table), queue.clone(), Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    let s = S::start().await;
    let body = put_channel(&app, S::KIND, s.settings()).await;
    if herald::platforms::registers(S::KIND) {
        assert_eq!(body["registration"]["ok"], true, "{body}");
    }
    Stand { _dir: dir, app, queue, dispatcher: Dispatcher::default(), s }
}

impl<S: Subject> Stand<S> {
    async fn user(&self, id: &str, body: Value) {
        let (status, v) = call(&self.app, "PUT", &format!("/api/v1/users/{id}"), Some(body)).await;
        assert!(status == 200 || status == 201, "{status} {v}");
    }

    /// Where the channel's chat ids are bound (`slack:ch` for a platform whose ids are per
    /// workspace).
    async fn binding(&self) -> herald::domain::Binding {
        self.app.repo.channel(NAME).await.unwrap().unwrap().binding()
    }

    /// [`USER`], bound to the subject's recipient.
    async fn bound_user(&self) {
        let on = self.binding().await.to_string();
        self.s.bind(&self.app, &on).await;
    }

    async fn notify(&self, text: &str) -> String {
        let body = json!({"type": "account", "text": text, "to": {"user": USER}});
        let (status, v) = call(&self.app, "POST", "/api/v1/notify", Some(body)).await;
        assert_eq!(status, 202, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    async fn delivery(&self, notification: &str) -> herald::domain::Delivery {
        let items = self.app.repo.deliveries(notification, None, 10).await.unwrap().items;
        assert_eq!(items.len(), 1, "{items:?}");
        items.into_iter().next().unwrap()
    }

    /// One receive and one dispatcher pass, as the SQS trigger would run it: the messages
    /// received, and those handed back.
    async fn one_pass(&self) -> (Vec<Received>, Vec<String>) {
        let batch = self.app.queue.receive(10, Duration::from_millis(500)).await.unwrap();
        let failed = self.dispatcher.process(&self.app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            self.app.queue.delete(&m.receipt).await.unwrap();
        }
        (batch, failed)
    }

    /// Sends `text` to the recipient now, through the platform face, resuming after `parts_done`.
    async fn send_now(&self, text: &str, parts_done: u32) -> Report {
        let channel = self.app.repo.channel(NAME).await.unwrap().unwrap();
        let message = herald_tests::message(text, Format::Text, None);
        herald::platforms::send(&self.app.platform_context(), &channel, self.s.recipient(), &message, parts_done).await
    }

    /// How many calls the platform renders `text` into.
    async fn parts_of(&self, text: &str) -> usize {
        let channel = self.app.repo.channel(NAME).await.unwrap().unwrap();
        herald::platforms::sender(S::KIND).render(&channel, self.s.recipient(), &herald_tests::message(text, Format::Text, None)).len()
    }

    /// The subject's receiving side; for a subject without one, checks that the platform indeed
    /// does not receive (its callback route answers 404) and says the case does not apply.
    async fn inbox(&self, case: &str) -> Option<&dyn Inbox> {
        let receives = herald::platforms::receiver(S::KIND).is_some();
        assert_eq!(self.s.inbox().is_some(), receives, "{}: the subject and the registry disagree on whether it receives", S::KIND);
        if receives {
            return self.s.inbox();
        }
        let uri = format!("/callback/{}?source={NAME}", S::KIND);
        let resp = herald::edge::router::route(&self.app, post_to(&uri, http::HeaderMap::new(), "{}".into())).await;
        assert_eq!(resp.status(), 404, "{} does not receive, yet {uri} did not answer 404", S::KIND);
        eprintln!("does not apply: {} does not receive ({case})", S::KIND);
        None
    }

    /// Posts `req` to the receiver; the status and every text the bot answered to `chat`, the
    /// passive reply and the queued calls (worked off the queue) alike.
    async fn post(&self, inbox: &dyn Inbox, req: Request, chat: &str) -> (u16, Vec<String>) {
        let before = self.s.delivered_to(chat).len();
        let resp = herald::edge::router::route(&self.app, req).await;
        let mut replies: Vec<String> = inbox.passive_text(&resp).into_iter().collect();
        drain(&self.app, &self.dispatcher).await;
        replies.extend(self.s.delivered_to(chat).into_iter().skip(before));
        (resp.status().as_u16(), replies)
    }

    async fn bind_code(&self, user: &str) -> String {
        let (status, v) = call(&self.app, "POST", &format!("/api/v1/users/{user}/bind-code"), None).await;
        assert_eq!(status, 201, "{v}");
        v["code"].as_str().unwrap().to_owned()
    }

    async fn bound(&self, chat: &str) -> Option<String> {
        self.app.repo.user_by_chat(self.binding().await, chat).await.unwrap().map(|u| u.value.id)
    }

    async fn depth(&self) -> Depth {
        self.app.queue.depth().await.unwrap()
    }
}

/// A text long enough to be split on every platform that splits (14 700 characters in lines).
fn long_text() -> String {
    (0..300).map(|i| format!("line {i:03} {}\n", "x".repeat(40))).collect()
}

// ---- the cases ----

/// Case 1: A request that is not shown to be the platform's is refused with 401 before anything is
/// read: nobody is bound, the bind code is not spent, the update is not marked seen, nothing is
/// queued and no call reaches the platform. The same update, authenticated, then works.
async fn refuses_unauthenticated_requests_and_changes_nothing<S: Subject>() {
    let st = stand::<S>().await;
    let Some(inbox) = st.inbox("unauthenticated requests").await else { return };
    st.user(USER, json!({"name": "Ada"})).await;
    let code = st.bind_code(USER).await;
    let chat = st.s.recipient();
    let update = inbox.update(chat, &inbox.bind_command(&code));
    let requests = st.s.requests();

    let mut unknown = inbox.request(&update);
    unknown.query.retain(|(k, _)| k != "source");
    unknown.query.push(("source".into(), "nope".into()));
    // (Without `source` the only channel of the kind is meant, and verified as usual: the
    // platform's forgeries above cover it.)
    let mut forged = inbox.forged(&update);
    forged.push(("an unknown source", unknown));
    for (what, req) in forged {
        let resp = herald::edge::router::route(&st.app, req).await;
        assert_eq!(resp.status(), 401, "{}: {what}", S::KIND);
        assert_eq!(inbox.passive_text(&resp), None, "{}: {what}", S::KIND);
    }

    assert_eq!(st.bound(chat).await, None, "nobody was bound");
    assert_eq!(st.depth().await, Depth::default(), "nothing was queued");
    assert_eq!(st.s.requests(), requests, "no call reached the platform");
    // The update was not marked seen and the code not spent: authenticated, it binds.
    let (status, replies) = st.post(inbox, inbox.request(&update), chat).await;
    assert_eq!(status, 200);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Ada"), "{replies:?}");
    assert_eq!(st.bound(chat).await.as_deref(), Some(USER));
}

/// Case 2: The platform delivers the same update twice (a retry): it is acted on once — one reply,
/// one check-in counted — and the retry is acknowledged with 200 so the platform stops.
async fn acts_on_a_repeated_update_once<S: Subject>() {
    let st = stand::<S>().await;
    let Some(inbox) = st.inbox("repeated updates").await else { return };
    st.bound_user().await;
    let chat = st.s.recipient();
    let req = inbox.request(&inbox.update(chat, "/checkin"));

    let (status, first) = st.post(inbox, req.clone(), chat).await;
    assert_eq!(status, 200);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("Checked in: +"), "{first:?}");
    let (status, again) = st.post(inbox, req, chat).await;
    assert_eq!(status, 200, "a retry is acknowledged");
    assert_eq!(again, Vec::<String>::new(), "and not answered again");

    let day = st.app.repo.local_day(st.app.now()).to_string();
    assert_eq!(st.app.repo.stats(&day).await.unwrap().get("checkins"), Some(&1));
    assert_eq!(st.depth().await, Depth::default());
}

/// Case 3: The platform's 429 (with its wait) is read as RateLimited with that wait; the dispatcher
/// hands the message back for exactly that long, without sleeping on it, puts the delivery back to
/// `queued` without counting the try, and sends it once the wait is over.
async fn reschedules_a_429_after_the_platforms_wait<S: Subject>() {
    let st = stand::<S>().await;
    st.bound_user().await;

    let wait = st.s.rate_limit();
    let report = st.send_now("throttled", 0).await;
    assert!(matches!(&report.outcome, SendOutcome::RateLimited { retry_after, .. } if *retry_after == wait), "{}: {report:?}", S::KIND);
    assert_eq!(report.parts_done, 0);

    let wait = st.s.rate_limit();
    let before = st.s.send_attempts();
    let id = st.notify("throttled").await;
    let (batch, failed) = st.one_pass().await;
    assert_eq!(batch.len(), 1);
    assert_eq!(failed, [batch[0].id.clone()], "handed back, not acknowledged");
    assert_eq!(st.queue.visibility_of(&batch[0].receipt), [wait.as_secs() as u32], "rescheduled for the platform's wait");
    assert_eq!(st.s.send_attempts(), before + 1, "tried once, not slept on and tried again");
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Queued, 0), "{d:?}");
    assert!(d.reason.as_deref().unwrap_or_default().starts_with("rate limited"), "{d:?}");
    assert!(st.s.delivered_to(st.s.recipient()).is_empty());
    assert!(st.app.queue.receive(10, Duration::ZERO).await.unwrap().is_empty(), "hidden for the wait");

    // The wait is over (made so, not waited for); another dispatcher instance (this one keeps
    // the chat paused for the wait) sends it, once, on its first counted attempt.
    st.app.queue.set_visibility(&batch[0].receipt, 0).await.unwrap();
    drain(&st.app, &Dispatcher::default()).await;
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Sent, 1), "{d:?}");
    assert_eq!(st.s.delivered_to(st.s.recipient()), ["throttled"]);
}

/// Case 4: A 5xx is Transient: the delivery is tried again later (counted), and then sent once.
async fn retries_a_5xx<S: Subject>() {
    let st = stand::<S>().await;
    st.bound_user().await;

    st.s.script(&[false]);
    let report = st.send_now("flaky", 0).await;
    assert!(matches!(&report.outcome, SendOutcome::Transient { reason } if reason.contains("50")), "{}: {report:?}", S::KIND);
    assert_eq!(report.parts_done, 0);

    st.s.script(&[false]);
    let id = st.notify("flaky").await;
    let (batch, failed) = st.one_pass().await;
    assert_eq!(failed, [batch[0].id.clone()], "handed back to be retried");
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Queued, 1), "{d:?}");
    assert!(d.reason.as_deref().unwrap_or_default().contains("50"), "{d:?}");
    drain(&st.app, &st.dispatcher).await;
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Sent, 2), "{d:?}");
    assert_eq!(st.s.delivered_to(st.s.recipient()), ["flaky"]);
    assert_eq!(st.depth().await.dead, 0);
}

/// Case 5: A permanent error (bad credentials, a refused request) fails the delivery at once with
/// the platform's reason — never a credential — and it is not tried again.
async fn records_a_permanent_error_and_does_not_retry<S: Subject>() {
    let st = stand::<S>().await;
    st.bound_user().await;
    let (reason, credential) = st.s.break_for_good(&st.app).await;

    let report = st.send_now("refused", 0).await;
    assert!(matches!(&report.outcome, SendOutcome::Permanent { reason: r, .. } if r.contains(reason)), "{}: {report:?}", S::KIND);

    let id = st.notify("refused").await;
    drain(&st.app, &st.dispatcher).await;
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Failed, 1), "{d:?}");
    let recorded = d.reason.unwrap_or_default();
    assert!(recorded.contains(reason), "{recorded}");
    assert!(!recorded.contains(credential), "{recorded}");
    assert_eq!(st.depth().await, Depth { waiting: 0, in_flight: 0, dead: 1 }, "dead-lettered, not retried");
    let requests = st.s.requests();
    drain(&st.app, &st.dispatcher).await;
    assert_eq!(st.s.requests(), requests);
    assert!(st.s.delivered_to(st.s.recipient()).is_empty());
}

/// Case 6: A long message goes in parts. When a part fails, the send reports the parts done; the
/// next attempt, given them, sends only the rest: every part arrives once, in order, and the parts
/// together are the whole text. The dispatcher keeps `parts_done` on the delivery.
async fn resumes_a_long_message_after_the_parts_sent<S: Subject>() {
    let st = stand::<S>().await;
    st.bound_user().await;
    let chat = st.s.recipient();
    let text = long_text();
    let n = st.parts_of(&text).await;
    assert_eq!(n > 1, S::SPLITS, "{}: {n} parts", S::KIND);
    if n == 1 {
        // One part: a failed send has done none, and resuming after it sends nothing.
        st.s.script(&[false]);
        let first = st.send_now(&text, 0).await;
        assert!(matches!(first.outcome, SendOutcome::Transient { .. }), "{first:?}");
        assert_eq!(first.parts_done, 0);
        let second = st.send_now(&text, first.parts_done).await;
        assert_eq!((second.outcome, second.parts_done), (SendOutcome::Sent, 1));
        let attempts = st.s.send_attempts();
        let after_all = st.send_now(&text, 1).await;
        assert_eq!((after_all.outcome, after_all.parts_done), (SendOutcome::Sent, 1));
        assert_eq!(st.s.send_attempts(), attempts, "nothing left to send");
        let got = st.s.delivered_to(chat);
        if S::CUTS {
            assert_eq!(got.len(), 1);
            let kept = got[0].strip_suffix('…').expect("a cut text says so");
            assert!(kept.len() > 1000 && text.starts_with(kept), "{} cuts the text to what fits: {}", S::KIND, got[0]);
        } else {
            assert_eq!(got, [text]);
        }
        eprintln!("{} sends a message in one part: parts_done holds trivially", S::KIND);
        return;
    }

    // Through the platform face: the second part fails once.
    st.s.script(&[true, false]);
    let attempts = st.s.send_attempts();
    let first = st.send_now(&text, 0).await;
    assert!(matches!(first.outcome, SendOutcome::Transient { .. }), "{first:?}");
    assert_eq!(first.parts_done, 1);
    let second = st.send_now(&text, first.parts_done).await;
    assert_eq!((second.outcome, second.parts_done), (SendOutcome::Sent, n as u32));
    let parts = st.s.delivered_to(chat);
    assert_eq!(parts.len(), n, "every part once");
    assert_eq!(parts.concat(), text);
    assert_eq!(st.s.send_attempts() - attempts, n + 1, "every part once, plus the one failed try");

    // Through the dispatcher: the first attempt sends one part, then the next fails.
    st.s.script(&[true, false]);
    let (attempts, before) = (st.s.send_attempts(), st.s.delivered_to(chat).len());
    let id = st.notify(&text).await;
    st.one_pass().await;
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts, d.parts_done), (DeliveryStatus::Queued, 1, 1), "{d:?}");
    drain(&st.app, &st.dispatcher).await;
    let d = st.delivery(&id).await;
    assert_eq!((d.status, d.attempts, d.parts_done), (DeliveryStatus::Sent, 2, n as u32), "{d:?}");
    let parts: Vec<String> = st.s.delivered_to(chat).into_iter().skip(before).collect();
    assert_eq!(parts.len(), n, "every part once");
    assert_eq!(parts.concat(), text);
    assert_eq!(st.s.send_attempts() - attempts, n + 1);
}

/// Case 7: A user made through the API binds with a code through the bot, and `/my` then names
/// them.
async fn binds_with_a_code_then_shows_the_account<S: Subject>() {
    let st = stand::<S>().await;
    let Some(inbox) = st.inbox("bind and /my").await else { return };
    st.user(USER, json!({"name": "Ada Lovelace", "plan": "pro"})).await;
    let code = st.bind_code(USER).await;
    let chat = st.s.recipient();

    let (status, replies) = st.post(inbox, inbox.request(&inbox.update(chat, &inbox.bind_command(&code))), chat).await;
    assert_eq!(status, 200);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Bound to Ada Lovelace"), "{replies:?}");
    assert_eq!(st.bound(chat).await.as_deref(), Some(USER));

    let (status, replies) = st.post(inbox, inbox.request(&inbox.update(chat, "/my")), chat).await;
    assert_eq!(status, 200);
    assert_eq!(replies.len(), 1, "{replies:?}");
    let my = &replies[0];
    assert!(my.starts_with("Ada Lovelace\n") && my.contains("Plan: pro"), "{my}");

    // The code was spent: the same code from another account binds nobody else.
    let other = st.s.recipient().to_owned() + "0";
    let (_, replies) = st.post(inbox, inbox.request(&inbox.update(&other, &inbox.bind_command(&code))), &other).await;
    assert!(replies.iter().all(|r| !r.contains("Bound to")), "{replies:?}");
    assert_eq!(st.bound(&other).await, None);
}

// ---- every case against every platform ----

macro_rules! conformance {
    ($($platform:ident => $subject:ty),* $(,)?) => {$(
        mod $platform {
            use super::*;

            #[tokio::test]
            async fn refuses_unauthenticated_requests_and_changes_nothing() {
                super::refuses_unauthenticated_requests_and_changes_nothing::<$subject>().await
            }

            #[tokio::test]
            async fn acts_on_a_repeated_update_once() {
                super::acts_on_a_repeated_update_once::<$subject>().await
            }

            #[tokio::test]
            async fn reschedules_a_429_after_the_platforms_wait() {
                super::reschedules_a_429_after_the_platforms_wait::<$subject>().await
            }

            #[tokio::test]
            async fn retries_a_5xx() {
                super::retries_a_5xx::<$subject>().await
            }

            #[tokio::test]
            async fn records_a_permanent_error_and_does_not_retry() {
                super::records_a_permanent_error_and_does_not_retry::<$subject>().await
            }

            #[tokio::test]
            async fn resumes_a_long_message_after_the_parts_sent() {
                super::resumes_a_long_message_after_the_parts_sent::<$subject>().await
            }

            #[tokio::test]
            async fn binds_with_a_code_then_shows_the_account() {
                super::binds_with_a_code_then_shows_the_account::<$subject>().await
            }
        }
    )*};
}

conformance!(telegram => Tg, wecom => Wc, slack => Sl, discord => Dc, synology => Syn, vocechat => Vc, webpush => Wp, webhook => Hook);

/// Every platform is a subject here: adding one more kind fails this until the suite runs
/// against it too.
#[test]
fn every_platform_is_a_subject() {
    let subjects = [Tg::KIND, Wc::KIND, Sl::KIND, Dc::KIND, Syn::KIND, Vc::KIND, Wp::KIND, Hook::KIND];
    for kind in ChannelKind::ALL {
        assert!(subjects.contains(&kind), "{kind}: add a subject to the conformance suite");
    }
}
