//! Issue 19: the attacks and lost-text faults that worked, each replayed as its smallest input
//! with the right value asserted — secrets that would follow a new destination, ids that would
//! broadcast, redirects, tokens in platform text, masked URLs, auth edge cases, the local
//! runner's limits; then the correctness faults (group migration, stale topics, inline
//! buttons, WeCom dedup, lost text, quadratic Markdown, unchecked numbers, paging).

#![allow(clippy::unwrap_used)]

use herald::app::Config;
use herald::secret::MASK;
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
    let herald::domain::ChannelSettings::Telegram(t) = &stored.settings else { panic!() };
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
    let herald::domain::ChannelSettings::Webhook(w) = &stored.settings else { panic!() };
    assert_eq!(w.url, "https://user:pw@hooks.test:8443/in/T0KEN?key=qs-secret");

    // An api_base with credentials in its query is masked the same way; a plain one is not.
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": "https://proxy.test/tg?auth=proxy-secret"}});
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
        assert_eq!(herald::http::route(&app, req).await.status(), 200, "{auth}");
    }
    let mut req = request("GET", "/api/v1/channels", None);
    req.headers.insert("authorization", format!("Basic {TOKEN}").parse().unwrap());
    assert_eq!(herald::http::route(&app, req).await.status(), 401);
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
        let resp = herald::http::route(&app, beat(id, key, "{not json")).await;
        assert_eq!(resp.status(), 401, "{id} {key}");
        assert_eq!(resp.body(), herald::http::route(&app, beat("hk1", "wrong-key-0123456789", "{}")).await.body());
    }
    // The right key (scheme in any case): now the body is read.
    assert_eq!(herald::http::route(&app, beat("hk1", "node-key-0123456789", "{not json")).await.status(), 400);
    assert_eq!(herald::http::route(&app, beat("hk1", "node-key-0123456789", "{\"blocked\": false}")).await.status(), 200);
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

async fn local_with(limits: herald::local::Limits) -> (String, tempfile::TempDir) {
    let (dir, app) = embedded_app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(herald::local::serve_with(std::sync::Arc::new(app), listener, limits));
    (addr, dir)
}

#[tokio::test]
async fn the_local_runner_closes_a_connection_that_never_finishes_its_headers() {
    let limits = herald::local::Limits { header_timeout: std::time::Duration::from_millis(200), ..Default::default() };
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
    let limits = herald::local::Limits { max_connections: 2, ..Default::default() };
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
