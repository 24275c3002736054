//! The admin/API function's contract: authentication, validation, errors, secrets, the
//! resources of issue #2 — through the same router the Lambda function and the local runner use.

#![allow(clippy::unwrap_used)]

use herald::app::{Config, check_api_token};
use herald::domain::secret::{MASK, Secret};
use herald_tests::{TOKEN, call, embedded_app, request};
use serde_json::{Value, json};

#[tokio::test]
async fn rejects_a_request_without_the_right_token_and_changes_nothing() {
    let (_d, app) = embedded_app();
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(TOKEN)] {
        let mut req = request("PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://x.test/h"}})));
        req.headers.remove("authorization");
        if let Some(a) = auth {
            req.headers.insert("authorization", a.parse().unwrap());
        }
        let resp = herald::edge::router::route(&app, req).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    assert!(app.repo.channels().await.unwrap().is_empty());
}

#[tokio::test]
async fn accepts_the_token_in_the_query_as_moviepilot_does() {
    let (_d, app) = embedded_app();
    let mut req = request("GET", &format!("/api/v1/channels?token={TOKEN}"), None);
    req.headers.remove("authorization");
    assert_eq!(herald::edge::router::route(&app, req).await.status(), 200);
}

#[test]
fn refuses_to_start_with_a_short_api_token_and_says_why() {
    let config = Config { api_token: Some(Secret::new("short")), ..Config::default() };
    let err = config.require_api_token().unwrap_err().to_string();
    assert!(err.contains("at least 16 characters") && err.contains("it has 5"), "{err}");
    assert!(Config::default().require_api_token().is_err());
    assert!(check_api_token("0123456789abcdef").is_ok());
    let dir = tempfile::tempdir().unwrap();
    assert!(herald::edge::local::api_token(Some(&Secret::new("short")), dir.path()).is_err());
}

#[tokio::test]
async fn generates_and_keeps_a_local_token_when_none_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (first, new) = herald::edge::local::api_token(None, dir.path()).unwrap();
    assert!(new && first.expose().len() >= 16);
    let (again, new) = herald::edge::local::api_token(None, dir.path()).unwrap();
    assert!(!new);
    assert_eq!(first, again);
}

#[tokio::test]
async fn keeps_channel_secrets_in_and_never_shows_them() {
    let (_d, app) = embedded_app();
    let body = json!({"kind": "webhook", "types": ["node"], "settings": {"url": "https://hooks.test/in", "secret": "hmac-secret-value", "headers": {"Authorization": "Bearer abc123"}}});
    let (status, created) = call(&app, "PUT", "/api/v1/channels/hook", Some(body)).await;
    assert_eq!(status, 201);
    assert_eq!(created["settings"]["secret"], MASK);
    let (_, list) = call(&app, "GET", "/api/v1/channels", None).await;
    assert!(!list.to_string().contains("hmac-secret-value") && !list.to_string().contains("abc123"));

    // Sending the masked document back keeps the stored secrets.
    let (status, _) = call(&app, "PUT", "/api/v1/channels/hook", Some(created.clone())).await;
    assert_eq!(status, 200);
    let stored = app.repo.channel("hook").await.unwrap().unwrap();
    assert!(stored.to_json().to_string().contains("hmac-secret-value"));

    assert_eq!(call(&app, "DELETE", "/api/v1/channels/hook", None).await.0, 204);
    assert_eq!(call(&app, "GET", "/api/v1/channels/hook", None).await.0, 404);
    assert_eq!(call(&app, "DELETE", "/api/v1/channels/hook", None).await.0, 404);
}

#[tokio::test]
async fn answers_bad_input_with_400_naming_the_field() {
    let (_d, app) = embedded_app();
    let cases = [
        ("PUT", "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": "not a url"}}), "settings.url"),
        ("PUT", "/api/v1/channels/tg", json!({"kind": "telegram", "settings": {"bot_token": "123:short"}}), "settings.bot_token"),
        ("PUT", "/api/v1/channels/x", json!({"kind": "pager"}), "kind"),
        ("PUT", "/api/v1/settings", json!({"time_zone": "Nowhere/City"}), "time_zone"),
        ("PUT", "/api/v1/settings", json!({"routes": {"node": "everybody"}}), "routes.node"),
        ("PUT", "/api/v1/users/u1", json!({"preferences": {"disabled_types": ["system"]}}), "preferences.disabled_types[0]"),
        ("PUT", "/api/v1/users/u1", json!({"expires_at": "tomorrow"}), "expires_at"),
        ("POST", "/api/v1/notify", json!({"type": "node", "text": "x", "to": {"user": "a b"}}), "to.user"),
        ("POST", "/api/v1/notify", json!({"type": "node", "text": "x", "to": "all", "link": "ftp://x"}), "link"),
        ("POST", "/api/v1/notify", json!({"type": "node", "to": "admins"}), "text"),
        ("POST", "/api/v1/notify", json!({"type": "node", "text": "x"}), "to"),
        ("POST", "/api/v1/notify", json!({"notifications": [{"type": "node", "text": "x", "to": "all"}], "type": "node"}), "type"),
    ];
    for (method, path, body, field) in cases {
        let (status, err) = call(&app, method, path, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["field"], field, "{body} -> {err}");
    }
    let mut req = request("POST", "/api/v1/notify", None);
    req.body = bytes::Bytes::from_static(b"{not json");
    let resp = herald::edge::router::route(&app, req).await;
    assert_eq!(resp.status(), 400);
    assert!(app.repo.channels().await.unwrap().is_empty());
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0);
}

#[tokio::test]
async fn answers_404_405_and_413() {
    let (_d, app) = embedded_app();
    assert_eq!(call(&app, "GET", "/api/v1/nothing", None).await.0, 404);
    assert_eq!(call(&app, "GET", "/nothing", None).await.0, 404);
    assert_eq!(call(&app, "POST", "/api/v1/settings", Some(json!({}))).await.0, 405);
    assert_eq!(call(&app, "GET", "/api/v1/notify", None).await.0, 405);
    // Every route answers a method it does not take with 405, not 404.
    for (method, path) in [
        ("GET", "/api/v1/jobs/tick/run"),
        ("GET", "/api/v1/deadletters/redrive"),
        ("PUT", "/api/v1/status"),
        ("POST", "/api/v1/nodes"),
        ("GET", "/api/v1/nodes/hk1/heartbeat"),
        ("GET", "/api/v1/channels/x/register"),
    ] {
        assert_eq!(call(&app, method, path, None).await.0, 405, "{method} {path}");
    }
    let big = "x".repeat(herald::http::MAX_BODY + 1);
    let (status, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": big, "to": "all"}))).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn keeps_settings() {
    let (_d, app) = embedded_app();
    let (status, s) = call(&app, "GET", "/api/v1/settings", None).await;
    assert_eq!((status, s["time_zone"].as_str()), (200, Some("UTC")));
    let body = json!({"time_zone": "Asia/Shanghai", "routes": {"download": "user,admin"}, "daily_report": {"time": "08:30"}});
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(body)).await.0, 200);
    let (_, s) = call(&app, "GET", "/api/v1/settings", None).await;
    assert_eq!(s["routes"]["download"], "user,admin");
    assert_eq!(s["daily_report"]["time"], "08:30");
}

#[tokio::test]
async fn syncs_users_and_keeps_one_chat_account_per_user() {
    let (_d, app) = embedded_app();
    let body = json!({"role": "admin", "locale": "zh-CN", "plan": "pro", "expires_at": "2027-01-01T00:00:00Z", "traffic_used": 10, "traffic_total": 100, "ids": {"telegram": "42"}});
    assert_eq!(call(&app, "PUT", "/api/v1/users/u1", Some(body)).await.0, 201);
    let (status, u) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!((status, u["locale"].as_str(), u["ids"]["telegram"].as_str()), (200, Some("zh-CN"), Some("42")));

    // Another user cannot take the same Telegram account.
    let (status, err) = call(&app, "PUT", "/api/v1/users/u2", Some(json!({"ids": {"telegram": "42"}}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("ids.telegram")));
    assert_eq!(call(&app, "GET", "/api/v1/users/u2", None).await.0, 404);

    // Moving u1 to another account frees the first.
    assert_eq!(call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"telegram": "43"}}))).await.0, 200);
    assert_eq!(call(&app, "PUT", "/api/v1/users/u2", Some(json!({"ids": {"telegram": "42"}}))).await.0, 201);
    assert_eq!(app.repo.user_by_chat(herald::domain::ChannelKind::Telegram, "43").await.unwrap().unwrap().value.id, "u1");

    assert_eq!(call(&app, "DELETE", "/api/v1/users/u1", None).await.0, 204);
    assert!(app.repo.user_by_chat(herald::domain::ChannelKind::Telegram, "43").await.unwrap().is_none());
}

#[tokio::test]
async fn notify_answers_202_and_an_idempotency_key_returns_the_same_notification() {
    let (_d, app) = embedded_app();
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in"}}))).await;
    let body = json!({"type": "announcement", "title": "Maintenance", "text": "Tonight", "to": "all", "idempotency_key": "ann-1"});
    let (status, first) = call(&app, "POST", "/api/v1/notify", Some(body.clone())).await;
    assert_eq!(status, 202);
    assert_eq!(first["deliveries"], 1);
    let waiting = app.queue.depth().await.unwrap().waiting;
    let (status, second) = call(&app, "POST", "/api/v1/notify", Some(body)).await;
    assert_eq!((status, &second["id"], &second["replayed"]), (202, &first["id"], &json!(true)));
    assert!(first.get("replayed").is_none(), "{first}");
    assert_eq!(app.queue.depth().await.unwrap().waiting, waiting);

    let (status, n) = call(&app, "GET", &format!("/api/v1/notifications/{}", first["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200);
    let d = &n["deliveries"][0];
    assert_eq!(
        (d["channel"].as_str(), d["recipient"].as_str(), d["status"].as_str(), d["attempts"].as_u64()),
        (Some("hook"), Some("url"), Some("queued"), Some(0))
    );
    assert_eq!(call(&app, "GET", "/api/v1/notifications/nope", None).await.0, 404);
}

#[tokio::test]
async fn notify_takes_a_batch_and_answers_each_entry_in_order() {
    let (_d, app) = embedded_app();
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in"}}))).await;
    let one = |key: &str| json!({"type": "announcement", "text": format!("about {key}"), "to": "all", "idempotency_key": key});
    let batch = json!({"notifications": [one("b-1"), {"type": "node", "text": "x", "to": {"user": "a b"}}, one("b-2"), one("b-1"), "text"]});
    let (status, r) = call(&app, "POST", "/api/v1/notify", Some(batch)).await;
    assert_eq!(status, 200, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results.iter().map(|e| e["status"].as_u64().unwrap()).collect::<Vec<_>>(), [202, 400, 202, 202, 400]);
    assert!(results[4]["message"].as_str().unwrap().starts_with("must be an object"), "{r}");
    // The bad entry says what is wrong with it and does not stop the others.
    assert_eq!((results[1]["error"].as_str(), results[1]["field"].as_str()), (Some("invalid"), Some("to.user")));
    assert_eq!(results[0]["deliveries"], 1);
    assert_ne!(results[0]["id"], results[2]["id"]);
    // Each entry has its own idempotency key: the repeat of b-1 is the same notification, and
    // says so whole.
    assert_eq!((&results[3]["id"], &results[3]["deliveries"], &results[3]["replayed"]), (&results[0]["id"], &json!(1), &json!(true)));
    assert!(results[0].get("replayed").is_none());
    assert_eq!(app.queue.depth().await.unwrap().waiting, 2);
    for id in [&results[0]["id"], &results[2]["id"]] {
        assert_eq!(call(&app, "GET", &format!("/api/v1/notifications/{}", id.as_str().unwrap()), None).await.0, 200);
    }

    // An empty batch, one over 100 or a list that is not one: 400, nothing sent.
    let too_many: Vec<_> = (0..101).map(|i| one(&format!("m-{i}"))).collect();
    for bad in [json!({"notifications": []}), json!({"notifications": too_many}), json!({"notifications": {"type": "node"}})] {
        let (status, v) = call(&app, "POST", "/api/v1/notify", Some(bad)).await;
        assert_eq!((status, v["field"].as_str()), (400, Some("notifications")), "{v}");
    }
    assert_eq!(app.queue.depth().await.unwrap().waiting, 2);
}

/// A batch's entries reach a chat in the batch's order (one intake call, its messages in order),
/// and a key given again in a later batch answers the earlier notification and sends nothing.
#[tokio::test]
async fn a_batch_reaches_a_chat_in_its_order() {
    let (_d, app) = embedded_app();
    let hook = herald_tests::servers::TestServer::start(|_| herald_tests::servers::Reply::ok("{}")).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    let entry = |i: usize| json!({"type": "node", "text": format!("t{i:02}"), "to": "admins", "idempotency_key": format!("k{i}")});
    let (status, first) = call(&app, "POST", "/api/v1/notify", Some(json!({"notifications": (0..40).map(entry).collect::<Vec<_>>()}))).await;
    assert_eq!(status, 200, "{first}");
    let (_, again) = call(&app, "POST", "/api/v1/notify", Some(json!({"notifications": (30..50).map(entry).collect::<Vec<_>>()}))).await;
    let ids = |v: &Value, r: std::ops::Range<usize>| v["results"].as_array().unwrap()[r].iter().map(|e| e["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again, 0..10), ids(&first, 30..40));
    assert!(again["results"].as_array().unwrap()[..10].iter().all(|e| e["replayed"] == true));
    herald_tests::drain(&app, &herald::dispatch::Dispatcher::default()).await;
    let texts: Vec<String> = hook.received().iter().map(|r| r.json()["text"].as_str().unwrap().to_owned()).collect();
    assert_eq!(texts, (0..50).map(|i| format!("t{i:02}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_same_api_works_on_dynamodb_and_sqs() {
    let Some(app) = herald_tests::aws_app().await else { return };
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in"}}))).await;
    call(&app, "PUT", "/api/v1/users/a1", Some(json!({"role": "admin", "ids": {"telegram": "7"}}))).await;
    let body = json!({"type": "node", "text": "n1 offline", "to": "admins", "idempotency_key": "n1-off"});
    let (status, first) = call(&app, "POST", "/api/v1/notify", Some(body.clone())).await;
    assert_eq!((status, first["deliveries"].as_u64()), (202, Some(1)));
    let (_, second) = call(&app, "POST", "/api/v1/notify", Some(body)).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(app.queue.depth().await.unwrap().waiting, 1);
}

/// On DynamoDB and SQS, requests racing with one key: one notification, every answer its id,
/// and the losers queue nothing (their key's claim comes first: no orphan message holds the
/// chat back).
#[tokio::test]
async fn requests_racing_with_one_key_on_dynamodb_queue_one_message() {
    let Some(app) = herald_tests::aws_app().await else { return };
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://hooks.test/in"}}))).await;
    let body = json!({"type": "node", "text": "raced", "to": "admins", "idempotency_key": "race-1"});
    let answers = futures_util::future::join_all((0..12).map(|_| call(&app, "POST", "/api/v1/notify", Some(body.clone())))).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(s, v)| {
            assert_eq!(*s, 202, "{v}");
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(app.queue.depth().await.unwrap().waiting, 1);
}

#[tokio::test]
async fn test_messages_have_their_own_ids() {
    let (_d, app) = embedded_app();
    let hook = herald_tests::servers::TestServer::start(|_| herald_tests::servers::Reply::ok("{}")).await;
    let (_, v) = call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    assert!(v.get("warning").is_none(), "{v}");
    for _ in 0..2 {
        assert_eq!(call(&app, "POST", "/api/v1/channels/hook/test", None).await.1["ok"], true);
    }
    let ids: Vec<String> = hook.received().iter().map(|r| r.header("x-herald-delivery").unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1], "a receiver that drops repeats keeps both tests");
    assert_eq!(hook.received()[0].json()["recipient"], "url");
}
