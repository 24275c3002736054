//! Telegram end to end against a local stand-in for the Bot API: the webhook receiver, the bot
//! (bind, check-in, account, menu, unbind, admin commands, whitelists, group rules), sending
//! (HTML, splitting, keyboards, silence) and the platform's errors (429, 403, group migration).

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald::domain::ChannelKind;
use herald_tests::telegram::{BOT_TOKEN, BOT_USERNAME, FakeTelegram};
use herald_tests::{call, drain, embedded_app_custom};
use serde_json::{Value, json};
use std::sync::Arc;

const SECRET: &str = "events-webhook-secret-0123456789";
const GROUP: &str = "-1001234567890";

async fn setup(extra: Value) -> (tempfile::TempDir, App, FakeTelegram) {
    let (dir, app) = embedded_app_custom(Arc::new(herald::domain::clock::SystemClock), |c| c.public_url = Some("https://herald.test".into()));
    let (app, fake) = with_telegram(app, extra).await;
    (dir, app, fake)
}

/// `app` with a Telegram channel `tg` on a fresh stand-in (limits off), registered.
async fn with_telegram(app: App, extra: Value) -> (App, FakeTelegram) {
    let fake = FakeTelegram::start().await;
    fake.with(|s| s.unlimited = true);
    let mut settings = json!({"bot_token": BOT_TOKEN, "chat_id": GROUP, "api_base": fake.url(), "webhook_secret": SECRET});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, body) = call(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": settings}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
    (app, fake)
}

fn update_request(body: Value, secret: Option<&str>) -> herald::http::Request {
    let mut headers = http::HeaderMap::new();
    if let Some(s) = secret {
        headers.insert("x-telegram-bot-api-secret-token", s.parse().unwrap());
    }
    let uri: http::Uri = "/callback/telegram?source=tg".parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_string()))
}

async fn post(app: &App, body: Value) -> (u16, Value) {
    let resp = herald::edge::router::route(app, update_request(body, Some(SECRET))).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

/// A sample event from `events/telegram/`, as the Lambda runtime would hand it over.
async fn event(app: &App, file: &str) -> (u16, Value) {
    let text = std::fs::read_to_string(format!("{}/../events/telegram/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let req = herald::edge::lambda::request_from_event(&text).unwrap();
    let resp = herald::edge::router::route(app, req).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn text_from(from: i64, chat: i64, text: &str, lang: &str) -> Value {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let kind = if chat < 0 { "supergroup" } else { "private" };
    json!({"update_id": id, "message": {"message_id": id, "from": {"id": from, "is_bot": false, "first_name": "Ada", "language_code": lang}, "chat": {"id": chat, "type": kind}, "date": 1, "text": text}})
}

fn text(from: i64, t: &str) -> Value {
    text_from(from, from, t, "en")
}

fn button(from: i64, data: &str, message_id: i64) -> Value {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"update_id": id, "callback_query": {"id": format!("cb{id}"), "from": {"id": from, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": message_id, "chat": {"id": from, "type": "private"}}, "chat_instance": "1", "data": data}})
}

async fn user(app: &App, id: &str, body: Value) {
    let (status, v) = call(app, "PUT", &format!("/api/v1/users/{id}"), Some(body)).await;
    assert!(status == 200 || status == 201, "{v}");
}

async fn bind_code(app: &App, id: &str) -> String {
    let (status, v) = call(app, "POST", &format!("/api/v1/users/{id}/bind-code"), None).await;
    assert_eq!(status, 201, "{v}");
    v["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn registers_the_webhook_with_a_secret_and_the_commands_per_language() {
    let (_d, app, fake) = setup(json!({"admin_whitelist": "99"})).await;
    let hook = &fake.calls("setWebhook")[0];
    assert_eq!(hook["url"], "https://herald.test/callback/telegram?source=tg");
    assert_eq!(hook["secret_token"], SECRET);
    assert!(hook["allowed_updates"].as_array().unwrap().contains(&json!("chat_member")));
    let lists = fake.calls("setMyCommands");
    assert!(lists.iter().any(|l| l["language_code"] == "zh" && l["commands"][0]["description"] == "开始"));
    assert!(lists.iter().any(|l| l["scope"]["type"] == "chat" && l["scope"]["chat_id"] == "99" && l["commands"].to_string().contains("broadcast")));
    let (_, c) = call(&app, "GET", "/api/v1/channels/tg", None).await;
    assert_eq!(c["settings"]["bot_username"], BOT_USERNAME);
    assert_eq!(c["settings"]["webhook_secret"], "********");
    assert!(!c.to_string().contains(BOT_TOKEN));
    let (status, r) = call(&app, "POST", "/api/v1/channels/tg/register", None).await;
    assert_eq!((status, r["ok"].as_bool()), (200, Some(true)));
}

/// A stack without `HERALD_PUBLIC_URL` (the template no longer passes the API's own URL, which
/// made a dependency cycle) registers the address the registration request came in on.
#[tokio::test]
async fn registers_the_address_the_request_came_in_on_without_a_public_url() {
    let (_d, app) = embedded_app_custom(Arc::new(herald::domain::clock::SystemClock), |c| c.public_url = None);
    let fake = FakeTelegram::start().await;
    let settings = json!({"bot_token": BOT_TOKEN, "api_base": fake.url()});
    let (status, body) = call(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": settings}))).await;
    // Saved; without a Host (an in-process call) there is no address to register, and it says so.
    assert_eq!((status, &body["registration"]["ok"]), (201, &json!(false)), "{body}");
    assert!(body["registration"]["detail"].as_str().unwrap().contains("HERALD_PUBLIC_URL"), "{body}");
    assert!(fake.calls("setWebhook").is_empty());
    let mut req = herald_tests::request("POST", "/api/v1/channels/tg/register", None);
    req.headers.insert("host", "abc123.execute-api.us-east-1.amazonaws.com".parse().unwrap());
    req.headers.insert("x-forwarded-proto", "https".parse().unwrap());
    let resp = herald::edge::router::route(&app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    let hook = &fake.calls("setWebhook")[0];
    assert_eq!(hook["url"], "https://abc123.execute-api.us-east-1.amazonaws.com/callback/telegram?source=tg");
    // A host that is not a plain name is not used.
    let mut odd = herald_tests::request("POST", "/api/v1/channels/tg/register", None);
    odd.headers.insert("host", "evil.test/x?".parse().unwrap());
    let resp = herald::edge::router::route(&app, odd).await;
    assert_eq!(resp.status(), 502);
    assert!(String::from_utf8_lossy(resp.body()).contains("HERALD_PUBLIC_URL"));
    assert_eq!(fake.calls("setWebhook").len(), 1);
}

/// With Lambda function URLs each receiver has an address of its own (`HERALD_TELEGRAM_URL`):
/// Telegram is told that one, not the API's.
#[tokio::test]
async fn registers_the_telegram_receivers_own_url_when_it_has_one() {
    let own = "https://tg123.lambda-url.us-east-1.on.aws";
    let (_d, app) = embedded_app_custom(Arc::new(herald::domain::clock::SystemClock), |c| {
        c.public_url = Some("https://herald.test".into());
        c.receiver_urls.insert(ChannelKind::Telegram, own.into());
    });
    let (_app, fake) = with_telegram(app, json!({})).await;
    assert_eq!(fake.calls("setWebhook")[0]["url"], format!("{own}/callback/telegram?source=tg"));
}

#[tokio::test]
async fn rejects_updates_it_cannot_authenticate_and_changes_nothing() {
    let (_d, app, fake) = setup(json!({})).await;
    let before = fake.server.received().len();
    for secret in [None, Some("wrong"), Some("")] {
        let resp = herald::edge::router::route(&app, update_request(text(42, "/start x"), secret)).await;
        assert_eq!(resp.status(), 401);
    }
    let mut other = update_request(text(42, "/ping"), Some(SECRET));
    other.query = vec![("source".into(), "nope".into())];
    assert_eq!(herald::edge::router::route(&app, other).await.status(), 401);
    assert_eq!(event(&app, "invalid-secret.json").await.0, 401);
    assert_eq!(event(&app, "invalid-body.json").await.0, 400);
    let mut get = update_request(text(42, "/ping"), Some(SECRET));
    get.method = http::Method::GET;
    assert_eq!(herald::edge::router::route(&app, get).await.status(), 405);
    // Nothing was marked seen: the same update with the right secret is still handled.
    let u = text(42, "/ping");
    assert_eq!(herald::edge::router::route(&app, update_request(u.clone(), Some("wrong"))).await.status(), 401);
    let (status, reply) = post(&app, u).await;
    assert_eq!((status, reply["method"].as_str()), (200, Some("sendMessage")));
    assert_eq!(fake.server.received().len(), before);
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0);
}

#[tokio::test]
async fn handles_each_update_once() {
    let (_d, app, _fake) = setup(json!({})).await;
    let u = text(42, "/ping");
    let (_, first) = post(&app, u.clone()).await;
    assert!(first["text"].as_str().unwrap().contains("42"));
    let (status, again) = post(&app, u).await;
    assert_eq!((status, again), (200, Value::Null));
}

#[tokio::test]
async fn bind_check_in_account_and_unbind_end_to_end() {
    let (_d, app, fake) = setup(json!({})).await;
    user(
        &app,
        "1001",
        json!({"name": "Ada", "plan": "pro", "expires_at": "2099-01-01T00:00:00Z", "traffic_used": 53687091200u64, "traffic_total": 107374182400u64}),
    )
    .await;
    let (_, code) = call(&app, "POST", "/api/v1/users/1001/bind-code", None).await;
    assert_eq!(code["links"]["tg"], format!("https://t.me/{BOT_USERNAME}?start={}", code["code"].as_str().unwrap()));

    // The sample event carries a fixed code; make it this user's.
    app.repo.create_bind_code("1001", "evt-bind-code-0001").await.unwrap();
    let (status, reply) = event(&app, "start-bind.json").await;
    assert_eq!(status, 200);
    assert_eq!((reply["method"].as_str(), reply["chat_id"].as_str()), (Some("sendMessage"), Some("42")));
    assert_eq!(reply["text"], "Bound to Ada. Your notifications will come here.");
    assert_eq!(app.repo.user_by_chat(ChannelKind::Telegram, "42").await.unwrap().unwrap().value.id, "1001");
    // A code works once.
    let (_, again) = post(&app, text(43, "/start evt-bind-code-0001")).await;
    assert!(again["text"].as_str().unwrap().contains("invalid or has expired"));

    let (_, first) = event(&app, "checkin.json").await;
    assert!(first["text"].as_str().unwrap().starts_with("Checked in: +"), "{first}");
    let (_, second) = post(&app, text(42, "/checkin")).await;
    assert_eq!(second["text"], "You have already checked in today.");
    assert!(app.repo.user("1001").await.unwrap().unwrap().value.rewards >= 10);

    let (_, my) = event(&app, "my.json").await;
    let my = my["text"].as_str().unwrap();
    assert!(my.contains("Plan: pro") && my.contains("50.0 GB / 100.0 GB (50%)") && my.contains("days left"), "{my}");

    let (_, ask) = event(&app, "unbind.json").await;
    assert_eq!(ask["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "ub:y");
    let (_, answer) = event(&app, "callback-unbind-yes.json").await;
    assert_eq!(answer["method"], "answerCallbackQuery");
    drain(&app, &Dispatcher::default()).await;
    let edit = &fake.calls("editMessageText")[0];
    assert_eq!((edit["text"].as_str(), edit["message_id"].as_i64()), (Some("Unbound. Bind again any time with /bind CODE."), Some(700000004)));
    assert!(app.repo.user_by_chat(ChannelKind::Telegram, "42").await.unwrap().is_none());
}

#[tokio::test]
async fn one_account_binds_one_user_and_a_new_account_replaces_the_old() {
    let (_d, app, fake) = setup(json!({})).await;
    user(&app, "u1", json!({"name": "One"})).await;
    user(&app, "u2", json!({"name": "Two"})).await;
    let (_, r) = post(&app, text(42, &format!("/bind {}", bind_code(&app, "u1").await))).await;
    assert_eq!(r["text"], "Bound to One. Your notifications will come here.");
    // The same Telegram account cannot bind a second user.
    let (_, r) = post(&app, text(42, &format!("/bind {}", bind_code(&app, "u2").await))).await;
    assert_eq!(r["text"], "This account is already bound to One.");
    // Another Telegram account binding u1 replaces 42, and says so (here and to 42).
    let (_, r) = post(&app, text(50, &format!("/start {}", bind_code(&app, "u1").await))).await;
    assert_eq!(r["text"], "Bound to One. This replaces the Telegram account bound before (42).");
    drain(&app, &Dispatcher::default()).await;
    let told = fake.calls("sendMessage");
    assert!(told.iter().any(|m| m["chat_id"] == "42" && m["text"].as_str().unwrap().contains("no longer bound")));
    assert!(app.repo.user_by_chat(ChannelKind::Telegram, "42").await.unwrap().is_none());
    assert_eq!(app.repo.user_by_chat(ChannelKind::Telegram, "50").await.unwrap().unwrap().value.id, "u1");
}

#[tokio::test]
async fn menu_buttons_edit_the_message_and_switch_preferences() {
    let (_d, app, fake) = setup(json!({})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    let (_, menu) = post(&app, text(42, "/menu")).await;
    let rows = menu["reply_markup"]["inline_keyboard"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let (_, a) = post(&app, button(42, "m:prefs", 7)).await;
    assert_eq!(a["method"], "answerCallbackQuery");
    drain(&app, &Dispatcher::default()).await;
    let edit = fake.calls("editMessageText").pop().unwrap();
    let toggles = edit["reply_markup"]["inline_keyboard"].as_array().unwrap();
    let announcement = toggles.iter().position(|r| r[0]["text"].as_str().unwrap().ends_with("announcement")).unwrap();
    assert!(toggles[announcement][0]["text"].as_str().unwrap().starts_with("✅"));
    let (_, a) = post(&app, button(42, &format!("p:{announcement}"), 7)).await;
    assert_eq!(a["text"], "announcement: off");
    let u = app.repo.user("u1").await.unwrap().unwrap().value;
    assert_eq!(u.preferences.disabled_types, ["announcement"]);
    drain(&app, &Dispatcher::default()).await;
    let edit = fake.calls("editMessageText").pop().unwrap();
    assert!(edit["reply_markup"]["inline_keyboard"][announcement][0]["text"].as_str().unwrap().starts_with("⬜"));
}

#[tokio::test]
async fn replies_in_the_users_language() {
    let (_d, app, _fake) = setup(json!({})).await;
    let (_, r) = post(&app, text_from(42, 42, "/checkin", "zh-hans")).await;
    assert_eq!(r["text"], "你的账户尚未绑定。请在面板获取绑定码，然后发送 /bind 绑定码。");
    user(&app, "u1", json!({"ids": {"telegram": "43"}, "locale": "zh-CN"})).await;
    let (_, r) = post(&app, text_from(43, 43, "/checkin", "en")).await;
    assert!(r["text"].as_str().unwrap().starts_with("签到成功"), "{r}");
}

#[tokio::test]
async fn whitelists_gate_the_bot_and_admin_commands() {
    let (_d, app, _fake) = setup(json!({"user_whitelist": ["42"], "admin_whitelist": [99]})).await;
    let (_, r) = post(&app, text(7, "/my")).await;
    assert_eq!(r["text"], "You are not on this bot's user whitelist.");
    let (_, r) = post(&app, text(42, "/status")).await;
    assert_eq!(r["text"], "Only administrators may run this command.");
    let (_, r) = post(&app, text(99, "/status")).await;
    assert!(r["text"].as_str().unwrap().starts_with("Nodes: 0 online"), "{r}");
    let (_, r) = post(&app, text(42, "/help")).await;
    assert!(!r["text"].as_str().unwrap().contains("/broadcast"));
}

#[tokio::test]
async fn an_admin_broadcast_reaches_everyone_bound() {
    let (_d, app, fake) = setup(json!({"admin_whitelist": [99]})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    user(&app, "u2", json!({"ids": {"telegram": "43"}})).await;
    let (_, r) = post(&app, text(99, "/broadcast Service is back")).await;
    assert_eq!(r["text"], "Queued for 3 recipients.");
    drain(&app, &Dispatcher::default()).await;
    let chats: Vec<String> = fake.delivered().iter().map(|m| m["chat_id"].as_str().unwrap().to_owned()).collect();
    for c in ["42", "43", GROUP] {
        assert!(chats.contains(&c.to_owned()), "{chats:?}");
    }
}

#[tokio::test]
async fn group_rules_remove_unbound_members_and_leave_other_groups() {
    let (_d, app, _fake) = setup(json!({"group_bound_only": true, "group_quiet": true})).await;
    let (status, r) = event(&app, "new-member.json").await;
    assert_eq!(status, 200);
    assert!(r["text"].as_str().unwrap().starts_with("@eve has not bound an account"), "{r}");
    let d = Dispatcher::default();
    drain(&app, &d).await;
    let fake_calls = |m: &str| _fake.calls(m);
    assert_eq!(fake_calls("banChatMember")[0]["user_id"], 77);
    assert_eq!(fake_calls("unbanChatMember")[0]["only_if_banned"], true);

    // Quiet group: a command not addressed to the bot gets nothing; an addressed one an answer.
    let (_, r) = post(&app, text_from(42, GROUP.parse().unwrap(), "/ping", "en")).await;
    assert_eq!(r, Value::Null);
    let (_, r) = post(&app, text_from(42, GROUP.parse().unwrap(), &format!("/ping@{BOT_USERNAME}"), "en")).await;
    assert_eq!(r["method"], "sendMessage");
    // Any other group: the bot leaves.
    post(&app, text_from(42, -100999, "/ping", "en")).await;
    drain(&app, &d).await;
    assert_eq!(_fake.calls("leaveChat")[0]["chat_id"], "-100999");
}

#[tokio::test]
async fn sends_notifications_as_escaped_html_with_buttons_and_topics() {
    let (_d, app, fake) = setup(json!({"topics": {"node": 7}})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    let body = json!({"type": "account", "title": "Hi <you>", "text": "1 < 2 & 3 > 2", "link": "https://panel.test/a", "to": {"user": "u1"}});
    assert_eq!(call(&app, "POST", "/api/v1/notify", Some(body)).await.0, 202);
    let md = json!({"type": "node", "text": "**n1** is _down_", "format": "markdown", "buttons": [{"text": "Status", "url": "https://status.test"}], "to": "admins"});
    assert_eq!(call(&app, "POST", "/api/v1/notify", Some(md)).await.0, 202);
    drain(&app, &Dispatcher::default()).await;
    let sent = fake.delivered();
    let to_user = sent.iter().find(|m| m["chat_id"] == "42").unwrap();
    assert_eq!(to_user["text"], "<b>Hi &lt;you&gt;</b>\n1 &lt; 2 &amp; 3 &gt; 2");
    assert_eq!(to_user["parse_mode"], "HTML");
    assert_eq!(to_user["reply_markup"]["inline_keyboard"][0][0]["url"], "https://panel.test/a");
    let to_group = sent.iter().find(|m| m["chat_id"] == GROUP).unwrap();
    assert_eq!(to_group["text"], "<b>n1</b> is <i>down</i>");
    assert_eq!(to_group["message_thread_id"], 7);
    assert_eq!(to_group["reply_markup"]["inline_keyboard"][0][0]["text"], "Status");
}

#[tokio::test]
async fn splits_long_texts_at_lines_and_sends_each_part_once() {
    let (_d, app, fake) = setup(json!({})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    let long: String = (0..300).map(|i| format!("line {i:03} {}\n", "x".repeat(40))).collect();
    // The second part fails once with a 500: the retry does not send the first again.
    fake.with(|s| s.script.insert("42".into(), [true, false].into()));
    let body = json!({"type": "account", "text": long, "to": {"user": "u1"}});
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(body)).await;
    let d = Dispatcher::default();
    drain(&app, &d).await;
    assert!(fake.with(|s| s.script["42"].is_empty()), "the injected failure happened");
    let sends = fake.server.received().iter().filter(|r| r.path.ends_with("/sendMessage")).count();
    let parts = fake.delivered();
    assert_eq!(sends, parts.len() + 1, "every part once, plus the one failed try");
    let (_, st) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    // 300 lines of 49 characters: as few messages as 4096 characters allow (83 lines each).
    assert_eq!(parts.len(), 4, "{} {st} {:?}", parts.len(), fake.server.received().iter().map(|r| r.path.clone()).collect::<Vec<_>>());
    assert!(parts.iter().all(|p| p["text"].as_str().unwrap().encode_utf16().count() <= 4096));
    let joined: String = parts.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(joined, long);
    let (_, status) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    assert_eq!(status["deliveries"][0]["status"], "sent");
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_marked_and_reached_elsewhere() {
    let hook = herald_tests::servers::TestServer::start(|_| herald_tests::servers::Reply::ok("{}")).await;
    let (_d, app, fake) = setup(json!({})).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "types": ["account"], "settings": {"url": hook.url}}))).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}, "preferences": {"preferred_channel": "tg"}})).await;
    // u1 has a webhook id too, but prefers Telegram: first only Telegram is tried.
    user(&app, "u1", json!({"ids": {"telegram": "42", "webhook": "u1"}})).await;
    fake.with(|s| s.blocked.insert("42".into()));
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "expires soon", "to": {"user": "u1"}}))).await;
    drain(&app, &Dispatcher::default()).await;
    let (_, status) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    let ds = status["deliveries"].as_array().unwrap();
    let tg = ds.iter().find(|d| d["channel"] == "tg").unwrap();
    assert_eq!(tg["status"], "failed");
    assert!(tg["reason"].as_str().unwrap().contains("blocked"));
    assert_eq!(tg["attempts"], 1);
    let fallback = ds.iter().find(|d| d["channel"] == "hook").unwrap();
    assert_eq!(fallback["status"], "sent");
    assert_eq!(fallback["note"], "fallback after tg failed");
    let u = app.repo.user("u1").await.unwrap().unwrap().value;
    assert!(u.unreachable.contains_key(&ChannelKind::Telegram.into()));
    assert_eq!(hook.received().len(), 1);
    // Reached on the webhook: nothing lost, so nothing dead-lettered (the one alarm that stays
    // with `Alarms=DeadLetters` is for losses), and no notice to the admins (not theirs to fix).
    assert_eq!(app.queue.depth().await.unwrap().dead, 0);
    // Next time Telegram is not tried at all: the notice goes straight to the webhook.
    let tries = |fake: &FakeTelegram| fake.server.received().iter().filter(|r| r.path.ends_with("/sendMessage")).count();
    let before = tries(&fake);
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "expires tomorrow", "to": {"user": "u1"}}))).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(tries(&fake), before);
    assert_eq!(hook.received().len(), 2);
    let (_, status) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    let ds = status["deliveries"].as_array().unwrap();
    assert!(ds.iter().all(|d| d["channel"] == "hook" && d["status"] == "sent"), "{status}");
}

/// A user reached on two channels by the notification's own plan, who blocked the bot: when the
/// other channel's delivery was already sent, the failed one is not dead-lettered (nothing is
/// lost); had it not been sent yet, it would be (it may fail too: a failure is never left untold).
#[tokio::test]
async fn a_user_who_blocked_the_bot_but_got_it_on_another_planned_channel_is_not_dead_lettered() {
    let hook = herald_tests::servers::TestServer::start(|_| herald_tests::servers::Reply::ok("{}")).await;
    let (_d, app, fake) = setup(json!({})).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "types": ["account"], "settings": {"url": hook.url}}))).await;
    user(&app, "u1", json!({"ids": {"telegram": "42", "webhook": "u1"}})).await;
    fake.with(|s| s.blocked.insert("42".into()));
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "expires soon", "to": {"user": "u1"}}))).await;
    let id = n["id"].as_str().unwrap();
    let plan = app.repo.notification(id).await.unwrap().unwrap().value.plan;
    assert_eq!(plan.len(), 2, "both channels planned");
    let channel_of = |m: &herald::queue::Received| match herald::queue::job::Job::parse(&m.body) {
        Some(herald::queue::job::Job::Deliver { delivery, .. }) => plan.iter().find(|d| d.id == delivery).unwrap().channel.clone(),
        other => panic!("{other:?}"),
    };
    // The webhook's send first, then Telegram's.
    let mut batch = app.queue.receive(10, std::time::Duration::from_millis(200)).await.unwrap();
    assert_eq!(batch.len(), 2);
    batch.sort_by_key(|m| channel_of(m) != "hook");
    let d = Dispatcher::default();
    for m in batch {
        assert!(d.process(&app, vec![m.clone()]).await.is_empty());
        app.queue.delete(&m.receipt).await.unwrap();
    }
    assert_eq!(hook.received().len(), 1);
    let (_, status) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    let tg = status["deliveries"].as_array().unwrap().iter().find(|d| d["channel"] == "tg").unwrap().clone();
    assert_eq!(tg["status"], "failed", "{status}");
    assert_eq!(app.queue.depth().await.unwrap().dead, 0);
}

/// A user who blocked the bot and has no other channel: the send cannot be made, so it is
/// dead-lettered and filed in the admins' message center, but no notice is raised (blocking
/// the bot is the user's choice, not the admins' to fix).
#[tokio::test]
async fn a_user_who_blocked_the_bot_and_is_reached_nowhere_else_is_filed_not_told() {
    let (_d, app, fake) = setup(json!({})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    user(&app, "boss", json!({"role": "admin", "ids": {"telegram": "7"}})).await;
    fake.with(|s| s.blocked.insert("42".into()));
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "expires soon", "to": {"user": "u1"}}))).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(app.queue.depth().await.unwrap().dead, 1);
    let (_, center) = call(&app, "GET", "/api/v1/messages", None).await;
    let entries = center["messages"].as_array().unwrap();
    assert!(entries.iter().any(|m| m["category"] == "failure" && m["text"].as_str().unwrap().contains("blocked")), "{center}");
    let to_boss = fake.delivered().iter().filter(|m| m["chat_id"] == "7").count();
    assert_eq!(to_boss, 0, "no notice");
}

/// The fallback is made before the failed delivery is closed: when the queue is down at that
/// moment, the message comes back, and the fallback still goes out (once).
#[tokio::test]
async fn a_fallback_the_queue_refused_is_made_on_the_next_try() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let queue = Arc::new(herald_tests::faults::FlakyQueue { inner: Arc::new(herald_tests::memory_queue(180, 20)), failing: 0.into() });
    let mut config = herald_tests::test_config();
    config.public_url = Some("https://herald.test".into());
    // The failed try's claim holds the delivery until its lease runs out; then it is tried again.
    config.lease = std::time::Duration::from_secs(1);
    let app = App::new(table, queue.clone(), Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    let (app, fake) = with_telegram(app, json!({})).await;
    let hook = herald_tests::servers::TestServer::start(|_| herald_tests::servers::Reply::ok("{}")).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "types": ["account"], "settings": {"url": hook.url}}))).await;
    user(&app, "u1", json!({"ids": {"telegram": "42", "webhook": "u1"}, "preferences": {"preferred_channel": "tg"}})).await;
    fake.with(|s| s.blocked.insert("42".into()));
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "expires soon", "to": {"user": "u1"}}))).await;
    // The next send to the queue is the fallback's.
    queue.failing.store(1, std::sync::atomic::Ordering::SeqCst);
    drain(&app, &Dispatcher::default()).await;
    let (_, status) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    let ds = status["deliveries"].as_array().unwrap();
    let tg = ds.iter().find(|d| d["channel"] == "tg").unwrap();
    assert_eq!(tg["status"], "failed", "{status}");
    let fallback = ds.iter().find(|d| d["channel"] == "hook").unwrap();
    assert_eq!((fallback["status"].as_str(), fallback["attempts"].as_u64()), (Some("sent"), Some(1)), "{status}");
    assert_eq!(hook.received().len(), 1);
    assert_eq!(queue.failing.load(std::sync::atomic::Ordering::SeqCst), 0, "the injected failure was used");
}

#[tokio::test]
async fn sends_silently_during_quiet_hours() {
    // 23:30 in Kiritimati (UTC+14), inside quiet hours that cross midnight: a set clock, never
    // the wall clock (times around midnight once made this test fail at certain hours).
    let clock = Arc::new(herald::domain::clock::ManualClock::new("2026-11-23T09:30:00Z".parse().unwrap()));
    let (_d, app) = embedded_app_custom(clock, |c| c.public_url = Some("https://herald.test".into()));
    let (app, fake) = with_telegram(app, json!({})).await;
    let zone = "Pacific/Kiritimati";
    let (start, end) = ("23:00", "00:30");
    user(&app, "u1", json!({"ids": {"telegram": "42"}, "preferences": {"quiet_hours": {"start": start, "end": end, "time_zone": zone}}})).await;
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "shh", "to": {"user": "u1"}}))).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(fake.delivered()[0]["disable_notification"], true);
}

#[tokio::test]
async fn a_migrated_group_gets_its_new_id_stored_and_the_message() {
    let (_d, app, fake) = setup(json!({})).await;
    fake.with(|s| s.moved.insert(GROUP.into(), "-1009999".into()));
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n1 down", "to": "admins"}))).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(fake.delivered().iter().filter(|m| m["chat_id"] == "-1009999").count(), 1);
    let (_, c) = call(&app, "GET", "/api/v1/channels/tg", None).await;
    assert_eq!(c["settings"]["chat_id"], "-1009999");
}

#[tokio::test]
async fn honours_telegrams_flood_control_and_reschedules() {
    let (_d, app, fake) = setup(json!({})).await;
    fake.with(|s| s.unlimited = false);
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": format!("m{i}"), "to": {"user": "u1"}}))).await;
        ids.push(n["id"].as_str().unwrap().to_owned());
    }
    let first = &ids[0];
    // Telegram says wait 2 s on the first try (its limits are dynamic): rescheduled, not slept on.
    fake.with(|s| s.throttle.insert("42".into(), 2));
    let started = std::time::Instant::now();
    // One pass over the batch: the first gets the 429 and the whole chat's group comes back
    // (in order), nothing more is sent, nothing waits inside the function.
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, std::time::Duration::from_millis(200)).await.unwrap();
    assert_eq!(batch.len(), 3);
    let failed = d.process(&app, batch.clone()).await;
    assert_eq!(failed, batch.iter().map(|m| m.id.clone()).collect::<Vec<_>>());
    assert_eq!(fake.server.received().iter().filter(|r| r.path.ends_with("/sendMessage")).count(), 1);
    assert!(fake.delivered().is_empty());
    drain(&app, &d).await;
    let texts: Vec<String> = fake.delivered().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, ["m0", "m1", "m2"], "in order, each once");
    // 2 s for Telegram, then one a second per chat (fixed windows: two may fall either side of
    // a window's edge, which Telegram's short bursts allow).
    assert!(started.elapsed() >= std::time::Duration::from_millis(2900), "{:?}", started.elapsed());
    assert_eq!(fake.with(|s| s.too_many), 0, "our own pacing caused no 429");
    let (_, first) = call(&app, "GET", &format!("/api/v1/notifications/{first}"), None).await;
    assert_eq!((first["deliveries"][0]["status"].as_str(), first["deliveries"][0]["attempts"].as_u64()), (Some("sent"), Some(1)));
}

/// `POST /api/v1/channels/{name}/test` sends now, without the queue, and reports Telegram's verdict.
#[tokio::test]
async fn the_test_route_sends_now_and_reports_the_answer() {
    let (_d, app, fake) = setup(json!({})).await;
    let (status, ok) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    assert_eq!((status, ok["ok"].clone(), ok["recipient"].clone()), (200, json!(true), json!(GROUP)), "{ok}");
    assert_eq!(fake.delivered().len(), 1);
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0);
    fake.with(|s| s.blocked.insert("42".into()));
    let (_, blocked) = call(&app, "POST", "/api/v1/channels/tg/test", Some(json!({"recipient": "42"}))).await;
    assert_eq!((blocked["ok"].clone(), blocked["outcome"].clone()), (json!(false), json!("permanent")), "{blocked}");
    assert!(!blocked.to_string().contains(BOT_TOKEN));
}

/// Two `/checkin`s racing (Telegram retries, two instances): one reward, one "already".
#[tokio::test]
async fn racing_check_ins_reward_once() {
    let (_d, app, _fake) = setup(json!({})).await;
    user(&app, "2001", json!({"name": "Lin"})).await;
    let code = bind_code(&app, "2001").await;
    post(&app, text(77, &format!("/bind {code}"))).await;
    let (a, b) = tokio::join!(post(&app, text(77, "/checkin")), post(&app, text(77, "/checkin")));
    let replies = [a.1["text"].as_str().unwrap().to_owned(), b.1["text"].as_str().unwrap().to_owned()];
    assert_eq!(replies.iter().filter(|t| t.starts_with("Checked in: +")).count(), 1, "{replies:?}");
    assert_eq!(replies.iter().filter(|t| *t == "You have already checked in today.").count(), 1, "{replies:?}");
    let rewards = app.repo.user("2001").await.unwrap().unwrap().value.rewards;
    let reward: i64 = replies
        .iter()
        .find_map(|t| t.strip_prefix("Checked in: +"))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rewards, reward);
}

/// Issue 24.7: check-ins count in the local day they happened in (split at local midnight in
/// the settings' time zone), and each local day allows one.
#[tokio::test]
async fn check_ins_count_in_their_local_day() {
    let clock = Arc::new(herald::domain::clock::ManualClock::new("2026-11-22T15:59:00Z".parse().unwrap())); // 23:59 in Shanghai
    let (_dir, app) = embedded_app_custom(clock.clone(), |c| c.public_url = Some("https://herald.test".into()));
    let (app, _fake) = with_telegram(app, json!({})).await;
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(json!({"time_zone": "Asia/Shanghai"}))).await.0, 200);
    user(&app, "1001", json!({"ids": {"telegram": "42"}})).await;
    let (_, r) = post(&app, text(42, "/checkin")).await;
    assert!(r["text"].as_str().unwrap().starts_with("Checked in"), "{r}");
    clock.set("2026-11-22T16:01:00Z".parse().unwrap()); // 00:01 on the 23rd
    let (_, r) = post(&app, text(42, "/checkin")).await;
    assert!(r["text"].as_str().unwrap().starts_with("Checked in"), "a new local day: {r}");
    let (_, r) = post(&app, text(42, "/checkin")).await;
    assert_eq!(r["text"], "You have already checked in today.");
    for day in ["2026-11-22", "2026-11-23"] {
        assert_eq!(app.repo.stats(day).await.unwrap().get("checkins"), Some(&1), "{day}");
    }
}

/// A notice with both the host's buttons and a link keeps both: the link is a button of its own.
#[tokio::test]
async fn a_link_beside_buttons_is_kept_as_a_button() {
    let (_d, app, fake) = setup(json!({})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    let body = json!({"type": "account", "text": "renew", "link": "https://panel.test/renew", "buttons": [{"text": "Plans", "url": "https://panel.test/plans"}], "to": {"user": "u1"}});
    call(&app, "POST", "/api/v1/notify", Some(body)).await;
    drain(&app, &Dispatcher::default()).await;
    let urls: Vec<String> = fake.delivered()[0]["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0]["url"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls, ["https://panel.test/plans", "https://panel.test/renew"]);
}

/// An update whose replies could not be queued (the queue down) answers 503, and Telegram's
/// retry of the same update is handled, not dropped as a repeat.
#[tokio::test]
async fn an_update_that_could_not_be_handled_is_handled_on_telegrams_retry() {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let queue = Arc::new(herald_tests::faults::FlakyQueue { inner: Arc::new(herald_tests::memory_queue(180, 20)), failing: 0.into() });
    let mut config = herald_tests::test_config();
    config.public_url = Some("https://herald.test".into());
    let app = App::new(table, queue.clone(), Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    let (app, fake) = with_telegram(app, json!({})).await;
    user(&app, "u1", json!({"ids": {"telegram": "42"}})).await;
    // A button press: its answer rides back in the response, the edit goes through the queue.
    let press = button(42, "m:prefs", 7);
    queue.failing.store(1, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(post(&app, press.clone()).await.0, 503);
    let (status, a) = post(&app, press).await;
    assert_eq!((status, a["method"].as_str()), (200, Some("answerCallbackQuery")));
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(fake.calls("editMessageText").len(), 1);
}
