//! Web Push end to end: the VAPID key pair made and kept, the person's page link and what its
//! token may do, subscriptions registered and listed, each of a person's subscriptions a
//! recipient of its own, pushes the FakePushService decrypts and verifies, and a subscription
//! that is gone removed.

#![allow(clippy::unwrap_used)]

use herald_tests::webpush::FakePushService;
use herald_tests::{call, drain};
use serde_json::{Value, json};

async fn setup() -> (tempfile::TempDir, herald::app::App, FakePushService, String) {
    let fake = FakePushService::start().await;
    let (dir, app) = herald_tests::embedded_app_custom(std::sync::Arc::new(herald::domain::clock::SystemClock), |c| {
        c.public_url = Some("https://herald.test".into())
    });
    let (status, ch) = call(
        &app,
        "PUT",
        "/api/v1/channels/wp",
        Some(json!({"kind": "webpush", "settings": {"subject": "mailto:ops@example.com", "api_base": fake.server.url}})),
    )
    .await;
    assert_eq!(status, 201, "{ch}");
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada"}))).await;
    let key = ch["settings"]["vapid_public_key"].as_str().unwrap().to_owned();
    (dir, app, fake, key)
}

/// `req` with the person's link token as its bearer.
async fn as_person(app: &herald::app::App, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = herald_tests::request(method, path, body);
    req.headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let resp = herald::edge::router::route(app, req).await;
    (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

async fn link(app: &herald::app::App, user: &str) -> String {
    let (status, v) = call(app, "POST", &format!("/api/v1/users/{user}/webpush-link"), None).await;
    assert_eq!(status, 201, "{v}");
    assert!(v["url"].as_str().unwrap().starts_with("https://herald.test/push/index.html#t="), "{v}");
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_vapid_pair_is_made_once_kept_and_never_shown() {
    let (_d, app, _fake, key) = setup().await;
    let (_, ch) = call(&app, "GET", "/api/v1/channels/wp", None).await;
    assert_eq!(ch["settings"]["vapid_private_key"], "********");
    // Saved again without the keys, or with the shown mask: the same pair.
    call(&app, "PUT", "/api/v1/channels/wp", Some(json!({"kind": "webpush", "settings": {"subject": "mailto:ops@example.com"}}))).await;
    let (_, again) = call(&app, "GET", "/api/v1/channels/wp", None).await;
    assert_eq!(again["settings"]["vapid_public_key"], key);
    let (status, _) = call(&app, "PUT", "/api/v1/channels/wp", Some(json!({"kind": "webpush", "settings": again["settings"]}))).await;
    assert_eq!(status, 200);
    let stored = app.repo.channel("wp").await.unwrap().unwrap();
    let herald::platforms::config::ChannelSettings::Webpush(s) = &stored.settings else { panic!() };
    assert_eq!(s.vapid_private_key.as_ref().unwrap().expose().len(), 43);
    // A pair that does not match is refused.
    let (other, _) = herald::platforms::webpush::crypto::generate_vapid().unwrap();
    let (status, v) = call(&app, "PUT", "/api/v1/channels/wp", Some(json!({"kind": "webpush", "settings": {"subject": "mailto:a@b.c", "vapid_public_key": other, "vapid_private_key": s.vapid_private_key.as_ref().unwrap().expose()}}))).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("settings.vapid_private_key")), "{v}");
}

#[tokio::test]
async fn a_person_subscribes_two_devices_and_each_gets_the_push() {
    let (_d, app, fake, key) = setup().await;
    let token = link(&app, "u1").await;
    let (status, me) = as_person(&app, &token, "GET", "/api/v1/webpush/me", None).await;
    assert_eq!((status, me["public_key"].as_str(), me["name"].as_str()), (200, Some(key.as_str()), Some("Ada")), "{me}");
    for (name, label) in [("phone", "Safari · iOS"), ("laptop", "Firefox · Linux")] {
        let mut sub = fake.subscribe(name, &key);
        sub["label"] = json!(label);
        let (status, v) = as_person(&app, &token, "POST", "/api/v1/webpush/subscriptions", Some(sub)).await;
        assert_eq!(status, 201, "{v}");
        assert!(v.get("endpoint").is_none() && v.get("keys").is_none(), "the capability and keys are not shown: {v}");
    }
    let (_, list) = call(&app, "GET", "/api/v1/webpush/subscriptions?user=u1", None).await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 2, "{list}");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert!(!user.to_string().contains(&fake.server.url) || user["push"][0]["auth"] == "********", "{user}");

    let n =
        json!({"type": "account", "title": "n1 offline", "text": "since 10:00", "link": "https://panel.example.com/nodes/n1", "to": {"user": "u1"}});
    let (_, accepted) = call(&app, "POST", "/api/v1/notify", Some(n)).await;
    assert_eq!(accepted["deliveries"], 2, "one delivery per subscription: {accepted}");
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    for name in ["phone", "laptop"] {
        let docs = fake.documents(name);
        assert_eq!(docs.len(), 1, "{name}");
        assert_eq!(
            (docs[0]["title"].as_str(), docs[0]["body"].as_str(), docs[0]["link"].as_str()),
            (Some("n1 offline"), Some("since 10:00"), Some("https://panel.example.com/nodes/n1"))
        );
    }
    let pushed = fake.with(|s| s.delivered[0].clone());
    assert_eq!((pushed["ttl"].as_str(), pushed["urgency"].as_str()), (Some("86400"), Some("normal")), "{pushed}");
    assert_eq!(pushed["topic"].as_str().unwrap().len(), 16);
    assert_eq!(fake.with(|s| s.refused.clone()), Vec::<String>::new());
    // An announcement to everyone finds the person through their subscriptions, on both devices.
    let (_, all) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "to all", "to": "all"}))).await;
    assert_eq!(all["deliveries"], 2, "{all}");
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    assert_eq!(fake.documents("laptop").len(), 2);

    // The laptop's subscription expires: 410, removed; the phone still gets the next one.
    fake.with(|s| s.gone.insert("laptop".into()));
    let (_, accepted) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "hello", "to": {"user": "u1"}}))).await;
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{}", accepted["id"].as_str().unwrap()), None).await;
    let reasons: Vec<&str> = n["deliveries"].as_array().unwrap().iter().filter_map(|d| d["reason"].as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("410") && r.contains("removed")), "{n}");
    let (_, list) = as_person(&app, &token, "GET", "/api/v1/webpush/subscriptions", None).await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(fake.documents("phone").len(), 3);
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert!(user.get("unreachable").is_none(), "the person is still reachable on their phone: {user}");
}

#[tokio::test]
async fn a_link_token_reaches_only_its_own_person_and_bad_subscriptions_are_refused() {
    let (_d, app, fake, key) = setup().await;
    call(&app, "PUT", "/api/v1/users/u2", Some(json!({"name": "Bob"}))).await;
    let token = link(&app, "u1").await;
    // Not the API: a link token is no API token.
    assert_eq!(as_person(&app, &token, "GET", "/api/v1/users/u1", None).await.0, 401);
    assert_eq!(as_person(&app, &token, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "x", "to": "all"}))).await.0, 401);
    // `?user=` is ignored for a person: always their own.
    let (_, list) = as_person(&app, &token, "GET", "/api/v1/webpush/subscriptions?user=u2", None).await;
    assert_eq!(list["user"], "u1");
    assert_eq!(as_person(&app, "not-a-real-link-token-000", "GET", "/api/v1/webpush/me", None).await.0, 401);
    assert_eq!(call(&app, "GET", "/api/v1/webpush/subscriptions", None).await.0, 400, "the operator names the user");

    let good = fake.subscribe("s1", &key);
    let with = |path: &str, v: Value| {
        let mut s = good.clone();
        let mut slot = &mut s;
        for p in path.split('.') {
            slot = &mut slot[p];
        }
        *slot = v;
        s
    };
    for (field, body) in [
        ("endpoint", with("endpoint", json!("http://127.0.0.1:1/steal"))),
        ("endpoint", with("endpoint", json!("https://169.254.169.254/latest/meta-data"))),
        ("keys.p256dh", with("keys.p256dh", json!("BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))),
        ("keys.auth", with("keys.auth", json!("c2hvcnQ"))),
    ] {
        let (status, v) = as_person(&app, &token, "POST", "/api/v1/webpush/subscriptions", Some(body)).await;
        assert_eq!((status, v["field"].as_str()), (400, Some(field)), "{v}");
    }
    let (_, v) = as_person(&app, &token, "POST", "/api/v1/webpush/subscriptions", Some(good)).await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Bob cannot remove Ada's; Ada can; then it is gone.
    let bob = link(&app, "u2").await;
    assert_eq!(as_person(&app, &bob, "DELETE", &format!("/api/v1/webpush/subscriptions/{id}"), None).await.0, 404);
    assert_eq!(as_person(&app, &token, "DELETE", &format!("/api/v1/webpush/subscriptions/{id}"), None).await.0, 204);
    assert_eq!(as_person(&app, &token, "DELETE", &format!("/api/v1/webpush/subscriptions/{id}"), None).await.0, 404);
    // A push id cannot be put in a user's ids.
    let (status, v) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"webpush": format!("u1:{id}")}}))).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("ids.webpush")), "{v}");
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let (_d, app) = herald_tests::embedded_app();
    for (path, kind) in [
        ("/push/", "text/html"),
        ("/push/app.js", "text/javascript"),
        ("/push/sw.js", "text/javascript"),
        ("/push/manifest.webmanifest", "application/manifest+json"),
        ("/push/index.html", "text/html"),
    ] {
        let resp = herald::edge::router::route(&app, herald_tests::request("GET", path, None)).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"), "{path}");
    }
    assert_eq!(herald::edge::router::route(&app, herald_tests::request("GET", "/push/nope.js", None)).await.status(), 404);
    assert_eq!(herald::edge::router::route(&app, herald_tests::request("POST", "/push/", None)).await.status(), 405);
    assert_eq!(herald::edge::router::route(&app, herald_tests::request("GET", "/push", None)).await.status(), 308);
}

#[tokio::test]
async fn with_two_channels_each_pushes_only_to_the_subscriptions_made_with_its_key() {
    let (_d, app, fake, key) = setup().await;
    let (_, other) = call(
        &app,
        "PUT",
        "/api/v1/channels/wp2",
        Some(json!({"kind": "webpush", "settings": {"subject": "mailto:ops@example.com", "api_base": fake.server.url}})),
    )
    .await;
    let key2 = other["settings"]["vapid_public_key"].as_str().unwrap().to_owned();
    assert_ne!(key, key2);
    let (_, one) = call(&app, "POST", "/api/v1/users/u1/webpush-link?channel=wp", None).await;
    let (_, two) = call(&app, "POST", "/api/v1/users/u1/webpush-link?channel=wp2", None).await;
    let (one, two) = (one["token"].as_str().unwrap().to_owned(), two["token"].as_str().unwrap().to_owned());
    as_person(&app, &one, "POST", "/api/v1/webpush/subscriptions", Some(fake.subscribe("a", &key))).await;
    let (_, b) = as_person(&app, &two, "POST", "/api/v1/webpush/subscriptions", Some(fake.subscribe("b", &key2))).await;
    let (_, accepted) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "hi", "to": {"user": "u1"}}))).await;
    assert_eq!(accepted["deliveries"], 2, "one per subscription, by its own channel: {accepted}");
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    assert_eq!((fake.documents("a").len(), fake.documents("b").len()), (1, 1));
    assert_eq!(fake.with(|s| s.refused.clone()), Vec::<String>::new(), "every push signed with the key its subscription was made with");
    // Each page sees and removes only its own channel's.
    let (_, me) = as_person(&app, &one, "GET", "/api/v1/webpush/me", None).await;
    assert_eq!(me["subscriptions"].as_array().unwrap().len(), 1);
    assert_eq!(as_person(&app, &one, "DELETE", &format!("/api/v1/webpush/subscriptions/{}", b["id"].as_str().unwrap()), None).await.0, 404);
}

#[tokio::test]
async fn a_link_dies_with_its_user_and_the_endpoint_is_never_shown() {
    let (_d, app, fake, key) = setup().await;
    let token = link(&app, "u1").await;
    let (status, _) = as_person(&app, &token, "POST", "/api/v1/webpush/subscriptions", Some(fake.subscribe("a", &key))).await;
    assert_eq!(status, 201);
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!((user["push"][0]["endpoint"].as_str(), user["push"][0]["auth"].as_str()), (Some("********"), Some("********")), "{user}");
    // The user is deleted and another person gets the same id: the old link is not theirs.
    call(&app, "DELETE", "/api/v1/users/u1", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Someone else"}))).await;
    assert_eq!(as_person(&app, &token, "GET", "/api/v1/webpush/me", None).await.0, 401);
    assert_eq!(as_person(&app, &token, "POST", "/api/v1/webpush/subscriptions", Some(fake.subscribe("b", &key))).await.0, 401);
}
