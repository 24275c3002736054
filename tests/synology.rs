//! Synology Chat end to end: the bot's requests checked by their token, answers in the response
//! and through the bot, notifications to the channel's incoming webhook and to users, and
//! Synology's answers read from `success`, against the FakeSynology stand-in.

#![allow(clippy::unwrap_used)]

use herald_tests::synology::{BOT_TOKEN, FakeSynology, OUTGOING_TOKEN, bot_post, request};
use herald_tests::{TOKEN, call, drain, start_local};
use serde_json::{Value, json};
use std::time::Duration;

fn settings(fake: &FakeSynology) -> Value {
    json!({"kind": "synology", "settings": {"incoming_url": fake.incoming_url(), "bot_token": BOT_TOKEN, "outgoing_token": OUTGOING_TOKEN, "api_base": fake.server.url}})
}

async fn post(app: &herald::app::App, body: &str) -> (u16, Value) {
    let resp = herald::edge::router::route(app, request("nas", body)).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_bot_answers_in_the_response_and_refuses_a_wrong_token() {
    let fake = FakeSynology::start().await;
    let (_d, app) = herald_tests::embedded_app();
    assert_eq!(call(&app, "PUT", "/api/v1/channels/nas", Some(settings(&fake))).await.0, 201);
    let (status, v) = post(&app, &bot_post("5", "ping", 1, OUTGOING_TOKEN)).await;
    assert_eq!((status, v["text"].as_str()), (200, Some("Your id: 5\nThis chat: 5")));
    // The same post again (Synology's retry): acknowledged, not answered.
    assert_eq!(post(&app, &bot_post("5", "ping", 1, OUTGOING_TOKEN)).await, (200, Value::Null));
    assert_eq!(post(&app, &bot_post("5", "ping", 2, "not-the-token")).await.0, 401);
    assert_eq!(post(&app, "user_id=5&text=ping").await.0, 401, "no token");
    assert_eq!(post(&app, &bot_post("x", "ping", 3, OUTGOING_TOKEN)).await.0, 400, "a user id that is no number");
    // An outgoing webhook in a channel: the trigger word is dropped, personal data not shown there.
    let hook = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("token", OUTGOING_TOKEN),
            ("channel_id", "3"),
            ("channel_name", "ops"),
            ("user_id", "5"),
            ("username", "ada"),
            ("post_id", "99"),
            ("timestamp", "4"),
            ("text", "!herald my"),
            ("trigger_word", "!herald"),
        ])
        .finish();
    let (_, v) = post(&app, &hook).await;
    assert_eq!(v["text"], "/my works in the official group only.", "{v}");
}

#[tokio::test]
async fn notifications_reach_the_channel_and_users_and_too_frequent_waits() {
    let fake = FakeSynology::start().await;
    let (_d, app) = herald_tests::embedded_app();
    call(&app, "PUT", "/api/v1/channels/nas", Some(settings(&fake))).await;
    let (status, v) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "ids": {"synology": "5"}}))).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("ids.synology")), "user ids are per server: {v}");
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "ids": {"synology:nas": "5"}}))).await;
    // Five notices at once: Herald's pace (one a second) keeps under "too frequent".
    for i in 0..3 {
        call(
            &app,
            "POST",
            "/api/v1/notify",
            Some(json!({"type": "account", "text": format!("n{i}"), "link": "https://example.com/a", "to": {"user": "u1"}})),
        )
        .await;
    }
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "disk full", "to": "admins"}))).await;
    let (_base, _app) = start_local(app).await;
    for _ in 0..200 {
        if fake.texts_to("5").len() == 3 && fake.texts_to("channel").len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = fake.texts_to("5");
    got.sort();
    assert_eq!(got, ["n0\n<https://example.com/a|Open>", "n1\n<https://example.com/a|Open>", "n2\n<https://example.com/a|Open>"]);
    assert_eq!(fake.texts_to("channel"), ["disk full"]);
    assert_eq!(fake.with(|s| s.refused_too_frequent), 0);
}

#[tokio::test]
async fn an_unknown_user_is_unreachable_and_the_test_endpoint_shows_the_answer() {
    let fake = FakeSynology::start().await;
    let (_d, app) = herald_tests::embedded_app();
    call(&app, "PUT", "/api/v1/channels/nas", Some(settings(&fake))).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"synology:nas": "9"}}))).await;
    fake.with(|s| s.unknown.insert(9));
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "hi", "to": {"user": "u1"}}))).await;
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["unreachable"]["synology:nas"], "Synology 404: user not found", "{user}");
    let (status, v) = call(&app, "POST", "/api/v1/channels/nas/test", None).await;
    assert_eq!((status, v["ok"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(fake.texts_to("channel").len(), 1);
}

#[tokio::test]
async fn bind_then_my_through_the_local_runner() {
    let fake = FakeSynology::start().await;
    let (_dir, app) = herald_tests::embedded_app();
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");
    assert_eq!(client.put(api("channels/nas")).bearer_auth(TOKEN).json(&settings(&fake)).send().await.unwrap().status(), 201);
    client.put(api("users/u1")).bearer_auth(TOKEN).json(&json!({"name": "Ada", "plan": "pro"})).send().await.unwrap();
    let code: Value = client.post(api("users/u1/bind-code")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let send = |body: String| {
        client.post(format!("{base}/callback/synology?source=nas")).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };
    let r: Value = send(bot_post("5", &format!("bind {}", code["code"].as_str().unwrap()), 10, OUTGOING_TOKEN)).await.unwrap().json().await.unwrap();
    assert_eq!(r["text"], "Bound to Ada. Your notifications will come here.");
    let r: Value = send(bot_post("5", "my", 11, OUTGOING_TOKEN)).await.unwrap().json().await.unwrap();
    assert!(r["text"].as_str().unwrap().contains("Plan: pro"), "{r}");
    let r: Value = send(bot_post("5", "unbind yes", 12, OUTGOING_TOKEN)).await.unwrap().json().await.unwrap();
    assert!(r["text"].as_str().unwrap().starts_with("Unbound"), "{r}");
    assert_eq!(send(bot_post("5", "my", 13, "wrong")).await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_incoming_webhooks_token_never_shows_in_a_reason() {
    // A server whose error quotes the request it got (query included).
    let echo = herald_tests::servers::TestServer::start(|r| {
        herald_tests::servers::Reply::ok(
            json!({"success": false, "error": {"code": 1, "errors": format!("bad request {}?{}", r.path, r.query)}}).to_string(),
        )
    })
    .await;
    let (_d, app) = herald_tests::embedded_app();
    let url = format!("{}/webapi/entry.cgi?api=SYNO.Chat.External&method=incoming&version=2&token=%22INCOMINGSECRET0123%22", echo.url);
    let (status, v) = call(&app, "PUT", "/api/v1/channels/nas", Some(json!({"kind": "synology", "settings": {"incoming_url": url}}))).await;
    assert_eq!(status, 201, "{v}");
    let (_, v) = call(&app, "POST", "/api/v1/channels/nas/test", None).await;
    let shown = v.to_string();
    assert!(shown.contains("bad request") && !shown.contains("INCOMINGSECRET0123"), "{shown}");
}
