//! WeCom end to end: the official WXBizMsgCrypt and wechatpy vectors through the receiver, the
//! bot over encrypted messages and passive replies, and sending through a local stand-in for the
//! WeCom API reached via `api_base` (token cache and refresh, errcodes, batching, menus).

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald::domain::ChannelKind;
use herald::domain::clock::ManualClock;
use herald::platforms::wecom::crypto::Crypto;
use herald_tests::wecom::{AES_KEY, AGENT, CORP, FakeWecom, SECRET, TOKEN};
use herald_tests::{call, drain, embedded_app_custom};
use serde_json::{Value, json};
use std::sync::Arc;

async fn setup(at: &str, extra: Value) -> (tempfile::TempDir, App, FakeWecom, Arc<ManualClock>) {
    let fake = FakeWecom::start().await;
    let clock = Arc::new(ManualClock::new(at.parse().unwrap()));
    let (dir, app) = embedded_app_custom(clock.clone(), |_| {});
    let mut settings =
        json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY, "api_base": fake.server.url});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, body) = call(&app, "PUT", "/api/v1/channels/wc", Some(json!({"kind": "wecom", "settings": settings}))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
    (dir, app, fake, clock)
}

async fn event(app: &App, file: &str) -> (u16, String) {
    let text = std::fs::read_to_string(format!("{}/../events/wecom/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let resp = herald::edge::router::route(app, herald::edge::lambda::request_from_event(&text).unwrap()).await;
    (resp.status().as_u16(), String::from_utf8_lossy(resp.body()).into_owned())
}

fn crypto() -> Crypto {
    Crypto::new(TOKEN, AES_KEY, CORP).unwrap()
}

/// An encrypted callback as WeCom would POST it, at `ts`.
fn callback(inner: &str, ts: i64, nonce: &str) -> herald::http::Request {
    let c = crypto();
    let enc = c.encrypt_with(inner, herald::domain::ids::random_bytes::<16>()).unwrap();
    let sig = c.signature(&ts.to_string(), nonce, &enc);
    let body =
        format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>");
    let uri: http::Uri = format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={ts}&nonce={nonce}").parse().unwrap();
    herald::http::Request::new(http::Method::POST, &uri, http::HeaderMap::new(), bytes::Bytes::from(body))
}

static MSG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn text(from: &str, content: &str, ts: i64) -> String {
    let id = MSG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{id}</MsgId><AgentID>{AGENT}</AgentID></xml>"
    )
}

fn click(from: &str, key: &str, ts: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[{key}]]></EventKey><AgentID>{AGENT}</AgentID></xml>"
    )
}

/// Posts a message and returns the decrypted passive reply's text (None: empty answer).
async fn say(app: &App, inner: &str, ts: i64) -> (u16, Option<String>) {
    let resp = herald::edge::router::route(app, callback(inner, ts, "1372623149")).await;
    let status = resp.status().as_u16();
    let body = String::from_utf8_lossy(resp.body()).into_owned();
    if body.is_empty() || status != 200 {
        return (status, None);
    }
    let outer = herald::platforms::wecom::receive::xml_fields(&body).unwrap();
    crypto().verify(&outer["MsgSignature"], &outer["TimeStamp"], &outer["Nonce"], &outer["Encrypt"]).unwrap();
    let inner = herald::platforms::wecom::receive::xml_fields(&crypto().decrypt(&outer["Encrypt"]).unwrap()).unwrap();
    (status, Some(inner["Content"].clone()))
}

const NOW: &str = "2026-11-23T12:00:00Z";
const NOW_TS: i64 = 1_795_435_200;

#[tokio::test]
async fn answers_the_official_url_check_and_refuses_a_bad_signature() {
    // At the vector's own time (timestamp 1409659589).
    let (_d, app, _fake, _clock) = setup("2014-09-02T12:06:29Z", json!({})).await;
    let (status, body) = event(&app, "url-check.json").await;
    assert_eq!((status, body.as_str()), (200, "1616140317555161061"));
    assert_eq!(event(&app, "url-check-invalid-signature.json").await.0, 401);
    // Years later the same signed check is a replay: refused, nothing decrypted.
    let (_d, app, _fake, _clock) = setup(NOW, json!({})).await;
    assert_eq!(event(&app, "url-check.json").await.0, 401);
}

#[tokio::test]
async fn takes_the_official_message_inside_its_replay_window_only() {
    let (_d, app, _fake, clock) = setup("2014-09-02T12:10:13Z", json!({})).await;
    assert_eq!(clock.now_ts(), 1409659813);
    let (status, body) = event(&app, "message.json").await;
    assert_eq!(status, 200, "{body}");
    // "hello" is not a command: a short passive, encrypted answer.
    let outer = herald::platforms::wecom::receive::xml_fields(&body).unwrap();
    let inner = herald::platforms::wecom::receive::xml_fields(&crypto().decrypt(&outer["Encrypt"]).unwrap()).unwrap();
    assert_eq!((inner["ToUserName"].as_str(), inner["Content"].as_str()), ("mycreate", "Send /help to see what I can do."));
    // WeCom's retry of the same MsgId: handled once.
    assert_eq!(event(&app, "message.json").await, (200, String::new()));
    assert_eq!(event(&app, "message-invalid-signature.json").await.0, 401);

    let (_d, app, _fake, _clock) = setup("2014-09-02T12:20:14Z", json!({})).await;
    assert_eq!(event(&app, "message.json").await.0, 401, "ten minutes late: outside the replay window");
}

trait Ts {
    fn now_ts(&self) -> i64;
}

impl Ts for ManualClock {
    fn now_ts(&self) -> i64 {
        herald::domain::clock::Clock::now(self).as_second()
    }
}

#[tokio::test]
async fn rejects_malformed_or_unauthenticated_callbacks_without_changing_anything() {
    let (_d, app, _fake, _clock) = setup(NOW, json!({})).await;
    let mut req = callback(&text("zhang", "/ping", NOW_TS), NOW_TS, "n1");
    req.query.retain(|(k, _)| k != "msg_signature");
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 401);
    let mut req = callback(&text("zhang", "/ping", NOW_TS), NOW_TS, "n1");
    req.body = bytes::Bytes::from_static(b"<xml><Encrypt>not closed");
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 400);
    let mut req = callback(&text("zhang", "/ping", NOW_TS), NOW_TS, "n1");
    req.query.retain(|(k, _)| k != "source");
    req.query.push(("source".into(), "other".into()));
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 401);
    let mut req = callback(&text("zhang", "/ping", NOW_TS), NOW_TS, "n1");
    req.method = http::Method::PUT;
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 405);
    // A payload for another corp is refused even with a good signature.
    let foreign = Crypto::new(TOKEN, AES_KEY, "another-corp").unwrap();
    let enc = foreign.encrypt_with(&text("zhang", "/ping", NOW_TS), [1; 16]).unwrap();
    let sig = foreign.signature(&NOW_TS.to_string(), "n2", &enc);
    let uri: http::Uri = format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={NOW_TS}&nonce=n2").parse().unwrap();
    let req = herald::http::Request::new(
        http::Method::POST,
        &uri,
        http::HeaderMap::new(),
        bytes::Bytes::from(format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>")),
    );
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 400);
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0);
}

#[tokio::test]
async fn runs_the_bot_commands_and_menu_clicks() {
    let (_d, app, _fake, _clock) = setup(NOW, json!({"admin_whitelist": "boss"})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Zhang", "plan": "pro", "locale": "zh-CN"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    let (status, r) = say(&app, &text("zhangsan", &format!("/bind {}", code["code"].as_str().unwrap()), NOW_TS), NOW_TS).await;
    assert_eq!((status, r.as_deref()), (200, Some("已绑定 Zhang，之后的通知会发到这里。")));
    assert_eq!(app.repo.user_by_chat(ChannelKind::Wecom, "zhangsan").await.unwrap().unwrap().value.id, "u1");
    let (_, r) = say(&app, &text("zhangsan", "/checkin", NOW_TS), NOW_TS).await;
    assert!(r.unwrap().starts_with("签到成功"));
    // Menu clicks are for the admin whitelist.
    let (_, r) = say(&app, &click("zhangsan", "/my", NOW_TS), NOW_TS).await;
    assert_eq!(r.as_deref(), Some("用户无权限执行菜单命令"));
    let (_, r) = say(&app, &click("boss", "/ping", NOW_TS), NOW_TS).await;
    assert!(r.unwrap().contains("boss"));
    // No buttons on WeCom: /unbind asks for a typed confirmation.
    let (_, r) = say(&app, &text("zhangsan", "/unbind", NOW_TS), NOW_TS).await;
    assert!(r.unwrap().contains("/unbind yes"));
    let (_, r) = say(&app, &text("zhangsan", "/unbind yes", NOW_TS), NOW_TS).await;
    assert!(r.unwrap().starts_with("已解除绑定"));
}

#[tokio::test]
async fn creates_the_menu_from_the_commands() {
    let (_d, _app, fake, _clock) = setup(NOW, json!({})).await;
    let menu = fake.with(|s| s.menus[0].clone());
    let groups = menu["button"].as_array().unwrap();
    assert!(groups.len() <= 3 && groups.iter().all(|g| g["sub_button"].as_array().unwrap().len() <= 5));
    assert_eq!(groups[0]["sub_button"][0], json!({"type": "click", "name": "Your account", "key": "/my"}));
}

#[tokio::test]
async fn the_host_apps_commands_join_the_menu_when_declared() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    for (i, name) in ["search", "link", "reset", "ticket", "fifth"].iter().enumerate() {
        let body = json!({"description": {"en": format!("Command number {i}"), "zh-CN": "搜索片库资源"}, "url": "https://host.example/herald", "secret": "host-app-secret-0123456789"});
        let (status, v) = call(&app, "PUT", &format!("/api/v1/commands/{name}"), Some(body)).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["registration"]["wc"]["ok"], true, "registered again: {v}");
    }
    let menu = fake.with(|s| s.menus.last().cloned().unwrap());
    let more = menu["button"][2]["sub_button"].as_array().unwrap().clone();
    assert_eq!(more.len(), 5, "status and the first four: {menu}");
    assert_eq!(more[0]["key"], "/status");
    // By name, cut to 7 characters.
    assert_eq!(more[1], json!({"type": "click", "name": "Comman…", "key": "/fifth"}));
    assert_eq!(more[4]["key"], "/search");
    assert_eq!(menu["button"][2]["name"], "More");
}

async fn notify(app: &App, body: Value) -> String {
    let (status, v) = call(app, "POST", "/api/v1/notify", Some(body)).await;
    assert_eq!(status, 202, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn first_delivery(app: &App, id: &str) -> Value {
    call(app, "GET", &format!("/api/v1/notifications/{id}"), None).await.1["deliveries"][0].clone()
}

#[tokio::test]
async fn sends_through_api_base_with_one_cached_token_refreshed_when_expired() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    let d = Dispatcher::default();
    notify(&app, json!({"type": "account", "title": "到期提醒", "text": "你的账户将在 3 天后到期", "to": {"user": "u1"}})).await;
    notify(&app, json!({"type": "account", "text": "second", "to": {"user": "u1"}})).await;
    drain(&app, &d).await;
    assert_eq!(fake.with(|s| s.tokens_issued), 1, "the token is fetched once and shared");
    assert!(fake.with(|s| s.dropped.is_empty() && s.truncated.is_empty()));
    let sent = fake.delivered();
    assert_eq!(sent[0]["text"]["content"], "到期提醒\n你的账户将在 3 天后到期");
    assert_eq!((sent[0]["touser"].as_str(), sent[0]["agentid"].as_i64()), (Some("zhangsan"), Some(1000002)));

    // The shared token is no longer good (WeCom answers 40014): a new one, and the send once more.
    let channel = app.repo.channel("wc").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Wecom(w) = &channel.settings else { unreachable!() };
    let key = herald::platforms::wecom::Client::new(&app.http, channel.api_base(), w, &app.repo).cache_key();
    app.repo.cache(&key, "stale-token", 3600).await.unwrap();
    let id = notify(&app, json!({"type": "account", "text": "third", "to": {"user": "u1"}})).await;
    drain(&app, &d).await;
    assert_eq!(first_delivery(&app, &id).await["status"], "sent");
    assert_eq!(fake.with(|s| s.tokens_issued), 2);
}

#[tokio::test]
async fn renders_text_cards_news_and_splits_long_text_by_bytes() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    notify(&app, json!({"type": "account", "title": "续费", "text": "点击续费", "link": "https://panel.test/renew", "to": {"user": "u1"}})).await;
    notify(&app, json!({"type": "account", "title": "新片", "text": "已入库", "image": "https://img.test/p.jpg", "to": {"user": "u1"}})).await;
    let long = "很长的一行文字。".repeat(300);
    notify(&app, json!({"type": "account", "text": long, "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let sent = fake.delivered();
    assert_eq!(sent[0]["msgtype"], "textcard");
    assert_eq!(sent[0]["textcard"]["url"], "https://panel.test/renew");
    assert_eq!(sent[1]["msgtype"], "news");
    assert_eq!(sent[1]["news"]["articles"][0]["picurl"], "https://img.test/p.jpg");
    let pieces: Vec<&str> = sent[2..].iter().map(|m| m["text"]["content"].as_str().unwrap()).collect();
    assert!(pieces.len() >= 4 && pieces.iter().all(|p| p.len() <= 2048));
    assert_eq!(pieces.concat(), long);
    assert_eq!(fake.with(|s| s.truncated.clone()), Vec::<String>::new(), "WeCom cut nothing");
}

/// WeCom drops, silently, what goes past 30 messages a minute to one member: Herald's budget
/// sends 30 and holds the 31st for the next minute, so nothing is ever dropped.
#[tokio::test]
async fn never_makes_wecom_drop_a_message_to_a_busy_member() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    let mut ids = Vec::new();
    for i in 0..31 {
        ids.push(notify(&app, json!({"type": "account", "text": format!("m{i}"), "to": {"user": "u1"}})).await);
    }
    let d = Dispatcher::default();
    for _ in 0..10 {
        let batch = app.queue.receive(10, std::time::Duration::from_millis(100)).await.unwrap();
        let failed = d.process(&app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            app.queue.delete(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(fake.delivered().len(), 30);
    assert!(fake.with(|s| s.dropped.is_empty()), "WeCom dropped nothing");
    let last = first_delivery(&app, &ids[30]).await;
    assert_eq!((last["status"].as_str(), last["attempts"].as_u64()), (Some("queued"), Some(0)), "the 31st waits: {last}");
}

#[tokio::test]
async fn sends_an_all_notification_to_many_members_in_one_call_never_at_all() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    for (u, w) in [("u1", "a"), ("u2", "b"), ("u3", "c")] {
        call(&app, "PUT", &format!("/api/v1/users/{u}"), Some(json!({"ids": {"wecom": w}}))).await;
    }
    fake.with(|s| s.invalid_users.insert("c".into()));
    let id = notify(&app, json!({"type": "announcement", "text": "维护通知", "to": "all"})).await;
    drain(&app, &Dispatcher::default()).await;
    let sent = fake.delivered();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["touser"], "a|b|c");
    let d = first_delivery(&app, &id).await;
    assert_eq!((d["status"].as_str(), d["recipient"].as_str()), (Some("sent"), Some("a|b|c")));
    assert_eq!(d["reason"], "WeCom did not know: c", "invaliduser is recorded on the delivery");
}

#[tokio::test]
async fn an_untrusted_ip_fails_with_what_to_configure_and_tells_the_admins() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    fake.with(|s| s.untrusted_ip = true);
    let id = notify(&app, json!({"type": "account", "text": "x", "to": {"user": "u1"}})).await;
    drain(&app, &Dispatcher::default()).await;
    let d = first_delivery(&app, &id).await;
    assert_eq!(d["status"], "failed");
    assert!(d["reason"].as_str().unwrap().contains("trusted IPs (企业可信IP)"), "{d}");
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert!(m["messages"][0]["text"].as_str().unwrap().contains("60020"), "{m}");
}

#[tokio::test]
async fn reschedules_on_45009() {
    let (_d, app, fake, _clock) = setup(NOW, json!({})).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    fake.with(|s| s.throttle_once = true);
    let id = notify(&app, json!({"type": "account", "text": "x", "to": {"user": "u1"}})).await;
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, std::time::Duration::from_secs(1)).await.unwrap();
    let failed = d.process(&app, batch).await;
    assert_eq!(failed.len(), 1, "rescheduled for a minute, not slept on");
    let delivery = first_delivery(&app, &id).await;
    assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_u64()), (Some("queued"), Some(0)));
    assert!(delivery["reason"].as_str().unwrap().contains("45009"));
    assert_eq!(app.queue.depth().await.unwrap().in_flight, 1);
}

/// `POST /api/v1/channels/{name}/test` sends now and reports WeCom's verdict, 60020 included.
#[tokio::test]
async fn the_test_route_sends_now_and_reports_the_answer() {
    let (_d, app, fake, _) = setup(NOW, json!({})).await;
    let (status, ok) = call(&app, "POST", "/api/v1/channels/wc/test", Some(json!({"recipient": "zhangsan"}))).await;
    assert_eq!((status, ok["ok"].clone()), (200, json!(true)), "{ok}");
    assert_eq!(fake.delivered().len(), 1);
    fake.with(|s| s.untrusted_ip = true);
    let (_, denied) = call(&app, "POST", "/api/v1/channels/wc/test", Some(json!({"recipient": "zhangsan"}))).await;
    assert_eq!(denied["ok"], false, "{denied}");
    assert!(denied["detail"].as_str().unwrap_or_default().contains("60020"), "{denied}");
    assert!(!denied.to_string().contains(SECRET));
}
