//! VoceChat end to end: the bot webhook checked by the secret in its URL (the GET check too),
//! answers through the bot API, notifications to users and groups, and the server's errors,
//! against the FakeVocechat stand-in.

#![allow(clippy::unwrap_used)]

use herald_tests::vocechat::{API_KEY, BOT_UID, FakeVocechat, WEBHOOK_SECRET, content_types, message, request};
use herald_tests::{TOKEN, call, drain, start_local};
use serde_json::{Value, json};
use std::time::Duration;

fn settings(fake: &FakeVocechat) -> Value {
    json!({"kind": "vocechat", "settings": {"server_url": fake.server.url, "api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "bot_uid": BOT_UID, "group_id": 3}})
}

#[tokio::test]
async fn the_url_check_and_messages_need_the_secret() {
    let fake = FakeVocechat::start().await;
    let (_d, app) = herald_tests::embedded_app();
    assert_eq!(call(&app, "PUT", "/api/v1/channels/vc", Some(settings(&fake))).await.0, 201);
    let (status, v) = call(&app, "GET", &format!("/callback/vocechat?source=vc&token={WEBHOOK_SECRET}"), None).await;
    assert_eq!((status, v), (200, json!({"status": "OK"})));
    assert_eq!(call(&app, "GET", "/callback/vocechat?source=vc&token=wrong", None).await.0, 401);
    assert_eq!(call(&app, "GET", "/callback/vocechat?source=vc", None).await.0, 401);
    assert_eq!(call(&app, "DELETE", &format!("/callback/vocechat?source=vc&token={WEBHOOK_SECRET}"), None).await.0, 405);
    let route = |body: String| herald::edge::router::route(&app, request("vc", WEBHOOK_SECRET, &body));
    assert_eq!(route("[1]".into()).await.status(), 400);
    // The bot's own message, a reaction and a file are not for the bot.
    assert_eq!(route(message(1, BOT_UID, "ping", None)).await.status(), 200);
    let mut reaction: Value = serde_json::from_str(&message(2, "7", "ping", None)).unwrap();
    reaction["detail"]["type"] = json!("reaction");
    assert_eq!(route(reaction.to_string()).await.status(), 200);
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    assert_eq!(fake.sends(), 0);
    // A message in another group than the config's is ignored; in its group, answered there.
    route(message(3, "7", "ping", Some(9))).await;
    route(message(4, "7", "ping", Some(3))).await;
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    assert_eq!(fake.texts_to("group:9"), Vec::<String>::new());
    assert_eq!(fake.texts_to("group:3"), ["Your id: 7\nThis chat: group:3"]);
}

#[tokio::test]
async fn notifications_are_markdown_and_a_missing_user_is_unreachable() {
    let fake = FakeVocechat::start().await;
    let (_d, app) = herald_tests::embedded_app();
    call(&app, "PUT", "/api/v1/channels/vc", Some(settings(&fake))).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "ids": {"vocechat:vc": "7"}}))).await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    call(
        &app,
        "POST",
        "/api/v1/notify",
        Some(json!({"type": "account", "title": "Renew", "text": "*now* [x]", "link": "https://example.com/r", "to": {"user": "u1"}})),
    )
    .await;
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "disk full", "to": "admins"}))).await;
    drain(&app, &dispatcher).await;
    assert_eq!(fake.texts_to("7"), ["**Renew**\n\\*now\\* \\[x\\]\n[Open](https://example.com/r)"]);
    assert_eq!(fake.texts_to("group:3"), ["disk full"]);
    assert!(content_types(&fake).iter().all(|t| t == "text/markdown"));
    fake.with(|s| s.unknown.insert("7".into()));
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "again", "to": {"user": "u1"}}))).await;
    drain(&app, &dispatcher).await;
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["unreachable"]["vocechat:vc"], "VoceChat HTTP 404: no such user or group", "{user}");
    let (status, v) = call(&app, "POST", "/api/v1/channels/vc/test", None).await;
    assert_eq!((status, v["ok"].as_bool()), (200, Some(true)), "{v}");
}

#[tokio::test]
async fn bind_then_my_through_the_local_runner() {
    let fake = FakeVocechat::start().await;
    let (_dir, app) = herald_tests::embedded_app();
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");
    assert_eq!(client.put(api("channels/vc")).bearer_auth(TOKEN).json(&settings(&fake)).send().await.unwrap().status(), 201);
    client.put(api("users/u1")).bearer_auth(TOKEN).json(&json!({"name": "Ada", "plan": "pro"})).send().await.unwrap();
    let code: Value = client.post(api("users/u1/bind-code")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let url = format!("{base}/callback/vocechat?source=vc&token={WEBHOOK_SECRET}");
    let send = |body: String| client.post(&url).header("content-type", "application/json").body(body).send();
    assert_eq!(send(message(1, "7", &format!("/bind {}", code["code"].as_str().unwrap()), None)).await.unwrap().status(), 200);
    assert_eq!(send(message(2, "7", "my", None)).await.unwrap().status(), 200);
    for _ in 0..100 {
        if fake.texts_to("7").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts = fake.texts_to("7");
    assert_eq!(texts[0], "Bound to Ada. Your notifications will come here.");
    assert!(texts[1].contains("Plan: pro"), "{texts:?}");
}
