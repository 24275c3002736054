//! The Web Push page in a real browser (Debian's Chromium, headless, over the DevTools
//! protocol): it loads from the person's link, its service worker registers, turning
//! notifications on registers this browser's subscription with Herald (the browser's
//! `pushManager` is stubbed: subscribing needs the vendor's push service, which cannot be
//! reached here), a push delivered to the service worker is shown as a notification with its
//! title and text, and turning them off removes the subscription.

#![allow(clippy::unwrap_used)]

use herald_tests::browser::{Browser, chromium};
use herald_tests::webpush::FakePushService;
use herald_tests::{call, start_local};
use serde_json::{Value, json};

#[tokio::test]
async fn the_page_subscribes_shows_a_push_and_unsubscribes() {
    let Some(path) = chromium() else { return };
    let fake = FakePushService::start().await;
    let (_dir, app) = herald_tests::embedded_app();
    let (_, ch) = call(
        &app,
        "PUT",
        "/api/v1/channels/wp",
        Some(json!({"kind": "webpush", "settings": {"subject": "mailto:ops@example.com", "api_base": fake.server.url}})),
    )
    .await;
    let key = ch["settings"]["vapid_public_key"].as_str().unwrap().to_owned();
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada"}))).await;
    let (base, app) = start_local(app).await;
    let link: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/users/u1/webpush-link"))
        .bearer_auth(herald_tests::TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}/push/index.html#t=")), "{url}");

    let mut b = Browser::start(&path).await;
    b.call(None, "Browser.grantPermissions", json!({"origin": base, "permissions": ["notifications"]})).await;
    let page = b.page().await;
    // The browser's push subscription, as the push service would give it.
    let sub = fake.subscribe("browser1", &key);
    let stub = format!(
        "(() => {{ const sub = {sub}; let current = null; \
         PushManager.prototype.subscribe = async function (o) {{ window.__key = btoa(String.fromCharCode(...new Uint8Array(o.applicationServerKey))); \
           current = {{ endpoint: sub.endpoint, toJSON: () => sub, unsubscribe: async () => {{ current = null; return true; }} }}; return current; }}; \
         PushManager.prototype.getSubscription = async function () {{ return current; }}; }})()"
    );
    b.call(Some(&page), "Page.addScriptToEvaluateOnNewDocument", json!({"source": stub})).await;
    b.call(Some(&page), "Page.enable", json!({})).await;
    b.call(Some(&page), "ServiceWorker.enable", json!({})).await;
    b.call(Some(&page), "Page.navigate", json!({"url": url})).await;

    let status = "document.getElementById('status').textContent";
    b.eval_until(&page, status, |v| v == "This device does not get notifications yet.").await;
    assert_eq!(b.eval(&page, "document.getElementById('hello').textContent").await, "Ada, get your notifications on this device.");
    b.eval_until(&page, "navigator.serviceWorker.ready.then(r => r.active && r.active.state)", |v| v == "activated").await;

    // Turn on: the page subscribes with the channel's key and registers the subscription.
    b.eval(&page, "document.getElementById('on').click()").await;
    b.eval_until(&page, status, |v| v == "This device gets notifications.").await;
    let used = b.eval(&page, "window.__key").await;
    let used = base64_url(used.as_str().unwrap());
    assert_eq!(used, key, "subscribed with the channel's VAPID public key");
    let subs = app.repo.user("u1").await.unwrap().unwrap().value.push;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].endpoint.expose(), sub["endpoint"].as_str().unwrap());
    assert!(subs[0].label.as_deref().unwrap().starts_with("Chrome"), "{:?}", subs[0].label);

    // A push, as the push service hands it to the service worker: shown as a notification.
    let reg = b
        .event("ServiceWorker.workerRegistrationUpdated", |p| {
            p["registrations"].as_array().is_some_and(|r| r.iter().any(|r| r["scopeURL"].as_str().unwrap_or_default().ends_with("/push/")))
        })
        .await;
    let id = reg["registrations"].as_array().unwrap().iter().find(|r| r["scopeURL"].as_str().unwrap().ends_with("/push/")).unwrap()["registrationId"]
        .clone();
    let doc = json!({"title": "n1 offline", "body": "since 10:00", "link": "https://panel.example.com/nodes/n1", "tag": "01N1"});
    b.call(Some(&page), "ServiceWorker.deliverPushMessage", json!({"origin": base, "registrationId": id, "data": doc.to_string()})).await;
    let shown = b
        .eval_until(
            &page,
            "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => ({title: n.title, body: n.body, link: n.data && n.data.link})))",
            |v| v.as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    assert_eq!(shown, json!([{"title": "n1 offline", "body": "since 10:00", "link": "https://panel.example.com/nodes/n1"}]));

    // Turn off: the subscription is removed from Herald too.
    b.eval(&page, "document.getElementById('off').click()").await;
    b.eval_until(&page, status, |v| v == "This device does not get notifications yet.").await;
    assert!(app.repo.user("u1").await.unwrap().unwrap().value.push.is_empty());
}

/// Standard base64 (what `btoa` writes) as base64url without padding.
fn base64_url(s: &str) -> String {
    s.trim_end_matches('=').replace('+', "-").replace('/', "_")
}
