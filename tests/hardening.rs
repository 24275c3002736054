//! Issue 19: the attacks and lost-text faults that worked, each replayed as its smallest input
//! with the right value asserted — secrets that would follow a new destination, ids that would
//! broadcast, redirects, tokens in platform text, masked URLs, auth edge cases, the local
//! runner's limits; then the correctness faults (group migration, stale topics, inline
//! buttons, WeCom dedup, lost text, quadratic Markdown, unchecked numbers, paging).

#![allow(clippy::unwrap_used)]

use herald::app::Config;
use herald::domain::secret::MASK;
use herald_tests::servers::{Reply, TestServer};
use herald_tests::telegram::BOT_TOKEN;
use herald_tests::{TOKEN, call, embedded_app, request};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn put_channel(app: &herald::app::App, name: &str, body: Value) -> (u16, Value) {
    call(app, "PUT", &format!("/api/v1/channels/{name}"), Some(body)).await
}

// ---- 1. a masked secret never follows a new destination ----

#[tokio::test]
async fn a_masked_secret_is_kept_only_for_the_same_kind_and_destination() {
    let (_d, app) = embedded_app();
    let tg = |base: &str, token: &str| json!({"kind": "telegram", "settings": {"bot_token": token, "api_base": base}});
    assert_eq!(put_channel(&app, "tg", tg("https://proxy-a.test", BOT_TOKEN)).await.0, 201);

    // A new api_base with the mask: refused, naming the secret, and nothing changes.
    let (status, err) = put_channel(&app, "tg", tg("https://attacker.test", MASK)).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("settings.bot_token")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("api_base"), "{err}");
    let (_, shown) = call(&app, "GET", "/api/v1/channels/tg", None).await;
    assert_eq!(shown["settings"]["api_base"], "https://proxy-a.test");

    // The same destination (a trailing slash is the same) keeps the stored token.
    assert_eq!(put_channel(&app, "tg", tg("https://proxy-a.test/", MASK)).await.0, 200);
    let stored = app.repo.channel("tg").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Telegram(t) = &stored.settings else { panic!() };
    assert_eq!(t.bot_token.expose(), BOT_TOKEN);

    // A new destination with the secret sent again is fine.
    assert_eq!(put_channel(&app, "tg", tg("https://proxy-b.test", BOT_TOKEN)).await.0, 200);
}

#[tokio::test]
async fn a_masked_secret_never_crosses_to_another_kind() {
    let (_d, app) = embedded_app();
    let hook = json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in", "secret": "webhook-signing-key"}});
    assert_eq!(put_channel(&app, "c", hook).await.0, 201);
    let wecom = json!({"kind": "wecom", "settings": {"corp_id": "ww1", "agent_id": 1000002, "secret": MASK}});
    let (status, err) = put_channel(&app, "c", wecom).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("settings.secret")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("kind"), "{err}");
    // A WeCom secret moved to another corp: refused too.
    let wc =
        |corp: &str, secret: &str| json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": corp, "agent_id": 1000002, "secret": secret}});
    assert_eq!(put_channel(&app, "w", wc("ww1", "corp-secret-value")).await.0, 201);
    assert_eq!(put_channel(&app, "w", wc("ww2", MASK)).await.0, 400);
    // A mask with nothing stored is not stored as the secret.
    assert_eq!(put_channel(&app, "new", wc("ww1", MASK)).await.0, 400);
}

// ---- 2. chat ids are one chat each ----

#[tokio::test]
async fn chat_ids_that_would_address_many_are_refused_at_the_edge() {
    let (_d, app) = embedded_app();
    for (kind, id) in [("wecom", "@all"), ("wecom", "a|b|c"), ("wecom", "@ALL"), ("telegram", "general"), ("telegram", "1|2"), ("slack", "@here")] {
        let (status, err) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {kind: id}}))).await;
        assert_eq!((status, err["field"].as_str()), (400, Some(format!("ids.{kind}").as_str())), "{kind} {id}: {err}");
    }
    assert_eq!(call(&app, "GET", "/api/v1/users/u1", None).await.0, 404);
    for (kind, id) in [("wecom", "zhang.san-1"), ("telegram", "-1001234567890"), ("telegram", "@news_channel")] {
        assert_eq!(call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {kind: id}}))).await.0 / 100, 2, "{kind} {id}");
    }
    // A channel's own lists and default chats follow the same rules.
    let wc =
        json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": 1, "secret": "s", "admin_whitelist": "zhangsan,@all"}});
    assert_eq!(put_channel(&app, "w", wc).await.1["field"], "settings.admin_whitelist[1]");
    // And the test endpoint's recipient.
    let hook = json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": 1, "secret": "s"}});
    assert_eq!(put_channel(&app, "w", hook).await.0 / 100, 2);
    let (status, err) = call(&app, "POST", "/api/v1/channels/w/test", Some(json!({"recipient": "@all"}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("recipient")), "{err}");
}

// ---- 3. no redirect is followed ----

#[tokio::test]
async fn a_redirect_is_a_permanent_visible_failure_naming_the_host() {
    let server = TestServer::start(|_| Reply::status(302).header("location", "https://elsewhere.test/steal?token=x")).await;
    let (_d, app) = embedded_app();
    let hook = json!({"kind": "webhook", "settings": {"url": format!("{}/hook", server.url), "secret": "signing-secret", "headers": {"X-Key": "header-secret"}}});
    assert_eq!(put_channel(&app, "hook", hook).await.0, 201);
    let (status, r) = call(&app, "POST", "/api/v1/channels/hook/test", None).await;
    assert_eq!((status, &r["ok"], r["outcome"].as_str()), (200, &json!(false), Some("permanent")), "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(detail.contains("elsewhere.test") && !detail.contains("steal"), "{detail}");
    assert_eq!(server.received().len(), 1, "the redirect was not followed");

    // A Telegram api_base that redirects: the same, and the delivery reads failed.
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "chat_id": "42", "api_base": server.url}});
    assert_eq!(put_channel(&app, "tg", tg).await.0, 201);
    let (_, r) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    assert_eq!(r["outcome"], "permanent", "{r}");
    assert!(r["detail"].as_str().unwrap().contains("redirected to elsewhere.test"), "{r}");

    // A WeCom api_base (the proxy) that redirects: the same, and the corpsecret went nowhere else.
    let wc = json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": 1, "secret": "corp-secret-value", "api_base": server.url}});
    assert_eq!(put_channel(&app, "wc", wc).await.0, 201);
    let (_, r) = call(&app, "POST", "/api/v1/channels/wc/test", Some(json!({"recipient": "zhangsan"}))).await;
    assert_eq!(r["outcome"], "permanent", "{r}");
    let detail = r["detail"].as_str().unwrap();
    assert!(detail.contains("redirected to elsewhere.test") && !detail.contains("corp-secret-value"), "{r}");
}

// ---- 4. a platform's error text never carries the channel's secrets ----

#[tokio::test]
async fn a_token_echoed_by_the_platform_is_redacted_everywhere() {
    let echo = format!("{{\"ok\": false, \"error_code\": 500, \"description\": \"proxy failed: POST /bot{BOT_TOKEN}/sendMessage\"}}");
    let server = TestServer::start(move |_| Reply { status: 500, ..Reply::ok(echo.clone()) }).await;
    let (_d, app) = embedded_app();
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "chat_id": "42", "api_base": server.url}});
    assert_eq!(put_channel(&app, "tg", tg).await.0, 201);
    let (_, r) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    let secret_half = BOT_TOKEN.split_once(':').unwrap().1;
    assert!(r["detail"].as_str().unwrap().contains(MASK), "{r}");
    assert!(!r.to_string().contains(secret_half), "{r}");

    // Through the queue: the delivery's reason, the message center.
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    let id = n["id"].as_str().unwrap().to_owned();
    let app_cfg_attempts = app.config.max_attempts;
    for _ in 0..app_cfg_attempts {
        herald_tests::drain(&app, &herald::dispatch::Dispatcher::default()).await;
    }
    let (_, got) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert!(got["deliveries"][0]["reason"].as_str().is_some(), "{got}");
    assert!(!got.to_string().contains(secret_half), "{got}");
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert!(!m.to_string().contains(secret_half), "{m}");
}

// ---- 5. a webhook's URL is masked, host visible ----

#[tokio::test]
async fn a_webhook_url_is_shown_masked_with_its_host_and_kept_when_sent_back() {
    let (_d, app) = embedded_app();
    let hook = json!({"kind": "webhook", "settings": {"url": "https://user:pw@hooks.test:8443/in/T0KEN?key=qs-secret"}});
    let (status, created) = put_channel(&app, "hook", hook).await;
    assert_eq!(status, 201);
    assert_eq!(created["settings"]["url"], format!("https://hooks.test:8443/{MASK}"));
    let (_, list) = call(&app, "GET", "/api/v1/channels", None).await;
    let text = list.to_string();
    assert!(!text.contains("qs-secret") && !text.contains("T0KEN") && !text.contains("pw@"), "{text}");
    assert!(text.contains("hooks.test"), "{text}");

    // Sending the shown document back keeps the URL.
    let (status, _) = put_channel(&app, "hook", created.clone()).await;
    assert_eq!(status, 200);
    let stored = app.repo.channel("hook").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Webhook(w) = &stored.settings else { panic!() };
    assert_eq!(w.url, "https://user:pw@hooks.test:8443/in/T0KEN?key=qs-secret");

    // An api_base with credentials (a proxy's user and password) is masked the same way; a plain
    // one is not. (A query is refused: paths are appended to an api_base.)
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": "https://u:proxy-secret@proxy.test/tg"}});
    let (_, shown) = put_channel(&app, "tg", tg).await;
    assert_eq!(shown["settings"]["api_base"], format!("https://proxy.test/{MASK}"));
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": "https://proxy.test/tg"}});
    assert_eq!(put_channel(&app, "tg2", tg).await.1["settings"]["api_base"], "https://proxy.test/tg");
}

// ---- 6. the Bearer scheme in any case; the heartbeat checks the key first ----

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (_d, app) = embedded_app();
    for auth in [format!("BEARER {TOKEN}"), format!("bearer {TOKEN}"), format!("Bearer   {TOKEN}"), format!("bEaReR\t{TOKEN}")] {
        let mut req = request("GET", "/api/v1/channels", None);
        req.headers.insert("authorization", auth.parse().unwrap());
        assert_eq!(herald::edge::router::route(&app, req).await.status(), 200, "{auth}");
    }
    let mut req = request("GET", "/api/v1/channels", None);
    req.headers.insert("authorization", format!("Basic {TOKEN}").parse().unwrap());
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 401);
}

#[tokio::test]
async fn a_heartbeat_checks_the_key_before_the_body_and_tells_no_ids_apart() {
    let (_d, app) = embedded_app();
    let node = json!({"name": "HK 1", "host": "hk1.test", "port": 443, "key": "node-key-0123456789"});
    assert_eq!(call(&app, "PUT", "/api/v1/nodes/hk1", Some(node)).await.0, 201);
    let beat = |id: &str, key: &str, body: &str| {
        let mut req = request("POST", &format!("/api/v1/nodes/{id}/heartbeat"), None);
        req.headers.insert("authorization", format!("bearer {key}").parse().unwrap());
        req.body = bytes::Bytes::from(body.to_owned());
        req
    };
    // A bad body with a wrong key, or for an unknown node: 401 alike, the body never read.
    for (id, key) in [("hk1", "wrong-key-0123456789"), ("nope", "wrong-key-0123456789"), ("nope", "node-key-0123456789"), ("bad%20id", "x")] {
        let resp = herald::edge::router::route(&app, beat(id, key, "{not json")).await;
        assert_eq!(resp.status(), 401, "{id} {key}");
        assert_eq!(resp.body(), herald::edge::router::route(&app, beat("hk1", "wrong-key-0123456789", "{}")).await.body());
    }
    // The right key (scheme in any case): now the body is read.
    assert_eq!(herald::edge::router::route(&app, beat("hk1", "node-key-0123456789", "{not json")).await.status(), 400);
    assert_eq!(herald::edge::router::route(&app, beat("hk1", "node-key-0123456789", "{\"blocked\": false}")).await.status(), 200);
}

// ---- 7. a blank API token is refused ----

#[test]
fn a_set_but_blank_api_token_is_refused_and_named() {
    for blank in ["", " ", "\t\n"] {
        let err = Config::from_vars(&|n| (n == "HERALD_API_TOKEN").then(|| blank.to_owned())).unwrap_err().to_string();
        assert!(err.contains("HERALD_API_TOKEN") && err.contains("blank"), "{err}");
    }
    assert!(Config::from_vars(&|_| None).unwrap().api_token.is_none(), "unset: the local runner generates one");
    let c = Config::from_vars(&|n| (n == "HERALD_API_TOKEN").then(|| " 0123456789abcdef ".to_owned())).unwrap();
    assert_eq!(c.api_token.unwrap().expose(), "0123456789abcdef");
}

// ---- 8. the local runner's limits ----

async fn local_with(limits: herald::edge::local::Limits) -> (String, tempfile::TempDir) {
    let (dir, app) = embedded_app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(herald::edge::local::serve_with(std::sync::Arc::new(app), listener, limits));
    (addr, dir)
}

#[tokio::test]
async fn the_local_runner_closes_a_connection_that_never_finishes_its_headers() {
    let limits = herald::edge::local::Limits { header_timeout: std::time::Duration::from_millis(200), ..Default::default() };
    let (addr, _dir) = local_with(limits).await;
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    // Without the timeout this read would wait forever; the outer bound only fails the test.
    let read = tokio::time::timeout(std::time::Duration::from_secs(60), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the half-sent connection was kept open");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
}

#[tokio::test]
async fn the_local_runner_turns_away_connections_past_its_cap() {
    let limits = herald::edge::local::Limits { max_connections: 2, ..Default::default() };
    let (addr, _dir) = local_with(limits).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // A complete request, then the connection stays open (keep-alive): it holds its slot.
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = Vec::new();
    third.read_to_end(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 503"), "{}", String::from_utf8_lossy(&buf));
    // A slot freed is a slot to use.
    drop(held.pop());
    let mut again = None;
    for _ in 0..200 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        if String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200") {
            again = Some(());
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(again.is_some(), "the freed slot was never reused");
}

// ---- Telegram helpers ----

const TG_SECRET: &str = "events-webhook-secret-0123456789";
static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1000);

async fn telegram_channel(app: &herald::app::App, chat: &str, extra: Value) {
    let mut settings = json!({"bot_token": BOT_TOKEN, "chat_id": chat, "webhook_secret": TG_SECRET, "bot_username": "herald_test_bot"});
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, body) = put_channel(app, "tg", json!({"kind": "telegram", "settings": settings})).await;
    assert_eq!(status, 201, "{body}");
}

async fn update(app: &herald::app::App, mut body: Value) -> (u16, Value) {
    body["update_id"] = json!(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut headers = http::HeaderMap::new();
    headers.insert("x-telegram-bot-api-secret-token", TG_SECRET.parse().unwrap());
    let uri: http::Uri = "/callback/telegram?source=tg".parse().unwrap();
    let req = herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_string()));
    let resp = herald::edge::router::route(app, req).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

fn group_text(chat: i64, kind: &str, text: &str) -> Value {
    json!({"message": {"message_id": 1, "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "chat": {"id": chat, "type": kind}, "date": 1, "text": text}})
}

// ---- 9. a group upgraded to a supergroup keeps its bot ----

#[tokio::test]
async fn a_group_upgraded_to_a_supergroup_moves_the_channel_and_the_bot_stays() {
    for signal in ["migrate_to_chat_id", "migrate_from_chat_id"] {
        let (_d, app) = embedded_app();
        telegram_channel(&app, "-4001", json!({})).await;
        call(&app, "PUT", "/api/v1/users/g", Some(json!({"ids": {"telegram": "-4001"}}))).await;
        let service = if signal == "migrate_to_chat_id" {
            json!({"message": {"message_id": 2, "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "chat": {"id": -4001, "type": "group"}, "date": 1, "migrate_to_chat_id": -1004001i64}})
        } else {
            json!({"message": {"message_id": 3, "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "chat": {"id": -1004001i64, "type": "supergroup"}, "date": 1, "migrate_from_chat_id": -4001}})
        };
        assert_eq!(update(&app, service).await.0, 200, "{signal}");
        let (_, c) = call(&app, "GET", "/api/v1/channels/tg", None).await;
        assert_eq!(c["settings"]["chat_id"], "-1004001", "{signal}");
        let (_, u) = call(&app, "GET", "/api/v1/users/g", None).await;
        assert_eq!(u["ids"]["telegram"], "-1004001", "{signal}");
        // The next /ping from the supergroup is answered; nothing asks the bot to leave.
        let (status, reply) = update(&app, group_text(-1004001, "supergroup", "/ping@herald_test_bot")).await;
        assert_eq!((status, reply["method"].as_str()), (200, Some("sendMessage")), "{signal}: {reply}");
        assert_eq!(app.queue.depth().await.unwrap().waiting, 0, "{signal}: nothing else queued (no leaveChat)");
        // The move is applied once, whichever signal comes second.
        let other = json!({"message": {"message_id": 4, "chat": {"id": -4001, "type": "group"}, "date": 1, "migrate_to_chat_id": -1004001i64}});
        assert_eq!(update(&app, other).await.0, 200);
        let (_, c) = call(&app, "GET", "/api/v1/channels/tg", None).await;
        assert_eq!(c["settings"]["chat_id"], "-1004001");
    }
    // A group that is not the channel's still makes the bot leave.
    let (_d, app) = embedded_app();
    telegram_channel(&app, "-4001", json!({})).await;
    let (_, reply) = update(&app, group_text(-5005, "group", "/ping")).await;
    assert!(reply.is_null(), "no answer there: {reply}");
    assert_eq!(app.queue.depth().await.unwrap().waiting, 1, "leaveChat is queued");
}

// ---- 10. a deleted forum topic ----

#[tokio::test]
async fn a_deleted_forum_topic_is_dropped_once_and_the_admins_are_told() {
    let server = TestServer::start(|r| {
        let body = r.json();
        if body.get("message_thread_id").is_some() {
            return Reply { status: 400, ..Reply::ok(r#"{"ok": false, "error_code": 400, "description": "Bad Request: message thread not found"}"#) };
        }
        Reply::ok(r#"{"ok": true, "result": {"message_id": 5}}"#)
    })
    .await;
    let (_d, app) = embedded_app();
    call(&app, "PUT", "/api/v1/users/a1", Some(json!({"role": "admin"}))).await;
    telegram_channel(&app, "-1001234567890", json!({"api_base": server.url, "topics": {"node": 7}})).await;
    for i in 0..2 {
        let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("n{i}"), "to": "admins"}))).await;
        herald_tests::drain(&app, &herald::dispatch::Dispatcher::default()).await;
        let (_, got) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
        let d = &got["deliveries"][0];
        assert_eq!(d["status"], "sent", "{got}");
        assert!(d["reason"].as_str().unwrap().contains("forum topic 7"), "{got}");
    }
    let sends: Vec<Value> = server.received().iter().filter(|r| r.path.ends_with("/sendMessage")).map(|r| r.json()).collect();
    assert_eq!(sends.len(), 4, "each notice: once with the topic, once without");
    assert!(sends[1].get("message_thread_id").is_none() && sends[1]["text"].as_str().unwrap().contains("n0"));
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    let told: Vec<&Value> = m["messages"].as_array().unwrap().iter().filter(|x| x["text"].as_str().unwrap_or("").contains("topic 7")).collect();
    assert_eq!(told.len(), 1, "told once an hour, not per notice: {m}");
}

// ---- 11. every button press is answered ----

#[tokio::test]
async fn a_button_press_is_always_answered() {
    let (_d, app) = embedded_app();
    telegram_channel(&app, "-1001234567890", json!({"user_whitelist": "7"})).await;
    let inline = json!({"callback_query": {"id": "cb-inline", "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "inline_message_id": "AAEx", "chat_instance": "1", "data": "m:"}});
    let (status, reply) = update(&app, inline).await;
    assert_eq!(
        (status, reply["method"].as_str(), reply["callback_query_id"].as_str()),
        (200, Some("answerCallbackQuery"), Some("cb-inline")),
        "{reply}"
    );
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0, "only the answer: there is no message to edit");
    // A press the whitelist refuses is answered too.
    let refused = json!({"callback_query": {"id": "cb-2", "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": 9, "chat": {"id": 42, "type": "private"}}, "chat_instance": "1", "data": "m:"}});
    let (_, reply) = update(&app, refused).await;
    assert_eq!((reply["method"].as_str(), reply["callback_query_id"].as_str()), (Some("answerCallbackQuery"), Some("cb-2")), "{reply}");
}

// ---- 12. two different WeCom events never collapse ----

#[test]
fn a_wecom_dedup_key_names_one_event() {
    use herald::platforms::wecom::receive::{dedup_key, xml_fields};
    let click = |key: &str| {
        format!(
            "<xml><ToUserName><![CDATA[ww]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[{key}]]></EventKey><AgentID>1</AgentID></xml>"
        )
    };
    let key = |xml: &str| dedup_key(&xml_fields(xml).unwrap(), xml);
    assert_ne!(key(&click("/my")), key(&click("/checkin")), "two clicks in one second are two events");
    assert_eq!(key(&click("/my")), key(&click("/my")), "WeCom's retry of one event is one event");
    let msg = "<xml><FromUserName>zhangsan</FromUserName><CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>77</MsgId></xml>";
    let again = "<xml><FromUserName>zhangsan</FromUserName><CreateTime>1700000001</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>77</MsgId></xml>";
    assert_eq!(key(msg), key(again), "a message is named by its MsgId");
}

#[tokio::test]
async fn two_different_wecom_menu_clicks_in_one_second_are_both_handled() {
    use herald::platforms::wecom::crypto::Crypto;
    use herald_tests::wecom::{AES_KEY, AGENT, CORP, SECRET, TOKEN as WTOKEN};
    let clock = std::sync::Arc::new(herald::domain::clock::ManualClock::new("2026-03-01T00:00:00Z".parse().unwrap()));
    let (_d, app) = herald_tests::embedded_app_custom(clock, |_| {});
    let api = TestServer::start(|_| Reply::ok(r#"{"errcode": 0, "errmsg": "ok", "access_token": "t", "expires_in": 7200}"#)).await;
    let settings = json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": WTOKEN, "encoding_aes_key": AES_KEY, "api_base": api.url});
    assert_eq!(put_channel(&app, "wc", json!({"kind": "wecom", "enabled": true, "settings": settings})).await.0 / 100, 2);
    let ts = 1_772_323_200i64; // 2026-03-01T00:00:00Z
    let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
    let post = |key: &str| {
        let inner = format!(
            "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[click]]></Event><EventKey><![CDATA[{key}]]></EventKey><AgentID>{AGENT}</AgentID></xml>"
        );
        let enc = c.encrypt_with(&inner, herald::domain::ids::random_bytes::<16>()).unwrap();
        let sig = c.signature(&ts.to_string(), "n1", &enc);
        let body = format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
        let uri: http::Uri = format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={ts}&nonce=n1").parse().unwrap();
        herald::http::Request::new(http::Method::POST, &uri, http::HeaderMap::new(), bytes::Bytes::from(body))
    };
    let mut answered = Vec::new();
    for key in ["/ping", "/help", "/ping"] {
        let resp = herald::edge::router::route(&app, post(key)).await;
        assert_eq!(resp.status(), 200);
        answered.push(!resp.body().is_empty());
    }
    // The first two are different events and both answered; the third is the first again.
    assert_eq!(answered, [true, true, false]);
}

// ---- 13. every visible character arrives, in as few messages as fit ----

fn message(text: &str, format: herald::domain::Format) -> herald::text::message::Message {
    herald_tests::message(text, format, None)
}

fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

#[test]
fn a_long_telegram_text_goes_out_in_as_few_messages_as_fit() {
    use herald::domain::Format;
    use herald::platforms::telegram::pieces;
    // 16,384 characters: four messages of 4096, not 25 of 682.
    let text = "a".repeat(16_384);
    let p = pieces(&message(&text, Format::Text));
    assert_eq!(p.len(), 4);
    assert!(p.iter().all(|x| utf16(x) == 4096));
    assert_eq!(p.concat(), text);
    // Lines of words: cut at line ends, each piece close to the limit.
    let text: String = (0..400).map(|i| format!("line {i:04} & <more> {}\n", "w".repeat(40))).collect();
    let p = pieces(&message(&text, Format::Text));
    let escaped = herald::text::markup::escape_html(&text);
    assert_eq!(p.len(), utf16(&escaped).div_ceil(4096 - 80), "{:?}", p.iter().map(|x| utf16(x)).collect::<Vec<_>>());
    assert!(p.iter().all(|x| utf16(x) <= 4096));
    assert_eq!(p.concat(), escaped);
    // HTML too long for one message: its text, all of it.
    let html: String = (0..3000).map(|i| format!("<b>item {i}</b> ok\n")).collect();
    let p = pieces(&message(&html, Format::Html));
    assert!(p.iter().all(|x| utf16(x) <= 4096));
    assert_eq!(herald::text::message::strip_tags(&p.concat()), herald::text::message::strip_tags(&html));
    // Markdown with a code block cut across messages: each piece's tags are balanced.
    let md = format!("**Title**\n```\n{}```\nafter", "code < line\n".repeat(1000));
    let p = pieces(&message(&md, Format::Markdown));
    assert!(p.len() > 1 && p.iter().all(|x| utf16(x) <= 4096 && x.matches("<pre>").count() == x.matches("</pre>").count()));
    assert_eq!(herald::text::message::strip_tags(&p.concat()).matches("code < line").count(), 1000);
}

#[test]
fn a_wecom_image_notice_carries_all_of_its_text() {
    use herald::platforms::wecom::render_bodies as render;
    let settings = herald::platforms::config::WecomSettings { corp_id: "ww".into(), agent_id: "1".into(), ..Default::default() };
    let text: String = (0..44).map(|i| format!("第{i:02}行 text\n")).collect::<String>() + &"z".repeat(300);
    assert!(text.len() > 512);
    let mut m = message(&text, herald::domain::Format::Text);
    m.image = Some("https://img.test/p.jpg".into());
    m.title = Some("T".repeat(200));
    m.buttons = vec![herald::domain::Button { text: "Open".into(), url: "https://panel.test/x".into() }];
    let bodies = render(&settings, "zhangsan", &m);
    assert_eq!(bodies[0]["msgtype"], "news");
    let article = &bodies[0]["news"]["articles"][0];
    assert!(article["title"].as_str().unwrap().len() <= 128 && article["description"].as_str().unwrap().len() <= 512);
    let rest: String = bodies[1..].iter().map(|b| b["text"]["content"].as_str().unwrap()).collect();
    assert!(bodies[1..].iter().all(|b| b["text"]["content"].as_str().unwrap().len() <= 2048));
    let all = format!("{}{rest}", article["description"].as_str().unwrap());
    assert_eq!(all, format!("{}\n{text}\nOpen: https://panel.test/x", "T".repeat(200)), "title, text and button, every character");
    assert_eq!(bodies.len(), 2, "as few messages as fit");
}

// ---- 15. numbers from outside are range-checked ----

#[tokio::test]
async fn out_of_range_numbers_are_refused_with_a_400() {
    let (_d, app) = embedded_app();
    for (body, field) in [
        (json!({"node": {"offline_after_secs": 18446744073709551615u64}}), "node.offline_after_secs"),
        (json!({"node": {"offline_after_secs": 9223372036854775808u64}}), "node.offline_after_secs"),
        (json!({"node": {"offline_after_secs": 59}}), "node.offline_after_secs"),
        (json!({"checkin": {"min": 0, "max": 9223372036854775807i64}}), "checkin.max"),
        (json!({"checkin": {"min": -1, "max": 5}}), "checkin.min"),
        (json!({"reminders": {"expiry_days": [400]}}), "reminders.expiry_days"),
    ] {
        let (status, err) = call(&app, "PUT", "/api/v1/settings", Some(body.clone())).await;
        assert_eq!((status, err["field"].as_str()), (400, Some(field)), "{body}: {err}");
    }
    let (status, err) = call(&app, "PUT", "/api/v1/settings", Some(json!({"node": {"offline_after_secs": -5}}))).await;
    assert_eq!(status, 400, "{err}");
    // A number out of its type's range is answered with the range, not serde's type name.
    let (status, err) = call(&app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "n1", "port": 70000}))).await;
    assert_eq!((status, err["field"].as_str(), err["message"].as_str()), (400, Some("port"), Some("must be an integer from 0 to 65535")), "{err}");
    let (status, err) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"traffic_total": -5}))).await;
    assert_eq!((status, err["message"].as_str()), (400, Some("must be an integer from 0 to 18446744073709551615")), "{err}");
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(json!({"node": {"offline_after_secs": 2592000}}))).await.0, 200);
    for (n, v) in [("HERALD_RETRY_BASE_SECS", "99999999999999999999"), ("HERALD_HTTP_TIMEOUT_SECS", "100000"), ("HERALD_MAX_ATTEMPTS", "-1")] {
        let err = Config::from_vars(&|k| (k == n).then(|| v.to_owned())).unwrap_err().to_string();
        assert!(err.contains(n), "{err}");
    }
}

// ---- 16. paging and the probe URL's placeholders ----

#[tokio::test]
async fn a_page_limit_is_honoured_and_probe_placeholders_are_accepted() {
    let (_d, app) = embedded_app();
    for i in 0..3 {
        let hook = json!({"kind": "webhook", "settings": {"url": format!("https://h{i}.test/in")}});
        assert_eq!(put_channel(&app, &format!("h{i}"), hook).await.0, 201);
    }
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "x", "to": "admins"}))).await;
    assert_eq!(n["deliveries"], 3, "{n}");
    let id = n["id"].as_str().unwrap();
    let (_, page) = call(&app, "GET", &format!("/api/v1/notifications/{id}?limit=1"), None).await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1, "{page}");
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    let (_, next) = call(&app, "GET", &format!("/api/v1/notifications/{id}?limit=2&cursor={cursor}"), None).await;
    assert_eq!(next["deliveries"].as_array().unwrap().len(), 2, "{next}");

    let (status, s) = call(&app, "PUT", "/api/v1/settings", Some(json!({"node": {"probe_url": "http://{host}:{port}/check?region={region}"}}))).await;
    assert_eq!(status, 200, "{s}");
    let (status, _) = call(&app, "PUT", "/api/v1/settings", Some(json!({"node": {"probe_url": "not a url {host}"}}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_stored_id_that_would_address_many_is_refused_by_the_sender() {
    use herald_tests::wecom::{AGENT, CORP, SECRET};
    let api = TestServer::start(|_| Reply::ok(r#"{"errcode": 0, "errmsg": "ok", "access_token": "t", "expires_in": 7200}"#)).await;
    let (_d, app) = embedded_app();
    let wc = json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "api_base": api.url}});
    assert_eq!(put_channel(&app, "wc", wc.clone()).await.0, 201);
    let mut wc_on = wc;
    wc_on["enabled"] = json!(true);
    assert_eq!(put_channel(&app, "wc", wc_on).await.0, 200);
    // Written before ids were checked (or by hand): the edge never saw it.
    for (id, chat) in [("u1", "a|b|c"), ("u2", "@all")] {
        let mut u = herald::domain::User::new(id, app.now());
        u.ids.insert(herald::domain::ChannelKind::Wecom.into(), chat.into());
        app.repo.save_user(&u, None).await.unwrap();
    }
    let before = api.received().iter().filter(|r| r.path.ends_with("/message/send")).count();
    for id in ["u1", "u2"] {
        let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "x", "to": {"user": id}}))).await;
        herald_tests::drain(&app, &herald::dispatch::Dispatcher::default()).await;
        let (_, got) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
        let d = got["deliveries"].as_array().unwrap().iter().find(|d| d["channel"] == "wc").cloned().unwrap_or(Value::Null);
        assert_eq!(d["status"], "failed", "{id}: {got}");
        assert!(d["reason"].as_str().unwrap().contains("refused recipient"), "{id}: {got}");
    }
    assert_eq!(api.received().iter().filter(|r| r.path.ends_with("/message/send")).count(), before, "nothing was sent");
}

#[tokio::test]
async fn a_stored_bot_call_to_many_is_refused() {
    let (_d, app) = embedded_app();
    let ctx = app.platform_context();
    let now = app.now();
    let tg = herald::platforms::config::Channel::from_json(
        "tg",
        json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": "http://127.0.0.1:9"}}),
        None,
        now,
    )
    .unwrap();
    let wc = herald::platforms::config::Channel::from_json(
        "wc",
        json!({"kind": "wecom", "settings": {"corp_id": "ww", "agent_id": 1, "secret": "s", "api_base": "http://127.0.0.1:9"}}),
        None,
        now,
    )
    .unwrap();
    for (c, method, payload) in [
        (&tg, "sendMessage", json!({"chat_id": "1|2", "text": "x"})),
        (&wc, "message/send", json!({"touser": "@all", "msgtype": "text", "text": {"content": "x"}})),
        (&wc, "message/send", json!({"touser": "a|b", "msgtype": "text", "text": {"content": "x"}})),
    ] {
        // The call's own chat is fine; the payload names many: refused all the same.
        let outcome = herald::platforms::execute(&ctx, c, &herald::platforms::ApiCall::new("5", method, payload)).await;
        assert!(matches!(&outcome, herald::platforms::SendOutcome::Permanent { reason, .. } if reason.contains("refused recipient")), "{outcome:?}");
    }
}

// ---- found by the red-team pass after the merge ----

/// A secret left out of a `PUT` or `PATCH` reads as masked: it follows the same rule, so a
/// request that only changes where the secret goes is refused, and nothing reaches the new host.
#[tokio::test]
async fn a_secret_left_out_never_follows_a_new_destination() {
    let (_d, app) = embedded_app();
    let attacker = TestServer::start(|_| Reply::ok(r#"{"ok": true, "result": true}"#)).await;
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "chat_id": "-100123", "api_base": "https://proxy-a.test"}});
    assert_eq!(put_channel(&app, "tg", tg).await.0, 201);
    for (method, body) in
        [("PATCH", json!({"settings": {"api_base": attacker.url}})), ("PUT", json!({"kind": "telegram", "settings": {"api_base": attacker.url}}))]
    {
        let (status, err) = call(&app, method, "/api/v1/channels/tg", Some(body)).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("settings.bot_token")), "{method}: {err}");
    }
    assert!(attacker.received().is_empty(), "the token never left");
    // What does not move the secret still keeps it.
    assert_eq!(call(&app, "PATCH", "/api/v1/channels/tg", Some(json!({"enabled": false}))).await.0, 200);
    let stored = app.repo.channel("tg").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Telegram(t) = &stored.settings else { panic!() };
    assert_eq!((t.bot_token.expose(), stored.enabled), (BOT_TOKEN, false));
    let old_secret = t.webhook_secret.clone();
    // Sent again with the new host: fine, and the webhook secret Herald made is made anew
    // (it is told to the platform, so it never follows a new host either).
    let moved = json!({"settings": {"api_base": "https://proxy-b.test", "bot_token": BOT_TOKEN}});
    assert_eq!(call(&app, "PATCH", "/api/v1/channels/tg", Some(moved)).await.0, 200);
    let stored = app.repo.channel("tg").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Telegram(t) = &stored.settings else { panic!() };
    assert!(old_secret.is_none() || t.webhook_secret.as_ref().map(|s| s.expose().to_owned()) != old_secret.map(|s| s.expose().to_owned()));

    // A webhook's signing key and a WeCom secret likewise.
    let hook = json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in", "secret": "webhook-signing-key"}});
    assert_eq!(put_channel(&app, "h", hook).await.0, 201);
    let (status, err) = call(&app, "PATCH", "/api/v1/channels/h", Some(json!({"settings": {"url": format!("{}/x", attacker.url)}}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("settings.secret")), "{err}");
    let wc = json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": 1000002, "secret": "corp-secret-value"}});
    assert_eq!(put_channel(&app, "w", wc).await.0, 201);
    let (status, err) = call(&app, "PATCH", "/api/v1/channels/w", Some(json!({"settings": {"corp_id": "ww2"}}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("settings.secret")), "{err}");
    assert!(attacker.received().is_empty());
}

/// WeCom's access token is kept per corp, agent, secret and host: a config that shares the corp
/// and agent but not the secret (or points elsewhere) never gets another config's token.
#[tokio::test]
async fn a_wecom_token_is_never_handed_to_another_secret_or_host() {
    let (_d, app) = embedded_app();
    let real = herald_tests::wecom::FakeWecom::start().await;
    let other = herald_tests::wecom::FakeWecom::start().await;
    let wc = |secret: &str, base: &str| json!({"kind": "wecom", "settings": {"corp_id": herald_tests::wecom::CORP, "agent_id": herald_tests::wecom::AGENT, "secret": secret, "api_base": base}});
    let (status, body) = put_channel(&app, "wc", wc(herald_tests::wecom::SECRET, &real.server.url)).await;
    assert_eq!((status, &body["registration"]["ok"]), (201, &json!(true)), "{body}");
    assert_eq!(real.with(|s| s.tokens_issued), 1);
    let (status, _) = put_channel(&app, "wc2", wc("i-do-not-know-the-secret", &other.server.url)).await;
    assert_eq!(status, 201);
    let leaked = other.server.received().iter().any(|r| r.query.contains("access_token="));
    assert!(!leaked, "{:?}", other.server.received().iter().map(|r| (r.path.clone(), r.query.clone())).collect::<Vec<_>>());
    assert_eq!(other.calls("/cgi-bin/gettoken"), 1, "it asked for a token of its own (and was refused)");
}

/// `/my` shows an account only in a private chat or the configured group: the menu's button is
/// held to the same rule as the command.
#[tokio::test]
async fn the_account_button_is_held_to_the_configured_group_like_my() {
    let (_d, app) = embedded_app();
    // No group configured: the bot may be in groups, and shows no account in any.
    let settings = json!({"bot_token": BOT_TOKEN, "webhook_secret": TG_SECRET, "bot_username": "herald_test_bot"});
    assert_eq!(put_channel(&app, "tg", json!({"kind": "telegram", "settings": settings})).await.0, 201);
    call(&app, "PUT", "/api/v1/users/u5", Some(json!({"name": "Victim", "plan": "Gold", "ids": {"telegram": "42"}}))).await;
    let press = json!({"callback_query": {"id": "cb-my", "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": 5, "chat": {"id": -999, "type": "group"}}, "chat_instance": "1", "data": "m:my"}});
    let (status, reply) = update(&app, press).await;
    assert_eq!((status, reply["method"].as_str(), reply["show_alert"].as_bool()), (200, Some("answerCallbackQuery"), Some(true)), "{reply}");
    assert!(!reply.to_string().contains("Gold"), "{reply}");
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0, "no edit showing the account was queued");
}

/// A user's notice that reaches nobody (unknown user; admins without a chat id) is recorded as
/// skipped with the reason, not dropped without a trace.
#[tokio::test]
async fn a_notice_that_reaches_nobody_is_recorded_with_why() {
    let (_d, app) = embedded_app();
    put_channel(&app, "hook", json!({"kind": "webhook", "types": ["download"], "settings": {"url": "https://hooks.test/in"}})).await;
    call(&app, "PUT", "/api/v1/users/a1", Some(json!({"role": "admin"}))).await;
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "x", "to": {"user": "ext1"}}))).await;
    assert_eq!(status, 202, "{v}");
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{}", v["id"].as_str().unwrap()), None).await;
    let d = &n["deliveries"];
    assert_eq!((d.as_array().unwrap().len(), d[0]["status"].as_str()), (1, Some("skipped")), "{n}");
    assert!(d[0]["reason"].as_str().unwrap().contains("no admin has a chat id"), "{n}");
}

/// The rest of the pass: a test message is short (it bypasses the queue's pacing); an API body
/// is an object, never an array read field by field; registering a kind that has nothing to
/// register is the caller's mistake (400), not the platform's (502).
#[tokio::test]
async fn test_messages_are_short_bodies_are_objects_and_register_says_what_it_cannot() {
    let (_d, app) = embedded_app();
    put_channel(&app, "hook", json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in"}})).await;
    let long = "y".repeat(herald::api::MAX_TEST_TEXT + 1);
    let (status, err) = call(&app, "POST", "/api/v1/channels/hook/test", Some(json!({"text": long}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("text")), "{err}");
    for (method, path, body) in [
        ("PUT", "/api/v1/users/u2", json!(["admin", "Mallory"])),
        ("POST", "/api/v1/notify", json!(["node", "t", "x", "all"])),
        ("PUT", "/api/v1/settings", json!([])),
    ] {
        let (status, err) = call(&app, method, path, Some(body)).await;
        assert_eq!(status, 400, "{method} {path}: {err}");
    }
    assert_eq!(call(&app, "GET", "/api/v1/users/u2", None).await.0, 404, "nothing was created");
    let (status, err) = call(&app, "POST", "/api/v1/channels/hook/register", None).await;
    assert_eq!(status, 400, "{err}");
}

// ---- found by the attacker pass after the platform face (issue 13) ----

/// A platform refusing `setWebhook` may echo what it was sent: the secret token never reaches
/// the register answer (nor the save's `registration`).
#[tokio::test]
async fn a_register_refusal_never_shows_the_webhook_secret() {
    let server = TestServer::start(|r| {
        if r.path.ends_with("/getMe") {
            Reply::ok(r#"{"ok": true, "result": {"username": "herald_test_bot"}}"#)
        } else {
            let echoed = String::from_utf8_lossy(&r.body).replace('"', "'");
            Reply { status: 400, ..Reply::ok(format!("{{\"ok\": false, \"error_code\": 400, \"description\": \"{echoed}\"}}")) }
        }
    })
    .await;
    let clock = std::sync::Arc::new(herald::domain::clock::SystemClock);
    let (_d, app) = herald_tests::embedded_app_custom(clock, |c| c.public_url = Some("https://herald.example.com".into()));
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": server.url}});
    let (_, saved) = put_channel(&app, "tg", tg).await;
    let (status, r) = call(&app, "POST", "/api/v1/channels/tg/register", None).await;
    assert_eq!(status, 502, "{r}");
    let secret = match app.repo.channel("tg").await.unwrap().unwrap().settings {
        herald::platforms::config::ChannelSettings::Telegram(t) => t.webhook_secret.unwrap().expose().to_owned(),
        _ => unreachable!(),
    };
    assert!(r["detail"].as_str().unwrap().contains("secret_token"), "the platform's words are kept: {r}");
    assert!(!r.to_string().contains(&secret), "{r}");
    assert!(!saved.to_string().contains(&secret), "{saved}");
}

/// An empty WeCom callback token would make every signature computable by anyone.
#[tokio::test]
async fn a_blank_wecom_token_is_refused() {
    use herald_tests::wecom::{AES_KEY, AGENT, CORP, SECRET};
    let (_d, app) = embedded_app();
    let settings = json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": "", "encoding_aes_key": AES_KEY});
    let (status, r) = put_channel(&app, "wc", json!({"kind": "wecom", "settings": settings})).await;
    assert_eq!((status, r["field"].as_str()), (400, Some("settings.token")), "{r}");
}

/// The URL check is signed like a message, so it keeps the same replay window: an old captured
/// message sent as an `echostr` is not decrypted for whoever replays it.
#[tokio::test]
async fn a_stale_wecom_url_check_is_refused() {
    use herald::platforms::wecom::crypto::Crypto;
    use herald_tests::wecom::{AES_KEY, AGENT, CORP, SECRET, TOKEN as WTOKEN};
    let clock = std::sync::Arc::new(herald::domain::clock::ManualClock::new("2026-03-01T00:00:00Z".parse().unwrap()));
    let (_d, app) = herald_tests::embedded_app_custom(clock, |_| {});
    let settings =
        json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": WTOKEN, "encoding_aes_key": AES_KEY, "api_base": "http://127.0.0.1:9"});
    assert_eq!(put_channel(&app, "wc", json!({"kind": "wecom", "settings": settings})).await.0, 201);
    let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
    let echostr = c.encrypt_with("<xml><Content>private</Content></xml>", herald::domain::ids::random_bytes::<16>()).unwrap();
    let check = |ts: i64| {
        let sig = c.signature(&ts.to_string(), "n1", &echostr);
        let q: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("source", "wc"),
                ("msg_signature", sig.as_str()),
                ("timestamp", &ts.to_string()),
                ("nonce", "n1"),
                ("echostr", echostr.as_str()),
            ])
            .finish();
        let uri: http::Uri = format!("/callback/wecom?{q}").parse().unwrap();
        herald::http::Request::new(http::Method::GET, &uri, http::HeaderMap::new(), bytes::Bytes::new())
    };
    let now = 1_772_323_200i64;
    assert_eq!(herald::edge::router::route(&app, check(now)).await.status(), 200);
    assert_eq!(herald::edge::router::route(&app, check(now - 7200)).await.status(), 401, "two hours old");
}

/// A proxy's password in `api_base` is masked in what the API shows and in what a platform
/// answers; a query (which paths would be appended after) is refused.
#[tokio::test]
async fn credentials_in_an_api_base_never_show() {
    let server = TestServer::start(|r| Reply { status: 500, ..Reply::ok(format!("{{\"description\": \"bad gateway for {}\"}}", r.path)) }).await;
    let (_d, app) = embedded_app();
    let base = server.url.replace("http://", "http://proxyuser:PROXYPASS-777@");
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "chat_id": "42", "api_base": base}});
    let (status, saved) = put_channel(&app, "tg", tg).await;
    assert_eq!(status, 201, "{saved}");
    assert!(!saved.to_string().contains("PROXYPASS-777"), "{saved}");
    let (_, r) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    assert!(!r.to_string().contains("PROXYPASS-777"), "{r}");
    let with_query = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": format!("{}/p?auth=x", server.url)}});
    let (status, r) = put_channel(&app, "tg2", with_query).await;
    assert_eq!((status, r["field"].as_str()), (400, Some("settings.api_base")), "{r}");
}

/// One WeCom app saved under two configs: a callback replayed to the second is the same event.
#[tokio::test]
async fn one_wecom_event_is_acted_on_once_whichever_config_it_reaches() {
    use herald::platforms::wecom::crypto::Crypto;
    use herald_tests::wecom::{AES_KEY, AGENT, CORP, SECRET, TOKEN as WTOKEN};
    let clock = std::sync::Arc::new(herald::domain::clock::ManualClock::new("2026-03-01T00:00:00Z".parse().unwrap()));
    let (_d, app) = herald_tests::embedded_app_custom(clock, |_| {});
    let api = TestServer::start(|_| Reply::ok(r#"{"errcode": 0, "errmsg": "ok", "access_token": "t", "expires_in": 7200}"#)).await;
    let settings = json!({"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "token": WTOKEN, "encoding_aes_key": AES_KEY, "api_base": api.url});
    for name in ["wc", "wccopy"] {
        assert_eq!(put_channel(&app, name, json!({"kind": "wecom", "settings": settings})).await.0, 201);
    }
    let ts = 1_772_323_200i64;
    let c = Crypto::new(WTOKEN, AES_KEY, CORP).unwrap();
    let inner = format!(
        "<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[/ping]]></Content><MsgId>7001</MsgId><AgentID>{AGENT}</AgentID></xml>"
    );
    let enc = c.encrypt_with(&inner, herald::domain::ids::random_bytes::<16>()).unwrap();
    let sig = c.signature(&ts.to_string(), "n1", &enc);
    let body = format!("<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
    let mut answered = Vec::new();
    for source in ["wc", "wccopy"] {
        let uri: http::Uri = format!("/callback/wecom?source={source}&msg_signature={sig}&timestamp={ts}&nonce=n1").parse().unwrap();
        let resp = herald::edge::router::route(
            &app,
            herald::http::Request::new(http::Method::POST, &uri, http::HeaderMap::new(), bytes::Bytes::from(body.clone())),
        )
        .await;
        assert_eq!(resp.status(), 200);
        answered.push(!resp.body().is_empty());
    }
    assert_eq!(answered, [true, false]);
}

/// A masked destination that is itself a secret (Synology's `incoming_url`) is the stored one:
/// a `PATCH` that leaves it alone is taken.
#[tokio::test]
async fn a_config_whose_destination_is_a_secret_can_be_patched() {
    let (_d, app) = embedded_app();
    let s = json!({"kind": "synology", "settings": {"incoming_url": "https://nas.example.com/webapi/entry.cgi?token=abc"}});
    assert_eq!(put_channel(&app, "nas", s).await.0, 201);
    let (status, r) = call(&app, "PATCH", "/api/v1/channels/nas", Some(json!({"enabled": false}))).await;
    assert_eq!(status, 200, "{r}");
    let (status, r) =
        call(&app, "PATCH", "/api/v1/channels/nas", Some(json!({"settings": {"incoming_url": "https://other.example.com/x?token=********"}}))).await;
    assert_eq!(status, 200, "a new URL sent whole is a new URL: {r}");
}

/// Odd input at the edges: a Telegram update that is an array, a channel named `..`.
#[tokio::test]
async fn an_array_update_and_a_dot_name_are_refused() {
    let (_d, app) = embedded_app();
    telegram_channel(&app, "-1001", json!({})).await;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-telegram-bot-api-secret-token", TG_SECRET.parse().unwrap());
    let uri: http::Uri = "/callback/telegram?source=tg".parse().unwrap();
    let resp =
        herald::edge::router::route(&app, herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from_static(b"[1]"))).await;
    assert_eq!(resp.status(), 400);
    let (status, _) = put_channel(&app, "..", json!({"kind": "webhook", "settings": {"url": "https://x.test"}})).await;
    assert_eq!(status, 400);
}

/// A node probe URL often carries the checker's token: the API shows its query and user
/// information masked, and the shown form sent back keeps the stored URL.
#[tokio::test]
async fn a_probe_urls_token_is_masked_and_kept() {
    let (_d, app) = embedded_app();
    let url = "https://probe.example.com/check?host={host}&port={port}&token=probe-secret-123";
    let (status, r) = call(&app, "PATCH", "/api/v1/settings", Some(json!({"node": {"probe_url": url}}))).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["node"]["probe_url"], format!("https://probe.example.com/check?{MASK}"));
    let (_, shown) = call(&app, "GET", "/api/v1/settings", None).await;
    assert!(!shown.to_string().contains("probe-secret-123"), "{shown}");
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(shown)).await.0, 200);
    assert_eq!(app.repo.settings().await.unwrap().node.probe_url.as_deref(), Some(url));
    let with_user = "https://u:pw-secret@probe.example.com/check/{host}";
    let (_, r) = call(&app, "PATCH", "/api/v1/settings", Some(json!({"node": {"probe_url": with_user}}))).await;
    assert_eq!(r["node"]["probe_url"], format!("https://{MASK}@probe.example.com/check/{{host}}"));
}

#[tokio::test]
async fn a_huge_platform_error_is_cut_before_it_is_shown_or_stored() {
    let (_d, app) = embedded_app();
    let page = "<h1>error</h1>".repeat(50_000);
    let body = json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {page}")}).to_string();
    let api = TestServer::start(move |_| Reply {
        status: 400,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.clone(),
        delay: std::time::Duration::ZERO,
    })
    .await;
    let (s, _) = put_channel(
        &app,
        "tg",
        json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": BOT_TOKEN, "chat_id": "42", "api_base": api.url}}),
    )
    .await;
    assert_eq!(s, 201);
    let (s, r) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    assert_eq!(s, 200);
    let detail = r["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("Telegram 400: Bad Request") && detail.chars().count() <= herald::platforms::MAX_REASON_CHARS + 1,
        "{}",
        &detail[..40]
    );
    // A longer answer than Herald reads is not read: a transient failure, the platform's text unread.
    let huge = "x".repeat(herald::platforms::MAX_ANSWER_BYTES + 1);
    let api = TestServer::start(move |_| Reply::ok(huge.clone())).await;
    put_channel(
        &app,
        "tg",
        json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": BOT_TOKEN, "chat_id": "42", "api_base": api.url}}),
    )
    .await;
    let (_, r) = call(&app, "POST", "/api/v1/channels/tg/test", None).await;
    assert_eq!((r["outcome"].as_str(), r["detail"].as_str()), (Some("transient"), Some("the answer is longer than 1048576 bytes")), "{r}");
}

#[tokio::test]
async fn a_bot_username_must_be_one_before_it_goes_into_a_deep_link() {
    let (_d, app) = embedded_app();
    for bad in ["javascript:alert(1)//", "<img src=x onerror=alert(1)>", "a b?c=<x>#/", "abc"] {
        let (s, e) =
            put_channel(&app, "tg", json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": BOT_TOKEN, "bot_username": bad}})).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("settings.bot_username")), "{bad}: {e}");
    }
    let (s, _) =
        put_channel(&app, "tg", json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": BOT_TOKEN, "bot_username": "@herald_bot"}}))
            .await;
    assert_eq!(s, 201);
}

// ---- found by the passes of 2026-11-30's sixth session ----

/// Two configs of one bot (each with its own default chat) would each pace to the bot's whole
/// 30/s and a chat's 1/s, together twice them (Telegram's 429s): they share one schedule.
#[tokio::test]
async fn configs_of_one_bot_account_share_its_pacing() {
    use herald::dispatch::pacing::limits;
    let (_d, app) = embedded_app();
    let tg = |token: &str, chat: &str| json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": token, "chat_id": chat}});
    assert_eq!(put_channel(&app, "ops", tg(BOT_TOKEN, "-1001")).await.0, 201);
    assert_eq!(put_channel(&app, "news", tg("123456:ZZZ-the-same-bot-another-secret-half", "-1002")).await.0, 201);
    assert_eq!(put_channel(&app, "other", tg("654321:another-bots-secret-half-00000001", "-1001")).await.0, 201);
    let wc =
        |agent: u32| json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": agent, "secret": "corp-secret-value"}});
    assert_eq!(put_channel(&app, "w1", wc(1000002)).await.0, 201);
    assert_eq!(put_channel(&app, "w2", wc(1000002)).await.0, 201);
    assert_eq!(put_channel(&app, "w3", wc(1000003)).await.0, 201);
    let snap = app.snapshot().await.unwrap();
    let keys = |name: &str, chat: &str| limits(snap.channel(name).unwrap(), chat).into_iter().map(|l| l.key).collect::<Vec<_>>();
    assert_eq!(keys("ops", "-1001"), keys("news", "-1001"));
    assert_eq!(keys("ops", "-1001").len(), 3, "the chat's, the group's and the bot's");
    assert!(keys("ops", "-1001").iter().all(|k| !k.contains("ZZZ") && !k.contains("ABC")), "no secret in a store key");
    assert!(keys("ops", "-1001").iter().all(|k| !keys("other", "-1001").contains(k)), "another bot: its own schedules");
    assert_eq!(keys("w1", "zhangsan"), keys("w2", "zhangsan"));
    assert_ne!(keys("w1", "zhangsan"), keys("w3", "zhangsan"));
    // Ids that ignore case (Telegram usernames, WeCom userids) have one schedule.
    assert_eq!(keys("ops", "@Chan_nel"), keys("ops", "@chan_nel"));
    assert_eq!(keys("w1", "ZhangSan"), keys("w1", "zhangsan"));
    // One app has one way of writing its ids: `01000002` would be another key.
    for agent in [json!("01000002"), json!("+1000002"), json!(0), json!(-5), json!(1000002.5)] {
        let wc = json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": "ww1", "agent_id": agent.clone(), "secret": "corp-secret-value"}});
        let (s, e) = put_channel(&app, "w4", wc).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("settings.agent_id")), "{agent}: {e}");
    }
    let (s, e) = put_channel(
        &app,
        "w4",
        json!({"kind": "wecom", "enabled": false, "settings": {"corp_id": " ww1 /x:y", "agent_id": 1000002, "secret": "corp-secret-value"}}),
    )
    .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("settings.corp_id")), "{e}");
    // A 429 on one config pauses the chat for the bot's other configs in this instance too.
    let pacer = herald::dispatch::pacing::Pacer::default();
    pacer.pause(snap.channel("news").unwrap(), "-1001", std::time::Duration::from_secs(10));
    let pace = pacer.acquire(&app.repo, snap.channel("ops").unwrap(), "-1001").await.unwrap();
    assert!(matches!(pace, herald::dispatch::pacing::Pace::Later(_)), "{pace:?}");
    let pace = pacer.acquire(&app.repo, snap.channel("other").unwrap(), "-1001").await.unwrap();
    assert_eq!(pace, herald::dispatch::pacing::Pace::Go, "another bot is not paused");
    // However the chat's name is written.
    pacer.pause(snap.channel("news").unwrap(), "@ChanName1", std::time::Duration::from_secs(10));
    let pace = pacer.acquire(&app.repo, snap.channel("ops").unwrap(), "@channame1").await.unwrap();
    assert!(matches!(pace, herald::dispatch::pacing::Pace::Later(_)), "{pace:?}");
}

/// Found by the attacker pass: inputs that were taken and should not have been.
#[tokio::test]
async fn a_list_is_not_a_target_nor_a_path_a_host() {
    let (_d, app) = embedded_app();
    for to in [json!(["all"]), json!([5]), json!({"user": "u1", "x": 1}), json!({"user": ["u1"]})] {
        let (s, e) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "custom", "text": "a", "to": to.clone()}))).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("to")), "{to}: {e}");
    }
    let (s, e) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "custom", "text": "a", "to": {}}))).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("to.user")), "{e}");
    for bad in [json!({"user": 1.5}), json!({"user": 1e2})] {
        let (s, e) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "custom", "text": "a", "to": bad.clone()}))).await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    for ok in [json!({"user": "u1"}), json!({"user": 42}), json!("all"), json!("admins")] {
        assert_eq!(call(&app, "POST", "/api/v1/notify", Some(json!({"type": "custom", "text": "a", "to": ok.clone()}))).await.0, 202, "{ok}");
    }
    for host in ["a b", "h/c?d", "u@h", "h#x", "h%2f", "127.0.0.1:18710", "x&admin=1", "::1", "[h]", "a\u{200b}b", "a／b"] {
        let (s, e) = call(&app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "n1", "host": host}))).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("host")), "{host}: {e}");
    }
    for host in ["hk1.example", "10.0.0.1", "[2001:db8::1]", "节点.example"] {
        assert!(call(&app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "n1", "host": host}))).await.0 < 300, "{host}");
    }
    let many: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
    let (s, e) = put_channel(&app, "h", json!({"kind": "webhook", "types": many, "settings": {"url": "https://hooks.test/in"}})).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("types")), "{e}");
}

/// `"09000000050"` would name Telegram's chat 9000000050 yet be another key to Herald: another
/// user's binding, another chat's pacing. Numeric ids are taken only as the platform writes them.
#[tokio::test]
async fn a_numeric_chat_id_with_a_leading_zero_is_refused() {
    let (_d, app) = embedded_app();
    let (s, _) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"telegram": "9000000050"}}))).await;
    assert!(s == 200 || s == 201, "{s}");
    for bad in ["09000000050", "+9000000050", "-0100"] {
        let (s, e) = call(&app, "PUT", "/api/v1/users/u2", Some(json!({"ids": {"telegram": bad}}))).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("ids.telegram")), "{bad}: {e}");
    }
    assert_eq!(call(&app, "GET", "/api/v1/users/u2", None).await.0, 404);
    let (s, e) =
        put_channel(&app, "tg", json!({"kind": "telegram", "enabled": false, "settings": {"bot_token": BOT_TOKEN, "admin_whitelist": ["0123"]}}))
            .await;
    assert_eq!((s, e["field"].as_str()), (400, Some("settings.admin_whitelist")), "{e}");
}

/// README: `system` "cannot be switched off": a route that would send Herald's own notices
/// (failures, tests) past the admins and the channels' default chats is refused, and changes
/// nothing; `admin` is fine.
#[tokio::test]
async fn the_system_type_cannot_be_routed_away_from_the_admins() {
    let (_d, app) = embedded_app();
    for scope in ["user", "all", "user,admin"] {
        let (s, e) = call(&app, "PATCH", "/api/v1/settings", Some(json!({"routes": {"system": scope}}))).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("routes.system")), "{scope}: {e}");
    }
    let (_, settings) = call(&app, "GET", "/api/v1/settings", None).await;
    assert!(settings["routes"].get("system").is_none(), "{settings}");
    assert_eq!(call(&app, "PATCH", "/api/v1/settings", Some(json!({"routes": {"system": "admin"}}))).await.0, 200);
    let s = app.snapshot().await.unwrap().settings.clone();
    assert_eq!(s.scope_of("system"), Some(herald::domain::settings::Scope::Admin));
}
