//! End to end through the local runner: HTTP in, queue, dispatcher, HTTP out to a local server
//! standing in for the host's webhook endpoint.

#![allow(clippy::unwrap_used)]

use herald_tests::servers::{Reply, TestServer};
use herald_tests::{TOKEN, start_local};
use serde_json::{Value, json};
use std::time::Duration;

async fn webhook_round_trip(app: herald::app::App) {
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");

    let channel = json!({"kind": "webhook", "settings": {"url": format!("{}/hook", hook.url), "secret": "e2e-signing-secret"}});
    let r = client.put(api("channels/hook")).bearer_auth(TOKEN).json(&channel).send().await.unwrap();
    assert_eq!(r.status(), 201);

    let n = json!({"type": "announcement", "title": "Hello", "text": "from Herald", "link": "https://example.com/a", "to": "all", "idempotency_key": "e2e-1"});
    let r = client.post(api("notify")).bearer_auth(TOKEN).json(&n).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let accepted: Value = r.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["deliveries"], 1);
    // A client retry with the same key changes nothing.
    let again: Value = client.post(api("notify")).bearer_auth(TOKEN).json(&n).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], id);

    let got = hook.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.header("x-herald-signature").unwrap(), herald::platforms::webhook::signature("e2e-signing-secret", &req.body));
    let doc = req.json();
    assert_eq!(
        (doc["id"].as_str(), doc["type"].as_str(), doc["title"].as_str(), doc["text"].as_str()),
        (Some(id.as_str()), Some("announcement"), Some("Hello"), Some("from Herald"))
    );
    assert_eq!(doc["link"], "https://example.com/a");
    assert!(doc["created_at"].is_string());
    assert_eq!(doc["recipient"], "url", "the channel's own default: whom the message is for");

    let mut status = Value::Null;
    for _ in 0..100 {
        status = client.get(api(&format!("notifications/{id}"))).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
        if status["deliveries"][0]["status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status["deliveries"][0]["status"], "sent", "{status}");
    assert_eq!(status["deliveries"][0]["attempts"], 1);
    // Still exactly once, well after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.received().len(), 1);
}

#[tokio::test]
async fn a_webhook_notification_arrives_once_signed_and_reads_sent() {
    let (_dir, app) = herald_tests::embedded_app();
    webhook_round_trip(app).await;
}

#[tokio::test]
async fn the_same_round_trip_works_on_dynamodb_and_sqs() {
    let Some(app) = herald_tests::aws_app().await else { return };
    webhook_round_trip(app).await;
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let (_dir, app) = herald_tests::embedded_app();
    let (base, _app) = start_local(app).await;
    let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    let big = vec![b'x'; herald::http::MAX_BODY + 10];
    let r = reqwest::Client::new().post(format!("{base}/api/v1/notify")).bearer_auth(TOKEN).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // A declared length past the limit is answered at once, before any body is sent.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    s.write_all(b"POST /api/v1/notify HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 99999999999\r\n\r\n").await.unwrap();
    let mut answer = vec![0; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut answer)).await.expect("answered without the body").unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer[..n]));
}

#[tokio::test]
async fn telegram_bind_check_in_account_and_unbind_through_the_local_runner() {
    use herald_tests::telegram::{BOT_TOKEN, FakeTelegram};
    let fake = FakeTelegram::start().await;
    fake.with(|s| s.unlimited = true);
    let (_dir, app) = herald_tests::embedded_app_custom(std::sync::Arc::new(herald::domain::clock::SystemClock), |c| {
        c.public_url = Some("https://herald.test".into())
    });
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");
    let put = |path: String, body: Value| client.put(api(&path)).bearer_auth(TOKEN).json(&body).send();

    let settings = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": fake.url(), "webhook_secret": "e2e-webhook-secret"}});
    assert_eq!(put("channels/tg".into(), settings).await.unwrap().status(), 201);
    assert_eq!(
        put("users/u1".into(), json!({"name": "Ada", "plan": "pro", "traffic_used": 1073741824u64, "traffic_total": 10737418240u64}))
            .await
            .unwrap()
            .status(),
        201
    );
    let code: Value = client.post(api("users/u1/bind-code")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let code = code["code"].as_str().unwrap().to_owned();

    let mut update_id = 0;
    let mut update = |payload: Value| {
        update_id += 1;
        let mut u = payload;
        u["update_id"] = json!(update_id);
        client.post(format!("{base}/callback/telegram?source=tg")).header("x-telegram-bot-api-secret-token", "e2e-webhook-secret").json(&u).send()
    };
    let text = |t: &str| json!({"message": {"message_id": 1, "from": {"id": 42, "is_bot": false, "first_name": "Ada", "language_code": "en"}, "chat": {"id": 42, "type": "private"}, "date": 1, "text": t}});

    let r: Value = update(text(&format!("/start {code}"))).await.unwrap().json().await.unwrap();
    assert_eq!(r["text"], "Bound to Ada. Your notifications will come here.");
    let r: Value = update(text("/checkin")).await.unwrap().json().await.unwrap();
    assert!(r["text"].as_str().unwrap().starts_with("Checked in: +"));
    let r: Value = update(text("/my")).await.unwrap().json().await.unwrap();
    assert!(r["text"].as_str().unwrap().contains("1.0 GB / 10.0 GB (10%)"), "{r}");
    let r: Value = update(text("/unbind")).await.unwrap().json().await.unwrap();
    assert_eq!(r["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "ub:y");
    let press = json!({"callback_query": {"id": "cb1", "from": {"id": 42, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": 9, "chat": {"id": 42, "type": "private"}}, "chat_instance": "1", "data": "ub:y"}});
    let r: Value = update(press).await.unwrap().json().await.unwrap();
    assert_eq!(r["method"], "answerCallbackQuery");
    // The edit goes through the queue and the local runner's dispatcher.
    for _ in 0..100 {
        if !fake.calls("editMessageText").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.calls("editMessageText")[0]["text"], "Unbound. Bind again any time with /bind CODE.");
    let u: Value = client.get(api("users/u1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(u["ids"].get("telegram").is_none() && u["rewards"].as_i64().unwrap() >= 10, "{u}");
}

/// The local runner acknowledges each chat's messages as soon as that chat is done: an endpoint
/// that hangs holds back its own chat only, not the next messages of another chat received in
/// the same batch (two workers, as `herald-local` runs four).
#[tokio::test]
async fn a_hanging_endpoint_holds_back_its_own_chat_only() {
    let (_d, app) = herald_tests::embedded_app();
    let slow = TestServer::start(|_| Reply::ok("{}").after(Duration::from_secs(4))).await;
    let quick = TestServer::start(|_| Reply::ok("{}")).await;
    for (name, hook) in [("slow", &slow), ("quick", &quick)] {
        let (status, _) =
            herald_tests::call(&app, "PUT", &format!("/api/v1/channels/{name}"), Some(json!({"kind": "webhook", "settings": {"url": hook.url}})))
                .await;
        assert_eq!(status, 201);
    }
    let app = std::sync::Arc::new(app);
    let dispatcher = std::sync::Arc::new(herald::dispatch::Dispatcher::default());
    for _ in 0..2 {
        tokio::spawn(herald::edge::local::work(app.clone(), dispatcher.clone()));
    }
    let notify = |text: &str| herald_tests::call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": text, "to": "admins"})));
    assert_eq!(notify("first").await.0, 202);
    quick.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(notify("second").await.0, 202);
    // Well before the slow endpoint answers its first.
    let got = quick.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 2, "the quick chat's second message waited for the slow chat");
    assert_eq!(slow.received().len(), 1);
}
