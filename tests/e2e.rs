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
    assert_eq!(req.header("x-herald-signature").unwrap(), herald::channels::webhook::signature("e2e-signing-secret", &req.body));
    let doc = req.json();
    assert_eq!(
        (doc["id"].as_str(), doc["type"].as_str(), doc["title"].as_str(), doc["text"].as_str()),
        (Some(id.as_str()), Some("announcement"), Some("Hello"), Some("from Herald"))
    );
    assert_eq!(doc["link"], "https://example.com/a");
    assert!(doc["created_at"].is_string());

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
}
